#!/bin/sh
# Alternative data through the live service, on the shipped tweets (../shared, read in
# place) and daily sample, through the embedded Kafka cluster:
#   1. qa replay --alt-db publishes the documents of 2014 on alt.data in availability
#      order with one watermark per partition per timestamp; qa live scores each text with
#      VADER itself and updates the tweet series bar by bar: every value equals
#      `qa alt align` (batch) bit for bit — count, mean and max-|.| sentiment and the count
#      z-score on every bar (the tweets begin with the replay, so both start every
#      symbol's history at its first tweet), appended to the engine's features;
#   2. kill -9 at random points, restart each time ($QA_LIVE_KILLS trials): the features
#      topic equals the clean run's, message for message, no duplicate, no gap;
#   3. a document of a source the service does not follow goes to dead.letter.
# Usage: test_live_alt.sh QA SRC PYTHON
set -u
QA=$1 SRC=$2 PY=$3
. "$SRC/tests/lib.sh"
ALT=${QA_DATA_ROOT:-$SRC/../shared/datasets}/alt_text
[ -f "$ALT/stocknet_tweets_2014-2016.csv.gz" ] || { echo "skipped: no $ALT (the shared data sets)"; exit 77; }
"$PY" -c "import h5py, numpy" 2>/dev/null || { echo "skipped: python3 lacks h5py/numpy"; exit 77; }
qa_tmpdir live_alt
cd "$W" || exit 1
KILLS=${QA_LIVE_KILLS:-3}
export QA_BUS_FILE="$W/bus"
trap '"$QA" -q bus stop > /dev/null 2>&1; rm -rf "$W"' EXIT

qa_import sp500-daily m.h5
"$QA" -q alt import --source stocknet --input "$ALT/stocknet_tweets_2014-2016.csv.gz" --lexicon "$ALT/vader_lexicon.csv.gz" \
    --db alt.db > /dev/null 2>&1 || { echo "FAIL: alt import"; exit 1; }
"$QA" -q alt align --data m.h5 --db alt.db --source stocknet > /dev/null || { echo "FAIL: alt align"; exit 1; }

RANGE="--start 2014-01-01 --end 2015-01-01"
"$QA" -q replay --data m.h5 $RANGE --alt-db alt.db --alt-source stocknet --prefix c. > replay.txt 2> replay.err \
    || { echo "FAIL: replay: $(cat replay.err)"; exit 1; }
grep -q " documents and " replay.txt && ok "replay: $(cat replay.txt)" || ko "replay output: $(cat replay.txt)"

live_yaml() { # PREFIX STATE
    printf 'universe: m.h5\nstate_dir: %s\ndefault_features: true\nexit_idle: 2\ncheckpoint_every: %s\n' "$2" "${CKPT:-64}"
    printf 'kafka: {prefix: "%s"}\nalt: {sources: [stocknet], lexicon: "%s", z_window: 20}\n' "$1" "$ALT/vader_lexicon.csv.gz"
}
tail_topic() { # PREFIX TOPIC OUT
    "$QA" -q bus tail "$2" --prefix "$1" --idle 1.5 > "$3" 2>/dev/null
}

# ---- 1. clean run: parity with batch ----------------------------------------------------------
live_yaml c. state_c > c.yaml
"$QA" -q live --config c.yaml > c.out 2> c.err || ko "clean live run: $(tail -3 c.err)"
grep -q "alt.data: [1-9][0-9]* documents counted" c.out && ok "$(grep alt.data c.out)" || ko "no documents: $(cat c.out)"
tail_topic c. features c.features.jsonl
"$QA" -q bus tail alt.data --prefix c. --idle 1.5 --max 1 2>/dev/null | grep '"kind":"doc"' | grep '"source":"stocknet"' \
    | grep -q '"text":"' && ok "qa bus tail prints documents (source, text)" || ko "tail of alt.data"
"$PY" - <<'EOF' && ok "live tweet series = qa alt align bit for bit (count, sentiment, z-score)" || ko "parity with batch"
import json, math, h5py, numpy as np
f = h5py.File('m.h5', 'r')
sym = {s.decode().rstrip('\0'): i for i, s in enumerate(f['symbols'][:])}
col = {int(t): j for j, t in enumerate(f['time'][:])}
alt = {k: f['alt/tweets_' + k][:] for k in ('count', 'sent_mean', 'sent_maxabs', 'count_z')}
feat = [json.loads(l) for l in open('c.features.jsonl')]
checked = z_checked = docs = 0
for m in sorted(feat, key=lambda m: (m['time'], sym[m['symbol']])):
    i, j = sym[m['symbol']], col[m['time']]
    v = m['values']
    assert len(v) == 24, sorted(v)   # 20 default features + 4 tweet series
    for name, panel in alt.items():
        got, want = v['tweets_' + name], panel[i, j]
        ok = (got is None and math.isnan(want)) or (got is not None and got == want)
        assert ok, (m['symbol'], m['time'], name, got, want)
        z_checked += name == 'count_z' and got is not None
    docs += int(v['tweets_count'] or 0)
    checked += 1
live_docs = int(open('c.out').read().split('alt.data: ')[1].split()[0])
assert docs == live_docs, (docs, live_docs)
print(checked, 'bars,', z_checked, 'z-scores,', docs, 'documents: identical')
EOF

# ---- 2. kill -9 at random points -----------------------------------------------------------------
"$QA" -q replay --data m.h5 $RANGE --alt-db alt.db --alt-source stocknet --prefix k. > /dev/null 2>&1 || ko "replay k."
CKPT=8 live_yaml k. state_k > k.yaml
qa_kill_trials "$KILLS" 1.0 3.0 "$QA" -q live --config k.yaml
"$QA" -q live --config k.yaml > k.out 2> k.err || ko "final run after kills: $(tail -3 k.err)"
tail_topic k. features k.features.jsonl
"$PY" - <<'EOF' && ok "kill -9 x $KILLS: features with tweet series equal the clean run, no duplicates, no gaps" || ko "kill -9 trials"
import json
strip = lambda m: {x: y for x, y in m.items() if x not in ('topic', 'partition', 'offset')}
key = lambda m: (m['symbol'], m['time'])
k = [json.loads(l) for l in open('k.features.jsonl')]
c = {key(m): strip(m) for m in map(json.loads, open('c.features.jsonl'))}
kk = [key(m) for m in k]
assert len(kk) == len(set(kk)), ('duplicates', len(kk) - len(set(kk)))
assert set(kk) == set(c), ('gaps', len(set(c) - set(kk)), 'extra', len(set(kk) - set(c)))
for m in k:
    assert strip(m) == c[key(m)], (m, c[key(m)])
print(len(k), 'messages identical')
EOF
grep -q "resumed" k.out && ok "the last run resumed from a checkpoint" || ko "no resume: $(cat k.out)"

# ---- 3. a source the service does not follow ------------------------------------------------------
printf 'universe: m.h5\nstate_dir: state_r\nexit_idle: 2\nkafka: {prefix: "c."}\nalt: {sources: [reuters], lexicon: "%s"}\nstream: r\n' \
    "$ALT/vader_lexicon.csv.gz" > r.yaml
"$QA" -q live --config r.yaml > r.out 2> r.err || ko "live with another source: $(tail -3 r.err)"
tail_topic c. dead.letter c.dead.jsonl
grep -q "document source 'stocknet' is not one of alt.sources" c.dead.jsonl && ok "a document of another source goes to dead.letter" \
    || ko "dead letter of a foreign source: $(head -c 300 c.dead.jsonl)"
exit $fail
