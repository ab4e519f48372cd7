/* The order model shared by the event-driven simulator and the live service: order
 * types (market-on-close, next-bar market, limit, stop-market), time in force, the fill
 * rules of one bar (prices, gaps, partial fills by volume participation) and a book of
 * working orders that matches them bar by bar.
 *
 * Quantities are signed shares (> 0 buy, < 0 sell) and may be fractional (the
 * simulator's `vectorized` accounting needs exact weights; round to lots before
 * submitting when a venue needs whole shares). Prices are currency per share. Bars are
 * indexed by an integer `t` (the timestamp index of the market file); an order placed
 * at bar t is first eligible at bar t itself when it is market-on-close, else at the
 * symbol's next bar. The rules are stated with examples in docs/simulator.md. */
#ifndef QA_TRADING_ORDERS_H
#define QA_TRADING_ORDERS_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qa_order_type {
    QA_ORDER_MOC = 0,    /* market-on-close: fills at the close of its bar */
    QA_ORDER_MARKET = 1, /* next-bar market: fills at the next bar's open */
    QA_ORDER_LIMIT = 2,  /* fills when the bar's range reaches the limit, at the limit or better */
    QA_ORDER_STOP = 3,   /* stop-market: triggers when the range reaches the stop, fills at the stop or the gap open */
    QA_ORDER_TYPE_COUNT = 4
} qa_order_type;

typedef enum qa_order_tif {
    QA_TIF_DAY = 0, /* lives for its first eligible bar; the unfilled rest expires after it */
    QA_TIF_GTC = 1, /* works until filled or cancelled */
    QA_TIF_COUNT = 2
} qa_order_tif;

typedef enum qa_order_status {
    QA_ORDER_WORKING = 0,
    QA_ORDER_FILLED = 1,
    QA_ORDER_CANCELLED = 2,
    QA_ORDER_EXPIRED = 3,
    QA_ORDER_REJECTED = 4,
    QA_ORDER_STATUS_COUNT = 5
} qa_order_status;

/* "moc", "market", "limit", "stop"; "day", "gtc"; "working", "filled", ... ("?" outside
 * the enums). NULL-terminated choice lists for configs. */
const char *qa_order_type_name(qa_order_type t);
const char *qa_order_tif_name(qa_order_tif t);
const char *qa_order_status_name(qa_order_status s);
extern const char *const qa_order_type_names[];
extern const char *const qa_order_tif_names[];

typedef struct qa_order {
    int64_t id;           /* assigned by qa_order_book_submit (1, 2, ...) */
    size_t symbol;        /* index into the caller's universe */
    qa_order_type type;
    qa_order_tif tif;
    double qty;           /* signed shares ordered, != 0 */
    double limit;         /* LIMIT: limit price; NaN otherwise */
    double stop;          /* STOP: trigger price; NaN otherwise */
    double filled;        /* signed shares filled so far (same sign as qty) */
    double avg_price;     /* average fill price (NaN before the first fill) */
    int64_t nfills;       /* fills so far (1 at the first fill's event) */
    int64_t placed;       /* bar index the order was placed on */
    qa_order_status status;
} qa_order;

/* Validates and fills the derived fields (filled 0, avg_price NaN, status WORKING) of an
 * order with symbol, type, tif, qty, limit/stop and placed set. QA_ERR_INVALID_ARG for a
 * zero or non-finite quantity, a missing or non-positive limit/stop price, or unknown
 * enums. */
qa_status qa_order_make(qa_order *o, size_t symbol, qa_order_type type, qa_order_tif tif, double qty, double price,
                        int64_t placed);

/* One bar of one symbol. close must be present (the bar exists); open, high, low and
 * volume may be NaN: a missing open is taken as the close, a missing high/low as the
 * larger/smaller of open and close. */
typedef struct qa_order_bar {
    double open, high, low, close, volume;
} qa_order_bar;

/* 1 when `o` may fill at bar t: MOC orders from their own bar on, the others only
 * after it. */
int qa_order_eligible(const qa_order *o, int64_t t);

/* The fill rule of one bar (the order is eligible there). Sets *price and *qty (signed,
 * the order's sign, |qty| <= remaining) and returns 1, or returns 0 when the order does
 * not fill on this bar. `participation` > 0 caps the fill at participation x volume
 * shares (a NaN or non-positive volume then fills nothing); 0 means no cap.
 *   MOC     price = close
 *   MARKET  price = open
 *   LIMIT   buy: open <= L -> open; else low <= L -> L.  sell: open >= L -> open; else high >= L -> L
 *   STOP    buy: open >= S -> open; else high >= S -> S. sell: open <= S -> open; else low <= S -> S */
int qa_order_fill_rule(const qa_order *o, const qa_order_bar *b, double participation, double *qty, double *price);

/* ---- a book of working orders ---------------------------------------------------------- */

typedef enum qa_order_event {
    QA_ORDER_EV_NEW = 0,       /* accepted into the book */
    QA_ORDER_EV_FILL = 1,      /* a (partial) fill: qty, price */
    QA_ORDER_EV_CANCELLED = 2, /* cancelled by the owner */
    QA_ORDER_EV_EXPIRED = 3,   /* DAY order's unfilled rest after its bar */
    QA_ORDER_EV_REJECTED = 4,  /* refused before entering the book (pre-trade checks) */
    QA_ORDER_EVENT_COUNT = 5
} qa_order_event;

/* "new", "fill", "cancelled", "expired", "rejected". */
const char *qa_order_event_name(qa_order_event e);

/* Called for every event, with the order as it stands after the event (for a fill:
 * `qty` signed shares at `price`; 0/NaN otherwise). A non-OK status stops the book's
 * pass and is returned by it; the order stays in the state the event describes. The
 * callback must not submit or cancel orders in the same book. */
typedef qa_status (*qa_order_event_fn)(void *ctx, const qa_order *o, qa_order_event ev, double qty, double price);

typedef struct qa_order_book {
    qa_order *orders; /* working orders in submission order */
    size_t n, cap;
    int64_t next_id;
} qa_order_book;

void qa_order_book_init(qa_order_book *b);
void qa_order_book_free(qa_order_book *b);

/* Adds a working order (from qa_order_make), assigns its id (returned in *id, may be
 * NULL) and reports QA_ORDER_EV_NEW. */
qa_status qa_order_book_submit(qa_order_book *b, qa_order *o, qa_order_event_fn cb, void *ctx, int64_t *id);

/* Matches every eligible working order whose symbol has a bar at t (bars[symbol], NaN
 * close = no bar), in submission order; fully filled orders leave the book. With
 * `only_id` > 0 just that order is matched (a new MOC order at its own close). */
qa_status qa_order_book_match(qa_order_book *b, int64_t t, const qa_order_bar *bars, double participation,
                              int64_t only_id, qa_order_event_fn cb, void *ctx);

/* Expires DAY orders that were eligible at bar t (their symbol had a bar at t) and are
 * still working. Call once per bar after the last match of that bar. */
qa_status qa_order_book_expire(qa_order_book *b, int64_t t, const qa_order_bar *bars, qa_order_event_fn cb, void *ctx);

/* Cancels one working order; QA_ERR_NOT_FOUND when no working order has that id. */
qa_status qa_order_book_cancel(qa_order_book *b, int64_t id, qa_order_event_fn cb, void *ctx);

/* Cancels the working orders of `symbol` (all symbols when symbol == SIZE_MAX). */
qa_status qa_order_book_cancel_symbol(qa_order_book *b, size_t symbol, qa_order_event_fn cb, void *ctx);

/* Cancels the working orders of `symbol` on one side: side > 0 buys, side < 0 sells. */
qa_status qa_order_book_cancel_side(qa_order_book *b, size_t symbol, int side, qa_order_event_fn cb, void *ctx);

/* Signed unfilled shares of the working orders of `symbol`. */
double qa_order_book_working_qty(const qa_order_book *b, size_t symbol);

#ifdef __cplusplus
}
#endif
#endif
