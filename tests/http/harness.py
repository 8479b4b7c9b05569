"""Shared helpers for the server's integration tests (tests/http/test_*.py).

Imported, not run: the name does not start with test_, so CMake's glob does not register it.

Usage in a test:

    import os, sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from harness import main

    def run(t):                       # t: a Test, with a temp dir and a seeded store
        srv = t.start()               # crmlog serve on 127.0.0.1:0
        st, hdr, body = srv.req("GET", "/api/v1/me", token=t.token)
        t.check(st == 200, "GET /api/v1/me answers 200")
        t.stop(srv)                   # SIGTERM, exit 0 within the grace time

    main(run)

Every check prints `ok - ...`; the first failure prints the last request sent and the answer
received (and the server's stderr tail) and exits 1. The temp dir is always removed and every
server started is always killed.
"""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

# ASan builds are several times slower: every wait is a deadline, none is a fixed sleep.
START_TIMEOUT = float(os.environ.get("CRMLOG_TEST_START_TIMEOUT", "30"))
REQ_TIMEOUT = float(os.environ.get("CRMLOG_TEST_REQ_TIMEOUT", "30"))
CLI_TIMEOUT = 60


class Failure(Exception):
    pass


def _short(x, n=2000):
    if isinstance(x, (bytes, bytearray)):
        x = x.decode("utf-8", "replace")
    if not isinstance(x, str):
        try:
            x = json.dumps(x, sort_keys=True)
        except (TypeError, ValueError):
            x = repr(x)
    return x if len(x) <= n else x[:n] + "...(%d bytes)" % len(x)


class Server:
    """One `crmlog serve` subprocess. stdout and stderr go to files in the test's dir."""

    def __init__(self, test, args, env=None, name=None):
        self.test = test
        test.nservers += 1
        self.name = name or "serve%d" % test.nservers
        self.out_path = os.path.join(test.dir, self.name + ".stdout")
        self.err_path = os.path.join(test.dir, self.name + ".stderr")
        self.args = args
        self.env = env
        self.proc = None
        self.port = None
        self.host = "127.0.0.1"
        self.rc = None
        self.nreq = 0  # requests sent through req()

    def start(self):
        cmd = [self.test.crmlog] + self.args
        self.test.last_cmd = " ".join(cmd)
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         cwd=self.test.dir, env=self.env)
        self.test.servers.append(self)
        deadline = time.monotonic() + START_TIMEOUT
        line = ""
        while time.monotonic() < deadline:
            with open(self.out_path, "rb") as f:
                data = f.read().decode("utf-8", "replace")
            if "\n" in data:
                line = data.split("\n", 1)[0]
                break
            if self.proc.poll() is not None:
                self.test.fail("crmlog serve exited (rc %s) before printing its address"
                               % self.proc.returncode, server=self)
            time.sleep(0.02)
        else:
            self.test.fail("crmlog serve printed no address within %ss" % START_TIMEOUT,
                           server=self)
        prefix = "crmlog serving on http://"
        if not line.startswith(prefix):
            self.test.fail("first stdout line is %r, not '%s127.0.0.1:PORT'" % (line, prefix),
                           server=self)
        hostport = line[len(prefix):].strip()
        host, _, port = hostport.rpartition(":")
        if host != "127.0.0.1" or not port.isdigit() or int(port) == 0:
            self.test.fail("the address printed is %r, not 127.0.0.1:PORT" % hostport,
                           server=self)
        self.port = int(port)
        return self

    # ---- requests ------------------------------------------------------------------------

    def conn(self, timeout=REQ_TIMEOUT):
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def req(self, method, path, token=None, json_body=None, body=None, headers=None,
            content_type=None, timeout=REQ_TIMEOUT, conn=None, record=True):
        """Sends one request; returns (status, headers {lowercase: value}, parsed body).

        json_body: any JSON value, sent as application/json. body: raw bytes or str, sent
        with content_type (none unless given). The parsed body is the JSON value when the
        answer says application/json (a parse error fails the test), else the text."""
        hdrs = {}
        data = None
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        if json_body is not None:
            data = json.dumps(json_body).encode()
            hdrs["Content-Type"] = "application/json"
        elif body is not None:
            data = body.encode() if isinstance(body, str) else body
            if content_type is not None:
                hdrs["Content-Type"] = content_type
        if content_type is not None and json_body is not None:
            hdrs["Content-Type"] = content_type
        if headers:
            hdrs.update(headers)
        sent = "%s %s\n  headers: %s\n  body: %s" % (method, path, _short(hdrs, 600),
                                                    _short(data or b"", 1500))
        if record:
            self.test.last_sent, self.test.last_got = sent, None
        own = conn is None
        self.nreq += 1
        c = conn or self.conn(timeout)
        try:
            c.request(method, path, body=data, headers=hdrs)
            resp = c.getresponse()
            raw = resp.read()
            status = resp.status
            rh = {k.lower(): v for k, v in resp.getheaders()}
        except (OSError, http.client.HTTPException) as e:
            if record:
                self.test.last_got = "no answer: %r" % (e,)
            raise
        finally:
            if own:
                c.close()
        text = raw.decode("utf-8", "replace")
        if record:
            self.test.last_got = "%d\n  headers: %s\n  body: %s" % (status, _short(rh, 600),
                                                                   _short(text))
        parsed = text
        if rh.get("content-type", "").startswith("application/json"):
            try:
                parsed = json.loads(text)
            except ValueError as e:
                self.test.fail("%s %s: the answer says application/json but is not JSON (%s)"
                               % (method, path, e))
        return status, rh, parsed

    def stderr_text(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # ---- stopping ------------------------------------------------------------------------

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig=signal.SIGTERM):
        if self.running():
            self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            self.rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.rc

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


class Test:
    """One test script's state: temp dir, store, tokens, servers, check counting."""

    def __init__(self, crmlog):
        self.crmlog = os.path.abspath(crmlog)
        self.name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
        self.dir = tempfile.mkdtemp(prefix="crmlog-http-%s." % self.name)
        self.db = os.path.join(self.dir, "t.db")
        self.source_dir = os.environ.get("CRMLOG_SOURCE_DIR") or os.path.abspath(
            os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
        self.data_dir = os.environ.get("CRMLOG_TEST_DATA") or os.path.join(self.source_dir,
                                                                          "tests", "data")
        self.servers = []
        self.nservers = 0
        self.checks = 0
        self.last_sent = None
        self.last_got = None
        self.last_cmd = None
        self.last_cli = None
        self.token = None
        self.events_token = None
        # The servers and the CLI must not pick up the environment of whoever runs the tests.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CRMLOG_")}

    # ---- reporting -----------------------------------------------------------------------

    def ok(self, msg):
        self.checks += 1
        print("ok - " + msg, flush=True)

    def fail(self, msg, server=None, **ctx):
        lines = ["FAIL [%s]: %s" % (self.name, msg)]
        for k, v in ctx.items():
            lines.append("  %s: %s" % (k, _short(v)))
        if self.last_sent is not None:
            lines.append("  last request sent: " + self.last_sent)
            lines.append("  answer received:   " + (self.last_got or "(none)"))
        if self.last_cli is not None:
            lines.append("  last command: " + self.last_cli)
        srv = server or (self.servers[-1] if self.servers else None)
        if srv is not None:
            lines.append("  server %s stderr (tail):" % srv.name)
            for ln in srv.stderr_text().splitlines()[-15:]:
                lines.append("    " + ln)
        raise Failure("\n".join(lines))

    def check(self, cond, msg, **ctx):
        if cond:
            self.ok(msg)
        else:
            self.fail(msg, **ctx)

    def eq(self, got, want, msg):
        if got == want:
            self.ok(msg)
        else:
            self.fail(msg, expected=want, got=got)

    def expect(self, resp, status, msg, code=None):
        """resp: (status, headers, body). Checks the status, and for errors the JSON shape
        {error: {code, message}} (and the code when given)."""
        st, h, b = resp
        if st != status:
            self.fail("%s: status %d, expected %d" % (msg, st, status))
        if status >= 400:
            if not (h.get("content-type", "").startswith("application/json") and
                    isinstance(b, dict) and isinstance(b.get("error"), dict) and
                    isinstance(b["error"].get("code"), str) and
                    isinstance(b["error"].get("message"), str) and b["error"]["message"]):
                self.fail("%s: the error is not JSON {error:{code,message}}" % msg)
            if code is not None and b["error"]["code"] != code:
                self.fail("%s: error code %r, expected %r" % (msg, b["error"]["code"], code))
        self.ok(msg)
        return b

    # ---- the command line ----------------------------------------------------------------

    def cli(self, *args, rc=0, stdin=None, env=None, db=True):
        """Runs crmlog [--db DB] ARGS; returns (rc, stdout, stderr). Fails unless it exits
        with rc (None: any)."""
        cmd = [self.crmlog] + (["--db", self.db] if db else []) + [str(a) for a in args]
        self.last_cli = " ".join(cmd)
        p = subprocess.run(cmd, input=stdin.encode() if isinstance(stdin, str) else stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.dir,
                           env=env if env is not None else self.env, timeout=CLI_TIMEOUT)
        out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
        if rc is not None and p.returncode != rc:
            self.fail("`%s` exited %d, expected %d" % (self.last_cli, p.returncode, rc),
                      stdout=out, stderr=err)
        self.last_cli = None
        return p.returncode, out, err

    def cli_json(self, *args, rc=0):
        _, out, err = self.cli(*args, rc=rc)
        try:
            return json.loads(out)
        except ValueError:
            self.fail("`crmlog %s` printed no JSON" % " ".join(map(str, args)), stdout=out,
                      stderr=err)

    def seed(self, demo=True):
        """A store with the demo data; self.token (user agent) and self.events_token."""
        if demo:
            self.cli("demo")
        self.token = self.cli_json("users", "token", "agent", "--json")["token"]
        _, out, _ = self.cli("events", "token")
        self.events_token = out.strip()
        return self

    def add_user(self, name, extension=None):
        args = ["users", "add", name]
        if extension is not None:
            args += ["--extension", str(extension)]
        j = self.cli_json(*args, "--json")
        if not isinstance(j, dict) or not isinstance(j.get("token"), str):
            self.fail("users add --json printed no token", got=j)
        return j["token"]

    # ---- servers -------------------------------------------------------------------------

    def start(self, *extra, db=None, env=None, listen="127.0.0.1:0", log_level="info"):
        args = ["--db", db or self.db, "serve", "--listen", listen]
        if log_level:
            args += ["--log-level", log_level]
        args += [str(a) for a in extra]
        return Server(self, args, env=env if env is not None else self.env).start()

    def stop(self, srv, grace=15, expect_rc=0):
        """SIGTERM; the server must exit with expect_rc within grace seconds."""
        srv.signal(signal.SIGTERM)
        rc = srv.wait(grace)
        if rc is None:
            srv.kill()
            self.fail("crmlog serve did not exit within %ss of SIGTERM" % grace, server=srv)
        if rc != expect_rc:
            self.fail("crmlog serve exited %d after SIGTERM, expected %d" % (rc, expect_rc),
                      server=srv)
        self.ok("server %s exits %d after SIGTERM" % (srv.name, expect_rc))

    def cleanup(self):
        for s in self.servers:
            s.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- polling -------------------------------------------------------------------------

    def poll(self, fn, msg, timeout=10.0, interval=0.05):
        """Calls fn() until it returns a true value, within timeout seconds; returns it."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = fn()
            if last:
                return last
            if time.monotonic() > deadline:
                self.fail("%s: not within %ss" % (msg, timeout))
            time.sleep(interval)


# ---- shared request shapes ---------------------------------------------------------------

def call_event(event, session_id, direction="inbound", number="+16505550101",
               extension=None, user=None, **extra):
    """crmlog's own JSON event for a call (see src/sources/events.c)."""
    ev = {"event": event, "session_id": session_id, "direction": direction}
    own = "+16505550100"
    if direction == "inbound":
        ev["from"], ev["to"] = number, own
    else:
        ev["from"], ev["to"] = own, number
    if extension is not None:
        ev["extension"] = str(extension)
    if user is not None:
        ev["user"] = user
    ev.update(extra)
    return ev


def rc_record(i, session_id, number="+16505550101", minutes_ago=60, duration=60,
              direction="Inbound", result="Accepted", recording=None):
    """One RingCentral call-log record, as `import` takes it."""
    start = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - minutes_ago * 60))
    own = {"phoneNumber": "+16505550100", "extensionNumber": "101"}
    other = {"phoneNumber": number}
    rec = {"id": "R%s" % i, "sessionId": session_id, "startTime": start, "duration": duration,
           "type": "Voice", "direction": direction, "action": "Phone Call", "result": result,
           "from": other if direction == "Inbound" else own,
           "to": own if direction == "Inbound" else other}
    if recording:
        rec["recording"] = {"id": "rec%s" % i, "contentUri": recording}
    return rec


def raw_exchange(port, data, timeout=10.0):
    """Sends raw bytes on a fresh connection and reads until the server closes (or timeout);
    returns the bytes received."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks)
    finally:
        s.close()


def main(fn):
    if len(sys.argv) < 2 or not sys.argv[1]:
        print("usage: python3 %s /path/to/crmlog" % sys.argv[0], file=sys.stderr)
        sys.exit(2)
    if not os.access(sys.argv[1], os.X_OK):
        print("FAIL: %s is not an executable" % sys.argv[1], file=sys.stderr)
        sys.exit(1)
    t = Test(sys.argv[1])
    code = 0
    t0 = time.monotonic()
    try:
        fn(t)
        print("# %s: %d checks passed in %.1fs" % (t.name, t.checks, time.monotonic() - t0))
    except Failure as e:
        print(str(e), file=sys.stderr, flush=True)
        code = 1
    except Exception:  # a crash of the test itself, or a server that does not answer
        lines = ["FAIL [%s]: the test stopped on an exception" % t.name,
                 traceback.format_exc().rstrip()]
        if t.last_sent is not None:
            lines.append("  last request sent: " + t.last_sent)
            lines.append("  answer received:   " + (t.last_got or "(none)"))
        for s in t.servers[-1:]:
            lines.append("  server %s stderr (tail):" % s.name)
            lines += ["    " + ln for ln in s.stderr_text().splitlines()[-15:]]
        print("\n".join(lines), file=sys.stderr, flush=True)
        code = 1
    finally:
        t.cleanup()
    sys.exit(code)
