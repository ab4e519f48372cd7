/* Execution algorithms (trading/algo.h): hand-computed TWAP, VWAP and POV children on
 * market time, no over-sending while a child works, exact rounding of odd quantities,
 * sells, the participation cap, limit prices and re-pricing, min_child, the volume
 * profile learned from a small synthetic market file, a state checkpointed as bytes,
 * the algo driving the real order book, YAML binding and misuse. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "datasets/store.h"
#include "harness.h"
#include "trading/algo.h"
#include "trading/orders.h"

#define SEC ((int64_t)1000000000)
#define BAR (300 * SEC)                    /* 5-minute bars */
#define T0 ((int64_t)20000 * 86400 * SEC) /* 2024-10-04 00:00 UTC: a day boundary */
#define HOUR (3600 * SEC)

static qa_order_bar bar(double close, double volume) {
    qa_order_bar b = {close, close, close, close, volume};
    return b;
}

/* Runs a parent where every child fills completely before the next bar: returns the
 * new-child quantity of each call (start, then `nsteps` steps at t0 + i x dt) in out[]. */
static void run_all_fills(const qa_algo_cfg *c, double qty, int64_t t0, int64_t dt, int nsteps, const double *vols,
                          double *out) {
    qa_algo_state s;
    qa_algo_action a;
    double filled = 0;
    QA_CHECK_OK(qa_algo_start(c, &s, qty, t0, &(qa_order_bar){100, 100, 100, 100, vols ? vols[0] : 1e9}, &a));
    out[0] = a.child_qty;
    filled += a.child_qty;
    for (int i = 1; i <= nsteps; i++) {
        qa_order_bar b = bar(100, vols ? vols[i] : 1e9);
        QA_CHECK_OK(qa_algo_step(c, &s, t0 + i * dt, &b, filled, 0, &a));
        QA_CHECK(!a.cancel && !a.replace);
        out[i] = a.child_qty;
        filled += a.child_qty;
        QA_CHECK(fabs(filled) <= fabs(qty));
    }
}

static qa_algo_cfg twap(int slices, int64_t window) {
    qa_algo_cfg c;
    qa_algo_cfg_default(&c);
    c.kind = QA_ALGO_TWAP;
    c.slices = slices;
    c.window_ns = window;
    return c;
}

static void check_children(const char *what, const double *got, const double *want, int n) {
    for (int i = 0; i < n; i++)
        QA_CHECK_MSG(got[i] == want[i], "%s: call %d sent %g, expected %g", what, i, got[i], want[i]);
}

/* 1000 shares, 4 slices over 4 bars: slice k due at t0 + k bars, 250 each; nothing at
 * the window's end or after. */
static void test_twap_all_fills(void) {
    qa_algo_cfg c = twap(4, 4 * BAR);
    double got[7];
    run_all_fills(&c, 1000, T0, BAR, 6, NULL, got);
    const double want[7] = {250, 250, 250, 250, 0, 0, 0};
    check_children("twap", got, want, 7);
    qa_algo_state s;
    qa_algo_action a;
    QA_CHECK_OK(qa_algo_start(&c, &s, 1000, T0, &(qa_order_bar){100, 100, 100, 100, 1e6}, &a));
    QA_CHECK_NEAR(qa_algo_due(&c, &s, T0), 250, 0, 0);
    QA_CHECK_NEAR(qa_algo_due(&c, &s, T0 + BAR - 1), 250, 0, 0);
    QA_CHECK_NEAR(qa_algo_due(&c, &s, T0 + BAR), 500, 0, 0);
    QA_CHECK_NEAR(qa_algo_due(&c, &s, T0 + 3 * BAR), 1000, 0, 0);
    QA_CHECK(qa_algo_done(&s, 1000) && !qa_algo_done(&s, 999));
    /* bars more sparse than the slices: what is due is sent at the next bar */
    double sparse[3];
    run_all_fills(&c, 1000, T0, 2 * BAR + BAR / 2, 2, NULL, sparse); /* bars at t0, +2.5, +5 bars */
    const double want_sparse[3] = {250, 500, 250};
    check_children("twap sparse bars", sparse, want_sparse, 3);
}

/* A child that does not fill is grown by a replace (one child works at a time), never
 * past the parent; an expired child's shares are sent again. */
static void test_twap_unfilled(void) {
    qa_algo_cfg c = twap(4, 4 * BAR);
    qa_algo_state s;
    qa_algo_action a;
    qa_order_bar b = bar(100, 1e6);
    QA_CHECK_OK(qa_algo_start(&c, &s, 1000, T0, &b, &a));
    QA_CHECK(a.child_qty == 250);
    QA_CHECK_OK(qa_algo_step(&c, &s, T0 + BAR, &b, 0, 250, &a)); /* nothing filled, 250 working */
    QA_CHECK(a.replace && a.replace_qty == 500 && a.child_qty == 0 && !a.cancel);
    QA_CHECK(isnan(a.replace_price));
    QA_CHECK_OK(qa_algo_step(&c, &s, T0 + 2 * BAR, &b, 100, 400, &a)); /* due 750: 650 outstanding */
    QA_CHECK(a.replace && a.replace_qty == 650 && a.child_qty == 0);
    QA_CHECK_OK(qa_algo_step(&c, &s, T0 + 2 * BAR + 60 * SEC, &b, 100, 650, &a)); /* same slice: nothing */
    QA_CHECK(!a.replace && !a.cancel && a.child_qty == 0);
    QA_CHECK_OK(qa_algo_step(&c, &s, T0 + 3 * BAR, &b, 700, 0, &a)); /* the rest expired: 300 again */
    QA_CHECK(!a.replace && a.child_qty == 300);
    QA_CHECK_OK(qa_algo_step(&c, &s, T0 + 4 * BAR, &b, 900, 100, &a)); /* everything sent */
    QA_CHECK(!a.replace && !a.cancel && a.child_qty == 0);
    QA_CHECK_OK(qa_algo_step(&c, &s, T0 + 5 * BAR, &b, 1000, 0, &a));
    QA_CHECK(a.child_qty == 0 && qa_algo_done(&s, 1000));
}

/* Cumulative targets round(Q k / N) make odd quantities sum exactly; a slow loop over
 * many (Q, N) pairs checks each child against the difference of the rounded targets. */
static void test_twap_rounding_and_sells(void) {
    double got[5];
    qa_algo_cfg c = twap(4, 4 * BAR);
    run_all_fills(&c, 1001, T0, BAR, 4, NULL, got);
    const double want[5] = {250, 251, 250, 250, 0}; /* 250.25 -> 250, 500.5 -> 501, 750.75 -> 751, 1001 */
    check_children("twap 1001", got, want, 5);
    run_all_fills(&c, -1001, T0, BAR, 4, NULL, got);
    const double want_sell[5] = {-250, -251, -250, -250, 0};
    check_children("twap -1001", got, want_sell, 5);
    qa_algo_cfg c3 = twap(3, 3 * BAR);
    run_all_fills(&c3, 7, T0, BAR, 3, NULL, got);
    const double want7[4] = {2, 3, 2, 0}; /* 2.33 -> 2, 4.67 -> 5, 7 */
    check_children("twap 7/3", got, want7, 4);
    for (int n = 1; n <= 9; n++)
        for (double q = -53; q <= 53; q += 7) {
            qa_algo_cfg cn = twap(n, n * BAR);
            double out[10];
            run_all_fills(&cn, q, T0, BAR, n - 1, NULL, out);
            double sum = 0, prev = 0;
            for (int k = 1; k <= n; k++) {
                double cum = (q < 0 ? -1 : 1) * round(fabs(q) * k / n);
                QA_CHECK_MSG(out[k - 1] == cum - prev, "q %g n %d slice %d: %g, expected %g", q, n, k - 1, out[k - 1],
                             cum - prev);
                prev = cum;
                sum += out[k - 1];
            }
            QA_CHECK_MSG(sum == q, "q %g n %d: children sum to %g", q, n, sum);
        }
}

/* min_child 150 with slices of 100: a slice waits until 150 are due. */
static void test_min_child(void) {
    qa_algo_cfg c = twap(10, 10 * BAR);
    c.min_child = 150;
    double got[11];
    run_all_fills(&c, 1000, T0, BAR, 10, NULL, got);
    const double want[11] = {0, 200, 0, 200, 0, 200, 0, 200, 0, 200, 0};
    check_children("min_child", got, want, 11);
    /* a parent smaller than min_child is its own last remainder */
    qa_algo_cfg ci;
    qa_algo_cfg_default(&ci);
    ci.min_child = 100;
    qa_algo_state s;
    qa_algo_action a;
    QA_CHECK_OK(qa_algo_start(&ci, &s, -40, T0, &(qa_order_bar){10, 10, 10, 10, 1e6}, &a));
    QA_CHECK(a.child_qty == -40);
}

/* Profile [0.1, 0.4, 0.3, 0.2] in 6-hour buckets. A day from 00:00 in 4 slices follows
 * it: 100, 400, 300, 200. From 03:00 over 12 h in 2 slices: V(03-09) = 0.05 + 0.2 =
 * 0.25 of V(03-15) = 0.05 + 0.4 + 0.15 = 0.6: round(1000 x 0.41667) = 417, then 583. */
static void test_vwap(void) {
    qa_algo_profile p;
    const double w[4] = {1, 4, 3, 2};
    QA_CHECK_OK(qa_algo_profile_from_array(w, 4, 6 * HOUR, &p));
    QA_CHECK_NEAR(p.frac[1], 0.4, 1e-15, 0);
    QA_CHECK_NEAR(qa_algo_profile_volume(&p, T0 + 3 * HOUR, T0 + 9 * HOUR), 0.25, 1e-15, 0);
    QA_CHECK_NEAR(qa_algo_profile_volume(&p, T0 + 3 * HOUR, T0 + 15 * HOUR), 0.6, 1e-15, 0);
    QA_CHECK_NEAR(qa_algo_profile_volume(&p, T0 - 6 * HOUR, T0 + 30 * HOUR), 1.3, 1e-14, 0); /* wraps days */
    qa_algo_cfg c = twap(4, 24 * HOUR);
    c.kind = QA_ALGO_VWAP;
    c.profile = &p;
    double got[5];
    run_all_fills(&c, 1000, T0, 6 * HOUR, 4, NULL, got);
    const double want[5] = {100, 400, 300, 200, 0};
    check_children("vwap day", got, want, 5);
    c.slices = 2;
    c.window_ns = 12 * HOUR;
    run_all_fills(&c, 1000, T0 + 3 * HOUR, 6 * HOUR, 2, NULL, got);
    const double want2[3] = {417, 583, 0};
    check_children("vwap 03-15", got, want2, 3);
    c.profile = NULL;
    qa_algo_state s;
    qa_algo_action a;
    QA_CHECK_ERR(qa_algo_start(&c, &s, 1000, T0, &(qa_order_bar){1, 1, 1, 1, 1}, &a), QA_ERR_INVALID_ARG, "profile");
    QA_CHECK_ERR(qa_algo_profile_from_array(w, 4, 5 * HOUR, &p), QA_ERR_INVALID_ARG, "bucket");
}

/* POV 10% of volumes [1000, 0, NaN, 5000]: 100, 0, 0, 500 (450 when only 450 remain). */
static void test_pov(void) {
    qa_algo_cfg c;
    qa_algo_cfg_default(&c);
    c.kind = QA_ALGO_POV;
    c.pov_rate = 0.1;
    const double vols[4] = {1000, 0, NAN, 5000};
    double got[4];
    run_all_fills(&c, 10000, T0, BAR, 3, vols, got);
    const double want[4] = {100, 0, 0, 500};
    check_children("pov", got, want, 4);
    run_all_fills(&c, -550, T0, BAR, 3, vols, got);
    const double want_cap[4] = {-100, 0, 0, -450};
    check_children("pov capped by the remainder", got, want_cap, 4);
    /* a working child grows to this bar's participation; a quiet bar leaves it alone */
    qa_algo_state s;
    qa_algo_action a;
    QA_CHECK_OK(qa_algo_start(&c, &s, 10000, T0, &(qa_order_bar){10, 10, 10, 10, 1000}, &a));
    QA_CHECK_OK(qa_algo_step(&c, &s, T0 + BAR, &(qa_order_bar){10, 10, 10, 10, 3000}, 40, 60, &a));
    QA_CHECK(a.replace && a.replace_qty == 300);
    QA_CHECK_OK(qa_algo_step(&c, &s, T0 + 2 * BAR, &(qa_order_bar){10, 10, 10, 10, 0}, 40, 300, &a));
    QA_CHECK(!a.replace && !a.cancel && a.child_qty == 0);
}

/* Cap 0.1 on TWAP 1000/4: volumes 1000, 2000, 500, NaN, 10000 allow 100, 200, 50, 0 and
 * then the 650 left at the window's end. */
static void test_participation_cap(void) {
    qa_algo_cfg c = twap(4, 4 * BAR);
    c.max_participation = 0.1;
    const double vols[5] = {1000, 2000, 500, NAN, 10000};
    double got[5];
    run_all_fills(&c, 1000, T0, BAR, 4, vols, got);
    const double want[5] = {100, 200, 50, 0, 650};
    check_children("capped twap", got, want, 5);
    /* IMMEDIATE respects it too, and so does a replace */
    c.kind = QA_ALGO_IMMEDIATE;
    qa_algo_state s;
    qa_algo_action a;
    QA_CHECK_OK(qa_algo_start(&c, &s, 1000, T0, &(qa_order_bar){10, 10, 10, 10, 3000}, &a));
    QA_CHECK(a.child_qty == 300);
    QA_CHECK_OK(qa_algo_step(&c, &s, T0 + BAR, &(qa_order_bar){10, 10, 10, 10, 4000}, 0, 300, &a));
    QA_CHECK(a.replace && a.replace_qty == 400);
}

/* Limits at close x (1 + side x offset): buy 100 x 1.0005 = 100.05, sell 99.95; a child
 * 10 bps off the quote stays, 50 bps off is re-priced (replace_bps 20). */
static void test_limits_and_replace(void) {
    qa_algo_cfg c;
    qa_algo_cfg_default(&c);
    c.child_limit = 1;
    c.offset_bps = 5;
    c.replace_bps = 20;
    qa_algo_state s;
    qa_algo_action a;
    QA_CHECK_OK(qa_algo_start(&c, &s, 100, T0, &(qa_order_bar){100, 100, 100, 100, 1e6}, &a));
    QA_CHECK(a.child_qty == 100 && a.child_limit == 1);
    QA_CHECK_NEAR(a.child_price, 100.05, 1e-12, 0);
    QA_CHECK_OK(qa_algo_step(&c, &s, T0 + BAR, &(qa_order_bar){100.1, 100.1, 100.1, 100.1, 1e6}, 0, 100, &a));
    QA_CHECK(!a.replace && !a.cancel && a.child_qty == 0); /* quote 100.15005: 10 bps away */
    QA_CHECK_OK(qa_algo_step(&c, &s, T0 + 2 * BAR, &(qa_order_bar){100.5, 100.5, 100.5, 100.5, 1e6}, 30, 70, &a));
    QA_CHECK(a.replace && a.replace_qty == 70 && a.child_qty == 0);
    QA_CHECK_NEAR(a.replace_price, 100.55025, 1e-12, 0);
    /* the new price is the reference now: the same close again is no change */
    QA_CHECK_OK(qa_algo_step(&c, &s, T0 + 3 * BAR, &(qa_order_bar){100.5, 100.5, 100.5, 100.5, 1e6}, 30, 70, &a));
    QA_CHECK(!a.replace);
    QA_CHECK_OK(qa_algo_start(&c, &s, -100, T0, &(qa_order_bar){100, 100, 100, 100, 1e6}, &a));
    QA_CHECK(a.child_qty == -100);
    QA_CHECK_NEAR(a.child_price, 99.95, 1e-12, 0);
    c.offset_bps = -10; /* passive: a buy rests below the close */
    QA_CHECK_OK(qa_algo_start(&c, &s, 100, T0, &(qa_order_bar){100, 100, 100, 100, 1e6}, &a));
    QA_CHECK_NEAR(a.child_price, 99.9, 1e-12, 0);
    c.replace_bps = 0; /* never re-priced */
    QA_CHECK_OK(qa_algo_step(&c, &s, T0 + BAR, &(qa_order_bar){120, 120, 120, 120, 1e6}, 0, 100, &a));
    QA_CHECK(!a.replace);
}

/* Two symbols, 6-hour bars: day 1 at 00/06/12/18, day 2 the same, day 3 a half day of
 * two bars (left out). X1 [1,1,1,1] -> .25 each; X2 [0,2,3,5] -> 0 .2 .3 .5; Y1 has a NaN
 * (left out); Y2 [1,1,0,2] -> .25 .25 0 .5. Average of 3 pairs:
 * [0.5, 0.7, 0.55, 1.25] / 3; in 12-hour buckets [1.2, 1.8] / 3. */
static void test_profile_learn(void) {
    char dir[256], path[300];
    if (qa_test_tmpdir(dir, sizeof dir, "algo") != 0) {
        QA_CHECK_MSG(0, "no temporary directory");
        return;
    }
    snprintf(path, sizeof path, "%s/m.h5", dir);
    int64_t times[10];
    for (int d = 0; d < 2; d++)
        for (int b = 0; b < 4; b++) times[d * 4 + b] = T0 + d * 24 * HOUR + b * 6 * HOUR;
    times[8] = T0 + 48 * HOUR + 6 * HOUR;
    times[9] = T0 + 48 * HOUR + 12 * HOUR;
    const char *syms[2] = {"X", "Y"};
    const double vol[20] = {1, 1, 1, 1, 0, 2, 3, 5, 10, 10, /* X */
                            4, NAN, 4, 4, 1, 1, 0, 2, 10, 10};
    qa_store_meta m = {0};
    snprintf(m.frequency, sizeof m.frequency, "6h");
    m.bar_seconds = 21600;
    m.bars_per_year = 1460;
    snprintf(m.calendar, sizeof m.calendar, "24x7");
    snprintf(m.currency, sizeof m.currency, "USD");
    snprintf(m.adjustment, sizeof m.adjustment, "none");
    snprintf(m.source, sizeof m.source, "test_algo");
    qa_store_t *st = NULL;
    QA_CHECK_OK(qa_store_create(path, NULL, &m, 2, syms, 10, times, &st));
    if (!st) return;
    QA_CHECK_OK(qa_store_write(st, "bars/volume", 0, 2, 0, 10, vol));
    QA_CHECK_OK(qa_store_commit(st));
    qa_algo_profile p;
    QA_CHECK_OK(qa_algo_profile_learn(path, 6 * HOUR, &p));
    const double want[4] = {0.5 / 3, 0.7 / 3, 0.55 / 3, 1.25 / 3};
    QA_CHECK_INT(p.nbuckets, 4);
    QA_CHECK_INT(p.ndays, 3);
    qa_test_near_arrays("profile 6h", p.frac, want, 4, 1e-15, 0); /* a few roundings of sums of 4 */
    QA_CHECK_OK(qa_algo_profile_learn(path, 12 * HOUR, &p));
    const double want2[2] = {1.2 / 3, 1.8 / 3};
    qa_test_near_arrays("profile 12h", p.frac, want2, 2, 1e-15, 0);
    QA_CHECK_ERR(qa_algo_profile_learn(path, 7 * HOUR, &p), QA_ERR_INVALID_ARG, "bucket");
    qa_test_rmtree(dir);
}

/* A state copied as bytes mid-run gives the same actions as the original. */
static void test_state_bytes(void) {
    qa_algo_cfg c = twap(5, 10 * BAR);
    c.child_limit = 1;
    c.offset_bps = 3;
    c.replace_bps = 5;
    c.max_participation = 0.2;
    qa_algo_state s, copy;
    qa_algo_action a, b;
    QA_CHECK_OK(qa_algo_start(&c, &s, -5000, T0, &(qa_order_bar){50, 50, 50, 50, 8000}, &a));
    double filled = 0, working = a.child_qty;
    unsigned char bytes[sizeof(qa_algo_state)];
    for (int i = 1; i <= 12; i++) {
        double close = 50 + 0.1 * ((i * 7) % 5), vol = 1000.0 * (1 + (i * 3) % 7);
        qa_order_bar br = bar(close, vol);
        if (i == 4) {
            memcpy(bytes, &s, sizeof s);
            memcpy(&copy, bytes, sizeof copy);
        }
        /* half of what works fills each bar */
        double f = round(working / 2);
        filled += f;
        working -= f;
        QA_CHECK_OK(qa_algo_step(&c, &s, T0 + i * BAR, &br, filled, working, &a));
        if (i >= 4) {
            QA_CHECK_OK(qa_algo_step(&c, &copy, T0 + i * BAR, &br, filled, working, &b));
            QA_CHECK_MSG(memcmp(&a, &b, sizeof a) == 0, "step %d: the copied state acts differently", i);
        }
        if (a.replace) working = a.replace_qty;
        if (a.child_qty != 0) working = a.child_qty;
        QA_CHECK(fabs(filled) + fabs(working) <= 5000 && filled <= 0 && working <= 0);
    }
    QA_CHECK(memcmp(&s, &copy, sizeof s) == 0);
}

/* The algo driving the real order book (trading/orders.h): TWAP 1000/4 with market GTC
 * children, fills capped at 5% of 2000 shares a bar = 100 a bar. Replaces are a cancel
 * and a new order. The market is the bottleneck: the parent is done at bar 10 exactly,
 * and filled + working never passes the parent. */
static double e2e_filled;
static qa_status on_event(void *ctx, const qa_order *o, qa_order_event ev, double qty, double price) {
    (void)ctx, (void)o, (void)price;
    if (ev == QA_ORDER_EV_FILL) e2e_filled += qty;
    return QA_OK;
}

static void test_with_order_book(void) {
    qa_algo_cfg c = twap(4, 4 * BAR);
    qa_algo_state s;
    qa_algo_action a;
    qa_order_book book;
    qa_order_book_init(&book);
    e2e_filled = 0;
    int64_t id = 0, done_at = -1;
    qa_order_bar bars[1] = {{100, 101, 99, 100, 2000}};
    QA_CHECK_OK(qa_algo_start(&c, &s, 1000, T0, &bars[0], &a));
    for (int64_t t = 0; t <= 15; t++) {
        if (t > 0) {
            QA_CHECK_OK(qa_order_book_match(&book, t, bars, 0.05, 0, on_event, NULL));
            double working = qa_order_book_working_qty(&book, 0);
            QA_CHECK(e2e_filled + working <= 1000 + 1e-9);
            if (qa_algo_done(&s, e2e_filled) && done_at < 0) done_at = t;
            QA_CHECK_OK(qa_algo_step(&c, &s, T0 + t * BAR, &bars[0], e2e_filled, working, &a));
        }
        if (a.cancel || a.replace) QA_CHECK_OK(qa_order_book_cancel(&book, id, on_event, NULL));
        double q = a.replace ? a.replace_qty : a.child_qty;
        if (q != 0) {
            qa_order o;
            QA_CHECK_OK(qa_order_make(&o, 0, QA_ORDER_MARKET, QA_TIF_GTC, q, NAN, t));
            QA_CHECK_OK(qa_order_book_submit(&book, &o, on_event, NULL, &id));
        }
        QA_CHECK(e2e_filled + qa_order_book_working_qty(&book, 0) <= 1000 + 1e-9);
    }
    QA_CHECK_NEAR(e2e_filled, 1000, 0, 0);
    QA_CHECK_INT(done_at, 10);
    QA_CHECK_INT(s.nchildren, 1);
    QA_CHECK_INT(s.nreplaces, 3); /* grown to 400, 550 and 700 at bars 1, 2, 3 */
    qa_order_book_free(&book);
}

static void test_cfg_and_misuse(void) {
    const char *yaml = "kind: twap\nslices: 6\nwindow: 1800\norder: limit\noffset_bps: 2.5\nmax_participation: 0.05\n";
    qa_cfg_t *cfg = NULL;
    QA_CHECK_OK(qa_cfg_parse("a.yaml", yaml, strlen(yaml), &cfg));
    qa_algo_cfg c;
    qa_algo_cfg_default(&c);
    QA_CHECK_OK(qa_algo_cfg_bind(cfg, qa_cfg_root(cfg), &c));
    QA_CHECK(c.kind == QA_ALGO_TWAP && c.slices == 6 && c.window_ns == 1800 * SEC && c.child_limit == 1);
    QA_CHECK(c.offset_bps == 2.5 && c.max_participation == 0.05 && c.min_child == 1);
    qa_cfg_free(cfg);
    const char *bad = "kind: twap\nslics: 6\n";
    QA_CHECK_OK(qa_cfg_parse("b.yaml", bad, strlen(bad), &cfg));
    QA_CHECK_ERR(qa_algo_cfg_bind(cfg, qa_cfg_root(cfg), &c), QA_ERR_CONFIG, "b.yaml:2");
    qa_cfg_free(cfg);
    const char *bad2 = "kind: vwp\n";
    QA_CHECK_OK(qa_cfg_parse("c.yaml", bad2, strlen(bad2), &cfg));
    QA_CHECK_ERR(qa_algo_cfg_bind(cfg, qa_cfg_root(cfg), &c), QA_ERR_CONFIG, "kind");
    qa_cfg_free(cfg);

    qa_algo_cfg_default(&c);
    qa_algo_state s;
    qa_algo_action a;
    qa_order_bar b = bar(10, 100);
    QA_CHECK_ERR(qa_algo_start(&c, &s, 10.5, T0, &b, &a), QA_ERR_INVALID_ARG, "whole");
    QA_CHECK_OK(qa_algo_start(&c, &s, 100, T0, &b, &a));
    QA_CHECK_ERR(qa_algo_step(&c, &s, T0, &b, 0, 100, &a), QA_ERR_INVALID_ARG, "does not follow");
    QA_CHECK_ERR(qa_algo_step(&c, &s, T0 + BAR, &b, 50, 60, &a), QA_ERR_INVALID_ARG, "fit");
    QA_CHECK_ERR(qa_algo_step(&c, &s, T0 + BAR, &b, -1, 0, &a), QA_ERR_INVALID_ARG, "fit");
    c.kind = QA_ALGO_POV;
    QA_CHECK_ERR(qa_algo_step(&c, &s, T0 + BAR, &b, 0, 100, &a), QA_ERR_STATE, "started as immediate");
    c.kind = QA_ALGO_IMMEDIATE;
    qa_algo_cancel(&s, 100, &a);
    QA_CHECK(a.cancel && !a.replace && a.child_qty == 0);
    QA_CHECK_ERR(qa_algo_step(&c, &s, T0 + BAR, &b, 0, 100, &a), QA_ERR_STATE, "cancelled");
    s.version = 99;
    QA_CHECK_ERR(qa_algo_step(&c, &s, T0 + BAR, &b, 0, 100, &a), QA_ERR_FORMAT, "version");
}

int main(void) {
    QA_RUN(test_twap_all_fills);
    QA_RUN(test_twap_unfilled);
    QA_RUN(test_twap_rounding_and_sells);
    QA_RUN(test_min_child);
    QA_RUN(test_vwap);
    QA_RUN(test_pov);
    QA_RUN(test_participation_cap);
    QA_RUN(test_limits_and_replace);
    QA_RUN(test_profile_learn);
    QA_RUN(test_state_bytes);
    QA_RUN(test_with_order_book);
    QA_RUN(test_cfg_and_misuse);
    return qa_test_finish();
}
