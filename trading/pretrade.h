/* Pre-trade checks: may this one order be sent? One module for the event-driven
 * simulator and the live order manager, so both refuse the same orders for the same
 * reasons. Also the account's trading state (ACTIVE / REDUCING / HALTED), which the live
 * risk monitor sets and these checks obey.
 *
 * Use (one guard per account):
 *     qa_pretrade_limits lim;  qa_pretrade_limits_default(&lim);  (or _bind from YAML)
 *     qa_pretrade_guard *g = malloc(sizeof *g);  qa_pretrade_guard_init(g);
 *     per order:  r = qa_pretrade_check(&lim, g, &account, &order, detail, sizeof detail);
 *                 if (r == QA_PRETRADE_OK) { send it; qa_pretrade_record(g, &order); }
 *
 * The checks run in this fixed order and the first one that fails is the reason
 * (docs/pretrade.md gives each one's formula, units and the exact boundary; every bound
 * is inclusive: a value equal to its limit is accepted):
 *   bad_order, halted, reducing, reduce_only, duplicate_id, duplicate_order, throttle,
 *   max_qty, no_reference_price, price_band, max_notional, max_position,
 *   max_position_weight, max_gross, buying_power.
 * "Position" is always the account's position plus its working (sent, unfilled) quantity
 * in the symbol, signed shares: P = position + working, P' = P + qty. An order REDUCES
 * when |P'| <= |P| and P' does not have the opposite sign of P (it does not cross zero).
 * Reducing orders are never refused by max_position, max_position_weight, max_gross or
 * buying_power: a position that drifted past a limit can always be cut.
 *
 * Prices: the order price p is the limit price of a limit order, else the order's
 * reference price (ref_price, what a market order is expected to pay); the mark price m
 * that values the position is ref_price when it is finite and > 0, else p.
 *
 * Everything here is deterministic: time is the caller's market clock (ns), never the
 * wall clock, so a replay or a simulation decides identically. */
#ifndef QA_TRADING_PRETRADE_H
#define QA_TRADING_PRETRADE_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t, uint64_t */

#include "common/config.h" /* qa_cfg_t, qa_cfg_node: limits from YAML */
#include "common/status.h" /* qa_status */

#ifdef __cplusplus
extern "C" {
#endif

/* ---- trading state ------------------------------------------------------------------- */

/* ACTIVE trades freely; REDUCING only toward zero, never through it; HALTED not at all. */
typedef enum qa_trading_state { QA_STATE_ACTIVE = 0, QA_STATE_REDUCING = 1, QA_STATE_HALTED = 2, QA_STATE_COUNT = 3 } qa_trading_state;
extern const char *const qa_trading_state_names[]; /* "ACTIVE", "REDUCING", "HALTED", NULL */
/* Parses a state name (case-insensitive); QA_ERR_CONFIG otherwise, *out unchanged. */
qa_status qa_trading_state_parse(const char *name, qa_trading_state *out);

/* ---- reasons ------------------------------------------------------------------------- */

typedef enum qa_pretrade_reason {
    QA_PRETRADE_OK = 0,
    QA_PRETRADE_HALTED,              /* "halted" */
    QA_PRETRADE_REDUCING,            /* "reducing" */
    QA_PRETRADE_MAX_QTY,             /* "max_qty" */
    QA_PRETRADE_MAX_NOTIONAL,        /* "max_notional" */
    QA_PRETRADE_MAX_POSITION,        /* "max_position" */
    QA_PRETRADE_MAX_POSITION_WEIGHT, /* "max_position_weight" */
    QA_PRETRADE_MAX_GROSS,           /* "max_gross" */
    QA_PRETRADE_PRICE_BAND,          /* "price_band" */
    QA_PRETRADE_NO_REFERENCE_PRICE,  /* "no_reference_price" */
    QA_PRETRADE_THROTTLE,            /* "throttle" */
    QA_PRETRADE_DUPLICATE_ID,        /* "duplicate_id" */
    QA_PRETRADE_DUPLICATE_ORDER,     /* "duplicate_order" */
    QA_PRETRADE_REDUCE_ONLY,         /* "reduce_only" */
    QA_PRETRADE_BUYING_POWER,        /* "buying_power" */
    QA_PRETRADE_BAD_ORDER,           /* "bad_order" */
    QA_PRETRADE_REASON_COUNT
} qa_pretrade_reason;

/* The stable name of a reason ("ok", "halted", ...); "unknown" out of range. */
const char *qa_pretrade_reason_name(qa_pretrade_reason r);

/* ---- limits -------------------------------------------------------------------------- */

/* Fixed capacities of the guard (its arrays). */
#define QA_PRETRADE_IDS_CAP 8192          /* client order ids remembered at most */
#define QA_PRETRADE_IDS_DEFAULT 4096      /* default duplicate_ids */
#define QA_PRETRADE_ID_LEN 64             /* bytes of a client order id, NUL included */
#define QA_PRETRADE_SYMBOL_LEN 32         /* bytes of a symbol, NUL included */
#define QA_PRETRADE_THROTTLE_CAP 1024     /* largest throttle_orders */
#define QA_PRETRADE_RECENT_CAP 256        /* accepted orders compared by duplicate_order */

/* Each limit has a value that disables it (the default). */
typedef struct qa_pretrade_limits {
    double max_order_qty;        /* |qty| <= this, shares; +inf disables */
    double max_order_notional;   /* |qty| x p <= this, currency; +inf disables */
    double max_position;         /* |P'| <= this, shares; +inf disables */
    double max_position_weight;  /* |P'| x m / equity <= this; +inf disables */
    double max_gross;            /* (gross_value - |P| x m + |P'| x m) / equity <= this; +inf disables */
    double price_band;           /* |p / last_price - 1| <= this (fraction); 0 disables */
    int throttle_orders;         /* N: at most N accepted orders in any W ns; 0 disables; <= THROTTLE_CAP */
    int64_t throttle_window_ns;  /* W, market ns (> 0 when N > 0) */
    int duplicate_ids;           /* K: client order ids remembered (last K accepted); 0 disables; <= IDS_CAP */
    int64_t duplicate_window_ns; /* same symbol, side and quantity accepted less than this earlier; 0 disables */
    int buying_power;            /* 1: orders that increase gross exposure need buying power; 0 disables */
} qa_pretrade_limits;

/* Every check off except duplicate_ids = QA_PRETRADE_IDS_DEFAULT (an order that carries
 * no client order id is never compared, so this refuses nothing that has no id). */
void qa_pretrade_limits_default(qa_pretrade_limits *l);
/* QA_ERR_CONFIG naming the field when a limit is NaN, negative, above its capacity, or
 * throttle_orders > 0 with throttle_window_ns <= 0. */
qa_status qa_pretrade_limits_validate(const qa_pretrade_limits *l);

/* Binds a YAML map (keys: max_order_qty, max_order_notional, max_position,
 * max_position_weight, max_gross, price_band (alias price_collar), throttle_orders,
 * throttle_window_ns, duplicate_ids, duplicate_window_ns, buying_power) over the
 * defaults, then validates. `section` names the map in errors ("pretrade"); errors name
 * file:line and key. *out is unchanged on failure. */
qa_status qa_pretrade_limits_bind(const qa_cfg_t *cfg, const qa_cfg_node *map, const char *section,
                                  qa_pretrade_limits *out);

/* ---- inputs -------------------------------------------------------------------------- */

typedef struct qa_pretrade_order {
    const char *clordid; /* client order id; NULL: not compared, not remembered; < ID_LEN bytes */
    const char *symbol;  /* non-empty, < SYMBOL_LEN bytes */
    double qty;          /* signed shares: > 0 buy, < 0 sell; finite, non-zero */
    double limit;        /* limit price (> 0), NaN for a market order */
    double ref_price;    /* reference price (currency per share; NaN when unknown) */
    int reduce_only;     /* 1: the order must reduce the position (and not cross zero) */
    int64_t time;        /* market time, ns (the caller's clock) */
} qa_pretrade_order;

/* The account as it stands for the order's symbol. */
typedef struct qa_pretrade_account {
    qa_trading_state state;
    double position;     /* signed shares held */
    double working;      /* signed shares of sent, unfilled orders */
    double last_price;   /* last trade price (price band reference) */
    double equity;       /* currency */
    double gross_value;  /* sum over symbols of |position value|, currency, at marks */
    double buying_power; /* currency available for new exposure */
    double fee_rate;     /* expected costs per unit of notional (0.001 = 10 bps) */
} qa_pretrade_account;

/* ---- guard: what the account accepted recently ---------------------------------------- */

typedef struct qa_pretrade_recent {
    char symbol[QA_PRETRADE_SYMBOL_LEN];
    double qty;
    int64_t time;
} qa_pretrade_recent;

/* Plain data in fixed arrays (about 0.6 MB: allocate it, do not put it on a stack), so a
 * checkpoint saves and restores it as bytes (memcpy) and decisions continue identically.
 * Rings: entry k (0-based count of records) sits at slot k % capacity. */
typedef struct qa_pretrade_guard {
    uint64_t nids;    /* ids recorded so far */
    uint64_t ntimes;  /* accepted orders recorded so far (throttle) */
    uint64_t nrecent; /* accepted orders recorded so far (duplicate_order) */
    uint64_t id_hash[QA_PRETRADE_IDS_CAP]; /* FNV-1a of ids[slot] */
    char ids[QA_PRETRADE_IDS_CAP][QA_PRETRADE_ID_LEN];
    int64_t times[QA_PRETRADE_THROTTLE_CAP];
    qa_pretrade_recent recent[QA_PRETRADE_RECENT_CAP];
} qa_pretrade_guard;

/* Empty guard (all bytes zero). */
void qa_pretrade_guard_init(qa_pretrade_guard *g);

/* ---- checking ------------------------------------------------------------------------ */

/* Decides one order; QA_PRETRADE_OK or the reason of the first check that fails (order
 * above). `detail` (may be NULL) receives "<reason>: <the rule and its numbers>", e.g.
 * "max_notional: 12,000.00 > 10,000.00", or "" when accepted. Reads only; call
 * qa_pretrade_record once the order is actually accepted. Limits are assumed valid
 * (qa_pretrade_limits_validate); counts above a capacity are read as the capacity. */
qa_pretrade_reason qa_pretrade_check(const qa_pretrade_limits *l, const qa_pretrade_guard *g, const qa_pretrade_account *a,
                                     const qa_pretrade_order *o, char *detail, size_t size);

/* Remembers an accepted order: its id (when given), its time for the throttle and its
 * symbol, quantity and time for duplicate_order. */
void qa_pretrade_record(qa_pretrade_guard *g, const qa_pretrade_order *o);

#ifdef __cplusplus
}
#endif
#endif
