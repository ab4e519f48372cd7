#!/bin/sh
# Golden runs: the demo's commands plus a few more (other strategies and rules, an LSTM)
# on the shipped real data, into OUT. tests/golden/canon.py digests OUT; test_golden.sh
# compares the digest with tests/golden/reference.sha256, recorded before the shared-core
# redesign (issue 10), so a refactoring that changes any number is caught.
# Usage: run.sh QA SOURCE_DIR OUT
set -eu
QA="$1"; SRC="$2"; OUT="$3"
SAMPLE="$SRC/datasets/sample"
. "$SRC/scripts/sample_configs.sh" # the demo's configs (with fewer steps and draws, one thread)
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
demo_sweep_yaml stocks.h5 > sweep.yaml
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
demo_book_yaml > etf_book.yaml
demo_stress_yaml etf_book.yaml etfs.h5 200000 > stress.yaml
"$QA" -q stress --config stress.yaml --run-dir stress > /dev/null
"$QA" -q stress backtest --config stress.yaml --run-dir stress_backtest > /dev/null

# Event-driven simulator: the demo's run and one with stops, impact and limit orders.
demo_sim_yaml stocks.h5 > sim.yaml
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
demo_mlp_yaml stocks.h5 cpu 300 1 > mlp.yaml
"$QA" -q train --config mlp.yaml --run-dir runs/mlp > /dev/null
lstm_yaml stocks.h5 120 60 > lstm.yaml
"$QA" -q train --config lstm.yaml --run-dir runs/lstm > /dev/null
"$QA" -q evaluate --model runs/mlp/model.qam --data stocks.h5 --split test --json eval_mlp.json > eval_mlp.txt
"$QA" -q evaluate --model runs/lstm/model.qam --data stocks.h5 --split test --json eval_lstm.json > eval_lstm.txt
# Run-time reports and logs are not results.
rm -f runs/*/checkpoint.qac.tmp*
