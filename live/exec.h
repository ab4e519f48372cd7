/* The execution stage of `qa live` (docs/execution.md): position sizes in, orders to a
 * broker, fills back, every order and trade in the order database and on the `orders`,
 * `executions` and `fills` topics.
 *
 * At every closed timestamp t, after the engine produced the sizes of t:
 *   A. the broker is told the market reached t (the bars of t); its fills and expiries in
 *      (last t, t] update children, parents, positions and cash;
 *   B. each symbol with a new target (the size's shares, rounded to whole shares) whose
 *      distance from the working parent's goal exceeds the rebalance band supersedes that
 *      parent (its working child is cancelled) and starts a new parent for
 *      target - position, checked by the pre-trade checks (trading/pretrade.h) and worked
 *      by the execution algorithm (trading/algo.h); running parents take their algorithm's
 *      next step. A's records, the new orders and the cancel requests are written to the
 *      order database's intent journal in one write (fdatasync'd with durability full)
 *      before any request goes to the broker; SQLite gets them with the broker's answers
 *      in one transaction after the requests (live/orderdb.h).
 * HALTED cancels every working order; REDUCING lets the pre-trade checks refuse what adds
 * to a position. A refused order carries its reason code and raises an alert.
 *
 * Everything the stage decides is a function of the inputs (targets, bars, the broker's
 * answers in market time), and its state (positions, cash, the working parent and child
 * of each symbol, the algorithms' and the guards' state) is plain data the service puts
 * in its checkpoint. After a crash the service restarts from the checkpoint and the stage
 * repeats the same requests: client order ids are derived (live/oms.h), the broker answers
 * repeated requests as it did the first time, and the order database keeps each change
 * once, so no order or fill is lost or doubled. Messages are emitted per timestamp in
 * (symbol, sequence) order with id = symbol << 16 | sequence: the service's exactly-once
 * marks for the three topics. */
#ifndef QA_LIVE_EXEC_H
#define QA_LIVE_EXEC_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t, uint64_t */

#include "common/config.h"   /* qa_cfg_t, qa_cfg_node */
#include "common/status.h"
#include "live/msg.h"        /* qa_msg, qa_msg_bar */
#include "live/oms.h"        /* QA_OMS_STRATEGY_LEN */
#include "live/venue.h"      /* qa_venue_cfg */
#include "trading/algo.h"    /* qa_algo_cfg, qa_algo_profile */
#include "trading/pretrade.h" /* qa_pretrade_limits, qa_trading_state */

#ifdef __cplusplus
extern "C" {
#endif

enum { QA_EXEC_ORDERS = 0, QA_EXEC_EXECUTIONS = 1, QA_EXEC_FILLS = 2, QA_EXEC_TOPICS = 3 };

typedef struct qa_exec_cfg {
    int enabled;                       /* an `execution:` block was given */
    char strategy[QA_OMS_STRATEGY_LEN]; /* first part of every client order id */
    char broker[8];                    /* "paper" (in process) or "fix" */
    qa_venue_cfg paper;                /* the paper venue's fill model */
    qa_algo_cfg algo;
    qa_algo_profile profile;           /* VWAP: learned from `vwap_profile` (a market file) */
    char profile_path[512];
    qa_pretrade_limits limits;
    double rebalance_band;             /* fraction of |target| a new target must move the goal (0.05) */
    double min_shares;                 /* smallest parent (1) */
    double leverage;                   /* buying power = leverage x equity - gross - working (1) */
    long long reconcile_every;         /* timestamps between reconciliations (12) */
    int64_t start_ns;                  /* `start`: sizes of earlier timestamps are not traded (a
                                          warm-up; a backtest's first decision); INT64_MIN: all */
    int durable;                       /* orders.db synchronous=FULL (1) or NORMAL (0): `durability` */
    char fix_host[64];                 /* broker "fix": the exchange's FIX acceptor */
    int fix_port;
    char fix_sender[32], fix_target[32];
    /* Not from YAML: an adapter the caller opened (a benchmark's timing wrapper, a fault
     * injector); qa_exec_create takes it over (closed by qa_exec_free). NULL: `broker`. */
    struct qa_broker *adapter;
} qa_exec_cfg;

void qa_exec_cfg_default(qa_exec_cfg *c);
/* Binds the `execution:` map (docs/execution.md lists the keys). Errors name file:line
 * and key. */
qa_status qa_exec_cfg_bind(const qa_cfg_t *doc, const qa_cfg_node *map, qa_exec_cfg *c);

typedef struct qa_exec qa_exec_t;

/* Emits one message on topic QA_EXEC_* (ordered: see above); a non-OK status stops the step. */
typedef qa_status (*qa_exec_emit_fn)(void *ctx, int topic, size_t mark, const qa_msg *m);
/* Raises an alert: severity "order" for refusals (deterministic, part of the outputs);
 * operational ones (see qa_exec_step's `ops`): "reconcile" for disagreements with the
 * broker, "broker" for FIX requests that had to be sent again, "store" for an order
 * database locked by another process for a second or more. */
typedef void (*qa_exec_alert_fn)(void *ctx, const char *severity, const char *limit, const char *metric, double value,
                                 double threshold, const char *detail);

/* Opens <state_dir>/orders.db and the broker (paper: <state_dir>/venue.db). symbols[S]
 * is the universe (kept by pointer); capital the starting cash. */
qa_status qa_exec_create(const qa_exec_cfg *cfg, const char *state_dir, char *const *symbols, size_t S, double capital,
                         qa_exec_t **out);
void qa_exec_free(qa_exec_t *x);

/* The checkpoint state: bytes of plain data. */
size_t qa_exec_state_bytes(const qa_exec_t *x);
void *qa_exec_state(qa_exec_t *x);

/* One closed timestamp. bars/present[S] as the engine saw them; target[S] the size's
 * shares (NaN: no size for the symbol at t); sig[S] the size's signal id. `alert` raises
 * the timestamp's alerts (refused orders: part of the deterministic outputs); `ops`
 * the operational ones (reconciliation findings, events of unknown orders). */
qa_status qa_exec_step(qa_exec_t *x, int64_t t, const qa_msg_bar *bars, const unsigned char *present,
                       const double *target, const uint64_t *sig, qa_trading_state state, qa_exec_emit_fn emit,
                       qa_exec_alert_fn alert, qa_exec_alert_fn ops, void *ctx);

/* An operator cancel (risk.db command CANCEL / CANCEL_ALL, from the API): kept for the
 * next qa_exec_step, which carries it out after the broker's events of its timestamp and
 * before its decisions, the way HALTED cancels: a parent ends (cancelled, its working
 * child's cancel requested), a working child alone has its cancel requested (its parent
 * goes on, its algorithm sends the rest later). clordid NULL: every working order.
 * `detail` ("cancelled by alice: why", cut to 63 bytes) is the transitions' detail. The
 * symbols it touches take no decision at that timestamp; from the next one the strategy
 * trades towards its targets again (HALTED stops it). Each cancel raises an alert
 * (severity "command", limit "cancel", value: the orders cancelled). Pending cancels are
 * not checkpoint state: the service hands a command over again at the timestamp it was
 * applied at. */
qa_status qa_exec_cancel(qa_exec_t *x, const char *clordid, const char *detail);

typedef struct qa_exec_recon {
    long long broker_orders, broker_open, db_open, broker_fills, db_fills;
    long long fetched_fills;   /* fills the broker had and the database did not: recorded now */
    long long unknown_orders;  /* orders the broker has that the database does not */
    long long state_mismatch;  /* working at one side, not at the other */
    long long position_mismatch; /* symbols whose database, broker and stage positions differ */
} qa_exec_recon;

/* Compares the broker's orders and fills with the database, and both with the stage's
 * positions when the stage is not behind the broker (after a restart it repeats work the
 * broker has already seen); fetches missing fills into the database; reports every
 * disagreement as an alert. */
qa_status qa_exec_reconcile(qa_exec_t *x, qa_exec_recon *r, qa_exec_alert_fn alert, void *ctx);

/* Signed shares symbol s holds, from the fills booked so far. */
double qa_exec_position(const qa_exec_t *x, size_t s);

/* Counters for /metrics and the report. */
typedef struct qa_exec_stats {
    long long parents, children, rejected, fills, cancels;
    double position_value, cash;
} qa_exec_stats;
void qa_exec_get_stats(const qa_exec_t *x, qa_exec_stats *s);

#ifdef __cplusplus
}
#endif
#endif
