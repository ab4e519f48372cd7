/* `qa rl train` and `qa rl eval`: PPO on the trading environments into a run directory,
 * and the out-of-sample evaluation of a trained policy through the event-driven
 * simulator.
 *
 * Train run directory (docs/rl.md): config.resolved.json, run.json, run.log,
 * metrics.jsonl (one line per update: losses, entropy, KL, clip fraction, explained
 * variance, rollout reward, episodes and their returns; plus a validation line every
 * eval_every updates), checkpoint.qrl (exact resume), model.qam (the policy with the best
 * validation reward, a registry model of kind "policy"), lineage.json, summary.json,
 * report.html, and eval-test/ (the evaluation below, on the test split).
 *
 * Evaluation (qa rl eval): each symbol's environment walks the chosen split from its
 * first decision bar to its last with the greedy policy; the decisions (short / flat /
 * long) become the SIGNAL strategy of the event-driven simulator (pipeline/sim), which
 * places the orders, fills them and books the costs under the run's trading rules. The
 * report puts the simulator's metrics of the policy beside buy-and-hold (always long,
 * same sizing and costs) and the best SMA-cross parameter set of a sweep on the same
 * period (chosen in sample: an optimistic benchmark), with equity curves. */
#ifndef QA_PIPELINE_RL_H
#define QA_PIPELINE_RL_H

#include <signal.h>   /* sig_atomic_t */
#include <jansson.h>  /* json_t */

#include "common/config.h"
#include "common/status.h"
#include "mpi/comm.h"
#include "rl/env.h"
#include "rl/ppo.h"
#include "trading/rules.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_rl_cfg {
    const char *data;
    const char *backend;
    long long seed;
    long long threads;
    /* env */
    int kind, action, weights;
    double gross;
    qa_cfg_list symbols;   /* const char *; empty: every symbol */
    qa_cfg_list features;  /* const char *; log_return or /features names */
    long long window, horizon, envs;
    double min_equity, max_drawdown, reward_scale;
    double dd_penalty, vol_penalty, turnover_penalty;
    /* split */
    const char *start, *train_end, *val_end, *end;
    long long embargo;
    /* trading rules (direction, sizing, costs) */
    qa_rules rules;
    /* ppo */
    long long nsteps, epochs, minibatches;
    qa_cfg_list hidden;    /* long long */
    int activation;
    double lr;
    int anneal_lr;
    double gamma, lambda, clip, vclip, ent_coef, vf_coef, max_grad_norm, adam_eps;
    int norm_adv, norm_obs;
    double obs_clip, init_log_std;
    /* train */
    long long total_steps, eval_every, eval_envs, checkpoint_every;
    /* run control (command line, not hashed) */
    const char *run_dir;
    int resume;
    long long max_updates; /* stop with a checkpoint after this many updates (0: no limit) */
    const volatile sig_atomic_t *stop;
    const qa_cfg_t *doc;
} qa_rl_cfg;

qa_status qa_rl_cfg_default(qa_rl_cfg *c);
/* Binds a YAML document (docs/rl.md lists every key); errors name file:line and key. */
qa_status qa_rl_cfg_bind(const qa_cfg_t *doc, qa_rl_cfg *c);
/* The resolved configuration (new reference). */
json_t *qa_rl_cfg_json(const qa_rl_cfg *c);
/* The environment and PPO settings of a bound config (nenv, seed and nfeat included). */
void qa_rl_cfg_env(const qa_rl_cfg *c, qa_rlenv_cfg *env);
void qa_rl_cfg_ppo(const qa_rl_cfg *c, int ranks, qa_rl_ppo_cfg *ppo);
/* The market panel of a bound config: its symbols and features of c->data with the
 * trading rules' sizing, cut into its splits. */
qa_status qa_rl_cfg_panel(const qa_rl_cfg *c, qa_rl_panel *p);

typedef struct qa_rl_result {
    long long updates, env_steps;
    double seconds, samples_per_s;
    double best_val_reward;    /* greedy validation mean reward per step */
    long long best_update;
    char stop_reason[32];      /* "steps", "max-updates", "interrupted" */
} qa_rl_result;

/* Trains into c->run_dir (collective over comm); argv goes to run.json. */
qa_status qa_rl_train(const qa_rl_cfg *c, const qa_comm_t *comm, int argc, char **argv, qa_rl_result *res);

/* ---- evaluation ---------------------------------------------------------------------------- */

typedef struct qa_rl_eval_report {
    char method[16];         /* "simulator" (single-asset discrete) or "environment" */
    int symbols;
    double policy_episode_return, hold_episode_return; /* environment method: mean episode returns */
    double policy_sharpe, policy_return, hold_sharpe, hold_return, sweep_sharpe, sweep_return;
    double env_sim_max_diff; /* max |env equity - simulator sleeve equity| (consistency) */
} qa_rl_eval_report;

/* Evaluates the policy of a finished run (run_dir/model.qam with its
 * config.resolved.json) on `split` (validation or test) into out_dir. Single-asset
 * discrete policies go through the simulator (summary.json, decisions.csv, equity.csv,
 * report.html); continuous and portfolio policies, which the simulator's SIGNAL strategy
 * cannot trade, run `eval_envs` greedy episodes in their environment beside a hold policy
 * on the same episodes (always long for one asset, equal weights for a portfolio):
 * summary.json and report.html, method "environment". */
qa_status qa_rl_evaluate(const char *run_dir, qa_rl_split split, const char *out_dir, int argc, char **argv,
                         qa_rl_eval_report *rep);
/* The same for a run directory or a registry URI ("models:/NAME@alias": the version's
 * recorded configuration and its policy, checked against its digest) in `registry` (NULL:
 * the default), with `data` (NULL: the configuration's) as the market file. */
qa_status qa_rl_evaluate_ref(const char *ref, const char *registry, const char *data, qa_rl_split split,
                             const char *out_dir, int argc, char **argv, qa_rl_eval_report *rep);

#ifdef __cplusplus
}
#endif
#endif
