//! Writing and reading the op-list inputs of [`server_connection`],
//! [`client_connection`], [`ws_server`] and [`ws_client`], for seeds and
//! for reading reproducers.
//!
//! [`Encode`] writes a value in the byte layout `arbitrary`'s derive reads
//! (integers little-endian, `bool` as a byte, `Option` as a bool then the
//! value, an enum as a `u32` whose high bits pick the variant, fields in
//! order); the seed generator checks every seed by decoding it again.
//!
//! [`server_connection`]: super::server_connection
//! [`client_connection`]: super::client_connection
//! [`ws_server`]: super::ws_server
//! [`ws_client`]: super::ws_client

use super::client::{ClientOp, ClientSetup, MethodChoice, TargetChoice};
use super::ops::{
    BodyChoice, LimitsChoice, MAX_OPS, SizeChoice, Split, TimeoutChoice, split_input,
};
use super::server::{ServerOp, ServerSetup, StatusChoice};
use super::ws_connection::{CloseChoice, DeflateChoice, KeepAliveChoice, WsOp, WsSetup};
use arbitrary::{Arbitrary, Unstructured};

/// A value that can be written in `arbitrary`'s layout.
pub trait Encode {
    /// Appends the bytes that `arbitrary` decodes back into `self`.
    fn encode(&self, out: &mut Vec<u8>);
}

/// Writes the tag that makes a derived `Arbitrary` enum of `count`
/// variants pick variant `index`.
fn tag(out: &mut Vec<u8>, index: u32, count: u32) {
    let v = (u64::from(index) << 32).div_ceil(u64::from(count));
    out.extend_from_slice(&u32::try_from(v).expect("index < count").to_le_bytes());
}

impl Encode for u8 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(*self);
    }
}

impl Encode for u16 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Encode for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.is_some().encode(out);
        if let Some(v) = self {
            v.encode(out);
        }
    }
}

impl Encode for [u8; 4] {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
}

/// Implements [`Encode`] for a fieldless enum from its variants in order.
macro_rules! encode_unit_enum {
    ($ty:ident { $($variant:ident),+ $(,)? }) => {
        impl Encode for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                let all = [$($ty::$variant),+];
                let index = all.iter().position(|v| v == self).expect("listed");
                tag(out, index as u32, all.len() as u32);
            }
        }
    };
}

encode_unit_enum!(MethodChoice {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Options,
    Connect,
    Patch,
    Trace,
    Custom
});
encode_unit_enum!(TargetChoice {
    Root,
    Path,
    Absolute,
    AbsoluteNoPath,
    Authority,
    Asterisk
});

impl Encode for Split {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Split::Whole => tag(out, 0, 3),
            Split::Fixed(n) => {
                tag(out, 1, 3);
                n.encode(out);
            }
            Split::Pattern(p) => {
                tag(out, 2, 3);
                p.encode(out);
            }
        }
    }
}

impl Encode for BodyChoice {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            BodyChoice::Empty => tag(out, 0, 3),
            BodyChoice::Exact(n) => {
                tag(out, 1, 3);
                n.encode(out);
            }
            BodyChoice::Streaming => tag(out, 2, 3),
        }
    }
}

impl Encode for SizeChoice {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            SizeChoice::Default => tag(out, 0, 3),
            SizeChoice::Tiny(n) => {
                tag(out, 1, 3);
                n.encode(out);
            }
            SizeChoice::Small(n) => {
                tag(out, 2, 3);
                n.encode(out);
            }
        }
    }
}

impl Encode for TimeoutChoice {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            TimeoutChoice::Default => tag(out, 0, 3),
            TimeoutChoice::Off => tag(out, 1, 3),
            TimeoutChoice::Millis(n) => {
                tag(out, 2, 3);
                n.encode(out);
            }
        }
    }
}

impl Encode for LimitsChoice {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            LimitsChoice::Default => tag(out, 0, 2),
            LimitsChoice::Small {
                request_line,
                head,
                headers,
                chunk_line,
                trailer,
                body,
            } => {
                tag(out, 1, 2);
                request_line.encode(out);
                head.encode(out);
                headers.encode(out);
                chunk_line.encode(out);
                trailer.encode(out);
                body.encode(out);
            }
        }
    }
}

impl Encode for StatusChoice {
    fn encode(&self, out: &mut Vec<u8>) {
        let (index, other) = match self {
            StatusChoice::Ok => (0, None),
            StatusChoice::NoContent => (1, None),
            StatusChoice::NotModified => (2, None),
            StatusChoice::SwitchingProtocols => (3, None),
            StatusChoice::NotFound => (4, None),
            StatusChoice::BadRequest => (5, None),
            StatusChoice::InternalServerError => (6, None),
            StatusChoice::Continue => (7, None),
            StatusChoice::Other(n) => (8, Some(*n)),
        };
        tag(out, index, 9);
        if let Some(n) = other {
            n.encode(out);
        }
    }
}

impl Encode for ServerSetup {
    fn encode(&self, out: &mut Vec<u8>) {
        self.limits.encode(out);
        self.header_read_timeout.encode(out);
        self.keep_alive_timeout.encode(out);
        self.max_pipelined.encode(out);
        self.max_buffered_input.encode(out);
        self.read_high_water.encode(out);
        self.write_high_water.encode(out);
        self.preserve_header_case.encode(out);
    }
}

impl Encode for ClientSetup {
    fn encode(&self, out: &mut Vec<u8>) {
        self.limits.encode(out);
        self.expect_continue_timeout.encode(out);
        self.max_buffered_input.encode(out);
        self.read_high_water.encode(out);
        self.write_high_water.encode(out);
        self.absolute_form.encode(out);
        self.preserve_header_case.encode(out);
    }
}

impl Encode for ServerOp {
    fn encode(&self, out: &mut Vec<u8>) {
        const N: u32 = 12;
        match *self {
            ServerOp::Feed {
                len,
                split,
                respect_wants_read,
            } => {
                tag(out, 0, N);
                len.encode(out);
                split.encode(out);
                respect_wants_read.encode(out);
            }
            ServerOp::Advance { millis } => {
                tag(out, 1, N);
                millis.encode(out);
            }
            ServerOp::AdvanceToTimeout => tag(out, 2, N),
            ServerOp::Eof => tag(out, 3, N),
            ServerOp::SendContinue => tag(out, 4, N),
            ServerOp::SendInformational { code } => {
                tag(out, 5, N);
                code.encode(out);
            }
            ServerOp::SendResponse {
                status,
                body,
                headers,
            } => {
                tag(out, 6, N);
                status.encode(out);
                body.encode(out);
                headers.encode(out);
            }
            ServerOp::SendFullResponse { status, len } => {
                tag(out, 7, N);
                status.encode(out);
                len.encode(out);
            }
            ServerOp::SendData { len } => {
                tag(out, 8, N);
                len.encode(out);
            }
            ServerOp::Finish { trailers } => {
                tag(out, 9, N);
                trailers.encode(out);
            }
            ServerOp::Close => tag(out, 10, N),
            ServerOp::RespondAll => tag(out, 11, N),
        }
    }
}

impl Encode for ClientOp {
    fn encode(&self, out: &mut Vec<u8>) {
        const N: u32 = 8;
        match *self {
            ClientOp::Feed {
                len,
                split,
                respect_wants_read,
            } => {
                tag(out, 0, N);
                len.encode(out);
                split.encode(out);
                respect_wants_read.encode(out);
            }
            ClientOp::Advance { millis } => {
                tag(out, 1, N);
                millis.encode(out);
            }
            ClientOp::AdvanceToTimeout => tag(out, 2, N),
            ClientOp::Eof => tag(out, 3, N),
            ClientOp::SendRequest {
                method,
                target,
                body,
                flags,
            } => {
                tag(out, 4, N);
                method.encode(out);
                target.encode(out);
                body.encode(out);
                flags.encode(out);
            }
            ClientOp::SendData { len } => {
                tag(out, 5, N);
                len.encode(out);
            }
            ClientOp::Finish { trailers } => {
                tag(out, 6, N);
                trailers.encode(out);
            }
            ClientOp::Close => tag(out, 7, N),
        }
    }
}

impl Encode for DeflateChoice {
    fn encode(&self, out: &mut Vec<u8>) {
        self.server_no_context_takeover.encode(out);
        self.client_no_context_takeover.encode(out);
        self.server_max_window_bits.encode(out);
        self.client_max_window_bits.encode(out);
        self.level.encode(out);
        self.min_compress_size.encode(out);
    }
}

impl Encode for KeepAliveChoice {
    fn encode(&self, out: &mut Vec<u8>) {
        self.interval_ms.encode(out);
        self.pong_timeout_ms.encode(out);
    }
}

impl Encode for WsSetup {
    fn encode(&self, out: &mut Vec<u8>) {
        self.split.encode(out);
        self.streaming.encode(out);
        self.max_frame_size.encode(out);
        self.max_message_size.encode(out);
        self.deflate.encode(out);
        self.keepalive.encode(out);
        self.close_timeout_ms.encode(out);
        self.write_high_water.encode(out);
        self.handshake.encode(out);
    }
}

impl Encode for CloseChoice {
    fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            CloseChoice::Normal => tag(out, 0, 4),
            CloseChoice::Listed(n) => {
                tag(out, 1, 4);
                n.encode(out);
            }
            CloseChoice::Private(n) => {
                tag(out, 2, 4);
                n.encode(out);
            }
            CloseChoice::Raw(n) => {
                tag(out, 3, 4);
                n.encode(out);
            }
        }
    }
}

impl Encode for WsOp {
    fn encode(&self, out: &mut Vec<u8>) {
        const N: u32 = 9;
        match *self {
            WsOp::Feed { len } => {
                tag(out, 0, N);
                len.encode(out);
            }
            WsOp::Send {
                text,
                len,
                compress,
            } => {
                tag(out, 1, N);
                text.encode(out);
                len.encode(out);
                compress.encode(out);
            }
            WsOp::Fragment { text, len, fin } => {
                tag(out, 2, N);
                text.encode(out);
                len.encode(out);
                fin.encode(out);
            }
            WsOp::Ping { len } => {
                tag(out, 3, N);
                len.encode(out);
            }
            WsOp::Pong { len } => {
                tag(out, 4, N);
                len.encode(out);
            }
            WsOp::Close { code, reason } => {
                tag(out, 5, N);
                code.encode(out);
                reason.encode(out);
            }
            WsOp::Advance { millis } => {
                tag(out, 6, N);
                millis.encode(out);
            }
            WsOp::AdvanceToTimeout => tag(out, 7, N),
            WsOp::Eof => tag(out, 8, N),
        }
    }
}

/// A whole connection-target input: setup and ops as the program, then
/// the wire bytes.
pub fn program<S: Encode, O: Encode>(setup: &S, ops: &[O], wire: &[u8]) -> Vec<u8> {
    let mut prog = Vec::new();
    setup.encode(&mut prog);
    for op in ops {
        op.encode(&mut prog);
    }
    let len = u16::try_from(prog.len()).expect("program under 64 KiB");
    let mut out = len.to_le_bytes().to_vec();
    out.extend_from_slice(&prog);
    out.extend_from_slice(wire);
    out
}

/// A decoded connection-target input: the setup, the ops run and the wire.
#[derive(Debug)]
pub struct Decoded<'a, S, O> {
    /// The setup, if the program was long enough to hold one.
    pub setup: Option<S>,
    /// The ops, as [`server_connection`](super::server_connection) or
    /// [`client_connection`](super::client_connection) run them.
    pub ops: Vec<O>,
    /// The peer's bytes.
    pub wire: &'a [u8],
}

/// Decodes an input of a connection target the way it runs it.
pub fn decode<'a, S, O>(data: &'a [u8]) -> Decoded<'a, S, O>
where
    S: Arbitrary<'a>,
    O: Arbitrary<'a>,
{
    let (prog, wire) = split_input(data);
    let mut u = Unstructured::new(prog);
    let setup = S::arbitrary(&mut u).ok();
    let mut ops = Vec::new();
    if setup.is_some() {
        while !u.is_empty() && ops.len() < MAX_OPS {
            match O::arbitrary(&mut u) {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
    }
    Decoded { setup, ops, wire }
}
