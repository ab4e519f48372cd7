/* Synthetic markets: S correlated assets from a factor model, geometric Brownian motion
 * with jumps and a two-state volatility regime, daily or intraday OHLCV bars.
 *
 * Every random number is Philox-4x32-10 keyed by (seed, stream, index) with the index a
 * function of (symbol, bar) only, so a file is a deterministic function of its config:
 * the same for any number of MPI ranks, block sizes or threads. Model and streams are
 * documented in docs/data-format.md ("Synthetic markets"). Under MPI, symbols are
 * split over ranks in blocks matching the HDF5 chunks and written collectively, time
 * block by time block, so memory stays bounded for any size (5,000 x 100,000 and up). */
#ifndef QA_DATASETS_SYNTH_H
#define QA_DATASETS_SYNTH_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint64_t */

#include "common/config.h"
#include "common/status.h"
#include "mpi/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_synth_cfg {
    const char *output;
    long long symbols;       /* S */
    long long bars;          /* T */
    long long seed;
    long long bar_seconds;   /* 86400 daily; 60, 300 ... intraday (6.5-hour sessions) */
    const char *start;       /* first session date, YYYY-MM-DD (weekdays only) */
    long long factors;       /* K common factors (the first is the market) */
    double drift;            /* annual drift of log prices (mean over assets) */
    double vol;              /* annual volatility (mean over assets) */
    double market_share;     /* share of variance explained by the factors (0..1) */
    double jump_rate;        /* jumps per asset per year */
    double jump_mean;        /* mean log jump size */
    double jump_vol;         /* std of log jump size */
    double stress_vol_mult;  /* volatility multiplier in the stressed regime */
    double p_enter_stress;   /* per-bar probability calm -> stressed */
    double p_exit_stress;    /* per-bar probability stressed -> calm */
    double volume_mean;      /* mean shares per bar */
    long long deflate;       /* HDF5 deflate level (0 = fastest) */
} qa_synth_cfg;

extern const qa_cfg_field qa_synth_schema[];
void qa_synth_cfg_default(qa_synth_cfg *c);

/* Generates the market into cfg->output (atomically). Collective under MPI. */
qa_status qa_synth_run(const qa_synth_cfg *cfg, const qa_comm_t *comm, double *seconds);

/* Bars per year implied by bar_seconds (252 sessions of 6.5 hours for intraday). */
double qa_synth_bars_per_year(long long bar_seconds);

#ifdef __cplusplus
}
#endif
#endif
