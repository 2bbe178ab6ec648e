#!/usr/bin/env bash
# HTTP/1.1 server benchmark: `wirestate serve` against a hyper 1.x server
# with the same routes (examples/hyper_server.rs), same runtime settings,
# driven by wrk. Server pinned to core 0, wrk to core 1; server CPU per
# request comes from /proc/PID/stat over the measured window.
#
#   bench/http1.sh [seconds-per-row]      (default 10)
#   ONLY='tokio 1t' bench/http1.sh 10     (only servers whose name matches)
#
# Needs wrk (Debian package `wrk`) and taskset (util-linux). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

cargo build --release -q --bin wirestate
cargo build --release -q -p wirestate-examples --example hyper_server
target="${CARGO_TARGET_DIR:-target}/release"
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

cat >"$work/pipeline.lua" <<'LUA'
init = function(args)
  local r = {}
  for i = 1, 16 do r[i] = wrk.format("GET", "/") end
  req = table.concat(r)
end
request = function() return req end
LUA
cat >"$work/post4k.lua" <<'LUA'
wrk.method = "POST"
wrk.body = string.rep("x", 4096)
wrk.headers["Content-Type"] = "application/octet-stream"
LUA

hz=$(getconf CLK_TCK)
port=18090
# utime and stime (fields 14, 15): the kernel's share is reported apart,
# because both servers make the same system calls per request and only the
# user-space share is the server's own doing.
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; }

# name | command (PORT is replaced)
servers=(
  "wirestate tokio 1t|$target/wirestate serve --runtime tokio --threads 1 --listen 127.0.0.1:PORT"
  "hyper tokio 1t|$target/examples/hyper_server 127.0.0.1:PORT 1"
  "wirestate tokio 2t|$target/wirestate serve --runtime tokio --threads 2 --listen 127.0.0.1:PORT"
  "hyper tokio 2t|$target/examples/hyper_server 127.0.0.1:PORT 2"
  "wirestate smol 1t|$target/wirestate serve --runtime smol --threads 1 --listen 127.0.0.1:PORT"
  "wirestate blocking|$target/wirestate serve --runtime blocking --threads 256 --listen 127.0.0.1:PORT"
)
rows=(
  "GET / keep-alive|-t1 -c64|"
  "GET / pipelined x16|-t1 -c16|-s $work/pipeline.lua"
  "POST /echo 4 KiB|-t1 -c64|-s $work/post4k.lua"
)

printf '| server | workload | requests/s | p99 latency | server CPU µs/request | of which user µs | of which kernel µs |\n|---|---|---:|---:|---:|---:|---:|\n' | tee "$work/table.md"
for s in "${servers[@]}"; do
  name=${s%%|*}
  cmd=${s#*|}
  if [ -n "${ONLY:-}" ] && ! [[ $name =~ $ONLY ]]; then continue; fi
  port=$((port + 1))
  cmd=${cmd//PORT/$port}
  # shellcheck disable=SC2086
  taskset -c 0 $cmd >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  if ! kill -0 "$pid" 2>/dev/null; then echo "| $name | (did not start) | | | |"; pid=""; continue; fi
  taskset -c 1 wrk -t1 -c64 -d1s "http://127.0.0.1:$port/" >/dev/null 2>&1 || true # warm-up
  for r in "${rows[@]}"; do
    label=${r%%|*}; rest=${r#*|}; conns=${rest%%|*}; script=${rest#*|}
    path=/; [[ $label == POST* ]] && path=/echo
    t0=$(cpu_ticks "$pid")
    # shellcheck disable=SC2086
    out=$(taskset -c 1 wrk $conns -d"${DUR}s" --latency $script "http://127.0.0.1:$port$path")
    t1=$(cpu_ticks "$pid")
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
    errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {printf "%s ", $0}')
    us=$(awk -v a="$t0" -v b="$t1" -v n="$reqs" -v hz="$hz" 'BEGIN { split(a, x, " "); split(b, y, " "); if (n > 0) printf "%.2f | %.2f | %.2f", (y[1] + y[2] - x[1] - x[2]) / hz * 1e6 / n, (y[1] - x[1]) / hz * 1e6 / n, (y[2] - x[2]) / hz * 1e6 / n; else print "n/a | | " }')
    echo "| $name | $label | $rps | $p99 | $us |${errs:+ $errs}" | tee -a "$work/table.md"
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
done

echo
echo "Ratios (wirestate / hyper, same threads): CPU µs/request, its user-space share, and requests/s"
awk -F'|' '
  /^\| (wirestate|hyper) tokio/ { gsub(/ +$/, "", $2); gsub(/^ +/, "", $2); split($2, a, " "); key=a[3] "|" $3; cpu[a[1] "|" key]=$6+0; usr[a[1] "|" key]=$7+0; rps[a[1] "|" key]=$4+0; keys[key]=1 }
  END { for (k in keys) { if (cpu["hyper|" k] > 0 && rps["hyper|" k] > 0) printf "%s: cpu %.2fx, user %.2fx, req/s %.2fx\n", k, cpu["wirestate|" k] / cpu["hyper|" k], (usr["hyper|" k] > 0 ? usr["wirestate|" k] / usr["hyper|" k] : 0), rps["wirestate|" k] / rps["hyper|" k] } }
' "$work/table.md" | sort
