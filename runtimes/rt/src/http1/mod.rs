//! Async HTTP/1.1 on the generic driver: a handler server ([`serve`]), a
//! client connection ([`handshake`]) and a pooled [`Client`].

mod client;
mod pool;
mod server;

pub use client::{ClientApp, SendRequest, handshake};
pub use pool::{Client, ClientConfig};
pub use server::{Handler, ServeConnection, ServerApp, ServerConfig, serve, serve_connection};
pub use wirestate_http1::policy::Retry;
