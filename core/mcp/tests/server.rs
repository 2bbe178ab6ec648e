//! The server session, driven with JSON-RPC messages (no sockets).

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};
use wirestate_jsonrpc::{ErrorObject, RequestId};
use wirestate_mcp::schema::*;
use wirestate_mcp::{Config, Error, Phase, ServerEvent, ServerSession};

struct T {
    s: ServerSession,
    now: Instant,
}

impl T {
    fn new(configure: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::new(Implementation::new("test", "1"));
        config.page_size = 2;
        configure(&mut config);
        let mut s = ServerSession::new(config);
        for name in ["a", "b", "c"] {
            s.add_tool(Tool::new(name, Map::new()));
        }
        s.add_resource(Resource::new("file:///r", "r"));
        s.add_prompt(Prompt {
            name: "p".into(),
            ..Prompt::default()
        });
        Self {
            s,
            now: Instant::now(),
        }
    }

    fn send(&mut self, v: Value) {
        let _ = self.s.handle_message(self.now, v.to_string().as_bytes());
    }

    fn out(&mut self) -> Vec<Value> {
        std::iter::from_fn(|| self.s.poll_message())
            .map(|b| serde_json::from_slice(&b).unwrap())
            .collect()
    }

    fn events(&mut self) -> Vec<ServerEvent> {
        std::iter::from_fn(|| self.s.poll_event()).collect()
    }

    fn call(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let mut out = self.out();
        assert_eq!(out.len(), 1, "{out:?}");
        out.remove(0)
    }

    fn init(&mut self, caps: Value) {
        let r = self.call(
            0,
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": caps,
                   "clientInfo": {"name": "c", "version": "1"}}),
        );
        assert_eq!(r["result"]["protocolVersion"], "2025-06-18");
        self.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        self.events();
    }
}

fn code(v: &Value) -> i64 {
    v["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("not an error: {v}"))
}

#[test]
fn lifecycle_and_negotiation() {
    let mut t = T::new(|_| {});
    // Only ping before initialize.
    assert_eq!(t.call(1, "ping", json!({}))["result"], json!({}));
    assert_eq!(code(&t.call(2, "tools/list", json!({}))), -32600);
    // Unsupported version: the server's latest.
    let r = t.call(
        3,
        "initialize",
        json!({"protocolVersion": "1999-01-01", "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}),
    );
    assert_eq!(r["result"]["protocolVersion"], version::LATEST);
    assert_eq!(r["result"]["serverInfo"]["name"], "test");
    let caps = &r["result"]["capabilities"];
    assert_eq!(caps["tools"], json!({"listChanged": true}));
    assert_eq!(caps["prompts"], json!({"listChanged": true}));
    assert_eq!(
        caps["resources"],
        json!({"subscribe": true, "listChanged": true})
    );
    assert_eq!(caps["logging"], json!({}));
    assert!(caps.get("completions").is_none());
    assert_eq!(t.s.phase(), Phase::Initializing);
    assert!(matches!(
        t.events()[..],
        [ServerEvent::Initialize {
            protocol_version: "2025-11-25",
            ..
        }]
    ));
    // A second initialize is refused.
    assert_eq!(
        code(&t.call(4, "initialize", json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}))),
        -32600
    );
    t.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    assert_eq!(t.events(), [ServerEvent::Initialized]);
    assert_eq!(t.s.phase(), Phase::Ready);
    // Every supported version is echoed.
    for v in version::SUPPORTED {
        let mut t = T::new(|_| {});
        let r = t.call(1, "initialize", json!({"protocolVersion": v, "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}));
        assert_eq!(r["result"]["protocolVersion"], *v);
    }
}

#[test]
fn errors_by_code() {
    let mut t = T::new(|_| {});
    // Bad initialize params.
    assert_eq!(
        code(&t.call(1, "initialize", json!({"protocolVersion": 5}))),
        -32602
    );
    t.init(json!({}));
    assert_eq!(code(&t.call(2, "no/such", json!({}))), -32601);
    // Completion not advertised.
    assert_eq!(code(&t.call(3, "completion/complete", json!({}))), -32601);
    assert_eq!(code(&t.call(4, "tools/call", json!({"name": 1}))), -32602);
    assert_eq!(
        code(&t.call(5, "tools/call", json!({"name": "zzz"}))),
        -32602
    );
    assert_eq!(
        code(&t.call(6, "prompts/get", json!({"name": "zzz"}))),
        -32602
    );
    assert_eq!(
        code(&t.call(7, "tools/list", json!({"cursor": "99"}))),
        -32602
    );
    assert_eq!(
        code(&t.call(8, "tools/list", json!({"cursor": "x"}))),
        -32602
    );
    assert_eq!(
        code(&t.call(9, "logging/setLevel", json!({"level": "loud"}))),
        -32602
    );
    // Malformed JSON: the peer answers -32700 with a null id.
    let e = t.s.handle_message(t.now, b"{not json").unwrap_err();
    assert_eq!(e.hint(), Some(wirestate_jsonrpc::ErrorCode::PARSE_ERROR));
    let out = t.out();
    assert_eq!(code(&out[0]), -32700);
    assert_eq!(out[0]["id"], Value::Null);
    assert!(matches!(
        t.events()[..],
        [ServerEvent::Invalid(Error::JsonRpc(_))]
    ));
}

#[test]
fn pagination() {
    let mut t = T::new(|_| {});
    t.init(json!({}));
    let p1 = t.call(1, "tools/list", json!({}));
    assert_eq!(p1["result"]["tools"].as_array().unwrap().len(), 2);
    let cursor = p1["result"]["nextCursor"].clone();
    assert!(cursor.is_string());
    let p2 = t.call(2, "tools/list", json!({"cursor": cursor}));
    assert_eq!(
        p2["result"]["tools"],
        json!([{"name": "c", "inputSchema": {"type": "object"}}])
    );
    assert!(p2["result"].get("nextCursor").is_none());
    // No params at all is fine for list requests.
    t.send(json!({"jsonrpc": "2.0", "id": 3, "method": "resources/list"}));
    let r = t.out().remove(0);
    assert_eq!(r["result"]["resources"][0]["uri"], "file:///r");
    let r = t.call(4, "resources/templates/list", json!({}));
    assert_eq!(r["result"]["resourceTemplates"], json!([]));
    let r = t.call(5, "prompts/list", json!({}));
    assert_eq!(r["result"]["prompts"][0]["name"], "p");
}

#[test]
fn calls_are_events_and_answers_go_out() {
    let mut t = T::new(|c| c.capabilities.completions = Some(Map::new()));
    t.init(json!({}));
    t.send(json!({"jsonrpc": "2.0", "id": "x", "method": "tools/call",
                  "params": {"name": "a", "arguments": {"k": 1}, "_meta": {"progressToken": "tok"}, "x-future": true}}));
    t.send(json!({"jsonrpc": "2.0", "id": 2, "method": "resources/read", "params": {"uri": "file:///r"}}));
    t.send(json!({"jsonrpc": "2.0", "id": 3, "method": "prompts/get", "params": {"name": "p"}}));
    t.send(json!({"jsonrpc": "2.0", "id": 4, "method": "completion/complete",
                  "params": {"ref": {"type": "ref/prompt", "name": "p"}, "argument": {"name": "a", "value": "v"}}}));
    assert!(t.out().is_empty());
    let events = t.events();
    assert_eq!(events.len(), 4, "{events:?}");
    let ServerEvent::CallTool { id, params } = &events[0] else {
        panic!()
    };
    assert_eq!(id, &RequestId::from("x"));
    assert_eq!(params.arguments.as_ref().unwrap()["k"], 1);
    assert_eq!(params.extra["x-future"], true);
    assert_eq!(t.s.pending_requests(), 4);
    // Progress for the call's token, increasing only.
    let tok = ProgressToken::from("tok");
    t.s.notify_progress(&tok, 1.0, Some(2.0), Some("half".into()))
        .unwrap();
    assert_eq!(
        t.s.notify_progress(&tok, 1.0, None, None),
        Err(Error::ProgressNotIncreasing)
    );
    assert_eq!(
        t.s.notify_progress(&ProgressToken::from("no"), 1.0, None, None),
        Err(Error::UnknownProgressToken)
    );
    let out = t.out();
    assert_eq!(out[0]["method"], "notifications/progress");
    assert_eq!(
        out[0]["params"],
        json!({"progressToken": "tok", "progress": 1.0, "total": 2.0, "message": "half"})
    );

    t.s.respond_call_tool(id, CallToolResult::structured(json!({"v": 1})))
        .unwrap();
    t.s.respond_read_resource(
        &2u64.into(),
        ReadResourceResult {
            contents: vec![ResourceContents::text(
                "file:///r",
                Some("text/plain"),
                "body",
            )],
            ..Default::default()
        },
    )
    .unwrap();
    t.s.respond_get_prompt(
        &3u64.into(),
        GetPromptResult {
            messages: vec![PromptMessage::text(Role::User, "hi")],
            ..Default::default()
        },
    )
    .unwrap();
    t.s.respond_complete(&4u64.into(), CompleteResult::default())
        .unwrap();
    let out = t.out();
    assert_eq!(out[0]["id"], "x");
    assert_eq!(out[0]["result"]["structuredContent"], json!({"v": 1}));
    assert_eq!(out[1]["result"]["contents"][0]["text"], "body");
    assert_eq!(out[2]["result"]["messages"][0]["content"]["text"], "hi");
    assert_eq!(out[3]["result"]["completion"]["values"], json!([]));
    // The token is gone with its request; answering twice is refused.
    assert_eq!(
        t.s.notify_progress(&tok, 5.0, None, None),
        Err(Error::UnknownProgressToken)
    );
    assert!(matches!(
        t.s.respond_error(&4u64.into(), ErrorObject::internal_error()),
        Err(Error::NotAnswerable { .. })
    ));
    assert!(t.s.is_idle());
}

#[test]
fn cancellation_drops_the_late_answer() {
    let mut t = T::new(|_| {});
    t.init(json!({}));
    t.send(json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "b"}}));
    t.events();
    t.send(json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 7, "reason": "user"}}));
    assert_eq!(
        t.events(),
        [ServerEvent::Cancelled {
            id: 7u64.into(),
            reason: Some("user".into())
        }]
    );
    // The late answer is accepted and dropped.
    t.s.respond_call_tool(&7u64.into(), CallToolResult::text("late"))
        .unwrap();
    assert!(t.out().is_empty());
    assert!(t.s.is_idle());
    // Cancelling something unknown is ignored.
    t.send(
        json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 99}}),
    );
    assert!(t.events().is_empty());
}

#[test]
fn logging_subscriptions_and_list_changed() {
    let mut t = T::new(|_| {});
    // Nothing before initialize.
    assert_eq!(t.s.log(LoggingLevel::Error, None, json!("x")), Ok(false));
    t.init(json!({}));
    assert_eq!(t.s.log(LoggingLevel::Debug, None, json!("x")), Ok(false));
    assert_eq!(
        t.s.log(LoggingLevel::Info, Some("l"), json!({"a": 1})),
        Ok(true)
    );
    assert_eq!(
        t.out()[0]["params"],
        json!({"level": "info", "logger": "l", "data": {"a": 1}})
    );
    assert_eq!(
        t.call(1, "logging/setLevel", json!({"level": "error"}))["result"],
        json!({})
    );
    assert_eq!(
        t.events(),
        [ServerEvent::LevelSet {
            level: LoggingLevel::Error
        }]
    );
    assert_eq!(t.s.log(LoggingLevel::Warning, None, json!("x")), Ok(false));
    assert_eq!(t.s.log(LoggingLevel::Emergency, None, json!("x")), Ok(true));
    t.out();

    assert!(!t.s.resource_updated("file:///r"));
    assert_eq!(
        t.call(2, "resources/subscribe", json!({"uri": "file:///r"}))["result"],
        json!({})
    );
    assert!(t.s.resource_updated("file:///r"));
    let out = t.out();
    assert_eq!(
        out[0],
        json!({"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": {"uri": "file:///r"}})
    );
    t.call(3, "resources/unsubscribe", json!({"uri": "file:///r"}));
    assert!(!t.s.resource_updated("file:///r"));

    t.s.add_tool(Tool::new("d", Map::new()));
    assert!(t.s.remove_tool("a"));
    assert!(!t.s.remove_tool("a"));
    t.s.add_prompt(Prompt {
        name: "q".into(),
        ..Prompt::default()
    });
    t.s.add_resource(Resource::new("file:///s", "s"));
    let methods: Vec<_> = t
        .out()
        .iter()
        .map(|m| m["method"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        methods,
        [
            "notifications/tools/list_changed",
            "notifications/tools/list_changed",
            "notifications/prompts/list_changed",
            "notifications/resources/list_changed",
        ]
    );
}

#[test]
fn requests_to_the_client() {
    let mut t = T::new(|c| c.jsonrpc.request_timeout = Some(Duration::from_secs(5)));
    assert_eq!(t.s.ping(t.now), Err(Error::NotInitialized));
    t.init(json!({"roots": {"listChanged": true}, "elicitation": {}}));
    assert_eq!(
        t.s.create_message(t.now, &CreateMessageParams::default()),
        Err(Error::ClientLacksCapability {
            capability: "sampling"
        })
    );
    let ping = t.s.ping(t.now).unwrap();
    let roots = t.s.list_roots(t.now).unwrap();
    let elicit =
        t.s.elicit(
            t.now,
            &ElicitParams {
                message: "name?".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let out = t.out();
    assert_eq!(out[0]["method"], "ping");
    assert_eq!(out[1]["method"], "roots/list");
    assert_eq!(out[2]["params"]["message"], "name?");
    t.send(json!({"jsonrpc": "2.0", "id": out[0]["id"], "result": {}}));
    t.send(json!({"jsonrpc": "2.0", "id": out[1]["id"], "result": {"roots": [{"uri": "file:///home"}]}}));
    let ev = t.events();
    assert_eq!(ev[0], ServerEvent::Pong { request: ping });
    let ServerEvent::Roots { request, result } = &ev[1] else {
        panic!("{ev:?}")
    };
    assert_eq!(
        (request, result.roots[0].uri.as_str()),
        (&roots, "file:///home")
    );
    // The elicitation times out: event, and the client is told.
    assert_eq!(t.s.poll_timeout(), Some(t.now + Duration::from_secs(5)));
    t.s.handle_timeout(t.now + Duration::from_secs(5));
    assert_eq!(
        t.events(),
        [ServerEvent::RequestTimedOut {
            request: elicit.clone()
        }]
    );
    let out = t.out();
    assert_eq!(out[0]["method"], "notifications/cancelled");
    assert_eq!(out[0]["params"]["requestId"], json!(elicit.as_u64()));
    assert_eq!(t.s.poll_timeout(), None);
    // A malformed result becomes a failure; an error response too.
    let roots = t.s.list_roots(t.now).unwrap();
    t.out();
    t.send(json!({"jsonrpc": "2.0", "id": roots.as_u64(), "result": {"roots": 5}}));
    assert!(matches!(
        &t.events()[..],
        [ServerEvent::RequestFailed { .. }]
    ));
    let roots = t.s.list_roots(t.now).unwrap();
    t.s.cancel_request(&roots, Some("changed my mind")).unwrap();
    let out = t.out();
    assert_eq!(out[0]["method"], "roots/list");
    assert_eq!(out[1]["params"]["reason"], "changed my mind");
    t.send(json!({"jsonrpc": "2.0", "id": roots.as_u64(), "result": {"roots": []}}));
    assert!(t.events().is_empty(), "a late answer is dropped");
}

mod robustness {
    use super::*;
    use proptest::prelude::*;

    fn message() -> impl Strategy<Value = Vec<u8>> {
        let methods = prop_oneof![
            Just("initialize"),
            Just("ping"),
            Just("tools/list"),
            Just("tools/call"),
            Just("resources/list"),
            Just("resources/read"),
            Just("resources/subscribe"),
            Just("prompts/get"),
            Just("completion/complete"),
            Just("logging/setLevel"),
            Just("notifications/cancelled"),
            Just("notifications/initialized"),
            Just("x"),
        ];
        let params = prop_oneof![
            Just(Value::Null),
            Just(json!({})),
            Just(json!([1])),
            Just(json!({"name": "a"})),
            Just(json!({"cursor": "1"})),
            Just(json!({"requestId": 1})),
            Just(json!({"level": "debug"})),
            Just(
                json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}})
            ),
            Just(json!({"uri": "file:///r", "_meta": {"progressToken": 1}})),
        ];
        prop_oneof![
            (proptest::option::of(0u64..4), methods, params).prop_map(|(id, m, p)| {
                let mut v = json!({"jsonrpc": "2.0", "method": m, "params": p});
                if let Some(id) = id {
                    v["id"] = json!(id);
                }
                v.to_string().into_bytes()
            }),
            (0u64..4).prop_map(|id| json!({"jsonrpc": "2.0", "id": id, "result": {}})
                .to_string()
                .into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..40),
        ]
    }

    proptest! {
        /// Any sequence of messages, answered or not by the application,
        /// never panics, and every request gets at most one answer.
        #[test]
        fn any_input(messages in proptest::collection::vec(message(), 0..24), answer in any::<bool>()) {
            let mut t = T::new(|_| {});
            for m in messages {
                let _ = t.s.handle_message(t.now, &m);
                for e in t.events() {
                    if let (true, ServerEvent::CallTool { id, .. } | ServerEvent::ReadResource { id, .. }) = (answer, &e) {
                        t.s.respond_call_tool(id, CallToolResult::text("x")).unwrap();
                    }
                }
                for out in t.out() {
                    prop_assert!(out.is_array() || out["jsonrpc"] == "2.0");
                }
                t.s.handle_timeout(t.now + Duration::from_secs(3600));
                prop_assert!(t.s.poll_timeout().is_none_or(|d| d > t.now + Duration::from_secs(3600)));
            }
        }
    }
}

/// Batches follow the negotiated revision (here over a message stream,
/// as on stdio): 2025-03-26 requires them, 2025-06-18 removed them, so a
/// batch on such a session is one -32600 error (id null) and none of its
/// requests is served. Before `initialize` they are taken.
#[test]
fn batches_follow_the_negotiated_revision() {
    let batch = json!([
        {"jsonrpc": "2.0", "id": 10, "method": "ping"},
        {"jsonrpc": "2.0", "id": 11, "method": "tools/list"}
    ]);
    let mut t = T::new(|_| {});
    assert!(t.s.accepts_batches());
    t.init(json!({}));
    assert!(!t.s.accepts_batches());
    t.send(batch.clone());
    let out = t.out();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(code(&out[0]), -32600);
    assert_eq!(out[0]["id"], Value::Null);
    // Single messages go on as before.
    assert_eq!(t.call(12, "ping", json!({}))["result"], json!({}));

    let mut t = T::new(|_| {});
    let r = t.call(
        0,
        "initialize",
        json!({"protocolVersion": "2025-03-26", "capabilities": {},
               "clientInfo": {"name": "c", "version": "1"}}),
    );
    assert_eq!(r["result"]["protocolVersion"], "2025-03-26");
    t.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    assert!(t.s.accepts_batches());
    t.send(batch);
    let out = t.out();
    assert_eq!(out.len(), 1, "{out:?}");
    let answers = out[0].as_array().expect("one array answer");
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0]["id"], 10);
    assert_eq!(
        answers[1]["result"]["tools"].as_array().map(Vec::len),
        Some(2)
    );

    // Batches configured off stay off, even on a revision that has them.
    let mut t = T::new(|c| c.jsonrpc.limits.allow_batches = false);
    assert!(!t.s.accepts_batches());
    let r = t.call(
        0,
        "initialize",
        json!({"protocolVersion": "2025-03-26", "capabilities": {},
               "clientInfo": {"name": "c", "version": "1"}}),
    );
    assert_eq!(r["result"]["protocolVersion"], "2025-03-26");
    t.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    assert!(!t.s.accepts_batches());
}
