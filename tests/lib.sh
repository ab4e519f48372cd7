# Sourced by the shell tests after they set QA (the qa binary) and SRC (the source tree):
# ok/ko reporting into $fail, qa_skip for a core check that cannot run here and qa_exit
# to end the test (1 failed, 77 skipped, 0 passed), a temporary directory, the
# shipped sample imported into a market file, the GPU skip, and the configs over the
# sample that the demo and the golden runs use too (scripts/sample_configs.sh).

. "$SRC/scripts/sample_configs.sh"

fail=0
skipped=0
ok() { echo "ok: $1"; }
ko() { echo "FAIL: $1"; fail=1; }

# qa_skip WHAT: a core check cannot run here (no h5py, no mpirun); the test goes on with
# the rest, and qa_exit then reports a skip rather than a pass.
qa_skip() { echo "skipped: $1"; skipped=1; }

# qa_exit: the end of a shell test: exit 1 when a check failed, else 77 (ctest's skip
# code, SKIP_RETURN_CODE of every qa_add_test) when a core check was skipped, else 0.
qa_exit() {
    [ "$fail" = 0 ] && [ "$skipped" = 1 ] && { echo "skipped: some core checks could not run here (see above)"; exit 77; }
    exit "$fail"
}

# qa_tmpdir NAME: W = a fresh directory /tmp/qa_test_NAME_XXXXXX, removed when the test exits.
qa_tmpdir() {
    W=$(mktemp -d "/tmp/qa_test_$1_XXXXXX")
    trap 'rm -rf "$W"' EXIT
}

# qa_import PRESET OUT: the preset's files of the shipped sample (datasets/sample) imported
# into the market file OUT; the test fails and ends if that does not work.
qa_import() {
    "$QA" -q data import --preset "$1" --data-root "$SRC/datasets/sample" --out "$2" 2>/dev/null \
        || { echo "FAIL: import"; exit 1; }
}

# qa_live_model REASON: the live tests' model: s5.h5 (the shipped 5-minute stocks) with its
# features, an MLP of the demeaned 6-bar forward return trained on it, published as m5 and
# aliased champion (the alias change carries REASON); the test fails and ends otherwise.
qa_live_model() {
    qa_import stocks-5min s5.h5
    "$QA" -q features --data s5.h5 > /dev/null 2>&1 || { echo "FAIL: qa features"; exit 1; }
    { printf 'data: s5.h5\nseed: 3\n'; mlp_inputs_yaml; cat <<'EOF'; } > mlp.yaml
target: {kind: return, horizon: 6, demean: true}
split: {start: 2026-01-26, train_end: 2026-04-01, val_end: 2026-05-01, embargo: 6}
model: {type: mlp, hidden: [16], activation: gelu, layer_norm: true}
train: {batch_size: 256, steps: 60, lr: 1e-3, eval_every: 30, patience: 0}
EOF
    "$QA" -q train --config mlp.yaml --run-dir run --publish m5 > pub.txt 2> pub.err \
        || { echo "FAIL: train: $(cat pub.err)"; exit 1; }
    "$QA" -q registry alias set m5 champion 1 --reason "$1" > /dev/null || { echo "FAIL: alias"; exit 1; }
}

# qa_need_gpu: the test is skipped (exit 77) unless qa sees a GPU and has its CUDA backend.
qa_need_gpu() {
    "$QA" info --json 2>/dev/null | grep -q '"gpus": \[\]' && { echo "skipped: no GPU"; exit 77; }
    "$QA" info --json 2>/dev/null | grep -q '"cuda"' || { echo "skipped: no CUDA backend in this build"; exit 77; }
}

# qa_kill_trials N LO HI CMD...: runs CMD in the background N times, each killed with
# SIGKILL after a random LO..HI seconds (the live tests' crash-recovery trials; $PY draws).
qa_kill_trials() {
    n=$1 lo=$2 hi=$3
    shift 3
    i=0
    while [ $i -lt "$n" ]; do
        "$@" > /dev/null 2> "kill.$i.err" &
        pid=$!
        sleep "$("$PY" -c "import random; print(round(random.uniform($lo, $hi), 2))")"
        kill -9 $pid 2>/dev/null
        wait $pid 2>/dev/null
        i=$((i + 1))
    done
}
