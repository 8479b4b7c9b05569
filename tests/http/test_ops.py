"""Operations: /healthz, /metrics (Prometheus text, counters that count), one key=value log
line per request without secrets, SIGTERM with requests in flight, and the configuration
precedence flags > environment > config file."""
import json
import os
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import call_event, main, rc_record  # noqa: E402

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})? (\S+)$')
LOGLINE = re.compile(r'^(?:[a-z_]+=(?:"(?:[^"\\]|\\.)*"|[^\s"=]*))(?: [a-z_]+=(?:"(?:[^"\\]|'
                     r'\\.)*"|[^\s"=]*))*$')


def parse_metrics(t, text):
    """{(name, frozenset(labels)): value}; fails on a line that is not Prometheus text."""
    out, types = {}, {}
    for ln in text.splitlines():
        if not ln:
            continue
        if ln.startswith("# HELP "):
            continue
        if ln.startswith("# TYPE "):
            parts = ln.split()
            types[parts[2]] = parts[3]
            continue
        m = SAMPLE.match(ln)
        if not m:
            t.fail("a /metrics line is not Prometheus text: %r" % ln)
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"',
                                      m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out, types


def metric(ms, name, **labels):
    want = frozenset(labels.items())
    return sum(v for (n, ls), v in ms.items() if n == name and want <= ls)


def run(t):
    t.seed()
    tok = t.token
    srv = t.start()
    t.expect(srv.req("GET", "/healthz"), 200, "GET /healthz is 200")
    st, h, text = srv.req("GET", "/metrics")
    t.check(st == 200 and h.get("content-type", "").startswith("text/plain"),
            "GET /metrics is text/plain", got=h)
    ms, types = parse_metrics(t, text)
    t.ok("every /metrics line is Prometheus text")
    for name, typ in (("crmlog_calls_received_total", "counter"),
                      ("crmlog_calls_logged_total", "counter"),
                      ("crmlog_calls_unresolved_total", "counter"),
                      ("crmlog_crm_retries_total", "counter"),
                      ("crmlog_http_requests_total", "counter")):
        t.eq(types.get(name), typ, "%s is a %s" % (name, typ))
    hist = [n for n, ty in types.items() if ty == "histogram" and "crm" in n]
    t.check(hist, "a CRM latency histogram is exported", got=types)
    hname = hist[0]
    t.check(metric(ms, hname + "_count") >= 0 and
            any(n == hname + "_bucket" and ("le", "+Inf") in ls for n, ls in ms),
            "the histogram has _bucket{le=\"+Inf\"} and _count")

    # counters that count
    m0 = parse_metrics(t, srv.req("GET", "/metrics")[2])[0]
    for _ in range(5):
        srv.req("GET", "/api/v1/me", token=tok)
    srv.req("GET", "/api/v1/me", token="crml_wrong")
    srv.req("GET", "/no/such/route")
    t.expect(srv.req("POST", "/api/v1/import", token=tok, json_body={"records": [
        rc_record(1, "ops-1", "+16505550101"), rc_record(2, "ops-2", "+13125550177")]}), 200,
        "import two calls")
    note = "OPS-NOTE-7f3a: do not leak me into logs"
    srv.req("PUT", "/api/v1/calls/ops-1/note", token=tok, json_body={"text": note})
    srv.req("POST", "/api/v1/calls/ops-1/log", token=tok, json_body={})
    srv.req("POST", "/api/v1/calls/ops-2/log", token=tok, json_body={})
    t.poll(lambda: srv.req("GET", "/api/v1/calls/ops-2", token=tok)[2]["status"] ==
           "unresolved" and srv.req("GET", "/api/v1/calls/ops-1", token=tok)[2]["status"] ==
           "logged", "ops-1 logged, ops-2 unresolved")
    m1 = parse_metrics(t, srv.req("GET", "/metrics")[2])[0]

    def delta(name, **labels):
        return metric(m1, name, **labels) - metric(m0, name, **labels)
    me_labels = [ls for (n, ls) in m1 if n == "crmlog_http_requests_total" and
                 ("/api/v1/me" in dict(ls).values())]
    t.check(me_labels, "crmlog_http_requests_total has a series for /api/v1/me", got=sorted(
        str(dict(ls)) for (n, ls) in m1 if n == "crmlog_http_requests_total"))
    keys = set(k for ls in me_labels for k, _ in ls)
    route_key = [k for k in keys if k in ("route", "path", "handler")]
    code_key = [k for k in keys if k in ("code", "status")]
    t.check(route_key and code_key, "the series is labelled by route and code", got=keys)
    rk, ck = route_key[0], code_key[0]
    t.eq(delta("crmlog_http_requests_total", **{rk: "/api/v1/me", ck: "200"}), 5,
         "5 GET /api/v1/me with 200 are counted")
    t.eq(delta("crmlog_http_requests_total", **{rk: "/api/v1/me", ck: "401"}), 1,
         "1 GET /api/v1/me with 401 is counted")
    t.eq(delta("crmlog_calls_received_total"), 2, "calls_received_total counts the 2 imported")
    t.eq(delta("crmlog_calls_logged_total"), 1, "calls_logged_total counts the logged call")
    t.eq(delta("crmlog_calls_unresolved_total"), 1, "calls_unresolved_total counts ops-2")
    t.check(delta(hname + "_count") >= 1, "the CRM latency histogram counted the log")
    t.expect(srv.req("POST", "/api/v1/events", token=t.events_token,
                     json_body=call_event("call.ringing", "ops-ev", user="agent")), 202,
             "a live event")
    m2 = parse_metrics(t, srv.req("GET", "/metrics")[2])[0]
    t.eq(metric(m2, "crmlog_calls_received_total") - metric(m1, "crmlog_calls_received_total"),
         1, "calls_received_total counts a new live call")

    # one key=value line per request, no secrets
    t.stop(srv)
    log = srv.stderr_text()
    lines = log.splitlines()
    bad = [ln for ln in lines if not LOGLINE.match(ln)]
    t.check(not bad, "every stderr line is key=value pairs", got=bad[:3])
    http_lines = [ln for ln in lines if " event=http " in ln]
    t.eq(len(http_lines), srv.nreq, "one log line per request (%d sent)" % srv.nreq)
    for secret in (tok, tok.split("_")[-1], t.events_token, t.events_token.split("_")[-1],
                   note, "OPS-NOTE"):
        if secret in log:
            t.fail("the server's stderr contains %r" % secret[:12])
    t.ok("stderr holds neither tokens nor note text")
    t.check(all(re.search(r"\bstatus=\d{3}\b", ln) and re.search(r"\broute=\S+", ln)
                for ln in http_lines), "each request line has route= and status=")

    # ---- SIGTERM with requests in flight ----
    srv = t.start("--shutdown-grace-s", 10)
    note2 = "in-flight note"
    body = json.dumps({"text": note2}).encode()
    head = ("PUT /api/v1/calls/ops-2/note HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n" % (tok, len(body))).encode()
    socks = []
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=20)
        # a first, whole request makes sure the server has accepted the connection
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        got = b""
        while b'"ok"' not in got:
            chunk = s.recv(4096)
            if not chunk:
                t.fail("no answer to GET /healthz on a raw connection", got=got)
            got += chunk
        s.sendall(head + body[:5])
        socks.append(s)
    # the headers and part of the body are sent: give the server time to read them
    time.sleep(1.0)
    srv.signal(signal.SIGTERM)
    time.sleep(0.5)
    t.check(srv.running(), "the server waits for the requests in flight after SIGTERM")
    answers = []

    def finish(s):
        s.sendall(body[5:])
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < 10:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        answers.append(data)
    ths = [threading.Thread(target=finish, args=(s,)) for s in socks]
    for th in ths:
        th.start()
    for th in ths:
        th.join(20)
    for s in socks:
        s.close()
    t.eq(len(answers), 3, "the 3 in-flight requests got answers")
    for a in answers:
        if not a.startswith(b"HTTP/1.1 200"):
            t.fail("an in-flight request was not completed after SIGTERM", got=a[:300])
    t.ok("the in-flight requests completed with 200 after SIGTERM")
    rc = srv.wait(15)
    t.eq(rc, 0, "the server exits 0 once they are done")
    calls = {c["session_id"]: c for c in t.cli_json("calls", "--json")}
    t.eq(calls["ops-2"]["note"], note2, "the in-flight note was saved")

    # ---- SIGTERM during a burst of logs: the writer hands back every request it holds ----
    recs = [rc_record(500 + i, "burst-%d" % i, minutes_ago=5) for i in range(60)]
    srv = t.start("--shutdown-grace-s", 10)
    t.expect(srv.req("POST", "/api/v1/import", token=tok, json_body={"records": recs}), 200,
             "importing 60 calls to log in a burst")
    answers = {}

    def log_one(i):
        import http.client
        try:
            c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=20)
            c.request("POST", "/api/v1/calls/burst-%d/log" % i, "{}",
                      {"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
            answers[i] = c.getresponse().status
        except OSError:
            answers[i] = None  # refused after the signal: never queued
    ths = [threading.Thread(target=log_one, args=(i,)) for i in range(60)]
    for i, th in enumerate(ths):
        th.start()
        if i == 30:
            srv.signal(signal.SIGTERM)
    for th in ths:
        th.join(30)
    t.eq(srv.wait(15), 0, "the server exits 0 after a burst of logs and SIGTERM")
    bad = {i: a for i, a in answers.items() if a not in (202, None)}
    t.check(not bad and len(answers) == 60, "each log of the burst got 202 or was refused "
            "before it was read", got=answers)
    accepted = sorted(i for i, a in answers.items() if a == 202)
    t.check(accepted, "some logs of the burst were accepted", got=answers)
    calls = {c["session_id"]: c for c in t.cli_json("calls", "--json")}
    lost = [i for i in accepted
            if calls["burst-%d" % i]["status"] != "logged" and not calls["burst-%d" % i].get("queued")]
    t.check(not lost, "every accepted log is logged or still queued after the shutdown", got=lost)
    srv = t.start()
    t.poll(lambda: all(srv.req("GET", "/api/v1/calls/burst-%d" % i, token=tok)[2]["status"]
                       == "logged" for i in accepted) or None,
           "every accepted log is written once the server runs again", timeout=15)
    acts = srv.req("GET", "/api/v1/activities", token=tok)[2]["activities"]
    per = {}
    for a in acts:
        per[a["session_id"]] = per.get(a["session_id"], 0) + 1
    t.check(all(per.get("burst-%d" % i) == 1 for i in accepted),
            "each accepted log is one activity", got=per)
    t.stop(srv)

    # ---- configuration: flags > environment > file ----
    conf = os.path.join(t.dir, "crmlog.conf")
    with open(conf, "w") as f:
        f.write("# test config\nthreads = 7\nbody_limit = 4096\nlog_level = debug\n")
    env = dict(t.env, CRMLOG_THREADS="3")

    def shown(*args, env=t.env):
        _, out, _ = t.cli("config", "show", "--json", *args, env=env)
        return json.loads(out)
    t.eq(shown()["threads"], 2, "config show: default threads 2")
    t.eq(shown("--config", conf)["threads"], 7, "config show: the file sets threads 7")
    t.eq(shown("--config", conf)["body_limit"], 4096, "config show: the file sets body_limit")
    t.eq(shown("--config", conf, env=env)["threads"], 3, "CRMLOG_THREADS=3 beats the file")
    t.eq(shown("--config", conf, "--threads", "5", env=env)["threads"], 5,
         "--threads 5 beats the environment")
    t.eq(shown(env=dict(t.env, CRMLOG_CONFIG=conf))["threads"], 7,
         "CRMLOG_CONFIG names the file")
    _, txt, _ = t.cli("config", "show", "--config", conf, env=env)
    t.check(re.search(r"^threads = 3\b", txt, re.M) and
            re.search(r"^body_limit = 4096\b", txt, re.M),
            "config show (text) shows threads = 3 and body_limit = 4096", got=txt)
    # the server uses what config show says
    srv = t.start("--config", conf, env=env)
    t.check(re.search(r"event=start .*threads=3\b", srv.stderr_text()),
            "the server started with threads=3 from the environment", got=srv.stderr_text())
    t.expect(srv.req("PUT", "/api/v1/calls/ops-1/note", token=tok,
                     json_body={"text": "x" * 5000}), 413,
             "the server uses body_limit 4096 from the file")
    t.stop(srv)


main(run)
