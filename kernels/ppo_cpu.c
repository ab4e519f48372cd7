/* The optimised CPU path of the PPO kernels: the reference's per-row arithmetic
 * (ppo_impl.h) with rows (envs, columns) spread over OpenMP threads. A reduction over
 * rows stores each row's terms in the caller's scratch and sums them afterwards in row
 * order, so every result is bit-identical to the reference whatever the thread count. */
#include "kernels/ppo_impl.h"

#include <string.h>  /* memcpy */

/* Below this many elements of work a parallel region costs more than it saves. */
#define PAR_MIN 8192

static int par(int threads, size_t work) { return threads > 1 && work >= PAR_MIN; }

void qa_ppo_gae_cpu(int T, int N, float gamma, float lambda, const float *reward, const float *value,
                    const float *last_value, const uint8_t *terminated, const uint8_t *truncated,
                    const float *final_value, float *adv, float *ret, int threads) {
    double g = gamma, gl = (double)gamma * (double)lambda;
#pragma omp parallel for schedule(static) num_threads(threads) if (par(threads, (size_t)T * N))
    for (int i = 0; i < N; i++)
        qa_ppo_gae_env(T, N, i, g, gl, reward, value, last_value, terminated, truncated, final_value, adv, ret);
}

void qa_ppo_normalize_cpu(int n, float *x, int threads) {
    if (n <= 0) return;
    double s = 0.0;
    for (int i = 0; i < n; i++) s += x[i];
    double mean = s / n, m2 = 0.0;
    for (int i = 0; i < n; i++) m2 += ((double)x[i] - mean) * ((double)x[i] - mean);
    double denom = n > 1 ? sqrt(m2 / (n - 1)) + QA_PPO_EPS : 1.0;
#pragma omp parallel for schedule(static) num_threads(threads) if (par(threads, (size_t)n))
    for (int i = 0; i < n; i++) x[i] = qa_ppo_normalize_value(x[i], mean, denom);
}

void qa_ppo_cat_sample_cpu(int B, int A, const float *logits, uint64_t seed, uint64_t counter, int32_t *action,
                           float *logp, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads) if (par(threads, (size_t)B * A))
    for (int i = 0; i < B; i++)
        action[i] = qa_ppo_cat_sample_row(A, logits + (size_t)i * A, qa_rng_uniform(seed, counter, (uint64_t)i), &logp[i]);
}

void qa_ppo_cat_argmax_cpu(int B, int A, const float *logits, int32_t *action, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads) if (par(threads, (size_t)B * A))
    for (int i = 0; i < B; i++) action[i] = qa_ppo_cat_argmax_row(A, logits + (size_t)i * A);
}

void qa_ppo_cat_logp_cpu(int B, int A, const float *logits, const int32_t *action, float *logp, float *entropy,
                         int threads) {
#pragma omp parallel for schedule(static) num_threads(threads) if (par(threads, (size_t)B * A))
    for (int i = 0; i < B; i++) {
        const float *z = logits + (size_t)i * A;
        double lse = qa_ppo_cat_lse(A, z);
        if (logp) logp[i] = (float)qa_ppo_cat_logp_of(A, z, action[i], lse);
        if (entropy) entropy[i] = (float)qa_ppo_cat_entropy(A, z, lse);
    }
}

void qa_ppo_cat_loss_cpu(int B, int A, const float *logits, const int32_t *action, const float *logp_old,
                         const float *adv, float clip, float ent_coef, float *dlogits, double *stats,
                         double *scratch, int threads) {
    double inv_B = B > 0 ? 1.0 / B : 0.0;
#pragma omp parallel for schedule(static) num_threads(threads) if (par(threads, (size_t)B * A))
    for (int i = 0; i < B; i++) {
        qa_ppo_terms t = qa_ppo_cat_loss_row(A, logits + (size_t)i * A, action[i], logp_old[i], adv[i], clip,
                                             ent_coef, inv_B, dlogits + (size_t)i * A);
        double *o = scratch + (size_t)i * QA_PPO_ROW_TERMS;
        o[0] = t.pg, o[1] = t.ent, o[2] = t.kl, o[3] = t.clip;
    }
    double pg = 0.0, ent = 0.0, kl = 0.0, cf = 0.0;
    for (int i = 0; i < B; i++) {
        const double *o = scratch + (size_t)i * QA_PPO_ROW_TERMS;
        pg += o[0], ent += o[1], kl += o[2], cf += o[3];
    }
    qa_ppo_policy_stats(B, pg, kl, cf, B > 0 ? ent / B : 0.0, ent_coef, stats);
}

void qa_ppo_gauss_sample_cpu(int B, int A, const float *mean, const float *log_std, uint64_t seed,
                             uint64_t counter, float *action, float *logp, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads) if (par(threads, (size_t)B * A))
    for (int i = 0; i < B; i++)
        logp[i] = qa_ppo_gauss_sample_row(A, mean + (size_t)i * A, log_std, seed, counter, (uint64_t)i,
                                          action + (size_t)i * A);
}

void qa_ppo_gauss_loss_cpu(int B, int A, const float *mean, const float *log_std, const float *action,
                           const float *logp_old, const float *adv, float clip, float ent_coef, float *dmean,
                           float *dlog_std, double *stats, double *scratch, int threads) {
    double inv_B = B > 0 ? 1.0 / B : 0.0;
    int p = par(threads, (size_t)B * A);
#pragma omp parallel for schedule(static) num_threads(threads) if (p)
    for (int i = 0; i < B; i++) {
        size_t o = (size_t)i * A;
        qa_ppo_terms t = qa_ppo_gauss_loss_row(A, mean + o, log_std, action + o, logp_old[i], adv[i], clip, inv_B,
                                               dmean + o);
        double *r = scratch + (size_t)i * QA_PPO_ROW_TERMS;
        r[0] = t.pg, r[1] = t.kl, r[2] = t.clip, r[3] = t.g;
    }
    double pg = 0.0, kl = 0.0, cf = 0.0;
    for (int i = 0; i < B; i++) {
        const double *r = scratch + (size_t)i * QA_PPO_ROW_TERMS;
        pg += r[0], kl += r[1], cf += r[2];
    }
    /* dlog_std_j: column j's terms in row order (columns are independent). */
#pragma omp parallel for schedule(static) num_threads(threads) if (p && A > 1)
    for (int j = 0; j < A; j++) {
        double s = 0.0;
        for (int i = 0; i < B; i++) {
            size_t o = (size_t)i * A + j;
            s += qa_ppo_gauss_dlogstd_term(scratch[(size_t)i * QA_PPO_ROW_TERMS + 3], action[o], mean[o], log_std[j]);
        }
        dlog_std[j] = (float)(s - (double)ent_coef);
    }
    qa_ppo_policy_stats(B, pg, kl, cf, qa_ppo_gauss_entropy(A, log_std), ent_coef, stats);
}

void qa_ppo_value_loss_cpu(int B, const float *v, const float *v_old, const float *ret, float clip,
                           float vf_coef, float *dv, double *stats, double *scratch, int threads) {
    double scale = B > 0 ? (double)vf_coef / B : 0.0;
#pragma omp parallel for schedule(static) num_threads(threads) if (par(threads, (size_t)B))
    for (int i = 0; i < B; i++) scratch[i] = qa_ppo_value_row(v[i], v_old ? v_old[i] : 0.0f, ret[i], clip, scale, &dv[i]);
    double s = 0.0;
    for (int i = 0; i < B; i++) s += scratch[i];
    stats[QA_PPO_STAT_VLOSS] = B > 0 ? s / B : 0.0;
}

/* Columns in chunks of 64 over the threads; within a chunk, rows in order (each column's
 * sums see its rows in the reference's order) with the columns as the inner, vectorised
 * loop. scratch: the chunk's sums at 0, squared deviations at D. */
void qa_ppo_obsnorm_update_cpu(int B, int D, const float *obs, double *mean, double *var, double *count,
                               double *scratch, int threads) {
    if (B <= 0) return;
    const int chunk = 64, nchunks = (D + chunk - 1) / chunk;
    double *sum = scratch, *m2 = scratch + D, c = *count;
#pragma omp parallel for schedule(static) num_threads(threads) if (par(threads, (size_t)B * D) && nchunks > 1)
    for (int k = 0; k < nchunks; k++) {
        int j0 = k * chunk, j1 = j0 + chunk < D ? j0 + chunk : D;
        for (int j = j0; j < j1; j++) sum[j] = m2[j] = 0.0;
        for (int i = 0; i < B; i++) {
            const float *x = obs + (size_t)i * D;
            for (int j = j0; j < j1; j++) sum[j] += x[j];
        }
        for (int j = j0; j < j1; j++) sum[j] /= B; /* now the batch mean */
        for (int i = 0; i < B; i++) {
            const float *x = obs + (size_t)i * D;
            for (int j = j0; j < j1; j++) {
                double d = (double)x[j] - sum[j];
                m2[j] += d * d;
            }
        }
        for (int j = j0; j < j1; j++) qa_ppo_obsnorm_merge(sum[j], m2[j], (double)B, c, &mean[j], &var[j]);
    }
    *count = c + (double)B;
}

void qa_ppo_obsnorm_apply_cpu(int B, int D, const float *obs, const double *mean, const double *var,
                              float clip, float *out, int threads) {
#pragma omp parallel for schedule(static) num_threads(threads) if (par(threads, (size_t)B * D))
    for (int i = 0; i < B; i++)
        for (int j = 0; j < D; j++) {
            size_t k = (size_t)i * D + j;
            out[k] = qa_ppo_obsnorm_value(obs[k], mean[j], var[j], clip);
        }
}

void qa_ppo_gather_cpu(int n, int cols, const void *src, const int32_t *idx, void *dst, int threads) {
    const char *s = src;
    char *d = dst;
    size_t row = (size_t)cols * 4;
#pragma omp parallel for schedule(static) num_threads(threads) if (par(threads, (size_t)n * cols))
    for (int r = 0; r < n; r++) memcpy(d + (size_t)r * row, s + (size_t)idx[r] * row, row);
}
