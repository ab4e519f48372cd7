#!/bin/sh
# qa alt on the real alternative data of ../shared/datasets/alt_text (read in place, never
# copied): both imports against counts recomputed independently (tests/datasets/alt_check.py),
# idempotent re-import, search, alignment to the shipped daily sample against series
# recomputed in Python with zoneinfo, the no-look-ahead proof, and error messages.
# Usage: test_alt.sh QA SOURCE_DIR PYTHON3
QA=$1
SRC=$2
PY=${3:-python3}
. "$SRC/tests/lib.sh"
ALT=${QA_DATA_ROOT:-$SRC/../shared/datasets}/alt_text
[ -f "$ALT/vader_lexicon.csv.gz" ] || { echo "skipped: no $ALT (the shared data sets)"; exit 77; }
"$PY" -c "import h5py, numpy" 2>/dev/null || { echo "skipped: python3 lacks h5py/numpy"; exit 77; }
qa_tmpdir alt
CHECK="$PY $SRC/tests/datasets/alt_check.py"
DB=$W/alt.db
NEWS=$ALT/reuters_headlines_by_ticker_2011H2_2018-06.csv.gz
TWEETS=$ALT/stocknet_tweets_2014-2016.csv.gz

# field VALUE KEY: KEY's number in a one-line JSON object.
field() { echo "$1" | "$PY" -c "import json,sys; print(json.load(sys.stdin)$2)"; }

# --- import: counts as recomputed from the README's rules ---
for src in reuters stocknet; do
    f=$NEWS
    [ $src = stocknet ] && f=$TWEETS
    got=$("$QA" -q alt import --source $src --input "$f" --lexicon "$ALT/vader_lexicon.csv.gz" --db "$DB" --json 2>"$W/err") \
        || { cat "$W/err"; ko "import $src"; continue; }
    want=$($CHECK counts $src "$f")
    same=$("$PY" -c "
import json,sys
g=json.loads(sys.argv[1]); w=json.loads(sys.argv[2]); s=g['skipped']
got=dict(rows=g['rows'],documents_new=g['documents_new'],copies=g['copies'],duplicates=g['duplicates'],
         language=s['language'],no_cashtag=s['no_cashtag'],empty=s['empty'])
print('same' if got==w and s['bad_rows']==0 else 'got %s want %s' % (got, w))" "$got" "$want")
    [ "$same" = same ] && ok "import $src: $(field "$got" "['documents_new']") documents, counts as recomputed" \
        || ko "import $src counts: $same"
done
# the Reuters README: 267 exact duplicate rows; 35,132 rows share (date, title) with another ticker
again=$("$QA" -q alt import --source reuters --input "$NEWS" --lexicon "$ALT/vader_lexicon.csv.gz" --db "$DB" --json)
[ "$(field "$again" "['already_imported']")" = True ] && "$QA" alt info --db "$DB" | grep -q "^reuters *26195 *50622 *51087 " \
    && ok "re-importing the same file changes nothing" || ko "re-import: $again $("$QA" alt info --db "$DB")"

# --- search ---
out=$("$QA" alt search "jobs resigns" --db "$DB" --ticker AAPL --limit 3 --json 2>/dev/null)
echo "$out" | grep '"title":"UPDATE 2-Steve Jobs resigns from Apple, Cook becomes CEO"' | grep -q '"time":"2011-08-24"' \
    && [ "$(echo "$out" | grep -c '"time":"2011-08-24"')" = 3 ] && ok "search finds the Jobs stories of 2011-08-24 (commas restored)" \
    || ko "search: $out"
out=$("$QA" alt search "motorola" --db "$DB" --ticker GOOG --from 2011-08-15 --to 2011-08-16 --json 2>/dev/null)
echo "$out" | grep -q 'Google to buy Motorola Mobility' && ok "search with ticker and dates" || ko "search range: $out"
n=$("$QA" alt search '"stock split"' --db "$DB" --source stocknet --ticker AAPL --from 2014-06-09 --to 2014-06-10 --limit 1000 --json 2>/dev/null | wc -l)
[ "$n" -ge 5 ] && ok "phrase search over tweets ($n AAPL tweets on 2014-06-09)" || ko "phrase search: $n"
"$QA" alt search 'AND OR (' --db "$DB" 2>"$W/err" && ko "bad query accepted" || grep -q "not valid FTS5 syntax" "$W/err" \
    && ok "bad query refused" || ko "bad query message: $(cat "$W/err")"

# --- alignment to the shipped daily sample, recomputed independently ---
qa_import sp500-daily "$W/m.h5"
"$QA" -q alt align --data "$W/m.h5" --db "$DB" --source reuters >/dev/null || ko "align news"
"$QA" -q alt align --data "$W/m.h5" --db "$DB" --source stocknet >/dev/null || ko "align tweets"
$CHECK align "$DB" "$W/m.h5" reuters news || fail=1
$CHECK align "$DB" "$W/m.h5" stocknet tweets || fail=1

# --- no look-ahead: documents available at or after bar t's close change nothing at or before t ---
for day in 2011-08-24 2014-06-09 2015-03-06; do
    t=$("$PY" -c "
import h5py, numpy as np, datetime as dt, sys
f = h5py.File(sys.argv[1], 'r'); d = np.datetime64(sys.argv[2], 'ns').astype('int64')
print(int(np.searchsorted(f['time'][:], d)))" "$W/m.h5" $day)
    $CHECK cut "$DB" "$W/cut.db" "$W/m.h5" "$t" >/dev/null
    cp "$W/m.h5" "$W/cut.h5"
    "$QA" -q alt align --data "$W/cut.h5" --db "$W/cut.db" --source reuters >/dev/null &&
        "$QA" -q alt align --data "$W/cut.h5" --db "$W/cut.db" --source stocknet >/dev/null || ko "align cut"
    $CHECK prefix "$W/m.h5" "$W/cut.h5" "$t" && ok "no look-ahead at $day (bar $t)" || fail=1
done

# --- alt series as features (qa features input:), training inputs and sweep signals ---
cat > "$W/f.yaml" <<EOF
data: $W/m.h5
features:
  - {kind: mean, window: 1, input: alt/news_sent_mean, name: news_sent}
  - {kind: zscore, window: 20, input: alt/tweets_count}
  - {kind: xs_rank, input: alt/tweets_count_z}
EOF
"$QA" -q features --config "$W/f.yaml" >/dev/null 2>&1 || ko "features over alt panels"
"$PY" - "$W/m.h5" <<'PY' && ok "features over alt panels (identity, input attribute, lineage)" || ko "alt features"
import h5py, numpy as np, sys
f = h5py.File(sys.argv[1], "r")
assert np.array_equal(f["alt/news_sent_mean"][:], f["features/news_sent"][:], equal_nan=True)
a = f["features/zscore_tweets_count_20"].attrs
assert a["input"] == "alt/tweets_count" and '"input":"alt/tweets_count"' in a["params"], dict(a)
assert np.isfinite(f["features/xs_rank_tweets_count_z"][:]).sum() > 1000
PY
"$QA" features --config "$W/f.yaml" 2>&1 | grep -q "0 computed, 3 up to date" && ok "alt features up to date on a second run" \
    || ko "alt features not up to date"
"$QA" -q alt align --data "$W/m.h5" --db "$DB" --source stocknet --z-window 10 >/dev/null
"$QA" features --config "$W/f.yaml" 2>&1 | grep -q "1 computed, 2 up to date" && ok "re-aligned tweet z-scores make their feature stale" \
    || ko "lineage of alt features: $("$QA" features --config "$W/f.yaml" 2>&1 | tail -1)"
printf 'data: %s\nfeatures:\n  - {kind: atr, input: alt/news_count}\n' "$W/m.h5" > "$W/bad.yaml"
"$QA" features --config "$W/bad.yaml" 2>"$W/err" && ko "atr over alt accepted" || grep -q "only kinds that read one series" "$W/err" \
    && ok "a kind that reads high/low refused with input" || ko "atr message: $(cat "$W/err")"
printf 'data: %s\nfeatures:\n  - {kind: mean, input: alt/nothing}\n' "$W/m.h5" > "$W/bad.yaml"
"$QA" features --config "$W/bad.yaml" 2>"$W/err" && ko "missing alt panel accepted" || grep -q "has no panel 'alt/nothing'" "$W/err" \
    && ok "missing alt panel named" || ko "missing panel message: $(cat "$W/err")"
cat > "$W/t.yaml" <<EOF
data: $W/m.h5
backend: cpu
seed: 7
inputs: {features: [zscore_tweets_count_20, xs_rank_tweets_count_z], bars: [logret], window: 2, clip: 5}
target: {kind: return, horizon: 5, demean: true}
split: {start: 2014-01-01, train_end: 2015-06-01, val_end: 2015-10-01, end: 2016-04-01, embargo: 5}
model: {type: mlp, hidden: [8]}
train: {batch_size: 64, steps: 60, lr: 1e-3, eval_every: 30, log_every: 30}
EOF
"$QA" -q train --config "$W/t.yaml" --run-dir "$W/train" >/dev/null 2>&1 && [ -f "$W/train/model.qam" ] \
    && ok "a model trains on alt features" || ko "train on alt features"
cat > "$W/s.yaml" <<EOF
data: $W/m.h5
symbols: all
start: 2014-01-01
end: 2016-04-01
strategy: signal
signal: alt/tweets_count_z
grid: {lower: [-1, 0], upper: [1, 2]}
EOF
"$QA" -q sweep --config "$W/s.yaml" --run-dir "$W/sweep" >/dev/null 2>&1 && [ "$(wc -l < "$W/sweep/top.csv")" -gt 1 ] \
    && ok "a sweep trades the tweet-volume signal" || ko "sweep on alt signal"

# --- errors name the file and what was expected ---
printf '"ticker","company","date","title","summary","news_type"\n"AAPL","Apple","2011-08-24","t","s","normal"\n' > "$W/bad.csv"
"$QA" alt import --source reuters --input "$W/bad.csv" --lexicon "$ALT/vader_lexicon.csv.gz" --db "$W/new.db" 2>"$W/err" \
    && ko "bad date accepted" || { grep -q "bad.csv:2: field 'date': '2011-08-24' is not a date (expected YYYYMMDD)" "$W/err" \
    && [ ! -e "$W/new.db" ] && ok "bad row: message and no store"; } || ko "bad row: $(cat "$W/err")"
"$QA" alt align --data "$W/m.h5" --db "$W/none.db" --source reuters 2>"$W/err" && ko "missing store accepted" \
    || grep -q "none.db: no such document store" "$W/err" && ok "missing store named" || ko "missing store: $(cat "$W/err")"
cp "$W/m.h5" "$W/m2.h5"
"$QA" alt align --data "$W/m2.h5" --db "$DB" --source news 2>"$W/err" && ko "unknown source accepted by align" \
    || grep -q "source 'news': .* holds no document of it (its sources: reuters, stocknet)" "$W/err" \
    && ok "align refuses a source the store lacks" || ko "align source message: $(cat "$W/err")"
"$QA" alt search apple --db "$DB" --source news 2>"$W/err" && ko "unknown source accepted by search" \
    || grep -q "holds no document of it" "$W/err" && ok "search refuses a source the store lacks" || ko "search source: $(cat "$W/err")"
exit $fail
