# Sourced by the interop scripts that run a command line per check (the
# MCP ones: `wirestate mcp` against a peer's server), after tally.sh.
#
# expect LABEL EXPR: passes when the Python expression EXPR holds over
# the last command's outcome, which the script leaves in $work/out
# (stdout), $work/err (stderr) and $rc (exit status): EXPR sees j
# (stdout as JSON, None when it is not), out, err and rc. A failure shows
# the last lines of both.
expect() {
    local label=$1 expr=$2
    if python3 - "$work/out" "$work/err" "$rc" "$expr" <<'PY'; then
import json, sys
out = open(sys.argv[1]).read()
err = open(sys.argv[2]).read()
rc = int(sys.argv[3])
try:
    j = json.loads(out)
except ValueError:
    j = None
try:
    ok = bool(eval(sys.argv[4]))
except Exception:
    ok = False
sys.exit(0 if ok else 1)
PY
        pass "$label"
    else
        echo "FAIL $label (exit $rc)"
        tail -5 "$work/out" | sed 's/^/    out: /'
        tail -5 "$work/err" | sed 's/^/    err: /'
        failed=$((failed + 1))
    fi
}
