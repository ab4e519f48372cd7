#!/bin/sh
# qa rl train / qa rl eval end to end on the shipped sample (16 US stocks, daily): a short
# PPO run writes every run-directory file; its test evaluation goes through the simulator
# and the env's equity matches the simulator's sleeves; a run stopped with --max-updates
# and resumed ends bit for bit where the uninterrupted run ends; qa rl eval repeats the
# run's own evaluation; the policy is published to the registry with a policy signature;
# continuous and portfolio policies train and are evaluated in their environment; config
# errors name the key; 2 MPI ranks train in data parallel, deterministically.
# Usage: test_rl_cli.sh QA SOURCE_DIR [PYTHON3] [MPIEXEC]
QA="$1"; SRC="$2"; PY="${3:-/usr/bin/python3}"; MPIRUN="$4"
. "$SRC/tests/lib.sh"
qa_tmpdir rl_cli
export QA_PROGRESS=0
cd "$W" || exit 1
qa_import sp500-daily m.h5

cat > rl.yaml <<'EOF'
data: m.h5
backend: cpu
seed: 3
threads: 1
env: {features: [log_return], window: 16, horizon: 64, envs: 16}
split: {start: 2000-01-01, train_end: 2014-01-01, val_end: 2019-01-01, embargo: 5}
settings: {commission_bps: 1, half_spread_bps: 2}
ppo: {steps: 32, minibatches: 4, hidden: [32, 32], lr: 1e-3}
train: {total_steps: 6144, eval_every: 4, eval_envs: 16, checkpoint_every: 4}
EOF

# 1. A run and its directory (6,144 steps = 12 updates of 16 x 32; 3 validations).
"$QA" rl train --config rl.yaml --run-dir runs/a > a.log 2>&1 && ok "qa rl train" || { ko "qa rl train"; cat a.log; }
for f in config.resolved.json run.json run.log metrics.jsonl checkpoint.qrl model.qam lineage.json summary.json \
         report.html eval-test/summary.json eval-test/equity.csv eval-test/report.html; do
    [ -s "runs/a/$f" ] || ko "run directory lacks $f"
done
[ "$(grep -c '"kind":"update"' runs/a/metrics.jsonl)" -eq 12 ] && [ "$(grep -c '"kind":"validation"' runs/a/metrics.jsonl)" -eq 3 ] \
    && ok "metrics: 12 updates, 3 validations" || ko "metrics lines: $(wc -l < runs/a/metrics.jsonl)"
grep -q "<svg" runs/a/report.html && grep -q "<svg" runs/a/eval-test/report.html && grep -q "buy and hold" runs/a/eval-test/report.html \
    && ok "reports with charts" || ko "reports"
"$PY" - <<'PYEOF' && ok "summary: evaluation through the simulator, env == simulator sleeves" || ko "summary"
import json, math
s = json.load(open("runs/a/summary.json"))
assert s["updates"] == 12 and s["env_steps"] == 6144 and s["stop_reason"] == "steps", s
e = s["evaluation"]
assert e["split"] == "test" and e["symbols"] >= 10, e
for k in ("policy_sharpe", "hold_sharpe", "sweep_best_sharpe", "policy_total_return"):
    assert math.isfinite(e[k]), (k, e[k])
# the env keeps the platform accounting: its equity is the simulator sleeve (float returns)
assert e["env_sim_max_equity_diff"] < 1e-5, e["env_sim_max_equity_diff"]
ev = json.load(open("runs/a/eval-test/summary.json"))
assert ev["policy"]["orders"] > 0 and ev["policy"]["fills"] > 0 and ev["policy"]["costs"] > 0, ev["policy"]
assert ev["sweep_best"]["fast"] < ev["sweep_best"]["slow"]
PYEOF

# 2. Stopped after 5 updates, resumed: the same final checkpoint and policy bits.
"$QA" -q rl train --config rl.yaml --run-dir runs/b --max-updates 5 > b1.log 2>&1 && ok "stopped with --max-updates" || { ko "max-updates"; cat b1.log; }
[ "$(grep -c '"kind":"update"' runs/b/metrics.jsonl)" -eq 5 ] || ko "5 updates before the stop"
"$QA" -q rl train --config rl.yaml --run-dir runs/b --resume > b2.log 2>&1 && ok "resumed" || { ko "resume"; cat b2.log; }
cmp -s runs/a/checkpoint.qrl runs/b/checkpoint.qrl && cmp -s runs/a/model.qam runs/b/model.qam \
    && ok "resumed run == uninterrupted run (checkpoint and policy bytes)" || ko "resume differs"
"$QA" -q rl train --config rl.yaml --run-dir runs/c --max-updates 3 > /dev/null 2>&1
"$QA" -q rl train --config rl.yaml --run-dir runs/c --resume --set ppo.steps=16 > c.log 2>&1
[ $? -ne 0 ] && grep -q "steps per rollout" c.log && ok "resume with another shape refused" || { ko "shape mismatch"; cat c.log; }

# 3. qa rl eval repeats the run's evaluation.
"$QA" -q rl eval --run runs/a --out ev > ev.txt 2>&1 && grep -q "buy and hold" ev.txt && ok "qa rl eval" || { ko "qa rl eval"; cat ev.txt; }
"$PY" - <<'PYEOF' && ok "qa rl eval == the run's eval-test" || ko "eval differs"
import json
a = json.load(open("runs/a/eval-test/summary.json")); b = json.load(open("ev/summary.json"))
for k in ("policy", "buy_and_hold", "sweep_best"):
    assert a[k] == b[k], (k, a[k], b[k])
PYEOF
"$QA" -q rl eval --run runs/a --split validation --out evv > /dev/null 2>&1 && [ -s evv/report.html ] && ok "validation split" || ko "eval validation"

# 4. Published to the registry with its signature and lineage.
"$QA" -q registry publish runs/a --name ppo_daily --registry reg > pub.txt 2>&1 && ok "published" || { ko "publish"; cat pub.txt; }
"$QA" registry show models:/ppo_daily/1 --registry reg > show.json 2>&1
"$PY" - <<'PYEOF' && ok "registry: policy signature, lineage, metrics" || { ko "registry show"; cat show.json; }
import json
v = json.load(open("show.json"))
sig = v["signature"]
assert sig["output"]["target"] == "policy" and sig["output"]["action"] == "discrete", sig["output"]
assert sig["window"] == 16 and sig["inputs"][0]["name"] == "logret", sig
assert len(sig["normalisation"]["obs_mean"]) == 16 + 3
lin = v["lineage"]
assert lin["data"]["data_sha256"] and lin["config_hash"], lin
assert "test_sharpe" in v["metrics"], v["metrics"]
PYEOF
# The published policy evaluates from the registry alone (its recorded configuration).
"$QA" -q rl eval --model models:/ppo_daily/1 --registry reg --out evm > evm.txt 2>&1 && ok "qa rl eval --model" || { ko "eval --model"; cat evm.txt; }
"$PY" - <<'PYEOF' && ok "registry policy == the run's policy (same evaluation)" || ko "eval --model differs"
import json
a = json.load(open("runs/a/eval-test/summary.json")); b = json.load(open("evm/summary.json"))
assert a["policy"] == b["policy"] and a["buy_and_hold"] == b["buy_and_hold"], (a["policy"], b["policy"])
PYEOF
"$QA" rl eval --model models:/nope/1 --registry reg --out evx > evx.txt 2>&1
[ $? -eq 1 ] && grep -q "nope" evx.txt && ok "an unknown model is refused" || { ko "eval unknown model"; cat evx.txt; }

# 5. A portfolio policy (continuous target weights, softmax) and a continuous single-asset
#    one: trained, evaluated in their environment beside the hold policy, published.
cat > pf.yaml <<'EOF'
data: m.h5
seed: 5
threads: 1
env: {kind: portfolio, action: continuous, weights: softmax, symbols: [AAPL, JNJ, KO, XOM], window: 8, horizon: 64, envs: 8}
split: {start: 2000-01-01, train_end: 2014-01-01, val_end: 2019-01-01, embargo: 5}
settings: {commission_bps: 1, half_spread_bps: 2}
ppo: {steps: 32, minibatches: 2, hidden: [16]}
train: {total_steps: 1024, eval_every: 2, eval_envs: 8}
EOF
"$QA" -q rl train --config pf.yaml --run-dir runs/pf > pf.log 2>&1 && ok "portfolio policy trained" || { ko "portfolio train"; cat pf.log; }
"$QA" -q rl train --config pf.yaml --run-dir runs/cs --set env.kind=single --set "env.symbols=[KO]" > cs.log 2>&1 \
    && ok "continuous single-asset policy trained" || { ko "continuous train"; cat cs.log; }
"$QA" -q registry publish runs/pf --name ppo_pf --registry reg > /dev/null 2>&1 && "$QA" registry show models:/ppo_pf/1 --registry reg > pf.json 2>&1
"$PY" - <<'PYEOF' && ok "environment evaluation and a portfolio signature" || ko "portfolio evaluation"
import json, math
for run in ("runs/pf", "runs/cs"):
    s = json.load(open(run + "/summary.json"))
    e = s["evaluation"]
    assert e["method"] == "environment" and math.isfinite(e["hold_mean_episode_return"]), e
    ev = json.load(open(run + "/eval-test/summary.json"))
    assert ev["episodes"] == 8 and math.isfinite(ev["policy"]["mean_episode_return"]), ev
sig = json.load(open("pf.json"))["signature"]
assert sig["output"]["action"] == "continuous" and sig["assets"] == 4 and sig["output"]["weights"] == "softmax", sig["output"]
assert sig["dim"] == 4 * 8 + 4 + 2, sig["dim"]
PYEOF

# 6. Configuration errors name the key.
printf 'data: m.h5\nsplit: {train_end: 2014-01-01, val_end: 2019-01-01}\nenv: {kind: portfolio, action: discrete}\n' > bad1.yaml
"$QA" rl train --config bad1.yaml --run-dir runs/x > bad1.log 2>&1
[ $? -eq 1 ] && grep -q "env.action" bad1.log && ok "portfolio + discrete refused" || { ko "bad1"; cat bad1.log; }
printf 'data: m.h5\nsplit: {train_end: 2014-01-01, val_end: 2019-01-01}\nstops: {stop_loss: 0.05}\n' > bad2.yaml
"$QA" rl train --config bad2.yaml --run-dir runs/y > bad2.log 2>&1
[ $? -eq 1 ] && grep -q "stop" bad2.log && ok "stops refused" || { ko "bad2"; cat bad2.log; }
printf 'data: m.h5\nsplit: {train_end: 2014-01-01, val_end: 2019-01-01}\nppo: {stepz: 3}\n' > bad3.yaml
"$QA" rl train --config bad3.yaml --run-dir runs/z > bad3.log 2>&1
[ $? -eq 1 ] && grep -q "bad3.yaml:3" bad3.log && grep -q "stepz" bad3.log && ok "unknown key: file:line" || { ko "bad3"; cat bad3.log; }

# 7. Two ranks: data parallel, deterministic.
if [ -n "$MPIRUN" ]; then
    for r in m1 m2; do
        "$MPIRUN" --allow-run-as-root --oversubscribe -np 2 "$QA" -q rl train --config rl.yaml --run-dir runs/$r \
            --set train.total_steps=4096 > $r.log 2>&1 || { ko "mpirun -np 2"; cat $r.log; }
    done
    grep -q '"ranks": 2' runs/m1/summary.json && [ "$(grep -c '"kind":"update"' runs/m1/metrics.jsonl)" -eq 4 ] \
        && ok "2 ranks: 4 updates of 2 x 16 x 32" || ko "2-rank summary"
    cmp -s runs/m1/checkpoint.r0.qrl runs/m2/checkpoint.r0.qrl && cmp -s runs/m1/model.qam runs/m2/model.qam \
        && ok "2 ranks twice: the same bits" || ko "2-rank determinism"
    # Both ranks hold the same parameters, Adam moments and observation statistics (the
    # checkpoint's header is 80 bytes: magic and 9 int64 with P and D; then 3 x P floats,
    # then mean, var (D doubles each) and the count).
    "$PY" - <<'PYEOF' && ok "2 ranks: identical parameters and observation statistics" || ko "2-rank state"
import struct
a = open("runs/m1/checkpoint.r0.qrl", "rb").read(); b = open("runs/m1/checkpoint.r1.qrl", "rb").read()
P, D = struct.unpack_from("<qq", a, 8)
end = 80 + 12 * P + 16 * D + 8
assert a[80:end] == b[80:end], "rank states differ"
PYEOF
else qa_skip "2 MPI ranks (no mpirun)"; fi
qa_exit
