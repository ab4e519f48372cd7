/* VaR backtesting statistics: Kupiec's proportion-of-failures test, Christoffersen's
 * independence and conditional-coverage tests, and the Basel traffic-light zone, from a
 * sequence of exceedances ("hits": 1 where the realised loss exceeded the VaR forecast).
 * Pure functions; definitions with formulas in docs/risk.md ("Backtesting"). */
#ifndef QA_PIPELINE_VAR_BACKTEST_H
#define QA_PIPELINE_VAR_BACKTEST_H

#include <stddef.h>  /* size_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qa_var_zone { QA_VAR_ZONE_GREEN = 0, QA_VAR_ZONE_YELLOW = 1, QA_VAR_ZONE_RED = 2, QA_VAR_ZONE_COUNT = 3 } qa_var_zone;
extern const char *const qa_var_zone_names[]; /* "green", "yellow", "red", NULL */

typedef struct qa_var_backtest_stats {
    size_t n;             /* forecasts evaluated */
    size_t exceed;        /* x: exceedances */
    double expected_rate; /* p = 1 - level */
    double rate;          /* x / n */
    /* Kupiec (1995) proportion of failures: LR_pof ~ chi-square(1) under H0 (rate = p). */
    double lr_pof, p_pof;
    /* Christoffersen (1998) independence: transition counts n_ij (hit i followed by hit
     * j, over the n - 1 consecutive pairs), LR_ind ~ chi-square(1) under H0 (first-order
     * Markov independence). */
    size_t n00, n01, n10, n11;
    double pi01, pi11;
    double lr_ind, p_ind;
    /* Conditional coverage LR_cc = LR_pof + LR_ind ~ chi-square(2). */
    double lr_cc, p_cc;
    /* Basel traffic light: P(X <= x) for X ~ Binomial(n, p): green below 0.95, yellow
     * below 0.9999, red from 0.9999. */
    double binom_cdf;
    qa_var_zone zone;
} qa_var_backtest_stats;

/* Evaluates the hit sequence (hits[t] in {0, 1}, t < n, n >= 2) of VaR forecasts at
 * confidence `level` in (0, 1). Conventions: 0 ln 0 = 0 in every likelihood. */
qa_status qa_var_backtest_evaluate(const unsigned char *hits, size_t n, double level, qa_var_backtest_stats *out);

/* Upper tail of the chi-square distribution with 1 or 2 degrees of freedom:
 * dof 1: erfc(sqrt(x / 2)); dof 2: exp(-x / 2). NaN for other dof or x < 0. */
double qa_var_backtest_chi2_sf(double x, int dof);

/* P(X <= x) for X ~ Binomial(n, p), summed in log space (exact to rounding for the n of
 * daily backtests). */
double qa_var_backtest_binom_cdf(size_t x, size_t n, double p);

#ifdef __cplusplus
}
#endif
#endif
