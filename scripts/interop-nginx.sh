#!/usr/bin/env bash
# Our HTTP/1.1 and HTTP/2 clients (tokio, smol, blocking) against nginx, an
# independent server: tests/tests/nginx_interop.rs, ignored by default, run
# here against an nginx this script starts on loopback ports with a config
# in a temporary directory (HTTP/1.1 with keepalive_requests 5 and
# keepalive_timeout 2s, gzip, a proxied /echo, client_max_body_size 20m;
# h2c with prior knowledge, http2_max_concurrent_streams 128, once with
# keepalive_requests 1000 and once with 50). nginx is ended by PID.
# Prints the test summary, then `interop-nginx: N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v nginx >/dev/null || { apt-get update -qq && apt-get install -y -qq nginx-light >/dev/null; }
. scripts/lib/tally.sh
. scripts/lib/nginx.sh

work=$(mktemp -d)
nginx_pid=
cleanup() {
    [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

h1=$(free_port); h2=$(free_port); h2l=$(free_port)
# The worker (nobody, when started as root) reads the files.
chmod 755 "$work"
mkdir -p "$work/www"
head -c 10000000 /dev/urandom > "$work/www/big"
echo hello > "$work/www/index.html"
python3 -c "print('x' * 200000)" > "$work/www/text.txt"
nginx_conf "$work" "$(cat <<CONF
  types { text/plain txt; text/html html; }
  keepalive_timeout 2s;
  client_max_body_size 20m;
  server {
    listen 127.0.0.1:$h1;
    keepalive_requests 5;
    root $work/www;
    gzip on; gzip_types text/plain; gzip_min_length 10;
    location = /204 { return 204; }
    location = /echo { proxy_pass http://127.0.0.1:$h1/sink; }
    location = /sink { return 200 "ok\n"; }
  }
  server {
    listen 127.0.0.1:$h2 http2;
    http2_max_concurrent_streams 128;
    keepalive_requests 1000;
    root $work/www;
  }
  server {
    listen 127.0.0.1:$h2l http2;
    keepalive_requests 50;
    root $work/www;
  }
CONF
)"
nginx -c "$work/nginx.conf" -p "$work" >"$work/logs/out" 2>&1 &
nginx_pid=$!
wait_port "$h1" && wait_port "$h2" && wait_port "$h2l" || { cat "$work/logs/out" "$work/logs/error.log"; exit 1; }

# One at a time: the reload case must not land in another test's idle wait.
out="$work/test.log"
set +e
NGINX_H1="127.0.0.1:$h1" NGINX_H2="127.0.0.1:$h2" NGINX_H2_LIMITED="127.0.0.1:$h2l" NGINX_PID="$nginx_pid" \
    timeout 600 cargo test --locked -q -p wirestate-tests --test nginx_interop -- --ignored --test-threads 1 >"$out" 2>&1
set -e
grep -E '^test |panicked|^test result' "$out" || cat "$out"
passed=$(grep -Eo '[0-9]+ passed' "$out" | tail -1 | grep -Eo '[0-9]+' || echo 0)
failed=$(grep -Eo '[0-9]+ failed' "$out" | tail -1 | grep -Eo '[0-9]+' || echo 0)
echo "interop-nginx: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
