"""API = CLI: every route of the JSON API works as documented and shows the same JSON shapes
as `crmlog ... --json` on the same store (compared key by key after the server stops)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main, rc_record  # noqa: E402

CALL_KEYS = {"id", "session_id", "type", "direction", "number", "start_time", "duration",
             "result", "recording", "contact", "matches", "status", "reason", "log_id", "note",
             "past_retention", "internal"}


def logged_within(t, srv, ref, timeout=10):
    def f():
        st, _, b = srv.req("GET", "/api/v1/calls/%s" % ref, token=t.token)
        return b if st == 200 and b.get("status") not in ("unlogged",) and not b.get("queued") \
            else None
    return t.poll(f, "call %s leaves unlogged/queued" % ref, timeout=timeout)


def run(t):
    t.seed()
    tok = t.token
    srv = t.start()

    # ---- me, healthz ----
    me = t.expect(srv.req("GET", "/api/v1/me", token=tok), 200, "GET /api/v1/me answers 200")
    t.eq(me, {"id": 1, "name": "agent"}, "me is {id, name} of the token's user")
    hz = t.expect(srv.req("GET", "/healthz"), 200, "GET /healthz answers 200 without a token")
    t.eq(hz, {"status": "ok"}, "healthz says ok")

    # ---- import: call-log document and JSON Lines ----
    recs = [rc_record(1, "api-s1", "+16505550101", minutes_ago=30),  # Alice: one contact
            rc_record(2, "api-s2", "+14155550999", minutes_ago=29),  # nobody
            rc_record(3, "api-s3", "+16505550101", minutes_ago=28, direction="Outbound")]
    doc = {"records": recs}
    r = t.expect(srv.req("POST", "/api/v1/import", token=tok, json_body=doc), 200,
                 "POST /api/v1/import a call-log document")
    t.eq(r, {"records": 3, "calls": 3, "sms": 0, "added": 3, "updated": 0, "unchanged": 0,
             "skipped": 0}, "import counts as `import --json` does")
    r = t.expect(srv.req("POST", "/api/v1/import", token=tok, json_body=doc), 200,
                 "importing the same records again")
    t.eq((r["added"], r["unchanged"]), (0, 3), "a second import adds nothing")
    jl = "\n".join(json.dumps(rc_record(10 + i, "api-jl%d" % i, "+16505550102",
                                        minutes_ago=20 - i)) for i in range(4)) + "\n"
    r = t.expect(srv.req("POST", "/api/v1/import", token=tok, body=jl,
                         content_type="application/x-ndjson"), 200,
                 "POST /api/v1/import JSON Lines as application/x-ndjson")
    t.eq(r["added"], 4, "JSON Lines import adds 4 calls")
    bad = jl + '{"id": "X", "sessionId": \n'
    r = t.expect(srv.req("POST", "/api/v1/import", token=tok, body=bad,
                         content_type="application/x-ndjson"), 400,
                 "a malformed import is refused with 400", code="bad_request")
    t.check("nothing" in r["error"]["message"], "the import error says nothing was imported",
            got=r)

    # ---- calls list and paging ----
    full = t.expect(srv.req("GET", "/api/v1/calls?limit=500", token=tok), 200,
                    "GET /api/v1/calls?limit=500")
    t.check(isinstance(full.get("calls"), list) and full.get("next") is None,
            "the whole history fits one page, next is null", got=full)
    allc = full["calls"]
    t.eq(len(allc), 10 + 7, "17 calls and SMS: 10 demo + 7 imported")
    ids = [c["id"] for c in allc]
    t.check(len(set(ids)) == len(ids), "no call twice in the history")
    starts = [c["start_time"] for c in allc]
    t.check(starts == sorted(starts, reverse=True), "the history is newest first", got=starts)
    for c in allc:
        missing = CALL_KEYS - set(c)
        if missing:
            t.fail("call %s lacks keys %s" % (c.get("id"), sorted(missing)), got=c)
    t.ok("every call in the list has every documented key")
    paged, cursor, pages = [], None, 0
    while True:
        path = "/api/v1/calls?limit=4" + ("&before=%s" % cursor if cursor else "")
        pg = t.expect(srv.req("GET", path, token=tok), 200, "GET %s" % path)
        t.check(len(pg["calls"]) <= 4, "a page holds at most limit calls")
        paged += pg["calls"]
        pages += 1
        cursor = pg["next"]
        if cursor is None:
            break
        t.check(isinstance(cursor, str) and cursor, "next is a non-empty cursor", got=pg)
        if pages > 10:
            t.fail("paging does not end")
    t.eq(pages, 5, "17 calls in pages of 4 make 5 pages")
    t.eq([c["id"] for c in paged], ids, "following next walks the whole history once, in order")
    t.expect(srv.req("GET", "/api/v1/calls?limit=0", token=tok), 400,
             "limit=0 is refused", code="bad_request")
    t.expect(srv.req("GET", "/api/v1/calls?before=nonsense", token=tok), 400,
             "a bad cursor is refused", code="bad_request")
    t.expect(srv.req("GET", "/api/v1/calls?status=bogus", token=tok), 400,
             "an unknown status filter is refused", code="bad_request")
    un = t.expect(srv.req("GET", "/api/v1/calls?status=unlogged&limit=500", token=tok), 200,
                  "GET /api/v1/calls?status=unlogged")
    t.check(all(c["status"] == "unlogged" for c in un["calls"]) and un["calls"],
            "the status filter keeps only unlogged calls")

    # ---- one call by id and by session id ----
    s1 = [c for c in allc if c["session_id"] == "api-s1"][0]
    a = t.expect(srv.req("GET", "/api/v1/calls/%d" % s1["id"], token=tok), 200,
                 "GET /api/v1/calls/{id}")
    b = t.expect(srv.req("GET", "/api/v1/calls/api-s1", token=tok), 200,
                 "GET /api/v1/calls/{session_id}")
    t.eq(a, b, "the call by id and by session id are the same")
    t.eq(a, s1, "the call alone is the call in the list")
    t.eq(a["contact"], {"id": "1", "name": "Alice Johnson"}, "the call matches Alice")
    t.expect(srv.req("GET", "/api/v1/calls/999999", token=tok), 404,
             "an unknown call id is 404", code="not_found")
    t.expect(srv.req("GET", "/api/v1/calls/no-such-session", token=tok), 404,
             "an unknown session id is 404", code="not_found")

    # ---- note ----
    note = "Customer wants the blue plan; call back Friday"
    n = t.expect(srv.req("PUT", "/api/v1/calls/api-s1/note", token=tok,
                         json_body={"text": note}), 200, "PUT /api/v1/calls/{ref}/note")
    t.eq(n["note"], note, "the note answer is the call with the note")
    g = srv.req("GET", "/api/v1/calls/%d" % s1["id"], token=tok)[2]
    t.eq(g["note"], note, "the note is saved")

    big = t.expect(srv.req("PUT", "/api/v1/calls/api-s1/note", token=tok,
                           json_body={"text": "n" * (32 * 1024 + 1)}), 422,
                   "a note over 32 KiB is refused (422)", code="invalid")
    t.eq(srv.req("GET", "/api/v1/calls/api-s1", token=tok)[2]["note"], note,
         "the refused note changed nothing")

    # ---- log: queued -> logged ----
    q = t.expect(srv.req("POST", "/api/v1/calls/api-s1/log", token=tok,
                         json_body={"fields": {"disposition": "connected"}}), 202,
                 "POST /api/v1/calls/{ref}/log answers 202")
    t.check(q.get("queued") is True or q["status"] == "logged",
            "the 202 answer is the call, queued", got=q)
    done = logged_within(t, srv, s1["id"])
    t.eq(done["status"], "logged", "the queued log is written by the worker")
    t.check(isinstance(done["log_id"], str) and done["log_id"], "a logged call has its log_id")
    acts = t.expect(srv.req("GET", "/api/v1/activities", token=tok), 200,
                    "GET /api/v1/activities")["activities"]
    mine = [x for x in acts if x["session_id"] == "api-s1"]
    t.eq(len(mine), 1, "one activity for the logged call")
    t.check(note in mine[0]["body"], "the note is in the activity body", got=mine[0])
    t.eq(mine[0]["fields"], {"disposition": "connected"}, "the field is on the activity")
    t.eq(mine[0]["id"], done["log_id"], "the call's log_id is the activity id")
    t.expect(srv.req("POST", "/api/v1/calls/api-s1/log", token=tok, json_body={}), 409,
             "logging a logged call again is 409", code="already_logged")
    t.expect(srv.req("PUT", "/api/v1/calls/api-s1/note", token=tok, json_body={"text": "x"}),
             409, "a logged call's note is refused with 409")
    t.eq(srv.req("GET", "/api/v1/calls/api-s1", token=tok)[2]["note"], note,
         "the refused note changed nothing")
    # a log with an empty body (no Content-Type) is a plain log
    t.expect(srv.req("POST", "/api/v1/calls/api-s3/log", token=tok), 202,
             "POST …/log with no body answers 202")
    t.eq(logged_within(t, srv, "api-s3")["status"], "logged", "…and the call is logged")
    acts = srv.req("GET", "/api/v1/activities?contact_id=1", token=tok)[2]["activities"]
    t.check(acts and all(x["contact_id"] == "1" for x in acts),
            "GET /api/v1/activities?contact_id=1 lists only Alice's activities", got=acts)
    acts2 = srv.req("GET", "/api/v1/activities?contact_id=2", token=tok)[2]["activities"]
    t.check(all(x["contact_id"] == "2" for x in acts2), "contact_id filters activities")

    # ---- unresolved (no contact) and resolve with a new contact ----
    t.expect(srv.req("POST", "/api/v1/calls/api-s2/log", token=tok, json_body={}), 202,
             "logging a call with no contact is queued")
    u = logged_within(t, srv, "api-s2")
    t.eq((u["status"], u["reason"]), ("unresolved", "no_contact"),
         "a call with no contact becomes unresolved: no_contact")
    ul = t.expect(srv.req("GET", "/api/v1/unresolved", token=tok), 200,
                  "GET /api/v1/unresolved")["unresolved"]
    t.eq([(x["call"]["session_id"], x["reason"]) for x in ul], [("api-s2", "no_contact")],
         "the unresolved queue holds the call with its reason")
    t.eq(sorted(ul[0]), ["call", "candidates", "reason"], "unresolved items are {call, reason, "
         "candidates}")
    t.expect(srv.req("POST", "/api/v1/unresolved/api-s1/resolve", token=tok, json_body={}),
             409, "resolving a call that is not unresolved is 409")
    t.expect(srv.req("POST", "/api/v1/unresolved/api-s2/resolve", token=tok,
                     json_body={"new_contact": "Walk-in Customer"}), 202,
             "POST /api/v1/unresolved/{ref}/resolve with new_contact")
    rs = logged_within(t, srv, "api-s2")
    t.eq(rs["status"], "logged", "the resolved call is logged")
    t.eq(rs["contact"]["name"], "Walk-in Customer", "…to the new placeholder contact")
    t.eq(srv.req("GET", "/api/v1/unresolved", token=tok)[2], {"unresolved": []},
         "the unresolved queue is empty again")

    # a wrong choice: the request is cleared and the call shows why ("error")
    srv.req("POST", "/api/v1/import", token=tok,
            json_body={"records": [rc_record(41, "api-wrong", "+16505550101", minutes_ago=6)]})
    t.expect(srv.req("POST", "/api/v1/calls/api-wrong/log", token=tok,
                     json_body={"contact_id": "99999"}), 202,
             "a log to an unknown contact id is queued")
    w = t.poll(lambda: (lambda c: c if not c.get("queued") else None)(
        srv.req("GET", "/api/v1/calls/api-wrong", token=tok)[2]),
        "the worker takes the request for api-wrong")
    t.check(w["status"] == "unlogged" and isinstance(w.get("error"), str) and w["error"],
            "…then cleared: still unlogged, with an \"error\" saying why", got=w)
    t.eq([a for a in srv.req("GET", "/api/v1/activities", token=tok)[2]["activities"]
          if a["session_id"] == "api-wrong"], [], "…and nothing was written to the CRM")
    t.expect(srv.req("POST", "/api/v1/calls/api-wrong/log", token=tok, json_body={}), 202,
             "the call can be logged again with a right choice")
    t.eq(logged_within(t, srv, "api-wrong")["status"], "logged", "…and is logged")

    # ---- contacts: add and find; multiple contacts -> resolve with contact_id ----
    c1 = t.expect(srv.req("POST", "/api/v1/contacts", token=tok,
                          json_body={"name": "Dana Twin", "phones": ["(415) 555-0177"],
                                     "associations": ["Twin deal"]}), 201,
                  "POST /api/v1/contacts")
    t.eq(sorted(c1), ["associations", "id", "name", "phones"],
         "a contact is {id, name, phones, associations}")
    t.eq(c1["phones"], ["+14155550177"], "the phone is stored as E.164 in the user's region")
    t.eq([x["name"] for x in c1["associations"]], ["Twin deal"], "the association is created")
    c2 = t.expect(srv.req("POST", "/api/v1/contacts", token=tok,
                          json_body={"name": "Dee Twin", "phones": ["+1 415.555.0177"]}), 201,
                  "a second contact with the same number")
    f = t.expect(srv.req("GET", "/api/v1/contacts?number=4155550177", token=tok), 200,
                 "GET /api/v1/contacts?number=")["contacts"]
    t.eq(sorted(x["id"] for x in f), sorted([c1["id"], c2["id"]]),
         "find by number returns both contacts whatever the format")
    t.eq(srv.req("GET", "/api/v1/contacts?number=%2B19995550000", token=tok)[2],
         {"contacts": []}, "an unknown number finds nobody")
    srv.req("POST", "/api/v1/import", token=tok,
            json_body={"records": [rc_record(40, "api-twin", "+14155550177", minutes_ago=5)]})
    t.expect(srv.req("POST", "/api/v1/calls/api-twin/log", token=tok, json_body={}), 202,
             "logging a call of two contacts is queued")
    tw = logged_within(t, srv, "api-twin")
    t.eq((tw["status"], tw["reason"]), ("unresolved", "multiple_contacts"),
         "…and becomes unresolved: multiple_contacts")
    ul = srv.req("GET", "/api/v1/unresolved", token=tok)[2]["unresolved"]
    t.eq(sorted(x["id"] for x in ul[0]["candidates"]), sorted([c1["id"], c2["id"]]),
         "the candidates are both contacts")
    t.expect(srv.req("POST", "/api/v1/unresolved/api-twin/resolve", token=tok,
                     json_body={"contact_id": c1["id"]}), 202,
             "resolve with contact_id (c1 has one association: chosen by itself)")
    tw = logged_within(t, srv, "api-twin")
    t.eq((tw["status"], tw["contact"]["id"]), ("logged", c1["id"]),
         "the call is logged to the chosen contact")

    # ---- fields, settings ----
    fl = t.expect(srv.req("GET", "/api/v1/fields", token=tok), 200, "GET /api/v1/fields")
    t.eq([x["name"] for x in fl["fields"]], ["disposition"], "the embedded CRM declares "
         "disposition")
    s = t.expect(srv.req("GET", "/api/v1/settings", token=tok), 200, "GET /api/v1/settings")
    t.eq(s, {"auto_log": "off", "auto_log_form_only": "off", "phone_formats": "",
             "region": "US"}, "the default settings")
    s2 = t.expect(srv.req("PUT", "/api/v1/settings", token=tok,
                          json_body={"phone_formats": "(***) ***-****", "region": "GB"}), 200,
                  "PUT /api/v1/settings")
    t.eq(s2, {"auto_log": "off", "auto_log_form_only": "off",
              "phone_formats": "(***) ***-****", "region": "GB"},
         "PUT answers with every setting, the new ones included")
    t.eq(srv.req("GET", "/api/v1/settings", token=tok)[2], s2, "the settings are saved")
    srv.req("PUT", "/api/v1/settings", token=tok, json_body={"region": "US"})

    # ---- the history follows the contacts: lookups are remembered, never past a change ----
    srv.req("POST", "/api/v1/import", token=tok,
            json_body={"records": [rc_record(40, "api-memo", "+14155550888", minutes_ago=1)]})

    def memo_call():
        """The call as every server thread shows it: a few pages, one call each time."""
        seen = []
        for _ in range(6):
            page = srv.req("GET", "/api/v1/calls?limit=500", token=tok)[2]["calls"]
            seen += [c for c in page if c["session_id"] == "api-memo"]
        t.check(len(seen) == 6 and all(c == seen[0] for c in seen),
                "every page shows the call the same way", got=seen)
        return seen[0]

    c = memo_call()
    t.eq((c["contact"], c["matches"]), (None, 0), "a call from an unknown number: no contact")
    k = t.expect(srv.req("POST", "/api/v1/contacts", token=tok,
                         json_body={"name": "Memo One", "phones": ["+14155550888"]}), 201,
                 "adding a contact with the call's number")
    c = memo_call()
    t.eq((c["contact"], c["matches"]), ({"id": k["id"], "name": "Memo One"}, 1),
         "the history shows the new contact at once, on every thread")
    t.cli("contacts", "add", "--name", "Memo Two", "--phone", "(415) 555-0888")
    c = memo_call()
    t.eq((c["contact"], c["matches"]), (None, 2),
         "a contact another process added counts too: two matches, no single contact")
    srv.req("PUT", "/api/v1/calls/api-memo/note", token=tok, json_body={"text": "memo note"})
    t.eq(memo_call()["note"], "memo note", "a new note shows on every page at once")
    t.cli("note", "api-memo", "from the CLI")
    t.eq(memo_call()["note"], "from the CLI", "a note another process wrote shows at once")
    srv.req("POST", "/api/v1/import", token=tok,
            json_body={"records": [rc_record(41, "api-memo2", "+14155550889", minutes_ago=0)]})
    firsts = [srv.req("GET", "/api/v1/calls?limit=500", token=tok)[2]["calls"][0]["session_id"]
              for _ in range(6)]
    t.eq(firsts, ["api-memo2"] * 6, "a new call heads every page at once")

    # ---- metrics ----
    st, h, m = srv.req("GET", "/metrics")
    t.check(st == 200 and h.get("content-type", "").startswith("text/plain"),
            "GET /metrics answers Prometheus text")
    t.check("crmlog_calls_logged_total" in m, "metrics count logged calls")

    # ---- after stopping: the same store through the CLI ----
    api_calls = srv.req("GET", "/api/v1/calls?limit=500", token=tok)[2]["calls"]
    api_one = srv.req("GET", "/api/v1/calls/api-s1", token=tok)[2]
    api_unres = srv.req("GET", "/api/v1/unresolved", token=tok)[2]["unresolved"]
    api_acts = srv.req("GET", "/api/v1/activities", token=tok)[2]["activities"]
    api_set = srv.req("GET", "/api/v1/settings", token=tok)[2]
    api_fields = srv.req("GET", "/api/v1/fields", token=tok)[2]["fields"]
    api_find = srv.req("GET", "/api/v1/contacts?number=4155550177", token=tok)[2]["contacts"]
    t.stop(srv)

    cli_calls = t.cli_json("calls", "--json")
    by_id = {c["id"]: c for c in cli_calls}
    cli_one = by_id.get(api_one["id"])
    t.check(cli_one is not None, "the CLI lists the call")
    for k in sorted(set(api_one) | set(cli_one)):
        if k not in api_one or k not in cli_one:
            t.fail("key %r is only in the %s's call" % (k, "API" if k in api_one else "CLI"),
                   api=api_one, cli=cli_one)
        if api_one[k] != cli_one[k]:
            t.fail("key %r differs between the API and the CLI" % k, api=api_one[k],
                   cli=cli_one[k])
    t.ok("GET /api/v1/calls/{id} equals `crmlog calls --json` key by key")
    t.eq([c["id"] for c in api_calls], [c["id"] for c in cli_calls],
         "the API's history and the CLI's are the same calls in the same order")
    for a_c in api_calls:
        if a_c != by_id[a_c["id"]]:
            t.fail("call %s differs between API and CLI" % a_c["id"], api=a_c,
                   cli=by_id[a_c["id"]])
    t.ok("every call of the history is the same in the API and the CLI")
    t.eq(api_unres, t.cli_json("unresolved", "--json"), "unresolved: API = CLI")
    t.eq(api_acts, t.cli_json("activities", "--json"), "activities: API = CLI")
    t.eq(api_set, t.cli_json("settings", "--json"), "settings: API = CLI")
    t.eq(api_fields, t.cli_json("fields", "--json"), "fields: API = CLI")
    t.eq(api_find, t.cli_json("contacts", "find", "4155550177", "--json"),
         "contacts find: API = CLI")


main(run)
