#!/usr/bin/python3
"""The LOBSTER import (qa data import --preset lobster) against a direct computation from
the message and order-book files, written from docs/data-format.md and the data set's
README, not from datasets/import.c (used by test_import.sh).

  lobster_check.py MARKET.h5 MESSAGE.csv.gz ORDERBOOK.csv.gz DATE [BAR_SECONDS]

Message rows: time (seconds after midnight New York time, nanosecond decimals), type,
order id, size, price (USD x 10000), direction. One-second bars on the grid from the
first event's second to the last's: open/high/low/close are the first/highest/lowest/
last execution price in the bar and volume the executed shares, executions being the
events of type 4 (visible) and 5 (hidden); a bar without executions has no prices
(NaN). /alt/mid and /alt/spread are (ask_1 + bid_1)/2 and ask_1 - bid_1 of the
order-book row after the bar's last event. Times are converted with the zone database
(zoneinfo) and exact decimal arithmetic. Every value must match exactly: the prices are
integers / 10000, correctly rounded on both sides."""
import csv
import datetime as dt
import gzip
import math
import sys
from decimal import Decimal
from zoneinfo import ZoneInfo

import h5py
import numpy as np

market, msg_path, book_path, date = sys.argv[1:5]
bar_ns = int(sys.argv[5]) * 10**9 if len(sys.argv) > 5 else 10**9
msgs = list(csv.reader(gzip.open(msg_path, "rt")))
book = list(csv.reader(gzip.open(book_path, "rt")))
assert len(msgs) == len(book) and len(msgs) > 0

midnight = dt.datetime.fromisoformat(date).replace(tzinfo=ZoneInfo("America/New_York"))
day_ns = int(midnight.timestamp()) * 10**9  # UTC ns of New York midnight (EDT in June: 04:00 UTC)
at = [day_ns + int(Decimal(m[0]) * 10**9) for m in msgs]
b0, b1 = at[0] - at[0] % bar_ns, at[-1] - at[-1] % bar_ns
T = (b1 - b0) // bar_ns + 1
O, H, L, C, V = (np.full(T, np.nan) for _ in range(5))
mid, spread = np.full(T, np.nan), np.full(T, np.nan)
nexec = {4: 0, 5: 0}
for m, b, t in zip(msgs, book, at):
    k = (t - b0) // bar_ns
    ask, bid = float(b[0]) / 10000.0, float(b[2]) / 10000.0
    mid[k], spread[k] = 0.5 * (ask + bid), ask - bid  # the book after the bar's last event
    typ = int(m[1])
    if typ not in (4, 5):
        continue
    nexec[typ] += 1
    px, sz = float(m[4]) / 10000.0, float(m[3])
    if math.isnan(O[k]):
        O[k], H[k], L[k], V[k] = px, px, px, 0.0
    H[k], L[k] = max(H[k], px), min(L[k], px)
    C[k] = px
    V[k] += sz

f = h5py.File(market, "r")
assert list(f["symbols"].asstr()[:]) == ["AAPL"]
t = f["time"][:]
assert t.shape == (T,) and (t == b0 + bar_ns * np.arange(T)).all(), (t[:3], b0, T)
for name, ref in (("open", O), ("high", H), ("low", L), ("close", C), ("volume", V)):
    got = f["bars/" + name][0, :]
    same = (got == ref) | (np.isnan(got) & np.isnan(ref))
    assert same.all(), (name, np.flatnonzero(~same)[:5], got[~same][:5], ref[~same][:5])
seen = ~np.isnan(mid)  # bars with at least one event
for name, ref in (("mid", mid), ("spread", spread)):
    got = f["alt/" + name][0, :]
    assert (got[seen] == ref[seen]).all(), (name, np.flatnonzero(got[seen] != ref[seen])[:5])
traded = ~np.isnan(C)
print("lobster: %d events, %d visible + %d hidden executions in %d of %d one-second bars, %d shares; "
      "OHLCV, mid and spread match" % (len(msgs), nexec[4], nexec[5], traded.sum(), T, np.nansum(V)))
