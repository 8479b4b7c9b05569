"""A log the CRM refuses for a while: the request is kept and retried until the CRM takes it,
then the call is logged once, with its note. The server logs a request for the embedded CRM
in the same transaction that queues it; while the CRM refuses, the request stays queued, and
the worker retries it with backoff."""
import json
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main  # noqa: E402

NUMBER = "+16505550142"


def crm_down(db, down):
    """The embedded CRM refuses every new activity while the flag table holds a row, as a CRM
    that is down would (a trigger in its database, from another connection)."""
    con = sqlite3.connect(db, timeout=30)
    con.executescript(
        "CREATE TABLE IF NOT EXISTS test_crm_down (x);"
        "CREATE TRIGGER IF NOT EXISTS test_crm_down BEFORE INSERT ON crm_activities"
        " WHEN EXISTS (SELECT 1 FROM test_crm_down)"
        " BEGIN SELECT RAISE(ABORT, 'the CRM is down'); END;"
        "DELETE FROM test_crm_down;" + ("INSERT INTO test_crm_down VALUES (1);" if down else ""))
    con.close()


def metric(text, name):
    for ln in text.splitlines():
        if ln.startswith(name + " "):
            return float(ln.split()[1])
    return None


def run(t):
    t.seed(demo=False)
    calls = os.path.join(t.dir, "calls.jsonl")
    with open(calls, "w") as f:
        f.write(json.dumps({
            "id": "r1", "sessionId": "rt-1", "startTime": "2026-11-01T10:00:00.000Z",
            "duration": 30, "type": "Voice", "direction": "Inbound", "action": "Phone Call",
            "result": "Accepted", "from": {"phoneNumber": NUMBER},
            "to": {"phoneNumber": "+16505550000"}}) + "\n")
    t.cli("import", calls)
    srv = t.start("--retry-initial-ms", 200, "--retry-max-ms", 1000)
    t.expect(srv.req("POST", "/api/v1/contacts", token=t.token,
                     json_body={"name": "Retry Person", "phones": [NUMBER]}), 201,
             "a contact with the call's number")

    crm_down(t.db, True)
    b = t.expect(srv.req("POST", "/api/v1/calls/rt-1/log", token=t.token,
                         json_body={"note": "call back on Monday"}), 202,
                 "a log while the CRM refuses is accepted")
    t.check(b.get("status") != "logged" and b.get("queued") is True,
            "the call is not logged, its request stays queued", got=b)

    def retried():
        text = srv.req("GET", "/metrics")[2]
        if isinstance(text, (bytes, bytearray)):
            text = text.decode()
        n = metric(text, "crmlog_crm_retries_total")
        return n if n and n >= 3 else None
    t.poll(retried, "the worker retries the refused log (retries counted)", timeout=15)
    c = srv.req("GET", "/api/v1/calls/rt-1", token=t.token)[2]
    t.check(c.get("status") != "logged" and c.get("queued") is True and c.get("note"),
            "while the CRM refuses, the call stays queued with its note", got=c)

    crm_down(t.db, False)
    t.poll(lambda: srv.req("GET", "/api/v1/calls/rt-1", token=t.token)[2].get("status") ==
           "logged", "once the CRM takes it, the call is logged", timeout=15)
    acts = srv.req("GET", "/api/v1/activities", token=t.token)[2]["activities"]
    mine = [a for a in acts if a["session_id"] == "rt-1"]
    t.eq(len(mine), 1, "one activity for the call, after all the tries")
    t.check("call back on Monday" in mine[0]["body"], "the note is in the log", got=mine[0])
    t.expect(srv.req("POST", "/api/v1/calls/rt-1/log", token=t.token, json_body={}), 409,
             "a second log is refused", code="already_logged")
    t.stop(srv)


main(run)
