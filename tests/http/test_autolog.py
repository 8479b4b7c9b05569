"""The auto-logger inside the server: ended calls are logged (or unresolved, or wait in
review) within a second or two; a call whose recording is announced waits for the link, up to
--recording-wait-s; notes typed during a call survive a restart; catch-up after downtime."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import call_event, main, rc_record  # noqa: E402

WAIT_S = 3


def run(t):
    t.seed()
    tok_b = t.add_user("bob", extension=102)
    t.cli("--user", "bob", "settings", "set", "auto_log", "on")
    srv = t.start("--recording-wait-s", WAIT_S)

    def ev(body):
        return srv.req("POST", "/api/v1/events", token=t.events_token, json_body=body)

    def call(ref, tok=tok_b, s=None):
        return (s or srv).req("GET", "/api/v1/calls/%s" % ref, token=tok)[2]

    def status_within(ref, want, timeout, s=None):
        t0 = time.monotonic()
        c = t.poll(lambda: (lambda c: c if c.get("status") in want else None)(call(ref, s=s)),
                   "call %s becomes %s" % (ref, "/".join(want)), timeout=timeout)
        t.ok("call %s is %s %.2fs later" % (ref, c["status"], time.monotonic() - t0))
        return c

    # ---- 4. a note typed during an active call survives a restart ----
    t.expect(ev(call_event("call.ringing", "rs-1", extension=102)), 202, "rs-1 rings")
    t.expect(ev(call_event("call.answered", "rs-1", extension=102)), 202, "rs-1 answered")
    note = "Restart-proof note: customer id 88-1203"
    t.expect(srv.req("PUT", "/api/v1/calls/rs-1/note", token=tok_b, json_body={"text": note}),
             200, "note while rs-1 is active")
    t.stop(srv)
    srv = t.start("--recording-wait-s", WAIT_S)
    c = call("rs-1")
    t.eq((c["status"], c["note"]), ("active", note),
         "after a restart the call is still active with its note")
    t.expect(ev(call_event("call.ended", "rs-1", extension=102, duration=40, answered=True)),
             202, "rs-1 ends after the restart")
    c = status_within("rs-1", ("logged",), 5)
    acts = srv.req("GET", "/api/v1/activities", token=tok_b)[2]["activities"]
    body = [a for a in acts if a["session_id"] == "rs-1"]
    t.eq(len(body), 1, "rs-1 has one activity")
    t.check(note in body[0]["body"], "the note from before the restart is in the log",
            got=body[0])

    # ---- 5a. auto_log on: logged; no contact: unresolved ----
    t.expect(ev(call_event("call.ended", "al-1", extension=102, number="+16505550101",
                           duration=12, answered=True)), 202,
             "a call.ended without ringing (Alice)")
    status_within("al-1", ("logged",), 3)
    t.expect(ev(call_event("call.ended", "al-2", extension=102, number="+13125550188",
                           duration=12, answered=True)), 202, "a call.ended from a stranger")
    c = status_within("al-2", ("unresolved",), 3)
    t.eq(c["reason"], "no_contact", "…unresolved: no_contact")
    t.eq([x["call"]["session_id"] for x in
          srv.req("GET", "/api/v1/unresolved", token=tok_b)[2]["unresolved"]], ["al-2"],
         "the stranger's call is in the unresolved queue")

    # ---- 5b. auto_log_form_only: review, then a person logs it ----
    t.expect(srv.req("PUT", "/api/v1/settings", token=tok_b,
                     json_body={"auto_log_form_only": "on"}), 200, "auto_log_form_only on")
    t.expect(ev(call_event("call.ended", "al-3", extension=102, duration=5, answered=True)),
             202, "a call ends with form-only on")
    status_within("al-3", ("review",), 3)
    t.eq([a for a in srv.req("GET", "/api/v1/activities", token=tok_b)[2]["activities"]
          if a["session_id"] == "al-3"], [], "a call in review has no activity yet")
    t.expect(srv.req("POST", "/api/v1/calls/al-3/log", token=tok_b,
                     json_body={"note": "confirmed"}), 202, "the person logs the reviewed call")
    status_within("al-3", ("logged",), 3)
    t.expect(srv.req("PUT", "/api/v1/settings", token=tok_b,
                     json_body={"auto_log_form_only": "off"}), 200, "auto_log_form_only off")

    t.stop(srv)
    # ---- 5d. catch-up: 500 calls imported while the server is stopped ----
    n = 500
    lines = []
    for i in range(n):
        number = "+16505550101" if i % 5 else "+13125550%03d" % (i % 1000)  # 1 in 5: nobody
        lines.append(json.dumps(rc_record(1000 + i, "cu-%d" % i, number,
                                          minutes_ago=300 - i * 0.5)))
    path = os.path.join(t.dir, "catchup.jsonl")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = t.cli_json("--user", "bob", "import", path, "--json")
    t.eq(r["added"], n, "500 calls imported for bob while the server is stopped")
    srv = t.start("--recording-wait-s", WAIT_S)
    t0 = time.monotonic()

    def all_done():
        calls = srv.req("GET", "/api/v1/calls?limit=500&status=unlogged", token=tok_b)[2]
        return not [c for c in calls["calls"] if c["session_id"].startswith("cu-")]
    t.poll(all_done, "every imported call leaves unlogged", timeout=30, interval=0.2)
    t.ok("catch-up: all 500 handled %.2fs after start" % (time.monotonic() - t0))
    logged, unres = 0, 0
    cursor = None
    while True:
        q = "/api/v1/calls?limit=500" + ("&before=" + cursor if cursor else "")
        pg = srv.req("GET", q, token=tok_b)[2]
        for c in pg["calls"]:
            if c["session_id"].startswith("cu-"):
                logged += c["status"] == "logged"
                unres += c["status"] == "unresolved"
        cursor = pg["next"]
        if not cursor:
            break
    t.eq((logged, unres), (400, 100), "400 logged (Alice) and 100 unresolved (nobody)")
    acts = srv.req("GET", "/api/v1/activities", token=tok_b)[2]["activities"]
    sess = [a["session_id"] for a in acts if a["session_id"].startswith("cu-")]
    t.eq((len(sess), len(set(sess))), (400, 400), "400 activities, one per logged call")

    # ---- 5c. a pending recording: wait for the link ----
    def pending_then_link(sid, ring):
        link = "https://pbx.example.com/rec/%s.mp3" % sid
        if ring:
            t.expect(ev(call_event("call.ringing", sid, extension=102)), 202, sid + " rings")
            t.expect(ev(call_event("call.answered", sid, extension=102)), 202,
                     sid + " answered")
        t.expect(ev(call_event("call.ended", sid, extension=102, duration=30, answered=True,
                               recording={"pending": True})), 202,
                 "%s ends with recording pending (%s)" % (sid, "rang first" if ring else
                                                          "no ringing seen"))
        t_end = time.monotonic()
        while time.monotonic() - t_end < 1.0:
            c = call(sid)
            if c["status"] != "unlogged":
                t.fail("%s left unlogged within the first second while its recording is "
                       "pending (--recording-wait-s %d)" % (sid, WAIT_S), got=c)
            time.sleep(0.1)
        t.ok("%s stays unlogged for the first second while its recording is pending" % sid)
        t.expect(ev(call_event("call.ended", sid, extension=102, duration=30, answered=True,
                               recording={"url": link})), 202,
                 "a later call.ended gives %s's link" % sid)
        c = status_within(sid, ("logged",), 3)
        t.eq(c["recording"], link, "the call has the recording link")
        a = [x for x in srv.req("GET", "/api/v1/activities", token=tok_b)[2]["activities"]
             if x["session_id"] == sid]
        t.check(len(a) == 1 and link in a[0]["body"],
                "the recording link is in %s's activity body" % sid, got=a)

    pending_then_link("rec-1", ring=False)

    # the wait expires without a link: logged anyway
    t.expect(ev(call_event("call.ended", "rec-2", extension=102, duration=30, answered=True,
                           recording={"pending": True})), 202,
             "rec-2 ends with recording pending, no link ever comes")
    t0 = time.monotonic()
    time.sleep(1.0)
    t.eq(call("rec-2")["status"], "unlogged", "rec-2 waits for its link")
    c = t.poll(lambda: (lambda c: c if c["status"] == "logged" else None)(call("rec-2")),
               "rec-2 is logged once the recording wait expires", timeout=WAIT_S + 8)
    waited = time.monotonic() - t0
    t.check(waited >= WAIT_S - 0.5, "rec-2 was logged after the wait (%.2fs), not before"
            % waited)
    t.eq(c["recording"], None, "rec-2 has no recording link")

    # the usual case last: the call rang (was active) before it ended with a pending
    # recording
    pending_then_link("rec-3", ring=True)
    t.stop(srv)



main(run)
