#!/usr/bin/env bash
# The official MCP conformance suite (npm @modelcontextprotocol/conformance,
# installed by ../shared/tools/mcp-conformance/setup.sh) against our MCP
# client: the suite starts a test server per scenario on localhost and runs
# the example `mcp_conformance_client URL` (McpClient on tokio with the
# default era detection: server/discover, then initialize with a server of
# the initialize era) with MCP_CONFORMANCE_SCENARIO set. Two runs:
#   - every non-auth client scenario of the pinned release (initialize,
#     tools_call, elicitation-sep1034-client-defaults, sse-retry);
#   - the 2026-07-28 client scenarios of the pre-release
#     $MCP_CONFORMANCE_PRERELEASE (default 0.2.0-alpha.12, installed under
#     the harness's cache on first use; `--spec-version 2026-07-28`).
# Failures beyond the `client:` list of tests/mcp/expected-failures.yml are
# counted. Prints the harness's per-scenario lines, then
# `interop-mcpconfclient: N passed, M failed` (checks of both runs).
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
prerelease="${MCP_CONFORMANCE_PRERELEASE:-0.2.0-alpha.12}"
passed=0
failed=0
# run LABEL [ENV=VALUE...] -- HARNESS_ARGS...: one harness run, counted.
run() {
    local label=$1 rc=0 line p f
    shift
    local envs=()
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    env "${envs[@]}" timeout 900 bash "$harness/conformance-client.sh" \
        --expected-failures tests/mcp/expected-failures.yml --out "$out/$label" \
        "$@" "$bin" >"$out/$label.summary" 2>&1 || rc=$?
    echo "--- $label"
    cat "$out/$label.summary"
    line=$(grep -E '^mcp-conformance: [0-9]+ passed, [0-9]+ failed' "$out/$label.summary" | tail -1 || true)
    if [ -z "$line" ]; then
        failed=$((failed + 1))
        return
    fi
    p=$(echo "$line" | awk '{print $2}')
    f=$(echo "$line" | awk '{print $4}')
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
}
run stable MCP_CONFORMANCE_VERSION= --
run "$prerelease-2026-07-28" "MCP_CONFORMANCE_VERSION=$prerelease" -- --spec-version 2026-07-28
echo "interop-mcpconfclient: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
