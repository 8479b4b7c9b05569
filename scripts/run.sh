#!/usr/bin/env bash
# Builds crmlog and runs the server on the embedded store ($CRMLOG_DB, else ./crmlog.db),
# with demo contacts and calls on a new store. Prints the address to open and an API token
# to sign in with (a new one each run; the previous one stops working).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/deps.sh"
crmlog_deps
cmake -S "$top" -B "$top/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$top/build" -j2 crmlog >/dev/null
crmlog="$top/build/crmlog"
db=${CRMLOG_DB:-$PWD/crmlog.db}
listen=${CRMLOG_LISTEN:-127.0.0.1:8080}
if [ ! -e "$db" ]; then
  "$crmlog" --db "$db" demo
fi
token=$("$crmlog" --db "$db" users token agent --json | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
events=$("$crmlog" --db "$db" events token)
cat <<INFO
store:         $db
open:          http://$listen/   (the agent's page; the API is under /api/v1, docs/api.md)
sign in with:  $token   (user "agent")
events token:  $events   (for telephone systems: POST /api/v1/events, /api/v1/cti/{token})
more users:    $crmlog --db $db users add NAME --extension N
INFO
exec "$crmlog" --db "$db" serve --listen "$listen"
