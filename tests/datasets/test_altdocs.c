/* The alternative-data building blocks: the document store (copies, duplicates, integrity,
 * search, format checks), the importers' parsers and cleanups, the bad-row policy with an
 * untouched store on failure, the session clock (US daylight saving, NYSE early closes)
 * and the per-bar series. Expected values are worked by hand in the comments. */
#include <math.h>    /* isnan */
#include <stdio.h>   /* fopen */
#include <string.h>  /* strcmp */

#include "common/fs.h"
#include "datasets/altalign.h"
#include "datasets/altdocs.h"
#include "datasets/altimport.h"
#include "harness.h"

#define S 1000000000LL
#define DAY(unix_s) ((int64_t)(unix_s) * S) /* 00:00 UTC of a date, from its Unix seconds */

static char dir[256];

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void test_twitter_time(void) {
    long long ns = 0;
    /* 2014-01-02T15:45:02Z = 1388677502 s. */
    QA_CHECK(qa_altimp_parse_twitter_time("Thu Jan 02 15:45:02 +0000 2014", &ns));
    QA_CHECK_INT(ns, 1388677502LL * S);
    /* +0530 is 5.5 h east: the same instant is 5.5 h earlier in UTC. */
    QA_CHECK(qa_altimp_parse_twitter_time("Thu Jan 02 21:15:02 +0530 2014", &ns));
    QA_CHECK_INT(ns, 1388677502LL * S);
    QA_CHECK(!qa_altimp_parse_twitter_time("Thu Feb 30 15:45:02 +0000 2014", &ns));
    QA_CHECK(!qa_altimp_parse_twitter_time("Thu Jan 02 15:45:02 +0000 14", &ns));
    QA_CHECK(!qa_altimp_parse_twitter_time("Thu Foo 02 15:45:02 +0000 2014", &ns));
    QA_CHECK(!qa_altimp_parse_twitter_time("2014-01-02T15:45:02Z", &ns));
    QA_CHECK(!qa_altimp_parse_twitter_time("", &ns));
}

static void test_cashtag(void) {
    QA_CHECK(qa_altimp_has_cashtag("$D up 2%", "D"));
    QA_CHECK(qa_altimp_has_cashtag("buy ($d).", "D"));
    QA_CHECK(!qa_altimp_has_cashtag("L$D is back", "D"));  /* preceded by a letter */
    QA_CHECK(!qa_altimp_has_cashtag("A$AP Rocky", "AP"));
    QA_CHECK(!qa_altimp_has_cashtag("$DIS earnings", "D")); /* followed by a letter */
    QA_CHECK(!qa_altimp_has_cashtag("$$D", "D"));
    QA_CHECK(!qa_altimp_has_cashtag("x$AAPL", "AAPL"));
    QA_CHECK(qa_altimp_has_cashtag("$AAPL $GOOG", "GOOG"));
    QA_CHECK(qa_altimp_has_cashtag("$BRK.B and", "BRK-B"));
    QA_CHECK(qa_altimp_has_cashtag("$BRK-B", "BRK-B"));
    QA_CHECK(!qa_altimp_has_cashtag("$BRK", "BRK-B"));
    QA_CHECK(!qa_altimp_has_cashtag("no tag at all", "T"));
}

static void test_cleanups(void) {
    char a[] = "AT&amp;T &gt; &#39;x&#39; &#x263A; &bogus; &#0; &amp";
    qa_altimp_decode_entities(a);
    QA_CHECK_STR(a, "AT&T > 'x' \xe2\x98\xba &bogus; &#0; &amp");
    char b[] = "  Steve Jobs resigns from Apple  Cook becomes CEO ";
    qa_altimp_clean_reuters(b);
    QA_CHECK_STR(b, "Steve Jobs resigns from Apple, Cook becomes CEO");
    char c[] = "PALO ALTO  California Facebook will add chat. | Video ";
    qa_altimp_clean_reuters(c);
    QA_CHECK_STR(c, "PALO ALTO, California Facebook will add chat.");
    char d[] = "Shares fell.\xc2\xa0Video";
    qa_altimp_clean_reuters(d);
    QA_CHECK_STR(d, "Shares fell.");
    char e[] = "   ";
    qa_altimp_clean_reuters(e);
    QA_CHECK_STR(e, "");
}

static void test_clock(void) {
    /* Friday 2014-03-07 is still standard time (EST, UTC-5): 16:00 = 21:00 UTC; Monday
     * 2014-03-10 follows the switch on Sunday 03-09 (EDT, UTC-4): 16:00 = 20:00 UTC. */
    QA_CHECK_INT(qa_altclock_new_york(DAY(1394150400), 16, 0), DAY(1394150400) + 21 * 3600 * S);
    QA_CHECK_INT(qa_altclock_new_york(DAY(1394409600), 16, 0), DAY(1394409600) + 20 * 3600 * S);
    /* 2014-11-02 is the first Sunday of November: standard time from 02:00, so 09:30 =
     * 14:30 UTC that day and the next. */
    QA_CHECK_INT(qa_altclock_new_york(DAY(1414886400), 9, 30), DAY(1414886400) + (14 * 3600 + 1800) * S);
    QA_CHECK_INT(qa_altclock_new_york(DAY(1414972800), 9, 30), DAY(1414972800) + (14 * 3600 + 1800) * S);
    /* Before 2007 daylight time began on the first Sunday of April: 2006-04-02 (EDT) vs
     * Friday 2006-03-31 (EST). */
    QA_CHECK_INT(qa_altclock_new_york(DAY(1143936000), 9, 30), DAY(1143936000) + (13 * 3600 + 1800) * S);
    QA_CHECK_INT(qa_altclock_new_york(DAY(1143763200), 9, 30), DAY(1143763200) + (14 * 3600 + 1800) * S);

    QA_CHECK(qa_altclock_early_close(DAY(1322179200)));       /* Fri 2011-11-25, after Thanksgiving */
    QA_CHECK(!qa_altclock_early_close(DAY(1322179200) - 86400 * S)); /* Thanksgiving itself */
    QA_CHECK(qa_altclock_early_close(DAY(1404345600)));       /* Thu 2014-07-03 */
    QA_CHECK(!qa_altclock_early_close(DAY(1435881600)));      /* Fri 2015-07-03: a holiday, not a half day */
    QA_CHECK(qa_altclock_early_close(DAY(1387843200)));       /* Tue 2013-12-24 */
    QA_CHECK(!qa_altclock_early_close(DAY(1640304000)));      /* Fri 2021-12-24: a holiday */

    qa_store_meta m = {0};
    snprintf(m.calendar, sizeof m.calendar, "NYSE");
    m.bar_seconds = 86400;
    qa_altclock c;
    qa_altclock_init(&m, &c);
    QA_CHECK_INT(c.kind, QA_ALTCLOCK_NYSE_DAILY);
    /* The early close of 2011-11-25 (EST): 13:00 = 18:00 UTC. */
    QA_CHECK_INT(qa_altclock_bar_close(&c, DAY(1322179200)), DAY(1322179200) + 18 * 3600 * S);
    /* A story dated 2011-08-24 is available at 09:30 EDT on 08-25 = 13:30 UTC. */
    QA_CHECK_INT(qa_altclock_available(&c, DAY(1314144000), QA_ALTDOCS_DATE), DAY(1314230400) + (13 * 3600 + 1800) * S);
    QA_CHECK_INT(qa_altclock_available(&c, DAY(1314144000) + 5 * S, QA_ALTDOCS_TIMESTAMP), DAY(1314144000) + 5 * S);
    snprintf(m.calendar, sizeof m.calendar, "24x7");
    m.bar_seconds = 60;
    qa_altclock_init(&m, &c);
    QA_CHECK_INT(c.kind, QA_ALTCLOCK_PLAIN);
    QA_CHECK_INT(qa_altclock_bar_close(&c, 1000 * S), 1060 * S);
    QA_CHECK_INT(qa_altclock_available(&c, DAY(1314144000) + 7 * S, QA_ALTDOCS_DATE), DAY(1314230400));
}

static void test_series(void) {
    qa_altseries s;
    qa_altseries_init(&s, 3);
    double v[QA_ALT_NSERIES];
    /* Bars with 1, 2, 3 documents fill the window; z is undefined until then. */
    for (int b = 1; b <= 3; b++) {
        for (int k = 0; k < b; k++) qa_altseries_add(&s, 0.1);
        qa_altseries_close(&s, v);
        QA_CHECK_INT(v[QA_ALT_COUNT], b);
        QA_CHECK(isnan(v[QA_ALT_COUNT_Z]));
    }
    /* Then 5 documents: window {1, 2, 3} has mean 2 and sample std 1, so z = 3. The
     * sentiments 0.5, -0.7, 0.7, 0.1, 0.2 have mean 0.16 and the largest magnitude is the
     * first of the two 0.7s: -0.7. */
    double sent[] = {0.5, -0.7, 0.7, 0.1, 0.2};
    for (int k = 0; k < 5; k++) qa_altseries_add(&s, sent[k]);
    qa_altseries_close(&s, v);
    QA_CHECK_NEAR(v[QA_ALT_COUNT_Z], 3.0, 1e-15, 0);
    QA_CHECK_NEAR(v[QA_ALT_SENT_MEAN], 0.16, 1e-15, 0);
    QA_CHECK(v[QA_ALT_SENT_MAXABS] == -0.7);
    /* A bar without documents: count 0, no sentiment; window {2, 3, 5}: mean 10/3, std
     * sqrt(((2-10/3)^2 + (3-10/3)^2 + (5-10/3)^2) / 2) = sqrt(7/3), z = -(10/3)/sqrt(7/3). */
    qa_altseries_close(&s, v);
    QA_CHECK_INT(v[QA_ALT_COUNT], 0);
    QA_CHECK(isnan(v[QA_ALT_SENT_MEAN]) && isnan(v[QA_ALT_SENT_MAXABS]));
    QA_CHECK_NEAR(v[QA_ALT_COUNT_Z], -(10.0 / 3.0) / sqrt(7.0 / 3.0), 1e-14, 0);
    /* Before the symbol's first document every value is NaN and no history builds up;
     * then zero-document bars count 0, and a constant window has std 0: z undefined. */
    qa_altseries_init(&s, 2);
    for (int b = 0; b < 3; b++) {
        qa_altseries_close(&s, v);
        QA_CHECK(isnan(v[QA_ALT_COUNT]) && isnan(v[QA_ALT_COUNT_Z]));
    }
    qa_altseries_add(&s, 0.5);
    qa_altseries_close(&s, v);
    QA_CHECK_INT(v[QA_ALT_COUNT], 1);
    QA_CHECK(isnan(v[QA_ALT_COUNT_Z])); /* no history yet */
    qa_altseries_close(&s, v);
    QA_CHECK_INT(v[QA_ALT_COUNT], 0);
    qa_altseries_close(&s, v); /* window {1, 0}: mean 0.5, std sqrt(0.5); z = -0.5 / sqrt(0.5) */
    QA_CHECK_NEAR(v[QA_ALT_COUNT_Z], -0.5 / sqrt(0.5), 1e-15, 0);
    qa_altseries_close(&s, v);
    qa_altseries_close(&s, v); /* window {0, 0}: std 0 */
    QA_CHECK(isnan(v[QA_ALT_COUNT_Z]));
}

typedef struct seen {
    int n;
    char text[4][128];
    int64_t t[4];
} seen;

static int remember(void *ctx, const qa_altdocs_row *r) {
    seen *s = ctx;
    if (s->n < 4) {
        snprintf(s->text[s->n], sizeof s->text[0], "%s|%s", *r->title ? r->title : r->body, r->tickers);
        s->t[s->n] = r->event_ns;
    }
    s->n++;
    return 0;
}

static void test_store(void) {
    char path[300];
    snprintf(path, sizeof path, "%s/docs.db", dir);
    qa_altdocs_t *d = NULL;
    QA_CHECK_ERR(qa_altdocs_open(path, 0, &d), QA_ERR_NOT_FOUND, "docs.db");
    QA_CHECK_OK(qa_altdocs_open(path, 1, &d));
    if (!d) return;
    qa_altdocs_doc a = {"reuters", "k1", 200 * S, QA_ALTDOCS_DATE, "Apple resigns from nothing", "teaser", "normal", "en",
                        0.25, "h1"};
    qa_altdocs_doc b = {"stocknet", "42", 100 * S, QA_ALTDOCS_TIMESTAMP, "", "$AAPL $GOOG rally", "tweet", "en", 0.5,
                        "h2"};
    qa_altdocs_outcome oc;
    QA_CHECK_ERR(qa_altdocs_add(d, &a, "AAPL", &oc), QA_ERR_STATE, "outside");
    QA_CHECK_OK(qa_altdocs_begin(d));
    QA_CHECK_OK(qa_altdocs_add(d, &a, "AAPL", &oc));
    QA_CHECK_INT(oc, QA_ALTDOCS_NEW);
    QA_CHECK_OK(qa_altdocs_add(d, &a, "P", &oc));
    QA_CHECK_INT(oc, QA_ALTDOCS_COPY);
    QA_CHECK_OK(qa_altdocs_add(d, &a, "AAPL", &oc));
    QA_CHECK_INT(oc, QA_ALTDOCS_DUPLICATE);
    QA_CHECK_OK(qa_altdocs_add(d, &b, "GOOG", &oc));
    QA_CHECK_OK(qa_altdocs_add(d, &b, "AAPL", &oc));
    QA_CHECK_INT(oc, QA_ALTDOCS_COPY);
    qa_altdocs_doc changed = a;
    changed.hash = "h9";
    QA_CHECK_ERR(qa_altdocs_add(d, &changed, "AAPL", &oc), QA_ERR_INTEGRITY, "reuters/k1");
    QA_CHECK_OK(qa_altdocs_commit(d));

    qa_altdocs_stats st;
    QA_CHECK_OK(qa_altdocs_stats_get(d, NULL, &st));
    QA_CHECK_INT(st.documents, 2);
    QA_CHECK_INT(st.links, 4);
    QA_CHECK_INT(st.rows, 5);
    QA_CHECK_INT(st.tickers, 3);
    seen s = {0};
    QA_CHECK_OK(qa_altdocs_each_for_ticker(d, NULL, "AAPL", remember, &s));
    QA_CHECK_INT(s.n, 2); /* the duplicate row is one document */
    QA_CHECK_STR(s.text[0], "$AAPL $GOOG rally|AAPL GOOG");
    QA_CHECK_STR(s.text[1], "Apple resigns from nothing|AAPL P");
    memset(&s, 0, sizeof s);
    QA_CHECK_OK(qa_altdocs_each_for_ticker(d, "reuters", "GOOG", remember, &s));
    QA_CHECK_INT(s.n, 0);
    memset(&s, 0, sizeof s);
    qa_altdocs_query q = {"resign", NULL, NULL, INT64_MIN, INT64_MAX, 10}; /* porter: resigns -> resign */
    QA_CHECK_OK(qa_altdocs_search(d, &q, remember, &s));
    QA_CHECK_INT(s.n, 1);
    memset(&s, 0, sizeof s);
    q.match = "rally OR resigns";
    q.ticker = "GOOG";
    QA_CHECK_OK(qa_altdocs_search(d, &q, remember, &s));
    QA_CHECK_INT(s.n, 1);
    memset(&s, 0, sizeof s);
    q.ticker = NULL;
    q.to = 150 * S;
    QA_CHECK_OK(qa_altdocs_search(d, &q, remember, &s));
    QA_CHECK_INT(s.n, 1);
    QA_CHECK_INT(s.t[0], 100 * S);
    q.match = "AND OR (";
    QA_CHECK_ERR(qa_altdocs_search(d, &q, remember, &s), QA_ERR_CONFIG, "FTS5 syntax");
    qa_altdocs_close(d);

    /* A database that is not a document store, and one from a newer version. */
    char other[300];
    snprintf(other, sizeof other, "%s/other.db", dir);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "sqlite3 '%s' 'CREATE TABLE x(a)' && cp '%s' '%s/newer.db' && sqlite3 '%s/newer.db' "
             "\"UPDATE meta SET value = '99' WHERE key = 'format_version'\"", other, path, dir, dir);
    if (system(cmd) == 0) {
        QA_CHECK_ERR(qa_altdocs_open(other, 0, &d), QA_ERR_FORMAT, "not a document store");
        snprintf(other, sizeof other, "%s/newer.db", dir);
        QA_CHECK_ERR(qa_altdocs_open(other, 0, &d), QA_ERR_FORMAT, "version 99");
    } else {
        printf("  (sqlite3 shell missing: format refusals not checked)\n");
    }
    char t[32];
    QA_CHECK(qa_altdocs_ticker_norm("brk.b", t, sizeof t) && strcmp(t, "BRK-B") == 0);
    QA_CHECK(!qa_altdocs_ticker_norm("A B", t, sizeof t));
    QA_CHECK(!qa_altdocs_ticker_norm("", t, sizeof t));
}

static void test_import_policy(void) {
    char lex[300], good[300], bad[300], db[300];
    snprintf(lex, sizeof lex, "%s/lex.csv", dir);
    snprintf(good, sizeof good, "%s/news.csv", dir);
    snprintf(bad, sizeof bad, "%s/bad.csv", dir);
    snprintf(db, sizeof db, "%s/import.db", dir);
    write_file(lex, "\"token\",\"mean_sentiment\",\"std_dev\",\"human_ratings\"\n"
                    "\"good\",\"1.9\",\"0.9\",\"[2, 2]\"\n\"bad\",\"-2.5\",\"0.6\",\"[-2, -3]\"\n");
    /* Row 3 is a copy of row 2 under another ticker, row 4 an exact duplicate. */
    write_file(good, "\"ticker\",\"company\",\"date\",\"title\",\"summary\",\"news_type\"\n"
                     "\"AAPL\",\"Apple\",\"20110824\",\"Good news  for Apple \",\"Teaser\",\"topStory\"\n"
                     "\"P\",\"Pandora\",\"20110824\",\"Good news  for Apple \",\"Teaser\",\"normal\"\n"
                     "\"AAPL\",\"Apple\",\"20110824\",\"Good news  for Apple \",\"Teaser\",\"topStory\"\n"
                     "\"MSFT\",\"Microsoft\",\"20110825\",\"Bad day\",\"\",\"normal\"\n");
    qa_altimp_opts o = {db, good, QA_ALTIMP_REUTERS, lex, 0, NULL, 0};
    qa_altimp_report rep;
    QA_CHECK_OK(qa_altimp_run(&o, &rep));
    QA_CHECK_INT(rep.rows, 4);
    QA_CHECK_INT(rep.docs_new, 2);
    QA_CHECK_INT(rep.copies, 1);
    QA_CHECK_INT(rep.duplicates, 1);
    QA_CHECK_OK(qa_altimp_run(&o, &rep)); /* the same file again: recognised, nothing done */
    QA_CHECK_INT(rep.already, 1);
    QA_CHECK_INT(rep.rows, 0);
    {
        qa_altdocs_t *d = NULL;
        qa_altdocs_stats st = {0};
        QA_CHECK_OK(qa_altdocs_open(db, 0, &d));
        QA_CHECK_OK(qa_altdocs_stats_get(d, NULL, &st));
        QA_CHECK_INT(st.rows, 4); /* delivered rows counted once */
        QA_CHECK_INT(st.imports, 1);
        qa_altdocs_close(d);
    }

    /* A bad date on line 3 fails the import of a new store: no file appears. */
    write_file(bad, "\"ticker\",\"company\",\"date\",\"title\",\"summary\",\"news_type\"\n"
                    "\"AAPL\",\"Apple\",\"20110826\",\"Good\",\"x\",\"normal\"\n"
                    "\"AAPL\",\"Apple\",\"2011-13-01\",\"Good\",\"x\",\"normal\"\n"
                    "\"AAPL\",\"Apple\",\"20110826\",\"Good\"\n"
                    "\"AAPL\",\"Apple\",\"20110829\",\"Fine\",\"y\",\"normal\"\n");
    char fresh[300];
    snprintf(fresh, sizeof fresh, "%s/fresh.db", dir);
    o.db = fresh;
    o.input = bad;
    QA_CHECK_ERR(qa_altimp_run(&o, &rep), QA_ERR_FORMAT, "bad.csv:3: field 'date': '2011-13-01' is not a date");
    QA_CHECK(!qa_fs_exists(fresh));
    /* Into the existing store: it keeps its two documents. */
    o.db = db;
    QA_CHECK_ERR(qa_altimp_run(&o, &rep), QA_ERR_FORMAT, "--max-bad");
    qa_altdocs_t *d = NULL;
    qa_altdocs_stats st = {0};
    QA_CHECK_OK(qa_altdocs_open(db, 0, &d));
    QA_CHECK_OK(qa_altdocs_stats_get(d, NULL, &st));
    QA_CHECK_INT(st.documents, 2);
    QA_CHECK_INT(st.imports, 1);
    qa_altdocs_close(d);
    /* With a budget of 2 both bad rows are skipped and reported. */
    o.max_bad = 2;
    QA_CHECK_OK(qa_altimp_run(&o, &rep));
    QA_CHECK_INT(rep.bad, 2);
    QA_CHECK_INT(rep.docs_new, 2);
    QA_CHECK(strstr(rep.examples[1], "bad.csv:4: 4 fields, expected 6") != NULL);
    o.max_bad = 1;
    o.db = fresh;
    QA_CHECK_ERR(qa_altimp_run(&o, &rep), QA_ERR_FORMAT, "more bad rows than --max-bad");

    /* Header problems. */
    write_file(bad, "\"ticker\",\"date\",\"title\",\"title\",\"summary\",\"news_type\"\n");
    QA_CHECK_ERR(qa_altimp_run(&o, &rep), QA_ERR_FORMAT, "column 'title' appears twice");
    write_file(bad, "\"ticker\",\"date\",\"headline\"\n");
    QA_CHECK_ERR(qa_altimp_run(&o, &rep), QA_ERR_FORMAT, "no column 'title'");
    write_file(bad, "");
    QA_CHECK_ERR(qa_altimp_run(&o, &rep), QA_ERR_FORMAT, "empty file");
    QA_CHECK(!qa_fs_exists(fresh));

    /* Tweets: language and cashtag policy; a tweet under two tickers is one document. */
    write_file(bad, "\"ticker\",\"file_date\",\"tweet_id\",\"created_at\",\"text\",\"user_id\",\"lang\","
                    "\"in_reply_to_status_id\"\n"
                    "\"D\",\"2014-01-02\",\"1\",\"Thu Jan 02 15:45:02 +0000 2014\",\"L$D is good\",\"u\",\"en\",\"\"\n"
                    "\"D\",\"2014-01-02\",\"2\",\"Thu Jan 02 15:45:03 +0000 2014\",\"$D &amp; $T good\",\"u\",\"en\",\"\"\n"
                    "\"T\",\"2014-01-02\",\"2\",\"Thu Jan 02 15:45:03 +0000 2014\",\"$D &amp; $T good\",\"u\",\"en\",\"\"\n"
                    "\"T\",\"2014-01-02\",\"3\",\"Thu Jan 02 15:45:04 +0000 2014\",\"$T bueno\",\"u\",\"es\",\"\"\n"
                    "\"T\",\"2014-01-02\",\"x4\",\"Thu Jan 02 15:45:04 +0000 2014\",\"$T\",\"u\",\"en\",\"\"\n");
    o.source = QA_ALTIMP_STOCKNET;
    o.langs = "en";
    o.max_bad = 1;
    QA_CHECK_OK(qa_altimp_run(&o, &rep));
    QA_CHECK_INT(rep.skip_cashtag, 1);
    QA_CHECK_INT(rep.skip_lang, 1);
    QA_CHECK_INT(rep.docs_new, 1);
    QA_CHECK_INT(rep.copies, 1);
    QA_CHECK_INT(rep.bad, 1);
    QA_CHECK(strstr(rep.examples[0], "field 'tweet_id': 'x4'") != NULL);
}

int main(void) {
    if (qa_test_tmpdir(dir, sizeof dir, "altdocs")) return 1;
    QA_RUN(test_twitter_time);
    QA_RUN(test_cashtag);
    QA_RUN(test_cleanups);
    QA_RUN(test_clock);
    QA_RUN(test_series);
    QA_RUN(test_store);
    QA_RUN(test_import_policy);
    qa_test_rmtree(dir);
    return qa_test_finish();
}
