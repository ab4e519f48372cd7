/* `qa alt import`: news and tweet files into the document store (datasets/altdocs.h),
 * each document scored with VADER (datasets/altvader.h) on the way in.
 *
 * Sources and their quirks (docs/alt-data.md "Import"):
 *   reuters   ticker,company,date,title,summary,news_type (date YYYYMMDD, no time of day):
 *             the crawler's double spaces become ", " again, the "\xa0Video"/"| Video"
 *             tails and trailing spaces go; the document is the (date, title, summary)
 *             story, so the copies Reuters files under related tickers link to one
 *             document and exact duplicate rows are counted, not added; sentiment of the
 *             headline.
 *   stocknet  ticker,file_date,tweet_id,created_at,text,... (created_at UTC): HTML
 *             entities decoded; the tweet id is the document, so a tweet filed under
 *             several tickers is one document; a (tweet, ticker) pair is kept only when
 *             the text carries that ticker's cashtag ($D, not L$D or $DIS), which removes
 *             the noise of single-letter tickers; languages outside `langs` are skipped;
 *             sentiment of the text.
 * A row that breaks the format (field count, a date or id that does not parse, a bad
 * ticker) is a *bad row*: up to `max_bad` are skipped and reported (file:line, field,
 * value, what was expected), one more fails the import. Skips that are policy (language,
 * no cashtag, empty text) are counted, not errors.
 *
 * All rows of one import are one transaction; a new store is built under a temporary
 * name and renamed into place, so a failed import leaves the store as it was. A file whose
 * SHA-256 the store has imported before is not read again (rep->already): importing twice
 * changes nothing. */
#ifndef QA_DATASETS_ALTIMPORT_H
#define QA_DATASETS_ALTIMPORT_H

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qa_altimp_source {
    QA_ALTIMP_REUTERS = 0,  /* "reuters" */
    QA_ALTIMP_STOCKNET = 1, /* "stocknet" */
    QA_ALTIMP_SOURCE_COUNT = 2
} qa_altimp_source;

const char *qa_altimp_source_name(qa_altimp_source s);
/* QA_ERR_CONFIG listing the choices when unknown. */
qa_status qa_altimp_source_parse(const char *name, qa_altimp_source *out);

typedef struct qa_altimp_opts {
    const char *db;       /* document store (created when missing) */
    const char *input;    /* CSV, plain or gzip */
    qa_altimp_source source;
    const char *lexicon;  /* VADER lexicon CSV (token, mean_sentiment, ...) */
    long max_bad;         /* bad rows skipped before the import fails (0: the first fails it) */
    const char *langs;    /* stocknet: comma-separated languages kept ("en"); NULL or "" keeps all */
    int progress;         /* report progress on stderr */
} qa_altimp_opts;

#define QA_ALTIMP_EXAMPLES 5

typedef struct qa_altimp_report {
    long long rows;         /* data rows read */
    long long docs_new;     /* documents added */
    long long copies;       /* rows linking a known document to another ticker */
    long long duplicates;   /* rows repeating a known (document, ticker) */
    long long skip_lang, skip_cashtag, skip_empty;
    long long bad;          /* bad rows skipped */
    char examples[QA_ALTIMP_EXAMPLES][320]; /* the first bad rows' messages */
    double seconds;
    char file_sha256[65];
    int already;            /* the same file (SHA-256) was imported before: nothing was done */
} qa_altimp_report;

/* Runs one import. On failure the store is unchanged and the error names the file, line,
 * field, value and what was expected; *rep holds the counts so far either way. */
qa_status qa_altimp_run(const qa_altimp_opts *o, qa_altimp_report *rep);

/* The report as compact JSON (malloc'd; NULL when out of memory). */
char *qa_altimp_report_json(const qa_altimp_opts *o, const qa_altimp_report *rep);

/* ---- parsing helpers (exposed for tests) --------------------------------------------- */

/* Twitter's created_at ("Thu Jan 02 15:45:02 +0000 2014") to UTC ns; 1 on success. */
int qa_altimp_parse_twitter_time(const char *text, long long *ns);
/* 1 when `text` holds the cashtag of `ticker` ("$AAPL", any case; '-' in the ticker
 * matches '-' or '.') not preceded by a letter, digit or '$' and not followed by a
 * letter or digit. */
int qa_altimp_has_cashtag(const char *text, const char *ticker);
/* In-place cleanups: Reuters' crawler commas and tails; HTML entities of tweets
 * (&amp; &lt; &gt; &quot; &#39; &apos; and numeric &#NN; / &#xNN; as UTF-8). */
void qa_altimp_clean_reuters(char *s);
void qa_altimp_decode_entities(char *s);

#ifdef __cplusplus
}
#endif
#endif
