#!/bin/sh
# qa stress end to end on the shipped ETF data (datasets/sample), checked against values
# computed independently here with NumPy from the market file.
#   mode "run":    historical VaR/ES of a one-asset book = the empirical quantile (full
#                  revaluation, the default); MC VaR of a linear book under the delta
#                  approximation -> closed-form normal VaR within its standard error; Euler
#                  contributions add up; limits and alerts; backtest statistics; outputs.
#   mode "errors": bad portfolios and configs fail before any work with file:line:key.
#   mode "mpi":    1 and 4 ranks write bitwise identical results.h5 (all methods, options).
QA="$1"; SRC="$2"; PY="${3:-/usr/bin/python3}"; MPIRUN="$4"; MODE="${5:-run}"
. "$SRC/tests/lib.sh"
"$PY" -c "import h5py, numpy" 2>/dev/null || { echo "skipped: python3 with h5py and numpy is needed"; exit 77; }
qa_tmpdir stress
qa_import etf-daily "$W/etf.h5"

{ etf_book_yaml "test book" SPY=0.3 TLT=0.3 GLD=0.2 XLF=0.2; cat <<'EOF'; } > "$W/book.yaml"
  - {id: es, symbol: SPY, type: future, quantity: -1, multiplier: 50}
  - {id: put, symbol: SPY, type: option, right: put, strike: 600, expiry: 2026-12-18, quantity: 5, vol: 0.2, rate: 0.04}
EOF

if [ "$MODE" = "run" ]; then
# 1. Historical VaR/ES of one asset (100 SPY shares) = the empirical quantile of
#    -V * (e^x - 1), x the sum of h log-returns, over the last 500 returns (full
#    revaluation, the default; docs/risk.md conventions).
printf 'id,symbol,type,quantity\nspy,SPY,etf,100\n' > "$W/one.csv"
for h in 1 5; do
  cat > "$W/one.yaml" <<EOF
portfolio: $W/one.csv
data: $W/etf.h5
levels: [0.95, 0.99, 0.975]
horizon: $h
window: 500
methods: [historical]
scenarios: {historical: []}
EOF
  "$QA" -q stress --config "$W/one.yaml" --run-dir "$W/one$h" || ko "one-asset run h=$h"
  "$PY" - "$W/etf.h5" "$W/one$h/results.h5" "$h" <<'PYEOF' && ok "historical VaR/ES (h=$h) = NumPy empirical quantile" || ko "historical VaR h=$h"
import sys, math, numpy as np, h5py
m, r, h = h5py.File(sys.argv[1]), h5py.File(sys.argv[2]), int(sys.argv[3])
syms = [s.decode() for s in m["symbols"][:]]
c = m["bars/close"][syms.index("SPY")]
c = c[~np.isnan(c)]
lr = np.diff(np.log(c[-501:]))                      # the last 500 log-returns
V = 100 * c[-1]                                      # exposure: quantity x price on the valuation date
x = np.array([lr[t:t + h].sum() for t in range(len(lr) - h + 1)])
loss = np.sort(-V * np.expm1(x))                     # ascending
levels = r["levels"][:]
names = [s.decode() for s in r["measures/method"][:]]
var, es = r["measures/var"][names.index("historical")], r["measures/es"][names.index("historical")]
for i, a in enumerate(levels):
    n = len(loss); k = math.ceil(a * n - 1e-9)
    v_ref, e_ref = loss[k - 1], loss[k - 1:].mean()
    assert abs(var[i] - v_ref) <= 1e-9 * abs(v_ref), (a, var[i], v_ref)
    assert abs(es[i] - e_ref) <= 1e-9 * abs(e_ref), (a, es[i], e_ref)
print("  h=%d: VaR %s ES %s" % (h, np.round(var, 2), np.round(es, 2)))
PYEOF
done

# 2. MC VaR of a linear book under the delta approximation (P&L linear in the log-returns)
#    converges to the closed-form normal VaR (sample covariance computed here) within 4
#    standard errors; parametric = closed form; contributions add up.
grep -v -e "put" -e "future" "$W/book.yaml" > "$W/lin.yaml"
cat > "$W/mc.yaml" <<EOF
portfolio: $W/lin.yaml
data: $W/etf.h5
levels: [0.99, 0.95]
window: 750
revaluation: delta
methods: [parametric, montecarlo]
covariance: {estimator: sample}
montecarlo: {scenarios: 300000, block: 32768, seed: 11}
scenarios: {historical: []}
EOF
"$QA" -q stress --config "$W/mc.yaml" --run-dir "$W/mc" --threads 1 || ko "mc run"
"$PY" - "$W/etf.h5" "$W/mc/results.h5" <<'PYEOF' && ok "MC VaR -> normal VaR within 4 SE; parametric = closed form; Euler sums" || ko "MC convergence"
import sys, math, numpy as np, h5py
m, r = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
syms = [s.decode() for s in m["symbols"][:]]
book = {"SPY": 0.3, "TLT": 0.3, "GLD": 0.2, "XLF": 0.2}
C = np.array([m["bars/close"][syms.index(s)] for s in book])
ok = ~np.isnan(C).any(axis=0)
C = C[:, ok][:, -751:]
R = np.diff(np.log(C), axis=1).T                     # 750 x 4
w = 1e6 * np.array(list(book.values()))              # exposures (weights x value)
S = np.cov(R, rowvar=False, ddof=1)
sig = math.sqrt(w @ S @ w)
names = [s.decode() for s in r["measures/method"][:]]
levels = r["levels"][:]
n = r["measures/scenarios"][names.index("montecarlo")]
from statistics import NormalDist
for i, a in enumerate(levels):
    z = NormalDist().inv_cdf(a); ref = z * sig
    pv = r["measures/var"][names.index("parametric")][i]
    assert abs(pv - ref) <= 1e-9 * ref, ("parametric", pv, ref)
    pe = r["measures/es"][names.index("parametric")][i]
    es_ref = sig * NormalDist().pdf(z) / (1 - a)
    assert abs(pe - es_ref) <= 1e-9 * es_ref, ("parametric ES", pe, es_ref)
    mv = r["measures/var"][names.index("montecarlo")][i]
    se = math.sqrt(a * (1 - a) / n) * sig / NormalDist().pdf(z)
    print("  %.3f: MC %.2f closed form %.2f (SE %.2f, %.2f SE)" % (a, mv, ref, se, (mv - ref) / se))
    assert abs(mv - ref) <= 4 * se, (a, mv, ref, se)
for meth in ("parametric", "montecarlo"):
    g = r["contributions/" + meth]
    for i in range(len(levels)):
        v = r["measures/var"][names.index(meth)][i]; e = r["measures/es"][names.index(meth)][i]
        assert abs(g["component_var"][i].sum() - v) <= 1e-9 * v, (meth, "component VaR", g["component_var"][i].sum(), v)
        assert abs(g["component_es"][i].sum() - e) <= 1e-9 * e, (meth, "component ES")
    # marginal x exposure = component
    ex = r["positions/exposure"][:]
    assert np.allclose(g["marginal_var"][:] * ex, g["component_var"][:], rtol=1e-9, atol=1e-9)
    assert np.allclose(g["marginal_es"][:] * ex, g["component_es"][:], rtol=1e-9, atol=1e-9)
# parametric incremental VaR: exact recomputation without each position
pv = r["measures/var"][names.index("parametric")][0]
z = NormalDist().inv_cdf(levels[0])
for j in range(4):
    w2 = w.copy(); w2[j] = 0
    ref = pv - z * math.sqrt(w2 @ S @ w2)
    got = r["contributions/parametric/incremental_var"][0][j]
    assert abs(got - ref) <= 1e-8 * pv, (j, got, ref)
PYEOF

# 3. The full book (future, option), all methods, stressed VaR, scenarios, limits.
cat > "$W/full.yaml" <<EOF
portfolio: $W/book.yaml
data: $W/etf.h5
levels: [0.95, 0.99]
horizon: 2
window: 500
methods: [historical, fhs, parametric, montecarlo]
covariance: {estimator: ledoit_wolf}
montecarlo: {scenarios: 50000, dist: student_t, nu: 5}
stressed: {start: 2008-09-01, end: 2009-03-31}
scenarios:
  factors: [{name: equities, assets: [SPY, XLF]}]
  hypothetical:
    - {name: crash, shocks: [{factor: equities, move: -0.2}]}
    - {name: spy only, shocks: [{asset: SPY, move: -0.1}]}
    - {name: banks, shocks: [{sector: Financials, move: -0.3}, {asset: IEF, move: 0.02}]}
  sectors: $W/sectors.csv
  reverse: {losses: [0.1]}
limits:
  - {name: var99, metric: var, level: 0.99, max: 0.001}
  - {name: gross, metric: gross_exposure, max: 5}
EOF
printf 'symbol,name,gics_sector\nXLF,Financial Select,Financials\nSPY,S&P 500,Broad\n' > "$W/sectors.csv"
"$QA" stress --config "$W/full.yaml" --run-dir "$W/full" > "$W/full.log" 2>&1 || { ko "full run"; cat "$W/full.log"; }
for f in results.h5 summary.json report.html alerts.jsonl run.log run.json config.resolved.json; do
  [ -s "$W/full/$f" ] || [ "$f" = alerts.jsonl ] || ko "missing $f"
done
grep -q '"limit":"var99"' "$W/full/alerts.jsonl" && grep -q '"severity":"breach"' "$W/full/alerts.jsonl" && ok "breach in alerts.jsonl" || ko "alerts"
grep -q "limit breach" "$W/full.log" && ok "breach reported on stderr" || ko "breach message"
"$PY" - "$W/etf.h5" "$W/full" <<'PYEOF' && ok "full book: outputs, replays, hypothetical, reverse, summary" || ko "full book outputs"
import sys, json, math, numpy as np, h5py
m, d = h5py.File(sys.argv[1]), sys.argv[2]
r = h5py.File(d + "/results.h5"); s = json.load(open(d + "/summary.json"))
assert r.attrs["format"] == "quantumalpha.stress" and r.attrs["format_version"] == "1"
names = [x.decode() for x in r["measures/method"][:]]
assert names == ["historical", "fhs", "parametric", "montecarlo", "stressed_historical", "stressed_parametric",
                 "stressed_montecarlo"], names
var = r["measures/var"][:]
assert (var > 0).all() and (r["measures/es"][:] >= var - 1e-9).all()
assert var[4][1] > var[0][1], "stressed VaR above the current historical VaR"
assert s["breaches"] == 1 and s["limits"][0]["state"] == "breach"
sc = {x["name"]: x for x in s["scenarios"]}
assert {"GFC 2008-09", "COVID 2020", "Rates 2022", "crash", "spy only", "banks", "reverse 10% loss"} <= set(sc), list(sc)
# the asset shock holds exactly; the other assets move by E[r | shock]
assert abs(sc["spy only"]["moves"]["SPY"] + 0.1) < 1e-12
# a sector shock moves its members (XLF, from the sector table) exactly; IEF is outside the book
assert abs(sc["banks"]["moves"]["XLF"] + 0.3) < 1e-12 and abs(sc["banks"]["moves"]["IEF"] - 0.02) < 1e-12
assert sc["banks"]["moves"]["SPY"] < 0, sc["banks"]["moves"]
# reverse stress reaches its model loss
rv = sc["reverse 10% loss"]
assert abs(rv["model_loss"] - 0.1 * s["portfolio"]["value"]) <= 1e-6 * s["portfolio"]["value"], rv
# GFC replay path: today's book repriced with 2008 prices; its SPY ETF leg checked here
syms = [x.decode() for x in m["symbols"][:]]
t = m["time"][:]
k = [i for i in range(len(r["scenarios/name"])) if r["scenarios/name"][i].decode() == "GFC 2008-09"][0]
path_t = r["scenarios/paths/%d/time" % k][:]
assert path_t[0] < np.datetime64("2008-09-01").astype("datetime64[ns]").astype(np.int64) <= path_t[1]
pos = [x.decode() for x in r["positions/id"][:]]
spy = m["bars/close"][syms.index("SPY")]
i0, i1 = np.searchsorted(t, path_t[0]), np.searchsorted(t, path_t[-1])
exp_spy = r["positions/exposure"][pos.index("spy")] * (spy[i1] / spy[i0] - 1)
got = r["scenarios/pnl_by_position"][k][pos.index("spy")]
assert abs(got - exp_spy) <= 1e-8 * abs(exp_spy), (got, exp_spy)
assert abs(r["scenarios/paths/%d/pnl" % k][-1] - r["scenarios/pnl"][k]) < 1e-9
# position table
assert len(r["positions/id"]) == 6 and r["positions/market_value"][pos.index("es")] == 0
print("  VaR 99%% by method: %s" % dict(zip(names, np.round(var[:, 1], 0))))
PYEOF
grep -q "Loss distribution" "$W/full/report.html" && grep -q "Component VaR" "$W/full/report.html" && \
  grep -q "Replay: GFC" "$W/full/report.html" && grep -q "Limits" "$W/full/report.html" && ok "report sections" || ko "report"

# 4. Backtest: statistics recomputed here from the hits in results.h5.
cat > "$W/bt.yaml" <<EOF
portfolio: $W/lin.yaml
data: $W/etf.h5
backtest: {methods: [historical, parametric, montecarlo], levels: [0.99, 0.95], window: 250, start: 2019-01-02, end: 2021-12-31, scenarios: 2000}
EOF
"$QA" -q stress backtest --config "$W/bt.yaml" --run-dir "$W/bt" --threads 1 || ko "backtest run"
"$PY" - "$W/etf.h5" "$W/bt" <<'PYEOF' && ok "backtest: realised P&L, hits and Kupiec/Christoffersen recomputed" || ko "backtest"
import sys, json, math, numpy as np, h5py
m, d = h5py.File(sys.argv[1]), sys.argv[2]
r = h5py.File(d + "/results.h5"); s = json.load(open(d + "/summary.json"))
syms = [x.decode() for x in m["symbols"][:]]
book = {"SPY": 0.3, "TLT": 0.3, "GLD": 0.2, "XLF": 0.2}
C = np.array([m["bars/close"][syms.index(x)] for x in book]); t = m["time"][:]
ok = ~np.isnan(C).any(axis=0)
C, t = C[:, ok], t[ok]
R = C[:, 1:] / C[:, :-1] - 1
bt = r["backtest/time"][:]
idx = np.searchsorted(t[1:], bt)
real = np.array(list(book.values())) @ R[:, idx]
assert np.allclose(r["backtest/realised_pnl"][:], real, rtol=1e-12, atol=1e-15)
for e in s["results"]:
    v = r["backtest/%s/var" % e["method"]][list(r["backtest/levels"][:]).index(e["level"])]
    hits = (-real > v).astype(int)
    assert hits.sum() == e["exceedances"]
    n, x, p = len(hits), hits.sum(), 1 - e["level"]
    xl = lambda k, q: 0.0 if k == 0 else k * math.log(q)
    lr = -2 * (xl(n - x, 1 - p) + xl(x, p)) + 2 * (xl(n - x, 1 - x / n) + xl(x, x / n))
    assert abs(lr - e["kupiec_lr"]) < 1e-9, (lr, e["kupiec_lr"])
    tr = list(zip(hits[:-1], hits[1:]))
    c = {(a, b): tr.count((a, b)) for a in (0, 1) for b in (0, 1)}
    assert (c[(0, 0)], c[(0, 1)], c[(1, 0)], c[(1, 1)]) == (e["n00"], e["n01"], e["n10"], e["n11"])
    assert abs(e["kupiec_p"] - math.erfc(math.sqrt(lr / 2))) < 1e-12
print("  %d forecasts; 99%% exceedances: %s" % (s["forecasts"], [(e["method"], e["exceedances"]) for e in s["results"] if e["level"] == 0.99]))
PYEOF
fi

if [ "$MODE" = "errors" ]; then
# Bad configs and portfolios: exit 1, one line naming file:line and the key, no run output.
base() { printf 'portfolio: %s\ndata: %s/etf.h5\nmethods: [historical]\nwindow: 250\n' "$1" "$W"; }
check_err() { # name, expected text, config text
  printf '%s\n' "$3" > "$W/$1.yaml"
  "$QA" stress --config "$W/$1.yaml" --run-dir "$W/err_$1" > "$W/$1.out" 2>&1; rc=$?
  if [ $rc -eq 1 ] && grep -q -- "$2" "$W/$1.out"; then ok "$1: $2"; else ko "$1 (rc $rc)"; cat "$W/$1.out"; fi
  [ -e "$W/err_$1/results.h5" ] && ko "$1 wrote results"
}
B="$(base "$W/book.yaml")"
check_err method "method.yaml:3: key 'methods\[1\]': 'magic' is not one of" "$(printf 'portfolio: %s\ndata: %s/etf.h5\nmethods: [historical, magic]\n' "$W/book.yaml" "$W")"
check_err estimator "estimator.yaml:5: key 'covariance.estimator': 'shrunk' is not one of" "$B
covariance: {estimator: shrunk}"
check_err level "level.yaml:5: key 'levels\[1\]': level 1.5 is outside (0, 1)" "$B
levels: [0.99, 1.5]"
check_err horizon "horizon.yaml:5: key 'horizon': 0 is out of range" "$B
horizon: 0"
check_err window "window.yaml:4: key 'window': 100000 returns requested but only" "$(base "$W/book.yaml" | sed 's/window: 250/window: 100000/')"
check_err stresswin "stresswin.yaml:5: key 'stressed.start': the stress window 1990-01-01..1990-12-31 is not in" "$B
stressed: {start: 1990-01-01, end: 1990-12-31}"
check_err asset "asset.yaml:5: key 'scenarios.hypothetical\[0\].shocks\[0\].asset': unknown scenario asset 'XYZ'" "$B
scenarios: {hypothetical: [{name: x, shocks: [{asset: XYZ, move: -0.1}]}]}"
check_err replay "replay.yaml:5: key 'scenarios.historical\[0\]': window 'old' 1990-01-01..1990-06-30 is not in" "$B
scenarios: {historical: [{name: old, start: 1990-01-01, end: 1990-06-30}]}"
check_err unknown "unknown.yaml:5: unknown key 'windw' in the top level (did you mean 'window'?)" "$B
windw: 5"
# a scenario count whose loss tail cannot fit is refused before anything is allocated, with
# the estimate and the machine's available memory (it used to allocate a tail of 5e10 rows)
check_err scenarios "scenarios.yaml: key 'montecarlo.scenarios': stress engine: 1000000000000 scenarios (a loss tail of 5e+10 rows at level 0.95 and others.* need an estimated .* TiB of memory, more than the .* available" "$(base "$W/book.yaml" | sed 's/methods: \[historical\]/methods: [montecarlo]/')
levels: [0.95, 0.99]
montecarlo: {scenarios: 1e12}"
printf 'id,symbol,type,quantity\nspy,SPY,etf,10\nzz,ZZZ,etf,5\n' > "$W/sym.csv"
check_err symbol "sym.csv:3: field 'symbol': 'ZZZ' (position 'zz') is not in" "$(base "$W/sym.csv")"
printf 'id,symbol,type,quantity,right,strike,expiry\np,SPY,option,1,put,500,2020-01-17\n' > "$W/exp.csv"
check_err expiry "exp.csv:2: field 'expiry': option 'p' expires on 2020-01-17, on or before the valuation date" "$(base "$W/exp.csv")"
printf 'id,symbol,type,quantity\nspy,SPY,etf,x1\n' > "$W/nan.csv"
check_err quantity "nan.csv:2: field 'quantity': 'x1' is not a number" "$(base "$W/nan.csv")"
# A quantity whose market value overflows a double: refused naming the row, not "market value is -nan".
printf 'id,symbol,type,quantity\nspy,SPY,etf,10\nbig,TLT,etf,1e308\n' > "$W/huge.csv"
check_err overflow "huge.csv:3: position 'big': market value = quantity 1e+308 x multiplier 1 x price [0-9.]* = inf is not finite" "$(base "$W/huge.csv")"
printf 'id,symbol,type,quantity\nbig,SPY,etf,1e20\n' > "$W/large.csv"
check_err toolarge "large.csv:2: position 'big': market value = quantity 1e+20 .* is larger in magnitude than 1e18" "$(base "$W/large.csv")"
# A value given by --set has no line: the message says so (it said "setfactor.yaml:0").
printf '%s\nscenarios: {factors: [{name: eq, assets: [SPY]}]}\n' "$B" > "$W/setfactor.yaml"
"$QA" stress --config "$W/setfactor.yaml" --run-dir "$W/err_setfactor" \
    --set 'scenarios.hypothetical=[{name: x, shocks: [{factor: nope, move: -0.1}]}]' > "$W/setfactor.out" 2>&1; rc=$?
if [ $rc -eq 1 ] && grep -q "setfactor.yaml (a --set value or a default): key 'scenarios.hypothetical\[0\].shocks\[0\].factor': unknown factor 'nope'" "$W/setfactor.out" &&
    ! grep -q 'yaml:0' "$W/setfactor.out"; then ok "a --set value's error names --set, not line 0"; else ko "setfactor (rc $rc)"; cat "$W/setfactor.out"; fi
# 10^5 positions: the duplicate-id check and the grouping by symbol are not quadratic (a
# pairwise scan took about a minute); the whole run is allowed 60 s on a loaded machine.
"$PY" -c "
import sys
with open(sys.argv[1], 'w') as f:
    f.write('id,symbol,type,quantity\n')
    for i in range(100000): f.write('p%d,%s,etf,1\n' % (i, ('SPY', 'TLT', 'GLD', 'XLF')[i % 4]))
" "$W/many.csv"
base "$W/many.csv" > "$W/many.yaml"
t0=$(date +%s)
if "$QA" -q stress --config "$W/many.yaml" --run-dir "$W/many" > "$W/many.out" 2>&1 && [ $(( $(date +%s) - t0 )) -le 60 ]; then
    ok "10^5 positions in $(( $(date +%s) - t0 )) s"
else ko "10^5 positions: rc or time ($(( $(date +%s) - t0 )) s)"; cat "$W/many.out"; fi
# usage errors: exit 2
"$QA" stress --config "$W/mc.yaml" > /dev/null 2>&1; [ $? -eq 2 ] && ok "--run-dir required (exit 2)" || ko "usage exit code"
# --portfolio / --data override the config (the Slurm template passes only --config/--run-dir)
printf 'portfolio: /nonexistent.csv\ndata: /nonexistent.h5\nmethods: [parametric]\nwindow: 100\nscenarios: {historical: []}\n' > "$W/ovr.yaml"
"$QA" -q stress --config "$W/ovr.yaml" --portfolio "$W/book.yaml" --data "$W/etf.h5" --run-dir "$W/ovr" && [ -s "$W/ovr/summary.json" ] \
  && ok "--portfolio/--data override the config" || ko "overrides"
fi

if [ "$MODE" = "mpi" ]; then
[ -n "$MPIRUN" ] || { echo "skipped: no mpirun"; exit 77; }
cat > "$W/m.yaml" <<EOF
portfolio: $W/book.yaml
data: $W/etf.h5
levels: [0.95, 0.99, 0.975]
window: 400
methods: [historical, fhs, parametric, montecarlo]
montecarlo: {scenarios: 40000, block: 3000, dist: student_t, nu: 7}
contributions: {chunk: 333}
stressed: {start: 2020-02-01, end: 2020-06-30}
EOF
"$QA" -q stress --config "$W/m.yaml" --run-dir "$W/r1" --threads 1 || ko "1-rank run"
"$MPIRUN" -np 4 "$QA" -q stress --config "$W/m.yaml" --run-dir "$W/r4" --threads 1 || ko "4-rank run"
"$PY" - "$W/r1/results.h5" "$W/r4/results.h5" <<'PYEOF' && ok "1 and 4 ranks: results.h5 bitwise identical" || ko "rank invariance"
import sys, numpy as np, h5py
a, b = h5py.File(sys.argv[1]), h5py.File(sys.argv[2])
names = []
a.visit(lambda n: names.append(n) if isinstance(a[n], h5py.Dataset) else None)
assert len(names) > 30, names
for n in names:
    x, y = a[n][()], b[n][()]
    if x.dtype.kind == "f":
        assert x.shape == y.shape and np.array_equal(x.view(np.uint64), y.view(np.uint64)), n
    else:
        assert np.array_equal(x, y), n
print("  %d datasets compared" % len(names))
PYEOF
grep -q '"ranks": 4' "$W/r4/summary.json" && ok "summary records 4 ranks" || ko "ranks in summary"
fi
exit $fail
