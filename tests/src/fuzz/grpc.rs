//! The gRPC framings: [`grpc_message`] for the Length-Prefixed-Message
//! decoder ([`MessageDecoder`]), [`grpc_web_text`] for gRPC-Web bodies
//! ([`WebTextDecoder`], [`WebDecoder`]).
//!
//! # Input layout
//!
//! ```text
//! [cfg] [pattern: 4 bytes] [stream...]
//! ```
//!
//! * `cfg` bits 0-2 pick the message size limit from [`MAX_SIZES`]; bit 3
//!   cuts the split run into pieces of `pattern[0]` bytes instead of
//!   cycling through the four pattern sizes (0 counts as 1). For
//!   `grpc_web_text`, bit 4 makes the stream a binary gRPC-Web body
//!   instead of base64 text.
//!
//! # What is checked
//!
//! The stream is fed whole, byte by byte and in the chosen pieces, then
//! finished. The three runs give the same items and errors, each after the
//! piece that holds the byte after which the byte-by-byte run produced it,
//! and the same result from `finish` and after it. No message exceeds the
//! limit; once drained, the decoder holds at most a prefix and the limit.
//! The decoded messages re-encode to a body that decodes to the same
//! messages. For text, the base64 decoder agrees across splits and with
//! the `base64` crate on unpadded input, and what it decodes re-encodes
//! (padded per random piece) to text that decodes back the same.

use super::ops::Split;
use bytes::{Bytes, BytesMut};
use std::ops::Range;
use wirestate_grpc::{
    Error, Message, MessageDecoder, WebDecoder, WebFrame, WebMode, WebTextDecoder,
    decode_bin_value, encode_message, encode_web_text, encode_web_trailers,
};

/// The message size limits `cfg` picks from.
pub const MAX_SIZES: [usize; 8] = [0, 1, 5, 16, 100, 4096, 65_536, 4 << 20];

/// Items with the input range of the piece after which they came out
/// (`len..len + 1` for what came after `finish`), and `finish`'s result.
struct Run<T> {
    items: Vec<(Result<T, Error>, Range<usize>)>,
    finish: Result<(), Error>,
}

fn split_of(cfg: u8, pattern: [u8; 4]) -> Split {
    if cfg & 8 != 0 {
        Split::Fixed(pattern[0])
    } else {
        Split::Pattern(pattern)
    }
}

/// Checks that `bytewise` and `other` agree, item for item and byte for
/// byte.
fn compare<T: PartialEq + std::fmt::Debug>(name: &str, bytewise: &Run<T>, other: &Run<T>) {
    assert_eq!(
        other.items.len(),
        bytewise.items.len(),
        "{name}: a different number of items"
    );
    for ((want, at), (got, range)) in bytewise.items.iter().zip(&other.items) {
        assert_eq!(got, want, "{name}: a different item");
        assert!(
            range.contains(&at.start),
            "{name}: {got:?} came after {range:?}, byte by byte after byte {}",
            at.start
        );
    }
    assert_eq!(other.finish, bytewise.finish, "{name}: finish");
}

/// Fuzz body for `grpc_message` (see the module docs).
pub fn grpc_message(data: &[u8]) {
    let Some((&[cfg, p0, p1, p2, p3], stream)) = data.split_first_chunk() else {
        return;
    };
    let max = MAX_SIZES[usize::from(cfg & 7)];
    let split = split_of(cfg, [p0, p1, p2, p3]);
    let bytes = Bytes::copy_from_slice(stream);

    let bytewise = run_messages(max, &bytes, Split::Fixed(1));
    for (name, other) in [
        ("whole", run_messages(max, &bytes, Split::Whole)),
        ("split", run_messages(max, &bytes, split)),
    ] {
        compare(name, &bytewise, &other);
    }
    let messages: Vec<&Message> = bytewise
        .items
        .iter()
        .filter_map(|(m, _)| m.as_ref().ok())
        .collect();
    for m in &messages {
        assert!(m.data.len() <= max, "a message over the limit");
    }
    // Round trip: what decoded re-encodes to a body that decodes the same.
    let mut wire = BytesMut::new();
    for m in &messages {
        encode_message(&m.data, m.compressed, &mut wire).expect("fits a prefix");
    }
    let back = run_messages(max, &wire.freeze(), split);
    assert_eq!(back.finish, Ok(()), "round trip: finish");
    let back: Vec<Message> = back
        .items
        .into_iter()
        .map(|(m, _)| m.expect("round trip: no error"))
        .collect();
    assert_eq!(back.len(), messages.len(), "round trip: count");
    for (a, b) in back.iter().zip(&messages) {
        assert_eq!(a, *b, "round trip");
    }
}

fn run_messages(max: usize, stream: &Bytes, split: Split) -> Run<Message> {
    let mut dec = MessageDecoder::with_max_message_size(max);
    let mut items = Vec::new();
    let mut start = 0;
    for piece in split.pieces(stream) {
        let end = start + piece.len();
        dec.push(stream.slice(start..end));
        // Bounded: each item consumes at least its prefix, or ends the stream.
        while let Some(item) = dec.next_message() {
            items.push((item, start..end));
        }
        assert!(
            dec.buffered() <= max.saturating_add(5),
            "{} bytes held, limit {max}",
            dec.buffered()
        );
        start = end;
    }
    let finish = dec.finish();
    let eof = stream.len()..stream.len() + 1;
    while let Some(item) = dec.next_message() {
        items.push((item, eof.clone()));
    }
    assert!(dec.next_message().is_none(), "an item after None");
    Run { items, finish }
}

/// Fuzz body for `grpc_web_text` (see the module docs).
pub fn grpc_web_text(data: &[u8]) {
    let Some((&[cfg, p0, p1, p2, p3], stream)) = data.split_first_chunk() else {
        return;
    };
    let max = MAX_SIZES[usize::from(cfg & 7)];
    let split = split_of(cfg, [p0, p1, p2, p3]);
    let mode = if cfg & 16 != 0 {
        WebMode::Binary
    } else {
        WebMode::Text
    };
    let bytes = Bytes::copy_from_slice(stream);

    let bytewise = run_web(mode, max, max, &bytes, Split::Fixed(1));
    for (name, other) in [
        ("whole", run_web(mode, max, max, &bytes, Split::Whole)),
        ("split", run_web(mode, max, max, &bytes, split)),
    ] {
        compare(name, &bytewise, &other);
    }
    let mut trailers_at = None;
    for (i, (item, _)) in bytewise.items.iter().enumerate() {
        match item {
            Ok(WebFrame::Message(m)) => {
                assert!(m.data.len() <= max, "a message over the limit");
                assert!(trailers_at.is_none(), "a message after the trailers");
            }
            Ok(WebFrame::Trailers(_)) => {
                assert!(trailers_at.is_none(), "two trailers frames");
                trailers_at = Some(i);
            }
            Err(_) => assert_eq!(i + 1, bytewise.items.len(), "an item after an error"),
        }
    }
    // Round trip: the frames re-encode (each base64'd on its own in text
    // mode) to a body that decodes the same.
    let mut body = BytesMut::new();
    for (item, _) in &bytewise.items {
        let mut frame = BytesMut::new();
        match item {
            Ok(WebFrame::Message(m)) => {
                encode_message(&m.data, m.compressed, &mut frame).expect("fits")
            }
            Ok(WebFrame::Trailers(t)) => encode_web_trailers(t, &mut frame).expect("fits"),
            Err(_) => break,
        }
        match mode {
            WebMode::Binary => body.extend_from_slice(&frame),
            _ => encode_web_text(&frame, &mut body),
        }
    }
    // Re-encoded trailers are normalised (`name: value\r\n`), so they may
    // be longer than the original frame: no trailers limit here.
    let back = run_web(mode, max, usize::MAX, &body.freeze(), split);
    let want: Vec<&WebFrame> = bytewise
        .items
        .iter()
        .filter_map(|(i, _)| i.as_ref().ok())
        .collect();
    let got: Vec<WebFrame> = back
        .items
        .into_iter()
        .map(|(i, _)| i.expect("round trip: no error"))
        .collect();
    assert_eq!(back.finish, Ok(()), "round trip: finish");
    assert_eq!(got.len(), want.len(), "round trip: count");
    for (a, b) in got.iter().zip(want) {
        assert_eq!(a, b, "round trip");
    }

    if mode == WebMode::Text {
        check_text(stream, split);
    }
}

fn run_web(
    mode: WebMode,
    max: usize,
    max_trailers: usize,
    stream: &Bytes,
    split: Split,
) -> Run<WebFrame> {
    let mut dec = WebDecoder::new(mode)
        .with_max_message_size(max)
        .with_max_trailers_size(max_trailers);
    let mut items = Vec::new();
    let mut start = 0;
    for piece in split.pieces(stream) {
        let end = start + piece.len();
        dec.push(stream.slice(start..end));
        while let Some(item) = dec.next_frame() {
            items.push((item, start..end));
        }
        assert!(
            dec.buffered() <= max.max(max_trailers).saturating_add(5),
            "{} bytes held, limits {max} and {max_trailers}",
            dec.buffered()
        );
        start = end;
    }
    let finish = dec.finish();
    let eof = stream.len()..stream.len() + 1;
    while let Some(item) = dec.next_frame() {
        items.push((item, eof.clone()));
    }
    assert!(dec.next_frame().is_none(), "an item after None");
    Run { items, finish }
}

/// The base64 layer alone: split invariance, agreement with the `base64`
/// crate, and a round trip with padding at random places.
fn check_text(text: &[u8], split: Split) {
    let decode = |split: Split| {
        let mut dec = WebTextDecoder::new();
        let mut out = BytesMut::new();
        let mut result = Ok(());
        for piece in split.pieces(text) {
            result = dec.decode(piece, &mut out);
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() {
            result = dec.finish(&mut out);
        }
        (out, result)
    };
    let (whole, whole_result) = decode(Split::Whole);
    for s in [Split::Fixed(1), split] {
        let (out, result) = decode(s);
        assert_eq!(result, whole_result, "text: a different result");
        assert_eq!(out, whole, "text: different bytes");
    }
    // Unpadded standard base64 without whitespace: the base64 crate agrees.
    if !text.contains(&b'=') && !text.iter().any(u8::is_ascii_whitespace) {
        match decode_bin_value(text) {
            Ok(reference) => {
                assert_eq!(whole_result, Ok(()), "text: refused what base64 takes");
                assert_eq!(&whole[..], &reference[..], "text: differs from base64");
            }
            Err(_) => assert!(whole_result.is_err(), "text: took what base64 refuses"),
        }
    }
    // What decoded, base64'd again in pieces of the split's sizes (so with
    // padding in the middle), decodes back the same.
    let mut again = BytesMut::new();
    for piece in split.pieces(&whole) {
        encode_web_text(piece, &mut again);
    }
    let mut dec = WebTextDecoder::new();
    let mut out = BytesMut::new();
    dec.decode(&again, &mut out).expect("own text decodes");
    dec.finish(&mut out).expect("own text finishes");
    assert_eq!(out, whole, "text: round trip");
}

/// The hand-made seeds of `grpc_message`.
pub fn grpc_message_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let frame = |flag: u8, data: &[u8]| {
        let mut v = vec![flag];
        v.extend_from_slice(&(data.len() as u32).to_be_bytes());
        v.extend_from_slice(data);
        v
    };
    let input = |cfg: u8, stream: &[u8]| {
        let mut v = vec![cfg, 1, 7, 2, 40];
        v.extend_from_slice(stream);
        v
    };
    let hello = frame(0, b"\x0a\x05hello");
    vec![
        ("unary", input(7, &hello)),
        (
            "stream",
            input(
                5,
                &[
                    hello.clone(),
                    frame(1, b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"),
                    frame(0, b""),
                    frame(0, &[0xab; 300]),
                ]
                .concat(),
            ),
        ),
        ("over-limit", input(3, &frame(0, &[1; 17]))),
        ("at-limit", input(3, &frame(0, &[1; 16]))),
        (
            "bad-flag",
            input(7, &[&hello[..], b"\x02\x00\x00\x00\x00"].concat()),
        ),
        ("truncated", input(7, &hello[..hello.len() - 1])),
        (
            "truncated-prefix",
            input(7, &[&hello[..], b"\x00\x00"].concat()),
        ),
        ("huge-length", input(7, b"\x00\xff\xff\xff\xff")),
        (
            "fixed-split",
            input(8 | 7, &[hello.clone(), hello].concat()),
        ),
    ]
}

/// The hand-made seeds of `grpc_web_text`.
pub fn grpc_web_text_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut msg = BytesMut::new();
    encode_message(b"\x0a\x05hello", false, &mut msg).expect("fits");
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    trailers.insert("grpc-message", http::HeaderValue::from_static("ok%20then"));
    let mut tail = BytesMut::new();
    encode_web_trailers(&trailers, &mut tail).expect("fits");
    let text = |frames: &[&[u8]]| {
        let mut t = BytesMut::new();
        for f in frames {
            encode_web_text(f, &mut t);
        }
        t.to_vec()
    };
    let input = |cfg: u8, stream: &[u8]| {
        let mut v = vec![cfg, 3, 1, 4, 9];
        v.extend_from_slice(stream);
        v
    };
    vec![
        ("text-unary", input(5, &text(&[&msg, &tail]))),
        (
            "text-one-piece",
            input(5, &text(&[&[&msg[..], &msg, &tail].concat()])),
        ),
        ("text-whitespace", input(5, b"AAAAAAVYaGVs\r\nbG8=\n")),
        ("text-bad-char", input(5, b"AAAA!AAA")),
        ("text-bad-padding", input(5, b"AA=A")),
        ("text-lone-char", input(5, b"AAAAA")),
        ("text-after-trailers", input(5, &text(&[&tail, &msg]))),
        ("binary-unary", input(16 | 5, &[&msg[..], &tail].concat())),
        (
            "binary-bad-trailers",
            input(16 | 5, b"\x80\x00\x00\x00\x03a b"),
        ),
        (
            "binary-compressed-trailers",
            input(16 | 5, b"\x81\x00\x00\x00\x00"),
        ),
    ]
}
