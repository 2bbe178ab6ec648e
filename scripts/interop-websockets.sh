#!/usr/bin/env bash
# WebSocket interop with Python's `websockets` (PyPI, pinned below) as an
# independent peer, in both directions, on every runtime:
#   - websockets client -> `wirestate serve --runtime R` /ws: echo of text,
#     binary, empty, 1 MiB, multi-byte UTF-8 and fragmented messages, with
#     and without permessage-deflate (and that it was negotiated), ping ->
#     pong, close 4000 echoed and the TCP connection closed by the server
#     right after (under 1 s), a plain GET /ws refused with 4xx
#     (scripts/interop_websockets.py client);
#   - `wirestate ws --runtime R` -> a websockets echo server: lines in, the
#     same lines out, exit status 0, and permessage-deflate negotiated when
#     we offer it (not with --no-deflate), read from the server's log.
# Loopback only; every process is ended by PID. One PASS/FAIL line per
# check, then `interop-websockets: N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/venv.sh

WEBSOCKETS_VERSION=17.4
cache="${WIRESTATE_CACHE:-$HOME/.cache/wirestate}"
venv="$cache/venv-websockets"
py="$venv/bin/python"

# --- the peer: a venv with the pinned websockets (installed only when missing)
python_venv "$venv" "import websockets, sys; sys.exit(websockets.__version__ != '$WEBSOCKETS_VERSION')" "websockets==$WEBSOCKETS_VERSION"

cargo build --release --locked -q --bin wirestate
bin="${CARGO_TARGET_DIR:-target}/release/wirestate"
helper="scripts/interop_websockets.py"

work=$(mktemp -d)
pids=()

. scripts/lib/tally.sh
end_at_exit

wait_http() { # port: until GET / answers
    for _ in $(seq 100); do
        python3 - "$1" <<'PY' 2>/dev/null && return 0
import sys, urllib.request
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
opener.open("http://127.0.0.1:%s/" % sys.argv[1], timeout=1).read()
PY
        sleep 0.1
    done
    return 1
}

# --- websockets client -> wirestate serve
for rt in tokio smol blocking; do
    port=$(free_port)
    "$bin" serve --runtime "$rt" --listen "127.0.0.1:$port" --threads 2 >"$work/serve-$rt.log" 2>&1 &
    pids+=($!)
    if ! wait_http "$port"; then
        fail "$rt: server did not start" "$work/serve-$rt.log"
        continue
    fi
    timeout 180 "$py" "$helper" client "http://127.0.0.1:$port" "$rt serve" >"$work/client-$rt.out" 2>&1 || true
    cat "$work/client-$rt.out"
    p=$(grep -c '^PASS ' "$work/client-$rt.out" || true)
    f=$(grep -c '^FAIL ' "$work/client-$rt.out" || true)
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        fail "$rt serve: the websockets client ran no check"
        tail -20 "$work/client-$rt.out" | sed 's/^/    /'
    fi
done

# --- wirestate ws -> websockets echo server
"$py" "$helper" server "$work/echo.port" "$work/echo.log" >"$work/echo-server.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/echo.port" ] && break; sleep 0.1; done
if [ ! -s "$work/echo.port" ]; then
    fail "websockets echo server did not start" "$work/echo-server.out"
else
    echo_port=$(cat "$work/echo.port")
    # The lines: plain, empty, multi-byte UTF-8, many short ones, one long one.
    python3 - "$work/lines" <<'PY'
import sys
lines = ["hello", "", "héllo wörld — ✓ 日本語 🎉", "tab\tand  spaces "]
lines += ["line %d" % i for i in range(500)]
lines.append("x" * 200000)
lines.append("last")
open(sys.argv[1], "w", encoding="utf-8").write("\n".join(lines) + "\n")
PY
    nlines=$(wc -l <"$work/lines")
    # stdin stays open until every echo is back (bounded), so the close
    # that stdin's end triggers cannot overtake echoes still in flight.
    feed() { # out-file
        cat "$work/lines"
        for _ in $(seq 200); do
            [ "$(wc -l <"$1" 2>/dev/null || echo 0)" -ge "$nlines" ] && break
            sleep 0.05
        done
    }
    for rt in tokio smol blocking; do
        for mode in deflate no-deflate; do
            name="$rt ws ($mode) -> websockets"
            path="/$rt-$mode"
            flag=()
            [ "$mode" = no-deflate ] && flag=(--no-deflate)
            out="$work/ws-$rt-$mode.out"
            : >"$out"
            rc=0
            feed "$out" | timeout 30 "$bin" ws --runtime "$rt" "${flag[@]}" "ws://127.0.0.1:$echo_port$path" \
                >"$out" 2>"$work/ws-$rt-$mode.err" || rc=$?
            if [ "$rc" -eq 0 ]; then pass "$name: exit status 0"; else fail "$name: exit status $rc" "$work/ws-$rt-$mode.err"; fi
            if cmp -s "$work/lines" "$out"; then
                pass "$name: $nlines lines echoed unchanged"
            else
                { echo "got $(wc -l <"$out") lines, expected $nlines; first difference:"; cmp "$work/lines" "$out" 2>&1 | head -1; } >"$work/diff"
                fail "$name: $nlines lines echoed unchanged" "$work/diff"
            fi
            logline=$(grep "^$path " "$work/echo.log" | tail -1 || true)
            negotiated=${logline#*negotiated=}
            if [ -z "$logline" ]; then
                fail "$name: server log has the connection"
            elif [ "$mode" = deflate ]; then
                if [[ "$negotiated" == permessage-deflate* ]]; then pass "$name: permessage-deflate negotiated"
                else echo "$logline" >"$work/diff"; fail "$name: permessage-deflate negotiated" "$work/diff"; fi
            else
                if [[ "$logline" == *"offered= negotiated="* ]]; then pass "$name: no extension offered or negotiated"
                else echo "$logline" >"$work/diff"; fail "$name: no extension offered or negotiated" "$work/diff"; fi
            fi
        done
    done
fi

echo "interop-websockets: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
