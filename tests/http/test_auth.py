"""Users and isolation: tokens are shown once and stored only as hashes; every /api/v1 route
needs the user's bearer token; a second user sees and changes nothing of the first user's."""
import hashlib
import os
import sqlite3
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main, rc_record  # noqa: E402

USER_ROUTES = [
    ("GET", "/api/v1/me"), ("POST", "/api/v1/import"), ("GET", "/api/v1/calls"),
    ("GET", "/api/v1/calls/1"), ("PUT", "/api/v1/calls/1/note"),
    ("POST", "/api/v1/calls/1/log"), ("GET", "/api/v1/unresolved"),
    ("POST", "/api/v1/unresolved/1/resolve"), ("GET", "/api/v1/contacts?number=6505550101"),
    ("POST", "/api/v1/contacts"), ("GET", "/api/v1/fields"), ("GET", "/api/v1/activities"),
    ("GET", "/api/v1/settings"), ("PUT", "/api/v1/settings"),
]


def body_for(method, path):
    if method == "GET":
        return None
    if path.endswith("/note"):
        return {"text": "sneaky note"}
    if path == "/api/v1/settings":
        return {"region": "GB"}
    if path == "/api/v1/contacts":
        return {"name": "Intruder", "phones": ["+16505550999"]}
    if path == "/api/v1/import":
        return {"records": [rc_record(99, "intruder-s", "+16505550101")]}
    return {}


def files_of(db):
    return [p for p in (db, db + "-wal", db + "-journal", db + "-shm") if os.path.exists(p)]


def token_nowhere(t, db, tokens, when):
    blobs = b""
    for p in files_of(db):
        with open(p, "rb") as f:
            blobs += f.read()
    for tok in tokens:
        if tok.encode() in blobs:
            t.fail("%s: the token %s… is in the store's files" % (when, tok[:9]))
        hexpart = tok.split("_", 1)[-1]
        if hexpart.encode() in blobs:
            t.fail("%s: the token's secret part is in the store's files" % when)
    con = sqlite3.connect(db)
    try:
        dump = "\n".join(con.iterdump())
    finally:
        con.close()
    for tok in tokens:
        if tok in dump or tok.split("_", 1)[-1] in dump:
            t.fail("%s: the token is in the store (sqlite3 dump)" % when)
    t.ok("%s: no token text in the store's files nor its SQL dump" % when)


def view(srv, tok):
    """Everything one user can see."""
    out = {}
    for p in ("/api/v1/calls?limit=500", "/api/v1/unresolved", "/api/v1/settings",
              "/api/v1/activities", "/api/v1/me"):
        st, _, b = srv.req("GET", p, token=tok)
        out[p] = (st, b)
    return out


def run(t):
    t.seed()
    tok_a = t.token
    # users add prints the token once, as JSON and as text
    rc, out, _ = t.cli("users", "add", "bob", "--extension", "102")
    toks = [w for w in out.split() if w.startswith("crml_")]
    t.check(len(toks) == 1, "`users add` prints the token once", got=out)
    tok_b = toks[0]
    _, lst, _ = t.cli("users", "list", "--json")
    t.check("crml_" not in lst, "`users list` shows no token", got=lst)
    tok_c = t.add_user("carol", extension=103)
    t.check(tok_c.startswith("crml_") and tok_c not in (tok_a, tok_b),
            "users add --json prints a new token")
    token_nowhere(t, t.db, [tok_a, tok_b, tok_c], "after users add")
    con = sqlite3.connect(t.db)
    try:
        stored = dict(con.execute("SELECT name, token_hash FROM users").fetchall())
    finally:
        con.close()
    t.eq(stored, {n: hashlib.sha256(k.encode()).hexdigest()
                  for n, k in (("agent", tok_a), ("bob", tok_b), ("carol", tok_c))},
         "each user's token is stored as its SHA-256, in lowercase hex")

    srv = t.start()
    # ---- every /api/v1 user route needs the bearer token ----
    bad_auth = [("no Authorization", None), ("a wrong token", "crml_" + "0" * 40),
                ("the events token", t.events_token)]
    for method, path in USER_ROUTES:
        for what, tok in bad_auth:
            st, h, b = srv.req(method, path, token=tok, json_body=body_for(method, path))
            t.expect((st, h, b), 401, "%s %s with %s is 401" % (method, path, what),
                     code="unauthorized")
            if "bearer" not in h.get("www-authenticate", "").lower():
                t.fail("%s %s: the 401 has no WWW-Authenticate: Bearer" % (method, path))
    for hdr in ("Basic " + "YWdlbnQ6eA==", "Bearer", "Bearer  ", tok_a, "bearer " + tok_a + "x"):
        st, _, _ = srv.req("GET", "/api/v1/me", headers={"Authorization": hdr})
        t.eq(st, 401, "Authorization: %r is 401" % hdr[:20])
    st, _, me = srv.req("GET", "/api/v1/me", headers={"Authorization": "bearer " + tok_a})
    t.eq((st, me.get("name")), (200, "agent"), "the scheme name is case-insensitive")
    t.eq(srv.req("GET", "/api/v1/me", token=tok_b)[2]["name"], "bob", "bob's token is bob")

    # ---- the first user's data ----
    t.expect(srv.req("POST", "/api/v1/import", token=tok_a, json_body={"records": [
        rc_record(1, "iso-1", "+16505550101", minutes_ago=20),
        rc_record(2, "iso-2", "+14155550999", minutes_ago=19),
        rc_record(3, "iso-3", "+16505550101", minutes_ago=18)]}), 200, "agent imports 3 calls")
    t.expect(srv.req("PUT", "/api/v1/calls/iso-1/note", token=tok_a,
                     json_body={"text": "agent's secret note"}), 200, "agent notes iso-1")
    t.expect(srv.req("PUT", "/api/v1/settings", token=tok_a,
                     json_body={"phone_formats": "(***) ***-****"}), 200, "agent's settings")
    srv.req("POST", "/api/v1/calls/iso-2/log", token=tok_a, json_body={})
    srv.req("POST", "/api/v1/calls/iso-3/log", token=tok_a, json_body={})
    t.poll(lambda: srv.req("GET", "/api/v1/unresolved", token=tok_a)[2]["unresolved"] and
           srv.req("GET", "/api/v1/calls/iso-3", token=tok_a)[2]["status"] == "logged",
           "agent's iso-2 is unresolved and iso-3 logged")
    calls_a = srv.req("GET", "/api/v1/calls?limit=500", token=tok_a)[2]["calls"]
    ids_a = [c["id"] for c in calls_a]
    before = view(srv, tok_a)

    # ---- bob sees none of it ----
    t.eq(srv.req("GET", "/api/v1/calls?limit=500", token=tok_b)[2],
         {"calls": [], "next": None}, "bob's history is empty")
    t.eq(srv.req("GET", "/api/v1/unresolved", token=tok_b)[2], {"unresolved": []},
         "bob's unresolved queue is empty")
    t.eq(srv.req("GET", "/api/v1/settings", token=tok_b)[2]["phone_formats"], "",
         "bob's settings are his own defaults")
    for cid in ids_a:
        for ref in sorted({str(cid), [c for c in calls_a if c["id"] == cid][0]["session_id"]}):
            for method, suffix, body in (("GET", "", None),
                                         ("PUT", "/note", {"text": "bob was here"}),
                                         ("POST", "/log", {}), ("POST", "/resolve", {})):
                base = "/api/v1/unresolved/" if suffix == "/resolve" else "/api/v1/calls/"
                st, h, b = srv.req(method, base + ref + suffix, token=tok_b, json_body=body)
                if st != 404:
                    t.fail("bob's %s %s%s%s is %d, expected 404" % (method, base, ref, suffix,
                                                                    st))
    t.ok("bob gets 404 for each of agent's %d calls (by id and session id) on GET, note, log, "
         "resolve" % len(ids_a))
    # bob's own call with the same session id as agent's is his, and separate
    t.expect(srv.req("POST", "/api/v1/import", token=tok_b, json_body={"records": [
        rc_record(1, "iso-1", "+16505550101", minutes_ago=20)]}), 200,
        "bob imports a call with agent's session id")
    bc = t.expect(srv.req("GET", "/api/v1/calls/iso-1", token=tok_b), 200,
                  "bob's GET of that session id is his own call")
    t.check(bc["note"] is None and bc["id"] not in ids_a, "…not agent's (no note, new id)",
            got=bc)
    t.expect(srv.req("PUT", "/api/v1/calls/iso-1/note", token=tok_b,
                     json_body={"text": "bob's own note"}), 200, "bob notes his own iso-1")
    t.expect(srv.req("PUT", "/api/v1/settings", token=tok_b, json_body={"region": "GB"}), 200,
             "bob changes his own settings")
    t.expect(srv.req("GET", "/api/v1/calls/iso-1", token=tok_c), 404,
             "carol cannot see bob's call either")
    after = view(srv, tok_a)
    for k in before:
        if before[k] != after[k]:
            t.fail("agent's %s changed while bob worked" % k, before=before[k], after=after[k])
    t.ok("agent's calls, notes, unresolved, settings and activities are unchanged by bob")
    t.eq(srv.req("GET", "/api/v1/calls/iso-1", token=tok_a)[2]["note"], "agent's secret note",
         "agent's note is still agent's")

    # ---- a new token replaces the old one at once ----
    new_a = t.cli_json("users", "token", "agent", "--json")["token"]
    t.check(new_a != tok_a, "users token gives a new token")
    t.expect(srv.req("GET", "/api/v1/me", token=tok_a), 401,
             "the old token is refused at once (no restart)")
    t.eq(srv.req("GET", "/api/v1/me", token=new_a)[2].get("name"), "agent",
         "the new token works at once")
    # docs/api.md: of the embedded CRM's activities a user sees only those of their own logs
    # (they hold notes)
    srv.req("POST", "/api/v1/calls/iso-1/log", token=new_a, json_body={})
    t.poll(lambda: srv.req("GET", "/api/v1/calls/iso-1", token=new_a)[2]["status"] == "logged",
           "agent's noted call iso-1 is logged")
    mine = srv.req("GET", "/api/v1/activities", token=new_a)[2]["activities"]
    t.check(any("agent's secret note" in x["body"] for x in mine),
            "agent's activities hold agent's note", got=mine)
    seen = srv.req("GET", "/api/v1/activities", token=tok_b)[2]
    t.eq(seen, {"activities": []}, "bob sees none of agent's activities (nor the note in them)")
    seen = srv.req("GET", "/api/v1/activities?contact_id=1", token=tok_b)[2]
    t.eq(seen, {"activities": []}, "…not even filtered by agent's contact")
    t.stop(srv)
    token_nowhere(t, t.db, [tok_a, new_a, tok_b, tok_c], "after serving")


main(run)
