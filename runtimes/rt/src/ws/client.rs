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
/// `wss://` needs TLS: `connect_with_tls` (feature `tls`), or open a TLS
/// stream yourself and use [`client`].
pub async fn connect<R: Runtime>(
    rt: R,
    url: &str,
    config: Config,
) -> Result<(WebSocket, WsConnection<R, R::Io>), Error> {
    let target = Target::parse(url)?;
    if target.secure {
        return Err(Error::InvalidUrl(format!(
            "{url}: wss:// needs TLS (ws::connect_with_tls, or ws::client over a TLS stream)"
        )));
    }
    let deadline = rt.now() + config.handshake_timeout;
    let io = dial(&rt, &target, deadline).await?;
    client(rt, io, target.uri, config).await
}

/// [`connect`] for `ws://` and `wss://` URLs alike: `wss://` runs TLS with
/// `tls` (offer ALPN `http/1.1` or nothing: the upgrade is HTTP/1.1) and
/// checks the certificate against the URL's host. The TLS handshake counts
/// against [`Config::handshake_timeout`] too.
#[cfg(feature = "tls")]
pub async fn connect_with_tls<R: Runtime>(
    rt: R,
    url: &str,
    config: Config,
    tls: std::sync::Arc<rustls::ClientConfig>,
) -> Result<(WebSocket, WsConnection<R, crate::tls::MaybeTls<R::Io>>), Error> {
    use crate::tls::{MaybeTls, TlsIo, server_name};
    let target = Target::parse(url)?;
    let deadline = rt.now() + config.handshake_timeout;
    let io = dial(&rt, &target, deadline).await?;
    let io = if target.secure {
        let name = server_name(&target.host).map_err(|e| Error::InvalidUrl(e.to_string()))?;
        let mut io =
            TlsIo::client(io, tls, name).map_err(|e| Error::Connect(std::io::Error::other(e)))?;
        match crate::timeout(&rt, deadline, io.handshake()).await {
            Some(Ok(())) => MaybeTls::Tls(Box::new(io)),
            Some(Err(e)) => return Err(Error::Connect(e)),
            None => return Err(Error::Timeout),
        }
    } else {
        MaybeTls::Plain(io)
    };
    client(rt, io, target.uri, config).await
}

/// Where a `ws://` or `wss://` URL points.
struct Target {
    uri: Uri,
    /// Without IPv6 brackets.
    host: String,
    port: u16,
    secure: bool,
}

impl Target {
    fn parse(url: &str) -> Result<Self, Error> {
        let uri: Uri = url
            .parse()
            .map_err(|e| Error::InvalidUrl(format!("{url}: {e}")))?;
        let secure = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("ws") => false,
            Some(s) if s.eq_ignore_ascii_case("wss") => true,
            _ => {
                return Err(Error::InvalidUrl(format!(
                    "{url}: expected ws:// or wss://"
                )));
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| Error::InvalidUrl(format!("{url}: no host")))?;
        // IPv6 literals come bracketed in URLs.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = wirestate_http1::policy::port(&uri, if secure { 443 } else { 80 })
            .map_err(|e| Error::InvalidUrl(format!("{url}: {e}")))?;
        Ok(Self {
            uri,
            host,
            port,
            secure,
        })
    }
}

/// A TCP connection to the target's first address that answers, by
/// `deadline` (resolution counts against it, like the connect).
async fn dial<R: Runtime>(rt: &R, target: &Target, deadline: Instant) -> Result<R::Io, Error> {
    let addrs = match crate::timeout(rt, deadline, rt.resolve(&target.host, target.port)).await {
        Some(addrs) => addrs.map_err(Error::Connect)?,
        None => return Err(Error::Timeout),
    };
    let mut last = Error::InvalidUrl(format!("{} resolved to no address", target.host));
    for addr in addrs {
        match crate::timeout(rt, deadline, rt.connect(addr)).await {
            Some(Ok(io)) => return Ok(io),
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
