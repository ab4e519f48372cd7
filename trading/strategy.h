/* The vectorized backtest's strategies, run incrementally: feed one symbol's bars in
 * time order and get, at each bar, the target position (a weight of the sleeve's equity)
 * that the vectorized engine holds after that bar. The event-driven simulator and the
 * live service both decide through this, and it decides with the vectorized engine's
 * own rules (kernels/backtest_rules.h: canonical indicators, qa_bt_decide, direction
 * filter, window gates, stops and latch via qa_bt_step), so positions and trades are
 * identical to qa_bt_run's by construction; trading/sizing.h and trading/costs.h supply
 * the size and the impact inputs with the same canonical sums.
 *
 * Observation sequence (docs/backtest.md): a bar is an observation when close is present
 * and, when the run uses them, high and low (Donchian), volume > 0 (impact cost on) and
 * the signal (strategy signal). Other bars are skipped entirely. The first observation
 * pushed with `in_range` set is the base (flat, no decision); every later observation is
 * a decision ("P&L") bar. Indicators warm up on every observation, in range or not.
 *
 * History is kept as growing arrays (windows are re-evaluated from them at every bar,
 * O(window) per bar, exactly like the reference engine). */
#ifndef QA_TRADING_STRATEGY_H
#define QA_TRADING_STRATEGY_H

#include <stddef.h>  /* size_t */

#include "common/status.h"
#include "kernels/backtest.h"
#include "kernels/backtest_rules.h" /* qa_bt_consts, qa_bt_pos */
#include "trading/rules.h"          /* qa_rules */

#ifdef __cplusplus
extern "C" {
#endif

/* One bar of one symbol; unused fields may be NaN. */
typedef struct qa_strategy_bar {
    double close, high, low, volume, signal;
} qa_strategy_bar;

/* What one pushed bar produced. */
typedef struct qa_strategy_step {
    int observed;     /* the bar is an observation of this run */
    int base;         /* it is the base observation */
    int decision;     /* a decision (P&L) bar: the fields below are set */
    long index;       /* observation index i */
    double close;     /* close(i) */
    double r;         /* close(i)/close(i-1) - 1 (NaN at i = 0) */
    int q;            /* direction after the bar, in {-1, 0, +1} */
    double pos;       /* target weight after the bar (q x size) */
    double pos_prev;  /* weight before it */
    double delta;     /* |pos - pos_prev| */
    int held;         /* a position was carried into the bar */
    int entry;        /* the direction became non-zero or flipped (a "trade") */
    int stopped;      /* a stop-loss / take-profit closed the position */
    double sigma;     /* impact volatility of the bar (NaN when impact is off) */
    double adv;       /* ADV of the bar (NaN when impact is off) */
} qa_strategy_step;

typedef struct qa_strategy {
    qa_rules rules;  /* a copy of the run's rules */
    qa_bt_consts k;  /* derived from them by the kernels' qa_bt_consts_make */
    double p[QA_BT_MAX_PARAMS];
    long w0, w1;
    double a0, a1;
    int need_hl, need_vol, need_sig;
    /* observation history (h/l, v, g are NULL unless the run reads them); one block
     * starting at c */
    double *c, *h, *l, *v, *g, *r;
    long n, cap;
    long i0; /* base observation, -1 before it */
    /* recurrences and state */
    double e0, e1, ag, al, rsi;
    int sp;
    qa_bt_pos ps;
} qa_strategy;

/* Prepares a run of `strategy` with one parameter set and the trading rules (direction,
 * stops, sizing, costs, capital, bars per year). `capacity` is a hint for the number of
 * bars (arrays grow as needed). Parameters are checked as qa_bt_validate does for
 * windows and thresholds that do not depend on the data. */
qa_status qa_strategy_init(qa_strategy *st, qa_bt_strategy strategy, const qa_bt_params *params,
                           const qa_rules *rules, size_t capacity);
void qa_strategy_free(qa_strategy *st);

/* 1 when the bar is an observation of this run (see above). */
int qa_strategy_observes(const qa_strategy *st, const qa_strategy_bar *b);

/* Feeds the next bar. `in_range`: the bar lies at or after the start of the evaluation
 * range. `alive`: the sleeve's equity after the previous bar is > 0 (0 = ruined: the
 * position is forced flat, as the vectorized engine does). */
qa_status qa_strategy_push(qa_strategy *st, const qa_strategy_bar *b, int in_range, int alive, qa_strategy_step *out);

#ifdef __cplusplus
}
#endif
#endif
