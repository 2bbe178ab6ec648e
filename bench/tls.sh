#!/usr/bin/env bash
# TLS server benchmark: `wirestate serve --tls-cert` (TlsIo over tokio, one
# thread) against hyper 1.x behind tokio-rustls (examples/hyper_server.rs
# ... tls CERT KEY: what hyper-rustls and axum-server do), the same rustls
# 0.23 with the same provider (aws-lc-rs) and certificate (P-256), the same
# routes. h2load (nghttp2, OpenSSL) pinned to core 1, each server to core 0;
# server CPU per request (or per connection) from /proc/PID/stat over the
# measured window. Rows:
#   h2     HTTP/2 over TLS (ALPN h2), CONNS connections, 10 streams each, GET /
#   h1     HTTP/1.1 over TLS (ALPN http/1.1), CONNS keep-alive connections, GET /
#   hs     handshakes: HS fresh connections with one GET each (TLS 1.3, full
#          handshake, no resumption), CPU per connection
#
#   bench/tls.sh [seconds-per-row] [rounds]     (defaults 5 and 3)
#   ONLY=hs bench/tls.sh 5 3
#
# Needs h2load (Debian nghttp2-client), openssl and taskset. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}
ROUNDS=${2:-3}
CONNS=${CONNS:-16}
HS=${HS:-400}
command -v h2load >/dev/null || { apt-get update -qq && apt-get install -y -qq nghttp2-client >/dev/null; }

if [ -z "${BIN_DIR:-}" ]; then
  cargo build --release -q --bin wirestate
  cargo build --release -q -p wirestate-examples --example hyper_server
  target="${CARGO_TARGET_DIR:-target}/release"
  BIN_DIR=$(mktemp -d)
  cp "$target/wirestate" "$target/examples/hyper_server" "$BIN_DIR/"
fi
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -keyout "$work/key.pem" -out "$work/cert.pem" -subj /CN=localhost \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -addext basicConstraints=critical,CA:FALSE 2>/dev/null

hz=$(getconf CLK_TCK)
port=18290
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

servers=(
  "wirestate|$BIN_DIR/wirestate serve --runtime tokio --threads 1 --listen 127.0.0.1:PORT --tls-cert $work/cert.pem --tls-key $work/key.pem"
  "hyper|$BIN_DIR/hyper_server 127.0.0.1:PORT 1 tls $work/cert.pem $work/key.pem"
)
rows=(h2 h1 hs)
[ -n "${ONLY:-}" ] && read -r -a rows <<< "${ONLY//|/ }"

# One measured run of ROW against the server on PORT: "ops rate cpu_us".
measure() {
  local row=$1 p=$2 url="https://127.0.0.1:$2/" out t0 t1 ops rate
  case $row in
    h2) args=(-c "$CONNS" -m 10 -D "$DUR") ;;
    h1) args=(--h1 -c "$CONNS" -m 1 -D "$DUR") ;;
    hs) args=(-c "$HS" -n "$HS" -m 1) ;;
  esac
  taskset -c 1 h2load "${args[@]}" "$url" >/dev/null 2>&1 || true # warm-up
  t0=$(cpu_ticks "$pid")
  out=$(taskset -c 1 h2load "${args[@]}" "$url" 2>&1)
  t1=$(cpu_ticks "$pid")
  ops=$(echo "$out" | awk '/^requests:/ {print $8}')
  rate=$(echo "$out" | awk '/^finished in/ {gsub(",", "", $4); print $4}')
  awk -v a="$t0" -v b="$t1" -v n="$ops" -v hz="$hz" -v r="$rate" \
    'BEGIN { if (n > 0) printf "%d %s %.2f\n", n, r, (b - a) / hz * 1e6 / n; else print "0 0 0" }'
}

printf '| row | round | server | requests | rate (req/s) | server CPU µs per request |\n|---|---:|---|---:|---:|---:|\n'
results=()
for row in "${rows[@]}"; do
  for round in $(seq "$ROUNDS"); do
    # Alternate which server goes first.
    order=("${servers[@]}")
    [ $((round % 2)) -eq 0 ] && order=("${servers[1]}" "${servers[0]}")
    for s in "${order[@]}"; do
      name=${s%%|*}
      port=$((port + 1))
      cmd=${s#*|}
      cmd=${cmd//PORT/$port}
      # shellcheck disable=SC2086
      taskset -c 0 $cmd >/dev/null 2>&1 &
      pid=$!
      for _ in $(seq 100); do curl -s --cacert "$work/cert.pem" -o /dev/null "https://127.0.0.1:$port/" && break; sleep 0.1; done
      read -r ops rate us < <(measure "$row" "$port")
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      pid=""
      echo "| $row | $round | $name | $ops | $rate | $us |"
      results+=("$row $round $name $rate $us")
    done
  done
done

echo
echo "Medians over rounds; ratios hyper/wirestate (CPU: above 1 means ours is cheaper)"
printf '%s\n' "${results[@]}" | awk '
  function median(list,   n, a, i, j, t) { n = split(list, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  { rate[$1, $3] = rate[$1, $3] " " $4; cpu[$1, $3] = cpu[$1, $3] " " $5; rows[$1] = 1 }
  END { for (r in rows) { rw = median(rate[r, "wirestate"]); rh = median(rate[r, "hyper"]); cw = median(cpu[r, "wirestate"]); ch = median(cpu[r, "hyper"])
    printf "%s: rate ours %.0f, hyper %.0f (%.2fx); CPU ours %.2f µs, hyper %.2f µs (hyper/ours %.2fx)\n", r, rw, rh, (rh > 0 ? rw / rh : 0), cw, ch, (cw > 0 ? ch / cw : 0) } }'
