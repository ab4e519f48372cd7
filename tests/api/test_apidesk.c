/* The risk, orders and live-desk handlers (api/risk.h, api/orders.h, api/desk.h) on a
 * live state directory written by the live modules themselves: risk.db through
 * qa_riskdb_record / config_add, orders.db and venue.db by a paper execution stage
 * (live/exec.h) stepped by hand. Expected values are the fixture's inputs (metrics, the
 * limits' bounds, the bars' prices), worked out by hand below.
 *
 * Operator commands: the kill switch and cancels are queued by the handlers and read
 * back with the service's reader (qa_riskdb_commands); the cancels are then handed to the
 * stage as the service does (qa_exec_cancel) and the order database must show the named
 * order cancelled with who asked in its transitions, the other orders untouched, the
 * cancel-all ending every working order, and the strategy trading again one timestamp
 * later. A risk.db of the format before the commands' target column is read and
 * migrated. */
#include <math.h>     /* fabs, NAN */
#include <sqlite3.h>  /* an old-format risk.db; reading transitions */
#include <stdio.h>    /* snprintf */
#include <string.h>   /* strcmp, strstr, memset */

#include "api/desk.h"
#include "api/orders.h"
#include "api/risk.h"
#include "api_req.h"
#include "common/fs.h"        /* qa_fs_mkdirs */
#include "common/timeparse.h" /* ISO query values */
#include "harness.h"
#include "live/exec.h"
#include "live/riskdb.h"

static char g_dir[256];
static qa_api_ctx g_ctx;
static qa_exec_t *g_exec;

enum { S = 3, NMETRICS = 5 };
static char *g_names[S] = {"AAA", "BBB", "CCC"};

/* 2026-01-26T14:30:00Z + i x 5 minutes */
static int64_t tm(int i) { return 1769437800000000000LL + (int64_t)i * 300000000000LL; }
static const char *iso(int i, char *buf) { return qa_time_format_iso(tm(i), buf, 40); }

/* ---- the stage's alerts --------------------------------------------------------------------------------- */

typedef struct seen {
    int cancels;
    double last_value;
    char last[256];
} seen;
static seen g_seen;

static void on_alert(void *ctx, const char *severity, const char *limit, const char *metric, double value,
                     double threshold, const char *detail) {
    (void)ctx, (void)metric, (void)threshold;
    if (strcmp(severity, "command") == 0 && strcmp(limit, "cancel") == 0) {
        g_seen.cancels++;
        g_seen.last_value = value;
        snprintf(g_seen.last, sizeof g_seen.last, "%s", detail);
    }
}

static qa_status no_emit(void *ctx, int topic, size_t mark, const qa_msg *m) {
    (void)ctx, (void)topic, (void)mark, (void)m;
    return QA_OK;
}

/* One timestamp of the stage: bars for the symbols in `present` (price 100 + 10 s + i/4,
 * open 0.1 below), targets tgt (shares). */
static void step(int i, const unsigned char present[S], const double tgt[S]) {
    qa_msg_bar bars[S];
    uint64_t sig[S];
    for (int s = 0; s < S; s++) {
        double px = 100.0 + 10.0 * s + i * 0.25;
        bars[s] = (qa_msg_bar){.open = px - 0.1, .high = px + 0.5, .low = px - 0.5, .close = px, .volume = 1e6};
        sig[s] = ((uint64_t)i << 8) | (uint64_t)s;
    }
    QA_CHECK_OK(qa_exec_step(g_exec, tm(i), bars, present, tgt, sig, QA_STATE_ACTIVE, no_emit, on_alert, NULL, NULL));
}

static const double g_targets[S] = {100, -50, 30};

/* ---- the fixture ------------------------------------------------------------------------------------------ */

static const char *const g_config =
    "universe: u.h5\n"
    "state_dir: st\n"
    "risk: {window: 100, every: 1, limits: [{name: gross, metric: gross_exposure, max: 2, warn: 0.3},"
    " {name: var99, metric: var, level: 0.99, max: 0.05}, {name: dd, metric: drawdown, max: 0.1}]}\n";

static void setup(void) {
    snprintf(g_ctx.live_state, sizeof g_ctx.live_state, "%s/state", g_dir);
    QA_CHECK_OK(qa_fs_mkdirs(g_ctx.live_state));
    /* risk.db: metrics at t0..t4 (t2's VaR window not full: NaN), alerts at t1 (2) and t3,
     * the configuration recorded at the first start */
    qa_riskdb_t *db = NULL;
    QA_CHECK_OK(qa_riskdb_open(g_ctx.live_state, &db));
    for (int i = 0; i < NMETRICS && db; i++) {
        qa_msg_risk k;
        memset(&k, 0, sizeof k);
        k.equity = 1e6 + 100 * i, k.pnl = 100 * i, k.drawdown = 0.01 * i, k.gross = 0.5 + 0.1 * i, k.net = 0.1;
        k.concentration = 0.2, k.var_hist = i == 2 ? NAN : 0.01 + 0.001 * i, k.es_hist = 0.015, k.var_param = 0.012;
        k.es_param = 0.016, k.level = 0.99;
        snprintf(k.top, sizeof k.top, "AAA");
        snprintf(k.state, sizeof k.state, "%s", i == NMETRICS - 1 ? "REDUCING" : "ACTIVE");
        qa_msg_alert a[2];
        memset(a, 0, sizeof a);
        snprintf(a[0].severity, sizeof a[0].severity, "%s", i == 1 ? "warning" : "state");
        snprintf(a[0].limit, sizeof a[0].limit, "%s", i == 1 ? "gross" : "kill_switch");
        snprintf(a[0].detail, sizeof a[0].detail, "alert %d.0", i);
        snprintf(a[1].severity, sizeof a[1].severity, "breach");
        snprintf(a[1].limit, sizeof a[1].limit, "var99");
        snprintf(a[1].detail, sizeof a[1].detail, "alert %d.1", i);
        a[0].value = a[1].value = 0.5, a[0].threshold = a[1].threshold = NAN;
        QA_CHECK_OK(qa_riskdb_record(db, tm(i), &k, a, i == 1 ? 2 : i == 3 ? 1 : 0));
    }
    qa_riskdb_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.kind, sizeof c.kind, "initial");
    snprintf(c.status, sizeof c.status, "initial");
    snprintf(c.path, sizeof c.path, "live.yaml");
    c.payload = (char *)g_config, c.sets = "";
    c.at = c.not_before = c.applied_time = INT64_MIN;
    if (db) QA_CHECK_OK(qa_riskdb_config_add(db, &c));
    qa_riskdb_close(db);
    /* orders.db: a paper stage; t0 buys 100 AAA, sells 50 BBB, buys 30 CCC (a parent and a
     * market child each, accepted); at t1 only CCC has a bar: its child fills 30 at that
     * bar's open, 100 + 20 + 0.25 - 0.1 = 120.15; AAA's and BBB's children stay working */
    qa_exec_cfg cfg;
    qa_exec_cfg_default(&cfg);
    cfg.enabled = 1;
    cfg.algo.kind = QA_ALGO_IMMEDIATE;
    cfg.paper.participation = 0.0;
    cfg.paper.durable = 0;
    cfg.durable = 0;
    cfg.reconcile_every = 1000;
    cfg.leverage = 10;
    QA_CHECK_OK(qa_exec_create(&cfg, g_ctx.live_state, g_names, S, 1e6, &g_exec));
    if (!g_exec) return;
    const unsigned char all[S] = {1, 1, 1}, ccc[S] = {0, 0, 1};
    step(0, all, g_targets);
    step(1, ccc, g_targets);
}

/* The client order id of the `type` (parent/market) order of symbol sym created at t0. */
static void order_id(const char *sym, const char *type, char *out, size_t size) {
    qa_treq t;
    qa_api_resp resp;
    qa_treq_init(&t, &g_ctx, "GET", "alice", NULL, NULL);
    qa_treq_set(&t, "symbol", sym);
    QA_CHECK_OK(qa_treq_call(qa_apiorders_list, &t, &resp));
    out[0] = '\0';
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(resp.json, "rows"), i, row)
        if (strcmp(json_string_value(json_array_get(row, 5)), type) == 0)
            snprintf(out, size, "%s", json_string_value(json_array_get(row, 0)));
    QA_CHECK_MSG(out[0], "no %s order of %s", type, sym);
    json_decref(resp.json);
}

/* total of GET /api/orders with one filter */
static long long orders_total(const char *key, const char *value) {
    qa_treq t;
    qa_api_resp resp;
    qa_treq_init(&t, &g_ctx, "GET", "alice", NULL, NULL);
    if (key) qa_treq_set(&t, key, value);
    QA_CHECK_OK(qa_treq_call(qa_apiorders_list, &t, &resp));
    long long n = json_integer_value(json_object_get(resp.json, "total"));
    json_decref(resp.json);
    return n;
}

/* ---- risk --------------------------------------------------------------------------------------------------- */

static void test_metrics(void) {
    qa_treq t;
    qa_api_resp resp;
    char a[40], b[40];
    qa_treq_init(&t, &g_ctx, "GET", "alice", NULL, NULL);
    QA_CHECK_OK(qa_treq_call(qa_apirisk_metrics, &t, &resp));
    json_t *cols = json_object_get(resp.json, "columns"), *rows = json_object_get(resp.json, "rows");
    QA_CHECK_INT(json_array_size(cols), 14);
    QA_CHECK_STR(json_string_value(json_array_get(cols, 8)), "var_hist");
    QA_CHECK_INT(json_array_size(rows), NMETRICS);
    for (int i = 0; i < (int)json_array_size(rows); i++) { /* oldest first */
        json_t *r = json_array_get(rows, (size_t)i);
        QA_CHECK_INT(json_integer_value(json_array_get(r, 0)), tm(i));
        QA_CHECK(fabs(json_real_value(json_array_get(r, 1)) - (1e6 + 100 * i)) < 1e-6);
        if (i == 2) QA_CHECK(json_is_null(json_array_get(r, 8))); /* NaN stored as NULL, answered as null */
        else QA_CHECK(fabs(json_real_value(json_array_get(r, 8)) - (0.01 + 0.001 * i)) < 1e-15);
    }
    QA_CHECK_STR(json_string_value(json_array_get(json_array_get(rows, 4), 13)), "REDUCING");
    QA_CHECK(json_is_false(json_object_get(resp.json, "truncated")));
    json_decref(resp.json);
    /* the newest two, oldest first, cut */
    qa_treq_set(&t, "limit", "2");
    QA_CHECK_OK(qa_treq_call(qa_apirisk_metrics, &t, &resp));
    rows = json_object_get(resp.json, "rows");
    QA_CHECK_INT(json_array_size(rows), 2);
    QA_CHECK_INT(json_integer_value(json_array_get(json_array_get(rows, 0), 0)), tm(3));
    QA_CHECK_INT(json_integer_value(json_array_get(json_array_get(rows, 1), 0)), tm(4));
    QA_CHECK(json_is_true(json_object_get(resp.json, "truncated")));
    json_decref(resp.json);
    /* [t1, t3] inclusive */
    qa_treq_init(&t, &g_ctx, "GET", "alice", NULL, NULL);
    qa_treq_set(&t, "from", iso(1, a));
    qa_treq_set(&t, "to", iso(3, b));
    QA_CHECK_OK(qa_treq_call(qa_apirisk_metrics, &t, &resp));
    rows = json_object_get(resp.json, "rows");
    QA_CHECK_INT(json_array_size(rows), 3);
    QA_CHECK_INT(json_integer_value(json_array_get(json_array_get(rows, 0), 0)), tm(1));
    json_decref(resp.json);
    /* refusals */
    static const char *const bad[][2] = {{"limit", "0"}, {"limit", "10001"}, {"limit", "ten"}, {"from", "yesterday"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        qa_treq_init(&t, &g_ctx, "GET", "alice", NULL, NULL);
        qa_treq_set(&t, bad[i][0], bad[i][1]);
        QA_CHECK_ERR(qa_treq_call(qa_apirisk_metrics, &t, &resp), QA_ERR_INVALID_ARG, bad[i][0]);
    }
    qa_treq_init(&t, &g_ctx, "GET", "alice", NULL, NULL);
    qa_treq_set(&t, "from", iso(3, a));
    qa_treq_set(&t, "to", iso(1, b));
    QA_CHECK_ERR(qa_treq_call(qa_apirisk_metrics, &t, &resp), QA_ERR_INVALID_ARG, "after");
    /* a state directory where the service never ran */
    qa_api_ctx empty;
    memset(&empty, 0, sizeof empty);
    snprintf(empty.live_state, sizeof empty.live_state, "%s", g_dir);
    qa_treq_init(&t, &empty, "GET", "alice", NULL, NULL);
    QA_CHECK_ERR(qa_treq_call(qa_apirisk_metrics, &t, &resp), QA_ERR_NOT_FOUND, "risk.db");
    QA_CHECK_ERR(qa_treq_call(qa_apirisk_limits, &t, &resp), QA_ERR_NOT_FOUND, "risk.db");
    memset(&empty, 0, sizeof empty);
    qa_treq_init(&t, &empty, "GET", "alice", NULL, NULL);
    QA_CHECK_ERR(qa_treq_call(qa_apirisk_alerts, &t, &resp), QA_ERR_NOT_FOUND, "live_state");
}

static void test_alerts(void) {
    qa_treq t;
    qa_api_resp resp;
    qa_treq_init(&t, &g_ctx, "GET", "alice", NULL, NULL);
    QA_CHECK_OK(qa_treq_call(qa_apirisk_alerts, &t, &resp));
    json_t *al = json_object_get(resp.json, "alerts");
    QA_CHECK_INT(json_integer_value(json_object_get(resp.json, "total")), 3);
    QA_CHECK_INT(json_array_size(al), 3);
    /* newest first: t3's, then t1's second and first */
    QA_CHECK_STR(json_string_value(json_object_get(json_array_get(al, 0), "detail")), "alert 3.0");
    QA_CHECK_STR(json_string_value(json_object_get(json_array_get(al, 1), "detail")), "alert 1.1");
    QA_CHECK_STR(json_string_value(json_object_get(json_array_get(al, 2), "detail")), "alert 1.0");
    QA_CHECK(json_is_null(json_object_get(json_array_get(al, 0), "threshold")));
    json_decref(resp.json);
    qa_treq_set(&t, "severity", "breach");
    QA_CHECK_OK(qa_treq_call(qa_apirisk_alerts, &t, &resp));
    QA_CHECK_INT(json_integer_value(json_object_get(resp.json, "total")), 1);
    QA_CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(resp.json, "alerts"), 0), "limit")),
                 "var99");
    json_decref(resp.json);
    qa_treq_init(&t, &g_ctx, "GET", "alice", NULL, NULL);
    qa_treq_set(&t, "limit", "1");
    QA_CHECK_OK(qa_treq_call(qa_apirisk_alerts, &t, &resp));
    QA_CHECK_INT(json_array_size(json_object_get(resp.json, "alerts")), 1);
    QA_CHECK_INT(json_integer_value(json_object_get(resp.json, "total")), 3);
    json_decref(resp.json);
    qa_treq_set(&t, "severity", "");
    QA_CHECK_ERR(qa_treq_call(qa_apirisk_alerts, &t, &resp), QA_ERR_INVALID_ARG, "severity");
}

/* The limits at t4 (gross 0.9, VaR 0.014 at 99%, drawdown 0.04) against the recorded
 * configuration: gross 0.9 / 2 = 0.45 of its bound, past its warning at 0.3 x 2 = 0.6;
 * var99 0.014 / 0.05 = 0.28, ok (warns at the default 0.9); dd 0.04 / 0.1 = 0.4, ok. */
static void check_limits(json_t *lim) {
    QA_CHECK_INT(json_array_size(lim), 3);
    static const char *const names[3] = {"gross", "var99", "dd"}, *const states[3] = {"warning", "ok", "ok"};
    static const double value[3] = {0.9, 0.014, 0.04}, bound[3] = {2, 0.05, 0.1}, use[3] = {0.45, 0.28, 0.4};
    for (size_t i = 0; i < 3 && i < json_array_size(lim); i++) {
        json_t *l = json_array_get(lim, i);
        QA_CHECK_STR(json_string_value(json_object_get(l, "name")), names[i]);
        QA_CHECK_STR(json_string_value(json_object_get(l, "state")), states[i]);
        QA_CHECK_MSG(fabs(json_real_value(json_object_get(l, "value")) - value[i]) < 1e-12, "%s value", names[i]);
        QA_CHECK_MSG(fabs(json_number_value(json_object_get(l, "bound")) - bound[i]) < 1e-12, "%s bound", names[i]);
        QA_CHECK_MSG(fabs(json_real_value(json_object_get(l, "use")) - use[i]) < 1e-12, "%s use", names[i]);
    }
    QA_CHECK(fabs(json_real_value(json_object_get(json_array_get(lim, 1), "level")) - 0.99) < 1e-12);
    QA_CHECK(json_is_null(json_object_get(json_array_get(lim, 0), "level")));
    QA_CHECK(json_is_null(json_object_get(json_array_get(lim, 0), "min"))); /* unset: -inf, answered as null */
}

static void test_limits(void) {
    qa_treq t;
    qa_api_resp resp;
    qa_treq_init(&t, &g_ctx, "GET", "alice", NULL, NULL);
    QA_CHECK_OK(qa_treq_call(qa_apirisk_limits, &t, &resp));
    QA_CHECK_STR(json_string_value(json_object_get(resp.json, "state")), "REDUCING");
    QA_CHECK_INT(json_integer_value(json_object_get(resp.json, "time")), tm(4));
    QA_CHECK_INT(json_integer_value(json_object_get(resp.json, "config_change")), 1);
    check_limits(json_object_get(resp.json, "limits"));
    json_decref(resp.json);
}

/* ---- orders ----------------------------------------------------------------------------------------------- */

static void test_orders(void) {
    qa_treq t;
    qa_api_resp resp;
    QA_CHECK_INT(orders_total(NULL, NULL), 6); /* three parents, three children */
    QA_CHECK_INT(orders_total("state", "open"), 4);
    QA_CHECK_INT(orders_total("state", "filled"), 2);
    QA_CHECK_INT(orders_total("symbol", "AAA"), 2);
    QA_CHECK_INT(orders_total("symbol", "ZZZ"), 0);
    qa_treq_init(&t, &g_ctx, "GET", "alice", NULL, NULL);
    qa_treq_set(&t, "limit", "4");
    qa_treq_set(&t, "page", "2");
    QA_CHECK_OK(qa_treq_call(qa_apiorders_list, &t, &resp));
    QA_CHECK_INT(json_array_size(json_object_get(resp.json, "rows")), 2);
    QA_CHECK_INT(json_integer_value(json_object_get(resp.json, "pages")), 2);
    QA_CHECK_INT(json_integer_value(json_object_get(resp.json, "page")), 2);
    QA_CHECK_STR(json_string_value(json_array_get(json_object_get(resp.json, "columns"), 0)), "clordid");
    json_decref(resp.json);
    static const char *const bad[][2] = {{"state", "working"}, {"limit", "1001"}, {"page", "0"}, {"symbol", ""},
                                         {"to", "2026-13-01"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        qa_treq_init(&t, &g_ctx, "GET", "alice", NULL, NULL);
        qa_treq_set(&t, bad[i][0], bad[i][1]);
        QA_CHECK_ERR(qa_treq_call(qa_apiorders_list, &t, &resp), QA_ERR_INVALID_ARG, bad[i][0]);
    }
    /* one order: the CCC parent, filled by its child's fill */
    char id[64];
    order_id("CCC", "parent", id, sizeof id);
    qa_treq_init(&t, &g_ctx, "GET", "alice", id, NULL);
    QA_CHECK_OK(qa_treq_call(qa_apiorders_show, &t, &resp));
    json_t *o = json_object_get(resp.json, "order");
    QA_CHECK_STR(json_string_value(json_object_get(o, "state")), "filled");
    QA_CHECK(fabs(json_number_value(json_object_get(o, "filled")) - 30) < 1e-12);
    QA_CHECK_INT(json_array_size(json_object_get(resp.json, "children")), 1);
    json_t *fills = json_object_get(resp.json, "fills");
    QA_CHECK_INT(json_array_size(fills), 1);
    QA_CHECK(fabs(json_real_value(json_object_get(json_array_get(fills, 0), "price")) - 120.15) < 1e-9);
    json_t *tr = json_object_get(resp.json, "transitions");
    QA_CHECK(json_array_size(tr) >= 3); /* new, accepted, fill */
    QA_CHECK_STR(json_string_value(json_object_get(json_array_get(tr, json_array_size(tr) - 1), "to_state")), "filled");
    json_decref(resp.json);
    qa_treq_init(&t, &g_ctx, "GET", "alice", "nope-1", NULL);
    QA_CHECK_ERR(qa_treq_call(qa_apiorders_show, &t, &resp), QA_ERR_NOT_FOUND, "nope-1");
    /* fills */
    qa_treq_init(&t, &g_ctx, "GET", "alice", NULL, NULL);
    QA_CHECK_OK(qa_treq_call(qa_apiorders_fills, &t, &resp));
    QA_CHECK_INT(json_integer_value(json_object_get(resp.json, "total")), 1);
    QA_CHECK_STR(json_string_value(json_array_get(json_array_get(json_object_get(resp.json, "rows"), 0), 3)), "CCC");
    json_decref(resp.json);
    qa_treq_set(&t, "symbol", "AAA");
    QA_CHECK_OK(qa_treq_call(qa_apiorders_fills, &t, &resp));
    QA_CHECK_INT(json_integer_value(json_object_get(resp.json, "total")), 0);
    json_decref(resp.json);
}

/* ---- the desk ----------------------------------------------------------------------------------------------- */

static void test_state(void) {
    qa_treq t;
    qa_api_resp resp;
    qa_treq_init(&t, &g_ctx, "GET", "alice", NULL, NULL);
    QA_CHECK_OK(qa_treq_call(qa_apidesk_state, &t, &resp));
    json_t *j = resp.json;
    QA_CHECK_STR(json_string_value(json_object_get(j, "state")), "REDUCING");
    QA_CHECK(fabs(json_real_value(json_object_get(j, "equity")) - 1000400.0) < 1e-6);
    QA_CHECK(fabs(json_real_value(json_object_get(j, "var")) - 0.014) < 1e-15);
    json_t *pos = json_object_get(j, "positions");
    QA_CHECK_INT(json_array_size(pos), 1);
    json_t *p = json_array_get(pos, 0);
    QA_CHECK_STR(json_string_value(json_object_get(p, "symbol")), "CCC");
    QA_CHECK(fabs(json_number_value(json_object_get(p, "shares")) - 30) < 1e-12);
    QA_CHECK(fabs(json_real_value(json_object_get(p, "avg_price")) - 120.15) < 1e-9);
    /* the newest price known: the fill at t1 (120.15), not t0's decision close (120) */
    QA_CHECK(fabs(json_real_value(json_object_get(p, "last_price")) - 120.15) < 1e-9);
    QA_CHECK(fabs(json_real_value(json_object_get(p, "market_value")) - 30 * 120.15) < 1e-6);
    QA_CHECK(fabs(json_real_value(json_object_get(p, "unrealized"))) < 1e-9);
    QA_CHECK_INT(json_array_size(json_object_get(j, "open_orders")), 4);
    check_limits(json_object_get(j, "limits"));
    QA_CHECK_INT(json_array_size(json_object_get(j, "alerts")), 3);
    QA_CHECK_INT(json_integer_value(json_object_get(j, "alerts_total")), 3);
    QA_CHECK(json_is_true(json_object_get(j, "execution")));
    json_decref(j);
    json_t *snap = NULL;
    QA_CHECK_OK(qa_apidesk_snapshot(&g_ctx, &snap));
    QA_CHECK_STR(json_string_value(json_object_get(snap, "state")), "REDUCING");
    QA_CHECK_INT(json_integer_value(json_object_get(snap, "orders")), 6);
    QA_CHECK_INT(json_integer_value(json_object_get(snap, "open_orders")), 4);
    QA_CHECK_INT(json_integer_value(json_object_get(snap, "fills")), 1);
    QA_CHECK_INT(json_integer_value(json_object_get(snap, "alerts")), 3);
    QA_CHECK(json_integer_value(json_object_get(snap, "transitions")) >= 12); /* 6 orders x (new, accepted), fills */
    QA_CHECK_STR(json_string_value(json_object_get(json_object_get(snap, "last_alert"), "detail")), "alert 3.0");
    json_decref(snap);
    /* a service that has not started: empty, not an error */
    qa_api_ctx empty;
    memset(&empty, 0, sizeof empty);
    snprintf(empty.live_state, sizeof empty.live_state, "%s", g_dir);
    QA_CHECK_OK(qa_apidesk_snapshot(&empty, &snap));
    QA_CHECK(json_is_null(json_object_get(snap, "state")));
    QA_CHECK_INT(json_integer_value(json_object_get(snap, "orders")), 0);
    json_decref(snap);
}

/* POST with body {"state": state, "why": why} (NULL members left out). */
static qa_status post(qa_api_fn fn, const char *user, const char *p0, const char *state, const char *why,
                      qa_api_resp *resp) {
    qa_treq t;
    qa_treq_init(&t, &g_ctx, "POST", user, p0, NULL);
    t.req.body = json_object();
    if (state) json_object_set_new(t.req.body, "state", json_string(state));
    if (why) json_object_set_new(t.req.body, "why", json_string(why));
    qa_status st = qa_treq_call(fn, &t, resp);
    json_decref(t.req.body);
    return st;
}

/* The service's view: the command with this id as qa_riskdb_commands reads it. */
static qa_riskdb_command command(long long id) {
    qa_riskdb_command out, cmds[64];
    memset(&out, 0, sizeof out);
    qa_riskdb_t *db = NULL;
    size_t n = 0;
    QA_CHECK_OK(qa_riskdb_open(g_ctx.live_state, &db));
    QA_CHECK_OK(qa_riskdb_commands(db, INT64_MIN, cmds, 64, &n));
    for (size_t i = 0; i < n; i++)
        if (cmds[i].id == id) out = cmds[i];
    qa_riskdb_close(db);
    QA_CHECK_MSG(out.id == id, "command %lld not in risk.db", id);
    return out;
}

static void test_kill(void) {
    qa_api_resp resp;
    QA_CHECK_ERR(post(qa_apidesk_kill, "alice", NULL, "PAUSED", "x", &resp), QA_ERR_INVALID_ARG, "HALTED");
    QA_CHECK_ERR(post(qa_apidesk_kill, "alice", NULL, NULL, "x", &resp), QA_ERR_INVALID_ARG, "state");
    QA_CHECK_ERR(post(qa_apidesk_kill, "alice", NULL, "HALTED", NULL, &resp), QA_ERR_INVALID_ARG, "why");
    QA_CHECK_ERR(post(qa_apidesk_kill, "alice", NULL, "HALTED", "", &resp), QA_ERR_INVALID_ARG, "why");
    char long_why[122];
    memset(long_why, 'w', 121), long_why[121] = '\0';
    QA_CHECK_ERR(post(qa_apidesk_kill, "alice", NULL, "HALTED", long_why, &resp), QA_ERR_INVALID_ARG, "121");
    QA_CHECK_ERR(post(qa_apidesk_kill, "alice", NULL, "HALTED", "two\nlines", &resp), QA_ERR_INVALID_ARG, "control");
    QA_CHECK_ERR(post(qa_apidesk_kill, "", NULL, "HALTED", "x", &resp), QA_ERR_INVALID_ARG, "authenticated");
    long_why[120] = '\0'; /* 120 bytes: the most */
    QA_CHECK_OK(post(qa_apidesk_kill, "alice", NULL, "halted", long_why, &resp));
    QA_CHECK_INT(resp.code, 202);
    QA_CHECK_STR(json_string_value(json_object_get(resp.json, "state")), "HALTED");
    long long id = json_integer_value(json_object_get(resp.json, "command"));
    QA_CHECK(strstr(resp.audit, "HALTED") != NULL);
    json_decref(resp.json);
    qa_riskdb_command c = command(id);
    QA_CHECK_STR(c.state, "HALTED");
    QA_CHECK_STR(c.who, "alice");
    QA_CHECK_STR(c.why, long_why);
    QA_CHECK_STR(c.target, "");
    QA_CHECK(c.applied_time == INT64_MIN);
}

/* The transition details of order id, joined. */
static void details(const char *id, char *out, size_t size) {
    char path[600];
    snprintf(path, sizeof path, "%s/orders.db", g_ctx.live_state);
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    out[0] = '\0';
    QA_CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    QA_CHECK(sqlite3_prepare_v2(db, "SELECT event || ': ' || coalesce(detail, '') FROM transitions WHERE clordid = ?"
                                    " ORDER BY n", -1, &s, NULL) == SQLITE_OK);
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    while (sqlite3_step(s) == SQLITE_ROW)
        snprintf(out + strlen(out), size - strlen(out), "%s; ", (const char *)sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);
}

static const char *order_state(const char *id, json_t **keep) {
    qa_treq t;
    qa_api_resp resp;
    qa_treq_init(&t, &g_ctx, "GET", "alice", id, NULL);
    QA_CHECK_OK(qa_treq_call(qa_apiorders_show, &t, &resp));
    *keep = resp.json;
    return json_string_value(json_object_get(json_object_get(resp.json, "order"), "state"));
}

static void test_cancel(void) {
    qa_api_resp resp;
    char aaa_child[64], aaa_parent[64], bbb_child[64], bbb_parent[64], ccc_child[64], buf[2048];
    order_id("AAA", "market", aaa_child, sizeof aaa_child);
    order_id("AAA", "parent", aaa_parent, sizeof aaa_parent);
    order_id("BBB", "market", bbb_child, sizeof bbb_child);
    order_id("BBB", "parent", bbb_parent, sizeof bbb_parent);
    order_id("CCC", "market", ccc_child, sizeof ccc_child);
    /* refusals: unknown, final, no reason */
    QA_CHECK_ERR(post(qa_apidesk_cancel, "alice", "nope-1", NULL, "x", &resp), QA_ERR_NOT_FOUND, "nope-1");
    QA_CHECK_ERR(post(qa_apidesk_cancel, "alice", ccc_child, NULL, "x", &resp), QA_ERR_STATE, "filled");
    QA_CHECK_ERR(post(qa_apidesk_cancel, "alice", aaa_child, NULL, NULL, &resp), QA_ERR_INVALID_ARG, "why");
    /* AAA's child: queued, read back as the service reads it */
    QA_CHECK_OK(post(qa_apidesk_cancel, "alice", aaa_child, NULL, "fat finger", &resp));
    QA_CHECK_INT(resp.code, 202);
    long long id = json_integer_value(json_object_get(resp.json, "command"));
    json_decref(resp.json);
    qa_riskdb_command c = command(id);
    QA_CHECK_STR(c.state, QA_RISKDB_CANCEL);
    QA_CHECK_STR(c.target, aaa_child);
    QA_CHECK_STR(c.who, "alice");
    /* the service hands it to the stage (live/service.c apply_commands), which cancels at
     * its next timestamp (t2: no bars, nothing fills meanwhile) */
    char d[256];
    snprintf(d, sizeof d, "cancelled by %s: %s", c.who, c.why);
    QA_CHECK_OK(qa_exec_cancel(g_exec, c.target, d));
    const unsigned char none[S] = {0, 0, 0};
    step(2, none, g_targets);
    QA_CHECK_INT(g_seen.cancels, 1);
    QA_CHECK_INT((long long)g_seen.last_value, 1);
    json_t *keep = NULL;
    QA_CHECK_STR(order_state(aaa_child, &keep), "cancelled");
    json_decref(keep);
    QA_CHECK_STR(order_state(aaa_parent, &keep), "accepted"); /* the parent goes on */
    json_decref(keep);
    QA_CHECK_STR(order_state(bbb_child, &keep), "accepted"); /* untouched */
    json_decref(keep);
    details(aaa_child, buf, sizeof buf);
    QA_CHECK_MSG(strstr(buf, "cancel_request: cancelled by alice: fat finger") &&
                     strstr(buf, "cancelled: cancelled by alice: fat finger"),
                 "%s", buf);
    /* cancel-all: AAA's parent, BBB's child and parent (3 working) */
    QA_CHECK_OK(post(qa_apidesk_cancel_all, "bob", NULL, NULL, "end of day", &resp));
    QA_CHECK_INT(resp.code, 202);
    QA_CHECK_INT(json_integer_value(json_object_get(resp.json, "working")), 3);
    id = json_integer_value(json_object_get(resp.json, "command"));
    json_decref(resp.json);
    c = command(id);
    QA_CHECK_STR(c.state, QA_RISKDB_CANCEL_ALL);
    QA_CHECK_STR(c.target, "");
    snprintf(d, sizeof d, "cancelled by %s: %s", c.who, c.why);
    QA_CHECK_OK(qa_exec_cancel(g_exec, NULL, d));
    /* t3 brings new targets for AAA and BBB: the symbols the cancel touched take no
     * decision at t3, so nothing is working after it */
    const double moved[S] = {200, -100, 30};
    step(3, none, moved);
    QA_CHECK_INT(g_seen.cancels, 2);
    QA_CHECK_INT((long long)g_seen.last_value, 3);
    QA_CHECK_INT(orders_total("state", "open"), 0);
    details(bbb_parent, buf, sizeof buf);
    QA_CHECK_MSG(strstr(buf, "cancelled: cancelled by bob: end of day") != NULL, "%s", buf);
    /* a cancel of nothing working says so */
    QA_CHECK_OK(qa_exec_cancel(g_exec, aaa_child, "cancelled by alice: again"));
    step(4, none, moved);
    QA_CHECK_INT((long long)g_seen.last_value, 0);
    QA_CHECK(strstr(g_seen.last, "not a working order") != NULL);
    /* the strategy trades again from the next timestamp: new parents and children */
    QA_CHECK_INT(orders_total("state", "open"), 4);
    QA_CHECK_ERR(post(qa_apidesk_cancel, "alice", aaa_child, NULL, "x", &resp), QA_ERR_STATE, "cancelled");
}

/* A risk.db written before commands had a target column: read as it is (read-only), then
 * migrated by the first writer; the old rows keep reading the same. */
static void test_old_riskdb(void) {
    char dir[400], path[512];
    snprintf(dir, sizeof dir, "%s/old", g_dir);
    QA_CHECK_OK(qa_fs_mkdirs(dir));
    snprintf(path, sizeof path, "%s/risk.db", dir);
    sqlite3 *db = NULL;
    QA_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    QA_CHECK(sqlite3_exec(db,
                          "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                          "INSERT INTO meta VALUES('format', 'quantumalpha.risk'), ('format_version', '1');"
                          "CREATE TABLE commands(id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL,"
                          " state TEXT NOT NULL, who TEXT NOT NULL, why TEXT NOT NULL, applied_time INTEGER);"
                          "INSERT INTO commands(created, state, who, why) VALUES('2026-01-01', 'HALTED', 'carol', 'old');",
                          NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    qa_riskdb_t *r = NULL;
    qa_riskdb_command cmds[4];
    size_t n = 0;
    QA_CHECK_OK(qa_riskdb_open_ro(dir, &r));
    if (r) QA_CHECK_OK(qa_riskdb_commands_recent(r, cmds, 4, &n));
    QA_CHECK_INT(n, 1);
    QA_CHECK_STR(cmds[0].state, "HALTED");
    QA_CHECK_STR(cmds[0].target, "");
    qa_riskdb_close(r);
    long long id = 0;
    QA_CHECK_OK(qa_riskdb_cancel_add(dir, "qa-AAA-1", "dave", "new", &id));
    QA_CHECK_OK(qa_riskdb_open_ro(dir, &r));
    if (r) QA_CHECK_OK(qa_riskdb_commands(r, INT64_MIN, cmds, 4, &n));
    qa_riskdb_close(r);
    QA_CHECK_INT(n, 2);
    QA_CHECK_STR(cmds[0].who, "carol");
    QA_CHECK_STR(cmds[1].state, QA_RISKDB_CANCEL);
    QA_CHECK_STR(cmds[1].target, "qa-AAA-1");
    /* a file of another kind is refused read-only */
    snprintf(path, sizeof path, "%s/other", g_dir);
    QA_CHECK_OK(qa_fs_mkdirs(path));
    snprintf(path, sizeof path, "%s/other/risk.db", g_dir);
    QA_CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    QA_CHECK(sqlite3_exec(db, "CREATE TABLE meta(key TEXT, value TEXT); INSERT INTO meta VALUES('format', 'x');", NULL,
                          NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    snprintf(path, sizeof path, "%s/other", g_dir);
    QA_CHECK_ERR(qa_riskdb_open_ro(path, &r), QA_ERR_FORMAT, "not a risk database");
}

int main(void) {
    if (qa_test_tmpdir(g_dir, sizeof g_dir, "apidesk")) {
        printf("cannot create a temporary directory\n");
        return 1;
    }
    setup();
    if (g_exec) {
        QA_RUN(test_metrics);
        QA_RUN(test_alerts);
        QA_RUN(test_limits);
        QA_RUN(test_orders);
        QA_RUN(test_state);
        QA_RUN(test_kill);
        QA_RUN(test_cancel);
    }
    QA_RUN(test_old_riskdb);
    qa_exec_free(g_exec);
    qa_test_rmtree(g_dir);
    return qa_test_finish();
}
