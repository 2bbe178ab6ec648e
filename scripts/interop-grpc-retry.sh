#!/usr/bin/env bash
# Our gRPC channels' retries (gRFC A6) and keep-alive back-off (gRFC A8)
# against grpcio (PyPI, the C core; the version interop-grpc.sh pins) as
# the server: scripts/interop_grpc_retry.py serves methods that fail the
# first N attempts of a call (UNAVAILABLE or a chosen code, with a
# grpc-retry-pushback-ms if asked) and report the grpc-previous-rpc-attempts
# values the core handed them, a stream that fails after its first
# message, and client-streaming and bidi methods that fail the first N
# attempts (the channels replay the requests); its ping policy
# (grpc.http2.min_ping_interval_without_data_ms 200, max_ping_strikes 2)
# answers a client pinging every 25 ms with GOAWAY
# ENHANCE_YOUR_CALM "too_many_pings". The tokio, smol and blocking channels
# (the ignored tests of tests/tests/grpc_retry.rs, given the server's
# address) must retry to success (streaming calls with their requests
# replayed), not retry other codes, a negative pushback or a committed
# stream, and double their keep-alive interval
# (25 -> 50 -> 100 -> 200 ms) with every call succeeding. Hedging (gRFC A6
# hedgingPolicy): methods that sleep per attempt (/retry.Test/Slow,
# SlowStream and SlowBidi) are answered by the hedge started after the slow first
# attempt, which grpcio sees cancelled and never finishes; a non-fatal
# failure starts the next hedge at once. Loopback only;
# the server is ended by PID. One PASS/FAIL line per channel, then
# `interop-grpc-retry: N passed, M failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/venv.sh

GRPCIO_VERSION=1.85.4
cache="${WIRESTATE_CACHE:-$HOME/.cache/wirestate}"
venv="$cache/venv-grpc"
py="$venv/bin/python"

python_venv "$venv" "import grpc, sys; sys.exit(grpc.__version__ != '$GRPCIO_VERSION')" \
        "grpcio==$GRPCIO_VERSION" "grpcio-tools==$GRPCIO_VERSION"

cargo test --locked -q -p wirestate-tests --test grpc_retry --no-run

work=$(mktemp -d)
pid=""
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$py" scripts/interop_grpc_retry.py "$port" >"$work/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
    grep -q listening "$work/server.log" && break
    sleep 0.1
done
grep -q listening "$work/server.log" || { cat "$work/server.log"; exit 1; }

. scripts/lib/tally.sh
for t in grpcio_server_tokio_channel grpcio_server_smol_channel grpcio_server_blocking_channel; do
    if WIRESTATE_GRPCIO_RETRY="127.0.0.1:$port" timeout 120 \
        cargo test --locked -q -p wirestate-tests --test grpc_retry -- \
        --ignored --exact "$t" >"$work/$t.log" 2>&1; then
        echo "PASS $t (grpcio $GRPCIO_VERSION server: retries, pushback, commit, hedging, keep-alive back-off)"
        passed=$((passed + 1))
    else
        echo "FAIL $t"
        sed 's/^/    /' "$work/$t.log" | tail -20
        failed=$((failed + 1))
    fi
done
echo "interop-grpc-retry: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
