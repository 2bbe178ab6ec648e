//! Plays the client scenarios of the official MCP conformance suite
//! (npm `@modelcontextprotocol/conformance`) with `McpClient` on tokio.
//!
//! ```text
//! MCP_CONFORMANCE_SCENARIO=tools_call mcp_conformance_client http://127.0.0.1:PORT/mcp
//! ```
//!
//! The suite starts a test server per scenario and runs this program with
//! the server's URL and the scenario's name in `MCP_CONFORMANCE_SCENARIO`.
//! The behaviour the scenarios check lives in the library (the session's
//! elicitation defaults, resuming an SSE answer after the server's `retry`
//! with `Last-Event-ID`); this program only picks which calls to make:
//!
//! * `initialize`: initialize, list the tools, close.
//! * `tools_call`: initialize, list the tools, call `add_numbers`.
//! * `elicitation-sep1034-client-defaults`: declare form elicitation,
//!   accept every `elicitation/create` without filling anything in (the
//!   session sends the schema's defaults), call
//!   `test_client_elicitation_defaults`.
//! * `sse-retry`: call `test_reconnection`, whose SSE answer the server
//!   closes before the result.
//! * `sep-2322-client-request-state` (2026-07-28): declare form
//!   elicitation and call the four `test_mrtr_*` tools; the session
//!   answers `input_required` by handing the elicitation to the
//!   application and retrying with `inputResponses` and `requestState`.
//! * `http-standard-headers`: call every listed tool, read every listed
//!   resource, get every listed prompt (the transport sends `Mcp-Method`
//!   and `Mcp-Name`).
//! * `http-custom-headers`: the tool calls listed in
//!   `MCP_CONFORMANCE_CONTEXT` (`toolCalls`), after listing the tools (the
//!   transport mirrors `x-mcp-header` arguments into `Mcp-Param-*`).
//! * `http-invalid-tool-headers`: call every tool the session kept (it
//!   drops those with invalid `x-mcp-header` designations), with an
//!   example value for each required argument.
//! * `json-schema-2020-12-preservation`: send the input schema of
//!   `json_schema_2020_12_tool`, as received, to `json_schema_echo`.
//! * anything else (`request-metadata`, `json-schema-ref-no-deref`, …):
//!   initialize, list the tools, close.
//!
//! The session is configured to discover the era (`server/discover`,
//! falling back to `initialize`).
//!
//! Exits 0 when every call succeeded, 1 otherwise.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Map, Value, json};
use wirestate_mcp::ClientEvent;
use wirestate_mcp::schema::{
    ClientCapabilities, ElicitAction, ElicitResult, ElicitationCapability, Implementation,
};
use wirestate_rt::mcp_client::{McpClient, McpClientConfig, McpClientError};
use wirestate_tokio::TokioRuntime;

fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: MCP_CONFORMANCE_SCENARIO=NAME mcp_conformance_client URL");
        return ExitCode::from(2);
    };
    let scenario = std::env::var("MCP_CONFORMANCE_SCENARIO").unwrap_or_default();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mcp_conformance_client: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(play(&scenario, &url)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcp_conformance_client: scenario {scenario:?}: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn play(scenario: &str, url: &str) -> Result<(), McpClientError> {
    let mut config = McpClientConfig::default();
    config.client_info =
        Implementation::new("wirestate-conformance-client", env!("CARGO_PKG_VERSION"));
    config.session.jsonrpc.request_timeout = Some(Duration::from_secs(20));
    config.shutdown_timeout = Duration::from_secs(2);
    if scenario.starts_with("elicitation") || scenario.starts_with("sep-2322") {
        config.capabilities = ClientCapabilities {
            elicitation: Some(ElicitationCapability {
                form: Some(Map::new()),
                ..Default::default()
            }),
            ..Default::default()
        };
    }
    let client = wirestate_tokio::mcp::connect_http(url, config).await?;
    if let Some(mut events) = client.events() {
        let answering = client.clone();
        tokio::spawn(async move {
            while let Some(event) = events.next().await {
                answer(&answering, event);
            }
        });
    }
    let outcome = calls(scenario, &client).await;
    let _ = client.close().await;
    outcome
}

/// The calls each scenario needs, after `initialize`.
async fn calls(scenario: &str, client: &McpClient<TokioRuntime>) -> Result<(), McpClientError> {
    let tools = client.list_all_tools().await?;
    let call = |name: &'static str, arguments: Value| async move {
        let arguments = match arguments {
            Value::Object(m) => Some(m),
            _ => None,
        };
        let result = client.call_tool(name, arguments).await?;
        if result.is_error == Some(true) {
            return Err(McpClientError::BadAnswer(format!(
                "{name} failed: {:?}",
                result.content
            )));
        }
        Ok(())
    };
    match scenario {
        "initialize" => Ok(()),
        "tools_call" => call("add_numbers", json!({"a": 5, "b": 3})).await,
        "elicitation-sep1034-client-defaults" => {
            call("test_client_elicitation_defaults", json!({})).await
        }
        "sse-retry" => call("test_reconnection", json!({})).await,
        "sep-2322-client-request-state" => {
            for name in [
                "test_mrtr_echo_state",
                "test_mrtr_no_state",
                "test_mrtr_unrelated",
                "test_mrtr_no_result_type",
            ] {
                call(name, json!({})).await?;
            }
            Ok(())
        }
        "http-standard-headers" => {
            for tool in &tools {
                client.call_tool(&tool.name, Some(Map::new())).await?;
            }
            for resource in client.list_all_resources().await? {
                client.read_resource(&resource.uri).await?;
            }
            for prompt in client.list_all_prompts().await? {
                client.get_prompt(&prompt.name, None).await?;
            }
            Ok(())
        }
        "http-custom-headers" => {
            let context: Value = std::env::var("MCP_CONFORMANCE_CONTEXT")
                .ok()
                .and_then(|c| serde_json::from_str(&c).ok())
                .unwrap_or_default();
            for c in context["toolCalls"].as_array().into_iter().flatten() {
                let name = c["name"].as_str().unwrap_or_default();
                client
                    .call_tool(name, c["arguments"].as_object().cloned())
                    .await?;
            }
            Ok(())
        }
        "http-invalid-tool-headers" => {
            for tool in &tools {
                client
                    .call_tool(&tool.name, Some(example_arguments(&tool.input_schema)))
                    .await?;
            }
            Ok(())
        }
        "json-schema-2020-12-preservation" => {
            let schema = tools
                .iter()
                .find(|t| t.name == "json_schema_2020_12_tool")
                .map(|t| Value::Object(t.input_schema.clone()))
                .unwrap_or_default();
            client
                .call_tool(
                    "json_schema_echo",
                    json!({"schema": schema}).as_object().cloned(),
                )
                .await
                .map(|_| ())
        }
        other => {
            eprintln!(
                "mcp_conformance_client: scenario {other:?}: listed {} tools",
                tools.len()
            );
            Ok(())
        }
    }
}

/// An example value for each required property of an input schema.
fn example_arguments(schema: &Map<String, Value>) -> Map<String, Value> {
    let properties = schema.get("properties").and_then(Value::as_object);
    let required = schema.get("required").and_then(Value::as_array);
    let mut out = Map::new();
    for name in required.into_iter().flatten().filter_map(Value::as_str) {
        let kind = properties
            .and_then(|p| p.get(name))
            .and_then(|p| p.get("type"))
            .and_then(Value::as_str);
        let value = match kind {
            Some("string") => json!("example"),
            Some("integer") => json!(1),
            Some("number") => json!(1.5),
            Some("boolean") => json!(true),
            Some("array") => json!([]),
            Some("object") => json!({}),
            _ => Value::Null,
        };
        out.insert(name.to_owned(), value);
    }
    out
}

/// The application's side of the server's requests: a form elicitation
/// is accepted as presented (the session fills in the schema's defaults);
/// anything else is refused.
fn answer(client: &McpClient<TokioRuntime>, event: ClientEvent) {
    let answered = match &event {
        ClientEvent::Elicit { id, .. } => client.respond_elicit(
            id,
            ElicitResult {
                action: ElicitAction::Accept,
                content: None,
                meta: None,
                extra: Map::new(),
            },
        ),
        ClientEvent::ListRoots { id } | ClientEvent::CreateMessage { id, .. } => {
            client.respond_error(id, wirestate_jsonrpc::ErrorObject::method_not_found())
        }
        _ => Ok(()),
    };
    if let Err(e) = answered {
        eprintln!("mcp_conformance_client: answering {event:?}: {e}");
    }
}
