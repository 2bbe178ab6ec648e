"""gRPC interop peer built on grpcio (the C core), for scripts/interop-grpc.sh.

    interop_grpc.py client HOST:PORT   run the 18 standard interop test
                                       cases (and a server-side deadline
                                       case) against a TestService; one
                                       PASS/FAIL line per case; exit 1 on
                                       any failure
    interop_grpc.py web HOST:PORT      raw gRPC-Web requests with curl over
                                       HTTP/1.1 (binary and text, unary,
                                       server streaming, an error status)
    interop_grpc.py server PORT        serve grpc.testing.TestService with
                                       grpcio (the interop server is not in
                                       the wheel) until killed
    interop_grpc.py health HOST:PORT LABEL PID
                                       grpc.health.v1 against `wirestate
                                       serve` (process PID) with PyPI
                                       grpcio-health-checking's stubs: Check,
                                       Watch, grpcio's client-side health
                                       checking, then SIGINT to PID (a
                                       graceful shutdown): the watch must see
                                       NOT_SERVING, then UNAVAILABLE

grpcio's Python API does not show a message's compressed flag (the C core
decompresses before Python sees the bytes), which the compression cases
check: the server must refuse a request whose `expect_compressed` does not
match how it came (client_compressed_*), and the client checks that
responses come compressed as `response_compressed` asked
(server_compressed_*). So both modes put a FlagTap in front of the
connection: an in-process loopback TCP relay that forwards every byte
unchanged and reads the HTTP/2 DATA frames going by to note each gRPC
message's compressed flag. The server looks a request's flag up by the
message's bytes; the client takes the flags of the responses of the call it
just made. Everything else (compression itself, negotiation, the calls) is
grpcio's.

The grpc.testing stubs are generated at script time (grpc_tools.protoc)
into a directory on PYTHONPATH; see the shell script.
"""

import base64
import collections
import gzip
import os
import subprocess
import tempfile
import queue
import socket
import struct
import sys
import threading
import time
import urllib.parse
from concurrent import futures

import grpc
from src.proto.grpc.testing import empty_pb2, messages_pb2, test_pb2_grpc

STATUS_MESSAGE = "test status message"
SPECIAL_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
INITIAL_KEY, INITIAL_VALUE = "x-grpc-test-echo-initial", "test_initial_metadata_value"
TRAILING_KEY, TRAILING_VALUE = "x-grpc-test-echo-trailing-bin", b"\xab\xab\xab"


def payload(n):
    return messages_pb2.Payload(body=b"\0" * n)


def check(cond, what):
    if not cond:
        raise AssertionError(what)


# --- the flag tap ---------------------------------------------------------------

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class FrameReader:
    """Reads gRPC messages out of one direction of an HTTP/2 connection."""

    def __init__(self, client_side, on_message):
        self.buf = b""
        self.skip_preface = client_side
        self.streams = collections.defaultdict(bytes)
        self.on_message = on_message

    def feed(self, data):
        self.buf += data
        if self.skip_preface:
            if len(self.buf) < len(PREFACE):
                return
            self.buf = self.buf[len(PREFACE):]
            self.skip_preface = False
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[0:3], "big")
            if len(self.buf) < 9 + length:
                return
            ftype, flags = self.buf[3], self.buf[4]
            stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
            payload = self.buf[9:9 + length]
            self.buf = self.buf[9 + length:]
            if ftype != 0:  # only DATA frames carry messages
                continue
            if flags & 0x8 and payload:  # PADDED
                pad = payload[0]
                payload = payload[1:len(payload) - pad]
            pending = self.streams[stream] + payload
            while len(pending) >= 5:
                compressed, n = pending[0], struct.unpack(">I", pending[1:5])[0]
                if len(pending) < 5 + n:
                    break
                data = pending[5:5 + n]
                pending = pending[5 + n:]
                self.on_message(stream, bool(compressed & 1), data)
            self.streams[stream] = pending


class FlagTap:
    """A loopback relay from a listening port to `backend` that notes the
    compressed flag of every gRPC message it forwards."""

    def __init__(self, backend_port, listen_port=0):
        self.backend = ("127.0.0.1", backend_port)
        self.lock = threading.Lock()
        # Requests (client to server): flags by the message's plain bytes.
        self.requests = collections.defaultdict(collections.deque)
        # Responses (server to client): flags in arrival order.
        self.responses = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", listen_port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            front, _ = self.sock.accept()
            back = socket.create_connection(self.backend)
            for s in (front, back):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            up = FrameReader(True, self.on_request)
            down = FrameReader(False, self.on_response)
            threading.Thread(target=self.pump, args=(front, back, up), daemon=True).start()
            threading.Thread(target=self.pump, args=(back, front, down), daemon=True).start()

    def pump(self, src, dst, reader):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                # Noted before forwarding, so a flag is known by the time
                # the peer has the message.
                reader.feed(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    @staticmethod
    def plain(compressed, data):
        return gzip.decompress(data) if compressed else data

    def on_request(self, _stream, compressed, data):
        try:
            key = self.plain(compressed, data)
        except OSError:
            return
        with self.lock:
            self.requests[key].append(compressed)

    def on_response(self, _stream, compressed, _data):
        with self.lock:
            self.responses.append(compressed)

    def request_flag(self, message):
        """How a request message (as the handler got it) came: True
        compressed, False not, None if the tap did not see it."""
        key = message.SerializeToString()
        with self.lock:
            q = self.requests.get(key)
            if not q:
                return None
            flag = q.popleft()
            if not q:
                del self.requests[key]
            return flag

    def take_responses(self):
        with self.lock:
            r, self.responses = self.responses, []
            return r


# --- client cases -----------------------------------------------------------

def empty_unary(stub):
    r = stub.EmptyCall(empty_pb2.Empty(), timeout=10)
    check(r == empty_pb2.Empty(), "not empty")


def large_unary(stub):
    r = stub.UnaryCall(messages_pb2.SimpleRequest(
        response_type=messages_pb2.COMPRESSABLE, response_size=314159,
        payload=payload(271828)), timeout=10)
    check(len(r.payload.body) == 314159, "payload size %d" % len(r.payload.body))


def large_request(**kw):
    return messages_pb2.SimpleRequest(response_size=314159, payload=payload(271828), **kw)


def client_compressed_unary(stub):
    # The feature probe: uncompressed, claiming compression.
    expect_error(lambda: stub.UnaryCall(large_request(
        expect_compressed=messages_pb2.BoolValue(value=True)), timeout=10),
        grpc.StatusCode.INVALID_ARGUMENT)
    r = stub.UnaryCall(large_request(expect_compressed=messages_pb2.BoolValue(value=True)),
                       timeout=10, compression=grpc.Compression.Gzip)
    check(len(r.payload.body) == 314159, "payload size")
    r = stub.UnaryCall(large_request(expect_compressed=messages_pb2.BoolValue(value=False)),
                       timeout=10)
    check(len(r.payload.body) == 314159, "payload size")


def client_deflate(stub):
    # grpcio's other compression, Compression.Deflate: grpc-core's
    # "deflate", the zlib format. Not an interop-spec case (the spec uses
    # gzip), but what a grpcio user may pick; a server knowing only gzip
    # fails every such call with UNIMPLEMENTED.
    r = stub.UnaryCall(large_request(expect_compressed=messages_pb2.BoolValue(value=True)),
                       timeout=10, compression=grpc.Compression.Deflate)
    check(len(r.payload.body) == 314159, "payload size")
    r = stub.StreamingInputCall(iter([
        messages_pb2.StreamingInputCallRequest(
            expect_compressed=messages_pb2.BoolValue(value=True), payload=payload(27182)),
        messages_pb2.StreamingInputCallRequest(
            expect_compressed=messages_pb2.BoolValue(value=True), payload=payload(45904)),
    ]), timeout=10, compression=grpc.Compression.Deflate)
    check(r.aggregated_payload_size == 73086, "aggregated %d" % r.aggregated_payload_size)


def server_compressed_unary(stub, tap):
    for compressed in (True, False):
        tap.take_responses()
        r = stub.UnaryCall(large_request(
            response_compressed=messages_pb2.BoolValue(value=compressed)), timeout=10)
        check(len(r.payload.body) == 314159, "payload size")
        flags = tap.take_responses()
        check(flags == [compressed], "response_compressed %s: flags %r" % (compressed, flags))


def client_compressed_streaming(stub):
    # The feature probe: uncompressed, claiming compression.
    expect_error(lambda: stub.StreamingInputCall(iter([messages_pb2.StreamingInputCallRequest(
        expect_compressed=messages_pb2.BoolValue(value=True), payload=payload(27182))]), timeout=10),
        grpc.StatusCode.INVALID_ARGUMENT)
    # grpcio's Python API compresses every message of a call or none (no
    # per-message switch, unlike the C++ WriteOptions::set_no_compression):
    # the second message goes compressed too and says so. Reported in the
    # PASS line.
    r = stub.StreamingInputCall(iter([
        messages_pb2.StreamingInputCallRequest(
            expect_compressed=messages_pb2.BoolValue(value=True), payload=payload(27182)),
        messages_pb2.StreamingInputCallRequest(
            expect_compressed=messages_pb2.BoolValue(value=True), payload=payload(45904)),
    ]), timeout=10, compression=grpc.Compression.Gzip)
    check(r.aggregated_payload_size == 73086, "aggregated %d" % r.aggregated_payload_size)
    return "second message compressed too: grpcio Python has no per-message switch"


def server_compressed_streaming(stub, tap):
    tap.take_responses()
    req = messages_pb2.StreamingOutputCallRequest(response_parameters=[
        messages_pb2.ResponseParameters(size=31415, compressed=messages_pb2.BoolValue(value=True)),
        messages_pb2.ResponseParameters(size=92653, compressed=messages_pb2.BoolValue(value=False)),
    ])
    got = [len(r.payload.body) for r in stub.StreamingOutputCall(req, timeout=10)]
    check(got == [31415, 92653], "sizes %r" % got)
    flags = tap.take_responses()
    check(flags == [True, False], "flags %r, want [True, False]" % flags)


def client_streaming(stub):
    sizes = [27182, 8, 1828, 45904]
    r = stub.StreamingInputCall(
        iter([messages_pb2.StreamingInputCallRequest(payload=payload(n)) for n in sizes]), timeout=10)
    check(r.aggregated_payload_size == 74922, "aggregated %d" % r.aggregated_payload_size)


def server_streaming(stub):
    sizes = [31415, 9, 2653, 58979]
    req = messages_pb2.StreamingOutputCallRequest(
        response_type=messages_pb2.COMPRESSABLE,
        response_parameters=[messages_pb2.ResponseParameters(size=n) for n in sizes])
    got = [len(r.payload.body) for r in stub.StreamingOutputCall(req, timeout=10)]
    check(got == sizes, "sizes %r" % got)


class Pipe:
    """A request iterator fed from the test thread."""

    def __init__(self):
        self.q = queue.Queue()

    def add(self, item):
        self.q.put(item)

    def close(self):
        self.q.put(None)

    def __iter__(self):
        return self

    def __next__(self):
        item = self.q.get()
        if item is None:
            raise StopIteration
        return item


def ping_pong(stub):
    pairs = [(31415, 27182), (9, 8), (2653, 1828), (58979, 45904)]
    pipe = Pipe()
    call = stub.FullDuplexCall(pipe, timeout=10)
    for rsize, psize in pairs:
        pipe.add(messages_pb2.StreamingOutputCallRequest(
            response_type=messages_pb2.COMPRESSABLE,
            response_parameters=[messages_pb2.ResponseParameters(size=rsize)],
            payload=payload(psize)))
        r = next(call)
        check(len(r.payload.body) == rsize, "size %d" % len(r.payload.body))
    pipe.close()
    check(next(call, None) is None, "extra response")


def empty_stream(stub):
    got = list(stub.FullDuplexCall(iter([]), timeout=10))
    check(got == [], "responses on an empty stream")


def expect_error(fn, code, details=None):
    try:
        fn()
    except grpc.RpcError as e:
        check(e.code() == code, "code %s, want %s (%s)" % (e.code(), code, e.details()))
        if details is not None:
            check(e.details() == details, "details %r" % e.details())
        return e
    raise AssertionError("no error, want %s" % code)


def status_code_and_message(stub):
    status = messages_pb2.EchoStatus(code=2, message=STATUS_MESSAGE)
    expect_error(lambda: stub.UnaryCall(messages_pb2.SimpleRequest(response_status=status), timeout=10),
                 grpc.StatusCode.UNKNOWN, STATUS_MESSAGE)
    expect_error(lambda: list(stub.FullDuplexCall(
        iter([messages_pb2.StreamingOutputCallRequest(response_status=status)]), timeout=10)),
        grpc.StatusCode.UNKNOWN, STATUS_MESSAGE)


def special_status_message(stub):
    status = messages_pb2.EchoStatus(code=2, message=SPECIAL_MESSAGE)
    expect_error(lambda: stub.UnaryCall(messages_pb2.SimpleRequest(response_status=status), timeout=10),
                 grpc.StatusCode.UNKNOWN, SPECIAL_MESSAGE)


def custom_metadata(stub):
    md = ((INITIAL_KEY, INITIAL_VALUE), (TRAILING_KEY, TRAILING_VALUE))

    def verify(initial, trailing):
        i = dict(initial)
        t = dict(trailing)
        check(i.get(INITIAL_KEY) == INITIAL_VALUE, "initial %r" % (initial,))
        check(t.get(TRAILING_KEY) == TRAILING_VALUE, "trailing %r" % (trailing,))

    r, call = stub.UnaryCall.with_call(messages_pb2.SimpleRequest(
        response_size=314159, payload=payload(271828)), metadata=md, timeout=10)
    check(len(r.payload.body) == 314159, "size")
    verify(call.initial_metadata(), call.trailing_metadata())
    call = stub.FullDuplexCall(iter([messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=314159)],
        payload=payload(271828))]), metadata=md, timeout=10)
    got = [len(r.payload.body) for r in call]
    check(got == [314159], "sizes %r" % got)
    verify(call.initial_metadata(), call.trailing_metadata())


def timeout_on_sleeping_server(stub):
    pipe = Pipe()
    call = stub.FullDuplexCall(pipe, timeout=0.001)
    pipe.add(messages_pb2.StreamingOutputCallRequest(payload=payload(27182)))
    try:
        next(call)
        raise AssertionError("a response before the deadline")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, "code %s" % e.code())
    finally:
        pipe.close()


def server_side_deadline(stub):
    """Not a standard case: the server sleeps 2 s before its response; the
    5 ms deadline must end the call (whoever notices first)."""
    req = messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=1, interval_us=2000000)])
    expect_error(lambda: list(stub.StreamingOutputCall(req, timeout=0.05)),
                 grpc.StatusCode.DEADLINE_EXCEEDED)


def cancel_after_begin(stub):
    pipe = Pipe()
    fut = stub.StreamingInputCall.future(pipe, timeout=10)
    time.sleep(0.05)
    fut.cancel()
    check(fut.cancelled(), "not cancelled")
    check(fut.code() == grpc.StatusCode.CANCELLED, "code %s" % fut.code())
    pipe.close()


def cancel_after_first_response(stub):
    pipe = Pipe()
    call = stub.FullDuplexCall(pipe, timeout=10)
    pipe.add(messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=31415)],
        payload=payload(27182)))
    r = next(call)
    check(len(r.payload.body) == 31415, "size")
    call.cancel()
    try:
        next(call)
        raise AssertionError("a response after cancel")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.CANCELLED, "code %s" % e.code())
    pipe.close()


def unimplemented_method(stub):
    expect_error(lambda: stub.UnimplementedCall(empty_pb2.Empty(), timeout=10),
                 grpc.StatusCode.UNIMPLEMENTED)


def unimplemented_service(channel):
    stub = test_pb2_grpc.UnimplementedServiceStub(channel)
    expect_error(lambda: stub.UnimplementedCall(empty_pb2.Empty(), timeout=10),
                 grpc.StatusCode.UNIMPLEMENTED)


def run_client(target, label):
    host, port = target.rsplit(":", 1)
    check(host in ("127.0.0.1", "localhost"), "loopback targets only")
    tap = FlagTap(int(port))
    failed = 0
    with grpc.insecure_channel("127.0.0.1:%d" % tap.port) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        stub = test_pb2_grpc.TestServiceStub(channel)
        cases = [
            ("empty_unary", lambda: empty_unary(stub)),
            ("large_unary", lambda: large_unary(stub)),
            ("client_streaming", lambda: client_streaming(stub)),
            ("server_streaming", lambda: server_streaming(stub)),
            ("ping_pong", lambda: ping_pong(stub)),
            ("empty_stream", lambda: empty_stream(stub)),
            ("status_code_and_message", lambda: status_code_and_message(stub)),
            ("special_status_message", lambda: special_status_message(stub)),
            ("custom_metadata", lambda: custom_metadata(stub)),
            ("unimplemented_method", lambda: unimplemented_method(stub)),
            ("unimplemented_service", lambda: unimplemented_service(channel)),
            ("timeout_on_sleeping_server", lambda: timeout_on_sleeping_server(stub)),
            ("cancel_after_begin", lambda: cancel_after_begin(stub)),
            ("cancel_after_first_response", lambda: cancel_after_first_response(stub)),
            ("client_compressed_unary", lambda: client_compressed_unary(stub)),
            ("server_compressed_unary", lambda: server_compressed_unary(stub, tap)),
            ("client_compressed_streaming", lambda: client_compressed_streaming(stub)),
            ("server_compressed_streaming", lambda: server_compressed_streaming(stub, tap)),
            ("server_side_deadline", lambda: server_side_deadline(stub)),
            ("client_deflate", lambda: client_deflate(stub)),
        ]
        for name, fn in cases:
            try:
                note = fn()
                print("PASS %s %s%s" % (label, name, " (%s)" % note if note else ""), flush=True)
            except Exception as e:  # noqa: BLE001 - report every failure
                failed += 1
                print("FAIL %s %s: %s: %s" % (label, name, type(e).__name__, e), flush=True)
    return failed


# --- raw gRPC-Web over HTTP/1.1 (curl) -------------------------------------------

def web_text_decode(body):
    """gRPC-Web text: base64 whose chunks may each end with padding, so it
    is decoded four characters at a time."""
    s = b"".join(body.split())
    check(len(s) % 4 == 0, "text body length %d" % len(s))
    return b"".join(base64.b64decode(s[i:i + 4]) for i in range(0, len(s), 4))


def web_call(target, method, request, text):
    """POSTs one framed request with curl; returns (status line code,
    headers, messages, trailers)."""
    ct = "application/grpc-web-text" if text else "application/grpc-web+proto"
    data = request.SerializeToString()
    frame = b"\0" + struct.pack(">I", len(data)) + data
    with tempfile.TemporaryDirectory() as tmp:
        head = os.path.join(tmp, "head")
        out = subprocess.run(
            ["curl", "-sS", "--http1.1", "-m", "10", "-X", "POST",
             "-H", "Content-Type: " + ct, "-H", "Accept: " + ct, "-H", "X-Grpc-Web: 1",
             "--data-binary", "@-", "-D", head,
             "http://%s/grpc.testing.TestService/%s" % (target, method)],
            input=base64.b64encode(frame) if text else frame, capture_output=True, check=True).stdout
        with open(head, "rb") as f:
            lines = f.read().decode("latin-1").split("\r\n")
    code = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    body = web_text_decode(out) if text else out
    messages, trailers = [], {}
    while body:
        check(len(body) >= 5, "a cut frame")
        flag, n = body[0], struct.unpack(">I", body[1:5])[0]
        chunk, body = body[5:5 + n], body[5 + n:]
        check(len(chunk) == n, "a cut frame")
        if flag & 0x80:
            for line in chunk.decode("latin-1").split("\r\n"):
                if ":" in line:
                    k, v = line.split(":", 1)
                    trailers[k.strip().lower()] = v.strip()
        else:
            check(flag == 0, "flag %d" % flag)
            messages.append(chunk)
    return code, headers, messages, trailers


def web_unary(target, text):
    code, headers, msgs, trailers = web_call(target, "UnaryCall", messages_pb2.SimpleRequest(
        response_size=1000, payload=payload(500)), text)
    check(code == 200, "HTTP %d" % code)
    want = "application/grpc-web-text" if text else "application/grpc-web"
    check(headers.get("content-type", "").startswith(want), "content-type %r" % headers.get("content-type"))
    check(len(msgs) == 1, "%d messages" % len(msgs))
    r = messages_pb2.SimpleResponse.FromString(msgs[0])
    check(len(r.payload.body) == 1000, "payload size %d" % len(r.payload.body))
    check(trailers.get("grpc-status") == "0", "trailers %r" % trailers)


def web_server_streaming(target, text):
    sizes = [31415, 9, 2653]
    code, _, msgs, trailers = web_call(target, "StreamingOutputCall", messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=n) for n in sizes]), text)
    check(code == 200, "HTTP %d" % code)
    got = [len(messages_pb2.StreamingOutputCallResponse.FromString(m).payload.body) for m in msgs]
    check(got == sizes, "sizes %r" % got)
    check(trailers.get("grpc-status") == "0", "trailers %r" % trailers)


def web_status(target, text):
    code, headers, msgs, trailers = web_call(target, "UnaryCall", messages_pb2.SimpleRequest(
        response_status=messages_pb2.EchoStatus(code=2, message=STATUS_MESSAGE)), text)
    check(code == 200, "HTTP %d" % code)
    check(msgs == [], "messages on an error")
    # Trailers-only: the status may come in the head instead of a frame.
    fields = dict(headers, **trailers)
    check(fields.get("grpc-status") == "2", "status %r" % fields.get("grpc-status"))
    message = urllib.parse.unquote(fields.get("grpc-message", ""))
    check(message == STATUS_MESSAGE, "message %r" % fields.get("grpc-message"))


def run_web(target, label):
    failed = 0
    for name, fn in [("unary", web_unary), ("server_streaming", web_server_streaming),
                     ("error_status", web_status)]:
        for text in (False, True):
            case = "grpc-web%s %s" % ("-text" if text else "", name)
            try:
                fn(target, text)
                print("PASS %s %s" % (label, case), flush=True)
            except Exception as e:  # noqa: BLE001 - report every failure
                failed += 1
                print("FAIL %s %s: %s: %s" % (label, case, type(e).__name__, e), flush=True)
    return failed


# --- server -------------------------------------------------------------------

def code_of(n):
    for c in grpc.StatusCode:
        if c.value[0] == n:
            return c
    return grpc.StatusCode.UNKNOWN


def echo_metadata(context):
    md = dict(context.invocation_metadata())
    if INITIAL_KEY in md:
        context.send_initial_metadata(((INITIAL_KEY, md[INITIAL_KEY]),))
    if TRAILING_KEY in md:
        context.set_trailing_metadata(((TRAILING_KEY, md[TRAILING_KEY]),))


def set_status(context, status):
    if status is not None and status.code != 0:
        context.set_code(code_of(status.code))
        context.set_details(status.message)
        return True
    return False


class TestService(test_pb2_grpc.TestServiceServicer):
    def __init__(self, tap):
        self.tap = tap

    def compression_mismatch(self, request, context):
        """The CompressedRequest feature: True (and the call failed with
        INVALID_ARGUMENT) if `expect_compressed` does not match the flag."""
        if not request.HasField("expect_compressed"):
            return False
        flag = self.tap.request_flag(request)
        want = request.expect_compressed.value
        if flag is None:
            context.set_code(grpc.StatusCode.INTERNAL)
            context.set_details("the flag tap did not see this request message")
            return True
        if flag != want:
            context.set_code(grpc.StatusCode.INVALID_ARGUMENT)
            context.set_details("expected a %scompressed request message" % ("" if want else "un"))
            return True
        return False

    @staticmethod
    def stream_out(params, context):
        """Responses per ResponseParameters; `compressed` chooses per
        message (the call compresses with gzip, a message may opt out)."""
        if any(p.compressed.value for p in params):
            context.set_compression(grpc.Compression.Gzip)
        for p in params:
            if p.interval_us:
                time.sleep(p.interval_us / 1e6)
            if not p.compressed.value:
                context.disable_next_message_compression()
            yield messages_pb2.StreamingOutputCallResponse(payload=payload(p.size))

    def EmptyCall(self, request, context):
        echo_metadata(context)
        return empty_pb2.Empty()

    def UnaryCall(self, request, context):
        echo_metadata(context)
        if self.compression_mismatch(request, context):
            return messages_pb2.SimpleResponse()
        if request.HasField("response_status") and set_status(context, request.response_status):
            return messages_pb2.SimpleResponse()
        if request.response_compressed.value:
            context.set_compression(grpc.Compression.Gzip)
        else:
            context.disable_next_message_compression()
        return messages_pb2.SimpleResponse(payload=payload(request.response_size))

    CacheableUnaryCall = UnaryCall

    def StreamingOutputCall(self, request, context):
        echo_metadata(context)
        yield from self.stream_out(request.response_parameters, context)
        if request.HasField("response_status"):
            set_status(context, request.response_status)

    def StreamingInputCall(self, request_iterator, context):
        echo_metadata(context)
        total = 0
        for r in request_iterator:
            if self.compression_mismatch(r, context):
                return messages_pb2.StreamingInputCallResponse()
            total += len(r.payload.body)
        return messages_pb2.StreamingInputCallResponse(aggregated_payload_size=total)

    def FullDuplexCall(self, request_iterator, context):
        echo_metadata(context)
        for r in request_iterator:
            if r.HasField("response_status") and set_status(context, r.response_status):
                return
            yield from self.stream_out(r.response_parameters, context)

    def HalfDuplexCall(self, request_iterator, context):
        for r in list(request_iterator):
            for p in r.response_parameters:
                yield messages_pb2.StreamingOutputCallResponse(payload=payload(p.size))


def run_server(port):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    inner = server.add_insecure_port("127.0.0.1:0")
    # Clients connect to the tap on PORT, which relays to grpcio.
    tap = FlagTap(inner, port)
    test_pb2_grpc.add_TestServiceServicer_to_server(TestService(tap), server)
    server.start()
    print("listening on 127.0.0.1:%d (grpcio on %d behind the flag tap)" % (port, inner), flush=True)
    server.wait_for_termination()


# --- grpc.health.v1 (grpcio-health-checking) against `wirestate serve` -----------

SERVED = ["", "grpc.testing.TestService", "grpc.health.v1.Health", "wirestate.echo.v1.Echo"]


def run_health(target, label, pid):
    """The health cases; the last one shuts the server (PID) down."""
    import signal

    from grpc_health.v1 import health_pb2, health_pb2_grpc

    status = health_pb2.HealthCheckResponse
    failed = 0
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        stub = health_pb2_grpc.HealthStub(channel)

        def check_serving():
            for service in SERVED:
                r = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
                check(r.status == status.SERVING, "%r: %s" % (service, r))

        def check_unknown():
            expect_error(lambda: stub.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=10),
                         grpc.StatusCode.NOT_FOUND)

        def watch_unknown():
            call = stub.Watch(health_pb2.HealthCheckRequest(service="nope"), timeout=10)
            first = next(call)
            call.cancel()
            check(first.status == status.SERVICE_UNKNOWN, "first message %s" % first)

        def client_side_health_checking():
            # grpcio's own health checking (the C core watches the service
            # of the service config and sends calls only while SERVING).
            config = ('{"loadBalancingConfig": [{"round_robin": {}}],'
                      ' "healthCheckConfig": {"serviceName": "grpc.testing.TestService"}}')
            with grpc.insecure_channel(target, options=[("grpc.service_config", config)]) as ch:
                r = test_pb2_grpc.TestServiceStub(ch).EmptyCall(empty_pb2.Empty(), timeout=10,
                                                               wait_for_ready=True)
                check(r == empty_pb2.Empty(), "EmptyCall answered")

        def watch_drains_on_shutdown():
            call = stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=20)
            first = next(call)
            check(first.status == status.SERVING, "first message %s" % first)
            os.kill(pid, signal.SIGINT)  # `wirestate serve`: graceful shutdown
            second = next(call)
            check(second.status == status.NOT_SERVING, "after shutdown %s" % second)
            try:
                extra = next(call)
                raise AssertionError("a message after NOT_SERVING: %s" % extra)
            except grpc.RpcError as e:
                check(e.code() == grpc.StatusCode.UNAVAILABLE, "ended with %s" % e.code())

        cases = [
            ("health_check_serving", check_serving),
            ("health_check_not_found", check_unknown),
            ("health_watch_service_unknown", watch_unknown),
            ("health_client_side_checking", client_side_health_checking),
            ("health_watch_drains_on_shutdown", watch_drains_on_shutdown),
        ]
        for name, fn in cases:
            try:
                fn()
                print("PASS %s %s" % (label, name), flush=True)
            except Exception as e:  # noqa: BLE001 - report every failure
                failed += 1
                print("FAIL %s %s: %s: %s" % (label, name, type(e).__name__, e), flush=True)
    return failed


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "client":
        label = sys.argv[3] if len(sys.argv) > 3 else sys.argv[2]
        sys.exit(1 if run_client(sys.argv[2], label) else 0)
    if len(sys.argv) >= 3 and sys.argv[1] == "web":
        label = sys.argv[3] if len(sys.argv) > 3 else sys.argv[2]
        sys.exit(1 if run_web(sys.argv[2], label) else 0)
    if len(sys.argv) == 5 and sys.argv[1] == "health":
        sys.exit(1 if run_health(sys.argv[2], sys.argv[3], int(sys.argv[4])) else 0)
    if len(sys.argv) == 3 and sys.argv[1] == "server":
        run_server(int(sys.argv[2]))
        return
    print(__doc__, file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main()
