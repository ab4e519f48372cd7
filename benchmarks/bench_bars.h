/* Synthetic 5-minute bars for the live benchmarks: a random walk per symbol from Philox
 * (seed, symbol, bar), so every run and every benchmark sees the same market. */
#ifndef QA_BENCH_BARS_H
#define QA_BENCH_BARS_H

#include <math.h>   /* exp, fmax, fmin */
#include <stdio.h>  /* snprintf */
#include <string.h> /* memset */

#include "common/philox.h" /* qa_rng_block */
#include "datasets/store.h" /* qa_store_meta */
#include "live/msg.h"      /* qa_msg_bar */

/* The bar of symbol s at bar t, opening at *last (updated to its close); volume uniform in
 * [vol_base, vol_base + vol_span). */
static inline qa_msg_bar qa_bench_synth_bar(uint64_t seed, size_t s, size_t t, double *last, double vol_base,
                                            double vol_span) {
    qa_philox_block r = qa_rng_block(seed, s, t);
    double u = ((double)r.v[0] + 0.5) / 4294967296.0 - 0.5, v = ((double)r.v[1] + 0.5) / 4294967296.0;
    double open = *last, close = open * exp(0.002 * u * 3.4);
    double hi = fmax(open, close) * (1 + 0.001 * v), lo = fmin(open, close) * (1 - 0.001 * v);
    *last = close;
    return (qa_msg_bar){open, hi, lo, close, vol_base + vol_span * v, 300};
}

/* The metadata of a synthetic 5-minute US-equity market file. */
static inline void qa_bench_meta_5min(qa_store_meta *meta) {
    memset(meta, 0, sizeof *meta);
    snprintf(meta->frequency, sizeof meta->frequency, "5min");
    meta->bar_seconds = 300, meta->bars_per_year = 19656;
    snprintf(meta->calendar, sizeof meta->calendar, "NYSE");
    snprintf(meta->currency, sizeof meta->currency, "USD");
    snprintf(meta->adjustment, sizeof meta->adjustment, "none");
}

#endif
