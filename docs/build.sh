#!/usr/bin/env bash
# Build the documentation site into docs/_build/html, warnings as errors.
#
#   bash docs/build.sh
#
# Python: $PYTHON if set, else the active venv ($VIRTUAL_ENV), else the
# checkout's .venv (made here if missing).  The package is (re)installed into
# it with the `docs` extra, since autodoc imports the installed, compiled
# package.  Nothing is written outside the checkout except into that venv
# (and pip's own temporary build directory).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

if [[ -n "${PYTHON:-}" ]]; then
    py=$PYTHON
elif [[ -n "${VIRTUAL_ENV:-}" ]]; then
    py=$VIRTUAL_ENV/bin/python
else
    if [[ ! -x .venv/bin/python ]]; then
        python3 -m venv .venv
    fi
    py=$root/.venv/bin/python
fi

echo "docs/build.sh: installing pylws_ffi[docs] with $py"
"$py" -m pip install -q --disable-pip-version-check ".[docs]"

rm -rf docs/_build/html
# (docs/conf.py takes the checkout off sys.path: the installed package is documented)
"$py" -m sphinx -W --keep-going -b html docs docs/_build/html
echo "docs/build.sh: built $root/docs/_build/html/index.html"
