"""fastmcp's Client (PyPI fastmcp, the most used Python MCP framework)
against a wirestate MCP server, and raw HTTP checks of what no SDK client
sends; used by scripts/interop-mcp-fastmcp.sh.

    interop_mcp_fastmcp.py client LABEL MODE (URL | -- CMD ARGS...)
    interop_mcp_fastmcp.py raw LABEL URL

`client`: MODE is fastmcp's `mode` (`auto`: server/discover, the
2026-07-28 era with a server that speaks it; `legacy`: the initialize
lifecycle). The server is `wirestate serve --conformance-fixtures` (URL)
or `wirestate mcp-server --conformance-fixtures` (stdio, spawned by
fastmcp); a URL ending in /sse is the 2024-11-05 HTTP+SSE transport. `raw`: a wirestate /mcp endpoint, with http.client: JSON-RPC
batches per negotiated revision, session DELETE and reuse, an unknown
MCP-Protocol-Version, a bad Origin, a cancelled call's stream.

Prints one `PASS [LABEL] check` or `FAIL [LABEL] check: why` line per
check; exits 1 if any failed.
"""

import asyncio
import http.client
import json
import sys
import time
import urllib.parse

failures = 0
LABEL = ""


def check(name, ok, why=""):
    global failures
    if ok:
        print(f"PASS [{LABEL}] {name}", flush=True)
    else:
        failures += 1
        print(f"FAIL [{LABEL}] {name}: {why}"[:2000], flush=True)


async def attempt(name, coro, test, timeout=30):
    """Awaits coro; `test(result)` says whether it passed (an exception
    is passed to it as the result when it expects one)."""
    try:
        r = await asyncio.wait_for(coro, timeout)
    except Exception as e:  # noqa: BLE001 - the check decides
        r = e
    try:
        ok = bool(test(r))
    except Exception as e:  # noqa: BLE001
        ok, r = False, f"{r!r} ({e!r})"
    check(name, ok, repr(r)[:600])
    return r


def error_code(e):
    """The JSON-RPC code of an MCP error, however fastmcp wraps it."""
    for obj in (e, getattr(e, "__cause__", None)):
        err = getattr(obj, "error", None)
        code = getattr(err, "code", None) or getattr(obj, "code", None)
        if isinstance(code, int):
            return code
    return None


async def client_checks(mode, target):
    from fastmcp import Client
    from fastmcp.client.transports import SSETransport, StdioTransport, StreamableHttpTransport
    import mcp.types as mt

    logs, progress = [], []

    async def on_log(m):
        logs.append(m)

    async def on_progress(p, total, message):
        progress.append((p, total, message))

    if target[0] == "--":
        transport = StdioTransport(target[1], target[2:])
        http = False
    elif target[0].endswith("/sse"):
        # The 2024-11-05 HTTP+SSE transport.
        transport = SSETransport(target[0])
        http = True
    else:
        transport = StreamableHttpTransport(target[0])
        http = True
    want = "2026-07-28" if mode == "auto" else "2025-11-25"
    async with Client(transport, mode=mode, log_handler=on_log, progress_handler=on_progress, timeout=20) as c:
        check(f"{mode}: negotiated {want}", c.protocol_version == want, c.protocol_version)
        if want == "2026-07-28":
            # 2026-07-28 removed ping: -32601, as the spec's removed methods.
            await attempt("ping is -32601 (removed in 2026-07-28)", c.ping(), lambda r: error_code(r) == -32601)
        else:
            await attempt("ping", c.ping(), lambda r: r is True)
            info = c.initialize_result
            check("serverInfo and instructions", info.server_info.name == "wirestate-demo" and "echo" in (info.instructions or ""), info)
        tools = await attempt("tools/list", c.list_tools(), lambda r: {"echo", "add", "sleep", "log_all_levels"} <= {t.name for t in r})
        if isinstance(tools, list):
            echo = next(t for t in tools if t.name == "echo")
            check("echo has input and output schemas", echo.input_schema.get("required") == ["text"] and "length" in echo.output_schema.get("properties", {}), echo)
        # Structured output, checked by fastmcp against the output schema
        # (`data` is built from it).
        text = "héllo ✓ 🙂 日本"
        await attempt("structured output (unicode)", c.call_tool("echo", {"text": text}),
                      lambda r: r.structured_content == {"text": text, "length": len(text)} and r.data.length == len(text))
        await attempt("text result", c.call_tool("add", {"a": 2, "b": 40}), lambda r: r.content[0].text == "42")
        # A 1 MiB argument (the result stays small: over HTTP the answer
        # to a call carrying a progress token is an SSE event, and the
        # SDK under fastmcp caps events at 1 MiB by default).
        await attempt("1 MiB argument", c.call_tool("add", {"a": 1, "b": 2, "pad": "é" * (1 << 19)}), lambda r: r.content[0].text == "3")
        big = "x" * ((1 << 20) if not http else (200 << 10))
        await attempt(f"{len(big) >> 10} KiB echoed back", c.call_tool("echo", {"text": big}), lambda r: r.structured_content["length"] == len(big))
        await attempt("bad arguments: isError", c.call_tool("add", {"a": "x"}, raise_on_error=False), lambda r: r.is_error)
        await attempt("unknown tool: an error", c.call_tool("no-such-tool", {}), lambda r: isinstance(r, Exception) and "no-such-tool" in str(r))
        await attempt("json_schema_2020_12_tool", c.call_tool("json_schema_2020_12_tool", {"name": "n", "address": {"street": "s", "city": "c"}}),
                      lambda r: not r.is_error)
        await attempt("resources/list", c.list_resources(), lambda r: "demo://greeting" in {str(x.uri) for x in r})
        await attempt("resources/templates/list", c.list_resource_templates(), lambda r: "test://template/{id}/data" in {t.uri_template for t in r})
        await attempt("read a resource", c.read_resource("demo://greeting"), lambda r: "sans-IO" in r[0].text)
        await attempt("read a templated resource", c.read_resource("test://template/42/data"), lambda r: json.loads(r[0].text)["id"] == "42")
        await attempt("read an unknown resource: -32002", c.read_resource("demo://nope"), lambda r: error_code(r) in (-32002, -32602))
        await attempt("prompts/list", c.list_prompts(), lambda r: {"greet", "test_prompt_with_arguments"} <= {p.name for p in r})
        await attempt("prompt with arguments", c.get_prompt("test_prompt_with_arguments", {"arg1": "ü", "arg2": "b"}),
                      lambda r: r.messages[0].content.text == "Prompt with arguments: arg1='ü', arg2='b'")
        await attempt("prompt missing a required argument: -32602", c.get_prompt("greet", {}), lambda r: error_code(r) == -32602)
        await attempt("completion", c.complete(mt.PromptReference(type="ref/prompt", name="test_prompt_with_arguments"), {"name": "arg1", "value": "pa"}),
                      lambda r: r.values == ["paris", "park", "party"])
        if want == "2025-11-25":
            await attempt("logging/setLevel warning", c.set_logging_level("warning"), lambda r: r is None)
            logs.clear()
            await attempt("log_all_levels", c.call_tool("log_all_levels", {}), lambda r: not r.is_error)
            await asyncio.sleep(0.2)
            levels = sorted(m.level for m in logs)
            check("setLevel filters: warning and above only", levels == sorted(["warning", "error", "critical", "alert", "emergency"]), levels)
        else:
            logs.clear()
            await attempt("log_all_levels", c.call_tool("log_all_levels", {}), lambda r: not r.is_error)
            await asyncio.sleep(0.2)
            check("log notifications on the request's stream", len(logs) >= 5, [m.level for m in logs])
        progress.clear()
        await attempt("progress notifications", c.call_tool("sleep", {"seconds": 0.3}), lambda r: r.content[0].text == "slept 0.3")
        check("progress: at least 2, increasing", len(progress) >= 2 and [p for p, _, _ in progress] == sorted(p for p, _, _ in progress), progress)
        # Cancellation: fastmcp gives up after its timeout and sends
        # notifications/cancelled; the session goes on.
        t0 = time.monotonic()
        await attempt("a call timed out by the client", c.call_tool("sleep", {"seconds": 10}, timeout=0.5), lambda r: isinstance(r, Exception))
        check("... within 3 s", time.monotonic() - t0 < 3, time.monotonic() - t0)
        await attempt("the session goes on after the cancel", c.call_tool("echo", {"text": "after"}), lambda r: r.structured_content["text"] == "after")
        rs = await asyncio.gather(*[c.call_tool("echo", {"text": f"n{i}"}) for i in range(40)], return_exceptions=True)
        check("40 concurrent calls", all(not isinstance(r, Exception) and r.structured_content["text"] == f"n{i}" for i, r in enumerate(rs)),
              [r for r in rs if isinstance(r, Exception)][:2])


class Http:
    """One request at a time to a wirestate /mcp endpoint."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = u.hostname, u.port, u.path

    def post(self, body, headers=None, raw=False, timeout=10):
        c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        h.update(headers or {})
        c.request("POST", self.path, body=body if raw else json.dumps(body), headers=h)
        return c, c.getresponse()

    def call(self, body, headers=None):
        c, r = self.post(body, headers)
        data = r.read()
        c.close()
        try:
            j = json.loads(data) if data else None
        except ValueError:
            j = data
        return r.status, r.headers, j

    def delete(self, session):
        c = http.client.HTTPConnection(self.host, self.port, timeout=10)
        c.request("DELETE", self.path, headers={"Mcp-Session-Id": session})
        r = c.getresponse()
        r.read()
        c.close()
        return r.status

    def session(self, version):
        init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}}
        status, headers, j = self.call(init)
        sid = headers.get("Mcp-Session-Id")
        h = {"Mcp-Session-Id": sid, "MCP-Protocol-Version": version}
        self.call({"jsonrpc": "2.0", "method": "notifications/initialized"}, h)
        return j["result"]["protocolVersion"] if j else None, h


def raw_checks(url):
    s = Http(url)
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}]
    # Batches: 2025-03-26 requires them, 2025-06-18 removed them.
    v, h = s.session("2025-03-26")
    status, _, j = s.call(batch, h)
    check("a batch on a 2025-03-26 session: one array answer", v == "2025-03-26" and status == 200 and isinstance(j, list) and len(j) == 2, (v, status, j))
    for version in ("2025-06-18", "2025-11-25"):
        v, h = s.session(version)
        status, _, j = s.call(batch, h)
        check(f"a batch on a {version} session: 400, -32600", status == 400 and j["error"]["code"] == -32600 and j["id"] is None, (status, j))
    status, _, j = s.call(batch, {"MCP-Protocol-Version": "2026-07-28"})
    check("a stateless batch: 400, -32600", status == 400 and j["error"]["code"] == -32600, (status, j))
    # An MCP-Protocol-Version we do not know.
    status, _, j = s.call({"jsonrpc": "2.0", "id": 3, "method": "ping"}, dict(h, **{"MCP-Protocol-Version": "2099-01-01"}))
    check("an unknown MCP-Protocol-Version: 400", status == 400 and "2099-01-01" in json.dumps(j), (status, j))
    # Origin: DNS-rebinding protection.
    status, _, j = s.call({"jsonrpc": "2.0", "id": 4, "method": "ping"}, dict(h, Origin="http://evil.example"))
    check("a foreign Origin: 403", status == 403, (status, j))
    status, _, j = s.call({"jsonrpc": "2.0", "id": 5, "method": "ping"}, dict(h, Origin=f"http://127.0.0.1:{s.port}"))
    check("a loopback Origin: 200", status == 200, (status, j))
    # A cancelled call: its stream ends without an answer.
    c, r = s.post({"jsonrpc": "2.0", "id": 6, "method": "tools/call",
                   "params": {"name": "sleep", "arguments": {"seconds": 10}, "_meta": {"progressToken": "p"}}}, h)
    ctype = r.headers.get("Content-Type", "")
    r.fp.readline()  # the stream has started
    status, _, _ = s.call({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 6, "reason": "test"}}, h)
    t0 = time.monotonic()
    try:
        rest = r.read().decode()
    except Exception as e:  # noqa: BLE001
        rest = repr(e)
    c.close()
    check("a cancelled call's stream ends, unanswered", ctype.startswith("text/event-stream") and status == 202
          and time.monotonic() - t0 < 5 and '"id":6' not in rest.replace(" ", ""), (ctype, status, round(time.monotonic() - t0, 2), rest[-300:]))
    status, _, j = s.call({"jsonrpc": "2.0", "id": 7, "method": "ping"}, h)
    check("the session goes on", status == 200 and j["id"] == 7, (status, j))
    # DELETE ends the session; using it again is 404.
    status = s.delete(h["Mcp-Session-Id"])
    check("DELETE the session: 200", status == 200, status)
    status, _, j = s.call({"jsonrpc": "2.0", "id": 8, "method": "ping"}, h)
    check("the deleted session: 404", status == 404, (status, j))
    check("DELETE it again: 404", s.delete(h["Mcp-Session-Id"]) == 404)


def main(argv):
    global LABEL
    kind, LABEL = argv[1], argv[2]
    if kind == "client":
        asyncio.run(client_checks(argv[3], argv[4:]))
    else:
        raw_checks(argv[3])
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
