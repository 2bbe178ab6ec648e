//! gRPC on blocking threads, over the sans-IO pieces of `wirestate-grpc`
//! and this crate's HTTP/2 client and server — no async runtime, no
//! `block_on`:
//!
//! * [`Server`]: a router from `/package.Service/Method` to plain
//!   functions of the four call kinds (streaming responses are
//!   iterators), an HTTP [`Handler`](crate::Handler) for the blocking
//!   [`Server`](crate::Server) — so one port serves gRPC over h2c,
//!   gRPC-Web over HTTP/1.1 and plain HTTP. Deadlines (`grpc-timeout`)
//!   bound reading requests and sending responses, gzip is negotiated,
//!   metadata goes both ways, an unknown method is answered UNIMPLEMENTED
//!   (trailers-only), and a client's cancellation is visible to handlers
//!   ([`Request::is_cancelled`], [`Streaming::is_aborted`]).
//! * [`Channel`]: a client over one HTTP/2 connection
//!   ([`h2::SendRequest`](crate::h2::SendRequest)), usable from many
//!   threads: the four call kinds, deadlines sent as `grpc-timeout` and
//!   enforced on every wait, metadata, compression, cancellation when a
//!   call is dropped; retries by the gRPC retry policy
//!   ([`Channel::with_retry`]), and with [`Channel::builder`] its own
//!   connections, reopened when one ends, with keep-alive pings that back
//!   off on GOAWAY `too_many_pings`. [`ChannelBuilder::grpc_web`] makes
//!   such a channel speak gRPC-Web ([`WebMode::Binary`] or
//!   [`WebMode::Text`]) over this crate's pooled HTTP/1.1
//!   [`Client`](crate::Client) instead — to tonic-web, Envoy or our own
//!   server — with the same calls and generated stubs: unary and server
//!   streaming with deadlines, metadata, compression and cancellation on
//!   drop; client- and bidi-streaming calls fail with UNIMPLEMENTED.
//!
//! Messages are prost types; the framing, status, metadata and timeout
//! rules come from `wirestate-grpc` (the same as the async layer's).
//!
//! ```
//! use std::time::Duration;
//! use wirestate_blocking::grpc::{CallOptions, Channel, Request, Response, Server, Status};
//! # #[derive(Clone, PartialEq, prost::Message)] struct Ping { #[prost(string, tag = "1")] text: String }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let grpc = Server::new().unary("/demo.Pinger/Ping", |req: Request<Ping>| {
//!     Ok::<_, Status>(Response::new(Ping { text: req.message.text.to_uppercase() }))
//! });
//! let server = wirestate_blocking::Server::bind("127.0.0.1:0", Default::default())?;
//! let addr = server.local_addr()?;
//! let handle = server.handle();
//! let thread = std::thread::spawn(move || server.serve(grpc));
//!
//! let channel = Channel::connect(&addr.to_string())?;
//! let opts = CallOptions::default().with_timeout(Duration::from_secs(5));
//! let pong = channel.unary::<_, Ping>("/demo.Pinger/Ping", &Ping { text: "hi".into() }, &opts)?;
//! assert_eq!(pong.message.text, "HI");
//!
//! drop(channel);
//! handle.shutdown();
//! thread.join().unwrap()?;
//! # Ok(())
//! # }
//! ```

// `Status` is the error of every gRPC API (as in tonic and grpc-go): a
// call's outcome, with its metadata, not a rare failure worth boxing.
#![allow(clippy::result_large_err)]

mod client;
mod connect;
mod cors;
mod server;
mod streaming;
mod web;

pub use client::{
    CallOptions, Channel, ClientStreamingCall, RequestSender, ResponseReceiver, StreamingCall,
};
pub use connect::ChannelBuilder;
pub use cors::Cors;
pub use server::{Interceptor, Request, Response, ResponseCompression, Responses, Server, is_grpc};
pub use streaming::Streaming;
pub use wirestate_grpc::backoff::{BackoffConfig, ConnectivityState};
pub use wirestate_grpc::cors::{AllowedOrigins, CorsPolicy};
pub use wirestate_grpc::hedging::HedgingPolicy;
pub use wirestate_grpc::retry::{RetryConfig, RetryPolicy, RetryThrottle};
pub use wirestate_grpc::{ChannelConfig, Code, Encoding, Metadata, RequestHead, Status, WebMode};
