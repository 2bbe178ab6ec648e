#!/usr/bin/env python3
"""A scripted HTTP/2 peer for `wirestate serve` (scripts/interop-h2.sh).

Python's `h2` (PyPI: hyper's sans-IO HTTP/2) drives a client connection over
a plain socket. Well-formed traffic goes through `H2Connection`; whatever h2
refuses to send (DATA on stream 0, a zero WINDOW_UPDATE, bad HPACK...) is
built by hand with struct.pack. Each check prints `PASS <label>: <name>` or
`FAIL <label>: <name>: <why>`, with its own timeout, on a connection of its
own.

The expected reactions are RFC 9113's, sized by wirestate-h2's defaults
(core/h2/src/connection/config.rs): SETTINGS_MAX_FRAME_SIZE 16384,
SETTINGS_MAX_CONCURRENT_STREAMS 100, SETTINGS_MAX_HEADER_LIST_SIZE 64 KiB
(431 above it), 128 KiB per field block, 32 CONTINUATIONs per block, and per
10 s: 200 streams reset by the peer, 100 SETTINGS, 100 PING.

    h2_peer.py cases    HOST PORT LABEL [NAME...]
    h2_peer.py shutdown HOST PORT SERVER_PID LABEL
"""

import os
import select
import signal
import socket
import struct
import sys
import time
import traceback

import h2.config
import h2.connection
import h2.events
import hpack

# --- wire constants --------------------------------------------------------

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, \
    WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM = ACK = 0x1
END_HEADERS = 0x4

CODES = {
    0x0: "NO_ERROR", 0x1: "PROTOCOL_ERROR", 0x2: "INTERNAL_ERROR",
    0x3: "FLOW_CONTROL_ERROR", 0x4: "SETTINGS_TIMEOUT", 0x5: "STREAM_CLOSED",
    0x6: "FRAME_SIZE_ERROR", 0x7: "REFUSED_STREAM", 0x8: "CANCEL",
    0x9: "COMPRESSION_ERROR", 0xA: "CONNECT_ERROR", 0xB: "ENHANCE_YOUR_CALM",
    0xC: "INADEQUATE_SECURITY", 0xD: "HTTP_1_1_REQUIRED",
}
CODE = {v: k for k, v in CODES.items()}
NAMES = {DATA: "DATA", HEADERS: "HEADERS", PRIORITY: "PRIORITY",
         RST_STREAM: "RST_STREAM", SETTINGS: "SETTINGS",
         PUSH_PROMISE: "PUSH_PROMISE", PING: "PING", GOAWAY: "GOAWAY",
         WINDOW_UPDATE: "WINDOW_UPDATE", CONTINUATION: "CONTINUATION"}

# wirestate-h2 defaults (core/h2/src/connection/config.rs).
MAX_FRAME_SIZE = 16384
MAX_CONCURRENT_STREAMS = 100
MAX_HEADER_LIST_SIZE = 64 << 10
MAX_CONTINUATION_FRAMES = 32
MAX_REMOTE_RESETS = 200
MAX_SETTINGS = 100
MAX_PINGS = 100


def frame(ftype, flags, stream, payload=b""):
    """One frame, byte for byte: 24-bit length, type, flags, stream id."""
    return (struct.pack(">I", len(payload))[1:]
            + struct.pack(">BBI", ftype, flags, stream & 0xFFFFFFFF) + payload)


def hp_int(value, prefix_bits, first=0):
    """An HPACK integer (RFC 7541 §5.1) with `first` in the high bits."""
    top = (1 << prefix_bits) - 1
    if value < top:
        return bytes([first | value])
    out = bytearray([first | top])
    value -= top
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hp_str(s):
    """An HPACK string literal, no Huffman."""
    s = s.encode() if isinstance(s, str) else s
    return hp_int(len(s), 7) + s


def literal(name, value):
    """A literal field without indexing, new name (RFC 7541 §6.2.2): leaves
    the peer's dynamic table alone."""
    return b"\x00" + hp_str(name) + hp_str(value)


def literal_indexed(name, value):
    """A literal field with incremental indexing, new name (§6.2.1)."""
    return b"\x40" + hp_str(name) + hp_str(value)


def block(fields):
    return b"".join(literal(n, v) for n, v in fields)


def req_fields(method="GET", path="/", extra=()):
    f = [(":method", method), (":scheme", "http"), (":authority", "localhost")]
    if path is not None:
        f.append((":path", path))
    return f + list(extra)


def headers_frame(stream, fields, end_stream=True):
    flags = END_HEADERS | (END_STREAM if end_stream else 0)
    return frame(HEADERS, flags, stream, block(fields))


def settings_frame(pairs):
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


class CheckFailed(Exception):
    pass


def require(cond, why):
    if not cond:
        raise CheckFailed(why)


class Frame:
    def __init__(self, ftype, flags, stream, payload):
        self.type, self.flags, self.stream, self.payload = ftype, flags, stream, payload
        self.headers = None  # decoded field block of HEADERS (with CONTINUATIONs)

    @property
    def code(self):
        if self.type == RST_STREAM:
            return struct.unpack(">I", self.payload[:4])[0]
        if self.type == GOAWAY:
            return struct.unpack(">I", self.payload[4:8])[0]
        return None

    @property
    def last_stream(self):
        return struct.unpack(">I", self.payload[:4])[0] & 0x7FFFFFFF

    def status(self):
        return dict(self.headers or []).get(":status")

    def __repr__(self):
        name = NAMES.get(self.type, "type 0x%x" % self.type)
        extra = ""
        if self.type in (RST_STREAM, GOAWAY):
            extra = " " + CODES.get(self.code, hex(self.code))
            if self.type == GOAWAY:
                extra += " last=%d debug=%r" % (self.last_stream, bytes(self.payload[8:]))
        elif self.headers is not None:
            extra = " %s" % (self.headers[:4],)
        elif self.type == DATA:
            extra = " %d bytes" % len(self.payload)
        return "%s(stream %d, flags 0x%x%s)" % (name, self.stream, self.flags, extra)


class Closed(Exception):
    """The server closed the connection (EOF or reset)."""


class Peer:
    """One client connection: h2 sends, and receives too in `h2` mode; in
    raw mode the server's frames are parsed here (with an HPACK decoder of
    our own) so that nothing the test does can upset h2's bookkeeping."""

    def __init__(self, host, port, deadline):
        self.deadline = deadline
        self.sock = socket.create_connection((host, port), timeout=5)
        self.sock.setblocking(False)
        self.out = bytearray()
        self.inbuf = bytearray()
        self.eof = False
        self.log = []  # frames received, for failure reports
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = 1 << 20
        self.pending_block = None
        self.auto_ping_ack = True
        cfg = h2.config.H2Configuration(
            client_side=True, header_encoding=None,
            validate_outbound_headers=False, normalize_outbound_headers=False,
            validate_inbound_headers=False)
        self.h2 = h2.connection.H2Connection(cfg)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # ---- bytes ----

    def send(self, data):
        self.out += data
        self.pump(0)

    def flush_h2(self):
        self.send(self.h2.data_to_send())

    def remaining(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise CheckFailed("timed out; frames so far: %s" % self.recent())
        return left

    def pump(self, timeout):
        """Writes what fits and reads what came, into self.inbuf (EOF is
        recorded in self.eof), waiting up to `timeout` for something to
        read. Returns the number of bytes read."""
        end = time.monotonic() + timeout
        got = 0
        while True:
            wlist = [self.sock] if self.out else []
            left = max(0.0, end - time.monotonic())
            r, w, _ = select.select([] if self.eof else [self.sock], wlist, [], left)
            if w:
                try:
                    n = self.sock.send(self.out)
                    del self.out[:n]
                except (BlockingIOError, InterruptedError):
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    self.out.clear()
            if r:
                try:
                    chunk = self.sock.recv(1 << 16)
                except (BlockingIOError, InterruptedError):
                    chunk = None
                except ConnectionResetError:
                    chunk = b""
                if chunk == b"":
                    self.eof = True
                    return got
                if chunk:
                    self.inbuf += chunk
                    got += len(chunk)
            if got or self.eof or time.monotonic() >= end:
                return got

    def take_input(self):
        data = bytes(self.inbuf)
        self.inbuf.clear()
        return data

    # ---- h2 mode ----

    def h2_handshake(self):
        """Preface and SETTINGS through h2; the server's SETTINGS (and its
        connection WINDOW_UPDATE) fed to h2 so that it sends by them. Raw
        mode may follow."""
        self.h2.initiate_connection()
        self.flush_h2()
        seen_settings = False
        while not seen_settings:
            if not self.pump(self.remaining()) and self.eof:
                raise Closed("closed during the handshake")
            # Feed whole frames only, stop after the server's SETTINGS.
            while len(self.inbuf) >= 9:
                length = int.from_bytes(self.inbuf[:3], "big")
                if len(self.inbuf) < 9 + length:
                    break
                raw = bytes(self.inbuf[:9 + length])
                del self.inbuf[:9 + length]
                ftype, flags = raw[3], raw[4]
                self.h2.receive_data(raw)
                self.log.append(Frame(ftype, flags, 0, raw[9:]))
                if ftype == SETTINGS and not flags & ACK:
                    seen_settings = True
                    # A WINDOW_UPDATE on stream 0 follows at once: take it too.
                    if (len(self.inbuf) >= 9 and self.inbuf[3] == WINDOW_UPDATE
                            and len(self.inbuf) >= 13):
                        raw = bytes(self.inbuf[:13])
                        del self.inbuf[:13]
                        self.h2.receive_data(raw)
                    break
        self.flush_h2()

    def h2_exchange(self, headers, body=b"", trailers=None, end=True):
        """A whole request through h2 (receive side too): the body sent as
        the windows allow while the response is read and its credit given
        back. Returns (status, headers, body)."""
        c = self.h2
        sid = c.get_next_available_stream_id()
        c.send_headers(sid, headers, end_stream=not body and not trailers)
        sent = 0
        done_sending = not body and not trailers
        status, resp_headers, resp = None, None, bytearray()
        ended = False
        while not ended:
            while not done_sending:
                n = min(c.local_flow_control_window(sid), c.max_outbound_frame_size,
                        len(body) - sent)
                if n > 0:
                    c.send_data(sid, body[sent:sent + n])
                    sent += n
                if sent == len(body):
                    if trailers:
                        c.send_headers(sid, trailers, end_stream=True)
                    else:
                        c.end_stream(sid)
                    done_sending = True
                if n <= 0:
                    break
            self.flush_h2()
            self.pump(0 if self.inbuf else min(self.remaining(), 0.5))
            data = self.take_input()
            if not data and self.eof:
                raise Closed("server closed the connection mid-exchange")
            for ev in c.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    resp_headers = [(bytes(k), bytes(v)) for k, v in ev.headers]
                    status = dict(resp_headers).get(b":status")
                elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                    resp += ev.data
                    c.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    ended = True
                elif isinstance(ev, h2.events.StreamReset) and ev.stream_id == sid:
                    raise CheckFailed("stream reset: %s" % CODES.get(ev.error_code, ev.error_code))
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    raise CheckFailed("GOAWAY %s" % CODES.get(ev.error_code, ev.error_code))
            self.flush_h2()
        return status, resp_headers, bytes(resp)

    # ---- raw mode ----

    def next_frame(self):
        """The server's next frame (HEADERS already joined with its
        CONTINUATIONs and decoded); PINGs answered. Raises Closed on EOF."""
        while True:
            if len(self.inbuf) >= 9:
                length = int.from_bytes(self.inbuf[:3], "big")
                if len(self.inbuf) >= 9 + length:
                    ftype, flags = self.inbuf[3], self.inbuf[4]
                    stream = int.from_bytes(self.inbuf[5:9], "big") & 0x7FFFFFFF
                    payload = bytes(self.inbuf[9:9 + length])
                    del self.inbuf[:9 + length]
                    f = self.on_frame(Frame(ftype, flags, stream, payload))
                    if f is not None:
                        return f
                    continue
            if self.eof:
                raise Closed("connection closed")
            self.pump(min(self.remaining(), 0.5))

    def on_frame(self, f):
        if f.type == HEADERS:
            payload = f.payload
            if f.flags & 0x8:  # PADDED
                pad = payload[0]
                payload = payload[1:len(payload) - pad]
            if f.flags & 0x20:  # PRIORITY
                payload = payload[5:]
            if not f.flags & END_HEADERS:
                self.pending_block = (f, bytearray(payload))
                return None
            f.headers = self.decode(payload)
        elif f.type == CONTINUATION and self.pending_block:
            head, buf = self.pending_block
            buf += f.payload
            if not f.flags & END_HEADERS:
                return None
            self.pending_block = None
            head.headers = self.decode(bytes(buf))
            f = head
        elif f.type == PING and not f.flags & ACK and self.auto_ping_ack:
            self.send(frame(PING, ACK, 0, f.payload))
        elif f.type == DATA and f.payload:
            # Give the credit back so echoed bodies keep coming.
            inc = struct.pack(">I", len(f.payload))
            self.send(frame(WINDOW_UPDATE, 0, 0, inc) + frame(WINDOW_UPDATE, 0, f.stream, inc))
        self.log.append(f)
        return f

    def decode(self, blk):
        return [(k.decode("latin-1") if isinstance(k, bytes) else k,
                 v.decode("latin-1") if isinstance(v, bytes) else v)
                for k, v in self.decoder.decode(blk, raw=True)]

    def recent(self):
        return ", ".join(repr(f) for f in self.log[-8:]) or "none"

    def wait_for(self, pred, what):
        """Frames until one matches; GOAWAY or EOF before it fails."""
        while True:
            try:
                f = self.next_frame()
            except Closed:
                raise CheckFailed("connection closed before %s; got %s" % (what, self.recent()))
            if pred(f):
                return f
            if f.type == GOAWAY:
                raise CheckFailed("GOAWAY before %s: %r" % (what, f))

    def expect_goaway(self, code):
        """GOAWAY with `code`, then the server closes the connection."""
        while True:
            try:
                f = self.next_frame()
            except Closed:
                raise CheckFailed("closed without GOAWAY; got %s" % self.recent())
            if f.type == GOAWAY:
                break
            if f.type == RST_STREAM:
                raise CheckFailed("RST_STREAM instead of GOAWAY %s: %r" % (code, f))
        require(CODES.get(f.code) == code, "GOAWAY %s, expected %s" % (CODES.get(f.code, f.code), code))
        try:
            while True:
                self.next_frame()
        except Closed:
            pass
        return f

    def expect_rst(self, stream, code):
        f = self.wait_for(lambda f: f.type == RST_STREAM and f.stream == stream,
                          "RST_STREAM on stream %d" % stream)
        require(CODES.get(f.code) == code,
                "RST_STREAM %s on stream %d, expected %s" % (CODES.get(f.code, f.code), stream, code))
        return f

    def read_response(self, stream):
        """(status, body) of a response in raw mode; a reset fails."""
        status, body = None, bytearray()
        while True:
            f = self.wait_for(lambda f: f.stream == stream and f.type in (HEADERS, DATA, RST_STREAM),
                              "the response on stream %d" % stream)
            if f.type == RST_STREAM:
                raise CheckFailed("stream %d reset: %r" % (stream, f))
            if f.type == HEADERS and status is None:
                status = f.status()
            elif f.type == DATA:
                body += f.payload
            if f.flags & END_STREAM:
                return status, bytes(body)

    def expect_served(self, stream):
        """A GET / on `stream` (raw, no dynamic table use) answered 200 hello."""
        self.send(headers_frame(stream, req_fields()))
        status, body = self.read_response(stream)
        require(status == "200" and body == b"hello",
                "follow-up GET / on stream %d: %s %r" % (stream, status, body[:40]))


# --- the cases -------------------------------------------------------------

CASES = []


def case(name, timeout=10):
    def register(fn):
        CASES.append((name, timeout, fn))
        return fn
    return register


def GET(path="/", extra=()):
    return [(b":method", b"GET"), (b":scheme", b"http"), (b":authority", b"localhost"),
            (b":path", path.encode())] + [(k.encode(), v.encode()) for k, v in extra]


def POST(path="/echo", extra=()):
    return [(b":method", b"POST"), (b":scheme", b"http"), (b":authority", b"localhost"),
            (b":path", path.encode())] + [(k.encode(), v.encode()) for k, v in extra]


@case("GET / (h2 client)")
def _(p):
    p.h2_handshake()
    status, _, body = p.h2_exchange(GET())
    require(status == b"200" and body == b"hello", "got %s %r" % (status, body[:60]))


@case("POST /echo 3 MiB, both ways beyond the windows (flow control)", timeout=30)
def _(p):
    p.h2_handshake()
    # Bigger than our stream window (256 KiB) and connection window (1 MiB),
    # and than h2's own 64 KiB receive window for the echo.
    body = os.urandom(3 << 20)
    status, _, got = p.h2_exchange(POST(), body)
    require(status == b"200", "status %s" % status)
    require(got == body, "echo differs: %d bytes back of %d" % (len(got), len(body)))


@case("POST /echo with request trailers")
def _(p):
    p.h2_handshake()
    status, _, got = p.h2_exchange(POST(extra=[("te", "trailers")]), b"abc" * 1000,
                                   trailers=[(b"x-checksum", b"123"), (b"x-more", b"yes")])
    require(status == b"200" and got == b"abc" * 1000, "got %s, %d bytes" % (status, len(got)))


@case("three requests in sequence on one connection (h2 client)")
def _(p):
    p.h2_handshake()
    for path, want in (("/", b"200"), ("/nope", b"404"), ("/", b"200")):
        status, _, _ = p.h2_exchange(GET(path))
        require(status == want, "%s: %s, expected %s" % (path, status, want))


@case("DATA on stream 0 -> GOAWAY PROTOCOL_ERROR")
def _(p):
    p.h2_handshake()
    p.send(frame(DATA, 0, 0, b"x"))
    p.expect_goaway("PROTOCOL_ERROR")


@case("HEADERS on an even (server) stream id -> GOAWAY PROTOCOL_ERROR")
def _(p):
    p.h2_handshake()
    p.send(headers_frame(2, req_fields()))
    p.expect_goaway("PROTOCOL_ERROR")


@case("HEADERS with a decreasing stream id (3 after 5) -> GOAWAY PROTOCOL_ERROR")
def _(p):
    p.h2_handshake()
    p.send(headers_frame(5, req_fields()))
    status, _ = p.read_response(5)
    require(status == "200", "stream 5: %s" % status)
    p.send(headers_frame(3, req_fields()))
    p.expect_goaway("PROTOCOL_ERROR")


@case("frame over SETTINGS_MAX_FRAME_SIZE -> GOAWAY FRAME_SIZE_ERROR")
def _(p):
    p.h2_handshake()
    p.send(headers_frame(1, req_fields("POST", "/echo"), end_stream=False))
    p.send(frame(DATA, 0, 1, b"x" * (MAX_FRAME_SIZE + 1)))
    p.expect_goaway("FRAME_SIZE_ERROR")


@case("invalid HPACK (index 70, empty dynamic table) -> GOAWAY COMPRESSION_ERROR")
def _(p):
    p.h2_handshake()
    blk = b"\x82\x86\x84" + hp_int(70, 7, 0x80)
    p.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, blk))
    p.expect_goaway("COMPRESSION_ERROR")


@case("uppercase field name -> RST_STREAM PROTOCOL_ERROR, connection keeps serving")
def _(p):
    p.h2_handshake()
    p.h2.send_headers(1, GET() + [(b"X-Upper", b"1")], end_stream=True)
    p.flush_h2()
    p.expect_rst(1, "PROTOCOL_ERROR")
    p.expect_served(3)


@case("connection: keep-alive -> RST_STREAM PROTOCOL_ERROR, connection keeps serving")
def _(p):
    p.h2_handshake()
    p.h2.send_headers(1, GET() + [(b"connection", b"keep-alive")], end_stream=True)
    p.flush_h2()
    p.expect_rst(1, "PROTOCOL_ERROR")
    p.expect_served(3)


@case("missing :path -> RST_STREAM PROTOCOL_ERROR, connection keeps serving")
def _(p):
    p.h2_handshake()
    hdrs = [h for h in GET() if h[0] != b":path"]
    p.h2.send_headers(1, hdrs, end_stream=True)
    p.flush_h2()
    p.expect_rst(1, "PROTOCOL_ERROR")
    p.expect_served(3)


@case("content-length 10 with 5 bytes of DATA -> RST_STREAM PROTOCOL_ERROR")
def _(p):
    p.h2_handshake()
    p.h2.send_headers(1, POST(extra=[("content-length", "10")]))
    p.h2.send_data(1, b"12345", end_stream=True)
    p.flush_h2()
    p.expect_rst(1, "PROTOCOL_ERROR")
    p.expect_served(3)


@case("DATA after END_STREAM -> STREAM_CLOSED (stream or connection error, §5.1)")
def _(p):
    p.h2_handshake()
    p.send(headers_frame(1, req_fields()) + frame(DATA, 0, 1, b"late"))
    while True:
        f = p.next_frame()
        if f.type in (RST_STREAM, GOAWAY):
            break
    require(CODES.get(f.code) == "STREAM_CLOSED", "%r, expected STREAM_CLOSED" % f)
    if f.type == RST_STREAM:
        require(f.stream == 1, "reset of stream %d" % f.stream)
        p.expect_served(3)


@case("WINDOW_UPDATE increment 0 on a stream -> RST_STREAM PROTOCOL_ERROR")
def _(p):
    p.h2_handshake()
    p.h2.send_headers(1, POST())
    p.flush_h2()
    p.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 0)))
    p.expect_rst(1, "PROTOCOL_ERROR")
    p.expect_served(3)


@case("WINDOW_UPDATE increment 0 on stream 0 -> GOAWAY PROTOCOL_ERROR")
def _(p):
    p.h2_handshake()
    p.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0)))
    p.expect_goaway("PROTOCOL_ERROR")


@case("WINDOW_UPDATE overflowing the connection window -> GOAWAY FLOW_CONTROL_ERROR")
def _(p):
    p.h2_handshake()
    p.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7FFFFFFF)))
    p.expect_goaway("FLOW_CONTROL_ERROR")


@case("WINDOW_UPDATE overflowing a stream window -> RST_STREAM FLOW_CONTROL_ERROR")
def _(p):
    p.h2_handshake()
    p.h2.send_headers(1, POST())
    p.flush_h2()
    p.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 0x7FFFFFFF)))
    p.expect_rst(1, "FLOW_CONTROL_ERROR")
    p.expect_served(3)


@case("SETTINGS_INITIAL_WINDOW_SIZE 2^31 -> GOAWAY FLOW_CONTROL_ERROR")
def _(p):
    p.h2_handshake()
    p.send(settings_frame([(0x4, 1 << 31)]))
    p.expect_goaway("FLOW_CONTROL_ERROR")


@case("SETTINGS_ENABLE_PUSH 2 -> GOAWAY PROTOCOL_ERROR")
def _(p):
    p.h2_handshake()
    p.send(settings_frame([(0x2, 2)]))
    p.expect_goaway("PROTOCOL_ERROR")


@case("PING -> PING ACK with the same payload")
def _(p):
    p.h2_handshake()
    p.send(frame(PING, 0, 0, b"wirestat"))
    f = p.wait_for(lambda f: f.type == PING and f.flags & ACK, "PING ACK")
    require(f.payload == b"wirestat", "ACK payload %r" % f.payload)


@case("unknown frame types (stream 0 and an idle stream) ignored")
def _(p):
    p.h2_handshake()
    p.send(frame(0x42, 0xFF, 0, b"ignore me") + frame(0xFA, 0, 7, b"and me"))
    p.send(frame(PING, 0, 0, b"after-uk"))
    f = p.wait_for(lambda f: f.type == PING and f.flags & ACK, "PING ACK")
    require(f.payload == b"after-uk", "ACK payload %r" % f.payload)
    p.expect_served(1)


@case("CONTINUATION without HEADERS -> GOAWAY PROTOCOL_ERROR")
def _(p):
    p.h2_handshake()
    p.send(frame(CONTINUATION, END_HEADERS, 1, block(req_fields())))
    p.expect_goaway("PROTOCOL_ERROR")


@case("a frame between HEADERS and its CONTINUATION -> GOAWAY PROTOCOL_ERROR")
def _(p):
    p.h2_handshake()
    p.send(frame(HEADERS, END_STREAM, 1, block(req_fields())) + frame(PING, 0, 0, b"12345678"))
    p.expect_goaway("PROTOCOL_ERROR")


@case("CONTINUATION flood (%d empty frames) -> GOAWAY ENHANCE_YOUR_CALM" % (MAX_CONTINUATION_FRAMES + 8))
def _(p):
    p.h2_handshake()
    out = frame(HEADERS, END_STREAM, 1, block(req_fields()))
    out += frame(CONTINUATION, 0, 1) * (MAX_CONTINUATION_FRAMES + 8)
    p.send(out)
    p.expect_goaway("ENHANCE_YOUR_CALM")


@case("rapid reset below the budget (150 streams opened and reset) keeps serving")
def _(p):
    p.h2_handshake()
    out = bytearray()
    for i in range(150):
        sid = 1 + 2 * i
        out += headers_frame(sid, req_fields("POST", "/echo"), end_stream=False)
        out += frame(RST_STREAM, 0, sid, struct.pack(">I", CODE["CANCEL"]))
    p.send(bytes(out))
    p.expect_served(301)


@case("rapid reset (%d streams opened and reset) -> GOAWAY ENHANCE_YOUR_CALM" % (MAX_REMOTE_RESETS + 50))
def _(p):
    p.h2_handshake()
    out = bytearray()
    for i in range(MAX_REMOTE_RESETS + 50):
        sid = 1 + 2 * i
        out += headers_frame(sid, req_fields("POST", "/echo"), end_stream=False)
        out += frame(RST_STREAM, 0, sid, struct.pack(">I", CODE["CANCEL"]))
    p.send(bytes(out))
    p.expect_goaway("ENHANCE_YOUR_CALM")


@case("PING flood (%d PINGs) -> GOAWAY ENHANCE_YOUR_CALM" % (MAX_PINGS + 50))
def _(p):
    p.h2_handshake()
    p.send(b"".join(frame(PING, 0, 0, struct.pack(">Q", i)) for i in range(MAX_PINGS + 50)))
    p.expect_goaway("ENHANCE_YOUR_CALM")


@case("SETTINGS flood (%d SETTINGS) -> GOAWAY ENHANCE_YOUR_CALM" % (MAX_SETTINGS + 50))
def _(p):
    p.h2_handshake()
    p.send(settings_frame([]) * (MAX_SETTINGS + 50))
    p.expect_goaway("ENHANCE_YOUR_CALM")


@case("stream %d beyond MAX_CONCURRENT_STREAMS %d -> RST_STREAM REFUSED_STREAM (§5.1.2)"
      % (MAX_CONCURRENT_STREAMS + 1, MAX_CONCURRENT_STREAMS))
def _(p):
    p.h2_handshake()
    out = bytearray()
    for i in range(MAX_CONCURRENT_STREAMS + 1):
        out += headers_frame(1 + 2 * i, req_fields("POST", "/echo"), end_stream=False)
    p.send(bytes(out))
    extra = 1 + 2 * MAX_CONCURRENT_STREAMS
    f = p.wait_for(lambda f: f.type == RST_STREAM, "RST_STREAM")
    require(f.stream == extra, "first RST_STREAM is on stream %d, expected %d: %r" % (f.stream, extra, f))
    # RFC 9113 §5.1.2 allows PROTOCOL_ERROR or REFUSED_STREAM; ours
    # (config.rs) is REFUSED_STREAM, which tells the client it may retry.
    require(CODES.get(f.code) == "REFUSED_STREAM", "%r" % f)
    # A freed slot is usable again.
    p.send(frame(RST_STREAM, 0, 1, struct.pack(">I", CODE["CANCEL"])))
    p.expect_served(extra + 2)


@case("header list bomb (HPACK: one 4 KB entry referenced 20 times) -> 431, table stays in sync")
def _(p):
    p.h2_handshake()
    blk = block(req_fields()) + literal_indexed("x-bomb", "a" * 4000) + b"\xbe" * 20
    p.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, blk))
    status, _ = p.read_response(1)
    require(status == "431", "status %s, expected 431" % status)
    # The entry was added even though the list was refused: index 62 is it.
    p.send(frame(HEADERS, END_HEADERS | END_STREAM, 3, block(req_fields()) + b"\xbe"))
    status, body = p.read_response(3)
    require(status == "200" and body == b"hello", "follow-up with the table entry: %s %r" % (status, body))


@case("huge header list (80 KB literal, HEADERS + CONTINUATIONs) -> 431, connection keeps serving")
def _(p):
    p.h2_handshake()
    blk = block(req_fields() + [("x-big-%d" % i, "b" * 1000) for i in range(80)])
    require(len(blk) > MAX_HEADER_LIST_SIZE, "block too small")
    chunks = [blk[i:i + MAX_FRAME_SIZE] for i in range(0, len(blk), MAX_FRAME_SIZE)]
    out = frame(HEADERS, END_STREAM, 1, chunks[0])
    for i, c in enumerate(chunks[1:], 1):
        out += frame(CONTINUATION, END_HEADERS if i == len(chunks) - 1 else 0, 1, c)
    p.send(out)
    status, _ = p.read_response(1)
    require(status == "431", "status %s, expected 431" % status)
    p.expect_served(3)


def run_cases(host, port, label, only):
    passed = failed = 0
    for name, timeout, fn in CASES:
        if only and not any(o in name for o in only):
            continue
        p = None
        try:
            p = Peer(host, port, time.monotonic() + timeout)
            fn(p)
            print("PASS %s: %s" % (label, name), flush=True)
            passed += 1
        except (CheckFailed, Closed) as e:
            print("FAIL %s: %s: %s" % (label, name, e), flush=True)
            failed += 1
        except Exception as e:  # a bug here, or h2 refusing: still a failure
            print("FAIL %s: %s: %s: %s" % (label, name, type(e).__name__, e), flush=True)
            traceback.print_exc(limit=3, file=sys.stdout)
            failed += 1
        finally:
            if p:
                p.close()
    return failed


def run_shutdown(host, port, pid, label):
    """SIGINT to the server while a request is in flight: the two-step
    GOAWAY (2^31-1 and a PING, then the last stream id), new streams
    refused, the in-flight response completed, then the connection closed."""
    name = "graceful shutdown: SIGINT mid-request -> GOAWAY, in-flight response completes"
    p = Peer(host, port, time.monotonic() + 20)
    try:
        p.h2_handshake()
        first = os.urandom(1000)
        p.h2.send_headers(1, POST())
        p.h2.send_data(1, first)
        p.flush_h2()
        echoed = bytearray()
        while len(echoed) < len(first):
            f = p.wait_for(lambda f: f.stream == 1 and f.type in (DATA, RST_STREAM), "the echo")
            require(f.type == DATA, "stream 1: %r" % f)
            echoed += f.payload
        os.kill(pid, signal.SIGINT)
        g1 = p.wait_for(lambda f: f.type == GOAWAY or (f.stream == 1 and f.type == DATA), "GOAWAY")
        while g1.type != GOAWAY:
            echoed += g1.payload
            g1 = p.next_frame()
        # Two-step (RFC 9113 §6.8, Config::two_step_shutdown): GOAWAY
        # 2^31-1 and a PING first, the final GOAWAY with the last stream
        # once the PING is answered (next_frame answers it).
        require(CODES.get(g1.code) == "NO_ERROR" and g1.last_stream == 0x7FFFFFFF,
                "first GOAWAY %r, expected NO_ERROR last=2147483647" % g1)
        ping = None
        g2 = p.next_frame()
        while g2.type != GOAWAY:
            if g2.type == PING and not g2.flags & ACK:
                ping = g2
            elif g2.stream == 1 and g2.type == DATA:
                echoed += g2.payload
            g2 = p.next_frame()
        require(ping is not None, "no PING between the two GOAWAYs")
        require(CODES.get(g2.code) == "NO_ERROR" and g2.last_stream == 1,
                "final GOAWAY %r, expected NO_ERROR last=1" % g2)
        # A stream opened after the final GOAWAY is refused (retryable).
        p.send(headers_frame(3, req_fields()))
        f = p.next_frame()
        while not (f.stream == 3 or (f.stream == 1 and f.type == RST_STREAM)):
            if f.stream == 1 and f.type == DATA:
                echoed += f.payload
            f = p.next_frame()
        require(f.type == RST_STREAM and f.stream == 3 and CODES.get(f.code) == "REFUSED_STREAM",
                "new stream after GOAWAY: %r" % f)
        rest = os.urandom(5000)
        p.send(frame(DATA, END_STREAM, 1, rest))
        while True:
            f = p.wait_for(lambda f: f.stream == 1 and f.type in (DATA, RST_STREAM), "the rest of the echo")
            require(f.type == DATA, "stream 1: %r" % f)
            echoed += f.payload
            if f.flags & END_STREAM:
                break
        require(bytes(echoed) == first + rest, "echo of %d bytes, expected %d" % (len(echoed), len(first) + len(rest)))
        try:
            while True:
                f = p.next_frame()
                require(f.type in (GOAWAY, PING, SETTINGS, WINDOW_UPDATE), "after the response: %r" % f)
        except Closed:
            pass
        print("PASS %s: %s" % (label, name), flush=True)
        return 0
    except (CheckFailed, Closed, OSError) as e:
        print("FAIL %s: %s: %s" % (label, name, e), flush=True)
        return 1
    finally:
        p.close()


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "cases":
        _, _, host, port, label, *only = sys.argv
        return 1 if run_cases(host, int(port), label, only) else 0
    if len(sys.argv) == 6 and sys.argv[1] == "shutdown":
        _, _, host, port, pid, label = sys.argv
        return run_shutdown(host, int(port), int(pid), label)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
