"""Log once under concurrency: 20 simultaneous POST …/log for one call give one 202 and 19
409s and one activity; manual logs (HTTP and CLI) racing the auto-logger on a batch of calls
log every call exactly once."""
import collections
import http.client
import json
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import REQ_TIMEOUT, main, rc_record  # noqa: E402


def race(srv, n, make_request):
    """n threads, each with its own open connection, send at the same moment; returns the
    (status, body) of each."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def worker(i):
        c = http.client.HTTPConnection(srv.host, srv.port, timeout=REQ_TIMEOUT)
        try:
            c.connect()
            method, path, headers, body = make_request(i)
            barrier.wait(timeout=30)
            c.request(method, path, body=body, headers=headers)
            r = c.getresponse()
            results[i] = (r.status, r.read().decode("utf-8", "replace"))
        except Exception as e:  # reported by the caller
            results[i] = ("error", repr(e))
        finally:
            c.close()

    ths = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(60)
    return results


def activities_per_session(t, srv, tok):
    acts = srv.req("GET", "/api/v1/activities", token=tok)[2]["activities"]
    return collections.Counter(a["session_id"] for a in acts)


def run(t):
    t.seed()
    tok = t.token
    srv = t.start("--threads", 4)
    recs = [rc_record(i, "race-%d" % i, "+16505550101", minutes_ago=100 - i) for i in range(1)]
    t.expect(srv.req("POST", "/api/v1/import", token=tok, json_body={"records": recs}), 200,
             "import the call to race on")
    hdr = {"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
    body = json.dumps({"note": "race note"}).encode()
    res = race(srv, 20, lambda i: ("POST", "/api/v1/calls/race-0/log", hdr, body))
    errors = [r for r in res if r[0] == "error"]
    t.check(not errors, "all 20 racing requests were answered", got=errors)
    codes = collections.Counter(r[0] for r in res)
    t.eq(dict(codes), {202: 1, 409: 19}, "20 racing POST …/log: one 202, nineteen 409")
    for st, b in res:
        if st == 409:
            e = json.loads(b).get("error", {})
            if e.get("code") not in ("queued", "busy", "already_logged"):
                t.fail("a racing 409 says %r" % e.get("code"), got=b)
    t.ok("each 409 says queued, busy or already_logged")
    t.poll(lambda: srv.req("GET", "/api/v1/calls/race-0", token=tok)[2]["status"] == "logged",
           "the raced call is logged")
    t.ok("the raced call is logged")
    t.eq(activities_per_session(t, srv, tok)["race-0"], 1, "exactly one activity for race-0")

    # ---- manual logs (HTTP and CLI) racing the auto-logger on a batch ----
    n = 120
    recs = [rc_record(100 + i, "batch-%d" % i, "+16505550101", minutes_ago=200 - i)
            for i in range(n)]
    t.expect(srv.req("POST", "/api/v1/import", token=tok, json_body={"records": recs}), 200,
             "import %d calls with auto_log off" % n)
    sessions = ["batch-%d" % i for i in range(n)]
    http_results = []
    lock = threading.Lock()

    def http_logger(part):
        c = http.client.HTTPConnection(srv.host, srv.port, timeout=REQ_TIMEOUT)
        try:
            for s in part:
                c.request("POST", "/api/v1/calls/%s/log" % s, body=b"{}", headers=hdr)
                r = c.getresponse()
                b = r.read()
                with lock:
                    http_results.append((s, r.status, b.decode("utf-8", "replace")))
        finally:
            c.close()

    cli_results = []

    def cli_logger(part):
        for s in part:
            p = subprocess.run([t.crmlog, "--db", t.db, "log", s], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=t.env, timeout=60)
            with lock:
                cli_results.append((s, p.returncode, p.stderr.decode("utf-8", "replace")))

    threads = [threading.Thread(target=http_logger, args=(sessions[k::3],)) for k in range(3)]
    threads += [threading.Thread(target=http_logger, args=(list(reversed(sessions)),))]
    threads += [threading.Thread(target=cli_logger, args=(sessions[::12],))]
    turn_on = threading.Thread(target=lambda: srv.req("PUT", "/api/v1/settings", token=tok,
                                                      json_body={"auto_log": "on"},
                                                      record=False))
    for th in threads[:2] + [turn_on] + threads[2:]:
        th.start()
    for th in threads + [turn_on]:
        th.join(120)
    bad = [r for r in http_results if r[1] not in (202, 409)]
    t.check(not bad, "every racing HTTP log got 202 or 409", got=bad[:5])
    bad = [r for r in cli_results if r[1] not in (0, 1, 4)]
    t.check(not bad, "every racing `crmlog log` exited 0, 1 (busy) or 4 (already logged)",
            got=bad[:5])

    def all_logged():
        pg = srv.req("GET", "/api/v1/calls?limit=500", token=tok)[2]["calls"]
        left = [c["session_id"] for c in pg if c["session_id"].startswith("batch-") and
                c["status"] != "logged"]
        return not left
    t.poll(all_logged, "every batch call is logged", timeout=30, interval=0.2)
    t.ok("all %d batch calls are logged" % n)
    per = activities_per_session(t, srv, tok)
    twice = {s: per[s] for s in sessions if per[s] != 1}
    t.check(not twice, "every batch call has exactly one activity", got=twice)
    calls = {c["session_id"]: c for c in
             srv.req("GET", "/api/v1/calls?limit=500", token=tok)[2]["calls"]}
    acts = {a["session_id"]: a["id"] for a in
            srv.req("GET", "/api/v1/activities", token=tok)[2]["activities"]}
    wrong = [s for s in sessions if calls[s]["log_id"] != acts[s]]
    t.check(not wrong, "each call's log_id is its one activity", got=wrong[:5])
    t.stop(srv)


main(run)
