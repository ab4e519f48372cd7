#!/bin/sh
# qa sweep's anchored walk-forward on the shipped sample (16 S&P 500 stocks, ARE listed
# only in 2005, so some windows have no set with a Sharpe), against sweep_check.py's
# independent recomputation from docs/sweep.md and docs/backtest.md: the windows from the
# dates and lengths (training start fixed, training end growing, test windows contiguous
# and not overlapping, the last one cut at the end), every per-symbol in-sample choice and
# its Sharpe, the out-of-sample Sharpe, the stitched out-of-sample returns bar by bar
# (1e-12 + 1e-9 relative) and the stitched metrics. A rolling run of the same config
# checks that the planner does switch on `anchored`.
# Usage: test_sweep_anchored.sh QA SOURCE_DIR [PYTHON3]
QA="$1"; SRC="$2"; PY="${3:-/usr/bin/python3}"
CHECK="$SRC/tests/pipeline/sweep_check.py"
. "$SRC/tests/lib.sh"
"$PY" -c "import h5py, numpy" 2>/dev/null || { echo "skipped: $PY lacks h5py/numpy (the oracle needs them)"; exit 77; }
qa_tmpdir sweep_anchored
qa_import sp500-daily "$W/m.h5"
cd "$W" || exit 1
cat > a.yaml <<'EOF2'
data: m.h5
symbols: all
start: 2000-01-01
end: 2015-12-31
strategy: sma_cross
grid: {fast: [5, 10, 20], slow: [50, 100, 200]}
settings: {commission_bps: 1, half_spread_bps: 2}
rank_by: sharpe
multiple_testing: {enabled: false}
walk_forward: {train: 3y, test: 2y, anchored: true}
EOF2
sed 's/anchored: true/anchored: false/' a.yaml > r.yaml
"$QA" -q sweep --config a.yaml --run-dir ra > log 2>&1 && ok "anchored walk-forward sweep runs" || { ko "anchored sweep"; cat log; }
"$PY" "$CHECK" walkforward ra m.h5 2000-01-01 2015-12-31 3 2 anchored \
    && ok "anchored windows, choices, out-of-sample returns and stitched metrics equal the recomputation" || ko "anchored walk-forward"
"$QA" -q sweep --config r.yaml --run-dir rr > log 2>&1 && ok "rolling walk-forward sweep runs" || { ko "rolling sweep"; cat log; }
"$PY" "$CHECK" walkforward rr m.h5 2000-01-01 2015-12-31 3 2 rolling \
    && ok "rolling windows, choices and out-of-sample returns equal the recomputation" || ko "rolling walk-forward"
qa_exit
