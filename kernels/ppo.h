/* Proximal Policy Optimization (PPO) kernels: generalised advantage estimation, the
 * categorical and diagonal-Gaussian policy heads (sampling, log-probabilities, the
 * clipped surrogate loss with its gradient), the (clipped) value loss, advantage
 * normalisation, running observation normalisation and the minibatch gather.
 * docs/nn.md ("PPO kernels") gives every formula.
 *
 * Conventions (all functions):
 *  - Arrays are backend memory (host memory on the CPU backend, device memory on CUDA),
 *    row-major, float32 unless stated. `B` is the number of rows (samples), `A` the
 *    number of actions (categorical classes or Gaussian dimensions).
 *  - Scalar results ("stats") are double arrays of backend memory, QA_PPO_STATS long,
 *    so a CUDA training step never waits for the device.
 *  - Per-element math is done in double and stored in float. Every reduction over rows
 *    is deterministic: double sums in a fixed order that depends only on the shapes (CPU:
 *    rows in order; CUDA: a fixed-shape block tree, then the block partials in order).
 *    CPU and CUDA results agree within the budgets of tests/kernels/test_ppo.c, not
 *    bit for bit; the CPU reference and the optimised CPU path are bit-identical.
 *  - Functions that reduce take `scratch`: at least qa_ppo_scratch_doubles(B, D)
 *    doubles of backend memory, owned by the caller, for the largest row count B (n for
 *    qa_ppo_normalize) and column count D (A for the policies, D for observations) it
 *    will pass. Its contents between calls do not matter, so one scratch serves every
 *    call queued on one backend. Calls allocate nothing.
 *  - On CUDA, work is queued on the backend stream; nothing synchronises.
 *  - A CPU backend with the reference flag runs the plain single-thread loops (the
 *    oracle); otherwise the CPU spreads rows over qa_backend_threads(be) OpenMP threads.
 *  - Sizes may be 0 (nothing to do; means over no rows are 0). Negative sizes, NULL arrays
 *    that the sizes require, a NaN clip, or a non-finite gamma/lambda/coefficient give
 *    QA_ERR_INVALID_ARG with outputs untouched. Array contents (action indices, gather
 *    indices) are not validated: they live on the device. */
#ifndef QA_KERNELS_PPO_H
#define QA_KERNELS_PPO_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int32_t, uint8_t, uint64_t */

#include "common/status.h"
#include "kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- statistics ------------------------------------------------------------------------ */

/* Length of a stats array and the meaning of its entries. The policy losses
 * (qa_ppo_cat_loss, qa_ppo_gauss_loss) write PG, ENT, KL, CLIPFRAC and TOTAL and set
 * entries 6 and 7 (unused) to 0; qa_ppo_value_loss writes VLOSS only. So one array
 * collects a minibatch's policy and value statistics whichever loss runs first. */
#define QA_PPO_STATS 8
#define QA_PPO_STAT_PG 0       /* policy loss: mean over rows of -min(s1, s2) */
#define QA_PPO_STAT_ENT 1      /* mean entropy of the policy */
#define QA_PPO_STAT_KL 2       /* approximate KL: mean of (ratio - 1) - log ratio */
#define QA_PPO_STAT_CLIPFRAC 3 /* fraction of rows with |ratio - 1| > clip */
#define QA_PPO_STAT_TOTAL 4    /* PG - ent_coef * ENT (the policy part of the loss) */
#define QA_PPO_STAT_VLOSS 5    /* value loss 0.5 mean(...) without vf_coef */

/* Doubles of scratch that every call below needs for up to `B` rows (or n elements)
 * and up to `D` columns: 4 B + 2 D + 1032 (kernels/ppo_impl.h gives the layout).
 * Negative arguments count as 0. */
size_t qa_ppo_scratch_doubles(int B, int D);

/* ---- advantages -------------------------------------------------------------------------- */

/* Generalised advantage estimation over a rollout of T steps of N environments. Arrays
 * [T*N] are row-major by step: element t*N + i is step t of env i. `value` holds
 * V(obs_t), `last_value` [N] is V(obs_T) after the last step, `final_value` is V of env
 * i's final observation at step t, read only where truncated && !terminated (other
 * entries are never read). Flags are nonzero for true. For each env, t = T-1
 * down to 0, in double:
 *   terminated: boot = 0, done = 1;  else truncated: boot = final_value, done = 1;
 *   else boot = (t == T-1 ? last_value[i] : value[t+1, i]), done = 0;
 *   delta = reward + gamma boot - value;  A = delta + gamma lambda (1 - done) A_next
 * (A_next = 0 at t = T-1); adv = (float)A, ret = (float)(A + value). */
qa_status qa_ppo_gae(qa_backend_t *be, int T, int N, float gamma, float lambda, const float *reward,
                     const float *value, const float *last_value, const uint8_t *terminated,
                     const uint8_t *truncated, const float *final_value, float *adv, float *ret);

/* Advantage normalisation in place: x = (x - mean) / (std + 1e-8) with the sample
 * standard deviation (ddof 1, as PyTorch's x.std() that CleanRL uses), mean and std in
 * double (two passes). n == 1 leaves x - mean (= 0); n == 0 does nothing. */
qa_status qa_ppo_normalize(qa_backend_t *be, int n, float *x, double *scratch);

/* ---- categorical policy (discrete actions; logits [B*A]) ---------------------------------- */

/* Samples action[i] by inverse CDF: p = softmax(logits row i) in double with the max
 * shifted out, u = qa_rng_uniform(seed, counter, i) (common/philox.h); the action is the
 * first class k with u < p_0 + ... + p_k (the last class when rounding leaves none, or
 * when the row has a NaN). logp[i] = log softmax of that class (float). Each distinct
 * `counter` gives an independent draw (use the global step). A >= 1. */
qa_status qa_ppo_cat_sample(qa_backend_t *be, int B, int A, const float *logits, uint64_t seed,
                            uint64_t counter, int32_t *action, float *logp);
/* Greedy actions: the first index of each row's maximum (NaN entries never win). */
qa_status qa_ppo_cat_argmax(qa_backend_t *be, int B, int A, const float *logits, int32_t *action);
/* logp[i] = log softmax(logits row i)[action[i]] and entropy[i] = -sum_j p_j log p_j
 * (either output may be NULL). An action outside [0, A) gives logp NaN. */
qa_status qa_ppo_cat_logp(qa_backend_t *be, int B, int A, const float *logits, const int32_t *action,
                          float *logp, float *entropy);
/* The clipped surrogate with an entropy bonus and its gradient. Per row, in double:
 *   logp = log_softmax(z)[a], ratio = exp(logp - logp_old),
 *   s1 = ratio adv, s2 = clamp(ratio, 1 - clip, 1 + clip) adv,
 *   H = -sum_j p_j log p_j;
 *   loss = -mean(min(s1, s2)) - ent_coef mean(H).
 * dlogits [B*A] (overwritten) = dloss/dz:
 *   g = (s1 <= s2) ? -adv ratio / B : 0   (only the unclipped branch has a gradient)
 *   dz_j = g (onehot_j - p_j) + ent_coef/B p_j (log p_j + H).
 * stats: PG, ENT, KL, CLIPFRAC, TOTAL (see QA_PPO_STAT_*). clip >= 0. */
qa_status qa_ppo_cat_loss(qa_backend_t *be, int B, int A, const float *logits, const int32_t *action,
                          const float *logp_old, const float *adv, float clip, float ent_coef,
                          float *dlogits, double *stats, double *scratch);

/* ---- diagonal Gaussian policy (continuous actions; mean [B*A], log_std [A]) --------------- */

/* action = mean + exp(log_std) eps with eps = qa_rng_normal(seed, counter, i*A + j), in
 * double, stored in float; logp[i] = sum_j (-0.5 x_j^2 - log_std_j - 0.5 log(2 pi)) with
 * x_j = (action_j - mean_j) / sigma_j computed from the stored float action (so the loss
 * recomputes the same log-probability). */
qa_status qa_ppo_gauss_sample(qa_backend_t *be, int B, int A, const float *mean, const float *log_std,
                              uint64_t seed, uint64_t counter, float *action, float *logp);
/* The clipped surrogate of qa_ppo_cat_loss for the Gaussian head. Per row, with sigma_j =
 * exp(log_std_j) and x_j = (a_j - mu_j) / sigma_j: logp = sum_j (-0.5 x_j^2 - log_std_j
 * - 0.5 log(2 pi)), entropy H = sum_j (log_std_j + 0.5 (1 + log(2 pi))) (the same for
 * every row), g as for the categorical loss. Gradients (overwritten):
 *   dmean [B*A]:  g x_j / sigma_j
 *   dlog_std [A]: sum over rows (double, fixed order) of g (x_j^2 - 1), minus ent_coef
 *   (the entropy gradient is 1 per row; its mean over rows is 1).
 * stats: PG, ENT (= H), KL, CLIPFRAC, TOTAL. clip >= 0. */
qa_status qa_ppo_gauss_loss(qa_backend_t *be, int B, int A, const float *mean, const float *log_std,
                            const float *action, const float *logp_old, const float *adv, float clip,
                            float ent_coef, float *dmean, float *dlog_std, double *stats, double *scratch);

/* ---- value loss ------------------------------------------------------------------------------ */

/* clip <= 0: L = vf_coef 0.5 mean((v - ret)^2), dv = vf_coef (v - ret) / B.
 * clip > 0: vc = v_old + clamp(v - v_old, -clip, clip),
 *   L = vf_coef 0.5 mean(max((v - ret)^2, (vc - ret)^2)); the gradient flows through the
 *   larger term (through v on ties): vf_coef (v - ret) / B, or vf_coef (vc - ret) / B
 *   when v - v_old is inside [-clip, clip] and 0 outside.
 * v_old may be NULL when clip <= 0. dv [B] is overwritten; stats[QA_PPO_STAT_VLOSS] =
 * 0.5 mean(...) without vf_coef (the other entries are untouched). */
qa_status qa_ppo_value_loss(qa_backend_t *be, int B, const float *v, const float *v_old, const float *ret,
                            float clip, float vf_coef, float *dv, double *stats, double *scratch);

/* ---- observation normalisation (gym's RunningMeanStd) ------------------------------------------ */

/* Merges the batch obs [B*D] into the running per-column statistics mean [D], var [D]
 * (population variance) and count [1], all double backend memory, by Chan et al.'s
 * parallel formula: with the batch's mean m_b and population variance v_b (two passes,
 * rows in order), delta = m_b - mean, tot = count + B:
 *   mean += delta B / tot;  var = (var count + v_b B + delta^2 count B / tot) / tot;
 *   count = tot.
 * The caller initialises the state, as gym does: mean 0, var 1, count 1e-4 (count 0
 * also works: the first batch then sets the statistics exactly). B == 0 changes nothing. */
qa_status qa_ppo_obsnorm_update(qa_backend_t *be, int B, int D, const float *obs, double *mean, double *var,
                                double *count, double *scratch);
/* out = clamp((obs - mean) / sqrt(var + 1e-8), -clip, clip) per column, in double, stored
 * in float; clip <= 0: no clamp. out may alias obs. */
qa_status qa_ppo_obsnorm_apply(qa_backend_t *be, int B, int D, const float *obs, const double *mean,
                               const double *var, float clip, float *out);

/* ---- minibatch gather ------------------------------------------------------------------------------ */

/* dst row r = src row idx[r] for r < n, rows of `cols` 4-byte elements (float or int32;
 * bits are copied). idx values must index rows of src; dst must not overlap src. */
qa_status qa_ppo_gather(qa_backend_t *be, int n, int cols, const void *src, const int32_t *idx, void *dst);

#ifdef __cplusplus
}
#endif
#endif
