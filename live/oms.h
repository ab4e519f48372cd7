/* The order manager's order model (docs/execution.md, "Orders"): the explicit order state
 * machine, deterministic client order ids, and the order record the order database, the
 * bus messages and the execution stage share.
 *
 * States and the events that move them (anything else is illegal: refused and logged):
 *
 *   new              --accepted-->  accepted
 *   new              --rejected-->  rejected
 *   accepted         --fill-->      partially_filled | filled
 *   partially_filled --fill-->      partially_filled | filled
 *   accepted, partially_filled --cancel_request--> pending_cancel
 *   pending_cancel   --fill-->      pending_cancel | filled   (a fill racing the cancel)
 *   pending_cancel   --cancelled--> cancelled
 *   pending_cancel   --cancel_rejected--> accepted | partially_filled (| filled)
 *   accepted, partially_filled --expired--> expired
 *   new, accepted, partially_filled --cancelled--> cancelled (a parent superseded before
 *                                                  any child works; a venue-side cancel)
 *
 * filled, cancelled, rejected and expired are final. A parent order (the target change a
 * position size asked for) runs the same machine: accepted when the pre-trade checks pass,
 * filled as its children fill, cancelled when a newer target supersedes it.
 *
 * Client order ids are derived, never drawn: a parent's is
 * "<strategy>-<symbol>-<signal id, 16 hex>", its n-th child's "<parent>.<n>" (n from 1), so
 * the same input processed again (a replay, a restart from a checkpoint) names the same
 * orders and can never create a second one. */
#ifndef QA_LIVE_OMS_H
#define QA_LIVE_OMS_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t, uint64_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QA_OMS_ID_LEN 64
#define QA_OMS_STRATEGY_LEN 13 /* 12 characters */

typedef enum qa_oms_state {
    QA_OMS_NEW = 0,
    QA_OMS_ACCEPTED = 1,
    QA_OMS_PARTIAL = 2,
    QA_OMS_FILLED = 3,
    QA_OMS_PENDING_CANCEL = 4,
    QA_OMS_CANCELLED = 5,
    QA_OMS_REJECTED = 6,
    QA_OMS_EXPIRED = 7,
    QA_OMS_STATE_COUNT = 8
} qa_oms_state;
extern const char *const qa_oms_state_names[]; /* "new", "accepted", "partially_filled", ... */

typedef enum qa_oms_event {
    QA_OMS_EV_SUBMIT = 0,  /* created (state new); not a transition */
    QA_OMS_EV_ACCEPTED = 1,
    QA_OMS_EV_REJECTED = 2,
    QA_OMS_EV_FILL = 3,
    QA_OMS_EV_CANCEL_REQUEST = 4,
    QA_OMS_EV_CANCELLED = 5,
    QA_OMS_EV_CANCEL_REJECTED = 6,
    QA_OMS_EV_EXPIRED = 7,
    QA_OMS_EVENT_COUNT = 8
} qa_oms_event;
extern const char *const qa_oms_event_names[]; /* "new", "accepted", "rejected", "fill", ... */

typedef enum qa_oms_type { QA_OMS_PARENT = 0, QA_OMS_MARKET = 1, QA_OMS_LIMIT = 2, QA_OMS_TYPE_COUNT = 3 } qa_oms_type;
extern const char *const qa_oms_type_names[]; /* "parent", "market", "limit" */

int qa_oms_final(qa_oms_state s);

/* The state after `ev` for an order in `from` that has `filled` of `qty` shares after the
 * event (fills: including it). QA_ERR_STATE naming both when the machine has no such
 * transition; *to is then unchanged. */
qa_status qa_oms_next(qa_oms_state from, qa_oms_event ev, double filled, double qty, qa_oms_state *to);

/* One order, parent or child. Plain data (no pointers) so the execution stage can keep it
 * in its checkpoint. Shares are > 0 with the side separate; prices NaN where unknown. */
typedef struct qa_oms_order {
    char clordid[QA_OMS_ID_LEN];
    char parent[QA_OMS_ID_LEN]; /* "" for a parent */
    char strategy[QA_OMS_STRATEGY_LEN];
    char symbol[16];
    int side;                   /* +1 buy, -1 sell */
    int type;                   /* qa_oms_type */
    int algo;                   /* parents: trading/algo.h kind */
    int state;                  /* qa_oms_state */
    double qty, limit;
    double filled, avg_price, fees;
    int64_t decision_time;      /* the bar whose close decided it */
    double decision_price;      /* that close */
    int64_t arrival_time;       /* the first bar it could trade on (INT64_MIN: not yet) */
    double arrival_price;       /* that bar's open */
    int64_t created, updated;   /* market time */
    int version;                /* transitions applied: a store keeps the highest */
    int children;               /* parents: children created so far */
    char reason[64];            /* rejections: the reason code and detail */
} qa_oms_order;

/* A parent's id from (strategy, symbol, signal id). QA_ERR_INVALID_ARG when the strategy is
 * longer than 12 characters, or holds characters other than [A-Za-z0-9_]. */
qa_status qa_oms_parent_id(const char *strategy, const char *symbol, uint64_t signal_id, char out[QA_OMS_ID_LEN]);
/* The n-th child's id of a parent (n >= 1). */
qa_status qa_oms_child_id(const char *parent, int n, char out[QA_OMS_ID_LEN]);

/* Applies `ev` to o (a fill: `qty` shares at `price`, fee `fee`): state, filled, average
 * price, fees, version and `updated` (= time). QA_ERR_STATE for an illegal transition
 * (o unchanged). */
qa_status qa_oms_apply(qa_oms_order *o, qa_oms_event ev, double qty, double price, double fee, int64_t time);

#ifdef __cplusplus
}
#endif
#endif
