#!/usr/bin/env bash
# Autobahn|Testsuite conformance of the echo examples.
#
#   bash tests/autobahn.sh [CASES]        default CASES: 1.* through 10.*
#   bash tests/autobahn.sh deflate        only the permessage-deflate run
#
# Without CASES a second, smaller run follows: the permessage-deflate cases
# AUTOBAHN_DEFLATE_CASES (default "12.1.*,13.1.*,13.3.*,13.5.*": every message
# size with the default offer, with client_max_window_bits, and with both
# no_context_takeover) against both echo servers at once (about 1.5 minutes),
# which offer the built-in extensions unless --no-extensions.  Set
# AUTOBAHN_DEFLATE_CASES= (empty) to skip it.
#
# Builds the suite from ../shared/conformance/autobahn outside the repository
# (AUTOBAHN_DIR, default /tmp/pylws-autobahn), then runs it against the C echo
# server (the ASan/UBSan build that pytest made in build-asan/) and the Python
# echo server (the installed pylws_ffi).  Fails when any case FAILED or any
# passing case had a bad closing handshake ("close issues"), or when a server
# did not exit cleanly afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CASES=${1:-1.*,2.*,3.*,4.*,5.*,6.*,7.*,8.*,9.*,10.*}
DEFLATE_CASES=${AUTOBAHN_DEFLATE_CASES-12.1.*,13.1.*,13.3.*,13.5.*}
if [ "$CASES" = deflate ]; then
  CASES=  # the permessage-deflate run only
  DEFLATE_CASES=${DEFLATE_CASES:-12.1.*,13.1.*,13.3.*,13.5.*}
elif [ $# -gt 0 ]; then
  DEFLATE_CASES=  # the cases asked for only
fi
# shared/ sits beside the checkout (CI), or beside the repository this one was
# cloned from (a local `git clone . /tmp/x`)
find_suite() {
  local origin
  origin=$(git -C "$ROOT" config --get remote.origin.url 2>/dev/null || true)
  for base in "$ROOT/.." "${origin:+$origin/..}"; do
    if [ -n "$base" ] && [ -f "$base/shared/conformance/autobahn/rebuild.sh" ]; then
      (cd "$base/shared/conformance/autobahn" && pwd)
      return
    fi
  done
  echo "cannot find shared/conformance/autobahn beside $ROOT" >&2
  return 1
}
SUITE_SRC=$(find_suite)
AUTOBAHN_DIR=${AUTOBAHN_DIR:-/tmp/pylws-autobahn}
REPORTS=$ROOT/build-asan/autobahn

if [ ! -x "$AUTOBAHN_DIR/venv/bin/wstest" ]; then
  echo "building the Autobahn suite in $AUTOBAHN_DIR"
  bash "$SUITE_SRC/rebuild.sh" "$AUTOBAHN_DIR" > /tmp/pylws-autobahn-build.log 2>&1 ||
    { tail -20 /tmp/pylws-autobahn-build.log; exit 1; }
fi

# the sanitizer build of the C echo server (the same one pytest uses)
python - <<'PY'
import sys
sys.path.insert(0, "tests")
from servers import asan_build
asan_build()
PY

free_port() {
  python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

run_against() {  # NAME COMMAND...   (runs the cases in RUN_CASES)
  local name=$1; shift
  local port; port=$(free_port)
  local log="$REPORTS/$name-server.log"
  mkdir -p "$REPORTS"
  ASAN_OPTIONS=detect_leaks=1 "$@" --port "$port" > "$log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do
    python -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null && break
    sleep 0.1
  done
  local rc=0
  "$AUTOBAHN_DIR/run_fuzzingclient.sh" -u "ws://127.0.0.1:$port" -a "$name" -c "$RUN_CASES" \
      -o "$REPORTS/$name" -t 1200 > "$REPORTS/$name.txt" 2>&1 || rc=$?
  "$AUTOBAHN_DIR/venv/bin/python" "$AUTOBAHN_DIR/summarize.py" "$REPORTS/$name/index.json" \
      --agent "$name" --strict-close | tail -12 || rc=1
  kill -TERM "$pid" 2>/dev/null || true
  local src=0
  wait "$pid" || src=$?
  if [ "$src" -ne 0 ] || grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$log"; then
    echo "$name: server exited with $src or the sanitizers reported:"; tail -40 "$log"; rc=1
  fi
  return $rc
}

status=0
if [ -n "$CASES" ]; then
  RUN_CASES=$CASES
  echo "== Autobahn $CASES against the C echo server (ASan/UBSan)"
  run_against pylws-c "$ROOT/build-asan/echo_server" || status=1
  echo "== Autobahn $CASES against the Python echo server"
  run_against pylws-python python "$ROOT/examples/echo_server.py" || status=1
fi
if [ -n "$DEFLATE_CASES" ]; then
  # both servers at once: these cases spend most of their time in the fuzzing
  # client, so two runs side by side take little longer than one
  RUN_CASES=$DEFLATE_CASES
  mkdir -p "$REPORTS"
  run_against pylws-c-deflate "$ROOT/build-asan/echo_server" \
    > "$REPORTS/pylws-c-deflate.out" 2>&1 & c_pid=$!
  run_against pylws-python-deflate python "$ROOT/examples/echo_server.py" \
    > "$REPORTS/pylws-python-deflate.out" 2>&1 & py_pid=$!
  c_rc=0; wait "$c_pid" || c_rc=$?
  py_rc=0; wait "$py_pid" || py_rc=$?
  echo "== Autobahn $DEFLATE_CASES (permessage-deflate) against the C echo server (ASan/UBSan)"
  cat "$REPORTS/pylws-c-deflate.out"
  echo "== Autobahn $DEFLATE_CASES (permessage-deflate) against the Python echo server"
  cat "$REPORTS/pylws-python-deflate.out"
  [ "$c_rc" -eq 0 ] && [ "$py_rc" -eq 0 ] || status=1
fi
exit $status
