#!/usr/bin/env bash
# The standard gRPC interop matrix (grpc/grpc doc/interop-test-descriptions.md,
# all 18 cases: empty_unary, large_unary, client_streaming, server_streaming,
# ping_pong, empty_stream, status_code_and_message, special_status_message,
# custom_metadata, unimplemented_method, unimplemented_service,
# timeout_on_sleeping_server, cancel_after_begin, cancel_after_first_response,
# client_compressed_unary, server_compressed_unary,
# client_compressed_streaming, server_compressed_streaming), every direction,
# with two independent peers:
#   - grpcio (PyPI, the C core; pinned below) client -> examples/interop_server
#     and `wirestate serve` (tokio, smol, blocking); plus a server-side
#     deadline case and client_deflate (grpcio's Compression.Deflate, the
#     zlib format, unary and client streaming);
#   - our examples/interop_client (tokio, smol, blocking) -> a grpcio
#     TestService server
#     (grpcio's interop server is not in the wheel: scripts/interop_grpc.py);
#   - tonic's client (tests/examples/tonic_interop_client) -> interop_server
#     (tokio, smol);
#   - our interop_client (tokio, smol, blocking) -> tonic's server
#     (tests/examples/tonic_interop_server);
#   - grpcio with PyPI grpcio-health-checking's stubs -> `wirestate serve`'s
#     health service (tokio, smol, blocking): Check, Watch, grpcio's
#     client-side health checking, and a graceful shutdown (SIGINT) that
#     the watch sees as NOT_SERVING, then UNAVAILABLE;
#   - raw gRPC-Web over HTTP/1.1 with curl (application/grpc-web+proto and
#     -text: unary, server streaming, an error status) against
#     interop_server and `wirestate serve` (tokio, smol, blocking);
#   - gRPC-Web with tonic-web, the 12 cases gRPC-Web can carry (unary and
#     server-streaming; the client-streaming and bidi ones print SKIP and
#     are not counted): tonic's client through tonic-web's
#     GrpcWebClientLayer over hyper-util HTTP/1.1 (tonic_interop_client
#     --web) -> interop_server and `wirestate serve` (tokio, smol,
#     blocking); our interop_client --transport=web and web-text (tokio,
#     smol, blocking) -> tonic's server with tonic-web's GrpcWebLayer
#     (tonic_interop_server --web).
# The grpc.testing Python stubs are generated from proto/proto/grpc/testing
# with grpcio-tools at run time. What the Python API and tonic cannot do
# (read a message's compressed flag, switch compression per message) is
# described in scripts/interop_grpc.py and tests/tests/tonic_interop; such
# cases say so in their PASS line. Loopback only; every process is ended by
# PID. One PASS/FAIL (or SKIP) line per case, then
# `interop-grpc: N passed, M failed, K skipped`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/venv.sh

GRPCIO_VERSION=1.85.4
cache="${WIRESTATE_CACHE:-$HOME/.cache/wirestate}"
venv="$cache/venv-grpc"
py="$venv/bin/python"

# grpcio-health-checking is released less often than grpcio: 1.85.1 is the
# newest 1.85 (it needs grpcio >= 1.85.1).
HEALTH_VERSION=1.85.1

# --- the peer: a venv with the pinned grpcio (installed only when missing)
python_venv "$venv" "import grpc, grpc_tools, grpc_health, sys, importlib.metadata as m; sys.exit(grpc.__version__ != '$GRPCIO_VERSION' or m.version('grpcio-health-checking') != '$HEALTH_VERSION')" \
        "grpcio==$GRPCIO_VERSION" "grpcio-tools==$GRPCIO_VERSION" "grpcio-health-checking==$HEALTH_VERSION"

cargo build --release --locked -q --bin wirestate
cargo build --release --locked -q -p wirestate-examples --example interop_client --example interop_server
cargo build --release --locked -q -p wirestate-tests --example tonic_interop_client --example tonic_interop_server
helper="$PWD/scripts/interop_grpc.py"

work=$(mktemp -d)
# Copies of the binaries just built, so that another build sharing the
# target directory cannot swap them while the matrix runs.
out="${CARGO_TARGET_DIR:-target}/release"
mkdir -p "$work/bin"
cp "$out/wirestate" "$out/examples/interop_client" "$out/examples/interop_server" \
    "$out/examples/tonic_interop_client" "$out/examples/tonic_interop_server" "$work/bin/"
bin="$work/bin/wirestate"
client="$work/bin/interop_client"
server="$work/bin/interop_server"
tonic_client="$work/bin/tonic_interop_client"
tonic_server="$work/bin/tonic_interop_server"
pids=()

. scripts/lib/tally.sh
end_at_exit
# count (scripts/lib/tally.sh) shows each peer run's whole output here;
# SKIP: cases a transport cannot carry (client-streaming and bidi over
# gRPC-Web).
COUNT_SHOW_ALL=1


# --- the Python stubs, from our copies of the interop .proto files
mkdir -p "$work/in/src/proto/grpc/testing" "$work/stubs"
cp proto/proto/grpc/testing/{test,messages,empty}.proto "$work/in/src/proto/grpc/testing/"
(cd "$work" && "$py" -m grpc_tools.protoc -I in --python_out=stubs --grpc_python_out=stubs \
    in/src/proto/grpc/testing/test.proto in/src/proto/grpc/testing/messages.proto \
    in/src/proto/grpc/testing/empty.proto)

start() { # name log command...: starts a server on $port, 0 once it answers
    local name=$1 log=$2
    shift 2
    "$@" >"$log" 2>&1 &
    pids+=($!)
    if ! wait_port "$port"; then
        fail "$name: server did not start" "$log"
        return 1
    fi
}
labelled() { # label output-file: our and tonic's clients print bare case names
    sed -e "s/^PASS /PASS $1 /" -e "s/^FAIL /FAIL $1 /" -e "s/^SKIP /SKIP $1 /" "$2"
}

# --- grpcio client -> interop_server and wirestate serve
for rt in tokio smol blocking; do
    port=$(free_port)
    if start "$rt interop_server" "$work/server-$rt.log" "$server" --port="$port" --runtime="$rt"; then
        (cd "$work" && PYTHONPATH=stubs timeout 180 "$py" "$helper" client "127.0.0.1:$port" "grpcio-client->$rt-interop_server") \
            >"$work/grpcio-$rt-server.out" 2>&1 || true
        count "$work/grpcio-$rt-server.out" "grpcio client -> $rt interop_server"
        (cd "$work" && PYTHONPATH=stubs timeout 60 "$py" "$helper" web "127.0.0.1:$port" "curl-grpc-web->$rt-interop_server") \
            >"$work/web-$rt-server.out" 2>&1 || true
        count "$work/web-$rt-server.out" "curl gRPC-Web -> $rt interop_server"
        timeout 180 "$tonic_client" --server_host=127.0.0.1 --server_port="$port" --test_case=all --web \
            >"$work/tonicweb-$rt-server.raw" 2>&1 || true
        labelled "tonic-web-client->$rt-interop_server" "$work/tonicweb-$rt-server.raw" >"$work/tonicweb-$rt-server.out"
        count "$work/tonicweb-$rt-server.out" "tonic-web client -> $rt interop_server"
    fi
    port=$(free_port)
    if start "$rt serve" "$work/serve-$rt.log" "$bin" serve --runtime "$rt" --listen "127.0.0.1:$port" --threads 2; then
        (cd "$work" && PYTHONPATH=stubs timeout 180 "$py" "$helper" client "127.0.0.1:$port" "grpcio-client->$rt-serve") \
            >"$work/grpcio-$rt-serve.out" 2>&1 || true
        count "$work/grpcio-$rt-serve.out" "grpcio client -> $rt serve"
        (cd "$work" && PYTHONPATH=stubs timeout 60 "$py" "$helper" web "127.0.0.1:$port" "curl-grpc-web->$rt-serve") \
            >"$work/web-$rt-serve.out" 2>&1 || true
        count "$work/web-$rt-serve.out" "curl gRPC-Web -> $rt serve"
        timeout 180 "$tonic_client" --server_host=127.0.0.1 --server_port="$port" --test_case=all --web \
            >"$work/tonicweb-$rt-serve.raw" 2>&1 || true
        labelled "tonic-web-client->$rt-serve" "$work/tonicweb-$rt-serve.raw" >"$work/tonicweb-$rt-serve.out"
        count "$work/tonicweb-$rt-serve.out" "tonic-web client -> $rt serve"
    fi
done

# --- grpcio-health-checking -> wirestate serve's health service (its own
# server per runtime: the last case shuts it down with SIGINT, by PID)
for rt in tokio smol blocking; do
    port=$(free_port)
    if start "$rt serve (health)" "$work/serve-health-$rt.log" "$bin" serve --runtime "$rt" --listen "127.0.0.1:$port" --threads 2; then
        (cd "$work" && PYTHONPATH=stubs timeout 60 "$py" "$helper" health "127.0.0.1:$port" "grpcio-health->$rt-serve" "${pids[-1]}") \
            >"$work/health-$rt-serve.out" 2>&1 || true
        count "$work/health-$rt-serve.out" "grpcio-health-checking -> $rt serve"
    fi
done

# --- our client -> grpcio server
port=$(free_port)
if start "grpcio server" "$work/pyserver.log" env PYTHONPATH="$work/stubs" "$py" "$helper" server "$port"; then
    for rt in tokio smol blocking; do
        timeout 180 "$client" --server_host=127.0.0.1 --server_port="$port" --test_case=all --runtime="$rt" \
            >"$work/ours-$rt-grpcio.raw" 2>&1 || true
        labelled "$rt-client->grpcio-server" "$work/ours-$rt-grpcio.raw" >"$work/ours-$rt-grpcio.out"
        count "$work/ours-$rt-grpcio.out" "$rt client -> grpcio server"
    done
fi

# --- tonic client -> interop_server (not blocking: tonic reports its own
# timer as CANCELLED "Timeout expired", and timeout_on_sleeping_server's 1 ms
# deadline races the blocking server's thread-per-stream answer; the tokio
# and smol servers answer DEADLINE_EXCEEDED first. tonic's client against
# the blocking server is in tests/tests/grpc_blocking.rs.)
for rt in tokio smol; do
    port=$(free_port)
    if start "$rt interop_server (tonic)" "$work/server-tonic-$rt.log" "$server" --port="$port" --runtime="$rt"; then
        timeout 180 "$tonic_client" --server_host=127.0.0.1 --server_port="$port" --test_case=all \
            >"$work/tonic-$rt.raw" 2>&1 || true
        labelled "tonic-client->$rt-interop_server" "$work/tonic-$rt.raw" >"$work/tonic-$rt.out"
        count "$work/tonic-$rt.out" "tonic client -> $rt interop_server"
    fi
done

# --- our client -> tonic server
port=$(free_port)
if start "tonic server" "$work/tonic-server.log" "$tonic_server" --port="$port"; then
    for rt in tokio smol blocking; do
        timeout 180 "$client" --server_host=127.0.0.1 --server_port="$port" --test_case=all --runtime="$rt" \
            >"$work/ours-$rt-tonic.raw" 2>&1 || true
        labelled "$rt-client->tonic-server" "$work/ours-$rt-tonic.raw" >"$work/ours-$rt-tonic.out"
        count "$work/ours-$rt-tonic.out" "$rt client -> tonic server"
    done
fi

# --- our client over gRPC-Web -> tonic's server with tonic-web
port=$(free_port)
if start "tonic-web server" "$work/tonic-web-server.log" "$tonic_server" --port="$port" --web; then
    for transport in web web-text; do
        for rt in tokio smol blocking; do
            timeout 180 "$client" --server_host=127.0.0.1 --server_port="$port" --test_case=all \
                --runtime="$rt" --transport="$transport" >"$work/ours-$rt-$transport-tonic.raw" 2>&1 || true
            labelled "$rt-client-$transport->tonic-web-server" "$work/ours-$rt-$transport-tonic.raw" \
                >"$work/ours-$rt-$transport-tonic.out"
            count "$work/ours-$rt-$transport-tonic.out" "$rt client ($transport) -> tonic-web server"
        done
    done
fi

echo "interop-grpc: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
