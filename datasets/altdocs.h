/* The alternative-data document store: news stories and social posts in one SQLite file
 * with FTS5 full-text search (format "quantumalpha.altdocs", version 1; schema in
 * docs/alt-data.md).
 *
 * One row per document (a story or a tweet), linked to every ticker it was tagged with
 * (doc_tickers); the same document delivered again for another ticker is a *copy* (one
 * more link, never a second document) and delivered again for the same ticker an exact
 * *duplicate* (the link's row count grows). Counting documents per ticker therefore
 * never counts one story twice. Each document keeps its event time and how it was
 * derived: a timestamp (tweets: created_at, UTC) or a date only (news stories: the
 * aligner makes those available at the next session's open).
 *
 * Writers (qa alt import) work inside one transaction per import; readers (search, the
 * aligner, the live replay) may run while a writer works (WAL). */
#ifndef QA_DATASETS_ALTDOCS_H
#define QA_DATASETS_ALTDOCS_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QA_ALTDOCS_FORMAT "quantumalpha.altdocs"
#define QA_ALTDOCS_FORMAT_VERSION 1

typedef struct qa_altdocs qa_altdocs_t;

/* How a document's event time was derived. */
typedef enum qa_altdocs_basis {
    QA_ALTDOCS_TIMESTAMP = 0, /* "timestamp": exact publication time (UTC) */
    QA_ALTDOCS_DATE = 1,      /* "date": the day only; event_ns is 00:00 UTC of that day */
    QA_ALTDOCS_BASIS_COUNT = 2
} qa_altdocs_basis;

const char *qa_altdocs_basis_name(qa_altdocs_basis b);

/* Opens the store at `path`. With `create` a missing file is created with the schema;
 * without it a missing file is QA_ERR_NOT_FOUND. A file that is not a document store
 * (or a newer version) is refused naming the file. */
qa_status qa_altdocs_open(const char *path, int create, qa_altdocs_t **out);
/* Closes (rolling back an open import transaction). Accepts NULL. */
void qa_altdocs_close(qa_altdocs_t *d);
const char *qa_altdocs_path(const qa_altdocs_t *d);

/* ---- writing (importers) ------------------------------------------------------------- */

/* One document as an importer hands it over. Strings are UTF-8 and read during the
 * call only. `key` identifies the document within its source (a tweet id; for news, the
 * content hash), `hash` is the SHA-256 hex of its normalized content. */
typedef struct qa_altdocs_doc {
    const char *source;   /* "reuters", "stocknet", ... */
    const char *key;
    int64_t event_ns;     /* UTC ns: the timestamp, or 00:00 UTC of the day */
    qa_altdocs_basis basis;
    const char *title;    /* may be "" (tweets have none) */
    const char *body;
    const char *kind;     /* "topStory", "normal", "tweet", "retweet", "reply", ... */
    const char *lang;     /* ISO code or "" */
    double sentiment;     /* VADER compound of the scored text, [-1, 1] */
    const char *hash;
} qa_altdocs_doc;

/* What qa_altdocs_add did with one (document, ticker) row. */
typedef enum qa_altdocs_outcome {
    QA_ALTDOCS_NEW = 0,       /* a new document */
    QA_ALTDOCS_COPY = 1,      /* a known document linked to one more ticker */
    QA_ALTDOCS_DUPLICATE = 2  /* a known (document, ticker): only its row count grew */
} qa_altdocs_outcome;

/* Starts / ends the import transaction (all adds of one import are atomic). */
qa_status qa_altdocs_begin(qa_altdocs_t *d);
qa_status qa_altdocs_commit(qa_altdocs_t *d);
void qa_altdocs_rollback(qa_altdocs_t *d);

/* Adds one row: the document (when new) and its link to `ticker`. A known key whose
 * content hash differs is QA_ERR_INTEGRITY naming both (the source changed a document
 * under the same id). *outcome says which case it was. Inside a transaction. */
qa_status qa_altdocs_add(qa_altdocs_t *d, const qa_altdocs_doc *doc, const char *ticker,
                         qa_altdocs_outcome *outcome);

/* 1 when a file with this SHA-256 was imported from `source` before (0 when not; a
 * negative status on error). */
int qa_altdocs_imported(qa_altdocs_t *d, const char *source, const char *file_sha256);

/* Records one finished import (file, its SHA-256, counts, skip report JSON) in the
 * store's `imports` table. Inside the transaction. */
qa_status qa_altdocs_log_import(qa_altdocs_t *d, const char *source, const char *path, const char *file_sha256,
                                const char *report_json);

/* ---- reading ------------------------------------------------------------------------ */

/* A document as read back (views valid during the callback only). */
typedef struct qa_altdocs_row {
    int64_t id;
    const char *source;
    int64_t event_ns;
    qa_altdocs_basis basis;
    const char *title, *body, *kind, *tickers; /* tickers: space-separated, sorted */
    const char *hash;                          /* SHA-256 hex of the normalized content */
    double sentiment;
    double rank;  /* search: FTS5 bm25 (lower = better); 0 elsewhere */
} qa_altdocs_row;

/* Return nonzero from a callback to stop early (not an error). */
typedef int (*qa_altdocs_cb)(void *ctx, const qa_altdocs_row *row);

/* Documents of `source` (NULL: all) linked to `ticker`, in (event_ns, id) order, each
 * once however many rows delivered it. */
qa_status qa_altdocs_each_for_ticker(qa_altdocs_t *d, const char *source, const char *ticker, qa_altdocs_cb cb,
                                     void *ctx);
/* All documents of `source` (NULL: all) with event_ns in [from, to), in (event_ns, id)
 * order (the live replay). */
qa_status qa_altdocs_each(qa_altdocs_t *d, const char *source, int64_t from, int64_t to, qa_altdocs_cb cb,
                          void *ctx);

typedef struct qa_altdocs_query {
    const char *match;   /* FTS5 query ("apple AND iphone", "\"stock split\"", "downgrad*") */
    const char *ticker;  /* NULL: any */
    const char *source;  /* NULL: any */
    int64_t from, to;    /* event_ns range [from, to) */
    int limit;           /* >= 1 */
} qa_altdocs_query;

/* Full-text search ranked by bm25 (title weighted 2x the body), best first. A query the
 * FTS5 grammar rejects is QA_ERR_CONFIG quoting it. */
qa_status qa_altdocs_search(qa_altdocs_t *d, const qa_altdocs_query *q, qa_altdocs_cb cb, void *ctx);

/* QA_OK when the store holds a document of `source`; else QA_ERR_CONFIG naming the
 * sources it has (a misspelt source would otherwise align all-zero series or find
 * nothing). */
qa_status qa_altdocs_require_source(qa_altdocs_t *d, const char *source);

/* Counts for `qa alt info`. */
typedef struct qa_altdocs_stats {
    long long documents, links, rows, tickers, imports;
    int64_t first_ns, last_ns;
} qa_altdocs_stats;
qa_status qa_altdocs_stats_get(qa_altdocs_t *d, const char *source, qa_altdocs_stats *out);

/* Canonical ticker form shared by importers and the aligner: upper case, '.' and '/'
 * become '-' ("BRK.B" and "brk-b" are both "BRK-B"). Returns 0 when the result does not
 * fit or the ticker is empty or holds other characters than A-Z 0-9 '-'. */
int qa_altdocs_ticker_norm(const char *in, char *out, size_t size);

#ifdef __cplusplus
}
#endif
#endif
