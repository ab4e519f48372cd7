#!/bin/sh
# The whole sweep pipeline on the GPU equals the CPU run within docs/backtest.md's engine
# tolerances: same runs, same decisions (trades, bars, drawdown durations exact), metrics
# within rtol 1e-12 (sums and equity products in the same order) or 1e-9 (one-pass
# variance: ann_vol, Sharpe, Sortino; pow: CAGR, Calmar), the same walk-forward choices
# and the same best lists. Skipped (exit 77) where no GPU is usable.
QA="$1"; SRC="$2"; PY="${3:-/usr/bin/python3}"
. "$SRC/tests/lib.sh"
qa_need_gpu
"$PY" -c "import h5py, numpy" 2>/dev/null || { echo "skipped: python3-h5py not installed"; exit 77; }
qa_tmpdir sweep_gpu
cd "$W" || exit 1
qa_import sp500-daily m.h5
printf 'features:\n  - {kind: rsi, window: 14}\n' > f.yaml
"$QA" -q features --data m.h5 --config f.yaml --backend cpu 2>/dev/null || exit 1
cat > s.yaml <<'EOF'
data: m.h5
start: 1995-01-01
strategy: sma_cross
grid: {fast: [5, 10, 20, 50], slow: {start: 20, stop: 250, step: 10}}
settings: {commission_bps: 1, half_spread_bps: 2, stop_loss: 0.1}
portfolio: {weighting: inv_vol, weight_window: 60}
chunk: {symbols: 7, params: 32}
multiple_testing: {bootstrap: 200}
walk_forward: {train: 4y, test: 2y}
EOF
cat > x.yaml <<'EOF'
data: m.h5
start: 2000-01-01
strategy: xs_topk
signal: features/rsi_close_14
grid: {k_long: [1, 2, 4], k_short: [0, 2, 4]}
settings: {commission_bps: 1}
walk_forward: {train: 3y, test: 1y, per: portfolio}
EOF
for cfg in s x; do
    "$QA" -q sweep --config $cfg.yaml --run-dir ${cfg}_cpu --backend cpu >/dev/null || { echo "FAIL: cpu run $cfg"; exit 1; }
    "$QA" -q sweep --config $cfg.yaml --run-dir ${cfg}_gpu --backend cuda >/dev/null || { echo "FAIL: cuda run $cfg"; exit 1; }
    "$PY" - ${cfg}_cpu ${cfg}_gpu <<'PYEOF' || fail=1
import sys, json, numpy as np, h5py
a, b = h5py.File(sys.argv[1] + "/results.h5", "r"), h5py.File(sys.argv[2] + "/results.h5", "r")
exact = {"bars", "trades", "max_dd_duration"}
loose = {"ann_vol", "sharpe", "sortino", "cagr", "calmar"}
worst = {}
for grp in ("metrics", "portfolio/metrics"):
    if grp not in a:
        continue
    for m in a[grp]:
        x, y = a[grp][m][()], b[grp][m][()]
        assert x.shape == y.shape, m
        if m in exact:
            assert np.array_equal(x, y), (grp, m)
            continue
        assert (np.isnan(x) == np.isnan(y)).all(), (grp, m)
        k = ~np.isnan(x)
        rtol = 1e-9 if m in loose else 1e-12
        err = np.abs(x[k] - y[k]) / (1e-15 + np.abs(x[k]))
        worst[grp + "/" + m] = err.max(initial=0)
        assert (np.abs(x[k] - y[k]) <= 1e-15 + rtol * np.abs(x[k])).all(), (grp, m, err.max())
if "walkforward" in a:
    assert np.array_equal(a["walkforward/param_index"][()], b["walkforward/param_index"][()]), "walk-forward choices"
    x, y = a["walkforward/oos_returns"][()], b["walkforward/oos_returns"][()]
    k = ~np.isnan(x)
    assert (np.isnan(x) == np.isnan(y)).all() and (np.abs(x[k] - y[k]) <= 1e-15 + 1e-12 * np.abs(x[k])).all()
sa, sb = json.load(open(sys.argv[1] + "/summary.json")), json.load(open(sys.argv[2] + "/summary.json"))
assert [r["param_index"] for r in sa["best_runs"]] == [r["param_index"] for r in sb["best_runs"]]
print("%s: gpu == cpu; worst relative differences: %s" % (sys.argv[1], ", ".join(
    "%s %.2g" % (k, v) for k, v in sorted(worst.items()) if v > 0) or "none"))
PYEOF
done
[ $fail = 0 ] && echo "ok: sweep pipeline on CUDA equals the CPU run (grid, portfolio, walk-forward, xs_topk)"
exit $fail
