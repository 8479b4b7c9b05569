"""Limits and bad input: each bad request gets a clear 4xx JSON error {error:{code,message}}
and changes nothing; idle and slow connections are dropped after --header-timeout-s; at most
--per-ip-limit connections from one address are served."""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main, rc_record  # noqa: E402

TIMEOUT_S = 2
PER_IP = 4


def snapshot(srv, tok):
    out = {}
    for p in ("/api/v1/calls?limit=500", "/api/v1/settings", "/api/v1/activities",
              "/api/v1/unresolved"):
        out[p] = srv.req("GET", p, token=tok, record=False)[2]
    out["contacts"] = srv.req("GET", "/api/v1/contacts?number=%2B16505550101", token=tok,
                              record=False)[2]
    return out


def closed_within(t, s, seconds):
    """True when the server closes s (EOF or reset) within seconds."""
    s.settimeout(seconds)
    try:
        while True:
            b = s.recv(4096)
            if not b:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def run(t):
    t.seed()
    tok = t.token
    srv = t.start("--body-limit", 2048, "--header-timeout-s", TIMEOUT_S, "--per-ip-limit",
                  PER_IP)
    t.expect(srv.req("POST", "/api/v1/import", token=tok, json_body={"records": [
        rc_record(1, "lim-1", "+16505550101")]}), 200, "import one call")
    t.expect(srv.req("PUT", "/api/v1/calls/lim-1/note", token=tok,
                     json_body={"text": "original note"}), 200, "a note to keep")
    before = snapshot(srv, tok)

    J = "application/json"
    cases = [
        # (what, method, path, kwargs, status, code, words the message must hold)
        ("malformed JSON", "PUT", "/api/v1/calls/lim-1/note",
         dict(body='{"text":\n  "x",,}', content_type=J), 400, "bad_request",
         ["line 2", "column"]),
        ("malformed JSON (settings)", "PUT", "/api/v1/settings",
         dict(body='{"auto_log": on}', content_type=J), 400, "bad_request",
         ["line 1", "column"]),
        ("malformed JSON (log)", "POST", "/api/v1/calls/lim-1/log",
         dict(body='{"note": "x"', content_type=J), 400, "bad_request", ["line", "column"]),
        ("a JSON array, not an object", "PUT", "/api/v1/calls/lim-1/note",
         dict(body='["x"]', content_type=J), 400, "bad_request", []),
        ("invalid UTF-8", "PUT", "/api/v1/calls/lim-1/note",
         dict(body=b'{"text": "\xff\xfe"}', content_type=J), 400, "bad_request", []),
        ("a duplicate key", "PUT", "/api/v1/calls/lim-1/note",
         dict(body='{"text": "a", "text": "b"}', content_type=J), 400, "bad_request", []),
        ("note text of the wrong type", "PUT", "/api/v1/calls/lim-1/note",
         dict(json_body={"text": 42}), 400, "bad_request", ["text"]),
        ("a note without text", "PUT", "/api/v1/calls/lim-1/note",
         dict(json_body={}), 400, "bad_request", ["text"]),
        ("a setting of the wrong type", "PUT", "/api/v1/settings",
         dict(json_body={"auto_log": True}), 400, "bad_request", ["auto_log"]),
        ("log fields of the wrong type", "POST", "/api/v1/calls/lim-1/log",
         dict(json_body={"fields": ["disposition"]}), 400, "bad_request", ["fields"]),
        ("phones of the wrong type", "POST", "/api/v1/contacts",
         dict(json_body={"name": "X", "phones": "+16505550199"}), 400, "bad_request",
         ["phones"]),
        ("an unknown field in a note", "PUT", "/api/v1/calls/lim-1/note",
         dict(json_body={"text": "x", "colour": "red"}), 400, "bad_request", ["colour"]),
        ("an unknown field in a log", "POST", "/api/v1/calls/lim-1/log",
         dict(json_body={"contact": "1"}), 400, "bad_request", ["contact"]),
        ("an unknown field in a contact", "POST", "/api/v1/contacts",
         dict(json_body={"name": "X", "phones": ["+16505550199"], "email": "x@y"}), 400,
         "bad_request", ["email"]),
        ("an unknown log field", "POST", "/api/v1/calls/lim-1/log",
         dict(json_body={"fields": {"mood": "happy"}}), 422, "invalid", ["mood"]),
        ("a log field value outside its choices", "POST", "/api/v1/calls/lim-1/log",
         dict(json_body={"fields": {"disposition": "exploded"}}), 422, "invalid",
         ["exploded"]),
        ("contact_id and new_contact together", "POST", "/api/v1/calls/lim-1/log",
         dict(json_body={"contact_id": "1", "new_contact": "Y"}), 422, "invalid", []),
        ("a bad setting value", "PUT", "/api/v1/settings",
         dict(json_body={"auto_log": "maybe"}), 422, "invalid", ["auto_log", "maybe"]),
        ("a good and a bad setting", "PUT", "/api/v1/settings",
         dict(json_body={"region": "GB", "auto_log": "maybe"}), 422, "invalid", ["auto_log"]),
        ("a bad region", "PUT", "/api/v1/settings",
         dict(json_body={"region": "Narnia"}), 422, "invalid", ["region"]),
        ("too many phone formats", "PUT", "/api/v1/settings",
         dict(json_body={"phone_formats": "***,****,*****,******"}), 422, "invalid", []),
        ("a bad phone number (contacts add)", "POST", "/api/v1/contacts",
         dict(json_body={"name": "X", "phones": ["call me maybe"]}), 422, "invalid", []),
        ("an extension as a phone number", "POST", "/api/v1/contacts",
         dict(json_body={"name": "X", "phones": ["12"]}), 422, "invalid", []),
        ("a bad phone number (contacts find)", "GET", "/api/v1/contacts?number=abc",
         {}, 422, "invalid", ["abc"]),
        ("no number to find", "GET", "/api/v1/contacts", {}, 400, "bad_request", ["number"]),
        ("an empty contact name", "POST", "/api/v1/contacts",
         dict(json_body={"name": "", "phones": ["+16505550199"]}), 422, "invalid", []),
        ("nine phone numbers", "POST", "/api/v1/contacts",
         dict(json_body={"name": "X", "phones": ["+1650555%04d" % i for i in range(9)]}),
         422, "invalid", []),
        ("a body over --body-limit", "PUT", "/api/v1/calls/lim-1/note",
         dict(json_body={"text": "x" * 3000}), 413, "payload_too_large", ["2048"]),
        ("settings over --body-limit", "PUT", "/api/v1/settings",
         dict(json_body={"phone_formats": "*" * 3000}), 413, "payload_too_large", []),
        ("text/plain", "PUT", "/api/v1/calls/lim-1/note",
         dict(body='{"text":"x"}', content_type="text/plain"), 415,
         "unsupported_media_type", ["application/json"]),
        ("a body without Content-Type", "PUT", "/api/v1/calls/lim-1/note",
         dict(body='{"text":"x"}'), 415, "unsupported_media_type", []),
        ("form data to a JSON route", "PUT", "/api/v1/settings",
         dict(body="auto_log=on", content_type="application/x-www-form-urlencoded"), 415,
         "unsupported_media_type", []),
        ("an unknown route", "GET", "/api/v1/nothing-here", {}, 404, "not_found", []),
        ("an unknown call", "PUT", "/api/v1/calls/nope-999/note",
         dict(json_body={"text": "x"}), 404, "not_found", []),
        ("a wrong method", "DELETE", "/api/v1/calls/lim-1", {}, 405, "method_not_allowed",
         ["GET"]),
        ("a wrong method (settings)", "POST", "/api/v1/settings",
         dict(json_body={"auto_log": "on"}), 405, "method_not_allowed", []),
    ]
    for what, method, path, kw, status, code, words in cases:
        st, h, b = srv.req(method, path, token=tok, **kw)
        t.expect((st, h, b), status, "%s: %d %s" % (what, status, code), code=code)
        msg = b["error"]["message"]
        missing = [w for w in words if w.lower() not in msg.lower()]
        if missing:
            t.fail("%s: the message %r does not say %s" % (what, msg, missing))
        if status == 405 and "allow" not in h:
            t.fail("%s: the 405 has no Allow header" % what)
    t.expect(srv.req("GET", "/api/v1/me", token="crml_" + "9" * 40), 401, "a bad token: 401",
             code="unauthorized")
    # a chunked body over the limit (no Content-Length to refuse it by)
    c = srv.conn()
    c.putrequest("PUT", "/api/v1/calls/lim-1/note")
    c.putheader("Authorization", "Bearer " + tok)
    c.putheader("Content-Type", J)
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    data = json.dumps({"text": "y" * 5000}).encode()
    c.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
    r = c.getresponse()
    rb = r.read()
    c.close()
    t.eq(r.status, 413, "a chunked body over --body-limit is 413")
    t.eq(json.loads(rb)["error"]["code"], "payload_too_large", "…with a JSON error")
    # a Content-Length over the limit is answered before the body is sent
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(("PUT /api/v1/calls/lim-1/note HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
               "Content-Length: 2000000\r\n\r\n" % tok).encode())
    got = b""
    while b"payload_too_large" not in got:
        chunk = s.recv(4096)
        if not chunk:
            break
        got += chunk
    s.close()
    t.check(got.startswith(b"HTTP/1.1 413") and b"payload_too_large" in got,
            "Content-Length: 2000000 is refused with a JSON 413 before the body is sent",
            got=got[:300])
    # an unknown setting is a bad key: 422 naming it (docs/api.md)
    b = t.expect(srv.req("PUT", "/api/v1/settings", token=tok, json_body={"colour": "red"}),
                 422, "an unknown setting is 422", code="invalid")
    t.check("colour" in b["error"]["message"], "…naming the key", got=b)
    after = snapshot(srv, tok)
    for k in before:
        if before[k] != after[k]:
            t.fail("the refused requests changed %s" % k, before=before[k], after=after[k])
    t.ok("none of the refused requests changed calls, settings, activities, unresolved or "
         "contacts")

    # ---- header timeout ----
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    t0 = time.monotonic()
    closed = closed_within(t, s, TIMEOUT_S + 8)
    took = time.monotonic() - t0
    s.close()
    t.check(closed, "a connection that sends nothing is closed (after %.1fs)" % took)
    t.check(took >= TIMEOUT_S - 0.5, "…not before --header-timeout-s %d (%.1fs)"
            % (TIMEOUT_S, took))
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    t0 = time.monotonic()
    closed = closed_within(t, s, TIMEOUT_S + 8)
    s.close()
    t.check(closed, "a connection that stops halfway through its headers is closed (%.1fs)"
            % (time.monotonic() - t0))
    # keep-alive idle after a request
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    got = b""
    while b'"ok"' not in got:
        got += s.recv(4096)
    t.check(closed_within(t, s, TIMEOUT_S + 8),
            "an idle keep-alive connection is closed after the timeout")
    s.close()

    # ---- per-IP connection limit ----
    socks = [socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(10)]
    served, refused = 0, 0
    for s in socks:
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            s.settimeout(TIMEOUT_S + 5)
            b = s.recv(4096)
        except (ConnectionResetError, BrokenPipeError, socket.timeout):
            b = b""
        if b.startswith(b"HTTP/1.1 200"):
            served += 1
        else:
            refused += 1
    for s in socks:
        s.close()
    t.check(served <= PER_IP, "with --per-ip-limit %d at most %d of 10 connections are served "
            "(%d served, %d closed without an answer)" % (PER_IP, PER_IP, served, refused))
    t.check(served >= 1, "…and the first ones are served")
    def healthy():
        try:  # the server frees a slot once it sees the close: refused until then
            return srv.req("GET", "/healthz", record=False, timeout=5)[0] == 200
        except OSError:
            return False
    t.poll(healthy, "once they are closed a new connection is served", timeout=10,
           interval=0.2)
    t.ok("once the connections are closed a new one is served")
    t.stop(srv)


main(run)
