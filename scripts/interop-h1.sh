#!/usr/bin/env bash
# HTTP/1.1 conformance and request-smuggling probes (RFC 9112, RFC 9110),
# on tokio, smol and blocking, with a raw-socket peer (scripts/h1_peer.py,
# Python standard library only, its own strict response parser):
#   - `server`: about 120 requests written byte for byte against
#     `wirestate serve --runtime R` (request-line and target forms, field
#     syntax, Host, Content-Length, Transfer-Encoding, chunk syntax,
#     pipelining, persistence, Expect, versions, size limits), each with
#     the exact status RFC 9112/9110 and our limits call for, and whether
#     the connection must close;
#   - `client`: `wirestate http --runtime R` against a misbehaving raw
#     server (CL+TE, 1xx, 204/304/HEAD, close-delimited and truncated
#     bodies, bad chunk sizes...): the right body or a non-zero exit,
#     never a hang.
# Loopback only; every process is ended by PID. One PASS/FAIL line per
# check, then `interop-h1: N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked -q --bin wirestate
bin="${CARGO_TARGET_DIR:-target}/release/wirestate"
peer="scripts/h1_peer.py"

work=$(mktemp -d)
pids=()

. scripts/lib/tally.sh
end_at_exit

for rt in tokio smol blocking; do
    port=$(free_port)
    start "$rt" "$work/serve-$rt.log" \
        "$bin" serve --runtime "$rt" --listen "127.0.0.1:$port" --threads 2 || continue
    timeout 90 python3 "$peer" server 127.0.0.1 "$port" "$rt" >"$work/server-$rt.out" 2>&1 || true
    count "$work/server-$rt.out" "$rt server"
    stop_last
    timeout 120 python3 "$peer" client "$bin" "$rt" "$rt" >"$work/client-$rt.out" 2>&1 || true
    count "$work/client-$rt.out" "$rt client"
done

echo "interop-h1: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
