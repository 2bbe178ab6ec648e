#!/usr/bin/env bash
# The pre-release MCP conformance suite (npm @modelcontextprotocol/conformance
# 0.2.0-alpha.12, installed by ../shared/tools/mcp-conformance with
# MCP_CONFORMANCE_VERSION) against `wirestate serve --conformance-fixtures`:
# every server scenario of the stateless 2026-07-28 revision (`--suite all
# --spec-version 2026-07-28`) over Streamable HTTP at /mcp on 127.0.0.1,
# failures beyond tests/mcp/expected-failures-2026.yml counted. Prints the
# harness's per-scenario lines, then
# `interop-mcpconf2026: N passed, M failed` (checks).
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
rc=0
MCP_CONFORMANCE_VERSION="$version" timeout 900 bash "$harness/conformance-server.sh" \
    --suite all --spec-version 2026-07-28 \
    --expected-failures tests/mcp/expected-failures-2026.yml --out "$out/results" \
    --http-url 'http://127.0.0.1:{port}/mcp' \
    "$bin" serve --listen '127.0.0.1:{port}' --conformance-fixtures >"$out/summary" 2>&1 || rc=$?
cat "$out/summary"
line=$(grep -E '^mcp-conformance: [0-9]+ passed, [0-9]+ failed' "$out/summary" | tail -1 || true)
if [ -z "$line" ]; then
    echo "interop-mcpconf2026: 0 passed, 1 failed"
    exit 1
fi
passed=$(echo "$line" | awk '{print $2}')
failed=$(echo "$line" | awk '{print $4}')
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
fi
echo "interop-mcpconf2026: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
