//! The server side: answering the handshake from an HTTP handler.

use super::conn::{WsApp, WsConnection};
use super::{Config, WebSocket, channels};
use crate::{Body, BoxFuture, Io, Runtime, Shutdown};
use http::{Request, Response};
use std::future::Future;
use std::sync::{Arc, Mutex};
use wirestate_ws::{Connection, ServerHandshake};

type OnUpgrade = Box<dyn FnOnce(WebSocket) -> BoxFuture<()> + Send>;

struct Upgrade {
    machine: Connection,
    config: Config,
    protocol: Option<String>,
    on_upgrade: OnUpgrade,
}

/// The accepted handshake, riding in the `101` response's extensions
/// until the HTTP/1.1 server hands the connection over. (Extensions must
/// be `Clone + Sync`, hence the shared slot; it is taken exactly once.)
#[derive(Clone)]
pub(crate) struct PendingUpgrade(Arc<Mutex<Option<Upgrade>>>);

impl PendingUpgrade {
    fn take(&self) -> Option<Upgrade> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Answers a WebSocket handshake from inside an HTTP handler.
///
/// Returns the `101 Switching Protocols` response to return from the
/// handler — once it is written, the HTTP/1.1 server runs the WebSocket in
/// the connection's own task and calls `on_upgrade` with it (its future is
/// polled in that task too: no spawn, no cross-task wake-ups) — or, when
/// the request is not an acceptable handshake, the refusal: 400 (not an
/// upgrade, bad key), 403 (origin), 405 (not GET) or 426 (wrong version,
/// with `Sec-WebSocket-Version: 13`).
///
/// The connection ends once the WebSocket is closed and `on_upgrade` has
/// returned. On a graceful shutdown of the server the WebSocket is closed
/// with 1001.
///
/// ```
/// use http::{Request, Response};
/// use wirestate_rt::Body;
/// use wirestate_rt::ws::{self, Config};
///
/// async fn handler(req: Request<Body>) -> Response<Body> {
///     ws::upgrade(&req, &Config::default().deflate(true), |mut socket| async move {
///         while let Some(Ok(message)) = socket.recv().await {
///             if socket.send(message).await.is_err() {
///                 break;
///             }
///         }
///     })
/// }
/// # let _ = handler;
/// ```
pub fn upgrade<F, Fut>(req: &Request<Body>, config: &Config, on_upgrade: F) -> Response<Body>
where
    F: FnOnce(WebSocket) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    // `accept` takes request parts; rebuild them from the borrowed head
    // (once per upgrade, not per message).
    let mut head = Request::new(());
    *head.method_mut() = req.method().clone();
    *head.uri_mut() = req.uri().clone();
    *head.version_mut() = req.version();
    *head.headers_mut() = req.headers().clone();
    let (parts, ()) = head.into_parts();

    let mut handshake = ServerHandshake::new()
        .protocols(config.protocols.iter().cloned())
        .origin(config.origin.clone());
    if let Some(deflate) = &config.deflate {
        handshake = handshake.deflate(deflate.clone());
    }
    for (name, value) in &config.headers {
        handshake = handshake.header(name.clone(), value.clone());
    }
    match handshake.accept(&parts) {
        Ok((response, negotiated)) => {
            let mut machine = Connection::server(config.connection.clone());
            if let Some(params) = &negotiated.deflate {
                machine = machine.with_deflate(params);
            }
            let upgrade = Upgrade {
                machine,
                config: config.clone(),
                protocol: negotiated.subprotocol,
                on_upgrade: Box::new(move |ws| Box::pin(on_upgrade(ws))),
            };
            let (mut parts, ()) = response.into_parts();
            parts
                .extensions
                .insert(PendingUpgrade(Arc::new(Mutex::new(Some(upgrade)))));
            Response::from_parts(parts, Body::empty())
        }
        Err(e) => {
            tracing::debug!(error = %e, "websocket handshake refused");
            let (parts, ()) = wirestate_ws::reject_response(&e).into_parts();
            Response::from_parts(parts, Body::from(format!("{e}\n")))
        }
    }
}

/// Starts the WebSocket side of an upgraded HTTP/1.1 connection.
pub(crate) fn start_server<R: Runtime, I: Io>(
    rt: R,
    io: I,
    pending: PendingUpgrade,
    leftover: &[u8],
    shutdown: Shutdown,
) -> Option<WsConnection<R, I>> {
    let up = pending.take()?;
    let (socket, chans) = channels(&up.config, up.protocol);
    let task = (up.on_upgrade)(socket);
    let app = WsApp::new(chans, Some(task), Some(shutdown));
    let close_timeout = up.config.connection.close_timeout;
    Some(WsConnection::new(
        rt,
        up.machine,
        io,
        app,
        leftover,
        close_timeout,
    ))
}
