/* Pre-trade checks (trading/pretrade.h): for every check one order just inside its limit
 * (accepted) and one just outside (refused with exactly that reason), the numbers worked
 * out by hand in the table; the throttle's window edges in market time; the duplicate-id
 * ring wrapping; REDUCING; disabled limits; guard save/restore by memcpy; YAML binding. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "harness.h"
#include "trading/pretrade.h"

/* Which limit a row turns on (all others keep their disabled defaults). */
typedef enum { L_NONE, L_QTY, L_NOTIONAL, L_POS, L_WEIGHT, L_GROSS, L_BAND, L_BP } lim_id;

typedef struct row {
    const char *what;
    lim_id lim;
    double value;
    qa_pretrade_account a;
    qa_pretrade_order o;
    qa_pretrade_reason want;
} row;

/* Account: position, working, last trade, equity, gross value, buying power, fee rate.
 * Values are chosen so every boundary is exact in binary floating point. */
#define ACCT(st, pos, work, last, eq, gross, bp, fee) {st, pos, work, last, eq, gross, bp, fee}
#define FLAT ACCT(QA_STATE_ACTIVE, 0, 0, 64, 1e6, 0, INFINITY, 0)
#define AT(pos, work) ACCT(QA_STATE_ACTIVE, pos, work, 64, 1e6, 0, INFINITY, 0)
/* Orders: market at reference ref, limit at px (reference 64). */
#define MKT(qty, ref) {NULL, "AAPL", qty, NAN, ref, 0, 1000}
#define LMT(qty, px) {NULL, "AAPL", qty, px, 64, 0, 1000}
#define RONLY(qty) {NULL, "AAPL", qty, NAN, 64, 1, 1000}

static const row rows[] = {
    /* max_qty 1,000 shares: |qty| = 1,000 inside, |-1,001| outside */
    {"qty at the limit", L_QTY, 1000, FLAT, MKT(1000, 64), QA_PRETRADE_OK},
    {"qty one share over (sell)", L_QTY, 1000, FLAT, MKT(-1001, 64), QA_PRETRADE_MAX_QTY},
    /* max_notional 10,000: limit 100 x 100 = 10,000; 100 x 100.01 = 10,001; market
     * 156.25 x 64 = 10,000; 157 x 64 = 10,048 */
    {"notional at the limit (limit order)", L_NOTIONAL, 10000, FLAT, LMT(100, 100), QA_PRETRADE_OK},
    {"notional a dollar over (limit order)", L_NOTIONAL, 10000, FLAT, LMT(100, 100.01), QA_PRETRADE_MAX_NOTIONAL},
    {"notional at the limit (market)", L_NOTIONAL, 10000, FLAT, MKT(156.25, 64), QA_PRETRADE_OK},
    {"notional over (market)", L_NOTIONAL, 10000, FLAT, MKT(157, 64), QA_PRETRADE_MAX_NOTIONAL},
    {"notional of a sell counts |qty|", L_NOTIONAL, 10000, FLAT, MKT(-157, 64), QA_PRETRADE_MAX_NOTIONAL},
    /* max_position 1,000 shares: 600 + 300 working + 100 = 1,000; + 101 = 1,001;
     * short: -900 - 101 = -1,001 */
    {"position at the limit (working counts)", L_POS, 1000, AT(600, 300), MKT(100, 64), QA_PRETRADE_OK},
    {"position one over", L_POS, 1000, AT(600, 300), MKT(101, 64), QA_PRETRADE_MAX_POSITION},
    {"short position one over", L_POS, 1000, AT(-900, 0), MKT(-101, 64), QA_PRETRADE_MAX_POSITION},
    {"reducing past-limit position is allowed", L_POS, 1000, AT(1500, 0), MKT(-100, 64), QA_PRETRADE_OK},
    /* max_position_weight 0.25, equity 1e6, mark 64: 3,906.25 shares = 250,000 = 0.25;
     * 3,907 shares = 250,048 = 0.250048. The limit price (60) does not value the position:
     * the mark (reference 64) does. */
    {"weight at the limit", L_WEIGHT, 0.25, AT(3000, 0), MKT(906.25, 64), QA_PRETRADE_OK},
    {"weight at the limit, limit order valued at the mark", L_WEIGHT, 0.25, AT(3000, 0), LMT(906.25, 60), QA_PRETRADE_OK},
    {"weight one share over", L_WEIGHT, 0.25, AT(3000, 0), MKT(907, 64), QA_PRETRADE_MAX_POSITION_WEIGHT},
    {"weight with equity <= 0", L_WEIGHT, 0.25, ACCT(QA_STATE_ACTIVE, 0, 0, 64, 0, 0, INFINITY, 0), MKT(1, 64),
     QA_PRETRADE_MAX_POSITION_WEIGHT},
    /* max_gross 1.5, equity 1e6, gross 1,400,000 of which AAPL 1,000 x 64 = 64,000:
     * + 1,562.5 shares: 1,336,000 + 2,562.5 x 64 = 1,500,000 = 1.5x; + 1,563: 1,500,032 */
    {"gross at the limit", L_GROSS, 1.5, ACCT(QA_STATE_ACTIVE, 1000, 0, 64, 1e6, 1.4e6, INFINITY, 0), MKT(1562.5, 64),
     QA_PRETRADE_OK},
    {"gross one share over", L_GROSS, 1.5, ACCT(QA_STATE_ACTIVE, 1000, 0, 64, 1e6, 1.4e6, INFINITY, 0), MKT(1563, 64),
     QA_PRETRADE_MAX_GROSS},
    {"gross: a reducing order passes over the limit", L_GROSS, 1.5,
     ACCT(QA_STATE_ACTIVE, 1000, 0, 64, 1e6, 2e6, INFINITY, 0), MKT(-10, 64), QA_PRETRADE_OK},
    /* price_band 0.125 around the last trade 64: 72 / 64 - 1 = 0.125; 72.01 over;
     * sells 56 (-0.125) and 55.99; a market order's reference 72 and 72.5 */
    {"band: buy limit at the upper edge", L_BAND, 0.125, FLAT, LMT(10, 72), QA_PRETRADE_OK},
    {"band: buy limit a cent over", L_BAND, 0.125, FLAT, LMT(10, 72.01), QA_PRETRADE_PRICE_BAND},
    {"band: sell limit at the lower edge", L_BAND, 0.125, FLAT, LMT(-10, 56), QA_PRETRADE_OK},
    {"band: sell limit a cent under", L_BAND, 0.125, FLAT, LMT(-10, 55.99), QA_PRETRADE_PRICE_BAND},
    {"band: market reference at the edge", L_BAND, 0.125, FLAT, MKT(10, 72), QA_PRETRADE_OK},
    {"band: market reference outside", L_BAND, 0.125, FLAT, MKT(10, 72.5), QA_PRETRADE_PRICE_BAND},
    /* no_reference_price: the band needs a finite last trade > 0 */
    {"band with a last trade", L_BAND, 0.125, ACCT(QA_STATE_ACTIVE, 0, 0, 64, 1e6, 0, INFINITY, 0), LMT(10, 64),
     QA_PRETRADE_OK},
    {"band without a last trade (NaN)", L_BAND, 0.125, ACCT(QA_STATE_ACTIVE, 0, 0, NAN, 1e6, 0, INFINITY, 0),
     LMT(10, 64), QA_PRETRADE_NO_REFERENCE_PRICE},
    {"band with last trade 0", L_BAND, 0.125, ACCT(QA_STATE_ACTIVE, 0, 0, 0, 1e6, 0, INFINITY, 0), LMT(10, 64),
     QA_PRETRADE_NO_REFERENCE_PRICE},
    {"market order without a reference price, notional on", L_NOTIONAL, 10000, FLAT, MKT(10, NAN),
     QA_PRETRADE_NO_REFERENCE_PRICE},
    /* buying power, fee rate 2^-7: 100 x 100 x 1.0078125 = 10,078.125 exactly;
     * limit 100.01: 10,079.13 */
    {"buying power exactly enough", L_BP, 1, ACCT(QA_STATE_ACTIVE, 0, 0, 100, 1e6, 0, 10078.125, 0.0078125),
     LMT(100, 100), QA_PRETRADE_OK},
    {"buying power a dollar short", L_BP, 1, ACCT(QA_STATE_ACTIVE, 0, 0, 100, 1e6, 0, 10078.125, 0.0078125),
     LMT(100, 100.01), QA_PRETRADE_BUYING_POWER},
    {"short sale needs buying power too", L_BP, 1, ACCT(QA_STATE_ACTIVE, 0, 0, 100, 1e6, 0, 10078.125, 0.0078125),
     LMT(-100, 100.01), QA_PRETRADE_BUYING_POWER},
    {"reducing order needs none", L_BP, 1, ACCT(QA_STATE_ACTIVE, 500, 0, 100, 1e6, 0, 0, 0.0078125), LMT(-100, 100),
     QA_PRETRADE_OK},
    /* trading state */
    {"ACTIVE accepts", L_NONE, 0, FLAT, MKT(100, 64), QA_PRETRADE_OK},
    {"HALTED refuses even a reducing order", L_NONE, 0, ACCT(QA_STATE_HALTED, 100, 0, 64, 1e6, 0, INFINITY, 0),
     MKT(-100, 64), QA_PRETRADE_HALTED},
    {"REDUCING: flatten", L_NONE, 0, ACCT(QA_STATE_REDUCING, 100, 0, 64, 1e6, 0, INFINITY, 0), MKT(-100, 64),
     QA_PRETRADE_OK},
    {"REDUCING: partly reduce a short", L_NONE, 0, ACCT(QA_STATE_REDUCING, -100, 0, 64, 1e6, 0, INFINITY, 0),
     MKT(40, 64), QA_PRETRADE_OK},
    {"REDUCING: cross zero", L_NONE, 0, ACCT(QA_STATE_REDUCING, 100, 0, 64, 1e6, 0, INFINITY, 0), MKT(-101, 64),
     QA_PRETRADE_REDUCING},
    {"REDUCING: increase", L_NONE, 0, ACCT(QA_STATE_REDUCING, 100, 0, 64, 1e6, 0, INFINITY, 0), MKT(1, 64),
     QA_PRETRADE_REDUCING},
    {"REDUCING: from flat", L_NONE, 0, ACCT(QA_STATE_REDUCING, 0, 0, 64, 1e6, 0, INFINITY, 0), MKT(-1, 64),
     QA_PRETRADE_REDUCING},
    {"REDUCING: working orders count (100 - 100 working = flat)", L_NONE, 0,
     ACCT(QA_STATE_REDUCING, 100, -100, 64, 1e6, 0, INFINITY, 0), MKT(-1, 64), QA_PRETRADE_REDUCING},
    {"REDUCING: working buy is cut by a sell", L_NONE, 0, ACCT(QA_STATE_REDUCING, 0, 100, 64, 1e6, 0, INFINITY, 0),
     MKT(-100, 64), QA_PRETRADE_OK},
    /* reduce_only order flag: -50 + 50 = 0 inside; + 51 crosses; a short adding more */
    {"reduce_only flattening", L_NONE, 0, AT(-50, 0), RONLY(50), QA_PRETRADE_OK},
    {"reduce_only crossing", L_NONE, 0, AT(-50, 0), RONLY(51), QA_PRETRADE_REDUCE_ONLY},
    {"reduce_only increasing", L_NONE, 0, AT(-50, 0), RONLY(-1), QA_PRETRADE_REDUCE_ONLY},
    /* bad_order */
    {"tiny quantity is an order", L_NONE, 0, FLAT, MKT(1e-9, 64), QA_PRETRADE_OK},
    {"zero quantity", L_NONE, 0, FLAT, MKT(0, 64), QA_PRETRADE_BAD_ORDER},
    {"NaN quantity", L_NONE, 0, FLAT, MKT(NAN, 64), QA_PRETRADE_BAD_ORDER},
    {"infinite quantity", L_NONE, 0, FLAT, MKT(INFINITY, 64), QA_PRETRADE_BAD_ORDER},
    {"negative limit price", L_NONE, 0, FLAT, LMT(10, -1), QA_PRETRADE_BAD_ORDER},
    {"infinite limit price", L_NONE, 0, FLAT, LMT(10, INFINITY), QA_PRETRADE_BAD_ORDER},
    {"symbol of 31 characters", L_NONE, 0, FLAT, {NULL, "ABCDEFGHIJKLMNOPQRSTUVWXYZ12345", 1, NAN, 64, 0, 0},
     QA_PRETRADE_OK},
    {"symbol of 32 characters", L_NONE, 0, FLAT, {NULL, "ABCDEFGHIJKLMNOPQRSTUVWXYZ123456", 1, NAN, 64, 0, 0},
     QA_PRETRADE_BAD_ORDER},
    {"no symbol", L_NONE, 0, FLAT, {NULL, NULL, 1, NAN, 64, 0, 0}, QA_PRETRADE_BAD_ORDER},
};

static void limits_of(const row *r, qa_pretrade_limits *l) {
    qa_pretrade_limits_default(l);
    switch (r->lim) {
    case L_QTY: l->max_order_qty = r->value; break;
    case L_NOTIONAL: l->max_order_notional = r->value; break;
    case L_POS: l->max_position = r->value; break;
    case L_WEIGHT: l->max_position_weight = r->value; break;
    case L_GROSS: l->max_gross = r->value; break;
    case L_BAND: l->price_band = r->value; break;
    case L_BP: l->buying_power = 1; break;
    default: break;
    }
}

static qa_pretrade_guard *guard_new(void) {
    qa_pretrade_guard *g = malloc(sizeof *g);
    QA_CHECK(g != NULL);
    if (g) qa_pretrade_guard_init(g);
    return g;
}

static void test_table(void) {
    qa_pretrade_guard *g = guard_new();
    if (!g) return;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const row *r = &rows[i];
        qa_pretrade_limits l;
        limits_of(r, &l);
        QA_CHECK_OK(qa_pretrade_limits_validate(&l));
        char detail[256];
        qa_pretrade_reason got = qa_pretrade_check(&l, g, &r->a, &r->o, detail, sizeof detail);
        QA_CHECK_MSG(got == r->want, "row %zu '%s': %s, expected %s (%s)", i, r->what, qa_pretrade_reason_name(got),
                     qa_pretrade_reason_name(r->want), detail);
        /* the detail names the reason first, or is empty when accepted */
        char prefix[48];
        snprintf(prefix, sizeof prefix, "%s: ", qa_pretrade_reason_name(got));
        if (got == QA_PRETRADE_OK) QA_CHECK_STR(detail, "");
        else QA_CHECK_MSG(strncmp(detail, prefix, strlen(prefix)) == 0, "row %zu: detail '%s'", i, detail);
    }
    free(g);
}

static void test_details_and_names(void) {
    qa_pretrade_guard *g = guard_new();
    if (!g) return;
    qa_pretrade_limits l;
    qa_pretrade_limits_default(&l);
    l.max_order_notional = 10000;
    qa_pretrade_account a = FLAT;
    qa_pretrade_order o = LMT(120, 100);
    char d[128];
    QA_CHECK_INT(qa_pretrade_check(&l, g, &a, &o, d, sizeof d), QA_PRETRADE_MAX_NOTIONAL);
    QA_CHECK_STR(d, "max_notional: AAPL: order notional 12,000.00 > 10,000.00");
    /* a short buffer truncates, never overflows */
    char small[8];
    QA_CHECK_INT(qa_pretrade_check(&l, g, &a, &o, small, sizeof small), QA_PRETRADE_MAX_NOTIONAL);
    QA_CHECK_STR(small, "max_not");
    QA_CHECK_INT(qa_pretrade_check(&l, g, &a, &o, NULL, 0), QA_PRETRADE_MAX_NOTIONAL);
    static const char *const names[] = {"ok", "halted", "reducing", "max_qty", "max_notional", "max_position",
                                        "max_position_weight", "max_gross", "price_band", "no_reference_price",
                                        "throttle", "duplicate_id", "duplicate_order", "reduce_only", "buying_power",
                                        "bad_order"};
    QA_CHECK_INT(sizeof names / sizeof names[0], QA_PRETRADE_REASON_COUNT);
    for (int i = 0; i < QA_PRETRADE_REASON_COUNT; i++) QA_CHECK_STR(qa_pretrade_reason_name((qa_pretrade_reason)i), names[i]);
    QA_CHECK_STR(qa_pretrade_reason_name(QA_PRETRADE_REASON_COUNT), "unknown");
    qa_trading_state s = QA_STATE_ACTIVE;
    QA_CHECK_OK(qa_trading_state_parse("reducing", &s));
    QA_CHECK_INT(s, QA_STATE_REDUCING);
    QA_CHECK_ERR(qa_trading_state_parse("paused", &s), QA_ERR_CONFIG, "expected ACTIVE, REDUCING or HALTED");
    QA_CHECK_INT(s, QA_STATE_REDUCING);
    QA_CHECK_STR(qa_trading_state_names[QA_STATE_HALTED], "HALTED");
    free(g);
}

/* Every check off: anything well formed passes (huge, far from the market, no equity,
 * no buying power, no reference price, the same id twice with duplicate_ids 0). */
static void test_disabled(void) {
    qa_pretrade_guard *g = guard_new();
    if (!g) return;
    qa_pretrade_limits l;
    qa_pretrade_limits_default(&l);
    l.duplicate_ids = 0;
    qa_pretrade_account a = ACCT(QA_STATE_ACTIVE, 5e9, 1e9, 64, -1e6, 1e15, 0, 0.5);
    qa_pretrade_order o = {"X1", "AAPL", 1e12, 1e9, 64, 0, 0};
    char d[256];
    for (int k = 0; k < 3; k++) {
        QA_CHECK_INT(qa_pretrade_check(&l, g, &a, &o, d, sizeof d), QA_PRETRADE_OK);
        qa_pretrade_record(g, &o);
    }
    qa_pretrade_order m = {"X1", "AAPL", -3e12, NAN, NAN, 0, 0}; /* market, no reference price */
    QA_CHECK_INT(qa_pretrade_check(&l, g, &a, &m, d, sizeof d), QA_PRETRADE_OK);
    free(g);
}

/* At most N = 3 accepted orders in any W = 1,000 ns: refused while the 3rd latest is
 * less than W old, accepted from exactly W on. */
static void test_throttle(void) {
    qa_pretrade_guard *g = guard_new();
    if (!g) return;
    qa_pretrade_limits l;
    qa_pretrade_limits_default(&l);
    l.throttle_orders = 3;
    l.throttle_window_ns = 1000;
    qa_pretrade_account a = FLAT;
    const struct { int64_t t; qa_pretrade_reason want; } seq[] = {
        {0, QA_PRETRADE_OK},          {10, QA_PRETRADE_OK},  {20, QA_PRETRADE_OK},
        {999, QA_PRETRADE_THROTTLE},  /* 999 - 0 < 1000 */
        {1000, QA_PRETRADE_OK},       /* 1000 - 0 = W: the window [1, 1000] holds 10, 20 */
        {1009, QA_PRETRADE_THROTTLE}, /* 3rd latest is 10: 999 ns old */
        {1010, QA_PRETRADE_OK},       {1019, QA_PRETRADE_THROTTLE}, {1020, QA_PRETRADE_OK},
        {1021, QA_PRETRADE_THROTTLE}, {5000, QA_PRETRADE_OK},
    };
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        qa_pretrade_order o = {NULL, "AAPL", 1, NAN, 64, 0, seq[i].t};
        char d[256];
        qa_pretrade_reason r = qa_pretrade_check(&l, g, &a, &o, d, sizeof d);
        QA_CHECK_MSG(r == seq[i].want, "t=%lld: %s (%s)", (long long)seq[i].t, qa_pretrade_reason_name(r), d);
        if (r == QA_PRETRADE_OK) qa_pretrade_record(g, &o); /* refused orders do not count */
    }
    free(g);
}

/* Same symbol, side and quantity within 500 ns of an accepted order. */
static void test_duplicate_order(void) {
    qa_pretrade_guard *g = guard_new();
    if (!g) return;
    qa_pretrade_limits l;
    qa_pretrade_limits_default(&l);
    l.duplicate_window_ns = 500;
    qa_pretrade_account a = FLAT;
    qa_pretrade_order first = {NULL, "AAPL", 100, NAN, 64, 0, 1000};
    qa_pretrade_record(g, &first);
    const struct { const char *sym; double qty; int64_t t; qa_pretrade_reason want; } seq[] = {
        {"AAPL", 100, 1499, QA_PRETRADE_DUPLICATE_ORDER}, /* 499 ns later */
        {"AAPL", 100, 1500, QA_PRETRADE_OK},              /* exactly the window */
        {"AAPL", 101, 1200, QA_PRETRADE_OK},              /* other quantity */
        {"AAPL", -100, 1200, QA_PRETRADE_OK},             /* other side */
        {"MSFT", 100, 1200, QA_PRETRADE_OK},              /* other symbol */
    };
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        qa_pretrade_order o = {NULL, seq[i].sym, seq[i].qty, NAN, 64, 0, seq[i].t};
        char d[256];
        qa_pretrade_reason r = qa_pretrade_check(&l, g, &a, &o, d, sizeof d);
        QA_CHECK_MSG(r == seq[i].want, "row %zu: %s (%s)", i, qa_pretrade_reason_name(r), d);
    }
    l.duplicate_window_ns = 0; /* off */
    qa_pretrade_order again = first;
    QA_CHECK_INT(qa_pretrade_check(&l, g, &a, &again, NULL, 0), QA_PRETRADE_OK);
    free(g);
}

static qa_pretrade_reason check_id(const qa_pretrade_limits *l, const qa_pretrade_guard *g, const char *id) {
    qa_pretrade_account a = FLAT;
    qa_pretrade_order o = {id, "AAPL", 1, NAN, 64, 0, 0};
    return qa_pretrade_check(l, g, &a, &o, NULL, 0);
}

static void record_id(qa_pretrade_guard *g, const char *id) {
    qa_pretrade_order o = {id, "AAPL", 1, NAN, 64, 0, 0};
    qa_pretrade_record(g, &o);
}

/* The last K accepted ids are remembered: with K = 3, "a" is forgotten after "b", "c",
 * "d"; with the default K = 4,096 the 4,097th id pushes out the first; the ring itself
 * (8,192 slots) wraps with K at its capacity. */
static void test_duplicate_id(void) {
    qa_pretrade_guard *g = guard_new();
    if (!g) return;
    qa_pretrade_limits l;
    qa_pretrade_limits_default(&l);
    QA_CHECK_INT(l.duplicate_ids, 4096);
    l.duplicate_ids = 3;
    record_id(g, "a");
    record_id(g, "b");
    record_id(g, "c");
    QA_CHECK_INT(check_id(&l, g, "a"), QA_PRETRADE_DUPLICATE_ID);
    QA_CHECK_INT(check_id(&l, g, "c"), QA_PRETRADE_DUPLICATE_ID);
    QA_CHECK_INT(check_id(&l, g, "ab"), QA_PRETRADE_OK);  /* exact string */
    QA_CHECK_INT(check_id(&l, g, "A"), QA_PRETRADE_OK);   /* case matters */
    QA_CHECK_INT(check_id(&l, g, NULL), QA_PRETRADE_OK);  /* no id, no comparison */
    record_id(g, "d");
    QA_CHECK_INT(check_id(&l, g, "a"), QA_PRETRADE_OK);
    QA_CHECK_INT(check_id(&l, g, "b"), QA_PRETRADE_DUPLICATE_ID);
    /* default K */
    qa_pretrade_guard_init(g);
    qa_pretrade_limits_default(&l);
    char id[32];
    for (int i = 0; i < 4096; i++) {
        snprintf(id, sizeof id, "ord-%d", i);
        record_id(g, id);
    }
    QA_CHECK_INT(check_id(&l, g, "ord-0"), QA_PRETRADE_DUPLICATE_ID);
    QA_CHECK_INT(check_id(&l, g, "ord-4095"), QA_PRETRADE_DUPLICATE_ID);
    record_id(g, "ord-4096");
    QA_CHECK_INT(check_id(&l, g, "ord-0"), QA_PRETRADE_OK);
    QA_CHECK_INT(check_id(&l, g, "ord-1"), QA_PRETRADE_DUPLICATE_ID);
    /* K = capacity: the physical ring wraps after 8,192 and overwrites the oldest slots */
    l.duplicate_ids = QA_PRETRADE_IDS_CAP;
    for (int i = 4097; i < QA_PRETRADE_IDS_CAP + 10; i++) {
        snprintf(id, sizeof id, "ord-%d", i);
        record_id(g, id);
    }
    QA_CHECK_INT(check_id(&l, g, "ord-9"), QA_PRETRADE_OK);
    QA_CHECK_INT(check_id(&l, g, "ord-10"), QA_PRETRADE_DUPLICATE_ID);
    snprintf(id, sizeof id, "ord-%d", QA_PRETRADE_IDS_CAP + 9);
    QA_CHECK_INT(check_id(&l, g, id), QA_PRETRADE_DUPLICATE_ID);
    /* an id of 63 characters fits; 64 is a bad order */
    char longid[QA_PRETRADE_ID_LEN + 1];
    memset(longid, 'x', sizeof longid);
    longid[QA_PRETRADE_ID_LEN - 1] = '\0';
    QA_CHECK_INT(check_id(&l, g, longid), QA_PRETRADE_OK);
    longid[QA_PRETRADE_ID_LEN - 1] = 'x';
    longid[QA_PRETRADE_ID_LEN] = '\0';
    QA_CHECK_INT(check_id(&l, g, longid), QA_PRETRADE_BAD_ORDER);
    free(g);
}

/* A guard copied as bytes in the middle of a sequence decides the rest identically. */
static void test_save_restore(void) {
    qa_pretrade_guard *g = guard_new(), *saved = guard_new(), *h = guard_new();
    if (!g || !saved || !h) goto out;
    qa_pretrade_limits l;
    qa_pretrade_limits_default(&l);
    l.throttle_orders = 4;
    l.throttle_window_ns = 100;
    l.duplicate_ids = 16;
    l.duplicate_window_ns = 30;
    qa_pretrade_account a = FLAT;
    const char *syms[] = {"AAPL", "MSFT", "XOM"};
    char id[32], d1[256], d2[256];
    int64_t t = 0;
    for (int i = 0; i < 40; i++) { /* history before the checkpoint */
        snprintf(id, sizeof id, "c%d", i % 23);
        qa_pretrade_order o = {id, syms[i % 3], (double)(1 + i % 4), NAN, 64, 0, t += 7};
        if (qa_pretrade_check(&l, g, &a, &o, NULL, 0) == QA_PRETRADE_OK) qa_pretrade_record(g, &o);
    }
    memcpy(saved, g, sizeof *g); /* checkpoint ... */
    memcpy(h, saved, sizeof *h); /* ... and restore into another guard */
    int refused = 0, accepted = 0;
    for (int i = 40; i < 200; i++) {
        snprintf(id, sizeof id, "c%d", (i * 5) % 31);
        qa_pretrade_order o = {id, syms[i % 3], (double)(1 + i % 4), NAN, 64, 0, t += 5 + i % 9};
        qa_pretrade_reason r1 = qa_pretrade_check(&l, g, &a, &o, d1, sizeof d1);
        qa_pretrade_reason r2 = qa_pretrade_check(&l, h, &a, &o, d2, sizeof d2);
        QA_CHECK_MSG(r1 == r2 && strcmp(d1, d2) == 0, "order %d: %s / %s", i, d1, d2);
        if (r1 == QA_PRETRADE_OK) qa_pretrade_record(g, &o), accepted++;
        else refused++;
        if (r2 == QA_PRETRADE_OK) qa_pretrade_record(h, &o);
    }
    QA_CHECK(accepted > 10 && refused > 10); /* the sequence exercises both outcomes */
    QA_CHECK(memcmp(g, h, sizeof *g) == 0);
out:
    free(g);
    free(saved);
    free(h);
}

static void test_bind(void) {
    const char *yaml = "pretrade:\n"
                       "  max_order_qty: 500\n"
                       "  max_order_notional: 1e5\n"
                       "  max_position: 2000\n"
                       "  max_position_weight: 0.3\n"
                       "  max_gross: 1.5\n"
                       "  price_collar: 0.05\n"
                       "  throttle_orders: 10\n"
                       "  throttle_window_ns: 1000000000\n"
                       "  duplicate_ids: 100\n"
                       "  duplicate_window_ns: 5000\n"
                       "  buying_power: true\n";
    qa_cfg_t *cfg = NULL;
    QA_CHECK_OK(qa_cfg_parse("p.yaml", yaml, strlen(yaml), &cfg));
    qa_pretrade_limits l;
    QA_CHECK_OK(qa_pretrade_limits_bind(cfg, qa_cfg_map_get(qa_cfg_root(cfg), "pretrade"), "pretrade", &l));
    QA_CHECK(l.max_order_qty == 500 && l.max_order_notional == 1e5 && l.max_position == 2000);
    QA_CHECK(l.max_position_weight == 0.3 && l.max_gross == 1.5 && l.price_band == 0.05);
    QA_CHECK(l.throttle_orders == 10 && l.throttle_window_ns == 1000000000 && l.duplicate_ids == 100);
    QA_CHECK(l.duplicate_window_ns == 5000 && l.buying_power == 1);
    qa_cfg_free(cfg);
    const struct { const char *text, *want; } bad[] = {
        {"pretrade: {max_gros: 1}\n", "p.yaml:1"},
        {"pretrade: {max_gross: -1}\n", "max_gross"},
        {"pretrade: {throttle_orders: 5}\n", "throttle_window_ns"},
        {"pretrade: {throttle_orders: 5000, throttle_window_ns: 1}\n", "throttle_orders"},
        {"pretrade: {duplicate_ids: 9000}\n", "duplicate_ids"},
        {"pretrade: {price_band: 0.1, price_collar: 0.1}\n", "sets the same value as"},
        {"pretrade: [1, 2]\n", "expected a map"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        QA_CHECK_OK(qa_cfg_parse("p.yaml", bad[i].text, strlen(bad[i].text), &cfg));
        qa_pretrade_limits_default(&l);
        l.max_gross = 7;
        QA_CHECK_ERR(qa_pretrade_limits_bind(cfg, qa_cfg_map_get(qa_cfg_root(cfg), "pretrade"), "pretrade", &l),
                     QA_ERR_CONFIG, bad[i].want);
        QA_CHECK(l.max_gross == 7); /* unchanged on failure */
        qa_cfg_free(cfg);
    }
}

int main(void) {
    QA_RUN(test_table);
    QA_RUN(test_details_and_names);
    QA_RUN(test_disabled);
    QA_RUN(test_throttle);
    QA_RUN(test_duplicate_order);
    QA_RUN(test_duplicate_id);
    QA_RUN(test_save_restore);
    QA_RUN(test_bind);
    return qa_test_finish();
}
