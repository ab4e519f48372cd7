/* The distributed scenario engine of `qa stress`: revalues a book over a scenario set
 * (Monte-Carlo shocks generated from their global index, or the rows of a historical
 * scenario matrix) streamed in blocks, and returns exact VaR/ES at several levels with
 * Euler contributions (component VaR/ES) and incremental VaR/ES per position.
 *
 * Determinism (docs/risk.md, "Distributed runs"): scenario g belongs to block
 * k = g / block (one fixed global block size), blocks are dealt round-robin over ranks,
 * each rank streams its blocks' losses into a top-m tail, rank 0 merges the gathered
 * tails (exact global order statistics), broadcasts the tail's scenario indices, and the
 * per-position rows of those scenarios are regenerated in fixed chunks (chunk c of the
 * tail goes to rank c % size) whose partial sums rank 0 adds in chunk order. So every
 * number is bitwise the same for 1 or N ranks, and memory is O(block x (n + p) + m):
 * scenario sets larger than RAM stream through. */
#ifndef QA_PIPELINE_STRESS_ENGINE_H
#define QA_PIPELINE_STRESS_ENGINE_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint64_t */

#include "common/progress.h"
#include "common/status.h"
#include "kernels/risk.h"
#include "mpi/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The revaluation model over a scenario x (n factor log-returns), host memory:
 *   linear position i:  pnl = off_lin[i] + sum_k f_k(x) e_lin[k][i]
 *                        with the features f(x) of the mode (qa_risk_reval_features):
 *                        FULL expm1(x) (exact), DELTA x, DELTA_GAMMA [x, x^2]
 *   option k:           pnl = qa_risk_pnl_options(x, opt[k], horizon_years) (full)
 * Position lin_pos[i] / opt_pos[k] of the portfolio (0 <= pos < p) receives it. Under
 * the approximations the caller maps options onto linear columns (their greeks), so
 * nopt = 0 there. */
typedef struct qa_stress_engine_book {
    size_t n;                  /* risk factors (scenario columns) */
    size_t p;                  /* positions of the portfolio */
    size_t nlin;
    qa_risk_reval reval;       /* features of the linear positions */
    const double *e_lin;       /* width x nlin exposures, width = qa_risk_reval_width(reval, n) */
    const double *w;           /* width: the linear book, w[k] = sum_i e_lin[k][i] */
    const double *off_lin;     /* nlin constant P&L per linear position (options' time decay), or NULL */
    const size_t *lin_pos;     /* nlin */
    size_t nopt;
    const qa_risk_option *opt; /* nopt */
    const size_t *opt_pos;     /* nopt */
    double horizon_years;      /* option time decay over the horizon */
} qa_stress_engine_book;

typedef enum qa_stress_engine_source_kind {
    QA_STRESS_SOURCE_MC = 0,     /* z = L (c eps) + mean, scenario g from Philox (g) */
    QA_STRESS_SOURCE_MATRIX = 1, /* row g of x */
    QA_STRESS_SOURCE_KIND_COUNT = 2
} qa_stress_engine_source_kind;

typedef struct qa_stress_engine_source {
    qa_stress_engine_source_kind kind;
    uint64_t count;      /* scenarios */
    qa_risk_mc mc;       /* MC: seed, stream, distribution */
    const double *l;     /* MC: n x n lower Cholesky factor of the horizon covariance (host) */
    const double *mean;  /* MC: n horizon mean, or NULL for zero (host) */
    const double *x;     /* MATRIX: count x n (host; every rank holds it) */
} qa_stress_engine_source;

typedef struct qa_stress_engine_opts {
    const double *levels; /* confidence levels in (0, 1) */
    size_t nlevels;
    size_t block;         /* global block size (scenarios); the same on every run to compare */
    size_t chunk;         /* tail rows per contribution chunk */
    int contributions;    /* component VaR/ES */
    int incremental;      /* incremental VaR/ES (per-position P&L of every scenario: p times the work) */
    size_t bandwidth;     /* component-VaR half-width in ranks; 0 = qa_risk_component_bandwidth(m) */
    size_t sample;        /* losses of scenarios [0, sample) returned for histograms */
    qa_progress_t *progress; /* rank 0's reporter (units: scenarios), or NULL */
} qa_stress_engine_opts;

/* Results, on rank 0 (other ranks receive var/es/var_index only). Arrays are nlevels or
 * nlevels x p (level-major), owned; NULL when not computed. */
typedef struct qa_stress_engine_result {
    size_t nlevels, p;
    double *var, *es;          /* losses (currency) */
    uint64_t *var_index;       /* global index of the VaR scenario per level */
    double *comp_var, *comp_es;/* Euler components: sum over positions = VaR / ES */
    double *incr_var, *incr_es;/* VaR(book) - VaR(book without the position) */
    double *sample;            /* losses of scenarios [0, nsample) in index order */
    size_t nsample;
    uint64_t scenarios;
    size_t tail_rows;          /* m + bandwidth kept for contributions */
    double seconds_scan;       /* streaming pass (max over ranks) */
    double seconds_contrib;    /* tail regeneration and contributions */
    double seconds;            /* whole call */
} qa_stress_engine_result;

/* Runs the engine. Collective over comm (NULL = one process). All ranks pass the same
 * book, source and options. ctx: this rank's risk context (CPU or CUDA). */
qa_status qa_stress_engine_run(qa_risk_ctx_t *ctx, const qa_comm_t *comm, const qa_stress_engine_book *book,
                               const qa_stress_engine_source *src, const qa_stress_engine_opts *opts,
                               qa_stress_engine_result *out);
void qa_stress_engine_result_free(qa_stress_engine_result *r);

#ifdef __cplusplus
}
#endif
#endif
