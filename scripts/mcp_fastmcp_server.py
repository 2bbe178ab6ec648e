"""A fastmcp (PyPI fastmcp, the most used Python MCP framework) server
driven by `wirestate mcp` in scripts/interop-mcp-fastmcp.sh: tools with
and without structured output (one that always fails, one reporting
progress and logging), static and templated resources, prompts with and
without arguments; lists paginate two items a page.

    mcp_fastmcp_server.py              stdio
    mcp_fastmcp_server.py http PORT    Streamable HTTP at 127.0.0.1:PORT/mcp
    mcp_fastmcp_server.py sse PORT     the 2024-11-05 HTTP+SSE transport at /sse
"""

import sys, asyncio
from pydantic import BaseModel
from fastmcp import FastMCP, Context

mcp = FastMCP("fastmcp-peer", instructions="fastmcp peer for wirestate interop", list_page_size=2)

class Weather(BaseModel):
    city: str
    celsius: float

@mcp.tool
def echo(text: str) -> str:
    """Echo the text."""
    return text

@mcp.tool
def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b

@mcp.tool
def weather(city: str) -> Weather:
    """Structured weather."""
    return Weather(city=city, celsius=21.5)

@mcp.tool
async def slow(steps: int, ctx: Context) -> str:
    """Reports progress and logs."""
    for i in range(steps):
        await ctx.report_progress(i + 1, steps, f"step {i+1}")
        await ctx.info(f"step {i+1}")
        await asyncio.sleep(0.01)
    return f"done {steps}"

@mcp.tool
def length(data: str) -> int:
    """The length of data."""
    return len(data)

@mcp.tool
def fail() -> str:
    """Always fails."""
    raise ValueError("it failed")

@mcp.resource("peer://static", mime_type="text/plain")
def static() -> str:
    """A static resource."""
    return "static ✓"

@mcp.resource("peer://json", mime_type="application/json")
def js() -> dict:
    """A JSON resource."""
    return {"a": 1}

@mcp.resource("peer://item/{id}")
def item(id: str) -> str:
    """Templated."""
    return f"item {id}"

@mcp.prompt
def greet(name: str, style: str = "warm") -> str:
    """Greets someone."""
    return f"Greet {name} in a {style} way."

@mcp.prompt
def plain() -> str:
    """No arguments."""
    return "Say hi."

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "http":
        mcp.run(transport="http", host="127.0.0.1", port=int(sys.argv[2]), show_banner=False)
    elif len(sys.argv) > 1 and sys.argv[1] == "sse":
        mcp.run(transport="sse", host="127.0.0.1", port=int(sys.argv[2]), show_banner=False)
    else:
        mcp.run(show_banner=False)
