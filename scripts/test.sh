#!/usr/bin/env bash
# Builds crmlog and runs every test: the unit and command-line suites (ctest), then the
# same suites built with AddressSanitizer + UndefinedBehaviorSanitizer, then a short run of
# each fuzzer. The binary is left at build/crmlog.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/deps.sh"
crmlog_deps
# Browser tests (tests/web): Debian's chromium and node; npm comes with some node builds.
crmlog_deps chromium nodejs
command -v npm >/dev/null || crmlog_deps npm
(cd "$top/tests/web" && npm ci --no-audit --no-fund)
jobs=2

echo "== build and test (RelWithDebInfo)"
cmake -S "$top" -B "$top/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$top/build" -j$jobs
ctest --test-dir "$top/build" -j$jobs --output-on-failure

echo "== build and test with ASan + UBSan"
cmake -S "$top" -B "$top/build-asan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCRMLOG_SANITIZE=ON >/dev/null
ninja -C "$top/build-asan" -j$jobs
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$top/build-asan" -j$jobs --output-on-failure

echo "== fuzzers (short runs)"
CC=clang CXX=clang++ cmake -S "$top" -B "$top/build-fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCRMLOG_FUZZ=ON -DCRMLOG_SANITIZE=ON >/dev/null
fuzzers=$(cd "$top/fuzz" && ls fuzz_*.c | sed 's/\.c$//')
ninja -C "$top/build-fuzz" -j$jobs $fuzzers
for f in "$top"/build-fuzz/fuzz_*; do
  [ -x "$f" ] || continue
  corpus="$top/fuzz/corpus/$(basename "$f" | sed 's/^fuzz_//')"
  mkdir -p "$top/build-fuzz/corpus-$(basename "$f")"
  "$f" -max_total_time=${CRMLOG_FUZZ_SECONDS:-20} -print_final_stats=0 \
    "$top/build-fuzz/corpus-$(basename "$f")" $( [ -d "$corpus" ] && echo "$corpus" ) 2>&1 | tail -1
done
echo "all tests passed"
