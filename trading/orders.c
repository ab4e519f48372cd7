/* Order model: names, validation, the per-bar fill rules and the book of working
 * orders. Rules and examples: docs/simulator.md ("Order model"). */
#include "trading/orders.h"

#include <math.h>    /* isfinite, isnan, fabs, NAN */
#include <stdint.h>  /* SIZE_MAX */
#include <stdlib.h>  /* realloc, free */
#include <string.h>  /* memset */

const char *const qa_order_type_names[] = {"moc", "market", "limit", "stop", NULL};
const char *const qa_order_tif_names[] = {"day", "gtc", NULL};
static const char *const status_names[] = {"working", "filled", "cancelled", "expired", "rejected"};
static const char *const event_names[] = {"new", "fill", "cancelled", "expired", "rejected"};
_Static_assert(sizeof qa_order_type_names / sizeof qa_order_type_names[0] == QA_ORDER_TYPE_COUNT + 1, "type names");
_Static_assert(sizeof qa_order_tif_names / sizeof qa_order_tif_names[0] == QA_TIF_COUNT + 1, "tif names");
_Static_assert(sizeof status_names / sizeof status_names[0] == QA_ORDER_STATUS_COUNT, "status names");
_Static_assert(sizeof event_names / sizeof event_names[0] == QA_ORDER_EVENT_COUNT, "event names");

const char *qa_order_type_name(qa_order_type t) {
    return (t >= 0 && t < QA_ORDER_TYPE_COUNT) ? qa_order_type_names[t] : "?";
}
const char *qa_order_tif_name(qa_order_tif t) { return (t >= 0 && t < QA_TIF_COUNT) ? qa_order_tif_names[t] : "?"; }
const char *qa_order_status_name(qa_order_status s) {
    return (s >= 0 && s < QA_ORDER_STATUS_COUNT) ? status_names[s] : "?";
}
const char *qa_order_event_name(qa_order_event e) {
    return (e >= 0 && e < QA_ORDER_EVENT_COUNT) ? event_names[e] : "?";
}

qa_status qa_order_make(qa_order *o, size_t symbol, qa_order_type type, qa_order_tif tif, double qty, double price,
                        int64_t placed) {
    if ((int)type < 0 || type >= QA_ORDER_TYPE_COUNT) return QA_FAIL(QA_ERR_INVALID_ARG, "order type %d is unknown", (int)type);
    if ((int)tif < 0 || tif >= QA_TIF_COUNT) return QA_FAIL(QA_ERR_INVALID_ARG, "time in force %d is unknown", (int)tif);
    if (!isfinite(qty) || qty == 0.0)
        return QA_FAIL(QA_ERR_INVALID_ARG, "order quantity %g must be finite and non-zero", qty);
    if ((type == QA_ORDER_LIMIT || type == QA_ORDER_STOP) && !(isfinite(price) && price > 0.0))
        return QA_FAIL(QA_ERR_INVALID_ARG, "%s order needs a positive price (got %g)", qa_order_type_name(type), price);
    memset(o, 0, sizeof *o);
    o->symbol = symbol;
    o->type = type;
    o->tif = tif;
    o->qty = qty;
    o->limit = type == QA_ORDER_LIMIT ? price : NAN;
    o->stop = type == QA_ORDER_STOP ? price : NAN;
    o->filled = 0.0;
    o->avg_price = NAN;
    o->placed = placed;
    o->status = QA_ORDER_WORKING;
    return QA_OK;
}

int qa_order_eligible(const qa_order *o, int64_t t) {
    return o->type == QA_ORDER_MOC ? t >= o->placed : t > o->placed;
}

int qa_order_fill_rule(const qa_order *o, const qa_order_bar *b, double participation, double *qty, double *price) {
    const int buy = o->qty > 0.0;
    const double c = b->close;
    const double op = isnan(b->open) ? c : b->open;
    const double hi = isnan(b->high) ? (op > c ? op : c) : b->high;
    const double lo = isnan(b->low) ? (op < c ? op : c) : b->low;
    double px;
    switch (o->type) {
    case QA_ORDER_MOC:
        px = c;
        break;
    case QA_ORDER_MARKET:
        px = op;
        break;
    case QA_ORDER_LIMIT:
        if (buy) px = op <= o->limit ? op : (lo <= o->limit ? o->limit : NAN);
        else px = op >= o->limit ? op : (hi >= o->limit ? o->limit : NAN);
        break;
    case QA_ORDER_STOP:
        if (buy) px = op >= o->stop ? op : (hi >= o->stop ? o->stop : NAN);
        else px = op <= o->stop ? op : (lo <= o->stop ? o->stop : NAN);
        break;
    default:
        return 0;
    }
    if (isnan(px)) return 0;
    double rem = fabs(o->qty - o->filled);
    double q = rem;
    if (participation > 0.0) {
        double cap = b->volume > 0.0 ? participation * b->volume : 0.0; /* NaN volume compares false */
        if (cap < q) q = cap;
    }
    if (!(q > 0.0)) return 0;
    *qty = buy ? q : -q;
    *price = px;
    return 1;
}

/* ---- book ------------------------------------------------------------------------------------ */

void qa_order_book_init(qa_order_book *b) {
    memset(b, 0, sizeof *b);
    b->next_id = 1;
}

void qa_order_book_free(qa_order_book *b) {
    if (!b) return;
    free(b->orders);
    memset(b, 0, sizeof *b);
}

qa_status qa_order_book_submit(qa_order_book *b, qa_order *o, qa_order_event_fn cb, void *ctx, int64_t *id) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 64;
        qa_order *p = realloc(b->orders, cap * sizeof *p);
        if (!p) return QA_FAIL(QA_ERR_NOMEM, "order book of %zu orders", cap);
        b->orders = p;
        b->cap = cap;
    }
    o->id = b->next_id++;
    o->status = QA_ORDER_WORKING;
    b->orders[b->n++] = *o;
    if (id) *id = o->id;
    return cb ? cb(ctx, o, QA_ORDER_EV_NEW, 0.0, NAN) : QA_OK;
}

/* Drops orders that are no longer working, keeping submission order. */
static void compact(qa_order_book *b) {
    size_t k = 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->orders[i].status == QA_ORDER_WORKING) b->orders[k++] = b->orders[i];
    b->n = k;
}

static int has_bar(const qa_order_bar *bars, size_t s) { return !isnan(bars[s].close); }

qa_status qa_order_book_match(qa_order_book *b, int64_t t, const qa_order_bar *bars, double participation,
                              int64_t only_id, qa_order_event_fn cb, void *ctx) {
    qa_status st = QA_OK;
    size_t i = 0;
    if (only_id > 0) { /* the order just submitted sits at the end */
        i = b->n;
        while (i > 0 && b->orders[i - 1].id != only_id) i--;
        if (i == 0) return QA_FAIL(QA_ERR_NOT_FOUND, "order %lld is not working", (long long)only_id);
        i--;
    }
    for (; i < b->n; i++) {
        qa_order *o = &b->orders[i];
        if (o->status != QA_ORDER_WORKING || !has_bar(bars, o->symbol) || !qa_order_eligible(o, t)) {
            if (only_id > 0) break;
            continue;
        }
        double q, px;
        if (qa_order_fill_rule(o, &bars[o->symbol], participation, &q, &px)) {
            double before = o->filled;
            o->filled = before + q;
            o->nfills++;
            o->avg_price = before == 0.0 ? px : (o->avg_price * fabs(before) + px * fabs(q)) / fabs(o->filled);
            /* the last fill takes exactly the remaining quantity */
            if (fabs(o->qty - o->filled) <= 1e-12 * fabs(o->qty)) {
                o->filled = o->qty;
                o->status = QA_ORDER_FILLED;
            }
            if (cb && (st = cb(ctx, o, QA_ORDER_EV_FILL, q, px)) != QA_OK) break;
        }
        if (only_id > 0) break;
    }
    compact(b);
    return st;
}

qa_status qa_order_book_expire(qa_order_book *b, int64_t t, const qa_order_bar *bars, qa_order_event_fn cb, void *ctx) {
    qa_status st = QA_OK;
    for (size_t i = 0; i < b->n && st == QA_OK; i++) {
        qa_order *o = &b->orders[i];
        if (o->status != QA_ORDER_WORKING || o->tif != QA_TIF_DAY || !has_bar(bars, o->symbol) ||
            !qa_order_eligible(o, t))
            continue;
        o->status = QA_ORDER_EXPIRED;
        if (cb) st = cb(ctx, o, QA_ORDER_EV_EXPIRED, 0.0, NAN);
    }
    compact(b);
    return st;
}

qa_status qa_order_book_cancel(qa_order_book *b, int64_t id, qa_order_event_fn cb, void *ctx) {
    for (size_t i = 0; i < b->n; i++) {
        qa_order *o = &b->orders[i];
        if (o->id != id || o->status != QA_ORDER_WORKING) continue;
        o->status = QA_ORDER_CANCELLED;
        qa_status st = cb ? cb(ctx, o, QA_ORDER_EV_CANCELLED, 0.0, NAN) : QA_OK;
        compact(b);
        return st;
    }
    return QA_FAIL(QA_ERR_NOT_FOUND, "order %lld is not working", (long long)id);
}

qa_status qa_order_book_cancel_symbol(qa_order_book *b, size_t symbol, qa_order_event_fn cb, void *ctx) {
    qa_status st = QA_OK;
    for (size_t i = 0; i < b->n && st == QA_OK; i++) {
        qa_order *o = &b->orders[i];
        if (o->status != QA_ORDER_WORKING || (symbol != SIZE_MAX && o->symbol != symbol)) continue;
        o->status = QA_ORDER_CANCELLED;
        if (cb) st = cb(ctx, o, QA_ORDER_EV_CANCELLED, 0.0, NAN);
    }
    compact(b);
    return st;
}

qa_status qa_order_book_cancel_side(qa_order_book *b, size_t symbol, int side, qa_order_event_fn cb, void *ctx) {
    qa_status st = QA_OK;
    for (size_t i = 0; i < b->n && st == QA_OK; i++) {
        qa_order *o = &b->orders[i];
        if (o->status != QA_ORDER_WORKING || o->symbol != symbol || (o->qty > 0.0) != (side > 0)) continue;
        o->status = QA_ORDER_CANCELLED;
        if (cb) st = cb(ctx, o, QA_ORDER_EV_CANCELLED, 0.0, NAN);
    }
    compact(b);
    return st;
}

double qa_order_book_working_qty(const qa_order_book *b, size_t symbol) {
    double q = 0.0;
    for (size_t i = 0; i < b->n; i++)
        if (b->orders[i].symbol == symbol && b->orders[i].status == QA_ORDER_WORKING)
            q += b->orders[i].qty - b->orders[i].filled;
    return q;
}
