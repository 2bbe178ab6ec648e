#!/usr/bin/env bash
# `wirestate mcp` (our MCP client: wirestate_rt::mcp_client on tokio and
# smol, wirestate_blocking::mcp_client on blocking) against:
#   - a server built with the official Python SDK (PyPI `mcp`, the venv of
#     interop-mcp-python.sh; scripts/mcpcli_server.py) over stdio (spawned
#     as a child) and over Streamable HTTP (its own uvicorn at /mcp);
#   - our own servers: `wirestate mcp-server` (stdio child) and
#     `wirestate serve` /mcp (Streamable HTTP).
# Per peer and runtime: info (serverInfo, negotiated revision), list-tools,
# call (text result; log and progress notifications printed on stderr; an
# isError result exits 1; an unknown tool exits 1), resources, read,
# prompts, get-prompt. Then the child is always reaped: a "server" that
# never answers and ignores its stdin closing is killed after the
# shutdown timeout and gone from /proc. Loopback only; servers ended by
# PID. One PASS/FAIL line per check, then `interop-mcpcli: N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/.."

MCP_VERSION=2.3.0
cache="${WIRESTATE_CACHE:-$HOME/.cache/wirestate}"
venv="$cache/venv-mcp"
py="$venv/bin/python"

# --- the peer: a venv with the pinned SDK (installed only when missing)
if ! "$py" -c "import importlib.metadata as m, sys; sys.exit(m.version('mcp') != '$MCP_VERSION')" 2>/dev/null; then
    mkdir -p "$cache"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        rm -rf "$venv"
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$venv"
    fi
    "$py" -m pip install -q --disable-pip-version-check "mcp==$MCP_VERSION"
fi

cargo build --release --locked -q --bin wirestate
bin="${CARGO_TARGET_DIR:-target}/release/wirestate"

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
rc=0

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { # port: until it accepts a connection
    for _ in $(seq 100); do
        python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# mcp RUNTIME TARGET ACTION...: runs `wirestate mcp`; TARGET is a URL or
# `cmd:` followed by the command line (split on spaces).
mcp() {
    local runtime=$1 target=$2
    shift 2
    rc=0
    if [[ $target == cmd:* ]]; then
        # shellcheck disable=SC2086
        timeout 60 "$bin" mcp --runtime "$runtime" --timeout "${timeout_s:-20}" "$@" -- ${target#cmd:} >"$work/out" 2>"$work/err" || rc=$?
    else
        timeout 60 "$bin" mcp --runtime "$runtime" --timeout "${timeout_s:-20}" "$target" "$@" >"$work/out" 2>"$work/err" || rc=$?
    fi
}

# expect LABEL EXPR: EXPR is Python over j (stdout as JSON), err (stderr
# text) and rc.
expect() {
    local label=$1 expr=$2
    if python3 - "$work/out" "$work/err" "$rc" "$expr" <<'PY'; then
import json, sys
out = open(sys.argv[1]).read()
err = open(sys.argv[2]).read()
rc = int(sys.argv[3])
try:
    j = json.loads(out)
except ValueError:
    j = None
try:
    ok = bool(eval(sys.argv[4]))
except Exception:
    ok = False
sys.exit(0 if ok else 1)
PY
        echo "PASS $label"
        passed=$((passed + 1))
    else
        echo "FAIL $label (exit $rc)"
        tail -5 "$work/out" | sed 's/^/    out: /'
        tail -5 "$work/err" | sed 's/^/    err: /'
        failed=$((failed + 1))
    fi
}

text0='j["content"][0]["text"]'

# peer_checks LABEL RUNTIME TARGET NAME ADD_TOOL TEXT_TOOL RESOURCE RESOURCE_TEXT PROMPT PROMPT_ARGS PROMPT_TEXT
peer_checks() {
    local label=$1 runtime=$2 target=$3 name=$4 resource=$5 resource_text=$6 prompt=$7 prompt_args=$8 prompt_text=$9
    mcp "$runtime" "$target" info
    expect "[$label] info" "rc == 0 and j['serverInfo']['name'] == '$name' and j['protocolVersion'] == '2025-11-25'"
    mcp "$runtime" "$target" list-tools
    expect "[$label] list-tools" "rc == 0 and {'add', 'echo'} <= {t['name'] for t in j} and all('inputSchema' in t for t in j)"
    mcp "$runtime" "$target" call add '{"a": 2, "b": 40}'
    expect "[$label] call add" "rc == 0 and $text0 == '42' and not j.get('isError')"
    mcp "$runtime" "$target" call echo '{"text": "héllo"}'
    expect "[$label] call echo" "rc == 0 and 'héllo' in $text0"
    mcp "$runtime" "$target" call nope '{}'
    expect "[$label] unknown tool exits 1" "rc == 1 and 'nope' in open(sys.argv[1]).read() + err"
    mcp "$runtime" "$target" resources
    expect "[$label] resources" "rc == 0 and '$resource' in [r['uri'] for r in j]"
    mcp "$runtime" "$target" read "$resource"
    expect "[$label] read" "rc == 0 and j['contents'][0]['text'] == '$resource_text'"
    mcp "$runtime" "$target" prompts
    expect "[$label] prompts" "rc == 0 and '$prompt' in [p['name'] for p in j]"
    mcp "$runtime" "$target" get-prompt "$prompt" "$prompt_args"
    expect "[$label] get-prompt" "rc == 0 and j['messages'][0]['content']['text'] == '$prompt_text'"
}

pyserver="$py -W ignore scripts/mcpcli_server.py"
for rt in tokio smol blocking; do
    # --- the Python SDK server over stdio
    peer_checks "$rt py-stdio" "$rt" "cmd:$pyserver stdio" py-interop \
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
        peer_checks "$rt py-http" "$rt" "$url" py-interop \
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

    # --- our servers: wirestate mcp-server (stdio) and wirestate serve /mcp
    peer_checks "$rt mcp-server" "$rt" "cmd:$bin mcp-server" wirestate-demo \
        demo://greeting "Hello from a sans-IO MCP server." greet '{"name": "Ada"}' "Please greet Ada warmly."
    port=$(free_port)
    # (the blocking runtime serves no MCP: its client talks to tokio's /mcp)
    srv_rt=$rt
    [ "$rt" = blocking ] && srv_rt=tokio
    "$bin" serve --listen "127.0.0.1:$port" --runtime "$srv_rt" >"$work/serve-$rt.log" 2>&1 &
    pids+=($!)
    if wait_port "$port"; then
        peer_checks "$rt serve" "$rt" "http://127.0.0.1:$port/mcp" wirestate-demo \
            demo://greeting "Hello from a sans-IO MCP server." greet '{"name": "Ada"}' "Please greet Ada warmly."
    else
        failed=$((failed + 1))
        echo "FAIL [$rt serve] wirestate serve did not listen on $port"
    fi
    kill "${pids[-1]}" 2>/dev/null || true
    wait "${pids[-1]}" 2>/dev/null || true

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
