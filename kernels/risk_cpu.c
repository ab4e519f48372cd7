/* The optimised CPU path of the risk kernels: OpenBLAS level-2/3 and LAPACKE where the
 * build has them (QA_HAVE_OPENBLAS), the deterministic products of risk_cpu_gemm.c and
 * the vectorised normals of risk_cpu_normals.c, OpenMP elsewhere. With `ref` (the
 * backend's reference flag) or where the optimised form does not apply (no OpenBLAS,
 * dimensions beyond int) each function runs the reference of risk_ref.c. Where the optimised path evaluates the same
 * expressions in the same order (means, random numbers, option values, selection,
 * historical windows, FHS) its results are bitwise equal to the reference; BLAS paths
 * differ by summation order only (bounds in docs/risk.md). */
#include <limits.h>  /* INT_MAX */
#include <math.h>    /* sqrt, pow, isnan, isfinite */
#include <stdlib.h>  /* malloc, calloc, free, qsort */
#include <string.h>  /* memcpy, memset */

#include "common/mem.h"         /* QA_FREE_ALL */
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

/* Centre c (n) and weights w (t) of a weighting. */
static qa_status gram_setup(const double *r, size_t t, size_t n, qa_risk_weighting wt, double lambda, int demean,
                            double **c_out, double **w_out) {
    double *c = calloc(n ? n : 1, sizeof *c), *w = malloc((t ? t : 1) * sizeof *w);
    if (!c || !w) {
        free(c);
        free(w);
        return QA_FAIL(QA_ERR_NOMEM, "covariance: %zu x %zu work arrays", t, n);
    }
    if (wt != QA_RISK_W_EWMA || demean) qa_risk_mean_ref(r, t, n, c);
    for (size_t d = 0; d < t; d++)
        w[d] = wt == QA_RISK_W_EWMA ? qa_risk_ewma_weight(lambda, d, t)
               : wt == QA_RISK_W_SAMPLE ? 1.0 / (double)(t - 1)
                                        : 1.0 / (double)t;
    *c_out = c;
    *w_out = w;
    return QA_OK;
}

qa_status qa_risk_gram_cpu(const double *r, size_t t, size_t n, qa_risk_weighting wt, double lambda, int demean,
                           double *cov, int ref, int threads) {
    double *c = NULL, *w = NULL;
    qa_status st = gram_setup(r, t, n, wt, lambda, demean, &c, &w);
    if (st != QA_OK) return st;
#ifdef QA_HAVE_OPENBLAS
    if (!ref && fits_int(t) && fits_int(n)) {
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
    (void)ref, (void)threads;
#endif
    qa_risk_gram_ref(r, t, n, c, w, cov);
    free(c);
    free(w);
    return QA_OK;
}

qa_status qa_risk_lw_cpu(const double *r, size_t t, size_t n, double *s, qa_risk_lw_sums *sums, int ref, int threads) {
    qa_status st = QA_OK;
    double *mean = malloc((n ? n : 1) * sizeof *mean);
    double *x = malloc(t * n * sizeof *x + 1);
    double *y = NULL, *g2 = NULL, *g3 = NULL;
    if (!mean || !x) QA_TRY_FAIL(QA_ERR_NOMEM, "Ledoit-Wolf: %zu x %zu centred copy", t, n);
    qa_risk_mean_ref(r, t, n, mean);
    for (size_t d = 0; d < t; d++)
        for (size_t j = 0; j < n; j++) x[d * n + j] = r[d * n + j] - mean[j];
    double inv_t = 1.0 / (double)t;
    double pi = 0.0, pi_diag = 0.0, rho_off = 0.0;
#ifdef QA_HAVE_OPENBLAS
    if (!ref && fits_int(t) && fits_int(n)) {
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
    (void)ref, (void)threads;
#endif
    qa_risk_lw_sums_ref(x, t, n, s, &pi, &pi_diag, &rho_off);
#ifdef QA_HAVE_OPENBLAS
finish:
#endif
    sums->pi = pi;
    sums->pi_diag = pi_diag;
    sums->rho_off = rho_off;
    qa_risk_lw_finish(s, n, sums);
cleanup:
    QA_FREE_ALL(mean, x, y, g2, g3);
    return st;
}

/* ---- Cholesky ------------------------------------------------------------------------------ */

qa_status qa_risk_cholesky_cpu(const double *cov, size_t n, double jitter_rel, double *l, size_t *minor, int ref,
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
    if (!ref && fits_int(n)) {
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
    (void)ref, (void)threads;
#endif
    *minor = qa_risk_cholesky_ref(a, n);
    if (*minor == 0) memcpy(l, a, n * n * sizeof *a);
    free(a);
    return QA_OK;
}

/* ---- scenarios ----------------------------------------------------------------------------- */

qa_status qa_risk_scenarios_cpu(const qa_risk_mc *mc, const double *l, const double *mean, size_t n,
                                uint64_t first, const uint64_t *index, size_t count, double *shocks, int ref,
                                int threads, int blas) {
    const long long nc = (long long)count;
    (void)blas; /* only read in builds with OpenBLAS */
    if (ref) return qa_risk_scenarios_ref(mc, l, mean, n, first, index, count, shocks);
    /* Optimised: vectorised Philox normals (risk_cpu_normals.c: within ~1e-15 of the
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
            double c = qa_risk_t_scale(mc, index ? index[s] : first + (uint64_t)s);
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

qa_status qa_risk_pnl_linear_cpu(const double *x, size_t b, size_t n, const double *w, double *pnl, int ref,
                                 int threads, int blas) {
    if (!ref) {
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
    return qa_risk_pnl_linear_ref(x, b, n, w, pnl);
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
                                     const double *offset, double *pnl_pos, double *pnl, int ref, int threads,
                                     int blas) {
    if (!ref) {
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
    return qa_risk_pnl_linear_pos_ref(x, b, n, e, p, offset, pnl_pos, pnl);
}

qa_status qa_risk_factor_loadings_cpu(const double *l, size_t n, const double *e, size_t p, double *m, int ref,
                                      int threads, int blas) {
    if (!ref) {
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
    return qa_risk_factor_loadings_ref(l, n, e, p, m);
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
