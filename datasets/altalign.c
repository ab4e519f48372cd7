/* qa alt align (datasets/altalign.h): the session clock, the per-bar series update and
 * the batch job over a market file. */
#include "datasets/altalign.h"

#include <math.h>    /* NAN, sqrt, fabs */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* malloc, free, qsort */
#include <string.h>  /* strcmp, memcpy */

#include "common/hash.h"       /* lineage digest */
#include "common/timeparse.h"  /* civil dates */

#define NS_PER_S 1000000000LL
#define NS_PER_DAY (86400LL * NS_PER_S)
#define BLOCK_SYMBOLS 64 /* one chunk row of the store's panels */

/* ---- calendar arithmetic --------------------------------------------------------------- */

/* Floor division: day numbers of times before 1970. */
static int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

/* 0 = Sunday .. 6 = Saturday; 1970-01-01 was a Thursday. */
static int weekday(int64_t days) { return (int)(((days % 7) + 11) % 7); }

/* Day number of the n-th (1-based) weekday `wd` of a month; n = -1: the last one. */
static int64_t nth_weekday(int64_t y, unsigned m, int wd, int n) {
    if (n > 0) {
        int64_t first = qa_days_from_civil(y, m, 1);
        return first + (wd - weekday(first) + 7) % 7 + 7 * (int64_t)(n - 1);
    }
    int64_t last = qa_days_from_civil(y + (m == 12), m == 12 ? 1 : m + 1, 1) - 1;
    return last - (weekday(last) - wd + 7) % 7;
}

/* 1 when New York keeps daylight time after 02:00 local on day `days` (the opening and
 * closing times we need are all after the 02:00 switch, so the switch day itself counts
 * as the new regime). */
static int new_york_dst(int64_t days) {
    int64_t y;
    unsigned m, d;
    qa_civil_from_days(days, &y, &m, &d);
    int64_t start, end;
    if (y >= 2007) {
        start = nth_weekday(y, 3, 0, 2);
        end = nth_weekday(y, 11, 0, 1);
    } else if (y >= 1987) {
        start = nth_weekday(y, 4, 0, 1);
        end = nth_weekday(y, 10, 0, -1);
    } else {
        start = nth_weekday(y, 4, 0, -1);
        end = nth_weekday(y, 10, 0, -1);
    }
    return days >= start && days < end;
}

int64_t qa_altclock_new_york(int64_t day_ns, int hour, int minute) {
    int64_t days = floor_div(day_ns, NS_PER_DAY);
    int offset_h = new_york_dst(days) ? 4 : 5; /* UTC - local */
    return days * NS_PER_DAY + ((int64_t)(hour + offset_h) * 3600 + (int64_t)minute * 60) * NS_PER_S;
}

int qa_altclock_early_close(int64_t day_ns) {
    int64_t days = floor_div(day_ns, NS_PER_DAY), y;
    unsigned m, d;
    qa_civil_from_days(days, &y, &m, &d);
    int wd = weekday(days);
    if ((m == 7 && d == 3) || (m == 12 && d == 24)) return wd >= 1 && wd <= 4;
    if (m == 11) return days == nth_weekday(y, 11, 4, 4) + 1;
    return 0;
}

void qa_altclock_init(const qa_store_meta *meta, qa_altclock *c) {
    c->bar_ns = meta->bar_seconds * NS_PER_S;
    int nyse = strcmp(meta->calendar, "NYSE") == 0;
    c->kind = !nyse ? QA_ALTCLOCK_PLAIN : meta->bar_seconds >= 86400 ? QA_ALTCLOCK_NYSE_DAILY : QA_ALTCLOCK_NYSE_INTRADAY;
}

int64_t qa_altclock_bar_close(const qa_altclock *c, int64_t bar_time) {
    if (c->kind == QA_ALTCLOCK_NYSE_DAILY)
        return qa_altclock_early_close(bar_time) ? qa_altclock_new_york(bar_time, 13, 0)
                                                 : qa_altclock_new_york(bar_time, 16, 0);
    return bar_time + c->bar_ns;
}

int64_t qa_altclock_available(const qa_altclock *c, int64_t event_ns, qa_altdocs_basis basis) {
    if (basis == QA_ALTDOCS_TIMESTAMP) return event_ns;
    int64_t next_day = (floor_div(event_ns, NS_PER_DAY) + 1) * NS_PER_DAY;
    return c->kind == QA_ALTCLOCK_PLAIN ? next_day : qa_altclock_new_york(next_day, 9, 30);
}

/* ---- the series ------------------------------------------------------------------------- */

const char *const qa_altseries_names[QA_ALT_NSERIES] = {"count", "sent_mean", "sent_maxabs", "count_z"};

void qa_altseries_init(qa_altseries *s, int window) {
    memset(s, 0, sizeof *s);
    s->window = window < 2 ? 2 : window > QA_ALTSERIES_MAX_WINDOW ? QA_ALTSERIES_MAX_WINDOW : window;
}

void qa_altseries_add(qa_altseries *s, double sentiment) {
    if (s->n == 0 || fabs(sentiment) > fabs(s->maxabs)) s->maxabs = sentiment;
    s->n += 1.0;
    s->sum += sentiment;
}

void qa_altseries_close(qa_altseries *s, double out[QA_ALT_NSERIES]) {
    if (s->n > 0) s->started = 1;
    if (!s->started) { /* not covered yet: no count, no history */
        for (int j = 0; j < QA_ALT_NSERIES; j++) out[j] = NAN;
        return;
    }
    out[QA_ALT_COUNT] = s->n;
    out[QA_ALT_SENT_MEAN] = s->n > 0 ? s->sum / s->n : NAN;
    out[QA_ALT_SENT_MAXABS] = s->n > 0 ? s->maxabs : NAN;
    out[QA_ALT_COUNT_Z] = NAN;
    if (s->filled == s->window) {
        /* Two passes over the (small) window in ring order from the oldest: the same
         * arithmetic wherever it runs. */
        double mean = 0.0, ss = 0.0;
        for (int i = 0; i < s->window; i++) mean += s->ring[(s->pos + i) % s->window];
        mean /= s->window;
        for (int i = 0; i < s->window; i++) {
            double d = s->ring[(s->pos + i) % s->window] - mean;
            ss += d * d;
        }
        double sd = sqrt(ss / (s->window - 1));
        if (sd > 0) out[QA_ALT_COUNT_Z] = (s->n - mean) / sd;
    }
    s->ring[s->pos] = s->n;
    s->pos = (s->pos + 1) % s->window;
    if (s->filled < s->window) s->filled++;
    s->n = s->sum = s->maxabs = 0.0;
}

void qa_altseries_pack(const qa_altseries *s, double *out) {
    out[0] = s->filled, out[1] = s->pos, out[2] = s->n, out[3] = s->sum, out[4] = s->maxabs, out[5] = s->started;
    memcpy(out + 6, s->ring, (size_t)s->window * sizeof *out);
}

void qa_altseries_unpack(qa_altseries *s, const double *in) {
    s->filled = (int)in[0], s->pos = (int)in[1], s->n = in[2], s->sum = in[3], s->maxabs = in[4];
    s->started = in[5] != 0;
    memcpy(s->ring, in + 6, (size_t)s->window * sizeof *in);
}

/* ---- the batch job ------------------------------------------------------------------------ */

typedef struct doc {
    int64_t avail, id;
    double sentiment;
    char hash[QA_SHA256_HEX_LEN + 1]; /* the content's: lineage that does not depend on row ids */
} doc;

typedef struct collect {
    doc *v;
    size_t n, cap;
    const qa_altclock *clock;
    qa_status st;
} collect;

static int collect_cb(void *ctx, const qa_altdocs_row *r) {
    collect *c = ctx;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        doc *v = realloc(c->v, cap * sizeof *v);
        if (!v) {
            c->st = QA_FAIL(QA_ERR_NOMEM, "documents of one ticker");
            return 1;
        }
        c->v = v;
        c->cap = cap;
    }
    doc *d = &c->v[c->n++];
    *d = (doc){qa_altclock_available(c->clock, r->event_ns, r->basis), r->id, r->sentiment, ""};
    snprintf(d->hash, sizeof d->hash, "%s", r->hash);
    return 0;
}

static int doc_cmp(const void *a, const void *b) {
    const doc *x = a, *y = b;
    if (x->avail != y->avail) return x->avail < y->avail ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* One symbol: out[k * T + t] for the four series. */
static qa_status align_symbol(const qa_altalign_opts *o, qa_altdocs_t *docs, const char *source, const char *symbol,
                              const qa_altclock *clock, const int64_t *closes, const double *close_row, size_t T,
                              double *out, qa_sha256_t *h, qa_altalign_report *rep, collect *c) {
    for (size_t k = 0; k < QA_ALT_NSERIES * T; k++) out[k] = NAN;
    char ticker[32];
    c->n = 0;
    if (qa_altdocs_ticker_norm(symbol, ticker, sizeof ticker)) {
        QA_TRY_RET(qa_altdocs_each_for_ticker(docs, source, ticker, collect_cb, c));
        if (c->st != QA_OK) return c->st;
    }
    if (c->n > 1) qsort(c->v, c->n, sizeof *c->v, doc_cmp);
    size_t t0 = 0;
    while (t0 < T && isnan(close_row[t0])) t0++;
    size_t k = 0;
    if (t0 < T) {
        int64_t lower = t0 > 0 ? closes[t0 - 1] : closes[0] - clock->bar_ns;
        while (k < c->n && c->v[k].avail < lower) k++;
        rep->docs_before += (long long)k;
    }
    long long used = 0;
    qa_altseries s;
    qa_altseries_init(&s, o->z_window);
    for (size_t t = t0; t < T; t++) {
        if (isnan(close_row[t])) continue;
        for (; k < c->n && c->v[k].avail < closes[t]; k++) {
            qa_altseries_add(&s, c->v[k].sentiment);
            int64_t rec[2] = {closes[t], 0}; /* the bar by its close time, the score by its bits */
            memcpy(&rec[1], &c->v[k].sentiment, sizeof(double));
            QA_TRY_RET(qa_sha256_update(h, symbol, strlen(symbol) + 1));
            QA_TRY_RET(qa_sha256_update(h, c->v[k].hash, QA_SHA256_HEX_LEN));
            QA_TRY_RET(qa_sha256_update(h, rec, sizeof rec));
            used++;
        }
        double v[QA_ALT_NSERIES];
        qa_altseries_close(&s, v);
        for (int j = 0; j < QA_ALT_NSERIES; j++) out[(size_t)j * T + t] = v[j];
    }
    rep->docs_used += used;
    rep->docs_after += (long long)(c->n - k);
    rep->symbols_with_docs += used > 0;
    return QA_OK;
}

const char *qa_altalign_default_prefix(const char *source) {
    if (strcmp(source, "reuters") == 0) return "news";
    if (strcmp(source, "stocknet") == 0) return "tweets";
    return source;
}

static const char *const descriptions[QA_ALT_NSERIES] = {
    "documents available for the bar (no look-ahead: before its close)",
    "mean VADER compound sentiment of the bar's documents",
    "VADER compound of the bar's document with the largest magnitude (signed)",
    "z-score of the bar's document count against the previous window of the symbol's bars"};

static qa_status publish(qa_store_t *st, const char *tmp, const char *final, int j, const qa_altalign_opts *o,
                         const char *source, const qa_altalign_report *rep) {
    if (qa_store_exists(st, final)) QA_TRY_RET(qa_store_delete(st, final));
    QA_TRY_RET(qa_store_move(st, tmp, final));
    char params[256];
    snprintf(params, sizeof params, "{\"series\":\"%s\",\"source\":\"%s\",\"z_window\":%d}", qa_altseries_names[j],
             source, o->z_window);
    QA_TRY_RET(qa_store_attr_set_str(st, final, "description", descriptions[j]));
    QA_TRY_RET(qa_store_attr_set_str(st, final, "source", source));
    QA_TRY_RET(qa_store_attr_set_str(st, final, "store", o->db));
    QA_TRY_RET(qa_store_attr_set_i64(st, final, "documents", rep->docs_used));
    QA_TRY_RET(qa_store_attr_set_str(st, final, "docs_hash", rep->docs_hash));
    QA_TRY_RET(qa_store_attr_set_str(st, final, "code_version", QA_ALT_CODE_VERSION));
    return qa_store_attr_set_str(st, final, "params", params);
}

qa_status qa_altalign_run(const qa_altalign_opts *o, qa_altalign_report *rep) {
    memset(rep, 0, sizeof *rep);
    if (!o->market || !o->db || !o->source) return QA_FAIL(QA_ERR_INVALID_ARG, "alt align: market, db and source are required");
    if (o->z_window < 2 || o->z_window > QA_ALTSERIES_MAX_WINDOW)
        return QA_FAIL(QA_ERR_CONFIG, "z_window %d: expected 2..%d", o->z_window, QA_ALTSERIES_MAX_WINDOW);
    const char *prefix = o->prefix ? o->prefix : qa_altalign_default_prefix(o->source);
    if (!*prefix || strlen(prefix) >= sizeof rep->prefix ||
        strspn(prefix, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(prefix))
        return QA_FAIL(QA_ERR_CONFIG, "prefix '%s': expected lower-case letters, digits and '_' (up to 31)", prefix);
    snprintf(rep->prefix, sizeof rep->prefix, "%s", prefix);

    qa_store_t *st = NULL;
    qa_altdocs_t *docs = NULL;
    qa_sha256_t *h = NULL;
    double *closes_blk = NULL, *out = NULL;
    int64_t *closes = NULL;
    collect c = {0};
    qa_status rc = qa_store_open(o->market, NULL, QA_STORE_RDWR, &st);
    if (rc == QA_OK) rc = qa_altdocs_open(o->db, 0, &docs);
    if (rc == QA_OK) rc = qa_sha256_create(&h);
    if (rc != QA_OK) goto cleanup;
    if ((rc = qa_altdocs_require_source(docs, o->source)) != QA_OK) goto cleanup;
    qa_altclock clock;
    qa_altclock_init(qa_store_get_meta(st), &clock);
    c.clock = &clock;
    size_t S = qa_store_nsym(st), T = qa_store_ntime(st);
    rep->symbols = (long long)S;
    const int64_t *time = qa_store_time(st);
    closes = malloc((T ? T : 1) * sizeof *closes);
    closes_blk = malloc((T ? T : 1) * BLOCK_SYMBOLS * sizeof *closes_blk);
    out = malloc((T ? T : 1) * BLOCK_SYMBOLS * QA_ALT_NSERIES * sizeof *out);
    if (!closes || !closes_blk || !out) {
        rc = QA_FAIL(QA_ERR_NOMEM, "%s: %zu bars x %d symbols of alt series", o->market, T, BLOCK_SYMBOLS);
        goto cleanup;
    }
    for (size_t t = 0; t < T; t++) closes[t] = qa_altclock_bar_close(&clock, time[t]);

    char tmp[QA_ALT_NSERIES][96], final[QA_ALT_NSERIES][96];
    for (int j = 0; j < QA_ALT_NSERIES; j++) {
        snprintf(final[j], sizeof final[j], "alt/%s_%s", prefix, qa_altseries_names[j]);
        snprintf(tmp[j], sizeof tmp[j], "alt/.tmp.%s_%s", prefix, qa_altseries_names[j]);
        if (qa_store_exists(st, tmp[j]) && (rc = qa_store_delete(st, tmp[j])) != QA_OK) goto cleanup;
        if ((rc = qa_store_panel_create(st, tmp[j])) != QA_OK) goto cleanup;
    }
    double *row = malloc((T ? T : 1) * QA_ALT_NSERIES * sizeof *row);
    if (!row) {
        rc = QA_FAIL(QA_ERR_NOMEM, "alt series of one symbol");
        goto cleanup;
    }
    for (size_t s0 = 0; s0 < S && rc == QA_OK; s0 += BLOCK_SYMBOLS) {
        size_t ns = S - s0 < BLOCK_SYMBOLS ? S - s0 : BLOCK_SYMBOLS;
        rc = qa_store_read(st, "bars/close", s0, ns, 0, T, closes_blk);
        for (size_t i = 0; i < ns && rc == QA_OK; i++) {
            rc = align_symbol(o, docs, o->source, qa_store_symbol(st, s0 + i), &clock, closes, closes_blk + i * T, T, row,
                              h, rep, &c);
            for (int j = 0; j < QA_ALT_NSERIES; j++) memcpy(out + ((size_t)j * ns + i) * T, row + (size_t)j * T, T * sizeof *row);
        }
        for (int j = 0; j < QA_ALT_NSERIES && rc == QA_OK; j++)
            rc = qa_store_write(st, tmp[j], s0, ns, 0, T, out + (size_t)j * ns * T);
    }
    free(row);
    if (rc == QA_OK) rc = qa_sha256_final_hex(h, rep->docs_hash);
    for (int j = 0; j < QA_ALT_NSERIES && rc == QA_OK; j++) rc = publish(st, tmp[j], final[j], j, o, o->source, rep);
cleanup:
    free(c.v);
    free(closes);
    free(closes_blk);
    free(out);
    qa_sha256_free(h);
    qa_altdocs_close(docs);
    qa_store_close(st);
    return rc;
}
