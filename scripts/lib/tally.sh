# Sourced by the interop scripts: the PASS/FAIL tally each one prints and
# the loopback-port helpers they start their servers with.
#
# Each check prints one line, `PASS name` or `FAIL name` (followed by up
# to 20 indented lines of detail), and counts it; the script ends with
# `echo "NAME: $passed passed, $failed failed"` for .ci/run to add up.

passed=0
failed=0

# end_at_exit: when the script exits (Ctrl-C and TERM exit 130 first),
# end every process whose PID it added to the array `pids`, by PID, and
# remove its scratch directory `$work`.
end_at_exit() {
    trap _end_all EXIT
    trap 'exit 130' INT TERM
}
_end_all() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$work"
}

# pass NAME: counts a passed check.
pass() { passed=$((passed + 1)); echo "PASS $1"; }

# fail NAME [FILE]: counts a failed check, showing FILE's first 20 lines
# (or its last 20 with TALLY_DETAIL=tail) when it is not empty.
fail() {
    failed=$((failed + 1)); echo "FAIL $1"
    if [ -n "${2:-}" ] && [ -s "$2" ]; then sed 's/^/    /' "$2" | "${TALLY_DETAIL:-head}" -20; fi
}

# check NAME COMMAND...: passes when COMMAND exits 0; its output is the
# detail shown when it does not (kept in $work/out).
check() {
    local name=$1; shift
    if "$@" >"$work/out" 2>&1; then pass "$name"; else fail "$name" "$work/out"; fi
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on just now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# wait_port PORT [TRIES]: until something accepts TCP connections on
# 127.0.0.1:PORT, trying every 0.1 s (100 tries, i.e. 10 s, by default).
wait_port() {
    for _ in $(seq "${2:-100}"); do
        python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# count FILE NAME: adds the PASS/FAIL/SKIP lines a peer's own client
# printed in FILE (shown as they are; the whole of FILE with
# COUNT_SHOW_ALL=1); no line at all is a failure of NAME.
skipped=0
count() {
    if [ -n "${COUNT_SHOW_ALL:-}" ]; then cat "$1"; else grep -E '^(PASS|FAIL|SKIP) ' "$1" || true; fi
    local p f s
    p=$(grep -c '^PASS ' "$1" || true)
    f=$(grep -c '^FAIL ' "$1" || true)
    s=$(grep -c '^SKIP ' "$1" || true)
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        fail "$2: no case ran" "$1"
    fi
}

# start NAME LOG COMMAND...: starts a server that listens on $port, its
# PID added to the caller's `pids` array; returns 0 once it answers.
start() {
    local name=$1 log=$2
    shift 2
    "$@" >"$log" 2>&1 &
    pids+=($!)
    if ! wait_port "$port"; then
        fail "$name: server did not start" "$log"
        return 1
    fi
}

# stop_last: ends the server started last (and forgets its PID).
stop_last() {
    local p=${pids[-1]}
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    unset 'pids[-1]'
}
