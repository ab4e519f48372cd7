/* CPU implementations of the risk kernels.
 *
 * Each function has the plain reference (threads == 0: readable loops, one thread, no
 * BLAS; the oracle every other path is tested against) and the optimised path
 * (threads >= 1): OpenBLAS level-2/3 and LAPACKE where the build has them
 * (QA_HAVE_OPENBLAS), OpenMP elsewhere. Where the optimised path evaluates the same
 * expressions in the same order (means, random numbers, option values, selection,
 * historical windows, FHS) its results are bitwise equal to the reference; BLAS paths
 * differ by summation order only (bounds in docs/risk.md). */
#include <limits.h>  /* INT_MAX */
#include <math.h>    /* sqrt, pow, isnan, isfinite */
#include <stdlib.h>  /* malloc, calloc, free, qsort */
#include <string.h>  /* memcpy, memset */

#include "common/philox.h"      /* qa_rng_normal: the scenario definition */
#include "kernels/risk_impl.h"  /* backend entry points, shared per-element code */

#ifdef QA_HAVE_OPENBLAS
#include <cblas.h>    /* dsyrk, dgemm, dgemv, dtrmm, openblas_set_num_threads */
#include <lapacke.h>  /* dpotrf */
#endif

/* ---- helpers ------------------------------------------------------------------------- */

#ifdef QA_HAVE_OPENBLAS
/* BLAS/LAPACK dimensions are 32-bit ints in Debian's OpenBLAS. */
static int fits_int(size_t a) { return a <= (size_t)INT_MAX; }

/* OpenBLAS's thread count is process-wide; set it to the backend's before each call. */
static void blas_threads(int threads) {
    if (openblas_get_num_threads() != threads) openblas_set_num_threads(threads);
}

static void mirror_lower(double *c, size_t n) {
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++) c[j * n + i] = c[i * n + j];
}
#endif

/* ---- means and covariance ---------------------------------------------------------------- */

qa_status qa_risk_mean_cpu(const double *r, size_t t, size_t n, double *mean) {
    /* Row by row: each column is summed in date order (the definition). */
    for (size_t j = 0; j < n; j++) mean[j] = 0.0;
    for (size_t d = 0; d < t; d++)
        for (size_t j = 0; j < n; j++) mean[j] += r[d * n + j];
    for (size_t j = 0; j < n; j++) mean[j] /= (double)t;
    return QA_OK;
}

/* Centre c (n) and weights w (t) of a weighting. */
static qa_status gram_setup(const double *r, size_t t, size_t n, qa_risk_weighting wt, double lambda, int demean,
                            double **c_out, double **w_out) {
    double *c = calloc(n ? n : 1, sizeof *c), *w = malloc((t ? t : 1) * sizeof *w);
    if (!c || !w) {
        free(c);
        free(w);
        return QA_FAIL(QA_ERR_NOMEM, "covariance: %zu x %zu work arrays", t, n);
    }
    if (wt != QA_RISK_W_EWMA || demean) qa_risk_mean_cpu(r, t, n, c);
    for (size_t d = 0; d < t; d++)
        w[d] = wt == QA_RISK_W_EWMA ? qa_risk_ewma_weight(lambda, d, t)
               : wt == QA_RISK_W_SAMPLE ? 1.0 / (double)(t - 1)
                                        : 1.0 / (double)t;
    *c_out = c;
    *w_out = w;
    return QA_OK;
}

qa_status qa_risk_gram_cpu(const double *r, size_t t, size_t n, qa_risk_weighting wt, double lambda, int demean,
                           double *cov, int threads) {
    double *c = NULL, *w = NULL;
    qa_status st = gram_setup(r, t, n, wt, lambda, demean, &c, &w);
    if (st != QA_OK) return st;
#ifdef QA_HAVE_OPENBLAS
    if (threads >= 1 && fits_int(t) && fits_int(n)) {
        /* X~ = sqrt(w_t) (r_t - c) (or unscaled with alpha = w for constant weights);
         * cov = X~' X~ by DSYRK, lower triangle, then mirrored: exactly symmetric. */
        double *x = malloc(t * n * sizeof *x + 1);
        if (!x) {
            free(c);
            free(w);
            return QA_FAIL(QA_ERR_NOMEM, "covariance: %zu x %zu centred copy", t, n);
        }
        int constant = wt != QA_RISK_W_EWMA;
        long long nt = (long long)t;
#pragma omp parallel for num_threads(threads) if (threads > 1 && t * n > 65536)
        for (long long d = 0; d < nt; d++) {
            double s = constant ? 1.0 : sqrt(w[d]);
            for (size_t j = 0; j < n; j++) x[(size_t)d * n + j] = s * (r[(size_t)d * n + j] - c[j]);
        }
        blas_threads(threads);
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)n, (int)t, constant ? w[0] : 1.0, x, (int)n, 0.0,
                    cov, (int)n);
        mirror_lower(cov, n);
        free(x);
        free(c);
        free(w);
        return QA_OK;
    }
#else
    (void)threads;
#endif
    /* Reference: cov_ij = sum_t w_t (r_ti - c_i)(r_tj - c_j), in date order. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j <= i; j++) {
            double s = 0.0;
            for (size_t d = 0; d < t; d++) s += w[d] * (r[d * n + i] - c[i]) * (r[d * n + j] - c[j]);
            cov[i * n + j] = s;
            cov[j * n + i] = s;
        }
    free(c);
    free(w);
    return QA_OK;
}

/* The sums that need only S: rbar, gamma, trace, d2, min_var. */
static void lw_finish(const double *s, size_t n, qa_risk_lw_sums *out) {
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

qa_status qa_risk_lw_cpu(const double *r, size_t t, size_t n, double *s, qa_risk_lw_sums *sums, int threads) {
    qa_status st = QA_OK;
    double *mean = malloc((n ? n : 1) * sizeof *mean);
    double *x = malloc(t * n * sizeof *x + 1);
    double *y = NULL, *g2 = NULL, *g3 = NULL;
    if (!mean || !x) QA_TRY_FAIL(QA_ERR_NOMEM, "Ledoit-Wolf: %zu x %zu centred copy", t, n);
    qa_risk_mean_cpu(r, t, n, mean);
    for (size_t d = 0; d < t; d++)
        for (size_t j = 0; j < n; j++) x[d * n + j] = r[d * n + j] - mean[j];
    double inv_t = 1.0 / (double)t;
    double pi = 0.0, pi_diag = 0.0, rho_off = 0.0;
#ifdef QA_HAVE_OPENBLAS
    if (threads >= 1 && fits_int(t) && fits_int(n)) {
        /* Gram forms (covCor.m): pi_ij = (1/T)(Y'Y)_ij - s_ij^2 with Y = x.^2, and
         * theta_ij = (1/T)(X3'X)_ij - s_ii s_ij with X3 = x.^3. */
        y = malloc(t * n * sizeof *y + 1);
        g2 = malloc(n * n * sizeof *g2 + 1);
        g3 = malloc(n * n * sizeof *g3 + 1);
        if (!y || !g2 || !g3) QA_TRY_FAIL(QA_ERR_NOMEM, "Ledoit-Wolf: %zu x %zu work matrices", n, n);
        blas_threads(threads);
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)n, (int)t, inv_t, x, (int)n, 0.0, s, (int)n);
        mirror_lower(s, n);
        for (size_t k = 0; k < t * n; k++) y[k] = x[k] * x[k];
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)n, (int)t, inv_t, y, (int)n, 0.0, g2, (int)n);
        mirror_lower(g2, n);
        for (size_t k = 0; k < t * n; k++) y[k] *= x[k];
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)n, (int)n, (int)t, inv_t, y, (int)n, x, (int)n, 0.0,
                    g3, (int)n);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) {
                double sij = s[i * n + j], pij = g2[i * n + j] - sij * sij;
                pi += pij;
                if (i == j) pi_diag += pij;
                else rho_off += sqrt(s[j * n + j] / s[i * n + i]) * (g3[i * n + j] - s[i * n + i] * sij);
            }
        goto finish;
    }
#else
    (void)threads;
#endif
    /* Reference: the papers' definitions, loop by loop. */
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
            pi += pij;
            if (i == j) pi_diag += pij;
            else rho_off += sqrt(s[j * n + j] / sii) * th;
        }
#ifdef QA_HAVE_OPENBLAS
finish:
#endif
    sums->pi = pi;
    sums->pi_diag = pi_diag;
    sums->rho_off = rho_off;
    lw_finish(s, n, sums);
cleanup:
    free(mean);
    free(x);
    free(y);
    free(g2);
    free(g3);
    return st;
}

void qa_risk_lw_combine_cpu(const double *s, size_t n, const qa_risk_lw_sums *sums, double delta,
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

qa_status qa_risk_scale_cpu(double *x, size_t len, double a) {
    for (size_t k = 0; k < len; k++) x[k] *= a;
    return QA_OK;
}

/* ---- Cholesky ------------------------------------------------------------------------------ */

qa_status qa_risk_cholesky_cpu(const double *cov, size_t n, double jitter_rel, double *l, size_t *minor,
                               int threads) {
    *minor = 0;
    if (n == 0) return QA_OK;
    double add = 0.0;
    if (jitter_rel > 0.0) {
        double md = 0.0;
        for (size_t i = 0; i < n; i++) md += cov[i * n + i];
        md /= (double)n;
        if (!(md > 0.0) || !isfinite(md)) {
            *minor = 1;
            return QA_OK;
        }
        add = jitter_rel * md;
    }
    double *a = malloc(n * n * sizeof *a);
    if (!a) return QA_FAIL(QA_ERR_NOMEM, "Cholesky: %zu x %zu work matrix", n, n);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            a[i * n + j] = j <= i ? cov[i * n + j] : 0.0;
            if (!isfinite(a[i * n + j]) && *minor == 0) *minor = i + 1; /* NaN/Inf: fails at its row */
        }
    if (*minor) {
        free(a);
        return QA_OK;
    }
    for (size_t i = 0; i < n; i++) a[i * n + i] += add;
#ifdef QA_HAVE_OPENBLAS
    if (threads >= 1 && fits_int(n)) {
        blas_threads(threads);
        lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)n, a, (lapack_int)n);
        if (info < 0) {
            free(a);
            return QA_FAIL(QA_ERR_BLAS, "LAPACKE_dpotrf: argument %d is invalid", (int)-info);
        }
        if (info > 0) *minor = (size_t)info;
        for (size_t i = 0; i < n && *minor == 0; i++)
            if (!isfinite(a[i * n + i])) *minor = i + 1;
        if (*minor == 0) memcpy(l, a, n * n * sizeof *a);
        free(a);
        return QA_OK;
    }
#else
    (void)threads;
#endif
    /* Reference: Cholesky-Banachiewicz, row by row, on the lower triangle. */
    for (size_t j = 0; j < n; j++) {
        double d = a[j * n + j];
        for (size_t k = 0; k < j; k++) d -= a[j * n + k] * a[j * n + k];
        if (!(d > 0.0) || !isfinite(d)) {
            *minor = j + 1;
            free(a);
            return QA_OK;
        }
        double ljj = sqrt(d);
        a[j * n + j] = ljj;
        for (size_t i = j + 1; i < n; i++) {
            double v = a[i * n + j];
            for (size_t k = 0; k < j; k++) v -= a[i * n + k] * a[j * n + k];
            a[i * n + j] = v / ljj;
        }
    }
    memcpy(l, a, n * n * sizeof *a);
    free(a);
    return QA_OK;
}

/* ---- scenarios ----------------------------------------------------------------------------- */

/* Student-t scale of scenario g: sqrt((nu - 2) / W), W = sum of nu squared normals of
 * stream + 1 at g*nu .. g*nu + nu - 1 (summed in order). */
static double t_scale(const qa_risk_mc *mc, uint64_t g) {
    double w = 0.0;
    uint64_t base = g * (uint64_t)mc->nu;
    for (int k = 0; k < mc->nu; k++) {
        double e = qa_rng_normal(mc->seed, mc->stream + 1, base + (uint64_t)k);
        w += e * e;
    }
    return sqrt((double)(mc->nu - 2) / w);
}

qa_status qa_risk_scenarios_cpu(const qa_risk_mc *mc, const double *l, const double *mean, size_t n,
                                uint64_t first, const uint64_t *index, size_t count, double *shocks, int threads,
                                int blas) {
    const long long nc = (long long)count;
    (void)blas; /* only read in builds with OpenBLAS */
    if (threads <= 0) {
        /* Reference: per scenario, eps by the scalar generator, z_i = sum_{j<=i} L_ij e_j
         * (+ mean_i), computed for i descending so the row can be overwritten in place. */
        for (size_t s = 0; s < count; s++) {
            uint64_t g = index ? index[s] : first + s;
            double *z = shocks + s * n;
            double c = mc->dist == QA_RISK_DIST_STUDENT_T ? t_scale(mc, g) : 1.0;
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
    /* Optimised: vectorised Philox normals (risk_normals.c: within ~1e-15 of the
     * reference's, the same bits for a scenario however the range is split), then the
     * deterministic triangular product for the whole block (or OpenBLAS DTRMM). */
    if (!index) {
        qa_risk_normals(mc->seed, mc->stream, first * n, count * n, shocks, threads);
    } else {
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && count > 16)
        for (long long s = 0; s < nc; s++)
            qa_risk_normals(mc->seed, mc->stream, index[s] * n, n, shocks + (size_t)s * n, 1);
    }
    if (mc->dist == QA_RISK_DIST_STUDENT_T) {
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && count > 16)
        for (long long s = 0; s < nc; s++) {
            double c = t_scale(mc, index ? index[s] : first + (uint64_t)s);
            double *z = shocks + (size_t)s * n;
            for (size_t j = 0; j < n; j++) z[j] *= c;
        }
    }
    if (l) {
#ifdef QA_HAVE_OPENBLAS
        if (blas && fits_int(count) && fits_int(n)) {
            blas_threads(threads);
            cblas_dtrmm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, (int)count, (int)n, 1.0, l,
                        (int)n, shocks, (int)n);
        } else
#endif
        {
            /* In place: z_s = L e_s, b(k, i) = L[i][k], lower triangle only. */
            qa_status st = qa_risk_gemm_det(shocks, n, count, n, l, 1, n, n, 1, shocks, n, threads);
            if (st != QA_OK) return st;
        }
    }
    if (mean) {
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1 && count * n > 65536)
        for (long long s = 0; s < nc; s++)
            for (size_t i = 0; i < n; i++) shocks[(size_t)s * n + i] += mean[i];
    }
    return QA_OK;
}

/* ---- revaluation ---------------------------------------------------------------------------- */

qa_status qa_risk_pnl_linear_cpu(const double *x, size_t b, size_t n, const double *w, double *pnl, int threads,
                                 int blas) {
    if (threads >= 1) {
#ifdef QA_HAVE_OPENBLAS
        if (blas && fits_int(b) && fits_int(n)) {
            blas_threads(threads);
            cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)b, (int)n, 1.0, x, (int)n, w, 1, 0.0, pnl, 1);
            return QA_OK;
        }
#else
        (void)blas;
#endif
        qa_risk_gemv_det(x, n, b, n, w, pnl, threads);
        return QA_OK;
    }
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

/* Adds the offsets and forms the row sums of rows [0, rows) of c (p columns). */
static void finish_rows(double *c, size_t rows, size_t p, const double *offset, double *pnl, int threads) {
    const long long nr = (long long)rows;
    (void)threads;
#pragma omp parallel for schedule(static) num_threads(threads > 0 ? threads : 1) if (threads > 1 && rows * p > 65536)
    for (long long s = 0; s < nr; s++) {
        double *row = c + (size_t)s * p, tot = 0.0;
        for (size_t q = 0; q < p; q++) {
            if (offset) row[q] += offset[q];
            tot += row[q];
        }
        if (pnl) pnl[s] = tot;
    }
}

qa_status qa_risk_pnl_linear_pos_cpu(const double *x, size_t b, size_t n, const double *e, size_t p,
                                     const double *offset, double *pnl_pos, double *pnl, int threads, int blas) {
    if (threads >= 1) {
        /* C = X E, then + offset and row sums; in chunks of rows through scratch when only
         * the totals are wanted (bounded memory). */
        size_t chunk = pnl_pos ? b : (b < 1024 ? b : 1024);
        double *tmp = pnl_pos ? NULL : malloc(chunk * p * sizeof *tmp + 1);
        if (!pnl_pos && !tmp) return QA_FAIL(QA_ERR_NOMEM, "linear revaluation: %zu x %zu scratch", chunk, p);
        for (size_t s0 = 0; s0 < b; s0 += chunk) {
            size_t rows = b - s0 < chunk ? b - s0 : chunk;
            double *c = pnl_pos ? pnl_pos + s0 * p : tmp;
#ifdef QA_HAVE_OPENBLAS
            if (blas && fits_int(rows) && fits_int(n) && fits_int(p)) {
                blas_threads(threads);
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)p, (int)n, 1.0, x + s0 * n,
                            (int)n, e, (int)p, 0.0, c, (int)p);
            } else
#else
            (void)blas;
#endif
            {
                qa_status st = qa_risk_gemm_det(x + s0 * n, n, rows, n, e, p, 1, p, 0, c, p, threads);
                if (st != QA_OK) {
                    free(tmp);
                    return st;
                }
            }
            finish_rows(c, rows, p, offset, pnl ? pnl + s0 : NULL, threads);
        }
        free(tmp);
        return QA_OK;
    }
    double *acc = malloc((p ? p : 1) * sizeof *acc);
    if (!acc) return QA_FAIL(QA_ERR_NOMEM, "linear revaluation: %zu accumulators", p);
    linear_pos_rows(x, 0, b, n, e, p, offset, acc, pnl_pos, pnl);
    free(acc);
    return QA_OK;
}

qa_status qa_risk_factor_loadings_cpu(const double *l, size_t n, const double *e, size_t p, double *m,
                                      int threads, int blas) {
    if (threads >= 1) {
#ifdef QA_HAVE_OPENBLAS
        if (blas && fits_int(n) && fits_int(p)) {
            memcpy(m, e, n * p * sizeof *m);
            blas_threads(threads);
            cblas_dtrmm(CblasRowMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, (int)n, (int)p, 1.0, l, (int)n,
                        m, (int)p);
            return QA_OK;
        }
#else
        (void)blas;
#endif
        /* m = L' e with the deterministic product on a transposed copy of L. */
        double *lt = malloc(n * n * sizeof *lt);
        if (!lt) return QA_FAIL(QA_ERR_NOMEM, "factor loadings: %zu x %zu transpose", n, n);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) lt[j * n + i] = j <= i ? l[i * n + j] : 0.0;
        qa_status st = qa_risk_gemm_det(lt, n, n, n, e, p, 1, p, 0, m, p, threads);
        free(lt);
        return st;
    }
    /* m_jq = sum_{i >= j} L_ij e_iq */
    for (size_t j = 0; j < n; j++)
        for (size_t q = 0; q < p; q++) {
            double a = 0.0;
            for (size_t i = j; i < n; i++) a += l[i * n + j] * e[i * p + q];
            m[j * p + q] = a;
        }
    return QA_OK;
}

qa_status qa_risk_pnl_options_cpu(const double *x, size_t b, size_t n, const qa_risk_option *opt, size_t p,
                                  double horizon, double *pnl_pos, double *pnl, int threads) {
    double *v0 = malloc((p ? p : 1) * sizeof *v0);
    if (!v0) return QA_FAIL(QA_ERR_NOMEM, "option revaluation: %zu base values", p);
    for (size_t q = 0; q < p; q++)
        v0[q] = qa_risk_bs_(opt[q].type, opt[q].spot, opt[q].strike, opt[q].expiry, opt[q].vol, opt[q].rate,
                            opt[q].div_yield);
    /* The same per-element code on every path: reference and threaded runs are bitwise equal. */
    const long long nb = (long long)b;
    int nt = threads > 0 ? threads : 1;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (long long s = 0; s < nb; s++) {
        const double *row = x + (size_t)s * n;
        double tot = 0.0;
        for (size_t q = 0; q < p; q++) {
            double v = qa_risk_option_pnl_(&opt[q], row, horizon, v0[q]);
            if (pnl_pos) pnl_pos[(size_t)s * p + q] = v;
            tot += v;
        }
        if (pnl) pnl[s] = tot;
    }
    free(v0);
    return QA_OK;
}

qa_status qa_risk_pnl_without_cpu(const double *pnl, const double *pnl_pos, size_t b, size_t p, size_t j,
                                  double *out) {
    for (size_t s = 0; s < b; s++) out[s] = pnl[s] - pnl_pos[s * p + j];
    return QA_OK;
}

/* ---- historical ------------------------------------------------------------------------------ */

qa_status qa_risk_hist_horizon_cpu(const double *r, size_t t, size_t n, size_t h, double *out) {
    size_t rows = t - h + 1;
    for (size_t d = 0; d < rows; d++) {
        double *o = out + d * n;
        memcpy(o, r + d * n, n * sizeof *o);
        for (size_t k = 1; k < h; k++)
            for (size_t j = 0; j < n; j++) o[j] += r[(d + k) * n + j];
    }
    return QA_OK;
}

qa_status qa_risk_fhs_cpu(const double *r, size_t t, size_t n, double lambda, double *out, double *sigma_now) {
    double *v = malloc(2 * (n ? n : 1) * sizeof *v), *now = v + n;
    if (!v) return QA_FAIL(QA_ERR_NOMEM, "FHS: %zu variances", n);
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

qa_status qa_risk_tail_top_cpu(const double *pnl, size_t n, uint64_t first, size_t m, qa_risk_tail_item *top,
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
