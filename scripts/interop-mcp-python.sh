#!/usr/bin/env bash
# MCP interop with the official Python SDK (PyPI `mcp`, pinned below) as an
# independent client (scripts/interop_mcp.py), against:
#   - examples/examples/mcp_stdio_server.rs over stdio (the SDK's stdio
#     client spawns it);
#   - `wirestate mcp-server` over stdio (the rt `McpServer::serve_io` on
#     tokio; and `--runtime blocking`, wirestate_blocking::mcp_server);
#   - `wirestate serve --runtime tokio|smol|blocking` at /mcp over Streamable HTTP
#     (`mcp.client.streamable_http`): Mcp-Session-Id, tool calls answered
#     as SSE, DELETE at the end and 404 after.
# Each session initializes (2025-11-25), pings, lists tools (input and
# output schemas), calls echo (structured content, progress) and add
# (text; an isError result for bad arguments; -32602 for an unknown
# tool), lists and reads the resource (-32002 for an unknown one), lists
# and gets the prompt, sets the log level and receives log notifications.
# Then, per HTTP runtime, the transport's error handling with raw HTTP
# (http.client, no SDK): malformed JSON 400/-32700, wrong `jsonrpc`
# 400/-32600, unknown method -32601, bad params -32602, no session 400,
# unknown session 404, bad Origin 403, bad Host 421, 415, 405, 406, a bad
# MCP-Protocol-Version 400, DELETE then 404. And the same server over the
# 2024-11-05 HTTP+SSE transport at /sse (`mcp.client.sse.sse_client`):
# the same session checks, the session ending with its stream, and that
# transport's refusals (405 for a POST to /sse — what tells a new client
# to fall back —, 400 without sessionId, 404, 403, 421, 406). Loopback only; servers ended
# by PID. One PASS/FAIL line per check, then `interop-mcp: N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/venv.sh

MCP_VERSION=2.3.0
cache="${WIRESTATE_CACHE:-$HOME/.cache/wirestate}"
venv="$cache/venv-mcp"
py="$venv/bin/python"

# --- the peer: a venv with the pinned SDK (installed only when missing)
python_venv "$venv" "import importlib.metadata as m, sys; sys.exit(m.version('mcp') != '$MCP_VERSION')" "mcp==$MCP_VERSION"

cargo build --release --locked -q -p wirestate-examples --example mcp_stdio_server
cargo build --release --locked -q --bin wirestate
example="${CARGO_TARGET_DIR:-target}/release/examples/mcp_stdio_server"
bin="${CARGO_TARGET_DIR:-target}/release/wirestate"

work=$(mktemp -d)
pids=()

. scripts/lib/tally.sh
end_at_exit
client() { # label, interop_mcp.py arguments...: runs one client, counts its lines
    local label=$1 rc=0 p f
    shift
    timeout 120 "$py" scripts/interop_mcp.py "$@" >"$work/client.out" 2>"$work/client.err" || rc=$?
    grep -E '^(PASS|FAIL) ' "$work/client.out" || true
    p=$(grep -c '^PASS ' "$work/client.out" || true)
    f=$(grep -c '^FAIL ' "$work/client.out" || true)
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        # The client died (or timed out) without reporting a failed check.
        f=1
        echo "FAIL [$label] python client exited with status $rc"
    fi
    if [ "$rc" -ne 0 ] || [ "$f" -ne 0 ]; then
        echo "--- [$label] client (and server) stderr:"
        tail -40 "$work/client.err" | sed 's/^/    /'
    fi
    passed=$((passed + p))
    failed=$((failed + f))
}


# --- stdio: the blocking-loop example, then `wirestate mcp-server`
client stdio-example stdio stdio-example wirestate-mcp-stdio-example "$example"
client mcp-server stdio mcp-server wirestate-demo "$bin" mcp-server
client mcp-server-blocking stdio mcp-server-blocking wirestate-demo "$bin" mcp-server --runtime blocking
client mcp-server-smol stdio mcp-server-smol wirestate-demo "$bin" mcp-server --runtime smol

# --- Streamable HTTP: `wirestate serve` /mcp on each runtime
for rt in tokio smol blocking; do
    port=$(free_port)
    "$bin" serve --listen "127.0.0.1:$port" --runtime "$rt" >"$work/serve-$rt.log" 2>&1 &
    pids+=($!)
    if ! wait_port "$port"; then
        failed=$((failed + 1))
        echo "FAIL [$rt] wirestate serve did not listen on $port"
        sed 's/^/    /' "$work/serve-$rt.log" | tail -20
        continue
    fi
    client "$rt-http" http "$rt-http" wirestate-demo "http://127.0.0.1:$port/mcp"
    client "$rt-raw" raw "$rt-raw" "http://127.0.0.1:$port/mcp"
    client "$rt-sse" sse "$rt-sse" wirestate-demo "http://127.0.0.1:$port/sse"
    kill "${pids[-1]}" 2>/dev/null || true
    wait "${pids[-1]}" 2>/dev/null || true
done

echo "interop-mcp: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
