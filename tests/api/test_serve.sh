#!/bin/sh
# qa serve end to end over HTTP against the fixture (tests/api/fixture.sh): the route x
# role matrix, malformed requests, the kill switch, tokens, the event stream and the audit
# log (serve_check.py); then a changed audit row caught by qa audit verify, the login rate
# limit, TLS with a self-signed certificate, plain HTTP refused off loopback, and CORS only
# for a configured origin.
# Usage: test_serve.sh QA_BIN REPO PYTHON3 FIXTURE_DIR
set -u
QA=$1 SRC=$2 PY=$3 FIX=$4
. "$SRC/tests/lib.sh"
qa_tmpdir serve
[ -f "$FIX/serve.yaml" ] || { echo "FAIL: no fixture at $FIX (the api_fixture test makes it)"; exit 1; }
PIDS=""
trap 'for p in $PIDS; do kill $p 2>/dev/null; done; rm -rf "$W"' EXIT

# serve NAME ARGS...: starts qa serve in the background; PORT = its port once it listens.
serve() {
    name=$1
    shift
    rm -f "$W/$name.port"
    "$QA" serve --config "$FIX/serve.yaml" --port-file "$W/$name.port" "$@" > "$W/$name.out" 2> "$W/$name.err" &
    PIDS="$PIDS $!"
    LAST=$!
    i=0
    while [ ! -s "$W/$name.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    PORT=$(cat "$W/$name.port" 2>/dev/null)
    [ -n "$PORT" ] || { echo "FAIL: qa serve ($name) did not start: $(cat "$W/$name.err")"; exit 1; }
}

# stop NAME: SIGTERM, then the server must exit 0 with no sanitizer report (leaks included).
stop() {
    kill "$LAST"
    wait "$LAST"
    rc=$?
    [ $rc = 0 ] && ! grep -q "Sanitizer\|runtime error" "$W/$1.err" && ok "qa serve ($1) stopped cleanly" \
        || ko "qa serve ($1) exit $rc: $(grep -A12 "Sanitizer\|runtime error" "$W/$1.err" | head -40)"
}

# ---- the main checks --------------------------------------------------------------------------------
serve main --set "state_dir=$W/state" --set limits.login_per_minute=10000
"$PY" "$SRC/tests/api/serve_check.py" "http://127.0.0.1:$PORT" "$QA" "$W/state" "$FIX" && ok "serve_check.py" \
    || ko "serve_check.py"
stop main

# ---- a row changed behind the server's back --------------------------------------------------------
"$PY" - "$W/state/audit.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.executescript("DROP TRIGGER audit_no_update; UPDATE audit SET outcome='ok', code=202 WHERE seq=(SELECT min(seq) FROM audit WHERE code=403)")
db.commit()
PY
if "$QA" audit verify --state "$W/state" > "$W/verify.out" 2>&1; then
    ko "qa audit verify passed a changed row"
else
    grep -q "was changed" "$W/verify.out" && ok "a changed audit row: $(cat "$W/verify.out")" \
        || ko "qa audit verify: $(cat "$W/verify.out")"
fi

# ---- the login rate limit -----------------------------------------------------------------------------
serve rate --set "state_dir=$W/rate" --set limits.login_per_minute=3
codes=""
for i in 1 2 3 4 5; do
    codes="$codes $(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
        -d '{"user":"admin","password":"wrong password"}' "http://127.0.0.1:$PORT/api/login")"
done
[ "$codes" = " 401 401 401 429 429" ] && ok "login rate limit: $codes" || ko "login rate limit: $codes"
curl -s -D - -o /dev/null -H 'Content-Type: application/json' -d '{"user":"a","password":"b"}' \
    "http://127.0.0.1:$PORT/api/login" | grep -qi '^Retry-After: [0-9]' && ok "429 carries Retry-After" \
    || ko "429 without Retry-After"
"$QA" audit verify --state "$W/rate" > /dev/null && [ "$(sqlite3 "$W/rate/audit.db" \
    "SELECT count(*) FROM audit WHERE code=429")" -ge 2 ] && ok "rate refusals are audited" \
    || ko "rate refusals not audited"
stop rate

# ---- TLS, and plain HTTP refused off loopback ------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/key.pem" -out "$W/cert.pem" -days 2 -subj /CN=localhost \
    > /dev/null 2>&1 || ko "openssl could not make a certificate"
serve tls --set "state_dir=$W/tls" --set "tls.cert=$W/cert.pem" --set "tls.key=$W/key.pem" \
    --set 'cors=["https://desk.example"]'
h=$(curl -sk -D - -o "$W/health.json" "https://127.0.0.1:$PORT/health")
echo "$h" | grep -q "^HTTP/1.1 200" && grep -q '"ok"' "$W/health.json" && ok "HTTPS answers" || ko "HTTPS: $h"
echo "$h" | grep -qi "^Strict-Transport-Security: max-age" && ok "HSTS under TLS" || ko "no HSTS"
curl -s -o /dev/null "http://127.0.0.1:$PORT/health" && ko "plain HTTP answered on the TLS port" \
    || ok "plain HTTP refused on the TLS port"
cors=$(curl -sk -D - -o /dev/null -H 'Origin: https://desk.example' "https://127.0.0.1:$PORT/health")
echo "$cors" | grep -qi "^Access-Control-Allow-Origin: https://desk.example" && ok "CORS for the configured origin" \
    || ko "CORS: $cors"
curl -sk -D - -o /dev/null -H 'Origin: https://evil.example' "https://127.0.0.1:$PORT/health" \
    | grep -qi "^Access-Control-Allow-Origin" && ko "CORS headers for an unknown origin" || ok "no CORS for others"
stop tls
if "$QA" serve --config "$FIX/serve.yaml" --set "state_dir=$W/open" --set listen.host=0.0.0.0 \
    > "$W/open.out" 2> "$W/open.err"; then
    ko "plain HTTP on 0.0.0.0 started"
else
    grep -q "only served on a loopback address" "$W/open.err" && ok "plain HTTP off loopback refused" \
        || ko "plain HTTP off loopback: $(cat "$W/open.err")"
fi
qa_exit
