"""Writes a valid QuantumAlpha market store (docs/data-format.md) of S symbols x T bars
fast, for the resource tests: random-walk closes, OHLC around them, 1-second bars.
With --declare-time N it instead writes a tiny file whose /time declares N timestamps and
holds none (a damaged or crafted store).
Usage: make_store.py OUT S T [--declare-time N]"""
import sys

import h5py
import numpy as np

out, S, T = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
declare = int(sys.argv[5]) if len(sys.argv) > 5 and sys.argv[4] == "--declare-time" else 0
with h5py.File(out, "w") as f:
    for k, v in dict(format="quantumalpha.market", frequency="1s", calendar="24x7", currency="USD",
                     adjustment="none", source="tests/resources/make_store.py").items():
        f.attrs[k] = v
    f.attrs["format_version"] = np.int64(1)
    f.attrs["bar_seconds"] = np.int64(1)
    f.attrs["bars_per_year"] = 252.0 * 23400
    f.create_dataset("symbols", data=np.array([b"R%05d" % s for s in range(S)], dtype="S32"))
    if declare:
        T = declare
        f.create_dataset("time", shape=(T,), dtype="<i8", chunks=(4096,))
    else:
        f.create_dataset("time", data=(np.int64(946684800) + np.arange(T, dtype="<i8")) * 10**9)
    f["time"].attrs["unit"] = "ns"
    rng = np.random.default_rng(7)
    close = None if declare else 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, (S, T)), axis=1))
    for fld, m in (("open", 1.0), ("high", 1.001), ("low", 0.999), ("close", 1.0), ("volume", None)):
        chunks = (min(S, 64), min(T, 2048))
        if declare:
            f.create_dataset("bars/" + fld, shape=(S, T), dtype="<f8", chunks=chunks, fillvalue=np.nan)
        else:
            v = np.full((S, T), 1000.0) if m is None else close * m
            f.create_dataset("bars/" + fld, data=v, chunks=chunks, fillvalue=np.nan)
