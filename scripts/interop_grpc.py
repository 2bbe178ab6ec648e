"""gRPC interop peer built on grpcio (the C core), for scripts/interop-grpc.sh.

    interop_grpc.py client HOST:PORT   run the standard interop test cases
                                       against a TestService; one PASS/FAIL
                                       line per case; exit 1 on any failure
    interop_grpc.py server PORT        serve grpc.testing.TestService with
                                       grpcio (the interop server is not in
                                       the wheel) until killed

The grpc.testing stubs are generated at script time (grpc_tools.protoc)
into a directory on PYTHONPATH; see the shell script.
"""

import queue
import sys
import threading
import time
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


# --- client cases -----------------------------------------------------------

def empty_unary(stub):
    r = stub.EmptyCall(empty_pb2.Empty(), timeout=10)
    check(r == empty_pb2.Empty(), "not empty")


def large_unary(stub):
    r = stub.UnaryCall(messages_pb2.SimpleRequest(
        response_type=messages_pb2.COMPRESSABLE, response_size=314159,
        payload=payload(271828)), timeout=10)
    check(len(r.payload.body) == 314159, "payload size %d" % len(r.payload.body))


def client_compressed_unary(stub):
    r = stub.UnaryCall(messages_pb2.SimpleRequest(
        response_size=314159, payload=payload(271828)), timeout=10,
        compression=grpc.Compression.Gzip)
    check(len(r.payload.body) == 314159, "payload size")


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


CASES = [
    empty_unary, large_unary, client_compressed_unary, client_streaming, server_streaming,
    ping_pong, empty_stream, status_code_and_message, special_status_message, custom_metadata,
    timeout_on_sleeping_server, server_side_deadline, cancel_after_begin,
    cancel_after_first_response, unimplemented_method,
]


def run_client(target, label):
    failed = 0
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        stub = test_pb2_grpc.TestServiceStub(channel)
        cases = [(c.__name__, lambda c=c: c(stub)) for c in CASES]
        cases.append(("unimplemented_service", lambda: unimplemented_service(channel)))
        for name, fn in cases:
            try:
                fn()
                print("PASS %s %s" % (label, name), flush=True)
            except Exception as e:  # noqa: BLE001 - report every failure
                failed += 1
                print("FAIL %s %s: %s: %s" % (label, name, type(e).__name__, e), flush=True)
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
    def EmptyCall(self, request, context):
        echo_metadata(context)
        return empty_pb2.Empty()

    def UnaryCall(self, request, context):
        echo_metadata(context)
        if request.HasField("response_status") and set_status(context, request.response_status):
            return messages_pb2.SimpleResponse()
        return messages_pb2.SimpleResponse(payload=payload(request.response_size))

    CacheableUnaryCall = UnaryCall

    def StreamingOutputCall(self, request, context):
        echo_metadata(context)
        for p in request.response_parameters:
            if p.interval_us:
                time.sleep(p.interval_us / 1e6)
            yield messages_pb2.StreamingOutputCallResponse(payload=payload(p.size))
        if request.HasField("response_status"):
            set_status(context, request.response_status)

    def StreamingInputCall(self, request_iterator, context):
        echo_metadata(context)
        total = sum(len(r.payload.body) for r in request_iterator)
        return messages_pb2.StreamingInputCallResponse(aggregated_payload_size=total)

    def FullDuplexCall(self, request_iterator, context):
        echo_metadata(context)
        for r in request_iterator:
            if r.HasField("response_status") and set_status(context, r.response_status):
                return
            for p in r.response_parameters:
                if p.interval_us:
                    time.sleep(p.interval_us / 1e6)
                yield messages_pb2.StreamingOutputCallResponse(payload=payload(p.size))

    def HalfDuplexCall(self, request_iterator, context):
        for r in list(request_iterator):
            for p in r.response_parameters:
                yield messages_pb2.StreamingOutputCallResponse(payload=payload(p.size))


def run_server(port):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    test_pb2_grpc.add_TestServiceServicer_to_server(TestService(), server)
    server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    print("listening on 127.0.0.1:%d" % port, flush=True)
    server.wait_for_termination()


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "client":
        label = sys.argv[3] if len(sys.argv) > 3 else sys.argv[2]
        sys.exit(1 if run_client(sys.argv[2], label) else 0)
    if len(sys.argv) == 3 and sys.argv[1] == "server":
        run_server(int(sys.argv[2]))
        return
    print(__doc__, file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
    main()
