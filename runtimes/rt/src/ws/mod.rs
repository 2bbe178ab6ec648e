//! WebSocket (RFC 6455, RFC 7692) on the generic [`Driver`](crate::Driver),
//! for every runtime.
//!
//! * Client: [`connect`] opens a TCP connection, runs the opening handshake
//!   and returns a [`WebSocket`] plus the connection future
//!   ([`WsConnection`]) for the caller to spawn; [`client`] does the same
//!   over a stream you already have (TLS, a pipe).
//! * Server: inside an HTTP handler, [`upgrade`] answers the handshake and
//!   hands a [`WebSocket`] to your callback once the `101` is out. The
//!   HTTP/1.1 server ([`serve`](crate::http1::serve)) then runs the
//!   WebSocket in the connection's own task.
//!
//! The [`WebSocket`] talks to the connection through bounded channels, so
//! its halves ([`split`](WebSocket::split)) can live in different tasks with
//! no lock between them. The machine answers pings and echoes close frames
//! in the connection task, whether or not anyone is reading; a reader that
//! falls behind fills its bounded queue and stops socket reads (end-to-end
//! back-pressure), and [`WsSender::send`] waits while the machine's output
//! is above its high-water mark.
//!
//! ```no_run
//! # async fn run<R: wirestate_rt::Runtime>(rt: R) -> Result<(), wirestate_rt::ws::Error> {
//! use wirestate_rt::ws::{self, Message};
//!
//! let (mut socket, connection) = ws::connect(rt.clone(), "ws://127.0.0.1:8080/ws", ws::Config::default()).await?;
//! rt.spawn(Box::pin(async move { let _ = connection.await; }));
//! socket.send("hello").await?;
//! if let Some(Ok(Message::Text(text))) = socket.recv().await {
//!     println!("{text}");
//! }
//! socket.close(ws::close_code::NORMAL, "bye").await?;
//! # Ok(())
//! # }
//! ```

mod client;
mod conn;
mod server;
mod wake;

#[cfg(feature = "tls")]
pub use client::connect_with_tls;
pub use client::{client, connect};
pub use conn::WsConnection;
pub use server::upgrade;
pub(crate) use server::{PendingUpgrade, start_server};
pub use wirestate_ws::{
    CloseFrame, DeflateConfig, Message, MessageKind, OriginPolicy, Utf8Bytes, close_code,
};

use bytes::Bytes;
use futures_channel::{mpsc, oneshot};
use futures_core::Stream;
use http::{HeaderMap, HeaderName, HeaderValue};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Settings of a WebSocket connection, client or server.
///
/// ```
/// use std::time::Duration;
/// use wirestate_rt::ws::Config;
///
/// let config = Config::default()
///     .deflate(true)
///     .max_message_size(16 << 20)
///     .keepalive(Some(Duration::from_secs(30)))
///     .protocols(["chat.v1"]);
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The connection machine's limits and timers: frame and message
    /// sizes, streaming, keep-alive, close timeout, write high water.
    pub connection: wirestate_ws::Config,
    /// permessage-deflate: offered by a client, accepted (when offered) by a
    /// server. `None` (the default) turns it off.
    pub deflate: Option<DeflateConfig>,
    /// Subprotocols: a client offers them (most preferred first); a server
    /// picks the first of these the client offered.
    pub protocols: Vec<String>,
    /// Extra headers: on a client's request, or on a server's `101`.
    pub headers: HeaderMap,
    /// Which `Origin`s a server accepts (default: any).
    pub origin: OriginPolicy,
    /// Most received messages queued for the reader before socket reads
    /// pause. Default 16.
    pub recv_buffer: usize,
    /// Most received bytes queued for the reader before socket reads pause
    /// (one message is always let through, however large). Default 1 MiB.
    pub recv_buffer_bytes: usize,
    /// Commands (messages, pings, close) queued per sender before
    /// [`WsSender::send`] waits. Default 4.
    pub send_buffer: usize,
    /// How long a client waits for the TCP connection and the `101`.
    /// Default 30 s.
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
            recv_buffer: 16,
            recv_buffer_bytes: 1 << 20,
            send_buffer: 4,
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

    /// Largest message accepted, after decompression (close 1009 above it).
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.connection.max_message_size = bytes;
        self
    }

    /// Largest frame payload accepted (close 1009 above it).
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.connection.max_frame_size = bytes;
        self
    }

    /// Sends a ping after this long without input (`None`: never).
    pub fn keepalive(mut self, interval: Option<Duration>) -> Self {
        self.connection.keepalive_interval = interval;
        self
    }

    /// Delivers messages in pieces as they arrive (see [`WsReceiver::recv_fragment`]).
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

/// Why a WebSocket operation failed.
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
    /// The peer broke the protocol, a limit was hit, or a timer expired;
    /// the close frame with the matching code was sent.
    #[error("websocket: {0}")]
    Protocol(#[from] wirestate_ws::Error),
    /// The connection is closing or closed: nothing more can be sent.
    #[error("connection closed")]
    Closed,
    /// The connection task ended (or was dropped) without a close
    /// handshake or an error to report.
    #[error("connection aborted")]
    Aborted,
    /// The handshake did not finish in time.
    #[error("timed out")]
    Timeout,
}

/// What a [`WsReceiver`] yields in detail (see [`WsReceiver::recv_fragment`]).
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
    /// Payload bytes.
    pub fn len(&self) -> usize {
        match self {
            Received::Message(m) => m.len(),
            Received::Fragment { data, .. } => data.len(),
        }
    }

    /// Whether the payload is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The message, or the fragment's data as a message of its kind.
    pub fn into_message(self) -> Message {
        match self {
            Received::Message(m) => m,
            Received::Fragment { kind, data, .. } => match kind {
                // Text fragments end on character boundaries.
                MessageKind::Text => Utf8Bytes::try_from(data)
                    .map(Message::Text)
                    .unwrap_or_else(|e| Message::Binary(Bytes::from(e.to_string()))),
                MessageKind::Binary => Message::Binary(data),
            },
        }
    }
}

/// What the handles ask of the connection.
pub(crate) enum Command {
    Send(Message, bool),
    Fragment(MessageKind, Bytes, bool),
    Ping(Bytes),
    Pong(Bytes),
    Close(u16, String),
}

/// What the connection hands to the receiver, in order.
pub(crate) enum Item {
    Data(Received),
    /// The close handshake completed (the peer's close frame, if it had a
    /// status code); nothing follows.
    Closed(Option<CloseFrame>),
    /// The connection failed; nothing follows.
    Failed(Error),
}

/// State the handles read without a lock.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The machine is open: no close sent or received, no failure.
    pub(crate) open: AtomicBool,
    /// Bytes of received data queued for the reader.
    pub(crate) queued: AtomicUsize,
    /// The byte budget of that queue.
    pub(crate) queued_limit: usize,
    /// The connection task, parked on a full byte budget (the slow path:
    /// taken only when the budget is exhausted, never per message).
    pub(crate) parked: Mutex<Option<Waker>>,
}

impl Shared {
    /// The reader took `len` bytes off the queue: wakes the connection if
    /// that reopened the budget.
    fn consumed(&self, len: usize) {
        let before = self.queued.fetch_sub(len, Ordering::AcqRel);
        if before >= self.queued_limit && before - len < self.queued_limit {
            let waker = self.parked.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

/// The handle side of a new connection and the channel ends its
/// connection task keeps.
pub(crate) struct Channels {
    pub(crate) shared: Arc<Shared>,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) items: mpsc::Sender<Item>,
    pub(crate) reader_alive: oneshot::Sender<()>,
}

pub(crate) fn channels(config: &Config, protocol: Option<String>) -> (WebSocket, Channels) {
    let shared = Arc::new(Shared {
        open: AtomicBool::new(true),
        queued: AtomicUsize::new(0),
        queued_limit: config.recv_buffer_bytes.max(1),
        parked: Mutex::new(None),
    });
    let (cmd_tx, cmd_rx) = mpsc::channel(config.send_buffer);
    let (item_tx, item_rx) = mpsc::channel(config.recv_buffer.max(1));
    let (alive_tx, alive_rx) = oneshot::channel();
    let socket = WebSocket {
        sender: WsSender {
            tx: cmd_tx,
            shared: shared.clone(),
        },
        receiver: WsReceiver {
            shared: shared.clone(),
            rx: item_rx,
            _alive: alive_rx,
            done: false,
            close_frame: None,
        },
        protocol,
    };
    let chans = Channels {
        shared,
        commands: cmd_rx,
        items: item_tx,
        reader_alive: alive_tx,
    };
    (socket, chans)
}

/// A WebSocket connection: send and receive messages, ping, close.
///
/// The connection itself runs in its own future ([`WsConnection`], or the
/// HTTP server's connection task); this handle talks to it through bounded
/// channels. [`split`](Self::split) gives independent halves for two tasks.
///
/// The connection closes (with 1000) once every sender and the receiver
/// are dropped; keep the receiver to go on receiving after the senders are
/// gone, and vice versa.
#[derive(Debug)]
pub struct WebSocket {
    sender: WsSender,
    receiver: WsReceiver,
    protocol: Option<String>,
}

impl WebSocket {
    /// The next message; `None` after the close handshake (see
    /// [`close_frame`](Self::close_frame) for the peer's code). A failure
    /// is reported once, then `None`.
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        self.receiver.recv().await
    }

    /// The next message or message piece (with [`Config::streaming`]).
    pub async fn recv_fragment(&mut self) -> Option<Result<Received, Error>> {
        self.receiver.recv_fragment().await
    }

    /// Sends a message (compressed if permessage-deflate was agreed). Waits
    /// while the connection's output is above its high-water mark.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        self.sender.send(message).await
    }

    /// Sends a message; `compress: false` opts it out of permessage-deflate.
    pub async fn send_with(&mut self, message: Message, compress: bool) -> Result<(), Error> {
        self.sender.send_with(message, compress).await
    }

    /// Sends one piece of a message streamed in fragments.
    pub async fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: Bytes,
        fin: bool,
    ) -> Result<(), Error> {
        self.sender.send_fragment(kind, data, fin).await
    }

    /// Sends a ping (at most 125 bytes); the pong is not reported.
    pub async fn ping(&mut self, payload: impl Into<Bytes>) -> Result<(), Error> {
        self.sender.ping(payload).await
    }

    /// Closes: sends a close frame with `code` and `reason`, then waits for
    /// the peer's (messages received meanwhile are dropped) and returns it.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<Option<CloseFrame>, Error> {
        match self.sender.close(code, reason).await {
            Ok(()) | Err(Error::Closed) => {}
            Err(e) => return Err(e),
        }
        while let Some(item) = self.receiver.recv_fragment().await {
            item?;
        }
        Ok(self.receiver.close_frame().cloned())
    }

    /// The peer's close frame, once [`recv`](Self::recv) returned `None`.
    pub fn close_frame(&self) -> Option<&CloseFrame> {
        self.receiver.close_frame()
    }

    /// The subprotocol the handshake agreed on.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// Whether messages may still be sent.
    pub fn is_open(&self) -> bool {
        self.sender.is_open()
    }

    /// Independent halves, for a reading task and a writing task.
    pub fn split(self) -> (WsSender, WsReceiver) {
        (self.sender, self.receiver)
    }

    /// Puts the halves back together.
    pub fn reunite(sender: WsSender, receiver: WsReceiver) -> WebSocket {
        WebSocket {
            sender,
            receiver,
            protocol: None,
        }
    }
}

/// The sending half of a [`WebSocket`]. Clone it for several producers.
#[derive(Debug, Clone)]
pub struct WsSender {
    tx: mpsc::Sender<Command>,
    shared: Arc<Shared>,
}

impl WsSender {
    /// Whether messages may still be sent (no close sent or received).
    pub fn is_open(&self) -> bool {
        self.shared.open.load(Ordering::Acquire)
    }

    async fn command(&mut self, cmd: Command) -> Result<(), Error> {
        if !self.is_open() {
            return Err(Error::Closed);
        }
        std::future::poll_fn(|cx| self.tx.poll_ready(cx))
            .await
            .map_err(|_| Error::Closed)?;
        self.tx.start_send(cmd).map_err(|_| Error::Closed)
    }

    /// Sends a message (compressed if permessage-deflate was agreed).
    ///
    /// Returns once the connection has taken the message: it waits while
    /// the connection's output is above its high-water mark, so a slow
    /// peer slows the sender down. `Err(Closed)` once the connection is
    /// closing.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        self.command(Command::Send(message.into(), true)).await
    }

    /// Sends a message; `compress: false` opts it out of permessage-deflate.
    pub async fn send_with(&mut self, message: Message, compress: bool) -> Result<(), Error> {
        self.command(Command::Send(message, compress)).await
    }

    /// Sends one piece of a message streamed in fragments (`fin` on the
    /// last); whole messages must not be sent until it ends.
    pub async fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: Bytes,
        fin: bool,
    ) -> Result<(), Error> {
        self.command(Command::Fragment(kind, data, fin)).await
    }

    /// Sends a ping (at most 125 bytes).
    pub async fn ping(&mut self, payload: impl Into<Bytes>) -> Result<(), Error> {
        let payload = payload.into();
        if payload.len() > 125 {
            return Err(wirestate_ws::Error::ControlTooLong.into());
        }
        self.command(Command::Ping(payload)).await
    }

    /// Sends an unsolicited pong (a one-way heartbeat).
    pub async fn pong(&mut self, payload: impl Into<Bytes>) -> Result<(), Error> {
        let payload = payload.into();
        if payload.len() > 125 {
            return Err(wirestate_ws::Error::ControlTooLong.into());
        }
        self.command(Command::Pong(payload)).await
    }

    /// Starts the close handshake with `code` (sendable: 1000–1003,
    /// 1007–1014, 3000–4999) and `reason` (at most 123 bytes). Returns once
    /// the close frame is queued; the receiver sees the end once the peer
    /// answers.
    pub async fn close(&mut self, code: u16, reason: &str) -> Result<(), Error> {
        if !close_code::is_sendable(code) {
            return Err(wirestate_ws::Error::InvalidCloseCode(code).into());
        }
        if reason.len() > 123 {
            return Err(wirestate_ws::Error::ControlTooLong.into());
        }
        self.command(Command::Close(code, reason.to_owned())).await
    }
}

/// The receiving half of a [`WebSocket`]; also a [`Stream`] of messages.
#[derive(Debug)]
pub struct WsReceiver {
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Item>,
    /// Dropped with the receiver: tells the connection nobody reads.
    _alive: oneshot::Receiver<()>,
    done: bool,
    close_frame: Option<CloseFrame>,
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Item::Data(d) => f.debug_tuple("Data").field(d).finish(),
            Item::Closed(c) => f.debug_tuple("Closed").field(c).finish(),
            Item::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
        }
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Send(..) => "Send",
            Command::Fragment(..) => "Fragment",
            Command::Ping(_) => "Ping",
            Command::Pong(_) => "Pong",
            Command::Close(..) => "Close",
        })
    }
}

impl WsReceiver {
    /// Polls for the next message or piece.
    pub fn poll_recv_fragment(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Received, Error>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.rx).poll_next(cx) {
            Poll::Ready(Some(Item::Data(d))) => {
                self.shared.consumed(d.len());
                Poll::Ready(Some(Ok(d)))
            }
            Poll::Ready(Some(Item::Closed(frame))) => {
                self.done = true;
                self.close_frame = frame;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Item::Failed(e))) => {
                self.done = true;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(Some(Err(Error::Aborted)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// The next message; `None` after the close handshake (see
    /// [`close_frame`](Self::close_frame)). A failure is reported once,
    /// then `None`. In streaming mode each piece comes as a message of its
    /// kind; use [`recv_fragment`](Self::recv_fragment) to see the boundaries.
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        self.recv_fragment()
            .await
            .map(|r| r.map(Received::into_message))
    }

    /// The next message or message piece.
    pub async fn recv_fragment(&mut self) -> Option<Result<Received, Error>> {
        std::future::poll_fn(|cx| self.poll_recv_fragment(cx)).await
    }

    /// The peer's close frame, once the close handshake completed (`None`
    /// before, or if it carried no status code).
    pub fn close_frame(&self) -> Option<&CloseFrame> {
        self.close_frame.as_ref()
    }

    /// Whether the end (close or failure) was reached.
    pub fn is_terminated(&self) -> bool {
        self.done
    }
}

impl Stream for WsReceiver {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut()
            .poll_recv_fragment(cx)
            .map(|o| o.map(|r| r.map(Received::into_message)))
    }
}

/// Masking keys and handshake keys from `fastrand`, seeded per connection.
///
/// RFC 6455 §10.3 asks that masks be unpredictable to the peer, to keep a
/// script from choosing the bytes an intermediary sees; fastrand's
/// per-thread generator is seeded from std's randomly keyed hasher, which is
/// not cryptographic but is not observable or choosable by the peer, and
/// masking is not a confidentiality mechanism. (A browser-facing proxy
/// scenario with hostile scripts does not arise for a native client.)
pub(crate) struct FastrandEntropy(pub(crate) fastrand::Rng);

impl wirestate_machine::Entropy for FastrandEntropy {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill(buf);
    }
}
