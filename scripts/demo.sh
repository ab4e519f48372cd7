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
. "$(dirname "$0")/sample_configs.sh" # the configs below, shared with the golden runs and tests

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
demo_sweep_yaml "$OUT/stocks.h5" > "$OUT/sweep.yaml"
rm -rf "$OUT/sweep"   # a fresh run (the same directory would resume)
"$QA" sweep --config "$OUT/sweep.yaml" --run-dir "$OUT/sweep"
head -4 "$OUT/sweep/top.csv"

step "risk of a 9-ETF book with an S&P 500 put: historical/FHS/parametric/Monte-Carlo VaR and ES,"
echo "   stressed VaR (2008-09), GFC/COVID/2022 replays, shocks, reverse stress, limits; then a VaR backtest"
demo_book_yaml > "$OUT/etf_book.yaml"
demo_stress_yaml "$OUT/etf_book.yaml" "$OUT/etfs.h5" 1000000 > "$OUT/stress.yaml"
"$QA" stress --config "$OUT/stress.yaml" --run-dir "$OUT/stress"
"$QA" stress backtest --config "$OUT/stress.yaml" --run-dir "$OUT/stress-backtest"
echo "reports: $OUT/stress/report.html, $OUT/stress-backtest/report.html; alerts: $OUT/stress/alerts.jsonl"

step "event-driven simulation of one set (orders, fills, costs, cash) and its blotter"
demo_sim_yaml "$OUT/stocks.h5" > "$OUT/sim.yaml"
"$QA" simulate --config "$OUT/sim.yaml" --run-dir "$OUT/simulate"
head -3 "$OUT/simulate/blotter.csv"

step "train an MLP on the store's features (5-day forward returns), track it, publish it to the model registry"
demo_mlp_yaml "$OUT/stocks.h5" auto 600 > "$OUT/mlp.yaml"
rm -rf "$OUT/runs/mlp"
export QA_REGISTRY="$OUT/registry" # the demo's own registry (default: ~/.local/share/quantumalpha/registry)
URI=$("$QA" train --config "$OUT/mlp.yaml" --run-dir "$OUT/runs/mlp" --publish demo-mlp | tail -1)
"$QA" runs list --dir "$OUT/runs"

step "make $URI the champion (audited), then evaluate and score by models:/demo-mlp@champion"
"$QA" registry alias set demo-mlp champion "${URI##*/}" --reason "demo: the newest trained model"
"$QA" registry list --name demo-mlp
"$QA" evaluate --model models:/demo-mlp@champion --data "$OUT/stocks.h5" --split test
"$QA" predict --model models:/demo-mlp@champion --data "$OUT/stocks.h5"
"$QA" registry watch | tail -3

step "reinforcement learning: PPO on 64 vectorised trading envs (own stock and start date each), the test"
echo "   split through the event-driven simulator beside buy-and-hold and a sweep's best set; published"
demo_rl_yaml "$OUT/stocks.h5" 262144 > "$OUT/rl.yaml"
rm -rf "$OUT/runs/ppo"
"$QA" rl train --config "$OUT/rl.yaml" --run-dir "$OUT/runs/ppo" --publish demo-ppo | tail -1
"$QA" rl eval --run "$OUT/runs/ppo"

step "alternative data: the sample's Reuters headlines (Aug 2011) and tweets (Jun 2014) into a document store"
echo "   (SQLite + FTS5, VADER sentiment), aligned to the stocks without look-ahead, searched, and an event study"
rm -f "$OUT/alt.db"
"$QA" alt import --source reuters --data-root "$SAMPLE" --db "$OUT/alt.db"
"$QA" alt import --source stocknet --data-root "$SAMPLE" --db "$OUT/alt.db"
"$QA" alt align --data "$OUT/stocks.h5" --db "$OUT/alt.db" --source reuters
"$QA" alt align --data "$OUT/stocks.h5" --db "$OUT/alt.db" --source stocknet
"$QA" alt search "jobs resigns" --db "$OUT/alt.db" --ticker AAPL --limit 3
"$QA" alt study --data "$OUT/stocks.h5" --source news --out "$OUT/alt-study"
echo "   (a few hundred sample documents: the study shows the method, not a finding; the full data's result is in docs/alt-data.md)"

step "live: replay 1,000 five-minute bars per stock through the Kafka bus into qa live with models:/demo-mlp@champion"
echo "   (embedded 3-broker cluster on loopback; features -> signals -> position sizes -> orders -> TWAP children over"
echo "    FIX 4.4 to the paper exchange -> fills, exactly once; docs/live.md, docs/execution.md)"
"$QA" data import --preset stocks-5min --data-root "$SAMPLE" --out "$OUT/stocks5m.h5"
export QA_BUS_FILE="$OUT/bus" # the demo's own cluster, stopped at the end
"$QA" bus stop > /dev/null
rm -rf "$OUT/exchange" "$OUT/exchange.port"
"$QA" exchange --data "$OUT/stocks5m.h5" --state-dir "$OUT/exchange" --port-file "$OUT/exchange.port" \
    --participation 0.05 --fee-bps 1 2> "$OUT/exchange.log" &
EXCHANGE=$!
trap 'kill $EXCHANGE 2> /dev/null || true' EXIT
i=0; while [ ! -s "$OUT/exchange.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
"$QA" replay --data "$OUT/stocks5m.h5" --max-times 1000
cat > "$OUT/live.yaml" <<YAML
universe: $OUT/stocks5m.h5
model: models:/demo-mlp@champion
state_dir: $OUT/live-state
exit_idle: 2
rules: {sizing: {method: vol_target, target_vol: 0.1, vol_window: 20}, capital: 1000000}
risk: {window: 250, every: 12, limits: [{name: gross, metric: gross_exposure, max: 1.0, warn: 0.8}, {name: var99, metric: var, level: 0.99, max: 0.02}]}
execution:
  strategy: demo
  broker: fix
  fix: {port: $(cat "$OUT/exchange.port")}
  algo: {kind: twap, slices: 3, window: 900}
  pretrade: {max_order_notional: 500000, price_band: 0.05, throttle_orders: 20, throttle_window_ns: 300000000000}
YAML
rm -rf "$OUT/live-state"
"$QA" live --config "$OUT/live.yaml"
echo "what the desk sees (qa live status: book, limits in force, positions, alerts):"
"$QA" live status --config "$OUT/live.yaml" --alerts 5
kill $EXCHANGE; wait $EXCHANGE 2> /dev/null || true
"$QA" bus stop
echo "post-trade: implementation shortfall, VWAP slippage, fill rate and fees from the order database (docs/tca.md)"
"$QA" tca --orders "$OUT/live-state/orders.db" --data "$OUT/stocks5m.h5" --out "$OUT/tca"

step "qa serve: the API and dashboard over everything above (users, roles, tokens, audit log)"
cat > "$OUT/serve.yaml" <<YAML
listen: {host: 127.0.0.1, port: 0}
state_dir: $OUT/serve-state
runs: [$OUT, $OUT/runs]
data: $OUT/stocks.h5
registry: $OUT/registry
alt: $OUT/alt.db
live: {state_dir: $OUT/live-state, config: $OUT/live.yaml}
YAML
rm -rf "$OUT/serve-state" "$OUT/serve.port"
"$QA" serve --config "$OUT/serve.yaml" --port-file "$OUT/serve.port" > "$OUT/serve.out" 2> "$OUT/serve.log" &
SERVE=$!
trap 'kill $EXCHANGE $SERVE 2> /dev/null || true' EXIT
i=0; while [ ! -s "$OUT/serve.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
URL="http://127.0.0.1:$(cat "$OUT/serve.port")"
KEY=$(grep -o 'qak_[A-Za-z0-9_-]*' "$OUT/serve.out") # the first start's admin key, printed once
TOKEN=$(curl -s -H 'Content-Type: application/json' -d "{\"key\":\"$KEY\"}" "$URL/api/login" \
    | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
echo "GET $URL/api/runs (as admin, with the access token from POST /api/login):"
curl -s -H "Authorization: Bearer $TOKEN" "$URL/api/runs?limit=100" | tr '{' '\n' | sed -n 's/.*"id":"\([^"]*\)","kind":"\([^"]*\)","status":"\([^"]*\)".*/  \1 (\2, \3)/p'
echo "GET $URL/api/live/state without a token:"
curl -s "$URL/api/live/state"; echo
kill $SERVE; wait $SERVE 2> /dev/null || true
"$QA" audit verify --state "$OUT/serve-state"

step "done"
echo "market file: $OUT/stocks.h5 (read it with h5py: see docs/data-format.md)"
echo "sweep results: $OUT/sweep/results.h5, summary $OUT/sweep/summary.json (docs/sweep.md)"
echo "reports: $OUT/sweep/report.html, $OUT/stress/report.html, $OUT/stress-backtest/report.html,"
echo "         $OUT/simulate/report.html, $OUT/runs/mlp/report.html, $OUT/alt-study/report.html,"
echo "         $OUT/runs/ppo/report.html, $OUT/runs/ppo/eval-test/report.html, $OUT/tca/report.html"
echo "live: $OUT/live.yaml (qa live), state $OUT/live-state (orders.db: every order and fill); docs/live.md, docs/execution.md"
echo "model registry: $OUT/registry ('qa registry show demo-mlp --registry $OUT/registry'; docs/registry.md)"
echo "dashboard: $QA serve --config $OUT/serve.yaml --set listen.port=8080, then http://127.0.0.1:8080/ and log in"
echo "           with the admin key in $OUT/serve.out (docs/api.md, docs/dashboard.md; qa users adds people)"
