/* The live service's checkpoint in SQLite (live/checkpoint.h). */
#include "live/checkpoint.h"

#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc */
#include <string.h>  /* strcmp, memcpy */

#include "common/fs.h"     /* qa_fs_mkdirs, qa_path_join */
#include "common/sqlite.h" /* open with WAL, checks */
#include "common/timer.h"  /* created */

#define CKPT_FORMAT "quantumalpha.live"
#define CKPT_VERSION "2"

struct qa_ckpt {
    sqlite3 *db;
    char path[QA_PATH_MAX];
};

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('format', '" CKPT_FORMAT "'), ('format_version', '" CKPT_VERSION "');"
    "CREATE TABLE IF NOT EXISTS checkpoint(id INTEGER PRIMARY KEY CHECK (id = 1), created TEXT NOT NULL,"
    " identity TEXT NOT NULL, closed_time INTEGER NOT NULL, times INTEGER NOT NULL,"
    " offsets BLOB NOT NULL, watermarks BLOB NOT NULL, last_seen BLOB NOT NULL, state BLOB NOT NULL);";

qa_status qa_ckpt_open(const char *dir, qa_ckpt_t **out) {
    qa_ckpt_t *c = calloc(1, sizeof *c);
    if (!c) return QA_FAIL(QA_ERR_NOMEM, "checkpoint");
    qa_status st = qa_fs_mkdirs(dir);
    if (st == QA_OK) st = qa_path_join(c->path, dir, "live.db");
    int wal = 0;
    if (st == QA_OK) st = qa_sqlite_open(c->path, 1, 5000, &c->db, &wal);
    /* FULL: a checkpoint that returned is on disk, also in WAL mode. */
    if (st == QA_OK) st = qa_sqlite_exec(c->db, "PRAGMA synchronous=FULL;");
    if (st == QA_OK) st = qa_sqlite_exec(c->db, schema);
    sqlite3_stmt *s = NULL;
    if (st == QA_OK) st = qa_sqlite_prepare(c->db, "SELECT value FROM meta WHERE key = 'format_version'", &s);
    if (st == QA_OK && (sqlite3_step(s) != SQLITE_ROW || strcmp(qa_sqlite_text(s, 0), CKPT_VERSION) != 0))
        st = QA_FAIL(QA_ERR_FORMAT, "%s: checkpoint format version %s, this build reads " CKPT_VERSION, c->path,
                     s ? qa_sqlite_text(s, 0) : "?");
    sqlite3_finalize(s);
    if (st != QA_OK) {
        qa_ckpt_close(c);
        return st;
    }
    *out = c;
    return QA_OK;
}

void qa_ckpt_close(qa_ckpt_t *c) {
    if (!c) return;
    qa_sqlite_close(c->db);
    free(c);
}

/* Copies a blob column of exactly `bytes` bytes. */
static qa_status blob(qa_ckpt_t *c, sqlite3_stmt *s, int col, void *dst, size_t bytes, const char *what) {
    if ((size_t)sqlite3_column_bytes(s, col) != bytes)
        return QA_FAIL(QA_ERR_STATE, "%s: checkpoint %s holds %d bytes, this configuration needs %zu", c->path, what,
                       sqlite3_column_bytes(s, col), bytes);
    if (bytes) memcpy(dst, sqlite3_column_blob(s, col), bytes);
    return QA_OK;
}

qa_status qa_ckpt_load(qa_ckpt_t *c, qa_ckpt_data *d, int *found) {
    sqlite3_stmt *s = NULL;
    *found = 0;
    QA_TRY_RET(qa_sqlite_prepare(
        c->db, "SELECT identity, closed_time, times, offsets, watermarks, last_seen, state FROM checkpoint WHERE id = 1", &s));
    qa_status st = QA_OK;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        const char *id = qa_sqlite_text(s, 0);
        if (strcmp(id, d->identity) != 0)
            st = QA_FAIL(QA_ERR_STATE,
                         "%s: the checkpoint was made by another configuration (%s; this one is %s): use another "
                         "state directory, or delete it to start from the beginning",
                         c->path, id, d->identity);
        if (st == QA_OK) st = blob(c, s, 3, d->offsets, (size_t)d->nparts * sizeof *d->offsets, "offsets (partitions)");
        if (st == QA_OK) st = blob(c, s, 4, d->watermarks, (size_t)d->nparts * sizeof *d->watermarks, "watermarks");
        if (st == QA_OK) st = blob(c, s, 5, d->last_seen, d->nsym * sizeof *d->last_seen, "last bar times (symbols)");
        if (st == QA_OK) st = blob(c, s, 6, d->state, d->ndoubles * sizeof *d->state, "engine state");
        if (st == QA_OK) {
            d->closed_time = sqlite3_column_int64(s, 1);
            d->times = sqlite3_column_int64(s, 2);
            *found = 1;
        }
    } else if (rc != SQLITE_DONE) {
        st = QA_SQLITE_CHECK(c->db, rc);
    }
    sqlite3_finalize(s);
    return st;
}

qa_status qa_ckpt_save(qa_ckpt_t *c, const qa_ckpt_data *d) {
    char now[32];
    qa_time_utc_iso(now, sizeof now);
    sqlite3_stmt *s = NULL;
    qa_status st = qa_sqlite_begin(c->db);
    if (st == QA_OK)
        st = qa_sqlite_prepare(c->db,
                               "INSERT OR REPLACE INTO checkpoint(id, created, identity, closed_time, times, offsets,"
                               " watermarks, last_seen, state) VALUES(1, ?, ?, ?, ?, ?, ?, ?, ?)",
                               &s);
    if (st == QA_OK) st = qa_sqlite_bind_text(s, 1, now);
    if (st == QA_OK) st = qa_sqlite_bind_text(s, 2, d->identity);
    if (st == QA_OK) st = QA_SQLITE_CHECK(c->db, sqlite3_bind_int64(s, 3, d->closed_time));
    if (st == QA_OK) st = QA_SQLITE_CHECK(c->db, sqlite3_bind_int64(s, 4, d->times));
    if (st == QA_OK)
        st = QA_SQLITE_CHECK(c->db, sqlite3_bind_blob(s, 5, d->offsets, (int)((size_t)d->nparts * sizeof *d->offsets),
                                                      SQLITE_STATIC));
    if (st == QA_OK)
        st = QA_SQLITE_CHECK(c->db, sqlite3_bind_blob(s, 6, d->watermarks,
                                                      (int)((size_t)d->nparts * sizeof *d->watermarks), SQLITE_STATIC));
    if (st == QA_OK)
        st = QA_SQLITE_CHECK(c->db, sqlite3_bind_blob(s, 7, d->last_seen, (int)(d->nsym * sizeof *d->last_seen),
                                                      SQLITE_STATIC));
    if (st == QA_OK)
        st = QA_SQLITE_CHECK(c->db, sqlite3_bind_blob64(s, 8, d->state, d->ndoubles * sizeof *d->state, SQLITE_STATIC));
    if (st == QA_OK) {
        int rc = sqlite3_step(s);
        if (rc != SQLITE_DONE) st = QA_SQLITE_CHECK(c->db, rc);
    }
    sqlite3_finalize(s);
    if (st == QA_OK) st = qa_sqlite_commit(c->db);
    else qa_sqlite_rollback(c->db);
    return st;
}
