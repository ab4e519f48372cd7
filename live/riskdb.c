/* The live service's risk database in SQLite (live/riskdb.h). */
#include "live/riskdb.h"

#include <math.h>    /* NAN */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc */
#include <string.h>  /* strcmp */
#include <unistd.h>  /* access */

#include "common/fs.h"     /* qa_path_join, qa_fs_mkdirs */
#include "common/sqlite.h" /* open (WAL), checks */
#include "common/timer.h"  /* created */

struct qa_riskdb {
    sqlite3 *db;
    int has_target; /* commands.target exists (a file written before operator cancels has none) */
};

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('format', 'quantumalpha.risk'), ('format_version', '1');"
    "CREATE TABLE IF NOT EXISTS metrics(time INTEGER PRIMARY KEY, equity REAL, pnl REAL, drawdown REAL, gross REAL,"
    " net REAL, concentration REAL, top TEXT, var_hist REAL, es_hist REAL, var_param REAL, es_param REAL,"
    " level REAL, state TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS alerts(time INTEGER NOT NULL, seq INTEGER NOT NULL, severity TEXT NOT NULL,"
    " limit_name TEXT NOT NULL, metric TEXT, value REAL, threshold REAL, state TEXT, detail TEXT,"
    " PRIMARY KEY(time, seq));"
    "CREATE TABLE IF NOT EXISTS commands(id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL,"
    " state TEXT NOT NULL, who TEXT NOT NULL, why TEXT NOT NULL, applied_time INTEGER);"
    "CREATE TABLE IF NOT EXISTS model_switches(seq INTEGER PRIMARY KEY, version INTEGER NOT NULL,"
    " effective_time INTEGER, status TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS config_changes(id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT NOT NULL,"
    " kind TEXT NOT NULL, who TEXT NOT NULL, why TEXT NOT NULL, path TEXT NOT NULL, payload TEXT NOT NULL,"
    " sets TEXT NOT NULL, digest TEXT NOT NULL, changes TEXT NOT NULL, at INTEGER, not_before INTEGER,"
    " applied_time INTEGER, status TEXT NOT NULL);";

/* *has 1 when `table` has `column`. */
static qa_status has_column(sqlite3 *db, const char *table, const char *column, int *has) {
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT 1 FROM pragma_table_info('%s') WHERE name = ?", table);
    sqlite3_stmt *s = NULL;
    *has = 0;
    QA_TRY_RET(qa_sqlite_prepare(db, sql, &s));
    qa_sqlite_bind_text(s, 1, column);
    int rc = sqlite3_step(s);
    qa_status st = rc == SQLITE_ROW || rc == SQLITE_DONE ? QA_OK : QA_SQLITE_CHECK(db, rc);
    *has = rc == SQLITE_ROW;
    sqlite3_finalize(s);
    return st;
}

/* commands.target (operator cancels, format_version 1 still: a nullable column older
 * readers never select) is added to a file created before it. Under the write lock, so
 * two processes opening the file at once do not both add it. */
static qa_status add_target(sqlite3 *db) {
    int has = 0;
    QA_TRY_RET(has_column(db, "commands", "target", &has));
    if (has) return QA_OK;
    QA_TRY_RET(qa_sqlite_begin(db));
    qa_status st = has_column(db, "commands", "target", &has);
    if (st == QA_OK && !has) st = qa_sqlite_exec(db, "ALTER TABLE commands ADD COLUMN target TEXT");
    if (st == QA_OK) st = qa_sqlite_commit(db);
    else qa_sqlite_rollback(db);
    return st;
}

static qa_status open_db(const char *dir, sqlite3 **out) {
    char path[QA_PATH_MAX];
    QA_TRY_RET(qa_fs_mkdirs(dir));
    QA_TRY_RET(qa_path_join(path, dir, "risk.db"));
    int wal = 0;
    QA_TRY_RET(qa_sqlite_open(path, 1, 5000, out, &wal));
    qa_status st = qa_sqlite_exec(*out, schema);
    if (st == QA_OK) st = add_target(*out);
    if (st != QA_OK) qa_sqlite_close(*out);
    return st;
}

qa_status qa_riskdb_open(const char *state_dir, qa_riskdb_t **out) {
    qa_riskdb_t *d = calloc(1, sizeof *d);
    if (!d) return QA_FAIL(QA_ERR_NOMEM, "risk database");
    qa_status st = open_db(state_dir, &d->db);
    if (st != QA_OK) {
        free(d);
        return st;
    }
    d->has_target = 1;
    *out = d;
    return QA_OK;
}

qa_status qa_riskdb_open_ro(const char *state_dir, qa_riskdb_t **out) {
    char path[QA_PATH_MAX];
    QA_TRY_RET(qa_path_join(path, state_dir, "risk.db"));
    if (access(path, F_OK) != 0)
        return QA_FAIL(QA_ERR_NOT_FOUND, "no risk database %s (has the live service run with this state_dir?)", path);
    qa_riskdb_t *d = calloc(1, sizeof *d);
    if (!d) return QA_FAIL(QA_ERR_NOMEM, "risk database");
    int rc = sqlite3_open_v2(path, &d->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX, NULL);
    qa_status st = rc == SQLITE_OK ? QA_OK
                                   : QA_FAIL(QA_ERR_SQLITE, "cannot open %s read-only: %s", path,
                                             d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc));
    /* the service commits one transaction per timestamp: a reader waits out the lock */
    if (st == QA_OK) st = QA_SQLITE_CHECK(d->db, sqlite3_busy_timeout(d->db, 2000));
    sqlite3_stmt *s = NULL;
    if (st == QA_OK) st = qa_sqlite_prepare(d->db, "SELECT value FROM meta WHERE key = 'format'", &s);
    if (st == QA_OK) {
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW || strcmp(qa_sqlite_text(s, 0), "quantumalpha.risk") != 0)
            st = rc == SQLITE_ROW || rc == SQLITE_DONE ? QA_FAIL(QA_ERR_FORMAT, "%s is not a risk database", path)
                                                       : QA_SQLITE_CHECK(d->db, rc);
    }
    sqlite3_finalize(s);
    if (st == QA_OK) st = has_column(d->db, "commands", "target", &d->has_target);
    if (st != QA_OK) {
        qa_err_prefix("%s: ", path);
        sqlite3_close(d->db);
        free(d);
        return st;
    }
    *out = d;
    return QA_OK;
}

void qa_riskdb_close(qa_riskdb_t *d) {
    if (!d) return;
    qa_sqlite_close(d->db);
    free(d);
}

/* Binds a double, NaN as SQL NULL. */
static int bind_num(sqlite3_stmt *s, int i, double v) {
    return v == v ? sqlite3_bind_double(s, i, v) : sqlite3_bind_null(s, i);
}

static qa_status step_done(sqlite3 *db, sqlite3_stmt *s) {
    int rc = sqlite3_step(s);
    return rc == SQLITE_DONE ? QA_OK : QA_SQLITE_CHECK(db, rc);
}

qa_status qa_riskdb_record(qa_riskdb_t *d, int64_t time, const qa_msg_risk *k, const qa_msg_alert *alerts, size_t n) {
    sqlite3_stmt *s = NULL;
    qa_status st = qa_sqlite_begin(d->db);
    if (st == QA_OK && k)
        st = qa_sqlite_prepare(d->db,
                               "INSERT OR REPLACE INTO metrics VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &s);
    if (st == QA_OK && k) {
        const double v[6] = {k->equity, k->pnl, k->drawdown, k->gross, k->net, k->concentration};
        const double w[5] = {k->var_hist, k->es_hist, k->var_param, k->es_param, k->level};
        sqlite3_bind_int64(s, 1, time);
        for (int i = 0; i < 6; i++) bind_num(s, 2 + i, v[i]);
        qa_sqlite_bind_text(s, 8, k->top);
        for (int i = 0; i < 5; i++) bind_num(s, 9 + i, w[i]);
        qa_sqlite_bind_text(s, 14, k->state);
        st = step_done(d->db, s);
    }
    sqlite3_finalize(s);
    s = NULL;
    if (st == QA_OK) st = qa_sqlite_prepare(d->db, "INSERT OR REPLACE INTO alerts VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)", &s);
    for (size_t i = 0; i < n && st == QA_OK; i++) {
        const qa_msg_alert *a = &alerts[i];
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, time);
        sqlite3_bind_int64(s, 2, (sqlite3_int64)i);
        qa_sqlite_bind_text(s, 3, a->severity);
        qa_sqlite_bind_text(s, 4, a->limit);
        qa_sqlite_bind_text(s, 5, a->metric);
        bind_num(s, 6, a->value);
        bind_num(s, 7, a->threshold);
        qa_sqlite_bind_text(s, 8, a->state);
        qa_sqlite_bind_text(s, 9, a->detail);
        st = step_done(d->db, s);
    }
    sqlite3_finalize(s);
    if (st == QA_OK) st = qa_sqlite_commit(d->db);
    else qa_sqlite_rollback(d->db);
    return st;
}

/* One row of the commands table (target NULL: none). */
static qa_status command_add(const char *state_dir, const char *state, const char *target, const char *who,
                             const char *why, long long *id) {
    sqlite3 *db = NULL;
    QA_TRY_RET(open_db(state_dir, &db));
    char now[40];
    qa_time_utc_iso(now, sizeof now);
    sqlite3_stmt *s = NULL;
    qa_status st =
        qa_sqlite_prepare(db, "INSERT INTO commands(created, state, who, why, target) VALUES(?, ?, ?, ?, ?)", &s);
    if (st == QA_OK) {
        qa_sqlite_bind_text(s, 1, now);
        qa_sqlite_bind_text(s, 2, state);
        qa_sqlite_bind_text(s, 3, who);
        qa_sqlite_bind_text(s, 4, why);
        qa_sqlite_bind_text(s, 5, target);
        st = step_done(db, s);
    }
    if (st == QA_OK) *id = sqlite3_last_insert_rowid(db);
    sqlite3_finalize(s);
    qa_sqlite_close(db);
    return st;
}

qa_status qa_riskdb_command_add(const char *state_dir, const char *state, const char *who, const char *why,
                                long long *id) {
    return command_add(state_dir, state, NULL, who, why, id);
}

qa_status qa_riskdb_cancel_add(const char *state_dir, const char *clordid, const char *who, const char *why,
                               long long *id) {
    if (clordid && (!*clordid || strlen(clordid) >= sizeof ((qa_riskdb_command *)0)->target))
        return QA_FAIL(QA_ERR_INVALID_ARG, "cancel: client order id '%.80s' is empty or longer than %zu bytes", clordid,
                       sizeof ((qa_riskdb_command *)0)->target - 1);
    return command_add(state_dir, clordid ? QA_RISKDB_CANCEL : QA_RISKDB_CANCEL_ALL, clordid, who, why, id);
}

/* Reads command rows from a statement selecting id, state, who, why, applied_time,
 * target, created. */
static qa_status read_commands(qa_riskdb_t *d, sqlite3_stmt *s, qa_riskdb_command *out, size_t cap, size_t *n) {
    int rc;
    while (*n < cap && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        qa_riskdb_command *c = &out[(*n)++];
        c->id = sqlite3_column_int64(s, 0);
        snprintf(c->state, sizeof c->state, "%s", qa_sqlite_text(s, 1));
        snprintf(c->who, sizeof c->who, "%s", qa_sqlite_text(s, 2));
        snprintf(c->why, sizeof c->why, "%s", qa_sqlite_text(s, 3));
        c->applied_time = sqlite3_column_type(s, 4) == SQLITE_NULL ? INT64_MIN : sqlite3_column_int64(s, 4);
        snprintf(c->target, sizeof c->target, "%s", qa_sqlite_text(s, 5));
        snprintf(c->created, sizeof c->created, "%s", qa_sqlite_text(s, 6));
    }
    if (*n == cap) return QA_OK;
    return rc == SQLITE_DONE ? QA_OK : QA_SQLITE_CHECK(d->db, rc);
}

qa_status qa_riskdb_commands(qa_riskdb_t *d, int64_t after, qa_riskdb_command *out, size_t cap, size_t *n) {
    sqlite3_stmt *s = NULL;
    *n = 0;
    QA_TRY_RET(qa_sqlite_prepare(d->db,
                                 d->has_target ? "SELECT id, state, who, why, applied_time, target, created FROM commands"
                                                 " WHERE applied_time IS NULL OR applied_time > ? ORDER BY id"
                                               : "SELECT id, state, who, why, applied_time, NULL, created FROM commands"
                                                 " WHERE applied_time IS NULL OR applied_time > ? ORDER BY id",
                                 &s));
    sqlite3_bind_int64(s, 1, after);
    qa_status st = read_commands(d, s, out, cap, n);
    sqlite3_finalize(s);
    return st;
}

qa_status qa_riskdb_commands_recent(qa_riskdb_t *d, qa_riskdb_command *out, size_t cap, size_t *n) {
    sqlite3_stmt *s = NULL;
    *n = 0;
    QA_TRY_RET(qa_sqlite_prepare(d->db,
                                 d->has_target ? "SELECT id, state, who, why, applied_time, target, created FROM commands"
                                                 " ORDER BY id DESC LIMIT ?"
                                               : "SELECT id, state, who, why, applied_time, NULL, created FROM commands"
                                                 " ORDER BY id DESC LIMIT ?",
                                 &s));
    sqlite3_bind_int64(s, 1, (sqlite3_int64)cap);
    qa_status st = read_commands(d, s, out, cap, n);
    sqlite3_finalize(s);
    return st;
}

qa_status qa_riskdb_command_applied(qa_riskdb_t *d, long long id, int64_t time) {
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(d->db, "UPDATE commands SET applied_time = ? WHERE id = ?", &s));
    sqlite3_bind_int64(s, 1, time);
    sqlite3_bind_int64(s, 2, id);
    qa_status st = step_done(d->db, s);
    sqlite3_finalize(s);
    return st;
}

qa_status qa_riskdb_switch_add(qa_riskdb_t *d, const qa_riskdb_switch *w) {
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(d->db, "INSERT OR REPLACE INTO model_switches VALUES(?, ?, ?, ?)", &s));
    sqlite3_bind_int64(s, 1, w->seq);
    sqlite3_bind_int64(s, 2, w->version);
    if (w->effective_time == INT64_MIN) sqlite3_bind_null(s, 3);
    else sqlite3_bind_int64(s, 3, w->effective_time);
    qa_sqlite_bind_text(s, 4, w->status);
    qa_status st = step_done(d->db, s);
    sqlite3_finalize(s);
    return st;
}

qa_status qa_riskdb_switches(qa_riskdb_t *d, qa_riskdb_switch *out, size_t cap, size_t *n) {
    sqlite3_stmt *s = NULL;
    *n = 0;
    QA_TRY_RET(qa_sqlite_prepare(d->db, "SELECT seq, version, effective_time, status FROM model_switches ORDER BY seq", &s));
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && *n < cap) {
        qa_riskdb_switch *w = &out[(*n)++];
        w->seq = sqlite3_column_int64(s, 0);
        w->version = (long)sqlite3_column_int64(s, 1);
        w->effective_time = sqlite3_column_type(s, 2) == SQLITE_NULL ? INT64_MIN : sqlite3_column_int64(s, 2);
        snprintf(w->status, sizeof w->status, "%s", qa_sqlite_text(s, 3));
    }
    qa_status st = rc == SQLITE_ROW || rc == SQLITE_DONE ? QA_OK : QA_SQLITE_CHECK(d->db, rc);
    sqlite3_finalize(s);
    return st;
}

/* NULL for INT64_MIN (none). */
static void bind_time(sqlite3_stmt *s, int i, int64_t t) {
    if (t == INT64_MIN) sqlite3_bind_null(s, i);
    else sqlite3_bind_int64(s, i, t);
}

static int64_t column_time(sqlite3_stmt *s, int i) {
    return sqlite3_column_type(s, i) == SQLITE_NULL ? INT64_MIN : sqlite3_column_int64(s, i);
}

qa_status qa_riskdb_config_add(qa_riskdb_t *d, qa_riskdb_config *c) {
    if (!c->created[0]) qa_time_utc_iso(c->created, sizeof c->created);
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(d->db,
                                 "INSERT INTO config_changes(created, kind, who, why, path, payload, sets, digest, changes,"
                                 " at, not_before, applied_time, status) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 &s));
    const char *txt[9] = {c->created, c->kind, c->who, c->why, c->path, c->payload ? c->payload : "",
                          c->sets ? c->sets : "", c->digest, c->changes};
    for (int i = 0; i < 9; i++) qa_sqlite_bind_text(s, 1 + i, txt[i]);
    bind_time(s, 10, c->at);
    bind_time(s, 11, c->not_before);
    bind_time(s, 12, c->applied_time);
    qa_sqlite_bind_text(s, 13, c->status);
    qa_status st = step_done(d->db, s);
    if (st == QA_OK) c->id = sqlite3_last_insert_rowid(d->db);
    sqlite3_finalize(s);
    return st;
}

void qa_riskdb_configs_free(qa_riskdb_config *rows, size_t n) {
    for (size_t i = 0; rows && i < n; i++) free(rows[i].payload), free(rows[i].sets);
    free(rows);
}

qa_status qa_riskdb_configs(qa_riskdb_t *d, const char *status, qa_riskdb_config **out, size_t *n) {
    *out = NULL, *n = 0;
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(d->db,
                                 "SELECT id, created, kind, who, why, path, payload, sets, digest, changes, at, not_before,"
                                 " applied_time, status FROM config_changes WHERE ?1 IS NULL OR status = ?1 ORDER BY id",
                                 &s));
    if (status) qa_sqlite_bind_text(s, 1, status);
    qa_status st = QA_OK;
    size_t cap = 0;
    int rc = SQLITE_DONE;
    while (st == QA_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            qa_riskdb_config *g = realloc(*out, nc * sizeof *g);
            if (!g) {
                st = QA_FAIL(QA_ERR_NOMEM, "configuration changes");
                break;
            }
            *out = g, cap = nc;
        }
        qa_riskdb_config *c = &(*out)[*n];
        memset(c, 0, sizeof *c);
        c->id = sqlite3_column_int64(s, 0);
        snprintf(c->created, sizeof c->created, "%s", qa_sqlite_text(s, 1));
        snprintf(c->kind, sizeof c->kind, "%s", qa_sqlite_text(s, 2));
        snprintf(c->who, sizeof c->who, "%s", qa_sqlite_text(s, 3));
        snprintf(c->why, sizeof c->why, "%s", qa_sqlite_text(s, 4));
        snprintf(c->path, sizeof c->path, "%s", qa_sqlite_text(s, 5));
        c->payload = strdup(qa_sqlite_text(s, 6));
        c->sets = strdup(qa_sqlite_text(s, 7));
        snprintf(c->digest, sizeof c->digest, "%s", qa_sqlite_text(s, 8));
        snprintf(c->changes, sizeof c->changes, "%s", qa_sqlite_text(s, 9));
        c->at = column_time(s, 10), c->not_before = column_time(s, 11), c->applied_time = column_time(s, 12);
        snprintf(c->status, sizeof c->status, "%s", qa_sqlite_text(s, 13));
        (*n)++;
        if (!c->payload || !c->sets) st = QA_FAIL(QA_ERR_NOMEM, "configuration text");
    }
    if (st == QA_OK && rc != SQLITE_DONE) st = QA_SQLITE_CHECK(d->db, rc);
    sqlite3_finalize(s);
    if (st != QA_OK) qa_riskdb_configs_free(*out, *n), *out = NULL, *n = 0;
    return st;
}

qa_status qa_riskdb_config_update(qa_riskdb_t *d, const qa_riskdb_config *c) {
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(d->db,
                                 "UPDATE config_changes SET digest = ?, changes = ?, not_before = ?, applied_time = ?,"
                                 " status = ? WHERE id = ?",
                                 &s));
    qa_sqlite_bind_text(s, 1, c->digest);
    qa_sqlite_bind_text(s, 2, c->changes);
    bind_time(s, 3, c->not_before);
    bind_time(s, 4, c->applied_time);
    qa_sqlite_bind_text(s, 5, c->status);
    sqlite3_bind_int64(s, 6, c->id);
    qa_status st = step_done(d->db, s);
    sqlite3_finalize(s);
    return st;
}

/* A REAL column, SQL NULL as NaN. */
static double column_num(sqlite3_stmt *s, int i) {
    return sqlite3_column_type(s, i) == SQLITE_NULL ? NAN : sqlite3_column_double(s, i);
}

qa_status qa_riskdb_last_metrics(qa_riskdb_t *d, int64_t *time, qa_msg_risk *k, int *found) {
    sqlite3_stmt *s = NULL;
    *found = 0;
    memset(k, 0, sizeof *k);
    QA_TRY_RET(qa_sqlite_prepare(d->db,
                                 "SELECT time, equity, pnl, drawdown, gross, net, concentration, top, var_hist, es_hist,"
                                 " var_param, es_param, level, state FROM metrics ORDER BY time DESC LIMIT 1",
                                 &s));
    int rc = sqlite3_step(s);
    qa_status st = QA_OK;
    if (rc == SQLITE_ROW) {
        *found = 1;
        *time = sqlite3_column_int64(s, 0);
        double *v[11] = {&k->equity, &k->pnl, &k->drawdown, &k->gross, &k->net, &k->concentration, NULL,
                         &k->var_hist, &k->es_hist, &k->var_param, &k->es_param};
        for (int i = 0; i < 11; i++)
            if (v[i]) *v[i] = column_num(s, 1 + i);
        snprintf(k->top, sizeof k->top, "%s", qa_sqlite_text(s, 7));
        k->level = column_num(s, 12);
        snprintf(k->state, sizeof k->state, "%s", qa_sqlite_text(s, 13));
    } else if (rc != SQLITE_DONE) {
        st = QA_SQLITE_CHECK(d->db, rc);
    }
    sqlite3_finalize(s);
    return st;
}

qa_status qa_riskdb_alerts_recent(qa_riskdb_t *d, qa_riskdb_alert *out, size_t cap, size_t *n, long long *total) {
    sqlite3_stmt *s = NULL;
    *n = 0, *total = 0;
    QA_TRY_RET(qa_sqlite_prepare(d->db, "SELECT count(*) FROM alerts", &s));
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *total = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW) return QA_SQLITE_CHECK(d->db, rc);
    QA_TRY_RET(qa_sqlite_prepare(d->db,
                                 "SELECT time, severity, limit_name, metric, value, threshold, state, detail FROM alerts"
                                 " ORDER BY time DESC, seq DESC LIMIT ?",
                                 &s));
    sqlite3_bind_int64(s, 1, (sqlite3_int64)cap);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW && *n < cap) {
        qa_riskdb_alert *x = &out[(*n)++];
        memset(x, 0, sizeof *x);
        x->time = sqlite3_column_int64(s, 0);
        snprintf(x->a.severity, sizeof x->a.severity, "%s", qa_sqlite_text(s, 1));
        snprintf(x->a.limit, sizeof x->a.limit, "%s", qa_sqlite_text(s, 2));
        snprintf(x->a.metric, sizeof x->a.metric, "%s", qa_sqlite_text(s, 3));
        x->a.value = column_num(s, 4), x->a.threshold = column_num(s, 5);
        snprintf(x->a.state, sizeof x->a.state, "%s", qa_sqlite_text(s, 6));
        snprintf(x->a.detail, sizeof x->a.detail, "%s", qa_sqlite_text(s, 7));
    }
    qa_status st = rc == SQLITE_ROW || rc == SQLITE_DONE ? QA_OK : QA_SQLITE_CHECK(d->db, rc);
    sqlite3_finalize(s);
    return st;
}

long qa_riskdb_config_in_force(const qa_riskdb_config *rows, size_t n, int64_t t) {
    long best = -1;
    for (size_t i = 0; i < n; i++) {
        const qa_riskdb_config *r = &rows[i];
        /* The initial row until an applied change takes over; the latest applied change at t. */
        if ((strcmp(r->status, "initial") == 0 && best < 0) ||
            (strcmp(r->status, "applied") == 0 && r->applied_time <= t &&
             (best < 0 || r->applied_time >= rows[best].applied_time)))
            best = (long)i;
    }
    return best;
}

long qa_riskdb_config_latest(const qa_riskdb_config *rows, size_t n, int queued) {
    for (size_t i = n; i-- > 0;)
        if (!strcmp(rows[i].status, "pending") || (queued && !strcmp(rows[i].status, "queued"))) return (long)i;
    return qa_riskdb_config_in_force(rows, n, INT64_MAX);
}
