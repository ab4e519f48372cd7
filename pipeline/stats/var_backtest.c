/* Kupiec, Christoffersen and Basel traffic-light statistics of VaR exceedances. */
#include "pipeline/stats/var_backtest.h"

#include <math.h>    /* log, erfc, exp, lgamma */
#include <string.h>  /* memset */

const char *const qa_var_zone_names[] = {"green", "yellow", "red", NULL};
_Static_assert(sizeof qa_var_zone_names / sizeof qa_var_zone_names[0] == QA_VAR_ZONE_COUNT + 1, "zones");

/* k ln(q) with the convention 0 ln 0 = 0. */
static double xlogy(double k, double q) { return k == 0.0 ? 0.0 : k * log(q); }

double qa_var_backtest_chi2_sf(double x, int dof) {
    if (!(x >= 0.0)) return NAN;
    if (dof == 1) return erfc(sqrt(0.5 * x));
    if (dof == 2) return exp(-0.5 * x);
    return NAN;
}

double qa_var_backtest_binom_cdf(size_t x, size_t n, double p) {
    if (x >= n) return 1.0;
    if (p <= 0.0) return 1.0;
    if (p >= 1.0) return 0.0;
    double lp = log(p), lq = log1p(-p), s = 0.0, ln1 = lgamma((double)n + 1.0);
    for (size_t k = 0; k <= x; k++)
        s += exp(ln1 - lgamma((double)k + 1.0) - lgamma((double)(n - k) + 1.0) + (double)k * lp + (double)(n - k) * lq);
    return s > 1.0 ? 1.0 : s;
}

qa_status qa_var_backtest_evaluate(const unsigned char *hits, size_t n, double level, qa_var_backtest_stats *out) {
    if (!hits || !out || n < 2) return QA_FAIL(QA_ERR_INVALID_ARG, "VaR backtest needs at least 2 forecasts (got %zu)", n);
    if (!(level > 0.0 && level < 1.0)) return QA_FAIL(QA_ERR_INVALID_ARG, "VaR backtest: level %g not in (0, 1)", level);
    qa_var_backtest_stats s;
    memset(&s, 0, sizeof s);
    s.n = n;
    for (size_t t = 0; t < n; t++) {
        if (hits[t] > 1) return QA_FAIL(QA_ERR_INVALID_ARG, "VaR backtest: hit %zu is %u (0 or 1 expected)", t, hits[t]);
        s.exceed += hits[t];
        if (t > 0) {
            int a = hits[t - 1], b = hits[t];
            if (!a && !b) s.n00++;
            else if (!a && b) s.n01++;
            else if (a && !b) s.n10++;
            else s.n11++;
        }
    }
    double p = 1.0 - level, N = (double)n, x = (double)s.exceed;
    s.expected_rate = p;
    s.rate = x / N;
    /* Kupiec: -2 ln [ L(p) / L(x/n) ]. */
    s.lr_pof = -2.0 * (xlogy(N - x, 1.0 - p) + xlogy(x, p)) + 2.0 * (xlogy(N - x, 1.0 - s.rate) + xlogy(x, s.rate));
    if (s.lr_pof < 0.0) s.lr_pof = 0.0; /* rounding when x/n == p */
    s.p_pof = qa_var_backtest_chi2_sf(s.lr_pof, 1);
    /* Christoffersen independence: -2 ln [ L(pi) / L(pi01, pi11) ]. */
    double n00 = (double)s.n00, n01 = (double)s.n01, n10 = (double)s.n10, n11 = (double)s.n11;
    double pi = (n01 + n11) / (n00 + n01 + n10 + n11);
    s.pi01 = n00 + n01 > 0 ? n01 / (n00 + n01) : 0.0;
    s.pi11 = n10 + n11 > 0 ? n11 / (n10 + n11) : 0.0;
    s.lr_ind = -2.0 * (xlogy(n00 + n10, 1.0 - pi) + xlogy(n01 + n11, pi)) +
               2.0 * (xlogy(n00, 1.0 - s.pi01) + xlogy(n01, s.pi01) + xlogy(n10, 1.0 - s.pi11) + xlogy(n11, s.pi11));
    if (s.lr_ind < 0.0) s.lr_ind = 0.0;
    s.p_ind = qa_var_backtest_chi2_sf(s.lr_ind, 1);
    s.lr_cc = s.lr_pof + s.lr_ind;
    s.p_cc = qa_var_backtest_chi2_sf(s.lr_cc, 2);
    s.binom_cdf = qa_var_backtest_binom_cdf(s.exceed, n, p);
    s.zone = s.binom_cdf < 0.95 ? QA_VAR_ZONE_GREEN : s.binom_cdf < 0.9999 ? QA_VAR_ZONE_YELLOW : QA_VAR_ZONE_RED;
    *out = s;
    return QA_OK;
}
