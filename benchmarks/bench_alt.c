/* Alternative data on the real shipped files (shared/datasets/alt_text, read in place):
 *
 *  1. alt_vader           qa_altvader_compound over every tweet text of the StockNet file
 *                         (119,844) and every Reuters title (51,087), loaded into memory
 *                         first, one thread. Work model: one text scored per item; bytes =
 *                         the texts' bytes (each read once by the tokenizer).
 *  2. alt_import_reuters  qa_altimp_run into a fresh SQLite store (deleted between
 *     alt_import_stocknet repeats): SHA-256 of the file, gzip inflate + CSV parse, cleaning,
 *                         SHA-256 of each document, VADER, SQLite inserts with FTS5 indexing,
 *                         one transaction. Work model: the file's data rows (rows/s) and the
 *                         new documents stored (documents/s) per run; bytes = the
 *                         uncompressed CSV. One warm-up + 3 timed runs.
 *  3. alt_search          qa_altdocs_search (bm25, limit 20) on a store holding both sources
 *                         (105,801 documents): 200 fixed queries in four classes (single
 *                         frequent words, two-word AND, phrases, prefixes), then the same 200
 *                         with a ticker filter and a date range. Per-call latency, p50/p90/p99
 *                         per class over 5 passes after a warm-up pass (queries interleaved).
 *  4. alt_align           qa_altalign_run of each source onto a market file made from the
 *                         shipped daily sample (qa data import --preset sp500-daily: 16
 *                         symbols x ~14k bars). Work model: symbol-bars of the grid (four
 *                         series written for each) and documents read for those symbols;
 *                         bytes = the four panels of doubles written.
 * Correctness first: every import's counts equal the known totals (reuters 51,087 rows, 26,195
 * new documents; stocknet with langs "en" 119,844 rows, 79,606 documents; no bad rows); VADER
 * scores hand-worked sentences exactly and gives the same sum on every pass; every unfiltered
 * query returns results and every filtered result has the ticker and lies in the range; the
 * aligner covers every symbol and gives the same documents hash on every run.
 *
 * Usage: bench_alt [SOURCE_DIR]   (default $QA_SOURCE_DIR, else "."): the data sets are
 * $QA_DATA_ROOT/alt_text, else SOURCE_DIR/../shared/datasets/alt_text; the daily sample is
 * SOURCE_DIR/datasets/sample; qa is the build's bin/qa next to benchmarks/. Exits 77 when the
 * shared data sets are absent. */
#include <math.h>    /* fabs, sqrt */
#include <stdarg.h>  /* va_list */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>  /* readlink, mkdtemp */

#include "bench.h"
#include "common/fs.h"           /* qa_fs_exists, qa_fs_size */
#include "common/log.h"          /* quiet imports */
#include "common/timeparse.h"    /* qa_days_from_civil: date ranges */
#include "datasets/altalign.h"
#include "datasets/altdocs.h"
#include "datasets/altimport.h"
#include "datasets/altvader.h"
#include "datasets/csv.h"        /* the texts, read once into memory */
#include "datasets/store.h"      /* the market file's shape */

#define REUTERS_FILE "reuters_headlines_by_ticker_2011H2_2018-06.csv.gz"
#define STOCKNET_FILE "stocknet_tweets_2014-2016.csv.gz"
#define LEXICON_FILE "vader_lexicon.csv.gz"

/* Known totals of the shipped files (the import's README rules; tests/datasets/test_alt.sh). */
enum { REUTERS_ROWS = 51087, REUTERS_DOCS = 26195, STOCKNET_ROWS = 119844, STOCKNET_DOCS = 79606 };

static void die(const char *what) {
    fprintf(stderr, "bench_alt: %s: %s\n", what, qa_err_msg());
    exit(1);
}

__attribute__((format(printf, 1, 2), noreturn)) static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench_alt: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

/* out (QA_PATH_MAX bytes) = the formatted path; a path that does not fit is an error. */
__attribute__((format(printf, 2, 3))) static void mkpath(char *out, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, QA_PATH_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= QA_PATH_MAX) fail("path too long: %s...", out);
}

/* ---- the texts ------------------------------------------------------------------------ */

typedef struct texts {
    char **t;
    size_t n, cap;
    double bytes;     /* sum of the texts' lengths */
    double csv_bytes; /* uncompressed bytes of the whole file */
} texts;

/* Column `col` of every data row of a CSV (plain or gzip), copied into memory. */
static void load_column(const char *path, const char *col, texts *out) {
    memset(out, 0, sizeof *out);
    qa_csv_t *csv = NULL;
    size_t nf, c = (size_t)-1;
    if (qa_csv_open(path, ',', &csv) != QA_OK || qa_csv_next(csv, &nf) != QA_OK) die(path);
    for (size_t i = 0; i < nf; i++)
        if (strcmp(qa_csv_field(csv, i), col) == 0) c = i;
    if (c == (size_t)-1) fail("%s: no column '%s'", path, col);
    qa_status st;
    while ((st = qa_csv_next(csv, &nf)) == QA_OK) {
        if (out->n == out->cap) {
            out->cap = out->cap ? 2 * out->cap : 4096;
            out->t = realloc(out->t, out->cap * sizeof *out->t);
            if (!out->t) fail("%s: out of memory", path);
        }
        const char *f = c < nf ? qa_csv_field(csv, c) : "";
        out->t[out->n] = strdup(f);
        if (!out->t[out->n]) fail("%s: out of memory", path);
        out->bytes += (double)strlen(f);
        out->n++;
    }
    if (st != QA_ERR_NOT_FOUND) die(path);
    out->csv_bytes = (double)qa_csv_bytes(csv);
    qa_csv_close(csv);
}

static void free_texts(texts *x) {
    for (size_t i = 0; i < x->n; i++) free(x->t[i]);
    free(x->t);
    memset(x, 0, sizeof *x);
}

/* ---- 1. VADER ----------------------------------------------------------------------------- */

static double norm(double s) { return s / sqrt(s * s + 15.0); } /* the reference's normalisation */

static double vader_pass(const qa_altvader_t *v, const texts *x) {
    double sum = 0.0;
    for (size_t i = 0; i < x->n; i++) {
        double c = qa_altvader_compound(v, x->t[i]);
        if (!(c >= -1.0 && c <= 1.0)) fail("vader: compound of text '%s' out of [-1, 1]: %g", x->t[i], c);
        sum += c;
    }
    return sum;
}

static void bench_vader(const qa_altvader_t *v, const texts *x, const char *what) {
    enum { REPEATS = 7 };
    double t[REPEATS], ref = vader_pass(v, x); /* warm-up; the reference sum */
    for (int r = 0; r < REPEATS; r++) {
        uint64_t t0 = qa_time_ns();
        double s = vader_pass(v, x);
        t[r] = qa_time_since(t0);
        if (s != ref) fail("vader: %s: pass sum %.17g differs from the first %.17g", what, s, ref);
    }
    char size[64];
    snprintf(size, sizeof size, "%zu %s", x->n, what);
    double med = qa_bench_median(t, REPEATS);
    qa_bench_result res = {"alt_vader", "cpu-1t", size, med, (double)x->n, "texts", x->bytes, 0};
    qa_bench_report(&res);
    printf("  alt_vader %s: %.1f bytes per text, mean compound %.4f\n", what, x->bytes / (double)x->n,
           ref / (double)x->n);
}

/* ---- 2. imports --------------------------------------------------------------------------- */

static void remove_store(const char *db) {
    char side[QA_PATH_MAX];
    remove(db);
    mkpath(side, "%s-wal", db);
    remove(side);
    mkpath(side, "%s-shm", db);
    remove(side);
}

static void import_checked(const qa_altimp_opts *o, long long rows, long long docs, qa_altimp_report *rep) {
    if (qa_altimp_run(o, rep) != QA_OK) die("import");
    if (rep->rows != rows || rep->docs_new != docs || rep->bad != 0) {
        fprintf(stderr, "bench_alt: import %s: %lld rows, %lld new documents, %lld bad; expected %lld, %lld, 0\n",
                qa_altimp_source_name(o->source), rep->rows, rep->docs_new, rep->bad, rows, docs);
        exit(1);
    }
}

/* One warm-up (the correctness check) and 3 timed imports into a fresh store; the last
 * store stays at `db`. */
static void bench_import(const char *db, qa_altimp_source src, const char *input, const char *lexicon,
                         long long rows, long long docs, double csv_bytes) {
    enum { REPEATS = 3 };
    qa_altimp_opts o = {.db = db, .input = input, .source = src, .lexicon = lexicon, .max_bad = 0,
                        .langs = src == QA_ALTIMP_STOCKNET ? "en" : NULL, .progress = 0};
    qa_altimp_report rep;
    double t[REPEATS];
    for (int r = -1; r < REPEATS; r++) {
        remove_store(db);
        uint64_t t0 = qa_time_ns();
        import_checked(&o, rows, docs, &rep);
        if (r >= 0) t[r] = qa_time_since(t0);
    }
    char bench[64], size[64];
    snprintf(bench, sizeof bench, "alt_import_%s", qa_altimp_source_name(src));
    snprintf(size, sizeof size, "%lld rows", rows);
    double med = qa_bench_median(t, REPEATS);
    qa_bench_result r1 = {bench, "cpu-1t", size, med, (double)rows, "rows", csv_bytes, 0};
    qa_bench_report(&r1);
    snprintf(size, sizeof size, "%lld new documents", docs);
    qa_bench_result r2 = {bench, "cpu-1t", size, med, (double)docs, "documents", csv_bytes, 0};
    qa_bench_report(&r2);
    printf("  %s: %.1f MB of CSV; %lld copies, %lld duplicates, skipped language %lld, no cashtag %lld, empty %lld; "
           "store %.1f MB; runs %.2f %.2f %.2f s\n",
           bench, csv_bytes / 1e6, rep.copies, rep.duplicates, rep.skip_lang, rep.skip_cashtag, rep.skip_empty,
           (double)qa_fs_size(db) / 1e6, t[0], t[1], t[2]);
}

/* ---- 3. search ---------------------------------------------------------------------------- */

static const char *const q_word[] = {
    "apple",    "shares",    "earnings", "stock",      "market",   "bank",     "billion",   "profit",   "deal",
    "sales",    "google",    "china",    "facebook",   "price",    "investors", "options",  "trade",    "debt",
    "growth",   "quarter",   "analyst",  "iphone",     "microsoft", "amazon",  "dividend",  "revenue",  "outlook",
    "oil",      "merger",    "acquisition", "lawsuit", "buyback",  "upgrade",  "downgrade", "ceo",      "layoffs",
    "tax",      "fed",       "rates",    "bond",       "gold",     "energy",   "europe",    "japan",    "court",
    "drug",     "chip",      "cloud",    "mobile",     "retail",   "insurance", "union",    "recall",   "fine",
    "settlement", "ipo",     "netflix",  "walmart",    "disney",   "boeing"};
static const char *const q_and[] = {
    "apple AND iphone",     "shares AND fall",       "profit AND beats",     "earnings AND estimates",
    "bank AND fine",        "china AND sales",       "oil AND prices",       "google AND android",
    "facebook AND ads",     "deal AND talks",        "ceo AND resigns",      "merger AND approval",
    "stock AND buy",        "dividend AND raises",   "debt AND rating",      "microsoft AND cloud",
    "amazon AND prime",     "court AND ruling",      "drug AND approval",    "quarter AND revenue",
    "bank AND settlement",  "shares AND rise",       "profit AND falls",     "sales AND forecast",
    "oil AND output",       "iphone AND sales",      "google AND search",    "facebook AND users",
    "amazon AND cloud",     "microsoft AND windows", "bank AND capital",     "fed AND rates",
    "china AND growth",     "japan AND yen",         "europe AND debt",      "gold AND price",
    "stock AND options",    "market AND crash",      "investors AND worry",  "analyst AND upgrade",
    "tax AND reform",       "union AND strike",      "insurance AND claims", "chip AND demand",
    "retail AND sales",     "boeing AND orders",     "disney AND park",      "walmart AND wages",
    "netflix AND subscribers", "ipo AND pricing"};
static const char *const q_phrase[] = {
    "\"stock split\"",       "\"wall street\"",        "\"hong kong\"",         "\"price target\"",
    "\"earnings call\"",     "\"all time high\"",      "\"interest rates\"",    "\"federal reserve\"",
    "\"job cuts\"",          "\"share buyback\"",      "\"net income\"",        "\"first quarter\"",
    "\"second quarter\"",    "\"third quarter\"",      "\"fourth quarter\"",    "\"chief executive\"",
    "\"record high\"",       "\"short interest\"",     "\"credit card\"",       "\"oil prices\"",
    "\"apple watch\"",       "\"iphone 6\"",           "\"data center\"",       "\"cloud computing\"",
    "\"private equity\"",    "\"hedge fund\"",         "\"central bank\"",      "\"trade war\"",
    "\"tax reform\"",        "\"class action\"",       "\"united states\"",     "\"european commission\"",
    "\"new york\"",          "\"sell off\"",           "\"buy rating\"",        "\"strong buy\"",
    "\"market cap\"",        "\"stock market\"",       "\"supply chain\"",      "\"self driving\"",
    "\"artificial intelligence\"", "\"sources say\"",  "\"profit warning\"",    "\"beats estimates\"",
    "\"misses estimates\"",  "\"raises dividend\"",    "\"cuts forecast\"",     "\"takeover bid\"",
    "\"joint venture\"",     "\"annual meeting\""};
static const char *const q_prefix[] = {
    "downgrad*", "upgrad*",   "acqui*",    "invest*",   "bank*",     "regulat*", "lawsuit*", "earn*",
    "profit*",   "dividend*", "buyback*",  "restructur*", "bankrupt*", "settl*", "investigat*", "merg*",
    "layoff*",   "resign*",   "announc*",  "launch*",   "expan*",    "partner*", "recall*",  "approv*",
    "forecast*", "guid*",     "beat*",     "miss*",     "rall*",     "plung*",   "surg*",    "tumbl*",
    "soar*",     "slump*",    "crash*",    "volatil*",  "inflat*",   "recess*",  "sanction*", "tariff*"};

#define NELEM(a) (sizeof(a) / sizeof *(a))

/* Tickers in both sources; date windows [from, to) as years; cycled with coprime periods. */
static const char *const f_tickers[] = {"AAPL", "GOOG", "AMZN", "MSFT", "BAC", "JPM", "C",   "XOM", "FB",
                                        "BA",   "GE",   "T",    "INTC", "WMT", "DIS", "PFE", "JNJ"};
static const int f_years[][2] = {{2014, 2015}, {2015, 2016}, {2014, 2017}, {2012, 2018}};

typedef struct query {
    const char *match, *ticker;
    int64_t from, to;
    int cls; /* 0..3 plain, 4..7 the same with ticker and dates */
} query;

static const char *const class_names[8] = {"word",         "and2",         "phrase",         "prefix",
                                           "word+tk+dates", "and2+tk+dates", "phrase+tk+dates", "prefix+tk+dates"};

typedef struct hits {
    const query *q;
    long long n, bad;
    double idsum;
} hits;

static int on_hit(void *ctx, const qa_altdocs_row *row) {
    hits *h = ctx;
    h->n++;
    h->idsum += (double)row->id;
    if (row->event_ns < h->q->from || row->event_ns >= h->q->to) h->bad++;
    if (h->q->ticker) { /* space-separated, sorted: look for the whole token */
        size_t k = strlen(h->q->ticker);
        const char *p = row->tickers;
        int found = 0;
        while (p && (p = strstr(p, h->q->ticker)) != NULL) {
            if ((p == row->tickers || p[-1] == ' ') && (p[k] == ' ' || p[k] == 0)) found = 1;
            p += k;
        }
        if (!found) h->bad++;
    }
    return 0;
}

static int64_t year_ns(int y) { return qa_days_from_civil(y, 1, 1) * 86400LL * 1000000000LL; }

static void run_query(qa_altdocs_t *d, const query *q, hits *h) {
    qa_altdocs_query aq = {.match = q->match, .ticker = q->ticker, .source = NULL,
                           .from = q->from, .to = q->to, .limit = 20};
    memset(h, 0, sizeof *h);
    h->q = q;
    if (qa_altdocs_search(d, &aq, on_hit, h) != QA_OK) die(q->match);
}

static void bench_search(const char *db) {
    enum { PASSES = 5, NCLS = 8 };
    const char *const *lists[4] = {q_word, q_and, q_phrase, q_prefix};
    const size_t lens[4] = {NELEM(q_word), NELEM(q_and), NELEM(q_phrase), NELEM(q_prefix)};
    size_t nq = 0, per[NCLS] = {0};
    query qs[2 * (NELEM(q_word) + NELEM(q_and) + NELEM(q_phrase) + NELEM(q_prefix))];
    for (int f = 0; f < 2; f++)
        for (int c = 0; c < 4; c++)
            for (size_t i = 0; i < lens[c]; i++) {
                query *q = &qs[nq];
                q->match = lists[c][i], q->cls = c + 4 * f, q->ticker = NULL;
                q->from = INT64_MIN, q->to = INT64_MAX;
                if (f) {
                    q->ticker = f_tickers[nq % NELEM(f_tickers)];
                    const int *y = f_years[nq % NELEM(f_years)];
                    q->from = year_ns(y[0]), q->to = year_ns(y[1]);
                }
                per[q->cls]++, nq++;
            }
    qa_altdocs_t *d = NULL;
    if (qa_altdocs_open(db, 0, &d) != QA_OK) die("open the store");
    qa_altdocs_stats stats;
    if (qa_altdocs_stats_get(d, NULL, &stats) != QA_OK) die("store stats");
    /* correctness and warm-up: every plain query finds something; filtered hits are in range */
    long long *nres = calloc(nq, sizeof *nres);
    double *ids = calloc(nq, sizeof *ids), *lat[NCLS];
    long long empty[NCLS] = {0}, total[NCLS] = {0};
    for (size_t i = 0; i < nq; i++) {
        hits h;
        run_query(d, &qs[i], &h);
        if (h.bad) fail("search '%s': %lld results outside the ticker/date filter (of %lld)", qs[i].match, h.bad, h.n);
        if (qs[i].cls < 4 && h.n == 0) fail("search '%s' found nothing", qs[i].match);
        nres[i] = h.n, ids[i] = h.idsum;
        empty[qs[i].cls] += h.n == 0, total[qs[i].cls] += h.n;
    }
    for (int c = 0; c < NCLS; c++) lat[c] = malloc(per[c] * PASSES * sizeof **lat);
    size_t k[NCLS] = {0};
    for (int p = 0; p < PASSES; p++)
        for (size_t i = 0; i < nq; i++) {
            hits h;
            uint64_t t0 = qa_time_ns();
            run_query(d, &qs[i], &h);
            lat[qs[i].cls][k[qs[i].cls]++] = qa_time_since(t0);
            if (h.n != nres[i] || h.idsum != ids[i])
                fail("search '%s': results changed between passes (%lld vs %lld)", qs[i].match, h.n, nres[i]);
        }
    printf("  alt_search: store of %lld documents (%lld links), %zu queries x %d passes, limit 20\n", stats.documents,
           stats.links, nq, PASSES);
    printf("  %-16s %8s %8s %10s %10s %10s %12s %8s\n", "query class", "queries", "calls", "p50 us", "p90 us", "p99 us",
           "results/q", "empty");
    double p50[NCLS], p90[NCLS], p99[NCLS];
    for (int c = 0; c < NCLS; c++) {
        size_t n = per[c] * PASSES;
        p50[c] = qa_bench_quantile(lat[c], n, 0.5), p90[c] = qa_bench_quantile(lat[c], n, 0.9);
        p99[c] = qa_bench_quantile(lat[c], n, 0.99);
        printf("  %-16s %8zu %8zu %10.1f %10.1f %10.1f %12.2f %8lld\n", class_names[c], per[c], n, p50[c] * 1e6,
               p90[c] * 1e6, p99[c] * 1e6, (double)total[c] / (double)per[c], empty[c]);
    }
    for (int c = 0; c < NCLS; c++) {
        qa_bench_result r = {"alt_search", "cpu-1t", class_names[c], p50[c], 1, "queries", 0, 0};
        qa_bench_report(&r);
        printf("JSON {\"bench\":\"alt_search_latency\",\"backend\":\"cpu-1t\",\"size\":\"%s\",\"unit\":\"queries\","
               "\"queries\":%zu,\"calls\":%zu,\"p50_us\":%.3f,\"p90_us\":%.3f,\"p99_us\":%.3f,"
               "\"results_per_query\":%.2f,\"empty\":%lld,\"peak_rss_mb\":%.1f}\n",
               class_names[c], per[c], per[c] * PASSES, p50[c] * 1e6, p90[c] * 1e6, p99[c] * 1e6,
               (double)total[c] / (double)per[c], empty[c], (double)qa_peak_rss_bytes() / 1048576.0);
    }
    for (int c = 0; c < NCLS; c++) free(lat[c]);
    free(nres), free(ids);
    qa_altdocs_close(d);
}

/* ---- 4. align ----------------------------------------------------------------------------- */

static void bench_align(const char *market, const char *db, const char *source) {
    enum { REPEATS = 5 };
    qa_store_t *st = NULL;
    if (qa_store_open(market, NULL, QA_STORE_READ, &st) != QA_OK) die(market);
    size_t S = qa_store_nsym(st), T = qa_store_ntime(st);
    qa_store_close(st);
    qa_altalign_opts o = {.market = market, .db = db, .source = source, .prefix = NULL, .z_window = 20};
    qa_altalign_report rep;
    char hash[65] = "";
    double t[REPEATS];
    for (int r = -1; r < REPEATS; r++) {
        uint64_t t0 = qa_time_ns();
        if (qa_altalign_run(&o, &rep) != QA_OK) die("align");
        if (r >= 0) t[r] = qa_time_since(t0);
        if (rep.symbols != (long long)S || rep.docs_used <= 0)
            fail("align %s: %lld symbols of %zu, %lld documents used", source, rep.symbols, S, rep.docs_used);
        if (r < 0) memcpy(hash, rep.docs_hash, sizeof hash);
        else if (strcmp(hash, rep.docs_hash) != 0) fail("align %s: documents hash changed between runs", source);
    }
    double med = qa_bench_median(t, REPEATS), docs = (double)(rep.docs_used + rep.docs_before + rep.docs_after);
    double bytes = 4.0 * 8.0 * (double)S * (double)T;
    char size[64];
    snprintf(size, sizeof size, "%zu x %zu %s", S, T, rep.prefix);
    qa_bench_result r1 = {"alt_align", "cpu-1t", size, med, (double)(S * T), "symbol-bars", bytes, 0};
    qa_bench_report(&r1);
    snprintf(size, sizeof size, "%.0f docs %s", docs, rep.prefix);
    qa_bench_result r2 = {"alt_align", "cpu-1t", size, med, docs, "documents", bytes, 0};
    qa_bench_report(&r2);
    printf("  alt_align %s: %lld of %zu symbols with documents; documents counted %lld, before the data %lld, after "
           "%lld; docs_hash %.16s\n",
           source, rep.symbols_with_docs, S, rep.docs_used, rep.docs_before, rep.docs_after, rep.docs_hash);
}

/* ---- main --------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
    const char *src = argc > 1 ? argv[1] : (getenv("QA_SOURCE_DIR") ? getenv("QA_SOURCE_DIR") : ".");
    const char *env = getenv("QA_DATA_ROOT");
    char root[QA_PATH_MAX], alt[QA_PATH_MAX], lexicon[QA_PATH_MAX], news[QA_PATH_MAX], tweets[QA_PATH_MAX];
    if (env && *env) mkpath(root, "%s", env);
    else mkpath(root, "%s/../shared/datasets", src);
    mkpath(alt, "%s/alt_text", root);
    mkpath(lexicon, "%s/%s", alt, LEXICON_FILE);
    mkpath(news, "%s/%s", alt, REUTERS_FILE);
    mkpath(tweets, "%s/%s", alt, STOCKNET_FILE);
    if (!qa_fs_exists(lexicon) || !qa_fs_exists(news) || !qa_fs_exists(tweets)) {
        printf("bench_alt: skipped: the shared data sets are not in %s (set QA_DATA_ROOT or give the source "
               "dir)\n", alt);
        return 77;
    }
    /* qa: <build>/bin/qa, this program being <build>/benchmarks/bench_alt */
    char self[QA_PATH_MAX] = "", qa[QA_PATH_MAX], sample[QA_PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) fail("cannot read /proc/self/exe");
    self[len] = 0;
    for (int up = 0; up < 2; up++) { /* strip bench_alt, then benchmarks */
        char *slash = strrchr(self, '/');
        if (slash) *slash = 0;
    }
    mkpath(qa, "%s/bin/qa", self);
    mkpath(sample, "%s/datasets/sample", src);
    if (!qa_fs_exists(qa) || !qa_fs_is_dir(sample)) fail("need %s and the daily sample %s", qa, sample);

    qa_log_set_level(QA_LOG_ERROR);
    char dir[] = "/tmp/qa_bench_alt_XXXXXX";
    if (!mkdtemp(dir)) die("temporary directory");
    qa_bench_header("alternative data: VADER, import, search, align (one thread, real shipped files)");

    /* 1. VADER over the texts in memory */
    qa_altvader_t *v = NULL;
    if (qa_altvader_load(lexicon, &v) != QA_OK) die("lexicon");
    if (qa_altvader_size(v) != 7506) fail("lexicon: %zu tokens, expected 7506", qa_altvader_size(v));
    const struct { const char *text; double want; } cases[] = {
        {"The stock is good.", norm(1.9)},
        {"The stock is not good.", norm(1.9 * -0.74)},
        {"The stock is VERY GOOD!!!", norm((1.9 + 0.733) + (0.293 + 0.733) + 3 * 0.292)},
        {"The stock is HORRIBLE", norm(-2.5 - 0.733)}};
    for (size_t i = 0; i < NELEM(cases); i++) {
        double got = qa_altvader_compound(v, cases[i].text);
        if (fabs(got - cases[i].want) > 1e-9)
            fail("vader: compound('%s') = %.17g, expected %.17g", cases[i].text, got, cases[i].want);
    }
    texts tw, ti;
    load_column(tweets, "text", &tw);
    load_column(news, "title", &ti);
    if (tw.n != STOCKNET_ROWS || ti.n != REUTERS_ROWS)
        fail("texts: %zu tweets and %zu titles, expected %d and %d", tw.n, ti.n, STOCKNET_ROWS, REUTERS_ROWS);
    bench_vader(v, &tw, "tweets");
    bench_vader(v, &ti, "titles");
    double news_bytes = ti.csv_bytes, tweet_bytes = tw.csv_bytes;
    free_texts(&tw), free_texts(&ti);
    qa_altvader_free(v);

    /* 2. imports into fresh stores; the last stocknet store gets the news too (for 3 and 4) */
    char db[QA_PATH_MAX], both[QA_PATH_MAX], market[QA_PATH_MAX];
    mkpath(db, "%s/news.db", dir);
    mkpath(both, "%s/both.db", dir);
    bench_import(db, QA_ALTIMP_REUTERS, news, lexicon, REUTERS_ROWS, REUTERS_DOCS, news_bytes);
    remove_store(db);
    bench_import(both, QA_ALTIMP_STOCKNET, tweets, lexicon, STOCKNET_ROWS, STOCKNET_DOCS, tweet_bytes);
    {
        qa_altimp_opts o = {.db = both, .input = news, .source = QA_ALTIMP_REUTERS, .lexicon = lexicon};
        qa_altimp_report rep;
        import_checked(&o, REUTERS_ROWS, REUTERS_DOCS, &rep); /* the other source: all new again */
    }

    /* 3. search */
    bench_search(both);

    /* 4. align onto the shipped daily sample */
    mkpath(market, "%s/m.h5", dir);
    char cmd[4 * QA_PATH_MAX];
    snprintf(cmd, sizeof cmd, "'%s' -q data import --preset sp500-daily --data-root '%s' --out '%s' >/dev/null 2>&1",
             qa, sample, market);
    if (system(cmd) != 0) fail("could not make the market file: %s", cmd);
    bench_align(market, both, "reuters");
    bench_align(market, both, "stocknet");

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_alt: could not remove %s\n", dir);
    return 0;
}
