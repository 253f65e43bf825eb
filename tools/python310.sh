# Sourced by the other scripts: sets PY310 to a Python 3.10 interpreter (nnabla 1.39.0 needs <= 3.10).
find_python310() {
    local candidate
    for candidate in "${FANZOO_PYTHON:-}" python3.10 "$(command -v pyenv >/dev/null && pyenv root)"/versions/3.10*/bin/python3.10; do
        [ -n "$candidate" ] || continue
        if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
            PY310=$(command -v "$candidate" || echo "$candidate"); return 0
        fi
    done
    echo "error: Python 3.10 not found (nnabla 1.39.0 has no wheels for newer Pythons); set FANZOO_PYTHON" >&2
    return 1
}
