/* Shared by qa rl train and qa rl eval (not a public API). */
#ifndef QA_PIPELINE_RL_INTERNAL_H
#define QA_PIPELINE_RL_INTERNAL_H

#include "pipeline/rl/rl.h"

/* One episode of `split` in each of `nenv` environments (starts drawn from `seed`, CPU)
 * under the greedy policy `pol`, or under the constant action `hold` (action_dim floats)
 * when pol is NULL: the mean reward per step, the mean episode return (final equity - 1)
 * and, when rets is not NULL, each env's episode return. */
qa_status qa_rl_episodes(const qa_rl_panel *p, qa_rl_split split, const qa_rlenv_cfg *base, int nenv, uint64_t seed,
                         qa_rl_policy_t *pol, const float *hold, double *rps, double *ret, double *rets);

/* Writes the policy as a registry model file of kind "policy" (registry/model.h). */
qa_status qa_rl_write_policy(const char *path, const qa_rl_cfg *c, const qa_rl_panel *p, const qa_rl_mlp *actor,
                             const float *params, const double *mean, const double *var, int nsym_env);

#endif
