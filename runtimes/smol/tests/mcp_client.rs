//! The MCP client on smol: against the rt MCP server over Streamable HTTP
//! (sampling during a tool call, progress, logs, cancellation), and child
//! processes reaped on close (killed after the timeout).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use wirestate_mcp::ClientEvent;
use wirestate_mcp::schema::{
    CallToolResult, ClientCapabilities, ContentBlock, CreateMessageParams, CreateMessageResult,
    LoggingLevel, Role, SamplingCapability, SamplingContent, SamplingMessage, Tool,
};
use wirestate_rt::Shutdown;
use wirestate_rt::mcp::{McpServer, ToolError};
use wirestate_rt::mcp_client::{McpClient, McpClientConfig, McpClientError};
use wirestate_smol::SmolRuntime;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    smol::block_on(f)
}

/// A server with `echo` (logs, answers with the arguments as text) and
/// `slow` (three progress steps, then "done").
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
    c.session.era = wirestate_mcp::Era::Legacy;
    c.capabilities = ClientCapabilities {
        sampling: Some(SamplingCapability::default()),
        ..Default::default()
    };
    c
}

/// Answers sampling requests; collects every other event.
fn handle_events(client: &McpClient<SmolRuntime>) -> Arc<Mutex<Vec<ClientEvent>>> {
    let mut events = client.events().unwrap();
    assert!(client.events().is_none());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (client, store) = (client.clone(), seen.clone());
    smol::spawn(async move {
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
    })
    .detach();
    seen
}

async fn exercise(client: &McpClient<SmolRuntime>) {
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
    let gave_up = futures_lite::future::or(
        async { Some(client.call_tool("slow", None).await) },
        async {
            smol::Timer::after(Duration::from_millis(10)).await;
            None
        },
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
        smol::Timer::after(Duration::from_millis(10)).await;
    }
}

#[test]
fn streamable_http() {
    block_on(async {
        let listener = wirestate_smol::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = wirestate_rt::Listener::local_addr(&listener).unwrap();
        let handler = server().http(SmolRuntime::new(), Default::default());
        let shutdown = Shutdown::new();
        let stop = shutdown.clone();
        let serving = smol::spawn(wirestate_smol::serve(
            listener,
            handler,
            Default::default(),
            stop,
        ));
        let url = format!("http://{addr}/");
        let client = wirestate_smol::mcp::connect_http(&url, config())
            .await
            .unwrap();
        exercise(&client).await;
        assert_eq!(client.close().await.unwrap(), None);
        // The session is gone (DELETE): a new client's request with the old
        // id would be refused; a fresh session still works.
        let again = wirestate_smol::mcp::connect_http(&url, Default::default())
            .await
            .unwrap();
        again.ping().await.unwrap();
        again.close().await.unwrap();
        // Nobody listening: initialize fails cleanly.
        let e = wirestate_smol::mcp::connect_http("http://127.0.0.1:1/", Default::default())
            .await
            .unwrap_err();
        assert!(matches!(e, McpClientError::Http(_)), "{e:?}");
        shutdown.trigger();
        let _ = futures_lite::future::or(async { Some(serving.await) }, async {
            smol::Timer::after(Duration::from_secs(5)).await;
            None
        })
        .await;
    });
}

#[test]
fn child_exits_when_stdin_closes() {
    block_on(async {
        let (io, child) =
            wirestate_smol::mcp::spawn_child("sh", &["-c", "cat >/dev/null"]).unwrap();
        let client = McpClient::stdio(
            SmolRuntime::new(),
            io,
            Some(Box::new(child)),
            Default::default(),
        );
        let start = Instant::now();
        let status = client.close().await.unwrap().unwrap();
        assert!(status.success(), "{status:?}");
        assert!(start.elapsed() < Duration::from_secs(3));
    });
}

#[test]
fn child_killed_after_the_shutdown_timeout() {
    block_on(async {
        let mut config = McpClientConfig::default();
        config.shutdown_timeout = Duration::from_millis(300);
        config.session.jsonrpc.request_timeout = Some(Duration::from_millis(300));
        // A "server" that never answers and ignores its stdin closing.
        let start = Instant::now();
        let e = wirestate_smol::mcp::connect_child("sh", &["-c", "exec sleep 30"], config)
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
        let (io, child) = wirestate_smol::mcp::spawn_child("sh", &["-c", "exec sleep 30"]).unwrap();
        let pid = wirestate_rt::mcp_client::ChildProcess::id(&child).unwrap();
        let client = McpClient::stdio(SmolRuntime::new(), io, Some(Box::new(child)), config);
        let status = client.close().await.unwrap().unwrap();
        assert!(!status.success());
        // Reaped: no process with that id is left (not even a zombie).
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    });
}
