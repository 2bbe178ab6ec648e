//! Pieces shared by the MCP targets ([`mcp_stdio`](super::mcp_stdio),
//! [`mcp_ws`](super::mcp_ws) and [`mcp_http`](super::mcp_http)): client
//! messages generated from ops, the catalogue every server starts with,
//! the application answering the requests it was handed ([`App`] for the
//! one-session transports), and the check that output is JSON-RPC 2.0.

use arbitrary::Arbitrary;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Instant;
use wirestate_jsonrpc::{Decoded, ErrorCode, ErrorObject, Limits, Message, RequestId, decode};
use wirestate_mcp::schema::{
    CallToolResult, CompleteResult, GetPromptResult, LoggingLevel, ProgressToken, Prompt,
    ReadResourceResult, Resource, Tool,
};
use wirestate_mcp::{ServerEvent, ServerSession};

/// The tool every server offers.
pub(crate) const TOOL: &str = "echo";
/// The resource every server offers.
pub(crate) const RESOURCE: &str = "file:///notes.txt";
/// The prompt every server offers.
pub(crate) const PROMPT: &str = "greet";

pub(crate) fn tool() -> Tool {
    let schema = json!({"type": "object", "properties": {"text": {"type": "string"}}});
    let Value::Object(schema) = schema else {
        unreachable!()
    };
    Tool::new(TOOL, schema)
}

pub(crate) fn resource() -> Resource {
    Resource::new(RESOURCE, "notes")
}

pub(crate) fn prompt() -> Prompt {
    Prompt {
        name: PROMPT.into(),
        ..Prompt::default()
    }
}

/// A request id from a small space, so that ids collide: numbers 0 to 7,
/// strings, and a few odd ones.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdChoice(pub u8);

impl IdChoice {
    pub(crate) fn json(self) -> Value {
        match self.0 % 16 {
            n @ 0..=7 => json!(n),
            n @ 8..=11 => json!(format!("r{n}")),
            12 => json!(-1),
            13 => json!(""),
            14 => json!(9_007_199_254_740_993_u64),
            _ => json!("x\u{e9}\n"),
        }
    }
}

/// A client message, written as JSON by `ClientMsg::json`.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMsg {
    /// `initialize` with a revision picked among the supported ones, an
    /// unknown one and a malformed one; client capabilities by bits
    /// (roots, sampling, elicitation).
    Initialize {
        /// The id.
        id: IdChoice,
        /// The revision.
        version: u8,
        /// Capability bits.
        caps: u8,
    },
    /// `notifications/initialized`.
    Initialized,
    /// `tools/list`, with a cursor when `Some`.
    ToolsList(IdChoice, Option<u8>),
    /// `tools/call` of the tool (or an unknown one), with a progress token
    /// when `Some`.
    ToolsCall {
        /// The id.
        id: IdChoice,
        /// The registered tool, or not.
        known: bool,
        /// The progress token.
        progress: Option<u8>,
    },
    /// `resources/list`.
    ResourcesList(IdChoice),
    /// `resources/read`.
    ResourcesRead(IdChoice, bool),
    /// `resources/subscribe` (or unsubscribe).
    Subscribe(IdChoice, bool),
    /// `prompts/list`.
    PromptsList(IdChoice),
    /// `prompts/get` (of the prompt or an unknown one).
    PromptsGet(IdChoice, bool),
    /// `completion/complete`.
    Complete(IdChoice),
    /// `logging/setLevel`.
    SetLevel(IdChoice, u8),
    /// `ping`.
    Ping(IdChoice),
    /// An unknown method.
    Unknown(IdChoice),
    /// `notifications/cancelled` for an id.
    Cancelled(IdChoice),
    /// `notifications/progress` for a token of ours.
    Progress(u8),
    /// `notifications/roots/list_changed`.
    RootsChanged,
    /// A response to the server's `n`-th request seen so far (or an
    /// error response when `false`).
    Answer(u8, bool),
    /// A batch of two messages (2025-03-26).
    Batch(IdChoice, IdChoice),
    /// Something malformed.
    Garbage(u8),
}

impl ClientMsg {
    /// The message's text; `server_requests` are the ids of the
    /// server's requests seen so far.
    pub(crate) fn json(self, server_requests: &[Value]) -> String {
        let req = |id: IdChoice, method: &str, params: Value| {
            json!({"jsonrpc": "2.0", "id": id.json(), "method": method, "params": params})
                .to_string()
        };
        match self {
            ClientMsg::Initialize { id, version, caps } => {
                let version = match version % 6 {
                    0 => "2024-11-05",
                    1 => "2025-03-26",
                    2 => "2025-06-18",
                    3 => "2025-11-25",
                    4 => "1999-01-01",
                    _ => "",
                };
                let mut c = serde_json::Map::new();
                if caps & 1 != 0 {
                    c.insert("roots".into(), json!({"listChanged": true}));
                }
                if caps & 2 != 0 {
                    c.insert("sampling".into(), json!({}));
                }
                if caps & 4 != 0 {
                    c.insert("elicitation".into(), json!({}));
                }
                let mut params = json!({"protocolVersion": version, "capabilities": c,
                    "clientInfo": {"name": "fuzz", "version": "1"}});
                if caps & 8 != 0 {
                    params = json!({"protocolVersion": 7});
                }
                req(id, "initialize", params)
            }
            ClientMsg::Initialized => {
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string()
            }
            ClientMsg::ToolsList(id, cursor) => {
                let params = match cursor {
                    None => json!({}),
                    Some(c) if c % 2 == 0 => json!({"cursor": (c / 2).to_string()}),
                    Some(c) => json!({"cursor": format!("bad{c}")}),
                };
                req(id, "tools/list", params)
            }
            ClientMsg::ToolsCall {
                id,
                known,
                progress,
            } => {
                let name = if known { TOOL } else { "nope" };
                let mut params = json!({"name": name, "arguments": {"text": "hi"}});
                if let Some(t) = progress {
                    params["_meta"] = json!({"progressToken": t % 4});
                }
                req(id, "tools/call", params)
            }
            ClientMsg::ResourcesList(id) => req(id, "resources/list", json!({})),
            ClientMsg::ResourcesRead(id, known) => {
                let uri = if known { RESOURCE } else { "file:///missing" };
                req(id, "resources/read", json!({"uri": uri}))
            }
            ClientMsg::Subscribe(id, on) => {
                let method = if on {
                    "resources/subscribe"
                } else {
                    "resources/unsubscribe"
                };
                req(id, method, json!({"uri": RESOURCE}))
            }
            ClientMsg::PromptsList(id) => req(id, "prompts/list", json!({})),
            ClientMsg::PromptsGet(id, known) => {
                let name = if known { PROMPT } else { "nope" };
                req(id, "prompts/get", json!({"name": name}))
            }
            ClientMsg::Complete(id) => req(
                id,
                "completion/complete",
                json!({"ref": {"type": "ref/prompt", "name": PROMPT},
                    "argument": {"name": "n", "value": "a"}}),
            ),
            ClientMsg::SetLevel(id, level) => {
                let level = [
                    "debug",
                    "info",
                    "notice",
                    "warning",
                    "error",
                    "critical",
                    "alert",
                    "emergency",
                    "loud",
                ][usize::from(level % 9)];
                req(id, "logging/setLevel", json!({"level": level}))
            }
            ClientMsg::Ping(id) => {
                json!({"jsonrpc": "2.0", "id": id.json(), "method": "ping"}).to_string()
            }
            ClientMsg::Unknown(id) => req(id, "tools/frobnicate", json!([1, 2])),
            ClientMsg::Cancelled(id) => json!({"jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": id.json(), "reason": "user"}})
            .to_string(),
            ClientMsg::Progress(t) => json!({"jsonrpc": "2.0",
                "method": "notifications/progress",
                "params": {"progressToken": t % 4, "progress": f64::from(t)}})
            .to_string(),
            ClientMsg::RootsChanged => {
                json!({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"}).to_string()
            }
            ClientMsg::Answer(n, ok) => {
                let id = if server_requests.is_empty() {
                    json!(0)
                } else {
                    server_requests[usize::from(n) % server_requests.len()].clone()
                };
                if ok {
                    json!({"jsonrpc": "2.0", "id": id, "result": {"roots": []}}).to_string()
                } else {
                    json!({"jsonrpc": "2.0", "id": id,
                        "error": {"code": -1, "message": "no"}})
                    .to_string()
                }
            }
            ClientMsg::Batch(a, b) => format!(
                "[{},{}]",
                ClientMsg::Ping(a).json(server_requests),
                ClientMsg::ToolsCall {
                    id: b,
                    known: true,
                    progress: None
                }
                .json(server_requests)
            ),
            ClientMsg::Garbage(n) => match n % 8 {
                0 => "{".into(),
                1 => "[]".into(),
                2 => r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#.into(),
                3 => r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#.into(),
                4 => r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"x"}"#.into(),
                5 => "[1,2]".into(),
                6 => r#"{"jsonrpc":"2.0","id":null,"result":1}"#.into(),
                _ => "\u{feff}null".into(),
            },
        }
    }
}

/// A request the application was handed and has not answered.
#[derive(Debug, Clone)]
pub(crate) struct Handed {
    pub(crate) id: RequestId,
    pub(crate) kind: Kind,
    pub(crate) progress: Option<wirestate_mcp::schema::ProgressToken>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Tool,
    Read,
    Prompt,
    Complete,
}

/// Notes a request the application must answer; returns it when `event`
/// is one.
pub(crate) fn handed(event: &ServerEvent) -> Option<Handed> {
    let (id, kind, meta) = match event {
        ServerEvent::CallTool { id, params } => (id, Kind::Tool, params.meta.as_ref()),
        ServerEvent::ReadResource { id, .. } => (id, Kind::Read, None),
        ServerEvent::GetPrompt { id, .. } => (id, Kind::Prompt, None),
        ServerEvent::Complete { id, .. } => (id, Kind::Complete, None),
        _ => return None,
    };
    Some(Handed {
        id: id.clone(),
        kind,
        progress: wirestate_mcp::schema::progress_token(meta),
    })
}

/// The application answers `h` (with a result, or an error when `ok` is
/// false); returns the outcome as text, for the logs.
pub(crate) fn answer(session: &mut ServerSession, h: &Handed, ok: bool) -> String {
    let r = if !ok {
        session.respond_error(&h.id, ErrorObject::new(ErrorCode::new(-32002), "no"))
    } else {
        match h.kind {
            Kind::Tool => session.respond_call_tool(&h.id, CallToolResult::text("ok\nline")),
            Kind::Read => session.respond_read_resource(
                &h.id,
                serde_json::from_value::<ReadResourceResult>(
                    json!({"contents": [{"uri": RESOURCE, "text": "notes"}]}),
                )
                .expect("a result"),
            ),
            Kind::Prompt => session.respond_get_prompt(
                &h.id,
                serde_json::from_value::<GetPromptResult>(json!({"messages": [
                    {"role": "user", "content": {"type": "text", "text": "hello"}}]}))
                .expect("a result"),
            ),
            Kind::Complete => session.respond_complete(
                &h.id,
                serde_json::from_value::<CompleteResult>(json!({"completion": {"values": ["a"]}}))
                    .expect("a result"),
            ),
        }
    };
    format!("answer {:?} {ok}: {r:?}", h.id)
}

pub(crate) fn level(n: u8) -> LoggingLevel {
    [
        LoggingLevel::Debug,
        LoggingLevel::Info,
        LoggingLevel::Notice,
        LoggingLevel::Warning,
        LoggingLevel::Error,
        LoggingLevel::Critical,
        LoggingLevel::Alert,
        LoggingLevel::Emergency,
    ][usize::from(n % 8)]
}

/// What one message the server sent holds.
#[derive(Debug, Default)]
pub(crate) struct Sent {
    /// Ids of responses (results and errors), `None` for a `null` id.
    pub(crate) responses: Vec<Option<RequestId>>,
    /// Ids of the server's requests.
    pub(crate) requests: Vec<Value>,
    /// Methods of notifications.
    pub(crate) notifications: Vec<String>,
    /// Error codes of error responses with a `null` id.
    pub(crate) null_errors: Vec<i64>,
}

/// Checks that `text` is one JSON-RPC 2.0 message or a non-empty batch of
/// them, as a server may send it, and returns what it holds.
pub(crate) fn check_jsonrpc(text: &[u8]) -> Sent {
    let value: Value = serde_json::from_slice(text).unwrap_or_else(|e| {
        panic!(
            "output is not JSON ({e}): {:?}",
            String::from_utf8_lossy(text)
        )
    });
    let entries = match &value {
        Value::Array(a) => {
            assert!(!a.is_empty(), "an empty batch");
            a.clone()
        }
        v => vec![v.clone()],
    };
    let mut sent = Sent::default();
    for e in &entries {
        let o = e
            .as_object()
            .unwrap_or_else(|| panic!("not an object: {e}"));
        assert_eq!(o.get("jsonrpc"), Some(&Value::from("2.0")), "{e}");
        match o.get("method") {
            Some(m) => {
                let m = m
                    .as_str()
                    .unwrap_or_else(|| panic!("method not a string: {e}"));
                assert!(!o.contains_key("result") && !o.contains_key("error"), "{e}");
                if let Some(p) = o.get("params") {
                    assert!(p.is_object() || p.is_array(), "{e}");
                }
                match o.get("id") {
                    Some(id) => {
                        assert!(id.is_string() || id.is_i64() || id.is_u64(), "{e}");
                        sent.requests.push(id.clone());
                    }
                    None => sent.notifications.push(m.to_owned()),
                }
            }
            None => {
                let id = o.get("id").unwrap_or_else(|| panic!("no id: {e}"));
                assert!(id.is_string() || id.is_number() || id.is_null(), "{e}");
                match (o.get("result"), o.get("error")) {
                    (Some(_), None) => assert!(!id.is_null(), "a result for null: {e}"),
                    (None, Some(err)) => {
                        assert!(err["code"].is_i64(), "{e}");
                        assert!(err["message"].is_string(), "{e}");
                        if id.is_null() {
                            sent.null_errors.push(err["code"].as_i64().unwrap_or(0));
                        }
                    }
                    _ => panic!("neither result nor error, or both: {e}"),
                }
            }
        }
    }
    // And the crate's own decoder agrees.
    let mut limits = Limits::default();
    limits.max_message_size = usize::MAX;
    // (Ids are taken from it: it keeps integer ids of any size exactly.)
    let messages = match decode(bytes::Bytes::copy_from_slice(text), &limits) {
        Ok(Decoded::Single(Ok(m))) => vec![m],
        Ok(Decoded::Batch(v)) => v
            .into_iter()
            .map(|m| m.unwrap_or_else(|e| panic!("a batch entry does not decode: {e}")))
            .collect(),
        other => panic!("output does not decode: {other:?}"),
    };
    for m in messages {
        if matches!(m, Message::Response(_) | Message::ErrorResponse(_)) {
            sent.responses.push(m.id().cloned());
        }
    }
    sent
}

/// The request ids a client message (single or batch) carries, as the
/// server will see them: requests, and invalid entries whose id the
/// JSON-RPC layer can read (answered with it).
pub(crate) fn request_ids(text: &[u8]) -> Vec<RequestId> {
    let mut limits = Limits::default();
    limits.max_message_size = usize::MAX;
    limits.max_batch_len = usize::MAX;
    let entries = match decode(bytes::Bytes::copy_from_slice(text), &limits) {
        Ok(Decoded::Single(m)) => vec![m],
        Ok(Decoded::Batch(v)) => v,
        Err(_) => return Vec::new(),
    };
    let mut ids = Vec::new();
    for e in entries {
        match e {
            Ok(Message::Request(r)) => ids.push(r.id),
            Ok(_) => {}
            Err(e) => {
                if let Some(id) = e.reply().and_then(|r| r.id) {
                    ids.push(id);
                }
            }
        }
    }
    ids
}

/// Responses per request id never outnumber the requests with that id.
#[derive(Debug, Default)]
pub(crate) struct IdLedger {
    requests: BTreeMap<RequestId, usize>,
    responses: BTreeMap<RequestId, usize>,
}

impl IdLedger {
    pub(crate) fn request(&mut self, id: RequestId) {
        *self.requests.entry(id).or_default() += 1;
    }

    pub(crate) fn response(&mut self, id: RequestId) {
        let n = self.responses.entry(id.clone()).or_default();
        *n += 1;
        let asked = self.requests.get(&id).copied().unwrap_or(0);
        assert!(
            *n <= asked,
            "{n} responses to id {id:?}, asked {asked} times"
        );
    }
}

/// What the application does to the session of a one-session server
/// (stdio, WebSocket), as ops of the models choose it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Act {
    /// Answer the `n`-th request held (an error when `false`).
    Answer(u8, bool),
    /// Answer a held request twice (the second must fail).
    AnswerTwice(u8),
    /// Progress for the `n`-th request held (its token, or a stranger's).
    Progress(u8, u8),
    /// A log message at a level.
    Log(u8),
    /// Ping the client.
    Ping,
    /// Ask the client for its roots.
    Roots,
    /// Cancel one of the server's own requests.
    CancelOurs(u8),
    /// A resource changed.
    ResourceUpdated,
    /// The catalogue changes: a tool added (`true`) or removed.
    Catalogue(bool),
}

/// The application's side of a one-session server in the stdio and
/// WebSocket models, and their ledger of its JSON-RPC traffic: the
/// requests the client sent against the responses the server sent, the
/// requests handed to the application, the server's own requests, and the
/// log both runs of a model must agree on.
#[derive(Debug, Default)]
pub(crate) struct App {
    ids: IdLedger,
    /// Requests handed to the application and not answered yet.
    pub(crate) held: Vec<Handed>,
    /// Ids of the server's requests seen in the output, for the client's
    /// answers.
    pub(crate) server_requests: Vec<Value>,
    /// Ids of the requests the server sent on the application's behalf.
    ours: Vec<RequestId>,
    /// Events and command results, in order.
    pub(crate) log: Vec<String>,
}

impl App {
    /// Notes a client message as the server decodes it: its request ids.
    pub(crate) fn client_sent(&mut self, text: &[u8]) {
        for id in request_ids(text) {
            self.ids.request(id);
        }
    }

    /// Checks a message the server sent ([`check_jsonrpc`]), counts its
    /// responses against the requests and keeps its requests' ids; returns
    /// the rest of what it holds.
    pub(crate) fn server_sent(&mut self, text: &[u8]) -> Sent {
        let mut sent = check_jsonrpc(text);
        for id in sent.responses.drain(..).flatten() {
            self.ids.response(id);
        }
        self.server_requests.append(&mut sent.requests);
        sent
    }

    /// Notes a session event: a request handed to the application is
    /// held, a cancelled one dropped; the event is logged.
    pub(crate) fn event(&mut self, e: &ServerEvent) {
        if let Some(h) = handed(e) {
            self.held.push(h);
        }
        if let ServerEvent::Cancelled { id, .. } = e {
            self.held.retain(|h| &h.id != id);
        }
        self.log.push(format!("{e:?}"));
    }

    /// Does `act` on `session` at `now`, logging the outcome.
    pub(crate) fn act(&mut self, session: &mut ServerSession, now: Instant, act: Act) {
        match act {
            Act::Answer(n, ok) => {
                if !self.held.is_empty() {
                    let h = self.held.remove(usize::from(n) % self.held.len());
                    let r = answer(session, &h, ok);
                    self.log.push(r);
                }
            }
            Act::AnswerTwice(n) => {
                if !self.held.is_empty() {
                    let h = self.held.remove(usize::from(n) % self.held.len());
                    let first = answer(session, &h, true);
                    let second = answer(session, &h, false);
                    assert!(second.contains("Err"), "answered twice: {first} / {second}");
                    self.log.push(first);
                    self.log.push(second);
                }
            }
            Act::Progress(n, t) => {
                let token = match self.held.get(usize::from(n) % self.held.len().max(1)) {
                    Some(Handed {
                        progress: Some(p), ..
                    }) if t % 4 != 0 => p.clone(),
                    _ => ProgressToken::Number(i64::from(t)),
                };
                let r = session.notify_progress(
                    &token,
                    f64::from(t),
                    Some(255.0),
                    Some("working".into()),
                );
                self.log.push(format!("progress {token:?}: {r:?}"));
            }
            Act::Log(l) => {
                let r = session.log(level(l), Some("fuzz"), json!({"n": l, "text": "a\nb"}));
                self.log.push(format!("log: {r:?}"));
            }
            Act::Ping => {
                let r = session.ping(now);
                if let Ok(id) = &r {
                    self.ours.push(id.clone());
                }
                self.log.push(format!("ping: {r:?}"));
            }
            Act::Roots => {
                let r = session.list_roots(now);
                if let Ok(id) = &r {
                    self.ours.push(id.clone());
                }
                self.log.push(format!("roots: {r:?}"));
            }
            Act::CancelOurs(n) => {
                if !self.ours.is_empty() {
                    let id = self.ours.remove(usize::from(n) % self.ours.len());
                    let r = session.cancel_request(&id, Some("bored"));
                    self.log.push(format!("cancel {id:?}: {r:?}"));
                }
            }
            Act::ResourceUpdated => {
                let r = session.resource_updated(RESOURCE);
                self.log.push(format!("updated: {r}"));
            }
            Act::Catalogue(add) => {
                if add {
                    session.add_tool(tool());
                } else {
                    let r = session.remove_tool(TOOL);
                    self.log.push(format!("removed: {r}"));
                }
            }
        }
    }
}
