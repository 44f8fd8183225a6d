#!/usr/bin/env bash
# Build and run every libFuzzer harness (fuzz/fuzz_*.c) for a bounded time.
#
#   bash fuzz/run.sh                      30 s each (CI)
#   FUZZ_SECONDS=300 bash fuzz/run.sh     the longer run
#   FUZZERS="fuzz_frame fuzz_http" ...    only these
#   FUZZ_KEEP_GOING=1 ...                 fork mode: keep fuzzing after a finding
#                                         (-ignore_crashes/-ignore_timeouts), to
#                                         count them; the run still fails
#   FUZZ_TIMEOUT=10                       seconds one input may take (-timeout=)
#   FUZZ_OUT=dir                          build, logs and findings there (default
#                                         fuzz/out): two runs side by side
#
# Each fuzzer starts from its committed seeds (fuzz/corpus/NAME) and issue
# reproducers (fuzz/regressions/NAME), copied to a temporary directory so the
# repository is never modified.  Findings (crash, leak, timeout, UBSan
# report, a harness assertion) are copied to fuzz/out/artifacts/ and make the
# script exit nonzero.  A summary table ends the output.
set -uo pipefail
# all in a function, read whole before it runs: editing this file while it
# runs (a long FUZZ_SECONDS) cannot change what the running copy does
main() {
here=$(cd "$(dirname "$0")" && pwd)
out=${FUZZ_OUT:-$here/out}
export FUZZ_OUT=$out # build.sh builds there too
seconds=${FUZZ_SECONDS:-30}
timeout_s=${FUZZ_TIMEOUT:-10}

if ! command -v "${CC_FUZZ:-clang-14}" >/dev/null; then
	echo "run.sh: ${CC_FUZZ:-clang-14} not found (Debian: apt install clang-14 libclang-rt-14-dev libfuzzer-14-dev)" >&2
	exit 2
fi
if ! bash "$here/build.sh"; then
	echo "run.sh: the build failed (Debian needs clang-14, libclang-rt-14-dev and libfuzzer-14-dev;" \
	     "zlib1g-dev, libssl-dev)" >&2
	exit 2
fi

fuzzers=${FUZZERS:-$(cd "$out" && ls fuzz_* | grep -v '\.' | tr '\n' ' ')}
work=$(mktemp -d "${TMPDIR:-/tmp}/pylws-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$out/artifacts" "$out/logs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
rows=()
for f in $fuzzers; do
	corpus=$work/$f
	mkdir -p "$corpus"
	for src in "$here/corpus/$f" "$here/regressions/$f"; do
		[ -d "$src" ] && cp "$src"/* "$corpus"/ 2>/dev/null
	done
	log=$out/logs/$f.log
	rm -f "$out/artifacts/$f-"*
	extra=()
	case $f in
	fuzz_http | fuzz_client_answer | fuzz_conn_server | fuzz_conn_client)
		extra+=(-dict="$here/dict/http.dict") ;;
	fuzz_ext_negotiate) extra+=(-dict="$here/dict/extensions.dict") ;;
	esac
	if [ -n "${FUZZ_KEEP_GOING:-}" ]; then
		extra+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
	fi
	echo "== $f: ${seconds}s, corpus of $(ls "$corpus" | wc -l) inputs"
	"$out/$f" -max_total_time="$seconds" -timeout="$timeout_s" -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$out/artifacts/$f-" "${extra[@]}" \
		"$corpus" >"$log" 2>&1
	rc=$?
	# every finding leaves an input in artifacts/ (in fork mode the children
	# write them; their reports are not in this log)
	artifacts=$(ls "$out/artifacts/$f-"* 2>/dev/null)
	findings=$(printf '%s' "$artifacts" | grep -c . || true)
	if [ $rc -ne 0 ] || [ "$findings" -gt 0 ]; then
		status=1
		result=FAIL
		grep -E '^(==[0-9]+== ?ERROR|SUMMARY: |FUZZ ASSERTION FAILED)|^    #[0-9] ' "$log" | head -20
		for a in $artifacts; do echo "   artifact: $a"; done
	else
		result=ok
	fi
	# the last status line: "#N ... cov: C ft: F ... exec/s: E" (fork mode: "exec/s E")
	row=$(python3 - "$log" "$f" "$result" "$findings" <<'PY'
import re, sys
log, name, result, findings = sys.argv[1:]
text = open(log, errors="replace").read()
stat = dict(re.findall(r"^stat::(\w+):\s+(\d+)", text, re.M))
lines = [l for l in text.splitlines() if re.match(r"#\d+", l) and "cov:" in l]
cov = ft = eps = "-"
execs = stat.get("number_of_executed_units", "-")
if lines:
    last = lines[-1]
    m = re.search(r"cov: (\d+)", last); cov = m.group(1) if m else "-"
    m = re.search(r"ft: (\d+)", last); ft = m.group(1) if m else "-"
    m = re.search(r"exec/s:? (\d+)", last); eps = m.group(1) if m else "-"
    if execs == "-":
        execs = re.match(r"#(\d+)", last).group(1)
eps = stat.get("average_exec_per_sec", eps)
print(f"{name:<22} {result:<5} {execs:>12} {eps:>8} {cov:>6} {ft:>7} {findings:>8}")
PY
)
	rows+=("$row")
done

echo
printf '%-22s %-5s %12s %8s %6s %7s %8s\n' fuzzer result execs exec/s cov ft findings
for r in "${rows[@]}"; do echo "$r"; done
echo "(${seconds}s each; logs in $out/logs/, findings in $out/artifacts/)"
return $status
}
main "$@"
exit $?
