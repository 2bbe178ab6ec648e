#!/usr/bin/env bash
# The pre-release MCP conformance suite (npm @modelcontextprotocol/conformance
# 0.2.0-alpha.12, installed by ../shared/tools/mcp-conformance with
# MCP_CONFORMANCE_VERSION) against `wirestate serve --conformance-fixtures`
# on tokio and on blocking (MCP_CONFORMANCE_RUNTIMES to choose): every
# server scenario of the stateless 2026-07-28 revision (`--suite all
# --spec-version 2026-07-28`) over Streamable HTTP at /mcp on 127.0.0.1,
# failures beyond tests/mcp/expected-failures-2026.yml counted. Prints the
# harness's per-scenario lines and each runtime's count, then
# `interop-mcpconf2026: N passed, M failed` (checks, summed).
set -euo pipefail
cd "$(dirname "$0")/.."

version="${MCP_CONFORMANCE_2026_VERSION:-0.2.0-alpha.12}"
harness="${MCP_CONFORMANCE_DIR:-$(cd .. && pwd)/shared/tools/mcp-conformance}"
if [ ! -x "$harness/conformance-server.sh" ]; then
    echo "no conformance harness at $harness (set MCP_CONFORMANCE_DIR)"
    echo "interop-mcpconf2026: 0 passed, 1 failed"
    exit 1
fi

cargo build --release --locked -q --bin wirestate
bin="${CARGO_TARGET_DIR:-target}/release/wirestate"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Each runtime's server in turn (`wirestate serve --runtime R`): the same
# fixtures, from one definition (examples/src/mcp/builder.rs).
total_passed=0
total_failed=0
for runtime in ${MCP_CONFORMANCE_RUNTIMES:-tokio blocking}; do
    rc=0
    echo "== wirestate serve --runtime $runtime"
    MCP_CONFORMANCE_VERSION="$version" timeout 900 bash "$harness/conformance-server.sh" \
        --suite all --spec-version 2026-07-28 \
        --expected-failures tests/mcp/expected-failures-2026.yml --out "$out/results-$runtime" \
        --http-url 'http://127.0.0.1:{port}/mcp' \
        "$bin" serve --listen '127.0.0.1:{port}' --runtime "$runtime" --conformance-fixtures \
        >"$out/summary-$runtime" 2>&1 || rc=$?
    cat "$out/summary-$runtime"
    line=$(grep -E '^mcp-conformance: [0-9]+ passed, [0-9]+ failed' "$out/summary-$runtime" | tail -1 || true)
    if [ -z "$line" ]; then
        echo "[$runtime] no summary line"
        total_failed=$((total_failed + 1))
        continue
    fi
    passed=$(echo "$line" | awk '{print $2}')
    failed=$(echo "$line" | awk '{print $4}')
    if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
        failed=1
    fi
    echo "[$runtime] $passed passed, $failed failed"
    total_passed=$((total_passed + passed))
    total_failed=$((total_failed + failed))
done
echo "interop-mcpconf2026: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
