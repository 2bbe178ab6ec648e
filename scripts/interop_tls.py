#!/usr/bin/env python3
"""The Python peers of scripts/interop-tls.sh: independent TLS clients and
servers (Python's ssl module, i.e. OpenSSL, under websockets, grpcio and
http.server) for wirestate's rustls-based TLS. Each command that checks
prints one `PASS LABEL: ...` / `FAIL LABEL: ...` line per check and exits 1
if any failed; the servers run on 127.0.0.1 until killed.

    interop_tls.py ws-client URL CA WRONG_CA LABEL     (websockets venv)
        wss:// echo of text and binary messages through URL (`wirestate
        serve`'s /ws) trusting CA; the handshake must fail against WRONG_CA.

    interop_tls.py wss-server PORT CERT KEY             (websockets venv)
        a wss:// echo server.

    interop_tls.py grpc-client TARGET CA WRONG_CA LABEL (grpc venv, stubs on PYTHONPATH)
        grpcio over TLS (ssl_channel_credentials) against `wirestate serve`:
        grpc.testing EmptyCall and UnaryCall, the health Check, the
        wirestate echo (unary and server streaming); UNAVAILABLE with
        WRONG_CA as the only root.

    interop_tls.py grpc-server PORT CERT KEY            (grpc venv, stubs on PYTHONPATH)
        a grpcio server over TLS (ssl_server_credentials) with the
        wirestate.echo.v1.Echo unary and server-streaming methods.

    interop_tls.py h2-client PORT CA LABEL              (h2 venv)
        Python h2 over ssl (ALPN h2 only) against `wirestate serve`:
        h2 negotiated, then GET /, POST /echo and GET /stream?n=1000 as
        concurrent streams on the one connection.

    interop_tls.py stall PORT LIMIT LABEL                (any python3)
        a client that sends the first 6 bytes of a ClientHello record and
        nothing more: the server must close the connection within LIMIT
        seconds (its handshake deadline), serving others meanwhile.

    interop_tls.py https-server PORT CERT KEY           (any python3)
        http.server behind an ssl.SSLContext offering ALPN http/1.1:
        GET / answers `hello over tls`, POST /echo echoes the body, and
        GET /alpn answers the protocol ALPN chose (`none` without ALPN).
"""

import asyncio
import ssl
import sys

TIMEOUT = 20  # seconds, per call


class Report:
    """The PASS/FAIL lines of one peer run and whether any failed."""

    def __init__(self, label):
        self.label = label
        self.failed = False

    def __call__(self, name, ok, detail=""):
        print("%s %s: %s" % ("PASS" if ok else "FAIL", self.label, name), flush=True)
        if not ok:
            self.failed = True
            if detail:
                print("    %s" % detail, flush=True)


def client_context(ca):
    """A client context trusting only CA, hostname checked (the default)."""
    return ssl.create_default_context(cafile=ca)


def server_context(cert, key, alpn):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


# --- websockets


async def ws_client(url, ca, wrong_ca, label):
    from websockets.asyncio.client import connect

    report = Report(label)
    options = dict(max_size=None, ping_interval=None, open_timeout=TIMEOUT, close_timeout=TIMEOUT, proxy=None)
    messages = ["hello over tls", "", "héllo wörld ✓ 日本語", b"\x00\x01\xfe\xff", bytes(range(256)) * 4096, "x" * 100000]
    try:
        async with connect(url, ssl=client_context(ca), **options) as ws:
            tls = ws.transport.get_extra_info("ssl_object")
            report("TLS version %s" % tls.version(), tls.version() in ("TLSv1.2", "TLSv1.3"))
            for m in messages:
                await ws.send(m)
                got = await asyncio.wait_for(ws.recv(), TIMEOUT)
                kind = "binary" if isinstance(m, bytes) else "text"
                report("echo %s message of %d bytes" % (kind, len(m)), got == m, "got %r" % (got[:60],))
            await ws.close(1000)
            report("close 1000 answered", ws.close_code == 1000, "close code %r" % ws.close_code)
    except Exception as e:  # noqa: BLE001 - any error fails the session's checks
        report("wss session", False, repr(e))
    try:
        async with connect(url, ssl=client_context(wrong_ca), **options):
            report("handshake refused with the wrong CA", False, "the connection opened")
    except ssl.SSLCertVerificationError:
        report("handshake refused with the wrong CA", True)
    except Exception as e:  # noqa: BLE001
        report("handshake refused with the wrong CA", False, "not a certificate error: %r" % e)
    return 1 if report.failed else 0


async def wss_server(port, cert, key):
    from websockets.asyncio.server import serve

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    ctx = server_context(cert, key, ["http/1.1"])
    async with serve(echo, "127.0.0.1", port, ssl=ctx, max_size=None, ping_interval=None):
        await asyncio.Future()


# --- grpcio


def grpc_client(target, ca, wrong_ca, label):
    import grpc
    from src.proto.grpc.testing import empty_pb2, messages_pb2, test_pb2_grpc
    import echo_pb2
    import echo_pb2_grpc
    import health_pb2
    import health_pb2_grpc

    report = Report(label)
    with open(ca, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())

    def call(name, fn, check):
        try:
            ok, detail = check(fn())
            report(name, ok, detail)
        except grpc.RpcError as e:
            report(name, False, "%s %s" % (e.code(), e.details()))

    with grpc.secure_channel(target, creds) as channel:
        test = test_pb2_grpc.TestServiceStub(channel)
        call("grpc.testing EmptyCall", lambda: test.EmptyCall(empty_pb2.Empty(), timeout=TIMEOUT), lambda r: (r == empty_pb2.Empty(), repr(r)))
        req = messages_pb2.SimpleRequest(response_size=314159, payload=messages_pb2.Payload(body=b"\0" * 271828))
        call(
            "grpc.testing UnaryCall (271828 bytes in, 314159 out)",
            lambda: test.UnaryCall(req, timeout=TIMEOUT),
            lambda r: (len(r.payload.body) == 314159, "body of %d bytes" % len(r.payload.body)),
        )
        health = health_pb2_grpc.HealthStub(channel)
        call(
            "health Check SERVING",
            lambda: health.Check(health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT),
            lambda r: (r.status == health_pb2.HealthCheckResponse.SERVING, repr(r)),
        )
        echo = echo_pb2_grpc.EchoStub(channel)
        payload = bytes(range(256)) * 4096
        call(
            "echo Echo (1 MiB payload)",
            lambda: echo.Echo(echo_pb2.EchoRequest(message="tls", payload=payload), timeout=TIMEOUT),
            lambda r: (r.message == "tls" and r.payload == payload, "message %r, payload of %d bytes" % (r.message, len(r.payload))),
        )
        call(
            "echo EchoStream repeat=5",
            lambda: list(echo.EchoStream(echo_pb2.EchoRequest(message="s", repeat=5), timeout=TIMEOUT)),
            lambda rs: ([r.index for r in rs] == [0, 1, 2, 3, 4] and all(r.message == "s" for r in rs), repr(rs)),
        )

    with open(wrong_ca, "rb") as f:
        wrong = grpc.ssl_channel_credentials(root_certificates=f.read())
    with grpc.secure_channel(target, wrong) as channel:
        try:
            test_pb2_grpc.TestServiceStub(channel).EmptyCall(empty_pb2.Empty(), timeout=TIMEOUT)
            report("UNAVAILABLE with the wrong CA", False, "the call succeeded")
        except grpc.RpcError as e:
            report("UNAVAILABLE with the wrong CA", e.code() == grpc.StatusCode.UNAVAILABLE, "%s %s" % (e.code(), e.details()))
    return 1 if report.failed else 0


def grpc_server(port, cert, key):
    from concurrent import futures

    import echo_pb2
    import echo_pb2_grpc
    import grpc

    class Echo(echo_pb2_grpc.EchoServicer):
        def Echo(self, request, context):
            return echo_pb2.EchoResponse(message=request.message, payload=request.payload)

        def EchoStream(self, request, context):
            for i in range(request.repeat):
                yield echo_pb2.EchoResponse(message=request.message, payload=request.payload, index=i)

    with open(cert, "rb") as c, open(key, "rb") as k:
        creds = grpc.ssl_server_credentials([(k.read(), c.read())])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    echo_pb2_grpc.add_EchoServicer_to_server(Echo(), server)
    server.add_secure_port("127.0.0.1:%d" % port, creds)
    server.start()
    server.wait_for_termination()


# --- h2


def h2_client(port, ca, label):
    import socket

    import h2.connection
    import h2.events

    report = Report(label)
    ctx = client_context(ca)
    ctx.set_alpn_protocols(["h2"])
    try:
        sock = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(port)), TIMEOUT), server_hostname="127.0.0.1")
    except OSError as e:
        report("TLS handshake", False, repr(e))
        return 1
    report("ALPN h2 negotiated", sock.selected_alpn_protocol() == "h2", repr(sock.selected_alpn_protocol()))
    conn = h2.connection.H2Connection()
    conn.initiate_connection()
    requests = {}  # stream id -> (name, expected status, expected body or a check)
    for i in range(3):
        body = (b"stream %d " % i) * 100
        requests[len(requests) * 2 + 1] = ("POST /echo #%d" % i, "POST", "/echo", body, lambda b, body=body: b == body)
        requests[len(requests) * 2 + 1] = ("GET / #%d" % i, "GET", "/", b"", lambda b: b == b"hello")
    requests[len(requests) * 2 + 1] = ("GET /stream?n=1000", "GET", "/stream?n=1000", b"", lambda b: b.count(b"\n") == 1000)
    for sid, (_, method, path, body, _) in requests.items():
        headers = [(":method", method), (":scheme", "https"), (":authority", "127.0.0.1:%s" % port), (":path", path)]
        conn.send_headers(sid, headers, end_stream=not body)
        if body:
            conn.send_data(sid, body, end_stream=True)
    sock.sendall(conn.data_to_send())
    status, bodies, ended = {}, {sid: b"" for sid in requests}, set()
    try:
        while len(ended) < len(requests):
            data = sock.recv(65536)
            if not data:
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    status[event.stream_id] = dict(event.headers).get(b":status")
                elif isinstance(event, h2.events.DataReceived):
                    bodies[event.stream_id] += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    ended.add(event.stream_id)
                elif isinstance(event, h2.events.StreamReset):
                    ended.add(event.stream_id)
            sock.sendall(conn.data_to_send())
    except OSError as e:
        report("connection", False, repr(e))
    for sid, (name, _, _, _, check) in requests.items():
        ok = sid in ended and status.get(sid) == b"200" and check(bodies[sid])
        report("%s (stream %d)" % (name, sid), ok, "status %r, %d body bytes" % (status.get(sid), len(bodies[sid])))
    conn.close_connection()
    sock.sendall(conn.data_to_send())
    sock.close()
    return 1 if report.failed else 0


# --- a stalled handshake


def stall(port, limit, label):
    import socket
    import time

    report = Report(label)
    limit = float(limit)
    name = "stalled handshake (a partial ClientHello) closed within %g s" % limit
    with socket.create_connection(("127.0.0.1", int(port)), TIMEOUT) as sock:
        # A TLS handshake record header announcing 512 bytes, then one byte
        # of them: a ClientHello that never completes.
        sock.sendall(b"\x16\x03\x01\x02\x00\x01")
        sock.settimeout(limit)
        start = time.monotonic()
        try:
            while sock.recv(4096):  # an alert may come before the close
                pass
            report(name, True, "")
            print("    closed after %.1f s" % (time.monotonic() - start), flush=True)
        except socket.timeout:
            report(name, False, "still open after %g s" % limit)
        except OSError as e:  # a reset ends it too
            report(name, True, "")
            print("    ended after %.1f s: %r" % (time.monotonic() - start, e), flush=True)
    return 1 if report.failed else 0


# --- http.server


def https_server(port, cert, key):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def answer(self, body):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path == "/alpn":
                self.answer((self.connection.selected_alpn_protocol() or "none").encode())
            elif self.path == "/":
                self.answer(b"hello over tls")
            else:
                self.send_error(404)

        def do_POST(self):
            if self.path != "/echo":
                self.send_error(404)
                return
            self.answer(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.socket = server_context(cert, key, ["http/1.1"]).wrap_socket(server.socket, server_side=True)
    server.serve_forever()


def main(argv):
    cmd, args = (argv[1], argv[2:]) if len(argv) > 1 else ("", [])
    if cmd == "ws-client" and len(args) == 4:
        return asyncio.run(ws_client(*args))
    if cmd == "wss-server" and len(args) == 3:
        return asyncio.run(wss_server(int(args[0]), args[1], args[2]))
    if cmd == "grpc-client" and len(args) == 4:
        return grpc_client(*args)
    if cmd == "grpc-server" and len(args) == 3:
        return grpc_server(int(args[0]), args[1], args[2])
    if cmd == "h2-client" and len(args) == 3:
        return h2_client(*args)
    if cmd == "stall" and len(args) == 3:
        return stall(*args)
    if cmd == "https-server" and len(args) == 3:
        return https_server(int(args[0]), args[1], args[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
