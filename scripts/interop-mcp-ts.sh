#!/usr/bin/env bash
# MCP interop with the official TypeScript SDK (npm @modelcontextprotocol/sdk
# 1.32.2 and its reference server @modelcontextprotocol/server-everything
# 2026.8.31, both installed by ../shared/tools/mcp-conformance/setup.sh
# with a Node 22), both ways:
#   - the SDK's client (scripts/interop_mcp_ts.mjs) against our servers:
#     examples/mcp_stdio_server and `wirestate mcp-server` over stdio (the
#     SDK spawns them), `wirestate serve --runtime tokio|smol` at /mcp over
#     Streamable HTTP. Per session: initialize (2025-11-25, server info,
#     capabilities, instructions), ping, tools/list (input and output
#     schemas), tools/call echo (structured content that the SDK validates
#     against the output schema; progress), add (text; an isError result
#     for bad arguments; -32602 for an unknown tool), resources/list,
#     templates/list, resources/read (-32002 for an unknown one),
#     prompts/list, prompts/get (-32602 for an unknown prompt), an unknown
#     method -32601, bad params -32602, logging/setLevel and log
#     notifications; on HTTP a 32-hex-digit session id, DELETE
#     (terminateSession) then 404, and an unknown session refused with 404;
#     and the same session over the 2024-11-05 HTTP+SSE transport at /sse
#     (SSEClientTransport): the endpoint event, and the session ending
#     with its stream.
#   - our client (`wirestate mcp` on tokio, smol and blocking) against
#     server-everything over stdio (spawned as a child) and over Streamable
#     HTTP (its express server, bound to 127.0.0.1 by the harness's
#     loopback-only preload): info (the era detected: 2025-11-25), list-tools, call echo / get-sum /
#     get-structured-content / trigger-long-running-operation (progress
#     notifications) / an unknown tool (exit 1), resources, read a static
#     and a templated resource, prompts, get-prompt with and without
#     arguments; on HTTP the session is ended with DELETE. And its
#     2024-11-05 HTTP+SSE server (`sse`, /sse): the same checks, reached
#     through the client's fallback (POST /sse refused, then the stream).
# Loopback only; servers ended by PID. One PASS/FAIL line per check, then
# `interop-mcpts: N passed, M failed`.
set -euo pipefail
cd "$(dirname "$0")/.."

harness="${MCP_CONFORMANCE_DIR:-$(cd .. && pwd)/shared/tools/mcp-conformance}"
if [ ! -f "$harness/lib.sh" ]; then
    echo "no MCP harness at $harness (set MCP_CONFORMANCE_DIR)"
    echo "interop-mcpts: 0 passed, 1 failed"
    exit 1
fi
# shellcheck source=/dev/null
source "$harness/lib.sh"
mcp_ensure_setup
node="$(mcp_node)"
sdk="$MCP_NPM_DIR/node_modules/@modelcontextprotocol/sdk"
for pkg in "$sdk" "$(dirname "$(dirname "$EVERYTHING_JS")")"; do
    if [ ! -f "$pkg/package.json" ]; then
        echo "missing $pkg (run $harness/setup.sh)"
        echo "interop-mcpts: 0 passed, 1 failed"
        exit 1
    fi
done
echo "peers: @modelcontextprotocol/sdk $("$node" -p "require('$sdk/package.json').version"), server-everything $("$node" -p "require('$(dirname "$(dirname "$EVERYTHING_JS")")/package.json').version"), node $("$node" --version)"

cargo build --release --locked -q -p wirestate-examples --example mcp_stdio_server
cargo build --release --locked -q --bin wirestate
example="${CARGO_TARGET_DIR:-target}/release/examples/mcp_stdio_server"
bin="${CARGO_TARGET_DIR:-target}/release/wirestate"

work=$(mktemp -d)
pids=()

. scripts/lib/tally.sh
end_at_exit
. scripts/lib/expect.sh
rc=0


# ---- the SDK's client against our servers

# ts LABEL MODE SERVER_NAME TARGET...: runs the driver, counts its lines.
ts() {
    local label=$1 mode=$2 name=$3 r=0 p f
    shift 3
    timeout 120 "$node" scripts/interop_mcp_ts.mjs "$sdk" "$mode" "$label" "$name" "$@" \
        >"$work/ts.out" 2>"$work/ts.err" || r=$?
    grep -E '^(PASS|FAIL) ' "$work/ts.out" || true
    p=$(grep -c '^PASS ' "$work/ts.out" || true)
    f=$(grep -c '^FAIL ' "$work/ts.out" || true)
    if [ "$r" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "FAIL [$label] the TypeScript client exited with status $r"
    fi
    if [ "$r" -ne 0 ] || [ "$f" -ne 0 ]; then
        echo "--- [$label] client (and server) stderr:"
        tail -30 "$work/ts.err" | sed 's/^/    /'
    fi
    passed=$((passed + p))
    failed=$((failed + f))
}

ts stdio-example stdio wirestate-mcp-stdio-example "$example"
ts mcp-server stdio wirestate-demo "$bin" mcp-server
for rt in tokio smol; do
    port=$(free_port)
    "$bin" serve --listen "127.0.0.1:$port" --runtime "$rt" >"$work/serve-$rt.log" 2>&1 &
    pids+=($!)
    if wait_port "$port"; then
        ts "$rt-http" http wirestate-demo "http://127.0.0.1:$port/mcp"
        ts "$rt-sse" sse wirestate-demo "http://127.0.0.1:$port/sse"
    else
        failed=$((failed + 1))
        echo "FAIL [$rt-http] wirestate serve did not listen on $port"
        tail -20 "$work/serve-$rt.log" | sed 's/^/    /'
    fi
    kill "${pids[-1]}" 2>/dev/null || true
    wait "${pids[-1]}" 2>/dev/null || true
done

# ---- our client against server-everything

# mcp RUNTIME TARGET ACTION...: runs `wirestate mcp`; TARGET is a URL or
# `stdio` (server-everything spawned as a child).
mcp() {
    local runtime=$1 target=$2
    shift 2
    rc=0
    if [ "$target" = stdio ]; then
        timeout 60 "$bin" mcp --runtime "$runtime" --timeout 20 "$@" -- "$node" "$EVERYTHING_JS" stdio \
            >"$work/out" 2>"$work/err" || rc=$?
    else
        timeout 60 "$bin" mcp --runtime "$runtime" --timeout 20 "$target" "$@" >"$work/out" 2>"$work/err" || rc=$?
    fi
}

text0='j["content"][0]["text"]'
doc="demo://resource/static/document/features.md"

# everything_checks LABEL RUNTIME TARGET
everything_checks() {
    local label=$1 runtime=$2 target=$3
    # server-everything speaks the initialize era: the client's detection
    # (the default) must fall back to it.
    mcp "$runtime" "$target" info
    expect "[$label] info: auto-detected era 2025-11-25" "rc == 0 and j['serverInfo']['name'] == 'mcp-servers/everything' and j['protocolVersion'] == '2025-11-25'"
    mcp "$runtime" "$target" list-tools
    expect "[$label] list-tools" "rc == 0 and {'echo', 'get-sum', 'get-structured-content', 'trigger-long-running-operation'} <= {t['name'] for t in j} and all('inputSchema' in t for t in j)"
    mcp "$runtime" "$target" call echo '{"message": "héllo ✓"}'
    expect "[$label] call echo" "rc == 0 and $text0 == 'Echo: héllo ✓' and not j.get('isError')"
    mcp "$runtime" "$target" call get-sum '{"a": 2, "b": 40}'
    expect "[$label] call get-sum" "rc == 0 and '42' in $text0"
    mcp "$runtime" "$target" call get-structured-content '{"location": "Chicago"}'
    expect "[$label] call get-structured-content" "rc == 0 and isinstance(j['structuredContent']['temperature'], (int, float)) and 'conditions' in j['structuredContent']"
    mcp "$runtime" "$target" call trigger-long-running-operation '{"duration": 0.3, "steps": 3}'
    expect "[$label] call trigger-long-running-operation: progress notifications" "rc == 0 and 'Steps: 3' in $text0 and err.count('[progress] ') == 3 and '[progress] 3/3' in err"
    mcp "$runtime" "$target" call no-such-tool '{}'
    expect "[$label] an unknown tool exits 1" "rc == 1 and 'no-such-tool' in out + err"
    mcp "$runtime" "$target" resources
    expect "[$label] resources" "rc == 0 and '$doc' in [r['uri'] for r in j['resources']] and isinstance(j['resourceTemplates'], list)"
    mcp "$runtime" "$target" read "$doc"
    expect "[$label] read a static resource" "rc == 0 and j['contents'][0]['mimeType'] == 'text/markdown' and len(j['contents'][0]['text']) > 100"
    mcp "$runtime" "$target" read demo://resource/dynamic/text/7
    expect "[$label] read a templated resource" "rc == 0 and j['contents'][0]['text'].startswith('Resource 7: ')"
    mcp "$runtime" "$target" prompts
    expect "[$label] prompts" "rc == 0 and {'simple-prompt', 'args-prompt'} <= {p['name'] for p in j}"
    mcp "$runtime" "$target" get-prompt args-prompt '{"city": "Paris", "state": "Texas"}'
    expect "[$label] get-prompt with arguments" "rc == 0 and j['messages'][0]['content']['text'] == \"What's weather in Paris, Texas?\""
    mcp "$runtime" "$target" get-prompt simple-prompt
    expect "[$label] get-prompt without arguments" "rc == 0 and j['messages'][0]['role'] == 'user'"
}

for rt in tokio smol blocking; do
    everything_checks "$rt everything-stdio" "$rt" stdio

    port=$(free_port)
    PORT=$port "$node" --import "$harness/loopback-only.mjs" "$EVERYTHING_JS" streamableHttp >"$work/everything-$rt.log" 2>&1 &
    pids+=($!)
    if wait_port "$port"; then
        everything_checks "$rt everything-http" "$rt" "http://127.0.0.1:$port/mcp"
        rc=0
        : >"$work/out"
        : >"$work/err"
        expect "[$rt everything-http] sessions ended with DELETE" "open('$work/everything-$rt.log').read().count('Received session termination request') >= 13"
    else
        failed=$((failed + 1))
        echo "FAIL [$rt everything-http] server-everything did not listen on $port"
        tail -20 "$work/everything-$rt.log" | sed 's/^/    /'
    fi
    kill "${pids[-1]}" 2>/dev/null || true
    wait "${pids[-1]}" 2>/dev/null || true

    # The same server over its 2024-11-05 HTTP+SSE transport (/sse,
    # POST /message): given the URL, the client falls back to it.
    port=$(free_port)
    PORT=$port "$node" --import "$harness/loopback-only.mjs" "$EVERYTHING_JS" sse >"$work/everything-sse-$rt.log" 2>&1 &
    pids+=($!)
    if wait_port "$port"; then
        everything_checks "$rt everything-sse" "$rt" "http://127.0.0.1:$port/sse"
    else
        failed=$((failed + 1))
        echo "FAIL [$rt everything-sse] server-everything did not listen on $port"
        tail -20 "$work/everything-sse-$rt.log" | sed 's/^/    /'
    fi
    kill "${pids[-1]}" 2>/dev/null || true
    wait "${pids[-1]}" 2>/dev/null || true
done

echo "interop-mcpts: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
