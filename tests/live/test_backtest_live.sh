#!/bin/sh
# Backtest = live (docs/execution.md, "Backtest = live"): the same registered model and
# trading rules through the event-driven simulator (`qa simulate`) and through a live
# replay (`qa live` on the embedded Kafka cluster, in-process paper broker) give the same
# orders, fills, positions and P&L, on the shipped 5-minute bars.
#
# The two are set to the same model of trading, each with its own keys:
#   simulator  strategy signal (the model's scores, lower = upper = 0: the sign of the
#              score, as the live engine with threshold 0), orders {type: market, tif: gtc,
#              participation: 0, size_on: capital, whole_shares: true}, costs commission
#              only (convention traded);
#   live       execution {algo immediate, paper {latency 0, participation 0 (no cap),
#              slippage 0, fill_prob 1, fee_bps = commission_bps}, rebalance_band 0,
#              start = the simulator's first decision bar};
# both: next-bar-open market fills (trading/orders.h), vol-target sizing on a fixed
# allocation of capital / S, whole shares rounded by qa_sizing_whole.
# Compared: every order (time, symbol, signed quantity), every fill (time, symbol,
# quantity, price, fee), the position of every symbol at every bar, and the equity at
# every bar (live's recomputed from its fills and the closes; the simulator's equity.csv)
# and at the end (summary.json's final equity at full precision). The simulator's CSVs
# print 10 significant digits: prices and fees are compared to that, quantities exactly.
# Usage: test_backtest_live.sh QA SRC PYTHON
set -u
QA=$1 SRC=$2 PY=$3
. "$SRC/tests/lib.sh"
qa_tmpdir btlive
cd "$W" || exit 1
export QA_BUS_FILE="$W/bus" QA_REGISTRY="$W/registry"
N=600 # timestamps replayed
K0=300 # the simulator's start (its flat base bar); live trades from the next timestamp

"$PY" -c "import h5py, numpy" 2> /dev/null || { echo "skipped: needs h5py and numpy"; exit 77; }
qa_live_model "backtest = live"
trap '"$QA" -q bus stop > /dev/null 2>&1; rm -rf "$W"' EXIT

# The range's times, and a start where every symbol has a bar (so each sleeve's flat base
# is that bar in the simulator, and live's first traded timestamp is the next one).
"$PY" - "$N" "$K0" > times.txt <<'EOF' || { echo "FAIL: no start bar with every symbol present"; exit 1; }
import sys, h5py, numpy as np, datetime as dt
N, K0 = int(sys.argv[1]), int(sys.argv[2])
f = h5py.File('s5.h5', 'r')
T = f['time'][:N]
c = f['bars/close'][:, :N]
k = K0
while k + 1 < N and not (np.isfinite(c[:, k]).all() and np.isfinite(c[:, k + 1]).all()): k += 1
assert k + 1 < N
iso = lambda t: dt.datetime.fromtimestamp(int(t) / 1e9, dt.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
print(iso(T[k]), iso(T[k + 1]), iso(T[N - 1]))
EOF
read -r SIM_START LIVE_START END < times.txt

RULES='{sizing: {method: vol_target, target_vol: 0.1, vol_window: 20}, capital: 1000000, bars_per_year: 19656, costs: {commission_bps: 1, half_spread_bps: 0, impact_coef: 0, fixed_cost: 0, convention: traded}}'
cat > sim.yaml <<EOF
data: s5.h5
start: $SIM_START
end: $END
strategy: signal
signal: models:/m5@champion
params: {lower: 0, upper: 0}
settings: $RULES
orders: {type: market, tif: gtc, participation: 0, replace: true, size_on: capital, whole_shares: true}
EOF
"$QA" -q simulate --config sim.yaml --run-dir sim > sim.out 2> sim.err || { echo "FAIL: qa simulate: $(tail -3 sim.err)"; exit 1; }

"$QA" -q replay --data s5.h5 --max-times $N --prefix b. > replay.txt 2> replay.err || { echo "FAIL: replay: $(cat replay.err)"; exit 1; }
cat > live.yaml <<EOF
universe: s5.h5
state_dir: state
model: models:/m5@champion
exit_idle: 2
kafka: {prefix: "b."}
rules: $RULES
risk: {window: 100, every: 12}
execution:
  strategy: bt
  start: $LIVE_START
  algo: {kind: immediate}
  paper: {latency_ms: 0, participation: 0, slippage_bps: 0, fill_prob: 1, fee_bps: 1}
  rebalance_band: 0
  min_shares: 1
  leverage: 10
EOF
"$QA" -q live --config live.yaml > live.out 2> live.err || { echo "FAIL: qa live: $(tail -3 live.err)"; exit 1; }

"$PY" - "$N" <<'EOF' && ok "backtest = live: the simulator and the live replay give the same orders, fills, positions and P&L" || ko "backtest = live"
import csv, json, sys, sqlite3, datetime as dt, h5py, numpy as np
N = int(sys.argv[1])
f = h5py.File('s5.h5', 'r')
sym = [x.decode() for x in f['symbols'][:]]
T = [int(t) for t in f['time'][:N]]
close = f['bars/close'][:, :N]
ns = lambda s: int(dt.datetime.fromisoformat(s.replace('Z', '+00:00')).timestamp()) * 10**9
capital = 1e6

# the simulator: orders (new events) and fills from its blotter, positions and equity per bar
bl = list(csv.DictReader(open('sim/blotter.csv')))
assert not [r for r in bl if r['event'] in ('rejected', 'expired')], 'the simulator refused or expired orders'
s_orders = sorted((ns(r['time']), r['symbol'], float(r['qty'])) for r in bl if r['event'] == 'new')
s_fills = sorted((ns(r['time']), r['symbol'], float(r['fill_qty']), float(r['fill_price']), float(r['cost']))
                 for r in bl if r['event'] == 'fill')
s_pos = {ns(r['time']): r for r in csv.DictReader(open('sim/positions.csv'))}
s_eq = {ns(r['time']): float(r['equity']) for r in csv.DictReader(open('sim/equity.csv'))}
s_final = json.load(open('sim/summary.json'))
s_final = s_final.get('final_equity', s_final.get('account', {}).get('final_equity'))

# live: the children sent (one per parent with the immediate algorithm) and the fills
db = sqlite3.connect('state/orders.db')
assert db.execute("select count(*) from orders where state = 'rejected'").fetchone()[0] == 0, 'live refused orders'
l_orders = sorted((t, s, side * q) for t, s, side, q in
                  db.execute('select decision_time, symbol, side, qty from orders where parent is not null'))
parents = db.execute('select count(*) from orders where parent is null').fetchone()[0]
l_fills = sorted((t, s, side * q, px, fee) for t, s, side, q, px, fee in
                 db.execute('select time, symbol, side, qty, price, fee from fills'))
assert len(s_orders) > 50 and len(s_fills) > 50, (len(s_orders), len(s_fills))
assert parents == len(l_orders), ('parents and children differ', parents, len(l_orders))
assert len(s_orders) == len(l_orders), ('order count', len(s_orders), len(l_orders))
for a, b in zip(s_orders, l_orders):
    assert a == b, ('order differs', a, b)
assert len(s_fills) == len(l_fills), ('fill count', len(s_fills), len(l_fills))
close10 = lambda x, y: abs(x - y) <= 6e-10 * max(abs(x), abs(y), 1e-300)   # %.10g in the CSV
for a, b in zip(s_fills, l_fills):
    assert a[:3] == b[:3] and close10(a[3], b[3]) and close10(a[4], b[4]), ('fill differs', a, b)

# positions and equity at every bar of the range, live's from its fills and the closes
pos = dict.fromkeys(sym, 0.0)
cash, last = capital, {}
fills_at = {}
for t, s, q, px, fee in l_fills: fills_at.setdefault(t, []).append((s, q, px, fee))
checked = 0
for k, t in enumerate(T):
    for s, q, px, fee in fills_at.get(t, []):
        pos[s] += q
        cash -= q * px + fee
    for i, s in enumerate(sym):
        if np.isfinite(close[i, k]): last[s] = close[i, k]
    if t not in s_pos: continue
    for s in sym:
        assert float(s_pos[t][s]) == pos[s], ('position differs', t, s, s_pos[t][s], pos[s])
    eq = cash + sum(pos[s] * last.get(s, 0.0) for s in sym)
    assert abs(eq - s_eq[t]) <= 6e-10 * abs(eq), ('equity differs', t, s_eq[t], eq)
    checked += 1
assert checked == len(s_eq) and checked > 250, (checked, len(s_eq))
assert abs(eq - s_final) <= 1e-6, ('final equity', s_final, eq)
print('%d orders, %d fills, %d bars: positions and equity equal; final equity %.6f (simulator) %.6f (live), P&L %.2f'
      % (len(l_orders), len(l_fills), checked, s_final, eq, eq - capital))
EOF
qa_exit
