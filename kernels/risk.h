/* Risk compute kernels: covariance estimation, Cholesky, Monte-Carlo scenario
 * generation, revaluation, VaR / Expected Shortfall with exact distributed quantiles,
 * parametric (delta-normal / Student-t) risk, Euler contributions and reverse stress.
 *
 * Conventions (the definitions, with formulas, are in docs/risk.md):
 * - Matrices are row-major doubles. A return matrix is T x N (row t = date t, oldest
 *   first, column j = risk factor j) and must be NaN-free: clean or fill missing data
 *   before estimating (a NaN/Inf is QA_ERR_NUMERIC naming the date and factor). A
 *   scenario block is B x N (row s = scenario first + s).
 * - "backend memory" arrays live on the context's backend (device memory for CUDA);
 *   "host memory" arrays are ordinary host memory whatever the backend. Scalars
 *   returned through pointers are host memory.
 * - P&L is a gain (positive = money made); loss = -P&L. VaR and ES are losses:
 *   positive numbers mean money lost.
 * - Scenario s of a Monte-Carlo run depends only on (seed, stream, s): any block
 *   [a, b), computed on any rank or backend, reproduces the same shocks.
 * - On failure outputs are unchanged unless a function says otherwise. */
#ifndef QA_KERNELS_RISK_H
#define QA_KERNELS_RISK_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint64_t, int32_t */

#include "common/status.h"
#include "kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- context ------------------------------------------------------------------ */

/* A risk context binds a backend and the library handles its kernels need (cuBLAS
 * and cuSOLVER on CUDA, created once here instead of per call). It does not own the
 * backend, which must outlive it. One context per thread. On the CPU backend the
 * optimised paths run on qa_backend_threads(be) threads (OpenMP, and OpenBLAS via
 * openblas_set_num_threads, a process-wide setting); the backend's reference flag
 * selects the plain reference code (the oracle). */
typedef struct qa_risk_ctx qa_risk_ctx_t;

qa_status qa_risk_ctx_create(qa_backend_t *be, qa_risk_ctx_t **out);
/* CPU products (correlating shocks, linear revaluation, factor loadings) use by default
 * deterministic kernels: every output element is one FMA chain in a fixed order, so a
 * scenario's bits do not depend on the block it is computed in, on an index list, or
 * on the thread count (the exact distributed-VaR protocol relies on it). on = 1 uses
 * OpenBLAS instead (faster on some shapes; results then vary in the last bits with the
 * block's row count and the thread count). No effect on CUDA or in reference mode. */
void qa_risk_ctx_set_vendor_blas(qa_risk_ctx_t *ctx, int on);
/* Waits for queued work and releases the handles. Accepts NULL. */
void qa_risk_ctx_free(qa_risk_ctx_t *ctx);
qa_backend_t *qa_risk_ctx_backend(const qa_risk_ctx_t *ctx);

/* ---- covariance estimators (r: backend, T x N; outputs: backend) ------------------ */

/* mean[j] = (1/T) sum_t r[t][j], summed in date order. T >= 1. */
qa_status qa_risk_mean(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, double *mean);

/* Sample covariance about the sample mean, divisor T - 1 (T >= 2). cov: N x N,
 * exactly symmetric. */
qa_status qa_risk_cov_sample(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, double *cov);

/* RiskMetrics EWMA covariance with decay lambda in (0, 1), after the last date:
 *   S_{-1} = (1/T) sum_t x_t x_t'            (equal-weighted seed over the window)
 *   S_t    = lambda S_{t-1} + (1 - lambda) x_t x_t',  t = 0..T-1;   cov = S_{T-1}
 * with x_t = r_t (demean = 0, the RiskMetrics zero-mean convention) or
 * x_t = r_t - mean (demean = 1). Equivalently cov = sum_t w_t x_t x_t' with
 * w_t = lambda^T / T + (1 - lambda) lambda^(T-1-t), weights summing to 1. T >= 1. */
qa_status qa_risk_cov_ewma(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, double lambda,
                           int demean, double *cov);

typedef enum qa_risk_lw_target {
    QA_RISK_LW_CONSTANT_CORRELATION = 0, /* Ledoit & Wolf (2004), "Honey, I shrunk ..." */
    QA_RISK_LW_SCALED_IDENTITY = 1,      /* Ledoit & Wolf (2004), JMVA, "A well-conditioned ..." */
    QA_RISK_LW_TARGET_COUNT = 2
} qa_risk_lw_target;

/* Ledoit-Wolf shrinkage: cov = delta F + (1 - delta) S, with S the sample covariance
 * about the mean with divisor T (as in the papers), F the target and delta in [0, 1]
 * the published optimal intensity (docs/risk.md gives the estimators). intensity
 * (host, may be NULL) receives delta. T >= 2. The constant-correlation target needs
 * every asset's variance > 0 (QA_ERR_NUMERIC otherwise). */
qa_status qa_risk_cov_ledoit_wolf(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n,
                                  qa_risk_lw_target target, double *cov, double *intensity);

/* cov *= h: the h-day covariance of i.i.d. daily returns (square-root-of-time rule
 * for the standard deviation). Backend memory, n x n. */
qa_status qa_risk_cov_horizon(qa_risk_ctx_t *ctx, double *cov, size_t n, double h);

/* ---- Cholesky ------------------------------------------------------------------- */

/* cov = L L' with L lower triangular (n x n, backend; the strict upper triangle is set
 * to zero). Reads only the lower triangle of cov. Not positive definite ->
 * QA_ERR_NUMERIC naming the failing leading minor.
 * Jitter policy: jitter_max <= 0 disables it. Otherwise, when the plain factorisation
 * fails, it is retried on cov + d * mean(diag(cov)) * I for d = 1e-12, 1e-11, ...
 * while d <= jitter_max; the d that succeeded (0 when none was needed) goes to
 * jitter_used (host, may be NULL). */
qa_status qa_risk_cholesky(qa_risk_ctx_t *ctx, const double *cov, size_t n, double jitter_max, double *l,
                           double *jitter_used);

/* ---- Monte-Carlo scenarios -------------------------------------------------------- */

typedef enum qa_risk_dist {
    QA_RISK_DIST_NORMAL = 0,    /* multivariate normal */
    QA_RISK_DIST_STUDENT_T = 1, /* multivariate Student-t, variance-matched */
    QA_RISK_DIST_COUNT = 2
} qa_risk_dist;

/* Random-number layout of a Monte-Carlo run (docs/risk.md, "Scenario indexing").
 * Scenario g (global index) uses Philox normals
 *   eps_j = normal(seed, stream,     g * n  + j),  j < n
 *   g_k   = normal(seed, stream + 1, g * nu + k),  k < nu   (Student-t only)
 * and its shock vector is z = L (c eps) + mean, with c = 1 (normal) or
 * c = sqrt((nu - 2) / W), W = sum_k g_k^2 ~ chi-square(nu) (Student-t: z then has
 * covariance L L' exactly, for integer nu >= 3). */
typedef struct qa_risk_mc {
    uint64_t seed;
    uint64_t stream; /* uses stream and stream + 1 */
    qa_risk_dist dist;
    int nu;          /* Student-t degrees of freedom, integer in [3, 100000] */
} qa_risk_mc;

/* shocks[s][i] for scenarios g = first + s, s < count (backend, count x n).
 * l: n x n lower-triangular factor of the (horizon) covariance, backend memory, or NULL
 * for the identity (uncorrelated standardised shocks, e.g. for the fused linear path);
 * mean: n (backend) or NULL for zero. For an h-day horizon pass the factor of the
 * h-day covariance (qa_risk_cov_horizon) and the h-day mean. */
qa_status qa_risk_scenarios(qa_risk_ctx_t *ctx, const qa_risk_mc *mc, const double *l, const double *mean,
                            size_t n, uint64_t first, size_t count, double *shocks);

/* The same for an arbitrary list of global scenario indices (host memory, count
 * entries): row s of shocks is scenario index[s]. Used to regenerate only the tail
 * scenarios for contributions. */
qa_status qa_risk_scenarios_at(qa_risk_ctx_t *ctx, const qa_risk_mc *mc, const double *l, const double *mean,
                               size_t n, const uint64_t *index, size_t count, double *shocks);

/* ---- revaluation (x: backend, b x n scenario rows of factor returns) ------------------ */

/* Portfolio P&L of a linear book: pnl[s] = sum_j x[s][j] w[j] (w: backend, n;
 * pnl: backend, b). A GEMV. */
qa_status qa_risk_pnl_linear(qa_risk_ctx_t *ctx, const double *x, size_t b, size_t n, const double *w,
                             double *pnl);

/* P&L per position of a linear book: pnl_pos[s][p] = offset[p] + sum_j x[s][j] e[j][p]
 * (a GEMM). e: backend, n x p exposures (currency per unit return of factor j);
 * offset: backend, p, or NULL for zero; pnl_pos: backend, b x p, or NULL when only the
 * total is wanted; pnl: backend, b, or NULL: pnl[s] = sum_p pnl_pos[s][p] in position
 * order (so contributions add up to the total). At least one output. */
qa_status qa_risk_pnl_linear_pos(qa_risk_ctx_t *ctx, const double *x, size_t b, size_t n, const double *e,
                                 size_t p, const double *offset, double *pnl_pos, double *pnl);

/* m = L' e (n x p, backend): exposures carried onto the independent shocks, so that
 * for z = L eps + mean the linear P&L z' e = eps' m + mean' e. Revaluing raw shocks
 * (qa_risk_scenarios with l = NULL) against m replaces the B x N x N correlation
 * product and the B x N x P revaluation by one B x N x P product (docs/risk.md,
 * "fused linear path"). */
qa_status qa_risk_factor_loadings(qa_risk_ctx_t *ctx, const double *l, size_t n, const double *e, size_t p,
                                  double *m);

typedef enum qa_risk_option_type {
    QA_RISK_CALL = 0,
    QA_RISK_PUT = 1,
    QA_RISK_OPTION_TYPE_COUNT = 2
} qa_risk_option_type;

/* A European option on one risk factor, revalued with Black-Scholes-Merton. */
typedef struct qa_risk_option {
    double quantity;   /* contracts x multiplier; negative = short */
    double spot;       /* underlying price today, > 0 */
    double strike;     /* > 0 */
    double expiry;     /* years to expiry today, > 0 */
    double vol;        /* annualised implied volatility today, > 0 */
    double rate;       /* continuously compounded risk-free rate */
    double div_yield;  /* continuous dividend yield */
    int32_t type;      /* qa_risk_option_type */
    int32_t factor;    /* scenario column holding the underlying's log-return */
    int32_t vol_factor;/* scenario column holding the log-change of the vol, or -1 */
    int32_t rate_factor;/* scenario column holding the absolute change of the rate, or -1 */
} qa_risk_option;

/* Full revaluation of an option book per scenario over a horizon of `horizon` years:
 *   S' = S exp(x[s][factor]),  vol' = vol exp(x[s][vol_factor]) (if any),
 *   r' = r + x[s][rate_factor] (if any),
 *   tau' = expiry - horizon,   V' = BSM(S', K, tau', vol', r', q) (payoff if tau' <= 0)
 *   pnl_pos[s][p] = quantity (V' - BSM(S, K, expiry, vol, r, q)).
 * opt: backend memory, p entries (validated: QA_ERR_INVALID_ARG names a bad one);
 * pnl_pos (b x p) and pnl (b, row sums in position order) as in qa_risk_pnl_linear_pos. */
qa_status qa_risk_pnl_options(qa_risk_ctx_t *ctx, const double *x, size_t b, size_t n,
                              const qa_risk_option *opt, size_t p, double horizon, double *pnl_pos,
                              double *pnl);

/* out[s] = pnl[s] - pnl_pos[s][j]: the P&L of the book without position j, for
 * incremental VaR by simulation (backend memory; pnl_pos is b x p). */
qa_status qa_risk_pnl_without(qa_risk_ctx_t *ctx, const double *pnl, const double *pnl_pos, size_t b,
                              size_t p, size_t j, double *out);

/* ---- revaluation modes of linear positions (docs/risk.md, "Revaluation model") ---- */

/* How a position's value responds to its risk factor's log-return x over the horizon:
 *   FULL         exact: a linear position of exposure e (currency) makes e (exp(x) - 1);
 *                options are revalued in full Black-Scholes (qa_risk_pnl_options);
 *   DELTA        first order: e x (options: their delta, vega and time decay);
 *   DELTA_GAMMA  second order: e (x + x^2 / 2) (options: + gamma, volga).
 * FULL is the default of every method; the others are explicit approximations. */
typedef enum qa_risk_reval {
    QA_RISK_REVAL_FULL = 0,
    QA_RISK_REVAL_DELTA = 1,
    QA_RISK_REVAL_DELTA_GAMMA = 2,
    QA_RISK_REVAL_COUNT = 3
} qa_risk_reval;

/* "full", "delta", "delta_gamma", NULL (config values and summary labels; NULL-terminated
 * for the configuration binder). */
extern const char *const qa_risk_reval_names[QA_RISK_REVAL_COUNT + 1];

/* Columns of the feature block of a mode: n (FULL, DELTA) or 2n (DELTA_GAMMA). */
size_t qa_risk_reval_width(qa_risk_reval mode, size_t n);

/* The features a linear revaluation multiplies by exposures, so that any mode's P&L is
 * one product out E (qa_risk_pnl_linear_pos, E with qa_risk_reval_width rows):
 *   FULL:         out[s][j] = expm1(x[s][j])                  (b x n, simple returns)
 *   DELTA:        out = x                                     (b x n)
 *   DELTA_GAMMA:  out[s] = [x[s][0..n), x[s][0..n)^2]          (b x 2n)
 * x: backend, b x n; out: backend, b x width (must not alias x). Each element is one
 * function of one input on every path, so a scenario's bits do not depend on its block
 * or thread split. CPU: glibc's vector expm1 (<= 4 ulp, libmvec AVX2) where built, the
 * scalar expm1 in reference mode; CUDA: expm1 of libdevice. */
qa_status qa_risk_reval_features(qa_risk_ctx_t *ctx, qa_risk_reval mode, const double *x, size_t b, size_t n,
                                 double *out);

/* ---- historical scenarios (r: backend, T x N log-returns) -------------------------- */

/* Overlapping h-day returns: out[t][j] = sum_{k<h} r[t+k][j], t < T - h + 1
 * (summed in date order). Backend memory, (T - h + 1) x N. 1 <= h <= T. */
qa_status qa_risk_hist_horizon(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, size_t h,
                               double *out);

/* Filtered historical simulation (EWMA volatility rescaling, Hull & White 1998): per
 * factor j, v_0 = (1/T) sum_t r_tj^2, v_{t+1} = lambda v_t + (1 - lambda) r_tj^2;
 *   out[t][j] = r_tj * sqrt(v_T) / sqrt(v_t)   (0 where v_t = 0).
 * sigma_now (backend, n, may be NULL) receives sqrt(v_T), today's volatility forecast. */
qa_status qa_risk_fhs(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, double lambda, double *out,
                      double *sigma_now);

/* ---- VaR / ES and the exact distributed tail ------------------------------------------ */

/* Quantile convention: losses sorted ascending L_(1) <= ... <= L_(n);
 *   VaR_alpha = L_(k),  k = ceil(alpha n)  (computed as ceil(alpha n - 1e-9), so that
 *                       alpha = 0.99, n = 100 gives k = 99 despite binary rounding),
 *   ES_alpha  = mean of L_(k), ..., L_(n), the m = n - k + 1 largest losses.
 * alpha in (0, 1), n >= 1. */
size_t qa_risk_var_rank(double alpha, size_t n);  /* k, in [1, n] */
size_t qa_risk_tail_size(double alpha, size_t n); /* m = n - k + 1 */

/* One tail entry: a scenario's loss and its global index. The canonical order (the
 * order of every tail list) is loss descending, then index ascending; it is total, so
 * the top-m set is unique even with tied losses. -0.0 losses are stored as +0.0. */
typedef struct qa_risk_tail_item {
    double loss;
    uint64_t index;
} qa_risk_tail_item;

/* 1 when a comes before b in the canonical order. */
int qa_risk_tail_before(const qa_risk_tail_item *a, const qa_risk_tail_item *b);

/* The min(m, n) largest losses of a P&L block (pnl: backend, n; scenario s has global
 * index first + s), in canonical order, into top (host, m entries); *count gets
 * min(m, n). O(n) selection on the CPU, radix sort on CUDA; both exact. A NaN P&L is
 * QA_ERR_NUMERIC (naming the scenario). */
qa_status qa_risk_tail_top(qa_risk_ctx_t *ctx, const double *pnl, size_t n, uint64_t first, size_t m,
                           qa_risk_tail_item *top, size_t *count);

/* Merges canonical lists a and b (host) into the first min(m, na + nb) entries of
 * their union, in canonical order, into out (host; must not alias a or b). An entry
 * present in both lists is QA_ERR_INTEGRITY (overlapping blocks); lists that are not
 * canonical are QA_ERR_INVALID_ARG. */
qa_status qa_risk_tail_merge(const qa_risk_tail_item *a, size_t na, const qa_risk_tail_item *b, size_t nb,
                             size_t m, qa_risk_tail_item *out, size_t *count);

/* VaR and ES from the top-m tail of the whole sample (host, canonical order, at least
 * m entries, m = qa_risk_tail_size(alpha, n)): VaR = tail[m-1].loss, ES = mean of
 * tail[0..m-1].loss summed in canonical order (compensated), so every backend and
 * every partition of the scenarios gives bitwise the same numbers. */
qa_status qa_risk_var_es_tail(const qa_risk_tail_item *tail, size_t count, size_t m, double *var, double *es);

/* Convenience for a sample held in one array: tail_top + var_es_tail. */
qa_status qa_risk_var_es(qa_risk_ctx_t *ctx, const double *pnl, size_t n, double alpha, double *var,
                         double *es);

/* A streaming tail: the top m of every block pushed so far (host memory). Caller-
 * allocated; init/free. With m = tail_size(alpha, n_total) (+ a bandwidth for component
 * VaR) it yields exact VaR/ES over all blocks with O(m) memory. */
typedef struct qa_risk_tail {
    size_t m;
    size_t count;
    qa_risk_tail_item *items;   /* count entries, canonical order */
    qa_risk_tail_item *scratch; /* 2m entries of merge space */
} qa_risk_tail;

qa_status qa_risk_tail_init(qa_risk_tail *t, size_t m);
void qa_risk_tail_free(qa_risk_tail *t);
/* Merges a canonical list (e.g. another rank's tail) into t. */
qa_status qa_risk_tail_add(qa_risk_tail *t, const qa_risk_tail_item *items, size_t count);
/* Selects the block's top m (qa_risk_tail_top) and merges it into t. */
qa_status qa_risk_tail_push(qa_risk_ctx_t *ctx, qa_risk_tail *t, const double *pnl, size_t n, uint64_t first);

/* ---- contributions from simulated tails (host) ------------------------------------ */

/* rows: per-position P&L (host, nrows x p) of the tail scenarios in canonical tail
 * order (row i is scenario tail[i].index), e.g. regenerated with qa_risk_scenarios_at
 * and revalued.
 * Component ES (Euler): comp[j] = -(1/m) sum_{i<m} rows[i][j]; they sum to ES up to
 * rounding. nrows >= m. */
qa_status qa_risk_component_es(const double *rows, size_t nrows, size_t p, size_t m, double *comp);
/* Component VaR (Euler, kernel estimate of E[-pnl_j | L = VaR]): the mean of -rows[i][j]
 * over the rank window i in [m-1-h, m-1+h] (uniform kernel, half-width h in ranks,
 * clipped to [0, nrows-1]), rescaled so that the components sum to var (when the
 * window's mean loss is not 0). Needs the top m + h scenarios. */
qa_status qa_risk_component_var(const double *rows, size_t nrows, size_t p, size_t m, size_t h, double var,
                                double *comp);
/* The default half-width: floor(sqrt(m)), at least 1 (docs/risk.md). */
size_t qa_risk_component_bandwidth(size_t m);

/* ---- distributions and closed forms (host) ----------------------------------------- */

double qa_risk_norm_pdf(double x);
double qa_risk_norm_cdf(double x);
/* Inverse standard normal CDF: Acklam's rational approximation refined by one Halley
 * step on erfc (|relative error| < 1e-15 in practice); -inf/+inf at 0/1, NaN outside. */
double qa_risk_norm_ppf(double p);
/* Student-t with integer nu >= 1 degrees of freedom: exact finite-series CDF
 * (Abramowitz & Stegun 26.7.3-4), density, and quantile by safeguarded Newton. */
double qa_risk_t_pdf(double x, int nu);
double qa_risk_t_cdf(double x, int nu);
double qa_risk_t_ppf(double p, int nu);

/* Black-Scholes-Merton price of a European option (tau > 0, vol > 0); payoff at tau <= 0. */
double qa_risk_bs_price(qa_risk_option_type type, double spot, double strike, double tau, double vol,
                        double rate, double div_yield);

/* ---- parametric risk of a linear book (host) ----------------------------------------- */

typedef struct qa_risk_param {
    double mean;  /* expected P&L over the horizon: h mu' w */
    double sigma; /* P&L standard deviation over the horizon: sqrt(h w' Sigma w) */
    double var;   /* VaR (loss) */
    double es;    /* ES (loss) */
} qa_risk_param;

/* Delta-normal (nu = 0) or variance-matched Student-t (integer nu >= 3) VaR/ES of
 * P&L = w' r over `horizon` days, r ~ (h mu, h Sigma) (mu: daily mean, NULL for zero;
 * cov: daily covariance, n x n; all host):
 *   VaR = -h mu'w + sqrt(h) sigma_p q,   ES = -h mu'w + sqrt(h) sigma_p e
 * with q = z_alpha, e = phi(z_alpha)/(1-alpha) (normal), or the scaled Student-t
 * quantile and tail mean (docs/risk.md). Optional outputs (host, n, may be NULL):
 *   marginal[i]    = dVaR/dw_i = -h mu_i + sqrt(h) (Sigma w)_i / sigma_p q
 *   comp_var[i]    = w_i marginal[i]                  (sums to VaR exactly, Euler)
 *   comp_es[i]     = w_i (-h mu_i + sqrt(h) (Sigma w)_i / sigma_p e)   (sums to ES)
 *   incremental[i] = VaR(w) - VaR(w without position i).
 * w' Sigma w must be > 0 (QA_ERR_NUMERIC). */
qa_status qa_risk_parametric(const double *cov, const double *mu, const double *w, size_t n, double alpha,
                             double horizon, int nu, qa_risk_param *out, double *marginal, double *comp_var,
                             double *comp_es, double *incremental);

/* ---- reverse stress (host) ---------------------------------------------------------- */

/* The most likely factor move (maximum normal density) producing P&L w'x = -loss:
 *   x* = -loss Sigma w / (w' Sigma w)   (= E[r | w'r = -loss] for r ~ N(0, Sigma)). */
qa_status qa_risk_reverse_stress(const double *cov, const double *w, size_t n, double loss, double *x);

/* Conditional-expectation propagation of hypothetical shocks: given shocks s on the k
 * distinct factors idx[0..k-1], x[idx] = s and the other factors get
 *   E[r_o | r_s = s] = Sigma_os Sigma_ss^{-1} s   (zero-mean normal returns).
 * cov: n x n, x: n (host). Sigma_ss not positive definite -> QA_ERR_NUMERIC. */
qa_status qa_risk_conditional_shock(const double *cov, size_t n, const size_t *idx, size_t k, const double *s,
                                    double *x);

#ifdef __cplusplus
}
#endif
#endif
