/* The broker adapter interface (docs/execution.md, "Brokers"): what the execution stage
 * needs from any broker, in market time, and the in-process paper broker.
 *
 * Every call is a request with an answer (submit, cancel, replace), or a question about
 * what happened in a market-time interval (advance), so the stage never depends on when an
 * answer arrives in wall time: the same inputs give the same orders and fills at any
 * replay speed, and a stage that restarts from a checkpoint repeats its requests and gets
 * the same answers (brokers answer repeated requests idempotently, live/venue.h).
 *
 * Adapters: "paper" (the venue of live/venue.h in this process, its book in
 * <state_dir>/venue.db) and "fix" (FIX 4.4 over TCP to `qa exchange`, live/fixbroker.h). */
#ifndef QA_LIVE_BROKER_H
#define QA_LIVE_BROKER_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"
#include "live/venue.h" /* qa_venue_order, qa_venue_event, qa_venue_cfg */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_broker_ops {
    const char *name;
    qa_status (*submit)(void *impl, const qa_venue_order *o, qa_venue_event *reply);
    qa_status (*cancel)(void *impl, const char *clordid, int64_t time, qa_venue_event *reply);
    qa_status (*replace)(void *impl, const char *orig, const qa_venue_order *repl, qa_venue_event *reply);
    /* The market reached `time`: the bars of that time (a venue with its own market data
     * ignores them); *ev receives the fills and expiries with from < time' <= time (the
     * caller frees it). */
    qa_status (*advance)(void *impl, int64_t from, int64_t time, size_t n, const char *const *symbols,
                         const qa_order_bar *bars, qa_venue_event **ev, size_t *nev);
    /* Reconciliation: every order as the broker knows it (open_only: the working ones)
     * and every fill (clordid NULL: all). */
    qa_status (*orders)(void *impl, int open_only, qa_venue_event **out, size_t *n);
    qa_status (*fills)(void *impl, const char *clordid, qa_venue_event **out, size_t *n);
    /* The latest market time the broker has matched at (INT64_MIN: none): a stage behind
     * it is repeating work after a restart. */
    qa_status (*clock)(void *impl, int64_t *time);
    void (*close)(void *impl);
} qa_broker_ops;

typedef struct qa_broker {
    const qa_broker_ops *ops;
    void *impl;
} qa_broker_t;

/* The in-process paper broker over the venue database at `path`. */
qa_status qa_broker_paper_open(const char *path, const qa_venue_cfg *cfg, qa_broker_t **out);
/* Closes any adapter; NULL ok. */
void qa_broker_close(qa_broker_t *b);

#ifdef __cplusplus
}
#endif
#endif
