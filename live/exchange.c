/* The paper exchange (live/exchange.h): one acceptor session in front of the paper venue,
 * a loop that takes one request at a time, commits it at the venue and only then sends
 * its answer; and the report encoding the FIX broker adapter reads back. */
#include "live/exchange.h"

#include <errno.h>   /* errno, ERANGE */
#include <inttypes.h> /* PRId64 */
#include <math.h>    /* isfinite, NAN */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* malloc, free, strtod, strtoll */
#include <string.h>  /* strcmp, memcpy */
#include <time.h>    /* gmtime_r: TransactTime */

#include "common/fs.h"       /* state directory, the clock file */
#include "common/log.h"      /* a failed request in the loop */
#include "datasets/store.h"  /* the market file */

struct qa_exchange {
    qa_exchange_cfg cfg;
    qa_venue_t *venue;
    qa_fix_t *fix;
    size_t S, T;
    int64_t *time;        /* [T] */
    char *names;          /* S x QA_STORE_SYMBOL_LEN */
    const char **symbols; /* [S] into names */
    double *bars;         /* [5][S][T]: field f of symbol s at t is bars[(f*S + s)*T + t] */
    qa_order_bar *bar_buf; /* [S] one timestamp's bars */
    const char **sym_buf;  /* [S] their symbols */
    char clock_path[QA_PATH_MAX];
    int64_t saved_clock;
    qa_exchange_stats stats;
};

void qa_exchange_cfg_default(qa_exchange_cfg *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->sender, sizeof c->sender, "QAEX");
    snprintf(c->target, sizeof c->target, "QA");
    qa_venue_cfg_default(&c->venue);
}

int qa_exchange_port(const qa_exchange_t *x) { return x ? qa_fix_port(x->fix) : 0; }

void qa_exchange_get_stats(const qa_exchange_t *x, qa_exchange_stats *out) { *out = x->stats; }

/* ---- the report encoding ------------------------------------------------------------------ */

static qa_status set_str(qa_fix_msg_t *m, int tag, const char *v) {
    return v && v[0] ? qa_fix_msg_set(m, tag, v) : QA_OK; /* FIX has no empty fields: absent */
}
static qa_status set_num(qa_fix_msg_t *m, int tag, double v) {
    return isfinite(v) ? qa_fix_msg_set_double(m, tag, v) : QA_OK; /* NaN: absent */
}

/* TransactTime(60) for humans: UTC with nanoseconds. */
static qa_status set_transact_time(qa_fix_msg_t *m, int64_t ns) {
    if (ns < 0) return QA_OK; /* before 1970 (or "none"): only the exact tag */
    time_t s = (time_t)(ns / 1000000000);
    struct tm tm;
    if (!gmtime_r(&s, &tm)) return QA_OK;
    char buf[48];
    snprintf(buf, sizeof buf, "%04d%02d%02d-%02d:%02d:%02d.%09lld", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)(ns % 1000000000));
    return qa_fix_msg_set(m, 60, buf);
}

static const char exec_types[QA_VENUE_EV_COUNT] = {'0', 'F', '4', 'C', '8', '5'}; /* by qa_venue_ev */

static char ord_status(const qa_venue_event *e) {
    switch (e->kind) {
    case QA_VENUE_EV_NEW: return e->cum > 0.0 ? '1' : '0';
    case QA_VENUE_EV_FILL: return e->leaves > 0.0 ? '1' : '2';
    case QA_VENUE_EV_CANCELLED: return '4';
    case QA_VENUE_EV_EXPIRED: return 'C';
    case QA_VENUE_EV_REPLACED: return '5';
    default: return '8';
    }
}

/* Where an event's own client order id goes: OrigClOrdID(41) for what FIX reports
 * against the original order (cancelled, replaced, a rejected cancel), else ClOrdID(11). */
static int event_id_tag(const char *msgtype, const char *exec_type, const char *cxl_rej_to) {
    if (strcmp(msgtype, "9") == 0) return cxl_rej_to && strcmp(cxl_rej_to, "1") == 0 ? 41 : 11;
    if (exec_type && (strcmp(exec_type, "4") == 0 || strcmp(exec_type, "5") == 0)) return 41;
    return 11;
}

qa_status qa_exchange_report_encode(qa_fix_msg_t *m, const qa_venue_event *e, qa_exchange_ctx ctx,
                                    const char *req_clordid, const char *orig) {
    if (e->kind < 0 || e->kind >= QA_VENUE_EV_COUNT) return QA_FAIL(QA_ERR_INVALID_ARG, "report of event kind %d", e->kind);
    const char *type = qa_fix_msg_type(m);
    const int is_er = strcmp(type, "8") == 0;
    char c[2] = {0, 0};
    if (is_er) {
        c[0] = exec_types[e->kind];
        if (ctx == QA_EXCHANGE_CTX_ORDER) c[0] = 'I';
        QA_TRY_RET(qa_fix_msg_set(m, 150, c));
    }
    c[0] = ord_status(e);
    QA_TRY_RET(qa_fix_msg_set(m, 39, c));
    QA_TRY_RET(qa_fix_msg_set(m, 37, e->clordid[0] ? e->clordid : "NONE")); /* OrderID: the venue has no other */
    const int id_tag = event_id_tag(type, qa_fix_msg_get(m, 150), qa_fix_msg_get(m, 434));
    QA_TRY_RET(set_str(m, id_tag, e->clordid));
    if (id_tag == 41) QA_TRY_RET(set_str(m, 11, req_clordid));
    else QA_TRY_RET(set_str(m, 41, orig));
    if (ctx == QA_EXCHANGE_CTX_EVENT && e->kind == QA_VENUE_EV_FILL) QA_TRY_RET(set_str(m, 17, e->trade_id));
    QA_TRY_RET(set_str(m, 55, e->symbol));
    if (e->side == 1 || e->side == -1) QA_TRY_RET(qa_fix_msg_set(m, 54, e->side == 1 ? "1" : "2"));
    else if (e->side != 0) QA_TRY_RET(qa_fix_msg_set_int(m, QA_TAG_RAW_SIDE, e->side));
    QA_TRY_RET(qa_fix_msg_set_int(m, QA_TAG_MARKET_TIME, e->time));
    QA_TRY_RET(set_transact_time(m, e->time));
    if (ctx == QA_EXCHANGE_CTX_ORDER) {
        QA_TRY_RET(set_num(m, 38, e->qty));
        QA_TRY_RET(set_num(m, 44, e->price));
    } else {
        QA_TRY_RET(set_num(m, 32, e->qty));
        QA_TRY_RET(set_num(m, 31, e->price));
    }
    QA_TRY_RET(set_num(m, 12, e->fee));
    QA_TRY_RET(set_num(m, 14, e->cum));
    QA_TRY_RET(set_num(m, 151, e->leaves));
    /* AvgPx is required: 0 before the first fill, when the venue's average is NaN (its
     * average is finite exactly when CumQty > 0). */
    QA_TRY_RET(qa_fix_msg_set_double(m, 6, isfinite(e->avg_price) ? e->avg_price : 0.0));
    QA_TRY_RET(set_num(m, QA_TAG_BAR_VOLUME, e->bar_volume));
    return set_str(m, 58, e->reason);
}

static void get_id(const qa_fix_msg_t *m, int tag, char *dst, size_t size) {
    const char *v = qa_fix_msg_get(m, tag);
    snprintf(dst, size, "%s", v ? v : "");
}

/* A double field; NaN when absent. */
static double get_num(const qa_fix_msg_t *m, int tag) {
    const char *v = qa_fix_msg_get(m, tag);
    return v ? strtod(v, NULL) : NAN;
}

/* A whole number field: 1 and *out when present and well formed. */
static int get_i64(const qa_fix_msg_t *m, int tag, int64_t *out) {
    const char *v = qa_fix_msg_get(m, tag);
    if (!v) return 0;
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno == ERANGE || end == v || *end) return 0;
    *out = (int64_t)x;
    return 1;
}

qa_status qa_exchange_report_decode(const qa_fix_msg_t *m, qa_exchange_ctx ctx, qa_venue_event *e) {
    const char *type = qa_fix_msg_type(m);
    if (!type || (strcmp(type, "8") != 0 && strcmp(type, "9") != 0))
        return QA_FAIL(QA_ERR_FORMAT, "FIX report: MsgType %s, expected 8 or 9", type ? type : "(none)");
    memset(e, 0, sizeof *e);
    const char *et = qa_fix_msg_get(m, 150), *os = qa_fix_msg_get(m, 39);
    if (strcmp(type, "9") == 0) {
        e->kind = QA_VENUE_EV_REJECTED;
    } else if (ctx == QA_EXCHANGE_CTX_ORDER) {
        static const char st[] = "01245C"; /* OrdStatus -> kind */
        static const int kind[] = {0, 0, 1, 2, 5, 3};
        const char *p = os && os[0] && !os[1] ? strchr(st, os[0]) : NULL;
        if (!p) return QA_FAIL(QA_ERR_FORMAT, "FIX order status report: OrdStatus %s", os ? os : "(none)");
        e->kind = kind[p - st];
    } else {
        const char *p = et && et[0] && !et[1] ? memchr(exec_types, et[0], sizeof exec_types) : NULL;
        if (!p) return QA_FAIL(QA_ERR_FORMAT, "FIX ExecutionReport: ExecType %s", et ? et : "(none)");
        e->kind = (int)(p - exec_types);
    }
    get_id(m, event_id_tag(type, et, qa_fix_msg_get(m, 434)), e->clordid, sizeof e->clordid);
    if (ctx == QA_EXCHANGE_CTX_EVENT && e->kind == QA_VENUE_EV_FILL) get_id(m, 17, e->trade_id, sizeof e->trade_id);
    get_id(m, 55, e->symbol, sizeof e->symbol);
    const char *side = qa_fix_msg_get(m, 54);
    int64_t raw = 0;
    if (side) e->side = strcmp(side, "1") == 0 ? 1 : strcmp(side, "2") == 0 ? -1 : 0;
    else if (get_i64(m, QA_TAG_RAW_SIDE, &raw)) e->side = (int)raw;
    if (!get_i64(m, QA_TAG_MARKET_TIME, &e->time))
        return QA_FAIL(QA_ERR_FORMAT, "FIX report of %s: no QaMarketTime(%d)", e->clordid, QA_TAG_MARKET_TIME);
    e->qty = get_num(m, ctx == QA_EXCHANGE_CTX_ORDER ? 38 : 32);
    e->price = get_num(m, ctx == QA_EXCHANGE_CTX_ORDER ? 44 : 31);
    e->fee = get_num(m, 12);
    e->cum = get_num(m, 14);
    e->leaves = get_num(m, 151);
    e->avg_price = e->cum > 0.0 ? get_num(m, 6) : NAN;
    e->bar_volume = get_num(m, QA_TAG_BAR_VOLUME);
    get_id(m, 58, e->reason, sizeof e->reason);
    return QA_OK;
}

/* ---- opening -------------------------------------------------------------------------- */

/* The market file: every time and bar, in memory. */
static qa_status load_market(qa_exchange_t *x) {
    qa_store_t *s = NULL;
    qa_status st = QA_OK;
    QA_TRY(qa_store_open(x->cfg.data, NULL, QA_STORE_READ, &s));
    x->S = qa_store_nsym(s), x->T = qa_store_ntime(s);
    if (x->S == 0 || x->T == 0) QA_TRY_FAIL(QA_ERR_FORMAT, "%s: no symbols or no timestamps", x->cfg.data);
    x->time = malloc(x->T * sizeof *x->time);
    x->names = calloc(x->S, QA_STORE_SYMBOL_LEN);
    x->symbols = malloc(x->S * sizeof *x->symbols);
    x->sym_buf = malloc(x->S * sizeof *x->sym_buf);
    x->bar_buf = malloc(x->S * sizeof *x->bar_buf);
    x->bars = malloc((size_t)QA_BAR_FIELD_COUNT * x->S * x->T * sizeof *x->bars);
    if (!x->time || !x->names || !x->symbols || !x->sym_buf || !x->bar_buf || !x->bars)
        QA_TRY_FAIL(QA_ERR_NOMEM, "%s: %zu symbols x %zu times of bars", x->cfg.data, x->S, x->T);
    memcpy(x->time, qa_store_time(s), x->T * sizeof *x->time);
    for (size_t i = 0; i < x->S; i++) {
        snprintf(x->names + i * QA_STORE_SYMBOL_LEN, QA_STORE_SYMBOL_LEN, "%s", qa_store_symbol(s, i));
        x->symbols[i] = x->names + i * QA_STORE_SYMBOL_LEN;
    }
    for (int f = 0; f < QA_BAR_FIELD_COUNT; f++)
        QA_TRY(qa_store_read(s, qa_bar_field_path((qa_bar_field)f), 0, x->S, 0, x->T, x->bars + (size_t)f * x->S * x->T));
cleanup:
    qa_store_close(s);
    return st;
}

/* The clock the exchange last answered with: the venue reopens at its last fill or
 * expiry, which may be earlier (bars without events leave no row). */
static qa_status restore_clock(qa_exchange_t *x) {
    x->saved_clock = INT64_MIN;
    if (!qa_fs_exists(x->clock_path)) return QA_OK;
    char *text = NULL;
    size_t len = 0;
    QA_TRY_RET(qa_fs_read_all(x->clock_path, &text, &len));
    char *end = NULL;
    long long c = strtoll(text, &end, 10);
    const int ok = end != text && (*end == '\n' || *end == '\0');
    free(text);
    if (!ok) return QA_FAIL(QA_ERR_FORMAT, "%s: expected the venue clock in ns (one integer)", x->clock_path);
    x->saved_clock = c;
    if (c > qa_venue_clock(x->venue)) return qa_venue_advance(x->venue, c, 0, NULL, NULL);
    return QA_OK;
}

static qa_status save_clock(qa_exchange_t *x) {
    const int64_t c = qa_venue_clock(x->venue);
    if (c == x->saved_clock) return QA_OK;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%" PRId64 "\n", c);
    QA_TRY_RET(qa_fs_write_all(x->clock_path, buf, (size_t)n));
    x->saved_clock = c;
    return QA_OK;
}

qa_status qa_exchange_open(const qa_exchange_cfg *cfg, qa_exchange_t **out) {
    qa_exchange_t *x = calloc(1, sizeof *x);
    if (!x) return QA_FAIL(QA_ERR_NOMEM, "exchange");
    x->cfg = *cfg;
    qa_status st = QA_OK;
    char path[QA_PATH_MAX];
    QA_TRY(load_market(x));
    QA_TRY(qa_fs_mkdirs(cfg->state_dir));
    QA_TRY(qa_path_join(path, cfg->state_dir, "venue.db"));
    QA_TRY(qa_venue_open(path, &cfg->venue, &x->venue));
    QA_TRY(qa_path_join(x->clock_path, cfg->state_dir, "exchange.clock"));
    QA_TRY(restore_clock(x));
    qa_fix_cfg fc;
    qa_fix_cfg_default(&fc);
    fc.acceptor = 1;
    fc.port = cfg->port;
    snprintf(fc.sender, sizeof fc.sender, "%s", cfg->sender);
    snprintf(fc.target, sizeof fc.target, "%s", cfg->target);
    QA_TRY(qa_path_join(path, cfg->state_dir, "fix"));
    if (strlen(path) >= sizeof fc.store_dir) QA_TRY_FAIL(QA_ERR_INVALID_ARG, "state directory path too long: %s", path);
    snprintf(fc.store_dir, sizeof fc.store_dir, "%s", path);
    snprintf(fc.log_dir, sizeof fc.log_dir, "%s", cfg->log_dir);
    QA_TRY(qa_fix_start(&fc, &x->fix));
cleanup:
    if (st != QA_OK) {
        qa_err_prefix("exchange (market %s, state %s): ", cfg->data, cfg->state_dir);
        qa_exchange_close(x);
        return st;
    }
    *out = x;
    return QA_OK;
}

void qa_exchange_close(qa_exchange_t *x) {
    if (!x) return;
    qa_fix_stop(x->fix); /* no request in flight: the loop runs on the caller's thread */
    qa_venue_close(x->venue);
    free(x->time);
    free(x->names);
    free(x->symbols);
    free(x->sym_buf);
    free(x->bar_buf);
    free(x->bars);
    free(x);
}

/* ---- requests --------------------------------------------------------------------------- */

/* One request being answered. */
typedef struct req {
    const qa_fix_msg_t *m;
    const char *type;
    const char *rid; /* QaRequestID, or NULL */
} req;

static qa_status send_answer(qa_exchange_t *x, const req *r, qa_fix_msg_t *a) {
    qa_status st = QA_OK;
    if (r->rid) st = qa_fix_msg_set(a, QA_TAG_REQUEST_ID, r->rid);
    if (st == QA_OK) st = qa_fix_send_or_store(x->fix, a);
    if (st == QA_OK) x->stats.reports++;
    qa_fix_msg_free(a);
    return st;
}

/* A BusinessMessageReject (j): the request could not be processed (reason 5: a required
 * field is missing, 3: unsupported message type, 0: other, e.g. a database failure). */
static qa_status business_reject(qa_exchange_t *x, const req *r, int reason, const char *text) {
    qa_fix_msg_t *a = qa_fix_msg_new("j");
    if (!a) return QA_FAIL(QA_ERR_NOMEM, "FIX message");
    qa_fix_msg_set_int(a, 45, qa_fix_msg_seqnum(r->m));
    qa_fix_msg_set(a, 372, r->type);
    qa_fix_msg_set_int(a, 380, reason);
    if (r->rid) qa_fix_msg_set(a, 379, r->rid);
    qa_fix_msg_set(a, 58, text && text[0] ? text : "rejected");
    x->stats.rejects++;
    return send_answer(x, r, a);
}

/* The order fields of D and G; NULL or the missing field's name. */
static const char *read_order(const qa_fix_msg_t *m, qa_venue_order *o) {
    memset(o, 0, sizeof *o);
    get_id(m, 11, o->clordid, sizeof o->clordid);
    get_id(m, 55, o->symbol, sizeof o->symbol);
    const char *side = qa_fix_msg_get(m, 54);
    int64_t raw = 0;
    if (side) o->side = strcmp(side, "1") == 0 ? 1 : strcmp(side, "2") == 0 ? -1 : 0;
    else if (get_i64(m, QA_TAG_RAW_SIDE, &raw)) o->side = (int)raw;
    o->qty = get_num(m, 38);
    const char *ot = qa_fix_msg_get(m, 40), *tif = qa_fix_msg_get(m, 59);
    o->limit = ot && strcmp(ot, "2") == 0;
    o->price = o->limit ? get_num(m, 44) : NAN;
    o->day = tif && strcmp(tif, "0") == 0;
    if (!get_i64(m, QA_TAG_MARKET_TIME, &o->time)) return "QaMarketTime(20001)";
    return NULL;
}

/* The answer to D, F or G: one ExecutionReport, or an OrderCancelReject (9) for a refused
 * cancel or replace. */
static qa_status answer_event(qa_exchange_t *x, const req *r, const qa_venue_event *e, const char *orig) {
    const int cancel_reject = e->kind == QA_VENUE_EV_REJECTED && r->type[0] != 'D';
    qa_fix_msg_t *a = qa_fix_msg_new(cancel_reject ? "9" : "8");
    if (!a) return QA_FAIL(QA_ERR_NOMEM, "FIX message");
    qa_status st = QA_OK;
    if (cancel_reject) {
        st = qa_fix_msg_set(a, 434, r->type[0] == 'F' ? "1" : "2"); /* CxlRejResponseTo */
        const int unknown = strcmp(e->reason, "unknown client order id") == 0;
        const int late = strncmp(e->reason, "too late", 8) == 0;
        if (st == QA_OK) st = qa_fix_msg_set(a, 102, unknown ? "1" : late ? "0" : "99"); /* CxlRejReason */
    } else {
        char exec_id[QA_VENUE_ID_LEN + 8];
        snprintf(exec_id, sizeof exec_id, "%s/%s", r->rid ? r->rid : e->clordid, qa_venue_ev_names[e->kind]);
        st = qa_fix_msg_set(a, 17, exec_id);
    }
    const char *req_clordid = qa_fix_msg_get(r->m, 11);
    if (st == QA_OK) st = qa_exchange_report_encode(a, e, QA_EXCHANGE_CTX_EVENT, req_clordid, orig);
    if (st != QA_OK) {
        qa_fix_msg_free(a);
        return st;
    }
    return send_answer(x, r, a);
}

static qa_status on_new_order(qa_exchange_t *x, const req *r) {
    qa_venue_order o;
    const char *missing = read_order(r->m, &o);
    if (missing) {
        char text[96];
        snprintf(text, sizeof text, "%s is required", missing);
        return business_reject(x, r, 5, text);
    }
    qa_venue_event e;
    QA_TRY_RET(qa_venue_submit(x->venue, &o, &e));
    return answer_event(x, r, &e, NULL);
}

static qa_status on_cancel(qa_exchange_t *x, const req *r) {
    int64_t t = 0;
    if (!get_i64(r->m, QA_TAG_MARKET_TIME, &t)) return business_reject(x, r, 5, "QaMarketTime(20001) is required");
    char orig[QA_VENUE_ID_LEN];
    get_id(r->m, 41, orig, sizeof orig);
    qa_venue_event e;
    QA_TRY_RET(qa_venue_cancel(x->venue, orig, t, &e));
    return answer_event(x, r, &e, orig);
}

static qa_status on_replace(qa_exchange_t *x, const req *r) {
    qa_venue_order o;
    const char *missing = read_order(r->m, &o);
    if (missing) {
        char text[96];
        snprintf(text, sizeof text, "%s is required", missing);
        return business_reject(x, r, 5, text);
    }
    char orig[QA_VENUE_ID_LEN];
    get_id(r->m, 41, orig, sizeof orig);
    qa_venue_event e;
    QA_TRY_RET(qa_venue_replace(x->venue, orig, &o, &e));
    return answer_event(x, r, &e, orig);
}

/* Steps the venue through the market file's timestamps in (clock, t]; the clock then
 * reads t, as the in-process broker's does after an advance to t. */
static qa_status advance_to(qa_exchange_t *x, int64_t t) {
    const int64_t clock = qa_venue_clock(x->venue);
    size_t lo = 0, hi = x->T; /* the first time > clock */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->time[mid] > clock) hi = mid;
        else lo = mid + 1;
    }
    const size_t S = x->S, T = x->T;
    for (size_t k = lo; k < T && x->time[k] <= t; k++) {
        size_t n = 0;
        for (size_t s = 0; s < S; s++) {
            const double *b = x->bars + s * T + k; /* field f at + f*S*T */
            if (!isfinite(b[(size_t)QA_BAR_CLOSE * S * T])) continue; /* no bar */
            x->bar_buf[n] = (qa_order_bar){b[0], b[S * T], b[2 * S * T], b[3 * S * T], b[4 * S * T]};
            x->sym_buf[n++] = x->symbols[s];
        }
        QA_TRY_RET(qa_venue_advance(x->venue, x->time[k], n, x->sym_buf, x->bar_buf));
    }
    if (qa_venue_clock(x->venue) < t) QA_TRY_RET(qa_venue_advance(x->venue, t, 0, NULL, NULL));
    return save_clock(x);
}

static qa_status on_mass_status(qa_exchange_t *x, req *r) {
    const char *rid = qa_fix_msg_get(r->m, 584);
    if (!r->rid) r->rid = rid;
    if (!rid) rid = r->rid;
    if (!rid) return business_reject(x, r, 5, "MassStatusReqID(584) is required");
    const char *q = qa_fix_msg_get(r->m, QA_TAG_QUERY);
    if (!q) q = "advance";
    qa_venue_event *ev = NULL;
    size_t n = 0;
    qa_exchange_ctx ctx = QA_EXCHANGE_CTX_EVENT;
    qa_status st = QA_OK;
    if (strcmp(q, "advance") == 0) {
        int64_t t = 0, from = INT64_MIN;
        if (!get_i64(r->m, QA_TAG_MARKET_TIME, &t)) return business_reject(x, r, 5, "QaMarketTime(20001) is required");
        if (qa_fix_msg_get(r->m, QA_TAG_FROM_TIME) && !get_i64(r->m, QA_TAG_FROM_TIME, &from))
            return business_reject(x, r, 5, "QaFromTime(20002) must be an integer (ns)");
        st = advance_to(x, t);
        if (st == QA_OK) st = qa_venue_events(x->venue, from, t, &ev, &n);
    } else if (strcmp(q, "orders") == 0 || strcmp(q, "open_orders") == 0) {
        ctx = QA_EXCHANGE_CTX_ORDER;
        st = qa_venue_orders(x->venue, q[0] == 'o' && q[1] == 'p', &ev, &n);
    } else if (strcmp(q, "fills") == 0) {
        st = qa_venue_fills(x->venue, qa_fix_msg_get(r->m, 11), &ev, &n);
    } else if (strcmp(q, "clock") != 0) {
        char text[160];
        snprintf(text, sizeof text, "QaQuery(20004) '%.40s': expected advance, orders, open_orders, fills or clock", q);
        return business_reject(x, r, 0, text);
    }
    if (st != QA_OK) return st; /* the caller answers with the error */
    for (size_t i = 0; st == QA_OK && i < n; i++) {
        qa_fix_msg_t *a = qa_fix_msg_new("8");
        if (!a) {
            st = QA_FAIL(QA_ERR_NOMEM, "FIX message");
            break;
        }
        char exec_id[QA_VENUE_ID_LEN + 32];
        if (ctx == QA_EXCHANGE_CTX_EVENT && ev[i].kind == QA_VENUE_EV_EXPIRED)
            snprintf(exec_id, sizeof exec_id, "%s/expired", ev[i].clordid); /* one expiry per order */
        else
            snprintf(exec_id, sizeof exec_id, "%s/%zu", rid, i + 1);
        st = qa_fix_msg_set(a, 17, exec_id); /* a fill's trade id replaces it */
        if (st == QA_OK) st = qa_exchange_report_encode(a, &ev[i], ctx, NULL, NULL);
        if (st == QA_OK) st = qa_fix_msg_set(a, 584, rid);
        if (st == QA_OK) st = qa_fix_msg_set_int(a, QA_TAG_REPORT_INDEX, (long long)i + 1);
        if (st == QA_OK) st = send_answer(x, r, a);
        else qa_fix_msg_free(a);
    }
    free(ev);
    if (st != QA_OK) return st;
    qa_fix_msg_t *a = qa_fix_msg_new("8");
    if (!a) return QA_FAIL(QA_ERR_NOMEM, "FIX message");
    char exec_id[QA_VENUE_ID_LEN + 8];
    snprintf(exec_id, sizeof exec_id, "%s/end", rid);
    st = qa_fix_msg_set(a, 37, "NONE");
    if (st == QA_OK) st = qa_fix_msg_set(a, 17, exec_id);
    if (st == QA_OK) st = qa_fix_msg_set(a, 150, "I");
    if (st == QA_OK) st = qa_fix_msg_set(a, 39, "0");
    if (st == QA_OK) st = qa_fix_msg_set(a, 584, rid);
    if (st == QA_OK) st = qa_fix_msg_set(a, QA_TAG_QUERY, q);
    if (st == QA_OK) st = qa_fix_msg_set_int(a, 911, (long long)n);
    if (st == QA_OK) st = qa_fix_msg_set(a, 912, "Y");
    if (st == QA_OK) st = qa_fix_msg_set_int(a, QA_TAG_VENUE_CLOCK, qa_venue_clock(x->venue));
    if (st != QA_OK) {
        qa_fix_msg_free(a);
        return st;
    }
    return send_answer(x, r, a);
}

qa_status qa_exchange_step(qa_exchange_t *x, int timeout_ms, int *handled) {
    if (handled) *handled = 0;
    qa_fix_msg_t *m = NULL;
    if (!qa_fix_poll(x->fix, timeout_ms, &m)) return QA_OK;
    req r = {m, qa_fix_msg_type(m), qa_fix_msg_get(m, QA_TAG_REQUEST_ID)};
    if (!r.type) r.type = "?";
    qa_status st;
    if (strcmp(r.type, "D") == 0) st = on_new_order(x, &r);
    else if (strcmp(r.type, "F") == 0) st = on_cancel(x, &r);
    else if (strcmp(r.type, "G") == 0) st = on_replace(x, &r);
    else if (strcmp(r.type, "AF") == 0) st = on_mass_status(x, &r);
    else {
        char text[64];
        snprintf(text, sizeof text, "MsgType %.8s is not handled by qa exchange", r.type);
        st = business_reject(x, &r, 3, text);
    }
    if (st != QA_OK) {
        /* The venue's or the session's failure: the client hears of it (and does not wait
         * for an answer that will not come) when the session lets a reject through. */
        char detail[256], text[280];
        snprintf(detail, sizeof detail, "%s", qa_err_msg());
        snprintf(text, sizeof text, "exchange error: %s", detail);
        (void)business_reject(x, &r, 0, text);
        qa_err_set(st, __FILE__, __LINE__, "%s %s: %s", r.type, r.rid ? r.rid : "", detail);
    }
    x->stats.requests++;
    qa_fix_msg_free(m);
    if (handled) *handled = 1;
    return st;
}

qa_status qa_exchange_run(qa_exchange_t *x, const volatile sig_atomic_t *stop) {
    while (!*stop) {
        qa_status st = qa_exchange_step(x, 200, NULL);
        if (st != QA_OK) qa_log_warn("qa exchange: a request failed: %s", qa_err_msg());
    }
    return QA_OK;
}
