"""qa serve against the fixture (tests/api/fixture.sh), from the outside as a client sees it:

  1. the route x role matrix, from the server's own OpenAPI document (the route table):
     every route with no credentials -> 401; as each role -> 2xx when the table allows the
     role, else 403 (a mutating call that reaches its handler may also answer 409 when the
     fixture leaves nothing to act on, which still proves the role was let through);
  2. malformed requests: bad JSON, a non-object, duplicate keys, wrong types, a body over
     the limit (declared and chunked), a wrong content type, invalid UTF-8, path traversal,
     unknown routes and methods, bad query values, forged and foreign tokens -> 4xx with a
     message, and the server still answers afterwards;
  3. the kill switch as trader (202, queued in risk.db, audited) and as researcher (403,
     audited as refused); refresh-token rotation; revocation taking effect at once;
  4. the event stream: a trader gets a snapshot event, a researcher 403;
  5. the audit log: the chain verifies (API and qa audit verify), every refusal above is in
     it; then a row changed behind the server's back is found by qa audit verify.

usage: serve_check.py BASE_URL QA_BIN STATE_DIR FIXTURE_DIR
"""
import http.client
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.parse

BASE, QA, STATE, FIX = sys.argv[1:5]
URL = urllib.parse.urlparse(BASE)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL", what, flush=True)


def call(method, path, token=None, body=None, raw=None, headers=None, ctype="application/json"):
    """(status, parsed JSON or text, headers) of one request on a fresh connection."""
    c = http.client.HTTPConnection(URL.hostname, URL.port, timeout=30)
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None and ctype:
        h["Content-Type"] = ctype
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    text = r.read()
    c.close()
    try:
        doc = json.loads(text) if text else None
    except ValueError:
        doc = text.decode(errors="replace")
    return r.status, doc, dict(r.getheaders())


ROLES = ["researcher", "risk", "trader", "admin"]
PASSWORD = "fixture password"


def add_user(name, role):
    p = subprocess.run([QA, "users", "add", name, "--role", role, "--state", STATE, "--password-stdin"],
                       input=PASSWORD + "\n", capture_output=True, text=True)
    check(p.returncode == 0, "qa users add %s: %s" % (name, p.stderr))


def login(name):
    st, doc, _ = call("POST", "/api/login", body={"user": name, "password": PASSWORD})
    check(st == 200, "login %s -> %s %s" % (name, st, doc))
    return doc


for r in ROLES:
    add_user("u_" + r, r)
    for i in range(2):
        add_user("victim_%s_%d" % (r, i), "researcher")
tokens = {r: login("u_" + r) for r in ROLES}
access = {r: tokens[r]["access_token"] for r in ROLES}

# ---- values for path parameters, from the fixture itself ------------------------------------------
st, runs, _ = call("GET", "/api/runs", access["admin"])
check(st == 200, "GET /api/runs as admin -> %s" % st)
kinds = {x["kind"]: x["id"] for x in runs["runs"]}
check({"sweep", "train", "stress", "rl"} <= set(kinds), "fixture runs of each kind: %s" % kinds)
st, syms, _ = call("GET", "/api/data/symbols", access["admin"])
symbol = syms["symbols"][0]["symbol"]
st, models, _ = call("GET", "/api/models", access["admin"])
model = models["models"][0]["name"]
version = str(models["models"][0]["latest"])
orders_db = sqlite3.connect(os.path.join(FIX, "live-state", "orders.db"))
row = orders_db.execute("SELECT clordid FROM orders WHERE state IN ('new','accepted','partially_filled') "
                        "ORDER BY clordid LIMIT 1").fetchone() or \
    orders_db.execute("SELECT clordid FROM orders ORDER BY clordid LIMIT 1").fetchone()
clordid = row[0]
orders_db.close()

RUN_FOR = {"/top": kinds["sweep"], "/heatmap": kinds["sweep"], "/equity": kinds["sweep"],
           "/curves": kinds["train"], "/stress": kinds["stress"]}


def fill(path):
    p = path
    for suffix, rid in RUN_FOR.items():
        if p.startswith("/api/runs/{id}") and p.endswith(suffix):
            p = p.replace("{id}", rid)
    if p == "/api/alt/search":
        p += "?q=Apple"
    return (p.replace("{id}", kinds["sweep"]).replace("{symbol}", symbol).replace("{name}", model)
             .replace("{version}", version).replace("{alias}", "staging").replace("{clordid}", clordid))


spare = {}  # a second refresh token per role, for logout


def body_for(method, path, role, n):
    if method != "POST":
        return None
    if path == "/api/logout":
        if role == "none":
            return {"refresh_token": "qar_0000000000000000_none"}
        spare[role] = login("u_" + role)["refresh_token"]
        return {"refresh_token": spare[role]}
    if path == "/api/users":
        return {"name": "made_by_%s_%d" % (role, n), "roles": "researcher", "password": "long enough pw"}
    if path == "/api/users/{name}/revoke":
        return {}
    if path == "/api/jobs":
        return {"kind": "stress", "config": os.path.join(FIX, "jobs", "stress.yaml"),
                "name": "job_%s_%d" % (role, n)}
    if path.startswith("/api/models/"):
        return {"version": int(version), "why": "route matrix"}
    if path == "/api/live/kill":
        return {"state": "REDUCING", "why": "route matrix"}
    return {"why": "route matrix"}


st, spec, _ = call("GET", "/api/openapi.json")
check(st == 200 and spec.get("openapi", "").startswith("3."), "GET /api/openapi.json")
ncalls = 0
for path, item in spec["paths"].items():
    for method, op in item.items():
        method = method.upper()
        allowed = set(op.get("x-roles", []))
        public = "security" not in op
        concrete = fill(path)
        if path == "/api/users/{name}/revoke":
            concrete = None  # per role below: a victim of its own
        if public:
            continue
        if path == "/api/live/stream":
            continue  # a stream: checked in its own section
        target = concrete or path.replace("{name}", "victim_researcher_0")
        st, doc, hdr = call(method, target, None, body_for(method, path, "none", 0))
        check(st == 401, "%s %s without credentials -> %s (expected 401)" % (method, path, st))
        check(hdr.get("WWW-Authenticate") == "Bearer", "%s %s 401 names the scheme" % (method, path))
        for n, role in enumerate(ROLES):
            target = concrete or path.replace("{name}", "victim_%s_1" % role)
            st, doc, _ = call(method, target, access[role], body_for(method, path, role, n))
            ncalls += 1
            if role in allowed:
                ok = 200 <= st < 300 or (method == "POST" and st == 409)
                check(ok, "%s %s as %s -> %s %s (expected 2xx)" % (method, path, role, st, doc))
            else:
                check(st == 403, "%s %s as %s -> %s (expected 403)" % (method, path, role, st))
                check(isinstance(doc, dict) and role in doc.get("error", ""), "403 says which role: %s" % doc)
print("route x role matrix: %d routes, %d calls" % (sum(len(v) for v in spec["paths"].values()), ncalls), flush=True)
check(ncalls >= 100, "the matrix made %d calls" % ncalls)

# ---- an RL run's curves ---------------------------------------------------------------------------------
st, doc, _ = call("GET", "/api/runs/%s/curves" % kinds["rl"], access["researcher"])
check(st == 200 and len(doc.get("rows", [])) >= 2, "RL run curves -> %s %s" % (st, str(doc)[:200]))

# ---- the jobs the matrix submitted ran to the end -------------------------------------------------------
deadline = time.time() + 120
while True:
    st, doc, _ = call("GET", "/api/runs?q=job_&limit=100", access["admin"])
    jobs = {r["id"]: r["status"] for r in doc["runs"]}
    if time.time() > deadline or (jobs and all(s not in ("running", "queued") for s in jobs.values())):
        break
    time.sleep(0.5)
check(len(jobs) == 3 and all(s == "ok" for s in jobs.values()),
      "jobs submitted by researcher, risk and admin ran: %s" % jobs)

# ---- malformed requests ------------------------------------------------------------------------------
T = access["trader"]
cases = [
    ("bad JSON", dict(raw=b'{"state": "HALTED",'), 400, "JSON error"),
    ("array body", dict(raw=b'["HALTED"]'), 400, "object"),
    ("duplicate keys", dict(raw=b'{"state":"HALTED","state":"ACTIVE","why":"x"}'), 400, "duplicate"),
    ("wrong type", dict(body={"state": 3, "why": "x"}), 400, "state"),
    ("unknown state", dict(body={"state": "PANIC", "why": "x"}), 400, "PANIC"),
    ("missing why", dict(body={"state": "HALTED"}), 400, "why"),
    ("invalid UTF-8", dict(raw=b'{"state":"HALTED","why":"\xff\xfe"}'), 400, "JSON error"),
    ("text/plain", dict(raw=b'{"state":"HALTED","why":"x"}', ctype="text/plain"), 415, "application/json"),
    ("deep nesting", dict(raw=b'[' * 5000 + b']' * 5000), 400, "JSON error"),
]
for name, kw, want, needle in cases:
    st, doc, _ = call("POST", "/api/live/kill", T, **kw)
    check(st == want and needle.lower() in json.dumps(doc).lower(),
          "malformed %s -> %s %s (expected %s with '%s')" % (name, st, doc, want, needle))
st, doc, _ = call("POST", "/api/jobs", access["researcher"],
                  {"kind": "stress", "config": os.path.join(FIX, "jobs", "stress.yaml"), "name": "sized", "ntasks": 2})
check(st == 400 and "slurm" in doc.get("error", ""), "Slurm sizing without slurm -> %s %s" % (st, doc))
# a declared body over the limit: answered 413 from the headers alone, and the connection
# closed, so the client may not get to send it all (a raw socket that reads the answer anyway)
import socket
sk = socket.create_connection((URL.hostname, URL.port), timeout=30)
sk.sendall(b"POST /api/live/kill HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + T.encode() +
           b"\r\nContent-Type: application/json\r\nContent-Length: 2097152\r\n\r\n")
try:
    sk.sendall(b"x" * (2 << 20))
except OSError:
    pass  # the server has answered and closed: what the limit is for
answer, reset = b"", False
try:
    while not answer.endswith(b"}") and len(answer) < 4096:
        part = sk.recv(4096)
        if not part:
            break
        answer += part
except OSError:
    reset = True  # closed with our bytes unread: the kernel may reset before we read the 413
sk.close()
check((answer.startswith(b"HTTP/1.1 413") and b"limit" in answer) or (reset and not answer),
      "declared body over the limit -> %r" % answer[:120])
# a chunked body over the limit (no Content-Length to refuse up front)
c = http.client.HTTPConnection(URL.hostname, URL.port, timeout=30)
c.putrequest("POST", "/api/live/kill")
c.putheader("Authorization", "Bearer " + T)
c.putheader("Content-Type", "application/json")
c.putheader("Transfer-Encoding", "chunked")
c.endheaders()
chunk = b"x" * 65536
for _ in range(40):
    c.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
c.send(b"0\r\n\r\n")
r = c.getresponse()
check(r.status == 413, "chunked body over the limit -> %s" % r.status)
c.close()
for path, want in [("/api/runs/..%2F..%2Fetc", (400, 404)), ("/api/runs/.hidden", (400, 404)),
                   ("/api/nope", (404,)), ("/api/runs?page=0", (400,)), ("/api/runs?page=abc", (400,)),
                   ("/api/risk/metrics?from=2300-01-01", (400,)), ("/api/data/bars/%00x", (400, 404))]:
    st, doc, _ = call("GET", path, access["admin"])
    check(st in want and isinstance(doc, dict) and doc.get("error"), "GET %s -> %s %s" % (path, st, doc))
st, doc, _ = call("DELETE", "/api/runs", access["admin"])
check(st == 405, "DELETE /api/runs -> %s" % st)
for bad in ["garbage", T[:-3] + "AAA", "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + T.split(".")[1] + "."]:
    st, doc, _ = call("GET", "/api/me", bad)
    check(st == 401, "forged token -> %s" % st)
st, doc, _ = call("GET", "/api/me", headers={"Authorization": "Basic dTpw"})
check(st == 401, "Basic credentials -> %s" % st)
st, doc, _ = call("GET", "/health")
check(st == 200, "the server still answers after the malformed requests")

# ---- kill switch, refresh rotation, revocation -------------------------------------------------------
st, doc, _ = call("POST", "/api/live/kill", access["trader"], {"state": "HALTED", "why": "desk test halt"})
check(st == 202 and doc.get("state") == "HALTED", "kill as trader -> %s %s" % (st, doc))
risk_db = sqlite3.connect(os.path.join(FIX, "live-state", "risk.db"))
rows = risk_db.execute("SELECT state, who, why FROM commands ORDER BY id DESC LIMIT 1").fetchall()
risk_db.close()
check(rows and rows[0] == ("HALTED", "u_trader", "desk test halt"), "risk.db holds the command: %s" % rows)
st, doc, _ = call("POST", "/api/live/kill", access["researcher"], {"state": "HALTED", "why": "not mine"})
check(st == 403, "kill as researcher -> %s" % st)
st, doc, _ = call("POST", "/api/refresh", body={"refresh_token": tokens["risk"]["refresh_token"]})
check(st == 200 and doc.get("access_token"), "refresh -> %s" % st)
st2, _, _ = call("POST", "/api/refresh", body={"refresh_token": tokens["risk"]["refresh_token"]})
check(st2 == 401, "a used refresh token again -> %s (expected 401)" % st2)
st, doc, _ = call("POST", "/api/users/u_risk/revoke", access["admin"], {})
check(st == 200, "revoke u_risk -> %s" % st)
st, doc, _ = call("GET", "/api/risk/alerts", access["risk"])
check(st == 401, "a revoked user's token at once -> %s (expected 401)" % st)

# ---- the event stream -----------------------------------------------------------------------------------
c = http.client.HTTPConnection(URL.hostname, URL.port, timeout=10)
c.request("GET", "/api/live/stream", headers={"Authorization": "Bearer " + access["trader"]})
r = c.getresponse()
check(r.status == 200 and r.getheader("Content-Type") == "text/event-stream", "stream as trader -> %s" % r.status)
lines, t0 = [], time.time()
while time.time() - t0 < 5:
    line = r.fp.readline().decode()
    lines.append(line)
    if line == "\n" and any(x.startswith("data: ") for x in lines):
        break
c.close()
event = [x for x in lines if x.startswith("event: ")]
data = [x for x in lines if x.startswith("data: ")]
check(event and event[0].strip() == "event: snapshot", "first event: %s" % lines[:3])
snap = json.loads(data[0][6:]) if data else {}
check("state" in snap, "snapshot has the trading state: %s" % snap)
st, _, _ = call("GET", "/api/live/stream", access["researcher"])
check(st == 403, "stream as researcher -> %s" % st)

# ---- the audit log ---------------------------------------------------------------------------------------
st, doc, _ = call("GET", "/api/audit/verify", access["admin"])
check(st == 200 and doc.get("ok") is True, "audit verify -> %s %s" % (st, doc))
st, page, _ = call("GET", "/api/audit?limit=1000", access["admin"])
cols = page["columns"]
entries = [dict(zip(cols, x)) for x in page["rows"]]
kills = [e for e in entries if e["path"] == "/api/live/kill"]
check(any(e["user"] == "u_trader" and e["code"] == 202 and "HALTED" in e["detail"] for e in kills),
      "the trader's kill is audited")
check(any(e["user"] == "u_researcher" and e["code"] == 403 and e["outcome"].startswith("refused") for e in kills),
      "the researcher's refused kill is audited")
check(any(e["code"] == 401 and e["outcome"] == "refused: token" for e in entries), "401s are audited")
check(all(e["path"] != "/api/login" or "fixture password" not in e["detail"] for e in entries),
      "no password in the audit log")
p = subprocess.run([QA, "audit", "verify", "--state", STATE], capture_output=True, text=True)
check(p.returncode == 0, "qa audit verify: %s %s" % (p.stdout, p.stderr))

print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
