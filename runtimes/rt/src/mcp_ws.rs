//! An [`McpServer`] over WebSocket: one JSON-RPC message per text
//! message (subprotocol `mcp`), on any runtime.
//!
//! [`McpServer::serve_websocket`] serves one upgraded [`WebSocket`];
//! [`McpHttp`] routes a `GET` with `Upgrade: websocket` there itself
//! (after the same Host and Origin checks as its Streamable HTTP
//! requests), so an endpoint mounted at `/mcp` speaks both transports.
//! The message rules are the sans-IO ones of
//! [`wirestate_mcp::websocket`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::task::{Poll, Waker};

use bytes::Bytes;
use http::{Request, Response};
use wirestate_mcp::websocket::{self as mcp_ws, BINARY_REASON, SUBPROTOCOL, WsConfig};
use wirestate_mcp::{ServerEvent, ServerSession};
use wirestate_ws::CloseFrame;

use super::{McpHttp, McpServer, OneSession, OneShared, Waiters};
use crate::ws::{self, WebSocket};
use crate::{Body, Runtime};

/// The WebSocket settings an MCP endpoint accepts upgrades with: the `mcp`
/// subprotocol, whole messages up to [`WsConfig`]'s limit (4 MiB), no
/// compression, any `Origin` at the WebSocket layer (the endpoint checks
/// Host and Origin itself, with its Streamable HTTP policy).
pub fn websocket_config() -> ws::Config {
    let mut config = ws::Config {
        connection: WsConfig::default().connection,
        ..ws::Config::default()
    };
    config.connection.streaming = false;
    config.protocols(Some(SUBPROTOCOL))
}

/// Whether `req` asks for a WebSocket (`GET`, `Upgrade: websocket`);
/// a plain `GET` is a Streamable HTTP stream.
pub fn is_websocket_upgrade<B>(req: &Request<B>) -> bool {
    wirestate_ws::is_upgrade(req.method(), req.headers())
}

struct WsState {
    session: ServerSession,
    waiters: Waiters,
    /// The writer, to wake when there is output.
    waker: Option<Waker>,
    /// A close frame to send (after a binary message).
    close: Option<CloseFrame>,
    /// The reading side ended: nothing more will come in.
    closed: bool,
}

impl OneSession for WsState {
    /// The catalogue of a WebSocket session is its own, filled when it
    /// starts.
    const EDITS: bool = false;

    fn poll_event(&mut self) -> Option<ServerEvent> {
        self.session.poll_event()
    }

    fn parts(&mut self) -> (&mut ServerSession, &mut Waiters, &mut Option<Waker>) {
        (&mut self.session, &mut self.waiters, &mut self.waker)
    }

    fn is_open(&self) -> bool {
        !self.closed
    }
}

type WsShared<R> = OneShared<R, WsState>;

impl<R: Runtime> WsShared<R> {
    /// Turns the session's events into handler tasks, and wakes the
    /// writer.
    fn dispatch_spawned(&self, st: &mut WsState) {
        let rt = self.rt.clone();
        self.dispatch_with(st, &|f| rt.spawn(f));
        if let Some(w) = st.waker.take() {
            w.wake();
        }
    }
}

/// What the writer does next.
enum Next {
    Send(Bytes),
    Close(CloseFrame),
    Timeout,
    Done,
}

impl McpServer {
    /// Serves one client over an upgraded WebSocket (one JSON-RPC message
    /// per text message) until it closes. Malformed JSON is answered
    /// -32700 and the socket stays open; a binary message is answered
    /// with close 1003. Handlers run as tasks spawned on `rt`; answers to
    /// requests the client abandoned by closing are dropped.
    ///
    /// ```no_run
    /// # fn f<R: wirestate_rt::Runtime>(rt: R, server: wirestate_rt::mcp::McpServer, req: http::Request<wirestate_rt::Body>) -> http::Response<wirestate_rt::Body> {
    /// use wirestate_rt::mcp::websocket_config;
    /// use wirestate_rt::ws;
    ///
    /// ws::upgrade(&req, &websocket_config(), move |socket| async move {
    ///     server.serve_websocket(rt, socket).await
    /// })
    /// # }
    /// ```
    pub async fn serve_websocket<R: Runtime>(&self, rt: R, socket: WebSocket) {
        let mut session = ServerSession::new(self.session_config());
        self.fill(&mut session);
        let shared: Arc<WsShared<R>> = OneShared::new(
            rt.clone(),
            self.registry.clone(),
            WsState {
                session,
                waiters: BTreeMap::new(),
                waker: None,
                close: None,
                closed: false,
            },
        );
        let (mut sender, mut receiver) = socket.split();
        // The reader: messages into the session, until the socket ends.
        let reader = shared.clone();
        rt.spawn(Box::pin(async move {
            while let Some(Ok(message)) = receiver.recv().await {
                let mut st = reader.lock();
                let now = reader.rt.now();
                let refused = mcp_ws::handle_ws_message(&mut st.session, now, message);
                reader.dispatch_spawned(&mut st);
                if let Err(frame) = refused {
                    st.close = Some(frame);
                    break;
                }
            }
            let mut st = reader.lock();
            st.closed = true;
            st.session.handle_close();
            reader.dispatch_spawned(&mut st);
        }));
        // The writer: the session's output, its deadlines, the close.
        loop {
            let deadline = shared.lock().session.poll_timeout();
            let next = std::future::poll_fn(|cx| {
                let mut st = shared.lock();
                if let Some(m) = st.session.poll_message() {
                    return Poll::Ready(Next::Send(m));
                }
                if let Some(frame) = st.close.take() {
                    return Poll::Ready(Next::Close(frame));
                }
                if st.closed {
                    return Poll::Ready(Next::Done);
                }
                st.waker = Some(cx.waker().clone());
                Poll::Pending
            });
            let next = match deadline {
                Some(at) => crate::timeout(&rt, at, next).await.unwrap_or(Next::Timeout),
                None => next.await,
            };
            match next {
                Next::Send(m) => {
                    let Some(text) = mcp_ws::text_message(m) else {
                        continue;
                    };
                    if sender.send(text).await.is_err() {
                        break;
                    }
                }
                Next::Close(frame) => {
                    let _ = sender.close(frame.code, BINARY_REASON).await;
                    break;
                }
                Next::Timeout => {
                    let mut st = shared.lock();
                    st.session.handle_timeout(rt.now());
                    shared.dispatch_spawned(&mut st);
                }
                Next::Done => break,
            }
        }
        // Handlers still running find the session closed.
        let mut st = shared.lock();
        if !st.closed {
            st.closed = true;
            st.session.handle_close();
            st.waiters.clear();
        }
    }
}

impl<R: Runtime> McpHttp<R> {
    /// Answers a WebSocket upgrade of the endpoint: Host and Origin are
    /// checked against the endpoint's allow-lists (421, 403), then the
    /// handshake is answered ([`ws::upgrade`]: 400, 405, 426 when it is
    /// not acceptable) and the session runs on the upgraded connection.
    pub fn upgrade_websocket(&self, req: &Request<Body>) -> Response<Body> {
        let refused = {
            let st = self.shared.lock();
            st.machine.refusal_for(&to_parts(req))
        };
        if let Some(response) = refused {
            return response.map(Body::full);
        }
        let server = McpServer {
            registry: self.shared.registry.clone(),
        };
        let rt = self.shared.rt.clone();
        ws::upgrade(req, &websocket_config(), move |socket| async move {
            server.serve_websocket(rt, socket).await;
        })
    }
}

/// The head of a borrowed request, as `http` parts.
fn to_parts(req: &Request<Body>) -> http::request::Parts {
    let mut head = Request::new(());
    *head.method_mut() = req.method().clone();
    *head.uri_mut() = req.uri().clone();
    *head.version_mut() = req.version();
    *head.headers_mut() = req.headers().clone();
    head.into_parts().0
}
