/* qa tca, the analysis: parent orders and their fills from the order database
 * (quantumalpha.orders v1, read through its documented SQLite schema), measured against
 * the market file's bars. The outputs are in tca_output.c; formulas in docs/tca.md. */
#include "pipeline/tca/tca.h"

#include <assert.h>  /* static_assert */
#include <math.h>    /* isfinite, NAN, floor */
#include <stdlib.h>  /* malloc, calloc, qsort, bsearch */
#include <string.h>  /* strcmp, strlen, memcpy */

#include "common/sqlite.h"   /* read-only database, QA_SQLITE_CHECK */
#include "datasets/store.h"  /* the market file: symbols, time grid, bars */

const char *const qa_tca_bps_names[] = {"is_dec_bps", "is_dec_exec_bps", "is_dec_opp_bps", "is_dec_fee_bps",
                                        "is_arr_bps", "is_arr_exec_bps", "is_arr_opp_bps", "is_arr_fee_bps",
                                        "vwap_slippage_bps", "fee_bps", NULL};
static_assert(sizeof qa_tca_bps_names / sizeof *qa_tca_bps_names == QA_TCA_BPS_COUNT + 1, "one name per figure");
const char *const qa_tca_outcome_names[] = {"filled", "partial", "unfilled", "rejected", NULL};
static_assert(sizeof qa_tca_outcome_names / sizeof *qa_tca_outcome_names == QA_TCA_OUTCOME_COUNT + 1,
              "one name per outcome");

#define NS_PER_DAY 86400000000000LL

void qa_tca_filter_default(qa_tca_filter *f) {
    f->strategy = NULL;
    f->from = INT64_MIN;
    f->to = INT64_MAX;
}

static void free_orders(qa_tca_order *o, size_t n) {
    for (size_t i = 0; o && i < n; i++) free(o[i].text);
    free(o);
}

void qa_tca_result_free(qa_tca_result *r) {
    if (!r) return;
    free_orders(r->orders, r->norders);
    free(r->days);
    memset(r, 0, sizeof *r);
}

/* ---- reading the database ------------------------------------------------------------ */

/* A REAL column: 1 with *v set when it holds a number, 0 when NULL; -1 for text/blobs. */
static int col_real(sqlite3_stmt *s, int col, double *v) {
    int t = sqlite3_column_type(s, col);
    if (t == SQLITE_NULL) return 0;
    if (t != SQLITE_INTEGER && t != SQLITE_FLOAT) return -1;
    *v = sqlite3_column_double(s, col);
    return 1;
}

static qa_status check_format(sqlite3 *db, const char *path) {
    static const char *const tables[] = {"meta", "orders", "fills"};
    sqlite3_stmt *q = NULL;
    qa_status st = QA_OK;
    QA_TRY(qa_sqlite_prepare(db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?1", &q));
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
        sqlite3_reset(q);
        QA_TRY(qa_sqlite_bind_text(q, 1, tables[i]));
        int rc = sqlite3_step(q);
        if (rc != SQLITE_ROW) QA_TRY(QA_SQLITE_CHECK(db, rc));
        if (sqlite3_column_int(q, 0) == 0)
            QA_TRY_FAIL(QA_ERR_FORMAT, "%s: no table '%s'; expected an order database (%s v%d: meta, orders, fills)",
                        path, tables[i], QA_TCA_ORDERS_FORMAT, QA_TCA_ORDERS_VERSION);
    }
    sqlite3_finalize(q);
    q = NULL;
    QA_TRY(qa_sqlite_prepare(db,
                             "SELECT (SELECT value FROM meta WHERE key='format'),"
                             " (SELECT value FROM meta WHERE key='format_version')",
                             &q));
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW) QA_TRY(QA_SQLITE_CHECK(db, rc));
    const char *format = qa_sqlite_text(q, 0);
    if (strcmp(format, QA_TCA_ORDERS_FORMAT) != 0)
        QA_TRY_FAIL(QA_ERR_FORMAT, "%s: meta format is '%s'; expected '%s'", path, format, QA_TCA_ORDERS_FORMAT);
    const char *ver = qa_sqlite_text(q, 1);
    char *end = NULL;
    long v = strtol(ver, &end, 10);
    if (!*ver || *end || v < 1)
        QA_TRY_FAIL(QA_ERR_FORMAT, "%s: meta format_version is '%s'; expected %d", path, ver, QA_TCA_ORDERS_VERSION);
    if (v > QA_TCA_ORDERS_VERSION)
        QA_TRY_FAIL(QA_ERR_FORMAT, "%s: format_version %ld is newer than this qa reads (%d)", path, v,
                    QA_TCA_ORDERS_VERSION);
cleanup:
    sqlite3_finalize(q);
    return st;
}

/* One allocation holding the order's strings; the views point into it. */
static qa_status order_strings(qa_tca_order *o, sqlite3_stmt *s, int first) {
    const char *src[6];
    size_t len[6], total = 0;
    for (int i = 0; i < 6; i++) {
        src[i] = qa_sqlite_text(s, first + i);
        len[i] = strlen(src[i]);
        total += len[i] + 1;
    }
    o->text = malloc(total);
    if (!o->text) return QA_FAIL(QA_ERR_NOMEM, "order strings (%zu bytes)", total);
    const char **views[6] = {&o->clordid, &o->strategy, &o->symbol, &o->algo, &o->state, &o->reason};
    char *p = o->text;
    for (int i = 0; i < 6; i++) {
        memcpy(p, src[i], len[i] + 1);
        *views[i] = p;
        p += len[i] + 1;
    }
    return QA_OK;
}

static int64_t floor_day(int64_t t) {
    int64_t d = t / NS_PER_DAY;
    return (t % NS_PER_DAY < 0) ? d - 1 : d;
}

/* Reads one parent row (columns as in load_parents' SELECT) and checks it. */
static qa_status read_parent(sqlite3_stmt *s, const char *path, qa_tca_order *o) {
    memset(o, 0, sizeof *o);
    QA_TRY_RET(order_strings(o, s, 0));
    o->side = sqlite3_column_int(s, 6);
    int rq = col_real(s, 7, &o->qty), rd = col_real(s, 9, &o->decision_price);
    o->decision_time = sqlite3_column_int64(s, 8);
    o->has_arrival = sqlite3_column_type(s, 10) != SQLITE_NULL;
    o->arrival_time = o->has_arrival ? sqlite3_column_int64(s, 10) : 0;
    o->arrival_price = NAN;
    int ra = col_real(s, 11, &o->arrival_price);
    o->updated = sqlite3_column_int64(s, 12);
    o->outcome = strcmp(o->state, "rejected") == 0 ? QA_TCA_REJECTED : QA_TCA_UNFILLED;
    o->day = floor_day(o->decision_time);
    if (sqlite3_column_type(s, 6) != SQLITE_INTEGER || (o->side != 1 && o->side != -1))
        return QA_FAIL(QA_ERR_FORMAT, "%s: parent order '%s': side is '%s'; expected 1 (buy) or -1 (sell)", path,
                       o->clordid, qa_sqlite_text(s, 6));
    if (rq != 1 || !isfinite(o->qty) || o->qty <= 0)
        return QA_FAIL(QA_ERR_FORMAT, "%s: parent order '%s': qty is '%s'; expected a finite number > 0", path,
                       o->clordid, qa_sqlite_text(s, 7));
    if (o->outcome == QA_TCA_REJECTED) return QA_OK; /* never traded: its prices are not used */
    if (rd != 1 || !isfinite(o->decision_price) || o->decision_price <= 0)
        return QA_FAIL(QA_ERR_FORMAT, "%s: parent order '%s': decision_price is '%s'; expected a finite price > 0",
                       path, o->clordid, qa_sqlite_text(s, 9));
    if (o->has_arrival != (ra == 1) || ra < 0 || (ra == 1 && (!isfinite(o->arrival_price) || o->arrival_price <= 0)))
        return QA_FAIL(QA_ERR_FORMAT,
                       "%s: parent order '%s': arrival_time '%s', arrival_price '%s'; expected both NULL or a time "
                       "and a finite price > 0",
                       path, o->clordid, qa_sqlite_text(s, 10), qa_sqlite_text(s, 11));
    if (!o->has_arrival) o->arrival_price = NAN;
    return QA_OK;
}

static qa_status load_parents(sqlite3 *db, const char *path, const qa_tca_filter *f, qa_tca_order **out, size_t *n) {
    sqlite3_stmt *q = NULL;
    qa_tca_order *o = NULL;
    size_t cnt = 0, cap = 0;
    qa_status st = QA_OK;
    QA_TRY(qa_sqlite_prepare(db,
                             "SELECT clordid, strategy, symbol, COALESCE(algo,''), state, COALESCE(reason,''),"
                             " side, qty, decision_time, decision_price, arrival_time, arrival_price, updated"
                             " FROM orders WHERE parent IS NULL AND (?1 IS NULL OR strategy = ?1)"
                             " AND decision_time >= ?2 AND decision_time <= ?3 ORDER BY decision_time, clordid",
                             &q));
    QA_TRY(qa_sqlite_bind_text(q, 1, f->strategy));
    QA_TRY(QA_SQLITE_CHECK(db, sqlite3_bind_int64(q, 2, f->from)));
    QA_TRY(QA_SQLITE_CHECK(db, sqlite3_bind_int64(q, 3, f->to)));
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t ncap = cap ? 2 * cap : 64;
            qa_tca_order *g = realloc(o, ncap * sizeof *g);
            if (!g) QA_TRY_FAIL(QA_ERR_NOMEM, "%zu orders", ncap);
            o = g;
            cap = ncap;
        }
        st = read_parent(q, path, &o[cnt]);
        cnt++; /* counted even on failure so its strings are freed */
        if (st != QA_OK) goto cleanup;
    }
    QA_TRY(QA_SQLITE_CHECK(db, rc));
cleanup:
    sqlite3_finalize(q);
    if (st != QA_OK) {
        free_orders(o, cnt);
        return st;
    }
    *out = o;
    *n = cnt;
    return QA_OK;
}

/* An index of the orders sorted by clordid, for joining children and fills. */
typedef struct by_id {
    const qa_tca_order *orders;
    size_t *idx;
    size_t n;
} by_id;

static const qa_tca_order *sort_base; /* qsort has no context argument in C11 */
static int cmp_idx(const void *a, const void *b) {
    return strcmp(sort_base[*(const size_t *)a].clordid, sort_base[*(const size_t *)b].clordid);
}

static long find_id(const by_id *ix, const char *id) {
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ix->orders[ix->idx[mid]].clordid, id);
        if (c == 0) return (long)ix->idx[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

static qa_status join_children(sqlite3 *db, const by_id *ix, qa_tca_order *o) {
    sqlite3_stmt *q = NULL;
    qa_status st = QA_OK;
    QA_TRY(qa_sqlite_prepare(db, "SELECT parent, count(*) FROM orders WHERE parent IS NOT NULL GROUP BY parent", &q));
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        long k = find_id(ix, qa_sqlite_text(q, 0));
        if (k >= 0) o[k].nchildren = (size_t)sqlite3_column_int64(q, 1);
    }
    QA_TRY(QA_SQLITE_CHECK(db, rc));
cleanup:
    sqlite3_finalize(q);
    return st;
}

/* Fills in time order (then trade id), each added to its parent: fills.parent, or the
 * fill's own clordid when it has no parent (a parent filled directly). */
static qa_status join_fills(sqlite3 *db, const char *path, const by_id *ix, qa_tca_order *o) {
    sqlite3_stmt *q = NULL;
    qa_status st = QA_OK;
    QA_TRY(qa_sqlite_prepare(db,
                             "SELECT COALESCE(parent, clordid), trade_id, side, symbol, qty, price, fee, time"
                             " FROM fills ORDER BY time, trade_id",
                             &q));
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        long k = find_id(ix, qa_sqlite_text(q, 0));
        if (k < 0) continue; /* another strategy's or period's parent */
        qa_tca_order *p = &o[k];
        if (p->outcome == QA_TCA_REJECTED) continue;
        const char *trade = qa_sqlite_text(q, 1);
        double qty = 0, px = 0, fee = 0;
        int rq = col_real(q, 4, &qty), rp = col_real(q, 5, &px), rf = col_real(q, 6, &fee);
        if (rq != 1 || rp != 1 || rf != 1 || !isfinite(qty) || qty <= 0 || !isfinite(px) || px <= 0 || !isfinite(fee))
            QA_TRY_FAIL(QA_ERR_FORMAT,
                        "%s: fill '%s': qty '%s', price '%s', fee '%s'; expected finite numbers, qty and price > 0",
                        path, trade, qa_sqlite_text(q, 4), qa_sqlite_text(q, 5), qa_sqlite_text(q, 6));
        if (sqlite3_column_int(q, 2) != p->side || strcmp(qa_sqlite_text(q, 3), p->symbol) != 0)
            QA_TRY_FAIL(QA_ERR_FORMAT, "%s: fill '%s' is side %s of %s; its parent '%s' is side %d of %s", path, trade,
                        qa_sqlite_text(q, 2), qa_sqlite_text(q, 3), p->clordid, p->side, p->symbol);
        int64_t t = sqlite3_column_int64(q, 7);
        p->filled += qty;
        p->notional += qty * px;
        p->fees += fee;
        p->exec_dec += qty * (px - p->decision_price);
        if (p->has_arrival) p->exec_arr += qty * (px - p->arrival_price);
        if (p->nfills == 0 || t > p->last_fill) p->last_fill = t;
        p->nfills++;
    }
    QA_TRY(QA_SQLITE_CHECK(db, rc));
cleanup:
    sqlite3_finalize(q);
    return st;
}

qa_status qa_tca_load(const char *orders_db, const qa_tca_filter *f, qa_tca_result *out) {
    sqlite3 *db = NULL;
    qa_tca_order *o = NULL;
    size_t n = 0;
    by_id ix = {0};
    int in_txn = 0;
    qa_status st = QA_OK;
    /* Read-only: the live service owns the file; a post-trade reader never changes it. */
    int rc = sqlite3_open_v2(orders_db, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX, NULL);
    if (rc != SQLITE_OK)
        QA_TRY_FAIL(QA_ERR_SQLITE, "cannot open: %s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    QA_TRY(QA_SQLITE_CHECK(db, sqlite3_busy_timeout(db, 5000)));
    /* One read transaction: a consistent snapshot while the live service writes. */
    QA_TRY(qa_sqlite_exec(db, "BEGIN"));
    in_txn = 1;
    QA_TRY(check_format(db, orders_db));
    QA_TRY(load_parents(db, orders_db, f, &o, &n));
    ix.orders = o;
    ix.n = n;
    ix.idx = malloc((n ? n : 1) * sizeof *ix.idx);
    if (!ix.idx) QA_TRY_FAIL(QA_ERR_NOMEM, "order index");
    for (size_t i = 0; i < n; i++) ix.idx[i] = i;
    sort_base = o;
    qsort(ix.idx, n, sizeof *ix.idx, cmp_idx);
    for (size_t i = 1; i < n; i++)
        if (strcmp(o[ix.idx[i]].clordid, o[ix.idx[i - 1]].clordid) == 0)
            QA_TRY_FAIL(QA_ERR_FORMAT, "%s: clordid '%s' appears twice", orders_db, o[ix.idx[i]].clordid);
    QA_TRY(join_children(db, &ix, o));
    QA_TRY(join_fills(db, orders_db, &ix, o));
cleanup:
    if (st != QA_OK && qa_err_code() == QA_ERR_SQLITE) qa_err_prefix("reading order database %s (expected SQLite, %s v%d): ", orders_db,
                      QA_TCA_ORDERS_FORMAT, QA_TCA_ORDERS_VERSION);
    if (in_txn) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    if (db) sqlite3_close_v2(db);
    free(ix.idx);
    if (st != QA_OK) {
        free_orders(o, n);
        return st;
    }
    qa_tca_result_free(out);
    out->orders = o;
    out->norders = n;
    return QA_OK;
}

/* ---- measuring against the market file ----------------------------------------------- */

/* First grid index with time ≥ t (n when none). */
static size_t lower_bound(const int64_t *time, size_t n, int64_t t) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (time[mid] < t) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}
/* One past the last grid index with time ≤ t. */
static size_t upper_bound(const int64_t *time, size_t n, int64_t t) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (time[mid] <= t) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static int cmp_idx_symbol(const void *a, const void *b) {
    int c = strcmp(sort_base[*(const size_t *)a].symbol, sort_base[*(const size_t *)b].symbol);
    return c ? c : (*(const size_t *)a > *(const size_t *)b) - (*(const size_t *)a < *(const size_t *)b);
}

/* Measures order `o` given the symbol's close and volume over grid indices [i0, i0+nt). */
static qa_status measure(qa_tca_order *o, const int64_t *time, size_t ntime, size_t i0, size_t nt,
                         const double *close, const double *volume, const char *market) {
    const double s = o->side, Q = o->qty, q = o->filled;
    o->end_time = o->nfills ? o->last_fill : o->updated;
    o->end_price = NAN;
    for (size_t k = upper_bound(time, ntime, o->end_time); k > i0;) {
        k--;
        if (k >= i0 + nt) continue;
        if (isfinite(close[k - i0])) {
            o->end_price = close[k - i0];
            break;
        }
    }
    o->outcome = q <= 0 ? QA_TCA_UNFILLED : q >= Q * (1 - 1e-9) ? QA_TCA_FILLED : QA_TCA_PARTIAL;
    o->fill_rate = q / Q;
    o->avg_price = q > 0 ? o->notional / q : NAN;
    o->vwap = o->participation = o->duration_s = NAN;
    o->interval_volume = 0;
    if (o->has_arrival) {
        double num = 0, den = 0;
        size_t a = lower_bound(time, ntime, o->arrival_time), b = upper_bound(time, ntime, o->end_time);
        for (size_t k = a; k < b; k++) {
            if (k < i0 || k >= i0 + nt) continue;
            double c = close[k - i0], v = volume[k - i0];
            if (!isfinite(c) || !isfinite(v)) continue; /* no bar for the symbol at this time */
            num += c * v;
            den += v;
        }
        o->interval_volume = den;
        if (den > 0) {
            o->vwap = num / den;
            o->participation = q / den;
        }
        o->duration_s = (double)(o->end_time - o->arrival_time) / 1e9;
    }
    const double open = Q - q;
    if (open != 0 && !isfinite(o->end_price))
        return QA_FAIL(QA_ERR_FORMAT, "%s: no finite close for %s at or before %lld (the end of parent order '%s')",
                       market, o->symbol, (long long)o->end_time, o->clordid);
    for (int k = 0; k < QA_TCA_BPS_COUNT; k++) o->bps[k] = NAN;
    const double dd = Q * o->decision_price;
    double opp = open != 0 ? s * open * (o->end_price - o->decision_price) : 0;
    o->bps[QA_TCA_IS_DEC] = 1e4 * (s * o->exec_dec + opp + o->fees) / dd;
    o->bps[QA_TCA_IS_DEC_EXEC] = 1e4 * s * o->exec_dec / dd;
    o->bps[QA_TCA_IS_DEC_OPP] = 1e4 * opp / dd;
    o->bps[QA_TCA_IS_DEC_FEE] = 1e4 * o->fees / dd;
    if (o->has_arrival) {
        const double da = Q * o->arrival_price;
        opp = open != 0 ? s * open * (o->end_price - o->arrival_price) : 0;
        o->bps[QA_TCA_IS_ARR] = 1e4 * (s * o->exec_arr + opp + o->fees) / da;
        o->bps[QA_TCA_IS_ARR_EXEC] = 1e4 * s * o->exec_arr / da;
        o->bps[QA_TCA_IS_ARR_OPP] = 1e4 * opp / da;
        o->bps[QA_TCA_IS_ARR_FEE] = 1e4 * o->fees / da;
    }
    if (q > 0 && isfinite(o->vwap)) o->bps[QA_TCA_VWAP_SLIP] = 1e4 * s * (o->avg_price - o->vwap) / o->vwap;
    if (q > 0) o->bps[QA_TCA_FEE_BPS] = 1e4 * o->fees / o->notional;
    return QA_OK;
}

/* Sums behind a weighted average: Σ w·x and Σ w per figure. */
typedef struct day_acc {
    qa_tca_day d;
    double wx[QA_TCA_BPS_COUNT], w[QA_TCA_BPS_COUNT];
} day_acc;

static void acc_add(day_acc *a, const qa_tca_order *o) {
    a->d.count[o->outcome]++;
    if (o->outcome == QA_TCA_REJECTED) return;
    const double w = o->qty * o->decision_price;
    a->d.shares_ordered += o->qty;
    a->d.shares_filled += o->filled;
    a->d.notional_ordered += w;
    a->d.notional_filled += o->notional;
    a->d.fees += o->fees;
    for (int k = 0; k < QA_TCA_BPS_COUNT; k++)
        if (isfinite(o->bps[k])) a->wx[k] += w * o->bps[k], a->w[k] += w;
}

static void acc_finish(day_acc *a) {
    for (int k = 0; k < QA_TCA_BPS_COUNT; k++) a->d.bps[k] = a->w[k] > 0 ? a->wx[k] / a->w[k] : NAN;
}

static qa_status aggregate(qa_tca_result *r) {
    /* Orders are in decision-time order, so each day's orders are contiguous. */
    size_t ndays = 0;
    for (size_t i = 0; i < r->norders; i++)
        if (i == 0 || r->orders[i].day != r->orders[i - 1].day) ndays++;
    qa_tca_day *days = calloc(ndays ? ndays : 1, sizeof *days);
    if (!days) return QA_FAIL(QA_ERR_NOMEM, "%zu days", ndays);
    day_acc all = {.d.day = -1}, cur = {0};
    size_t nd = 0;
    for (size_t i = 0; i < r->norders; i++) {
        const qa_tca_order *o = &r->orders[i];
        if (i > 0 && o->day != r->orders[i - 1].day) {
            acc_finish(&cur);
            days[nd++] = cur.d;
        }
        if (i == 0 || o->day != r->orders[i - 1].day) memset(&cur, 0, sizeof cur), cur.d.day = o->day;
        acc_add(&cur, o);
        acc_add(&all, o);
    }
    if (r->norders) {
        acc_finish(&cur);
        days[nd++] = cur.d;
    }
    acc_finish(&all);
    free(r->days);
    r->days = days;
    r->ndays = nd;
    r->overall = all.d;
    return QA_OK;
}

qa_status qa_tca_compute(qa_tca_result *r, const char *market) {
    qa_store_t *store = NULL;
    size_t *idx = NULL;
    double *buf = NULL;
    qa_status st = QA_OK;
    QA_TRY(qa_store_open(market, NULL, QA_STORE_READ, &store));
    const int64_t *time = qa_store_time(store);
    const size_t ntime = qa_store_ntime(store);
    /* Measured orders grouped by symbol: one read of close and volume per symbol. */
    size_t n = 0;
    idx = malloc((r->norders ? r->norders : 1) * sizeof *idx);
    if (!idx) QA_TRY_FAIL(QA_ERR_NOMEM, "order index");
    for (size_t i = 0; i < r->norders; i++)
        if (r->orders[i].outcome != QA_TCA_REJECTED) idx[n++] = i;
    sort_base = r->orders;
    qsort(idx, n, sizeof *idx, cmp_idx_symbol);
    for (size_t g = 0; g < n;) {
        size_t h = g;
        const char *sym = r->orders[idx[g]].symbol;
        while (h < n && strcmp(r->orders[idx[h]].symbol, sym) == 0) h++;
        long si = qa_store_find_symbol(store, sym);
        if (si < 0)
            QA_TRY_FAIL(QA_ERR_NOT_FOUND, "%s has no symbol '%s' (traded by parent order '%s'); expected a market file "
                        "with every traded symbol", market, sym, r->orders[idx[g]].clordid);
        /* The grid range the group needs: decision (and arrival) to the last end. */
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (size_t k = g; k < h; k++) {
            const qa_tca_order *o = &r->orders[idx[k]];
            int64_t end = o->nfills ? o->last_fill : o->updated;
            lo = o->decision_time < lo ? o->decision_time : lo;
            if (o->has_arrival && o->arrival_time < lo) lo = o->arrival_time;
            hi = end > hi ? end : hi;
        }
        size_t i0 = lower_bound(time, ntime, lo), i1 = upper_bound(time, ntime, hi);
        size_t nt = i1 > i0 ? i1 - i0 : 0;
        free(buf);
        buf = malloc((nt ? 2 * nt : 1) * sizeof *buf);
        if (!buf) QA_TRY_FAIL(QA_ERR_NOMEM, "bars of %s (%zu)", sym, nt);
        QA_TRY(qa_store_read(store, qa_bar_field_path(QA_BAR_CLOSE), (size_t)si, 1, i0, nt, buf));
        QA_TRY(qa_store_read(store, qa_bar_field_path(QA_BAR_VOLUME), (size_t)si, 1, i0, nt, buf + nt));
        for (size_t k = g; k < h; k++)
            QA_TRY(measure(&r->orders[idx[k]], time, ntime, i0, nt, buf, buf + nt, market));
        g = h;
    }
    QA_TRY(aggregate(r));
cleanup:
    free(buf);
    free(idx);
    qa_store_close(store);
    return st;
}
