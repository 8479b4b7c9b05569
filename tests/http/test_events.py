"""Live events: crmlog's JSON events and Zammad's Generic CTI (form and JSON) create, update
and end calls for the right user; notes typed during a call go into the log; the events
token guards both endpoints and can be rotated while the server runs."""
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import call_event, main  # noqa: E402


def run(t):
    t.seed()
    tok_b = t.add_user("bob", extension=102)
    tok_c = t.add_user("carol", extension=103)
    srv = t.start()
    ev_tok = t.events_token
    t.expect(srv.req("PUT", "/api/v1/settings", token=tok_b, json_body={"auto_log": "on"}),
             200, "bob turns auto_log on")

    def ev(body, tok=ev_tok):
        return srv.req("POST", "/api/v1/events", token=tok, json_body=body)

    def bob_call(ref):
        return srv.req("GET", "/api/v1/calls/%s" % ref, token=tok_b)

    # ---- the events token guards /api/v1/events ----
    ring = call_event("call.ringing", "live-1", extension=102, name="Alice J")
    for what, tok in (("no token", None), ("a user's token", tok_b),
                      ("a wrong token", "crml_" + "1" * 40)):
        t.expect(ev(ring, tok), 401, "POST /api/v1/events with %s is 401" % what,
                 code="unauthorized")
    t.eq(srv.req("GET", "/api/v1/calls?limit=500", token=tok_b)[2]["calls"], [],
         "refused events created nothing")

    # ---- ringing -> active, note, answered, ended -> logged with the note ----
    r = t.expect(ev(ring), 202, "call.ringing is accepted (202)")
    t.check(isinstance(r.get("call_id"), int), "the answer names the call id", got=r)
    c = t.expect(bob_call("live-1"), 200, "the ringing call is bob's (extension 102)")
    t.eq((c["status"], c["direction"], c["number"]), ("active", "inbound", "+16505550101"),
         "the ringing call is active, inbound, from Alice's number")
    t.eq(c["id"], r["call_id"], "call_id is the call's id")
    t.eq(c["contact"], {"id": "1", "name": "Alice Johnson"}, "the call matches Alice already")
    t.expect(srv.req("GET", "/api/v1/calls/live-1", token=t.token), 404,
             "the agent (no extension 102) does not have the call")
    note = "Alice asks about invoice 4471"
    t.expect(srv.req("PUT", "/api/v1/calls/live-1/note", token=tok_b,
                     json_body={"text": note}), 200, "a note while the call is active is saved")
    t.expect(srv.req("POST", "/api/v1/calls/live-1/log", token=tok_b, json_body={}), 409,
             "logging an active call is refused (409)", code="active")
    t.expect(ev(call_event("call.answered", "live-1", extension=102)), 202, "call.answered")
    c = bob_call("live-1")[2]
    t.eq((c["status"], c["note"]), ("active", note), "answered: still active, note kept")
    t.expect(ev(call_event("call.ended", "live-1", extension=102, duration=95,
                           answered=True)), 202, "call.ended")
    t0 = time.monotonic()
    done = t.poll(lambda: bob_call("live-1")[2]["status"] == "logged" and bob_call("live-1")[2],
                  "the ended call is auto-logged", timeout=5)
    t.ok("auto-logged %.2fs after call.ended" % (time.monotonic() - t0))
    t.eq((done["duration"], done["result"], done["note"]), (95, "Call connected", note),
         "the logged call has its duration, result and note")
    acts = srv.req("GET", "/api/v1/activities", token=tok_b)[2]["activities"]
    mine = [a for a in acts if a["session_id"] == "live-1"]
    t.eq(len(mine), 1, "one activity for the live call")
    t.check(note in mine[0]["body"], "the note typed during the call is in the activity body",
            got=mine[0])
    t.expect(ev(call_event("call.ended", "live-1", extension=102, duration=95)), 202,
             "a repeated call.ended is accepted")
    t.eq(len([a for a in srv.req("GET", "/api/v1/activities", token=tok_b)[2]["activities"]
              if a["session_id"] == "live-1"]), 1, "…and does not log the call again")

    # ---- the agent by user name; an outbound call ----
    t.expect(ev(call_event("call.ringing", "live-2", direction="outbound",
                           number="(415) 555-0123", user="carol")), 202,
             "call.ringing naming the user")
    c = t.expect(srv.req("GET", "/api/v1/calls/live-2", token=tok_c), 200,
                 "the call is carol's (by user name)")
    t.eq((c["status"], c["direction"], c["number"]), ("active", "outbound", "+14155550123"),
         "outbound, number read as E.164")
    t.expect(ev(call_event("call.ended", "live-2", direction="outbound",
                           number="(415) 555-0123", user="carol")), 202, "carol's call ends")
    c = srv.req("GET", "/api/v1/calls/live-2", token=tok_c)[2]
    t.eq((c["status"], c["result"]), ("unlogged", "No Answer"),
         "carol's ended call is unlogged (auto_log off), unanswered outbound: No Answer")

    # ---- unknown agent: 404, nothing created ----
    before = [srv.req("GET", "/api/v1/calls?limit=500", token=x)[2] for x in (t.token, tok_b,
                                                                               tok_c)]
    t.expect(ev(call_event("call.ringing", "live-x", extension=999)), 404,
             "an event for an unknown extension is 404", code="not_found")
    t.expect(ev(call_event("call.ringing", "live-x", user="nobody")), 404,
             "an event for an unknown user name is 404", code="not_found")
    after = [srv.req("GET", "/api/v1/calls?limit=500", token=x)[2] for x in (t.token, tok_b,
                                                                              tok_c)]
    t.eq(after, before, "nothing was created for anyone")
    t.expect(ev({"event": "call.ringing", "session_id": "live-y", "direction": "inbound",
                 "from": "+16505550101", "extension": "102", "colour": "red"}), 400,
             "an event with an unknown field is 400", code="bad_request")
    t.expect(ev(call_event("call.exploded", "live-y", extension=102)), 422,
             "an unknown event name is 422")
    t.expect(bob_call("live-y"), 404, "refused events created no call")

    # ---- Zammad CTI, form-encoded ----
    cti = "/api/v1/cti/%s" % ev_tok

    def form(**kw):
        items = []
        for k, v in kw.items():
            for x in (v if isinstance(v, list) else [v]):
                items.append((k.replace("user_arr", "user[]"), x))
        return urllib.parse.urlencode(items)

    def cti_post(body, ctype="application/x-www-form-urlencoded", path=cti):
        return srv.req("POST", path, body=body, content_type=ctype)

    t.expect(cti_post(form(event="newCall", direction="in", callId="z-1",
                           **{"from": "16505550101", "to": "16505550100", "user_arr": ["bob"]})),
             200, "CTI newCall (form, user[])")
    c = t.expect(bob_call("z-1"), 200, "the CTI call is bob's (user[]=bob)")
    t.eq((c["status"], c["number"]), ("active", "+16505550101"), "CTI newCall: active")
    t.expect(cti_post(form(event="answer", direction="in", callId="z-1",
                           **{"from": "16505550101", "to": "16505550100", "user": "bob"})),
             200, "CTI answer (form, user)")
    t.expect(cti_post(form(event="hangup", direction="in", callId="z-1",
                           cause="normalClearing",
                           **{"from": "16505550101", "to": "16505550100", "user": "bob"})),
             200, "CTI hangup")
    c = t.poll(lambda: bob_call("z-1")[2]["status"] != "active" and bob_call("z-1")[2],
               "the CTI call ends", timeout=5)
    t.check(c["status"] in ("unlogged", "logged", "unresolved"), "the CTI call ended", got=c)
    t.eq(c["result"], "Call connected", "normalClearing after answer: Call connected")
    t.poll(lambda: bob_call("z-1")[2]["status"] == "logged", "bob's CTI call is auto-logged",
           timeout=5)
    t.ok("bob's CTI call is auto-logged")

    # by extension: answeringNumber for an inbound call
    t.expect(cti_post(form(event="newCall", direction="in", callId="z-2",
                           answeringNumber="103",
                           **{"from": "+14155550124", "to": "+16505550100"})), 200,
             "CTI newCall routed by answeringNumber")
    t.eq(srv.req("GET", "/api/v1/calls/z-2", token=tok_c)[2].get("status"), "active",
         "the call is carol's (extension 103)")
    # JSON CTI
    t.expect(cti_post('{"event":"hangup","direction":"in","callId":"z-2","cause":"busy",'
                      '"from":"+14155550124","to":"+16505550100","answeringNumber":"103"}',
                      ctype="application/json"), 200, "CTI hangup as JSON")
    c = srv.req("GET", "/api/v1/calls/z-2", token=tok_c)[2]
    t.eq((c["status"], c["result"]), ("unlogged", "Busy"), "JSON CTI hangup: ended, Busy")
    t.expect(cti_post('{"event":"newCall","direction":"out","callId":3001,"from":"102",'
                      '"to":"+14155550125","user":["bob"]}', ctype="application/json"), 200,
             "CTI newCall as JSON with an integer callId and user array")
    t.eq(bob_call("3001")[2].get("direction"), "outbound", "the JSON CTI call is bob's, "
         "outbound")

    # wrong token, unknown agent
    wrong = "/api/v1/cti/crml_" + "2" * 40
    newcall = form(event="newCall", direction="in", callId="z-3",
                   **{"from": "+14155550126", "to": "+16505550100", "user": "bob"})
    t.expect(cti_post(newcall, path=wrong), 401, "CTI with a wrong token in the path is 401",
             code="unauthorized")
    t.expect(cti_post(newcall, path="/api/v1/cti/" + tok_b), 401,
             "CTI with a user's token in the path is 401")
    t.expect(bob_call("z-3"), 404, "…and created nothing")
    t.expect(cti_post(form(event="newCall", direction="in", callId="z-4",
                           **{"from": "+14155550126", "to": "16505550100", "user": "ghost"})),
             404, "CTI for an unknown user is 404")
    t.expect(cti_post(form(event="newCall", direction="in", callId="z-4",
                           answeringNumber="777",
                           **{"from": "+14155550126", "to": "16505550100"})),
             404, "CTI for an unknown extension is 404")
    t.expect(cti_post(form(event="newCall", direction="in", **{"from": "+1415555", "to": "1"}),
                      ), 400, "CTI without callId is 400")
    t.expect(cti_post("event=newCall", ctype="text/plain"), 415,
             "CTI as text/plain is 415")

    # ---- rotating the events token while the server runs ----
    _, out, _ = t.cli("events", "token", "--rotate")
    new_tok = out.strip()
    t.check(new_tok and new_tok != ev_tok, "events token --rotate prints a new token", got=out)
    t.expect(ev(call_event("call.ringing", "rot-1", extension=102), tok=ev_tok), 401,
             "after rotation the old events token is refused (no restart)")
    t.expect(cti_post(form(event="newCall", direction="in", callId="rot-2",
                           **{"from": "+14155550126", "to": "16505550100", "user": "bob"})), 401,
             "…on the CTI path too")
    t.expect(ev(call_event("call.ringing", "rot-1", extension=102), tok=new_tok), 202,
             "the new events token works at once")
    t.expect(cti_post(form(event="newCall", direction="in", callId="rot-2",
                           **{"from": "+14155550126", "to": "16505550100", "user": "bob"}),
                      path="/api/v1/cti/" + new_tok), 200, "…on the CTI path too")
    _, out2, _ = t.cli("events", "token")
    t.eq(out2.strip(), new_tok, "events token (no --rotate) prints the current token")

    # ---- duration from the answer and end times (no duration in call.ended) ----
    base = time.time() - 600
    iso = lambda x: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(x))
    t.expect(ev(call_event("call.ringing", "dur-1", extension=102, time=iso(base)),
                tok=new_tok), 202, "dur-1 rings (time T)")
    t.expect(ev(call_event("call.answered", "dur-1", extension=102, time=iso(base + 5)),
                tok=new_tok), 202, "dur-1 answered at T+5s")
    t.expect(ev(call_event("call.ended", "dur-1", extension=102, time=iso(base + 80)),
                tok=new_tok), 202, "dur-1 ends at T+80s, saying neither duration nor result")
    c = bob_call("dur-1")[2]
    t.eq((c["duration"], c["result"]), (75, "Call connected"),
         "duration is end minus answer (75 s), result from the answer seen")

    # stderr holds no events token
    t.stop(srv)
    log = srv.stderr_text()
    for secret in (ev_tok, new_tok, tok_b, tok_c):
        t.check(secret not in log and secret.split("_")[-1] not in log,
                "the server's log holds no token (%s…)" % secret[:8])


main(run)
