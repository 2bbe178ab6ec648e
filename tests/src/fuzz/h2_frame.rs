//! The HTTP/2 frame codec ([`FrameDecoder`], [`Frame::encode`], the
//! preface matcher): arbitrary bytes decode the same in any pieces, and
//! whatever decodes encodes back to frames that decode the same.
//!
//! # Input layout
//!
//! ```text
//! [flags] [size] [block] [pattern: 4 bytes] [wire...]
//! ```
//!
//! * `flags`: bit 0 puts a [`PrefaceMatcher`] before the decoder (the
//!   server side of a connection), so the wire must start with the client
//!   preface.
//! * `size`: the advertised SETTINGS_MAX_FRAME_SIZE, `MAX_SIZES[size % 8]`.
//! * `block`: the field-block bound, `block * 8` bytes (0: the default).
//! * `pattern`: the piece sizes the split run cycles through (0 counts as 1).
//!
//! # What is checked
//!
//! The wire is fed whole, byte by byte and in the pattern's pieces; the
//! three runs give the same frames, stream errors and connection error,
//! each reported by the piece holding the byte at which the byte-by-byte
//! run reported it. No error is a usage error and each names a reply; a
//! connection error is sticky. The sniffer agrees with the matcher. Every
//! decoded frame fits the limit and re-encodes to `encoded_len` bytes; the
//! re-encoded stream decodes to the same frames; every field block, split
//! again with [`Headers::encode_split`] or [`PushPromise::encode_split`],
//! is put back together unchanged.

use super::ops::Split;
use bytes::{Bytes, BytesMut};
use std::ops::Range;
use wirestate_h2::frame::{
    Continuation, Data, ErrorCode, Flags, Frame, FrameDecoder, FrameError, FrameType, GoAway,
    Headers, MAX_MAX_FRAME_SIZE, PREFACE, Ping, PrefaceMatcher, Priority, PrioritySpec,
    PushPromise, Reply, RstStream, SettingId, Settings, SettingsFrame, StreamId, Unknown,
    WindowUpdate, is_h2_preface_prefix,
};
use wirestate_machine::ErrorKind;

/// The SETTINGS_MAX_FRAME_SIZE values the `size` byte picks from.
const MAX_SIZES: [u32; 8] = [
    16_384,
    16_385,
    16_400,
    20_000,
    65_535,
    65_536,
    1 << 20,
    MAX_MAX_FRAME_SIZE,
];

/// The decoder configuration an input picks.
#[derive(Clone, Copy)]
struct Config {
    preface: bool,
    max_frame_size: u32,
    max_block: Option<usize>,
}

impl Config {
    fn decoder(self) -> FrameDecoder {
        let mut dec = FrameDecoder::new();
        dec.set_max_frame_size(self.max_frame_size)
            .expect("a valid frame size");
        if let Some(max) = self.max_block {
            dec.set_max_header_block_size(max);
        }
        dec
    }
}

/// What one run produced, each item with the input range of the call that
/// produced it.
#[derive(Default)]
struct Run {
    items: Vec<(Result<Frame, FrameError>, Range<usize>)>,
    fatal: Option<(FrameError, Range<usize>)>,
}

/// Feeds `pieces` in order; stops at the first connection error.
fn run(cfg: Config, pieces: &[&[u8]]) -> Run {
    let mut out = Run::default();
    let mut matcher = cfg.preface.then(PrefaceMatcher::new);
    let mut dec = cfg.decoder();
    let mut buf = BytesMut::new();
    let mut start = 0;
    for piece in pieces {
        let range = start..start + piece.len();
        start = range.end;
        buf.extend_from_slice(piece);
        if let Some(m) = &mut matcher {
            match m.decode(&mut buf) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    out.fatal = Some((e, range));
                    return out;
                }
            }
        }
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(f)) => out.items.push((Ok(f), range.clone())),
                Ok(None) => break,
                Err(e) if e.is_stream_error() => out.items.push((Err(e), range.clone())),
                Err(e) => {
                    assert_eq!(dec.decode(&mut buf), Err(e.clone()), "not sticky");
                    assert_eq!(dec.error(), Some(&e));
                    out.fatal = Some((e, range));
                    return out;
                }
            }
        }
    }
    out
}

fn check_error(e: &FrameError) {
    assert_ne!(e.kind(), ErrorKind::Usage, "{e:?} from input");
    match e.hint() {
        Some(Reply::Reset { stream, .. }) => assert!(!stream.is_zero(), "{e:?}"),
        Some(Reply::GoAway(_)) => {}
        None => panic!("{e:?} names no reply"),
    }
}

/// Fuzz body for `h2_frame` (see the module docs).
pub fn h2_frame(data: &[u8]) {
    let Some((&[flags, size, block, p0, p1, p2, p3], wire)) = data.split_first_chunk() else {
        return;
    };
    let cfg = Config {
        preface: flags & 1 != 0,
        max_frame_size: MAX_SIZES[usize::from(size % 8)],
        max_block: (block != 0).then(|| usize::from(block) * 8),
    };

    let whole = run(cfg, &[wire]);
    let bytes: Vec<&[u8]> = wire.chunks(1).collect();
    let bytewise = run(cfg, &bytes);
    let split = run(cfg, &Split::Pattern([p0, p1, p2, p3]).pieces(wire));
    for (name, other) in [("whole", &whole), ("split", &split)] {
        assert_eq!(
            bytewise.items.len(),
            other.items.len(),
            "{name}: item count differs"
        );
        for ((a, at), (b, range)) in bytewise.items.iter().zip(&other.items) {
            assert_eq!(a, b, "{name}: items differ");
            assert!(
                range.contains(&at.start),
                "{name}: {b:?} reported by the call feeding {range:?}, byte by byte at {}",
                at.start
            );
        }
        match (&bytewise.fatal, &other.fatal) {
            (None, None) => {}
            (Some((a, at)), Some((b, range))) => {
                assert_eq!(a, b, "{name}: errors differ");
                assert!(
                    range.contains(&at.start),
                    "{name}: {b:?} reported late or early"
                );
            }
            (a, b) => panic!("{name}: errors differ: {a:?} vs {b:?}"),
        }
    }

    // The sniffer agrees with the matcher.
    if cfg.preface {
        let sniffed = is_h2_preface_prefix(wire);
        let failed = matches!(whole.fatal, Some((FrameError::InvalidPreface, _)));
        let complete = wire.len() >= PREFACE.len() && !failed;
        assert_eq!(sniffed == Some(false), failed, "sniffer vs matcher");
        assert_eq!(sniffed == Some(true), complete, "sniffer vs matcher");
    }

    for (item, _) in &whole.items {
        if let Err(e) = item {
            check_error(e);
        }
    }
    if let Some((e, _)) = &whole.fatal {
        check_error(e);
    }

    // Re-encode what decoded, and decode it again.
    let frames: Vec<&Frame> = whole
        .items
        .iter()
        .filter_map(|(i, _)| i.as_ref().ok())
        .collect();
    let mut again = BytesMut::new();
    for f in &frames {
        assert!(
            f.payload_len() <= cfg.max_frame_size as usize,
            "over the limit: {f:?}"
        );
        let before = again.len();
        f.encode(&mut again).expect("a decoded frame encodes");
        assert_eq!(
            again.len() - before,
            f.encoded_len(),
            "encoded_len of {f:?}"
        );
    }
    let mut dec = cfg.decoder();
    for f in &frames {
        let got = dec.decode(&mut again);
        assert_eq!(got.as_ref(), Ok(&Some((*f).clone())), "re-decoding differs");
    }
    assert_eq!(dec.decode(&mut again), Ok(None));
    assert!(again.is_empty());

    // Field blocks split again are put back together unchanged.
    for f in &frames {
        let mut out = BytesMut::new();
        let block = match f {
            Frame::Headers(h) => {
                h.encode_split(cfg.max_frame_size, &mut out)
                    .expect("valid size");
                &h.block
            }
            Frame::PushPromise(p) => {
                p.encode_split(cfg.max_frame_size, &mut out)
                    .expect("valid size");
                &p.block
            }
            _ => continue,
        };
        let mut dec = cfg.decoder();
        dec.set_max_header_block_size(usize::MAX);
        let mut joined = Vec::new();
        while let Some(part) = dec.decode(&mut out).expect("a split block decodes") {
            assert_eq!(part.stream_id(), f.stream_id());
            match part {
                Frame::Headers(h) => joined.extend_from_slice(&h.block),
                Frame::PushPromise(p) => joined.extend_from_slice(&p.block),
                Frame::Continuation(c) => joined.extend_from_slice(&c.block),
                other => panic!("{other:?} in a split field block"),
            }
        }
        assert!(out.is_empty());
        assert_eq!(dec.open_header_block(), None);
        assert_eq!(&joined[..], &block[..]);
    }
}

/// Hand-made inputs for the `h2_frame` corpus, by name.
pub fn h2_frame_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let s = |n| StreamId::new(n).expect("31-bit");
    let enc = |frames: &[Frame]| {
        let mut out = BytesMut::new();
        for f in frames {
            f.encode(&mut out).expect("encodable");
        }
        out.to_vec()
    };
    let input = |flags: u8, size: u8, block: u8, wire: &[u8]| {
        let mut v = vec![flags, size, block, 1, 7, 2, 40];
        v.extend_from_slice(wire);
        v
    };
    let mut settings = Settings::new();
    for (id, v) in [
        (SettingId::HeaderTableSize, 4096),
        (SettingId::EnablePush, 0),
        (SettingId::MaxConcurrentStreams, 100),
        (SettingId::InitialWindowSize, 1 << 20),
        (SettingId::MaxFrameSize, 1 << 14),
        (SettingId::MaxHeaderListSize, 16 << 10),
        (SettingId::EnableConnectProtocol, 1),
        (SettingId::NoRfc7540Priorities, 1),
    ] {
        settings.set(id, v).expect("valid");
    }
    let get = Bytes::from_static(&[
        0x82, 0x86, 0x84, 0x41, 0x8c, 0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90,
        0xf4, 0xff,
    ]);
    let spec = PrioritySpec {
        dependency: s(3),
        exclusive: true,
        weight: 200,
    };
    let every_type = enc(&[
        Frame::Settings(SettingsFrame::new(settings.clone())),
        Frame::Settings(SettingsFrame::ack()),
        Frame::WindowUpdate(WindowUpdate {
            stream: StreamId::ZERO,
            increment: 1 << 20,
        }),
        Frame::Headers(Headers {
            stream: s(1),
            priority: Some(spec),
            block: get.clone(),
            end_stream: false,
            end_headers: true,
            pad: Some(3),
        }),
        Frame::Data(Data {
            stream: s(1),
            data: Bytes::from_static(b"hello"),
            end_stream: true,
            pad: Some(2),
        }),
        Frame::Priority(Priority { stream: s(5), spec }),
        Frame::PushPromise(PushPromise {
            stream: s(1),
            promised: s(2),
            block: get.clone(),
            end_headers: true,
            pad: Some(1),
        }),
        Frame::RstStream(RstStream {
            stream: s(1),
            code: ErrorCode::CANCEL,
        }),
        Frame::Ping(Ping {
            ack: false,
            payload: *b"12345678",
        }),
        Frame::Ping(Ping {
            ack: true,
            payload: *b"12345678",
        }),
        Frame::Unknown(Unknown {
            kind: FrameType(0x10),
            flags: Flags(0xff),
            stream: s(1),
            payload: Bytes::from_static(b"priority update"),
        }),
        Frame::GoAway(GoAway {
            last_stream: s(1),
            code: ErrorCode::NO_ERROR,
            debug: Bytes::from_static(b"bye"),
        }),
    ]);
    let continued = enc(&[
        Frame::Headers(Headers {
            stream: s(3),
            priority: None,
            block: get.slice(..5),
            end_stream: true,
            end_headers: false,
            pad: None,
        }),
        Frame::Continuation(Continuation {
            stream: s(3),
            block: get.slice(5..9),
            end_headers: false,
        }),
        Frame::Continuation(Continuation {
            stream: s(3),
            block: get.slice(9..),
            end_headers: true,
        }),
    ]);
    let raw = |len: u32, kind: u8, flags: u8, stream: u32, payload: &[u8]| {
        let mut v = len.to_be_bytes()[1..].to_vec();
        v.extend([kind, flags]);
        v.extend(stream.to_be_bytes());
        v.extend_from_slice(payload);
        v
    };
    let ping = raw(8, 6, 0, 0, b"abcdefgh");
    // The largest frame the default limit allows, then one byte more.
    let big = [
        raw(16_384, 0, 0, 1, &[b'x'; 16_384]),
        raw(16_385, 0, 0, 1, &[]),
    ]
    .concat();
    let first_settings = enc(&[
        Frame::Settings(SettingsFrame::new(settings)),
        Frame::Settings(SettingsFrame::ack()),
    ]);

    vec![
        (
            "client-preface",
            input(1, 0, 0, &[&PREFACE[..], &first_settings[..]].concat()),
        ),
        ("every-type", input(0, 0, 0, &every_type)),
        (
            "continuation",
            input(0, 0, 0, &[continued.clone(), ping.clone()].concat()),
        ),
        (
            "continuation-bound",
            input(0, 0, 4, &[continued.clone(), continued].concat()),
        ),
        (
            "stream-errors",
            input(
                0,
                0,
                0,
                &[
                    raw(6, 2, 0, 3, &[0; 6]),
                    raw(5, 2, 0, 3, &[0, 0, 0, 3, 0]),
                    raw(4, 8, 0, 5, &[0x80, 0, 0, 0]),
                    ping.clone(),
                ]
                .concat(),
            ),
        ),
        (
            "connection-errors",
            input(
                0,
                0,
                0,
                &[ping.clone(), raw(8, 6, 0, 1, b"abcdefgh")].concat(),
            ),
        ),
        ("bad-padding", input(0, 0, 0, &raw(3, 0, 8, 1, &[3, 0, 0]))),
        (
            "bad-setting",
            input(0, 0, 0, &raw(6, 4, 0, 0, &[0, 4, 0x80, 0, 0, 0])),
        ),
        ("too-large", input(0, 0, 0, &big)),
        (
            "bad-preface",
            input(1, 0, 0, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        ),
    ]
}
