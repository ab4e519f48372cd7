#!/usr/bin/env python3
"""Writes the malformed market files of tests/data/bad (checked by tests/datasets/test_import.sh
through EXPECTED): each is a valid one-symbol store (docs/data-format.md, "Layout") with one
thing broken that HDF5 itself accepts, so only the store's own checks can refuse it.

    python3 tests/data/bad/make_bad_stores.py tests/data/bad
    python3 tests/data/bad/make_bad_stores.py DIR --control   # DIR/control.h5 only: the same
                                                              # store unbroken, which must pass
"""
import sys

import h5py
import numpy as np

DAY = 86400 * 10**9
T0 = np.datetime64("2020-01-02", "ns").astype(np.int64)


def store(path, symbols=("AAA",), times=3, bar_seconds=86400, bars_per_year=252.0):
    """A market file of len(symbols) x `times` bars with the given metadata."""
    with h5py.File(path, "w") as f:
        for k, v in (("format", "quantumalpha.market"), ("frequency", "1d"), ("calendar", "NYSE"),
                     ("currency", "USD"), ("adjustment", "none"), ("source", "make_bad_stores.py"),
                     ("created", "2026-01-01T00:00:00Z")):
            f.attrs[k] = v
        f.attrs["format_version"] = np.int64(1)
        f.attrs["bar_seconds"] = np.int64(bar_seconds)
        f.attrs["bars_per_year"] = np.float64(bars_per_year)
        f.create_dataset("symbols", data=np.array([s.encode() for s in symbols], dtype="S32"))
        f.create_dataset("time", data=T0 + DAY * np.arange(times, dtype=np.int64))
        for field in ("open", "high", "low", "close", "volume"):
            f.create_dataset("bars/" + field, data=np.full((len(symbols), times), 10.0))


def main(out, control):
    if control:
        store(f"{out}/control.h5")
        return
    store(f"{out}/duplicate_symbols.h5", symbols=("AAA", "BBB", "AAA"))
    store(f"{out}/bars_per_year_zero.h5", bars_per_year=0.0)
    store(f"{out}/bars_per_year_nan.h5", bars_per_year=float("nan"))
    store(f"{out}/bar_seconds_negative.h5", bar_seconds=-86400)
    store(f"{out}/zero_bars.h5", times=0)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".", "--control" in sys.argv[2:])
