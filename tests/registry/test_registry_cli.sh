#!/bin/sh
# qa registry end to end on the shipped sample, through the qa binary: training runs
# published with --publish, the registry's predictions equal to each run's own bit for
# bit (MLP and stateful-free LSTM windows), lineage fields checked against independent
# sources (the market file's attributes, the model file, a digest of the data recomputed
# here), aliases and their history, list/diff/tag, URIs in qa evaluate and qa simulate,
# a corrupted artifact / missing alias / missing feature refused with the model, version
# and field named, export/import with an identical show, watch (and --follow seeing a
# publish from another process), delete and gc rules.
# Usage: test_registry_cli.sh QA SOURCE_DIR PYTHON3
QA="$1"; SRC="$2"; PY="${3:-/usr/bin/python3}"
. "$SRC/tests/lib.sh"
"$PY" -c "import h5py, numpy" 2>/dev/null || { echo "skipped: $PY lacks h5py/numpy"; exit 77; }
qa_tmpdir registry_cli
export QA_PROGRESS=0 QA_REGISTRY="$W/reg"
cd "$W" || exit 1
qa_import sp500-daily m.h5
"$QA" -q features --data m.h5 --backend cpu || { echo "FAIL: features"; exit 1; }

# same_panel FILE_A DSET_A FILE_B DSET_B: bit-identical float64 panels with scores in them.
same_panel() {
    "$PY" - "$@" <<'PY'
import sys, h5py, numpy as np
a = h5py.File(sys.argv[1], "r")[sys.argv[2]][...]
b = h5py.File(sys.argv[3], "r")[sys.argv[4]][...]
n = int(np.isfinite(a).sum())
sys.exit(0 if a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes() and n > 1000 else 1)
PY
}

# 1. Two runs published as versions 1 and 2 of "alpha"; the LSTM also as challenger.
# Small models: the sanitizer build runs this test too (unoptimised, ~10x slower).
demo_mlp_yaml m.h5 cpu 60 1 > mlp.yaml
cat > lstm.yaml <<'YAML'
data: m.h5
backend: cpu
seed: 11
threads: 1
inputs: {features: [ret_close, rsi_close_14], bars: [logret], window: 4}
target: {kind: sign, horizon: 5}
split: {start: 1990-01-01, train_end: 2012-01-01, val_end: 2017-01-01, embargo: 5}
model: {type: lstm, hidden: [8]}
train: {batch_size: 256, steps: 40, lr: 2e-3, warmup_steps: 10, eval_every: 20, patience: 0}
YAML
"$QA" -q train --config mlp.yaml --run-dir runs/mlp --publish alpha > pub1.txt 2> pub1.err
[ "$(cat pub1.txt)" = "models:/alpha/1" ] && ok "qa train --publish prints models:/alpha/1" || { ko "publish MLP: $(cat pub1.txt pub1.err)"; }
"$QA" -q train --config lstm.yaml --run-dir runs/lstm --publish alpha --alias challenger > pub2.txt 2> pub2.err
[ "$(cat pub2.txt)" = "models:/alpha/2" ] && ok "second publish is version 2" || ko "publish LSTM: $(cat pub2.txt pub2.err)"
for f in lineage.json predictions.h5; do [ -s runs/mlp/$f ] && [ -s runs/lstm/$f ] || ko "run directory lacks $f"; done

# 2. Registry predictions equal the runs' own, bit for bit.
"$QA" -q predict --model models:/alpha/1 --data m.h5 --out p1.h5 > /dev/null 2>&1 || ko "qa predict v1"
"$QA" -q predict --model models:/alpha@challenger --data m.h5 --out p2.h5 > /dev/null 2>&1 || ko "qa predict challenger"
same_panel runs/mlp/predictions.h5 predictions/run/best p1.h5 predictions/alpha/1 && ok "MLP: registry predictions = the run's own, bit for bit" || ko "MLP predictions differ"
same_panel runs/lstm/predictions.h5 predictions/run/best p2.h5 predictions/alpha/2 && ok "LSTM: registry predictions = the run's own, bit for bit" || ko "LSTM predictions differ"
cp m.h5 m_in.h5
"$QA" -q predict --model models:/alpha/1 --data m_in.h5 > /dev/null 2>&1 && same_panel p1.h5 predictions/alpha/1 m_in.h5 predictions/alpha/1 \
    && ok "qa predict into the market file itself" || ko "in-place predict"

# 3. Lineage, checked against independent sources.
"$QA" registry show models:/alpha/1 > show1.json || ko "registry show v1"
GIT=$("$QA" --version | sed -n 's/.*(git \([^,]*\),.*/\1/p')
"$PY" - show1.json runs/mlp "$W/m.h5" "$GIT" <<'PY' && ok "lineage fields filled and correct" || ko "lineage"
import json, os, struct, sys, h5py
show = json.load(open(sys.argv[1])); run = sys.argv[2]; market = sys.argv[3]; git = sys.argv[4]
lin, met, sig = show["lineage"], show["metrics"], show["signature"]
raw = open(os.path.join(run, "model.qam"), "rb").read()
jlen = struct.unpack_from("<Q", raw, 16)[0]
info = json.loads(raw[32:32 + jlen])["training"] if "training" in json.loads(raw[32:32 + jlen]) else json.loads(raw[32:32 + jlen]).get("info", {})
summ = json.load(open(os.path.join(run, "summary.json")))
f = h5py.File(market, "r")
errs = []
def want(cond, what):
    if not cond: errs.append(what)
want(lin["run_dir"] == os.path.realpath(run), "run_dir")
want(len(lin["run_id"]) == 16, "run_id")
want(lin["config_hash"] == info.get("config_hash"), "config_hash vs the model file %r" % info.get("config_hash"))
want(lin["data"]["path"] == os.path.realpath(market), "data.path")
want(len(lin["data"]["data_sha256"]) == 64, "data_sha256")
want(lin["data"]["symbols"] == f["symbols"].shape[0] and lin["data"]["bars"] == f["time"].shape[0], "data shape")
for x in lin["features"]:
    if x["kind"] == "feature":
        want(x["input_hash"] == f["features/" + x["name"]].attrs["input_hash"], "input_hash of " + x["name"])
want([x["name"] for x in lin["features"]] == [x["name"] for x in sig["inputs"]], "features = signature inputs")
want(lin["range"]["start"] == "1990-01-01" and lin["range"]["train_end"] == "2012-01-01" and lin["range"]["val_end"] == "2017-01-01", "range")
want(lin["code"]["git"] == git, "git %s vs %s" % (lin["code"]["git"], git))
want(lin["build"]["backend"] == "cpu", "backend")
want(abs(met["test_ic"] - summ["evaluation"]["test"]["ic"]["mean"]) == 0, "test_ic")
want(show["artifact"]["sha256"] and show["artifact"]["size"] == os.path.getsize(os.path.join(run, "model.qam")), "artifact size")
want(show["config"]["model"]["type"] == "mlp", "config")
if errs: print("lineage problems:", errs)
sys.exit(1 if errs else 0)
PY
# The data digest, recomputed here from the market file (a model reading features only,
# so every input is a stored column): names, grid, rows (symbol-major bars with a
# positive close), then each input's raw values at the rows.
cat > fonly.yaml <<'YAML'
data: m.h5
backend: cpu
seed: 3
threads: 1
inputs: {features: [rsi_close_14, zscore_close_20], window: 1}
target: {kind: return, horizon: 5}
split: {start: 1990-01-01, train_end: 2012-01-01, val_end: 2017-01-01}
model: {type: mlp, hidden: [8]}
train: {batch_size: 256, steps: 20, eval_every: 10}
YAML
"$QA" -q train --config fonly.yaml --run-dir runs/fonly > /dev/null 2>&1 || ko "features-only run"
"$PY" - runs/fonly/lineage.json m.h5 <<'PY' && ok "data_sha256 = a digest recomputed from the market file" || ko "data_sha256"
import hashlib, json, sys, h5py, numpy as np
lin = json.load(open(sys.argv[1])); f = h5py.File(sys.argv[2], "r")
sym = f["symbols"][...].astype("S32"); time = f["time"][...].astype("<i8")
close = f["bars/close"][...]
ok = np.isfinite(close) & (close > 0)
s_idx, t_idx = np.nonzero(ok)  # row-major: symbol-major, time order
h = hashlib.sha256()
h.update(sym.tobytes()); h.update(time.tobytes())
h.update(s_idx.astype("<i4").tobytes()); h.update(t_idx.astype("<i4").tobytes())
h.update(close[ok].astype("<f8").tobytes())
for x in lin["features"]:
    h.update(f["features/" + x["name"]][...][ok].astype("<f8").tobytes())
print(h.hexdigest(), lin["data"]["data_sha256"])
sys.exit(0 if h.hexdigest() == lin["data"]["data_sha256"] else 1)
PY

# 4. Aliases, history, tags, list, diff.
"$QA" -q registry alias set alpha champion 1 --reason "first live model" --who ana > /dev/null || ko "alias set"
"$QA" -q registry alias set alpha champion 2 --reason "LSTM beats MLP" --who ben > /dev/null || ko "alias move"
"$QA" -q registry tag alpha/2 stage=production || ko "tag"
"$QA" registry list --alias champion > l1.txt && grep -q "^models:/alpha/2 .*challenger,champion" l1.txt && ok "list --alias champion" || { ko "list alias"; cat l1.txt; }
"$QA" registry list --tag stage=production --json | grep -q '"uri": "models:/alpha/2"' && ok "list --tag" || ko "list tag"
"$QA" registry list --metric 'steps>=50' --json | grep -c '"uri"' | grep -qx 1 && ok "list --metric" || ko "list metric"
"$QA" registry diff models:/alpha/1 models:/alpha/2 > diff.txt && grep -q '^config .*model.type .*"mlp" -> "lstm"' diff.txt \
    && grep -q '^signature .*window' diff.txt && ok "diff shows config and signature changes" || { ko "diff"; cat diff.txt; }
"$QA" registry show alpha > show_a.json
"$PY" -c "
import json,sys
h=json.load(open('show_a.json'))['alias_history']
sys.exit(0 if [(x['alias'],x['from'],x['to'],x['who'],x['why']) for x in h]==[('challenger',None,2,x0,'qa train --publish --alias') for x0 in [h[0]['who']]]+[('champion',None,1,'ana','first live model'),('champion',1,2,'ben','LSTM beats MLP')] else 1)" \
    && ok "alias history: who, when, why, from, to" || { ko "alias history"; cat show_a.json; }
HIST_BEFORE=$("$PY" -c "import json; print(len(json.load(open('show_a.json'))['alias_history']))")

# 5. URIs wherever a model is accepted.
"$QA" -q evaluate --model models:/alpha@champion --data m.h5 > ev_uri.txt 2>&1 && "$QA" -q evaluate --model runs/lstm/model.qam --data m.h5 > ev_file.txt 2>&1 \
    && cmp -s ev_uri.txt ev_file.txt && ok "qa evaluate models:/alpha@champion = the run's model file" || ko "evaluate by URI"
cat > sim.yaml <<'YAML'
data: m.h5
strategy: signal
signal: models:/alpha@champion
params: {upper: 0.55, lower: 0.45}
start: 2017-01-01
YAML
"$QA" -q simulate --config sim.yaml --run-dir sim > sim.log 2>&1 && grep -q '"model": "models:/alpha/2"' sim/run.json \
    && ok "qa simulate with a model-driven signal records the version it resolved" || { ko "simulate by URI"; cat sim.log; }

# 6. Refusals name the model, the version and the field; nothing is written.
"$QA" -q predict --model models:/alpha@nope --data m.h5 --out x.h5 2> e1.txt; rc=$?
[ $rc -eq 1 ] && grep -q "model 'alpha' has no alias 'nope' (aliases: challenger -> 2, champion -> 2)" e1.txt && [ ! -e x.h5 ] \
    && ok "missing alias refused, listing the aliases" || { ko "missing alias (rc $rc)"; cat e1.txt; }
"$QA" -q predict --model models:/alpha/9 --data m.h5 --out x.h5 2> e2.txt
grep -q "model 'alpha' has no version 9" e2.txt && ok "missing version refused" || { ko "missing version"; cat e2.txt; }
qa_import sp500-daily bare.h5
"$QA" -q predict --model models:/alpha/1 --data bare.h5 --out x.h5 2> e3.txt; rc=$?
[ $rc -eq 1 ] && grep -q "models:/alpha/1: signature field inputs\[0\] 'ret_close' is not in /features of bare.h5" e3.txt && [ ! -e x.h5 ] \
    && ok "missing feature refused with the model, version and feature" || { ko "signature (rc $rc)"; cat e3.txt; }
cp m.h5 m_def.h5
"$PY" -c "import h5py; h5py.File('m_def.h5', 'r+')['features/rsi_close_14'].attrs['params'] = '{\"field\":\"close\",\"kind\":\"rsi\",\"output\":\"value\",\"window\":21}'"
"$QA" -q predict --model models:/alpha/1 --data m_def.h5 --out x.h5 2> e3b.txt; rc=$?
[ $rc -eq 1 ] && grep -q "models:/alpha/1: signature field inputs\[2\].params: feature 'rsi_close_14' in m_def.h5 is defined as .*\"window\":21" e3b.txt && [ ! -e x.h5 ] \
    && ok "a feature under another definition refused" || { ko "definition (rc $rc)"; cat e3b.txt; }
cp -r reg reg_bad
ART=$(ls reg_bad/artifacts/*/*.qam | head -1)
SHA=$(basename "$ART" .qam)
V=$("$QA" registry list --registry reg_bad --json | "$PY" -c "import json,sys; print([x['uri'] for x in json.load(sys.stdin) if x['sha256']=='$SHA'][0])")
printf 'X' | dd of="$ART" bs=1 seek=200 conv=notrunc 2>/dev/null
"$QA" -q predict --registry reg_bad --model "$V" --data m.h5 --out x.h5 2> e4.txt; rc=$?
[ $rc -eq 1 ] && grep -q "$V: artifact .* is corrupted: field sha256 recorded $SHA" e4.txt && [ ! -e x.h5 ] \
    && ok "corrupted artifact refused ($V)" || { ko "corrupted artifact (rc $rc)"; cat e4.txt; }
"$QA" -q evaluate --registry reg_bad --model "$V" --data m.h5 > /dev/null 2> e5.txt; [ $? -eq 1 ] && grep -q "is corrupted" e5.txt && ok "evaluate refuses it too" || ko "evaluate corrupted"
"$QA" registry verify --registry reg_bad > v.txt; [ $? -eq 1 ] && grep -q "1 bad" v.txt && ok "verify finds it" || { ko "verify bad"; cat v.txt; }
"$QA" registry verify > v.txt && grep -q "0 bad" v.txt && ok "verify passes on the intact registry" || ko "verify"

# 7. Export on one registry, import on another: identical show.
"$QA" -q registry export alpha --out alpha.qab || ko "export"
"$QA" -q registry import alpha.qab --registry reg_copy > /dev/null || ko "import"
same=0
for what in alpha models:/alpha/1 models:/alpha/2 models:/alpha@champion; do
    "$QA" registry show "$what" > s_a.json; "$QA" registry show "$what" --registry reg_copy > s_b.json
    cmp -s s_a.json s_b.json && [ -s s_a.json ] && same=$((same + 1)) || ko "show $what differs after export/import"
done
[ $same -eq 4 ] && ok "export/import: identical show of the model and its versions"
"$QA" -q predict --registry reg_copy --model models:/alpha/1 --data m.h5 --out p1c.h5 > /dev/null 2>&1 \
    && same_panel p1.h5 predictions/alpha/1 p1c.h5 predictions/alpha/1 && ok "the imported version predicts identically" || ko "imported predict"
"$QA" -q registry import alpha.qab --registry reg_copy 2> e6.txt; [ $? -eq 1 ] && grep -q "already exists" e6.txt && ok "second import refused" || ko "second import"

# 8. Events: watch lists every change; --follow sees a publish from another process.
"$QA" registry watch --json > ev.txt && [ "$(wc -l < ev.txt)" -ge 6 ] && grep -q '"kind":"alias_set"' ev.txt && ok "watch lists the events" || { ko "watch"; cat ev.txt; }
LAST=$(tail -1 ev.txt | "$PY" -c "import json,sys; print(json.load(sys.stdin)['seq'])")
"$QA" registry watch --from "$LAST" --follow --interval 50 --timeout 6 --json > follow.txt &
WPID=$!
sleep 1
"$QA" -q registry publish runs/fonly --name alpha > pub3.txt || ko "registry publish RUN_DIR"
wait $WPID
grep -q '"kind":"version_created".*"version":3' follow.txt && [ "$(cat pub3.txt)" = "models:/alpha/3" ] \
    && ok "watch --follow sees version 3 published by another process" || { ko "watch follow"; cat follow.txt; }

# 9. Delete and gc rules; the alias history survives all of it.
"$QA" -q registry delete alpha/2 2> e7.txt; [ $? -eq 1 ] && grep -q "aliases point to it" e7.txt && ok "delete refused while aliases point to it" || ko "delete aliased"
"$QA" -q registry delete alpha/3 --reason "smoke test" && ok "delete of an unaliased version" || ko "delete"
"$QA" -q registry publish runs/fonly --name alpha > pub4.txt && [ "$(cat pub4.txt)" = "models:/alpha/4" ] && ok "numbers are never reused" || ko "reuse"
"$QA" registry gc > gc.txt && grep -q "0 file(s)" gc.txt && ok "gc: nothing young is collected" || { ko "gc"; cat gc.txt; }
"$QA" registry show alpha > show_b.json
[ "$("$PY" -c "import json; print(len(json.load(open('show_b.json'))['alias_history']))")" = "$HIST_BEFORE" ] \
    && ok "alias history survives delete, export/import, gc" || ko "history lost"
exit $fail
