//! The client side: connect, handshake over HTTP/1.1, then frames.

use super::conn::{WsApp, WsConnection};
use super::{Config, Error, FastrandEntropy, WebSocket, channels};
use crate::{App, Driver, Io, Runtime};
use http::Uri;
use std::task::Context;
use std::time::Instant;
use wirestate_http1::{BodySize, ClientConnection, ClientEvent};
use wirestate_machine::Machine;
use wirestate_ws::{ClientHandshake, Connection};

/// Connects to a `ws://` URL: TCP via [`Runtime::connect`], the opening
/// handshake (bounded by [`Config::handshake_timeout`]), then a
/// [`WebSocket`] and the connection future to spawn.
///
/// `wss://` needs a TLS stream: open one and use [`client`].
pub async fn connect<R: Runtime>(
    rt: R,
    url: &str,
    config: Config,
) -> Result<(WebSocket, WsConnection<R, R::Io>), Error> {
    let uri: Uri = url
        .parse()
        .map_err(|e| Error::InvalidUrl(format!("{url}: {e}")))?;
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("ws") => {}
        Some(s) if s.eq_ignore_ascii_case("wss") => {
            return Err(Error::InvalidUrl(format!(
                "{url}: wss:// needs a TLS stream (use ws::client over one)"
            )));
        }
        _ => return Err(Error::InvalidUrl(format!("{url}: expected ws://"))),
    }
    let host = uri
        .host()
        .ok_or_else(|| Error::InvalidUrl(format!("{url}: no host")))?;
    // IPv6 literals come bracketed in URLs.
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = wirestate_http1::policy::port(&uri, 80)
        .map_err(|e| Error::InvalidUrl(format!("{url}: {e}")))?;
    // Resolution counts against the handshake timeout, like the connect.
    let deadline = rt.now() + config.handshake_timeout;
    let addrs = match crate::timeout(&rt, deadline, rt.resolve(host, port)).await {
        Some(addrs) => addrs.map_err(Error::Connect)?,
        None => return Err(Error::Timeout),
    };
    let mut last = Error::InvalidUrl(format!("{host} resolved to no address"));
    for addr in addrs {
        match crate::timeout(&rt, deadline, rt.connect(addr)).await {
            Some(Ok(io)) => return client(rt, io, uri, config).await,
            Some(Err(e)) => last = Error::Connect(e),
            None => return Err(Error::Timeout),
        }
    }
    Err(last)
}

/// Runs the opening handshake for `uri` over a connected stream (plain TCP,
/// TLS, anything [`Io`]), bounded by [`Config::handshake_timeout`], and
/// returns the [`WebSocket`] and the connection future to spawn.
pub async fn client<R: Runtime, I: Io>(
    rt: R,
    io: I,
    uri: Uri,
    config: Config,
) -> Result<(WebSocket, WsConnection<R, I>), Error> {
    let mut entropy = FastrandEntropy(fastrand::Rng::new());
    let mut handshake = ClientHandshake::new(uri).protocols(config.protocols.iter().cloned());
    if let Some(deflate) = &config.deflate {
        handshake = handshake.deflate(deflate.clone());
    }
    for (name, value) in &config.headers {
        handshake = handshake.header(name.clone(), value.clone());
    }
    let (request, pending) = handshake.request(&mut entropy)?;
    let (parts, ()) = request.into_parts();

    let mut http = ClientConnection::new(Default::default(), rt.now());
    http.send_request(parts, BodySize::Empty)
        .map_err(Error::Http)?;
    let mut driver = Driver::new(rt.clone(), http, io, HandshakeApp::default());
    let deadline = rt.now() + config.handshake_timeout;
    // The driver is `Unpin`: await it by reference and keep it for its parts.
    match crate::timeout(&rt, deadline, &mut driver).await {
        None => return Err(Error::Timeout),
        Some(Err(e)) => return Err(Error::Io(e)),
        Some(Ok(())) => {}
    }
    let (_, io, app, _) = driver.into_parts();
    let Some(head) = app.response else {
        return Err(app.error.map_or(Error::Aborted, Error::Http));
    };
    let negotiated = pending.verify(&head)?;
    let Some(leftover) = app.leftover else {
        return Err(Error::Aborted);
    };
    let mut machine = Connection::client(config.connection.clone(), entropy);
    if let Some(params) = &negotiated.deflate {
        machine = machine.with_deflate(params);
    }
    let (socket, chans) = channels(&config, negotiated.subprotocol);
    let app = WsApp::new(chans, None, None);
    let close_timeout = config.connection.close_timeout;
    Ok((
        socket,
        WsConnection::new(rt, machine, io, app, &leftover, close_timeout),
    ))
}

/// Collects the handshake's response head and the bytes after it; the HTTP
/// machine closes itself once the connection is upgraded.
#[derive(Default)]
struct HandshakeApp {
    response: Option<http::response::Parts>,
    leftover: Option<bytes::Bytes>,
    error: Option<wirestate_http1::Error>,
}

impl App<ClientConnection> for HandshakeApp {
    fn poll(&mut self, _cx: &mut Context<'_>, m: &mut ClientConnection, _now: Instant) -> bool {
        let mut progress = false;
        while let Some(ev) = m.poll_event() {
            progress = true;
            match ev {
                ClientEvent::Response(r) => {
                    if r.head.status != http::StatusCode::SWITCHING_PROTOCOLS {
                        // Refused: the status is the answer; the body is not needed.
                        m.close();
                    }
                    self.response = Some(r.head);
                }
                ClientEvent::Upgraded { leftover, .. } => self.leftover = Some(leftover),
                ClientEvent::Error(e) => {
                    self.error = Some(e);
                    m.close();
                }
                _ => {}
            }
        }
        progress
    }
}
