#!/usr/bin/env bash
# TLS interop: wirestate's rustls-based TLS against independent TLS stacks
# (OpenSSL under curl, nginx and Python; grpcio's own), on tokio, smol and
# blocking, with throwaway self-signed certificates (localhost + 127.0.0.1,
# CA:FALSE) made by the openssl CLI:
#   server side, `wirestate serve --tls-cert/--tls-key` against
#   - curl (OpenSSL): HTTP/1.1 and HTTP/2 chosen by ALPN (and
#     %{http_version} says which), GET /, HEAD, POST /echo (small and 1 MiB
#     compared byte for byte), /stream?n=1000, POST /mcp initialize, a DNS
#     name and the IP address checked against the certificate, TLS 1.2
#     only; refused (exit 60) with the wrong CA and a name the certificate
#     lacks; plain HTTP on the TLS port not served;
#   - openssl s_client: ALPN h2 and http/1.1 negotiated, chain verified;
#   - Python h2 over ssl (ALPN h2): concurrent GET, POST /echo and
#     /stream streams on one connection;
#   - Python websockets over wss:// (ssl context trusting the certificate):
#     text and binary echoes, close; the wrong CA refused;
#   - grpcio (ssl_channel_credentials): grpc.testing EmptyCall and
#     UnaryCall, the health Check, the wirestate echo (unary, server
#     streaming); UNAVAILABLE with the wrong CA;
#   - our own MCP client over https:// and wss:// (our code both ends);
#   mutual TLS, `wirestate serve --tls-client-ca` (a small client CA)
#   against curl --cert/--key (accepted, HTTP/1.1 and HTTP/2) and curl
#   without a certificate or with another CA's (refused), grpcio with
#   ssl_channel_credentials(root, private_key, certificate_chain) (and
#   UNAVAILABLE without one), and our `wirestate http --cert/--key`;
# client side, our clients (`wirestate http/ws/grpc/mcp --cacert`) against
#   - Python http.server behind ssl (ALPN http/1.1): GET, POST echo, the
#     ALPN we offered;
#   - nginx (OpenSSL) with `listen ... ssl http2`: HTTP/1.1 and HTTP/2 (by
#     ALPN, --http2-prior-knowledge) fetching 1 MiB byte for byte, and as a
#     TLS front for the official MCP Python SDK's Streamable HTTP server;
#   - a grpcio server (ssl_server_credentials): echo unary and streaming;
#   - a Python websockets wss:// echo server: lines echoed;
#   each refusing the wrong CA with a non-zero exit and a certificate
#   error;
#   mutual TLS, our clients with --cert/--key against a Python ssl HTTPS
#   server, a websockets wss:// server and a grpcio server that require a
#   client certificate (CERT_REQUIRED, require_client_auth): served with
#   it, refused without it.
# Python peers: scripts/interop_tls.py, in the venvs (and pins) of
# interop-websockets.sh, interop-grpc.sh and interop-mcpcli.sh, and h2_venv
# (scripts/lib/venv.sh). Loopback only; every peer run under `timeout`;
# every process ended by PID. One PASS/FAIL line per check, then
# `interop-tls: N passed, M failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/venv.sh
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
command -v openssl >/dev/null || { apt-get update -qq && apt-get install -y -qq openssl >/dev/null; }
command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; }

# The same venvs and pins as interop-websockets.sh, interop-grpc.sh and
# interop-mcpcli.sh: installed only when missing.
WEBSOCKETS_VERSION=17.4
GRPCIO_VERSION=1.85.4
MCP_VERSION=2.3.0
cache="${WIRESTATE_CACHE:-$HOME/.cache/wirestate}"
python_venv "$cache/venv-websockets" "import websockets, sys; sys.exit(websockets.__version__ != '$WEBSOCKETS_VERSION')" "websockets==$WEBSOCKETS_VERSION"
python_venv "$cache/venv-grpc" "import grpc, grpc_tools, sys; sys.exit(grpc.__version__ != '$GRPCIO_VERSION')" \
    "grpcio==$GRPCIO_VERSION" "grpcio-tools==$GRPCIO_VERSION"
python_venv "$cache/venv-mcp" "import importlib.metadata as m, sys; sys.exit(m.version('mcp') != '$MCP_VERSION')" "mcp==$MCP_VERSION"
wspy="$cache/venv-websockets/bin/python"
grpcpy="$cache/venv-grpc/bin/python"
mcppy="$cache/venv-mcp/bin/python"
h2_venv
h2py=$py
helper="$PWD/scripts/interop_tls.py"

cargo build --release --locked -q --bin wirestate
work=$(mktemp -d)
# A copy of the binary, so that another build sharing the target directory
# cannot swap it while the checks run.
mkdir -p "$work/bin"
cp "${CARGO_TARGET_DIR:-target}/release/wirestate" "$work/bin/"
bin="$work/bin/wirestate"
pids=()

. scripts/lib/tally.sh
. scripts/lib/nginx.sh
end_at_exit

# --- certificates: `good` is the servers'; `other` is unrelated, the
# wrong CA every refusal check trusts instead. Self-signed end-entity
# certificates (CA:FALSE), which rustls/webpki and OpenSSL both accept as
# their own trust anchor.
for name in good other; do
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=wirestate interop $name" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -addext "basicConstraints=critical,CA:FALSE" \
        -addext "extendedKeyUsage=serverAuth" -keyout "$work/$name.key" -out "$work/$name.pem" 2>"$work/openssl.log" \
        || { cat "$work/openssl.log"; exit 1; }
done
good="$work/good.pem"
other="$work/other.pem"
# Mutual TLS: a client CA (CA:TRUE), a client certificate it signed
# (CA:FALSE, clientAuth), and a stranger's self-signed client certificate
# no server trusts.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=wirestate interop client CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$work/clientca.key" -out "$work/clientca.pem" 2>"$work/openssl.log" || { cat "$work/openssl.log"; exit 1; }
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=mtls client" \
    -keyout "$work/client.key" -out "$work/client.csr" 2>"$work/openssl.log" || { cat "$work/openssl.log"; exit 1; }
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$work/client.ext"
openssl x509 -req -in "$work/client.csr" -CA "$work/clientca.pem" -CAkey "$work/clientca.key" -CAcreateserial -days 2 \
    -extfile "$work/client.ext" -out "$work/client.pem" 2>"$work/openssl.log" || { cat "$work/openssl.log"; exit 1; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=stranger" \
    -addext "basicConstraints=critical,CA:FALSE" -addext "extendedKeyUsage=clientAuth" \
    -keyout "$work/stranger.key" -out "$work/stranger.pem" 2>"$work/openssl.log" || { cat "$work/openssl.log"; exit 1; }
clientca="$work/clientca.pem"
mine="--cert $work/client.pem --key $work/client.key"
stranger="--cert $work/stranger.pem --key $work/stranger.key"

# The mutual TLS peers: Python on top of interop_tls.py's helpers.
cat >"$work/mtls.py" <<'PY'
"""mtls.py grpc-client TARGET CA CERT KEY STRANGER_CERT STRANGER_KEY LABEL:
grpcio with a client certificate against `wirestate serve
--tls-client-ca`; UNAVAILABLE without one and with the stranger's.
mtls.py https-server|wss-server|grpc-server PORT CERT KEY CLIENT_CA:
servers that require a client certificate CLIENT_CA signed (http.server
answering GET / with `hello CN`; a websockets echo; the grpcio Echo)."""
import asyncio
import ssl
import sys

from interop_tls import TIMEOUT, Report, server_context


def read(path):
    with open(path, "rb") as f:
        return f.read()


def grpc_client(target, ca, cert, key, stranger_cert, stranger_key, label):
    import echo_pb2
    import echo_pb2_grpc
    import grpc

    report = Report(label)

    def creds(cert, key):
        return grpc.ssl_channel_credentials(
            root_certificates=read(ca),
            private_key=read(key) if key else None,
            certificate_chain=read(cert) if cert else None,
        )

    with grpc.secure_channel(target, creds(cert, key)) as channel:
        try:
            r = echo_pb2_grpc.EchoStub(channel).Echo(echo_pb2.EchoRequest(message="mtls"), timeout=TIMEOUT)
            report("echo Echo with a client certificate", r.message == "mtls", repr(r))
        except grpc.RpcError as e:
            report("echo Echo with a client certificate", False, "%s %s" % (e.code(), e.details()))
    for name, c, k in [("no client certificate", None, None), ("another CA's certificate", stranger_cert, stranger_key)]:
        with grpc.secure_channel(target, creds(c, k)) as channel:
            try:
                echo_pb2_grpc.EchoStub(channel).Echo(echo_pb2.EchoRequest(message="x"), timeout=TIMEOUT)
                report("UNAVAILABLE with " + name, False, "the call succeeded")
            except grpc.RpcError as e:
                report("UNAVAILABLE with " + name, e.code() == grpc.StatusCode.UNAVAILABLE, "%s %s" % (e.code(), e.details()))
    return 1 if report.failed else 0


def requiring(cert, key, client_ca, alpn):
    ctx = server_context(cert, key, alpn)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(client_ca)
    return ctx


def https_server(port, cert, key, client_ca):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            subject = dict(field[0] for field in self.connection.getpeercert()["subject"])
            body = ("hello " + subject["commonName"]).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.socket = requiring(cert, key, client_ca, ["http/1.1"]).wrap_socket(server.socket, server_side=True)
    server.serve_forever()


async def wss_server(port, cert, key, client_ca):
    from websockets.asyncio.server import serve

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", port, ssl=requiring(cert, key, client_ca, ["http/1.1"])):
        await asyncio.Future()


def grpc_server(port, cert, key, client_ca):
    from concurrent import futures

    import echo_pb2
    import echo_pb2_grpc
    import grpc

    class Echo(echo_pb2_grpc.EchoServicer):
        def Echo(self, request, context):
            return echo_pb2.EchoResponse(message=request.message, payload=request.payload)

    creds = grpc.ssl_server_credentials([(read(key), read(cert))], root_certificates=read(client_ca), require_client_auth=True)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    echo_pb2_grpc.add_EchoServicer_to_server(Echo(), server)
    server.add_secure_port("127.0.0.1:%d" % port, creds)
    server.start()
    server.wait_for_termination()


def main(argv):
    cmd, args = (argv[1], argv[2:]) if len(argv) > 1 else ("", [])
    if cmd == "grpc-client" and len(args) == 7:
        return grpc_client(*args)
    if cmd in ("https-server", "wss-server", "grpc-server") and len(args) == 4:
        port, rest = int(args[0]), args[1:]
        if cmd == "wss-server":
            return asyncio.run(wss_server(port, *rest))
        return (https_server if cmd == "https-server" else grpc_server)(port, *rest)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
PY
mtls="$work/mtls.py"
scripts_dir="$PWD/scripts"
# nginx's worker (nobody, when started as root) reads the key and files.
chmod 755 "$work"
chmod 644 "$work"/*.key

# --- the gRPC stubs (grpc.testing, health, wirestate echo), from our .proto
# copies; health.proto at the top so that it does not shadow the grpc package.
mkdir -p "$work/in/src/proto/grpc/testing" "$work/stubs"
cp proto/proto/grpc/testing/{test,messages,empty}.proto "$work/in/src/proto/grpc/testing/"
cp proto/proto/grpc/health/v1/health.proto proto/proto/wirestate/echo/v1/echo.proto "$work/in/"
(cd "$work" && "$grpcpy" -m grpc_tools.protoc -I in --python_out=stubs --grpc_python_out=stubs \
    in/src/proto/grpc/testing/{test,messages,empty}.proto in/health.proto in/echo.proto)

head -c 1048576 /dev/urandom >"$work/mib"

# expect_refused NAME OUT: passes when the command whose exit status is in
# $rc and whose stderr is in OUT failed with a certificate error.
expect_refused() {
    if [ "$rc" -ne 0 ] && grep -qi 'certificate' "$2"; then pass "$1"; else echo "exit status $rc" >>"$2"; fail "$1" "$2"; fi
}

# =====================================================================
# Server side: independent clients against `wirestate serve` over TLS.
# =====================================================================
curl_suite() { # runtime port version(1.1|2)
    local rt=$1 v=$3 url="https://127.0.0.1:$2" name="$1 serve, curl HTTP/$3"
    local c="curl -sS --max-time 30 --cacert $good --http$v"
    check "$name: GET /" bash -c "[ \"\$($c -w ' %{http_version}' $url/)\" = 'hello $v' ]"
    check "$name: HEAD /" bash -c "$c -I $url/ | grep -qi '^content-length: 5'"
    check "$name: POST /echo" bash -c "[ \"\$($c -d 'over tls' $url/echo)\" = 'over tls' ]"
    check "$name: POST /echo 1 MiB byte for byte" bash -c "$c --data-binary @$work/mib -o $work/mib.$rt.$v $url/echo && cmp $work/mib $work/mib.$rt.$v"
    check "$name: /stream?n=1000" bash -c "[ \"\$($c '$url/stream?n=1000' | wc -l)\" = 1000 ]"
    check "$name: POST /mcp initialize 200" bash -c "[ \"\$($c -o $work/init.$rt.$v -w '%{http_code}' \
        -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' --data-binary \
        '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":\"curl\",\"version\":\"1\"}}}' \
        $url/mcp)\" = 200 ] && grep -q serverInfo $work/init.$rt.$v"
    check "$name: https://localhost (DNS name in the certificate)" \
        bash -c "[ \"\$($c --resolve localhost:$2:127.0.0.1 https://localhost:$2/)\" = hello ]"
}

for rt in tokio smol blocking; do
    port=$(free_port)
    log="$work/serve-$rt.log"
    "$bin" serve --runtime "$rt" --listen "127.0.0.1:$port" --threads 2 --tls-cert "$good" --tls-key "$work/good.key" >"$log" 2>&1 &
    pids+=($!)
    if ! wait_port "$port"; then
        fail "$rt serve over TLS: server did not start" "$log"
        stop_last
        continue
    fi
    url="https://127.0.0.1:$port"
    # A stalled handshake, in the background while the other checks are
    # served (the servers' handshake deadline is their header-read
    # deadline, 30 s by default).
    timeout 60 python3 "$helper" stall "$port" 45 "$rt serve" >"$work/stall-$rt.out" 2>&1 &
    pids+=($!)
    curl_suite "$rt" "$port" 1.1
    curl_suite "$rt" "$port" 2
    check "$rt serve, curl: TLS 1.2 only" bash -c "[ \"\$(curl -sS --max-time 30 --cacert $good --tlsv1.2 --tls-max 1.2 $url/)\" = hello ]"
    check "$rt serve, curl: wrong CA refused (exit 60)" \
        bash -c "curl -sS --max-time 30 --cacert $other $url/; rc=\$?; echo exit \$rc; [ \$rc = 60 ]"
    check "$rt serve, curl: a name the certificate lacks refused (exit 60)" \
        bash -c "curl -sS --max-time 30 --cacert $good --resolve wrong.example:$port:127.0.0.1 https://wrong.example:$port/; rc=\$?; echo exit \$rc; [ \$rc = 60 ]"
    check "$rt serve: plain HTTP on the TLS port not served" \
        bash -c "! curl -sS --max-time 10 http://127.0.0.1:$port/ | grep -q hello && ! curl -sSf --max-time 10 http://127.0.0.1:$port/"
    for alpn in h2 http/1.1; do
        check "$rt serve, openssl s_client -alpn $alpn: negotiated and verified" \
            bash -c "timeout 20 openssl s_client -connect 127.0.0.1:$port -alpn $alpn -CAfile $good -verify_ip 127.0.0.1 \
                -verify_return_error </dev/null 2>&1 | tee /dev/stderr | grep -q '^ALPN protocol: $alpn\$'"
    done

    timeout 60 "$wspy" "$helper" ws-client "wss://127.0.0.1:$port/ws" "$good" "$other" "$rt serve, websockets wss" \
        >"$work/ws-$rt.out" 2>&1 || true
    count "$work/ws-$rt.out" "$rt serve, websockets wss"
    timeout 60 "$h2py" "$helper" h2-client "$port" "$good" "$rt serve, Python h2" >"$work/h2-$rt.out" 2>&1 || true
    count "$work/h2-$rt.out" "$rt serve, Python h2"
    (cd "$work" && PYTHONPATH=stubs timeout 60 "$grpcpy" "$helper" grpc-client "127.0.0.1:$port" "$good" "$other" "$rt serve, grpcio TLS") \
        >"$work/grpc-$rt.out" 2>&1 || true
    count "$work/grpc-$rt.out" "$rt serve, grpcio TLS"

    # Our MCP client against our server: not independent, but the only TLS
    # run of `wirestate mcp --cacert` over wss://.
    for scheme in https wss; do
        name="$rt serve, wirestate mcp --runtime $rt --cacert $scheme:// list-tools"
        check "$name" \
            bash -c "timeout 30 $bin mcp --runtime $rt --timeout 20 --cacert $good $scheme://127.0.0.1:$port/mcp list-tools | grep -q '\"name\": \"echo\"'"
    done
    check "$rt serve, wirestate grpc --runtime $rt --tls list (reflection)" \
        bash -c "timeout 30 $bin grpc --runtime $rt --timeout 20 --tls --cacert $good 127.0.0.1:$port list | grep -q '^/wirestate.echo.v1.Echo/Echo '"

    wait "${pids[-1]}" || true
    unset 'pids[-1]'
    COUNT_SHOW_ALL=1 count "$work/stall-$rt.out" "$rt serve, stalled handshake"
    stop_last
done

# --- mutual TLS: `wirestate serve --tls-client-ca` requires a client
# certificate its CA signed.
# expect_fails NAME PATTERN COMMAND...: passes when COMMAND fails and its
# output has no match of PATTERN (the answer a refused client must not get).
expect_fails() {
    local name=$1 pattern=$2; shift 2
    if "$@" >"$work/out" 2>&1; then echo "exit status 0" >>"$work/out"; fail "$name" "$work/out"
    elif grep -q -- "$pattern" "$work/out"; then fail "$name" "$work/out"
    else pass "$name"; fi
}
for rt in tokio smol blocking; do
    port=$(free_port)
    log="$work/serve-mtls-$rt.log"
    if ! start "$rt serve --tls-client-ca" "$log" "$bin" serve --runtime "$rt" --listen "127.0.0.1:$port" --threads 2 \
        --tls-cert "$good" --tls-key "$work/good.key" --tls-client-ca "$clientca"; then
        stop_last
        continue
    fi
    url="https://127.0.0.1:$port"
    name="$rt serve --tls-client-ca"
    for v in 1.1 2; do
        c="curl -sS --max-time 30 --cacert $good --http$v"
        check "$name, curl --cert/--key HTTP/$v: GET /" bash -c "[ \"\$($c $mine -w ' %{http_version}' $url/)\" = 'hello $v' ]"
        check "$name, curl --cert/--key HTTP/$v: POST /echo" bash -c "[ \"\$($c $mine -d mutual $url/echo)\" = mutual ]"
        expect_fails "$name, curl HTTP/$v without a client certificate: refused" '^hello' $c "$url/"
        expect_fails "$name, curl HTTP/$v with another CA's certificate: refused" '^hello' $c $stranger "$url/"
    done
    (cd "$work" && PYTHONPATH="stubs:$scripts_dir" timeout 60 "$grpcpy" "$mtls" grpc-client "127.0.0.1:$port" "$good" \
        "$work/client.pem" "$work/client.key" "$work/stranger.pem" "$work/stranger.key" "$name, grpcio mTLS") \
        >"$work/grpc-mtls-$rt.out" 2>&1 || true
    count "$work/grpc-mtls-$rt.out" "$name, grpcio mTLS"
    check "$name, wirestate http --runtime $rt --cert/--key: GET /" \
        bash -c "[ \"\$(timeout 30 $bin http --runtime $rt --cacert $good $mine $url/)\" = hello ]"
    expect_fails "$name, wirestate http --runtime $rt without --cert: refused" '^hello' \
        timeout 30 "$bin" http --runtime "$rt" --cacert "$good" "$url/"
    stop_last
done

# =====================================================================
# Client side: our clients against independent TLS servers.
# =====================================================================

# --- Python http.server over ssl (ALPN http/1.1)
port=$(free_port)
if start "Python https server" "$work/pyhttps.log" python3 "$helper" https-server "$port" "$good" "$work/good.key"; then
    url="https://127.0.0.1:$port"
    for rt in tokio smol blocking; do
        name="wirestate http --runtime $rt -> Python https"
        check "$name: GET /" bash -c "[ \"\$(timeout 30 $bin http --runtime $rt --cacert $good $url/)\" = 'hello over tls' ]"
        check "$name: POST /echo 1 MiB byte for byte" \
            bash -c "timeout 30 $bin http --runtime $rt --cacert $good --data-file $work/mib $url/echo >$work/py.$rt && cmp $work/mib $work/py.$rt"
        check "$name: ALPN http/1.1 offered and chosen" bash -c "[ \"\$(timeout 30 $bin http --runtime $rt --cacert $good $url/alpn)\" = http/1.1 ]"
        rc=0; timeout 30 "$bin" http --runtime "$rt" --cacert "$other" "$url/" >"$work/wrong.out" 2>&1 || rc=$?
        expect_refused "$name: wrong CA refused with a certificate error" "$work/wrong.out"
        # It offers http/1.1 only: HTTP/2 must not be spoken without its agreement.
        rc=0; timeout 30 "$bin" http --http2-prior-knowledge --runtime "$rt" --cacert "$good" "$url/" >"$work/noh2.out" 2>&1 || rc=$?
        if [ "$rc" -ne 0 ] && grep -q 'ALPN h2' "$work/noh2.out"; then pass "$name: --http2-prior-knowledge refused without ALPN h2"
        else echo "exit status $rc" >>"$work/noh2.out"; fail "$name: --http2-prior-knowledge refused without ALPN h2" "$work/noh2.out"; fi
    done
    stop_last
fi

# --- nginx with ssl and http2 on one port: static files, and a TLS front
# for the MCP Python SDK's Streamable HTTP server.
ngx=$(free_port)
mcpport=$(free_port)
mkdir -p "$work/www"
cp "$work/mib" "$work/www/mib"
echo "hello from nginx" >"$work/www/index.html"
nginx_conf "$work" "$(cat <<CONF
  server {
    listen 127.0.0.1:$ngx ssl http2;
    ssl_certificate $good;
    ssl_certificate_key $work/good.key;
    root $work/www;
    location /mcp {
      proxy_pass http://127.0.0.1:$mcpport;
      proxy_http_version 1.1;
      proxy_buffering off;
    }
  }
CONF
)"
port=$mcpport
start "MCP Python SDK server" "$work/mcp-py.log" "$mcppy" -W ignore scripts/mcpcli_server.py http "$mcpport" || true
port=$ngx
if start "nginx ssl http2" "$work/logs/out" nginx -c "$work/nginx.conf" -p "$work"; then
    url="https://127.0.0.1:$ngx"
    for rt in tokio smol blocking; do
        name="wirestate http --runtime $rt -> nginx"
        check "$name: HTTP/1.1 GET /" bash -c "timeout 30 $bin http -i --runtime $rt --cacert $good $url/ | tee /dev/stderr | head -1 | grep -q '^HTTP/1.1 200'"
        check "$name: HTTP/1.1 GET 1 MiB byte for byte" bash -c "timeout 30 $bin http --runtime $rt --cacert $good $url/mib >$work/ngx1.$rt && cmp $work/mib $work/ngx1.$rt"
        check "$name: HTTP/2 (ALPN h2) GET /" \
            bash -c "timeout 30 $bin http -i --http2-prior-knowledge --runtime $rt --cacert $good $url/ | tee /dev/stderr | head -1 | grep -q '^HTTP/2.0 200'"
        check "$name: HTTP/2 GET 1 MiB byte for byte" \
            bash -c "timeout 30 $bin http --http2-prior-knowledge --runtime $rt --cacert $good $url/mib >$work/ngx2.$rt && cmp $work/mib $work/ngx2.$rt"
        rc=0; timeout 30 "$bin" http --http2-prior-knowledge --runtime "$rt" --cacert "$other" "$url/" >"$work/wrong.out" 2>&1 || rc=$?
        expect_refused "$name: HTTP/2 with the wrong CA refused with a certificate error" "$work/wrong.out"
    done
    for rt in tokio smol blocking; do
        name="wirestate mcp --runtime $rt -> MCP Python SDK behind nginx TLS"
        check "$name: list-tools" bash -c "timeout 30 $bin mcp --runtime $rt --timeout 20 --cacert $good $url/mcp list-tools | grep -q '\"name\": \"add\"'"
        check "$name: call add" bash -c "timeout 30 $bin mcp --runtime $rt --timeout 20 --cacert $good $url/mcp call add '{\"a\": 2, \"b\": 3}' | tee /dev/stderr | grep -q '\"5\"'"
        rc=0; timeout 30 "$bin" mcp --runtime "$rt" --timeout 20 --cacert "$other" "$url/mcp" list-tools >"$work/wrong.out" 2>&1 || rc=$?
        expect_refused "$name: wrong CA refused with a certificate error" "$work/wrong.out"
    done
    stop_last
fi
stop_last

# --- grpcio server over TLS
port=$(free_port)
if start "grpcio TLS server" "$work/grpcio.log" env PYTHONPATH="$work/stubs" "$grpcpy" "$helper" grpc-server "$port" "$good" "$work/good.key"; then
    for rt in tokio smol blocking; do
        name="wirestate grpc --tls --runtime $rt -> grpcio"
        g="timeout 30 $bin grpc --runtime $rt --timeout 20 --tls --cacert $good 127.0.0.1:$port"
        check "$name: Echo unary" bash -c "[ \"\$($g /wirestate.echo.v1.Echo/Echo '{\"message\": \"over tls\"}')\" = '{\"message\":\"over tls\"}' ]"
        check "$name: EchoStream repeat=3" \
            bash -c "$g /wirestate.echo.v1.Echo/EchoStream '{\"message\": \"s\", \"repeat\": 3}' | tee /dev/stderr | [ \"\$(grep -c '\"message\":\"s\"')\" = 3 ]"
        rc=0; timeout 30 "$bin" grpc --runtime "$rt" --timeout 20 --tls --cacert "$other" "127.0.0.1:$port" \
            /wirestate.echo.v1.Echo/Echo '{"message": "x"}' >"$work/wrong.out" 2>&1 || rc=$?
        expect_refused "$name: wrong CA refused with a certificate error" "$work/wrong.out"
    done
    stop_last
fi

# --- Python websockets wss:// echo server
port=$(free_port)
if start "websockets wss server" "$work/wss.log" "$wspy" "$helper" wss-server "$port" "$good" "$work/good.key"; then
    printf '%s\n' "hello over tls" "" "héllo wörld ✓ 日本語" $(seq 100) "last" >"$work/lines"
    nlines=$(wc -l <"$work/lines")
    for rt in tokio smol blocking; do
        name="wirestate ws --runtime $rt -> websockets wss"
        out="$work/wss-$rt.out"
        : >"$out"
        # stdin stays open until every echo is back (at most 10 s), so the
        # close that its end starts cannot overtake the echoes.
        rc=0
        { cat "$work/lines"; for _ in $(seq 100); do [ "$(wc -l <"$out")" -ge "$nlines" ] && break; sleep 0.1; done; } \
            | timeout 30 "$bin" ws --runtime "$rt" --cacert "$good" "wss://127.0.0.1:$port/" >"$out" 2>"$work/wss-$rt.err" || rc=$?
        if [ "$rc" -eq 0 ] && cmp -s "$work/lines" "$out"; then pass "$name: $nlines lines echoed, exit 0"
        else { echo "exit status $rc"; cat "$work/wss-$rt.err"; cmp "$work/lines" "$out" || true; } >"$work/diff" 2>&1; fail "$name: $nlines lines echoed, exit 0" "$work/diff"; fi
        rc=0; echo x | timeout 30 "$bin" ws --runtime "$rt" --cacert "$other" "wss://127.0.0.1:$port/" >"$work/wrong.out" 2>&1 || rc=$?
        expect_refused "$name: wrong CA refused with a certificate error" "$work/wrong.out"
    done
    stop_last
fi

# --- mutual TLS: servers that require a client certificate the client CA
# signed; our clients present one with --cert/--key.
port=$(free_port)
if start "Python https server, CERT_REQUIRED" "$work/pymtls.log" env PYTHONPATH="$scripts_dir" python3 "$mtls" https-server "$port" "$good" "$work/good.key" "$clientca"; then
    for rt in tokio smol blocking; do
        name="wirestate http --runtime $rt -> Python https, CERT_REQUIRED"
        check "$name: --cert/--key accepted (the server names our CN)" \
            bash -c "[ \"\$(timeout 30 $bin http --runtime $rt --cacert $good $mine https://127.0.0.1:$port/)\" = 'hello mtls client' ]"
        expect_fails "$name: refused without --cert" '^hello' timeout 30 "$bin" http --runtime "$rt" --cacert "$good" "https://127.0.0.1:$port/"
        expect_fails "$name: refused with another CA's certificate" '^hello' timeout 30 "$bin" http --runtime "$rt" --cacert "$good" $stranger "https://127.0.0.1:$port/"
    done
    stop_last
fi
port=$(free_port)
if start "websockets wss server, CERT_REQUIRED" "$work/wssmtls.log" env PYTHONPATH="$scripts_dir" "$wspy" "$mtls" wss-server "$port" "$good" "$work/good.key" "$clientca"; then
    for rt in tokio smol blocking; do
        name="wirestate ws --runtime $rt -> websockets wss, CERT_REQUIRED"
        check "$name: --cert/--key, a line echoed" \
            bash -c "[ \"\$({ echo mutual; sleep 1; } | timeout 30 $bin ws --runtime $rt --cacert $good $mine wss://127.0.0.1:$port/)\" = mutual ]"
        expect_fails "$name: refused without --cert" '^x$' \
            bash -c "echo x | timeout 30 $bin ws --runtime $rt --cacert $good wss://127.0.0.1:$port/"
    done
    stop_last
fi
port=$(free_port)
if start "grpcio server, require_client_auth" "$work/grpcmtls.log" env PYTHONPATH="$work/stubs:$scripts_dir" "$grpcpy" "$mtls" grpc-server "$port" "$good" "$work/good.key" "$clientca"; then
    for rt in tokio smol blocking; do
        name="wirestate grpc --runtime $rt -> grpcio, require_client_auth"
        g="timeout 30 $bin grpc --runtime $rt --timeout 20 --cacert $good"
        check "$name: --cert/--key, Echo unary" \
            bash -c "[ \"\$($g $mine 127.0.0.1:$port /wirestate.echo.v1.Echo/Echo '{\"message\": \"mutual\"}')\" = '{\"message\":\"mutual\"}' ]"
        expect_fails "$name: refused without --cert" '"message":"x"' $g "127.0.0.1:$port" /wirestate.echo.v1.Echo/Echo '{"message": "x"}'
    done
    stop_last
fi

echo "interop-tls: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
