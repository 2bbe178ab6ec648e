//! WebSocket (RFC 6455, RFC 7692) over blocking `std::net` sockets.
//!
//! * Client: [`connect`] (or [`connect_with`]) opens the TCP connection,
//!   runs the opening handshake and returns a [`WebSocket`].
//! * Server: inside a [`Server`](crate::Server) handler, [`upgrade`]
//!   answers the handshake; once the `101` is written the connection's
//!   thread calls your callback with the [`WebSocket`].
//!
//! A [`WebSocket`] is a cheap-to-clone handle: one thread can block in
//! [`recv`](WebSocket::recv) while others [`send`](WebSocket::send). The
//! machine sits behind a mutex, taken briefly by each call — and held by
//! a sender while its frame is written, so a peer that stops reading
//! blocks senders (back-pressure) and, once it has read a frame, the reader
//! too. The socket read itself happens outside that mutex, so a blocked
//! reader never holds up senders. Pings are answered, and close frames
//! echoed, by whichever thread is reading — or, while no thread is in
//! `recv`, by the next send, which first takes what the peer sent without
//! waiting; keep-alive and close timers run in `recv` (and are checked on
//! each send), and a close started while another thread waits in `recv`
//! times out on its own.
//!
//! ```no_run
//! use wirestate_blocking::ws;
//!
//! # fn main() -> Result<(), ws::Error> {
//! let socket = ws::connect("ws://127.0.0.1:8080/ws")?;
//! let reader = socket.clone();
//! let thread = std::thread::spawn(move || {
//!     while let Some(Ok(message)) = reader.recv() {
//!         println!("{message:?}");
//!     }
//! });
//! socket.send("hello")?;
//! socket.close(ws::close_code::NORMAL, "bye")?;
//! thread.join().unwrap();
//! # Ok(())
//! # }
//! ```

use crate::transport::Stream;
use crate::{Driver, ResponseBody, Transport, Wait};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, Uri};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use wirestate_http1::{BodySize, ClientConnection, ClientEvent};
use wirestate_machine::{Machine, Transmit};
use wirestate_ws::{ClientHandshake, Connection, Event, ServerHandshake};

pub use wirestate_ws::{
    CloseFrame, DeflateConfig, Message, MessageKind, OriginPolicy, Utf8Bytes, close_code,
};

/// Read buffer size of a WebSocket's reader.
const READ_BUF: usize = 16 * 1024;

/// How often, at most, a send looks for the peer's input when no thread
/// is in `recv` (see `WebSocket::take_input`).
const PEEK_EVERY: Duration = Duration::from_millis(20);

/// Settings of a blocking WebSocket, client or server.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The connection machine's limits and timers.
    pub connection: wirestate_ws::Config,
    /// permessage-deflate: offered by a client, accepted (when offered) by
    /// a server. `None` (the default) turns it off.
    pub deflate: Option<DeflateConfig>,
    /// Subprotocols, most preferred first.
    pub protocols: Vec<String>,
    /// Extra headers on a client's request or a server's `101`.
    pub headers: HeaderMap,
    /// Which `Origin`s a server accepts (default: any).
    pub origin: OriginPolicy,
    /// How long a client waits to connect and for the `101`. Default 30 s.
    pub handshake_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            connection: wirestate_ws::Config::default(),
            deflate: None,
            protocols: Vec::new(),
            headers: HeaderMap::new(),
            origin: OriginPolicy::Any,
            handshake_timeout: Duration::from_secs(30),
        }
    }
}

impl Config {
    /// Turns permessage-deflate on (default parameters) or off.
    pub fn deflate(mut self, on: bool) -> Self {
        self.deflate = on.then(DeflateConfig::default);
        self
    }

    /// Largest message accepted, after decompression.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.connection.max_message_size = bytes;
        self
    }

    /// Largest frame payload accepted.
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.connection.max_frame_size = bytes;
        self
    }

    /// Sends a ping after this long without input (`None`: never).
    pub fn keepalive(mut self, interval: Option<Duration>) -> Self {
        self.connection.keepalive_interval = interval;
        self
    }

    /// Delivers messages in pieces as they arrive.
    pub fn streaming(mut self, on: bool) -> Self {
        self.connection.streaming = on;
        self
    }

    /// Adds subprotocols (most preferred first).
    pub fn protocols<I: IntoIterator<Item = S>, S: Into<String>>(mut self, protocols: I) -> Self {
        self.protocols.extend(protocols.into_iter().map(Into::into));
        self
    }

    /// Adds a header to the client's request or the server's `101`.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Sets the server's origin policy.
    pub fn origin(mut self, policy: OriginPolicy) -> Self {
        self.origin = policy;
        self
    }
}

/// Why a blocking WebSocket operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not a usable `ws://` URL.
    #[error("invalid WebSocket URL: {0}")]
    InvalidUrl(String),
    /// The TCP connection could not be opened.
    #[error("connect: {0}")]
    Connect(io::Error),
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(io::Error),
    /// The HTTP/1.1 exchange of the opening handshake failed.
    #[error("http: {0}")]
    Http(wirestate_http1::Error),
    /// The opening handshake was refused or invalid.
    #[error("handshake: {0}")]
    Handshake(#[from] wirestate_ws::HandshakeError),
    /// The peer broke the protocol, a limit was hit, or a timer expired.
    #[error("websocket: {0}")]
    Protocol(#[from] wirestate_ws::Error),
    /// The connection is closing or closed: nothing more can be sent.
    #[error("connection closed")]
    Closed,
    /// The connection ended without a close handshake or an error to report.
    #[error("connection aborted")]
    Aborted,
    /// The handshake did not finish in time.
    #[error("timed out")]
    Timeout,
}

/// What [`WebSocket::recv_fragment`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A whole message.
    Message(Message),
    /// A piece of a message ([`Config::streaming`]); `fin` on the last one.
    Fragment {
        /// Text or binary.
        kind: MessageKind,
        /// The data; for text, whole characters only.
        data: Bytes,
        /// The last piece of the message.
        fin: bool,
    },
}

impl Received {
    /// The message, or the fragment's data as a message of its kind.
    pub fn into_message(self) -> Message {
        match self {
            Received::Message(m) => m,
            Received::Fragment { kind, data, .. } => match kind {
                MessageKind::Text => Utf8Bytes::try_from(data)
                    .map(Message::Text)
                    .unwrap_or_else(|e| Message::Binary(Bytes::from(e.to_string()))),
                MessageKind::Binary => Message::Binary(data),
            },
        }
    }
}

/// Masking keys from `fastrand`, seeded per connection. RFC 6455 §10.3
/// wants masks the peer cannot predict; fastrand's generator is seeded from
/// std's randomly keyed hasher, which the peer neither sees nor chooses.
pub(crate) struct FastrandEntropy(pub(crate) fastrand::Rng);

impl wirestate_machine::Entropy for FastrandEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill(buf);
    }
}

/// The machine and its write side.
struct Writer {
    machine: Connection,
    /// A write failed: the connection is over.
    failed: Option<io::ErrorKind>,
    shutdown_done: bool,
    /// The TLS state of a `wss` connection: frames are encrypted here and
    /// written to the socket, and what the reader reads from the socket
    /// is decrypted here (under this lock, after the read).
    #[cfg(feature = "tls")]
    tls: Option<Box<crate::tls::TlsStream>>,
}

/// What the reader keeps between calls.
struct Reader {
    buf: Box<[u8]>,
    queue: VecDeque<Item>,
    done: bool,
    ended: bool,
    read_eof: bool,
    /// The connection failed on the peer's input (1002, 1007, 1009, …):
    /// the machine sent its close frame, the peer's data is left unread.
    failed: bool,
    close_frame: Option<CloseFrame>,
    read_timeout: Option<Option<Duration>>,
    /// When a send last looked for input (see `WebSocket::take_input`).
    last_peek: Option<Instant>,
}

enum Item {
    Data(Received),
    Closed(Option<CloseFrame>),
    Failed(Error),
}

struct Inner {
    stream: TcpStream,
    /// Lock order: `reader` before `writer`.
    reader: Mutex<Reader>,
    writer: Mutex<Writer>,
    protocol: Option<String>,
    /// How long the last handle's drop lingers after a failure.
    close_timeout: Duration,
}

impl Drop for Inner {
    /// After a failure on the peer's input, the last handle dropped lingers
    /// (bounded by the close timeout) instead of resetting the connection
    /// under a peer still sending, which would lose the close frame
    /// telling it why (see [`linger`]).
    fn drop(&mut self) {
        let r = self.reader.get_mut().unwrap_or_else(|e| e.into_inner());
        if r.failed && !r.read_eof {
            linger(&self.stream, Instant::now() + self.close_timeout);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A WebSocket over a blocking `TcpStream`. Clone it to read in one thread
/// and send from others; see the [module](self) docs for how the threads
/// share it.
///
/// After the peer broke the protocol (a message over the limit, invalid
/// UTF-8, …) the close frame saying why is sent at once; dropping the last
/// handle then reads and drops what the peer still sends until it closes,
/// for at most the close timeout, so that the peer gets that frame instead
/// of a reset.
#[derive(Clone)]
pub struct WebSocket {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocket")
            .field("stream", &self.inner.stream)
            .field("protocol", &self.inner.protocol)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// Writes everything the machine queued (blocking).
    fn flush(&mut self, stream: &TcpStream) {
        if self.failed.is_some() {
            return;
        }
        while let Some(t) = self.machine.poll_transmit() {
            if self.shutdown_done {
                continue;
            }
            let result = match t {
                Transmit::Bytes(b) => self.write(stream, &b),
                Transmit::Shutdown => {
                    self.shutdown_done = true;
                    // A failed shutdown (peer gone) ends the stream all the same.
                    let _ = self.shutdown(stream);
                    Ok(())
                }
            };
            if let Err(e) = result {
                self.failed = Some(e.kind());
                return;
            }
        }
        // Records rustls queued itself (an alert after bad input).
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            if let Err(e) = tls.flush() {
                self.failed = Some(e.kind());
            }
        }
    }

    /// Writes one frame's bytes: to the socket, or encrypted over TLS.
    fn write(&mut self, stream: &TcpStream, data: &[u8]) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return tls.write_all_plain(data);
        }
        write_all(stream, data)
    }

    /// Half-closes the write side (after TLS's close_notify).
    fn shutdown(&mut self, stream: &TcpStream) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            return crate::Transport::shutdown_write(&mut **tls);
        }
        stream.shutdown(Shutdown::Write)
    }

    /// Feeds bytes read from the socket to the machine (decrypted first
    /// over TLS). Machine errors come back as events; an error here is
    /// the TLS layer's.
    fn input(&mut self, now: Instant, bytes: &[u8]) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            let machine = &mut self.machine;
            return tls.decrypt(bytes, |p| {
                let _ = machine.handle_input(now, p);
            });
        }
        let _ = self.machine.handle_input(now, bytes);
        Ok(())
    }

    /// The socket's end: the last plaintext over TLS (an end without
    /// close_notify is an error), then the machine is told.
    fn input_end(&mut self, now: Instant) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            let machine = &mut self.machine;
            let ended = tls.decrypt_eof(|p| {
                let _ = machine.handle_input(now, p);
            });
            let _ = self.machine.handle_eof(now);
            return ended;
        }
        let _ = self.machine.handle_eof(now);
        Ok(())
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        if self.machine.poll_timeout().is_some_and(|t| t <= now) {
            self.machine.handle_timeout(now);
        }
    }
}

/// Fires the connection's timers when due, until it is closed (a close
/// handshake that timed out), then wakes a reader still blocked in its
/// read by shutting the read side down; it then finds the timeout among
/// the events. Ends early once every handle is gone, or no timer is left.
fn watch_close(inner: &std::sync::Weak<Inner>) {
    loop {
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let due = {
            let mut w = lock(&inner.writer);
            w.fire_timers();
            w.flush(&inner.stream);
            if w.machine.is_closed() || w.failed.is_some() {
                None
            } else {
                match w.machine.poll_timeout() {
                    Some(t) => Some(t),
                    None => return,
                }
            }
        };
        match due {
            Some(t) => {
                drop(inner);
                std::thread::sleep(t.saturating_duration_since(Instant::now()));
            }
            None => {
                let reader_busy = matches!(
                    inner.reader.try_lock(),
                    Err(std::sync::TryLockError::WouldBlock)
                );
                if reader_busy {
                    let _ = inner.stream.shutdown(Shutdown::Read);
                }
                return;
            }
        }
    }
}

fn write_all(mut stream: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match stream.write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

impl WebSocket {
    /// A WebSocket over `stream` (TCP, or TLS whose handshake is done).
    fn new(
        stream: Stream,
        machine: Connection,
        leftover: &[u8],
        protocol: Option<String>,
        close_timeout: Duration,
    ) -> io::Result<Self> {
        match stream {
            Stream::Tcp(tcp) => Ok(Self::over(
                tcp,
                machine,
                leftover,
                protocol,
                close_timeout,
                #[cfg(feature = "tls")]
                None,
            )),
            #[cfg(feature = "tls")]
            Stream::Tls(mut tls) => {
                // Reads go to the socket directly (the reader decrypts
                // under the writer's lock): plaintext rustls already holds
                // is input that comes first.
                let mut first = leftover.to_vec();
                tls.take_plaintext(&mut first)?;
                let tcp = tls.get_ref().try_clone()?;
                Ok(Self::over(
                    tcp,
                    machine,
                    &first,
                    protocol,
                    close_timeout,
                    Some(tls),
                ))
            }
        }
    }

    fn over(
        stream: TcpStream,
        mut machine: Connection,
        leftover: &[u8],
        protocol: Option<String>,
        close_timeout: Duration,
        #[cfg(feature = "tls")] tls: Option<Box<crate::tls::TlsStream>>,
    ) -> Self {
        let now = Instant::now();
        machine.start(now);
        let reader = Reader {
            buf: vec![0; READ_BUF].into_boxed_slice(),
            queue: VecDeque::new(),
            done: false,
            ended: false,
            read_eof: false,
            failed: false,
            close_frame: None,
            read_timeout: None,
            last_peek: None,
        };
        if !leftover.is_empty() {
            // A failure comes back as an event, after the messages before it.
            let _ = machine.handle_input(now, leftover);
        }
        let _ = stream.set_nodelay(true);
        let mut writer = Writer {
            machine,
            failed: None,
            shutdown_done: false,
            #[cfg(feature = "tls")]
            tls,
        };
        writer.flush(&stream);
        WebSocket {
            inner: Arc::new(Inner {
                stream,
                reader: Mutex::new(reader),
                writer: Mutex::new(writer),
                protocol,
                close_timeout,
            }),
        }
    }

    /// How long a close handshake may take.
    pub(crate) fn close_timeout(&self) -> Duration {
        self.inner.close_timeout
    }

    /// The subprotocol the handshake agreed on.
    pub fn protocol(&self) -> Option<&str> {
        self.inner.protocol.as_deref()
    }

    /// Whether messages may still be sent.
    pub fn is_open(&self) -> bool {
        let w = lock(&self.inner.writer);
        w.machine.is_open() && w.failed.is_none()
    }

    /// The peer's close frame, once the close handshake completed.
    pub fn close_frame(&self) -> Option<CloseFrame> {
        lock(&self.inner.reader).close_frame.clone()
    }

    fn command(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<(), wirestate_ws::Error>,
    ) -> Result<(), Error> {
        // With no thread in `recv`, take what the peer sent meanwhile
        // (without waiting), so that its pings get their pongs and its
        // close its echo: a handler that only sends (a ticker) is not
        // dropped by a peer's keep-alive. Lock order: reader, then writer.
        let reader = match self.inner.reader.try_lock() {
            Ok(r) => Some(r),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        let mut w = lock(&self.inner.writer);
        if let Some(mut r) = reader {
            self.take_input(&mut r, &mut w);
        }
        if let Some(kind) = w.failed {
            return Err(Error::Io(kind.into()));
        }
        w.fire_timers();
        if !w.machine.is_open() {
            return Err(Error::Closed);
        }
        // A refused command may still have queued output (a close refused
        // because the peer's close is being answered queues that answer).
        let result = f(&mut w.machine);
        w.flush(&self.inner.stream);
        result?;
        match w.failed {
            Some(kind) => Err(Error::Io(kind.into())),
            None => Ok(()),
        }
    }

    /// One read of what the socket holds, without waiting, fed to the
    /// machine; only while no message waits for the application (what is
    /// read here stays for `recv`, so this takes at most one buffer beyond
    /// the first unread message) and the machine wants input.
    fn take_input(&self, r: &mut Reader, w: &mut Writer) {
        if r.done || r.read_eof || !r.queue.is_empty() || w.failed.is_some() {
            return;
        }
        // At most every PEEK_EVERY: a fast sender pays three system calls
        // per look, and pings need answers within seconds, not microseconds.
        let now = Instant::now();
        if r.last_peek
            .is_some_and(|t| now.duration_since(t) < PEEK_EVERY)
        {
            return;
        }
        r.last_peek = Some(now);
        // Pings and pongs read before are dropped here, messages queued.
        r.take_events(&mut w.machine);
        if !r.queue.is_empty() || !w.machine.wants_read() {
            return;
        }
        // Both locks are held: no other thread reads or writes the socket
        // while it is non-blocking.
        if self.inner.stream.set_nonblocking(true).is_err() {
            return;
        }
        let read = (&self.inner.stream).read(&mut r.buf);
        if let Err(e) = self.inner.stream.set_nonblocking(false) {
            w.failed = Some(e.kind());
            return;
        }
        match read {
            Ok(0) => {
                r.read_eof = true;
                if let Err(e) = w.input_end(now) {
                    tracing::debug!(error = %e, "websocket TLS stream ended uncleanly");
                }
            }
            Ok(n) => {
                if let Err(e) = w.input(now, &r.buf[..n]) {
                    r.end(Item::Failed(Error::Io(e)));
                }
            }
            // Nothing yet (WouldBlock), or a failure the next read meets.
            Err(_) => {}
        }
    }

    /// Sends a message (compressed if permessage-deflate was agreed),
    /// blocking until it is written to the socket.
    pub fn send(&self, message: impl Into<Message>) -> Result<(), Error> {
        let message = message.into();
        self.command(|m| m.send(message))
    }

    /// Sends a message; `compress: false` opts it out of permessage-deflate.
    pub fn send_with(&self, message: Message, compress: bool) -> Result<(), Error> {
        self.command(|m| m.send_with(message, compress))
    }

    /// Sends one piece of a message streamed in fragments.
    pub fn send_fragment(&self, kind: MessageKind, data: Bytes, fin: bool) -> Result<(), Error> {
        self.command(|m| m.send_fragment(kind, data, fin))
    }

    /// Sends a ping (at most 125 bytes); the pong is not reported.
    pub fn ping(&self, payload: impl Into<Bytes>) -> Result<(), Error> {
        let payload = payload.into();
        self.command(|m| m.ping(payload))
    }

    /// Sends an unsolicited pong.
    pub fn pong(&self, payload: impl Into<Bytes>) -> Result<(), Error> {
        let payload = payload.into();
        self.command(|m| m.pong(payload))
    }

    /// Starts the close handshake. Returns once the close frame is written;
    /// [`recv`](Self::recv) returns `None` once the peer answers, or an
    /// error once the close timeout passes without an answer.
    pub fn close(&self, code: u16, reason: &str) -> Result<(), Error> {
        self.command(|m| m.close(Instant::now(), code, reason))?;
        // A reader already blocked in `recv` chose its read timeout before
        // the close timer existed (no timeout at all without keep-alive),
        // so nothing would fire that timer while the peer stays silent:
        // a watcher does, and wakes that reader.
        let reader_busy = matches!(
            self.inner.reader.try_lock(),
            Err(std::sync::TryLockError::WouldBlock)
        );
        if reader_busy {
            let inner = Arc::downgrade(&self.inner);
            let spawned = std::thread::Builder::new()
                .name("wirestate-ws-close".into())
                .spawn(move || watch_close(&inner));
            if let Err(e) = spawned {
                tracing::debug!(error = %e, "cannot start the close watcher");
            }
        }
        Ok(())
    }

    /// The next message, blocking; `None` after the close handshake (see
    /// [`close_frame`](Self::close_frame)). A failure is reported once,
    /// then `None`. In streaming mode each piece comes as a message of its kind.
    pub fn recv(&self) -> Option<Result<Message, Error>> {
        self.recv_fragment().map(|r| r.map(Received::into_message))
    }

    /// The next message or message piece, blocking.
    pub fn recv_fragment(&self) -> Option<Result<Received, Error>> {
        let mut r = lock(&self.inner.reader);
        loop {
            if let Some(item) = r.queue.pop_front() {
                match item {
                    Item::Data(d) => return Some(Ok(d)),
                    Item::Closed(frame) => {
                        r.done = true;
                        r.close_frame = frame;
                        return None;
                    }
                    Item::Failed(e) => {
                        r.done = true;
                        // The application has every event before the
                        // failure: the close frame held back behind them
                        // (1009, 1002, …) goes out now, not only if the
                        // application happens to call `close`.
                        let mut w = lock(&self.inner.writer);
                        while w.machine.poll_event().is_some() {}
                        w.flush(&self.inner.stream);
                        return Some(Err(e));
                    }
                }
            }
            if r.done {
                return None;
            }
            // Under the machine's lock: events, timers, output.
            let deadline = {
                let mut w = lock(&self.inner.writer);
                r.take_events(&mut w.machine);
                // Taking events may release a held-back close echo.
                w.flush(&self.inner.stream);
                if !r.queue.is_empty() {
                    continue;
                }
                w.fire_timers();
                w.flush(&self.inner.stream);
                if let Some(kind) = w.failed {
                    r.end(Item::Failed(Error::Io(kind.into())));
                    continue;
                }
                r.take_events(&mut w.machine);
                // Taking events may release a held-back close echo.
                w.flush(&self.inner.stream);
                if !r.queue.is_empty() {
                    continue;
                }
                if w.machine.is_closed() {
                    r.end(Item::Failed(Error::Aborted));
                    continue;
                }
                if r.read_eof || !w.machine.wants_read() {
                    match w.machine.poll_timeout() {
                        Some(t) => {
                            // Nothing to read: wait for the timer.
                            drop(w);
                            std::thread::sleep(t.saturating_duration_since(Instant::now()));
                            continue;
                        }
                        None => {
                            r.end(Item::Failed(Error::Aborted));
                            continue;
                        }
                    }
                }
                w.machine.poll_timeout()
            };
            // The read happens without the machine's lock: senders go on.
            let timeout = deadline.map(|d| {
                let left = d.saturating_duration_since(Instant::now());
                left.max(Duration::from_millis(1))
            });
            if r.read_timeout != Some(timeout) {
                if let Err(e) = self.inner.stream.set_read_timeout(timeout) {
                    r.end(Item::Failed(Error::Io(e)));
                    continue;
                }
                r.read_timeout = Some(timeout);
            }
            let Reader { buf, .. } = &mut *r;
            let read = (&self.inner.stream).read(buf);
            let now = Instant::now();
            match read {
                Ok(0) => {
                    r.read_eof = true;
                    let mut w = lock(&self.inner.writer);
                    // Failures come back as events, in order.
                    let ended = w.input_end(now);
                    w.flush(&self.inner.stream);
                    drop(w);
                    if let Err(e) = ended {
                        tracing::debug!(error = %e, "websocket TLS stream ended uncleanly");
                    }
                }
                Ok(n) => {
                    let mut w = lock(&self.inner.writer);
                    let Reader { buf, .. } = &mut *r;
                    let fed = w.input(now, &buf[..n]);
                    w.flush(&self.inner.stream);
                    drop(w);
                    if let Err(e) = fed {
                        r.end(Item::Failed(Error::Io(e)));
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => r.end(Item::Failed(Error::Io(e))),
            }
        }
    }
}

impl Reader {
    /// Moves the machine's events into the queue. Called only when the
    /// queue is empty, that is when the application has taken (and
    /// answered) everything before: the call on an empty event queue lets
    /// the machine send a held-back close echo or failure close
    /// ([`Connection::has_events`]).
    fn take_events(&mut self, machine: &mut Connection) {
        if machine.has_events() {
            while machine.has_events() {
                if let Some(ev) = machine.poll_event() {
                    self.on_event(ev);
                }
            }
        } else if let Some(ev) = machine.poll_event() {
            self.on_event(ev);
        }
    }

    fn end(&mut self, item: Item) {
        if !self.ended {
            self.ended = true;
            self.queue.push_back(item);
        }
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Message(m) => self.queue.push_back(Item::Data(Received::Message(m))),
            Event::Fragment { kind, data, fin } => self
                .queue
                .push_back(Item::Data(Received::Fragment { kind, data, fin })),
            Event::Ping(_) | Event::Pong(_) => {}
            Event::Close(frame) => self.end(Item::Closed(frame)),
            Event::Error(e) => {
                self.failed = true;
                self.end(Item::Failed(Error::Protocol(e)));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Client
// ---------------------------------------------------------------------------

/// Connects to a `ws://` URL with the default [`Config`].
pub fn connect(url: &str) -> Result<WebSocket, Error> {
    connect_with(url, Config::default())
}

/// Connects to a `ws://` URL with `config`: TCP, then the opening handshake,
/// both bounded by [`Config::handshake_timeout`]. `wss://` needs
/// `connect_with_tls` (feature `tls`).
pub fn connect_with(url: &str, config: Config) -> Result<WebSocket, Error> {
    let (uri, tls) = parse_url(url)?;
    if tls {
        return Err(Error::InvalidUrl(format!(
            "{url}: wss:// needs TLS: ws::connect_with_tls (feature `tls`)"
        )));
    }
    let deadline = Instant::now() + config.handshake_timeout;
    let stream = connect_tcp(&uri, 80, deadline)?;
    client(stream, uri, config)
}

/// Connects to a `ws://` or `wss://` URL with `config` (feature `tls`):
/// for `wss://`, TLS with `tls` (which should offer ALPN `http/1.1`, or
/// nothing) checking the certificate against the URL's host. The TCP
/// connect, then the TLS and opening handshakes, are each bounded by
/// [`Config::handshake_timeout`], as [`connect_with`]'s are.
#[cfg(feature = "tls")]
pub fn connect_with_tls(
    url: &str,
    config: Config,
    tls: Arc<rustls::ClientConfig>,
) -> Result<WebSocket, Error> {
    let (uri, secure) = parse_url(url)?;
    if !secure {
        return connect_with(url, config);
    }
    let deadline = Instant::now() + config.handshake_timeout;
    let host = uri.host().unwrap_or_default();
    let name =
        crate::tls::server_name(host).map_err(|e| Error::InvalidUrl(format!("{url}: {e}")))?;
    let tcp = connect_tcp(&uri, 443, deadline)?;
    let stream = crate::tls::TlsStream::client(tcp, tls, name)
        .map_err(|e| Error::Connect(io::Error::other(e)))?;
    client_tls(stream, uri, config)
}

/// A `ws://` or `wss://` URL, and whether it is `wss`.
fn parse_url(url: &str) -> Result<(Uri, bool), Error> {
    let uri: Uri = url
        .parse()
        .map_err(|e| Error::InvalidUrl(format!("{url}: {e}")))?;
    let tls = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("ws") => false,
        Some(s) if s.eq_ignore_ascii_case("wss") => true,
        _ => return Err(Error::InvalidUrl(format!("{url}: expected ws://"))),
    };
    if uri.host().is_none() {
        return Err(Error::InvalidUrl(format!("{url}: no host")));
    }
    Ok((uri, tls))
}

/// A TCP connection to the host of `uri` (port `default_port` unless it
/// names one), by `deadline`.
fn connect_tcp(uri: &Uri, default_port: u16, deadline: Instant) -> Result<TcpStream, Error> {
    let host = uri.host().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = wirestate_http1::policy::port(uri, default_port)
        .map_err(|e| Error::InvalidUrl(format!("{uri}: {e}")))?;
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(Error::Connect)?
        .collect();
    let mut last = Error::InvalidUrl(format!("{host} resolved to no address"));
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Error::Timeout);
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Error::Connect(e),
        }
    }
    Err(last)
}

/// Runs the opening handshake for `uri` over a connected (blocking)
/// `TcpStream`, bounded by [`Config::handshake_timeout`].
pub fn client(stream: TcpStream, uri: Uri, config: Config) -> Result<WebSocket, Error> {
    let _ = stream.set_nodelay(true);
    client_over(Stream::Tcp(stream), uri, config)
}

/// Runs the opening handshake for `uri` (`wss://`) over a TLS stream
/// (feature `tls`), bounded by [`Config::handshake_timeout`]; the TLS
/// handshake runs first if it has not yet (within that bound too).
#[cfg(feature = "tls")]
pub fn client_tls(
    mut stream: crate::tls::TlsStream,
    uri: Uri,
    config: Config,
) -> Result<WebSocket, Error> {
    let _ = stream.get_ref().set_nodelay(true);
    let deadline = Instant::now() + config.handshake_timeout;
    stream
        .handshake(Some(deadline))
        .map_err(|e| match e.kind() {
            io::ErrorKind::TimedOut => Error::Timeout,
            _ => Error::Connect(e),
        })?;
    client_over(Stream::Tls(Box::new(stream)), uri, config)
}

fn client_over(stream: Stream, uri: Uri, config: Config) -> Result<WebSocket, Error> {
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
    let mut http = ClientConnection::new(Default::default(), Instant::now());
    http.send_request(parts, BodySize::Empty)
        .map_err(Error::Http)?;
    let mut driver = Driver::new(http, stream);
    let deadline = Instant::now() + config.handshake_timeout;
    let mut head = None;
    let leftover = loop {
        match driver.machine_mut().poll_event() {
            Some(ClientEvent::Response(r)) => {
                if r.head.status != http::StatusCode::SWITCHING_PROTOCOLS {
                    return Err(pending
                        .verify(&r.head)
                        .err()
                        .map_or(Error::Aborted, Error::from));
                }
                head = Some(r.head);
                continue;
            }
            Some(ClientEvent::Upgraded { leftover, .. }) => break leftover,
            Some(ClientEvent::Error(e)) => return Err(Error::Http(e)),
            Some(_) => continue,
            None => {}
        }
        match driver.wait(Some(deadline)) {
            Ok(Wait::Deadline) => return Err(Error::Timeout),
            Ok(Wait::Closed | Wait::Stalled) => return Err(Error::Aborted),
            Ok(Wait::Refused(e)) => return Err(Error::Http(e)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(Error::Timeout),
            Err(e) => return Err(Error::Io(e)),
        }
    };
    let head = head.ok_or(Error::Aborted)?;
    let negotiated = pending.verify(&head)?;
    let (_, stream) = driver.into_parts();
    stream.set_read_timeout(None).map_err(Error::Io)?;
    stream.set_write_timeout(None).map_err(Error::Io)?;
    let mut machine = Connection::client(config.connection.clone(), entropy);
    if let Some(params) = &negotiated.deflate {
        machine = machine.with_deflate(params);
    }
    WebSocket::new(
        stream,
        machine,
        &leftover,
        negotiated.subprotocol,
        config.connection.close_timeout,
    )
    .map_err(Error::Io)
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

type OnUpgrade = Box<dyn FnOnce(WebSocket) + Send>;

struct Upgrade {
    machine: Connection,
    protocol: Option<String>,
    close_timeout: Duration,
    on_upgrade: OnUpgrade,
}

/// The accepted handshake, riding in the `101`'s extensions until the
/// server hands the connection over (extensions must be `Clone + Sync`,
/// hence the shared slot; it is taken once).
#[derive(Clone)]
pub(crate) struct PendingUpgrade(Arc<Mutex<Option<Upgrade>>>);

/// Answers a WebSocket handshake from a blocking [`Server`](crate::Server)
/// handler: the `101` to return — after which the connection's thread
/// calls `on_upgrade` with the [`WebSocket`] — or the refusal (400, 403,
/// 405, or 426 with `Sec-WebSocket-Version: 13`).
///
/// The connection lives as long as `on_upgrade` runs: when it returns, the
/// WebSocket is closed (1000, if still open) and the close handshake
/// awaited (up to the close timeout). Clones handed to other threads must
/// be done by then — [`std::thread::scope`] makes that natural. On a
/// server shutdown the socket is shut down both ways, which ends a blocked
/// `recv` or `send` (no close frame: the blocking server has no thread to
/// run a close handshake beside the application's).
///
/// Pings are answered by whichever thread is in `recv`: an `on_upgrade`
/// that never reads sends no pongs (the async servers answer them in the
/// connection task).
///
/// ```
/// use http::{Request, Response};
/// use wirestate_blocking::{BlockingBody, ResponseBody, ws};
///
/// fn handler(req: Request<BlockingBody>) -> Response<ResponseBody> {
///     ws::upgrade(&req, &ws::Config::default(), |socket| {
///         while let Some(Ok(message)) = socket.recv() {
///             if socket.send(message).is_err() {
///                 break;
///             }
///         }
///     })
/// }
/// # let _ = handler;
/// ```
pub fn upgrade<B>(
    req: &Request<B>,
    config: &Config,
    on_upgrade: impl FnOnce(WebSocket) + Send + 'static,
) -> Response<ResponseBody> {
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
            let up = Upgrade {
                machine,
                protocol: negotiated.subprotocol,
                close_timeout: config.connection.close_timeout,
                on_upgrade: Box::new(on_upgrade),
            };
            let (mut parts, ()) = response.into_parts();
            parts
                .extensions
                .insert(PendingUpgrade(Arc::new(Mutex::new(Some(up)))));
            Response::from_parts(parts, ResponseBody::empty())
        }
        Err(e) => {
            tracing::debug!(error = %e, "websocket handshake refused");
            let (parts, ()) = wirestate_ws::reject_response(&e).into_parts();
            Response::from_parts(parts, ResponseBody::from(format!("{e}\n")))
        }
    }
}

/// Runs an upgraded connection on the calling (connection) thread: the
/// callback, then the close.
/// `on_start` sees the socket before the callback runs (the server keeps a
/// handle, to close it with 1001 on a graceful shutdown).
pub(crate) fn run_server(
    stream: Stream,
    pending: PendingUpgrade,
    leftover: &[u8],
    on_start: impl FnOnce(&WebSocket),
) {
    let Some(up) = lock(&pending.0).take() else {
        return;
    };
    let _ = stream.set_read_timeout(None);
    let _ = stream.set_write_timeout(None);
    let socket = match WebSocket::new(stream, up.machine, leftover, up.protocol, up.close_timeout) {
        Ok(socket) => socket,
        Err(e) => {
            tracing::debug!(error = %e, "websocket could not start");
            return;
        }
    };
    on_start(&socket);
    let handle = socket.clone();
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (up.on_upgrade)(handle))).is_err() {
        tracing::error!("websocket handler panicked; closing the connection");
    }
    // The callback is done: finish the close handshake, bounded.
    let _ = socket.close(close_code::NORMAL, "");
    let deadline = Instant::now() + up.close_timeout;
    while Instant::now() < deadline {
        match socket.recv_fragment() {
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break,
        }
    }
    linger(&socket.inner.stream, deadline);
}

/// A lingering close: once the close frame is out, shuts the write side
/// down and reads and drops what the peer still sends until its end of
/// stream or `deadline`. Failing a connection (1009 for a frame over the
/// limit, 1002, …) leaves the rest of the peer's data unread, and closing a
/// socket over unread data answers with a reset: a peer still sending then
/// fails its send with a broken pipe, and may lose the close frame telling
/// it why (Python websockets does). The async servers read on until the
/// close timeout too.
fn linger(mut stream: &TcpStream, deadline: Instant) {
    // A failed shutdown (peer gone) leaves nothing to wait for.
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
