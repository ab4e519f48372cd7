"""The event stream's fan-out (docs/api.md, "Event stream"): N clients hold
GET /api/live/stream open; once each has its first snapshot, one kill-switch command is
queued through the API and every client's time to receive the snapshot that shows it is
measured. Model of work: the server's hub polls the live databases every 250 ms and hands
one snapshot text to every waiting stream, so the latency is poll phase + fan-out; the
figure that matters is that all N receive it and the spread between first and last.

usage: bench_sse.py BASE_URL TOKEN N RISK_DB [SERVER_PID]  (the PID: the server's peak RSS in the JSON line)
"""
import http.client
import json
import statistics
import sys
import threading
import time
import urllib.parse

base, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
server_pid = sys.argv[5] if len(sys.argv) > 5 else None


def server_peak_mb():
    """The server's VmHWM in MB (None without its PID or once it is gone)."""
    if not server_pid:
        return None
    try:
        with open("/proc/%s/status" % server_pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None
url = urllib.parse.urlparse(base)
ready = threading.Barrier(n + 1, timeout=60)
t0 = [0.0]
got = [None] * n
first = [None] * n


def events(resp):
    """Yields (event, data) pairs of a text/event-stream."""
    ev, data = None, []
    while True:
        line = resp.fp.readline()
        if not line:
            return
        line = line.decode().rstrip("\n")
        if line == "":
            if ev:
                yield ev, "\n".join(data)
            ev, data = None, []
        elif line.startswith("event: "):
            ev = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])


def client(i):
    c = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    c.request("GET", "/api/live/stream", headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    if r.status != 200:
        ready.abort()
        return
    it = events(r)
    for ev, data in it:
        if ev == "snapshot":
            first[i] = json.loads(data)
            break
    ready.wait()
    for ev, data in it:
        if ev == "snapshot" and json.loads(data).get("commands") != first[i].get("commands"):
            got[i] = time.monotonic() - t0[0]
            break
    c.close()


threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
for t in threads:
    t.start()
ready.wait()
time.sleep(0.3)  # every stream parked in its wait
t0[0] = time.monotonic()
c = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
c.request("POST", "/api/live/kill", body=json.dumps({"state": "ACTIVE", "why": "bench_sse fan-out"}),
          headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
status = c.getresponse().status
for t in threads:
    t.join(timeout=10)
lat = sorted(x * 1000 for x in got if x is not None)
recv = len(lat)
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
print("sse fan-out: %d clients, kill -> %d, %d received the change; ms p50 %.1f p99 %.1f max %.1f spread %.1f"
      % (n, status, recv, q(0.5), q(0.99), lat[-1] if lat else float("nan"), lat[-1] - lat[0] if lat else float("nan")))
print("JSON " + json.dumps({"bench": "api_sse", "backend": "cpu", "size": "%d streams, one change" % n,
                            "unit": "clients", "items_per_s": recv / (lat[-1] / 1000) if lat else 0,
                            "received": recv, "p50_ms": round(q(0.5), 2), "p99_ms": round(q(0.99), 2),
                            "spread_ms": round(lat[-1] - lat[0], 2) if lat else None,
                            "peak_rss_mb": server_peak_mb()}))
sys.exit(0 if recv == n and status == 202 else 1)
