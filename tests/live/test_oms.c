/* The order state machine and client order ids (live/oms.h): every (state, event) pair
 * against a literal table written from the header's diagram, fills (partial, full,
 * overfill, average price, fees, version, `updated`), final states, and the id formats
 * with their refusals. Every expected value is written by hand here. */
#include <math.h>    /* NAN, isnan */
#include <stdint.h>  /* INT64_MIN */
#include <string.h>  /* memset, memcmp, strcpy */

#include "harness.h"
#include "live/oms.h"

/* Shorter names for the table. */
enum { NEW = QA_OMS_NEW, ACC = QA_OMS_ACCEPTED, PAR = QA_OMS_PARTIAL, FIL = QA_OMS_FILLED,
       PCN = QA_OMS_PENDING_CANCEL, CAN = QA_OMS_CANCELLED, REJ = QA_OMS_REJECTED, EXP = QA_OMS_EXPIRED,
       ILL = -1, /* no such transition: QA_ERR_STATE */
       NA = -2 /* not a meaningful input (a fill after which nothing is filled) */ };

/* Filled shares of 100 after the event: none, 40 (part) or all. */
enum { F_NONE = 0, F_PART = 1, F_FULL = 2, F_COUNT = 3 };
static const double filled_of[F_COUNT] = {0.0, 40.0, 100.0};

/* next[state][event][filled case], from the diagram in live/oms.h:
 *   new --accepted--> accepted;  new --rejected--> rejected
 *   accepted, partially_filled --fill--> partially_filled | filled
 *   accepted, partially_filled --cancel_request--> pending_cancel
 *   pending_cancel --fill--> pending_cancel | filled
 *   pending_cancel --cancelled--> cancelled
 *   pending_cancel --cancel_rejected--> accepted (none) | partially_filled (part) | filled (full)
 *   accepted, partially_filled --expired--> expired
 *   new, accepted, partially_filled --cancelled--> cancelled
 * "submit" is not a transition; filled, cancelled, rejected and expired are final. */
static const int next[QA_OMS_STATE_COUNT][QA_OMS_EVENT_COUNT][F_COUNT] = {
    /*            submit          accepted        rejected        fill            cancel_request  cancelled       cancel_rejected expired */
    [NEW] = {{ILL, ILL, ILL}, {ACC, ACC, ACC}, {REJ, REJ, REJ}, {NA, ILL, ILL}, {ILL, ILL, ILL}, {CAN, CAN, CAN}, {ILL, ILL, ILL}, {ILL, ILL, ILL}},
    [ACC] = {{ILL, ILL, ILL}, {ILL, ILL, ILL}, {ILL, ILL, ILL}, {NA, PAR, FIL}, {PCN, PCN, PCN}, {CAN, CAN, CAN}, {ILL, ILL, ILL}, {EXP, EXP, EXP}},
    [PAR] = {{ILL, ILL, ILL}, {ILL, ILL, ILL}, {ILL, ILL, ILL}, {NA, PAR, FIL}, {PCN, PCN, PCN}, {CAN, CAN, CAN}, {ILL, ILL, ILL}, {EXP, EXP, EXP}},
    [FIL] = {{ILL, ILL, ILL}, {ILL, ILL, ILL}, {ILL, ILL, ILL}, {NA, ILL, ILL}, {ILL, ILL, ILL}, {ILL, ILL, ILL}, {ILL, ILL, ILL}, {ILL, ILL, ILL}},
    [PCN] = {{ILL, ILL, ILL}, {ILL, ILL, ILL}, {ILL, ILL, ILL}, {NA, PCN, FIL}, {ILL, ILL, ILL}, {CAN, CAN, CAN}, {ACC, PAR, FIL}, {ILL, ILL, ILL}},
    [CAN] = {{ILL, ILL, ILL}, {ILL, ILL, ILL}, {ILL, ILL, ILL}, {NA, ILL, ILL}, {ILL, ILL, ILL}, {ILL, ILL, ILL}, {ILL, ILL, ILL}, {ILL, ILL, ILL}},
    [REJ] = {{ILL, ILL, ILL}, {ILL, ILL, ILL}, {ILL, ILL, ILL}, {NA, ILL, ILL}, {ILL, ILL, ILL}, {ILL, ILL, ILL}, {ILL, ILL, ILL}, {ILL, ILL, ILL}},
    [EXP] = {{ILL, ILL, ILL}, {ILL, ILL, ILL}, {ILL, ILL, ILL}, {NA, ILL, ILL}, {ILL, ILL, ILL}, {ILL, ILL, ILL}, {ILL, ILL, ILL}, {ILL, ILL, ILL}},
};

static void test_transition_table(void) {
    int checked = 0, legal = 0;
    for (int s = 0; s < QA_OMS_STATE_COUNT; s++)
        for (int e = 0; e < QA_OMS_EVENT_COUNT; e++)
            for (int f = 0; f < F_COUNT; f++) {
                int want = next[s][e][f];
                if (want == NA) continue;
                qa_oms_state to = (qa_oms_state)99; /* must stay 99 when refused */
                qa_status st = qa_oms_next((qa_oms_state)s, (qa_oms_event)e, filled_of[f], 100.0, &to);
                checked++;
                if (want == ILL) {
                    QA_CHECK_MSG(st == QA_ERR_STATE && (int)to == 99, "%s in %s (filled %g): %s -> %d, expected illegal",
                                 qa_oms_event_names[e], qa_oms_state_names[s], filled_of[f], qa_status_name(st), (int)to);
                    if (st == QA_ERR_STATE)
                        QA_CHECK_MSG(strstr(qa_err_msg(), qa_oms_event_names[e]) && strstr(qa_err_msg(), qa_oms_state_names[s]),
                                     "error text '%s' names neither", qa_err_msg());
                } else {
                    legal++;
                    QA_CHECK_MSG(st == QA_OK && (int)to == want, "%s in %s (filled %g): %s -> %s, expected %s",
                                 qa_oms_event_names[e], qa_oms_state_names[s], filled_of[f], qa_status_name(st),
                                 st == QA_OK && to >= 0 && to < QA_OMS_STATE_COUNT ? qa_oms_state_names[to] : "-",
                                 qa_oms_state_names[want]);
                }
            }
    /* 8 states x 8 events x 3 cases less the 8 meaningless fills; 39 legal entries (new 9, accepted 11, partially_filled 11, pending_cancel 8). */
    QA_CHECK_INT(checked, 8 * 8 * 3 - 8);
    QA_CHECK_INT(legal, 39);
}

static void test_final(void) {
    static const int final[QA_OMS_STATE_COUNT] = {[NEW] = 0, [ACC] = 0, [PAR] = 0, [FIL] = 1,
                                                  [PCN] = 0, [CAN] = 1, [REJ] = 1, [EXP] = 1};
    for (int s = 0; s < QA_OMS_STATE_COUNT; s++)
        QA_CHECK_MSG(qa_oms_final((qa_oms_state)s) == final[s], "final(%s)", qa_oms_state_names[s]);
    QA_CHECK_STR(qa_oms_state_names[PAR], "partially_filled");
    QA_CHECK_STR(qa_oms_state_names[PCN], "pending_cancel");
    QA_CHECK_STR(qa_oms_event_names[QA_OMS_EV_CANCEL_REJECTED], "cancel_rejected");
    QA_CHECK(qa_oms_state_names[QA_OMS_STATE_COUNT] == NULL);
}

static void order_init(qa_oms_order *o, double qty) {
    memset(o, 0, sizeof *o);
    strcpy(o->clordid, "S-AAPL-00000000000000ff.1");
    o->side = 1;
    o->type = QA_OMS_MARKET;
    o->state = QA_OMS_NEW;
    o->qty = qty;
    o->limit = NAN;
    o->avg_price = NAN;
    o->arrival_time = INT64_MIN;
    o->version = 1;
    o->created = o->updated = 1000;
}

static void test_fills(void) {
    qa_oms_order o;
    order_init(&o, 100.0);
    QA_CHECK_OK(qa_oms_apply(&o, QA_OMS_EV_ACCEPTED, 0, NAN, 0, 1100));
    QA_CHECK_INT(o.state, ACC);
    QA_CHECK_INT(o.version, 2);
    QA_CHECK_INT(o.updated, 1100);
    QA_CHECK(isnan(o.avg_price) && o.filled == 0.0);

    /* 30 at 10.00 (fee 0.30), then 70 at 10.50 (fee 0.70): average (300 + 735) / 100 = 10.35. */
    QA_CHECK_OK(qa_oms_apply(&o, QA_OMS_EV_FILL, 30.0, 10.0, 0.30, 1200));
    QA_CHECK_INT(o.state, PAR);
    QA_CHECK_INT(o.version, 3);
    QA_CHECK_INT(o.updated, 1200);
    QA_CHECK(o.filled == 30.0);
    QA_CHECK(o.avg_price == 10.0);
    QA_CHECK_NEAR(o.fees, 0.30, 1e-15, 0); /* one addition to 0 */

    /* An overfill (71 of the 70 left) and a non-positive fill are refused; nothing changes. */
    qa_oms_order before = o;
    QA_CHECK_ERR(qa_oms_apply(&o, QA_OMS_EV_FILL, 71.0, 10.5, 0.71, 1300), QA_ERR_STATE, "fill");
    QA_CHECK(memcmp(&o, &before, sizeof o) == 0);
    QA_CHECK_ERR(qa_oms_apply(&o, QA_OMS_EV_FILL, 0.0, 10.5, 0.0, 1300), QA_ERR_STATE, "");
    QA_CHECK(memcmp(&o, &before, sizeof o) == 0);
    /* An illegal event (accepted again) leaves it as it was too. */
    QA_CHECK_ERR(qa_oms_apply(&o, QA_OMS_EV_ACCEPTED, 0, NAN, 0, 1300), QA_ERR_STATE, "partially_filled");
    QA_CHECK(memcmp(&o, &before, sizeof o) == 0);

    QA_CHECK_OK(qa_oms_apply(&o, QA_OMS_EV_FILL, 70.0, 10.5, 0.70, 1300));
    QA_CHECK_INT(o.state, FIL);
    QA_CHECK_INT(o.version, 4);
    QA_CHECK_INT(o.updated, 1300);
    QA_CHECK(o.filled == 100.0);
    /* (10*30 + 10.5*70)/100: products and sum exact in binary, one rounding in the division. */
    QA_CHECK_NEAR(o.avg_price, 10.35, 0, 2e-16);
    QA_CHECK_NEAR(o.fees, 1.00, 0, 4e-16); /* 0.3 + 0.7: two decimal roundings */
    QA_CHECK(qa_oms_final((qa_oms_state)o.state));

    /* Final: no event moves it, any fill is an overfill. */
    before = o;
    for (int e = 0; e < QA_OMS_EVENT_COUNT; e++) {
        qa_status st = qa_oms_apply(&o, (qa_oms_event)e, e == QA_OMS_EV_FILL ? 1.0 : 0.0, 10.0, 0.0, 1400);
        QA_CHECK_MSG(st == QA_ERR_STATE, "%s on a filled order: %s", qa_oms_event_names[e], qa_status_name(st));
    }
    QA_CHECK(memcmp(&o, &before, sizeof o) == 0);

    /* A fill racing a cancel: pending_cancel stays pending_cancel until the last share. */
    order_init(&o, 10.0);
    QA_CHECK_OK(qa_oms_apply(&o, QA_OMS_EV_ACCEPTED, 0, NAN, 0, 1));
    QA_CHECK_OK(qa_oms_apply(&o, QA_OMS_EV_CANCEL_REQUEST, 0, NAN, 0, 2));
    QA_CHECK_INT(o.state, PCN);
    QA_CHECK_OK(qa_oms_apply(&o, QA_OMS_EV_FILL, 4.0, 20.0, 0.0, 3));
    QA_CHECK_INT(o.state, PCN);
    QA_CHECK(o.filled == 4.0 && o.avg_price == 20.0);
    QA_CHECK_OK(qa_oms_apply(&o, QA_OMS_EV_CANCEL_REJECTED, 0, NAN, 0, 4));
    QA_CHECK_INT(o.state, PAR); /* 4 of 10 filled */
    QA_CHECK_OK(qa_oms_apply(&o, QA_OMS_EV_CANCEL_REQUEST, 0, NAN, 0, 5));
    QA_CHECK_OK(qa_oms_apply(&o, QA_OMS_EV_FILL, 6.0, 21.0, 0.0, 6));
    QA_CHECK_INT(o.state, FIL);
    QA_CHECK_NEAR(o.avg_price, 20.6, 0, 2e-16); /* (80 + 126) / 10 */
    QA_CHECK_INT(o.version, 7); /* 1 + 6 transitions */
    QA_CHECK_INT(o.updated, 6);

    /* Cancel and expiry end it; the rest stays unfilled. */
    order_init(&o, 10.0);
    QA_CHECK_OK(qa_oms_apply(&o, QA_OMS_EV_ACCEPTED, 0, NAN, 0, 1));
    QA_CHECK_OK(qa_oms_apply(&o, QA_OMS_EV_EXPIRED, 0, NAN, 0, 2));
    QA_CHECK(o.state == EXP && o.filled == 0.0 && o.version == 3 && o.updated == 2);
    order_init(&o, 10.0);
    QA_CHECK_OK(qa_oms_apply(&o, QA_OMS_EV_REJECTED, 0, NAN, 0, 7));
    QA_CHECK(o.state == REJ && o.version == 2 && o.updated == 7);
    QA_CHECK_ERR(qa_oms_apply(&o, QA_OMS_EV_CANCELLED, 0, NAN, 0, 8), QA_ERR_STATE, "rejected");
}

static void test_ids(void) {
    char id[QA_OMS_ID_LEN], child[QA_OMS_ID_LEN];
    QA_CHECK_OK(qa_oms_parent_id("S", "AAPL", 0xff, id));
    QA_CHECK_STR(id, "S-AAPL-00000000000000ff");
    QA_CHECK_OK(qa_oms_child_id(id, 1, child));
    QA_CHECK_STR(child, "S-AAPL-00000000000000ff.1");
    QA_CHECK_OK(qa_oms_child_id(id, 12, child));
    QA_CHECK_STR(child, "S-AAPL-00000000000000ff.12");
    QA_CHECK_OK(qa_oms_parent_id("mom_1", "MSFT", 0x0123456789abcdefull, id));
    QA_CHECK_STR(id, "mom_1-MSFT-0123456789abcdef");
    /* Deterministic: the same input names the same order. */
    char again[QA_OMS_ID_LEN];
    QA_CHECK_OK(qa_oms_parent_id("mom_1", "MSFT", 0x0123456789abcdefull, again));
    QA_CHECK_STR(again, id);

    /* Strategy: 12 characters ok, 13 refused; '-' and other characters refused; empty refused. */
    QA_CHECK_OK(qa_oms_parent_id("abcdefghijkl", "AAPL", 1, id));
    QA_CHECK_STR(id, "abcdefghijkl-AAPL-0000000000000001");
    strcpy(again, "unchanged");
    QA_CHECK_ERR(qa_oms_parent_id("abcdefghijklm", "AAPL", 1, again), QA_ERR_INVALID_ARG, "abcdefghijklm");
    QA_CHECK_ERR(qa_oms_parent_id("a-b", "AAPL", 1, again), QA_ERR_INVALID_ARG, "a-b");
    QA_CHECK_ERR(qa_oms_parent_id("a.b", "AAPL", 1, again), QA_ERR_INVALID_ARG, "");
    QA_CHECK_ERR(qa_oms_parent_id("a b", "AAPL", 1, again), QA_ERR_INVALID_ARG, "");
    QA_CHECK_ERR(qa_oms_parent_id("", "AAPL", 1, again), QA_ERR_INVALID_ARG, "");

    /* Symbol: at most 15 characters (the order record's field, the bus key): 12 + 1 + 15 +
     * 1 + 16 = 45 ok; a 16-character symbol is refused, and so is an empty one. */
    QA_CHECK_OK(qa_oms_parent_id("abcdefghijkl", "ABCDEFGHIJKLMNO", 1, id));
    QA_CHECK_INT(strlen(id), 45);
    QA_CHECK_ERR(qa_oms_parent_id("abcdefghijkl", "ABCDEFGHIJKLMNOP", 1, again), QA_ERR_INVALID_ARG, "1 to 15 characters");
    QA_CHECK_ERR(qa_oms_parent_id("abcdefghijkl", "", 1, again), QA_ERR_INVALID_ARG, "1 to 15 characters");

    /* Children: n from 1 to 99999. */
    QA_CHECK_OK(qa_oms_child_id("P", 99999, child));
    QA_CHECK_STR(child, "P.99999");
    QA_CHECK_ERR(qa_oms_child_id("P", 0, child), QA_ERR_INVALID_ARG, "");
    QA_CHECK_ERR(qa_oms_child_id("P", 100000, child), QA_ERR_INVALID_ARG, "");
    /* The longest parent takes the longest child: 45 + ".99999" = 51, and its trade ids
     * "#NNNNNNN" fit the 64-byte id. */
    QA_CHECK_OK(qa_oms_parent_id("abcdefghijkl", "ABCDEFGHIJKLMNO", 1, id));
    QA_CHECK_OK(qa_oms_child_id(id, 99999, child));
    QA_CHECK_INT(strlen(child), 51);
}

int main(void) {
    QA_RUN(test_transition_table);
    QA_RUN(test_final);
    QA_RUN(test_fills);
    QA_RUN(test_ids);
    return qa_test_finish();
}
