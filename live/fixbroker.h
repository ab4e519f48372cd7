/* The FIX 4.4 broker adapter (docs/execution.md, "FIX"): the broker interface of
 * live/broker.h over a FIX session (live/fix.h, QuickFIX) to `qa exchange`, the paper
 * venue behind a FIX acceptor.
 *
 * Requests map to FIX messages and wait for their answer (an ExecutionReport, or an
 * OrderCancelReject):
 *   submit   NewOrderSingle (D): ClOrdID, Symbol, Side, OrderQty, OrdType, Price,
 *            TimeInForce, TransactTime = the order's market time
 *   cancel   OrderCancelRequest (F), replace OrderCancelReplaceRequest (G)
 *   advance  OrderMassStatusRequest (AF) with TransactTime = the market time: the exchange
 *            moves its market to that time (bars from its own market file) and answers the
 *            fills and expiries in (from, time] as ExecutionReports, then an empty report
 *            with LastRptRequested = Y
 *   orders / fills  OrderMassStatusRequest of every order / of every fill (reconciliation)
 * Custom tags and the report encoding: live/exchange.h.
 *
 * Matching answers to requests: each adapter opened draws a nonce (wall-clock ns and pid);
 * a request's id is "<nonce>-<n>-<attempt>" in QaRequestID(20010) (and in ClOrdID(11) of a
 * cancel, MassStatusReqID(584) of an AF), echoed by every answer. An answer is taken when
 * its id names the request being waited for (any attempt of it); anything else, such as
 * answers to an earlier process's requests resent (PossDup) at logon, or a late duplicate
 * of an answer already taken, is dropped. The reports of one AF answer carry their index
 * 1..n and count only when complete and of one attempt (TotNumReports(911) checks it).
 *
 * Repeats: a request whose answer does not come within `timeout_ms`, or whose session
 * logged on again after it was sent (the exchange restarted), is sent again with the next
 * attempt number once the session is up: every request is idempotent at the venue, so a
 * repeat answers as the first did. After give_up_ms without an answer it fails with
 * QA_ERR_IO naming host:port and the request. A BusinessMessageReject (the exchange could
 * not process it) fails the request with QA_ERR_IO and the exchange's text.
 *
 * FIX delivery choices: requests go with qa_fix_send (never stored while the session is
 * down: the repeat above delivers them, and a stored copy would only arrive as a stale
 * duplicate). The adapter keeps QuickFIX's next target seqnum (it does not re-request
 * messages it received but did not process): what a killed client missed is repeated by its
 * own requests after the restart, so answers resent at logon are only ever stale and are
 * dropped by id. The session's sequence numbers are kept in `store_dir` (QuickFIX's
 * FileStore) and survive restarts of either side.
 *
 * One adapter per (sender, target) per process (QuickFIX's session registry); its ops are
 * called from one thread. */
#ifndef QA_LIVE_FIXBROKER_H
#define QA_LIVE_FIXBROKER_H

#include "common/status.h"
#include "live/broker.h" /* qa_broker_t */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_fixbroker_cfg {
    char host[64];
    int port;
    char sender[32], target[32];
    char store_dir[512];  /* QuickFIX FileStore: sequence numbers and sent messages */
    int timeout_ms;       /* one answer's wait before the request is repeated (5000) */
    int give_up_ms;       /* a request not answered for this long fails (120000) */
} qa_fixbroker_cfg;

/* 127.0.0.1, no port, sender "QA", target "QAEX", no store, 5000 / 120000 ms. */
void qa_fixbroker_cfg_default(qa_fixbroker_cfg *c);
/* Starts the session (initiator) and waits for the logon up to give_up_ms. */
qa_status qa_fixbroker_open(const qa_fixbroker_cfg *cfg, qa_broker_t **out);

/* What the adapter did, since it was opened. */
typedef struct qa_fixbroker_stats {
    long requests; /* requests answered (or failed) */
    long repeats;  /* requests sent again after a timeout or a new logon */
    long stale;    /* application messages dropped: not an answer to the request waited for */
} qa_fixbroker_stats;
/* b must be a FIX adapter (QA_ERR_INVALID_ARG otherwise). */
qa_status qa_fixbroker_get_stats(const qa_broker_t *b, qa_fixbroker_stats *out);

#ifdef __cplusplus
}
#endif
#endif
