/* qa serve: orders and fills over <live_state>/orders.db (api/orders.h). */
#include "api/orders.h"

#include <stdint.h>  /* INT64_MIN, INT64_MAX */
#include <string.h>  /* strcmp, strlen */

#include "api/risk.h"       /* qa_apirisk_open_state, qa_apirisk_column */
#include "common/sqlite.h"  /* prepare, bind, checks */
#include "common/strbuf.h"  /* the WHERE clause */
#include "live/oms.h"       /* order state names, final states, id length */

#define ORDERS_FORMAT "quantumalpha.orders"

/* What a list answers per order, in this order (the table's columns, docs/execution.md). */
static const char *const order_cols[] = {"clordid", "parent", "symbol", "side", "qty", "type", "limit_price",
                                         "algo", "state", "filled", "avg_price", "fees", "decision_time",
                                         "decision_price", "arrival_time", "arrival_price", "created", "updated",
                                         "reason"};
static const char *const fill_cols[] = {"trade_id", "clordid", "parent", "symbol", "side", "qty", "price", "fee",
                                        "time", "bar_volume"};
#define NORDER_COLS (sizeof order_cols / sizeof *order_cols)
#define NFILL_COLS (sizeof fill_cols / sizeof *fill_cols)

/* The filters a list takes; NULL / INT64_MIN / INT64_MAX: none. */
typedef struct filters {
    const char *symbol, *state;
    long long from, to;
    long page, limit;
} filters;

static qa_status read_filters(const qa_api_req *req, int with_state, filters *f) {
    f->symbol = req->query ? req->query(req, "symbol") : NULL;
    f->state = with_state && req->query ? req->query(req, "state") : NULL;
    if (f->symbol && (!*f->symbol || strlen(f->symbol) > 15))
        return QA_FAIL(QA_ERR_INVALID_ARG, "query parameter symbol=%.40s: expected 1 to 15 bytes", f->symbol);
    if (f->state && strcmp(f->state, "open") != 0) {
        int known = 0;
        for (int i = 0; i < QA_OMS_STATE_COUNT; i++) known |= strcmp(f->state, qa_oms_state_names[i]) == 0;
        if (!known)
            return QA_FAIL(QA_ERR_INVALID_ARG, "query parameter state=%.40s: expected open, new, accepted, "
                           "partially_filled, filled, pending_cancel, cancelled, rejected or expired", f->state);
    }
    QA_TRY_RET(qa_api_query_time(req, "from", INT64_MIN, &f->from));
    QA_TRY_RET(qa_api_query_time(req, "to", INT64_MAX, &f->to));
    if (f->from > f->to) return QA_FAIL(QA_ERR_INVALID_ARG, "query parameters from and to: from is after to");
    QA_TRY_RET(qa_api_query_long(req, "page", 1, 1, 1000000000L, &f->page));
    return qa_api_query_long(req, "limit", 100, 1, 1000, &f->limit);
}

/* " WHERE ..." of a list: values are bound as ?1 symbol, ?2 state, ?3 from, ?4 to, only
 * the conditions given appear (so the symbol and state indexes serve them). */
static void where(qa_strbuf *b, const filters *f, const char *time_col) {
    qa_strbuf_printf(b, " WHERE %s BETWEEN ?3 AND ?4", time_col);
    if (f->symbol) qa_strbuf_append(b, " AND symbol = ?1");
    if (f->state && strcmp(f->state, "open") == 0) {
        qa_strbuf_append(b, " AND state IN (");
        int first = 1;
        for (int i = 0; i < QA_OMS_STATE_COUNT; i++)
            if (!qa_oms_final((qa_oms_state)i)) qa_strbuf_printf(b, "%s'%s'", first ? "" : ", ", qa_oms_state_names[i]), first = 0;
        qa_strbuf_append(b, ")");
    } else if (f->state) {
        qa_strbuf_append(b, " AND state = ?2");
    }
}

static qa_status bind_filters(sqlite3_stmt *s, const filters *f) {
    if (f->symbol && sqlite3_bind_parameter_index(s, "?1")) QA_TRY_RET(qa_sqlite_bind_text(s, 1, f->symbol));
    if (f->state && sqlite3_bind_parameter_index(s, "?2")) QA_TRY_RET(qa_sqlite_bind_text(s, 2, f->state));
    sqlite3_bind_int64(s, 3, f->from);
    sqlite3_bind_int64(s, 4, f->to);
    return QA_OK;
}

/* One page of `table` under the filters: {"columns", "rows", "page", "pages", "total"}. */
static qa_status page_of(const qa_api_req *req, const char *table, const char *const *cols, size_t ncols,
                         const char *time_col, const char *order, const filters *f, qa_api_resp *resp) {
    sqlite3 *db = NULL;
    QA_TRY_RET(qa_apirisk_open_state(req->ctx, "orders.db", ORDERS_FORMAT, &db));
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    qa_strbuf sql, cond;
    qa_strbuf_init(&sql);
    qa_strbuf_init(&cond);
    json_t *o = json_object(), *jc = json_array(), *rows = json_array();
    if (!o || !jc || !rows) QA_TRY_FAIL(QA_ERR_NOMEM, "%s", table);
    where(&cond, f, time_col);
    QA_TRY(qa_strbuf_status(&cond));
    qa_strbuf_printf(&sql, "SELECT count(*) FROM %s%s", table, qa_strbuf_str(&cond));
    QA_TRY(qa_strbuf_status(&sql));
    QA_TRY(qa_sqlite_prepare(db, qa_strbuf_str(&sql), &s));
    QA_TRY(bind_filters(s, f));
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) QA_TRY(QA_SQLITE_CHECK(db, rc));
    const long long total = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    s = NULL;
    qa_strbuf_free(&sql);
    qa_strbuf_init(&sql);
    qa_strbuf_append(&sql, "SELECT ");
    for (size_t i = 0; i < ncols; i++) {
        qa_strbuf_printf(&sql, "%s%s", i ? ", " : "", cols[i]);
        json_array_append_new(jc, json_string(cols[i]));
    }
    qa_strbuf_printf(&sql, " FROM %s%s ORDER BY %s LIMIT ?5 OFFSET ?6", table, qa_strbuf_str(&cond), order);
    QA_TRY(qa_strbuf_status(&sql));
    QA_TRY(qa_sqlite_prepare(db, qa_strbuf_str(&sql), &s));
    QA_TRY(bind_filters(s, f));
    sqlite3_bind_int64(s, 5, f->limit);
    sqlite3_bind_int64(s, 6, (sqlite3_int64)(f->page - 1) * f->limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *row = json_array();
        for (size_t i = 0; row && i < ncols; i++) json_array_append_new(row, qa_apirisk_column(s, (int)i));
        if (!row || json_array_append_new(rows, row) != 0) QA_TRY_FAIL(QA_ERR_NOMEM, "%s row", table);
    }
    if (rc != SQLITE_DONE) QA_TRY(QA_SQLITE_CHECK(db, rc));
    const long long pages = (total + f->limit - 1) / f->limit;
    if (json_object_set(o, "columns", jc) || json_object_set(o, "rows", rows) ||
        json_object_set_new(o, "page", json_integer(f->page)) || json_object_set_new(o, "pages", json_integer(pages)) ||
        json_object_set_new(o, "total", json_integer(total)))
        QA_TRY_FAIL(QA_ERR_NOMEM, "%s", table);
    resp->json = o;
    o = NULL;
cleanup:
    sqlite3_finalize(s);
    sqlite3_close(db);
    qa_strbuf_free(&sql);
    qa_strbuf_free(&cond);
    json_decref(o);
    json_decref(jc);
    json_decref(rows);
    return st;
}

qa_status qa_apiorders_list(const qa_api_req *req, qa_api_resp *resp) {
    filters f;
    QA_TRY_RET(read_filters(req, 1, &f));
    return page_of(req, "orders", order_cols, NORDER_COLS, "created", "created DESC, clordid", &f, resp);
}

qa_status qa_apiorders_fills(const qa_api_req *req, qa_api_resp *resp) {
    filters f;
    QA_TRY_RET(read_filters(req, 0, &f));
    return page_of(req, "fills", fill_cols, NFILL_COLS, "time", "time DESC, trade_id", &f, resp);
}

/* Rows of `sql` (one text parameter: the id) as objects named by their columns; *out
 * is an array, or for `one` the single row (QA_ERR_NOT_FOUND when none). */
static qa_status objects(sqlite3 *db, const char *sql, const char *id, int one, json_t **out) {
    sqlite3_stmt *s = NULL;
    *out = NULL;
    QA_TRY_RET(qa_sqlite_prepare(db, sql, &s));
    qa_status st = qa_sqlite_bind_text(s, 1, id);
    json_t *arr = json_array();
    if (!arr) st = QA_FAIL(QA_ERR_NOMEM, "rows");
    int rc = SQLITE_DONE;
    while (st == QA_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *o = json_object();
        for (int i = 0; o && i < sqlite3_column_count(s); i++)
            json_object_set_new(o, sqlite3_column_name(s, i), qa_apirisk_column(s, i));
        if (!o || json_array_append_new(arr, o) != 0) st = QA_FAIL(QA_ERR_NOMEM, "row");
    }
    if (st == QA_OK && rc != SQLITE_DONE) st = QA_SQLITE_CHECK(db, rc);
    sqlite3_finalize(s);
    if (st == QA_OK && one) {
        json_t *first = json_incref(json_array_get(arr, 0));
        if (!first) st = QA_FAIL(QA_ERR_NOT_FOUND, "no order '%.80s' in the order database", id);
        json_decref(arr);
        arr = first;
    }
    if (st != QA_OK) {
        json_decref(arr);
        return st;
    }
    *out = arr;
    return QA_OK;
}

qa_status qa_apiorders_show(const qa_api_req *req, qa_api_resp *resp) {
    const char *id = req->nparams ? req->params[0] : NULL;
    if (!id || !*id || strlen(id) >= QA_OMS_ID_LEN)
        return QA_FAIL(QA_ERR_INVALID_ARG, "client order id '%.80s': expected 1 to %d bytes", id ? id : "",
                       QA_OMS_ID_LEN - 1);
    sqlite3 *db = NULL;
    QA_TRY_RET(qa_apirisk_open_state(req->ctx, "orders.db", ORDERS_FORMAT, &db));
    json_t *order = NULL, *trans = NULL, *fills = NULL, *kids = NULL;
    qa_status st = objects(db,
                           "SELECT clordid, parent, strategy, symbol, side, qty, type, limit_price, algo, state, filled,"
                           " avg_price, fees, decision_time, decision_price, arrival_time, arrival_price, created,"
                           " updated, reason, version FROM orders WHERE clordid = ?",
                           id, 1, &order);
    if (st == QA_OK)
        st = objects(db,
                     "SELECT n, time, from_state, to_state, event, detail FROM transitions WHERE clordid = ? ORDER BY n",
                     id, 0, &trans);
    /* a parent's fills are its children's: both carry the parent's id */
    if (st == QA_OK)
        st = objects(db,
                     "SELECT trade_id, clordid, symbol, side, qty, price, fee, time, bar_volume FROM fills"
                     " WHERE clordid = ?1 OR parent = ?1 ORDER BY time, trade_id",
                     id, 0, &fills);
    if (st == QA_OK)
        st = objects(db,
                     "SELECT clordid, side, qty, type, limit_price, state, filled, avg_price, created, updated, reason"
                     " FROM orders WHERE parent = ? ORDER BY created, clordid",
                     id, 0, &kids);
    sqlite3_close(db);
    if (st == QA_OK) {
        resp->json = json_pack("{s:o, s:o, s:o, s:o}", "order", order, "transitions", trans, "fills", fills,
                               "children", kids);
        order = trans = fills = kids = NULL; /* json_pack's "o" took them, also on failure */
        if (!resp->json) st = QA_FAIL(QA_ERR_NOMEM, "order %s", id);
    }
    json_decref(order), json_decref(trans), json_decref(fills), json_decref(kids);
    return st;
}
