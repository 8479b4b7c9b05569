#!/usr/bin/env bash
# bench_http.sh [CALLS [RUNS [SECONDS]]]: the server under load, with wrk (Debian's package).
#
# A store with CALLS calls (default 1,000,000, imported as JSON Lines) and 10,000 contacts;
# `crmlog serve` on 127.0.0.1 with 2 threads and log level warn; wrk with 2 threads and 16
# keep-alive connections, RUNS runs (default 3) of SECONDS seconds (default 10) per route:
#   /healthz                         the trivial baseline, measured in the same run
#   GET  /api/v1/contacts?number=    contact lookup by number       target >= 30,000 req/s
#   GET  /api/v1/calls?limit=50      a call history page (50 calls) target >= 20,000 req/s
#                                    (the same first page, as the agent's page polls it: the
#                                    server keeps it while nothing of it changed)
#   GET  /api/v1/calls?limit=50&before=…  a different page each request: made every time
#   POST /api/v1/calls/{id}/log      manual log (local CRM)         target >= 10,000 req/s
#                                    (and, after each run, how long until the worker has
#                                    written every queued log: the end-to-end rate)
# each with p99 < 5 ms; and the server's memory (VmHWM) with CALLS calls stored: < 50 MB.
# Prints medians and each route's throughput as a fraction of /healthz's. The reference
# (RingCentral App Connect's connector server, Node.js + SQLite, 16 clients): GET /contact
# 322 req/s (p99 136 ms), POST /callLog 170 req/s (p99 160 ms), 245 MB.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${CRMLOG_BUILD:-$top/build}
calls=${1:-1000000}
runs=${2:-3}
secs=${3:-10}
command -v wrk >/dev/null || { apt-get install -y -qq wrk >/dev/null; }
[ -f "$build/build.ninja" ] || cmake -S "$top" -B "$build" -G Ninja >/dev/null
ninja -C "$build" -j2 crmlog >/dev/null
crmlog=$build/crmlog
dir=$(mktemp -d /tmp/crmlog-bench-http.XXXXXX)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
db=$dir/crmlog.db

echo "bench_http: preparing $calls calls and 10,000 contacts"
python3 - "$dir/calls.jsonl" "$calls" <<'PY'
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        num = "+1650%07d" % (i % 20000)     # half of the numbers belong to a contact
        f.write(json.dumps({"id": "r%d" % i, "sessionId": "s%d" % i,
            "startTime": "2026-%02d-%02dT%02d:%02d:%02d.000Z" % (1 + i % 10, 1 + i % 28, i % 24, i % 60, i % 60),
            "duration": i % 900, "type": "Voice", "direction": "Inbound" if i % 2 else "Outbound",
            "action": "Phone Call", "result": "Accepted",
            "from": {"phoneNumber": num if i % 2 else "+16505550000"},
            "to": {"phoneNumber": "+16505550000" if i % 2 else num}}) + "\n")
PY
"$crmlog" --db "$db" import "$dir/calls.jsonl" >/dev/null
rm -f "$dir/calls.jsonl"
token=$("$crmlog" --db "$db" users token agent --json | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')

"$crmlog" --db "$db" serve --listen 127.0.0.1:0 --threads 2 --log-level warn > "$dir/out" 2> "$dir/err" &
server=$!
for _ in $(seq 100); do grep -q serving "$dir/out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^crmlog serving on //p' "$dir/out")
[ -n "$url" ] || { echo "bench_http: the server did not start"; cat "$dir/err"; exit 1; }
# Contacts through the API, on one keep-alive connection.
python3 - "$url" "$token" <<'PY'
import http.client, json, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port)
for k in range(10000):
    body = json.dumps({"name": "Contact %d" % k, "phones": ["+1650%07d" % k]})
    c.request("POST", "/api/v1/contacts", body, {"Authorization": "Bearer " + sys.argv[2],
              "Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    if r.status != 201: sys.exit("adding a contact: %d" % r.status)
PY

# log.lua BASE: each request logs a different call; the two wrk threads take interleaved
# ids from BASE on, so every run has calls of its own.
write_lua() {
cat > "$dir/log.lua" <<LUA
local n = 0
local id0 = $1
setup = function(thread) id0 = id0 + 1; thread:set("first", id0) end
init = function() n = first end
request = function()
  local id = n
  n = n + 2
  return wrk.format("POST", "/api/v1/calls/" .. id .. "/log",
    {["Authorization"] = "Bearer $token", ["Content-Type"] = "application/json"},
    '{"fields":{"disposition":"connected"}}')
end
LUA
}

# pages.lua: each request a different page (a cursor at another time), so none is kept.
cat > "$dir/pages.lua" <<LUA
local n = 0
setup = function(thread) n = n + 1; thread:set("seed", n) end
init = function() n = seed * 7777 end
request = function()
  n = n + 1
  local ms = 1767225600000 + (n * 7919 % 25920000) * 1000   -- 2026-01-01 + up to 300 days
  return wrk.format("GET", "/api/v1/calls?limit=50&before=" .. ms .. ".9999999999",
    {["Authorization"] = "Bearer $token"})
end
LUA

# run NAME PATH [LUA]: one wrk run; prints "req_per_s p99_ms non2xx"
run() {
  local out
  if [ -n "${3:-}" ]; then
    out=$(wrk -t2 -c16 -d"${secs}s" --latency -s "$3" "$url$2")
  else
    out=$(wrk -t2 -c16 -d"${secs}s" --latency -H "Authorization: Bearer $token" "$url$2")
  fi
  local rps p99 bad
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub("us","",v); v=v/1000} else if (v ~ /ms$/) {sub("ms","",v)} else if (v ~ /s$/) {sub("s","",v); v=v*1000}; print v}' <<<"$out")
  bad=$(awk '/Non-2xx/ {print $4}' <<<"$out")
  echo "$rps $p99 ${bad:-0}"
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A target=([healthz]=0 [contacts]=30000 [history]=20000 [pages]=0 [log]=10000)
declare -A path=([healthz]=/healthz [contacts]="/api/v1/contacts?number=%2B16500000042"
  [history]="/api/v1/calls?limit=50" [pages]=/ [log]=/)
declare -A rps p99
# CRMLOG_BENCH_ROUTES picks some of them (healthz, the baseline, is always measured).
names="healthz ${CRMLOG_BENCH_ROUTES:-contacts history pages log}"
names=${names/healthz healthz/healthz}
for name in $names; do
  : > "$dir/$name.rps"; : > "$dir/$name.p99"
done
for ((r = 1; r <= runs; r++)); do
  for name in $names; do
    lua=""
    if [ "$name" = log ]; then lua=$dir/log.lua; write_lua $(( (r - 1) * calls / runs )); fi
    if [ "$name" = pages ]; then lua=$dir/pages.lua; fi
    read -r a b c < <(run "$name" "${path[$name]}" "$lua")
    echo "  run $r $name: $a req/s, p99 $b ms, non-2xx $c"
    echo "$a" >> "$dir/$name.rps"; echo "$b" >> "$dir/$name.p99"
    if [ "$name" = log ]; then
      # A 202 is a queued log: the worker writes it to the CRM after. End to end is the
      # requests of the run over the time until the last of them is written.
      drain=$(python3 - "$db" <<'PY'
import sqlite3, sys, time
t0 = time.time()
c = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True, timeout=30)
while c.execute("SELECT count(*) FROM calls WHERE request IS NOT NULL").fetchone()[0]:
    time.sleep(0.05)
print("%.2f" % (time.time() - t0))
PY
)
      e2e=$(awk -v r="$a" -v s="$secs" -v d="$drain" 'BEGIN {printf "%.0f", r * s / (s + d)}')
      echo "  run $r log end to end: the queue was empty $drain s after the run: $e2e logs/s"
      echo "$e2e" >> "$dir/e2e.rps"
    fi
  done
done
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$server/status")
rss=$(awk '/VmRSS/ {print $2}' "/proc/$server/status")
status=0
base=$(median < "$dir/healthz.rps")
for name in $names; do
  m=$(median < "$dir/$name.rps"); p=$(median < "$dir/$name.p99")
  verdict=""
  if [ "${target[$name]}" != 0 ]; then
    if awk -v m="$m" -v t="${target[$name]}" -v p="$p" 'BEGIN {exit !(m >= t && p < 5)}'; then
      verdict="target >= ${target[$name]} req/s, p99 < 5 ms: PASS"
    else
      verdict="target >= ${target[$name]} req/s, p99 < 5 ms: MISS"; status=3
    fi
  fi
  printf 'http %-9s median %9.0f req/s  p99 %6.2f ms  %5.1f%% of /healthz  %s\n' "$name" "$m" "$p" \
    "$(awk -v m="$m" -v b="$base" 'BEGIN {print 100*m/b}')" "$verdict"
done
printf 'http log end to end (202 to written in the CRM) median %.0f logs/s\n' "$(median < "$dir/e2e.rps")"
mb=$(awk -v k="$hwm" 'BEGIN {printf "%.1f", k/1024}')
if awk -v k="$hwm" 'BEGIN {exit !(k/1024 < 50)}'; then v=PASS; else v=MISS; status=3; fi
echo "http server memory: peak $mb MB (now $(awk -v k="$rss" 'BEGIN {printf "%.1f", k/1024}') MB) with $calls calls stored, target < 50 MB: $v"
exit $status
