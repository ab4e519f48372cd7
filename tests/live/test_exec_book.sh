#!/bin/sh
# Queue position through the live service (docs/execution.md, "Queue position on the
# LOBSTER book"): `qa live` replays the shipped AAPL LOBSTER sample's 1-second bars through
# the embedded Kafka cluster, a registered model sizes AAPL, and the execution stage's
# paper broker (execution.paper.book) fills its limit children on the book's messages.
# Every child's fills in the order database (trade id, quantity, price, time to the
# nanosecond) equal the independent Python model (tests/live/lobster_oracle.py) run on the
# children as the database recorded them (time, side, quantity, limit, cancel time), with
# the venue's clock at the replayed timestamps; some fill is stamped between bars (a
# message's time), so the book, not the bars, matched it.
# Usage: test_exec_book.sh QA SRC PYTHON
set -u
QA=$1 SRC=$2 PY=$3
. "$SRC/tests/lib.sh"
qa_tmpdir execbook
cd "$W" || exit 1
export QA_BUS_FILE="$W/bus" QA_REGISTRY="$W/registry"
D="$SRC/datasets/sample/lobster_aapl_sample"
MSG="$D/AAPL_2012-06-21_34200000_57600000_message_10.csv.gz"
OB="$D/AAPL_2012-06-21_34200000_57600000_orderbook_10.csv.gz"

"$PY" -c "import h5py, numpy" 2> /dev/null || { echo "skipped: needs h5py and numpy"; exit 77; }
# A model that is ready after two bars (the sample has 26 seconds with trades): trained on
# the 5-minute stocks, applied to AAPL's 1-second bars (its inputs are bar-shaped).
qa_import stocks-5min s5.h5
"$QA" -q features --data s5.h5 > /dev/null 2>&1 || { echo "FAIL: qa features"; exit 1; }
cat > short.yaml <<'EOF'
data: s5.h5
seed: 3
inputs: {features: [ret_close], bars: [logret, range, body], window: 2, clip: 5}
target: {kind: return, horizon: 6, demean: true}
split: {start: 2026-01-26, train_end: 2026-04-01, val_end: 2026-05-01, embargo: 6}
model: {type: mlp, hidden: [8], activation: gelu}
train: {batch_size: 256, steps: 30, lr: 1e-3, eval_every: 30, patience: 0}
EOF
"$QA" -q train --config short.yaml --run-dir run --publish short > pub.txt 2> pub.err || { echo "FAIL: train: $(cat pub.err)"; exit 1; }
"$QA" -q registry alias set short champion 1 --reason "book test" > /dev/null || { echo "FAIL: alias"; exit 1; }
qa_import lobster lob.h5
trap '"$QA" -q bus stop > /dev/null 2>&1; rm -rf "$W"' EXIT

"$QA" -q replay --data lob.h5 --prefix b. > replay.txt 2> replay.err || { echo "FAIL: replay: $(cat replay.err)"; exit 1; }
cat > live.yaml <<EOF
universe: lob.h5
state_dir: state
model: models:/short@champion
exit_idle: 2
kafka: {prefix: "b."}
rules: {sizing: {method: vol_target, target_vol: 0.02, vol_window: 2, max_leverage: 1}, capital: 50000}
execution:
  strategy: book
  algo: {kind: immediate, order: limit, offset_bps: 0}
  rebalance_band: 0
  paper:
    fee_bps: 1
    book: {symbol: AAPL, date: 2012-06-21, levels: 10, messages: $MSG, orderbook: $OB}
EOF
"$QA" -q live --config live.yaml > live.out 2> live.err || { echo "FAIL: qa live: $(tail -3 live.err)"; exit 1; }

"$PY" - "$MSG" "$OB" "$SRC/tests/live/lobster_oracle.py" <<'EOF' && ok "qa live on the LOBSTER book: every fill equals the independent queue model" || ko "fills through qa live on the book"
import sqlite3, subprocess, sys, h5py, numpy as np
msg, ob, oracle = sys.argv[1:4]
f = h5py.File('lob.h5', 'r')
T, close = f['time'][:], f['bars/close'][0, :]
with open('clocks.txt', 'w') as c:   # the venue's clock: every timestamp the service closed
    c.write('\n'.join(str(int(t)) for t, x in zip(T, close) if np.isfinite(x)) + '\n')
db = sqlite3.connect('state/orders.db')
children = db.execute("select clordid, side, qty, type, limit_price, created from orders where parent is not null"
                      " order by created, clordid").fetchall()
assert children, 'no child order: the model never sized AAPL'
ends = dict(db.execute("select clordid, min(time) from transitions where to_state in ('pending_cancel', 'cancelled')"
                       " group by clordid"))
with open('orders.csv', 'w') as o:
    for cid, side, qty, typ, lim, created in children:
        price = '%.4f' % lim if typ == 'limit' else '0'
        o.write('%d,%s,%d,%d,%s,0%s\n' % (created, cid, side, qty, price, ',%d' % ends[cid] if cid in ends else ''))
want = subprocess.run([sys.executable, oracle, msg, ob, 'events', 'orders.csv', 'clocks.txt'], check=True,
                      capture_output=True, text=True).stdout.split()
want = sorted((r.split(',')[3], int(r.split(',')[4]), round(float(r.split(',')[5]), 4), int(r.split(',')[0]))
              for r in want if r.split(',')[1] == 'fill')
got = sorted((tid, int(q), round(px, 4), t) for tid, q, px, t in db.execute('select trade_id, qty, price, time from fills'))
assert got == want, ('fills differ', got, want)
between = [g for g in got if g[3] % 10**9 != 0 and g[3] % 10**9 != 1]
assert got and between, ('no fill stamped between bars', got)
print(len(children), 'children,', len(got), 'fills,', len(between), 'at message times between bars')
EOF
qa_exit
