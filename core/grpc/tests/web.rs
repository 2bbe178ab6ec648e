//! gRPC-Web: trailers frames, the `-text` base64 codec with padding in
//! mid-stream, and the body decoder in both modes.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use wirestate_grpc::web::{
    CONTENT_TYPE_WEB, CONTENT_TYPE_WEB_PROTO, CONTENT_TYPE_WEB_TEXT, CONTENT_TYPE_WEB_TEXT_PROTO,
};
use wirestate_grpc::{
    Code, ContentType, Encoding, Error, Message, WebDecoder, WebFrame, WebMode, WebTextDecoder,
    WireFormat, compress, encode_message, encode_web_text, encode_web_trailers, parse_web_trailers,
};

fn trailers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

#[test]
fn content_types() {
    for (s, format, sub) in [
        (CONTENT_TYPE_WEB, WireFormat::GrpcWeb, None),
        (CONTENT_TYPE_WEB_PROTO, WireFormat::GrpcWeb, Some("proto")),
        (CONTENT_TYPE_WEB_TEXT, WireFormat::GrpcWebText, None),
        (
            CONTENT_TYPE_WEB_TEXT_PROTO,
            WireFormat::GrpcWebText,
            Some("proto"),
        ),
        (
            "application/grpc-web+json",
            WireFormat::GrpcWeb,
            Some("json"),
        ),
        ("Application/GRPC-Web-Text", WireFormat::GrpcWebText, None),
        ("APPLICATION/GRPC+Proto", WireFormat::Grpc, Some("proto")),
    ] {
        let ct = ContentType::parse(s.as_bytes()).unwrap();
        assert_eq!((ct.format, ct.subtype.as_deref()), (format, sub), "{s}");
        assert_eq!(ct.to_string(), s.to_ascii_lowercase());
        assert_eq!(ct.to_header_value(), s.to_ascii_lowercase().as_str());
    }
    assert_eq!(ContentType::web(true).to_string(), CONTENT_TYPE_WEB_TEXT);
    assert_eq!(ContentType::web(false).to_string(), CONTENT_TYPE_WEB);
    assert!(ContentType::parse(b"application/grpc-webx").is_none());
    assert!(ContentType::parse(b"application/grpc-web+").is_none());
}

#[test]
fn trailers_frame_examples() {
    let t = trailers(&[("grpc-status", "0"), ("grpc-message", "ok"), ("x-a", "1")]);
    let mut out = BytesMut::new();
    encode_web_trailers(&t, &mut out).unwrap();
    assert_eq!(out[0], 0x80);
    let body = b"grpc-status: 0\r\ngrpc-message: ok\r\nx-a: 1\r\n";
    assert_eq!(&out[1..5], &(body.len() as u32).to_be_bytes());
    assert_eq!(&out[5..], body);
    assert_eq!(parse_web_trailers(&out[5..]).unwrap(), t);
    // Lenient: bare LF, no final line end, spaces, upper-case names.
    let t2 = parse_web_trailers(b"Grpc-Status:0\nx-a:   1  \r\n\r\ngrpc-message: ok").unwrap();
    assert_eq!(t2["grpc-status"], "0");
    assert_eq!(t2["x-a"], "1");
    assert_eq!(t2["grpc-message"], "ok");
    assert_eq!(parse_web_trailers(b"").unwrap().len(), 0);
    for bad in [
        &b"no colon\r\n"[..],
        b": empty name\r\n",
        b"bad name: v\r\n",
        b"k: a\x00b",
    ] {
        assert_eq!(
            parse_web_trailers(bad),
            Err(Error::InvalidWebTrailers),
            "{bad:?}"
        );
    }
}

#[test]
fn text_padding_mid_stream() {
    // Three messages base64'd separately: lengths 1, 2, 3 bytes of padding 2, 1, 0.
    let mut text = BytesMut::new();
    for piece in [&b"a"[..], b"bc", b"def"] {
        encode_web_text(piece, &mut text);
    }
    assert_eq!(&text[..], b"YQ==YmM=ZGVm");
    let mut dec = WebTextDecoder::new();
    let mut out = BytesMut::new();
    dec.decode(&text, &mut out).unwrap();
    dec.finish(&mut out).unwrap();
    assert_eq!(&out[..], b"abcdef");
    // Whitespace is skipped; an unpadded end is accepted.
    let mut dec = WebTextDecoder::new();
    let mut out = BytesMut::new();
    dec.decode(b"YQ==\r\nYm", &mut out).unwrap();
    dec.finish(&mut out).unwrap();
    assert_eq!(&out[..], b"ab");
}

#[test]
fn text_errors() {
    for (text, offset) in [
        (&b"Y!=="[..], 1),
        (b"=QQQ", 0),
        (b"Y===", 1),
        (b"YQ=Q", 3),
        (b"YQ==Y=", 5),
        (b"YQ-_", 2),
    ] {
        let mut dec = WebTextDecoder::new();
        let mut out = BytesMut::new();
        let e = dec.decode(text, &mut out).unwrap_err();
        assert_eq!(
            e,
            Error::InvalidBase64 { offset },
            "{:?}",
            String::from_utf8_lossy(text)
        );
        assert_eq!(e.hint(), Some(Code::Internal));
        // Sticky.
        assert!(dec.decode(b"QUFB", &mut out).is_err());
    }
    // One character left at the end cannot be a byte.
    let mut dec = WebTextDecoder::new();
    let mut out = BytesMut::new();
    dec.decode(b"QUFBQ", &mut out).unwrap();
    assert_eq!(&out[..], b"AAA");
    assert_eq!(
        dec.finish(&mut out),
        Err(Error::InvalidBase64 { offset: 5 })
    );
}

/// A gRPC-Web body: messages then trailers, as frames.
fn frames(messages: &[(bool, Vec<u8>)], tail: &HeaderMap) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (c, m) in messages {
        let mut f = BytesMut::new();
        encode_message(m, *c, &mut f).unwrap();
        out.push(f.to_vec());
    }
    let mut f = BytesMut::new();
    encode_web_trailers(tail, &mut f).unwrap();
    out.push(f.to_vec());
    out
}

type Item = Result<WebFrame, Error>;

/// Items with the piece end after which each came, `finish`'s result, and
/// what came after it.
type Decoded = (Vec<(Item, usize)>, Result<(), Error>, Vec<Item>);

fn decode_all(mode: WebMode, body: &[u8], cuts: &[usize]) -> Decoded {
    let body = Bytes::copy_from_slice(body);
    let mut dec = WebDecoder::new(mode)
        .with_max_message_size(64)
        .with_max_trailers_size(64);
    let mut items = Vec::new();
    let mut start = 0;
    for end in cuts.iter().copied().chain([body.len()]) {
        if end <= start || end > body.len() {
            continue;
        }
        dec.push(body.slice(start..end));
        while let Some(i) = dec.next_frame() {
            items.push((i, end));
        }
        start = end;
    }
    let fin = dec.finish();
    let after = std::iter::from_fn(|| dec.next_frame()).collect();
    (items, fin, after)
}

#[test]
fn decoder_binary_and_text() {
    let tail = trailers(&[("grpc-status", "0")]);
    let msgs = vec![(false, b"one".to_vec()), (true, b"two".to_vec())];
    let fs = frames(&msgs, &tail);
    for mode in [WebMode::Binary, WebMode::Text] {
        let body: Vec<u8> = match mode {
            WebMode::Binary => fs.concat(),
            WebMode::Text => {
                let mut t = BytesMut::new();
                for f in &fs {
                    encode_web_text(f, &mut t);
                }
                t.to_vec()
            }
        };
        let (items, fin, after) = decode_all(mode, &body, &[]);
        assert_eq!(fin, Ok(()));
        assert!(after.is_empty());
        let items: Vec<Item> = items.into_iter().map(|(i, _)| i).collect();
        assert_eq!(
            items,
            [
                Ok(WebFrame::Message(Message {
                    compressed: false,
                    data: Bytes::from_static(b"one")
                })),
                Ok(WebFrame::Message(Message {
                    compressed: true,
                    data: Bytes::from_static(b"two")
                })),
                Ok(WebFrame::Trailers(tail.clone())),
            ]
        );
    }
}

#[test]
fn decoder_errors() {
    let tail = trailers(&[("grpc-status", "0")]);
    let fs = frames(&[], &tail).concat();
    // Data after trailers.
    let (items, _, _) = decode_all(WebMode::Binary, &[&fs[..], b"\x00"].concat(), &[]);
    assert_eq!(items.last().unwrap().0, Err(Error::DataAfterTrailers));
    // A flag that is neither data nor trailers.
    let (items, _, _) = decode_all(WebMode::Binary, b"\x02", &[]);
    assert_eq!(items[0].0, Err(Error::InvalidCompressedFlag(2)));
    // Trailers over the limit, from the prefix.
    let (items, _, _) = decode_all(WebMode::Binary, b"\x80\x00\x00\x00\x41", &[]);
    assert_eq!(
        items[0].0,
        Err(Error::WebTrailersTooLarge { len: 65, max: 64 })
    );
    // A message over the limit.
    let (items, _, _) = decode_all(WebMode::Binary, b"\x00\x00\x00\x00\x41", &[]);
    assert_eq!(items[0].0, Err(Error::MessageTooLarge { len: 65, max: 64 }));
    // Truncated.
    let (items, fin, _) = decode_all(WebMode::Binary, b"\x00\x00\x00\x00\x04ab", &[]);
    assert!(items.is_empty());
    assert_eq!(fin, Err(Error::TruncatedMessage { received: 7 }));
    // Malformed trailers.
    let (items, _, _) = decode_all(WebMode::Binary, b"\x80\x00\x00\x00\x02xx", &[]);
    assert_eq!(items[0].0, Err(Error::InvalidWebTrailers));
    // Base64 error after a whole message: the message first.
    let mut text = BytesMut::new();
    encode_web_text(b"\x00\x00\x00\x00\x01z", &mut text);
    text.extend_from_slice(b"!!");
    let (items, _, _) = decode_all(WebMode::Text, &text, &[]);
    assert!(matches!(items[0].0, Ok(WebFrame::Message(_))));
    assert_eq!(items[1].0, Err(Error::InvalidBase64 { offset: 8 }));
    assert_eq!(items.len(), 2);
}

#[test]
fn compressed_trailers() {
    let block = b"grpc-status: 0\r\n";
    let mut z = BytesMut::new();
    compress(Encoding::Gzip, block, &mut z).unwrap();
    let mut body = vec![0x81];
    body.extend_from_slice(&(z.len() as u32).to_be_bytes());
    body.extend_from_slice(&z);
    let mut dec = WebDecoder::new(WebMode::Binary).with_encoding(Encoding::Gzip);
    dec.push(Bytes::from(body.clone()));
    assert_eq!(
        dec.next_frame(),
        Some(Ok(WebFrame::Trailers(trailers(&[("grpc-status", "0")]))))
    );
    assert!(dec.saw_trailers());
    let mut dec = WebDecoder::new(WebMode::Binary);
    dec.push(Bytes::from(body.clone()));
    assert_eq!(
        dec.next_frame(),
        Some(Err(Error::CompressedWithoutEncoding))
    );
    let mut dec = WebDecoder::new(WebMode::Binary)
        .with_encoding(Encoding::Gzip)
        .with_max_trailers_size(z.len().max(10));
    dec.push(Bytes::from(body));
    if block.len() > z.len().max(10) {
        assert!(matches!(
            dec.next_frame(),
            Some(Err(Error::WebTrailersTooLarge { .. }))
        ));
    }
}

fn header_pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(("[a-z][a-z0-9-]{0,10}", "[!-~]([ -~]{0,20}[!-~])?"), 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Trailers survive a trailers frame.
    #[test]
    fn trailers_round_trip(pairs in header_pairs()) {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let t = trailers(&pairs);
        let mut out = BytesMut::new();
        encode_web_trailers(&t, &mut out).unwrap();
        prop_assert_eq!(parse_web_trailers(&out[5..]).unwrap(), t);
    }

    /// Base64'd per message (padding mid-stream) and cut anywhere, the text
    /// decodes to the concatenated messages.
    #[test]
    fn text_round_trip(
        pieces in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 0..8),
        cuts in proptest::collection::vec(1usize..10, 1..6),
    ) {
        let mut text = BytesMut::new();
        for p in &pieces {
            encode_web_text(p, &mut text);
        }
        let mut dec = WebTextDecoder::new();
        let mut out = BytesMut::new();
        let mut at = 0;
        let mut i = 0;
        while at < text.len() {
            let end = (at + cuts[i % cuts.len()]).min(text.len());
            dec.decode(&text[at..end], &mut out).unwrap();
            at = end;
            i += 1;
        }
        dec.finish(&mut out).unwrap();
        prop_assert_eq!(&out[..], &pieces.concat()[..]);
        prop_assert_eq!(dec.offset(), text.len() as u64);
    }

    /// A whole gRPC-Web body, binary or text with messages padded
    /// separately, comes out the same whole, byte by byte and in random
    /// pieces; and random bytes give the same frames and errors at the
    /// same points either way.
    #[test]
    fn decoder_split_invariance(
        msgs in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..30)), 0..5),
        pairs in header_pairs(),
        text in any::<bool>(),
        junk in proptest::collection::vec(any::<u8>(), 0..6),
        cuts in proptest::collection::btree_set(1usize..400, 0..20),
    ) {
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let tail = trailers(&pairs);
        let fs = frames(&msgs, &tail);
        let mode = if text { WebMode::Text } else { WebMode::Binary };
        let mut body = Vec::new();
        for f in &fs {
            if text {
                let mut t = BytesMut::new();
                encode_web_text(f, &mut t);
                body.extend_from_slice(&t);
            } else {
                body.extend_from_slice(f);
            }
        }
        let cuts: Vec<usize> = cuts.into_iter().collect();
        let whole = decode_all(mode, &body, &[]);
        let every: Vec<usize> = (1..body.len()).collect();
        let bytewise = decode_all(mode, &body, &every);
        let split = decode_all(mode, &body, &cuts);
        let strip = |r: &Decoded| {
            (r.0.iter().map(|(i, _)| i.clone()).collect::<Vec<_>>(), r.1.clone(), r.2.clone())
        };
        prop_assert_eq!(strip(&whole), strip(&bytewise));
        prop_assert_eq!(strip(&split), strip(&bytewise));
        // Messages over the test limit of 64 are refused; the rest decode.
        let fine = msgs.iter().all(|(_, m)| m.len() <= 64) && fs.last().unwrap().len() - 5 <= 64;
        if fine {
            prop_assert_eq!(whole.1.clone(), Ok(()));
            prop_assert_eq!(whole.0.len(), msgs.len() + 1);
            prop_assert_eq!(whole.0.last().unwrap().0.clone(), Ok(WebFrame::Trailers(tail)));
        }
        // With junk appended, still split invariant, and each item comes
        // after the same byte.
        let mut dirty = body.clone();
        dirty.extend_from_slice(&junk);
        let every: Vec<usize> = (1..dirty.len()).collect();
        let bytewise = decode_all(mode, &dirty, &every);
        let split = decode_all(mode, &dirty, &cuts);
        prop_assert_eq!(strip(&split), strip(&bytewise));
        for ((_, at), (_, end)) in bytewise.0.iter().zip(&split.0) {
            let start = cuts.iter().copied().filter(|&c| c < *end && c < dirty.len()).max().unwrap_or(0);
            prop_assert!(start < *at && at <= end);
        }
    }
}
