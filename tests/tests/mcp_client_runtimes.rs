//! The async MCP client (`wirestate_rt::mcp_client`) on every async
//! runtime, one scenario suite instantiated for tokio and smol (the
//! blocking client has its own tests in `wirestate-blocking`): against the
//! rt MCP server in process over a stdio stand-in (a socket pair) and over
//! Streamable HTTP on a socket (sampling during a tool call, progress,
//! logs, cancellation; both eras), an SSE answer resumed after the
//! server's `retry:` (SEP-1699), the SSE answer of a timed-out or
//! cancelled call closed although the server keeps it open, and child
//! processes reaped on close (killed after the timeout).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_channel::oneshot;
use serde_json::{Map, Value, json};
use wirestate_mcp::schema::{
    CallToolResult, ClientCapabilities, ContentBlock, CreateMessageParams, CreateMessageResult,
    LoggingLevel, Role, SamplingCapability, SamplingContent, SamplingMessage, Tool,
};
use wirestate_mcp::{ClientEvent, Era};
use wirestate_rt::mcp::{McpHttp, McpServer, ToolError};
use wirestate_rt::mcp_client::{ChildProcess, McpClient, McpClientConfig, McpClientError};
use wirestate_rt::{Io, Runtime, Shutdown};

/// What the suite needs of a runtime beyond [`Runtime`]: running a test,
/// sockets, and its own MCP constructors (`wirestate_X::mcp`).
trait McpRuntime: Runtime + Sized {
    fn new() -> Self;
    fn block_on<F: Future>(f: F) -> F::Output;
    /// Two connected byte streams, standing in for a child's stdio.
    fn pair() -> (impl Io, impl Io);
    /// Serves `handler` on a port of 127.0.0.1 until `stop` fires; the
    /// receiver completes when serving has ended.
    async fn serve(handler: McpHttp<Self>, stop: Shutdown) -> (SocketAddr, oneshot::Receiver<()>);
    fn spawn_child(program: &str, args: &[&str]) -> io::Result<(impl Io, Box<dyn ChildProcess>)>;
    async fn connect_child(
        program: &str,
        args: &[&str],
        config: McpClientConfig,
    ) -> Result<McpClient<Self>, McpClientError>;
    async fn connect_http(
        url: &str,
        config: McpClientConfig,
    ) -> Result<McpClient<Self>, McpClientError>;
}

impl McpRuntime for wirestate_tokio::TokioRuntime {
    fn new() -> Self {
        wirestate_tokio::TokioRuntime
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn pair() -> (impl Io, impl Io) {
        let (a, b) = tokio::io::duplex(64 * 1024);
        (wirestate_tokio::TokioIo(a), wirestate_tokio::TokioIo(b))
    }

    async fn serve(handler: McpHttp<Self>, stop: Shutdown) -> (SocketAddr, oneshot::Receiver<()>) {
        let listener = wirestate_tokio::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = wirestate_rt::Listener::local_addr(&listener).unwrap();
        let (done, ended) = oneshot::channel();
        tokio::spawn(async move {
            let _ = wirestate_tokio::serve(listener, handler, Default::default(), stop).await;
            let _ = done.send(());
        });
        (addr, ended)
    }

    fn spawn_child(program: &str, args: &[&str]) -> io::Result<(impl Io, Box<dyn ChildProcess>)> {
        let (io, child) = wirestate_tokio::mcp::spawn_child(program, args)?;
        Ok((io, Box::new(child) as Box<dyn ChildProcess>))
    }

    async fn connect_child(
        program: &str,
        args: &[&str],
        config: McpClientConfig,
    ) -> Result<McpClient<Self>, McpClientError> {
        wirestate_tokio::mcp::connect_child(program, args, config).await
    }

    async fn connect_http(
        url: &str,
        config: McpClientConfig,
    ) -> Result<McpClient<Self>, McpClientError> {
        wirestate_tokio::mcp::connect_http(url, config).await
    }
}

impl McpRuntime for wirestate_smol::SmolRuntime {
    fn new() -> Self {
        wirestate_smol::SmolRuntime::new()
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        smol::block_on(f)
    }

    fn pair() -> (impl Io, impl Io) {
        let (a, b) = smol::net::unix::UnixStream::pair().unwrap();
        (wirestate_smol::SmolIo(a), wirestate_smol::SmolIo(b))
    }

    async fn serve(handler: McpHttp<Self>, stop: Shutdown) -> (SocketAddr, oneshot::Receiver<()>) {
        let listener = wirestate_smol::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = wirestate_rt::Listener::local_addr(&listener).unwrap();
        let (done, ended) = oneshot::channel();
        smol::spawn(async move {
            let _ = wirestate_smol::serve(listener, handler, Default::default(), stop).await;
            let _ = done.send(());
        })
        .detach();
        (addr, ended)
    }

    fn spawn_child(program: &str, args: &[&str]) -> io::Result<(impl Io, Box<dyn ChildProcess>)> {
        let (io, child) = wirestate_smol::mcp::spawn_child(program, args)?;
        Ok((io, Box::new(child) as Box<dyn ChildProcess>))
    }

    async fn connect_child(
        program: &str,
        args: &[&str],
        config: McpClientConfig,
    ) -> Result<McpClient<Self>, McpClientError> {
        wirestate_smol::mcp::connect_child(program, args, config).await
    }

    async fn connect_http(
        url: &str,
        config: McpClientConfig,
    ) -> Result<McpClient<Self>, McpClientError> {
        wirestate_smol::mcp::connect_http(url, config).await
    }
}

/// Waits up to `within` for `fut` on `R`'s clock; `None` if it took longer.
async fn within<R: McpRuntime, F: Future>(rt: &R, limit: Duration, fut: F) -> Option<F::Output> {
    wirestate_rt::timeout(rt, rt.now() + limit, fut).await
}

/// A server with `echo` (logs, answers with the arguments as text),
/// `slow` (three progress steps, then "done") and `sample` (asks the
/// client to sample while it runs).
fn server() -> McpServer {
    McpServer::builder()
        .name("test-server", "1.2.3")
        .tool_raw(Tool::new("echo", Map::new()), |ctx, args| async move {
            ctx.log(LoggingLevel::Info, Some("echo"), json!("echoing"));
            Ok::<_, ToolError>(CallToolResult::text(Value::Object(args).to_string()))
        })
        .tool_raw(Tool::new("slow", Map::new()), |ctx, _| async move {
            for i in 1..=3 {
                ctx.progress(f64::from(i), Some(3.0), None);
                ctx.sleep(Duration::from_millis(20)).await;
            }
            Ok::<_, ToolError>(CallToolResult::text("done"))
        })
        .tool_raw(Tool::new("sample", Map::new()), |ctx, _| async move {
            let params = CreateMessageParams {
                messages: vec![SamplingMessage {
                    role: Role::User,
                    content: SamplingContent::One(Box::new(ContentBlock::text("2+2?"))),
                    meta: None,
                    extra: Map::new(),
                }],
                max_tokens: 5,
                ..Default::default()
            };
            let r = ctx.create_message(params).await?;
            let SamplingContent::One(block) = r.content else {
                return Err(ToolError::msg("several blocks"));
            };
            Ok(CallToolResult::text(format!(
                "{} said {}",
                r.model,
                block.as_text().unwrap_or("?")
            )))
        })
        .build()
}

/// A client that declares sampling (answered by `handle_events`), of the
/// `initialize` era: the server's requests to it need that era's session.
fn config() -> McpClientConfig {
    let mut c = McpClientConfig::default();
    c.session.era = Era::Legacy;
    c.capabilities = ClientCapabilities {
        sampling: Some(SamplingCapability::default()),
        ..Default::default()
    };
    c
}

/// Answers sampling requests; collects every other event.
fn handle_events<R: McpRuntime>(client: &McpClient<R>) -> Arc<Mutex<Vec<ClientEvent>>> {
    let mut events = client.events().unwrap();
    assert!(client.events().is_none());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (client, store) = (client.clone(), seen.clone());
    R::new().spawn(Box::pin(async move {
        while let Some(event) = events.next().await {
            if let ClientEvent::CreateMessage { id, params } = &event {
                assert_eq!(params.max_tokens, 5);
                let answer = CreateMessageResult {
                    role: Role::Assistant,
                    content: SamplingContent::One(Box::new(ContentBlock::text("4"))),
                    model: "test-model".into(),
                    stop_reason: None,
                    meta: None,
                    extra: Map::new(),
                };
                client.respond_create_message(id, answer).unwrap();
            }
            store.lock().unwrap().push(event);
        }
    }));
    seen
}

/// Every call of the client against [`server`], with its events.
async fn exercise<R: McpRuntime>(client: &McpClient<R>) {
    let rt = R::new();
    let info = client.server_info().unwrap();
    assert_eq!(info.server_info.name, "test-server");
    assert!(client.protocol_version().is_some());
    let seen = handle_events(client);
    let names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["echo", "slow", "sample"]);
    let mut args = Map::new();
    args.insert("x".into(), json!(1));
    let r = client.call_tool("echo", Some(args)).await.unwrap();
    assert_eq!(r.content[0].as_text(), Some(r#"{"x":1}"#));
    let r = client.call_tool("slow", None).await.unwrap();
    assert_eq!(r.content[0].as_text(), Some("done"));
    // The server asks us to sample while it runs the tool.
    let r = client.call_tool("sample", None).await.unwrap();
    assert_eq!(r.content[0].as_text(), Some("test-model said 4"));
    let e = client.call_tool("missing", None).await.unwrap_err();
    assert_eq!(e.hint(), Some(wirestate_jsonrpc::ErrorCode::INVALID_PARAMS));
    client.ping().await.unwrap();
    // A call given up on is cancelled, and the session goes on.
    let gave_up = within(
        &rt,
        Duration::from_millis(10),
        client.call_tool("slow", None),
    )
    .await;
    assert!(gave_up.is_none());
    client.ping().await.unwrap();
    // The log of echo, the progress of slow and the sampling request came
    // out as events.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        {
            let seen = seen.lock().unwrap();
            let log = seen
                .iter()
                .any(|e| matches!(e, ClientEvent::Log(l) if l.data == json!("echoing")));
            let progress = seen
                .iter()
                .filter(|e| {
                    matches!(
                        e,
                        ClientEvent::Progress {
                            request: Some(_),
                            ..
                        }
                    )
                })
                .count();
            let sampled = seen
                .iter()
                .any(|e| matches!(e, ClientEvent::CreateMessage { .. }));
            if log && progress >= 3 && sampled {
                break;
            }
            assert!(Instant::now() < deadline, "{seen:?}");
        }
        wirestate_rt::sleep_until(&rt, rt.now() + Duration::from_millis(10)).await;
    }
}

fn stdio_in_process<R: McpRuntime>() {
    R::block_on(async {
        let rt = R::new();
        let (ours, theirs) = R::pair();
        let (done, served) = oneshot::channel();
        let serving = rt.clone();
        rt.spawn(Box::pin(async move {
            server().serve_io(serving, theirs).await.unwrap();
            let _ = done.send(());
        }));
        let client = McpClient::stdio(rt.clone(), ours, None, config());
        client.initialize().await.unwrap();
        exercise(&client).await;
        assert_eq!(client.close().await.unwrap(), None);
        // Our stdin closed, so the server ended.
        let ended = within(&rt, Duration::from_secs(5), served).await;
        assert!(matches!(ended, Some(Ok(()))), "the server did not end");
    });
}

fn streamable_http<R: McpRuntime>() {
    R::block_on(async {
        let rt = R::new();
        let shutdown = Shutdown::new();
        let handler = server().http(rt.clone(), Default::default());
        let (addr, served) = R::serve(handler, shutdown.clone()).await;
        let url = format!("http://{addr}/");
        let client = R::connect_http(&url, config()).await.unwrap();
        exercise(&client).await;
        assert_eq!(client.close().await.unwrap(), None);
        // The session is gone (DELETE): a new client's request with the old
        // id would be refused; a fresh session still works.
        let again = R::connect_http(&url, config()).await.unwrap();
        again.ping().await.unwrap();
        again.close().await.unwrap();
        // Nobody listening: initialize fails cleanly.
        let e = R::connect_http("http://127.0.0.1:1/", Default::default())
            .await
            .unwrap_err();
        assert!(matches!(e, McpClientError::Http(_)), "{e:?}");
        shutdown.trigger();
        let _ = within(&rt, Duration::from_secs(5), served).await;
    });
}

fn child_exits_when_stdin_closes<R: McpRuntime>() {
    R::block_on(async {
        let (io, child) = R::spawn_child("sh", &["-c", "cat >/dev/null"]).unwrap();
        let client = McpClient::stdio(R::new(), io, Some(child), Default::default());
        let start = Instant::now();
        let status = client.close().await.unwrap().unwrap();
        assert!(status.success(), "{status:?}");
        assert!(start.elapsed() < Duration::from_secs(3));
    });
}

fn child_killed_after_the_shutdown_timeout<R: McpRuntime>() {
    R::block_on(async {
        let mut config = McpClientConfig::default();
        config.shutdown_timeout = Duration::from_millis(300);
        config.session.jsonrpc.request_timeout = Some(Duration::from_millis(300));
        // A "server" that never answers and ignores its stdin closing.
        let start = Instant::now();
        let e = R::connect_child("sh", &["-c", "exec sleep 30"], config)
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                McpClientError::Session(wirestate_mcp::Error::InitializeTimedOut)
            ),
            "{e:?}"
        );
        // connect_child closed the client, killing and reaping the child.
        assert!(start.elapsed() < Duration::from_secs(5));

        let mut config = McpClientConfig::default();
        config.shutdown_timeout = Duration::from_millis(200);
        let (io, child) = R::spawn_child("sh", &["-c", "exec sleep 30"]).unwrap();
        let pid = child.id().unwrap();
        let client = McpClient::stdio(R::new(), io, Some(child), config);
        let status = client.close().await.unwrap().unwrap();
        assert!(!status.success());
        // Reaped: no process with that id is left (not even a zombie).
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    });
}

/// What the scripted SSE server saw: when it closed the answer stream of
/// `tools/call`, and when and with which `Last-Event-ID` the client
/// resumed it.
#[derive(Debug, Default)]
struct Resumption {
    closed_at: Option<Instant>,
    resumed: Vec<(Instant, String)>,
}

/// A Streamable HTTP server scripted on blocking sockets, in the manner of
/// the conformance suite's `sse-retry` scenario (SEP-1699): the answer to
/// `tools/call` is an SSE stream with only an event id and `retry: 300`,
/// closed before the result; a GET with `Last-Event-ID` gets the result.
/// The first resumption is closed empty again (with a new event id) to
/// check that the client keeps resuming from the newest id. Not
/// `resumable`: the answer to `tools/call` is one log notification
/// without an event id, then the end of the stream (a server that died
/// mid-call).
fn sse_retry_server(seen: Arc<Mutex<Resumption>>, resumable: bool) -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut call_id = Value::Null;
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut head, mut line) = (Vec::new(), String::new());
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                head.push(line.trim_end().to_ascii_lowercase());
                line.clear();
            }
            let header = |name: &str| {
                head.iter()
                    .find_map(|h| h.strip_prefix(&format!("{name}: ")).map(str::to_owned))
            };
            let len = header("content-length").map_or(0, |v| v.parse().unwrap());
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let sse =
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
            let mut out = stream;
            let method = head.first().cloned().unwrap_or_default();
            if method.starts_with("get") {
                let Some(last) = header("last-event-id") else {
                    // No standalone stream.
                    let _ = out.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                    continue;
                };
                let first = {
                    let mut s = seen.lock().unwrap();
                    s.resumed.push((Instant::now(), last));
                    s.resumed.len() == 1
                };
                let _ = out.write_all(sse.as_bytes());
                if first {
                    let _ = out.write_all(b"id: e2\nretry: 300\ndata: \n\n");
                    seen.lock().unwrap().closed_at = Some(Instant::now());
                } else {
                    let result = json!({"jsonrpc": "2.0", "id": call_id,
                        "result": {"content": [{"type": "text", "text": "resumed"}]}});
                    let _ = write!(out, "id: e3\ndata: {result}\n\n");
                }
                continue;
            }
            match request["method"].as_str() {
                Some("initialize") => {
                    let result = json!({"jsonrpc": "2.0", "id": request["id"], "result": {
                        "protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                        "serverInfo": {"name": "sse-retry", "version": "1"}}})
                    .to_string();
                    let _ = write!(
                        out,
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nmcp-session-id: s1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{result}",
                        result.len()
                    );
                }
                Some("tools/call") if !resumable => {
                    let _ = out.write_all(sse.as_bytes());
                    let _ = out.write_all(b"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"working\"}}\n\n");
                    seen.lock().unwrap().closed_at = Some(Instant::now());
                }
                Some("tools/call") => {
                    call_id = request["id"].clone();
                    let _ = out.write_all(sse.as_bytes());
                    let _ = out.write_all(b"id: e1\nretry: 300\ndata: \n\n");
                    seen.lock().unwrap().closed_at = Some(Instant::now());
                }
                _ => {
                    let _ = out.write_all(
                        b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                    );
                }
            }
        }
    });
    addr
}

fn sse_answer_resumed_after_the_servers_retry<R: McpRuntime>() {
    R::block_on(async {
        let seen = Arc::new(Mutex::new(Resumption::default()));
        let addr = sse_retry_server(seen.clone(), true);
        let mut config = McpClientConfig::default();
        config.session.jsonrpc.request_timeout = Some(Duration::from_secs(10));
        let client = R::connect_http(&format!("http://{addr}/"), config)
            .await
            .unwrap();
        let start = Instant::now();
        let result = client.call_tool("t", None).await.unwrap();
        assert_eq!(result.content[0].as_text(), Some("resumed"));
        // Two resumptions, each after the server's 300 ms, from the newest id.
        {
            let s = seen.lock().unwrap();
            let ids: Vec<&str> = s.resumed.iter().map(|(_, id)| id.as_str()).collect();
            assert_eq!(ids, ["e1", "e2"]);
            assert!(s.resumed[1].0 - s.closed_at.unwrap() >= Duration::from_millis(300));
            assert!(start.elapsed() >= Duration::from_millis(600));
        }
        client.close().await.unwrap();
    });
}

/// An SSE answer that ends before the response without an event id
/// cannot be resumed: the call fails at once, not at its deadline.
fn sse_answer_without_event_ids_fails_the_call_at_once<R: McpRuntime>() {
    R::block_on(async {
        let seen = Arc::new(Mutex::new(Resumption::default()));
        let addr = sse_retry_server(seen.clone(), false);
        let mut config = McpClientConfig::default();
        config.session.jsonrpc.request_timeout = Some(Duration::from_secs(30));
        let client = R::connect_http(&format!("http://{addr}/"), config)
            .await
            .unwrap();
        let start = Instant::now();
        let err = client.call_tool("t", None).await.unwrap_err();
        assert!(
            err.to_string().contains("no event id to resume it from"),
            "{err}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
        assert!(seen.lock().unwrap().resumed.is_empty());
        client.close().await.unwrap();
    });
}

/// What the silent SSE server saw: when each `tools/call` of `hang`
/// got its answer's head, and when the client closed that connection;
/// the `notifications/cancelled` it was sent.
#[derive(Debug, Default)]
struct Silent {
    hung: Vec<(Instant, Option<Instant>)>,
    cancelled: usize,
}

/// A Streamable HTTP server scripted on blocking sockets, like one that
/// does not end a request's SSE answer after `notifications/cancelled`
/// (the TypeScript SDK's server-everything keeps it open): `tools/call`
/// of `hang` gets a chunked SSE head and then nothing, ever, and of
/// `stall` not even a head (a server that answers with JSON when done); the
/// connection's thread records when the client closes it. Any other
/// call answers at once with JSON.
fn silent_sse_server(seen: Arc<Mutex<Silent>>) -> std::net::SocketAddr {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
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
                let mut out = stream;
                if head.first().is_some_and(|m| m.starts_with("get")) {
                    let _ = out.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                    return;
                }
                let json = |result: Value| {
                    let body = json!({"jsonrpc": "2.0", "id": request["id"], "result": result})
                        .to_string();
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nmcp-session-id: s1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                match (
                    request["method"].as_str(),
                    request["params"]["name"].as_str(),
                ) {
                    (Some("initialize"), _) => {
                        let _ = out.write_all(
                            json(json!({"protocolVersion": "2025-11-25",
                                "capabilities": {"tools": {}},
                                "serverInfo": {"name": "silent", "version": "1"}}))
                            .as_bytes(),
                        );
                    }
                    (Some("tools/call"), Some(name @ ("hang" | "stall"))) => {
                        if name == "hang" {
                            let _ = out.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n");
                        }
                        let slot = {
                            let mut s = seen.lock().unwrap();
                            s.hung.push((Instant::now(), None));
                            s.hung.len() - 1
                        };
                        // Silent until the client lets go.
                        let mut buf = [0; 1024];
                        while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
                        seen.lock().unwrap().hung[slot].1 = Some(Instant::now());
                    }
                    (Some("tools/call"), _) => {
                        let _ = out.write_all(
                            json(json!({"content": [{"type": "text", "text": "quick"}]}))
                                .as_bytes(),
                        );
                    }
                    (Some("notifications/cancelled"), _) => {
                        seen.lock().unwrap().cancelled += 1;
                        let _ = out.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                    }
                    _ => {
                        let _ = out.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                    }
                }
            });
        }
    });
    addr
}

/// Waits up to 2 s (polling) for the silent server to see the
/// connection of its `n`th hung call closed; how long after `since`.
async fn closed_after<R: McpRuntime>(
    rt: &R,
    seen: &Mutex<Silent>,
    n: usize,
    since: Instant,
) -> Option<Duration> {
    let give_up = Instant::now() + Duration::from_secs(2);
    loop {
        if let Some((_, Some(at))) = seen.lock().unwrap().hung.get(n) {
            return Some(at.saturating_duration_since(since));
        }
        if Instant::now() > give_up {
            return None;
        }
        // Sleeping on the runtime, so that the client's tasks run.
        within(rt, Duration::from_millis(10), std::future::pending::<()>()).await;
    }
}

/// A call that times out, and one the caller drops, let go of their SSE
/// answers at once (the connection closes) even though the server never
/// ends them, and so does a call that times out before its answer's
/// head; later calls still work.
fn given_up_call_closes_its_sse_answer<R: McpRuntime>() {
    R::block_on(async {
        let rt = R::new();
        let seen = Arc::new(Mutex::new(Silent::default()));
        let addr = silent_sse_server(seen.clone());
        let mut config = McpClientConfig::default();
        config.session.jsonrpc.request_timeout = Some(Duration::from_millis(300));
        let client = R::connect_http(&format!("http://{addr}/"), config)
            .await
            .unwrap();
        // Timed out.
        let e = client.call_tool("hang", None).await.unwrap_err();
        assert!(matches!(e, McpClientError::TimedOut), "{e:?}");
        let after = closed_after(&rt, &seen, 0, Instant::now()).await;
        assert!(
            after.is_some_and(|d| d < Duration::from_secs(1)),
            "the timed-out call's stream is still open: {after:?}"
        );
        // Cancelled: the caller stops waiting before the timeout.
        let gave_up = within(
            &rt,
            Duration::from_millis(100),
            client.call_tool("hang", None),
        )
        .await;
        assert!(gave_up.is_none());
        let after = closed_after(&rt, &seen, 1, Instant::now()).await;
        assert!(
            after.is_some_and(|d| d < Duration::from_secs(1)),
            "the cancelled call's stream is still open: {after:?}"
        );
        // A call timed out before the answer's head: its POST's connection
        // goes too.
        let e = client.call_tool("stall", None).await.unwrap_err();
        assert!(matches!(e, McpClientError::TimedOut), "{e:?}");
        let after = closed_after(&rt, &seen, 2, Instant::now()).await;
        assert!(
            after.is_some_and(|d| d < Duration::from_secs(1)),
            "the timed-out call's POST is still open: {after:?}"
        );
        // All got notifications/cancelled, and the session goes on.
        let start = Instant::now();
        while seen.lock().unwrap().cancelled < 3 && start.elapsed() < Duration::from_secs(2) {
            within(&rt, Duration::from_millis(10), std::future::pending::<()>()).await;
        }
        assert_eq!(seen.lock().unwrap().cancelled, 3);
        let r = client.call_tool("quick", None).await.unwrap();
        assert_eq!(r.content[0].as_text(), Some("quick"));
        client.close().await.unwrap();
    });
}

fn stateless_era_against_our_server<R: McpRuntime>() {
    R::block_on(async {
        let rt = R::new();
        let shutdown = Shutdown::new();
        let handler = server().http(rt.clone(), Default::default());
        let (addr, served) = R::serve(handler, shutdown.clone()).await;
        let url = format!("http://{addr}/");
        // Detection (the default) finds the stateless era: no initialize,
        // no session.
        let client = R::connect_http(&url, McpClientConfig::default())
            .await
            .unwrap();
        assert_eq!(client.protocol_version(), Some("2026-07-28"));
        client.close().await.unwrap();
        // Forcing the era gives the same.
        let mut c = config();
        c.session.era = Era::Stateless;
        let client = R::connect_http(&url, c).await.unwrap();
        assert_eq!(client.protocol_version(), Some("2026-07-28"));
        assert_eq!(
            client.server_info().unwrap().server_info.name,
            "test-server"
        );
        let names: Vec<String> = client
            .list_all_tools()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.name)
            .collect();
        assert!(names.contains(&"echo".to_owned()), "{names:?}");
        let mut args = Map::new();
        args.insert("text".into(), json!("hi"));
        let r = client.call_tool("echo", Some(args)).await.unwrap();
        assert!(r.content[0].as_text().unwrap().contains("hi"));
        let e = client.call_tool("nope", None).await.unwrap_err();
        assert!(matches!(e, McpClientError::Rpc(_)), "{e:?}");
        client.close().await.unwrap();
        // Forcing the legacy era, the same server speaks it.
        let legacy = R::connect_http(&url, config()).await.unwrap();
        assert_eq!(legacy.protocol_version(), Some("2025-11-25"));
        legacy.close().await.unwrap();
        shutdown.trigger();
        let _ = within(&rt, Duration::from_secs(5), served).await;
    });
}

macro_rules! suite {
    ($name:ident, $rt:ty) => {
        mod $name {
            #[test]
            fn stdio_in_process() {
                super::stdio_in_process::<$rt>()
            }
            #[test]
            fn streamable_http() {
                super::streamable_http::<$rt>()
            }
            #[test]
            fn child_exits_when_stdin_closes() {
                super::child_exits_when_stdin_closes::<$rt>()
            }
            #[test]
            fn child_killed_after_the_shutdown_timeout() {
                super::child_killed_after_the_shutdown_timeout::<$rt>()
            }
            #[test]
            fn sse_answer_resumed_after_the_servers_retry() {
                super::sse_answer_resumed_after_the_servers_retry::<$rt>()
            }
            #[test]
            fn sse_answer_without_event_ids_fails_the_call_at_once() {
                super::sse_answer_without_event_ids_fails_the_call_at_once::<$rt>()
            }
            #[test]
            fn given_up_call_closes_its_sse_answer() {
                super::given_up_call_closes_its_sse_answer::<$rt>()
            }
            #[test]
            fn stateless_era_against_our_server() {
                super::stateless_era_against_our_server::<$rt>()
            }
        }
    };
}

suite!(on_tokio, wirestate_tokio::TokioRuntime);
suite!(on_smol, wirestate_smol::SmolRuntime);
