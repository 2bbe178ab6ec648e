//! The stateless 2026-07-28 era (SEP-2575, SEP-2243, SEP-2322, SEP-2549),
//! without sockets: the server session's per-request rules, the
//! Streamable HTTP transport's header checks and deferred heads, and
//! stdio.

use std::time::Instant;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use serde_json::{Map, Value, json};
use wirestate_codec::SseDecoder;
use wirestate_jsonrpc::RequestId;
use wirestate_machine::Machine;
use wirestate_mcp::http::stateless::decode_param_header;
use wirestate_mcp::http::{Chunk, HttpConfig, HttpEvent, HttpServer, Reply};
use wirestate_mcp::schema::*;
use wirestate_mcp::{Config, Error, ServerEvent, ServerSession, StdioConfig, StdioServer};

const V: &str = "2026-07-28";

fn meta() -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": V,
        "io.modelcontextprotocol/clientCapabilities": {"sampling": {}},
        "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
    })
}

fn with_meta(mut params: Value) -> Value {
    params["_meta"] = meta();
    params
}

fn catalogue(s: &mut ServerSession) {
    s.add_tool(Tool::new("t", Map::new()));
    s.add_resource(Resource::new("file:///r", "r"));
    s.add_prompt(Prompt {
        name: "p".into(),
        ..Prompt::default()
    });
}

struct T {
    s: ServerSession,
    now: Instant,
}

impl T {
    fn new() -> Self {
        let mut s = ServerSession::new(Config::new(Implementation::new("srv", "9")));
        catalogue(&mut s);
        Self {
            s,
            now: Instant::now(),
        }
    }

    fn send(&mut self, id: u64, method: &str, params: Value) {
        let m = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let _ = self.s.handle_message(self.now, m.to_string().as_bytes());
    }

    fn out(&mut self) -> Vec<Value> {
        std::iter::from_fn(|| self.s.poll_message())
            .map(|b| serde_json::from_slice(&b).unwrap())
            .collect()
    }

    fn call(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(id, method, params);
        let mut out = self.out();
        assert_eq!(out.len(), 1, "{out:?}");
        out.remove(0)
    }

    fn handed(&mut self) -> RequestId {
        std::iter::from_fn(|| self.s.poll_event())
            .find_map(|e| match e {
                ServerEvent::CallTool { id, .. }
                | ServerEvent::ReadResource { id, .. }
                | ServerEvent::GetPrompt { id, .. } => Some(id),
                _ => None,
            })
            .expect("a request handed to the application")
    }
}

#[test]
fn discover_without_initialize() {
    let mut t = T::new();
    let r = t.call(1, "server/discover", json!({"_meta": meta()}));
    let result = &r["result"];
    assert_eq!(result["supportedVersions"], json!([V]));
    assert!(result["capabilities"]["tools"].is_object());
    assert!(result["capabilities"]["prompts"].is_object());
    assert_eq!(
        result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "srv"
    );
    assert_eq!(result["resultType"], "complete");
    assert_eq!(result["ttlMs"], 0);
    assert_eq!(result["cacheScope"], "private");
    let d: DiscoverResult = serde_json::from_value(result.clone()).unwrap();
    assert_eq!(d.server_info().unwrap().version, "9");
    // The legacy lifecycle is untouched.
    assert_eq!(t.s.phase(), wirestate_mcp::Phase::New);
}

#[test]
fn meta_is_required_and_validated() {
    let mut t = T::new();
    // Without the revision key the request is of the legacy era: refused
    // before initialize.
    let r = t.call(1, "tools/list", json!({}));
    assert_eq!(r["error"]["code"], -32600);
    // With the revision but without capabilities: invalid params.
    let r = t.call(
        2,
        "tools/list",
        json!({"_meta": {"io.modelcontextprotocol/protocolVersion": V}}),
    );
    assert_eq!(r["error"]["code"], -32602);
    assert_eq!(r["id"], 2);
    assert_eq!(
        r["error"]["message"],
        "Invalid params: _meta is missing `io.modelcontextprotocol/clientCapabilities`",
        "said once"
    );
    // clientInfo is optional.
    let r = t.call(
        3,
        "tools/list",
        json!({"_meta": {"io.modelcontextprotocol/protocolVersion": V,
            "io.modelcontextprotocol/clientCapabilities": {}}}),
    );
    assert_eq!(r["result"]["tools"][0]["name"], "t");
}

#[test]
fn unsupported_revision_lists_the_supported_ones() {
    let mut t = T::new();
    let mut m = meta();
    m["io.modelcontextprotocol/protocolVersion"] = json!("v999");
    let r = t.call(7, "server/discover", json!({"_meta": m}));
    assert_eq!(r["error"]["code"], -32022);
    assert_eq!(r["error"]["data"]["supported"], json!([V]));
    assert_eq!(r["error"]["data"]["requested"], "v999");
    assert_eq!(r["id"], 7);
}

#[test]
fn removed_methods_are_not_found() {
    let mut t = T::new();
    for (i, m) in [
        "initialize",
        "ping",
        "logging/setLevel",
        "resources/subscribe",
        "resources/unsubscribe",
    ]
    .into_iter()
    .enumerate()
    {
        let r = t.call(i as u64, m, json!({"_meta": meta()}));
        assert_eq!(r["error"]["code"], -32601, "{m}");
    }
}

#[test]
fn results_carry_result_type_and_cache_hints() {
    let mut t = T::new();
    for m in [
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
    ] {
        let r = t.call(1, m, json!({"_meta": meta()}));
        assert_eq!(r["result"]["resultType"], "complete", "{m}");
        assert_eq!(r["result"]["cacheScope"], "private", "{m}");
        assert_eq!(r["result"]["ttlMs"], 0, "{m}");
    }
    // A tool result: resultType, no cache hints.
    t.send(2, "tools/call", with_meta(json!({"name": "t"})));
    let id = t.handed();
    t.s.respond_call_tool(&id, CallToolResult::text("ok"))
        .unwrap();
    let r = t.out().remove(0);
    assert_eq!(r["result"]["resultType"], "complete");
    assert!(r["result"].get("ttlMs").is_none());
    // A read: the application's own hints win.
    t.send(3, "resources/read", with_meta(json!({"uri": "file:///r"})));
    let id = t.handed();
    let mut result = ReadResourceResult::default();
    result.extra.insert("ttlMs".into(), json!(5000));
    t.s.respond_read_resource(&id, result).unwrap();
    let r = t.out().remove(0);
    assert_eq!(r["result"]["ttlMs"], 5000);
    assert_eq!(r["result"]["cacheScope"], "private");
}

#[test]
fn legacy_results_are_unchanged() {
    let mut t = T::new();
    t.call(
        0,
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "c", "version": "0"}}),
    );
    let r = t.call(1, "tools/list", json!({}));
    assert!(r["result"].get("resultType").is_none());
    assert!(r["result"].get("ttlMs").is_none());
}

#[test]
fn input_required_only_for_stateless_calls() {
    let mut t = T::new();
    t.send(1, "tools/call", with_meta(json!({"name": "t"})));
    let id = t.handed();
    assert!(
        t.s.request_meta(&id)
            .unwrap()
            .client_capabilities
            .sampling
            .is_some()
    );
    let mut requests = std::collections::BTreeMap::new();
    requests.insert(
        "q".to_owned(),
        InputRequest::new("sampling/createMessage", &json!({"maxTokens": 5})),
    );
    t.s.respond_input_required(
        &id,
        InputRequiredResult {
            input_requests: Some(requests),
            request_state: Some("s1".into()),
            ..InputRequiredResult::default()
        },
    )
    .unwrap();
    let r = t.out().remove(0);
    assert_eq!(r["result"]["resultType"], "input_required");
    assert_eq!(r["result"]["requestState"], "s1");
    assert_eq!(
        r["result"]["inputRequests"]["q"]["method"],
        "sampling/createMessage"
    );

    // The retry's inputResponses and requestState reach the application.
    t.send(
        2,
        "tools/call",
        with_meta(json!({"name": "t", "inputResponses": {"q": {"x": 1}}, "requestState": "s1"})),
    );
    let params = std::iter::from_fn(|| t.s.poll_event())
        .find_map(|e| match e {
            ServerEvent::CallTool { params, .. } => Some(params),
            _ => None,
        })
        .unwrap();
    let input = InputResponses::from_extra(&params.extra);
    assert_eq!(input.request_state.as_deref(), Some("s1"));
    assert!(input.responses.unwrap().contains_key("q"));

    // Not for a request of the initialize era.
    t.call(
        0,
        "initialize",
        json!({"protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "c", "version": "0"}}),
    );
    t.send(3, "tools/call", json!({"name": "t"}));
    let id = t.handed();
    assert_eq!(
        t.s.respond_input_required(&id, InputRequiredResult::default()),
        Err(Error::InputRequiredNotAllowed)
    );
}

#[test]
fn missing_capability_error() {
    let mut t = T::new();
    t.send(1, "tools/call", with_meta(json!({"name": "t"})));
    let id = t.handed();
    let required = ClientCapabilities {
        elicitation: Some(ElicitationCapability::default()),
        ..ClientCapabilities::default()
    };
    t.s.respond_missing_capability(&id, &required).unwrap();
    let r = t.out().remove(0);
    assert_eq!(r["error"]["code"], -32021);
    assert!(r["error"]["data"]["requiredCapabilities"]["elicitation"].is_object());
}

#[test]
fn logs_only_when_the_request_asks() {
    let mut t = T::new();
    t.send(1, "tools/call", with_meta(json!({"name": "t"})));
    let _ = t.handed();
    assert!(!t.s.log(LoggingLevel::Error, None, json!("x")).unwrap());
    let mut m = meta();
    m["io.modelcontextprotocol/logLevel"] = json!("warning");
    t.send(2, "tools/call", json!({"name": "t", "_meta": m}));
    let _ = t.handed();
    assert!(!t.s.log(LoggingLevel::Info, None, json!("x")).unwrap());
    assert!(t.s.log(LoggingLevel::Error, None, json!("y")).unwrap());
    let out = t.out();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["method"], "notifications/message");
}

#[test]
fn listen_acknowledges_filters_and_tags() {
    let mut t = T::new();
    t.send(
        9,
        "subscriptions/listen",
        json!({"_meta": meta(), "notifications": {"toolsListChanged": true,
            "resourceSubscriptions": ["file:///r"]}}),
    );
    let out = t.out();
    assert_eq!(out.len(), 1, "the acknowledgement only: {out:?}");
    assert_eq!(out[0]["method"], "notifications/subscriptions/acknowledged");
    assert_eq!(
        out[0]["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        9
    );
    assert_eq!(out[0]["params"]["notifications"]["toolsListChanged"], true);
    assert_eq!(t.s.listens(), 1);

    // Prompts were not asked for: nothing.
    t.s.add_prompt(Prompt {
        name: "q".into(),
        ..Prompt::default()
    });
    assert!(t.out().is_empty());
    // Tools were.
    t.s.add_tool(Tool::new("u", Map::new()));
    let out = t.out();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["method"], "notifications/tools/list_changed");
    assert_eq!(
        out[0]["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"],
        9
    );
    assert!(t.s.resource_updated("file:///r"));
    let out = t.out();
    assert_eq!(out[0]["method"], "notifications/resources/updated");
    assert_eq!(out[0]["params"]["uri"], "file:///r");

    // The end of the input answers the listen request.
    t.s.handle_close();
    let out = t.out();
    assert_eq!(out[0]["id"], 9);
    assert_eq!(out[0]["result"]["resultType"], "complete");
    assert!(t.s.is_idle());
}

#[test]
fn listen_cancelled_is_forgotten() {
    let mut t = T::new();
    t.send(
        4,
        "subscriptions/listen",
        json!({"_meta": meta(), "notifications": {"toolsListChanged": true}}),
    );
    t.out();
    let cancel = json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 4}});
    t.s.handle_message(t.now, cancel.to_string().as_bytes())
        .unwrap();
    assert_eq!(t.s.listens(), 0);
    t.s.add_tool(Tool::new("v", Map::new()));
    assert!(t.out().is_empty());
    assert!(t.s.is_idle());
}

#[test]
fn request_meta_round_trip() {
    let m = RequestMeta {
        protocol_version: V.into(),
        client_capabilities: ClientCapabilities::default(),
        client_info: Some(Implementation::new("c", "1")),
        log_level: Some(LoggingLevel::Debug),
    };
    let back = RequestMeta::from_meta(Some(&m.to_meta())).unwrap();
    assert_eq!(back, m);
    let bad = json!({"io.modelcontextprotocol/protocolVersion": 5});
    assert!(matches!(
        RequestMeta::from_meta(bad.as_object()),
        Err(MetaError::Invalid { .. })
    ));
}

// ---- Streamable HTTP ----

fn http() -> HttpServer {
    let mut s = HttpServer::new(HttpConfig::default(), |b: &mut [u8]| b.fill(7));
    let mut tool = Tool::new(
        "t",
        json!({"type": "object", "properties": {
            "region": {"type": "string", "x-mcp-header": "Region"},
            "n": {"type": "number", "x-mcp-header": "N"}}})
        .as_object()
        .cloned()
        .unwrap(),
    );
    tool.description = Some("d".into());
    s.add_tool(tool);
    s.add_resource(Resource::new("file:///r", "r"));
    s
}

fn stateless_post(
    s: &mut HttpServer,
    id: u64,
    method: &str,
    params: Value,
    headers: &[(&str, &str)],
) -> Reply {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let mut b = Request::builder()
        .method(Method::POST)
        .uri("/mcp")
        .header("host", "127.0.0.1:1")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    let (parts, ()) = b.body(()).unwrap().into_parts();
    s.handle_request(Instant::now(), &parts, Bytes::from(body.to_string()))
}

fn std_headers<'a>(method: &'a str, name: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![("mcp-protocol-version", V), ("mcp-method", method)];
    if let Some(n) = name {
        h.push(("mcp-name", n));
    }
    h
}

fn full(reply: Reply) -> (StatusCode, http::HeaderMap, Value) {
    match reply {
        Reply::Full(r) => {
            let (parts, body) = r.into_parts();
            let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
            (parts.status, parts.headers, v)
        }
        other => panic!("expected a full response, got {other:?}"),
    }
}

#[test]
fn http_stateless_list_needs_no_session() {
    let mut s = http();
    let (status, headers, body) = full(stateless_post(
        &mut s,
        1,
        "tools/list",
        json!({"_meta": meta()}),
        &std_headers("tools/list", None),
    ));
    assert_eq!(status, StatusCode::OK);
    assert!(!headers.contains_key("mcp-session-id"));
    assert_eq!(body["result"]["tools"][0]["name"], "t");
    assert_eq!(body["result"]["resultType"], "complete");
    // Nothing is kept once answered.
    assert_eq!(s.sessions().count(), 0);
    assert_eq!(s.open_exchanges(), 0);
}

#[test]
fn http_header_rules() {
    let mut s = http();
    let p = || json!({"_meta": meta()});
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("mcp-method", "tools/list")], "missing version"),
        (
            vec![("mcp-protocol-version", V), ("mcp-method", "prompts/list")],
            "method mismatch",
        ),
        (vec![("mcp-protocol-version", V)], "missing method"),
        (
            vec![("mcp-protocol-version", V), ("mcp-method", "TOOLS/LIST")],
            "method case",
        ),
    ];
    for (headers, why) in cases {
        let (status, _, body) = full(stateless_post(&mut s, 5, "tools/list", p(), &headers));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}");
        assert_eq!(body["error"]["code"], -32020, "{why}");
        assert_eq!(body["id"], 5, "{why}");
    }
    // _meta naming another revision than the header.
    let mut m = meta();
    m["io.modelcontextprotocol/protocolVersion"] = json!("v999");
    let (status, _, body) = full(stateless_post(
        &mut s,
        6,
        "tools/list",
        json!({"_meta": m}),
        &std_headers("tools/list", None),
    ));
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32020))
    );
    // Both naming an unknown revision: -32022.
    let (status, _, body) = full(stateless_post(
        &mut s,
        7,
        "tools/list",
        json!({"_meta": m}),
        &[
            ("mcp-protocol-version", "v999"),
            ("mcp-method", "tools/list"),
        ],
    ));
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32022))
    );
    // Header names are case-insensitive, values trimmed.
    let (status, _, _) = full(stateless_post(
        &mut s,
        8,
        "tools/list",
        p(),
        &[("MCP-PROTOCOL-VERSION", V), ("Mcp-Method", "  tools/list ")],
    ));
    assert_eq!(status, StatusCode::OK);
    // Mcp-Name: missing or different is refused.
    for name in [None, Some("other")] {
        let (status, _, body) = full(stateless_post(
            &mut s,
            9,
            "resources/read",
            with_meta(json!({"uri": "file:///r"})),
            &std_headers("resources/read", name),
        ));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name:?}");
        assert_eq!(body["error"]["code"], -32020);
    }
}

#[test]
fn http_removed_and_unknown_methods_are_404() {
    let mut s = http();
    for m in ["initialize", "ping", "unknown/method"] {
        let (status, _, body) = full(stateless_post(
            &mut s,
            3,
            m,
            json!({"_meta": meta()}),
            &std_headers(m, None),
        ));
        assert_eq!(status, StatusCode::NOT_FOUND, "{m}");
        assert_eq!(body["error"]["code"], -32601);
        assert_eq!(body["id"], 3);
    }
    let (status, _, body) = full(stateless_post(
        &mut s,
        4,
        "tools/list",
        json!({"_meta": {"io.modelcontextprotocol/protocolVersion": V}}),
        &std_headers("tools/list", None),
    ));
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], -32602);
}

fn call_tool(s: &mut HttpServer, args: Value, extra: &[(&str, &str)]) -> Reply {
    let mut h = std_headers("tools/call", Some("t"));
    h.extend_from_slice(extra);
    stateless_post(
        s,
        11,
        "tools/call",
        with_meta(json!({"name": "t", "arguments": args})),
        &h,
    )
}

#[test]
fn http_param_headers() {
    let mut s = http();
    // Mirrored literally or in Base64: accepted (the call is handed over).
    for v in ["us-west1", "=?base64?dXMtd2VzdDE=?="] {
        let r = call_tool(
            &mut s,
            json!({"region": "us-west1"}),
            &[("mcp-param-region", v)],
        );
        assert!(matches!(r, Reply::Deferred { .. }), "{v}: {r:?}");
    }
    // Missing, invalid Base64, or different: -32020.
    for extra in [
        vec![],
        vec![("mcp-param-region", "=?base64?dXMtd2VzdDE?=")],
        vec![("mcp-param-region", "eu")],
    ] {
        let (status, _, body) = full(call_tool(&mut s, json!({"region": "us-west1"}), &extra));
        assert_eq!(status, StatusCode::BAD_REQUEST, "{extra:?}");
        assert_eq!(body["error"]["code"], -32020);
    }
    // Numbers compare as numbers.
    let r = call_tool(&mut s, json!({"n": 42}), &[("mcp-param-n", "42")]);
    assert!(matches!(r, Reply::Deferred { .. }));
    assert_eq!(decode_param_header("=?base64?SGVsbG8=?=").unwrap(), "Hello");
}

fn answer_call(s: &mut HttpServer, f: impl FnOnce(&mut ServerSession, &RequestId)) {
    let mut f = Some(f);
    while let Some(e) = s.poll_event() {
        if let HttpEvent::Session {
            session,
            event: ServerEvent::CallTool { id, .. },
        } = e
        {
            let session_ref = s.session_for(&session, &id).unwrap();
            (f.take().unwrap())(session_ref, &id);
            return;
        }
    }
    panic!("no call handed over");
}

#[test]
fn http_deferred_head_follows_the_first_message() {
    // The final answer first: a JSON response whose status follows the code.
    let mut s = http();
    let Reply::Deferred { exchange } = call_tool(&mut s, json!({}), &[]) else {
        panic!()
    };
    assert!(s.poll_reply(exchange).is_none());
    let required = ClientCapabilities {
        roots: Some(ListChangedCapability::default()),
        ..ClientCapabilities::default()
    };
    answer_call(&mut s, |session, id| {
        session.respond_missing_capability(id, &required).unwrap();
    });
    assert_eq!(s.poll_ready(), Some(exchange));
    let (status, _, body) = full(s.poll_reply(exchange).unwrap());
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], -32021);
    assert_eq!(s.sessions().count(), 0);

    // A notification first: an SSE stream, then the answer, then the end.
    let mut m = meta();
    m["progressToken"] = json!("p");
    let r = stateless_post(
        &mut s,
        12,
        "tools/call",
        json!({"name": "t", "arguments": {}, "_meta": m}),
        &std_headers("tools/call", Some("t")),
    );
    let Reply::Deferred { exchange } = r else {
        panic!("{r:?}")
    };
    answer_call(&mut s, |session, id| {
        session
            .notify_progress(&ProgressToken::from("p"), 1.0, None, None)
            .unwrap();
        session
            .respond_call_tool(id, CallToolResult::text("done"))
            .unwrap();
    });
    assert_eq!(s.poll_ready(), Some(exchange), "the head is decided");
    let Some(Reply::Open { response, .. }) = s.poll_reply(exchange) else {
        panic!()
    };
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    // A loop that writes bodies only when told to must hear of the
    // events that wait in this one.
    assert_eq!(s.poll_ready(), Some(exchange), "its events are ready");
    let mut data = Vec::new();
    loop {
        match s.poll_chunk(exchange) {
            Some(Chunk::Data(b)) => data.extend_from_slice(&b),
            Some(Chunk::End) => break,
            None => panic!("stalled"),
        }
    }
    let mut d = SseDecoder::new();
    d.push(&data);
    let msgs: Vec<Value> = std::iter::from_fn(|| d.next_event())
        .map(|e| serde_json::from_str(&e.unwrap().data).unwrap())
        .collect();
    assert_eq!(msgs[0]["method"], "notifications/progress");
    assert_eq!(msgs[1]["result"]["content"][0]["text"], "done");
    assert_eq!(s.sessions().count(), 0);
}

#[test]
fn http_listen_stream_gets_catalogue_changes() {
    let mut s = http();
    let r = stateless_post(
        &mut s,
        20,
        "subscriptions/listen",
        json!({"_meta": meta(), "notifications": {"toolsListChanged": true}}),
        &std_headers("subscriptions/listen", None),
    );
    let Reply::Open { response, exchange } = r else {
        panic!("{r:?}")
    };
    assert_eq!(response.status(), StatusCode::OK);
    let Some(Chunk::Data(ack)) = s.poll_chunk(exchange) else {
        panic!()
    };
    assert!(String::from_utf8_lossy(&ack).contains("notifications/subscriptions/acknowledged"));
    s.add_tool(Tool::new("new", Map::new()));
    let Some(Chunk::Data(change)) = s.poll_chunk(exchange) else {
        panic!()
    };
    let text = String::from_utf8_lossy(&change);
    assert!(text.contains("notifications/tools/list_changed"), "{text}");
    assert!(text.contains("io.modelcontextprotocol/subscriptionId"));
    // The client hangs up: the stream's session goes.
    s.handle_disconnect(Instant::now(), exchange);
    assert_eq!(s.sessions().count(), 0);
}

#[test]
fn http_initialize_of_an_unknown_revision_negotiates() {
    let mut s = http();
    let (status, headers, body) = full(stateless_post(
        &mut s,
        0,
        "initialize",
        json!({"protocolVersion": "2099-01-01", "capabilities": {},
            "clientInfo": {"name": "c", "version": "0"}}),
        &[("mcp-protocol-version", "2099-01-01")],
    ));
    assert_eq!(status, StatusCode::OK);
    assert!(headers.contains_key("mcp-session-id"));
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25");
}

#[test]
fn http_listen_needs_sse() {
    let mut s = http();
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "subscriptions/listen",
        "params": {"_meta": meta(), "notifications": {"toolsListChanged": true}}});
    let (parts, ()) = Request::builder()
        .method(Method::POST)
        .uri("/mcp")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("accept", "application/json")
        .header("mcp-protocol-version", V)
        .header("mcp-method", "subscriptions/listen")
        .body(())
        .unwrap()
        .into_parts();
    let (status, _, body) =
        full(s.handle_request(Instant::now(), &parts, Bytes::from(body.to_string())));
    assert_eq!(status, StatusCode::NOT_ACCEPTABLE);
    assert_eq!(body["id"], 3);
    assert_eq!(s.sessions().count(), 0);
}

#[test]
fn http_legacy_sessions_still_work() {
    let mut s = http();
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "c", "version": "0"}}});
    let (parts, ()) = Request::builder()
        .method(Method::POST)
        .uri("/mcp")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(())
        .unwrap()
        .into_parts();
    let (status, headers, body) =
        full(s.handle_request(Instant::now(), &parts, Bytes::from(init.to_string())));
    assert_eq!(status, StatusCode::OK);
    assert!(headers.contains_key("mcp-session-id"));
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25");
    // A stateless session id cannot be named by a client.
    let (parts, ()) = Request::builder()
        .method(Method::POST)
        .uri("/mcp")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .header("mcp-session-id", "stateless-0")
        .body(())
        .unwrap()
        .into_parts();
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let (status, _, _) =
        full(s.handle_request(Instant::now(), &parts, Bytes::from(list.to_string())));
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// ---- stdio ----

#[test]
fn stdio_serves_stateless_requests() {
    let mut config = Config::new(Implementation::new("srv", "1"));
    config.page_size = 10;
    let mut s = StdioServer::new(StdioConfig::new(config));
    s.session_mut().add_tool(Tool::new("t", Map::new()));
    let now = Instant::now();
    let line = json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover",
        "params": {"_meta": meta()}});
    s.handle_input(now, format!("{line}\n").as_bytes()).unwrap();
    let line = json!({"jsonrpc": "2.0", "id": 2, "method": "ping", "params": {"_meta": meta()}});
    s.handle_input(now, format!("{line}\n").as_bytes()).unwrap();
    let mut out = Vec::new();
    while let Some(t) = s.poll_transmit() {
        if let wirestate_machine::Transmit::Bytes(b) = t {
            out.extend_from_slice(&b);
        }
    }
    let lines: Vec<Value> = out
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines[0]["result"]["supportedVersions"], json!([V]));
    assert_eq!(lines[1]["error"]["code"], -32601);
}

/// A stateless session over stdio: discover, a list, a listen stream, a
/// removed method, bad `_meta`, a call and its retry.
fn stateless_script() -> Vec<u8> {
    let mut input = Vec::new();
    let mut line = |v: Value| {
        input.extend_from_slice(v.to_string().as_bytes());
        input.push(b'\n');
    };
    line(
        json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover",
        "params": {"_meta": meta()}}),
    );
    line(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"_meta": meta()}}));
    line(
        json!({"jsonrpc": "2.0", "id": 3, "method": "subscriptions/listen",
        "params": {"_meta": meta(), "notifications": {"toolsListChanged": true}}}),
    );
    line(json!({"jsonrpc": "2.0", "id": 4, "method": "ping", "params": {"_meta": meta()}}));
    line(json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list",
        "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": V}}}));
    line(json!({"jsonrpc": "2.0", "id": 6, "method": "tools/call",
        "params": with_meta(json!({"name": "t", "arguments": {"a": "h\u{e9}"}}))}));
    line(json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": with_meta(json!({"name": "t", "inputResponses": {"k": {}}, "requestState": "s"}))}));
    line(
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 3}}),
    );
    input
}

fn stdio_server() -> StdioServer {
    let mut s = StdioServer::new(StdioConfig::new(Config::new(Implementation::new("t", "1"))));
    catalogue(s.session_mut());
    s
}

/// Answers calls: input-required without a retry, complete with one.
fn stdio_react(s: &mut StdioServer, e: &ServerEvent) {
    if let ServerEvent::CallTool { id, params } = e {
        let session = s.session_mut();
        if InputResponses::from_extra(&params.extra).is_retry() {
            session
                .respond_call_tool(id, CallToolResult::text("done"))
                .unwrap();
        } else {
            session
                .respond_input_required(
                    id,
                    InputRequiredResult {
                        request_state: Some("s".into()),
                        ..InputRequiredResult::default()
                    },
                )
                .unwrap();
        }
    }
}

fn debug_events(events: Vec<ServerEvent>) -> Vec<String> {
    events.iter().map(|e| format!("{e:?}")).collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]

    /// Stateless requests over stdio give the same events and bytes
    /// however the input is cut.
    #[test]
    fn stdio_stateless_split_invariant(
        cuts in wirestate_testkit::cuts(stateless_script().len()),
        eof in proptest::prelude::any::<bool>(),
    ) {
        wirestate_testkit::assert_split_invariant(
            &stdio_server,
            Instant::now(),
            &stateless_script(),
            &cuts,
            eof,
            &mut |_, _| {},
            &debug_events,
        );
    }

    /// The same with the application answering as the calls arrive: the
    /// set of lines does not depend on the cuts.
    #[test]
    fn stdio_stateless_answers_split_invariant(
        cuts in wirestate_testkit::cuts(stateless_script().len()),
    ) {
        let input = stateless_script();
        let now = Instant::now();
        let sorted = |out: &[u8]| {
            let mut l: Vec<String> = out
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| String::from_utf8_lossy(l).into_owned())
                .collect();
            l.sort();
            l
        };
        let whole = wirestate_testkit::feed(
            stdio_server(), now, &input, &[], true, &mut stdio_react, &debug_events);
        let cut = wirestate_testkit::feed(
            stdio_server(), now, &input, &cuts, true, &mut stdio_react, &debug_events);
        proptest::prop_assert_eq!(&whole.events, &cut.events);
        proptest::prop_assert_eq!(sorted(&whole.output), sorted(&cut.output));
        let lines = sorted(&whole.output);
        proptest::prop_assert!(lines.iter().any(|l| l.contains("\"input_required\"")));
        proptest::prop_assert!(lines.iter().any(|l| l.contains("subscriptions/acknowledged")));
    }
}
