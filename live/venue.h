/* The paper venue (docs/execution.md, "Paper venue"): orders matched against real bars in
 * market time, with latency, volume-limited partial fills, slippage, a fill probability and
 * fees, its book and trades kept durably in SQLite. One implementation serves the
 * in-process paper broker and `qa exchange` (the same venue behind FIX 4.4).
 *
 * Market time, not wall time: the venue's clock is the time of the bars it is given
 * (qa_venue_advance) and every request carries the market time it was decided at, so a
 * replay gives the same fills at any speed and a client that restarts from a checkpoint and
 * repeats its requests gets the same answers:
 *   - every request is idempotent: a second submit of a client order id with the same
 *     fields answers as the first did, a second cancel of an order cancelled at that
 *     time answers "cancelled" again; a client order id reused with other fields is refused;
 *   - fills and expiries are kept with the bar time they happened at and read back by time
 *     range (qa_venue_events), so a client asks "what happened in (from, to]" and gets the
 *     same list whether it asks for the first time or again after a crash;
 *   - a bar at or before a symbol's last matched bar is skipped (already matched).
 * Every request and every advance is one SQLite transaction (synchronous=FULL when
 * `durable`): what the venue answered survives a kill -9 of its process.
 *
 * Matching (trading/orders.h, the simulator's fill rules): an order of time t may fill at
 * the first bar of its symbol with time > t and >= t + latency; market orders at the bar's
 * open, limit orders when the bar's range reaches the limit (at the open or the limit);
 * each fill is at most `participation` x the bar's volume, in whole shares (the rest waits
 * for later bars: partial fills); with probability 1 - fill_prob an eligible order does not
 * fill at that bar (Philox keyed by (seed, order, bar time): deterministic); the fill price
 * moves `slippage_bps` against the order; the fee is `fee_bps` of the filled notional. DAY
 * orders expire after their first eligible bar. Trade ids are "<clordid>#<n>".
 *
 * Queue position (`book_symbol`): that symbol's orders reach the LOBSTER book at their time
 * + latency (at least 1 ns later, so an order decided at t never trades at t) and fill by
 * the book's model (live/lobbook.h) as qa_venue_advance moves the clock over the book's
 * messages, whether or not the symbol has a bar; each fill is stamped with its message's
 * time. A DAY order expires at the end of the advance its arrival fell in; a market
 * order's rest that the book cannot show is expired ("no displayed liquidity"). After a
 * restart the working orders' queues are rebuilt from the files. */
#ifndef QA_LIVE_VENUE_H
#define QA_LIVE_VENUE_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t, uint64_t */

#include "common/status.h"
#include "trading/orders.h" /* qa_order_bar */

#ifdef __cplusplus
extern "C" {
#endif

#define QA_VENUE_ID_LEN 64  /* client order ids and trade ids, NUL included */
#define QA_VENUE_SYM_LEN 16
#define QA_VENUE_REASON_LEN 96

typedef struct qa_venue_cfg {
    int64_t latency_ns;  /* market time from an order's time until it may trade */
    double participation; /* max fraction of a bar's volume one order takes (0: no cap) */
    double slippage_bps;  /* fill price moved against the order */
    double fill_prob;     /* chance an eligible order fills at a bar (1: always) */
    double fee_bps;       /* fee per filled notional */
    uint64_t seed;        /* of the fill-probability draws */
    int durable;          /* synchronous=FULL (1) or NORMAL (0) */
    /* Queue position on a LOBSTER book (live/lobbook.h) for one symbol: its orders are
     * matched against the book's messages, not its bars (empty book_symbol: none). The
     * participation cap, fill probability and slippage do not apply to them. */
    char book_symbol[QA_VENUE_SYM_LEN];
    char book_messages[512], book_orderbook[512];
    char book_date[16];   /* YYYY-MM-DD */
    int book_levels;      /* levels in the order-book file (10) */
} qa_venue_cfg;

/* latency 0, participation 0.1, slippage 0, fill_prob 1, fee 0, seed 1, durable, no book. */
void qa_venue_cfg_default(qa_venue_cfg *c);

typedef enum qa_venue_ev {
    QA_VENUE_EV_NEW = 0,       /* accepted into the book */
    QA_VENUE_EV_FILL = 1,      /* a (partial) fill */
    QA_VENUE_EV_CANCELLED = 2, /* cancelled on request */
    QA_VENUE_EV_EXPIRED = 3,   /* a DAY order's rest after its bar */
    QA_VENUE_EV_REJECTED = 4,  /* a request refused (the order, if any, is unchanged) */
    QA_VENUE_EV_REPLACED = 5,  /* cancelled by a replace; the new order follows as NEW */
    QA_VENUE_EV_COUNT = 6
} qa_venue_ev;
extern const char *const qa_venue_ev_names[]; /* "new", "fill", ... */

/* One order as sent to the venue. */
typedef struct qa_venue_order {
    char clordid[QA_VENUE_ID_LEN];
    char symbol[QA_VENUE_SYM_LEN];
    int side;        /* +1 buy, -1 sell */
    double qty;      /* > 0 whole shares */
    int limit;       /* 1 limit order at `price`, 0 market */
    double price;    /* limit price (ignored for market orders) */
    int day;         /* 1 DAY (expires after its first eligible bar), 0 GTC */
    int64_t time;    /* market time the order was decided (UTC ns) */
} qa_venue_order;

/* What happened to an order: the answer to a request or one of its later events. */
typedef struct qa_venue_event {
    int kind;                        /* qa_venue_ev */
    char clordid[QA_VENUE_ID_LEN];
    char trade_id[QA_VENUE_ID_LEN];  /* fills only */
    char symbol[QA_VENUE_SYM_LEN];
    int side;
    int64_t time;                    /* market time of the event (a fill: its bar) */
    double qty, price, fee;          /* a fill: shares (> 0), price, fee */
    double cum, avg_price, leaves;   /* the order after the event */
    double bar_volume;               /* a fill: its bar's volume */
    char reason[QA_VENUE_REASON_LEN];
} qa_venue_event;

typedef struct qa_venue qa_venue_t;

/* Opens or creates the venue's database (its book is read back). */
qa_status qa_venue_open(const char *path, const qa_venue_cfg *cfg, qa_venue_t **out);
void qa_venue_close(qa_venue_t *v);

/* Requests. *reply is NEW or REJECTED (submit), CANCELLED or REJECTED (cancel), REPLACED
 * or REJECTED (replace: the original's rest is cancelled and `repl`, a new client order id
 * for the same symbol and side, is accepted for its own quantity: more or less than what
 * was left, at a new price; it queues as a new order). A refused request
 * is an answer (QA_OK with a REJECTED reply), not an error; errors are SQLite's. */
qa_status qa_venue_submit(qa_venue_t *v, const qa_venue_order *o, qa_venue_event *reply);
qa_status qa_venue_cancel(qa_venue_t *v, const char *clordid, int64_t time, qa_venue_event *reply);
qa_status qa_venue_replace(qa_venue_t *v, const char *orig, const qa_venue_order *repl, qa_venue_event *reply);

/* One bar per named symbol at `time`: matches the symbol's working orders eligible at it
 * (in the order they arrived), records fills and expiries, all in one transaction. */
qa_status qa_venue_advance(qa_venue_t *v, int64_t time, size_t n, const char *const *symbols,
                           const qa_order_bar *bars);

/* Fill and expiry events with from < time <= to in the order they happened; *out is the
 * caller's (free()). */
qa_status qa_venue_events(qa_venue_t *v, int64_t from, int64_t to, qa_venue_event **out, size_t *n);
/* Every order's state as of now (the last event of each), in arrival order; with
 * `open_only` the working ones. *out is the caller's. */
qa_status qa_venue_orders(qa_venue_t *v, int open_only, qa_venue_event **out, size_t *n);
/* Every fill of one order (all orders when clordid is NULL), in order. */
qa_status qa_venue_fills(qa_venue_t *v, const char *clordid, qa_venue_event **out, size_t *n);
/* The latest bar time matched (INT64_MIN: none). */
int64_t qa_venue_clock(const qa_venue_t *v);

#ifdef __cplusplus
}
#endif
#endif
