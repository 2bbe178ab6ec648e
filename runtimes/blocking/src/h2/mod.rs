//! HTTP/2 (RFC 9113) on blocking threads: h2c with prior knowledge.
//!
//! * The server side is part of [`Server`](crate::Server): one listening
//!   port serves HTTP/1.1 and HTTP/2, told apart by the first bytes of
//!   each connection ([`ServerConfig::http2`](crate::ServerConfig::http2)),
//!   and the same [`Handler`](crate::Handler) answers both. Each stream's
//!   handler runs on a worker thread of its own, at most
//!   `max_concurrent_streams` per connection.
//! * The client side is [`connect`]: one connection, a [`SendRequest`]
//!   handle usable from many threads at once, each request a stream, with
//!   request and response bodies streamed under flow control.
//!
//! # Threads
//!
//! Each connection has a **connection thread** that owns the
//! [`Connection`](wirestate_h2::connection::Connection) machine and the
//! socket's write side, and a **reader thread** that blocks in `read` and
//! hands the bytes over (at most 64 KiB queued). The connection thread
//! sleeps on a condition variable until input arrives, a stream's thread
//! acts, or the machine's next timer is due — so a handler's output goes
//! out as soon as it is produced, without polling. Streams talk to it
//! through a small shared state each:
//!
//! * incoming body data (a request's on the server, a response's on the
//!   client) is queued for the reading thread, and its flow-control credit
//!   goes back to the peer only as that thread reads it — the stream's
//!   receive window bounds the queue;
//! * outgoing body chunks are queued by the writing thread, which blocks
//!   once 64 KiB wait; the connection thread sends them as the peer's
//!   windows allow, gathering small chunks into full DATA frames and
//!   never leaving a tiny remainder.
//!
//! On the server, a worker thread per stream (rather than a pool) keeps a
//! handler that blocks — on its request body, on a slow response body, on
//! anything else — from holding up the other streams; the number of
//! workers per connection is capped at the concurrent-stream limit we
//! advertise, and streams past it (handlers of reset streams still
//! running) are refused with REFUSED_STREAM, which clients retry.

mod client;
mod conn;
mod send;
pub(crate) mod server;
mod stream;

pub(crate) use client::Canceller;
pub use client::{
    ClientConfig, PendingResponse, RequestWriter, SendRequest, connect, connect_with, handshake,
};
#[cfg(feature = "tls")]
pub use client::{connect_tls, handshake_tls};
pub(crate) use conn::Inbox;
pub(crate) use stream::Reader;
pub use wirestate_h2::frame::ErrorCode;
