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

# the core's sources as meson builds them (core_sources in meson.build), not
# every native/src/*.c: a file there that the library does not build (or
# builds only with an optional dependency) must not break the fuzzers
mapfile -t srcs < <(sed -n '/^core_sources *= *files(/,/^)/p' "$root/meson.build" |
	grep -o "native/src/[A-Za-z0-9_]*\.c")
if [ ${#srcs[@]} -eq 0 ]; then
	echo "build.sh: no core_sources found in meson.build" >&2
	exit 1
fi
# a source with a dependency of its own: its library too (hiredis for redis.c)
for src in "${srcs[@]}"; do
	case $src in
	*/redis.c)
		cflags="$cflags $(pkg-config --cflags hiredis 2>/dev/null || true)"
		libs="$libs $(pkg-config --libs hiredis 2>/dev/null || echo -lhiredis)" ;;
	esac
done

# the core, once, as an archive: a harness that includes a .c file itself
# (fuzz_client_answer.c includes client.c) does not pull that member
objs=()
for rel in "${srcs[@]}"; do
	src=$root/$rel
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
	# a harness's own link flags: a line "FUZZ_LDFLAGS: ..." in it or a header
	# it includes from fuzz/ (connfuzz.h wraps lws_conn_close)
	ldflags=$(cat "$h" $(sed -n 's/^#include "\(.*\.h\)"$/\1/p' "$h" |
		while read -r inc; do [ -e "$here/$inc" ] && echo "$here/$inc"; done) |
		sed -n 's/.*FUZZ_LDFLAGS: *//p' | sort -u | tr '\n' ' ')
	# shellcheck disable=SC2086
	$CC $cflags -fsanitize=fuzzer "$h" "$out/libcore.a" $libs $ldflags -o "$out/$name"
done
echo "built: $(cd "$out" && ls fuzz_* | tr '\n' ' ')"
