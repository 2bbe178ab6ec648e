#!/usr/bin/env python3
"""gRPC wire-protocol edge cases (scripts/interop-grpc-spec.sh).

The rules are those of grpc/grpc doc/PROTOCOL-HTTP2.md and
doc/http-grpc-status-mapping.md; where the documents leave a choice, the
expected reaction is grpc-go's (named in the case).

    grpc_spec_peer.py server HOST PORT LABEL
        hand-built HTTP/2 requests (Python `h2`, hyper's sans-IO HTTP/2)
        against `wirestate serve`: content-type, te, method, path,
        grpc-timeout forms, grpc-encoding, the compressed flag, message
        length limits, truncated messages, request trailers, metadata,
        grpc-message percent-encoding, unary calls with 0 or 2 messages.
    grpc_spec_peer.py client WIRESTATE_BIN RUNTIME
        a scripted raw h2c server (Python `h2`) answering
        `wirestate grpc --runtime RUNTIME` with what a happy path never
        shows: HTTP statuses without grpc-status, a non-gRPC content-type,
        trailers-only responses, a missing or malformed grpc-status, an
        oversized or wrongly compressed response message, RST_STREAM
        codes and GOAWAY mid-call. The client's verdict is the
        `ERROR: code=NAME` line it prints (or exit 0 with the response).

One line per case: `PASS <label>: <name>` or `FAIL <label>: <name>: <why>`.
"""

import base64
import gzip
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

EMPTY_CALL = "/grpc.testing.TestService/EmptyCall"
UNARY_CALL = "/grpc.testing.TestService/UnaryCall"
# wirestate-grpc's default receive limit (core/grpc/src/message.rs).
MAX_MESSAGE = 4 * 1024 * 1024

OK, CANCELLED, UNKNOWN, INVALID_ARGUMENT = 0, 1, 2, 3
DEADLINE_EXCEEDED, UNIMPLEMENTED = 4, 12
INTERNAL, UNAVAILABLE, RESOURCE_EXHAUSTED = 13, 14, 8
CODE_NAMES = {
    0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND", 6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
    10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL",
    14: "UNAVAILABLE", 15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}

passed = 0
failed = 0


def report(label, name, why=None):
    global passed, failed
    if why is None:
        passed += 1
        print(f"PASS {label}: {name}", flush=True)
    else:
        failed += 1
        print(f"FAIL {label}: {name}: {why}", flush=True)


def msg(payload=b"", compressed=False):
    """One length-prefixed gRPC message."""
    return struct.pack(">BI", 1 if compressed else 0, len(payload)) + payload


def varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def pb_len(field, data):
    """A protobuf length-delimited field (field numbers < 16, short data)."""
    return bytes([(field << 3) | 2, len(data)]) + data


def simple_request_with_status(code, message):
    """grpc.testing.SimpleRequest{response_status: {code, message}}."""
    echo = bytes([0x08, code]) + pb_len(2, message.encode())
    return pb_len(7, echo)


# --- server side: a client connection over a plain socket -------------------


class Response:
    def __init__(self):
        self.headers = None  # dict of the first HEADERS
        self.trailers = None  # dict of the trailing HEADERS, if any
        self.data = b""
        self.reset = None  # RST_STREAM error code
        self.goaway = None
        self.ended = False
        self.trailers_only = False


class Client:
    """A client connection; `call` sends one request and collects its answer."""

    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=5)
        cfg = h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8",
            validate_outbound_headers=False, normalize_outbound_headers=False,
            validate_inbound_headers=False)
        self.conn = h2.connection.H2Connection(cfg)
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(16 << 20)
        self.pending = []
        self.flush()

    def flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def close(self):
        self.sock.close()

    def request(self, path=EMPTY_CALL, method="POST",
                content_type="application/grpc", te="trailers", extra=()):
        sid = self.conn.get_next_available_stream_id()
        fields = [(":method", method), (":scheme", "http"),
                  (":authority", "localhost"), (":path", path)]
        if content_type is not None:
            fields.append(("content-type", content_type))
        if te is not None:
            fields.append(("te", te))
        fields += list(extra)
        self.conn.send_headers(sid, fields)
        self.flush()
        return sid

    def data(self, sid, data, end=False):
        """Sends `data` as the flow-control windows allow, reading the
        peer's WINDOW_UPDATEs (and keeping its other events for `wait`)."""
        while True:
            room = min(self.conn.local_flow_control_window(sid),
                       self.conn.max_outbound_frame_size)
            if len(data) <= room:
                self.conn.send_data(sid, data, end_stream=end)
                self.flush()
                return
            if room > 0:
                self.conn.send_data(sid, data[:room])
                data = data[room:]
                self.flush()
                continue
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed while sending")
            events = self.conn.receive_data(chunk)
            self.pending.extend(events)
            self.flush()
            if any(isinstance(e, (h2.events.StreamReset, h2.events.StreamEnded,
                                  h2.events.ConnectionTerminated))
                   and getattr(e, "stream_id", sid) == sid for e in events):
                return  # answered (or refused) before the body was all sent

    def end(self, sid):
        self.conn.end_stream(sid)
        self.flush()

    def wait(self, sid, timeout=5.0):
        r = Response()
        deadline = time.monotonic() + timeout
        events, self.pending = self.pending, []
        while True:
            for ev in events:
                if getattr(ev, "stream_id", sid) != sid:
                    continue
                if isinstance(ev, h2.events.ResponseReceived):
                    r.headers = dict(ev.headers)
                elif isinstance(ev, h2.events.TrailersReceived):
                    r.trailers = dict(ev.headers)
                elif isinstance(ev, h2.events.DataReceived):
                    r.data += ev.data
                    self.conn.acknowledge_received_data(
                        ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.StreamEnded):
                    r.ended = True
                elif isinstance(ev, h2.events.StreamReset):
                    r.reset = ev.error_code
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    r.goaway = ev.error_code
            self.flush()
            if r.ended or r.reset is not None or r.goaway is not None:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no complete response")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            events = self.conn.receive_data(chunk)
        r.trailers_only = r.trailers is None and r.headers is not None
        return r


def status_of(r):
    """(grpc-status as int or None, grpc-message) of a response."""
    src = r.trailers if r.trailers is not None else (r.headers or {})
    s = src.get("grpc-status")
    return (int(s) if s is not None and s.isdigit() else s), src.get("grpc-message")


def expect(r, http=200, code=OK, trailers_only=None, codes=None):
    """None when `r` has that HTTP status and grpc-status, else why not."""
    # RST_STREAM(NO_ERROR) after a complete response is how a server stops
    # a request it no longer reads (RFC 9113 8.1): not a failure.
    if r.reset is not None and not (r.ended and r.reset == 0):
        return f"RST_STREAM {r.reset!r}"
    if r.goaway is not None:
        return f"GOAWAY {r.goaway!r}"
    got_http = r.headers.get(":status")
    if got_http != str(http):
        return f":status {got_http}, want {http} ({r.headers}, {r.trailers})"
    got, message = status_of(r)
    want = codes or (code,)
    if got not in want:
        return (f"grpc-status {got!r} ({message!r}), want "
                f"{'/'.join(CODE_NAMES[c] for c in want)}")
    if trailers_only is True and not r.trailers_only:
        return "not a trailers-only response"
    return None


def server_cases(host, port, label):
    cases = []

    def case(fn):
        cases.append(fn)
        return fn

    def unary(path=EMPTY_CALL, body=msg(), **kw):
        c = Client(host, port)
        try:
            sid = c.request(path=path, **kw)
            c.data(sid, body, end=True)
            return c.wait(sid)
        finally:
            c.close()

    @case
    def baseline_empty_call():
        r = unary()
        why = expect(r)
        if why is None and not r.headers.get("content-type", "").startswith("application/grpc"):
            why = f"response content-type {r.headers.get('content-type')!r}"
        return why

    @case
    def content_type_missing_is_415():
        # PROTOCOL-HTTP2.md: "If Content-Type does not begin with
        # application/grpc, gRPC servers SHOULD respond with HTTP status of
        # 415"; with grpc-status INVALID_ARGUMENT (grpc-go) or INTERNAL
        # (grpc-java).
        return expect(unary(content_type=None), http=415,
                      codes=(INVALID_ARGUMENT, INTERNAL))

    @case
    def content_type_text_plain_is_415():
        return expect(unary(content_type="text/plain"), http=415,
                      codes=(INVALID_ARGUMENT, INTERNAL))

    @case
    def content_type_grpc_proto_accepted():
        return expect(unary(content_type="application/grpc+proto"))

    @case
    def content_type_grpc_with_parameter_accepted():
        return expect(unary(content_type="application/grpc; charset=utf-8"))

    @case
    def content_type_grpc_uppercase_accepted():
        # Media types are case-insensitive (RFC 9110 8.3.1) and we read them
        # so; grpc-go and grpc-java compare the prefix case-sensitively
        # (415), which is stricter than HTTP asks.
        return expect(unary(content_type="Application/GRPC"))

    @case
    def te_trailers_missing_accepted():
        # grpc-go and grpc-java serve the call (grpc-java logs a warning).
        return expect(unary(te=None))

    @case
    def method_get_is_405():
        # grpc-go: 405 with grpc-status INTERNAL.
        c = Client(host, port)
        try:
            sid = c.request(method="GET")
            c.end(sid)
            return expect(c.wait(sid), http=405, code=INTERNAL)
        finally:
            c.close()

    @case
    def method_put_is_405():
        return expect(unary(method="PUT"), http=405, code=INTERNAL)

    @case
    def unknown_method_is_unimplemented_trailers_only():
        return expect(unary(path="/grpc.testing.TestService/NoSuchMethod"),
                      code=UNIMPLEMENTED, trailers_only=True)

    @case
    def unknown_service_is_unimplemented_trailers_only():
        return expect(unary(path="/no.such.Service/Call"),
                      code=UNIMPLEMENTED, trailers_only=True)

    for value in ["1H", "1M", "10S", "1000m", "1000000u", "99999999n",
                  "99999999H", "00000010S"]:
        def timeout_ok(value=value):
            return expect(unary(extra=[("grpc-timeout", value)]))
        timeout_ok.__name__ = f"grpc_timeout_{value}_accepted"
        case(timeout_ok)

    # grpc-go (decodeTimeout): at most 8 digits and one of H M S m u n,
    # anything else is "malformed grpc-timeout": grpc-status INTERNAL.
    for value in ["123456789S", "1x", "", "S", "-1S", "1.5S", "1 S", "1s"]:
        def timeout_bad(value=value):
            r = unary(extra=[("grpc-timeout", value)])
            if r.headers and r.headers.get(":status") == "400":
                return expect(r, http=400, code=INTERNAL)
            return expect(r, code=INTERNAL)
        timeout_bad.__name__ = f"grpc_timeout_{value or 'empty'!r}_is_internal"
        case(timeout_bad)

    for value in ["0S", "0H", "0m", "0n", "00000000u"]:
        def timeout_zero(value=value):
            # Expired on arrival, every time (not a race with the handler).
            for _ in range(10):
                why = expect(unary(extra=[("grpc-timeout", value)]), code=DEADLINE_EXCEEDED)
                if why:
                    return why
            return None
        timeout_zero.__name__ = f"grpc_timeout_{value}_is_deadline_exceeded"
        case(timeout_zero)

    @case
    def grpc_timeout_one_nanosecond_is_deadline_exceeded():
        # Already past when the handler could run: grpc-go's context is done.
        c = Client(host, port)
        try:
            sid = c.request(path=UNARY_CALL, extra=[("grpc-timeout", "1n")])
            time.sleep(0.05)
            c.data(sid, msg(), end=True)
            return expect(c.wait(sid), code=DEADLINE_EXCEEDED)
        finally:
            c.close()

    @case
    def grpc_encoding_unknown_is_unimplemented_with_accept_encoding():
        r = unary(body=msg(b"xx", compressed=True),
                  extra=[("grpc-encoding", "snappy-x")])
        why = expect(r, code=UNIMPLEMENTED)
        if why is None:
            src = r.trailers if r.trailers is not None else r.headers
            accept = src.get("grpc-accept-encoding") or r.headers.get("grpc-accept-encoding")
            if not accept or "gzip" not in accept:
                why = f"grpc-accept-encoding {accept!r}, want one naming gzip"
        return why

    @case
    def grpc_encoding_unknown_uncompressed_message_served():
        # The encoding only matters for messages whose flag is set; grpc-go
        # refuses at the header (UNIMPLEMENTED) though: accept either.
        r = unary(body=msg(), extra=[("grpc-encoding", "snappy-x")])
        return expect(r, codes=(OK, UNIMPLEMENTED))

    @case
    def compressed_flag_with_identity_is_internal():
        return expect(unary(body=msg(b"\x00\x01", compressed=True)), code=INTERNAL)

    @case
    def compressed_flag_with_explicit_identity_is_internal():
        return expect(unary(body=msg(b"\x00\x01", compressed=True),
                            extra=[("grpc-encoding", "identity")]), code=INTERNAL)

    @case
    def corrupt_gzip_is_internal():
        return expect(unary(body=msg(b"not gzip", compressed=True),
                            extra=[("grpc-encoding", "gzip")]), code=INTERNAL)

    @case
    def compressed_flag_2_is_internal():
        # Only 0 and 1 are defined.
        body = struct.pack(">BI", 2, 0)
        return expect(unary(body=body), codes=(INTERNAL,))

    @case
    def length_prefix_over_limit_is_resource_exhausted():
        c = Client(host, port)
        try:
            sid = c.request()
            c.data(sid, struct.pack(">BI", 0, MAX_MESSAGE + 1))
            return expect(c.wait(sid), code=RESOURCE_EXHAUSTED)
        finally:
            c.close()

    @case
    def length_prefix_max_u32_is_resource_exhausted():
        c = Client(host, port)
        try:
            sid = c.request()
            c.data(sid, struct.pack(">BI", 0, 0xFFFFFFFF), end=True)
            return expect(c.wait(sid), code=RESOURCE_EXHAUSTED)
        finally:
            c.close()

    @case
    def end_stream_mid_prefix_is_internal():
        return expect(unary(body=b"\x00\x00\x00"), code=INTERNAL)

    @case
    def end_stream_mid_message_is_internal():
        return expect(unary(body=struct.pack(">BI", 0, 10) + b"abcd"), code=INTERNAL)

    @case
    def unary_with_two_messages_is_internal():
        # grpc-java: "Too many requests"; grpc-go: INTERNAL too.
        return expect(unary(body=msg() + msg()), codes=(INTERNAL, UNIMPLEMENTED))

    @case
    def unary_with_no_message_is_internal():
        return expect(unary(body=b""), codes=(INTERNAL, UNIMPLEMENTED))

    def sized_request(total):
        """A SimpleRequest of exactly `total` bytes: a payload body of
        zeros (field 3, Payload.body field 2)."""
        for body in range(total, 0, -1):
            payload = b"\x12" + varint(body) + b"\x00" * body
            req = b"\x1a" + varint(len(payload)) + payload
            if len(req) == total:
                return req
        raise ValueError(total)

    @case
    def message_of_exactly_the_limit_accepted():
        c = Client(host, port)
        try:
            sid = c.request(path=UNARY_CALL)
            c.data(sid, msg(sized_request(MAX_MESSAGE)), end=True)
            return expect(c.wait(sid, timeout=20))
        finally:
            c.close()

    @case
    def message_one_over_the_limit_is_resource_exhausted():
        c = Client(host, port)
        try:
            sid = c.request(path=UNARY_CALL)
            c.data(sid, msg(sized_request(MAX_MESSAGE + 1)), end=True)
            return expect(c.wait(sid, timeout=20), code=RESOURCE_EXHAUSTED)
        except (ConnectionError, OSError) as e:
            return f"{type(e).__name__}: {e}"
        finally:
            c.close()

    @case
    def unparseable_protobuf_is_internal():
        # grpc-go: "grpc: error unmarshalling request", INTERNAL.
        return expect(unary(path=UNARY_CALL, body=msg(b"\xff\xff\xff")), code=INTERNAL)

    @case
    def client_streaming_truncated_last_message_is_internal():
        body = msg(b"") + struct.pack(">BI", 0, 100) + b"x" * 10
        return expect(unary(path="/grpc.testing.TestService/StreamingInputCall",
                            body=body), code=INTERNAL)

    @case
    def client_streaming_message_over_limit_is_resource_exhausted():
        c = Client(host, port)
        try:
            sid = c.request(path="/grpc.testing.TestService/StreamingInputCall")
            c.data(sid, msg(b"") + struct.pack(">BI", 0, MAX_MESSAGE + 1))
            return expect(c.wait(sid), code=RESOURCE_EXHAUSTED)
        finally:
            c.close()

    @case
    def grpc_timeout_expires_on_a_waiting_call():
        # FullDuplexCall with no messages and the request left open waits
        # for the client: the 200 ms deadline ends it, DEADLINE_EXCEEDED.
        c = Client(host, port)
        try:
            sid = c.request(path="/grpc.testing.TestService/FullDuplexCall",
                            extra=[("grpc-timeout", "200m")])
            start = time.monotonic()
            why = expect(c.wait(sid), code=DEADLINE_EXCEEDED)
            took = time.monotonic() - start
            if why is None and not 0.15 <= took < 3:
                why = f"ended after {took:.2f} s, want about 0.2 s"
            return why
        finally:
            c.close()

    @case
    def client_cancel_then_next_call_on_the_connection():
        c = Client(host, port)
        try:
            sid = c.request(path="/grpc.testing.TestService/FullDuplexCall")
            c.data(sid, msg())
            c.conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
            c.flush()
            sid = c.request()
            c.data(sid, msg(), end=True)
            return expect(c.wait(sid))
        finally:
            c.close()

    # SimpleRequest{response_compressed: {value: true}} (field 6, BoolValue).
    compressed_please = msg(pb_len(6, b"\x08\x01") + b"\x10\x40")  # response_size 64

    def response_flags(r):
        """The compressed flags of the response's messages."""
        flags, data = [], r.data
        while len(data) >= 5:
            flag, n = struct.unpack(">BI", data[:5])
            flags.append(flag)
            data = data[5 + n:]
        return flags

    @case
    def response_compressed_only_with_an_accepted_encoding():
        r = unary(path=UNARY_CALL, body=compressed_please,
                  extra=[("grpc-accept-encoding", "gzip")])
        why = expect(r)
        if why is None and (r.headers.get("grpc-encoding") != "gzip"
                            or response_flags(r) != [1]):
            why = f"asked for gzip: {r.headers}, flags {response_flags(r)}"
        return why

    @case
    def response_not_compressed_when_the_client_accepts_identity_only():
        # Compressing with an encoding the client did not list would fail
        # its call: the message goes uncompressed.
        r = unary(path=UNARY_CALL, body=compressed_please,
                  extra=[("grpc-accept-encoding", "identity")])
        why = expect(r)
        if why is None and (r.headers.get("grpc-encoding", "identity") != "identity"
                            or response_flags(r) != [0]):
            why = f"identity only: {r.headers}, flags {response_flags(r)}"
        return why

    @case
    def response_not_compressed_without_grpc_accept_encoding():
        r = unary(path=UNARY_CALL, body=compressed_please)
        why = expect(r)
        if why is None and response_flags(r) != [0]:
            why = f"no grpc-accept-encoding: {r.headers}, flags {response_flags(r)}"
        return why

    @case
    def grpc_accept_encoding_with_unknown_names():
        r = unary(path=UNARY_CALL, body=compressed_please,
                  extra=[("grpc-accept-encoding", "br, x-custom ,gzip")])
        why = expect(r)
        if why is None and response_flags(r) != [1]:
            why = f"flags {response_flags(r)}, {r.headers}"
        return why

    @case
    def gzip_stream_with_an_uncompressed_message_accepted():
        # The flag is per message: grpc-encoding only says what a flagged
        # one uses.
        return expect(unary(body=msg(), extra=[("grpc-encoding", "gzip")]))

    @case
    def gzip_of_an_empty_message_accepted():
        return expect(unary(body=msg(gzip.compress(b""), compressed=True),
                            extra=[("grpc-encoding", "gzip")]))

    @case
    def gzip_bomb_over_the_limit_is_resource_exhausted():
        bomb = gzip.compress(b"\x00" * (MAX_MESSAGE + 1024))
        return expect(unary(path=UNARY_CALL, body=msg(bomb, compressed=True),
                            extra=[("grpc-encoding", "gzip")]),
                      code=RESOURCE_EXHAUSTED)

    @case
    def deadline_mid_server_stream_ends_with_deadline_exceeded():
        # StreamingOutputCallRequest{response_parameters: 20 x {size 1,
        # interval 50 ms}} under a 300 ms deadline: some messages, then
        # DEADLINE_EXCEEDED in the trailers.
        params = pb_len(2, b"\x08\x01\x10" + varint(50_000))
        r = unary(path="/grpc.testing.TestService/StreamingOutputCall",
                  body=msg(params * 20), extra=[("grpc-timeout", "300m")])
        why = expect(r, code=DEADLINE_EXCEEDED)
        if why is None and not r.data:
            why = "no message before the deadline"
        return why

    @case
    def message_split_into_one_byte_data_frames():
        c = Client(host, port)
        try:
            sid = c.request(path=UNARY_CALL)
            body = msg(simple_request_with_status(0, "ok"))
            for b in body:
                c.data(sid, bytes([b]))
            c.data(sid, b"", end=True)
            return expect(c.wait(sid))
        finally:
            c.close()

    @case
    def empty_data_frames_around_the_message():
        c = Client(host, port)
        try:
            sid = c.request()
            c.data(sid, b"")
            c.data(sid, msg())
            c.data(sid, b"")
            c.data(sid, b"", end=True)
            return expect(c.wait(sid))
        finally:
            c.close()

    @case
    def request_trailers_end_the_request():
        c = Client(host, port)
        try:
            sid = c.request()
            c.data(sid, msg())
            c.conn.send_headers(sid, [("x-trailer", "1")], end_stream=True)
            c.flush()
            return expect(c.wait(sid))
        finally:
            c.close()

    @case
    def data_after_request_trailers_is_a_stream_error():
        c = Client(host, port)
        try:
            sid = c.request(path=UNARY_CALL)
            c.data(sid, msg())
            c.conn.send_headers(sid, [("x-trailer", "1")], end_stream=True)
            c.flush()
            # h2 will not send DATA on a half-closed stream: build it.
            c.sock.sendall(struct.pack(">I", 5)[1:] + struct.pack(">BBI", 0, 1, sid) + msg())
            r = c.wait(sid)
            # RFC 9113 5.1: STREAM_CLOSED, as a stream or connection error;
            # the call may have been answered first.
            if r.reset is not None or r.goaway is not None:
                return None
            return expect(r)
        finally:
            c.close()

    @case
    def reserved_grpc_metadata_ignored():
        return expect(unary(extra=[("grpc-foo", "bar"), ("grpc-internal-x", "1")]))

    def echo_trailing_bin(value):
        r = unary(path=UNARY_CALL,
                  extra=[("x-grpc-test-echo-trailing-bin", value)])
        why = expect(r)
        if why:
            return why, None
        got = (r.trailers or {}).get("x-grpc-test-echo-trailing-bin")
        if got is None:
            return "trailer not echoed", None
        return None, base64.b64decode(got + "=" * (-len(got) % 4))

    @case
    def bin_metadata_padded_decodes():
        why, got = echo_trailing_bin("q80=")
        return why or (None if got == b"\xab\xcd" else f"echoed {got!r}")

    @case
    def bin_metadata_unpadded_decodes():
        why, got = echo_trailing_bin("q80")
        return why or (None if got == b"\xab\xcd" else f"echoed {got!r}")

    @case
    def bin_metadata_invalid_base64_is_internal():
        # grpc-go: "malformed binary metadata", INTERNAL.
        return expect(unary(extra=[("x-foo-bin", "!!!*")]), code=INTERNAL)

    @case
    def echo_initial_metadata():
        r = unary(path=UNARY_CALL, extra=[("x-grpc-test-echo-initial", "hi there")])
        why = expect(r)
        if why is None and r.headers.get("x-grpc-test-echo-initial") != "hi there":
            why = f"initial metadata {r.headers}"
        return why

    @case
    def huge_metadata_is_431():
        # Over SETTINGS_MAX_HEADER_LIST_SIZE (64 KiB): 431, as grpc-go sends
        # (with grpc-status RESOURCE_EXHAUSTED), or a stream reset.
        r = unary(extra=[("x-big", "a" * (80 << 10))])
        if r.reset is not None:
            return None
        if r.headers.get(":status") != "431":
            return f":status {r.headers.get(':status')}"
        return None

    def status_message(text):
        body = msg(simple_request_with_status(2, text))
        r = unary(path=UNARY_CALL, body=body)
        why = expect(r, code=UNKNOWN)
        return why, status_of(r)[1]

    @case
    def grpc_message_percent_encodes_percent_and_non_ascii():
        # PROTOCOL-HTTP2.md: Percent-Byte-Unencoded is 0x20-0x24 / 0x26-0x7E;
        # everything else (UTF-8 bytes, '%', controls) as %XX.
        text = "50% \u00e9\t\u4e2d\r\n"
        why, got = status_message(text)
        if why:
            return why
        if got is None:
            return "no grpc-message"
        bad = [ch for ch in got if not (0x20 <= ord(ch) <= 0x7E)]
        if bad:
            return f"grpc-message {got!r} holds unencoded bytes"
        if urllib.parse.unquote(got, errors="strict") != text:
            return f"grpc-message {got!r} does not decode to {text!r}"
        if "%25" not in got:
            return f"grpc-message {got!r}: '%' not encoded"
        return None

    @case
    def grpc_message_keeps_plain_ascii():
        text = "a b:c/d?e"
        why, got = status_message(text)
        return why or (None if got == text else f"grpc-message {got!r}")

    for fn in cases:
        name = fn.__name__
        try:
            why = fn()
        except Exception as e:  # noqa: BLE001 - the case fails, others run
            why = f"{type(e).__name__}: {e}"
            traceback.print_exc(limit=2, file=sys.stdout)
        report(label, name, why)


# --- client side: a scripted raw h2c server ---------------------------------


class RawServer:
    """Accepts connections on 127.0.0.1; each one is given to `script(conn
    state, sock, index)` in a thread of its own."""

    def __init__(self, script):
        self.script = script
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.count = 0
        self.errors = []
        self.requests = []  # the header lists of every request
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            index = self.count
            self.count += 1
            threading.Thread(target=self.serve, args=(sock, index), daemon=True).start()

    def serve(self, sock, index):
        sock.settimeout(10)
        cfg = h2.config.H2Configuration(
            client_side=False, header_encoding="utf-8",
            validate_outbound_headers=False, normalize_outbound_headers=False)
        conn = h2.connection.H2Connection(cfg)
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        try:
            buf = []
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        self.requests.append(dict(ev.headers))
                        out = self.script(conn, ev.stream_id, index)
                        if isinstance(out, tuple) and out[0] == "goaway_first":
                            # A GOAWAY built by hand ahead of what the script
                            # queued (h2 sends nothing after its own GOAWAY).
                            goaway = struct.pack(">II", out[1], 0)
                            sock.sendall(struct.pack(">I", len(goaway))[1:]
                                         + struct.pack(">BBI", 7, 0, 0) + goaway)
                            out = "close"
                        if isinstance(out, tuple) and out[0] == "raw_after":
                            # Frames h2's state machine would refuse (an
                            # RST_STREAM on a stream it sees as closed).
                            sock.sendall(conn.data_to_send() + out[1])
                            out = None
                        sock.sendall(conn.data_to_send())
                        if out == "close":
                            time.sleep(0.05)
                            sock.close()
                            return
                    elif isinstance(ev, h2.events.DataReceived):
                        conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                        buf.append(ev.data)
                sock.sendall(conn.data_to_send())
        except (OSError, h2.exceptions.H2Error) as e:
            self.errors.append(repr(e))
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def close(self):
        self.listener.close()


def grpc_headers(status="200", content_type="application/grpc", extra=()):
    h = [(":status", status)]
    if content_type is not None:
        h.append(("content-type", content_type))
    return h + list(extra)


def client_cases(binary, rt):
    label = f"client {rt}"
    cases = []

    def run_client(port, path=EMPTY_CALL):
        p = subprocess.run(
            [binary, "grpc", "--runtime", rt, "--timeout", "5s",
             f"127.0.0.1:{port}", path, "{}"],
            capture_output=True, text=True, timeout=20)
        if p.returncode == 0:
            return "OK", p.stdout + p.stderr
        for line in p.stderr.splitlines():
            if line.startswith("ERROR: code="):
                return line.split()[1][len("code="):], p.stderr
        return "?", p.stderr

    def case(name, script, want, path=EMPTY_CALL, connections=None):
        def fn():
            srv = RawServer(script)
            try:
                got, out = run_client(srv.port, path)
            finally:
                srv.close()
            wants = want if isinstance(want, tuple) else (want,)
            if got not in wants:
                return f"got {got}, want {'/'.join(wants)}: {out.strip()[-300:]}"
            if connections is not None and srv.count != connections:
                return f"{srv.count} connections, want {connections}"
            return None
        fn.__name__ = name
        cases.append(fn)

    def http_status(code):
        def script(conn, sid, _):
            conn.send_headers(sid, grpc_headers(str(code), "text/html"))
            conn.send_data(sid, b"<html>no</html>", end_stream=True)
        return script

    # http-grpc-status-mapping.md
    for http, want in [(400, "INTERNAL"), (401, "UNAUTHENTICATED"),
                       (403, "PERMISSION_DENIED"), (404, "UNIMPLEMENTED"),
                       (429, "UNAVAILABLE"), (502, "UNAVAILABLE"),
                       (503, "UNAVAILABLE"), (504, "UNAVAILABLE"),
                       (500, "UNKNOWN"), (418, "UNKNOWN")]:
        case(f"http_{http}_without_grpc_status_is_{want}", http_status(http), want)
    # Not in the table (so UNKNOWN); grpc-java, and we, read it as INTERNAL,
    # like 400.
    case("http_431_without_grpc_status_is_INTERNAL_or_UNKNOWN", http_status(431),
         ("INTERNAL", "UNKNOWN"))

    def http_status_trailers_only_grpc_status(conn, sid, _):
        # A grpc-status wins over the HTTP status (a gRPC server's own 4xx).
        conn.send_headers(sid, grpc_headers("404", extra=[("grpc-status", "5")]),
                          end_stream=True)
    case("http_404_with_grpc_status_uses_grpc_status",
         http_status_trailers_only_grpc_status, ("NOT_FOUND",))

    def non_grpc_content_type(conn, sid, _):
        conn.send_headers(sid, grpc_headers("200", "text/html"))
        conn.send_data(sid, b"<html>hi</html>", end_stream=True)
    # grpc-go: 200 is not in the table, so UNKNOWN; INTERNAL is also seen.
    case("http_200_non_grpc_content_type", non_grpc_content_type, ("UNKNOWN", "INTERNAL"))

    def trailers_only_error(conn, sid, _):
        conn.send_headers(sid, grpc_headers(extra=[("grpc-status", "5"),
                                                   ("grpc-message", "gone%20away")]),
                          end_stream=True)
    case("trailers_only_not_found", trailers_only_error, "NOT_FOUND")

    def trailers_only_ok_no_message(conn, sid, _):
        conn.send_headers(sid, grpc_headers(extra=[("grpc-status", "0")]), end_stream=True)
    # A unary call with no response message: grpc-java/grpc-go INTERNAL.
    case("trailers_only_ok_without_message_unary", trailers_only_ok_no_message,
         ("INTERNAL", "UNIMPLEMENTED"))

    def headers_then_ok_no_message(conn, sid, _):
        conn.send_headers(sid, grpc_headers())
        conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)
    case("headers_and_ok_trailers_without_message_unary", headers_then_ok_no_message,
         ("INTERNAL", "UNIMPLEMENTED"))

    def huge_response_metadata(conn, sid, _):
        conn.send_headers(sid, grpc_headers(extra=[("x-big", "a" * (100 << 10))]))
        conn.send_data(sid, msg())
        conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)
    # Over the client's SETTINGS_MAX_HEADER_LIST_SIZE: the call fails (grpc-go:
    # "peer header list size exceeded limit", INTERNAL), nothing hangs.
    case("response_metadata_over_the_header_list_limit", huge_response_metadata,
         ("INTERNAL", "RESOURCE_EXHAUSTED"))

    def huge_trailers(conn, sid, _):
        conn.send_headers(sid, grpc_headers())
        conn.send_data(sid, msg())
        conn.send_headers(sid, [("grpc-status", "0"), ("x-big", "a" * (100 << 10))],
                          end_stream=True)
    case("response_trailers_over_the_header_list_limit", huge_trailers,
         ("INTERNAL", "RESOURCE_EXHAUSTED"))

    def ok(conn, sid, _):
        conn.send_headers(sid, grpc_headers())
        conn.send_data(sid, msg())
        conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)
    case("ordinary_ok", ok, "OK")

    def missing_status(conn, sid, _):
        conn.send_headers(sid, grpc_headers())
        conn.send_data(sid, msg())
        conn.send_headers(sid, [("x-no-status", "1")], end_stream=True)
    case("trailers_without_grpc_status", missing_status, ("INTERNAL", "UNKNOWN"))

    def end_without_trailers(conn, sid, _):
        conn.send_headers(sid, grpc_headers())
        conn.send_data(sid, msg(), end_stream=True)
    case("end_stream_on_data_without_trailers", end_without_trailers, ("INTERNAL", "UNKNOWN"))

    for value, want in [("abc", ("UNKNOWN", "INTERNAL")), ("99", ("UNKNOWN",)),
                        ("-1", ("UNKNOWN", "INTERNAL")), ("", ("UNKNOWN", "INTERNAL"))]:
        def bad_status(conn, sid, _, value=value):
            conn.send_headers(sid, grpc_headers())
            conn.send_data(sid, msg())
            conn.send_headers(sid, [("grpc-status", value)], end_stream=True)
        case(f"grpc_status_{value or 'empty'!r}", bad_status, want)

    def oversized(conn, sid, _):
        conn.send_headers(sid, grpc_headers())
        conn.send_data(sid, struct.pack(">BI", 0, MAX_MESSAGE + 1))
    case("response_over_max_receive_size", oversized, "RESOURCE_EXHAUSTED")

    def unoffered_encoding(conn, sid, _):
        conn.send_headers(sid, grpc_headers(extra=[("grpc-encoding", "snappy-x")]))
        conn.send_data(sid, msg(b"xx", compressed=True))
        conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)
    case("response_compressed_with_unoffered_encoding", unoffered_encoding, "INTERNAL")

    def flag_without_encoding(conn, sid, _):
        conn.send_headers(sid, grpc_headers())
        conn.send_data(sid, msg(b"\x00", compressed=True))
        conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)
    case("response_compressed_flag_with_identity", flag_without_encoding, "INTERNAL")

    def truncated(conn, sid, _):
        conn.send_headers(sid, grpc_headers())
        conn.send_data(sid, struct.pack(">BI", 0, 10) + b"ab")
        conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)
    case("response_truncated_message", truncated, "INTERNAL")

    def percent_message(conn, sid, _):
        conn.send_headers(sid, grpc_headers(extra=[("grpc-status", "3"),
                                                   ("grpc-message", "bad%zz%25%C3%A9")]),
                          end_stream=True)

    def percent_fn():
        srv = RawServer(percent_message)
        try:
            p = subprocess.run([binary, "grpc", "--runtime", rt, "--timeout", "5s",
                                f"127.0.0.1:{srv.port}", EMPTY_CALL, "{}"],
                               capture_output=True, text=True, timeout=20)
        finally:
            srv.close()
        # An invalid %-sequence is kept as it is (PROTOCOL-HTTP2.md).
        if "message=bad%zz%\u00e9" not in p.stderr:
            return f"stderr {p.stderr.strip()!r}"
        return None
    percent_fn.__name__ = "grpc_message_percent_decoding_lenient"
    cases.append(percent_fn)

    # PROTOCOL-HTTP2.md "Errors": RST_STREAM codes.
    for code, want in [(h2.errors.ErrorCodes.CANCEL, "CANCELLED"),
                       (h2.errors.ErrorCodes.INTERNAL_ERROR, "INTERNAL"),
                       (h2.errors.ErrorCodes.PROTOCOL_ERROR, "INTERNAL"),
                       (h2.errors.ErrorCodes.NO_ERROR, "INTERNAL"),
                       (h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, "RESOURCE_EXHAUSTED"),
                       (h2.errors.ErrorCodes.INADEQUATE_SECURITY, "PERMISSION_DENIED")]:
        def rst(conn, sid, _, code=code):
            conn.reset_stream(sid, code)
        case(f"rst_stream_{code.name}_is_{want}", rst, want)

    # The same table once the response has begun (headers and a message
    # sent, then the reset): the body's failure carries the code.
    for code, want in [(h2.errors.ErrorCodes.CANCEL, "CANCELLED"),
                       (h2.errors.ErrorCodes.INTERNAL_ERROR, "INTERNAL"),
                       (h2.errors.ErrorCodes.PROTOCOL_ERROR, "INTERNAL"),
                       (h2.errors.ErrorCodes.ENHANCE_YOUR_CALM, "RESOURCE_EXHAUSTED")]:
        def rst_mid(conn, sid, _, code=code):
            conn.send_headers(sid, grpc_headers())
            conn.send_data(sid, msg())
            conn.reset_stream(sid, code)
        case(f"rst_stream_{code.name}_mid_response_is_{want}", rst_mid, want)

    def refused_once(conn, sid, index):
        if index == 0 and sid == 1:
            conn.reset_stream(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
        else:
            ok(conn, sid, index)

    def refused_fn():
        srv = RawServer(refused_once)
        try:
            got, out = run_client(srv.port)
        finally:
            srv.close()
        return None if got == "OK" else f"got {got}: {out.strip()[-300:]}"
    refused_fn.__name__ = "rst_stream_REFUSED_STREAM_retried_transparently"
    cases.append(refused_fn)

    def refused_always(conn, sid, _):
        conn.reset_stream(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
    case("rst_stream_REFUSED_STREAM_always_is_UNAVAILABLE", refused_always, "UNAVAILABLE")

    def goaway_before(conn, sid, index):
        # GOAWAY naming a last stream below this one: never processed.
        # `wirestate grpc` calls over one connection (no reconnecting
        # channel), so the transparent retry has nowhere to go: UNAVAILABLE,
        # "not processed" (the reconnecting channel's retry on a new
        # connection is tests/tests/grpc_transparent_retry.rs's).
        if index == 0:
            conn.close_connection(last_stream_id=0)
            return "close"
        ok(conn, sid, index)
    case("goaway_last_stream_0_is_UNAVAILABLE_not_processed", goaway_before, "UNAVAILABLE")

    def goaway_after(conn, sid, index):
        # Processed (last stream id covers it) but then the connection ends.
        conn.send_headers(sid, grpc_headers())
        conn.close_connection(last_stream_id=sid)
        return "close"
    case("goaway_mid_call_then_close_is_UNAVAILABLE", goaway_after, ("UNAVAILABLE", "INTERNAL"))

    def two_messages(conn, sid, _):
        conn.send_headers(sid, grpc_headers())
        conn.send_data(sid, msg() + msg())
        conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)
    # grpc-java: "More than one value received for unary call", INTERNAL.
    case("unary_response_with_two_messages_is_INTERNAL", two_messages, "INTERNAL")

    def trailers_only_no_content_type(conn, sid, _):
        conn.send_headers(sid, grpc_headers(content_type=None,
                                            extra=[("grpc-status", "5")]),
                          end_stream=True)
    # A Trailers-Only response should carry content-type; without it the
    # grpc-status it does carry is still the call's (grpc-go reads it), or
    # the 200 maps to UNKNOWN.
    case("trailers_only_without_content_type", trailers_only_no_content_type,
         ("NOT_FOUND", "UNKNOWN"))

    def ok_then_reset_no_error(conn, sid, index):
        ok(conn, sid, index)
        rst = struct.pack(">I", 4)[1:] + struct.pack(">BBII", 3, 0, sid, 0)
        return ("raw_after", rst)
    # RFC 9113 8.1: a complete response, then RST_STREAM(NO_ERROR) to stop
    # the request: the call succeeded.
    case("complete_response_then_rst_stream_NO_ERROR_is_OK", ok_then_reset_no_error, "OK")

    def response_bomb(conn, sid, _):
        conn.send_headers(sid, grpc_headers(extra=[("grpc-encoding", "gzip")]))
        conn.send_data(sid, msg(gzip.compress(b"\x00" * (MAX_MESSAGE + 1024)),
                                compressed=True))
        conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)
    case("response_gzip_bomb_over_the_limit_is_RESOURCE_EXHAUSTED", response_bomb,
         "RESOURCE_EXHAUSTED")

    def response_gzip_one(conn, sid, _):
        conn.send_headers(sid, grpc_headers(extra=[("grpc-encoding", "gzip")]))
        conn.send_data(sid, msg(gzip.compress(b""), compressed=True))
        conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)
    case("response_gzip_message_decoded", response_gzip_one, "OK")

    def response_gzip_flag_zero(conn, sid, _):
        conn.send_headers(sid, grpc_headers(extra=[("grpc-encoding", "gzip")]))
        conn.send_data(sid, msg())
        conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)
    case("response_gzip_stream_uncompressed_message_accepted", response_gzip_flag_zero, "OK")

    def bad_protobuf(conn, sid, _):
        conn.send_headers(sid, grpc_headers())
        conn.send_data(sid, msg(b"\xff\xff\xff"))
        conn.send_headers(sid, [("grpc-status", "0")], end_stream=True)
    # grpc-go: "grpc: failed to unmarshal the received message", INTERNAL.
    case("response_unparseable_protobuf_is_INTERNAL", bad_protobuf, "INTERNAL")

    def informational_first(conn, sid, index):
        conn.send_headers(sid, [(":status", "100")])
        ok(conn, sid, index)
    # RFC 9113 8.1: 1xx HEADERS may precede the final response.
    case("informational_100_before_the_response_ignored", informational_first, "OK")

    def goaway_graceful(conn, sid, index):
        # GOAWAY covering this stream, then the response: it completes.
        ok(conn, sid, index)
        return ("goaway_first", sid)
    case("goaway_covering_the_call_then_response_completes", goaway_graceful, "OK")

    def silent(conn, sid, _):
        pass

    def deadline_fn():
        srv = RawServer(silent)
        try:
            start = time.monotonic()
            p = subprocess.run([binary, "grpc", "--runtime", rt, "--timeout", "300ms",
                                f"127.0.0.1:{srv.port}", EMPTY_CALL, "{}"],
                               capture_output=True, text=True, timeout=20)
            took = time.monotonic() - start
        finally:
            srv.close()
        if "code=DEADLINE_EXCEEDED" not in p.stderr:
            return f"stderr {p.stderr.strip()!r}"
        if took > 3:
            return f"took {took:.1f} s"
        timeouts = [r.get("grpc-timeout") for r in srv.requests]
        if not timeouts or not re.fullmatch(r"[0-9]{1,8}[HMSmun]", timeouts[0] or ""):
            return f"grpc-timeout sent {timeouts!r}"
        return None
    deadline_fn.__name__ = "deadline_sent_as_grpc_timeout_and_enforced"
    cases.append(deadline_fn)

    def headers_fn():
        srv = RawServer(ok)
        try:
            got, out = run_client(srv.port)
        finally:
            srv.close()
        if got != "OK":
            return f"got {got}: {out.strip()[-300:]}"
        h = srv.requests[0] if srv.requests else {}
        want = {":method": "POST", ":scheme": "http", "te": "trailers",
                ":path": EMPTY_CALL}
        bad = {k: h.get(k) for k, v in want.items() if h.get(k) != v}
        if bad or not h.get("content-type", "").startswith("application/grpc"):
            return f"request headers {h!r}"
        return None
    headers_fn.__name__ = "request_headers_as_the_spec_lists"
    cases.append(headers_fn)

    for fn in cases:
        try:
            why = fn()
        except Exception as e:  # noqa: BLE001
            why = f"{type(e).__name__}: {e}"
            traceback.print_exc(limit=2, file=sys.stdout)
        report(label, fn.__name__, why)


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "server":
        server_cases(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) >= 4 and sys.argv[1] == "client":
        client_cases(sys.argv[2], sys.argv[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    print(f"grpc-spec: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
