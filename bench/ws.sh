#!/usr/bin/env bash
# WebSocket server benchmark: `wirestate serve --runtime tokio --threads 1`
# (/ws) against a tokio-tungstenite and a fastwebsockets echo server
# (examples/ws_tungstenite_server.rs, examples/ws_fastwebsockets_server.rs),
# each on a current-thread tokio runtime, no compression anywhere, driven by
# one load generator (examples/ws_load.rs: raw RFC 6455 over tokio, masked
# binary frames, one message in flight per connection).
#
#   bench/ws.sh [seconds-per-row]            (default 8)
#   CONNS=50 IDLE_N=10000 REPS=1 ONLY='echo|idle' bench/ws.sh 8
#
# 1. Echo: CONNS connections, each sending a message and waiting for its echo,
#    again and again for SECS seconds (after a short warm-up), for 16 B,
#    1 KiB and 64 KiB payloads. The three servers run at once, all pinned to
#    core 0, and the rows interleave (size by size, server by server) so that
#    drift on this shared machine hits all three alike; the generator is
#    pinned to core 1. Server CPU per message = (utime + stime) from
#    /proc/PID/stat over the measured window / messages echoed in it.
# 2. Idle memory: a fresh server at a time, IDLE_N idle connections in all
#    (handshake done, no traffic); the server's VmRSS with the first one open
#    (after one echo) and with all of them, per added connection.
#    IDLE_N counts the first: `wirestate serve` holds connections past its
#    default limit of 10,000 unanswered, so 10,000 is the most it takes.
#
# Waits while an Autobahn run (wstest) is active: it eats a core
# (WAIT_AUTOBAHN=0 to skip, for a functional check only).
# Needs taskset (util-linux). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-8}
CONNS=${CONNS:-50}
IDLE_N=${IDLE_N:-10000}
REPS=${REPS:-1}
ONLY=${ONLY:-echo|idle}
SIZES=${SIZES:-16 1024 65536}

# 10k connections need 10k descriptors in the server and in the generator.
want=$((IDLE_N + 1024))
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want" ]; then
  echo "ulimit -n is $(ulimit -n) (hard $(ulimit -Hn)); $want needed for IDLE_N=$IDLE_N" >&2
  exit 1
fi

cargo build --release -q --bin wirestate
cargo build --release -q -p wirestate-examples \
  --example ws_load --example ws_tungstenite_server --example ws_fastwebsockets_server
pids=()
work=$(mktemp -d)
# The binaries are copied out of the (possibly shared) target directory
# first, so a build started elsewhere during the run cannot swap them.
built="${CARGO_TARGET_DIR:-target}/release"
target="$work/bin"
mkdir -p "$target/examples"
cp "$built/wirestate" "$target/"
cp "$built/examples/ws_load" "$built/examples/ws_tungstenite_server" \
  "$built/examples/ws_fastwebsockets_server" "$target/examples/"
load="$target/examples/ws_load"
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

while [ "${WAIT_AUTOBAHN:-1}" = 1 ] && pgrep -f wstest >/dev/null; do
  echo "waiting: an Autobahn run (wstest) is active" >&2
  sleep 30
done

# name | command (PORT is replaced)
servers=(
  "wirestate|$target/wirestate serve --runtime tokio --threads 1 --listen 127.0.0.1:PORT"
  "tokio-tungstenite|$target/examples/ws_tungstenite_server 127.0.0.1:PORT 1"
  "fastwebsockets|$target/examples/ws_fastwebsockets_server 127.0.0.1:PORT 1"
)
base_port=$((19400 + RANDOM % 500))

# start NAME-INDEX: starts server i pinned to core 0; sets $pid and $port.
start() {
  local s=${servers[$1]}
  port=$((base_port + $1))
  local cmd=${s#*|}
  cmd=${cmd//PORT/$port}
  # shellcheck disable=SC2086
  taskset -c 0 $cmd >"$work/server$1.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "${s%%|*} did not start:" >&2
  cat "$work/server$1.log" >&2
  exit 1
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
label() { case $1 in 1024) echo "1 KiB" ;; 65536) echo "64 KiB" ;; *) echo "$1 B" ;; esac; }
field() { tr ' ' '\n' <<<"$2" | awk -F= -v k="$1" '$1 == k { print $2 }'; }

echo "# $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), ${SECS}s per row, $CONNS connections"

if [[ echo =~ $ONLY ]]; then
  declare -a spid sport
  for i in "${!servers[@]}"; do start "$i"; spid[i]=$pid; sport[i]=$port; done
  # Warm-up: every server, every size, one second.
  for i in "${!servers[@]}"; do
    for size in $SIZES; do
      taskset -c 1 "$load" echo "127.0.0.1:${sport[i]}" /ws "$CONNS" "$size" 1 >/dev/null
    done
  done
  echo
  printf '| server | message | messages/s | round trips per connection | p50 latency | p99 latency | server CPU µs/message |\n|---|---:|---:|---:|---:|---:|---:|\n'
  for rep in $(seq "$REPS"); do
    for size in $SIZES; do
      for i in "${!servers[@]}"; do
        name=${servers[$i]%%|*}
        out=$(taskset -c 1 "$load" echo "127.0.0.1:${sport[i]}" /ws "$CONNS" "$size" "$SECS" "${spid[i]}")
        rps=$(field msgs_per_s "$out"); p50=$(field p50_us "$out"); p99=$(field p99_us "$out"); cpu=$(field cpu_us_per_msg "$out")
        echo "$rep $size $name $rps $p99 $cpu" >>"$work/echo.txt"
        printf '| %s | %s | %s | %s | %s µs | %s µs | %s |\n' "$name" "$(label "$size")" "$rps" "$(field per_conn "$out")" "$p50" "$p99" "$cpu"
      done
    done
  done
  for i in "${!servers[@]}"; do stop "${spid[i]}"; done
  echo
  echo "Ratios wirestate / peer (per run; CPU and p99: lower is better for us, messages/s: higher):"
  echo
  printf '| run | message | peer | CPU/message | messages/s | p99 latency |\n|---|---:|---|---:|---:|---:|\n'
  awk '
    { key = $1 " " $2; rps[key, $3] = $4; p99[key, $3] = $5; cpu[key, $3] = $6; if (!(key in seen)) { seen[key] = 1; order[++n] = key } }
    END {
      for (j = 1; j <= n; j++) {
        k = order[j]; split(k, a, " ")
        for (p = 1; p <= 2; p++) {
          peer = (p == 1) ? "fastwebsockets" : "tokio-tungstenite"
          if (cpu[k, peer] > 0 && rps[k, peer] > 0 && p99[k, peer] > 0)
            printf "| %s | %s | %s | %.2f× | %.2f× | %.2f× |\n", a[1], (a[2] == 1024 ? "1 KiB" : a[2] == 65536 ? "64 KiB" : a[2] " B"), peer,
              cpu[k, "wirestate"] / cpu[k, peer], rps[k, "wirestate"] / rps[k, peer], p99[k, "wirestate"] / p99[k, peer]
        }
      }
    }' "$work/echo.txt"
fi

if [[ idle =~ $ONLY ]]; then
  echo
  printf '| server | idle connections | RSS before | RSS after | KB per connection |\n|---|---:|---:|---:|---:|\n'
  for i in "${!servers[@]}"; do
    name=${servers[$i]%%|*}
    start "$i"
    out=$(taskset -c 1 "$load" idle "127.0.0.1:$port" /ws "$IDLE_N" "$pid")
    stop "$pid"
    printf '| %s | %s | %s KB | %s KB | %s |\n' "$name" "$(field idle "$out")" \
      "$(field rss_before_kb "$out")" "$(field rss_after_kb "$out")" "$(field kb_per_conn "$out")"
  done
fi
