//! The demo MCP server on the blocking runtime (`wirestate serve
//! --runtime blocking`'s `/mcp`, `wirestate mcp-server --runtime
//! blocking`): the same catalogue as [`crate::mcp`] — tools `echo` and
//! `add`, resource `demo://greeting`, prompt `greet`, and with
//! `--conformance-fixtures` the conformance suite's fixtures — from the
//! same definitions ([`crate::mcp::catalogue`]), run on handler threads.

use http::{Request, Response};
use wirestate_blocking::mcp_server::{McpHttp, McpServer};
use wirestate_blocking::{BlockingBody, Handler, ResponseBody};

/// The demo server, plus the conformance fixtures when `fixtures` is set.
pub fn server(fixtures: bool) -> McpServer {
    crate::mcp::catalogue(McpServer::builder(), fixtures).build()
}

/// `inner`, with `/mcp` (Streamable HTTP, and WebSocket upgrades) and the
/// 2024-11-05 HTTP+SSE paths `/sse` and `/messages` served by `mcp`
/// ([`crate::routes::MCP_PATHS`]).
pub fn with_mcp<H: Handler>(
    mcp: McpHttp,
    inner: H,
) -> impl Fn(Request<BlockingBody>) -> Response<ResponseBody> + Send + Sync + 'static {
    move |req| {
        if crate::routes::MCP_PATHS.contains(&req.uri().path()) {
            mcp.handle(req)
        } else {
            inner.call(req)
        }
    }
}
