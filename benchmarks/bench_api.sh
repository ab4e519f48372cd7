#!/bin/sh
# qa serve under load (docs/api.md, "Performance"): requests/s and latency percentiles of
# the main JSON endpoints under wrk on loopback with authentication on (every request
# carries a bearer token that the server verifies: HMAC, expiry, and a SQLite look-up of
# the user and key for revocation), then the event stream's fan-out to 100 clients
# (bench_sse.py). Model of work: one request = token check + route + handler + JSON encode
# of the answer over a kept-alive connection; wrk runs 2 threads x 32 connections for 5 s
# per endpoint on the same 2 cores as the server, so figures are for client and server
# together. Peak memory: the server's VmHWM after all runs.
# Usage: bench_api.sh QA_BIN [PYTHON3]      (QA_DATA_ROOT as for the tests)
set -u
QA=$1 PY=${2:-/usr/bin/python3}
SRC=$(cd "$(dirname "$0")/.." && pwd)
command -v wrk > /dev/null || { echo "bench_api: wrk is not installed (Debian: wrk)" >&2; exit 2; }
W=$(mktemp -d /tmp/qa_bench_api.XXXXXX) || exit 1
trap '[ -n "${PID:-}" ] && kill "$PID" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
echo "bench_api: building the fixture (tests/api/fixture.sh)" >&2
sh "$SRC/tests/api/fixture.sh" "$W/fix" "$QA" "$SRC" > "$W/fixture.log" 2>&1 || { tail "$W/fixture.log" >&2; exit 1; }
"$QA" -q serve --config "$W/fix/serve.yaml" --port-file "$W/port" --set limits.login_per_minute=10000 \
    --set limits.max_connections=1024 > "$W/serve.out" 2>&1 &
PID=$!
i=0
while [ ! -s "$W/port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
PORT=$(cat "$W/port")
echo "benchbench pw" | "$QA" users add bench --role risk,trader,researcher --state "$W/fix/serve-state" \
    --password-stdin > /dev/null
TOKEN=$(curl -s -H 'Content-Type: application/json' -d '{"user":"bench","password":"benchbench pw"}' \
    "http://127.0.0.1:$PORT/api/login" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
[ -n "$TOKEN" ] || { echo "bench_api: login failed" >&2; exit 1; }
cat > "$W/auth.lua" <<'LUA'
wrk.headers["Authorization"] = "Bearer " .. os.getenv("QA_TOKEN")
LUA
SWEEP=$(ls "$W/fix/runs" | grep sweep | head -n 1)
SYM=$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/data/symbols" \
    | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["symbols"][0]["symbol"])')
printf '%-44s %12s %9s %9s %9s %9s\n' endpoint "requests/s" "p50 ms" "p90 ms" "p99 ms" "errors"
# ms VALUE: wrk's "1.23ms", "456.00us", "1.20s" in milliseconds
ms() { echo "$1" | awk '/us$/ {sub("us",""); print $1/1000; next} /ms$/ {sub("ms",""); print $1; next} /s$/ {sub("s",""); print $1*1000}'; }
for path in /health /api/me /api/runs "/api/runs/$SWEEP/top?n=20" "/api/runs/$SWEEP/heatmap" \
    "/api/data/bars/$SYM?limit=500" /api/live/state "/api/orders?limit=100" /api/risk/limits; do
    QA_TOKEN=$TOKEN wrk -t 2 -c 32 -d 5s --latency -s "$W/auth.lua" "http://127.0.0.1:$PORT$path" > "$W/wrk.txt" 2>&1
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$W/wrk.txt")
    p50=$(ms "$(awk '$1 == "50%" {print $2}' "$W/wrk.txt")")
    p90=$(ms "$(awk '$1 == "90%" {print $2}' "$W/wrk.txt")")
    p99=$(ms "$(awk '$1 == "99%" {print $2}' "$W/wrk.txt")")
    non2xx=$(awk '/Non-2xx/ {print $5}' "$W/wrk.txt")
    errs=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$W/wrk.txt")
    errors=$(( ${non2xx:-0} + ${errs:-0} ))
    printf '%-44s %12s %9s %9s %9s %9s\n' "$path" "$rps" "$p50" "$p90" "$p99" "$errors"
    hwm=$(awk '/VmHWM/ {print $2 / 1024}' "/proc/$PID/status") # the server's peak so far
    echo "JSON {\"bench\":\"api_json\",\"backend\":\"cpu\",\"size\":\"GET $path, 32 conns, auth on\",\"unit\":\"requests\",\"items_per_s\":$rps,\"p50_ms\":$p50,\"p90_ms\":$p90,\"p99_ms\":$p99,\"errors\":$errors,\"peak_rss_mb\":${hwm:-0}}"
done
"$PY" "$SRC/benchmarks/bench_sse.py" "http://127.0.0.1:$PORT" "$TOKEN" 100 "$W/fix/live-state/risk.db" "$PID"
RSS=$(awk '/VmHWM/ {print $2 / 1024}' "/proc/$PID/status")
echo "server peak RSS: $RSS MB"
echo "JSON {\"bench\":\"api_server\",\"backend\":\"cpu\",\"size\":\"after every run above\",\"unit\":\"MB\",\"peak_rss_mb\":$RSS}"
