#!/usr/bin/env bash
# Builds crmlog and the benchmarks if needed, then runs the three benchmarks of the issue at
# full size, one after the other (never two at once: each wants the machine to itself).
# Usage: bench/run.sh [import|lookup|autolog]...   (default: all three)
# Exit status: 0 when every target was met, 3 when one was missed, 1 on an error.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${CRMLOG_BUILD:-$top/build}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$top" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
fi
ninja -C "$build" -j2 crmlog bench_import bench_lookup bench_autolog >/dev/null || exit 1

status=0
for b in "${@:-import lookup autolog}"; do
  for name in $b; do
    echo "== bench_$name"
    "$build/bench_$name"
    rc=$?
    if [ "$rc" -eq 3 ]; then
      [ "$status" -eq 0 ] && status=3
    elif [ "$rc" -ne 0 ]; then
      status=1
    fi
    echo
  done
done
exit "$status"
