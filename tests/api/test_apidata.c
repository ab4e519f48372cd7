/* The market-data and alternative-data handlers (api/data.c) on the shipped sample imported
 * by the built qa (argv[1]), its default features and the Reuters headlines. Values are
 * checked against the panels read here with the HDF5 C API, the bars' lineage against a
 * SHA-256 of the rows assembled here; bad symbols, names, times and pages must fail. */
#include <hdf5.h>    /* independent reads of the market file */
#include <math.h>    /* isnan */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* system */
#include <string.h>  /* strcmp */

#include "api/data.h"
#include "common/hash.h"  /* the rows' digest, recomputed */
#include "api_req.h"  /* requests built by hand */
#include "harness.h"

static char g_tmp[512];
static qa_api_ctx g_ctx;

typedef qa_tkv kv;

static qa_status call(qa_api_fn fn, const char *param, const kv *q, size_t nq, json_t **out) {
    return qa_treq_get(fn, &g_ctx, param, q, nq, out);
}
#define NQ(a) (sizeof(a) / sizeof((a)[0]))

/* Row `sym` of panel `path` (T values) and the time grid, read here. */
static double *panel_row(const char *path, size_t sym, size_t *T) {
    hid_t f = H5Fopen(g_ctx.data, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT), s = H5Dget_space(d);
    hsize_t dims[2];
    H5Sget_simple_extent_dims(s, dims, NULL);
    hsize_t off[2] = {sym, 0}, cnt[2] = {1, dims[1]};
    H5Sselect_hyperslab(s, H5S_SELECT_SET, off, NULL, cnt, NULL);
    hid_t m = H5Screate_simple(2, cnt, NULL);
    double *v = malloc(dims[1] * sizeof *v);
    H5Dread(d, H5T_NATIVE_DOUBLE, m, s, H5P_DEFAULT, v);
    *T = dims[1];
    H5Sclose(m);
    H5Sclose(s);
    H5Dclose(d);
    H5Fclose(f);
    return v;
}

static int64_t *time_grid(size_t *T) {
    hid_t f = H5Fopen(g_ctx.data, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "time", H5P_DEFAULT), s = H5Dget_space(d);
    hsize_t n;
    H5Sget_simple_extent_dims(s, &n, NULL);
    int64_t *t = malloc(n * sizeof *t);
    H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, t);
    *T = n;
    H5Sclose(s);
    H5Dclose(d);
    H5Fclose(f);
    return t;
}

static void test_symbols(void) {
    json_t *o = NULL;
    QA_CHECK_OK(call(qa_apidata_symbols, NULL, NULL, 0, &o));
    json_t *syms = json_object_get(o, "symbols");
    QA_CHECK_INT(json_array_size(syms), 16);
    QA_CHECK(json_array_size(json_object_get(o, "features")) >= 20);
    json_t *s0 = json_array_get(syms, 0);
    size_t T, T2;
    double *c = panel_row("bars/close", 0, &T);
    int64_t *t = time_grid(&T2);
    size_t bars = 0, first = T, last = 0;
    for (size_t i = 0; i < T; i++)
        if (!isnan(c[i])) {
            if (first == T) first = i;
            last = i;
            bars++;
        }
    QA_CHECK_INT(json_integer_value(json_object_get(s0, "bars")), bars);
    QA_CHECK_INT(json_integer_value(json_object_get(s0, "first")), t[first]);
    QA_CHECK_INT(json_integer_value(json_object_get(s0, "last")), t[last]);
    free(c);
    free(t);
    json_decref(o);
}

static void test_bars(void) {
    json_t *o = NULL;
    kv k[] = {{"start", "2020-01-01"}, {"end", "2020-12-31"}, {"limit", "100"}, {"page", "2"}};
    QA_CHECK_OK(call(qa_apidata_bars, "AAPL", k, NQ(k), &o));
    size_t T, T2;
    long sym = -1;
    json_t *so = NULL;
    QA_CHECK_OK(call(qa_apidata_symbols, NULL, NULL, 0, &so));
    for (size_t i = 0; i < json_array_size(json_object_get(so, "symbols")); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(json_object_get(so, "symbols"), i), "symbol")), "AAPL"))
            sym = (long)i;
    json_decref(so);
    QA_CHECK(sym >= 0);
    if (sym < 0) return;
    int64_t *t = time_grid(&T2);
    double *f[5];
    const char *paths[5] = {"bars/open", "bars/high", "bars/low", "bars/close", "bars/volume"};
    for (int j = 0; j < 5; j++) f[j] = panel_row(paths[j], (size_t)sym, &T);
    /* 2020 has 253 NYSE sessions; the answer's total is the count of closes in the year. */
    int64_t lo = 1577836800LL * 1000000000LL, hi = 1609372800LL * 1000000000LL; /* 2020-01-01, 2020-12-31 */
    size_t total = 0, idx[400] = {0};
    for (size_t i = 0; i < T; i++)
        if (t[i] >= lo && t[i] <= hi && !isnan(f[3][i]) && total < 400) idx[total++] = i;
    QA_CHECK_INT(total, 253);
    QA_CHECK_INT(json_integer_value(json_object_get(o, "total")), total);
    QA_CHECK_INT(json_integer_value(json_object_get(o, "pages")), 3);
    json_t *rows = json_object_get(o, "rows");
    QA_CHECK_INT(json_array_size(rows), 100);
    qa_sha256_t *h = NULL;
    QA_CHECK_OK(qa_sha256_create(&h));
    for (size_t r = 0; r < json_array_size(rows) && h; r++) {
        size_t g = idx[100 + r];
        json_t *row = json_array_get(rows, r);
        QA_CHECK_INT(json_integer_value(json_array_get(row, 0)), t[g]);
        for (int j = 0; j < 5; j++) QA_CHECK_NEAR(json_number_value(json_array_get(row, 1 + j)), f[j][g], 0, 0);
        unsigned char b[48];
        uint64_t u = (uint64_t)t[g];
        for (int i = 0; i < 8; i++) b[i] = (unsigned char)(u >> (8 * i));
        for (int j = 0; j < 5; j++) {
            memcpy(&u, &f[j][g], 8);
            for (int i = 0; i < 8; i++) b[8 + 8 * j + i] = (unsigned char)(u >> (8 * i));
        }
        qa_sha256_update(h, b, sizeof b);
    }
    char hex[65] = "";
    if (h) QA_CHECK_OK(qa_sha256_final_hex(h, hex));
    qa_sha256_free(h);
    QA_CHECK_STR(json_string_value(json_object_get(o, "lineage")), hex);
    json_decref(o);
    for (int j = 0; j < 5; j++) free(f[j]);
    free(t);
    kv b1[] = {{"start", "2020-01-01"}, {"end", "2020-12-31"}, {"limit", "100"}, {"page", "4"}};
    QA_CHECK_ERR(call(qa_apidata_bars, "AAPL", b1, NQ(b1), &o), QA_ERR_INVALID_ARG, "page=4");
    kv b2[] = {{"limit", "10001"}};
    QA_CHECK_ERR(call(qa_apidata_bars, "AAPL", b2, NQ(b2), &o), QA_ERR_INVALID_ARG, "limit");
    kv b3[] = {{"start", "yesterday"}};
    QA_CHECK_ERR(call(qa_apidata_bars, "AAPL", b3, NQ(b3), &o), QA_ERR_INVALID_ARG, "start=yesterday");
    QA_CHECK_ERR(call(qa_apidata_bars, "ZZZZ", NULL, 0, &o), QA_ERR_NOT_FOUND, "ZZZZ");
}

static void test_features(void) {
    json_t *o = NULL;
    kv k[] = {{"names", "rsi_close_14,ret_close"}, {"start", "2019-01-01"}, {"limit", "50"}};
    QA_CHECK_OK(call(qa_apidata_features, "MSFT", k, NQ(k), &o));
    json_t *cols = json_object_get(o, "columns"), *rows = json_object_get(o, "rows");
    QA_CHECK_INT(json_array_size(cols), 3);
    QA_CHECK_STR(json_string_value(json_array_get(cols, 1)), "rsi_close_14");
    QA_CHECK_INT(json_array_size(rows), 50);
    /* The first row's RSI equals the panel at that time. */
    size_t T, T2;
    int64_t *t = time_grid(&T2);
    long sym = 11; /* look it up properly below */
    hid_t f = H5Fopen(g_ctx.data, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "symbols", H5P_DEFAULT), ty = H5Dget_type(d);
    size_t len = H5Tget_size(ty);
    char *names = calloc(64, len + 1);
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, len + 1);
    H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, names);
    for (long i = 0; i < 16; i++)
        if (!strcmp(names + i * (len + 1), "MSFT")) sym = i;
    /* The lineage is the feature's input_hash attribute. */
    hid_t fd = H5Dopen2(f, "features/rsi_close_14", H5P_DEFAULT), a = H5Aopen(fd, "input_hash", H5P_DEFAULT);
    hid_t at = H5Aget_type(a);
    char *hash = NULL;
    H5Aread(a, at, &hash);
    QA_CHECK_STR(json_string_value(json_object_get(json_object_get(o, "lineage"), "rsi_close_14")), hash);
    H5free_memory(hash);
    H5Tclose(at);
    H5Aclose(a);
    H5Dclose(fd);
    H5Tclose(mt);
    H5Tclose(ty);
    H5Dclose(d);
    H5Fclose(f);
    free(names);
    double *rsi = panel_row("features/rsi_close_14", (size_t)sym, &T);
    json_t *r0 = json_array_get(rows, 0);
    size_t g = 0;
    while (g < T && t[g] != json_integer_value(json_array_get(r0, 0))) g++;
    QA_CHECK(g < T && t[g] >= 1546300800LL * 1000000000LL);
    if (g < T) QA_CHECK_NEAR(json_number_value(json_array_get(r0, 1)), rsi[g], 0, 0);
    free(rsi);
    free(t);
    json_decref(o);
    kv b1[] = {{"names", "rsi_close_99"}};
    QA_CHECK_ERR(call(qa_apidata_features, "MSFT", b1, 1, &o), QA_ERR_NOT_FOUND, "rsi_close_99");
    kv b2[] = {{"names", "../bars/close"}};
    QA_CHECK_ERR(call(qa_apidata_features, "MSFT", b2, 1, &o), QA_ERR_INVALID_ARG, "feature name");
}

static void test_alt(void) {
    json_t *o = NULL;
    kv k[] = {{"q", "apple"}, {"limit", "3"}};
    QA_CHECK_OK(call(qa_apidata_alt, NULL, k, NQ(k), &o));
    json_t *hits = json_object_get(o, "hits");
    QA_CHECK(json_array_size(hits) >= 1 && json_array_size(hits) <= 3);
    for (size_t i = 0; i < json_array_size(hits); i++) {
        json_t *h = json_array_get(hits, i);
        char text[4096];
        snprintf(text, sizeof text, "%s %s", json_string_value(json_object_get(h, "title")),
                 json_string_value(json_object_get(h, "text")));
        for (char *c = text; *c; c++) *c = (char)(*c | 0x20);
        QA_CHECK_MSG(strstr(text, "apple") != NULL, "hit %zu lacks 'apple': %s", i, text);
        if (i) QA_CHECK(json_number_value(json_object_get(h, "score")) <=
                        json_number_value(json_object_get(json_array_get(hits, i - 1), "score")));
    }
    json_decref(o);
    kv b1[] = {{"q", "\"unbalanced"}};
    QA_CHECK_ERR(call(qa_apidata_alt, NULL, b1, 1, &o), QA_ERR_INVALID_ARG, "FTS5");
    QA_CHECK_ERR(call(qa_apidata_alt, NULL, NULL, 0, &o), QA_ERR_INVALID_ARG, "q");
    char keep[512];
    snprintf(keep, sizeof keep, "%s", g_ctx.alt);
    g_ctx.alt[0] = '\0';
    QA_CHECK_ERR(call(qa_apidata_alt, NULL, k, NQ(k), &o), QA_ERR_NOT_FOUND, "document store");
    snprintf(g_ctx.alt, sizeof g_ctx.alt, "%s", keep);
}

int main(int argc, char **argv) {
    const char *src = getenv("QA_SOURCE_DIR");
    if (argc < 2 || !src) {
        printf("usage: test_apidata QA_BINARY (with QA_SOURCE_DIR set, as ctest does)\n");
        return 2;
    }
    if (qa_test_tmpdir(g_tmp, sizeof g_tmp, "apidata") != 0) return 1;
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "set -e; %s data import --preset sp500-daily --data-root %s/datasets/sample --out %s/stocks.h5; "
             "%s features --data %s/stocks.h5; "
             "%s alt import --source reuters --data-root %s/datasets/sample --db %s/alt.db",
             argv[1], src, g_tmp, argv[1], g_tmp, argv[1], src, g_tmp);
    char full[4700];
    snprintf(full, sizeof full, "(%s) >%s/setup.log 2>&1", cmd, g_tmp);
    if (system(full) != 0) {
        printf("setup failed (see %s/setup.log)\n", g_tmp);
        return 1;
    }
    snprintf(g_ctx.data, sizeof g_ctx.data, "%.400s/stocks.h5", g_tmp);
    snprintf(g_ctx.alt, sizeof g_ctx.alt, "%.400s/alt.db", g_tmp);
    QA_RUN(test_symbols);
    QA_RUN(test_bars);
    QA_RUN(test_features);
    QA_RUN(test_alt);
    int rc = qa_test_finish();
    if (rc == 0) qa_test_rmtree(g_tmp);
    return rc;
}
