//! Sans-IO Model Context Protocol (MCP).
//!
//! * [`schema`]: serde types for the specification's messages, revisions
//!   2024-11-05 to 2025-11-25 and the stateless 2026-07-28, unknown
//!   members kept.
//! * [`ServerSession`]: the server side of both eras on a JSON-RPC
//!   [`Peer`](wirestate_jsonrpc::Peer): the `initialize` lifecycle and
//!   version negotiation, or — per request, when its `_meta` names the
//!   2026-07-28 revision — stateless service (`server/discover`,
//!   `subscriptions/listen`, input-required results, caching hints); a
//!   catalogue of tools, resources and prompts it lists itself
//!   (paginated), calls handed to the application as events,
//!   cancellation, progress, logging, subscriptions, and requests to the
//!   client.
//! * [`ClientSession`]: the client side of the same era: `initialize` and
//!   version negotiation, typed requests whose results come out as events,
//!   progress extending deadlines, cancellation, timeouts, and the
//!   server's requests (roots, sampling, elicitation) as events.
//! * [`StdioServer`]: that session over stdio (one JSON-RPC message per
//!   line) as a byte [`Machine`](wirestate_machine::Machine).
//! * [`HttpServer`]: the Streamable HTTP transport over `http` types —
//!   sessions by `Mcp-Session-Id`, JSON or SSE answers, a standalone GET
//!   stream, `Last-Event-ID` resumption, DELETE, and Origin/Host
//!   allow-lists against DNS rebinding (see [`http`]); stateless POSTs
//!   without a session, with the SEP-2243 header checks
//!   ([`http::stateless`]).
//! * `websocket` (feature `ws`): the WebSocket transport, one JSON-RPC
//!   message per text message, as a byte machine over `wirestate-ws`.
//!
//! Nothing here reads a clock, a socket or a random generator; time is the
//! `now` the caller passes.
//!
//! # Example
//!
//! ```
//! use std::time::Instant;
//! use serde_json::{json, Map};
//! use wirestate_mcp::schema::{CallToolResult, Implementation, Tool};
//! use wirestate_mcp::{Config, ServerEvent, ServerSession};
//!
//! let now = Instant::now();
//! let mut server = ServerSession::new(Config::new(Implementation::new("demo", "1.0")));
//! server.add_tool(Tool::new("hello", Map::new()));
//!
//! let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
//!     "protocolVersion": "2025-06-18", "capabilities": {},
//!     "clientInfo": {"name": "client", "version": "0"}}});
//! server.handle_message(now, init.to_string().as_bytes()).unwrap();
//! let answer: serde_json::Value = serde_json::from_slice(&server.poll_message().unwrap()).unwrap();
//! assert_eq!(answer["result"]["protocolVersion"], "2025-06-18");
//! assert_eq!(answer["result"]["capabilities"]["tools"], json!({"listChanged": true}));
//!
//! let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
//!     "params": {"name": "hello", "arguments": {}}});
//! server.handle_message(now, call.to_string().as_bytes()).unwrap();
//! while let Some(event) = server.poll_event() {
//!     if let ServerEvent::CallTool { id, params } = event {
//!         assert_eq!(params.name, "hello");
//!         server.respond_call_tool(&id, CallToolResult::text("hi")).unwrap();
//!     }
//! }
//! let answer = server.poll_message().unwrap();
//! assert_eq!(
//!     &answer[..],
//!     br#"{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"hi"}]}}"#
//! );
//! ```
//!
//! # Errors
//!
//! [`Error`] sorts problems into the three kinds of
//! [`wirestate_machine::ErrorKind`]; [`Error::hint`] is the JSON-RPC code
//! the client was answered with.

#![forbid(unsafe_code)]

mod catalogue;
mod client;
mod error;
pub mod handler;
pub mod http;
pub mod schema;
mod server;
mod stdio;
#[cfg(feature = "ws")]
pub mod websocket;

pub use client::{
    ClientConfig, ClientEvent, ClientPhase, ClientResult, ClientSession, Era, Pagination,
};
pub use error::Error;
pub use http::{HttpConfig, HttpEvent, HttpServer};
pub use server::{Config, Phase, ServerEvent, ServerSession};
pub use stdio::{StdioConfig, StdioServer};
