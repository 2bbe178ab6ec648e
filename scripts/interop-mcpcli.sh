#!/usr/bin/env bash
# `wirestate mcp` (our MCP client: wirestate_rt::mcp_client on tokio and
# smol, wirestate_blocking::mcp_client on blocking) against:
#   - a server built with the official Python SDK (PyPI `mcp`, the venv of
#     interop-mcp-python.sh; scripts/mcpcli_server.py) over stdio (spawned
#     as a child) and over Streamable HTTP (its own uvicorn at /mcp): mcp
#     2.x speaks both eras;
#   - the same server on the last Python SDK of the initialize era (mcp
#     1.x, FastMCP; its own venv): it answers server/discover with -32602
#     on stdio, and refuses it on HTTP;
#   - our own servers: `wirestate mcp-server` (stdio child) and
#     `wirestate serve` /mcp (Streamable HTTP);
#   - the 2024-11-05 HTTP+SSE transport: both Python SDKs' SSE servers
#     (`run("sse")`, /sse) and `wirestate serve` /sse, given to the client
#     as a plain URL: its POST of initialize is refused (405), and the
#     client falls back to GET the stream (the specification's
#     backwards-compatibility procedure), then speaks the old transport.
# The client detects the era (the default, --era auto): per peer, info
# must show the revision of the era the peer speaks (2026-07-28 for the
# dual-era peers, 2025-11-25 for mcp 1.x); --era legacy gets 2025-11-25
# from every peer, and --era 2026-07-28 fails against mcp 1.x. Over the
# 2024-11-05 HTTP+SSE transport auto speaks the initialize era, while
# --era 2026-07-28 takes the same fallback (server/discover's POST is
# refused with 405) and discovers over the stream: mcp 2.x's SSE server
# and `wirestate serve` /sse answer it there.
# Per peer and runtime: info (serverInfo, negotiated revision), list-tools,
# call (text result; log and progress notifications printed on stderr; an
# isError result exits 1; an unknown tool exits 1), resources, read,
# prompts, get-prompt. Then the child is always reaped: a "server" that
# never answers and ignores its stdin closing is killed after the
# shutdown timeout and gone from /proc. Loopback only; servers ended by
# PID. One PASS/FAIL line per check, then `interop-mcpcli: N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/venv.sh

MCP_VERSION=2.3.0
# The initialize era's last SDK line.
MCP1_VERSION=1.30.0
cache="${WIRESTATE_CACHE:-$HOME/.cache/wirestate}"
venv="$cache/venv-mcp"
py="$venv/bin/python"
venv1="$cache/venv-mcp1"
py1="$venv1/bin/python"

# --- the peer: a venv with the pinned SDK (installed only when missing)
python_venv "$venv" "import importlib.metadata as m, sys; sys.exit(m.version('mcp') != '$MCP_VERSION')" "mcp==$MCP_VERSION"
python_venv "$venv1" "import importlib.metadata as m, sys; sys.exit(m.version('mcp') != '$MCP1_VERSION')" "mcp==$MCP1_VERSION"

cargo build --release --locked -q --bin wirestate
bin="${CARGO_TARGET_DIR:-target}/release/wirestate"

work=$(mktemp -d)
pids=()

. scripts/lib/tally.sh
end_at_exit
. scripts/lib/expect.sh
rc=0


# mcp RUNTIME TARGET ACTION...: runs `wirestate mcp`; TARGET is a URL or
# `cmd:` followed by the command line (split on spaces).
mcp() {
    local runtime=$1 target=$2
    shift 2
    rc=0
    if [[ $target == cmd:* ]]; then
        # shellcheck disable=SC2086
        timeout 60 "$bin" mcp --runtime "$runtime" --timeout "${timeout_s:-20}" --era "${era:-auto}" "$@" -- ${target#cmd:} >"$work/out" 2>"$work/err" || rc=$?
    else
        timeout 60 "$bin" mcp --runtime "$runtime" --timeout "${timeout_s:-20}" --era "${era:-auto}" "$target" "$@" >"$work/out" 2>"$work/err" || rc=$?
    fi
}

text0='j["content"][0]["text"]'

# peer_checks LABEL RUNTIME TARGET ERA NAME RESOURCE RESOURCE_TEXT PROMPT PROMPT_ARGS PROMPT_TEXT
# ERA: the revision the peer's era gives: 2026-07-28 for a server that
# speaks it, else 2025-11-25.
peer_checks() {
    local label=$1 runtime=$2 target=$3 want=$4 name=$5 resource=$6 resource_text=$7 prompt=$8 prompt_args=$9 prompt_text=${10}
    mcp "$runtime" "$target" info
    expect "[$label] info: auto-detected era $want" "rc == 0 and j['serverInfo']['name'] == '$name' and j['protocolVersion'] == '$want'"
    era=legacy mcp "$runtime" "$target" info
    expect "[$label] info --era legacy" "rc == 0 and j['serverInfo']['name'] == '$name' and j['protocolVersion'] == '2025-11-25'"
    era=2026-07-28 mcp "$runtime" "$target" info
    # sse2026=yes: a dual-era server over the HTTP+SSE transport.
    if [ "$want" = 2026-07-28 ] || [ "${sse2026:-}" = yes ]; then
        expect "[$label] info --era 2026-07-28" "rc == 0 and j['protocolVersion'] == '2026-07-28'"
    else
        expect "[$label] info --era 2026-07-28 fails against an initialize-era server" "rc == 1 and 'cannot start the MCP session' in err"
    fi
    mcp "$runtime" "$target" list-tools
    expect "[$label] list-tools" "rc == 0 and {'add', 'echo'} <= {t['name'] for t in j} and all('inputSchema' in t for t in j)"
    mcp "$runtime" "$target" call add '{"a": 2, "b": 40}'
    expect "[$label] call add" "rc == 0 and $text0 == '42' and not j.get('isError')"
    mcp "$runtime" "$target" call echo '{"text": "héllo"}'
    expect "[$label] call echo" "rc == 0 and 'héllo' in $text0"
    mcp "$runtime" "$target" call nope '{}'
    expect "[$label] unknown tool exits 1" "rc == 1 and 'nope' in open(sys.argv[1]).read() + err"
    mcp "$runtime" "$target" resources
    expect "[$label] resources" "rc == 0 and '$resource' in [r['uri'] for r in j['resources']] and isinstance(j['resourceTemplates'], list)"
    mcp "$runtime" "$target" read "$resource"
    expect "[$label] read" "rc == 0 and j['contents'][0]['text'] == '$resource_text'"
    mcp "$runtime" "$target" prompts
    expect "[$label] prompts" "rc == 0 and '$prompt' in [p['name'] for p in j]"
    mcp "$runtime" "$target" get-prompt "$prompt" "$prompt_args"
    expect "[$label] get-prompt" "rc == 0 and j['messages'][0]['content']['text'] == '$prompt_text'"
}

pyserver="$py -W ignore scripts/mcpcli_server.py"

# sse_peer LABEL RUNTIME SERVER: the Python server SERVER (a command line)
# over the 2024-11-05 HTTP+SSE transport, reached through the fallback.
sse_peer() {
    local label=$1 runtime=$2 server=$3 port
    port=$(free_port)
    # shellcheck disable=SC2086
    $server sse "$port" >"$work/sse.log" 2>&1 &
    pids+=($!)
    if wait_port "$port"; then
        local url="http://127.0.0.1:$port/sse"
        peer_checks "$label" "$runtime" "$url" 2025-11-25 py-interop \
            py://hello "hello from python" review '{"language": "Rust"}' "Please review this Rust code."
        mcp "$runtime" "$url" call echo '{"text": "abc"}'
        expect "[$label] log and progress notifications (on the stream)" "rc == 0 and 'echoing 3 characters' in err and '[progress] 3/3 step 3' in err"
        expect "[$label] initialize POST refused with 405, then the stream" "'POST /sse HTTP/1.1\" 405' in open('$work/sse.log').read() and 'GET /sse HTTP/1.1\" 200' in open('$work/sse.log').read()"
    else
        failed=$((failed + 1))
        echo "FAIL [$label] the Python SSE server did not listen on $port"
        tail -20 "$work/sse.log" | sed 's/^/    /'
    fi
    kill "${pids[-1]}" 2>/dev/null || true
    wait "${pids[-1]}" 2>/dev/null || true
}
pyserver1="$py1 -W ignore scripts/mcpcli_server.py"
for rt in tokio smol blocking; do
    # --- the Python SDK server over stdio
    peer_checks "$rt py-stdio" "$rt" "cmd:$pyserver stdio" 2026-07-28 py-interop \
        py://hello "hello from python" review '{"language": "Rust"}' "Please review this Rust code."
    mcp "$rt" "cmd:$pyserver stdio" call echo '{"text": "abc"}'
    expect "[$rt py-stdio] log and progress notifications" "rc == 0 and 'echoing 3 characters' in err and '[progress] 3/3 step 3' in err"
    mcp "$rt" "cmd:$pyserver stdio" call broken '{}'
    expect "[$rt py-stdio] isError result exits 1" "rc == 1 and j['isError'] is True"

    # --- the Python SDK server over Streamable HTTP
    port=$(free_port)
    $pyserver http "$port" >"$work/py-$rt.log" 2>&1 &
    pids+=($!)
    if wait_port "$port"; then
        url="http://127.0.0.1:$port/mcp"
        peer_checks "$rt py-http" "$rt" "$url" 2026-07-28 py-interop \
            py://hello "hello from python" review '{"language": "Rust"}' "Please review this Rust code."
        mcp "$rt" "$url" call echo '{"text": "abc"}'
        expect "[$rt py-http] log and progress notifications (SSE)" "rc == 0 and 'echoing 3 characters' in err and '[progress] 3/3 step 3' in err"
        expect "[$rt py-http] sessions ended with DELETE" "'DELETE /mcp HTTP/1.1\" 200' in open('$work/py-$rt.log').read()"
    else
        failed=$((failed + 1))
        echo "FAIL [$rt py-http] the Python server did not listen on $port"
        tail -20 "$work/py-$rt.log" | sed 's/^/    /'
    fi
    kill "${pids[-1]}" 2>/dev/null || true
    wait "${pids[-1]}" 2>/dev/null || true

    # --- the Python SDK's 2024-11-05 HTTP+SSE server: the fallback
    sse2026=yes sse_peer "$rt py-sse" "$rt" "$pyserver"

    # --- the initialize-era Python SDK (mcp 1.x) over stdio and HTTP
    peer_checks "$rt py1-stdio" "$rt" "cmd:$pyserver1 stdio" 2025-11-25 py-interop \
        py://hello "hello from python" review '{"language": "Rust"}' "Please review this Rust code."
    mcp "$rt" "cmd:$pyserver1 stdio" call echo '{"text": "abc"}'
    expect "[$rt py1-stdio] log and progress notifications" "rc == 0 and 'echoing 3 characters' in err and '[progress] 3/3 step 3' in err"
    port=$(free_port)
    $pyserver1 http "$port" >"$work/py1-$rt.log" 2>&1 &
    pids+=($!)
    if wait_port "$port"; then
        peer_checks "$rt py1-http" "$rt" "http://127.0.0.1:$port/mcp" 2025-11-25 py-interop \
            py://hello "hello from python" review '{"language": "Rust"}' "Please review this Rust code."
    else
        failed=$((failed + 1))
        echo "FAIL [$rt py1-http] the Python server did not listen on $port"
        tail -20 "$work/py1-$rt.log" | sed 's/^/    /'
    fi
    kill "${pids[-1]}" 2>/dev/null || true
    wait "${pids[-1]}" 2>/dev/null || true

    sse_peer "$rt py1-sse" "$rt" "$pyserver1"

    # --- our servers: wirestate mcp-server (stdio) and wirestate serve /mcp
    peer_checks "$rt mcp-server" "$rt" "cmd:$bin mcp-server" 2026-07-28 wirestate-demo \
        demo://greeting "Hello from a sans-IO MCP server." greet '{"name": "Ada"}' "Please greet Ada warmly."
    port=$(free_port)
    # Each runtime's client against the same runtime's server.
    "$bin" serve --listen "127.0.0.1:$port" --runtime "$rt" >"$work/serve-$rt.log" 2>&1 &
    pids+=($!)
    if wait_port "$port"; then
        peer_checks "$rt serve" "$rt" "http://127.0.0.1:$port/mcp" 2026-07-28 wirestate-demo \
            demo://greeting "Hello from a sans-IO MCP server." greet '{"name": "Ada"}' "Please greet Ada warmly."
        # The same server over the 2024-11-05 HTTP+SSE transport (/sse).
        sse2026=yes peer_checks "$rt serve-sse" "$rt" "http://127.0.0.1:$port/sse" 2025-11-25 wirestate-demo \
            demo://greeting "Hello from a sans-IO MCP server." greet '{"name": "Ada"}' "Please greet Ada warmly."
    else
        failed=$((failed + 1))
        echo "FAIL [$rt serve] wirestate serve did not listen on $port"
    fi
    kill "${pids[-1]}" 2>/dev/null || true
    wait "${pids[-1]}" 2>/dev/null || true

    # --- a legacy server that ignores server/discover (reads it and says
    # nothing) and answers initialize: the client falls back once the
    # discovery timeout (bounded by --timeout, 2 s here) passes.
    printf '%s\n' '#!/bin/sh' 'read l' 'read l' \
        'echo '"'"'{"jsonrpc":"2.0","id":2,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"mute","version":"1"}}}'"'" \
        'cat >/dev/null' >"$work/mute.sh"
    chmod +x "$work/mute.sh"
    start=$(date +%s)
    timeout_s=2 mcp "$rt" "cmd:$work/mute.sh" info
    elapsed=$(($(date +%s) - start))
    expect "[$rt] server ignoring server/discover: initialize after the discovery timeout" "rc == 0 and j['serverInfo']['name'] == 'mute' and j['protocolVersion'] == '2025-06-18' and 2 <= $elapsed < 10"

    # --- a child that never answers and ignores its stdin closing: the
    # client gives up (--timeout 1), kills it after the shutdown timeout
    # (5 s), and reaps it.
    printf '#!/bin/sh\necho $$ > %s\nexec sleep 60\n' "$work/silent-$rt.pid" >"$work/silent.sh"
    chmod +x "$work/silent.sh"
    start=$(date +%s)
    timeout_s=1 mcp "$rt" "cmd:$work/silent.sh" info
    elapsed=$(($(date +%s) - start))
    child=$(cat "$work/silent-$rt.pid" 2>/dev/null || echo 0)
    expect "[$rt] silent child: initialize times out, exit 1" "rc == 1 and 'did not answer initialize' in err"
    expect "[$rt] silent child killed after the shutdown timeout and reaped" "$child > 0 and $elapsed < 15 and not __import__('os').path.exists('/proc/$child')"
done

echo "interop-mcpcli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
