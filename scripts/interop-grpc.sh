#!/usr/bin/env bash
# gRPC interop with grpcio (PyPI, the C core; pinned below) as an
# independent peer, both directions:
#   - grpcio client -> `wirestate serve --runtime R` (tokio, smol): the
#     standard interop cases (empty_unary, large_unary,
#     client_compressed_unary, client_streaming, server_streaming,
#     ping_pong, empty_stream, status_code_and_message,
#     special_status_message, custom_metadata, timeout_on_sleeping_server,
#     cancel_after_begin, cancel_after_first_response, unimplemented_method,
#     unimplemented_service) plus a server-side deadline case, against the
#     TestService served on the same port as everything else (h2c);
#   - our client (examples/grpc_interop_client, tokio and smol) -> a grpcio
#     TestService server (grpcio's own interop server is not in the wheel:
#     scripts/interop_grpc.py server), the same cases.
# The grpc.testing Python stubs are generated from proto/proto/grpc/testing
# with grpcio-tools at run time. Loopback only; every process is ended by
# PID. One PASS/FAIL line per case, then `interop-grpc: N passed, M failed`.
set -euo pipefail
cd "$(dirname "$0")/.."

GRPCIO_VERSION=1.85.4
cache="${WIRESTATE_CACHE:-$HOME/.cache/wirestate}"
venv="$cache/venv-grpc"
py="$venv/bin/python"

# --- the peer: a venv with the pinned grpcio (installed only when missing)
if ! "$py" -c "import grpc, grpc_tools, sys; sys.exit(grpc.__version__ != '$GRPCIO_VERSION')" 2>/dev/null; then
    mkdir -p "$cache"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        rm -rf "$venv"
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$venv"
    fi
    "$py" -m pip install -q --disable-pip-version-check \
        "grpcio==$GRPCIO_VERSION" "grpcio-tools==$GRPCIO_VERSION"
fi

cargo build --release --locked -q --bin wirestate
cargo build --release --locked -q -p wirestate-examples --example grpc_interop_client
bin="${CARGO_TARGET_DIR:-target}/release/wirestate"
client="${CARGO_TARGET_DIR:-target}/release/examples/grpc_interop_client"
helper="$PWD/scripts/interop_grpc.py"

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
fail() { # name [file with details]
    failed=$((failed + 1)); echo "FAIL $1"
    if [ -n "${2:-}" ] && [ -s "$2" ]; then sed 's/^/    /' "$2" | head -20; fi
}
count() { # output file of a peer run: adds its PASS/FAIL lines
    cat "$1"
    local p f
    p=$(grep -c '^PASS ' "$1" || true)
    f=$(grep -c '^FAIL ' "$1" || true)
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        fail "$2: no case ran" "$1"
    fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { # port
    for _ in $(seq 100); do
        python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# --- the Python stubs, from our copies of the interop .proto files
mkdir -p "$work/in/src/proto/grpc/testing" "$work/stubs"
cp proto/proto/grpc/testing/{test,messages,empty}.proto "$work/in/src/proto/grpc/testing/"
(cd "$work" && "$py" -m grpc_tools.protoc -I in --python_out=stubs --grpc_python_out=stubs \
    in/src/proto/grpc/testing/test.proto in/src/proto/grpc/testing/messages.proto \
    in/src/proto/grpc/testing/empty.proto)

# --- grpcio client -> wirestate serve
for rt in tokio smol; do
    port=$(free_port)
    "$bin" serve --runtime "$rt" --listen "127.0.0.1:$port" --threads 2 >"$work/serve-$rt.log" 2>&1 &
    pids+=($!)
    if ! wait_port "$port"; then
        fail "$rt: server did not start" "$work/serve-$rt.log"
        continue
    fi
    (cd "$work" && PYTHONPATH=stubs timeout 180 "$py" "$helper" client "127.0.0.1:$port" "grpcio-client->$rt-serve") \
        >"$work/client-$rt.out" 2>&1 || true
    count "$work/client-$rt.out" "grpcio client -> $rt serve"
done

# --- our client -> grpcio server
port=$(free_port)
(cd "$work" && PYTHONPATH=stubs exec "$py" "$helper" server "$port") >"$work/pyserver.log" 2>&1 &
pids+=($!)
if ! wait_port "$port"; then
    fail "grpcio server did not start" "$work/pyserver.log"
else
    for rt in tokio smol; do
        timeout 180 "$client" "127.0.0.1:$port" "$rt" "$rt-client->grpcio-server" >"$work/ours-$rt.out" 2>&1 || true
        count "$work/ours-$rt.out" "$rt client -> grpcio server"
    done
fi

echo "interop-grpc: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
