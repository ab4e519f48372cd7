#!/bin/sh
# The market store's direct chunk writes (datasets/store.c: chunks shuffled and deflated
# in threads, stored with H5Dwrite_chunk) against HDF5's own filters (H5Dwrite, forced by
# QA_STORE_DIRECT_CHUNKS=0): the same import written both ways must give stores whose
# every dataset has the same bits and every chunk the same bytes once inflated, read with h5py
# (store_compare.py). On the shipped sample's presets always; on the full sp500-daily
# preset when $QA_DATA_ROOT holds it (502 files, ~10 s), else that part says "skipped".
QA="$1"; SRC="$2"; PY="${3:-/usr/bin/python3}"
. "$SRC/tests/lib.sh"
qa_tmpdir store_direct
if ! "$PY" -c "import h5py, numpy" 2>/dev/null; then qa_skip "no h5py: nothing can compare the stores"; qa_exit; fi

# both PRESET ROOT: imports PRESET from ROOT with and without direct chunk writes (2
# threads, so that the threaded encoder runs) and compares the two stores.
both() {
    for d in 1 0; do
        QA_STORE_DIRECT_CHUNKS=$d OMP_NUM_THREADS=2 QA_LOG_LEVEL=debug "$QA" data import --preset "$1" \
            --data-root "$2" --out "$W/$1.d$d.h5" > "$W/log.d$d" 2>&1 \
            || { ko "$1: import (direct=$d): $(tail -c 300 "$W/log.d$d")"; return; }
    done
    # The store's debug line at commit says which path each write took: all direct, then none.
    grep -q " [1-9][0-9]* chunks encoded in threads and written directly, 0 panel writes through H5Dwrite" \
        "$W/log.d1" || ko "$1: the direct path was not taken: $(grep 'chunks encoded' "$W/log.d1")"
    grep -q " 0 chunks encoded in threads and written directly, [1-9]" "$W/log.d0" \
        || ko "$1: QA_STORE_DIRECT_CHUNKS=0 did not force H5Dwrite: $(grep 'chunks encoded' "$W/log.d0")"
    if "$PY" "$SRC/tests/datasets/store_compare.py" "$W/$1.d1.h5" "$W/$1.d0.h5" > "$W/cmp" 2>&1; then
        ok "$1: direct and H5Dwrite stores identical ($(grep -c '^ok:' "$W/cmp") datasets)"
    else
        ko "$1: stores differ"; cat "$W/cmp"
    fi
    rm -f "$W/$1".d?.h5*
}

for p in sp500-daily stocks-5min crypto-1m; do both $p "$SRC/datasets/sample"; done
ROOT="${QA_DATA_ROOT:-$SRC/../shared/datasets}"
if [ -d "$ROOT/us_equities_daily" ] && [ "$(ls "$ROOT/us_equities_daily/stocks" 2>/dev/null | wc -l)" -gt 100 ]; then
    both sp500-daily "$ROOT"
else
    echo "skipped: the full sp500-daily preset (no \$QA_DATA_ROOT with us_equities_daily)"
fi
qa_exit
