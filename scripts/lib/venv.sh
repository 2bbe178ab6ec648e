# Sourced by the interop scripts: the Python venvs their peers run in.

# python_venv DIR CHECK PACKAGE...: makes sure DIR is a venv in which the
# Python code CHECK exits 0 (typically: the pinned version is installed).
# Only when it does not is the venv made (installing Debian's python3-venv
# first if the interpreter lacks it) and the packages installed, so a
# second run does nothing.
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
