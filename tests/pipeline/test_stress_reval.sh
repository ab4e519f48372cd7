#!/bin/sh
# qa stress revaluation models and estimation windows, checked against oracles computed
# here from the vendor CSV files themselves (datasets/sample/cross_asset_daily/etfs, read
# with Python's csv module: not through the market file qa reads), so the import, the
# return alignment and the revaluation are all checked end to end:
#   1. historical VaR/ES under full revaluation (P&L = exposure x (e^x - 1)), delta
#      (exposure x x) and delta-gamma (exposure x (x + x^2/2)) = order statistics of the
#      recomputed losses, h = 1 and 5 (to 1e-9 relative); full is the default and
#      summary.json labels the model;
#   2. Monte-Carlo VaR under full revaluation = a NumPy full-revaluation Monte Carlo
#      (its own normals, Cholesky of the 10-day sample covariance, e^x - 1 per asset,
#      portfolio sum) within 4 combined standard errors (~1.1% of the VaR; over 10 days
#      the delta approximation is ~3% off, so this tells the models apart);
#   3. a window given as dates = every return dated inside it, equal to the same window
#      given as a count; stressed historical VaR = the empirical quantile of the stress
#      window's losses; a window after the valuation date or outside the data is refused;
#   4. the vol and rate factors of an option book (docs/risk.md): the SPY realised-vol
#      proxy and the IEF rate proxy rebuilt here from the CSVs; historical VaR of a put
#      under full revaluation (spot, vol and rate moved, Black-Scholes written here) and
#      under delta and delta-gamma (greeks written here) = the order statistics;
#      hypothetical vol and rate shocks revalue the put consistently with the moves they
#      report; a replay's path = the put repriced on the proxies' levels.
QA="$1"; SRC="$2"; PY="${3:-/usr/bin/python3}"
. "$SRC/tests/lib.sh"
"$PY" -c "import numpy" 2>/dev/null || { echo "skipped: python3 with numpy is needed"; exit 77; }
qa_tmpdir stress_reval
qa_import etf-daily "$W/etf.h5"
CSV="$SRC/datasets/sample/cross_asset_daily/etfs"
etf_book_yaml "reval book" SPY=0.4 TLT=0.3 GLD=0.2 XLF=0.1 > "$W/book.yaml"

# The oracle: closes of the book's ETFs on their common dates, from the vendor files.
cat > "$W/oracle.py" <<'PYEOF'
import csv, gzip, math, numpy as np
BOOK = {"SPY": 0.4, "TLT": 0.3, "GLD": 0.2, "XLF": 0.1}
VALUE = 1e6

def closes(src, syms=BOOK):
    cols = []
    for s in syms:
        with gzip.open("%s/%s.csv.gz" % (src, s), "rt") as f:
            cols.append({r["date"]: float(r["close"]) for r in csv.DictReader(f)})
    dates = sorted(set.intersection(*(set(c) for c in cols)))
    return dates, np.array([[c[d] for c in cols] for d in dates])   # T x n

def returns(dates, px):
    """Log-returns between consecutive common dates; date of a return = its end date."""
    return dates[1:], np.diff(np.log(px), axis=0)

def pnl(x, e, mode):
    f = {"full": np.expm1(x), "delta": x, "delta_gamma": x + 0.5 * x * x}[mode]
    return f @ e

def var_es(p, a):
    loss = np.sort(-p); n = len(loss); k = math.ceil(a * n - 1e-9)
    return loss[k - 1], loss[k - 1:].mean()

def hsum(r, h):
    return np.array([r[t:t + h].sum(axis=0) for t in range(len(r) - h + 1)])
PYEOF

# 1. Historical VaR/ES by revaluation model, h = 1 and 5, last 1000 returns.
for h in 1 5; do
  for mode in default full delta delta_gamma; do
    { printf 'portfolio: %s\ndata: %s\nlevels: [0.95, 0.99]\nhorizon: %s\nwindow: 1000\nmethods: [historical]\n' \
        "$W/book.yaml" "$W/etf.h5" "$h"
      printf 'scenarios: {historical: []}\n'
      [ "$mode" = default ] || printf 'revaluation: %s\n' "$mode"; } > "$W/h$h$mode.yaml"
    "$QA" -q stress --config "$W/h$h$mode.yaml" --run-dir "$W/h$h$mode" || ko "historical run h=$h $mode"
  done
  "$PY" - "$W" "$CSV" "$h" <<'PYEOF' && ok "historical VaR/ES (h=$h): full (default), delta, delta-gamma = the vendor CSVs' order statistics" || ko "historical h=$h"
import sys, json, numpy as np
W, CSV, h = sys.argv[1], sys.argv[2], int(sys.argv[3])
exec(open(W + "/oracle.py").read())
dates, px = closes(CSV)
rd, r = returns(dates, px)
r = r[-1000:]
e = VALUE * np.array(list(BOOK.values()))   # exposures: weight x value (price x quantity)
x = hsum(r, h)
got = {}
for mode in ("default", "full", "delta", "delta_gamma"):
    s = json.load(open("%s/h%d%s/summary.json" % (W, h, mode)))
    got[mode] = s
    want = "full" if mode == "default" else mode
    assert s["revaluation"]["mode"] == want, s["revaluation"]
    assert want.replace("_", "-") in s["revaluation"]["model"], s["revaluation"]
    m = s["measures"]["historical"]
    p = pnl(x, e, want)
    for a in (0.95, 0.99):
        v, es = var_es(p, a)
        gv, ge = m["var"]["%g" % a], m["es"]["%g" % a]
        assert abs(gv - v) <= 1e-9 * v and abs(ge - es) <= 1e-9 * es, (mode, a, gv, v, ge, es)
    assert s["window"]["end"] == rd[-1] and s["window"]["returns"] == 1000, s["window"]
v = {k: got[k]["measures"]["historical"]["var"]["0.99"] for k in got}
print("  h=%d 99%% VaR: full %.2f, delta %.2f (%+.2f%%), delta-gamma %.2f" % (h, v["full"], v["delta"],
      100 * (v["delta"] / v["full"] - 1), v["delta_gamma"]))
assert v["full"] != v["delta"]
PYEOF
done

# 2. Monte Carlo under full revaluation against NumPy's full-revaluation Monte Carlo.
cat > "$W/mc.yaml" <<EOF
portfolio: $W/book.yaml
data: $W/etf.h5
levels: [0.99, 0.975]
horizon: 10
window: 750
methods: [montecarlo]
covariance: {estimator: sample}
mean: zero
montecarlo: {scenarios: 400000, seed: 5}
contributions: {enabled: false}
scenarios: {historical: []}
EOF
"$QA" -q stress --config "$W/mc.yaml" --run-dir "$W/mc" --threads 1 || ko "mc run"
"$PY" - "$W" "$CSV" <<'PYEOF' && ok "Monte-Carlo VaR/ES (full revaluation) = NumPy full-revaluation MC within 4 SE" || ko "MC full revaluation"
import sys, json, math, numpy as np
W, CSV = sys.argv[1], sys.argv[2]
exec(open(W + "/oracle.py").read())
dates, px = closes(CSV)
r = returns(dates, px)[1][-750:]
e = VALUE * np.array(list(BOOK.values()))
S = np.cov(r, rowvar=False, ddof=1)
L = np.linalg.cholesky(10 * S)          # the 10-day covariance (i.i.d. daily returns)
rng = np.random.default_rng(20261207)
N = 2_000_000
p = np.concatenate([pnl(rng.standard_normal((N // 4, len(e))) @ L.T, e, "full") for _ in range(4)])
s = json.load(open(W + "/mc/summary.json"))
assert s["revaluation"]["mode"] == "full"
perf = s["performance"]
assert perf["mc_scenarios_per_s"] > 0 and abs(perf["mc_scenario_asset_revaluations_per_s"] / perf["mc_scenarios_per_s"] - 4) < 1e-9
n_ours = s["measures"]["montecarlo"]["scenarios"]
for a in (0.99, 0.975):
    v_np, es_np = var_es(p, a)
    loss = -p
    # density of the loss at the VaR from the NumPy sample (+-2% of the VaR)
    d = 0.02 * v_np
    f = np.mean(np.abs(loss - v_np) <= d) / (2 * d)
    se = lambda n: math.sqrt(a * (1 - a) / n) / f
    tol = 4 * math.sqrt(se(n_ours) ** 2 + se(N) ** 2)
    v = s["measures"]["montecarlo"]["var"]["%g" % a]
    print("  %.3f: ours %.2f NumPy %.2f (%.2f SE)" % (a, v, v_np, (v - v_np) / math.sqrt(se(n_ours) ** 2 + se(N) ** 2)))
    assert abs(v - v_np) <= tol, (a, v, v_np, tol)
PYEOF

# 3. Windows as dates; stressed historical VaR; refused windows.
cat > "$W/dw.yaml" <<EOF
portfolio: $W/book.yaml
data: $W/etf.h5
levels: [0.99]
valuation_date: 2012-12-31
window: {start: 2008-01-02, end: 2012-12-31}
methods: [historical]
stressed: {start: 2008-09-01, end: 2009-03-31, methods: [historical]}
scenarios: {historical: []}
EOF
"$QA" -q stress --config "$W/dw.yaml" --run-dir "$W/dw" || ko "date-window run"
n=$("$PY" -c "import json; print(json.load(open('$W/dw/summary.json'))['window']['returns'])")
sed "s/^window: .*/window: $n/" "$W/dw.yaml" > "$W/cw.yaml"
"$QA" -q stress --config "$W/cw.yaml" --run-dir "$W/cw" || ko "count-window run"
"$PY" - "$W" "$CSV" <<'PYEOF' && ok "window as dates = its returns (= the same count); stressed historical VaR = empirical quantile" || ko "date window"
import sys, json, numpy as np
W, CSV = sys.argv[1], sys.argv[2]
exec(open(W + "/oracle.py").read())
dates, px = closes(CSV)
rd, r = returns(dates, px)
e = VALUE * np.array(list(BOOK.values()))
cut = lambda a, b: r[[i for i, d in enumerate(rd) if a <= d <= b]]
s, c = json.load(open(W + "/dw/summary.json")), json.load(open(W + "/cw/summary.json"))
win = cut("2008-01-02", "2012-12-31")
assert s["window"]["returns"] == len(win) and s["window"]["start"] >= "2008-01-02" and s["window"]["end"] <= "2012-12-31", s["window"]
v, es = var_es(pnl(win, e, "full"), 0.99)
got = s["measures"]["historical"]["var"]["0.99"]
assert abs(got - v) <= 1e-9 * v, (got, v)
assert got == c["measures"]["historical"]["var"]["0.99"], "date and count forms differ"
st = cut("2008-09-01", "2009-03-31")
v, es = var_es(pnl(st, e, "full"), 0.99)
m = s["measures"]["stressed_historical"]
assert abs(m["var"]["0.99"] - v) <= 1e-9 * v and abs(m["es"]["0.99"] - es) <= 1e-9 * es, (m, v, es)
print("  2008-2012: %d returns, 99%% VaR %.2f; stressed (2008-09..2009-03, %d returns) %.2f" % (len(win), got, len(st), v))
PYEOF
check_refused() { # name, expected text
  "$QA" stress --config "$W/$1.yaml" --run-dir "$W/err_$1" > "$W/$1.out" 2>&1; rc=$?
  if [ $rc -eq 1 ] && grep -q -- "$2" "$W/$1.out"; then ok "$1: $2"; else ko "$1 (rc $rc)"; cat "$W/$1.out"; fi
  [ -e "$W/err_$1/results.h5" ] && ko "$1 wrote results"
}
sed "s/^valuation_date: .*/valuation_date: 2010-12-31/" "$W/dw.yaml" > "$W/late.yaml"
check_refused late "late.yaml:5: key 'window.end': the window ends on 2012-12-31, after the valuation date 2010-12-31"
sed "s/^window: .*/window: {start: 1990-01-02, end: 1995-12-31}/" "$W/dw.yaml" > "$W/old.yaml"
check_refused old "old.yaml:5: key 'window': 1990-01-02..1995-12-31 holds 0 returns"
sed "s/^window: .*/window: {start: 2008-01-02}/" "$W/dw.yaml" > "$W/half.yaml"
check_refused half "half.yaml:5: key 'window': give both start and end"
sed "s/^levels: .*/levels: [0.99]\nrevaluation: exact/" "$W/dw.yaml" > "$W/rv.yaml"
check_refused rv "rv.yaml:4: key 'revaluation': 'exact' is not one of"
# 4. Vol and rate factors of an option book.
if "$PY" -c "import h5py" 2>/dev/null; then
printf 'name: put book\nvalue: 1000000\npositions:\n  - {id: put, symbol: SPY, type: option, right: put, strike: 600, expiry: 2026-12-18, quantity: 20, multiplier: 100, vol: 0.2, rate: 0.04, dividend_yield: 0.01}\n' > "$W/put.yaml"
for mode in full delta delta_gamma; do
  cat > "$W/opt_$mode.yaml" <<EOF
portfolio: $W/put.yaml
data: $W/etf.h5
levels: [0.99, 0.95]
window: 500
revaluation: $mode
methods: [historical]
scenarios:
  historical: [{name: covid, start: 2020-02-19, end: 2020-04-30}]
  hypothetical:
    - {name: vol up, shocks: [{vol: SPY, move: 0.5}]}
    - {name: rates up, shocks: [{rate: USD, move: 0.01}]}
EOF
  "$QA" -q stress --config "$W/opt_$mode.yaml" --run-dir "$W/opt_$mode" || ko "option book run ($mode)"
done
"$PY" - "$W" "$CSV" <<'PYEOF' && ok "option book: vol (realised-vol proxy) and rate (IEF proxy) factors; historical VaR by mode, shocks and replay = the CSV oracle" || ko "vol and rate factors"
import sys, json, math, numpy as np, h5py, csv, gzip
W, CSV = sys.argv[1], sys.argv[2]
exec(open(W + "/oracle.py").read())
def read(sym):
    with gzip.open("%s/%s.csv.gz" % (CSV, sym), "rt") as f:
        return {r["date"]: float(r["close"]) for r in csv.DictReader(f)}
spy, ief = read("SPY"), read("IEF")
# realised-vol proxy: the last 21 log-returns of SPY's own closes, annualised (252 a year)
sd = sorted(spy); sv = {}
lr = [math.log(spy[sd[k]] / spy[sd[k - 1]]) for k in range(1, len(sd))]
for k in range(21, len(sd)):
    sv[sd[k]] = math.sqrt(sum(x * x for x in lr[k - 21:k]) / 21 * 252)
d0 = min(ief)
rate = {d: math.exp(-math.log(ief[d] / ief[d0]) / 7.5) for d in ief}   # IEF, modified duration 7.5
dates = sorted(set(spy) & set(sv) & set(rate))
N = lambda x: 0.5 * math.erfc(-x / math.sqrt(2))
def bs(S, K, tau, vol, r, q):            # European put
    if tau <= 0: return max(K - S, 0.0)
    d1 = (math.log(S / K) + (r - q + 0.5 * vol * vol) * tau) / (vol * math.sqrt(tau)); d2 = d1 - vol * math.sqrt(tau)
    return K * math.exp(-r * tau) * N(-d2) - S * math.exp(-q * tau) * N(-d1)
K, Q, VOL, R, DIV = 600.0, 2000.0, 0.2, 0.04, 0.01
val = dates[-1]
T = (np.datetime64("2026-12-18") - np.datetime64(val)).astype(int) / 365.25
S0, h = spy[val], 1.0 / 252
V0 = bs(S0, K, T, VOL, R, DIV)
X = np.array([[math.log(spy[b] / spy[a]), math.log(sv[b] / sv[a]), math.log(rate[b] / rate[a])]
              for a, b in zip(dates[-501:-1], dates[-500:])])
full = np.array([Q * (bs(S0 * math.exp(xs), K, T - h, VOL * math.exp(xv), R + xr, DIV) - V0) for xs, xv, xr in X])
# greeks at the horizon (analytic here; the engine uses central differences for vega and rho)
tau = T - h
d1 = (math.log(S0 / K) + (R - DIV + 0.5 * VOL * VOL) * tau) / (VOL * math.sqrt(tau)); d2 = d1 - VOL * math.sqrt(tau)
pdf = math.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi)
delta = math.exp(-DIV * tau) * (N(d1) - 1); gamma = math.exp(-DIV * tau) * pdf / (S0 * VOL * math.sqrt(tau))
vega = S0 * math.exp(-DIV * tau) * pdf * math.sqrt(tau); rho = -K * tau * math.exp(-R * tau) * N(-d2)
c0 = Q * (bs(S0, K, tau, VOL, R, DIV) - V0)
lin = c0 + Q * (delta * S0 * X[:, 0] + vega * VOL * X[:, 1] + rho * X[:, 2])
want = {"full": full, "delta": lin, "delta_gamma": lin + 0.5 * Q * (delta * S0 + gamma * S0 * S0) * X[:, 0] ** 2}
for mode, p in want.items():
    s = json.load(open("%s/opt_%s/summary.json" % (W, mode)))
    assert s["window"]["end"] == val and s["window"]["returns"] == 500, s["window"]
    tol = 1e-9 if mode == "full" else 1e-6      # central-difference greeks
    for a in (0.99, 0.95):
        v, es = var_es(p, a)
        g = s["measures"]["historical"]
        assert abs(g["var"]["%g" % a] - v) <= tol * v and abs(g["es"]["%g" % a] - es) <= tol * es, (mode, a, g["var"], v)
    print("  %s: 99%% VaR %.2f" % (mode, s["measures"]["historical"]["var"]["0.99"]))
s = json.load(open(W + "/opt_full/summary.json"))
sc = {x["name"]: x for x in s["scenarios"]}
for name in ("vol up", "rates up"):
    m = sc[name]["moves"]
    assert set(m) >= {"SPY", "SPY~vol", "rate~IEF", "IEF"}, m
    pnl = Q * (bs(S0 * (1 + m["SPY"]), K, T, VOL * (1 + m["SPY~vol"]), R + m["rate~IEF"], DIV) - V0)
    assert abs(sc[name]["pnl"] - pnl) <= 1e-9 * abs(pnl), (name, sc[name]["pnl"], pnl)
assert abs(sc["vol up"]["moves"]["SPY~vol"] - 0.5) < 1e-12 and sc["vol up"]["pnl"] > 0   # a long put gains from vol
assert abs(sc["rates up"]["moves"]["rate~IEF"] - 0.01) < 1e-12 and abs(sc["rates up"]["moves"]["IEF"] - math.expm1(-0.075)) < 1e-6
# replay: the put repriced at each path date on the proxies' levels (trading days elapsed)
r = h5py.File(W + "/opt_full/results.h5")
k = [i for i, n in enumerate(r["scenarios/name"][:]) if n.decode() == "covid"][0]
pt, pp = r["scenarios/paths/%d/time" % k][:], r["scenarios/paths/%d/pnl" % k][:]
day = lambda ns: str(np.datetime64(int(ns), "ns").astype("datetime64[D]"))
b0 = day(pt[0])
for j in range(1, len(pt)):
    d = day(pt[j])
    v = Q * (bs(S0 * spy[d] / spy[b0], K, T - j / 252, VOL * sv[d] / sv[b0], R + math.log(rate[d] / rate[b0]), DIV) - V0)
    assert abs(pp[j] - v) <= 1e-9 * max(1.0, abs(v)), (d, pp[j], v)
print("  vol up %+.0f, rates up %+.0f, covid replay end %+.0f (%d dates)" % (sc["vol up"]["pnl"], sc["rates up"]["pnl"], pp[-1], len(pt) - 1))
PYEOF
cat > "$W/novol.yaml" <<EOF
portfolio: $W/put.yaml
data: $W/etf.h5
window: 500
methods: [historical]
option_factors: {vol: none, rate: none}
scenarios: {historical: [], hypothetical: [{name: v, shocks: [{vol: SPY, move: 0.5}]}]}
EOF
check_refused novol "key 'scenarios.hypothetical\[0\].shocks\[0\].vol': no option on 'SPY' in the book"
sed "s/option_factors: .*/option_factors: {rate: XYZ}/" "$W/novol.yaml" > "$W/norate.yaml"
check_refused norate "key 'option_factors.rate': the rate proxy 'XYZ' is not in"
else
  qa_skip "vol and rate factors (python3-h5py missing)"
fi
qa_exit
