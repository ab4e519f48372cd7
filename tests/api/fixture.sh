#!/bin/sh
# The fixture qa serve's tests run against (docs/dashboard.md), built from the shipped
# sample (datasets/sample) in about a minute on two cores, deterministic (fixed seeds,
# fixed windows, the paper broker):
#   DIR/market.h5            the S&P 500 daily sample (the sweep's data)
#   DIR/runs/sweep           a moving-average sweep, fast x slow (3 x 4 sets): a heatmap
#   DIR/runs/train           the live tests' MLP on the 5-minute stocks (qa_live_model)
#   DIR/runs/rl              a short PPO run (4 updates)
#   DIR/runs/stress          VaR/ES, scenarios, limits of the demo's ETF book
#   DIR/registry             that MLP published as m5, alias champion
#   DIR/live-state           risk.db and orders.db of a 400-timestamp live replay
#   DIR/alt.db               the sample's Reuters headlines (document store)
#   DIR/jobs/stress.yaml     a stress configuration that POST /api/jobs may submit (jobs/
#                            is a runs folder too, so submitted runs are listed)
#   DIR/serve.yaml           qa serve's configuration over all of it (port 0)
# Usage: fixture.sh DIR QA_BIN REPO   (DIR is created; it must not hold an older fixture)
set -u
DIR=$1 QA=$2 SRC=$3
# Absolute paths: the script changes directory.
case $QA in /*) ;; *) QA=$(pwd)/$QA ;; esac
case $SRC in /*) ;; *) SRC=$(pwd)/$SRC ;; esac
. "$SRC/tests/lib.sh"
mkdir -p "$DIR" || exit 1
DIR=$(cd "$DIR" && pwd)
cd "$DIR" || exit 1
mkdir -p runs work
export QA_BUS_FILE="$DIR/bus" QA_REGISTRY="$DIR/registry"
trap '"$QA" -q bus stop > /dev/null 2>&1' EXIT
die() { echo "FAIL: fixture: $1" >&2; exit 1; }

# ---- market files ---------------------------------------------------------------------------
qa_import sp500-daily market.h5
"$QA" -q features --data market.h5 > work/features.out 2>&1 || die "features: $(tail -3 work/features.out)"
"$QA" -q alt import --source reuters --data-root "$SRC/datasets/sample" --db alt.db > work/alt.out 2>&1 \
    || die "alt import: $(tail -3 work/alt.out)"
qa_import etf-daily etfs.h5

# ---- training run + registry (m5@champion) and the 5-minute file the live replay uses -------
(cd work && qa_live_model "fixture: the first trained model") || exit 1
mv work/s5.h5 s5.h5 && mv work/run runs/train || die "move the training run"

# ---- sweep: two parameters, so the heatmap has a grid -----------------------------------------
cat > work/sweep.yaml <<YAML
data: $DIR/market.h5
symbols: all
start: 2015-01-01
end: 2024-12-31
strategy: sma_cross
grid:
  fast: [5, 10, 20]
  slow: [40, 80, 120, 160]
settings: {commission_bps: 1, half_spread_bps: 2}
portfolio: {weighting: inv_vol, weight_window: 60}
top: 5
YAML
"$QA" -q sweep --config work/sweep.yaml --run-dir runs/sweep > work/sweep.out 2> work/sweep.err \
    || die "sweep: $(tail -3 work/sweep.err)"

# ---- a short PPO run: the run list's fourth kind, with its curves ------------------------------
cat > work/rl.yaml <<YAML
data: $DIR/market.h5
backend: cpu
seed: 3
threads: 1
env: {features: [log_return], window: 16, horizon: 64, envs: 16}
split: {start: 2000-01-01, train_end: 2014-01-01, val_end: 2019-01-01, embargo: 5}
settings: {commission_bps: 1, half_spread_bps: 2}
ppo: {steps: 32, minibatches: 4, hidden: [32, 32], lr: 1e-3}
train: {total_steps: 2048, eval_every: 2, eval_envs: 16, checkpoint_every: 4}
YAML
"$QA" -q rl train --config work/rl.yaml --run-dir runs/rl > work/rl.out 2>&1 || die "rl train: $(tail -3 work/rl.out)"

# ---- stress run of the demo's ETF book --------------------------------------------------------
demo_book_yaml > work/book.yaml
demo_stress_yaml "$DIR/work/book.yaml" "$DIR/etfs.h5" 20000 > work/stress.yaml
mkdir -p jobs && cp work/stress.yaml jobs/stress.yaml # what POST /api/jobs may run
"$QA" -q stress --config work/stress.yaml --run-dir runs/stress > work/stress.out 2> work/stress.err \
    || die "stress: $(tail -3 work/stress.err)"

# ---- live replay: 400 timestamps of the 5-minute stocks through the paper broker ----------------
cat > live.yaml <<YAML
universe: $DIR/s5.h5
state_dir: $DIR/live-state
model: models:/m5@champion
exit_idle: 2
rules: {sizing: {method: vol_target, target_vol: 0.1, vol_window: 20}, capital: 1000000}
risk: {window: 100, every: 12, limits: [{name: gross, metric: gross_exposure, max: 1.0, warn: 0.8}, {name: var99, metric: var, level: 0.99, max: 0.02}]}
execution:
  strategy: fixture
  algo: {kind: twap, slices: 3, window: 900}
  paper: {participation: 0.05, fee_bps: 1}
  pretrade: {max_order_notional: 600000, price_band: 0.1}
YAML
"$QA" -q replay --data s5.h5 --max-times 400 > work/replay.out 2> work/replay.err \
    || die "replay: $(tail -3 work/replay.err)"
"$QA" -q live --config live.yaml > work/live.out 2> work/live.err || die "live: $(tail -3 work/live.err)"
[ -s live-state/risk.db ] && [ -s live-state/orders.db ] || die "no risk.db/orders.db in live-state"

cat > serve.yaml <<YAML
listen: {host: 127.0.0.1, port: 0}
state_dir: $DIR/serve-state
runs: [$DIR/runs, $DIR/jobs]
data: $DIR/market.h5
registry: $DIR/registry
live: {state_dir: $DIR/live-state, config: $DIR/live.yaml}
alt: $DIR/alt.db
jobs_dir: $DIR/jobs
YAML
echo "fixture: $DIR/serve.yaml"
