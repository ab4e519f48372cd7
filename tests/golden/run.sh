#!/bin/sh
# Golden runs: the demo's commands plus a few more (other strategies and rules, an LSTM)
# on the shipped real data, into OUT. tests/golden/canon.py digests OUT; test_golden.sh
# compares the digest with tests/golden/reference.sha256, recorded before the shared-core
# redesign (issue 10), so a refactoring that changes any number is caught.
# Usage: run.sh QA SOURCE_DIR OUT
set -eu
QA="$1"; SRC="$2"; OUT="$3"
SAMPLE="$SRC/datasets/sample"
export QA_PROGRESS=0
mkdir -p "$OUT"
cd "$OUT"

"$QA" -q data import --preset sp500-daily --data-root "$SAMPLE" --out stocks.h5 > import_stocks.txt
"$QA" -q data import --preset etf-daily --data-root "$SAMPLE" --out etfs.h5 > import_etfs.txt
"$QA" -q data info stocks.h5 --stats --top 16 > info_stats.txt
"$QA" -q data info stocks.h5 --json --stats > info.json
"$QA" -q features --data stocks.h5 --backend cpu > features.txt

# Sweeps: the demo's MA grid (portfolio, walk-forward, multiple testing), a z-score grid
# with every rule switched on, a cross-sectional top-k grid.
cat > sweep.yaml <<YAML
data: stocks.h5
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
"$QA" -q sweep --config sweep.yaml --run-dir sweep > /dev/null
cat > sweep_rules.yaml <<YAML
data: stocks.h5
symbols: [AAPL, MSFT, JPM, XOM, KO, NVDA]
start: 2000-01-01
end: 2024-12-31
strategy: zscore
grid: {window: [20, 40, 60], entry_z: [1.5, 2.0], exit_z: [0, 0.5]}
settings: {direction: long_only, stop_loss: 0.08, take_profit: 0.2, sizing: vol_target,
           target_vol: 0.12, vol_window: 30, max_leverage: 1.5, commission_bps: 1,
           half_spread_bps: 2, fixed_cost: 1, capital: 400000, impact_coef: 0.1,
           adv_window: 15, impact_vol_window: 25}
portfolio: {weighting: equal}
top: 3
multiple_testing: {bootstrap: 200, block: 5, seed: 3}
YAML
"$QA" -q sweep --config sweep_rules.yaml --run-dir sweep_rules > /dev/null
cat > sweep_xs.yaml <<YAML
data: stocks.h5
strategy: xs_topk
signal: features/rsi_close_14
start: 2005-01-01
grid: {k_long: [1, 3], k_short: [0, 3]}
settings: {commission_bps: 1}
YAML
"$QA" -q sweep --config sweep_xs.yaml --run-dir sweep_xs > /dev/null

# Risk: the demo's book (every method, scenarios, limits) and its VaR backtest.
cat > etf_book.yaml <<'YAML'
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
YAML
cat > stress.yaml <<'YAML'
portfolio: etf_book.yaml
data: etfs.h5
levels: [0.95, 0.975, 0.99]
window: 1000
methods: [historical, fhs, parametric, montecarlo]
covariance: {estimator: ewma, lambda: 0.94}
montecarlo: {scenarios: 200000, dist: student_t, nu: 6}
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
YAML
"$QA" -q stress --config stress.yaml --run-dir stress > /dev/null
"$QA" -q stress backtest --config stress.yaml --run-dir stress_backtest > /dev/null

# Event-driven simulator: the demo's run and one with stops, impact and limit orders.
cat > sim.yaml <<YAML
data: stocks.h5
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
"$QA" -q simulate --config sim.yaml --run-dir simulate > /dev/null
cat > sim_rules.yaml <<YAML
data: stocks.h5
symbols: [AAPL, MSFT, JPM, XOM, KO]
start: 2010-01-04
end: 2020-12-31
strategy: bollinger
params: {window: 30, k: 1.5}
direction: long_short
stops: {stop_loss: 0.06, take_profit: 0.15}
sizing: {method: fixed, fraction: 0.8}
costs: {commission_bps: 2, half_spread_bps: 1, fixed_cost: 1, impact_coef: 0.1,
        adv_window: 10, impact_vol_window: 15, convention: traded}
capital: 250000
orders: {type: limit, price_offset: 0.002, participation: 0.05, tif: gtc}
pretrade: {max_position_weight: 0.4}
YAML
"$QA" -q simulate --config sim_rules.yaml --run-dir simulate_rules > /dev/null

# Training: the demo's MLP and a small LSTM, each evaluated out of sample.
cat > mlp.yaml <<YAML
data: stocks.h5
backend: cpu
seed: 7
threads: 1
inputs:
  features: [ret_close, zscore_close_20, rsi_close_14, bbpct_close_20_2, donchian_20_pos, volz_20, xs_rank_ret, xs_zscore_ret]
  bars: [logret, range, body]
  window: 2
  clip: 5
target: {kind: return, horizon: 5, demean: true}
split: {start: 1990-01-01, train_end: 2012-01-01, val_end: 2017-01-01, embargo: 5}
model: {type: mlp, hidden: [64, 32], activation: gelu, dropout: 0.1, layer_norm: true}
train: {batch_size: 512, steps: 300, lr: 1e-3, warmup_steps: 50, eval_every: 100, log_every: 50, patience: 3}
evaluate: {top_k: 3, cost_bps: 5}
YAML
"$QA" -q train --config mlp.yaml --run-dir runs/mlp > /dev/null
cat > lstm.yaml <<YAML
data: stocks.h5
backend: cpu
seed: 11
threads: 1
inputs:
  features: [ret_close, zscore_close_20, rsi_close_14, xs_rank_ret, volz_20]
  bars: [logret]
  window: 16
target: {kind: sign, horizon: 5}
split: {start: 1990-01-01, train_end: 2012-01-01, val_end: 2017-01-01, embargo: 5}
model: {type: lstm, hidden: [32]}
train: {batch_size: 256, steps: 120, lr: 2e-3, warmup_steps: 20, eval_every: 60, eval_batch: 2048, patience: 0}
YAML
"$QA" -q train --config lstm.yaml --run-dir runs/lstm > /dev/null
"$QA" -q evaluate --model runs/mlp/model.qam --data stocks.h5 --split test --json eval_mlp.json > eval_mlp.txt
"$QA" -q evaluate --model runs/lstm/model.qam --data stocks.h5 --split test --json eval_lstm.json > eval_lstm.txt
# Run-time reports and logs are not results.
rm -f runs/*/checkpoint.qac.tmp*
