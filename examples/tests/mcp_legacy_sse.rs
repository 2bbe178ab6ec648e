//! The 2024-11-05 HTTP+SSE transport end to end, on 127.0.0.1: `wirestate
//! serve` on each runtime (tokio, smol, blocking) serves it at `/sse`, and
//! our clients on each runtime (rt's `McpClient` on tokio and smol, the
//! blocking one) reach it through the specification's fallback — the
//! `/sse` URL given as if it were a Streamable HTTP endpoint, the
//! `initialize` POST refused with 405, then the stream — or directly
//! (`legacy_sse`). Every client × server pair: initialize (the
//! `initialize` era), tools/list, a call with its progress notification
//! on the stream, -32602 for an unknown tool, read, close; and the session
//! is gone on the server once the stream is.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::Serve;
use wirestate_mcp::ClientEvent;

fn args(v: Value) -> Option<serde_json::Map<String, Value>> {
    v.as_object().cloned()
}

fn rt_config() -> wirestate_rt::mcp_client::McpClientConfig {
    let mut c = wirestate_rt::mcp_client::McpClientConfig::default();
    c.session.jsonrpc.request_timeout = Some(Duration::from_secs(10));
    c
}

async fn rt_scenario<R: wirestate_rt::Runtime>(
    rt: R,
    client: wirestate_rt::mcp_client::McpClient<R>,
    label: &str,
) {
    use wirestate_rt::mcp_client::McpClientError;
    let info = client.server_info().expect("initialized");
    assert_eq!(info.server_info.name, "wirestate-demo", "{label}");
    assert_eq!(client.protocol_version(), Some("2025-11-25"), "{label}");
    let mut events = client.events().expect("the event stream");
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.iter().any(|t| t.name == "echo"), "{label}");
    let r = client
        .call_tool("echo", args(json!({"text": "héllo"})))
        .await
        .unwrap();
    assert_eq!(
        r.structured_content,
        Some(json!({"text": "héllo", "length": 5})),
        "{label}"
    );
    match client.call_tool("missing", None).await {
        Err(McpClientError::Rpc(e)) => assert_eq!(e.code.code(), -32602, "{label}"),
        other => panic!("{label}: unknown tool gave {other:?}"),
    }
    let read = client.read_resource("demo://greeting").await.unwrap();
    assert!(
        serde_json::to_string(&read).unwrap().contains("sans-IO"),
        "{label}"
    );
    // The progress notification of echo came on the stream.
    let deadline = rt.now() + Duration::from_secs(5);
    let progress = wirestate_rt::timeout(&rt, deadline, async {
        loop {
            match events.next().await {
                Some(ClientEvent::Progress { params, .. }) => return Some(params),
                Some(_) => {}
                None => return None,
            }
        }
    })
    .await
    .flatten();
    assert!(progress.is_some(), "{label}: no progress notification");
    client.close().await.unwrap();
}

fn tokio_client(url: &str, direct: bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let rt = wirestate_tokio::TokioRuntime;
        let client = if direct {
            wirestate_rt::mcp_client::McpClient::connect_legacy_sse(rt, url, rt_config()).await
        } else {
            wirestate_tokio::mcp::connect_http(url, rt_config()).await
        };
        rt_scenario(rt, client.unwrap(), &format!("tokio {url}")).await;
    });
}

fn smol_client(url: &str) {
    smol::block_on(async {
        let client = wirestate_smol::mcp::connect_http(url, rt_config())
            .await
            .unwrap();
        rt_scenario(
            wirestate_smol::SmolRuntime::new(),
            client,
            &format!("smol {url}"),
        )
        .await;
    });
}

fn blocking_client(url: &str, direct: bool) {
    use wirestate_blocking::mcp_client::{McpClient, McpClientConfig, McpClientError};
    let mut config = McpClientConfig::default();
    config.session.jsonrpc.request_timeout = Some(Duration::from_secs(10));
    let client = if direct {
        McpClient::legacy_sse(url, config)
    } else {
        McpClient::http(url, config)
    }
    .unwrap();
    assert_eq!(client.protocol_version(), Some("2025-11-25"));
    let tools = client.list_all_tools().unwrap();
    assert!(tools.iter().any(|t| t.name == "echo"));
    let r = client
        .call_tool("echo", args(json!({"text": "abc"})))
        .unwrap();
    assert_eq!(
        r.structured_content,
        Some(json!({"text": "abc", "length": 3}))
    );
    match client.call_tool("missing", None) {
        Err(McpClientError::Rpc(e)) => assert_eq!(e.code.code(), -32602),
        other => panic!("blocking {url}: unknown tool gave {other:?}"),
    }
    let progress = std::iter::from_fn(|| client.next_event(Duration::from_secs(2)))
        .any(|e| matches!(e, ClientEvent::Progress { .. }));
    assert!(progress, "blocking {url}: no progress notification");
    client.close().unwrap();
}

/// The number of legacy sessions the server still has, seen from outside:
/// a POST to a session's endpoint is 404 once it is gone.
fn session_status(addr: std::net::SocketAddr, endpoint: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    write!(
        s,
        "POST {endpoint} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn every_client_against_every_server() {
    for server in ["tokio", "smol", "blocking"] {
        let serve = Serve::start(&["--runtime", server]);
        let url = format!("http://{}/sse", serve.addr);
        tokio_client(&url, false);
        tokio_client(&url, true);
        smol_client(&url);
        blocking_client(&url, false);
        blocking_client(&url, true);
    }
}

/// `--era 2026-07-28` against a server of the 2024-11-05 HTTP+SSE
/// transport: its POST of `server/discover` is refused (405) like the
/// `initialize` of the other eras, and the client takes the same fallback
/// to the stream, then discovers over it; our server (like the Python
/// SDK's and fastmcp's SSE servers) speaks 2026-07-28 there too. Before,
/// a forced 2026 era failed at the refused POST and never tried the
/// stream. Every client runtime against the tokio server.
#[test]
fn a_forced_2026_era_takes_the_fallback_too() {
    use wirestate_mcp::Era;
    let serve = Serve::start(&["--runtime", "tokio"]);
    let url = format!("http://{}/sse", serve.addr);
    let check = |label: &str, version: Option<&str>, echoed: Option<Value>| {
        assert_eq!(version, Some("2026-07-28"), "{label}");
        assert_eq!(echoed, Some(json!({"text": "é", "length": 1})), "{label}");
    };
    let mut config = rt_config();
    config.session.era = Era::Stateless;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = wirestate_tokio::mcp::connect_http(&url, config.clone())
            .await
            .expect("tokio: forced 2026 era through the fallback");
        let r = client.call_tool("echo", args(json!({"text": "é"}))).await;
        check(
            "tokio",
            client.protocol_version(),
            r.unwrap().structured_content,
        );
        client.close().await.unwrap();
    });
    smol::block_on(async {
        let client = wirestate_smol::mcp::connect_http(&url, config.clone())
            .await
            .expect("smol: forced 2026 era through the fallback");
        let r = client.call_tool("echo", args(json!({"text": "é"}))).await;
        check(
            "smol",
            client.protocol_version(),
            r.unwrap().structured_content,
        );
        client.close().await.unwrap();
    });
    let mut config = wirestate_blocking::mcp_client::McpClientConfig::default();
    config.session.jsonrpc.request_timeout = Some(Duration::from_secs(10));
    config.session.era = Era::Stateless;
    let client = wirestate_blocking::mcp_client::McpClient::http(&url, config)
        .expect("blocking: forced 2026 era through the fallback");
    let r = client.call_tool("echo", args(json!({"text": "é"})));
    check(
        "blocking",
        client.protocol_version(),
        r.unwrap().structured_content,
    );
    client.close().unwrap();
}

#[test]
fn a_session_ends_with_its_stream() {
    use std::io::{BufRead, BufReader, Write};
    for server in ["tokio", "blocking"] {
        let serve = Serve::start(&["--runtime", server]);
        let addr = serve.addr;
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET /sse HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(s.try_clone().unwrap());
        let endpoint = loop {
            let mut line = String::new();
            assert!(
                reader.read_line(&mut line).unwrap() > 0,
                "{server}: no endpoint"
            );
            if let Some(e) = line.strip_prefix("data: /messages") {
                break format!("/messages{}", e.trim());
            }
        };
        assert_eq!(session_status(addr, &endpoint), 202, "{server}");
        drop(reader);
        s.shutdown(std::net::Shutdown::Both).unwrap();
        drop(s);
        // The server finds the stream gone when it next writes to it (the
        // answer to a ping): the session ends, and its endpoint is 404.
        let mut last = 0;
        for _ in 0..40 {
            last = session_status(addr, &endpoint);
            if last == 404 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(last, 404, "{server}");
    }
}

/// The server goes away: the stream ends, the session closes, and calls
/// fail at once instead of waiting for their deadlines; close returns.
#[test]
fn a_vanished_server_closes_the_session() {
    let mut serve = Serve::start(&["--runtime", "tokio"]);
    let url = format!("http://{}/sse", serve.addr);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = rt
        .block_on(wirestate_tokio::mcp::connect_http(&url, rt_config()))
        .unwrap();
    let blocking = {
        let mut config = wirestate_blocking::mcp_client::McpClientConfig::default();
        config.session.jsonrpc.request_timeout = Some(Duration::from_secs(30));
        wirestate_blocking::mcp_client::McpClient::http(&url, config).unwrap()
    };
    let _ = serve.child.kill();
    let _ = serve.child.wait();
    let started = std::time::Instant::now();
    rt.block_on(async {
        let mut result = client.list_tools(None).await;
        // The end of the stream may take a moment to be seen.
        for _ in 0..50 {
            if result.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            result = client.list_tools(None).await;
        }
        assert!(result.is_err(), "a call after the server left: {result:?}");
        client.close().await.unwrap();
    });
    let mut result = blocking.list_tools(None);
    for _ in 0..50 {
        if result.is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        result = blocking.list_tools(None);
    }
    assert!(result.is_err(), "blocking: a call after the server left");
    blocking.close().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// A server that takes a POST and never answers it: the rt client's POST
/// gives up after the session's request timeout (as the blocking client's
/// does), so close ends the transport and the stream is closed, instead
/// of the writer waiting on that POST for good with the stream (and the
/// server's session) kept open.
#[test]
fn a_post_never_answered_does_not_hold_the_stream_open() {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (closed_tx, closed_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match conn.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            if head.starts_with(b"GET ") {
                let event = "event: endpoint\ndata: /messages?sessionId=s1\n\n";
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                     transfer-encoding: chunked\r\n\r\n{:x}\r\n{event}\r\n",
                    event.len()
                );
                let closed = closed_tx.clone();
                std::thread::spawn(move || {
                    let mut sink = [0u8; 256];
                    while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
                    let _ = closed.send(());
                });
            } else {
                // A POST: read, never answered.
                held.push(conn);
            }
        }
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut config = wirestate_rt::mcp_client::McpClientConfig::default();
    config.session.jsonrpc.request_timeout = Some(Duration::from_millis(300));
    config.shutdown_timeout = Duration::from_millis(300);
    rt.block_on(async {
        let client = wirestate_rt::mcp_client::McpClient::legacy_sse(
            wirestate_tokio::TokioRuntime,
            &format!("http://{addr}/sse"),
            config,
        )
        .await
        .unwrap();
        assert!(client.initialize().await.is_err());
        let _ = client.close().await;
        // The runtime keeps running the spawned transport meanwhile.
        for _ in 0..50 {
            if closed_rx.try_recv().is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the stream is still open 5 s after close");
    });
}
