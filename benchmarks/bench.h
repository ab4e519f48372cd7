/* Benchmark helpers: median-of-repeats timing, a table row and a JSON line per result.
 *
 * Every benchmark checks correctness first, warms up, then times `repeats` runs and
 * reports the median, with throughput against a stated model of work and bytes. */
#ifndef QA_BENCH_H
#define QA_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/timer.h"

typedef struct qa_bench_result {
    const char *bench;   /* e.g. "rng_normal" */
    const char *backend; /* "cpu-1t", "cpu-2t", "cuda" */
    const char *size;    /* "n=67108864" */
    double seconds;      /* median */
    double items;        /* work items per run */
    const char *unit;    /* "numbers", "bar-params", ... */
    double bytes;        /* bytes moved per run (model) */
    double flops;        /* floating-point operations per run (model), 0 if not meaningful */
} qa_bench_result;

static int qa_bench_cmp_(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of `n` samples (sorts in place). */
static inline double qa_bench_median(double *t, int n) {
    /* cppcheck-suppress uninitvar ; callers fill t[0..n) first (cppcheck does not follow them) */
    qsort(t, (size_t)n, sizeof *t, qa_bench_cmp_);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* The sample at quantile q (0..1, nearest rank below) of n samples; sorts them in place. */
static inline double qa_bench_quantile(double *t, size_t n, double q) {
    if (n == 0) return 0.0 / 0.0;
    qsort(t, n, sizeof *t, qa_bench_cmp_);
    return t[(size_t)(q * (double)(n - 1))];
}

static inline void qa_bench_header(const char *title) {
    char host[128] = "?";
    gethostname(host, sizeof host);
    printf("# %s on %s (%ld cores online)\n", title, host, sysconf(_SC_NPROCESSORS_ONLN));
    printf("%-22s %-8s %-22s %12s %14s %10s %10s\n", "benchmark", "backend", "size", "median ms", "items/s",
           "GB/s", "GFLOP/s");
}

static inline void qa_bench_report(const qa_bench_result *r) {
    double ips = r->items / r->seconds, gbs = r->bytes / r->seconds * 1e-9, gf = r->flops / r->seconds * 1e-9;
    printf("%-22s %-8s %-22s %12.3f %14.4g %10.2f %10.2f\n", r->bench, r->backend, r->size, r->seconds * 1e3, ips,
           gbs, gf);
    printf("JSON {\"bench\":\"%s\",\"backend\":\"%s\",\"size\":\"%s\",\"median_s\":%.6g,\"items_per_s\":%.6g,"
           "\"unit\":\"%s\",\"gb_per_s\":%.4g,\"gflop_per_s\":%.4g,\"peak_rss_mb\":%.1f}\n",
           r->bench, r->backend, r->size, r->seconds, ips, r->unit, gbs, gf,
           (double)qa_peak_rss_bytes() / 1048576.0);
    fflush(stdout);
}

#endif
