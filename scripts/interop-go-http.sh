#!/usr/bin/env bash
# Go's HTTP stack as an independent peer for HTTP/1.1, h2c and WebSocket,
# both directions, on every runtime:
#   - Go clients (scripts/go-http/client: net/http, x/net/http2's
#     Transport with prior knowledge, gorilla/websocket) -> `wirestate
#     serve` (tokio, smol, blocking): HTTP/1.1 GET/HEAD/404/400, echo of
#     small, empty, 1 MiB, chunked and trailer-carrying bodies, a chunked
#     /stream, 300 keep-alive requests on one connection, Expect:
#     100-continue, 64 concurrent requests, Connection: close, a download
#     dropped mid-body, 1 MiB bodies the route does not read then a
#     request on the same connection, three pipelined requests, HTTP/1.0,
#     8 KB and 200 KB (431) of headers, Expect: 100-continue answered
#     404 without a 100, the absolute form (our server as Go's proxy),
#     OPTIONS * and CONNECT; h2c: 16 MiB echoed both ways at
#     once (flow control),
#     a 5.9 MB download, a body of unknown length with request trailers,
#     300 concurrent streams on one connection (past
#     MAX_CONCURRENT_STREAMS), response trailers (a gRPC EmptyCall), 100
#     downloads and an upload cancelled mid-body (RST_STREAM CANCEL) on one
#     connection, a 12 KB header, 10 MiB of request bodies no handler
#     reads (the connection window must come back), x/net/http2's idle
#     health-check PINGs, HPACK tables of 1 byte and 64 KiB, PINGs;
#     WebSocket: text, binary, empty,
#     1 MiB messages in ~2,000 fragments, 1,000 pipelined messages, pings
#     (also between two fragments), close codes (4000 echoed, a 1005 on the
#     wire is 1002, invalid UTF-8 is 1007), permessage-deflate
#     (EnableCompression), a GET /ws without upgrade; and a slow h2c
#     download under way when serve gets Ctrl-C: it must finish complete
#     (GOAWAY), and serve exit 0;
#   - our clients (`wirestate http`, with and without
#     --http2-prior-knowledge, and `wirestate ws`; tokio, smol, blocking)
#     -> a Go server (scripts/go-http/server: net/http, h2c.NewHandler and
#     gorilla's Upgrader on one port): Content-Length, chunked and
#     close-delimited bodies, a 302, a 103 Early Hints before the 200,
#     204, a 304 with a Content-Length,
#     trailers, 32 MiB downloads with and without a length, a 5 MB upload
#     echoed, a 5 MB upload answered 413 unread (net/http then resets the
#     connection), 10 requests in a row; WebSocket with and without
#     permessage-deflate: echo, a 1 MiB message, the server's close 4001
#     answered with 4001 (exit 1 naming it), the server's ping answered, a
#     1 MiB fragmented (and compressed) message from the server, the offer
#     made; our pooled HTTP/1.1 client and an h2c connection with 500
#     requests at once (tests/tests/go_http_peer.rs, tokio, smol,
#     blocking); finally, the Go server must have logged no error about us.
# Go and the packages are Debian's (golang-go, golang-golang-x-net-dev,
# golang-github-gorilla-websocket-dev), installed when missing and built
# offline in GOPATH mode (GO111MODULE=off) against /usr/share/gocode, as
# scripts/interop-grpc-go.sh does; the two binaries go to
# $WIRESTATE_CACHE/go-http (default ~/.cache/wirestate/go-http) and are
# rebuilt only when their sources or the packages change. Loopback only;
# every process is ended by PID. One PASS/FAIL line per case, then
# `interop-go-http: N passed, M failed`.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${WIRESTATE_CACHE:-$HOME/.cache/wirestate}/go-http"
debs=(golang-go golang-golang-x-net-dev golang-github-gorilla-websocket-dev)

# --- the peers: Debian's packages (installed only when missing)
installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }
missing=()
for d in "${debs[@]}"; do installed "$d" || missing+=("$d"); done
if [ "${#missing[@]}" -ne 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
versions=$(dpkg-query -W -f='${Package} ${Version}\n' "${debs[@]}")

# --- the Go client and server, built when their inputs changed
go_env=(env GO111MODULE=off GOFLAGS= GOPATH="$cache/gopath:/usr/share/gocode" GOCACHE="$cache/gocache")
stamp=$( {
    echo "$versions"
    "${go_env[@]}" go version
    find scripts/go-http -type f -name '*.go' | sort | xargs cat
} | sha256sum | cut -d' ' -f1)
if [ "$(cat "$cache/bin/stamp" 2>/dev/null)" != "$stamp" ]; then
    echo "building the Go HTTP client and server into $cache/bin"
    src="$cache/gopath/src/wirestate.test/gohttp"
    rm -rf "$src" "$cache/bin"
    mkdir -p "$src" "$cache/bin"
    cp -r scripts/go-http/client scripts/go-http/server "$src/"
    "${go_env[@]}" go build -o "$cache/bin/go-http-client" wirestate.test/gohttp/client
    "${go_env[@]}" go build -o "$cache/bin/go-http-server" wirestate.test/gohttp/server
    echo "$stamp" >"$cache/bin/stamp"
fi

cargo build --release --locked -q --bin wirestate
cargo test --locked -q -p wirestate-tests --test go_http_peer --no-run

work=$(mktemp -d)
# Copies of the binaries just built, so that another build sharing the
# target directory cannot swap them while the matrix runs.
out="${CARGO_TARGET_DIR:-target}/release"
mkdir -p "$work/bin"
cp "$out/wirestate" "$cache/bin/go-http-client" "$cache/bin/go-http-server" "$work/bin/"
bin="$work/bin/wirestate"
go_client="$work/bin/go-http-client"
go_server="$work/bin/go-http-server"
pids=()

. scripts/lib/tally.sh
end_at_exit
# count, start and stop_last: scripts/lib/tally.sh

echo "$versions" | sed 's/^/peer: /'

# --- Go clients -> wirestate serve
for rt in tokio smol blocking; do
    port=$(free_port)
    if start "$rt serve" "$work/serve-$rt.log" "$bin" serve --runtime "$rt" --listen "127.0.0.1:$port"; then
        timeout 150 "$go_client" --addr "127.0.0.1:$port" --cases h1,h2,ws \
            --label "go->$rt-serve" >"$work/go-$rt.out" 2>"$work/go-$rt.err" || true
        count "$work/go-$rt.out" "go clients -> $rt serve"
        # A slow h2c download under way when serve gets Ctrl-C: complete,
        # and serve exits 0.
        timeout 30 "$go_client" --addr "127.0.0.1:$port" --cases slow_h2 \
            --label "go->$rt-serve" >"$work/go-$rt-slow.out" 2>&1 &
        cpid=$!
        sleep 0.4
        kill -INT "${pids[-1]}"
        wait "$cpid" || true
        if wait "${pids[-1]}"; then
            count "$work/go-$rt-slow.out" "go client -> $rt serve, shutting down"
        else
            fail "go->$rt-serve h2_stream_across_graceful_shutdown: serve did not exit 0" "$work/serve-$rt.log"
        fi
        unset 'pids[-1]'
    fi
done

# --- our clients -> the Go server
port=$(free_port)
if ! start "go server" "$work/go-server.log" "$go_server" --port "$port"; then
    echo "interop-go-http: $passed passed, $failed failed"
    exit 1
fi
U="http://127.0.0.1:$port"
W="ws://127.0.0.1:$port"
head -c 5000000 /dev/urandom >"$work/upload.bin"
up_sum=$(sha256sum <"$work/upload.bin" | cut -d' ' -f1)
big=33554432
big_sum=$(python3 -c '
import hashlib, sys
n = int(sys.argv[1]); block = bytes(range(251)); h = hashlib.sha256()
h.update(block * (n // 251)); h.update(block[: n % 251]); print(h.hexdigest())' "$big")
python3 -c 'print("x" * (1 << 20))' >"$work/line.txt"

body_is() { # want args...: `wirestate http ARGS` exits 0 printing exactly want
    local want=$1 got
    shift
    got=$(timeout 30 "$bin" http "$@") || { echo "exit $?: $got"; return 1; }
    [ "$got" = "$want" ] || { printf 'got %q\nwant %q\n' "$got" "$want"; return 1; }
}
head_has() { # pattern args...: `wirestate http -i ARGS` exits 0, the output matches
    local pattern=$1
    shift
    timeout 30 "$bin" http -i "$@" >"$work/head.out" || { cat "$work/head.out"; return 1; }
    grep -qiE "$pattern" "$work/head.out" || { cat "$work/head.out"; return 1; }
}
sum_is() { # want args...: the body's SHA-256 is want
    local want=$1 got
    shift
    # pipefail: the client's exit status, not cut's.
    got=$(timeout 60 "$bin" http "$@" | sha256sum | cut -d' ' -f1) || { echo "exit $?"; return 1; }
    [ "$got" = "$want" ] || { echo "sha256 $got, want $want"; return 1; }
}
many() { # args...: 10 requests of / in a row
    local i
    for i in $(seq 10); do
        timeout 10 "$bin" http "$@" "$U/" | grep -q 'hello from go' || { echo "request $i failed"; return 1; }
    done
}
for rt in tokio smol blocking; do
    for mode in h1 h2; do
        if [ "$mode" = h2 ]; then
            a=(--runtime "$rt" --http2-prior-knowledge)
            proto=HTTP/2.0
        else
            a=(--runtime "$rt")
            proto=HTTP/1.1
        fi
        l="wirestate-http-$rt-$mode->go"
        check "$l root" body_is "hello from go, $proto" "${a[@]}" "$U/"
        check "$l content_length" body_is "content-length body" "${a[@]}" "$U/cl"
        check "$l chunked" body_is $'chunk one\nchunk two\nchunk three' "${a[@]}" "$U/chunked"
        check "$l close_delimited" body_is "close-delimited body" "${a[@]}" "$U/close"
        check "$l redirect_302" head_has '^location: /cl' "${a[@]}" "$U/redirect"
        check "$l early_hints_103" body_is "after early hints" "${a[@]}" "$U/early-hints"
        check "$l no_content_204" body_is "" "${a[@]}" "$U/204"
        check "$l not_modified_304" head_has ' 304 ' "${a[@]}" "$U/304"
        check "$l trailers" body_is "body before trailers" "${a[@]}" "$U/trailers"
        check "$l trailers_printed_by_-i" head_has '^body before trailers' "${a[@]}" "$U/trailers"
        check "$l trailers_printed_by_-i_after_the_body" bash -c 'tail -2 "$1" | grep -qi "^x-checksum: abc123" && tail -2 "$1" | grep -qi "^x-count: 1"' _ "$work/head.out"
        check "$l download_32mib" sum_is "$big_sum" "${a[@]}" "$U/big?n=$big"
        check "$l download_32mib_with_length" sum_is "$big_sum" "${a[@]}" "$U/big?n=$big&length=1"
        check "$l upload_5mb_echo" sum_is "$up_sum" "${a[@]}" --data-file "$work/upload.bin" "$U/echo"
        check "$l upload_refused_413" head_has ' 413 ' "${a[@]}" --data-file "$work/upload.bin" "$U/reject"
        check "$l ten_in_a_row" many "${a[@]}"
    done
done

ws_echo() { # args...: four lines (one empty) echoed in order, exit 0
    local got
    got=$(printf 'hello\nw\xc3\xb6rld \xe2\x98\xba\n\nlast\n' | timeout 10 "$bin" ws "$@" "$W/ws") || { echo "exit $?: $got"; return 1; }
    [ "$got" = $'hello\nwörld ☺\n\nlast' ] || { printf 'got %q\n' "$got"; return 1; }
}
ws_line() { # args...: a 1 MiB line echoed
    local n
    n=$(timeout 10 "$bin" ws "$@" "$W/ws" <"$work/line.txt" | wc -c) || { echo "exit $?"; return 1; }
    [ "$n" -eq $(((1 << 20) + 1)) ] || { echo "$n bytes back"; return 1; }
}
ws_server_close() { # args...: close 4001 from the server: exit 1 naming it
    # stdin stays open (no close of ours races the server's).
    if (sleep 2) | timeout 10 "$bin" ws "$@" "$W/ws-close" >"$work/ws.out" 2>&1; then
        cat "$work/ws.out"
        return 1
    fi
    grep -q '^closing with 4001$' "$work/ws.out" && grep -q 'code 4001 "custom reason"' "$work/ws.out" ||
        { cat "$work/ws.out"; return 1; }
}
ws_from_server() { # path want args...: what the server sends, exit 0
    local path=$1 want=$2 got
    shift 2
    got=$( (sleep 2) | timeout 10 "$bin" ws "$@" "$W$path") || { echo "exit $?: $got"; return 1; }
    [ "$got" = "$want" ] || { printf 'got %q\nwant %q\n' "$got" "$want"; return 1; }
}
ws_big() { # args...: the server's 1 MiB message, exit 0
    local n
    n=$( (sleep 2) | timeout 10 "$bin" ws "$@" "$W/ws-big" | wc -c) || { echo "exit $?"; return 1; }
    [ "$n" -eq $(((1 << 20) + 1)) ] || { echo "$n bytes"; return 1; }
}
for rt in tokio smol blocking; do
    for d in deflate plain; do
        a=(--runtime "$rt")
        offer="offered: permessage-deflate; client_max_window_bits"
        if [ "$d" = plain ]; then
            a+=(--no-deflate)
            offer="offered: "
        fi
        l="wirestate-ws-$rt-$d->gorilla"
        check "$l echo" ws_echo "${a[@]}"
        check "$l echo_1mib" ws_line "${a[@]}"
        check "$l server_close_4001" ws_server_close "${a[@]}"
        check "$l server_ping" ws_from_server /ws-ping "pong seen" "${a[@]}"
        check "$l server_1mib_fragmented" ws_big "${a[@]}"
        check "$l offer" ws_from_server /ws-ext "$offer" "${a[@]}"
    done
done

# Our pooled HTTP/1.1 client and one h2c connection per runtime
# (tests/tests/go_http_peer.rs, ignored tests run here with
# WIRESTATE_GO_HTTP=host:port): 100 requests on one kept-alive
# connection with trailers, a close-delimited response ending its
# connection, 16 concurrent downloads; 500 requests at once on one h2c
# connection (Go's MAX_CONCURRENT_STREAMS is 250) with trailers, uploads
# and downloads. One test at a time: they read the server's connection count.
WIRESTATE_GO_HTTP="127.0.0.1:$port" timeout 180 \
    cargo test --locked -p wirestate-tests --test go_http_peer -- \
    --ignored --test-threads 1 >"$work/test.log" 2>&1 || true
for t in tokio::http1_client tokio::h2_burst smol::http1_client smol::h2_burst \
    blocking::http1_client blocking::h2_burst; do
    if grep -q "^test $t \.\.\. ok$" "$work/test.log"; then
        pass "go_http_peer $t"
    else
        TALLY_DETAIL=tail fail "go_http_peer $t" "$work/test.log"
    fi
done

# What the Go server logged about our clients: nothing but, at most,
# connections reset after our GOAWAY (a client that closes its socket
# with the server's answering GOAWAY unread resets it, which x/net/http2
# logs; the responses were complete).
sleep 0.5
grep -v 'connection reset by peer' "$work/go-server.log" >"$work/go-server.errors" || true
resets=$(grep -c 'connection reset by peer' "$work/go-server.log" || true)
if [ -s "$work/go-server.errors" ]; then
    fail "go server: errors logged about our clients" "$work/go-server.errors"
else
    pass "go server: no error logged about our clients ($resets connection resets after our GOAWAY)"
fi
stop_last

echo "interop-go-http: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
