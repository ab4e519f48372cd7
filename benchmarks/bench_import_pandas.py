#!/usr/bin/python3
"""pandas baseline for bench_import: the same gzipped per-symbol CSV files of a data set
(default the S&P 500 daily preset: DATA_ROOT/us_equities_daily/stocks/*.csv.gz), in one
Python process, reported in the same units (data rows/s) as bench_import.

  pandas_read_csv    pandas.read_csv of every file (C engine, inflate + parse only): the
                     figure the import issue compares against
  pandas_import_h5   read_csv + dates to ns + the union time grid + the 5 symbol x time
                     panels, written with h5py in bench_import's layout (64 x 2048 chunks,
                     shuffle + deflate 4): the same work as `qa data import`, less the
                     anomaly checks

    /usr/bin/python3 benchmarks/bench_import_pandas.py [data-root] [--repeats R] [--read-only]

Prints the same table + JSON lines as the C benchmarks (median of R runs, default 3).
Debian: apt-get install python3-pandas python3-h5py.
"""
import glob
import json
import os
import resource
import socket
import statistics
import sys
import tempfile
import time

import numpy as np
import pandas as pd

FIELDS = ["open", "high", "low", "close", "volume"]
BACKEND = "pandas-1t"


def parse():
    argv, args, repeats, read_only = sys.argv[1:], [], 3, False
    i = 0
    while i < len(argv):
        if argv[i] == "--repeats":
            repeats = int(argv[i + 1])
            i += 2
            continue
        if argv[i] == "--read-only":
            read_only = True
        else:
            args.append(argv[i])
        i += 1
    root = args[0] if args else os.environ.get("QA_DATA_ROOT", "../shared/datasets")
    return root, repeats, read_only


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def report(bench, seconds, rows, nbytes, size):
    ips = rows / seconds
    print("%-22s %-8s %-24s %12.3f %14.4g %10.2f %10.2f" % (bench, BACKEND, size, seconds * 1e3, ips,
                                                             nbytes / seconds * 1e-9, 0.0))
    print("JSON " + json.dumps({"bench": bench, "backend": BACKEND, "size": size, "median_s": seconds,
                                "items_per_s": ips, "unit": "rows", "gb_per_s": nbytes / seconds * 1e-9,
                                "gflop_per_s": 0, "peak_rss_mb": round(peak_rss_mb(), 1)}))


def read_all(files):
    return [pd.read_csv(f) for f in files]


def import_h5(files, out):
    import h5py
    frames = read_all(files)
    times = [pd.to_datetime(d["date"], format="%Y-%m-%d").values.astype("datetime64[ns]").astype(np.int64)
             for d in frames]
    grid = np.unique(np.concatenate(times))
    S, T = len(files), len(grid)
    with h5py.File(out, "w") as h:
        h.create_dataset("time", data=grid)
        for f in FIELDS:
            panel = np.full((S, T), np.nan)
            for s, (d, t) in enumerate(zip(frames, times)):
                panel[s, np.searchsorted(grid, t)] = d[f].to_numpy(dtype=np.float64)
            h.create_dataset("bars/" + f, data=panel, chunks=(min(S, 64), min(T, 2048)), shuffle=True,
                             compression="gzip", compression_opts=4, fillvalue=np.nan)
    return sum(len(d) for d in frames)


def main():
    root, repeats, read_only = parse()
    files = sorted(glob.glob(os.path.join(root, "us_equities_daily/stocks/*.csv.gz")))
    if not files:
        print("no files under %s/us_equities_daily/stocks (set QA_DATA_ROOT or pass the data root)" % root)
        return 1
    print("# CSV import baseline (pandas %s, NumPy %s) on %s (%d cores online)" % (
        pd.__version__, np.__version__, socket.gethostname(), os.cpu_count()))
    print("%-22s %-8s %-24s %12s %14s %10s %10s" % ("benchmark", "backend", "size", "median ms", "items/s", "GB/s",
                                                     "GFLOP/s"))
    # The check first: every data row is read (bench_import's row count for the same files).
    frames = read_all(files)
    rows = sum(len(d) for d in frames)
    if any(list(d.columns) != ["date"] + FIELDS for d in frames):
        print("unexpected columns")
        return 1
    del frames
    nbytes = 0
    for f in files:  # uncompressed CSV bytes, for GB/s
        import gzip
        with gzip.open(f, "rb") as g:
            while True:
                b = g.read(1 << 20)
                if not b:
                    break
                nbytes += len(b)
    size = "%d sym, %.0f MB csv" % (len(files), nbytes / 1e6)
    t = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        read_all(files)
        t.append(time.perf_counter() - t0)
    report("pandas_read_csv", statistics.median(t), rows, nbytes, size)
    if read_only:
        return 0
    try:
        import h5py  # noqa: F401
    except ImportError:
        print("# pandas_import_h5 skipped: h5py not importable (python3-h5py)")
        return 0
    fd, out = tempfile.mkstemp(suffix=".h5")
    os.close(fd)
    try:
        t = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            n = import_h5(files, out)
            t.append(time.perf_counter() - t0)
            if n != rows:
                print("row count %d != %d" % (n, rows))
                return 1
        report("pandas_import_h5", statistics.median(t), rows, nbytes, size)
    finally:
        os.remove(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
