/* Trading environments over the market store: the C API other agents use (create, reset,
 * step, observe, free) on top of the array kernels of kernels/rlenv.h.
 *
 *   qa_rl_panel_load   reads close prices (and any /features datasets) of the chosen
 *                      symbols from a market file into one host panel: simple returns,
 *                      observation features and the position size of the trading rules'
 *                      sizing at every bar (trading/sizing.h, the simulator's numbers);
 *   qa_rl_panel_split  cuts the time grid into train / validation / test ranges with an
 *                      embargo of bars between them (no observation window or episode
 *                      crosses a boundary, so the splits never share a bar);
 *   qa_rl_env_create   places N environments of one split on a backend: the market arrays
 *                      once (read-only, shared by all envs; on CUDA they stay resident), the
 *                      state in struct-of-arrays buffers, and the start groups: every
 *                      (symbol, start bar) whose window and horizon lie inside the split
 *                      with finite data (a symbol with gaps contributes its longest
 *                      gap-free stretch).
 *
 * Observation features: "log_return" (log(close_t / close_t-1)) or the name of a dataset
 * under /features of the market file. docs/rl.md documents the environment. */
#ifndef QA_RL_ENV_H
#define QA_RL_ENV_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"
#include "kernels/backend.h"
#include "kernels/rlenv.h"
#include "trading/rules.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qa_rl_split {
    QA_RL_TRAIN = 0,
    QA_RL_VALIDATION = 1,
    QA_RL_TEST = 2,
    QA_RL_SPLIT_COUNT = 3
} qa_rl_split;

/* "train", "validation", "test". */
const char *qa_rl_split_name(qa_rl_split s);

#define QA_RL_MAX_FEATURES 16
#define QA_RL_NAME_LEN 32

/* The host panel every environment of a run reads. */
typedef struct qa_rl_panel {
    int nsym, ntime, nfeat;
    char (*symbols)[QA_RL_NAME_LEN];
    char features[QA_RL_MAX_FEATURES][QA_RL_NAME_LEN];
    int64_t *time;        /* [ntime] UTC ns */
    float *ret;           /* [nsym x ntime] simple returns, NaN where undefined */
    float *feat;          /* [nfeat x nsym x ntime] */
    float *size;          /* [nsym x ntime] |weight| of a full position, NaN until defined */
    double *close;        /* [nsym x ntime] (evaluation through the simulator) */
    double bars_per_year;
    int split_lo[QA_RL_SPLIT_COUNT], split_hi[QA_RL_SPLIT_COUNT]; /* bar ranges [lo, hi) */
    char data_sha[65];    /* sha256 of the market file (lineage) */
} qa_rl_panel;

/* Loads `path` for `nsym` symbols (NULL/0: every symbol of the file) and `nfeat`
 * features (see above) with the sizing of `rules` (fixed or vol_target; bars_per_year
 * resolved from the file when the rules leave it NaN). Errors name the file, symbol and
 * feature. */
qa_status qa_rl_panel_load(const char *path, const char *const *symbols, size_t nsym,
                           const char *const *features, size_t nfeat, const qa_rules *rules,
                           qa_rl_panel *out);
/* Splits [start, end] (NULL: the file's first / last bar; dates as YYYY-MM-DD or ISO):
 * train [start, train_end), validation [train_end + embargo bars, val_end), test
 * [val_end + embargo bars, end]. Errors name the key and value. */
qa_status qa_rl_panel_split(qa_rl_panel *p, const char *start, const char *train_end, const char *val_end,
                            const char *end, int embargo);
void qa_rl_panel_free(qa_rl_panel *p);

/* The rules' direction as the env's position range, and the cost rate. Refuses what the
 * environments do not model (stops, a fixed cost per order, market impact, Kelly sizing)
 * with QA_ERR_CONFIG naming the key. */
qa_status qa_rl_rules_apply(const qa_rules *rules, qa_rlenv_cfg *cfg);

/* N environments of one split on a backend. */
typedef struct qa_rl_env qa_rl_env_t;

/* `cfg` gives everything but the market (nfeat is taken from the panel). QA_ERR_CONFIG
 * when the split has no start that fits the window and horizon. The panel may be freed
 * afterwards. */
qa_status qa_rl_env_create(qa_backend_t *be, const qa_rl_panel *p, qa_rl_split split, const qa_rlenv_cfg *cfg,
                           qa_rl_env_t **out);
/* One environment that walks symbol `sym` through the split (evaluation): from its first
 * decision bar (*first) for *steps steps to the split's last bar with a next return, no
 * termination (min_equity and max_drawdown off) and no truncation within those steps
 * (one episode; the time features keep cfg's scale). */
qa_status qa_rl_env_create_path(qa_backend_t *be, const qa_rl_panel *p, qa_rl_split split, const qa_rlenv_cfg *cfg,
                                int sym, qa_rl_env_t **out, int *first, int *steps);
void qa_rl_env_free(qa_rl_env_t *env);

const qa_rlenv_cfg *qa_rl_env_cfg(const qa_rl_env_t *env);
int qa_rl_env_obs_dim(const qa_rl_env_t *env);
int qa_rl_env_action_dim(const qa_rl_env_t *env);
int qa_rl_env_nsym(const qa_rl_env_t *env);
/* (symbol, start) pairs episodes are drawn from. */
int64_t qa_rl_env_starts(const qa_rl_env_t *env);
/* The backend state arrays (checkpoints save and restore them). */
qa_rlenv_state *qa_rl_env_state(qa_rl_env_t *env);

/* Backend-memory API (pointers on the env's backend). */
qa_status qa_rl_env_reset(qa_rl_env_t *env, float *obs);
qa_status qa_rl_env_step(qa_rl_env_t *env, const void *action, const qa_rlenv_out *out);
qa_status qa_rl_env_observe(qa_rl_env_t *env, float *obs);

/* The state as bytes (host), for checkpoints: size, save, restore. */
size_t qa_rl_env_state_bytes(const qa_rl_env_t *env);
qa_status qa_rl_env_state_save(qa_rl_env_t *env, void *dst);
qa_status qa_rl_env_state_load(qa_rl_env_t *env, const void *src);

#ifdef __cplusplus
}
#endif
#endif
