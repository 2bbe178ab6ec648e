//! Async HTTP/2 on the generic driver:
//!
//! * the server side of the handler server (the same
//!   [`crate::http1::Handler`] as HTTP/1.1; one listening port
//!   serves both, told apart by the first bytes — see
//!   [`ServerConfig::http2`](crate::http1::ServerConfig::http2));
//! * a client connection ([`handshake`], or [`start`] with the driver
//!   spawned, or `connect_tls` over TLS with the `tls` feature): many requests at once on one
//!   connection, request and response bodies streamed with flow control.

mod client;
mod send;
mod server;

pub use client::{ClientApp, SendRequest, handshake};
pub use server::H2ServerApp;

use crate::Body;
use crate::body::BodySender;
use crate::http1::{Handler, ServerConfig};
use crate::{Driver, Io, Runtime, Shutdown};
use wirestate_h2::connection::Connection;
use wirestate_http1::BodyKind;
use wirestate_machine::Machine;

/// [`handshake`] with the connection's driver spawned on `rt`: the handle,
/// for a connection that runs in the background until it ends.
pub fn start<R: Runtime, I: Io>(
    rt: &R,
    io: I,
    config: wirestate_h2::connection::Config,
) -> SendRequest {
    let (send, driver) = handshake(rt.clone(), io, config);
    rt.spawn(Box::pin(async move {
        if let Err(e) = driver.await {
            tracing::debug!(error = %e, "http/2 client connection ended with an error");
        }
    }));
    send
}

/// HTTP/2 over TLS to `addr` (feature `tls`): TCP, the TLS handshake with
/// `tls` checking the server's certificate against `name`, ALPN `h2`
/// required, then [`start`]. Bound it with [`crate::timeout`]: it has no
/// timeout of its own.
///
/// # Errors
///
/// The connection or the handshake failed; `InvalidData` when the server
/// did not agree to HTTP/2 (ALPN `h2`).
#[cfg(feature = "tls")]
pub async fn connect_tls<R: Runtime>(
    rt: &R,
    addr: std::net::SocketAddr,
    tls: std::sync::Arc<rustls::ClientConfig>,
    name: rustls::pki_types::ServerName<'static>,
    config: wirestate_h2::connection::Config,
) -> std::io::Result<SendRequest> {
    let io = crate::tls::connect(rt, addr, tls, name).await?;
    if io.alpn_protocol() != Some(crate::tls::ALPN_H2) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the server did not agree to HTTP/2 over TLS (ALPN h2)",
        ));
    }
    Ok(start(rt, io, config))
}

/// An HTTP/2 server connection's driver, fed `first` (bytes already read,
/// starting with the client preface).
pub(crate) fn server_driver<R: Runtime, I: Io, H: Handler>(
    rt: R,
    io: I,
    handler: H,
    config: &ServerConfig,
    shutdown: Shutdown,
    first: &[u8],
) -> Driver<R, Connection, I, H2ServerApp<H>> {
    let now = rt.now();
    let mut machine = Connection::server(config.h2.clone());
    machine.start(now);
    if !first.is_empty() {
        // An error is also reported as an event, which the app handles.
        let _ = machine.handle_input(now, first);
    }
    Driver::new(rt, machine, io, H2ServerApp::new(handler, shutdown))
}

/// The body channel of a received message whose body is still to come,
/// sized by its content-length when it has one (the machine checks the
/// DATA it receives against it): the same for requests (server) and
/// responses (client). `expects_continue`: the peer holds the body back
/// until a 100 (Continue) (a server's request with `Expect: 100-continue`).
pub(crate) fn body_channel(
    headers: &http::HeaderMap,
    expects_continue: bool,
) -> (BodySender, Body) {
    let kind = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(BodyKind::Chunked, BodyKind::Length);
    Body::channel(kind, expects_continue)
}
