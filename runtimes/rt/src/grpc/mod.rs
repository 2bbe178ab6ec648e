//! gRPC on the async layer, over the sans-IO pieces of `wirestate-grpc`:
//!
//! * [`Server`]: a router from `/package.Service/Method` to typed handlers
//!   of the four call kinds, mountable as an HTTP [`Handler`](crate::http1::Handler)
//!   — so the same port serves gRPC over h2c, gRPC-Web over HTTP/1.1 and
//!   plain HTTP. Deadlines (`grpc-timeout`) run on the runtime's timer,
//!   a client's cancellation (RST_STREAM, a closed connection) drops the
//!   handler's future, gzip is negotiated, metadata goes both ways, and an
//!   unknown method is answered UNIMPLEMENTED (trailers-only).
//! * [`Channel`]: a client over one HTTP/2 connection
//!   ([`h2::SendRequest`](crate::h2::SendRequest)): the four call kinds,
//!   deadlines, metadata, compression, cancellation when a call is dropped;
//!   retries by the gRPC retry policy ([`Channel::with_retry`]), and with
//!   [`Channel::builder`] its own connections, reopened when one ends, with
//!   keep-alive pings that back off on GOAWAY `too_many_pings`.
//!   [`ChannelBuilder::grpc_web`] makes such a channel speak gRPC-Web
//!   ([`WebMode::Binary`] or [`WebMode::Text`]) over the runtime's pooled
//!   HTTP/1.1 client instead — to tonic-web, Envoy or our own server —
//!   with the same calls and generated stubs: unary and server streaming
//!   with deadlines, metadata, compression and cancellation on drop;
//!   client- and bidi-streaming calls fail at once with UNIMPLEMENTED.
//!
//! Messages are prost types; the framing, status, metadata and timeout
//! rules come from `wirestate-grpc`.

// `Status` is the error of every gRPC API (as in tonic and grpc-go): a call's
// outcome, with its metadata, not a rare failure worth boxing.
#![allow(clippy::result_large_err)]

mod client;
mod connect;
mod cors;
mod server;
mod streaming;
mod web;

pub use crate::Runtime;
pub use client::{
    CallOptions, Channel, ClientStreamingCall, RequestSender, ResponseReceiver, StreamingCall,
};
pub use connect::ChannelBuilder;
pub use cors::Cors;
pub use server::{
    AsyncInterceptor, Interceptor, Request, Response, ResponseSink, Server, UnaryCall, is_grpc,
};
pub use streaming::Streaming;
pub use wirestate_grpc::backoff::{BackoffConfig, ConnectivityState};
pub use wirestate_grpc::cors::{AllowedOrigins, CorsPolicy};
pub use wirestate_grpc::hedging::HedgingPolicy;
pub use wirestate_grpc::retry::{RetryConfig, RetryPolicy, RetryThrottle};
pub use wirestate_grpc::{ChannelConfig, Code, Encoding, Metadata, RequestHead, Status, WebMode};
