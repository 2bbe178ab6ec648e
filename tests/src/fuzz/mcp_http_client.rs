//! The client side of MCP Streamable HTTP — [`ClientSession`] with a
//! [`ClientEndpoint`] and [`SseAnswer`]s, driven the way the runtimes'
//! clients drive them — against a hostile server: every POST's answer
//! (status, content type, session id, body — JSON, an SSE stream cut
//! anywhere, anything) comes from the input, as do the answers to the
//! GETs that resume a cut stream, with the application's commands in
//! between.
//!
//! # Input layout
//!
//! ```text
//! [cfg: u8] [op: u8] [op's bytes] [op: u8] ...
//! ```
//!
//! * `cfg % 3` picks the era (auto, legacy, stateless); bit 2: progress
//!   resets a request's timeout; bit 3: at most one resumption in a row.
//! * `op % 8`: 0 `[k]` an application request (ping, tools, a call, a
//!   read, a subscription, a log level, prompts, a prompt); 1 `[a]`
//!   cancel one of ours; 2 `[a]` answer a server request (roots if `a` is
//!   even, else an error); 3 `[a]` time moves `100 ms * a` and timers
//!   fire; 4 the transport closes; 5 `[answer]` the next message the
//!   session sent goes out as a POST, and `answer` comes back; 6
//!   `[answer]` the standalone GET stream; 7 the DELETE that ends the
//!   session.
//! * `answer` is `[status: u8] [content type: u8] [session id: u8]
//!   [step: u8] [len: u16 LE] [body: len bytes]`: a status of a short
//!   list (200, 202, 400, 404, 405, 500, 301) or `100 + status`, a
//!   content type of a list (JSON, SSE, either in odd case, HTML, none,
//!   garbage), a session id (none, `s1`, `s2`, a long one), and an SSE
//!   body is pushed in chunks of `1 + step` bytes. When a POST's SSE
//!   answer ends while its request is still pending, the stream is
//!   resumed as the runtimes do (while [`SseAnswer::resume`] allows), each
//!   GET answered by the next `answer` of the input.
//!
//! # What is checked
//!
//! No panic. Every request is well-formed: the endpoint's URI; a POST
//! carries `Content-Type: application/json`, accepts JSON and SSE, its
//! body is JSON (an object, or a non-empty array) and its `Mcp-Method` is
//! the message's method; every request carries the session id the
//! endpoint took and nothing else; a resumption GET carries the stream's
//! last event id, and waits no longer than `sse_max_retry`. No timer is
//! left due after `handle_timeout`. Messages and events stay
//! proportional to the input.

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};
use http::{Method, Request, StatusCode};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use wirestate_jsonrpc::{ErrorObject, RequestId};
use wirestate_mcp::ClientSession;
use wirestate_mcp::http::client::{Answer, ClientEndpoint, SseAnswer, request_id};
use wirestate_mcp::schema::{ClientCapabilities, Implementation, ListRootsResult, LoggingLevel};
use wirestate_mcp::{ClientConfig, ClientEvent, Era};

/// The endpoint every request goes to.
const URL: &str = "http://127.0.0.1:8080/mcp";

/// The input, read a byte or a slice at a time (zeros past the end).
struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.data.split_first() else {
            return 0;
        };
        self.data = rest;
        b
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }
}

/// One answer of the server, as the input gives it.
struct ServerAnswer {
    status: StatusCode,
    headers: HeaderMap,
    step: usize,
    body: Bytes,
}

impl ServerAnswer {
    fn read(input: &mut Input<'_>) -> Self {
        let status = match input.byte() {
            s @ 0..=6 => [200, 202, 400, 404, 405, 500, 301][usize::from(s)],
            s => 100 + u16::from(s),
        };
        let mut headers = HeaderMap::new();
        let content_type = match input.byte() % 8 {
            0 => Some("application/json"),
            1 => Some("text/event-stream"),
            2 => Some("Application/JSON; charset=utf-8"),
            3 => Some("TEXT/event-stream;x=1"),
            4 => Some("text/html"),
            5 => None,
            6 => Some("application/jsonl"),
            _ => Some("text/event-streamx"),
        };
        if let Some(ct) = content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        let session = match input.byte() % 4 {
            0 => None,
            1 => Some("s1"),
            2 => Some("s2"),
            _ => Some("0123456789abcdef0123456789abcdef0123456789abcdef"),
        };
        if let Some(id) = session {
            headers.insert("mcp-session-id", HeaderValue::from_static(id));
        }
        let step = 1 + usize::from(input.byte());
        let len = usize::from(u16::from_le_bytes([input.byte(), input.byte()]));
        let body = Bytes::copy_from_slice(input.bytes(len));
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            headers,
            step,
            body,
        }
    }
}

/// The Streamable HTTP client target.
pub fn mcp_http_client(data: &[u8]) {
    let mut input = Input { data };
    let cfg = input.byte();
    let mut config = ClientConfig::default();
    config.era = match cfg % 3 {
        0 => Era::Auto,
        1 => Era::Legacy,
        _ => Era::Stateless,
    };
    config.progress_resets_timeout = cfg & 4 != 0;
    if cfg & 8 != 0 {
        config.sse_max_resumes = 1;
    }
    let mut f = Fuzz {
        now: Instant::now(),
        session: ClientSession::new(config.clone()),
        endpoint: ClientEndpoint::parse(URL).expect("the endpoint parses"),
        config,
        outbox: VecDeque::new(),
        ours: Vec::new(),
        theirs: Vec::new(),
        out: 0,
        steps: 0,
        total: data.len(),
    };
    let _ = f.session.initialize(
        f.now,
        Implementation::new("fuzz", "1"),
        ClientCapabilities::default(),
    );
    f.drain();
    while !input.data.is_empty() {
        f.steps += 1;
        match input.byte() % 8 {
            0 => {
                let (s, now) = (&mut f.session, f.now);
                let sent = match input.byte() % 8 {
                    0 => s.ping(now),
                    1 => s.list_tools(now, Some("c")),
                    2 => s.call_tool(now, "echo", None),
                    3 => s.read_resource(now, "file:///a"),
                    4 => s.subscribe(now, "file:///a"),
                    5 => s.set_level(now, LoggingLevel::Debug),
                    6 => s.list_prompts(now, None),
                    _ => s.get_prompt(now, "p", None),
                };
                if let Ok(id) = sent {
                    f.ours.push(id);
                }
            }
            1 => {
                let a = usize::from(input.byte());
                if let Some(id) = f.ours.get(a % f.ours.len().max(1)) {
                    let _ = f.session.cancel(id, Some("fuzz"));
                }
            }
            2 => {
                let a = input.byte();
                if let Some(id) = f.theirs.pop() {
                    let _ = if a % 2 == 0 {
                        f.session.respond_roots(&id, ListRootsResult::default())
                    } else {
                        f.session.respond_error(&id, ErrorObject::new(-1, "no"))
                    };
                }
            }
            3 => {
                f.now += Duration::from_millis(u64::from(input.byte()) * 100);
                f.session.handle_timeout(f.now);
                assert!(
                    f.session.poll_timeout().is_none_or(|t| t > f.now),
                    "a due timer left after handle_timeout"
                );
            }
            4 => f.session.handle_close(),
            5 => f.post(&mut input),
            6 => {
                let req = f.endpoint.get(&f.session, "");
                f.check_common(&req, Method::GET);
                assert!(req.headers().get("last-event-id").is_none());
                let answer = ServerAnswer::read(&mut input);
                if answer.status == StatusCode::OK {
                    let mut sse = SseAnswer::new(&f.config);
                    f.read_sse(&mut sse, &answer);
                }
            }
            _ => {
                if let Some(req) = f.endpoint.delete() {
                    f.check_common(&req, Method::DELETE);
                    assert!(req.headers().contains_key("mcp-session-id"));
                } else {
                    assert!(f.endpoint.session_id().is_none());
                }
            }
        }
        f.drain();
    }
}

/// The client's state across steps.
struct Fuzz {
    now: Instant,
    session: ClientSession,
    endpoint: ClientEndpoint,
    config: ClientConfig,
    /// What the session sent, not yet POSTed.
    outbox: VecDeque<Bytes>,
    ours: Vec<RequestId>,
    theirs: Vec<RequestId>,
    /// Messages and events so far.
    out: usize,
    steps: usize,
    total: usize,
}

impl Fuzz {
    /// Takes what the session sends and reports, checking the proportion.
    fn drain(&mut self) {
        while let Some(m) = self.session.poll_message() {
            self.out += 1;
            match serde_json::from_slice::<serde_json::Value>(&m) {
                Ok(serde_json::Value::Object(_)) => {}
                Ok(serde_json::Value::Array(a)) => assert!(!a.is_empty(), "an empty batch"),
                other => panic!("the client sent {other:?}: {m:?}"),
            }
            self.outbox.push_back(m);
        }
        while let Some(e) = self.session.poll_event() {
            self.out += 1;
            match e {
                ClientEvent::ListRoots { id }
                | ClientEvent::CreateMessage { id, .. }
                | ClientEvent::Elicit { id, .. } => self.theirs.push(id),
                _ => {}
            }
        }
        // Each message or event answers a step, or a server message (a
        // few dozen bytes at least) of the input.
        assert!(
            self.out <= 16 + 4 * self.steps + self.total,
            "output out of proportion: {} for {} steps of {} bytes",
            self.out,
            self.steps,
            self.total
        );
    }

    /// What every request carries: the endpoint, and exactly the session
    /// id the endpoint took.
    fn check_common(&self, req: &Request<()>, method: Method) {
        assert_eq!(req.method(), method);
        assert_eq!(req.uri(), self.endpoint.uri());
        assert_eq!(
            req.headers().get("mcp-session-id"),
            self.endpoint.session_id()
        );
        assert_eq!(req.headers().get_all("mcp-session-id").iter().count(), {
            usize::from(self.endpoint.session_id().is_some())
        });
    }

    /// The next outgoing message as a POST, and the server's answer to it.
    fn post(&mut self, input: &mut Input<'_>) {
        let answer = ServerAnswer::read(input);
        let Some(message) = self.outbox.pop_front() else {
            return;
        };
        let req = self.endpoint.post(&self.session, &message);
        self.check_common(&req, Method::POST);
        assert_eq!(req.headers()[CONTENT_TYPE], "application/json");
        let accept = req.headers()[ACCEPT].to_str().expect("ASCII Accept");
        assert!(accept.contains("application/json") && accept.contains("text/event-stream"));
        let method = serde_json::from_slice::<serde_json::Value>(&message)
            .ok()
            .and_then(|v| Some(v.get("method")?.as_str()?.to_owned()));
        if let Some(sent) = req.headers().get("mcp-method") {
            assert_eq!(sent.to_str().ok(), method.as_deref(), "Mcp-Method differs");
        }
        let request = request_id(&message);
        match self.endpoint.answer(answer.status, &answer.headers) {
            Answer::EventStream => {
                assert!(answer.status.is_success());
                let mut sse = SseAnswer::new(&self.config);
                self.read_sse(&mut sse, &answer);
                if let Some(id) = request {
                    self.resume(input, &id, sse);
                }
            }
            Answer::Body(body) => {
                let limit = body.limit();
                let bytes = answer.body.slice(..answer.body.len().min(limit));
                match body.finish(bytes, request.as_ref()) {
                    Ok(Some(m)) => {
                        let _ = self.session.handle_message_bytes(self.now, m);
                    }
                    Ok(None) => {}
                    Err(_) => {
                        if let Some(id) = request {
                            self.session.fail_discovery(self.now, &id);
                        }
                    }
                }
            }
        }
    }

    /// The SSE answer to our request `id` ended: resume it while it is
    /// pending and [`SseAnswer::resume`] allows, as the runtimes do.
    fn resume(&mut self, input: &mut Input<'_>, id: &RequestId, mut sse: SseAnswer) {
        // The bound is the config's; the extra turn sees it refuse.
        for _ in 0..=self.config.sse_max_resumes {
            if !self.session.is_pending(id) || input.data.is_empty() {
                return;
            }
            let Ok(Some(delay)) = sse.resume(id) else {
                return;
            };
            assert!(delay <= self.config.sse_max_retry, "retry {delay:?}");
            let req = self.endpoint.get(&self.session, sse.last_event_id());
            self.check_common(&req, Method::GET);
            assert_eq!(
                req.headers()
                    .get("last-event-id")
                    .map(|v| v.as_bytes().to_vec()),
                Some(sse.last_event_id().as_bytes().to_vec()),
                "a resumption without its Last-Event-ID"
            );
            self.now += delay;
            self.session.handle_timeout(self.now);
            let answer = ServerAnswer::read(input);
            if answer.status != StatusCode::OK {
                return;
            }
            self.read_sse(&mut sse, &answer);
            self.drain();
        }
    }

    /// Feeds an SSE body in chunks of `answer.step` bytes.
    fn read_sse(&mut self, sse: &mut SseAnswer, answer: &ServerAnswer) {
        for chunk in answer.body.chunks(answer.step) {
            sse.push(chunk);
            while let Some(m) = sse.next_message() {
                if let Ok(m) = m {
                    let _ = self.session.handle_message_bytes(self.now, m);
                }
            }
        }
        while let Some(m) = sse.finish() {
            if let Ok(m) = m {
                let _ = self.session.handle_message_bytes(self.now, m);
            }
        }
    }
}
