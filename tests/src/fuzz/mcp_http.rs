//! The MCP Streamable HTTP server ([`HttpServer`]) driven by an op list.
//!
//! # Input layout
//!
//! Like the other connection targets:
//!
//! ```text
//! [ops_len: u16 LE] [program: ops_len bytes] [wire: the rest]
//! ```
//!
//! The program is decoded with `arbitrary`: an [`HttpSetup`] and then
//! [`HttpOp`]s. A `Request` op builds a request from choices — the method
//! (POST, GET, DELETE or another), `Host`, `Origin`, `Accept`,
//! `Content-Type`, `Mcp-Session-Id` (none, one the server issued, live or
//! not, or a bogus one), `MCP-Protocol-Version` and `Last-Event-ID`, each
//! valid, invalid or missing — and a body: a client message
//! ([`ClientMsg`]), or the next raw bytes of the wire. Time steps expire
//! sessions; the application answers the requests it was handed, sends
//! progress and logs, pings, closes streams; the runtime reads open
//! responses and disconnects.
//!
//! # What is checked
//!
//! * Nothing panics.
//! * Every status is one the machine documents for that request: 421 for
//!   a `Host` off the list and 403 for an `Origin` off it (exactly), 405
//!   for other methods (with `Allow`); POST 200/202/400/404/406/415, 413
//!   only for a body over `max_body`, 503 only when `max_sessions` are
//!   live, 202 only for a body without requests (and with an empty body);
//!   GET 200/400/404/406 (405 when GET is off); DELETE 200/400/404.
//! * Every complete body is a JSON-RPC message; a 200 answer to
//!   `initialize` that opened a session carries a new `Mcp-Session-Id`.
//! * The live sessions never exceed `max_sessions`.
//! * Open responses: SSE bodies parse with `SseDecoder` (no error, no
//!   leftover at the end), every event's id is `<stream>-<n>` with one
//!   stream per response and increasing `n`, and its data is empty (a
//!   priming event) or a JSON-RPC message; a deferred JSON body is one
//!   JSON-RPC message; nothing comes after `Chunk::End`.
//! * Replay buffers are bounded: no chunk carries more than
//!   `max(replay_events, 1)` events (a chunk holds at most what is kept,
//!   priming events included).
//! * Responses to an id, per session, never outnumber the requests that
//!   carried it.

use super::mcp::{ClientMsg, Handed, IdLedger, answer, check_jsonrpc, handed, level};
use super::ops::{Clock, MAX_OPS, Wire, split_input};
use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use wirestate_codec::SseDecoder;
use wirestate_mcp::http::{Chunk, ExchangeId, HttpEvent, Reply, SessionId};
use wirestate_mcp::schema::{Implementation, ProgressToken};
use wirestate_mcp::{Config, HttpConfig, HttpServer};

/// The configuration as the input chooses it (all zero: the defaults).
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSetup {
    /// Bit 0: at most `1 + sessions % 3` sessions; bit 1: sessions expire
    /// after 1 s idle; bit 2: keep `replay` events per stream; bit 3:
    /// JSON only; bit 4: no standalone GET stream; bit 5: bodies of at most
    /// 256 bytes; bit 6: at most one finished stream kept.
    pub flags: u8,
    /// Sessions (with bit 0).
    pub sessions: u8,
    /// Replay events (with bit 2): `replay % 4`.
    pub replay: u8,
}

/// A header's value: valid, invalid or missing.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// A valid value.
    Good,
    /// Missing.
    Missing,
    /// Invalid (a few kinds).
    Bad(u8),
}

/// Which session a request names.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionChoice {
    /// The `n`-th session issued (live, deleted or expired).
    Issued(u8),
    /// No header.
    Missing,
    /// A made-up id.
    Bogus,
    /// Bytes that are not UTF-8.
    Opaque,
}

/// The request's body.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyChoice {
    /// A client message.
    Msg(ClientMsg),
    /// The next `n % 512` bytes of the wire.
    Raw(u16),
    /// None.
    Empty,
}

/// One step of a run.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpOp {
    /// A request.
    Request {
        /// POST, GET, DELETE, PUT, or OPTIONS.
        method: u8,
        /// `Host`.
        host: Choice,
        /// `Origin`.
        origin: Choice,
        /// `Accept`.
        accept: Choice,
        /// `Content-Type`.
        content_type: Choice,
        /// `Mcp-Session-Id`.
        session: SessionChoice,
        /// `MCP-Protocol-Version`.
        version: Choice,
        /// `Last-Event-ID`: missing, or an event id seen (or made up).
        last_event: Option<u8>,
        /// The body.
        body: BodyChoice,
    },
    /// Move time by `n * 10` ms and fire due timers.
    Time(u16),
    /// Move time by `n` seconds and fire due timers.
    Sleep(u8),
    /// The application answers the `n`-th request it holds (an error when
    /// `false`).
    Answer(u8, bool),
    /// Progress for the `n`-th request held, through `session_for`.
    Progress(u8, u8),
    /// A log message in the `n`-th session (related to a held request when
    /// `true`).
    Log(u8, u8, bool),
    /// The `n`-th session pings its client.
    Ping(u8),
    /// A resource changed.
    ResourceUpdated,
    /// The application ends the stream of the `n`-th request held
    /// (SEP-1699).
    CloseStream(u8),
    /// The runtime reads the `n`-th open response.
    Read(u8),
    /// The runtime reads every ready response.
    ReadReady,
    /// The client of the `n`-th open response goes away.
    Disconnect(u8),
    /// The application removes the `n`-th session.
    Remove(u8),
}

/// The Streamable HTTP MCP server target.
pub fn mcp_http(data: &[u8]) {
    let (prog, wire) = split_input(data);
    let mut u = Unstructured::new(prog);
    let Ok(setup) = HttpSetup::arbitrary(&mut u) else {
        return;
    };
    let mut ops = Vec::new();
    while !u.is_empty() && ops.len() < MAX_OPS {
        match HttpOp::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    run(&setup, &ops, wire);
}

fn config(setup: &HttpSetup) -> HttpConfig {
    let mut c = HttpConfig::new(Config::new(Implementation::new("fuzz", "1")));
    if setup.flags & 1 != 0 {
        c.max_sessions = 1 + usize::from(setup.sessions % 3);
    }
    if setup.flags & 2 != 0 {
        c.idle_timeout = Duration::from_secs(1);
    }
    if setup.flags & 4 != 0 {
        c.replay_events = usize::from(setup.replay % 4);
    }
    if setup.flags & 8 != 0 {
        c.json_only = true;
    }
    if setup.flags & 16 != 0 {
        c.standalone_stream = false;
    }
    if setup.flags & 32 != 0 {
        c.max_body = 256;
    }
    if setup.flags & 64 != 0 {
        c.finished_streams = 1;
    }
    c
}

/// An open response, as the runtime reads it.
struct Open {
    id: ExchangeId,
    session: Option<SessionId>,
    sse: Option<SseDecoder>,
    /// The stream of its events, once one was seen.
    stream: Option<(String, u64)>,
    json: Vec<u8>,
    ended: bool,
}

struct State {
    server: HttpServer,
    config: HttpConfig,
    clock: Clock,
    issued: Vec<SessionId>,
    held: Vec<(SessionId, Handed)>,
    open: Vec<Open>,
    /// Legacy-era answers whose head waits for the request's first
    /// message (and their session).
    deferred: Vec<(ExchangeId, Option<SessionId>)>,
    ledgers: BTreeMap<SessionId, IdLedger>,
    event_ids: Vec<String>,
    delivered: std::collections::BTreeSet<(SessionId, String)>,
    server_requests: Vec<Value>,
}

fn header(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).expect("a valid header value")
}

impl State {
    #[allow(clippy::too_many_arguments)]
    fn request(
        &mut self,
        method: u8,
        host: Choice,
        origin: Choice,
        accept: Choice,
        content_type: Choice,
        session: SessionChoice,
        version: Choice,
        last_event: Option<u8>,
        body: Bytes,
    ) {
        let method = match method % 8 {
            0..=2 => Method::POST,
            3 | 4 => Method::GET,
            5 => Method::DELETE,
            6 => Method::PUT,
            _ => Method::OPTIONS,
        };
        let mut req = Request::builder()
            .method(method.clone())
            .uri("/mcp")
            .body(())
            .expect("a request");
        let h = req.headers_mut();
        let host_ok = match host {
            Choice::Good => {
                h.insert("host", header("localhost:8080"));
                true
            }
            Choice::Missing => false,
            Choice::Bad(n) => {
                let (v, ok) = match n % 5 {
                    0 => ("evil.example", false),
                    1 => ("127.0.0.1", true),
                    2 => ("[::1]:99", true),
                    3 => ("localhost:notaport", false),
                    _ => ("localhost.evil.example:80", false),
                };
                h.insert("host", header(v));
                ok
            }
        };
        let origin_ok = match origin {
            Choice::Good => {
                h.insert("origin", header("http://localhost:3000"));
                true
            }
            Choice::Missing => true,
            Choice::Bad(n) => {
                let (v, ok): (&[u8], bool) = match n % 4 {
                    0 => (b"https://evil.example", false),
                    1 => (b"null", false),
                    2 => (b"https://127.0.0.1", true),
                    _ => (b"http://localhost\xff", false),
                };
                h.insert(
                    "origin",
                    HeaderValue::from_bytes(v).expect("a header value"),
                );
                ok
            }
        };
        match accept {
            Choice::Good => {
                h.insert("accept", header("application/json, text/event-stream"));
            }
            Choice::Missing => {}
            Choice::Bad(n) => {
                let v = match n % 5 {
                    0 => "text/html",
                    1 => "application/json",
                    2 => "text/event-stream",
                    3 => "*/*;q=0",
                    _ => "application/*, text/event-stream;q=0",
                };
                h.insert("accept", header(v));
            }
        }
        match content_type {
            Choice::Good => {
                h.insert("content-type", header("application/json"));
            }
            Choice::Missing => {}
            Choice::Bad(n) => {
                let v = match n % 3 {
                    0 => "text/plain",
                    1 => "application/json; charset=utf-8",
                    _ => "application/jsonx",
                };
                h.insert("content-type", header(v));
            }
        }
        match session {
            SessionChoice::Issued(n) => {
                if let Some(id) = self.pick_issued(n) {
                    h.insert("mcp-session-id", header(id.as_str()));
                }
            }
            SessionChoice::Missing => {}
            SessionChoice::Bogus => {
                h.insert("mcp-session-id", header("0123456789abcdef0123456789abcdef"));
            }
            SessionChoice::Opaque => {
                h.insert(
                    "mcp-session-id",
                    HeaderValue::from_bytes(b"\xfe\xff").expect("a header value"),
                );
            }
        }
        match version {
            Choice::Good => {
                h.insert("mcp-protocol-version", header("2025-06-18"));
            }
            Choice::Missing => {}
            Choice::Bad(n) => {
                let v = match n % 3 {
                    0 => "2023-01-01",
                    1 => "2025-03-26",
                    _ => "",
                };
                h.insert("mcp-protocol-version", header(v));
            }
        }
        if let Some(n) = last_event {
            let v = if n % 4 == 3 || self.event_ids.is_empty() {
                format!("{}-{}", n % 3, n / 3)
            } else {
                self.event_ids[usize::from(n) % self.event_ids.len()].clone()
            };
            h.insert("last-event-id", header(&v));
        }
        let (head, ()) = req.into_parts();
        let live_before = self.server.sessions().count();
        let named = head
            .headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(SessionId::from);
        // Requests in the body, for the ledgers (counted once the request
        // is known to reach a session).
        let ids = if method == Method::POST {
            super::mcp::request_ids(&body)
        } else {
            Vec::new()
        };
        let body_len = body.len();
        let reply = self.server.handle_request(self.clock.now, &head, body);
        let status = reply.status();
        // The status is one documented for this request.
        if !host_ok {
            assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{head:?}");
        } else if !origin_ok {
            assert_eq!(status, StatusCode::FORBIDDEN, "{head:?}");
        } else {
            let allowed: &[u16] = match method {
                Method::POST => &[200, 202, 400, 404, 406, 413, 415, 503],
                Method::GET => &[200, 400, 404, 405, 406],
                Method::DELETE => &[200, 400, 404],
                _ => &[405],
            };
            assert!(
                allowed.contains(&status.as_u16()),
                "{status} for {method} {head:?}"
            );
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                assert!(body_len > self.config.max_body);
            }
            if status == StatusCode::SERVICE_UNAVAILABLE {
                assert!(live_before >= self.config.max_sessions);
            }
            if status == StatusCode::METHOD_NOT_ALLOWED {
                assert!(method != Method::POST && method != Method::DELETE);
                if method == Method::GET {
                    assert!(!self.config.standalone_stream);
                }
            }
            if status == StatusCode::ACCEPTED {
                assert!(ids.is_empty(), "202 for a body with requests");
            }
        }
        if status == StatusCode::METHOD_NOT_ALLOWED {
            if let Reply::Full(r) = &reply {
                assert!(r.headers().contains_key("allow"), "405 without Allow");
            }
        }
        let session = match &reply {
            Reply::Full(r) => r.headers().get("mcp-session-id"),
            Reply::Open { response, .. } => response.headers().get("mcp-session-id"),
            // A legacy-era deferred head belongs to the session named.
            Reply::Deferred { .. } => head.headers.get("mcp-session-id"),
        }
        .and_then(|v| v.to_str().ok())
        .map(SessionId::from);
        if let Some(s) = &session {
            if !self.issued.contains(s) {
                assert_eq!(named, None, "a new session for a request that named one");
                assert_eq!(status, StatusCode::OK);
                self.issued.push(s.clone());
            }
        }
        if matches!(status.as_u16(), 200 | 202) && method == Method::POST {
            if let Some(s) = &session {
                let ledger = self.ledgers.entry(s.clone()).or_default();
                for id in ids {
                    ledger.request(id);
                }
            }
        }
        self.take(reply, &method, session);
    }

    /// What the runtime does with a reply (or a decided deferred head).
    fn take(&mut self, reply: Reply, method: &Method, session: Option<SessionId>) {
        let status = reply.status();
        match reply {
            Reply::Deferred { exchange } if session.is_some() => {
                assert!(
                    self.deferred.iter().all(|(x, _)| *x != exchange)
                        && self.open.iter().all(|o| o.id != exchange),
                    "an exchange id reused"
                );
                self.deferred.push((exchange, session));
            }
            // A stateless request still being served: this model only
            // follows sessions, so it hangs up (which must end it).
            Reply::Deferred { exchange } => self.server.handle_disconnect(self.clock.now, exchange),
            Reply::Full(r) => {
                let body = r.body();
                let sse = r
                    .headers()
                    .get("content-type")
                    .is_some_and(|v| v == "text/event-stream");
                if status == StatusCode::ACCEPTED
                    || (*method == Method::DELETE && status == StatusCode::OK)
                {
                    assert!(body.is_empty(), "a body with {status}");
                } else if sse {
                    // A whole event stream: only for a deferred head whose
                    // request the client cancelled, so it says nothing.
                    assert_eq!(status, StatusCode::OK);
                    assert!(body.is_empty(), "a complete event stream with events");
                } else {
                    let sent = check_jsonrpc(body);
                    self.note(session.as_ref(), sent);
                }
            }
            Reply::Open { response, exchange } => {
                assert_eq!(response.status(), StatusCode::OK);
                let sse = response
                    .headers()
                    .get("content-type")
                    .is_some_and(|v| v == "text/event-stream");
                assert!(
                    self.open.iter().all(|o| o.id != exchange),
                    "an exchange id reused"
                );
                self.open.push(Open {
                    id: exchange,
                    session,
                    sse: sse.then(SseDecoder::new),
                    stream: None,
                    json: Vec::new(),
                    ended: false,
                });
            }
        }
    }

    fn pick_issued(&self, n: u8) -> Option<&SessionId> {
        if self.issued.is_empty() {
            return None;
        }
        // Mostly the latest.
        let i = self
            .issued
            .len()
            .saturating_sub(1 + usize::from(n % 4))
            .min(self.issued.len() - 1);
        self.issued.get(i)
    }

    fn note(&mut self, session: Option<&SessionId>, sent: super::mcp::Sent) {
        self.server_requests.extend(sent.requests);
        if let Some(s) = session {
            let ledger = self.ledgers.entry(s.clone()).or_default();
            for id in sent.responses.into_iter().flatten() {
                ledger.response(id);
            }
        }
    }

    fn read(&mut self, i: usize) {
        let Some(mut o) = (i < self.open.len()).then(|| self.open.remove(i)) else {
            return;
        };
        let limit = self.config.replay_events.max(1);
        for _ in 0..64 {
            let Some(chunk) = self.server.poll_chunk(o.id) else {
                break;
            };
            match chunk {
                Chunk::End => {
                    o.ended = true;
                    break;
                }
                Chunk::Data(b) => {
                    assert!(!b.is_empty(), "an empty chunk");
                    match &mut o.sse {
                        None => o.json.extend_from_slice(&b),
                        Some(dec) => {
                            dec.push(&b);
                            let mut n = 0;
                            let mut sents = Vec::new();
                            while let Some(e) = dec.next_event() {
                                let e = e.unwrap_or_else(|e| panic!("bad SSE: {e}"));
                                n += 1;
                                let id =
                                    e.id.clone()
                                        .unwrap_or_else(|| panic!("an event without id: {e:?}"));
                                let (s, seq) = id.split_once('-').expect("<stream>-<n>");
                                let seq: u64 = seq.parse().expect("a number");
                                assert!(s.parse::<u64>().is_ok(), "{id}");
                                if let Some((s0, last)) = &o.stream {
                                    assert_eq!(s0, s, "two streams in one response");
                                    assert!(seq > *last, "event ids not increasing: {id}");
                                }
                                o.stream = Some((s.to_owned(), seq));
                                // A resumed stream delivers again what a
                                // client missed: count each event once.
                                let first = o
                                    .session
                                    .as_ref()
                                    .is_none_or(|s| self.delivered.insert((s.clone(), id.clone())));
                                self.event_ids.push(id);
                                if !e.data.is_empty() && first {
                                    sents.push(check_jsonrpc(e.data.as_bytes()));
                                }
                            }
                            assert_eq!(dec.buffered(), 0, "a chunk cut an event");
                            assert!(n <= limit, "{n} events in one chunk (replay {limit})");
                            for sent in sents {
                                self.note(o.session.clone().as_ref(), sent);
                            }
                        }
                    }
                }
            }
        }
        if o.ended {
            if o.sse.is_none() && !o.json.is_empty() {
                let sent = check_jsonrpc(&o.json);
                self.note(o.session.clone().as_ref(), sent);
            }
            // Nothing after the end.
            assert_eq!(self.server.poll_chunk(o.id), Some(Chunk::End));
        } else {
            self.open.insert(i.min(self.open.len()), o);
        }
    }

    fn drain(&mut self) {
        while let Some(e) = self.server.poll_event() {
            match &e {
                HttpEvent::Session { session, event } => {
                    if let Some(h) = handed(event) {
                        self.held.push((session.clone(), h));
                    }
                    if let wirestate_mcp::ServerEvent::Cancelled { id, .. } = event {
                        self.held.retain(|(s, h)| !(s == session && &h.id == id));
                    }
                }
                HttpEvent::SessionClosed { session, .. } => {
                    self.held.retain(|(s, _)| s != session);
                }
                _ => {}
            }
        }
        assert!(
            self.server.sessions().count() <= self.config.max_sessions,
            "more sessions than max_sessions"
        );
    }

    fn op(&mut self, op: HttpOp, wire: &mut Wire<'_>) {
        match op {
            HttpOp::Request {
                method,
                host,
                origin,
                accept,
                content_type,
                session,
                version,
                last_event,
                body,
            } => {
                let body = match body {
                    BodyChoice::Msg(m) => Bytes::from(m.json(&self.server_requests)),
                    BodyChoice::Raw(n) => {
                        let b = wire.peek(n % 512);
                        wire.advance(b.len());
                        Bytes::copy_from_slice(b)
                    }
                    BodyChoice::Empty => Bytes::new(),
                };
                self.request(
                    method,
                    host,
                    origin,
                    accept,
                    content_type,
                    session,
                    version,
                    last_event,
                    body,
                );
            }
            HttpOp::Time(n) => {
                self.clock.advance(n.saturating_mul(10));
                self.timeout();
            }
            HttpOp::Sleep(n) => {
                self.clock.now += Duration::from_secs(u64::from(n));
                self.timeout();
            }
            HttpOp::Answer(n, ok) => {
                if !self.held.is_empty() {
                    let (s, h) = self.held.remove(usize::from(n) % self.held.len());
                    if let Some(session) = self.server.session_for(&s, &h.id) {
                        answer(session, &h, ok);
                    }
                }
            }
            HttpOp::Progress(n, t) => {
                if let Some((s, h)) = self
                    .held
                    .get(usize::from(n) % self.held.len().max(1))
                    .cloned()
                {
                    let token = h.progress.clone().unwrap_or(ProgressToken::Number(9));
                    if let Some(session) = self.server.session_for(&s, &h.id) {
                        let _ = session.notify_progress(&token, f64::from(t), None, None);
                    }
                }
            }
            HttpOp::Log(n, l, related) => {
                let held = self
                    .held
                    .get(usize::from(n) % self.held.len().max(1))
                    .cloned();
                let session = match (&held, related) {
                    (Some((s, h)), true) => self.server.session_for(s, &h.id),
                    _ => match self.pick_issued(n).cloned() {
                        Some(s) => self.server.session_mut(&s),
                        None => None,
                    },
                };
                if let Some(session) = session {
                    let _ = session.log(level(l), None, json!({"line": "a\r\nb"}));
                }
            }
            HttpOp::Ping(n) => {
                let now = self.clock.now;
                if let Some(s) = self.pick_issued(n).cloned() {
                    if let Some(session) = self.server.session_mut(&s) {
                        let _ = session.ping(now);
                    }
                }
            }
            HttpOp::ResourceUpdated => {
                self.server.resource_updated(super::mcp::RESOURCE);
            }
            HttpOp::CloseStream(n) => {
                if let Some((s, h)) = self
                    .held
                    .get(usize::from(n) % self.held.len().max(1))
                    .cloned()
                {
                    self.server.close_stream(&s, &h.id);
                }
            }
            HttpOp::Read(n) => {
                if !self.open.is_empty() {
                    self.read(usize::from(n) % self.open.len());
                }
            }
            HttpOp::ReadReady => {
                while let Some(x) = self.server.poll_ready() {
                    if let Some(i) = self.deferred.iter().position(|(d, _)| *d == x) {
                        // Decided: a JSON answer (200, or 404 for a session
                        // ended meanwhile) or an SSE head.
                        if let Some(reply) = self.server.poll_reply(x) {
                            let (_, session) = self.deferred.remove(i);
                            assert!(
                                matches!(reply.status().as_u16(), 200 | 404),
                                "{:?} for a deferred head",
                                reply.status()
                            );
                            assert!(!matches!(reply, Reply::Deferred { .. }));
                            self.take(reply, &Method::POST, session);
                            if let Some(i) = self.open.iter().position(|o| o.id == x) {
                                self.read(i);
                            }
                        }
                        continue;
                    }
                    match self.open.iter().position(|o| o.id == x) {
                        Some(i) => self.read(i),
                        // Finished or dropped already: it ends.
                        None => assert_eq!(self.server.poll_chunk(x), Some(Chunk::End)),
                    }
                }
            }
            HttpOp::Disconnect(n) => {
                let all = self.open.len() + self.deferred.len();
                if all > 0 {
                    let i = usize::from(n) % all;
                    let x = if i < self.open.len() {
                        self.open.remove(i).id
                    } else {
                        self.deferred.remove(i - self.open.len()).0
                    };
                    self.server.handle_disconnect(self.clock.now, x);
                }
            }
            HttpOp::Remove(n) => {
                if let Some(s) = self.pick_issued(n).cloned() {
                    self.server.remove_session(&s);
                }
            }
        }
        self.drain();
    }

    fn timeout(&mut self) {
        self.server.handle_timeout(self.clock.now);
        self.drain();
        if let Some(t) = self.server.poll_timeout() {
            assert!(t > self.clock.now, "a due timer left after handle_timeout");
        }
    }
}

fn run(setup: &HttpSetup, ops: &[HttpOp], wire: &[u8]) {
    let config = config(setup);
    let mut counter = 0u64;
    let entropy = move |buf: &mut [u8]| {
        counter += 1;
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (counter >> (8 * (i % 8))) as u8 ^ (i as u8).wrapping_mul(37);
        }
    };
    let mut server = HttpServer::new(config.clone(), entropy);
    server.add_tool(super::mcp::tool());
    server.add_resource(super::mcp::resource());
    server.add_prompt(super::mcp::prompt());
    let mut s = State {
        server,
        config,
        clock: Clock::new(),
        issued: Vec::new(),
        held: Vec::new(),
        open: Vec::new(),
        deferred: Vec::new(),
        ledgers: BTreeMap::new(),
        event_ids: Vec::new(),
        delivered: std::collections::BTreeSet::new(),
        server_requests: Vec::new(),
    };
    let mut wire = Wire::new(wire);
    for &op in ops {
        s.op(op, &mut wire);
    }
    // The runtime reads everything that is ready.
    s.op(HttpOp::ReadReady, &mut wire);
}

/// Writes the tag that makes a derived `Arbitrary` enum of `count`
/// variants pick variant `index` (as `seed::tag`).
fn tag(out: &mut Vec<u8>, index: u32, count: u32) {
    let v = (u64::from(index) << 32).div_ceil(u64::from(count));
    out.extend_from_slice(&u32::try_from(v).expect("index < count").to_le_bytes());
}

fn enc_choice(out: &mut Vec<u8>, c: Choice) {
    match c {
        Choice::Good => tag(out, 0, 3),
        Choice::Missing => tag(out, 1, 3),
        Choice::Bad(n) => {
            tag(out, 2, 3);
            out.push(n);
        }
    }
}

fn enc_msg(out: &mut Vec<u8>, m: ClientMsg) {
    match m {
        ClientMsg::Initialize { id, version, caps } => {
            tag(out, 0, 19);
            out.extend_from_slice(&[id.0, version, caps]);
        }
        ClientMsg::Initialized => tag(out, 1, 19),
        ClientMsg::ToolsList(id, None) => {
            tag(out, 2, 19);
            out.extend_from_slice(&[id.0, 0]);
        }
        ClientMsg::ToolsCall {
            id,
            known,
            progress,
        } => {
            tag(out, 3, 19);
            out.extend_from_slice(&[id.0, u8::from(known)]);
            match progress {
                None => out.push(0),
                Some(p) => out.extend_from_slice(&[1, p]),
            }
        }
        ClientMsg::Garbage(n) => {
            tag(out, 18, 19);
            out.push(n);
        }
        other => panic!("no seed encoding for {other:?}"),
    }
}

/// Writes `ops` in `arbitrary`'s layout (only what the seeds use).
fn enc_op(out: &mut Vec<u8>, op: HttpOp) {
    match op {
        HttpOp::Request {
            method,
            host,
            origin,
            accept,
            content_type,
            session,
            version,
            last_event,
            body,
        } => {
            tag(out, 0, 13);
            out.push(method);
            for c in [host, origin, accept, content_type] {
                enc_choice(out, c);
            }
            match session {
                SessionChoice::Issued(n) => {
                    tag(out, 0, 4);
                    out.push(n);
                }
                SessionChoice::Missing => tag(out, 1, 4),
                SessionChoice::Bogus => tag(out, 2, 4),
                SessionChoice::Opaque => tag(out, 3, 4),
            }
            enc_choice(out, version);
            match last_event {
                None => out.push(0),
                Some(n) => out.extend_from_slice(&[1, n]),
            }
            match body {
                BodyChoice::Msg(m) => {
                    tag(out, 0, 3);
                    enc_msg(out, m);
                }
                BodyChoice::Raw(n) => {
                    tag(out, 1, 3);
                    out.extend_from_slice(&n.to_le_bytes());
                }
                BodyChoice::Empty => tag(out, 2, 3),
            }
        }
        HttpOp::Sleep(n) => {
            tag(out, 2, 13);
            out.push(n);
        }
        HttpOp::Answer(n, ok) => {
            tag(out, 3, 13);
            out.extend_from_slice(&[n, u8::from(ok)]);
        }
        HttpOp::Progress(n, t) => {
            tag(out, 4, 13);
            out.extend_from_slice(&[n, t]);
        }
        HttpOp::Ping(n) => {
            tag(out, 6, 13);
            out.push(n);
        }
        HttpOp::ReadReady => tag(out, 10, 13),
        other => panic!("no seed encoding for {other:?}"),
    }
}

fn post(session: SessionChoice, msg: ClientMsg) -> HttpOp {
    HttpOp::Request {
        method: 0,
        host: Choice::Good,
        origin: Choice::Missing,
        accept: Choice::Good,
        content_type: Choice::Good,
        session,
        version: Choice::Good,
        last_event: None,
        body: BodyChoice::Msg(msg),
    }
}

/// The hand-made seeds of `mcp_http` (each checked to decode back).
pub fn mcp_http_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use super::mcp::IdChoice;
    let init = ClientMsg::Initialize {
        id: IdChoice(0),
        version: 2,
        caps: 1,
    };
    let live = SessionChoice::Issued(0);
    let get = HttpOp::Request {
        method: 3,
        host: Choice::Good,
        origin: Choice::Good,
        accept: Choice::Good,
        content_type: Choice::Missing,
        session: live,
        version: Choice::Good,
        last_event: None,
        body: BodyChoice::Empty,
    };
    let session_ops = vec![
        post(SessionChoice::Missing, init),
        post(live, ClientMsg::Initialized),
        get,
        post(live, ClientMsg::ToolsList(IdChoice(1), None)),
        post(
            live,
            ClientMsg::ToolsCall {
                id: IdChoice(2),
                known: true,
                progress: Some(1),
            },
        ),
        HttpOp::Progress(0, 5),
        HttpOp::Ping(0),
        HttpOp::ReadReady,
        HttpOp::Answer(0, true),
        HttpOp::ReadReady,
        HttpOp::Request {
            method: 3,
            host: Choice::Good,
            origin: Choice::Missing,
            accept: Choice::Good,
            content_type: Choice::Missing,
            session: live,
            version: Choice::Missing,
            last_event: Some(0),
            body: BodyChoice::Empty,
        },
        HttpOp::ReadReady,
        HttpOp::Sleep(255),
        HttpOp::Request {
            method: 5,
            host: Choice::Good,
            origin: Choice::Missing,
            accept: Choice::Missing,
            content_type: Choice::Missing,
            session: live,
            version: Choice::Missing,
            last_event: None,
            body: BodyChoice::Empty,
        },
    ];
    let refusals = vec![
        HttpOp::Request {
            method: 0,
            host: Choice::Bad(0),
            origin: Choice::Missing,
            accept: Choice::Good,
            content_type: Choice::Good,
            session: SessionChoice::Missing,
            version: Choice::Missing,
            last_event: None,
            body: BodyChoice::Msg(init),
        },
        HttpOp::Request {
            method: 0,
            host: Choice::Good,
            origin: Choice::Bad(0),
            accept: Choice::Good,
            content_type: Choice::Good,
            session: SessionChoice::Missing,
            version: Choice::Missing,
            last_event: None,
            body: BodyChoice::Msg(init),
        },
        HttpOp::Request {
            method: 6,
            host: Choice::Good,
            origin: Choice::Missing,
            accept: Choice::Good,
            content_type: Choice::Bad(0),
            session: SessionChoice::Bogus,
            version: Choice::Bad(0),
            last_event: None,
            body: BodyChoice::Raw(40),
        },
        post(SessionChoice::Bogus, ClientMsg::Garbage(0)),
        post(SessionChoice::Missing, ClientMsg::Garbage(2)),
        post(SessionChoice::Missing, init),
        post(SessionChoice::Opaque, ClientMsg::Initialized),
    ];
    let program = |setup: [u8; 3], ops: &[HttpOp], wire: &[u8]| {
        let mut prog = setup.to_vec();
        for &op in ops {
            enc_op(&mut prog, op);
        }
        let (decoded, rest) = {
            let mut u = Unstructured::new(&prog);
            let s = HttpSetup::arbitrary(&mut u).expect("a setup");
            assert_eq!([s.flags, s.sessions, s.replay], setup);
            let mut v = Vec::new();
            while !u.is_empty() {
                v.push(HttpOp::arbitrary(&mut u).expect("an op"));
            }
            (v, u.len())
        };
        assert_eq!(decoded, ops, "seed ops decode back");
        assert_eq!(rest, 0);
        let mut out = u16::try_from(prog.len())
            .expect("a short program")
            .to_le_bytes()
            .to_vec();
        out.extend_from_slice(&prog);
        out.extend_from_slice(wire);
        out
    };
    // Standalone GETs taking the stream over one after another, then a
    // resumption from the first event: what comes back must fit the
    // replay buffer.
    let get_from = |last_event| HttpOp::Request {
        method: 3,
        host: Choice::Good,
        origin: Choice::Missing,
        accept: Choice::Bad(2),
        content_type: Choice::Missing,
        session: live,
        version: Choice::Missing,
        last_event,
        body: BodyChoice::Empty,
    };
    let mut takeovers = vec![post(SessionChoice::Missing, init)];
    for _ in 0..4 {
        takeovers.push(get_from(None));
        takeovers.push(HttpOp::ReadReady);
    }
    takeovers.push(get_from(Some(0)));
    takeovers.push(HttpOp::ReadReady);
    vec![
        ("session", program([0, 0, 0], &session_ops, b"")),
        ("takeovers", program([4, 0, 1], &takeovers, b"")),
        (
            "session-tight",
            program([1 | 2 | 4 | 64, 0, 1], &session_ops, b""),
        ),
        ("json-only", program([8 | 16, 0, 0], &session_ops, b"")),
        (
            "refusals",
            program(
                [1 | 32, 0, 0],
                &refusals,
                br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
            ),
        ),
    ]
}
