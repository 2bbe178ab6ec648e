//! The blocking MCP server over real sockets and pipes: stdio through
//! `serve_io` on OS pipes, Streamable HTTP and WebSocket on the blocking
//! HTTP server (127.0.0.1), spoken to by our blocking client and by raw
//! WebSocket messages (malformed JSON → -32700, binary → close 1003, a
//! bad Origin → 403 before the upgrade), a tool asking the client to
//! sample while it runs, and the handler-thread cap.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use wirestate_blocking::mcp_client::{McpClient, McpClientConfig, McpClientError};
use wirestate_blocking::mcp_server::{
    McpServer, RequestContext, Structured, ToolError, websocket_config,
};
use wirestate_blocking::ws::{self, Message};
use wirestate_blocking::{Server, ServerHandle};
use wirestate_mcp::ClientEvent;
use wirestate_mcp::HttpConfig;
use wirestate_mcp::schema::{
    ClientCapabilities, ContentBlock, CreateMessageParams, CreateMessageResult, LoggingLevel,
    ReadResourceResult, Resource, ResourceContents, Role, SamplingContent,
};

#[derive(Debug, Deserialize, JsonSchema)]
struct AddArgs {
    a: f64,
    b: f64,
}

#[derive(Debug, Serialize, JsonSchema)]
struct Sum {
    sum: f64,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct Steps {
    steps: u32,
}

fn server() -> McpServer {
    McpServer::builder()
        .name("blocking-test", "0.0.1")
        .tool("add", "Adds two numbers.", |a: AddArgs| {
            Ok::<_, ToolError>(Structured(Sum { sum: a.a + a.b }))
        })
        .tool_with_context(
            "work",
            "Logs each step.",
            |ctx: &RequestContext, a: Steps| {
                for i in 1..=a.steps {
                    ctx.log(LoggingLevel::Info, Some("work"), json!(format!("step {i}")));
                    ctx.progress(f64::from(i), Some(f64::from(a.steps)), None);
                }
                Ok::<_, ToolError>(format!("did {} steps", a.steps))
            },
        )
        .tool_with_context(
            "ask",
            "Samples the client.",
            |ctx: &RequestContext, _: Steps| {
                let r = ctx.create_message(CreateMessageParams {
                    messages: vec![wirestate_mcp::schema::SamplingMessage {
                        role: Role::User,
                        content: SamplingContent::One(Box::new(ContentBlock::text("hi"))),
                        meta: None,
                        extra: Default::default(),
                    }],
                    max_tokens: 10,
                    ..CreateMessageParams::default()
                })?;
                Ok::<_, ToolError>(format!(
                    "model said {}",
                    serde_json::to_string(&r.content).unwrap()
                ))
            },
        )
        .resource(Resource::new("test://a", "a"), |_, r| {
            Ok(ReadResourceResult {
                contents: vec![ResourceContents::text(r.uri, None, "A")],
                meta: None,
                extra: Default::default(),
            })
        })
        .build()
}

struct Running {
    addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(server: McpServer) -> Running {
    let listener = Server::bind("127.0.0.1:0", Default::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = listener.handle();
    let mcp = server.http(HttpConfig::default());
    let thread = std::thread::spawn(move || {
        listener.serve(
            move |req: http::Request<wirestate_blocking::BlockingBody>| {
                if req.uri().path() == "/mcp" {
                    mcp.handle(req)
                } else {
                    let mut r = http::Response::new(wirestate_blocking::ResponseBody::empty());
                    *r.status_mut() = http::StatusCode::NOT_FOUND;
                    r
                }
            },
        )
    });
    Running {
        addr,
        handle,
        thread: Some(thread),
    }
}

/// A client of the `initialize` era: the checks below (logs without a
/// requested level, sampling during a call) are that era's behaviour.
fn config() -> McpClientConfig {
    let mut c = McpClientConfig::default();
    c.session.jsonrpc.request_timeout = Some(Duration::from_secs(10));
    c.session.era = wirestate_mcp::Era::Legacy;
    c
}

fn exercise(client: &McpClient) {
    let tools = client.list_all_tools().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["add", "work", "ask"]);
    assert_eq!(tools[0].input_schema["properties"]["a"]["type"], "number");
    assert!(tools[0].output_schema.is_some());
    let r = client
        .call_tool(
            "add",
            Some(json!({"a": 2, "b": 3}).as_object().unwrap().clone()),
        )
        .unwrap();
    assert_eq!(r.structured_content, Some(json!({"sum": 5.0})));
    let r = client
        .call_tool("add", Some(json!({"a": "x"}).as_object().unwrap().clone()))
        .unwrap();
    assert_eq!(r.is_error, Some(true), "bad arguments give isError");
    let r = client
        .call_tool(
            "work",
            Some(json!({"steps": 3}).as_object().unwrap().clone()),
        )
        .unwrap();
    assert_eq!(
        serde_json::to_value(&r.content).unwrap()[0]["text"],
        "did 3 steps"
    );
    match client.call_tool("nope", None) {
        Err(McpClientError::Rpc(e)) => assert_eq!(e.code.code(), -32602),
        other => panic!("unknown tool: {other:?}"),
    }
    let read = client.read_resource("test://a").unwrap();
    assert_eq!(
        serde_json::to_value(&read.contents).unwrap()[0]["text"],
        "A"
    );
    // Logs arrived as events.
    let mut logs = 0;
    while let Some(e) = client.next_event(Duration::from_millis(200)) {
        if matches!(e, ClientEvent::Log(_)) {
            logs += 1;
        }
    }
    assert_eq!(logs, 3);
}

#[test]
fn streamable_http_with_our_client() {
    let srv = start(server());
    let client = McpClient::http(&format!("http://{}/mcp", srv.addr), config()).unwrap();
    assert_eq!(
        client.server_info().unwrap().server_info.name,
        "blocking-test"
    );
    exercise(&client);
    client.close().unwrap();
}

#[test]
fn websocket_with_our_client() {
    let srv = start(server());
    let client = McpClient::websocket(&format!("ws://{}/mcp", srv.addr), config()).unwrap();
    exercise(&client);
    client.close().unwrap();
}

#[test]
fn sampling_during_a_tool_call_over_websocket() {
    sampling_during_a_tool_call("ws");
}

/// Over Streamable HTTP the question travels on the call's own SSE
/// stream: the call must not run on the connection thread that writes it.
#[test]
fn sampling_during_a_tool_call_over_http() {
    sampling_during_a_tool_call("http");
}

fn sampling_during_a_tool_call(scheme: &str) {
    let srv = start(server());
    let mut c = config();
    c.capabilities = ClientCapabilities {
        sampling: Some(Default::default()),
        ..ClientCapabilities::default()
    };
    let url = format!("{scheme}://{}/mcp", srv.addr);
    let client = if scheme == "ws" {
        McpClient::websocket(&url, c).unwrap()
    } else {
        McpClient::http(&url, c).unwrap()
    };
    let answerer = client.clone();
    let t = std::thread::spawn(move || {
        loop {
            match answerer.next_event(Duration::from_secs(10)) {
                Some(ClientEvent::CreateMessage { id, .. }) => {
                    let result = CreateMessageResult {
                        role: Role::Assistant,
                        content: SamplingContent::One(Box::new(ContentBlock::text("42"))),
                        model: "m".into(),
                        stop_reason: None,
                        meta: None,
                        extra: Default::default(),
                    };
                    answerer.respond_create_message(&id, result).unwrap();
                    return;
                }
                Some(_) => {}
                None => panic!("no sampling request"),
            }
        }
    });
    let r = client
        .call_tool(
            "ask",
            Some(json!({"steps": 0}).as_object().unwrap().clone()),
        )
        .unwrap();
    t.join().unwrap();
    let text = serde_json::to_value(&r.content).unwrap()[0]["text"].clone();
    assert!(text.as_str().unwrap().contains("42"), "{text}");
    client.close().unwrap();
}

fn recv_json(socket: &ws::WebSocket) -> Value {
    match socket.recv() {
        Some(Ok(Message::Text(t))) => serde_json::from_str(t.as_str()).unwrap(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

#[test]
fn raw_websocket_messages() {
    let srv = start(server());
    let socket = ws::connect_with(&format!("ws://{}/mcp", srv.addr), websocket_config()).unwrap();
    assert_eq!(socket.protocol(), Some("mcp"));
    socket
        .send(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"}}})
            .to_string(),
        )
        .unwrap();
    let init = recv_json(&socket);
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    socket
        .send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string())
        .unwrap();
    socket.send("{not json").unwrap();
    let parse = recv_json(&socket);
    assert_eq!(parse["error"]["code"], -32700);
    socket
        .send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}).to_string())
        .unwrap();
    assert_eq!(recv_json(&socket)["result"]["tools"][0]["name"], "add");
    socket
        .send(json!({"jsonrpc": "2.0", "id": 3, "method": "no/such"}).to_string())
        .unwrap();
    assert_eq!(recv_json(&socket)["error"]["code"], -32601);
    socket
        .send(Message::Binary(bytes::Bytes::from_static(b"\x01")))
        .unwrap();
    assert!(socket.recv().is_none(), "the server closes");
    assert_eq!(socket.close_frame().map(|f| f.code), Some(1003));
}

#[test]
fn a_bad_origin_is_refused_before_the_upgrade() {
    let srv = start(server());
    let mut s = std::net::TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nOrigin: http://evil.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        srv.addr.port()
    )
    .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 403");
}

#[test]
fn stdio_over_pipes() {
    let (in_r, mut in_w) = std::io::pipe().unwrap();
    let (mut out_r, out_w) = std::io::pipe().unwrap();
    let srv = std::thread::spawn(move || server().serve_io(in_r, out_w));
    let lines = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "pipe", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
               "params": {"name": "add", "arguments": {"a": 1, "b": 1}}}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": {"uri": "test://b"}}),
    ];
    for l in &lines {
        writeln!(in_w, "{l}").unwrap();
    }
    writeln!(in_w, "{{oops").unwrap();
    drop(in_w);
    let mut out = String::new();
    out_r.read_to_string(&mut out).unwrap();
    srv.join().unwrap().unwrap();
    let msgs: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_id = |id: Value| msgs.iter().find(|m| m["id"] == id).unwrap().clone();
    assert_eq!(
        by_id(json!(1))["result"]["serverInfo"]["name"],
        "blocking-test"
    );
    assert_eq!(by_id(json!(2))["result"]["structuredContent"]["sum"], 2.0);
    assert_eq!(by_id(json!(3))["error"]["code"], -32002);
    assert_eq!(by_id(Value::Null)["error"]["code"], -32700);
    assert_eq!(msgs.len(), 4);
}

#[test]
fn handler_threads_are_capped() {
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let (r, p) = (running.clone(), peak.clone());
    let server = McpServer::builder()
        .max_handler_threads(2)
        .tool("slow", "Sleeps.", move |_: Steps| {
            let now = r.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(300));
            r.fetch_sub(1, Ordering::SeqCst);
            Ok::<_, ToolError>("ok")
        })
        .build();
    let srv = start(server);
    let client = McpClient::websocket(&format!("ws://{}/mcp", srv.addr), config()).unwrap();
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let c = client.clone();
            std::thread::spawn(move || {
                c.call_tool(
                    "slow",
                    Some(json!({"steps": 1}).as_object().unwrap().clone()),
                )
            })
        })
        .collect();
    let results: Vec<_> = calls.into_iter().map(|t| t.join().unwrap()).collect();
    let busy = results
        .iter()
        .filter(|r| matches!(r, Err(McpClientError::Rpc(e)) if e.code.code() == -32009))
        .count();
    let ok = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(busy + ok, 4, "{results:?}");
    assert!(ok >= 2 && busy >= 1, "{results:?}");
    assert!(peak.load(Ordering::SeqCst) <= 2);
    client.close().unwrap();
}

#[test]
fn an_open_sse_stream_ends_on_shutdown() {
    let listener = Server::bind("127.0.0.1:0", Default::default()).unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = listener.handle();
    let mcp = server()
        .http(HttpConfig::default())
        .end_streams_on(handle.clone());
    let (tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = listener.serve(mcp);
        let _ = tx.send(());
    });
    // initialize, for a session id.
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}})
    .to_string();
    let mut req = http::Request::new(wirestate_blocking::RequestBody::from(body));
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = format!("http://{addr}/mcp").parse().unwrap();
    req.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    req.headers_mut().insert(
        "accept",
        "application/json, text/event-stream".parse().unwrap(),
    );
    let res = wirestate_blocking::Client::default().request(req).unwrap();
    let sid = res
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .expect("a session id")
        .to_owned();
    let _ = res.into_body().collect(1 << 20);
    // The standalone GET stream (its priming event, 2025-11-25, makes the
    // head go out) stays open…
    let mut g = std::net::TcpStream::connect(addr).unwrap();
    g.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        g,
        "GET /mcp HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\nMcp-Session-Id: {sid}\r\nMCP-Protocol-Version: 2025-11-25\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 12];
    if let Err(e) = g.read_exact(&mut head) {
        let mut more = [0u8; 200];
        let n = g.read(&mut more).unwrap_or(0);
        panic!(
            "no head ({e}); sid {sid:?}; got {:?}",
            String::from_utf8_lossy(&more[..n])
        );
    }
    assert_eq!(&head, b"HTTP/1.1 200");
    // …until the server shuts down: the stream ends and serve returns.
    handle.shutdown();
    assert!(
        done.recv_timeout(Duration::from_secs(5)).is_ok(),
        "serve did not return with an SSE stream open"
    );
    let mut rest = Vec::new();
    let _ = g.read_to_end(&mut rest);
}

// ---- stdio: a call runs on the thread that read it, and the reading
// passes on while it waits or runs long ----

/// A stdio session over OS pipes, set up (`initialize` with `caps`), its
/// output read line by line on a thread of its own. (`std::io::pipe` is
/// newer than the MSRV; clippy lets tests use it, and this is test code.)
#[allow(clippy::incompatible_msrv)]
struct Stdio {
    input: Option<std::io::PipeWriter>,
    lines: std::sync::mpsc::Receiver<Value>,
    server: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

#[allow(clippy::incompatible_msrv)]
impl Stdio {
    fn start(server: McpServer, caps: Value) -> Self {
        let (in_r, in_w) = std::io::pipe().unwrap();
        let (out_r, out_w) = std::io::pipe().unwrap();
        let srv = std::thread::spawn(move || server.serve_io(in_r, out_w));
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out_r).lines() {
                let Ok(line) = line else { return };
                if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                    return;
                }
            }
        });
        let mut s = Stdio {
            input: Some(in_w),
            lines,
            server: Some(srv),
        };
        s.send(
            json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": caps,
            "clientInfo": {"name": "pipe", "version": "1"}}}),
        );
        assert_eq!(s.next()["id"], 0);
        s.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        s
    }

    fn send(&mut self, message: Value) {
        let input = self.input.as_mut().unwrap();
        writeln!(input, "{message}").unwrap();
    }

    fn call(&mut self, id: u64, tool: &str, args: Value) {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                         "params": {"name": tool, "arguments": args}}));
    }

    /// The next message the server wrote (within 5 s).
    fn next(&self) -> Value {
        self.lines
            .recv_timeout(Duration::from_secs(5))
            .expect("no message from the server within 5 s")
    }

    /// Ends the input and returns what the server wrote after it.
    fn finish(mut self) -> Vec<Value> {
        self.input = None;
        self.server.take().unwrap().join().unwrap().unwrap();
        self.lines.try_iter().collect()
    }
}

/// A tool that runs until the test lets it go (or 5 s pass), saying
/// `started` (progress) first.
fn gated_server(gate: std::sync::mpsc::Receiver<()>) -> McpServer {
    let gate = std::sync::Mutex::new(gate);
    McpServer::builder()
        .tool("add", "Adds two numbers.", |a: AddArgs| {
            Ok::<_, ToolError>(Structured(Sum { sum: a.a + a.b }))
        })
        .tool_with_context(
            "gated",
            "Waits for the test.",
            move |ctx: &RequestContext, _: Steps| {
                ctx.progress(1.0, None, Some("started"));
                let released = gate
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(5))
                    .is_ok();
                Ok::<_, ToolError>(if released { "released" } else { "timed out" })
            },
        )
        .build()
}

#[test]
fn stdio_reads_other_calls_while_a_handler_runs() {
    let (release, gate) = std::sync::mpsc::channel();
    let mut s = Stdio::start(gated_server(gate), json!({}));
    // The gated call holds the thread that read it; the next call is
    // read and answered by another one meanwhile.
    s.call(1, "gated", json!({"steps": 1}));
    s.call(2, "add", json!({"a": 2, "b": 3}));
    let answer = s.next();
    assert_eq!(answer["id"], 2, "{answer}");
    assert_eq!(answer["result"]["structuredContent"]["sum"], 5.0);
    release.send(()).unwrap();
    let answer = s.next();
    assert_eq!(answer["id"], 1, "{answer}");
    assert_eq!(answer["result"]["content"][0]["text"], "released");
    assert!(s.finish().is_empty());
}

#[test]
fn stdio_cancels_a_running_call() {
    let (release, gate) = std::sync::mpsc::channel();
    let mut s = Stdio::start(gated_server(gate), json!({}));
    s.call(1, "gated", json!({"steps": 1}));
    // Read while the handler runs: the call is cancelled, so its answer
    // never goes out.
    s.send(
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                  "params": {"requestId": 1, "reason": "changed my mind"}}),
    );
    s.send(json!({"jsonrpc": "2.0", "id": 2, "method": "ping"}));
    let pong = s.next();
    assert_eq!(pong["id"], 2, "{pong}");
    release.send(()).unwrap();
    // The same in one write: the ping's answer does not wait for the
    // call read with it.
    let lines = [
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
               "params": {"name": "gated", "arguments": {"steps": 1}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
               "params": {"requestId": 4}}),
        json!({"jsonrpc": "2.0", "id": 5, "method": "ping"}),
    ];
    let batch: String = lines.iter().map(|l| format!("{l}\n")).collect();
    s.input
        .as_mut()
        .unwrap()
        .write_all(batch.as_bytes())
        .unwrap();
    let pong = s.next();
    assert_eq!(pong["id"], 5, "{pong}");
    release.send(()).unwrap();
    s.call(6, "add", json!({"a": 1, "b": 1}));
    let answer = s.next();
    assert_eq!(answer["id"], 6, "a cancelled call was answered: {answer}");
    assert!(s.finish().is_empty());
}

#[test]
fn stdio_progress_leaves_while_the_handler_runs() {
    let (release, gate) = std::sync::mpsc::channel();
    let mut s = Stdio::start(gated_server(gate), json!({}));
    s.send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "gated", "arguments": {"steps": 1}, "_meta": {"progressToken": "p"}}}),
    );
    // Written by the handler's thread before it ends: the tool is still
    // waiting for the gate.
    let progress = s.next();
    assert_eq!(progress["method"], "notifications/progress", "{progress}");
    assert_eq!(progress["params"]["message"], "started");
    release.send(()).unwrap();
    let answer = s.next();
    assert_eq!(answer["result"]["content"][0]["text"], "released");
    assert!(s.finish().is_empty());
}

#[test]
fn stdio_sampling_during_a_tool_call() {
    let mut s = Stdio::start(server(), json!({"sampling": {}}));
    // The handler waits for our answer to its request; that answer is
    // read while it waits.
    s.call(1, "ask", json!({"steps": 0}));
    let ask = s.next();
    assert_eq!(ask["method"], "sampling/createMessage", "{ask}");
    s.send(json!({"jsonrpc": "2.0", "id": ask["id"], "result": {
        "role": "assistant", "content": {"type": "text", "text": "42"}, "model": "m"}}));
    let answer = s.next();
    assert_eq!(answer["id"], 1, "{answer}");
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("42"), "{text}");
    assert!(s.finish().is_empty());
}

#[test]
fn stdio_batches_of_calls_all_answered() {
    let mut s = Stdio::start(server(), json!({}));
    // Many calls in one write: the thread that reads them runs them in
    // turn and writes their answers together.
    let mut batch = String::new();
    for id in 1..=64 {
        batch.push_str(
            &json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "add", "arguments": {"a": id, "b": 1}}})
            .to_string(),
        );
        batch.push('\n');
    }
    s.input
        .as_mut()
        .unwrap()
        .write_all(batch.as_bytes())
        .unwrap();
    let mut seen: Vec<u64> = (0..64)
        .map(|_| {
            let a = s.next();
            assert_eq!(
                a["result"]["structuredContent"]["sum"].as_f64().unwrap(),
                a["id"].as_f64().unwrap() + 1.0
            );
            a["id"].as_u64().unwrap()
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (1..=64).collect::<Vec<_>>());
    assert!(s.finish().is_empty());
}

// ---- Streamable HTTP: a call that may log runs on its connection's
// thread, which writes its logs as they come ----

/// Reads from `s` into `buf` until `needle` is in it (or panics after
/// the socket's read timeout).
fn read_until(s: &mut std::net::TcpStream, buf: &mut Vec<u8>, needle: &str) {
    let mut chunk = [0u8; 4096];
    while !String::from_utf8_lossy(buf).contains(needle) {
        let n = s.read(&mut chunk).unwrap_or_else(|e| {
            panic!(
                "waiting for {needle:?} ({e}); got {:?}",
                String::from_utf8_lossy(buf)
            )
        });
        assert!(
            n > 0,
            "closed before {needle:?}; got {:?}",
            String::from_utf8_lossy(buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// One POST of `body` on a keep-alive connection; returns the bytes read
/// up to `until`.
fn post(s: &mut std::net::TcpStream, sid: Option<&str>, body: &Value, until: &str) -> String {
    let body = body.to_string();
    let addr = s.peer_addr().unwrap();
    let sid = sid.map_or(String::new(), |s| format!("Mcp-Session-Id: {s}\r\n"));
    write!(
        s,
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-11-25\r\n{sid}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = Vec::new();
    read_until(s, &mut buf, until);
    String::from_utf8(buf).unwrap()
}

#[test]
fn http_logs_of_a_running_call_stream_from_its_connection_thread() {
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(gate);
    let (ran_on, thread_name) = std::sync::mpsc::channel::<String>();
    let ran_on = std::sync::Mutex::new(ran_on);
    let srv = start(
        McpServer::builder()
            .name("gated-log", "0.0.1")
            .tool_with_context(
                "gated",
                "Logs, then waits.",
                move |ctx: &RequestContext, _: Steps| {
                    let name = std::thread::current().name().unwrap_or("").to_owned();
                    let _ = ran_on.lock().unwrap().send(name);
                    ctx.log(LoggingLevel::Info, Some("gated"), json!("before the gate"));
                    // The test opens the gate only once it has read the log.
                    let opened = gate.lock().unwrap().recv_timeout(Duration::from_secs(10));
                    Ok::<_, ToolError>(
                        if opened.is_ok() {
                            "through"
                        } else {
                            "timed out"
                        }
                        .to_owned(),
                    )
                },
            )
            .build(),
    );
    let mut s = std::net::TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"}}});
    let head = post(&mut s, None, &init, "\"serverInfo\"");
    let sid = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("mcp-session-id")
                .then(|| v.trim().to_owned())
        })
        .expect("a session id");
    // The rest of initialize's answer (JSON, or an SSE stream's end).
    let mut drain = [0u8; 4096];
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    while s.read(&mut drain).is_ok_and(|n| n > 0) {}
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    post(&mut s, Some(&sid), &note, "\r\n\r\n");
    // Logging is on at the session's default level: the call's log comes
    // as an event of its SSE answer while the call still runs…
    let call = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "gated", "arguments": {"steps": 1}}});
    let seen = post(&mut s, Some(&sid), &call, "before the gate");
    assert!(seen.contains("text/event-stream"), "{seen}");
    assert!(seen.contains("notifications/message"), "{seen}");
    assert!(
        !seen.contains("\"result\""),
        "answered before the gate: {seen}"
    );
    // …run by the connection's thread, with no hand-off to a handler thread.
    let name = thread_name.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_ne!(name, "mcp-handler");
    release.send(()).unwrap();
    let mut rest = Vec::new();
    read_until(&mut s, &mut rest, "\r\n0\r\n\r\n");
    let rest = String::from_utf8(rest).unwrap();
    assert!(
        rest.contains("\"result\"") && rest.contains("through"),
        "{rest}"
    );
    // The connection serves the next call.
    let again = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list"});
    let listed = post(&mut s, Some(&sid), &again, "gated");
    assert!(listed.contains("HTTP/1.1 200"), "{listed}");
}
