#!/usr/bin/env bash
# The official MCP conformance suite (npm @modelcontextprotocol/conformance,
# installed by ../shared/tools/mcp-conformance/setup.sh) against
# `wirestate serve --conformance-fixtures`: every server scenario of the
# release (`--suite all`: the active and the pending ones) over Streamable
# HTTP at /mcp on 127.0.0.1, failures beyond tests/mcp/expected-failures.yml
# counted. Prints the harness's per-scenario lines, then
# `interop-mcpconf: N passed, M failed` (checks).
set -euo pipefail
cd "$(dirname "$0")/.."

harness="${MCP_CONFORMANCE_DIR:-$(cd .. && pwd)/shared/tools/mcp-conformance}"
if [ ! -x "$harness/conformance-server.sh" ]; then
    echo "no conformance harness at $harness (set MCP_CONFORMANCE_DIR)"
    echo "interop-mcpconf: 0 passed, 1 failed"
    exit 1
fi

cargo build --release --locked -q --bin wirestate
bin="${CARGO_TARGET_DIR:-target}/release/wirestate"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
rc=0
timeout 900 bash "$harness/conformance-server.sh" --suite all \
    --expected-failures tests/mcp/expected-failures.yml --out "$out/results" \
    --http-url 'http://127.0.0.1:{port}/mcp' \
    "$bin" serve --listen '127.0.0.1:{port}' --conformance-fixtures >"$out/summary" 2>&1 || rc=$?
cat "$out/summary"
line=$(grep -E '^mcp-conformance: [0-9]+ passed, [0-9]+ failed' "$out/summary" | tail -1 || true)
if [ -z "$line" ]; then
    echo "interop-mcpconf: 0 passed, 1 failed"
    exit 1
fi
passed=$(echo "$line" | awk '{print $2}')
failed=$(echo "$line" | awk '{print $4}')
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
fi
echo "interop-mcpconf: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
