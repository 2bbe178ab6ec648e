//! Resource subscriptions on the async server builder: the server
//! advertises `resources.subscribe` and takes `resources/subscribe`, and
//! the application tells subscribers that a resource changed with
//! `McpServer::resource_updated` (from anywhere) or
//! `RequestContext::resource_updated` (from a handler). Before, nothing
//! in `wirestate_rt::mcp` could send `notifications/resources/updated`:
//! subscriptions were accepted and never served.

use std::time::Duration;

use serde_json::{Value, json};
use wirestate_mcp::schema::{ReadResourceResult, Resource, ResourceContents};
use wirestate_rt::Shutdown;
use wirestate_rt::mcp::{McpServer, NoArgs, RequestContext, ToolError};
use wirestate_rt::mcp_client::McpClientConfig;

const URI: &str = "mem://counter";

fn server() -> McpServer {
    McpServer::builder()
        .name("mcp-subscribe-test", "0.0.1")
        .resource(Resource::new(URI, "counter"), |_, r| async move {
            Ok(ReadResourceResult {
                contents: vec![ResourceContents::text(r.uri, Some("text/plain"), "1")],
                ..ReadResourceResult::default()
            })
        })
        .tool_with_context(
            "bump",
            "Changes the counter.",
            |ctx: RequestContext, _: NoArgs| async move {
                ctx.resource_updated(URI);
                Ok::<_, ToolError>("bumped")
            },
        )
        .build()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn subscribers_hear_of_updates_over_stdio() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let server = server();
    let outside = server.clone();
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
        let mut next = async || -> Value {
            let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
                .await
                .expect("nothing came")
                .unwrap()
                .expect("the server ended");
            serde_json::from_str(&line).unwrap()
        };
        for v in [
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "t", "version": "0"}}}),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            json!({"jsonrpc": "2.0", "id": 2, "method": "resources/subscribe",
                "params": {"uri": URI}}),
        ] {
            let mut line = serde_json::to_vec(&v).unwrap();
            line.push(b'\n');
            wr.write_all(&line).await.unwrap();
        }
        let init = next().await;
        assert_eq!(
            init["result"]["capabilities"]["resources"]["subscribe"],
            true
        );
        assert_eq!(next().await["id"], 2);
        // From outside any handler: an unsubscribed URI says nothing, the
        // subscribed one is announced.
        outside.resource_updated("mem://other");
        outside.resource_updated(URI);
        let note = next().await;
        assert_eq!(note["method"], "notifications/resources/updated", "{note}");
        assert_eq!(note["params"]["uri"], URI);
        // From a handler.
        let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "bump", "arguments": {}}});
        let mut line = serde_json::to_vec(&call).unwrap();
        line.push(b'\n');
        wr.write_all(&line).await.unwrap();
        let mut got = vec![next().await, next().await];
        got.sort_by_key(|m| m["id"].is_null());
        assert_eq!(got[0]["id"], 3, "{got:?}");
        assert_eq!(got[1]["method"], "notifications/resources/updated");
        served.abort();
    });
}

#[test]
fn subscribers_hear_of_updates_over_streamable_http() {
    let server = server();
    let handler = server.http(wirestate_tokio::TokioRuntime, Default::default());
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
        let client = wirestate_tokio::mcp::connect_http(&format!("http://{addr}/"), config)
            .await
            .expect("connect");
        let mut events = client.events().unwrap();
        client.subscribe(URI).await.expect("subscribe");
        // The standalone GET stream carries it: give the client a moment
        // to open it, then announce until it is heard.
        let heard = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                server.resource_updated(URI);
                match tokio::time::timeout(Duration::from_millis(200), events.next()).await {
                    Ok(Some(wirestate_mcp::ClientEvent::ResourceUpdated { uri })) => break uri,
                    Ok(Some(_)) | Err(_) => {}
                    Ok(None) => panic!("the client closed"),
                }
            }
        })
        .await
        .expect("no notifications/resources/updated");
        assert_eq!(heard, URI);
        let _ = client.close().await;
        stop.trigger();
        served.abort();
    });
}

/// The same on the blocking builder, over stdio.
#[test]
fn subscribers_hear_of_updates_on_the_blocking_server() {
    use std::io::{BufRead, Write};
    use wirestate_blocking::mcp_server as b;
    let server = b::McpServer::builder()
        .name("mcp-subscribe-test", "0.0.1")
        .resource(Resource::new(URI, "counter"), |_, r| {
            Ok(ReadResourceResult {
                contents: vec![ResourceContents::text(r.uri, Some("text/plain"), "1")],
                ..ReadResourceResult::default()
            })
        })
        .tool_with_context(
            "bump",
            "Changes the counter.",
            |ctx: &b::RequestContext, _: NoArgs| {
                ctx.resource_updated(URI);
                Ok::<_, ToolError>("bumped")
            },
        )
        .build();
    let outside = server.clone();
    let (in_r, mut in_w) = std::io::pipe().unwrap();
    let (out_r, out_w) = std::io::pipe().unwrap();
    let served = std::thread::spawn(move || server.serve_io(in_r, out_w));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(out_r).lines() {
            let Ok(line) = line else { break };
            if tx
                .send(serde_json::from_str::<Value>(&line).unwrap())
                .is_err()
            {
                break;
            }
        }
    });
    let next = || {
        rx.recv_timeout(Duration::from_secs(10))
            .expect("nothing came")
    };
    let mut send = |v: Value| {
        let mut line = serde_json::to_vec(&v).unwrap();
        line.push(b'\n');
        in_w.write_all(&line).unwrap();
    };
    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"}}}),
    );
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(
        json!({"jsonrpc": "2.0", "id": 2, "method": "resources/subscribe",
        "params": {"uri": URI}}),
    );
    assert_eq!(
        next()["result"]["capabilities"]["resources"]["subscribe"],
        true
    );
    assert_eq!(next()["id"], 2);
    outside.resource_updated("mem://other");
    outside.resource_updated(URI);
    let note = next();
    assert_eq!(note["method"], "notifications/resources/updated", "{note}");
    assert_eq!(note["params"]["uri"], URI);
    send(json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "bump", "arguments": {}}}));
    let mut got = vec![next(), next()];
    got.sort_by_key(|m| m["id"].is_null());
    assert_eq!(got[0]["id"], 3, "{got:?}");
    assert_eq!(got[1]["method"], "notifications/resources/updated");
    drop(in_w);
    served.join().unwrap().unwrap();
}
