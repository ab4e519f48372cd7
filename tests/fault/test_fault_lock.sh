#!/bin/sh
# An HDF5 market file held open by another process (h5py here): HDF5 locks every file it
# opens (shared to read, exclusive to write) and refuses a conflicting open at once. Each
# qa command on that file must exit 1 with "locked by another process", the file's name
# and the holder's pid, not "damaged HDF5 file?"; and work again once the holder is gone.
# Usage: test_fault_lock.sh QA SOURCE_DIR PYTHON3
QA="$1"; SRC="$2"; PY="${3:-/usr/bin/python3}"
. "$SRC/tests/lib.sh"
"$PY" -c "import h5py" 2> /dev/null || { echo "skipped: python3 with h5py is needed to hold the file open"; exit 77; }
unset HDF5_USE_FILE_LOCKING
qa_tmpdir fault_lock
cd "$W" || exit 1
qa_import sp500-daily m.h5
{ sma_sweep_yaml m.h5 2020-12-31; printf 'portfolio: {weighting: equal}\n'; } > s.yaml

# hold MODE: the market file open in h5py mode MODE (r+ writes, r reads) until "release"
# appears; "held" appears once it is open. The holder's pid is $holder.
hold() {
    rm -f held release
    "$PY" - "$1" <<'PYEOF' &
import os, sys, time, h5py
f = h5py.File("m.h5", sys.argv[1])
open("held", "w").close()
for _ in range(600):
    if os.path.exists("release"):
        break
    time.sleep(0.05)
f.close()
PYEOF
    holder=$!
    i=0
    while [ ! -e held ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
    [ -e held ] || { echo "FAIL: h5py did not open the file"; exit 1; }
}
release() { touch release; wait $holder; }

# locked WHAT CMD...: CMD must fail (exit 1) naming the file, the lock and the holder.
locked() {
    what=$1
    shift
    "$@" > log 2>&1
    rc=$?
    if [ $rc -eq 1 ] && grep -q "m.h5: the file is locked by another process (pid $holder" log && ! grep -q damaged log; then
        ok "$what: exit 1, 'm.h5: the file is locked by another process (pid $holder: ...)'"
    else
        ko "$what: exit $rc"; cat log
    fi
}

hold r+
locked "data info while another process writes" "$QA" data info m.h5
locked "data validate while another process writes" "$QA" data validate m.h5
locked "sweep while another process writes" "$QA" sweep --config s.yaml --run-dir run
[ ! -e run/results.h5 ] && ok "the refused sweep wrote no results" || ko "results written"
release
hold r
locked "features (a writer) while another process reads" "$QA" features --data m.h5
release
"$QA" data info m.h5 > log 2>&1 && grep -q "16 symbols" log && ok "data info works once the holder is gone" || { ko "info after"; cat log; }
qa_exit
