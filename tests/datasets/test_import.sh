#!/bin/sh
# qa data import/info/validate end to end: the malformed-input corpus (each documented
# error, exit 1, nothing written), every preset on the shipped sample, values read back
# with h5py against the CSV text, and the three anomaly policies.
QA="$1"; SRC="$2"; PY="${3:-/usr/bin/python3}"
BAD="$SRC/tests/data/bad"; SAMPLE="$SRC/datasets/sample"
. "$SRC/tests/lib.sh"
qa_tmpdir import

# 1. Malformed inputs: tests/data/bad/EXPECTED lists file | command (import, info, validate) | expected text.
# Imports run twice: reading each file twice (keep_mb 0, the default) and once, with the
# values kept from pass 1 (keep_mb 64): the same error either way.
{ grep -v '^#' "$BAD/EXPECTED"; grep -v '^#' "$BAD/EXPECTED" | grep '| *import *|' | sed 's/import/import-keep/'; } |
while IFS='|' read -r file cmd want; do
    file=$(echo "$file" | xargs); cmd=$(echo "$cmd" | xargs); want=$(echo "$want" | sed 's/^ *//; s/ *$//')
    [ -n "$file" ] || continue
    rm -f "$W/out.h5"
    case "$cmd" in
        import) (cd "$BAD" && "$QA" data import --input "$file" --out "$W/out.h5") > "$W/log" 2>&1; rc=$? ;;
        import-keep) (cd "$BAD" && "$QA" data import --input "$file" --out "$W/out.h5" --set keep_mb=64) > "$W/log" 2>&1
                     rc=$? ;;
        info|validate) (cd "$BAD" && "$QA" data "$cmd" "$file") > "$W/log" 2>&1; rc=$? ;;
        *) echo "FAIL: $file: unknown command '$cmd' in EXPECTED"; echo x >> "$W/failed"; continue ;;
    esac
    if [ $rc -ne 1 ]; then echo "FAIL: $file: exit $rc, expected 1"; cat "$W/log"; echo x >> "$W/failed"; continue; fi
    if ! grep -qF -- "$want" "$W/log"; then echo "FAIL: $file: error lacks '$want'"; cat "$W/log"; echo x >> "$W/failed"; continue; fi
    if [ -e "$W/out.h5" ] || ls "$W"/.out.h5.tmp-* >/dev/null 2>&1; then echo "FAIL: $file: output left behind"; echo x >> "$W/failed"; continue; fi
    echo "ok: $file ($cmd) -> $want"
done
[ -e "$W/failed" ] && fail=1

# 1b. Which error wins when a file set has several: a structural error (order, fields,
# header) anywhere beats an unparsable value anywhere, as when values were parsed only in
# pass 2; between values, the first file in symbol order and its first bad row. Both
# paths (read twice, values kept) must agree.
mkdir -p "$W/multi"
printf 'date,open,high,low,close,volume\n2020-01-02,1,1,1,1,1\n2020-01-03,1,1,1,x,1\n2020-01-06,1,1,1,1,1\n' > "$W/multi/AAA.csv"
printf 'date,open,high,low,close,volume\n2020-01-02,1,1,1,1,1\n2020-01-03,1,1,1,y,1\n2020-01-03,1,1,1,1,1\n' > "$W/multi/BBB.csv"
printf 'date,open,high,low,close,volume\n2020-01-02,1,1,1,1,z\n' > "$W/multi/CCC.csv"
for keep in 0 64; do
    "$QA" data import --input "$W/multi" --out "$W/multi.h5" --set keep_mb=$keep > "$W/log" 2>&1; rc=$?
    want="BBB.csv:4: field 'date': timestamp '2020-01-03' is a duplicate of the previous row's '2020-01-03'"
    if [ $rc -eq 1 ] && grep -qF "$want" "$W/log"; then ok "keep_mb=$keep: the structural error wins: $want"
    else ko "keep_mb=$keep: expected exit 1 and '$want': exit $rc: $(tail -c 300 "$W/log")"; fi
    rm -f "$W/multi/BBB.csv"
    "$QA" data import --input "$W/multi" --out "$W/multi.h5" --set keep_mb=$keep > "$W/log" 2>&1; rc=$?
    want="AAA.csv:3: field 'close': 'x' is not a number"
    if [ $rc -eq 1 ] && grep -qF "$want" "$W/log"; then ok "keep_mb=$keep: then the first file's value error: $want"
    else ko "keep_mb=$keep: expected exit 1 and '$want': exit $rc: $(tail -c 300 "$W/log")"; fi
    [ -e "$W/multi.h5" ] && ko "keep_mb=$keep: output left behind"
    printf 'date,open,high,low,close,volume\n2020-01-02,1,1,1,1,1\n2020-01-03,1,1,1,y,1\n2020-01-03,1,1,1,1,1\n' > "$W/multi/BBB.csv"
done

# The bad stores above are make_bad_stores.py's one store with one thing broken each; that
# store unbroken must pass, so each refusal is the broken thing's.
if "$PY" -c "import h5py, numpy" 2>/dev/null; then
    "$PY" "$BAD/make_bad_stores.py" "$W" --control && "$QA" data validate "$W/control.h5" > "$W/log" 2>&1 \
        && grep -q "structure ok (1 symbols x 3 timestamps)" "$W/log" && ok "the bad stores' unbroken control validates" \
        || { ko "control store"; cat "$W/log"; }
else
    qa_skip "control store (python3-h5py not installed)"
fi

# A UTF-8 byte order mark before the header (spreadsheet exports) is not part of the first name.
printf '\357\273\277date,open,high,low,close,volume\n2020-01-02,1,2,0.5,1.5,100\n2020-01-03,1,2,0.5,1.6,100\n' > "$W/BOM.csv"
if "$QA" -q data import --input "$W/BOM.csv" --out "$W/bom.h5" > "$W/log" 2>&1; then ok "a header with a UTF-8 byte order mark imports"
else ko "BOM header: $(cat "$W/log")"; fi

# One endless line (20 MB of one field, 20 KB gzipped) is refused at the record bound, not read whole.
"$PY" -c "import gzip, sys; gzip.open(sys.argv[1], 'wb').write(b'date,open,high,low,close,volume\\n2020-01-02,' + b'1' * 20000000 + b'\\n')" "$W/endless.csv.gz"
if "$QA" -q data import --input "$W/endless.csv.gz" --out "$W/endless.h5" > "$W/log" 2>&1; then ko "an endless line was accepted"
elif grep -q "endless.csv.gz:2: a record longer than 16 MiB" "$W/log" && [ ! -e "$W/endless.h5" ]; then ok "an endless line is refused at 16 MiB"
else ko "endless line: $(cat "$W/log")"; fi

# LOBSTER events with a type outside 1..7 or a time outside the day are refused by name.
printf '5850100,100,5849900,100\n' > "$W/lob_ob.csv"
for bad in "34200.1,9,1,100,5850000,1|field 'type': 9 is not a LOBSTER event type" \
           "1e300,4,1,100,5850000,1|field 'time': 1e+300 is not seconds after midnight"; do
    printf '%s\n' "${bad%%|*}" > "$W/lob_msg.csv"
    if "$QA" -q data import --input "$W/lob_msg.csv" --set layout=lobster --set "lobster.orderbook=$W/lob_ob.csv" \
        --set lobster.date=2012-06-21 --set lobster.symbol=X --set lobster.levels=1 --out "$W/lob.h5" > "$W/log" 2>&1; then
        ko "LOBSTER '${bad%%|*}' was accepted"
    elif grep -q "lob_msg.csv:1: ${bad#*|}" "$W/log" && [ ! -e "$W/lob.h5" ]; then ok "LOBSTER: ${bad#*|}"
    else ko "LOBSTER '${bad%%|*}': $(cat "$W/log")"; fi
done

# 2. Every preset on the shipped sample.
for p in sp500-daily etf-daily stocks-5min crypto-1m lobster; do
    if "$QA" -q data import --preset $p --data-root "$SAMPLE" --out "$W/$p.h5" > "$W/log" 2>&1; then ok "preset $p"
    else ko "preset $p"; cat "$W/log"; fi
done
# deflate_level 0 and 9: the same values, the level in the file's attribute and filters.
for lv in 0 9; do
    "$QA" -q data import --preset sp500-daily --data-root "$SAMPLE" --set deflate_level=$lv --out "$W/lv$lv.h5" > "$W/log" 2>&1 \
        || { ko "deflate_level $lv: $(cat "$W/log")"; continue; }
    if "$PY" - "$W/sp500-daily.h5" "$W/lv$lv.h5" $lv <<'PYEOF'; then ok "deflate_level $lv: same values, level stored"; else ko "deflate_level $lv"; fi
import sys, h5py, numpy as np
a, b, lv = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r"), int(sys.argv[3])
assert int(b.attrs["deflate_level"]) == lv, b.attrs["deflate_level"]
for f in ("open", "high", "low", "close", "volume"):
    x, y = a["bars/" + f], b["bars/" + f]
    assert np.array_equal(x[...], y[...], equal_nan=True), f
    assert y.compression == (None if lv == 0 else "gzip") and (lv == 0 or y.compression_opts == lv), (f, y.compression)
assert np.array_equal(a["time"][...], b["time"][...])
PYEOF
done
"$QA" data info "$W/sp500-daily.h5" > "$W/info" 2>&1 && grep -q "16 symbols" "$W/info" && ok "info: 16 symbols" || { ko "info"; cat "$W/info"; }
"$QA" data info --json --stats "$W/sp500-daily.h5" > "$W/info.json" 2>&1 && ok "info --json --stats" || ko "info --json"
"$QA" data validate "$W/sp500-daily.h5" > "$W/val" 2>&1 && grep -q "structure ok" "$W/val" && ok "validate" || { ko "validate"; cat "$W/val"; }
# The sample's ARE decimal shifts and DD 1991 spikes were found and masked on import.
grep -q "^ARE,2006-06-06,high,decimal_shift" "$W/sp500-daily.h5.anomalies.csv" && ok "ARE decimal shift reported" || ko "ARE shift"
grep -q "^DD,1991-07-01,close,spike" "$W/sp500-daily.h5.anomalies.csv" && ok "DD spike reported" || ko "DD spike"
grep -q "^MSFT,2010-04-26,volume,zero_volume" "$W/sp500-daily.h5.anomalies.csv" && ok "zero volume reported" || ko "zero volume"

# 3. Read back with plain h5py and compare with the CSV text (exact doubles); the LOBSTER
# bars recomputed from the message and order-book files (lobster_check.py).
if "$PY" -c "import h5py, numpy" 2>/dev/null; then
"$PY" - "$W/sp500-daily.h5" "$SAMPLE/us_equities_daily/stocks" "$W/lobster.h5" "$W/crypto-1m.h5" <<'PYEOF' && ok "h5py read-back" || ko "h5py read-back"
import csv, gzip, sys, math
import numpy as np, h5py
path, stocks, lob, cry = sys.argv[1:5]
f = h5py.File(path, "r")
assert f.attrs["format"] == "quantumalpha.market" and f.attrs["format_version"] == 1
syms = list(f["symbols"].asstr()[:])
t = f["time"][:]
assert (np.diff(t) > 0).all()
close, high, vol = f["bars/close"], f["bars/high"], f["bars/volume"]
for sym in ("AAPL", "ARE", "DD", "XOM", "MSFT"):
    i = syms.index(sym)
    rows = list(csv.DictReader(gzip.open(f"{stocks}/{sym}.csv.gz", "rt")))
    day = {np.datetime64(r["date"], "ns").astype(np.int64): r for r in rows}
    c = close[i, :]; h = high[i, :]; v = vol[i, :]
    assert np.count_nonzero(~np.isnan(c)) >= len(rows) - 5, sym
    for k in range(0, len(t), 97):
        r = day.get(t[k])
        if r is None:
            assert math.isnan(c[k]), (sym, k)
            continue
        if not math.isnan(c[k]):
            assert c[k] == float(r["close"]), (sym, k, c[k], r["close"])
    # masked decimal shift: ARE 2006-06-06 high is NaN, close kept
    if sym == "ARE":
        k = int(np.searchsorted(t, np.datetime64("2006-06-06", "ns").astype(np.int64)))
        assert math.isnan(h[k]) and c[k] == float(day[t[k]]["close"])
    if sym == "MSFT":
        k = int(np.searchsorted(t, np.datetime64("2010-04-26", "ns").astype(np.int64)))
        assert math.isnan(v[k]) and not math.isnan(c[k])
k = h5py.File(cry, "r")
assert k["symbols"].asstr()[0] == "LINKUSDT" and k["time"].shape[0] == 40320 and k.attrs["calendar"] == "24x7"
print("h5py checks passed")
PYEOF
LOB="$SAMPLE/lobster_aapl_sample/AAPL_2012-06-21_34200000_57600000"
"$PY" "$SRC/tests/datasets/lobster_check.py" "$W/lobster.h5" "${LOB}_message_10.csv.gz" "${LOB}_orderbook_10.csv.gz" 2012-06-21 \
    && ok "LOBSTER bars, mid and spread equal a direct computation from the message file" || ko "LOBSTER bars"
else
    qa_skip "h5py checks (python3-h5py not installed)"
fi

# 4. Anomaly policies on a crafted file.
for pol in keep mask reject; do
    rm -f "$W/anom.h5"*
    "$QA" -q data import --input "$SRC/tests/data/good/ANOM.csv" --out "$W/anom.h5" --policy $pol > "$W/log" 2>&1; rc=$?
    case $pol in
        reject) [ $rc -eq 1 ] && [ ! -e "$W/anom.h5" ] && grep -q "policy is 'reject'" "$W/log" && ok "reject fails, no file" || { ko "reject"; cat "$W/log"; } ;;
        keep) [ $rc -eq 0 ] && [ "$(wc -l < "$W/anom.h5.anomalies.csv")" -eq 7 ] && ok "keep reports 6" || ko "keep" ;;
        mask) [ $rc -eq 0 ] && [ "$(wc -l < "$W/anom.h5.anomalies.csv")" -eq 6 ] && ok "mask reports 5" || ko "mask" ;;
    esac
done

# 5. Usage errors exit 2.
"$QA" data import > /dev/null 2>&1; [ $? -eq 2 ] && ok "import without inputs: usage error" || ko "usage exit code"
"$QA" data import --preset nope > /dev/null 2>&1; [ $? -eq 2 ] && ok "unknown preset: usage error" || ko "preset exit"
"$QA" data import --input "$SAMPLE/us_equities_daily/stocks" --set columns.clse=x --out "$W/x.h5" > "$W/log" 2>&1
[ $? -eq 1 ] && grep -q "unknown key 'clse' in columns (did you mean 'close'?)" "$W/log" && ok "config typo named" || { ko "config typo"; cat "$W/log"; }
qa_exit
