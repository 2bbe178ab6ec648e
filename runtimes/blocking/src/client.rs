//! The blocking HTTP/1.1 client with a keep-alive pool per origin.

use crate::body::{Source, Step};
use crate::transport::Stream;
use crate::{BlockingBody, Driver, Error, RequestBody, Wait};
use http::{Request, Response, Uri, request};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wirestate_http1::policy::Retry;
use wirestate_http1::{BodyKind, ClientConnection, ClientEvent, RequestId};
use wirestate_machine::Machine;

/// Settings of the blocking [`Client`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The connection machine's settings.
    pub http1: wirestate_http1::ClientConfig,
    /// Time allowed to establish a connection (over every resolved address).
    pub connect_timeout: Duration,
    /// Time allowed from sending a request (its body included) to its
    /// response head.
    pub request_timeout: Option<Duration>,
    /// How long an idle pooled connection is kept.
    pub idle_timeout: Duration,
    /// Most idle connections kept per origin.
    pub max_idle_per_host: usize,
    /// When and how long to retry a failed request (see [`Retry`]).
    pub retry: Retry,
    /// Longest a read of the response body may wait for the server.
    /// `None` (the default, as in the async clients) waits as long as the
    /// server takes.
    pub io_timeout: Option<Duration>,
    /// TLS for `https://` URLs (feature `tls`): `None` trusts the Mozilla
    /// roots ([`tls::webpki_roots`](crate::tls::webpki_roots)) and offers
    /// ALPN `http/1.1`. A config of your own should offer `http/1.1` too
    /// (or nothing): this client speaks no HTTP/2. The TLS handshake is
    /// part of the connect, bounded by `connect_timeout`.
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            http1: Default::default(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Duration::from_secs(90),
            max_idle_per_host: 32,
            retry: Retry::default(),
            io_timeout: None,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

/// Host, port, and whether it is `https`.
type Origin = (String, u16, bool);

struct Idle {
    conn: Conn,
    since: Instant,
}

struct Inner {
    config: ClientConfig,
    pool: Mutex<HashMap<Origin, Vec<Idle>>>,
    /// The `host:port` every origin's connections go to, whatever host
    /// the origin names (a gRPC-Web channel's pool: its URIs name the
    /// host the certificate must carry, its connections go to the
    /// channel's address).
    pinned: Option<String>,
    /// The TLS config `https://` connections use.
    #[cfg(feature = "tls")]
    tls: Arc<rustls::ClientConfig>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A blocking HTTP/1.1 client with a keep-alive connection pool per
/// origin, connect and request timeouts, and retries with exponential
/// backoff and full jitter. Cheap to clone; clones share the pool.
///
/// A request is sent whole (its body streamed from the [`RequestBody`])
/// before the response is read, on the calling thread; the response body
/// is read from the connection as the caller reads it, and the connection
/// goes back to the pool once the body was read to its end.
///
/// `http://` URLs, and `https://` with the `tls` feature (see
/// `ClientConfig::tls`); others are an [`Error::InvalidRequest`].
///
/// ```no_run
/// use std::io::Read;
/// # fn main() -> Result<(), wirestate_blocking::Error> {
/// let client = wirestate_blocking::Client::default();
/// let mut res = client.get("http://127.0.0.1:8080/")?;
/// let mut text = String::new();
/// res.body_mut().read_to_string(&mut text)?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .finish()
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::new(ClientConfig::default())
    }
}

fn origin_of(uri: &Uri) -> Result<Origin, Error> {
    let origin = wirestate_http1::policy::secure_origin(uri);
    match origin.map_err(|e| Error::InvalidRequest(e.to_string()))? {
        (_, _, true) if cfg!(not(feature = "tls")) => Err(Error::InvalidRequest(
            "https:// needs wirestate-blocking's `tls` feature".into(),
        )),
        origin => Ok(origin),
    }
}

/// An I/O failure while sending: timeouts are [`Error::Timeout`], and a
/// failure before any byte left is a retry-safe abort.
fn io_failure(e: io::Error, sent: bool) -> Error {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Error::Timeout,
        _ if !sent => Error::Aborted { sent: false },
        _ => Error::Io(e),
    }
}

/// A failed attempt and whether any of the request may have left.
type Failure = (Error, bool);

impl Client {
    /// A client with its own pool.
    pub fn new(config: ClientConfig) -> Self {
        Self::with_pinned(config, None)
    }

    /// A client whose connections all go to `pinned` (a `host:port`, if
    /// set) instead of the addresses the requests' hosts resolve to.
    pub(crate) fn with_pinned(config: ClientConfig, pinned: Option<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                #[cfg(feature = "tls")]
                tls: config
                    .tls
                    .clone()
                    .unwrap_or_else(crate::tls::default_http1_client_config),
                config,
                pool: Mutex::default(),
                pinned,
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Idle connections in the pool, over every origin.
    pub fn idle_connections(&self) -> usize {
        lock(&self.inner.pool).values().map(Vec::len).sum()
    }

    /// `GET uri`.
    pub fn get(&self, uri: &str) -> Result<Response<BlockingBody>, Error> {
        let req = Request::get(uri)
            .body(RequestBody::empty())
            .map_err(|e| Error::InvalidRequest(e.to_string()))?;
        self.request(req)
    }

    /// Sends `req` on a pooled (or new) connection and returns once the
    /// response head arrived. The connection returns to the pool once the
    /// response body has been read to its end (dropping the body before
    /// that closes the connection).
    ///
    /// Failures are retried as [`ClientConfig::retry`] describes.
    pub fn request(&self, req: Request<RequestBody>) -> Result<Response<BlockingBody>, Error> {
        self.request_until(req, None)
    }

    /// [`request`](Self::request), with everything — sending, the response
    /// head, reading the body — bounded by `deadline` as well as by the
    /// configured timeouts (a gRPC-Web call's deadline): past it a wait
    /// fails with [`Error::Timeout`], a body read with `TimedOut`.
    pub(crate) fn request_until(
        &self,
        req: Request<RequestBody>,
        deadline: Option<Instant>,
    ) -> Result<Response<BlockingBody>, Error> {
        let origin = origin_of(req.uri())?;
        let idempotent = wirestate_http1::policy::is_idempotent(req.method());
        let (parts, body) = req.into_parts();
        let replay = body.try_clone();
        let mut pending = Some(body);
        let config = &self.inner.config;
        let mut attempt = 0;
        loop {
            let (err, sent) = match self.attempt(&origin, &parts, &mut pending, deadline) {
                Ok(res) => return Ok(res),
                Err(failure) => failure,
            };
            if pending.is_none() {
                pending = replay.as_ref().and_then(RequestBody::try_clone);
            }
            let may_retry = config.retry.allows(
                attempt,
                pending.is_some(),
                !sent || err.is_unsent(),
                idempotent,
                err.is_retryable(),
            );
            if !may_retry {
                return Err(err);
            }
            let delay = config.retry.delay(attempt, fastrand::f64());
            if deadline.is_some_and(|d| Instant::now() + delay >= d) {
                return Err(err);
            }
            tracing::debug!(attempt, ?delay, error = %err, "retrying request");
            std::thread::sleep(delay);
            attempt += 1;
        }
    }

    /// One try. The body stays in `body` unless sending it began.
    fn attempt(
        &self,
        origin: &Origin,
        parts: &request::Parts,
        body: &mut Option<RequestBody>,
        until: Option<Instant>,
    ) -> Result<Response<BlockingBody>, Failure> {
        let mut conn = match self.checkout(origin) {
            Some(c) => c,
            None => self.connect(origin).map_err(|e| (e, false))?,
        };
        let deadline = self
            .inner
            .config
            .request_timeout
            .map(|t| Instant::now() + t);
        let deadline = match (deadline, until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let head = conn.send(parts.clone(), body, deadline)?;
        let mut source = BodySource {
            deadline: until,
            conn: Some(conn),
            id: head.id,
            client: self.inner.clone(),
            origin: origin.clone(),
        };
        let body = if head.body == BodyKind::Empty {
            // Its end is already queued: the connection is free again.
            let _ = source.next();
            BlockingBody::empty()
        } else {
            BlockingBody::new(Source::Client(Box::new(source)), head.body)
        };
        Ok(Response::from_parts(head.head, body))
    }

    /// An idle pooled connection to `origin` that is still open.
    fn checkout(&self, origin: &Origin) -> Option<Conn> {
        let now = Instant::now();
        loop {
            let entry = {
                let mut pool = lock(&self.inner.pool);
                let idle = pool.get_mut(origin)?;
                // Most recently used first: the least likely to have been closed.
                let entry = idle.pop()?;
                if now.duration_since(entry.since) >= self.inner.config.idle_timeout {
                    // Everything older expired too.
                    idle.clear();
                    return None;
                }
                entry
            };
            let mut conn = entry.conn;
            // Notice a close (or stray bytes) that arrived while it sat idle;
            // a close racing with the request is left to the retries.
            if conn.driver.poll_input().is_ok() && conn.is_reusable() {
                return Some(conn);
            }
            tracing::debug!("dropping a pooled connection the server closed");
        }
    }

    /// Returns a connection whose response ended to the pool.
    fn checkin(inner: &Inner, origin: Origin, conn: Conn) {
        if !conn.is_reusable() {
            return;
        }
        let mut pool = lock(&inner.pool);
        let idle = pool.entry(origin).or_default();
        if idle.len() < inner.config.max_idle_per_host {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    fn connect(&self, origin: &Origin) -> Result<Conn, Error> {
        let config = &self.inner.config;
        let addrs: Vec<SocketAddr> = match &self.inner.pinned {
            Some(addr) => addr.as_str().to_socket_addrs(),
            None => (origin.0.as_str(), origin.1).to_socket_addrs(),
        }
        .map_err(Error::Io)?
        .collect();
        let deadline = Instant::now() + config.connect_timeout;
        let mut last = Error::InvalidRequest(format!("{} resolved to no address", origin.0));
        for addr in addrs {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout);
            }
            match TcpStream::connect_timeout(&addr, left) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    let stream = self.secure(origin, stream, deadline)?;
                    let machine = ClientConnection::new(config.http1.clone(), Instant::now());
                    return Ok(Conn {
                        driver: Driver::new(machine, stream),
                        stash: VecDeque::new(),
                        io_timeout: config.io_timeout,
                    });
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                    ) =>
                {
                    return Err(Error::Timeout);
                }
                Err(e) => last = Error::Io(e),
            }
        }
        Err(last)
    }

    /// The connection's stream: TLS for an `https` origin, its handshake
    /// done by `deadline` (a certificate refused is an [`Error::Io`]).
    fn secure(&self, origin: &Origin, tcp: TcpStream, deadline: Instant) -> Result<Stream, Error> {
        #[cfg(feature = "tls")]
        if origin.2 {
            let name = crate::tls::server_name(&origin.0).map_err(Error::Io)?;
            let mut tls = crate::tls::TlsStream::client(tcp, self.inner.tls.clone(), name)
                .map_err(|e| Error::Io(io::Error::other(e)))?;
            tls.handshake(Some(deadline)).map_err(Error::io)?;
            return Ok(Stream::Tls(Box::new(tls)));
        }
        let _ = (origin, deadline);
        Ok(Stream::Tcp(tcp))
    }
}

/// One client connection.
struct Conn {
    driver: Driver<ClientConnection, Stream>,
    /// Events read ahead (while a held body waited for `100 Continue`).
    stash: VecDeque<ClientEvent>,
    io_timeout: Option<Duration>,
}

impl Conn {
    fn is_reusable(&self) -> bool {
        self.stash.is_empty()
            && !self.driver.is_read_closed()
            && self.driver.machine().is_reusable()
    }

    fn next_event(&mut self) -> Option<ClientEvent> {
        self.stash
            .pop_front()
            .or_else(|| self.driver.machine_mut().poll_event())
    }

    /// Sends the request (its body whole) and waits for the response head.
    fn send(
        &mut self,
        parts: request::Parts,
        body: &mut Option<RequestBody>,
        deadline: Option<Instant>,
    ) -> Result<wirestate_http1::Response, Failure> {
        let before = self.driver.bytes_written();
        let mut out = body.take().unwrap_or_default();
        let id = match self.driver.machine_mut().send_request(parts, out.size()) {
            Ok(id) => id,
            Err(wirestate_http1::Error::Closed) => {
                *body = Some(out);
                return Err((Error::Aborted { sent: false }, false));
            }
            Err(e) => {
                *body = Some(out);
                return Err((Error::Http(e), false));
            }
        };
        let result = self.upload(&mut out, deadline, before);
        let sent = self.driver.bytes_written() > before;
        if let Err(e) = result {
            // A server may answer before it has read the whole body (413,
            // 401, a redirect) and close, which fails our next write; its
            // answer is still in the receive buffer (Go's net/http does so
            // past 256 KiB unread, where nginx reads the rest and discards
            // it). Read it rather than report the write failure.
            if sent && matches!(e, Error::Io(_) | Error::Aborted { .. }) {
                self.driver.abandon_output();
                if let Ok(head) = self.await_head(id, deadline, before) {
                    return Ok(head);
                }
            }
            return Err((e, sent));
        }
        self.await_head(id, deadline, before)
    }

    /// Streams the request body into the machine, writing as its buffer fills.
    fn upload(
        &mut self,
        out: &mut RequestBody,
        deadline: Option<Instant>,
        before: u64,
    ) -> Result<(), Error> {
        loop {
            let m = self.driver.machine_mut();
            // Not (or no longer) sending: no body, or a final response came
            // before `100 Continue` and the body is not wanted.
            if !m.is_sending_body() {
                return Ok(());
            }
            if m.is_send_buffer_full() {
                // Whether anything left is known after the write, which may
                // fail half-way (a request partly sent is not retried).
                self.driver
                    .flush(deadline)
                    .map_err(|e| io_failure(e, self.driver.bytes_written() > before))?;
                // Still full: the body is held behind `Expect: 100-continue`
                // until the server answers or the machine's timer fires.
                while self.driver.machine().is_send_buffer_full()
                    && self.driver.machine().is_sending_body()
                {
                    self.pump(deadline, before)?;
                }
                continue;
            }
            match out.next_chunk() {
                Ok(Some(chunk)) => {
                    if let Err(e) = m.send_data(chunk) {
                        m.close();
                        return Err(Error::Http(e));
                    }
                }
                Ok(None) => {
                    let trailers = out.trailers();
                    if let Err(e) = m.finish(trailers) {
                        m.close();
                        return Err(Error::Http(e));
                    }
                    return Ok(());
                }
                Err(e) => {
                    tracing::debug!(error = %e, "request body failed");
                    m.close();
                    return Err(Error::Io(e));
                }
            }
        }
    }

    /// One wait on the connection, keeping the events it produced.
    fn pump(&mut self, deadline: Option<Instant>, before: u64) -> Result<(), Error> {
        let waited = self.driver.wait(deadline);
        let sent = self.driver.bytes_written() > before;
        while let Some(ev) = self.driver.machine_mut().poll_event() {
            self.stash.push_back(ev);
        }
        match waited {
            Ok(Wait::Deadline) => {
                self.driver.machine_mut().close();
                Err(Error::Timeout)
            }
            Ok(Wait::Closed | Wait::Stalled) => Err(Error::Aborted { sent }),
            Ok(_) => Ok(()),
            Err(e) => Err(io_failure(e, sent)),
        }
    }

    fn await_head(
        &mut self,
        id: RequestId,
        deadline: Option<Instant>,
        before: u64,
    ) -> Result<wirestate_http1::Response, Failure> {
        loop {
            let sent = self.driver.bytes_written() > before;
            while let Some(ev) = self.next_event() {
                match ev {
                    ClientEvent::Response(r) if r.id == id => return Ok(r),
                    ClientEvent::Aborted { id: i } if i == id => {
                        return Err((Error::Aborted { sent }, sent));
                    }
                    ClientEvent::Error(e) => return Err((Error::Http(e), sent)),
                    // 1xx, and anything about other requests.
                    _ => {}
                }
            }
            let waited = self.driver.wait(deadline);
            let sent = self.driver.bytes_written() > before;
            match waited {
                Ok(Wait::Deadline) => {
                    self.driver.machine_mut().close();
                    return Err((Error::Timeout, sent));
                }
                Ok(Wait::Closed | Wait::Stalled) => {
                    // Any `Aborted` event is still queued; if not, the
                    // connection simply ended without an answer.
                    if let Some(ev) = self.driver.machine_mut().poll_event() {
                        self.stash.push_back(ev);
                        continue;
                    }
                    return Err((Error::Aborted { sent }, sent));
                }
                Ok(_) => {}
                Err(e) => return Err((io_failure(e, sent), sent)),
            }
        }
    }
}

/// A response body's hold on its connection.
pub(crate) struct BodySource {
    /// The request's own deadline (see [`Client::request_until`]).
    deadline: Option<Instant>,
    conn: Option<Conn>,
    id: RequestId,
    client: Arc<Inner>,
    origin: Origin,
}

impl BodySource {
    /// A second handle on the connection's socket (see
    /// [`BlockingBody::socket`](crate::BlockingBody)).
    pub(crate) fn socket(&self) -> Option<TcpStream> {
        self.conn.as_ref()?.driver.stream().tcp().try_clone().ok()
    }

    /// Lifts the request's own deadline from the rest of the body.
    pub(crate) fn clear_deadline(&mut self) {
        self.deadline = None;
    }

    /// Bounds the reads of the rest of the body by `deadline` too.
    pub(crate) fn set_deadline(&mut self, deadline: Option<Instant>) {
        if deadline.is_some() {
            self.deadline = deadline;
        }
    }

    pub(crate) fn next(&mut self) -> io::Result<Step> {
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Err(io::Error::other("the response's connection is gone"));
            };
            match conn.next_event() {
                Some(ClientEvent::Data { id, data }) if id == self.id => {
                    return Ok(Step::Data(data));
                }
                Some(ClientEvent::End { id, trailers }) if id == self.id => {
                    if let Some(conn) = self.conn.take() {
                        Client::checkin(&self.client, self.origin.clone(), conn);
                    }
                    return Ok(Step::End(trailers));
                }
                Some(ClientEvent::Error(e)) => {
                    self.conn = None;
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
                Some(ClientEvent::Aborted { .. }) => {
                    self.conn = None;
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed before the response body ended",
                    ));
                }
                Some(_) => {}
                None => {
                    let deadline = conn.io_timeout.map(|t| Instant::now() + t);
                    let deadline = match (deadline, self.deadline) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    let failure = match conn.driver.wait(deadline) {
                        Ok(Wait::Deadline) => io::Error::new(
                            io::ErrorKind::TimedOut,
                            "timed out reading the response body",
                        ),
                        Ok(Wait::Closed | Wait::Stalled) => {
                            // A final event may still be queued.
                            match conn.driver.machine_mut().poll_event() {
                                Some(ev) => {
                                    conn.stash.push_back(ev);
                                    continue;
                                }
                                None => io::Error::new(
                                    io::ErrorKind::UnexpectedEof,
                                    "connection closed before the response body ended",
                                ),
                            }
                        }
                        Ok(_) => continue,
                        Err(e) => e,
                    };
                    self.conn = None;
                    return Err(failure);
                }
            }
        }
    }
}
