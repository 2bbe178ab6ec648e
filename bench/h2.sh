#!/usr/bin/env bash
# HTTP/2 (h2c, prior knowledge) server benchmark: `wirestate serve` against
# hyper 1.x's HTTP/2 server with the same routes (examples/hyper_server.rs
# ... h2), same runtime settings (tokio, one thread), driven by h2load
# (nghttp2) for GET / with 1, 10 and 100 concurrent streams per connection.
# Server pinned to core 0, h2load to core 1; server CPU per request from
# /proc/PID/stat (user and kernel) over the measured window.
#
#   bench/h2.sh [seconds-per-row]           (default 10)
#   CONNS=16 bench/h2.sh 10
#
# Needs h2load (Debian nghttp2-client) and taskset. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
CONNS=${CONNS:-16}
command -v h2load >/dev/null || { apt-get update -qq && apt-get install -y -qq nghttp2-client >/dev/null; }

cargo build --release -q --bin wirestate
cargo build --release -q -p wirestate-examples --example hyper_server
target="${CARGO_TARGET_DIR:-target}/release"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null' EXIT

hz=$(getconf CLK_TCK)
port=18190
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }

servers=(
  "wirestate|$target/wirestate serve --runtime tokio --threads 1 --listen 127.0.0.1:PORT"
  "hyper|$target/examples/hyper_server 127.0.0.1:PORT 1 h2"
)
streams=(1 10 100)

printf '| server | streams per connection | requests/s | server CPU µs/request | of which user µs | of which kernel µs |\n|---|---:|---:|---:|---:|---:|\n'
results=()
for m in "${streams[@]}"; do
  for s in "${servers[@]}"; do
    name=${s%%|*}
    port=$((port + 1))
    cmd=${s#*|}
    cmd=${cmd//PORT/$port}
    # shellcheck disable=SC2086
    taskset -c 0 $cmd >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -s --http2-prior-knowledge -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
    taskset -c 1 h2load -c "$CONNS" -m "$m" -D 1 "http://127.0.0.1:$port/" >/dev/null 2>&1 || true # warm-up
    t0=$(cpu_ticks "$pid")
    out=$(taskset -c 1 h2load -c "$CONNS" -m "$m" -D "$DUR" "http://127.0.0.1:$port/")
    t1=$(cpu_ticks "$pid")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
    done_reqs=$(echo "$out" | awk '/^requests:/ {print $8}')
    rps=$(echo "$out" | awk '/^finished in/ {gsub(",", "", $4); print $4}')
    failed=$(echo "$out" | awk '/^requests:/ {print $10}')
    us=$(awk -v a="$t0" -v b="$t1" -v n="$done_reqs" -v hz="$hz" 'BEGIN { split(a, x, " "); split(b, y, " "); if (n > 0) printf "%.2f | %.2f | %.2f", (y[1] + y[2] - x[1] - x[2]) / hz * 1e6 / n, (y[1] - x[1]) / hz * 1e6 / n, (y[2] - x[2]) / hz * 1e6 / n; else print "n/a | | " }')
    echo "| $name | $m | $rps | $us |${failed:+ failed: $failed}"
    results+=("$name $m $rps ${us%% *}")
  done
done

echo
echo "Ratios (wirestate / hyper): requests/s and server CPU per request"
printf '%s\n' "${results[@]}" | awk '
  { rps[$1, $2] = $3; cpu[$1, $2] = $4; ms[$2] = 1 }
  END { for (m in ms) if (rps["hyper", m] > 0 && cpu["hyper", m] > 0)
    printf "%s streams: req/s %.2fx, cpu %.2fx\n", m, rps["wirestate", m] / rps["hyper", m], cpu["wirestate", m] / cpu["hyper", m] }' | sort -n
