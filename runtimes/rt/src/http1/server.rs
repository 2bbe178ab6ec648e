use crate::body::BodySender;
use crate::ws::{self, WsConnection};
use crate::{App, Body, Driver, Io, Listener, Runtime, Shutdown};
use bytes::Bytes;
use http::{Request, Response};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use wirestate_http1::{RequestId, ServerConnection, ServerEvent};
use wirestate_machine::Machine;

/// Turns a request into a response. Any `Fn(Request<Body>) -> impl
/// Future<Output = Response<Body>>` that is `Clone + Send + Sync` is one.
pub trait Handler: Clone + Send + Sync + 'static {
    /// The response future.
    type Future: Future<Output = Response<Body>> + Send + 'static;
    /// Handles one request.
    fn call(&self, req: Request<Body>) -> Self::Future;
}

impl<F, Fut> Handler for F
where
    F: Fn(Request<Body>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Body>> + Send + 'static,
{
    type Future = Fut;
    fn call(&self, req: Request<Body>) -> Fut {
        self(req)
    }
}

/// Settings of the async HTTP/1.1 server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The connection machine's settings (limits, header-read and
    /// keep-alive timeouts, pipelining depth).
    pub http1: wirestate_http1::ServerConfig,
    /// Most connections served at once; accepting pauses at the limit.
    pub max_connections: usize,
    /// Request body bytes buffered ahead of the handler before reading pauses.
    pub body_buffer: usize,
    /// Serve HTTP/2 with prior knowledge (h2c) on the same port: the first
    /// bytes of each connection tell the HTTP/2 preface from an HTTP/1.1
    /// request. On by default.
    pub http2: bool,
    /// The HTTP/2 connection machine's settings (windows, concurrent
    /// streams, flood budgets).
    pub h2: wirestate_h2::connection::Config,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http1: Default::default(),
            max_connections: 10_000,
            body_buffer: 256 * 1024,
            http2: true,
            h2: Default::default(),
        }
    }
}

/// Counts live connections and wakes the accept loop when one ends.
#[derive(Default)]
struct Active {
    count: AtomicUsize,
    acceptor: Mutex<Option<Waker>>,
}

impl Active {
    fn done(&self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
        if let Some(w) = self
            .acceptor
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            w.wake();
        }
    }
}

struct ActiveGuard(Arc<Active>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.done();
    }
}

/// Serves HTTP/1.1 on `listener` until `shutdown` fires and every
/// connection has finished; each connection runs on its own spawned task.
///
/// On shutdown the listener stops accepting, idle connections close, and
/// busy ones close after the responses they started.
pub async fn serve<R, L, H>(
    rt: R,
    mut listener: L,
    handler: H,
    config: ServerConfig,
    shutdown: Shutdown,
) -> io::Result<()>
where
    R: Runtime,
    L: Listener,
    H: Handler,
{
    let active = Arc::new(Active::default());
    let config = Arc::new(config);
    let shutdown_id = shutdown.id();
    loop {
        let accepted = std::future::poll_fn(|cx| {
            if shutdown.poll(shutdown_id, cx).is_ready() {
                return Poll::Ready(None);
            }
            if active.count.load(Ordering::SeqCst) >= config.max_connections {
                *active.acceptor.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some(cx.waker().clone());
                if active.count.load(Ordering::SeqCst) >= config.max_connections {
                    return Poll::Pending;
                }
            }
            listener.poll_accept(cx).map(Some)
        })
        .await;
        match accepted {
            None => break,
            Some(Ok((io, peer))) => {
                active.count.fetch_add(1, Ordering::SeqCst);
                let guard = ActiveGuard(active.clone());
                let conn =
                    serve_connection(rt.clone(), io, handler.clone(), &config, shutdown.clone());
                rt.spawn(Box::pin(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    drop(guard);
                }));
            }
            Some(Err(e)) => {
                // Out of descriptors or a transient accept failure: back off
                // briefly instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                crate::sleep_until(&rt, rt.now() + Duration::from_millis(50)).await;
            }
        }
    }
    shutdown.forget(shutdown_id);
    drop(listener);
    // Wait for the connections to drain.
    std::future::poll_fn(|cx| {
        *active.acceptor.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
        if active.count.load(Ordering::SeqCst) == 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    Ok(())
}

/// One server connection as a future (the caller spawns it): for custom
/// accept loops, or to serve a single stream.
pub fn serve_connection<R: Runtime, I: Io, H: Handler>(
    rt: R,
    io: I,
    handler: H,
    config: &ServerConfig,
    shutdown: Shutdown,
) -> ServeConnection<R, I, H> {
    let accepted = rt.now();
    let state = if config.http2 {
        let deadline = config
            .http1
            .header_read_timeout
            .map(|t| rt.sleep_until(accepted + t));
        Phase::Sniff(Box::new(Sniff {
            io,
            handler,
            config: config.clone(),
            shutdown_id: shutdown.id(),
            shutdown,
            buf: Vec::new(),
            accepted,
            deadline,
            expired: false,
        }))
    } else {
        Phase::Http(Box::new(http1_driver(
            rt.clone(),
            io,
            handler,
            config,
            shutdown,
            &[],
            accepted,
        )))
    };
    ServeConnection { rt, state }
}

fn http1_driver<R: Runtime, I: Io, H: Handler>(
    rt: R,
    io: I,
    handler: H,
    config: &ServerConfig,
    shutdown: Shutdown,
    first: &[u8],
    accepted: Instant,
) -> Driver<R, ServerConnection, I, ServerApp<H>> {
    // Timers count from the accept, so time spent sniffing counts against
    // the header read timeout.
    let now = accepted;
    let mut machine = ServerConnection::new(config.http1.clone(), now);
    if !first.is_empty() {
        // An error is also reported as an event, which the app handles.
        let _ = machine.handle_input(now, first);
    }
    let app = ServerApp::new(handler, shutdown, config.body_buffer);
    Driver::new(rt, machine, io, app)
}

/// The bytes read before the protocol is known.
struct Sniff<I, H> {
    io: I,
    handler: H,
    config: ServerConfig,
    shutdown: Shutdown,
    /// Our registration with `shutdown`, forgotten when sniffing ends.
    shutdown_id: u64,
    buf: Vec<u8>,
    /// When the connection was accepted: the HTTP/1.1 machine's timers
    /// start here.
    accepted: Instant,
    /// The header read timeout, counted from the accept. A peer that sends
    /// nothing, or a prefix of the preface, and then stalls would otherwise
    /// hold the connection for good.
    deadline: Option<Pin<Box<dyn crate::Sleep>>>,
    /// The deadline passed.
    expired: bool,
}

/// Enough to tell the HTTP/2 preface (24 bytes) from any HTTP/1.1 request.
const SNIFF_BUF: usize = 4096;

/// One server connection: HTTP/1.1 or HTTP/2 (h2c with prior knowledge,
/// told apart by the first bytes), and an HTTP/1.1 connection may be
/// upgraded by a handler to a WebSocket ([`ws::upgrade`](crate::ws::upgrade));
/// all in the same task.
///
/// The WebSocket hand-off: the handler's `101` carries the accepted
/// handshake in its extensions; [`ServerApp`] keeps it when it sends the
/// head. Once the machine has reported `Upgraded` (with the bytes read past
/// the request) and the `101` is written, the HTTP driver completes, its
/// stream is taken back ([`Driver::into_parts`]) and a WebSocket driver
/// continues on it, fed the leftover bytes first.
pub struct ServeConnection<R: Runtime, I: Io, H: Handler> {
    rt: R,
    state: Phase<R, I, H>,
}

// Every phase is boxed: the spawned task's allocation is sized for its
// largest state and lives as long as the connection, so an inline HTTP
// driver (about 1 KB) would stay allocated, unused, under every upgraded
// WebSocket. One allocation per connection (not per request) is the cost.
enum Phase<R: Runtime, I: Io, H: Handler> {
    /// Reading the first bytes to choose the protocol.
    Sniff(Box<Sniff<I, H>>),
    Http(Box<Driver<R, ServerConnection, I, ServerApp<H>>>),
    H2(Box<Driver<R, wirestate_h2::connection::Connection, I, crate::h2::H2ServerApp<H>>>),
    /// Allocated only by connections that upgrade.
    Ws(Box<WsConnection<R, I>>),
    Done,
}

impl<R: Runtime, I: Io, H: Handler> std::fmt::Debug for ServeConnection<R, I, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let phase = match &self.state {
            Phase::Sniff(_) => "sniffing",
            Phase::Http(_) => "http/1.1",
            Phase::H2(_) => "h2",
            Phase::Ws(_) => "websocket",
            Phase::Done => "done",
        };
        f.debug_struct("ServeConnection")
            .field("phase", &phase)
            .finish()
    }
}

impl<R: Runtime, I: Io, H: Handler> ServeConnection<R, I, H> {
    /// Leaves the sniff phase without a protocol (the peer left, or the
    /// future is dropped): its registration with the shutdown signal goes
    /// too, or every such connection (a port probe, a client that gave up)
    /// would leave a waker behind until shutdown.
    fn end_sniff(&mut self) {
        if let Phase::Sniff(s) = std::mem::replace(&mut self.state, Phase::Done) {
            s.shutdown.forget(s.shutdown_id);
        }
    }
}

impl<R: Runtime, I: Io, H: Handler> Drop for ServeConnection<R, I, H> {
    fn drop(&mut self) {
        self.end_sniff();
    }
}

// The drivers are `Unpin`, whatever they hold.
impl<R: Runtime, I: Io, H: Handler> Unpin for ServeConnection<R, I, H> {}

impl<R: Runtime, I: Io, H: Handler> Future for ServeConnection<R, I, H> {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                Phase::Sniff(sniff) => {
                    let mut chunk = [0u8; SNIFF_BUF];
                    let room = SNIFF_BUF - sniff.buf.len();
                    // Past the header timeout, or shutting down: undecided
                    // means HTTP/1.1, whose machine answers a partial head
                    // with 408 (its timer is already due) and closes a
                    // connection that sent nothing.
                    if let Some(d) = sniff.deadline.as_mut()
                        && d.as_mut().poll(cx).is_ready()
                    {
                        // Not polled again once it fired.
                        sniff.deadline = None;
                        sniff.expired = true;
                    }
                    let give_up =
                        sniff.expired || sniff.shutdown.poll(sniff.shutdown_id, cx).is_ready();
                    let n = match sniff.io.poll_read(cx, &mut chunk[..room]) {
                        Poll::Pending if give_up => None,
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Poll::Ready(Err(e)) => {
                            this.end_sniff();
                            return Poll::Ready(Err(e));
                        }
                        Poll::Ready(Ok(n)) => Some(n),
                    };
                    if let Some(n) = n {
                        sniff.buf.extend_from_slice(&chunk[..n]);
                    }
                    let h2 = match wirestate_h2::frame::is_h2_preface_prefix(&sniff.buf) {
                        // Not decided yet (a prefix of the preface): read on,
                        // unless the peer stopped sending or we gave up.
                        None if n.is_some_and(|n| n > 0) && sniff.buf.len() < SNIFF_BUF => {
                            continue;
                        }
                        None if n == Some(0) && sniff.buf.is_empty() => {
                            // Closed before a byte: nothing to serve.
                            this.end_sniff();
                            return Poll::Ready(Ok(()));
                        }
                        // A partial preface then EOF: HTTP/1.1 answers 400.
                        None => false,
                        Some(h2) => h2,
                    };
                    let Phase::Sniff(sniff) = std::mem::replace(&mut this.state, Phase::Done)
                    else {
                        unreachable!("phase checked above");
                    };
                    let Sniff {
                        io,
                        handler,
                        config,
                        shutdown,
                        shutdown_id,
                        buf,
                        accepted,
                        ..
                    } = *sniff;
                    shutdown.forget(shutdown_id);
                    this.state = if h2 {
                        Phase::H2(Box::new(crate::h2::server_driver(
                            this.rt.clone(),
                            io,
                            handler,
                            &config,
                            shutdown,
                            &buf,
                        )))
                    } else {
                        let mut driver = http1_driver(
                            this.rt.clone(),
                            io,
                            handler,
                            &config,
                            shutdown,
                            &buf,
                            accepted,
                        );
                        if n == Some(0) {
                            // The peer closed after these bytes.
                            driver.input_eof();
                        }
                        Phase::Http(Box::new(driver))
                    };
                }
                Phase::H2(driver) => {
                    let result = std::task::ready!(Pin::new(&mut **driver).poll(cx));
                    this.state = Phase::Done;
                    return Poll::Ready(result);
                }
                Phase::Http(driver) => {
                    match Pin::new(&mut **driver).poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Err(e)) => {
                            this.state = Phase::Done;
                            return Poll::Ready(Err(e));
                        }
                        Poll::Ready(Ok(())) => {}
                    }
                    let Phase::Http(driver) = std::mem::replace(&mut this.state, Phase::Done)
                    else {
                        unreachable!("phase checked above");
                    };
                    let (_machine, io, mut app, unwritten) = (*driver).into_parts();
                    // The driver completes only once its output is written.
                    debug_assert!(unwritten.is_empty());
                    let ws = match (app.upgrade.take(), app.leftover.take()) {
                        (Some(pending), Some(leftover)) => ws::start_server(
                            this.rt.clone(),
                            io,
                            pending,
                            &leftover,
                            app.shutdown.clone(),
                        ),
                        _ => None,
                    };
                    match ws {
                        Some(ws) => this.state = Phase::Ws(Box::new(ws)),
                        None => return Poll::Ready(Ok(())),
                    }
                }
                Phase::Ws(ws) => {
                    let result = std::task::ready!(Pin::new(&mut **ws).poll(cx));
                    this.state = Phase::Done;
                    return Poll::Ready(result);
                }
                Phase::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}

/// The handler side of a server connection: turns events into
/// `Request<Body>`s, runs the handler for one request at a time (responses
/// go out in order), and streams response bodies into the machine.
pub struct ServerApp<H: Handler> {
    handler: H,
    shutdown: Shutdown,
    shutdown_id: u64,
    shutdown_seen: bool,
    shutdown_waker: Option<std::task::Waker>,
    queue: VecDeque<Request<Body>>,
    bodies: VecDeque<(RequestId, BodySender)>,
    current: Current<H::Future>,
    /// The allocation of the last finished handler future, reused.
    spare: Option<Pin<Box<H::Future>>>,
    body_buffer: usize,
    buffered: usize,
    closing: bool,
    /// A WebSocket accepted by the handler, riding on the `101`.
    upgrade: Option<ws::PendingUpgrade>,
    /// The bytes after the upgraded request, once the machine handed over.
    leftover: Option<Bytes>,
    /// Whether the current exchange ends when the client hangs up (a
    /// gRPC-Web call, a stateless MCP request), instead of being answered
    /// to a half-closed client.
    cancel_on_hangup: bool,
}

enum Current<F> {
    Idle,
    Calling(Pin<Box<F>>),
    Streaming(Body),
}

impl<H: Handler> ServerApp<H> {
    fn new(handler: H, shutdown: Shutdown, body_buffer: usize) -> Self {
        let shutdown_id = shutdown.id();
        Self {
            handler,
            shutdown,
            shutdown_id,
            shutdown_seen: false,
            shutdown_waker: None,
            queue: VecDeque::new(),
            bodies: VecDeque::new(),
            current: Current::Idle,
            spare: None,
            body_buffer,
            buffered: 0,
            closing: false,
            upgrade: None,
            leftover: None,
            cancel_on_hangup: false,
        }
    }

    fn sender(&self, id: RequestId) -> Option<&BodySender> {
        self.bodies.iter().find(|(i, _)| *i == id).map(|(_, s)| s)
    }

    fn on_event(&mut self, ev: ServerEvent) {
        match ev {
            ServerEvent::Request(r) => {
                // A bodiless request needs no channel (the common GET).
                let body = if r.body == wirestate_http1::BodyKind::Empty {
                    Body::empty()
                } else {
                    let (sender, body) = Body::channel(r.body, r.expects_continue);
                    self.bodies.push_back((r.id, sender));
                    body
                };
                self.queue.push_back(Request::from_parts(r.head, body));
            }
            ServerEvent::Data { id, data } => {
                if let Some(s) = self.sender(id) {
                    s.push(data);
                }
            }
            ServerEvent::End { id, trailers } => {
                if let Some(pos) = self.bodies.iter().position(|(i, _)| *i == id) {
                    if let Some((_, s)) = self.bodies.remove(pos) {
                        s.finish(trailers);
                    }
                }
            }
            ServerEvent::Error(e) => {
                tracing::debug!(error = %e, "request refused");
                for (_, s) in self.bodies.drain(..) {
                    s.fail(e.to_string());
                }
            }
            ServerEvent::Upgraded { leftover, .. } => {
                // The connection belongs to the new protocol once the 101
                // is written: `ServeConnection` takes it from here (without
                // an accepted WebSocket, the connection just ends).
                self.leftover = Some(leftover);
            }
            _ => {}
        }
    }

    /// Starts the next handler and moves the current response along.
    fn run(&mut self, cx: &mut Context<'_>, m: &mut ServerConnection) -> bool {
        let mut progress = false;
        loop {
            match &mut self.current {
                Current::Idle => {
                    let Some(req) = self.queue.pop_front() else {
                        return progress;
                    };
                    self.cancel_on_hangup = is_grpc_web(&req) || is_stateless_mcp(&req);
                    let fut = self.handler.call(req);
                    // Reuse the previous handler's allocation: one box per
                    // connection instead of one per request.
                    let boxed = match self.spare.take() {
                        Some(mut b) => {
                            b.as_mut().set(fut);
                            b
                        }
                        None => Box::pin(fut),
                    };
                    self.current = Current::Calling(boxed);
                    progress = true;
                }
                Current::Calling(fut) => {
                    // The handler may be waiting on a body behind 100-continue.
                    if let Some((_, s)) = self.bodies.front() {
                        if s.take_continue_request() {
                            let _ = m.send_continue();
                            progress = true;
                        }
                    }
                    // A handler that panics fails its own request, not the
                    // task it is polled in: a 500 and the connection's end
                    // (what follows on it cannot be trusted to line up).
                    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        fut.as_mut().poll(cx)
                    }));
                    let res = match polled {
                        Ok(Poll::Ready(res)) => res,
                        Ok(Poll::Pending) => return progress,
                        Err(_) => {
                            tracing::error!("handler panicked; answering 500 and closing");
                            // The future is dropped, not kept for reuse.
                            self.current = Current::Idle;
                            let (mut head, ()) = Response::new(()).into_parts();
                            head.status = http::StatusCode::INTERNAL_SERVER_ERROR;
                            head.headers.insert(
                                http::header::CONNECTION,
                                http::HeaderValue::from_static("close"),
                            );
                            let _ = m.send_response(head, wirestate_http1::BodySize::Exact(0));
                            m.close();
                            return true;
                        }
                    };
                    progress = true;
                    if let Current::Calling(done) =
                        std::mem::replace(&mut self.current, Current::Idle)
                    {
                        self.spare = Some(done);
                    }
                    let (mut parts, body) = res.into_parts();
                    if parts.status == http::StatusCode::SWITCHING_PROTOCOLS {
                        self.upgrade = parts.extensions.remove::<ws::PendingUpgrade>();
                    }
                    // A request body passed straight into the response (echo,
                    // proxy) is read only after the head goes out: a client
                    // waiting on 100-continue must be told to send it first.
                    if body.is_incoming() {
                        if let Some((_, s)) = self.bodies.front() {
                            if s.take_expectation() {
                                let _ = m.send_continue();
                            }
                        }
                    }
                    match m.send_response(parts, body.size()) {
                        Ok(_) if m.is_sending_body() => self.current = Current::Streaming(body),
                        Ok(_) => self.current = Current::Idle,
                        Err(e) => {
                            tracing::warn!(error = %e, "handler response refused by the connection");
                            m.close();
                            self.current = Current::Idle;
                        }
                    }
                }
                Current::Streaming(body) => {
                    while !m.is_send_buffer_full() {
                        match body.poll_chunk(cx) {
                            Poll::Ready(Some(Ok(chunk))) => {
                                progress = true;
                                if let Err(e) = m.send_data(chunk) {
                                    tracing::warn!(error = %e, "response body does not match its size");
                                    m.close();
                                    self.current = Current::Idle;
                                    break;
                                }
                            }
                            Poll::Ready(None) => {
                                progress = true;
                                let trailers = body.trailers();
                                if let Err(e) = m.finish(trailers) {
                                    tracing::warn!(error = %e, "response body ended early");
                                    m.close();
                                }
                                self.current = Current::Idle;
                                break;
                            }
                            Poll::Ready(Some(Err(e))) => {
                                // The body failed midway: the message cannot be completed.
                                tracing::warn!(error = %e, "response body failed");
                                m.close();
                                self.current = Current::Idle;
                                break;
                            }
                            Poll::Pending => return progress,
                        }
                    }
                    if matches!(self.current, Current::Streaming(_)) {
                        // Send buffer full: the driver writes, then polls us again.
                        return progress;
                    }
                }
            }
        }
    }
}

/// A stateless (2026-07-28) MCP request: a POST with `Mcp-Method` and no
/// `Mcp-Session-Id`. Its client cancels it by hanging up (that era has no
/// `notifications/cancelled` to send, nor a session to resume in), so the
/// handler must hear of it while it works, not at its answer.
fn is_stateless_mcp<B>(req: &Request<B>) -> bool {
    req.method() == http::Method::POST
        && req.headers().contains_key("mcp-method")
        && !req.headers().contains_key("mcp-session-id")
}

/// Whether `req` is a gRPC-Web call: one whose client hanging up cancels
/// it, as a reset stream cancels a gRPC call on HTTP/2.
fn is_grpc_web<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| wirestate_grpc::ContentType::parse(v.as_bytes()))
        .is_some_and(|ct| ct.format.web_mode().is_some())
}

impl<H: Handler> Drop for ServerApp<H> {
    fn drop(&mut self) {
        self.shutdown.forget(self.shutdown_id);
    }
}

impl<H: Handler> App<ServerConnection> for ServerApp<H> {
    fn poll(&mut self, cx: &mut Context<'_>, m: &mut ServerConnection, _now: Instant) -> bool {
        let mut progress = false;
        while let Some(ev) = m.poll_event() {
            self.on_event(ev);
            progress = true;
        }
        // A half-closed client of plain HTTP still gets its response (RFC
        // 9112 allows waiting with the write side shut). A gRPC-Web client
        // that hung up is gone: its call is cancelled now — the handler's
        // future (or the response body that runs it) dropped, as on
        // RST_STREAM over HTTP/2 — not at the handler's next send.
        if self.cancel_on_hangup && m.is_peer_closed() && !matches!(self.current, Current::Idle) {
            tracing::debug!("gRPC-Web or stateless MCP client hung up: call cancelled");
            self.current = Current::Idle;
            self.cancel_on_hangup = false;
            self.queue.clear();
            for (_, s) in self.bodies.drain(..) {
                s.fail("the client hung up".into());
            }
            m.close();
            progress = true;
        }
        progress |= self.run(cx, m);
        self.buffered = self.bodies.iter().map(|(_, s)| s.buffered(cx)).sum();
        // Register with the shutdown signal once per task waker, not on
        // every poll (that takes its lock).
        let registered = self
            .shutdown_waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()));
        if !self.shutdown_seen && (self.shutdown.is_triggered() || !registered) {
            self.shutdown_waker = Some(cx.waker().clone());
            if self.shutdown.poll(self.shutdown_id, cx).is_ready() {
                self.shutdown_seen = true;
            }
        }
        if self.shutdown_seen && !self.closing {
            // Finish the response in hand (announcing the close), drop what
            // was read ahead, and close.
            self.closing = true;
            self.queue.clear();
            m.close_after_current();
            progress = true;
        }
        progress
    }

    fn wants_read(&self) -> bool {
        self.buffered < self.body_buffer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::IoSlice;
    use std::net::SocketAddr;

    /// A stream that has `input` to read, then EOF (or stays silent).
    struct Scripted {
        input: Vec<u8>,
        then_eof: bool,
    }

    impl Io for Scripted {
        fn poll_read(&mut self, _: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
            if !self.input.is_empty() {
                let n = buf.len().min(self.input.len());
                buf[..n].copy_from_slice(&self.input[..n]);
                self.input.drain(..n);
                Poll::Ready(Ok(n))
            } else if self.then_eof {
                Poll::Ready(Ok(0))
            } else {
                Poll::Pending
            }
        }
        fn poll_write_vectored(
            &mut self,
            _: &mut Context<'_>,
            bufs: &[IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()))
        }
        fn poll_flush(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A sleep that never fires.
    struct Never;
    impl Future for Never {
        type Output = ();
        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            Poll::Pending
        }
    }
    impl crate::Sleep for Never {
        fn reset(self: Pin<&mut Self>, _: Instant) {}
    }

    #[derive(Clone)]
    struct Rt;
    impl Runtime for Rt {
        type Io = Scripted;
        fn now(&self) -> Instant {
            Instant::now()
        }
        fn sleep_until(&self, _: Instant) -> Pin<Box<dyn crate::Sleep>> {
            Box::pin(Never)
        }
        fn spawn(&self, _: crate::BoxFuture<()>) {}
        fn connect(&self, _: SocketAddr) -> crate::BoxFuture<io::Result<Scripted>> {
            Box::pin(async { Err(io::ErrorKind::Unsupported.into()) })
        }
    }

    /// A connection that ends (or is dropped) before its protocol is known
    /// leaves no waker registered with the shutdown signal: one per port
    /// probe would pile up until shutdown.
    #[test]
    fn sniffing_leaves_no_shutdown_registration_behind() {
        let handler = |_req: Request<Body>| async { Response::new(Body::empty()) };
        let config = ServerConfig::default();
        let shutdown = Shutdown::new();
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        // EOF before a byte.
        let io = Scripted {
            input: Vec::new(),
            then_eof: true,
        };
        let mut conn = serve_connection(Rt, io, handler, &config, shutdown.clone());
        assert!(matches!(
            Pin::new(&mut conn).poll(&mut cx),
            Poll::Ready(Ok(()))
        ));
        assert_eq!(shutdown.registered(), 0, "EOF while sniffing");
        drop(conn);
        // Dropped while waiting for more of a preface.
        let io = Scripted {
            input: b"PRI * HTTP/2.0".to_vec(),
            then_eof: false,
        };
        let mut conn = serve_connection(Rt, io, handler, &config, shutdown.clone());
        assert!(Pin::new(&mut conn).poll(&mut cx).is_pending());
        assert_eq!(shutdown.registered(), 1);
        drop(conn);
        assert_eq!(shutdown.registered(), 0, "dropped while sniffing");
    }

    /// A client that hangs up in the middle of a request body, with the
    /// server's graceful shutdown coming at once (either order): the
    /// connection still ends.
    #[test]
    fn a_hang_up_mid_body_with_a_shutdown_ends_the_connection() {
        for shutdown_first in [false, true] {
            let handler = |req: Request<Body>| async { Response::new(req.into_body()) };
            let config = ServerConfig::default();
            let shutdown = Shutdown::new();
            let waker = Waker::noop();
            let mut cx = Context::from_waker(waker);
            let io = Scripted {
                input: b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello"
                    .to_vec(),
                then_eof: true,
            };
            let mut conn = serve_connection(Rt, io, handler, &config, shutdown.clone());
            if shutdown_first {
                shutdown.trigger();
            }
            let mut done = false;
            for _ in 0..50 {
                if Pin::new(&mut conn).poll(&mut cx).is_ready() {
                    done = true;
                    break;
                }
                shutdown.trigger();
            }
            assert!(done, "shutdown first: {shutdown_first}");
        }
    }
}
