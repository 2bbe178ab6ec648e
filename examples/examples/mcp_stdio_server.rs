//! An MCP server over stdio, on a plain blocking loop: read stdin, feed
//! `wirestate_mcp::StdioServer`, answer its events, write what it
//! transmits to stdout. No runtime, no threads.
//!
//! It offers two tools (`echo`, with input and output schemas and
//! structured results, and `add`), one resource (`demo://greeting`) and
//! one prompt (`greet`). Logs go to stderr; stdout carries only MCP.
//!
//! ```sh
//! cargo build -p wirestate-examples --example mcp_stdio_server
//! # then point any MCP client at the binary, for example:
//! bash scripts/interop-mcp-python.sh
//! ```

use std::io::{self, Read, Write};
use std::time::Instant;

use serde_json::{Map, Value, json};
use wirestate_jsonrpc::{ErrorCode, ErrorObject, RequestId};
use wirestate_machine::{Machine, Transmit};
use wirestate_mcp::schema::{
    CallToolParams, CallToolResult, GetPromptParams, GetPromptResult, Implementation, LoggingLevel,
    Prompt, PromptArgument, PromptMessage, ReadResourceResult, Resource, ResourceContents, Role,
    Tool, ToolAnnotations, progress_token,
};
use wirestate_mcp::{Config, ServerEvent, StdioConfig, StdioServer};

const GREETING_URI: &str = "demo://greeting";
const GREETING: &str = "Hello from a sans-IO MCP server.";

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn catalogue(server: &mut StdioServer) {
    let s = server.session_mut();
    let mut echo = Tool::new(
        "echo",
        object(json!({
            "type": "object",
            "properties": {"text": {"type": "string", "description": "What to echo"}},
            "required": ["text"]
        })),
    );
    echo.title = Some("Echo".into());
    echo.description = Some("Returns the text and its length in characters.".into());
    echo.output_schema = Some(object(json!({
        "type": "object",
        "properties": {"text": {"type": "string"}, "length": {"type": "integer"}},
        "required": ["text", "length"]
    })));
    echo.annotations = Some(ToolAnnotations {
        read_only_hint: Some(true),
        ..ToolAnnotations::default()
    });
    s.add_tool(echo);

    let mut add = Tool::new(
        "add",
        object(json!({
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"]
        })),
    );
    add.description = Some("Adds two numbers.".into());
    s.add_tool(add);

    let mut greeting = Resource::new(GREETING_URI, "greeting");
    greeting.mime_type = Some("text/plain".into());
    greeting.description = Some("A fixed greeting.".into());
    s.add_resource(greeting);

    s.add_prompt(Prompt {
        name: "greet".into(),
        description: Some("Asks the model to greet someone.".into()),
        arguments: Some(vec![PromptArgument {
            name: "name".into(),
            required: Some(true),
            ..PromptArgument::default()
        }]),
        ..Prompt::default()
    });
}

fn call_tool(server: &mut StdioServer, id: &RequestId, params: CallToolParams) {
    let args = params.arguments.unwrap_or_default();
    let result = match params.name.as_str() {
        "echo" => match args.get("text").and_then(Value::as_str) {
            Some(text) => {
                if let Some(token) = progress_token(params.meta.as_ref()) {
                    let _ = server.session_mut().notify_progress(
                        &token,
                        1.0,
                        Some(1.0),
                        Some("echoed".into()),
                    );
                }
                CallToolResult::structured(json!({"text": text, "length": text.chars().count()}))
            }
            None => CallToolResult::error("`text` must be a string"),
        },
        "add" => match (
            args.get("a").and_then(Value::as_f64),
            args.get("b").and_then(Value::as_f64),
        ) {
            (Some(a), Some(b)) => CallToolResult::text(format!("{}", a + b)),
            _ => CallToolResult::error("`a` and `b` must be numbers"),
        },
        other => CallToolResult::error(format!("no tool {other}")),
    };
    let _ = server.session_mut().log(
        LoggingLevel::Info,
        Some("mcp_stdio_server"),
        json!(format!("called {}", params.name)),
    );
    let _ = server.session_mut().respond_call_tool(id, result);
}

fn get_prompt(server: &mut StdioServer, id: &RequestId, params: GetPromptParams) {
    let name = params
        .arguments
        .as_ref()
        .and_then(|a| a.get("name"))
        .cloned();
    let s = server.session_mut();
    let _ = match name {
        Some(name) => s.respond_get_prompt(
            id,
            GetPromptResult {
                description: Some("A greeting".into()),
                messages: vec![PromptMessage::text(
                    Role::User,
                    format!("Please greet {name} warmly."),
                )],
                ..GetPromptResult::default()
            },
        ),
        None => s.respond_error(id, ErrorObject::invalid_params("missing argument `name`")),
    };
}

fn dispatch(server: &mut StdioServer) {
    while let Some(event) = server.poll_event() {
        match event {
            ServerEvent::CallTool { id, params } => call_tool(server, &id, params),
            ServerEvent::ReadResource { id, params } => {
                let s = server.session_mut();
                let _ = if params.uri == GREETING_URI {
                    s.respond_read_resource(
                        &id,
                        ReadResourceResult {
                            contents: vec![ResourceContents::text(
                                GREETING_URI,
                                Some("text/plain"),
                                GREETING,
                            )],
                            ..ReadResourceResult::default()
                        },
                    )
                } else {
                    let e = ErrorObject::new(ErrorCode::new(-32002), "Resource not found");
                    s.respond_error(&id, e)
                };
            }
            ServerEvent::GetPrompt { id, params } => get_prompt(server, &id, params),
            ServerEvent::Complete { id, .. } => {
                let _ = server
                    .session_mut()
                    .respond_error(&id, ErrorObject::method_not_found());
            }
            ServerEvent::Invalid(e) => eprintln!("mcp_stdio_server: refused input: {e}"),
            other => eprintln!("mcp_stdio_server: {other:?}"),
        }
    }
}

/// Writes everything queued; returns whether stdout should be closed.
fn flush(server: &mut StdioServer, out: &mut impl Write) -> io::Result<bool> {
    let mut shutdown = false;
    while let Some(t) = server.poll_transmit() {
        match t {
            Transmit::Bytes(b) => out.write_all(&b)?,
            Transmit::Shutdown => shutdown = true,
        }
    }
    out.flush()?;
    Ok(shutdown)
}

fn main() -> io::Result<()> {
    let mut config = Config::new(Implementation {
        title: Some("wirestate MCP stdio example".into()),
        ..Implementation::new("wirestate-mcp-stdio-example", env!("CARGO_PKG_VERSION"))
    });
    config.instructions = Some("Demo tools: echo and add.".into());
    let mut server = StdioServer::new(StdioConfig::new(config));
    catalogue(&mut server);

    let mut stdin = io::stdin().lock();
    let mut stdout = io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    // This server sends no requests of its own, so no timer is due while
    // the read blocks; a server that does would poll with a timeout.
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let now = Instant::now();
        if n == 0 {
            let _ = server.handle_eof(now);
        } else {
            let _ = server.handle_input(now, &buf[..n]);
        }
        dispatch(&mut server);
        if let Some(deadline) = server.poll_timeout() {
            if deadline <= now {
                server.handle_timeout(now);
                dispatch(&mut server);
            }
        }
        let shutdown = flush(&mut server, &mut stdout)?;
        if shutdown || server.is_closed() || n == 0 {
            return Ok(());
        }
    }
}
