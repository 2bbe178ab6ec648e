#!/usr/bin/env bash
# The official MCP conformance suite (npm @modelcontextprotocol/conformance,
# installed by ../shared/tools/mcp-conformance/setup.sh) against
# `wirestate serve --conformance-fixtures` on tokio and on blocking
# (MCP_CONFORMANCE_RUNTIMES to choose): every server scenario of the
# release (`--suite all`: the active and the pending ones) over Streamable
# HTTP at /mcp on 127.0.0.1, failures beyond tests/mcp/expected-failures.yml
# counted. Prints the harness's per-scenario lines and each runtime's
# count, then `interop-mcpconf: N passed, M failed` (checks, summed).
# scripts/mcp-conformance-2026.sh runs it for another revision through
# MCPCONF_LABEL, MCPCONF_EXPECTED and MCPCONF_SPEC_VERSION.
set -euo pipefail
cd "$(dirname "$0")/.."

label="${MCPCONF_LABEL:-interop-mcpconf}"
expected="${MCPCONF_EXPECTED:-tests/mcp/expected-failures.yml}"
spec=()
if [ -n "${MCPCONF_SPEC_VERSION:-}" ]; then spec=(--spec-version "$MCPCONF_SPEC_VERSION"); fi

harness="${MCP_CONFORMANCE_DIR:-$(cd .. && pwd)/shared/tools/mcp-conformance}"
if [ ! -x "$harness/conformance-server.sh" ]; then
    echo "no conformance harness at $harness (set MCP_CONFORMANCE_DIR)"
    echo "$label: 0 passed, 1 failed"
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
    timeout 900 bash "$harness/conformance-server.sh" \
        --suite all "${spec[@]}" \
        --expected-failures "$expected" --out "$out/results-$runtime" \
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
echo "$label: $total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
