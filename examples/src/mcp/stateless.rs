//! Conformance fixtures of the stateless 2026-07-28 era: the diagnostic
//! tools the suite's `server-stateless` scenario probes, the
//! input-required (SEP-2322) tools and prompt, and a tool with an
//! `x-mcp-header` argument (SEP-2243).
//!
//! `requestState` values are `<base64url payload>.<tag>`, the tag a
//! SipHash of the payload under a key drawn from the OS when the server
//! starts (std's `RandomState`): a client cannot forge or alter one, and a
//! tampered state is refused with -32602.

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine;
use serde_json::{Map, Value, json};

use wirestate_mcp::handler::{NoArgs, ToolError};
use wirestate_mcp::schema::{
    CallToolResult, ClientCapabilities, ContentBlock, GetPromptResult, InputRequest,
    InputRequiredResult, LoggingLevel, Prompt, PromptMessage, Role, Tool, methods,
};
use wirestate_rt::mcp::RpcError;

use super::builder::{Builder, Ctx};

/// Signs and checks `requestState` values.
#[derive(Clone)]
struct StateSigner {
    key: Arc<RandomState>,
}

impl StateSigner {
    fn new() -> Self {
        Self {
            key: Arc::new(RandomState::new()),
        }
    }

    fn tag(&self, payload: &str) -> String {
        format!("{:016x}", self.key.hash_one(payload))
    }

    fn sign(&self, value: &Value) -> String {
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string().as_bytes());
        let tag = self.tag(&payload);
        format!("{payload}.{tag}")
    }

    /// The payload of a state this server signed.
    fn verify(&self, state: &str) -> Result<Value, ToolError> {
        let bad = || {
            ToolError::Rpc(RpcError::invalid_params(
                "requestState failed its integrity check",
            ))
        };
        let (payload, tag) = state.rsplit_once('.').ok_or_else(bad)?;
        if self.tag(payload) != tag {
            return Err(bad());
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| bad())?;
        serde_json::from_slice(&bytes).map_err(|_| bad())
    }
}

fn elicit(message: &str, property: &str) -> InputRequest {
    InputRequest::new(
        methods::ELICITATION_CREATE,
        &json!({"message": message, "requestedSchema": {"type": "object",
            "properties": {property: {"type": "string"}}, "required": [property]}}),
    )
}

fn sample(text: &str, max_tokens: u64) -> InputRequest {
    InputRequest::new(
        methods::SAMPLING_CREATE_MESSAGE,
        &json!({"messages": [{"role": "user", "content": {"type": "text", "text": text}}],
            "maxTokens": max_tokens}),
    )
}

fn roots() -> InputRequest {
    InputRequest::new(methods::ROOTS_LIST, &json!({}))
}

fn needs(requests: Vec<(&str, InputRequest)>, state: Option<String>) -> ToolError {
    ToolError::InputRequired(Box::new(InputRequiredResult {
        input_requests: Some(
            requests
                .into_iter()
                .map(|(k, r)| (k.to_owned(), r))
                .collect::<BTreeMap<_, _>>(),
        ),
        request_state: state,
        ..InputRequiredResult::default()
    }))
}

/// The client's answers, if it sent them; a malformed `inputResponses` is
/// refused.
fn responses(ctx: &impl Ctx) -> Result<Map<String, Value>, ToolError> {
    let input = ctx.input_responses();
    if input.malformed {
        return Err(ToolError::Rpc(RpcError::invalid_params(
            "inputResponses must be an object",
        )));
    }
    Ok(input.responses.clone().unwrap_or_default())
}

/// The answer under `key`, which must be an object (an ElicitResult,
/// CreateMessageResult or ListRootsResult).
fn answer<'a>(
    responses: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, ToolError> {
    match responses.get(key) {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(ToolError::Rpc(RpcError::invalid_params(format!(
            "inputResponses.{key} must be an object"
        )))),
    }
}

fn caps(ctx: &impl Ctx) -> ClientCapabilities {
    ctx.request_meta()
        .map(|m| m.client_capabilities.clone())
        .unwrap_or_default()
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A tool without arguments that answers without waiting.
fn tool<B: Builder>(
    b: B,
    name: &str,
    description: &str,
    f: impl Fn(B::Ctx) -> Result<CallToolResult, ToolError> + Send + Sync + 'static,
) -> B {
    b.add_tool(name, description, move |ctx, _: NoArgs| {
        Box::pin(std::future::ready(f(ctx)))
    })
}

/// Adds the 2026-07-28 fixtures.
pub(super) fn with_stateless_fixtures<B: Builder>(b: B) -> B {
    let signer = StateSigner::new();

    let b = tool(
        b,
        "test_missing_capability",
        "Needs the client's sampling capability: -32021 when the request does not declare it",
        |ctx| {
            if caps(&ctx).sampling.is_none() {
                let required = ClientCapabilities {
                    sampling: Some(Default::default()),
                    ..ClientCapabilities::default()
                };
                return Err(ToolError::MissingCapability(Box::new(required)));
            }
            Ok(CallToolResult::text("sampling capability declared"))
        },
    );
    let b = tool(
        b,
        "test_streaming_elicitation",
        "Asks for input the stateless way: an InputRequiredResult, never a request on the stream",
        |ctx| {
            let r = responses(&ctx)?;
            if let Some(a) = answer(&r, "answer")? {
                return Ok(CallToolResult::text(format!(
                    "received {}",
                    Value::Object(a.clone())
                )));
            }
            if caps(&ctx).elicitation.is_none() {
                let required = ClientCapabilities {
                    elicitation: Some(Default::default()),
                    ..ClientCapabilities::default()
                };
                return Err(ToolError::MissingCapability(Box::new(required)));
            }
            Err(needs(
                vec![("answer", elicit("Your answer?", "answer"))],
                None,
            ))
        },
    );
    let b = tool(
        b,
        "test_logging_tool",
        "Logs at info: sent only when the request's _meta asks for a log level",
        |ctx| {
            let sent = ctx.log(
                LoggingLevel::Info,
                Some("fixture"),
                json!("test_logging_tool ran"),
            );
            Ok(CallToolResult::text(format!("logged: {sent}")))
        },
    );

    // Catalogue changes for subscriptions/listen.
    let dynamic_tool = Arc::new(AtomicBool::new(false));
    let b = tool(
        b,
        "test_trigger_tool_change",
        "Adds or removes the tool `test_dynamic_tool` (tools/list_changed)",
        move |ctx| {
            if dynamic_tool.fetch_xor(true, Ordering::SeqCst) {
                ctx.remove_tool("test_dynamic_tool");
            } else {
                let mut t = Tool::new(
                    "test_dynamic_tool",
                    json!({"type": "object"})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                );
                t.description = Some("Appears and disappears".into());
                ctx.add_tool(t);
            }
            Ok(CallToolResult::text("tool list changed"))
        },
    );
    let dynamic_prompt = Arc::new(AtomicBool::new(false));
    let b = tool(
        b,
        "test_trigger_prompt_change",
        "Adds or removes the prompt `test_dynamic_prompt` (prompts/list_changed)",
        move |ctx| {
            if dynamic_prompt.fetch_xor(true, Ordering::SeqCst) {
                ctx.remove_prompt("test_dynamic_prompt");
            } else {
                ctx.add_prompt(Prompt {
                    name: "test_dynamic_prompt".into(),
                    description: Some("Appears and disappears".into()),
                    ..Prompt::default()
                });
            }
            Ok(CallToolResult::text("prompt list changed"))
        },
    );

    // SEP-2243: an argument mirrored in Mcp-Param-Region.
    let mut custom = Tool::new(
        "test_custom_headers",
        json!({"type": "object",
            "properties": {"region": {"type": "string", "x-mcp-header": "Region"}},
            "required": ["region"]})
        .as_object()
        .cloned()
        .unwrap_or_default(),
    );
    custom.description = Some("Echoes `region`, which clients mirror in Mcp-Param-Region".into());
    let b = b.add_tool_raw(custom, |_, args| {
        Box::pin(async move {
            Ok(CallToolResult::text(format!(
                "region={}",
                args.get("region").map(text).unwrap_or_default()
            )))
        })
    });

    // SEP-2322 input-required tools.
    let b = tool(
        b,
        "test_input_required_result_elicitation",
        "Asks the user's name through an InputRequiredResult",
        |ctx| {
            let r = responses(&ctx)?;
            match answer(&r, "user_name")? {
                Some(a) => {
                    let name = a
                        .get("content")
                        .and_then(|c| c.get("name"))
                        .map(text)
                        .unwrap_or_default();
                    Ok(CallToolResult::text(format!("Hello, {name}!")))
                }
                None => Err(needs(
                    vec![("user_name", elicit("What is your name?", "name"))],
                    None,
                )),
            }
        },
    );
    let b = tool(
        b,
        "test_input_required_result_sampling",
        "Asks the client's model a question through an InputRequiredResult",
        |ctx| {
            let r = responses(&ctx)?;
            match answer(&r, "capital_question")? {
                Some(a) => {
                    let answer = a
                        .get("content")
                        .and_then(|c| c.get("text"))
                        .map(text)
                        .unwrap_or_default();
                    Ok(CallToolResult::text(format!("LLM said: {answer}")))
                }
                None => Err(needs(
                    vec![(
                        "capital_question",
                        sample("What is the capital of France?", 100),
                    )],
                    None,
                )),
            }
        },
    );
    let b = tool(
        b,
        "test_input_required_result_list_roots",
        "Asks for the client's roots through an InputRequiredResult",
        |ctx| {
            let r = responses(&ctx)?;
            match answer(&r, "client_roots")? {
                Some(a) => {
                    let uris: Vec<String> = a
                        .get("roots")
                        .and_then(Value::as_array)
                        .map(|l| l.iter().filter_map(|r| r.get("uri").map(text)).collect())
                        .unwrap_or_default();
                    Ok(CallToolResult::text(format!("Roots: {}", uris.join(", "))))
                }
                None => Err(needs(vec![("client_roots", roots())], None)),
            }
        },
    );
    let s = signer.clone();
    let b = tool(
        b,
        "test_input_required_result_request_state",
        "Round trip of a signed requestState",
        move |ctx| {
            let r = responses(&ctx)?;
            match (&ctx.input_responses().request_state, answer(&r, "confirm")?) {
                (Some(state), Some(_)) => {
                    let v = s.verify(state)?;
                    if v["tool"] != "request_state" {
                        return Err(ToolError::Rpc(RpcError::invalid_params(
                            "requestState is for another request",
                        )));
                    }
                    Ok(CallToolResult::text("state-ok: requestState validated"))
                }
                _ => Err(needs(
                    vec![("confirm", elicit("Please confirm", "ok"))],
                    Some(s.sign(&json!({"tool": "request_state", "round": 1}))),
                )),
            }
        },
    );
    let s = signer.clone();
    let b = tool(
        b,
        "test_input_required_result_multiple_inputs",
        "Asks for an elicitation, a sampling and the roots at once",
        move |ctx| {
            let r = responses(&ctx)?;
            let keys = ["user_name", "greeting", "client_roots"];
            let all = keys
                .iter()
                .map(|k| answer(&r, k).map(|a| a.is_some()))
                .collect::<Result<Vec<bool>, _>>()?;
            if let (Some(state), true) =
                (&ctx.input_responses().request_state, all.iter().all(|x| *x))
            {
                s.verify(state)?;
                return Ok(CallToolResult::text("received all three inputs"));
            }
            Err(needs(
                vec![
                    ("user_name", elicit("What is your name?", "name")),
                    ("greeting", sample("Generate a greeting", 50)),
                    ("client_roots", roots()),
                ],
                Some(s.sign(&json!({"tool": "multiple_inputs"}))),
            ))
        },
    );
    let s = signer.clone();
    let b = tool(
        b,
        "test_input_required_result_multi_round",
        "Two rounds of input, the state carried between them",
        move |ctx| {
            let r = responses(&ctx)?;
            let round = match &ctx.input_responses().request_state {
                Some(state) => s.verify(state)?["round"].as_u64().unwrap_or(0),
                None => 0,
            };
            match round {
                1 if answer(&r, "step1")?.is_some() => Err(needs(
                    vec![(
                        "step2",
                        elicit("Step 2: What is your favourite colour?", "color"),
                    )],
                    Some(s.sign(&json!({"tool": "multi_round", "round": 2}))),
                )),
                2 if answer(&r, "step2")?.is_some() => {
                    Ok(CallToolResult::text("multi-round complete"))
                }
                _ => Err(needs(
                    vec![("step1", elicit("Step 1: What is your name?", "name"))],
                    Some(s.sign(&json!({"tool": "multi_round", "round": 1}))),
                )),
            }
        },
    );
    let s = signer.clone();
    let b = tool(
        b,
        "test_input_required_result_tampered_state",
        "Refuses a requestState it did not sign",
        move |ctx| match &ctx.input_responses().request_state {
            Some(state) => {
                s.verify(state)?;
                Ok(CallToolResult::text("state verified"))
            }
            None => Err(needs(
                vec![("confirm", elicit("Please confirm", "ok"))],
                Some(s.sign(&json!({"tool": "tampered_state"}))),
            )),
        },
    );
    let b = tool(
        b,
        "test_input_required_result_capabilities",
        "Asks only for the inputs the client declared it can provide",
        |ctx| {
            let r = responses(&ctx)?;
            if !r.is_empty() {
                return Ok(CallToolResult::text("received the inputs"));
            }
            let c = caps(&ctx);
            let mut wanted = Vec::new();
            if c.elicitation.is_some() {
                wanted.push(("user_name", elicit("What is your name?", "name")));
            }
            if c.sampling.is_some() {
                wanted.push(("greeting", sample("Generate a greeting", 50)));
            }
            if c.roots.is_some() {
                wanted.push(("client_roots", roots()));
            }
            if wanted.is_empty() {
                return Ok(CallToolResult::text("the client can provide no input"));
            }
            Err(needs(wanted, None))
        },
    );
    b.add_prompt(
        Prompt {
            name: "test_input_required_result_prompt".into(),
            description: Some("A prompt that asks for context first".into()),
            ..Prompt::default()
        },
        |ctx, _| {
            Box::pin(async move {
                let r = responses(&ctx)?;
                match answer(&r, "context")? {
                    Some(a) => {
                        let context = a
                            .get("content")
                            .and_then(|c| c.get("context"))
                            .map(text)
                            .unwrap_or_default();
                        Ok(GetPromptResult {
                            messages: vec![PromptMessage {
                                role: Role::User,
                                content: ContentBlock::text(format!("Context: {context}")),
                                extra: Map::new(),
                            }],
                            ..GetPromptResult::default()
                        })
                    }
                    None => Err(needs(
                        vec![(
                            "context",
                            elicit("What context should the prompt use?", "context"),
                        )],
                        None,
                    )),
                }
            })
        },
    )
}
