//! The demo MCP servers' tool schemas are standard JSON Schema 2020-12:
//! no `format` outside the ones the standard defines (schemars' `uint`,
//! `double`, … made the TypeScript SDK warn), ranges said with
//! `minimum` / `maximum` instead.

use serde_json::{Map, Value};
use wirestate_mcp::handler::STANDARD_FORMATS;
use wirestate_mcp::schema::Tool;

/// The `format` of every schema object in `v`, with its JSON pointer.
/// Literal data (`const`, `enum`, `default`, `examples`) is not a schema
/// and is skipped.
fn formats(v: &Value, at: &str, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(f)) = m.get("format") {
                out.push((at.to_owned(), f.clone()));
            }
            for (k, v) in m {
                if !matches!(k.as_str(), "const" | "enum" | "default" | "examples") {
                    formats(v, &format!("{at}/{k}"), out);
                }
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                formats(v, &format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn check(tools: &[Tool]) -> usize {
    let mut checked = 0;
    for tool in tools {
        let mut schemas = vec![("inputSchema", &tool.input_schema)];
        if let Some(out) = &tool.output_schema {
            schemas.push(("outputSchema", out));
        }
        for (which, schema) in schemas {
            let schema = Value::Object(Map::clone(schema));
            let mut found = Vec::new();
            formats(&schema, "", &mut found);
            for (at, f) in found {
                assert!(
                    STANDARD_FORMATS.contains(&f.as_str()),
                    "{}.{which}{at}: nonstandard format {f:?} in {schema:#}",
                    tool.name
                );
            }
            if let Some(s) = schema.get("$schema") {
                assert_eq!(s, "https://json-schema.org/draft/2020-12/schema");
            }
            assert_eq!(schema["type"], "object", "{}.{which}", tool.name);
            checked += 1;
        }
    }
    checked
}

fn echo_length(tools: &[Tool]) -> Value {
    let echo = tools.iter().find(|t| t.name == "echo").expect("echo");
    let out = echo.output_schema.as_ref().expect("an output schema");
    out["properties"]["length"].clone()
}

#[test]
fn demo_tool_schemas_are_standard() {
    let length = serde_json::json!({"type": "integer", "minimum": 0,
        "description": "Its length in characters."});
    // tokio/smol server, with the conformance fixtures.
    let tools = wirestate_examples::mcp::server(true).tools();
    assert!(tools.len() > 20, "{} tools", tools.len());
    assert!(check(&tools) > tools.len());
    assert_eq!(echo_length(&tools), length);
    // The blocking server, with the same fixtures.
    let tools = wirestate_examples::mcp_blocking::server(true).tools();
    assert_eq!(
        tools.iter().map(|t| &t.name).collect::<Vec<_>>(),
        wirestate_examples::mcp::server(true)
            .tools()
            .iter()
            .map(|t| &t.name)
            .collect::<Vec<_>>()
    );
    assert!(check(&tools) > tools.len());
    assert_eq!(echo_length(&tools), length);
}
