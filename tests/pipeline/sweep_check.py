#!/usr/bin/python3
"""Independent checks of `qa sweep` outputs (used by test_sweep.sh).

  sweep_check.py metrics RUN_DIR MARKET.h5     per-symbol and portfolio metrics of hand-picked
                                               (symbol, set) cases recomputed here from the
                                               definitions in docs/backtest.md (float64)
  sweep_check.py same RUN_A RUN_B              results.h5 identical bit for bit, same best lists
  sweep_check.py layout RUN_DIR                results.h5 / summary.json / top.csv / report.html shape
  sweep_check.py walkforward RUN_DIR MARKET.h5 START END TRAIN_YEARS TEST_YEARS ANCHORED
                                               sma_cross walk-forward (per symbol, select_by sharpe):
                                               windows from the dates and lengths given here,
                                               every in-sample choice, the out-of-sample returns
                                               and stitched metrics recomputed here

The backtest here is a straightforward loop over one symbol's observations, written from
the documentation, not from the engine: moving averages summed newest first (the canonical
order the documentation fixes, so that every fast-vs-slow comparison has the same outcome),
positions, costs, the equity path and every metric formula.
"""
import csv
import json
import math
import sys

import h5py
import numpy as np


def sma_cross_series(close, t_begin, t_end, fast, slow, cost):
    """Returns (R, pos, held, entries) over the P&L bars of one symbol (long/short, size 1)."""
    obs = [t for t in range(t_end) if not math.isnan(close[t])]
    c = [close[t] for t in obs]
    n = len(obs)
    i0 = next((i for i, t in enumerate(obs) if t >= t_begin), n)

    def mean(i, w):
        if i < w - 1:
            return None
        s = 0.0
        for k in range(w):  # newest first
            s = s + c[i - k]
        return s / w

    R, P, H, E = [], [], [], 0
    q_prev = 0
    bars_t = []
    for i in range(i0 + 1, n):
        mf, ms = mean(i, fast), mean(i, slow)
        q = 0 if (mf is None or ms is None or mf == ms) else (1 if mf > ms else -1)
        r = c[i] / c[i - 1] - 1.0
        R.append(q_prev * r - cost * abs(q - q_prev))
        H.append(q_prev != 0)
        if q != 0 and q != q_prev:
            E += 1
        P.append(q)
        bars_t.append(obs[i])
        q_prev = q
    return np.array(R), np.array(P, dtype=float), np.array(H), E, bars_t


def metrics(R, pos, held, entries, bpy):
    n = len(R)
    out = {"bars": n, "trades": entries}
    E, peak, worst, uw, maxuw = 1.0, 1.0, 1.0, 0, 0
    for x in R:
        E = E * (1.0 + x)
        peak = max(peak, E)
        worst = min(worst, E / peak)
        uw = uw + 1 if E < peak else 0
        maxuw = max(maxuw, uw)
    out["total_return"] = E - 1.0 if n else 0.0
    out["max_drawdown"] = worst - 1.0
    out["max_dd_duration"] = maxuw
    out["cagr"] = E ** (bpy / n) - 1.0 if n else float("nan")
    mean = R.mean() if n else float("nan")
    sd = R.std(ddof=1) if n >= 2 else float("nan")
    out["ann_vol"] = sd * math.sqrt(bpy)
    out["sharpe"] = mean / sd * math.sqrt(bpy) if sd > 0 else float("nan")
    down = math.sqrt((np.minimum(R, 0) ** 2).sum() / n) if n else float("nan")
    out["sortino"] = mean / down * math.sqrt(bpy) if down > 0 else float("nan")
    out["calmar"] = out["cagr"] / -out["max_drawdown"] if out["max_drawdown"] < 0 else float("nan")
    nh = int(held.sum())
    out["hit_rate"] = ((R > 0) & held).sum() / nh if nh else float("nan")
    prev = np.concatenate([[0.0], pos[:-1]])
    out["turnover"] = np.abs(pos - prev).sum()
    out["exposure"] = nh / n if n else float("nan")
    return out


def close_enough(name, got, ref, rtol=1e-9, atol=1e-12):
    if isinstance(ref, float) and math.isnan(ref):
        return math.isnan(got)
    if name in ("bars", "trades", "max_dd_duration"):
        return int(got) == int(ref)
    return abs(got - ref) <= atol + rtol * abs(ref)


def check_metrics(run, market):
    res = h5py.File(run + "/results.h5", "r")
    mk = h5py.File(market, "r")
    syms = list(res["symbols"].asstr()[:])
    file_syms = list(mk["symbols"].asstr()[:])
    names = list(res["param_names"].asstr()[:])
    params = res["params"][:]
    t_begin, t_end = int(res.attrs["t_begin"]), int(res.attrs["t_end"])
    bpy = float(res.attrs["bars_per_year"])
    cfg = json.load(open(run + "/config.resolved.json"))
    st = cfg["settings"]
    cost = (st["commission_bps"] + st["half_spread_bps"]) * 1e-4
    assert names == ["fast", "slow"], names
    close = mk["bars/close"]
    cases = [("AAPL", 5, 20), ("NVDA", 50, 200), ("DD", 10, 110), ("KO", 20, 80), ("AMZN", 5, 200)]
    checked = 0
    series = {}
    for sym, f, s in cases:
        si = syms.index(sym)
        p = [k for k in range(len(params)) if params[k][0] == f and params[k][1] == s]
        assert len(p) == 1, (f, s)
        p = p[0]
        cl = close[file_syms.index(sym), :]
        R, pos, held, ent, bt = sma_cross_series(cl, t_begin, t_end, f, s, cost)
        ref = metrics(R, pos, held, ent, bpy)
        for m, v in ref.items():
            got = res["metrics/" + m][si, p]
            assert close_enough(m, float(got), float(v)), (sym, f, s, m, got, v)
            checked += 1
        print("  %s fast=%d slow=%d: %d bars, %d trades, Sharpe %.6f, total return %.6f (%d metrics match)" %
              (sym, f, s, ref["bars"], ref["trades"], ref["sharpe"], ref["total_return"], len(ref)))
    # the equal-weight portfolio of set (5, 20): mean of the symbols' R on each bar
    if "portfolio" in res:
        p = [k for k in range(len(params)) if params[k][0] == 5 and params[k][1] == 20][0]
        L = t_end - t_begin
        num = np.zeros(L)
        den = np.zeros(L)
        held_any = np.zeros(L, dtype=bool)
        turn = np.zeros(L)
        trades = 0
        for sym in syms:
            cl = close[file_syms.index(sym), :]
            R, pos, held, ent, bt = sma_cross_series(cl, t_begin, t_end, 5, 20, cost)
            prev = np.concatenate([[0.0], pos[:-1]])
            for j, t in enumerate(bt):
                num[t - t_begin] += R[j]
                den[t - t_begin] += 1
                turn[t - t_begin] += abs(pos[j] - prev[j])
                held_any[t - t_begin] |= held[j]
            trades += ent
        m = den > 0
        Rp = num[m] / den[m]
        ref = metrics(Rp, np.zeros(len(Rp)), held_any[m], trades, bpy)
        for k in ("total_return", "sharpe", "max_drawdown", "cagr", "ann_vol", "sortino", "bars", "trades", "exposure"):
            got = res["portfolio/metrics/" + k][p]
            assert close_enough(k, float(got), float(ref[k])), ("portfolio", k, got, ref[k])
        tref = (turn[m] / den[m]).sum()
        assert close_enough("turnover", float(res["portfolio/metrics/turnover"][p]), tref)
        print("  portfolio fast=5 slow=20 over %d symbols: Sharpe %.6f, total return %.6f match" %
              (len(syms), ref["sharpe"], ref["total_return"]))
    print("checked %d metrics against the straightforward implementation (rtol 1e-9)" % checked)


def all_datasets(f):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj) if isinstance(obj, h5py.Dataset) else None)
    return out


def check_same(a, b):
    fa, fb = h5py.File(a + "/results.h5", "r"), h5py.File(b + "/results.h5", "r")
    da, db = all_datasets(fa), all_datasets(fb)
    assert sorted(da) == sorted(db), (sorted(set(da) ^ set(db)))
    for k in da:
        x, y = da[k][()], db[k][()]
        if x.dtype.kind == "f":
            assert x.shape == y.shape and np.array_equal(x.view(np.uint64), y.view(np.uint64)), k  # bit for bit
        else:
            assert np.array_equal(x, y), k
    for k in fa.attrs:
        assert str(fa.attrs[k]) == str(fb.attrs[k]), k
    sa, sb = json.load(open(a + "/summary.json")), json.load(open(b + "/summary.json"))
    for k in ("best_runs", "best_sets", "multiple_testing", "walk_forward", "counts"):
        assert sa.get(k) == sb.get(k), k
    assert open(a + "/top.csv").read() == open(b + "/top.csv").read()
    print("identical: %d datasets bit for bit, summary best lists, multiple testing, walk-forward, top.csv" % len(da))


def check_layout(run):
    res = h5py.File(run + "/results.h5", "r")
    assert res.attrs["format"] == "quantumalpha.sweep" and res.attrs["format_version"] == 1
    S, P = int(res.attrs["symbols"]), int(res.attrs["params"])
    for m in ("total_return", "cagr", "ann_vol", "sharpe", "sortino", "max_drawdown", "calmar", "hit_rate",
              "turnover", "exposure", "bars", "max_dd_duration", "trades"):
        assert res["metrics/" + m].shape == (S, P), m
    assert res["params"].shape[0] == P and res["symbols"].shape == (S,)
    L = res["time"].shape[0]
    assert res["best/runs/equity"].shape[1] == L
    s = json.load(open(run + "/summary.json"))
    assert s["counts"]["runs"] == S * P
    top = list(csv.DictReader(open(run + "/top.csv")))
    assert len(top) == len(s["best_runs"]) and top[0]["symbol"] == s["best_runs"][0]["symbol"]
    # top.csv is sorted by the rank metric and agrees with the metric datasets
    rank_by = s["rank_by"]
    vals = [float(r[rank_by]) for r in top]
    assert vals == sorted(vals, reverse=True), vals
    sh = res["metrics/" + rank_by][:]
    assert abs(np.nanmax(sh) - vals[0]) == 0, (np.nanmax(sh), vals[0])
    html = open(run + "/report.html").read()
    for needle in ("<svg", "Best runs", "Parameter landscape", "Distributions across all runs"):
        assert needle in html, needle
    print("layout ok: %d symbols x %d sets, %d bars, %d best runs; report has %d charts" %
          (S, P, L, len(top), html.count("<svg")))


def sma_newest_first(c, w):
    """Means of w closes ending at each observation (NaN before w exist), summed newest
    first as in sma_cross_series (the same additions in the same order, vectorised)."""
    out = np.full(len(c), np.nan)
    if len(c) < w:
        return out
    acc = c[w - 1:].copy()
    for k in range(1, w):
        acc = acc + c[w - 1 - k:len(c) - k]
    out[w - 1:] = acc / w
    return out


def sharpe(R, bpy):
    if len(R) < 2:
        return float("nan")
    sd = R.std(ddof=1)
    return R.mean() / sd * math.sqrt(bpy) if sd > 0 else float("nan")


def check_walkforward(run, market, start, end, train_years, test_years, anchored):
    """Walk-forward of an sma_cross sweep selecting per symbol by Sharpe, recomputed from
    docs/sweep.md ("Walk-forward") and docs/backtest.md: window k trains on
    [t0 + k*step, t0 + train + k*step) (anchored: from t0) and tests on the next `test`
    bars (the last one cut at the end); the set with the best in-sample Sharpe (strict
    improvement, lowest index on ties, NaN never) runs flat-started over
    [test_begin - 1, test_end); the test windows' returns, back to back, are the stitched
    series."""
    res, mk = h5py.File(run + "/results.h5", "r"), h5py.File(market, "r")
    cfg = json.load(open(run + "/config.resolved.json"))
    st = cfg["settings"]
    cost = (st["commission_bps"] + st["half_spread_bps"]) * 1e-4
    bpy = float(mk.attrs["bars_per_year"])
    time = mk["time"][:]
    day = lambda d: np.datetime64(d, "ns").astype(np.int64)
    t0 = int(np.searchsorted(time, day(start)))                                  # first bar on or after start
    t1 = int(np.searchsorted(time, day(end) + 86400 * 10**9))                     # past the end date's day
    train, test = int(round(train_years * bpy)), int(round(test_years * bpy))
    wins = []
    k = 0
    while t0 + train + k * test < t1:
        te = t0 + train + k * test
        wins.append((t0 if anchored else t0 + k * test, te, te, min(te + test, t1)))
        k += 1
    got = res["walkforward/windows"][:]
    assert got.shape == (len(wins), 4) and (got == np.array(wins)).all(), (got.tolist(), wins)
    # the shape of the windows, stated directly
    for k, (trb, tre, tsb, tse) in enumerate(wins):
        assert tsb == tre and tse > tsb
        if anchored:
            assert trb == t0, "anchored: every training window starts at the start"
        if k:
            assert tre > wins[k - 1][1], "training end grows"
            assert tsb == wins[k - 1][3], "test windows are contiguous and do not overlap"
    assert wins[-1][3] == t1, "the test windows reach the end"
    assert bool(res["walkforward"].attrs["anchored"]) == anchored

    file_syms = list(mk["symbols"].asstr()[:])
    series = list(res["walkforward/series"].asstr()[:])
    params = res["params"][:]
    chosen, isv, oosv = res["walkforward/param_index"][:], res["walkforward/is_value"][:], res["walkforward/oos_value"][:]
    oos = res["walkforward/oos_returns"][:]
    base = wins[0][2]
    assert oos.shape == (len(series), t1 - base), (oos.shape, t1 - base)
    stitched = {x["series"]: x for x in json.load(open(run + "/summary.json"))["walk_forward"]["stitched"]}
    close = mk["bars/close"]
    counts = {"windows": len(wins), "choices": 0, "flat": 0, "oos_bars": 0}
    for j, sym in enumerate(series):
        cl = close[file_syms.index(sym), :t1]
        obs = np.flatnonzero(~np.isnan(cl))
        c = cl[obs]
        sma = {int(w): sma_newest_first(c, int(w)) for w in np.unique(params)}
        def returns(p, b, e):
            """Flat-started P&L of set p over the observations of bars [b, e): R and their bars."""
            f, s = int(params[p][0]), int(params[p][1])
            i0, i1 = np.searchsorted(obs, b), np.searchsorted(obs, e)
            if i1 - i0 < 2:
                return np.zeros(0), np.zeros(0, dtype=int)
            mf, ms = sma[f][i0 + 1:i1], sma[s][i0 + 1:i1]
            q = np.where(np.isnan(mf) | np.isnan(ms) | (mf == ms), 0.0, np.where(mf > ms, 1.0, -1.0))
            qprev = np.concatenate([[0.0], q[:-1]])
            r = c[i0 + 1:i1] / c[i0:i1 - 1] - 1.0
            return qprev * r - cost * np.abs(q - qprev), obs[i0 + 1:i1]
        ref = np.full(t1 - base, np.nan)
        for k, (trb, tre, tsb, tse) in enumerate(wins):
            best, bval, vals = -1, float("nan"), []
            for p in range(len(params)):
                v = sharpe(returns(p, trb, tre)[0], bpy)
                vals.append(v)
                if not math.isnan(v) and (math.isnan(bval) or v > bval):
                    best, bval = p, v
            g = int(chosen[k, j])
            if g != best:  # only a tie within rounding may pick another set
                assert g >= 0 and best >= 0 and abs(vals[g] - bval) <= 1e-9 * abs(bval), (sym, k, g, best, vals)
            counts["choices"] += 1
            if best < 0:
                assert math.isnan(isv[k, j]) and np.isnan(oos[j, tsb - base:tse - base]).all(), (sym, k)
                counts["flat"] += 1
                continue
            assert close_enough("sharpe", float(isv[k, j]), bval), (sym, k, isv[k, j], bval)
            R, bars = returns(g, tsb - 1, tse)
            assert close_enough("sharpe", float(oosv[k, j]), sharpe(R, bpy)), (sym, k, oosv[k, j], sharpe(R, bpy))
            ref[bars - base] = R
        m = ~np.isnan(ref)
        g = oos[j]
        assert (np.abs(g[m] - ref[m]) <= 1e-12 + 1e-9 * np.abs(ref[m])).all(), \
            (sym, np.flatnonzero(np.abs(g[m] - ref[m]) > 1e-12 + 1e-9 * np.abs(ref[m]))[:5])
        assert np.all(np.isnan(g[~m]) | (g[~m] == 0)), (sym, "values on bars without a test return")
        counts["oos_bars"] += int(m.sum())
        R = ref[m]
        s = stitched[sym]["metrics"] if "metrics" in stitched[sym] else stitched[sym]
        for name, v in (("sharpe", sharpe(R, bpy)), ("total_return", float(np.prod(1.0 + R) - 1.0))):
            if s.get(name) is None:
                assert math.isnan(v), (sym, name, v)
            else:
                assert close_enough(name, float(s[name]), v), (sym, name, s[name], v)
    print("walk-forward: %(windows)d windows, %(choices)d in-sample choices (%(flat)d flat: no set had a Sharpe), "
          "%(oos_bars)d out-of-sample returns and the stitched metrics match" % counts)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "metrics":
        check_metrics(sys.argv[2], sys.argv[3])
    elif cmd == "same":
        check_same(sys.argv[2], sys.argv[3])
    elif cmd == "layout":
        check_layout(sys.argv[2])
    elif cmd == "walkforward":
        a = sys.argv[2:]
        check_walkforward(a[0], a[1], a[2], a[3], float(a[4]), float(a[5]), a[6] == "anchored")
    else:
        sys.exit("unknown command " + cmd)
