/* The order and trade database (live/orderdb.h). */
#include "live/orderdb.h"

#include <errno.h>   /* EINTR */
#include <fcntl.h>   /* open */
#include <math.h>    /* isfinite, NAN */
#include <stdint.h>  /* uint32_t */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, realloc, free */
#include <string.h>  /* strcmp, strlen, memcpy */
#include <unistd.h>  /* write, pread, ftruncate, fdatasync, close */
#include <zlib.h>    /* crc32: journal records */

#include "common/log.h"    /* qa_log_info */
#include "common/sqlite.h" /* open, transactions, checks */
#include "common/strbuf.h" /* qa_strbuf_copy_cut */
#include "trading/algo.h"  /* algorithm names */

#define ORDERS_FORMAT "quantumalpha.orders"
#define ORDERS_VERSION "1"

struct qa_orderdb {
    sqlite3 *db;
    char path[512];
    sqlite3_stmt *ins, *upd, *trans, *fill, *get, *hasfill, *arr;
    /* the intent journal */
    int jfd;
    char jpath[520];
    int deferring;
    unsigned char *buf; /* records kept since qa_orderdb_defer */
    size_t nbuf, cap, flushed;
    off_t woff;         /* where the next batch goes */
    uint32_t seq;       /* of the last batch written or read */
};

/* ---- the intent journal ----------------------------------------------------------------------------
 * A header (magic, the record structs' sizes: a journal is read back by the build that
 * wrote it, and refused by another), then batches, each written in place at the start:
 * u32 magic, u32 sequence, u32 payload bytes, u32 CRC-32 of the payload, then the payload:
 * records of u32 kind, u32 bytes, data. A batch is whole or ignored (a torn write fails its
 * checksum), so a step's intents are applied all or not at all. Writing in place keeps the
 * file's size steady: fdatasync then flushes data, not metadata. */
#define J_MAGIC 0x31524f51u /* "QOR1" */
#define J_BATCH 0x48544142u /* "BATH" */
enum { J_ORDER = 1, J_TRANSITION = 2, J_FILL = 3, J_ARRIVAL = 4 };
typedef struct j_header {
    uint32_t magic, order_size, fill_size, pad;
} j_header;
typedef struct j_batch {
    uint32_t magic, seq, len, crc;
} j_batch;
typedef struct j_rec {
    uint32_t kind, len;
} j_rec;
typedef struct j_transition { /* then `dlen` bytes of detail */
    qa_oms_order o;
    int32_t from, event, dlen, pad;
} j_transition;

static qa_status keep(qa_orderdb_t *d, uint32_t kind, const void *a, size_t na, const void *b, size_t nb) {
    size_t need = d->nbuf + sizeof(j_rec) + na + nb;
    if (need > d->cap) {
        size_t cap = d->cap ? d->cap : 4096;
        while (cap < need) cap *= 2;
        unsigned char *p = realloc(d->buf, cap);
        if (!p) return QA_FAIL(QA_ERR_NOMEM, "order journal buffer of %zu bytes", cap);
        d->buf = p, d->cap = cap;
    }
    j_rec r = {kind, (uint32_t)(na + nb)};
    memcpy(d->buf + d->nbuf, &r, sizeof r);
    memcpy(d->buf + d->nbuf + sizeof r, a, na);
    if (nb) memcpy(d->buf + d->nbuf + sizeof r + na, b, nb);
    d->nbuf = need;
    return QA_OK;
}

static qa_status pwrite_all(qa_orderdb_t *d, const void *buf, size_t n, off_t at) {
    const unsigned char *p = buf;
    while (n) {
        ssize_t w = pwrite(d->jfd, p, n, at);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return QA_FAIL(QA_ERR_IO, "%s: cannot write the order journal", d->jpath);
        p += w, n -= (size_t)w, at += w;
    }
    return QA_OK;
}

void qa_orderdb_defer(qa_orderdb_t *d) {
    d->deferring = 1;
    d->nbuf = d->flushed = 0;
}

qa_status qa_orderdb_write_ahead(qa_orderdb_t *d, int sync) {
    if (d->nbuf == d->flushed) return QA_OK;
    const size_t len = d->nbuf - d->flushed;
    j_batch h = {J_BATCH, ++d->seq, (uint32_t)len, (uint32_t)crc32(0L, d->buf + d->flushed, (uInt)len)};
    QA_TRY_RET(pwrite_all(d, &h, sizeof h, d->woff));
    QA_TRY_RET(pwrite_all(d, d->buf + d->flushed, len, d->woff + (off_t)sizeof h));
    d->woff += (off_t)(sizeof h + len);
    d->flushed = d->nbuf;
    if (sync && fdatasync(d->jfd) != 0) return QA_FAIL(QA_ERR_IO, "%s: cannot flush the order journal", d->jpath);
    return QA_OK;
}

static qa_status apply_records(qa_orderdb_t *d, const unsigned char *p, size_t n);

qa_status qa_orderdb_apply(qa_orderdb_t *d) {
    d->deferring = 0;
    qa_status st = apply_records(d, d->buf, d->nbuf);
    d->nbuf = d->flushed = 0;
    return st;
}

void qa_orderdb_discard(qa_orderdb_t *d) {
    d->deferring = 0;
    d->nbuf = d->flushed = 0;
}

/* The next batch overwrites the first: what the journal held is in SQLite now. (A batch
 * left behind is applied again at the next open: harmless, the writes are idempotent.) */
void qa_orderdb_journal_clear(qa_orderdb_t *d) { d->woff = (off_t)sizeof(j_header); }

/* Opens the journal, applies the batches it holds (one transaction), empties it. */
static qa_status journal_open(qa_orderdb_t *d) {
    if ((size_t)snprintf(d->jpath, sizeof d->jpath, "%s.intents", d->path) >= sizeof d->jpath)
        return QA_FAIL(QA_ERR_INVALID_ARG, "order database path %s is too long", d->path);
    d->jfd = open(d->jpath, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (d->jfd < 0) return QA_FAIL(QA_ERR_IO, "%s: cannot open the order journal", d->jpath);
    const j_header want = {J_MAGIC, (uint32_t)sizeof(qa_oms_order), (uint32_t)sizeof(qa_orderdb_fill), 0};
    d->woff = (off_t)sizeof want;
    off_t size = lseek(d->jfd, 0, SEEK_END);
    if (size < 0) return QA_FAIL(QA_ERR_IO, "%s: cannot read the order journal", d->jpath);
    if (size == 0) return pwrite_all(d, &want, sizeof want, 0);
    if (size > (off_t)1 << 30)
        return QA_FAIL(QA_ERR_FORMAT, "%s: %lld bytes, more than a journal holds", d->jpath, (long long)size);
    unsigned char *all = malloc((size_t)size);
    if (!all) return QA_FAIL(QA_ERR_NOMEM, "%s: %lld bytes", d->jpath, (long long)size);
    qa_status st = QA_OK;
    if (pread(d->jfd, all, (size_t)size, 0) != (ssize_t)size) st = QA_FAIL(QA_ERR_IO, "%s: cannot read the order journal", d->jpath);
    j_header h;
    memset(&h, 0, sizeof h);
    if (st == QA_OK) {
        memcpy(&h, all, size < (off_t)sizeof h ? (size_t)size : sizeof h);
        if (size < (off_t)sizeof h || h.magic != want.magic || h.order_size != want.order_size || h.fill_size != want.fill_size)
            st = QA_FAIL(QA_ERR_FORMAT, "%s: not an order journal of this build (header %08x, record sizes %u and %u; "
                                        "expected %08x, %u, %u)", d->jpath, h.magic, h.order_size, h.fill_size, want.magic,
                         want.order_size, want.fill_size);
    }
    /* whole batches in rising sequence from the start; the first torn or older one ends them */
    size_t off = sizeof h;
    uint32_t last = 0;
    int began = 0;
    while (st == QA_OK && off + sizeof(j_batch) <= (size_t)size) {
        j_batch b;
        memcpy(&b, all + off, sizeof b);
        const unsigned char *pl = all + off + sizeof b;
        if (b.magic != J_BATCH || b.len > (size_t)size - off - sizeof b || (last && b.seq <= last) ||
            (uint32_t)crc32(0L, pl, (uInt)b.len) != b.crc)
            break;
        if (!began) st = qa_sqlite_begin(d->db), began = 1;
        if (st == QA_OK) st = apply_records(d, pl, b.len);
        last = b.seq;
        off += sizeof b + b.len;
    }
    if (began) {
        if (st == QA_OK) st = qa_sqlite_commit(d->db);
        else qa_sqlite_rollback(d->db);
    }
    d->seq = last;
    if (st == QA_OK && began)
        qa_log_info("%s: applied the intents a stopped process left (%zu bytes, last batch %u)", d->jpath,
                    off - sizeof h, last);
    if (st == QA_OK && (size_t)size > sizeof h && ftruncate(d->jfd, (off_t)sizeof h) != 0)
        st = QA_FAIL(QA_ERR_IO, "%s: cannot empty the order journal", d->jpath);
    free(all);
    return st;
}

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('format', '" ORDERS_FORMAT "'), ('format_version', '" ORDERS_VERSION "');"
    "CREATE TABLE IF NOT EXISTS orders(clordid TEXT PRIMARY KEY, parent TEXT, strategy TEXT NOT NULL,"
    " symbol TEXT NOT NULL, side INTEGER NOT NULL, qty REAL NOT NULL, type TEXT NOT NULL, limit_price REAL, algo TEXT,"
    " state TEXT NOT NULL, filled REAL NOT NULL DEFAULT 0, avg_price REAL, fees REAL NOT NULL DEFAULT 0,"
    " decision_time INTEGER NOT NULL, decision_price REAL NOT NULL, arrival_time INTEGER, arrival_price REAL,"
    " created INTEGER NOT NULL, updated INTEGER NOT NULL, reason TEXT, version INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS orders_parent ON orders(parent);"
    "CREATE INDEX IF NOT EXISTS orders_state ON orders(state);"
    "CREATE TABLE IF NOT EXISTS fills(trade_id TEXT PRIMARY KEY, clordid TEXT NOT NULL, parent TEXT,"
    " symbol TEXT NOT NULL, side INTEGER NOT NULL, qty REAL NOT NULL, price REAL NOT NULL, fee REAL NOT NULL,"
    " time INTEGER NOT NULL, bar_volume REAL);"
    "CREATE INDEX IF NOT EXISTS fills_symbol ON fills(symbol);"
    "CREATE TABLE IF NOT EXISTS transitions(seq INTEGER PRIMARY KEY, clordid TEXT NOT NULL, n INTEGER NOT NULL,"
    " time INTEGER NOT NULL, from_state TEXT, to_state TEXT NOT NULL, event TEXT NOT NULL, detail TEXT,"
    " UNIQUE(clordid, n));";

/* The columns an order row is written and read with, in this order. */
#define ORDER_COLS                                                                                              \
    "clordid, parent, strategy, symbol, side, qty, type, limit_price, algo, state, filled, avg_price, fees,"    \
    " decision_time, decision_price, arrival_time, arrival_price, created, updated, reason, version"


qa_status qa_orderdb_open(const char *path, qa_orderdb_t **out) {
    qa_orderdb_t *d = calloc(1, sizeof *d);
    if (!d) return QA_FAIL(QA_ERR_NOMEM, "order database");
    d->jfd = -1;
    size_t n = strlen(path);
    memcpy(d->path, path, n < sizeof d->path ? n + 1 : sizeof d->path);
    d->path[sizeof d->path - 1] = '\0';
    int wal = 0;
    qa_status st = qa_sqlite_open(path, 1, 10000, &d->db, &wal);
    /* FULL: a change that was committed is on disk before anything announces it. */
    if (st == QA_OK) st = qa_sqlite_exec(d->db, "PRAGMA synchronous=FULL;");
    if (st == QA_OK) st = qa_sqlite_check_format(d->db, path, ORDERS_FORMAT, ORDERS_VERSION);
    if (st == QA_OK) st = qa_sqlite_exec(d->db, schema);
    if (st == QA_OK)
        st = qa_sqlite_prepare(d->db, "INSERT OR IGNORE INTO orders(" ORDER_COLS ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                               &d->ins);
    if (st == QA_OK)
        st = qa_sqlite_prepare(d->db,
                               "UPDATE orders SET state = ?10, filled = ?11, avg_price = ?12, fees = ?13,"
                               " arrival_time = COALESCE(arrival_time, ?16), arrival_price = COALESCE(arrival_price, ?17),"
                               " updated = ?19, reason = ?20, version = ?21"
                               " WHERE clordid = ?1 AND version < ?21",
                               &d->upd);
    if (st == QA_OK)
        st = qa_sqlite_prepare(d->db, "INSERT OR IGNORE INTO transitions(clordid, n, time, from_state, to_state, event, detail)"
                                      " VALUES(?,?,?,?,?,?,?)", &d->trans);
    if (st == QA_OK)
        st = qa_sqlite_prepare(d->db, "INSERT OR IGNORE INTO fills(trade_id, clordid, parent, symbol, side, qty, price, fee,"
                                      " time, bar_volume) VALUES(?,?,?,?,?,?,?,?,?,?)", &d->fill);
    if (st == QA_OK) st = qa_sqlite_prepare(d->db, "SELECT " ORDER_COLS " FROM orders WHERE clordid = ?", &d->get);
    if (st == QA_OK) st = qa_sqlite_prepare(d->db, "SELECT 1 FROM fills WHERE trade_id = ?", &d->hasfill);
    if (st == QA_OK)
        st = qa_sqlite_prepare(d->db, "UPDATE orders SET arrival_time = ?2, arrival_price = ?3 WHERE clordid = ?1"
                                      " AND arrival_time IS NULL", &d->arr);
    if (st == QA_OK) st = journal_open(d);
    if (st != QA_OK) {
        qa_orderdb_close(d);
        return st;
    }
    *out = d;
    return QA_OK;
}

void qa_orderdb_close(qa_orderdb_t *d) {
    if (!d) return;
    sqlite3_stmt *all[] = {d->ins, d->upd, d->trans, d->fill, d->get, d->hasfill, d->arr};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) sqlite3_finalize(all[i]);
    qa_sqlite_close(d->db);
    if (d->jfd >= 0) close(d->jfd);
    free(d->buf);
    free(d);
}

qa_status qa_orderdb_set_full(qa_orderdb_t *d, int full) {
    return qa_sqlite_exec(d->db, full ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;");
}

qa_status qa_orderdb_begin(qa_orderdb_t *d) { return qa_sqlite_begin(d->db); }
qa_status qa_orderdb_commit(qa_orderdb_t *d) { return qa_sqlite_commit(d->db); }
void qa_orderdb_rollback(qa_orderdb_t *d) { qa_sqlite_rollback(d->db); }

static void real_or_null(sqlite3_stmt *s, int i, double x) {
    if (isfinite(x)) sqlite3_bind_double(s, i, x);
    else sqlite3_bind_null(s, i);
}

static void bind_order(sqlite3_stmt *s, const qa_oms_order *o) {
    qa_sqlite_bind_text(s, 1, o->clordid);
    qa_sqlite_bind_text(s, 2, o->parent[0] ? o->parent : NULL);
    qa_sqlite_bind_text(s, 3, o->strategy);
    qa_sqlite_bind_text(s, 4, o->symbol);
    sqlite3_bind_int(s, 5, o->side);
    sqlite3_bind_double(s, 6, o->qty);
    qa_sqlite_bind_text(s, 7, o->type >= 0 && o->type < QA_OMS_TYPE_COUNT ? qa_oms_type_names[o->type] : "?");
    real_or_null(s, 8, o->type == QA_OMS_LIMIT ? o->limit : NAN);
    qa_sqlite_bind_text(s, 9, o->type == QA_OMS_PARENT && o->algo >= 0 && o->algo < QA_ALGO_KIND_COUNT ? qa_algo_kind_names[o->algo] : NULL);
    qa_sqlite_bind_text(s, 10, o->state >= 0 && o->state < QA_OMS_STATE_COUNT ? qa_oms_state_names[o->state] : "?");
    sqlite3_bind_double(s, 11, o->filled);
    real_or_null(s, 12, o->avg_price);
    sqlite3_bind_double(s, 13, o->fees);
    sqlite3_bind_int64(s, 14, o->decision_time);
    sqlite3_bind_double(s, 15, o->decision_price);
    if (o->arrival_time == INT64_MIN) sqlite3_bind_null(s, 16);
    else sqlite3_bind_int64(s, 16, o->arrival_time);
    real_or_null(s, 17, o->arrival_price);
    sqlite3_bind_int64(s, 18, o->created);
    sqlite3_bind_int64(s, 19, o->updated);
    qa_sqlite_bind_text(s, 20, o->reason[0] ? o->reason : NULL);
    sqlite3_bind_int(s, 21, o->version);
}

qa_status qa_orderdb_put_order(qa_orderdb_t *d, const qa_oms_order *o) {
    if (d->deferring) return keep(d, J_ORDER, o, sizeof *o, NULL, 0);
    sqlite3_reset(d->ins);
    bind_order(d->ins, o);
    QA_TRY_RET(QA_SQLITE_CHECK(d->db, sqlite3_step(d->ins)));
    if (sqlite3_changes(d->db) > 0) return QA_OK;
    sqlite3_reset(d->upd);
    bind_order(d->upd, o);
    return QA_SQLITE_CHECK(d->db, sqlite3_step(d->upd));
}

qa_status qa_orderdb_put_arrival(qa_orderdb_t *d, const qa_oms_order *o) {
    if (d->deferring) return keep(d, J_ARRIVAL, o, sizeof *o, NULL, 0);
    sqlite3_stmt *s = d->arr;
    sqlite3_reset(s);
    qa_sqlite_bind_text(s, 1, o->clordid);
    sqlite3_bind_int64(s, 2, o->arrival_time);
    real_or_null(s, 3, o->arrival_price);
    return QA_SQLITE_CHECK(d->db, sqlite3_step(s));
}

qa_status qa_orderdb_put_transition(qa_orderdb_t *d, const qa_oms_order *o, int from, int event, const char *detail) {
    if (d->deferring) {
        j_transition j;
        memset(&j, 0, sizeof j);
        j.o = *o, j.from = from, j.event = event;
        size_t n = detail ? strlen(detail) : 0;
        j.dlen = (int32_t)(n > 4096 ? 4096 : n);
        return keep(d, J_TRANSITION, &j, sizeof j, detail, (size_t)j.dlen);
    }
    sqlite3_stmt *s = d->trans;
    sqlite3_reset(s);
    qa_sqlite_bind_text(s, 1, o->clordid);
    sqlite3_bind_int(s, 2, o->version);
    sqlite3_bind_int64(s, 3, o->updated);
    qa_sqlite_bind_text(s, 4, from >= 0 && from < QA_OMS_STATE_COUNT ? qa_oms_state_names[from] : NULL);
    qa_sqlite_bind_text(s, 5, qa_oms_state_names[o->state]);
    qa_sqlite_bind_text(s, 6, event >= 0 && event < QA_OMS_EVENT_COUNT ? qa_oms_event_names[event] : "?");
    qa_sqlite_bind_text(s, 7, detail && detail[0] ? detail : NULL);
    return QA_SQLITE_CHECK(d->db, sqlite3_step(s));
}

qa_status qa_orderdb_put_fill(qa_orderdb_t *d, const qa_orderdb_fill *f, int *added) {
    if (d->deferring) {
        if (added) *added = 1;
        return keep(d, J_FILL, f, sizeof *f, NULL, 0);
    }
    sqlite3_stmt *s = d->fill;
    sqlite3_reset(s);
    qa_sqlite_bind_text(s, 1, f->trade_id);
    qa_sqlite_bind_text(s, 2, f->clordid);
    qa_sqlite_bind_text(s, 3, f->parent[0] ? f->parent : NULL);
    qa_sqlite_bind_text(s, 4, f->symbol);
    sqlite3_bind_int(s, 5, f->side);
    sqlite3_bind_double(s, 6, f->qty);
    sqlite3_bind_double(s, 7, f->price);
    sqlite3_bind_double(s, 8, f->fee);
    sqlite3_bind_int64(s, 9, f->time);
    real_or_null(s, 10, f->bar_volume);
    QA_TRY_RET(QA_SQLITE_CHECK(d->db, sqlite3_step(s)));
    if (added) *added = sqlite3_changes(d->db) > 0;
    return QA_OK;
}

static int name_index(const char *const *names, int n, const char *v) {
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], v) == 0) return i;
    return -1;
}

static double real_col(sqlite3_stmt *s, int i) {
    return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

static void read_order(sqlite3_stmt *s, qa_oms_order *o) {
    memset(o, 0, sizeof *o);
    qa_strbuf_copy_cut(o->clordid, sizeof o->clordid, qa_sqlite_text(s, 0));
    qa_strbuf_copy_cut(o->parent, sizeof o->parent, qa_sqlite_text(s, 1));
    qa_strbuf_copy_cut(o->strategy, sizeof o->strategy, qa_sqlite_text(s, 2));
    qa_strbuf_copy_cut(o->symbol, sizeof o->symbol, qa_sqlite_text(s, 3));
    o->side = sqlite3_column_int(s, 4);
    o->qty = sqlite3_column_double(s, 5);
    o->type = name_index(qa_oms_type_names, QA_OMS_TYPE_COUNT, qa_sqlite_text(s, 6));
    o->limit = real_col(s, 7);
    o->algo = name_index(qa_algo_kind_names, QA_ALGO_KIND_COUNT, qa_sqlite_text(s, 8));
    o->state = name_index(qa_oms_state_names, QA_OMS_STATE_COUNT, qa_sqlite_text(s, 9));
    o->filled = sqlite3_column_double(s, 10);
    o->avg_price = real_col(s, 11);
    o->fees = sqlite3_column_double(s, 12);
    o->decision_time = sqlite3_column_int64(s, 13);
    o->decision_price = sqlite3_column_double(s, 14);
    o->arrival_time = sqlite3_column_type(s, 15) == SQLITE_NULL ? INT64_MIN : sqlite3_column_int64(s, 15);
    o->arrival_price = real_col(s, 16);
    o->created = sqlite3_column_int64(s, 17);
    o->updated = sqlite3_column_int64(s, 18);
    qa_strbuf_copy_cut(o->reason, sizeof o->reason, qa_sqlite_text(s, 19));
    o->version = sqlite3_column_int(s, 20);
}

int qa_orderdb_get_order(qa_orderdb_t *d, const char *clordid, qa_oms_order *o, qa_status *st) {
    sqlite3_reset(d->get);
    qa_sqlite_bind_text(d->get, 1, clordid);
    int rc = sqlite3_step(d->get);
    if (rc == SQLITE_ROW) {
        read_order(d->get, o);
        sqlite3_reset(d->get);
        return 1;
    }
    if (rc == SQLITE_DONE) return 0;
    *st = QA_SQLITE_CHECK(d->db, rc);
    return -1;
}

int qa_orderdb_has_fill(qa_orderdb_t *d, const char *trade_id, qa_status *st) {
    sqlite3_reset(d->hasfill);
    qa_sqlite_bind_text(d->hasfill, 1, trade_id);
    int rc = sqlite3_step(d->hasfill);
    sqlite3_reset(d->hasfill);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) return 0;
    *st = QA_SQLITE_CHECK(d->db, rc);
    return -1;
}

qa_status qa_orderdb_open_orders(qa_orderdb_t *d, qa_oms_order **out, size_t *n) {
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(d->db, "SELECT " ORDER_COLS " FROM orders WHERE state NOT IN"
                                        " ('filled', 'cancelled', 'rejected', 'expired') ORDER BY created, clordid", &s));
    qa_oms_order *a = NULL;
    size_t cnt = 0, cap = 0;
    qa_status st = QA_OK;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (cnt == cap) {
            cap = cap ? 2 * cap : 32;
            qa_oms_order *p = realloc(a, cap * sizeof *p);
            if (!p) {
                st = QA_FAIL(QA_ERR_NOMEM, "%zu open orders", cap);
                break;
            }
            a = p;
        }
        read_order(s, &a[cnt++]);
    }
    if (st == QA_OK && rc != SQLITE_DONE) st = QA_SQLITE_CHECK(d->db, rc);
    sqlite3_finalize(s);
    if (st != QA_OK) {
        free(a);
        return st;
    }
    *out = a;
    *n = cnt;
    return QA_OK;
}

qa_status qa_orderdb_position(qa_orderdb_t *d, const char *symbol, double *shares, long long *nfills) {
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(d->db, "SELECT COALESCE(SUM(side * qty), 0), COUNT(*) FROM fills WHERE symbol = ?", &s));
    qa_sqlite_bind_text(s, 1, symbol);
    int rc = sqlite3_step(s);
    qa_status st = rc == SQLITE_ROW ? QA_OK : QA_SQLITE_CHECK(d->db, rc);
    if (st == QA_OK) *shares = sqlite3_column_double(s, 0), *nfills = sqlite3_column_int64(s, 1);
    sqlite3_finalize(s);
    return st;
}

/* Runs the records of a batch (kept, or read back from the journal) through the put
 * functions. */
static qa_status apply_records(qa_orderdb_t *d, const unsigned char *p, size_t n) {
    size_t off = 0;
    while (off < n) {
        j_rec r;
        if (n - off < sizeof r) return QA_FAIL(QA_ERR_FORMAT, "%s: a record cut short", d->jpath);
        memcpy(&r, p + off, sizeof r);
        const unsigned char *pl = p + off + sizeof r;
        if (r.len > n - off - sizeof r) return QA_FAIL(QA_ERR_FORMAT, "%s: a record of %u bytes runs past its batch", d->jpath, r.len);
        qa_oms_order o;
        qa_status st = QA_OK;
        switch (r.kind) {
        case J_ORDER:
        case J_ARRIVAL:
            if (r.len != sizeof o) return QA_FAIL(QA_ERR_FORMAT, "%s: order record of %u bytes", d->jpath, r.len);
            memcpy(&o, pl, sizeof o);
            st = r.kind == J_ORDER ? qa_orderdb_put_order(d, &o) : qa_orderdb_put_arrival(d, &o);
            break;
        case J_TRANSITION: {
            j_transition j;
            if (r.len < sizeof j) return QA_FAIL(QA_ERR_FORMAT, "%s: transition record of %u bytes", d->jpath, r.len);
            memcpy(&j, pl, sizeof j);
            char detail[4097];
            if (j.dlen < 0 || j.dlen > 4096 || (size_t)j.dlen != r.len - sizeof j)
                return QA_FAIL(QA_ERR_FORMAT, "%s: transition detail of %d bytes", d->jpath, (int)j.dlen);
            memcpy(detail, pl + sizeof j, (size_t)j.dlen);
            detail[j.dlen] = '\0';
            st = qa_orderdb_put_transition(d, &j.o, j.from, j.event, detail);
            break;
        }
        case J_FILL: {
            qa_orderdb_fill f;
            if (r.len != sizeof f) return QA_FAIL(QA_ERR_FORMAT, "%s: fill record of %u bytes", d->jpath, r.len);
            memcpy(&f, pl, sizeof f);
            st = qa_orderdb_put_fill(d, &f, NULL);
            break;
        }
        default: return QA_FAIL(QA_ERR_FORMAT, "%s: record kind %u", d->jpath, r.kind);
        }
        if (st != QA_OK) return st;
        off += sizeof r + r.len;
    }
    return QA_OK;
}

qa_status qa_orderdb_fills_after(qa_orderdb_t *d, int64_t after, qa_orderdb_fill_fn cb, void *ctx, int64_t *last) {
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(d->db, "SELECT rowid, symbol, side * qty FROM fills WHERE rowid > ? ORDER BY rowid", &s));
    sqlite3_bind_int64(s, 1, after);
    *last = after;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        *last = sqlite3_column_int64(s, 0);
        cb(ctx, qa_sqlite_text(s, 1), sqlite3_column_double(s, 2));
    }
    qa_status st = rc == SQLITE_DONE ? QA_OK : QA_SQLITE_CHECK(d->db, rc);
    sqlite3_finalize(s);
    return st;
}

qa_status qa_orderdb_last_fill_row(qa_orderdb_t *d, int64_t *row) {
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(d->db, "SELECT COALESCE(MAX(rowid), 0) FROM fills", &s));
    int rc = sqlite3_step(s);
    qa_status st = rc == SQLITE_ROW ? QA_OK : QA_SQLITE_CHECK(d->db, rc);
    if (st == QA_OK) *row = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return st;
}

qa_status qa_orderdb_counts(qa_orderdb_t *d, long long *orders, long long *fills, long long *transitions) {
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(d->db, "SELECT (SELECT COUNT(*) FROM orders), (SELECT COUNT(*) FROM fills),"
                                        " (SELECT COUNT(*) FROM transitions)", &s));
    int rc = sqlite3_step(s);
    qa_status st = rc == SQLITE_ROW ? QA_OK : QA_SQLITE_CHECK(d->db, rc);
    if (st == QA_OK) *orders = sqlite3_column_int64(s, 0), *fills = sqlite3_column_int64(s, 1), *transitions = sqlite3_column_int64(s, 2);
    sqlite3_finalize(s);
    return st;
}
