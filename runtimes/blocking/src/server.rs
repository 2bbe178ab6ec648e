//! The blocking HTTP/1.1 (and HTTP/2) server: a thread per connection,
//! the handler called on that thread, request bodies read lazily from the
//! connection. HTTP/2 connections, told apart by their first bytes, are
//! served by [`crate::h2`] (a worker thread per stream).

use crate::body::{Source, Step};
use crate::transport::Stream;
use crate::{BlockingBody, Driver, ResponseBody, Transport, Wait};
use http::{Request, Response};
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wirestate_http1::{BodyKind, RequestId, ServerConnection, ServerEvent};
use wirestate_machine::Machine;

/// How long a closed connection keeps draining what the client still
/// sends, so the last response is not lost to a reset.
const LINGER_TIME: Duration = Duration::from_secs(2);
/// Most bytes drained that way.
const LINGER_BYTES: usize = 1024 * 1024;

/// Turns a request into a response, on the connection's thread (HTTP/1.1)
/// or on its stream's worker thread (HTTP/2). Any
/// `Fn(Request<BlockingBody>) -> Response<ResponseBody> + Send + Sync` is one.
///
/// The request body is read from the connection as the handler reads it;
/// the response body is streamed after the handler returns. A handler that
/// panics closes its HTTP/1.1 connection, or resets its HTTP/2 stream (the
/// panic is caught and logged).
pub trait Handler: Send + Sync + 'static {
    /// Handles one request.
    fn call(&self, req: Request<BlockingBody>) -> Response<ResponseBody>;
}

impl<F> Handler for F
where
    F: Fn(Request<BlockingBody>) -> Response<ResponseBody> + Send + Sync + 'static,
{
    fn call(&self, req: Request<BlockingBody>) -> Response<ResponseBody> {
        self(req)
    }
}

/// Settings of the blocking HTTP/1.1 and HTTP/2 server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The connection machine's settings: limits, header-read and
    /// keep-alive timeouts, pipelining depth.
    pub http1: wirestate_http1::ServerConfig,
    /// Most connections served at once, one thread each. At the limit the
    /// accept loop waits (connections queue in the listen backlog); after
    /// 100 ms at the limit, connections idle between requests
    /// (kept alive, or yet to send their first request) are closed to make
    /// room, as RFC 9112 §9.5 lets a server close an idle connection at
    /// any time: otherwise as many idle clients as threads would keep
    /// everyone else waiting for their keep-alive timeout.
    pub max_connections: usize,
    /// Longest a connection may wait for the client while a request is
    /// being served (a read of its body, a write of the response) before
    /// it is closed. `None` (the default, as in the async servers) waits as
    /// long as the client does; between requests the machine's header-read
    /// and keep-alive timers apply either way.
    pub io_timeout: Option<Duration>,
    /// Serve HTTP/2 with prior knowledge (h2c) on the same port: the first
    /// bytes of each connection tell the HTTP/2 preface from an HTTP/1.1
    /// request. On by default.
    pub http2: bool,
    /// The HTTP/2 connection machine's settings (windows, concurrent
    /// streams, flood budgets). `max_concurrent_streams` also caps the
    /// handler threads of one HTTP/2 connection.
    pub h2: wirestate_h2::connection::Config,
    /// Serve HTTPS (feature `tls`): every connection runs the TLS
    /// handshake first, on its own thread, within the HTTP/1.1 header-read
    /// timeout counted from the accept (a client that stalls in it is
    /// closed then); HTTP/1.1, HTTP/2 and WebSocket upgrades then run over
    /// TLS as over TCP. Offer [`tls::ALPN`](crate::tls::ALPN) (`h2`, then
    /// `http/1.1`): clients speak HTTP/2 over TLS only when the server
    /// agreed to it. `None` (the default): plain TCP.
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http1: Default::default(),
            max_connections: 1024,
            io_timeout: None,
            http2: true,
            h2: Default::default(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How long the accept loop waits at [`ServerConfig::max_connections`]
/// before it closes the idle connections to make room.
const EVICT_IDLE_AFTER: Duration = Duration::from_millis(100);

/// A connection's socket as the shutdown signal sees it.
struct Slot {
    /// Closed by the accept loop to make room (see [`evict_idle`]).
    evicted: AtomicBool,
    /// Blocked waiting for the next request, with nothing in progress.
    idle: Mutex<bool>,
    /// Handed over to a WebSocket: a shutdown closes it with 1001 (see
    /// [`going_away`]).
    upgraded: AtomicBool,
    /// That WebSocket, once it runs.
    ws: Mutex<Option<crate::ws::WebSocket>>,
    /// A clone of the connection's socket, to wake it with `shutdown(Read)`.
    stream: TcpStream,
    /// An HTTP/2 connection's inbox, kicked to make it see the shutdown.
    h2: Mutex<Option<Arc<crate::h2::Inbox>>>,
}

/// State shared by a server, its connections and its handles.
#[derive(Default)]
struct Shared {
    shutdown: AtomicBool,
    accepted: AtomicU64,
    active: Mutex<usize>,
    /// Signalled when `active` drops or the shutdown fires.
    changed: Condvar,
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
    /// Where to connect to wake an accept loop blocked in `accept`.
    wake_addr: Mutex<Option<SocketAddr>>,
}

impl Shared {
    fn is_shutdown(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }
}

/// Controls a running [`Server`] from other threads: graceful shutdown and
/// connection counts. Cheap to clone.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("shutdown", &self.is_shutdown())
            .field("accepted", &self.accepted_connections())
            .field("active", &self.active_connections())
            .finish()
    }
}

impl ServerHandle {
    /// Starts a graceful shutdown: the server stops accepting, connections
    /// waiting for a request close at once, busy ones close after the
    /// responses they started, and [`Server::serve`] returns once every
    /// connection thread has ended. Returns immediately; idempotent.
    pub fn shutdown(&self) {
        if self.shared.shutdown.swap(true, Ordering::SeqCst) {
            return;
        }
        // Idle connections are blocked in a read: end it. Busy ones see the
        // flag before their next read.
        for slot in lock(&self.shared.slots).values() {
            if slot.upgraded.load(Ordering::SeqCst) {
                // Not running yet: its thread closes it once it does.
                going_away(slot);
            } else if let Some(inbox) = lock(&slot.h2).as_ref() {
                inbox.kick();
            } else if *lock(&slot.idle) {
                let _ = slot.stream.shutdown(Shutdown::Read);
            }
        }
        // The accept loop waits for room, or in `accept`.
        drop(lock(&self.shared.active));
        self.shared.changed.notify_all();
        let wake = *lock(&self.shared.wake_addr);
        if let Some(addr) = wake {
            let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
        }
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shutdown(&self) -> bool {
        self.shared.is_shutdown()
    }

    /// Connections accepted so far.
    pub fn accepted_connections(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections being served now.
    pub fn active_connections(&self) -> usize {
        *lock(&self.shared.active)
    }
}

/// A blocking HTTP/1.1 and HTTP/2 server: a thread per connection, at most
/// [`ServerConfig::max_connections`] at once.
///
/// Each HTTP/1.1 connection serves one request at a time and answers in
/// order (pipelined requests wait their turn); the machine decides
/// keep-alive, framing, `100 Continue`, timeouts and error responses.
///
/// With [`ServerConfig::http2`] (the default), a connection that starts
/// with the HTTP/2 preface is served as h2c instead, by the same handler:
/// see [`crate::h2`] for its threads (a worker per stream, up to the
/// concurrent-stream limit).
///
/// ```no_run
/// use http::{Request, Response};
/// use wirestate_blocking::{BlockingBody, ResponseBody, Server};
///
/// # fn main() -> std::io::Result<()> {
/// let server = Server::bind("127.0.0.1:8080", Default::default())?;
/// let handle = server.handle(); // handle.shutdown() from another thread
/// server.serve(|_req: Request<BlockingBody>| Response::new(ResponseBody::from("hello")))?;
/// # drop(handle);
/// # Ok(())
/// # }
/// ```
pub struct Server {
    listener: TcpListener,
    config: ServerConfig,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener)
            .field("config", &self.config)
            .finish()
    }
}

impl Server {
    /// Binds a listener on `addr`.
    pub fn bind(addr: impl std::net::ToSocketAddrs, config: ServerConfig) -> io::Result<Server> {
        Ok(Self::new(TcpListener::bind(addr)?, config))
    }

    /// A server on an existing (blocking) listener.
    pub fn new(listener: TcpListener, config: ServerConfig) -> Server {
        let shared = Arc::new(Shared::default());
        *lock(&shared.wake_addr) = listener.local_addr().ok().map(|mut a| {
            if a.ip().is_unspecified() {
                a.set_ip(match a.ip() {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
                });
            }
            a
        });
        Server {
            listener,
            config,
            shared,
        }
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle to shut the server down and watch its connections.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            shared: self.shared.clone(),
        }
    }

    /// Serves connections with `handler` on the calling thread until
    /// [`ServerHandle::shutdown`], then waits for every connection thread
    /// to end.
    pub fn serve<H: Handler>(self, handler: H) -> io::Result<()> {
        let Server {
            listener,
            config,
            shared,
        } = self;
        let handler = Arc::new(handler);
        let config = Arc::new(config);
        let max = config.max_connections.max(1);
        let mut threads: Vec<JoinHandle<()>> = Vec::new();
        let mut next_id = 0u64;
        loop {
            {
                let mut active = lock(&shared.active);
                while *active >= max && !shared.is_shutdown() {
                    let (guard, waited) = shared
                        .changed
                        .wait_timeout(active, EVICT_IDLE_AFTER)
                        .unwrap_or_else(|e| e.into_inner());
                    active = guard;
                    if waited.timed_out() && *active >= max {
                        drop(active);
                        evict_idle(&shared);
                        active = lock(&shared.active);
                    }
                }
            }
            if shared.is_shutdown() {
                break;
            }
            reap(&mut threads);
            let (stream, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if shared.is_shutdown() => {
                    tracing::debug!(error = %e, "accept failed during shutdown");
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // Out of descriptors or a transient failure: back off
                    // briefly instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            if shared.is_shutdown() {
                // Most likely the shutdown's own wake-up connection.
                break;
            }
            shared.accepted.fetch_add(1, Ordering::SeqCst);
            *lock(&shared.active) += 1;
            let guard = ActiveGuard(shared.clone());
            let id = next_id;
            next_id += 1;
            let (handler, config, shared) = (handler.clone(), config.clone(), shared.clone());
            let spawned = std::thread::Builder::new()
                .name("wirestate-conn".into())
                .spawn(move || {
                    let _guard = guard;
                    if let Err(e) = tracked_connection(stream, &*handler, &config, &shared, id) {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                });
            match spawned {
                Ok(t) => threads.push(t),
                // The closure (with the stream and the guard) was dropped.
                Err(e) => tracing::warn!(error = %e, "cannot start a connection thread"),
            }
        }
        drop(listener);
        for t in threads {
            let _ = t.join();
        }
        Ok(())
    }
}

/// Closes the connections idle between requests (not HTTP/2 ones, nor
/// WebSockets) by shutting their read side: each reads an end of stream
/// and closes as on a graceful shutdown, and its thread ends.
fn evict_idle(shared: &Shared) {
    for slot in lock(&shared.slots).values() {
        if slot.upgraded.load(Ordering::SeqCst) || lock(&slot.h2).is_some() {
            continue;
        }
        let idle = lock(&slot.idle);
        if *idle {
            slot.evicted.store(true, Ordering::SeqCst);
            let _ = slot.stream.shutdown(Shutdown::Read);
        }
    }
}

/// Joins the connection threads that have ended.
fn reap(threads: &mut Vec<JoinHandle<()>>) {
    let mut i = 0;
    while i < threads.len() {
        if threads[i].is_finished() {
            let _ = threads.swap_remove(i).join();
        } else {
            i += 1;
        }
    }
}

/// Counts a connection thread until it ends.
struct ActiveGuard(Arc<Shared>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        *lock(&self.0.active) -= 1;
        self.0.changed.notify_all();
    }
}

/// Closes an upgraded connection's WebSocket for a graceful shutdown, as
/// the async servers do: a close frame with 1001 (going away), whose
/// handshake the WebSocket's own reader completes (or times out). The
/// close is written from a thread of its own (a sender may hold the socket
/// while a peer does not read), and the socket is shut both ways once the
/// close timeout has passed, in case nothing else ended it by then.
fn going_away(slot: &Slot) {
    let Some(ws) = lock(&slot.ws).clone() else {
        return;
    };
    let limit = ws.close_timeout() + Duration::from_millis(100);
    let closer = std::thread::Builder::new()
        .name("wirestate-ws-going-away".into())
        .spawn(move || {
            let _ = ws.close(crate::ws::close_code::GOING_AWAY, "server shutting down");
        });
    let backstop = slot.stream.try_clone().and_then(|stream| {
        std::thread::Builder::new()
            .name("wirestate-ws-going-away".into())
            .spawn(move || {
                std::thread::sleep(limit);
                let _ = stream.shutdown(Shutdown::Both);
            })
    });
    if closer.is_err() || backstop.is_err() {
        // No thread to close it gracefully: end it now, as before.
        tracing::debug!("cannot start a thread to close a websocket; shutting it");
        let _ = slot.stream.shutdown(Shutdown::Both);
    }
}

/// Removes a connection's slot when it ends.
struct SlotGuard<'a>(&'a Shared, u64);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        lock(&self.0.slots).remove(&self.1);
    }
}

/// Serves HTTP/1.1 on `listener` with `handler` on the calling thread,
/// without a shutdown handle (use [`Server`] for one).
pub fn serve<H: Handler>(
    listener: TcpListener,
    handler: H,
    config: ServerConfig,
) -> io::Result<()> {
    Server::new(listener, config).serve(handler)
}

/// Serves one connection on the calling thread until it closes: for custom
/// accept loops. `max_connections` does not apply.
pub fn serve_connection<H: Handler>(
    stream: TcpStream,
    handler: &H,
    config: &ServerConfig,
) -> io::Result<()> {
    run_connection(stream, handler, config, None)
}

fn tracked_connection<H: Handler>(
    stream: TcpStream,
    handler: &H,
    config: &ServerConfig,
    shared: &Shared,
    id: u64,
) -> io::Result<()> {
    let slot = Arc::new(Slot {
        idle: Mutex::new(false),
        evicted: AtomicBool::new(false),
        upgraded: AtomicBool::new(false),
        ws: Mutex::new(None),
        stream: stream.try_clone()?,
        h2: Mutex::new(None),
    });
    lock(&shared.slots).insert(id, slot.clone());
    let _slot = SlotGuard(shared, id);
    run_connection(stream, handler, config, Some((&slot, shared)))
}

/// How a connection learns about a graceful shutdown.
type Tracker<'a> = Option<(&'a Slot, &'a Shared)>;

fn run_connection<H: Handler>(
    stream: TcpStream,
    handler: &H,
    config: &ServerConfig,
    tracker: Tracker<'_>,
) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let start = Instant::now();
    #[cfg(feature = "tls")]
    let mut stream = match &config.tls {
        Some(tls) => match accept_tls(stream, tls, config, tracker, start) {
            Some(tls) => Stream::Tls(Box::new(tls)),
            None => return Ok(()),
        },
        None => Stream::Tcp(stream),
    };
    #[cfg(not(feature = "tls"))]
    let mut stream = Stream::Tcp(stream);
    let mut first = Vec::new();
    let mut eof = false;
    if config.http2 {
        match sniff(&mut stream, config, tracker, &mut first)? {
            Sniffed::H2 => return serve_h2(stream, &first, handler, config, tracker),
            Sniffed::Http1 { eof: e } => eof = e,
            Sniffed::Nothing => {
                // Closed by the client, or by a shutdown before a request
                // came: over TLS, close_notify goes out before the FIN.
                let _ = stream.set_write_timeout(config.io_timeout);
                let _ = stream.shutdown_write();
                return Ok(());
            }
        }
    }
    // The header-read timer runs from the accept, the sniff included.
    let mut machine = ServerConnection::new(config.http1.clone(), start);
    if !first.is_empty() {
        // An error is also reported as an event, which the loop handles.
        let _ = machine.handle_input(Instant::now(), &first);
    }
    if eof {
        let _ = machine.handle_eof(Instant::now());
    }
    let conn = Arc::new(Mutex::new(Conn {
        driver: Driver::new(machine, stream),
        current: None,
        expects_continue: false,
        stash: VecDeque::new(),
        io_timeout: config.io_timeout,
        closing: false,
        unread_body: false,
        upgrade: None,
    }));
    let result = serve_requests(&conn, handler, tracker);
    let mut c = lock(&conn);
    c.current = None;
    if result.is_ok() {
        let deadline = c.deadline();
        let _ = c.driver.flush(deadline);
        // The client may still be sending (a refused request, a body the
        // handler left unread): drain it so the close does not turn into
        // a reset that destroys the response. A clean close needs no wait.
        if c.unread_body || c.driver.machine().error().is_some() {
            c.driver.linger(LINGER_TIME, LINGER_BYTES);
        }
    }
    // A body kept by the handler must not keep the socket open.
    let _ = c.driver.stream().tcp().shutdown(Shutdown::Both);
    result
}

/// The TLS handshake of an accepted connection, on its thread, bounded by
/// the header-read timeout counted from `start` (the accept). The
/// connection counts as idle meanwhile, so a shutdown ends the wait.
/// `None`: the handshake failed (logged) and the connection is closed.
#[cfg(feature = "tls")]
fn accept_tls(
    stream: TcpStream,
    tls: &Arc<rustls::ServerConfig>,
    config: &ServerConfig,
    tracker: Tracker<'_>,
    start: Instant,
) -> Option<crate::tls::TlsStream> {
    if let Some((slot, shared)) = tracker {
        *lock(&slot.idle) = true;
        if shared.is_shutdown() {
            return None;
        }
    }
    let deadline = config
        .http1
        .header_read_timeout
        .filter(|t| !t.is_zero())
        .map(|t| start + t);
    let result = crate::tls::TlsStream::server(stream, tls.clone())
        .map_err(io::Error::other)
        .and_then(|mut s| s.handshake(deadline).map(|()| s));
    if let Some((slot, _)) = tracker {
        *lock(&slot.idle) = false;
    }
    match result {
        Ok(s) => Some(s),
        Err(e) => {
            // The socket is dropped, and closed, with the error.
            tracing::debug!(error = %e, "TLS handshake failed");
            None
        }
    }
}

/// What the first bytes of a connection said.
enum Sniffed {
    /// The HTTP/2 client preface.
    H2,
    /// Anything else (HTTP/1.1, or garbage the HTTP/1.1 machine answers);
    /// `eof`: the client closed after these bytes.
    Http1 { eof: bool },
    /// Closed (or shut down) before a byte arrived.
    Nothing,
}

/// Enough to tell the HTTP/2 preface (24 bytes) from any HTTP/1.1 request.
const SNIFF_BUF: usize = 4096;

/// Reads the first bytes of a connection into `buf` until they tell the
/// HTTP/2 preface from HTTP/1.1 (`is_h2_preface_prefix`), within the
/// HTTP/1.1 header-read timeout. The connection counts as idle meanwhile,
/// so a shutdown ends the wait.
fn sniff(
    stream: &mut Stream,
    config: &ServerConfig,
    tracker: Tracker<'_>,
    buf: &mut Vec<u8>,
) -> io::Result<Sniffed> {
    if let Some((slot, shared)) = tracker {
        *lock(&slot.idle) = true;
        if shared.is_shutdown() {
            return Ok(Sniffed::Nothing);
        }
    }
    let timeout = config.http1.header_read_timeout.filter(|t| !t.is_zero());
    stream.set_read_timeout(timeout)?;
    let result = sniff_read(stream, buf);
    if let Some((slot, _)) = tracker {
        *lock(&slot.idle) = false;
    }
    stream.set_read_timeout(None)?;
    match result {
        Err(e) if tracker.is_some_and(|(_, shared)| shared.is_shutdown()) => {
            tracing::debug!(error = %e, "first read ended by the shutdown");
            Ok(Sniffed::Nothing)
        }
        other => other,
    }
}

fn sniff_read(stream: &mut Stream, buf: &mut Vec<u8>) -> io::Result<Sniffed> {
    let mut chunk = [0u8; SNIFF_BUF];
    loop {
        let room = SNIFF_BUF - buf.len();
        let n = match stream.read(&mut chunk[..room]) {
            Ok(0) if buf.is_empty() => return Ok(Sniffed::Nothing),
            // A partial preface, then the end: HTTP/1.1 answers 400.
            Ok(0) => return Ok(Sniffed::Http1 { eof: true }),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                // Too slow: the HTTP/1.1 machine's header timer answers.
                return Ok(Sniffed::Http1 { eof: false });
            }
            Err(e) => return Err(e),
        };
        buf.extend_from_slice(&chunk[..n]);
        match wirestate_h2::frame::is_h2_preface_prefix(buf) {
            Some(true) => return Ok(Sniffed::H2),
            Some(false) => return Ok(Sniffed::Http1 { eof: false }),
            // A prefix of the preface so far: read on.
            None if buf.len() < SNIFF_BUF => {}
            None => return Ok(Sniffed::Http1 { eof: false }),
        }
    }
}

/// Serves an HTTP/2 connection whose first bytes were read; a graceful
/// shutdown kicks its connection thread, which sends GOAWAY.
fn serve_h2<H: Handler>(
    stream: Stream,
    first: &[u8],
    handler: &H,
    config: &ServerConfig,
    tracker: Tracker<'_>,
) -> io::Result<()> {
    let inbox = Arc::new(crate::h2::Inbox::default());
    if let Some((slot, _)) = tracker {
        *lock(&slot.h2) = Some(inbox.clone());
    }
    let is_shutdown = || tracker.is_some_and(|(_, shared)| shared.is_shutdown());
    crate::h2::server::serve(stream, first, handler, config, inbox, &is_shutdown)
}

fn serve_requests<H: Handler>(
    conn: &Arc<Mutex<Conn>>,
    handler: &H,
    tracker: Tracker<'_>,
) -> io::Result<()> {
    while let Some(ev) = next_event(conn, tracker)? {
        match ev {
            ServerEvent::Request(r) => respond(conn, handler, r, tracker)?,
            ServerEvent::Error(e) => tracing::debug!(error = %e, "request refused"),
            // The rest of a body the handler did not read: drained.
            ServerEvent::Data { .. } => {}
            ServerEvent::End { .. } => lock(conn).unread_body = false,
            ServerEvent::Upgraded { leftover, .. } => {
                let (pending, stream) = {
                    let mut c = lock(conn);
                    let pending = c.upgrade.take();
                    // The 101 goes out before the new protocol starts.
                    let deadline = c.deadline();
                    c.driver.flush(deadline)?;
                    // The WebSocket takes the stream (and its TLS state);
                    // the connection keeps a plain handle to close it.
                    let tcp = Stream::Tcp(c.driver.stream().tcp().try_clone()?);
                    (pending, std::mem::replace(c.driver.stream_mut(), tcp))
                };
                if let Some(pending) = pending {
                    if let Some((slot, _)) = tracker {
                        slot.upgraded.store(true, Ordering::SeqCst);
                    }
                    crate::ws::run_server(stream, pending, &leftover, |socket| {
                        // A shutdown closes the WebSocket with 1001: one
                        // that came before it ran does so now (or both do,
                        // harmlessly: a second close is refused).
                        if let Some((slot, shared)) = tracker {
                            *lock(&slot.ws) = Some(socket.clone());
                            if shared.is_shutdown() {
                                going_away(slot);
                            }
                        }
                    });
                }
                return Ok(());
            }
            _ => {}
        }
    }
    Ok(())
}

/// The next event for the connection loop, reading (and waiting through
/// the machine's timers) as needed; `None` once the connection is closed.
fn next_event(conn: &Mutex<Conn>, tracker: Tracker<'_>) -> io::Result<Option<ServerEvent>> {
    let mut c = lock(conn);
    let mut stalled = false;
    loop {
        if let Some(ev) = c.stash.pop_front() {
            return Ok(Some(ev));
        }
        if let Some(ev) = c.driver.machine_mut().poll_event() {
            return Ok(Some(ev));
        }
        // Between requests: the only place a connection counts as idle.
        let mut idle = false;
        if let Some((slot, shared)) = tracker {
            let mut flag = lock(&slot.idle);
            if shared.is_shutdown() {
                drop(flag);
                c.close();
            } else {
                *flag = true;
                idle = true;
            }
        }
        let waited = c.driver.wait(None);
        if idle {
            if let Some((slot, _)) = tracker {
                *lock(&slot.idle) = false;
            }
        }
        let waited = match waited {
            // The shutdown ended this idle read by shutting the socket's
            // read side. Over TCP that reads as an end of stream, which
            // closes the machine; over TLS it is an end without the
            // peer's close_notify, an error. Either way the connection
            // closes as on any shutdown: with our farewell (close_notify
            // before the FIN over TLS), not a bare socket close that the
            // client cannot tell from a truncation.
            Err(e)
                if idle
                    && tracker.is_some_and(|(slot, shared)| {
                        shared.is_shutdown() || slot.evicted.load(Ordering::SeqCst)
                    }) =>
            {
                tracing::debug!(error = %e, "idle read ended by the shutdown or an eviction");
                c.close();
                let deadline = c.deadline();
                let _ = c.driver.flush(deadline);
                return Ok(None);
            }
            waited => waited?,
        };
        match waited {
            Wait::Closed => return Ok(None),
            Wait::Stalled if stalled => return Ok(None),
            Wait::Stalled => {
                // Nothing to read, no timer and nothing to answer.
                stalled = true;
                c.close();
            }
            _ => {}
        }
    }
}

/// Runs the handler for one request and streams its response.
fn respond<H: Handler>(
    conn: &Arc<Mutex<Conn>>,
    handler: &H,
    r: wirestate_http1::Request,
    tracker: Tracker<'_>,
) -> io::Result<()> {
    let id = r.id;
    {
        let mut c = lock(conn);
        c.current = Some(id);
        c.expects_continue = r.expects_continue;
        c.unread_body = r.body != BodyKind::Empty;
    }
    let body = if r.body == BodyKind::Empty {
        BlockingBody::empty()
    } else {
        let source = BodySource {
            conn: conn.clone(),
            id,
        };
        BlockingBody::new(Source::Server(source), r.body)
    };
    let req = Request::from_parts(r.head, body);
    let res = match panic::catch_unwind(AssertUnwindSafe(|| handler.call(req))) {
        Ok(res) => res,
        Err(_) => {
            tracing::error!("handler panicked; closing the connection");
            lock(conn).end_request(true);
            return Ok(());
        }
    };
    let (mut parts, mut body) = res.into_parts();
    if parts.extensions.remove::<Started>().is_some() {
        // The head (and maybe some chunks) went out while the handler ran,
        // through an `EarlyResponse`: only the rest of the body is left.
        let mut c = lock(conn);
        if !c.driver.machine().is_sending_body() {
            c.end_request(true);
            return Ok(());
        }
        drop(c);
        return send_body(conn, &mut body, true);
    }
    if tracker.is_some_and(|(_, shared)| shared.is_shutdown()) {
        // Shutting down: this is the connection's last response, and the
        // client should know before it sends another request.
        parts.headers.insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    // A request body passed back as the response body will be read: the
    // client waiting on `Expect: 100-continue` must hear so before the
    // response starts.
    if let Some(b) = body.incoming_mut() {
        b.request_continue();
    }
    // Server-sent events are read as they come (progress, notifications,
    // an MCP client waiting on a standalone stream): each chunk is written
    // at once instead of waiting for the send buffer to fill.
    let flush_each = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    {
        let mut c = lock(conn);
        if parts.status == http::StatusCode::SWITCHING_PROTOCOLS {
            c.upgrade = parts.extensions.remove::<crate::ws::PendingUpgrade>();
        }
        match c.driver.machine_mut().send_response(parts, body.size()) {
            Ok(_) if c.driver.machine().is_sending_body() => {}
            Ok(_) => {
                c.end_request(false);
                return Ok(());
            }
            Err(e) => {
                if c.closing || c.driver.machine().error().is_some() {
                    tracing::debug!(error = %e, "response dropped: the connection is closing");
                } else {
                    tracing::warn!(error = %e, "handler response refused by the connection");
                }
                c.end_request(true);
                return Ok(());
            }
        }
    }
    send_body(conn, &mut body, flush_each)
}

/// Streams a response body whose head was sent, then ends the response.
fn send_body(conn: &Mutex<Conn>, body: &mut ResponseBody, flush_each: bool) -> io::Result<()> {
    loop {
        // The lock is not held while the body is produced: it may be the
        // request body, which reads from this connection.
        let chunk = body.next_chunk();
        let mut c = lock(conn);
        match chunk {
            Ok(Some(data)) => {
                if let Err(e) = c.driver.machine_mut().send_data(data) {
                    tracing::warn!(error = %e, "response body does not match its size");
                    c.end_request(true);
                    return Ok(());
                }
                if flush_each || c.driver.machine().is_send_buffer_full() {
                    let deadline = c.deadline();
                    if let Err(e) = c.driver.flush(deadline) {
                        c.end_request(true);
                        return Err(e);
                    }
                }
            }
            Ok(None) => {
                let trailers = body.trailers();
                let failed = c.driver.machine_mut().finish(trailers).is_err();
                if failed {
                    tracing::warn!("response body ended before its declared length");
                }
                c.end_request(failed);
                return Ok(());
            }
            Err(e) => {
                // The body failed midway: the message cannot be completed.
                tracing::warn!(error = %e, "response body failed");
                c.end_request(true);
                return Ok(());
            }
        }
    }
}

/// A response a handler starts before it returns, on its connection's
/// own thread (crate-internal: the MCP endpoint writes the server-sent
/// events of a call it runs there as they are emitted, instead of handing
/// the call to another thread so that the connection thread can stream
/// them). [`start`](Self::start) sends the head, [`send`](Self::send) a
/// chunk, each written at once; the handler then returns a response
/// marked [`Started`], whose body is the rest.
pub(crate) struct EarlyResponse {
    conn: Arc<Mutex<Conn>>,
    id: RequestId,
}

/// Marks (in its extensions) a handler's response whose head went out
/// through an [`EarlyResponse`]: only its body is sent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Started;

impl EarlyResponse {
    /// Sends the response head (the body streamed, chunked).
    pub(crate) fn start(&self, head: http::response::Parts) -> io::Result<()> {
        let mut c = lock(&self.conn);
        if c.current != Some(self.id) {
            return Err(io::Error::other("the request is no longer being answered"));
        }
        if let Err(e) = c
            .driver
            .machine_mut()
            .send_response(head, wirestate_http1::BodySize::Streaming)
        {
            c.end_request(true);
            return Err(io::Error::other(e));
        }
        let deadline = c.deadline();
        c.driver.flush(deadline)
    }

    /// Sends one chunk of the body started by [`start`](Self::start).
    pub(crate) fn send(&self, data: bytes::Bytes) -> io::Result<()> {
        let mut c = lock(&self.conn);
        if c.current != Some(self.id) {
            return Err(io::Error::other("the request is no longer being answered"));
        }
        if let Err(e) = c.driver.machine_mut().send_data(data) {
            c.end_request(true);
            return Err(io::Error::other(e));
        }
        let deadline = c.deadline();
        c.driver.flush(deadline)
    }
}

/// One connection: its driver, and which request the handler works on.
struct Conn {
    driver: Driver<ServerConnection, Stream>,
    /// The request being answered; its body events go to its body.
    current: Option<RequestId>,
    /// The current request waits for `100 Continue` before its body.
    expects_continue: bool,
    /// Events taken from the machine that the connection loop still has to see.
    stash: VecDeque<ServerEvent>,
    io_timeout: Option<Duration>,
    closing: bool,
    /// The last request's body has not been seen to its end.
    unread_body: bool,
    /// A WebSocket accepted by the handler, riding on its `101`.
    upgrade: Option<crate::ws::PendingUpgrade>,
}

impl Conn {
    fn deadline(&self) -> Option<Instant> {
        self.io_timeout.map(|t| Instant::now() + t)
    }

    fn close(&mut self) {
        if !self.closing {
            self.closing = true;
            self.driver.machine_mut().close();
        }
    }

    fn end_request(&mut self, close: bool) {
        self.current = None;
        self.expects_continue = false;
        if close {
            self.close();
        }
    }

    /// The next piece of request `id`'s body, reading as needed.
    fn body_step(&mut self, id: RequestId) -> io::Result<Step> {
        loop {
            if self.current != Some(id) {
                return Err(io::Error::other(
                    "request body read after its response was finished",
                ));
            }
            match self.driver.machine_mut().poll_event() {
                Some(ServerEvent::Data { id: i, data }) if i == id => return Ok(Step::Data(data)),
                Some(ServerEvent::End { id: i, trailers }) if i == id => {
                    self.unread_body = false;
                    return Ok(Step::End(trailers));
                }
                Some(ServerEvent::Error(e)) => {
                    let err = io::Error::new(io::ErrorKind::InvalidData, e.clone());
                    self.stash.push_back(ServerEvent::Error(e));
                    return Err(err);
                }
                Some(other) => self.stash.push_back(other),
                None => {
                    if self.expects_continue {
                        // The handler wants the body: let the client send it.
                        // (A no-op once sent or once the response started.)
                        let _ = self.driver.machine_mut().send_continue();
                    }
                    let deadline = self.deadline();
                    match self.driver.wait(deadline) {
                        Ok(Wait::Deadline) => {
                            self.close();
                            return Err(io::Error::new(
                                io::ErrorKind::TimedOut,
                                "timed out reading the request body",
                            ));
                        }
                        Ok(Wait::Closed | Wait::Stalled) => {
                            return Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "connection closed before the request body ended",
                            ));
                        }
                        Ok(_) => {}
                        Err(e) => {
                            self.close();
                            return Err(e);
                        }
                    }
                }
            }
        }
    }
}

/// A request body's link to its connection.
pub(crate) struct BodySource {
    conn: Arc<Mutex<Conn>>,
    id: RequestId,
}

impl BodySource {
    /// A way to start this request's response before the handler returns.
    pub(crate) fn early_response(&self) -> EarlyResponse {
        EarlyResponse {
            conn: self.conn.clone(),
            id: self.id,
        }
    }

    pub(crate) fn next(&mut self) -> io::Result<Step> {
        lock(&self.conn).body_step(self.id)
    }

    /// Whether the client ended its side of the connection (or it
    /// failed), taking in the input already there without waiting: a
    /// gRPC-Web call takes it as the client hanging up, as the async
    /// server does. Input the machine does not want yet (a pipelined
    /// request filling its buffer) is left unread: no EOF seen then.
    pub(crate) fn is_peer_closed(&self) -> bool {
        let mut c = lock(&self.conn);
        if c.driver.poll_input().is_err() {
            return true;
        }
        c.driver.machine().is_peer_closed()
    }

    pub(crate) fn request_continue(&mut self) {
        let mut c = lock(&self.conn);
        if c.current == Some(self.id) && c.expects_continue {
            let _ = c.driver.machine_mut().send_continue();
        }
    }
}
