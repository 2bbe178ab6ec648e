//! `wirestate serve --mcp-cors ORIGIN` on every runtime, with raw HTTP on
//! 127.0.0.1: the MCP endpoint answers browser preflights (GET, POST,
//! DELETE and MCP's headers) for the allowed origin and refuses others,
//! its answers carry Access-Control-Allow-Origin and expose
//! Mcp-Session-Id, a foreign origin is still refused by the Origin check,
//! and with --grpc-web-cors beside it gRPC-Web's preflights keep their own
//! policy.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use support::Serve;

const APP: &str = "https://inspector.example";

/// One request on its own connection: (status, lowercased head).
fn exchange(addr: SocketAddr, head: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    write!(
        s,
        "{head}Host: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_ascii_lowercase();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let head = text.split("\r\n\r\n").next().unwrap_or("").to_owned();
    (status, head)
}

fn preflight(addr: SocketAddr, path: &str, origin: &str) -> (u16, String) {
    exchange(
        addr,
        &format!(
            "OPTIONS {path} HTTP/1.1\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type,mcp-session-id,mcp-protocol-version\r\n"
        ),
        "",
    )
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"page","version":"0"}}}"#;

fn initialize(addr: SocketAddr, origin: &str) -> (u16, String) {
    exchange(
        addr,
        &format!(
            "POST /mcp HTTP/1.1\r\nOrigin: {origin}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
        ),
        INIT,
    )
}

#[test]
fn mcp_cors_on_every_runtime() {
    for rt in ["tokio", "smol", "blocking"] {
        let serve = Serve::start(&[
            "--runtime",
            rt,
            "--mcp-cors",
            APP,
            "--grpc-web-cors",
            "https://grpc.example",
        ]);
        let addr = serve.addr;
        for path in ["/mcp", "/messages"] {
            let (status, head) = preflight(addr, path, APP);
            assert_eq!(status, 204, "{rt} {path}: {head}");
            assert!(
                head.contains(&format!("access-control-allow-origin: {APP}")),
                "{rt}: {head}"
            );
            assert!(
                head.contains("access-control-allow-methods: get, post, delete"),
                "{rt}: {head}"
            );
            assert!(head.contains("mcp-session-id"), "{rt}: {head}");
        }
        let (status, head) = preflight(addr, "/mcp", "https://evil.example");
        assert_eq!(status, 403, "{rt}: {head}");
        assert!(
            !head.contains("access-control-allow-origin"),
            "{rt}: {head}"
        );

        let (status, head) = initialize(addr, APP);
        assert_eq!(status, 200, "{rt}: {head}");
        assert!(
            head.contains(&format!("access-control-allow-origin: {APP}")),
            "{rt}: {head}"
        );
        assert!(
            head.contains("access-control-expose-headers: mcp-session-id"),
            "{rt}: {head}"
        );
        assert!(head.contains("mcp-session-id: "), "{rt}: {head}");
        let (status, head) = initialize(addr, "https://evil.example");
        assert_eq!(status, 403, "{rt}: {head}");

        // gRPC-Web keeps its own policy on its own paths.
        let (status, head) =
            preflight(addr, "/grpc.health.v1.Health/Check", "https://grpc.example");
        assert_eq!(status, 204, "{rt}: {head}");
        assert!(
            head.contains("access-control-allow-methods: post\r\n"),
            "{rt}: {head}"
        );
        let (status, _) = preflight(addr, "/grpc.health.v1.Health/Check", APP);
        assert_eq!(status, 403, "{rt}");
    }
}

#[test]
fn without_mcp_cors_no_cors_header() {
    let serve = Serve::start(&["--runtime", "tokio"]);
    let (status, head) = preflight(serve.addr, "/mcp", APP);
    assert_eq!(status, 403, "{head}");
    let (status, head) = initialize(serve.addr, "http://localhost:5173");
    assert_eq!(status, 200, "{head}");
    assert!(!head.contains("access-control-"), "{head}");
}
