//! Fuzz bodies for `wirestate-http1`, `wirestate-ws` and `wirestate-codec`,
//! shared by the cargo-fuzz targets in `fuzz/fuzz_targets/` and by
//! `tests/tests/fuzz_replay.rs`, which replays the committed corpora in
//! `fuzz/corpus/<target>/` under plain `cargo test`.
//!
//! Each function takes one raw fuzz input. Errors the crate returns
//! (protocol, limit or usage) are expected; a function panics only on a bug:
//! a panic inside the crate, or a broken invariant checked here (split
//! invariance, the machine contract, bounded output, output that parses).
//!
//! # Input layout of the connection targets
//!
//! [`server_connection`] and [`client_connection`] read their input as
//!
//! ```text
//! [ops_len: u16 LE] [program: ops_len bytes] [wire: the rest]
//! ```
//!
//! The program is decoded with `arbitrary`: a setup (the connection's
//! configuration) and then ops until it runs out ([`ServerOp`],
//! [`ClientOp`]). `Feed` ops take the next bytes of the wire (the peer's
//! bytes, kept apart so that a seed can hold a readable HTTP message);
//! whatever wire is left after the last op is fed at the end. All-zero
//! program bytes decode to the defaults, so a seed of two zero bytes and an
//! HTTP message simply feeds that message. [`seed`] writes programs.
//!
//! [`ws_server`] and [`ws_client`] read the same layout with a [`WsSetup`]
//! and [`WsOp`]s (the wire holds WebSocket frames, after an HTTP handshake
//! message when the setup asks for one); [`ws_inflate`] has a fixed header
//! of its own (see its docs), and so do the framing targets [`lines`] and
//! [`sse`]: a configuration byte and a split pattern before the stream.

mod chunked;
mod client;
mod grpc;
mod grpc_call;
mod grpc_reflection;
mod grpc_timeout;
mod h2_connection;
mod h2_frame;
mod heads;
mod hpack;
mod jsonrpc;
mod lines;
mod mcp;
mod mcp_client;
mod mcp_http;
mod mcp_http_client;
mod mcp_legacy;
mod mcp_stdio;
mod mcp_ws;
mod ops;
pub mod seed;
mod server;
mod sse;
mod stream;
mod ws;
mod ws_connection;
mod ws_inflate;

pub use chunked::chunked;
pub use client::{ClientOp, ClientSetup, MethodChoice, TargetChoice, client_connection};
pub use grpc::{grpc_message, grpc_message_seeds, grpc_web_text, grpc_web_text_seeds};
pub use grpc_call::grpc_call;
pub use grpc_reflection::{grpc_reflection, grpc_reflection_seeds};
pub use grpc_timeout::{grpc_timeout, grpc_timeout_seeds, reference_timeout};
pub use h2_connection::{H2Op, H2Setup, h2_client, h2_connection_seeds, h2_server};
pub use h2_frame::{h2_frame, h2_frame_seeds};
pub use heads::{request_head, response_head};
pub use hpack::{hpack_decode, hpack_seeds};
pub use jsonrpc::jsonrpc;
pub use lines::lines;
pub use mcp::{ClientMsg, IdChoice};
pub use mcp_client::mcp_client;
pub use mcp_http::{HttpOp, HttpSetup, mcp_http, mcp_http_seeds};
pub use mcp_http_client::mcp_http_client;
pub use mcp_legacy::{mcp_legacy, mcp_legacy_seeds};
pub use mcp_stdio::{StdioOp, StdioSetup, mcp_stdio, mcp_stdio_seeds};
pub use mcp_ws::{McpWsOp, McpWsSetup, mcp_ws, mcp_ws_seeds};
pub use ops::{BodyChoice, LimitsChoice, SizeChoice, Split, TimeoutChoice};
pub use server::{ServerOp, ServerSetup, StatusChoice, server_connection};
pub use sse::sse;
pub use ws::ws_frame;
pub use ws_connection::{
    CloseChoice, DeflateChoice, KeepAliveChoice, LISTED_CODES, WS_CLIENT_URI, WS_PROTOCOLS, WsOp,
    WsSetup, ws_client, ws_client_accept, ws_server,
};
pub use ws_inflate::ws_inflate;

/// A fuzz body: one raw input in, a panic out if it found a bug.
pub type Target = fn(&[u8]);

/// The names of the fuzz targets, each with its function: the corpus of
/// `NAME` lives in `fuzz/corpus/NAME/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("request_head", request_head),
    ("response_head", response_head),
    ("chunked", chunked),
    ("server_connection", server_connection),
    ("client_connection", client_connection),
    ("ws_frame", ws_frame),
    ("ws_server", ws_server),
    ("ws_client", ws_client),
    ("ws_inflate", ws_inflate),
    ("hpack_decode", hpack_decode),
    ("h2_server", h2_server),
    ("h2_client", h2_client),
    ("jsonrpc", jsonrpc),
    ("lines", lines),
    ("sse", sse),
    ("h2_frame", h2_frame),
    ("grpc_message", grpc_message),
    ("grpc_web_text", grpc_web_text),
    ("grpc_timeout", grpc_timeout),
    ("grpc_reflection", grpc_reflection),
    ("mcp_stdio", mcp_stdio),
    ("mcp_http", mcp_http),
    ("mcp_ws", mcp_ws),
    ("mcp_legacy", mcp_legacy),
    ("mcp_client", mcp_client),
    ("mcp_http_client", mcp_http_client),
    ("grpc_call", grpc_call),
];
