/* Multiple-testing guards for parameter sweeps: how much of the best result of N trials
 * is selection luck.
 *
 *  - Deflated Sharpe ratio (Bailey & Lopez de Prado, "The Deflated Sharpe Ratio", 2014):
 *    the probability that the selected strategy's true Sharpe ratio exceeds SR0, the
 *    Sharpe ratio the best of N independent zero-skill trials is expected to reach
 *    given the variance of the trials' Sharpe ratios, corrected for the skewness and
 *    kurtosis of the selected returns and the sample length.
 *  - White's Reality Check (2000) and Hansen's test for Superior Predictive Ability
 *    (2005, studentized, consistent recentering): bootstrap p-values of "no model beats
 *    the benchmark" from the stationary bootstrap (Politis & Romano 1994) of the per-bar
 *    differences d_k(t) = R_k(t) - R_bench(t), with every random draw from Philox keyed
 *    by (seed, bootstrap index, draw index), so a p-value depends only on its inputs.
 *
 * Units: Sharpe ratios here are per bar (mean / std with ddof 1), not annualised.
 * Formulas and conventions are in docs/sweep.md ("Multiple testing"). The bootstrap is
 * streaming: models are added one series at a time, so memory is O(n + B), not O(N n). */
#ifndef QA_PIPELINE_MTEST_H
#define QA_PIPELINE_MTEST_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint64_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Standard normal CDF and its inverse (p in [0, 1]: -inf/+inf at the ends, NaN outside);
 * the inverse is accurate to ~1e-15 relative (rational start + one Halley step). */
double qa_mtest_norm_cdf(double x);
double qa_mtest_norm_ppf(double p);

/* Expected maximum of n_trials independent N(0, var) Sharpe estimates (the False Strategy
 * theorem's approximation): sqrt(var)·((1-g)·Phi^-1(1 - 1/N) + g·Phi^-1(1 - 1/(N e))),
 * g = Euler-Mascheroni constant. 0 for N <= 1. */
double qa_mtest_expected_max_sharpe(double var, double n_trials);

/* Sample moments of the non-NaN values of x[0..n): count, mean, std (ddof 1), skewness
 * and (non-excess) kurtosis from population central moments, per-bar Sharpe mean/std. */
typedef struct qa_mtest_moments {
    long n;
    double mean, sd, skew, kurt, sharpe;
} qa_mtest_moments;
void qa_mtest_moments_of(const double *x, size_t n, qa_mtest_moments *out);

typedef struct qa_mtest_dsr_result {
    long n;            /* observations of the selected series */
    double sharpe;     /* its per-bar Sharpe ratio */
    double skew, kurt; /* of its returns (kurtosis not excess: 3 for a normal) */
    double var_trials; /* variance (ddof 1) of the trials' per-bar Sharpe ratios */
    double n_trials;   /* number of independent trials used for SR0 */
    double sr0;        /* expected maximum per-bar Sharpe of n_trials null trials */
    double psr;        /* probabilistic Sharpe ratio: P(true SR > 0) */
    double dsr;        /* deflated Sharpe ratio: P(true SR > SR0) */
} qa_mtest_dsr_result;

/* DSR of the selected series R[0..n) (NaN entries skipped). QA_ERR_INVALID_ARG when fewer
 * than 3 values or a zero standard deviation. */
qa_status qa_mtest_dsr(const double *R, size_t n, double var_trials, double n_trials, qa_mtest_dsr_result *out);

/* ---- trial statistics (streaming): variance of Sharpe ratios, effective trial count ---- */

typedef struct qa_mtest_trials qa_mtest_trials_t;

/* For series of n bars. Caller frees. */
qa_status qa_mtest_trials_create(size_t n, qa_mtest_trials_t **out);
/* Adds one trial's return series (n values; NaN counts as 0). A series with zero
 * variance (a set that never trades) has no Sharpe ratio and is not counted. */
void qa_mtest_trials_add(qa_mtest_trials_t *t, const double *R);
typedef struct qa_mtest_trials_result {
    size_t trials;     /* series with a defined Sharpe ratio */
    double var_sharpe; /* variance (ddof 1) of their per-bar Sharpe ratios */
    double rho_mean;   /* average pairwise correlation of the series */
    double n_eff;      /* rho + (1 - rho)·trials, rho clamped to [0, 1] */
} qa_mtest_trials_result;
void qa_mtest_trials_result_of(const qa_mtest_trials_t *t, qa_mtest_trials_result *out);
void qa_mtest_trials_free(qa_mtest_trials_t *t);

/* ---- Reality Check / SPA (streaming over models) ----------------------------------------- */

typedef struct qa_mtest_rc qa_mtest_rc_t;

/* n bars (>= 10), B bootstrap resamples (>= 1), mean block length (>= 1; 1 = iid
 * bootstrap), Philox seed. The resampling plan (block starts and lengths of every
 * resample) is drawn here and shared by all models, as the tests require. */
qa_status qa_mtest_rc_create(size_t n, size_t B, double mean_block, uint64_t seed, qa_mtest_rc_t **out);
/* Adds model k's differential series d[0..n) (model minus benchmark per bar; finite). */
qa_status qa_mtest_rc_add(qa_mtest_rc_t *rc, const double *d);

typedef struct qa_mtest_rc_result {
    size_t models;     /* models added */
    size_t best;       /* index of the model with the largest mean differential */
    double best_mean;  /* its mean differential per bar */
    double stat_rc;    /* max_k sqrt(n)·mean(d_k) */
    double p_rc;       /* White's Reality Check p-value */
    double stat_spa;   /* max(0, max_k sqrt(n)·mean(d_k)/omega_k) */
    double p_spa;      /* Hansen's SPA p-value (consistent recentering) */
} qa_mtest_rc_result;
qa_status qa_mtest_rc_finish(const qa_mtest_rc_t *rc, qa_mtest_rc_result *out);
void qa_mtest_rc_free(qa_mtest_rc_t *rc);

/* Bootstrap standard deviation of sqrt(n)·mean(d) for one series under the plan (for
 * tests: ~ std(d) for an iid series with mean_block 1). */
double qa_mtest_rc_omega(const qa_mtest_rc_t *rc, const double *d);

#ifdef __cplusplus
}
#endif
#endif
