/* Multiple-testing guards: deflated Sharpe ratio, effective number of trials, White's
 * Reality Check and Hansen's SPA with a Philox-driven stationary bootstrap. */
#include "pipeline/stats/mtest.h"

#include <math.h>    /* erfc, sqrt, log, exp, floor, NAN, INFINITY */
#include <stdlib.h>  /* calloc, malloc, free */
#include <string.h>  /* memset */

#include "common/mem.h"
#include "common/philox.h" /* counter-based draws of the bootstrap plan */

#define EULER_GAMMA 0.57721566490153286061
#define RC_STREAM_BASE 0x5c0000ull /* Philox streams of the bootstrap plan: base + resample index */

/* ---- normal distribution ------------------------------------------------------------------ */

double qa_mtest_norm_cdf(double x) { return 0.5 * erfc(-x / 1.41421356237309504880); }

/* Acklam's rational approximation (relative error < 1.2e-9) refined by one Halley step
 * on erfc, which brings it to full double precision. */
double qa_mtest_norm_ppf(double p) {
    if (isnan(p) || p < 0.0 || p > 1.0) return NAN;
    if (p == 0.0) return -INFINITY;
    if (p == 1.0) return INFINITY;
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01,  -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                               3.754408661907416e+00};
    const double plow = 0.02425;
    double x;
    if (p < plow) {
        double q = sqrt(-2.0 * log(p));
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
    } else if (p <= 1.0 - plow) {
        double q = p - 0.5, r = q * q;
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0);
    } else {
        double q = sqrt(-2.0 * log(1.0 - p));
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0);
    }
    /* Halley step: e = Phi(x) - p; u = e·sqrt(2 pi)·exp(x^2/2). */
    double e = qa_mtest_norm_cdf(x) - p;
    double u = e * 2.50662827463100050242 * exp(0.5 * x * x);
    return x - u / (1.0 + 0.5 * x * u);
}

double qa_mtest_expected_max_sharpe(double var, double n_trials) {
    if (!(n_trials > 1.0) || !(var > 0.0)) return 0.0;
    double z1 = qa_mtest_norm_ppf(1.0 - 1.0 / n_trials);
    double z2 = qa_mtest_norm_ppf(1.0 - 1.0 / (n_trials * 2.71828182845904523536));
    return sqrt(var) * ((1.0 - EULER_GAMMA) * z1 + EULER_GAMMA * z2);
}

/* ---- moments and the deflated Sharpe ratio --------------------------------------------------- */

void qa_mtest_moments_of(const double *x, size_t n, qa_mtest_moments *out) {
    memset(out, 0, sizeof *out);
    long cnt = 0;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i])) {
            cnt++;
            sum += x[i];
        }
    out->n = cnt;
    if (cnt == 0) {
        out->mean = out->sd = out->skew = out->kurt = out->sharpe = NAN;
        return;
    }
    double mean = sum / (double)cnt, m2 = 0.0, m3 = 0.0, m4 = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i])) continue;
        double d = x[i] - mean, d2 = d * d;
        m2 += d2;
        m3 += d2 * d;
        m4 += d2 * d2;
    }
    out->mean = mean;
    out->sd = cnt > 1 ? sqrt(m2 / (double)(cnt - 1)) : NAN;
    double v = m2 / (double)cnt; /* population moments for skewness and kurtosis */
    out->skew = v > 0.0 ? (m3 / (double)cnt) / (v * sqrt(v)) : NAN;
    out->kurt = v > 0.0 ? (m4 / (double)cnt) / (v * v) : NAN;
    out->sharpe = out->sd > 0.0 ? mean / out->sd : NAN;
}

/* P(true SR > sr_ref) for an observed per-bar SR over n bars (Bailey & Lopez de Prado's
 * probabilistic Sharpe ratio). */
static double psr(double sr, double sr_ref, long n, double skew, double kurt) {
    double den = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr;
    if (!(den > 0.0) || n < 2) return NAN;
    return qa_mtest_norm_cdf((sr - sr_ref) * sqrt((double)(n - 1)) / sqrt(den));
}

qa_status qa_mtest_dsr(const double *R, size_t n, double var_trials, double n_trials, qa_mtest_dsr_result *out) {
    qa_mtest_moments m;
    qa_mtest_moments_of(R, n, &m);
    if (m.n < 3 || !(m.sd > 0.0))
        return QA_FAIL(QA_ERR_INVALID_ARG, "deflated Sharpe ratio: the selected series has %ld values and std %g "
                       "(needs >= 3 values and a non-zero std)", m.n, m.sd);
    memset(out, 0, sizeof *out);
    out->n = m.n;
    out->sharpe = m.sharpe;
    out->skew = m.skew;
    out->kurt = m.kurt;
    out->var_trials = var_trials;
    out->n_trials = n_trials;
    out->sr0 = qa_mtest_expected_max_sharpe(var_trials, n_trials);
    out->psr = psr(m.sharpe, 0.0, m.n, m.skew, m.kurt);
    out->dsr = psr(m.sharpe, out->sr0, m.n, m.skew, m.kurt);
    return QA_OK;
}

/* ---- trial statistics ------------------------------------------------------------------------- */

struct qa_mtest_trials {
    size_t n;
    double *zsum;      /* sum over trials of the standardised series (ddof 1) */
    size_t trials;
    double sr_mean, sr_m2; /* Welford over the trials' Sharpe ratios */
};

qa_status qa_mtest_trials_create(size_t n, qa_mtest_trials_t **out) {
    qa_mtest_trials_t *t = calloc(1, sizeof *t);
    if (t) t->zsum = calloc(n ? n : 1, sizeof *t->zsum);
    if (!t || !t->zsum) {
        qa_mtest_trials_free(t);
        return QA_FAIL(QA_ERR_NOMEM, "trial statistics for %zu bars", n);
    }
    t->n = n;
    *out = t;
    return QA_OK;
}

void qa_mtest_trials_add(qa_mtest_trials_t *t, const double *R) {
    size_t n = t->n;
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += isnan(R[i]) ? 0.0 : R[i];
    double mean = n ? sum / (double)n : 0.0, m2 = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (isnan(R[i]) ? 0.0 : R[i]) - mean;
        m2 += d * d;
    }
    if (n < 2 || !(m2 > 0.0)) return;
    double sd = sqrt(m2 / (double)(n - 1));
    for (size_t i = 0; i < n; i++) t->zsum[i] += ((isnan(R[i]) ? 0.0 : R[i]) - mean) / sd;
    double sr = mean / sd;
    t->trials++;
    double delta = sr - t->sr_mean;
    t->sr_mean += delta / (double)t->trials;
    t->sr_m2 += delta * (sr - t->sr_mean);
}

/* Var(sum_k z_k) = sum_kj rho_kj = N + N(N-1)·rho_mean, because each z_k has variance 1
 * (standardised with the same ddof as the variance below). */
void qa_mtest_trials_result_of(const qa_mtest_trials_t *t, qa_mtest_trials_result *out) {
    memset(out, 0, sizeof *out);
    out->trials = t->trials;
    out->var_sharpe = t->trials > 1 ? t->sr_m2 / (double)(t->trials - 1) : NAN;
    double N = (double)t->trials;
    if (t->trials < 2 || t->n < 2) {
        out->rho_mean = NAN;
        out->n_eff = N;
        return;
    }
    double s = 0.0, m2 = 0.0;
    for (size_t i = 0; i < t->n; i++) s += t->zsum[i];
    double mean = s / (double)t->n;
    for (size_t i = 0; i < t->n; i++) m2 += (t->zsum[i] - mean) * (t->zsum[i] - mean);
    double var = m2 / (double)(t->n - 1);
    double rho = (var / N - 1.0) / (N - 1.0);
    out->rho_mean = rho;
    double r = rho < 0.0 ? 0.0 : rho > 1.0 ? 1.0 : rho;
    out->n_eff = r + (1.0 - r) * N;
}

void qa_mtest_trials_free(qa_mtest_trials_t *t) {
    if (!t) return;
    free(t->zsum);
    free(t);
}

/* ---- Reality Check / SPA ---------------------------------------------------------------------- */

struct qa_mtest_rc {
    size_t n, B;
    size_t *bstart;   /* [B + 1] offsets of each resample's blocks in start/len */
    size_t *start;    /* block start indices */
    size_t *len;      /* block lengths (may exceed n: the block wraps around) */
    double *prefix;   /* [n + 1] scratch: prefix sums of the current model */
    double *boot;     /* [B] scratch: the current model's resampled means */
    double *vstar;    /* [B] max over models of sqrt(n)(mean* - mean) (RC) */
    double *tstar;    /* [B] max(0, max over models of the recentred, studentised mean) (SPA) */
    size_t models, best;
    double best_mean, stat_rc, stat_spa;
};

void qa_mtest_rc_free(qa_mtest_rc_t *rc) {
    if (!rc) return;
    QA_FREE_ALL(rc->bstart, rc->start, rc->len, rc->prefix, rc);
}
/* Appends block (start, len) to the bootstrap plan, doubling its arrays when full. */
static qa_status plan_block(qa_mtest_rc_t *rc, size_t *used, size_t *cap, size_t start, size_t len) {
    if (*used + 1 >= *cap) {
        size_t ncap = *cap * 2;
        size_t *ns = realloc(rc->start, ncap * sizeof *ns);
        if (ns) rc->start = ns;
        size_t *nl = ns ? realloc(rc->len, ncap * sizeof *nl) : NULL;
        if (!ns || !nl) return QA_FAIL(QA_ERR_NOMEM, "bootstrap plan blocks");
        rc->len = nl;
        *cap = ncap;
    }
    rc->start[*used] = start;
    rc->len[(*used)++] = len;
    return QA_OK;
}


/* Stationary bootstrap plan: resample b starts at a uniform index; at each later step it
 * starts a new block at a uniform index with probability q = 1/mean_block, else
 * continues with the next index (wrapping). Draw 2i of stream (base + b) decides at step
 * i, draw 2i + 1 gives the new index (draw 1 the first start). */
qa_status qa_mtest_rc_create(size_t n, size_t B, double mean_block, uint64_t seed, qa_mtest_rc_t **out) {
    if (n < 10 || B < 1 || !(mean_block >= 1.0))
        return QA_FAIL(QA_ERR_INVALID_ARG, "reality check: needs >= 10 bars (%zu), >= 1 resample (%zu) and a mean "
                       "block length >= 1 (%g)", n, B, mean_block);
    qa_status st = QA_OK;
    qa_mtest_rc_t *rc = calloc(1, sizeof *rc);
    if (!rc) return QA_FAIL(QA_ERR_NOMEM, "reality check");
    rc->n = n;
    rc->B = B;
    const double q = 1.0 / mean_block;
    size_t cap = B * (size_t)(2.0 + 1.5 * q * (double)n) + 16, used = 0;
    rc->bstart = malloc((B + 1) * sizeof *rc->bstart);
    rc->start = malloc(cap * sizeof *rc->start);
    rc->len = malloc(cap * sizeof *rc->len);
    rc->prefix = malloc((n + 1 + 3 * B) * sizeof *rc->prefix);
    if (!rc->bstart || !rc->start || !rc->len || !rc->prefix) QA_TRY_FAIL(QA_ERR_NOMEM, "bootstrap plan (%zu resamples)", B);
    rc->boot = rc->prefix + n + 1;
    rc->vstar = rc->boot + B;
    rc->tstar = rc->vstar + B;
    for (size_t b = 0; b < B; b++) {
        uint64_t stream = RC_STREAM_BASE + b;
        rc->bstart[b] = used;
        size_t cur = (size_t)floor(qa_rng_uniform(seed, stream, 1) * (double)n), l = 1;
        for (size_t i = 1; i < n; i++) {
            if (qa_rng_uniform(seed, stream, 2 * i) < q) {
                QA_TRY(plan_block(rc, &used, &cap, cur, l));
                cur = (size_t)floor(qa_rng_uniform(seed, stream, 2 * i + 1) * (double)n);
                if (cur >= n) cur = n - 1;
                l = 1;
            } else {
                l++;
            }
        }
        QA_TRY(plan_block(rc, &used, &cap, cur, l));
    }
    rc->bstart[B] = used;
    for (size_t b = 0; b < B; b++) {
        rc->vstar[b] = -INFINITY;
        rc->tstar[b] = 0.0;
    }
    rc->stat_rc = -INFINITY;
    rc->stat_spa = 0.0;
    rc->best_mean = -INFINITY;
    *out = rc;
    return QA_OK;
cleanup:
    qa_mtest_rc_free(rc);
    return st;
}

/* Resampled means of d under the plan into rc->boot; returns the plain mean. */
static double resample_means(const qa_mtest_rc_t *rc, const double *d) {
    const size_t n = rc->n;
    if (n == 0) return NAN; /* qa_mtest_rc_create refuses fewer than 10 bars */
    double *P = rc->prefix;
    P[0] = 0.0;
    for (size_t i = 0; i < n; i++) P[i + 1] = P[i] + d[i];
    for (size_t b = 0; b < rc->B; b++) {
        double s = 0.0;
        for (size_t k = rc->bstart[b]; k < rc->bstart[b + 1]; k++) {
            size_t a = rc->start[k], l = rc->len[k];
            size_t full = l / n, rem = l % n;
            double seg = a + rem <= n ? P[a + rem] - P[a] : (P[n] - P[a]) + P[a + rem - n];
            s += (double)full * P[n] + seg;
        }
        rc->boot[b] = s / (double)n;
    }
    return P[n] / (double)n;
}

double qa_mtest_rc_omega(const qa_mtest_rc_t *rc, const double *d) {
    double mean = resample_means(rc, d), v = 0.0, sn = sqrt((double)rc->n);
    for (size_t b = 0; b < rc->B; b++) {
        double x = sn * (rc->boot[b] - mean);
        v += x * x;
    }
    return sqrt(v / (double)rc->B);
}

qa_status qa_mtest_rc_add(qa_mtest_rc_t *rc, const double *d) {
    const size_t n = rc->n, B = rc->B;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(d[i]))
            return QA_FAIL(QA_ERR_INVALID_ARG, "reality check: model %zu has a non-finite differential at bar %zu",
                           rc->models, i);
    const double sn = sqrt((double)n);
    double mean = resample_means(rc, d);
    double om2 = 0.0;
    for (size_t b = 0; b < B; b++) {
        double x = sn * (rc->boot[b] - mean);
        om2 += x * x;
        if (x > rc->vstar[b]) rc->vstar[b] = x;
    }
    double omega = sqrt(om2 / (double)B);
    if (sn * mean > rc->stat_rc) rc->stat_rc = sn * mean;
    if (mean > rc->best_mean) {
        rc->best_mean = mean;
        rc->best = rc->models;
    }
    if (omega > 0.0) {
        /* Hansen's consistent recentring: a model far below the benchmark (t below
         * -sqrt(2 log log n)) is recentred at 0, so it cannot inflate the null. */
        double t = sn * mean / omega;
        if (t > rc->stat_spa) rc->stat_spa = t;
        double g = t >= -sqrt(2.0 * log(log((double)n))) ? mean : 0.0;
        for (size_t b = 0; b < B; b++) {
            double z = sn * (rc->boot[b] - g) / omega;
            if (z > rc->tstar[b]) rc->tstar[b] = z;
        }
    }
    rc->models++;
    return QA_OK;
}

qa_status qa_mtest_rc_finish(const qa_mtest_rc_t *rc, qa_mtest_rc_result *out) {
    if (rc->models == 0) return QA_FAIL(QA_ERR_INVALID_ARG, "reality check: no models were added");
    memset(out, 0, sizeof *out);
    size_t crc = 0, cspa = 0;
    for (size_t b = 0; b < rc->B; b++) {
        crc += rc->vstar[b] >= rc->stat_rc;
        cspa += rc->tstar[b] >= rc->stat_spa;
    }
    out->models = rc->models;
    out->best = rc->best;
    out->best_mean = rc->best_mean;
    out->stat_rc = rc->stat_rc;
    out->stat_spa = rc->stat_spa;
    out->p_rc = (double)crc / (double)rc->B;
    out->p_spa = (double)cspa / (double)rc->B;
    return QA_OK;
}
