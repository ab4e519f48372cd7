/* Risk kernels: the context, argument validation and backend dispatch, plus the host
 * parts that must be identical on every backend (tail merge, VaR/ES from a tail,
 * simulated contributions). Backend code: risk_cpu.c, risk.cu; closed forms:
 * risk_ref.c. */
#include <math.h>    /* fabs, isfinite, isnan */
#include <stdint.h>  /* UINT64_MAX */
#include <stdlib.h>  /* calloc, malloc, free */
#include <string.h>  /* memcpy */

#include "kernels/risk_impl.h"  /* context layout, backend entry points */

/* ---- context ---------------------------------------------------------------------------- */

static int is_cuda(const qa_risk_ctx_t *ctx) { return qa_backend_kind_of(ctx->be) == QA_BACKEND_CUDA; }

/* The backend's reference flag and thread count, as the CPU functions take them. */
static int cpu_ref(const qa_risk_ctx_t *ctx) { return qa_backend_reference(ctx->be); }
static int cpu_threads(const qa_risk_ctx_t *ctx) { return qa_backend_threads(ctx->be); }

qa_status qa_risk_ctx_create(qa_backend_t *be, qa_risk_ctx_t **out) {
    if (!be || !out) return QA_FAIL(QA_ERR_INVALID_ARG, "risk context: NULL backend or output");
    qa_risk_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return QA_FAIL(QA_ERR_NOMEM, "risk context");
    ctx->be = be;
    if (is_cuda(ctx)) {
        qa_status st = qa_risk_handles_create_cuda(ctx);
        if (st != QA_OK) {
            free(ctx);
            return st;
        }
    }
    *out = ctx;
    return QA_OK;
}

void qa_risk_ctx_free(qa_risk_ctx_t *ctx) {
    if (!ctx) return;
    if (is_cuda(ctx)) {
        (void)qa_backend_sync(ctx->be);
        qa_risk_handles_free_cuda(ctx);
    }
    free(ctx);
}

qa_backend_t *qa_risk_ctx_backend(const qa_risk_ctx_t *ctx) { return ctx->be; }

void qa_risk_ctx_set_vendor_blas(qa_risk_ctx_t *ctx, int on) { ctx->vendor_blas = on ? 1 : 0; }

/* ---- validation helpers ------------------------------------------------------------------- */

static int mul_overflows(size_t a, size_t b) { return a != 0 && b > SIZE_MAX / a; }

#define CHECK_CTX(ctx, what)                                                   \
    do {                                                                       \
        if (!(ctx)) return QA_FAIL(QA_ERR_INVALID_ARG, "%s: NULL context", what); \
    } while (0)

static qa_status check_matrix(const void *p, size_t rows, size_t cols, const char *what, const char *name) {
    if (mul_overflows(rows, cols) || mul_overflows(rows * cols, sizeof(double)))
        return QA_FAIL(QA_ERR_INVALID_ARG, "%s: %s of %zu x %zu is too large", what, name, rows, cols);
    if (!p && rows * cols > 0) return QA_FAIL(QA_ERR_INVALID_ARG, "%s: %s is NULL", what, name);
    return QA_OK;
}

/* Return matrices must be NaN-free (risk.h): the first NaN/Inf is an error naming it. */
static qa_status check_finite(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, const char *what) {
    uint64_t pos = UINT64_MAX;
    if (t == 0 || n == 0) return QA_OK;
    if (is_cuda(ctx)) {
        qa_status st = qa_risk_find_nonfinite_cuda(ctx, r, t * n, &pos);
        if (st != QA_OK) return st;
    } else {
        for (size_t k = 0; k < t * n; k++)
            if (!isfinite(r[k])) {
                pos = k;
                break;
            }
    }
    if (pos != UINT64_MAX)
        return QA_FAIL(QA_ERR_NUMERIC, "%s: return [date %llu][factor %llu] is NaN or infinite (clean or fill missing "
                                       "data first)",
                       what, (unsigned long long)(pos / n), (unsigned long long)(pos % n));
    return QA_OK;
}

/* ---- covariance ---------------------------------------------------------------------------- */

qa_status qa_risk_mean(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, double *mean) {
    CHECK_CTX(ctx, "mean");
    qa_status st;
    if (t == 0) return QA_FAIL(QA_ERR_INVALID_ARG, "mean: no dates (T = 0)");
    if ((st = check_matrix(r, t, n, "mean", "returns")) || (st = check_matrix(mean, 1, n, "mean", "output"))) return st;
    if (n == 0) return QA_OK;
    if ((st = check_finite(ctx, r, t, n, "mean"))) return st;
    if (is_cuda(ctx)) return qa_risk_mean_cuda(ctx, r, t, n, mean);
    return qa_risk_mean_ref(r, t, n, mean);
}

static qa_status gram(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, qa_risk_weighting wt, double lambda,
                      int demean, double *cov, const char *what) {
    qa_status st;
    if ((st = check_matrix(r, t, n, what, "returns")) || (st = check_matrix(cov, n, n, what, "output"))) return st;
    if (n == 0) return QA_OK;
    if ((st = check_finite(ctx, r, t, n, what))) return st;
    if (is_cuda(ctx)) return qa_risk_gram_cuda(ctx, r, t, n, wt, lambda, demean, cov);
    return qa_risk_gram_cpu(r, t, n, wt, lambda, demean, cov, cpu_ref(ctx), cpu_threads(ctx));
}

qa_status qa_risk_cov_sample(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, double *cov) {
    CHECK_CTX(ctx, "sample covariance");
    if (t < 2) return QA_FAIL(QA_ERR_INVALID_ARG, "sample covariance needs T >= 2 dates, got %zu", t);
    return gram(ctx, r, t, n, QA_RISK_W_SAMPLE, 0.0, 1, cov, "sample covariance");
}

qa_status qa_risk_cov_ewma(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, double lambda, int demean,
                           double *cov) {
    CHECK_CTX(ctx, "EWMA covariance");
    if (!(lambda > 0.0 && lambda < 1.0))
        return QA_FAIL(QA_ERR_INVALID_ARG, "EWMA covariance: lambda %g not in (0, 1)", lambda);
    if (t < 1) return QA_FAIL(QA_ERR_INVALID_ARG, "EWMA covariance needs T >= 1 dates");
    return gram(ctx, r, t, n, QA_RISK_W_EWMA, lambda, demean ? 1 : 0, cov, "EWMA covariance");
}

qa_status qa_risk_cov_ledoit_wolf(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n,
                                  qa_risk_lw_target target, double *cov, double *intensity) {
    CHECK_CTX(ctx, "Ledoit-Wolf");
    qa_status st;
    if (target < 0 || target >= QA_RISK_LW_TARGET_COUNT)
        return QA_FAIL(QA_ERR_INVALID_ARG, "Ledoit-Wolf: unknown target %d", (int)target);
    if (t < 2) return QA_FAIL(QA_ERR_INVALID_ARG, "Ledoit-Wolf needs T >= 2 dates, got %zu", t);
    if ((st = check_matrix(r, t, n, "Ledoit-Wolf", "returns")) || (st = check_matrix(cov, n, n, "Ledoit-Wolf", "output")))
        return st;
    if (n == 0) {
        if (intensity) *intensity = 0.0;
        return QA_OK;
    }
    if ((st = check_finite(ctx, r, t, n, "Ledoit-Wolf"))) return st;
    double delta = 0.0;
    if (is_cuda(ctx)) {
        st = qa_risk_lw_cuda(ctx, r, t, n, target, cov, &delta);
    } else {
        qa_risk_lw_sums sums;
        double *s = malloc(n * n * sizeof *s);
        if (!s) return QA_FAIL(QA_ERR_NOMEM, "Ledoit-Wolf: %zu x %zu sample covariance", n, n);
        st = qa_risk_lw_cpu(r, t, n, s, &sums, cpu_ref(ctx), cpu_threads(ctx));
        if (st == QA_OK && target == QA_RISK_LW_CONSTANT_CORRELATION && !(sums.min_var > 0.0))
            st = QA_FAIL(QA_ERR_NUMERIC,
                         "Ledoit-Wolf constant-correlation target needs every variance > 0 (smallest is %g)",
                         sums.min_var);
        if (st == QA_OK) {
            delta = qa_risk_lw_intensity(&sums, t, n, target);
            qa_risk_lw_combine_ref(s, n, &sums, delta, target, cov);
        }
        free(s);
    }
    if (st == QA_OK && intensity) *intensity = delta;
    return st;
}

qa_status qa_risk_cov_horizon(qa_risk_ctx_t *ctx, double *cov, size_t n, double h) {
    CHECK_CTX(ctx, "horizon scaling");
    qa_status st;
    if (!(h > 0.0) || isinf(h)) return QA_FAIL(QA_ERR_INVALID_ARG, "horizon scaling: h = %g must be > 0", h);
    if ((st = check_matrix(cov, n, n, "horizon scaling", "covariance"))) return st;
    if (n == 0) return QA_OK;
    if (is_cuda(ctx)) return qa_risk_scale_cuda(ctx, cov, n * n, h);
    return qa_risk_scale_ref(cov, n * n, h);
}

/* ---- Cholesky ------------------------------------------------------------------------------- */

static qa_status chol_once(qa_risk_ctx_t *ctx, const double *cov, size_t n, double d, double *l, size_t *minor) {
    if (is_cuda(ctx)) return qa_risk_cholesky_cuda(ctx, cov, n, d, l, minor);
    return qa_risk_cholesky_cpu(cov, n, d, l, minor, cpu_ref(ctx), cpu_threads(ctx));
}

qa_status qa_risk_cholesky(qa_risk_ctx_t *ctx, const double *cov, size_t n, double jitter_max, double *l,
                           double *jitter_used) {
    CHECK_CTX(ctx, "Cholesky");
    qa_status st;
    if ((st = check_matrix(cov, n, n, "Cholesky", "covariance")) || (st = check_matrix(l, n, n, "Cholesky", "output")))
        return st;
    if (cov == l && n > 0) return QA_FAIL(QA_ERR_INVALID_ARG, "Cholesky: output must not alias the covariance");
    size_t minor = 0;
    double d = 0.0;
    if (n > 0) {
        if ((st = chol_once(ctx, cov, n, 0.0, l, &minor))) return st;
        if (minor && jitter_max > 0.0) {
            /* Jitter 1e-12, 1e-11, ... (repeated *10: exactly these doubles) up to jitter_max. */
            d = 1e-12;
            while (minor && d <= jitter_max * (1.0 + 1e-9)) {
                if ((st = chol_once(ctx, cov, n, d, l, &minor))) return st;
                d *= 10.0;
            }
            d /= 10.0; /* the loop stepped once past the value that was tried last */
        }
    }
    if (minor) {
        if (jitter_max > 0.0)
            return QA_FAIL(QA_ERR_NUMERIC,
                           "covariance matrix (%zu x %zu) is not positive definite: leading minor of order %zu fails "
                           "even with diagonal jitter up to %g x mean variance",
                           n, n, minor, jitter_max);
        return QA_FAIL(QA_ERR_NUMERIC,
                       "covariance matrix (%zu x %zu) is not positive definite: leading minor of order %zu (no "
                       "jitter allowed)",
                       n, n, minor);
    }
    if (jitter_used) *jitter_used = d;
    return QA_OK;
}

/* ---- scenarios ------------------------------------------------------------------------------- */

static qa_status check_mc(const qa_risk_mc *mc, size_t n, uint64_t last) {
    if (!mc) return QA_FAIL(QA_ERR_INVALID_ARG, "scenarios: NULL Monte-Carlo spec");
    if (mc->dist < 0 || mc->dist >= QA_RISK_DIST_COUNT)
        return QA_FAIL(QA_ERR_INVALID_ARG, "scenarios: unknown distribution %d", (int)mc->dist);
    if (mc->dist == QA_RISK_DIST_STUDENT_T && (mc->nu < 3 || mc->nu > 100000))
        return QA_FAIL(QA_ERR_INVALID_ARG,
                       "scenarios: Student-t needs an integer nu in [3, 100000] (variance-matched), got %d", mc->nu);
    if (mc->stream == UINT64_MAX) return QA_FAIL(QA_ERR_INVALID_ARG, "scenarios: stream + 1 overflows");
    uint64_t per = n; /* counters used per scenario in the larger of the two streams */
    if (mc->dist == QA_RISK_DIST_STUDENT_T && (uint64_t)mc->nu > per) per = (uint64_t)mc->nu;
    if (per && last > UINT64_MAX / per)
        return QA_FAIL(QA_ERR_INVALID_ARG, "scenarios: scenario index %llu x %llu overflows the 64-bit counter",
                       (unsigned long long)last, (unsigned long long)per);
    return QA_OK;
}

qa_status qa_risk_scenarios(qa_risk_ctx_t *ctx, const qa_risk_mc *mc, const double *l, const double *mean, size_t n,
                            uint64_t first, size_t count, double *shocks) {
    CHECK_CTX(ctx, "scenarios");
    qa_status st;
    if (count > 0 && first > UINT64_MAX - count) return QA_FAIL(QA_ERR_INVALID_ARG, "scenarios: index range overflows");
    if ((st = check_mc(mc, n, first + count)) || (st = check_matrix(shocks, count, n, "scenarios", "output")))
        return st;
    if (count == 0 || n == 0) return QA_OK;
    if (is_cuda(ctx)) return qa_risk_scenarios_cuda(ctx, mc, l, mean, n, first, NULL, count, shocks);
    return qa_risk_scenarios_cpu(mc, l, mean, n, first, NULL, count, shocks, cpu_ref(ctx), cpu_threads(ctx), ctx->vendor_blas);
}

qa_status qa_risk_scenarios_at(qa_risk_ctx_t *ctx, const qa_risk_mc *mc, const double *l, const double *mean,
                               size_t n, const uint64_t *index, size_t count, double *shocks) {
    CHECK_CTX(ctx, "scenarios");
    qa_status st;
    if (count > 0 && !index) return QA_FAIL(QA_ERR_INVALID_ARG, "scenarios: NULL index list");
    uint64_t last = 0;
    for (size_t s = 0; s < count; s++)
        if (index[s] > last) last = index[s];
    if (count > 0 && last == UINT64_MAX) return QA_FAIL(QA_ERR_INVALID_ARG, "scenarios: index overflows");
    if ((st = check_mc(mc, n, last + 1)) || (st = check_matrix(shocks, count, n, "scenarios", "output"))) return st;
    if (count == 0 || n == 0) return QA_OK;
    if (is_cuda(ctx)) return qa_risk_scenarios_cuda(ctx, mc, l, mean, n, 0, index, count, shocks);
    return qa_risk_scenarios_cpu(mc, l, mean, n, 0, index, count, shocks, cpu_ref(ctx), cpu_threads(ctx), ctx->vendor_blas);
}

/* ---- revaluation ---------------------------------------------------------------------------- */

qa_status qa_risk_pnl_linear(qa_risk_ctx_t *ctx, const double *x, size_t b, size_t n, const double *w, double *pnl) {
    CHECK_CTX(ctx, "linear revaluation");
    qa_status st;
    if (n == 0) return QA_FAIL(QA_ERR_INVALID_ARG, "linear revaluation: no risk factors (n = 0)");
    if ((st = check_matrix(x, b, n, "linear revaluation", "scenarios")) ||
        (st = check_matrix(w, 1, n, "linear revaluation", "exposures")) ||
        (st = check_matrix(pnl, 1, b, "linear revaluation", "output")))
        return st;
    if (b == 0) return QA_OK;
    if (is_cuda(ctx)) return qa_risk_pnl_linear_cuda(ctx, x, b, n, w, pnl);
    return qa_risk_pnl_linear_cpu(x, b, n, w, pnl, cpu_ref(ctx), cpu_threads(ctx), ctx->vendor_blas);
}

qa_status qa_risk_pnl_linear_pos(qa_risk_ctx_t *ctx, const double *x, size_t b, size_t n, const double *e, size_t p,
                                 const double *offset, double *pnl_pos, double *pnl) {
    CHECK_CTX(ctx, "linear revaluation");
    qa_status st;
    if (n == 0 || p == 0) return QA_FAIL(QA_ERR_INVALID_ARG, "linear revaluation: n = %zu factors, p = %zu positions", n, p);
    if (!pnl_pos && !pnl) return QA_FAIL(QA_ERR_INVALID_ARG, "linear revaluation: no output requested");
    if ((st = check_matrix(x, b, n, "linear revaluation", "scenarios")) ||
        (st = check_matrix(e, n, p, "linear revaluation", "exposures")) ||
        (st = check_matrix(pnl_pos ? (const void *)pnl_pos : (const void *)pnl, b, pnl_pos ? p : 1,
                           "linear revaluation", "output")))
        return st;
    if (b == 0) return QA_OK;
    if (is_cuda(ctx)) return qa_risk_pnl_linear_pos_cuda(ctx, x, b, n, e, p, offset, pnl_pos, pnl);
    return qa_risk_pnl_linear_pos_cpu(x, b, n, e, p, offset, pnl_pos, pnl, cpu_ref(ctx), cpu_threads(ctx), ctx->vendor_blas);
}

qa_status qa_risk_factor_loadings(qa_risk_ctx_t *ctx, const double *l, size_t n, const double *e, size_t p,
                                  double *m) {
    CHECK_CTX(ctx, "factor loadings");
    qa_status st;
    if ((st = check_matrix(l, n, n, "factor loadings", "Cholesky factor")) ||
        (st = check_matrix(e, n, p, "factor loadings", "exposures")) ||
        (st = check_matrix(m, n, p, "factor loadings", "output")))
        return st;
    if (n == 0 || p == 0) return QA_OK;
    if (m == e) return QA_FAIL(QA_ERR_INVALID_ARG, "factor loadings: output must not alias the exposures");
    if (is_cuda(ctx)) return qa_risk_factor_loadings_cuda(ctx, l, n, e, p, m);
    return qa_risk_factor_loadings_cpu(l, n, e, p, m, cpu_ref(ctx), cpu_threads(ctx), ctx->vendor_blas);
}

qa_status qa_risk_pnl_options(qa_risk_ctx_t *ctx, const double *x, size_t b, size_t n, const qa_risk_option *opt,
                              size_t p, double horizon, double *pnl_pos, double *pnl) {
    CHECK_CTX(ctx, "option revaluation");
    qa_status st;
    if (n == 0 || p == 0) return QA_FAIL(QA_ERR_INVALID_ARG, "option revaluation: n = %zu factors, p = %zu options", n, p);
    if (!pnl_pos && !pnl) return QA_FAIL(QA_ERR_INVALID_ARG, "option revaluation: no output requested");
    if (!opt) return QA_FAIL(QA_ERR_INVALID_ARG, "option revaluation: NULL option list");
    if (!(horizon >= 0.0) || isinf(horizon))
        return QA_FAIL(QA_ERR_INVALID_ARG, "option revaluation: horizon %g years must be >= 0", horizon);
    if ((st = check_matrix(x, b, n, "option revaluation", "scenarios")) ||
        (st = check_matrix(pnl_pos ? (const void *)pnl_pos : (const void *)pnl, b, pnl_pos ? p : 1,
                           "option revaluation", "output")))
        return st;
    uint64_t bad = UINT64_MAX;
    if (is_cuda(ctx)) {
        if ((st = qa_risk_options_check_cuda(ctx, opt, p, n, &bad))) return st;
    } else {
        for (size_t q = 0; q < p && bad == UINT64_MAX; q++)
            if (!qa_risk_option_valid(&opt[q], n)) bad = q;
    }
    if (bad != UINT64_MAX)
        return QA_FAIL(QA_ERR_INVALID_ARG,
                       "option revaluation: option %llu is invalid (needs finite spot, strike, expiry, vol > 0, a call "
                       "or put type, and factor columns below %zu)",
                       (unsigned long long)bad, n);
    if (b == 0) return QA_OK;
    if (is_cuda(ctx)) return qa_risk_pnl_options_cuda(ctx, x, b, n, opt, p, horizon, pnl_pos, pnl);
    return qa_risk_pnl_options_cpu(x, b, n, opt, p, horizon, pnl_pos, pnl, cpu_threads(ctx));
}

qa_status qa_risk_pnl_without(qa_risk_ctx_t *ctx, const double *pnl, const double *pnl_pos, size_t b, size_t p,
                              size_t j, double *out) {
    CHECK_CTX(ctx, "P&L without a position");
    qa_status st;
    if (j >= p) return QA_FAIL(QA_ERR_INVALID_ARG, "P&L without a position: position %zu of %zu", j, p);
    if ((st = check_matrix(pnl_pos, b, p, "P&L without a position", "positions")) ||
        (st = check_matrix(pnl, 1, b, "P&L without a position", "total")) ||
        (st = check_matrix(out, 1, b, "P&L without a position", "output")))
        return st;
    if (b == 0) return QA_OK;
    if (is_cuda(ctx)) return qa_risk_pnl_without_cuda(ctx, pnl, pnl_pos, b, p, j, out);
    return qa_risk_pnl_without_ref(pnl, pnl_pos, b, p, j, out);
}

/* ---- revaluation features ------------------------------------------------------------------ */

const char *const qa_risk_reval_names[QA_RISK_REVAL_COUNT + 1] = {"full", "delta", "delta_gamma", NULL};

size_t qa_risk_reval_width(qa_risk_reval mode, size_t n) { return mode == QA_RISK_REVAL_DELTA_GAMMA ? 2 * n : n; }

qa_status qa_risk_reval_features(qa_risk_ctx_t *ctx, qa_risk_reval mode, const double *x, size_t b, size_t n,
                                 double *out) {
    CHECK_CTX(ctx, "revaluation features");
    qa_status st;
    if ((unsigned)mode >= QA_RISK_REVAL_COUNT)
        return QA_FAIL(QA_ERR_INVALID_ARG, "revaluation features: mode %d is not one of full, delta, delta_gamma",
                       (int)mode);
    if ((st = check_matrix(x, b, n, "revaluation features", "scenarios")) ||
        (st = check_matrix(out, b, qa_risk_reval_width(mode, n), "revaluation features", "output")))
        return st;
    if (b == 0 || n == 0) return QA_OK;
    if (x == out) return QA_FAIL(QA_ERR_INVALID_ARG, "revaluation features: the output aliases the scenarios");
    if (is_cuda(ctx)) return qa_risk_reval_features_cuda(ctx, mode, x, b, n, out);
    return qa_risk_reval_features_cpu(mode, x, b, n, out, cpu_ref(ctx), cpu_threads(ctx));
}

/* ---- historical ------------------------------------------------------------------------------ */

qa_status qa_risk_hist_horizon(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, size_t h, double *out) {
    CHECK_CTX(ctx, "historical horizon");
    qa_status st;
    if (h < 1 || h > t) return QA_FAIL(QA_ERR_INVALID_ARG, "historical horizon: h = %zu days with T = %zu dates", h, t);
    if ((st = check_matrix(r, t, n, "historical horizon", "returns")) ||
        (st = check_matrix(out, t - h + 1, n, "historical horizon", "output")))
        return st;
    if (n == 0) return QA_OK;
    if ((st = check_finite(ctx, r, t, n, "historical horizon"))) return st;
    if (is_cuda(ctx)) return qa_risk_hist_horizon_cuda(ctx, r, t, n, h, out);
    return qa_risk_hist_horizon_ref(r, t, n, h, out);
}

qa_status qa_risk_fhs(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, double lambda, double *out,
                      double *sigma_now) {
    CHECK_CTX(ctx, "FHS");
    qa_status st;
    if (!(lambda > 0.0 && lambda < 1.0)) return QA_FAIL(QA_ERR_INVALID_ARG, "FHS: lambda %g not in (0, 1)", lambda);
    if (t < 1) return QA_FAIL(QA_ERR_INVALID_ARG, "FHS needs T >= 1 dates");
    if ((st = check_matrix(r, t, n, "FHS", "returns")) || (st = check_matrix(out, t, n, "FHS", "output"))) return st;
    if (n == 0) return QA_OK;
    if ((st = check_finite(ctx, r, t, n, "FHS"))) return st;
    if (is_cuda(ctx)) return qa_risk_fhs_cuda(ctx, r, t, n, lambda, out, sigma_now);
    return qa_risk_fhs_ref(r, t, n, lambda, out, sigma_now);
}

/* ---- tails ------------------------------------------------------------------------------------ */

int qa_risk_tail_before(const qa_risk_tail_item *a, const qa_risk_tail_item *b) {
    return a->loss > b->loss || (a->loss == b->loss && a->index < b->index);
}

qa_status qa_risk_tail_top(qa_risk_ctx_t *ctx, const double *pnl, size_t n, uint64_t first, size_t m,
                           qa_risk_tail_item *top, size_t *count) {
    CHECK_CTX(ctx, "tail selection");
    qa_status st;
    if (!count) return QA_FAIL(QA_ERR_INVALID_ARG, "tail selection: NULL count");
    if ((st = check_matrix(pnl, 1, n, "tail selection", "P&L"))) return st;
    if (m > 0 && n > 0 && !top) return QA_FAIL(QA_ERR_INVALID_ARG, "tail selection: NULL output");
    if (n > 0 && first > UINT64_MAX - n) return QA_FAIL(QA_ERR_INVALID_ARG, "tail selection: index range overflows");
    size_t keep = m < n ? m : n;
    if (keep == 0) {
        *count = 0;
        return QA_OK;
    }
    uint64_t nan_at = UINT64_MAX;
    st = is_cuda(ctx) ? qa_risk_tail_top_cuda(ctx, pnl, n, first, keep, top, &nan_at)
                      : qa_risk_tail_top_ref(pnl, n, first, keep, top, &nan_at);
    if (st != QA_OK) return st;
    if (nan_at != UINT64_MAX)
        return QA_FAIL(QA_ERR_NUMERIC, "tail selection: the P&L of scenario %llu is NaN", (unsigned long long)nan_at);
    *count = keep;
    return QA_OK;
}

static qa_status check_canonical(const qa_risk_tail_item *v, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++) {
        if (isnan(v[i].loss)) return QA_FAIL(QA_ERR_INVALID_ARG, "%s: entry %zu has a NaN loss", what, i);
        if (i > 0 && !qa_risk_tail_before(&v[i - 1], &v[i]))
            return QA_FAIL(QA_ERR_INVALID_ARG, "%s: entries %zu and %zu are not in canonical order (loss descending, "
                                               "index ascending, no repeats)",
                           what, i - 1, i);
    }
    return QA_OK;
}

qa_status qa_risk_tail_merge(const qa_risk_tail_item *a, size_t na, const qa_risk_tail_item *b, size_t nb, size_t m,
                             qa_risk_tail_item *out, size_t *count) {
    qa_status st;
    if (!count || (na && !a) || (nb && !b) || (m && (na || nb) && !out))
        return QA_FAIL(QA_ERR_INVALID_ARG, "tail merge: NULL list or output");
    if ((st = check_canonical(a, na, "tail merge (first list)")) || (st = check_canonical(b, nb, "tail merge (second list)")))
        return st;
    size_t total = na + nb < m ? na + nb : m;
    /* Pass 1 finds repeats among the entries that would be kept; pass 2 writes. */
    for (int pass = 0; pass < 2; pass++) {
        size_t i = 0, j = 0;
        for (size_t k = 0; k < total; k++) {
            const qa_risk_tail_item *next;
            if (j >= nb || (i < na && qa_risk_tail_before(&a[i], &b[j]))) {
                next = &a[i++];
            } else {
                if (pass == 0 && i < na && a[i].index == b[j].index)
                    return QA_FAIL(QA_ERR_INTEGRITY, "tail merge: scenario %llu is in both lists (overlapping blocks)",
                                   (unsigned long long)b[j].index);
                next = &b[j++];
            }
            if (pass == 1) out[k] = *next;
        }
    }
    *count = total;
    return QA_OK;
}

qa_status qa_risk_var_es_tail(const qa_risk_tail_item *tail, size_t count, size_t m, double *var, double *es) {
    qa_status st;
    if (m == 0 || count < m || !tail)
        return QA_FAIL(QA_ERR_INVALID_ARG, "VaR/ES: the tail holds %zu entries but m = %zu are needed", count, m);
    if ((st = check_canonical(tail, m, "VaR/ES tail"))) return st;
    /* Neumaier-compensated sum in canonical order: one fixed order for every backend. */
    double sum = 0.0, comp = 0.0;
    for (size_t i = 0; i < m; i++) {
        double x = tail[i].loss, t = sum + x;
        comp += fabs(sum) >= fabs(x) ? (sum - t) + x : (x - t) + sum;
        sum = t;
    }
    if (var) *var = tail[m - 1].loss;
    if (es) *es = (sum + comp) / (double)m;
    return QA_OK;
}

qa_status qa_risk_var_es(qa_risk_ctx_t *ctx, const double *pnl, size_t n, double alpha, double *var, double *es) {
    CHECK_CTX(ctx, "VaR/ES");
    if (n == 0) return QA_FAIL(QA_ERR_INVALID_ARG, "VaR/ES of an empty sample");
    if (!(alpha > 0.0 && alpha < 1.0)) return QA_FAIL(QA_ERR_INVALID_ARG, "VaR/ES: alpha %g not in (0, 1)", alpha);
    size_t m = qa_risk_tail_size(alpha, n), count = 0;
    qa_risk_tail_item *tail = malloc(m * sizeof *tail);
    if (!tail) return QA_FAIL(QA_ERR_NOMEM, "VaR/ES: tail of %zu", m);
    qa_status st = qa_risk_tail_top(ctx, pnl, n, 0, m, tail, &count);
    if (st == QA_OK) st = qa_risk_var_es_tail(tail, count, m, var, es);
    free(tail);
    return st;
}

qa_status qa_risk_tail_init(qa_risk_tail *t, size_t m) {
    if (!t) return QA_FAIL(QA_ERR_INVALID_ARG, "tail: NULL");
    t->m = m;
    t->count = 0;
    t->items = t->scratch = NULL;
    if (m == 0) return QA_FAIL(QA_ERR_INVALID_ARG, "tail: m must be >= 1");
    if (mul_overflows(m, 3 * sizeof(qa_risk_tail_item))) return QA_FAIL(QA_ERR_INVALID_ARG, "tail: m = %zu too large", m);
    t->items = malloc(m * sizeof *t->items);
    t->scratch = malloc(2 * m * sizeof *t->scratch);
    if (!t->items || !t->scratch) {
        qa_risk_tail_free(t);
        return QA_FAIL(QA_ERR_NOMEM, "tail of %zu entries", m);
    }
    return QA_OK;
}

void qa_risk_tail_free(qa_risk_tail *t) {
    if (!t) return;
    free(t->items);
    free(t->scratch);
    t->items = t->scratch = NULL;
    t->count = 0;
}

qa_status qa_risk_tail_add(qa_risk_tail *t, const qa_risk_tail_item *items, size_t count) {
    if (!t || !t->items) return QA_FAIL(QA_ERR_INVALID_ARG, "tail: not initialised");
    size_t c = 0;
    qa_status st = qa_risk_tail_merge(t->items, t->count, items, count, t->m, t->scratch + t->m, &c);
    if (st != QA_OK) return st;
    memcpy(t->items, t->scratch + t->m, c * sizeof *t->items);
    t->count = c;
    return QA_OK;
}

qa_status qa_risk_tail_push(qa_risk_ctx_t *ctx, qa_risk_tail *t, const double *pnl, size_t n, uint64_t first) {
    if (!t || !t->items) return QA_FAIL(QA_ERR_INVALID_ARG, "tail: not initialised");
    size_t c = 0;
    qa_status st = qa_risk_tail_top(ctx, pnl, n, first, t->m, t->scratch, &c);
    if (st != QA_OK) return st;
    size_t merged = 0;
    st = qa_risk_tail_merge(t->items, t->count, t->scratch, c, t->m, t->scratch + t->m, &merged);
    if (st != QA_OK) return st;
    memcpy(t->items, t->scratch + t->m, merged * sizeof *t->items);
    t->count = merged;
    return QA_OK;
}

/* ---- simulated contributions ----------------------------------------------------------------- */

qa_status qa_risk_component_es(const double *rows, size_t nrows, size_t p, size_t m, double *comp) {
    if (!rows || !comp || p == 0 || m == 0 || nrows < m)
        return QA_FAIL(QA_ERR_INVALID_ARG, "component ES: %zu rows of %zu positions for a tail of m = %zu", nrows, p, m);
    for (size_t j = 0; j < p; j++) comp[j] = 0.0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < p; j++) comp[j] += rows[i * p + j];
    for (size_t j = 0; j < p; j++) comp[j] = -comp[j] / (double)m;
    return QA_OK;
}

qa_status qa_risk_component_var(const double *rows, size_t nrows, size_t p, size_t m, size_t h, double var,
                                double *comp) {
    if (!rows || !comp || p == 0 || m == 0 || nrows < m)
        return QA_FAIL(QA_ERR_INVALID_ARG, "component VaR: %zu rows of %zu positions for a tail of m = %zu", nrows, p, m);
    size_t lo = m - 1 >= h ? m - 1 - h : 0, hi = m - 1 + h < nrows - 1 ? m - 1 + h : nrows - 1;
    double cnt = (double)(hi - lo + 1), tot = 0.0;
    for (size_t j = 0; j < p; j++) comp[j] = 0.0;
    for (size_t i = lo; i <= hi; i++)
        for (size_t j = 0; j < p; j++) comp[j] += rows[i * p + j];
    for (size_t j = 0; j < p; j++) {
        comp[j] = -comp[j] / cnt;
        tot += comp[j];
    }
    if (tot != 0.0 && isfinite(tot) && isfinite(var)) {
        double scale = var / tot;
        for (size_t j = 0; j < p; j++) comp[j] *= scale;
    }
    return QA_OK;
}

/* ---- builds without CUDA ------------------------------------------------------------------------ */

#ifndef QA_HAVE_CUDA
#define NO_CUDA() QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no CUDA backend")
qa_status qa_risk_handles_create_cuda(qa_risk_ctx_t *ctx) {
    (void)ctx;
    return NO_CUDA();
}
void qa_risk_handles_free_cuda(qa_risk_ctx_t *ctx) { (void)ctx; }
qa_status qa_risk_mean_cuda(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, double *mean) {
    (void)ctx, (void)r, (void)t, (void)n, (void)mean;
    return NO_CUDA();
}
qa_status qa_risk_gram_cuda(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, qa_risk_weighting wt,
                            double lambda, int demean, double *cov) {
    (void)ctx, (void)r, (void)t, (void)n, (void)wt, (void)lambda, (void)demean, (void)cov;
    return NO_CUDA();
}
qa_status qa_risk_lw_cuda(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, qa_risk_lw_target target,
                          double *cov, double *delta) {
    (void)ctx, (void)r, (void)t, (void)n, (void)target, (void)cov, (void)delta;
    return NO_CUDA();
}
qa_status qa_risk_cholesky_cuda(qa_risk_ctx_t *ctx, const double *cov, size_t n, double jitter_rel, double *l,
                                size_t *minor) {
    (void)ctx, (void)cov, (void)n, (void)jitter_rel, (void)l, (void)minor;
    return NO_CUDA();
}
qa_status qa_risk_scenarios_cuda(qa_risk_ctx_t *ctx, const qa_risk_mc *mc, const double *l, const double *mean,
                                 size_t n, uint64_t first, const uint64_t *index, size_t count, double *shocks) {
    (void)ctx, (void)mc, (void)l, (void)mean, (void)n, (void)first, (void)index, (void)count, (void)shocks;
    return NO_CUDA();
}
qa_status qa_risk_pnl_linear_cuda(qa_risk_ctx_t *ctx, const double *x, size_t b, size_t n, const double *w,
                                  double *pnl) {
    (void)ctx, (void)x, (void)b, (void)n, (void)w, (void)pnl;
    return NO_CUDA();
}
qa_status qa_risk_pnl_linear_pos_cuda(qa_risk_ctx_t *ctx, const double *x, size_t b, size_t n, const double *e,
                                      size_t p, const double *offset, double *pnl_pos, double *pnl) {
    (void)ctx, (void)x, (void)b, (void)n, (void)e, (void)p, (void)offset, (void)pnl_pos, (void)pnl;
    return NO_CUDA();
}
qa_status qa_risk_factor_loadings_cuda(qa_risk_ctx_t *ctx, const double *l, size_t n, const double *e, size_t p,
                                       double *m) {
    (void)ctx, (void)l, (void)n, (void)e, (void)p, (void)m;
    return NO_CUDA();
}
qa_status qa_risk_pnl_options_cuda(qa_risk_ctx_t *ctx, const double *x, size_t b, size_t n,
                                   const qa_risk_option *opt, size_t p, double horizon, double *pnl_pos,
                                   double *pnl) {
    (void)ctx, (void)x, (void)b, (void)n, (void)opt, (void)p, (void)horizon, (void)pnl_pos, (void)pnl;
    return NO_CUDA();
}
qa_status qa_risk_pnl_without_cuda(qa_risk_ctx_t *ctx, const double *pnl, const double *pnl_pos, size_t b,
                                   size_t p, size_t j, double *out) {
    (void)ctx, (void)pnl, (void)pnl_pos, (void)b, (void)p, (void)j, (void)out;
    return NO_CUDA();
}
qa_status qa_risk_reval_features_cuda(qa_risk_ctx_t *ctx, qa_risk_reval mode, const double *x, size_t b,
                                      size_t n, double *out) {
    (void)ctx, (void)mode, (void)x, (void)b, (void)n, (void)out;
    return NO_CUDA();
}
qa_status qa_risk_hist_horizon_cuda(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, size_t h,
                                    double *out) {
    (void)ctx, (void)r, (void)t, (void)n, (void)h, (void)out;
    return NO_CUDA();
}
qa_status qa_risk_fhs_cuda(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, double lambda, double *out,
                           double *sigma_now) {
    (void)ctx, (void)r, (void)t, (void)n, (void)lambda, (void)out, (void)sigma_now;
    return NO_CUDA();
}
qa_status qa_risk_scale_cuda(qa_risk_ctx_t *ctx, double *x, size_t len, double a) {
    (void)ctx, (void)x, (void)len, (void)a;
    return NO_CUDA();
}
qa_status qa_risk_options_check_cuda(qa_risk_ctx_t *ctx, const qa_risk_option *opt, size_t p, size_t n,
                                     uint64_t *bad) {
    (void)ctx, (void)opt, (void)p, (void)n, (void)bad;
    return NO_CUDA();
}
qa_status qa_risk_tail_top_cuda(qa_risk_ctx_t *ctx, const double *pnl, size_t n, uint64_t first, size_t m,
                                qa_risk_tail_item *top, uint64_t *nan_at) {
    (void)ctx, (void)pnl, (void)n, (void)first, (void)m, (void)top, (void)nan_at;
    return NO_CUDA();
}
qa_status qa_risk_find_nonfinite_cuda(qa_risk_ctx_t *ctx, const double *x, size_t len, uint64_t *pos) {
    (void)ctx, (void)x, (void)len, (void)pos;
    return NO_CUDA();
}
#endif
