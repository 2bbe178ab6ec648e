#!/usr/bin/env bash
# The MCP Inspector's command line (npm @modelcontextprotocol/inspector
# 2.12.0, `mcp-inspector --cli`: the tool a new user reaches for to poke at
# a server) against our servers, the way its README shows: Streamable
# HTTP (`wirestate serve --conformance-fixtures` /mcp on tokio, smol and
# blocking) in both of its protocol eras (`--protocol-era legacy`: the
# initialize lifecycle, 2025-11-25; `modern`: 2026-07-28; and `auto`),
# the 2024-11-05 HTTP+SSE transport (/sse), and stdio (`wirestate
# mcp-server`, tokio and blocking, spawned by the Inspector); every check
# on tokio, the basic ones on the other runtimes (the same core). Per target: initialize (server
# info, negotiated revision), tools/list, tools/call with --tool-arg and
# --tool-args-json (structured output, unicode), an isError result and an
# unknown tool (exit 5), resources/list, resources/templates/list, a
# templated resources/read, an unknown resource (exit 1), prompts/list,
# prompts/get with arguments, logging/setLevel (initialize era), and
# `--load` (200 calls, 10 in flight: no error); `--strict` finds no
# schema portability problem in the demo tools.
# The Inspector runs on the Node 22 of ../shared/tools/mcp-conformance
# (its setup.sh installs it); the Inspector itself is installed once
# under ~/.cache/wirestate/npm-inspector. Loopback only; servers ended
# by PID. One PASS/FAIL line per check, then
# `interop-mcp-inspector: N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/.."

INSPECTOR_VERSION=2.12.0
harness="${MCP_CONFORMANCE_DIR:-$(cd .. && pwd)/shared/tools/mcp-conformance}"
if [ ! -f "$harness/lib.sh" ]; then
    echo "no MCP harness at $harness (set MCP_CONFORMANCE_DIR)"
    echo "interop-mcp-inspector: 0 passed, 1 failed"
    exit 1
fi
# shellcheck source=/dev/null
source "$harness/lib.sh"
mcp_ensure_setup
node="$(mcp_node)"

cache="${WIRESTATE_CACHE:-$HOME/.cache/wirestate}"
npm_dir="$cache/npm-inspector"
pkg="$npm_dir/node_modules/@modelcontextprotocol/inspector"
if [ "$("$node" -p "require('$pkg/package.json').version" 2>/dev/null)" != "$INSPECTOR_VERSION" ]; then
    mkdir -p "$npm_dir"
    [ -f "$npm_dir/package.json" ] || echo '{"private":true}' >"$npm_dir/package.json"
    # No install scripts: the package's only one installs its clients
    # from a source checkout and does nothing from the registry.
    (cd "$npm_dir" && PATH="$(dirname "$node"):$PATH" timeout 600 npm install --no-audit --no-fund --ignore-scripts \
        "@modelcontextprotocol/inspector@$INSPECTOR_VERSION" >/dev/null) || {
        echo "could not install @modelcontextprotocol/inspector@$INSPECTOR_VERSION"
        echo "interop-mcp-inspector: 0 passed, 1 failed"
        exit 1
    }
fi
inspector="$pkg/clients/launcher/build/index.js"
echo "peer: @modelcontextprotocol/inspector $("$node" -p "require('$pkg/package.json').version"), node $("$node" --version)"

cargo build --release --locked -q --bin wirestate
bin="${CARGO_TARGET_DIR:-target}/release/wirestate"
started=$(date +%s)

work=$(mktemp -d)
pids=()

. scripts/lib/tally.sh
end_at_exit
rc=0

# The Inspector keeps a catalog and client settings under HOME: a
# throw-away one, so that nothing of a user's (or of an earlier run)
# changes what it does.
export HOME="$work/home" MCP_CATALOG_PATH="$work/home/catalog.json" MCP_CLIENT_CONFIG_PATH="$work/home/client.json"
mkdir -p "$HOME"

# insp TARGET ARGS...: runs the Inspector's CLI; TARGET is a URL, or
# `cmd:` and a command line (split on spaces) for stdio.
insp() {
    local target=$1
    shift
    rc=0
    if [[ $target == cmd:* ]]; then
        # After `--`: the command's own options, and not taken by a
        # variadic option before it (--tool-arg, --prompt-args).
        # shellcheck disable=SC2086
        timeout 60 "$node" "$inspector" --cli --format json "$@" -- ${target#cmd:} >"$work/out" 2>"$work/err" || rc=$?
    else
        timeout 60 "$node" "$inspector" --cli --format json "$target" "$@" >"$work/out" 2>"$work/err" || rc=$?
    fi
}

# expect LABEL EXPR: EXPR is Python over j (stdout as JSON), e (stderr
# as JSON, the CLI's error envelope), err (stderr text) and rc.
expect() {
    local label=$1 expr=$2
    if python3 - "$work/out" "$work/err" "$rc" "$expr" <<'PY'; then
import json, sys
out = open(sys.argv[1]).read()
err = open(sys.argv[2]).read()
rc = int(sys.argv[3])
def parse(text):
    try:
        return json.loads(text)
    except ValueError:
        # The last line that is JSON (the CLI may say more before it).
        for line in reversed(text.splitlines()):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return None
j, e = parse(out), parse(err)
# --format json: the result is {"result": ...}.
if isinstance(j, dict) and set(j) == {"result"}:
    j = j["result"]
try:
    ok = bool(eval(sys.argv[4]))
except Exception:
    ok = False
sys.exit(0 if ok else 1)
PY
        pass "$label"
    else
        echo "FAIL $label (exit $rc)"
        tail -c 1500 "$work/out" | tail -8 | sed 's/^/    out: /'
        tail -8 "$work/err" | sed 's/^/    err: /'
        failed=$((failed + 1))
    fi
}

text0='j["content"][0]["text"]'

# checks LABEL TARGET ERA VERSION [full]: ERA is the Inspector's
# --protocol-era, VERSION the revision it must negotiate; `full` adds
# the checks that need the conformance fixtures.
checks() {
    local label=$1 target=$2 era=$3 want=$4 full=${5:-}
    local e=(--protocol-era "$era")
    insp "$target" "${e[@]}" --method initialize
    expect "[$label] initialize: $want" "rc == 0 and j['serverInfo']['name'] == 'wirestate-demo' and j['protocolVersion'] == '$want' and 'tools' in j['capabilities']"
    insp "$target" "${e[@]}" --method tools/list
    expect "[$label] tools/list" "rc == 0 and {'echo', 'add'} <= {t['name'] for t in j['tools']} and all('inputSchema' in t for t in j['tools'])"
    insp "$target" "${e[@]}" --method tools/call --tool-name echo --tool-arg 'text=héllo ✓ 🙂'
    expect "[$label] tools/call --tool-arg: structured output" "rc == 0 and j['structuredContent'] == {'text': 'héllo ✓ 🙂', 'length': 9}"
    insp "$target" "${e[@]}" --method tools/call --tool-name add --tool-args-json '{"a": 2, "b": 40}'
    expect "[$label] tools/call --tool-args-json" "rc == 0 and $text0 == '42'"
    insp "$target" "${e[@]}" --method tools/call --tool-name no-such-tool
    expect "[$label] an unknown tool: exit 5" "rc == 5 and e['error']['code'] == 'tool_not_found'"
    insp "$target" "${e[@]}" --method resources/list
    expect "[$label] resources/list" "rc == 0 and 'demo://greeting' in [r['uri'] for r in j['resources']]"
    insp "$target" "${e[@]}" --method resources/read --uri demo://greeting
    expect "[$label] resources/read" "rc == 0 and 'sans-IO' in j['contents'][0]['text']"
    insp "$target" "${e[@]}" --method resources/read --uri demo://no-such-resource
    expect "[$label] an unknown resource: exit 1" "rc == 1 and 'demo://no-such-resource' in e['error']['message']"
    insp "$target" "${e[@]}" --method prompts/get --prompt-name greet --prompt-args 'name=Zoë'
    expect "[$label] prompts/get with an argument" "rc == 0 and j['messages'][0]['content']['text'] == 'Please greet Zoë warmly.'"
    if [ "$want" != 2026-07-28 ]; then
        insp "$target" "${e[@]}" --method logging/setLevel --log-level debug
        expect "[$label] logging/setLevel" "rc == 0 and j == {}"
    fi
    [ "$full" = full ] || return 0
    insp "$target" "${e[@]}" --method tools/call --tool-name test_error_handling
    expect "[$label] an isError result: exit 5" "rc == 5 and e['error']['code'] == 'tool_is_error'"
    insp "$target" "${e[@]}" --method resources/templates/list
    expect "[$label] resources/templates/list" "rc == 0 and [t['uriTemplate'] for t in j['resourceTemplates']] == ['test://template/{id}/data']"
    insp "$target" "${e[@]}" --method resources/read --uri test://template/42/data
    expect "[$label] resources/read of a template" "rc == 0 and json.loads(j['contents'][0]['text'])['id'] == '42'"
    insp "$target" "${e[@]}" --method prompts/list
    expect "[$label] prompts/list" "rc == 0 and {'greet', 'test_prompt_with_arguments', 'test_prompt_with_image'} <= {p['name'] for p in j['prompts']}"
    insp "$target" "${e[@]}" --method prompts/get --prompt-name test_prompt_with_arguments --prompt-args 'arg1=ü' 'arg2=b c'
    expect "[$label] prompts/get with two arguments" "rc == 0 and j['messages'][0]['content']['text'] == \"Prompt with arguments: arg1='ü', arg2='b c'\""
    insp "$target" "${e[@]}" --method tools/call --tool-name test_tool_with_progress
    expect "[$label] a tool that reports progress" "rc == 0 and 'successfully' in $text0"
    insp "$target" "${e[@]}" --method tools/call --tool-name echo --tool-arg text=x --load --load-requests 200 --load-concurrency 10
    expect "[$label] --load: 200 calls, 10 in flight, no error" "rc == 0 and j['ok'] == 200 and j['errors'] == 0 and j['toolErrors'] == 0"
}

for rt in tokio smol blocking; do
    port=$(free_port)
    "$bin" serve --listen "127.0.0.1:$port" --runtime "$rt" --conformance-fixtures >"$work/serve-$rt.log" 2>&1 &
    pids+=($!)
    if wait_port "$port"; then
        url="http://127.0.0.1:$port"
        if [ "$rt" = tokio ]; then
            checks "$rt http legacy" "$url/mcp" legacy 2025-11-25 full
            checks "$rt http modern" "$url/mcp" modern 2026-07-28 full
            checks "$rt http auto" "$url/mcp" auto 2026-07-28
            # The old transport: the Inspector picks it for a URL
            # ending in /sse.
            checks "$rt sse" "$url/sse" legacy 2025-11-25
        else
            # The other runtimes serve the same core: the basic checks.
            checks "$rt http legacy" "$url/mcp" legacy 2025-11-25
            checks "$rt http modern" "$url/mcp" modern 2026-07-28
        fi
    else
        fail "[$rt] wirestate serve did not listen on $port" "$work/serve-$rt.log"
    fi
    kill "${pids[-1]}" 2>/dev/null || true
    wait "${pids[-1]}" 2>/dev/null || true
done

checks "tokio stdio legacy" "cmd:$bin mcp-server --conformance-fixtures" legacy 2025-11-25 full
checks "tokio stdio modern" "cmd:$bin mcp-server" modern 2026-07-28
checks "blocking stdio legacy" "cmd:$bin mcp-server --runtime blocking" legacy 2025-11-25

# --strict: the demo tools' schemas (the fixtures carry the conformance
# suite's own JSON Schema 2020-12 test schema, `else: true` included,
# which the Inspector reports as unportable by design of that test).
insp "cmd:$bin mcp-server" --method tools/list --strict
expect "[stdio] tools/list --strict: no schema portability problem" "rc == 0 and len(j['tools']) == 2"

echo "(checks took $(($(date +%s) - started)) s)"
echo "interop-mcp-inspector: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
