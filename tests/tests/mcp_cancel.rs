//! A tool handler stops when its request is cancelled: MCP's
//! `notifications/cancelled` asks the server to stop work on the request,
//! and its answer is dropped anyway. The async server (`wirestate-rt`'s
//! `McpServer`, on tokio) drops the handler's future at its next `.await`
//! and `RequestContext::is_cancelled` says so between awaits — over stdio
//! (the client's notification) and Streamable HTTP (our client's call
//! timing out, which sends the notification; and the session's DELETE).
//! Before, the handler ran to its end, whatever the client said.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use wirestate_rt::Shutdown;
use wirestate_rt::mcp::{McpServer, RequestContext, ToolError};
use wirestate_rt::mcp_client::{McpClientConfig, McpClientError};

/// Arguments of `spin`.
#[derive(Debug, Deserialize, JsonSchema)]
struct SpinArgs {
    /// How many 10 ms steps to run.
    steps: u32,
}

/// What the test sees of the `spin` handler: how many steps it made,
/// whether it ended (its future dropped or finished).
#[derive(Default)]
struct Seen {
    steps: AtomicUsize,
    ended: AtomicBool,
}

/// Sets `ended` when the handler's future goes, however it goes.
struct EndGuard(Arc<Seen>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.0.ended.store(true, Ordering::SeqCst);
    }
}

fn server(seen: Arc<Seen>) -> McpServer {
    McpServer::builder()
        .name("mcp-cancel-test", "0.0.1")
        .tool_with_context(
            "spin",
            "Counts steps of 10 ms.",
            move |ctx: RequestContext, a: SpinArgs| {
                let seen = seen.clone();
                async move {
                    let _guard = EndGuard(seen.clone());
                    for _ in 0..a.steps {
                        ctx.sleep(Duration::from_millis(10)).await;
                        seen.steps.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok::<_, ToolError>("spun".to_string())
                }
            },
        )
        .build()
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(10), "{what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The handler stopped and stays stopped: its step count no longer moves.
async fn check_stopped(seen: &Seen) {
    wait_for("the handler did not stop after the cancellation", || {
        seen.ended.load(Ordering::SeqCst)
    })
    .await;
    let steps = seen.steps.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(seen.steps.load(Ordering::SeqCst), steps);
    assert!(steps < 500, "it ran to its end: {steps} steps");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_cancelled_call_stops_its_handler_on_stdio() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let seen = Arc::new(Seen::default());
    let server = server(seen.clone());
    runtime().block_on(async {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let served = tokio::spawn(async move {
            server
                .serve_io(
                    wirestate_tokio::TokioRuntime,
                    wirestate_tokio::TokioIo(theirs),
                )
                .await
        });
        let (rd, mut wr) = tokio::io::split(ours);
        let mut lines = tokio::io::BufReader::new(rd).lines();
        let mut send = async |v: Value| {
            let mut line = serde_json::to_vec(&v).unwrap();
            line.push(b'\n');
            wr.write_all(&line).await.unwrap();
        };
        send(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"}}}),
        )
        .await;
        send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
        send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "spin", "arguments": {"steps": 500}}}))
        .await;
        wait_for("the handler did not start", || {
            seen.steps.load(Ordering::SeqCst) >= 2
        })
        .await;
        send(
            json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": 2, "reason": "enough"}}),
        )
        .await;
        check_stopped(&seen).await;
        // The session goes on, and the cancelled call got no answer.
        send(json!({"jsonrpc": "2.0", "id": 3, "method": "ping"})).await;
        let mut ids = Vec::new();
        while !ids.contains(&json!(3)) {
            let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
                .await
                .expect("no answer to the ping")
                .unwrap()
                .expect("the server ended");
            let v: Value = serde_json::from_str(&line).unwrap();
            ids.push(v["id"].clone());
        }
        assert_eq!(ids, [json!(1), json!(3)]);
        served.abort();
    });
}

/// Work a handler hands to a thread of its own (blocking computation)
/// outlives the handler's future: it looks at `is_cancelled` to stop.
#[test]
fn blocking_work_sees_is_cancelled() {
    use tokio::io::AsyncWriteExt;
    let stopped = Arc::new(AtomicBool::new(false));
    let seen = stopped.clone();
    let server = McpServer::builder()
        .name("mcp-cancel-test", "0.0.1")
        .tool_with_context(
            "crunch",
            "Computes on a blocking thread until cancelled.",
            move |ctx: RequestContext, _: SpinArgs| {
                let seen = seen.clone();
                async move {
                    let work = tokio::task::spawn_blocking(move || {
                        for _ in 0..2000 {
                            if ctx.is_cancelled() {
                                seen.store(true, Ordering::SeqCst);
                                return;
                            }
                            std::thread::sleep(Duration::from_millis(5));
                        }
                    });
                    let _ = work.await;
                    Ok::<_, ToolError>(String::new())
                }
            },
        )
        .build();
    runtime().block_on(async {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let served = tokio::spawn(async move {
            server
                .serve_io(
                    wirestate_tokio::TokioRuntime,
                    wirestate_tokio::TokioIo(theirs),
                )
                .await
        });
        let (_rd, mut wr) = tokio::io::split(ours);
        let input = [
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"}}}),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "crunch", "arguments": {"steps": 1}}}),
        ];
        for v in input {
            let mut line = serde_json::to_vec(&v).unwrap();
            line.push(b'\n');
            wr.write_all(&line).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!stopped.load(Ordering::SeqCst));
        let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": {"requestId": 2}});
        let mut line = serde_json::to_vec(&cancel).unwrap();
        line.push(b'\n');
        wr.write_all(&line).await.unwrap();
        // Well before its 10 s of work.
        wait_for("the blocking work did not see the cancellation", || {
            stopped.load(Ordering::SeqCst)
        })
        .await;
        served.abort();
    });
}

#[test]
fn a_call_that_times_out_stops_its_handler_over_http_legacy() {
    call_times_out_over_http(wirestate_mcp::Era::Legacy);
}

/// In the 2026-07-28 era the client's hang-up is the cancellation: the
/// HTTP/1.1 server drops a stateless request's handler when its client
/// hangs up (as it does for gRPC-Web), which ends its one-request session.
#[test]
fn a_call_that_times_out_stops_its_handler_over_http_2026() {
    call_times_out_over_http(wirestate_mcp::Era::Stateless);
}

fn call_times_out_over_http(era: wirestate_mcp::Era) {
    let seen = Arc::new(Seen::default());
    let handler = server(seen.clone()).http(wirestate_tokio::TokioRuntime, Default::default());
    runtime().block_on(async {
        let stop = Shutdown::new();
        let listener = wirestate_tokio::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = wirestate_rt::Listener::local_addr(&listener).unwrap();
        let stopped = stop.clone();
        let served = tokio::spawn(async move {
            wirestate_tokio::serve(listener, handler, Default::default(), stopped).await
        });
        let mut config = McpClientConfig::default();
        config.session.jsonrpc.request_timeout = Some(Duration::from_millis(300));
        config.session.era = era;
        let url = format!("http://{addr}/");
        let client = wirestate_tokio::mcp::connect_http(&url, config)
            .await
            .expect("connect");
        let mut args = serde_json::Map::new();
        args.insert("steps".into(), json!(500));
        let e = client.call_tool("spin", Some(args)).await.unwrap_err();
        assert!(matches!(e, McpClientError::TimedOut), "{e:?}");
        check_stopped(&seen).await;
        let _ = client.close().await;
        stop.trigger();
        served.abort();
    });
}

// ---- the blocking runtime's server ----

/// `spin` on `wirestate_blocking::mcp_server`: a blocking handler can only
/// stop itself, so it looks at `is_cancelled` between its steps.
fn blocking_server(seen: Arc<Seen>) -> wirestate_blocking::mcp_server::McpServer {
    use wirestate_blocking::mcp_server as b;
    b::McpServer::builder()
        .name("mcp-cancel-test", "0.0.1")
        .tool_with_context(
            "spin",
            "Counts steps of 10 ms until cancelled.",
            move |ctx: &b::RequestContext, a: SpinArgs| {
                let _guard = EndGuard(seen.clone());
                for _ in 0..a.steps {
                    if ctx.is_cancelled() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                    seen.steps.fetch_add(1, Ordering::SeqCst);
                }
                Ok::<_, ToolError>("spun".to_string())
            },
        )
        .build()
}

fn line(v: &Value) -> Vec<u8> {
    let mut line = serde_json::to_vec(v).unwrap();
    line.push(b'\n');
    line
}

#[test]
fn a_cancelled_call_is_seen_by_a_blocking_handler_on_stdio() {
    use std::io::{BufRead, Write};
    let seen = Arc::new(Seen::default());
    let server = blocking_server(seen.clone());
    let (in_r, mut in_w) = std::io::pipe().unwrap();
    let (out_r, out_w) = std::io::pipe().unwrap();
    let served = std::thread::spawn(move || server.serve_io(in_r, out_w));
    for v in [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "spin", "arguments": {"steps": 500}}}),
    ] {
        in_w.write_all(&line(&v)).unwrap();
    }
    let start = Instant::now();
    while seen.steps.load(Ordering::SeqCst) < 2 {
        assert!(start.elapsed() < Duration::from_secs(10), "not started");
        std::thread::sleep(Duration::from_millis(5));
    }
    in_w.write_all(&line(&json!({"jsonrpc": "2.0",
        "method": "notifications/cancelled", "params": {"requestId": 2}})))
        .unwrap();
    while !seen.ended.load(Ordering::SeqCst) {
        assert!(start.elapsed() < Duration::from_secs(10), "not ended");
        std::thread::sleep(Duration::from_millis(5));
    }
    let steps = seen.steps.load(Ordering::SeqCst);
    assert!(steps < 500, "it ran to its end: {steps} steps");
    in_w.write_all(&line(&json!({"jsonrpc": "2.0", "id": 3, "method": "ping"})))
        .unwrap();
    drop(in_w);
    let ids: Vec<Value> = std::io::BufReader::new(out_r)
        .lines()
        .map(|l| serde_json::from_str::<Value>(&l.unwrap()).unwrap()["id"].clone())
        .collect();
    assert_eq!(
        ids,
        [json!(1), json!(3)],
        "the cancelled call is not answered"
    );
    served.join().unwrap().unwrap();
}

/// Over Streamable HTTP on the blocking server: a session's DELETE
/// cancels its calls in progress.
#[test]
fn a_deleted_session_cancels_its_calls_on_the_blocking_server() {
    use wirestate_blocking::{BlockingBody, Server};
    let seen = Arc::new(Seen::default());
    let mcp = blocking_server(seen.clone()).http(Default::default());
    let server = Server::bind("127.0.0.1:0", Default::default()).unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.handle();
    let served = std::thread::spawn(move || {
        let _ = server.serve(move |req: http::Request<BlockingBody>| mcp.handle(req));
    });
    runtime().block_on(async {
        let mut config = McpClientConfig::default();
        config.session.era = wirestate_mcp::Era::Legacy;
        config.session.jsonrpc.request_timeout = Some(Duration::from_secs(20));
        let url = format!("http://{addr}/");
        let client = wirestate_tokio::mcp::connect_http(&url, config)
            .await
            .expect("connect");
        let mut args = serde_json::Map::new();
        args.insert("steps".into(), json!(500));
        let call = {
            let client = client.clone();
            tokio::spawn(async move { client.call_tool("spin", Some(args)).await })
        };
        wait_for("the handler did not start", || {
            seen.steps.load(Ordering::SeqCst) >= 2
        })
        .await;
        // close() sends DELETE.
        let _ = client.close().await;
        check_stopped(&seen).await;
        call.abort();
    });
    handle.shutdown();
    let _ = served.join();
}

/// The same on the async server: a session's DELETE drops its handlers.
#[test]
fn a_deleted_session_cancels_its_calls() {
    let seen = Arc::new(Seen::default());
    let handler = server(seen.clone()).http(wirestate_tokio::TokioRuntime, Default::default());
    runtime().block_on(async {
        let stop = Shutdown::new();
        let listener = wirestate_tokio::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = wirestate_rt::Listener::local_addr(&listener).unwrap();
        let stopped = stop.clone();
        let served = tokio::spawn(async move {
            wirestate_tokio::serve(listener, handler, Default::default(), stopped).await
        });
        let mut config = McpClientConfig::default();
        config.session.era = wirestate_mcp::Era::Legacy;
        config.session.jsonrpc.request_timeout = Some(Duration::from_secs(20));
        let client = wirestate_tokio::mcp::connect_http(&format!("http://{addr}/"), config)
            .await
            .expect("connect");
        let mut args = serde_json::Map::new();
        args.insert("steps".into(), json!(500));
        let call = {
            let client = client.clone();
            tokio::spawn(async move { client.call_tool("spin", Some(args)).await })
        };
        wait_for("the handler did not start", || {
            seen.steps.load(Ordering::SeqCst) >= 2
        })
        .await;
        let _ = client.close().await;
        check_stopped(&seen).await;
        call.abort();
        stop.trigger();
        served.abort();
    });
}
