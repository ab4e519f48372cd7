/* Live risk monitoring (docs/live.md, "Risk"): the book the position sizes define, its
 * P&L and drawdown, exposures, intraday VaR/ES of the current book by the risk kernels,
 * the limits of trading/limits.h, and the trading state with its kill switch. Like the
 * engine it sees only closed timestamps and keeps its whole state in doubles, so it is
 * deterministic, checkpointed with the engine and replayed identically after a crash.
 *
 * Per timestamp t (after the engine):
 *   mark to market  equity += sum_s shares_s x (close_s(t) - close_s(prev)) over symbols
 *                   with a bar; peak and drawdown = 1 - equity / peak;
 *   returns         one row of the window: close/prev - 1 per symbol (0 without a bar);
 *   targets         qa_riskmon_target gates each size by the trading state and records it;
 *   every `every` timestamps (and at the first full window) a snapshot: weights
 *                   w = shares x close / equity; gross, net, concentration; historical VaR
 *                   and ES of the book over the last `window` rows (full revaluation of
 *                   linear positions: P&L_k = sum w_s r_s,k, exact for simple returns),
 *                   parametric (normal, sample covariance) VaR/ES; then the limits.
 * Trading state: ACTIVE; REDUCING after a limit breach (a target may only move toward
 * zero); HALTED after a breach of a `halt` limit or by the kill switch (targets stay where
 * they are: nothing new is traded). Automatic states return to ACTIVE when no limit is
 * breached for `recover` snapshots; a kill-switch state stays until the operator resumes. */
#ifndef QA_LIVE_RISKMON_H
#define QA_LIVE_RISKMON_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"
#include "live/msg.h"       /* qa_msg_bar */
#include "trading/limits.h" /* qa_limit_set */
#include "trading/pretrade.h" /* qa_trading_state, its names and parser */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_riskmon_cfg {
    size_t nsym;
    double capital;
    long window;        /* rows of returns for VaR/ES (>= 20) */
    long every;         /* timestamps between snapshots (>= 1) */
    double level;       /* VaR/ES confidence (0.99) */
    long recover;       /* clean snapshots before an automatic state returns to ACTIVE */
    const qa_limit_set *limits;
    const char *const *halt; /* names of limits whose breach halts (others reduce) */
    size_t nhalt;
} qa_riskmon_cfg;

typedef struct qa_riskmon qa_riskmon_t;

/* One risk snapshot and the limit outcomes (valid until the next call). */
typedef struct qa_riskmon_report {
    int64_t time;
    double equity, pnl, drawdown, gross, net, concentration;
    const char *concentration_symbol;
    double var_hist, es_hist, var_param, es_param; /* fractions of equity; NaN before a full window */
    qa_trading_state state, prev_state;
    const char *state_reason;
    const qa_limit_result *results; /* limits->n entries */
    size_t nresults, breaches;
} qa_riskmon_report;

qa_status qa_riskmon_create(const qa_riskmon_cfg *cfg, const char *const *symbols, qa_riskmon_t **out);
void qa_riskmon_free(qa_riskmon_t *r);

/* Configuration reload: new every, level, recover, limits and halt names from the next
 * timestamp (the snapshot counter and state carry over). The universe, window and capital
 * stay (QA_ERR_CONFIG otherwise); cfg's limits and names must outlive the monitor or the
 * next call. */
qa_status qa_riskmon_reconfigure(qa_riskmon_t *r, const qa_riskmon_cfg *cfg);

/* Marks the book to the timestamp's closes and adds its return row. Call once per
 * timestamp before the targets. */
void qa_riskmon_mark(qa_riskmon_t *r, const qa_msg_bar *bars, const unsigned char *present);
/* Gates a target (weight, shares at price) of symbol s by the trading state and records
 * it as the symbol's position from now on; rewrites *weight and *shares. */
void qa_riskmon_target(qa_riskmon_t *r, size_t s, double *weight, double *shares, double price);
/* The shares symbol s actually holds (the execution stage's position from its fills):
 * with execution on, the book is what was traded, not what was targeted. Ungated. */
void qa_riskmon_hold(qa_riskmon_t *r, size_t s, double shares);
/* Ends the timestamp: 1 and *rep filled when a snapshot was taken (every `every`
 * timestamps), else 0. A state change decided here applies from the next timestamp. */
qa_status qa_riskmon_end(qa_riskmon_t *r, int64_t time, qa_riskmon_report *rep, int *taken);
/* The kill switch (and resume): sets the state now; `manual` states do not recover on
 * their own. */
void qa_riskmon_set_state(qa_riskmon_t *r, qa_trading_state s, int manual);
qa_trading_state qa_riskmon_state(const qa_riskmon_t *r);
/* The limits of `set` evaluated on a recorded snapshot (a risk.db metrics row): VaR and ES
 * at the row's level, the other metrics as recorded. out: set->n entries; returns the
 * number of breaches. `qa live status` and the API show limits this way. */
size_t qa_riskmon_check_recorded(const qa_limit_set *set, const qa_msg_risk *k, qa_limit_result *out);

/* State as doubles for checkpoints. */
size_t qa_riskmon_state_doubles(const qa_riskmon_t *r);
double *qa_riskmon_state_data(qa_riskmon_t *r);

#ifdef __cplusplus
}
#endif
#endif
