/* Internal interface of the risk kernels (kernels/risk.h): the context layout and the
 * backend implementations the dispatcher in risk.c calls after validating arguments.
 * Tests include it to call a backend directly. Not part of the public API.
 *
 * CPU functions take `ref` and `threads`: ref (the backend's reference flag) runs the
 * plain reference (the oracle: single thread, straightforward loops, no BLAS); otherwise
 * the optimised path (OpenBLAS/LAPACKE when the build has it, OpenMP) runs on `threads`. CUDA functions queue work on the
 * context's stream; they synchronise only where a result must reach the host. */
#ifndef QA_KERNELS_RISK_IMPL_H
#define QA_KERNELS_RISK_IMPL_H

#include <math.h>  /* erfc, exp, log, sqrt, isfinite */

#include "kernels/risk.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Per-element helpers below are compiled for the host and, in risk.cu, the device. */
#if defined(__CUDACC__)
#define QA_RISK_HD static inline __host__ __device__
#else
#define QA_RISK_HD static inline
#endif

/* Canonical tail key of a P&L value: loss = -pnl with -0.0 mapped to +0.0. */
QA_RISK_HD double qa_risk_loss_of(double pnl) { return -pnl + 0.0; }

struct qa_risk_ctx {
    qa_backend_t *be;
    int vendor_blas; /* CPU products through OpenBLAS instead of the deterministic kernels */
    void *cublas;   /* cublasHandle_t bound to the backend stream (CUDA only) */
    void *cusolver; /* cusolverDnHandle_t bound to the backend stream (CUDA only) */
};

/* Weighting of the centred Gram matrix cov = sum_t w_t x_t x_t'. */
typedef enum qa_risk_weighting {
    QA_RISK_W_SAMPLE = 0, /* x = r - mean, w = 1/(T-1) */
    QA_RISK_W_EWMA = 1,   /* w_t = lambda^T/T + (1-lambda) lambda^(T-1-t); x = r or r - mean */
    QA_RISK_W_PLAIN = 2,  /* x = r - mean, w = 1/T (Ledoit-Wolf's S) */
    QA_RISK_W_COUNT = 3
} qa_risk_weighting;

/* EWMA weight of date t of T (the closed form of the recursion in risk.h). */
double qa_risk_ewma_weight(double lambda, size_t t, size_t n_dates);

/* Scalar summaries of the Ledoit-Wolf estimators, from S (divisor T) and
 * x = r - mean (docs/risk.md):
 *   pi      = sum_ij pi_ij,   pi_ij = (1/T) sum_t (x_ti x_tj - s_ij)^2
 *   pi_diag = sum_i pi_ii
 *   rbar    = mean over i < j of s_ij / sqrt(s_ii s_jj)      (0 when n = 1)
 *   rho_off = sum_{i != j} sqrt(s_jj / s_ii) theta_ij,
 *             theta_ij = (1/T) sum_t (x_ti^2 - s_ii)(x_ti x_tj - s_ij)
 *   gamma   = sum_{i != j} (rbar sqrt(s_ii s_jj) - s_ij)^2
 *   trace   = sum_i s_ii;   d2 = sum_ij (s_ij - [i == j] trace / n)^2
 * (rbar and gamma are only meaningful when every s_ii > 0.) */
typedef struct qa_risk_lw_sums {
    double pi, pi_diag, rbar, rho_off, gamma, trace, d2;
    double min_var; /* min_i s_ii (the constant-correlation target needs > 0) */
} qa_risk_lw_sums;

/* The optimal intensity in [0, 1] from the sums (0 when the target equals S). */
double qa_risk_lw_intensity(const qa_risk_lw_sums *s, size_t t, size_t n, qa_risk_lw_target target);


/* Sorts canonical tail items (qsort, canonical order). */
void qa_risk_tail_sort(qa_risk_tail_item *items, size_t n);

/* ---- deterministic products (risk_cpu_gemm.c) ---- */

/* c[s][i] = sum_k a[s][k] b(k, i) for s < rows, i < ncols, with b(k, i) = b[k*brs + i*bcs]
 * and k < kdim (tri = 0) or k <= i (tri = 1; b below the diagonal is not read). Each
 * element is one FMA chain in k order from 0, so its bits depend only on its row of a
 * and on b: not on rows, the grouping of rows or threads. c may alias a (in place) when
 * ldc == lda and ncols <= lda. */
qa_status qa_risk_gemm_det(const double *a, size_t lda, size_t rows, size_t kdim, const double *b, size_t brs,
                           size_t bcs, size_t ncols, int tri, double *c, size_t ldc, int threads);
/* y[s] = sum_k a[s][k] w[k], the same chain as a one-column qa_risk_gemm_det. */
void qa_risk_gemv_det(const double *a, size_t lda, size_t rows, size_t kdim, const double *w, double *y, int threads);
/* Micro-kernel in use: 2 AVX-512, 1 AVX2+FMA, 0 portable (libm fma). All give the same bits. */
int qa_risk_gemm_simd(void);

/* ---- optimised normals (risk_cpu_normals.c) ---- */

/* out[k] = normal (offset + k) of (seed, stream) for k < n: vectorised Philox + libmvec
 * (within ~1e-15 of qa_rng_normal; the same bits for an element whatever the range or
 * threads), or qa_rng_normal itself where AVX2/libmvec are missing. */
void qa_risk_normals(uint64_t seed, uint64_t stream, uint64_t offset, size_t n, double *out, int threads);
/* The generator in use: 2 AVX-512, 1 AVX2 (both + libmvec), 0 the scalar qa_rng_normal. */
int qa_risk_normals_simd(void);

/* ---- the reference (risk_ref.c): one thread, no BLAS, sums in definition order ---- */
qa_status qa_risk_mean_ref(const double *r, size_t t, size_t n, double *mean);
/* cov_ij = sum_t w_t (r_ti - c_i)(r_tj - c_j) for centre c (n) and weights w (t). */
void qa_risk_gram_ref(const double *r, size_t t, size_t n, const double *c, const double *w, double *cov);
/* S = x'x / t of centred x and the Ledoit-Wolf sums pi, pi_diag, rho_off (added to). */
void qa_risk_lw_sums_ref(const double *x, size_t t, size_t n, double *s, double *pi, double *pi_diag, double *rho_off);
/* The sums that need only S: rbar, gamma, trace, d2, min_var. */
void qa_risk_lw_finish(const double *s, size_t n, qa_risk_lw_sums *out);
/* cov = delta F + (1 - delta) S for the target F built from S and the sums. */
void qa_risk_lw_combine_ref(const double *s, size_t n, const qa_risk_lw_sums *sums, double delta,
                            qa_risk_lw_target target, double *cov);
qa_status qa_risk_scale_ref(double *x, size_t len, double a);
/* In-place lower Cholesky of a; 0 or the order of the first minor not positive definite. */
size_t qa_risk_cholesky_ref(double *a, size_t n);
/* Student-t scale of scenario g: sqrt((nu - 2) / W), W = sum of nu squared normals of
 * stream + 1 (the definition every backend evaluates). */
double qa_risk_t_scale(const qa_risk_mc *mc, uint64_t g);
qa_status qa_risk_scenarios_ref(const qa_risk_mc *mc, const double *l, const double *mean, size_t n, uint64_t first,
                                const uint64_t *index, size_t count, double *shocks);
qa_status qa_risk_pnl_linear_ref(const double *x, size_t b, size_t n, const double *w, double *pnl);
qa_status qa_risk_pnl_linear_pos_ref(const double *x, size_t b, size_t n, const double *e, size_t p,
                                     const double *offset, double *pnl_pos, double *pnl);
qa_status qa_risk_factor_loadings_ref(const double *l, size_t n, const double *e, size_t p, double *m);
qa_status qa_risk_pnl_without_ref(const double *pnl, const double *pnl_pos, size_t b, size_t p, size_t j,
                                  double *out);
qa_status qa_risk_reval_features_ref(qa_risk_reval mode, const double *x, size_t b, size_t n, double *out);
qa_status qa_risk_hist_horizon_ref(const double *r, size_t t, size_t n, size_t h, double *out);
qa_status qa_risk_fhs_ref(const double *r, size_t t, size_t n, double lambda, double *out, double *sigma_now);
/* Top min(m, n) of the block in canonical order; *nan_at = index of the first NaN
 * (then nothing is written) or UINT64_MAX. */
qa_status qa_risk_tail_top_ref(const double *pnl, size_t n, uint64_t first, size_t m, qa_risk_tail_item *top,
                               uint64_t *nan_at);

/* ---- the optimised CPU path (risk_cpu.c); `ref` = the backend's reference flag (then the
 *      reference runs), `threads` OpenMP threads, `blas` = use OpenBLAS where built ---- */
qa_status qa_risk_gram_cpu(const double *r, size_t t, size_t n, qa_risk_weighting wt, double lambda, int demean,
                           double *cov, int ref, int threads);
/* S (divisor T, n x n) and the Ledoit-Wolf sums. */
qa_status qa_risk_lw_cpu(const double *r, size_t t, size_t n, double *s, qa_risk_lw_sums *sums, int ref, int threads);
/* Factors cov + jitter_rel * mean(diag) * I. *minor = 0 on success, else the order of
 * the first leading minor found not positive definite (l is then unchanged). */
qa_status qa_risk_cholesky_cpu(const double *cov, size_t n, double jitter_rel, double *l, size_t *minor, int ref,
                               int threads);
/* index == NULL: scenarios first .. first+count-1; else index[0..count-1] (host). */
qa_status qa_risk_scenarios_cpu(const qa_risk_mc *mc, const double *l, const double *mean, size_t n,
                                uint64_t first, const uint64_t *index, size_t count, double *shocks, int ref,
                                int threads, int blas);
qa_status qa_risk_pnl_linear_cpu(const double *x, size_t b, size_t n, const double *w, double *pnl, int ref,
                                 int threads, int blas);
qa_status qa_risk_pnl_linear_pos_cpu(const double *x, size_t b, size_t n, const double *e, size_t p,
                                     const double *offset, double *pnl_pos, double *pnl, int ref, int threads,
                                     int blas);
qa_status qa_risk_factor_loadings_cpu(const double *l, size_t n, const double *e, size_t p, double *m, int ref,
                                      int threads, int blas);
/* expm1 through libmvec's 4-lane vector function for every element (a padded last
 * vector, so no element takes a scalar path); the reference's scalar loop otherwise. */
qa_status qa_risk_reval_features_cpu(qa_risk_reval mode, const double *x, size_t b, size_t n, double *out, int ref,
                                     int threads);
/* The same per-element code on every path (threads only split the scenarios). */
qa_status qa_risk_pnl_options_cpu(const double *x, size_t b, size_t n, const qa_risk_option *opt, size_t p,
                                  double horizon, double *pnl_pos, double *pnl, int threads);

/* ---- CUDA (risk.cu; QA_ERR_UNSUPPORTED stubs in risk.c without CUDA) ---- */
qa_status qa_risk_handles_create_cuda(qa_risk_ctx_t *ctx);
void qa_risk_handles_free_cuda(qa_risk_ctx_t *ctx);
qa_status qa_risk_mean_cuda(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, double *mean);
qa_status qa_risk_gram_cuda(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, qa_risk_weighting wt,
                            double lambda, int demean, double *cov);
/* Whole Ledoit-Wolf estimate on the device; *delta (host) gets the intensity. */
qa_status qa_risk_lw_cuda(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, qa_risk_lw_target target,
                          double *cov, double *delta);
qa_status qa_risk_cholesky_cuda(qa_risk_ctx_t *ctx, const double *cov, size_t n, double jitter_rel, double *l,
                                size_t *minor);
qa_status qa_risk_scenarios_cuda(qa_risk_ctx_t *ctx, const qa_risk_mc *mc, const double *l, const double *mean,
                                 size_t n, uint64_t first, const uint64_t *index, size_t count, double *shocks);
qa_status qa_risk_pnl_linear_cuda(qa_risk_ctx_t *ctx, const double *x, size_t b, size_t n, const double *w,
                                  double *pnl);
qa_status qa_risk_pnl_linear_pos_cuda(qa_risk_ctx_t *ctx, const double *x, size_t b, size_t n, const double *e,
                                      size_t p, const double *offset, double *pnl_pos, double *pnl);
qa_status qa_risk_factor_loadings_cuda(qa_risk_ctx_t *ctx, const double *l, size_t n, const double *e, size_t p,
                                       double *m);
qa_status qa_risk_pnl_options_cuda(qa_risk_ctx_t *ctx, const double *x, size_t b, size_t n,
                                   const qa_risk_option *opt, size_t p, double horizon, double *pnl_pos,
                                   double *pnl);
qa_status qa_risk_pnl_without_cuda(qa_risk_ctx_t *ctx, const double *pnl, const double *pnl_pos, size_t b,
                                   size_t p, size_t j, double *out);
qa_status qa_risk_reval_features_cuda(qa_risk_ctx_t *ctx, qa_risk_reval mode, const double *x, size_t b,
                                      size_t n, double *out);
qa_status qa_risk_hist_horizon_cuda(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, size_t h,
                                    double *out);
qa_status qa_risk_fhs_cuda(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, double lambda, double *out,
                           double *sigma_now);
qa_status qa_risk_scale_cuda(qa_risk_ctx_t *ctx, double *x, size_t len, double a);
/* Options validated on the device: *bad = index of the first invalid option or
 * UINT64_MAX (host). */
qa_status qa_risk_options_check_cuda(qa_risk_ctx_t *ctx, const qa_risk_option *opt, size_t p, size_t n,
                                     uint64_t *bad);
/* *pos = index of the first NaN/Inf in x[0..len) or UINT64_MAX (host). */
qa_status qa_risk_find_nonfinite_cuda(qa_risk_ctx_t *ctx, const double *x, size_t len, uint64_t *pos);
qa_status qa_risk_tail_top_cuda(qa_risk_ctx_t *ctx, const double *pnl, size_t n, uint64_t first, size_t m,
                                qa_risk_tail_item *top, uint64_t *nan_at);

/* ---- per-element code shared by the CPU and CUDA paths (same expressions) ---- */

/* Validity of one option against a scenario width n. */
QA_RISK_HD int qa_risk_option_valid(const qa_risk_option *o, size_t n) {
    return isfinite(o->quantity) && isfinite(o->spot) && isfinite(o->strike) && isfinite(o->expiry) &&
           isfinite(o->vol) && isfinite(o->rate) && isfinite(o->div_yield) && o->spot > 0.0 && o->strike > 0.0 &&
           o->expiry > 0.0 && o->vol > 0.0 && (o->type == QA_RISK_CALL || o->type == QA_RISK_PUT) &&
           o->factor >= 0 && (size_t)o->factor < n && o->vol_factor >= -1 &&
           (o->vol_factor < 0 || (size_t)o->vol_factor < n) && o->rate_factor >= -1 &&
           (o->rate_factor < 0 || (size_t)o->rate_factor < n);
}

/* Standard normal CDF through erfc (full relative accuracy in the lower tail). */
QA_RISK_HD double qa_risk_ncdf_(double x) { return 0.5 * erfc(-x * 0.70710678118654752440); }

/* Black-Scholes-Merton value; the payoff when tau <= 0. */
QA_RISK_HD double qa_risk_bs_(int type, double s, double k, double tau, double vol, double r, double q) {
    if (!(tau > 0.0)) {
        double intrinsic = type == QA_RISK_CALL ? s - k : k - s;
        return intrinsic > 0.0 ? intrinsic : 0.0;
    }
    double sq = vol * sqrt(tau);
    double d1 = (log(s / k) + (r - q + 0.5 * vol * vol) * tau) / sq;
    double d2 = d1 - sq;
    double df_q = exp(-q * tau), df_r = exp(-r * tau);
    if (type == QA_RISK_CALL) return s * df_q * qa_risk_ncdf_(d1) - k * df_r * qa_risk_ncdf_(d2);
    return k * df_r * qa_risk_ncdf_(-d2) - s * df_q * qa_risk_ncdf_(-d1);
}

/* P&L of option o in the scenario row `row` (base value v0 = its value today). */
QA_RISK_HD double qa_risk_option_pnl_(const qa_risk_option *o, const double *row, double horizon, double v0) {
    double s1 = o->spot * exp(row[o->factor]);
    double vol1 = o->vol_factor >= 0 ? o->vol * exp(row[o->vol_factor]) : o->vol;
    double r1 = o->rate_factor >= 0 ? o->rate + row[o->rate_factor] : o->rate;
    double v1 = qa_risk_bs_(o->type, s1, o->strike, o->expiry - horizon, vol1, r1, o->div_yield);
    return o->quantity * (v1 - v0);
}

#ifdef __cplusplus
}
#endif
#endif
