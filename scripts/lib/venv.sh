# Sourced by the interop scripts: the Python venvs their peers run in.

# python_venv DIR CHECK PACKAGE...: makes sure DIR is a venv in which the
# Python code CHECK exits 0 (typically: the pinned version is installed).
# Only when it does not is the venv made (installing Debian's python3-venv
# first if the interpreter lacks it) and the packages installed, so a
# second run does nothing.
# h2_venv: the venv with Python `h2` pinned for the raw HTTP/2 peers
# (scripts/h2_peer.py, scripts/grpc_spec_peer.py); sets `py` to its python.
H2_VERSION=4.4.1
h2_venv() {
    local venv="${WIRESTATE_CACHE:-$HOME/.cache/wirestate}/venv-h2"
    python_venv "$venv" "import h2, sys; sys.exit(h2.__version__ != '$H2_VERSION')" "h2==$H2_VERSION"
    py="$venv/bin/python"
}

python_venv() {
    local dir=$1 check=$2
    shift 2
    if "$dir/bin/python" -c "$check" 2>/dev/null; then
        return 0
    fi
    mkdir -p "$(dirname "$dir")"
    if ! python3 -m venv "$dir" >/dev/null 2>&1; then
        rm -rf "$dir"
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$dir"
    fi
    "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@"
}
