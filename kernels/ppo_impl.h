/* Internal to the PPO op (not a public API): the per-row arithmetic as host/device
 * functions, the scratch layout, and the backend entry points ppo.c dispatches to after
 * validating arguments.
 *
 * The reference (ppo_ref.c), the optimised CPU path (ppo_cpu.c) and the CUDA kernels
 * (ppo.cu) all call the functions below for each row (or env, or element), so the
 * backends differ only in how rows are spread over threads and in the order of the
 * reductions across rows. Everything is computed in double and stored in float. */
#ifndef QA_KERNELS_PPO_IMPL_H
#define QA_KERNELS_PPO_IMPL_H

#include <math.h>    /* exp, log, sqrt, fabs, INFINITY, NAN */
#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int32_t, uint8_t, uint64_t */

#include "common/philox.h" /* qa_rng_uniform, qa_rng_normal (sampling) */
#include "kernels/ppo.h"

#if defined(__CUDACC__)
#define QA_PPO_HD static __host__ __device__ __forceinline__
#else
#define QA_PPO_HD static inline
#endif

#define QA_PPO_LOG_2PI 1.8378770664093454836 /* log(2 pi) */
#define QA_PPO_EPS 1e-8                      /* normalisation epsilons (advantages, observations) */

/* ---- scratch layout ------------------------------------------------------------------------
 * CPU: the per-row terms of a loss (QA_PPO_ROW_TERMS doubles per row, row-major) at 0,
 *      then per-column accumulators (A for dlog_std) at QA_PPO_ROW_TERMS * B; the
 *      observation update uses 2 D column accumulators at 0.
 * CUDA: block partials (QA_PPO_ROW_TERMS per block, quantity-major) at 0, 8 result slots
 *      at QA_PPO_SCRATCH_SLOTS, the Gaussian loss's per-row coefficients g at
 *      QA_PPO_SCRATCH_COEF. qa_ppo_scratch_doubles covers both. */
#define QA_PPO_ROW_TERMS 4
#define QA_PPO_BLOCK 256       /* threads per block of the CUDA reduction kernels */
#define QA_PPO_MAX_BLOCKS 256  /* stage-1 blocks of a CUDA reduction, at most */
#define QA_PPO_SCRATCH_SLOTS (QA_PPO_ROW_TERMS * QA_PPO_MAX_BLOCKS)
#define QA_PPO_SCRATCH_COEF (QA_PPO_SCRATCH_SLOTS + 8)

/* Stage-1 blocks of a CUDA reduction over n rows: one row per thread up to
 * QA_PPO_MAX_BLOCKS blocks, then grid-stride. A function of n only. */
QA_PPO_HD int qa_ppo_blocks(size_t n) {
    size_t g = (n + QA_PPO_BLOCK - 1) / QA_PPO_BLOCK;
    if (g > QA_PPO_MAX_BLOCKS) g = QA_PPO_MAX_BLOCKS;
    return g ? (int)g : 1;
}

/* ---- advantages ---------------------------------------------------------------------------- */

/* GAE for env i (column i of the [T*N] arrays), t = T-1 down to 0 (ppo.h states the
 * recurrence). gl = gamma * lambda. */
QA_PPO_HD void qa_ppo_gae_env(int T, int N, int i, double gamma, double gl, const float *reward,
                              const float *value, const float *last_value, const uint8_t *terminated,
                              const uint8_t *truncated, const float *final_value, float *adv, float *ret) {
    double next = 0.0;
    for (int t = T - 1; t >= 0; t--) {
        size_t k = (size_t)t * (size_t)N + (size_t)i;
        double v = value[k], boot;
        int done = 1;
        if (terminated[k]) boot = 0.0;
        else if (truncated[k]) boot = final_value[k];
        else {
            boot = t == T - 1 ? (double)last_value[i] : (double)value[k + (size_t)N];
            done = 0;
        }
        double delta = (double)reward[k] + gamma * boot - v;
        next = done ? delta : delta + gl * next; /* a select: a NaN beyond an episode's end stays there */
        adv[k] = (float)next;
        ret[k] = (float)(next + v);
    }
}

/* Advantage normalisation of one element, given the mean and the divisor (std + 1e-8,
 * or 1 when n == 1). */
QA_PPO_HD float qa_ppo_normalize_value(float x, double mean, double denom) {
    return (float)(((double)x - mean) / denom);
}

/* ---- categorical ----------------------------------------------------------------------------- */

/* Row maximum in double (NaN entries skipped; -inf for an all-NaN row). */
QA_PPO_HD double qa_ppo_cat_max(int A, const float *z) {
    double m = -INFINITY;
    for (int j = 0; j < A; j++)
        if ((double)z[j] > m) m = z[j];
    return m;
}

/* log sum_j exp(z_j), max-shifted. */
QA_PPO_HD double qa_ppo_cat_lse(int A, const float *z) {
    double m = qa_ppo_cat_max(A, z), s = 0.0;
    for (int j = 0; j < A; j++) s += exp((double)z[j] - m);
    /* cppcheck-suppress invalidFunctionArg ; the sum holds exp(0) = 1 for the maximum: >= 1 */
    return m + log(s);
}

/* -sum_j p_j log p_j with log p_j = z_j - lse; terms with p_j == 0 (underflow, or a
 * -inf logit) count 0, a NaN propagates. */
QA_PPO_HD double qa_ppo_cat_entropy(int A, const float *z, double lse) {
    double h = 0.0;
    for (int j = 0; j < A; j++) {
        double lp = (double)z[j] - lse, p = exp(lp);
        if (p != 0.0) h -= p * lp;
    }
    return h;
}

/* Inverse-CDF draw from softmax(z) with the uniform u in (0, 1); *logp = log p_k. */
QA_PPO_HD int32_t qa_ppo_cat_sample_row(int A, const float *z, double u, float *logp) {
    double m = qa_ppo_cat_max(A, z), s = 0.0;
    for (int j = 0; j < A; j++) s += exp((double)z[j] - m);
    int32_t k = A - 1;
    double c = 0.0;
    for (int j = 0; j < A; j++) {
        c += exp((double)z[j] - m) / s;
        if (u < c) {
            k = j;
            break;
        }
    }
    /* cppcheck-suppress invalidFunctionArg ; the sum holds exp(0) = 1 for the maximum: >= 1 */
    *logp = (float)((double)z[k] - m - log(s));
    return k;
}

/* First index of the maximum; NaN never wins (0 for an all-NaN row). */
QA_PPO_HD int32_t qa_ppo_cat_argmax_row(int A, const float *z) {
    int32_t best = -1;
    for (int j = 0; j < A; j++)
        if (z[j] == z[j] && (best < 0 || z[j] > z[best])) best = j;
    return best < 0 ? 0 : best;
}

/* log softmax(z)[a] (NaN when a is outside [0, A)). */
QA_PPO_HD double qa_ppo_cat_logp_of(int A, const float *z, int32_t a, double lse) {
    return (a >= 0 && a < A) ? (double)z[a] - lse : NAN;
}

/* What one row adds to the clipped objective: pg = -min(s1, s2), ent (categorical only),
 * kl = (ratio - 1) - log ratio, clip = 1 when |ratio - 1| > clip, g = dloss/dlogp. */
typedef struct qa_ppo_terms {
    double pg, ent, kl, clip, g;
} qa_ppo_terms;

/* The clipped-surrogate terms of a row with new log-probability logp; inv_B = 1/B. */
QA_PPO_HD qa_ppo_terms qa_ppo_clip_terms(double logp, float logp_old, float adv, double clip, double inv_B) {
    qa_ppo_terms t;
    double lr = logp - (double)logp_old, ratio = exp(lr), a = adv;
    double rc = ratio < 1.0 - clip ? 1.0 - clip : (ratio > 1.0 + clip ? 1.0 + clip : ratio);
    double s1 = ratio * a, s2 = rc * a;
    int unclipped = s1 <= s2; /* the unclipped term is the minimum: it carries the gradient */
    t.pg = -(unclipped ? s1 : s2);
    t.ent = 0.0;
    t.kl = (ratio - 1.0) - lr;
    t.clip = fabs(ratio - 1.0) > clip ? 1.0 : 0.0;
    t.g = unclipped ? -a * ratio * inv_B : 0.0;
    return t;
}

/* A policy loss's stats from the row sums of pg, kl and clip and the mean entropy ent:
 * means (0 when B == 0), TOTAL, entries 6 and 7 zero. */
QA_PPO_HD void qa_ppo_policy_stats(int B, double pg, double kl, double clip, double ent, double ent_coef,
                                   double *stats) {
    stats[QA_PPO_STAT_PG] = B > 0 ? pg / B : 0.0;
    stats[QA_PPO_STAT_ENT] = ent;
    stats[QA_PPO_STAT_KL] = B > 0 ? kl / B : 0.0;
    stats[QA_PPO_STAT_CLIPFRAC] = B > 0 ? clip / B : 0.0;
    stats[QA_PPO_STAT_TOTAL] = stats[QA_PPO_STAT_PG] - ent_coef * ent;
    stats[6] = stats[7] = 0.0;
}

/* One row of the categorical loss: its terms, and dz (A floats) = g (onehot_a - p) +
 * ent_coef/B p (log p + H). */
QA_PPO_HD qa_ppo_terms qa_ppo_cat_loss_row(int A, const float *z, int32_t a, float logp_old, float adv,
                                           double clip, double ent_coef, double inv_B, float *dz) {
    double lse = qa_ppo_cat_lse(A, z);
    double h = qa_ppo_cat_entropy(A, z, lse);
    qa_ppo_terms t = qa_ppo_clip_terms(qa_ppo_cat_logp_of(A, z, a, lse), logp_old, adv, clip, inv_B);
    t.ent = h;
    double e = ent_coef * inv_B;
    for (int j = 0; j < A; j++) {
        double lp = (double)z[j] - lse, p = exp(lp);
        double d = t.g * ((j == a ? 1.0 : 0.0) - p);
        if (p != 0.0) d += e * p * (lp + h);
        dz[j] = (float)d;
    }
    return t;
}

/* ---- diagonal Gaussian ------------------------------------------------------------------------ */

/* Row i of the sampler: act[j] = mu_j + exp(log_std_j) eps_j, eps_j =
 * qa_rng_normal(seed, counter, i*A + j); returns logp of the stored float action. */
QA_PPO_HD float qa_ppo_gauss_sample_row(int A, const float *mu, const float *log_std, uint64_t seed,
                                        uint64_t counter, uint64_t i, float *act) {
    double lp = 0.0;
    for (int j = 0; j < A; j++) {
        double ls = log_std[j], s = exp(ls);
        double eps = qa_rng_normal(seed, counter, i * (uint64_t)A + (uint64_t)j);
        float a = (float)((double)mu[j] + s * eps);
        act[j] = a;
        double x = ((double)a - (double)mu[j]) / s;
        lp += -0.5 * x * x - ls - 0.5 * QA_PPO_LOG_2PI;
    }
    return (float)lp;
}

/* sum_j (-0.5 x_j^2 - log_std_j - 0.5 log(2 pi)), x_j = (a_j - mu_j) / exp(log_std_j). */
QA_PPO_HD double qa_ppo_gauss_logp_row(int A, const float *mu, const float *log_std, const float *a) {
    double lp = 0.0;
    for (int j = 0; j < A; j++) {
        double ls = log_std[j], x = ((double)a[j] - (double)mu[j]) / exp(ls);
        lp += -0.5 * x * x - ls - 0.5 * QA_PPO_LOG_2PI;
    }
    return lp;
}

/* Entropy of the diagonal Gaussian: sum_j (log_std_j + 0.5 (1 + log(2 pi))). */
QA_PPO_HD double qa_ppo_gauss_entropy(int A, const float *log_std) {
    double h = 0.0;
    for (int j = 0; j < A; j++) h += (double)log_std[j] + 0.5 * (1.0 + QA_PPO_LOG_2PI);
    return h;
}

/* One row of the Gaussian loss: its terms (g included), and dmu[j] = g x_j / sigma_j. */
QA_PPO_HD qa_ppo_terms qa_ppo_gauss_loss_row(int A, const float *mu, const float *log_std, const float *a,
                                             float logp_old, float adv, double clip, double inv_B, float *dmu) {
    qa_ppo_terms t = qa_ppo_clip_terms(qa_ppo_gauss_logp_row(A, mu, log_std, a), logp_old, adv, clip, inv_B);
    for (int j = 0; j < A; j++) {
        double s = exp((double)log_std[j]), x = ((double)a[j] - (double)mu[j]) / s;
        dmu[j] = (float)(t.g * x / s);
    }
    return t;
}

/* What row r adds to dlog_std_j: g_r (x_rj^2 - 1). */
QA_PPO_HD double qa_ppo_gauss_dlogstd_term(double g, float a, float mu, float log_std) {
    double x = ((double)a - (double)mu) / exp((double)log_std);
    return g * (x * x - 1.0);
}

/* ---- value loss --------------------------------------------------------------------------------- */

/* One element of the value loss (ppo.h): returns 0.5 max(...) (0.5 (v - ret)^2 when
 * clip <= 0) and sets *dv; scale = vf_coef / B. */
QA_PPO_HD double qa_ppo_value_row(float v, float v_old, float ret, double clip, double scale, float *dv) {
    double d1 = (double)v - (double)ret, l1 = d1 * d1;
    if (!(clip > 0.0)) {
        *dv = (float)(scale * d1);
        return 0.5 * l1;
    }
    double dd = (double)v - (double)v_old;
    double vc = (double)v_old + (dd < -clip ? -clip : (dd > clip ? clip : dd)); /* NaN stays NaN */
    double d2 = vc - (double)ret, l2 = d2 * d2;
    if (l1 >= l2) {
        *dv = (float)(scale * d1);
        return 0.5 * l1;
    }
    *dv = (dd >= -clip && dd <= clip) ? (float)(scale * d2) : 0.0f;
    return 0.5 * l2;
}

/* ---- observation normalisation --------------------------------------------------------------------- */

/* Chan's merge of a batch (nb rows, mean bmean, sum of squared deviations bm2) into one
 * column's running (mean, var) with running count `count` (updated by the caller). */
QA_PPO_HD void qa_ppo_obsnorm_merge(double bmean, double bm2, double nb, double count, double *mean, double *var) {
    double tot = count + nb, delta = bmean - *mean;
    double m2 = *var * count + bm2 + delta * delta * (count * nb / tot);
    *mean += delta * (nb / tot);
    *var = m2 / tot;
}

/* clamp((x - mean) / sqrt(var + 1e-8), -clip, clip); clip <= 0: no clamp. */
QA_PPO_HD float qa_ppo_obsnorm_value(float x, double mean, double var, double clip) {
    double y = ((double)x - mean) / sqrt(var + QA_PPO_EPS);
    if (clip > 0.0) y = y < -clip ? -clip : (y > clip ? clip : y);
    return (float)y;
}

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the reference (ppo_ref.c): plain loops, one thread, rows summed in order ---------------- */

void qa_ppo_gae_ref(int T, int N, float gamma, float lambda, const float *reward, const float *value,
                    const float *last_value, const uint8_t *terminated, const uint8_t *truncated,
                    const float *final_value, float *adv, float *ret);
void qa_ppo_normalize_ref(int n, float *x);
void qa_ppo_cat_sample_ref(int B, int A, const float *logits, uint64_t seed, uint64_t counter, int32_t *action,
                           float *logp);
void qa_ppo_cat_argmax_ref(int B, int A, const float *logits, int32_t *action);
void qa_ppo_cat_logp_ref(int B, int A, const float *logits, const int32_t *action, float *logp, float *entropy);
void qa_ppo_cat_loss_ref(int B, int A, const float *logits, const int32_t *action, const float *logp_old,
                         const float *adv, float clip, float ent_coef, float *dlogits, double *stats);
void qa_ppo_gauss_sample_ref(int B, int A, const float *mean, const float *log_std, uint64_t seed,
                             uint64_t counter, float *action, float *logp);
void qa_ppo_gauss_loss_ref(int B, int A, const float *mean, const float *log_std, const float *action,
                           const float *logp_old, const float *adv, float clip, float ent_coef, float *dmean,
                           float *dlog_std, double *stats);
void qa_ppo_value_loss_ref(int B, const float *v, const float *v_old, const float *ret, float clip,
                           float vf_coef, float *dv, double *stats);
void qa_ppo_obsnorm_update_ref(int B, int D, const float *obs, double *mean, double *var, double *count);
void qa_ppo_obsnorm_apply_ref(int B, int D, const float *obs, const double *mean, const double *var, float clip,
                              float *out);
void qa_ppo_gather_ref(int n, int cols, const void *src, const int32_t *idx, void *dst);

/* ---- the CPU path (ppo_cpu.c): rows over `threads` OpenMP threads; per-row terms go to
 * scratch and are summed in row order afterwards, so results equal the reference's bits. */

void qa_ppo_gae_cpu(int T, int N, float gamma, float lambda, const float *reward, const float *value,
                    const float *last_value, const uint8_t *terminated, const uint8_t *truncated,
                    const float *final_value, float *adv, float *ret, int threads);
void qa_ppo_normalize_cpu(int n, float *x, int threads);
void qa_ppo_cat_sample_cpu(int B, int A, const float *logits, uint64_t seed, uint64_t counter, int32_t *action,
                           float *logp, int threads);
void qa_ppo_cat_argmax_cpu(int B, int A, const float *logits, int32_t *action, int threads);
void qa_ppo_cat_logp_cpu(int B, int A, const float *logits, const int32_t *action, float *logp, float *entropy,
                         int threads);
void qa_ppo_cat_loss_cpu(int B, int A, const float *logits, const int32_t *action, const float *logp_old,
                         const float *adv, float clip, float ent_coef, float *dlogits, double *stats,
                         double *scratch, int threads);
void qa_ppo_gauss_sample_cpu(int B, int A, const float *mean, const float *log_std, uint64_t seed,
                             uint64_t counter, float *action, float *logp, int threads);
void qa_ppo_gauss_loss_cpu(int B, int A, const float *mean, const float *log_std, const float *action,
                           const float *logp_old, const float *adv, float clip, float ent_coef, float *dmean,
                           float *dlog_std, double *stats, double *scratch, int threads);
void qa_ppo_value_loss_cpu(int B, const float *v, const float *v_old, const float *ret, float clip,
                           float vf_coef, float *dv, double *stats, double *scratch, int threads);
void qa_ppo_obsnorm_update_cpu(int B, int D, const float *obs, double *mean, double *var, double *count,
                               double *scratch, int threads);
void qa_ppo_obsnorm_apply_cpu(int B, int D, const float *obs, const double *mean, const double *var,
                              float clip, float *out, int threads);
void qa_ppo_gather_cpu(int n, int cols, const void *src, const int32_t *idx, void *dst, int threads);

/* ---- CUDA (ppo.cu): queued on the stream, no synchronisation ---------------------------------------- */

qa_status qa_ppo_gae_cuda(void *stream, int T, int N, float gamma, float lambda, const float *reward,
                          const float *value, const float *last_value, const uint8_t *terminated,
                          const uint8_t *truncated, const float *final_value, float *adv, float *ret);
qa_status qa_ppo_normalize_cuda(void *stream, int n, float *x, double *scratch);
qa_status qa_ppo_cat_sample_cuda(void *stream, int B, int A, const float *logits, uint64_t seed, uint64_t counter,
                                 int32_t *action, float *logp);
qa_status qa_ppo_cat_argmax_cuda(void *stream, int B, int A, const float *logits, int32_t *action);
qa_status qa_ppo_cat_logp_cuda(void *stream, int B, int A, const float *logits, const int32_t *action, float *logp,
                               float *entropy);
qa_status qa_ppo_cat_loss_cuda(void *stream, int B, int A, const float *logits, const int32_t *action,
                               const float *logp_old, const float *adv, float clip, float ent_coef, float *dlogits,
                               double *stats, double *scratch);
qa_status qa_ppo_gauss_sample_cuda(void *stream, int B, int A, const float *mean, const float *log_std,
                                   uint64_t seed, uint64_t counter, float *action, float *logp);
qa_status qa_ppo_gauss_loss_cuda(void *stream, int B, int A, const float *mean, const float *log_std,
                                 const float *action, const float *logp_old, const float *adv, float clip,
                                 float ent_coef, float *dmean, float *dlog_std, double *stats, double *scratch);
qa_status qa_ppo_value_loss_cuda(void *stream, int B, const float *v, const float *v_old, const float *ret,
                                 float clip, float vf_coef, float *dv, double *stats, double *scratch);
qa_status qa_ppo_obsnorm_update_cuda(void *stream, int B, int D, const float *obs, double *mean, double *var,
                                     double *count);
qa_status qa_ppo_obsnorm_apply_cuda(void *stream, int B, int D, const float *obs, const double *mean,
                                    const double *var, float clip, float *out);
qa_status qa_ppo_gather_cuda(void *stream, int n, int cols, const void *src, const int32_t *idx, void *dst);

#ifdef __cplusplus
}
#endif
#endif
