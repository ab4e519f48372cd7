/* qa serve: market-data and alternative-data handlers over the documented stores
 * (docs/data-format.md, docs/features.md, docs/alt-data.md). Reads go through
 * datasets/store.h by hyperslab in bounded blocks: a request's memory is its page plus one
 * block of the panel, whatever the file's size. */
#include <limits.h>  /* LLONG_MIN */
#include <math.h>    /* isnan */
#include <stdint.h>  /* int64_t */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* malloc */
#include <string.h>  /* strcmp, strrchr */

#include "api/data.h"
#include "common/hash.h"      /* SHA-256 of the returned bars */
#include "common/json.h"      /* qa_json_real */
#include "common/strlist.h"   /* feature name lists */
#include "common/timeparse.h" /* ISO document times */
#include "datasets/altdocs.h" /* document store search */
#include "datasets/store.h"   /* the market store */

#define DATA_MAX_LIMIT 10000     /* rows per page */
#define DATA_BLOCK (1u << 20)    /* doubles read per block when scanning a panel (8 MiB) */
#define FEATURES_MAX 64          /* feature columns per request */

static const char *q(const qa_api_req *req, const char *name) { return req->query ? req->query(req, name) : NULL; }

static qa_status open_store(const qa_api_req *req, qa_store_t **st) {
    if (!req->ctx->data[0]) return QA_FAIL(QA_ERR_NOT_FOUND, "market data: no market file is configured (data)");
    return qa_store_open(req->ctx->data, NULL, QA_STORE_READ, st);
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

qa_status qa_apidata_symbols(const qa_api_req *req, qa_api_resp *resp) {
    qa_store_t *st = NULL;
    QA_TRY_RET(open_store(req, &st));
    qa_status s = QA_OK;
    size_t S = qa_store_nsym(st), T = qa_store_ntime(st), nfeat = 0;
    const int64_t *time = qa_store_time(st);
    char **feat = NULL;
    double *blk = NULL;
    json_t *out = NULL;
    /* Rows of the close panel in blocks of whole symbols (the panel is chunked by 64
     * symbols, so a block of up to 64 rows reads each chunk once). */
    size_t block = T ? DATA_BLOCK / T : 64;
    if (block > 64) block = 64;
    if (block < 1) block = 1;
    if (!(blk = malloc(block * (T ? T : 1) * sizeof *blk))) {
        s = QA_FAIL(QA_ERR_NOMEM, "market data: a block of %zu x %zu bars", block, T);
        goto cleanup;
    }
    out = json_object();
    json_object_set_new(out, "file", json_string(base_name(qa_store_path(st))));
    json_object_set_new(out, "frequency", json_string(qa_store_get_meta(st)->frequency));
    json_t *syms = json_array();
    json_object_set_new(out, "symbols", syms);
    for (size_t s0 = 0; s0 < S; s0 += block) {
        size_t ns = S - s0 < block ? S - s0 : block;
        if (T && (s = qa_store_read(st, "bars/close", s0, ns, 0, T, blk)) != QA_OK) goto cleanup;
        for (size_t i = 0; i < ns; i++) {
            const double *r = blk + i * T;
            size_t first = T, last = 0, bars = 0;
            for (size_t t = 0; t < T; t++)
                if (!isnan(r[t])) {
                    if (first == T) first = t;
                    last = t;
                    bars++;
                }
            json_t *o = json_object();
            json_object_set_new(o, "symbol", json_string(qa_store_symbol(st, s0 + i)));
            json_object_set_new(o, "first", bars ? json_integer(time[first]) : json_null());
            json_object_set_new(o, "last", bars ? json_integer(time[last]) : json_null());
            json_object_set_new(o, "bars", json_integer((json_int_t)bars));
            json_array_append_new(syms, o);
        }
    }
    if ((s = qa_store_list(st, "features", &feat, &nfeat)) != QA_OK) goto cleanup;
    json_t *fa = json_array();
    for (size_t i = 0; i < nfeat; i++) json_array_append_new(fa, json_string(feat[i]));
    json_object_set_new(out, "features", fa);
    resp->json = out;
    out = NULL;
cleanup:
    json_decref(out);
    qa_store_free_names(feat, nfeat);
    free(blk);
    qa_store_close(st);
    return s;
}

/* ---- paging over a symbol's bars ------------------------------------------------------ */

/* The grid positions of one page of a symbol's bars in [start, end]: a bar is a grid time
 * where its close is not NaN (the store's convention for "no bar"). */
typedef struct bar_page {
    long sym;
    size_t total, pages;
    long page, limit;
    size_t n;      /* rows on this page */
    size_t *pos;   /* their grid indices (n) */
} bar_page;

static qa_status page_bars(const qa_api_req *req, qa_store_t *st, bar_page *bp) {
    memset(bp, 0, sizeof *bp);
    const char *symbol = req->nparams > 0 ? req->params[0] : NULL;
    if (!symbol || !*symbol) return QA_FAIL(QA_ERR_INVALID_ARG, "symbol: missing from the path");
    bp->sym = qa_store_find_symbol(st, symbol);
    if (bp->sym < 0) return QA_FAIL(QA_ERR_NOT_FOUND, "symbol '%.64s' is not in the market file", symbol);
    long long start = 0, end = 0;
    QA_TRY_RET(qa_api_query_time(req, "start", LLONG_MIN, &start));
    QA_TRY_RET(qa_api_query_time(req, "end", LLONG_MAX, &end));
    if (start > end) return QA_FAIL(QA_ERR_INVALID_ARG, "query parameters start=%s, end=%s: start is after end",
                                    q(req, "start"), q(req, "end"));
    /* Parsed into locals: bp->n and bp->pos stay as set above (0, NULL) until the scan fills them. */
    long page = 1, limit = 1000;
    QA_TRY_RET(qa_api_query_long(req, "page", 1, 1, LONG_MAX / DATA_MAX_LIMIT, &page));
    QA_TRY_RET(qa_api_query_long(req, "limit", 1000, 1, DATA_MAX_LIMIT, &limit));
    bp->page = page;
    bp->limit = limit;
    size_t T = qa_store_ntime(st);
    const int64_t *time = qa_store_time(st);
    size_t t0 = 0, t1 = T;
    while (t0 < T && time[t0] < start) t0++; /* linear is fine next to reading the range */
    while (t1 > t0 && time[t1 - 1] > end) t1--;
    size_t lo = (size_t)(bp->page - 1) * (size_t)bp->limit, hi = lo + (size_t)bp->limit;
    if (!(bp->pos = malloc((size_t)bp->limit * sizeof *bp->pos)))
        return QA_FAIL(QA_ERR_NOMEM, "bars: a page of %ld rows", bp->limit);
    double *blk = malloc((t1 - t0 < DATA_BLOCK ? (t1 - t0 ? t1 - t0 : 1) : DATA_BLOCK) * sizeof *blk);
    if (!blk) {
        free(bp->pos);
        bp->pos = NULL;
        return QA_FAIL(QA_ERR_NOMEM, "bars: a block of %u bars", DATA_BLOCK);
    }
    size_t count = 0;
    qa_status s = QA_OK;
    for (size_t b = t0; b < t1 && s == QA_OK; b += DATA_BLOCK) {
        size_t nb = t1 - b < DATA_BLOCK ? t1 - b : DATA_BLOCK;
        if ((s = qa_store_read(st, "bars/close", (size_t)bp->sym, 1, b, nb, blk)) != QA_OK) break;
        for (size_t i = 0; i < nb; i++)
            if (!isnan(blk[i])) {
                if (count >= lo && count < hi) bp->pos[bp->n++] = b + i;
                count++;
            }
    }
    free(blk);
    if (s != QA_OK) {
        free(bp->pos);
        bp->pos = NULL;
        return s;
    }
    bp->total = count;
    bp->pages = count ? (count + (size_t)bp->limit - 1) / (size_t)bp->limit : 1;
    if ((size_t)bp->page > bp->pages) {
        free(bp->pos);
        bp->pos = NULL;
        return QA_FAIL(QA_ERR_INVALID_ARG, "query parameter page=%ld: out of range, there are %zu page(s) of %ld rows",
                       bp->page, bp->pages, bp->limit);
    }
    return QA_OK;
}

/* Reads the page's rows of panel `path` into out[n] (one read over the page's grid span). */
static qa_status read_page(qa_store_t *st, const bar_page *bp, const char *path, double *span, double *out) {
    if (bp->n == 0) return QA_OK;
    size_t a = bp->pos[0], len = bp->pos[bp->n - 1] - a + 1;
    QA_TRY_RET(qa_store_read(st, path, (size_t)bp->sym, 1, a, len, span));
    for (size_t i = 0; i < bp->n; i++) out[i] = span[bp->pos[i] - a];
    return QA_OK;
}

/* The answer's frame: symbol, columns, rows (time as int64 ns, then `nc` columns of
 * vals[c * n + i]), paging. */
static json_t *frame(const qa_store_t *st, const bar_page *bp, const char *const *cols, size_t nc, const double *vals) {
    const int64_t *time = qa_store_time(st);
    json_t *o = json_object();
    json_object_set_new(o, "symbol", json_string(qa_store_symbol(st, (size_t)bp->sym)));
    json_t *c = json_array();
    json_array_append_new(c, json_string("time"));
    for (size_t j = 0; j < nc; j++) json_array_append_new(c, json_string(cols[j]));
    json_object_set_new(o, "columns", c);
    json_t *rows = json_array();
    for (size_t i = 0; i < bp->n; i++) {
        json_t *r = json_array();
        json_array_append_new(r, json_integer(time[bp->pos[i]]));
        for (size_t j = 0; j < nc; j++) json_array_append_new(r, qa_json_real(vals[j * bp->n + i]));
        json_array_append_new(rows, r);
    }
    json_object_set_new(o, "rows", rows);
    json_object_set_new(o, "page", json_integer(bp->page));
    json_object_set_new(o, "pages", json_integer((json_int_t)bp->pages));
    json_object_set_new(o, "total", json_integer((json_int_t)bp->total));
    return o;
}

/* Little-endian bytes of v (the platform's byte order is not part of the hash). */
static void put_le(unsigned char *b, uint64_t v) {
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}

qa_status qa_apidata_bars(const qa_api_req *req, qa_api_resp *resp) {
    qa_store_t *st = NULL;
    QA_TRY_RET(open_store(req, &st));
    bar_page bp;
    qa_status s = page_bars(req, st, &bp);
    double *vals = NULL, *span = NULL;
    qa_sha256_t *h = NULL;
    if (s != QA_OK) goto cleanup;
    const char *cols[QA_BAR_FIELD_COUNT];
    size_t n = bp.n, len = n ? bp.pos[n - 1] - bp.pos[0] + 1 : 1;
    if (!(vals = malloc((n ? n : 1) * QA_BAR_FIELD_COUNT * sizeof *vals)) || !(span = malloc(len * sizeof *span))) {
        s = QA_FAIL(QA_ERR_NOMEM, "bars: a page of %zu rows", n);
        goto cleanup;
    }
    for (int f = 0; f < QA_BAR_FIELD_COUNT; f++) {
        cols[f] = qa_bar_field_name((qa_bar_field)f);
        if ((s = read_page(st, &bp, qa_bar_field_path((qa_bar_field)f), span, vals + (size_t)f * n)) != QA_OK)
            goto cleanup;
    }
    /* The store keeps no per-symbol content hash for bars, so the lineage is the SHA-256
     * of the rows returned: per row the time (int64) then open..volume (IEEE float64),
     * each 8 bytes little-endian (docs/api-runs-data.md). */
    char hex[QA_SHA256_HEX_LEN + 1];
    if ((s = qa_sha256_create(&h)) != QA_OK) goto cleanup;
    const int64_t *time = qa_store_time(st);
    for (size_t i = 0; i < n && s == QA_OK; i++) {
        unsigned char b[8 * (1 + QA_BAR_FIELD_COUNT)];
        put_le(b, (uint64_t)time[bp.pos[i]]);
        for (int f = 0; f < QA_BAR_FIELD_COUNT; f++) {
            uint64_t u;
            memcpy(&u, &vals[(size_t)f * n + i], 8);
            put_le(b + 8 * (size_t)(1 + f), u);
        }
        s = qa_sha256_update(h, b, sizeof b);
    }
    if (s != QA_OK || (s = qa_sha256_final_hex(h, hex)) != QA_OK) goto cleanup;
    json_t *out = frame(st, &bp, cols, QA_BAR_FIELD_COUNT, vals);
    json_object_set_new(out, "lineage", json_string(hex));
    json_object_set_new(out, "lineage_kind", json_string("sha256-rows"));
    resp->json = out;
cleanup:
    qa_sha256_free(h);
    free(vals);
    free(span);
    free(bp.pos);
    qa_store_close(st);
    return s;
}

/* Splits ?names=a,b into `out`; each must be a feature of the store (NOT_FOUND naming it). */
static qa_status feature_names(const qa_api_req *req, qa_store_t *st, qa_strlist *out) {
    const char *v = q(req, "names");
    if (!v) {
        char **names = NULL;
        size_t n = 0;
        QA_TRY_RET(qa_store_list(st, "features", &names, &n));
        qa_status s = QA_OK;
        for (size_t i = 0; i < n && s == QA_OK; i++) s = qa_strlist_add(out, names[i]);
        qa_store_free_names(names, n);
        QA_TRY_RET(s);
    } else {
        char name[256];
        while (*v) {
            size_t k = strcspn(v, ",");
            if (k == 0 || k >= sizeof name)
                return QA_FAIL(QA_ERR_INVALID_ARG, "query parameter names: an empty or over-long name in '%.64s'", v);
            memcpy(name, v, k);
            name[k] = '\0';
            QA_TRY_RET(qa_api_safe_name(name, "feature name"));
            char path[300];
            snprintf(path, sizeof path, "features/%s", name);
            if (!qa_store_exists(st, path))
                return QA_FAIL(QA_ERR_NOT_FOUND, "feature '%s' is not in the market file (GET /api/data/symbols lists them)",
                               name);
            QA_TRY_RET(qa_strlist_add(out, name));
            v += k;
            if (*v == ',') v++;
        }
    }
    if (out->n == 0) return QA_FAIL(QA_ERR_NOT_FOUND, "features: the market file has none (run qa features)");
    if (out->n > FEATURES_MAX)
        return QA_FAIL(QA_ERR_INVALID_ARG, "query parameter names: %zu features, at most %d per request", out->n,
                       FEATURES_MAX);
    return QA_OK;
}

qa_status qa_apidata_features(const qa_api_req *req, qa_api_resp *resp) {
    qa_store_t *st = NULL;
    QA_TRY_RET(open_store(req, &st));
    qa_strlist names = {0};
    bar_page bp = {0};
    double *vals = NULL, *span = NULL;
    json_t *lineage = NULL;
    qa_status s = feature_names(req, st, &names);
    if (s != QA_OK || (s = page_bars(req, st, &bp)) != QA_OK) goto cleanup;
    size_t n = bp.n, len = n ? bp.pos[n - 1] - bp.pos[0] + 1 : 1;
    if (!(vals = malloc((n ? n : 1) * names.n * sizeof *vals)) || !(span = malloc(len * sizeof *span))) {
        s = QA_FAIL(QA_ERR_NOMEM, "features: a page of %zu rows", n);
        goto cleanup;
    }
    lineage = json_object();
    for (size_t j = 0; j < names.n; j++) {
        char path[300], hash[128];
        snprintf(path, sizeof path, "features/%s", names.items[j]);
        if ((s = read_page(st, &bp, path, span, vals + j * n)) != QA_OK) goto cleanup;
        /* docs/features.md: input_hash identifies the feature's code, parameters and inputs. */
        qa_status hs = qa_store_attr_get_str(st, path, "input_hash", hash, sizeof hash);
        if (hs == QA_OK) json_object_set_new(lineage, names.items[j], json_string(hash));
        else if (hs == QA_ERR_NOT_FOUND) {
            json_object_set_new(lineage, names.items[j], json_null());
            qa_err_clear();
        } else {
            s = hs;
            goto cleanup;
        }
    }
    json_t *out = frame(st, &bp, (const char *const *)names.items, names.n, vals);
    json_object_set_new(out, "lineage", lineage);
    lineage = NULL;
    resp->json = out;
cleanup:
    json_decref(lineage);
    free(vals);
    free(span);
    free(bp.pos);
    qa_strlist_free(&names);
    qa_store_close(st);
    return s;
}

/* ---- alternative data ------------------------------------------------------------------ */

static int add_hit(void *ctx, const qa_altdocs_row *r) {
    char t[40];
    json_t *h = json_object();
    json_object_set_new(h, "time", json_string(qa_time_format_iso(r->event_ns, t, sizeof t)));
    json_object_set_new(h, "source", json_string(r->source ? r->source : ""));
    json_object_set_new(h, "symbol", json_string(r->tickers ? r->tickers : ""));
    json_object_set_new(h, "title", json_string(r->title ? r->title : ""));
    json_object_set_new(h, "text", json_string(r->body ? r->body : ""));
    json_object_set_new(h, "kind", json_string(r->kind ? r->kind : ""));
    json_object_set_new(h, "sentiment", qa_json_real(r->sentiment));
    /* bm25 is lower-is-better and negative for matches; its negation reads "higher = better". */
    json_object_set_new(h, "score", qa_json_real(-r->rank));
    json_array_append_new(ctx, h);
    return 0;
}

qa_status qa_apidata_alt(const qa_api_req *req, qa_api_resp *resp) {
    if (!req->ctx->alt[0])
        return QA_FAIL(QA_ERR_NOT_FOUND, "alternative data: no document store is configured (alt)");
    const char *text = q(req, "q");
    if (!text || !*text) return QA_FAIL(QA_ERR_INVALID_ARG, "query parameter q: required (an FTS5 query, e.g. jobs AND resigns)");
    long limit = 20;
    QA_TRY_RET(qa_api_query_long(req, "limit", 20, 1, 200, &limit));
    qa_altdocs_t *d = NULL;
    QA_TRY_RET(qa_altdocs_open(req->ctx->alt, 0, &d));
    char ticker[32];
    const char *tk = q(req, "ticker");
    if (tk && !qa_altdocs_ticker_norm(tk, ticker, sizeof ticker)) {
        qa_altdocs_close(d);
        return QA_FAIL(QA_ERR_INVALID_ARG, "query parameter ticker=%.64s: not a ticker (A-Z, 0-9, '-', '.', '/')", tk);
    }
    qa_altdocs_query aq = {text, tk ? ticker : NULL, q(req, "source"), INT64_MIN, INT64_MAX, (int)limit};
    json_t *hits = json_array();
    qa_status s = qa_altdocs_search(d, &aq, add_hit, hits);
    if (s == QA_ERR_CONFIG || (s == QA_ERR_SQLITE && (strstr(qa_err_msg(), "syntax") || strstr(qa_err_msg(), "fts5") ||
                                                     strstr(qa_err_msg(), "unterminated")))) {
        /* FTS5 rejects the query text itself: the caller's mistake, a 400 naming it. */
        char why[256];
        snprintf(why, sizeof why, "%s", qa_err_msg());
        s = QA_FAIL(QA_ERR_INVALID_ARG, "query parameter q=%.100s: not a valid FTS5 query (%s); quote phrases with \"...\"",
                    text, why);
    }
    qa_altdocs_close(d);
    if (s != QA_OK) {
        json_decref(hits);
        return s;
    }
    resp->json = json_object();
    json_object_set_new(resp->json, "q", json_string(text));
    json_object_set_new(resp->json, "hits", hits);
    return QA_OK;
}
