/* The in-process paper broker (live/broker.h): the venue called directly. */
#include "live/broker.h"

#include <stdlib.h>  /* calloc, free */

static qa_status p_submit(void *impl, const qa_venue_order *o, qa_venue_event *reply) {
    return qa_venue_submit(impl, o, reply);
}
static qa_status p_cancel(void *impl, const char *clordid, int64_t time, qa_venue_event *reply) {
    return qa_venue_cancel(impl, clordid, time, reply);
}
static qa_status p_replace(void *impl, const char *orig, const qa_venue_order *repl, qa_venue_event *reply) {
    return qa_venue_replace(impl, orig, repl, reply);
}
static qa_status p_advance(void *impl, int64_t from, int64_t time, size_t n, const char *const *symbols,
                           const qa_order_bar *bars, qa_venue_event **ev, size_t *nev) {
    QA_TRY_RET(qa_venue_advance(impl, time, n, symbols, bars));
    return qa_venue_events(impl, from, time, ev, nev);
}
static qa_status p_orders(void *impl, int open_only, qa_venue_event **out, size_t *n) {
    return qa_venue_orders(impl, open_only, out, n);
}
static qa_status p_fills(void *impl, const char *clordid, qa_venue_event **out, size_t *n) {
    return qa_venue_fills(impl, clordid, out, n);
}
static qa_status p_clock(void *impl, int64_t *time) {
    *time = qa_venue_clock(impl);
    return QA_OK;
}
static void p_close(void *impl) { qa_venue_close(impl); }

static const qa_broker_ops paper_ops = {"paper", p_submit, p_cancel, p_replace, p_advance, p_orders, p_fills, p_clock, p_close};

qa_status qa_broker_paper_open(const char *path, const qa_venue_cfg *cfg, qa_broker_t **out) {
    qa_broker_t *b = calloc(1, sizeof *b);
    if (!b) return QA_FAIL(QA_ERR_NOMEM, "paper broker");
    qa_venue_t *v = NULL;
    qa_status st = qa_venue_open(path, cfg, &v);
    if (st != QA_OK) {
        free(b);
        return st;
    }
    b->ops = &paper_ops;
    b->impl = v;
    *out = b;
    return QA_OK;
}

void qa_broker_close(qa_broker_t *b) {
    if (!b) return;
    if (b->ops && b->ops->close) b->ops->close(b->impl);
    free(b);
}
