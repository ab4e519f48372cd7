/* The order and trade database (live/orderdb.h): idempotent writes (an order row moves
 * only to a higher version, a transition is kept once per (order, n), a fill once per
 * trade id, the first arrival wins), the reconciliation reads (open orders, positions,
 * counts), transactions, reopening and the format check. Expected rows are written by
 * hand; the transitions table is read back with plain SQL on a second connection. */
#include <math.h>    /* NAN, isnan */
#include <sqlite3.h> /* reading the tables directly; a file of another format */
#include <stdint.h>  /* INT64_MIN */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* free */
#include <string.h>  /* memset, strcmp */

#include "harness.h"
#include "store_test.h" /* a database of another format */
#include "live/orderdb.h"
#include "trading/algo.h" /* QA_ALGO_TWAP */

static char g_dir[256];

static qa_oms_order mk(const char *id, const char *parent, const char *sym, int side, double qty, int type, int state,
                       int version, int64_t created) {
    qa_oms_order o;
    memset(&o, 0, sizeof o);
    snprintf(o.clordid, sizeof o.clordid, "%s", id);
    snprintf(o.parent, sizeof o.parent, "%s", parent);
    snprintf(o.strategy, sizeof o.strategy, "S");
    snprintf(o.symbol, sizeof o.symbol, "%s", sym);
    o.side = side, o.qty = qty, o.type = type, o.state = state, o.version = version;
    o.algo = type == QA_OMS_PARENT ? QA_ALGO_TWAP : 0;
    o.limit = NAN, o.avg_price = NAN, o.arrival_price = NAN;
    o.arrival_time = INT64_MIN;
    o.decision_time = 50, o.decision_price = 10.0;
    o.created = o.updated = created;
    return o;
}

static qa_orderdb_t *dbopen(const char *path) {
    qa_orderdb_t *d = NULL;
    qa_status st = qa_orderdb_open(path, &d);
    QA_CHECK_MSG(st == QA_OK && d, "open %s: %s", path, qa_err_msg());
    return d;
}

static qa_oms_order get(qa_orderdb_t *d, const char *id) {
    qa_oms_order o;
    memset(&o, 0, sizeof o);
    qa_status st = QA_OK;
    int found = qa_orderdb_get_order(d, id, &o, &st);
    QA_CHECK_MSG(found == 1, "order %s: %d (%s)", id, found, qa_err_msg());
    return o;
}

static void counts(qa_orderdb_t *d, long long orders, long long fills, long long transitions) {
    long long a = -1, b = -1, c = -1;
    QA_CHECK_OK(qa_orderdb_counts(d, &a, &b, &c));
    QA_CHECK_MSG(a == orders && b == fills && c == transitions, "counts %lld %lld %lld, expected %lld %lld %lld", a, b,
                 c, orders, fills, transitions);
}

static void test_put_order(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/orders1.db", g_dir);
    qa_orderdb_t *d = dbopen(path);
    if (!d) return;
    qa_oms_order p = mk("S-AAPL-00000000000000ff", "", "AAPL", 1, 100, QA_OMS_PARENT, QA_OMS_NEW, 1, 100);
    QA_CHECK_OK(qa_orderdb_put_order(d, &p));
    counts(d, 1, 0, 0);
    qa_oms_order g = get(d, p.clordid);
    QA_CHECK_STR(g.clordid, "S-AAPL-00000000000000ff");
    QA_CHECK_STR(g.parent, "");
    QA_CHECK_STR(g.strategy, "S");
    QA_CHECK_STR(g.symbol, "AAPL");
    QA_CHECK(g.side == 1 && g.qty == 100 && g.type == QA_OMS_PARENT && g.algo == QA_ALGO_TWAP && g.state == QA_OMS_NEW);
    QA_CHECK(g.filled == 0 && isnan(g.avg_price) && g.fees == 0 && isnan(g.limit));
    QA_CHECK(g.decision_time == 50 && g.decision_price == 10.0 && g.arrival_time == INT64_MIN && isnan(g.arrival_price));
    QA_CHECK(g.created == 100 && g.updated == 100 && g.version == 1 && g.reason[0] == 0);

    /* The same version or a lower one changes nothing. */
    qa_oms_order q = p;
    q.state = QA_OMS_ACCEPTED, q.updated = 200, q.filled = 5;
    QA_CHECK_OK(qa_orderdb_put_order(d, &q));
    q.version = 0;
    QA_CHECK_OK(qa_orderdb_put_order(d, &q));
    g = get(d, p.clordid);
    QA_CHECK(g.state == QA_OMS_NEW && g.updated == 100 && g.filled == 0 && g.version == 1);
    /* A higher one moves the row forward. */
    q.version = 2, q.state = QA_OMS_PARTIAL, q.filled = 40, q.avg_price = 10.25, q.fees = 0.4, q.updated = 300;
    snprintf(q.reason, sizeof q.reason, "why");
    QA_CHECK_OK(qa_orderdb_put_order(d, &q));
    g = get(d, p.clordid);
    QA_CHECK(g.state == QA_OMS_PARTIAL && g.filled == 40 && g.avg_price == 10.25 && g.fees == 0.4 && g.updated == 300 &&
             g.version == 2);
    QA_CHECK_STR(g.reason, "why");
    /* And not back: version 2 again with other values, then version 1. */
    qa_oms_order back = q;
    back.filled = 99, back.state = QA_OMS_FILLED;
    QA_CHECK_OK(qa_orderdb_put_order(d, &back));
    QA_CHECK_OK(qa_orderdb_put_order(d, &p));
    g = get(d, p.clordid);
    QA_CHECK(g.state == QA_OMS_PARTIAL && g.filled == 40 && g.version == 2);
    counts(d, 1, 0, 0);

    /* A limit child: its parent and limit kept, no algorithm. */
    qa_oms_order c = mk("S-AAPL-00000000000000ff.1", p.clordid, "AAPL", 1, 40, QA_OMS_LIMIT, QA_OMS_NEW, 1, 110);
    c.limit = 9.5;
    QA_CHECK_OK(qa_orderdb_put_order(d, &c));
    g = get(d, c.clordid);
    QA_CHECK_STR(g.parent, "S-AAPL-00000000000000ff");
    QA_CHECK(g.type == QA_OMS_LIMIT && g.limit == 9.5 && g.algo == -1 && g.qty == 40);
    counts(d, 2, 0, 0);
    qa_status st = QA_OK;
    qa_oms_order none;
    QA_CHECK(qa_orderdb_get_order(d, "nope", &none, &st) == 0);
    qa_orderdb_close(d);
}

static void test_transitions(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/orders2.db", g_dir);
    qa_orderdb_t *d = dbopen(path);
    if (!d) return;
    qa_oms_order o = mk("C.1", "C", "AAPL", -1, 10, QA_OMS_MARKET, QA_OMS_NEW, 1, 100);
    QA_CHECK_OK(qa_orderdb_put_transition(d, &o, -1, QA_OMS_EV_SUBMIT, NULL));
    o.state = QA_OMS_ACCEPTED, o.version = 2, o.updated = 200;
    QA_CHECK_OK(qa_orderdb_put_transition(d, &o, QA_OMS_NEW, QA_OMS_EV_ACCEPTED, ""));
    /* The same (order, n) again, even with other content: kept once. */
    QA_CHECK_OK(qa_orderdb_put_transition(d, &o, QA_OMS_NEW, QA_OMS_EV_ACCEPTED, ""));
    o.state = QA_OMS_REJECTED, o.updated = 999;
    QA_CHECK_OK(qa_orderdb_put_transition(d, &o, QA_OMS_NEW, QA_OMS_EV_REJECTED, "other"));
    o.state = QA_OMS_CANCELLED, o.version = 3, o.updated = 300;
    QA_CHECK_OK(qa_orderdb_put_transition(d, &o, QA_OMS_ACCEPTED, QA_OMS_EV_CANCELLED, "venue"));
    /* Another order's n = 1 is its own. */
    qa_oms_order p = mk("C.2", "C", "AAPL", -1, 10, QA_OMS_MARKET, QA_OMS_NEW, 1, 100);
    QA_CHECK_OK(qa_orderdb_put_transition(d, &p, -1, QA_OMS_EV_SUBMIT, NULL));
    counts(d, 0, 0, 4);

    sqlite3 *db = NULL;
    QA_CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    sqlite3_stmt *s = NULL;
    QA_CHECK(sqlite3_prepare_v2(db, "SELECT clordid, n, time, COALESCE(from_state, '-'), to_state, event,"
                                    " COALESCE(detail, '-') FROM transitions ORDER BY seq", -1, &s, NULL) == SQLITE_OK);
    static const char *const want[4][7] = {{"C.1", "1", "100", "-", "new", "new", "-"},
                                           {"C.1", "2", "200", "new", "accepted", "accepted", "-"},
                                           {"C.1", "3", "300", "accepted", "cancelled", "cancelled", "venue"},
                                           {"C.2", "1", "100", "-", "new", "new", "-"}};
    int row = 0;
    while (s && sqlite3_step(s) == SQLITE_ROW) {
        for (int k = 0; row < 4 && k < 7; k++)
            QA_CHECK_MSG(strcmp((const char *)sqlite3_column_text(s, k), want[row][k]) == 0, "row %d col %d: '%s', expected '%s'",
                         row, k, (const char *)sqlite3_column_text(s, k), want[row][k]);
        row++;
    }
    QA_CHECK_INT(row, 4);
    sqlite3_finalize(s);
    sqlite3_close(db);
    qa_orderdb_close(d);
}

static qa_orderdb_fill fill(const char *tid, const char *id, const char *sym, int side, double qty, double price) {
    qa_orderdb_fill f;
    memset(&f, 0, sizeof f);
    snprintf(f.trade_id, sizeof f.trade_id, "%s", tid);
    snprintf(f.clordid, sizeof f.clordid, "%s", id);
    snprintf(f.parent, sizeof f.parent, "P");
    snprintf(f.symbol, sizeof f.symbol, "%s", sym);
    f.side = side, f.qty = qty, f.price = price, f.fee = 0.01, f.time = 200, f.bar_volume = 1000;
    return f;
}

static void test_fills_positions(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/orders3.db", g_dir);
    qa_orderdb_t *d = dbopen(path);
    if (!d) return;
    int added = -1;
    qa_orderdb_fill f = fill("A.1#1", "A.1", "AAPL", 1, 30, 10);
    QA_CHECK_OK(qa_orderdb_put_fill(d, &f, &added));
    QA_CHECK_INT(added, 1);
    QA_CHECK_OK(qa_orderdb_put_fill(d, &f, &added));
    QA_CHECK_INT(added, 0);
    f.qty = 999; /* the same trade id with other content: still the first */
    QA_CHECK_OK(qa_orderdb_put_fill(d, &f, &added));
    QA_CHECK_INT(added, 0);
    f = fill("A.1#2", "A.1", "AAPL", 1, 20, 11);
    QA_CHECK_OK(qa_orderdb_put_fill(d, &f, &added));
    QA_CHECK_INT(added, 1);
    f = fill("B.1#1", "B.1", "AAPL", -1, 15, 12);
    QA_CHECK_OK(qa_orderdb_put_fill(d, &f, &added));
    f = fill("M.1#1", "M.1", "MSFT", -1, 10, 50);
    QA_CHECK_OK(qa_orderdb_put_fill(d, &f, NULL));
    qa_status st = QA_OK;
    QA_CHECK(qa_orderdb_has_fill(d, "A.1#1", &st) == 1);
    QA_CHECK(qa_orderdb_has_fill(d, "A.1#3", &st) == 0);
    /* AAPL: +30 + 20 - 15 = +35 over 3 fills; MSFT: -10 over 1; none for IBM. */
    double sh = NAN;
    long long nf = -1;
    QA_CHECK_OK(qa_orderdb_position(d, "AAPL", &sh, &nf));
    QA_CHECK(sh == 35.0 && nf == 3);
    QA_CHECK_OK(qa_orderdb_position(d, "MSFT", &sh, &nf));
    QA_CHECK(sh == -10.0 && nf == 1);
    QA_CHECK_OK(qa_orderdb_position(d, "IBM", &sh, &nf));
    QA_CHECK(sh == 0.0 && nf == 0);
    counts(d, 0, 4, 0);
    qa_orderdb_close(d);
}

static void test_arrival(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/orders4.db", g_dir);
    qa_orderdb_t *d = dbopen(path);
    if (!d) return;
    qa_oms_order p = mk("P", "", "AAPL", 1, 100, QA_OMS_PARENT, QA_OMS_ACCEPTED, 2, 100);
    QA_CHECK_OK(qa_orderdb_put_order(d, &p));
    p.arrival_time = 200, p.arrival_price = 10.5;
    QA_CHECK_OK(qa_orderdb_put_arrival(d, &p));
    qa_oms_order g = get(d, "P");
    QA_CHECK(g.arrival_time == 200 && g.arrival_price == 10.5);
    p.arrival_time = 300, p.arrival_price = 11.0;
    QA_CHECK_OK(qa_orderdb_put_arrival(d, &p));
    g = get(d, "P");
    QA_CHECK(g.arrival_time == 200 && g.arrival_price == 10.5);
    qa_orderdb_close(d);
}

static void test_open_orders_reopen(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/orders5.db", g_dir);
    qa_orderdb_t *d = dbopen(path);
    if (!d) return;
    /* One order per state, created in state order: new .. expired. */
    static const char *const ids[QA_OMS_STATE_COUNT] = {"o0", "o1", "o2", "o3", "o4", "o5", "o6", "o7"};
    QA_CHECK_OK(qa_orderdb_begin(d));
    for (int s = 0; s < QA_OMS_STATE_COUNT; s++) {
        qa_oms_order o = mk(ids[s], "P", "AAPL", 1, 10, QA_OMS_MARKET, s, 1, 100 + s);
        QA_CHECK_OK(qa_orderdb_put_order(d, &o));
    }
    QA_CHECK_OK(qa_orderdb_commit(d));
    /* A rolled-back write leaves nothing. */
    QA_CHECK_OK(qa_orderdb_begin(d));
    qa_oms_order x = mk("gone", "P", "AAPL", 1, 10, QA_OMS_MARKET, QA_OMS_NEW, 1, 50);
    QA_CHECK_OK(qa_orderdb_put_order(d, &x));
    qa_orderdb_rollback(d);
    qa_status st = QA_OK;
    qa_oms_order tmp;
    QA_CHECK(qa_orderdb_get_order(d, "gone", &tmp, &st) == 0);
    qa_orderdb_fill f = fill("o2#1", "o2", "AAPL", 1, 4, 10);
    QA_CHECK_OK(qa_orderdb_put_fill(d, &f, NULL));
    qa_oms_order o0 = mk("o0", "P", "AAPL", 1, 10, QA_OMS_MARKET, QA_OMS_NEW, 1, 100);
    QA_CHECK_OK(qa_orderdb_put_transition(d, &o0, -1, QA_OMS_EV_SUBMIT, NULL));

    /* Open: new, accepted, partially_filled, pending_cancel, by creation time. */
    static const char *const open_ids[4] = {"o0", "o1", "o2", "o4"};
    for (int pass = 0; pass < 2; pass++) {
        qa_oms_order *a = NULL;
        size_t n = 0;
        QA_CHECK_OK(qa_orderdb_open_orders(d, &a, &n));
        QA_CHECK_MSG(n == 4, "pass %d: %zu open orders", pass, n);
        for (size_t i = 0; i < n && i < 4; i++) {
            QA_CHECK_STR(a[i].clordid, open_ids[i]);
            QA_CHECK(!qa_oms_final((qa_oms_state)a[i].state));
        }
        free(a);
        counts(d, 8, 1, 1);
        double sh = 0;
        long long nf = 0;
        QA_CHECK_OK(qa_orderdb_position(d, "AAPL", &sh, &nf));
        QA_CHECK(sh == 4.0 && nf == 1);
        qa_oms_order g = get(d, "o3");
        QA_CHECK(g.state == QA_OMS_FILLED && g.created == 103 && g.version == 1);
        /* Reopen and look again. */
        qa_orderdb_close(d);
        d = dbopen(path);
        if (!d) return;
    }
    qa_orderdb_close(d);
    qa_orderdb_close(NULL);
}

static void test_format(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/venue.db", g_dir);
    qa_test_foreign_db(path, "quantumalpha.venue", "1");
    qa_orderdb_t *d = (qa_orderdb_t *)path; /* must stay as it is */
    QA_CHECK_ERR(qa_orderdb_open(path, &d), QA_ERR_FORMAT, "quantumalpha.orders");
    QA_CHECK(d == (qa_orderdb_t *)path);
    snprintf(path, sizeof path, "%s/orders_v2.db", g_dir);
    qa_test_foreign_db(path, "quantumalpha.orders", "2");
    QA_CHECK_ERR(qa_orderdb_open(path, &d), QA_ERR_FORMAT, "version");
}

/* The intent journal: kept writes reach SQLite through the journal when the process dies
 * before applying them; a torn batch is ignored whole; applied batches are harmless when
 * read again; a journal of another build is refused. */
static void journal_batch(qa_orderdb_t *d) {
    qa_oms_order p = mk("J-P", "", "AAA", 1, 100, QA_OMS_PARENT, QA_OMS_ACCEPTED, 2, 10);
    qa_oms_order c = mk("J-P.1", "J-P", "AAA", 1, 100, QA_OMS_MARKET, QA_OMS_NEW, 1, 10);
    qa_orderdb_defer(d);
    QA_CHECK_OK(qa_orderdb_put_order(d, &p));
    QA_CHECK_OK(qa_orderdb_put_transition(d, &p, QA_OMS_NEW, QA_OMS_EV_ACCEPTED, "a detail"));
    QA_CHECK_OK(qa_orderdb_put_order(d, &c));
    qa_orderdb_fill f = fill("J-P.1#1", "J-P.1", "AAA", 1, 40, 10.5);
    int added = 0;
    QA_CHECK_OK(qa_orderdb_put_fill(d, &f, &added));
    QA_CHECK_INT(added, 1);
    p.arrival_time = 60, p.arrival_price = 10.25;
    QA_CHECK_OK(qa_orderdb_put_arrival(d, &p));
    counts(d, 0, 0, 0); /* kept, not in SQLite */
    QA_CHECK_OK(qa_orderdb_write_ahead(d, 1));
}

static void test_journal(void) {
    char path[400], jpath[420];
    snprintf(path, sizeof path, "%s/journal.db", g_dir);
    snprintf(jpath, sizeof jpath, "%s.intents", path);
    /* killed after the write-ahead: the next open applies the batch */
    qa_orderdb_t *d = dbopen(path);
    journal_batch(d);
    qa_orderdb_close(d); /* never applied: as a kill would leave it */
    d = dbopen(path);
    counts(d, 2, 1, 1);
    qa_oms_order p = get(d, "J-P");
    QA_CHECK(p.arrival_time == 60 && p.arrival_price == 10.25 && p.state == QA_OMS_ACCEPTED);
    /* the normal path: applied in the caller's transaction; a reopen reads nothing new */
    qa_oms_order q = mk("J-Q", "", "BBB", -1, 50, QA_OMS_PARENT, QA_OMS_NEW, 1, 20);
    qa_orderdb_defer(d);
    QA_CHECK_OK(qa_orderdb_put_order(d, &q));
    QA_CHECK_OK(qa_orderdb_write_ahead(d, 0));
    QA_CHECK_OK(qa_orderdb_begin(d));
    QA_CHECK_OK(qa_orderdb_apply(d));
    QA_CHECK_OK(qa_orderdb_commit(d));
    qa_orderdb_journal_clear(d);
    counts(d, 3, 1, 1);
    qa_orderdb_close(d);
    d = dbopen(path);
    counts(d, 3, 1, 1);
    /* a torn batch (one byte of its payload changed) is ignored whole */
    qa_oms_order r = mk("J-R", "", "CCC", 1, 10, QA_OMS_PARENT, QA_OMS_NEW, 1, 30);
    qa_orderdb_defer(d);
    QA_CHECK_OK(qa_orderdb_put_order(d, &r));
    QA_CHECK_OK(qa_orderdb_write_ahead(d, 1));
    qa_orderdb_close(d);
    FILE *f = fopen(jpath, "r+b");
    QA_CHECK(f != NULL);
    if (f) {
        QA_CHECK(fseek(f, -8, SEEK_END) == 0);
        int ch = fgetc(f);
        QA_CHECK(fseek(f, -8, SEEK_END) == 0);
        fputc(ch ^ 0x55, f);
        fclose(f);
    }
    d = dbopen(path);
    counts(d, 3, 1, 1);
    qa_oms_order none;
    qa_status st = QA_OK;
    QA_CHECK_INT(qa_orderdb_get_order(d, "J-R", &none, &st), 0);
    qa_orderdb_close(d);
    /* a journal of another build */
    f = fopen(jpath, "wb");
    QA_CHECK(f != NULL);
    if (f) {
        const uint32_t h[4] = {0x31524f51u, 1, 2, 0};
        fwrite(h, sizeof h, 1, f);
        fclose(f);
    }
    qa_orderdb_t *bad = NULL;
    QA_CHECK_ERR(qa_orderdb_open(path, &bad), QA_ERR_FORMAT, "not an order journal of this build");
}

int main(void) {
    if (qa_test_tmpdir(g_dir, sizeof g_dir, "orderdb")) {
        printf("cannot make a temporary directory\n");
        return 1;
    }
    QA_RUN(test_put_order);
    QA_RUN(test_transitions);
    QA_RUN(test_fills_positions);
    QA_RUN(test_arrival);
    QA_RUN(test_open_orders_reopen);
    QA_RUN(test_format);
    QA_RUN(test_journal);
    qa_test_rmtree(g_dir);
    return qa_test_finish();
}
