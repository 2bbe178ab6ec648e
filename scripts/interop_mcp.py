"""MCP interop: the official Python SDK's client against wirestate MCP
servers, and the Streamable HTTP error handling checked with raw HTTP.

Usage:
  interop_mcp.py SERVER_BINARY                       stdio (mcp_stdio_server example)
  interop_mcp.py stdio LABEL SERVER_NAME CMD [ARG...] stdio, any command
  interop_mcp.py http LABEL SERVER_NAME URL          mcp.client.streamable_http
  interop_mcp.py raw LABEL URL                       urllib/http.client, no SDK
  interop_mcp.py sse LABEL SERVER_NAME URL           mcp.client.sse (2024-11-05 HTTP+SSE),
                                                     then that transport's refusals, raw

Prints one PASS/FAIL line per check (prefixed with `[LABEL] ` when a
label is given); exits 0 when every check passed.
"""

import asyncio
import http.client
import json
import urllib.parse
import warnings
import sys
import traceback

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
# The SDK flags logging as deprecated in 2026-07-28; this server speaks 2025-11-25.
warnings.filterwarnings("ignore", message=".*logging capability is deprecated.*")

results = []
PREFIX = ""


def check(name, cond, detail=""):
    results.append(bool(cond))
    print(("PASS " if cond else "FAIL ") + PREFIX + name + ("" if cond or not detail else f": {detail}"), flush=True)


async def session_checks(read, write, server_name, http_hooks=None):
    """The SDK session checks, over any transport."""
    logs = []

    async def on_log(params):
        logs.append(params)

    progress = []

    async def on_progress(p, total, message):
        progress.append((p, total, message))

    async with ClientSession(read, write, logging_callback=on_log) as session:
        init = await session.initialize()
        check("initialize: protocol version negotiated", init.protocol_version == "2025-11-25", init.protocol_version)
        check("initialize: server info", init.server_info.name == server_name, init.server_info)
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

        if http_hooks is not None:
            sid = http_hooks.get("session")
            check(
                "streamable HTTP: an Mcp-Session-Id of 32 hex digits",
                sid is not None and len(sid) == 32 and all(c in "0123456789abcdef" for c in sid),
                sid,
            )
            check(
                "streamable HTTP: tool calls answered as text/event-stream",
                "text/event-stream" in http_hooks.get("types", set()),
                http_hooks.get("types"),
            )


async def run_stdio(command, args, server_name):
    params = StdioServerParameters(command=command, args=args)
    async with stdio_client(params) as (read, write):
        await session_checks(read, write, server_name)


async def run_http(url, server_name):
    import httpx2
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    seen = {"types": set(), "deletes": []}

    async def on_response(response):
        sid = response.headers.get("mcp-session-id")
        if sid and "session" not in seen:
            seen["session"] = sid
        ct = response.headers.get("content-type", "")
        seen["types"].add(ct.split(";")[0].strip())
        if response.request.method == "DELETE":
            seen["deletes"].append(response.status_code)

    client = create_mcp_http_client()
    client.event_hooks["response"] = [on_response]
    async with client:
        async with streamable_http_client(url, http_client=client) as (read, write):
            await session_checks(read, write, server_name, seen)
        check("streamable HTTP: the SDK ends the session with DELETE (2xx)",
              len(seen["deletes"]) == 1 and 200 <= seen["deletes"][0] < 300, seen["deletes"])
    # The session is gone: its id now gets 404.
    sid = seen.get("session")
    if sid:
        status, _, _ = raw_post(url, {"jsonrpc": "2.0", "id": 1, "method": "ping"}, session=sid)
        check("streamable HTTP: the deleted session gets 404", status == 404, status)


async def run_sse(url, server_name):
    """The SDK's client of the 2024-11-05 HTTP+SSE transport, then the
    transport's refusals with raw HTTP."""
    from mcp.client.sse import sse_client

    seen = {}
    async with sse_client(url, on_session_created=lambda sid: seen.setdefault("session", sid)) as (read, write):
        await session_checks(read, write, server_name)
    sid = seen.get("session")
    check(
        "HTTP+SSE: the endpoint event names a session id of 32 hex digits",
        sid is not None and len(sid) == 32 and all(c in "0123456789abcdef" for c in sid),
        sid,
    )
    base = url.rsplit("/", 1)[0]
    ping = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"})
    json_ct = {"Content-Type": "application/json"}
    # The client closed its stream: the session ends with it, once the
    # server finds the stream gone (when it next writes to it: the answer
    # to one of these pings).
    tries = []
    for _ in range(20):
        status, _, b = raw(f"{base}/messages?sessionId={sid}", "POST", ping, json_ct)
        tries.append(status)
        if status == 404:
            break
        await asyncio.sleep(0.25)
    check("HTTP+SSE: the session ends with its stream (POST → 404)", tries[-1] == 404, tries)
    status, _, b = raw(url, "POST", ping, json_ct)
    check("HTTP+SSE: POST to the stream's URL → 405 (the fallback signal)", status == 405, (status, b))
    status, _, b = raw(f"{base}/messages", "POST", ping, json_ct)
    check("HTTP+SSE: POST without sessionId → 400", status == 400, (status, b))
    status, _, b = raw(f"{base}/messages?sessionId=0123456789abcdef0123456789abcdef", "POST", ping, json_ct)
    check("HTTP+SSE: POST to an unknown session → 404", status == 404, (status, b))
    status, _, b = raw(url, "GET", None, {"Accept": "text/event-stream", "Origin": "http://evil.example"})
    check("HTTP+SSE: GET with a foreign Origin → 403", status == 403, (status, b))
    status, _, b = raw(url, "GET", None, {"Accept": "text/event-stream"}, host="evil.example")
    check("HTTP+SSE: GET with a foreign Host → 421", status == 421, (status, b))
    status, _, b = raw(url, "GET", None, {"Accept": "application/json"})
    check("HTTP+SSE: GET not accepting text/event-stream → 406", status == 406, (status, b))


# ---- raw HTTP: the transport's error handling, without the SDK ----

ACCEPT = "application/json, text/event-stream"


def raw(url, method, body=None, headers=None, host=None):
    """One request on a fresh connection: (status, headers, body bytes)."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        target = u.path + ("?" + u.query if u.query else "")
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host or u.netloc)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        data = body if isinstance(body, (bytes, type(None))) else body.encode()
        if data is not None:
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def raw_post(url, message, session=None, extra=None, host=None, raw_body=None):
    headers = {"Content-Type": "application/json", "Accept": ACCEPT}
    if session:
        headers["Mcp-Session-Id"] = session
        headers["MCP-Protocol-Version"] = "2025-11-25"
    headers.update(extra or {})
    body = raw_body if raw_body is not None else json.dumps(message)
    return raw(url, "POST", body, headers, host)


def messages(headers, body):
    """The JSON-RPC messages of a response body, JSON or SSE."""
    ct = headers.get("content-type", "")
    if ct.startswith("text/event-stream"):
        out = []
        for event in body.decode().replace("\r\n", "\n").split("\n\n"):
            data = "\n".join(l[5:].lstrip(" ") for l in event.split("\n") if l.startswith("data:"))
            if data:
                out.append(json.loads(data))
        return out
    if not body:
        return []
    v = json.loads(body)
    return v if isinstance(v, list) else [v]


def error_code(headers, body):
    try:
        for m in messages(headers, body):
            if "error" in m:
                return m["error"].get("code")
    except ValueError as e:
        return f"unparsable: {e}: {body[:200]!r}"
    return None


def run_raw(url):
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0"},
        },
    }
    status, h, b = raw_post(url, init)
    sid = h.get("mcp-session-id")
    check("raw: initialize → 200 with Mcp-Session-Id", status == 200 and sid, (status, h))
    ok = [m for m in messages(h, b) if m.get("id") == 1 and "result" in m]
    check("raw: initialize result", len(ok) == 1 and ok[0]["result"].get("protocolVersion") == "2025-11-25", b[:300])
    status, _, b = raw_post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session=sid)
    check("raw: notifications/initialized → 202", status == 202, (status, b))

    status, h, b = raw_post(url, None, session=sid, raw_body='{"jsonrpc": "2.0", "id": 2, "method": ')
    code = error_code(h, b)
    check("raw: malformed JSON → 400 with -32700", status == 400 and code == -32700, (status, b))

    status, h, b = raw_post(url, {"jsonrpc": "1.0", "id": 3, "method": "ping"}, session=sid)
    code = error_code(h, b)
    check("raw: wrong jsonrpc version → 400 with -32600", status == 400 and code == -32600, (status, b))

    status, h, b = raw_post(url, {"jsonrpc": "2.0", "id": 4, "method": "no/such/method"}, session=sid)
    code = error_code(h, b)
    check("raw: unknown method → -32601 (in-band, 200)", status == 200 and code == -32601, (status, b))

    status, h, b = raw_post(url, {"jsonrpc": "2.0", "id": 5, "method": "resources/read", "params": {"uri": 7}}, session=sid)
    code = error_code(h, b)
    check("raw: bad params (resources/read uri: 7) → -32602 (in-band, 200)", status == 200 and code == -32602, (status, b))

    status, h, b = raw_post(url, {"jsonrpc": "2.0", "id": 6, "method": "tools/call", "params": {"name": "no_such_tool", "arguments": {}}}, session=sid)
    code = error_code(h, b)
    check("raw: tools/call of an unknown tool → -32602", status == 200 and code == -32602, (status, b))

    status, h, b = raw_post(url, {"jsonrpc": "2.0", "id": 7, "method": "ping"}, session=sid)
    ok = [m for m in messages(h, b) if m.get("id") == 7 and m.get("result") == {}]
    check("raw: ping in the session → 200 {}", status == 200 and len(ok) == 1, (status, b))

    status, h, b = raw_post(url, {"jsonrpc": "2.0", "id": 8, "method": "tools/list"})
    check("raw: a request before initialize (no session) → 400", status == 400, (status, b))

    status, h, b = raw_post(url, {"jsonrpc": "2.0", "id": 9, "method": "tools/list"}, session="0" * 32)
    code = error_code(h, b)
    check("raw: an unknown session → 404", status == 404, (status, b))

    status, h, b = raw_post(url, init, extra={"Origin": "http://evil.example"})
    check("raw: a bad Origin → 403", status == 403 and "mcp-session-id" not in h, (status, b))

    status, h, b = raw_post(url, {"jsonrpc": "2.0", "id": 10, "method": "ping"}, session=sid, extra={"Origin": "http://localhost:3000"})
    check("raw: a loopback Origin is served", status == 200, (status, b))

    port = urllib.parse.urlsplit(url).port
    status, h, b = raw_post(url, init, host=f"evil.example:{port}")
    check("raw: a bad Host → 421", status == 421 and "mcp-session-id" not in h, (status, b))

    status, h, b = raw_post(url, init, host=f"localhost:{port}")
    check("raw: Host localhost:PORT is served", status == 200 and h.get("mcp-session-id"), (status, b))

    status, h, b = raw_post(url, None, session=sid, raw_body="ping", extra={"Content-Type": "text/plain"})
    check("raw: a text/plain body → 415", status == 415, (status, b))

    status, h, b = raw(url, "PUT", "{}", {"Content-Type": "application/json", "Mcp-Session-Id": sid})
    check("raw: PUT → 405", status == 405, (status, b))

    status, h, b = raw_post(url, {"jsonrpc": "2.0", "id": 11, "method": "ping"}, session=sid, extra={"Accept": "text/html"})
    check("raw: Accept text/html → 406", status == 406, (status, b))

    status, h, b = raw_post(url, {"jsonrpc": "2.0", "id": 12, "method": "ping"}, session=sid, extra={"MCP-Protocol-Version": "1999-01-01"})
    check("raw: an unsupported MCP-Protocol-Version → 400", status == 400, (status, b))

    status, h, b = raw(url, "DELETE", None, {"Mcp-Session-Id": sid})
    check("raw: DELETE ends the session (2xx)", 200 <= status < 300, (status, b))
    status, h, b = raw_post(url, {"jsonrpc": "2.0", "id": 13, "method": "ping"}, session=sid)
    check("raw: the deleted session → 404", status == 404, (status, b))


def main():
    argv = sys.argv[1:]
    global PREFIX
    try:
        if argv[0] == "stdio":
            PREFIX = f"[{argv[1]}] "
            coro = run_stdio(argv[3], argv[4:], argv[2])
        elif argv[0] == "http":
            PREFIX = f"[{argv[1]}] "
            coro = run_http(argv[3], argv[2])
        elif argv[0] == "sse":
            PREFIX = f"[{argv[1]}] "
            coro = run_sse(argv[3], argv[2])
        elif argv[0] == "raw":
            PREFIX = f"[{argv[1]}] "
            coro = None
            run_raw(argv[2])
        else:
            coro = run_stdio(argv[0], [], "wirestate-mcp-stdio-example")
        if coro is not None:
            asyncio.run(asyncio.wait_for(coro, 60))
    except BaseException as e:  # noqa: BLE001 - report, do not crash silently
        traceback.print_exc()
        check("session ran to the end", False, repr(e))
    passed = sum(results)
    failed = len(results) - passed
    print(f"python-sdk: {passed} passed, {failed} failed")
    sys.exit(0 if failed == 0 and passed > 0 else 1)


if __name__ == "__main__":
    main()
