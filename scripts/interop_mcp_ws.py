#!/usr/bin/env python3
"""The Python side of scripts/interop-mcp-ws.sh: JSON-RPC text messages
over WebSocket to an MCP endpoint, with the `websockets` package (PyPI) as
an independent peer (the official MCP Python SDK has no WebSocket client
any more). Run it with the venv's python.

    interop_mcp_ws.py WS_URL LABEL

checks `wirestate serve` /mcp at WS_URL (ws://127.0.0.1:PORT/mcp): the
`mcp` subprotocol, the initialize lifecycle, ping, tools (schemas,
structured content, a log notification, progress), resources, prompts,
the error codes (-32700 for malformed JSON with the socket kept open,
-32600, -32601, -32602), several requests in flight at once, a binary
message closed with 1003, a bad Origin refused with 403 before the
upgrade, and a client that offers no subprotocol. One `PASS LABEL: ...` /
`FAIL LABEL: ...` line per check; exit status 1 if any failed.
"""

import json
import sys

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

TIMEOUT = 10  # seconds, per message

OPTIONS = dict(
    open_timeout=TIMEOUT,
    close_timeout=TIMEOUT,
    max_size=None,
    proxy=None,  # loopback only, whatever the environment says
)

passed = 0
failed = 0
LABEL = ""


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("PASS %s: %s" % (LABEL, name), flush=True)
    else:
        failed += 1
        print("FAIL %s: %s" % (LABEL, name), flush=True)
        if detail != "":
            print("    %s" % (detail,), flush=True)


def request(id, method, params=None):
    m = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        m["params"] = params
    return json.dumps(m)


def notification(method, params=None):
    m = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        m["params"] = params
    return json.dumps(m)


class Peer:
    """One connection; messages that are not the awaited response are kept."""

    def __init__(self, ws):
        self.ws = ws
        self.others = []

    def recv(self):
        msg = self.ws.recv(timeout=TIMEOUT)
        if not isinstance(msg, str):
            raise AssertionError("a binary message from the server: %r" % (msg,))
        return json.loads(msg)

    def call(self, id, method, params=None):
        self.ws.send(request(id, method, params))
        return self.response(id)

    def response(self, id):
        while True:
            m = self.recv()
            if "method" not in m and m.get("id") == id:
                return m
            self.others.append(m)

    def notifications(self, method):
        found = [m for m in self.others if m.get("method") == method]
        self.others = [m for m in self.others if m.get("method") != method]
        return found


INIT = {
    "protocolVersion": "2025-06-18",
    "capabilities": {},
    "clientInfo": {"name": "websockets-interop", "version": "1"},
}


def session(url):
    with connect(url, subprotocols=["mcp"], **OPTIONS) as ws:
        check("the server accepts the `mcp` subprotocol", ws.subprotocol == "mcp", ws.subprotocol)
        p = Peer(ws)

        r = p.call(0, "tools/list")
        check("a request before initialize is refused with an error",
              "error" in r and r.get("id") == 0, r)

        r = p.call(1, "initialize", INIT)
        res = r.get("result", {})
        check("initialize: the revision we asked for",
              res.get("protocolVersion") == "2025-06-18", r)
        check("initialize: serverInfo and tools capability",
              res.get("serverInfo", {}).get("name") == "wirestate-demo"
              and "tools" in res.get("capabilities", {}), res)
        ws.send(notification("notifications/initialized"))

        r = p.call(2, "ping")
        check("ping answered with an empty result", r.get("result") == {}, r)

        r = p.call(3, "tools/list")
        tools = {t["name"]: t for t in r.get("result", {}).get("tools", [])}
        check("tools/list: echo and add", {"echo", "add"} <= set(tools), list(tools))
        echo = tools.get("echo", {})
        check("tools/list: echo's input and output schemas",
              echo.get("inputSchema", {}).get("properties", {}).get("text", {}).get("type") == "string"
              and "outputSchema" in echo, echo)

        r = p.call(4, "tools/call", {"name": "echo", "arguments": {"text": "h\u00e9llo"},
                                     "_meta": {"progressToken": "tok"}})
        sc = r.get("result", {}).get("structuredContent")
        check("tools/call echo: structured content (UTF-8 intact)",
              sc == {"text": "h\u00e9llo", "length": 5}, r)
        progress = p.notifications("notifications/progress")
        check("tools/call echo: a progress notification for our token",
              any(n.get("params", {}).get("progressToken") == "tok" for n in progress), progress)

        r = p.call(5, "tools/call", {"name": "add", "arguments": {"a": 2, "b": 3}})
        content = r.get("result", {}).get("content", [{}])
        check("tools/call add: the sum as text", content[0].get("text") == "5", r)
        logs = p.notifications("notifications/message")
        check("tools/call add: its log notification arrived", any(
            n.get("params", {}).get("data") == "called add" for n in logs), logs)

        r = p.call(6, "tools/call", {"name": "add", "arguments": {"a": "x"}})
        check("tools/call add with bad arguments: isError",
              r.get("result", {}).get("isError") is True, r)

        r = p.call(7, "tools/call", {"name": "no-such-tool", "arguments": {}})
        check("tools/call of an unknown tool: -32602",
              r.get("error", {}).get("code") == -32602, r)

        r = p.call(8, "resources/read", {"uri": "demo://greeting"})
        contents = r.get("result", {}).get("contents", [{}])
        check("resources/read: the greeting",
              contents[0].get("text", "").startswith("Hello"), r)

        r = p.call(9, "prompts/get", {"name": "greet", "arguments": {"name": "Ada"}})
        msgs = r.get("result", {}).get("messages", [])
        check("prompts/get greet", bool(msgs) and "Ada" in json.dumps(msgs), r)
        r = p.call(10, "prompts/get", {"name": "greet"})
        check("prompts/get without a required argument: -32602",
              r.get("error", {}).get("code") == -32602, r)

        ws.send('{"jsonrpc": "2.0", "id": 11, "method": "ping"')
        r = p.response(None)
        check("malformed JSON: -32700 with a null id",
              r.get("error", {}).get("code") == -32700, r)
        r = p.call(12, "ping")
        check("the socket stays open after malformed JSON", r.get("result") == {}, r)

        ws.send(json.dumps({"jsonrpc": "1.0", "id": 13, "method": "ping"}))
        r = p.response(13)
        check("a wrong `jsonrpc` version: -32600",
              r.get("error", {}).get("code") == -32600, r)

        r = p.call(14, "no/such/method")
        check("an unknown method: -32601", r.get("error", {}).get("code") == -32601, r)

        r = p.call(15, "resources/read", {"uri": 7})
        check("bad params: -32602", r.get("error", {}).get("code") == -32602, r)

        # Several requests in flight before any answer is read.
        for i in range(20, 30):
            ws.send(request(i, "tools/call", {"name": "add", "arguments": {"a": i, "b": 1}}))
        answers = {}
        for _ in range(10):
            m = p.recv()
            while "method" in m:
                m = p.recv()
            answers[m.get("id")] = m
        ok = all(answers.get(i, {}).get("result", {}).get("content", [{}])[0].get("text") == str(i + 1)
                 for i in range(20, 30))
        check("10 calls in flight, each answered by its id", ok, sorted(answers))

        ws.send(b"\x00\x01binary")
        code = None
        try:
            while True:
                ws.recv(timeout=TIMEOUT)
        except ConnectionClosed as e:
            code = e.rcvd.code if e.rcvd is not None else None
        check("a binary message: the server closes with 1003", code == 1003, code)


def bad_origin(url):
    try:
        with connect(url, subprotocols=["mcp"], origin="http://evil.example", **OPTIONS):
            check("a bad Origin is refused", False, "the upgrade was accepted")
    except InvalidStatus as e:
        status = e.response.status_code
        check("a bad Origin is refused with 403 before the upgrade", status == 403, status)


def no_subprotocol(url):
    with connect(url, **OPTIONS) as ws:
        check("a client offering no subprotocol is served (none chosen)",
              ws.subprotocol is None, ws.subprotocol)
        p = Peer(ws)
        r = p.call(1, "initialize", INIT)
        check("... and initializes", "result" in r, r)


def main():
    global LABEL
    url, LABEL = sys.argv[1], sys.argv[2]
    for part in (session, bad_origin, no_subprotocol):
        try:
            part(url)
        except Exception as e:  # a crash is a failed check, not a traceback
            check("%s ran to the end" % part.__name__, False, repr(e))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
