/* Registry core: open and schema, URIs, content-addressed artifacts, publishing,
 * resolving, loading and the event log (registry.h). */
#include "registry/registry_internal.h"

#include <ctype.h>     /* isalnum, isdigit */
#include <errno.h>     /* errno */
#include <pwd.h>       /* getpwuid: the OS user */
#include <stdlib.h>    /* getenv, free, strtol */
#include <string.h>    /* strcmp, strchr, strncmp */
#include <sys/time.h>  /* gettimeofday */
#include <time.h>      /* gmtime_r */
#include <unistd.h>    /* getuid */
#include <utime.h>     /* utime: refresh a re-used artifact */

#include "common/hash.h"    /* content addresses */
#include "common/log.h"     /* debug lines */
#include "common/sqlite.h"  /* QA_SQLITE_CHECK, transactions */

/* ---- schema ------------------------------------------------------------------------------- */

/* Alias history and events are append-only: triggers refuse updates and deletes, so no
 * code path (and no hand-run SQL through this schema) can rewrite the audit trail. */
static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS models(name TEXT PRIMARY KEY, created TEXT NOT NULL, created_by TEXT NOT NULL,"
    "  next_version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS versions(model TEXT NOT NULL REFERENCES models(name), version INTEGER NOT NULL,"
    "  sha256 TEXT NOT NULL, size INTEGER NOT NULL, created TEXT NOT NULL, created_by TEXT NOT NULL,"
    "  description TEXT NOT NULL, signature TEXT NOT NULL, metrics TEXT NOT NULL, lineage TEXT NOT NULL,"
    "  config TEXT NOT NULL, PRIMARY KEY(model, version));"
    "CREATE INDEX IF NOT EXISTS versions_sha ON versions(sha256);"
    "CREATE TABLE IF NOT EXISTS metrics(model TEXT NOT NULL, version INTEGER NOT NULL, key TEXT NOT NULL,"
    "  value REAL, PRIMARY KEY(model, version, key),"
    "  FOREIGN KEY(model, version) REFERENCES versions(model, version) ON DELETE CASCADE);"
    "CREATE TABLE IF NOT EXISTS tags(model TEXT NOT NULL, version INTEGER NOT NULL, key TEXT NOT NULL,"
    "  value TEXT NOT NULL, PRIMARY KEY(model, version, key));"
    "CREATE TABLE IF NOT EXISTS aliases(model TEXT NOT NULL, alias TEXT NOT NULL, version INTEGER NOT NULL,"
    "  updated TEXT NOT NULL, updated_by TEXT NOT NULL, PRIMARY KEY(model, alias),"
    "  FOREIGN KEY(model, version) REFERENCES versions(model, version));"
    "CREATE TABLE IF NOT EXISTS alias_protection(model TEXT NOT NULL, alias TEXT NOT NULL, users TEXT NOT NULL,"
    "  PRIMARY KEY(model, alias));"
    "CREATE TABLE IF NOT EXISTS alias_history(id INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT NOT NULL,"
    "  alias TEXT NOT NULL, from_version INTEGER, to_version INTEGER, at TEXT NOT NULL, who TEXT NOT NULL,"
    "  why TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS alias_history_model ON alias_history(model, id);"
    "CREATE TABLE IF NOT EXISTS events(seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, kind TEXT NOT NULL,"
    "  model TEXT NOT NULL, version INTEGER NOT NULL, alias TEXT NOT NULL, who TEXT NOT NULL, detail TEXT NOT NULL);"
    "CREATE TRIGGER IF NOT EXISTS alias_history_no_update BEFORE UPDATE ON alias_history"
    "  BEGIN SELECT RAISE(ABORT, 'alias history is append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS alias_history_no_delete BEFORE DELETE ON alias_history"
    "  BEGIN SELECT RAISE(ABORT, 'alias history is append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events"
    "  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events"
    "  BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;";

/* ---- small helpers ------------------------------------------------------------------------ */

void qa_registry_now(char *buf, size_t n) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    time_t s = tv.tv_sec;
    gmtime_r(&s, &tm);
    char base[32];
    if (strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm) == 0) base[0] = '\0'; /* cannot happen: 19 chars */
    snprintf(buf, n, "%s.%06ldZ", base, (long)tv.tv_usec);
}

const char *qa_registry_who(const char *who) {
    if (who && *who) return who;
    const char *u = getenv("QA_USER");
    if (u && *u) return u;
    struct passwd *pw = getpwuid(getuid());
    if (pw && pw->pw_name && *pw->pw_name) return pw->pw_name;
    u = getenv("USER");
    return u && *u ? u : "unknown";
}

char *qa_registry_json_text(const json_t *j) {
    if (!j) return strdup("{}");
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
}

json_t *qa_registry_json_col(sqlite3_stmt *s, int col) {
    const char *t = qa_sqlite_text(s, col);
    json_t *j = *t ? json_loads(t, JSON_DECODE_ANY, NULL) : NULL;
    return j ? j : json_object();
}

qa_status qa_registry_name_check(const char *name, const char *what) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0) return QA_FAIL(QA_ERR_INVALID_ARG, "empty %s", what);
    if (n >= QA_REGISTRY_NAME_MAX)
        return QA_FAIL(QA_ERR_INVALID_ARG, "%s '%.80s...' is longer than %d characters", what, name,
                       QA_REGISTRY_NAME_MAX - 1);
    if (!isalnum((unsigned char)name[0]))
        return QA_FAIL(QA_ERR_INVALID_ARG, "%s '%s' must start with a letter or digit", what, name);
    int digits = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '.' && c != '_' && c != '-')
            return QA_FAIL(QA_ERR_INVALID_ARG, "%s '%s': character '%c' at %zu is not one of [A-Za-z0-9._-]", what,
                           name, c, i + 1);
        if (!isdigit(c)) digits = 0;
    }
    if (strcmp(what, "alias") == 0 && (digits || strcmp(name, "latest") == 0))
        return QA_FAIL(QA_ERR_INVALID_ARG, "alias '%s' would read as a version (all digits or 'latest')", name);
    return QA_OK;
}

int qa_registry_is_uri(const char *s) { return s && strncmp(s, "models:/", 8) == 0; }

qa_status qa_registry_uri_parse(const char *uri, qa_registry_ref *out) {
    memset(out, 0, sizeof *out);
    const char *p = qa_registry_is_uri(uri) ? uri + 8 : uri;
    if (!p || !*p) return QA_FAIL(QA_ERR_INVALID_ARG, "empty model reference (expected models:/NAME/VERSION or models:/NAME@ALIAS)");
    const char *at = strchr(p, '@'), *sl = strchr(p, '/');
    const char *sep = at && (!sl || at < sl) ? at : sl;
    if (!sep)
        return QA_FAIL(QA_ERR_INVALID_ARG, "model reference '%s' names no version (expected models:/NAME/VERSION, models:/NAME@ALIAS or models:/NAME/latest)", uri);
    size_t n = (size_t)(sep - p);
    if (n >= sizeof out->name) n = sizeof out->name - 1;
    memcpy(out->name, p, n);
    out->name[n] = '\0';
    if ((size_t)(sep - p) >= sizeof out->name || qa_registry_name_check(out->name, "model name") != QA_OK) {
        qa_err_prefix("model reference '%s': ", uri);
        return QA_ERR_INVALID_ARG;
    }
    const char *rest = sep + 1;
    if (*sep == '@') {
        if (strlen(rest) >= sizeof out->alias || qa_registry_name_check(rest, "alias") != QA_OK) {
            qa_err_prefix("model reference '%s': ", uri);
            return QA_ERR_INVALID_ARG;
        }
        snprintf(out->alias, sizeof out->alias, "%s", rest);
        return QA_OK;
    }
    if (strcmp(rest, "latest") == 0) {
        snprintf(out->alias, sizeof out->alias, "latest");
        return QA_OK;
    }
    char *end = NULL;
    errno = 0;
    long v = strtol(rest, &end, 10);
    if (!*rest || *end || errno || v < 1 || !isdigit((unsigned char)rest[0]))
        return QA_FAIL(QA_ERR_INVALID_ARG, "model reference '%s': version '%s' is not a positive integer (or 'latest')", uri, rest);
    out->version = v;
    return QA_OK;
}

qa_status qa_registry_default_dir(char *out) {
    const char *e = getenv("QA_REGISTRY");
    if (e && *e) return qa_path_join(out, NULL, "%s", e);
    e = getenv("XDG_DATA_HOME");
    if (e && *e) return qa_path_join(out, e, "quantumalpha/registry");
    e = getenv("HOME");
    if (!e || !*e) {
        struct passwd *pw = getpwuid(getuid());
        e = pw ? pw->pw_dir : NULL;
    }
    if (!e || !*e) return QA_FAIL(QA_ERR_CONFIG, "no registry directory: set QA_REGISTRY or give --registry DIR");
    return qa_path_join(out, e, ".local/share/quantumalpha/registry");
}

const char *qa_registry_dir(const qa_registry_t *r) { return r->dir; }

/* ---- open --------------------------------------------------------------------------------- */

static qa_status check_meta(qa_registry_t *r, const char *db_path) {
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    char fmt[64] = "", ver[32] = "";
    QA_TRY(qa_sqlite_prepare(r->db, "SELECT key, value FROM meta", &s));
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (strcmp(qa_sqlite_text(s, 0), "format") == 0) snprintf(fmt, sizeof fmt, "%s", qa_sqlite_text(s, 1));
        if (strcmp(qa_sqlite_text(s, 0), "schema_version") == 0) snprintf(ver, sizeof ver, "%s", qa_sqlite_text(s, 1));
    }
    QA_TRY(QA_SQLITE_CHECK(r->db, rc));
    if (strcmp(fmt, QA_REGISTRY_FORMAT) != 0)
        QA_TRY_FAIL(QA_ERR_FORMAT, "%s is not a model registry database (format '%s', expected '%s')", db_path, fmt,
                    QA_REGISTRY_FORMAT);
    char *end = NULL;
    errno = 0;
    long v = strtol(ver, &end, 10);
    if (end == ver || *end != '\0' || errno != 0 || v != QA_REGISTRY_SCHEMA_VERSION)
        QA_TRY_FAIL(QA_ERR_FORMAT, "%s: registry schema version '%s', this build reads %d", db_path, ver,
                    QA_REGISTRY_SCHEMA_VERSION);
cleanup:
    sqlite3_finalize(s);
    return st;
}

/* Creates the schema and the meta rows once (idempotent; one transaction, so processes
 * opening a new registry together agree). */
static qa_status init_schema(qa_registry_t *r) {
    qa_status st = QA_OK;
    QA_TRY(qa_sqlite_begin(r->db));
    QA_TRY(qa_sqlite_exec(r->db, SCHEMA));
    QA_TRY(qa_sqlite_exec(r->db, "INSERT OR IGNORE INTO meta(key, value) VALUES ('format', '" QA_REGISTRY_FORMAT "');"
                                 "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '1');"));
    QA_TRY(qa_sqlite_commit(r->db));
cleanup:
    if (st != QA_OK) qa_sqlite_rollback(r->db);
    return st;
}

qa_status qa_registry_open(const char *dir, int create, qa_registry_t **out) {
    *out = NULL;
    qa_status st = QA_OK;
    qa_registry_t *r = calloc(1, sizeof *r);
    if (!r) return QA_FAIL(QA_ERR_NOMEM, "registry handle");
    char db_path[QA_PATH_MAX], art[QA_PATH_MAX];
    if (dir && *dir) QA_TRY(qa_path_join(r->dir, NULL, "%s", dir));
    else QA_TRY(qa_registry_default_dir(r->dir));
    QA_TRY(qa_path_join(db_path, r->dir, "registry.db"));
    QA_TRY(qa_path_join(art, r->dir, "artifacts"));
    if (!qa_fs_exists(db_path)) {
        if (!create)
            QA_TRY_FAIL(QA_ERR_NOT_FOUND, "no model registry at %s (no registry.db; it is created by the first publish)",
                        r->dir);
        QA_TRY(qa_fs_mkdirs(art));
    }
    QA_TRY(qa_sqlite_open(db_path, create, 30000, &r->db, &r->wal));
    if (create) QA_TRY(init_schema(r));
    QA_TRY(check_meta(r, db_path));
    if (!qa_fs_is_dir(art)) QA_TRY(qa_fs_mkdirs(art));
    QA_TRY(qa_sqlite_prepare(r->db, "SELECT COALESCE(MAX(seq), 0) FROM events", &r->last_seq));
    *out = r;
    return QA_OK;
cleanup:
    qa_registry_close(r);
    return st;
}

void qa_registry_close(qa_registry_t *r) {
    if (!r) return;
    sqlite3_finalize(r->last_seq);
    qa_sqlite_close(r->db);
    free(r);
}

/* ---- artifacts ---------------------------------------------------------------------------- */

qa_status qa_registry_artifact_path(const qa_registry_t *r, const char *sha, char *out, char *rel) {
    if (strlen(sha) != 64) return QA_FAIL(QA_ERR_INVALID_ARG, "bad artifact digest '%s'", sha);
    if (rel) snprintf(rel, 128, "artifacts/%.2s/%s.qam", sha, sha);
    return qa_path_join(out, r->dir, "artifacts/%.2s/%s.qam", sha, sha);
}

qa_status qa_registry_artifact_store(qa_registry_t *r, const void *data, size_t len, const char *sha) {
    char path[QA_PATH_MAX], dir[QA_PATH_MAX];
    QA_TRY_RET(qa_registry_artifact_path(r, sha, path, NULL));
    /* Stored once: an artifact with this digest exists (files appear whole, by rename, so
     * one of the right size is complete; verify reports one damaged later). Touch it: gc's
     * grace period then covers the publish now in flight. */
    if (qa_fs_size(path) == (long long)len) {
        if (utime(path, NULL) != 0) return QA_FAIL(QA_ERR_IO, "cannot touch %s: %s", path, strerror(errno));
        return QA_OK;
    }
    QA_TRY_RET(qa_path_join(dir, r->dir, "artifacts/%.2s", sha));
    QA_TRY_RET(qa_fs_mkdirs(dir));
    return qa_fs_write_all(path, data, len); /* temporary file, fsync, rename */
}

/* ---- events ------------------------------------------------------------------------------- */

qa_status qa_registry_event_add(qa_registry_t *r, const char *at, const char *kind, const char *model, long version,
                                const char *alias, const char *who, json_t *detail) {
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    char *text = qa_registry_json_text(detail ? detail : NULL);
    json_decref(detail);
    if (!text) return QA_FAIL(QA_ERR_NOMEM, "event detail");
    QA_TRY(qa_sqlite_prepare(r->db,
                             "INSERT INTO events(at, kind, model, version, alias, who, detail) VALUES (?,?,?,?,?,?,?)", &s));
    QA_TRY(qa_sqlite_bind_text(s, 1, at));
    QA_TRY(qa_sqlite_bind_text(s, 2, kind));
    QA_TRY(qa_sqlite_bind_text(s, 3, model));
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_bind_int64(s, 4, version)));
    QA_TRY(qa_sqlite_bind_text(s, 5, alias ? alias : ""));
    QA_TRY(qa_sqlite_bind_text(s, 6, who));
    QA_TRY(qa_sqlite_bind_text(s, 7, text));
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_step(s)));
cleanup:
    sqlite3_finalize(s);
    free(text);
    return st;
}

qa_status qa_registry_last_seq(qa_registry_t *r, int64_t *seq) {
    sqlite3_reset(r->last_seq);
    int rc = sqlite3_step(r->last_seq);
    if (rc != SQLITE_ROW) return QA_SQLITE_CHECK(r->db, rc == SQLITE_DONE ? SQLITE_ERROR : rc);
    *seq = sqlite3_column_int64(r->last_seq, 0);
    sqlite3_reset(r->last_seq);
    return QA_OK;
}

qa_status qa_registry_events(qa_registry_t *r, int64_t after, long max, qa_registry_event_fn fn, void *ctx) {
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    QA_TRY(qa_sqlite_prepare(r->db,
                             "SELECT seq, at, kind, model, version, alias, who, detail FROM events WHERE seq > ? "
                             "ORDER BY seq LIMIT ?",
                             &s));
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_bind_int64(s, 1, after)));
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_bind_int64(s, 2, max > 0 ? max : -1)));
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        qa_registry_event e = {sqlite3_column_int64(s, 0), qa_sqlite_text(s, 1), qa_sqlite_text(s, 2),
                               qa_sqlite_text(s, 3),       (long)sqlite3_column_int64(s, 4), qa_sqlite_text(s, 5),
                               qa_sqlite_text(s, 6),       qa_sqlite_text(s, 7)};
        QA_TRY(fn(&e, ctx));
    }
    QA_TRY(QA_SQLITE_CHECK(r->db, rc));
cleanup:
    sqlite3_finalize(s);
    return st;
}

/* ---- reading rows ------------------------------------------------------------------------- */

qa_status qa_registry_rows(qa_registry_t *r, const char *sql, const char *name, long version, qa_registry_row_fn fn,
                           const void *ctx, json_t **out) {
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    json_t *a = json_array();
    if (!a) return QA_FAIL(QA_ERR_NOMEM, "rows");
    QA_TRY(qa_sqlite_prepare(r->db, sql, &s));
    QA_TRY(qa_sqlite_bind_text(s, 1, name));
    if (version >= 0) QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_bind_int64(s, 2, version)));
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) json_array_append_new(a, fn(s, ctx));
    QA_TRY(QA_SQLITE_CHECK(r->db, rc));
    *out = a;
    a = NULL;
cleanup:
    json_decref(a);
    sqlite3_finalize(s);
    return st;
}

/* ---- publish ------------------------------------------------------------------------------ */

qa_status qa_registry_model_exists(qa_registry_t *r, const char *name) {
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    QA_TRY(qa_sqlite_prepare(r->db, "SELECT 1 FROM models WHERE name = ?", &s));
    QA_TRY(qa_sqlite_bind_text(s, 1, name));
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) QA_TRY_FAIL(QA_ERR_NOT_FOUND, "model '%s' does not exist in the registry %s", name, r->dir);
    QA_TRY(QA_SQLITE_CHECK(r->db, rc));
cleanup:
    sqlite3_finalize(s);
    return st;
}

/* Rows of the version (inside the publish transaction). */
static qa_status insert_version(qa_registry_t *r, const qa_registry_publish_req *req, const char *sha, long long size,
                                const char *at, const char *who, const char *sig, long *version) {
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    char *metrics = qa_registry_json_text(req->metrics), *lineage = qa_registry_json_text(req->lineage),
         *config = qa_registry_json_text(req->config);
    if (!metrics || !lineage || !config) QA_TRY_FAIL(QA_ERR_NOMEM, "version record");
    QA_TRY(qa_sqlite_prepare(r->db,
                             "INSERT INTO models(name, created, created_by, next_version) VALUES (?1, ?2, ?3, 1) "
                             "ON CONFLICT(name) DO NOTHING",
                             &s));
    QA_TRY(qa_sqlite_bind_text(s, 1, req->name));
    QA_TRY(qa_sqlite_bind_text(s, 2, at));
    QA_TRY(qa_sqlite_bind_text(s, 3, who));
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_step(s)));
    sqlite3_finalize(s);
    QA_TRY(qa_sqlite_prepare(r->db, "UPDATE models SET next_version = next_version + 1 WHERE name = ? "
                                    "RETURNING next_version - 1", &s));
    QA_TRY(qa_sqlite_bind_text(s, 1, req->name));
    if (sqlite3_step(s) != SQLITE_ROW) QA_TRY(QA_SQLITE_CHECK(r->db, SQLITE_ERROR));
    *version = (long)sqlite3_column_int64(s, 0);
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_step(s)));
    sqlite3_finalize(s);
    QA_TRY(qa_sqlite_prepare(r->db,
                             "INSERT INTO versions(model, version, sha256, size, created, created_by, description, "
                             "signature, metrics, lineage, config) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                             &s));
    QA_TRY(qa_sqlite_bind_text(s, 1, req->name));
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_bind_int64(s, 2, *version)));
    QA_TRY(qa_sqlite_bind_text(s, 3, sha));
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_bind_int64(s, 4, size)));
    QA_TRY(qa_sqlite_bind_text(s, 5, at));
    QA_TRY(qa_sqlite_bind_text(s, 6, who));
    QA_TRY(qa_sqlite_bind_text(s, 7, req->description ? req->description : ""));
    QA_TRY(qa_sqlite_bind_text(s, 8, sig));
    QA_TRY(qa_sqlite_bind_text(s, 9, metrics));
    QA_TRY(qa_sqlite_bind_text(s, 10, lineage));
    QA_TRY(qa_sqlite_bind_text(s, 11, config));
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_step(s)));
cleanup:
    sqlite3_finalize(s);
    free(metrics), free(lineage), free(config);
    return st;
}

/* Metric rows (numbers only; searchable) and tag rows of a new version. */
static qa_status insert_metrics_tags(qa_registry_t *r, const char *name, long version, const json_t *metrics,
                                     const json_t *tags) {
    qa_status st = QA_OK;
    sqlite3_stmt *m = NULL, *t = NULL;
    QA_TRY(qa_sqlite_prepare(r->db, "INSERT INTO metrics(model, version, key, value) VALUES (?,?,?,?)", &m));
    QA_TRY(qa_sqlite_prepare(r->db, "INSERT INTO tags(model, version, key, value) VALUES (?,?,?,?)", &t));
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)metrics, k, v) {
        sqlite3_reset(m);
        QA_TRY(qa_sqlite_bind_text(m, 1, name));
        QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_bind_int64(m, 2, version)));
        QA_TRY(qa_sqlite_bind_text(m, 3, k));
        if (json_is_number(v)) QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_bind_double(m, 4, json_number_value(v))));
        else QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_bind_null(m, 4)));
        QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_step(m)));
    }
    json_object_foreach((json_t *)tags, k, v) {
        if (!json_is_string(v)) QA_TRY_FAIL(QA_ERR_INVALID_ARG, "tag '%s' of %s: values are strings", k, name);
        sqlite3_reset(t);
        QA_TRY(qa_sqlite_bind_text(t, 1, name));
        QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_bind_int64(t, 2, version)));
        QA_TRY(qa_sqlite_bind_text(t, 3, k));
        QA_TRY(qa_sqlite_bind_text(t, 4, json_string_value(v)));
        QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_step(t)));
    }
cleanup:
    sqlite3_finalize(m);
    sqlite3_finalize(t);
    return st;
}

qa_status qa_registry_publish(qa_registry_t *r, const qa_registry_publish_req *req, long *version) {
    qa_status st = QA_OK;
    qa_model m;
    memset(&m, 0, sizeof m);
    char *sig = NULL, *bytes = NULL;
    size_t len = 0;
    char sha[65], at[40];
    long v = 0;
    QA_TRY(qa_registry_name_check(req->name, "model name"));
    if (req->metrics && !json_is_object(req->metrics)) QA_TRY_FAIL(QA_ERR_INVALID_ARG, "metrics must be a JSON object");
    if (req->tags && !json_is_object(req->tags)) QA_TRY_FAIL(QA_ERR_INVALID_ARG, "tags must be a JSON object");
    /* The file is read once: the bytes checked completely (container, checksum, shapes)
     * are the bytes hashed and stored. */
    QA_TRY(qa_fs_read_all(req->model_path, &bytes, &len));
    st = qa_model_load_bytes(req->model_path, bytes, len, &m);
    if (st != QA_OK) {
        qa_err_prefix("publishing %s as '%s': ", req->model_path, req->name);
        goto cleanup;
    }
    json_t *sj = qa_registry_signature(&m);
    sig = sj ? qa_registry_json_text(sj) : NULL;
    json_decref(sj);
    if (!sig) QA_TRY_FAIL(QA_ERR_NOMEM, "signature");
    QA_TRY(qa_sha256_hex(bytes, len, sha));
    QA_TRY(qa_registry_artifact_store(r, bytes, len, sha));
    const char *who = qa_registry_who(req->who);
    QA_TRY(qa_sqlite_begin(r->db));
    qa_registry_now(at, sizeof at);
    QA_TRY(insert_version(r, req, sha, (long long)len, at, who, sig, &v));
    QA_TRY(insert_metrics_tags(r, req->name, v, req->metrics, req->tags));
    QA_TRY(qa_registry_event_add(r, at, "version_created", req->name, v, "", who,
                                 json_pack("{s:s, s:I}", "sha256", sha, "size", (json_int_t)len)));
    QA_TRY(qa_sqlite_commit(r->db));
    qa_log_debug("registry: published %s as models:/%s/%ld (sha256 %.12s)", req->model_path, req->name, v, sha);
    *version = v;
cleanup:
    if (st != QA_OK) qa_sqlite_rollback(r->db);
    free(sig);
    free(bytes);
    qa_model_free(&m);
    return st;
}

/* ---- resolve and load --------------------------------------------------------------------- */

/* "alias1, alias2" of a model (for the not-found message). */
static void alias_list(qa_registry_t *r, const char *name, char *buf, size_t n) {
    sqlite3_stmt *s = NULL;
    buf[0] = '\0';
    if (qa_sqlite_prepare(r->db, "SELECT alias, version FROM aliases WHERE model = ? ORDER BY alias", &s) != QA_OK) return;
    qa_sqlite_bind_text(s, 1, name);
    size_t used = 0;
    while (sqlite3_step(s) == SQLITE_ROW && used + 1 < n)
        used += (size_t)snprintf(buf + used, n - used, "%s%s -> %lld", used ? ", " : "", qa_sqlite_text(s, 0),
                                 (long long)sqlite3_column_int64(s, 1));
    sqlite3_finalize(s);
    qa_err_clear();
}

qa_status qa_registry_resolve(qa_registry_t *r, const char *uri, qa_registry_version *out) {
    qa_registry_ref ref;
    QA_TRY_RET(qa_registry_uri_parse(uri, &ref));
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    QA_TRY(qa_registry_model_exists(r, ref.name));
    long v = ref.version;
    if (ref.alias[0]) {
        int latest = strcmp(ref.alias, "latest") == 0;
        QA_TRY(qa_sqlite_prepare(r->db, latest ? "SELECT MAX(version) FROM versions WHERE model = ?1"
                                               : "SELECT version FROM aliases WHERE model = ?1 AND alias = ?2",
                                 &s));
        QA_TRY(qa_sqlite_bind_text(s, 1, ref.name));
        if (!latest) QA_TRY(qa_sqlite_bind_text(s, 2, ref.alias));
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) v = (long)sqlite3_column_int64(s, 0);
        else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
            char have[512];
            alias_list(r, ref.name, have, sizeof have);
            if (latest) QA_TRY_FAIL(QA_ERR_NOT_FOUND, "model '%s' has no versions", ref.name);
            QA_TRY_FAIL(QA_ERR_NOT_FOUND, "model '%s' has no alias '%s' (aliases: %s)", ref.name, ref.alias,
                        have[0] ? have : "none");
        } else QA_TRY(QA_SQLITE_CHECK(r->db, rc));
        sqlite3_finalize(s);
        s = NULL;
    }
    QA_TRY(qa_sqlite_prepare(r->db, "SELECT sha256, size, created, created_by FROM versions WHERE model = ? AND version = ?",
                             &s));
    QA_TRY(qa_sqlite_bind_text(s, 1, ref.name));
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_bind_int64(s, 2, v)));
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(s);
        s = NULL;
        long maxv = 0;
        if (qa_sqlite_prepare(r->db, "SELECT COALESCE(MAX(version), 0) FROM versions WHERE model = ?", &s) == QA_OK &&
            qa_sqlite_bind_text(s, 1, ref.name) == QA_OK && sqlite3_step(s) == SQLITE_ROW)
            maxv = (long)sqlite3_column_int64(s, 0);
        QA_TRY_FAIL(QA_ERR_NOT_FOUND, "model '%s' has no version %ld (latest is %ld; deleted versions stay retired)",
                    ref.name, v, maxv);
    }
    if (rc != SQLITE_ROW) QA_TRY(QA_SQLITE_CHECK(r->db, rc));
    memset(out, 0, sizeof *out);
    snprintf(out->name, sizeof out->name, "%s", ref.name);
    out->version = v;
    snprintf(out->sha256, sizeof out->sha256, "%s", qa_sqlite_text(s, 0));
    out->size = sqlite3_column_int64(s, 1);
    snprintf(out->created, sizeof out->created, "%s", qa_sqlite_text(s, 2));
    snprintf(out->who, sizeof out->who, "%s", qa_sqlite_text(s, 3));
    QA_TRY(qa_registry_artifact_path(r, out->sha256, out->path, NULL));
cleanup:
    sqlite3_finalize(s);
    return st;
}

qa_status qa_registry_load(qa_registry_t *r, const char *uri, qa_model *m, qa_registry_version *info) {
    qa_registry_version v;
    QA_TRY_RET(qa_registry_resolve(r, uri, &v));
    if (!qa_fs_exists(v.path))
        return QA_FAIL(QA_ERR_INTEGRITY, "models:/%s/%ld: artifact %s is missing (field sha256 = %s)", v.name, v.version,
                       v.path, v.sha256);
    /* One read: the bytes hashed are the bytes parsed. */
    char *bytes = NULL, sha[65];
    size_t len = 0;
    qa_status st = qa_fs_read_all(v.path, &bytes, &len);
    if (st == QA_OK) st = qa_sha256_hex(bytes, len, sha);
    if (st == QA_OK && strcmp(sha, v.sha256) != 0)
        st = QA_FAIL(QA_ERR_INTEGRITY,
                     "models:/%s/%ld: artifact %s is corrupted: field sha256 recorded %s, the file hashes to %s; "
                     "nothing was loaded",
                     v.name, v.version, v.path, v.sha256, sha);
    if (st == QA_OK && (st = qa_model_load_bytes(v.path, bytes, len, m)) != QA_OK)
        qa_err_prefix("models:/%s/%ld: ", v.name, v.version);
    free(bytes);
    if (st == QA_OK && info) *info = v;
    return st;
}
