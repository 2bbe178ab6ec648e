#!/usr/bin/env bash
# MCP interop with fastmcp (PyPI fastmcp 4.1.6, the most used Python MCP
# framework, on the official SDK's mcp 2.x), both ways, in its own venv:
#   - fastmcp's Client (scripts/interop_mcp_fastmcp.py) against
#     `wirestate serve --conformance-fixtures` /mcp on tokio, smol and
#     blocking (Streamable HTTP) and `wirestate mcp-server
#     --conformance-fixtures` (stdio, spawned by fastmcp), in fastmcp's
#     `auto` mode (the 2026-07-28 era, found by server/discover) and
#     `legacy` mode (initialize, 2025-11-25), and its SSETransport against
#     /sse (the 2024-11-05 HTTP+SSE transport, tokio): ping (-32601 in 2026-07-28,
#     which removed it), tools/list with schemas, structured output that
#     fastmcp checks against the output schema (unicode), a 1 MiB
#     argument, a large result, isError for bad arguments, an unknown
#     tool, resources, templates, a templated read, an unknown resource,
#     prompts with arguments and a missing one (-32602), completion,
#     logging (setLevel filtering in 2025-11-25), progress, a call the
#     client times out (cancelled) and the session going on, 40
#     concurrent calls;
#   - raw HTTP against /mcp of each runtime (no SDK client sends these):
#     JSON-RPC batches per negotiated revision (an array on 2025-03-26,
#     400/-32600 on 2025-06-18 and later and stateless), an unknown
#     MCP-Protocol-Version (400), a foreign Origin (403), a cancelled
#     call's stream ending unanswered, DELETE then 404;
#   - our client (`wirestate mcp` on tokio, smol, blocking) against a
#     fastmcp server (scripts/mcp_fastmcp_server.py, lists of two items a
#     page) over Streamable HTTP, over stdio (a child) and over the
#     2024-11-05 HTTP+SSE transport (reached through the fallback, also
#     with --era 2026-07-28): the era, every page of tools/list,
#     structured and plain results, progress and log notifications, an
#     isError result and an unknown tool (exit 1), resources and
#     templates, a templated read, prompts with arguments and a missing
#     one, a 120 KB argument.
# Loopback only; servers ended by PID. One PASS/FAIL line per check, then
# `interop-mcp-fastmcp: N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/venv.sh

FASTMCP_VERSION=4.1.6
cache="${WIRESTATE_CACHE:-$HOME/.cache/wirestate}"
venv="$cache/venv-fastmcp"
py="$venv/bin/python"
python_venv "$venv" "import importlib.metadata as m, sys; sys.exit(m.version('fastmcp') != '$FASTMCP_VERSION')" "fastmcp==$FASTMCP_VERSION"
echo "peer: fastmcp $("$py" -c 'import importlib.metadata as m; print(m.version("fastmcp"), "on mcp", m.version("mcp"))')"

cargo build --release --locked -q --bin wirestate
bin="${CARGO_TARGET_DIR:-target}/release/wirestate"

work=$(mktemp -d)
pids=()

. scripts/lib/tally.sh
end_at_exit
. scripts/lib/expect.sh
rc=0

# driver LABEL ARGS...: runs interop_mcp_fastmcp.py, counts its lines.
driver() {
    local label=$1 r=0 p f
    shift
    timeout 180 "$py" -W ignore scripts/interop_mcp_fastmcp.py "$@" >"$work/py.out" 2>"$work/py.err" || r=$?
    grep -E '^(PASS|FAIL) ' "$work/py.out" || true
    p=$(grep -c '^PASS ' "$work/py.out" || true)
    f=$(grep -c '^FAIL ' "$work/py.out" || true)
    if [ "$r" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "FAIL [$label] the fastmcp driver exited with status $r"
    fi
    if [ "$r" -ne 0 ] || [ "$f" -ne 0 ]; then
        echo "--- [$label] driver stderr:"
        tail -30 "$work/py.err" | sed 's/^/    /'
    fi
    passed=$((passed + p))
    failed=$((failed + f))
}

# start_serve RUNTIME: `wirestate serve --conformance-fixtures` on a free
# port ($port); returns 1 if it does not listen.
start_serve() {
    port=$(free_port)
    "$bin" serve --listen "127.0.0.1:$port" --runtime "$1" --conformance-fixtures >"$work/serve-$1.log" 2>&1 &
    pids+=($!)
    if ! wait_port "$port"; then
        fail "[$1 serve] wirestate serve did not listen on $port" "$work/serve-$1.log"
        return 1
    fi
}

stop_last() {
    kill "${pids[-1]}" 2>/dev/null || true
    wait "${pids[-1]}" 2>/dev/null || true
}

# ---- fastmcp's Client against our servers

for mode in auto legacy; do
    driver "stdio $mode" client "tokio mcp-server $mode" "$mode" -- "$bin" mcp-server --conformance-fixtures
done
driver "blocking stdio" client "blocking mcp-server auto" auto -- "$bin" mcp-server --runtime blocking --conformance-fixtures
for rt in tokio smol blocking; do
    if start_serve "$rt"; then
        for mode in auto legacy; do
            driver "$rt $mode" client "$rt serve $mode" "$mode" "http://127.0.0.1:$port/mcp"
        done
        driver "$rt raw" raw "$rt serve raw HTTP" "http://127.0.0.1:$port/mcp"
        if [ "$rt" = tokio ]; then
            # fastmcp's SSETransport: the 2024-11-05 HTTP+SSE transport.
            driver "$rt sse" client "$rt serve /sse legacy" legacy "http://127.0.0.1:$port/sse"
        fi
    fi
    stop_last
done

# ---- our client against a fastmcp server

# mcp RUNTIME TARGET ACTION...: runs `wirestate mcp`; TARGET is a URL or
# `stdio` (the fastmcp server spawned as a child).
mcp() {
    local runtime=$1 target=$2
    shift 2
    rc=0
    if [ "$target" = stdio ]; then
        timeout 60 "$bin" mcp --runtime "$runtime" --timeout 20 --era "${era:-auto}" "$@" -- "$py" -W ignore scripts/mcp_fastmcp_server.py \
            >"$work/out" 2>"$work/err" || rc=$?
    else
        timeout 60 "$bin" mcp --runtime "$runtime" --timeout 20 --era "${era:-auto}" "$target" "$@" >"$work/out" 2>"$work/err" || rc=$?
    fi
}

text0='j["content"][0]["text"]'
tools="['echo', 'add', 'weather', 'slow', 'length', 'fail']"

# fastmcp_checks LABEL RUNTIME TARGET ERA: the checks of one transport;
# ERA is what auto detection must find.
fastmcp_checks() {
    local label=$1 runtime=$2 target=$3 want=$4
    mcp "$runtime" "$target" info
    expect "[$label] info: auto-detected era $want" "rc == 0 and j['serverInfo']['name'] == 'fastmcp-peer' and j['protocolVersion'] == '$want'"
    era=legacy mcp "$runtime" "$target" info
    expect "[$label] info --era legacy" "rc == 0 and j['protocolVersion'] == '2025-11-25' and j['instructions'].startswith('fastmcp peer')"
    era=2026-07-28 mcp "$runtime" "$target" info
    expect "[$label] info --era 2026-07-28" "rc == 0 and j['protocolVersion'] == '2026-07-28'"
    mcp "$runtime" "$target" list-tools
    expect "[$label] list-tools: every page (two tools a page)" "rc == 0 and [t['name'] for t in j] == $tools and all('inputSchema' in t for t in j)"
    mcp "$runtime" "$target" call weather '{"city": "Zürich"}'
    expect "[$label] call weather: structured output" "rc == 0 and j['structuredContent'] == {'city': 'Zürich', 'celsius': 21.5} and not j['isError']"
    mcp "$runtime" "$target" call echo '{"text": "héllo ✓ 🙂"}'
    expect "[$label] call echo (unicode)" "rc == 0 and $text0 == 'héllo ✓ 🙂'"
    mcp "$runtime" "$target" call slow '{"steps": 3}'
    expect "[$label] call slow: progress and log notifications" "rc == 0 and $text0 == 'done 3' and '[progress] 3/3 step 3' in err and err.count('step ') >= 6"
    mcp "$runtime" "$target" call fail '{}'
    expect "[$label] an isError result exits 1" "rc == 1 and j['isError'] and 'it failed' in $text0"
    mcp "$runtime" "$target" call no-such-tool '{}'
    expect "[$label] an unknown tool exits 1" "rc == 1 and 'no-such-tool' in out + err"
    mcp "$runtime" "$target" resources
    expect "[$label] resources and templates" "rc == 0 and [r['uri'] for r in j['resources']] == ['peer://static', 'peer://json'] and [t['uriTemplate'] for t in j['resourceTemplates']] == ['peer://item/{id}']"
    mcp "$runtime" "$target" read peer://item/42
    expect "[$label] read a templated resource" "rc == 0 and j['contents'][0]['text'] == 'item 42'"
    mcp "$runtime" "$target" read peer://static
    expect "[$label] read a static resource (unicode)" "rc == 0 and j['contents'][0]['text'] == 'static ✓'"
    mcp "$runtime" "$target" prompts
    expect "[$label] prompts" "rc == 0 and [p['name'] for p in j] == ['greet', 'plain']"
    mcp "$runtime" "$target" get-prompt greet '{"name": "Zoë", "style": "formal"}'
    expect "[$label] get-prompt with arguments" "rc == 0 and j['messages'][0]['content']['text'] == 'Greet Zoë in a formal way.'"
    mcp "$runtime" "$target" get-prompt greet '{}'
    expect "[$label] get-prompt missing an argument: -32602" "rc == 1 and '-32602' in err"
    mcp "$runtime" "$target" call length "$big"
    expect "[$label] a 120 KB argument" "rc == 0 and j['structuredContent'] == {'result': 40000}"
}

# 40,000 characters, 120 KB of UTF-8: an argument of one command line
# cannot be longer than 128 KiB.
big=$(python3 -c 'import json; print(json.dumps({"data": "é🙂" * 20000}, ensure_ascii=False))')

for rt in tokio smol blocking; do
    # stdio: a few checks (each starts Python and fastmcp, ~2 s).
    mcp "$rt" stdio info
    expect "[$rt fastmcp-stdio] info: auto-detected era 2026-07-28" "rc == 0 and j['serverInfo']['name'] == 'fastmcp-peer' and j['protocolVersion'] == '2026-07-28'"
    era=legacy mcp "$rt" stdio list-tools
    expect "[$rt fastmcp-stdio] list-tools --era legacy: every page" "rc == 0 and [t['name'] for t in j] == $tools"
    mcp "$rt" stdio call slow '{"steps": 2}'
    expect "[$rt fastmcp-stdio] call slow: progress and log notifications" "rc == 0 and $text0 == 'done 2' and '[progress] 2/2 step 2' in err"
    mcp "$rt" stdio get-prompt greet '{"name": "Zoë"}'
    expect "[$rt fastmcp-stdio] get-prompt" "rc == 0 and j['messages'][0]['content']['text'] == 'Greet Zoë in a warm way.'"

    port=$(free_port)
    "$py" -W ignore scripts/mcp_fastmcp_server.py http "$port" >"$work/fastmcp-http.log" 2>&1 &
    pids+=($!)
    if wait_port "$port" 200; then
        fastmcp_checks "$rt fastmcp-http" "$rt" "http://127.0.0.1:$port/mcp" 2026-07-28
    else
        fail "[$rt fastmcp-http] the fastmcp server did not listen on $port" "$work/fastmcp-http.log"
    fi
    stop_last

    # The 2024-11-05 HTTP+SSE transport: auto speaks the initialize era
    # over it; --era 2026-07-28 discovers over the stream.
    port=$(free_port)
    "$py" -W ignore scripts/mcp_fastmcp_server.py sse "$port" >"$work/fastmcp-sse.log" 2>&1 &
    pids+=($!)
    if wait_port "$port" 200; then
        fastmcp_checks "$rt fastmcp-sse" "$rt" "http://127.0.0.1:$port/sse" 2025-11-25
        expect "[$rt fastmcp-sse] initialize POST refused with 405, then the stream" "'POST /sse HTTP/1.1\" 405' in open('$work/fastmcp-sse.log').read() and 'GET /sse HTTP/1.1\" 200' in open('$work/fastmcp-sse.log').read()"
    else
        fail "[$rt fastmcp-sse] the fastmcp SSE server did not listen on $port" "$work/fastmcp-sse.log"
    fi
    stop_last
done

echo "interop-mcp-fastmcp: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
