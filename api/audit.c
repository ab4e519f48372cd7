/* The hash-chained audit log of qa serve (api/audit.h). */
#include "api/audit.h"

#include <errno.h>    /* strtoll's range errors */
#include <pthread.h>  /* appends from several request threads */
#include <sqlite3.h>  /* audit.db */
#include <stdio.h>    /* snprintf */
#include <stdlib.h>   /* calloc, free, strtoll */
#include <string.h>   /* strcmp */
#include <time.h>     /* clock_gettime */

#include "common/fs.h"      /* the head file, written atomically */
#include "common/hash.h"    /* SHA-256 */
#include "common/sqlite.h"
#include "common/strbuf.h"  /* the hashed text */

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

struct qa_audit {
    sqlite3 *db;
    pthread_mutex_t mu;
    char head_path[QA_PATH_MAX];
    long long seq;                     /* last row */
    char hash[QA_SHA256_HEX_LEN + 1];  /* its hash */
};

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('format', 'quantumalpha.audit'), ('format_version', '1');"
    "CREATE TABLE IF NOT EXISTS audit(seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, user TEXT NOT NULL,"
    " roles TEXT NOT NULL, remote TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, code INTEGER NOT NULL,"
    " outcome TEXT NOT NULL, detail TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);"
    /* append-only at the database level; the chain catches whoever drops the triggers */
    "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;";

/* The chained digest of one row: every field, separated by the unit separator (0x1f),
 * which the fields cannot hold (control bytes are replaced before storing). */
static qa_status row_hash(const char *prev, long long seq, long long time, const char *const f[7], long long code,
                          const char *detail, char out[QA_SHA256_HEX_LEN + 1]) {
    qa_strbuf b;
    qa_strbuf_init(&b);
    qa_strbuf_printf(&b, "%s\x1f%lld\x1f%lld", prev, seq, time);
    for (int i = 0; i < 5; i++) qa_strbuf_printf(&b, "\x1f%s", f[i]);
    qa_strbuf_printf(&b, "\x1f%lld\x1f%s\x1f%s", code, f[5], detail);
    qa_status st = b.failed ? QA_FAIL(QA_ERR_NOMEM, "audit row") : qa_sha256_hex(b.data, b.len, out);
    qa_strbuf_free(&b);
    return st;
}

static qa_status read_head(const char *path, long long *seq, char hash[QA_SHA256_HEX_LEN + 1], int *present) {
    char *text = NULL;
    size_t len = 0;
    *present = 0;
    if (!qa_fs_exists(path)) return QA_OK;
    QA_TRY_RET(qa_fs_read_all(path, &text, &len));
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    const char *h = end + strspn(end, " \t\r\n");
    int ok = end != text && errno == 0 && h != end && strcspn(h, " \t\r\n") == QA_SHA256_HEX_LEN;
    if (ok) {
        *seq = v;
        memcpy(hash, h, QA_SHA256_HEX_LEN);
        hash[QA_SHA256_HEX_LEN] = '\0';
    }
    free(text);
    if (!ok) return QA_FAIL(QA_ERR_FORMAT, "%s: expected '<seq> <64 hex digits>'", path);
    *present = 1;
    return QA_OK;
}

qa_status qa_audit_open(const char *state_dir, qa_audit_t **out) {
    qa_audit_t *a = calloc(1, sizeof *a);
    if (!a) return QA_FAIL(QA_ERR_NOMEM, "audit");
    pthread_mutex_init(&a->mu, NULL);
    char path[QA_PATH_MAX];
    int wal = 0;
    qa_status st = qa_path_join(path, state_dir, "audit.db");
    if (st == QA_OK) st = qa_path_join(a->head_path, state_dir, "audit.head");
    if (st == QA_OK) st = qa_sqlite_open(path, 1, 5000, &a->db, &wal);
    if (st == QA_OK) st = qa_sqlite_check_format(a->db, path, "quantumalpha.audit", "1");
    if (st == QA_OK) st = qa_sqlite_exec(a->db, schema);
    sqlite3_stmt *s = NULL;
    if (st == QA_OK) st = qa_sqlite_prepare(a->db, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &s);
    if (st == QA_OK) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            a->seq = sqlite3_column_int64(s, 0);
            snprintf(a->hash, sizeof a->hash, "%s", qa_sqlite_text(s, 1));
        } else if (rc == SQLITE_DONE) {
            a->seq = 0;
            snprintf(a->hash, sizeof a->hash, "%s", ZERO_HASH);
        } else st = QA_SQLITE_CHECK(a->db, rc);
    }
    sqlite3_finalize(s);
    /* a log that lost rows at its end is not appended to: the next row would hide it */
    long long hseq = 0;
    char hhash[QA_SHA256_HEX_LEN + 1];
    int present = 0;
    if (st == QA_OK) st = read_head(a->head_path, &hseq, hhash, &present);
    if (st == QA_OK && present && (hseq != a->seq || strcmp(hhash, a->hash) != 0))
        st = QA_FAIL(QA_ERR_INTEGRITY, "%s: the log ends at row %lld but audit.head names row %lld: rows were "
                     "removed or changed (qa audit verify)", path, a->seq, hseq);
    if (st != QA_OK) {
        qa_audit_close(a);
        return st;
    }
    *out = a;
    return QA_OK;
}

void qa_audit_close(qa_audit_t *a) {
    if (!a) return;
    qa_sqlite_close(a->db);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

/* Control bytes would make the separator ambiguous and the log unreadable: '?' instead. */
static void clean(const char *in, char *out, size_t cap) {
    size_t n = 0;
    for (const char *p = in ? in : ""; *p && n + 1 < cap; p++) {
        char c = *p;
        if ((unsigned char)c < 0x20 || c == 0x7f) c = '?';
        out[n++] = c;
    }
    out[n] = '\0';
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

qa_status qa_audit_append(qa_audit_t *a, const qa_audit_entry *e) {
    char f[6][512], detail[1024];
    clean(e->user, f[0], sizeof f[0]);
    clean(e->roles, f[1], sizeof f[1]);
    clean(e->remote, f[2], sizeof f[2]);
    clean(e->method, f[3], sizeof f[3]);
    clean(e->path, f[4], sizeof f[4]);
    clean(e->outcome, f[5], sizeof f[5]);
    clean(e->detail, detail, sizeof detail);
    const char *fields[7] = {f[0], f[1], f[2], f[3], f[4], f[5], NULL};
    pthread_mutex_lock(&a->mu);
    long long seq = a->seq + 1, t = now_ns();
    char hash[QA_SHA256_HEX_LEN + 1];
    qa_status st = row_hash(a->hash, seq, t, fields, (long long)e->code, detail, hash);
    sqlite3_stmt *s = NULL;
    if (st == QA_OK) st = qa_sqlite_prepare(a->db, "INSERT INTO audit VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", &s);
    if (st == QA_OK) {
        sqlite3_bind_int64(s, 1, seq);
        sqlite3_bind_int64(s, 2, t);
        for (int i = 0; i < 5; i++) qa_sqlite_bind_text(s, 3 + i, f[i]);
        sqlite3_bind_int64(s, 8, (long long)e->code);
        qa_sqlite_bind_text(s, 9, f[5]);
        qa_sqlite_bind_text(s, 10, detail);
        qa_sqlite_bind_text(s, 11, a->hash);
        qa_sqlite_bind_text(s, 12, hash);
        int rc = sqlite3_step(s);
        if (rc != SQLITE_DONE) st = QA_SQLITE_CHECK(a->db, rc);
    }
    sqlite3_finalize(s);
    if (st == QA_OK) {
        a->seq = seq;
        memcpy(a->hash, hash, sizeof hash);
        char head[128];
        int n = snprintf(head, sizeof head, "%lld %s\n", seq, hash);
        st = qa_fs_write_all(a->head_path, head, (size_t)n);
    }
    pthread_mutex_unlock(&a->mu);
    return st;
}

qa_status qa_audit_page(qa_audit_t *a, long page, long limit, json_t **out) {
    static const char *const cols[] = {"seq", "time", "user", "roles", "remote", "method", "path", "code", "outcome",
                                       "detail", "hash"};
    json_t *columns = json_array(), *rows = json_array();
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++) json_array_append_new(columns, json_string(cols[i]));
    sqlite3_stmt *s = NULL;
    long long total = 0;
    pthread_mutex_lock(&a->mu);
    total = a->seq;
    qa_status st = qa_sqlite_prepare(a->db, "SELECT seq, time, user, roles, remote, method, path, code, outcome, detail,"
                                            " hash FROM audit ORDER BY seq DESC LIMIT ? OFFSET ?", &s);
    if (st == QA_OK) {
        sqlite3_bind_int64(s, 1, limit);
        sqlite3_bind_int64(s, 2, (long long)(page - 1) * limit);
        int rc;
        while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
            json_t *r = json_array();
            for (int c = 0; c < 11; c++)
                json_array_append_new(r, c == 0 || c == 1 || c == 7 ? json_integer(sqlite3_column_int64(s, c))
                                                                    : json_string(qa_sqlite_text(s, c)));
            json_array_append_new(rows, r);
        }
        if (rc != SQLITE_DONE) st = QA_SQLITE_CHECK(a->db, rc);
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&a->mu);
    json_t *j = json_pack("{s:o, s:o, s:I, s:i, s:I}", "columns", columns, "rows", rows, "total", (json_int_t)total,
                          "page", (int)page, "pages", (json_int_t)((total + limit - 1) / limit));
    if (st != QA_OK || !j) {
        json_decref(j);
        return st != QA_OK ? st : QA_FAIL(QA_ERR_NOMEM, "audit page");
    }
    *out = j;
    return QA_OK;
}

qa_status qa_audit_verify(const char *state_dir, qa_audit_report *r) {
    char path[QA_PATH_MAX], head_path[QA_PATH_MAX];
    QA_TRY_RET(qa_path_join(path, state_dir, "audit.db"));
    QA_TRY_RET(qa_path_join(head_path, state_dir, "audit.head"));
    if (!qa_fs_exists(path)) return QA_FAIL(QA_ERR_NOT_FOUND, "%s: no audit log here", path);
    memset(r, 0, sizeof *r);
    r->first_bad = -1;
    sqlite3 *db = NULL;
    int wal = 0;
    QA_TRY_RET(qa_sqlite_open(path, 0, 5000, &db, &wal));
    sqlite3_stmt *s = NULL;
    qa_status st = qa_sqlite_check_format(db, path, "quantumalpha.audit", "1");
    if (st == QA_OK)
        st = qa_sqlite_prepare(db, "SELECT seq, time, user, roles, remote, method, path, code, outcome, detail, prev,"
                                   " hash FROM audit ORDER BY seq", &s);
    char prev[QA_SHA256_HEX_LEN + 1] = ZERO_HASH;
    long long expect = 1;
    int rc = SQLITE_DONE;
    while (st == QA_OK && r->first_bad < 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        long long seq = sqlite3_column_int64(s, 0);
        const char *f[7];
        for (int i = 0; i < 5; i++) f[i] = qa_sqlite_text(s, 2 + i);
        f[5] = qa_sqlite_text(s, 8);
        f[6] = NULL;
        char h[QA_SHA256_HEX_LEN + 1];
        st = row_hash(prev, seq, sqlite3_column_int64(s, 1), f, sqlite3_column_int64(s, 7), qa_sqlite_text(s, 9), h);
        if (st != QA_OK) break;
        if (seq != expect) {
            r->first_bad = expect;
            snprintf(r->detail, sizeof r->detail, "row %lld is missing (the next row is %lld)", expect, seq);
        } else if (strcmp(qa_sqlite_text(s, 10), prev) != 0) {
            r->first_bad = seq;
            snprintf(r->detail, sizeof r->detail, "row %lld does not link to row %lld", seq, seq - 1);
        } else if (strcmp(qa_sqlite_text(s, 11), h) != 0) {
            r->first_bad = seq;
            snprintf(r->detail, sizeof r->detail, "row %lld was changed: its hash does not match its content", seq);
        } else {
            memcpy(prev, h, sizeof h);
            r->rows++;
            expect++;
        }
    }
    if (st == QA_OK && r->first_bad < 0 && rc != SQLITE_DONE) st = QA_SQLITE_CHECK(db, rc);
    sqlite3_finalize(s);
    qa_sqlite_close(db);
    if (st != QA_OK || r->first_bad >= 0) return st;
    long long hseq = 0;
    char hhash[QA_SHA256_HEX_LEN + 1];
    int present = 0;
    QA_TRY_RET(read_head(head_path, &hseq, hhash, &present));
    if (!present && r->rows > 0) {
        r->first_bad = r->rows;
        snprintf(r->detail, sizeof r->detail, "audit.head is missing: the end of the log cannot be checked");
    } else if (present && (hseq != r->rows || strcmp(hhash, prev) != 0)) {
        r->first_bad = r->rows + 1 <= hseq ? r->rows + 1 : hseq;
        snprintf(r->detail, sizeof r->detail, "the log ends at row %lld but audit.head names row %lld%s", r->rows,
                 hseq, hseq > r->rows ? ": rows were removed at the end" : " with another hash");
    } else
        snprintf(r->detail, sizeof r->detail, "%lld rows, chain intact", r->rows);
    return QA_OK;
}
