//! The server side of an HTTP/1.1 connection.

use crate::body::{BodyDecoder, BodyEncoder, BodyStep};
use crate::encode::{case_map, write_content_length, write_fields, write_status_line};
use crate::head::{Facts, HeadParser};
use crate::{BodyKind, BodySize, Error, HeaderCaseMap, ServerConfig};
use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Method, StatusCode, Version, request, response};
use std::collections::VecDeque;
use std::time::Instant;
use wirestate_machine::{Machine, MonotonicClock, RecvBuf, TimerTable, Transmit, TxQueue};

/// Identifies one request on a connection; ids count up from 0 in arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// A request head, as parsed.
#[derive(Debug)]
pub struct Request {
    /// Which request this is.
    pub id: RequestId,
    /// Method, target, version, headers (and a [`HeaderCaseMap`] extension
    /// when `preserve_header_case` is on).
    pub head: request::Parts,
    /// How the body is delimited; its bytes follow as [`ServerEvent::Data`].
    pub body: BodyKind,
    /// The client sent `Expect: 100-continue` and waits for
    /// [`ServerConnection::send_continue`] (or a final response) before the body.
    pub expects_continue: bool,
    /// The request asks to switch protocols (`Upgrade` with
    /// `Connection: upgrade`) or is a CONNECT: answering 101 (or 2xx for
    /// CONNECT) hands the connection over with [`ServerEvent::Upgraded`].
    pub wants_upgrade: bool,
    /// Whether the client allows the connection to stay open afterwards.
    pub keep_alive: bool,
}

impl PartialEq for Request {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.head.method == other.head.method
            && self.head.uri == other.head.uri
            && self.head.version == other.head.version
            && self.head.headers == other.head.headers
            && self.head.extensions.get::<HeaderCaseMap>()
                == other.head.extensions.get::<HeaderCaseMap>()
            && self.body == other.body
            && self.expects_continue == other.expects_continue
            && self.wants_upgrade == other.wants_upgrade
            && self.keep_alive == other.keep_alive
    }
}

/// What a [`ServerConnection`] reports.
#[derive(Debug, PartialEq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A request head arrived.
    Request(Request),
    /// A piece of a request body.
    Data {
        /// The request the bytes belong to.
        id: RequestId,
        /// The bytes, split off the receive buffer without a copy.
        data: Bytes,
    },
    /// A request body ended (immediately after the head when it has none).
    End {
        /// The request that ended.
        id: RequestId,
        /// Trailer fields of a chunked body.
        trailers: Option<HeaderMap>,
    },
    /// The 101 (or the 2xx to CONNECT) was queued: after the queued
    /// transmits, the connection belongs to the new protocol, starting with
    /// `leftover`.
    Upgraded {
        /// The request that was upgraded.
        id: RequestId,
        /// Bytes that arrived after the request, for the new protocol.
        leftover: Bytes,
    },
    /// The client broke the protocol or a limit; the error response (see
    /// [`Error::hint`]) is queued after the responses to earlier requests,
    /// and the connection closes. `handle_input` returns the same error when
    /// the input it was given caused it.
    Error(Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// A request head must be complete by then.
    Header,
    /// An idle keep-alive connection closes then.
    Idle,
}

/// What the read side is doing.
#[derive(Debug)]
enum Read {
    /// Waiting for (the rest of) a request head.
    Head,
    /// Inside a request body.
    Body { id: RequestId, decoder: BodyDecoder },
    /// Holding off after an upgrade or CONNECT request until its response
    /// says whether the connection changes protocol.
    AwaitUpgrade,
    /// No more requests will be read.
    Done,
    /// The connection was handed to another protocol.
    Upgraded,
}

/// A request whose response is not finished.
#[derive(Debug)]
struct Pending {
    id: RequestId,
    is_head: bool,
    is_connect: bool,
    http10: bool,
    keep_alive: bool,
    expects_continue: bool,
    continue_sent: bool,
    wants_upgrade: bool,
    body_done: bool,
}

/// What the write side is doing.
#[derive(Debug)]
enum Write {
    /// Ready for the next response head.
    Idle,
    /// Streaming the body of the front request's response.
    Body {
        encoder: BodyEncoder,
        keep_alive: bool,
    },
}

/// The server side of one HTTP/1.1 connection, sans IO.
///
/// Feed it bytes; it reports [`ServerEvent`]s and queues response bytes.
/// Requests may be pipelined: they are read ahead (up to
/// [`ServerConfig::max_pipelined`]) and answered strictly in order — every
/// response command applies to the oldest unanswered request.
///
/// ```
/// use std::time::Instant;
/// use bytes::Bytes;
/// use wirestate_http1::{BodySize, ServerConfig, ServerConnection, ServerEvent};
/// use wirestate_machine::{Machine, Transmit};
///
/// let now = Instant::now();
/// let mut conn = ServerConnection::new(ServerConfig::default(), now);
/// conn.handle_input(now, b"GET /hi HTTP/1.1\r\nHost: example.com\r\n\r\n").unwrap();
/// let Some(ServerEvent::Request(req)) = conn.poll_event() else { panic!() };
/// assert_eq!(req.head.uri.path(), "/hi");
/// assert!(matches!(conn.poll_event(), Some(ServerEvent::End { .. })));
///
/// let head = http::Response::new(()).into_parts().0;
/// conn.send_full_response(head, Bytes::from_static(b"hello")).unwrap();
/// let Some(Transmit::Bytes(out)) = conn.poll_transmit() else { panic!() };
/// assert_eq!(&out[..], b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello");
/// ```
#[derive(Debug)]
pub struct ServerConnection {
    config: ServerConfig,
    clock: MonotonicClock,
    rx: RecvBuf,
    parser: ParserSlot,
    read: Read,
    /// The peer closed its write side.
    eof: bool,
    next_id: u64,
    pending: VecDeque<Pending>,
    write: Write,
    events: VecDeque<ServerEvent>,
    /// Body bytes sitting in `events`.
    event_bytes: usize,
    tx: TxQueue,
    timers: TimerTable<Timer, 2>,
    /// The sticky protocol error, once one happened.
    error: Option<Error>,
    /// An error status to send once the earlier responses are out.
    farewell: Option<StatusCode>,
    /// Close once the pending responses are out.
    closing: bool,
}

/// The head parser, whose caches are not worth printing.
#[derive(Default)]
pub(crate) struct ParserSlot(pub(crate) HeadParser);

impl std::fmt::Debug for ParserSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeadParser")
    }
}

impl ServerConnection {
    /// A connection that was accepted at `now`. The header-read timer runs
    /// from here for the first request.
    pub fn new(config: ServerConfig, now: Instant) -> Self {
        let mut clock = MonotonicClock::default();
        clock.advance(now);
        let mut timers = TimerTable::new();
        if let Some(t) = config.header_read_timeout {
            timers.set(Timer::Header, now + t);
        }
        Self {
            rx: RecvBuf::new(config.max_buffered_input),
            tx: TxQueue::new(config.write_high_water),
            config,
            clock,
            parser: ParserSlot::default(),
            read: Read::Head,
            eof: false,
            next_id: 0,
            pending: VecDeque::new(),
            write: Write::Idle,
            events: VecDeque::new(),
            event_bytes: 0,
            timers,
            error: None,
            farewell: None,
            closing: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The oldest request still waiting for (the end of) its response: the
    /// one the next response command applies to.
    pub fn current_request(&self) -> Option<RequestId> {
        self.pending.front().map(|p| p.id)
    }

    /// The protocol error that ended reading, if any.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// Whether the client ended its side of the connection (the input's
    /// end was handled). Requests already read are still answered — a
    /// client may half-close and wait — but an application may take it as
    /// the client giving up on an exchange that cannot outlive it (the
    /// async runtime cancels gRPC-Web calls then).
    pub fn is_peer_closed(&self) -> bool {
        self.eof
    }

    /// Whether a response body is being sent (after `send_response` with a
    /// body, until `finish`).
    pub fn is_sending_body(&self) -> bool {
        matches!(self.write, Write::Body { .. })
    }

    /// Whether queued output reached the high-water mark; stop producing
    /// body data until the transport drained some.
    pub fn is_send_buffer_full(&self) -> bool {
        self.tx.is_full()
    }

    /// Why the next timeout is armed, for diagnosing busy loops.
    pub fn timeout_reason(&self) -> Option<&'static str> {
        self.timers.next_key().map(|k| match k {
            Timer::Header => "header read",
            Timer::Idle => "keep-alive idle",
        })
    }

    /// Sends `100 Continue` to the current request if it expects one and no
    /// final response started. Does nothing otherwise. (It is sent even if
    /// the body already arrived, so the output does not depend on how the
    /// input was split.)
    pub fn send_continue(&mut self) -> Result<(), Error> {
        self.check_open()?;
        let idle = matches!(self.write, Write::Idle);
        if let Some(p) = self.pending.front_mut() {
            if idle && p.expects_continue && !p.continue_sent {
                p.continue_sent = true;
                self.tx.write(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
        }
        Ok(())
    }

    /// Sends an informational (1xx) response other than 101, e.g. 103 Early
    /// Hints, to the current request.
    pub fn send_informational(&mut self, head: response::Parts) -> Result<(), Error> {
        self.check_open()?;
        if !head.status.is_informational() || head.status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(Error::InvalidStatusForUse);
        }
        let front = self.pending.front_mut().ok_or(Error::NoPendingRequest)?;
        if !matches!(self.write, Write::Idle) {
            return Err(Error::AlreadyStarted);
        }
        if front.http10 {
            // HTTP/1.0 clients do not understand 1xx; drop it silently.
            return Ok(());
        }
        if head.status == StatusCode::CONTINUE {
            if front.continue_sent {
                return Ok(());
            }
            front.continue_sent = true;
        }
        write_status_line(&mut self.tx, head.status);
        write_fields(
            &mut self.tx,
            &head.headers,
            case_map(self.config.preserve_header_case, &head.extensions),
        );
        self.tx.write(b"\r\n");
        Ok(())
    }

    /// Starts the response to the current request.
    ///
    /// Framing comes from `body`: the machine writes Content-Length or
    /// `Transfer-Encoding: chunked` (close-delimited for HTTP/1.0 clients)
    /// and `Connection: close` when the connection will close; the head must
    /// not carry Content-Length or Transfer-Encoding itself. For HEAD
    /// requests and 304 responses `BodySize::Exact(n)` declares the length
    /// without sending a body. A 101 to an upgrade request, or a 2xx to a
    /// CONNECT, hands the connection over ([`ServerEvent::Upgraded`]),
    /// unless an input error came first: the bytes after the request were
    /// dropped and a farewell is queued, so such a hand-off is refused with
    /// [`Error::Closed`] (the request can still get an ordinary answer).
    pub fn send_response(
        &mut self,
        head: response::Parts,
        body: BodySize,
    ) -> Result<RequestId, Error> {
        self.check_open()?;
        let front = self.pending.front().ok_or(Error::NoPendingRequest)?;
        if !matches!(self.write, Write::Idle) {
            return Err(Error::AlreadyStarted);
        }
        let status = head.status;
        let has_headers = !head.headers.is_empty();
        if has_headers
            && (head.headers.contains_key(header::CONTENT_LENGTH)
                || head.headers.contains_key(header::TRANSFER_ENCODING))
        {
            return Err(Error::FramingHeaderSet);
        }
        let switching = status == StatusCode::SWITCHING_PROTOCOLS;
        let tunnel = front.is_connect && status.is_success();
        if status.is_informational() && !switching {
            return Err(Error::InvalidStatusForUse);
        }
        if (switching && !(front.wants_upgrade && !front.is_connect && front.body_done))
            || (tunnel && !front.body_done)
        {
            return Err(Error::InvalidStatusForUse);
        }
        let upgrading = switching || tunnel;
        // After an input error the bytes that followed the request were
        // thrown away and a farewell is queued: handing the connection
        // over would lose the peer's first tunnel bytes and write an HTTP
        // farewell into the new protocol.
        if upgrading && self.error.is_some() {
            return Err(Error::Closed);
        }
        // Statuses that never have a body, and may not declare a length.
        let bodiless_status = switching || status == StatusCode::NO_CONTENT || tunnel;
        if bodiless_status && !matches!(body, BodySize::Empty | BodySize::Exact(0)) {
            return Err(Error::BodyNotAllowed);
        }
        let no_body = bodiless_status || front.is_head || status == StatusCode::NOT_MODIFIED;

        let (id, http10, client_keep_alive) = (front.id, front.http10, front.keep_alive);
        // A client that was told to wait for 100 and never got it may not
        // send the body; the only safe way on is to close.
        let unread_expect = front.expects_continue && !front.continue_sent && !front.body_done;
        let close_delimited = !no_body && matches!(body, BodySize::Streaming) && http10;
        let app_close = has_headers
            && head.headers.get_all(header::CONNECTION).iter().any(|v| {
                v.as_bytes()
                    .split(|&b| b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
            });
        let keep_alive =
            upgrading || (client_keep_alive && !close_delimited && !unread_expect && !app_close);
        // The last response before a close announces it.
        let last_before_close = self.closing && self.pending.len() == 1 && self.farewell.is_none();

        write_status_line(&mut self.tx, status);
        write_fields(
            &mut self.tx,
            &head.headers,
            case_map(self.config.preserve_header_case, &head.extensions),
        );
        let encoder = if bodiless_status {
            None
        } else {
            match body {
                BodySize::Empty => {
                    write_content_length(&mut self.tx, 0);
                    None
                }
                BodySize::Exact(n) => {
                    write_content_length(&mut self.tx, n);
                    (!no_body && n > 0).then_some(BodyEncoder::Length(n))
                }
                BodySize::Streaming if no_body => None,
                BodySize::Streaming if http10 => Some(BodyEncoder::Close),
                BodySize::Streaming => {
                    self.tx.write(b"transfer-encoding: chunked\r\n");
                    Some(BodyEncoder::Chunked)
                }
            }
        };
        if (!keep_alive || last_before_close) && !app_close && !upgrading {
            self.tx.write(b"connection: close\r\n");
        } else if keep_alive && http10 && !upgrading {
            self.tx.write(b"connection: keep-alive\r\n");
        }
        self.tx.write(b"\r\n");

        if upgrading {
            self.pending.pop_front();
            self.pending.clear();
            self.read = Read::Upgraded;
            self.timers.clear_all();
            let leftover = self.rx.take_all();
            self.events
                .push_back(ServerEvent::Upgraded { id, leftover });
            return Ok(id);
        }
        match encoder {
            Some(encoder) => {
                self.write = Write::Body {
                    encoder,
                    keep_alive,
                }
            }
            None => self.finish_response(keep_alive),
        }
        Ok(id)
    }

    /// Sends a whole response with a known body in one call.
    pub fn send_full_response(
        &mut self,
        head: response::Parts,
        body: Bytes,
    ) -> Result<RequestId, Error> {
        let id = self.send_response(head, BodySize::Exact(body.len() as u64))?;
        // The length was declared from the body itself: queue it and end
        // the response without the general body path.
        if let Write::Body { keep_alive, .. } = self.write {
            self.tx.push(body);
            self.write = Write::Idle;
            self.finish_response(keep_alive);
        }
        Ok(id)
    }

    /// Queues a piece of the current response body.
    pub fn send_data(&mut self, data: Bytes) -> Result<(), Error> {
        match &mut self.write {
            Write::Body { encoder, .. } => encoder.data(data, &mut self.tx),
            Write::Idle => Err(if self.pending.is_empty() {
                Error::NotSendingBody
            } else {
                Error::BodyNotAllowed
            }),
        }
    }

    /// Ends the current response body, with trailers for a chunked body.
    pub fn finish(&mut self, trailers: Option<HeaderMap>) -> Result<(), Error> {
        let Write::Body {
            encoder,
            keep_alive,
        } = &mut self.write
        else {
            return Err(Error::NotSendingBody);
        };
        encoder.finish(trailers.as_ref(), &mut self.tx)?;
        let keep_alive = *keep_alive && !matches!(encoder, BodyEncoder::Close);
        self.write = Write::Idle;
        self.finish_response(keep_alive);
        Ok(())
    }

    /// Closes the connection now: unanswered requests are dropped, and a
    /// response whose body is still being sent is cut off (the client sees
    /// the connection end before the message does, which is how HTTP/1.1
    /// signals a failed response). Queued bytes are still written, then the
    /// write side is shut. See [`close_after_current`](Self::close_after_current)
    /// for the graceful variant.
    pub fn close(&mut self) {
        if matches!(self.read, Read::Upgraded) {
            // The connection belongs to the new protocol now.
            return;
        }
        self.closing = true;
        self.write = Write::Idle;
        self.pending.clear();
        self.farewell = None;
        self.stop_reading();
        self.maybe_shutdown();
    }

    /// Closes gracefully: the current request (the oldest unanswered one)
    /// is still answered, with `Connection: close`; requests read ahead of
    /// it are dropped and nothing after it is read. If the current
    /// request's body is still arriving, it is read to its end (its
    /// handler is waiting for it, and a client that hangs up mid-body is
    /// then seen as an error) before reading stops. With no request
    /// pending the connection closes at once.
    pub fn close_after_current(&mut self) {
        if matches!(self.read, Read::Upgraded) {
            return;
        }
        self.closing = true;
        self.pending.truncate(1);
        let current_body = matches!(
            &self.read,
            Read::Body { id, .. } if self.pending.front().is_some_and(|p| p.id == *id)
        );
        if current_body {
            // Reading stops where this body ends (`end_of_request`).
            self.timers.clear(Timer::Header);
            self.timers.clear(Timer::Idle);
        } else {
            self.stop_reading();
        }
        self.maybe_shutdown();
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.tx.is_shutdown() || matches!(self.read, Read::Upgraded) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// The front request's response is complete.
    fn finish_response(&mut self, keep_alive: bool) {
        self.pending.pop_front();
        if !keep_alive {
            self.closing = true;
            self.pending.clear();
            self.stop_reading();
        } else if matches!(self.read, Read::AwaitUpgrade) {
            // The upgrade was declined: carry on with HTTP/1.1.
            self.read = Read::Head;
        }
        if self.pending.is_empty() {
            if let Some(status) = self.farewell.take() {
                write_status_line(&mut self.tx, status);
                self.tx
                    .write(b"connection: close\r\ncontent-length: 0\r\n\r\n");
                self.closing = true;
            }
        }
        if !self.closing {
            if let Err(e) = self.process() {
                self.fail(e);
            }
        }
        self.maybe_shutdown();
        self.arm_read_timers();
    }

    fn stop_reading(&mut self) {
        if !matches!(self.read, Read::Upgraded) {
            self.read = Read::Done;
        }
        self.rx.clear();
        self.parser.0.reset();
        self.timers.clear(Timer::Header);
        self.timers.clear(Timer::Idle);
    }

    fn maybe_shutdown(&mut self) {
        if self.closing
            && self.pending.is_empty()
            && matches!(self.write, Write::Idle)
            && self.farewell.is_none()
        {
            self.tx.shutdown();
            self.timers.clear_all();
        }
    }

    /// Runs the header-read timer while a head is partly buffered and the
    /// idle timer while nothing is, but only when no request is being
    /// answered: a slow application must not time the client out.
    fn arm_read_timers(&mut self) {
        let waiting_on_client = matches!(self.read, Read::Head)
            && self.pending.is_empty()
            && matches!(self.write, Write::Idle)
            && !self.closing;
        let now = self.clock.last();
        if !waiting_on_client {
            self.timers.clear(Timer::Idle);
            self.timers.clear(Timer::Header);
        } else if self.rx.is_empty() && self.next_id > 0 {
            self.timers.clear(Timer::Header);
            if let (Some(t), Some(now)) = (self.config.keep_alive_timeout, now) {
                if !self.timers.is_armed(Timer::Idle) {
                    self.timers.set(Timer::Idle, now + t);
                }
            }
        } else {
            self.timers.clear(Timer::Idle);
            if let (Some(t), Some(now)) = (self.config.header_read_timeout, now) {
                if !self.timers.is_armed(Timer::Header) {
                    self.timers.set(Timer::Header, now + t);
                }
            }
        }
    }

    /// Records a protocol error: stop reading, report it, and queue the
    /// error response behind the responses that can still be given.
    fn fail(&mut self, e: Error) {
        if self.error.is_some() {
            return;
        }
        self.error = Some(e.clone());
        self.stop_reading();
        self.closing = true;
        // A request whose body broke off cannot be answered normally: the
        // error response takes its place, unless its response already began.
        if let Some(last) = self.pending.back() {
            let started = self.pending.len() == 1 && !matches!(self.write, Write::Idle);
            if !last.body_done && !started {
                self.pending.pop_back();
            }
        }
        let response_started = !matches!(self.write, Write::Idle)
            && self.pending.len() == 1
            && !self.pending[0].body_done;
        if !response_started {
            self.farewell = e.hint();
        }
        self.events.push_back(ServerEvent::Error(e));
        if self.pending.is_empty() && matches!(self.write, Write::Idle) {
            // Nothing ahead of the farewell: write it now.
            self.finish_farewell();
        }
        self.maybe_shutdown();
    }

    fn finish_farewell(&mut self) {
        if let Some(status) = self.farewell.take() {
            write_status_line(&mut self.tx, status);
            self.tx
                .write(b"connection: close\r\ncontent-length: 0\r\n\r\n");
        }
    }

    /// Parses as much buffered input as the pipelining depth allows.
    fn process(&mut self) -> Result<(), Error> {
        loop {
            match &mut self.read {
                Read::Head => {
                    if self.pending.len() >= self.config.max_pipelined.max(1) {
                        return Ok(());
                    }
                    if self.rx.is_empty() {
                        return self.eof_between_requests();
                    }
                    let limits = self.config.limits;
                    let parsed = self.parser.0.parse_request(
                        &mut self.rx,
                        &limits,
                        self.config.preserve_header_case,
                    )?;
                    let Some(parsed) = parsed else {
                        return if self.eof {
                            Err(Error::IncompleteMessage)
                        } else {
                            Ok(())
                        };
                    };
                    self.start_request(parsed.parts, parsed.facts)?;
                }
                Read::Body { id, decoder } => {
                    let id = *id;
                    let limits = self.config.limits;
                    match decoder.step(&mut self.rx, &limits)? {
                        Some(BodyStep::Data(data)) => {
                            self.event_bytes += data.len();
                            self.events.push_back(ServerEvent::Data { id, data });
                        }
                        Some(BodyStep::End(trailers)) => {
                            self.events.push_back(ServerEvent::End { id, trailers });
                            self.end_of_request(id);
                        }
                        None => {
                            return if self.eof { decoder.eof() } else { Ok(()) };
                        }
                    }
                }
                Read::AwaitUpgrade | Read::Done | Read::Upgraded => return Ok(()),
            }
        }
    }

    fn eof_between_requests(&mut self) -> Result<(), Error> {
        if self.eof {
            // A clean close between requests: answer what was asked, then close.
            self.closing = true;
            self.read = Read::Done;
            self.timers.clear(Timer::Header);
            self.timers.clear(Timer::Idle);
            self.maybe_shutdown();
        }
        Ok(())
    }

    fn start_request(&mut self, head: request::Parts, facts: Facts) -> Result<(), Error> {
        let http10 = head.version == Version::HTTP_10;
        if facts.host_count > 1 {
            return Err(Error::DuplicateHost);
        }
        if facts.host_count == 0 && !http10 {
            return Err(Error::MissingHost);
        }
        // An expectation we cannot meet: 417, as the RFC 9110 §10.1.1 MAY
        // allows (Go's net/http does the same), rather than acting as if
        // it were met. HTTP/1.0 predates Expect, so it is ignored there.
        if facts.expect_unknown && !http10 {
            return Err(Error::ExpectationFailed);
        }
        let body = request_body_kind(&facts, http10)?;
        if let (BodyKind::Length(n), Some(max)) = (body, self.config.limits.max_body_bytes) {
            if n > max {
                return Err(Error::BodyTooLarge);
            }
        }
        let is_connect = head.method == Method::CONNECT;
        let wants_upgrade = is_connect || (facts.has_upgrade && facts.conn_upgrade && !http10);
        let keep_alive = if http10 {
            facts.conn_keep_alive && !facts.conn_close
        } else {
            !facts.conn_close
        };
        let expects_continue = facts.expect_continue && !http10 && body != BodyKind::Empty;
        let id = RequestId(self.next_id);
        self.next_id += 1;
        self.pending.push_back(Pending {
            id,
            is_head: head.method == Method::HEAD,
            is_connect,
            http10,
            keep_alive,
            expects_continue,
            continue_sent: false,
            wants_upgrade,
            body_done: false,
        });
        self.events.push_back(ServerEvent::Request(Request {
            id,
            head,
            body,
            expects_continue,
            wants_upgrade,
            keep_alive,
        }));
        if body == BodyKind::Empty {
            self.events
                .push_back(ServerEvent::End { id, trailers: None });
            self.end_of_request(id);
        } else {
            self.read = Read::Body {
                id,
                decoder: BodyDecoder::new(body),
            };
        }
        Ok(())
    }

    fn end_of_request(&mut self, id: RequestId) {
        let Some(req) = self.pending.iter_mut().find(|p| p.id == id) else {
            // Answered before its body was read (the response finished
            // with keep-alive, or reading would have stopped): carry on.
            self.read = if self.closing { Read::Done } else { Read::Head };
            return;
        };
        req.body_done = true;
        self.read = if req.wants_upgrade {
            Read::AwaitUpgrade
        } else if !req.keep_alive || self.closing {
            // Nothing after this request will be answered.
            self.rx.clear();
            Read::Done
        } else {
            Read::Head
        };
    }

    fn after_input(&mut self, result: Result<(), Error>) -> Result<(), Error> {
        match result {
            Ok(()) => {
                self.arm_read_timers();
                Ok(())
            }
            Err(e) => {
                self.fail(e.clone());
                Err(e)
            }
        }
    }
}

/// RFC 9112 §6.3 for requests: Transfer-Encoding (chunked last, once) or
/// Content-Length, never both; no Transfer-Encoding in HTTP/1.0.
pub(crate) fn request_body_kind(facts: &Facts, http10: bool) -> Result<BodyKind, Error> {
    let te = facts.te;
    if te.present {
        if facts.content_length.is_some() {
            return Err(Error::ContentLengthAndTransferEncoding);
        }
        if http10 || te.malformed || !te.chunked_last || te.chunked_count != 1 {
            return Err(Error::InvalidTransferEncoding);
        }
        if te.other {
            return Err(Error::UnsupportedTransferCoding);
        }
        return Ok(BodyKind::Chunked);
    }
    Ok(match facts.content_length {
        None | Some(0) => BodyKind::Empty,
        Some(n) => BodyKind::Length(n),
    })
}

impl Machine for ServerConnection {
    type Event = ServerEvent;
    type Error = Error;

    fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), Error> {
        self.clock.advance(now);
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if matches!(self.read, Read::Done | Read::Upgraded) || bytes.is_empty() {
            // After `Connection: close` (or a hand-off) input is not HTTP/1.1.
            return Ok(());
        }
        if self.rx.extend(bytes).is_err() {
            return self.after_input(Err(Error::ReceiveBufferFull));
        }
        let result = self.process();
        self.after_input(result)
    }

    fn handle_eof(&mut self, now: Instant) -> Result<(), Error> {
        self.clock.advance(now);
        if self.eof || self.error.is_some() || matches!(self.read, Read::Upgraded | Read::Done) {
            self.eof = true;
            return Ok(());
        }
        self.eof = true;
        // Requests already read are still answered; `process` closes once
        // it reaches the end of the input between requests, or fails if the
        // input ends inside one.
        let result = self.process();
        self.after_input(result)
    }

    fn handle_timeout(&mut self, now: Instant) {
        let now = self.clock.advance(now);
        while let Some(timer) = self.timers.pop_expired(now) {
            match timer {
                Timer::Header => {
                    if self.pending.is_empty() && matches!(self.read, Read::Head) {
                        self.fail(Error::HeaderTimeout);
                    } else {
                        self.close();
                    }
                }
                Timer::Idle => self.close(),
            }
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.tx.pop()
    }

    fn poll_event(&mut self) -> Option<ServerEvent> {
        let ev = self.events.pop_front()?;
        if let ServerEvent::Data { data, .. } = &ev {
            self.event_bytes -= data.len();
        }
        Some(ev)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    fn wants_read(&self) -> bool {
        let reading = match self.read {
            Read::Head => self.pending.len() < self.config.max_pipelined.max(1),
            Read::Body { .. } => true,
            Read::AwaitUpgrade | Read::Done | Read::Upgraded => false,
        };
        reading
            && !self.eof
            && self.error.is_none()
            && self.rx.remaining() > 0
            && self.event_bytes < self.config.read_high_water
    }

    fn is_closed(&self) -> bool {
        (self.tx.is_shutdown() || matches!(self.read, Read::Upgraded)) && self.tx.is_empty()
    }
}
