"""An MCP server built with the official Python SDK, for `wirestate mcp`
(our client) to talk to: scripts/interop-mcpcli.sh. With mcp 2.x
(MCPServer) it speaks both eras (2026-07-28 and the initialize
lifecycle); with mcp 1.x (FastMCP) only the initialize lifecycle, as the
servers deployed before 2026-07-28 do.

    python mcpcli_server.py stdio
    python mcpcli_server.py http PORT      # Streamable HTTP at /mcp
    python mcpcli_server.py sse PORT       # 2024-11-05 HTTP+SSE at /sse
"""

import sys

try:
    from mcp.server.mcpserver import Context, MCPServer

    server = MCPServer("py-interop", version="9.9.9", instructions="Python SDK peer for wirestate mcp.")
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import Context, FastMCP

    server = FastMCP("py-interop", instructions="Python SDK peer for wirestate mcp.")

# Enough tools for the SDK to paginate if it ever does.
@server.tool(description="Adds two integers.")
def add(a: int, b: int) -> int:
    return a + b


@server.tool(description="Echoes the text, logging and reporting progress on the way.")
async def echo(text: str, ctx: Context) -> str:
    await ctx.info(f"echoing {len(text)} characters")
    for i in range(1, 4):
        await ctx.report_progress(i, 3, f"step {i}")
    return text


@server.tool(description="Always fails.")
def broken() -> str:
    raise ValueError("broken on purpose")


@server.resource("py://hello", name="hello", description="A fixed text.", mime_type="text/plain")
def hello() -> str:
    return "hello from python"


@server.prompt(name="review", description="Asks for a code review.")
def review(language: str) -> str:
    return f"Please review this {language} code."


def main() -> None:
    if sys.argv[1:2] in (["http"], ["sse"]):
        transport = "streamable-http" if sys.argv[1] == "http" else "sse"
        if isinstance(server, MCPServer if "MCPServer" in globals() else ()):
            server.run(transport, host="127.0.0.1", port=int(sys.argv[2]))
        else:  # FastMCP takes the address in its settings
            server.settings.host = "127.0.0.1"
            server.settings.port = int(sys.argv[2])
            server.run(transport)
    else:
        server.run("stdio")


if __name__ == "__main__":
    main()
