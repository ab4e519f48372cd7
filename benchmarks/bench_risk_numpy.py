#!/usr/bin/python3
"""NumPy baseline for bench_risk: the same Monte-Carlo VaR/ES of a linear book, by
revaluation model, in the same units (docs/risk.md, "Throughput").

Correlated normals via Cholesky (z = eps @ L.T), full revaluation (expm1(z) @ w: the
exact P&L of exposures w), exact 99% VaR/ES from a streamed top-m tail (np.partition),
in blocks of 8192 scenarios so memory stays bounded. Same market model and sizes as bench_risk (sample covariance of
1500 dates of synthetic one-factor returns, the same dense exposure formula); NumPy's own RNG
(PCG64 + ziggurat) draws the returns and the normals, so the VaR agrees with
bench_risk only statistically (a few per cent: covariance sampling + Monte-Carlo noise).

    /usr/bin/python3 benchmarks/bench_risk_numpy.py [scenarios [assets [positions]]] [--threads K]

Prints the same table + JSON lines as the C benchmarks. Variants (units as bench_risk):
  numpy_mc_full            expm1(eps @ L.T) @ w, tail          scenario x asset revaluations
  numpy_mc_full_positions  expm1(eps @ L.T) @ E, row sums      scenario x position (N assets each)
  numpy_mc_delta           eps @ (L.T @ w): first order        scenarios
  numpy_mc_delta_positions eps @ (L.T @ E)                     scenario x position (N assets each)
  numpy_reval_linear       the revaluation GEMM alone (z @ E)  scenario x position (N assets each)
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
    s = int(args[0]) if len(args) > 0 else 200000
    n = int(args[1]) if len(args) > 1 else 500
    p = int(args[2]) if len(args) > 2 else 500
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


U_ASSET = "scenario x asset revaluations"
U_POS = "scenario x position revaluations (N assets each)"


def report(bench, seconds, items, flops, nbytes, size, unit):
    ips = items / seconds
    print("%-22s %-8s %-22s %12.3f %14.4g %10.2f %10.2f" % (bench, BACKEND, size, seconds * 1e3, ips,
                                                             nbytes / seconds * 1e-9, flops / seconds * 1e-9))
    print("JSON " + json.dumps({"bench": bench, "backend": BACKEND, "size": size, "median_s": seconds,
                                "items_per_s": ips, "unit": unit, "gb_per_s": nbytes / seconds * 1e-9,
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
        M = L.T @ E if kind == "delta_positions" else None
        wl = L.T @ w if kind == "delta" else None
        z0 = rng.standard_normal((BLOCK, N)) @ L.T
        t0 = time.perf_counter()
        for s0 in range(0, S, BLOCK):
            cnt = min(BLOCK, S - s0)
            if kind == "reval":
                z0[:cnt] @ E
                continue
            eps = rng.standard_normal((cnt, N))
            if kind == "full":
                pnl = np.expm1(eps @ L.T) @ w
            elif kind == "full_positions":
                pnl = (np.expm1(eps @ L.T) @ E).sum(axis=1)
            elif kind == "delta_positions":
                pnl = (eps @ M).sum(axis=1)
            else:
                pnl = eps @ wl
            losses = np.concatenate([tail, -pnl])
            tail = losses if losses.size <= m else np.partition(losses, losses.size - m)[-m:]
        sec = time.perf_counter() - t0
        return sec, (var_es(tail, m) if kind != "reval" else None)

    sec, _ = run("reval")
    report("numpy_reval_linear", sec, S * P, 2.0 * S * N * P, 8.0 * (S * N + S * P), size, U_POS)
    sec, ve = run("full")
    report("numpy_mc_full", sec, S * N, 2.0 * S * N * N + 52.0 * S * N, 8.0 * S * N, size, U_ASSET)
    print("#   full revaluation: %.4g scenarios/s; portfolio 99%% VaR %.6g ES %.6g" % ((S / sec,) + tuple(ve)))
    sec, ve = run("full_positions")
    report("numpy_mc_full_positions", sec, S * P, 2.0 * S * N * N + 50.0 * S * N + 2.0 * S * N * P,
           8.0 * (S * N + S * P), size, U_POS)
    print("#   full revaluation per position: 99%% VaR %.6g ES %.6g" % ve)
    sec, ve = run("delta")
    report("numpy_mc_delta", sec, S, 32.0 * S * N, 8.0 * S * N, size, "scenarios")
    print("#   delta (first-order) portfolio: 99%% VaR %.6g ES %.6g" % ve)
    sec, ve = run("delta_positions")
    report("numpy_mc_delta_positions", sec, S * P, 30.0 * S * N + 2.0 * S * N * P, 8.0 * (S * N + S * P), size, U_POS)
    print("#   delta per position: 99%% VaR %.6g ES %.6g" % ve)


if __name__ == "__main__":
    main()
