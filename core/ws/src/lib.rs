//! Sans-IO WebSocket (RFC 6455). This first layer is the frame codec,
//! usable alone: parse a frame header ([`FrameHeader::parse`]), unmask a
//! payload in place ([`apply_mask`]), encode a header
//! ([`FrameHeader::encode`]). The connection machine, the handshake and
//! permessage-deflate build on it.

#![forbid(unsafe_code)]

mod frame;
mod mask;

pub use frame::{FrameError, FrameHeader, OpCode};
pub use mask::apply_mask;
