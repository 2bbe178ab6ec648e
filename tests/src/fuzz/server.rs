//! The server connection machine, driven by an op list.

use super::ops::{
    BodyChoice, Clock, LimitsChoice, MAX_OPS, SizeChoice, Split, Tally, TimeoutChoice, Wire,
    payload, split_input,
};
use super::stream::{ResponseExpect, check_responses};
use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode, Version, response};
use std::collections::VecDeque;
use wirestate_http1::{
    BodyKind, Error, HeaderCaseMap, ServerConfig, ServerConnection, ServerEvent,
};
use wirestate_machine::{Machine, Transmit};

/// The server's configuration; all zero bytes give [`ServerConfig::default`].
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSetup {
    /// `limits`.
    pub limits: LimitsChoice,
    /// `header_read_timeout`.
    pub header_read_timeout: TimeoutChoice,
    /// `keep_alive_timeout`.
    pub keep_alive_timeout: TimeoutChoice,
    /// `max_pipelined`, or the default.
    pub max_pipelined: Option<u8>,
    /// `max_buffered_input`.
    pub max_buffered_input: SizeChoice,
    /// `read_high_water`.
    pub read_high_water: SizeChoice,
    /// `write_high_water`.
    pub write_high_water: SizeChoice,
    /// `preserve_header_case`.
    pub preserve_header_case: bool,
}

impl ServerSetup {
    /// The configuration this setup stands for.
    pub fn config(&self) -> ServerConfig {
        let mut c = ServerConfig::default();
        c.limits = self.limits.limits();
        c.header_read_timeout = self.header_read_timeout.apply(c.header_read_timeout);
        c.keep_alive_timeout = self.keep_alive_timeout.apply(c.keep_alive_timeout);
        c.max_pipelined = self.max_pipelined.map_or(c.max_pipelined, usize::from);
        c.max_buffered_input = self.max_buffered_input.apply(c.max_buffered_input);
        c.read_high_water = self.read_high_water.apply(c.read_high_water);
        c.write_high_water = self.write_high_water.apply(c.write_high_water);
        c.preserve_header_case = self.preserve_header_case;
        c
    }
}

/// A response status.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChoice {
    /// 200.
    Ok,
    /// 204.
    NoContent,
    /// 304.
    NotModified,
    /// 101.
    SwitchingProtocols,
    /// 404.
    NotFound,
    /// 400.
    BadRequest,
    /// 500.
    InternalServerError,
    /// 100 (refused as a final status).
    Continue,
    /// `100 + n % 900`.
    Other(u16),
}

impl StatusChoice {
    /// The status code.
    pub fn status(self) -> StatusCode {
        match self {
            StatusChoice::Ok => StatusCode::OK,
            StatusChoice::NoContent => StatusCode::NO_CONTENT,
            StatusChoice::NotModified => StatusCode::NOT_MODIFIED,
            StatusChoice::SwitchingProtocols => StatusCode::SWITCHING_PROTOCOLS,
            StatusChoice::NotFound => StatusCode::NOT_FOUND,
            StatusChoice::BadRequest => StatusCode::BAD_REQUEST,
            StatusChoice::InternalServerError => StatusCode::INTERNAL_SERVER_ERROR,
            StatusChoice::Continue => StatusCode::CONTINUE,
            StatusChoice::Other(n) => StatusCode::from_u16(100 + n % 900).expect("in range"),
        }
    }
}

/// One step of a server run.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerOp {
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
    /// The client closed its side.
    Eof,
    /// `send_continue`.
    SendContinue,
    /// `send_informational` with status `100 + code % 100`.
    SendInformational {
        /// The status, offset from 100.
        code: u8,
    },
    /// `send_response`.
    SendResponse {
        /// The status.
        status: StatusChoice,
        /// The framing.
        body: BodyChoice,
        /// Header flags: 1 `connection: close`, 2 upgrade headers, 4
        /// `content-length` (refused), 8 a case map, 16 two `set-cookie`,
        /// 32 `transfer-encoding` (refused), 64 a case map that does not match.
        headers: u8,
    },
    /// `send_full_response` with a body of `len % 3000` bytes.
    SendFullResponse {
        /// The status.
        status: StatusChoice,
        /// The body length.
        len: u16,
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
    /// Answer every request that can be answered now with `200 ok`.
    RespondAll,
}

/// Fuzzes a [`ServerConnection`] with an op list (see the module docs for
/// the input layout). After every step, output and events are drained and
/// checked: request ids count up, bodies match their Content-Length, at
/// most one `Error`, a sticky input error, no `ReceiveBufferFull` while
/// `wants_read` was respected, `poll_timeout` later than `now` after
/// `handle_timeout`, nothing transmitted after `Shutdown` or once closed,
/// bounded output; at the end the whole output must read as well-framed
/// responses in the order they were accepted.
pub fn server_connection(data: &[u8]) {
    let (program, wire) = split_input(data);
    let mut u = Unstructured::new(program);
    let Ok(setup) = ServerSetup::arbitrary(&mut u) else {
        return;
    };
    let clock = Clock::new();
    let mut run = Run {
        conn: ServerConnection::new(setup.config(), clock.now),
        clock,
        tally: Tally::default(),
        out: Vec::new(),
        expected: VecDeque::new(),
        requests: Vec::new(),
        open_body: None,
        errors: 0,
        reading_done: false,
        input_failed: false,
        shut: false,
        closed: false,
    };
    let mut wire = Wire::new(wire);
    while !u.is_empty() && run.tally.ops < MAX_OPS {
        let Ok(op) = ServerOp::arbitrary(&mut u) else {
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
    check_responses(&run.out, run.expected);
}

/// What the harness learnt about a request from its `Request` event.
struct RequestInfo {
    is_head: bool,
    is_connect: bool,
    http10: bool,
    chunked: bool,
}

struct Run {
    conn: ServerConnection,
    clock: Clock,
    tally: Tally,
    out: Vec<u8>,
    expected: VecDeque<ResponseExpect>,
    /// Indexed by request id.
    requests: Vec<RequestInfo>,
    /// The request whose body is being read, and how much of its
    /// Content-Length is left.
    open_body: Option<(u64, Option<u64>)>,
    errors: usize,
    /// An `Error` or `Upgraded` was reported: no more requests.
    reading_done: bool,
    input_failed: bool,
    shut: bool,
    closed: bool,
}

impl Run {
    fn op(&mut self, op: ServerOp, wire: &mut Wire<'_>) {
        let now = self.clock.now;
        match op {
            ServerOp::Feed {
                len,
                split,
                respect_wants_read,
            } => self.feed(wire, len, split, respect_wants_read),
            ServerOp::Advance { millis } => {
                self.clock.advance(millis);
                self.timeout();
            }
            ServerOp::AdvanceToTimeout => {
                if let Some(t) = self.conn.poll_timeout() {
                    self.clock.now = self.clock.now.max(t);
                }
                self.timeout();
            }
            ServerOp::Eof => {
                let _ = self.conn.handle_eof(now);
            }
            ServerOp::SendContinue => {
                let _ = self.conn.send_continue();
            }
            ServerOp::SendInformational { code } => {
                let status = StatusCode::from_u16(100 + u16::from(code % 100)).expect("1xx");
                let _ = self.conn.send_informational(response_parts(status, 0));
            }
            ServerOp::SendResponse {
                status,
                body,
                headers,
            } => {
                let front = self.conn.current_request();
                let status = status.status();
                let result = self
                    .conn
                    .send_response(response_parts(status, headers), body.size());
                if let Ok(id) = result {
                    assert_eq!(
                        Some(id),
                        front,
                        "answered a request other than the current one"
                    );
                    self.accepted(id.0, status);
                }
            }
            ServerOp::SendFullResponse { status, len } => {
                let body = payload(len);
                self.tally.app_bytes += body.len();
                let status = status.status();
                let front = self.conn.current_request();
                let result = self
                    .conn
                    .send_full_response(response_parts(status, 0), body);
                if let Ok(id) = result {
                    assert_eq!(
                        Some(id),
                        front,
                        "answered a request other than the current one"
                    );
                    self.accepted(id.0, status);
                }
            }
            ServerOp::SendData { len } => {
                let body = payload(len);
                self.tally.app_bytes += body.len();
                let _ = self.conn.send_data(body);
            }
            ServerOp::Finish { trailers } => {
                let _ = self.conn.finish(trailers.then(trailer_map));
            }
            ServerOp::Close => self.conn.close(),
            ServerOp::RespondAll => {
                for _ in 0..=256 {
                    if self.conn.current_request().is_none() {
                        break;
                    }
                    let head = response_parts(StatusCode::OK, 0);
                    self.tally.app_bytes += 2;
                    match self
                        .conn
                        .send_full_response(head, Bytes::from_static(b"ok"))
                    {
                        Ok(id) => self.accepted(id.0, StatusCode::OK),
                        Err(_) => break,
                    }
                    // Reading resumes as the pipeline drains: learn about
                    // the next request before answering it.
                    self.drain();
                }
            }
        }
    }

    /// A final response was accepted (and written): note what the output
    /// must show for it.
    fn accepted(&mut self, id: u64, status: StatusCode) {
        let info = self
            .requests
            .get(id as usize)
            .unwrap_or_else(|| panic!("answered request {id}, never reported"));
        self.expected.push_back(ResponseExpect {
            status: status.as_u16(),
            is_head: info.is_head,
            is_connect: info.is_connect,
            http10: info.http10,
        });
        self.tally.heads += 1;
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
                "poll_timeout is not later than now after handle_timeout ({:?})",
                self.conn.timeout_reason()
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

    fn event(&mut self, ev: ServerEvent) {
        match ev {
            ServerEvent::Request(req) => {
                assert!(!self.reading_done, "a request after Error or Upgraded");
                assert!(
                    self.open_body.is_none(),
                    "a request before the last one ended"
                );
                let id = req.id.0;
                assert_eq!(id, self.requests.len() as u64, "request ids skip");
                let left = match req.body {
                    BodyKind::Empty => Some(0),
                    BodyKind::Length(n) => {
                        assert!(n > 0, "Length(0) instead of Empty");
                        Some(n)
                    }
                    BodyKind::Chunked => None,
                    BodyKind::CloseDelimited => panic!("a close-delimited request"),
                };
                let is_connect = req.head.method == Method::CONNECT;
                assert!(
                    !is_connect || req.wants_upgrade,
                    "CONNECT without wants_upgrade"
                );
                assert!(
                    !req.expects_continue || req.body != BodyKind::Empty,
                    "expects 100 without a body"
                );
                self.requests.push(RequestInfo {
                    is_head: req.head.method == Method::HEAD,
                    is_connect,
                    http10: req.head.version == Version::HTTP_10,
                    chunked: req.body == BodyKind::Chunked,
                });
                self.open_body = Some((id, left));
            }
            ServerEvent::Data { id, data } => {
                let Some((open, left)) = &mut self.open_body else {
                    panic!("Data outside a body");
                };
                assert_eq!(*open, id.0, "Data for another request");
                assert!(!data.is_empty(), "empty Data");
                if let Some(left) = left {
                    let n = data.len() as u64;
                    assert!(n <= *left, "more body than Content-Length");
                    *left -= n;
                }
            }
            ServerEvent::End { id, trailers } => {
                let Some((open, left)) = self.open_body.take() else {
                    panic!("End outside a body");
                };
                assert_eq!(open, id.0, "End for another request");
                assert!(
                    left.is_none_or(|l| l == 0),
                    "body shorter than Content-Length"
                );
                assert!(
                    trailers.is_none() || self.requests[open as usize].chunked,
                    "trailers on a body that is not chunked"
                );
            }
            ServerEvent::Upgraded { id, .. } => {
                assert!(
                    (id.0 as usize) < self.requests.len(),
                    "upgraded an unknown request"
                );
                assert!(!self.reading_done, "Upgraded after Error or Upgraded");
                self.reading_done = true;
            }
            ServerEvent::Error(_) => {
                self.errors += 1;
                assert_eq!(self.errors, 1, "a second Error event");
                self.reading_done = true;
            }
            _ => {}
        }
    }
}

fn trailer_map() -> HeaderMap {
    let mut t = HeaderMap::new();
    t.insert("x-checksum", HeaderValue::from_static("0123abcd"));
    t.append("x-more", HeaderValue::from_static("1"));
    t
}

/// A response head with `status` and the header `flags` of
/// [`ServerOp::SendResponse`].
fn response_parts(status: StatusCode, flags: u8) -> response::Parts {
    let mut parts = http::Response::new(()).into_parts().0;
    parts.status = status;
    let h = &mut parts.headers;
    if flags & 1 != 0 {
        h.append(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if flags & 2 != 0 {
        h.append(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.append(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
    if flags & 4 != 0 {
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    }
    if flags & 16 != 0 {
        h.append(header::SET_COOKIE, HeaderValue::from_static("a=1"));
        h.append(header::SET_COOKIE, HeaderValue::from_static("b=2; Path=/"));
    }
    if flags & 32 != 0 {
        h.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
    }
    if flags & (8 | 64) != 0 {
        h.insert("x-custom", HeaderValue::from_static("v"));
        let mut case = HeaderCaseMap::default();
        let spelling = if flags & 64 != 0 {
            "Y-Other"
        } else {
            "X-Custom"
        };
        case.append(
            http::HeaderName::from_static("x-custom"),
            Bytes::from_static(spelling.as_bytes()),
        );
        parts.extensions.insert(case);
    }
    parts
}
