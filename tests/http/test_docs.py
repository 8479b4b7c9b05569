"""docs/api.md and the server agree: every `### METHOD /path` heading answers something other
than 404/405 with a valid token, and every route the server answers (probed from a list of
known and plausible routes) has its heading."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import main  # noqa: E402

HEADING = re.compile(r"^###\s+(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+(/\S*)\s*$")

# Routes the server is known to have (src/http/api.c) and routes a client might plausibly
# try. Each one the server answers must be documented.
PROBES = [
    ("GET", "/healthz"), ("GET", "/metrics"), ("GET", "/api/v1/me"),
    ("POST", "/api/v1/import"), ("GET", "/api/v1/calls"), ("GET", "/api/v1/calls/{ref}"),
    ("PUT", "/api/v1/calls/{ref}/note"), ("POST", "/api/v1/calls/{ref}/log"),
    ("GET", "/api/v1/unresolved"), ("POST", "/api/v1/unresolved/{ref}/resolve"),
    ("GET", "/api/v1/contacts"), ("POST", "/api/v1/contacts"), ("GET", "/api/v1/fields"),
    ("GET", "/api/v1/activities"), ("GET", "/api/v1/settings"), ("PUT", "/api/v1/settings"),
    ("POST", "/api/v1/events"), ("POST", "/api/v1/cti/{token}"),
    # plausible, not known to exist
    ("GET", "/"), ("GET", "/api/v1"), ("GET", "/api/v1/"), ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"), ("GET", "/api/v1/messages"), ("GET", "/api/v1/sms"),
    ("DELETE", "/api/v1/calls/{ref}"), ("PUT", "/api/v1/calls/{ref}"),
    ("PATCH", "/api/v1/calls/{ref}"), ("GET", "/api/v1/calls/{ref}/note"),
    ("POST", "/api/v1/calls/{ref}/note"), ("DELETE", "/api/v1/calls/{ref}/note"),
    ("GET", "/api/v1/calls/{ref}/log"), ("GET", "/api/v1/unresolved/{ref}"),
    ("GET", "/api/v1/contacts/{ref}"), ("POST", "/api/v1/settings"),
    ("PATCH", "/api/v1/settings"), ("GET", "/api/v1/events"), ("GET", "/api/v1/cti/{token}"),
    ("POST", "/api/v1/log"), ("POST", "/api/v1/autolog"), ("GET", "/api/v1/status"),
    ("GET", "/health"), ("GET", "/api/v1/healthz"), ("GET", "/api/v1/metrics"),
    ("POST", "/api/v1/import/"), ("GET", "/api/v1/calls/"), ("GET", "/api/v2/calls"),
]


def norm(path):
    """/api/v1/calls/{id} and /api/v1/calls/{ref} are the same route."""
    return re.sub(r"\{[^}/]*\}", "{}", path.split("?")[0])


def run(t):
    t.seed()
    path = os.path.join(t.source_dir, "docs", "api.md")
    if not os.path.exists(path):
        t.fail("docs/api.md does not exist (looked in %s)" % path)
    with open(path, encoding="utf-8") as f:
        doc = f.read()
    documented = []
    for line in doc.splitlines():
        m = HEADING.match(line.strip())
        if m:
            documented.append((m.group(1), m.group(2)))
    t.check(len(documented) >= 10, "docs/api.md has `### METHOD /path` headings (%d)"
            % len(documented), got=documented)
    docset = {(m, norm(p)) for m, p in documented}
    t.eq(len(docset), len(documented), "no route is documented twice")

    srv = t.start()
    calls = srv.req("GET", "/api/v1/calls?limit=500", token=t.token)[2]["calls"]
    ref = str([c for c in calls if c["type"] == "call"][-1]["id"])

    def send(method, p):
        url = re.sub(r"\{token\}", t.events_token, p)
        url = re.sub(r"\{[^}/]*\}", ref, url)
        tok = t.events_token if url.startswith("/api/v1/events") else t.token
        body = {} if method in ("POST", "PUT", "PATCH") else None
        return srv.req(method, url, token=tok, json_body=body)

    for method, p in documented:
        st = send(method, p)[0]
        t.check(st not in (404, 405), "documented %s %s is served (status %d)" % (method, p, st))

    for method, p in PROBES:
        st = send(method, p)[0]
        if st in (404, 405):
            continue
        t.check((method, norm(p)) in docset,
                "served %s %s (status %d) is documented in docs/api.md" % (method, p, st))
    t.stop(srv)


main(run)
