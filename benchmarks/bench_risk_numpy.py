#!/usr/bin/python3
"""NumPy baseline for bench_risk: the same Monte-Carlo VaR/ES of a linear book.

Correlated normals via Cholesky (z = eps @ L.T), linear revaluation (z @ E), exact
99% VaR/ES from a streamed top-m tail (np.partition), in blocks of 8192 scenarios so
memory stays bounded. Same market model and sizes as bench_risk (sample covariance of
1500 dates of synthetic one-factor returns, the same dense exposure formula); NumPy's own RNG
(PCG64 + ziggurat) draws the returns and the normals, so the VaR agrees with
bench_risk only statistically (a few per cent: covariance sampling + Monte-Carlo noise).

    /usr/bin/python3 benchmarks/bench_risk_numpy.py [scenarios [factors [positions]]] [--threads K]

Prints the same table + JSON lines as the C benchmarks. Variants:
  numpy_mc_two_step   eps @ L.T, then @ E (per-position P&L), row sums, tail
  numpy_mc_positions  eps @ (L.T @ E): the fused per-position path
  numpy_mc_portfolio  eps @ (L.T @ w): portfolio P&L only
  numpy_reval_linear  the revaluation GEMM alone (z @ E)
"""
import json
import os
import resource
import socket
import sys
import time


def parse():
    argv, args, threads = sys.argv[1:], [], None
    i = 0
    while i < len(argv):
        if argv[i] == "--threads":
            threads = int(argv[i + 1])
            i += 2
            continue
        args.append(argv[i])
        i += 1
    s = int(args[0]) if len(args) > 0 else 1000000
    n = int(args[1]) if len(args) > 1 else 1000
    p = int(args[2]) if len(args) > 2 else 1000
    return s, n, p, threads


S, N, P, THREADS = parse()
if THREADS:  # must be set before NumPy loads OpenBLAS
    os.environ["OPENBLAS_NUM_THREADS"] = str(THREADS)
    os.environ["OMP_NUM_THREADS"] = str(THREADS)
import numpy as np  # noqa: E402

BLOCK = 8192
ALPHA = 0.99
BACKEND = "numpy-%st" % (THREADS or os.cpu_count())


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def report(bench, seconds, items, flops, nbytes, size):
    ips = items / seconds
    print("%-22s %-8s %-22s %12.3f %14.4g %10.2f %10.2f" % (bench, BACKEND, size, seconds * 1e3, ips,
                                                             nbytes / seconds * 1e-9, flops / seconds * 1e-9))
    print("JSON " + json.dumps({"bench": bench, "backend": BACKEND, "size": size, "median_s": seconds,
                                "items_per_s": ips, "unit": "revaluations", "gb_per_s": nbytes / seconds * 1e-9,
                                "gflop_per_s": flops / seconds * 1e-9, "peak_rss_mb": round(peak_rss_mb(), 1)}))
    sys.stdout.flush()


def tail_size(alpha, n):
    k = int(np.ceil(alpha * n - 1e-9))
    return n - max(1, min(k, n)) + 1


def var_es(tail, m):
    t = np.sort(tail)[::-1][:m]
    return t[m - 1], t.mean()


def main():
    print("# Risk (NumPy %s) on %s (%d cores online)" % (np.__version__, socket.gethostname(), os.cpu_count()))
    print("%-22s %-8s %-22s %12s %14s %10s %10s" % ("benchmark", "backend", "size", "median ms", "items/s", "GB/s",
                                                    "GFLOP/s"))
    rng = np.random.default_rng(20261124)
    t_dates = 1500
    f = rng.standard_normal(t_dates)
    r = 0.01 * (0.6 * f[:, None] + 0.8 * rng.standard_normal((t_dates, N)))
    cov = np.cov(r, rowvar=False)  # sample covariance (divisor T - 1), as bench_risk
    L = np.linalg.cholesky(cov)
    j, q = np.meshgrid(np.arange(N), np.arange(P), indexing="ij")
    E = 1e4 * (((j * 7 + q * 13) % 101) - 50) / 50.0  # the same book as bench_risk
    w = E.sum(axis=1)
    m = tail_size(ALPHA, S)
    size = "S=%d N=%d P=%d" % (S, N, P)

    def run(kind):
        tail = np.empty(0)
        M = L.T @ E if kind == "positions" else None
        wl = L.T @ w if kind == "portfolio" else None
        z0 = rng.standard_normal((BLOCK, N)) @ L.T
        t0 = time.perf_counter()
        for s0 in range(0, S, BLOCK):
            cnt = min(BLOCK, S - s0)
            if kind == "reval":
                z0[:cnt] @ E
                continue
            eps = rng.standard_normal((cnt, N))
            if kind == "two_step":
                pnl = ((eps @ L.T) @ E).sum(axis=1)
            elif kind == "positions":
                pnl = (eps @ M).sum(axis=1)
            else:
                pnl = eps @ wl
            losses = np.concatenate([tail, -pnl])
            tail = losses if losses.size <= m else np.partition(losses, losses.size - m)[-m:]
        sec = time.perf_counter() - t0
        return sec, (var_es(tail, m) if kind != "reval" else None)

    sec, _ = run("reval")
    report("numpy_reval_linear", sec, S * P, 2.0 * S * N * P, 8.0 * (S * N + S * P), size)
    sec, ve = run("portfolio")
    report("numpy_mc_portfolio", sec, S * P, 2.0 * S * N, 8.0 * S * N, size)
    print("#   portfolio 99%% VaR %.6g ES %.6g" % ve)
    sec, ve = run("positions")
    report("numpy_mc_positions", sec, S * P, 2.0 * S * N * P, 8.0 * (S * N + S * P), size)
    print("#   portfolio 99%% VaR %.6g ES %.6g (fused path)" % ve)
    sec, ve = run("two_step")
    report("numpy_mc_two_step", sec, S * P, 1.0 * S * N * N * 2 + 2.0 * S * N * P, 8.0 * (2 * S * N + S * P), size)
    print("#   portfolio 99%% VaR %.6g ES %.6g (two-step path)" % ve)


if __name__ == "__main__":
    main()
