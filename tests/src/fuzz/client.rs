//! The client connection machine, driven by an op list.

use super::ops::{
    BodyChoice, Clock, LimitsChoice, MAX_OPS, SizeChoice, Split, Tally, TimeoutChoice, Wire,
    payload, split_input,
};
use super::stream::check_requests;
use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Uri, Version, request};
use std::collections::VecDeque;
use std::time::Duration;
use wirestate_http1::{
    BodyKind, ClientConfig, ClientConnection, ClientEvent, Error, HeaderCaseMap,
};
use wirestate_machine::{Machine, Transmit};

/// The client's configuration; all zero bytes give [`ClientConfig::default`].
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSetup {
    /// `limits`.
    pub limits: LimitsChoice,
    /// `expect_continue_timeout` (`Off` stands for a day).
    pub expect_continue_timeout: TimeoutChoice,
    /// `max_buffered_input`.
    pub max_buffered_input: SizeChoice,
    /// `read_high_water`.
    pub read_high_water: SizeChoice,
    /// `write_high_water`.
    pub write_high_water: SizeChoice,
    /// `absolute_form`.
    pub absolute_form: bool,
    /// `preserve_header_case`.
    pub preserve_header_case: bool,
}

impl ClientSetup {
    /// The configuration this setup stands for.
    pub fn config(&self) -> ClientConfig {
        let mut c = ClientConfig::default();
        c.limits = self.limits.limits();
        c.expect_continue_timeout = self
            .expect_continue_timeout
            .apply(Some(c.expect_continue_timeout))
            .unwrap_or(Duration::from_secs(24 * 3600));
        c.max_buffered_input = self.max_buffered_input.apply(c.max_buffered_input);
        c.read_high_water = self.read_high_water.apply(c.read_high_water);
        c.write_high_water = self.write_high_water.apply(c.write_high_water);
        c.absolute_form = self.absolute_form;
        c.preserve_header_case = self.preserve_header_case;
        c
    }
}

/// A request method.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodChoice {
    /// GET.
    Get,
    /// HEAD.
    Head,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
    /// OPTIONS.
    Options,
    /// CONNECT.
    Connect,
    /// PATCH.
    Patch,
    /// TRACE.
    Trace,
    /// An extension method, `PURGE`.
    Custom,
}

impl MethodChoice {
    /// The method.
    pub fn method(self) -> Method {
        match self {
            MethodChoice::Get => Method::GET,
            MethodChoice::Head => Method::HEAD,
            MethodChoice::Post => Method::POST,
            MethodChoice::Put => Method::PUT,
            MethodChoice::Delete => Method::DELETE,
            MethodChoice::Options => Method::OPTIONS,
            MethodChoice::Connect => Method::CONNECT,
            MethodChoice::Patch => Method::PATCH,
            MethodChoice::Trace => Method::TRACE,
            MethodChoice::Custom => Method::from_bytes(b"PURGE").expect("a token"),
        }
    }
}

/// A request target.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetChoice {
    /// `/`.
    Root,
    /// A path and query.
    Path,
    /// An absolute URI with a port, path and query.
    Absolute,
    /// An absolute URI without a path.
    AbsoluteNoPath,
    /// Authority form, `example.com:443`.
    Authority,
    /// `*`.
    Asterisk,
}

impl TargetChoice {
    /// The URI.
    pub fn uri(self) -> Uri {
        Uri::from_static(match self {
            TargetChoice::Root => "/",
            TargetChoice::Path => "/a/b%20c?x=1&y",
            TargetChoice::Absolute => "http://example.com:8080/p?q=1",
            TargetChoice::AbsoluteNoPath => "http://example.com",
            TargetChoice::Authority => "example.com:443",
            TargetChoice::Asterisk => "*",
        })
    }
}

/// One step of a client run.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientOp {
    /// Feed the next `len` wire bytes (0: all that is left) in pieces,
    /// stopping early while `wants_read` is false if `respect_wants_read`.
    Feed {
        /// How many bytes.
        len: u16,
        /// How they are cut.
        split: Split,
        /// Feed only while the machine wants to read.
        respect_wants_read: bool,
    },
    /// Let time pass, then `handle_timeout`.
    Advance {
        /// Milliseconds.
        millis: u16,
    },
    /// Jump to `poll_timeout` (if any), then `handle_timeout`.
    AdvanceToTimeout,
    /// The server closed its side.
    Eof,
    /// `send_request`.
    SendRequest {
        /// The method.
        method: MethodChoice,
        /// The target.
        target: TargetChoice,
        /// The framing.
        body: BodyChoice,
        /// Flags: 1 HTTP/1.0, 2 `expect: 100-continue`, 4 upgrade headers,
        /// 8 `connection: close`, 16 `connection: keep-alive`, 32 an explicit
        /// `host`, 64 `content-length` (refused), 128 a case map.
        flags: u8,
    },
    /// `send_data` with `len % 3000` bytes.
    SendData {
        /// The length.
        len: u16,
    },
    /// `finish`, with or without trailers.
    Finish {
        /// Send trailers.
        trailers: bool,
    },
    /// `close`.
    Close,
}

/// Fuzzes a [`ClientConnection`] with an op list (see the module docs for
/// the input layout). After every step, output and events are drained and
/// checked: responses answer requests in order, bodies match their
/// Content-Length, every request ends at most once (`End`, `Aborted` or
/// `Upgraded`) and, once closed, every request ended but the one an `Error`
/// took; at most one `Error`, a sticky input error, `poll_timeout` later
/// than `now` after `handle_timeout`, nothing transmitted after `Shutdown`
/// or once closed, bounded output; at the end the whole output must read
/// as well-framed requests in the order they were accepted.
pub fn client_connection(data: &[u8]) {
    let (program, wire) = split_input(data);
    let mut u = Unstructured::new(program);
    let Ok(setup) = ClientSetup::arbitrary(&mut u) else {
        return;
    };
    let clock = Clock::new();
    let mut run = Run {
        conn: ClientConnection::new(setup.config(), clock.now),
        clock,
        tally: Tally::default(),
        out: Vec::new(),
        expected: VecDeque::new(),
        ended: Vec::new(),
        open: None,
        errors: 0,
        input_failed: false,
        shut: false,
        closed: false,
    };
    let mut wire = Wire::new(wire);
    while !u.is_empty() && run.tally.ops < MAX_OPS {
        let Ok(op) = ClientOp::arbitrary(&mut u) else {
            break;
        };
        run.tally.ops += 1;
        run.op(op, &mut wire);
        run.drain();
    }
    if !wire.is_empty() {
        run.feed(&mut wire, 0, Split::Whole, false);
    }
    run.drain();
    if run.closed {
        let open = run.ended.iter().filter(|e| !**e).count();
        assert!(
            open <= run.errors,
            "closed with {open} requests neither ended nor aborted"
        );
    }
    check_requests(&run.out, run.expected);
}

struct Run {
    conn: ClientConnection,
    clock: Clock,
    tally: Tally,
    out: Vec<u8>,
    /// Methods of the requests accepted, in order.
    expected: VecDeque<Method>,
    /// Indexed by request id: whether it ended, was aborted or upgraded.
    ended: Vec<bool>,
    /// The response whose body is being read, and how much of its
    /// Content-Length is left.
    open: Option<(u64, Option<u64>)>,
    errors: usize,
    input_failed: bool,
    shut: bool,
    closed: bool,
}

impl Run {
    fn op(&mut self, op: ClientOp, wire: &mut Wire<'_>) {
        let now = self.clock.now;
        match op {
            ClientOp::Feed {
                len,
                split,
                respect_wants_read,
            } => self.feed(wire, len, split, respect_wants_read),
            ClientOp::Advance { millis } => {
                self.clock.advance(millis);
                self.timeout();
            }
            ClientOp::AdvanceToTimeout => {
                if let Some(t) = self.conn.poll_timeout() {
                    self.clock.now = self.clock.now.max(t);
                }
                self.timeout();
            }
            ClientOp::Eof => {
                let _ = self.conn.handle_eof(now);
            }
            ClientOp::SendRequest {
                method,
                target,
                body,
                flags,
            } => {
                let head = request_parts(method.method(), target.uri(), flags);
                if let Ok(id) = self.conn.send_request(head, body.size()) {
                    assert_eq!(id.0, self.ended.len() as u64, "request ids skip");
                    self.ended.push(false);
                    self.expected.push_back(method.method());
                    self.tally.heads += 1;
                }
            }
            ClientOp::SendData { len } => {
                let body = payload(len);
                self.tally.app_bytes += body.len();
                let _ = self.conn.send_data(body);
            }
            ClientOp::Finish { trailers } => {
                let _ = self.conn.finish(trailers.then(trailer_map));
            }
            ClientOp::Close => self.conn.close(),
        }
    }

    fn feed(&mut self, wire: &mut Wire<'_>, len: u16, split: Split, respect_wants_read: bool) {
        let bytes = wire.peek(len);
        let mut used = 0;
        for piece in split.pieces(bytes) {
            if respect_wants_read && !self.conn.wants_read() {
                break;
            }
            let was_failed = self.input_failed;
            let result = self.conn.handle_input(self.clock.now, piece);
            used += piece.len();
            self.tally.fed += piece.len();
            if was_failed {
                assert!(result.is_err(), "input accepted after an input error");
            }
            if respect_wants_read {
                assert_ne!(
                    result,
                    Err(Error::ReceiveBufferFull),
                    "receive buffer full although wants_read was true"
                );
            }
            self.input_failed |= result.is_err();
            self.drain();
        }
        wire.advance(used);
    }

    fn timeout(&mut self) {
        let now = self.clock.now;
        self.conn.handle_timeout(now);
        if let Some(t) = self.conn.poll_timeout() {
            assert!(
                t > now,
                "poll_timeout is not later than now after handle_timeout"
            );
        }
    }

    fn drain(&mut self) {
        while let Some(t) = self.conn.poll_transmit() {
            assert!(!self.shut, "a transmit after Shutdown: {t:?}");
            assert!(!self.closed, "a transmit after is_closed: {t:?}");
            match t {
                Transmit::Bytes(b) => {
                    self.tally.transmitted += b.len();
                    self.out.extend_from_slice(&b);
                }
                Transmit::Shutdown => self.shut = true,
            }
            self.tally.check();
        }
        while let Some(ev) = self.conn.poll_event() {
            self.tally.events += 1;
            self.tally.check();
            self.event(ev);
        }
        let closed = self.conn.is_closed();
        assert!(closed || !self.closed, "is_closed went back to false");
        self.closed = closed;
    }

    /// Marks request `id` as ended; it must not have ended before.
    fn end(&mut self, id: u64, how: &str) {
        let ended = self
            .ended
            .get_mut(id as usize)
            .unwrap_or_else(|| panic!("{how} for request {id}, never sent"));
        assert!(!*ended, "{how} for request {id}, which already ended");
        *ended = true;
    }

    fn check_front(&self, id: u64, what: &str) {
        assert!(
            (id as usize) < self.ended.len(),
            "{what} for request {id}, never sent"
        );
        assert!(
            self.ended[..id as usize].iter().all(|e| *e),
            "{what} for request {id} before an earlier one ended"
        );
        assert!(
            !self.ended[id as usize],
            "{what} for request {id}, which already ended"
        );
        assert!(self.open.is_none(), "{what} inside a response body");
    }

    fn event(&mut self, ev: ClientEvent) {
        match ev {
            ClientEvent::Informational(res) => {
                self.check_front(res.id.0, "Informational");
                assert!(
                    res.head.status.is_informational(),
                    "Informational {}",
                    res.head.status
                );
            }
            ClientEvent::Response(res) => {
                let id = res.id.0;
                self.check_front(id, "Response");
                let left = match res.body {
                    BodyKind::Empty => Some(0),
                    BodyKind::Length(n) => {
                        assert!(n > 0, "Length(0) instead of Empty");
                        Some(n)
                    }
                    BodyKind::Chunked | BodyKind::CloseDelimited => None,
                };
                self.open = Some((id, left));
            }
            ClientEvent::Data { id, data } => {
                let Some((open, left)) = &mut self.open else {
                    panic!("Data outside a body");
                };
                assert_eq!(*open, id.0, "Data for another response");
                assert!(!data.is_empty(), "empty Data");
                if let Some(left) = left {
                    let n = data.len() as u64;
                    assert!(n <= *left, "more body than Content-Length");
                    *left -= n;
                }
            }
            ClientEvent::End { id, .. } => {
                let Some((open, left)) = self.open.take() else {
                    panic!("End outside a body");
                };
                assert_eq!(open, id.0, "End for another response");
                assert!(
                    left.is_none_or(|l| l == 0),
                    "body shorter than Content-Length"
                );
                self.end(id.0, "End");
            }
            ClientEvent::Upgraded { id, .. } => {
                let open = self.open.take().map(|(open, _)| open);
                assert_eq!(open, Some(id.0), "Upgraded without its Response");
                self.end(id.0, "Upgraded");
            }
            ClientEvent::Aborted { id } => {
                if self.open.is_some_and(|(open, _)| open == id.0) {
                    self.open = None;
                }
                self.end(id.0, "Aborted");
            }
            ClientEvent::Error(_) => {
                self.errors += 1;
                assert_eq!(self.errors, 1, "a second Error event");
            }
            _ => {}
        }
    }
}

fn trailer_map() -> HeaderMap {
    let mut t = HeaderMap::new();
    t.insert("x-checksum", HeaderValue::from_static("0123abcd"));
    t
}

/// A request head with the `flags` of [`ClientOp::SendRequest`].
fn request_parts(method: Method, uri: Uri, flags: u8) -> request::Parts {
    let mut parts = http::Request::new(()).into_parts().0;
    parts.method = method;
    parts.uri = uri;
    if flags & 1 != 0 {
        parts.version = Version::HTTP_10;
    }
    let h = &mut parts.headers;
    if flags & 2 != 0 {
        h.insert(header::EXPECT, HeaderValue::from_static("100-continue"));
    }
    if flags & 4 != 0 {
        h.append(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.append(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    }
    if flags & 8 != 0 {
        h.append(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if flags & 16 != 0 {
        h.append(header::CONNECTION, HeaderValue::from_static("keep-alive"));
    }
    if flags & 32 != 0 {
        h.insert(header::HOST, HeaderValue::from_static("example.com"));
    }
    if flags & 64 != 0 {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("5"));
    }
    if flags & 128 != 0 {
        h.insert("x-trace", HeaderValue::from_static("1"));
        let mut case = HeaderCaseMap::default();
        case.append(
            http::HeaderName::from_static("x-trace"),
            Bytes::from_static(b"X-Trace"),
        );
        parts.extensions.insert(case);
    }
    parts
}
