#!/bin/sh
# The web dashboard in a real browser (docs/dashboard.md "Browser test"): the fixture of
# tests/api/fixture.sh, one user per role, `qa serve` on a free port, then
# tests/api/dashboard.test.mjs (playwright-core driving Debian's chromium, headless):
# every page each role may see at phone and desktop size checked against the API, the
# kill switch as trader (audit log, desk commands) and as researcher (absent, 403),
# keyboard-only use, no console errors; screenshots of every page x viewport go to
# $QA_ARTIFACTS (default <build>/tests/api/artifacts).
# Skipped (77) without node, chromium or the build's playwright-core.
# Usage: test_dashboard.sh QA SRC FIXTURE_DIR   (the fixture the api_fixture test made)
set -u
QA=$1 SRC=$2 FX=$3
# Absolute paths: the script changes directory.
case $QA in /*) ;; *) QA=$(pwd)/$QA ;; esac
case $SRC in /*) ;; *) SRC=$(pwd)/$SRC ;; esac
. "$SRC/tests/lib.sh"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
BIN=${QA_BINARY_DIR:-$(cd "$(dirname "$QA")/.." && pwd)}
NM=$BIN/dashboard
command -v node > /dev/null 2>&1 || { echo "skipped: no node"; exit 77; }
[ -x "$CHROMIUM" ] || { echo "skipped: no chromium at $CHROMIUM"; exit 77; }
[ -f "$NM/node_modules/playwright-core/package.json" ] \
    || { echo "skipped: no playwright-core under $NM (the build installs it with npm ci)"; exit 77; }
ART=${QA_ARTIFACTS:-$BIN/tests/api/artifacts}
rm -rf "$ART" && mkdir -p "$ART" || exit 1

qa_tmpdir dashboard
[ -f "$FX/serve.yaml" ] || { echo "FAIL: no fixture at $FX (the api_fixture test makes it)"; exit 1; }
ST=$W/serve-state

# One user per role (the user names are what the audit log must show).
mkdir -p "$ST"
USERS=""
for pair in researcher:alice risk:rita trader:tom admin:ada; do
    role=${pair%%:*} name=${pair#*:} pw="dashboard-test-$role-password"
    printf '%s\n' "$pw" | "$QA" -q users add "$name" --role "$role" --state "$ST" --password-stdin \
        > "$W/users.out" 2> "$W/users.err" || { echo "FAIL: qa users add $name: $(cat "$W/users.err")"; exit 1; }
    USERS="$USERS${USERS:+,}$role=$name:$pw"
done

# The test logs in about 20 times a minute from one address: above the default limit.
"$QA" serve --config "$FX/serve.yaml" --set "state_dir=$ST" --set limits.login_per_minute=600 --port-file "$W/port" > "$W/serve.log" 2>&1 &
SERVE=$!
trap 'kill $SERVE 2> /dev/null; wait $SERVE 2> /dev/null; rm -rf "$W"' EXIT
i=0
while [ ! -s "$W/port" ] && [ $i -lt 150 ]; do
    kill -0 $SERVE 2> /dev/null || { echo "FAIL: qa serve ended: $(tail -5 "$W/serve.log")"; exit 1; }
    sleep 0.1; i=$((i + 1))
done
[ -s "$W/port" ] || { echo "FAIL: qa serve wrote no port in 15 s: $(tail -5 "$W/serve.log")"; exit 1; }
URL="http://127.0.0.1:$(cat "$W/port")"
ok "qa serve listening at $URL"

QA_BASE_URL=$URL QA_USERS=$USERS QA_NODE_MODULES=$NM QA_ARTIFACTS=$ART CHROMIUM=$CHROMIUM \
    timeout 200 node "$SRC/tests/api/dashboard.test.mjs" || {
    ko "browser test (screenshots in $ART)"
    echo "--- qa serve log (last 20 lines)"; tail -20 "$W/serve.log"
}
qa_exit
