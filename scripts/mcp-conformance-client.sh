#!/usr/bin/env bash
# The official MCP conformance suite (npm @modelcontextprotocol/conformance,
# installed by ../shared/tools/mcp-conformance/setup.sh) against our MCP
# client: the suite starts a test server per scenario on localhost and runs
# the example `mcp_conformance_client URL` (McpClient on tokio) with
# MCP_CONFORMANCE_SCENARIO set. Every non-auth client scenario of the
# pinned release; failures beyond the `client:` list of
# tests/mcp/expected-failures.yml are counted. Prints the harness's
# per-scenario lines, then `interop-mcpconfclient: N passed, M failed`
# (checks).
set -euo pipefail
cd "$(dirname "$0")/.."

harness="${MCP_CONFORMANCE_DIR:-$(cd .. && pwd)/shared/tools/mcp-conformance}"
if [ ! -x "$harness/conformance-client.sh" ]; then
    echo "no conformance harness at $harness (set MCP_CONFORMANCE_DIR)"
    echo "interop-mcpconfclient: 0 passed, 1 failed"
    exit 1
fi

cargo build --release --locked -q -p wirestate-examples --example mcp_conformance_client
bin="${CARGO_TARGET_DIR:-target}/release/examples/mcp_conformance_client"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
rc=0
timeout 900 bash "$harness/conformance-client.sh" \
    --expected-failures tests/mcp/expected-failures.yml --out "$out/results" \
    "$bin" >"$out/summary" 2>&1 || rc=$?
cat "$out/summary"
line=$(grep -E '^mcp-conformance: [0-9]+ passed, [0-9]+ failed' "$out/summary" | tail -1 || true)
if [ -z "$line" ]; then
    echo "interop-mcpconfclient: 0 passed, 1 failed"
    exit 1
fi
passed=$(echo "$line" | awk '{print $2}')
failed=$(echo "$line" | awk '{print $4}')
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    failed=1
fi
echo "interop-mcpconfclient: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
