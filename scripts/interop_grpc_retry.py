"""A grpcio (C core) server for our channels' retries and keep-alive
back-off (run by scripts/interop-grpc-retry.sh).

    interop_grpc_retry.py PORT

Serves, with raw bytes (no generated stubs):

* /retry.Test/Unary: notes the call's attempt (by its `x-key` metadata,
  with the `grpc-previous-rpc-attempts` value the core hands the
  application, or -1 without one) and fails with `x-code` (default
  UNAVAILABLE) while fewer than `x-fail` attempts of that key came before,
  with `x-pushback` as `grpc-retry-pushback-ms` in the trailers if given;
  otherwise answers a SimpleResponse whose username is "after N".
* /retry.Test/Seen: the attempts noted for the key in the request's
  username field ... as a SimpleResponse username "a,b,c".
* /retry.Test/Stream: one message, then UNAVAILABLE (headers sent: a
  committed call).
* /retry.Test/Upload (client streaming): notes the attempt as Unary does,
  reads every request (SimpleRequest-shaped, response_size only), then
  fails as Unary does or answers "after N: [a, b, c]" with the numbers.
* /retry.Test/Bidi: notes the attempt, fails at once (before reading) as
  Unary does, or answers each request with "N:n"; with `x-commit`, one
  answer then UNAVAILABLE (a committed call).
* /retry.Test/Slow (for hedging): notes the attempt as Unary does, sleeps
  the `x-delays` entry of its attempt number (milliseconds, comma
  separated, by grpc-previous-rpc-attempts) unless the call is cancelled
  meanwhile, then notes the attempt under "KEY/done" and fails as Unary
  does or answers "attempt N". /retry.Test/SlowStream does the same and
  streams N+1 messages (grpcio sends the headers with the first one), and
  /retry.Test/SlowBidi answers each request with "N:n" after its sleep.

The server enforces a minimum ping interval of 200 ms with 2 strikes
(grpc.http2.min_ping_interval_without_data_ms, grpc.http2.max_ping_strikes;
pings without calls permitted), so a client pinging more often gets GOAWAY
ENHANCE_YOUR_CALM "too_many_pings". Loopback only.
"""

import sys
import threading
import time
from concurrent import futures

import grpc

seen = {}
lock = threading.Lock()


def string_field(number, text):
    """One protobuf length-delimited string field."""
    data = text.encode()
    out = bytearray([number << 3 | 2])
    n = len(data)
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            break
    return bytes(out) + data


def parse_username(request):
    """The username (field 2) of a SimpleRequest-shaped message we sent:
    our test sends only that field, so a tiny reader is enough."""
    if len(request) >= 2 and request[0] == (2 << 3 | 2):
        n = request[1]
        return request[2 : 2 + n].decode()
    return ""


def note_attempt(context):
    """Notes a call's attempt; returns (attempts before, the metadata,
    whether this attempt is to fail)."""
    md = dict(context.invocation_metadata())
    key = md.get("x-key", "")
    previous = int(md.get("grpc-previous-rpc-attempts", "-1"))
    with lock:
        seen.setdefault(key, []).append(previous)
        made = len(seen[key]) - 1
    return made, md, made < int(md.get("x-fail", "0"))


def fail_attempt(context, md, made):
    if "x-pushback" in md:
        context.set_trailing_metadata((("grpc-retry-pushback-ms", md["x-pushback"]),))
    code = next(c for c in grpc.StatusCode if c.value[0] == int(md.get("x-code", "14")))
    context.abort(code, "attempt %d fails" % made)


def unary(request, context):
    made, md, fail = note_attempt(context)
    if fail:
        fail_attempt(context, md, made)
    return string_field(2, "after %d" % made)


def parse_size(request):
    """The response_size (field 2, a small varint) of a SimpleRequest."""
    if len(request) >= 2 and request[0] == (2 << 3):
        return request[1]
    return 0


def upload(request_iterator, context):
    made, md, fail = note_attempt(context)
    got = [parse_size(r) for r in request_iterator]
    if fail:
        fail_attempt(context, md, made)
    return string_field(2, "after %d: [%s]" % (made, ", ".join(str(n) for n in got)))


def bidi(request_iterator, context):
    made, md, fail = note_attempt(context)
    if fail:
        fail_attempt(context, md, made)
    for r in request_iterator:
        yield string_field(2, "%d:%d" % (made, parse_size(r)))
        if "x-commit" in md:
            context.abort(grpc.StatusCode.UNAVAILABLE, "failed after the first message")


def attempt_number(md):
    """The attempt's number: grpc-previous-rpc-attempts (0 without)."""
    return max(0, int(md.get("grpc-previous-rpc-attempts", "0")))


def sleep_planned(context, md):
    """Sleeps this attempt's x-delays entry in small steps; returns
    whether the call is still active (not cancelled by the client)."""
    n = attempt_number(md)
    delays = [int(d) for d in md.get("x-delays", "").split(",") if d]
    left = (delays[n] if n < len(delays) else 0) / 1000.0
    while left > 0:
        if not context.is_active():
            return False
        step = min(left, 0.01)
        time.sleep(step)
        left -= step
    return context.is_active()


def slow_start(context):
    """Notes the attempt, sleeps its delay, notes it done (unless
    cancelled, then None) and fails it if planned; its number."""
    made, md, fail = note_attempt(context)
    if not sleep_planned(context, md):
        return None
    n = attempt_number(md)
    with lock:
        seen.setdefault(md.get("x-key", "") + "/done", []).append(n)
    if n < int(md.get("x-fail", "0")):
        fail_attempt(context, md, n)
    return n


def slow(request, context):
    n = slow_start(context)
    if n is None:
        return b""
    return string_field(2, "attempt %d" % n)


def slow_stream(request, context):
    n = slow_start(context)
    if n is None:
        return
    for _ in range(n + 1):
        yield b""


def slow_bidi(request_iterator, context):
    n = slow_start(context)
    if n is None:
        return
    for r in request_iterator:
        yield string_field(2, "%d:%d" % (n, parse_size(r)))


def seen_of(request, context):
    key = parse_username(request)
    with lock:
        values = list(seen.get(key, []))
    return string_field(2, ",".join(str(v) for v in values))


def stream(request, context):
    yield b""
    context.abort(grpc.StatusCode.UNAVAILABLE, "failed after the first message")


def main():
    port = int(sys.argv[1])
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        options=[
            ("grpc.http2.min_ping_interval_without_data_ms", 200),
            ("grpc.http2.max_ping_strikes", 2),
            ("grpc.keepalive_permit_without_calls", 1),
        ],
    )
    handler = grpc.method_handlers_generic_handler(
        "retry.Test",
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "Seen": grpc.unary_unary_rpc_method_handler(seen_of),
            "Stream": grpc.unary_stream_rpc_method_handler(stream),
            "Upload": grpc.stream_unary_rpc_method_handler(upload),
            "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
            "Slow": grpc.unary_unary_rpc_method_handler(slow),
            "SlowStream": grpc.unary_stream_rpc_method_handler(slow_stream),
            "SlowBidi": grpc.stream_stream_rpc_method_handler(slow_bidi),
        },
    )
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port("127.0.0.1:%d" % port)
    server.start()
    print("listening on 127.0.0.1:%d" % port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
