/* A LOBSTER order book for the paper venue (docs/execution.md, "Queue position"): one
 * symbol's message file (every add, cancel, delete and execution of a day, with order ids)
 * and the matching order-book file (the displayed levels after each message), so the
 * venue can fill that symbol's orders by queue position instead of by bars.
 *
 * The model, for one order of ours with side s (+1 buy, -1 sell), arriving at time a
 * (its time + the venue's latency; no earlier than the first message):
 *   - arrival: the book is the row of the last message at or before a. A market order, or
 *     a limit order that reaches the opposite best, takes the displayed opposite levels in
 *     price order up to its limit and its quantity (one fill per level, at the level's
 *     price, stamped a). What a market order cannot take is cancelled (no displayed
 *     liquidity left); a limit order's rest joins its level first in line (ahead = 0).
 *     A passive limit order joins the back of its level: ahead = the displayed size at its
 *     price on its side (0 when no displayed level has that price).
 *   - every later message, in order, on the order's side:
 *       add (type 1) at its price: the new id is behind it;
 *       cancel / delete (types 2, 3) at its price of an id not behind it: ahead shrinks by
 *         the size (at least 0) — the displayed queue at arrival was all ahead of it;
 *       visible execution (type 4) at its price: the executed size first uses up `ahead`
 *         (price-time priority: the front of the queue trades first); what is left fills
 *         the order (an execution of an id behind it means the queue ahead is gone);
 *       any execution (types 4, 5) through its price (a buy-side execution below a buy
 *         limit, a sell-side one above a sell limit): the level was passed, the rest of the
 *         order fills at its limit;
 *     fills are stamped with the message's time. Hidden executions at its price (type 5)
 *     do not move the displayed queue; crosses and halts (6, 7) are ignored.
 * Our orders do not change the recorded book (no impact on later messages), and two of our
 * orders at one level do not queue behind each other. Everything is a function of the files
 * and the order, so a venue that restarts rebuilds each working order's queue by running
 * its messages again (qa_lobbook_work with `quiet`). */
#ifndef QA_LIVE_LOBBOOK_H
#define QA_LIVE_LOBBOOK_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t, uint64_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_lobbook qa_lobbook_t;

/* Reads a message file and its order-book file (CSV, gzip or not) of `levels` levels for
 * the session `date` (YYYY-MM-DD; times are seconds after New York midnight, read to the
 * nanosecond). Errors name the file, line and field. */
qa_status qa_lobbook_open(const char *messages, const char *orderbook, const char *date, int levels,
                          qa_lobbook_t **out);
void qa_lobbook_free(qa_lobbook_t *b);

size_t qa_lobbook_count(const qa_lobbook_t *b);      /* messages */
int64_t qa_lobbook_time(const qa_lobbook_t *b, size_t i); /* of message i, UTC ns */

/* One order of ours as the book sees it. */
typedef struct qa_lobbook_order {
    int side;        /* +1 buy, -1 sell */
    int limit;       /* 1 limit at `price`, 0 market */
    double price;
    int64_t arrive;  /* order time + latency */
} qa_lobbook_order;

/* Where one order stands in the book: plain data except `behind` (qa_lobbook_queue_free). */
typedef struct qa_lobbook_queue {
    int arrived;       /* its arrival was handled */
    int resting;       /* it rests at its limit */
    int64_t ticks;     /* its limit in 1/10,000 of a currency unit (LOBSTER's prices) */
    double ahead;      /* displayed shares ahead of it */
    size_t next;       /* the next message to apply */
    uint64_t *behind;  /* ids that joined its level after it, sorted */
    size_t nbehind, cap;
} qa_lobbook_queue;

void qa_lobbook_queue_free(qa_lobbook_queue *q);

typedef struct qa_lobbook_fill {
    int64_t time;
    double qty, price;
} qa_lobbook_fill;

/* Works one order through the book up to time `to` (inclusive): its arrival if due, then
 * each message. `remaining` is what is left of it; fills (whole shares, at most
 * `remaining` in all) are appended to *fills (grown with realloc; the caller frees) unless
 * `quiet` (a restart rebuilding the queue: the state moves, nothing is reported).
 * *cancelled is set when the rest of a market order found no displayed liquidity. */
qa_status qa_lobbook_work(const qa_lobbook_t *b, const qa_lobbook_order *o, double remaining, int quiet, int64_t to,
                          qa_lobbook_queue *q, qa_lobbook_fill **fills, size_t *nfills, size_t *cap, int *cancelled);

#ifdef __cplusplus
}
#endif
#endif
