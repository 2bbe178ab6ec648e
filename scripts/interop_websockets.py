#!/usr/bin/env python3
"""The Python side of scripts/interop-websockets.sh, on the `websockets`
package (PyPI) as an independent peer. Run it with the venv's python.

    interop_websockets.py client BASE_URL LABEL
        checks `wirestate serve` at BASE_URL (http://127.0.0.1:PORT): the /ws
        echo with and without permessage-deflate, ping, close code, and a
        plain GET /ws; prints one `PASS LABEL: ...` / `FAIL LABEL: ...` line
        per check, exit status 1 if any failed.

    interop_websockets.py server PORT_FILE LOG_FILE
        an echo server on 127.0.0.1 (free port, written to PORT_FILE once it
        listens) offering permessage-deflate; for every connection it appends
        `PATH offered=<request extensions> negotiated=<response extensions>`
        to LOG_FILE. Runs until killed.
"""

import asyncio
import os
import sys
import time
import urllib.error
import urllib.request

# Let long fragmented messages through (the pinned websockets refuses more
# than 4096 fragments by default; read at import time).
os.environ.setdefault("WEBSOCKETS_MAX_FRAGMENTS", str(1 << 20))

from websockets.asyncio.client import connect  # noqa: E402
from websockets.asyncio.server import serve  # noqa: E402

TIMEOUT = 20  # seconds, per check
CLOSE_TCP_WITHIN = 1.0  # seconds from our close to the server's TCP close

OPTIONS = dict(
    max_size=None,
    ping_interval=None,
    open_timeout=TIMEOUT,
    close_timeout=TIMEOUT,
    proxy=None,  # loopback only, whatever the environment says
)


class Checks:
    def __init__(self, label):
        self.label = label
        self.passed = 0
        self.failed = 0

    def result(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print("PASS %s: %s" % (self.label, name), flush=True)
        else:
            self.failed += 1
            print("FAIL %s: %s" % (self.label, name), flush=True)
            if detail:
                print("    %s" % detail, flush=True)

    async def run(self, name, coro):
        """Runs one check: `coro` returns None when fine, else what went wrong."""
        try:
            problem = await asyncio.wait_for(coro, TIMEOUT)
        except Exception as e:  # any error of the peer is a failed check
            problem = "%s: %s" % (type(e).__name__, e)
        self.result(name, problem is None, problem or "")


def describe(value):
    if isinstance(value, (bytes, bytearray)):
        kind = "binary"
    else:
        kind = "text"
    if len(value) > 40:
        return "%s of %d" % (kind, len(value))
    return "%s %r" % (kind, value)


async def echo_check(ws, message, expected=None):
    """Sends `message` (a value or a list of fragments) and checks the echo."""
    if expected is None:
        expected = message
    await ws.send(message)
    got = await ws.recv()
    if type(got) is not type(expected):
        return "sent %s, got %s back" % (describe(expected), describe(got))
    if got != expected:
        return "sent %s, got a different %s back" % (describe(expected), describe(got))
    return None


async def client_checks(base, label):
    checks = Checks(label)
    ws_url = base.replace("http://", "ws://", 1) + "/ws"
    big = os.urandom(1 << 20)
    utf8 = "héllo wörld — ✓ 日本語 🎉" * 3
    payloads = [
        ("text", "hello"),
        ("binary", b"\x00\x01\x02\xff"),
        ("empty text", ""),
        ("empty binary", b""),
        ("multi-byte UTF-8 text", utf8),
        ("1 MiB binary", big),
        ("fragmented text (3 frames)", ["frag-one ", "frag-two ", "frag-three"]),
        ("fragmented binary (2 frames)", [b"\x01" * 1000, b"\x02" * 70000]),
    ]
    for compression, mode in ((None, "no compression"), ("deflate", "deflate")):
        async def session():
            async with connect(ws_url, compression=compression, **OPTIONS) as ws:
                ext = ws.response.headers.get("Sec-WebSocket-Extensions", "")
                if compression:
                    checks.result("%s: permessage-deflate negotiated" % mode,
                                  "permessage-deflate" in ext,
                                  "response Sec-WebSocket-Extensions: %r" % ext)
                else:
                    checks.result("%s: no extension in the response" % mode,
                                  ext == "", "response Sec-WebSocket-Extensions: %r" % ext)
                for name, payload in payloads:
                    if isinstance(payload, list):
                        expected = type(payload[0])().join(payload)
                    else:
                        expected = payload
                    await checks.run("%s: echo %s" % (mode, name),
                                     echo_check(ws, payload, expected))

                async def ping():
                    pong = await ws.ping(b"are you there")
                    await pong
                    return None
                await checks.run("%s: ping -> pong" % mode, ping())

                closing = {}

                async def close():
                    start = time.monotonic()
                    # returns once the server has closed the TCP connection
                    await ws.close(4000, "going away now")
                    closing["seconds"] = time.monotonic() - start
                    rcvd = ws.protocol.close_rcvd
                    if rcvd is None:
                        return "no close frame received (close code %s)" % ws.close_code
                    if rcvd.code != 4000:
                        return "peer answered close 4000 with %d %r" % (rcvd.code, rcvd.reason)
                    return None
                await checks.run("%s: close 4000 echoed" % mode, close())
                # RFC 6455 7.1.1: after the close handshake the server closes
                # the TCP connection first (Autobahn: "FAILED BY CLIENT").
                seconds = closing.get("seconds")
                if seconds is not None:
                    checks.result("%s: server closes TCP right after the close handshake" % mode,
                                  seconds < CLOSE_TCP_WITHIN,
                                  "the TCP connection stayed open %.1f s after the close "
                                  "handshake (limit %.1f s)" % (seconds, CLOSE_TCP_WITHIN))
        try:
            await asyncio.wait_for(session(), 4 * TIMEOUT)
        except Exception as e:
            checks.result("%s: session" % mode, False, "%s: %s" % (type(e).__name__, e))

    def plain_get():
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(base + "/ws", timeout=TIMEOUT) as res:
                return "plain GET /ws answered %d" % res.status
        except urllib.error.HTTPError as e:
            if 400 <= e.code < 500:
                return None
            return "plain GET /ws answered %d" % e.code
    try:
        problem = await asyncio.get_running_loop().run_in_executor(None, plain_get)
    except Exception as e:
        problem = "%s: %s" % (type(e).__name__, e)
    checks.result("plain GET /ws (no upgrade) -> 4xx", problem is None, problem or "")
    return 1 if checks.failed else 0


async def echo_server(port_file, log_file):
    log = open(log_file, "a", buffering=1)

    async def handler(ws):
        offered = ws.request.headers.get("Sec-WebSocket-Extensions", "")
        negotiated = ws.response.headers.get("Sec-WebSocket-Extensions", "")
        log.write("%s offered=%s negotiated=%s\n" % (ws.request.path, offered, negotiated))
        async for message in ws:
            await ws.send(message)

    async with serve(handler, "127.0.0.1", 0, compression="deflate", max_size=None,
                     ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        with open(port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(port_file + ".tmp", port_file)
        await server.serve_forever()


def main(argv):
    if len(argv) == 4 and argv[1] == "client":
        return asyncio.run(client_checks(argv[2].rstrip("/"), argv[3]))
    if len(argv) == 4 and argv[1] == "server":
        asyncio.run(echo_server(argv[2], argv[3]))
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
