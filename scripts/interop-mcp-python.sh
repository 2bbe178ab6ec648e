#!/usr/bin/env bash
# MCP interop with the official Python SDK (PyPI `mcp`, pinned below) as an
# independent client: its stdio client spawns
# examples/examples/mcp_stdio_server.rs, initializes (2025-11-25), pings,
# lists tools (input and output schemas), calls echo (structured content,
# progress) and add (text; an isError result for bad arguments; -32602
# for an unknown tool), lists and reads the resource (-32002 for an
# unknown one), lists and gets the prompt, sets the log level and receives
# log notifications (scripts/interop_mcp.py). One PASS/FAIL line per
# check, then `interop-mcp: N passed, N failed`.
set -euo pipefail
cd "$(dirname "$0")/.."

MCP_VERSION=2.3.0
cache="${WIRESTATE_CACHE:-$HOME/.cache/wirestate}"
venv="$cache/venv-mcp"
py="$venv/bin/python"

# --- the peer: a venv with the pinned SDK (installed only when missing)
if ! "$py" -c "import importlib.metadata as m, sys; sys.exit(m.version('mcp') != '$MCP_VERSION')" 2>/dev/null; then
    mkdir -p "$cache"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        rm -rf "$venv"
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$venv"
    fi
    "$py" -m pip install -q --disable-pip-version-check "mcp==$MCP_VERSION"
fi

cargo build --release --locked -q -p wirestate-examples --example mcp_stdio_server
bin="${CARGO_TARGET_DIR:-target}/release/examples/mcp_stdio_server"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rc=0
timeout 120 "$py" scripts/interop_mcp.py "$bin" >"$work/client.out" 2>"$work/client.err" || rc=$?
cat "$work/client.out"
passed=$(grep -c '^PASS ' "$work/client.out" || true)
failed=$(grep -c '^FAIL ' "$work/client.out" || true)
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
    # The client died (or timed out) without reporting a failed check.
    failed=$((failed + 1))
    echo "FAIL python client exited with status $rc"
fi
if [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ]; then
    echo "--- client and server stderr:"
    tail -40 "$work/client.err" | sed 's/^/    /'
fi

echo "interop-mcp: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
