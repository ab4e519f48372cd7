/* Registry bundles: one file carrying a model's whole record (versions with their
 * artifacts, tags, metrics, aliases, protections and alias history) between registries
 * (registry.h). The file is a common/container.h container ("\x89QAREGB\n"): JSON
 * metadata, the artifacts concatenated as payload (each distinct digest once, at the
 * offset its entry gives), and the SHA-256 trailer. */
#include "registry/registry_internal.h"

#include <stdlib.h>  /* malloc, free */
#include <string.h>  /* memcpy, strcmp */

#include "common/container.h" /* the file format */
#include "common/hash.h"      /* artifact digests */
#include "common/sqlite.h"    /* statements, transactions */
#include "common/strbuf.h"    /* payload assembly */

static const unsigned char MAGIC[8] = {0x89, 'Q', 'A', 'R', 'E', 'G', 'B', '\n'};
#define BUNDLE_FORMAT "quantumalpha.registry-bundle"
#define BUNDLE_VERSION 1

/* A row as an object keyed by the column names; the columns named in ctx (",a,b,") hold
 * JSON text and are parsed. */
static json_t *columns_row(sqlite3_stmt *s, const void *ctx) {
    const char *json_cols = ctx;
    json_t *o = json_object();
    for (int c = 0; c < sqlite3_column_count(s); c++) {
        const char *col = sqlite3_column_name(s, c);
        char pat[80];
        snprintf(pat, sizeof pat, ",%s,", col);
        json_t *v;
        if (sqlite3_column_type(s, c) == SQLITE_NULL) v = json_null();
        else if (sqlite3_column_type(s, c) == SQLITE_INTEGER) v = json_integer(sqlite3_column_int64(s, c));
        else if (sqlite3_column_type(s, c) == SQLITE_FLOAT) v = json_real(sqlite3_column_double(s, c));
        else if (strstr(json_cols, pat)) v = qa_registry_json_col(s, c);
        else v = json_string(qa_sqlite_text(s, c));
        json_object_set_new(o, col, v);
    }
    return o;
}

/* Every row of `sql` (?1 = the model name) as objects (columns_row). */
static qa_status table(qa_registry_t *r, const char *sql, const char *name, const char *json_cols, json_t **out) {
    return qa_registry_rows(r, sql, name, -1, columns_row, json_cols, out);
}

static const char JSON_COLS[] = ",signature,metrics,lineage,config,";

/* Keeps the rows of `rows` whose "version" is one of the chosen (or 0, when keep0). */
static void keep_versions(json_t *rows, const long *versions, int n, int keep0) {
    for (size_t i = json_array_size(rows); i-- > 0;) {
        json_int_t v = json_integer_value(json_object_get(json_array_get(rows, i), "version"));
        int keep = keep0 && v == 0;
        for (int k = 0; k < n && !keep; k++) keep = v == versions[k];
        if (!keep) json_array_remove(rows, i);
    }
}

qa_status qa_registry_export(qa_registry_t *r, const char *name, const long *chosen, int nversions, const char *path) {
    qa_status st = QA_OK;
    json_t *doc = NULL, *model = NULL, *versions = NULL, *tags = NULL, *metrics = NULL, *aliases = NULL, *prot = NULL,
           *hist = NULL, *arts = json_object();
    char *text = NULL, *data = NULL;
    qa_strbuf payload;
    qa_strbuf_init(&payload);
    QA_TRY(qa_sqlite_begin(r->db)); /* one consistent snapshot of every table */
    QA_TRY(qa_registry_model_exists(r, name));
    QA_TRY(table(r, "SELECT name, created, created_by, next_version FROM models WHERE name = ?1", name, JSON_COLS, &model));
    QA_TRY(table(r,
                 "SELECT version, sha256, size, created, created_by, description, signature, metrics, lineage, config "
                 "FROM versions WHERE model = ?1 ORDER BY version",
                 name, JSON_COLS, &versions));
    QA_TRY(table(r, "SELECT version, key, value FROM tags WHERE model = ?1 ORDER BY version, key", name, JSON_COLS, &tags));
    QA_TRY(table(r, "SELECT version, key, value FROM metrics WHERE model = ?1 ORDER BY version, key", name, JSON_COLS,
                 &metrics));
    QA_TRY(table(r, "SELECT alias, version, updated, updated_by FROM aliases WHERE model = ?1 ORDER BY alias", name,
                 JSON_COLS, &aliases));
    QA_TRY(table(r, "SELECT alias, users FROM alias_protection WHERE model = ?1 ORDER BY alias", name, JSON_COLS, &prot));
    QA_TRY(table(r,
                 "SELECT alias, from_version, to_version, at, who, why FROM alias_history WHERE model = ?1 ORDER BY id",
                 name, JSON_COLS, &hist));
    qa_sqlite_rollback(r->db); /* read-only: end the snapshot */
    if (nversions > 0) {
        keep_versions(versions, chosen, nversions, 0);
        if (json_array_size(versions) != (size_t)nversions)
            QA_TRY_FAIL(QA_ERR_NOT_FOUND, "model '%s': %d version(s) asked for export, %zu exist", name, nversions,
                        json_array_size(versions));
        keep_versions(tags, chosen, nversions, 1);
        keep_versions(metrics, chosen, nversions, 0);
        keep_versions(aliases, chosen, nversions, 0);
    }
    /* Artifacts: each digest once, checked against its recorded hash before it is packed. */
    size_t i;
    json_t *v;
    json_array_foreach(versions, i, v) {
        const char *sha = json_string_value(json_object_get(v, "sha256"));
        if (!sha || json_object_get(arts, sha)) continue;
        char p[QA_PATH_MAX], got[65];
        size_t n = 0;
        QA_TRY(qa_registry_artifact_path(r, sha, p, NULL));
        QA_TRY(qa_fs_read_all(p, &data, &n));
        QA_TRY(qa_sha256_hex(data, n, got));
        if (strcmp(got, sha) != 0)
            QA_TRY_FAIL(QA_ERR_INTEGRITY, "models:/%s/%lld: artifact %s is corrupted (hashes to %s); not exported", name,
                        (long long)json_integer_value(json_object_get(v, "version")), p, got);
        json_object_set_new(arts, sha, json_pack("{s:I, s:I}", "offset", (json_int_t)payload.len, "size", (json_int_t)n));
        qa_strbuf_append_n(&payload, data, n);
        free(data);
        data = NULL;
    }
    QA_TRY(qa_strbuf_status(&payload));
    doc = json_pack("{s:s, s:i, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O}", "format", BUNDLE_FORMAT, "format_version",
                    BUNDLE_VERSION, "model", json_array_get(model, 0), "versions", versions, "tags", tags, "metrics",
                    metrics, "aliases", aliases, "alias_protection", prot, "alias_history", hist, "artifacts", arts);
    text = doc ? json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17)) : NULL;
    if (!text) QA_TRY_FAIL(QA_ERR_NOMEM, "bundle metadata");
    QA_TRY(qa_container_write(path, MAGIC, BUNDLE_VERSION, text, strlen(text), qa_strbuf_str(&payload), payload.len, NULL));
cleanup:
    qa_sqlite_rollback(r->db);
    json_decref(doc), json_decref(model), json_decref(versions), json_decref(tags), json_decref(metrics);
    json_decref(aliases), json_decref(prot), json_decref(hist), json_decref(arts);
    free(text);
    free(data);
    qa_strbuf_free(&payload);
    return st;
}

/* ---- import ------------------------------------------------------------------------------ */

/* Binds the values of o named by `cols` (comma-separated) to ?1.. after ?1 = model name
 * at ?1; JSON objects are bound as their text. */
static qa_status insert_rows(qa_registry_t *r, const char *sql, const char *name, json_t *rows, const char *const *cols) {
    qa_status st = QA_OK;
    sqlite3_stmt *s = NULL;
    char *text = NULL;
    QA_TRY(qa_sqlite_prepare(r->db, sql, &s));
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        sqlite3_reset(s);
        QA_TRY(qa_sqlite_bind_text(s, 1, name));
        for (int c = 0; cols[c]; c++) {
            json_t *v = json_object_get(row, cols[c]);
            int k = c + 2, rc;
            if (!v) QA_TRY_FAIL(QA_ERR_FORMAT, "bundle: a row lacks '%s'", cols[c]);
            if (json_is_null(v)) rc = sqlite3_bind_null(s, k);
            else if (json_is_integer(v)) rc = sqlite3_bind_int64(s, k, json_integer_value(v));
            else if (json_is_real(v)) rc = sqlite3_bind_double(s, k, json_real_value(v));
            else if (json_is_string(v)) rc = sqlite3_bind_text(s, k, json_string_value(v), -1, SQLITE_TRANSIENT);
            else {
                free(text);
                text = qa_registry_json_text(v);
                if (!text) QA_TRY_FAIL(QA_ERR_NOMEM, "bundle row");
                rc = sqlite3_bind_text(s, k, text, -1, SQLITE_TRANSIENT);
            }
            QA_TRY(QA_SQLITE_CHECK(r->db, rc));
        }
        QA_TRY(QA_SQLITE_CHECK(r->db, sqlite3_step(s)));
    }
cleanup:
    free(text);
    sqlite3_finalize(s);
    return st;
}

/* Array member `key` of the bundle (QA_ERR_FORMAT when absent). */
static qa_status member(const char *path, json_t *doc, const char *key, json_t **out) {
    *out = json_object_get(doc, key);
    if (!json_is_array(*out)) return QA_FAIL(QA_ERR_FORMAT, "%s: bundle field '%s' is missing or not an array", path, key);
    return QA_OK;
}

qa_status qa_registry_import(qa_registry_t *r, const char *path, const char *who_in, char *name_out) {
    qa_status st = QA_OK;
    json_t *doc = NULL, *versions, *tags, *metrics, *aliases, *prot, *hist;
    unsigned char *file = NULL;
    const unsigned char *payload = NULL;
    size_t B = 0;
    char at[40], name[QA_REGISTRY_NAME_MAX];
    const char *who = qa_registry_who(who_in);
    QA_TRY(qa_container_read(path, MAGIC, BUNDLE_VERSION, "QuantumAlpha registry bundle", &doc, &file, &payload, &B, NULL));
    const char *fmt = json_string_value(json_object_get(doc, "format"));
    if (!fmt || strcmp(fmt, BUNDLE_FORMAT) != 0)
        QA_TRY_FAIL(QA_ERR_FORMAT, "%s: format '%s', expected '%s'", path, fmt ? fmt : "(none)", BUNDLE_FORMAT);
    json_t *model = json_object_get(doc, "model"), *arts = json_object_get(doc, "artifacts");
    const char *mname = json_string_value(json_object_get(model, "name"));
    if (!mname || !json_is_object(arts)) QA_TRY_FAIL(QA_ERR_FORMAT, "%s: bundle has no model name or artifact table", path);
    QA_TRY(qa_registry_name_check(mname, "model name"));
    snprintf(name, sizeof name, "%s", mname);
    QA_TRY(member(path, doc, "versions", &versions));
    QA_TRY(member(path, doc, "tags", &tags));
    QA_TRY(member(path, doc, "metrics", &metrics));
    QA_TRY(member(path, doc, "aliases", &aliases));
    QA_TRY(member(path, doc, "alias_protection", &prot));
    QA_TRY(member(path, doc, "alias_history", &hist));
    /* Every artifact is checked against its digest before anything is stored. */
    const char *sha;
    json_t *a;
    json_object_foreach(arts, sha, a) {
        json_int_t off = json_integer_value(json_object_get(a, "offset")), n = json_integer_value(json_object_get(a, "size"));
        char got[65];
        if (off < 0 || n < 0 || (size_t)off > B || (size_t)n > B - (size_t)off)
            QA_TRY_FAIL(QA_ERR_FORMAT, "%s: artifact %s lies outside the payload", path, sha);
        QA_TRY(qa_sha256_hex(payload + off, (size_t)n, got));
        if (strcmp(got, sha) != 0) QA_TRY_FAIL(QA_ERR_INTEGRITY, "%s: artifact %s hashes to %s", path, sha, got);
    }
    /* Records are checked as a publish would check them: numbers below the model's
     * counter, names and aliases well formed, every artifact present. */
    json_int_t next = json_integer_value(json_object_get(model, "next_version"));
    size_t i;
    json_t *v;
    json_array_foreach(versions, i, v) {
        const char *vs = json_string_value(json_object_get(v, "sha256"));
        json_t *num = json_object_get(v, "version");
        if (!json_is_integer(num) || json_integer_value(num) < 1 || json_integer_value(num) >= next)
            QA_TRY_FAIL(QA_ERR_FORMAT, "%s: versions[%zu].version is not a number between 1 and next_version - 1 (%lld)",
                        path, i, (long long)next - 1);
        if (!vs || !json_object_get(arts, vs))
            QA_TRY_FAIL(QA_ERR_FORMAT, "%s: version %lld's artifact is not in the bundle", path,
                        (long long)json_integer_value(num));
    }
    json_array_foreach(aliases, i, v) {
        const char *al = json_string_value(json_object_get(v, "alias"));
        if (!al || qa_registry_name_check(al, "alias") != QA_OK) {
            qa_err_prefix("%s: aliases[%zu]: ", path, i);
            st = QA_ERR_FORMAT;
            goto cleanup;
        }
    }
    json_object_foreach(arts, sha, a) {
        json_int_t off = json_integer_value(json_object_get(a, "offset")), n = json_integer_value(json_object_get(a, "size"));
        QA_TRY(qa_registry_artifact_store(r, payload + off, (size_t)n, sha));
    }
    QA_TRY(qa_sqlite_begin(r->db));
    if (qa_registry_model_exists(r, name) == QA_OK)
        QA_TRY_FAIL(QA_ERR_EXISTS, "model '%s' already exists in %s; import into a registry without it", name, r->dir);
    qa_err_clear();
    json_t *one = json_pack("[O]", model);
    st = insert_rows(r, "INSERT INTO models(name, created, created_by, next_version) VALUES (?1,?2,?3,?4)", name, one,
                     (const char *const[]){"created", "created_by", "next_version", NULL});
    json_decref(one);
    QA_TRY(st);
    QA_TRY(insert_rows(r,
                       "INSERT INTO versions(model, version, sha256, size, created, created_by, description, signature, "
                       "metrics, lineage, config) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
                       name, versions,
                       (const char *const[]){"version", "sha256", "size", "created", "created_by", "description",
                                             "signature", "metrics", "lineage", "config", NULL}));
    QA_TRY(insert_rows(r, "INSERT INTO tags(model, version, key, value) VALUES (?1,?2,?3,?4)", name, tags,
                       (const char *const[]){"version", "key", "value", NULL}));
    QA_TRY(insert_rows(r, "INSERT INTO metrics(model, version, key, value) VALUES (?1,?2,?3,?4)", name, metrics,
                       (const char *const[]){"version", "key", "value", NULL}));
    QA_TRY(insert_rows(r, "INSERT INTO aliases(model, alias, version, updated, updated_by) VALUES (?1,?2,?3,?4,?5)", name,
                       aliases, (const char *const[]){"alias", "version", "updated", "updated_by", NULL}));
    QA_TRY(insert_rows(r, "INSERT INTO alias_protection(model, alias, users) VALUES (?1,?2,?3)", name, prot,
                       (const char *const[]){"alias", "users", NULL}));
    QA_TRY(insert_rows(r,
                       "INSERT INTO alias_history(model, alias, from_version, to_version, at, who, why) "
                       "VALUES (?1,?2,?3,?4,?5,?6,?7)",
                       name, hist, (const char *const[]){"alias", "from_version", "to_version", "at", "who", "why", NULL}));
    json_t *vl = json_array();
    json_array_foreach(versions, i, v) json_array_append(vl, json_object_get(v, "version"));
    qa_registry_now(at, sizeof at);
    QA_TRY(qa_registry_event_add(r, at, "model_imported", name, 0, "", who, json_pack("{s:o, s:s}", "versions", vl, "bundle", path)));
    QA_TRY(qa_sqlite_commit(r->db));
    if (name_out) snprintf(name_out, QA_REGISTRY_NAME_MAX, "%s", name);
cleanup:
    if (st != QA_OK) qa_sqlite_rollback(r->db);
    json_decref(doc);
    free(file);
    return st;
}
