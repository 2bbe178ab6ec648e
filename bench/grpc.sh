#!/usr/bin/env bash
# gRPC server benchmark: the `wirestate.echo.v1.Echo` service on our server
# against tonic's, both driven by one neutral load generator, h2load
# (nghttp2's HTTP/2 benchmarking client, Debian package nghttp2-client),
# which sends both servers the same bytes: POSTs of a prebuilt gRPC body
# (`content-type: application/grpc`, `te: trailers`) over h2c.
#
#   ours:  `wirestate serve --runtime tokio --threads 1` (current-thread
#          tokio; the Echo service of wirestate_examples::grpc);
#   tonic: tests/examples/tonic_echo_server.rs (tonic 0.14's server, the
#          service written as its code generator writes it, prost codec over
#          the same prost types; current-thread tokio; responses sent
#          uncompressed, as ours are: h2load does not ask for gzip anyway).
#
# Rows (each server answers the same request body):
#   unary Echo, 16 B and 1 KiB payloads, 1 and 64 calls in flight on one
#     connection (calls/s, p99 per call);
#   server streaming EchoStream, one request asking for 1000 echoes of a
#     100 B payload, one call at a time (messages/s);
#   bidi EchoBidi, 1000 requests of 100 B in one request body, each echoed
#     as it is read, one call at a time (messages/s each way).
# Each row: ROUNDS rounds per server alternating ours/tonic and their
# order, each a 1 s warm-up run then SECS measured seconds. Servers pinned
# to core 0, h2load to core 1 (it saturates its core at 64 in flight, so
# the server CPU time per call is the figure to compare, not the rate):
# utime + stime of the server from /proc/PID/stat over the measured run,
# divided by the calls (or messages) it answered. p99 from h2load's
# per-request log (request start to end of response; for the streaming
# rows, the whole call).
#
#   bench/grpc.sh [secs-per-round] [rounds]     (defaults 5 and 3)
#   ONLY='unary' bench/grpc.sh 5 3               (only rows matching)
#   BIN_DIR=/tmp/bins bench/grpc.sh              (prebuilt wirestate and
#                                                 tonic_echo_server)
#   AB_BIN=/tmp/old/wirestate bench/grpc.sh      (A/B of two builds of ours:
#                                                 that binary's server takes
#                                                 tonic's place in the table)
#
# Needs taskset (util-linux), h2load (nghttp2-client) and python3 (to build
# the request bodies). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
ROUNDS=${2:-3}
ONLY=${ONLY:-unary|stream|bidi}

command -v h2load >/dev/null || { echo "bench/grpc.sh needs h2load (apt-get install nghttp2-client)" >&2; exit 1; }

# Copies, so a build started meanwhile (the machine is shared) does not
# swap a binary under the run.
bin=$(mktemp -d)
if [ -n "${BIN_DIR:-}" ]; then
  cp "$BIN_DIR/wirestate" "$BIN_DIR/tonic_echo_server" "$bin/"
else
  cargo build --release -q --bin wirestate
  cargo build --release -q -p wirestate-tests --example tonic_echo_server
  target="${CARGO_TARGET_DIR:-target}/release"
  cp "$target/wirestate" "$target/examples/tonic_echo_server" "$bin/"
fi
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$bin"
}
trap cleanup EXIT

# Request bodies: gRPC messages (flag 0, 4-byte length) of EchoRequest
# {message: "bench", payload: N bytes of 1, repeat: R}, written by hand
# (proto3: field 1 string, 2 bytes, 3 varint).
python3 - "$bin" <<'EOF'
import struct, sys
def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])
def echo_request(payload, repeat):
    m = b"\x0a" + varint(5) + b"bench" + b"\x12" + varint(payload) + b"\x01" * payload
    if repeat:
        m += b"\x18" + varint(repeat)
    return b"\x00" + struct.pack(">I", len(m)) + m
d = sys.argv[1]
open(f"{d}/unary16", "wb").write(echo_request(16, 0))
open(f"{d}/unary1k", "wb").write(echo_request(1024, 0))
open(f"{d}/stream", "wb").write(echo_request(100, 1000))
open(f"{d}/bidi", "wb").write(echo_request(100, 0) * 1000)
EOF

port_ours=18321
port_tonic=18322
taskset -c 0 "$bin/wirestate" serve --runtime tokio --threads 1 --listen "127.0.0.1:$port_ours" >/dev/null 2>&1 &
pid_ours=$!
pids+=("$pid_ours")
if [ -n "${AB_BIN:-}" ]; then
  cp "$AB_BIN" "$bin/wirestate-b"
  taskset -c 0 "$bin/wirestate-b" serve --runtime tokio --threads 1 --listen "127.0.0.1:$port_tonic" >/dev/null 2>&1 &
else
  taskset -c 0 "$bin/tonic_echo_server" "127.0.0.1:$port_tonic" >/dev/null 2>&1 &
fi
pid_tonic=$!
pids+=("$pid_tonic")
for port in $port_ours $port_tonic; do
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
done

echo "# $(date -u '+%F %T UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(h2load --version | head -1)"
echo "# SECS=$SECS ROUNDS=$ROUNDS; servers on core 0, h2load on core 1${AB_BIN:+; A/B: the tonic columns are $AB_BIN}"

# The machine is shared: before each row, wait (up to QUIET_WAIT seconds,
# 0 to skip) until no compiler or linker is running.
quiet() {
  local waited=0
  while [ "$waited" -lt "${QUIET_WAIT:-300}" ] && pgrep -x 'rustc|cc|ld' >/dev/null; do
    sleep 2
    waited=$((waited + 2))
  done
  echo "# row start $(date -u '+%T'), load average $(cut -d' ' -f1-3 /proc/loadavg), waited ${waited}s"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick_hz=$(getconf CLK_TCK)

# run LABEL METHOD BODY INFLIGHT MESSAGES-PER-CALL
# One row: ROUNDS rounds, each server once a round (order alternating);
# prints one line per round and server, then the totals and the ratio.
run() {
  local label=$1 method=$2 body=$3 inflight=$4 per_call=$5
  quiet
  local -A calls=() cpu=() secs=()
  local p99s_ours="" p99s_tonic=""
  for round in $(seq "$ROUNDS"); do
    local order="ours tonic"
    [ $((round % 2)) -eq 0 ] && order="tonic ours"
    for who in $order; do
      local port=$port_ours pid=$pid_ours
      [ "$who" = tonic ] && port=$port_tonic pid=$pid_tonic
      local url="http://127.0.0.1:$port/wirestate.echo.v1.Echo/$method"
      local args=(-c 1 -t 1 -m "$inflight" -d "$bin/$body"
        -H 'content-type: application/grpc' -H 'te: trailers')
      taskset -c 1 h2load "${args[@]}" -D 1 "$url" >/dev/null
      local c0 c1 out
      c0=$(cpu_ticks "$pid")
      out=$(taskset -c 1 h2load "${args[@]}" -D "$SECS" --log-file="$bin/log" "$url")
      c1=$(cpu_ticks "$pid")
      local ok failed took p99
      ok=$(sed -n 's/^requests: .* \([0-9]*\) succeeded, \([0-9]*\) failed.*/\1/p' <<<"$out")
      failed=$(sed -n 's/^requests: .* succeeded, \([0-9]*\) failed.*/\1/p' <<<"$out")
      took=$(sed -n 's/^finished in \([0-9.]*\)s,.*/\1/p' <<<"$out")
      if [ -z "$ok" ] || [ "$ok" -eq 0 ] || [ "$failed" -ne 0 ]; then
        echo "$label $who: h2load failed" >&2
        echo "$out" >&2
        exit 1
      fi
      # Completed requests only (status 200), sorted by duration (µs).
      p99=$(awk -F'\t' '$2 == 200 {print $3}' "$bin/log" | sort -n |
        awk '{v[NR] = $1} END {i = int(NR * 0.99); if (i < 1) i = 1; print v[i]}')
      local msgs=$((ok * per_call))
      calls[$who]=$(( ${calls[$who]:-0} + msgs ))
      cpu[$who]=$(( ${cpu[$who]:-0} + c1 - c0 ))
      secs[$who]=$(awk -v a="${secs[$who]:-0}" -v b="$took" 'BEGIN {print a + b}')
      [ "$who" = ours ] && p99s_ours+=" $p99" || p99s_tonic+=" $p99"
      awk -v l="$label" -v w="$who" -v r="$round" -v m="$msgs" -v t="$took" -v c=$((c1 - c0)) -v hz="$tick_hz" -v p="$p99" \
        'BEGIN {printf "#   %s, round %d, %s: %.0f/s, p99 %d µs, server CPU %.2f µs/op\n", l, r, w, m / t, p, c / hz * 1e6 / m}'
    done
  done
  awk -v l="$label" -v mo="${calls[ours]}" -v so="${secs[ours]}" -v co="${cpu[ours]}" \
    -v mt="${calls[tonic]}" -v st="${secs[tonic]}" -v ct="${cpu[tonic]}" -v hz="$tick_hz" \
    -v po="$(tr ' ' '\n' <<<"$p99s_ours" | sort -n | awk 'NF {v[++n] = $1} END {print v[int((n + 1) / 2)]}')" \
    -v pt="$(tr ' ' '\n' <<<"$p99s_tonic" | sort -n | awk 'NF {v[++n] = $1} END {print v[int((n + 1) / 2)]}')" \
    'BEGIN {
      ro = mo / so; rt = mt / st; uo = co / hz * 1e6 / mo; ut = ct / hz * 1e6 / mt;
      printf "| %s | %.0f/s | %.0f/s | %.2fx | %d µs | %d µs | %.2f µs | %.2f µs | %.2fx |\n", l, ro, rt, ro / rt, po, pt, uo, ut, ut / uo
    }' >>"$bin/table"
}

if [[ unary =~ $ONLY ]]; then
  run "unary 16 B, 1 in flight" Echo unary16 1 1
  run "unary 16 B, 64 in flight" Echo unary16 64 1
  run "unary 1 KiB, 1 in flight" Echo unary1k 1 1
  run "unary 1 KiB, 64 in flight" Echo unary1k 64 1
fi
if [[ stream =~ $ONLY ]]; then
  run "server streaming, 1000 x 100 B per call (messages)" EchoStream stream 1 1000
fi
if [[ bidi =~ $ONLY ]]; then
  run "bidi, 1000 x 100 B each way per call (messages)" EchoBidi bidi 1 1000
fi
echo
echo "| row | ours rate | tonic rate | rate ours/tonic | ours p99 | tonic p99 | ours CPU/op | tonic CPU/op | CPU tonic/ours |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
cat "$bin/table"
echo "# done, load average $(cut -d' ' -f1-3 /proc/loadavg)"
