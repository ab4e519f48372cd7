/* qa alt: alternative data — import news and tweets into the document store, align
 * sentiment and news-volume series to a market file, full-text search, the event study
 * (docs/alt-data.md). */
#include <jansson.h>  /* search results as JSON lines */
#include <stdint.h>   /* INT64_MIN */
#include <stdio.h>    /* printf */
#include <stdlib.h>   /* getenv */
#include <string.h>   /* strcmp */

#include "cli/args.h"            /* option tables */
#include "cli/cli.h"             /* exit codes, dispatch */
#include "common/timeparse.h"    /* result times */
#include "datasets/altalign.h"   /* qa alt align */
#include "datasets/altdocs.h"    /* the store: search, info */
#include "datasets/altimport.h"  /* qa alt import */

#define DEFAULT_DB "alt.db"

/* The shipped files under a data root (../shared/datasets layout). */
static const char *const source_files[QA_ALTIMP_SOURCE_COUNT] = {
    "alt_text/reuters_headlines_by_ticker_2011H2_2018-06.csv.gz", "alt_text/stocknet_tweets_2014-2016.csv.gz"};
#define LEXICON_FILE "alt_text/vader_lexicon.csv.gz"

static const char *data_root(const char *given) {
    if (given) return given;
    const char *env = getenv("QA_DATA_ROOT");
    return env && *env ? env : "../shared/datasets";
}

static void import_usage(FILE *out) {
    fprintf(out,
            "usage: qa alt import --source reuters|stocknet [--input FILE] [--db FILE] [--lexicon FILE]\n"
            "                     [--data-root DIR] [--langs en,...] [--max-bad N] [--json]\n\n"
            "Reads a news or tweet file into the document store (SQLite with FTS5 search), scoring each\n"
            "document with VADER. Copies of a story filed under several tickers become one document linked\n"
            "to each; exact duplicates are counted, not added; tweets are kept for a ticker only when they\n"
            "carry its cashtag. Importing the same file again adds nothing. docs/alt-data.md.\n\n"
            "  --source S       reuters (headlines, dates only) or stocknet (tweets, UTC timestamps)\n"
            "  --input FILE     CSV (plain or gzip); default: the shipped file under --data-root\n"
            "  --db FILE        document store (default alt.db; created when missing)\n"
            "  --lexicon FILE   VADER lexicon (default: DATA_ROOT/" LEXICON_FILE ")\n"
            "  --data-root DIR  the shipped data sets (default $QA_DATA_ROOT or ../shared/datasets)\n"
            "  --langs L        stocknet: languages kept, comma-separated (default en; \"\" keeps all)\n"
            "  --max-bad N      skip up to N malformed rows, reporting them (default 0: the first fails)\n"
            "  --json           print the import report as JSON\n");
}

static int cmd_import(int argc, char **argv) {
    const char *source = NULL, *input = NULL, *db = DEFAULT_DB, *lexicon = NULL, *root = NULL, *langs = "en";
    long long max_bad = 0;
    int json = 0;
    static const char *const sources[] = {"reuters", "stocknet", NULL};
    const qa_cli_opt opts[] = {QA_OPT_CHOICE("source", &source, sources), QA_OPT_STR("input", &input),
                               QA_OPT_STR("db", &db),          QA_OPT_STR("lexicon", &lexicon),
                               QA_OPT_STR("data-root", &root), QA_OPT_STR("langs", &langs),
                               QA_OPT_INT("max-bad", &max_bad, 0, 1e12), QA_OPT_FLAG("json", &json),
                               QA_OPT_END};
    int rc = qa_cli_parse("alt import", argc, argv, opts, import_usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    if (!source) return qa_cli_usage_error("alt import", "give --source reuters or --source stocknet");
    qa_altimp_opts o = {0};
    if (qa_altimp_source_parse(source, &o.source) != QA_OK) return qa_cli_fail("alt import");
    char in_path[4096], lex_path[4096];
    if (!input) {
        snprintf(in_path, sizeof in_path, "%s/%s", data_root(root), source_files[o.source]);
        input = in_path;
    }
    if (!lexicon) {
        snprintf(lex_path, sizeof lex_path, "%s/%s", data_root(root), LEXICON_FILE);
        lexicon = lex_path;
    }
    o.db = db;
    o.input = input;
    o.lexicon = lexicon;
    o.max_bad = (long)max_bad;
    o.langs = langs;
    o.progress = 1;
    qa_altimp_report rep;
    qa_status st = qa_altimp_run(&o, &rep);
    if (st != QA_OK) return qa_cli_fail("alt import");
    if (rep.already && !json) {
        printf("%s: already imported into %s (same SHA-256 %.16s...): nothing to do\n", input, db, rep.file_sha256);
        return QA_EXIT_OK;
    }
    if (json) {
        char *j = qa_altimp_report_json(&o, &rep);
        printf("%s\n", j ? j : "{}");
        free(j);
        return QA_EXIT_OK;
    }
    printf("%s: %lld rows in %.2f s (%.0f rows/s) into %s\n", input, rep.rows, rep.seconds,
           rep.seconds > 0 ? (double)rep.rows / rep.seconds : 0.0, db);
    printf("  new documents %lld, copies under another ticker %lld, exact duplicates %lld\n", rep.docs_new, rep.copies,
           rep.duplicates);
    printf("  skipped: language %lld, no cashtag %lld, empty %lld, bad rows %lld\n", rep.skip_lang, rep.skip_cashtag,
           rep.skip_empty, rep.bad);
    for (long long i = 0; i < rep.bad && i < QA_ALTIMP_EXAMPLES; i++) printf("    %s\n", rep.examples[i]);
    return QA_EXIT_OK;
}

static void align_usage(FILE *out) {
    fprintf(out,
            "usage: qa alt align --data MARKET.h5 --source reuters|stocknet [--db FILE] [--prefix P] [--z-window N]\n\n"
            "Writes /alt/P_count, P_sent_mean, P_sent_maxabs and P_count_z (P: news for reuters, tweets for\n"
            "stocknet) per symbol and bar of the market file, without look-ahead: a document counts for the\n"
            "first bar whose close comes after it is available (dated stories: the next session's open).\n"
            "Replaces earlier panels of the same prefix. docs/alt-data.md.\n\n"
            "  --data FILE      market file (qa data import), written in place\n"
            "  --db FILE        document store (default alt.db)\n"
            "  --source S       the store's source: reuters or stocknet\n"
            "  --prefix P       dataset prefix (default news for reuters, tweets for stocknet)\n"
            "  --z-window N     previous bars in the count z-score (default 20, 2..256)\n");
}

static int cmd_align(int argc, char **argv) {
    qa_altalign_opts o = {NULL, DEFAULT_DB, NULL, NULL, 20};
    long long z = 20;
    const qa_cli_opt opts[] = {QA_OPT_STR("data", &o.market), QA_OPT_STR("db", &o.db), QA_OPT_STR("source", &o.source),
                               QA_OPT_STR("prefix", &o.prefix), QA_OPT_INT("z-window", &z, 2, QA_ALTSERIES_MAX_WINDOW),
                               QA_OPT_END};
    int rc = qa_cli_parse("alt align", argc, argv, opts, align_usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    if (!o.market || !o.source) return qa_cli_usage_error("alt align", "give --data MARKET.h5 and --source");
    o.z_window = (int)z;
    qa_altalign_report rep;
    if (qa_altalign_run(&o, &rep) != QA_OK) return qa_cli_fail("alt align");
    printf("%s: /alt/%s_{count,sent_mean,sent_maxabs,count_z} for %lld symbols (%lld with documents)\n", o.market,
           rep.prefix, rep.symbols, rep.symbols_with_docs);
    printf("  documents counted %lld, before the data %lld, after the data %lld; docs_hash %.16s\n", rep.docs_used,
           rep.docs_before, rep.docs_after, rep.docs_hash);
    return QA_EXIT_OK;
}

static void search_usage(FILE *out) {
    fprintf(out,
            "usage: qa alt search QUERY [--db FILE] [--ticker T] [--source S] [--from DATE] [--to DATE]\n"
            "                     [--limit N] [--json]\n\n"
            "Full-text search (SQLite FTS5, bm25 ranking, headline words weigh double). QUERY uses FTS5\n"
            "syntax: words (all must match), OR, NOT, \"a phrase\", prefix*.\n");
}

typedef struct search_out {
    int json;
    long n;
} search_out;

static int print_hit(void *ctx, const qa_altdocs_row *r) {
    search_out *so = ctx;
    char when[40];
    qa_time_format_iso(r->event_ns, when, sizeof when);
    so->n++;
    if (so->json) {
        json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:f}", "id", (json_int_t)r->id, "source", r->source,
                              "time", when, "time_basis", qa_altdocs_basis_name(r->basis), "tickers", r->tickers, "title",
                              r->title, "body", r->body, "sentiment", r->sentiment, "rank", r->rank);
        char *t = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(6)) : NULL;
        printf("%s\n", t ? t : "{}");
        free(t);
        json_decref(o);
        return 0;
    }
    const char *text = *r->title ? r->title : r->body;
    printf("%-20s %-9s %+.3f %-14.14s %.90s\n", when, r->source, r->sentiment, r->tickers, text);
    return 0;
}

static int cmd_search(int argc, char **argv) {
    const char *db = DEFAULT_DB, *from = NULL, *to = NULL;
    long long limit = 20;
    qa_altdocs_query q = {NULL, NULL, NULL, INT64_MIN, INT64_MAX, 20};
    search_out so = {0, 0};
    const char *pos[1];
    size_t npos = 0;
    const qa_cli_opt opts[] = {QA_OPT_STR("db", &db),       QA_OPT_STR("ticker", &q.ticker), QA_OPT_STR("source", &q.source),
                               QA_OPT_STR("from", &from),   QA_OPT_STR("to", &to),
                               QA_OPT_INT("limit", &limit, 1, 100000), QA_OPT_FLAG("json", &so.json), QA_OPT_END};
    int rc = qa_cli_parse("alt search", argc, argv, opts, search_usage, pos, 1, &npos);
    if (rc != QA_CLI_RUN) return rc;
    if (npos != 1) return qa_cli_usage_error("alt search", "give one QUERY (quote it)");
    q.match = pos[0];
    q.limit = (int)limit;
    if (!qa_cli_time_opt(from, &q.from))
        return qa_cli_usage_error("alt search", "--from '%s': expected a date or ISO time%s", from, qa_time_parse_why());
    if (!qa_cli_time_opt(to, &q.to))
        return qa_cli_usage_error("alt search", "--to '%s': expected a date or ISO time%s", to, qa_time_parse_why());
    char ticker[32];
    if (q.ticker) {
        if (!qa_altdocs_ticker_norm(q.ticker, ticker, sizeof ticker))
            return qa_cli_usage_error("alt search", "--ticker '%s': expected letters, digits, '-' or '.'", q.ticker);
        q.ticker = ticker;
    }
    qa_altdocs_t *d = NULL;
    qa_status st = qa_altdocs_open(db, 0, &d);
    if (st == QA_OK && q.source) st = qa_altdocs_require_source(d, q.source);
    if (st == QA_OK) st = qa_altdocs_search(d, &q, print_hit, &so);
    qa_altdocs_close(d);
    if (st != QA_OK) return qa_cli_fail("alt search");
    if (!so.json) fprintf(stderr, "%ld result%s\n", so.n, so.n == 1 ? "" : "s");
    return QA_EXIT_OK;
}

static void info_usage(FILE *out) {
    fprintf(out, "usage: qa alt info [--db FILE]\n\nDocuments, ticker links, delivered rows and time span per source.\n");
}

static int cmd_info(int argc, char **argv) {
    const char *db = DEFAULT_DB;
    const qa_cli_opt opts[] = {QA_OPT_STR("db", &db), QA_OPT_END};
    int rc = qa_cli_parse("alt info", argc, argv, opts, info_usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    qa_altdocs_t *d = NULL;
    if (qa_altdocs_open(db, 0, &d) != QA_OK) return qa_cli_fail("alt info");
    printf("%-10s %10s %10s %10s %8s %8s  %-20s %-20s\n", "source", "documents", "links", "rows", "tickers", "imports",
           "first", "last");
    const char *sources[] = {"reuters", "stocknet", NULL};
    qa_status st = QA_OK;
    for (int i = 0; i < 3 && st == QA_OK; i++) {
        qa_altdocs_stats s;
        st = qa_altdocs_stats_get(d, sources[i], &s);
        if (st != QA_OK || (sources[i] && s.documents == 0)) continue;
        char a[40] = "-", b[40] = "-";
        if (s.documents) {
            qa_time_format_iso(s.first_ns, a, sizeof a);
            qa_time_format_iso(s.last_ns, b, sizeof b);
        }
        printf("%-10s %10lld %10lld %10lld %8lld %8lld  %-20s %-20s\n", sources[i] ? sources[i] : "all", s.documents,
               s.links, s.rows, s.tickers, s.imports, a, b);
    }
    qa_altdocs_close(d);
    return st == QA_OK ? QA_EXIT_OK : qa_cli_fail("alt info");
}

int qa_cmd_alt(int argc, char **argv) {
    static const qa_cli_command table[] = {
        {"import", "news (reuters) or tweets (stocknet) into the document store, with VADER sentiment", cmd_import},
        {"align", "sentiment and news-volume series per symbol and bar of a market file (/alt), no look-ahead", cmd_align},
        {"search", "full-text search of the documents (FTS5, bm25)", cmd_search},
        {"info", "what the document store holds", cmd_info},
        {"study", "event study: abnormal returns around extreme sentiment or news volume (HTML report)", qa_cmd_alt_study},
        {NULL, NULL, NULL},
    };
    return qa_cli_dispatch("alt", "Alternative data: documents, sentiment, aligned series (docs/alt-data.md).", table, argc,
                           argv);
}
