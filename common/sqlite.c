/* SQLite open, errors and write transactions (see sqlite.h). */
#include "common/sqlite.h"

#include <stdio.h>      /* snprintf */
#include <stdlib.h>     /* getenv */
#include <string.h>     /* strcmp, strrchr */
#include <sys/vfs.h>    /* statfs: which file system holds the database */
#include <time.h>       /* nanosleep */

#include "common/fs.h"  /* QA_PATH_MAX */

qa_status qa_sqlite_err(sqlite3 *db, int rc, const char *what, const char *file, int line) {
    if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return QA_OK;
    return qa_err_set(QA_ERR_SQLITE, file, line, "%s: %s (sqlite code %d)", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc),
                      rc);
}

/* File systems where SQLite's WAL (shared memory between processes) is unsafe. */
static int network_fs(const char *path) {
    char dir[QA_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    if (!*dir) snprintf(dir, sizeof dir, "/");
    struct statfs s;
    if (statfs(dir, &s) != 0) return 0;
    switch ((unsigned long)s.f_type) {
    case 0x6969UL:     /* NFS */
    case 0x0BD00BD0UL: /* Lustre */
    case 0x47504653UL: /* GPFS */
    case 0xFF534D42UL: /* CIFS */
    case 0xFE534D42UL: /* SMB2 */
    case 0x65735546UL: /* FUSE */
    case 0x564C:       /* NCP */
        return 1;
    default:
        return 0;
    }
}

qa_status qa_sqlite_open(const char *path, int create, int busy_ms, sqlite3 **out, int *wal) {
    *out = NULL;
    sqlite3 *db = NULL;
    int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_FULLMUTEX;
    int rc = sqlite3_open_v2(path, &db, flags, NULL);
    if (rc != SQLITE_OK) {
        qa_status st = qa_err_set(QA_ERR_SQLITE, __FILE__, __LINE__, "cannot open database %s: %s", path,
                                  db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        sqlite3_close(db);
        return st;
    }
    qa_status st = QA_SQLITE_CHECK(db, sqlite3_busy_timeout(db, busy_ms));
    const char *force = getenv("QA_SQLITE_JOURNAL");
    int use_wal = force && *force ? strcmp(force, "wal") == 0 : !network_fs(path);
    if (st == QA_OK) st = qa_sqlite_exec(db, "PRAGMA foreign_keys=ON");
    /* Switching the journal mode needs a moment of exclusive access; with other
     * processes opening the same file it can report busy: retry within the timeout. */
    for (int tries = 0; st == QA_OK; tries++) {
        int r = sqlite3_exec(db, use_wal ? "PRAGMA journal_mode=WAL" : "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
        if (r == SQLITE_OK) break;
        if ((r != SQLITE_BUSY && r != SQLITE_LOCKED) || tries * 10 > busy_ms) {
            st = QA_SQLITE_CHECK(db, r);
            break;
        }
        struct timespec ts = {0, 10L * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    /* WAL with synchronous=NORMAL is durable against process crashes and consistent
     * after power loss; FULL in rollback mode. */
    if (st == QA_OK) st = qa_sqlite_exec(db, use_wal ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL");
    if (st != QA_OK) {
        qa_err_prefix("opening %s: ", path);
        sqlite3_close(db);
        return st;
    }
    if (wal) *wal = use_wal;
    *out = db;
    return QA_OK;
}

void qa_sqlite_close(sqlite3 *db) {
    if (db) sqlite3_close_v2(db);
}

qa_status qa_sqlite_exec(sqlite3 *db, const char *sql) {
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK) return QA_OK;
    qa_status st = QA_FAIL(QA_ERR_SQLITE, "%.200s: %s (sqlite code %d)", sql, msg ? msg : sqlite3_errstr(rc), rc);
    sqlite3_free(msg);
    return st;
}

qa_status qa_sqlite_check_format(sqlite3 *db, const char *path, const char *format, const char *version) {
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(db, "SELECT (SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'),"
                                     " (SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta')", &s));
    int rc = sqlite3_step(s);
    long long ntables = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0, has_meta = rc == SQLITE_ROW ? sqlite3_column_int64(s, 1) : 0;
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW) return QA_SQLITE_CHECK(db, rc);
    if (ntables == 0) return QA_OK; /* a new file */
    if (!has_meta) return QA_FAIL(QA_ERR_FORMAT, "%s: not a %s database (it has %lld tables and no 'meta')", path, format, ntables);
    s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(db, "SELECT (SELECT value FROM meta WHERE key = 'format'),"
                                     " (SELECT value FROM meta WHERE key = 'format_version')", &s));
    qa_status st = QA_OK;
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) st = QA_SQLITE_CHECK(db, rc);
    else if (strcmp(qa_sqlite_text(s, 0), format) != 0 || strcmp(qa_sqlite_text(s, 1), version) != 0)
        st = QA_FAIL(QA_ERR_FORMAT, "%s: format '%s' version '%s', expected %s version %s", path, qa_sqlite_text(s, 0),
                     qa_sqlite_text(s, 1), format, version);
    sqlite3_finalize(s);
    return st;
}

qa_status qa_sqlite_begin(sqlite3 *db) {
    /* The busy handler already waits busy_timeout; a writer that still loses (a WAL
     * snapshot conflict returns SQLITE_BUSY at once) retries with a short sleep. */
    for (int tries = 0;; tries++) {
        int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK) return QA_OK;
        if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || tries >= 200) return QA_SQLITE_CHECK(db, rc);
        struct timespec ts = {0, (long)(1 + tries % 20) * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

qa_status qa_sqlite_commit(sqlite3 *db) {
    for (int tries = 0;; tries++) {
        int rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (rc == SQLITE_OK) return QA_OK;
        if (rc != SQLITE_BUSY || tries >= 200) return QA_SQLITE_CHECK(db, rc);
        struct timespec ts = {0, 2L * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void qa_sqlite_rollback(sqlite3 *db) {
    if (db && !sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

qa_status qa_sqlite_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out) {
    *out = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, out, NULL);
    if (rc != SQLITE_OK) return QA_FAIL(QA_ERR_SQLITE, "preparing '%.120s': %s", sql, sqlite3_errmsg(db));
    return QA_OK;
}

qa_status qa_sqlite_bind_text(sqlite3_stmt *s, int i, const char *v) {
    int rc = v ? sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(s, i);
    return QA_SQLITE_CHECK(sqlite3_db_handle(s), rc);
}

const char *qa_sqlite_text(sqlite3_stmt *s, int col) {
    const unsigned char *t = sqlite3_column_text(s, col);
    return t ? (const char *)t : "";
}
