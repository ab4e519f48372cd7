/* The reference for the PPO kernels: one thread, rows in order, the per-row arithmetic
 * of ppo_impl.h, reductions summed in double as the rows go by. The oracle the CPU path
 * and CUDA are tested against. */
#include "kernels/ppo_impl.h"

#include <string.h>  /* memcpy */

void qa_ppo_gae_ref(int T, int N, float gamma, float lambda, const float *reward, const float *value,
                    const float *last_value, const uint8_t *terminated, const uint8_t *truncated,
                    const float *final_value, float *adv, float *ret) {
    double g = gamma, gl = (double)gamma * (double)lambda;
    for (int i = 0; i < N; i++)
        qa_ppo_gae_env(T, N, i, g, gl, reward, value, last_value, terminated, truncated, final_value, adv, ret);
}

void qa_ppo_normalize_ref(int n, float *x) {
    if (n <= 0) return;
    double s = 0.0;
    for (int i = 0; i < n; i++) s += x[i];
    double mean = s / n, m2 = 0.0;
    for (int i = 0; i < n; i++) m2 += ((double)x[i] - mean) * ((double)x[i] - mean);
    double denom = n > 1 ? sqrt(m2 / (n - 1)) + QA_PPO_EPS : 1.0;
    for (int i = 0; i < n; i++) x[i] = qa_ppo_normalize_value(x[i], mean, denom);
}

void qa_ppo_cat_sample_ref(int B, int A, const float *logits, uint64_t seed, uint64_t counter, int32_t *action,
                           float *logp) {
    for (int i = 0; i < B; i++)
        action[i] = qa_ppo_cat_sample_row(A, logits + (size_t)i * A, qa_rng_uniform(seed, counter, (uint64_t)i), &logp[i]);
}

void qa_ppo_cat_argmax_ref(int B, int A, const float *logits, int32_t *action) {
    for (int i = 0; i < B; i++) action[i] = qa_ppo_cat_argmax_row(A, logits + (size_t)i * A);
}

void qa_ppo_cat_logp_ref(int B, int A, const float *logits, const int32_t *action, float *logp, float *entropy) {
    for (int i = 0; i < B; i++) {
        const float *z = logits + (size_t)i * A;
        double lse = qa_ppo_cat_lse(A, z);
        if (logp) logp[i] = (float)qa_ppo_cat_logp_of(A, z, action[i], lse);
        if (entropy) entropy[i] = (float)qa_ppo_cat_entropy(A, z, lse);
    }
}

void qa_ppo_cat_loss_ref(int B, int A, const float *logits, const int32_t *action, const float *logp_old,
                         const float *adv, float clip, float ent_coef, float *dlogits, double *stats) {
    double inv_B = B > 0 ? 1.0 / B : 0.0, pg = 0.0, ent = 0.0, kl = 0.0, cf = 0.0;
    for (int i = 0; i < B; i++) {
        qa_ppo_terms t = qa_ppo_cat_loss_row(A, logits + (size_t)i * A, action[i], logp_old[i], adv[i], clip,
                                             ent_coef, inv_B, dlogits + (size_t)i * A);
        pg += t.pg;
        ent += t.ent;
        kl += t.kl;
        cf += t.clip;
    }
    qa_ppo_policy_stats(B, pg, kl, cf, B > 0 ? ent / B : 0.0, ent_coef, stats);
}

void qa_ppo_gauss_sample_ref(int B, int A, const float *mean, const float *log_std, uint64_t seed,
                             uint64_t counter, float *action, float *logp) {
    for (int i = 0; i < B; i++)
        logp[i] = qa_ppo_gauss_sample_row(A, mean + (size_t)i * A, log_std, seed, counter, (uint64_t)i,
                                          action + (size_t)i * A);
}

void qa_ppo_gauss_loss_ref(int B, int A, const float *mean, const float *log_std, const float *action,
                           const float *logp_old, const float *adv, float clip, float ent_coef, float *dmean,
                           float *dlog_std, double *stats) {
    double inv_B = B > 0 ? 1.0 / B : 0.0, pg = 0.0, kl = 0.0, cf = 0.0;
    for (int i = 0; i < B; i++) {
        size_t o = (size_t)i * A;
        qa_ppo_terms t = qa_ppo_gauss_loss_row(A, mean + o, log_std, action + o, logp_old[i], adv[i], clip, inv_B,
                                               dmean + o);
        pg += t.pg;
        kl += t.kl;
        cf += t.clip;
    }
    /* dlog_std_j: column j's terms in row order (g recomputed from the row's logp). */
    for (int j = 0; j < A; j++) {
        double s = 0.0;
        for (int i = 0; i < B; i++) {
            size_t o = (size_t)i * A;
            double lp = qa_ppo_gauss_logp_row(A, mean + o, log_std, action + o);
            double g = qa_ppo_clip_terms(lp, logp_old[i], adv[i], clip, inv_B).g;
            s += qa_ppo_gauss_dlogstd_term(g, action[o + j], mean[o + j], log_std[j]);
        }
        dlog_std[j] = (float)(s - (double)ent_coef);
    }
    qa_ppo_policy_stats(B, pg, kl, cf, qa_ppo_gauss_entropy(A, log_std), ent_coef, stats);
}

void qa_ppo_value_loss_ref(int B, const float *v, const float *v_old, const float *ret, float clip,
                           float vf_coef, float *dv, double *stats) {
    double scale = B > 0 ? (double)vf_coef / B : 0.0, s = 0.0;
    for (int i = 0; i < B; i++) s += qa_ppo_value_row(v[i], v_old ? v_old[i] : 0.0f, ret[i], clip, scale, &dv[i]);
    stats[QA_PPO_STAT_VLOSS] = B > 0 ? s / B : 0.0;
}

void qa_ppo_obsnorm_update_ref(int B, int D, const float *obs, double *mean, double *var, double *count) {
    if (B <= 0) return;
    for (int j = 0; j < D; j++) {
        double s = 0.0;
        for (int i = 0; i < B; i++) s += obs[(size_t)i * D + j];
        double bm = s / B, m2 = 0.0;
        for (int i = 0; i < B; i++) {
            double d = (double)obs[(size_t)i * D + j] - bm;
            m2 += d * d;
        }
        qa_ppo_obsnorm_merge(bm, m2, (double)B, *count, &mean[j], &var[j]);
    }
    *count += (double)B;
}

void qa_ppo_obsnorm_apply_ref(int B, int D, const float *obs, const double *mean, const double *var, float clip,
                              float *out) {
    for (int i = 0; i < B; i++)
        for (int j = 0; j < D; j++) {
            size_t k = (size_t)i * D + j;
            out[k] = qa_ppo_obsnorm_value(obs[k], mean[j], var[j], clip);
        }
}

void qa_ppo_gather_ref(int n, int cols, const void *src, const int32_t *idx, void *dst) {
    const char *s = src;
    char *d = dst;
    size_t row = (size_t)cols * 4;
    for (int r = 0; r < n; r++) memcpy(d + (size_t)r * row, s + (size_t)idx[r] * row, row);
}
