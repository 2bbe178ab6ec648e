//! gRPC-Web as a [`Channel`](super::Channel)'s transport
//! ([`ChannelBuilder::grpc_web`](super::ChannelBuilder::grpc_web)): each
//! call is one HTTP/1.1 POST on the runtime's pooled
//! [`http1::Client`](crate::http1::Client), its body the framed request
//! (base64 in text mode), answered by framed messages and the trailers
//! frame, which the channel reads with the same [`Streaming`](super::Streaming)
//! as over h2. The request and response rules are `wirestate_grpc`'s
//! ([`CallOptions::web_request`](wirestate_grpc::CallOptions::web_request),
//! [`MessageReader`](wirestate_grpc::MessageReader)); this only moves the
//! bytes.

use super::client::unavailable;
use crate::http1::{Client, ClientConfig};
use crate::{Body, Runtime};
use bytes::Bytes;
use http::uri::Authority;
use http::{Request, Response, request};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use wirestate_grpc::call::route_to;
use wirestate_grpc::{Code, Status, WebMode};

/// A future of the web transport, borrowing it.
type Sending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a gRPC-Web channel needs of its transport, without naming the
/// runtime (the channel's type does not require `R: Runtime`; the pooled
/// client does).
pub(crate) trait WebSend: Send + Sync {
    /// The framing of the channel's calls.
    fn mode(&self) -> WebMode;
    /// Opens a connection and lets it go, for a channel that reports an
    /// unreachable server when it is built (the pool dials again per call
    /// as needed).
    fn probe(&self) -> Sending<'_, Result<(), Status>>;
    /// One attempt: the request head from
    /// [`CallOptions::web_request`](wirestate_grpc::CallOptions::web_request)
    /// and its body, sent to the channel's address. On failure, the
    /// status and whether the request never left.
    fn send(
        &self,
        parts: request::Parts,
        body: Bytes,
    ) -> Sending<'_, Result<Response<Body>, (Status, bool)>>;
}

/// The HTTP/1.1 side of a gRPC-Web channel.
pub(crate) struct WebTransport<R: Runtime> {
    rt: R,
    client: Client<R>,
    addr: SocketAddr,
    mode: WebMode,
    /// `addr` as the requests' URI authority, which the pool dials.
    authority: Authority,
}

impl<R: Runtime> WebTransport<R> {
    /// Calls to `addr` in `mode`.
    pub(crate) fn new(rt: R, addr: SocketAddr, mode: WebMode) -> Result<Self, Status> {
        // Deadlines are per call (grpc-timeout and the channel's timer),
        // not per connection.
        let config = ClientConfig {
            request_timeout: None,
            ..Default::default()
        };
        let authority = wirestate_grpc::channel::parse_authority(&addr.to_string())?;
        Ok(Self {
            client: Client::new(rt.clone(), config),
            rt,
            addr,
            mode,
            authority,
        })
    }

    async fn send_now(
        &self,
        mut parts: request::Parts,
        body: Bytes,
    ) -> Result<Response<Body>, (Status, bool)> {
        route_to(&mut parts, &self.authority);
        let request = Request::from_parts(parts, Body::full(body));
        self.client
            .request(request)
            .await
            .map_err(|e| (unavailable(&e), e.is_unsent()))
    }
}

impl<R: Runtime> WebSend for WebTransport<R> {
    fn mode(&self) -> WebMode {
        self.mode
    }

    fn probe(&self) -> Sending<'_, Result<(), Status>> {
        Box::pin(async move {
            self.rt.connect(self.addr).await.map(drop).map_err(|e| {
                Status::new(
                    Code::Unavailable,
                    format!("connecting to {}: {e}", self.addr),
                )
            })
        })
    }

    fn send(
        &self,
        parts: request::Parts,
        body: Bytes,
    ) -> Sending<'_, Result<Response<Body>, (Status, bool)>> {
        Box::pin(self.send_now(parts, body))
    }
}
