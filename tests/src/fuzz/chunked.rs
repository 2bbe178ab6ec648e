//! The chunked body decoder alone.

use super::ops::Split;
use http::HeaderMap;
use wirestate_http1::{BodyDecoder, BodyKind, BodyStep, Error, Limits};
use wirestate_machine::RecvBuf;

/// Fuzzes a chunked [`BodyDecoder`].
///
/// Byte 0 picks the limits (bits 0-1 `max_chunk_line`, 2-3
/// `max_trailer_bytes`, 4-5 `max_body_bytes`) and, in bits 6-7, with byte 1,
/// how the rest is split. The rest is decoded three times: one byte at a
/// time, whole, and in the chosen pieces. All three must give the same
/// data, the same end (trailers included) or the same error, and must stop
/// at the same byte: the one-byte run says which, and the other runs must
/// stop in the piece that holds it. Decoding must make progress on every
/// step and never hand out more than `max_body_bytes`.
pub fn chunked(data: &[u8]) {
    let [cfg, param, body @ ..] = data else {
        return;
    };
    let mut limits = Limits::default();
    limits.max_chunk_line = [1, 4, 16, 1024][usize::from(cfg & 3)];
    limits.max_trailer_bytes = [0, 8, 64, 16 * 1024][usize::from((cfg >> 2) & 3)];
    limits.max_body_bytes = [None, Some(0), Some(16), Some(1000)][usize::from((cfg >> 4) & 3)];
    let split = match cfg >> 6 {
        0 => Split::Fixed(*param),
        1 => Split::Pattern([*param, param.rotate_left(2), param >> 4, 1]),
        2 => Split::Pattern([param & 7, 1, 2, param >> 3]),
        _ => Split::Fixed(param & 3),
    };

    let bytewise = decode(body, &limits, Split::Fixed(1));
    // The byte at which the one-byte run stopped (one past it), if it did.
    let stop = match bytewise.end {
        End::Incomplete => None,
        _ => Some(bytewise.fed),
    };
    let compared = body;
    let full = decode(body, &limits, Split::Whole);
    assert_eq!(full.data, bytewise.data, "whole input: different data");
    let whole = decode(compared, &limits, Split::Whole);
    let pieces = decode(compared, &limits, split);

    if let Some(max) = limits.max_body_bytes {
        assert!(
            bytewise.data.len() as u64 <= max,
            "more than max_body_bytes"
        );
    }
    for (name, other) in [("whole", &whole), ("split", &pieces)] {
        assert_eq!(other.data, bytewise.data, "{name}: different data");
        assert_eq!(other.end, bytewise.end, "{name}: different end");
        if let Some(stop) = stop {
            assert!(
                other.piece_start < stop && stop <= other.fed,
                "{name}: stopped in the piece {}..{}, the byte-wise run at {stop}",
                other.piece_start,
                other.fed
            );
        }
    }
    // Where the body ended, the rest of the input is untouched.
    if let End::Done(_) = &bytewise.end {
        assert_eq!(
            bytewise.left, 0,
            "the byte-wise run kept bytes after the end"
        );
        assert_eq!(whole.left, compared.len() - bytewise.fed);
        assert_eq!(pieces.left, pieces.fed - bytewise.fed);
    }
}

#[derive(Debug, PartialEq)]
enum End {
    Done(Option<HeaderMap>),
    Failed(Error),
    Incomplete,
}

struct Outcome {
    data: Vec<u8>,
    end: End,
    /// Bytes fed when decoding stopped (all of them if it did not).
    fed: usize,
    /// Where the last piece fed started.
    piece_start: usize,
    /// Bytes left in the buffer after the end.
    left: usize,
}

fn decode(body: &[u8], limits: &Limits, split: Split) -> Outcome {
    let mut rx = RecvBuf::new(body.len() + 1);
    let mut dec = BodyDecoder::new(BodyKind::Chunked);
    let mut data = Vec::new();
    let mut fed = 0;
    for piece in split.pieces(body) {
        let piece_start = fed;
        rx.extend(piece).expect("the buffer holds the whole input");
        fed += piece.len();
        // Every step but the last consumes at least one byte.
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps <= body.len() + 2, "the decoder makes no progress");
            match dec.step(&mut rx, limits) {
                Ok(Some(BodyStep::Data(d))) => {
                    assert!(!d.is_empty(), "an empty Data step");
                    data.extend_from_slice(&d);
                }
                Ok(Some(BodyStep::End(trailers))) => {
                    // After the end, the decoder keeps saying so.
                    let again = dec.step(&mut rx, limits);
                    assert!(
                        matches!(again, Ok(Some(BodyStep::End(None)))),
                        "after End: {again:?}"
                    );
                    return Outcome {
                        data,
                        end: End::Done(trailers),
                        fed,
                        piece_start,
                        left: rx.len(),
                    };
                }
                Err(e) => {
                    return Outcome {
                        data,
                        end: End::Failed(e),
                        fed,
                        piece_start,
                        left: rx.len(),
                    };
                }
                Ok(None) => break,
            }
        }
    }
    let left = rx.len();
    // Input ended inside the body: that is an incomplete message.
    assert_eq!(dec.eof(), Err(Error::IncompleteMessage));
    Outcome {
        data,
        end: End::Incomplete,
        fed: body.len(),
        piece_start: body.len(),
        left,
    }
}
