//! The blocking MCP client against a scripted stdio server (a shell script
//! answering by line), child reaping, and over Streamable HTTP: an SSE
//! answer resumed, and the SSE answer of a timed-out call closed.

use std::time::{Duration, Instant};

use wirestate_blocking::mcp_client::{McpClient, McpClientConfig, McpClientError};

/// Answers initialize (id 1) with 2025-06-18, reads
/// notifications/initialized, answers tools/list (id 2) with one page
/// and a cursor, then (id 3) the last page, then waits for EOF.
const SCRIPT: &str = r#"
read l
echo '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"sh","version":"1"}}}'
read l
read l
echo '{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"hi"}}'
echo '{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"a","inputSchema":{"type":"object"}}],"nextCursor":"p2"}}'
read l
echo '{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"b","inputSchema":{"type":"object"}}]}}'
cat >/dev/null
"#;

/// The scripted servers answer by line with fixed ids, as a server of
/// the `initialize` era; the client is told that era.
fn legacy() -> McpClientConfig {
    let mut c = McpClientConfig::default();
    c.session.era = wirestate_mcp::Era::Legacy;
    c
}

#[test]
fn scripted_stdio_server() {
    let client = McpClient::spawn("sh", &["-c", SCRIPT], legacy()).unwrap();
    assert_eq!(client.protocol_version(), Some("2025-06-18"));
    assert_eq!(client.server_info().unwrap().server_info.name, "sh");
    let names: Vec<String> = client
        .list_all_tools()
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["a", "b"]);
    let event = client.next_event(Duration::from_secs(5)).unwrap();
    assert!(
        matches!(&event, wirestate_mcp::ClientEvent::Log(l) if l.data == "hi"),
        "{event:?}"
    );
    let start = Instant::now();
    let status = client.close().unwrap().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[test]
fn silent_child_is_killed_and_reaped() {
    let mut config = McpClientConfig::default();
    config.shutdown_timeout = Duration::from_millis(200);
    config.session.jsonrpc.request_timeout = Some(Duration::from_millis(300));
    let start = Instant::now();
    let e = McpClient::spawn("sh", &["-c", "exec sleep 30"], config).unwrap_err();
    assert!(
        matches!(
            e,
            McpClientError::Session(wirestate_mcp::Error::InitializeTimedOut)
        ),
        "{e:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn unsupported_version_is_refused() {
    let script = r#"read l; echo '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"1999-01-01","capabilities":{},"serverInfo":{"name":"old","version":"0"}}}'; cat >/dev/null"#;
    let e = McpClient::spawn("sh", &["-c", script], legacy()).unwrap_err();
    assert!(
        matches!(&e, McpClientError::Session(wirestate_mcp::Error::UnsupportedVersion { version }) if version == "1999-01-01"),
        "{e:?}"
    );
}

/// A Streamable HTTP server on one thread that answers `tools/call` with an
/// SSE stream holding only an event id and `retry: 200`, closed before the
/// result (SEP-1699), and the result to a GET carrying `Last-Event-ID`.
/// Returns its address and the `(delay after the close, Last-Event-ID)`
/// of the resumption.
fn closing_sse_server() -> (
    std::net::SocketAddr,
    std::sync::mpsc::Receiver<(Duration, String)>,
) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut call_id, mut closed) = (String::from("null"), Instant::now());
        for stream in listener.incoming() {
            let Ok(mut out) = stream else { return };
            let mut reader = BufReader::new(out.try_clone().unwrap());
            let (mut head, mut line) = (Vec::new(), String::new());
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                head.push(line.trim_end().to_ascii_lowercase());
                line.clear();
            }
            let header = |name: &str| {
                head.iter()
                    .find_map(|h| h.strip_prefix(&format!("{name}: ")).map(str::to_owned))
            };
            let mut body = vec![0; header("content-length").map_or(0, |v| v.parse().unwrap())];
            reader.read_exact(&mut body).unwrap();
            let body = String::from_utf8(body).unwrap();
            let id = body
                .split("\"id\":")
                .nth(1)
                .and_then(|r| r.split([',', '}']).next())
                .unwrap_or("null")
                .to_owned();
            let sse =
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
            let reply = if let Some(last) = header("last-event-id") {
                let _ = tx.send((closed.elapsed(), last));
                format!(
                    "{sse}id: e2\ndata: {{\"jsonrpc\":\"2.0\",\"id\":{call_id},\"result\":{{\"content\":[{{\"type\":\"text\",\"text\":\"resumed\"}}]}}}}\n\n"
                )
            } else if body.contains("\"initialize\"") {
                let r = format!(
                    "{{\"jsonrpc\":\"2.0\",\"id\":{id},\"result\":{{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{{}},\"serverInfo\":{{\"name\":\"s\",\"version\":\"1\"}}}}}}"
                );
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{r}",
                    r.len()
                )
            } else if body.contains("\"tools/call\"") {
                call_id = id;
                closed = Instant::now();
                format!("{sse}id: e1\nretry: 200\ndata: \n\n")
            } else {
                "HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into()
            };
            let _ = out.write_all(reply.as_bytes());
        }
    });
    (addr, rx)
}

#[test]
fn sse_answer_resumed_after_the_servers_retry() {
    let (addr, resumed) = closing_sse_server();
    let mut config = McpClientConfig::default();
    config.session.jsonrpc.request_timeout = Some(Duration::from_secs(10));
    let client = McpClient::http(&format!("http://{addr}/"), config).unwrap();
    let start = Instant::now();
    let result = client.call_tool("t", None).unwrap();
    assert_eq!(result.content[0].as_text(), Some("resumed"));
    assert!(start.elapsed() < Duration::from_secs(5));
    let (delay, last) = resumed.recv().unwrap();
    assert_eq!(last, "e1");
    assert!(delay >= Duration::from_millis(200), "{delay:?}");
    let _ = client.close();
}

/// What the silent SSE server saw: for each `tools/call` of `hang`, when
/// the client closed its connection; the `notifications/cancelled` it
/// was sent.
#[derive(Debug, Default)]
struct Silent {
    hung: Vec<Option<Instant>>,
    cancelled: usize,
}

/// A Streamable HTTP server like one that does not end a request's SSE
/// answer after `notifications/cancelled` (the TypeScript SDK's
/// server-everything keeps it open): `tools/call` of `hang` gets a
/// chunked SSE head and then nothing, ever, and of `stall` not even a
/// head (a server that answers with JSON when done); the connection's thread
/// records when the client closes it. Any other call answers at once.
fn silent_sse_server(seen: std::sync::Arc<std::sync::Mutex<Silent>>) -> std::net::SocketAddr {
    use serde_json::{Value, json};
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut out) = stream else { return };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(out.try_clone().unwrap());
                let (mut head, mut line) = (Vec::new(), String::new());
                while reader.read_line(&mut line).unwrap_or(0) > 2 {
                    head.push(line.trim_end().to_ascii_lowercase());
                    line.clear();
                }
                let len = head
                    .iter()
                    .find_map(|h| h.strip_prefix("content-length: "))
                    .map_or(0, |v| v.parse().unwrap());
                let mut body = vec![0; len];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let empty = |status: &str| {
                    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                };
                let json = |result: Value| {
                    let body = json!({"jsonrpc": "2.0", "id": request["id"], "result": result})
                        .to_string();
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nmcp-session-id: s1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let answer = if head.first().is_some_and(|m| m.starts_with("get")) {
                    empty("405 Method Not Allowed")
                } else {
                    match (
                        request["method"].as_str(),
                        request["params"]["name"].as_str(),
                    ) {
                        (Some("initialize"), _) => json(json!({"protocolVersion": "2025-11-25",
                            "capabilities": {"tools": {}},
                            "serverInfo": {"name": "silent", "version": "1"}})),
                        (Some("tools/call"), Some(name @ ("hang" | "stall"))) => {
                            if name == "hang" {
                                let _ = out.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n");
                            }
                            let slot = {
                                let mut s = seen.lock().unwrap();
                                s.hung.push(None);
                                s.hung.len() - 1
                            };
                            // Silent until the client lets go.
                            let mut buf = [0; 1024];
                            while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
                            seen.lock().unwrap().hung[slot] = Some(Instant::now());
                            return;
                        }
                        (Some("tools/call"), _) => {
                            json(json!({"content": [{"type": "text", "text": "quick"}]}))
                        }
                        (Some("notifications/cancelled"), _) => {
                            seen.lock().unwrap().cancelled += 1;
                            empty("202 Accepted")
                        }
                        _ => empty("202 Accepted"),
                    }
                };
                let _ = out.write_all(answer.as_bytes());
            });
        }
    });
    addr
}

/// A call that times out lets go of its SSE answer at once (the
/// connection closes) even though the server never ends it, and so does
/// one that times out before its answer's head; the server gets
/// `notifications/cancelled`, and a later call still works.
#[test]
fn timed_out_call_closes_its_sse_answer() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Silent::default()));
    let addr = silent_sse_server(seen.clone());
    let mut config = McpClientConfig::default();
    config.session.jsonrpc.request_timeout = Some(Duration::from_millis(300));
    let client = McpClient::http(&format!("http://{addr}/"), config).unwrap();
    // The SSE answer of a call that timed out; then a call that timed
    // out before its answer's head: each connection goes.
    for (n, tool) in ["hang", "stall"].into_iter().enumerate() {
        let e = client.call_tool(tool, None).unwrap_err();
        assert!(matches!(e, McpClientError::TimedOut), "{e:?}");
        let timed_out = Instant::now();
        let wait_for = |ok: &dyn Fn(&Silent) -> bool| {
            while !ok(&seen.lock().unwrap()) && timed_out.elapsed() < Duration::from_secs(2) {
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        wait_for(&|s| s.hung.get(n).is_some_and(Option::is_some));
        let closed = seen.lock().unwrap().hung.get(n).copied().flatten();
        let after = closed.map(|at| at.saturating_duration_since(timed_out));
        assert!(
            after.is_some_and(|d| d < Duration::from_secs(1)),
            "the connection of the timed-out call of {tool} is still open: {after:?}"
        );
        wait_for(&|s| s.cancelled > n);
        assert_eq!(seen.lock().unwrap().cancelled, n + 1);
    }
    let r = client.call_tool("quick", None).unwrap();
    assert_eq!(r.content[0].as_text(), Some("quick"));
    let _ = client.close();
}
