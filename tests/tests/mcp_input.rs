//! `RequestContext::elicit` and `create_message` in the stateless
//! (2026-07-28) era, where a server sends no requests of its own: the
//! call is answered with an `InputRequiredResult` (SEP-2322), the client
//! retries with `inputResponses`, and the handler runs again, its
//! questions answered — several in turn, the earlier answers carried in
//! `requestState`. Before, such a handler failed in that era ('the
//! session is not initialized'): the Python SDK's `Client`, which speaks
//! 2026-07-28 by default, got an error from every tool that elicits.
//! Over stdio, on the async and the blocking builders.

use std::time::Duration;

use serde_json::{Value, json};
use wirestate_mcp::schema::{
    CreateMessageParams, ElicitParams, Role, SamplingContent, SamplingMessage,
};
use wirestate_rt::mcp::{NoArgs, ToolError};

fn meta(capabilities: Value) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": capabilities,
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
    })
}

fn call(id: u64, capabilities: Value, retry: Option<(Value, Option<Value>)>) -> Value {
    let mut params = json!({"name": "ask", "arguments": {}, "_meta": meta(capabilities)});
    if let Some((responses, state)) = retry {
        params["inputResponses"] = responses;
        if let Some(state) = state {
            params["requestState"] = state;
        }
    }
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params})
}

fn elicit(message: &str) -> ElicitParams {
    ElicitParams {
        message: message.into(),
        requested_schema: json!({"type": "object", "properties": {"v": {"type": "string"}}})
            .as_object()
            .cloned(),
        ..ElicitParams::default()
    }
}

fn sample() -> CreateMessageParams {
    CreateMessageParams {
        messages: vec![SamplingMessage {
            role: Role::User,
            content: SamplingContent::One(Box::new(wirestate_mcp::schema::ContentBlock::text(
                "hi",
            ))),
            meta: None,
            extra: Default::default(),
        }],
        max_tokens: 10,
        ..CreateMessageParams::default()
    }
}

/// The conversation, whatever the builder: `exchange` sends a message
/// and returns the answer.
fn converse(mut exchange: impl FnMut(Value) -> Value) {
    let both = json!({"elicitation": {}, "sampling": {}});
    // Round 1: the first question.
    let r = exchange(call(1, both.clone(), None));
    let result = &r["result"];
    assert_eq!(result["resultType"], "input_required", "{r}");
    let requests = result["inputRequests"].as_object().expect("inputRequests");
    assert_eq!(requests.len(), 1, "{r}");
    let (k1, q1) = requests.iter().next().unwrap();
    assert_eq!(q1["method"], "elicitation/create", "{r}");
    assert_eq!(q1["params"]["message"], "first?");
    let a1 = json!({"action": "accept", "content": {"v": "one"}});
    // Round 2: the first answered, the second asked (the first kept in
    // the state).
    let r = exchange(call(2, both.clone(), Some((json!({k1: a1}), None))));
    let result = &r["result"];
    assert_eq!(result["resultType"], "input_required", "{r}");
    let (k2, q2) = result["inputRequests"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    assert_ne!(k1, k2);
    assert_eq!(q2["method"], "sampling/createMessage", "{r}");
    let state = result["requestState"].clone();
    assert!(state.is_string(), "{r}");
    let a2 = json!({"role": "assistant", "content": {"type": "text", "text": "two"},
        "model": "m"});
    // Round 3: only the latest answer sent, the first from the state.
    let r = exchange(call(3, both, Some((json!({k2: a2}), Some(state)))));
    let text = r["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(text, "one two", "{r}");
    // A client without the capability: -32021.
    let r = exchange(call(4, json!({}), None));
    assert_eq!(r["error"]["code"], -32021, "{r}");
}

fn answer_text(e: &wirestate_mcp::schema::ElicitResult) -> String {
    e.content
        .as_ref()
        .and_then(|c| c.get("v"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn sampled_text(r: &wirestate_mcp::schema::CreateMessageResult) -> String {
    match &r.content {
        SamplingContent::One(b) => b.as_text().unwrap_or_default().to_owned(),
        SamplingContent::Many(_) => String::new(),
    }
}

#[test]
fn the_async_builder_asks_through_input_required_results() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let server = wirestate_rt::mcp::McpServer::builder()
        .name("mcp-input-test", "0.0.1")
        .tool_with_context(
            "ask",
            "Asks twice.",
            |ctx: wirestate_rt::mcp::RequestContext, _: NoArgs| async move {
                let first = ctx.elicit(elicit("first?")).await?;
                let second = ctx.create_message(sample()).await?;
                Ok::<_, ToolError>(format!("{} {}", answer_text(&first), sampled_text(&second)))
            },
        )
        .build();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (ours, theirs) = tokio::io::duplex(1 << 16);
    let served = rt.spawn(async move {
        server
            .serve_io(
                wirestate_tokio::TokioRuntime,
                wirestate_tokio::TokioIo(theirs),
            )
            .await
    });
    let (rd, mut wr) = tokio::io::split(ours);
    let mut lines = tokio::io::BufReader::new(rd).lines();
    converse(|m| {
        rt.block_on(async {
            let mut line = serde_json::to_vec(&m).unwrap();
            line.push(b'\n');
            wr.write_all(&line).await.unwrap();
            let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
                .await
                .expect("no answer")
                .unwrap()
                .expect("the server ended");
            serde_json::from_str(&line).unwrap()
        })
    });
    served.abort();
}

#[test]
fn the_blocking_builder_asks_through_input_required_results() {
    use std::io::{BufRead, Write};
    use wirestate_blocking::mcp_server as b;
    let server = b::McpServer::builder()
        .name("mcp-input-test", "0.0.1")
        .tool_with_context(
            "ask",
            "Asks twice.",
            |ctx: &b::RequestContext, _: NoArgs| {
                let first = ctx.elicit(elicit("first?"))?;
                let second = ctx.create_message(sample())?;
                Ok::<_, ToolError>(format!("{} {}", answer_text(&first), sampled_text(&second)))
            },
        )
        .build();
    let (in_r, mut in_w) = std::io::pipe().unwrap();
    let (out_r, out_w) = std::io::pipe().unwrap();
    let served = std::thread::spawn(move || server.serve_io(in_r, out_w));
    let mut lines = std::io::BufReader::new(out_r).lines();
    converse(|m| {
        let mut line = serde_json::to_vec(&m).unwrap();
        line.push(b'\n');
        in_w.write_all(&line).unwrap();
        serde_json::from_str(&lines.next().expect("the server ended").unwrap()).unwrap()
    });
    drop(in_w);
    served.join().unwrap().unwrap();
}
