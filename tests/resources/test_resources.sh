#!/bin/sh
# The documented memory bounds, proven under an address-space cap (`ulimit -v`;
# docs/robustness.md, "Bounded resources"). For each command: the fixed cost of the binary
# and its libraries is measured first (the smallest cap under which `qa data info` of a
# 1 x 2 store succeeds, found by bisection); the command then runs, on an input large
# enough that an implementation holding the whole input would need several times the
# bound, under a cap of fixed cost + documented bound + 1 MiB slack, and must succeed;
# and, as a negative control showing the cap is real, under fixed cost + 1 MiB, where it
# must fail with exit 1 and a message about memory (not a signal).
# OpenMP and OpenBLAS run one thread (each thread maps a stack and a 64 MiB malloc arena,
# which a virtual cap would count although no memory is touched), and malloc's mmap
# threshold is fixed (freed large buffers return their address space at once).
# `features` is checked by peak RSS instead (/usr/bin/time -f %M): under a virtual cap
# HDF5's filter buffers fail non-monotonically (94.5 MiB passes, 95.9 fails, 97 passes).
# Usage: test_resources.sh QA SOURCE_DIR PYTHON3 CASE SANITIZE
#   CASE: generate | import | features | sweep | stress | store; SANITIZE: ON under ASan (skipped:
#   ASan reserves terabytes of address space, so ulimit -v cannot apply).
QA="$1"; SRC="$2"; PY="${3:-/usr/bin/python3}"; CASE="$4"; SAN="$5"
. "$SRC/tests/lib.sh"
case "$SAN" in ON|on|1|TRUE|true) echo "skipped: built with QA_SANITIZE (ASan reserves terabytes of virtual memory)"; exit 77;; esac
"$PY" -c "import h5py, numpy" 2>/dev/null || { echo "skipped: $PY lacks h5py/numpy (the inputs need them)"; exit 77; }
qa_tmpdir res
cd "$W" || exit 1
MK="$SRC/tests/resources/make_store.py"
MIB=1024

# capped KIB CMD...: CMD under `ulimit -v KIB`, one thread; output in $W/log; its status.
capped() {
    kib=$1; shift
    ( ulimit -v "$kib" || exit 99
      OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MALLOC_MMAP_THRESHOLD_=131072 exec "$@" ) > "$W/log" 2>&1
}
# mincap CMD...: the smallest cap in KiB (to 256 KiB) under which CMD exits 0.
mincap() {
    lo=16384; hi=4194304
    capped $hi "$@" || { echo 0; return; }
    while [ $((hi - lo)) -gt 256 ]; do
        mid=$(((lo + hi) / 2))
        if capped $mid "$@"; then hi=$mid; else lo=$mid; fi
    done
    echo $hi
}
"$PY" "$MK" tiny.h5 1 2 || { echo "FAIL: tiny store"; exit 1; }
FIXED=$(mincap "$QA" data info tiny.h5)
[ "$FIXED" -gt 0 ] || { echo "FAIL: qa data info does not run even under 4 GiB"; exit 1; }
echo "fixed cost (qa data info of a 1 x 2 store): $FIXED KiB of address space"

# rss CMD...: CMD's peak resident set in KiB (one thread), for the cases a virtual cap cannot
# check; output in $W/log.
rss() { OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/time -f "%M" -o "$W/rss" "$@" > "$W/log" 2>&1 || echo "FAIL: $*: $(tail -c 300 "$W/log")"; tail -1 "$W/rss"; }
# expect_ok NAME BOUND_KIB CMD...: succeeds under FIXED + BOUND + 1 MiB; prints the margin.
expect_ok() {
    name=$1; bound=$2; shift 2
    cap=$((FIXED + bound + MIB))
    if capped $cap "$@"; then
        ok "$name runs under fixed cost + its documented bound of $bound KiB (+ 1 MiB): cap $cap KiB"
    else
        ko "$name under cap $cap KiB (fixed $FIXED + bound $bound + 1024): exit $?: $(tail -c 400 "$W/log")"
    fi
}
# expect_oom NAME CMD...: under FIXED + 1 MiB it fails with exit 1 and a memory message.
expect_oom() {
    name=$1; shift
    capped $((FIXED + MIB)) "$@"; rc=$?
    if [ $rc -eq 1 ] && grep -Eqi "memory|alloc" "$W/log"; then
        ok "negative control: $name under fixed cost + 1 MiB fails cleanly: $(grep -Ei 'memory|alloc' "$W/log" | tail -1 | cut -c1-220)"
    else
        ko "negative control: $name under $((FIXED + MIB)) KiB: exit $rc (expected 1 with a memory message): $(tail -c 400 "$W/log")"
    fi
}

case "$CASE" in
generate)
    # docs/data-format.md: about 8 MiB per rank for any size (one block of 64 x 2048 bars
    # x 5 fields, 5.2 MB, with HDF5's chunk buffers) plus about 90 bytes per symbol. One
    # symbol x 600,000 bars: a grid and regime path held whole (9 bytes a bar) plus the
    # store's copy of the times (8 a bar) would be 10 MB more.
    expect_ok "data generate (1 x 600,000 bars)" $((8 * MIB)) \
        "$QA" -q data generate --out g.h5 --symbols 1 --bars 600000 --set bar_seconds=1
    [ -f g.h5 ] && [ "$(ls -a | grep -c '\.tmp-')" = 0 ] && ok "output written, no temporary file left" || ko "g.h5 output"
    expect_oom "data generate" "$QA" -q data generate --out g2.h5 --symbols 1 --bars 600000 --set bar_seconds=1
    ;;
import)
    # docs/data-format.md: bounded by the block (64 x T x 5 doubles) plus 8 MiB of
    # readers and HDF5 chunk space. 200 files x 3,000 days: block 7.3 MiB, whole input
    # 22.9 MiB of doubles.
    "$PY" - <<'PYEOF' || { echo "FAIL: inputs"; exit 1; }
import datetime as dt, os
import numpy as np
T, S = 3000, 200
days, d = [], dt.date(2000, 1, 3)
while len(days) < T:
    if d.weekday() < 5: days.append(d.isoformat())
    d += dt.timedelta(days=1)
rng = np.random.default_rng(1)
os.makedirs("csv")
for s in range(S):
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, T)))
    with open("csv/S%03d.csv" % s, "w") as f:
        f.write("date,open,high,low,close,volume\n")
        f.write("".join("%s,%.4f,%.4f,%.4f,%.4f,%d\n" % (days[t], c[t], c[t] * 1.01, c[t] * 0.99, c[t], 1000 + t)
                        for t in range(T)))
PYEOF
    expect_ok "data import (200 files x 3,000 rows)" $((64 * 3000 * 5 * 8 / 1024 + 8 * MIB)) \
        "$QA" -q data import --input csv --out imp.h5
    expect_oom "data import" "$QA" -q data import --input csv --out imp2.h5
    ;;
features)
    # docs/features.md: one block of inputs and outputs (block_symbols x block_bars x 6
    # doubles, here 64 x 512: 1.5 MiB) plus the states; a 64 x 20,000 store is 9.8 MiB per
    # field. Peak RSS against qa data info's of a 1 x 2 store + the block + 8 MiB (library
    # pages the command touches and HDF5's filter buffers); the negative control is the
    # same run with one block of all 20,000 bars, which must exceed that bound.
    [ -x /usr/bin/time ] || { echo "skipped: no /usr/bin/time"; exit 77; }
    # A CUDA build loads CUDA, cuDNN and NCCL at start: about 280 MB of peak RSS before any
    # work, so a whole panel more (a few tens of MB, after that start-up peak) does not show.
    if "$QA" --version | grep -q cuda; then echo "skipped: a CUDA build's start-up peak RSS hides the bound (issue 19: load CUDA lazily)"; exit 77; fi
    "$PY" "$MK" f.h5 64 20000 || { echo "FAIL: store"; exit 1; }
    cat > f.yaml <<'YAML'
data: f.h5
backend: cpu
block_bars: 512
block_symbols: 64
force: true
features:
  - {kind: zscore, window: 20}
  - {kind: rsi, window: 14}
YAML
    base=$(rss "$QA" data info tiny.h5)
    bound=$((base + 64 * 512 * 6 * 8 / 1024 + 8 * MIB))
    got=$(rss "$QA" -q features --config f.yaml)
    [ "$got" -le "$bound" ] 2>/dev/null && ok "features (64 x 20,000 bars, blocks of 64 x 512): peak RSS $got KiB <= $bound KiB (qa data info's $base + block + 8 MiB)" \
        || ko "features peak RSS $got KiB > $bound KiB"
    got=$(rss "$QA" -q features --config f.yaml --set block_bars=20000)
    [ "$got" -gt "$bound" ] 2>/dev/null && ok "negative control: one block of all 20,000 bars peaks at $got KiB > $bound KiB" \
        || ko "negative control: the whole-panel block peaks at $got KiB, not above $bound KiB: the measure cannot see a panel"
    ;;
sweep)
    # docs/sweep.md: the selected panel (S x T doubles per field read), O(P) per-set state
    # and the merge's capped buffers; never O(S x P). A grid whose sets x bytes per set
    # exceed the memory is refused before it is expanded, with the estimate.
    "$PY" "$MK" s.h5 200 1200 || { echo "FAIL: store"; exit 1; }
    cat > s.yaml <<'YAML'
data: s.h5
symbols: all
strategy: sma_cross
grid:
  fast: {start: 2, stop: 11}
  slow: {start: 20, stop: 29}
settings: {commission_bps: 1}
chunk: {symbols: 64, params: 100}
YAML
    # panel: 200 x 1200 x 1 field = 1.8 MiB; runs: 20,000 (histograms 3 x 8 bytes each,
    # 0.5 MiB); chunk, backtest task and results-writer buffers: 10 MiB (docs/sweep.md).
    expect_ok "sweep (200 symbols x 100 sets x 1,200 bars)" $((200 * 1200 * 8 / 1024 + 20000 * 24 / 1024 + 10 * MIB)) \
        "$QA" -q sweep --config s.yaml --run-dir r1
    sed 's/  slow: {start: 20, stop: 29}/  slow: {start: 20, stop: 1199}/; s/  fast: {start: 2, stop: 11}/  fast: {start: 2, stop: 19}/' s.yaml > big.yaml
    capped $((FIXED + 4 * MIB)) "$QA" -q sweep --config big.yaml --run-dir r2; rc=$?
    if [ $rc -eq 1 ] && grep -q "parameter sets x .* bytes each .* need an estimated .* of memory, more than the .* available" "$W/log" \
        && [ ! -d r2/chunks ]; then
        ok "a grid of 21,240 sets is refused before expansion under fixed cost + 4 MiB: $(tail -1 "$W/log" | cut -c1-200)"
    else
        ko "grid refusal: exit $rc: $(tail -c 400 "$W/log")"
    fi
    expect_oom "sweep" "$QA" -q sweep --config s.yaml --run-dir r3
    ;;
stress)
    # docs/risk.md: O(block x (factors + positions) + tail sizes + sample); the scenarios
    # stream. 10^6 Monte-Carlo scenarios of 8 factors and 8 positions: held whole they would
    # be 122 MiB of P&L and factor moves; the bound is the loss tail (1% of 10^6 rows x 56
    # bytes: 0.5 MiB), four block-sized work arrays (16,384 x 16 doubles: 2 MiB each) and
    # 8 MiB of sample, outputs and HDF5 buffers. Checked by peak RSS, not `ulimit -v`:
    # OpenBLAS (pthread build) mallocs a 128 MiB buffer at its first call and, when that
    # fails under a cap, retries forever instead of failing (found writing this test).
    [ -x /usr/bin/time ] || { echo "skipped: no /usr/bin/time"; exit 77; }
    if "$QA" --version | grep -q cuda; then echo "skipped: a CUDA build's start-up peak RSS hides the bound (issue 19: load CUDA lazily)"; exit 77; fi
    "$PY" "$MK" s.h5 8 3000 || { echo "FAIL: store"; exit 1; }
    { printf 'id,symbol,type,quantity\n'; for i in 0 1 2 3 4 5 6 7; do printf 'p%d,R0000%d,etf,100\n' $i $i; done; } > book.csv
    cat > st.yaml <<'YAML'
portfolio: book.csv
data: s.h5
levels: [0.99]
window: 2000
methods: [montecarlo]
montecarlo: {scenarios: 1000000}
scenarios: {historical: []}
YAML
    base=$(rss "$QA" data info s.h5)
    bound=$((base + 10000 * 56 / 1024 + 4 * 2 * MIB + 8 * MIB))
    got=$(rss "$QA" -q stress --config st.yaml --run-dir r1)
    [ "$got" -le "$bound" ] 2>/dev/null && [ -f r1/results.h5 ] && ok "stress (10^6 scenarios, 8 factors, 8 positions): peak RSS $got KiB <= $bound KiB (qa data info's $base + tail + 4 blocks + 8 MiB)" \
        || ko "stress peak RSS $got KiB > $bound KiB (or no results)"
    got=$(rss "$QA" -q stress --config st.yaml --run-dir r2 --set montecarlo.block=1000000)
    [ "$got" -gt "$bound" ] 2>/dev/null && ok "negative control: one block of all 10^6 scenarios peaks at $got KiB > $bound KiB" \
        || ko "negative control: the one-block run peaks at $got KiB, not above $bound KiB: the measure cannot see the scenarios"
    ;;
store)
    # A store that declares 10^12 timestamps in an 11 KB file is refused before allocating;
    # one whose real grid needs more than the cap leaves is refused with the estimate.
    "$PY" "$MK" huge.h5 2 0 --declare-time 1000000000000 || { echo "FAIL: store"; exit 1; }
    "$QA" data info huge.h5 > log 2>&1; rc=$?
    [ $rc -eq 1 ] && grep -q "huge.h5: dataset '/time' declares 1000000000000 timestamps (7.3 TiB) but the file is only" log \
        && ok "a store declaring 10^12 timestamps is refused, naming file, dataset and sizes" || ko "huge declared store: exit $rc: $(cat log)"
    "$PY" "$MK" mid.h5 1 3000000 || { echo "FAIL: store"; exit 1; }
    capped $((FIXED + 8 * MIB)) "$QA" data info mid.h5; rc=$?
    [ $rc -eq 1 ] && grep -q "mid.h5: dataset '/time' declares 1 symbols x 3000000 timestamps: to open the store needs an estimated 22.9 MiB of memory, more than the .* available" "$W/log" \
        && ok "a 3,000,000-timestamp grid under fixed cost + 8 MiB is refused with the estimate" || ko "memory refusal: exit $rc: $(cat "$W/log")"
    capped $((FIXED + 8 * MIB)) "$QA" data info tiny.h5 && ok "the same cap opens a small store (the refusal is the grid's size)" \
        || ko "data info tiny.h5 under fixed cost + 8 MiB: $(tail -c 300 "$W/log")"
    ;;
*) echo "unknown case '$CASE'"; exit 2 ;;
esac
qa_exit
