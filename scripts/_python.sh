# Shared by scripts/run and scripts/test: find Python 3.12+ and keep .venv installed.
# Source it from the repository root; it defines functions and changes nothing by itself.

PORTAL_MIN_PYTHON="3.12"

# Print the path of the first interpreter that runs and is at least PORTAL_MIN_PYTHON.
python_find() {
    local candidates=(python3.13 python3.12)
    if command -v pyenv >/dev/null 2>&1; then
        # `pyenv which` honours .python-version, which names 3.12 for this project.
        local pyenv_python
        if pyenv_python="$(pyenv which python 2>/dev/null)"; then
            candidates+=("$pyenv_python")
        fi
        # Installed but not selected versions, newest first.
        local version_dir
        while IFS= read -r version_dir; do
            candidates+=("${version_dir}/bin/python3")
        done < <(ls -d "$(pyenv root)"/versions/3.* 2>/dev/null | sort -rV)
    fi
    candidates+=(python3)

    local candidate path
    for candidate in "${candidates[@]}"; do
        path="$(command -v "$candidate" 2>/dev/null)" || continue
        # A pyenv shim exists even where the selected version lacks that command, so run it.
        if "$path" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' \
            >/dev/null 2>&1; then
            "$path" -c 'import sys; print(sys.executable)'
            return 0
        fi
    done
    return 1
}

# Create .venv when missing and install the project into it with the given extras
# ("" or "[dev]"). Skip pip when pyproject.toml and the extras match the last install.
venv_ensure() {
    local extras="$1"
    if [[ -x .venv/bin/python ]] && ! .venv/bin/python -c \
        'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
        echo "error: .venv uses a Python older than ${PORTAL_MIN_PYTHON}; remove .venv and rerun." >&2
        return 1
    fi
    if [[ ! -x .venv/bin/python ]]; then
        local python
        if ! python="$(python_find)"; then
            echo "error: Python ${PORTAL_MIN_PYTHON} or newer was not found" \
                "(tried python3.13, python3.12, pyenv and python3)." >&2
            echo "Install Python ${PORTAL_MIN_PYTHON}+ (for example 'pyenv install 3.12'" \
                "or Debian/Ubuntu's python3.12 and python3.12-venv) and rerun." >&2
            return 1
        fi
        echo "Creating .venv with ${python}"
        "$python" -m venv .venv
    fi

    # The stamp records what the last install covered: the pyproject.toml hash and the extras.
    local stamp=".venv/.portal-install-stamp"
    local wanted
    wanted="$(.venv/bin/python -c \
        'import hashlib, sys; print(hashlib.sha256(open("pyproject.toml", "rb").read()).hexdigest(), sys.argv[1])' \
        "${extras:-none}")"
    if [[ -f "$stamp" ]] && grep -qxF "$wanted" "$stamp"; then
        return 0
    fi
    echo "Installing ML Portal${extras} into .venv (this takes a few minutes the first time)"
    .venv/bin/python -m pip install --quiet -e ".${extras}"
    # A dev install also covers a plain one, so record both.
    {
        echo "$wanted"
        if [[ "$extras" == "[dev]" ]]; then
            echo "${wanted% *} none"
        fi
    } >"$stamp"
}
