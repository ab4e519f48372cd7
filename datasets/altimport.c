/* qa alt import (datasets/altimport.h): the Reuters and StockNet readers, their
 * cleanups, bad-row policy and the atomic store update. */
#include "datasets/altimport.h"

#include <ctype.h>   /* isdigit, isalnum, tolower */
#include <stdarg.h>  /* va_list */
#include <stdio.h>   /* snprintf, remove */
#include <stdlib.h>  /* malloc, free, strtol */
#include <string.h>  /* strcmp, memmove, strlen */

#include "common/fs.h"         /* qa_fs_exists, qa_fs_tmp_name, qa_fs_rename */
#include "common/hash.h"       /* SHA-256 of files and contents */
#include "common/progress.h"   /* progress on long imports */
#include "common/strbuf.h"     /* the JSON report */
#include "common/timeparse.h"  /* qa_days_from_civil */
#include "common/timer.h"      /* elapsed seconds */
#include "datasets/altdocs.h"  /* the store */
#include "datasets/altvader.h" /* sentiment */
#include "datasets/csv.h"      /* streaming CSV over gzip */

#define NS_PER_DAY 86400000000000LL

static const char *const source_names[] = {"reuters", "stocknet"};
_Static_assert(sizeof source_names / sizeof source_names[0] == QA_ALTIMP_SOURCE_COUNT, "source names");

const char *qa_altimp_source_name(qa_altimp_source s) {
    return (unsigned)s < QA_ALTIMP_SOURCE_COUNT ? source_names[s] : "?";
}

qa_status qa_altimp_source_parse(const char *name, qa_altimp_source *out) {
    for (int i = 0; i < QA_ALTIMP_SOURCE_COUNT; i++)
        if (name && strcmp(name, source_names[i]) == 0) {
            *out = (qa_altimp_source)i;
            return QA_OK;
        }
    return QA_FAIL(QA_ERR_CONFIG, "source '%s': expected reuters or stocknet", name ? name : "(none)");
}

/* ---- text helpers ---------------------------------------------------------------------- */

static void trim(char *s) {
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
    size_t i = 0;
    while (s[i] == ' ' || s[i] == '\t') i++;
    if (i) memmove(s, s + i, n - i + 1);
}

/* Removes `tail` (and the spaces before it) from the end of s; 1 when it was there. */
static int strip_tail(char *s, const char *tail) {
    size_t n = strlen(s), k = strlen(tail);
    if (n < k || strcmp(s + n - k, tail) != 0) return 0;
    s[n - k] = '\0';
    trim(s);
    return 1;
}

void qa_altimp_clean_reuters(char *s) {
    trim(s);
    /* Teasers of video stories end in a non-breaking space or a bar before "Video". */
    while (strip_tail(s, "\xc2\xa0Video") || strip_tail(s, "| Video") || strip_tail(s, "|")) {
    }
    /* The crawler wrote every comma as two spaces: a run of two or more spaces inside the
     * text is a comma and its space (one space never is). */
    char *w = s;
    for (const char *r = s; *r;) {
        if (r[0] == ' ' && r[1] == ' ') {
            while (*r == ' ') r++;
            *w++ = ',';
            *w++ = ' ';
            continue;
        }
        *w++ = *r++;
    }
    *w = '\0';
}

/* Appends code point cp as UTF-8 at w; returns the new end. */
static char *put_utf8(char *w, unsigned long cp) {
    if (cp < 0x80) {
        *w++ = (char)cp;
    } else if (cp < 0x800) {
        *w++ = (char)(0xc0 | (cp >> 6));
        *w++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *w++ = (char)(0xe0 | (cp >> 12));
        *w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *w++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *w++ = (char)(0xf0 | (cp >> 18));
        *w++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *w++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *w++ = (char)(0x80 | (cp & 0x3f));
    }
    return w;
}

void qa_altimp_decode_entities(char *s) {
    static const struct {
        const char *name;
        char c;
    } named[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
    char *w = s;
    for (const char *r = s; *r;) {
        if (*r != '&') {
            *w++ = *r++;
            continue;
        }
        int done = 0;
        for (size_t i = 0; i < sizeof named / sizeof named[0] && !done; i++) {
            size_t k = strlen(named[i].name);
            if (strncmp(r + 1, named[i].name, k) == 0) {
                *w++ = named[i].c;
                r += 1 + k;
                done = 1;
            }
        }
        if (!done && r[1] == '#') {
            /* Numeric references; the decoded UTF-8 is never longer than the reference
             * ("&#NN;" is >= 5 bytes for >= 2 UTF-8 bytes), so decoding in place is safe. */
            int hex = r[2] == 'x' || r[2] == 'X';
            const char *p = r + 2 + hex;
            char *end = NULL;
            unsigned long cp = strtoul(p, &end, hex ? 16 : 10);
            if (end != p && *end == ';' && end - p <= 7 && cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp < 0xe000)) {
                w = put_utf8(w, cp);
                r = end + 1;
                done = 1;
            }
        }
        if (!done) *w++ = *r++;
    }
    *w = '\0';
}

int qa_altimp_has_cashtag(const char *text, const char *ticker) {
    size_t k = strlen(ticker);
    if (k == 0) return 0;
    for (const char *p = strchr(text, '$'); p; p = strchr(p + 1, '$')) {
        if (p > text) {
            unsigned char b = (unsigned char)p[-1];
            if (isalnum(b) || b == '$') continue;
        }
        size_t i = 0;
        for (; i < k; i++) {
            char c = p[1 + i], t = ticker[i];
            if (t == '-' ? (c == '-' || c == '.') : (toupper((unsigned char)c) == t)) continue;
            break;
        }
        if (i < k) continue;
        if (!isalnum((unsigned char)p[1 + k])) return 1;
    }
    return 0;
}

static int month_index(const char *m) {
    static const char *const names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; i++)
        if (strncmp(m, names[i], 3) == 0) return i + 1;
    return 0;
}

static int digits(const char *s, int n, long *out) {
    long v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

int qa_altimp_parse_twitter_time(const char *text, long long *ns) {
    /* "Thu Jan 02 15:45:02 +0000 2014": fixed layout, 30 characters. */
    if (strlen(text) != 30 || text[3] != ' ' || text[7] != ' ' || text[10] != ' ' || text[13] != ':' ||
        text[16] != ':' || text[19] != ' ' || text[25] != ' ')
        return 0;
    long mon = month_index(text + 4), day, hh, mm, ss, off, year;
    if (!mon || !digits(text + 8, 2, &day) || !digits(text + 11, 2, &hh) || !digits(text + 14, 2, &mm) ||
        !digits(text + 17, 2, &ss) || !digits(text + 21, 4, &off) || !digits(text + 26, 4, &year))
        return 0;
    if (text[20] != '+' && text[20] != '-') return 0;
    if (day < 1 || day > qa_days_in_month(year, (int)mon) || hh > 23 || mm > 59 || ss > 60 || off % 100 > 59) return 0;
    long long off_s = (off / 100) * 3600 + (off % 100) * 60;
    if (text[20] == '-') off_s = -off_s;
    long long secs = (long long)qa_days_from_civil(year, (unsigned)mon, (unsigned)day) * 86400 + hh * 3600 + mm * 60 + ss -
                     off_s;
    *ns = secs * 1000000000LL;
    return 1;
}

/* YYYYMMDD (Reuters) or YYYY-MM-DD to 00:00 UTC ns; 1 on success. */
static int parse_day(const char *s, long long *ns) {
    long y, m, d;
    size_t n = strlen(s);
    if (n == 8 ? !(digits(s, 4, &y) && digits(s + 4, 2, &m) && digits(s + 6, 2, &d))
               : !(n == 10 && s[4] == '-' && s[7] == '-' && digits(s, 4, &y) && digits(s + 5, 2, &m) &&
                   digits(s + 8, 2, &d)))
        return 0;
    if (y < 1900 || y > 2200 || m < 1 || m > 12 || d < 1 || d > qa_days_in_month(y, (int)m)) return 0;
    *ns = (long long)qa_days_from_civil(y, (unsigned)m, (unsigned)d) * NS_PER_DAY;
    return 1;
}

/* ---- the import ------------------------------------------------------------------------ */

enum { COL_TICKER, COL_DATE, COL_TITLE, COL_SUMMARY, COL_TYPE, COL_ID, COL_CREATED, COL_TEXT, COL_LANG, COL_REPLY, NCOL };

typedef struct importer {
    const qa_altimp_opts *o;
    qa_altimp_report *rep;
    qa_csv_t *csv;
    qa_altdocs_t *docs;
    qa_altvader_t *vader;
    size_t nheader;
    int col[NCOL];
    char *buf[3]; /* title, body, scratch copies of fields */
    size_t cap[3];
} importer;

/* Column names per source; "" = not read. */
static const char *const columns[QA_ALTIMP_SOURCE_COUNT][NCOL] = {
    {"ticker", "date", "title", "summary", "news_type", "", "", "", "", ""},
    {"ticker", "", "", "", "", "tweet_id", "created_at", "text", "lang", "in_reply_to_status_id"},
};

static qa_status copy_field(importer *im, int slot, const char *text) {
    size_t n = strlen(text) + 1;
    if (n > im->cap[slot]) {
        size_t cap = n * 2;
        char *p = realloc(im->buf[slot], cap);
        if (!p) return QA_FAIL(QA_ERR_NOMEM, "%s: line %ld", qa_csv_path(im->csv), qa_csv_line(im->csv));
        im->buf[slot] = p;
        im->cap[slot] = cap;
    }
    memcpy(im->buf[slot], text, n);
    return QA_OK;
}

/* A bad row: skipped and reported while the budget lasts, else the import's error. */
static qa_status bad_row(importer *im, const char *fmt, ...) {
    char msg[320];
    int n = snprintf(msg, sizeof msg, "%s:%ld: ", qa_csv_path(im->csv), qa_csv_line(im->csv));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    if (im->rep->bad >= im->o->max_bad)
        return QA_FAIL(QA_ERR_FORMAT, "%s%s", msg,
                       im->o->max_bad ? " (more bad rows than --max-bad allows)" : " (--max-bad N skips such rows)");
    if (im->rep->bad < QA_ALTIMP_EXAMPLES) snprintf(im->rep->examples[im->rep->bad], sizeof im->rep->examples[0], "%s", msg);
    im->rep->bad++;
    return QA_OK;
}

static qa_status read_header(importer *im) {
    size_t nf = 0;
    qa_status st = qa_csv_next(im->csv, &nf);
    if (st == QA_ERR_NOT_FOUND) return QA_FAIL(QA_ERR_FORMAT, "%s: empty file (expected a header row)", qa_csv_path(im->csv));
    QA_TRY_RET(st);
    im->nheader = nf;
    for (int c = 0; c < NCOL; c++) {
        const char *want = columns[im->o->source][c];
        im->col[c] = -1;
        if (!*want) continue;
        for (size_t i = 0; i < nf; i++)
            if (strcmp(qa_csv_field(im->csv, i), want) == 0) {
                if (im->col[c] >= 0)
                    return QA_FAIL(QA_ERR_FORMAT, "%s:1: column '%s' appears twice in the header", qa_csv_path(im->csv), want);
                im->col[c] = (int)i;
            }
        if (im->col[c] < 0)
            return QA_FAIL(QA_ERR_FORMAT, "%s:1: no column '%s' in the header (a %s file has %s)", qa_csv_path(im->csv),
                           want, qa_altimp_source_name(im->o->source),
                           im->o->source == QA_ALTIMP_REUTERS ? "ticker,company,date,title,summary,news_type"
                                                               : "ticker,file_date,tweet_id,created_at,text,...,lang,...");
    }
    return QA_OK;
}

static const char *field(importer *im, int c) { return qa_csv_field(im->csv, (size_t)im->col[c]); }

static void count(importer *im, qa_altdocs_outcome oc) {
    if (oc == QA_ALTDOCS_NEW) im->rep->docs_new++;
    else if (oc == QA_ALTDOCS_COPY) im->rep->copies++;
    else im->rep->duplicates++;
}

/* Hex SHA-256 of the fields joined by 0x1f (a byte no field contains). */
static qa_status content_hash(const char *a, const char *b, const char *c, char *hex) {
    qa_sha256_t *h = NULL;
    QA_TRY_RET(qa_sha256_create(&h));
    const char sep = 0x1f;
    qa_status st = qa_sha256_update(h, a, strlen(a));
    if (st == QA_OK) st = qa_sha256_update(h, &sep, 1);
    if (st == QA_OK) st = qa_sha256_update(h, b, strlen(b));
    if (st == QA_OK) st = qa_sha256_update(h, &sep, 1);
    if (st == QA_OK) st = qa_sha256_update(h, c, strlen(c));
    if (st == QA_OK) st = qa_sha256_final_hex(h, hex);
    qa_sha256_free(h);
    return st;
}

static qa_status row_reuters(importer *im) {
    char ticker[32], hex[QA_SHA256_HEX_LEN + 1];
    long long day_ns;
    const char *t = field(im, COL_TICKER), *day = field(im, COL_DATE);
    if (!qa_altdocs_ticker_norm(t, ticker, sizeof ticker))
        return bad_row(im, "field 'ticker': '%.40s' is not a ticker (expected letters, digits, '-' or '.')", t);
    if (strlen(day) != 8 || !parse_day(day, &day_ns))
        return bad_row(im, "field 'date': '%.40s' is not a date (expected YYYYMMDD)", day);
    QA_TRY_RET(copy_field(im, 0, field(im, COL_TITLE)));
    QA_TRY_RET(copy_field(im, 1, field(im, COL_SUMMARY)));
    qa_altimp_clean_reuters(im->buf[0]);
    qa_altimp_clean_reuters(im->buf[1]);
    if (!im->buf[0][0]) {
        im->rep->skip_empty++;
        return QA_OK;
    }
    QA_TRY_RET(content_hash(day, im->buf[0], im->buf[1], hex));
    qa_altdocs_doc d = {"reuters", hex, day_ns, QA_ALTDOCS_DATE, im->buf[0], im->buf[1], field(im, COL_TYPE), "en",
                        qa_altvader_compound(im->vader, im->buf[0]), hex};
    qa_altdocs_outcome oc;
    QA_TRY_RET(qa_altdocs_add(im->docs, &d, ticker, &oc));
    count(im, oc);
    return QA_OK;
}

/* 1 when `lang` is in the comma-separated list (or the list is empty). */
static int lang_kept(const char *list, const char *lang) {
    if (!list || !*list) return 1;
    size_t k = strlen(lang);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == k && strncmp(p, lang, n) == 0) return 1;
        p += n + (e != NULL);
    }
    return 0;
}

static qa_status row_stocknet(importer *im) {
    char ticker[32], hex[QA_SHA256_HEX_LEN + 1];
    long long ns;
    const char *t = field(im, COL_TICKER), *id = field(im, COL_ID), *created = field(im, COL_CREATED);
    if (!qa_altdocs_ticker_norm(t, ticker, sizeof ticker))
        return bad_row(im, "field 'ticker': '%.40s' is not a ticker (expected letters, digits, '-' or '.')", t);
    size_t idlen = strlen(id);
    int id_ok = idlen >= 1 && idlen <= 20;
    for (size_t i = 0; i < idlen && id_ok; i++) id_ok = isdigit((unsigned char)id[i]) != 0;
    if (!id_ok) return bad_row(im, "field 'tweet_id': '%.40s' is not a tweet id (expected 1-20 digits)", id);
    if (!qa_altimp_parse_twitter_time(created, &ns))
        return bad_row(im, "field 'created_at': '%.40s' is not a time (expected e.g. 'Thu Jan 02 15:45:02 +0000 2014')",
                       created);
    if (!lang_kept(im->o->langs, field(im, COL_LANG))) {
        im->rep->skip_lang++;
        return QA_OK;
    }
    QA_TRY_RET(copy_field(im, 1, field(im, COL_TEXT)));
    qa_altimp_decode_entities(im->buf[1]);
    if (!im->buf[1][0]) {
        im->rep->skip_empty++;
        return QA_OK;
    }
    if (!qa_altimp_has_cashtag(im->buf[1], ticker)) {
        im->rep->skip_cashtag++;
        return QA_OK;
    }
    QA_TRY_RET(content_hash("", "", im->buf[1], hex));
    const char *kind = strncmp(im->buf[1], "RT @", 4) == 0 ? "retweet" : *field(im, COL_REPLY) ? "reply" : "tweet";
    qa_altdocs_doc d = {"stocknet", id, ns, QA_ALTDOCS_TIMESTAMP, "", im->buf[1], kind, field(im, COL_LANG),
                        qa_altvader_compound(im->vader, im->buf[1]), hex};
    qa_altdocs_outcome oc;
    QA_TRY_RET(qa_altdocs_add(im->docs, &d, ticker, &oc));
    count(im, oc);
    return QA_OK;
}

static qa_status import_rows(importer *im) {
    QA_TRY_RET(read_header(im));
    qa_progress_t *prog = NULL;
    if (im->o->progress) QA_TRY_RET(qa_progress_create("alt import", 0, "rows", QA_PROGRESS_AUTO, NULL, &prog));
    qa_status st;
    size_t nf;
    while ((st = qa_csv_next(im->csv, &nf)) == QA_OK) {
        im->rep->rows++;
        if (nf != im->nheader) {
            st = bad_row(im, "%zu fields, expected %zu as in the header", nf, im->nheader);
        } else {
            st = im->o->source == QA_ALTIMP_REUTERS ? row_reuters(im) : row_stocknet(im);
        }
        if (st != QA_OK) break;
        if (prog && (im->rep->rows & 1023) == 0) qa_progress_add(prog, 1024);
    }
    if (prog) {
        qa_progress_add(prog, (uint64_t)(im->rep->rows & 1023));
        qa_progress_finish(prog);
        qa_progress_free(prog);
    }
    return st == QA_ERR_NOT_FOUND ? QA_OK : st;
}

char *qa_altimp_report_json(const qa_altimp_opts *o, const qa_altimp_report *r) {
    qa_strbuf b;
    qa_strbuf_init(&b);
    qa_strbuf_printf(&b,
                     "{\"source\":\"%s\",\"already_imported\":%s,\"rows\":%lld,\"documents_new\":%lld,\"copies\":%lld,\"duplicates\":%lld,"
                     "\"skipped\":{\"language\":%lld,\"no_cashtag\":%lld,\"empty\":%lld,\"bad_rows\":%lld},"
                     "\"bad_examples\":[",
                     qa_altimp_source_name(o->source), r->already ? "true" : "false", r->rows, r->docs_new, r->copies, r->duplicates, r->skip_lang,
                     r->skip_cashtag, r->skip_empty, r->bad);
    for (long long i = 0; i < r->bad && i < QA_ALTIMP_EXAMPLES; i++) {
        qa_strbuf_append(&b, i ? ",\"" : "\"");
        qa_strbuf_append_escaped(&b, r->examples[i]);
        qa_strbuf_append(&b, "\"");
    }
    qa_strbuf_printf(&b, "],\"seconds\":%.3f}", r->seconds);
    if (qa_strbuf_status(&b) != QA_OK) {
        qa_strbuf_free(&b);
        return NULL;
    }
    return b.data;
}

qa_status qa_altimp_run(const qa_altimp_opts *o, qa_altimp_report *rep) {
    memset(rep, 0, sizeof *rep);
    if (!o->db || !o->input || !o->lexicon) return QA_FAIL(QA_ERR_INVALID_ARG, "alt import: db, input and lexicon are required");
    uint64_t t0 = qa_time_ns();
    importer im = {0};
    im.o = o;
    im.rep = rep;
    char tmp[4096] = "";
    const char *target = o->db;
    char *json = NULL;
    qa_status st = qa_sha256_file_hex(o->input, rep->file_sha256);
    if (st == QA_OK) st = qa_altvader_load(o->lexicon, &im.vader);
    if (st == QA_OK) st = qa_csv_open(o->input, ',', &im.csv);
    if (st != QA_OK) goto cleanup;
    if (!qa_fs_exists(o->db)) { /* a new store appears whole or not at all */
        st = qa_fs_tmp_name(o->db, tmp, sizeof tmp);
        if (st != QA_OK) goto cleanup;
        target = tmp;
    }
    st = qa_altdocs_open(target, 1, &im.docs);
    if (st == QA_OK && !tmp[0]) {
        int seen = qa_altdocs_imported(im.docs, qa_altimp_source_name(o->source), rep->file_sha256);
        if (seen < 0) st = (qa_status)seen;
        if (seen > 0) { /* the same bytes again: nothing to add, nothing to count twice */
            rep->already = 1;
            goto cleanup;
        }
    }
    if (st == QA_OK) st = qa_altdocs_begin(im.docs);
    if (st == QA_OK) st = import_rows(&im);
    rep->seconds = qa_time_since(t0);
    if (st == QA_OK) {
        json = qa_altimp_report_json(o, rep);
        st = json ? qa_altdocs_log_import(im.docs, qa_altimp_source_name(o->source), o->input, rep->file_sha256, json)
                  : QA_FAIL(QA_ERR_NOMEM, "import report");
    }
    if (st == QA_OK) st = qa_altdocs_commit(im.docs);
    qa_altdocs_close(im.docs); /* rolls back when the import failed */
    im.docs = NULL;
    if (st == QA_OK && tmp[0]) st = qa_fs_rename(tmp, o->db);
cleanup:
    if (st != QA_OK && tmp[0]) { /* cleanup of a failed import: a temporary left behind is harmless */
        (void)remove(tmp);
        char side[4200];
        snprintf(side, sizeof side, "%s-wal", tmp);
        (void)remove(side);
        snprintf(side, sizeof side, "%s-shm", tmp);
        (void)remove(side);
    }
    free(json);
    qa_altdocs_close(im.docs);
    qa_csv_close(im.csv);
    qa_altvader_free(im.vader);
    for (int i = 0; i < 3; i++) free(im.buf[i]);
    rep->seconds = qa_time_since(t0);
    return st;
}
