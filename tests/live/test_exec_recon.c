/* Continuous reconciliation of the execution stage (live/exec.h, docs/execution.md
 * "Crash consistency"): a broker adapter that loses one fill report on its way to the
 * stage (the venue has the fill, the advance answer lacks it) and an order placed at the
 * venue behind the stage's back. The windowed pass after the loss finds the fill in its
 * window, records it in the order database and reports the missing fill and the stage's
 * position difference; it reports the unknown working order; a clean run reports nothing
 * and agrees with the full (start-up) pass. */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, free */
#include <string.h>  /* strcmp, strstr, memset */

#include "common/fs.h" /* qa_fs_mkdirs */
#include "harness.h"
#include "live/broker.h"
#include "live/exec.h"
#include "live/orderdb.h"

static char g_dir[256];

/* ---- a paper broker that drops one fill from one advance answer ------------------------------------------ */

typedef struct lossy {
    qa_broker_t *inner;
    int64_t drop_at;   /* the advance to this time loses its first fill */
    int dropped;
} lossy;

static qa_status l_submit(void *p, const qa_venue_order *o, qa_venue_event *r) {
    lossy *l = p;
    return l->inner->ops->submit(l->inner->impl, o, r);
}
static qa_status l_cancel(void *p, const char *id, int64_t t, qa_venue_event *r) {
    lossy *l = p;
    return l->inner->ops->cancel(l->inner->impl, id, t, r);
}
static qa_status l_replace(void *p, const char *orig, const qa_venue_order *o, qa_venue_event *r) {
    lossy *l = p;
    return l->inner->ops->replace(l->inner->impl, orig, o, r);
}
static qa_status l_advance(void *p, int64_t from, int64_t t, size_t n, const char *const *s, const qa_order_bar *b,
                           qa_venue_event **ev, size_t *nev) {
    lossy *l = p;
    QA_TRY_RET(l->inner->ops->advance(l->inner->impl, from, t, n, s, b, ev, nev));
    if (t == l->drop_at && n > 0 && !l->dropped) /* the step's advance (bars), not a reconciliation's question */
        for (size_t i = 0; i < *nev; i++)
            if ((*ev)[i].kind == QA_VENUE_EV_FILL) {
                memmove(&(*ev)[i], &(*ev)[i + 1], (*nev - i - 1) * sizeof **ev);
                (*nev)--;
                l->dropped = 1;
                break;
            }
    return QA_OK;
}
static qa_status l_orders(void *p, int open_only, qa_venue_event **out, size_t *n) {
    lossy *l = p;
    return l->inner->ops->orders(l->inner->impl, open_only, out, n);
}
static qa_status l_fills(void *p, const char *id, qa_venue_event **out, size_t *n) {
    lossy *l = p;
    return l->inner->ops->fills(l->inner->impl, id, out, n);
}
static qa_status l_clock(void *p, int64_t *t) {
    lossy *l = p;
    return l->inner->ops->clock(l->inner->impl, t);
}
static void l_close(void *p) {
    lossy *l = p;
    qa_broker_close(l->inner);
}
static const qa_broker_ops lossy_ops = {"lossy-paper", l_submit, l_cancel, l_replace, l_advance,
                                        l_orders,      l_fills,  l_clock,  l_close};

/* ---- alerts ------------------------------------------------------------------------------------------------ */

typedef struct seen {
    int missing_fill, position, unknown_order, order_state, cancel_rejected, other;
    char first[256];
} seen;

static void on_ops(void *ctx, const char *severity, const char *limit, const char *metric, double value,
                   double threshold, const char *detail) {
    (void)severity, (void)metric, (void)value, (void)threshold;
    seen *s = ctx;
    if (!s->first[0]) snprintf(s->first, sizeof s->first, "%s: %s", limit, detail);
    if (strcmp(limit, "missing_fill") == 0) s->missing_fill++;
    else if (strcmp(limit, "position") == 0) s->position++;
    else if (strcmp(limit, "unknown_order") == 0) s->unknown_order++;
    else if (strcmp(limit, "order_state") == 0) s->order_state++;
    else if (strcmp(limit, "cancel_rejected") == 0) s->cancel_rejected++;
    else s->other++;
}

static qa_status no_emit(void *ctx, int topic, size_t mark, const qa_msg *m) {
    (void)ctx, (void)topic, (void)mark, (void)m;
    return QA_OK;
}

/* ---- the run ----------------------------------------------------------------------------------------------- */

enum { S = 2, T = 24 };
static char *g_names[S] = {"AAA", "BBB"};

static int64_t tm(int t) { return 1769437800000000000LL + (int64_t)t * 300000000000LL; }

/* Steps T timestamps with targets that flip every 4 (orders and fills all along), the
 * reconciliation every 3; returns the stage (the caller frees) and what the passes said. */
static qa_exec_t *run(const char *dir, int64_t drop_at, int sneak_at, seen *ops, lossy **out_l) {
    qa_exec_cfg cfg;
    qa_exec_cfg_default(&cfg);
    cfg.enabled = 1;
    cfg.algo.kind = QA_ALGO_IMMEDIATE;
    cfg.paper.participation = 0.0;
    cfg.paper.durable = 0;
    cfg.durable = 0;
    cfg.reconcile_every = 3;
    cfg.leverage = 10;
    char path[512];
    snprintf(path, sizeof path, "%s/venue.db", dir);
    lossy *l = calloc(1, sizeof *l);
    QA_REQUIRE(l != NULL);
    l->drop_at = drop_at;
    QA_CHECK_OK(qa_fs_mkdirs(dir));
    QA_CHECK_OK(qa_broker_paper_open(path, &cfg.paper, &l->inner));
    qa_broker_t *b = calloc(1, sizeof *b);
    b->ops = &lossy_ops, b->impl = l;
    cfg.adapter = b;
    qa_exec_t *x = NULL;
    QA_CHECK_OK(qa_exec_create(&cfg, dir, g_names, S, 1e6, &x));
    qa_msg_bar bars[S];
    unsigned char present[S] = {1, 1};
    double target[S];
    uint64_t sig[S];
    for (int t = 0; t < T && x; t++) {
        for (int s = 0; s < S; s++) {
            double px = 100.0 + s * 10 + t * 0.25;
            bars[s] = (qa_msg_bar){.open = px - 0.1, .high = px + 0.5, .low = px - 0.5, .close = px, .volume = 1e6};
            target[s] = ((t / 4) % 2 ? -1.0 : 1.0) * (100.0 + 10.0 * s + t);
            sig[s] = ((uint64_t)t << 8) | (uint64_t)s;
        }
        if (t == sneak_at) { /* an order at the venue the stage never sent */
            qa_venue_order o;
            memset(&o, 0, sizeof o);
            snprintf(o.clordid, sizeof o.clordid, "intruder-1");
            snprintf(o.symbol, sizeof o.symbol, "AAA");
            o.side = 1, o.qty = 5, o.limit = 1, o.price = 1.0, o.time = tm(t); /* far below: it rests */
            qa_venue_event r;
            QA_CHECK_OK(l->inner->ops->submit(l->inner->impl, &o, &r));
            QA_CHECK_INT(r.kind, QA_VENUE_EV_NEW);
        }
        QA_CHECK_OK(qa_exec_step(x, tm(t), bars, present, target, sig, QA_STATE_ACTIVE, no_emit, NULL, on_ops, ops));
    }
    *out_l = l;
    return x;
}

static void test_clean(void) {
    char dir[400];
    snprintf(dir, sizeof dir, "%s/clean", g_dir);
    seen ops = {0};
    lossy *l = NULL;
    qa_exec_t *x = run(dir, -1, -1, &ops, &l);
    QA_CHECK_MSG(ops.missing_fill + ops.position + ops.unknown_order + ops.order_state + ops.other == 0,
                 "a clean run raised reconciliation alerts: %s", ops.first);
    qa_exec_stats st;
    qa_exec_get_stats(x, &st);
    QA_CHECK(st.fills >= 10); /* the passes had fills to look at */
    qa_exec_recon r;
    QA_CHECK_OK(qa_exec_reconcile(x, &r, on_ops, &ops)); /* the full pass agrees */
    QA_CHECK_INT(r.position_mismatch, 0);
    QA_CHECK_INT(r.fetched_fills, 0);
    qa_exec_free(x);
    free(l);
}

static void test_lost_fill_and_intruder(void) {
    char dir[400];
    snprintf(dir, sizeof dir, "%s/lossy", g_dir);
    seen ops = {0};
    lossy *l = NULL;
    qa_exec_t *x = run(dir, tm(9), 13, &ops, &l);
    QA_CHECK(l->dropped);
    /* passes run at t2, t5, ..., t23. The one after t9 (t11) finds the lost fill in its
     * window and fetches it into the database, once. */
    QA_CHECK_INT(ops.missing_fill, 1);
    /* The stage never booked it: from t11 on (t11, 14, 17, 20, 23) its position differs
     * from the broker's and the database's (which agree), and the child it still thinks
     * working is filled at the broker (its cancel at t12 is refused: too late). */
    QA_CHECK_INT(ops.position, 5);
    QA_CHECK_INT(ops.order_state, 5);
    QA_CHECK_INT(ops.cancel_rejected, 1);
    /* the intruder (working from t13) is reported by the passes at t14, t17, t20, t23 */
    QA_CHECK_INT(ops.unknown_order, 4);
    QA_CHECK_INT(ops.other, 0);
    qa_exec_free(x);
    free(l);
    /* the database has the fetched fill: its fills equal the venue's */
    char path[512];
    snprintf(path, sizeof path, "%s/orders.db", dir);
    qa_orderdb_t *db = NULL;
    QA_CHECK_OK(qa_orderdb_open(path, &db));
    long long no = 0, nf = 0, ntr = 0;
    QA_CHECK_OK(qa_orderdb_counts(db, &no, &nf, &ntr));
    qa_orderdb_close(db);
    qa_venue_cfg vc;
    qa_venue_cfg_default(&vc);
    vc.durable = 0;
    snprintf(path, sizeof path, "%s/venue.db", dir);
    qa_venue_t *v = NULL;
    QA_CHECK_OK(qa_venue_open(path, &vc, &v));
    qa_venue_event *ev = NULL;
    size_t nev = 0;
    QA_CHECK_OK(qa_venue_fills(v, NULL, &ev, &nev));
    QA_CHECK_INT(nf, (long long)nev);
    free(ev);
    qa_venue_close(v);
}

int main(void) {
    if (qa_test_tmpdir(g_dir, sizeof g_dir, "exec_recon")) {
        printf("cannot make a temporary directory\n");
        return 1;
    }
    QA_RUN(test_clean);
    QA_RUN(test_lost_fill_and_intruder);
    qa_test_rmtree(g_dir);
    return qa_test_finish();
}
