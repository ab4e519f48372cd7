#!/bin/sh
# A full disk (a tmpfs of a few MB, filled but for a byte budget) under each long phase
# that writes outputs: `qa data import`, `qa sweep merge`, `qa stress`, and `qa train`'s
# checkpoints. For each budget the failing run must exit 1 with an error naming the file
# and "No space left on device", leave the previous outputs in place byte for byte, and
# leave no temporary file; training then resumes from the last good checkpoint to the
# parameters of an uninterrupted run. Budgets go from nothing free (the first file
# cannot be created) to most of the output (the last writes fail).
# Usage: test_fault_disk.sh QA SOURCE_DIR PYTHON3 MODE (import | merge | stress | train)
QA="$1"; SRC="$2"; PY="${3:-/usr/bin/python3}"; MODE="$4"
FAULT_SCRIPT="$0"
. "$SRC/tests/lib.sh"
. "$SRC/tests/fault/fault_lib.sh"
fault_enter_ns "$@"
qa_tmpdir "fault_$MODE"
cd "$W" || exit 1
D="$W/disk"
fault_disk "$D" 16m

# run_full WHAT FREE DIR WANT CMD...: CMD on a disk with FREE bytes left, then fault_check.
run_full() {
    what=$1 free=$2 dir=$3 want=$4
    shift 4
    before=$(fault_snapshot "$dir")
    fault_fill "$free"
    "$@" > "$W/full.log" 2>&1
    rc=$?
    fault_unfill
    fault_check "$what ($free bytes free)" "$W/full.log" $rc "$before" "$dir" "$want"
}

case "$MODE" in
import)
    # The previous market file and its anomaly report in the target directory.
    mkdir "$D/data"
    imp() { "$QA" -q data import --preset sp500-daily --data-root "$SRC/datasets/sample" --out "$D/data/m.h5"; }
    imp 2> /dev/null || { echo "FAIL: first import"; exit 1; }
    for free in 0 65536 1000000 4000000; do run_full "import" $free "$D/data" "$D/data/m.h5" imp; done
    "$QA" data validate "$D/data/m.h5" > log 2>&1 && ok "the kept market file validates" || { ko "validate"; cat log; }
    ;;
merge)
    # A finished sweep; its merge is run again on a full disk.
    qa_import sp500-daily m.h5
    { sma_sweep_yaml "$W/m.h5" 2020-12-31; printf 'portfolio: {weighting: equal}\ntop: 5\nchunk: {symbols: 6, params: 10}\n'; } > s.yaml
    "$QA" -q sweep --config s.yaml --run-dir "$D/sw" > log 2>&1 || { echo "FAIL: sweep"; cat log; exit 1; }
    for free in 0 8192 100000 600000 1200000; do
        run_full "sweep merge" $free "$D/sw" "$D/sw/" "$QA" -q sweep merge --config s.yaml --run-dir "$D/sw"
    done
    "$QA" -q sweep merge --config s.yaml --run-dir "$D/sw" > log 2>&1 && ok "the merge succeeds once the disk has room" \
        || { ko "merge after the full disk"; cat log; }
    ;;
stress)
    qa_import etf-daily etf.h5
    etf_book_yaml "test book" SPY=0.3 TLT=0.3 GLD=0.2 XLF=0.2 > book.yaml
    printf 'portfolio: %s\ndata: %s\nlevels: [0.95, 0.99]\nhorizon: 1\nwindow: 500\nmethods: [historical, parametric]\n' \
        "$W/book.yaml" "$W/etf.h5" > st.yaml
    "$QA" -q stress --config st.yaml --run-dir "$D/st" > log 2>&1 || { echo "FAIL: stress"; cat log; exit 1; }
    for free in 0 8192 20000 30000; do
        run_full "stress" $free "$D/st" "$D/st/" "$QA" -q stress --config st.yaml --run-dir "$D/st"
    done
    ;;
train)
    qa_import stocks-5min s5.h5
    "$QA" -q features --data s5.h5 > /dev/null 2>&1 || { echo "FAIL: qa features"; exit 1; }
    { printf 'data: %s\nseed: 3\n' "$W/s5.h5"; mlp_inputs_yaml; cat <<'YAML'; } > mlp.yaml
target: {kind: return, horizon: 6, demean: true}
split: {start: 2026-01-26, train_end: 2026-04-01, val_end: 2026-05-01, embargo: 6}
model: {type: mlp, hidden: [16], activation: gelu, layer_norm: true}
train: {batch_size: 256, steps: 60, lr: 1e-3, eval_every: 30, patience: 0, checkpoint_every: 10}
YAML
    "$QA" -q train --config mlp.yaml --run-dir "$W/straight" > log 2>&1 || { echo "FAIL: uninterrupted training"; cat log; exit 1; }
    "$QA" -q train --config mlp.yaml --run-dir "$D/tr" --max-steps 30 > log 2>&1 || { echo "FAIL: training to step 30"; cat log; exit 1; }
    # metrics.jsonl is an append log that --resume cuts back to the checkpoint's step: it
    # is compared after the resume instead.
    fault_snapshot() {
        (cd "$1" && find . -type f ! -name .lock ! -name run.json ! -name run.log ! -name metrics.jsonl \
            -exec sha256sum {} + | sort -k 2)
    }
    # 12000 bytes: the run gets to its next checkpoint (step 40), whose write fails.
    for free in 0 4000 12000; do
        run_full "train checkpoint" $free "$D/tr" "$D/tr/" "$QA" -q train --config mlp.yaml --run-dir "$D/tr" --resume
    done
    grep -q "checkpoint.qac: write failed: No space left on device" "$W/full.log" \
        && ok "the checkpoint write itself failed (not only the run's bookkeeping)" || { ko "checkpoint write not reached"; cat "$W/full.log"; }
    "$QA" -q train --config mlp.yaml --run-dir "$D/tr" --resume > log 2>&1 && ok "resumed from the last good checkpoint" \
        || { ko "resume after the full disk"; cat log; }
    "$PY" - "$W/straight" "$D/tr" <<'PYEOF' && ok "resumed == uninterrupted: parameters, checkpoint and metrics steps (bitwise)" || ko "resumed run differs"
import json, struct, sys
def params(path):
    b = open(path, "rb").read()
    J, = struct.unpack_from("<Q", b, 16)
    meta = json.loads(b[32:32 + J])
    blob = [x for x in meta["blobs"] if x["name"] == "params"][0]
    off = 32 + J + blob["offset"]
    return b[off:off + 4 * blob["count"]]
a, b = sys.argv[1], sys.argv[2]
for f in ("model.qam", "checkpoint.qac"):
    assert params(f"{a}/{f}") == params(f"{b}/{f}"), f
steps = lambda d: [(j["step"], j["train_loss"], j["val_loss"]) for j in map(json.loads, open(f"{d}/metrics.jsonl"))]
assert steps(a) == steps(b), (steps(a), steps(b))
PYEOF
    ;;
*) echo "FAIL: unknown mode '$MODE'"; exit 1 ;;
esac
qa_exit
