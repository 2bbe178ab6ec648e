#!/usr/bin/env bash
# MCP over WebSocket with Python's `websockets` (PyPI, pinned below; the
# official MCP Python SDK has no WebSocket client) as an independent peer
# sending JSON-RPC text messages to `wirestate serve --runtime R` /mcp, on
# tokio, smol and blocking (scripts/interop_mcp_ws.py): the `mcp`
# subprotocol, a request before initialize refused, initialize, ping,
# tools/list (schemas), tools/call (structured content, progress, a log
# notification, isError, -32602), resources/read, prompts/get (-32602 for
# a missing argument), malformed JSON -32700 with the socket kept open,
# -32600, -32601, bad params -32602, ten calls in flight, a binary message
# closed with 1003, a bad Origin refused with 403, and a client offering no
# subprotocol. Then our own client, `wirestate mcp ws://...` on each
# runtime, against each server: list-tools and a call. Loopback only;
# servers ended by PID. One PASS/FAIL line per check, then
# `interop-mcpws: N passed, M failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/venv.sh

WEBSOCKETS_VERSION=17.4
cache="${WIRESTATE_CACHE:-$HOME/.cache/wirestate}"
venv="$cache/venv-websockets"
py="$venv/bin/python"

# --- the peer: a venv with the pinned websockets (shared with
# interop-websockets.sh; installed only when missing)
python_venv "$venv" "import websockets, sys; sys.exit(websockets.__version__ != '$WEBSOCKETS_VERSION')" "websockets==$WEBSOCKETS_VERSION"

cargo build --release --locked -q --bin wirestate
bin="${CARGO_TARGET_DIR:-target}/release/wirestate"

work=$(mktemp -d)
pids=()

. scripts/lib/tally.sh
end_at_exit
TALLY_DETAIL=tail # the end of a failing client's output says why


for rt in tokio smol blocking; do
    port=$(free_port)
    "$bin" serve --runtime "$rt" --listen "127.0.0.1:$port" --threads 2 >"$work/serve-$rt.log" 2>&1 &
    pids+=($!)
    if ! wait_port "$port"; then
        fail "[$rt] wirestate serve did not listen on $port" "$work/serve-$rt.log"
        continue
    fi
    url="ws://127.0.0.1:$port/mcp"

    # websockets -> wirestate serve /mcp
    rc=0
    timeout 120 "$py" scripts/interop_mcp_ws.py "$url" "$rt serve" >"$work/py-$rt.out" 2>&1 || rc=$?
    grep -E '^(PASS|FAIL) |^    ' "$work/py-$rt.out" || true
    p=$(grep -c '^PASS ' "$work/py-$rt.out" || true)
    f=$(grep -c '^FAIL ' "$work/py-$rt.out" || true)
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        fail "[$rt] the python client exited with status $rc" "$work/py-$rt.out"
    fi

    # wirestate mcp ws://... (our client, each runtime) -> this server
    for crt in tokio smol blocking; do
        name="[$crt client -> $rt serve] wirestate mcp ws:// list-tools"
        if timeout 30 "$bin" mcp --runtime "$crt" "$url" list-tools >"$work/list.out" 2>"$work/list.err" \
            && grep -q '"name": *"echo"' "$work/list.out" && grep -q '"name": *"add"' "$work/list.out"; then
            pass "$name"
        else
            cat "$work/list.err" >>"$work/list.out"
            fail "$name" "$work/list.out"
        fi
        name="[$crt client -> $rt serve] wirestate mcp ws:// call add"
        if timeout 30 "$bin" mcp --runtime "$crt" "$url" call add '{"a": 40, "b": 2}' >"$work/call.out" 2>"$work/call.err" \
            && grep -q '"text": *"42"' "$work/call.out"; then
            pass "$name"
        else
            cat "$work/call.err" >>"$work/call.out"
            fail "$name" "$work/call.out"
        fi
    done

    kill "${pids[-1]}" 2>/dev/null || true
    wait "${pids[-1]}" 2>/dev/null || true
done

echo "interop-mcpws: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
