#!/usr/bin/python3
"""qa data generate against what docs/data-format.md ("Synthetic markets") promises,
checked on the generated file with NumPy (used by test_synth.sh).

  synth_check.py MARKET.h5 DRIFT VOL START

The file must be generated with market_share 0, jump_rate 0 and stress_vol_mult 1, so
that each asset's log return is i.i.d. N(mu_s - sigma_s^2/2, sigma_s^2) per bar
(mu_s = annual drift x dt, sigma_s = annual vol x sqrt(dt), dt = 1 / bars_per_year) and
the assets are independent. `drift` and `vol` are the means over assets
(datasets/synth.h); how the assets' own values spread around them is not documented, so
the standard errors below are measured from the cross-section itself:

- annual vol of asset s: v_s = sqrt(var(r_s) x bars_per_year); mean_s v_s = VOL
  within 5 standard errors, SE = sd_s(v_s) / sqrt(S) (independent assets; sd_s covers
  both the spread of the assets' vols and each estimate's noise, ~v_s / sqrt(2T));
- annual drift of asset s: d_s = (mean(r_s) + var(r_s) / 2) x bars_per_year (the -sigma^2/2
  of the model put back); mean_s d_s = DRIFT within 5 SE, SE = sd_s(d_s) / sqrt(S);
- independence: the mean pairwise correlation of the returns is 0 within 5 SE, with SE
  = 1 / sqrt(T x S(S-1)/2) for independent series (each sample correlation has variance
  ~1/T, and those of distinct pairs are uncorrelated);
- exact promises: low <= open, close <= high on every bar; times are weekdays from START
  at 00:00 UTC; bars_per_year = 252 for daily bars.

5 standard errors: a correct generator fails one of these three checks with probability
below 2e-6."""
import sys

import h5py
import numpy as np

path, drift, vol, start = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
f = h5py.File(path, "r")
bpy = float(f.attrs["bars_per_year"])
assert bpy == 252.0, bpy
close = f["bars/close"][:]
S, T = close.shape
o, h, l = f["bars/open"][:], f["bars/high"][:], f["bars/low"][:]
assert (l <= o).all() and (l <= close).all() and (o <= h).all() and (close <= h).all(), "low <= open, close <= high"

# weekdays from start, 00:00 UTC
day = np.datetime64(start, "D")
days = []
while len(days) < T:
    if day.astype("datetime64[D]").item().weekday() < 5:
        days.append(day)
    day += 1
want = np.array(days, dtype="datetime64[D]").astype("datetime64[ns]").astype(np.int64)
assert (f["time"][:] == want).all(), "times are weekdays from start at 00:00 UTC"

r = np.diff(np.log(close), axis=1)  # S x (T - 1)
n = r.shape[1]
var = r.var(axis=1, ddof=1)
v = np.sqrt(var * bpy)
d = (r.mean(axis=1) + var / 2) * bpy
fails = []
for name, x, ref in (("annual vol", v, vol), ("annual drift", d, drift)):
    se = x.std(ddof=1) / np.sqrt(S)
    z = (x.mean() - ref) / se
    print("%s: mean over %d assets %.5f, documented %.5f, SE %.5f (z = %+.2f)" % (name, S, x.mean(), ref, se, z))
    if abs(z) > 5:
        fails.append(name)
z = (r - r.mean(axis=1, keepdims=True)) / r.std(axis=1, keepdims=True)
c = z @ z.T / n
pairs = S * (S - 1) / 2
mc = (c.sum() - np.trace(c)) / 2 / pairs
se = 1 / np.sqrt(n * pairs)
print("mean pairwise correlation %.2e over %d pairs, SE %.2e (z = %+.2f)" % (mc, pairs, se, mc / se))
if abs(mc / se) > 5:
    fails.append("independence")
assert not fails, fails
print("synthetic market: %d assets x %d bars: drift, vol and independence as documented" % (S, T))
