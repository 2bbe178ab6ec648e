"""MCP interop: the official Python SDK's stdio client against a wirestate
MCP server (examples/examples/mcp_stdio_server.rs).

Usage: interop_mcp.py SERVER_BINARY

Prints one PASS/FAIL line per check; exits 0 when every check passed.
"""

import asyncio
import warnings
import sys
import traceback

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

# The SDK flags logging as deprecated in 2026-07-28; this server speaks 2025-11-25.
warnings.filterwarnings("ignore", message=".*logging capability is deprecated.*")

results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print(("PASS " if cond else "FAIL ") + name + ("" if cond or not detail else f": {detail}"), flush=True)


async def run(binary):
    params = StdioServerParameters(command=binary, args=[])
    logs = []

    async def on_log(params):
        logs.append(params)

    progress = []

    async def on_progress(p, total, message):
        progress.append((p, total, message))

    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, logging_callback=on_log) as session:
            init = await session.initialize()
            check("initialize: protocol version negotiated", init.protocol_version == "2025-11-25", init.protocol_version)
            check("initialize: server info", init.server_info.name == "wirestate-mcp-stdio-example", init.server_info)
            caps = init.capabilities
            check(
                "initialize: tools, resources, prompts and logging advertised",
                caps.tools is not None and caps.resources is not None and caps.prompts is not None and caps.logging is not None,
                caps,
            )
            check("initialize: instructions", init.instructions == "Demo tools: echo and add.", init.instructions)

            await session.send_ping()
            check("ping", True)

            tools = await session.list_tools()
            names = [t.name for t in tools.tools]
            check("tools/list: echo and add", names == ["echo", "add"], names)
            echo = next((t for t in tools.tools if t.name == "echo"), None)
            check(
                "tools/list: echo has input and output schemas",
                echo is not None
                and echo.input_schema.get("required") == ["text"]
                and echo.output_schema is not None
                and echo.output_schema.get("required") == ["text", "length"],
                echo,
            )

            r = await session.call_tool("echo", {"text": "héllo ✓"}, progress_callback=on_progress)
            check("tools/call echo: not an error", not r.is_error, r)
            check(
                "tools/call echo: structured content",
                r.structured_content == {"text": "héllo ✓", "length": 7},
                r.structured_content,
            )
            check("tools/call echo: text content", len(r.content) == 1 and r.content[0].type == "text", r.content)

            r = await session.call_tool("add", {"a": 2, "b": 40.5})
            check("tools/call add: 42.5", not r.is_error and r.content[0].text == "42.5", r)

            r = await session.call_tool("add", {"a": "x"})
            check("tools/call add with bad arguments: isError result", r.is_error is True, r)

            try:
                await session.call_tool("no_such_tool", {})
                check("tools/call of an unknown tool: JSON-RPC error", False, "no error raised")
            except Exception as e:  # McpError
                code = getattr(getattr(e, "error", None), "code", None)
                check("tools/call of an unknown tool: JSON-RPC error -32602", code == -32602, repr(e))

            res = await session.list_resources()
            check(
                "resources/list: the greeting",
                [str(x.uri) for x in res.resources] == ["demo://greeting"],
                res,
            )
            rr = await session.read_resource("demo://greeting")
            check(
                "resources/read: text contents",
                len(rr.contents) == 1 and rr.contents[0].text == "Hello from a sans-IO MCP server.",
                rr,
            )
            try:
                await session.read_resource("demo://nothing")
                check("resources/read of an unknown resource: error", False, "no error raised")
            except Exception as e:
                code = getattr(getattr(e, "error", None), "code", None)
                check("resources/read of an unknown resource: error -32002", code == -32002, repr(e))

            pl = await session.list_prompts()
            check(
                "prompts/list: greet with a required argument",
                [p.name for p in pl.prompts] == ["greet"] and pl.prompts[0].arguments[0].required is True,
                pl,
            )
            gp = await session.get_prompt("greet", {"name": "Ada"})
            check(
                "prompts/get: the message",
                len(gp.messages) == 1
                and gp.messages[0].role == "user"
                and gp.messages[0].content.text == "Please greet Ada warmly.",
                gp,
            )

            await session.set_logging_level("debug")
            check("logging/setLevel", True)
            await session.call_tool("add", {"a": 1, "b": 1})
            await asyncio.sleep(0.2)
            check("notifications/message received", any("called" in str(l.data) for l in logs), logs)
            check("notifications/progress received for echo", progress == [(1.0, 1.0, "echoed")], progress)


def main():
    binary = sys.argv[1]
    try:
        asyncio.run(asyncio.wait_for(run(binary), 60))
    except BaseException as e:  # noqa: BLE001 - report, do not crash silently
        traceback.print_exc()
        check("session ran to the end", False, repr(e))
    passed = sum(results)
    failed = len(results) - passed
    print(f"python-sdk: {passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 and passed > 0 else 1)


if __name__ == "__main__":
    main()
