/* The reference of the risk kernels (the oracle every other path is tested against):
 * readable loops on one thread, no BLAS, every sum in the order of its definition
 * (docs/risk.md). Operations with one implementation are here too, and the optimised
 * CPU path and the host parts of CUDA call them: means, the Ledoit-Wolf target,
 * historical windows, FHS, tail selection, and the host closed forms (normal and
 * Student-t distributions, Black-Scholes prices, quantile indices, Ledoit-Wolf
 * intensities, EWMA weights, parametric VaR/ES with Euler allocation, reverse stress;
 * O(n^2) at most, on the host whatever the backend). */
#include <float.h>   /* DBL_EPSILON */
#include <math.h>    /* sqrt, erfc, exp, log, atan, lgamma, ceil, isnan, isfinite */
#include <stdint.h>  /* uint64_t */
#include <stdlib.h>  /* malloc, free, qsort */
#include <string.h>  /* memcpy */

#include "common/philox.h"      /* qa_rng_normal: the scenario definition */
#include "kernels/risk_impl.h"  /* declarations, shared per-element code */

/* ---- means and covariance ---------------------------------------------------------------- */

qa_status qa_risk_mean_ref(const double *r, size_t t, size_t n, double *mean) {
    /* Row by row: each column is summed in date order (the definition). */
    for (size_t j = 0; j < n; j++) mean[j] = 0.0;
    for (size_t d = 0; d < t; d++)
        for (size_t j = 0; j < n; j++) mean[j] += r[d * n + j];
    for (size_t j = 0; j < n; j++) mean[j] /= (double)t;
    return QA_OK;
}

/* cov_ij = sum_t w_t (r_ti - c_i)(r_tj - c_j), in date order, for centre c and weights w. */
void qa_risk_gram_ref(const double *r, size_t t, size_t n, const double *c, const double *w, double *cov) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j <= i; j++) {
            double s = 0.0;
            for (size_t d = 0; d < t; d++) s += w[d] * (r[d * n + i] - c[i]) * (r[d * n + j] - c[j]);
            cov[i * n + j] = s;
            cov[j * n + i] = s;
        }
}

/* The sums that need only S: rbar, gamma, trace, d2, min_var. */
void qa_risk_lw_finish(const double *s, size_t n, qa_risk_lw_sums *out) {
    double rsum = 0.0, trace = 0.0, minv = INFINITY;
    for (size_t i = 0; i < n; i++) {
        trace += s[i * n + i];
        if (s[i * n + i] < minv) minv = s[i * n + i];
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) rsum += s[i * n + j] / sqrt(s[i * n + i] * s[j * n + j]);
    double rbar = n > 1 ? 2.0 * rsum / ((double)n * (double)(n - 1)) : 0.0;
    double gamma = 0.0, d2 = 0.0, m = trace / (double)n;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double sij = s[i * n + j];
            if (i != j) {
                double g = rbar * sqrt(s[i * n + i] * s[j * n + j]) - sij;
                gamma += g * g;
                d2 += sij * sij;
            } else {
                d2 += (sij - m) * (sij - m);
            }
        }
    out->rbar = rbar;
    out->gamma = gamma;
    out->trace = trace;
    out->d2 = d2;
    out->min_var = n ? minv : 0.0;
}

/* The papers' definitions, loop by loop, on the centred returns x (t x n): S = x'x / t
 * and the sums pi, pi_diag and rho_off of the shrinkage intensity. */
void qa_risk_lw_sums_ref(const double *x, size_t t, size_t n, double *s, double *pi, double *pi_diag, double *rho_off) {
    const double inv_t = 1.0 / (double)t;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double a = 0.0;
            for (size_t d = 0; d < t; d++) a += x[d * n + i] * x[d * n + j];
            s[i * n + j] = a * inv_t;
        }
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double sij = s[i * n + j], sii = s[i * n + i], pij = 0.0, th = 0.0;
            for (size_t d = 0; d < t; d++) {
                double xi = x[d * n + i], u = xi * x[d * n + j] - sij;
                pij += u * u;
                th += (xi * xi - sii) * u;
            }
            pij *= inv_t;
            th *= inv_t;
            *pi += pij;
            if (i == j) *pi_diag += pij;
            else *rho_off += sqrt(s[j * n + j] / sii) * th;
        }
}

void qa_risk_lw_combine_ref(const double *s, size_t n, const qa_risk_lw_sums *sums, double delta,
                            qa_risk_lw_target target, double *cov) {
    double m = sums->trace / (double)n;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double sij = s[i * n + j], f;
            if (target == QA_RISK_LW_SCALED_IDENTITY) f = i == j ? m : 0.0;
            else f = i == j ? sij : sums->rbar * sqrt(s[i * n + i] * s[j * n + j]);
            cov[i * n + j] = delta * f + (1.0 - delta) * sij;
        }
}

qa_status qa_risk_scale_ref(double *x, size_t len, double a) {
    for (size_t k = 0; k < len; k++) x[k] *= a;
    return QA_OK;
}

/* Cholesky-Banachiewicz, row by row, on the lower triangle of a (n x n, in place).
 * Returns 0, or the order of the first leading minor that is not positive definite. */
size_t qa_risk_cholesky_ref(double *a, size_t n) {
    for (size_t j = 0; j < n; j++) {
        double d = a[j * n + j];
        for (size_t k = 0; k < j; k++) d -= a[j * n + k] * a[j * n + k];
        if (!(d > 0.0) || !isfinite(d)) return j + 1;
        double ljj = sqrt(d);
        a[j * n + j] = ljj;
        for (size_t i = j + 1; i < n; i++) {
            double v = a[i * n + j];
            for (size_t k = 0; k < j; k++) v -= a[i * n + k] * a[j * n + k];
            a[i * n + j] = v / ljj;
        }
    }
    return 0;
}

/* ---- scenarios and revaluation ------------------------------------------------------------- */

/* Student-t scale of scenario g: sqrt((nu - 2) / W), W = sum of nu squared normals of
 * stream + 1 at g*nu .. g*nu + nu - 1 (summed in order). */
double qa_risk_t_scale(const qa_risk_mc *mc, uint64_t g) {
    double w = 0.0;
    uint64_t base = g * (uint64_t)mc->nu;
    for (int k = 0; k < mc->nu; k++) {
        double e = qa_rng_normal(mc->seed, mc->stream + 1, base + (uint64_t)k);
        w += e * e;
    }
    return sqrt((double)(mc->nu - 2) / w);
}

/* Per scenario: eps by the scalar generator, z_i = sum_{j<=i} L_ij e_j (+ mean_i),
 * computed for i descending so the row can be overwritten in place. */
qa_status qa_risk_scenarios_ref(const qa_risk_mc *mc, const double *l, const double *mean, size_t n, uint64_t first,
                                const uint64_t *index, size_t count, double *shocks) {
    for (size_t s = 0; s < count; s++) {
        uint64_t g = index ? index[s] : first + s;
        double *z = shocks + s * n;
        double c = mc->dist == QA_RISK_DIST_STUDENT_T ? qa_risk_t_scale(mc, g) : 1.0;
        for (size_t j = 0; j < n; j++) z[j] = qa_rng_normal(mc->seed, mc->stream, g * n + j);
        if (mc->dist == QA_RISK_DIST_STUDENT_T)
            for (size_t j = 0; j < n; j++) z[j] *= c;
        if (l)
            for (size_t i = n; i-- > 0;) {
                double a = 0.0;
                for (size_t j = 0; j <= i; j++) a += l[i * n + j] * z[j];
                z[i] = a;
            }
        if (mean)
            for (size_t i = 0; i < n; i++) z[i] += mean[i];
    }
    return QA_OK;
}

qa_status qa_risk_pnl_linear_ref(const double *x, size_t b, size_t n, const double *w, double *pnl) {
    for (size_t s = 0; s < b; s++) {
        double a = 0.0;
        for (size_t j = 0; j < n; j++) a += x[s * n + j] * w[j];
        pnl[s] = a;
    }
    return QA_OK;
}

/* Rows [s0, s1) of the reference: one row of p accumulators per scenario. */
static void linear_pos_rows(const double *x, size_t s0, size_t s1, size_t n, const double *e, size_t p,
                            const double *offset, double *acc, double *pnl_pos, double *pnl) {
    for (size_t s = s0; s < s1; s++) {
        for (size_t q = 0; q < p; q++) acc[q] = 0.0;
        for (size_t j = 0; j < n; j++) {
            double xv = x[s * n + j];
            for (size_t q = 0; q < p; q++) acc[q] += xv * e[j * p + q];
        }
        double tot = 0.0;
        for (size_t q = 0; q < p; q++) {
            double v = offset ? acc[q] + offset[q] : acc[q];
            if (pnl_pos) pnl_pos[s * p + q] = v;
            tot += v;
        }
        if (pnl) pnl[s] = tot;
    }
}

qa_status qa_risk_pnl_linear_pos_ref(const double *x, size_t b, size_t n, const double *e, size_t p,
                                     const double *offset, double *pnl_pos, double *pnl) {
    double *acc = malloc((p ? p : 1) * sizeof *acc);
    if (!acc) return QA_FAIL(QA_ERR_NOMEM, "linear revaluation: %zu accumulators", p);
    linear_pos_rows(x, 0, b, n, e, p, offset, acc, pnl_pos, pnl);
    free(acc);
    return QA_OK;
}

/* m_jq = sum_{i >= j} L_ij e_iq */
qa_status qa_risk_factor_loadings_ref(const double *l, size_t n, const double *e, size_t p, double *m) {
    for (size_t j = 0; j < n; j++)
        for (size_t q = 0; q < p; q++) {
            double a = 0.0;
            for (size_t i = j; i < n; i++) a += l[i * n + j] * e[i * p + q];
            m[j * p + q] = a;
        }
    return QA_OK;
}

qa_status qa_risk_pnl_without_ref(const double *pnl, const double *pnl_pos, size_t b, size_t p, size_t j,
                                  double *out) {
    for (size_t s = 0; s < b; s++) out[s] = pnl[s] - pnl_pos[s * p + j];
    return QA_OK;
}

/* ---- historical ------------------------------------------------------------------------------ */

qa_status qa_risk_reval_features_ref(qa_risk_reval mode, const double *x, size_t b, size_t n, double *out) {
    size_t w = qa_risk_reval_width(mode, n);
    for (size_t s = 0; s < b; s++)
        for (size_t j = 0; j < n; j++) {
            double v = x[s * n + j];
            if (mode == QA_RISK_REVAL_FULL) {
                out[s * w + j] = expm1(v);
            } else {
                out[s * w + j] = v;
                if (mode == QA_RISK_REVAL_DELTA_GAMMA) out[s * w + n + j] = v * v;
            }
        }
    return QA_OK;
}

qa_status qa_risk_hist_horizon_ref(const double *r, size_t t, size_t n, size_t h, double *out) {
    size_t rows = t - h + 1;
    for (size_t d = 0; d < rows; d++) {
        double *o = out + d * n;
        memcpy(o, r + d * n, n * sizeof *o);
        for (size_t k = 1; k < h; k++)
            for (size_t j = 0; j < n; j++) o[j] += r[(d + k) * n + j];
    }
    return QA_OK;
}

qa_status qa_risk_fhs_ref(const double *r, size_t t, size_t n, double lambda, double *out, double *sigma_now) {
    double *v = malloc(2 * (n ? n : 1) * sizeof *v);
    if (!v) return QA_FAIL(QA_ERR_NOMEM, "FHS: %zu variances", n);
    double *now = v + n;
    /* Pass 1: seed v_0 = mean square over the window, run the recursion to v_T. */
    for (size_t j = 0; j < n; j++) v[j] = 0.0;
    for (size_t d = 0; d < t; d++)
        for (size_t j = 0; j < n; j++) v[j] += r[d * n + j] * r[d * n + j];
    for (size_t j = 0; j < n; j++) {
        v[j] /= (double)t;
        now[j] = v[j];
    }
    for (size_t d = 0; d < t; d++)
        for (size_t j = 0; j < n; j++) {
            double x = r[d * n + j];
            now[j] = lambda * now[j] + (1.0 - lambda) * (x * x);
        }
    for (size_t j = 0; j < n; j++) now[j] = sqrt(now[j]);
    /* Pass 2: the same recursion again, rescaling each return by sigma_T / sigma_t. */
    for (size_t d = 0; d < t; d++)
        for (size_t j = 0; j < n; j++) {
            double x = r[d * n + j], sd = sqrt(v[j]);
            out[d * n + j] = sd > 0.0 ? x * (now[j] / sd) : 0.0;
            v[j] = lambda * v[j] + (1.0 - lambda) * (x * x);
        }
    if (sigma_now) memcpy(sigma_now, now, n * sizeof *now);
    free(v);
    return QA_OK;
}

/* ---- tail selection ------------------------------------------------------------------------- */

static int tail_cmp(const void *pa, const void *pb) {
    const qa_risk_tail_item *a = pa, *b = pb;
    if (qa_risk_tail_before(a, b)) return -1;
    if (qa_risk_tail_before(b, a)) return 1;
    return 0;
}

void qa_risk_tail_sort(qa_risk_tail_item *items, size_t n) {
    if (n > 1) qsort(items, n, sizeof *items, tail_cmp);
}

static void swap_items(qa_risk_tail_item *a, qa_risk_tail_item *b) {
    qa_risk_tail_item t = *a;
    *a = *b;
    *b = t;
}

/* Lomuto partition of [lo, hi) around the median of three; returns the pivot's final
 * position. Items are distinct (unique indices), so the order is strict. */
static size_t partition(qa_risk_tail_item *v, size_t lo, size_t hi) {
    size_t mid = lo + (hi - lo) / 2, last = hi - 1;
    if (qa_risk_tail_before(&v[mid], &v[lo])) swap_items(&v[mid], &v[lo]);
    if (qa_risk_tail_before(&v[last], &v[lo])) swap_items(&v[last], &v[lo]);
    if (qa_risk_tail_before(&v[mid], &v[last])) swap_items(&v[mid], &v[last]); /* median now at last */
    qa_risk_tail_item p = v[last];
    size_t store = lo;
    for (size_t i = lo; i < last; i++)
        if (qa_risk_tail_before(&v[i], &p)) swap_items(&v[i], &v[store++]);
    swap_items(&v[store], &v[last]);
    return store;
}

/* Moves the m first items (canonical order) to v[0..m-1], unordered: quickselect,
 * falling back to a full sort of the remaining range after too many rounds. */
static void select_first(qa_risk_tail_item *v, size_t n, size_t m) {
    if (m >= n || m == 0) return;
    size_t lo = 0, hi = n, rounds = 0, limit = 64;
    while (hi - lo > 1) {
        if (++rounds > limit) {
            qa_risk_tail_sort(v + lo, hi - lo);
            return;
        }
        size_t k = partition(v, lo, hi);
        if (k == m || k + 1 == m) return;
        if (k > m) hi = k;
        else lo = k + 1;
    }
}

qa_status qa_risk_tail_top_ref(const double *pnl, size_t n, uint64_t first, size_t m, qa_risk_tail_item *top,
                               uint64_t *nan_at) {
    *nan_at = UINT64_MAX;
    for (size_t s = 0; s < n; s++)
        if (isnan(pnl[s])) {
            *nan_at = first + s;
            return QA_OK;
        }
    size_t keep = m < n ? m : n;
    if (keep == 0) return QA_OK;
    qa_risk_tail_item *v = malloc(n * sizeof *v);
    if (!v) return QA_FAIL(QA_ERR_NOMEM, "tail selection: %zu items", n);
    for (size_t s = 0; s < n; s++) {
        v[s].loss = qa_risk_loss_of(pnl[s]);
        v[s].index = first + s;
    }
    select_first(v, n, keep);
    qa_risk_tail_sort(v, keep);
    memcpy(top, v, keep * sizeof *v);
    free(v);
    return QA_OK;
}

/* ---- closed forms ---------------------------------------------------------------------------- */

#define SQRT_2PI 2.50662827463100050242
#define INV_SQRT_2PI 0.39894228040143267794
#define PI_D 3.14159265358979323846

/* ---- normal ------------------------------------------------------------------------ */

double qa_risk_norm_pdf(double x) { return INV_SQRT_2PI * exp(-0.5 * x * x); }

double qa_risk_norm_cdf(double x) { return qa_risk_ncdf_(x); }

/* Acklam's rational approximation (relative error < 1.15e-9) for p <= 0.5. */
static double acklam_lower(double p) {
    static const double a[6] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                                1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[5] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                                6.680131188771972e+01,  -1.328068155288572e+01};
    static const double c[6] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                                -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[4] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                                3.754408661907416e+00};
    if (p < 0.02425) {
        double q = sqrt(-2.0 * log(p));
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
               ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
    }
    double q = p - 0.5, r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
}

double qa_risk_norm_ppf(double p) {
    if (isnan(p) || p < 0.0 || p > 1.0) return NAN;
    if (p == 0.0) return -INFINITY;
    if (p == 1.0) return INFINITY;
    if (p == 0.5) return 0.0;
    /* Work in the lower tail, where Phi(x) = erfc(-x/sqrt2)/2 has full relative accuracy;
     * 1 - p is exact for p >= 0.5 (Sterbenz). */
    int upper = p > 0.5;
    double q = upper ? 1.0 - p : p;
    double x = acklam_lower(q);
    if (x > -37.5) { /* beyond, exp(x^2/2) overflows and Phi underflows: keep Acklam */
        /* One Halley step on Phi(x) - q: cubic convergence from 1e-9 reaches rounding. */
        double e = qa_risk_ncdf_(x) - q;
        double u = e * SQRT_2PI * exp(0.5 * x * x);
        x = x - u / (1.0 + 0.5 * x * u);
    }
    return upper ? -x : x;
}

/* ---- Student-t with integer degrees of freedom --------------------------------------- */

/* A(t | nu) = P(|T| <= |t|) by Abramowitz & Stegun 26.7.3 (odd nu) and 26.7.4 (even nu). */
static double t_abs_mass(double t, int nu) {
    double theta = atan(fabs(t) / sqrt((double)nu));
    double s = sin(theta), c = cos(theta), c2 = c * c;
    if (nu % 2 == 0) {
        double term = 1.0, sum = 1.0;
        for (int k = 1; 2 * k <= nu - 2; k++) {
            term *= c2 * (double)(2 * k - 1) / (double)(2 * k);
            sum += term;
        }
        return s * sum;
    }
    if (nu == 1) return 2.0 * theta / PI_D;
    double term = c, sum = c;
    for (int k = 1; 2 * k <= nu - 3; k++) {
        term *= c2 * (double)(2 * k) / (double)(2 * k + 1);
        sum += term;
    }
    return 2.0 / PI_D * (theta + s * sum);
}

double qa_risk_t_pdf(double x, int nu) {
    if (nu < 1) return NAN;
    double v = (double)nu;
    return exp(lgamma(0.5 * (v + 1.0)) - lgamma(0.5 * v) - 0.5 * log(v * PI_D) -
               0.5 * (v + 1.0) * log1p(x * x / v));
}

double qa_risk_t_cdf(double x, int nu) {
    if (nu < 1 || isnan(x)) return NAN;
    if (isinf(x)) return x > 0 ? 1.0 : 0.0;
    double a = t_abs_mass(x, nu);
    return x >= 0 ? 0.5 + 0.5 * a : 0.5 - 0.5 * a;
}

/* x > 0 with P(T > x) = q, q in (0, 0.5): Newton on the upper-tail mass, kept inside a
 * bracket (bisection when a step leaves it). */
static double t_upper_quantile(double q, int nu) {
    double lo = 0.0, hi = 1.0;
    while (0.5 - 0.5 * t_abs_mass(hi, nu) > q && hi < 1e300) {
        lo = hi;
        hi *= 2.0;
    }
    /* Cornish-Fisher start (A&S 26.7.5), clipped into the bracket. */
    double z = -qa_risk_norm_ppf(q), v = (double)nu, z2 = z * z;
    double x = z + z * (z2 + 1.0) / (4.0 * v) + z * (5.0 * z2 * z2 + 16.0 * z2 + 3.0) / (96.0 * v * v);
    if (!(x > lo && x < hi)) x = 0.5 * (lo + hi);
    for (int it = 0; it < 200; it++) {
        double tail = 0.5 - 0.5 * t_abs_mass(x, nu);
        double f = tail - q; /* decreasing in x */
        if (f > 0) lo = x;
        else hi = x;
        double step = f / qa_risk_t_pdf(x, nu);
        double nx = x + step;
        if (!(nx > lo && nx < hi)) nx = 0.5 * (lo + hi);
        if (fabs(nx - x) <= 4.0 * DBL_EPSILON * fabs(nx) || hi - lo <= 4.0 * DBL_EPSILON * hi) return nx;
        x = nx;
    }
    return x;
}

double qa_risk_t_ppf(double p, int nu) {
    if (nu < 1 || isnan(p) || p < 0.0 || p > 1.0) return NAN;
    if (p == 0.0) return -INFINITY;
    if (p == 1.0) return INFINITY;
    if (p == 0.5) return 0.0;
    return p > 0.5 ? t_upper_quantile(1.0 - p, nu) : -t_upper_quantile(p, nu);
}

double qa_risk_bs_price(qa_risk_option_type type, double spot, double strike, double tau, double vol, double rate,
                        double div_yield) {
    return qa_risk_bs_(type, spot, strike, tau, vol, rate, div_yield);
}

/* ---- indices, weights, intensities -------------------------------------------------- */

size_t qa_risk_var_rank(double alpha, size_t n) {
    if (n == 0) return 0;
    double x = alpha * (double)n;
    /* Binary alpha (0.99 is 0.98999999999999999112) makes alpha*n land a hair above or
     * below the intended integer; within the slack it counts as that integer. */
    double slack = fmax(1e-9, 8.0 * DBL_EPSILON * x);
    double k = ceil(x - slack);
    if (!(k >= 1.0)) return 1;
    if (k >= (double)n) return n;
    return (size_t)k;
}

size_t qa_risk_tail_size(double alpha, size_t n) { return n == 0 ? 0 : n - qa_risk_var_rank(alpha, n) + 1; }

size_t qa_risk_component_bandwidth(size_t m) {
    size_t h = (size_t)floor(sqrt((double)m));
    return h < 1 ? 1 : h;
}

double qa_risk_ewma_weight(double lambda, size_t t, size_t n_dates) {
    return pow(lambda, (double)n_dates) / (double)n_dates + (1.0 - lambda) * pow(lambda, (double)(n_dates - 1 - t));
}

double qa_risk_lw_intensity(const qa_risk_lw_sums *s, size_t t, size_t n, qa_risk_lw_target target) {
    double d;
    if (target == QA_RISK_LW_CONSTANT_CORRELATION) {
        if (n < 2 || !(s->gamma > 0.0)) return 0.0;
        double rho = s->pi_diag + s->rbar * s->rho_off;
        d = (s->pi - rho) / s->gamma / (double)t; /* kappa / T */
    } else {
        if (!(s->d2 > 0.0)) return 0.0;
        double b2 = s->pi / (double)t; /* (1/T^2) sum_t ||x_t x_t' - S||_F^2 */
        d = (b2 < s->d2 ? b2 : s->d2) / s->d2;
    }
    if (!(d > 0.0)) return 0.0; /* also NaN */
    return d > 1.0 ? 1.0 : d;
}

/* ---- parametric ---------------------------------------------------------------------- */

/* sw = cov w (row order), returns w' cov w. */
static double quad_form(const double *cov, const double *w, size_t n, double *sw) {
    double q = 0.0;
    for (size_t i = 0; i < n; i++) {
        double a = 0.0;
        for (size_t j = 0; j < n; j++) a += cov[i * n + j] * w[j];
        sw[i] = a;
    }
    for (size_t i = 0; i < n; i++) q += w[i] * sw[i];
    return q;
}

/* v = w' Sigma w with *sw = Sigma w (malloc'd, caller frees); a variance that is not
 * positive and finite is an error of `what`. */
static qa_status portfolio_variance(const double *cov, const double *w, size_t n, const char *what, double *v,
                                    double **sw) {
    *sw = malloc(n * sizeof **sw);
    if (!*sw) return QA_FAIL(QA_ERR_NOMEM, "%s: %zu doubles", what, n);
    *v = quad_form(cov, w, n, *sw);
    if (*v > 0.0 && !isinf(*v)) return QA_OK;
    free(*sw);
    *sw = NULL;
    return QA_FAIL(QA_ERR_NUMERIC, "%s: portfolio variance w'Sigma w = %g is not > 0", what, *v);
}

qa_status qa_risk_parametric(const double *cov, const double *mu, const double *w, size_t n, double alpha,
                             double horizon, int nu, qa_risk_param *out, double *marginal, double *comp_var,
                             double *comp_es, double *incremental) {
    if (!cov || !w || !out || n == 0) return QA_FAIL(QA_ERR_INVALID_ARG, "parametric VaR: empty portfolio or NULL input");
    if (!(alpha > 0.0 && alpha < 1.0)) return QA_FAIL(QA_ERR_INVALID_ARG, "parametric VaR: alpha %g not in (0, 1)", alpha);
    if (!(horizon > 0.0) || isinf(horizon))
        return QA_FAIL(QA_ERR_INVALID_ARG, "parametric VaR: horizon %g days must be > 0", horizon);
    if (nu != 0 && (nu < 3 || nu > 100000))
        return QA_FAIL(QA_ERR_INVALID_ARG, "parametric VaR: Student-t needs an integer nu in [3, 100000], got %d", nu);
    double *sw = NULL, v = 0.0;
    QA_TRY_RET(portfolio_variance(cov, w, n, "parametric VaR", &v, &sw));
    double s1 = sqrt(v), sh = sqrt(horizon);
    double m = 0.0;
    if (mu)
        for (size_t i = 0; i < n; i++) m += mu[i] * w[i];
    m *= horizon;
    double q, e; /* loss quantile and tail mean of the unit-variance distribution */
    if (nu == 0) {
        q = qa_risk_norm_ppf(alpha);
        e = qa_risk_norm_pdf(q) / (1.0 - alpha);
    } else {
        double dof = (double)nu, sc = sqrt((dof - 2.0) / dof), tq = qa_risk_t_ppf(alpha, nu);
        q = sc * tq;
        e = sc * qa_risk_t_pdf(tq, nu) / (1.0 - alpha) * (dof + tq * tq) / (dof - 1.0);
    }
    out->mean = m;
    out->sigma = sh * s1;
    out->var = -m + sh * s1 * q;
    out->es = -m + sh * s1 * e;
    for (size_t i = 0; i < n; i++) {
        double mui = mu ? horizon * mu[i] : 0.0;
        double mv = -mui + sh * sw[i] / s1 * q;
        if (marginal) marginal[i] = mv;
        if (comp_var) comp_var[i] = w[i] * mv;
        if (comp_es) comp_es[i] = w[i] * (-mui + sh * sw[i] / s1 * e);
        if (incremental) {
            double v0 = v - 2.0 * w[i] * sw[i] + w[i] * w[i] * cov[i * n + i];
            if (v0 < 0.0) v0 = 0.0; /* rounding when position i is the whole risk */
            double var0 = -(m - mui * w[i]) + sh * sqrt(v0) * q;
            incremental[i] = out->var - var0;
        }
    }
    free(sw);
    return QA_OK;
}

/* ---- reverse stress ------------------------------------------------------------------- */

qa_status qa_risk_reverse_stress(const double *cov, const double *w, size_t n, double loss, double *x) {
    if (!cov || !w || !x || n == 0) return QA_FAIL(QA_ERR_INVALID_ARG, "reverse stress: empty portfolio or NULL input");
    double *sw = NULL, v = 0.0;
    QA_TRY_RET(portfolio_variance(cov, w, n, "reverse stress", &v, &sw));
    for (size_t i = 0; i < n; i++) x[i] = -loss * sw[i] / v;
    free(sw);
    return QA_OK;
}

qa_status qa_risk_conditional_shock(const double *cov, size_t n, const size_t *idx, size_t k, const double *s,
                                    double *x) {
    if (!cov || !x || n == 0 || (k > 0 && (!idx || !s)))
        return QA_FAIL(QA_ERR_INVALID_ARG, "conditional shock: NULL input");
    if (k > n) return QA_FAIL(QA_ERR_INVALID_ARG, "conditional shock: %zu shocked factors of %zu", k, n);
    qa_status st = QA_OK;
    double *a = malloc((k * k + k + 1) * sizeof *a); /* Cholesky of Sigma_ss, then y */
    unsigned char *mark = calloc(n, 1);
    if (!a || !mark) QA_TRY_FAIL(QA_ERR_NOMEM, "conditional shock: %zu shocked factors", k);
    for (size_t i = 0; i < k; i++) {
        if (idx[i] >= n) QA_TRY_FAIL(QA_ERR_INVALID_ARG, "conditional shock: factor %zu out of range (n = %zu)", idx[i], n);
        if (mark[idx[i]]) QA_TRY_FAIL(QA_ERR_INVALID_ARG, "conditional shock: factor %zu shocked twice", idx[i]);
        mark[idx[i]] = 1;
    }
    /* Sigma_ss = C C' (plain Cholesky), then y = Sigma_ss^{-1} s by two triangular solves. */
    double *c = a, *y = a + k * k;
    for (size_t j = 0; j < k; j++) {
        double d = cov[idx[j] * n + idx[j]];
        for (size_t q = 0; q < j; q++) d -= c[j * k + q] * c[j * k + q];
        if (!(d > 0.0) || isinf(d))
            QA_TRY_FAIL(QA_ERR_NUMERIC, "conditional shock: covariance of the shocked factors is not positive definite (minor %zu)",
                        j + 1);
        c[j * k + j] = sqrt(d);
        for (size_t i = j + 1; i < k; i++) {
            double v = cov[idx[i] * n + idx[j]];
            for (size_t q = 0; q < j; q++) v -= c[i * k + q] * c[j * k + q];
            c[i * k + j] = v / c[j * k + j];
        }
    }
    for (size_t i = 0; i < k; i++) { /* C u = s */
        double v = s[i];
        for (size_t q = 0; q < i; q++) v -= c[i * k + q] * y[q];
        y[i] = v / c[i * k + i];
    }
    for (size_t i = k; i-- > 0;) { /* C' y = u */
        double v = y[i];
        for (size_t q = i + 1; q < k; q++) v -= c[q * k + i] * y[q];
        y[i] = v / c[i * k + i];
    }
    for (size_t i = 0; i < n; i++) {
        if (mark[i]) continue;
        double v = 0.0;
        for (size_t q = 0; q < k; q++) v += cov[i * n + idx[q]] * y[q];
        x[i] = v;
    }
    for (size_t q = 0; q < k; q++) x[idx[q]] = s[q];
cleanup:
    free(a);
    free(mark);
    return st;
}
