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
# The same run as the stable suite's (scripts/mcp-conformance.sh), with
# the pre-release harness, the revision and its expected failures.
MCP_CONFORMANCE_VERSION="${MCP_CONFORMANCE_2026_VERSION:-0.2.0-alpha.12}" \
    MCPCONF_LABEL=interop-mcpconf2026 \
    MCPCONF_EXPECTED=tests/mcp/expected-failures-2026.yml \
    MCPCONF_SPEC_VERSION=2026-07-28 \
    exec bash scripts/mcp-conformance.sh
