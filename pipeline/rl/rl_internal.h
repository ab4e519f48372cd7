/* Shared by qa rl train and qa rl eval (not a public API). */
#ifndef QA_PIPELINE_RL_INTERNAL_H
#define QA_PIPELINE_RL_INTERNAL_H

#include "pipeline/rl/rl.h"

/* Mean reward per step and mean episode return (final equity - 1) of the greedy policy
 * over `nenv` episodes of `split` (CPU; episode starts drawn from `seed`). */
qa_status qa_rl_greedy_run(const qa_rl_panel *p, qa_rl_split split, const qa_rlenv_cfg *base, int nenv, uint64_t seed,
                           const qa_rl_mlp *actor, const float *params, const double *mean, const double *var,
                           double obs_clip, double *reward_per_step, double *ep_return);

/* Writes the policy as a registry model file of kind "policy" (registry/model.h). */
qa_status qa_rl_write_policy(const char *path, const qa_rl_cfg *c, const qa_rl_panel *p, const qa_rl_mlp *actor,
                             const float *params, const double *mean, const double *var, int nsym_env);

#endif
