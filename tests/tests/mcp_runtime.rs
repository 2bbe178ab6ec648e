//! MCP on the async runtimes, over real sockets: `McpServer::http` mounted
//! in the rt HTTP/1.1 server on 127.0.0.1 (tokio, smol), spoken to with our
//! own HTTP/1.1 client — initialize and its session id, tools/list with the
//! schemars schemas, a typed tool call, a tool that logs and reports
//! progress answered as SSE (decoded with `SseDecoder`), DELETE then 404, a
//! bad Origin, an SSE answer cut mid-stream and resumed with GET and
//! `Last-Event-ID` — and `McpServer::serve_io` over an in-memory duplex (tokio)
//! and a Unix socket pair (smol); and the same scenarios against the
//! blocking runtime's server (`wirestate_blocking::mcp_server`: Streamable
//! HTTP on the blocking server, stdio over OS pipes). Every server has
//! handlers that panic (a tool at once, a tool after a wait, a prompt
//! handler before it makes its future): each such request is answered
//! -32603 and the server goes on.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use wirestate_codec::SseDecoder;
use wirestate_mcp::HttpConfig;
use wirestate_mcp::schema::{GetPromptResult, LoggingLevel, Prompt};
use wirestate_rt::http1::{Client, ClientConfig, ServerConfig};
use wirestate_rt::mcp::{McpHttp, McpServer, RequestContext, Structured, ToolError, schema_of};
use wirestate_rt::{Body, Runtime, Shutdown};

const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// Arguments of `add`.
#[derive(Debug, Deserialize, JsonSchema)]
struct AddArgs {
    /// The first number.
    a: f64,
    /// The second number.
    b: f64,
}

/// The structured result of `add`.
#[derive(Debug, Serialize, JsonSchema)]
struct Sum {
    /// a + b.
    sum: f64,
}

/// Arguments of `work`.
#[derive(Debug, Deserialize, JsonSchema)]
struct WorkArgs {
    steps: u32,
}

fn server() -> McpServer {
    McpServer::builder()
        .name("mcp-runtime-test", "0.0.1")
        .instructions("test server")
        .tool("add", "Adds two numbers.", |a: AddArgs| async move {
            Ok::<_, ToolError>(Structured(Sum { sum: a.a + a.b }))
        })
        .tool_with_context(
            "work",
            "Logs and reports progress for each step, then answers.",
            |ctx: RequestContext, a: WorkArgs| async move {
                for i in 1..=a.steps {
                    ctx.log(LoggingLevel::Info, Some("work"), json!(format!("step {i}")));
                    ctx.progress(f64::from(i), Some(f64::from(a.steps)), None);
                    ctx.sleep(Duration::from_millis(20)).await;
                }
                Ok::<_, ToolError>(format!("did {} steps", a.steps))
            },
        )
        // Panics in the first poll, where the request arrived.
        .tool("boom", "Panics.", |_: AddArgs| async move {
            if true {
                panic!("boom (expected by the test)");
            }
            Ok::<_, ToolError>(String::new())
        })
        // Panics in a later poll, in the handler's task.
        .tool_with_context(
            "boom_later",
            "Panics after a wait.",
            |ctx: RequestContext, _: AddArgs| async move {
                ctx.sleep(Duration::from_millis(10)).await;
                if true {
                    panic!("boom later (expected by the test)");
                }
                Ok::<_, ToolError>(String::new())
            },
        )
        // Panics before it returns its future.
        .prompt(
            boom_prompt(),
            |_: RequestContext,
             _: BTreeMap<String, String>|
             -> std::future::Ready<Result<GetPromptResult, ToolError>> {
                panic!("boom prompt (expected by the test)")
            },
        )
        .build()
}

/// A prompt whose handler panics.
fn boom_prompt() -> Prompt {
    serde_json::from_value(json!({"name": "boom"})).unwrap()
}

/// The answers to the requests of handlers that panicked: -32603, and
/// nothing else about the panic.
fn check_panicked(response: &Value) {
    assert_eq!(response["error"]["code"], -32603, "{response}");
    assert_eq!(
        response["error"]["message"], "the handler panicked",
        "{response}"
    );
    assert!(response.get("result").is_none(), "{response}");
}

fn router<R: Runtime>(
    mcp: McpHttp<R>,
) -> impl Fn(Request<Body>) -> wirestate_rt::BoxFuture<Response<Body>> + Clone + Send + Sync + 'static
{
    move |req: Request<Body>| {
        let mcp = mcp.clone();
        Box::pin(async move {
            if req.uri().path() == "/mcp" {
                mcp.handle(req).await
            } else {
                Response::builder().status(404).body(Body::empty()).unwrap()
            }
        })
    }
}

/// A server on its own thread; stopped on drop.
struct Running {
    addr: SocketAddr,
    shutdown: Shutdown,
    done: mpsc::Receiver<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.trigger();
        let _ = self.done.recv_timeout(Duration::from_secs(10));
    }
}

fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
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
            let mcp = server().http(wirestate_tokio::TokioRuntime, HttpConfig::default());
            wirestate_tokio::serve(l, router(mcp), ServerConfig::default(), sd)
                .await
                .unwrap();
        });
        let _ = tx.send(());
    });
    Running {
        addr,
        shutdown,
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
            let mcp = server().http(wirestate_smol::SmolRuntime::new(), HttpConfig::default());
            wirestate_smol::serve(l, router(mcp), ServerConfig::default(), sd)
                .await
                .unwrap();
        });
        let _ = tx.send(());
    });
    Running {
        addr,
        shutdown,
        done,
    }
}

/// A response with its whole body.
struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or("")
    }

    /// The JSON-RPC messages of the body (JSON or SSE), and the SSE events.
    fn messages(&self) -> Vec<Value> {
        if self.content_type().starts_with("text/event-stream") {
            sse_events(&self.body)
                .into_iter()
                .filter(|e| !e.data.is_empty())
                .map(|e| serde_json::from_str(&e.data).unwrap())
                .collect()
        } else if self.body.is_empty() {
            Vec::new()
        } else {
            match serde_json::from_slice(&self.body).unwrap() {
                Value::Array(v) => v,
                v => vec![v],
            }
        }
    }

    /// The one response with this id.
    fn response(&self, id: u64) -> Value {
        let mut found: Vec<Value> = self
            .messages()
            .into_iter()
            .filter(|m| m.get("id") == Some(&json!(id)) && m.get("method").is_none())
            .collect();
        assert_eq!(found.len(), 1, "one response {id} in {:?}", self.body);
        found.remove(0)
    }
}

/// Decodes a whole SSE body, fed in small pieces.
fn sse_events(body: &[u8]) -> Vec<wirestate_codec::SseEvent> {
    let mut d = SseDecoder::new();
    let mut out = Vec::new();
    for piece in body.chunks(7) {
        d.push(piece);
        while let Some(e) = d.next_event() {
            out.push(e.unwrap());
        }
    }
    if let Some(e) = d.finish() {
        out.push(e.unwrap());
    }
    out
}

struct Peer<R: Runtime> {
    client: Client<R>,
    url: String,
}

impl<R: Runtime> Peer<R> {
    async fn send(
        &self,
        method: &str,
        session: Option<&str>,
        headers: &[(&'static str, &'static str)],
        body: Option<Value>,
    ) -> Answer {
        let mut b = Request::builder().method(method).uri(&self.url);
        if body.is_some() {
            b = b
                .header("content-type", "application/json")
                .header("accept", ACCEPT_BOTH);
        }
        if let Some(s) = session {
            b = b
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", "2025-11-25");
        }
        let body = match body {
            Some(v) => Body::from(serde_json::to_vec(&v).unwrap()),
            None => Body::empty(),
        };
        let mut req = b.body(body).unwrap();
        for (k, v) in headers {
            req.headers_mut().insert(
                http::HeaderName::from_static(k),
                http::HeaderValue::from_static(v),
            );
        }
        let resp = self.client.request(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let body = body.collect(1 << 20).await.unwrap();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    async fn post(&self, session: Option<&str>, message: Value) -> Answer {
        self.send("POST", session, &[], Some(message)).await
    }
}

fn initialize(id: u64) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "wirestate-test", "version": "0"}
        }
    })
}

async fn streamable_http<R: Runtime>(client: Client<R>, addr: SocketAddr) {
    let peer = Peer {
        client,
        url: format!("http://{addr}/mcp"),
    };

    // initialize → a session id.
    let a = peer.post(None, initialize(1)).await;
    assert_eq!(a.status, StatusCode::OK);
    let sid = a
        .header("mcp-session-id")
        .expect("Mcp-Session-Id")
        .to_owned();
    assert_eq!(sid.len(), 32, "{sid}");
    assert!(sid.bytes().all(|b| b.is_ascii_hexdigit()), "{sid}");
    let r = a.response(1);
    assert_eq!(r["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(r["result"]["serverInfo"]["name"], "mcp-runtime-test");
    assert_eq!(r["result"]["instructions"], "test server");
    assert!(r["result"]["capabilities"]["tools"].is_object());

    let a = peer
        .post(
            Some(&sid),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED);
    let sid = Some(sid.as_str());

    // tools/list: the schemas generated by schemars.
    let a = peer
        .post(
            sid,
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let r = a.response(2);
    let tools = r["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["add", "work", "boom", "boom_later"]);
    let add = &tools[0];
    assert_eq!(add["description"], "Adds two numbers.");
    assert_eq!(add["inputSchema"], Value::Object(schema_of::<AddArgs>()));
    assert_eq!(add["inputSchema"]["type"], "object");
    assert_eq!(add["inputSchema"]["properties"]["a"]["type"], "number");
    assert_eq!(
        add["inputSchema"]["properties"]["b"]["description"],
        "The second number."
    );
    assert_eq!(add["inputSchema"]["required"], json!(["a", "b"]));
    assert_eq!(add["outputSchema"], Value::Object(schema_of::<Sum>()));
    assert_eq!(add["outputSchema"]["properties"]["sum"]["type"], "number");
    assert_eq!(add["outputSchema"]["required"], json!(["sum"]));
    assert_eq!(tools[1]["inputSchema"]["required"], json!(["steps"]));
    assert!(tools[1].get("outputSchema").is_none());

    // tools/call of the typed tool: structured content.
    let a = peer
        .post(
            sid,
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                   "params": {"name": "add", "arguments": {"a": 2, "b": 40.5}}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let r = a.response(3);
    assert_eq!(r["result"]["structuredContent"], json!({"sum": 42.5}));
    assert!(r["result"].get("isError").is_none_or(|v| v == false), "{r}");
    // Bad arguments: an isError result, not a JSON-RPC error.
    let a = peer
        .post(
            sid,
            json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
                   "params": {"name": "add", "arguments": {"a": "x"}}}),
        )
        .await;
    assert_eq!(a.response(4)["result"]["isError"], true);
    // Handlers that panic: -32603, and the session goes on.
    for (id, method, name) in [
        (40, "tools/call", "boom"),
        (41, "tools/call", "boom_later"),
        (42, "prompts/get", "boom"),
    ] {
        let params = if method == "tools/call" {
            json!({"name": name, "arguments": {"a": 1, "b": 2}})
        } else {
            json!({"name": name})
        };
        let a = peer
            .post(
                sid,
                json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{id}");
        check_panicked(&a.response(id));
    }

    // A tool that logs and reports progress: an SSE answer, the
    // notifications before the response.
    let a = peer
        .post(
            sid,
            json!({"jsonrpc": "2.0", "id": 5, "method": "logging/setLevel",
                   "params": {"level": "debug"}}),
        )
        .await;
    assert_eq!(a.response(5)["result"], json!({}));
    let a = peer
        .post(
            sid,
            json!({"jsonrpc": "2.0", "id": 6, "method": "tools/call",
                   "params": {"name": "work", "arguments": {"steps": 3},
                              "_meta": {"progressToken": "tok"}}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.content_type().starts_with("text/event-stream"),
        "{}",
        a.content_type()
    );
    let events = sse_events(&a.body);
    // The priming event: an id and no data.
    assert!(
        events[0].id.is_some() && events[0].data.is_empty(),
        "{events:?}"
    );
    assert!(events.iter().all(|e| e.id.is_some()), "{events:?}");
    let msgs = a.messages();
    let methods: Vec<&str> = msgs
        .iter()
        .map(|m| {
            m.get("method")
                .and_then(Value::as_str)
                .unwrap_or("response")
        })
        .collect();
    assert_eq!(
        methods,
        [
            "notifications/message",
            "notifications/progress",
            "notifications/message",
            "notifications/progress",
            "notifications/message",
            "notifications/progress",
            "response"
        ],
        "{msgs:?}"
    );
    assert_eq!(msgs[0]["params"]["data"], "step 1");
    assert_eq!(msgs[0]["params"]["level"], "info");
    assert_eq!(msgs[5]["params"]["progressToken"], "tok");
    assert_eq!(msgs[5]["params"]["progress"], 3.0);
    assert_eq!(msgs[5]["params"]["total"], 3.0);
    assert_eq!(msgs[6]["id"], 6);
    assert_eq!(msgs[6]["result"]["content"][0]["text"], "did 3 steps");

    // With Accept: application/json only, the same call is one JSON body.
    let a = peer
        .send(
            "POST",
            sid,
            &[("accept", "application/json")],
            Some(json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                        "params": {"name": "work", "arguments": {"steps": 1}}})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.content_type().starts_with("application/json"));
    assert_eq!(a.response(7)["result"]["content"][0]["text"], "did 1 steps");

    // Unknown tool: -32602, in-band.
    let a = peer
        .post(
            sid,
            json!({"jsonrpc": "2.0", "id": 8, "method": "tools/call",
                   "params": {"name": "nope", "arguments": {}}}),
        )
        .await;
    assert_eq!(a.response(8)["error"]["code"], -32602);

    // A bad Origin: 403, whatever the session.
    let a = peer
        .send(
            "POST",
            sid,
            &[("origin", "http://evil.example")],
            Some(json!({"jsonrpc": "2.0", "id": 9, "method": "ping"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = peer
        .send(
            "POST",
            None,
            &[("origin", "https://evil.example:8443")],
            Some(initialize(1)),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.header("mcp-session-id").is_none());
    // A loopback Origin is served.
    let a = peer
        .send(
            "POST",
            sid,
            &[("origin", "http://localhost:5173")],
            Some(json!({"jsonrpc": "2.0", "id": 10, "method": "ping"})),
        )
        .await;
    assert_eq!(a.response(10)["result"], json!({}));

    // No session: 400; an unknown one: 404.
    let a = peer
        .post(None, json!({"jsonrpc": "2.0", "id": 11, "method": "ping"}))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let a = peer
        .post(
            Some(&"f".repeat(32)),
            json!({"jsonrpc": "2.0", "id": 12, "method": "ping"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);

    // DELETE ends the session; then 404.
    let a = peer.send("DELETE", sid, &[], None).await;
    assert!(a.status.is_success(), "{}", a.status);
    let a = peer
        .post(sid, json!({"jsonrpc": "2.0", "id": 13, "method": "ping"}))
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = peer.send("DELETE", sid, &[], None).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

/// A client whose SSE answer is cut after the first notification resumes
/// with GET and `Last-Event-ID`: it gets the rest of the stream (and
/// nothing it saw) and the response.
async fn resume_after_disconnect<R: Runtime>(client: Client<R>, addr: SocketAddr) {
    let peer = Peer {
        client,
        url: format!("http://{addr}/mcp"),
    };
    let a = peer.post(None, initialize(1)).await;
    let id = a.header("mcp-session-id").unwrap().to_owned();
    let sid = Some(id.as_str());
    peer.post(
        sid,
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    peer.post(
        sid,
        json!({"jsonrpc": "2.0", "id": 2, "method": "logging/setLevel", "params": {"level": "info"}}),
    )
    .await;

    let req = Request::post(&peer.url)
        .header("content-type", "application/json")
        .header("accept", ACCEPT_BOTH)
        .header("mcp-session-id", &id)
        .header("mcp-protocol-version", "2025-11-25")
        .body(Body::from(
            serde_json::to_vec(&json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": {"name": "work", "arguments": {"steps": 5}}}))
            .unwrap(),
        ))
        .unwrap();
    let resp = peer.client.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let mut d = SseDecoder::new();
    let mut seen = Vec::new();
    while seen
        .iter()
        .all(|e: &wirestate_codec::SseEvent| e.data.is_empty())
    {
        let chunk = body.chunk().await.expect("stream ended early").unwrap();
        d.push(&chunk);
        while let Some(e) = d.next_event() {
            seen.push(e.unwrap());
        }
    }
    // Priming, then the first log: cut here.
    let first: Value = serde_json::from_str(&seen.last().unwrap().data).unwrap();
    assert_eq!(first["params"]["data"], "step 1", "{seen:?}");
    let last_id = d.last_event_id().to_owned();
    assert!(!last_id.is_empty());
    drop(body);

    // Resume: GET with the last id seen; the headers are not static.
    let req = Request::get(&peer.url)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", &id)
        .header("mcp-protocol-version", "2025-11-25")
        .header("last-event-id", &last_id)
        .body(Body::empty())
        .unwrap();
    let resp = peer.client.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (parts, body) = resp.into_parts();
    let a = Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect(1 << 20).await.unwrap(),
    };
    assert!(a.content_type().starts_with("text/event-stream"));
    let msgs = a.messages();
    let logs: Vec<&Value> = msgs
        .iter()
        .filter(|m| m["method"] == "notifications/message")
        .map(|m| &m["params"]["data"])
        .collect();
    assert_eq!(
        logs,
        ["step 2", "step 3", "step 4", "step 5"],
        "{msgs:?} after {last_id}"
    );
    assert_eq!(msgs.last().unwrap()["id"], 3, "{msgs:?}");
    assert_eq!(
        msgs.last().unwrap()["result"]["content"][0]["text"],
        "did 5 steps"
    );
    // The session is still served.
    let a = peer
        .post(sid, json!({"jsonrpc": "2.0", "id": 4, "method": "ping"}))
        .await;
    assert_eq!(a.response(4)["result"], json!({}));
}

#[test]
fn streamable_http_tokio() {
    let srv = start_tokio();
    let addr = srv.addr;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let client = wirestate_tokio::client(ClientConfig::default());
            tokio::time::timeout(Duration::from_secs(30), streamable_http(client, addr))
                .await
                .expect("the MCP exchange timed out");
        });
}

#[test]
fn resume_after_disconnect_tokio() {
    let srv = start_tokio();
    let addr = srv.addr;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let client = wirestate_tokio::client(ClientConfig::default());
            tokio::time::timeout(
                Duration::from_secs(30),
                resume_after_disconnect(client, addr),
            )
            .await
            .expect("the MCP exchange timed out");
        });
}

#[test]
fn resume_after_disconnect_smol() {
    let srv = start_smol();
    let addr = srv.addr;
    smol::block_on(async move {
        let client = wirestate_smol::client(ClientConfig::default());
        futures_lite::future::or(resume_after_disconnect(client, addr), async {
            smol::Timer::after(Duration::from_secs(30)).await;
            panic!("the MCP exchange timed out");
        })
        .await;
    });
}

#[test]
fn streamable_http_smol() {
    let srv = start_smol();
    let addr = srv.addr;
    smol::block_on(async move {
        let client = wirestate_smol::client(ClientConfig::default());
        futures_lite::future::or(streamable_http(client, addr), async {
            smol::Timer::after(Duration::from_secs(30)).await;
            panic!("the MCP exchange timed out");
        })
        .await;
    });
}

// ---- stdio: serve_io over a byte stream ----

/// What the client writes: initialize, initialized, then requests sent
/// before the initialize answer was read (the server takes them in order).
fn stdio_input() -> Vec<u8> {
    let lines = [
        initialize(1),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "logging/setLevel", "params": {"level": "info"}}),
        json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call",
               "params": {"name": "work", "arguments": {"steps": 2}, "_meta": {"progressToken": 9}}}),
        json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
               "params": {"name": "add", "arguments": {"a": 1, "b": 2}}}),
        json!({"jsonrpc": "2.0", "id": 6, "method": "no/such"}),
        json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
               "params": {"name": "boom", "arguments": {"a": 1, "b": 2}}}),
        json!({"jsonrpc": "2.0", "id": 10, "method": "tools/call",
               "params": {"name": "boom_later", "arguments": {"a": 1, "b": 2}}}),
        json!({"jsonrpc": "2.0", "id": 11, "method": "prompts/get",
               "params": {"name": "boom"}}),
    ];
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(&serde_json::to_vec(&l).unwrap());
        out.push(b'\n');
    }
    // Malformed JSON: a -32700 error with a null id, and the server goes on.
    out.extend_from_slice(b"{\"jsonrpc\": \"2.0\", \"id\": 7,\n");
    out.extend_from_slice(b"{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\"}\n");
    out
}

fn check_stdio_output(out: &[u8]) {
    let text = std::str::from_utf8(out).unwrap();
    assert!(text.ends_with('\n'), "{text}");
    let msgs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let response = |id: u64| {
        let found: Vec<&Value> = msgs
            .iter()
            .filter(|m| m.get("id") == Some(&json!(id)) && m.get("method").is_none())
            .collect();
        assert_eq!(found.len(), 1, "response {id} in {text}");
        found[0].clone()
    };
    assert_eq!(
        response(1)["result"]["serverInfo"]["name"],
        "mcp-runtime-test"
    );
    assert_eq!(
        response(2)["result"]["tools"][0]["inputSchema"],
        Value::Object(schema_of::<AddArgs>())
    );
    assert_eq!(response(3)["result"], json!({}));
    assert_eq!(response(4)["result"]["content"][0]["text"], "did 2 steps");
    assert_eq!(
        response(5)["result"]["structuredContent"],
        json!({"sum": 3.0})
    );
    assert_eq!(response(6)["error"]["code"], -32601);
    assert_eq!(response(8)["result"], json!({}));
    // Handlers that panicked: answered (or the server, at the end of its
    // input, would wait for them forever).
    for id in [9, 10, 11] {
        check_panicked(&response(id));
    }
    let parse_error: Vec<&Value> = msgs
        .iter()
        .filter(|m| m["id"].is_null() && m.get("method").is_none())
        .collect();
    assert_eq!(parse_error.len(), 1, "{text}");
    assert_eq!(parse_error[0]["error"]["code"], -32700);
    let logs = msgs
        .iter()
        .filter(|m| m["method"] == "notifications/message")
        .count();
    let progress: Vec<&Value> = msgs
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .collect();
    assert_eq!(logs, 2, "{text}");
    assert_eq!(progress.len(), 2, "{text}");
    assert_eq!(progress[1]["params"]["progressToken"], 9);
    // Each notification of `work` comes before its response.
    let pos = |pred: &dyn Fn(&Value) -> bool| msgs.iter().position(pred).unwrap();
    assert!(
        pos(&|m| m["method"] == "notifications/progress")
            < pos(&|m| m.get("id") == Some(&json!(4)))
    );
}

#[test]
fn stdio_tokio_duplex() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let (ours, theirs) = tokio::io::duplex(1 << 16);
            let served = tokio::spawn(async move {
                server()
                    .serve_io(
                        wirestate_tokio::TokioRuntime,
                        wirestate_tokio::TokioIo(theirs),
                    )
                    .await
            });
            let (mut rd, mut wr) = tokio::io::split(ours);
            let reader = tokio::spawn(async move {
                let mut out = Vec::new();
                rd.read_to_end(&mut out).await.map(|_| out)
            });
            // Byte by byte for the first line: split invariance on the wire.
            let input = stdio_input();
            let first = input.iter().position(|&b| b == b'\n').unwrap() + 1;
            for b in &input[..first] {
                wr.write_all(std::slice::from_ref(b)).await.unwrap();
            }
            wr.write_all(&input[first..]).await.unwrap();
            wr.shutdown().await.unwrap();
            let out = tokio::time::timeout(Duration::from_secs(20), reader)
                .await
                .expect("serve_io did not end")
                .unwrap()
                .unwrap();
            served.await.unwrap().unwrap();
            check_stdio_output(&out);
        });
}

/// A handler runs its first poll where its request arrived (no task hand-off
/// for quick tools): one that panics there is answered -32603, and the
/// server — one thread, current-thread runtime, the way `wirestate
/// mcp-server` runs — goes on answering the calls after it.
#[test]
fn stdio_handler_panic_is_answered_and_the_server_goes_on() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let server = McpServer::builder()
        .name("mcp-runtime-test", "0.0.1")
        .tool("boom", "Panics.", |_: AddArgs| async move {
            if true {
                panic!("boom (expected by the test)");
            }
            Ok::<_, ToolError>(String::new())
        })
        .tool("add", "Adds two numbers.", |a: AddArgs| async move {
            Ok::<_, ToolError>(Structured(Sum { sum: a.a + a.b }))
        })
        .build();
    let call = |id: u64, name: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": name, "arguments": {"a": 1, "b": 2}}})
    };
    let mut input = Vec::new();
    for l in [
        initialize(1),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        call(2, "boom"),
        call(3, "add"),
    ] {
        input.extend_from_slice(&serde_json::to_vec(&l).unwrap());
        input.push(b'\n');
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
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
            wr.write_all(&input).await.unwrap();
            let mut lines = tokio::io::BufReader::new(rd).lines();
            let mut msgs: Vec<Value> = Vec::new();
            while msgs.len() < 3 {
                let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
                    .await
                    .expect("no answer to the call after the panic")
                    .unwrap()
                    .expect("the server ended");
                msgs.push(serde_json::from_str(&line).unwrap());
            }
            let ids: Vec<&Value> = msgs.iter().map(|m| &m["id"]).collect();
            assert_eq!(ids, [&json!(1), &json!(2), &json!(3)], "{msgs:?}");
            check_panicked(&msgs[1]);
            assert_eq!(msgs[2]["result"]["structuredContent"], json!({"sum": 3.0}));
            assert!(!served.is_finished(), "the server is still serving");
            served.abort();
        });
}

#[test]
fn stdio_smol_socket_pair() {
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
    let theirs = smol::Async::new(theirs).unwrap();
    let ours = std::sync::Arc::new(smol::Async::new(ours).unwrap());
    smol::block_on(async move {
        let rt = wirestate_smol::SmolRuntime::new();
        let served =
            smol::spawn(async move { server().serve_io(rt, wirestate_smol::SmolIo(theirs)).await });
        let rd = ours.clone();
        let reader = smol::spawn(async move {
            let mut out = Vec::new();
            (&*rd).read_to_end(&mut out).await.map(|_| out)
        });
        (&*ours).write_all(&stdio_input()).await.unwrap();
        ours.get_ref().shutdown(std::net::Shutdown::Write).unwrap();
        let out = futures_lite::future::or(async { Some(reader.await) }, async {
            smol::Timer::after(Duration::from_secs(20)).await;
            None
        })
        .await
        .expect("serve_io did not end")
        .unwrap();
        served.await.unwrap();
        check_stdio_output(&out);
    });
}

// ---- the blocking runtime's server: the same scenarios ----

/// [`server`]'s catalogue on `wirestate_blocking::mcp_server`, with plain
/// closures.
fn blocking_server() -> wirestate_blocking::mcp_server::McpServer {
    use wirestate_blocking::mcp_server as b;
    b::McpServer::builder()
        .name("mcp-runtime-test", "0.0.1")
        .instructions("test server")
        .tool("add", "Adds two numbers.", |a: AddArgs| {
            Ok::<_, b::ToolError>(b::Structured(Sum { sum: a.a + a.b }))
        })
        .tool_with_context(
            "work",
            "Logs and reports progress for each step, then answers.",
            |ctx: &b::RequestContext, a: WorkArgs| {
                for i in 1..=a.steps {
                    ctx.log(LoggingLevel::Info, Some("work"), json!(format!("step {i}")));
                    ctx.progress(f64::from(i), Some(f64::from(a.steps)), None);
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok::<_, b::ToolError>(format!("did {} steps", a.steps))
            },
        )
        .tool(
            "boom",
            "Panics.",
            |_: AddArgs| -> Result<String, b::ToolError> { panic!("boom (expected by the test)") },
        )
        .tool_with_context(
            "boom_later",
            "Panics after a wait.",
            |_: &b::RequestContext, _: AddArgs| -> Result<String, b::ToolError> {
                std::thread::sleep(Duration::from_millis(10));
                panic!("boom later (expected by the test)")
            },
        )
        .prompt(boom_prompt(), |_: &b::RequestContext, _| {
            panic!("boom prompt (expected by the test)")
        })
        .build()
}

fn start_blocking() -> (
    SocketAddr,
    wirestate_blocking::ServerHandle,
    mpsc::Receiver<()>,
) {
    let server = wirestate_blocking::Server::bind("127.0.0.1:0", Default::default()).unwrap();
    let addr = server.local_addr().unwrap();
    let handle = server.handle();
    let mcp = blocking_server().http(HttpConfig::default());
    let (tx, done) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = server.serve(move |req: Request<wirestate_blocking::BlockingBody>| {
            if req.uri().path() == "/mcp" {
                mcp.handle(req)
            } else {
                let mut r = Response::new(wirestate_blocking::ResponseBody::empty());
                *r.status_mut() = StatusCode::NOT_FOUND;
                r
            }
        });
        let _ = tx.send(());
    });
    (addr, handle, done)
}

#[test]
fn streamable_http_blocking_server() {
    let (addr, handle, done) = start_blocking();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let client = wirestate_tokio::client(ClientConfig::default());
            tokio::time::timeout(Duration::from_secs(30), streamable_http(client, addr))
                .await
                .expect("the MCP exchange timed out");
        });
    handle.shutdown();
    let _ = done.recv_timeout(Duration::from_secs(10));
}

#[test]
fn resume_after_disconnect_blocking_server() {
    let (addr, handle, done) = start_blocking();
    smol::block_on(async move {
        let client = wirestate_smol::client(ClientConfig::default());
        futures_lite::future::or(resume_after_disconnect(client, addr), async {
            smol::Timer::after(Duration::from_secs(30)).await;
            panic!("the MCP exchange timed out");
        })
        .await;
    });
    handle.shutdown();
    let _ = done.recv_timeout(Duration::from_secs(10));
}

#[test]
fn stdio_blocking_pipes() {
    use std::io::{Read, Write};
    let (in_r, mut in_w) = std::io::pipe().unwrap();
    let (mut out_r, out_w) = std::io::pipe().unwrap();
    let served = std::thread::spawn(move || blocking_server().serve_io(in_r, out_w));
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        out_r.read_to_end(&mut out).map(|_| out)
    });
    in_w.write_all(&stdio_input()).unwrap();
    drop(in_w);
    let out = reader.join().unwrap().unwrap();
    served.join().unwrap().unwrap();
    check_stdio_output(&out);
}
