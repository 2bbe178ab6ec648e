//! The server-sent events framing ([`SseDecoder`], [`encode_event`]).
//!
//! # Input layout
//!
//! ```text
//! [cfg] [pattern: 4 bytes] [stream...]
//! ```
//!
//! * `cfg` bits 0-2 pick `max_line_len` from [`MAX_LINE`], bits 3-5
//!   `max_event_len` from [`MAX_EVENT`]; bit 6 cuts the split run into
//!   pieces of `pattern[0]` bytes instead of cycling through the four
//!   pattern sizes (0 counts as 1).
//!
//! # What is checked
//!
//! The stream is decoded byte by byte, whole and in the chosen pieces, then
//! finished. All three give the same events and errors, with the same last
//! event ID and retry after each, and each item comes out after the piece
//! that holds the byte after which the byte-by-byte run produced it. The
//! items equal the WHATWG interpretation rules applied to the whole stream
//! at once (with the decoder's limit rules). No event's data is over
//! `max_event_len`; the decoder never holds more than
//! `max(max_line_len, 2) + max_event_len` bytes once drained, and nothing
//! after `finish`. Every decoded event, encoded again, decodes to itself.

use super::ops::Split;
use bytes::BytesMut;
use std::ops::Range;
use wirestate_codec::{SseDecoder, encode_event};

/// The `max_line_len` values `cfg` picks from.
pub const MAX_LINE: [usize; 8] = [0, 1, 2, 5, 16, 64, 1024, SseDecoder::DEFAULT_MAX_LINE_LEN];
/// The `max_event_len` values `cfg` picks from.
pub const MAX_EVENT: [usize; 8] = [
    0,
    1,
    4,
    16,
    64,
    1024,
    65_536,
    SseDecoder::DEFAULT_MAX_EVENT_LEN,
];

#[path = "../../../core/codec/tests/sse_reference/mod.rs"]
mod sse_reference;

use sse_reference::{Item, reference};

/// An item, the decoder's last event ID and retry right after it, and the
/// range of the piece after which it came out.
type Placed = (Item, String, Option<u64>, Range<usize>);

/// Fuzz body for `sse` (see the module docs).
pub fn sse(data: &[u8]) {
    let Some((&[cfg, p0, p1, p2, p3], stream)) = data.split_first_chunk() else {
        return;
    };
    let max_line = MAX_LINE[usize::from(cfg & 7)];
    let max_event = MAX_EVENT[usize::from((cfg >> 3) & 7)];
    let split = if cfg & 64 != 0 {
        Split::Fixed(p0)
    } else {
        Split::Pattern([p0, p1, p2, p3])
    };

    let bytewise = run(stream, Split::Fixed(1), max_line, max_event);
    for (name, other) in [
        ("whole", run(stream, Split::Whole, max_line, max_event)),
        ("split", run(stream, split, max_line, max_event)),
    ] {
        assert_eq!(
            other.0.len(),
            bytewise.0.len(),
            "{name}: a different number of items"
        );
        for ((want, want_id, want_retry, at), (got, id, retry, range)) in
            bytewise.0.iter().zip(&other.0)
        {
            assert_eq!(got, want, "{name}: a different item");
            assert_eq!(id, want_id, "{name}: a different last event ID");
            assert_eq!(retry, want_retry, "{name}: a different retry");
            assert!(
                range.contains(&at.start),
                "{name}: {got:?} came after {range:?}, byte by byte after byte {}",
                at.start
            );
        }
        assert_eq!(other.1, bytewise.1, "{name}: last event ID at the end");
        assert_eq!(other.2, bytewise.2, "{name}: retry at the end");
    }
    let (items, last_id, retry) = reference(stream, max_line, max_event);
    let got: Vec<Item> = bytewise.0.into_iter().map(|(i, ..)| i).collect();
    assert_eq!(got, items, "differs from the rules");
    assert_eq!(bytewise.1, last_id, "last event ID differs from the rules");
    assert_eq!(bytewise.2, retry, "retry differs from the rules");

    // Round trip: what was decoded, encoded again, decodes to itself.
    let mut wire = BytesMut::new();
    let mut sent = Vec::new();
    for ev in got.into_iter().flatten() {
        assert!(ev.data.len() <= max_event, "data over the limit");
        encode_event(&ev, &mut wire).expect("a decoded event encodes");
        sent.push(Ok(ev));
    }
    let back: Vec<Item> = run(&wire, split, usize::MAX, usize::MAX)
        .0
        .into_iter()
        .map(|(i, ..)| i)
        .collect();
    assert_eq!(back, sent, "round trip");
}

fn run(
    stream: &[u8],
    split: Split,
    max_line: usize,
    max_event: usize,
) -> (Vec<Placed>, String, Option<u64>) {
    let mut dec = SseDecoder::new()
        .with_max_line_len(max_line)
        .with_max_event_len(max_event);
    let mut out = Vec::new();
    let mut start = 0;
    for piece in split.pieces(stream) {
        let end = start + piece.len();
        dec.push(piece);
        // Bounded: each item consumes at least one byte.
        while let Some(item) = dec.next_event() {
            let id = dec.last_event_id().to_owned();
            out.push((item, id, dec.retry(), start..end));
        }
        assert!(
            dec.buffered() <= max_line.max(2).saturating_add(max_event),
            "{} bytes held",
            dec.buffered()
        );
        start = end;
    }
    let eof = stream.len()..stream.len() + 1;
    while let Some(item) = dec.finish() {
        let id = dec.last_event_id().to_owned();
        out.push((item, id, dec.retry(), eof.clone()));
    }
    assert_eq!(dec.buffered(), 0, "bytes held after finish");
    assert_eq!(dec.finish(), None, "finish again");
    (out, dec.last_event_id().to_owned(), dec.retry())
}
