/* Pre-trade checks and the trading state (trading/pretrade.h; rules in docs/pretrade.md). */
#include "trading/pretrade.h"

#include <math.h>     /* fabs, isfinite, isnan, INFINITY */
#include <stdarg.h>   /* va_list for the detail text */
#include <stddef.h>   /* offsetof */
#include <stdio.h>    /* snprintf */
#include <string.h>   /* memset, strcmp, strlen */
#include <strings.h>  /* strcasecmp */

/* ---- trading state ------------------------------------------------------------------- */

const char *const qa_trading_state_names[] = {"ACTIVE", "REDUCING", "HALTED", NULL};
_Static_assert(sizeof qa_trading_state_names / sizeof qa_trading_state_names[0] == QA_STATE_COUNT + 1, "state names");

qa_status qa_trading_state_parse(const char *name, qa_trading_state *out) {
    for (int i = 0; i < QA_STATE_COUNT; i++)
        if (name && strcasecmp(name, qa_trading_state_names[i]) == 0) {
            *out = (qa_trading_state)i;
            return QA_OK;
        }
    return QA_FAIL(QA_ERR_CONFIG, "trading state '%s': expected ACTIVE, REDUCING or HALTED", name ? name : "(null)");
}

/* ---- reasons ------------------------------------------------------------------------- */

static const char *const reason_names[] = {
    "ok",        "halted",        "reducing",     "max_qty",         "max_notional",
    "max_position", "max_position_weight", "max_gross", "price_band", "no_reference_price",
    "throttle",  "duplicate_id",  "duplicate_order", "reduce_only",  "buying_power",
    "bad_order",
};
_Static_assert(sizeof reason_names / sizeof reason_names[0] == QA_PRETRADE_REASON_COUNT, "reason names");

const char *qa_pretrade_reason_name(qa_pretrade_reason r) {
    return (int)r >= 0 && r < QA_PRETRADE_REASON_COUNT ? reason_names[r] : "unknown";
}

/* ---- limits -------------------------------------------------------------------------- */

void qa_pretrade_limits_default(qa_pretrade_limits *l) {
    memset(l, 0, sizeof *l);
    l->max_order_qty = INFINITY;
    l->max_order_notional = INFINITY;
    l->max_position = INFINITY;
    l->max_position_weight = INFINITY;
    l->max_gross = INFINITY;
    l->price_band = 0;
    l->throttle_orders = 0;
    l->throttle_window_ns = 0;
    l->duplicate_ids = QA_PRETRADE_IDS_DEFAULT;
    l->duplicate_window_ns = 0;
    l->buying_power = 0;
}

qa_status qa_pretrade_limits_validate(const qa_pretrade_limits *l) {
    const struct { const char *name; double v; } d[] = {
        {"max_order_qty", l->max_order_qty},           {"max_order_notional", l->max_order_notional},
        {"max_position", l->max_position},             {"max_position_weight", l->max_position_weight},
        {"max_gross", l->max_gross},                   {"price_band", l->price_band},
    };
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
        if (!(d[i].v >= 0)) return QA_FAIL(QA_ERR_CONFIG, "pre-trade limit %s %g must be >= 0", d[i].name, d[i].v);
    if (l->throttle_orders < 0 || l->throttle_orders > QA_PRETRADE_THROTTLE_CAP)
        return QA_FAIL(QA_ERR_CONFIG, "pre-trade limit throttle_orders %d must lie in [0, %d]", l->throttle_orders,
                       QA_PRETRADE_THROTTLE_CAP);
    if (l->throttle_orders > 0 && l->throttle_window_ns <= 0)
        return QA_FAIL(QA_ERR_CONFIG, "pre-trade limit throttle_window_ns %lld must be > 0 when throttle_orders is set",
                       (long long)l->throttle_window_ns);
    if (l->duplicate_ids < 0 || l->duplicate_ids > QA_PRETRADE_IDS_CAP)
        return QA_FAIL(QA_ERR_CONFIG, "pre-trade limit duplicate_ids %d must lie in [0, %d]", l->duplicate_ids,
                       QA_PRETRADE_IDS_CAP);
    if (l->throttle_window_ns < 0 || l->duplicate_window_ns < 0)
        return QA_FAIL(QA_ERR_CONFIG, "pre-trade windows must be >= 0 ns");
    return QA_OK;
}

#define L_NUM(key, field, lo, hi, doc) QA_CFG_NUM(qa_pretrade_limits, key, field, lo, hi, 0, doc)
static const qa_cfg_field limits_schema[] = {
    L_NUM("max_order_qty", max_order_qty, 0, INFINITY, "|order quantity|, shares (.inf = off)"),
    L_NUM("max_order_notional", max_order_notional, 0, INFINITY, "|quantity| x order price, currency (.inf = off)"),
    L_NUM("max_position", max_position, 0, INFINITY, "|position + working + quantity|, shares (.inf = off)"),
    L_NUM("max_position_weight", max_position_weight, 0, INFINITY, "|position value| / equity after the order (.inf = off)"),
    L_NUM("max_gross", max_gross, 0, INFINITY, "gross exposure / equity after the order (.inf = off)"),
    L_NUM("price_band", price_band, 0, INFINITY, "|order price / last trade - 1| (0 = off)"),
    {"price_collar", QA_CFG_T_DOUBLE, offsetof(qa_pretrade_limits, price_band), 0, INFINITY, NULL, NULL, QA_CFG_ALIAS,
     "the simulator's older name of price_band"},
    L_NUM("throttle_orders", throttle_orders, 0, QA_PRETRADE_THROTTLE_CAP, "accepted orders per window (0 = off)"),
    L_NUM("throttle_window_ns", throttle_window_ns, 0, 9.2e18, "throttle window, market ns"),
    L_NUM("duplicate_ids", duplicate_ids, 0, QA_PRETRADE_IDS_CAP, "client order ids remembered (0 = off)"),
    L_NUM("duplicate_window_ns", duplicate_window_ns, 0, 9.2e18, "same symbol/side/qty window, market ns (0 = off)"),
    QA_CFG_FIELD(qa_pretrade_limits, "buying_power", QA_CFG_T_BOOL, buying_power, 0, "check buying power"),
    {NULL},
};
#undef L_NUM

qa_status qa_pretrade_limits_bind(const qa_cfg_t *cfg, const qa_cfg_node *map, const char *section,
                                  qa_pretrade_limits *out) {
    if (!section) section = "pretrade";
    if (!map || qa_cfg_node_kind(map) != QA_CFG_MAP)
        return qa_cfg_error(cfg, map, section, "expected a map of pre-trade limits");
    qa_pretrade_limits l;
    qa_pretrade_limits_default(&l);
    qa_status st = qa_cfg_bind(cfg, map, limits_schema, &l, section);
    if (st != QA_OK) return st;
    if (l.throttle_orders > 0 && l.throttle_window_ns <= 0) {
        char what[96];
        snprintf(what, sizeof what, "%s.throttle_window_ns", section);
        return qa_cfg_error(cfg, map, what, "must be > 0 when throttle_orders is %d", l.throttle_orders);
    }
    if (qa_pretrade_limits_validate(&l) != QA_OK) return qa_cfg_error(cfg, map, section, "%s", qa_err_msg());
    *out = l;
    return QA_OK;
}

/* ---- guard --------------------------------------------------------------------------- */

void qa_pretrade_guard_init(qa_pretrade_guard *g) { memset(g, 0, sizeof *g); }

/* FNV-1a, 64 bits: a fast first comparison before strcmp. */
static uint64_t id_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

void qa_pretrade_record(qa_pretrade_guard *g, const qa_pretrade_order *o) {
    if (o->clordid && o->clordid[0]) {
        size_t k = (size_t)(g->nids % QA_PRETRADE_IDS_CAP);
        snprintf(g->ids[k], sizeof g->ids[k], "%s", o->clordid);
        g->id_hash[k] = id_hash(g->ids[k]);
        g->nids++;
    }
    g->times[g->ntimes % QA_PRETRADE_THROTTLE_CAP] = o->time;
    g->ntimes++;
    qa_pretrade_recent *r = &g->recent[g->nrecent % QA_PRETRADE_RECENT_CAP];
    memset(r, 0, sizeof *r); /* whole bytes defined: guards compare and save as bytes */
    snprintf(r->symbol, sizeof r->symbol, "%s", o->symbol ? o->symbol : "");
    r->qty = o->qty;
    r->time = o->time;
    g->nrecent++;
}

/* ---- checking ------------------------------------------------------------------------ */

/* x with `dec` decimals and thousands separators: 12000 -> "12,000.00". */
static const char *num(char *buf, size_t n, double x, int dec) {
    if (!isfinite(x)) {
        snprintf(buf, n, "%g", x);
        return buf;
    }
    char raw[64];
    snprintf(raw, sizeof raw, "%.*f", dec, fabs(x));
    const char *dot = strchr(raw, '.');
    size_t ilen = dot ? (size_t)(dot - raw) : strlen(raw), j = 0;
    char out[96];
    if (x < 0 && strspn(raw, "0.") != strlen(raw)) out[j++] = '-';
    for (size_t i = 0; i < ilen; i++) {
        if (i && (ilen - i) % 3 == 0) out[j++] = ',';
        out[j++] = raw[i];
    }
    snprintf(out + j, sizeof out - j, "%s", dot ? dot : "");
    snprintf(buf, n, "%s", out);
    return buf;
}

/* Shares print whole when whole, else with 4 decimals. */
static const char *shares(char *buf, size_t n, double q) { return num(buf, n, q, q == floor(q) ? 0 : 4); }

static qa_pretrade_reason refuse(qa_pretrade_reason r, char *detail, size_t size, const char *fmt, ...) {
    if (detail && size) {
        int k = snprintf(detail, size, "%s: ", reason_names[r]);
        if (k >= 0 && (size_t)k < size) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(detail + k, size - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return r;
}

static int positive(double x) { return isfinite(x) && x > 0; }

qa_pretrade_reason qa_pretrade_check(const qa_pretrade_limits *l, const qa_pretrade_guard *g, const qa_pretrade_account *a,
                                     const qa_pretrade_order *o, char *detail, size_t size) {
    char b1[64], b2[64], b3[64];
    if (detail && size) detail[0] = '\0';

    /* bad_order: nothing else can be judged on a malformed order */
    if (!o->symbol || !o->symbol[0] || strlen(o->symbol) >= QA_PRETRADE_SYMBOL_LEN)
        return refuse(QA_PRETRADE_BAD_ORDER, detail, size, "symbol missing or longer than %d characters",
                      QA_PRETRADE_SYMBOL_LEN - 1);
    if (o->clordid && strlen(o->clordid) >= QA_PRETRADE_ID_LEN)
        return refuse(QA_PRETRADE_BAD_ORDER, detail, size, "%s: client order id longer than %d characters", o->symbol,
                      QA_PRETRADE_ID_LEN - 1);
    if (!isfinite(o->qty) || o->qty == 0)
        return refuse(QA_PRETRADE_BAD_ORDER, detail, size, "%s: order quantity %g is not tradable", o->symbol, o->qty);
    const int market = isnan(o->limit);
    if (!market && !positive(o->limit))
        return refuse(QA_PRETRADE_BAD_ORDER, detail, size, "%s: limit price %g is not a price > 0", o->symbol, o->limit);

    /* positions: P before, P' after, and whether the order reduces without crossing */
    const double P = a->position + a->working, P1 = P + o->qty;
    const int crosses = (P > 0 && P1 < 0) || (P < 0 && P1 > 0);
    const int reduces = fabs(P1) <= fabs(P) && !crosses;

    if (a->state == QA_STATE_HALTED)
        return refuse(QA_PRETRADE_HALTED, detail, size, "%s: trading state HALTED refuses every order", o->symbol);
    if (a->state == QA_STATE_REDUCING && !reduces)
        return refuse(QA_PRETRADE_REDUCING, detail, size, "%s: position %s -> %s %s (state REDUCING)", o->symbol,
                      shares(b1, sizeof b1, P), shares(b2, sizeof b2, P1), crosses ? "crosses zero" : "increases |position|");
    if (o->reduce_only && !reduces)
        return refuse(QA_PRETRADE_REDUCE_ONLY, detail, size, "%s: position %s -> %s %s", o->symbol,
                      shares(b1, sizeof b1, P), shares(b2, sizeof b2, P1), crosses ? "crosses zero" : "increases |position|");

    /* duplicate_id: the last K accepted ids, newest first */
    if (o->clordid && o->clordid[0] && l->duplicate_ids > 0) {
        uint64_t h = id_hash(o->clordid), n = g->nids, k = (uint64_t)l->duplicate_ids;
        if (k > QA_PRETRADE_IDS_CAP) k = QA_PRETRADE_IDS_CAP;
        if (k > n) k = n;
        for (uint64_t i = 1; i <= k; i++) {
            size_t s = (size_t)((n - i) % QA_PRETRADE_IDS_CAP);
            if (g->id_hash[s] == h && strcmp(g->ids[s], o->clordid) == 0)
                return refuse(QA_PRETRADE_DUPLICATE_ID, detail, size, "%s: client order id '%s' was already accepted",
                              o->symbol, o->clordid);
        }
    }
    /* duplicate_order: same symbol, side and quantity accepted less than the window earlier */
    if (l->duplicate_window_ns > 0) {
        uint64_t n = g->nrecent < QA_PRETRADE_RECENT_CAP ? g->nrecent : QA_PRETRADE_RECENT_CAP;
        for (uint64_t i = 0; i < n; i++) {
            const qa_pretrade_recent *r = &g->recent[i];
            if (r->qty == o->qty && o->time - r->time < l->duplicate_window_ns && strcmp(r->symbol, o->symbol) == 0)
                return refuse(QA_PRETRADE_DUPLICATE_ORDER, detail, size,
                              "%s: %s %s as an order accepted %lld ns earlier (window %lld ns)", o->symbol,
                              o->qty > 0 ? "buy" : "sell", shares(b1, sizeof b1, fabs(o->qty)),
                              (long long)(o->time - r->time), (long long)l->duplicate_window_ns);
        }
    }
    /* throttle: the N-th latest accepted order must be at least W ns old */
    if (l->throttle_orders > 0) {
        uint64_t N = (uint64_t)l->throttle_orders;
        if (N > QA_PRETRADE_THROTTLE_CAP) N = QA_PRETRADE_THROTTLE_CAP;
        if (g->ntimes >= N) {
            int64_t oldest = g->times[(g->ntimes - N) % QA_PRETRADE_THROTTLE_CAP];
            if (o->time - oldest < l->throttle_window_ns)
                return refuse(QA_PRETRADE_THROTTLE, detail, size,
                              "%s: %d orders accepted in the last %lld ns (window %lld ns)", o->symbol,
                              l->throttle_orders, (long long)(o->time - oldest), (long long)l->throttle_window_ns);
        }
    }

    const double aq = fabs(o->qty);
    if (aq > l->max_order_qty)
        return refuse(QA_PRETRADE_MAX_QTY, detail, size, "%s: order quantity %s > %s", o->symbol,
                      shares(b1, sizeof b1, aq), shares(b2, sizeof b2, l->max_order_qty));

    /* prices: p (order price) and m (mark), needed only by the checks that are on */
    const int band = l->price_band > 0;
    const int exposure = !reduces && (isfinite(l->max_position_weight) || isfinite(l->max_gross) || l->buying_power);
    const int need_price = band || isfinite(l->max_order_notional) || exposure;
    const double p = market ? o->ref_price : o->limit;
    const double m = positive(o->ref_price) ? o->ref_price : p;
    if (need_price && market && !positive(o->ref_price))
        return refuse(QA_PRETRADE_NO_REFERENCE_PRICE, detail, size, "%s: a market order needs a reference price > 0 (%g)",
                      o->symbol, o->ref_price);
    if (band) {
        if (!positive(a->last_price))
            return refuse(QA_PRETRADE_NO_REFERENCE_PRICE, detail, size, "%s: no last trade price (%g) for the price band",
                          o->symbol, a->last_price);
        double dev = fabs(p / a->last_price - 1);
        if (dev > l->price_band)
            return refuse(QA_PRETRADE_PRICE_BAND, detail, size, "%s: %s price %.4f is %.2f%% from the last trade %.4f (band %.2f%%)",
                          o->symbol, market ? "reference" : "limit", p, 100 * dev, a->last_price, 100 * l->price_band);
    }
    if (isfinite(l->max_order_notional) && aq * p > l->max_order_notional)
        return refuse(QA_PRETRADE_MAX_NOTIONAL, detail, size, "%s: order notional %s > %s", o->symbol,
                      num(b1, sizeof b1, aq * p, 2), num(b2, sizeof b2, l->max_order_notional, 2));

    if (reduces) return QA_PRETRADE_OK; /* exposure limits never lock a position */
    if (fabs(P1) > l->max_position)
        return refuse(QA_PRETRADE_MAX_POSITION, detail, size, "%s: |position after the order| %s > %s shares", o->symbol,
                      shares(b1, sizeof b1, fabs(P1)), shares(b2, sizeof b2, l->max_position));
    if (isfinite(l->max_position_weight)) {
        if (!(a->equity > 0))
            return refuse(QA_PRETRADE_MAX_POSITION_WEIGHT, detail, size, "%s: equity %s is not positive", o->symbol,
                          num(b1, sizeof b1, a->equity, 2));
        double w = fabs(P1) * m / a->equity;
        if (!(w <= l->max_position_weight))
            return refuse(QA_PRETRADE_MAX_POSITION_WEIGHT, detail, size,
                          "%s: position after the order %.2f%% of equity > %.2f%%", o->symbol, 100 * w,
                          100 * l->max_position_weight);
    }
    if (isfinite(l->max_gross)) {
        if (!(a->equity > 0))
            return refuse(QA_PRETRADE_MAX_GROSS, detail, size, "%s: equity %s is not positive", o->symbol,
                          num(b1, sizeof b1, a->equity, 2));
        double gx = (a->gross_value - fabs(P) * m + fabs(P1) * m) / a->equity;
        if (!(gx <= l->max_gross))
            return refuse(QA_PRETRADE_MAX_GROSS, detail, size, "%s: gross exposure after the order %.4fx equity > %.4fx",
                          o->symbol, gx, l->max_gross);
    }
    if (l->buying_power && fabs(P1) > fabs(P)) {
        double need = aq * p * (1 + a->fee_rate);
        if (!(need <= a->buying_power))
            return refuse(QA_PRETRADE_BUYING_POWER, detail, size, "%s: %s needed (fee rate %g) > %s available", o->symbol,
                          num(b1, sizeof b1, need, 2), a->fee_rate, num(b3, sizeof b3, a->buying_power, 2));
    }
    return QA_PRETRADE_OK;
}
