#!/usr/bin/env bash
# Build the Python 3 port of the Autobahn|Testsuite fuzzing client from the
# package registry (PyPI): a venv with the pinned dependencies
# (requirements-lock.txt) and the two pristine sdists, patched with
# port-testsuite.diff and port-autobahn.diff (made with diff -ruN against
# autobahntestsuite==25.10.1 and autobahn==0.10.9).
#
#   bash tests/conformance/rebuild.sh TARGET_DIR
#
# TARGET_DIR (outside the repository; tests/autobahn.sh uses
# ${AUTOBAHN_DIR:-/tmp/pylws-autobahn}) gets venv/ (with venv/bin/wstest),
# src/ (the patched sources), run_fuzzingclient.sh and summarize.py.
# AUTOBAHN_PYTHON picks the interpreter (default python3.11, else python3).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[ $# -eq 1 ] || { echo "usage: $0 TARGET_DIR" >&2; exit 2; }
T="$(mkdir -p "$1" && cd "$1" && pwd)"
case "$T/" in
  "$(cd "$HERE/../.." && pwd)"/*) echo "$0: build outside the repository, not in $T" >&2; exit 2 ;;
esac
PY=${AUTOBAHN_PYTHON:-}
if [ -z "$PY" ]; then
  if command -v python3.11 >/dev/null; then PY=python3.11; else PY=python3; fi
fi
cd "$T"
if [ ! -x venv/bin/python ]; then
  "$PY" -m venv venv
  venv/bin/pip install -q -r "$HERE/requirements-lock.txt"
fi
mkdir -p dl
cd dl
[ -f autobahntestsuite-25.10.1.tar.gz ] || ../venv/bin/pip download -q --no-deps --no-binary :all: autobahntestsuite==25.10.1
[ -f autobahn-0.10.9.tar.gz ] || ../venv/bin/pip download -q --no-deps --no-binary :all: autobahn==0.10.9
rm -rf autobahntestsuite-25.10.1 autobahn-0.10.9
tar xzf autobahntestsuite-25.10.1.tar.gz
tar xzf autobahn-0.10.9.tar.gz
cd "$T"
rm -rf src
mkdir src
cp -r dl/autobahntestsuite-25.10.1/autobahntestsuite src/
cp -r dl/autobahn-0.10.9/autobahn src/
(cd src && patch -s -p1 < "$HERE/port-testsuite.diff")
(cd src && patch -s -p1 < "$HERE/port-autobahn.diff")
echo "$T/src" > "$(echo venv/lib/python3.*/site-packages)/autobahn_src.pth"
cat > venv/bin/wstest <<PY
#!$T/venv/bin/python
import sys
from autobahntestsuite.wstest import run
if __name__ == '__main__':
    sys.exit(run())
PY
chmod +x venv/bin/wstest
cp "$HERE/run_fuzzingclient.sh" "$HERE/summarize.py" "$T/"
venv/bin/wstest -a
