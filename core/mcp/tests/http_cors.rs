//! CORS on the Streamable HTTP machine (`HttpConfig::cors`), without
//! sockets: preflights, the headers of every kind of answer (complete,
//! streamed, decided later), how the CORS origins relate to the
//! DNS-rebinding allow-list, and nothing of it when CORS is off.

use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use serde_json::{Map, Value, json};
use wirestate_http1::cors::CorsPolicy;
use wirestate_mcp::ServerEvent;
use wirestate_mcp::http::{HttpConfig, HttpEvent, HttpServer, Reply, SessionId};
use wirestate_mcp::schema::{CallToolResult, Tool};

const APP: &str = "https://inspector.example";

fn server(cors: Option<CorsPolicy>) -> HttpServer {
    let mut c = HttpConfig::default();
    c.cors = cors;
    let mut n = 0u8;
    let mut s = HttpServer::new(c, move |buf: &mut [u8]| {
        n = n.wrapping_add(1);
        buf.fill(n);
    });
    s.add_tool(Tool::new("slow", Map::new()));
    s
}

fn send(
    s: &mut HttpServer,
    method: Method,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> Reply {
    let mut b = Request::builder()
        .method(method)
        .uri("/mcp")
        .header("host", "127.0.0.1:8000");
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    let (parts, ()) = b.body(()).unwrap().into_parts();
    let body = body.map_or_else(Bytes::new, |v| Bytes::from(v.to_string()));
    s.handle_request(Instant::now(), &parts, body)
}

fn head(reply: &Reply) -> (StatusCode, http::HeaderMap) {
    match reply {
        Reply::Full(r) => (r.status(), r.headers().clone()),
        Reply::Open { response, .. } => (response.status(), response.headers().clone()),
        Reply::Deferred { .. } => panic!("a deferred head"),
    }
}

fn preflight(s: &mut HttpServer, origin: &str, method: &str) -> (StatusCode, http::HeaderMap) {
    head(&send(
        s,
        Method::OPTIONS,
        &[
            ("origin", origin),
            ("access-control-request-method", method),
            (
                "access-control-request-headers",
                "content-type,mcp-session-id,mcp-protocol-version",
            ),
        ],
        None,
    ))
}

fn init() -> Value {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "browser", "version": "0"}}})
}

const POST: [(&str, &str); 3] = [
    ("origin", APP),
    ("content-type", "application/json"),
    ("accept", "application/json, text/event-stream"),
];

#[test]
fn preflights_are_answered_for_allowed_origins_and_methods() {
    let mut s = server(Some(CorsPolicy::origins([APP])));
    for method in ["GET", "POST", "DELETE"] {
        let (status, h) = preflight(&mut s, APP, method);
        assert_eq!(status, StatusCode::NO_CONTENT, "{method}");
        assert_eq!(h["access-control-allow-origin"], APP);
        assert_eq!(h["access-control-allow-methods"], "GET, POST, DELETE");
        let allowed = h["access-control-allow-headers"].to_str().unwrap();
        for name in [
            "content-type",
            "mcp-session-id",
            "mcp-protocol-version",
            "last-event-id",
            "authorization",
            "mcp-method",
            "mcp-name",
        ] {
            assert!(allowed.split(", ").any(|a| a == name), "{name}: {allowed}");
        }
        assert_eq!(h["vary"], "origin");
    }
    let (status, h) = preflight(&mut s, APP, "PUT");
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!h.contains_key("access-control-allow-origin"));
    let (status, h) = preflight(&mut s, "https://evil.example", "POST");
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!h.contains_key("access-control-allow-origin"));
    // The Host allow-list still applies, preflights included.
    let mut b = Request::builder()
        .method(Method::OPTIONS)
        .uri("/mcp")
        .header("host", "rebound.example")
        .header("origin", APP)
        .header("access-control-request-method", "POST");
    b = b.header("x", "y");
    let (parts, ()) = b.body(()).unwrap().into_parts();
    let (status, _) = head(&s.handle_request(Instant::now(), &parts, Bytes::new()));
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
}

#[test]
fn answers_to_an_allowed_origin_carry_the_cors_headers() {
    let mut s = server(Some(CorsPolicy::origins([APP])));
    // Not a loopback origin, yet served: the CORS policy lets it in.
    let reply = send(&mut s, Method::POST, &POST, Some(init()));
    let (status, h) = head(&reply);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["access-control-allow-origin"], APP);
    assert_eq!(h["access-control-expose-headers"], "mcp-session-id");
    let sid = h["mcp-session-id"].to_str().unwrap().to_owned();
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let mut headers = POST.to_vec();
    headers.push(("mcp-session-id", &sid));
    let (status, h) = head(&send(&mut s, Method::POST, &headers, Some(note)));
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(h["access-control-allow-origin"], APP);

    // A call the application answers later: the deferred head, decided
    // by its answer, is decorated when it is taken.
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "slow", "arguments": {}}});
    let Reply::Deferred { exchange } = send(&mut s, Method::POST, &headers, Some(call)) else {
        panic!("expected a deferred head");
    };
    let (session, id) = std::iter::from_fn(|| s.poll_event())
        .find_map(|e| match e {
            HttpEvent::Session {
                session,
                event: ServerEvent::CallTool { id, .. },
            } => Some((session, id)),
            _ => None,
        })
        .unwrap();
    assert_eq!(session, SessionId::from(sid.as_str()));
    s.session_for(&session, &id)
        .unwrap()
        .respond_call_tool(&id, CallToolResult::text("done"))
        .unwrap();
    let reply = s.poll_reply(exchange).expect("decided");
    let (status, h) = head(&reply);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["access-control-allow-origin"], APP);

    // The standalone stream (GET) too, and the refusal of an unknown
    // session, which the page must be able to read.
    let get = [
        ("origin", APP),
        ("accept", "text/event-stream"),
        ("mcp-session-id", sid.as_str()),
    ];
    let (status, h) = head(&send(&mut s, Method::GET, &get, None));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["access-control-allow-origin"], APP);
    let unknown = [
        ("origin", APP),
        ("content-type", "application/json"),
        ("mcp-session-id", "00000000000000000000000000000000"),
    ];
    let ping = json!({"jsonrpc": "2.0", "id": 2, "method": "ping"});
    let (status, h) = head(&send(&mut s, Method::POST, &unknown, Some(ping)));
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(h["access-control-allow-origin"], APP);
}

#[test]
fn other_origins_are_still_refused_by_dns_rebinding_protection() {
    let mut s = server(Some(CorsPolicy::origins([APP])));
    let evil = [
        ("origin", "https://evil.example"),
        ("content-type", "application/json"),
    ];
    let (status, h) = head(&send(&mut s, Method::POST, &evil, Some(init())));
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!h.contains_key("access-control-allow-origin"));
    // Loopback origins stay served, without CORS headers (not let in by
    // the policy).
    let local = [
        ("origin", "http://localhost:5173"),
        ("content-type", "application/json"),
    ];
    let (status, h) = head(&send(&mut s, Method::POST, &local, Some(init())));
    assert_eq!(status, StatusCode::OK);
    assert!(!h.contains_key("access-control-allow-origin"));
}

#[test]
fn any_origin_and_no_policy() {
    let mut s = server(Some(CorsPolicy::any_origin()));
    let (status, h) = preflight(&mut s, "https://anything.example", "POST");
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(h["access-control-allow-origin"], "*");
    let mut post = POST.to_vec();
    post[0] = ("origin", "https://anything.example");
    let (status, h) = head(&send(&mut s, Method::POST, &post, Some(init())));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h["access-control-allow-origin"], "*");

    // Off (the default): no CORS header; a preflight from another origin
    // is refused by the Origin check (403), one from a loopback origin
    // is an OPTIONS request like any (405).
    let mut s = server(None);
    let (status, h) = preflight(&mut s, APP, "POST");
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!h.contains_key("access-control-allow-origin"));
    let (status, h) = preflight(&mut s, "http://localhost:5173", "POST");
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(!h.contains_key("access-control-allow-origin"));
    let (status, h) = head(&send(&mut s, Method::POST, &POST, Some(init())));
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!h.contains_key("access-control-allow-origin"));
}
