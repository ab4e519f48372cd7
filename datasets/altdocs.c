/* The document store (datasets/altdocs.h): schema, adds with copy/duplicate detection,
 * ordered scans and FTS5 search. */
#include "datasets/altdocs.h"

#include <ctype.h>   /* toupper, isalnum */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, free */
#include <string.h>  /* strcmp, strlen */

#include "common/sqlite.h"  /* open, exec, prepare, QA_SQLITE_CHECK */

struct qa_altdocs {
    sqlite3 *db;
    char path[4096];
    int in_txn;
    sqlite3_stmt *find, *ins_doc, *ins_fts, *find_link, *ins_link, *bump_link;
};

static const char *const basis_names[] = {"timestamp", "date"};
_Static_assert(sizeof basis_names / sizeof basis_names[0] == QA_ALTDOCS_BASIS_COUNT, "basis names");

const char *qa_altdocs_basis_name(qa_altdocs_basis b) {
    return (unsigned)b < QA_ALTDOCS_BASIS_COUNT ? basis_names[b] : "?";
}

/* The documents are the content table of the FTS5 index (external content): the text is
 * stored once, and the index is kept in step by the adds below (the store has no update
 * or delete path, so no triggers are needed). Porter stemming makes "downgrade" find
 * "downgraded"; unicode61 folds case and diacritics. */
static const char *const schema =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS docs("
    "  id INTEGER PRIMARY KEY, source TEXT NOT NULL, key TEXT NOT NULL,"
    "  event_ns INTEGER NOT NULL, basis INTEGER NOT NULL CHECK(basis IN (0, 1)),"
    "  title TEXT NOT NULL, body TEXT NOT NULL, kind TEXT NOT NULL, lang TEXT NOT NULL,"
    "  sentiment REAL NOT NULL, hash TEXT NOT NULL, UNIQUE(source, key));"
    "CREATE INDEX IF NOT EXISTS docs_time ON docs(event_ns, id);"
    "CREATE TABLE IF NOT EXISTS doc_tickers("
    "  ticker TEXT NOT NULL, doc_id INTEGER NOT NULL REFERENCES docs(id), rows INTEGER NOT NULL,"
    "  PRIMARY KEY(ticker, doc_id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS doc_tickers_doc ON doc_tickers(doc_id, ticker);"
    "CREATE VIRTUAL TABLE IF NOT EXISTS docs_fts USING fts5(title, body, content='docs', content_rowid='id',"
    "  tokenize='porter unicode61 remove_diacritics 2');"
    "CREATE TABLE IF NOT EXISTS imports("
    "  id INTEGER PRIMARY KEY, source TEXT NOT NULL, path TEXT NOT NULL, file_sha256 TEXT NOT NULL,"
    "  at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')), report TEXT NOT NULL);";

static qa_status check_format(qa_altdocs_t *d) {
    sqlite3_stmt *s = NULL;
    qa_status st = qa_sqlite_prepare(d->db, "SELECT key, value FROM meta WHERE key IN ('format', 'format_version')", &s);
    if (st != QA_OK) return QA_FAIL(QA_ERR_FORMAT, "%s: not a document store (no meta table)", d->path);
    char format[64] = "";
    long version = 0;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (strcmp(qa_sqlite_text(s, 0), "format") == 0) snprintf(format, sizeof format, "%s", qa_sqlite_text(s, 1));
        else version = strtol(qa_sqlite_text(s, 1), NULL, 10);
    }
    st = QA_SQLITE_CHECK(d->db, rc);
    sqlite3_finalize(s);
    if (st != QA_OK) return st;
    if (strcmp(format, QA_ALTDOCS_FORMAT) != 0)
        return QA_FAIL(QA_ERR_FORMAT, "%s: format '%s', expected '%s' (a document store from qa alt import)", d->path,
                       format, QA_ALTDOCS_FORMAT);
    if (version < 1 || version > QA_ALTDOCS_FORMAT_VERSION)
        return QA_FAIL(QA_ERR_FORMAT, "%s: format version %ld, this build reads 1..%d", d->path, version,
                       QA_ALTDOCS_FORMAT_VERSION);
    return QA_OK;
}

static qa_status prepare_all(qa_altdocs_t *d) {
    QA_TRY_RET(qa_sqlite_prepare(d->db, "SELECT id, hash FROM docs WHERE source = ?1 AND key = ?2", &d->find));
    QA_TRY_RET(qa_sqlite_prepare(d->db,
                                 "INSERT INTO docs(source, key, event_ns, basis, title, body, kind, lang, sentiment, hash)"
                                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                                 &d->ins_doc));
    QA_TRY_RET(qa_sqlite_prepare(d->db, "INSERT INTO docs_fts(rowid, title, body) VALUES (?1, ?2, ?3)", &d->ins_fts));
    QA_TRY_RET(qa_sqlite_prepare(d->db, "SELECT rows FROM doc_tickers WHERE ticker = ?1 AND doc_id = ?2", &d->find_link));
    QA_TRY_RET(qa_sqlite_prepare(d->db, "INSERT INTO doc_tickers(ticker, doc_id, rows) VALUES (?1, ?2, 1)", &d->ins_link));
    QA_TRY_RET(qa_sqlite_prepare(d->db, "UPDATE doc_tickers SET rows = rows + 1 WHERE ticker = ?1 AND doc_id = ?2",
                                 &d->bump_link));
    return QA_OK;
}

qa_status qa_altdocs_open(const char *path, int create, qa_altdocs_t **out) {
    if (!path || !out) return QA_FAIL(QA_ERR_INVALID_ARG, "qa_altdocs_open: NULL argument");
    FILE *probe = fopen(path, "rb");
    if (!probe && !create) return QA_FAIL(QA_ERR_NOT_FOUND, "%s: no such document store (qa alt import creates it)", path);
    int fresh = probe == NULL;
    if (probe) (void)fclose(probe); /* an existence probe, read-only */
    qa_altdocs_t *d = calloc(1, sizeof *d);
    if (!d) return QA_FAIL(QA_ERR_NOMEM, "document store");
    snprintf(d->path, sizeof d->path, "%s", path);
    int wal = 0;
    qa_status st = qa_sqlite_open(path, create, 10000, &d->db, &wal);
    if (st != QA_OK) goto cleanup;
    if (fresh) {
        st = qa_sqlite_exec(d->db, schema);
        if (st == QA_OK) {
            char sql[256];
            snprintf(sql, sizeof sql,
                     "INSERT INTO meta(key, value) VALUES ('format', '%s'), ('format_version', '%d')",
                     QA_ALTDOCS_FORMAT, QA_ALTDOCS_FORMAT_VERSION);
            st = qa_sqlite_exec(d->db, sql);
        }
        if (st != QA_OK) goto cleanup;
    }
    st = check_format(d);
    if (st == QA_OK) st = prepare_all(d);
cleanup:
    if (st != QA_OK) {
        qa_altdocs_close(d);
        return st;
    }
    *out = d;
    return QA_OK;
}

void qa_altdocs_close(qa_altdocs_t *d) {
    if (!d) return;
    if (d->in_txn) qa_sqlite_rollback(d->db);
    sqlite3_finalize(d->find);
    sqlite3_finalize(d->ins_doc);
    sqlite3_finalize(d->ins_fts);
    sqlite3_finalize(d->find_link);
    sqlite3_finalize(d->ins_link);
    sqlite3_finalize(d->bump_link);
    qa_sqlite_close(d->db);
    free(d);
}

const char *qa_altdocs_path(const qa_altdocs_t *d) { return d ? d->path : ""; }

qa_status qa_altdocs_begin(qa_altdocs_t *d) {
    QA_TRY_RET(qa_sqlite_begin(d->db));
    d->in_txn = 1;
    return QA_OK;
}

qa_status qa_altdocs_commit(qa_altdocs_t *d) {
    qa_status st = qa_sqlite_commit(d->db);
    if (st != QA_OK) qa_sqlite_rollback(d->db);
    d->in_txn = 0;
    return st;
}

void qa_altdocs_rollback(qa_altdocs_t *d) {
    if (!d || !d->in_txn) return;
    qa_sqlite_rollback(d->db);
    d->in_txn = 0;
}

/* Steps a write statement to completion and resets it for the next use. */
static qa_status step_done(sqlite3 *db, sqlite3_stmt *s, const char *what) {
    int rc = sqlite3_step(s);
    qa_status st = rc == SQLITE_DONE ? QA_OK : qa_sqlite_err(db, rc, what, __FILE__, __LINE__);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return st;
}

qa_status qa_altdocs_add(qa_altdocs_t *d, const qa_altdocs_doc *doc, const char *ticker, qa_altdocs_outcome *outcome) {
    if (!d->in_txn) return QA_FAIL(QA_ERR_STATE, "%s: qa_altdocs_add outside an import transaction", d->path);
    sqlite3_bind_text(d->find, 1, doc->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(d->find, 2, doc->key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(d->find);
    int64_t id = 0;
    int known = rc == SQLITE_ROW;
    qa_status st = QA_OK;
    if (known) {
        id = sqlite3_column_int64(d->find, 0);
        if (strcmp(qa_sqlite_text(d->find, 1), doc->hash) != 0)
            st = QA_FAIL(QA_ERR_INTEGRITY, "%s: document %s/%s is already stored with content hash %.12s..., now %.12s...",
                         d->path, doc->source, doc->key, qa_sqlite_text(d->find, 1), doc->hash);
    } else if (rc != SQLITE_DONE) {
        st = QA_SQLITE_CHECK(d->db, rc);
    }
    sqlite3_reset(d->find);
    sqlite3_clear_bindings(d->find);
    if (st != QA_OK) return st;

    if (!known) {
        sqlite3_stmt *s = d->ins_doc;
        sqlite3_bind_text(s, 1, doc->source, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, doc->key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, doc->event_ns);
        sqlite3_bind_int(s, 4, (int)doc->basis);
        sqlite3_bind_text(s, 5, doc->title, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 6, doc->body, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 7, doc->kind, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 8, doc->lang, -1, SQLITE_STATIC);
        sqlite3_bind_double(s, 9, doc->sentiment);
        sqlite3_bind_text(s, 10, doc->hash, -1, SQLITE_STATIC);
        QA_TRY_RET(step_done(d->db, s, "insert document"));
        id = sqlite3_last_insert_rowid(d->db);
        sqlite3_bind_int64(d->ins_fts, 1, id);
        sqlite3_bind_text(d->ins_fts, 2, doc->title, -1, SQLITE_STATIC);
        sqlite3_bind_text(d->ins_fts, 3, doc->body, -1, SQLITE_STATIC);
        QA_TRY_RET(step_done(d->db, d->ins_fts, "index document"));
    }
    sqlite3_bind_text(d->find_link, 1, ticker, -1, SQLITE_STATIC);
    sqlite3_bind_int64(d->find_link, 2, id);
    rc = sqlite3_step(d->find_link);
    int linked = rc == SQLITE_ROW;
    st = linked || rc == SQLITE_DONE ? QA_OK : QA_SQLITE_CHECK(d->db, rc);
    sqlite3_reset(d->find_link);
    sqlite3_clear_bindings(d->find_link);
    if (st != QA_OK) return st;
    sqlite3_stmt *s = linked ? d->bump_link : d->ins_link;
    sqlite3_bind_text(s, 1, ticker, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, id);
    QA_TRY_RET(step_done(d->db, s, "link document to ticker"));
    *outcome = !known ? QA_ALTDOCS_NEW : linked ? QA_ALTDOCS_DUPLICATE : QA_ALTDOCS_COPY;
    return QA_OK;
}

int qa_altdocs_imported(qa_altdocs_t *d, const char *source, const char *file_sha256) {
    sqlite3_stmt *s = NULL;
    if (qa_sqlite_prepare(d->db, "SELECT 1 FROM imports WHERE source = ?1 AND file_sha256 = ?2", &s) != QA_OK) return -1;
    sqlite3_bind_text(s, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, file_sha256, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s), found = rc == SQLITE_ROW;
    if (!found && rc != SQLITE_DONE) found = QA_SQLITE_CHECK(d->db, rc);
    sqlite3_finalize(s);
    return found;
}

qa_status qa_altdocs_require_source(qa_altdocs_t *d, const char *source) {
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(d->db, "SELECT DISTINCT source FROM docs ORDER BY source", &s));
    char list[256] = "";
    size_t n = 0;
    int rc, found = 0;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        found |= strcmp(qa_sqlite_text(s, 0), source) == 0;
        int w = snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", qa_sqlite_text(s, 0));
        if (w > 0 && n + (size_t)w < sizeof list) n += (size_t)w;
    }
    qa_status st = rc == SQLITE_DONE ? QA_OK : QA_SQLITE_CHECK(d->db, rc);
    sqlite3_finalize(s);
    if (st == QA_OK && !found)
        st = QA_FAIL(QA_ERR_CONFIG, "source '%s': %s holds no document of it (its sources: %s)", source, d->path,
                     n ? list : "none");
    return st;
}

qa_status qa_altdocs_log_import(qa_altdocs_t *d, const char *source, const char *path, const char *file_sha256,
                                const char *report_json) {
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(d->db, "INSERT INTO imports(source, path, file_sha256, report) VALUES (?1, ?2, ?3, ?4)",
                                 &s));
    sqlite3_bind_text(s, 1, source, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, path, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, file_sha256, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 4, report_json, -1, SQLITE_STATIC);
    qa_status st = step_done(d->db, s, "record import");
    sqlite3_finalize(s);
    return st;
}

/* ---- reading ------------------------------------------------------------------------ */

#define ROW_COLUMNS                                                                              \
    "d.id, d.source, d.event_ns, d.basis, d.title, d.body, d.kind, d.sentiment, d.hash,"         \
    " (SELECT group_concat(ticker, ' ') FROM (SELECT ticker FROM doc_tickers WHERE doc_id = d.id" \
    " ORDER BY ticker))"

/* Runs a prepared row query to the end (or until the callback stops it); rank_col >= 0
 * reads the search rank from that column. Finalizes the statement. */
static qa_status run_rows(qa_altdocs_t *d, sqlite3_stmt *s, int rank_col, qa_altdocs_cb cb, void *ctx) {
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        qa_altdocs_row r;
        r.id = sqlite3_column_int64(s, 0);
        r.source = qa_sqlite_text(s, 1);
        r.event_ns = sqlite3_column_int64(s, 2);
        r.basis = (qa_altdocs_basis)sqlite3_column_int(s, 3);
        r.title = qa_sqlite_text(s, 4);
        r.body = qa_sqlite_text(s, 5);
        r.kind = qa_sqlite_text(s, 6);
        r.sentiment = sqlite3_column_double(s, 7);
        r.hash = qa_sqlite_text(s, 8);
        r.tickers = qa_sqlite_text(s, 9);
        r.rank = rank_col >= 0 ? sqlite3_column_double(s, rank_col) : 0.0;
        if (cb(ctx, &r)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    qa_status st = rc == SQLITE_DONE ? QA_OK : QA_SQLITE_CHECK(d->db, rc);
    sqlite3_finalize(s);
    return st;
}

qa_status qa_altdocs_each_for_ticker(qa_altdocs_t *d, const char *source, const char *ticker, qa_altdocs_cb cb,
                                     void *ctx) {
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(d->db,
                                 "SELECT " ROW_COLUMNS " FROM doc_tickers t JOIN docs d ON d.id = t.doc_id"
                                 " WHERE t.ticker = ?1 AND (?2 IS NULL OR d.source = ?2) ORDER BY d.event_ns, d.id",
                                 &s));
    sqlite3_bind_text(s, 1, ticker, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, source, -1, SQLITE_STATIC);
    return run_rows(d, s, -1, cb, ctx);
}

qa_status qa_altdocs_each(qa_altdocs_t *d, const char *source, int64_t from, int64_t to, qa_altdocs_cb cb, void *ctx) {
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(d->db,
                                 "SELECT " ROW_COLUMNS " FROM docs d WHERE d.event_ns >= ?1 AND d.event_ns < ?2"
                                 " AND (?3 IS NULL OR d.source = ?3) ORDER BY d.event_ns, d.id",
                                 &s));
    sqlite3_bind_int64(s, 1, from);
    sqlite3_bind_int64(s, 2, to);
    sqlite3_bind_text(s, 3, source, -1, SQLITE_STATIC);
    return run_rows(d, s, -1, cb, ctx);
}

qa_status qa_altdocs_search(qa_altdocs_t *d, const qa_altdocs_query *q, qa_altdocs_cb cb, void *ctx) {
    if (!q->match || !*q->match) return QA_FAIL(QA_ERR_CONFIG, "search: empty query");
    if (q->limit < 1) return QA_FAIL(QA_ERR_CONFIG, "search: limit %d (expected >= 1)", q->limit);
    sqlite3_stmt *s = NULL;
    /* bm25 weights: a word in the headline says more about the story than one in the
     * teaser or a tweet's body. */
    QA_TRY_RET(qa_sqlite_prepare(d->db,
                                 "SELECT " ROW_COLUMNS ", bm25(docs_fts, 2.0, 1.0) AS r"
                                 " FROM docs_fts JOIN docs d ON d.id = docs_fts.rowid"
                                 " WHERE docs_fts MATCH ?1 AND d.event_ns >= ?2 AND d.event_ns < ?3"
                                 " AND (?4 IS NULL OR d.source = ?4)"
                                 " AND (?5 IS NULL OR EXISTS (SELECT 1 FROM doc_tickers t"
                                 "      WHERE t.doc_id = d.id AND t.ticker = ?5))"
                                 " ORDER BY r, d.id LIMIT ?6",
                                 &s));
    sqlite3_bind_text(s, 1, q->match, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, q->from);
    sqlite3_bind_int64(s, 3, q->to);
    sqlite3_bind_text(s, 4, q->source, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 5, q->ticker, -1, SQLITE_STATIC);
    sqlite3_bind_int(s, 6, q->limit);
    qa_status st = run_rows(d, s, 10, cb, ctx);
    if (st != QA_OK && strstr(sqlite3_errmsg(d->db), "fts5"))
        return QA_FAIL(QA_ERR_CONFIG, "search: query '%s' is not valid FTS5 syntax (%s); quote phrases with \"...\"",
                       q->match, sqlite3_errmsg(d->db));
    return st;
}

qa_status qa_altdocs_stats_get(qa_altdocs_t *d, const char *source, qa_altdocs_stats *out) {
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(d->db,
                                 "SELECT (SELECT count(*) FROM docs WHERE ?1 IS NULL OR source = ?1),"
                                 " (SELECT count(*) FROM doc_tickers t JOIN docs d ON d.id = t.doc_id WHERE ?1 IS NULL OR d.source = ?1),"
                                 " (SELECT coalesce(sum(rows), 0) FROM doc_tickers t JOIN docs d ON d.id = t.doc_id WHERE ?1 IS NULL OR d.source = ?1),"
                                 " (SELECT count(DISTINCT ticker) FROM doc_tickers t JOIN docs d ON d.id = t.doc_id WHERE ?1 IS NULL OR d.source = ?1),"
                                 " (SELECT count(*) FROM imports WHERE ?1 IS NULL OR source = ?1),"
                                 " (SELECT coalesce(min(event_ns), 0) FROM docs WHERE ?1 IS NULL OR source = ?1),"
                                 " (SELECT coalesce(max(event_ns), 0) FROM docs WHERE ?1 IS NULL OR source = ?1)",
                                 &s));
    sqlite3_bind_text(s, 1, source, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    qa_status st = rc == SQLITE_ROW ? QA_OK : QA_SQLITE_CHECK(d->db, rc);
    if (st == QA_OK) {
        out->documents = sqlite3_column_int64(s, 0);
        out->links = sqlite3_column_int64(s, 1);
        out->rows = sqlite3_column_int64(s, 2);
        out->tickers = sqlite3_column_int64(s, 3);
        out->imports = sqlite3_column_int64(s, 4);
        out->first_ns = sqlite3_column_int64(s, 5);
        out->last_ns = sqlite3_column_int64(s, 6);
    }
    sqlite3_finalize(s);
    return st;
}

int qa_altdocs_ticker_norm(const char *in, char *out, size_t size) {
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        char c = *p;
        if (c == '.' || c == '/') c = '-';
        else if (isalnum((unsigned char)c)) c = (char)toupper((unsigned char)c);
        else if (c != '-') return 0;
        if (n + 1 >= size) return 0;
        out[n++] = c;
    }
    if (n == 0) return 0;
    out[n] = '\0';
    return 1;
}
