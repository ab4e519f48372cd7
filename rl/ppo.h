/* Proximal Policy Optimization on the trading environments (rl/env.h), on any backend:
 * rollout and update both run where the environments run (on CUDA the observations,
 * actions, rewards and networks stay on the device; the host reads back only each
 * update's statistics).
 *
 * One update (CleanRL's ppo.py, docs/rl.md gives each formula):
 *   rollout  T steps of N envs: running observation normalisation (gym's
 *            RunningMeanStd, updated every step, clipped to +-obs_clip), actor -> sample
 *            (categorical for discrete actions, diagonal Gaussian with a learned
 *            state-independent log-std for continuous ones), critic value, env step;
 *            where an episode is truncated, the critic values its final observation
 *            so GAE bootstraps it (terminated episodes bootstrap 0);
 *   GAE(lambda) advantages and returns;
 *   update   `epochs` passes over a Philox shuffle of the T x N samples in
 *            `minibatches` minibatches: per-minibatch advantage normalisation, clipped
 *            surrogate + entropy bonus, clipped value loss, one Adam step on the global
 *            gradient (actor, critic and log-std together) clipped to max_grad_norm,
 *            with the learning rate annealed linearly to 0 over the run.
 * Under MPI each rank runs its own N envs (env streams offset by rank) and the minibatch
 * gradients are summed across ranks (MPI on the CPU; NCCL between GPUs, or through host
 * memory in CUDA builds without NCCL) and divided by the rank count before the step (the
 * same Adam step on every rank, so parameters stay identical); the observation statistics
 * merge every rank's rows each step (rank order), so they stay identical too.
 *
 * Deterministic: a fixed seed, backend, thread count and rank count give the same bits;
 * checkpoints hold the parameters, Adam moments, observation statistics, environment
 * state and counters, so a resumed run continues bit for bit. */
#ifndef QA_RL_PPO_H
#define QA_RL_PPO_H

#include <stdint.h>  /* int64_t, uint64_t */

#include "common/status.h"
#include "kernels/nn.h"
#include "mpi/comm.h"
#include "rl/env.h"
#include "rl/mlp.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_rl_ppo_cfg {
    int nsteps;          /* T: steps per env per rollout (>= 1) */
    int epochs;          /* passes over each rollout (>= 1) */
    int minibatches;     /* minibatches per pass; T x N must divide evenly */
    int nhidden;         /* actor and critic hidden layers */
    int hidden[QA_NN_MAX_HIDDEN];
    qa_nn_act act;
    double lr;           /* Adam learning rate at the first update */
    int anneal_lr;       /* linear decay to 0 at total_updates */
    double gamma, lambda;
    double clip;         /* policy ratio clip */
    double vclip;        /* value clip (<= 0: unclipped value loss) */
    double ent_coef, vf_coef;
    double max_grad_norm; /* <= 0: no clipping */
    double adam_eps;
    int norm_adv;        /* per-minibatch advantage normalisation */
    int norm_obs;        /* running observation normalisation */
    double obs_clip;     /* clip of normalised observations (<= 0: none) */
    double init_log_std; /* continuous actions: initial log-std */
    int64_t total_updates; /* for the learning-rate schedule */
    uint64_t seed;
} qa_rl_ppo_cfg;

/* CleanRL's defaults: T 128, 4 epochs, 4 minibatches, hidden [64, 64] ReLU, lr 2.5e-4
 * annealed, gamma 0.99, lambda 0.95, clip 0.2, value clip 0.2, entropy 0.01, value 0.5,
 * max grad norm 0.5, Adam eps 1e-5, both normalisations on, obs clip 10, log-std 0. */
void qa_rl_ppo_cfg_default(qa_rl_ppo_cfg *c);

/* What one update reports (means over the update's minibatches / finished episodes). */
typedef struct qa_rl_ppo_stats {
    int64_t update;        /* 1-based */
    int64_t env_steps;     /* total env steps so far (all ranks) */
    double lr;
    double policy_loss, value_loss, entropy, approx_kl, clipfrac;
    double explained_var;  /* 1 - Var(ret - value) / Var(ret) over the rollout */
    double reward_mean;    /* mean per-step reward of the rollout */
    double episodes;       /* episodes finished in the rollout (all ranks) */
    double ep_return;      /* mean final equity - 1 of those episodes (NaN when none) */
    double ep_length;
    double rollout_s, update_s;
} qa_rl_ppo_stats;

typedef struct qa_rl_ppo qa_rl_ppo_t;

/* An agent for `env` (which must outlive it) on the env's backend; comm NULL = one
 * process. The networks are initialised from cfg->seed; the envs are reset. */
qa_status qa_rl_ppo_create(qa_backend_t *be, qa_rl_env_t *env, const qa_rl_ppo_cfg *cfg, const qa_comm_t *comm,
                        qa_rl_ppo_t **out);
void qa_rl_ppo_free(qa_rl_ppo_t *p);

/* One rollout + update. */
qa_status qa_rl_ppo_iterate(qa_rl_ppo_t *p, qa_rl_ppo_stats *stats);

int64_t qa_rl_ppo_updates_done(const qa_rl_ppo_t *p);

/* The actor (policy network) and its inputs: architecture, host copy of the parameters
 * (qa_rl_mlp layout) and the observation statistics (host, D each). `log_std` [A] only for
 * continuous actions (may be NULL). */
const qa_rl_mlp *qa_rl_ppo_actor(const qa_rl_ppo_t *p);
qa_status qa_rl_ppo_actor_params(qa_rl_ppo_t *p, float *params, float *log_std);
qa_status qa_rl_ppo_obs_stats(qa_rl_ppo_t *p, double *mean, double *var);

/* Checkpoint (atomic write: temporary file, fsync, rename) and exact resume. A file from
 * another configuration (shapes) is refused naming the mismatch. */
qa_status qa_rl_ppo_save(qa_rl_ppo_t *p, const char *path);
qa_status qa_rl_ppo_load(qa_rl_ppo_t *p, const char *path);

/* The greedy policy on the host (validation, evaluation, other agents): discrete argmax
 * (int32) or the Gaussian mean (float; the env clamps it) of raw observations obs
 * [rows x D], the agent's normalisation applied (x - mean) / sqrt(var + 1e-8) clipped to
 * +-obs_clip (0: no clip). The plan and its buffers are made once; params, mean and var
 * are copied. */
typedef struct qa_rl_policy qa_rl_policy_t;
qa_status qa_rl_policy_create(const qa_rl_mlp *actor, const float *params, const double *mean, const double *var,
                              double obs_clip, int discrete, int max_rows, qa_rl_policy_t **out);
qa_status qa_rl_policy_act(qa_rl_policy_t *p, int rows, const float *obs, void *action);
void qa_rl_policy_free(qa_rl_policy_t *p);

#ifdef __cplusplus
}
#endif
#endif
