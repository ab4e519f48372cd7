/* `qa rl` configuration: schema, defaults, checks (docs/rl.md lists the keys). */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "pipeline/rl/rl.h"

static const char *const kind_choices[] = {"single", "portfolio", NULL};
static const char *const action_choices[] = {"discrete", "continuous", NULL};
static const char *const weights_choices[] = {"softmax", "long_short", NULL};
static const char *const act_choices[] = {"none", "relu", "gelu", NULL};

#define OFF(m) offsetof(qa_rl_cfg, m)
static const qa_cfg_field penalty_fields[] = {
    {"drawdown", QA_CFG_T_DOUBLE, OFF(dd_penalty), 0, 1e6, NULL, NULL, 0, "x increase of the drawdown"},
    {"volatility", QA_CFG_T_DOUBLE, OFF(vol_penalty), 0, 1e6, NULL, NULL, 0, "x squared bar return"},
    {"turnover", QA_CFG_T_DOUBLE, OFF(turnover_penalty), 0, 1e6, NULL, NULL, 0, "x traded weight"},
    {NULL}};
static const qa_cfg_field env_fields[] = {
    {"kind", QA_CFG_T_ENUM, OFF(kind), 0, 0, kind_choices, NULL, 0, "single (one asset per env) or portfolio"},
    {"action", QA_CFG_T_ENUM, OFF(action), 0, 0, action_choices, NULL, 0, "discrete {short, flat, long} or continuous"},
    {"weights", QA_CFG_T_ENUM, OFF(weights), 0, 0, weights_choices, NULL, 0, "portfolio: softmax or long_short"},
    {"gross", QA_CFG_T_DOUBLE, OFF(gross), 1e-6, 1e3, NULL, NULL, 0, "portfolio long_short: max sum |w|"},
    {"symbols", QA_CFG_T_STRING_LIST, OFF(symbols), 0, 0, NULL, NULL, 0, "symbols (empty: all)"},
    {"features", QA_CFG_T_STRING_LIST, OFF(features), 0, 0, NULL, NULL, 0, "log_return or /features names"},
    {"window", QA_CFG_T_INT, OFF(window), 1, 4096, NULL, NULL, 0, "bars of each feature observed"},
    {"horizon", QA_CFG_T_INT, OFF(horizon), 1, 1000000, NULL, NULL, 0, "steps before truncation"},
    {"envs", QA_CFG_T_INT, OFF(envs), 1, 1 << 24, NULL, NULL, 0, "parallel environments per rank"},
    {"min_equity", QA_CFG_T_DOUBLE, OFF(min_equity), 0, 0.999999, NULL, NULL, 0, "terminate at or below (bankrupt)"},
    {"max_drawdown", QA_CFG_T_DOUBLE, OFF(max_drawdown), 0, 1, NULL, NULL, 0, "terminate at this drawdown (0: off)"},
    {"reward_scale", QA_CFG_T_DOUBLE, OFF(reward_scale), 1e-9, 1e9, NULL, NULL, 0, "reward multiplier"},
    {"penalties", QA_CFG_T_SECTION, 0, 0, 0, NULL, penalty_fields, 0, "reward penalties"},
    {NULL}};
static const qa_cfg_field split_fields[] = {
    {"start", QA_CFG_T_STRING, OFF(start), 0, 0, NULL, NULL, 0, "first date (default: the data's)"},
    {"train_end", QA_CFG_T_STRING, OFF(train_end), 0, 0, NULL, NULL, QA_CFG_REQUIRED, "first date of validation"},
    {"val_end", QA_CFG_T_STRING, OFF(val_end), 0, 0, NULL, NULL, QA_CFG_REQUIRED, "first date of test"},
    {"end", QA_CFG_T_STRING, OFF(end), 0, 0, NULL, NULL, 0, "last date, inclusive (default: the data's)"},
    {"embargo", QA_CFG_T_INT, OFF(embargo), 0, 1000000, NULL, NULL, 0, "bars between splits"},
    {NULL}};
static const qa_cfg_field ppo_fields[] = {
    {"steps", QA_CFG_T_INT, OFF(nsteps), 1, 1 << 20, NULL, NULL, 0, "rollout steps per env per update"},
    {"epochs", QA_CFG_T_INT, OFF(epochs), 1, 1000, NULL, NULL, 0, "passes over each rollout"},
    {"minibatches", QA_CFG_T_INT, OFF(minibatches), 1, 1 << 20, NULL, NULL, 0, "minibatches per pass"},
    {"hidden", QA_CFG_T_INT_LIST, OFF(hidden), 1, 65536, NULL, NULL, 0, "hidden widths (actor and critic)"},
    {"activation", QA_CFG_T_ENUM, OFF(activation), 0, 0, act_choices, NULL, 0, "relu, gelu or none"},
    {"lr", QA_CFG_T_DOUBLE, OFF(lr), 0, 10, NULL, NULL, 0, "Adam learning rate"},
    {"anneal_lr", QA_CFG_T_BOOL, OFF(anneal_lr), 0, 0, NULL, NULL, 0, "linear decay to 0"},
    {"gamma", QA_CFG_T_DOUBLE, OFF(gamma), 0, 1, NULL, NULL, 0, "discount"},
    {"lambda", QA_CFG_T_DOUBLE, OFF(lambda), 0, 1, NULL, NULL, 0, "GAE lambda"},
    {"clip", QA_CFG_T_DOUBLE, OFF(clip), 0, 10, NULL, NULL, 0, "policy ratio clip"},
    {"value_clip", QA_CFG_T_DOUBLE, OFF(vclip), 0, 1e6, NULL, NULL, 0, "value clip (0: unclipped)"},
    {"ent_coef", QA_CFG_T_DOUBLE, OFF(ent_coef), 0, 100, NULL, NULL, 0, "entropy bonus"},
    {"vf_coef", QA_CFG_T_DOUBLE, OFF(vf_coef), 0, 100, NULL, NULL, 0, "value loss weight"},
    {"max_grad_norm", QA_CFG_T_DOUBLE, OFF(max_grad_norm), 0, 1e12, NULL, NULL, 0, "global-norm clip (0: off)"},
    {"adam_eps", QA_CFG_T_DOUBLE, OFF(adam_eps), 0, 1, NULL, NULL, 0, "Adam epsilon"},
    {"norm_adv", QA_CFG_T_BOOL, OFF(norm_adv), 0, 0, NULL, NULL, 0, "per-minibatch advantage normalisation"},
    {"norm_obs", QA_CFG_T_BOOL, OFF(norm_obs), 0, 0, NULL, NULL, 0, "running observation normalisation"},
    {"obs_clip", QA_CFG_T_DOUBLE, OFF(obs_clip), 0, 1e6, NULL, NULL, 0, "clip of normalised observations"},
    {"init_log_std", QA_CFG_T_DOUBLE, OFF(init_log_std), -20, 5, NULL, NULL, 0, "continuous: initial log-std"},
    {NULL}};
static const qa_cfg_field train_fields[] = {
    {"total_steps", QA_CFG_T_INT, OFF(total_steps), 1, 1e15, NULL, NULL, 0, "env steps over all ranks"},
    {"eval_every", QA_CFG_T_INT, OFF(eval_every), 1, 1e12, NULL, NULL, 0, "updates between validation runs"},
    {"eval_envs", QA_CFG_T_INT, OFF(eval_envs), 1, 1 << 20, NULL, NULL, 0, "validation episodes per run"},
    {"checkpoint_every", QA_CFG_T_INT, OFF(checkpoint_every), 1, 1e12, NULL, NULL, 0, "updates between checkpoints"},
    {NULL}};
static const qa_cfg_field schema[] = {
    {"data", QA_CFG_T_STRING, OFF(data), 0, 0, NULL, NULL, 0, "market file"},
    {"backend", QA_CFG_T_STRING, OFF(backend), 0, 0, NULL, NULL, 0, "cpu, cuda or auto"},
    {"seed", QA_CFG_T_INT, OFF(seed), 0, 0x1p62 /* 2^62 */, NULL, NULL, 0, "networks, sampling, episode starts"},
    {"threads", QA_CFG_T_INT, OFF(threads), 0, 1024, NULL, NULL, 0, "CPU threads per rank (0: all cores)"},
    {"env", QA_CFG_T_SECTION, 0, 0, 0, NULL, env_fields, 0, "environment"},
    {"split", QA_CFG_T_SECTION, 0, 0, 0, NULL, split_fields, QA_CFG_REQUIRED, "time splits"},
    {"", QA_CFG_T_INLINE, OFF(rules), 0, 0, NULL, qa_rules_schema, 0, "trading rules"},
    {"settings", QA_CFG_T_SECTION, OFF(rules), 0, 0, NULL, qa_rules_schema, QA_CFG_ALIAS, "trading rules"},
    {"ppo", QA_CFG_T_SECTION, 0, 0, 0, NULL, ppo_fields, 0, "PPO"},
    {"train", QA_CFG_T_SECTION, 0, 0, 0, NULL, train_fields, 0, "run length, validation, checkpoints"},
    {NULL}};

static const char *const default_features[] = {"log_return"};
static const long long default_hidden[] = {64, 64};

qa_status qa_rl_cfg_default(qa_rl_cfg *c) {
    memset(c, 0, sizeof *c);
    c->backend = "cpu";
    c->seed = 1;
    c->kind = QA_RLENV_SINGLE;
    c->action = QA_RLENV_DISCRETE;
    c->weights = QA_RLENV_SOFTMAX;
    c->gross = 1.0;
    c->features.items = (void *)default_features;
    c->features.n = 1;
    c->window = 32;
    c->horizon = 252;
    c->envs = 64;
    c->min_equity = 0.5;
    c->reward_scale = 100.0;
    c->embargo = 5;
    qa_rules_init(&c->rules);
    qa_rl_ppo_cfg p;
    qa_rl_ppo_cfg_default(&p);
    c->nsteps = p.nsteps, c->epochs = p.epochs, c->minibatches = p.minibatches;
    c->hidden.items = (void *)default_hidden;
    c->hidden.n = 2;
    c->activation = QA_NN_ACT_RELU;
    c->lr = p.lr, c->anneal_lr = p.anneal_lr, c->gamma = p.gamma, c->lambda = p.lambda, c->clip = p.clip;
    c->vclip = p.vclip, c->ent_coef = p.ent_coef, c->vf_coef = p.vf_coef, c->max_grad_norm = p.max_grad_norm;
    c->adam_eps = p.adam_eps, c->norm_adv = p.norm_adv, c->norm_obs = p.norm_obs, c->obs_clip = p.obs_clip;
    c->init_log_std = p.init_log_std;
    c->total_steps = 1000000;
    c->eval_every = 10;
    c->eval_envs = 64;
    c->checkpoint_every = 10;
    return QA_OK;
}

static qa_status cfg_err(const qa_rl_cfg *c, const char *what, const char *fmt, const char *detail) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, detail);
    if (c->doc) return qa_cfg_error(c->doc, qa_cfg_root(c->doc), what, "%s", msg);
    return QA_FAIL(QA_ERR_CONFIG, "key '%s': %s", what, msg);
}

qa_status qa_rl_cfg_bind(const qa_cfg_t *doc, qa_rl_cfg *c) {
    c->doc = doc;
    QA_TRY_RET(qa_cfg_bind(doc, qa_cfg_root(doc), schema, c, NULL));
    if (c->features.n < 1 || c->features.n > QA_RL_MAX_FEATURES)
        return cfg_err(c, "env.features", "%s", "give 1 to 16 observation features (e.g. [log_return])");
    if (c->hidden.n > QA_NN_MAX_HIDDEN) return cfg_err(c, "ppo.hidden", "%s", "at most 8 hidden layers");
    if (c->kind == QA_RLENV_PORTFOLIO && c->action == QA_RLENV_DISCRETE)
        return cfg_err(c, "env.action", "%s", "a portfolio env takes continuous actions (target weights)");
    if ((c->nsteps * c->envs) % c->minibatches)
        return cfg_err(c, "ppo.minibatches", "%s", "ppo.steps x env.envs must divide into equal minibatches");
    /* bars_per_year comes from the market file when the config leaves it out. */
    qa_rules rv = c->rules;
    if (isnan(rv.bars_per_year)) rv.bars_per_year = 252.0;
    QA_TRY_RET(qa_rules_validate(&rv));
    qa_rlenv_cfg e;
    memset(&e, 0, sizeof e);
    qa_status st = qa_rl_rules_apply(&c->rules, &e);
    if (st != QA_OK) {
        char m[512];
        snprintf(m, sizeof m, "%s", qa_err_msg());
        return cfg_err(c, "settings", "%s", m);
    }
    return QA_OK;
}

json_t *qa_rl_cfg_json(const qa_rl_cfg *c) {
    qa_rl_cfg r = *c;
    return qa_json_from_schema(schema, &r);
}

void qa_rl_cfg_env(const qa_rl_cfg *c, qa_rlenv_cfg *e) {
    memset(e, 0, sizeof *e);
    e->kind = (qa_rlenv_kind)c->kind;
    e->action = (qa_rlenv_action)c->action;
    e->weights = (qa_rlenv_weights)c->weights;
    e->nenv = (int)c->envs;
    e->window = (int)c->window;
    e->horizon = (int)c->horizon;
    e->nfeat = (int)c->features.n;
    e->gross = c->gross;
    e->dd_penalty = c->dd_penalty;
    e->vol_penalty = c->vol_penalty;
    e->turnover_penalty = c->turnover_penalty;
    e->min_equity = c->min_equity;
    e->max_drawdown = c->max_drawdown;
    e->reward_scale = c->reward_scale;
    e->seed = (uint64_t)c->seed * 0x9E3779B97F4A7C15ull + 17u; /* episode starts: their own key */
    qa_rl_rules_apply(&c->rules, e);
}

void qa_rl_cfg_ppo(const qa_rl_cfg *c, int ranks, qa_rl_ppo_cfg *p) {
    qa_rl_ppo_cfg_default(p);
    p->nsteps = (int)c->nsteps;
    p->epochs = (int)c->epochs;
    p->minibatches = (int)c->minibatches;
    p->nhidden = (int)c->hidden.n;
    for (size_t l = 0; l < c->hidden.n; l++) p->hidden[l] = (int)((const long long *)c->hidden.items)[l];
    p->act = (qa_nn_act)c->activation;
    p->lr = c->lr, p->anneal_lr = c->anneal_lr, p->gamma = c->gamma, p->lambda = c->lambda, p->clip = c->clip;
    p->vclip = c->vclip, p->ent_coef = c->ent_coef, p->vf_coef = c->vf_coef, p->max_grad_norm = c->max_grad_norm;
    p->adam_eps = c->adam_eps, p->norm_adv = c->norm_adv, p->norm_obs = c->norm_obs, p->obs_clip = c->obs_clip;
    p->init_log_std = c->init_log_std;
    long long per_update = c->nsteps * c->envs * (ranks > 0 ? ranks : 1);
    p->total_updates = (c->total_steps + per_update - 1) / per_update;
    p->seed = (uint64_t)c->seed;
}

qa_status qa_rl_cfg_panel(const qa_rl_cfg *c, qa_rl_panel *p) {
    const char *const *syms = c->symbols.n ? (const char *const *)c->symbols.items : NULL;
    QA_TRY_RET(qa_rl_panel_load(c->data, syms, c->symbols.n, (const char *const *)c->features.items, c->features.n,
                                &c->rules, p));
    qa_status st = qa_rl_panel_split(p, c->start, c->train_end, c->val_end, c->end, (int)c->embargo);
    if (st != QA_OK) qa_rl_panel_free(p);
    return st;
}
