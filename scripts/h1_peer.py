#!/usr/bin/env python3
"""A raw-socket HTTP/1.1 conformance and request-smuggling peer for
`wirestate serve` and `wirestate http` (scripts/interop-h1.sh).

Python 3 standard library only: requests are written byte for byte, and
responses are read back by the small, strict parser below (status line,
fields, Content-Length / chunked / close-delimited bodies, HEAD and
1xx/204/304 rules), which is independent of wirestate's. Each case names
its RFC 9112 / RFC 9110 section and the reaction it expects; each runs on
a connection of its own with its own timeout and prints `PASS <label>:
<name>` or `FAIL <label>: <name>: <why>`.

    h1_peer.py server HOST PORT LABEL [NAME...]   cases against a server
    h1_peer.py client WIRESTATE RUNTIME LABEL [NAME...]
        `WIRESTATE http --runtime RUNTIME` against a misbehaving raw
        server on 127.0.0.1 (a thread of this script)

The expected statuses follow wirestate-http1's defaults
(core/http1/src/config.rs): request line 8 KiB (414 above it), head
32 KiB and 100 fields (431 above them), chunk lines 1 KiB. The demo
routes are examples/src/routes.rs: `GET /` answers `hello`, `POST /echo`
echoes the body, `OPTIONS *` is 204.
"""

import socket
import subprocess
import sys
import threading
import time
import traceback

MAX_REQUEST_LINE = 8 * 1024
MAX_HEAD = 32 * 1024
MAX_HEADERS = 100


class CheckFailed(Exception):
    pass


def require(cond, why):
    if not cond:
        raise CheckFailed(why)


# --- a strict response reader ----------------------------------------------

class Response:
    def __init__(self, version, status, reason, fields, body, trailers=None):
        self.version, self.status, self.reason = version, status, reason
        self.fields = fields  # [(lowercase name, value)]
        self.body = body
        self.trailers = trailers or []

    def get(self, name):
        vals = [v for n, v in self.fields if n == name]
        return ", ".join(vals) if vals else None

    def tokens(self, name):
        v = self.get(name) or ""
        return [t.strip().lower() for t in v.split(",") if t.strip()]

    def __repr__(self):
        return "%s %d %r fields=%r body=%r" % (
            self.version, self.status, self.reason, self.fields[:6], self.body[:60])


class Incomplete(Exception):
    pass


class Malformed(Exception):
    pass


def parse_head(buf, pos):
    end = buf.find(b"\r\n\r\n", pos)
    if end < 0:
        raise Incomplete()
    lines = buf[pos:end].split(b"\r\n")
    start = lines[0].decode("latin-1")
    parts = start.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or len(parts[1]) != 3 \
            or not parts[1].isdigit():
        raise Malformed("bad status line %r" % start)
    fields = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t") or b":" not in line:
            raise Malformed("bad field line %r" % line)
        name, _, value = line.partition(b":")
        if name != name.strip() or not name:
            raise Malformed("bad field name %r" % name)
        fields.append((name.decode("latin-1").lower(), value.strip(b" \t").decode("latin-1")))
    return parts[0], int(parts[1]), (parts[2] if len(parts) > 2 else ""), fields, end + 4


def parse_chunked(buf, pos):
    body = bytearray()
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            raise Incomplete()
        size_txt = buf[pos:eol].split(b";", 1)[0]
        try:
            size = int(size_txt, 16)
        except ValueError:
            raise Malformed("bad chunk size %r" % size_txt)
        pos = eol + 2
        if size == 0:
            trailers = []
            while True:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    raise Incomplete()
                if eol == pos:
                    return bytes(body), trailers, eol + 2
                name, _, value = buf[pos:eol].partition(b":")
                trailers.append((name.decode("latin-1").lower(), value.strip().decode("latin-1")))
                pos = eol + 2
        if len(buf) < pos + size + 2:
            raise Incomplete()
        body += buf[pos:pos + size]
        if buf[pos + size:pos + size + 2] != b"\r\n":
            raise Malformed("no CRLF after chunk data")
        pos += size + 2


def parse_response(buf, pos, method, eof):
    """One response at buf[pos:] (1xx included): (Response, next pos)."""
    version, status, reason, fields, pos = parse_head(buf, pos)
    resp = Response(version, status, reason, fields, b"")
    te = resp.tokens("transfer-encoding")
    cl = resp.get("content-length")
    if method == "HEAD" or 100 <= status < 200 or status in (204, 304):
        return resp, pos
    if te:
        require(te[-1] == "chunked", "response Transfer-Encoding %r" % te)
        require(cl is None, "response with both Content-Length and Transfer-Encoding")
        resp.body, resp.trailers, pos = parse_chunked(buf, pos)
        return resp, pos
    if cl is not None:
        require(cl.isdigit(), "bad response Content-Length %r" % cl)
        n = int(cl)
        if len(buf) < pos + n:
            raise Incomplete()
        resp.body = bytes(buf[pos:pos + n])
        return resp, pos + n
    # Close-delimited.
    if not eof:
        raise Incomplete()
    resp.body = bytes(buf[pos:])
    return resp, len(buf)


class Result:
    def __init__(self):
        self.responses = []   # final responses
        self.interim = []     # 1xx
        self.closed = False   # the server closed (EOF or reset)
        self.raw = b""

    def status(self, i=0):
        return self.responses[i].status if len(self.responses) > i else None

    def why(self):
        return "got %d response(s) %r, closed=%s, raw=%r" % (
            len(self.responses), [r.status for r in self.responses], self.closed,
            self.raw[:300])


def exchange(host, port, data, methods=("GET",), want=None, linger=0.3, timeout=4,
             steps=None):
    """Sends `data` (or runs `steps`: a list of bytes to send, or
    ("wait_interim", n) / ("sleep", s)) and reads responses until `want`
    final ones arrived (default: one per entry of `methods`), then `linger`
    seconds more to see whether the server closes. Stops early on EOF."""
    want = len(methods) if want is None else want
    res = Result()
    buf = bytearray()
    sock = socket.create_connection((host, port), timeout=2)
    deadline = time.monotonic() + timeout

    def pump(until):
        """Reads and parses until `until(res)` or EOF or the deadline."""
        nonlocal buf
        pos = 0
        while True:
            # Parse whatever complete responses are buffered.
            res.responses.clear()
            res.interim.clear()
            pos = 0
            try:
                while pos < len(buf):
                    m = methods[min(len(res.responses), len(methods) - 1)]
                    r, pos = parse_response(buf, pos, m, res.closed)
                    (res.interim if 100 <= r.status < 200 else res.responses).append(r)
            except Incomplete:
                pass
            except (Malformed, CheckFailed) as e:
                raise CheckFailed("unparsable response: %s; raw=%r" % (e, bytes(buf[:300])))
            res.raw = bytes(buf)
            if until(res) or res.closed:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                return
            sock.settimeout(min(left, 0.5))
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                res.closed = True
                continue
            if not chunk:
                res.closed = True
            buf += chunk

    try:
        for step in (steps if steps is not None else [data]):
            if isinstance(step, tuple) and step[0] == "wait_interim":
                pump(lambda r, n=step[1]: len(r.interim) >= n or r.responses)
            elif isinstance(step, tuple) and step[0] == "sleep":
                time.sleep(step[1])
            elif isinstance(step, tuple) and step[0] == "shut":
                sock.shutdown(socket.SHUT_WR)
            else:
                try:
                    sock.sendall(step)
                except OSError:
                    res.closed = True
                    break
        pump(lambda r: len(r.responses) >= want)
        if len(res.responses) >= want and not res.closed and linger:
            deadline = time.monotonic() + linger
            pump(lambda r: False)
    finally:
        sock.close()
    return res


# --- the server cases --------------------------------------------------------

CASES = []


def case(section, name):
    def register(fn):
        CASES.append(("%s %s" % (section, name), fn))
        return fn
    return register


def req(line="GET / HTTP/1.1", *fields, body=b"", host=True):
    out = line.encode("latin-1") + b"\r\n"
    if host:
        out += b"Host: localhost\r\n"
    for f in fields:
        out += (f if isinstance(f, bytes) else f.encode("latin-1")) + b"\r\n"
    return out + b"\r\n" + body


def expect_status(res, status, closed=None):
    require(res.status() == status, "want %s: %s" % (status, res.why()))
    if closed is not None:
        require(res.closed == closed, "want closed=%s: %s" % (closed, res.why()))


def expect_error(res, status=400):
    """An error status, then the connection closes (RFC 9112 §9.6 /
    §6.3: after a framing error the connection cannot be reused)."""
    expect_status(res, status, closed=True)
    require(res.responses[0].get("connection") == "close",
            "error response without Connection: close: %s" % res.why())


def hello(res, i=0):
    require(res.status(i) == 200 and res.responses[i].body == b"hello",
            "want 200 hello as response %d: %s" % (i, res.why()))


def server_cases(H, P):
    def ex(data, **kw):
        return exchange(H, P, data, **kw)

    def bad(data, status=400):
        expect_error(ex(data), status)

    def echo(data, body, closed=None):
        res = ex(data)
        require(res.status() == 200 and res.responses[0].body == body,
                "want 200 echoing %r: %s" % (body, res.why()))
        if closed is not None:
            require(res.closed == closed, "want closed=%s: %s" % (closed, res.why()))

    # --- §3 request line and §3.2 target forms
    @case("9112§3.2.1", "origin-form GET / -> 200, connection stays open")
    def _():
        res = ex(req())
        hello(res)
        require(not res.closed, "HTTP/1.1 default is persistent: " + res.why())

    @case("9112§3.2.2", "absolute-form target is accepted (server MUST accept it) -> 200")
    def _():
        hello(ex(req("GET http://localhost/ HTTP/1.1")))

    @case("9112§3.2.2", "absolute-form target with a different Host: Host is ignored -> 200")
    def _():
        hello(ex(req("GET http://localhost/ HTTP/1.1", host=False)
                 .replace(b"\r\n\r\n", b"\r\nHost: other.example\r\n\r\n")))

    @case("9112§3.2", "absolute-form in HTTP/1.1 without Host -> 400")
    def _():
        bad(req("GET http://localhost/ HTTP/1.1", host=False))

    @case("9110§4.2.4", "userinfo in an absolute-form target -> 400")
    def _():
        bad(req("GET http://user@localhost/ HTTP/1.1"))

    @case("9112§3.2.2", "absolute-form with an unknown scheme is still routed by path -> 200")
    def _():
        res = ex(req("GET https://localhost/ HTTP/1.1"))
        hello(res)

    @case("9112§3.2.3", "authority-form with GET -> 400 (only for CONNECT)")
    def _():
        bad(req("GET localhost:80 HTTP/1.1"))

    @case("9112§3.2.3", "CONNECT with origin-form -> 400")
    def _():
        bad(req("CONNECT / HTTP/1.1"))

    @case("9112§3.2.3", "CONNECT with authority-form is not refused as malformed")
    def _():
        res = ex(req("CONNECT localhost:80 HTTP/1.1"))
        require(res.status() is not None and res.status() != 400,
                "want a non-400 answer: " + res.why())

    @case("9110§9.3.6", "CONNECT without a port -> 400 (there is no default port)")
    def _():
        bad(req("CONNECT localhost HTTP/1.1"))

    @case("9112§3.2.3", "CONNECT with userinfo -> 400")
    def _():
        bad(req("CONNECT user@localhost:80 HTTP/1.1"))

    @case("9112§3.2", "a fragment in the request-target -> 400")
    def _():
        bad(req("GET /#frag HTTP/1.1"))

    @case("9112§3.2.4", "OPTIONS * -> 204 with Allow and no body")
    def _():
        res = ex(req("OPTIONS * HTTP/1.1") + req(), methods=("OPTIONS", "GET"))
        expect_status(res, 204)
        require(res.responses[0].get("allow"), "no Allow: " + res.why())
        hello(res, 1)

    @case("9112§3.2.4", "asterisk-form with GET -> 400")
    def _():
        bad(req("GET * HTTP/1.1"))

    @case("9112§3.2", "target without a leading slash -> 400")
    def _():
        bad(req("GET hello HTTP/1.1"))

    @case("9112§3", "whitespace inside the request-target -> 400")
    def _():
        bad(req("GET /a b HTTP/1.1"))

    @case("9112§3", "two spaces between method and target -> 400 (SP is one octet)")
    def _():
        bad(req("GET  / HTTP/1.1"))

    @case("9112§3", "trailing space after the version -> 400")
    def _():
        bad(req("GET / HTTP/1.1 "))

    @case("9112§3", "tab instead of SP in the request line -> 400")
    def _():
        bad(req("GET\t/ HTTP/1.1"))

    @case("9112§3", "NUL in the request-target -> 400")
    def _():
        bad(req("GET /\x00 HTTP/1.1"))

    @case("9112§3", "non-ASCII octet in the request-target -> 400")
    def _():
        bad(req("GET /\xff HTTP/1.1"))

    @case("9110§9.1", "invalid method token (contains '(') -> 400")
    def _():
        bad(req("G(T / HTTP/1.1"))

    @case("9110§9.1", "methods are case-sensitive: 'get' is another method -> 405")
    def _():
        res = ex(req("get / HTTP/1.1"))
        require(res.status() in (405, 501), "want 405 or 501: " + res.why())

    @case("9110§9.3.2", "HEAD / -> Content-Length of GET, no body (next pipelined reply intact)")
    def _():
        res = ex(req("HEAD / HTTP/1.1") + req(), methods=("HEAD", "GET"))
        expect_status(res, 200)
        require(res.responses[0].get("content-length") == "5", "HEAD length: " + res.why())
        hello(res, 1)
        require(res.raw.count(b"hello") == 1, "HEAD sent a body: " + res.why())

    @case("9112§2.2", "empty lines before the request-line are ignored -> 200")
    def _():
        hello(ex(b"\r\n\r\n" + req()))

    @case("9112§2.2", "bare LF line endings: MAY be recognised -> 200")
    def _():
        # "a recipient MAY recognize a single LF as a line terminator and
        # ignore any preceding CR": accepted, as httparse, h11 and nginx do.
        hello(ex(b"GET / HTTP/1.1\nHost: localhost\n\n"))

    @case("9112§2.2", "bare CR in a field value -> 400")
    def _():
        bad(req("GET / HTTP/1.1", b"X-A: a\rb"))

    @case("9112§2.2", "bare CR as the line end -> 400")
    def _():
        bad(b"GET / HTTP/1.1\rHost: localhost\r\r\n\r\n")

    # --- §2.3 versions
    @case("9112§2.3", "HTTP/2.0 request line -> 505")
    def _():
        bad(req("GET / HTTP/2.0"), 505)

    @case("9112§2.3", "HTTP/1.2: a higher minor version is served as HTTP/1.1 -> 200")
    def _():
        res = ex(req("GET / HTTP/1.2") + req("GET / HTTP/1.9"), methods=("GET", "GET"))
        hello(res, 0)
        hello(res, 1)
        require(res.responses[0].version == "HTTP/1.1", "answered as " + res.why())

    @case("9112§2.3", "HTTP/3.0 request line -> 505")
    def _():
        bad(req("GET / HTTP/3.0"), 505)

    @case("9112§2.3", "HTTP/0.9 request line (no version) -> 400")
    def _():
        bad(b"GET /\r\n\r\n")

    @case("9112§2.3", "lowercase http/1.1 -> 400 (the name is case-sensitive)")
    def _():
        bad(req("GET / http/1.1"))

    @case("9112§2.3", "HTTP/1.1x version junk -> 400")
    def _():
        bad(req("GET / HTTP/1.1x"))

    # --- §5 field syntax
    @case("9112§5.1", "whitespace between field name and colon -> 400")
    def _():
        bad(req("GET / HTTP/1.1", b"X-A : b"))

    @case("9112§5.1", "whitespace before colon on Transfer-Encoding (smuggling) -> 400")
    def _():
        bad(req("POST /echo HTTP/1.1", b"Content-Length: 3", b"Transfer-Encoding : chunked",
                body=b"abc"))

    @case("9112§5.1", "tab between field name and colon (Transfer-Encoding\\t:) -> 400")
    def _():
        bad(req("POST /echo HTTP/1.1", b"Content-Length: 3", b"Transfer-Encoding\t: chunked",
                body=b"abc"))

    @case("9110§7.2", "Host with a space inside -> 400")
    def _():
        bad(req(host=False).replace(b"\r\n\r\n", b"\r\nHost: local host\r\n\r\n"))

    @case("9112§5.2", "obs-fold continuing Content-Length -> 400")
    def _():
        bad(req("POST /echo HTTP/1.1", b"Content-Length: 1", b" 0", body=b"a" * 10))

    @case("9112§2.2", "whitespace between the request-line and the first field -> 400")
    def _():
        # "MUST either reject the message as invalid or consume each
        # whitespace-preceded line": we reject.
        bad(b"GET / HTTP/1.1\r\n Host: localhost\r\n\r\n")

    @case("9112§3", "no space between target and version (GET /HTTP/1.1) -> 400")
    def _():
        bad(b"GET /HTTP/1.1\r\nHost: localhost\r\n\r\n")

    @case("9110§9.1", "non-ASCII octet in the method -> 400")
    def _():
        bad(b"G\x80T / HTTP/1.1\r\nHost: localhost\r\n\r\n")

    @case("9112§5.2", "obs-fold in a request field -> 400")
    def _():
        bad(req("GET / HTTP/1.1", b"X-A: a", b" b"))

    @case("9112§5.2", "obs-fold with a tab -> 400")
    def _():
        bad(req("GET / HTTP/1.1", b"X-A: a", b"\tb"))

    @case("9112§5.1", "field line with no colon -> 400")
    def _():
        bad(req("GET / HTTP/1.1", b"X-A b"))

    @case("9112§5.1", "empty field name -> 400")
    def _():
        bad(req("GET / HTTP/1.1", b": b"))

    @case("9110§5.1", "invalid character in a field name -> 400")
    def _():
        bad(req("GET / HTTP/1.1", b"X(A): b"))

    @case("9110§5.5", "NUL in a field value -> 400")
    def _():
        bad(req("GET / HTTP/1.1", b"X-A: a\x00b"))

    @case("9110§5.5", "control octet 0x01 in a field value -> 400")
    def _():
        bad(req("GET / HTTP/1.1", b"X-A: a\x01b"))

    @case("9110§5.5", "DEL in a field value -> 400")
    def _():
        bad(req("GET / HTTP/1.1", b"X-A: a\x7fb"))

    @case("9110§5.5", "obs-text (0x80-0xFF) in a field value is allowed -> 200")
    def _():
        hello(ex(req("GET / HTTP/1.1", b"X-A: caf\xe9")))

    @case("9110§5.6.3", "tab as OWS around a field value -> 200")
    def _():
        hello(ex(req("GET / HTTP/1.1", b"X-A:\tvalue\t")))

    # --- §3.2 Host
    @case("9112§3.2", "HTTP/1.1 without Host -> 400")
    def _():
        bad(req(host=False))

    @case("9112§3.2", "two Host fields -> 400")
    def _():
        bad(req("GET / HTTP/1.1", "Host: localhost"))

    @case("9112§3.2", "Host with a comma list -> 400")
    def _():
        bad(req(host=False).replace(b"\r\n\r\n", b"\r\nHost: a, b\r\n\r\n"))

    @case("9110§7.2", "Host with userinfo -> 400")
    def _():
        bad(req(host=False).replace(b"\r\n\r\n", b"\r\nHost: user@localhost\r\n\r\n"))

    @case("9110§7.2", "empty Host is allowed (no authority) -> 200")
    def _():
        hello(ex(req(host=False).replace(b"\r\n\r\n", b"\r\nHost:\r\n\r\n")))

    @case("9112§3.2", "HTTP/1.0 without Host -> 200, then close")
    def _():
        res = ex(req("GET / HTTP/1.0", host=False))
        hello(res)
        require(res.closed, "HTTP/1.0 default is close: " + res.why())

    # --- §9.3 persistence
    @case("9112§9.3", "HTTP/1.0 with Connection: keep-alive stays open (two replies)")
    def _():
        r = req("GET / HTTP/1.0", "Connection: keep-alive", host=False)
        res = ex(r + r, methods=("GET", "GET"))
        hello(res, 0)
        hello(res, 1)
        require(res.responses[0].get("connection", ) and
                "keep-alive" in res.responses[0].tokens("connection"),
                "1.0 keep-alive reply lacks Connection: keep-alive: " + res.why())

    @case("9112§9.6", "Connection: close -> reply says close, then the server closes")
    def _():
        res = ex(req("GET / HTTP/1.1", "Connection: close") + req(), want=1, linger=0.5)
        hello(res)
        require(len(res.responses) == 1, "answered past Connection: close: " + res.why())
        require("close" in res.responses[0].tokens("connection"), res.why())
        require(res.closed, "not closed: " + res.why())

    @case("9112§9.6", "Connection: keep-alive, close -> close wins")
    def _():
        res = ex(req("GET / HTTP/1.1", "Connection: keep-alive, close"))
        hello(res)
        require(res.closed, "not closed: " + res.why())

    @case("9112§9.3.2", "three pipelined GETs -> three replies in order")
    def _():
        res = ex(req() + req("GET /nope HTTP/1.1") + req(), methods=("GET",) * 3)
        hello(res, 0)
        require(res.status(1) == 404, res.why())
        hello(res, 2)

    @case("9112§9.3.2", "pipelined POSTs with Content-Length and chunked bodies, in order")
    def _():
        data = (req("POST /echo HTTP/1.1", "Content-Length: 3", body=b"one")
                + req("POST /echo HTTP/1.1", "Transfer-Encoding: chunked",
                      body=b"3\r\ntwo\r\n0\r\n\r\n")
                + req("POST /echo HTTP/1.1", "Content-Length: 5", body=b"three"))
        res = ex(data, methods=("POST",) * 3)
        require([r.body for r in res.responses] == [b"one", b"two", b"three"], res.why())

    @case("9112§9.3.2", "20 pipelined GETs (beyond the read-ahead depth of 16) -> 20 replies")
    def _():
        res = ex(req() * 20, methods=("GET",) * 20, timeout=6)
        require(len(res.responses) == 20 and all(r.body == b"hello" for r in res.responses),
                res.why())

    @case("9112§9.6", "request, then the client half-closes: still answered, then closed")
    def _():
        res = exchange(H, P, None, steps=[req(), ("shut",)])
        hello(res)
        require(res.closed, "not closed after the client's FIN: " + res.why())

    @case("9112§9.6", "half-close in the middle of a body: no answer for it, closed")
    def _():
        res = exchange(H, P, None, methods=("POST",), want=1, steps=[
            req("POST /echo HTTP/1.1", "Content-Length: 10", body=b"abc"), ("shut",)])
        require(res.closed, "not closed: " + res.why())
        require(res.status() in (None, 400), "want nothing or a 400: " + res.why())

    @case("9112§6.3", "a body that looks like a request is body, not a second request")
    def _():
        inner = req("GET /nope HTTP/1.1")
        data = req("POST /echo HTTP/1.1", "Content-Length: %d" % len(inner), body=inner) + req()
        res = ex(data, methods=("POST", "GET"))
        require(res.status() == 200 and res.responses[0].body == inner, res.why())
        hello(res, 1)
        require(len(res.responses) == 2, res.why())

    @case("9112§6.3", "404 before its Content-Length body is read: the body (a request) is skipped")
    def _():
        inner = req("GET /echo HTTP/1.1")
        res = ex(req("POST /nope HTTP/1.1", "Content-Length: %d" % len(inner), body=inner)
                 + req(), methods=("POST", "GET", "GET"), want=2, linger=0.5)
        require([r.status for r in res.responses] == [404, 200], res.why())
        hello(res, 1)

    @case("9112§7.1", "404 before its chunked body is read: the chunk (a request) is skipped")
    def _():
        inner = req("GET /echo HTTP/1.1")
        body = b"%x\r\n" % len(inner) + inner + b"\r\n0\r\n\r\n"
        res = ex(req("POST /nope HTTP/1.1", "Transfer-Encoding: chunked", body=body) + req(),
                 methods=("POST", "GET", "GET"), want=2, linger=0.5)
        require([r.status for r in res.responses] == [404, 200], res.why())
        hello(res, 1)

    @case("9110§9.3.7", "OPTIONS * with a body: 204, body skipped, next request intact")
    def _():
        inner = req("GET /echo HTTP/1.1")
        res = ex(req("OPTIONS * HTTP/1.1", "Content-Length: %d" % len(inner), body=inner)
                 + req(), methods=("OPTIONS", "GET", "GET"), want=2, linger=0.5)
        require([r.status for r in res.responses] == [204, 200], res.why())

    @case("9110§9.3.2", "HEAD of a streamed (chunked) resource: no body, next reply intact")
    def _():
        res = ex(req("HEAD /stream?n=3 HTTP/1.1") + req(), methods=("HEAD", "GET"))
        expect_status(res, 200)
        hello(res, 1)
        require(b"line" not in res.raw, "HEAD sent a body: " + res.why())

    @case("9112§6.3", "GET with a Content-Length body: body read and skipped, next request intact")
    def _():
        res = ex(req("GET / HTTP/1.1", "Content-Length: 4", body=b"GET ") + req(),
                 methods=("GET", "GET"))
        hello(res, 0)
        hello(res, 1)

    # --- §6.3 Content-Length
    @case("9112§6.3", "two differing Content-Length fields -> 400")
    def _():
        bad(req("POST /echo HTTP/1.1", "Content-Length: 3", "Content-Length: 4", body=b"abcd"))

    @case("9112§6.3", "two identical Content-Length fields -> one length, 200")
    def _():
        echo(req("POST /echo HTTP/1.1", "Content-Length: 3", "Content-Length: 3", body=b"abc"),
             b"abc")

    @case("9112§6.3", "Content-Length: 3, 3 (a list of identical values) -> 200")
    def _():
        echo(req("POST /echo HTTP/1.1", "Content-Length: 3, 3", body=b"abc"), b"abc")

    @case("9112§6.3", "Content-Length: 3, 4 (a list of differing values) -> 400")
    def _():
        bad(req("POST /echo HTTP/1.1", "Content-Length: 3, 4", body=b"abcd"))

    @case("9110§8.6", "Content-Length with a leading + -> 400")
    def _():
        bad(req("POST /echo HTTP/1.1", "Content-Length: +3", body=b"abc"))

    @case("9110§8.6", "negative Content-Length -> 400")
    def _():
        bad(req("POST /echo HTTP/1.1", "Content-Length: -1", body=b"abc"))

    @case("9110§8.6", "hex Content-Length 0x3 -> 400")
    def _():
        bad(req("POST /echo HTTP/1.1", "Content-Length: 0x3", body=b"abc"))

    @case("9110§8.6", "Content-Length with inner space '1 0' -> 400")
    def _():
        bad(req("POST /echo HTTP/1.1", "Content-Length: 1 0", body=b"abc"))

    @case("9110§8.6", "empty Content-Length -> 400")
    def _():
        bad(req("POST /echo HTTP/1.1", "Content-Length:", body=b"abc"))

    @case("9110§8.6", "Content-Length overflowing 64 bits -> 400")
    def _():
        bad(req("POST /echo HTTP/1.1", "Content-Length: 99999999999999999999999", body=b"abc"))

    @case("9110§8.6", "Content-Length with leading zeros is decimal -> 200")
    def _():
        echo(req("POST /echo HTTP/1.1", "Content-Length: 0003", body=b"abc"), b"abc")

    # --- §6.1 Transfer-Encoding
    @case("9112§6.3", "Content-Length and Transfer-Encoding together -> 400 (CL.TE smuggling)")
    def _():
        # §6.3 lets a server either treat it as chunked and close after, or
        # refuse it; we refuse, as the safest answer to CL.TE/TE.CL.
        bad(req("POST /echo HTTP/1.1", "Content-Length: 6", "Transfer-Encoding: chunked",
                body=b"0\r\n\r\nG"))

    @case("9112§6.3", "Transfer-Encoding first, then Content-Length (TE.CL) -> 400")
    def _():
        bad(req("POST /echo HTTP/1.1", "Transfer-Encoding: chunked", "Content-Length: 3",
                body=b"3\r\nabc\r\n0\r\n\r\n"))

    @case("9112§6.1", "Transfer-Encoding: chunked -> 200 echo")
    def _():
        echo(req("POST /echo HTTP/1.1", "Transfer-Encoding: chunked",
                 body=b"3\r\nabc\r\n1\r\nd\r\n0\r\n\r\n"), b"abcd")

    @case("9112§7", "transfer codings are case-insensitive: Chunked -> 200")
    def _():
        echo(req("POST /echo HTTP/1.1", "Transfer-Encoding: ChUnKeD",
                 body=b"3\r\nabc\r\n0\r\n\r\n"), b"abc")

    @case("9112§6.1", "chunked not last (chunked, gzip) -> 400")
    def _():
        bad(req("POST /echo HTTP/1.1", "Transfer-Encoding: chunked, gzip",
                body=b"3\r\nabc\r\n0\r\n\r\n"))

    @case("9112§6.1", "chunked, chunked (applied twice) -> 400")
    def _():
        bad(req("POST /echo HTTP/1.1", "Transfer-Encoding: chunked, chunked",
                body=b"3\r\nabc\r\n0\r\n\r\n"))

    @case("9112§6.1", "chunked in two Transfer-Encoding fields -> 400")
    def _():
        bad(req("POST /echo HTTP/1.1", "Transfer-Encoding: chunked",
                "Transfer-Encoding: chunked", body=b"3\r\nabc\r\n0\r\n\r\n"))

    @case("9112§6.1", "Transfer-Encoding: identity (no final chunked) -> 400")
    def _():
        bad(req("POST /echo HTTP/1.1", "Transfer-Encoding: identity", body=b"abc"))

    @case("9112§6.1", "Transfer-Encoding: xchunked -> 400")
    def _():
        bad(req("POST /echo HTTP/1.1", "Transfer-Encoding: xchunked",
                body=b"3\r\nabc\r\n0\r\n\r\n"))

    @case("9112§6.1", "unknown coding before chunked (gzip, chunked) -> 501")
    def _():
        bad(req("POST /echo HTTP/1.1", "Transfer-Encoding: gzip, chunked",
                body=b"3\r\nabc\r\n0\r\n\r\n"), 501)

    @case("9112§6.1", "unknown coding in a separate field line, then chunked -> 501")
    def _():
        bad(req("POST /echo HTTP/1.1", "Transfer-Encoding: foo", "Transfer-Encoding: chunked",
                body=b"3\r\nabc\r\n0\r\n\r\n"), 501)

    @case("9112§6.1", "Transfer-Encoding with a parameter (chunked;q=1) -> 400")
    def _():
        bad(req("POST /echo HTTP/1.1", "Transfer-Encoding: chunked;q=1",
                body=b"3\r\nabc\r\n0\r\n\r\n"))

    @case("9112§6.1", "Transfer-Encoding: chunked with a vertical tab -> 400")
    def _():
        bad(req("POST /echo HTTP/1.1", b"Transfer-Encoding: chunked\x0b",
                body=b"3\r\nabc\r\n0\r\n\r\n"))

    @case("9112§6.1", "Transfer-Encoding in HTTP/1.0 -> 400 (framing faulty)")
    def _():
        bad(req("POST /echo HTTP/1.0", "Transfer-Encoding: chunked",
                body=b"3\r\nabc\r\n0\r\n\r\n"))

    # --- §7.1 chunk syntax
    def chunked(body):
        return req("POST /echo HTTP/1.1", "Transfer-Encoding: chunked", body=body)

    @case("9112§7.1.1", "chunk extensions (token, quoted) are ignored -> 200")
    def _():
        echo(chunked(b'3;a=b;c="d;e"\r\nabc\r\n0;z\r\n\r\n'), b"abc")

    @case("9112§7.1.1", "BWS before a chunk extension -> 200")
    def _():
        echo(chunked(b"3 ;a=b\r\nabc\r\n0\r\n\r\n"), b"abc")

    @case("9112§7.1", "uppercase hex chunk size -> 200")
    def _():
        echo(chunked(b"A\r\n0123456789\r\n0\r\n\r\n"), b"0123456789")

    @case("9112§7.1", "chunk size with leading zeros -> 200")
    def _():
        echo(chunked(b"0003\r\nabc\r\n0000\r\n\r\n"), b"abc")

    @case("9112§7.1", "chunk size 0x3 -> 400")
    def _():
        bad(chunked(b"0x3\r\nabc\r\n0\r\n\r\n"))

    @case("9112§7.1", "chunk size with a leading space -> 400")
    def _():
        bad(chunked(b" 3\r\nabc\r\n0\r\n\r\n"))

    @case("9112§7.1", "chunk size with a leading + -> 400")
    def _():
        bad(chunked(b"+3\r\nabc\r\n0\r\n\r\n"))

    @case("9112§7.1", "chunk size with trailing junk (3g) -> 400")
    def _():
        bad(chunked(b"3g\r\nabc\r\n0\r\n\r\n"))

    @case("9112§7.1", "empty chunk size line -> 400")
    def _():
        bad(chunked(b"\r\nabc\r\n0\r\n\r\n"))

    @case("9112§7.1", "chunk size overflowing 64 bits -> 400")
    def _():
        bad(chunked(b"1" + b"0" * 16 + b"\r\nabc\r\n0\r\n\r\n"))

    @case("9112§7.1", "chunk size with bare LF -> 400")
    def _():
        bad(chunked(b"3\nabc\r\n0\r\n\r\n"))

    @case("9112§7.1", "chunk data not followed by CRLF -> 400")
    def _():
        bad(chunked(b"3\r\nabcX\r\n0\r\n\r\n"))

    @case("9112§7.1", "chunk data followed by bare LF -> 400")
    def _():
        bad(chunked(b"3\r\nabc\n0\r\n\r\n"))

    @case("9112§7.1.1", "bare LF inside a chunk extension -> 400")
    def _():
        bad(chunked(b"3;a\nb\r\nabc\r\n0\r\n\r\n"))

    @case("9112§7.1.1", "control octet in a chunk extension -> 400")
    def _():
        bad(chunked(b"3;a=\x01\r\nabc\r\n0\r\n\r\n"))

    @case("9112§7.1.1", "chunk line over the 1 KiB limit (long extension) -> 400")
    def _():
        bad(chunked(b"3;" + b"a" * 2048 + b"\r\nabc\r\n0\r\n\r\n"))

    @case("9112§7.1.2", "trailer fields -> 200")
    def _():
        echo(chunked(b"3\r\nabc\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n"), b"abc")

    @case("9112§7.1.2", "obs-fold in a trailer -> 400")
    def _():
        bad(chunked(b"3\r\nabc\r\n0\r\nX-T: 1\r\n 2\r\n\r\n"))

    @case("9112§7.1.2", "invalid trailer field name -> 400")
    def _():
        bad(chunked(b"3\r\nabc\r\n0\r\nX T: 1\r\n\r\n"))

    @case("9112§7.1.2", "bare LF ending the trailer section -> 400")
    def _():
        bad(chunked(b"3\r\nabc\r\n0\r\nX-T: 1\n\n"))

    @case("6585§5", "more than 100 trailer fields -> 431")
    def _():
        bad(chunked(b"0\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(150)) + b"\r\n"),
            431)

    @case("9110§6.5.1", "Content-Length in a trailer does not reframe anything")
    def _():
        res = ex(chunked(b"1\r\na\r\n0\r\nContent-Length: 50\r\n\r\n") + req(),
                 methods=("POST", "GET"))
        require(res.status() == 200 and res.responses[0].body == b"a", res.why())
        hello(res, 1)

    @case("9112§6.3", "GET with a chunked body: read and skipped, next request intact")
    def _():
        res = ex(req("GET / HTTP/1.1", "Transfer-Encoding: chunked",
                     body=b"3\r\nabc\r\n0\r\n\r\n") + req(), methods=("GET", "GET"))
        hello(res, 0)
        hello(res, 1)

    @case("9112§7.1", "chunked body then a pipelined GET -> both answered")
    def _():
        res = ex(chunked(b"3\r\nabc\r\n0\r\n\r\n") + req(), methods=("POST", "GET"))
        require(res.status() == 200 and res.responses[0].body == b"abc", res.why())
        hello(res, 1)

    @case("9112§7.1", "smuggled request after a zero chunk is the next request, answered")
    def _():
        res = ex(chunked(b"0\r\n\r\n") + req("GET /nope HTTP/1.1"), methods=("POST", "GET"))
        require(res.status(0) == 200 and res.status(1) == 404, res.why())

    # --- §10.1.1 Expect
    @case("9110§10.1.1", "Expect: 100-continue -> 100 before the body is sent, then 200")
    def _():
        head = req("POST /echo HTTP/1.1", "Content-Length: 3", "Expect: 100-continue")
        res = exchange(H, P, None, methods=("POST",), steps=[head, ("wait_interim", 1), b"abc"])
        require(len(res.interim) == 1 and res.interim[0].status == 100, res.why())
        require(res.status() == 200 and res.responses[0].body == b"abc", res.why())

    @case("9110§10.1.1", "Expect: 100-continue in HTTP/1.0 is ignored (no 100) -> 200")
    def _():
        head = req("POST /echo HTTP/1.0", "Content-Length: 3", "Expect: 100-continue",
                   host=False)
        res = ex(head + b"abc", methods=("POST",))
        require(not res.interim, "a 1xx to HTTP/1.0: " + res.why())
        require(res.status() == 200 and res.responses[0].body == b"abc", res.why())

    @case("9110§10.1.1", "100-continue answered with a final status instead: then close")
    def _():
        # The client was told nothing about its body, which it may still
        # send; the server cannot tell body from next request, so it closes.
        res = ex(req("POST /nope HTTP/1.1", "Content-Length: 3", "Expect: 100-continue"),
                 linger=0.5)
        expect_status(res, 404, closed=True)
        require(not res.interim, "sent 100 for a request it refused: " + res.why())

    @case("9110§10.1.1", "the 100-continue token is case-insensitive")
    def _():
        head = req("POST /echo HTTP/1.1", "Content-Length: 3", "Expect: 100-Continue")
        res = exchange(H, P, None, methods=("POST",), steps=[head, ("wait_interim", 1), b"abc"])
        require(len(res.interim) == 1 and res.interim[0].status == 100, res.why())
        require(res.status() == 200 and res.responses[0].body == b"abc", res.why())

    @case("9110§10.1.1", "an unknown expectation -> 417")
    def _():
        bad(req("POST /echo HTTP/1.1", "Content-Length: 3", "Expect: 200-ok", body=b"abc"), 417)

    # --- limits
    @case("9112§3", "request line over 8 KiB -> 414")
    def _():
        bad(req("GET /" + "a" * (MAX_REQUEST_LINE + 10) + " HTTP/1.1"), 414)

    @case("9110§15.5.15", "a long URI under the limit -> 404, not an error")
    def _():
        res = ex(req("GET /" + "a" * 4000 + " HTTP/1.1"))
        expect_status(res, 404)

    @case("6585§5", "header section over 32 KiB -> 431")
    def _():
        bad(req("GET / HTTP/1.1", "X-A: " + "a" * (MAX_HEAD + 10)), 431)

    @case("6585§5", "more than 100 fields -> 431")
    def _():
        bad(req("GET / HTTP/1.1", *["X-%d: v" % i for i in range(MAX_HEADERS + 5)]), 431)

    @case("9112§9.6", "after a 400 the server reads nothing more and closes")
    def _():
        res = ex(req("GET / HTTP/1.1", b"X-A : b") + req(), want=1, linger=0.5)
        expect_error(res)
        require(len(res.responses) == 1, "answered past the error: " + res.why())


# --- the client cases: `wirestate http` against a raw server ----------------

CLIENT = []


def ccase(section, name, reply, want_rc, want_out=None, hold=False, args=()):
    """`reply` is what the raw server writes after reading the request head
    (it reads up to the blank line); then it closes, or with `hold` keeps
    the connection open for 8 s, so a client that waits for more than the
    message holds would be caught (it must exit within 4 s). want_rc: 0,
    "error" (non-zero exit) or "chunked-or-error"."""
    CLIENT.append(("%s %s" % (section, name), reply, want_rc, want_out, hold, args))


ccase("9112§6.3", "CL+TE response: chunked wins (or an error), never the raw chunks",
      b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
      b"3\r\nabc\r\n0\r\n\r\n", "chunked-or-error", b"abc")
ccase("9110§15.2", "100 and 103 before the final response are skipped",
      b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
      b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, b"ok")
ccase("9110§15.3.5", "204 with body bytes after it: no body read",
      b"HTTP/1.1 204 No Content\r\n\r\nGARBAGE", 0, b"")
ccase("9112§6.3", "close-delimited body (no length) is read to EOF",
      b"HTTP/1.1 200 OK\r\n\r\nuntil-close", 0, b"until-close")
ccase("9112§6.3", "HTTP/1.0 response without length, read to EOF",
      b"HTTP/1.0 200 OK\r\n\r\nold", 0, b"old")
ccase("9112§6.3", "Content-Length shorter than what follows: only CL bytes",
      b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", 0, b"ok")
ccase("9112§8", "body cut short of its Content-Length -> error",
      b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "error")
ccase("9112§7.1", "invalid chunk size -> error",
      b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", "error")
ccase("9112§7.1", "chunk size overflowing 64 bits -> error",
      b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      b"10000000000000000\r\nabc\r\n0\r\n\r\n", "error")
ccase("9112§7.1", "chunked body cut before the last chunk -> error",
      b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", "error")
ccase("9112§6.3", "two differing Content-Length fields -> error",
      b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", "error")
ccase("9112§7.1.2", "chunked with trailers -> body, trailers shown with -i",
      b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
      0, b"abc")
ccase("9112§4", "malformed status line -> error",
      b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok", "error")
ccase("9112§2.3", "HTTP/1.2 response: read as HTTP/1.1",
      b"HTTP/1.2 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, b"ok")
ccase("9112§4", "unsupported response version HTTP/2.0 -> error",
      b"HTTP/2.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "error")
ccase("9110§15.2.2", "101 to a request that asked for no upgrade -> error",
      b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n", "error")
ccase("9112§5.1", "whitespace before the colon in a response field -> error",
      b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", "error")
ccase("9112§6.3", "response Transfer-Encoding not ending in chunked: read to close",
      b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nraw", 0, b"raw")
ccase("9112§6.1", "response Transfer-Encoding: chunked, chunked -> error",
      b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", "error")
ccase("9112§6.1", "Transfer-Encoding in an HTTP/1.0 response -> error (framing faulty)",
      b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
      "error")
# RFC 9112 §5.2 has a user agent unfold obs-fold in responses, and lets a
# proxy refuse the message instead; the client machine serves proxies too,
# so it refuses (Error::ObsoleteFold), as it does for requests.
ccase("9112§5.2", "obs-fold in a response field -> error (the proxy option)",
      b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok", "error")
ccase("9110§5.5", "NUL in a response field value -> error",
      b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok", "error")
ccase("9112§6.3", "no response at all (EOF right away) -> error",
      b"", "error")
ccase("9112§6.3", "a 2xx-length response held open after its body: the client exits",
      b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, b"ok", hold=True)
ccase("9110§15.3.5", "204 held open (no length): the client exits without waiting",
      b"HTTP/1.1 204 No Content\r\n\r\n", 0, b"", hold=True)
ccase("9110§15.4.5", "304 with a Content-Length held open: no body awaited",
      b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 0, b"", hold=True)
ccase("9112§7.1", "chunked response held open after the last chunk: the client exits",
      b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
      0, b"ok", hold=True)
ccase("9112§6.3", "HEAD response with a Content-Length held open: no body awaited",
      b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 0, b"", hold=True,
      args=("-X", "HEAD"))
ccase("9110§15.2", "1xx then a final response held open: the client exits",
      b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
      0, b"", hold=True, args=("-d", "x"))


def raw_server(reply, hold=False):
    """A one-connection server: reads the request head, writes `reply`,
    then closes (after 8 s with `hold`). Returns (port, thread)."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    lsock.settimeout(15)

    def run():
        try:
            conn, _ = lsock.accept()
        except OSError:
            lsock.close()
            return
        conn.settimeout(5)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            conn.sendall(reply)
            if hold:
                time.sleep(8)
            conn.shutdown(socket.SHUT_WR)
            time.sleep(0.2)
        except OSError:
            pass
        finally:
            conn.close()
            lsock.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return lsock.getsockname()[1], t


def client_cases(binary, runtime, label, names):
    for name, reply, want_rc, want_out, hold, args in CLIENT:
        if names and not any(n in name for n in names):
            continue
        port, t = raw_server(reply, hold)
        limit = 4 if hold else 10
        try:
            p = subprocess.run([binary, "http", "--runtime", runtime, *args,
                                "http://127.0.0.1:%d/" % port],
                               capture_output=True, timeout=limit)
        except subprocess.TimeoutExpired:
            print("FAIL %s: client %s: hung (no exit within %d s)" % (label, name, limit))
            continue
        rc, out = p.returncode, p.stdout
        ok = True
        why = ""
        if want_rc == 0:
            ok = rc == 0 and (want_out is None or out == want_out)
            why = "want exit 0 and %r" % want_out
        elif want_rc == "error":
            ok = rc != 0
            why = "want a non-zero exit"
        elif want_rc == "chunked-or-error":
            ok = (rc == 0 and out == want_out) or rc != 0
            why = "want %r or an error" % want_out
        if ok:
            print("PASS %s: client %s" % (label, name))
        else:
            print("FAIL %s: client %s: %s; got exit %d stdout %r stderr %r"
                  % (label, name, why, rc, out[:200], p.stderr[-300:]))
        sys.stdout.flush()


def main():
    mode = sys.argv[1]
    if mode == "server":
        host, port, label = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        names = sys.argv[5:]
        server_cases(host, port)
        for name, fn in CASES:
            if names and not any(n in name for n in names):
                continue
            try:
                fn()
                print("PASS %s: %s" % (label, name))
            except CheckFailed as e:
                print("FAIL %s: %s: %s" % (label, name, e))
            except Exception as e:  # a crash of the check is a failure too
                print("FAIL %s: %s: %s\n%s" % (label, name, e, traceback.format_exc()))
            sys.stdout.flush()
    elif mode == "client":
        client_cases(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
