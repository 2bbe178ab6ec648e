//! The stdio transport: newline-delimited JSON-RPC over a byte stream.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use wirestate_codec::{LineDecoder, LineError, encode_line};
use wirestate_jsonrpc::{ErrorCode, ErrorObject, ErrorResponse, Message};
use wirestate_machine::{Machine, Transmit};

use crate::error::Error;
use crate::server::{Config, ServerEvent, ServerSession};

/// Settings of a [`StdioServer`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StdioConfig {
    /// The session's settings.
    pub session: Config,
    /// The longest line (one message) accepted, in bytes, without its
    /// terminator. Default 4 MiB, which is also the JSON-RPC layer's
    /// default message limit.
    pub max_line_len: usize,
}

impl Default for StdioConfig {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl StdioConfig {
    /// The default line limit, with these session settings.
    pub fn new(session: Config) -> Self {
        Self {
            session,
            max_line_len: LineDecoder::DEFAULT_MAX_LINE_LEN,
        }
    }
}

/// An MCP server over stdio as a byte [`Machine`]: the client's stdout
/// in, our stdout out, one JSON-RPC message per line
/// (`\n`-terminated; `\r\n` accepted, blank lines skipped).
///
/// * Commands go to the session: [`session_mut`](Self::session_mut)
///   (answers, catalogue changes, progress, logs, requests to the client);
///   their output comes out of [`poll_transmit`](Machine::poll_transmit)
///   as lines.
/// * **Nothing is sticky.** [`handle_input`](Machine::handle_input) never
///   fails: a malformed message is answered by the JSON-RPC layer and
///   reported as [`ServerEvent::Invalid`]. A line longer than
///   [`StdioConfig::max_line_len`] is answered with -32007 and a `null` id
///   as soon as the limit is passed, reported as
///   [`ServerEvent::Invalid`]`(`[`Error::LineTooLong`]`)`, its bytes are
///   discarded without being buffered, and the session goes on with the
///   next line.
/// * **End of input** ([`handle_eof`](Machine::handle_eof)): a final line
///   without `\n` is still a message; then the session abandons its own
///   pending requests ([`ServerEvent::Closed`]). Requests of the client's
///   still in flight can still be answered; once all are answered (or
///   cancelled) and the output is written, the machine transmits
///   [`Transmit::Shutdown`] (close stdout) and is closed; output the
///   application queues after that is dropped.
///
/// Feeding the input whole, byte by byte or in any pieces gives the same
/// events and the same output.
#[derive(Debug)]
pub struct StdioServer {
    decoder: LineDecoder,
    session: ServerSession,
    tx: VecDeque<Bytes>,
    events: VecDeque<ServerEvent>,
    eof: bool,
    shutdown_sent: bool,
}

impl StdioServer {
    /// A server waiting for `initialize`.
    pub fn new(config: StdioConfig) -> Self {
        Self {
            decoder: LineDecoder::with_max_line_len(config.max_line_len),
            session: ServerSession::new(config.session),
            tx: VecDeque::new(),
            events: VecDeque::new(),
            eof: false,
            shutdown_sent: false,
        }
    }

    /// The session.
    pub fn session(&self) -> &ServerSession {
        &self.session
    }

    /// The session, for commands.
    pub fn session_mut(&mut self) -> &mut ServerSession {
        &mut self.session
    }

    fn line(&mut self, now: Instant, line: Result<Bytes, LineError>) {
        match line {
            Ok(message) => {
                // Refusals are answered and reported as events.
                let _ = self.session.handle_message_bytes(now, message);
                self.drain_events();
            }
            Err(e) => {
                let max = match e {
                    LineError::TooLong { max } => max,
                    _ => self.decoder.max_line_len(),
                };
                // Keep the order: what the session queued goes first.
                self.drain_messages();
                let error = ErrorObject::from_code(ErrorCode::MESSAGE_TOO_LARGE);
                let reply = Message::from(ErrorResponse::new(None, error)).to_bytes();
                self.push_line(&reply);
                self.events
                    .push_back(ServerEvent::Invalid(Error::LineTooLong { max }));
            }
        }
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.session.poll_event() {
            self.events.push_back(e);
        }
    }

    fn drain_messages(&mut self) {
        while let Some(m) = self.session.poll_message() {
            self.push_line(&m);
        }
    }

    fn push_line(&mut self, message: &[u8]) {
        let mut dst = BytesMut::with_capacity(message.len() + 1);
        if encode_line(message, &mut dst).is_err() {
            // Raw JSON from the application may hold line breaks as
            // whitespace between tokens (inside strings they would be
            // escaped), so blanking them keeps the same JSON on one line.
            let flat: Vec<u8> = message
                .iter()
                .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
                .collect();
            if encode_line(&flat, &mut dst).is_err() {
                return;
            }
        }
        self.tx.push_back(dst.freeze());
    }
}

impl Default for StdioServer {
    fn default() -> Self {
        Self::new(StdioConfig::default())
    }
}

impl Machine for StdioServer {
    type Event = ServerEvent;
    type Error = Error;

    /// Feeds bytes; never fails (see the type's documentation). Input
    /// after EOF is ignored.
    fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), Error> {
        if self.eof {
            return Ok(());
        }
        self.decoder.push(bytes);
        while let Some(line) = self.decoder.next_line() {
            self.line(now, line);
        }
        Ok(())
    }

    fn handle_eof(&mut self, now: Instant) -> Result<(), Error> {
        if self.eof {
            return Ok(());
        }
        while let Some(line) = self.decoder.finish() {
            self.line(now, line);
        }
        self.eof = true;
        self.session.handle_close();
        self.drain_events();
        Ok(())
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.session.handle_timeout(now);
        self.drain_events();
    }

    /// After [`Transmit::Shutdown`] nothing more: what the application
    /// queues later (logs, notifications, answers) is dropped.
    fn poll_transmit(&mut self) -> Option<Transmit> {
        if self.shutdown_sent {
            self.tx.clear();
            while self.session.poll_message().is_some() {}
            return None;
        }
        if let Some(b) = self.tx.pop_front() {
            return Some(Transmit::Bytes(b));
        }
        if let Some(m) = self.session.poll_message() {
            self.push_line(&m);
            if let Some(b) = self.tx.pop_front() {
                return Some(Transmit::Bytes(b));
            }
        }
        if self.eof && !self.shutdown_sent && self.session.is_idle() {
            self.shutdown_sent = true;
            return Some(Transmit::Shutdown);
        }
        None
    }

    fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events
            .pop_front()
            .or_else(|| self.session.poll_event())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.session.poll_timeout()
    }

    fn wants_read(&self) -> bool {
        !self.eof && self.session.wants_message()
    }

    fn is_closed(&self) -> bool {
        self.shutdown_sent
    }
}
