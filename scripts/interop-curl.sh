#!/usr/bin/env bash
# curl (an independent HTTP/1.1 client) against `wirestate serve` on every
# runtime, `wirestate http` against it, and curl against the custom-loop
# example; curl --http2-prior-knowledge and h2load (nghttp2, independent
# HTTP/2 clients) against the same port on every runtime. Loopback only;
# every server is ended by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl >/dev/null; }
command -v h2load >/dev/null || { apt-get update -qq && apt-get install -y -qq nghttp2-client >/dev/null; }

cargo build --release --locked -q --bin wirestate
cargo build --release --locked -q -p wirestate-examples --example custom_loop
bin="${CARGO_TARGET_DIR:-target}/release/wirestate"
loop_bin="${CARGO_TARGET_DIR:-target}/release/examples/custom_loop"

work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

. scripts/lib/tally.sh

wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.1; done; return 1; }

head -c 5000000 /dev/urandom > "$work/big"
big_sum=$(sha256sum < "$work/big")

suite() { # runtime port
    local rt=$1 port=$2 url="http://127.0.0.1:$2"
    check "$rt: GET /" bash -c "[ \"\$(curl -sf $url/)\" = hello ]"
    check "$rt: HEAD /" bash -c "curl -sfI $url/ | grep -qi '^content-length: 5'"
    check "$rt: 404" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $url/nope)\" = 404 ]"
    check "$rt: POST /echo 5 MB (Expect: 100-continue)" bash -c "[ \"\$(curl -sf --data-binary @$work/big $url/echo | sha256sum)\" = \"$big_sum\" ]"
    check "$rt: chunked upload" bash -c "[ \"\$(printf 'abc' | curl -sf -H 'Transfer-Encoding: chunked' --data-binary @- $url/echo)\" = abc ]"
    check "$rt: /stream?n=1000" bash -c "[ \"\$(curl -sf '$url/stream?n=1000' | wc -l)\" = 1000 ]"
    check "$rt: keep-alive reuse" bash -c "[ \"\$(curl -s -o /dev/null -o /dev/null -w '%{num_connects}' $url/ $url/ | tr -d '\n')\" = 10 ]"
    check "$rt: HTTP/1.0" bash -c "[ \"\$(curl -sf -0 $url/)\" = hello ]"
    check "$rt: smuggling refused (CL+TE)" bash -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Length: 3' -H 'Transfer-Encoding: chunked' --data-binary abc $url/echo)\" = 400 ]"
    check "$rt: wirestate http -i" bash -c "$bin http -i --runtime $rt $url/ | grep -q '^HTTP/1.1 200'"
    check "$rt: wirestate http POST" bash -c "[ \"\$($bin http --runtime $rt -X POST -d payload $url/echo)\" = payload ]"
}

h2suite() { # runtime port: HTTP/2 with prior knowledge on the same port
    local rt=$1 url="http://127.0.0.1:$2" c="curl -sf --http2-prior-knowledge"
    check "$rt h2: GET /" bash -c "[ \"\$($c -w ' %{http_version}' $url/)\" = 'hello 2' ]"
    check "$rt h2: HEAD /" bash -c "$c -I $url/ | grep -qi '^content-length: 5'"
    check "$rt h2: 404" bash -c "[ \"\$(curl -s --http2-prior-knowledge -o /dev/null -w '%{http_code}' $url/nope)\" = 404 ]"
    check "$rt h2: POST /echo 5 MB" bash -c "[ \"\$($c --data-binary @$work/big $url/echo | sha256sum)\" = \"$big_sum\" ]"
    check "$rt h2: /stream?n=1000" bash -c "[ \"\$($c '$url/stream?n=1000' | wc -l)\" = 1000 ]"
    check "$rt h2: 3 requests, one connection" bash -c "[ \"\$($c -o /dev/null -o /dev/null -o /dev/null -w '%{num_connects}' $url/ $url/ $url/ | tr -d '\n')\" = 100 ]"
    check "$rt h2: h2load 2000 requests, 4 connections x 50 streams" bash -c "h2load -n 2000 -c 4 -m 50 $url/ | grep -q '2000 succeeded, 0 failed, 0 errored'"
    check "$rt h2: wirestate http --http2-prior-knowledge -i" bash -c "$bin http --http2-prior-knowledge -i --runtime $rt $url/ | grep -q '^HTTP/2.0 200'"
    check "$rt h2: wirestate http --http2-prior-knowledge 5 MB echo" bash -c "[ \"\$($bin http --http2-prior-knowledge --runtime $rt --data-file $work/big $url/echo | sha256sum)\" = \"$big_sum\" ]"
    check "$rt h2: h2load POST 1 KiB" bash -c "head -c 1024 /dev/zero > $work/kib && h2load -n 500 -c 2 -m 20 -d $work/kib $url/echo | grep -q '500 succeeded, 0 failed, 0 errored'"
}

for rt in tokio smol blocking; do
    if ! "$bin" serve --help | grep -q "$rt"; then continue; fi
    port=$(free_port)
    "$bin" serve --runtime "$rt" --listen "127.0.0.1:$port" --threads 2 >"$work/serve-$rt.log" 2>&1 &
    pids+=($!)
    if wait_port "$port"; then
        suite "$rt" "$port"
        h2suite "$rt" "$port"
    else failed=$((failed + 1)); echo "FAIL $rt: server did not start"; cat "$work/serve-$rt.log"; fi
done

port=$(free_port)
"$loop_bin" "127.0.0.1:$port" 60 >"$work/loop.log" 2>&1 &
pids+=($!)
if wait_port "$port"; then
    check "custom loop: GET /" bash -c "[ \"\$(curl -sf http://127.0.0.1:$port/)\" = hello ]"
    check "custom loop: POST /echo" bash -c "[ \"\$(curl -sf -d hi http://127.0.0.1:$port/echo)\" = hi ]"
    # Over its 1 MiB echo limit: 413, not an empty reply.
    check "custom loop: POST /echo of 2 MiB -> 413" bash -c "[ \"\$(head -c 2097152 /dev/zero | curl -s -o /dev/null -w '%{http_code}' --data-binary @- http://127.0.0.1:$port/echo)\" = 413 ]"
else
    failed=$((failed + 1)); echo "FAIL custom loop did not start"
fi

echo "interop-curl: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
