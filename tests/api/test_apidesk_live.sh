#!/bin/sh
# Operator cancels end to end (docs/execution.md, "Operator cancels"; the API's
# POST /api/live/orders/{id}/cancel and /api/live/cancel-all queue them): `qa live` trades
# the shipped 5-minute bars with slow fills, so orders are working when it stops; a
# cancel of one working child (by alice) and a cancel-all (by bob) are queued in risk.db
# in its documented format (what qa_riskdb_cancel_add writes); the service's next run
# applies both at its first timestamp. Checked from the order database and the topics:
# the named child is cancelled with alice in its transitions' detail, every other order
# working before is cancelled with bob in its detail, nothing new is created at that
# timestamp, the strategy trades again after it, both commands are marked applied at it
# and each raised its "command"/"cancel" alert.
# Usage: test_apidesk_live.sh QA SRC PYTHON
set -u
QA=$1 SRC=$2 PY=$3
. "$SRC/tests/lib.sh"
qa_tmpdir apidesk_live
cd "$W" || exit 1
export QA_BUS_FILE="$W/bus" QA_REGISTRY="$W/registry"

"$PY" -c "import h5py" 2> /dev/null || { echo "skipped: needs h5py"; exit 77; }
qa_live_model "api desk test"
trap '"$QA" -q bus stop > /dev/null 2>&1; rm -rf "$W"' EXIT
cat > k.yaml <<EOF
universe: s5.h5
state_dir: state_k
model: models:/m5@champion
exit_idle: 2
checkpoint_every: 16
kafka: {prefix: "k."}
rules: {sizing: {method: vol_target, target_vol: 0.1, vol_window: 20}, capital: 1000000}
risk: {window: 100, every: 12}
execution:
  strategy: t1
  algo: {kind: twap, slices: 3, window: 900}
  paper: {participation: 0.0005, fee_bps: 1}
  pretrade: {max_order_notional: 600000, price_band: 0.1}
EOF
"$QA" -q replay --data s5.h5 --max-times 150 --prefix k. > /dev/null 2>&1 || ko "replay"
"$QA" -q live --config k.yaml > k1.out 2> k1.err || ko "run before the cancels: $(tail -3 k1.err)"
# the commands, as the API queues them (live/riskdb.h: commands.state CANCEL with the
# order's client id in target, CANCEL_ALL without one)
"$PY" - <<'EOF' || ko "queue the cancels"
import sqlite3
db = sqlite3.connect('state_k/risk.db')
db.execute("attach 'state_k/orders.db' as o")
child = db.execute("select clordid from o.orders where type != 'parent' and state in ('accepted', 'partially_filled')"
                   " order by clordid limit 1").fetchone()
assert child, 'no working child order after the first run: the test proves nothing'
open('child.txt', 'w').write(child[0])
db.execute("insert into commands(created, state, who, why, target) values (datetime('now'), 'CANCEL', 'alice', 'fat finger', ?)", child)
db.execute("insert into commands(created, state, who, why, target) values (datetime('now'), 'CANCEL_ALL', 'bob', 'end of day', NULL)")
db.commit()
EOF
AT=$("$PY" -c "import h5py, datetime; t = int(h5py.File('s5.h5')['time'][150]); print(datetime.datetime.utcfromtimestamp(t / 1e9).strftime('%Y-%m-%dT%H:%M:%SZ'))")
"$QA" -q replay --data s5.h5 --start "$AT" --max-times 60 --prefix k. > /dev/null 2>&1 || ko "replay after the cancels"
"$QA" -q live --config k.yaml > k2.out 2> k2.err || ko "run with the cancels: $(tail -3 k2.err)"
for t in orders executions alerts; do "$QA" -q bus tail $t --prefix k. --idle 1.5 > "k.$t.jsonl" 2> /dev/null; done
"$PY" - <<'EOF' && ok "cancels: the named order by alice, every other working order by bob, at the next timestamp; trading resumes after it" || ko "cancels"
import json, sqlite3, h5py
t_c = int(h5py.File('s5.h5')['time'][150])
child = open('child.txt').read()
o = [json.loads(l) for l in open('k.orders.jsonl')]
e = [json.loads(l) for l in open('k.executions.jsonl')]
alerts = [json.loads(l) for l in open('k.alerts.jsonl')]
db = sqlite3.connect('state_k/orders.db')
tr = db.execute('select clordid, time, event, detail, to_state from transitions order by seq').fetchall()
# orders working just before t_c: created before it and not final before it
final = {c for c, t, ev, d, to in tr if t < t_c and to in ('filled', 'cancelled', 'rejected', 'expired')}
before = {c for c, t, ev, d, to in tr if t < t_c} - final
at = [(c, ev, d) for c, t, ev, d, to in tr if t == t_c]
assert child in before, 'the named child was not working'
assert (child, 'cancel_request', 'cancelled by alice: fat finger') in at, ('alice', [x for x in at if x[0] == child])
by_bob = {c for c, ev, d in at if d == 'cancelled by bob: end of day'}
assert by_bob, 'the cancel-all ended nothing'
# every order working before t_c is ended at t_c (or filled by the bars of t_c, before the cancels)
for c in before:
    st = [ev for cc, ev, d in at if cc == c]
    assert st and (set(st) & {'cancel_request', 'cancelled', 'fill'}), ('left working at the cancel', c, st)
assert not [m for m in o if m['time'] == t_c], 'an order was created at the cancel timestamp'
assert [m for m in o if m['time'] > t_c], 'the strategy did not trade again after the cancels'
cmds = sqlite3.connect('state_k/risk.db').execute("select state, applied_time from commands where state like 'CANCEL%'").fetchall()
assert cmds == [('CANCEL', t_c), ('CANCEL_ALL', t_c)], cmds
ca = [a for a in alerts if a['severity'] == 'command' and a['limit'] == 'cancel']
assert len(ca) == 2 and ca[0]['value'] >= 1 and ca[1]['value'] >= 1, ca
print(len(by_bob), 'orders ended by the cancel-all,', 'the child', child, 'by alice')
EOF
qa_exit
