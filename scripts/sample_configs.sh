# Configs over the shipped sample (datasets/sample) that the demo (scripts/demo.sh), the
# golden runs (tests/golden/run.sh) and the integration tests (tests/pipeline) share. Each
# function prints one YAML config (or the part the callers share) on stdout; its
# arguments are what the callers set differently, file paths first. Sourced, not run.

# sma_sweep_yaml DATA END: a moving-average crossover grid (4 fast x 7 slow windows) over
# every symbol from 1990 to END, 1 bp commission and 2 bp half spread; the caller adds
# the portfolio and the rest.
sma_sweep_yaml() {
    cat <<YAML
data: $1
symbols: all
start: 1990-01-01
end: $2
strategy: sma_cross
grid:
  fast: [5, 10, 20, 50]
  slow: {start: 20, stop: 200, step: 30}
settings: {commission_bps: 1, half_spread_bps: 2}
YAML
}

# demo_sweep_yaml DATA: the demo's sweep: that grid to 2024 as an inverse-volatility
# portfolio, its top 5 sets, walk-forward (5y train, 2y test), DSR and SPA.
demo_sweep_yaml() {
    sma_sweep_yaml "$1" 2024-12-31
    cat <<'YAML'
portfolio: {weighting: inv_vol, weight_window: 60}
top: 5
walk_forward: {train: 5y, test: 2y}
multiple_testing: {bootstrap: 1000, block: 10, seed: 7}
YAML
}

# etf_book_yaml NAME SYMBOL=WEIGHT...: a book of 1,000,000 in ETFs at those weights (each
# position's id is its symbol in lower case); the caller adds any other positions.
etf_book_yaml() {
    printf 'name: %s\nvalue: 1000000\npositions:\n' "$1"
    shift
    for position; do
        printf '  - {id: %s, symbol: %s, type: etf, weight: %s}\n' \
            "$(printf '%s' "${position%%=*}" | tr '[:upper:]' '[:lower:]')" "${position%%=*}" "${position#*=}"
    done
}

# demo_book_yaml: the demo's cross-asset book: nine ETFs and an S&P 500 put.
demo_book_yaml() {
    etf_book_yaml "cross-asset ETF book" SPY=0.25 QQQ=0.10 TLT=0.15 IEF=0.10 GLD=0.10 XLF=0.08 XLE=0.07 \
        HYG=0.08 LQD=0.07
    cat <<'YAML'
  - {id: spy_put, symbol: SPY, type: option, right: put, strike: 700, expiry: 2026-12-18,
     quantity: 4, multiplier: 100, vol: 0.18, rate: 0.04, dividend_yield: 0.012}
YAML
}

# demo_stress_yaml BOOK DATA SCENARIOS: the demo's risk run of BOOK on DATA: every VaR/ES
# method (SCENARIOS Monte-Carlo draws), stressed VaR over 2008-09, hypothetical and
# reverse stress, limits, and a VaR backtest.
demo_stress_yaml() {
    cat <<YAML
portfolio: $1
data: $2
levels: [0.95, 0.975, 0.99]
window: 1000
methods: [historical, fhs, parametric, montecarlo]
covariance: {estimator: ewma, lambda: 0.94}
montecarlo: {scenarios: $3, dist: student_t, nu: 6}
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
}

# ema_sim_yaml DATA END: an EMA crossover (12/40) on four stocks from 2012-01-03 to END;
# the caller adds sizing, costs and capital.
ema_sim_yaml() {
    cat <<YAML
data: $1
symbols: [AAPL, MSFT, JPM, XOM]
start: 2012-01-03
end: $2
strategy: ema_cross
params: {fast: 12, slow: 40}
YAML
}

# demo_sim_yaml DATA: the demo's simulation: that crossover to 2024, volatility-targeted,
# traded costs, market-on-close orders.
demo_sim_yaml() {
    ema_sim_yaml "$1" 2024-12-31
    cat <<'YAML'
sizing: {method: vol_target, target_vol: 0.12, vol_window: 30, max_leverage: 2}
costs: {commission_bps: 1, half_spread_bps: 2, convention: traded}
capital: 400000
orders: {type: moc}
YAML
}

# mlp_inputs_yaml: the inputs of the MLPs on the sample: eight of the default features and
# three bar fields over the last 2 days, clipped at 5.
mlp_inputs_yaml() {
    cat <<'YAML'
inputs:
  features: [ret_close, zscore_close_20, rsi_close_14, bbpct_close_20_2, donchian_20_pos, volz_20, xs_rank_ret, xs_zscore_ret]
  bars: [logret, range, body]
  window: 2
  clip: 5
YAML
}

# demo_mlp_yaml DATA BACKEND STEPS [THREADS]: the demo's MLP (64-32, GELU, dropout,
# LayerNorm) for the demeaned 5-day forward return, trained STEPS steps.
demo_mlp_yaml() {
    printf 'data: %s\nbackend: %s\nseed: 7\n' "$1" "$2"
    [ -z "${4-}" ] || printf 'threads: %s\n' "$4"
    mlp_inputs_yaml
    cat <<YAML
target: {kind: return, horizon: 5, demean: true}
split: {start: 1990-01-01, train_end: 2012-01-01, val_end: 2017-01-01, embargo: 5}
model: {type: mlp, hidden: [64, 32], activation: gelu, dropout: 0.1, layer_norm: true}
train: {batch_size: 512, steps: $3, lr: 1e-3, warmup_steps: 50, eval_every: 100, log_every: 50, patience: 3}
evaluate: {top_k: 3, cost_bps: 5}
YAML
}

# demo_rl_yaml DATA STEPS: the demo's PPO agent: single-asset envs over the 16 stocks
# (own symbol and start date each), discrete short/flat/long, the last 32 log returns and
# two of the store's features, 1 bp commission + 2 bp half spread, vol-targeted sizing;
# STEPS env steps (64 envs x 128 steps per update); the same splits as the MLP.
demo_rl_yaml() {
    cat <<YAML
data: $1
backend: cpu
seed: 7
env: {features: [log_return, rsi_close_14, zscore_close_20], window: 32, horizon: 252, envs: 64}
split: {start: 1990-01-01, train_end: 2012-01-01, val_end: 2017-01-01, embargo: 5}
settings: {commission_bps: 1, half_spread_bps: 2, sizing: {method: vol_target, target_vol: 0.2, vol_window: 20, max_leverage: 1}}
ppo: {steps: 128, hidden: [64, 64], lr: 3e-4}
train: {total_steps: $2, eval_every: 8, checkpoint_every: 8}
YAML
}

# lstm_yaml DATA STEPS EVAL_EVERY: a small LSTM (32 units, 16 days of five features and the
# log return) for the sign of the 5-day forward return, on the CPU with one thread.
lstm_yaml() {
    cat <<YAML
data: $1
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
train: {batch_size: 256, steps: $2, lr: 2e-3, warmup_steps: 20, eval_every: $3, eval_batch: 2048, patience: 0}
YAML
}
