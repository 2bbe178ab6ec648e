//! The 2024-11-05 HTTP+SSE transport of `wirestate-mcp`
//! ([`wirestate_mcp::http::legacy`]), both sides.
//!
//! # Input layout
//!
//! ```text
//! [split: u8] [mode: u8] [bytes: the rest]
//! ```
//!
//! * **Client**: the bytes are the stream a [`LegacyClient`] reads, fed
//!   whole and in pieces of `1 + split % 16` bytes: the events (endpoint,
//!   messages, errors) must be the same, an endpoint must be on the
//!   stream's origin (scheme and authority), there is at most one, and
//!   messages come only after it.
//! * **Server**: an [`HttpServer`] serving the transport (mode bit 0: a
//!   64-byte body limit; bit 1: CORS for any origin, and the POST carries
//!   an `Origin`) opens a stream, then the bytes are POSTed to its
//!   endpoint: the status is 202, 400, 413 or 503, and the stream, read
//!   with [`SseDecoder`], holds the endpoint event and then only `message`
//!   events whose data is JSON (keep-alive comments aside), with nothing
//!   left over; with bit 2 the client goes away and the endpoint is 404
//!   after.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use wirestate_codec::SseDecoder;
use wirestate_http1::cors::CorsPolicy;
use wirestate_mcp::http::client::ClientEndpoint;
use wirestate_mcp::http::legacy::{LegacyClient, LegacyError, LegacyEvent, LegacySse};
use wirestate_mcp::http::{Chunk, ExchangeId, HttpServer, Reply};
use wirestate_mcp::{Config, HttpConfig};

const STREAM: &str = "http://127.0.0.1:8000/a/sse";

/// The legacy transport target.
pub fn mcp_legacy(data: &[u8]) {
    let [split, mode, bytes @ ..] = data else {
        return;
    };
    client(*split, bytes);
    server(*mode, bytes);
}

/// What a client run saw, comparable across splits.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Endpoint(String),
    Message(Bytes),
    Error(String),
}

fn client(split: u8, bytes: &[u8]) {
    let run = |piece: usize| {
        let Ok(endpoint) = ClientEndpoint::parse(STREAM) else {
            unreachable!("a valid URL");
        };
        let mut c = LegacyClient::new(&endpoint);
        let mut out = Vec::new();
        let mut take = |e: Option<Result<LegacyEvent, LegacyError>>| match e {
            Some(Ok(LegacyEvent::Endpoint(uri))) => {
                out.push(Seen::Endpoint(uri.to_string()));
                true
            }
            Some(Ok(LegacyEvent::Message(m))) => {
                out.push(Seen::Message(m));
                true
            }
            Some(Ok(other)) => panic!("unknown event {other:?}"),
            Some(Err(e)) => {
                out.push(Seen::Error(e.to_string()));
                true
            }
            None => false,
        };
        for chunk in bytes.chunks(piece.max(1)) {
            c.push(chunk);
            while take(c.next_event()) {}
        }
        while take(c.finish()) {}
        out
    };
    let whole = run(bytes.len().max(1));
    let pieces = run(1 + usize::from(split % 16));
    assert_eq!(whole, pieces, "split invariance");
    let endpoints: Vec<usize> = whole
        .iter()
        .enumerate()
        .filter_map(|(i, s)| matches!(s, Seen::Endpoint(_)).then_some(i))
        .collect();
    assert!(endpoints.len() <= 1, "one endpoint at most: {whole:?}");
    if let Some(Seen::Endpoint(uri)) = endpoints.first().map(|&i| &whole[i]) {
        assert!(
            uri.starts_with("http://127.0.0.1:8000/"),
            "an endpoint on another origin: {uri}"
        );
    }
    let first_message = whole.iter().position(|s| matches!(s, Seen::Message(_)));
    if let Some(m) = first_message {
        assert!(
            endpoints.first().is_some_and(|&e| e < m),
            "a message before the endpoint: {whole:?}"
        );
    }
}

fn drain(s: &mut HttpServer, x: ExchangeId) -> Vec<u8> {
    let mut data = Vec::new();
    while let Some(Chunk::Data(b)) = s.poll_chunk(x) {
        data.extend_from_slice(&b);
    }
    data
}

fn request(
    s: &mut HttpServer,
    now: Instant,
    method: Method,
    uri: &str,
    origin: bool,
    body: Bytes,
) -> Reply {
    let mut b = Request::builder()
        .method(method)
        .uri(uri)
        .header("host", "127.0.0.1:8000")
        .header("accept", "text/event-stream")
        .header("content-type", "application/json");
    if origin {
        b = b.header("origin", "https://page.example");
    }
    let Ok(req) = b.body(()) else {
        unreachable!("a valid request");
    };
    let (parts, ()) = req.into_parts();
    s.handle_request(now, &parts, body)
}

fn server(mode: u8, bytes: &[u8]) {
    let mut c = HttpConfig::new(Config::default());
    c.legacy_sse = Some(LegacySse::new());
    if mode & 1 != 0 {
        c.max_body = 64;
    }
    let cors = mode & 2 != 0;
    if cors {
        c.cors = Some(CorsPolicy::any_origin());
    }
    let mut n = 0u8;
    let mut s = HttpServer::new(c, move |buf: &mut [u8]| {
        n = n.wrapping_add(1);
        buf.fill(n);
    });
    let now = Instant::now();
    let Reply::Open { exchange, .. } =
        request(&mut s, now, Method::GET, "/sse", cors, Bytes::new())
    else {
        panic!("no stream");
    };
    let mut stream = drain(&mut s, exchange);
    let text = String::from_utf8_lossy(&stream).into_owned();
    let endpoint = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap_or_default()
        .to_owned();
    assert!(endpoint.starts_with("/messages?sessionId="), "{text}");
    let reply = request(
        &mut s,
        now,
        Method::POST,
        &endpoint,
        cors,
        Bytes::copy_from_slice(bytes),
    );
    let status = reply.status();
    assert!(
        [
            StatusCode::ACCEPTED,
            StatusCode::BAD_REQUEST,
            StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::SERVICE_UNAVAILABLE
        ]
        .contains(&status),
        "POST answered {status}"
    );
    if let Reply::Full(r) = &reply
        && cors
    {
        assert!(r.headers().contains_key("access-control-allow-origin"));
    }
    // Answers the application never gives are not waited for: the
    // session's own answers (errors, ping, lists) and keep-alives.
    s.handle_timeout(now + Duration::from_secs(20));
    stream.extend(drain(&mut s, exchange));
    let mut dec = SseDecoder::new();
    dec.push(&stream);
    let mut events = Vec::new();
    while let Some(e) = dec.next_event() {
        events.push(e.unwrap_or_else(|e| panic!("stream does not parse: {e}")));
    }
    assert_eq!(dec.buffered(), 0, "an unfinished event");
    assert_eq!(events.first().map(|e| e.event_type()), Some("endpoint"));
    for e in &events[1..] {
        assert_eq!(e.event_type(), "message");
        assert!(
            serde_json::from_str::<serde_json::Value>(&e.data).is_ok(),
            "not JSON: {:?}",
            e.data
        );
    }
    if mode & 4 != 0 {
        s.handle_disconnect(now, exchange);
        let again = request(&mut s, now, Method::POST, &endpoint, cors, Bytes::new());
        assert_eq!(again.status(), StatusCode::NOT_FOUND);
        assert_eq!(s.open_exchanges(), 0);
    }
}

/// The hand-made seeds of `mcp_legacy`.
pub fn mcp_legacy_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let with = |split: u8, mode: u8, body: &str| {
        let mut v = vec![split, mode];
        v.extend_from_slice(body.as_bytes());
        v
    };
    vec![
        (
            "initialize",
            with(
                3,
                0,
                r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"f","version":"0"}}}"#,
            ),
        ),
        (
            "batch",
            with(
                0,
                2,
                r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"notifications/initialized"}]"#,
            ),
        ),
        (
            "stream",
            with(
                7,
                5,
                ": hi\nevent: endpoint\ndata: /messages?sessionId=1\n\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n",
            ),
        ),
        (
            "cross-origin",
            with(
                1,
                1,
                "event: endpoint\r\ndata: http://evil.example/m\r\n\r\ndata: {}\r\n\r\n",
            ),
        ),
        ("garbage", with(15, 7, "{nope\n\n\rdata")),
    ]
}
