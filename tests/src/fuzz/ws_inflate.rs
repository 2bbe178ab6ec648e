//! permessage-deflate's codec ([`PerMessageDeflate`]) on its own: inflating
//! arbitrary data in pieces under a small output limit, and compressing
//! then inflating arbitrary messages.
//!
//! # Input layout
//!
//! ```text
//! [flags] [bits] [level] [max_out: u16 LE] [pattern: 4 bytes] [messages...]
//! ```
//!
//! * `flags`: bit 0 picks the mode (0 inflate, 1 round trip); bit 1 sets
//!   `client_no_context_takeover`, bit 2 `server_no_context_takeover`;
//!   bit 3 makes the inflating end the client (else the server); bit 4
//!   ends every message with an empty `fin` call after its pieces instead
//!   of setting `fin` on the last piece.
//! * `bits`: the client's window is `15 - bits % 8`, the server's
//!   `15 - (bits >> 3) % 8`; `level`: compression level `(6 + level) % 10`.
//! * `pattern`: the piece sizes the split run cycles through (0 counts as 1).
//! * Inflate mode: each message is `[len: u8] [len bytes]` (`len` 0: the
//!   rest of the input) of compressed data, inflated with `max_out`.
//! * Round-trip mode: each message is `[len: u8] [reps: u8] [len bytes]`,
//!   the bytes repeated `reps % 32 + 1` times; `max_out` is unused.
//!
//! # What is checked
//!
//! Inflate mode: every message is inflated whole by one codec and in pieces
//! by another; neither panics, neither ever holds more than `max_out`
//! bytes, and both give the same output or the same error. Round-trip mode:
//! what one end compresses, the other inflates back exactly, whole and in
//! pieces, with `max_out` equal to the message's length; with no context
//! takeover on the sending side, a fresh codec with one byte less refuses
//! the message as too large; an 8-bit sending window never compresses by
//! default.

use super::ops::Split;
use bytes::BytesMut;
use wirestate_ws::{DeflateError, DeflateParams, PerMessageDeflate, Role};

/// Fuzz body for `ws_inflate` (see the module docs).
pub fn ws_inflate(data: &[u8]) {
    let Some((&[flags, bits, level, lo, hi, p0, p1, p2, p3], body)) = data.split_first_chunk()
    else {
        return;
    };
    let mut params = DeflateParams::default();
    params.client_no_context_takeover = flags & 2 != 0;
    params.server_no_context_takeover = flags & 4 != 0;
    params.client_max_window_bits = 15 - bits % 8;
    params.server_max_window_bits = 15 - (bits >> 3) % 8;
    params.level = (6 + u32::from(level)) % 10;
    params.min_compress_size = 0;
    let receiver = if flags & 8 != 0 {
        Role::Client
    } else {
        Role::Server
    };
    let split = Split::Pattern([p0, p1, p2, p3]);
    let empty_fin = flags & 16 != 0;
    if flags & 1 == 0 {
        let max_out = usize::from(u16::from_le_bytes([lo, hi]));
        inflate(&params, receiver, split, empty_fin, max_out, body);
    } else {
        round_trip(&params, receiver, split, empty_fin, body);
    }
}

/// Inflates `data` as one message in the pieces `split` cuts, stopping at
/// the first error; never more than `max_out` bytes held.
fn inflate_pieces(
    codec: &mut PerMessageDeflate,
    data: &[u8],
    split: Split,
    empty_fin: bool,
    max_out: usize,
) -> Result<BytesMut, DeflateError> {
    let mut out = BytesMut::new();
    let pieces = split.pieces(data);
    let last = pieces.len().checked_sub(1);
    for (i, piece) in pieces.iter().enumerate() {
        let fin = !empty_fin && Some(i) == last;
        let r = codec.decompress(piece, fin, &mut out, max_out);
        assert!(
            out.len() <= max_out,
            "{} bytes over max_out {max_out}",
            out.len()
        );
        r?;
    }
    if empty_fin || last.is_none() {
        let r = codec.decompress(&[], true, &mut out, max_out);
        assert!(
            out.len() <= max_out,
            "{} bytes over max_out {max_out}",
            out.len()
        );
        r?;
    }
    Ok(out)
}

fn inflate(
    params: &DeflateParams,
    receiver: Role,
    split: Split,
    empty_fin: bool,
    max_out: usize,
    mut body: &[u8],
) {
    let mut whole = PerMessageDeflate::new(params, receiver);
    let mut cut = PerMessageDeflate::new(params, receiver);
    while let Some((&len, rest)) = body.split_first() {
        let n = match usize::from(len) {
            0 => rest.len(),
            n => n.min(rest.len()),
        };
        let (message, tail) = rest.split_at(n);
        body = tail;
        let a = inflate_pieces(&mut whole, message, Split::Whole, false, max_out);
        let b = inflate_pieces(&mut cut, message, split, empty_fin, max_out);
        match (&a, &b) {
            (Ok(a), Ok(b)) => assert!(a == b, "output differs when split"),
            _ => assert_eq!(
                a.as_ref().err(),
                b.as_ref().err(),
                "result differs when split"
            ),
        }
    }
}

fn round_trip(
    params: &DeflateParams,
    receiver: Role,
    split: Split,
    empty_fin: bool,
    mut body: &[u8],
) {
    let sender = match receiver {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    };
    let (send_bits, send_reset) = match sender {
        Role::Client => (
            params.client_max_window_bits,
            params.client_no_context_takeover,
        ),
        Role::Server => (
            params.server_max_window_bits,
            params.server_no_context_takeover,
        ),
    };
    let mut compressor = PerMessageDeflate::new(params, sender);
    if send_bits == 8 {
        assert_eq!(compressor.min_compress_size(), usize::MAX, "8-bit window");
    }
    let mut whole = PerMessageDeflate::new(params, receiver);
    let mut cut = PerMessageDeflate::new(params, receiver);
    while let [len, reps, rest @ ..] = body {
        let n = usize::from(*len).min(rest.len());
        let message = rest[..n].repeat(usize::from(reps % 32) + 1);
        body = &rest[n..];
        let mut wire = BytesMut::new();
        compressor
            .compress(&message, &mut wire)
            .expect("compression succeeds");
        let a = inflate_pieces(&mut whole, &wire, Split::Whole, false, message.len());
        assert_eq!(a.as_deref(), Ok(&message[..]), "round trip (whole)");
        let b = inflate_pieces(&mut cut, &wire, split, empty_fin, message.len());
        assert_eq!(b.as_deref(), Ok(&message[..]), "round trip (in pieces)");
        if send_reset && !message.is_empty() {
            let mut fresh = PerMessageDeflate::new(params, receiver);
            let max = message.len() - 1;
            let r = inflate_pieces(&mut fresh, &wire, split, empty_fin, max);
            assert_eq!(
                r.err(),
                Some(DeflateError::TooLarge { max }),
                "one byte over the limit"
            );
        }
    }
}
