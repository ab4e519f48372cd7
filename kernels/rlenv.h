/* Vectorised trading environments for reinforcement learning, as array kernels: N
 * environments in struct-of-arrays state step together over one read-only market
 * (returns, observation features and position sizes, S symbols x T bars), with no copy of
 * market data per environment. rl/env.h binds them to the market store, the trading rules
 * and the date splits; docs/rl.md gives every formula.
 *
 * One step of environment i at bar t (the decision bar; the observation holds data up to
 * and including t, as every engine's timing rule says, docs/backtest.md):
 *   target    single asset: p = d(action) x size[s, t] (d in {-1, 0, +1} for discrete
 *             actions 0/1/2, or clamp(action, pos_lo, pos_hi) for a continuous one; d is
 *             clamped to [pos_lo, pos_hi], the rules' direction);
 *             portfolio (K = nsym assets): softmax(action) (long-only, fully invested), or
 *             clamp(action_k, -1, 1) scaled down to a gross exposure of at most `gross`.
 *   P&L       R = sum_k p_k r_k(t+1) - cost x sum_k |p_k - p_prev_k|: the action's return over
 *             the next bar and its trading cost (fraction of equity, the proportional cost rate)
 *   equity    the platform's accounting (docs/backtest.md, the simulator's sleeves): the
 *             equity at bar t after the trade, B = B_prev (1 + sum_k p_prev_k r_k(t)
 *             - cost x sum_k |p_k - p_prev_k|) (the cost against the previous bar's equity),
 *             then marked over the next bar, E' = B (1 + sum_k p_k r_k(t+1));
 *             peak' = max(peak, E'), drawdown dd = 1 - E/peak
 *   reward    reward_scale x (R - dd_penalty x max(dd' - dd, 0) - vol_penalty x R^2
 *                             - turnover_penalty x sum_k |p_k - p_prev_k|)
 *   flags     terminated = E' <= min_equity or (max_drawdown > 0 and dd' >= max_drawdown);
 *             truncated = not terminated and steps' == horizon.
 * When an episode ends, its last observation goes to `final_obs` (so a learner can
 * bootstrap a truncated episode's value), its equity - 1 and length to ep_return /
 * ep_length, and the environment resets at once: `obs` then holds the new episode's first
 * observation (autoreset in the same step).
 *
 * Resets draw (symbol, start bar) uniformly over every allowed pair, from Philox
 * (seed, stream = env index, counter = the env's episode number): each environment has its
 * own symbol and date, and a run is reproducible from the seed whatever the backend.
 *
 * Observation (D floats per env, rl/env.h's qa_rlenv_obs_dim):
 *   single:    feat[f][s][t-W+1 .. t] for each feature f (nfeat x W), then the position
 *              p, the unrealised P&L E / E_entry - 1 and the time in trade
 *              (steps - entry_step) / time_scale (both 0 when flat);
 *   portfolio: for each asset k, each feature's window (K x nfeat x W), then the K weights,
 *              E - 1 (the episode's P&L) and steps / time_scale.
 *   (time_scale = horizon unless the configuration sets it.)
 *
 * All arrays are backend memory. The CPU path runs environments in parallel (OpenMP); the
 * CUDA path runs one thread per environment; both evaluate the same per-environment code
 * (kernels/rlenv_impl.h). */
#ifndef QA_KERNELS_RLENV_H
#define QA_KERNELS_RLENV_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int32_t, int64_t, uint8_t, uint32_t, uint64_t */

#include "common/status.h"
#include "kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Most assets a portfolio env takes (each thread's target scratch). */
#define QA_RLENV_MAX_ASSETS 256

typedef enum qa_rlenv_kind {
    QA_RLENV_SINGLE = 0,    /* one asset per env, drawn per episode */
    QA_RLENV_PORTFOLIO = 1, /* target weights over all nsym assets */
    QA_RLENV_KIND_COUNT = 2
} qa_rlenv_kind;

typedef enum qa_rlenv_action {
    QA_RLENV_DISCRETE = 0,   /* int32 in {0, 1, 2} = {short, flat, long}; single asset only;
                                values outside are clamped into the range */
    QA_RLENV_CONTINUOUS = 1, /* float: target position (single) or K scores (portfolio);
                                NaN counts as 0 */
    QA_RLENV_ACTION_COUNT = 2
} qa_rlenv_action;

typedef enum qa_rlenv_weights {
    QA_RLENV_SOFTMAX = 0,    /* w = softmax(a): long only, fully invested */
    QA_RLENV_LONG_SHORT = 1, /* w = clamp(a, -1, 1), scaled to gross <= cfg.gross */
    QA_RLENV_WEIGHTS_COUNT = 2
} qa_rlenv_weights;

typedef struct qa_rlenv_cfg {
    qa_rlenv_kind kind;
    qa_rlenv_action action;
    qa_rlenv_weights weights; /* portfolio only */
    int nenv;                 /* >= 1 */
    int window;               /* W >= 1 bars of each feature in the observation */
    int horizon;              /* steps before truncation, >= 1 */
    int time_scale;           /* steps that scale the observation's time features (0: horizon);
                                 an evaluation walk longer than the training horizon keeps the
                                 training scale */
    int nfeat;                /* observation features, >= 1 */
    float pos_lo, pos_hi;     /* direction: [-1, 1] long/short, [0, 1] long only, [-1, 0] short only */
    double cost;              /* proportional cost rate per unit of traded weight (trading/costs.h) */
    double gross;             /* portfolio long/short: maximum sum |w| (> 0) */
    double dd_penalty;        /* >= 0 */
    double vol_penalty;       /* >= 0 */
    double turnover_penalty;  /* >= 0 */
    double min_equity;        /* terminate at or below (bankrupt); in [0, 1) */
    double max_drawdown;      /* terminate when the drawdown reaches it; 0 = off; (0, 1] */
    double reward_scale;      /* > 0 */
    uint64_t seed;
} qa_rlenv_cfg;

/* The read-only market, shared by every environment. Start bars come in groups: a single
 * asset env has one group per symbol (group g = symbol g), a portfolio env one group (all
 * assets valid together). Group g owns the start slots [start_cum[g], start_cum[g+1]),
 * slot j meaning start bar start_lo[g] + (j - start_cum[g]); rl/env.c builds them so that
 * every window and the whole horizon (t0 - W + 1 .. t0 + horizon) lie inside the split
 * and hold finite data. */
typedef struct qa_rlenv_market {
    int nsym;
    int ntime;
    int ngroup;                /* nsym (single) or 1 (portfolio) */
    const float *ret;          /* [nsym x ntime] simple returns r(t) = close(t)/close(t-1) - 1 */
    const float *feat;         /* [nfeat x nsym x ntime] observation features */
    const float *size;         /* [nsym x ntime] |weight| of a full position (sizing rule); NULL = 1 */
    const int32_t *start_lo;   /* [ngroup] */
    const int64_t *start_cum;  /* [ngroup + 1], start_cum[0] = 0, start_cum[ngroup] > 0 */
} qa_rlenv_market;

/* Environment state, struct of arrays (nenv entries; pos has nenv x K). */
typedef struct qa_rlenv_state {
    int32_t *sym;        /* the env's symbol (single) */
    int32_t *t;          /* the decision bar */
    int32_t *steps;      /* steps taken in this episode */
    int32_t *entry_step; /* steps when the current position was entered (single) */
    uint32_t *episode;   /* episodes started (the reset counter) */
    float *pos;          /* current position / weights */
    double *equity;
    double *peak;
    double *entry_equity; /* equity when the current position was entered (single) */
    double *base;         /* B: the platform's equity at the decision bar before its trade */
} qa_rlenv_state;

/* What a step writes; any pointer may be NULL (not written). obs and final_obs are
 * [nenv x D]; final_obs rows are written only for environments whose episode ended. */
typedef struct qa_rlenv_out {
    float *reward;         /* [nenv] */
    uint8_t *terminated;   /* [nenv] */
    uint8_t *truncated;    /* [nenv] */
    float *obs;            /* [nenv x D] after autoreset */
    float *final_obs;      /* [nenv x D] */
    float *ep_return;      /* [nenv] E - 1 where an episode ended, else NaN */
    int32_t *ep_length;    /* [nenv] steps where an episode ended, else 0 */
} qa_rlenv_out;

/* Assets per environment (1 or nsym), action width (1 discrete index, 1 or nsym floats),
 * and the observation width D. */
int qa_rlenv_assets(const qa_rlenv_cfg *cfg, int nsym);
int qa_rlenv_action_dim(const qa_rlenv_cfg *cfg, int nsym);
int qa_rlenv_obs_dim(const qa_rlenv_cfg *cfg, int nsym);
/* Steps that scale the observation's time features: time_scale, or the horizon when 0. */
int qa_rlenv_time_steps(const qa_rlenv_cfg *cfg);

/* Checks a configuration against a market's shape: QA_ERR_INVALID_ARG naming the field. */
qa_status qa_rlenv_check(const qa_rlenv_cfg *cfg, const qa_rlenv_market *mkt);

/* Starts episode 0 of every environment (draws its start, zero position, equity 1) and
 * writes the first observations to `obs` (NULL: none). */
qa_status qa_rlenv_reset(qa_backend_t *be, const qa_rlenv_cfg *cfg, const qa_rlenv_market *mkt,
                         qa_rlenv_state *st, float *obs);

/* One step of every environment with `action` (int32 [nenv] discrete, float
 * [nenv x action_dim] continuous). */
qa_status qa_rlenv_step(qa_backend_t *be, const qa_rlenv_cfg *cfg, const qa_rlenv_market *mkt,
                        qa_rlenv_state *st, const void *action, const qa_rlenv_out *out);

/* Writes the current observations (the state as it is) to obs [nenv x D]. */
qa_status qa_rlenv_observe(qa_backend_t *be, const qa_rlenv_cfg *cfg, const qa_rlenv_market *mkt,
                           const qa_rlenv_state *st, float *obs);

#ifdef __cplusplus
}
#endif
#endif
