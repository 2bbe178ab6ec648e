//! The newline-delimited framing ([`LineDecoder`], [`encode_line`]).
//!
//! # Input layout
//!
//! ```text
//! [cfg] [pattern: 4 bytes] [stream...]
//! ```
//!
//! * `cfg` bits 0-2 pick `max_line_len` from [`MAX_LINE`]; bit 3 cuts the
//!   split run into pieces of `pattern[0]` bytes instead of cycling through
//!   the four pattern sizes (0 counts as 1).
//!
//! # What is checked
//!
//! The stream is decoded byte by byte, whole and in the chosen pieces, then
//! finished. All three give the same lines and errors, and each item comes
//! out after the piece that holds the byte after which the byte-by-byte run
//! produced it. The items equal the framing rules applied to the whole
//! input at once (split at `\n`, strip one `\r`, over-long lines refused,
//! empty ones skipped). No line is empty, over the limit or holds a `\n`;
//! the decoder never holds more than `max_line_len + 1` bytes once drained,
//! and nothing after `finish`. Every line `encode_line` accepts decodes back
//! to itself.

use super::ops::Split;
use bytes::{Bytes, BytesMut};
use std::ops::Range;
use wirestate_codec::{LineDecoder, LineError, encode_line};

/// The `max_line_len` values `cfg` picks from.
pub const MAX_LINE: [usize; 8] = [0, 1, 2, 3, 8, 64, 4096, LineDecoder::DEFAULT_MAX_LINE_LEN];

type Item = Result<Bytes, LineError>;

/// Fuzz body for `lines` (see the module docs).
pub fn lines(data: &[u8]) {
    let Some((&[cfg, p0, p1, p2, p3], stream)) = data.split_first_chunk() else {
        return;
    };
    let max = MAX_LINE[usize::from(cfg & 7)];
    let split = if cfg & 8 != 0 {
        Split::Fixed(p0)
    } else {
        Split::Pattern([p0, p1, p2, p3])
    };

    let bytewise = run(max, stream, Split::Fixed(1));
    for (name, other) in [
        ("whole", run(max, stream, Split::Whole)),
        ("split", run(max, stream, split)),
    ] {
        assert_eq!(
            other.len(),
            bytewise.len(),
            "{name}: a different number of items"
        );
        for ((want, at), (got, range)) in bytewise.iter().zip(&other) {
            assert_eq!(got, want, "{name}: a different item");
            assert!(
                range.contains(&at.start),
                "{name}: {got:?} came after {range:?}, byte by byte after byte {}",
                at.start
            );
        }
    }
    let items: Vec<Item> = bytewise.into_iter().map(|(i, _)| i).collect();
    assert_eq!(items, reference(max, stream), "differs from the rules");

    for line in items.iter().flatten() {
        assert!(!line.is_empty(), "an empty line");
        assert!(line.len() <= max, "a line over the limit");
        assert!(!line.contains(&b'\n'), "a line with a newline");
    }
    // Round trip: every line `encode_line` takes comes back whole.
    let mut wire = BytesMut::new();
    let mut sent = Vec::new();
    for line in items.iter().flatten() {
        if encode_line(line, &mut wire).is_ok() {
            sent.push(Ok(line.clone()));
        } else {
            assert!(line.contains(&b'\r'), "refused {line:?}");
        }
    }
    let back: Vec<Item> = run(max, &wire, split).into_iter().map(|(i, _)| i).collect();
    assert_eq!(back, sent, "round trip");
}

/// Feeds `stream` in the pieces of `split`, draining after each, then
/// finishes. Each item comes with the range of the piece after which it
/// came out (`len..len + 1` for `finish`).
fn run(max: usize, stream: &[u8], split: Split) -> Vec<(Item, Range<usize>)> {
    let mut dec = LineDecoder::with_max_line_len(max);
    let mut out = Vec::new();
    let mut start = 0;
    for piece in split.pieces(stream) {
        let end = start + piece.len();
        dec.push(piece);
        // Bounded: each item consumes at least one byte.
        while let Some(item) = dec.next_line() {
            out.push((item, start..end));
        }
        assert!(
            dec.buffered() <= max.saturating_add(1),
            "{} bytes held, limit {max}",
            dec.buffered()
        );
        start = end;
    }
    let eof = stream.len()..stream.len() + 1;
    while let Some(item) = dec.finish() {
        out.push((item, eof.clone()));
    }
    assert_eq!(dec.buffered(), 0, "bytes held after finish");
    assert_eq!(dec.finish(), None, "finish again");
    out
}

/// The framing rules applied to the whole stream at once.
fn reference(max: usize, stream: &[u8]) -> Vec<Item> {
    stream
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() > max {
                Some(Err(LineError::TooLong { max }))
            } else {
                (!line.is_empty()).then(|| Ok(Bytes::copy_from_slice(line)))
            }
        })
        .collect()
}
