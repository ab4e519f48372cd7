/* PPO kernels: argument checks and dispatch by backend (CUDA, CPU reference, optimised
 * CPU), the scratch size, and the stubs of a build without CUDA. */
#include "kernels/ppo_impl.h" /* per-row math, scratch layout, backend entry points */

#include <math.h>  /* isfinite, isnan */

_Static_assert(QA_PPO_SCRATCH_COEF == 1032, "ppo.h and docs/nn.md state the scratch size as 4 B + 2 D + 1032");

size_t qa_ppo_scratch_doubles(int B, int D) {
    size_t b = B > 0 ? (size_t)B : 0, d = D > 0 ? (size_t)D : 0;
    /* CPU: QA_PPO_ROW_TERMS per row + 2 D columns; CUDA: partials, slots and B
     * coefficients. The sum covers both. */
    return QA_PPO_ROW_TERMS * b + 2 * d + QA_PPO_SCRATCH_COEF;
}

/* ---- helpers ------------------------------------------------------------------------------- */

static int on_gpu(qa_backend_t *be) { return qa_backend_kind_of(be) == QA_BACKEND_CUDA; }
static int ref_of(qa_backend_t *be) { return qa_backend_reference(be); }
static int threads_of(qa_backend_t *be) { return qa_backend_threads(be); }

#define NEED(ptr, what)                                                              \
    do {                                                                             \
        if (!(ptr)) return QA_FAIL(QA_ERR_INVALID_ARG, "ppo %s: NULL %s", fn, what); \
    } while (0)

/* Two sizes, each >= 0 (indices of elements are size_t, so products of two ints fit). */
static qa_status check_shape(const char *fn, const char *a_name, int a, const char *b_name, int b) {
    if (a < 0 || b < 0)
        return QA_FAIL(QA_ERR_INVALID_ARG, "ppo %s: negative size (%s = %d, %s = %d)", fn, a_name, a, b_name, b);
    return QA_OK;
}

static qa_status check_finite(const char *fn, const char *what, float x) {
    if (!isfinite(x)) return QA_FAIL(QA_ERR_INVALID_ARG, "ppo %s: %s is %g (must be finite)", fn, what, (double)x);
    return QA_OK;
}

/* A policy head's shapes: B >= 0 rows of A >= 1 actions. */
static qa_status check_policy(const char *fn, int B, int A) {
    QA_TRY_RET(check_shape(fn, "B", B, "A", A));
    if (A < 1) return QA_FAIL(QA_ERR_INVALID_ARG, "ppo %s: A = %d actions (need at least 1)", fn, A);
    return QA_OK;
}

/* The clipped-objective coefficients: clip >= 0 and ent_coef finite. */
static qa_status check_clip(const char *fn, float clip, float ent_coef) {
    if (!(clip >= 0.0f) || !isfinite(clip))
        return QA_FAIL(QA_ERR_INVALID_ARG, "ppo %s: clip = %g (must be finite and >= 0)", fn, (double)clip);
    return check_finite(fn, "ent_coef", ent_coef);
}

/* ---- advantages ------------------------------------------------------------------------------- */

qa_status qa_ppo_gae(qa_backend_t *be, int T, int N, float gamma, float lambda, const float *reward,
                     const float *value, const float *last_value, const uint8_t *terminated,
                     const uint8_t *truncated, const float *final_value, float *adv, float *ret) {
    const char *fn = "gae";
    QA_TRY_RET(check_shape(fn, "T", T, "N", N));
    QA_TRY_RET(check_finite(fn, "gamma", gamma));
    QA_TRY_RET(check_finite(fn, "lambda", lambda));
    if (T == 0 || N == 0) return QA_OK;
    NEED(reward, "reward");
    NEED(value, "value");
    NEED(last_value, "last_value");
    NEED(terminated, "terminated");
    NEED(truncated, "truncated");
    NEED(final_value, "final_value");
    NEED(adv, "adv");
    NEED(ret, "ret");
    if (on_gpu(be))
        return qa_ppo_gae_cuda(qa_backend_stream(be), T, N, gamma, lambda, reward, value, last_value, terminated,
                               truncated, final_value, adv, ret);
    if (ref_of(be)) qa_ppo_gae_ref(T, N, gamma, lambda, reward, value, last_value, terminated, truncated, final_value, adv, ret);
    else
        qa_ppo_gae_cpu(T, N, gamma, lambda, reward, value, last_value, terminated, truncated, final_value, adv, ret,
                       threads_of(be));
    return QA_OK;
}

qa_status qa_ppo_normalize(qa_backend_t *be, int n, float *x, double *scratch) {
    const char *fn = "normalize";
    QA_TRY_RET(check_shape(fn, "n", n, "n", n));
    if (n == 0) return QA_OK;
    NEED(x, "x");
    NEED(scratch, "scratch");
    if (on_gpu(be)) return qa_ppo_normalize_cuda(qa_backend_stream(be), n, x, scratch);
    if (ref_of(be)) qa_ppo_normalize_ref(n, x);
    else qa_ppo_normalize_cpu(n, x, threads_of(be));
    return QA_OK;
}

/* ---- categorical -------------------------------------------------------------------------------- */

qa_status qa_ppo_cat_sample(qa_backend_t *be, int B, int A, const float *logits, uint64_t seed,
                            uint64_t counter, int32_t *action, float *logp) {
    const char *fn = "cat_sample";
    QA_TRY_RET(check_policy(fn, B, A));
    if (B == 0) return QA_OK;
    NEED(logits, "logits");
    NEED(action, "action");
    NEED(logp, "logp");
    if (on_gpu(be)) return qa_ppo_cat_sample_cuda(qa_backend_stream(be), B, A, logits, seed, counter, action, logp);
    if (ref_of(be)) qa_ppo_cat_sample_ref(B, A, logits, seed, counter, action, logp);
    else qa_ppo_cat_sample_cpu(B, A, logits, seed, counter, action, logp, threads_of(be));
    return QA_OK;
}

qa_status qa_ppo_cat_argmax(qa_backend_t *be, int B, int A, const float *logits, int32_t *action) {
    const char *fn = "cat_argmax";
    QA_TRY_RET(check_policy(fn, B, A));
    if (B == 0) return QA_OK;
    NEED(logits, "logits");
    NEED(action, "action");
    if (on_gpu(be)) return qa_ppo_cat_argmax_cuda(qa_backend_stream(be), B, A, logits, action);
    if (ref_of(be)) qa_ppo_cat_argmax_ref(B, A, logits, action);
    else qa_ppo_cat_argmax_cpu(B, A, logits, action, threads_of(be));
    return QA_OK;
}

qa_status qa_ppo_cat_logp(qa_backend_t *be, int B, int A, const float *logits, const int32_t *action,
                          float *logp, float *entropy) {
    const char *fn = "cat_logp";
    QA_TRY_RET(check_policy(fn, B, A));
    if (B == 0 || (!logp && !entropy)) return QA_OK;
    NEED(logits, "logits");
    if (logp) NEED(action, "action");
    if (on_gpu(be)) return qa_ppo_cat_logp_cuda(qa_backend_stream(be), B, A, logits, action, logp, entropy);
    if (ref_of(be)) qa_ppo_cat_logp_ref(B, A, logits, action, logp, entropy);
    else qa_ppo_cat_logp_cpu(B, A, logits, action, logp, entropy, threads_of(be));
    return QA_OK;
}

qa_status qa_ppo_cat_loss(qa_backend_t *be, int B, int A, const float *logits, const int32_t *action,
                          const float *logp_old, const float *adv, float clip, float ent_coef,
                          float *dlogits, double *stats, double *scratch) {
    const char *fn = "cat_loss";
    QA_TRY_RET(check_policy(fn, B, A));
    QA_TRY_RET(check_clip(fn, clip, ent_coef));
    NEED(stats, "stats");
    NEED(scratch, "scratch");
    if (B > 0) {
        NEED(logits, "logits");
        NEED(action, "action");
        NEED(logp_old, "logp_old");
        NEED(adv, "adv");
        NEED(dlogits, "dlogits");
    }
    if (on_gpu(be))
        return qa_ppo_cat_loss_cuda(qa_backend_stream(be), B, A, logits, action, logp_old, adv, clip, ent_coef,
                                    dlogits, stats, scratch);
    if (ref_of(be)) qa_ppo_cat_loss_ref(B, A, logits, action, logp_old, adv, clip, ent_coef, dlogits, stats);
    else
        qa_ppo_cat_loss_cpu(B, A, logits, action, logp_old, adv, clip, ent_coef, dlogits, stats, scratch,
                            threads_of(be));
    return QA_OK;
}

/* ---- diagonal Gaussian ------------------------------------------------------------------------------ */

qa_status qa_ppo_gauss_sample(qa_backend_t *be, int B, int A, const float *mean, const float *log_std,
                              uint64_t seed, uint64_t counter, float *action, float *logp) {
    const char *fn = "gauss_sample";
    QA_TRY_RET(check_policy(fn, B, A));
    if (B == 0) return QA_OK;
    NEED(mean, "mean");
    NEED(log_std, "log_std");
    NEED(action, "action");
    NEED(logp, "logp");
    if (on_gpu(be))
        return qa_ppo_gauss_sample_cuda(qa_backend_stream(be), B, A, mean, log_std, seed, counter, action, logp);
    if (ref_of(be)) qa_ppo_gauss_sample_ref(B, A, mean, log_std, seed, counter, action, logp);
    else qa_ppo_gauss_sample_cpu(B, A, mean, log_std, seed, counter, action, logp, threads_of(be));
    return QA_OK;
}

qa_status qa_ppo_gauss_loss(qa_backend_t *be, int B, int A, const float *mean, const float *log_std,
                            const float *action, const float *logp_old, const float *adv, float clip,
                            float ent_coef, float *dmean, float *dlog_std, double *stats, double *scratch) {
    const char *fn = "gauss_loss";
    QA_TRY_RET(check_policy(fn, B, A));
    QA_TRY_RET(check_clip(fn, clip, ent_coef));
    NEED(log_std, "log_std");
    NEED(dlog_std, "dlog_std");
    NEED(stats, "stats");
    NEED(scratch, "scratch");
    if (B > 0) {
        NEED(mean, "mean");
        NEED(action, "action");
        NEED(logp_old, "logp_old");
        NEED(adv, "adv");
        NEED(dmean, "dmean");
    }
    if (on_gpu(be))
        return qa_ppo_gauss_loss_cuda(qa_backend_stream(be), B, A, mean, log_std, action, logp_old, adv, clip,
                                      ent_coef, dmean, dlog_std, stats, scratch);
    if (ref_of(be))
        qa_ppo_gauss_loss_ref(B, A, mean, log_std, action, logp_old, adv, clip, ent_coef, dmean, dlog_std, stats);
    else
        qa_ppo_gauss_loss_cpu(B, A, mean, log_std, action, logp_old, adv, clip, ent_coef, dmean, dlog_std, stats,
                              scratch, threads_of(be));
    return QA_OK;
}

/* ---- value loss ------------------------------------------------------------------------------------ */

qa_status qa_ppo_value_loss(qa_backend_t *be, int B, const float *v, const float *v_old, const float *ret,
                            float clip, float vf_coef, float *dv, double *stats, double *scratch) {
    const char *fn = "value_loss";
    QA_TRY_RET(check_shape(fn, "B", B, "B", B));
    if (isnan(clip)) return QA_FAIL(QA_ERR_INVALID_ARG, "ppo %s: clip is NaN", fn);
    QA_TRY_RET(check_finite(fn, "vf_coef", vf_coef));
    NEED(stats, "stats");
    NEED(scratch, "scratch");
    if (B > 0) {
        NEED(v, "v");
        if (clip > 0.0f) NEED(v_old, "v_old");
        NEED(ret, "ret");
        NEED(dv, "dv");
    }
    if (!(clip > 0.0f)) v_old = NULL; /* unclipped: never read */
    if (on_gpu(be))
        return qa_ppo_value_loss_cuda(qa_backend_stream(be), B, v, v_old, ret, clip, vf_coef, dv, stats, scratch);
    if (ref_of(be)) qa_ppo_value_loss_ref(B, v, v_old, ret, clip, vf_coef, dv, stats);
    else qa_ppo_value_loss_cpu(B, v, v_old, ret, clip, vf_coef, dv, stats, scratch, threads_of(be));
    return QA_OK;
}

/* ---- observation normalisation ------------------------------------------------------------------------ */

qa_status qa_ppo_obsnorm_update(qa_backend_t *be, int B, int D, const float *obs, double *mean, double *var,
                                double *count, double *scratch) {
    const char *fn = "obsnorm_update";
    QA_TRY_RET(check_shape(fn, "B", B, "D", D));
    if (B == 0) return QA_OK;
    NEED(count, "count");
    if (D == 0) {
        if (on_gpu(be)) return qa_ppo_obsnorm_update_cuda(qa_backend_stream(be), B, D, obs, mean, var, count);
        *count += (double)B;
        return QA_OK;
    }
    NEED(obs, "obs");
    NEED(mean, "mean");
    NEED(var, "var");
    NEED(scratch, "scratch");
    if (on_gpu(be)) return qa_ppo_obsnorm_update_cuda(qa_backend_stream(be), B, D, obs, mean, var, count);
    if (ref_of(be)) qa_ppo_obsnorm_update_ref(B, D, obs, mean, var, count);
    else qa_ppo_obsnorm_update_cpu(B, D, obs, mean, var, count, scratch, threads_of(be));
    return QA_OK;
}

qa_status qa_ppo_obsnorm_apply(qa_backend_t *be, int B, int D, const float *obs, const double *mean,
                               const double *var, float clip, float *out) {
    const char *fn = "obsnorm_apply";
    QA_TRY_RET(check_shape(fn, "B", B, "D", D));
    if (isnan(clip)) return QA_FAIL(QA_ERR_INVALID_ARG, "ppo %s: clip is NaN", fn);
    if (B == 0 || D == 0) return QA_OK;
    NEED(obs, "obs");
    NEED(mean, "mean");
    NEED(var, "var");
    NEED(out, "out");
    if (on_gpu(be)) return qa_ppo_obsnorm_apply_cuda(qa_backend_stream(be), B, D, obs, mean, var, clip, out);
    if (ref_of(be)) qa_ppo_obsnorm_apply_ref(B, D, obs, mean, var, clip, out);
    else qa_ppo_obsnorm_apply_cpu(B, D, obs, mean, var, clip, out, threads_of(be));
    return QA_OK;
}

/* ---- gather ---------------------------------------------------------------------------------------------- */

qa_status qa_ppo_gather(qa_backend_t *be, int n, int cols, const void *src, const int32_t *idx, void *dst) {
    const char *fn = "gather";
    QA_TRY_RET(check_shape(fn, "n", n, "cols", cols));
    if (n == 0 || cols == 0) return QA_OK;
    NEED(src, "src");
    NEED(idx, "idx");
    NEED(dst, "dst");
    if (on_gpu(be)) return qa_ppo_gather_cuda(qa_backend_stream(be), n, cols, src, idx, dst);
    if (ref_of(be)) qa_ppo_gather_ref(n, cols, src, idx, dst);
    else qa_ppo_gather_cpu(n, cols, src, idx, dst, threads_of(be));
    return QA_OK;
}

/* ---- builds without CUDA ------------------------------------------------------------------------------------ */

#ifndef QA_HAVE_CUDA
#define NO_CUDA() QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no CUDA backend")

qa_status qa_ppo_gae_cuda(void *stream, int T, int N, float gamma, float lambda, const float *reward,
                          const float *value, const float *last_value, const uint8_t *terminated,
                          const uint8_t *truncated, const float *final_value, float *adv, float *ret) {
    (void)stream, (void)T, (void)N, (void)gamma, (void)lambda, (void)reward, (void)value, (void)last_value;
    (void)terminated, (void)truncated, (void)final_value, (void)adv, (void)ret;
    return NO_CUDA();
}

qa_status qa_ppo_normalize_cuda(void *stream, int n, float *x, double *scratch) {
    (void)stream, (void)n, (void)x, (void)scratch;
    return NO_CUDA();
}

qa_status qa_ppo_cat_sample_cuda(void *stream, int B, int A, const float *logits, uint64_t seed, uint64_t counter,
                                 int32_t *action, float *logp) {
    (void)stream, (void)B, (void)A, (void)logits, (void)seed, (void)counter, (void)action, (void)logp;
    return NO_CUDA();
}

qa_status qa_ppo_cat_argmax_cuda(void *stream, int B, int A, const float *logits, int32_t *action) {
    (void)stream, (void)B, (void)A, (void)logits, (void)action;
    return NO_CUDA();
}

qa_status qa_ppo_cat_logp_cuda(void *stream, int B, int A, const float *logits, const int32_t *action, float *logp,
                               float *entropy) {
    (void)stream, (void)B, (void)A, (void)logits, (void)action, (void)logp, (void)entropy;
    return NO_CUDA();
}

qa_status qa_ppo_cat_loss_cuda(void *stream, int B, int A, const float *logits, const int32_t *action,
                               const float *logp_old, const float *adv, float clip, float ent_coef, float *dlogits,
                               double *stats, double *scratch) {
    (void)stream, (void)B, (void)A, (void)logits, (void)action, (void)logp_old, (void)adv, (void)clip;
    (void)ent_coef, (void)dlogits, (void)stats, (void)scratch;
    return NO_CUDA();
}

qa_status qa_ppo_gauss_sample_cuda(void *stream, int B, int A, const float *mean, const float *log_std,
                                   uint64_t seed, uint64_t counter, float *action, float *logp) {
    (void)stream, (void)B, (void)A, (void)mean, (void)log_std, (void)seed, (void)counter, (void)action, (void)logp;
    return NO_CUDA();
}

qa_status qa_ppo_gauss_loss_cuda(void *stream, int B, int A, const float *mean, const float *log_std,
                                 const float *action, const float *logp_old, const float *adv, float clip,
                                 float ent_coef, float *dmean, float *dlog_std, double *stats, double *scratch) {
    (void)stream, (void)B, (void)A, (void)mean, (void)log_std, (void)action, (void)logp_old, (void)adv;
    (void)clip, (void)ent_coef, (void)dmean, (void)dlog_std, (void)stats, (void)scratch;
    return NO_CUDA();
}

qa_status qa_ppo_value_loss_cuda(void *stream, int B, const float *v, const float *v_old, const float *ret,
                                 float clip, float vf_coef, float *dv, double *stats, double *scratch) {
    (void)stream, (void)B, (void)v, (void)v_old, (void)ret, (void)clip, (void)vf_coef, (void)dv, (void)stats;
    (void)scratch;
    return NO_CUDA();
}

qa_status qa_ppo_obsnorm_update_cuda(void *stream, int B, int D, const float *obs, double *mean, double *var,
                                     double *count) {
    (void)stream, (void)B, (void)D, (void)obs, (void)mean, (void)var, (void)count;
    return NO_CUDA();
}

qa_status qa_ppo_obsnorm_apply_cuda(void *stream, int B, int D, const float *obs, const double *mean,
                                    const double *var, float clip, float *out) {
    (void)stream, (void)B, (void)D, (void)obs, (void)mean, (void)var, (void)clip, (void)out;
    return NO_CUDA();
}

qa_status qa_ppo_gather_cuda(void *stream, int n, int cols, const void *src, const int32_t *idx, void *dst) {
    (void)stream, (void)n, (void)cols, (void)src, (void)idx, (void)dst;
    return NO_CUDA();
}
#endif
