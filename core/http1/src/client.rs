//! The client side of an HTTP/1.1 connection.

use crate::body::{BodyDecoder, BodyEncoder, BodyStep};
use crate::encode::{write_content_length, write_fields, write_request_line};
use crate::head::Facts;
use crate::server::RequestId;
use crate::{BodyKind, BodySize, ClientConfig, Error, HeaderCaseMap};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode, Version, request, response};
use std::collections::VecDeque;
use std::time::Instant;
use wirestate_machine::{Machine, MonotonicClock, RecvBuf, TimerTable, Transmit, TxQueue};

/// A response head, as parsed.
#[derive(Debug)]
pub struct Response {
    /// The request this answers.
    pub id: RequestId,
    /// Status, version, headers (and a [`HeaderCaseMap`] extension when
    /// `preserve_header_case` is on).
    pub head: response::Parts,
    /// How the body is delimited; its bytes follow as [`ClientEvent::Data`].
    pub body: BodyKind,
}

impl PartialEq for Response {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.head.status == other.head.status
            && self.head.version == other.head.version
            && self.head.headers == other.head.headers
            && self.head.extensions.get::<HeaderCaseMap>()
                == other.head.extensions.get::<HeaderCaseMap>()
            && self.body == other.body
    }
}

/// What a [`ClientConnection`] reports.
#[derive(Debug, PartialEq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// An informational (1xx) response other than 101 (its body is always
    /// [`BodyKind::Empty`]).
    Informational(Response),
    /// A final response head.
    Response(Response),
    /// A piece of a response body.
    Data {
        /// The request the bytes answer.
        id: RequestId,
        /// The bytes, split off the receive buffer without a copy.
        data: Bytes,
    },
    /// A response ended.
    End {
        /// The request that was answered.
        id: RequestId,
        /// Trailer fields of a chunked body.
        trailers: Option<HeaderMap>,
    },
    /// After a 101 (or a 2xx to CONNECT) the connection belongs to the new
    /// protocol, starting with `leftover`.
    Upgraded {
        /// The request that was upgraded.
        id: RequestId,
        /// Bytes that arrived after the response head.
        leftover: Bytes,
    },
    /// The connection closed before this request was answered. It may be
    /// retried elsewhere if it is idempotent (or was never sent).
    Aborted {
        /// The request left without a response.
        id: RequestId,
    },
    /// The server broke the protocol or a limit; the connection closes.
    Error(Error),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// Send the held body even though no 100 Continue came.
    ExpectContinue,
}

#[derive(Debug)]
enum Read {
    Head,
    Body { id: RequestId, decoder: BodyDecoder },
    Done,
    Upgraded,
}

#[derive(Debug)]
struct Outstanding {
    id: RequestId,
    is_head: bool,
    is_connect: bool,
    wants_upgrade: bool,
    close: bool,
    /// The request body is held back until 100 Continue (or the timer).
    waiting_continue: bool,
}

#[derive(Debug)]
enum Write {
    Idle,
    Body { encoder: BodyEncoder },
}

/// The client side of one HTTP/1.1 connection, sans IO.
///
/// Send requests with [`send_request`](Self::send_request) (several may be
/// pipelined), stream their bodies, and read [`ClientEvent`]s; responses
/// are matched to requests in order.
///
/// ```
/// use std::time::Instant;
/// use wirestate_http1::{BodySize, ClientConfig, ClientConnection, ClientEvent};
/// use wirestate_machine::{Machine, Transmit};
///
/// let now = Instant::now();
/// let mut conn = ClientConnection::new(ClientConfig::default(), now);
/// let req = http::Request::get("http://example.com/").body(()).unwrap().into_parts().0;
/// conn.send_request(req, BodySize::Empty).unwrap();
/// let Some(Transmit::Bytes(out)) = conn.poll_transmit() else { panic!() };
/// assert_eq!(&out[..], b"GET / HTTP/1.1\r\nhost: example.com\r\n\r\n");
///
/// conn.handle_input(now, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi").unwrap();
/// let Some(ClientEvent::Response(res)) = conn.poll_event() else { panic!() };
/// assert_eq!(res.head.status, 200);
/// ```
#[derive(Debug)]
pub struct ClientConnection {
    config: ClientConfig,
    clock: MonotonicClock,
    rx: RecvBuf,
    parser: crate::server::ParserSlot,
    read: Read,
    eof: bool,
    next_id: u64,
    outstanding: VecDeque<Outstanding>,
    write: Write,
    events: VecDeque<ClientEvent>,
    event_bytes: usize,
    tx: TxQueue,
    /// Output held back behind an `Expect: 100-continue` request.
    held: TxQueue,
    holding: bool,
    timers: TimerTable<Timer, 1>,
    error: Option<Error>,
    closing: bool,
}

impl ClientConnection {
    /// A connection established at `now`.
    pub fn new(config: ClientConfig, now: Instant) -> Self {
        let mut clock = MonotonicClock::default();
        clock.advance(now);
        Self {
            rx: RecvBuf::new(config.max_buffered_input),
            tx: TxQueue::new(config.write_high_water),
            held: TxQueue::new(config.write_high_water),
            config,
            clock,
            parser: Default::default(),
            read: Read::Head,
            eof: false,
            next_id: 0,
            outstanding: VecDeque::new(),
            write: Write::Idle,
            events: VecDeque::new(),
            event_bytes: 0,
            holding: false,
            timers: TimerTable::new(),
            error: None,
            closing: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Whether another request can be sent now: the connection is open and
    /// no request body is still being written.
    pub fn can_send_request(&self) -> bool {
        self.check_open().is_ok() && matches!(self.write, Write::Idle)
    }

    /// Requests sent and not yet fully answered.
    pub fn in_flight(&self) -> usize {
        self.outstanding.len()
    }

    /// Whether the connection is open, idle and may be reused for another
    /// request (what a pool checks before handing it out).
    pub fn is_reusable(&self) -> bool {
        self.can_send_request() && self.outstanding.is_empty() && !self.eof && self.rx.is_empty()
    }

    /// The protocol error that ended reading, if any.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// Whether a request body is being sent (after `send_request` with a
    /// body, until `finish`).
    pub fn is_sending_body(&self) -> bool {
        matches!(self.write, Write::Body { .. })
    }

    /// Whether queued output reached the high-water mark.
    pub fn is_send_buffer_full(&self) -> bool {
        self.tx.is_full() || self.held.is_full()
    }

    /// Sends a request head. Framing comes from `body` (Content-Length or
    /// chunked); the head must not carry Content-Length or
    /// Transfer-Encoding itself. A missing Host is filled in from the URI.
    /// With `Expect: 100-continue`, the body is held back until the server
    /// answers 100 or `expect_continue_timeout` passes.
    pub fn send_request(
        &mut self,
        mut head: request::Parts,
        body: BodySize,
    ) -> Result<RequestId, Error> {
        self.check_open()?;
        if !matches!(self.write, Write::Idle) {
            return Err(Error::AlreadyStarted);
        }
        if head.headers.contains_key(header::CONTENT_LENGTH)
            || head.headers.contains_key(header::TRANSFER_ENCODING)
        {
            return Err(Error::FramingHeaderSet);
        }
        if head.method == Method::CONNECT && head.uri.authority().is_none() {
            return Err(Error::MissingAuthority);
        }
        let http10 = head.version == Version::HTTP_10;
        if http10 && body == BodySize::Streaming {
            return Err(Error::UnknownLengthInHttp10);
        }
        if !head.headers.contains_key(header::HOST) {
            let value = HeaderValue::from_str(crate::encode::host_port(&head.uri))
                .map_err(|_| Error::InvalidHost)?;
            head.headers.insert(header::HOST, value);
        }
        let mut close = false;
        let mut conn_upgrade = false;
        for v in head.headers.get_all(header::CONNECTION) {
            for t in v.as_bytes().split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                close |= t.eq_ignore_ascii_case(b"close");
                conn_upgrade |= t.eq_ignore_ascii_case(b"upgrade");
            }
        }
        let keep_alive_10 = head
            .headers
            .get_all(header::CONNECTION)
            .iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"keep-alive"));
        if http10 && !keep_alive_10 {
            close = true;
        }
        let is_connect = head.method == Method::CONNECT;
        let wants_upgrade =
            is_connect || (conn_upgrade && head.headers.contains_key(header::UPGRADE));
        let expects = head
            .headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        let has_body = !matches!(body, BodySize::Empty | BodySize::Exact(0));
        let waiting_continue = expects && has_body;

        let id = RequestId(self.next_id);
        self.next_id += 1;
        let case = crate::encode::case_map(self.config.preserve_header_case, &head.extensions);
        let absolute = self.config.absolute_form;
        let out = if self.holding {
            &mut self.held
        } else {
            &mut self.tx
        };
        write_request_line(out, &head.method, &head.uri, head.version, absolute);
        write_fields(out, &head.headers, case);
        let encoder = match body {
            BodySize::Empty => {
                if matches!(head.method, Method::POST | Method::PUT | Method::PATCH) {
                    write_content_length(out, 0);
                }
                None
            }
            BodySize::Exact(n) => {
                write_content_length(out, n);
                (n > 0).then_some(BodyEncoder::Length(n))
            }
            BodySize::Streaming => {
                out.write(b"transfer-encoding: chunked\r\n");
                Some(BodyEncoder::Chunked)
            }
        };
        out.write(b"\r\n");
        if waiting_continue && !self.holding {
            self.holding = true;
            if let Some(now) = self.clock.last() {
                self.timers.set(
                    Timer::ExpectContinue,
                    now + self.config.expect_continue_timeout,
                );
            }
        }
        self.outstanding.push_back(Outstanding {
            id,
            is_head: head.method == Method::HEAD,
            is_connect,
            wants_upgrade,
            close,
            waiting_continue,
        });
        if let Some(encoder) = encoder {
            self.write = Write::Body { encoder };
        }
        if close {
            // Nothing may follow a request that closes the connection.
            self.closing = true;
        }
        Ok(id)
    }

    /// Queues a piece of the current request body.
    pub fn send_data(&mut self, data: Bytes) -> Result<(), Error> {
        let out = if self.holding {
            &mut self.held
        } else {
            &mut self.tx
        };
        match &mut self.write {
            Write::Body { encoder } => encoder.data(data, out),
            Write::Idle => Err(Error::NotSendingBody),
        }
    }

    /// Ends the current request body, with trailers for a chunked body.
    pub fn finish(&mut self, trailers: Option<HeaderMap>) -> Result<(), Error> {
        let out = if self.holding {
            &mut self.held
        } else {
            &mut self.tx
        };
        let Write::Body { encoder } = &mut self.write else {
            return Err(Error::NotSendingBody);
        };
        encoder.finish(trailers.as_ref(), out)?;
        self.write = Write::Idle;
        Ok(())
    }

    /// Closes the connection: outstanding requests are aborted and the
    /// write side is shut down after what is queued.
    pub fn close(&mut self) {
        if matches!(self.read, Read::Upgraded) {
            // The connection belongs to the new protocol now.
            return;
        }
        // A request body still being written is cut off.
        self.write = Write::Idle;
        self.abort_outstanding();
        self.read = Read::Done;
        self.rx.clear();
        // A body held behind `Expect: 100-continue` was never announced as
        // sent; it is dropped, not flushed into a closing connection.
        self.held.clear();
        self.holding = false;
        self.tx.shutdown();
        self.timers.clear_all();
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.closing
            || self.tx.is_shutdown()
            || self.error.is_some()
            || !matches!(self.read, Read::Head | Read::Body { .. })
        {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    fn release_held(&mut self) {
        if self.holding {
            self.holding = false;
            while let Some(t) = self.held.pop() {
                if let Transmit::Bytes(b) = t {
                    self.tx.push(b);
                }
            }
            for o in &mut self.outstanding {
                o.waiting_continue = false;
            }
            self.timers.clear(Timer::ExpectContinue);
        }
    }

    fn abort_outstanding(&mut self) {
        for o in self.outstanding.drain(..) {
            self.events.push_back(ClientEvent::Aborted { id: o.id });
        }
    }

    fn fail(&mut self, e: Error) {
        if self.error.is_some() {
            return;
        }
        self.error = Some(e.clone());
        // The response in progress (if any) is reported by the error itself.
        if matches!(self.read, Read::Body { .. }) {
            self.outstanding.pop_front();
        }
        self.events.push_back(ClientEvent::Error(e));
        self.close();
    }

    fn process(&mut self) -> Result<(), Error> {
        loop {
            match &mut self.read {
                Read::Head => {
                    if self.rx.is_empty() {
                        if self.eof {
                            self.close();
                        }
                        return Ok(());
                    }
                    let limits = self.config.limits;
                    let parsed = self.parser.0.parse_response(
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
                    self.start_response(parsed.parts, parsed.facts)?;
                }
                Read::Body { id, decoder } => {
                    let id = *id;
                    let limits = self.config.limits;
                    match decoder.step(&mut self.rx, &limits)? {
                        Some(BodyStep::Data(data)) => {
                            self.event_bytes += data.len();
                            self.events.push_back(ClientEvent::Data { id, data });
                        }
                        Some(BodyStep::End(trailers)) => {
                            self.events.push_back(ClientEvent::End { id, trailers });
                            self.end_of_response(false);
                        }
                        None if self.eof => {
                            decoder.eof()?;
                            self.events
                                .push_back(ClientEvent::End { id, trailers: None });
                            self.end_of_response(true);
                        }
                        None => return Ok(()),
                    }
                }
                Read::Done | Read::Upgraded => return Ok(()),
            }
        }
    }

    fn start_response(&mut self, head: response::Parts, facts: Facts) -> Result<(), Error> {
        let front = self.outstanding.front().ok_or(Error::UnexpectedResponse)?;
        let (id, is_head, is_connect, waiting) = (
            front.id,
            front.is_head,
            front.is_connect,
            front.waiting_continue,
        );
        let status = head.status;
        if status == StatusCode::SWITCHING_PROTOCOLS {
            if !front.wants_upgrade || is_connect {
                return Err(Error::UnexpectedSwitchingProtocols);
            }
            self.upgrade(id, head);
            return Ok(());
        }
        if status.is_informational() {
            if status == StatusCode::CONTINUE && waiting {
                self.release_held();
            }
            self.events.push_back(ClientEvent::Informational(Response {
                id,
                head,
                body: BodyKind::Empty,
            }));
            return Ok(());
        }
        if is_connect && status.is_success() {
            self.upgrade(id, head);
            return Ok(());
        }
        if waiting {
            // A final answer before 100: the body was never sent, so this
            // connection cannot carry another request.
            self.held.clear();
            self.holding = false;
            self.timers.clear(Timer::ExpectContinue);
            self.write = Write::Idle;
            self.closing = true;
            if let Some(front) = self.outstanding.front_mut() {
                front.close = true;
            }
        }
        let http10 = head.version == Version::HTTP_10;
        let body = response_body_kind(&facts, is_head, status, http10)?;
        if let (BodyKind::Length(n), Some(max)) = (body, self.config.limits.max_body_bytes) {
            if n > max {
                return Err(Error::BodyTooLarge);
            }
        }
        let server_close = facts.conn_close
            || (http10 && !facts.conn_keep_alive)
            || body == BodyKind::CloseDelimited;
        if server_close {
            if let Some(front) = self.outstanding.front_mut() {
                front.close = true;
            }
        }
        self.events
            .push_back(ClientEvent::Response(Response { id, head, body }));
        if body == BodyKind::Empty {
            self.events
                .push_back(ClientEvent::End { id, trailers: None });
            self.end_of_response(false);
        } else {
            self.read = Read::Body {
                id,
                decoder: BodyDecoder::new(body),
            };
        }
        Ok(())
    }

    fn upgrade(&mut self, id: RequestId, head: response::Parts) {
        self.write = Write::Idle;
        self.events.push_back(ClientEvent::Response(Response {
            id,
            head,
            body: BodyKind::Empty,
        }));
        self.outstanding.pop_front();
        self.abort_outstanding();
        self.read = Read::Upgraded;
        self.release_held();
        self.timers.clear_all();
        let leftover = self.rx.take_all();
        self.events
            .push_back(ClientEvent::Upgraded { id, leftover });
    }

    fn end_of_response(&mut self, at_eof: bool) {
        let close = self.outstanding.pop_front().is_none_or(|o| o.close);
        if close || at_eof {
            self.close();
        } else {
            self.read = Read::Head;
        }
    }

    fn after_input(&mut self, result: Result<(), Error>) -> Result<(), Error> {
        result.inspect_err(|e| self.fail(e.clone()))
    }
}

/// RFC 9112 §6.3 for responses, strict: no body for HEAD, 1xx, 204 and 304;
/// Transfer-Encoding must be exactly `chunked` and never with
/// Content-Length; otherwise Content-Length, or read until close.
fn response_body_kind(
    facts: &Facts,
    is_head: bool,
    status: StatusCode,
    http10: bool,
) -> Result<BodyKind, Error> {
    if is_head
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(BodyKind::Empty);
    }
    let te = facts.te;
    if te.present {
        if facts.content_length.is_some() {
            return Err(Error::ContentLengthAndTransferEncoding);
        }
        if http10 || te.malformed || te.chunked_count > 1 {
            return Err(Error::InvalidTransferEncoding);
        }
        if !te.chunked_last {
            // RFC 9112 §6.3 (4): chunked not final in a response means the
            // body runs to the end of the connection, which then closes, so
            // no later message can be misframed by it.
            return Ok(BodyKind::CloseDelimited);
        }
        if te.other {
            return Err(Error::UnsupportedTransferCoding);
        }
        return Ok(BodyKind::Chunked);
    }
    Ok(match facts.content_length {
        Some(0) => BodyKind::Empty,
        Some(n) => BodyKind::Length(n),
        None => BodyKind::CloseDelimited,
    })
}

impl Machine for ClientConnection {
    type Event = ClientEvent;
    type Error = Error;

    fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), Error> {
        self.clock.advance(now);
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if !matches!(self.read, Read::Head | Read::Body { .. }) || bytes.is_empty() {
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
        if self.eof || self.error.is_some() || !matches!(self.read, Read::Head | Read::Body { .. })
        {
            self.eof = true;
            return Ok(());
        }
        self.eof = true;
        let result = self.process();
        self.after_input(result)
    }

    fn handle_timeout(&mut self, now: Instant) {
        let now = self.clock.advance(now);
        while let Some(Timer::ExpectContinue) = self.timers.pop_expired(now) {
            self.release_held();
        }
    }

    fn poll_transmit(&mut self) -> Option<Transmit> {
        self.tx.pop()
    }

    fn poll_event(&mut self) -> Option<ClientEvent> {
        let ev = self.events.pop_front()?;
        if let ClientEvent::Data { data, .. } = &ev {
            self.event_bytes -= data.len();
        }
        Some(ev)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    fn wants_read(&self) -> bool {
        matches!(self.read, Read::Head | Read::Body { .. })
            && !self.eof
            && self.error.is_none()
            && self.rx.remaining() > 0
            && self.event_bytes < self.config.read_high_water
    }

    fn is_closed(&self) -> bool {
        (self.tx.is_shutdown() || matches!(self.read, Read::Upgraded)) && self.tx.is_empty()
    }
}
