/* Order model: hand-computed fills of every order type (limit and stop triggers, gaps
 * through the level, missing open/high/low), partial fills by volume participation,
 * time in force (DAY expiry on the symbol's next bar, not on a gap; GTC carry-over),
 * eligibility (MOC on its own bar, others from the next), cancels and validation. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "trading/orders.h"

static qa_order mk(qa_order_type type, qa_order_tif tif, double qty, double price, int64_t placed) {
    qa_order o;
    qa_status st = qa_order_make(&o, 0, type, tif, qty, price, placed);
    QA_CHECK_OK(st);
    return o;
}

/* fill of o on bar b without a cap: returns 1 and sets *px, or 0 */
static int fill(const qa_order *o, qa_order_bar b, double *px) {
    double q;
    int f = qa_order_fill_rule(o, &b, 0.0, &q, px);
    if (f) QA_CHECK_NEAR(q, o->qty, 0, 0);
    return f;
}

static void test_prices(void) {
    double px;
    qa_order_bar b = {100, 103, 97, 101, 1e6}; /* open 100, high 103, low 97, close 101 */
    qa_order moc = mk(QA_ORDER_MOC, QA_TIF_DAY, 10, NAN, 0);
    QA_CHECK(fill(&moc, b, &px) && px == 101);
    qa_order mkt = mk(QA_ORDER_MARKET, QA_TIF_DAY, -10, NAN, 0);
    QA_CHECK(fill(&mkt, b, &px) && px == 100);
    /* buy limit 98: the range reaches it (low 97): fills at the limit */
    qa_order bl = mk(QA_ORDER_LIMIT, QA_TIF_DAY, 5, 98, 0);
    QA_CHECK(fill(&bl, b, &px) && px == 98);
    /* buy limit 96.5: low 97 never reaches it */
    qa_order bl2 = mk(QA_ORDER_LIMIT, QA_TIF_DAY, 5, 96.5, 0);
    QA_CHECK(!fill(&bl2, b, &px));
    /* buy limit 102 with the open already below: fills at the open (better) */
    qa_order bl3 = mk(QA_ORDER_LIMIT, QA_TIF_DAY, 5, 102, 0);
    QA_CHECK(fill(&bl3, b, &px) && px == 100);
    /* sell limit 102.5: high 103 reaches it */
    qa_order sl = mk(QA_ORDER_LIMIT, QA_TIF_DAY, -5, 102.5, 0);
    QA_CHECK(fill(&sl, b, &px) && px == 102.5);
    /* sell limit 99 with the open above: at the open */
    qa_order sl2 = mk(QA_ORDER_LIMIT, QA_TIF_DAY, -5, 99, 0);
    QA_CHECK(fill(&sl2, b, &px) && px == 100);
    /* sell limit 103.5: not reached */
    qa_order sl3 = mk(QA_ORDER_LIMIT, QA_TIF_DAY, -5, 103.5, 0);
    QA_CHECK(!fill(&sl3, b, &px));
    /* buy stop 102: triggers (high 103), fills at the stop */
    qa_order bs = mk(QA_ORDER_STOP, QA_TIF_DAY, 5, 102, 0);
    QA_CHECK(fill(&bs, b, &px) && px == 102);
    /* buy stop 99 with the open (100) gapped above: fills at the open */
    qa_order bs2 = mk(QA_ORDER_STOP, QA_TIF_DAY, 5, 99, 0);
    QA_CHECK(fill(&bs2, b, &px) && px == 100);
    /* buy stop 104: not triggered */
    qa_order bs3 = mk(QA_ORDER_STOP, QA_TIF_DAY, 5, 104, 0);
    QA_CHECK(!fill(&bs3, b, &px));
    /* sell stop 98: low 97 triggers, at the stop */
    qa_order ss = mk(QA_ORDER_STOP, QA_TIF_DAY, -5, 98, 0);
    QA_CHECK(fill(&ss, b, &px) && px == 98);
    /* sell stop 101 with the open (100) gapped below: at the open */
    qa_order ss2 = mk(QA_ORDER_STOP, QA_TIF_DAY, -5, 101, 0);
    QA_CHECK(fill(&ss2, b, &px) && px == 100);
    /* a gap down through a protective sell stop: open 90 far below the stop 95 */
    qa_order_bar gap = {90, 92, 88, 91, 1e6};
    qa_order ss3 = mk(QA_ORDER_STOP, QA_TIF_DAY, -5, 95, 0);
    QA_CHECK(fill(&ss3, gap, &px) && px == 90);
    /* missing open: market fills at the close; missing high/low: range is [min, max] of open, close */
    qa_order_bar noopen = {NAN, NAN, NAN, 50, 1e6};
    qa_order m2 = mk(QA_ORDER_MARKET, QA_TIF_DAY, 1, NAN, 0);
    QA_CHECK(fill(&m2, noopen, &px) && px == 50);
    qa_order_bar nohl = {48, NAN, NAN, 52, 1e6};
    qa_order bl4 = mk(QA_ORDER_LIMIT, QA_TIF_DAY, 1, 47, 0);
    QA_CHECK(!fill(&bl4, nohl, &px)); /* range [48, 52] */
    qa_order ss4 = mk(QA_ORDER_STOP, QA_TIF_DAY, 1, 51, 0);
    QA_CHECK(fill(&ss4, nohl, &px) && px == 51);
}

static void test_participation(void) {
    qa_order o = mk(QA_ORDER_MARKET, QA_TIF_GTC, 120, NAN, 0);
    qa_order_bar b = {10, 11, 9, 10.5, 500}; /* 10% of 500 = 50 shares per bar */
    double q, px;
    QA_CHECK(qa_order_fill_rule(&o, &b, 0.1, &q, &px));
    QA_CHECK_NEAR(q, 50, 0, 0);
    o.filled = 100; /* 20 left */
    QA_CHECK(qa_order_fill_rule(&o, &b, 0.1, &q, &px));
    QA_CHECK_NEAR(q, 20, 0, 0);
    qa_order s = mk(QA_ORDER_MARKET, QA_TIF_GTC, -120, NAN, 0);
    QA_CHECK(qa_order_fill_rule(&s, &b, 0.1, &q, &px));
    QA_CHECK_NEAR(q, -50, 0, 0);
    b.volume = NAN; /* no volume: nothing can be filled under a cap */
    QA_CHECK(!qa_order_fill_rule(&o, &b, 0.1, &q, &px));
    b.volume = 0;
    QA_CHECK(!qa_order_fill_rule(&o, &b, 0.1, &q, &px));
    QA_CHECK(qa_order_fill_rule(&o, &b, 0.0, &q, &px)); /* no cap */
}

/* ---- the book ------------------------------------------------------------------------------ */

typedef struct evlog {
    int n;
    qa_order_event ev[64];
    int64_t id[64];
    double qty[64], px[64];
    qa_order_status status[64];
} evlog;

static qa_status rec(void *ctx, const qa_order *o, qa_order_event ev, double qty, double px) {
    evlog *l = ctx;
    if (l->n < 64) {
        l->ev[l->n] = ev;
        l->id[l->n] = o->id;
        l->qty[l->n] = qty;
        l->px[l->n] = px;
        l->status[l->n] = o->status;
        l->n++;
    }
    return QA_OK;
}

static void bars1(qa_order_bar *b, double open, double high, double low, double close, double vol) {
    b[0] = (qa_order_bar){open, high, low, close, vol};
}

static void test_book_partial_tif(void) {
    qa_order_book bk;
    qa_order_book_init(&bk);
    evlog l = {0};
    qa_order_bar b[1];
    /* bar 0: a GTC buy of 120 and a DAY buy of 120, both market, placed at the close */
    qa_order g = mk(QA_ORDER_MARKET, QA_TIF_GTC, 120, NAN, 0), d = mk(QA_ORDER_MARKET, QA_TIF_DAY, 120, NAN, 0);
    int64_t gid, did;
    QA_CHECK_OK(qa_order_book_submit(&bk, &g, rec, &l, &gid));
    QA_CHECK_OK(qa_order_book_submit(&bk, &d, rec, &l, &did));
    QA_CHECK_INT(gid, 1);
    QA_CHECK_INT(did, 2);
    bars1(b, 10, 11, 9, 10.5, 500);
    QA_CHECK_OK(qa_order_book_match(&bk, 0, b, 0.1, 0, rec, &l)); /* placement bar: not eligible */
    QA_CHECK_INT(l.n, 2);
    QA_CHECK_OK(qa_order_book_expire(&bk, 0, b, rec, &l));
    QA_CHECK_INT(bk.n, 2);
    /* bar 1: no bar for the symbol (gap): nothing fills, nothing expires */
    bars1(b, NAN, NAN, NAN, NAN, NAN);
    QA_CHECK_OK(qa_order_book_match(&bk, 1, b, 0.1, 0, rec, &l));
    QA_CHECK_OK(qa_order_book_expire(&bk, 1, b, rec, &l));
    QA_CHECK_INT(l.n, 2);
    QA_CHECK_INT(bk.n, 2);
    /* bar 2: 50 each at the open 12; the DAY rest (70) expires */
    bars1(b, 12, 13, 11, 12.5, 500);
    QA_CHECK_OK(qa_order_book_match(&bk, 2, b, 0.1, 0, rec, &l));
    QA_CHECK_OK(qa_order_book_expire(&bk, 2, b, rec, &l));
    QA_CHECK_INT(l.n, 5);
    QA_CHECK(l.ev[2] == QA_ORDER_EV_FILL && l.id[2] == gid && l.qty[2] == 50 && l.px[2] == 12);
    QA_CHECK(l.ev[3] == QA_ORDER_EV_FILL && l.id[3] == did && l.qty[3] == 50);
    QA_CHECK(l.ev[4] == QA_ORDER_EV_EXPIRED && l.id[4] == did);
    QA_CHECK_INT(bk.n, 1);
    QA_CHECK_NEAR(qa_order_book_working_qty(&bk, 0), 70, 0, 0);
    /* bar 3: 50 more at 13 (volume 500); bar 4: the last 20 at 14, volume 1000 caps at 100 */
    bars1(b, 13, 13, 13, 13, 500);
    QA_CHECK_OK(qa_order_book_match(&bk, 3, b, 0.1, 0, rec, &l));
    bars1(b, 14, 14, 14, 14, 1000);
    QA_CHECK_OK(qa_order_book_match(&bk, 4, b, 0.1, 0, rec, &l));
    QA_CHECK_INT(l.n, 7);
    QA_CHECK(l.qty[5] == 50 && l.status[5] == QA_ORDER_WORKING);
    QA_CHECK(l.qty[6] == 20 && l.status[6] == QA_ORDER_FILLED && l.px[6] == 14);
    QA_CHECK_INT(bk.n, 0);
    qa_order_book_free(&bk);
}

static void test_book_moc_and_cancel(void) {
    qa_order_book bk;
    qa_order_book_init(&bk);
    evlog l = {0};
    qa_order_bar b[2] = {{10, 11, 9, 10.5, 1000}, {20, 21, 19, 20.5, 1000}};
    /* a limit order for symbol 1, then an MOC order for symbol 0 matched alone at its own close */
    qa_order lim;
    QA_CHECK_OK(qa_order_make(&lim, 1, QA_ORDER_LIMIT, QA_TIF_GTC, 3, 19.5, 5));
    QA_CHECK_OK(qa_order_book_submit(&bk, &lim, rec, &l, NULL));
    qa_order moc = mk(QA_ORDER_MOC, QA_TIF_DAY, -7, NAN, 5);
    int64_t mid;
    QA_CHECK_OK(qa_order_book_submit(&bk, &moc, rec, &l, &mid));
    QA_CHECK_OK(qa_order_book_match(&bk, 5, b, 0.0, mid, rec, &l));
    QA_CHECK_INT(l.n, 3);
    QA_CHECK(l.ev[2] == QA_ORDER_EV_FILL && l.id[2] == mid && l.qty[2] == -7 && l.px[2] == 10.5);
    QA_CHECK_INT(bk.n, 1); /* the limit order still works */
    /* a GTC MOC remainder fills at the next close */
    qa_order moc2 = mk(QA_ORDER_MOC, QA_TIF_GTC, 300, NAN, 5);
    QA_CHECK_OK(qa_order_book_submit(&bk, &moc2, rec, &l, &mid));
    QA_CHECK_OK(qa_order_book_match(&bk, 5, b, 0.1, mid, rec, &l)); /* 100 of 300 */
    QA_CHECK_OK(qa_order_book_expire(&bk, 5, b, rec, &l));
    QA_CHECK_NEAR(qa_order_book_working_qty(&bk, 0), 200, 0, 0);
    b[0] = (qa_order_bar){11, 12, 10, 11.5, 2000};
    QA_CHECK_OK(qa_order_book_match(&bk, 6, b, 0.1, 0, rec, &l)); /* 200 at 11.5; the limit fills at 19.5 */
    QA_CHECK_NEAR(qa_order_book_working_qty(&bk, 0), 0, 0, 0);
    QA_CHECK_INT(bk.n, 0);
    QA_CHECK(l.ev[l.n - 2] == QA_ORDER_EV_FILL && l.px[l.n - 2] == 19.5 && l.qty[l.n - 2] == 3);
    QA_CHECK(l.ev[l.n - 1] == QA_ORDER_EV_FILL && l.px[l.n - 1] == 11.5 && l.qty[l.n - 1] == 200);
    /* cancels */
    qa_order a = mk(QA_ORDER_MARKET, QA_TIF_GTC, 1, NAN, 7), c = mk(QA_ORDER_MARKET, QA_TIF_GTC, 2, NAN, 7);
    int64_t aid;
    QA_CHECK_OK(qa_order_book_submit(&bk, &a, rec, &l, &aid));
    QA_CHECK_OK(qa_order_book_submit(&bk, &c, rec, &l, NULL));
    QA_CHECK_OK(qa_order_book_cancel(&bk, aid, rec, &l));
    QA_CHECK(l.ev[l.n - 1] == QA_ORDER_EV_CANCELLED && l.id[l.n - 1] == aid);
    QA_CHECK_ERR(qa_order_book_cancel(&bk, aid, rec, &l), QA_ERR_NOT_FOUND, "not working");
    qa_order sell = mk(QA_ORDER_MARKET, QA_TIF_GTC, -4, NAN, 7);
    QA_CHECK_OK(qa_order_book_submit(&bk, &sell, rec, &l, NULL));
    QA_CHECK_NEAR(qa_order_book_working_qty(&bk, 0), 2 - 4, 0, 0);
    QA_CHECK_OK(qa_order_book_cancel_side(&bk, 0, -1, rec, &l)); /* the sells only */
    QA_CHECK_NEAR(qa_order_book_working_qty(&bk, 0), 2, 0, 0);
    QA_CHECK_OK(qa_order_book_cancel_symbol(&bk, 0, rec, &l));
    QA_CHECK_INT(bk.n, 0);
    qa_order_book_free(&bk);
}

static void test_validation(void) {
    qa_order o;
    QA_CHECK_ERR(qa_order_make(&o, 0, QA_ORDER_MARKET, QA_TIF_DAY, 0.0, NAN, 0), QA_ERR_INVALID_ARG, "non-zero");
    QA_CHECK_ERR(qa_order_make(&o, 0, QA_ORDER_MARKET, QA_TIF_DAY, NAN, NAN, 0), QA_ERR_INVALID_ARG, "finite");
    QA_CHECK_ERR(qa_order_make(&o, 0, QA_ORDER_LIMIT, QA_TIF_DAY, 1, NAN, 0), QA_ERR_INVALID_ARG, "positive price");
    QA_CHECK_ERR(qa_order_make(&o, 0, QA_ORDER_STOP, QA_TIF_DAY, 1, -3, 0), QA_ERR_INVALID_ARG, "positive price");
    QA_CHECK_ERR(qa_order_make(&o, 0, (qa_order_type)9, QA_TIF_DAY, 1, 1, 0), QA_ERR_INVALID_ARG, "unknown");
    QA_CHECK_STR(qa_order_type_name(QA_ORDER_STOP), "stop");
    QA_CHECK_STR(qa_order_tif_name(QA_TIF_GTC), "gtc");
    QA_CHECK_STR(qa_order_event_name(QA_ORDER_EV_EXPIRED), "expired");
    QA_CHECK_STR(qa_order_status_name(QA_ORDER_REJECTED), "rejected");
    QA_CHECK_STR(qa_order_type_name((qa_order_type)7), "?");
    QA_CHECK(qa_order_eligible(&(qa_order){.type = QA_ORDER_MOC, .placed = 3}, 3));
    QA_CHECK(!qa_order_eligible(&(qa_order){.type = QA_ORDER_LIMIT, .placed = 3}, 3));
    QA_CHECK(qa_order_eligible(&(qa_order){.type = QA_ORDER_LIMIT, .placed = 3}, 4));
}

int main(void) {
    QA_RUN(test_prices);
    QA_RUN(test_participation);
    QA_RUN(test_book_partial_tif);
    QA_RUN(test_book_moc_and_cancel);
    QA_RUN(test_validation);
    return qa_test_finish();
}
