//! The 2024-11-05 HTTP+SSE transport, without sockets: the server paths
//! of [`HttpServer`] (stream, endpoint event, 202 POSTs, refusals, limits,
//! the session ending with its stream) and the client's [`LegacyClient`]
//! (endpoint resolution, split invariance of its stream decoding), and
//! the two machines talking to each other.

use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use wirestate_mcp::ServerEvent;
use wirestate_mcp::http::client::ClientEndpoint;
use wirestate_mcp::http::legacy::{LegacyClient, LegacyError, LegacyEvent, LegacySse, falls_back};
use wirestate_mcp::http::{
    Chunk, CloseReason, ExchangeId, HttpConfig, HttpError, HttpEvent, HttpServer, Reply, SessionId,
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

fn config() -> HttpConfig {
    let mut c = HttpConfig::default();
    c.legacy_sse = Some(LegacySse::new());
    c
}

fn server_with(config: HttpConfig) -> HttpServer {
    let mut s = HttpServer::new(config, counter());
    s.add_tool(Tool::new("slow", Map::new()));
    s
}

fn server() -> HttpServer {
    server_with(config())
}

fn request(
    s: &mut HttpServer,
    now: Instant,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "127.0.0.1:8000");
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    let (parts, ()) = b.body(()).unwrap().into_parts();
    s.handle_request(now, &parts, Bytes::from(body.to_owned()))
}

fn open_stream(s: &mut HttpServer, now: Instant) -> (ExchangeId, String) {
    let reply = request(
        s,
        now,
        Method::GET,
        "/sse",
        &[("accept", "text/event-stream")],
        "",
    );
    let Reply::Open { response, exchange } = reply else {
        panic!("expected a stream, got {reply:?}");
    };
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = sse(&drain(s, exchange).0);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].event_type(), "endpoint");
    (exchange, events[0].data.clone())
}

fn post(s: &mut HttpServer, now: Instant, endpoint: &str, body: &Value) -> StatusCode {
    let reply = request(
        s,
        now,
        Method::POST,
        endpoint,
        &[("content-type", "application/json")],
        &body.to_string(),
    );
    reply.status()
}

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

fn sse(data: &[u8]) -> Vec<wirestate_codec::SseEvent> {
    let mut d = wirestate_codec::SseDecoder::new();
    d.push(data);
    std::iter::from_fn(|| d.next_event())
        .map(Result::unwrap)
        .collect()
}

/// The JSON-RPC messages of `message` events.
fn messages(data: &[u8]) -> Vec<Value> {
    sse(data)
        .into_iter()
        .filter(|e| e.event_type() == "message" && !e.data.is_empty())
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect()
}

fn init() -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "old", "version": "0"}}})
}

fn initialized(s: &mut HttpServer, now: Instant) -> (ExchangeId, String) {
    let (x, endpoint) = open_stream(s, now);
    assert_eq!(post(s, now, &endpoint, &init()), StatusCode::ACCEPTED);
    let got = messages(&drain(s, x).0);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["id"], 0);
    assert_eq!(got[0]["result"]["protocolVersion"], "2024-11-05");
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(post(s, now, &endpoint, &note), StatusCode::ACCEPTED);
    (x, endpoint)
}

fn session_of(endpoint: &str) -> SessionId {
    SessionId::from(endpoint.split_once("sessionId=").unwrap().1)
}

#[test]
fn the_stream_starts_with_the_endpoint_and_carries_every_answer() {
    let now = Instant::now();
    let mut s = server();
    let (x, endpoint) = open_stream(&mut s, now);
    assert!(endpoint.starts_with("/messages?sessionId="), "{endpoint}");
    let id = session_of(&endpoint);
    assert_eq!(id.as_str().len(), 32);
    assert!(s.is_legacy_session(&id));
    assert!(std::iter::from_fn(|| s.poll_event()).any(|e| e
        == HttpEvent::SessionOpened {
            session: id.clone()
        }));
    assert_eq!(post(&mut s, now, &endpoint, &init()), StatusCode::ACCEPTED);
    let got = messages(&drain(&mut s, x).0);
    assert!(got[0]["result"]["serverInfo"].is_object());
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(post(&mut s, now, &endpoint, &note), StatusCode::ACCEPTED);

    // A list the session answers itself, then a call the application
    // answers later, with a log line first: all of it on the stream.
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    assert_eq!(post(&mut s, now, &endpoint, &list), StatusCode::ACCEPTED);
    let call = json!({"jsonrpc": "2.0", "id": "c", "method": "tools/call",
        "params": {"name": "slow", "arguments": {}}});
    assert_eq!(post(&mut s, now, &endpoint, &call), StatusCode::ACCEPTED);
    let (sid, rid) = std::iter::from_fn(|| s.poll_event())
        .find_map(|e| match e {
            HttpEvent::Session {
                session,
                event: ServerEvent::CallTool { id, .. },
            } => Some((session, id)),
            _ => None,
        })
        .expect("the call reaches the application");
    assert_eq!(sid, id);
    let session = s.session_for(&sid, &rid).unwrap();
    session
        .respond_call_tool(&rid, CallToolResult::text("done"))
        .unwrap();
    assert!(std::iter::from_fn(|| s.poll_ready()).any(|r| r == x));
    let (data, ended) = drain(&mut s, x);
    assert!(!ended, "the stream stays open");
    let got = messages(&data);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0]["id"], 1);
    assert_eq!(got[0]["result"]["tools"][0]["name"], "slow");
    assert_eq!(got[1]["id"], "c");
    assert_eq!(got[1]["result"]["content"][0]["text"], "done");
    // Tool list changes reach the stream too (nothing else could carry
    // them).
    s.add_tool(Tool::new("other", Map::new()));
    let got = messages(&drain(&mut s, x).0);
    assert_eq!(got[0]["method"], "notifications/tools/list_changed");
}

#[test]
fn the_python_spelling_of_the_session_parameter_is_accepted() {
    let now = Instant::now();
    let mut s = server();
    let (x, endpoint) = open_stream(&mut s, now);
    let other = format!("/messages?x=1&session_id={}", session_of(&endpoint));
    assert_eq!(post(&mut s, now, &other, &init()), StatusCode::ACCEPTED);
    assert_eq!(messages(&drain(&mut s, x).0)[0]["id"], 0);
}

fn refused(reply: Reply) -> (StatusCode, Value) {
    match reply {
        Reply::Full(r) => {
            let (parts, body) = r.into_parts();
            let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
            (parts.status, v)
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn refusals() {
    let now = Instant::now();
    let mut s = server();
    let (_, endpoint) = open_stream(&mut s, now);
    let json = [("content-type", "application/json")];
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    // The backwards-compatibility probe: POST initialize to the stream's
    // URL gets 405, which tells a new client to fall back.
    let (status, _) = refused(request(&mut s, now, Method::POST, "/sse", &json, &ping));
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(falls_back(status));
    let (status, _) = refused(request(&mut s, now, Method::GET, &endpoint, &[], ""));
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let accept_json = [("accept", "application/json")];
    let (status, _) = refused(request(&mut s, now, Method::GET, "/sse", &accept_json, ""));
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    let (status, _) = refused(request(
        &mut s,
        now,
        Method::POST,
        "/messages",
        &json,
        &ping,
    ));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let unknown = "/messages?sessionId=00000000000000000000000000000000";
    let (status, body) = refused(request(&mut s, now, Method::POST, unknown, &json, &ping));
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], -32001);
    let text = [("content-type", "text/plain")];
    let (status, _) = refused(request(&mut s, now, Method::POST, &endpoint, &text, &ping));
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, body) = refused(request(
        &mut s,
        now,
        Method::POST,
        &endpoint,
        &json,
        "{nope",
    ));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], -32700);
    let bad = json!({"jsonrpc": "1.0", "id": 1, "method": "ping"}).to_string();
    let (status, body) = refused(request(&mut s, now, Method::POST, &endpoint, &json, &bad));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], -32600);
    // DNS rebinding: the same allow-lists as the Streamable HTTP path.
    let evil = [
        ("accept", "text/event-stream"),
        ("origin", "http://evil.example"),
    ];
    let (status, _) = refused(request(&mut s, now, Method::GET, "/sse", &evil, ""));
    assert_eq!(status, StatusCode::FORBIDDEN);
    let evil = [
        ("content-type", "application/json"),
        ("origin", "http://evil.example"),
    ];
    let (status, _) = refused(request(&mut s, now, Method::POST, &endpoint, &evil, &ping));
    assert_eq!(status, StatusCode::FORBIDDEN);
    let mut b = Request::builder()
        .method(Method::GET)
        .uri("/sse")
        .header("host", "evil.example:8000");
    b = b.header("accept", "text/event-stream");
    let (parts, ()) = b.body(()).unwrap().into_parts();
    let (status, _) = refused(s.handle_request(now, &parts, Bytes::new()));
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
    // A legacy session is not a Streamable HTTP one.
    let id = session_of(&endpoint);
    let on_mcp = [
        ("content-type", "application/json"),
        ("mcp-session-id", id.as_str()),
    ];
    let (status, _) = refused(request(&mut s, now, Method::POST, "/mcp", &on_mcp, &ping));
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Every refusal is reported.
    let refusals = std::iter::from_fn(|| s.poll_event())
        .filter(|e| matches!(e, HttpEvent::Refused(_)))
        .count();
    assert_eq!(refusals, 12);
}

#[test]
fn off_by_default() {
    let now = Instant::now();
    let mut s = server_with(HttpConfig::default());
    let reply = request(
        &mut s,
        now,
        Method::GET,
        "/sse",
        &[("accept", "text/event-stream")],
        "",
    );
    // Served as a Streamable HTTP GET, which needs a session.
    assert_eq!(refused(reply).0, StatusCode::BAD_REQUEST);
}

#[test]
fn the_session_ends_with_its_stream() {
    let now = Instant::now();
    let mut s = server();
    let (x, endpoint) = initialized(&mut s, now);
    let id = session_of(&endpoint);
    while s.poll_event().is_some() {}
    s.handle_disconnect(now, x);
    assert!(!s.is_legacy_session(&id));
    assert!(std::iter::from_fn(|| s.poll_event()).any(|e| e
        == HttpEvent::SessionClosed {
            session: id.clone(),
            reason: CloseReason::StreamClosed,
        }));
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    assert_eq!(post(&mut s, now, &endpoint, &ping), StatusCode::NOT_FOUND);
    assert_eq!(s.open_exchanges(), 0);
}

#[test]
fn a_client_that_does_not_read_is_refused_beyond_the_queue() {
    let now = Instant::now();
    let mut c = config();
    let mut legacy = LegacySse::new();
    legacy.max_queue = 3;
    c.legacy_sse = Some(legacy);
    let mut s = server_with(c);
    let (x, endpoint) = initialized(&mut s, now);
    for id in 0..3 {
        let ping = json!({"jsonrpc": "2.0", "id": 10 + id, "method": "ping"});
        assert_eq!(post(&mut s, now, &endpoint, &ping), StatusCode::ACCEPTED);
    }
    let ping = json!({"jsonrpc": "2.0", "id": 20, "method": "ping"});
    let reply = request(
        &mut s,
        now,
        Method::POST,
        &endpoint,
        &[("content-type", "application/json")],
        &ping.to_string(),
    );
    assert_eq!(refused(reply).0, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        std::iter::from_fn(|| s.poll_event())
            .any(|e| e == HttpEvent::Refused(HttpError::QueueFull))
    );
    // Once it reads, it may post again.
    assert_eq!(messages(&drain(&mut s, x).0).len(), 3);
    assert_eq!(post(&mut s, now, &endpoint, &ping), StatusCode::ACCEPTED);
}

#[test]
fn idle_streams_get_keep_alive_comments() {
    let now = Instant::now();
    let mut s = server();
    let (x, endpoint) = initialized(&mut s, now);
    let every = LegacySse::new().keep_alive.unwrap();
    assert_eq!(s.poll_timeout(), Some(now + every));
    s.handle_timeout(now + every / 2);
    assert_eq!(drain(&mut s, x).0, b"");
    s.handle_timeout(now + every);
    assert!(std::iter::from_fn(|| s.poll_ready()).any(|r| r == x));
    let (data, ended) = drain(&mut s, x);
    assert_eq!(data, b": keep-alive\n");
    assert!(!ended);
    // No event for the client: the stream's messages are unchanged.
    assert!(messages(&data).is_empty());
    assert!(s.poll_timeout().is_some_and(|t| t > now + every));
    // Not while something else waits to be written.
    let ping = json!({"jsonrpc": "2.0", "id": 5, "method": "ping"});
    assert_eq!(post(&mut s, now, &endpoint, &ping), StatusCode::ACCEPTED);
    s.handle_timeout(now + every * 2);
    let got = drain(&mut s, x).0;
    assert_eq!(messages(&got).len(), 1);
    assert!(!String::from_utf8_lossy(&got).contains("keep-alive"));
    // A gone session is forgotten, its keep-alive timer at once.
    s.handle_disconnect(now, x);
    assert_eq!(s.poll_timeout(), None);
    s.handle_timeout(now + every * 3);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn sessions_are_bounded_with_the_streamable_ones() {
    let now = Instant::now();
    let mut c = config();
    c.max_sessions = 2;
    let mut s = server_with(c);
    let _a = open_stream(&mut s, now);
    let _b = open_stream(&mut s, now);
    // Both streams are open (busy): none can be evicted.
    let reply = request(
        &mut s,
        now,
        Method::GET,
        "/sse",
        &[("accept", "text/event-stream")],
        "",
    );
    assert_eq!(refused(reply).0, StatusCode::SERVICE_UNAVAILABLE);
}

// ---- client ----

fn client(url: &str) -> LegacyClient {
    LegacyClient::new(&ClientEndpoint::parse(url).unwrap())
}

fn endpoint_of(url: &str, data: &str) -> Result<LegacyEvent, LegacyError> {
    let mut c = client(url);
    c.push(format!("event: endpoint\ndata: {data}\n\n").as_bytes());
    c.next_event().unwrap()
}

#[test]
fn the_endpoint_resolves_against_the_stream_url() {
    let base = "http://127.0.0.1:8000/a/sse";
    let ok = |data: &str, want: &str| match endpoint_of(base, data) {
        Ok(LegacyEvent::Endpoint(uri)) => assert_eq!(uri.to_string(), want, "{data}"),
        other => panic!("{data}: {other:?}"),
    };
    ok(
        "/messages/?session_id=ab",
        "http://127.0.0.1:8000/messages/?session_id=ab",
    );
    ok(
        "messages?sessionId=1",
        "http://127.0.0.1:8000/a/messages?sessionId=1",
    );
    ok("?sessionId=1", "http://127.0.0.1:8000/a/sse?sessionId=1");
    ok("http://127.0.0.1:8000/m?s=1", "http://127.0.0.1:8000/m?s=1");
    for cross in [
        "http://evil.example/m",
        "//evil.example/m",
        "https://127.0.0.1:8000/m",
    ] {
        assert!(
            matches!(endpoint_of(base, cross), Err(LegacyError::CrossOrigin(_))),
            "{cross}"
        );
    }
    assert!(matches!(
        endpoint_of(base, "a b"),
        Err(LegacyError::BadEndpoint(_))
    ));
    // Anything else first is not this transport.
    let mut c = client(base);
    c.push(b"data: {}\n\n");
    assert!(matches!(c.next_event(), Some(Err(LegacyError::NoEndpoint))));
    // A stream that ends without one says so, once.
    let mut c = client(base);
    c.push(b": comment\n\n");
    assert_eq!(c.next_event(), None);
    assert!(matches!(c.finish(), Some(Err(LegacyError::NoEndpoint))));
    assert_eq!(c.finish(), None);
    assert!(c.post().is_none());
}

#[test]
fn fallback_statuses() {
    for (status, yes) in [
        (400, true),
        (404, true),
        (405, true),
        (401, false),
        (500, false),
    ] {
        assert_eq!(falls_back(StatusCode::from_u16(status).unwrap()), yes);
    }
    assert!(LegacyClient::check_post(StatusCode::ACCEPTED, b"").is_ok());
    assert!(LegacyClient::check_post(StatusCode::NOT_FOUND, b"gone").is_err());
    let mut h = http::HeaderMap::new();
    h.insert("content-type", "text/event-stream".parse().unwrap());
    assert!(LegacyClient::check_stream(StatusCode::OK, &h, b"").is_ok());
    assert!(LegacyClient::check_stream(StatusCode::NOT_FOUND, &h, b"").is_err());
    h.insert("content-type", "application/json".parse().unwrap());
    assert!(LegacyClient::check_stream(StatusCode::OK, &h, b"").is_err());
}

/// Our client machine against our server machine: the whole exchange.
#[test]
fn client_and_server_machines_talk() {
    let now = Instant::now();
    let mut s = server();
    let mut c = client("http://127.0.0.1:8000/sse");
    let get = c.get();
    assert_eq!(get.headers()["accept"], "text/event-stream");
    let (parts, ()) = get.into_parts();
    let mut head = parts;
    head.headers
        .insert("host", "127.0.0.1:8000".parse().unwrap());
    let Reply::Open { response, exchange } = s.handle_request(now, &head, Bytes::new()) else {
        panic!("no stream");
    };
    LegacyClient::check_stream(response.status(), response.headers(), b"").unwrap();
    c.push(&drain(&mut s, exchange).0);
    let Some(Ok(LegacyEvent::Endpoint(uri))) = c.next_event() else {
        panic!("no endpoint");
    };
    assert_eq!(uri.path(), "/messages");
    let (mut head, ()) = c.post().unwrap().into_parts();
    head.headers
        .insert("host", "127.0.0.1:8000".parse().unwrap());
    let reply = s.handle_request(now, &head, Bytes::from(init().to_string()));
    assert_eq!(reply.status(), StatusCode::ACCEPTED);
    c.push(&drain(&mut s, exchange).0);
    let Some(Ok(LegacyEvent::Message(m))) = c.next_event() else {
        panic!("no answer");
    };
    let v: Value = serde_json::from_slice(&m).unwrap();
    assert_eq!(v["result"]["protocolVersion"], "2024-11-05");
    assert_eq!(c.next_event(), None);
}

proptest! {
    /// Split invariance: however the stream's bytes are cut, the client
    /// gets the same endpoint and messages, in order.
    #[test]
    fn client_stream_split_invariance(
        cuts in proptest::collection::vec(0usize..400, 0..12),
        crlf in any::<bool>(),
    ) {
        let mut text = String::from(": hello\nevent: endpoint\ndata: /messages?sessionId=1\n\n");
        for i in 0..4 {
            text.push_str(&format!(
                "id: 0-{i}\ndata: {{\"jsonrpc\":\"2.0\",\"id\":{i},\"result\":{{}}}}\n\n"
            ));
        }
        text.push_str("event: other\ndata: x\n\n");
        let bytes = if crlf { text.replace('\n', "\r\n") } else { text };
        let bytes = bytes.as_bytes();
        let collect = |pieces: Vec<&[u8]>| {
            let mut c = client("http://h/sse");
            let mut out = Vec::new();
            for p in pieces {
                c.push(p);
                while let Some(e) = c.next_event() {
                    out.push(e);
                }
            }
            while let Some(e) = c.finish() {
                out.push(e);
            }
            out
        };
        let whole = collect(vec![bytes]);
        prop_assert_eq!(whole.len(), 5);
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut at = 0;
        for p in points {
            pieces.push(&bytes[at..p]);
            at = p;
        }
        pieces.push(&bytes[at..]);
        prop_assert_eq!(collect(pieces), whole.clone());
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(collect(bytewise), whole);
    }
}
