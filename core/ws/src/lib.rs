//! Sans-IO WebSocket (RFC 6455, RFC 7692), in layers usable alone:
//!
//! * the frame codec: parse a header ([`FrameHeader::parse`]), unmask a
//!   payload in place ([`apply_mask`]), encode a header
//!   ([`FrameHeader::encode`]);
//! * the opening handshake as pure functions over `http` types
//!   ([`ClientHandshake`], [`accept`]);
//! * permessage-deflate ([`DeflateConfig`], [`PerMessageDeflate`]);
//! * the connection machine ([`Connection`]): messages, fragmentation,
//!   UTF-8 validation, ping/pong and keep-alive, the close handshake;
//! * [`ServerUpgrade`] and [`ClientUpgrade`]: the HTTP/1.1 handshake and
//!   then the connection as one machine, for custom event loops.

#![forbid(unsafe_code)]

mod connection;
mod deflate;
mod frame;
mod handshake;
mod mask;
mod message;
mod upgrade;

pub use connection::{Config, Connection, Error, Event};
pub use message::{CloseFrame, Message, MessageKind, Utf8Bytes, close_code};
pub use upgrade::{ClientUpgrade, ServerUpgrade, UpgradeError, UpgradeEvent};

pub use deflate::{
    DeflateConfig, DeflateError, DeflateParams, Extension, ExtensionSyntaxError,
    PERMESSAGE_DEFLATE, PerMessageDeflate,
};
pub use frame::{FrameError, FrameHeader, OpCode};
pub use handshake::{
    ClientHandshake, HandshakeError, Negotiated, OriginCheck, OriginPolicy, PendingHandshake,
    ProtocolChooser, ServerHandshake, WEBSOCKET_GUID, accept, derive_accept_key, is_upgrade,
    is_upgrade_request, reject_response,
};
pub use mask::apply_mask;

/// Which end of the connection a machine plays. Clients mask what they send
/// and require unmasked frames; servers the reverse (RFC 6455 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that sent the opening handshake.
    Client,
    /// The end that accepted it.
    Server,
}
