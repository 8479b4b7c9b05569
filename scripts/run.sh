#!/usr/bin/env bash
# Builds crmlog, creates a store with demo contacts and calls if there is none, and shows
# the call history. The store is $CRMLOG_DB, else ./crmlog.db.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/deps.sh"
crmlog_deps
cmake -S "$top" -B "$top/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$top/build" -j2 crmlog >/dev/null
db=${CRMLOG_DB:-$PWD/crmlog.db}
if [ ! -e "$db" ]; then
  "$top/build/crmlog" --db "$db" demo
fi
echo "store: $db"
"$top/build/crmlog" --db "$db" calls
echo
echo "next: $top/build/crmlog --db $db --help"
