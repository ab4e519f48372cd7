#!/bin/sh
# qa simulate end to end on the shipped sample: the simulator equals the vectorized engine
# on the real data (test_sim_equal with the imported market file), the CLI writes a
# complete run directory whose files agree with each other, the traded convention with
# limit orders, participation caps and pre-trade checks runs, and config errors name
# file:line.
# Usage: test_simulate.sh QA SOURCE_DIR PYTHON3 TEST_SIM_EQUAL
QA="$1"; SRC="$2"; PY="${3:-python3}"; EQ="$4"
. "$SRC/tests/lib.sh"
qa_tmpdir simulate
qa_import sp500-daily "$W/m.h5"

# 1. Equality with the vectorized engine on the real data (every strategy and direction).
"$EQ" "$W/m.h5" > "$W/eq.log" 2>&1 && ok "simulator equals the vectorized engine on the shipped data" || { ko "equality on real data"; cat "$W/eq.log"; }
grep "worst" "$W/eq.log"

# 2. The CLI with the default MOC / vectorized accounting.
{ ema_sim_yaml "$W/m.h5" 2019-12-31; cat <<'YAML'; } > "$W/sim.yaml"
direction: long_short
stops: {stop_loss: 0.08}
sizing: {method: vol_target, target_vol: 0.12, vol_window: 30}
costs: {commission_bps: 1, half_spread_bps: 2, fixed_cost: 1, impact_coef: 0.1}
capital: 400000
YAML
"$QA" simulate --config "$W/sim.yaml" --run-dir "$W/run1" > "$W/log1" 2>&1 && ok "qa simulate runs" || { ko "qa simulate"; cat "$W/log1"; }
for f in config.resolved.json run.json run.log equity.csv positions.csv sleeves.csv blotter.csv summary.json report.html; do
  [ -s "$W/run1/$f" ] || ko "missing $f"
done
grep -q "<svg" "$W/run1/report.html" && grep -q "Drawdown" "$W/run1/report.html" && ok "report has charts" || ko "report"
"$PY" - "$W/run1" <<'PYEOF' && ok "run files agree (summary, equity, positions, blotter)" || ko "run files disagree"
import csv, json, sys, math
d = sys.argv[1]
s = json.load(open(d + "/summary.json"))
eq = list(csv.DictReader(open(d + "/equity.csv")))
pos = list(csv.DictReader(open(d + "/positions.csv")))
bl = list(csv.DictReader(open(d + "/blotter.csv")))
cfg = json.load(open(d + "/config.resolved.json"))
assert cfg["strategy"] == "ema_cross" and cfg["params"] == {"fast": 12, "slow": 40}, cfg
assert cfg["costs"]["convention"] == "vectorized" and cfg["orders"]["type"] == "moc", cfg
assert eq[0]["time"] == "2012-01-03" and eq[-1]["time"] == "2019-12-31", (eq[0]["time"], eq[-1]["time"])
assert len(eq) == s["bars"] == len(pos)
last = float(eq[-1]["equity"])
assert abs(last - s["final_equity"]) <= 1e-6 * abs(last), (last, s["final_equity"])
assert abs(last / 400000 - 1 - s["metrics"]["total_return"]) < 1e-8
# sleeves sum to the account; equity = cash + positions value is checked in C; here the
# blotter replays the final positions and the costs
fills = [r for r in bl if r["event"] == "fill"]
assert len(fills) == s["orders"]["fills"] and s["orders"]["fills"] > 50
final = {}
for r in fills:
    final[r["symbol"]] = final.get(r["symbol"], 0.0) + float(r["fill_qty"])
for sym in ("AAPL", "MSFT", "JPM", "XOM"):
    assert abs(final.get(sym, 0.0) - float(pos[-1][sym])) <= 1e-6 * (1 + abs(final.get(sym, 0.0))), sym
assert abs(sum(float(r["cost"]) for r in fills) - s["costs"]) <= 1e-6 * s["costs"]
assert len(s["symbols"]) == 4 and all(x["metrics"]["bars"] > 1500 for x in s["symbols"])
PYEOF

# 3. Traded convention, limit orders, participation cap, pre-trade checks.
"$QA" simulate --config "$W/sim.yaml" --run-dir "$W/run2" --set costs.convention=traded --set orders.type=limit \
  --set orders.price_offset=0.002 --set orders.participation=0.00005 --set orders.tif=gtc --set orders.replace=false \
  --set pretrade.max_position_weight=0.4 --set sizing.max_leverage=3 > "$W/log2" 2>&1 && ok "traded/limit/participation/pre-trade run" || { ko "traded run"; cat "$W/log2"; }
"$PY" - "$W/run2" <<'PYEOF' && ok "partial fills, rejections with reasons" || ko "traded run content"
import csv, json, sys
d = sys.argv[1]
s = json.load(open(d + "/summary.json"))
bl = list(csv.DictReader(open(d + "/blotter.csv")))
assert s["convention"] == "traded" and s["order_type"] == "limit"
assert s["orders"]["partial_fills"] > 0, s["orders"]
assert s["orders"]["rejected"] > 0, s["orders"]
rej = [r for r in bl if r["event"] == "rejected"]
assert len(rej) == s["orders"]["rejected"] and all("of equity" in r["reason"] for r in rej), rej[:2]
for r in bl:
    if r["event"] == "fill":
        q, px, lim = float(r["qty"]), float(r["fill_price"]), float(r["price"])
        assert (px <= lim * (1 + 1e-12)) if q > 0 else (px >= lim * (1 - 1e-12)), r
PYEOF

# 3b. One run per directory (the run directory's lock, pipeline/run/rundir.h): while another
# process holds <run>/.lock, a run into it is refused at once, naming the holder, and leaves
# the directory's files alone; after a run, and after a run killed with -9, the lock is free.
cp "$W/run1/run.json" "$W/run1.json.before"
flock "$W/run1/.lock" sh -c "echo 4242 > '$W/run1/.lock'; '$QA' -q simulate --config '$W/sim.yaml' --run-dir '$W/run1' > '$W/lock.out' 2>&1"; rc=$?
[ $rc -ne 0 ] && grep -q "in use by another run (pid 4242" "$W/lock.out" && cmp -s "$W/run1/run.json" "$W/run1.json.before" \
  && ok "a run into a locked directory is refused: $(grep -o 'run directory.*4242' "$W/lock.out" | head -1)" \
  || { ko "locked run directory: exit $rc"; cat "$W/lock.out"; }
flock -n "$W/run1/.lock" true && ok "the lock is free after the run" || ko "the lock is still held after the run"
"$QA" -q simulate --config "$W/sim.yaml" --run-dir "$W/run1" > /dev/null 2>&1 &
k=$!; sleep 0.3; kill -9 $k 2>/dev/null; wait $k 2>/dev/null
flock -n "$W/run1/.lock" true && ok "the lock is free after kill -9" || ko "the lock outlived a killed run"

# 4. Config errors.
printf 'data: %s\nstrategy: sma_cross\nparams: {fast: 5, slow: 20}\norders: {typ: moc}\n' "$W/m.h5" > "$W/bad.yaml"
"$QA" simulate --config "$W/bad.yaml" --run-dir "$W/bad" > "$W/log3" 2>&1; rc=$?
[ $rc -eq 1 ] && grep -q "bad.yaml:4" "$W/log3" && ok "unknown key names file:line" || { ko "config error"; cat "$W/log3"; }
"$QA" simulate --config "$W/sim.yaml" --run-dir "$W/bad2" --set orders.type=stop > "$W/log4" 2>&1
grep -q "vectorized cost convention" "$W/log4" && ok "vectorized convention refuses stop orders" || { ko "stop with vectorized"; cat "$W/log4"; }
"$QA" simulate --config "$W/sim.yaml" --run-dir "$W/bad3" --set 'symbols=[NOPE]' > "$W/log5" 2>&1
grep -q "NOPE" "$W/log5" && ok "unknown symbol" || { ko "unknown symbol"; cat "$W/log5"; }
"$QA" simulate > /dev/null 2>&1; [ $? -eq 2 ] && ok "usage error" || ko "usage exit code"

# 5. One rules block (trading/rules.h), accepted or refused identically by qa sweep and
#    qa simulate: the same text at the same line of both configs gives the same outcome
#    and, when refused, the same message.
# rules_yaml KEY: a config with the block $rules at line 6, its windows under KEY (grid for
# qa sweep, params for qa simulate)
rules_yaml() {
  cat <<YAML
data: $W/m.h5
symbols: [AAPL, MSFT]
start: 2012-01-03
end: 2016-12-30
strategy: sma_cross
settings: $rules
$1: {fast: 10, slow: 40}
YAML
}

n=0; same=0; accepted=0
while IFS= read -r rules; do
  n=$((n + 1))
  rules_yaml grid > "$W/r_sweep.yaml"
  rules_yaml params > "$W/r_sim.yaml"
  "$QA" -q sweep --check --config "$W/r_sweep.yaml" > "$W/r1" 2>&1; a=$?
  "$QA" -q simulate --config "$W/r_sim.yaml" --run-dir "$W/r_run$n" > "$W/r2" 2>&1; b=$?
  m1=$(grep -o "key '[^']*'.*" "$W/r1" | head -1); m2=$(grep -o "key '[^']*'.*" "$W/r2" | head -1)
  [ $a -eq 0 ] && [ $b -eq 0 ] && accepted=$((accepted + 1))
  if [ $a -eq $b ] && [ "$m1" = "$m2" ] && { [ $a -eq 0 ] || [ -n "$m1" ]; }; then same=$((same + 1)); else ko "rules block $n ($rules): sweep exit $a '$m1', simulate exit $b '$m2'"; fi
done <<'RULES'
{commission_bps: 1, half_spread_bps: 2}
{costs: {commission_bps: 1, half_spread_bps: 2, fixed_cost: 1}, capital: 400000}
{direction: long_only, stop_loss: 0.05, sizing: vol_target, target_vol: 0.1, vol_window: 30}
{sizing: {method: vol_target, max_leverage: 1.5}, stops: {take_profit: 0.2}}
{commission_bps: 20000}
{costs: {impact_coef: 5000}}
{vol_window: 20000000}
{sizing: kelly}
{comission_bps: 1}
{commission_bps: 1, costs: {commission_bps: 2}}
{capital: 0}
RULES
[ $same -eq $n ] && [ $accepted -eq 4 ] && ok "$n rules blocks accepted (4) or refused (with the same message) identically by qa sweep and qa simulate" \
  || ko "rules blocks: $same of $n identical, $accepted accepted (expected 4)"
exit $fail
