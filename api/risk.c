/* qa serve: risk handlers over <live_state>/risk.db (api/risk.h). */
#include "api/risk.h"

#include <math.h>    /* NAN, isfinite */
#include <stdint.h>  /* INT64_MIN, INT64_MAX */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, free */
#include <string.h>  /* strcmp, strlen */
#include <unistd.h>  /* access */

#include "common/fs.h"      /* qa_path_join, QA_PATH_MAX */
#include "common/json.h"    /* qa_json_real: NaN as null */
#include "common/sqlite.h"  /* checks, prepare, text */
#include "live/reload.h"    /* the configuration in force */
#include "live/riskmon.h"   /* limits on a recorded snapshot */
#include "trading/limits.h" /* bounds and use */

/* The service commits one transaction per timestamp; a reader waits out at most this. */
#define BUSY_MS 2000

qa_status qa_apirisk_open_state(const qa_api_ctx *ctx, const char *file, const char *format, sqlite3 **out) {
    *out = NULL;
    if (!ctx->live_state[0])
        return QA_FAIL(QA_ERR_NOT_FOUND, "no live service state directory is configured (serve.yaml live_state)");
    char path[QA_PATH_MAX];
    QA_TRY_RET(qa_path_join(path, ctx->live_state, file));
    if (access(path, F_OK) != 0)
        return QA_FAIL(QA_ERR_NOT_FOUND, "no %s in the live state directory %s (has the service run there?)", file,
                       ctx->live_state);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX, NULL);
    qa_status st = rc == SQLITE_OK ? QA_OK
                                   : QA_FAIL(QA_ERR_SQLITE, "cannot open %s read-only: %s", path,
                                             db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    if (st == QA_OK) st = QA_SQLITE_CHECK(db, sqlite3_busy_timeout(db, BUSY_MS));
    sqlite3_stmt *s = NULL;
    if (st == QA_OK) st = qa_sqlite_prepare(db, "SELECT value FROM meta WHERE key = 'format'", &s);
    if (st == QA_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW && strcmp(qa_sqlite_text(s, 0), format) != 0)
            st = QA_FAIL(QA_ERR_FORMAT, "%s holds '%s', not %s", path, qa_sqlite_text(s, 0), format);
        else if (rc == SQLITE_DONE) st = QA_FAIL(QA_ERR_FORMAT, "%s has no format name (not a %s file)", path, format);
        else if (rc != SQLITE_ROW) st = QA_SQLITE_CHECK(db, rc);
    }
    sqlite3_finalize(s);
    if (st != QA_OK) {
        sqlite3_close(db);
        return st;
    }
    *out = db;
    return QA_OK;
}

qa_status qa_apirisk_open_riskdb(const qa_api_ctx *ctx, qa_riskdb_t **out) {
    *out = NULL;
    if (!ctx->live_state[0])
        return QA_FAIL(QA_ERR_NOT_FOUND, "no live service state directory is configured (serve.yaml live_state)");
    return qa_riskdb_open_ro(ctx->live_state, out);
}

json_t *qa_apirisk_column(sqlite3_stmt *s, int i) {
    switch (sqlite3_column_type(s, i)) {
    case SQLITE_INTEGER: return json_integer(sqlite3_column_int64(s, i));
    case SQLITE_FLOAT: return qa_json_real(sqlite3_column_double(s, i));
    case SQLITE_TEXT: return json_string(qa_sqlite_text(s, i));
    default: return json_null();
    }
}

static const char *const limit_states[] = {"ok", "warning", "breach", "not_evaluated"};
_Static_assert(sizeof limit_states / sizeof *limit_states == QA_LIMIT_SKIPPED + 1, "one name per qa_limit_state");

qa_status qa_apirisk_limits_json(const qa_api_ctx *ctx, qa_riskdb_t *db, const qa_msg_risk *k, json_t **out) {
    *out = NULL;
    qa_reload_cfg *rc = NULL;
    long long change = 0;
    QA_TRY_RET(qa_reload_in_force(db, &rc, &change, NULL));
    /* a service that never recorded its configuration (older state dirs): the file */
    qa_status st = QA_OK;
    if (!rc && ctx->live_config[0]) st = qa_reload_from_file(ctx->live_config, NULL, &rc);
    if (st != QA_OK) return st;
    json_t *o = json_object(), *arr = json_array();
    qa_limit_result *res = NULL;
    if (!o || !arr) st = QA_FAIL(QA_ERR_NOMEM, "limits");
    const qa_limit_set *set = rc ? &rc->cfg.limits : NULL;
    if (st == QA_OK && set && set->n) {
        res = calloc(set->n, sizeof *res);
        if (!res) st = QA_FAIL(QA_ERR_NOMEM, "%zu limit results", set->n);
    }
    if (st == QA_OK && res) {
        qa_msg_risk none; /* no snapshot yet: every metric NaN, every limit not evaluated */
        memset(&none, 0, sizeof none);
        none.equity = none.pnl = none.drawdown = none.gross = none.net = none.concentration = NAN;
        none.var_hist = none.es_hist = none.var_param = none.es_param = none.level = NAN;
        qa_riskmon_check_recorded(set, k ? k : &none, res);
        for (size_t i = 0; i < set->n; i++) {
            const qa_limit *l = &set->items[i];
            const int at_level = l->metric == QA_LIMIT_VAR || l->metric == QA_LIMIT_ES;
            json_t *row = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:o}", "name", l->name, "metric",
                                    qa_limit_metric_names[l->metric], "level",
                                    at_level ? qa_json_real(l->level) : json_null(), "min", qa_json_real(l->min), "max",
                                    qa_json_real(l->max), "value", qa_json_real(res[i].value), "bound",
                                    qa_json_real(qa_limit_bound(l)), "use", qa_json_real(qa_limit_use(l, &res[i])),
                                    "state", limit_states[res[i].state], "warn_fraction",
                                    qa_json_real(l->warn_fraction));
            if (!row || json_array_append_new(arr, row) != 0) {
                st = QA_FAIL(QA_ERR_NOMEM, "limit %s", l->name);
                break;
            }
        }
    }
    if (st == QA_OK && (json_object_set_new(o, "config_change", rc ? json_integer(change) : json_null()) != 0 ||
                        json_object_set(o, "limits", arr) != 0))
        st = QA_FAIL(QA_ERR_NOMEM, "limits");
    free(res);
    json_decref(arr);
    qa_reload_free(rc);
    if (st != QA_OK) {
        json_decref(o);
        return st;
    }
    *out = o;
    return QA_OK;
}

/* Columns of the metrics table as risk.db stores them (live/riskdb.h). */
static const char *const metric_cols[] = {"time", "equity", "pnl", "drawdown", "gross", "net", "concentration",
                                          "top", "var_hist", "es_hist", "var_param", "es_param", "level", "state"};
#define NMETRIC_COLS (sizeof metric_cols / sizeof *metric_cols)

/* The time range [from, to] of the query; from > to is refused. */
static qa_status time_range(const qa_api_req *req, long long *from, long long *to) {
    QA_TRY_RET(qa_api_query_time(req, "from", INT64_MIN, from));
    QA_TRY_RET(qa_api_query_time(req, "to", INT64_MAX, to));
    if (*from > *to)
        return QA_FAIL(QA_ERR_INVALID_ARG, "query parameters from=%.40s and to=%.40s: from is after to",
                       req->query(req, "from"), req->query(req, "to"));
    return QA_OK;
}

qa_status qa_apirisk_metrics(const qa_api_req *req, qa_api_resp *resp) {
    long long from, to;
    long limit;
    QA_TRY_RET(time_range(req, &from, &to));
    QA_TRY_RET(qa_api_query_long(req, "limit", 1000, 1, 10000, &limit));
    sqlite3 *db = NULL;
    QA_TRY_RET(qa_apirisk_open_state(req->ctx, "risk.db", "quantumalpha.risk", &db));
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    json_t *o = json_object(), *cols = json_array(), *rows = json_array();
    if (!o || !cols || !rows) QA_TRY_FAIL(QA_ERR_NOMEM, "risk metrics");
    for (size_t i = 0; i < NMETRIC_COLS; i++) json_array_append_new(cols, json_string(metric_cols[i]));
    /* the newest `limit` rows of the range (one more tells whether it was cut), then
     * oldest first for charts */
    QA_TRY(qa_sqlite_prepare(db,
                             "SELECT time, equity, pnl, drawdown, gross, net, concentration, top, var_hist, es_hist,"
                             " var_param, es_param, level, state FROM metrics WHERE time BETWEEN ? AND ?"
                             " ORDER BY time DESC LIMIT ?",
                             &s));
    sqlite3_bind_int64(s, 1, from);
    sqlite3_bind_int64(s, 2, to);
    sqlite3_bind_int64(s, 3, (sqlite3_int64)limit + 1);
    int rc;
    long n = 0;
    int truncated = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (n == limit) {
            truncated = 1;
            break;
        }
        json_t *row = json_array();
        for (int i = 0; row && i < (int)NMETRIC_COLS; i++) json_array_append_new(row, qa_apirisk_column(s, i));
        if (!row || json_array_append_new(rows, row) != 0) QA_TRY_FAIL(QA_ERR_NOMEM, "risk metrics row");
        n++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) QA_TRY(QA_SQLITE_CHECK(db, rc));
    for (long i = 0; i < n / 2; i++) { /* newest first as read: reversed in place */
        json_t *a = json_incref(json_array_get(rows, (size_t)i)), *b = json_incref(json_array_get(rows, (size_t)(n - 1 - i)));
        json_array_set_new(rows, (size_t)i, b);
        json_array_set_new(rows, (size_t)(n - 1 - i), a);
    }
    if (json_object_set(o, "columns", cols) || json_object_set(o, "rows", rows) ||
        json_object_set_new(o, "truncated", json_boolean(truncated)))
        QA_TRY_FAIL(QA_ERR_NOMEM, "risk metrics");
    resp->json = o;
    o = NULL;
cleanup:
    sqlite3_finalize(s);
    sqlite3_close(db);
    json_decref(o);
    json_decref(cols);
    json_decref(rows);
    return st;
}

qa_status qa_apirisk_alerts(const qa_api_req *req, qa_api_resp *resp) {
    long long from, to;
    long limit;
    QA_TRY_RET(time_range(req, &from, &to));
    QA_TRY_RET(qa_api_query_long(req, "limit", 100, 1, 10000, &limit));
    const char *sev = req->query ? req->query(req, "severity") : NULL;
    if (sev && (!*sev || strlen(sev) > 15))
        return QA_FAIL(QA_ERR_INVALID_ARG, "query parameter severity=%.40s: expected 1 to 15 bytes (breach, warning, "
                       "state, order, command, reconcile, ...)", sev);
    sqlite3 *db = NULL;
    QA_TRY_RET(qa_apirisk_open_state(req->ctx, "risk.db", "quantumalpha.risk", &db));
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    json_t *o = json_object(), *arr = json_array();
    if (!o || !arr) QA_TRY_FAIL(QA_ERR_NOMEM, "alerts");
    QA_TRY(qa_sqlite_prepare(db,
                             "SELECT count(*) FROM alerts WHERE time BETWEEN ?1 AND ?2 AND (?3 IS NULL OR severity = ?3)",
                             &s));
    sqlite3_bind_int64(s, 1, from);
    sqlite3_bind_int64(s, 2, to);
    QA_TRY(qa_sqlite_bind_text(s, 3, sev));
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) QA_TRY(QA_SQLITE_CHECK(db, rc));
    const long long total = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    s = NULL;
    QA_TRY(qa_sqlite_prepare(db,
                             "SELECT time, seq, severity, limit_name, metric, value, threshold, state, detail FROM alerts"
                             " WHERE time BETWEEN ?1 AND ?2 AND (?3 IS NULL OR severity = ?3)"
                             " ORDER BY time DESC, seq DESC LIMIT ?4",
                             &s));
    sqlite3_bind_int64(s, 1, from);
    sqlite3_bind_int64(s, 2, to);
    QA_TRY(qa_sqlite_bind_text(s, 3, sev));
    sqlite3_bind_int64(s, 4, (sqlite3_int64)limit);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *a = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "time", qa_apirisk_column(s, 0), "seq", qa_apirisk_column(s, 1),
                              "severity", qa_apirisk_column(s, 2), "limit", qa_apirisk_column(s, 3), "metric", qa_apirisk_column(s, 4), "value",
                              qa_apirisk_column(s, 5), "threshold", qa_apirisk_column(s, 6), "state", qa_apirisk_column(s, 7), "detail", qa_apirisk_column(s, 8));
        if (!a || json_array_append_new(arr, a) != 0) QA_TRY_FAIL(QA_ERR_NOMEM, "alert");
    }
    if (rc != SQLITE_DONE) QA_TRY(QA_SQLITE_CHECK(db, rc));
    if (json_object_set(o, "alerts", arr) || json_object_set_new(o, "total", json_integer(total)))
        QA_TRY_FAIL(QA_ERR_NOMEM, "alerts");
    resp->json = o;
    o = NULL;
cleanup:
    sqlite3_finalize(s);
    sqlite3_close(db);
    json_decref(o);
    json_decref(arr);
    return st;
}

qa_status qa_apirisk_limits(const qa_api_req *req, qa_api_resp *resp) {
    qa_riskdb_t *db = NULL;
    QA_TRY_RET(qa_apirisk_open_riskdb(req->ctx, &db));
    int64_t t = INT64_MIN;
    int found = 0;
    qa_msg_risk k;
    json_t *o = NULL;
    qa_status st = qa_riskdb_last_metrics(db, &t, &k, &found);
    if (st == QA_OK) st = qa_apirisk_limits_json(req->ctx, db, found ? &k : NULL, &o);
    if (st == QA_OK && (json_object_set_new(o, "time", found ? json_integer(t) : json_null()) ||
                        json_object_set_new(o, "state", found ? json_string(k.state) : json_null())))
        st = QA_FAIL(QA_ERR_NOMEM, "limits");
    qa_riskdb_close(db);
    if (st != QA_OK) {
        json_decref(o);
        return st;
    }
    resp->json = o;
    return QA_OK;
}
