#!/usr/bin/python3
"""Vectorised NumPy moving-average-cross sweep: the comparison point for `qa sweep`.

vectorbt is not installable here (no PyPI), so this reproduces how it computes an MA
crossover grid: rolling means from cumulative sums for every window at once
(vbt.MA.run with many windows), the cross signal broadcast over every (fast, slow)
combination, positions, costs and metrics as whole-array operations (vbt's Portfolio
runs a compiled loop per column; here the per-bar work is array arithmetic). Same grid,
costs and timing rules as bench_sweep (fast 5..50 step 5 x slow 60..240 step 20,
commission 1 bp + half spread 2 bp, long/short, the position set at the close of bar t
earns r(t+1)); metrics: total return, Sharpe, max drawdown, trades (4 of qa sweep's 13).

Usage: bench_sweep_numpy.py MARKET.h5 [--repeats N] [--block SYMBOLS] [--check RESULTS.h5]
Create the market with the same generator as bench_sweep:
  qa data generate --symbols 200 --bars 5040 --seed 42 --out m.h5
With --check, the Sharpe ratios are compared with a qa sweep results.h5 of the same grid
on the same file (qa sweep --config ... with the grid above and no start/end).
"""
import argparse
import json
import resource
import time

import h5py
import numpy as np

FASTS = np.arange(5, 51, 5)
SLOWS = np.arange(60, 241, 20)
COST = 3e-4
BPY = 252.0


def rolling_means(c, windows):
    """c: T x s -> {w: T x s} rolling means (NaN before the window is full), via cumsum."""
    T = c.shape[0]
    cs = np.vstack([np.zeros((1, c.shape[1])), np.cumsum(c, axis=0)])
    out = {}
    for w in windows:
        m = np.full_like(c, np.nan)
        m[w - 1:] = (cs[w:] - cs[:T - w + 1]) / w
        out[w] = m
    return out


def sweep_block(c):
    """c: T x s closes (no gaps) -> dict of metric arrays [s, nf, ns]."""
    mas = rolling_means(c, np.unique(np.concatenate([FASTS, SLOWS])))
    f = np.stack([mas[w] for w in FASTS], axis=-1)[:, :, :, None]  # T x s x nf x 1
    s = np.stack([mas[w] for w in SLOWS], axis=-1)[:, :, None, :]  # T x s x 1 x ns
    pos = np.sign(f - s)                                             # T x s x nf x ns
    pos = np.nan_to_num(pos, nan=0.0)
    pos[0] = 0.0                                                     # flat at the base bar
    ret = (c[1:] / c[:-1] - 1.0)[:, :, None, None]                   # T-1 x s x 1 x 1
    R = pos[:-1] * ret - COST * np.abs(pos[1:] - pos[:-1])           # P&L bars 1..T-1
    E = np.cumprod(1.0 + R, axis=0)
    peak = np.maximum(np.maximum.accumulate(E, axis=0), 1.0)
    n = R.shape[0]
    mean = R.mean(axis=0)
    sd = R.std(axis=0, ddof=1)
    entries = ((pos[1:] != 0) & (pos[1:] != pos[:-1])).sum(axis=0)
    return {"total_return": E[-1] - 1.0, "sharpe": np.where(sd > 0, mean / sd * np.sqrt(BPY), np.nan),
            "max_drawdown": (E / peak).min(axis=0) - 1.0, "trades": entries, "bars": n}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("market")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--block", type=int, default=20)
    ap.add_argument("--check")
    a = ap.parse_args()
    close = h5py.File(a.market, "r")["bars/close"][:]
    S, T = close.shape
    assert not np.isnan(close).any(), "this comparison assumes gap-free synthetic data"
    P = len(FASTS) * len(SLOWS)
    times, sharpe = [], None
    for r in range(a.repeats):
        t0 = time.perf_counter()
        sh = np.empty((S, len(FASTS), len(SLOWS)))
        for s0 in range(0, S, a.block):
            m = sweep_block(close[s0:s0 + a.block].T.copy())
            sh[s0:s0 + a.block] = m["sharpe"]
        times.append(time.perf_counter() - t0)
        sharpe = sh
    med = float(np.median(times))
    items = float(S) * P * T
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("numpy_sma100  numpy-1t  %dx%dx%d  median %.1f ms  %.4g evaluations/s  peak RSS %.0f MB (block %d symbols)"
          % (P, S, T, med * 1e3, items / med, rss, a.block))
    print("JSON " + json.dumps({"bench": "numpy_sma100", "backend": "numpy-1t", "size": "%dx%dx%d" % (P, S, T),
                                "median_s": med, "items_per_s": items / med, "unit": "bar-params",
                                "peak_rss_mb": rss, "numpy": np.__version__}))
    if a.check:
        res = h5py.File(a.check, "r")
        qs = res["metrics/sharpe"][:]                     # S x P, sets in (fast, slow) order
        params = res["params"][:]
        ours = np.empty_like(qs)
        for p, (fw, sw) in enumerate(params):
            ours[:, p] = sharpe[:, list(FASTS).index(int(fw)), list(SLOWS).index(int(sw))]
        rel = np.abs(ours - qs) / np.maximum(np.abs(qs), 1e-12)
        print("check vs %s: %d runs, max relative Sharpe difference %.3g, %.2f%% within 1e-9"
              % (a.check, rel.size, np.nanmax(rel), 100.0 * np.mean(rel <= 1e-9)))


if __name__ == "__main__":
    main()
