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
//!
//! Over TLS (`ChannelBuilder::tls`, feature `tls`) the
//! requests' URI names the server as its certificate must (`https://`,
//! the given server name), because the pool checks the certificate
//! against the URI's host; the runtime the pool dials through resolves
//! every name to the channel's address, so it still connects there.

use super::client::unavailable;
use crate::http1::{Client, ClientConfig};
use crate::{Body, BoxFuture, Runtime, Sleep};
use bytes::Bytes;
use http::uri::Authority;
use http::{Request, Response, request};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::{Duration, Instant};
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

/// A gRPC-Web channel's TLS: the client config (its ALPN set to
/// `http/1.1`) and the name the server's certificate must carry.
#[cfg(feature = "tls")]
pub(crate) struct WebTls {
    pub(crate) config: std::sync::Arc<rustls::ClientConfig>,
    pub(crate) name: rustls::pki_types::ServerName<'static>,
}

/// `R`, whose resolver answers every name with one address: the pool of a
/// gRPC-Web channel dials the channel's address whatever host its
/// requests name (over TLS, the server name the certificate is checked
/// against).
#[derive(Clone)]
struct Pinned<R> {
    rt: R,
    addr: SocketAddr,
}

impl<R: Runtime> Runtime for Pinned<R> {
    type Io = R::Io;
    fn now(&self) -> Instant {
        self.rt.now()
    }
    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        self.rt.sleep_until(deadline)
    }
    fn spawn(&self, future: BoxFuture<()>) {
        self.rt.spawn(future);
    }
    fn connect(&self, addr: SocketAddr) -> BoxFuture<io::Result<Self::Io>> {
        self.rt.connect(addr)
    }
    fn resolve(&self, _: &str, _: u16) -> BoxFuture<io::Result<Vec<SocketAddr>>> {
        let addr = self.addr;
        Box::pin(async move { Ok(vec![addr]) })
    }
}

/// The HTTP/1.1 side of a gRPC-Web channel.
pub(crate) struct WebTransport<R: Runtime> {
    rt: R,
    client: Client<Pinned<R>>,
    addr: SocketAddr,
    mode: WebMode,
    /// The requests' URI authority: `addr`, or over TLS the server name
    /// and `addr`'s port.
    authority: Authority,
    /// Bounds the probe's connect (and handshake); the pool's connects
    /// too.
    connect_timeout: Duration,
    #[cfg(feature = "tls")]
    tls: Option<WebTls>,
}

impl<R: Runtime> WebTransport<R> {
    /// Calls to `addr` in `mode`, each connect bounded by
    /// `connect_timeout`; over TLS if `tls` is set.
    pub(crate) fn new(
        rt: R,
        addr: SocketAddr,
        mode: WebMode,
        connect_timeout: Duration,
        #[cfg(feature = "tls")] tls: Option<WebTls>,
    ) -> Result<Self, Status> {
        // Deadlines are per call (grpc-timeout and the channel's timer),
        // not per connection.
        #[allow(unused_mut)]
        let mut config = ClientConfig {
            request_timeout: None,
            connect_timeout,
            ..Default::default()
        };
        #[allow(unused_mut)]
        let mut authority = addr.to_string();
        #[cfg(feature = "tls")]
        if let Some(tls) = &tls {
            config.tls = Some(tls.config.clone());
            authority = crate::tls::server_authority(&tls.name, addr.port());
        }
        let authority = wirestate_grpc::channel::parse_authority(&authority)?;
        let pinned = Pinned {
            rt: rt.clone(),
            addr,
        };
        Ok(Self {
            client: Client::new(pinned, config),
            rt,
            addr,
            mode,
            authority,
            connect_timeout,
            #[cfg(feature = "tls")]
            tls,
        })
    }

    async fn send_now(
        &self,
        mut parts: request::Parts,
        body: Bytes,
    ) -> Result<Response<Body>, (Status, bool)> {
        route_to(&mut parts, &self.authority);
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            // The pool speaks TLS to `https` URIs, and the server learns
            // the call came over TLS.
            wirestate_grpc::call::use_https(&mut parts.uri);
        }
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
            let limit = self.rt.now() + self.connect_timeout;
            let connected = crate::timeout(&self.rt, limit, self.probe_once())
                .await
                .unwrap_or_else(|| Err(io::ErrorKind::TimedOut.into()));
            connected.map_err(|e| {
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

impl<R: Runtime> WebTransport<R> {
    /// One connection, let go at once; over TLS its handshake too, so a
    /// certificate the channel refuses is reported when it is built.
    async fn probe_once(&self) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let (config, name) = (tls.config.clone(), tls.name.clone());
            let mut io = crate::tls::connect(&self.rt, self.addr, config, name).await?;
            // Leave with close_notify: a bare close after the handshake is
            // a truncation to the server, an error it may log for every
            // channel built. Its outcome does not matter.
            let _ = std::future::poll_fn(|cx| crate::Io::poll_shutdown(&mut io, cx)).await;
            return Ok(());
        }
        self.rt.connect(self.addr).await.map(drop)
    }
}
