/* The paper venue (live/venue.h): matching on bars in market time (the first bar after the
 * order, latency, market and limit prices, participation in whole shares, slippage, fees,
 * fill probability, DAY expiry), idempotent requests (submit, cancel, replace, advance),
 * events by time range, durability across close and reopen, and the format check. Every
 * expected price, quantity and fee is worked out by hand in the comments. */
#include <math.h>    /* NAN, isnan */
#include <stdint.h>  /* INT64_MIN, INT64_MAX */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* free */
#include <string.h>  /* strcmp, strstr, memset */

#include "harness.h"
#include "store_test.h" /* a database of another format */
#include "live/venue.h"

static char g_dir[256];
static int g_files;

/* A fresh venue file in the test directory. */
static qa_venue_t *vopen_path(const char *path, const qa_venue_cfg *c) {
    qa_venue_t *v = NULL;
    qa_status st = qa_venue_open(path, c, &v);
    QA_CHECK_MSG(st == QA_OK && v, "open %s: %s", path, qa_err_msg());
    return v;
}

static qa_venue_t *vopen(const qa_venue_cfg *c, char path[512]) {
    snprintf(path, 512, "%s/venue%d.db", g_dir, g_files++);
    return vopen_path(path, c);
}

static qa_venue_cfg cfg_part(double participation) {
    qa_venue_cfg c;
    qa_venue_cfg_default(&c);
    c.participation = participation;
    c.durable = 0; /* the test does not need fsyncs */
    return c;
}

static qa_venue_order mk(const char *id, const char *sym, int side, double qty, int limit, double price, int day,
                         int64_t time) {
    qa_venue_order o;
    memset(&o, 0, sizeof o);
    snprintf(o.clordid, sizeof o.clordid, "%s", id);
    snprintf(o.symbol, sizeof o.symbol, "%s", sym);
    o.side = side, o.qty = qty, o.limit = limit, o.price = price, o.day = day, o.time = time;
    return o;
}

static qa_order_bar bar(double open, double high, double low, double close, double volume) {
    return (qa_order_bar){open, high, low, close, volume};
}

/* Submits and expects NEW. */
static void submit_ok(qa_venue_t *v, qa_venue_order o) {
    qa_venue_event r;
    QA_CHECK_OK(qa_venue_submit(v, &o, &r));
    QA_CHECK_MSG(r.kind == QA_VENUE_EV_NEW, "submit %s: %s (%s)", o.clordid, qa_venue_ev_names[r.kind], r.reason);
}

/* One bar of one symbol. */
static void adv1(qa_venue_t *v, int64_t t, const char *sym, qa_order_bar b) {
    const char *syms[1] = {sym};
    QA_CHECK_OK(qa_venue_advance(v, t, 1, syms, &b));
}

static size_t events(qa_venue_t *v, int64_t from, int64_t to, qa_venue_event **e) {
    size_t n = 0;
    *e = NULL;
    QA_CHECK_OK(qa_venue_events(v, from, to, e, &n));
    return n;
}

/* One order's row of qa_venue_orders (all orders); 0 when absent. */
static int order_of(qa_venue_t *v, const char *id, qa_venue_event *out) {
    qa_venue_event *a = NULL;
    size_t n = 0;
    QA_CHECK_OK(qa_venue_orders(v, 0, &a, &n));
    int found = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(a[i].clordid, id) == 0) *out = a[i], found++;
    free(a);
    QA_CHECK_MSG(found <= 1, "%s listed %d times", id, found);
    return found;
}

static size_t count_orders(qa_venue_t *v, int open_only) {
    qa_venue_event *a = NULL;
    size_t n = 0;
    QA_CHECK_OK(qa_venue_orders(v, open_only, &a, &n));
    free(a);
    return n;
}

/* A fill event as expected. */
static void check_fill(const qa_venue_event *e, const char *trade_id, int64_t t, double qty, double price, double cum,
                       double leaves) {
    QA_CHECK_MSG(e->kind == QA_VENUE_EV_FILL, "kind %d, expected a fill (%s)", e->kind, trade_id);
    QA_CHECK_STR(e->trade_id, trade_id);
    QA_CHECK_INT(e->time, t);
    QA_CHECK_MSG(e->qty == qty, "%s: qty %.17g, expected %g", trade_id, e->qty, qty);
    QA_CHECK_NEAR(e->price, price, 0, 1e-15);
    QA_CHECK_MSG(e->cum == cum && e->leaves == leaves, "%s: cum %g leaves %g, expected %g %g", trade_id, e->cum,
                 e->leaves, cum, leaves);
}

static int same_double(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

static int same_event(const qa_venue_event *a, const qa_venue_event *b) {
    return a->kind == b->kind && strcmp(a->clordid, b->clordid) == 0 && strcmp(a->trade_id, b->trade_id) == 0 &&
           strcmp(a->symbol, b->symbol) == 0 && a->side == b->side && a->time == b->time && same_double(a->qty, b->qty) &&
           same_double(a->price, b->price) && same_double(a->fee, b->fee) && same_double(a->cum, b->cum) &&
           same_double(a->avg_price, b->avg_price) && same_double(a->leaves, b->leaves) &&
           same_double(a->bar_volume, b->bar_volume) && strcmp(a->reason, b->reason) == 0;
}

/* ---- matching ------------------------------------------------------------------------------ */

static void test_market_next_bar(void) {
    qa_venue_cfg c = cfg_part(0.0); /* no cap: the whole order at once */
    char path[512];
    qa_venue_t *v = vopen(&c, path);
    QA_CHECK(qa_venue_clock(v) == INT64_MIN);
    submit_ok(v, mk("A", "AAPL", 1, 100, 0, 0, 0, 100));
    /* The bar of the order's own time is not tradeable for it. */
    adv1(v, 100, "AAPL", bar(10, 12, 9, 11, 1000));
    qa_venue_event *e;
    QA_CHECK_INT(events(v, INT64_MIN, INT64_MAX, &e), 0);
    free(e);
    QA_CHECK_INT(count_orders(v, 1), 1);
    /* A bar of another symbol does not touch it. */
    adv1(v, 150, "MSFT", bar(50, 50, 50, 50, 1000));
    QA_CHECK_INT(events(v, INT64_MIN, INT64_MAX, &e), 0);
    free(e);
    /* The first bar after: all 100 at its open, 10.5. */
    adv1(v, 200, "AAPL", bar(10.5, 12, 9, 11, 1000));
    QA_CHECK_INT(events(v, INT64_MIN, INT64_MAX, &e), 1);
    check_fill(&e[0], "A#1", 200, 100, 10.5, 100, 0);
    QA_CHECK(e[0].side == 1 && strcmp(e[0].symbol, "AAPL") == 0 && e[0].bar_volume == 1000.0 && e[0].fee == 0.0);
    QA_CHECK(e[0].avg_price == 10.5);
    free(e);
    QA_CHECK_INT(count_orders(v, 1), 0);
    qa_venue_event o;
    QA_CHECK(order_of(v, "A", &o) && strcmp(o.reason, "filled") == 0 && o.cum == 100 && o.leaves == 0);
    QA_CHECK_INT(qa_venue_clock(v), 200);
    qa_venue_close(v);
}

static void test_participation(void) {
    qa_venue_cfg c = cfg_part(0.1);
    char path[512];
    qa_venue_t *v = vopen(&c, path);
    submit_ok(v, mk("A", "AAPL", 1, 100, 0, 0, 0, 100));
    /* 0.1 x 300 = 30 at 10; 0.1 x 305 = 30.5 -> 30 at 11; 0.1 x 5 = 0.5 -> 0 (no fill);
     * 0.1 x 300 = 30 at 12; then the last 10 at 13 of a 300-share bar. */
    adv1(v, 200, "AAPL", bar(10, 10, 10, 10, 300));
    adv1(v, 300, "AAPL", bar(11, 11, 11, 11, 305));
    adv1(v, 350, "AAPL", bar(11.5, 11.5, 11.5, 11.5, 5));
    adv1(v, 400, "AAPL", bar(12, 12, 12, 12, 300));
    adv1(v, 500, "AAPL", bar(13, 13, 13, 13, 300));
    adv1(v, 600, "AAPL", bar(14, 14, 14, 14, 300)); /* filled: nothing more */
    qa_venue_event *e;
    size_t n = events(v, INT64_MIN, INT64_MAX, &e);
    QA_CHECK_INT(n, 4);
    if (n == 4) {
        check_fill(&e[0], "A#1", 200, 30, 10, 30, 70);
        check_fill(&e[1], "A#2", 300, 30, 11, 60, 40);
        check_fill(&e[2], "A#3", 400, 30, 12, 90, 10);
        check_fill(&e[3], "A#4", 500, 10, 13, 100, 0);
        /* Average (300 + 330 + 360 + 130) / 100 = 11.2. */
        QA_CHECK_NEAR(e[3].avg_price, 11.2, 0, 4e-16);
        QA_CHECK_NEAR(e[1].avg_price, 10.5, 0, 2e-16);
        QA_CHECK(e[1].bar_volume == 305.0);
    }
    free(e);
    size_t nf = 0;
    QA_CHECK_OK(qa_venue_fills(v, "A", &e, &nf));
    QA_CHECK_INT(nf, 4);
    free(e);
    qa_venue_close(v);
}

/* Whole shares are taken by hand: 0.57 x 100 = 57 and 0.29 x 100 = 29. In binary the
 * products are 56.99999999999999 and 28.999999999999996; a plain floor gives one share less. */
static void test_participation_whole_shares(void) {
    static const double part[2] = {0.57, 0.29}, want[2] = {57, 29};
    for (int k = 0; k < 2; k++) {
        qa_venue_cfg c = cfg_part(part[k]);
        char path[512];
        qa_venue_t *v = vopen(&c, path);
        submit_ok(v, mk("A", "AAPL", 1, 1000, 0, 0, 0, 100));
        adv1(v, 200, "AAPL", bar(10, 10, 10, 10, 100));
        qa_venue_event *e;
        size_t n = events(v, INT64_MIN, INT64_MAX, &e);
        QA_CHECK_INT(n, 1);
        if (n == 1) QA_CHECK_MSG(e[0].qty == want[k], "participation %g of 100 shares: filled %g, expected %g", part[k],
                                 e[0].qty, want[k]);
        free(e);
        qa_venue_close(v);
    }
}

static void test_limit_prices(void) {
    qa_venue_cfg c = cfg_part(0.0);
    char path[512];
    qa_venue_t *v = vopen(&c, path);
    /* Limit 10 everywhere; one symbol per case so one bar each at t = 200. */
    static const char *const syms[] = {"B1", "B2", "B3", "B4", "B5", "S1", "S2", "S3", "S4"};
    static const int sides[] = {1, 1, 1, 1, 1, -1, -1, -1, -1};
    const qa_order_bar bars[] = {
        bar(9.5, 10.2, 9.4, 10, 1000),   /* buy: open 9.5 <= 10 -> 9.5 */
        bar(10.5, 10.6, 9.8, 10, 1000),  /* buy: open above, low 9.8 <= 10 -> 10 */
        bar(10.5, 10.6, 10.2, 10.4, 1000), /* buy: low 10.2 > 10 -> no fill */
        bar(10, 10.6, 9.9, 10, 1000),    /* buy: open == limit -> 10 (at the open) */
        bar(10.3, 10.6, 10, 10.1, 1000), /* buy: low == limit -> 10 */
        bar(10.5, 10.6, 9.8, 10, 1000),  /* sell: open 10.5 >= 10 -> 10.5 */
        bar(9.5, 10.2, 9.4, 9.6, 1000),  /* sell: open below, high 10.2 >= 10 -> 10 */
        bar(9.5, 9.8, 9.4, 9.6, 1000),   /* sell: high 9.8 < 10 -> no fill */
        bar(9.9, 10, 9.4, 9.6, 1000),    /* sell: high == limit -> 10 */
    };
    static const double want[] = {9.5, 10, NAN, 10, 10, 10.5, 10, NAN, 10};
    for (int i = 0; i < 9; i++) {
        char id[16];
        snprintf(id, sizeof id, "L%d", i);
        submit_ok(v, mk(id, syms[i], sides[i], 100, 1, 10.0, 0, 100));
    }
    QA_CHECK_OK(qa_venue_advance(v, 200, 9, syms, bars));
    for (int i = 0; i < 9; i++) {
        char id[16], tid[20];
        snprintf(id, sizeof id, "L%d", i);
        snprintf(tid, sizeof tid, "L%d#1", i);
        qa_venue_event *e = NULL;
        size_t n = 0;
        QA_CHECK_OK(qa_venue_fills(v, id, &e, &n));
        if (isnan(want[i])) {
            QA_CHECK_MSG(n == 0, "%s (%s): %zu fills, expected none", id, syms[i], n);
            qa_venue_event o;
            QA_CHECK(order_of(v, id, &o) && strcmp(o.reason, "working") == 0);
        } else {
            QA_CHECK_MSG(n == 1, "%s (%s): %zu fills, expected 1", id, syms[i], n);
            if (n == 1) {
                check_fill(&e[0], tid, 200, 100, want[i], 100, 0);
                QA_CHECK_INT(e[0].side, sides[i]);
            }
        }
        free(e);
    }
    qa_venue_close(v);
}

static void test_slippage_fees(void) {
    qa_venue_cfg c = cfg_part(0.0);
    c.slippage_bps = 10.0; /* 0.1% against the order */
    c.fee_bps = 5.0;       /* 0.05% of the notional */
    char path[512];
    qa_venue_t *v = vopen(&c, path);
    submit_ok(v, mk("B", "AAPL", 1, 100, 0, 0, 0, 100));
    submit_ok(v, mk("S", "MSFT", -1, 200, 0, 0, 0, 100));
    const char *syms[2] = {"AAPL", "MSFT"};
    const qa_order_bar bars[2] = {bar(50, 51, 49, 50, 1e6), bar(20, 21, 19, 20, 1e6)};
    QA_CHECK_OK(qa_venue_advance(v, 200, 2, syms, bars));
    qa_venue_event *e;
    size_t n = events(v, INT64_MIN, INT64_MAX, &e);
    QA_CHECK_INT(n, 2);
    if (n == 2) {
        /* Buy 100 at 50 x 1.001 = 50.05; fee 0.0005 x 100 x 50.05 = 2.5025.
         * Sell 200 at 20 x 0.999 = 19.98; fee 0.0005 x 200 x 19.98 = 1.998. Budget: the
         * price is 3 roundings of 1.1e-16 (bps x 1e-4, 1 + that, x open), the fee 3 more on
         * top: 1e-15 and 2e-15 relative. */
        check_fill(&e[0], "B#1", 200, 100, 50.05, 100, 0);
        QA_CHECK_NEAR(e[0].fee, 2.5025, 0, 2e-15);
        check_fill(&e[1], "S#1", 200, 200, 19.98, 200, 0);
        QA_CHECK_INT(e[1].side, -1);
        QA_CHECK_NEAR(e[1].fee, 1.998, 0, 2e-15);
    }
    free(e);
    qa_venue_close(v);
}

static void test_latency(void) {
    qa_venue_cfg c = cfg_part(0.0);
    c.latency_ns = 50;
    char path[512];
    qa_venue_t *v = vopen(&c, path);
    submit_ok(v, mk("A", "AAPL", 1, 100, 0, 0, 0, 100));
    submit_ok(v, mk("D", "AAPL", 1, 100, 1, 5.0, 1, 100)); /* DAY limit far below: expires when eligible */
    adv1(v, 120, "AAPL", bar(10, 10, 10, 10, 1000)); /* 20 ns after: not at the venue yet */
    adv1(v, 149, "AAPL", bar(11, 11, 11, 11, 1000)); /* 49 ns */
    qa_venue_event *e;
    QA_CHECK_INT(events(v, INT64_MIN, INT64_MAX, &e), 0);
    free(e);
    QA_CHECK_INT(count_orders(v, 1), 2);
    adv1(v, 150, "AAPL", bar(12, 12, 12, 12, 1000)); /* time + latency: eligible */
    size_t n = events(v, INT64_MIN, INT64_MAX, &e);
    QA_CHECK_INT(n, 2);
    if (n == 2) {
        check_fill(&e[0], "A#1", 150, 100, 12, 100, 0);
        QA_CHECK(e[1].kind == QA_VENUE_EV_EXPIRED && strcmp(e[1].clordid, "D") == 0 && e[1].time == 150);
    }
    free(e);
    qa_venue_close(v);
}

static void test_day_expiry(void) {
    qa_venue_cfg c = cfg_part(0.1);
    char path[512];
    qa_venue_t *v = vopen(&c, path);
    submit_ok(v, mk("D1", "AAPL", 1, 100, 0, 0, 1, 100));    /* DAY market: 30 then the rest expires */
    submit_ok(v, mk("D2", "AAPL", 1, 100, 1, 5.0, 1, 100));  /* DAY limit not reached: expires, nothing filled */
    submit_ok(v, mk("G", "AAPL", 1, 100, 1, 5.0, 0, 100));   /* GTC limit not reached: works on */
    adv1(v, 100, "AAPL", bar(10, 10, 10, 10, 300)); /* their own bar: not eligible, no expiry */
    QA_CHECK_INT(count_orders(v, 1), 3);
    adv1(v, 200, "AAPL", bar(10, 10, 10, 10, 300));
    qa_venue_event *e;
    size_t n = events(v, INT64_MIN, INT64_MAX, &e);
    QA_CHECK_INT(n, 3);
    if (n == 3) {
        check_fill(&e[0], "D1#1", 200, 30, 10, 30, 70);
        QA_CHECK(e[1].kind == QA_VENUE_EV_EXPIRED && strcmp(e[1].clordid, "D1") == 0 && e[1].cum == 30 &&
                 e[1].leaves == 0 && e[1].time == 200);
        QA_CHECK(e[2].kind == QA_VENUE_EV_EXPIRED && strcmp(e[2].clordid, "D2") == 0 && e[2].cum == 0 &&
                 e[2].leaves == 0);
    }
    free(e);
    qa_venue_event o;
    QA_CHECK(order_of(v, "D1", &o) && strcmp(o.reason, "expired") == 0 && o.cum == 30);
    QA_CHECK(order_of(v, "G", &o) && strcmp(o.reason, "working") == 0);
    QA_CHECK_INT(count_orders(v, 1), 1);
    adv1(v, 300, "AAPL", bar(10, 10, 10, 10, 300)); /* the expired D1 does not fill again */
    size_t nf = 0;
    QA_CHECK_OK(qa_venue_fills(v, "D1", &e, &nf));
    QA_CHECK_INT(nf, 1);
    free(e);
    qa_venue_close(v);
}

static void test_fill_prob(void) {
    /* 0: never, over 20 eligible bars. */
    qa_venue_cfg c = cfg_part(0.1);
    c.fill_prob = 0.0;
    char path[512];
    qa_venue_t *v = vopen(&c, path);
    submit_ok(v, mk("A", "AAPL", 1, 50, 0, 0, 0, 100));
    for (int64_t t = 200; t <= 2100; t += 100) adv1(v, t, "AAPL", bar(10, 10, 10, 10, 100));
    qa_venue_event *e;
    QA_CHECK_INT(events(v, INT64_MIN, INT64_MAX, &e), 0);
    free(e);
    qa_venue_event o;
    QA_CHECK(order_of(v, "A", &o) && strcmp(o.reason, "working") == 0 && o.cum == 0);
    qa_venue_close(v);
    /* 1: every bar, 10 shares each, 5 bars for 50. */
    c.fill_prob = 1.0;
    v = vopen(&c, path);
    submit_ok(v, mk("A", "AAPL", 1, 50, 0, 0, 0, 100));
    for (int64_t t = 200; t <= 600; t += 100) adv1(v, t, "AAPL", bar(10, 10, 10, 10, 100));
    size_t n = events(v, INT64_MIN, INT64_MAX, &e);
    QA_CHECK_INT(n, 5);
    for (size_t i = 0; i < n && i < 5; i++) QA_CHECK(e[i].qty == 10 && e[i].time == 200 + 100 * (int64_t)i);
    free(e);
    qa_venue_close(v);
    /* 0.5: deterministic (two venues with the same seed agree draw for draw) and about half
     * of 40 bars fill (Binomial(40, 1/2): 8..32 is 3.8 standard deviations either side). */
    c.fill_prob = 0.5;
    c.seed = 7;
    char p2[512];
    qa_venue_t *v1 = vopen(&c, path), *v2 = vopen(&c, p2);
    submit_ok(v1, mk("H", "AAPL", 1, 100000, 0, 0, 0, 100));
    submit_ok(v2, mk("H", "AAPL", 1, 100000, 0, 0, 0, 100));
    for (int64_t t = 200; t < 200 + 40 * 100; t += 100) {
        adv1(v1, t, "AAPL", bar(10, 10, 10, 10, 100));
        adv1(v2, t, "AAPL", bar(10, 10, 10, 10, 100));
    }
    qa_venue_event *e2;
    size_t n1 = events(v1, INT64_MIN, INT64_MAX, &e), n2 = events(v2, INT64_MIN, INT64_MAX, &e2);
    QA_CHECK_INT(n1, n2);
    for (size_t i = 0; i < n1 && i < n2; i++) QA_CHECK(same_event(&e[i], &e2[i]));
    QA_CHECK_MSG(n1 >= 8 && n1 <= 32, "%zu of 40 bars filled at fill_prob 0.5", n1);
    free(e), free(e2);
    qa_venue_close(v1), qa_venue_close(v2);
}

/* ---- idempotent requests ------------------------------------------------------------------- */

static void test_submit_idempotent(void) {
    qa_venue_cfg c = cfg_part(0.1);
    char path[512];
    qa_venue_t *v = vopen(&c, path);
    qa_venue_order a = mk("A", "AAPL", 1, 100, 1, 11.0, 0, 100);
    qa_venue_event r1, r2;
    QA_CHECK_OK(qa_venue_submit(v, &a, &r1));
    QA_CHECK_OK(qa_venue_submit(v, &a, &r2));
    QA_CHECK(r1.kind == QA_VENUE_EV_NEW && r2.kind == QA_VENUE_EV_NEW);
    QA_CHECK(r2.leaves == 100 && strcmp(r2.clordid, "A") == 0);
    QA_CHECK_INT(count_orders(v, 0), 1);
    /* Same id, other fields: refused, the order unchanged. */
    qa_venue_order b = a;
    b.qty = 200;
    QA_CHECK_OK(qa_venue_submit(v, &b, &r1));
    QA_CHECK_MSG(r1.kind == QA_VENUE_EV_REJECTED && strstr(r1.reason, "duplicate"), "%d %s", r1.kind, r1.reason);
    b = a, b.price = 11.5;
    QA_CHECK_OK(qa_venue_submit(v, &b, &r1));
    QA_CHECK(r1.kind == QA_VENUE_EV_REJECTED);
    b = a, b.time = 101;
    QA_CHECK_OK(qa_venue_submit(v, &b, &r1));
    QA_CHECK(r1.kind == QA_VENUE_EV_REJECTED);
    QA_CHECK_INT(count_orders(v, 0), 1);
    /* After a partial fill the repeat still answers NEW and changes nothing. */
    adv1(v, 200, "AAPL", bar(10, 10, 10, 10, 300));
    QA_CHECK_OK(qa_venue_submit(v, &a, &r1));
    QA_CHECK(r1.kind == QA_VENUE_EV_NEW);
    qa_venue_event o;
    QA_CHECK(order_of(v, "A", &o) && o.cum == 30 && o.leaves == 70);
    QA_CHECK_INT(count_orders(v, 0), 1);
    /* Invalid orders: refused, nothing stored. */
    b = mk("X", "AAPL", 1, 10.5, 0, 0, 0, 100);
    QA_CHECK_OK(qa_venue_submit(v, &b, &r1));
    QA_CHECK(r1.kind == QA_VENUE_EV_REJECTED && strstr(r1.reason, "whole shares"));
    b = mk("X", "AAPL", 0, 10, 0, 0, 0, 100);
    QA_CHECK_OK(qa_venue_submit(v, &b, &r1));
    QA_CHECK(r1.kind == QA_VENUE_EV_REJECTED);
    b = mk("X", "AAPL", 1, 10, 1, 0.0, 0, 100);
    QA_CHECK_OK(qa_venue_submit(v, &b, &r1));
    QA_CHECK(r1.kind == QA_VENUE_EV_REJECTED);
    QA_CHECK_INT(count_orders(v, 0), 1);
    qa_venue_close(v);
}

static void test_cancel(void) {
    qa_venue_cfg c = cfg_part(0.1);
    char path[512];
    qa_venue_t *v = vopen(&c, path);
    submit_ok(v, mk("A", "AAPL", 1, 100, 0, 0, 0, 100));
    submit_ok(v, mk("F", "MSFT", 1, 10, 0, 0, 0, 100));
    const char *syms[2] = {"AAPL", "MSFT"};
    const qa_order_bar bars[2] = {bar(10, 10, 10, 10, 300), bar(20, 20, 20, 20, 1000)};
    QA_CHECK_OK(qa_venue_advance(v, 200, 2, syms, bars)); /* A: 30 of 100; F: all 10 */
    qa_venue_event r;
    QA_CHECK_OK(qa_venue_cancel(v, "A", 250, &r));
    QA_CHECK(r.kind == QA_VENUE_EV_CANCELLED && r.cum == 30 && r.leaves == 0 && r.avg_price == 10 && r.time == 250);
    /* The same request again: the same answer. */
    memset(&r, 0, sizeof r);
    QA_CHECK_OK(qa_venue_cancel(v, "A", 250, &r));
    QA_CHECK(r.kind == QA_VENUE_EV_CANCELLED && r.cum == 30 && r.leaves == 0 && strcmp(r.clordid, "A") == 0);
    /* Another cancel later: too late. */
    QA_CHECK_OK(qa_venue_cancel(v, "A", 260, &r));
    QA_CHECK_MSG(r.kind == QA_VENUE_EV_REJECTED && strstr(r.reason, "too late"), "%d %s", r.kind, r.reason);
    /* A filled order cannot be cancelled. */
    QA_CHECK_OK(qa_venue_cancel(v, "F", 250, &r));
    QA_CHECK_MSG(r.kind == QA_VENUE_EV_REJECTED && strstr(r.reason, "too late") && strstr(r.reason, "filled"), "%d %s",
                 r.kind, r.reason);
    QA_CHECK_OK(qa_venue_cancel(v, "NOPE", 250, &r));
    QA_CHECK(r.kind == QA_VENUE_EV_REJECTED && strstr(r.reason, "unknown"));
    /* The cancelled rest never fills. */
    QA_CHECK_OK(qa_venue_advance(v, 300, 2, syms, bars));
    size_t nf = 0;
    qa_venue_event *e;
    QA_CHECK_OK(qa_venue_fills(v, "A", &e, &nf));
    QA_CHECK_INT(nf, 1);
    free(e);
    qa_venue_event o;
    QA_CHECK(order_of(v, "A", &o) && strcmp(o.reason, "cancelled") == 0 && o.cum == 30 && o.leaves == 0 && o.time == 250);
    qa_venue_close(v);
}

/* live/venue.h: the replacement is accepted for its own quantity, more or less than what
 * was left, and queues as a new order (time, eligibility and fills its own). */
static void test_replace(void) {
    qa_venue_cfg c = cfg_part(0.1);
    char path[512];
    qa_venue_t *v = vopen(&c, path);
    submit_ok(v, mk("A", "AAPL", 1, 100, 0, 0, 0, 100));
    submit_ok(v, mk("B", "AAPL", 1, 100, 0, 0, 0, 100));
    adv1(v, 200, "AAPL", bar(10, 10, 10, 10, 300)); /* A and B: 30 filled each, 70 left */
    qa_venue_event r, o;
    /* Another side, another symbol, an id in use: refused, A works on. */
    qa_venue_order bad = mk("A.2", "AAPL", -1, 50, 0, 0, 0, 250);
    QA_CHECK_OK(qa_venue_replace(v, "A", &bad, &r));
    QA_CHECK_MSG(r.kind == QA_VENUE_EV_REJECTED && strstr(r.reason, "side"), "%d %s", r.kind, r.reason);
    bad = mk("A.2", "MSFT", 1, 50, 0, 0, 0, 250);
    QA_CHECK_OK(qa_venue_replace(v, "A", &bad, &r));
    QA_CHECK(r.kind == QA_VENUE_EV_REJECTED);
    bad = mk("B", "AAPL", 1, 50, 0, 0, 0, 250);
    QA_CHECK_OK(qa_venue_replace(v, "A", &bad, &r));
    QA_CHECK_MSG(r.kind == QA_VENUE_EV_REJECTED && strstr(r.reason, "duplicate"), "%d %s", r.kind, r.reason);
    QA_CHECK(order_of(v, "A", &o) && strcmp(o.reason, "working") == 0 && o.cum == 30);
    QA_CHECK(!order_of(v, "A.2", &o));
    /* A: 50 (less than the 70 left, a limit at 12). A's rest is cancelled as replaced, A.2
     * works for 50. */
    qa_venue_order a2 = mk("A.2", "AAPL", 1, 50, 1, 12.0, 0, 250);
    QA_CHECK_OK(qa_venue_replace(v, "A", &a2, &r));
    QA_CHECK_MSG(r.kind == QA_VENUE_EV_REPLACED && r.cum == 30 && r.leaves == 0 && strcmp(r.clordid, "A") == 0, "%d %s",
                 r.kind, r.reason);
    /* Again: the same answer, still one A.2. */
    memset(&r, 0, sizeof r);
    QA_CHECK_OK(qa_venue_replace(v, "A", &a2, &r));
    QA_CHECK(r.kind == QA_VENUE_EV_REPLACED && r.cum == 30 && strcmp(r.clordid, "A") == 0);
    /* B: 90, more than the 70 left: accepted too. */
    qa_venue_order b2 = mk("B.2", "AAPL", 1, 90, 0, 0, 0, 250);
    QA_CHECK_OK(qa_venue_replace(v, "B", &b2, &r));
    QA_CHECK(r.kind == QA_VENUE_EV_REPLACED && r.cum == 30);
    QA_CHECK_INT(count_orders(v, 0), 4);
    QA_CHECK_INT(count_orders(v, 1), 2);
    QA_CHECK(order_of(v, "A", &o) && strcmp(o.reason, "replaced") == 0 && o.cum == 30 && o.leaves == 0 && o.time == 250);
    QA_CHECK(order_of(v, "A.2", &o) && strcmp(o.reason, "working") == 0 && o.qty == 50 && o.cum == 0 && o.leaves == 50);
    QA_CHECK(order_of(v, "B.2", &o) && strcmp(o.reason, "working") == 0 && o.qty == 90 && o.leaves == 90);
    /* A cancel or a second replace of the replaced order is too late. */
    QA_CHECK_OK(qa_venue_cancel(v, "A", 260, &r));
    QA_CHECK(r.kind == QA_VENUE_EV_REJECTED && strstr(r.reason, "too late"));
    qa_venue_order a3 = mk("A.3", "AAPL", 1, 10, 0, 0, 0, 260);
    QA_CHECK_OK(qa_venue_replace(v, "A", &a3, &r));
    QA_CHECK(r.kind == QA_VENUE_EV_REJECTED && strstr(r.reason, "too late"));
    /* The next bar: A.2 takes 30 at the open 11 (<= 12), then B.2 30 at 11; A and B nothing. */
    adv1(v, 300, "AAPL", bar(11, 11, 11, 11, 300));
    qa_venue_event *e;
    size_t n = events(v, 200, 300, &e);
    QA_CHECK_INT(n, 2);
    if (n == 2) {
        check_fill(&e[0], "A.2#1", 300, 30, 11, 30, 20);
        check_fill(&e[1], "B.2#1", 300, 30, 11, 30, 60);
    }
    free(e);
    qa_venue_close(v);
}

static void test_advance_idempotent(void) {
    qa_venue_cfg c = cfg_part(0.1);
    char path[512];
    qa_venue_t *v = vopen(&c, path);
    submit_ok(v, mk("A", "AAPL", 1, 100, 0, 0, 0, 100));
    adv1(v, 200, "AAPL", bar(10, 10, 10, 10, 300));
    adv1(v, 200, "AAPL", bar(10, 10, 10, 10, 300)); /* the same bar again */
    adv1(v, 150, "AAPL", bar(10, 10, 10, 10, 300)); /* an older bar */
    qa_venue_event *e;
    size_t n = events(v, INT64_MIN, INT64_MAX, &e);
    QA_CHECK_INT(n, 1);
    free(e);
    qa_venue_event o;
    QA_CHECK(order_of(v, "A", &o) && o.cum == 30);
    QA_CHECK_INT(qa_venue_clock(v), 200);
    qa_venue_close(v);
}

static void test_events_range(void) {
    qa_venue_cfg c = cfg_part(0.1);
    char path[512];
    qa_venue_t *v = vopen(&c, path);
    submit_ok(v, mk("A", "X", 1, 100, 0, 0, 0, 100));
    submit_ok(v, mk("D", "Y", -1, 100, 1, 99.0, 1, 100)); /* DAY sell limit 99, never reached */
    const char *syms[2] = {"X", "Y"};
    const qa_order_bar bars[2] = {bar(10, 10, 10, 10, 300), bar(50, 51, 49, 50, 1000)};
    for (int64_t t = 200; t <= 500; t += 100) QA_CHECK_OK(qa_venue_advance(v, t, 2, syms, bars));
    qa_venue_event *e;
    /* (100, 200]: A#1 then D's expiry (X's bar comes first in the advance). */
    size_t n = events(v, 100, 200, &e);
    QA_CHECK_INT(n, 2);
    if (n == 2) {
        check_fill(&e[0], "A#1", 200, 30, 10, 30, 70);
        QA_CHECK(e[1].kind == QA_VENUE_EV_EXPIRED && strcmp(e[1].clordid, "D") == 0 && e[1].time == 200);
    }
    free(e);
    /* (200, 400]: exactly A#2 and A#3 (200 excluded, 400 included). */
    n = events(v, 200, 400, &e);
    QA_CHECK_INT(n, 2);
    if (n == 2) {
        check_fill(&e[0], "A#2", 300, 30, 10, 60, 40);
        check_fill(&e[1], "A#3", 400, 30, 10, 90, 10);
    }
    free(e);
    n = events(v, 399, 400, &e);
    QA_CHECK(n == 1 && strcmp(e[0].trade_id, "A#3") == 0);
    free(e);
    n = events(v, 400, 500, &e);
    QA_CHECK(n == 1 && strcmp(e[0].trade_id, "A#4") == 0 && e[0].qty == 10);
    free(e);
    QA_CHECK_INT(events(v, 500, 1000, &e), 0);
    free(e);
    QA_CHECK_INT(events(v, INT64_MIN, 199, &e), 0);
    free(e);
    QA_CHECK_INT(events(v, INT64_MIN, INT64_MAX, &e), 5);
    free(e);
    qa_venue_close(v);
}

/* ---- durability and format ----------------------------------------------------------------- */

static void test_reopen(void) {
    qa_venue_cfg c = cfg_part(0.1);
    c.durable = 1;
    char path[512];
    qa_venue_t *v = vopen(&c, path);
    submit_ok(v, mk("A", "AAPL", 1, 100, 0, 0, 0, 100));   /* partially filled */
    submit_ok(v, mk("L", "AAPL", 1, 100, 1, 5.0, 0, 100)); /* working, untouched */
    submit_ok(v, mk("F", "AAPL", -1, 20, 0, 0, 0, 100));   /* filled */
    submit_ok(v, mk("C", "AAPL", 1, 10, 0, 0, 0, 100));    /* cancelled */
    qa_venue_event r;
    QA_CHECK_OK(qa_venue_cancel(v, "C", 150, &r));
    adv1(v, 200, "AAPL", bar(10, 10, 10, 10, 300));
    qa_venue_event *o1, *e1, *o2, *e2;
    size_t no1 = 0, ne1 = 0, no2 = 0, ne2 = 0;
    QA_CHECK_OK(qa_venue_orders(v, 0, &o1, &no1));
    QA_CHECK_OK(qa_venue_events(v, INT64_MIN, INT64_MAX, &e1, &ne1));
    QA_CHECK_INT(no1, 4);
    QA_CHECK_INT(ne1, 2); /* A#1 30 and F#1 20 */
    qa_venue_close(v);

    v = vopen_path(path, &c);
    if (!v) return;
    QA_CHECK_OK(qa_venue_orders(v, 0, &o2, &no2));
    QA_CHECK_OK(qa_venue_events(v, INT64_MIN, INT64_MAX, &e2, &ne2));
    QA_CHECK_INT(no2, no1);
    QA_CHECK_INT(ne2, ne1);
    for (size_t i = 0; i < no1 && i < no2; i++) QA_CHECK_MSG(same_event(&o1[i], &o2[i]), "order %zu (%s)", i, o1[i].clordid);
    for (size_t i = 0; i < ne1 && i < ne2; i++) QA_CHECK_MSG(same_event(&e1[i], &e2[i]), "event %zu", i);
    QA_CHECK_INT(count_orders(v, 1), 2); /* A and L */
    free(o1), free(e1), free(o2), free(e2);
    /* The request answers survive too. */
    QA_CHECK_OK(qa_venue_cancel(v, "C", 150, &r));
    QA_CHECK(r.kind == QA_VENUE_EV_CANCELLED);
    qa_venue_order a = mk("A", "AAPL", 1, 100, 0, 0, 0, 100);
    QA_CHECK_OK(qa_venue_submit(v, &a, &r));
    QA_CHECK(r.kind == QA_VENUE_EV_NEW);
    /* The bar of 200 again is skipped; the next one continues A: 30 at 12, trade A#2, cum 60,
     * average (300 + 360) / 60 = 11. */
    adv1(v, 200, "AAPL", bar(10, 10, 10, 10, 300));
    adv1(v, 300, "AAPL", bar(12, 12, 12, 12, 300));
    qa_venue_event *e;
    size_t n = events(v, 200, 300, &e);
    QA_CHECK_INT(n, 1);
    if (n == 1) {
        check_fill(&e[0], "A#2", 300, 30, 12, 60, 40);
        QA_CHECK_NEAR(e[0].avg_price, 11.0, 0, 2e-16);
    }
    free(e);
    QA_CHECK_INT(events(v, INT64_MIN, INT64_MAX, &e), 3);
    free(e);
    /* A new order after the reopen gets a later arrival than the old ones. */
    submit_ok(v, mk("N", "AAPL", 1, 10, 0, 0, 0, 300));
    qa_venue_event *all;
    size_t na = 0;
    QA_CHECK_OK(qa_venue_orders(v, 0, &all, &na));
    QA_CHECK(na == 5 && strcmp(all[4].clordid, "N") == 0);
    free(all);
    qa_venue_close(v);
}

/* The clock is the latest bar matched; it must read the same after a reopen. Here the last
 * bar (250) matched a resting limit order without filling it. */
static void test_clock_reopen(void) {
    qa_venue_cfg c = cfg_part(0.1);
    char path[512];
    qa_venue_t *v = vopen(&c, path);
    submit_ok(v, mk("A", "AAPL", 1, 100, 0, 0, 0, 100));
    submit_ok(v, mk("L", "AAPL", 1, 100, 1, 5.0, 0, 100));
    adv1(v, 200, "AAPL", bar(10, 10, 10, 10, 300)); /* A fills 30 */
    adv1(v, 250, "AAPL", bar(10, 10, 10, 10, 0));   /* volume 0: A takes nothing; L not reached */
    QA_CHECK_INT(qa_venue_clock(v), 250);
    qa_venue_close(v);
    v = vopen_path(path, &c);
    if (!v) return;
    QA_CHECK_MSG(qa_venue_clock(v) == 250, "clock after reopen %lld, before 250", (long long)qa_venue_clock(v));
    qa_venue_close(v);
}

static void test_format(void) {
    qa_venue_cfg c = cfg_part(0.1);
    char path[512];
    snprintf(path, sizeof path, "%s/orders.db", g_dir);
    qa_test_foreign_db(path, "quantumalpha.orders", "1");
    qa_venue_t *v = (qa_venue_t *)&c; /* must stay as it is */
    QA_CHECK_ERR(qa_venue_open(path, &c, &v), QA_ERR_FORMAT, "quantumalpha.venue");
    QA_CHECK(v == (qa_venue_t *)&c);
    snprintf(path, sizeof path, "%s/venue_v2.db", g_dir);
    qa_test_foreign_db(path, "quantumalpha.venue", "2");
    QA_CHECK_ERR(qa_venue_open(path, &c, &v), QA_ERR_FORMAT, "version");
    QA_CHECK(v == (qa_venue_t *)&c);
    /* A venue file reopens. */
    v = vopen(&c, path);
    qa_venue_close(v);
    v = vopen_path(path, &c);
    qa_venue_close(v);
    qa_venue_close(NULL);
}

int main(void) {
    if (qa_test_tmpdir(g_dir, sizeof g_dir, "venue")) {
        printf("cannot make a temporary directory\n");
        return 1;
    }
    QA_RUN(test_market_next_bar);
    QA_RUN(test_participation);
    QA_RUN(test_participation_whole_shares);
    QA_RUN(test_limit_prices);
    QA_RUN(test_slippage_fees);
    QA_RUN(test_latency);
    QA_RUN(test_day_expiry);
    QA_RUN(test_fill_prob);
    QA_RUN(test_submit_idempotent);
    QA_RUN(test_cancel);
    QA_RUN(test_replace);
    QA_RUN(test_advance_idempotent);
    QA_RUN(test_events_range);
    QA_RUN(test_reopen);
    QA_RUN(test_clock_reopen);
    QA_RUN(test_format);
    qa_test_rmtree(g_dir);
    return qa_test_finish();
}
