#!/bin/sh
# The live service end to end on the shipped 5-minute bars, through the embedded Kafka
# cluster on loopback (its own bus file, so it never touches a user's cluster):
#   1. live features == `qa features` and live signals == `qa predict` bit for bit, every
#      valid prediction has exactly one signal, sizes follow the rules;
#   2. malformed inputs of every kind go to dead.letter with their reason, the service
#      keeps going and processes the bars after them;
#   3. kill -9 at random points, restart each time ($QA_LIVE_KILLS trials): the outputs
#      equal a clean run's, with no duplicate and no gap;
#   4. risk: snapshots equal an independent NumPy recomputation of the book (equity,
#      exposures, historical and parametric VaR/ES); a limit breach moves the state to
#      REDUCING and every later size only moves toward zero; the kill switch (qa live
#      state HALTED) freezes every target and raises an alert;
#   5. hot reload: the champion alias moves (qa registry watch --publish puts the event on
#      registry.events); the service switches at the next timestamp, each signal equals
#      qa predict of the version that made it, none dropped or doubled;
#   6. a checkpoint made by another configuration is refused.
# Usage: test_live.sh QA SRC PYTHON INJECT
set -u
QA=$1 SRC=$2 PY=$3 INJECT=$4
. "$SRC/tests/lib.sh"
qa_tmpdir live
cd "$W" || exit 1
KILLS=${QA_LIVE_KILLS:-8}
export QA_BUS_FILE="$W/bus" QA_REGISTRY="$W/registry"
N=900 # timestamps replayed (of 7943): 2,700 bars, ~11 days of 5-minute bars

qa_live_model "live test"
"$QA" -q predict --model models:/m5@champion --data s5.h5 > /dev/null 2>&1 || ko "qa predict"

# The cluster: started by `qa replay` itself (no bus running), found by everything after,
# stopped when the test ends however it ends.
trap '"$QA" -q bus stop > /dev/null 2>&1; rm -rf "$W"' EXIT
"$QA" -q replay --data s5.h5 --max-times $N --prefix c. > replay.txt 2> replay.err || { echo "FAIL: replay: $(cat replay.err)"; exit 1; }
[ -s "$W/bus" ] && ok "qa replay started the embedded cluster and recorded it" || ko "no bus file"
BOOT=$(cut -d' ' -f1 "$W/bus")

LIVE_RULES='{sizing: {method: vol_target, target_vol: 0.1, vol_window: 20}, capital: 1000000}'
live_yaml() { # PREFIX STATE [GROSS_LIMIT]
    printf 'universe: s5.h5\nstate_dir: %s\nmodel: models:/m5@champion\ndefault_features: true\nexit_idle: 2\n' "$2"
    printf 'checkpoint_every: %s\nkafka: {prefix: "%s"}\n' "${CKPT:-64}" "$1"
    printf 'rules: %s\n' "$LIVE_RULES"
    printf 'risk: {window: 100, every: 12, limits: [{name: gross, metric: gross_exposure, max: %s, warn: 0.3},' "${3:-2}"
    printf ' {name: var99, metric: var, level: 0.99, max: 0.05}]}\n'
}
tail_topic() { # PREFIX TOPIC OUT
    "$QA" -q bus tail "$2" --prefix "$1" --idle 1.5 > "$3" 2>/dev/null
}

# ---- 1. clean run: parity with batch ---------------------------------------------------------
live_yaml c. state_c > c.yaml
"$QA" -q live --config c.yaml > c.out 2> c.err || ko "clean live run: $(tail -3 c.err)"
grep -q "2700 bars" c.out && ok "clean run consumed 2700 bars" || ko "clean run: $(cat c.out)"
for t in features signals position.sizes risk.metrics alerts dead.letter; do tail_topic c. $t c.$t.jsonl; done
"$PY" - "$N" <<'EOF' && ok "live features = qa features, signals = qa predict (bit for bit), sizes by the rules" || ko "parity with batch"
import json, sys, math, h5py, numpy as np
N = int(sys.argv[1])
f = h5py.File('s5.h5', 'r')
sym = [s.decode() for s in f['symbols'][:]]
time = f['time'][:N]
col = {int(t): i for i, t in enumerate(time)}
bad = 0
def same(a, b):
    return (a is None and math.isnan(b)) or (a is not None and a == b)   # exact, NaN as null
feat = [json.loads(l) for l in open('c.features.jsonl')]
assert len(feat) == int(np.isfinite(f['bars/close'][:, :N]).sum()), ('features messages', len(feat))
names = feat[0]['values'].keys()
assert len(names) == 20, names
for m in feat:
    s, t = sym.index(m['symbol']), col[m['time']]
    for k, v in m['values'].items():
        if not same(v, f['features/' + k][s, t]):
            bad += 1
            if bad < 5: print('feature', k, m['symbol'], t, v, f['features/' + k][s, t])
pred = f['predictions/m5/1'][:, :N]
sig = [json.loads(l) for l in open('c.signals.jsonl')]
assert len(sig) == int(np.isfinite(pred).sum()) and len(sig) > 1000, ('signals', len(sig), int(np.isfinite(pred).sum()))
assert len({m['id'] for m in sig}) == len(sig), 'duplicate signal ids'
for m in sig:
    s, t = sym.index(m['symbol']), col[m['time']]
    if m['score'] != pred[s, t] or m['model'] != 'm5' or m['version'] != 1:
        bad += 1
        if bad < 10: print('signal', m, pred[s, t])
size = {(m['symbol'], m['time']): m for m in (json.loads(l) for l in open('c.position.sizes.jsonl'))}
assert len(size) == len(sig)
close = f['bars/close'][:, :N]
for m in sig:
    z = size[(m['symbol'], m['time'])]
    s, t = sym.index(m['symbol']), col[m['time']]
    c = close[s, np.isfinite(close[s])][:np.isfinite(close[s, :t + 1]).sum()]
    r = c[1:] / c[:-1] - 1
    want = 0.0
    if len(r) >= 20:
        sd = np.std(r[-20:], ddof=1)
        want = min(0.1 / (sd * math.sqrt(19656.0)), 2.0) * np.sign(m['score']) / 3
    if abs(z['weight'] - want) > 1e-12 * max(1, abs(want)) or abs(z['shares'] - z['weight'] * 1e6 / c[-1]) > 1e-6:
        bad += 1
        if bad < 15: print('size', m['symbol'], t, z['weight'], want)
sys.exit(1 if bad else 0)
EOF
[ ! -s c.dead.letter.jsonl ] && ok "no dead letters from clean history" || ko "dead letters in a clean replay"

# The book, recomputed from the sizes topic and the file: positions held from a size on,
# equity marked to each close, snapshots every 12 timestamps over the last 100 returns.
cat > riskcheck.py <<'EOF'
import json, sys, math, h5py, numpy as np
prefix, N, W, EVERY = sys.argv[1], int(sys.argv[2]), 100, 12
f = h5py.File('s5.h5', 'r')
sym = [s.decode() for s in f['symbols'][:]]
S, time, close = len(sym), f['time'][:N], f['bars/close'][:, :N]
sizes = {(m['symbol'], m['time']): m for m in map(json.loads, open(prefix + 'position.sizes.jsonl'))}
risk = {m['time']: m for m in map(json.loads, open(prefix + 'risk.metrics.jsonl'))}
shares, last, eq, peak, rows, n, bad = np.zeros(S), np.zeros(S), 1e6, 1e6, [], 0, 0
z = 2.3263478740408408  # the standard normal's 0.99 quantile
for t in range(N):
    row = np.zeros(S)
    for s in range(S):
        c = close[s, t]
        if not np.isfinite(c): continue
        if last[s] > 0: eq += shares[s] * (c - last[s]); row[s] = c / last[s] - 1
        last[s] = c
    peak = max(peak, eq)
    rows = (rows + [row])[-W:]
    for s in range(S):
        m = sizes.get((sym[s], int(time[t])))
        if m: shares[s] = m['shares']
    n += 1
    if n % EVERY: continue
    r = risk.get(int(time[t]))
    if r is None: bad += 1; print('no snapshot at', t); continue
    w = shares * last / eq
    want = {'equity': eq, 'drawdown': 1 - eq / peak, 'gross': np.abs(w).sum(), 'net': w.sum(), 'concentration': np.abs(w).max()}
    if len(rows) == W:
        R = np.array(rows); loss = np.sort(-(R @ w)); k = math.ceil(0.99 * W - 1e-9)
        sd = math.sqrt(w @ np.cov(R.T, ddof=1) @ w)
        want.update(var_hist=loss[k - 1], es_hist=loss[k - 1:].mean(), var_param=z * sd,
                    es_param=sd * math.exp(-z * z / 2) / math.sqrt(2 * math.pi) / 0.01)
    else:
        assert r['var_hist'] is None, r
    for key, v in want.items():
        if abs(r[key] - v) > 1e-9 * max(1.0, abs(v)) + 1e-12:
            bad += 1
            if bad < 6: print(key, t, r[key], v)
assert len(risk) == N // EVERY, (len(risk), N // EVERY)
sys.exit(1 if bad else 0)
EOF
"$PY" riskcheck.py c. $N && ok "risk snapshots (equity, exposures, historical and parametric VaR/ES) = NumPy recomputation" || ko "risk snapshots"
grep -q '"severity":"warning","limit":"gross"' c.alerts.jsonl && ! grep -q '"severity":"breach"' c.alerts.jsonl \
    && ok "gross-exposure warnings on alerts, no breach, state ACTIVE" || ko "clean-run alerts: $(head -3 c.alerts.jsonl)"

# A gross limit the book breaks: REDUCING, and from then on targets only move toward zero.
live_yaml g. state_g 0.5 > g.yaml
"$QA" -q replay --data s5.h5 --max-times $N --prefix g. > g.replay.txt 2>&1 || ko "replay g."
"$QA" live --config g.yaml --set http=127.0.0.1:0 --set exit_idle=4 > g.out 2> g.err &
gpid=$!
# While it runs: /health and /metrics answer with the service's own numbers.
"$PY" - <<'EOF' && ok "/health and /metrics of the running service (Prometheus text, lag, trading state)" || ko "operations endpoints"
import json, re, time, urllib.request
port = None
for _ in range(200):
    m = re.search(r'/metrics on http://127\.0\.0\.1:(\d+)', open('g.err').read())
    if m: port = int(m.group(1)); break
    time.sleep(0.05)
assert port, 'no port in the log'
for _ in range(100):
    h = json.loads(urllib.request.urlopen('http://127.0.0.1:%d/health' % port).read())
    if h['timestamps'] == 900: break
    time.sleep(0.1)
assert h['timestamps'] == 900 and h['trading_state'] == 'REDUCING' and h['bars'] == 2700, h
val = lambda name: float(re.search(r'^' + re.escape(name) + r' (\S+)$', text, re.M).group(1))
for _ in range(30): # the lag gauge is refreshed while the service waits for input
    r = urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port)
    assert r.headers['Content-Type'].startswith('text/plain; version=0.0.4'), r.headers['Content-Type']
    text = r.read().decode()
    if val('qa_live_consumer_lag_messages') == 0: break
    time.sleep(0.1)
wms = int(re.search(r'2700 bars, 0 documents and (\d+) watermarks', open('g.replay.txt').read()).group(1))
assert val('qa_live_messages_in_total{topic="g.market.data"}') == 2700 + wms, text[:400]
for name, want in [('qa_live_timestamps_total', 900), ('qa_live_trading_state', 1),
                   ('qa_live_consumer_lag_messages', 0), ('qa_live_bar_seconds_count', 900)]:
    assert val(name) == want, (name, val(name), want)
assert '# TYPE qa_live_step_seconds histogram' in text
EOF
wait $gpid || ko "gated run: $(tail -3 g.err)"
for t in position.sizes alerts risk.metrics; do tail_topic g. $t g.$t.jsonl; done
"$PY" - <<'EOF' && ok "gross breach -> alert and REDUCING; every later size moves toward zero" || ko "limit gating"
import json
al = [json.loads(l) for l in open('g.alerts.jsonl')]
br = [a for a in al if a['severity'] == 'breach' and a['limit'] == 'gross']
stt = [a for a in al if a['severity'] == 'state' and a['state'] == 'REDUCING']
assert br and stt and stt[0]['time'] == br[0]['time'], (br[:1], stt[:1])
t0 = stt[0]['time']
prev, checked = {}, 0
for m in sorted(map(json.loads, open('g.position.sizes.jsonl')), key=lambda m: (m['time'], m['symbol'])):
    p = prev.get(m['symbol'], 0.0)
    if m['time'] > t0 and m['state'] == 'REDUCING':
        assert m['shares'] * p >= 0 and abs(m['shares']) <= abs(p) + 1e-9, (m, p)
        checked += 1
    prev[m['symbol']] = m['shares']
assert checked > 10, checked
EOF

# ---- 1b. capped Kelly sizing: |w| = min(0.5 x |score| / horizon / sd^2, cap) ---------------------
"$QA" -q replay --data s5.h5 --max-times $N --prefix y. > /dev/null 2>&1 || ko "replay y."
LIVE_RULES='{sizing: {method: kelly, kelly_fraction: 0.5, vol_window: 20, max_leverage: 0.8}, capital: 1000000}' \
    live_yaml y. state_y > y.yaml
"$QA" -q live --config y.yaml > y.out 2> y.err || ko "kelly live run: $(tail -3 y.err)"
for t in signals position.sizes; do tail_topic y. $t y.$t.jsonl; done
"$PY" - "$N" <<'EOF' && ok "capped Kelly sizes: half Kelly of the model's expected return per bar, capped, as recomputed" || ko "kelly sizes"
import json, sys, math, h5py, numpy as np
N = int(sys.argv[1])
f = h5py.File('s5.h5', 'r')
sym = [s.decode() for s in f['symbols'][:]]
col = {int(t): i for i, t in enumerate(f['time'][:N])}
close = f['bars/close'][:, :N]
sig = {(m['symbol'], m['time']): m for m in map(json.loads, open('y.signals.jsonl'))}
size = [json.loads(l) for l in open('y.position.sizes.jsonl')]
assert len(size) == len(sig) > 1000, (len(size), len(sig))
bad = capped = inside = 0
for z in size:
    m = sig[(z['symbol'], z['time'])]
    s, t = sym.index(z['symbol']), col[z['time']]
    c = close[s, np.isfinite(close[s])][:np.isfinite(close[s, :t + 1]).sum()]
    r = c[1:] / c[:-1] - 1
    want = 0.0
    if len(r) >= 20:
        sd = np.std(r[-20:], ddof=1)
        k = 0.5 * abs(m['score'] / 6.0) / (sd * sd)   # horizon 6: the model's target
        capped += k >= 0.8
        inside += 0 < k < 0.8
        want = min(k, 0.8) * np.sign(m['score']) / 3
    if abs(z['weight'] - want) > 1e-12 * max(1, abs(want)) or z['method'] != 'kelly':
        bad += 1
        if bad < 10: print('size', z, want)
print(len(size), 'sizes,', capped, 'at the cap,', inside, 'below it')
sys.exit(1 if bad or not capped or not inside else 0)
EOF

# ---- 1c. configuration reload -----------------------------------------------------------------
# The service starts with the vol-target rules of the clean run; `qa live reload` queues the
# edited file (half Kelly, a looser gross warning) for timestamp 450; kill -9 at random
# points while it is replayed. Every size before 450 must equal the clean run's, every size
# from 450 on the Kelly run's, once each; the change applies once, at 450, in every restart.
iso() { "$PY" -c "import h5py,datetime; t=int(h5py.File('s5.h5','r')['time'][$1]); print(datetime.datetime.utcfromtimestamp(t/1e9).isoformat())"; }
"$QA" -q replay --data s5.h5 --max-times 300 --prefix r. > /dev/null 2>&1 || ko "replay r."
live_yaml r. state_r > r.yaml
"$QA" -q live --config r.yaml > r1.out 2> r1.err || ko "reload run, first part: $(tail -3 r1.err)"
LIVE_RULES='{sizing: {method: kelly, kelly_fraction: 0.5, vol_window: 20, max_leverage: 0.8}, capital: 1000000}' \
    live_yaml r. state_r | sed 's/warn: 0.3/warn: 0.9/' > r.yaml
sed 's/window: 100/window: 50/' r.yaml > bad.yaml
"$QA" -q live reload --state-dir state_r --config bad.yaml --why "another VaR window" > bad.out 2> bad.err
[ $? -eq 1 ] && grep -q "risk.window: 100 -> 50" bad.err && grep -q "new state_dir" bad.err \
    && ok "qa live reload refuses a change of a setting the state was built with (risk.window)" || ko "bad reload: $(cat bad.out bad.err)"
"$QA" -q live reload --state-dir state_r --why "half Kelly" --who desk --at "$(iso 450)" > rl.out 2> rl.err || ko "qa live reload: $(cat rl.err)"
grep -q 'rules.sizing: "vol_target" -> "kelly"' rl.out && grep -q "risk.limits.gross.warn: 0.3 -> 0.9" rl.out \
    && ok "qa live reload checks the edited file and queues what it changes" || ko "reload output: $(cat rl.out)"
"$QA" -q replay --data s5.h5 --start "$(iso 300)" --max-times 600 --prefix r. > /dev/null 2>&1 || ko "replay r. 2"
qa_kill_trials "${QA_LIVE_RELOAD_KILLS:-3}" 0.3 1.6 "$QA" -q live --config r.yaml
"$QA" -q live --config r.yaml > r2.out 2> r2.err || ko "reload run after kills: $(tail -3 r2.err)"
for t in features signals position.sizes risk.metrics alerts; do tail_topic r. $t r.$t.jsonl; done
"$PY" riskcheck.py r. $N && ok "risk snapshots across the reload = NumPy recomputation" || ko "risk across the reload"
"$PY" - "$N" <<'EOF' && ok "reload at 450 across kill -9: sizes by the old rules before, by the new after, once each; limits follow" || ko "configuration reload"
import json, sys, sqlite3, h5py
N = int(sys.argv[1])
T = int(h5py.File('s5.h5', 'r')['time'][450])
load = lambda f: [json.loads(l) for l in open(f)]
strip = lambda m: {x: y for x, y in m.items() if x not in ('topic', 'partition', 'offset')}
key = lambda m: (m['symbol'], m['time'], m['id'])
for t in ['features', 'signals']:
    a, c = load('r.%s.jsonl' % t), {key(m): strip(m) for m in load('c.%s.jsonl' % t)}
    assert len(a) == len({key(m) for m in a}) == len(c), (t, len(a), len(c))
    assert all(strip(m) == c[key(m)] for m in a), t
old = {key(m): strip(m) for m in load('c.position.sizes.jsonl')}
new = {key(m): strip(m) for m in load('y.position.sizes.jsonl')}
sz = load('r.position.sizes.jsonl')
assert len(sz) == len({key(m) for m in sz}) == len(old), (len(sz), len(old))
for m in sz:
    want = old[key(m)] if m['time'] < T else new[key(m)]
    assert strip(m) == want, (m, want)
nk = sum(m['time'] >= T for m in sz)
al = [m for m in load('r.alerts.jsonl') if m['severity'] != 'bus']
cfg = [m for m in al if m['severity'] == 'config']
assert len(cfg) == 1 and cfg[0]['time'] == T and cfg[0]['limit'] == 'config_reload' and 'by desk' in cfg[0]['detail'], cfg
gross = lambda f: [(m['time'], m['severity'], m['value']) for m in f if m['limit'] == 'gross']
want = [g for g in gross(load('c.alerts.jsonl')) if g[0] < T]
assert gross(al) == want and want, (gross(al)[:3], want[:3])
db = sqlite3.connect('state_r/risk.db')
rows = db.execute("select kind, who, why, status, applied_time from config_changes order by id").fetchall()
assert len(rows) == 2 and rows[0][0] == 'initial' and rows[1] == ('reload', 'desk', 'half Kelly', 'applied', T), rows
print(nk, 'sizes by the new rules,', len(sz) - nk, 'by the old')
EOF
"$QA" -q live changes --state-dir state_r | grep -q "applied" && ok "qa live changes lists the log" || ko "qa live changes"
# SIGHUP: the running (idle) service reads its file again and applies it at the next
# timestamp, the first of the next replay; then a file edited while the service is down
# is recorded at the next start and applies after everything already produced.
"$QA" live --config r.yaml --set exit_idle=8 > r3.out 2> r3.err &
rpid=$!
i=0; while ! grep -q "resuming from its checkpoint" r3.err && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
cp r.yaml r.good && echo "rules: [" >> r.yaml   # a broken file first: refused, recorded, nothing changes
kill -HUP $rpid
i=0; while ! grep -q "cannot be used" r3.err && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
sed 's/method: kelly, kelly_fraction: 0.5, vol_window: 20, max_leverage: 0.8/method: vol_target, target_vol: 0.1, vol_window: 20/' \
    r.good > r.yaml.new && mv r.yaml.new r.yaml
kill -HUP $rpid
i=0; while ! grep -q "configuration change 4 (signal" r3.err && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
"$QA" -q replay --data s5.h5 --start "$(iso 900)" --max-times 100 --prefix r. > /dev/null 2>&1 || ko "replay r. 3"
wait $rpid || ko "run through SIGHUP: $(tail -3 r3.err)"
echo "allocation: 0.2" >> r.yaml
"$QA" -q replay --data s5.h5 --start "$(iso 1000)" --max-times 100 --prefix r. > /dev/null 2>&1 || ko "replay r. 4"
"$QA" -q live --config r.yaml > r4.out 2> r4.err || ko "run after an edit: $(tail -3 r4.err)"
tail_topic r. position.sizes r4.sizes.jsonl
tail_topic r. alerts r4.alerts.jsonl
"$PY" - <<'EOF' && ok "SIGHUP applies the file at the next timestamp; a file edited while down applies after the produced outputs" || ko "SIGHUP and restart changes"
import json, math, sqlite3, h5py, numpy as np
t = h5py.File('s5.h5', 'r')['time']
T450, T900, T1000 = int(t[450]), int(t[900]), int(t[1000])
rows = sqlite3.connect('state_r/risk.db').execute("select id, kind, status, applied_time, changes from config_changes order by id").fetchall()
assert [r[1:4] for r in rows[2:]] == [('signal', rows[2][2], None), ('signal', 'applied', T900), ('restart', 'applied', T1000)], rows
assert rows[2][2].startswith('rejected: ') and 'r.yaml' in rows[2][2], rows   # the broken file
assert 'rules.sizing: "kelly" -> "vol_target"' in rows[3][4] and rows[4][4] == 'allocation: 0.0 -> 0.2', rows
f = h5py.File('s5.h5', 'r')
sym = [s.decode() for s in f['symbols'][:]]
close = f['bars/close'][:]
col = {int(x): i for i, x in enumerate(t[:])}
sz = sorted(map(json.loads, open('r4.sizes.jsonl')), key=lambda m: (m['time'], m['symbol']))
assert len(sz) == len({(m['symbol'], m['time']) for m in sz}), 'duplicates'
n = 0
for m in sz:
    want = 'vol_target' if m['time'] < T450 or m['time'] >= T900 else 'kelly'
    assert m['method'] == want, (m, want)
    if m['time'] < T900: continue
    s, i = sym.index(m['symbol']), col[m['time']]   # vol target 0.1 over 20 returns, 1/3 then 0.2 of capital
    c = close[s, :i + 1][np.isfinite(close[s, :i + 1])]
    r = c[1:] / c[:-1] - 1
    w = min(0.1 / (np.std(r[-20:], ddof=1) * math.sqrt(19656.0)), 2.0) * np.sign(m['score']) * (1 / 3 if m['time'] < T1000 else 0.2)
    assert m['state'] == 'ACTIVE' and abs(m['weight'] - w) <= 1e-12 * max(1, abs(w)), (m, w)
    n += 1
assert n > 400, n
cfg = [(a['time'], a['value']) for a in map(json.loads, open('r4.alerts.jsonl')) if a['limit'] == 'config_reload']
assert cfg == [(T450, 2.0), (T900, 4.0), (T1000, 5.0)], cfg
db = sqlite3.connect('state_r/risk.db')   # alerts of timestamps without a snapshot are in risk.db too
assert db.execute("select time, value from alerts where severity = 'config' order by time").fetchall() == cfg
rej = [a for a in map(json.loads, open('r4.alerts.jsonl')) if a['limit'] == 'config_rejected']
assert len(rej) == 1 and rej[0]['value'] == 3.0 and 'cannot be used' in rej[0]['detail'], rej
EOF
# The desk's view of that service: the book and limits of the last snapshot, each symbol's
# last size, the configuration in force.
"$QA" -q live status --config r.yaml > status.txt 2> status.err || ko "qa live status: $(cat status.err)"
"$PY" - <<'EOF' && ok "qa live status: book, limits in force with their use, every symbol's last position, history" || { ko "qa live status"; cat status.txt; }
import json, re, sqlite3
out = open('status.txt').read()
last = {}
for m in map(json.loads, open('r4.sizes.jsonl')):
    if m['symbol'] not in last or m['time'] > last[m['symbol']]['time']: last[m['symbol']] = m
assert len(last) == 3
for sym, m in last.items():
    row = re.search(r'^  %s +(\S+) +(\S+) +(\S+) +(\S+) +(\S+) +(\S+)' % sym, out, re.M)
    assert row and abs(float(row.group(1)) - m['shares']) < 0.006 and abs(float(row.group(2)) - m['weight']) < 6e-5, (sym, row and row.groups(), m)
    assert row.group(5) == 'vol_target' and row.group(6) == m['state']
k = sqlite3.connect('state_r/risk.db').execute('select equity, gross from metrics order by time desc limit 1').fetchone()
assert 'equity %.2f' % k[0] in out and re.search(r'^  gross +gross_exposure +%.6g +2 ' % k[1], out, re.M), (k, out)
assert 'change 5 in force, 3 applied' in out and 'var99' in out, out
EOF

# ---- 2. malformed inputs --------------------------------------------------------------------
# Eight bad messages after the first 900 timestamps, then 100 more good timestamps.
LAST=$("$PY" -c "import h5py; print(int(h5py.File('s5.h5','r')['time'][$N]))")
SENT=$("$INJECT" "$BOOT" c. AAPL "$LAST") || ko "inject"
"$QA" -q live state HALTED --state-dir state_c --who ops --why "test kill switch" > /dev/null || ko "qa live state"
"$QA" -q replay --data s5.h5 --start "$("$PY" -c "import h5py,datetime; t=int(h5py.File('s5.h5','r')['time'][$N]); print(datetime.datetime.utcfromtimestamp(t/1e9).isoformat())")" \
    --max-times 100 --prefix c. > /dev/null 2>&1 || ko "second replay"
"$QA" -q live --config c.yaml > c2.out 2> c2.err || ko "live after bad input: $(tail -3 c2.err)"
tail_topic c. dead.letter dl.jsonl
tail_topic c. position.sizes c2.sizes.jsonl
tail_topic c. alerts c2.alerts.jsonl
"$PY" - "$LAST" <<'EOF' && ok "kill switch: HALTED at the next timestamp, every later target frozen, alert with who and why" || ko "kill switch"
import json, sys
t1 = int(sys.argv[1])
ks = [a for a in map(json.loads, open('c2.alerts.jsonl')) if a['limit'] == 'kill_switch']
assert len(ks) == 1 and ks[0]['time'] == t1 and ks[0]['state'] == 'HALTED' and 'by ops: test kill switch' in ks[0]['detail'], ks
prev, n = {}, 0
for m in sorted(map(json.loads, open('c2.sizes.jsonl')), key=lambda m: (m['time'], m['symbol'])):
    if m['time'] >= t1:
        assert m['state'] == 'HALTED' and m['shares'] == prev[m['symbol']], (m, prev.get(m['symbol']))
        n += 1
    prev[m['symbol']] = m['shares']
assert n > 200, n
EOF
"$PY" - "$SENT" <<'EOF' && ok "8 malformed inputs -> dead.letter with reasons; the next 100 timestamps processed" || { ko "dead letters"; cat dl.jsonl; cat c2.out; }
import json, sys
dl = [json.loads(l) for l in open('dl.jsonl')]
want = ['truncated bar', 'schema major 9', "close is nan", "unknown symbol 'NOSUCH'", 'oversized: 70000', 'truncated: 12',
        'high', 'open']
assert int(sys.argv[1]) == 8 and len(dl) == 8, len(dl)
for d, w in zip(sorted(dl, key=lambda d: d['source_offset']), want):
    assert w in d['reason'], (w, d['reason'])
    assert d['source_topic'] == 'c.market.data'
out = open('c2.out').read()
assert '8 dead letters' in out and '300 bars' in out, out
EOF


# ---- 3. kill -9 at random points -------------------------------------------------------------
"$QA" -q replay --data s5.h5 --max-times $N --prefix k. > /dev/null 2>&1 || ko "replay k."
CKPT=16 live_yaml k. state_k > k.yaml
qa_kill_trials "$KILLS" 0.3 1.6 "$QA" -q live --config k.yaml
"$QA" -q live --config k.yaml > k.out 2> k.err || ko "final run after kills: $(tail -3 k.err)"
for t in features signals position.sizes risk.metrics alerts; do tail_topic k. $t k.$t.jsonl; done
# Outputs of a stream equal the clean run's, message for message, none twice, none missing
# (operational alerts about the bus itself aside).
cat > same.py <<'EOF'
import json, sys
a = sys.argv[1]
for t in ['features', 'signals', 'position.sizes', 'risk.metrics', 'alerts']:
    k = [m for m in map(json.loads, open(a + t + '.jsonl')) if m.get('severity') != 'bus']
    c = [json.loads(l) for l in open('c.%s.jsonl' % t)]
    key = lambda m: (m['symbol'], m['time'], m['id'])
    kk = [key(m) for m in k]
    assert len(kk) == len(set(kk)), (t, 'duplicates', len(kk) - len(set(kk)))
    strip = lambda m: {x: y for x, y in m.items() if x not in ('topic', 'partition', 'offset')}
    ck = {key(m): strip(m) for m in c}
    assert set(kk) == set(ck), (t, 'gaps', len(set(ck) - set(kk)), 'extra', len(set(kk) - set(ck)))
    for m in k:
        assert strip(m) == ck[key(m)], (t, m, ck[key(m)])
    print(t, len(k), 'messages, identical')
EOF
"$PY" same.py k. && ok "kill -9 x $KILLS: outputs equal the clean run, no duplicates, no gaps" || ko "kill -9 trials"
grep -q "resumed" k.out && ok "the last run resumed from a checkpoint" || ko "no resume: $(cat k.out)"
# The live store after all those kills: a complete market file with exactly the replayed bars.
"$QA" -q data info state_k/live.h5 > kinfo.txt 2>&1 || ko "qa data info of the live store: $(cat kinfo.txt)"
"$PY" - "$N" <<'EOF' && ok "live store after the kills: a market file holding exactly the accepted bars" || ko "live store"
import sys, h5py, numpy as np
N = int(sys.argv[1])
a, b = h5py.File('state_k/live.h5', 'r'), h5py.File('s5.h5', 'r')
assert a.attrs['format'] == b'quantumalpha.market' or a.attrs['format'] == 'quantumalpha.market', a.attrs['format']
assert list(a['symbols'][:]) == list(b['symbols'][:]) and (a['time'][:] == b['time'][:N]).all(), len(a['time'])
for f in ['open', 'high', 'low', 'close', 'volume']:
    x, y = a['bars/' + f][:], b['bars/' + f][:, :N]
    assert ((x == y) | (np.isnan(x) & np.isnan(y))).all(), f
EOF

# ---- broker down and back ----------------------------------------------------------------------
# A cluster of its own with a fault-injection FIFO: broker 1 (leader of some partitions of
# every topic) goes down for 4 s in the middle of the run, then comes back.
BUS2="$W/bus2"
QA_BUS_FILE="$BUS2" "$QA" bus run --control "$W/ctl" > bus2.out 2> bus2.err &
i=0; while [ ! -s "$BUS2" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
trap 'QA_BUS_FILE="$BUS2" "$QA" -q bus stop > /dev/null 2>&1; "$QA" -q bus stop > /dev/null 2>&1; rm -rf "$W"' EXIT
QA_BUS_FILE="$BUS2" "$QA" -q replay --data s5.h5 --max-times $N --prefix b. > /dev/null 2>&1 || ko "replay b."
live_yaml b. state_b | sed 's/exit_idle: 2/exit_idle: 8/' > b.yaml
QA_BUS_FILE="$BUS2" "$QA" -q live --config b.yaml > b.out 2> b.err &
pid=$!
sleep 0.8; echo "down 1" > "$W/ctl"; sleep 4; echo "up 1" > "$W/ctl"
wait $pid || ko "live through a broker outage: $(tail -3 b.err)"
for t in features signals position.sizes risk.metrics alerts; do QA_BUS_FILE="$BUS2" tail_topic b. $t b.$t.jsonl; done
grep -q "down broker 1" bus2.err && grep -q "up broker 1" bus2.err || ko "the broker was not taken down: $(cat bus2.err)"
grep -q "bus trouble" b.err && grep -q '"severity":"bus"' b.alerts.jsonl && ok "broker outage seen: log line and an operational alert" \
    || ko "no alert for the outage: $(grep -c WARN b.err) warnings"
"$PY" same.py b. && ok "broker down 4 s and back: every input processed exactly once (outputs = clean run)" || ko "broker outage"

# ---- hot reload: champion moves to a retrained version 2 --------------------------------------
sed 's/^seed: 3/seed: 4/' mlp.yaml > mlp2.yaml
"$QA" -q train --config mlp2.yaml --run-dir run2 --publish m5 > /dev/null 2>&1 || ko "train v2"
"$QA" -q predict --model models:/m5/2 --data s5.h5 > /dev/null 2>&1 || ko "predict v2"
"$QA" -q registry alias set m5 champion 2 --reason "hot reload test" > /dev/null || ko "alias v2"
"$QA" -q registry watch --publish --prefix c. > watch.out 2> watch.err || ko "registry watch --publish: $(cat watch.err)"
"$QA" -q registry watch --publish --prefix c. > watch2.out 2>&1
grep -q "published 0 " watch2.out && ok "registry events on the bus exactly once ($(cat watch.out))" || ko "bridge again: $(cat watch2.out)"
T2=$("$PY" -c "import h5py,datetime; t=int(h5py.File('s5.h5','r')['time'][$N + 100]); print(datetime.datetime.utcfromtimestamp(t/1e9).isoformat())")
"$QA" -q replay --data s5.h5 --start "$T2" --max-times 100 --prefix c. > /dev/null 2>&1 || ko "third replay"
"$QA" -q live --config c.yaml > c3.out 2> c3.err || ko "live after the alias move: $(tail -3 c3.err)"
tail_topic c. signals c3.signals.jsonl
tail_topic c. alerts c3.alerts.jsonl
"$PY" - "$N" <<'EOF' && ok "alias move -> version 2 from the next timestamp, signals = qa predict of each version, none dropped or doubled" || ko "hot reload"
import json, sys, h5py, numpy as np
N = int(sys.argv[1])
f = h5py.File('s5.h5', 'r')
sym = [s.decode() for s in f['symbols'][:]]
time = f['time'][:]
col = {int(t): i for i, t in enumerate(time)}
p1, p2 = f['predictions/m5/1'][:], f['predictions/m5/2'][:]
sw = [a for a in map(json.loads, open('c3.alerts.jsonl')) if a['limit'] == 'model_switch']
assert len(sw) == 1 and sw[0]['time'] == int(time[N + 100]) and sw[0]['value'] == 2 and sw[0]['threshold'] == 1, sw
sig = [m for m in map(json.loads, open('c3.signals.jsonl')) if m['time'] >= int(time[N])]
ids = [(m['symbol'], m['time']) for m in sig]
assert len(ids) == len(set(ids)), 'doubled'
for m in sig:
    s, t = sym.index(m['symbol']), col[m['time']]
    want = (2, p2[s, t]) if t >= N + 100 else (1, p1[s, t])
    assert (m['version'], m['score']) == want, (m, want)
n2 = sum(1 for m in sig if col[m['time']] >= N + 100)
assert n2 == int(np.isfinite(p2[:, N + 100:N + 200]).sum()) and n2 > 200, n2
EOF

# ---- 4. another model's checkpoint ------------------------------------------------------------
"$QA" -q live --config c.yaml --set default_features=false > other.out 2> other.err
[ $? -eq 1 ] && grep -q "another configuration" other.err && ok "a checkpoint of another configuration is refused" \
    || ko "other checkpoint: $(cat other.err)"
exit $fail
