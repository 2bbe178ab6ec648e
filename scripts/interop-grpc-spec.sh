#!/usr/bin/env bash
# gRPC wire-protocol edge cases (grpc/grpc doc/PROTOCOL-HTTP2.md and
# doc/http-grpc-status-mapping.md) that the interop matrices' happy paths
# never reach, with Python `h2` (PyPI, hyper's sans-IO HTTP/2, pinned
# below) as the raw peer (scripts/grpc_spec_peer.py):
#   - server side, hand-built requests against `wirestate serve --runtime R`
#     (tokio, smol, blocking): content-type (missing, foreign, +proto,
#     parameters), te, method, unknown paths, every grpc-timeout form and
#     the malformed ones, zero and expiring deadlines, grpc-encoding, the
#     compressed flag, the message size limit (exactly at it, one over, a
#     bare prefix), truncated messages, request trailers, DATA after them,
#     reserved and -bin metadata, huge headers, grpc-message
#     percent-encoding, unary calls with 0 or 2 messages, cancellation;
#   - client side, `wirestate grpc --runtime R` (tokio, smol, blocking)
#     against a scripted raw h2c server: HTTP statuses without grpc-status,
#     a non-gRPC content type, trailers-only responses, missing or
#     malformed grpc-status, oversized, truncated or wrongly compressed
#     responses, two messages on a unary call, 1xx before the response,
#     RST_STREAM codes, REFUSED_STREAM's transparent retry, GOAWAY, the
#     deadline sent as grpc-timeout.
# Where the documents leave a choice the expected reaction is grpc-go's
# (each case says). Loopback only; every process is ended by PID. One
# PASS/FAIL line per case, then `interop-grpc-spec: N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/venv.sh

# --- the peer (installed only when missing; the same venv as interop-h2)
h2_venv # Python h2, pinned in scripts/lib/venv.sh; sets $py

cargo build --release --locked -q --bin wirestate
work=$(mktemp -d)
pids=()
. scripts/lib/tally.sh
end_at_exit
# A copy, so that another build sharing the target directory cannot swap
# the binary while the cases run.
bin="$work/wirestate"
cp "${CARGO_TARGET_DIR:-target}/release/wirestate" "$bin"
peer="scripts/grpc_spec_peer.py"

for rt in tokio smol blocking; do
    port=$(free_port)
    if start "$rt: wirestate serve" "$work/serve-$rt.log" \
            "$bin" serve --runtime "$rt" --listen "127.0.0.1:$port" --threads 2; then
        timeout 120 "$py" "$peer" server 127.0.0.1 "$port" "server $rt" >"$work/server-$rt.out" 2>&1 || true
        count "$work/server-$rt.out" "server $rt"
    fi
    timeout 180 "$py" "$peer" client "$bin" "$rt" >"$work/client-$rt.out" 2>&1 || true
    count "$work/client-$rt.out" "client $rt"
done

echo "interop-grpc-spec: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
