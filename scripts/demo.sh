#!/bin/sh
# End-to-end demo on the shipped real data (datasets/sample) with embedded defaults: no
# services to set up. Each step is a real command a researcher would run; outputs go to
# $QA_DEMO_DIR (default ./demo).
# Usage: scripts/demo.sh [build-dir]
set -eu
BUILD=${1:-build}
QA="$BUILD/bin/qa"
OUT=${QA_DEMO_DIR:-demo}
SAMPLE=datasets/sample
mkdir -p "$OUT"
step() { printf '\n== %s\n' "$*"; }

step "qa info (build, libraries, CPU, GPUs)"
"$QA" info

step "import 16 S&P 500 stocks (daily, 1970-2025) and 9 ETFs from the shipped sample"
"$QA" data import --preset sp500-daily --data-root "$SAMPLE" --out "$OUT/stocks.h5"
"$QA" data import --preset etf-daily --data-root "$SAMPLE" --out "$OUT/etfs.h5"

step "describe and validate the file (log-return moments by the reduce kernel)"
"$QA" data info "$OUT/stocks.h5" --stats --top 16
"$QA" data validate "$OUT/stocks.h5"

step "compute the default feature set (20 features, lineage-tracked) into the store"
"$QA" features --data "$OUT/stocks.h5"
"$QA" features --data "$OUT/stocks.h5"   # second run: everything up to date

step "sweep a moving-average crossover: 16 stocks x 25 parameter sets, portfolio, walk-forward, DSR + SPA"
cat > "$OUT/sweep.yaml" <<YAML
data: $OUT/stocks.h5
symbols: all
start: 1990-01-01
end: 2024-12-31
strategy: sma_cross
grid:
  fast: [5, 10, 20, 50]
  slow: {start: 20, stop: 200, step: 30}
settings: {commission_bps: 1, half_spread_bps: 2}
portfolio: {weighting: inv_vol, weight_window: 60}
top: 5
walk_forward: {train: 5y, test: 2y}
multiple_testing: {bootstrap: 1000, block: 10, seed: 7}
YAML
rm -rf "$OUT/sweep"   # a fresh run (the same directory would resume)
"$QA" sweep --config "$OUT/sweep.yaml" --run-dir "$OUT/sweep"
head -4 "$OUT/sweep/top.csv"

step "risk of a 9-ETF book with an S&P 500 put: historical/FHS/parametric/Monte-Carlo VaR and ES,"
echo "   stressed VaR (2008-09), GFC/COVID/2022 replays, shocks, reverse stress, limits; then a VaR backtest"
cat > "$OUT/etf_book.yaml" <<'EOF'
name: cross-asset ETF book
value: 1000000
positions:
  - {id: spy, symbol: SPY, type: etf, weight: 0.25}
  - {id: qqq, symbol: QQQ, type: etf, weight: 0.10}
  - {id: tlt, symbol: TLT, type: etf, weight: 0.15}
  - {id: ief, symbol: IEF, type: etf, weight: 0.10}
  - {id: gld, symbol: GLD, type: etf, weight: 0.10}
  - {id: xlf, symbol: XLF, type: etf, weight: 0.08}
  - {id: xle, symbol: XLE, type: etf, weight: 0.07}
  - {id: hyg, symbol: HYG, type: etf, weight: 0.08}
  - {id: lqd, symbol: LQD, type: etf, weight: 0.07}
  - {id: spy_put, symbol: SPY, type: option, right: put, strike: 700, expiry: 2026-12-18,
     quantity: 4, multiplier: 100, vol: 0.18, rate: 0.04, dividend_yield: 0.012}
EOF
cat > "$OUT/stress.yaml" <<EOF
portfolio: $OUT/etf_book.yaml
data: $OUT/etfs.h5
levels: [0.95, 0.975, 0.99]
window: 1000
methods: [historical, fhs, parametric, montecarlo]
covariance: {estimator: ewma, lambda: 0.94}
montecarlo: {scenarios: 1000000, dist: student_t, nu: 6}
stressed: {start: 2008-09-01, end: 2009-03-31}
scenarios:
  factors: [{name: equities, assets: [SPY, QQQ, XLF, XLE]}]
  hypothetical:
    - {name: equities -20%, shocks: [{factor: equities, move: -0.20}]}
    - {name: long bonds -15%, shocks: [{asset: TLT, move: -0.15}]}
  reverse: {losses: [0.05, 0.10]}
limits:
  - {name: var99, metric: var, level: 0.99, max: 0.02}
  - {name: es975, metric: es, level: 0.975, max: 0.03}
  - {name: gross, metric: gross_exposure, max: 1.5}
  - {name: largest, metric: concentration, max: 0.3, warn: 0.8}
  - {name: drawdown, metric: drawdown, max: 0.1}
backtest: {methods: [historical, fhs, parametric, montecarlo], levels: [0.99, 0.975], window: 250}
EOF
"$QA" stress --config "$OUT/stress.yaml" --run-dir "$OUT/stress"
"$QA" stress backtest --config "$OUT/stress.yaml" --run-dir "$OUT/stress-backtest"
echo "reports: $OUT/stress/report.html, $OUT/stress-backtest/report.html; alerts: $OUT/stress/alerts.jsonl"

step "event-driven simulation of one set (orders, fills, costs, cash) and its blotter"
cat > "$OUT/sim.yaml" <<YAML
data: $OUT/stocks.h5
symbols: [AAPL, MSFT, JPM, XOM]
start: 2012-01-03
end: 2024-12-31
strategy: ema_cross
params: {fast: 12, slow: 40}
sizing: {method: vol_target, target_vol: 0.12, vol_window: 30, max_leverage: 2}
costs: {commission_bps: 1, half_spread_bps: 2, convention: traded}
capital: 400000
orders: {type: moc}
YAML
"$QA" simulate --config "$OUT/sim.yaml" --run-dir "$OUT/simulate"
head -3 "$OUT/simulate/blotter.csv"

step "train an MLP on the store's features (5-day forward returns), track it, evaluate out of sample"
cat > "$OUT/mlp.yaml" <<YAML
data: $OUT/stocks.h5
backend: auto
seed: 7
inputs:
  features: [ret_close, zscore_close_20, rsi_close_14, bbpct_close_20_2, donchian_20_pos, volz_20, xs_rank_ret, xs_zscore_ret]
  bars: [logret, range, body]
  window: 2
  clip: 5
target: {kind: return, horizon: 5, demean: true}
split: {start: 1990-01-01, train_end: 2012-01-01, val_end: 2017-01-01, embargo: 5}
model: {type: mlp, hidden: [64, 32], activation: gelu, dropout: 0.1, layer_norm: true}
train: {batch_size: 512, steps: 600, lr: 1e-3, warmup_steps: 50, eval_every: 100, log_every: 50, patience: 3}
evaluate: {top_k: 3, cost_bps: 5}
YAML
rm -rf "$OUT/runs/mlp"
"$QA" train --config "$OUT/mlp.yaml" --run-dir "$OUT/runs/mlp"
"$QA" runs list --dir "$OUT/runs"
"$QA" evaluate --model "$OUT/runs/mlp/model.qam" --data "$OUT/stocks.h5" --split test

step "done"
echo "market file: $OUT/stocks.h5 (read it with h5py: see docs/data-format.md)"
echo "sweep results: $OUT/sweep/results.h5, summary $OUT/sweep/summary.json (docs/sweep.md)"
echo "reports: $OUT/sweep/report.html, $OUT/stress/report.html, $OUT/stress-backtest/report.html,"
echo "         $OUT/simulate/report.html, $OUT/runs/mlp/report.html"
