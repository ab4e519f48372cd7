#!/bin/sh
# qa data generate against docs/data-format.md ("Synthetic markets"): on a market of 300
# independent assets x 10,080 daily bars (40 years) without jumps or stress regimes, the
# mean annual drift and vol over the assets equal the configured `drift` and `vol` within
# 5 standard errors measured from the sample, the assets are uncorrelated, low <= open,
# close <= high on every bar, and the times are weekdays from `start` (synth_check.py
# states the model and the error bounds). The seed is QA_TEST_SEED or the clock, printed.
# Usage: test_synth.sh QA SOURCE_DIR [PYTHON3]
QA="$1"; SRC="$2"; PY="${3:-/usr/bin/python3}"
. "$SRC/tests/lib.sh"
"$PY" -c "import h5py, numpy" 2>/dev/null || { echo "skipped: $PY lacks h5py/numpy (the checks need them)"; exit 77; }
qa_tmpdir synth
seed=${QA_TEST_SEED:-$(date +%s)}
echo "seed $seed (set QA_TEST_SEED to repeat)"
cat > "$W/s.yaml" <<EOF2
output: $W/s.h5
symbols: 300
bars: 10080
seed: $seed
start: 2001-03-05
drift: 0.07
vol: 0.3
market_share: 0
jump_rate: 0
stress_vol_mult: 1
deflate: 0
EOF2
"$QA" -q data generate --config "$W/s.yaml" > "$W/log" 2>&1 && ok "generate" || { ko "generate"; cat "$W/log"; }
"$PY" "$SRC/tests/datasets/synth_check.py" "$W/s.h5" 0.07 0.3 2001-03-05 \
    && ok "drift, vol, independence, OHLC order and times as documented" || ko "synthetic market moments"
# a time axis that would run past 2262-04-11 (int64 nanoseconds) is refused, nothing written
"$QA" -q data generate --out "$W/late.h5" --symbols 2 --bars 400 --set start=2262-01-01 > "$W/log" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q "400 bars from 2262-01-01 run past 2262-04-11" "$W/log" && [ ! -e "$W/late.h5" ]; then
    ok "a time axis past 2262 is refused with its bar count"
else
    ko "time axis past 2262: exit $rc: $(cat "$W/log")"
fi
qa_exit
