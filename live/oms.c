/* The order state machine and client order ids (live/oms.h). */
#include "live/oms.h"

#include <math.h>    /* fabs, isnan */
#include <stdio.h>   /* snprintf */
#include <string.h>  /* strlen */

const char *const qa_oms_state_names[] = {"new",       "accepted", "partially_filled", "filled", "pending_cancel",
                                          "cancelled", "rejected", "expired",          NULL};
_Static_assert(sizeof qa_oms_state_names / sizeof *qa_oms_state_names == QA_OMS_STATE_COUNT + 1, "state names");
const char *const qa_oms_event_names[] = {"new",       "accepted",        "rejected", "fill", "cancel_request",
                                          "cancelled", "cancel_rejected", "expired",  NULL};
_Static_assert(sizeof qa_oms_event_names / sizeof *qa_oms_event_names == QA_OMS_EVENT_COUNT + 1, "event names");
const char *const qa_oms_type_names[] = {"parent", "market", "limit", NULL};
_Static_assert(sizeof qa_oms_type_names / sizeof *qa_oms_type_names == QA_OMS_TYPE_COUNT + 1, "type names");

int qa_oms_final(qa_oms_state s) {
    return s == QA_OMS_FILLED || s == QA_OMS_CANCELLED || s == QA_OMS_REJECTED || s == QA_OMS_EXPIRED;
}

static const char *sname(int s) { return s >= 0 && s < QA_OMS_STATE_COUNT ? qa_oms_state_names[s] : "?"; }
static const char *ename(int e) { return e >= 0 && e < QA_OMS_EVENT_COUNT ? qa_oms_event_names[e] : "?"; }

qa_status qa_oms_next(qa_oms_state from, qa_oms_event ev, double filled, double qty, qa_oms_state *to) {
    const int full = filled >= qty;
    int ok = 0;
    qa_oms_state next = from;
    switch (ev) {
    case QA_OMS_EV_ACCEPTED:
        ok = from == QA_OMS_NEW, next = QA_OMS_ACCEPTED;
        break;
    case QA_OMS_EV_REJECTED:
        ok = from == QA_OMS_NEW, next = QA_OMS_REJECTED;
        break;
    case QA_OMS_EV_FILL:
        ok = from == QA_OMS_ACCEPTED || from == QA_OMS_PARTIAL || from == QA_OMS_PENDING_CANCEL;
        next = full ? QA_OMS_FILLED : from == QA_OMS_PENDING_CANCEL ? QA_OMS_PENDING_CANCEL : QA_OMS_PARTIAL;
        break;
    case QA_OMS_EV_CANCEL_REQUEST:
        ok = from == QA_OMS_ACCEPTED || from == QA_OMS_PARTIAL, next = QA_OMS_PENDING_CANCEL;
        break;
    case QA_OMS_EV_CANCELLED:
        ok = from == QA_OMS_PENDING_CANCEL || from == QA_OMS_NEW || from == QA_OMS_ACCEPTED || from == QA_OMS_PARTIAL;
        next = QA_OMS_CANCELLED;
        break;
    case QA_OMS_EV_CANCEL_REJECTED:
        ok = from == QA_OMS_PENDING_CANCEL;
        next = full ? QA_OMS_FILLED : filled > 0.0 ? QA_OMS_PARTIAL : QA_OMS_ACCEPTED;
        break;
    case QA_OMS_EV_EXPIRED:
        ok = from == QA_OMS_ACCEPTED || from == QA_OMS_PARTIAL, next = QA_OMS_EXPIRED;
        break;
    default:
        break;
    }
    if (!ok) return QA_FAIL(QA_ERR_STATE, "illegal order transition: %s in state %s", ename((int)ev), sname((int)from));
    *to = next;
    return QA_OK;
}

qa_status qa_oms_parent_id(const char *strategy, const char *symbol, uint64_t signal_id, char out[QA_OMS_ID_LEN]) {
    size_t n = strlen(strategy);
    if (n == 0 || n >= QA_OMS_STRATEGY_LEN)
        return QA_FAIL(QA_ERR_INVALID_ARG, "strategy '%s': 1 to %d characters", strategy, QA_OMS_STRATEGY_LEN - 1);
    for (size_t i = 0; i < n; i++) {
        char c = strategy[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return QA_FAIL(QA_ERR_INVALID_ARG, "strategy '%s': only letters, digits and '_'", strategy);
    }
    if (!*symbol || strlen(symbol) >= sizeof ((qa_oms_order *)0)->symbol)
        return QA_FAIL(QA_ERR_INVALID_ARG, "symbol '%s': 1 to %zu characters", symbol, sizeof ((qa_oms_order *)0)->symbol - 1);
    int w = snprintf(out, QA_OMS_ID_LEN, "%s-%s-%016llx", strategy, symbol, (unsigned long long)signal_id);
    if (w < 0 || w >= QA_OMS_ID_LEN - 14) /* room for a child's ".NNNNN" and a trade id's "#NNNNNNN" */
        return QA_FAIL(QA_ERR_INVALID_ARG, "order id of strategy '%s' and symbol '%s' is too long", strategy, symbol);
    return QA_OK;
}

qa_status qa_oms_child_id(const char *parent, int n, char out[QA_OMS_ID_LEN]) {
    if (n < 1 || n > 99999) return QA_FAIL(QA_ERR_INVALID_ARG, "child number %d: 1 to 99999", n);
    int w = snprintf(out, QA_OMS_ID_LEN, "%s.%d", parent, n);
    if (w < 0 || w >= QA_OMS_ID_LEN - 8) return QA_FAIL(QA_ERR_INVALID_ARG, "child id of '%s' is too long", parent);
    return QA_OK;
}

qa_status qa_oms_apply(qa_oms_order *o, qa_oms_event ev, double qty, double price, double fee, int64_t time) {
    double filled = o->filled;
    if (ev == QA_OMS_EV_FILL) {
        if (!(qty > 0.0) || filled + qty > o->qty * (1.0 + 1e-12))
            return QA_FAIL(QA_ERR_STATE, "order %s: a fill of %.17g shares with %.17g of %.17g filled", o->clordid, qty,
                           filled, o->qty);
        filled += qty;
    }
    qa_oms_state to;
    QA_TRY_RET(qa_oms_next((qa_oms_state)o->state, ev, filled, o->qty, &to));
    if (ev == QA_OMS_EV_FILL) {
        o->avg_price = o->filled == 0.0 || isnan(o->avg_price) ? price : (o->avg_price * o->filled + price * qty) / filled;
        o->filled = filled;
        o->fees += fee;
    }
    o->state = (int)to;
    o->version++;
    o->updated = time;
    return QA_OK;
}
