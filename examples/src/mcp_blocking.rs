//! The demo MCP server on the blocking runtime (`wirestate serve
//! --runtime blocking`'s `/mcp`, `wirestate mcp-server --runtime
//! blocking`): the same demo catalogue as [`crate::mcp`] — tools `echo` and
//! `add`, resource `demo://greeting`, prompt `greet` — with plain-closure
//! handlers. (The conformance fixtures are served on tokio and smol only.)

use http::{Request, Response};
use serde_json::json;
use wirestate_blocking::mcp_server::{McpHttp, McpServer, RequestContext, Structured, ToolError};
use wirestate_blocking::{BlockingBody, Handler, ResponseBody};
use wirestate_mcp::schema::{LoggingLevel, ReadResourceResult, ResourceContents};

use crate::mcp::{AddArgs, EchoArgs, GREETING, add, echo, greet, greet_prompt, greeting_resource};

/// The demo server.
pub fn server() -> McpServer {
    McpServer::builder()
        .name("wirestate-demo", env!("CARGO_PKG_VERSION"))
        .title("wirestate demo MCP server")
        .instructions("Demo tools: echo and add.")
        .tool_with_context(
            "echo",
            "Returns the text and its length in characters.",
            |ctx: &RequestContext, a: EchoArgs| {
                ctx.progress(1.0, Some(1.0), Some("echoed"));
                Ok::<_, ToolError>(Structured(echo(&a.text)))
            },
        )
        .tool_with_context(
            "add",
            "Adds two numbers (and logs `called add` at info).",
            |ctx: &RequestContext, a: AddArgs| {
                ctx.log(LoggingLevel::Info, Some("demo"), json!("called add"));
                Ok::<_, ToolError>(add(a.a, a.b))
            },
        )
        .resource(greeting_resource(), |_, r| {
            Ok(ReadResourceResult {
                contents: vec![ResourceContents::text(r.uri, Some("text/plain"), GREETING)],
                ..ReadResourceResult::default()
            })
        })
        .prompt(greet_prompt(), |_, args| {
            Ok(greet(args.get("name").map_or("", String::as_str)))
        })
        .build()
}

/// `inner`, with `/mcp` (Streamable HTTP, and WebSocket upgrades) served
/// by `mcp`.
pub fn with_mcp<H: Handler>(
    mcp: McpHttp,
    inner: H,
) -> impl Fn(Request<BlockingBody>) -> Response<ResponseBody> + Send + Sync + 'static {
    move |req| {
        if req.uri().path() == "/mcp" {
            mcp.handle(req)
        } else {
            inner.call(req)
        }
    }
}
