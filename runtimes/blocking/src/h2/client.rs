//! The blocking HTTP/2 client: one connection, many requests at once from
//! any number of threads.

use super::conn::{self, App, Inbox};
use super::send::{Outgoing, Sent};
use super::stream::{Dead, Reader, Shared, incoming_body};
use crate::{BlockingBody, Error, RequestBody};
use bytes::Bytes;
use http::{HeaderMap, Request, Response, header, request};
use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wirestate_h2::connection::{Connection, Event};
use wirestate_h2::frame::{ErrorCode, StreamId};
use wirestate_http1::BodySize;

/// Settings of a blocking HTTP/2 client connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The connection machine's settings: windows, limits, keep-alive.
    /// The default sends `:scheme: http` for URIs without a scheme (this
    /// is h2c, HTTP/2 over plain TCP).
    pub h2: wirestate_h2::connection::Config,
    /// Time allowed to establish the connection (over every resolved
    /// address). Default 10 s.
    pub connect_timeout: Duration,
    /// Time allowed from [`SendRequest::send`] to the response head,
    /// waiting for a free stream included. Default 30 s.
    pub request_timeout: Option<Duration>,
    /// Longest a read of a response body, or a write of a request body,
    /// may wait for the peer. `None` (the default) waits as long as it
    /// takes.
    pub io_timeout: Option<Duration>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        let mut h2 = wirestate_h2::connection::Config::default();
        h2.default_scheme = http::uri::Scheme::HTTP;
        Self {
            h2,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Some(Duration::from_secs(30)),
            io_timeout: None,
        }
    }
}

/// A request handed to the connection thread.
struct NewRequest {
    key: u64,
    head: request::Parts,
    end_stream: bool,
    shared: Arc<Shared>,
}

/// What the handles and the connection thread share.
#[derive(Default)]
struct Queue {
    requests: VecDeque<NewRequest>,
    /// [`SendRequest`] handles alive.
    handles: usize,
    /// No new requests: the connection failed, is going away, or is done.
    closed: bool,
    next_key: u64,
    /// The code and debug data of the peer's GOAWAY, if one came.
    goaway: Option<(ErrorCode, Bytes)>,
}

struct Inner {
    inbox: Arc<Inbox>,
    queue: Mutex<Queue>,
    config: ClientConfig,
    /// Over TLS.
    secure: bool,
}

impl Inner {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Opens an HTTP/2 connection to `addr` with prior knowledge (h2c: the
/// preface goes out first), with the default [`ClientConfig`].
///
/// ```no_run
/// use std::io::Read;
/// # fn main() -> Result<(), wirestate_blocking::Error> {
/// let send = wirestate_blocking::h2::connect("127.0.0.1:8080")?;
/// let req = http::Request::get("http://127.0.0.1:8080/")
///     .body(wirestate_blocking::RequestBody::empty())
///     .unwrap();
/// let mut res = send.send(req)?;
/// let mut text = String::new();
/// res.body_mut().read_to_string(&mut text)?;
/// # Ok(())
/// # }
/// ```
pub fn connect(addr: impl ToSocketAddrs) -> Result<SendRequest, Error> {
    connect_with(addr, ClientConfig::default())
}

/// Opens an HTTP/2 connection to `addr` with prior knowledge and `config`.
pub fn connect_with(addr: impl ToSocketAddrs, config: ClientConfig) -> Result<SendRequest, Error> {
    let deadline = Instant::now() + config.connect_timeout;
    handshake(connect_tcp(addr, deadline)?, config)
}

/// Starts HTTP/2 with prior knowledge over a connected `stream`: the
/// connection runs on a thread of its own (and a reader thread) until
/// every [`SendRequest`] handle is dropped and nothing is in flight, or
/// the connection fails.
pub fn handshake(stream: TcpStream, config: ClientConfig) -> Result<SendRequest, Error> {
    let _ = stream.set_nodelay(true);
    start(crate::transport::Stream::Tcp(stream), config)
}

/// Starts HTTP/2 over a TLS stream (feature `tls`), as [`handshake`] does
/// over TCP. The TLS handshake runs first if it has not yet (within the
/// connect timeout); check that the server agreed to ALPN `h2` before
/// (a server that did not will not speak HTTP/2), or use
/// [`connect_tls`], which does. URIs without a scheme are sent as `https`.
#[cfg(feature = "tls")]
pub fn handshake_tls(
    mut stream: crate::tls::TlsStream,
    mut config: ClientConfig,
) -> Result<SendRequest, Error> {
    let _ = stream.get_ref().set_nodelay(true);
    if stream.connection().is_handshaking() {
        // Before the reader thread starts: from then on the socket's
        // input is its to read.
        let deadline = Instant::now() + config.connect_timeout;
        stream.handshake(Some(deadline)).map_err(Error::io)?;
    }
    config.h2.default_scheme = http::uri::Scheme::HTTPS;
    start(crate::transport::Stream::Tls(Box::new(stream)), config)
}

/// Opens a TCP connection to `addr`, runs the TLS handshake with `tls`
/// (which must offer ALPN `h2`) checking the server's certificate against
/// `name`, and starts HTTP/2 on it (feature `tls`). The connect timeout
/// bounds the TCP connect and the TLS handshake together.
///
/// # Errors
///
/// The connection or the handshake failed, or the server did not agree to
/// HTTP/2 (`InvalidData`).
#[cfg(feature = "tls")]
pub fn connect_tls(
    addr: impl ToSocketAddrs,
    config: ClientConfig,
    tls: Arc<rustls::ClientConfig>,
    name: rustls::pki_types::ServerName<'static>,
) -> Result<SendRequest, Error> {
    let deadline = Instant::now() + config.connect_timeout;
    let tcp = connect_tcp(addr, deadline)?;
    let mut stream = crate::tls::TlsStream::client(tcp, tls, name)
        .map_err(|e| Error::Io(std::io::Error::other(e)))?;
    stream.handshake(Some(deadline)).map_err(Error::io)?;
    if stream.alpn_protocol() != Some(crate::tls::ALPN_H2) {
        return Err(Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the server did not agree to HTTP/2 over TLS (ALPN h2)",
        )));
    }
    handshake_tls(stream, config)
}

/// The first address of `addr` that accepts a TCP connection by `deadline`.
fn connect_tcp(addr: impl ToSocketAddrs, deadline: Instant) -> Result<TcpStream, Error> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs().map_err(Error::Io)?.collect();
    let mut last = Error::InvalidRequest("the address resolved to nothing".into());
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout);
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Error::io(e),
        }
    }
    Err(last)
}

fn start(stream: crate::transport::Stream, config: ClientConfig) -> Result<SendRequest, Error> {
    let secure = !matches!(stream, crate::transport::Stream::Tcp(_));
    let inner = Arc::new(Inner {
        secure,
        inbox: Arc::new(Inbox::default()),
        queue: Mutex::new(Queue {
            handles: 1,
            ..Queue::default()
        }),
        config,
    });
    let mut machine = Connection::client(inner.config.h2.clone());
    machine.start(Instant::now());
    let mut app = ClientApp {
        inner: inner.clone(),
        entries: HashMap::new(),
        by_id: HashMap::new(),
        waiting: VecDeque::new(),
        settings_known: false,
        closing: false,
        wake_at: None,
    };
    let io_timeout = inner.config.io_timeout;
    let inbox = inner.inbox.clone();
    std::thread::Builder::new()
        .name("wirestate-h2-conn".into())
        .spawn(move || {
            if let Err(e) = conn::drive(machine, stream, &inbox, &mut app, io_timeout) {
                tracing::debug!(error = %e, "http/2 connection ended with an error");
            }
        })
        .map_err(Error::Io)?;
    Ok(SendRequest { inner })
}

/// Sends requests on one HTTP/2 connection, from any number of threads at
/// once: each request is a stream. Cheap to clone; the connection closes
/// (GOAWAY) once every handle is dropped and nothing is in flight.
///
/// Request bodies in memory ([`RequestBody::full`]) are handed to the
/// connection whole; streamed ones (readers, chunk iterators) are pulled
/// on a thread of their own, as the server's windows allow, while the
/// caller waits for the response. Response bodies are read as the caller
/// reads them: flow-control credit goes back only then, so a slow reader
/// slows the server down instead of filling memory.
pub struct SendRequest {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SendRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("h2::SendRequest")
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Clone for SendRequest {
    fn clone(&self) -> Self {
        self.inner.queue().handles += 1;
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl Drop for SendRequest {
    fn drop(&mut self) {
        let last = {
            let mut q = self.inner.queue();
            q.handles = q.handles.saturating_sub(1);
            q.handles == 0
        };
        if last {
            self.inner.inbox.kick();
        }
    }
}

impl SendRequest {
    /// Whether the connection runs over TLS (`handshake_tls`): callers
    /// that build their own URIs (a gRPC channel) send `https` then.
    pub fn is_secure(&self) -> bool {
        self.inner.secure
    }

    /// Sends `req` and waits for the response head; the response body is
    /// read from the returned [`BlockingBody`] as it arrives (dropping it
    /// before its end cancels the stream).
    ///
    /// The URI must be absolute (`http://host/path`): its scheme and
    /// authority become `:scheme` and `:authority`. Requests beyond the
    /// server's concurrent-stream limit wait for a stream to end.
    /// [`Error::Aborted`] with `sent: false` means the server did not
    /// process the request (refused, or the connection is going away):
    /// safe to retry on a new connection.
    pub fn send(&self, req: Request<RequestBody>) -> Result<Response<BlockingBody>, Error> {
        let (mut head, mut body) = req.into_parts();
        if head.uri.authority().is_none() && !head.headers.contains_key(header::HOST) {
            return Err(Error::InvalidRequest(
                "the URI must be absolute (http://host/path)".into(),
            ));
        }
        let config = &self.inner.config;
        let deadline = config.request_timeout.map(|t| Instant::now() + t);
        let size = body.size();
        let end_stream = matches!(size, BodySize::Empty | BodySize::Exact(0));
        if let BodySize::Exact(n) = size {
            // The length, as HTTP/1.1 would announce it: servers may use it.
            if n > 0 && !head.headers.contains_key(header::CONTENT_LENGTH) {
                head.headers.insert(header::CONTENT_LENGTH, n.into());
            }
        }
        let key = {
            let mut q = self.inner.queue();
            if q.closed {
                return Err(Error::Aborted { sent: false });
            }
            q.next_key += 1;
            q.next_key
        };
        let shared = Shared::new(key, self.inner.inbox.clone());
        let mut upload = None;
        if !end_stream {
            if body.try_clone().is_some() {
                // Already in memory: handed over whole, no thread needed.
                let mut chunks = Vec::new();
                while let Some(chunk) = body.next_chunk().map_err(Error::Io)? {
                    chunks.push(chunk);
                }
                shared.push_all(chunks);
            } else {
                upload = Some(body);
            }
        }
        {
            let mut q = self.inner.queue();
            if q.closed {
                return Err(Error::Aborted { sent: false });
            }
            q.requests.push_back(NewRequest {
                key,
                head,
                end_stream,
                shared: shared.clone(),
            });
        }
        self.inner.inbox.kick();
        if let Some(body) = upload {
            let uploader = shared.clone();
            let io_timeout = config.io_timeout;
            let spawned = std::thread::Builder::new()
                .name("wirestate-h2-upload".into())
                .spawn(move || upload_body(body, &uploader, io_timeout));
            if let Err(e) = spawned {
                shared.fail_out();
                return Err(Error::Io(e));
            }
        }
        let (head, end) = shared.wait_head(deadline)?;
        let body = if end {
            BlockingBody::empty()
        } else {
            incoming_body(&head.headers, Reader::new(shared, config.io_timeout))
        };
        Ok(Response::from_parts(head, body))
    }

    /// Starts a request whose body the caller writes as it goes, without
    /// waiting for the response: the request head goes out at once, the
    /// returned [`RequestWriter`] sends the body (the stream's flow
    /// control paces it), and [`PendingResponse::wait`] waits for the
    /// response head when the caller wants it — before, during or after
    /// writing. This is what a bidirectional exchange needs (a gRPC
    /// streaming call), where the server may answer only once it has read
    /// some of the request.
    ///
    /// Dropping the writer before [`RequestWriter::finish`], or the
    /// pending response before its head arrived, cancels the stream
    /// (RST_STREAM CANCEL).
    pub fn send_streaming(
        &self,
        req: Request<()>,
    ) -> Result<(RequestWriter, PendingResponse), Error> {
        let (head, ()) = req.into_parts();
        if head.uri.authority().is_none() && !head.headers.contains_key(header::HOST) {
            return Err(Error::InvalidRequest(
                "the URI must be absolute (http://host/path)".into(),
            ));
        }
        let shared = {
            let mut q = self.inner.queue();
            if q.closed {
                return Err(Error::Aborted { sent: false });
            }
            q.next_key += 1;
            let key = q.next_key;
            let shared = Shared::new(key, self.inner.inbox.clone());
            q.requests.push_back(NewRequest {
                key,
                head,
                end_stream: false,
                shared: shared.clone(),
            });
            shared
        };
        self.inner.inbox.kick();
        let io_timeout = self.inner.config.io_timeout;
        let request_timeout = self.inner.config.request_timeout;
        Ok((
            RequestWriter {
                shared: shared.clone(),
                io_timeout,
                done: false,
            },
            PendingResponse {
                shared,
                io_timeout,
                request_timeout,
                taken: false,
            },
        ))
    }

    /// Whether the connection takes no more requests (it failed, received
    /// GOAWAY, or ended).
    pub fn is_closed(&self) -> bool {
        self.inner.queue().closed
    }

    /// The error code and debug data of the GOAWAY the server sent, if
    /// it sent one: why the connection went away (a gRPC channel backs
    /// off its keep-alive on ENHANCE_YOUR_CALM `too_many_pings`).
    pub fn go_away_reason(&self) -> Option<(ErrorCode, Bytes)> {
        self.inner.queue().goaway.clone()
    }
}

/// Marks a stream given up on: the connection thread resets it (CANCEL),
/// or drops it before it is opened.
fn cancel(shared: &Shared) {
    shared.lock().cancelled = true;
    shared.notify_connection();
}

/// The body of a request started with [`SendRequest::send_streaming`],
/// written by the caller chunk by chunk.
#[derive(Debug)]
pub struct RequestWriter {
    shared: Arc<Shared>,
    io_timeout: Option<Duration>,
    done: bool,
}

impl RequestWriter {
    /// Queues a chunk of the body, waiting while 64 KiB are already queued
    /// (the peer's windows are closed), at most the connection's
    /// `io_timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`]; [`Error::Io`] once the stream is over (the
    /// server answered and reset it, or the connection failed).
    pub fn send(&mut self, chunk: Bytes) -> Result<(), Error> {
        let deadline = self.io_timeout.map(|t| Instant::now() + t);
        self.send_until(chunk, deadline)
    }

    /// Queues a chunk of the body, waiting for room until `deadline` at
    /// most (`None`: as long as it takes).
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send).
    pub fn send_until(&mut self, chunk: Bytes, deadline: Option<Instant>) -> Result<(), Error> {
        self.shared.push(chunk, deadline).map_err(Error::io)
    }

    /// Queues chunks of the body at once, however much is queued already:
    /// for chunks the caller holds in memory anyway (a retried gRPC call's
    /// replay), which the queue then only shares. They go out as the
    /// windows allow; a later [`send`](Self::send) waits for them.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] once the stream is over.
    pub(crate) fn send_held(&mut self, chunks: &[Bytes]) -> Result<(), Error> {
        self.shared.push_held(chunks).map_err(Error::io)
    }

    /// Ends the body (END_STREAM), with trailers if any.
    pub fn finish(mut self, trailers: Option<HeaderMap>) {
        self.done = true;
        self.shared.finish_out(trailers);
    }

    /// Gives the request up: the stream is reset (CANCEL). Dropping the
    /// writer unfinished does the same.
    pub fn cancel(mut self) {
        self.done = true;
        cancel(&self.shared);
    }
}

impl Drop for RequestWriter {
    fn drop(&mut self) {
        if !self.done {
            cancel(&self.shared);
        }
    }
}

/// The response to a request started with [`SendRequest::send_streaming`].
#[derive(Debug)]
pub struct PendingResponse {
    shared: Arc<Shared>,
    io_timeout: Option<Duration>,
    request_timeout: Option<Duration>,
    taken: bool,
}

impl PendingResponse {
    /// Waits for the response head, at most the connection's
    /// `request_timeout`; its body is read as it arrives.
    ///
    /// # Errors
    ///
    /// As [`SendRequest::send`].
    pub fn wait(self) -> Result<Response<BlockingBody>, Error> {
        let deadline = self.request_timeout.map(|t| Instant::now() + t);
        self.take(deadline, None)
    }

    /// Waits for the response head until `deadline` at most (`None`: as
    /// long as it takes), and reads its body with the same deadline: a
    /// read still waiting then fails with `TimedOut` (a call's deadline
    /// covers the whole exchange). A head not there in time cancels the
    /// stream ([`Error::Timeout`]).
    ///
    /// # Errors
    ///
    /// As [`SendRequest::send`].
    pub fn wait_until(self, deadline: Option<Instant>) -> Result<Response<BlockingBody>, Error> {
        self.take(deadline, deadline)
    }

    fn take(
        mut self,
        head_deadline: Option<Instant>,
        body_deadline: Option<Instant>,
    ) -> Result<Response<BlockingBody>, Error> {
        self.taken = true;
        let (head, end) = self.shared.wait_head(head_deadline)?;
        let body = if end {
            BlockingBody::empty()
        } else {
            let reader =
                Reader::new(self.shared.clone(), self.io_timeout).with_deadline(body_deadline);
            incoming_body(&head.headers, reader)
        };
        Ok(Response::from_parts(head, body))
    }
}

impl PendingResponse {
    /// A handle that resets the stream (CANCEL) from another thread —
    /// the one waiting here then fails — for a hedged gRPC call to cancel
    /// the attempts that lost.
    pub(crate) fn canceller(&self) -> Canceller {
        Canceller(self.shared.clone())
    }
}

/// Resets one request's stream from any thread (see
/// [`PendingResponse::canceller`]).
#[derive(Debug, Clone)]
pub(crate) struct Canceller(Arc<Shared>);

impl Canceller {
    /// Gives the request up: its stream is reset with CANCEL (nothing
    /// happens if it already ended), and whoever waits on it wakes.
    pub(crate) fn cancel(&self) {
        cancel(&self.0);
    }
}

impl Drop for PendingResponse {
    fn drop(&mut self) {
        if !self.taken {
            cancel(&self.shared);
        }
    }
}

/// Pulls a streamed request body into its stream's queue.
fn upload_body(mut body: RequestBody, shared: &Shared, io_timeout: Option<Duration>) {
    loop {
        match body.next_chunk() {
            Ok(Some(chunk)) => {
                let deadline = io_timeout.map(|t| Instant::now() + t);
                if let Err(e) = shared.push(chunk, deadline) {
                    tracing::debug!(error = %e, "request body not sent");
                    return;
                }
            }
            Ok(None) => return shared.finish_out(body.trailers()),
            Err(e) => {
                tracing::debug!(error = %e, "request body failed");
                return shared.fail_out();
            }
        }
    }
}

/// One request, queued or in flight.
struct Entry {
    shared: Arc<Shared>,
    /// Its stream, once opened.
    id: Option<StreamId>,
    /// The request body going out.
    out: Option<Outgoing>,
    /// The response head arrived.
    head_seen: bool,
    /// The server is still sending the response body.
    in_open: bool,
    /// Response bytes received and not yet given back as credit.
    unreleased: usize,
}

/// The connection thread's view of the requests.
struct ClientApp {
    inner: Arc<Inner>,
    entries: HashMap<u64, Entry>,
    by_id: HashMap<StreamId, u64>,
    /// Requests waiting for a stream (the server's concurrency limit).
    waiting: VecDeque<(u64, request::Parts, bool)>,
    /// The server's first SETTINGS arrived: its concurrent-stream limit is
    /// known. Until then one stream at a time is opened, so a burst of
    /// requests on a new connection is not refused past a limit the
    /// client has not yet heard of.
    settings_known: bool,
    /// Every handle is gone and GOAWAY was sent.
    closing: bool,
    /// The earliest time a held request piece is due (see `Sent::Held`).
    wake_at: Option<Instant>,
}

impl ClientApp {
    fn entry(&mut self, stream: StreamId) -> Option<&mut Entry> {
        let key = self.by_id.get(&stream)?;
        self.entries.get_mut(key)
    }

    fn remove(&mut self, stream: StreamId) -> Option<Entry> {
        let key = self.by_id.remove(&stream)?;
        self.entries.remove(&key)
    }

    fn fail_all(&mut self, why: &Dead) {
        let queued: Vec<NewRequest> = {
            let mut q = self.inner.queue();
            q.closed = true;
            q.requests.drain(..).collect()
        };
        for r in queued {
            r.shared.kill(Dead::Unprocessed);
        }
        for (key, _, _) in self.waiting.drain(..) {
            if let Some(e) = self.entries.remove(&key) {
                e.shared.kill(Dead::Unprocessed);
            }
        }
        for (_, e) in self.entries.drain() {
            e.shared.kill(why.clone());
        }
        self.by_id.clear();
    }

    /// Opens streams for waiting requests while the server allows.
    fn open_streams(&mut self, m: &mut Connection) {
        if !m.is_open() {
            // GOAWAY either way: nothing new goes out; retryable.
            for (key, _, _) in self.waiting.drain(..) {
                if let Some(e) = self.entries.remove(&key) {
                    e.shared.kill(Dead::Unprocessed);
                }
            }
            return;
        }
        while m.can_open_stream() && (self.settings_known || self.by_id.is_empty()) {
            let Some((key, head, end_stream)) = self.waiting.pop_front() else {
                break;
            };
            let cancelled = match self.entries.get(&key) {
                Some(e) => e.shared.lock().cancelled,
                None => continue,
            };
            if cancelled {
                if let Some(e) = self.entries.remove(&key) {
                    e.shared.kill(Dead::Done);
                }
                continue;
            }
            let Some(e) = self.entries.get_mut(&key) else {
                continue;
            };
            match m.send_request(head, end_stream) {
                Ok(stream) => {
                    e.id = Some(stream);
                    e.in_open = true;
                    if !end_stream {
                        e.out = Some(Outgoing::default());
                    }
                    self.by_id.insert(stream, key);
                }
                Err(err) => {
                    let why = if err.kind() == wirestate_machine::ErrorKind::Usage {
                        Dead::Invalid(err.to_string())
                    } else {
                        // Nothing went out (a limit, or the connection
                        // ending): safe to retry elsewhere.
                        tracing::debug!(error = %err, "request not sent");
                        Dead::Unprocessed
                    };
                    if let Some(e) = self.entries.remove(&key) {
                        e.shared.kill(why);
                    }
                }
            }
        }
    }
}

impl App for ClientApp {
    fn on_event(&mut self, m: &mut Connection, ev: Event) {
        if matches!(ev, Event::RemoteSettings(_)) {
            self.settings_known = true;
        }
        match ev {
            Event::Response {
                stream,
                head,
                end_stream,
            } => {
                if let Some(e) = self.entry(stream) {
                    e.head_seen = true;
                    let mut st = e.shared.lock();
                    st.head = Some((head, end_stream));
                    if end_stream {
                        st.in_end = Some(None);
                        e.in_open = false;
                    }
                    drop(st);
                    e.shared.wake();
                }
            }
            Event::Data {
                stream,
                data,
                end_stream,
                flow_len,
            } => {
                let padding = flow_len.saturating_sub(data.len());
                if padding > 0 {
                    let _ = m.release_capacity(stream, padding);
                }
                match self.entry(stream) {
                    Some(e) if e.in_open => {
                        if let Some(out) = &mut e.out {
                            out.peer_sent();
                        }
                        let mut st = e.shared.lock();
                        if st.in_dropped {
                            let _ = m.release_capacity(stream, data.len());
                        } else {
                            e.unreleased += data.len();
                            st.in_queue.push_back(data);
                        }
                        if end_stream {
                            st.in_end = Some(None);
                            e.in_open = false;
                        }
                        drop(st);
                        e.shared.wake();
                    }
                    _ => {
                        let _ = m.release_capacity(stream, data.len());
                    }
                }
            }
            Event::Trailers { stream, trailers } => {
                if let Some(e) = self.entry(stream) {
                    if e.in_open {
                        e.in_open = false;
                        e.shared.lock().in_end = Some(Some(trailers));
                        e.shared.wake();
                    }
                }
            }
            Event::Reset {
                stream,
                code,
                remote,
            } => {
                if let Some(e) = self.remove(stream) {
                    // Our machine's only CANCEL is for a response header
                    // section over our limit: the request was processed,
                    // so neither a refusal nor a cancellation of ours (see
                    // `Event::Reset`).
                    e.shared.kill(if !remote && code == ErrorCode::CANCEL {
                        Dead::HeadersTooLarge
                    } else {
                        Dead::Reset(code)
                    });
                }
            }
            Event::StreamRefused { stream } => {
                // Above the server's GOAWAY last-stream-id: never processed.
                if let Some(e) = self.remove(stream) {
                    e.shared.kill(Dead::AboveGoAway);
                }
            }
            Event::GoAway { code, debug, .. } => {
                // Streams below the last id finish; nothing new goes out.
                let mut q = self.inner.queue();
                q.closed = true;
                q.goaway = Some((code, debug));
            }
            Event::Error(err) => {
                tracing::debug!(error = %err, "http/2 connection error");
                self.fail_all(&Dead::H2(err));
            }
            _ => {}
        }
    }

    fn step(&mut self, m: &mut Connection, _ready: &[u64], now: Instant) {
        let (new, handles) = {
            let mut q = self.inner.queue();
            let new: Vec<NewRequest> = q.requests.drain(..).collect();
            (new, q.handles)
        };
        for r in new {
            self.entries.insert(
                r.key,
                Entry {
                    shared: r.shared,
                    id: None,
                    out: None,
                    head_seen: false,
                    in_open: false,
                    unreleased: 0,
                },
            );
            self.waiting.push_back((r.key, r.head, r.end_stream));
        }
        self.open_streams(m);
        let mut finished = Vec::new();
        self.wake_at = None;
        for (&key, e) in self.entries.iter_mut() {
            let Some(stream) = e.id else {
                continue;
            };
            let (credit, cancelled) = {
                let mut st = e.shared.lock();
                let mut credit = std::mem::take(&mut st.consumed);
                if st.in_dropped {
                    credit += st.in_queue.drain(..).map(|c| c.len()).sum::<usize>();
                }
                (credit, st.cancelled || (st.in_dropped && e.in_open))
            };
            // Credit for what the reader took from the response body.
            let credit = credit.min(e.unreleased);
            if credit > 0 {
                e.unreleased -= credit;
                let _ = m.release_capacity(stream, credit);
            }
            if cancelled {
                // Given up on, or the response body dropped before its end.
                let _ = m.reset(stream, ErrorCode::CANCEL);
                finished.push((key, stream));
                continue;
            }
            if let Some(out) = &mut e.out {
                match out.send(&e.shared, m, stream, now) {
                    Sent::Done => e.out = None,
                    Sent::Failed => {
                        // The request body failed and the stream is reset:
                        // no response will come, so the caller (waiting
                        // for the head, or reading the body) hears it now.
                        e.shared.kill(Dead::BodyFailed);
                        let _ = m.release_capacity(stream, e.unreleased);
                        finished.push((key, stream));
                        continue;
                    }
                    Sent::Held(t) => self.wake_at = Some(self.wake_at.map_or(t, |w| w.min(t))),
                    Sent::Pending => {}
                }
            }
            if e.out.is_none() && e.head_seen && !e.in_open && e.unreleased == 0 {
                finished.push((key, stream));
            }
        }
        for (key, stream) in finished {
            self.by_id.remove(&stream);
            if let Some(e) = self.entries.remove(&key) {
                e.shared.kill(Dead::Done);
            }
        }
        if handles == 0 && !self.closing && self.entries.is_empty() && self.waiting.is_empty() {
            // Nobody will send again and nothing is in flight.
            self.closing = true;
            self.inner.queue().closed = true;
            let _ = m.close(ErrorCode::NO_ERROR, b"");
        }
    }

    fn wake_at(&self) -> Option<Instant> {
        self.wake_at
    }

    fn end(&mut self) {
        self.fail_all(&Dead::Closed);
    }
}
