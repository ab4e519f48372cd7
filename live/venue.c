/* The paper venue (live/venue.h): a book of working orders in memory, every change written
 * to SQLite in the transaction of the request or bar that caused it. */
#include "live/venue.h"

#include <math.h>    /* floor, fabs, isfinite */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, realloc, free */
#include <string.h>  /* strcmp, memcpy, strlen */

#include "common/philox.h" /* qa_rng_uniform: fill-probability draws */
#include "common/sqlite.h" /* open, transactions, checks */
#include "common/log.h"    /* qa_log_warn */
#include "common/strbuf.h" /* qa_strbuf_copy_cut */
#include "live/lobbook.h"   /* queue position on a LOBSTER book */

#define VENUE_FORMAT "quantumalpha.venue"
#define VENUE_VERSION "1"

const char *const qa_venue_ev_names[] = {"new", "fill", "cancelled", "expired", "rejected", "replaced", NULL};
_Static_assert(sizeof qa_venue_ev_names / sizeof *qa_venue_ev_names == QA_VENUE_EV_COUNT + 1, "event names");

/* A working order. */
typedef struct worder {
    qa_venue_order o;
    int64_t seq;      /* arrival order */
    double cum, avg, fees;
    long nfills;
    int64_t last_bar; /* the last bar it was matched at (INT64_MIN: none) */
    int on_book;      /* the book's symbol: matched by queue position */
    qa_lobbook_queue q;
} worder;

struct qa_venue {
    qa_venue_cfg cfg;
    sqlite3 *db;
    char path[512];
    worder *w;
    size_t n, cap;
    int64_t next_seq, clock;
    sqlite3_stmt *ins_order, *upd_order, *get_order, *ins_event;
    qa_lobbook_t *book;
    qa_lobbook_fill *bfills; /* scratch of qa_lobbook_work */
    size_t nbfills, cap_bfills;
};

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('format', '" VENUE_FORMAT "'), ('format_version', '" VENUE_VERSION "');"
    "CREATE TABLE IF NOT EXISTS orders(clordid TEXT PRIMARY KEY, seq INTEGER NOT NULL, symbol TEXT NOT NULL,"
    " side INTEGER NOT NULL, qty REAL NOT NULL, is_limit INTEGER NOT NULL, price REAL, day INTEGER NOT NULL,"
    " time INTEGER NOT NULL, state TEXT NOT NULL, cum REAL NOT NULL, avg_price REAL, fees REAL NOT NULL,"
    " nfills INTEGER NOT NULL, last_bar INTEGER, end_time INTEGER, reason TEXT);"
    "CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, kind INTEGER NOT NULL,"
    " clordid TEXT NOT NULL, trade_id TEXT UNIQUE, symbol TEXT NOT NULL, side INTEGER NOT NULL, qty REAL, price REAL,"
    " fee REAL, cum REAL, avg_price REAL, leaves REAL, bar_volume REAL, reason TEXT);"
    "CREATE INDEX IF NOT EXISTS events_time ON events(time, seq);";

void qa_venue_cfg_default(qa_venue_cfg *c) {
    memset(c, 0, sizeof *c);
    c->participation = 0.1;
    c->fill_prob = 1.0;
    c->seed = 1;
    c->durable = 1;
    c->book_levels = 10;
}

static qa_status prepare_all(qa_venue_t *v) {
    QA_TRY_RET(qa_sqlite_prepare(v->db,
                                 "INSERT INTO orders(clordid, seq, symbol, side, qty, is_limit, price, day, time, state,"
                                 " cum, avg_price, fees, nfills, last_bar) VALUES(?,?,?,?,?,?,?,?,?,'working',0,NULL,0,0,NULL)",
                                 &v->ins_order));
    QA_TRY_RET(qa_sqlite_prepare(v->db,
                                 "UPDATE orders SET state = ?2, cum = ?3, avg_price = ?4, fees = ?5, nfills = ?6,"
                                 " last_bar = ?7, end_time = ?8, reason = ?9 WHERE clordid = ?1",
                                 &v->upd_order));
    QA_TRY_RET(qa_sqlite_prepare(v->db,
                                 "SELECT symbol, side, qty, is_limit, price, day, time, state, cum, avg_price, end_time, seq"
                                 " FROM orders WHERE clordid = ?",
                                 &v->get_order));
    QA_TRY_RET(qa_sqlite_prepare(v->db,
                                 "INSERT INTO events(time, kind, clordid, trade_id, symbol, side, qty, price, fee, cum,"
                                 " avg_price, leaves, bar_volume, reason) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                                 &v->ins_event));
    return QA_OK;
}

static void bind_real_or_null(sqlite3_stmt *s, int i, double x) {
    if (isfinite(x)) sqlite3_bind_double(s, i, x);
    else sqlite3_bind_null(s, i);
}

static double col_real(sqlite3_stmt *s, int i) {
    return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

/* ---- queue position on the book ------------------------------------------------------------ */

static int is_book(const qa_venue_t *v, const char *symbol) {
    return v->book && strcmp(symbol, v->cfg.book_symbol) == 0;
}

/* An order reaches the book at its time + latency, at least 1 ns later: an order decided at
 * a bar's time is matched after that bar, as on bars. */
static qa_lobbook_order book_order(const qa_venue_t *v, const worder *w) {
    int64_t lat = v->cfg.latency_ns > 0 ? v->cfg.latency_ns : 1;
    return (qa_lobbook_order){w->o.side, w->o.limit, w->o.price, w->o.time + lat};
}

/* A book order's queue as of the clock, from the files: after a restart, or when an
 * advance was rolled back (its fills, recorded with it, are replayed from the order's whole
 * quantity so the queue moves exactly as it did). */
static qa_status rebuild_queue(qa_venue_t *v, worder *w) {
    qa_lobbook_queue_free(&w->q);
    memset(&w->q, 0, sizeof w->q);
    if (v->clock == INT64_MIN) return QA_OK;
    qa_lobbook_order lo = book_order(v, w);
    int cancelled;
    return qa_lobbook_work(v->book, &lo, w->o.qty, 1, v->clock, &w->q, NULL, NULL, NULL, &cancelled);
}

static qa_status rebuild_queues(qa_venue_t *v) {
    for (size_t i = 0; i < v->n; i++)
        if (v->w[i].on_book) QA_TRY_RET(rebuild_queue(v, &v->w[i]));
    return QA_OK;
}

/* Reads the working orders back. */
static qa_status load_book(qa_venue_t *v) {
    sqlite3_stmt *s = NULL;
    qa_status st = qa_sqlite_prepare(v->db,
                                     "SELECT clordid, symbol, side, qty, is_limit, price, day, time, seq, cum, avg_price,"
                                     " fees, nfills, last_bar FROM orders WHERE state = 'working' ORDER BY seq",
                                     &s);
    int rc;
    while (st == QA_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (v->n == v->cap) {
            size_t cap = v->cap ? 2 * v->cap : 64;
            worder *p = realloc(v->w, cap * sizeof *p);
            if (!p) {
                st = QA_FAIL(QA_ERR_NOMEM, "venue book of %zu orders", cap);
                break;
            }
            v->w = p, v->cap = cap;
        }
        worder *w = &v->w[v->n++];
        memset(w, 0, sizeof *w);
        qa_strbuf_copy_cut(w->o.clordid, sizeof w->o.clordid, qa_sqlite_text(s, 0));
        qa_strbuf_copy_cut(w->o.symbol, sizeof w->o.symbol, qa_sqlite_text(s, 1));
        w->o.side = sqlite3_column_int(s, 2);
        w->o.qty = sqlite3_column_double(s, 3);
        w->o.limit = sqlite3_column_int(s, 4);
        w->o.price = col_real(s, 5);
        w->o.day = sqlite3_column_int(s, 6);
        w->o.time = sqlite3_column_int64(s, 7);
        w->seq = sqlite3_column_int64(s, 8);
        w->cum = sqlite3_column_double(s, 9);
        w->avg = col_real(s, 10);
        w->fees = sqlite3_column_double(s, 11);
        w->nfills = sqlite3_column_int(s, 12);
        w->last_bar = sqlite3_column_type(s, 13) == SQLITE_NULL ? INT64_MIN : sqlite3_column_int64(s, 13);
        w->on_book = is_book(v, w->o.symbol);
    }
    if (st == QA_OK && rc != SQLITE_DONE) st = QA_SQLITE_CHECK(v->db, rc);
    sqlite3_finalize(s);
    if (st != QA_OK) return st;
    s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(v->db, "SELECT COALESCE(MAX(seq), 0), (SELECT CAST(value AS INTEGER) FROM meta"
                                        " WHERE key = 'clock') FROM orders", &s));
    if (sqlite3_step(s) == SQLITE_ROW) {
        v->next_seq = sqlite3_column_int64(s, 0) + 1;
        v->clock = sqlite3_column_type(s, 1) == SQLITE_NULL ? INT64_MIN : sqlite3_column_int64(s, 1);
    }
    sqlite3_finalize(s);
    return QA_OK;
}

qa_status qa_venue_open(const char *path, const qa_venue_cfg *cfg, qa_venue_t **out) {
    qa_venue_t *v = calloc(1, sizeof *v);
    if (!v) return QA_FAIL(QA_ERR_NOMEM, "venue");
    v->cfg = *cfg;
    v->clock = INT64_MIN;
    v->next_seq = 1;
    qa_strbuf_copy_cut(v->path, sizeof v->path, path);
    int wal = 0;
    qa_status st = qa_sqlite_open(path, 1, 5000, &v->db, &wal);
    if (st == QA_OK) st = qa_sqlite_exec(v->db, cfg->durable ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;");
    if (st == QA_OK) st = qa_sqlite_check_format(v->db, path, VENUE_FORMAT, VENUE_VERSION);
    if (st == QA_OK) st = qa_sqlite_exec(v->db, schema);
    if (st == QA_OK) st = prepare_all(v);
    if (st == QA_OK && cfg->book_symbol[0])
        st = qa_lobbook_open(cfg->book_messages, cfg->book_orderbook, cfg->book_date, cfg->book_levels, &v->book);
    if (st == QA_OK) st = load_book(v);
    if (st == QA_OK) st = rebuild_queues(v);
    if (st != QA_OK) {
        qa_venue_close(v);
        return st;
    }
    *out = v;
    return QA_OK;
}

void qa_venue_close(qa_venue_t *v) {
    if (!v) return;
    sqlite3_finalize(v->ins_order);
    sqlite3_finalize(v->upd_order);
    sqlite3_finalize(v->get_order);
    sqlite3_finalize(v->ins_event);
    qa_sqlite_close(v->db);
    for (size_t i = 0; i < v->n; i++) qa_lobbook_queue_free(&v->w[i].q);
    free(v->w);
    qa_lobbook_free(v->book);
    free(v->bfills);
    free(v);
}

int64_t qa_venue_clock(const qa_venue_t *v) { return v->clock; }

static qa_status put_event(qa_venue_t *v, const qa_venue_event *e) {
    sqlite3_stmt *s = v->ins_event;
    sqlite3_reset(s);
    sqlite3_bind_int64(s, 1, e->time);
    sqlite3_bind_int(s, 2, e->kind);
    qa_sqlite_bind_text(s, 3, e->clordid);
    qa_sqlite_bind_text(s, 4, e->trade_id[0] ? e->trade_id : NULL);
    qa_sqlite_bind_text(s, 5, e->symbol);
    sqlite3_bind_int(s, 6, e->side);
    bind_real_or_null(s, 7, e->qty);
    bind_real_or_null(s, 8, e->price);
    bind_real_or_null(s, 9, e->fee);
    bind_real_or_null(s, 10, e->cum);
    bind_real_or_null(s, 11, e->avg_price);
    bind_real_or_null(s, 12, e->leaves);
    bind_real_or_null(s, 13, e->bar_volume);
    qa_sqlite_bind_text(s, 14, e->reason[0] ? e->reason : NULL);
    return QA_SQLITE_CHECK(v->db, sqlite3_step(s));
}

static qa_status put_order_state(qa_venue_t *v, const char *clordid, const char *state, double cum, double avg,
                                 double fees, long nfills, int64_t last_bar, int64_t end_time, const char *reason) {
    sqlite3_stmt *s = v->upd_order;
    sqlite3_reset(s);
    qa_sqlite_bind_text(s, 1, clordid);
    qa_sqlite_bind_text(s, 2, state);
    sqlite3_bind_double(s, 3, cum);
    bind_real_or_null(s, 4, avg);
    sqlite3_bind_double(s, 5, fees);
    sqlite3_bind_int64(s, 6, nfills);
    if (last_bar == INT64_MIN) sqlite3_bind_null(s, 7);
    else sqlite3_bind_int64(s, 7, last_bar);
    if (end_time == INT64_MIN) sqlite3_bind_null(s, 8);
    else sqlite3_bind_int64(s, 8, end_time);
    qa_sqlite_bind_text(s, 9, reason);
    return QA_SQLITE_CHECK(v->db, sqlite3_step(s));
}

static void reply_init(qa_venue_event *r, int kind, const qa_venue_order *o, int64_t time) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    qa_strbuf_copy_cut(r->clordid, sizeof r->clordid, o->clordid);
    qa_strbuf_copy_cut(r->symbol, sizeof r->symbol, o->symbol);
    r->side = o->side;
    r->time = time;
    r->qty = r->price = r->fee = r->bar_volume = NAN;
    r->cum = 0.0;
    r->avg_price = NAN;
    r->leaves = o->qty;
}

static void reject(qa_venue_event *r, const qa_venue_order *o, int64_t time, const char *why) {
    reply_init(r, QA_VENUE_EV_REJECTED, o, time);
    r->leaves = 0.0;
    qa_strbuf_copy_cut(r->reason, sizeof r->reason, why);
}

/* A stored order, for idempotent answers. 1 found, 0 not, or an error status. */
typedef struct stored {
    qa_venue_order o;
    char state[16];
    double cum, avg;
    int64_t end_time;
} stored;

static int lookup(qa_venue_t *v, const char *clordid, stored *out, qa_status *st) {
    sqlite3_stmt *s = v->get_order;
    sqlite3_reset(s);
    qa_sqlite_bind_text(s, 1, clordid);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) return 0;
    if (rc != SQLITE_ROW) {
        *st = QA_SQLITE_CHECK(v->db, rc);
        return -1;
    }
    memset(out, 0, sizeof *out);
    qa_strbuf_copy_cut(out->o.clordid, sizeof out->o.clordid, clordid);
    qa_strbuf_copy_cut(out->o.symbol, sizeof out->o.symbol, qa_sqlite_text(s, 0));
    out->o.side = sqlite3_column_int(s, 1);
    out->o.qty = sqlite3_column_double(s, 2);
    out->o.limit = sqlite3_column_int(s, 3);
    out->o.price = col_real(s, 4);
    out->o.day = sqlite3_column_int(s, 5);
    out->o.time = sqlite3_column_int64(s, 6);
    qa_strbuf_copy_cut(out->state, sizeof out->state, qa_sqlite_text(s, 7));
    out->cum = sqlite3_column_double(s, 8);
    out->avg = col_real(s, 9);
    out->end_time = sqlite3_column_type(s, 10) == SQLITE_NULL ? INT64_MIN : sqlite3_column_int64(s, 10);
    sqlite3_reset(s);
    return 1;
}

static int same_order(const qa_venue_order *a, const qa_venue_order *b) {
    return strcmp(a->symbol, b->symbol) == 0 && a->side == b->side && a->qty == b->qty && a->limit == b->limit &&
           (!a->limit || a->price == b->price) && a->day == b->day && a->time == b->time;
}

static const char *check_order(const qa_venue_order *o) {
    if (!o->clordid[0]) return "empty client order id";
    if (!o->symbol[0]) return "empty symbol";
    if (o->side != 1 && o->side != -1) return "side must be buy (1) or sell (-1)";
    if (!(o->qty > 0.0) || o->qty != floor(o->qty) || o->qty > 1e12) return "quantity must be whole shares > 0";
    if (o->limit && !(o->price > 0.0 && isfinite(o->price))) return "limit price must be > 0";
    return NULL;
}

/* Adds an accepted order to the book and the database (inside a transaction). */
static qa_status accept(qa_venue_t *v, const qa_venue_order *o) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 64;
        worder *p = realloc(v->w, cap * sizeof *p);
        if (!p) return QA_FAIL(QA_ERR_NOMEM, "venue book of %zu orders", cap);
        v->w = p, v->cap = cap;
    }
    sqlite3_stmt *s = v->ins_order;
    sqlite3_reset(s);
    qa_sqlite_bind_text(s, 1, o->clordid);
    sqlite3_bind_int64(s, 2, v->next_seq);
    qa_sqlite_bind_text(s, 3, o->symbol);
    sqlite3_bind_int(s, 4, o->side);
    sqlite3_bind_double(s, 5, o->qty);
    sqlite3_bind_int(s, 6, o->limit);
    bind_real_or_null(s, 7, o->limit ? o->price : NAN);
    sqlite3_bind_int(s, 8, o->day);
    sqlite3_bind_int64(s, 9, o->time);
    QA_TRY_RET(QA_SQLITE_CHECK(v->db, sqlite3_step(s)));
    worder *w = &v->w[v->n++];
    memset(w, 0, sizeof *w);
    w->o = *o;
    w->seq = v->next_seq++;
    w->avg = NAN;
    w->last_bar = INT64_MIN;
    w->on_book = is_book(v, o->symbol);
    return QA_OK;
}

static qa_status commit_or_rollback(qa_venue_t *v, qa_status st) {
    if (st == QA_OK) st = qa_sqlite_commit(v->db);
    if (st != QA_OK) qa_sqlite_rollback(v->db);
    return st;
}

qa_status qa_venue_submit(qa_venue_t *v, const qa_venue_order *o, qa_venue_event *reply) {
    const char *bad = check_order(o);
    if (bad) {
        reject(reply, o, o->time, bad);
        return QA_OK;
    }
    stored prev;
    qa_status st = QA_OK;
    int found = lookup(v, o->clordid, &prev, &st);
    if (found < 0) return st;
    if (found) { /* a repeated request answers as the first did; a reused id is refused */
        if (same_order(&prev.o, o)) reply_init(reply, QA_VENUE_EV_NEW, o, o->time);
        else reject(reply, o, o->time, "duplicate client order id with other fields");
        return QA_OK;
    }
    QA_TRY_RET(qa_sqlite_begin(v->db));
    st = accept(v, o);
    if (st == QA_OK) {
        reply_init(reply, QA_VENUE_EV_NEW, o, o->time);
        st = put_event(v, reply);
    }
    if ((st = commit_or_rollback(v, st)) != QA_OK && v->n && strcmp(v->w[v->n - 1].o.clordid, o->clordid) == 0) v->n--;
    return st;
}

static long find_working(const qa_venue_t *v, const char *clordid) {
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->w[i].o.clordid, clordid) == 0) return (long)i;
    return -1;
}

/* Ends working order i (cancelled or replaced) at `time` inside a transaction. */
static qa_status end_order(qa_venue_t *v, size_t i, int kind, int64_t time, qa_venue_event *reply) {
    worder *w = &v->w[i];
    reply_init(reply, kind, &w->o, time);
    reply->cum = w->cum;
    reply->avg_price = w->avg;
    reply->leaves = 0.0;
    QA_TRY_RET(put_order_state(v, w->o.clordid, kind == QA_VENUE_EV_CANCELLED ? "cancelled" : "replaced", w->cum, w->avg,
                               w->fees, w->nfills, w->last_bar, time, NULL));
    return put_event(v, reply);
}

static void drop(qa_venue_t *v, size_t i) {
    qa_lobbook_queue_free(&v->w[i].q);
    memmove(&v->w[i], &v->w[i + 1], (v->n - i - 1) * sizeof *v->w);
    v->n--;
}

qa_status qa_venue_cancel(qa_venue_t *v, const char *clordid, int64_t time, qa_venue_event *reply) {
    long i = find_working(v, clordid);
    if (i < 0) {
        stored prev;
        qa_status st = QA_OK;
        int found = lookup(v, clordid, &prev, &st);
        if (found < 0) return st;
        qa_venue_order o;
        memset(&o, 0, sizeof o);
        qa_strbuf_copy_cut(o.clordid, sizeof o.clordid, clordid);
        if (!found) {
            reject(reply, &o, time, "unknown client order id");
        } else if (strcmp(prev.state, "cancelled") == 0 && prev.end_time == time) {
            reply_init(reply, QA_VENUE_EV_CANCELLED, &prev.o, time); /* the same request again */
            reply->cum = prev.cum, reply->avg_price = prev.avg, reply->leaves = 0.0;
        } else {
            char why[QA_VENUE_REASON_LEN];
            snprintf(why, sizeof why, "too late to cancel: the order is %s", prev.state);
            reject(reply, &prev.o, time, why);
        }
        return QA_OK;
    }
    QA_TRY_RET(qa_sqlite_begin(v->db));
    qa_status st = commit_or_rollback(v, end_order(v, (size_t)i, QA_VENUE_EV_CANCELLED, time, reply));
    if (st == QA_OK) drop(v, (size_t)i);
    return st;
}

qa_status qa_venue_replace(qa_venue_t *v, const char *orig, const qa_venue_order *repl, qa_venue_event *reply) {
    const char *bad = check_order(repl);
    if (bad) {
        reject(reply, repl, repl->time, bad);
        return QA_OK;
    }
    long i = find_working(v, orig);
    if (i < 0) {
        stored prev, next;
        qa_status st = QA_OK;
        int f1 = lookup(v, orig, &prev, &st);
        if (f1 < 0) return st;
        int f2 = lookup(v, repl->clordid, &next, &st);
        if (f2 < 0) return st;
        if (f1 && f2 && strcmp(prev.state, "replaced") == 0 && prev.end_time == repl->time && same_order(&next.o, repl)) {
            reply_init(reply, QA_VENUE_EV_REPLACED, &prev.o, repl->time); /* the same request again */
            reply->cum = prev.cum, reply->avg_price = prev.avg, reply->leaves = 0.0;
        } else {
            char why[QA_VENUE_REASON_LEN];
            snprintf(why, sizeof why, f1 ? "too late to replace: the order is %s" : "unknown client order id", prev.state);
            reject(reply, repl, repl->time, why);
        }
        return QA_OK;
    }
    const worder *w = &v->w[i];
    if (strcmp(w->o.symbol, repl->symbol) != 0 || w->o.side != repl->side) {
        reject(reply, repl, repl->time, "a replace keeps the symbol and side");
        return QA_OK;
    }
    stored tmp;
    qa_status st = QA_OK;
    int f2 = lookup(v, repl->clordid, &tmp, &st);
    if (f2 < 0) return st;
    if (f2) {
        reject(reply, repl, repl->time, "duplicate client order id");
        return QA_OK;
    }
    QA_TRY_RET(qa_sqlite_begin(v->db));
    st = end_order(v, (size_t)i, QA_VENUE_EV_REPLACED, repl->time, reply);
    if (st == QA_OK) st = accept(v, repl);
    qa_venue_event ack;
    if (st == QA_OK) {
        reply_init(&ack, QA_VENUE_EV_NEW, repl, repl->time);
        st = put_event(v, &ack);
    }
    st = commit_or_rollback(v, st);
    if (st != QA_OK) {
        if (v->n && strcmp(v->w[v->n - 1].o.clordid, repl->clordid) == 0) v->n--;
        return st;
    }
    drop(v, (size_t)i);
    return QA_OK;
}

/* One fill of working order w: the order, the event, the fee (trading/costs.h's order). */
static qa_status record_fill(qa_venue_t *v, worder *w, int64_t time, double q, double px, double bar_volume) {
    double fee = v->cfg.fee_bps * 1e-4 * (q * px);
    double before = w->cum;
    w->cum = before + q;
    w->avg = before == 0.0 ? px : (w->avg * before + px * q) / w->cum;
    w->fees += fee;
    w->nfills++;
    qa_venue_event e;
    reply_init(&e, QA_VENUE_EV_FILL, &w->o, time);
    if (snprintf(e.trade_id, sizeof e.trade_id, "%s#%ld", w->o.clordid, w->nfills) >= (int)sizeof e.trade_id)
        return QA_FAIL(QA_ERR_INVALID_ARG, "trade id of order %s is too long", w->o.clordid);
    e.qty = q, e.price = px, e.fee = fee, e.bar_volume = bar_volume;
    e.cum = w->cum, e.avg_price = w->avg, e.leaves = w->o.qty - w->cum;
    return put_event(v, &e);
}

static qa_status expire(qa_venue_t *v, worder *w, int64_t time, const char *why) {
    qa_venue_event e;
    reply_init(&e, QA_VENUE_EV_EXPIRED, &w->o, time);
    e.cum = w->cum, e.avg_price = w->avg, e.leaves = 0.0;
    if (why) qa_strbuf_copy_cut(e.reason, sizeof e.reason, why);
    return put_event(v, &e);
}

/* A book order over the messages up to `time`: queue position (live/lobbook.h). */
static qa_status match_book(qa_venue_t *v, worder *w, int64_t time, int *done) {
    *done = 0;
    const int arrived = w->q.arrived;
    qa_lobbook_order lo = book_order(v, w);
    int cancelled = 0;
    v->nbfills = 0;
    QA_TRY_RET(qa_lobbook_work(v->book, &lo, w->o.qty - w->cum, 0, time, &w->q, &v->bfills, &v->nbfills, &v->cap_bfills,
                               &cancelled));
    for (size_t k = 0; k < v->nbfills; k++)
        QA_TRY_RET(record_fill(v, w, v->bfills[k].time, v->bfills[k].qty, v->bfills[k].price, NAN));
    const char *state = "working", *why = NULL;
    if (w->cum >= w->o.qty) {
        state = "filled", *done = 1;
    } else if (cancelled || (w->o.day && w->q.arrived && !arrived)) { /* a DAY order lives for the advance it arrived in */
        why = cancelled ? "no displayed liquidity" : NULL;
        QA_TRY_RET(expire(v, w, time, why));
        state = "expired", *done = 1;
    }
    w->last_bar = time;
    return put_order_state(v, w->o.clordid, state, w->cum, w->avg, w->fees, w->nfills, w->last_bar,
                           *done ? time : INT64_MIN, why);
}

/* One bar for order w: fills what the rules allow; sets *done when it left the book. */
static qa_status match_one(qa_venue_t *v, worder *w, int64_t time, const qa_order_bar *bar, int *done) {
    *done = 0;
    if (w->last_bar >= time) return QA_OK; /* matched at this bar already */
    if (!(time > w->o.time) || time - w->o.time < v->cfg.latency_ns) return QA_OK; /* not yet at the venue */
    qa_order ord;
    QA_TRY_RET(qa_order_make(&ord, 0, w->o.limit ? QA_ORDER_LIMIT : QA_ORDER_MARKET, QA_TIF_GTC, w->o.side * w->o.qty,
                             w->o.limit ? w->o.price : NAN, 0));
    ord.filled = w->o.side * w->cum;
    double q = 0.0, px = NAN;
    int fills = qa_order_fill_rule(&ord, bar, v->cfg.participation, &q, &px);
    if (fills && v->cfg.fill_prob < 1.0) {
        uint64_t h = 1469598103934665603ull; /* FNV-1a of the id: the draw's stream */
        for (const char *c = w->o.clordid; *c; c++) h = (h ^ (uint8_t)*c) * 1099511628211ull;
        fills = qa_rng_uniform(v->cfg.seed, h, (uint64_t)time) < v->cfg.fill_prob;
    }
    q = floor(fabs(q) + 1e-9); /* whole shares on a venue (0.57 x 100 is 56.99... in binary) */
    w->last_bar = time;
    const char *state = "working";
    if (fills && q > 0.0) {
        QA_TRY_RET(record_fill(v, w, time, q, px * (1.0 + w->o.side * v->cfg.slippage_bps * 1e-4), bar->volume));
        if (w->cum >= w->o.qty) state = "filled", *done = 1;
    }
    if (!*done && w->o.day) { /* a DAY order lives for its first eligible bar */
        QA_TRY_RET(expire(v, w, time, NULL));
        state = "expired", *done = 1;
    }
    return put_order_state(v, w->o.clordid, state, w->cum, w->avg, w->fees, w->nfills, w->last_bar,
                           *done ? time : INT64_MIN, NULL);
}

/* The clock is kept in the same transaction as the matching it ends. */
static qa_status put_clock(qa_venue_t *v, int64_t time) {
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO meta VALUES('clock', '%lld');", (long long)time);
    return qa_sqlite_exec(v->db, sql);
}

qa_status qa_venue_advance(qa_venue_t *v, int64_t time, size_t n, const char *const *symbols,
                           const qa_order_bar *bars) {
    if (time <= v->clock) return QA_OK; /* matched already: only a later time moves the book */
    int on_book = 0; /* working orders on the book move with the clock, bar or not */
    for (size_t i = 0; i < v->n && !on_book; i++) on_book = v->w[i].on_book;
    if ((v->n == 0 || n == 0) && !on_book) {
        QA_TRY_RET(qa_sqlite_begin(v->db));
        qa_status st = commit_or_rollback(v, put_clock(v, time));
        if (st == QA_OK) v->clock = time;
        return st;
    }
    worder *saved = malloc(v->n * sizeof *saved); /* to undo the book when the transaction fails */
    if (!saved) return QA_FAIL(QA_ERR_NOMEM, "venue book copy");
    memcpy(saved, v->w, v->n * sizeof *saved);
    const size_t n0 = v->n;
    qa_status st = qa_sqlite_begin(v->db);
    if (st != QA_OK) {
        free(saved);
        return st;
    }
    unsigned char *gone = calloc(v->n, 1);
    if (!gone) st = QA_FAIL(QA_ERR_NOMEM, "venue book flags");
    for (size_t k = 0; st == QA_OK && k < n; k++) {
        if (!isfinite(bars[k].close) || is_book(v, symbols[k])) continue;
        for (size_t i = 0; st == QA_OK && i < v->n; i++) {
            if (gone[i] || strcmp(v->w[i].o.symbol, symbols[k]) != 0) continue;
            int done = 0;
            st = match_one(v, &v->w[i], time, &bars[k], &done);
            gone[i] = (unsigned char)done;
        }
    }
    for (size_t i = 0; st == QA_OK && on_book && i < v->n; i++) {
        if (!v->w[i].on_book) continue;
        int done = 0;
        st = match_book(v, &v->w[i], time, &done);
        gone[i] = (unsigned char)done;
    }
    if (st == QA_OK) st = put_clock(v, time);
    st = commit_or_rollback(v, st);
    if (st == QA_OK) {
        size_t j = 0;
        for (size_t i = 0; i < v->n; i++) {
            if (gone[i]) qa_lobbook_queue_free(&v->w[i].q);
            else v->w[j++] = v->w[i];
        }
        v->n = j;
        v->clock = time;
    } else {
        /* the queues moved (and may have reallocated): rebuilt from the files at the old clock */
        for (size_t i = 0; i < v->n; i++) qa_lobbook_queue_free(&v->w[i].q);
        memcpy(v->w, saved, n0 * sizeof *saved);
        v->n = n0;
        for (size_t i = 0; i < v->n; i++) memset(&v->w[i].q, 0, sizeof v->w[i].q);
        qa_status rb = rebuild_queues(v);
        if (rb != QA_OK) qa_log_warn("venue: rebuilding the book queues after a failed advance: %s", qa_err_msg());
    }
    free(gone);
    free(saved);
    return st;
}

/* Rows of `sql` (columns as the events table) into a growing array. */
static qa_status read_events(qa_venue_t *v, sqlite3_stmt *s, qa_venue_event **out, size_t *n) {
    qa_venue_event *a = NULL;
    size_t cnt = 0, cap = 0;
    qa_status st = QA_OK;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? 2 * cap : 64;
            qa_venue_event *p = realloc(a, cap * sizeof *p);
            if (!p) {
                st = QA_FAIL(QA_ERR_NOMEM, "%zu venue events", cap);
                break;
            }
            a = p;
        }
        qa_venue_event *e = &a[cnt++];
        memset(e, 0, sizeof *e);
        e->time = sqlite3_column_int64(s, 0);
        e->kind = sqlite3_column_int(s, 1);
        qa_strbuf_copy_cut(e->clordid, sizeof e->clordid, qa_sqlite_text(s, 2));
        qa_strbuf_copy_cut(e->trade_id, sizeof e->trade_id, qa_sqlite_text(s, 3));
        qa_strbuf_copy_cut(e->symbol, sizeof e->symbol, qa_sqlite_text(s, 4));
        e->side = sqlite3_column_int(s, 5);
        e->qty = col_real(s, 6);
        e->price = col_real(s, 7);
        e->fee = col_real(s, 8);
        e->cum = col_real(s, 9);
        e->avg_price = col_real(s, 10);
        e->leaves = col_real(s, 11);
        e->bar_volume = col_real(s, 12);
        qa_strbuf_copy_cut(e->reason, sizeof e->reason, qa_sqlite_text(s, 13));
    }
    if (st == QA_OK && rc != SQLITE_DONE) st = QA_SQLITE_CHECK(v->db, rc);
    if (st != QA_OK) {
        free(a);
        return st;
    }
    *out = a;
    *n = cnt;
    return QA_OK;
}

#define EVENT_COLS "time, kind, clordid, trade_id, symbol, side, qty, price, fee, cum, avg_price, leaves, bar_volume, reason"

qa_status qa_venue_events(qa_venue_t *v, int64_t from, int64_t to, qa_venue_event **out, size_t *n) {
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(v->db, "SELECT " EVENT_COLS " FROM events WHERE kind IN (1, 3) AND time > ? AND time <= ?"
                                        " ORDER BY time, seq", &s));
    sqlite3_bind_int64(s, 1, from);
    sqlite3_bind_int64(s, 2, to);
    qa_status st = read_events(v, s, out, n);
    sqlite3_finalize(s);
    return st;
}

qa_status qa_venue_fills(qa_venue_t *v, const char *clordid, qa_venue_event **out, size_t *n) {
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(v->db, clordid ? "SELECT " EVENT_COLS " FROM events WHERE kind = 1 AND clordid = ? ORDER BY seq"
                                                : "SELECT " EVENT_COLS " FROM events WHERE kind = 1 ORDER BY seq", &s));
    if (clordid) qa_sqlite_bind_text(s, 1, clordid);
    qa_status st = read_events(v, s, out, n);
    sqlite3_finalize(s);
    return st;
}

qa_status qa_venue_orders(qa_venue_t *v, int open_only, qa_venue_event **out, size_t *n) {
    sqlite3_stmt *s = NULL;
    /* An order's state as an event row: the kind its state maps to. */
    QA_TRY_RET(qa_sqlite_prepare(v->db, open_only
        ? "SELECT COALESCE(end_time, time), 0, clordid, NULL, symbol, side, qty, price, fees, cum, avg_price, qty - cum,"
          " NULL, state FROM orders WHERE state = 'working' ORDER BY seq"
        : "SELECT COALESCE(end_time, time), CASE state WHEN 'working' THEN 0 WHEN 'filled' THEN 1 WHEN 'cancelled' THEN 2"
          " WHEN 'expired' THEN 3 ELSE 5 END, clordid, NULL, symbol, side, qty, price, fees, cum, avg_price,"
          " CASE state WHEN 'working' THEN qty - cum ELSE 0 END, NULL, state FROM orders ORDER BY seq", &s));
    qa_status st = read_events(v, s, out, n); /* qty: the ordered shares; reason: the state */
    sqlite3_finalize(s);
    return st;
}
