#!/bin/sh
# SIGTERM and SIGHUP in the middle of a long phase of a command without a graceful stop of
# its own (data generate, data import): the process ends within a second, of the signal
# (exit status 128 + signal), the previous output is byte for byte as it was, and no
# temporary file (".NAME.tmp-PID") is left behind: the stop handler removes them
# (qa_fs_tmp_remove_on_signals). Commands with a graceful stop (sweep, train) are tested
# with their own suites.
# Usage: test_fault_signal.sh QA SOURCE_DIR
QA="$1"; SRC="$2"
. "$SRC/tests/lib.sh"
qa_tmpdir fault_signal
cd "$W" || exit 1

# stop NAME SIGNAL DELAY OUTPUT CMD...: starts CMD, sends SIGNAL after DELAY seconds, checks
# the exit status, the time to stop, OUTPUT unchanged and no temporary file left.
stop() {
    name=$1 sig=$2 delay=$3 out=$4
    shift 4
    before=$(sha256sum "$out" 2> /dev/null)
    "$@" > "$name.log" 2>&1 &
    pid=$!
    sleep "$delay"
    if ! kill -0 "$pid" 2> /dev/null; then
        ko "$name: finished before the signal (make the input bigger)"
        cat "$name.log"
        return
    fi
    t0=$(date +%s%N)
    kill -"$sig" "$pid"
    wait "$pid"
    rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    case $sig in TERM) want=143 ;; HUP) want=129 ;; *) want=0 ;; esac
    left=$(find . -name '.*.tmp-*' | tr '\n' ' ')
    after=$(sha256sum "$out" 2> /dev/null)
    if [ "$rc" -eq "$want" ] && [ "$ms" -lt 1000 ] && [ -z "$left" ] && [ "$before" = "$after" ]; then
        ok "$name: SIG$sig stopped it in $ms ms (exit $rc), previous output intact, no temporary file"
    else
        ko "$name: exit $rc (want $want), $ms ms, left: '$left', output changed: $([ "$before" = "$after" ] && echo no || echo yes)"
        cat "$name.log"
    fi
}

# A previous good output in place first: the interrupted run must not touch it.
"$QA" -q data generate --out gen.h5 --symbols 3 --bars 100 --seed 1 > /dev/null 2>&1 || ko "small generate"
stop generate TERM 1 gen.h5 "$QA" data generate --out gen.h5 --symbols 2000 --bars 20000 --seed 3
stop generate_hup HUP 1 gen.h5 "$QA" data generate --out gen.h5 --symbols 2000 --bars 20000 --seed 4
# (SIGINT: a background job of a script has it ignored, and an ignored signal stays ignored)
# An import of 600 files x 3,000 days (1.8M rows: 1-3 s since the import got faster;
# the signal comes after 0.5 s), written here so the test does not depend on where the
# full data sets are.
qa_import sp500-daily imp.h5
"${PY:-python3}" - <<'PYEOF' || { echo "FAIL: inputs"; exit 1; }
import datetime as dt, os, random
days, d = [], dt.date(2000, 1, 3)
while len(days) < 3000:
    if d.weekday() < 5: days.append(d.isoformat())
    d += dt.timedelta(days=1)
random.seed(1)
os.makedirs("csv")
for s in range(600):
    c, rows = 100.0, []
    for t in range(3000):
        c *= 1 + random.gauss(0, 0.01)
        rows.append("%s,%.4f,%.4f,%.4f,%.4f,%d\n" % (days[t], c, c * 1.01, c * 0.99, c, 1000 + t))
    with open("csv/S%03d.csv" % s, "w") as f:
        f.write("date,open,high,low,close,volume\n" + "".join(rows))
PYEOF
stop import TERM 0.5 imp.h5 "$QA" data import --input csv --out imp.h5

# Control: without the handler's cleanup the temporary file stays (the check above can fail).
"$QA" data generate --out ctl.h5 --symbols 2000 --bars 20000 --seed 5 > ctl.log 2>&1 &
pid=$!
sleep 1
kill -KILL "$pid"
wait "$pid"
[ -n "$(find . -name '.ctl.h5.tmp-*')" ] && ok "control: SIGKILL (no handler) leaves the temporary file the handler removes" ||
    ko "control: no temporary file after SIGKILL (the test would not see a leak)"
qa_exit
