//! The WebSocket transport: one JSON-RPC message per WebSocket text
//! message, subprotocol [`SUBPROTOCOL`] (`mcp`).
//!
//! Two layers, so a runtime that already runs a WebSocket connection of
//! its own reuses the same rules:
//!
//! * [`handle_ws_message`] and [`text_message`]: what a received message
//!   means for a session (text → one JSON-RPC message, answered in-band —
//!   malformed JSON gets -32700 —; binary → close with 1003) and how a
//!   session's output is sent (a text message).
//! * [`WsTransport`] ([`WsServer`], [`WsClient`]): a byte
//!   [`Machine`] pairing a session with a `wirestate-ws`
//!   [`wirestate_ws::Connection`] after the opening handshake
//!   (which stays the runtime's: [`wirestate_ws::ServerHandshake`] with
//!   [`SUBPROTOCOL`]).
//!
//! ```
//! use std::time::Instant;
//! use wirestate_machine::Machine;
//! use wirestate_mcp::websocket::{WsConfig, WsServer};
//! use wirestate_mcp::Config;
//!
//! let mut server = WsServer::server(Config::default(), WsConfig::default());
//! // A masked text frame `{}` from a client (mask 0,0,0,0).
//! server.handle_input(Instant::now(), &[0x81, 0x82, 0, 0, 0, 0, b'{', b'}']).unwrap();
//! // Not a JSON-RPC message: answered in-band with -32600, the socket stays open.
//! let Some(wirestate_machine::Transmit::Bytes(reply)) = server.poll_transmit() else { panic!() };
//! assert_eq!(reply[0], 0x81);
//! assert!(std::str::from_utf8(&reply[2..]).unwrap().contains("-32600"));
//! ```

use std::time::Instant;

use bytes::Bytes;
use wirestate_machine::{Entropy, Machine, Transmit};
use wirestate_ws::{
    CloseFrame, Connection, DeflateParams, Event, FrameHeader, Message, Utf8Bytes, close_code,
};

use crate::client::{ClientConfig, ClientEvent, ClientSession};
use crate::server::{Config, ServerEvent, ServerSession};

/// The WebSocket subprotocol of MCP, offered by clients and accepted by
/// servers (`Sec-WebSocket-Protocol: mcp`).
pub const SUBPROTOCOL: &str = "mcp";

/// The reason sent with the 1003 close that answers a binary message.
pub const BINARY_REASON: &str = "MCP messages are text";

/// The message-level verbs of an MCP session, implemented by
/// [`ServerSession`] and [`ClientSession`]: what a transport needs to
/// carry one.
pub trait Session {
    /// The session's events.
    type Event;
    /// One received JSON-RPC message (or batch). Refusals are answered
    /// in-band and reported as events.
    fn handle_message_bytes(&mut self, now: Instant, message: Bytes);
    /// Fires due deadlines.
    fn handle_timeout(&mut self, now: Instant);
    /// The transport closed: pending requests are abandoned.
    fn handle_close(&mut self);
    /// The next message to send.
    fn poll_message(&mut self) -> Option<Bytes>;
    /// The next event.
    fn poll_event(&mut self) -> Option<Self::Event>;
    /// The next deadline.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Whether the session takes more input now.
    fn wants_message(&self) -> bool;
}

impl Session for ServerSession {
    type Event = ServerEvent;
    fn handle_message_bytes(&mut self, now: Instant, message: Bytes) {
        // Refusals are answered in-band and reported as events.
        let _ = ServerSession::handle_message_bytes(self, now, message);
    }
    fn handle_timeout(&mut self, now: Instant) {
        ServerSession::handle_timeout(self, now);
    }
    fn handle_close(&mut self) {
        ServerSession::handle_close(self);
    }
    fn poll_message(&mut self) -> Option<Bytes> {
        ServerSession::poll_message(self)
    }
    fn poll_event(&mut self) -> Option<ServerEvent> {
        ServerSession::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        ServerSession::poll_timeout(self)
    }
    fn wants_message(&self) -> bool {
        ServerSession::wants_message(self)
    }
}

impl Session for ClientSession {
    type Event = ClientEvent;
    fn handle_message_bytes(&mut self, now: Instant, message: Bytes) {
        // Refusals are answered in-band and reported as events.
        let _ = ClientSession::handle_message_bytes(self, now, message);
    }
    fn handle_timeout(&mut self, now: Instant) {
        ClientSession::handle_timeout(self, now);
    }
    fn handle_close(&mut self) {
        ClientSession::handle_close(self);
    }
    fn poll_message(&mut self) -> Option<Bytes> {
        ClientSession::poll_message(self)
    }
    fn poll_event(&mut self) -> Option<ClientEvent> {
        ClientSession::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        ClientSession::poll_timeout(self)
    }
    fn wants_message(&self) -> bool {
        ClientSession::wants_message(self)
    }
}

/// Hands one received WebSocket message to `session`: a text message is
/// one JSON-RPC message (malformed JSON is answered -32700 by the session,
/// an invalid message -32600, and the connection stays open).
///
/// # Errors
///
/// A binary message is not MCP: the close frame to send (1003,
/// [`BINARY_REASON`]); the session is not told.
pub fn handle_ws_message<S: Session + ?Sized>(
    session: &mut S,
    now: Instant,
    message: Message,
) -> Result<(), CloseFrame> {
    match message {
        Message::Text(text) => {
            session.handle_message_bytes(now, text.into_bytes());
            Ok(())
        }
        Message::Binary(_) => Err(CloseFrame::new(close_code::UNSUPPORTED, BINARY_REASON)),
    }
}

/// A session's outgoing message as a WebSocket text message; `None` for
/// bytes that are not UTF-8 (the sessions only produce JSON, which is).
pub fn text_message(message: Bytes) -> Option<Message> {
    Utf8Bytes::try_from(message).ok().map(Message::Text)
}

/// Settings of a [`WsTransport`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WsConfig {
    /// The WebSocket connection's limits and timers. A message over
    /// `max_message_size` closes the connection with 1009. `streaming` is
    /// ignored (MCP needs whole messages). Defaults: the `wirestate-ws`
    /// ones, with messages and frames limited to 4 MiB — the JSON-RPC
    /// layer's default message limit.
    pub connection: wirestate_ws::Config,
}

impl WsConfig {
    /// The default message limit, in bytes (4 MiB).
    pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 4 << 20;
}

impl Default for WsConfig {
    fn default() -> Self {
        let mut connection = wirestate_ws::Config::default();
        connection.max_message_size = Self::DEFAULT_MAX_MESSAGE_SIZE;
        connection.max_frame_size = Self::DEFAULT_MAX_MESSAGE_SIZE;
        Self { connection }
    }
}

impl WsConfig {
    fn connection(&self) -> wirestate_ws::Config {
        let mut c = self.connection.clone();
        c.streaming = false;
        c
    }
}

/// An MCP session over a WebSocket connection, as a byte [`Machine`]
/// (the connection after the opening handshake).
///
/// * **In:** each text message goes to the session
///   ([`handle_ws_message`]); its answers go out as text messages, one
///   JSON-RPC message each, before anything the connection does next (a
///   close echo included). A binary message is answered with a close frame
///   1003. WebSocket protocol errors (and messages over the limit, 1009)
///   are the connection's: [`handle_input`](Machine::handle_input) returns
///   them, sticky, after the close frame is queued.
/// * **Out:** commands go to the session through
///   [`session_mut`](Self::session_mut); their messages leave through
///   [`poll_transmit`](Machine::poll_transmit) as long as the connection is
///   open; while its output is above the high-water mark reading pauses
///   ([`wants_read`](Machine::wants_read)).
/// * **End:** when the peer's close frame arrives, the connection fails or
///   the transport ends, the session is closed (its pending requests
///   abandoned: `Closed` event); output queued after that is dropped.
///   [`close`](Self::close) starts the close handshake from our side.
///
/// Feeding the input whole, byte by byte or in any pieces gives the same
/// events and the same output.
#[derive(Debug)]
pub struct WsTransport<S> {
    ws: Connection,
    session: S,
    session_closed: bool,
    frames: FrameBounds,
}

/// Where the input stands relative to frame boundaries, so the
/// connection's events are taken at the end of every frame, whatever the
/// chunking: a pong the connection queues while reading a ping then
/// always falls after the answers to the messages before it.
#[derive(Debug, Default)]
struct FrameBounds {
    /// Header bytes of the frame being read, until its length is known.
    head: [u8; 14],
    head_len: usize,
    /// Payload bytes of the current frame still to come (header read).
    remaining: u64,
    /// The header was read and the payload is being counted.
    in_payload: bool,
    /// A header did not parse: the connection has failed on it, nothing
    /// more is tracked.
    broken: bool,
}

impl FrameBounds {
    /// How many of `bytes` to feed next, and whether a frame ends there.
    fn next(&mut self, bytes: &[u8]) -> (usize, bool) {
        if self.broken {
            return (bytes.len(), false);
        }
        if self.in_payload {
            let take = usize::try_from(self.remaining).map_or(bytes.len(), |r| r.min(bytes.len()));
            self.remaining -= take as u64;
            if self.remaining == 0 {
                self.in_payload = false;
                return (take, true);
            }
            return (take, false);
        }
        let room = self.head.len() - self.head_len;
        let mut buf = self.head;
        let avail = room.min(bytes.len());
        buf[self.head_len..self.head_len + avail].copy_from_slice(&bytes[..avail]);
        match FrameHeader::parse(&buf[..self.head_len + avail], u64::MAX) {
            Ok(Some((head, n))) => {
                let take = n - self.head_len;
                self.head_len = 0;
                if head.len == 0 {
                    (take, true)
                } else {
                    self.remaining = head.len;
                    self.in_payload = true;
                    (take, false)
                }
            }
            Ok(None) => {
                self.head = buf;
                self.head_len += avail;
                (avail, false)
            }
            Err(_) => {
                self.broken = true;
                (bytes.len(), false)
            }
        }
    }
}

/// The server side: a [`ServerSession`] over WebSocket.
pub type WsServer = WsTransport<ServerSession>;

/// The client side: a [`ClientSession`] over WebSocket.
pub type WsClient = WsTransport<ClientSession>;

impl WsTransport<ServerSession> {
    /// A server waiting for `initialize`, over the server side of a
    /// connection whose handshake was answered.
    pub fn server(session: Config, config: WsConfig) -> Self {
        Self::new(
            Connection::server(config.connection()),
            ServerSession::new(session),
        )
    }
}

impl WsTransport<ClientSession> {
    /// A client over the client side of a connection whose handshake
    /// completed; `entropy` masks its frames (RFC 6455 §10.3). Send
    /// `initialize` through [`session_mut`](Self::session_mut).
    pub fn client(
        session: ClientConfig,
        config: WsConfig,
        entropy: impl Entropy + Send + 'static,
    ) -> Self {
        Self::new(
            Connection::client(config.connection(), entropy),
            ClientSession::new(session),
        )
    }
}

impl<S: Session> WsTransport<S> {
    fn new(ws: Connection, session: S) -> Self {
        Self {
            ws,
            session,
            session_closed: false,
            frames: FrameBounds::default(),
        }
    }

    /// Turns on permessage-deflate with the parameters the handshake
    /// negotiated. Call before any data flows.
    #[must_use]
    pub fn with_deflate(mut self, params: &DeflateParams) -> Self {
        self.ws = self.ws.with_deflate(params);
        self
    }

    /// Arms the connection's keep-alive timer from `now` (when configured).
    pub fn start(&mut self, now: Instant) {
        self.ws.start(now);
    }

    /// The session.
    pub fn session(&self) -> &S {
        &self.session
    }

    /// The session, for commands.
    pub fn session_mut(&mut self) -> &mut S {
        &mut self.session
    }

    /// The WebSocket connection.
    pub fn connection(&self) -> &Connection {
        &self.ws
    }

    /// Starts the close handshake (`code` must be sendable, the reason at
    /// most 123 bytes); messages the session already queued go first.
    ///
    /// # Errors
    ///
    /// The connection's: already closing, a bad code, a long reason.
    pub fn close(
        &mut self,
        now: Instant,
        code: u16,
        reason: &str,
    ) -> Result<(), wirestate_ws::Error> {
        self.flush();
        let r = self.ws.close(now, code, reason);
        self.pump(now);
        r
    }

    /// Moves the session's messages into the connection (whose output
    /// bound pauses reading, [`wants_read`](Machine::wants_read)); once
    /// the connection is no longer open they are dropped. Always all of
    /// them, so where they fall among the connection's own frames (pongs)
    /// does not depend on when the output was drained.
    fn flush(&mut self) {
        loop {
            if !self.ws.is_open() {
                while self.session.poll_message().is_some() {}
                return;
            }
            let Some(m) = self.session.poll_message() else {
                return;
            };
            if let Some(text) = text_message(m) {
                // The connection is open and nothing is being streamed,
                // so sending cannot fail.
                let _ = self.ws.send(text);
            }
        }
    }

    fn close_session(&mut self) {
        if !self.session_closed {
            self.session_closed = true;
            self.session.handle_close();
        }
    }

    /// Takes the connection's events: messages to the session (with its
    /// answers sent right after each, so they precede a close echo the
    /// connection holds back until its events are drained), the end of
    /// the connection to the session.
    fn pump(&mut self, now: Instant) {
        while let Some(event) = self.ws.poll_event() {
            match event {
                Event::Message(message) => {
                    if self.session_closed {
                        continue;
                    }
                    match handle_ws_message(&mut self.session, now, message) {
                        Ok(()) => self.flush(),
                        Err(frame) => {
                            self.flush();
                            let _ = self.ws.close(now, frame.code, BINARY_REASON);
                        }
                    }
                }
                Event::Fragment { .. } => {
                    // Not produced: streaming is off (WsConfig forces it).
                }
                Event::Ping(_) | Event::Pong(_) => {}
                Event::Close(_) | Event::Error(_) => self.close_session(),
            }
        }
        if self.ws.is_closed() || (!self.ws.is_open() && !self.session_closed) {
            // We sent a close frame (after a binary message, or `close`):
            // nothing more can go out, so the session is over.
            self.close_session();
        }
    }
}

impl<S: Session> Machine for WsTransport<S> {
    type Event = S::Event;
    type Error = wirestate_ws::Error;

    fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), Self::Error> {
        if bytes.is_empty() {
            // Nothing to read, but a failure stays reported.
            return self.ws.handle_input(now, bytes);
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            let (take, frame_end) = self.frames.next(rest);
            let r = self.ws.handle_input(now, &rest[..take]);
            rest = &rest[take..];
            if r.is_err() || frame_end {
                self.pump(now);
            }
            r?;
        }
        Ok(())
    }

    fn handle_eof(&mut self, now: Instant) -> Result<(), Self::Error> {
        let r = self.ws.handle_eof(now);
        self.pump(now);
        self.close_session();
        r
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.ws.handle_timeout(now);
        self.session.handle_timeout(now);
        self.pump(now);
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.flush();
        self.ws.poll_transmit()
    }

    fn poll_event(&mut self) -> Option<S::Event> {
        self.session.poll_event()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.ws.poll_timeout(), self.session.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn wants_read(&self) -> bool {
        self.ws.wants_read() && (self.session_closed || self.session.wants_message())
    }

    fn is_closed(&self) -> bool {
        self.ws.is_closed()
    }
}
