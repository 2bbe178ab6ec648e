//! The connection machine: frames in, messages out, and the close handshake.

use crate::deflate::{DeflateError, DeflateParams, PerMessageDeflate};
use crate::message::{CloseFrame, Message, MessageKind, Utf8Bytes, close_code};
use crate::{FrameError, FrameHeader, OpCode, Role, apply_mask};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use wirestate_machine::{
    ClassifyError, Entropy, ErrorKind, Machine, TimerTable, Transmit, TxQueue,
};

/// Limits and timers of a [`Connection`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Largest frame payload accepted (close 1009 above it). Default 16 MiB.
    pub max_frame_size: usize,
    /// Largest message accepted, after decompression (close 1009 above it).
    /// Default 64 MiB.
    pub max_message_size: usize,
    /// Deliver data as [`Event::Fragment`]s as it arrives instead of whole
    /// [`Event::Message`]s. Text fragments always end on a character
    /// boundary. Default off.
    pub streaming: bool,
    /// Send a ping after this long without input. Default off.
    pub keepalive_interval: Option<Duration>,
    /// After a keep-alive ping, how long to wait for any input before
    /// giving up on the peer. Default 30 s.
    pub pong_timeout: Duration,
    /// How long the close handshake may take before the connection is
    /// dropped. Default 5 s.
    pub close_timeout: Duration,
    /// Queued output at which [`Connection::can_send`] turns false and
    /// reading pauses. Default 256 KiB.
    pub write_high_water: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_frame_size: 16 << 20,
            max_message_size: 64 << 20,
            streaming: false,
            keepalive_interval: None,
            pong_timeout: Duration::from_secs(30),
            close_timeout: Duration::from_secs(5),
            write_high_water: 256 << 10,
        }
    }
}

/// What the connection reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A whole message (the default mode).
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
    /// The peer pinged; the pong is already queued.
    Ping(Bytes),
    /// The peer answered a ping (or sent an unsolicited pong).
    Pong(Bytes),
    /// The peer's close frame (`None`: no status code). If we had not
    /// closed yet, the echo is already queued.
    Close(Option<CloseFrame>),
    /// The connection failed: the peer broke the protocol (the error
    /// `handle_input` returned, reported after the events before it), the
    /// transport ended without a close frame, or a keep-alive or close
    /// timeout passed. The machine is closing; nothing follows.
    Error(Error),
}

/// Why the connection failed, or why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A malformed frame header.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// RSV bits set without an extension that defines them.
    #[error("reserved bits set")]
    ReservedBits,
    /// A client sent an unmasked frame.
    #[error("unmasked frame from a client")]
    UnmaskedFrame,
    /// A server sent a masked frame.
    #[error("masked frame from a server")]
    MaskedFrame,
    /// A continuation frame with no message to continue.
    #[error("continuation frame without a message")]
    UnexpectedContinuation,
    /// A new message began before the previous one finished.
    #[error("new message inside a fragmented message")]
    ExpectedContinuation,
    /// A text message (or close reason) that is not UTF-8.
    #[error("invalid UTF-8 in text")]
    InvalidUtf8,
    /// A close frame with a one-byte payload.
    #[error("close frame with a one-byte payload")]
    InvalidClosePayload,
    /// A close code that may not be sent on the wire.
    #[error("invalid close code {0}")]
    InvalidCloseCode(u16),
    /// A message over [`Config::max_message_size`].
    #[error("message exceeds the limit of {max} bytes")]
    MessageTooLarge {
        /// The limit.
        max: usize,
    },
    /// Compressed data that does not inflate, or inflates past the limit.
    #[error("permessage-deflate: {0}")]
    Deflate(DeflateError),
    /// The peer closed the transport without a close frame.
    #[error("connection closed without a close frame")]
    AbnormalClosure,
    /// No input within the pong timeout after a keep-alive ping.
    #[error("no reply to keep-alive ping")]
    KeepAliveTimeout,
    /// The peer did not finish the close handshake in time.
    #[error("close handshake timed out")]
    CloseTimeout,
    /// A send after the connection started closing.
    #[error("connection is closing")]
    Closing,
    /// A control frame payload over 125 bytes, or a close reason over 123.
    #[error("control frame payload too long")]
    ControlTooLong,
    /// A whole message sent while a fragmented one is still open, or a
    /// fragment of a different kind.
    #[error("a fragmented message is in progress")]
    MessageInProgress,
}

impl Error {
    /// The close code this error sends, if it sends one.
    pub fn close_code(&self) -> Option<u16> {
        Some(match self {
            Error::Frame(e) => e.close_code(),
            Error::InvalidUtf8 => close_code::INVALID_PAYLOAD,
            Error::MessageTooLarge { .. } => close_code::TOO_BIG,
            Error::Deflate(e) => e.close_code(),
            Error::KeepAliveTimeout => close_code::GOING_AWAY,
            Error::ReservedBits
            | Error::UnmaskedFrame
            | Error::MaskedFrame
            | Error::UnexpectedContinuation
            | Error::ExpectedContinuation
            | Error::InvalidClosePayload
            | Error::InvalidCloseCode(_) => close_code::PROTOCOL_ERROR,
            Error::AbnormalClosure
            | Error::CloseTimeout
            | Error::Closing
            | Error::ControlTooLong
            | Error::MessageInProgress => return None,
        })
    }
}

impl ClassifyError for Error {
    type Hint = u16;

    fn kind(&self) -> ErrorKind {
        match self {
            Error::Frame(FrameError::FrameTooLarge { .. }) | Error::MessageTooLarge { .. } => {
                ErrorKind::Limit
            }
            Error::Deflate(e) => e.kind(),
            Error::Closing | Error::ControlTooLong | Error::MessageInProgress => ErrorKind::Usage,
            _ => ErrorKind::Protocol,
        }
    }

    fn hint(&self) -> Option<u16> {
        self.close_code()
    }
}

/// Where the close handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// We sent a close frame and wait for the peer's.
    CloseSent,
    /// Close frames crossed (or we failed the connection): waiting for the
    /// transport to finish, bounded by the close timer.
    Closing,
    Closed,
}

/// A closing step held back until the application has taken the events
/// that came before it, so its replies to them (an echo) still go out
/// before the close frame.
#[derive(Debug)]
enum Deferred {
    Fail(Error),
    CloseReply(Option<CloseFrame>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Ping,
    Pong,
    Close,
}

/// Where the frame reader stands.
#[derive(Debug, Clone, Copy)]
enum Rx {
    Header,
    Payload {
        head: FrameHeader,
        remaining: u64,
        /// Payload bytes already processed (the mask's phase).
        done: usize,
    },
}

/// The message being received.
#[derive(Debug, Default)]
struct Incoming {
    kind: Option<MessageKind>,
    compressed: bool,
    /// Received (unmasked, inflated) data not yet delivered.
    data: BytesMut,
    /// `data[..utf8_ok]` is known to be valid UTF-8.
    utf8_ok: usize,
    /// Bytes of the message delivered so far (streaming mode).
    delivered: usize,
}

/// A WebSocket connection after the opening handshake (RFC 6455 §5–7).
///
/// Feed it bytes; it delivers messages, answers pings, runs the close
/// handshake and enforces the masking rules for its [`Role`].
///
/// ```
/// use std::time::Instant;
/// use wirestate_machine::{Machine, Transmit};
/// use wirestate_ws::{Config, Connection, Event, Message};
///
/// let now = Instant::now();
/// let mut server = Connection::server(Config::default());
/// // A masked "Hello" from a client (RFC 6455 §5.7).
/// server.handle_input(now, &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]).unwrap();
/// assert_eq!(server.poll_event(), Some(Event::Message(Message::from("Hello"))));
/// server.send(Message::from("Hi")).unwrap();
/// assert_eq!(server.poll_transmit(), Some(Transmit::Bytes(bytes::Bytes::from_static(b"\x81\x02Hi"))));
/// ```
pub struct Connection {
    role: Role,
    config: Config,
    state: State,
    rx: Rx,
    /// A frame header split across inputs.
    head_buf: [u8; 14],
    head_len: usize,
    /// The payload of the control frame being received.
    control: Vec<u8>,
    incoming: Incoming,
    /// Masked compressed input, unmasked here before inflating.
    scratch: BytesMut,
    /// The kind of the fragmented message being sent.
    sending: Option<MessageKind>,
    /// Boxed, like `masker`: an idle connection's size is per-connection
    /// memory on a server holding thousands of them, and most connections
    /// have neither.
    deflate: Option<Box<PerMessageDeflate>>,
    /// The client's masking keys (servers do not mask).
    masker: Option<Box<Masker>>,
    tx: TxQueue,
    events: VecDeque<Event>,
    timers: TimerTable<Timer, 3>,
    error: Option<Error>,
    deferred: Option<(Deferred, Instant)>,
    eof: bool,
}

/// Mask keys, fetched from the entropy source in batches.
struct Masker {
    entropy: Box<dyn Entropy + Send>,
    pool: [u8; 64],
    /// Bytes of `pool` handed out.
    used: usize,
}

impl Masker {
    fn next(&mut self) -> [u8; 4] {
        if self.used + 4 > self.pool.len() {
            self.entropy.fill(&mut self.pool);
            self.used = 0;
        }
        let at = self.used;
        self.used += 4;
        [
            self.pool[at],
            self.pool[at + 1],
            self.pool[at + 2],
            self.pool[at + 3],
        ]
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("rx", &self.rx)
            .field("deflate", &self.deflate.is_some())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// The server side of a connection.
    pub fn server(config: Config) -> Self {
        Self::new(Role::Server, config, None)
    }

    /// The client side; `entropy` supplies the masking keys, which must be
    /// unpredictable to the peer (RFC 6455 §10.3).
    pub fn client(config: Config, entropy: impl Entropy + Send + 'static) -> Self {
        Self::new(Role::Client, config, Some(Box::new(entropy)))
    }

    fn new(role: Role, config: Config, entropy: Option<Box<dyn Entropy + Send>>) -> Self {
        let tx = TxQueue::new(config.write_high_water);
        Self {
            role,
            config,
            state: State::Open,
            rx: Rx::Header,
            head_buf: [0; 14],
            head_len: 0,
            control: Vec::new(),
            incoming: Incoming::default(),
            scratch: BytesMut::new(),
            sending: None,
            deflate: None,
            masker: entropy.map(|entropy| {
                Box::new(Masker {
                    entropy,
                    pool: [0; 64],
                    used: 64,
                })
            }),
            tx,
            events: VecDeque::new(),
            timers: TimerTable::new(),
            error: None,
            deferred: None,
            eof: false,
        }
    }

    /// Turns on permessage-deflate with the parameters the handshake
    /// negotiated. Call before any data flows.
    pub fn with_deflate(mut self, params: &DeflateParams) -> Self {
        self.deflate = Some(Box::new(PerMessageDeflate::new(params, self.role)));
        self
    }

    /// Arms the keep-alive timer from `now` (when
    /// [`Config::keepalive_interval`] is set). Input re-arms it.
    pub fn start(&mut self, now: Instant) {
        self.touch(now);
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether messages may still be sent (no close sent or received).
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Whether a send now stays below [`Config::write_high_water`].
    pub fn can_send(&self) -> bool {
        self.is_open() && !self.tx.is_full()
    }

    /// Whether [`poll_event`](Machine::poll_event) has an event ready.
    ///
    /// A closing step (the echo of the peer's close, or the close after a
    /// protocol error) waits until `poll_event` is called again after the
    /// events that preceded it were taken, so the application's replies to
    /// them go out first. An application that hands events to another task
    /// drains while this is true, and makes that last call once the other
    /// task has caught up.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// Bytes queued for the transport.
    pub fn queued_bytes(&self) -> usize {
        self.tx.queued_bytes()
    }

    /// Sends a whole message, compressed when permessage-deflate was
    /// negotiated and the message is large enough to gain.
    pub fn send(&mut self, message: Message) -> Result<(), Error> {
        self.send_with(message, true)
    }

    /// Sends a whole message; `compress: false` opts this message out of
    /// permessage-deflate (already-compressed data, for example).
    pub fn send_with(&mut self, message: Message, compress: bool) -> Result<(), Error> {
        self.check_open()?;
        if self.sending.is_some() {
            return Err(Error::MessageInProgress);
        }
        let opcode = match message.kind() {
            MessageKind::Text => OpCode::Text,
            MessageKind::Binary => OpCode::Binary,
        };
        let payload = message.into_bytes();
        if compress
            && let Some(deflate) = &mut self.deflate
            && payload.len() >= deflate.min_compress_size()
        {
            let mut out = BytesMut::new();
            deflate
                .compress(&payload, &mut out)
                .map_err(Error::Deflate)?;
            self.write_frame(opcode, true, true, out.freeze());
        } else {
            self.write_frame(opcode, true, false, payload);
        }
        Ok(())
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), Error> {
        self.send(Message::Text(text.into()))
    }

    /// Sends a binary message.
    pub fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<(), Error> {
        self.send(Message::Binary(data.into()))
    }

    /// Sends one frame of a message streamed in pieces: the first call
    /// starts the message, `fin` ends it. Streamed messages are not
    /// compressed. Control frames (pongs, close) may go out in between. For
    /// text, the pieces together must be UTF-8; each piece need not be.
    pub fn send_fragment(
        &mut self,
        kind: MessageKind,
        data: Bytes,
        fin: bool,
    ) -> Result<(), Error> {
        self.check_open()?;
        let opcode = match self.sending {
            None => match kind {
                MessageKind::Text => OpCode::Text,
                MessageKind::Binary => OpCode::Binary,
            },
            Some(k) if k == kind => OpCode::Continuation,
            Some(_) => return Err(Error::MessageInProgress),
        };
        self.sending = if fin { None } else { Some(kind) };
        self.write_frame(opcode, fin, false, data);
        Ok(())
    }

    /// Sends a ping (payload at most 125 bytes).
    pub fn ping(&mut self, payload: Bytes) -> Result<(), Error> {
        self.check_open()?;
        if payload.len() > 125 {
            return Err(Error::ControlTooLong);
        }
        self.write_frame(OpCode::Ping, true, false, payload);
        Ok(())
    }

    /// Sends an unsolicited pong (a one-way heartbeat).
    pub fn pong(&mut self, payload: Bytes) -> Result<(), Error> {
        self.check_open()?;
        if payload.len() > 125 {
            return Err(Error::ControlTooLong);
        }
        self.write_frame(OpCode::Pong, true, false, payload);
        Ok(())
    }

    /// Starts the close handshake: sends a close frame and waits (up to
    /// [`Config::close_timeout`]) for the peer's. `code` must be sendable
    /// ([`close_code::is_sendable`]); the reason at most 123 bytes.
    pub fn close(&mut self, now: Instant, code: u16, reason: &str) -> Result<(), Error> {
        if self.deferred.is_some() {
            // The peer's close or a protocol failure is already being
            // answered; that farewell goes out instead.
            self.run_deferred();
            return Err(Error::Closing);
        }
        self.check_open()?;
        if !close_code::is_sendable(code) {
            return Err(Error::InvalidCloseCode(code));
        }
        if reason.len() > 123 {
            return Err(Error::ControlTooLong);
        }
        self.write_close(Some(code), reason);
        self.state = State::CloseSent;
        self.timers.clear(Timer::Ping);
        self.timers.clear(Timer::Pong);
        self.timers
            .set(Timer::Close, now + self.config.close_timeout);
        Ok(())
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.state == State::Open {
            Ok(())
        } else {
            Err(Error::Closing)
        }
    }

    fn next_mask(&mut self) -> [u8; 4] {
        match &mut self.masker {
            Some(masker) => masker.next(),
            None => [0; 4],
        }
    }

    fn write_frame(&mut self, opcode: OpCode, fin: bool, rsv1: bool, payload: Bytes) {
        let mut head = FrameHeader::new(opcode, payload.len() as u64);
        head.fin = fin;
        head.rsv1 = rsv1;
        match self.role {
            Role::Server => {
                let mut buf = [0u8; 14];
                let mut at = &mut buf[..];
                head.encode(&mut at);
                let n = head.encoded_len();
                self.tx.write(&buf[..n]);
                if !payload.is_empty() {
                    self.tx.push(payload);
                }
            }
            Role::Client => {
                // The payload is shared, so masking needs a copy.
                let key = self.next_mask();
                head.mask = Some(key);
                let n = head.encoded_len();
                let mut frame = BytesMut::with_capacity(n + payload.len());
                head.encode(&mut frame);
                frame.extend_from_slice(&payload);
                apply_mask(&mut frame[n..], key, 0);
                self.tx.push(frame.freeze());
            }
        }
    }

    fn write_close(&mut self, code: Option<u16>, reason: &str) {
        let payload = match code {
            Some(code) => {
                let mut p = Vec::with_capacity(2 + reason.len());
                p.extend_from_slice(&code.to_be_bytes());
                p.extend_from_slice(reason.as_bytes());
                Bytes::from(p)
            }
            None => Bytes::new(),
        };
        self.write_frame(OpCode::Close, true, false, payload);
    }

    /// Input arrived: the peer is alive.
    fn touch(&mut self, now: Instant) {
        if self.state != State::Open {
            return;
        }
        self.timers.clear(Timer::Pong);
        if let Some(every) = self.config.keepalive_interval {
            self.timers.set(Timer::Ping, now + every);
        }
    }

    /// Fails the connection: close frame with the error's code (unless one
    /// was sent already), then half-close; input is drained until EOF so
    /// the close frame is not lost to a reset.
    /// The error is also reported as an event, after the events that came
    /// before it; the close frame waits until the application took them.
    fn fail(&mut self, now: Instant, error: Error) -> Error {
        self.error = Some(error.clone());
        self.events.push_back(Event::Error(error.clone()));
        self.deferred = Some((Deferred::Fail(error.clone()), now));
        error
    }

    fn fail_now(&mut self, now: Instant, error: Error) {
        if self.state == State::Open {
            let reason = error.to_string();
            let mut cut = reason.len().min(123);
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            self.write_close(error.close_code(), &reason[..cut]);
        }
        self.tx.shutdown();
        self.enter_closing(now);
    }

    /// Runs the held-back closing step, once the events before it are taken.
    fn run_deferred(&mut self) {
        match self.deferred.take() {
            Some((Deferred::Fail(error), now)) => self.fail_now(now, error),
            Some((Deferred::CloseReply(frame), now)) => self.close_reply(now, frame),
            None => {}
        }
    }

    fn enter_closing(&mut self, now: Instant) {
        self.state = State::Closing;
        self.timers.clear_all();
        // The server closes the TCP connection first (RFC 6455 §7.1.1); a
        // client waits for that, up to the close timeout.
        if self.role == Role::Server {
            self.tx.shutdown();
        }
        if self.eof {
            self.finish();
        } else {
            self.timers
                .set(Timer::Close, now + self.config.close_timeout);
        }
    }

    fn finish(&mut self) {
        self.tx.shutdown();
        self.state = State::Closed;
        self.timers.clear_all();
    }

    fn process(&mut self, now: Instant, mut input: &[u8]) -> Result<(), Error> {
        while !input.is_empty()
            && matches!(self.state, State::Open | State::CloseSent)
            && self.deferred.is_none()
        {
            match self.rx {
                Rx::Header => {
                    let max = self.config.max_frame_size as u64;
                    let parsed = if self.head_len == 0 {
                        match FrameHeader::parse(input, max)? {
                            Some((head, used)) => Some((head, used)),
                            None => {
                                // Shorter than a full header, so it fits.
                                self.head_buf[..input.len()].copy_from_slice(input);
                                self.head_len = input.len();
                                return Ok(());
                            }
                        }
                    } else {
                        let take = (14 - self.head_len).min(input.len());
                        let old = self.head_len;
                        self.head_buf[old..old + take].copy_from_slice(&input[..take]);
                        match FrameHeader::parse(&self.head_buf[..old + take], max)? {
                            Some((head, used)) => {
                                self.head_len = 0;
                                Some((head, used - old))
                            }
                            None => {
                                self.head_len += take;
                                input = &input[take..];
                                None
                            }
                        }
                    };
                    if let Some((head, used)) = parsed {
                        input = &input[used..];
                        self.begin_frame(now, head)?;
                    }
                }
                Rx::Payload {
                    head,
                    remaining,
                    done,
                } => {
                    let n = remaining.min(input.len() as u64) as usize;
                    self.payload(&head, &input[..n], done)?;
                    input = &input[n..];
                    let remaining = remaining - n as u64;
                    self.rx = Rx::Payload {
                        head,
                        remaining,
                        done: done + n,
                    };
                    if remaining == 0 {
                        self.rx = Rx::Header;
                        self.end_frame(now, &head)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn begin_frame(&mut self, now: Instant, head: FrameHeader) -> Result<(), Error> {
        if head.rsv2 || head.rsv3 {
            return Err(Error::ReservedBits);
        }
        match (self.role, head.mask.is_some()) {
            (Role::Server, false) => return Err(Error::UnmaskedFrame),
            (Role::Client, true) => return Err(Error::MaskedFrame),
            _ => {}
        }
        let first = matches!(head.opcode, OpCode::Text | OpCode::Binary);
        if head.rsv1 && !(first && self.deflate.is_some()) {
            return Err(Error::ReservedBits);
        }
        match head.opcode {
            OpCode::Text | OpCode::Binary => {
                if self.incoming.kind.is_some() {
                    return Err(Error::ExpectedContinuation);
                }
                self.incoming.kind = Some(if head.opcode == OpCode::Text {
                    MessageKind::Text
                } else {
                    MessageKind::Binary
                });
                self.incoming.compressed = head.rsv1;
                self.incoming.utf8_ok = 0;
                self.incoming.delivered = 0;
            }
            OpCode::Continuation if self.incoming.kind.is_none() => {
                return Err(Error::UnexpectedContinuation);
            }
            OpCode::Continuation => {}
            OpCode::Close | OpCode::Ping | OpCode::Pong => self.control.clear(),
        }
        if !head.opcode.is_control() && !self.incoming.compressed {
            let total = self.incoming.delivered as u64 + self.incoming.data.len() as u64 + head.len;
            let max = self.config.max_message_size;
            if total > max as u64 {
                return Err(Error::MessageTooLarge { max });
            }
            if self.incoming.data.is_empty() {
                // One allocation for a single-frame message, but not a
                // large one on a header's say-so alone.
                self.incoming.data.reserve((head.len as usize).min(1 << 20));
            }
        }
        self.rx = Rx::Payload {
            head,
            remaining: head.len,
            done: 0,
        };
        if head.len == 0 {
            self.rx = Rx::Header;
            self.end_frame(now, &head)?;
        }
        Ok(())
    }

    fn payload(&mut self, head: &FrameHeader, chunk: &[u8], done: usize) -> Result<(), Error> {
        if head.opcode.is_control() {
            let start = self.control.len();
            self.control.extend_from_slice(chunk);
            if let Some(key) = head.mask {
                apply_mask(&mut self.control[start..], key, done);
            }
            return Ok(());
        }
        if self.incoming.compressed {
            self.scratch.clear();
            self.scratch.extend_from_slice(chunk);
            if let Some(key) = head.mask {
                apply_mask(&mut self.scratch, key, done);
            }
        } else {
            let start = self.incoming.data.len();
            self.incoming.data.extend_from_slice(chunk);
            if let Some(key) = head.mask {
                apply_mask(&mut self.incoming.data[start..], key, done);
            }
        }
        let inflated = if self.incoming.compressed {
            self.inflate(false)
        } else {
            Ok(())
        };
        // What was received before a failure is checked and (streaming)
        // delivered either way, so the outcome does not depend on how the
        // input was cut: bad text is reported before a bad deflate block.
        let text = self.check_utf8(false);
        if self.config.streaming {
            self.deliver_fragment(false);
        }
        text.and(inflated)
    }

    fn inflate(&mut self, fin: bool) -> Result<(), Error> {
        let max = self.config.max_message_size;
        let limit = max.saturating_sub(self.incoming.delivered);
        let Some(deflate) = &mut self.deflate else {
            return Ok(());
        };
        deflate
            .decompress(&self.scratch, fin, &mut self.incoming.data, limit)
            .map_err(|e| match e.close_code() {
                close_code::TOO_BIG => Error::MessageTooLarge { max },
                _ => Error::Deflate(e),
            })
    }

    fn check_utf8(&mut self, complete: bool) -> Result<(), Error> {
        let inc = &mut self.incoming;
        if inc.kind != Some(MessageKind::Text) {
            return Ok(());
        }
        match std::str::from_utf8(&inc.data[inc.utf8_ok..]) {
            Ok(_) => inc.utf8_ok = inc.data.len(),
            // An incomplete character at the end may still be completed by
            // the next piece; anything else fails now (fail fast).
            Err(e) if e.error_len().is_none() && !complete => inc.utf8_ok += e.valid_up_to(),
            Err(e) => {
                inc.utf8_ok += e.valid_up_to();
                return Err(Error::InvalidUtf8);
            }
        }
        Ok(())
    }

    /// Streaming mode: hands out what is ready (whole characters for text).
    fn deliver_fragment(&mut self, fin: bool) {
        let inc = &mut self.incoming;
        let Some(kind) = inc.kind else { return };
        let ready = match kind {
            MessageKind::Text => inc.utf8_ok,
            MessageKind::Binary => inc.data.len(),
        };
        if ready == 0 && !fin {
            return;
        }
        let data = inc.data.split_to(ready).freeze();
        inc.utf8_ok = 0;
        inc.delivered += data.len();
        self.events.push_back(Event::Fragment { kind, data, fin });
    }

    fn end_frame(&mut self, now: Instant, head: &FrameHeader) -> Result<(), Error> {
        match head.opcode {
            OpCode::Ping => {
                let payload = Bytes::copy_from_slice(&self.control);
                if self.state == State::Open {
                    self.write_frame(OpCode::Pong, true, false, payload.clone());
                }
                self.events.push_back(Event::Ping(payload));
            }
            OpCode::Pong => {
                let payload = Bytes::copy_from_slice(&self.control);
                self.events.push_back(Event::Pong(payload));
            }
            OpCode::Close => self.receive_close(now)?,
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                if !head.fin {
                    return Ok(());
                }
                let inflated = if self.incoming.compressed {
                    self.scratch.clear();
                    self.inflate(true)
                } else {
                    Ok(())
                };
                let text = self.check_utf8(inflated.is_ok());
                if inflated.is_err() || text.is_err() {
                    if self.config.streaming {
                        self.deliver_fragment(false);
                    }
                    return text.and(inflated);
                }
                if self.config.streaming {
                    self.deliver_fragment(true);
                } else {
                    let data = self.incoming.data.split().freeze();
                    let message = match self.incoming.kind {
                        Some(MessageKind::Text) => Message::Text(Utf8Bytes::from_validated(data)),
                        _ => Message::Binary(data),
                    };
                    self.events.push_back(Event::Message(message));
                }
                self.incoming.kind = None;
                self.incoming.compressed = false;
                self.incoming.utf8_ok = 0;
                self.incoming.delivered = 0;
            }
        }
        Ok(())
    }

    fn receive_close(&mut self, now: Instant) -> Result<(), Error> {
        let frame = match self.control.as_slice() {
            [] => None,
            [_] => return Err(Error::InvalidClosePayload),
            [hi, lo, reason @ ..] => {
                let code = u16::from_be_bytes([*hi, *lo]);
                if !close_code::is_sendable(code) {
                    return Err(Error::InvalidCloseCode(code));
                }
                let reason = std::str::from_utf8(reason).map_err(|_| Error::InvalidUtf8)?;
                Some(CloseFrame::new(code, reason))
            }
        };
        if self.state == State::Open && !self.events.is_empty() {
            // Input after the close frame is ignored; the echo waits until
            // the application has seen (and answered) the messages before it.
            // (After our own close there is nothing to answer with.)
            self.deferred = Some((Deferred::CloseReply(frame), now));
            return Ok(());
        }
        self.close_reply(now, frame);
        Ok(())
    }

    fn close_reply(&mut self, now: Instant, frame: Option<CloseFrame>) {
        if self.state == State::Open {
            // Echo the status code (RFC 6455 §5.5.1).
            self.write_close(frame.as_ref().map(|f| f.code), "");
        }
        self.events.push_back(Event::Close(frame));
        self.enter_closing(now);
    }
}

impl Machine for Connection {
    type Event = Event;
    type Error = Error;

    fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), Error> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if bytes.is_empty() {
            return Ok(());
        }
        self.touch(now);
        self.process(now, bytes).map_err(|e| self.fail(now, e))
    }

    fn handle_eof(&mut self, _now: Instant) -> Result<(), Error> {
        self.eof = true;
        self.run_deferred();
        match self.state {
            State::Open | State::CloseSent => {
                self.finish();
                if self.error.is_none() {
                    self.error = Some(Error::AbnormalClosure);
                    self.events.push_back(Event::Error(Error::AbnormalClosure));
                }
                Err(self.error.clone().unwrap_or(Error::AbnormalClosure))
            }
            State::Closing => {
                self.finish();
                Ok(())
            }
            State::Closed => Ok(()),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                Timer::Ping => {
                    self.write_frame(OpCode::Ping, true, false, Bytes::new());
                    self.timers.set(Timer::Pong, now + self.config.pong_timeout);
                }
                Timer::Pong => {
                    let e = Error::KeepAliveTimeout;
                    self.error = Some(e.clone());
                    self.fail_now(now, e.clone());
                    self.events.push_back(Event::Error(e));
                    self.finish();
                }
                Timer::Close => {
                    if self.state == State::CloseSent {
                        self.events.push_back(Event::Error(Error::CloseTimeout));
                    }
                    // A peer that stopped reading would keep unsent output
                    // (and so the connection) alive forever.
                    self.tx.clear();
                    self.finish();
                }
            }
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.tx.pop()
    }

    fn poll_event(&mut self) -> Option<Event> {
        if let Some(ev) = self.events.pop_front() {
            return Some(ev);
        }
        // Called again after the last event: the application has reacted
        // to everything before the held-back step.
        self.run_deferred();
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    fn wants_read(&self) -> bool {
        !self.eof && self.state != State::Closed && self.deferred.is_none() && !self.tx.is_full()
    }

    fn is_closed(&self) -> bool {
        self.state == State::Closed && self.tx.is_empty()
    }
}
