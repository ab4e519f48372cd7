/* Registry administration and reading: aliases and their audit trail, tags, deleting
 * versions, show / search / diff, verify and garbage collection (registry.h). */
#include "registry/registry_internal.h"

#include <dirent.h>    /* opendir: the artifact tree */
#include <errno.h>     /* errno */
#include <stdlib.h>    /* strtod, free */
#include <string.h>    /* strcmp, strstr, strncmp */
#include <sys/stat.h>  /* stat: ages of files for gc */
#include <time.h>      /* time */
#include <unistd.h>    /* unlink */

#include "common/hash.h"    /* re-hashing artifacts */
#include "common/sqlite.h"  /* statements, transactions */
#include "common/strbuf.h"  /* search SQL */

/* Version exists (QA_ERR_NOT_FOUND naming it otherwise). */
static qa_status version_exists(qa_registry_t *r, const char *name, long version) {
    char uri[160];
    snprintf(uri, sizeof uri, "models:/%s/%ld", name, version);
    qa_registry_version v;
    return qa_registry_resolve(r, uri, &v);
}

/* Whether `who` may move the alias: no protection row, or who is on its list. */
static qa_status alias_permitted(qa_registry_t *r, const char *name, const char *alias, const char *who) {
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    QA_TRY(qa_sqlite_prepare(r->db, "SELECT users FROM alias_protection WHERE model = ? AND alias = ?", &s));
    QA_TRY(qa_sqlite_bind_text(s, 1, name));
    QA_TRY(qa_sqlite_bind_text(s, 2, alias));
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *users = qa_sqlite_text(s, 0);
        int ok = 0;
        for (const char *p = users; *p;) {
            const char *e = strchr(p, ',');
            size_t n = e ? (size_t)(e - p) : strlen(p);
            if (n == strlen(who) && strncmp(p, who, n) == 0) ok = 1;
            p += n + (e ? 1 : 0);
        }
        if (!ok)
            QA_TRY_FAIL(QA_ERR_STATE, "alias '%s' of model '%s' is protected: only %s may move or delete it (you are %s)",
                        alias, name, users, who);
    } else QA_TRY(QA_SQLITE_CHECK(r->db, rc));
cleanup:
    sqlite3_finalize(s);
    return st;
}

/* The alias's current version (0 when unset). */
static qa_status alias_current(qa_registry_t *r, const char *name, const char *alias, long *v) {
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    *v = 0;
    QA_TRY(qa_sqlite_prepare(r->db, "SELECT version FROM aliases WHERE model = ? AND alias = ?", &s));
    QA_TRY(qa_sqlite_bind_text(s, 1, name));
    QA_TRY(qa_sqlite_bind_text(s, 2, alias));
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) *v = (long)sqlite3_column_int64(s, 0);
    else QA_TRY(QA_SQLITE_CHECK(r->db, rc));
cleanup:
    sqlite3_finalize(s);
    return st;
}

/* Moves (to > 0) or deletes (to == 0) an alias with its history row and event. */
static qa_status alias_change(qa_registry_t *r, const char *name, const char *alias, long to, const char *who_in,
                              const char *why) {
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    char at[40];
    const char *who = qa_registry_who(who_in);
    long from = 0;
    QA_TRY_RET(qa_registry_name_check(alias, "alias"));
    QA_TRY(qa_sqlite_begin(r->db));
    if (to > 0) QA_TRY(version_exists(r, name, to));
    else QA_TRY(qa_registry_model_exists(r, name));
    QA_TRY(alias_permitted(r, name, alias, who));
    QA_TRY(alias_current(r, name, alias, &from));
    if (to == 0 && from == 0) QA_TRY_FAIL(QA_ERR_NOT_FOUND, "model '%s' has no alias '%s' to delete", name, alias);
    qa_registry_now(at, sizeof at);
    QA_TRY(qa_sqlite_prepare(r->db,
                             to > 0 ? "INSERT INTO aliases(model, alias, version, updated, updated_by) VALUES (?1,?2,?3,?4,?5) "
                                      "ON CONFLICT(model, alias) DO UPDATE SET version = ?3, updated = ?4, updated_by = ?5"
                                    : "DELETE FROM aliases WHERE model = ?1 AND alias = ?2",
                             &s));
    QA_TRY(qa_sqlite_bind_text(s, 1, name));
    QA_TRY(qa_sqlite_bind_text(s, 2, alias));
    if (to > 0) {
        QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_bind_int64(s, 3, to)));
        QA_TRY(qa_sqlite_bind_text(s, 4, at));
        QA_TRY(qa_sqlite_bind_text(s, 5, who));
    }
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_step(s)));
    sqlite3_finalize(s);
    QA_TRY(qa_sqlite_prepare(r->db,
                             "INSERT INTO alias_history(model, alias, from_version, to_version, at, who, why) "
                             "VALUES (?,?,?,?,?,?,?)",
                             &s));
    QA_TRY(qa_sqlite_bind_text(s, 1, name));
    QA_TRY(qa_sqlite_bind_text(s, 2, alias));
    QA_TRY(QA_SQLITE_CHECK(r->db, from ? sqlite3_bind_int64(s, 3, from) : sqlite3_bind_null(s, 3)));
    QA_TRY(QA_SQLITE_CHECK(r->db, to ? sqlite3_bind_int64(s, 4, to) : sqlite3_bind_null(s, 4)));
    QA_TRY(qa_sqlite_bind_text(s, 5, at));
    QA_TRY(qa_sqlite_bind_text(s, 6, who));
    QA_TRY(qa_sqlite_bind_text(s, 7, why ? why : ""));
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_step(s)));
    QA_TRY(qa_registry_event_add(r, at, to ? "alias_set" : "alias_deleted", name, to ? to : from, alias, who,
                                 json_pack("{s:o, s:o, s:s}", "from", from ? json_integer(from) : json_null(), "to",
                                           to ? json_integer(to) : json_null(), "why", why ? why : "")));
    QA_TRY(qa_sqlite_commit(r->db));
cleanup:
    if (st != QA_OK) qa_sqlite_rollback(r->db);
    sqlite3_finalize(s);
    return st;
}

qa_status qa_registry_alias_set(qa_registry_t *r, const char *name, const char *alias, long version, const char *who,
                                const char *why) {
    if (version < 1) return QA_FAIL(QA_ERR_INVALID_ARG, "alias '%s': version %ld is not a version number", alias, version);
    return alias_change(r, name, alias, version, who, why);
}

qa_status qa_registry_alias_delete(qa_registry_t *r, const char *name, const char *alias, const char *who,
                                   const char *why) {
    return alias_change(r, name, alias, 0, who, why);
}

qa_status qa_registry_alias_protect(qa_registry_t *r, const char *name, const char *alias, const char *users,
                                    const char *who_in) {
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    char at[40];
    const char *who = qa_registry_who(who_in);
    QA_TRY_RET(qa_registry_name_check(alias, "alias"));
    QA_TRY(qa_sqlite_begin(r->db));
    QA_TRY(qa_registry_model_exists(r, name));
    /* Changing a protection is itself protected: only a listed user may change the list. */
    QA_TRY(alias_permitted(r, name, alias, who));
    QA_TRY(qa_sqlite_prepare(r->db,
                             users && *users ? "INSERT INTO alias_protection(model, alias, users) VALUES (?1,?2,?3) "
                                               "ON CONFLICT(model, alias) DO UPDATE SET users = ?3"
                                             : "DELETE FROM alias_protection WHERE model = ?1 AND alias = ?2",
                             &s));
    QA_TRY(qa_sqlite_bind_text(s, 1, name));
    QA_TRY(qa_sqlite_bind_text(s, 2, alias));
    if (users && *users) QA_TRY(qa_sqlite_bind_text(s, 3, users));
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_step(s)));
    qa_registry_now(at, sizeof at);
    QA_TRY(qa_registry_event_add(r, at, "alias_protected", name, 0, alias, who,
                                 json_pack("{s:s}", "users", users ? users : "")));
    QA_TRY(qa_sqlite_commit(r->db));
cleanup:
    if (st != QA_OK) qa_sqlite_rollback(r->db);
    sqlite3_finalize(s);
    return st;
}

qa_status qa_registry_tag(qa_registry_t *r, const char *name, long version, const char *key, const char *value,
                          const char *who_in) {
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    char at[40];
    const char *who = qa_registry_who(who_in);
    if (!key || !*key) return QA_FAIL(QA_ERR_INVALID_ARG, "empty tag key");
    QA_TRY(qa_sqlite_begin(r->db));
    if (version > 0) QA_TRY(version_exists(r, name, version));
    else QA_TRY(qa_registry_model_exists(r, name));
    QA_TRY(qa_sqlite_prepare(r->db,
                             value ? "INSERT INTO tags(model, version, key, value) VALUES (?1,?2,?3,?4) "
                                     "ON CONFLICT(model, version, key) DO UPDATE SET value = ?4"
                                   : "DELETE FROM tags WHERE model = ?1 AND version = ?2 AND key = ?3",
                             &s));
    QA_TRY(qa_sqlite_bind_text(s, 1, name));
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_bind_int64(s, 2, version)));
    QA_TRY(qa_sqlite_bind_text(s, 3, key));
    if (value) QA_TRY(qa_sqlite_bind_text(s, 4, value));
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_step(s)));
    if (!value && sqlite3_changes(r->db) == 0)
        QA_TRY_FAIL(QA_ERR_NOT_FOUND, "model '%s' version %ld has no tag '%s'", name, version, key);
    qa_registry_now(at, sizeof at);
    QA_TRY(qa_registry_event_add(r, at, value ? "tag_set" : "tag_deleted", name, version, "", who,
                                 json_pack("{s:s, s:o}", "key", key, "value", value ? json_string(value) : json_null())));
    QA_TRY(qa_sqlite_commit(r->db));
cleanup:
    if (st != QA_OK) qa_sqlite_rollback(r->db);
    sqlite3_finalize(s);
    return st;
}

qa_status qa_registry_delete(qa_registry_t *r, const char *name, long version, const char *who_in, const char *why) {
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    char at[40], sha[65] = "";
    const char *who = qa_registry_who(who_in);
    QA_TRY(qa_sqlite_begin(r->db));
    QA_TRY(version_exists(r, name, version));
    QA_TRY(qa_sqlite_prepare(r->db, "SELECT group_concat(alias, ', ') FROM aliases WHERE model = ? AND version = ?", &s));
    QA_TRY(qa_sqlite_bind_text(s, 1, name));
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_bind_int64(s, 2, version)));
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        QA_TRY_FAIL(QA_ERR_STATE, "models:/%s/%ld is not deleted: aliases point to it (%s); move or delete them first", name,
                    version, qa_sqlite_text(s, 0));
    sqlite3_finalize(s);
    QA_TRY(qa_sqlite_prepare(r->db, "SELECT sha256 FROM versions WHERE model = ?1 AND version = ?2", &s));
    QA_TRY(qa_sqlite_bind_text(s, 1, name));
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_bind_int64(s, 2, version)));
    if (sqlite3_step(s) == SQLITE_ROW) snprintf(sha, sizeof sha, "%s", qa_sqlite_text(s, 0));
    sqlite3_finalize(s);
    QA_TRY(qa_sqlite_prepare(r->db, "DELETE FROM tags WHERE model = ?1 AND version = ?2; ", &s));
    QA_TRY(qa_sqlite_bind_text(s, 1, name));
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_bind_int64(s, 2, version)));
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_step(s)));
    sqlite3_finalize(s);
    QA_TRY(qa_sqlite_prepare(r->db, "DELETE FROM versions WHERE model = ?1 AND version = ?2", &s));
    QA_TRY(qa_sqlite_bind_text(s, 1, name));
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_bind_int64(s, 2, version)));
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_step(s)));
    qa_registry_now(at, sizeof at);
    QA_TRY(qa_registry_event_add(r, at, "version_deleted", name, version, "", who,
                                 json_pack("{s:s, s:s}", "sha256", sha, "why", why ? why : "")));
    QA_TRY(qa_sqlite_commit(r->db));
cleanup:
    if (st != QA_OK) qa_sqlite_rollback(r->db);
    sqlite3_finalize(s);
    return st;
}

/* ---- show ------------------------------------------------------------------------------- */

static json_t *pair_row(sqlite3_stmt *s, const void *ctx) {
    (void)ctx;
    return json_pack("[s,s]", qa_sqlite_text(s, 0), qa_sqlite_text(s, 1));
}

static json_t *text_row(sqlite3_stmt *s, const void *ctx) {
    (void)ctx;
    return json_string(qa_sqlite_text(s, 0));
}

/* {key: value} of the tags of (name, version). */
static qa_status tags_of(qa_registry_t *r, const char *name, long version, json_t **out) {
    json_t *pairs = NULL;
    QA_TRY_RET(qa_registry_rows(r, "SELECT key, value FROM tags WHERE model = ?1 AND version = ?2 ORDER BY key", name,
                                version, pair_row, NULL, &pairs));
    *out = json_object();
    size_t i;
    json_t *p;
    json_array_foreach(pairs, i, p) json_object_set(*out, json_string_value(json_array_get(p, 0)), json_array_get(p, 1));
    json_decref(pairs);
    return QA_OK;
}

/* Names of the aliases pointing at a version, sorted. */
static qa_status aliases_of(qa_registry_t *r, const char *name, long version, json_t **out) {
    return qa_registry_rows(r, "SELECT alias FROM aliases WHERE model = ?1 AND version = ?2 ORDER BY alias", name,
                            version, text_row, NULL, out);
}

static qa_status show_version(qa_registry_t *r, const qa_registry_version *v, json_t **out) {
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    json_t *o = NULL, *tags = NULL, *al = NULL;
    char rel[128], abs[QA_PATH_MAX];
    QA_TRY(qa_sqlite_prepare(r->db,
                             "SELECT description, signature, metrics, lineage, config FROM versions WHERE model = ? AND "
                             "version = ?",
                             &s));
    QA_TRY(qa_sqlite_bind_text(s, 1, v->name));
    QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_bind_int64(s, 2, v->version)));
    if (sqlite3_step(s) != SQLITE_ROW) QA_TRY_FAIL(QA_ERR_NOT_FOUND, "models:/%s/%ld vanished", v->name, v->version);
    QA_TRY(tags_of(r, v->name, v->version, &tags));
    QA_TRY(aliases_of(r, v->name, v->version, &al));
    QA_TRY(qa_registry_artifact_path(r, v->sha256, abs, rel));
    char uri[160];
    snprintf(uri, sizeof uri, "models:/%s/%ld", v->name, v->version);
    o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:{s:s, s:I, s:s}, s:o, s:o, s:o, s:o, s:o, s:o}", "uri", uri, "name",
                  v->name, "version", (json_int_t)v->version, "created", v->created, "created_by", v->who, "description",
                  qa_sqlite_text(s, 0), "artifact", "sha256", v->sha256, "size", (json_int_t)v->size, "path", rel,
                  "aliases", al, "tags", tags, "metrics", qa_registry_json_col(s, 2), "signature",
                  qa_registry_json_col(s, 1), "lineage", qa_registry_json_col(s, 3), "config", qa_registry_json_col(s, 4));
    al = tags = NULL;
    if (!o) QA_TRY_FAIL(QA_ERR_NOMEM, "show");
    *out = o;
cleanup:
    json_decref(tags);
    json_decref(al);
    sqlite3_finalize(s);
    return st;
}

static json_t *int_or_null(sqlite3_stmt *s, int col) {
    return sqlite3_column_type(s, col) == SQLITE_NULL ? json_null() : json_integer(sqlite3_column_int64(s, col));
}

static json_t *history_row(sqlite3_stmt *s, const void *ctx) {
    (void)ctx;
    return json_pack("{s:s, s:o, s:o, s:s, s:s, s:s}", "alias", qa_sqlite_text(s, 0), "from", int_or_null(s, 1), "to",
                     int_or_null(s, 2), "at", qa_sqlite_text(s, 3), "who", qa_sqlite_text(s, 4), "why",
                     qa_sqlite_text(s, 5));
}

static json_t *alias_row(sqlite3_stmt *s, const void *ctx) {
    (void)ctx;
    return json_pack("{s:s, s:I, s:s, s:s, s:s}", "alias", qa_sqlite_text(s, 0), "version",
                     (json_int_t)sqlite3_column_int64(s, 1), "updated", qa_sqlite_text(s, 2), "updated_by",
                     qa_sqlite_text(s, 3), "protected_for", qa_sqlite_text(s, 4));
}

static json_t *version_row(sqlite3_stmt *s, const void *ctx) {
    (void)ctx;
    return json_pack("{s:I, s:s, s:s, s:s, s:I, s:o}", "version", (json_int_t)sqlite3_column_int64(s, 0), "created",
                     qa_sqlite_text(s, 1), "created_by", qa_sqlite_text(s, 2), "sha256", qa_sqlite_text(s, 3), "size",
                     (json_int_t)sqlite3_column_int64(s, 4), "metrics", qa_registry_json_col(s, 5));
}

static qa_status show_model(qa_registry_t *r, const char *name, json_t **out) {
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    json_t *o = NULL, *tags = NULL, *vers = NULL, *al = NULL, *hist = NULL;
    QA_TRY(qa_registry_model_exists(r, name));
    QA_TRY(qa_sqlite_prepare(r->db, "SELECT created, created_by, next_version FROM models WHERE name = ?", &s));
    QA_TRY(qa_sqlite_bind_text(s, 1, name));
    if (sqlite3_step(s) != SQLITE_ROW) QA_TRY(QA_SQLITE_CHECK(r->db, SQLITE_ERROR));
    QA_TRY(tags_of(r, name, 0, &tags));
    QA_TRY(qa_registry_rows(r, "SELECT version, created, created_by, sha256, size, metrics FROM versions WHERE model = ?1 "
                               "ORDER BY version",
                            name, -1, version_row, NULL, &vers));
    QA_TRY(qa_registry_rows(r,
                            "SELECT a.alias, a.version, a.updated, a.updated_by, COALESCE(p.users, '') FROM aliases a "
                            "LEFT JOIN alias_protection p ON p.model = a.model AND p.alias = a.alias WHERE a.model = ?1 "
                            "ORDER BY a.alias",
                            name, -1, alias_row, NULL, &al));
    QA_TRY(qa_registry_rows(r, "SELECT alias, from_version, to_version, at, who, why FROM alias_history WHERE model = ?1 "
                               "ORDER BY id",
                            name, -1, history_row, NULL, &hist));
    o = json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o}", "name", name, "created", qa_sqlite_text(s, 0), "created_by",
                  qa_sqlite_text(s, 1), "next_version", (json_int_t)sqlite3_column_int64(s, 2), "tags", tags, "versions",
                  vers, "aliases", al, "alias_history", hist);
    tags = vers = al = hist = NULL;
    if (!o) QA_TRY_FAIL(QA_ERR_NOMEM, "show");
    *out = o;
cleanup:
    json_decref(tags), json_decref(vers), json_decref(al), json_decref(hist);
    sqlite3_finalize(s);
    return st;
}

qa_status qa_registry_show(qa_registry_t *r, const char *what, json_t **out) {
    *out = NULL;
    const char *p = qa_registry_is_uri(what) ? what + 8 : what;
    if (!strchr(p, '/') && !strchr(p, '@')) return show_model(r, p, out);
    qa_registry_version v;
    QA_TRY_RET(qa_registry_resolve(r, what, &v));
    return show_version(r, &v, out);
}

/* ---- search ------------------------------------------------------------------------------ */

/* "name OP number" with OP one of >=, <=, !=, >, <, =. */
static qa_status parse_metric(const char *q, char *name, size_t n, const char **op, double *value) {
    static const char *const ops[] = {">=", "<=", "!=", ">", "<", "="};
    for (const char *p = q; *p; p++)
        for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
            if (strncmp(p, ops[i], strlen(ops[i])) == 0) {
                size_t k = (size_t)(p - q);
                if (k == 0 || k >= n) break;
                memcpy(name, q, k);
                name[k] = '\0';
                const char *num = p + strlen(ops[i]);
                char *end = NULL;
                *value = strtod(num, &end);
                if (!*num || *end) return QA_FAIL(QA_ERR_INVALID_ARG, "metric filter '%s': '%s' is not a number", q, num);
                *op = ops[i];
                return QA_OK;
            }
    return QA_FAIL(QA_ERR_INVALID_ARG, "metric filter '%s': expected NAME OP NUMBER with OP one of >= <= != > < =", q);
}

static json_t *summary_row(sqlite3_stmt *s) {
    char uri[160];
    snprintf(uri, sizeof uri, "models:/%s/%lld", qa_sqlite_text(s, 0), (long long)sqlite3_column_int64(s, 1));
    json_t *al = json_array();
    const char *a = qa_sqlite_text(s, 5);
    for (const char *p = a; *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        json_array_append_new(al, json_stringn(p, n));
        p += n + (e ? 1 : 0);
    }
    return json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:o, s:o}", "uri", uri, "name", qa_sqlite_text(s, 0), "version",
                     (json_int_t)sqlite3_column_int64(s, 1), "created", qa_sqlite_text(s, 2), "created_by",
                     qa_sqlite_text(s, 3), "sha256", qa_sqlite_text(s, 4), "aliases", al, "metrics",
                     qa_registry_json_col(s, 6));
}

qa_status qa_registry_search(qa_registry_t *r, const qa_registry_query *q, json_t **out) {
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    json_t *a = json_array();
    qa_strbuf sql;
    qa_strbuf_init(&sql);
    char mname[128], tkey[256] = "";
    const char *op = NULL, *tval = NULL;
    double mval = 0;
    if (q->metric) QA_TRY(parse_metric(q->metric, mname, sizeof mname, &op, &mval));
    if (q->tag) {
        snprintf(tkey, sizeof tkey, "%s", q->tag);
        char *eq = strchr(tkey, '=');
        if (eq) *eq = '\0', tval = eq + 1;
    }
    qa_strbuf_printf(&sql,
                      "SELECT v.model, v.version, v.created, v.created_by, v.sha256, (SELECT group_concat(alias, ',') "
                      "FROM (SELECT alias FROM aliases a WHERE a.model = v.model AND a.version = v.version ORDER BY "
                      "alias)), v.metrics FROM versions v WHERE 1");
    if (q->name) qa_strbuf_printf(&sql, " AND v.model GLOB ?1");
    if (q->tag)
        qa_strbuf_printf(&sql, " AND EXISTS (SELECT 1 FROM tags t WHERE t.model = v.model AND t.version IN (v.version, 0) "
                                "AND t.key = ?2%s)", tval ? " AND t.value = ?3" : "");
    if (q->alias)
        qa_strbuf_printf(&sql, " AND EXISTS (SELECT 1 FROM aliases a WHERE a.model = v.model AND a.version = v.version "
                                "AND a.alias = ?4)");
    if (op)
        qa_strbuf_printf(&sql, " AND EXISTS (SELECT 1 FROM metrics m WHERE m.model = v.model AND m.version = v.version "
                                "AND m.key = ?5 AND m.value %s ?6)", op);
    qa_strbuf_printf(&sql, " ORDER BY v.model, v.version");
    QA_TRY(qa_strbuf_status(&sql));
    QA_TRY(qa_sqlite_prepare(r->db, qa_strbuf_str(&sql), &s));
    if (q->name) QA_TRY(qa_sqlite_bind_text(s, 1, q->name));
    if (q->tag) QA_TRY(qa_sqlite_bind_text(s, 2, tkey));
    if (tval) QA_TRY(qa_sqlite_bind_text(s, 3, tval));
    if (q->alias) QA_TRY(qa_sqlite_bind_text(s, 4, q->alias));
    if (op) {
        QA_TRY(qa_sqlite_bind_text(s, 5, mname));
        QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_bind_double(s, 6, mval)));
    }
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) json_array_append_new(a, summary_row(s));
    QA_TRY(QA_SQLITE_CHECK(r->db, rc));
    *out = a;
    a = NULL;
cleanup:
    json_decref(a);
    sqlite3_finalize(s);
    qa_strbuf_free(&sql);
    return st;
}

/* ---- diff -------------------------------------------------------------------------------- */

/* Leaves of j as "a.b[2].c" -> value into flat (borrowed values are increfed). */
static void flatten(const json_t *j, const char *prefix, json_t *flat) {
    char key[512];
    if (json_is_object(j) && json_object_size(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v) {
            snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", k);
            flatten(v, key, flat);
        }
    } else if (json_is_array(j) && json_array_size(j)) {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) {
            snprintf(key, sizeof key, "%s[%zu]", prefix, i);
            flatten(v, key, flat);
        }
    } else {
        json_object_set(flat, prefix, (json_t *)j);
    }
}

qa_status qa_registry_diff(qa_registry_t *r, const char *a, const char *b, json_t **out) {
    static const char *const sections[] = {"artifact", "signature", "metrics", "config", "lineage", "tags"};
    qa_status st = QA_OK;
    json_t *ja = NULL, *jb = NULL, *d = json_array();
    QA_TRY(qa_registry_show(r, a, &ja));
    QA_TRY(qa_registry_show(r, b, &jb));
    if (!json_object_get(ja, "version") || !json_object_get(jb, "version"))
        QA_TRY_FAIL(QA_ERR_INVALID_ARG, "diff compares two versions (models:/NAME/V or NAME@ALIAS), not models");
    for (size_t i = 0; i < sizeof sections / sizeof *sections; i++) {
        json_t *fa = json_object(), *fb = json_object();
        flatten(json_object_get(ja, sections[i]), "", fa);
        flatten(json_object_get(jb, sections[i]), "", fb);
        const char *k;
        json_t *v;
        json_object_foreach(fa, k, v) {
            json_t *w = json_object_get(fb, k);
            if (!w || !json_equal(v, w))
                json_array_append_new(d, json_pack("{s:s, s:s, s:O, s:O}", "section", sections[i], "key", k, "a", v, "b",
                                                   w ? w : json_null()));
        }
        json_object_foreach(fb, k, v) if (!json_object_get(fa, k)) json_array_append_new(
            d, json_pack("{s:s, s:s, s:n, s:O}", "section", sections[i], "key", k, "a", "b", v));
        json_decref(fa);
        json_decref(fb);
    }
    *out = d;
    d = NULL;
cleanup:
    json_decref(ja);
    json_decref(jb);
    json_decref(d);
    return st;
}

/* ---- verify and gc ---------------------------------------------------------------------- */

qa_status qa_registry_verify(qa_registry_t *r, FILE *report, long *checked, long *bad) {
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    *checked = *bad = 0;
    char last_sha[65] = "", last_got[65] = "";
    int last_ok = 0;
    QA_TRY(qa_sqlite_prepare(r->db, "SELECT model, version, sha256 FROM versions ORDER BY sha256, model, version", &s));
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *sha = qa_sqlite_text(s, 2);
        char path[QA_PATH_MAX];
        QA_TRY(qa_registry_artifact_path(r, sha, path, NULL));
        if (strcmp(sha, last_sha) != 0) { /* each artifact hashed once */
            snprintf(last_sha, sizeof last_sha, "%s", sha);
            last_ok = qa_fs_exists(path) && qa_sha256_file_hex(path, last_got) == QA_OK;
            if (!last_ok) qa_err_clear();
        }
        (*checked)++;
        if (!last_ok || strcmp(last_got, sha) != 0) {
            (*bad)++;
            if (report)
                fprintf(report, "models:/%s/%lld: artifact %s %s\n", qa_sqlite_text(s, 0),
                        (long long)sqlite3_column_int64(s, 1), path,
                        !last_ok ? "is missing or unreadable" : "is corrupted (its bytes no longer hash to the recorded sha256)");
        }
    }
    QA_TRY(QA_SQLITE_CHECK(r->db, rc));
cleanup:
    sqlite3_finalize(s);
    return st;
}

/* Whether a version references the digest. */
static qa_status referenced(qa_registry_t *r, sqlite3_stmt *s, const char *sha, int *yes) {
    sqlite3_reset(s);
    QA_TRY_RET(qa_sqlite_bind_text(s, 1, sha));
    int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return QA_SQLITE_CHECK(r->db, rc);
    *yes = rc == SQLITE_ROW;
    return QA_OK;
}

qa_status qa_registry_gc(qa_registry_t *r, int apply, FILE *report, long *files, long long *bytes) {
    /* A publisher stores the artifact before its version commits: files younger than
     * the grace period are never collected, so gc cannot race a publish in flight. */
    const time_t grace = 3600, now = time(NULL);
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    DIR *top = NULL, *sub = NULL;
    char art[QA_PATH_MAX];
    *files = 0;
    *bytes = 0;
    QA_TRY(qa_path_join(art, r->dir, "artifacts"));
    QA_TRY(qa_sqlite_prepare(r->db, "SELECT 1 FROM versions WHERE sha256 = ? LIMIT 1", &s));
    top = opendir(art);
    if (!top) QA_TRY_FAIL(QA_ERR_IO, "cannot read %s: %s", art, strerror(errno));
    struct dirent *d;
    while ((d = readdir(top))) {
        if (d->d_name[0] == '.' || strlen(d->d_name) != 2) continue;
        char dir[QA_PATH_MAX];
        QA_TRY(qa_path_join(dir, art, "%s", d->d_name));
        sub = opendir(dir);
        if (!sub) continue;
        struct dirent *e;
        while ((e = readdir(sub))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char path[QA_PATH_MAX];
            struct stat sb;
            QA_TRY(qa_path_join(path, dir, "%s", e->d_name));
            if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) || now - sb.st_mtime < grace) continue;
            int tmp = e->d_name[0] == '.' && strstr(e->d_name, ".tmp-") != NULL, used = 0;
            size_t n = strlen(e->d_name);
            if (!tmp) {
                if (n != 68 || strcmp(e->d_name + 64, ".qam") != 0) continue; /* not ours: leave it */
                char sha[65];
                memcpy(sha, e->d_name, 64);
                sha[64] = '\0';
                QA_TRY(referenced(r, s, sha, &used));
            }
            if (used) continue;
            (*files)++;
            *bytes += sb.st_size;
            if (report) fprintf(report, "%s %s (%lld bytes%s)\n", apply ? "removed" : "would remove", path,
                                (long long)sb.st_size, tmp ? ", temporary file of an interrupted write" : "");
            if (apply && unlink(path) != 0) QA_TRY_FAIL(QA_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
        }
        closedir(sub);
        sub = NULL;
    }
cleanup:
    if (sub) closedir(sub);
    if (top) closedir(top);
    sqlite3_finalize(s);
    return st;
}
