/* The FIX 4.4 broker adapter (live/fixbroker.h): each broker call is one request to
 * `qa exchange`, sent and waited for on the caller's thread, repeated until answered. */
#include "live/fixbroker.h"

#include <inttypes.h> /* PRId64 */
#include <math.h>     /* isfinite */
#include <stdio.h>    /* snprintf */
#include <stdlib.h>   /* calloc, realloc, free, strtol */
#include <string.h>   /* strncmp, strlen */
#include <time.h>     /* clock_gettime: deadlines, the nonce */
#include <unistd.h>   /* getpid: the nonce */

#include "live/exchange.h" /* custom tags, the report encoding */
#include "live/fix.h"      /* the session */

#define POLL_MS 50 /* how often a waiting request looks at the clock and the session */

typedef struct fxb {
    qa_fixbroker_cfg cfg;
    qa_fix_t *fix;
    char nonce[32];
    unsigned long next; /* the next request's number */
    qa_fixbroker_stats stats;
} fxb;

/* The request being waited for and what has come back for it. */
typedef struct pending {
    char prefix[64];      /* "<nonce>-<n>-": the request, any attempt */
    const char *what;     /* for errors: "submit A1" */
    int multi;            /* an AF: reports, then a terminator */
    qa_exchange_ctx ctx;
    int done;
    qa_status err;
    qa_venue_event single; /* the answer to D/F/G */
    qa_venue_event *ev;    /* an AF's reports so far (of attempt `att`) */
    size_t n, cap;
    long att;              /* the attempt whose reports are collected (0: none) */
    int broken;            /* a report missing or out of order in that attempt */
    int64_t clock;         /* the terminator's venue clock */
} pending;

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void qa_fixbroker_cfg_default(qa_fixbroker_cfg *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->host, sizeof c->host, "127.0.0.1");
    snprintf(c->sender, sizeof c->sender, "QA");
    snprintf(c->target, sizeof c->target, "QAEX");
    c->timeout_ms = 5000;
    c->give_up_ms = 120000;
}

/* ---- answers ------------------------------------------------------------------------------ */

static qa_status push(pending *p, const qa_venue_event *e) {
    if (p->n == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 64;
        qa_venue_event *v = realloc(p->ev, cap * sizeof *v);
        if (!v) return QA_FAIL(QA_ERR_NOMEM, "%zu reports", cap);
        p->ev = v, p->cap = cap;
    }
    p->ev[p->n++] = *e;
    return QA_OK;
}

static long field_long(const qa_fix_msg_t *m, int tag, long dflt) {
    const char *v = qa_fix_msg_get(m, tag);
    char *end = NULL;
    long x = v ? strtol(v, &end, 10) : dflt;
    return v && (end == v || *end) ? -1 : x;
}

/* Takes message m if it answers the pending request; counts it stale otherwise. */
static void take(fxb *b, pending *p, const qa_fix_msg_t *m) {
    const char *type = qa_fix_msg_type(m);
    const char *rid = qa_fix_msg_get(m, QA_TAG_REQUEST_ID);
    if (!rid) rid = qa_fix_msg_get(m, 584);
    const size_t pl = strlen(p->prefix);
    if (!type || !rid || strncmp(rid, p->prefix, pl) != 0) {
        b->stats.stale++;
        return;
    }
    char *end = NULL;
    const long att = strtol(rid + pl, &end, 10);
    if (end == rid + pl || *end || att < 1) {
        b->stats.stale++;
        return;
    }
    if (strcmp(type, "j") == 0) {
        const char *text = qa_fix_msg_get(m, 58);
        p->err = QA_FAIL(QA_ERR_IO, "FIX exchange %s:%d refused %s: %s", b->cfg.host, b->cfg.port, p->what,
                         text ? text : "(no text)");
        p->done = 1;
        return;
    }
    if (strcmp(type, "8") != 0 && strcmp(type, "9") != 0) {
        b->stats.stale++;
        return;
    }
    if (!p->multi) {
        p->err = qa_exchange_report_decode(m, QA_EXCHANGE_CTX_EVENT, &p->single);
        p->done = 1;
        return;
    }
    const char *last = qa_fix_msg_get(m, 912);
    if (last && strcmp(last, "Y") == 0) { /* the terminator */
        const long total = field_long(m, 911, -1);
        int64_t clock = INT64_MIN;
        const char *c = qa_fix_msg_get(m, QA_TAG_VENUE_CLOCK);
        if (c) clock = strtoll(c, NULL, 10);
        if (total == 0) p->n = 0;
        if (total == 0 || (att == p->att && !p->broken && total >= 0 && (size_t)total == p->n)) {
            p->clock = clock;
            p->done = 1;
        } else { /* an attempt cut short (the exchange died while sending): another comes */
            p->n = 0, p->att = 0, p->broken = 0;
        }
        return;
    }
    const long idx = field_long(m, QA_TAG_REPORT_INDEX, -1);
    if (idx == 1) p->n = 0, p->att = att, p->broken = 0;
    else if (att != p->att || idx < 1 || (size_t)idx != p->n + 1) p->broken = 1;
    if (p->broken) return;
    qa_venue_event e;
    qa_status st = qa_exchange_report_decode(m, p->ctx, &e);
    if (st == QA_OK) st = push(p, &e);
    if (st != QA_OK) {
        p->err = st;
        p->done = 1;
    }
}

/* Sends request m (its id fields set per attempt) and waits for its answer; see the
 * header for the repeat rules. */
static qa_status request(fxb *b, qa_fix_msg_t *m, pending *p) {
    snprintf(p->prefix, sizeof p->prefix, "%s-%lu-", b->nonce, b->next++);
    const char *type = qa_fix_msg_type(m);
    const int64_t give_up = now_ms() + b->cfg.give_up_ms;
    qa_status st = QA_OK;
    for (long attempt = 1;; attempt++) {
        char rid[96];
        snprintf(rid, sizeof rid, "%s%ld", p->prefix, attempt);
        st = qa_fix_msg_set(m, QA_TAG_REQUEST_ID, rid);
        if (st == QA_OK && strcmp(type, "F") == 0) st = qa_fix_msg_set(m, 11, rid); /* a cancel's own id */
        if (st == QA_OK && strcmp(type, "AF") == 0) st = qa_fix_msg_set(m, 584, rid);
        if (st != QA_OK) break;
        if (attempt > 1) b->stats.repeats++;
        /* Wait for the session, reading (and dropping) what arrives meanwhile. */
        int sent = 0;
        long logons = 0;
        while (!sent) {
            qa_fix_stats fs;
            qa_fix_get_stats(b->fix, &fs);
            logons = fs.logons;
            if (qa_fix_logged_on(b->fix)) {
                st = qa_fix_send(b->fix, m);
                if (st == QA_OK) sent = 1;
                else if (st != QA_ERR_STATE) goto done; /* not a lost session: a real failure */
            }
            if (!sent) {
                if (now_ms() >= give_up) goto timeout;
                qa_fix_msg_t *in = NULL;
                if (qa_fix_poll(b->fix, POLL_MS, &in)) {
                    take(b, p, in);
                    qa_fix_msg_free(in);
                    if (p->done) goto answered;
                }
            }
        }
        const int64_t repeat_at = now_ms() + b->cfg.timeout_ms;
        for (;;) {
            qa_fix_msg_t *in = NULL;
            if (qa_fix_poll(b->fix, POLL_MS, &in)) {
                take(b, p, in);
                qa_fix_msg_free(in);
                if (p->done) goto answered;
                continue;
            }
            const int64_t t = now_ms();
            if (t >= give_up) goto timeout;
            if (t >= repeat_at) break;
            /* A new logon since the send: the exchange may have died before answering;
             * an answer it did store still comes (by resend) before the repeat's. */
            qa_fix_stats fs;
            qa_fix_get_stats(b->fix, &fs);
            if (fs.logons > logons && qa_fix_logged_on(b->fix)) break;
        }
    }
done:
    b->stats.requests++;
    return st;
answered:
    b->stats.requests++;
    return p->err;
timeout:
    b->stats.requests++;
    return QA_FAIL(QA_ERR_IO, "FIX exchange %s:%d: no answer to %s (request %s*) within %d ms", b->cfg.host,
                   b->cfg.port, p->what, p->prefix, b->cfg.give_up_ms);
}

/* ---- requests ----------------------------------------------------------------------------- */

static qa_status set_time(qa_fix_msg_t *m, int tag, int64_t t) {
    QA_TRY_RET(qa_fix_msg_set_int(m, tag, t));
    if (tag != QA_TAG_MARKET_TIME || t < 0) return QA_OK;
    time_t s = (time_t)(t / 1000000000);
    struct tm tm;
    if (!gmtime_r(&s, &tm)) return QA_OK;
    char buf[48];
    snprintf(buf, sizeof buf, "%04d%02d%02d-%02d:%02d:%02d.%09lld", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)(t % 1000000000));
    return qa_fix_msg_set(m, 60, buf); /* TransactTime, for humans */
}

static qa_status set_str(qa_fix_msg_t *m, int tag, const char *v) {
    return v && v[0] ? qa_fix_msg_set(m, tag, v) : QA_OK;
}

/* The order fields of D and G, every one as given (the venue judges them). */
static qa_status put_order(qa_fix_msg_t *m, const qa_venue_order *o) {
    QA_TRY_RET(set_str(m, 11, o->clordid));
    QA_TRY_RET(set_str(m, 55, o->symbol));
    if (o->side == 1 || o->side == -1) QA_TRY_RET(qa_fix_msg_set(m, 54, o->side == 1 ? "1" : "2"));
    else QA_TRY_RET(qa_fix_msg_set_int(m, QA_TAG_RAW_SIDE, o->side));
    if (!isfinite(o->qty)) return QA_FAIL(QA_ERR_INVALID_ARG, "order %s: quantity %g cannot be sent", o->clordid, o->qty);
    QA_TRY_RET(qa_fix_msg_set_double(m, 38, o->qty));
    QA_TRY_RET(qa_fix_msg_set(m, 40, o->limit ? "2" : "1"));
    if (o->limit) {
        if (!isfinite(o->price))
            return QA_FAIL(QA_ERR_INVALID_ARG, "order %s: limit price %g cannot be sent", o->clordid, o->price);
        QA_TRY_RET(qa_fix_msg_set_double(m, 44, o->price));
    }
    QA_TRY_RET(qa_fix_msg_set(m, 59, o->day ? "0" : "1"));
    return set_time(m, QA_TAG_MARKET_TIME, o->time);
}

/* Runs one request built in m (freed here). */
static qa_status run(fxb *b, qa_fix_msg_t *m, qa_status built, pending *p) {
    qa_status st = built;
    if (!m) st = QA_FAIL(QA_ERR_NOMEM, "FIX message");
    if (st == QA_OK) st = request(b, m, p);
    qa_fix_msg_free(m);
    return st;
}

static qa_status x_submit(void *impl, const qa_venue_order *o, qa_venue_event *reply) {
    fxb *b = impl;
    char what[96];
    snprintf(what, sizeof what, "submit %s", o->clordid);
    pending p = {.what = what};
    qa_fix_msg_t *m = qa_fix_msg_new("D");
    qa_status st = run(b, m, m ? put_order(m, o) : QA_OK, &p);
    if (st == QA_OK) *reply = p.single;
    return st;
}

static qa_status x_cancel(void *impl, const char *clordid, int64_t time, qa_venue_event *reply) {
    fxb *b = impl;
    char what[96];
    snprintf(what, sizeof what, "cancel %s", clordid);
    pending p = {.what = what};
    qa_fix_msg_t *m = qa_fix_msg_new("F");
    qa_status st = QA_OK;
    if (m) st = set_str(m, 41, clordid);
    if (m && st == QA_OK) st = set_time(m, QA_TAG_MARKET_TIME, time);
    st = run(b, m, st, &p);
    if (st == QA_OK) *reply = p.single;
    return st;
}

static qa_status x_replace(void *impl, const char *orig, const qa_venue_order *repl, qa_venue_event *reply) {
    fxb *b = impl;
    char what[160];
    snprintf(what, sizeof what, "replace %s by %s", orig, repl->clordid);
    pending p = {.what = what};
    qa_fix_msg_t *m = qa_fix_msg_new("G");
    qa_status st = QA_OK;
    if (m) st = set_str(m, 41, orig);
    if (m && st == QA_OK) st = put_order(m, repl);
    st = run(b, m, st, &p);
    if (st == QA_OK) *reply = p.single;
    return st;
}

/* An OrderMassStatusRequest of query q; *out and *n the reports (caller frees), *clock the
 * terminator's venue clock. */
static qa_status mass_status(fxb *b, const char *q, qa_exchange_ctx ctx, int64_t from, int64_t to,
                             const char *clordid, const char *what, qa_venue_event **out, size_t *n, int64_t *clock) {
    pending p = {.what = what, .multi = 1, .ctx = ctx};
    qa_fix_msg_t *m = qa_fix_msg_new("AF");
    qa_status st = QA_OK;
    if (m) st = qa_fix_msg_set(m, 585, "7"); /* MassStatusReqType: all orders */
    if (m && st == QA_OK) st = qa_fix_msg_set(m, QA_TAG_QUERY, q);
    if (m && st == QA_OK && strcmp(q, "advance") == 0) {
        st = set_time(m, QA_TAG_MARKET_TIME, to);
        if (st == QA_OK) st = set_time(m, QA_TAG_FROM_TIME, from);
    }
    if (m && st == QA_OK && clordid) st = set_str(m, 11, clordid);
    st = run(b, m, st, &p);
    if (st != QA_OK) {
        free(p.ev);
        return st;
    }
    if (out) {
        if (p.n == 0) {
            free(p.ev);
            p.ev = NULL;
        }
        *out = p.ev, *n = p.n;
    } else {
        free(p.ev);
    }
    if (clock) *clock = p.clock;
    return QA_OK;
}

static qa_status x_advance(void *impl, int64_t from, int64_t time, size_t n, const char *const *symbols,
                           const qa_order_bar *bars, qa_venue_event **ev, size_t *nev) {
    (void)n, (void)symbols, (void)bars; /* the exchange matches on its own market file */
    char what[96];
    snprintf(what, sizeof what, "advance to %" PRId64, time);
    return mass_status(impl, "advance", QA_EXCHANGE_CTX_EVENT, from, time, NULL, what, ev, nev, NULL);
}

static qa_status x_orders(void *impl, int open_only, qa_venue_event **out, size_t *n) {
    return mass_status(impl, open_only ? "open_orders" : "orders", QA_EXCHANGE_CTX_ORDER, 0, 0, NULL,
                       open_only ? "open orders" : "orders", out, n, NULL);
}

static qa_status x_fills(void *impl, const char *clordid, qa_venue_event **out, size_t *n) {
    if (clordid && !clordid[0]) { /* no order has an empty id (FIX cannot send one) */
        *out = NULL, *n = 0;
        return QA_OK;
    }
    char what[96];
    snprintf(what, sizeof what, "fills of %s", clordid ? clordid : "all orders");
    return mass_status(impl, "fills", QA_EXCHANGE_CTX_EVENT, 0, 0, clordid, what, out, n, NULL);
}

/* Asked each time: a cached clock could be behind an exchange that was restarted. */
static qa_status x_clock(void *impl, int64_t *time) {
    return mass_status(impl, "clock", QA_EXCHANGE_CTX_EVENT, 0, 0, NULL, "clock", NULL, NULL, time);
}

static void x_close(void *impl) {
    fxb *b = impl;
    if (!b) return;
    qa_fix_stop(b->fix);
    free(b);
}

static const qa_broker_ops fix_ops = {"fix", x_submit, x_cancel, x_replace, x_advance, x_orders, x_fills, x_clock, x_close};

qa_status qa_fixbroker_open(const qa_fixbroker_cfg *cfg, qa_broker_t **out) {
    if (cfg->port <= 0 || cfg->port > 65535) return QA_FAIL(QA_ERR_INVALID_ARG, "FIX broker: port %d", cfg->port);
    if (!cfg->store_dir[0]) return QA_FAIL(QA_ERR_INVALID_ARG, "FIX broker: store_dir is required");
    if (cfg->timeout_ms <= 0 || cfg->give_up_ms <= 0)
        return QA_FAIL(QA_ERR_INVALID_ARG, "FIX broker: timeout_ms %d, give_up_ms %d", cfg->timeout_ms, cfg->give_up_ms);
    qa_broker_t *br = calloc(1, sizeof *br);
    fxb *b = calloc(1, sizeof *b);
    if (!br || !b) {
        free(br), free(b);
        return QA_FAIL(QA_ERR_NOMEM, "FIX broker");
    }
    b->cfg = *cfg;
    b->next = 1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(b->nonce, sizeof b->nonce, "%llx.%lx", (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec,
             (unsigned long)getpid());
    qa_fix_cfg fc;
    qa_fix_cfg_default(&fc);
    fc.acceptor = 0;
    fc.port = cfg->port;
    snprintf(fc.host, sizeof fc.host, "%s", cfg->host);
    snprintf(fc.sender, sizeof fc.sender, "%s", cfg->sender);
    snprintf(fc.target, sizeof fc.target, "%s", cfg->target);
    snprintf(fc.store_dir, sizeof fc.store_dir, "%s", cfg->store_dir);
    qa_status st = qa_fix_start(&fc, &b->fix);
    if (st == QA_OK) {
        st = qa_fix_wait_logon(b->fix, cfg->give_up_ms);
        if (st != QA_OK) qa_err_prefix("FIX exchange %s:%d: ", cfg->host, cfg->port);
    }
    if (st != QA_OK) {
        qa_fix_stop(b->fix);
        free(b), free(br);
        return st;
    }
    br->ops = &fix_ops;
    br->impl = b;
    *out = br;
    return QA_OK;
}

qa_status qa_fixbroker_get_stats(const qa_broker_t *b, qa_fixbroker_stats *out) {
    if (!b || b->ops != &fix_ops) return QA_FAIL(QA_ERR_INVALID_ARG, "not a FIX broker adapter");
    *out = ((const fxb *)b->impl)->stats;
    return QA_OK;
}
