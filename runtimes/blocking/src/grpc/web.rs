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
//!
//! Over TLS (`ChannelBuilder::tls`, feature `tls`) the
//! requests' URI names the server as its certificate must (`https://`,
//! the given server name), because the pool checks the certificate
//! against the URI's host; the pool is pinned to the channel's address,
//! so it still connects there.

use super::streaming::deadline_exceeded;
use crate::{BlockingBody, Client, ClientConfig, Error, RequestBody};
use bytes::Bytes;
use http::uri::Authority;
use http::{Request, Response, request};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use wirestate_grpc::call::route_to;
use wirestate_grpc::{Code, Status, WebMode};

/// A gRPC-Web channel's TLS: the client config (its ALPN set to
/// `http/1.1`) and the name the server's certificate must carry.
#[cfg(feature = "tls")]
pub(crate) struct WebTls {
    pub(crate) config: std::sync::Arc<rustls::ClientConfig>,
    pub(crate) name: rustls::pki_types::ServerName<'static>,
}

/// The HTTP/1.1 side of a gRPC-Web channel.
pub(crate) struct WebTransport {
    client: Client,
    /// `host:port` connected to.
    addr: String,
    mode: WebMode,
    /// The requests' URI authority: `addr`, or over TLS the server name
    /// and `addr`'s port.
    authority: Authority,
    #[cfg(feature = "tls")]
    tls: Option<WebTls>,
}

impl WebTransport {
    /// Calls to `addr` (`host:port`) in `mode`, with `config`'s
    /// connection settings.
    ///
    /// # Errors
    ///
    /// INVALID_ARGUMENT if `addr` is not a `host:port`.
    pub(crate) fn new(
        addr: &str,
        mode: WebMode,
        mut config: ClientConfig,
        #[cfg(feature = "tls")] tls: Option<WebTls>,
    ) -> Result<Self, Status> {
        // Deadlines are per call (grpc-timeout, bounding every wait), not
        // per connection.
        config.request_timeout = None;
        config.io_timeout = None;
        #[allow(unused_mut)]
        let mut authority = wirestate_grpc::channel::parse_authority(addr)?;
        #[allow(unused_mut)]
        let mut pinned = None;
        #[cfg(feature = "tls")]
        if let Some(tls) = &tls {
            let port = authority
                .port_u16()
                .ok_or_else(|| Status::new(Code::InvalidArgument, format!("{addr}: no port")))?;
            let named = crate::tls::server_authority(&tls.name, port);
            authority = wirestate_grpc::channel::parse_authority(&named)?;
            config.tls = Some(tls.config.clone());
            pinned = Some(addr.to_owned());
        }
        Ok(Self {
            client: Client::with_pinned(config, pinned),
            addr: addr.to_owned(),
            mode,
            authority,
            #[cfg(feature = "tls")]
            tls,
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
        let deadline = Instant::now() + timeout;
        let addrs = std::net::ToSocketAddrs::to_socket_addrs(self.addr.as_str())
            .map_err(|e| unavailable(&e))?;
        let mut last: Option<std::io::Error> = None;
        for a in addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                last = Some(std::io::ErrorKind::TimedOut.into());
                break;
            }
            match TcpStream::connect_timeout(&a, left) {
                Ok(tcp) => return self.probe_tls(tcp, deadline).map_err(|e| unavailable(&e)),
                Err(e) => last = Some(e),
            }
        }
        Err(match last {
            Some(e) => unavailable(&e),
            None => unavailable(&"no address"),
        })
    }

    /// Over TLS, the handshake on the probe's connection, so that a
    /// certificate the channel refuses is reported when it is built.
    fn probe_tls(&self, tcp: TcpStream, deadline: Instant) -> std::io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let mut stream =
                crate::tls::TlsStream::client(tcp, tls.config.clone(), tls.name.clone())
                    .map_err(std::io::Error::other)?;
            stream.handshake(Some(deadline))?;
            // Leave with close_notify: a bare close after the handshake is
            // a truncation to the server, an error it may log for every
            // channel built.
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = crate::Transport::set_write_timeout(
                &stream,
                Some(left.max(Duration::from_millis(1))),
            );
            let _ = crate::Transport::shutdown_write(&mut stream);
            return Ok(());
        }
        let _ = (tcp, deadline);
        Ok(())
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
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            // The pool speaks TLS to `https` URIs, and the server learns
            // the call came over TLS.
            wirestate_grpc::call::use_https(&mut parts.uri);
        }
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
