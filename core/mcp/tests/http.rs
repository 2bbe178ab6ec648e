//! The Streamable HTTP server machine, without sockets: every status code,
//! both answer modes, streams, resumption, expiry and JSON-RPC errors.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use serde_json::{Map, Value, json};
use wirestate_codec::SseDecoder;
use wirestate_jsonrpc::RequestId;
use wirestate_mcp::ServerEvent;
use wirestate_mcp::http::{
    Chunk, CloseReason, ExchangeId, HostPolicy, HttpConfig, HttpError, HttpEvent, HttpServer,
    OriginPolicy, Reply, SessionId,
};
use wirestate_mcp::schema::{CallToolResult, Tool};

fn counter() -> impl FnMut(&mut [u8]) + Send {
    let mut n = 0u8;
    move |buf: &mut [u8]| {
        n = n.wrapping_add(1);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = n.wrapping_mul(31).wrapping_add(i as u8);
        }
    }
}

fn server_with(config: HttpConfig) -> HttpServer {
    let mut s = HttpServer::new(config, counter());
    s.add_tool(Tool::new("slow", Map::new()));
    s
}

fn server() -> HttpServer {
    server_with(HttpConfig::default())
}

struct Req {
    method: Method,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
}

fn post(body: Value) -> Req {
    Req {
        method: Method::POST,
        headers: vec![
            ("host", "127.0.0.1:8080".into()),
            ("content-type", "application/json".into()),
            ("accept", "application/json, text/event-stream".into()),
        ],
        body: Bytes::from(body.to_string()),
    }
}

impl Req {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.into()));
        self
    }
    fn without(mut self, name: &'static str) -> Self {
        self.headers.retain(|(n, _)| *n != name);
        self
    }
    fn session(self, id: &SessionId) -> Self {
        self.header("mcp-session-id", id.as_str())
    }
    fn raw(mut self, body: &str) -> Self {
        self.body = Bytes::from(body.to_owned());
        self
    }
    fn send(self, s: &mut HttpServer, now: Instant) -> Reply {
        let mut b = Request::builder().method(self.method).uri("/mcp");
        for (n, v) in &self.headers {
            b = b.header(*n, v.as_str());
        }
        let (parts, ()) = b.body(()).unwrap().into_parts();
        s.handle_request(now, &parts, self.body)
    }
}

fn get() -> Req {
    Req {
        method: Method::GET,
        headers: vec![
            ("host", "localhost:8080".into()),
            ("accept", "text/event-stream".into()),
        ],
        body: Bytes::new(),
    }
}

fn init() -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"}}})
}

fn full(reply: Reply) -> (StatusCode, http::HeaderMap, Value) {
    match reply {
        Reply::Full(r) => {
            let (parts, body) = r.into_parts();
            let v = if body.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&body).unwrap()
            };
            (parts.status, parts.headers, v)
        }
        Reply::Open { response, .. } => panic!("expected a full response, got {response:?}"),
        Reply::Deferred { exchange } => panic!("expected a full response, got {exchange:?}"),
    }
}

fn open(reply: Reply) -> (http::response::Parts, ExchangeId) {
    match reply {
        Reply::Open { response, exchange } => (response.into_parts().0, exchange),
        Reply::Full(r) => panic!("expected an open response, got {r:?}"),
        Reply::Deferred { exchange } => panic!("expected an open response, got {exchange:?}"),
    }
}

fn deferred(reply: Reply) -> ExchangeId {
    match reply {
        Reply::Deferred { exchange } => exchange,
        Reply::Full(r) => panic!("expected a deferred head, got {r:?}"),
        Reply::Open { response, .. } => panic!("expected a deferred head, got {response:?}"),
    }
}

/// The session answers a call with a log line before its result, so
/// the deferred head of the exchange `x` becomes an SSE stream; returns
/// what it carried so far (priming event, the log line).
fn stream_by_logging(
    s: &mut HttpServer,
    x: ExchangeId,
) -> (SessionId, RequestId, Vec<wirestate_codec::SseEvent>) {
    let (sid, rid) = call_events(s).remove(0);
    s.session_for(&sid, &rid)
        .unwrap()
        .log(
            wirestate_mcp::schema::LoggingLevel::Info,
            None,
            json!("start"),
        )
        .unwrap();
    assert!(std::iter::from_fn(|| s.poll_ready()).any(|r| r == x));
    let (head, y) = open(s.poll_reply(x).expect("the head is decided"));
    assert_eq!(y, x);
    assert_eq!(head.headers["content-type"], "text/event-stream");
    let (data, ended) = drain(s, x);
    assert!(!ended);
    let events = sse_events(&data);
    assert_eq!(events.len(), 2, "the priming event and the log line");
    (sid, rid, events)
}

/// Initializes a session and sends `notifications/initialized`.
fn session(s: &mut HttpServer, now: Instant) -> SessionId {
    session_of(s, now, "2025-11-25")
}

/// [`session`] of the revision `version`.
fn session_of(s: &mut HttpServer, now: Instant, version: &str) -> SessionId {
    let mut init = init();
    init["params"]["protocolVersion"] = json!(version);
    let (status, headers, body) = full(post(init).send(s, now));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"]["protocolVersion"], version);
    let id = SessionId::from(headers["mcp-session-id"].to_str().unwrap());
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (status, _, _) = full(post(note).session(&id).send(s, now));
    assert_eq!(status, StatusCode::ACCEPTED);
    id
}

/// Everything the exchange has now: (data, ended).
fn drain(s: &mut HttpServer, x: ExchangeId) -> (Vec<u8>, bool) {
    let mut data = Vec::new();
    loop {
        match s.poll_chunk(x) {
            Some(Chunk::Data(b)) => data.extend_from_slice(&b),
            Some(Chunk::End) => return (data, true),
            None => return (data, false),
        }
    }
}

fn sse_events(data: &[u8]) -> Vec<wirestate_codec::SseEvent> {
    let mut d = SseDecoder::new();
    d.push(data);
    let mut out = Vec::new();
    while let Some(e) = d.next_event() {
        out.push(e.unwrap());
    }
    out
}

fn call_events(s: &mut HttpServer) -> Vec<(SessionId, RequestId)> {
    let mut out = Vec::new();
    while let Some(e) = s.poll_event() {
        if let HttpEvent::Session {
            session,
            event: ServerEvent::CallTool { id, .. },
        } = e
        {
            out.push((session, id));
        }
    }
    out
}

fn call(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": "slow", "arguments": {}, "_meta": {"progressToken": "tok"}}})
}

#[test]
fn initialize_issues_a_128_bit_session_id() {
    let now = Instant::now();
    let mut s = server();
    let a = session(&mut s, now);
    let b = session(&mut s, now);
    assert_eq!(a.as_str().len(), 32);
    assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(a, b);
    assert!(matches!(
        s.poll_event(),
        Some(HttpEvent::Session { .. } | HttpEvent::SessionOpened { .. })
    ));
}

#[test]
fn host_and_origin_are_checked_by_default() {
    let now = Instant::now();
    let mut s = server();
    let r = post(init())
        .header("host", "evil.example.com")
        .send(&mut s, now);
    assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);
    let r = post(init())
        .header("origin", "http://evil.example.com")
        .send(&mut s, now);
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post(init()).header("origin", "null").send(&mut s, now);
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post(init()).without("host").send(&mut s, now);
    assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);
    for (host, origin) in [
        ("localhost", "http://localhost:3000"),
        ("[::1]:9", "https://[::1]"),
        ("127.0.0.1:1", "http://127.0.0.1"),
    ] {
        let r = post(init())
            .header("host", host)
            .header("origin", origin)
            .send(&mut s, now);
        assert_eq!(r.status(), StatusCode::OK, "{host} {origin}");
    }
    let refused: Vec<HttpError> = std::iter::from_fn(|| s.poll_event())
        .filter_map(|e| match e {
            HttpEvent::Refused(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 4);
    assert_eq!(refused[0].hint(), Some(StatusCode::MISDIRECTED_REQUEST));

    // The bound port, when configured, is enforced.
    let mut config = HttpConfig::default();
    config.hosts = HostPolicy::Localhost { port: Some(8080) };
    let mut s = server_with(config);
    assert_eq!(post(init()).send(&mut s, now).status(), StatusCode::OK);
    let r = post(init())
        .header("host", "localhost:8081")
        .send(&mut s, now);
    assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);

    // Lists and switching off.
    let mut config = HttpConfig::default();
    config.hosts = HostPolicy::Any;
    config.origins = OriginPolicy::List(vec!["https://app.example".into()]);
    let mut s = server_with(config);
    let r = post(init())
        .header("host", "mcp.example")
        .header("origin", "https://app.example")
        .send(&mut s, now);
    assert_eq!(r.status(), StatusCode::OK);
    let r = post(init())
        .header("origin", "http://localhost")
        .send(&mut s, now);
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[test]
fn http_level_refusals() {
    let now = Instant::now();
    let mut s = server();
    let id = session(&mut s, now);
    let ping = json!({"jsonrpc": "2.0", "id": 5, "method": "ping"});

    let mut put = post(ping.clone());
    put.method = Method::PUT;
    let r = put.send(&mut s, now);
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let Reply::Full(r) = r else { panic!() };
    assert_eq!(r.headers()["allow"], "GET, POST, DELETE");

    let r = post(ping.clone())
        .session(&id)
        .header("content-type", "text/plain")
        .send(&mut s, now);
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let r = post(ping.clone())
        .session(&id)
        .header("accept", "text/html")
        .send(&mut s, now);
    assert_eq!(r.status(), StatusCode::NOT_ACCEPTABLE);

    let (status, _, body) = full(post(ping.clone()).send(&mut s, now));
    assert_eq!(status, StatusCode::BAD_REQUEST, "no session id");
    assert!(body["error"]["code"].is_i64());

    let (status, _, body) = full(
        post(ping.clone())
            .header("mcp-session-id", "00112233445566778899aabbccddeeff")
            .send(&mut s, now),
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], -32001);

    let r = post(ping.clone())
        .session(&id)
        .header("mcp-protocol-version", "1999-01-01")
        .send(&mut s, now);
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = post(ping.clone())
        .session(&id)
        .header("mcp-protocol-version", "2025-03-26")
        .send(&mut s, now);
    assert_eq!(r.status(), StatusCode::OK);

    let mut config = HttpConfig::default();
    config.max_body = 64;
    let mut small = server_with(config);
    let r = post(json!({"jsonrpc": "2.0", "method": "x", "params": {"pad": "x".repeat(100)}}))
        .send(&mut small, now);
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // The refusal says what a GET needs (it said the client accepted
    // neither JSON nor SSE, though it asked for JSON).
    let (status, _, body) = full(
        get()
            .session(&id)
            .header("accept", "application/json")
            .send(&mut s, now),
    );
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("GET") && message.contains("text/event-stream"),
        "{message}"
    );
    assert!(!message.contains("neither"), "{message}");
    let mut config = HttpConfig::default();
    config.standalone_stream = false;
    let mut nostream = server_with(config);
    let other = session(&mut nostream, now);
    let r = get().session(&other).send(&mut nostream, now);
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);

    // A full table whose every session is busy (here: an open stream)
    // has nothing to evict.
    let mut config = HttpConfig::default();
    config.max_sessions = 1;
    let mut one = server_with(config);
    let only = session(&mut one, now);
    let _stream = open(get().session(&only).send(&mut one, now));
    let r = post(init()).send(&mut one, now);
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
}

fn closed(s: &mut HttpServer) -> Vec<(SessionId, CloseReason)> {
    std::iter::from_fn(|| s.poll_event())
        .filter_map(|e| match e {
            HttpEvent::SessionClosed { session, reason } => Some((session, reason)),
            _ => None,
        })
        .collect()
}

fn ping_status(s: &mut HttpServer, id: &SessionId, now: Instant) -> StatusCode {
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    post(ping).session(id).send(s, now).status()
}

#[test]
fn a_full_table_evicts_the_session_idle_longest() {
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut config = HttpConfig::default();
    config.max_sessions = 3;
    let mut s = server_with(config);
    let a = session(&mut s, at(0));
    let b = session(&mut s, at(1));
    let c = session(&mut s, at(2));
    // `a` is used again: `b` is now the one idle longest.
    assert_eq!(ping_status(&mut s, &a, at(3)), StatusCode::OK);
    assert!(closed(&mut s).is_empty());
    let d = session(&mut s, at(4));
    assert_eq!(closed(&mut s), vec![(b.clone(), CloseReason::Evicted)]);
    assert_eq!(s.sessions().count(), 3);
    for live in [&a, &c, &d] {
        assert!(s.session(live).is_some());
    }
    // The evicted client learns it by a 404 and initializes again,
    // which evicts the next idlest (`c`, last active at 2 s).
    assert_eq!(ping_status(&mut s, &b, at(5)), StatusCode::NOT_FOUND);
    let b2 = session(&mut s, at(6));
    assert_eq!(closed(&mut s), vec![(c.clone(), CloseReason::Evicted)]);
    assert!(s.session(&b2).is_some());
    assert_eq!(ping_status(&mut s, &c, at(7)), StatusCode::NOT_FOUND);
}

#[test]
fn busy_sessions_are_not_evicted() {
    let t0 = Instant::now();
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut config = HttpConfig::default();
    config.max_sessions = 4;
    let mut s = server_with(config);
    // Oldest first, each busy in its own way.
    let streaming = session(&mut s, at(0));
    let _stream = open(get().session(&streaming).send(&mut s, at(0)));
    let handling = session(&mut s, at(1));
    let _call = deferred(post(call(7)).session(&handling).send(&mut s, at(1)));
    let asking = session(&mut s, at(2));
    s.session_mut(&asking).unwrap().ping(at(2)).unwrap();
    assert!(s.poll_timeout().is_some_and(|t| t > at(5)));
    let idle = session(&mut s, at(3));
    closed(&mut s);

    // Only `idle` is free, though it is the newest.
    let e = session(&mut s, at(4));
    assert_eq!(closed(&mut s), vec![(idle.clone(), CloseReason::Evicted)]);
    for live in [&streaming, &handling, &asking, &e] {
        assert!(s.session(live).is_some());
    }
    assert_eq!(ping_status(&mut s, &idle, at(4)), StatusCode::NOT_FOUND);

    // Once `e` is busy too, a new client gets 503 and nobody is evicted.
    let _stream_e = open(get().session(&e).send(&mut s, at(5)));
    let r = post(init()).send(&mut s, at(5));
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(closed(&mut s).is_empty());
    assert_eq!(s.sessions().count(), 4);
}

#[test]
fn json_rpc_errors_over_http() {
    let now = Instant::now();
    let mut s = server();
    let id = session(&mut s, now);

    let (status, _, body) = full(
        post(json!(null))
            .session(&id)
            .raw("{not json")
            .send(&mut s, now),
    );
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], -32700);

    let bad = json!({"jsonrpc": "1.0", "id": 1, "method": "ping"});
    let (status, _, body) = full(post(bad).session(&id).send(&mut s, now));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], -32600);
    assert_eq!(body["id"], 1);

    let unknown = json!({"jsonrpc": "2.0", "id": 2, "method": "no/such"});
    let (status, headers, body) = full(post(unknown).session(&id).send(&mut s, now));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body["error"]["code"], -32601);

    let bad_params = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"x": 1}});
    let (_, _, body) = full(post(bad_params).session(&id).send(&mut s, now));
    assert_eq!(body["error"]["code"], -32602);

    // A batch on this 2025-11-25 session: refused as a whole (2025-06-18
    // removed batches), none of its requests served.
    let batch = json!([
        {"jsonrpc": "2.0", "id": 10, "method": "ping"},
        {"jsonrpc": "2.0", "id": 11, "method": "no/such"}
    ]);
    let (status, _, body) = full(post(batch.clone()).session(&id).send(&mut s, now));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], -32600);
    assert_eq!(body["id"], Value::Null);
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("batches"), "{message}");
    let ping = json!({"jsonrpc": "2.0", "id": 10, "method": "ping"});
    let (status, _, body) = full(post(ping).session(&id).send(&mut s, now));
    assert_eq!((status, body["id"].clone()), (StatusCode::OK, json!(10)));
    // On a 2025-03-26 session (which requires them): one array answer.
    let old = session_of(&mut s, now, "2025-03-26");
    let (_, _, body) = full(post(batch).session(&old).send(&mut s, now));
    assert_eq!(body.as_array().map(Vec::len), Some(2));

    // initialize inside a batch is refused.
    let (status, _, _) = full(post(json!([init()])).send(&mut s, now));
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A request before initialize: no session, so 400.
    let ping = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"});
    let (status, _, body) = full(post(ping).send(&mut s, now));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Mcp-Session-Id")
    );

    // initialize with bad params: -32602 and no session.
    let bad_init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}});
    let (status, headers, body) = full(post(bad_init).send(&mut s, now));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["error"]["code"], -32602);
    assert!(headers.get("mcp-session-id").is_none());
    assert_eq!(
        s.sessions().count(),
        2,
        "the 2025-11-25 and 2025-03-26 ones"
    );
}

/// A call the client cancels is never answered, so its response ends
/// without the answer: a stream after what it carried, an undecided head
/// as 202 with nothing. Before, both stayed open until the client hung up.
#[test]
fn a_cancelled_call_ends_its_response() {
    let now = Instant::now();
    let mut s = server();
    let id = session(&mut s, now);
    let cancel = |n: u64| {
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": n, "reason": "the user gave up"}})
    };
    // A stream (progress came first).
    let x = deferred(post(call(20)).session(&id).send(&mut s, now));
    let (sid, rid) = call_events(&mut s).remove(0);
    let token = wirestate_mcp::schema::ProgressToken::String("tok".into());
    s.session_for(&sid, &rid)
        .unwrap()
        .notify_progress(&token, 1.0, None, None)
        .unwrap();
    let _ = open(s.poll_reply(x).expect("decided"));
    assert!(!drain(&mut s, x).1);
    let (status, _, _) = full(post(cancel(20)).session(&id).send(&mut s, now));
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(std::iter::from_fn(|| s.poll_ready()).any(|r| r == x));
    let (data, ended) = drain(&mut s, x);
    assert!(ended, "the stream ends");
    assert!(sse_events(&data).is_empty(), "with no answer");
    // The application's late answer goes nowhere.
    let _ = s
        .session_for(&sid, &rid)
        .map(|session| session.respond_call_tool(&rid, CallToolResult::text("late")));
    assert_eq!(s.open_exchanges(), 0);

    // An undecided head: an empty event stream, not 202, which a POST
    // that carried a request must not get (found by the mcp_http fuzz
    // target, fuzz/corpus/mcp_http/repro-cancelled-undecided-head).
    let y = deferred(post(call(21)).session(&id).send(&mut s, now));
    let _ = call_events(&mut s);
    let (status, _, _) = full(post(cancel(21)).session(&id).send(&mut s, now));
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(std::iter::from_fn(|| s.poll_ready()).any(|r| r == y));
    let (status, headers, body) = full(s.poll_reply(y).expect("decided"));
    assert_eq!((status, body), (StatusCode::OK, Value::Null));
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["mcp-session-id"], id.as_str());
    assert_eq!(s.open_exchanges(), 0);
    // A client taking JSON only got its head at once: the body must still
    // be JSON, so it is an error answer for the cancelled request, not
    // nothing (found by the FUZZ helper's reading of the mcp_http model).
    let (head, z) = open(
        post(call(23))
            .session(&id)
            .header("accept", "application/json")
            .send(&mut s, now),
    );
    assert_eq!(head.headers["content-type"], "application/json");
    let _ = call_events(&mut s);
    let (status, _, _) = full(post(cancel(23)).session(&id).send(&mut s, now));
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(std::iter::from_fn(|| s.poll_ready()).any(|r| r == z));
    let (data, ended) = drain(&mut s, z);
    assert!(ended);
    let v: Value = serde_json::from_slice(&data).expect("a JSON body");
    assert_eq!(v["id"], 23);
    assert_eq!(v["error"]["code"], wirestate_mcp::http::REQUEST_CANCELLED);
    assert_eq!(s.open_exchanges(), 0);
    // The session goes on.
    let ping = json!({"jsonrpc": "2.0", "id": 22, "method": "ping"});
    let (status, _, _) = full(post(ping).session(&id).send(&mut s, now));
    assert_eq!(status, StatusCode::OK);
}

/// A JSON-only client whose batch had every request cancelled gets an
/// array with an error for each request, as a batch is answered, not one
/// error object for the last one cancelled. A batch partly answered keeps
/// the answers it got (a cancelled request gets no entry).
#[test]
fn a_batch_cancelled_whole_is_answered_with_an_array() {
    let now = Instant::now();
    let mut s = server();
    // Batches are of 2025-03-26.
    let id = session_of(&mut s, now, "2025-03-26");
    let cancel = |n: u64| {
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": n}})
    };
    let (head, x) = open(
        post(json!([call(30), call(31)]))
            .session(&id)
            .header("accept", "application/json")
            .send(&mut s, now),
    );
    assert_eq!(head.headers["content-type"], "application/json");
    assert_eq!(call_events(&mut s).len(), 2);
    // Cancelled one POST at a time: the first leaves the body waiting.
    let (status, _, _) = full(post(cancel(30)).session(&id).send(&mut s, now));
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(drain(&mut s, x), (Vec::new(), false));
    let (status, _, _) = full(post(cancel(31)).session(&id).send(&mut s, now));
    assert_eq!(status, StatusCode::ACCEPTED);
    let (data, ended) = drain(&mut s, x);
    assert!(ended);
    let v: Value = serde_json::from_slice(&data).expect("a JSON body");
    let entries = v.as_array().expect("an array, as a batch is answered");
    let mut ids: Vec<Value> = entries.iter().map(|e| e["id"].clone()).collect();
    ids.sort_by_key(|i| i.as_u64());
    assert_eq!(ids, vec![json!(30), json!(31)]);
    for e in entries {
        assert_eq!(e["error"]["code"], wirestate_mcp::http::REQUEST_CANCELLED);
    }
    assert_eq!(s.open_exchanges(), 0);

    // Partly cancelled: the answer that came, alone in its array.
    let (_, y) = open(
        post(json!([call(32), call(33)]))
            .session(&id)
            .header("accept", "application/json")
            .send(&mut s, now),
    );
    let calls = call_events(&mut s);
    let (sid, rid) = calls
        .iter()
        .find(|(_, r)| *r == RequestId::from(32u64))
        .cloned()
        .expect("call 32");
    let _ = full(post(cancel(33)).session(&id).send(&mut s, now));
    s.session_for(&sid, &rid)
        .unwrap()
        .respond_call_tool(&rid, CallToolResult::text("ok"))
        .unwrap();
    let (data, ended) = drain(&mut s, y);
    assert!(ended);
    let v: Value = serde_json::from_slice(&data).expect("a JSON body");
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    assert_eq!(v[0]["id"], 32);
    assert_eq!(v[0]["result"]["content"][0]["text"], "ok");
    assert_eq!(s.open_exchanges(), 0);
}

#[test]
fn tool_call_streams_progress_then_the_answer() {
    let now = Instant::now();
    let mut s = server();
    let id = session(&mut s, now);
    // The head waits for the call's first message.
    let x = deferred(post(call(7)).session(&id).send(&mut s, now));
    assert_eq!(s.poll_ready(), None);
    assert!(s.poll_reply(x).is_none());
    assert_eq!(drain(&mut s, x), (Vec::new(), false));
    assert_eq!(s.open_exchanges(), 1);

    let calls = call_events(&mut s);
    assert_eq!(calls.len(), 1);
    let (sid, rid) = calls[0].clone();
    let session = s.session_for(&sid, &rid).unwrap();
    let token = wirestate_mcp::schema::ProgressToken::String("tok".into());
    session
        .notify_progress(&token, 1.0, Some(2.0), None)
        .unwrap();
    session
        .log(
            wirestate_mcp::schema::LoggingLevel::Info,
            None,
            json!("working"),
        )
        .unwrap();
    // Progress came first: the answer is a stream.
    assert_eq!(s.poll_ready(), Some(x));
    let (head, y) = open(s.poll_reply(x).expect("decided"));
    assert_eq!(y, x);
    assert!(s.poll_reply(x).is_none(), "the head is taken once");
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.headers["content-type"], "text/event-stream");
    assert_eq!(head.headers["mcp-session-id"], id.as_str());
    let (data, ended) = drain(&mut s, x);
    assert!(!ended);
    let events = sse_events(&data);
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].data, "", "the priming event");
    assert_eq!(events[0].retry, Some(1000));
    assert!(events.iter().all(|e| e.id.is_some()), "resumable");
    let progress: Value = serde_json::from_str(&events[1].data).unwrap();
    assert_eq!(progress["method"], "notifications/progress");
    let log: Value = serde_json::from_str(&events[2].data).unwrap();
    assert_eq!(log["method"], "notifications/message");

    s.session_for(&sid, &rid)
        .unwrap()
        .respond_call_tool(&rid, CallToolResult::text("done"))
        .unwrap();
    assert_eq!(s.poll_ready(), Some(x));
    let (data, ended) = drain(&mut s, x);
    assert!(ended);
    let events = sse_events(&data);
    let answer: Value = serde_json::from_str(&events[0].data).unwrap();
    assert_eq!(answer["id"], 7);
    assert_eq!(answer["result"]["content"][0]["text"], "done");
    assert_eq!(s.open_exchanges(), 0);
}

/// A loop that writes a body only when `poll_ready` names its exchange (a
/// readiness loop, as examples/examples/mcp_http_loop.rs could be) must
/// hear of a stream decided later: its priming event and the message that
/// decided it wait in it. Before, `poll_ready` named the exchange for the
/// head only, so those waited until the next message (forever, when that
/// message was a request to the client that the client never saw).
#[test]
fn a_stream_decided_later_is_ready_for_its_first_events() {
    let now = Instant::now();
    let mut s = server();
    let id = session(&mut s, now);
    let x = deferred(post(call(7)).session(&id).send(&mut s, now));
    let (sid, rid) = call_events(&mut s)[0].clone();
    let token = wirestate_mcp::schema::ProgressToken::String("tok".into());
    s.session_for(&sid, &rid)
        .unwrap()
        .notify_progress(&token, 1.0, None, None)
        .unwrap();
    assert_eq!(s.poll_ready(), Some(x));
    let (head, _) = open(s.poll_reply(x).expect("decided"));
    assert_eq!(head.headers["content-type"], "text/event-stream");
    assert_eq!(
        s.poll_ready(),
        Some(x),
        "the priming event and the progress wait in the body"
    );
    let (data, ended) = drain(&mut s, x);
    assert!(!ended);
    assert_eq!(sse_events(&data).len(), 2);
    assert_eq!(s.poll_ready(), None, "nothing more until the next message");
}

#[test]
fn json_only_clients_wait_for_a_deferred_answer() {
    let now = Instant::now();
    let mut s = server();
    let id = session(&mut s, now);
    let (head, x) = open(
        post(call(8))
            .session(&id)
            .header("accept", "application/json")
            .send(&mut s, now),
    );
    assert_eq!(head.headers["content-type"], "application/json");
    assert_eq!(drain(&mut s, x), (Vec::new(), false));
    let (sid, rid) = call_events(&mut s).remove(0);
    s.session_for(&sid, &rid)
        .unwrap()
        .respond_call_tool(&rid, CallToolResult::text("ok"))
        .unwrap();
    assert_eq!(s.poll_ready(), Some(x));
    let (data, ended) = drain(&mut s, x);
    assert!(ended);
    let v: Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(v["id"], 8);

    // A client that accepts only SSE gets even an immediate answer as SSE.
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    let (head, x) = open(
        post(ping)
            .session(&id)
            .header("accept", "text/event-stream")
            .send(&mut s, now),
    );
    assert_eq!(head.headers["content-type"], "text/event-stream");
    let (data, ended) = drain(&mut s, x);
    assert!(ended);
    assert_eq!(sse_events(&data).len(), 2);
}

#[test]
fn standalone_stream_carries_unrelated_messages() {
    let now = Instant::now();
    let mut s = server();
    let id = session(&mut s, now);
    let (head, x) = open(get().session(&id).send(&mut s, now));
    assert_eq!(head.status, StatusCode::OK);
    let (data, _) = drain(&mut s, x);
    assert_eq!(sse_events(&data)[0].data, "");
    // A catalogue change is announced there.
    s.add_tool(Tool::new("new", Map::new()));
    assert_eq!(s.poll_ready(), Some(x));
    let (data, ended) = drain(&mut s, x);
    assert!(!ended);
    let v: Value = serde_json::from_str(&sse_events(&data)[0].data).unwrap();
    assert_eq!(v["method"], "notifications/tools/list_changed");
    // A server request (ping) goes there too; its answer comes by POST.
    let rid = s.session_mut(&id).unwrap().ping(now).unwrap();
    let (data, _) = drain(&mut s, x);
    let v: Value = serde_json::from_str(&sse_events(&data)[0].data).unwrap();
    assert_eq!(v["method"], "ping");
    let answer = json!({"jsonrpc": "2.0", "id": v["id"], "result": {}});
    let (status, _, _) = full(post(answer).session(&id).send(&mut s, now));
    assert_eq!(status, StatusCode::ACCEPTED);
    let pong = std::iter::from_fn(|| s.poll_event()).any(|e| {
        matches!(e, HttpEvent::Session { event: ServerEvent::Pong { request }, .. } if request == rid)
    });
    assert!(pong);

    // A second GET takes the stream over; the first ends.
    let (_, y) = open(get().session(&id).send(&mut s, now));
    assert!(drain(&mut s, x).1);
    assert!(!drain(&mut s, y).1);
}

#[test]
fn a_closed_post_stream_resumes_with_last_event_id() {
    let now = Instant::now();
    let mut s = server();
    let id = session(&mut s, now);
    let x = deferred(post(call(1)).session(&id).send(&mut s, now));
    let (sid, rid, events) = stream_by_logging(&mut s, x);
    let last = events[1].id.clone().unwrap();

    // The server closes the response mid-call (SEP-1699 polling).
    assert!(s.close_stream(&sid, &rid));
    assert_eq!(drain(&mut s, x), (Vec::new(), true));
    s.session_for(&sid, &rid)
        .unwrap()
        .respond_call_tool(&rid, CallToolResult::text("later"))
        .unwrap();

    let (_, y) = open(
        get()
            .session(&id)
            .header("last-event-id", last.as_str())
            .send(&mut s, now),
    );
    let (data, ended) = drain(&mut s, y);
    assert!(ended, "the stream ends after the answer");
    let events = sse_events(&data);
    assert_eq!(events.len(), 1);
    let v: Value = serde_json::from_str(&events[0].data).unwrap();
    assert_eq!(v["result"]["content"][0]["text"], "later");

    // A network cut: events queue up and replay from the last id seen.
    let x = deferred(post(call(2)).session(&id).send(&mut s, now));
    let (sid, rid, events) = stream_by_logging(&mut s, x);
    let last = events[1].id.clone().unwrap();
    s.handle_disconnect(now, x);
    let session = s.session_for(&sid, &rid).unwrap();
    session
        .log(wirestate_mcp::schema::LoggingLevel::Info, None, json!("a"))
        .unwrap();
    session
        .log(wirestate_mcp::schema::LoggingLevel::Info, None, json!("b"))
        .unwrap();
    let (_, y) = open(
        get()
            .session(&id)
            .header("last-event-id", last.as_str())
            .send(&mut s, now),
    );
    let (data, ended) = drain(&mut s, y);
    assert!(!ended);
    let events = sse_events(&data);
    assert_eq!(events.len(), 2);
    // Resuming from the first of them replays only the second.
    let (_, z) = open(
        get()
            .session(&id)
            .header("last-event-id", events[0].id.clone().unwrap())
            .send(&mut s, now),
    );
    assert!(drain(&mut s, y).1, "taken over");
    let (data, _) = drain(&mut s, z);
    assert_eq!(sse_events(&data).len(), 1);

    // An unknown event id opens the standalone stream instead.
    let (_, w) = open(
        get()
            .session(&id)
            .header("last-event-id", "99-3")
            .send(&mut s, now),
    );
    let (data, ended) = drain(&mut s, w);
    assert!(!ended);
    assert_eq!(sse_events(&data)[0].data, "");
}

#[test]
fn replay_buffer_is_bounded() {
    let now = Instant::now();
    let mut config = HttpConfig::default();
    config.replay_events = 4;
    let mut s = server_with(config);
    let id = session(&mut s, now);
    let x = deferred(post(call(1)).session(&id).send(&mut s, now));
    let (sid, rid, events) = stream_by_logging(&mut s, x);
    let last = events[1].id.clone().unwrap();
    s.handle_disconnect(now, x);
    for i in 0..20 {
        s.session_for(&sid, &rid)
            .unwrap()
            .log(wirestate_mcp::schema::LoggingLevel::Info, None, json!(i))
            .unwrap();
    }
    let (_, y) = open(
        get()
            .session(&id)
            .header("last-event-id", last.as_str())
            .send(&mut s, now),
    );
    let (data, _) = drain(&mut s, y);
    let events = sse_events(&data);
    assert_eq!(events.len(), 4, "only the newest four were kept");
    let v: Value = serde_json::from_str(&events[3].data).unwrap();
    assert_eq!(v["params"]["data"], 19);
}

/// Found by the `mcp_http` fuzz target: every GET that takes the
/// standalone stream over adds a priming event, and priming events were
/// kept past [`HttpConfig::replay_events`], so a client reconnecting in a
/// loop grew the buffer without bound (and a resumption replayed them
/// all).
#[test]
fn takeovers_keep_the_replay_buffer_bounded() {
    let now = Instant::now();
    let mut config = HttpConfig::default();
    config.replay_events = 2;
    let mut s = server_with(config);
    let id = session(&mut s, now);
    let mut first = None;
    for _ in 0..50 {
        let (_, x) = open(get().session(&id).send(&mut s, now));
        let (data, _) = drain(&mut s, x);
        let events = sse_events(&data);
        assert_eq!(events.len(), 1, "a new client gets a priming event");
        first.get_or_insert(events[0].id.clone().unwrap());
    }
    let (_, y) = open(
        get()
            .session(&id)
            .header("last-event-id", first.unwrap().as_str())
            .send(&mut s, now),
    );
    let (data, _) = drain(&mut s, y);
    assert_eq!(sse_events(&data).len(), 2, "only the newest two were kept");
}

#[test]
fn delete_ends_the_session() {
    let now = Instant::now();
    let mut s = server();
    let id = session(&mut s, now);
    let (_, x) = open(get().session(&id).send(&mut s, now));
    let mut del = get().session(&id);
    del.method = Method::DELETE;
    let (status, _, _) = full(del.send(&mut s, now));
    assert_eq!(status, StatusCode::OK);
    assert!(std::iter::from_fn(|| s.poll_event()).any(|e| matches!(
        e,
        HttpEvent::SessionClosed {
            reason: CloseReason::Deleted,
            ..
        }
    )));
    assert!(drain(&mut s, x).1, "its streams end");
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    assert_eq!(
        post(ping).session(&id).send(&mut s, now).status(),
        StatusCode::NOT_FOUND
    );
    let mut del = get().session(&id);
    del.method = Method::DELETE;
    assert_eq!(del.send(&mut s, now).status(), StatusCode::NOT_FOUND);
    let mut del = get();
    del.method = Method::DELETE;
    assert_eq!(del.send(&mut s, now).status(), StatusCode::BAD_REQUEST);
}

#[test]
fn idle_sessions_expire() {
    let now = Instant::now();
    let mut config = HttpConfig::default();
    config.idle_timeout = Duration::from_secs(60);
    let mut s = server_with(config);
    let a = session(&mut s, now);
    let b = session(&mut s, now + Duration::from_secs(30));
    while s.poll_event().is_some() {}
    assert_eq!(s.poll_timeout(), Some(now + Duration::from_secs(60)));
    s.handle_timeout(now + Duration::from_secs(60));
    let closed: Vec<_> = std::iter::from_fn(|| s.poll_event())
        .filter_map(|e| match e {
            HttpEvent::SessionClosed { session, reason } => Some((session, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(closed, vec![(a.clone(), CloseReason::Expired)]);
    assert!(s.poll_timeout() > Some(now + Duration::from_secs(60)));
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    assert_eq!(
        post(ping.clone()).session(&a).send(&mut s, now).status(),
        StatusCode::NOT_FOUND
    );
    // An open stream keeps a session alive.
    let (_, x) = open(
        get()
            .session(&b)
            .send(&mut s, now + Duration::from_secs(31)),
    );
    s.handle_timeout(now + Duration::from_secs(500));
    assert!(s.session(&b).is_some());
    s.handle_disconnect(now + Duration::from_secs(500), x);
    s.handle_timeout(now + Duration::from_secs(559));
    assert!(s.session(&b).is_some());
    s.handle_timeout(now + Duration::from_secs(560));
    assert!(s.session(&b).is_none());
}

#[test]
fn arbitrary_requests_never_panic() {
    let now = Instant::now();
    let mut s = server();
    let id = session(&mut s, now);
    let bodies = [
        "",
        "[]",
        "[1,2]",
        "null",
        "{}",
        "\"x\"",
        "{\"jsonrpc\":\"2.0\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}",
        "\u{0}\u{ff}",
    ];
    for method in [Method::GET, Method::POST, Method::DELETE, Method::HEAD] {
        for body in bodies {
            for with_session in [false, true] {
                let mut r = post(json!(null)).raw(body);
                r.method = method.clone();
                if with_session {
                    r = r.session(&id);
                }
                let reply = r.send(&mut s, now);
                if let Reply::Open { exchange, .. } = reply {
                    drain(&mut s, exchange);
                }
                while s.poll_event().is_some() {}
            }
        }
    }
}

#[test]
fn a_call_answered_first_gets_plain_json() {
    let now = Instant::now();
    let mut s = server();
    let id = session(&mut s, now);
    // Answered at once (ping, an unknown method): JSON right away.
    let ping = json!({"jsonrpc": "2.0", "id": 3, "method": "ping"});
    let (status, headers, body) = full(post(ping).session(&id).send(&mut s, now));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["mcp-session-id"], id.as_str());
    assert_eq!(body["id"], 3);
    let nope = json!({"jsonrpc": "2.0", "id": 4, "method": "no/such"});
    let (status, _, body) = full(post(nope).session(&id).send(&mut s, now));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["error"]["code"], -32601);

    // Answered later, with nothing said before: JSON once the answer comes.
    let x = deferred(post(call(5)).session(&id).send(&mut s, now));
    assert!(s.poll_reply(x).is_none());
    let (sid, rid) = call_events(&mut s).remove(0);
    s.session_for(&sid, &rid)
        .unwrap()
        .respond_call_tool(&rid, CallToolResult::text("done"))
        .unwrap();
    assert_eq!(s.poll_ready(), Some(x));
    let (status, headers, body) = full(s.poll_reply(x).expect("decided"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["mcp-session-id"], id.as_str());
    assert_eq!(body["id"], 5);
    assert_eq!(body["result"]["content"][0]["text"], "done");
    assert!(s.poll_reply(x).is_none(), "taken once");
    assert_eq!(s.poll_ready(), None);
    assert_eq!(s.open_exchanges(), 0);
    assert_eq!(drain(&mut s, x), (Vec::new(), true));
}

#[test]
fn a_request_to_the_client_first_opens_the_stream() {
    let now = Instant::now();
    let mut s = server();
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {"sampling": {}},
        "clientInfo": {"name": "t", "version": "0"}}});
    let (_, headers, _) = full(post(init).send(&mut s, now));
    let id = SessionId::from(headers["mcp-session-id"].to_str().unwrap());
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    full(post(note).session(&id).send(&mut s, now));
    let x = deferred(post(call(6)).session(&id).send(&mut s, now));
    let (sid, rid) = call_events(&mut s).remove(0);
    // The server pings the client while serving the call: it belongs on
    // the call's stream, so the answer cannot be plain JSON any more.
    s.session_for(&sid, &rid).unwrap().ping(now).unwrap();
    let (head, _) = open(s.poll_reply(x).expect("decided"));
    assert_eq!(head.headers["content-type"], "text/event-stream");
    let (data, ended) = drain(&mut s, x);
    assert!(!ended);
    let events = sse_events(&data);
    assert_eq!(events.len(), 2);
    let v: Value = serde_json::from_str(&events[1].data).unwrap();
    assert_eq!(v["method"], "ping");
    s.session_for(&sid, &rid)
        .unwrap()
        .respond_call_tool(&rid, CallToolResult::text("ok"))
        .unwrap();
    let (data, ended) = drain(&mut s, x);
    assert!(ended);
    let v: Value = serde_json::from_str(&sse_events(&data)[0].data).unwrap();
    assert_eq!(v["id"], 6);
}

#[test]
fn batches_json_only_and_notifications_keep_their_answers() {
    let now = Instant::now();
    let mut s = server();
    // Batches are of 2025-03-26.
    let id = session_of(&mut s, now, "2025-03-26");
    // A batch, even of one request, opens its stream at once.
    let (head, x) = open(post(json!([call(9)])).session(&id).send(&mut s, now));
    assert_eq!(head.headers["content-type"], "text/event-stream");
    assert_eq!(sse_events(&drain(&mut s, x).0).len(), 1, "priming");
    // Notifications only: 202.
    let note = json!({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"});
    let (status, _, body) = full(post(note).session(&id).send(&mut s, now));
    assert_eq!((status, body), (StatusCode::ACCEPTED, Value::Null));

    // json_only: a JSON head at once, and progress goes elsewhere.
    let mut config = HttpConfig::default();
    config.json_only = true;
    let mut s = server_with(config);
    let id = session(&mut s, now);
    let (head, x) = open(post(call(10)).session(&id).send(&mut s, now));
    assert_eq!(head.headers["content-type"], "application/json");
    let (sid, rid) = call_events(&mut s).remove(0);
    let token = wirestate_mcp::schema::ProgressToken::String("tok".into());
    s.session_for(&sid, &rid)
        .unwrap()
        .notify_progress(&token, 1.0, None, None)
        .unwrap();
    assert_eq!(drain(&mut s, x), (Vec::new(), false));
    s.session_for(&sid, &rid)
        .unwrap()
        .respond_call_tool(&rid, CallToolResult::text("ok"))
        .unwrap();
    let (data, ended) = drain(&mut s, x);
    assert!(ended);
    let v: Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(v["id"], 10);
}

#[test]
fn an_undecided_answer_ends_with_its_session_or_client() {
    let now = Instant::now();
    let mut s = server();
    let id = session(&mut s, now);
    // The client hangs up: the late answer goes nowhere.
    let x = deferred(post(call(11)).session(&id).send(&mut s, now));
    let (sid, rid) = call_events(&mut s).remove(0);
    s.handle_disconnect(now, x);
    assert_eq!(s.open_exchanges(), 0);
    s.session_for(&sid, &rid)
        .unwrap()
        .respond_call_tool(&rid, CallToolResult::text("late"))
        .unwrap();
    assert!(s.poll_reply(x).is_none());
    assert_eq!(s.poll_ready(), None);

    // DELETE while a call waits: the waiting client learns of it (404).
    let y = deferred(post(call(12)).session(&id).send(&mut s, now));
    let delete = Req {
        method: Method::DELETE,
        headers: vec![("host", "localhost".into())],
        body: Bytes::new(),
    };
    let (status, _, _) = full(delete.session(&id).send(&mut s, now));
    assert_eq!(status, StatusCode::OK);
    assert!(std::iter::from_fn(|| s.poll_ready()).any(|r| r == y));
    let (status, _, _) = full(s.poll_reply(y).expect("decided"));
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(s.open_exchanges(), 0);
}

#[test]
fn closing_an_undecided_answer_makes_it_a_resumable_stream() {
    let now = Instant::now();
    let mut s = server();
    let id = session(&mut s, now);
    let x = deferred(post(call(13)).session(&id).send(&mut s, now));
    let (sid, rid) = call_events(&mut s).remove(0);
    assert!(s.close_stream(&sid, &rid));
    let (head, _) = open(s.poll_reply(x).expect("decided"));
    assert_eq!(head.headers["content-type"], "text/event-stream");
    let (data, ended) = drain(&mut s, x);
    assert!(ended, "closed after the priming event");
    let events = sse_events(&data);
    assert_eq!(events.len(), 1);
    let last = events[0].id.clone().unwrap();
    s.session_for(&sid, &rid)
        .unwrap()
        .respond_call_tool(&rid, CallToolResult::text("polled"))
        .unwrap();
    let (_, y) = open(
        get()
            .session(&id)
            .header("last-event-id", last.as_str())
            .send(&mut s, now),
    );
    let (data, ended) = drain(&mut s, y);
    assert!(ended);
    let v: Value = serde_json::from_str(&sse_events(&data)[0].data).unwrap();
    assert_eq!(v["result"]["content"][0]["text"], "polled");
}

#[test]
fn a_request_id_in_flight_is_refused_not_cross_routed() {
    // Found by the mcp_http fuzz target: two POSTs in flight with the same
    // request id sent one POST's answer down the other's response.
    let now = Instant::now();
    let mut s = server();
    let id = session(&mut s, now);
    let x = deferred(post(call(7)).session(&id).send(&mut s, now));
    let again = json!([{"jsonrpc": "2.0", "id": 7, "method": "ping"}]);
    let (status, _, body) = full(post(again).session(&id).send(&mut s, now));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], -32600);
    // Twice in one batch: refused too.
    let twice = json!([
        {"jsonrpc": "2.0", "id": 8, "method": "ping"},
        {"jsonrpc": "2.0", "id": 8, "method": "ping"}
    ]);
    let (status, _, body) = full(post(twice).session(&id).send(&mut s, now));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], -32600);
    // The first call still gets its own answer, and the id is free after.
    let (sid, rid) = call_events(&mut s).remove(0);
    s.session_for(&sid, &rid)
        .unwrap()
        .respond_call_tool(&rid, CallToolResult::text("done"))
        .unwrap();
    let (status, _, body) = full(s.poll_reply(x).expect("decided"));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], 7);
    let ping = json!({"jsonrpc": "2.0", "id": 7, "method": "ping"});
    let (status, _, body) = full(post(ping).session(&id).send(&mut s, now));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], 7);
}
