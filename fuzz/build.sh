#!/usr/bin/env bash
# Build every libFuzzer harness (fuzz/fuzz_*.c) into fuzz/out/, against the
# core's sources (native/src) instrumented with ASan + UBSan + libFuzzer's
# coverage.  Needs clang-14 with its runtimes (Debian: clang-14,
# libclang-rt-14-dev, libfuzzer-14-dev) and zlib/OpenSSL headers.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=${FUZZ_OUT:-$here/out}
CC=${CC_FUZZ:-clang-14}
mkdir -p "$out/obj"

san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cflags="-std=c11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra $san
  -I$root/native/include -I$root/native/src -I$here"
libs="-lz -lssl -lcrypto -lpthread -lm"

# the core, once, as an archive: a harness that includes a .c file itself
# (fuzz_client_answer.c includes client.c) does not pull that member
objs=()
for src in "$root"/native/src/*.c; do
	obj="$out/obj/$(basename "${src%.c}").o"
	if [ ! -e "$obj" ] || [ "$src" -nt "$obj" ] || [ "$0" -nt "$obj" ] ||
	   [ -n "$(find "$root/native/src" "$root/native/include" -name '*.h' -newer "$obj")" ]; then
		# shellcheck disable=SC2086
		$CC $cflags -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
	fi
	objs+=("$obj")
done
rm -f "$out/libcore.a"
ar rcs "$out/libcore.a" "${objs[@]}"

for h in "$here"/fuzz_*.c; do
	name=$(basename "${h%.c}")
	# shellcheck disable=SC2086
	$CC $cflags -fsanitize=fuzzer "$h" "$out/libcore.a" $libs -o "$out/$name"
done
echo "built: $(cd "$out" && ls fuzz_* | tr '\n' ' ')"
