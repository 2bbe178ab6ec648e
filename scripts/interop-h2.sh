#!/usr/bin/env bash
# HTTP/2 interop with independent peers, on tokio, smol and blocking:
#   - Python `h2` (PyPI, hyper's sans-IO HTTP/2, pinned below) as a
#     scripted client against `wirestate serve --runtime R`
#     (scripts/h2_peer.py): requests and flow control through
#     H2Connection, then hand-built frames for the protocol errors and
#     floods, each with the exact reaction RFC 9113 and our limits
#     (core/h2/src/connection/config.rs) call for (GOAWAY or RST_STREAM
#     and its code, 431, REFUSED_STREAM, ENHANCE_YOUR_CALM...), including
#     one case for each of h2spec's (summerwind/h2spec: RFC 9113 "http2",
#     RFC 7541 "hpack" and its "generic" checks), named by section; and SIGINT
#     to a second server mid-request: GOAWAY, the response completes, the
#     server exits 0;
#   - `wirestate http --http2-prior-knowledge` against nghttp2's server
#     (`nghttpd --no-tls`, Debian nghttp2-server): a small and a 5 MB
#     static file (sha256 compared) and a 404.
# Loopback only; every process is ended by PID. One PASS/FAIL line per
# check, then `interop-h2: N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/venv.sh

# --- the peers (installed only when missing)
h2_venv # Python h2, pinned in scripts/lib/venv.sh; sets $py
command -v nghttpd >/dev/null || { apt-get update -qq && apt-get install -y -qq nghttp2-server >/dev/null; }

cargo build --release --locked -q --bin wirestate
bin="${CARGO_TARGET_DIR:-target}/release/wirestate"
peer="scripts/h2_peer.py"

work=$(mktemp -d)
pids=()

. scripts/lib/tally.sh
end_at_exit
count() { # output file of the peer: adds its PASS/FAIL lines
    local p f
    cat "$1"
    p=$(grep -c '^PASS ' "$1" || true)
    f=$(grep -c '^FAIL ' "$1" || true)
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        fail "$2: the h2 peer ran no check"
        tail -20 "$1" | sed 's/^/    /'
    fi
}

gone() { # pid: ended (reaped or a zombie)
    ! kill -0 "$1" 2>/dev/null || grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null
}

# --- Python h2 -> wirestate serve
for rt in tokio smol blocking; do
    port=$(free_port)
    "$bin" serve --runtime "$rt" --listen "127.0.0.1:$port" --threads 2 >"$work/serve-$rt.log" 2>&1 &
    pids+=($!)
    if ! wait_port "$port"; then
        fail "$rt: server did not start" "$work/serve-$rt.log"
        continue
    fi
    timeout 120 "$py" "$peer" cases 127.0.0.1 "$port" "$rt" >"$work/cases-$rt.out" 2>&1 || true
    count "$work/cases-$rt.out" "$rt"

    # Graceful shutdown, on a server of its own (SIGINT ends it).
    port=$(free_port)
    "$bin" serve --runtime "$rt" --listen "127.0.0.1:$port" --threads 2 >"$work/drain-$rt.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    if ! wait_port "$port"; then
        fail "$rt: server did not start" "$work/drain-$rt.log"
        continue
    fi
    timeout 60 "$py" "$peer" shutdown 127.0.0.1 "$port" "$pid" "$rt" >"$work/drain-$rt.out" 2>&1 || true
    count "$work/drain-$rt.out" "$rt shutdown"
    for _ in $(seq 100); do gone "$pid" && break; sleep 0.1; done
    if gone "$pid"; then
        rc=0
        wait "$pid" || rc=$?
        if [ "$rc" -eq 0 ]; then pass "$rt: server exits 0 after the graceful shutdown"
        else fail "$rt: server exits 0 after the graceful shutdown (status $rc)" "$work/drain-$rt.log"; fi
    else
        fail "$rt: server exits within 10 s of SIGINT once the last response is out" "$work/drain-$rt.log"
    fi
done

# --- wirestate http --http2-prior-knowledge -> nghttpd
docroot="$work/htdocs"
mkdir -p "$docroot"
printf 'hello from nghttpd\n' >"$docroot/small.txt"
head -c 5000000 /dev/urandom >"$docroot/big.bin"
small_sum=$(sha256sum <"$docroot/small.txt")
big_sum=$(sha256sum <"$docroot/big.bin")
port=$(free_port)
nghttpd --no-tls -a 127.0.0.1 -d "$docroot" "$port" >"$work/nghttpd.log" 2>&1 &
pids+=($!)
if wait_port "$port"; then
    url="http://127.0.0.1:$port"
    for rt in tokio smol blocking; do
        c="$bin http --http2-prior-knowledge --runtime $rt"
        check "$rt -> nghttpd: GET small file (sha256)" bash -c "[ \"\$($c $url/small.txt | sha256sum)\" = \"$small_sum\" ]"
        check "$rt -> nghttpd: GET 5 MB file (sha256)" bash -c "[ \"\$($c $url/big.bin | sha256sum)\" = \"$big_sum\" ]"
        check "$rt -> nghttpd: -i shows HTTP/2.0 200" bash -c "$c -i $url/small.txt | head -1 | grep -q '^HTTP/2.0 200'"
        check "$rt -> nghttpd: 404" bash -c "$c -i $url/missing | head -1 | grep -q '^HTTP/2.0 404'"
    done
else
    fail "nghttpd did not start" "$work/nghttpd.log"
fi

echo "interop-h2: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
