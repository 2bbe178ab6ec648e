//! The demo MCP server of `wirestate serve` (at `/mcp`) and
//! `wirestate mcp-server` (stdio): one catalogue for both.
//!
//! * Demo: tools `echo` (structured output: the text and its length; progress
//!   when asked) and `add` (logs `called add` at info), resource
//!   `demo://greeting`, prompt `greet`.
//! * With `--conformance-fixtures`, also the fixtures the official
//!   conformance suite's server scenarios call (the names and behaviours of
//!   its reference server `ref_server.py`): `test_simple_text`,
//!   `test_image_content`, …, `test://static-text`, …,
//!   `test_simple_prompt`, …, and argument completion.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use wirestate_mcp::handler::{NoArgs, ResourceRequest, Structured, ToolError};
use wirestate_mcp::schema::{
    BlobResourceContents, CallToolResult, CompleteResult, Completion, ContentBlock,
    CreateMessageParams, ElicitParams, EmbeddedResource, GetPromptResult, LoggingLevel,
    MediaContent, Prompt, PromptArgument, PromptMessage, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate, Role, SamplingContent, SamplingMessage, Tool,
};
use wirestate_rt::mcp::McpServer;

pub mod builder;
mod stateless;

use builder::{Builder, Ctx, Fut};

/// The URI of the demo resource.
pub const GREETING_URI: &str = "demo://greeting";
/// Its text.
pub const GREETING: &str = "Hello from a sans-IO MCP server.";

/// Arguments of `echo`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct EchoArgs {
    /// What to echo.
    pub text: String,
}

/// The structured result of `echo`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EchoOut {
    /// The text.
    pub text: String,
    /// Its length in characters.
    pub length: usize,
}

/// Arguments of `add`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AddArgs {
    /// The first number.
    pub a: f64,
    /// The second number.
    pub b: f64,
}

/// `echo`: the text and its length.
pub fn echo(text: &str) -> EchoOut {
    EchoOut {
        text: text.to_owned(),
        length: text.chars().count(),
    }
}

/// `add`: the sum, as text.
pub fn add(a: f64, b: f64) -> String {
    format!("{}", a + b)
}

/// The demo resource.
pub fn greeting_resource() -> Resource {
    let mut r = Resource::new(GREETING_URI, "greeting");
    r.mime_type = Some("text/plain".into());
    r.description = Some("A fixed greeting.".into());
    r
}

/// The demo prompt.
pub fn greet_prompt() -> Prompt {
    Prompt {
        name: "greet".into(),
        description: Some("Asks the model to greet someone.".into()),
        arguments: Some(vec![PromptArgument {
            name: "name".into(),
            required: Some(true),
            ..PromptArgument::default()
        }]),
        ..Prompt::default()
    }
}

/// The demo prompt's messages.
pub fn greet(name: &str) -> GetPromptResult {
    GetPromptResult {
        description: Some("A greeting".into()),
        messages: vec![PromptMessage::text(
            Role::User,
            format!("Please greet {name} warmly."),
        )],
        ..GetPromptResult::default()
    }
}

/// The server (tokio, smol): the demo catalogue, plus the conformance
/// fixtures when `fixtures` is set.
pub fn server(fixtures: bool) -> McpServer {
    catalogue(McpServer::builder(), fixtures).build()
}

/// The demo catalogue (and the conformance fixtures when `fixtures` is
/// set) on either server builder: `wirestate_rt::mcp` or
/// `wirestate_blocking::mcp_server`.
pub fn catalogue<B: Builder + Named>(b: B, fixtures: bool) -> B {
    let b = demo(b.named(
        "wirestate-demo",
        env!("CARGO_PKG_VERSION"),
        "wirestate demo MCP server",
        "Demo tools: echo and add.",
    ));
    if fixtures { with_fixtures(b) } else { b }
}

/// A builder's name, title and instructions.
pub trait Named {
    /// Sets them.
    fn named(self, name: &str, version: &str, title: &str, instructions: &str) -> Self;
}

impl Named for wirestate_rt::mcp::McpServerBuilder {
    fn named(self, name: &str, version: &str, title: &str, instructions: &str) -> Self {
        self.name(name, version)
            .title(title)
            .instructions(instructions)
    }
}

impl Named for wirestate_blocking::mcp_server::McpServerBuilder {
    fn named(self, name: &str, version: &str, title: &str, instructions: &str) -> Self {
        self.name(name, version)
            .title(title)
            .instructions(instructions)
    }
}

/// The demo tools `echo` and `add`, resource and prompt.
fn demo<B: Builder>(b: B) -> B {
    b.add_tool(
        "echo",
        "Returns the text and its length in characters.",
        |ctx, a: EchoArgs| {
            Box::pin(async move {
                ctx.progress(1.0, Some(1.0), Some("echoed"));
                Ok::<_, ToolError>(Structured(echo(&a.text)))
            })
        },
    )
    .add_tool(
        "add",
        "Adds two numbers (and logs `called add` at info).",
        |ctx, a: AddArgs| {
            Box::pin(async move {
                ctx.log(LoggingLevel::Info, Some("demo"), json!("called add"));
                Ok::<_, ToolError>(add(a.a, a.b))
            })
        },
    )
    .add_resource(greeting_resource(), |_, r| {
        Box::pin(async move {
            Ok(ReadResourceResult {
                contents: vec![ResourceContents::text(r.uri, Some("text/plain"), GREETING)],
                ..ReadResourceResult::default()
            })
        })
    })
    .add_prompt(greet_prompt(), |_, args| {
        Box::pin(async move { Ok(greet(args.get("name").map_or("", String::as_str))) })
    })
}

/// A 1x1 PNG, base64.
pub const PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

/// 10 ms of silence as 16-bit mono 8 kHz WAV, base64.
pub fn wav() -> String {
    let data = vec![0u8; 160];
    let mut w = Vec::with_capacity(44 + data.len());
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&8000u32.to_le_bytes());
    w.extend_from_slice(&16000u32.to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&(data.len() as u32).to_le_bytes());
    w.extend_from_slice(&data);
    base64::engine::general_purpose::STANDARD.encode(w)
}

fn media(data: &str, mime: &str) -> MediaContent {
    MediaContent {
        data: data.to_owned(),
        mime_type: mime.to_owned(),
        ..MediaContent::default()
    }
}

fn embedded(uri: &str, mime: &str, text: &str) -> ContentBlock {
    ContentBlock::Resource(EmbeddedResource {
        resource: ResourceContents::text(uri, Some(mime), text),
        annotations: None,
        meta: None,
        extra: Map::new(),
    })
}

fn content(blocks: Vec<ContentBlock>) -> CallToolResult {
    CallToolResult {
        content: blocks,
        ..CallToolResult::default()
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn no_args_tool<B: Builder>(
    b: B,
    name: &str,
    description: &str,
    f: impl Fn(B::Ctx) -> Fut<Result<CallToolResult, ToolError>> + Send + Sync + 'static,
) -> B {
    b.add_tool(name, description, move |ctx, _: NoArgs| f(ctx))
}

/// Arguments of `sleep`.
#[derive(Debug, Deserialize, JsonSchema)]
struct SleepArgs {
    seconds: f64,
}

/// Arguments of `test_sampling`.
#[derive(Debug, Deserialize, JsonSchema)]
struct PromptArgs {
    prompt: String,
}

/// Arguments of `test_elicitation`.
#[derive(Debug, Deserialize, JsonSchema)]
struct MessageArgs {
    message: String,
}

const LEVELS: [LoggingLevel; 8] = [
    LoggingLevel::Debug,
    LoggingLevel::Info,
    LoggingLevel::Notice,
    LoggingLevel::Warning,
    LoggingLevel::Error,
    LoggingLevel::Critical,
    LoggingLevel::Alert,
    LoggingLevel::Emergency,
];

async fn elicit_text<C: Ctx>(
    ctx: &C,
    message: &str,
    schema: Value,
    prefix: &str,
) -> Result<String, ToolError> {
    let r = ctx
        .elicit(ElicitParams {
            message: message.to_owned(),
            requested_schema: Some(object(schema)),
            ..ElicitParams::default()
        })
        .await?;
    let action = serde_json::to_value(r.action).unwrap_or(Value::Null);
    Ok(format!(
        "{prefix}: action={}, content={}",
        action.as_str().unwrap_or(""),
        r.content.map_or(Value::Null, Value::Object)
    ))
}

/// Adds the conformance fixtures of `ref_server.py`.
pub fn with_fixtures<B: Builder>(b: B) -> B {
    let b = b.add_tool(
        "sleep",
        "Sleep for `seconds` (cancellable); reports progress every 0.1 s if asked.",
        |ctx, a: SleepArgs| {
            Box::pin(async move {
                let seconds = a.seconds.clamp(0.0, 60.0);
                let steps = ((seconds * 10.0) as u64).max(1);
                for i in 0..steps {
                    ctx.progress(i as f64, Some(steps as f64), None);
                    ctx.sleep(Duration::from_secs_f64(seconds / steps as f64))
                        .await;
                }
                Ok::<_, ToolError>(format!("slept {seconds}"))
            })
        },
    );
    let b = no_args_tool(
        b,
        "log_all_levels",
        "Emit one log notification at every level (to check logging/setLevel filtering).",
        |ctx| {
            Box::pin(async move {
                for level in LEVELS {
                    let name = serde_json::to_value(level).unwrap_or(Value::Null);
                    ctx.log(
                        level,
                        Some("ref"),
                        json!(format!("message at {}", name.as_str().unwrap_or(""))),
                    );
                }
                Ok(CallToolResult::text("logged"))
            })
        },
    );
    let b = no_args_tool(b, "test_simple_text", "Returns simple text", |_| {
        Box::pin(async {
            Ok(CallToolResult::text(
                "This is a simple text response for testing.",
            ))
        })
    });
    let b = no_args_tool(b, "test_image_content", "Returns an image", |_| {
        Box::pin(async { Ok(content(vec![ContentBlock::Image(media(PNG, "image/png"))])) })
    });
    let b = no_args_tool(b, "test_audio_content", "Returns audio", |_| {
        Box::pin(async {
            Ok(content(vec![ContentBlock::Audio(media(
                &wav(),
                "audio/wav",
            ))]))
        })
    });
    let b = no_args_tool(
        b,
        "test_embedded_resource",
        "Returns an embedded resource",
        |_| {
            Box::pin(async {
                Ok(content(vec![embedded(
                    "test://embedded-resource",
                    "text/plain",
                    "This is an embedded resource content.",
                )]))
            })
        },
    );
    let b = no_args_tool(
        b,
        "test_multiple_content_types",
        "Returns text, image and resource content",
        |_| {
            Box::pin(async {
                Ok(content(vec![
                    ContentBlock::text("Multiple content types test:"),
                    ContentBlock::Image(media(PNG, "image/png")),
                    embedded(
                        "test://mixed-content-resource",
                        "application/json",
                        &json!({"test": "data", "value": 123}).to_string(),
                    ),
                ]))
            })
        },
    );
    let b = no_args_tool(
        b,
        "test_tool_with_logging",
        "Sends three info log notifications while running",
        |ctx| {
            Box::pin(async move {
                ctx.log(
                    LoggingLevel::Info,
                    Some("ref"),
                    json!("Tool execution started"),
                );
                ctx.sleep(Duration::from_millis(50)).await;
                ctx.log(
                    LoggingLevel::Info,
                    Some("ref"),
                    json!("Tool processing data"),
                );
                ctx.sleep(Duration::from_millis(50)).await;
                ctx.log(
                    LoggingLevel::Info,
                    Some("ref"),
                    json!("Tool execution completed"),
                );
                Ok(CallToolResult::text(
                    "Tool with logging executed successfully",
                ))
            })
        },
    );
    let b = no_args_tool(
        b,
        "test_error_handling",
        "Always fails (tool error, isError=true)",
        |_| {
            Box::pin(async {
                Err(ToolError::msg(
                    "This tool intentionally returns an error for testing",
                ))
            })
        },
    );
    let b = no_args_tool(
        b,
        "test_tool_with_progress",
        "Reports progress 0/50/100 of 100",
        |ctx| {
            Box::pin(async move {
                for p in [0.0, 50.0, 100.0] {
                    ctx.progress(p, Some(100.0), None);
                    if p < 100.0 {
                        ctx.sleep(Duration::from_millis(50)).await;
                    }
                }
                Ok(CallToolResult::text(
                    "Tool with progress executed successfully",
                ))
            })
        },
    );
    let b = b.add_tool(
        "test_sampling",
        "Asks the client for an LLM completion (sampling/createMessage)",
        |ctx, a: PromptArgs| {
            Box::pin(async move {
                let r = ctx
                    .create_message(CreateMessageParams {
                        messages: vec![SamplingMessage {
                            role: Role::User,
                            content: SamplingContent::One(Box::new(ContentBlock::text(a.prompt))),
                            meta: None,
                            extra: Map::new(),
                        }],
                        max_tokens: 100,
                        ..CreateMessageParams::default()
                    })
                    .await?;
                let text = match &r.content {
                    SamplingContent::One(b) => b.as_text().unwrap_or("").to_owned(),
                    SamplingContent::Many(v) => format!("{v:?}"),
                };
                Ok::<_, ToolError>(format!("LLM response: {text}"))
            })
        },
    );
    let b = b.add_tool(
        "test_elicitation",
        "Asks the client for user input (elicitation/create)",
        |ctx, a: MessageArgs| {
            Box::pin(async move {
                let schema = json!({"type": "object", "properties": {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"}},
                "required": ["username", "email"]});
                elicit_text(&ctx, &a.message, schema, "User response").await
            })
        },
    );
    let b = no_args_tool(
        b,
        "test_elicitation_sep1034_defaults",
        "Elicitation with defaults for every primitive type (SEP-1034)",
        |ctx| {
            Box::pin(async move {
                let schema = json!({"type": "object", "properties": {
                    "name": {"type": "string", "default": "John Doe"},
                    "age": {"type": "integer", "default": 30},
                    "score": {"type": "number", "default": 95.5},
                    "status": {"type": "string", "enum": ["active", "inactive", "pending"], "default": "active"},
                    "verified": {"type": "boolean", "default": true}}});
                elicit_text(
                    &ctx,
                    "Please review the defaults",
                    schema,
                    "Elicitation completed",
                )
                .await
                .map(CallToolResult::text)
            })
        },
    );
    let b = no_args_tool(
        b,
        "test_elicitation_sep1330_enums",
        "Elicitation with all enum schema variants (SEP-1330)",
        |ctx| {
            Box::pin(async move {
                let opts = ["option1", "option2", "option3"];
                let schema = json!({"type": "object", "properties": {
                    "untitledSingle": {"type": "string", "enum": opts},
                    "titledSingle": {"type": "string", "oneOf": [
                        {"const": "value1", "title": "First"},
                        {"const": "value2", "title": "Second"},
                        {"const": "value3", "title": "Third"}]},
                    "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"],
                        "enumNames": ["Option One", "Option Two", "Option Three"]},
                    "untitledMulti": {"type": "array", "items": {"type": "string", "enum": opts}},
                    "titledMulti": {"type": "array", "items": {"anyOf": [
                        {"const": "value1", "title": "Choice 1"},
                        {"const": "value2", "title": "Choice 2"},
                        {"const": "value3", "title": "Choice 3"}]}}}});
                elicit_text(&ctx, "Pick some options", schema, "Elicitation completed")
                    .await
                    .map(CallToolResult::text)
            })
        },
    );
    let mut schema_tool = Tool::new(
        "json_schema_2020_12_tool",
        object(json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "$defs": {"address": {"$anchor": "address", "type": "object", "properties": {
                "street": {"type": "string"}, "city": {"type": "string"}}}},
            "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
            "allOf": [{"anyOf": [{"required": ["name"]}, {"required": ["address"]}]}],
            "if": {"properties": {"name": {"const": "anonymous"}}},
            "then": {"not": {"required": ["address"]}},
            "else": true,
            "additionalProperties": false
        })),
    );
    schema_tool.description = Some("Tool with JSON Schema 2020-12 features".into());
    let b = b.add_tool_raw(schema_tool, |_, args| {
        Box::pin(async move {
            Ok(CallToolResult::text(format!(
                "name={} address={}",
                args.get("name").cloned().unwrap_or(Value::Null),
                args.get("address").cloned().unwrap_or(Value::Null)
            )))
        })
    });
    let b = stateless::with_stateless_fixtures(b);
    let b = no_args_tool(
        b,
        "test_reconnection",
        "Closes its SSE stream mid-call so the client must resume (SEP-1699)",
        |ctx| {
            Box::pin(async move {
                ctx.sleep(Duration::from_millis(50)).await;
                ctx.close_stream();
                ctx.sleep(Duration::from_millis(200)).await;
                Ok(CallToolResult::text(
                    "Reconnection test completed successfully",
                ))
            })
        },
    );

    // Resources.
    let res = |uri: &str, name: &str, description: &str, mime: &str| {
        let mut r = Resource::new(uri, name);
        r.description = Some(description.into());
        r.mime_type = Some(mime.into());
        r
    };
    let text = |r: &ResourceRequest, mime: &str, text: String| ReadResourceResult {
        contents: vec![ResourceContents::text(r.uri.clone(), Some(mime), text)],
        ..ReadResourceResult::default()
    };
    let b = b
        .add_resource(
            res(
                "test://static-text",
                "static-text",
                "Static text",
                "text/plain",
            ),
            move |_, r| Box::pin(async move {
                Ok(text(
                    &r,
                    "text/plain",
                    "This is the content of the static text resource.".into(),
                ))
            }),
        )
        .add_resource(
            res(
                "test://static-binary",
                "static-binary",
                "Static PNG",
                "image/png",
            ),
            |_, r| Box::pin(async move {
                Ok(ReadResourceResult {
                    contents: vec![ResourceContents::Blob(BlobResourceContents {
                        uri: r.uri,
                        mime_type: Some("image/png".into()),
                        blob: PNG.into(),
                        ..BlobResourceContents::default()
                    })],
                    ..ReadResourceResult::default()
                })
            }),
        )
        .add_resource(
            res(
                "test://watched-resource",
                "watched-resource",
                "Subscribable",
                "text/plain",
            ),
            move |_, r| Box::pin(async move { Ok(text(&r, "text/plain", "watched".into())) }),
        )
        .add_template(
            ResourceTemplate {
                uri_template: "test://template/{id}/data".into(),
                name: "template-data".into(),
                description: Some("Templated data".into()),
                mime_type: Some("application/json".into()),
                ..ResourceTemplate::default()
            },
            move |_, r| Box::pin(async move {
                let id = r.vars.get("id").cloned().unwrap_or_default();
                let body =
                    json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")});
                Ok(text(&r, "application/json", body.to_string()))
            }),
        );

    // Prompts.
    let prompt = |name: &str, description: &str, args: &[&str]| Prompt {
        name: name.into(),
        description: Some(description.into()),
        arguments: (!args.is_empty()).then(|| {
            args.iter()
                .map(|a| PromptArgument {
                    name: (*a).into(),
                    required: Some(true),
                    ..PromptArgument::default()
                })
                .collect()
        }),
        ..Prompt::default()
    };
    let user = |content: ContentBlock| PromptMessage {
        role: Role::User,
        content,
        extra: Map::new(),
    };
    let messages = |messages: Vec<PromptMessage>| GetPromptResult {
        messages,
        ..GetPromptResult::default()
    };
    let arg = |a: &BTreeMap<String, String>, k: &str| a.get(k).cloned().unwrap_or_default();
    b.add_prompt(
        prompt(
            "test_simple_prompt",
            "A simple prompt without arguments",
            &[],
        ),
        move |_, _| {
            Box::pin(async move {
                Ok(messages(vec![user(ContentBlock::text(
                    "This is a simple prompt for testing.",
                ))]))
            })
        },
    )
    .add_prompt(
        prompt(
            "test_prompt_with_arguments",
            "A prompt with two required arguments",
            &["arg1", "arg2"],
        ),
        move |_, a| {
            Box::pin(async move {
                Ok(messages(vec![user(ContentBlock::text(format!(
                    "Prompt with arguments: arg1='{}', arg2='{}'",
                    arg(&a, "arg1"),
                    arg(&a, "arg2")
                )))]))
            })
        },
    )
    .add_prompt(
        prompt(
            "test_prompt_with_embedded_resource",
            "A prompt embedding a resource",
            &["resourceUri"],
        ),
        move |_, a| {
            Box::pin(async move {
                Ok(messages(vec![
                    user(embedded(
                        &arg(&a, "resourceUri"),
                        "text/plain",
                        "Embedded resource content for testing.",
                    )),
                    user(ContentBlock::text(
                        "Please process the embedded resource above.",
                    )),
                ]))
            })
        },
    )
    .add_prompt(
        prompt("test_prompt_with_image", "A prompt with an image", &[]),
        move |_, _| {
            Box::pin(async move {
                Ok(messages(vec![
                    user(ContentBlock::Image(media(PNG, "image/png"))),
                    user(ContentBlock::text("Please analyze the image above.")),
                ]))
            })
        },
    )
    .add_completion(|p| {
        let pool = ["paris", "park", "party", "test", "testing"];
        let values: Vec<String> = pool
            .iter()
            .filter(|v| v.starts_with(p.argument.value.as_str()))
            .map(|v| (*v).to_owned())
            .collect();
        Ok(CompleteResult {
            completion: Completion {
                total: Some(values.len() as u64),
                values,
                has_more: Some(false),
                ..Completion::default()
            },
            ..CompleteResult::default()
        })
    })
}
