/* The paper exchange (docs/execution.md, "FIX broker and `qa exchange`"): the paper venue
 * (live/venue.h, its book in <state_dir>/venue.db) behind a FIX 4.4 acceptor (live/fix.h),
 * matching on the bars of its own market file (datasets/store.h) in market time.
 *
 * Protocol (FIX 4.4 application messages; every request carries QaRequestID(20010), which
 * every answer echoes; answers are ExecutionReports (8) unless said otherwise):
 *   NewOrderSingle (D)            -> qa_venue_submit: ExecType 0 new / 8 rejected
 *   OrderCancelRequest (F)        -> qa_venue_cancel: ExecType 4 / OrderCancelReject (9)
 *   OrderCancelReplaceRequest (G) -> qa_venue_replace: ExecType 5 / OrderCancelReject (9)
 *   OrderMassStatusRequest (AF)   -> by QaQuery(20004):
 *       "advance" (default): the venue steps through every timestamp of the market file in
 *           (venue clock, QaMarketTime], then every fill (ExecType F) and expiry (ExecType C)
 *           with QaFromTime < time <= QaMarketTime is reported;
 *       "orders" / "open_orders": one report (ExecType I) per order, its state;
 *       "fills": every fill (of ClOrdID(11) when given);
 *       "clock": nothing but the terminator.
 *     Each report carries MassStatusReqID(584) and QaReportIndex(20012) = 1..n; the answer
 *     ends with one ExecutionReport (ExecType I) with LastRptRequested(912)=Y,
 *     TotNumReports(911)=n and QaVenueClock(20003).
 *   A request the exchange cannot process (a missing field, a database failure) is answered
 *     by a BusinessMessageReject (j) with Text(58).
 * Market times are nanoseconds since the epoch as decimal integers in the custom tags;
 * TransactTime(60) repeats them for humans. No report is ever sent unasked: fills are
 * answers to "advance", so a client sees the same fills at any replay speed.
 *
 * Durability: each message is handled completely (its venue transaction committed) before
 * its answer is sent, so a kill -9 never loses an answered request; answers go out with
 * qa_fix_send_or_store, so a client that dropped its connection gets them by resend.
 * The exchange never asks for its own unprocessed requests again (it keeps QuickFIX's
 * next target seqnum): a request it received but did not answer is repeated by the client
 * after its timeout, which the venue answers idempotently. */
#ifndef QA_LIVE_EXCHANGE_H
#define QA_LIVE_EXCHANGE_H

#include <signal.h>  /* sig_atomic_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"
#include "live/fix.h"   /* qa_fix_msg_t */
#include "live/venue.h" /* qa_venue_cfg, qa_venue_event */

#ifdef __cplusplus
extern "C" {
#endif

/* Custom tags (FIX's user-defined range 5000-9999 / 20000-39999). */
enum {
    QA_TAG_MARKET_TIME = 20001, /* a request's or event's market time, ns since the epoch */
    QA_TAG_FROM_TIME = 20002,   /* AF "advance": events after this time (absent: all) */
    QA_TAG_VENUE_CLOCK = 20003, /* terminating report: the venue clock (INT64_MIN: none) */
    QA_TAG_QUERY = 20004,       /* AF: advance, orders, open_orders, fills, clock */
    QA_TAG_BAR_VOLUME = 20005,  /* a fill: its bar's volume */
    QA_TAG_RAW_SIDE = 20006,    /* a side other than buy/sell (+1/-1), as given */
    QA_TAG_REQUEST_ID = 20010,  /* the client's request id, echoed in every answer */
    QA_TAG_REPORT_INDEX = 20012 /* 1..n within one AF answer */
};

typedef struct qa_exchange_cfg {
    char data[512];      /* the market file */
    char state_dir[512]; /* venue.db, exchange.clock, fix/ (QuickFIX store) */
    char log_dir[512];   /* QuickFIX message log ("" = none) */
    int port;            /* 0: any free port (qa_exchange_port) */
    char sender[32], target[32]; /* our CompID ("QAEX") and the client's ("QA") */
    qa_venue_cfg venue;
} qa_exchange_cfg;

void qa_exchange_cfg_default(qa_exchange_cfg *c);

typedef struct qa_exchange qa_exchange_t;

/* Reads the market file's times and bars (all of them, into memory), opens the venue
 * (restoring the clock it last answered with) and starts listening. The caller owns *out
 * (qa_exchange_close). */
qa_status qa_exchange_open(const qa_exchange_cfg *cfg, qa_exchange_t **out);
/* Logs the client out, stops the session and closes the venue; NULL is ignored. */
void qa_exchange_close(qa_exchange_t *x);
int qa_exchange_port(const qa_exchange_t *x);

/* Handles at most one request that arrives within timeout_ms; *handled (may be NULL) = 1
 * when one was. An error is the venue's or the session's (the request got a
 * BusinessMessageReject when the session allowed it); the loop may go on. */
qa_status qa_exchange_step(qa_exchange_t *x, int timeout_ms, int *handled);
/* Steps until *stop becomes nonzero (checked every 200 ms); a failed request is logged
 * (and was answered with a BusinessMessageReject) and the loop goes on. QA_OK. */
qa_status qa_exchange_run(qa_exchange_t *x, const volatile sig_atomic_t *stop);

typedef struct qa_exchange_stats {
    long requests, reports, rejects; /* requests handled, reports sent, BusinessMessageRejects */
} qa_exchange_stats;
void qa_exchange_get_stats(const qa_exchange_t *x, qa_exchange_stats *out);

/* ---- the report encoding, shared with live/fixbroker.c --------------------------------- */

/* How a report carries an event's quantities: answers and fills put qty, price, fee in
 * LastQty(32), LastPx(31), Commission(12); order-status reports (ctx ORDER) put the
 * ordered qty, the limit price and the fees so far in OrderQty(38), Price(44),
 * Commission(12). */
typedef enum qa_exchange_ctx { QA_EXCHANGE_CTX_EVENT = 0, QA_EXCHANGE_CTX_ORDER = 1 } qa_exchange_ctx;

/* Writes event e into ExecutionReport m (ExecType, OrdStatus, ClOrdID/OrigClOrdID as FIX
 * wants them for its kind; `req_clordid`: the ClOrdID of the request answered (cancel:
 * the cancel's own id; NULL: none) and `orig`: its OrigClOrdID (NULL: none)). Every field
 * of e reads back exactly with qa_exchange_report_decode: a NaN double is an absent field
 * (AvgPx: 0 with CumQty 0, the venue's invariant), an empty string an absent field. */
qa_status qa_exchange_report_encode(qa_fix_msg_t *m, const qa_venue_event *e, qa_exchange_ctx ctx,
                                    const char *req_clordid, const char *orig);
/* Reads an ExecutionReport (8) or OrderCancelReject (9) written as above back into *e. */
qa_status qa_exchange_report_decode(const qa_fix_msg_t *m, qa_exchange_ctx ctx, qa_venue_event *e);

#ifdef __cplusplus
}
#endif
#endif
