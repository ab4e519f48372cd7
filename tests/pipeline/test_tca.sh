#!/bin/sh
# qa tca end to end: a Python script builds an order database (quantumalpha.orders v1,
# the documented schema, with Python's sqlite3) over the shipped 5-minute sample
# (stocks-5min: AAPL, MSFT, NVDA), and computes every expected figure itself from the
# market file's bars (read with h5py) by the formulas of docs/tca.md:
#   P1 buy  AAPL twap  filled by two children (3 fills), day 1
#   P2 sell MSFT vwap  partly filled (one child partly, one cancelled), day 1
#   P3 buy  NVDA pov   arrived, never filled (opportunity cost only), day 2
#   P4 buy  AAPL       rejected by risk (counted, not measured), day 2
#   P5 sell AAPL       never arrived (expired): arrival figures and VWAP null, day 2
#   P6 buy  MSFT       another strategy, filled by one child, day 2
# Checks (relative 1e-9: both sides are double sums of the same terms, only the order
# of a few additions may differ):
#   1. tca_orders.csv, tca_days.csv and summary.json equal the oracle; report.html has SVG;
#   2. --strategy and --from/--to keep only the matching parents;
#   3. bad inputs fail with a message naming the file and what was expected, and leave
#      no outputs: another format name, a newer version, a missing table, a symbol the
#      market file lacks, an infinite price, a file that is not SQLite.
QA="$1"; SRC="$2"; PY="${3:-/usr/bin/python3}"
. "$SRC/tests/lib.sh"
"$PY" -c "import h5py, numpy" 2>/dev/null || { echo "skipped: python3 with h5py and numpy is needed"; exit 77; }
qa_tmpdir tca
qa_import stocks-5min "$W/m5.h5"

cat > "$W/build.py" <<'PYEOF'
"""build.py MARKET DB [VARIANT]: writes the order database; oracle() gives the expected figures."""
import sqlite3, sys, math, json
import h5py, numpy as np

SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE orders(clordid TEXT PRIMARY KEY, parent TEXT, strategy TEXT NOT NULL, symbol TEXT NOT NULL,
  side INTEGER NOT NULL, qty REAL NOT NULL, type TEXT NOT NULL, limit_price REAL, algo TEXT, state TEXT NOT NULL,
  filled REAL NOT NULL DEFAULT 0, avg_price REAL, fees REAL NOT NULL DEFAULT 0, decision_time INTEGER NOT NULL,
  decision_price REAL NOT NULL, arrival_time INTEGER, arrival_price REAL, created INTEGER NOT NULL,
  updated INTEGER NOT NULL, reason TEXT);
CREATE TABLE fills(trade_id TEXT PRIMARY KEY, clordid TEXT NOT NULL, parent TEXT, symbol TEXT NOT NULL,
  side INTEGER NOT NULL, qty REAL NOT NULL, price REAL NOT NULL, fee REAL NOT NULL, time INTEGER NOT NULL,
  bar_volume REAL);
CREATE TABLE transitions(seq INTEGER PRIMARY KEY, clordid TEXT NOT NULL, time INTEGER NOT NULL, from_state TEXT,
  to_state TEXT NOT NULL, event TEXT NOT NULL, detail TEXT);
"""

class Market:
    def __init__(self, path):
        with h5py.File(path, "r") as f:
            self.sym = [s.decode() for s in f["symbols"][:]]
            self.t = f["time"][:]
            self.b = {k: f["bars/" + k][:] for k in ("open", "close", "volume")}
        day = self.t // 86400_000_000_000
        self.day2 = int(np.argmax(day != day[0]))  # first bar of the second day
    def bar(self, field, sym, i):
        return float(self.b[field][self.sym.index(sym), i])

def parents(m):
    """(parent row, children [(row, fills)]) with bar indices; prices from the bars."""
    d2 = m.day2
    P = []
    def par(cid, strat, sym, side, qty, algo, state, dec, arr, upd, reason=None):
        return dict(clordid=cid, parent=None, strategy=strat, symbol=sym, side=side, qty=qty, type="parent",
                    algo=algo, state=state, dec=dec, arr=arr, upd=upd, reason=reason)
    def fill(tid, i, qty, dp, fee, price=None):
        return dict(trade_id=tid, i=i, qty=qty, dp=dp, fee=fee, price=price)
    P.append((par("P1", "mom", "AAPL", 1, 100.0, "twap", "filled", 2, 3, 6),
              [("P1-1", "market", "filled", [fill("T1", 3, 60.0, 0.01, 0.5, "open"), fill("T2", 4, 15.0, 0.02, 0.12)]),
               ("P1-2", "market", "filled", [fill("T3", 6, 25.0, -0.01, 0.2)])]))
    P.append((par("P2", "mom", "MSFT", -1, 200.0, "vwap", "partially_filled", 10, 11, 20),
              [("P2-1", "limit", "cancelled", [fill("T4", 11, 70.0, -0.03, 0.4), fill("T5", 13, 50.0, 0.05, 0.3)]),
               ("P2-2", "limit", "cancelled", [])]))
    P.append((par("P3", "mom", "NVDA", 1, 50.0, "pov", "cancelled", d2 + 2, d2 + 3, d2 + 9),
              [("P3-1", "limit", "cancelled", [])]))
    P.append((par("P4", "mom", "AAPL", 1, 1000.0, "immediate", "rejected", d2 + 4, None, d2 + 4,
                  "max_position: 1000 shares over the 500 limit"), []))
    P.append((par("P5", "mom", "AAPL", -1, 30.0, "immediate", "expired", d2 + 12, None, d2 + 13), []))
    P.append((par("P6", "meanrev", "MSFT", 1, 10.0, "immediate", "filled", d2 + 20, d2 + 21, d2 + 21),
              [("P6-1", "market", "filled", [fill("T6", d2 + 21, 10.0, 0.0, 0.05, "open")])]))
    return P

def fill_price(m, sym, f):
    base = m.bar("open", sym, f["i"]) if f["price"] == "open" else m.bar("close", sym, f["i"])
    return base + f["dp"]

def build(market, db, variant=""):
    m = Market(market)
    con = sqlite3.connect(db)
    con.executescript(SCHEMA)
    fmt, ver = "quantumalpha.orders", "1"
    if variant == "format": fmt = "quantumalpha.trades"
    if variant == "version": ver = "2"
    con.execute("INSERT INTO meta VALUES('format',?)", (fmt,))
    con.execute("INSERT INTO meta VALUES('format_version',?)", (ver,))
    for p, kids in parents(m):
        sym = p["symbol"]
        if variant == "symbol" and p["clordid"] == "P3": sym = "TSLA"
        dec_t, dec_px = int(m.t[p["dec"]]), m.bar("close", p["symbol"], p["dec"])
        if variant == "inf" and p["clordid"] == "P2": dec_px = float("inf")
        arr_t = int(m.t[p["arr"]]) if p["arr"] is not None else None
        arr_px = m.bar("open", p["symbol"], p["arr"]) if p["arr"] is not None else None
        allf = [f for _, _, _, fs in kids for f in fs]
        q = sum(f["qty"] for f in allf)
        con.execute("INSERT INTO orders(clordid,parent,strategy,symbol,side,qty,type,algo,state,filled,fees,"
                    "decision_time,decision_price,arrival_time,arrival_price,created,updated,reason)"
                    " VALUES(?,NULL,?,?,?,?,'parent',?,?,?,?,?,?,?,?,?,?,?)",
                    (p["clordid"], p["strategy"], sym, p["side"], p["qty"], p["algo"], p["state"], q,
                     sum(f["fee"] for f in allf), dec_t, dec_px, arr_t, arr_px, dec_t, int(m.t[p["upd"]]), p["reason"]))
        for cid, typ, state, fs in kids:
            cq = sum(f["qty"] for f in fs)
            con.execute("INSERT INTO orders(clordid,parent,strategy,symbol,side,qty,type,limit_price,state,filled,"
                        "fees,decision_time,decision_price,arrival_time,arrival_price,created,updated)"
                        " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (cid, p["clordid"], p["strategy"], sym, p["side"], max(cq, 10.0), typ,
                         dec_px if typ == "limit" else None, state, cq, sum(f["fee"] for f in fs), dec_t, dec_px,
                         arr_t, arr_px, dec_t, int(m.t[p["upd"]])))
            for f in fs:
                con.execute("INSERT INTO fills VALUES(?,?,?,?,?,?,?,?,?,?)",
                            (f["trade_id"], cid, p["clordid"], sym, p["side"], f["qty"], fill_price(m, p["symbol"], f),
                             f["fee"], int(m.t[f["i"]]), m.bar("volume", p["symbol"], f["i"])))
    if variant == "notable":
        con.execute("DROP TABLE fills")
    con.commit()
    con.close()

def oracle(market, keep=lambda p: True):
    """Expected per-order rows (dict by clordid), per-day rows and overall, by the formulas."""
    m = Market(market)
    orders, rejected = {}, []
    for p, kids in parents(m):
        if not keep(p): continue
        day = str(np.datetime64(int(m.t[p["dec"]]), "ns").astype("datetime64[D]"))
        if p["state"] == "rejected":
            rejected.append((day, p)); continue
        sym, s, Q = p["symbol"], p["side"], p["qty"]
        si = m.sym.index(sym)
        Pd = m.bar("close", sym, p["dec"])
        Pa = m.bar("open", sym, p["arr"]) if p["arr"] is not None else None
        fills = sorted([f for _, _, _, fs in kids for f in fs], key=lambda f: (f["i"], f["trade_id"]))
        q = sum(f["qty"] for f in fills)
        px = [fill_price(m, sym, f) for f in fills]
        notional = sum(f["qty"] * x for f, x in zip(fills, px))
        fees = sum(f["fee"] for f in fills)
        end_i = max(f["i"] for f in fills) if fills else p["upd"]
        Pend = m.bar("close", sym, end_i)
        o = dict(side=s, qty=Q, filled=q, decision_price=Pd, arrival_price=Pa, end_price=Pend,
                 end_time=int(m.t[end_i]), fill_rate=q / Q, fees=fees, filled_notional=notional,
                 avg_price=notional / q if q > 0 else None, children=len(kids), fills=len(fills), day=day,
                 outcome="filled" if q >= Q else ("partial" if q > 0 else "unfilled"))
        def shortfall(P0):
            ex = s * sum(f["qty"] * (x - P0) for f, x in zip(fills, px))
            op = s * (Q - q) * (Pend - P0)
            den = Q * P0
            return 1e4 * (ex + op + fees) / den, 1e4 * ex / den, 1e4 * op / den, 1e4 * fees / den
        o["is_dec_bps"], o["is_dec_exec_bps"], o["is_dec_opp_bps"], o["is_dec_fee_bps"] = shortfall(Pd)
        if Pa is not None:
            o["is_arr_bps"], o["is_arr_exec_bps"], o["is_arr_opp_bps"], o["is_arr_fee_bps"] = shortfall(Pa)
            sel = (m.t >= m.t[p["arr"]]) & (m.t <= m.t[end_i])
            c, v = m.b["close"][si][sel], m.b["volume"][si][sel]
            vwap = float((c * v).sum() / v.sum())
            o["interval_vwap"], o["interval_volume"] = vwap, float(v.sum())
            o["participation"] = q / float(v.sum())
            o["duration_s"] = (int(m.t[end_i]) - int(m.t[p["arr"]])) / 1e9
            o["vwap_slippage_bps"] = 1e4 * s * (notional / q - vwap) / vwap if q > 0 else None
        else:
            for k in ("is_arr_bps", "is_arr_exec_bps", "is_arr_opp_bps", "is_arr_fee_bps", "interval_vwap",
                      "participation", "duration_s", "vwap_slippage_bps", "arrival_price"):
                o[k] = None
            o["interval_volume"] = 0.0
        o["fee_bps"] = 1e4 * fees / notional if q > 0 else None
        orders[p["clordid"]] = o
    BPS = ["is_dec_bps", "is_dec_exec_bps", "is_dec_opp_bps", "is_dec_fee_bps", "is_arr_bps", "is_arr_exec_bps",
           "is_arr_opp_bps", "is_arr_fee_bps", "vwap_slippage_bps", "fee_bps"]
    def agg(os, rej):
        a = {k: sum(1 for o in os if o["outcome"] == k) for k in ("filled", "partial", "unfilled")}
        a["rejected"] = len(rej)
        a["shares_ordered"] = sum(o["qty"] for o in os)
        a["shares_filled"] = sum(o["filled"] for o in os)
        a["notional_ordered"] = sum(o["qty"] * o["decision_price"] for o in os)
        a["notional_filled"] = sum(o["filled_notional"] for o in os)
        a["fees"] = sum(o["fees"] for o in os)
        for k in BPS:
            w = [(o["qty"] * o["decision_price"], o[k]) for o in os if o[k] is not None]
            a[k] = sum(x * y for x, y in w) / sum(x for x, _ in w) if w else None
        return a
    days = sorted(set([o["day"] for o in orders.values()] + [d for d, _ in rejected]))
    per_day = {d: agg([o for o in orders.values() if o["day"] == d], [p for dd, p in rejected if dd == d])
               for d in days}
    return orders, per_day, agg(list(orders.values()), [p for _, p in rejected]), rejected

if __name__ == "__main__":
    build(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "")
PYEOF

cat > "$W/check.py" <<'PYEOF'
"""check.py MARKET OUT [STRATEGY|-] [FROM_DAY_INDEX]: the outputs in OUT equal the oracle."""
import sys, csv, json, math
sys.path.insert(0, sys.argv[0].rsplit("/", 1)[0])
from build import oracle, Market
market, out = sys.argv[1], sys.argv[2]
strategy = sys.argv[3] if len(sys.argv) > 3 and sys.argv[3] != "-" else None
day2_only = len(sys.argv) > 4
m = Market(market)
d2 = m.day2
keep = lambda p: (strategy is None or p["strategy"] == strategy) and (not day2_only or p["dec"] >= d2)
orders, days, overall, rejected = oracle(market, keep)
bad = []
def same(what, got, want):
    if want is None:
        if got not in ("", None): bad.append("%s: got %r, expected null" % (what, got))
        return
    if isinstance(want, str):
        if str(got) != want: bad.append("%s: got %r, expected %r" % (what, got, want))
        return
    if got in ("", None):
        bad.append("%s: null, expected %r" % (what, want)); return
    g = float(got)
    if not abs(g - want) <= 1e-9 * abs(want) + 1e-12:
        bad.append("%s: got %.17g, expected %.17g" % (what, g, want))
rows = list(csv.DictReader(open(out + "/tca_orders.csv")))
if [r["clordid"] for r in rows] != [c for c in orders]:
    bad.append("orders: got %s, expected %s" % ([r["clordid"] for r in rows], list(orders)))
for r in rows:
    o = orders.get(r["clordid"])
    if o is None: continue
    for k, v in o.items():
        same("%s.%s" % (r["clordid"], k), r[k], v)
drows = list(csv.DictReader(open(out + "/tca_days.csv")))
if [r["day"] for r in drows] != list(days): bad.append("days: %s vs %s" % ([r["day"] for r in drows], list(days)))
for r in drows:
    for k, v in days.get(r["day"], {}).items(): same("day %s.%s" % (r["day"], k), r[k], v)
s = json.load(open(out + "/summary.json"))
same("summary.format", s["format"], "quantumalpha.tca")
for k, v in overall.items():
    got = s["overall"]["parents"][k] if k in ("filled", "partial", "unfilled", "rejected") else s["overall"][k]
    same("overall." + k, got, v)
for jd in s["days"]:
    for k, v in days[jd["day"]].items():
        got = jd["parents"][k] if k in ("filled", "partial", "unfilled", "rejected") else jd[k]
        same("summary day %s.%s" % (jd["day"], k), got, v)
if [x["clordid"] for x in s["rejected"]] != [p["clordid"] for _, p in rejected]:
    bad.append("rejected: %s" % s["rejected"])
if bad:
    print("\n".join(bad[:30])); sys.exit(1)
print("%d orders, %d days, %d figures compared" % (len(rows), len(drows), sum(len(o) for o in orders.values())))
PYEOF

# 1. The full analysis equals the oracle.
"$PY" "$W/build.py" "$W/m5.h5" "$W/orders.db" || { echo "FAIL: building orders.db"; exit 1; }
if "$QA" -q tca --orders "$W/orders.db" --data "$W/m5.h5" --out "$W/out" > "$W/run.txt" 2> "$W/run.err"; then
  "$PY" "$W/check.py" "$W/m5.h5" "$W/out" && ok "orders, days and summary equal the oracle (1e-9 relative)" \
    || ko "outputs differ from the oracle"
  grep -q "<svg" "$W/out/report.html" && [ "$(grep -c '<svg' "$W/out/report.html")" -ge 4 ] \
    && ok "report.html holds the SVG charts" || ko "report.html has no SVG charts"
  grep -q "5 parents\|6 parents" "$W/run.txt" && ok "the command prints a summary line" || ko "summary line: $(cat "$W/run.txt")"
  ls -a "$W/out" | grep -q '\.tmp' && ko "temporary files left in the output directory" || ok "no temporary files left"
else
  ko "qa tca failed: $(cat "$W/run.err")"
fi

# 2. Filters: one strategy; decisions from the second day on.
"$QA" -q tca --orders "$W/orders.db" --data "$W/m5.h5" --out "$W/out_s" --strategy meanrev > /dev/null 2>&1 \
  && "$PY" "$W/check.py" "$W/m5.h5" "$W/out_s" meanrev && ok "--strategy keeps that strategy's parents" \
  || ko "--strategy"
D2=$("$PY" -c "
import sys; sys.path.insert(0, '$W'); from build import Market; import numpy as np
m = Market('$W/m5.h5'); print(np.datetime64(int(m.t[m.day2]), 'ns').astype('datetime64[D]'))")
"$QA" -q tca --orders "$W/orders.db" --data "$W/m5.h5" --out "$W/out_d" --from "$D2" --to 2026-12-31 > /dev/null 2>&1 \
  && "$PY" "$W/check.py" "$W/m5.h5" "$W/out_d" - day2 && ok "--from/--to keep the parents decided in the period" \
  || ko "--from/--to"

# 3. Bad inputs: a clear message naming the file and what was expected; exit 1; no outputs.
bad_input() {  # VARIANT EXPECTED-TEXT LABEL
  rm -f "$W/bad.db"
  if [ "$1" = notsqlite ]; then echo "clordid,qty" > "$W/bad.db"; else "$PY" "$W/build.py" "$W/m5.h5" "$W/bad.db" "$1"; fi
  "$QA" -q tca --orders "$W/bad.db" --data "$W/m5.h5" --out "$W/out_bad_$1" > /dev/null 2> "$W/bad.err"
  rc=$?
  if [ $rc = 1 ] && grep -q "$2" "$W/bad.err" && grep -q "bad.db\|m5.h5" "$W/bad.err" && [ ! -e "$W/out_bad_$1/tca_orders.csv" ]; then
    ok "$3 refused: $(head -1 "$W/bad.err")"
  else
    ko "$3: exit $rc, $(cat "$W/bad.err")"
  fi
}
bad_input format "expected 'quantumalpha.orders'" "another format name"
bad_input version "newer than this qa reads" "a newer format version"
bad_input notable "no table 'fills'" "a missing table"
bad_input symbol "no symbol 'TSLA'" "a symbol the market file lacks"
bad_input inf "decision_price is 'Inf'" "an infinite decision price"
bad_input notsqlite "not a database" "a file that is not SQLite"
"$QA" -q tca --orders "$W/orders.db" --data "$W/m5.h5" > /dev/null 2>&1
[ $? = 2 ] && ok "a missing --out is a usage error (exit 2)" || ko "missing --out"
qa_exit
