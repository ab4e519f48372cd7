#!/bin/sh
# qa train / qa runs / qa evaluate end to end on the shipped sample: a small MLP and a
# small LSTM for a few hundred steps, the run directory's files, the tracker, evaluation
# equal to the run's own, a run stopped with --max-steps and one stopped by SIGTERM
# resumed to the same parameters as an uninterrupted run, corrupted / truncated model
# files refused, and config errors with file:line:key.
# Two ctest entries share it: MODE "main" (sections 1-3, 5, 6) and "resume" (section 4).
QA="$1"; SRC="$2"; PY="${3:-/usr/bin/python3}"; MODE="${4:-main}"
. "$SRC/tests/lib.sh"
qa_tmpdir train_cli
export QA_PROGRESS=0
cd "$W" || exit 1
qa_import sp500-daily m.h5
"$QA" -q features --data m.h5 --backend cpu || { echo "FAIL: features"; exit 1; }

{ printf 'data: m.h5\nbackend: cpu\nseed: 7\nthreads: 1\n'; mlp_inputs_yaml; cat <<'EOF'; } > mlp.yaml
target: {kind: return, horizon: 5}
split: {start: 1990-01-01, train_end: 2012-01-01, val_end: 2017-01-01, embargo: 5}
model: {type: mlp, hidden: [64, 32], activation: gelu, dropout: 0.1, layer_norm: true}
train: {batch_size: 512, steps: 300, lr: 1e-3, warmup_steps: 30, eval_every: 50, log_every: 10, patience: 0}
evaluate: {top_k: 3, cost_bps: 5}
EOF
lstm_yaml m.h5 200 100 > lstm.yaml

if [ "$MODE" = main ]; then
# 1. Train both; the run directory holds every file.
"$QA" train --config mlp.yaml --run-dir runs/mlp > mlp.log 2>&1 && ok "MLP trained" || { ko "MLP training"; cat mlp.log; }
"$QA" train --config lstm.yaml --run-dir runs/lstm > lstm.log 2>&1 && ok "LSTM trained" || { ko "LSTM training"; cat lstm.log; }
for f in config.resolved.json run.json run.log metrics.jsonl checkpoint.qac model.qam summary.json report.html; do
  [ -s "runs/mlp/$f" ] && [ -s "runs/lstm/$f" ] || ko "run directory lacks $f"
done
[ "$(wc -l < runs/mlp/metrics.jsonl)" -eq 30 ] && ok "30 metrics lines (every 10 steps)" || ko "metrics lines: $(wc -l < runs/mlp/metrics.jsonl)"
grep -q '"val_loss":[0-9]' runs/mlp/metrics.jsonl && grep -q '"samples_per_s"' runs/mlp/metrics.jsonl && ok "metrics carry losses and throughput" || ko "metrics fields"
grep -q "<svg" runs/mlp/report.html && grep -q "Loss" runs/mlp/report.html && grep -q "backtest" runs/mlp/report.html && ok "report with charts" || ko "report"

# 2. The tracker lists both runs and shows one.
"$QA" runs list --dir runs > list.txt 2>&1
grep -q "^mlp .*mlp 64x32" list.txt && grep -q "^lstm .*lstm 32" list.txt && grep -q "sign h5" list.txt && ok "qa runs list" || { ko "qa runs list"; cat list.txt; }
"$QA" runs show runs/mlp > show.txt 2>&1 && grep -q "rank IC" show.txt && grep -q "model.qam" show.txt && ok "qa runs show" || { ko "qa runs show"; cat show.txt; }
"$QA" runs show runs/nope > /dev/null 2>&1; [ $? -eq 1 ] && ok "qa runs show of a missing run fails" || ko "runs show missing"

# 3. qa evaluate reproduces the run's own test evaluation.
"$QA" evaluate --model runs/mlp/model.qam --data m.h5 --split test --json eval.json > eval.txt 2>&1 && ok "qa evaluate" || { ko "qa evaluate"; cat eval.txt; }
if "$PY" -c "import json" 2>/dev/null; then
"$PY" - <<'PYEOF' && ok "evaluate equals the run's summary (IC, rank IC, MSE, Sharpe, loss)" || ko "evaluate vs summary"
import json, math
s = json.load(open("runs/mlp/summary.json"))["evaluation"]["test"]
e = json.load(open("eval.json"))
for k in (("ic", "mean"), ("rank_ic", "mean"), ("mse", "model"), ("backtest", "sharpe"), ("ic", "t_stat")):
    a, b = s[k[0]][k[1]], e[k[0]][k[1]]
    assert a == b, (k, a, b)
assert abs(s["loss"] - e["loss"]) <= 1e-12 * abs(s["loss"]), (s["loss"], e["loss"])
PYEOF
else qa_skip "evaluate equals the run's summary (no $PY)"; fi

fi

if [ "$MODE" = resume ]; then
# a shorter schedule keeps this part quick
sed -i 's/steps: 300/steps: 120/; s/eval_every: 50/eval_every: 30/' mlp.yaml
# 4. Kill and resume: --max-steps then --resume, and SIGTERM then --resume, give the same
#    parameters as the uninterrupted run (bit for bit).
params_equal() { "$PY" - "$1" "$2" <<'PYEOF'
import json, struct, sys
def params(path):
    b = open(path, "rb").read()
    J, B = struct.unpack_from("<QQ", b, 16)
    meta = json.loads(b[32:32 + J])
    blob = [x for x in meta["blobs"] if x["name"] == "params"][0]
    off = 32 + J + blob["offset"]
    return b[off:off + 4 * blob["count"]]
sys.exit(0 if params(sys.argv[1]) == params(sys.argv[2]) else 1)
PYEOF
}
"$QA" -q train --config mlp.yaml --run-dir runs/mlp > mlp.log 2>&1 || { ko "MLP training"; cat mlp.log; }
"$QA" -q train --config mlp.yaml --run-dir runs/paused --max-steps 50 > p.log 2>&1 && grep -q '"stop_reason": "max-steps"' runs/paused/run.json && ok "paused at --max-steps" || { ko "max-steps"; cat p.log; }
"$QA" runs list --dir runs | grep -q "^paused .*paused" && ok "tracker shows the paused run" || ko "paused status"
"$QA" -q train --config mlp.yaml --run-dir runs/paused > p2.log 2>&1; [ $? -eq 1 ] && grep -q "pass --resume" p2.log && ok "existing checkpoint needs --resume" || ko "no --resume"
"$QA" -q train --config mlp.yaml --run-dir runs/paused --resume > p3.log 2>&1 && ok "resumed" || { ko "resume"; cat p3.log; }
if "$PY" -c "import json" 2>/dev/null; then
  params_equal runs/mlp/model.qam runs/paused/model.qam && params_equal runs/mlp/checkpoint.qac runs/paused/checkpoint.qac \
    && ok "max-steps + resume == uninterrupted (bitwise)" || ko "resumed parameters differ"
else qa_skip "max-steps + resume == uninterrupted (no $PY)"; fi
"$QA" train --config mlp.yaml --set train.steps=100000 --set train.eval_every=20 --run-dir runs/killed > k.log 2>&1 &
pid=$!
i=0; while [ $i -lt 300 ] && ! grep -q '"step":30,' runs/killed/metrics.jsonl 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -TERM $pid; wait $pid; rc=$?
[ $rc -eq 0 ] && grep -q "interrupted by a signal" k.log && grep -q '"stop_reason": "interrupted"' runs/killed/run.json \
  && ok "SIGTERM: checkpoint written, exit 0 (the Slurm template's contract)" || { ko "SIGTERM (rc $rc)"; cat k.log; }
step=$("$PY" -c "import json; print(json.load(open('runs/killed/run.json'))['steps'])" 2>/dev/null)
"$QA" -q train --config mlp.yaml --set train.steps=100000 --set train.eval_every=20 --run-dir runs/killed --resume --max-steps $((step + 30)) > k2.log 2>&1 \
  && ok "resumed after SIGTERM at step $step" || { ko "resume after SIGTERM"; cat k2.log; }
"$QA" -q train --config mlp.yaml --set train.steps=100000 --set train.eval_every=20 --run-dir runs/straight --max-steps $((step + 30)) > k3.log 2>&1
if "$PY" -c "import json" 2>/dev/null; then
  params_equal runs/killed/checkpoint.qac runs/straight/checkpoint.qac && ok "SIGTERM + resume == uninterrupted (bitwise)" || ko "SIGTERM resume differs"
else qa_skip "SIGTERM + resume == uninterrupted (no $PY)"; fi
# USR1 (Slurm's warning before the time limit) stops the run the same way
"$QA" train --config mlp.yaml --set train.steps=100000 --set train.eval_every=20 --run-dir runs/killed --resume > u.log 2>&1 &
pid=$!
i=0; while [ $i -lt 300 ] && ! grep -q "\"step\":$((step + 40))," runs/killed/metrics.jsonl 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -USR1 $pid; wait $pid; rc=$?
[ $rc -eq 0 ] && grep -q "interrupted by a signal" u.log && ok "USR1: checkpoint written, exit 0" || { ko "USR1 (rc $rc)"; cat u.log; }

fi

if [ "$MODE" = main ]; then
# 5. Corrupted and truncated model files are refused.
cp runs/mlp/model.qam bad.qam
printf 'X' | dd of=bad.qam bs=1 seek=3000 conv=notrunc 2>/dev/null
"$QA" evaluate --model bad.qam --data m.h5 > bad.log 2>&1; [ $? -eq 1 ] && grep -q "SHA-256 mismatch" bad.log && ok "flipped byte refused" || { ko "corrupt model"; cat bad.log; }
head -c 2000 runs/mlp/model.qam > short.qam
"$QA" evaluate --model short.qam --data m.h5 > short.log 2>&1; [ $? -eq 1 ] && grep -q "truncated" short.log && ok "truncated model refused" || { ko "truncated model"; cat short.log; }
"$QA" evaluate --model runs/mlp/checkpoint.qac --data m.h5 > ck.log 2>&1; [ $? -eq 1 ] && grep -q "is a checkpoint file" ck.log && ok "checkpoint is not a model" || { ko "checkpoint as model"; cat ck.log; }

# 6. Config errors name file:line:key and stop before training.
sed 's/type: mlp/type: transformer/' mlp.yaml > bad1.yaml
"$QA" train --config bad1.yaml --run-dir runs/bad1 > b1.log 2>&1; [ $? -eq 1 ] && grep -q "bad1.yaml:12: key 'model.type'" b1.log && ok "unknown model type" || { ko "bad model type"; cat b1.log; }
sed 's/ret_close, zscore/ret_close, nope_20, zscore/' mlp.yaml > bad2.yaml
"$QA" train --config bad2.yaml --run-dir runs/bad2 > b2.log 2>&1; [ $? -eq 1 ] && grep -q "bad2.yaml:6: key 'inputs.features\[1\]': feature 'nope_20' is not in /features" b2.log && ok "missing feature" || { ko "missing feature"; cat b2.log; }
[ ! -e runs/bad2/checkpoint.qac ] || ko "a refused config left a checkpoint"
"$QA" train --config mlp.yaml --set train.batch_size=1000000 --run-dir runs/bad3 > b3.log 2>&1; [ $? -eq 1 ] && grep -q "larger than the training set" b3.log && ok "batch larger than the training set" || { ko "batch size"; cat b3.log; }
"$QA" train --config mlp.yaml > b4.log 2>&1; [ $? -eq 2 ] && ok "missing --run-dir is a usage error" || ko "usage"
fi
qa_exit
