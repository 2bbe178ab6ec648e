#!/usr/bin/env bash
# Autobahn|Testsuite (wstest, from ../shared/tools/autobahn) against the
# WebSocket server (`wirestate serve`, /ws) and client (the autobahn_client
# example), compared with the verdicts recorded in tests/autobahn/expected/.
#
#   scripts/autobahn.sh record [RUNTIME...]   (default: tokio blocking)
#       every case (517), server and client mode per runtime; writes
#       tests/autobahn/expected/{server,client}-RUNTIME.json
#       ({case_id: [behavior, behaviorClose]}, in case order) and .txt
#       (summarize.py's table). Takes 10-20 minutes per runtime.
#   scripts/autobahn.sh check [MODE-RUNTIME...]
#       (default: server-tokio client-tokio server-blocking; what .ci/run
#       runs) the subset $CHECK_CASES below, compared case by case with the
#       expected file: a verdict that differs, a case missing on either
#       side, or any FAILED verdict (even an expected one) is a FAIL line
#       naming the case, both verdicts and the case's description.
#       Counting: one check per compared case (a run that produced no report
#       at all counts as one failed check), so the last line reads
#       `interop-autobahn: N passed, N failed` over all runs.
#
# Environment: AUTOBAHN_OUT (reports, below), AUTOBAHN_EXPECTED (the
# expected dir, default tests/autobahn/expected), AUTOBAHN_RECORD_CASES
# (JSON list of case patterns for `record`, default ["*"]: for trying the
# script out; the committed files are full runs).
# Reports stay in $AUTOBAHN_OUT (default $CARGO_TARGET_DIR/autobahn or
# target/autobahn): {record,check}/{server,client}-RUNTIME/ with index.json,
# index.html and one JSON per case (its description, the wire log).
# Loopback only, free ports; the servers, wstest and the client are ended
# by PID (wstest's fuzzing client runs in its own process group, ended as
# that group); every run is bounded by a timeout. Installs wstest via
# ../shared/tools/autobahn/setup.sh (idempotent, ~2 s when installed).
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/.."

# The check subset (~300 cases): groups 1-7 and 10 whole, 9.1-9.6 (text
# and binary messages of 64 KiB to 16 MiB, 4 MiB in frames of 64 B to
# 4 MiB, 1 MiB written in chops of 64 B to 4 KiB), and of the slow
# permessage-deflate groups (1000 messages a case) the first case of every
# subgroup: 12.1-12.5 (the default offer, five kinds of payload) and
# 13.1-13.7 (every offer variant: no context takeover, max window bits 9
# and 15, and 13.7's list of three offers), plus 64 B - 1 KiB messages and
# 8 KiB ones fragmented to 256 B in 12.1 and 13.7. The rest of 9.* (round
# trips of 1000 messages), 12.* and 13.* is left to `record`.
CHECK_CASES='["1.*","2.*","3.*","4.*","5.*","6.*","7.*","9.1.*","9.2.*","9.3.*","9.4.*","9.5.*","9.6.*","10.*",
"12.1.1","12.1.2","12.1.3","12.1.4","12.1.5","12.1.11","12.2.1","12.3.1","12.4.1","12.5.1",
"13.1.1","13.2.1","13.3.1","13.4.1","13.5.1","13.6.1","13.7.1","13.7.2","13.7.3","13.7.4","13.7.5","13.7.11"]'
ALL_CASES="${AUTOBAHN_RECORD_CASES:-[\"*\"]}"

ab=../shared/tools/autobahn
expected_dir="${AUTOBAHN_EXPECTED:-tests/autobahn/expected}"
target="${CARGO_TARGET_DIR:-target}"
out_root="${AUTOBAHN_OUT:-$target/autobahn}"

usage() { sed -n '2,/^set -euo/p' "$self" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
mode=${1:-}
[ $# -gt 0 ] && shift
case "$mode" in
    record) runs=(); rts=("$@"); [ ${#rts[@]} -eq 0 ] && rts=(tokio blocking)
            for rt in "${rts[@]}"; do runs+=("server-$rt" "client-$rt"); done
            cases=$ALL_CASES; limit=2400 ;;
    check)  runs=("$@"); [ ${#runs[@]} -eq 0 ] && runs=(server-tokio client-tokio server-blocking)
            cases=$CHECK_CASES; limit=600 ;;
    *) usage ;;
esac
for run in "${runs[@]}"; do
    [[ "$run" =~ ^(server|client)-(tokio|smol|blocking)$ ]] || { echo "autobahn.sh: bad run $run" >&2; usage; }
done

[ -d "$ab" ] || { echo "autobahn.sh: $ab not found (shared/ beside the repo)" >&2; exit 2; }
setup_log=$(mktemp)
if ! bash "$ab/setup.sh" >"$setup_log" 2>&1; then
    cat "$setup_log"; rm -f "$setup_log"
    echo "interop-autobahn: 0 passed, 1 failed"
    exit 1
fi
rm -f "$setup_log"

cargo build --release --locked -q --bin wirestate
cargo build --release --locked -q -p wirestate-examples --example autobahn_client
bin="$target/release/wirestate"
client_bin="$target/release/examples/autobahn_client"

pids=()    # processes, ended by PID
groups=()  # process groups (fuzzingclient.sh under setsid), ended by leader PID
cleanup() {
    for g in "${groups[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${groups[@]}" "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'echo "autobahn.sh: interrupted" >&2; exit 130' INT TERM

. scripts/lib/tally.sh # free_port, wait_port; its pass/fail tally is not used here
stop() { # pid: SIGTERM, then wait for it (SIGKILL after 30 s)
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# run_server RUNTIME OUTDIR: wstest's fuzzing client against wirestate serve.
run_server() {
    local rt=$1 outdir=$2 port rc=0
    port=$(free_port)
    "$bin" serve --runtime "$rt" --listen "127.0.0.1:$port" >"$outdir.serve.log" 2>&1 &
    local server=$!
    pids+=("$server")
    if ! wait_port "$port" 200; then
        echo "autobahn.sh: wirestate serve --runtime $rt did not start:" >&2
        tail -20 "$outdir.serve.log" >&2
        stop "$server"
        return 1
    fi
    AUTOBAHN_AGENT="wirestate-$rt" AUTOBAHN_TIMEOUT=$limit \
        setsid bash "$ab/fuzzingclient.sh" "ws://127.0.0.1:$port/ws" "$outdir" "$cases" \
        >"$outdir.summary" 2>"$outdir.wstest-err" &
    local fc=$!
    groups+=("$fc")
    wait "$fc" || rc=$?
    stop "$server"
    return "$rc"
}

# run_client RUNTIME OUTDIR: autobahn_client against wstest's fuzzing server.
run_client() {
    local rt=$1 outdir=$2 port rc=0 rc2=0 n
    port=$(free_port)
    AUTOBAHN_TIMEOUT=$((limit + 60)) bash "$ab/fuzzingserver.sh" "$port" "$outdir" "$cases" \
        >"$outdir.fuzzingserver.log" 2>&1 &
    local fs=$!   # fuzzingserver.sh execs into `timeout`: SIGTERM goes on to wstest
    pids+=("$fs")
    if ! wait_port "$port" 200; then
        echo "autobahn.sh: the fuzzing server did not start:" >&2
        tail -20 "$outdir.fuzzingserver.log" >&2
        stop "$fs"
        return 1
    fi
    timeout "$limit" "$client_bin" --runtime "$rt" "ws://127.0.0.1:$port" "wirestate-$rt" \
        >"$outdir.client.log" 2>&1 &
    local cl=$!
    pids+=("$cl")
    wait "$cl" || rc=$?
    stop "$fs"
    if [ "$rc" -ne 0 ]; then
        echo "autobahn.sh: autobahn_client --runtime $rt exited with status $rc:" >&2
        tail -5 "$outdir.client.log" >&2
    fi
    n=$(sed -n 's/^\([0-9]*\) cases$/\1/p' "$outdir.client.log" | head -1)
    python3 "$ab/summarize.py" "$outdir" --expect-cases "${n:-1}" >"$outdir.summary" || rc2=$?
    [ "$rc" -ne 0 ] && return "$rc"
    return "$rc2"
}

passed=0
failed=0
for run in "${runs[@]}"; do
    side=${run%%-*}
    rt=${run#*-}
    outdir="$out_root/$mode/$run"
    rm -rf "$outdir" "$outdir".*
    mkdir -p "$outdir"
    start=$(date +%s)
    rc=0
    if [ "$side" = server ]; then run_server "$rt" "$outdir" || rc=$?; else run_client "$rt" "$outdir" || rc=$?; fi
    secs=$(( $(date +%s) - start ))
    echo "== $run: ${secs}s (summarize.py exit status $rc; report in $outdir)"
    [ -f "$outdir.summary" ] && grep -E '^(autobahn: |failed cases|  [0-9])' "$outdir.summary" | sed 's/^/   /' || true
    if [ "$mode" = record ]; then
        mkdir -p "$expected_dir"
        if python3 scripts/autobahn_compare.py compact "$outdir" "$expected_dir/$run.json" >/dev/null; then
            cp "$outdir.summary" "$expected_dir/$run.txt"
            n=$(grep -c '^  "' "$expected_dir/$run.json" || true)
            echo "   recorded $n cases in $expected_dir/$run.json"
            if [ "$rc" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
        else
            echo "FAIL $run: no report to record"
            sed 's/^/    /' "$outdir.summary" "$outdir.wstest-err" 2>/dev/null | tail -20 || true
            failed=$((failed + 1))
        fi
    else
        if [ ! -f "$expected_dir/$run.json" ]; then
            echo "FAIL $run: no $expected_dir/$run.json (run scripts/autobahn.sh record $rt)"
            failed=$((failed + 1))
            continue
        fi
        python3 scripts/autobahn_compare.py check "$expected_dir/$run.json" "$outdir" "$run" "$cases" \
            >"$outdir.compare" 2>&1 || true
        grep -v '^autobahn-compare ' "$outdir.compare" || true
        line=$(grep '^autobahn-compare ' "$outdir.compare" || echo "autobahn-compare $run: 0 passed, 1 failed")
        echo "$line"
        read -r p f < <(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed/\1 \2/')
        passed=$((passed + p))
        failed=$((failed + f))
    fi
done

if [ "$mode" = record ]; then
    echo "autobahn-record: $passed passed, $failed failed"
else
    echo "interop-autobahn: $passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
