#!/bin/sh
# Parallel import and generation: 4 MPI ranks produce exactly the data of 1 rank.
QA="$1"; SRC="$2"; MPIRUN="${3:-mpirun}"
W=$(mktemp -d /tmp/qa_test_import_mpi_XXXXXX)
trap 'rm -rf "$W"' EXIT
fail=0
run4() { "$MPIRUN" --allow-run-as-root --oversubscribe -np 4 "$@"; }
"$QA" -q data import --preset sp500-daily --data-root "$SRC/datasets/sample" --out "$W/a1.h5" 2>/dev/null || { echo "FAIL: serial import"; exit 1; }
run4 "$QA" -q data import --preset sp500-daily --data-root "$SRC/datasets/sample" --out "$W/a4.h5" 2>/dev/null || { echo "FAIL: mpi import"; exit 1; }
# h5diff compares every dataset; only the 'created' attribute may differ.
if h5diff "$W/a1.h5" "$W/a4.h5" /bars > "$W/d" 2>&1 && h5diff "$W/a1.h5" "$W/a4.h5" /time >/dev/null && h5diff "$W/a1.h5" "$W/a4.h5" /symbols >/dev/null; then
    echo "ok: 4-rank import equals 1-rank import"
else echo "FAIL: import differs"; cat "$W/d"; fail=1; fi
cmp -s "$W/a1.h5.anomalies.csv" "$W/a4.h5.anomalies.csv" && echo "ok: same anomaly report" || { echo "FAIL: reports differ"; fail=1; }
"$QA" -q data generate --symbols 130 --bars 2100 --seed 7 --out "$W/g1.h5" 2>/dev/null || fail=1
run4 "$QA" -q data generate --symbols 130 --bars 2100 --seed 7 --out "$W/g4.h5" 2>/dev/null || fail=1
h5diff "$W/g1.h5" "$W/g4.h5" /bars > "$W/d" 2>&1 && echo "ok: 4-rank generate equals 1-rank" || { echo "FAIL: generate differs"; head "$W/d"; fail=1; }
exit $fail
