//! gRPC-Web as a blocking [`Channel`](super::Channel)'s transport
//! ([`ChannelBuilder::grpc_web`](super::ChannelBuilder::grpc_web)): each
//! call is one HTTP/1.1 POST on this crate's pooled
//! [`Client`](crate::Client), its body the framed request (base64 in text
//! mode), answered by framed messages and the trailers frame, which the
//! channel reads with the same [`Streaming`](super::Streaming) as over
//! h2. The request and response rules are `wirestate_grpc`'s
//! ([`CallOptions::web_request`](wirestate_grpc::CallOptions::web_request),
//! [`MessageReader`](wirestate_grpc::MessageReader)); this only moves the
//! bytes, with the call's deadline bounding every wait.

use super::streaming::deadline_exceeded;
use crate::{BlockingBody, Client, ClientConfig, Error, RequestBody};
use bytes::Bytes;
use http::uri::Authority;
use http::{Request, Response, request};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use wirestate_grpc::call::route_to;
use wirestate_grpc::{Code, Status, WebMode};

/// The HTTP/1.1 side of a gRPC-Web channel.
pub(crate) struct WebTransport {
    client: Client,
    /// `host:port` connected to.
    addr: String,
    mode: WebMode,
    /// `addr` as the requests' URI authority, which the pool dials.
    authority: Authority,
}

impl WebTransport {
    /// Calls to `addr` (`host:port`) in `mode`, with `config`'s
    /// connection settings.
    ///
    /// # Errors
    ///
    /// INVALID_ARGUMENT if `addr` is not a `host:port`.
    pub(crate) fn new(addr: &str, mode: WebMode, mut config: ClientConfig) -> Result<Self, Status> {
        // Deadlines are per call (grpc-timeout, bounding every wait), not
        // per connection.
        config.request_timeout = None;
        config.io_timeout = None;
        let authority = wirestate_grpc::channel::parse_authority(addr)?;
        Ok(Self {
            client: Client::new(config),
            addr: addr.to_owned(),
            mode,
            authority,
        })
    }

    /// The framing of the channel's calls.
    pub(crate) fn mode(&self) -> WebMode {
        self.mode
    }

    /// Opens a connection and lets it go, for a channel that reports an
    /// unreachable server when it is built (the pool dials again per call
    /// as needed).
    pub(crate) fn probe(&self, timeout: Duration) -> Result<(), Status> {
        let unavailable = |e: &dyn std::fmt::Display| {
            Status::new(
                Code::Unavailable,
                format!("connecting to {}: {e}", self.addr),
            )
        };
        let addrs = std::net::ToSocketAddrs::to_socket_addrs(self.addr.as_str())
            .map_err(|e| unavailable(&e))?;
        let mut last: Option<std::io::Error> = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, timeout) {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) => unavailable(&e),
            None => unavailable(&"no address"),
        })
    }

    /// One attempt: the request head from
    /// [`CallOptions::web_request`](wirestate_grpc::CallOptions::web_request)
    /// and its body, sent to the channel's address, every wait bounded by
    /// `deadline`. On failure, the status and whether the request never
    /// left.
    pub(crate) fn send(
        &self,
        mut parts: request::Parts,
        body: Bytes,
        deadline: Option<Instant>,
    ) -> Result<Response<BlockingBody>, (Status, bool)> {
        route_to(&mut parts, &self.authority);
        let request = Request::from_parts(parts, RequestBody::full(body));
        self.client
            .request_until(request, deadline)
            .map_err(|e| match e {
                Error::Timeout => (deadline_exceeded(), false),
                e => {
                    let unsent = e.is_unsent();
                    (Status::new(Code::Unavailable, e.to_string()), unsent)
                }
            })
    }
}
