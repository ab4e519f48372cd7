/* qa serve: the live desk (api/desk.h). Reads <live_state>/risk.db and orders.db
 * read-only; commands go through live/riskdb.h's writers, as `qa live state` does. */
#include "api/desk.h"

#include <math.h>      /* NAN, fabs, isfinite */
#include <stdint.h>    /* INT64_MIN */
#include <stdio.h>     /* snprintf */
#include <stdlib.h>    /* calloc, realloc, free */
#include <string.h>    /* strcmp, strlen */
#include <sys/stat.h>  /* stat: the state directory exists */

#include "api/risk.h"          /* read-only opens, columns, limits */
#include "common/json.h"       /* qa_json_real */
#include "common/sqlite.h"     /* prepare, checks */
#include "common/strbuf.h"     /* the open-state list */
#include "live/oms.h"          /* order states, QA_OMS_ID_LEN */
#include "live/riskdb.h"       /* metrics, alerts, commands; queuing commands */
#include "trading/pretrade.h"  /* qa_trading_state_names, qa_trading_state_parse */

#define ORDERS_FORMAT "quantumalpha.orders"
#define WHY_MAX 120         /* bytes of a command's reason (risk.db keeps 127; the alert cuts it) */
#define DESK_ALERTS 20      /* newest alerts in the desk state */
#define DESK_COMMANDS 50    /* newest commands in the desk state */
#define DESK_OPEN_ORDERS 200

/* "state IN ('new', ...)": the states that are not final, from live/oms.h's table. */
static void open_states(qa_strbuf *b) {
    qa_strbuf_append(b, "state IN (");
    int first = 1;
    for (int i = 0; i < QA_OMS_STATE_COUNT; i++)
        if (!qa_oms_final((qa_oms_state)i)) qa_strbuf_printf(b, "%s'%s'", first ? "" : ", ", qa_oms_state_names[i]), first = 0;
    qa_strbuf_append(b, ")");
}

/* orders.db, or *db NULL when the service keeps none (no execution stage, not started). */
static qa_status open_orders_db(const qa_api_ctx *ctx, sqlite3 **db) {
    qa_status st = qa_apirisk_open_state(ctx, "orders.db", ORDERS_FORMAT, db);
    if (st == QA_ERR_NOT_FOUND && ctx->live_state[0]) {
        qa_err_clear();
        return QA_OK;
    }
    return st;
}

static json_t *num_or_null(int found, double v) { return found ? qa_json_real(v) : json_null(); }

static json_t *alert_json(const qa_riskdb_alert *a) {
    return json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:s, s:s}", "time", (json_int_t)a->time, "severity", a->a.severity,
                     "limit", a->a.limit, "metric", a->a.metric, "value", qa_json_real(a->a.value), "threshold",
                     qa_json_real(a->a.threshold), "state", a->a.state, "detail", a->a.detail);
}

static json_t *command_json(const qa_riskdb_command *c) {
    return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:o}", "id", (json_int_t)c->id, "created", c->created, "state",
                     c->state, "target", c->target, "who", c->who, "why", c->why, "applied_time",
                     c->applied_time == INT64_MIN ? json_null() : json_integer(c->applied_time));
}

/* One symbol's position from its fills in time order, at average cost: adding to the
 * position moves the average, reducing it keeps it, crossing zero restarts it at the
 * crossing fill's price. */
typedef struct position {
    char symbol[16];
    double shares, avg;
    long long last_time; /* of the newest price known */
    double last;
} position;

static void book_fill(position *p, double q, double px) {
    if (p->shares == 0 || (p->shares > 0) == (q > 0)) {
        const double a = fabs(p->shares), b = fabs(q);
        p->avg = p->shares == 0 ? px : (p->avg * a + px * b) / (a + b);
    } else if (fabs(q) > fabs(p->shares)) {
        p->avg = px;
    }
    p->shares += q;
    if (p->shares == 0) p->avg = NAN;
}

/* Positions from every fill (a scan: the desk state, not the snapshot), with the newest
 * price the order database has seen per symbol: its last fill or its last decision's
 * close. */
static qa_status positions_json(sqlite3 *db, json_t *arr) {
    position *ps = NULL;
    size_t n = 0, cap = 0;
    sqlite3_stmt *s = NULL;
    qa_status st = qa_sqlite_prepare(db, "SELECT symbol, side, qty, price, time FROM fills ORDER BY symbol, time, rowid", &s);
    int rc = SQLITE_DONE;
    while (st == QA_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *sym = qa_sqlite_text(s, 0);
        if (!n || strcmp(ps[n - 1].symbol, sym) != 0) {
            if (n == cap) {
                size_t nc = cap ? 2 * cap : 64;
                position *g = realloc(ps, nc * sizeof *g);
                if (!g) {
                    st = QA_FAIL(QA_ERR_NOMEM, "%zu positions", nc);
                    break;
                }
                ps = g, cap = nc;
            }
            position *p = &ps[n++];
            memset(p, 0, sizeof *p);
            snprintf(p->symbol, sizeof p->symbol, "%s", sym);
            p->avg = p->last = NAN;
            p->last_time = INT64_MIN;
        }
        position *p = &ps[n - 1];
        book_fill(p, (double)sqlite3_column_int64(s, 1) * sqlite3_column_double(s, 2), sqlite3_column_double(s, 3));
        if (sqlite3_column_int64(s, 4) >= p->last_time) p->last_time = sqlite3_column_int64(s, 4), p->last = sqlite3_column_double(s, 3);
    }
    if (st == QA_OK && rc != SQLITE_DONE) st = QA_SQLITE_CHECK(db, rc);
    sqlite3_finalize(s);
    s = NULL;
    /* SQLite takes the bare columns of a max() aggregate from the row holding the max */
    if (st == QA_OK)
        st = qa_sqlite_prepare(db, "SELECT symbol, max(decision_time), decision_price FROM orders GROUP BY symbol", &s);
    while (st == QA_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(ps[i].symbol, qa_sqlite_text(s, 0)) == 0 && sqlite3_column_int64(s, 1) > ps[i].last_time &&
                sqlite3_column_type(s, 2) != SQLITE_NULL)
                ps[i].last_time = sqlite3_column_int64(s, 1), ps[i].last = sqlite3_column_double(s, 2);
    }
    if (st == QA_OK && rc != SQLITE_DONE) st = QA_SQLITE_CHECK(db, rc);
    sqlite3_finalize(s);
    for (size_t i = 0; st == QA_OK && i < n; i++) {
        const position *p = &ps[i];
        if (p->shares == 0) continue;
        const int known = isfinite(p->last);
        json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o}", "symbol", p->symbol, "shares", qa_json_real(p->shares),
                              "avg_price", qa_json_real(p->avg), "last_price", num_or_null(known, p->last), "price_time",
                              known ? json_integer(p->last_time) : json_null(), "market_value",
                              num_or_null(known, p->shares * p->last), "unrealized",
                              num_or_null(known, p->shares * (p->last - p->avg)));
        if (!o || json_array_append_new(arr, o) != 0) st = QA_FAIL(QA_ERR_NOMEM, "position %s", p->symbol);
    }
    free(ps);
    return st;
}

static qa_status open_orders_json(sqlite3 *db, json_t *arr) {
    qa_strbuf sql;
    qa_strbuf_init(&sql);
    qa_strbuf_append(&sql, "SELECT clordid, parent, symbol, side, qty, type, limit_price, state, filled, avg_price,"
                           " created, updated FROM orders WHERE ");
    open_states(&sql);
    qa_strbuf_printf(&sql, " ORDER BY created DESC, clordid LIMIT %d", DESK_OPEN_ORDERS);
    sqlite3_stmt *s = NULL;
    qa_status st = qa_strbuf_status(&sql);
    if (st == QA_OK) st = qa_sqlite_prepare(db, qa_strbuf_str(&sql), &s);
    int rc = SQLITE_DONE;
    while (st == QA_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *o = json_object();
        for (int i = 0; o && i < sqlite3_column_count(s); i++)
            json_object_set_new(o, sqlite3_column_name(s, i), qa_apirisk_column(s, i));
        if (!o || json_array_append_new(arr, o) != 0) st = QA_FAIL(QA_ERR_NOMEM, "open order");
    }
    if (st == QA_OK && rc != SQLITE_DONE) st = QA_SQLITE_CHECK(db, rc);
    sqlite3_finalize(s);
    qa_strbuf_free(&sql);
    return st;
}

qa_status qa_apidesk_state(const qa_api_req *req, qa_api_resp *resp) {
    qa_riskdb_t *rdb = NULL;
    sqlite3 *odb = NULL;
    QA_TRY_RET(qa_apirisk_open_riskdb(req->ctx, &rdb));
    qa_riskdb_alert *alerts = calloc(DESK_ALERTS, sizeof *alerts); /* tens of KiB: off the server thread's stack */
    qa_riskdb_command *cmds = calloc(DESK_COMMANDS, sizeof *cmds);
    size_t na = 0, nc = 0;
    long long total = 0;
    int64_t t = INT64_MIN;
    int found = 0;
    qa_msg_risk k;
    json_t *o = NULL, *lim = NULL, *pos = json_array(), *oo = json_array(), *al = json_array(), *cm = json_array();
    qa_status st = pos && oo && al && cm && alerts && cmds ? QA_OK : QA_FAIL(QA_ERR_NOMEM, "desk state");
    if (st == QA_OK) st = qa_riskdb_last_metrics(rdb, &t, &k, &found);
    if (st == QA_OK) st = qa_riskdb_alerts_recent(rdb, alerts, DESK_ALERTS, &na, &total);
    if (st == QA_OK) st = qa_riskdb_commands_recent(rdb, cmds, DESK_COMMANDS, &nc);
    if (st == QA_OK) st = qa_apirisk_limits_json(req->ctx, rdb, found ? &k : NULL, &lim);
    if (st == QA_OK) st = open_orders_db(req->ctx, &odb);
    if (st == QA_OK && odb) st = positions_json(odb, pos);
    if (st == QA_OK && odb) st = open_orders_json(odb, oo);
    for (size_t i = 0; st == QA_OK && i < na; i++)
        if (json_array_append_new(al, alert_json(&alerts[i])) != 0) st = QA_FAIL(QA_ERR_NOMEM, "alerts");
    for (size_t i = 0; st == QA_OK && i < nc; i++)
        if (json_array_append_new(cm, command_json(&cmds[i])) != 0) st = QA_FAIL(QA_ERR_NOMEM, "commands");
    if (st == QA_OK) {
        o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:O, s:O, s:O, s:O, s:O, s:I, s:O}",
                      "state", found ? json_string(k.state) : json_null(), "time", found ? json_integer(t) : json_null(),
                      "equity", num_or_null(found, k.equity), "pnl", num_or_null(found, k.pnl), "drawdown",
                      num_or_null(found, k.drawdown), "gross", num_or_null(found, k.gross), "net",
                      num_or_null(found, k.net), "var", num_or_null(found, k.var_hist), "es",
                      num_or_null(found, k.es_hist), "level", num_or_null(found, k.level), "execution", odb != NULL,
                      "positions", pos, "open_orders", oo, "limits", json_object_get(lim, "limits"), "config_change",
                      json_object_get(lim, "config_change"), "alerts", al, "alerts_total", (json_int_t)total, "commands",
                      cm);
        if (!o) st = QA_FAIL(QA_ERR_NOMEM, "desk state");
    }
    sqlite3_close(odb);
    qa_riskdb_close(rdb);
    free(alerts);
    free(cmds);
    json_decref(lim), json_decref(pos), json_decref(oo), json_decref(al), json_decref(cm);
    if (st != QA_OK) {
        json_decref(o);
        return st;
    }
    resp->json = o;
    return QA_OK;
}

/* One integer of a one-row query (0 for NULL). */
static qa_status scalar(sqlite3 *db, const char *sql, long long *out) {
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(db, sql, &s));
    int rc = sqlite3_step(s);
    qa_status st = rc == SQLITE_ROW ? QA_OK : QA_SQLITE_CHECK(db, rc == SQLITE_DONE ? SQLITE_ERROR : rc);
    if (st == QA_OK) *out = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return st;
}

qa_status qa_apidesk_snapshot(const qa_api_ctx *ctx, json_t **out) {
    *out = NULL;
    if (!ctx->live_state[0])
        return QA_FAIL(QA_ERR_NOT_FOUND, "no live service state directory is configured (serve.yaml live_state)");
    qa_riskdb_t *rdb = NULL;
    sqlite3 *odb = NULL;
    qa_status st = qa_riskdb_open_ro(ctx->live_state, &rdb);
    if (st == QA_ERR_NOT_FOUND) qa_err_clear(), st = QA_OK; /* not started yet: empty */
    int64_t t = INT64_MIN;
    int found = 0;
    qa_msg_risk k = {0}; /* read into the JSON call's arguments even when !found */
    qa_riskdb_alert last;
    qa_riskdb_command cmd;
    size_t na = 0, nc = 0;
    long long alerts = 0, orders = 0, open = 0, fills = 0, transitions = 0;
    if (st == QA_OK && rdb) st = qa_riskdb_last_metrics(rdb, &t, &k, &found);
    if (st == QA_OK && rdb) st = qa_riskdb_alerts_recent(rdb, &last, 1, &na, &alerts);
    if (st == QA_OK && rdb) st = qa_riskdb_commands_recent(rdb, &cmd, 1, &nc);
    if (st == QA_OK) st = open_orders_db(ctx, &odb);
    /* rows are never deleted from orders and fills, and both only insert (INSERT OR
     * IGNORE): max(rowid) is the count, read from the end of the table's b-tree */
    if (st == QA_OK && odb) st = scalar(odb, "SELECT max(rowid) FROM orders", &orders);
    if (st == QA_OK && odb) st = scalar(odb, "SELECT max(rowid) FROM fills", &fills);
    if (st == QA_OK && odb) st = scalar(odb, "SELECT max(seq) FROM transitions", &transitions);
    if (st == QA_OK && odb) {
        qa_strbuf sql; /* counted on the state index: the working orders only */
        qa_strbuf_init(&sql);
        qa_strbuf_append(&sql, "SELECT count(*) FROM orders WHERE ");
        open_states(&sql);
        st = qa_strbuf_status(&sql);
        if (st == QA_OK) st = scalar(odb, qa_strbuf_str(&sql), &open);
        qa_strbuf_free(&sql);
    }
    sqlite3_close(odb);
    qa_riskdb_close(rdb);
    if (st != QA_OK) return st;
    json_t *o = json_pack("{s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "state",
                          found ? json_string(k.state) : json_null(), "time", found ? json_integer(t) : json_null(),
                          "equity", num_or_null(found, k.equity), "pnl", num_or_null(found, k.pnl), "drawdown",
                          num_or_null(found, k.drawdown), "orders", (json_int_t)orders, "open_orders", (json_int_t)open,
                          "fills", (json_int_t)fills, "transitions", (json_int_t)transitions, "alerts",
                          (json_int_t)alerts, "last_alert", na ? alert_json(&last) : json_null(), "commands",
                          json_integer(nc ? cmd.id : 0));
    if (!o) return QA_FAIL(QA_ERR_NOMEM, "desk snapshot");
    *out = o;
    return QA_OK;
}

/* The caller (who) and the reason of a command: required, 1..WHY_MAX bytes. */
static qa_status command_args(const qa_api_req *req, const char **why) {
    if (!req->user || !*req->user)
        return QA_FAIL(QA_ERR_INVALID_ARG, "live commands need an authenticated user (who is recorded in risk.db)");
    QA_TRY_RET(qa_api_body_string(req, "why", 1, why));
    const size_t n = strlen(*why);
    if (n == 0 || n > WHY_MAX)
        return QA_FAIL(QA_ERR_INVALID_ARG, "body: member \"why\" has %zu bytes: expected 1 to %d", n, WHY_MAX);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)(*why)[i] < 0x20)
            return QA_FAIL(QA_ERR_INVALID_ARG, "body: member \"why\": control byte at %zu (one line of text)", i);
    struct stat sb; /* risk.db may not exist yet (a halt before the first start); its folder must */
    if (!req->ctx->live_state[0] || stat(req->ctx->live_state, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return QA_FAIL(QA_ERR_NOT_FOUND, "no live service state directory '%s' (serve.yaml live_state)",
                       req->ctx->live_state);
    return QA_OK;
}

qa_status qa_apidesk_kill(const qa_api_req *req, qa_api_resp *resp) {
    const char *name = NULL, *why = NULL;
    QA_TRY_RET(qa_api_body_string(req, "state", 1, &name));
    qa_trading_state s;
    if (qa_trading_state_parse(name, &s) != QA_OK)
        return QA_FAIL(QA_ERR_INVALID_ARG, "body: member \"state\" = '%.40s': expected %s, %s or %s", name,
                       qa_trading_state_names[QA_STATE_HALTED], qa_trading_state_names[QA_STATE_REDUCING],
                       qa_trading_state_names[QA_STATE_ACTIVE]);
    QA_TRY_RET(command_args(req, &why));
    long long id = 0;
    QA_TRY_RET(qa_riskdb_command_add(req->ctx->live_state, qa_trading_state_names[s], req->user, why, &id));
    resp->json = json_pack("{s:I, s:s}", "command", (json_int_t)id, "state", qa_trading_state_names[s]);
    if (!resp->json) return QA_FAIL(QA_ERR_NOMEM, "answer");
    resp->code = 202;
    snprintf(resp->audit, sizeof resp->audit, "live state %s (command %lld): %.120s", qa_trading_state_names[s], id, why);
    return QA_OK;
}

qa_status qa_apidesk_cancel(const qa_api_req *req, qa_api_resp *resp) {
    const char *id = req->nparams ? req->params[0] : NULL, *why = NULL;
    if (!id || !*id || strlen(id) >= QA_OMS_ID_LEN)
        return QA_FAIL(QA_ERR_INVALID_ARG, "client order id '%.80s': expected 1 to %d bytes", id ? id : "",
                       QA_OMS_ID_LEN - 1);
    QA_TRY_RET(command_args(req, &why));
    sqlite3 *db = NULL;
    QA_TRY_RET(qa_apirisk_open_state(req->ctx, "orders.db", ORDERS_FORMAT, &db));
    sqlite3_stmt *s = NULL;
    qa_status st = qa_sqlite_prepare(db, "SELECT state FROM orders WHERE clordid = ?", &s);
    if (st == QA_OK) st = qa_sqlite_bind_text(s, 1, id);
    int rc = st == QA_OK ? sqlite3_step(s) : SQLITE_ERROR;
    char state[32] = "";
    if (st == QA_OK && rc == SQLITE_ROW) snprintf(state, sizeof state, "%s", qa_sqlite_text(s, 0));
    else if (st == QA_OK && rc == SQLITE_DONE) st = QA_FAIL(QA_ERR_NOT_FOUND, "no order '%.80s' in the order database", id);
    else if (st == QA_OK) st = QA_SQLITE_CHECK(db, rc);
    sqlite3_finalize(s);
    sqlite3_close(db);
    if (st != QA_OK) return st;
    /* a final order has nothing left to cancel; one being cancelled will be */
    for (int i = 0; i < QA_OMS_STATE_COUNT; i++)
        if (strcmp(state, qa_oms_state_names[i]) == 0 && qa_oms_final((qa_oms_state)i))
            return QA_FAIL(QA_ERR_STATE, "order %s is %s: nothing to cancel", id, state);
    if (strcmp(state, qa_oms_state_names[QA_OMS_PENDING_CANCEL]) == 0)
        return QA_FAIL(QA_ERR_STATE, "order %s is already pending_cancel", id);
    long long cid = 0;
    QA_TRY_RET(qa_riskdb_cancel_add(req->ctx->live_state, id, req->user, why, &cid));
    resp->json = json_pack("{s:I, s:s, s:s}", "command", (json_int_t)cid, "clordid", id, "state", state);
    if (!resp->json) return QA_FAIL(QA_ERR_NOMEM, "answer");
    resp->code = 202;
    snprintf(resp->audit, sizeof resp->audit, "cancel %.64s (command %lld): %.120s", id, cid, why);
    return QA_OK;
}

qa_status qa_apidesk_cancel_all(const qa_api_req *req, qa_api_resp *resp) {
    const char *why = NULL;
    QA_TRY_RET(command_args(req, &why));
    sqlite3 *db = NULL;
    QA_TRY_RET(qa_apirisk_open_state(req->ctx, "orders.db", ORDERS_FORMAT, &db));
    qa_strbuf sql;
    qa_strbuf_init(&sql);
    qa_strbuf_append(&sql, "SELECT count(*) FROM orders WHERE ");
    open_states(&sql);
    long long working = 0;
    qa_status st = qa_strbuf_status(&sql);
    if (st == QA_OK) st = scalar(db, qa_strbuf_str(&sql), &working);
    qa_strbuf_free(&sql);
    sqlite3_close(db);
    if (st != QA_OK) return st;
    long long cid = 0;
    QA_TRY_RET(qa_riskdb_cancel_add(req->ctx->live_state, NULL, req->user, why, &cid));
    resp->json = json_pack("{s:I, s:I}", "command", (json_int_t)cid, "working", (json_int_t)working);
    if (!resp->json) return QA_FAIL(QA_ERR_NOMEM, "answer");
    resp->code = 202;
    snprintf(resp->audit, sizeof resp->audit, "cancel-all (command %lld, %lld working): %.120s", cid, working, why);
    return QA_OK;
}
