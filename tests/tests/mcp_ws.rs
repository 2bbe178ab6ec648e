//! MCP over WebSocket across runtimes, on 127.0.0.1: `McpHttp` endpoints
//! (the rt one on tokio and smol, the blocking one) take the upgrade at
//! `/mcp`, and our clients (rt's `McpClient::websocket` on tokio and smol,
//! the blocking `McpClient::websocket`) talk to each of them — every
//! client × server pair: initialize, tools/list with the schemars
//! schemas, a typed call, a tool that logs (the log arrives as an event),
//! -32602 for an unknown tool, close. Plus the raw protocol with
//! tungstenite as an independent peer: the `mcp` subprotocol, malformed
//! JSON answered -32700 on an open socket, -32601, a binary message closed
//! with 1003, and a bad Origin refused with 403 before any upgrade, while
//! a plain GET on the same path still opens the SSE stream.

use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use wirestate_mcp::schema::LoggingLevel;
use wirestate_mcp::{ClientEvent, HttpConfig};
use wirestate_rt::Shutdown;
use wirestate_rt::http1::ServerConfig;

#[derive(Debug, Deserialize, JsonSchema)]
struct AddArgs {
    a: f64,
    b: f64,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Sum {
    sum: f64,
}

fn rt_server() -> wirestate_rt::mcp::McpServer {
    use wirestate_rt::mcp::{McpServer, RequestContext, Structured, ToolError};
    McpServer::builder()
        .name("ws-rt", "1")
        .tool("add", "Adds.", |a: AddArgs| async move {
            Ok::<_, ToolError>(Structured(Sum { sum: a.a + a.b }))
        })
        .tool_with_context(
            "note",
            "Logs.",
            |ctx: RequestContext, _: AddArgs| async move {
                ctx.log(LoggingLevel::Warning, Some("note"), json!("noted"));
                Ok::<_, ToolError>("ok")
            },
        )
        .tool("boom", "Panics.", |_: AddArgs| async move {
            if true {
                panic!("boom (expected by the test)");
            }
            Ok::<_, ToolError>("")
        })
        .build()
}

fn blocking_server() -> wirestate_blocking::mcp_server::McpServer {
    use wirestate_blocking::mcp_server::{McpServer, RequestContext, Structured, ToolError};
    McpServer::builder()
        .name("ws-blocking", "1")
        .tool("add", "Adds.", |a: AddArgs| {
            Ok::<_, ToolError>(Structured(Sum { sum: a.a + a.b }))
        })
        .tool_with_context("note", "Logs.", |ctx: &RequestContext, _: AddArgs| {
            ctx.log(LoggingLevel::Warning, Some("note"), json!("noted"));
            Ok::<_, ToolError>("ok")
        })
        .tool("boom", "Panics.", |_: AddArgs| -> Result<&str, ToolError> {
            panic!("boom (expected by the test)")
        })
        .build()
}

/// A server on its own thread, stopped on drop.
struct Running {
    addr: SocketAddr,
    stop: Option<Box<dyn FnOnce() + Send>>,
    done: mpsc::Receiver<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
        let _ = self.done.recv_timeout(Duration::from_secs(10));
    }
}

fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

fn router<R: wirestate_rt::Runtime>(
    mcp: wirestate_rt::mcp::McpHttp<R>,
) -> impl wirestate_rt::http1::Handler {
    move |req: http::Request<wirestate_rt::Body>| {
        let mcp = mcp.clone();
        async move {
            if req.uri().path() == "/mcp" {
                mcp.handle(req).await
            } else {
                http::Response::builder()
                    .status(404)
                    .body(wirestate_rt::Body::empty())
                    .unwrap()
            }
        }
    }
}

fn start_tokio() -> Running {
    let (l, addr) = listener();
    let shutdown = Shutdown::new();
    let sd = shutdown.clone();
    let (tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = wirestate_tokio::TokioListener(tokio::net::TcpListener::from_std(l).unwrap());
            let mcp = rt_server().http(wirestate_tokio::TokioRuntime, HttpConfig::default());
            wirestate_tokio::serve(l, router(mcp), ServerConfig::default(), sd)
                .await
                .unwrap();
        });
        let _ = tx.send(());
    });
    Running {
        addr,
        stop: Some(Box::new(move || shutdown.trigger())),
        done,
    }
}

fn start_smol() -> Running {
    let (l, addr) = listener();
    let shutdown = Shutdown::new();
    let sd = shutdown.clone();
    let (tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        smol::block_on(async move {
            let l = wirestate_smol::SmolListener(smol::Async::new(l).unwrap());
            let mcp = rt_server().http(wirestate_smol::SmolRuntime::new(), HttpConfig::default());
            wirestate_smol::serve(l, router(mcp), ServerConfig::default(), sd)
                .await
                .unwrap();
        });
        let _ = tx.send(());
    });
    Running {
        addr,
        stop: Some(Box::new(move || shutdown.trigger())),
        done,
    }
}

fn start_blocking() -> Running {
    let server = wirestate_blocking::Server::bind("127.0.0.1:0", Default::default()).unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.handle();
    let mcp = blocking_server().http(HttpConfig::default());
    let (tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = server.serve(mcp);
        let _ = tx.send(());
    });
    Running {
        addr,
        stop: Some(Box::new(move || handle.shutdown())),
        done,
    }
}

fn servers() -> Vec<(&'static str, Running)> {
    vec![
        ("tokio", start_tokio()),
        ("smol", start_smol()),
        ("blocking", start_blocking()),
    ]
}

fn args(v: Value) -> Option<serde_json::Map<String, Value>> {
    v.as_object().cloned()
}

/// A client of the `initialize` era: the scenario's log notifications
/// come without a requested level, as that era sends them.
fn client_config() -> wirestate_rt::mcp_client::McpClientConfig {
    let mut c = wirestate_rt::mcp_client::McpClientConfig::default();
    c.session.jsonrpc.request_timeout = Some(Duration::from_secs(10));
    c.session.era = wirestate_mcp::Era::Legacy;
    c
}

/// The scenario with an rt client.
async fn scenario<R: wirestate_rt::Runtime>(
    rt: R,
    client: wirestate_rt::mcp_client::McpClient<R>,
    server: &str,
) {
    use wirestate_rt::mcp_client::McpClientError;
    let info = client.server_info().expect("initialized");
    assert!(info.server_info.name.starts_with("ws-"), "{server}");
    let mut events = client.events().expect("the event stream");
    let tools = client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["add", "note", "boom"], "{server}");
    assert_eq!(tools[0].input_schema["properties"]["a"]["type"], "number");
    let r = client
        .call_tool("add", args(json!({"a": 1.5, "b": 2})))
        .await
        .unwrap();
    assert_eq!(r.structured_content, Some(json!({"sum": 3.5})), "{server}");
    let r = client
        .call_tool("note", args(json!({"a": 0, "b": 0})))
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&r.content).unwrap()[0]["text"], "ok");
    match client.call_tool("missing", None).await {
        Err(McpClientError::Rpc(e)) => assert_eq!(e.code.code(), -32602, "{server}"),
        other => panic!("{server}: unknown tool gave {other:?}"),
    }
    // A handler that panics: answered -32603, the session goes on.
    match client
        .call_tool("boom", args(json!({"a": 0, "b": 0})))
        .await
    {
        Err(McpClientError::Rpc(e)) => assert_eq!(e.code.code(), -32603, "{server}"),
        other => panic!("{server}: a panicking tool gave {other:?}"),
    }
    // The log sent during `note` came through the events.
    let deadline = rt.now() + Duration::from_secs(5);
    let log = wirestate_rt::timeout(&rt, deadline, async {
        loop {
            match events.next().await {
                Some(ClientEvent::Log(l)) => return Some(l),
                Some(_) => {}
                None => return None,
            }
        }
    })
    .await
    .flatten();
    assert_eq!(log.map(|l| l.data), Some(json!("noted")), "{server}");
    client.close().await.unwrap();
}

#[test]
fn tokio_client_against_every_server() {
    for (name, srv) in servers() {
        let url = format!("ws://{}/mcp", srv.addr);
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let run = async {
                    let client = wirestate_tokio::mcp::connect_ws(&url, client_config())
                        .await
                        .unwrap();
                    scenario(wirestate_tokio::TokioRuntime, client, name).await;
                };
                tokio::time::timeout(Duration::from_secs(30), run)
                    .await
                    .unwrap_or_else(|_| panic!("{name}: timed out"));
            });
    }
}

#[test]
fn smol_client_against_every_server() {
    for (name, srv) in servers() {
        let url = format!("ws://{}/mcp", srv.addr);
        smol::block_on(async {
            let run = async {
                let client = wirestate_smol::mcp::connect_ws(&url, client_config())
                    .await
                    .unwrap();
                scenario(wirestate_smol::SmolRuntime::new(), client, name).await;
            };
            futures_lite::future::or(run, async {
                smol::Timer::after(Duration::from_secs(30)).await;
                panic!("{name}: timed out");
            })
            .await;
        });
    }
}

#[test]
fn blocking_client_against_every_server() {
    use wirestate_blocking::mcp_client::{McpClient, McpClientConfig, McpClientError};
    for (name, srv) in servers() {
        let mut config = McpClientConfig::default();
        config.session.jsonrpc.request_timeout = Some(Duration::from_secs(10));
        config.session.era = wirestate_mcp::Era::Legacy;
        let client = McpClient::websocket(&format!("ws://{}/mcp", srv.addr), config).unwrap();
        let tools = client.list_all_tools().unwrap();
        assert_eq!(tools.len(), 3, "{name}");
        let r = client
            .call_tool("add", args(json!({"a": 2, "b": 2})))
            .unwrap();
        assert_eq!(r.structured_content, Some(json!({"sum": 4.0})), "{name}");
        client
            .call_tool("note", args(json!({"a": 0, "b": 0})))
            .unwrap();
        let mut logged = false;
        while let Some(e) = client.next_event(Duration::from_millis(500)) {
            if let ClientEvent::Log(l) = e {
                assert_eq!(l.data, json!("noted"));
                logged = true;
                break;
            }
        }
        assert!(logged, "{name}: the log notification arrived");
        match client.call_tool("missing", None) {
            Err(McpClientError::Rpc(e)) => assert_eq!(e.code.code(), -32602, "{name}"),
            other => panic!("{name}: unknown tool gave {other:?}"),
        }
        match client.call_tool("boom", args(json!({"a": 0, "b": 0}))) {
            Err(McpClientError::Rpc(e)) => assert_eq!(e.code.code(), -32603, "{name}"),
            other => panic!("{name}: a panicking tool gave {other:?}"),
        }
        client.close().unwrap();
    }
}

/// Raw JSON-RPC over WebSocket with tungstenite, an independent peer.
#[test]
fn tungstenite_peer_against_every_server() {
    use tungstenite::client::IntoClientRequest;
    use tungstenite::protocol::frame::coding::CloseCode;
    use tungstenite::{Message, http::HeaderValue};
    for (name, srv) in servers() {
        let mut req = format!("ws://{}/mcp", srv.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("mcp"));
        let stream = std::net::TcpStream::connect(srv.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (mut ws, res) = tungstenite::client(req, stream).unwrap();
        assert_eq!(
            res.headers()
                .get("Sec-WebSocket-Protocol")
                .and_then(|v| v.to_str().ok()),
            Some("mcp"),
            "{name}"
        );
        let mut ask = |text: String| -> Value {
            ws.send(Message::text(text)).unwrap();
            loop {
                match ws.read().unwrap() {
                    Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
                    Message::Ping(_) | Message::Pong(_) => {}
                    other => panic!("{name}: {other:?}"),
                }
            }
        };
        let init = ask(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "tungstenite", "version": "1"}}})
            .to_string(),
        );
        assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{name}");
        let list = ask(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string());
        assert_eq!(list["id"], 2);
        let parse = ask("{\"jsonrpc\": \"2.0\", \"id\": 3, \"method\"".into());
        assert_eq!(parse["error"]["code"], -32700, "{name}");
        assert_eq!(parse["id"], Value::Null);
        let call = ask(json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
            "params": {"name": "add", "arguments": {"a": 20, "b": 22}}})
        .to_string());
        assert_eq!(call["result"]["structuredContent"]["sum"], 42.0, "{name}");
        let unknown = ask(json!({"jsonrpc": "2.0", "id": 5, "method": "nope"}).to_string());
        assert_eq!(unknown["error"]["code"], -32601, "{name}");
        ws.send(Message::binary(vec![1u8, 2, 3])).unwrap();
        let code = loop {
            match ws.read() {
                Ok(Message::Close(Some(f))) => break u16::from(f.code),
                Ok(Message::Close(None)) => break 1005,
                Ok(_) => {}
                Err(e) => panic!("{name}: {e}"),
            }
        };
        assert_eq!(code, u16::from(CloseCode::Unsupported), "{name}");
    }
}

#[test]
fn a_bad_origin_is_refused_and_plain_get_stays_sse() {
    use std::io::{Read, Write};
    for (name, srv) in servers() {
        let mut s = std::net::TcpStream::connect(srv.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET /mcp HTTP/1.1\r\nHost: {}\r\nOrigin: http://evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mcp\r\n\r\n",
            srv.addr
        )
        .unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 403", "{name}");
        // A plain GET (no upgrade) is the Streamable HTTP stream: without a
        // session it is refused as the HTTP transport refuses it.
        let mut s = std::net::TcpStream::connect(srv.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "GET /mcp HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n",
            srv.addr
        )
        .unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        assert_eq!(&head, b"HTTP/1.1 400", "{name}: GET without a session id");
    }
}
