#!/usr/bin/env bash
# MCP server benchmark: tools/call of an `echo` tool on our server against
# rmcp's (the official Rust SDK), driven by one neutral load generator
# (examples/mcp_load.rs: MCP by hand over pipes or raw HTTP/1.1), so both
# servers see the same bytes.
#
#   ours: `wirestate mcp-server` (stdio; wirestate_tokio::stdio(), the
#         reactor on pipes) and `wirestate serve --runtime tokio --threads 1`
#         (/mcp, Streamable HTTP);
#   blocking: the same servers on the blocking runtime (plain threads, no
#         reactor): `wirestate mcp-server --runtime blocking` and
#         `wirestate serve --runtime blocking` (a thread per connection);
#   rmcp: examples/rmcp_echo_server.rs (rmcp 3.11: `stdio_pipes()`, and its
#         StreamableHttpService on hyper 1.x http1), current-thread tokio.
#   The tool is the same function with the same argument and result types
#   (wirestate_examples::mcp::echo: structured {text, length} + the JSON as
#   text). HTTP on both: stateful sessions (Mcp-Session-Id), each side's
#   default configuration (rmcp answers as SSE; ours answers a call whose
#   response comes first as plain JSON).
#
# Rows: stdio and HTTP, sequential (1 in flight) and 64 in flight (stdio:
# 64 requests outstanding on the pipe; HTTP: 64 keep-alive connections,
# one POST in flight each, on one session). Each row: ROUNDS rounds per
# server alternating ours/rmcp, SECS measured seconds per round after a
# 1 s warm-up. Servers pinned to core 0, the generator to core 1; server
# CPU µs/call from /proc/PID/stat (utime + stime) over each window, and
# its kernel part (stime: system calls and wake-ups) beside it.
#
#   bench/mcp.sh [secs-per-round] [rounds]      (defaults 5 and 3)
#   ONLY='stdio' bench/mcp.sh 5 3                (only rows matching)
#   BIN_DIR=/tmp/bins bench/mcp.sh                (prebuilt binaries)
#   AB_DIR=/tmp/old BIN_DIR=/tmp/new bench/mcp.sh (A/B: AB_DIR's wirestate
#       runs beside, as "base" and "base-blocking", in the same rounds)
#
# Needs taskset (util-linux). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
ROUNDS=${2:-3}
ONLY=${ONLY:-stdio|http}
INFLIGHT=${INFLIGHT:-1 64}

# Copies, so a build started meanwhile (the machine is shared) does not
# swap a binary under the run. BIN_DIR: take wirestate, mcp_load and
# rmcp_echo_server from there instead of building.
bin=$(mktemp -d)
if [ -n "${BIN_DIR:-}" ]; then
  cp "$BIN_DIR/wirestate" "$BIN_DIR/mcp_load" "$BIN_DIR/rmcp_echo_server" "$bin/"
else
  cargo build --release -q --bin wirestate
  cargo build --release -q -p wirestate-examples --example mcp_load --example rmcp_echo_server
  target="${CARGO_TARGET_DIR:-target}/release"
  cp "$target/wirestate" "$target/examples/mcp_load" "$target/examples/rmcp_echo_server" "$bin/"
fi
if [ -n "${AB_DIR:-}" ]; then
  cp "$AB_DIR/wirestate" "$bin/wirestate-base"
fi
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$bin"
}
trap cleanup EXIT

echo "# $(date -u '+%F %T UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# SECS=$SECS ROUNDS=$ROUNDS"
load=(taskset -c 1 "$bin/mcp_load" --secs "$SECS" --warmup 1 --rounds "$ROUNDS")

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

if [[ stdio =~ $ONLY ]]; then
  for n in $INFLIGHT; do
    quiet
    base=()
    if [ -n "${AB_DIR:-}" ]; then
      base=("base=taskset -c 0 $bin/wirestate-base mcp-server"
        "base-blocking=taskset -c 0 $bin/wirestate-base mcp-server --runtime blocking")
    fi
    "${load[@]}" --inflight "$n" stdio \
      "ours=taskset -c 0 $bin/wirestate mcp-server" \
      "blocking=taskset -c 0 $bin/wirestate mcp-server --runtime blocking" \
      "${base[@]}" \
      "rmcp=taskset -c 0 $bin/rmcp_echo_server stdio"
    echo
  done
fi

if [[ http =~ $ONLY ]]; then
  port_ours=18311
  port_rmcp=18312
  port_blocking=18313
  taskset -c 0 "$bin/wirestate" serve --runtime tokio --threads 1 --listen "127.0.0.1:$port_ours" >/dev/null 2>&1 &
  pid_ours=$!
  pids+=("$pid_ours")
  taskset -c 0 "$bin/rmcp_echo_server" http "127.0.0.1:$port_rmcp" >/dev/null 2>&1 &
  pid_rmcp=$!
  pids+=("$pid_rmcp")
  taskset -c 0 "$bin/wirestate" serve --runtime blocking --listen "127.0.0.1:$port_blocking" >/dev/null 2>&1 &
  pid_blocking=$!
  pids+=("$pid_blocking")
  base=()
  ports=("$port_ours" "$port_rmcp" "$port_blocking")
  if [ -n "${AB_DIR:-}" ]; then
    taskset -c 0 "$bin/wirestate-base" serve --runtime tokio --threads 1 --listen "127.0.0.1:18314" >/dev/null 2>&1 &
    pids+=("$!")
    base+=("base=http://127.0.0.1:18314/mcp@$!")
    taskset -c 0 "$bin/wirestate-base" serve --runtime blocking --listen "127.0.0.1:18315" >/dev/null 2>&1 &
    pids+=("$!")
    base+=("base-blocking=http://127.0.0.1:18315/mcp@$!")
    ports+=(18314 18315)
  fi
  for port in "${ports[@]}"; do
    for _ in $(seq 100); do
      (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
      sleep 0.1
    done
  done
  for n in $INFLIGHT; do
    quiet
    "${load[@]}" --inflight "$n" http \
      "ours=http://127.0.0.1:$port_ours/mcp@$pid_ours" \
      "blocking=http://127.0.0.1:$port_blocking/mcp@$pid_blocking" \
      "${base[@]}" \
      "rmcp=http://127.0.0.1:$port_rmcp/mcp@$pid_rmcp"
    echo
  done
fi
echo "# done, load average $(cut -d' ' -f1-3 /proc/loadavg)"
