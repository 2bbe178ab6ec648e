//! Async HTTP/2 on the generic driver:
//!
//! * the server side of the handler server (the same
//!   [`crate::http1::Handler`] as HTTP/1.1; one listening port
//!   serves both, told apart by the first bytes — see
//!   [`ServerConfig::http2`](crate::http1::ServerConfig::http2));
//! * a client connection ([`handshake`]): many requests at once on one
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
/// responses (client).
pub(crate) fn body_channel(headers: &http::HeaderMap) -> (BodySender, Body) {
    let kind = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(BodyKind::Chunked, BodyKind::Length);
    Body::channel(kind, false)
}
