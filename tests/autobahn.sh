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
# Both runs also go against the C echo server with --whole (the library
# gathers each message, lws_set_whole_messages, and it is echoed in one write):
# cases 1-10 after the others (about 15 s), the deflate cases beside the other
# two (they wait on the client more than they compute).  AUTOBAHN_WHOLE=0 skips
# those runs.
#
# Builds the suite with tests/conformance/rebuild.sh (from the package
# registry) outside the repository (AUTOBAHN_DIR, default /tmp/pylws-autobahn),
# then runs it against the C echo server (the ASan/UBSan build that pytest made in build-asan/) and the Python
# echo server (the installed pylws_ffi).  Fails when any case FAILED or any
# passing case had a bad closing handshake ("close issues"), or when a server
# did not exit cleanly afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CASES=${1:-1.*,2.*,3.*,4.*,5.*,6.*,7.*,8.*,9.*,10.*}
DEFLATE_CASES=${AUTOBAHN_DEFLATE_CASES-12.1.*,13.1.*,13.3.*,13.5.*}
WHOLE=${AUTOBAHN_WHOLE:-1}
if [ "$CASES" = deflate ]; then
  CASES=  # the permessage-deflate run only
  DEFLATE_CASES=${DEFLATE_CASES:-12.1.*,13.1.*,13.3.*,13.5.*}
elif [ $# -gt 0 ]; then
  DEFLATE_CASES=  # the cases asked for only
fi
# The suite's builder is in the repository (tests/conformance: the Python 3
# port's patches, the lock file, rebuild.sh); rebuild.sh fetches the pristine
# sources from the package registry and builds outside the repository.  A
# build made from other patches or pins is made anew.
SUITE_SRC=$ROOT/tests/conformance
AUTOBAHN_DIR=${AUTOBAHN_DIR:-/tmp/pylws-autobahn}
REPORTS=$ROOT/build-asan/autobahn
stamp=$(cat "$SUITE_SRC/rebuild.sh" "$SUITE_SRC/requirements-lock.txt" "$SUITE_SRC"/*.diff \
  "$SUITE_SRC/run_fuzzingclient.sh" "$SUITE_SRC/summarize.py" | sha256sum | cut -d' ' -f1)
if [ ! -x "$AUTOBAHN_DIR/venv/bin/wstest" ] || [ "$(cat "$AUTOBAHN_DIR/.pylws-stamp" 2>/dev/null)" != "$stamp" ]; then
  if [ -e "$AUTOBAHN_DIR" ]; then
    if [ -x "$AUTOBAHN_DIR/venv/bin/wstest" ] || [ -f "$AUTOBAHN_DIR/.pylws-stamp" ]; then
      rm -rf "$AUTOBAHN_DIR"  # an older build of ours
    elif [ -n "$(ls -A "$AUTOBAHN_DIR")" ]; then
      echo "AUTOBAHN_DIR=$AUTOBAHN_DIR is not empty and not a build of the suite" >&2
      exit 1
    fi
  fi
  echo "building the Autobahn suite in $AUTOBAHN_DIR (from tests/conformance)"
  mkdir -p "$REPORTS"
  if ! bash "$SUITE_SRC/rebuild.sh" "$AUTOBAHN_DIR" > "$REPORTS/build.log" 2>&1; then
    tail -20 "$REPORTS/build.log"
    echo "building the Autobahn suite failed (log: $REPORTS/build.log)" >&2
    exit 1
  fi
  echo "$stamp" > "$AUTOBAHN_DIR/.pylws-stamp"
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
  if [ "$WHOLE" = 1 ]; then
    echo "== Autobahn $CASES against the C echo server --whole (ASan/UBSan)"
    run_against pylws-c-whole "$ROOT/build-asan/echo_server" --whole || status=1
  fi
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
  w_rc=0
  if [ "$WHOLE" = 1 ]; then
    run_against pylws-c-whole-deflate "$ROOT/build-asan/echo_server" --whole \
      > "$REPORTS/pylws-c-whole-deflate.out" 2>&1 || w_rc=$?
  fi
  c_rc=0; wait "$c_pid" || c_rc=$?
  py_rc=0; wait "$py_pid" || py_rc=$?
  echo "== Autobahn $DEFLATE_CASES (permessage-deflate) against the C echo server (ASan/UBSan)"
  cat "$REPORTS/pylws-c-deflate.out"
  echo "== Autobahn $DEFLATE_CASES (permessage-deflate) against the Python echo server"
  cat "$REPORTS/pylws-python-deflate.out"
  if [ "$WHOLE" = 1 ]; then
    echo "== Autobahn $DEFLATE_CASES (permessage-deflate) against the C echo server --whole (ASan/UBSan)"
    cat "$REPORTS/pylws-c-whole-deflate.out"
  fi
  [ "$c_rc" -eq 0 ] && [ "$py_rc" -eq 0 ] && [ "$w_rc" -eq 0 ] || status=1
fi
exit $status
