/* Market-file description: metadata, coverage, datasets with lineage, return moments. */
#include "datasets/describe.h"

#include <math.h>    /* isnan, log, sqrt */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* malloc, free */

#include "common/timeparse.h" /* first and last timestamps */

#define BLOCK 64 /* symbols read at a time: bounded memory for any file */

/* Share of non-NaN cells of one bar field, streamed by blocks of symbols. */
static qa_status coverage(qa_store_t *st, const char *path, double *buf, double *share) {
    size_t S = qa_store_nsym(st), T = qa_store_ntime(st), valid = 0;
    for (size_t s0 = 0; s0 < S; s0 += BLOCK) {
        size_t ns = S - s0 < BLOCK ? S - s0 : BLOCK;
        QA_TRY_RET(qa_store_read(st, path, s0, ns, 0, T, buf));
        for (size_t i = 0; i < ns * T; i++) valid += !isnan(buf[i]);
    }
    *share = S && T ? (double)valid / ((double)S * (double)T) : 0.0;
    return QA_OK;
}

/* The lineage attributes a dataset under `group` carries (those present). */
static json_t *dataset_json(qa_store_t *st, const char *group, const char *name) {
    static const char *const keys[] = {"kind", "params", "input", "code_version", "input_hash", "created", "description"};
    char path[QA_STORE_SYMBOL_LEN + 256], buf[1024];
    snprintf(path, sizeof path, "%s/%s", group, name);
    json_t *o = json_object();
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        if (qa_store_attr_get_str(st, path, keys[k], buf, sizeof buf) == QA_OK) json_object_set_new(o, keys[k], json_string(buf));
    return o;
}

static qa_status datasets_json(qa_store_t *st, const char *group, json_t *root) {
    char **names = NULL;
    size_t n = 0;
    QA_TRY_RET(qa_store_list(st, group, &names, &n));
    json_t *arr = json_object();
    for (size_t i = 0; i < n; i++) json_object_set_new(arr, names[i], dataset_json(st, group, names[i]));
    qa_store_free_names(names, n);
    json_object_set_new(root, group, arr);
    return QA_OK;
}

qa_status qa_describe_store(qa_store_t *store, json_t **out) {
    *out = NULL;
    size_t S = qa_store_nsym(store), T = qa_store_ntime(store);
    const qa_store_meta *m = qa_store_get_meta(store);
    char t0[40] = "", t1[40] = "";
    if (T) {
        qa_time_format_iso(qa_store_time(store)[0], t0, sizeof t0);
        qa_time_format_iso(qa_store_time(store)[T - 1], t1, sizeof t1);
    }
    json_t *root = json_object();
    json_object_set_new(root, "file", json_string(qa_store_path(store)));
    json_object_set_new(root, "symbols", json_integer((json_int_t)S));
    json_object_set_new(root, "timestamps", json_integer((json_int_t)T));
    json_object_set_new(root, "first", json_string(t0));
    json_object_set_new(root, "last", json_string(t1));
    json_object_set_new(root, "frequency", json_string(m->frequency));
    json_object_set_new(root, "bar_seconds", json_integer(m->bar_seconds));
    json_object_set_new(root, "bars_per_year", json_real(m->bars_per_year));
    json_object_set_new(root, "calendar", json_string(m->calendar));
    json_object_set_new(root, "currency", json_string(m->currency));
    json_object_set_new(root, "adjustment", json_string(m->adjustment));
    json_object_set_new(root, "source", json_string(m->source));
    qa_status st = QA_OK;
    double *buf = malloc((size_t)BLOCK * (T ? T : 1) * sizeof *buf);
    if (!buf) st = QA_FAIL(QA_ERR_NOMEM, "read buffer (%d x %zu)", BLOCK, T);
    json_t *cov = json_object();
    for (int f = 0; f < QA_BAR_FIELD_COUNT && st == QA_OK; f++) {
        double share = 0.0;
        st = coverage(store, qa_bar_field_path((qa_bar_field)f), buf, &share);
        json_object_set_new(cov, qa_bar_field_name((qa_bar_field)f), json_real(share));
    }
    json_object_set_new(root, "coverage", cov);
    free(buf);
    if (st == QA_OK) st = datasets_json(store, "alt", root);
    if (st == QA_OK) st = datasets_json(store, "features", root);
    if (st != QA_OK) {
        json_decref(root);
        return st;
    }
    *out = root;
    return QA_OK;
}

/* Log returns of ns symbols' closes (ns x T) on their observation sequences. */
static void log_returns(const double *close, size_t ns, size_t T, double *lr) {
    for (size_t i = 0; i < ns; i++) {
        double prev = NAN;
        for (size_t t = 0; t < T; t++) {
            double p = close[i * T + t];
            lr[i * T + t] = (isnan(p) || isnan(prev)) ? NAN : log(p / prev);
            if (!isnan(p)) prev = p;
        }
    }
}

qa_status qa_describe_return_moments(qa_store_t *store, qa_backend_t *be, qa_moments *out) {
    size_t S = qa_store_nsym(store), T = qa_store_ntime(store), n = (size_t)BLOCK * (T ? T : 1);
    qa_status st = QA_OK;
    qa_buf dev = {0};
    double *buf = malloc(n * sizeof *buf), *lr = malloc(n * sizeof *lr);
    if (!buf || !lr) QA_TRY_FAIL(QA_ERR_NOMEM, "return buffers (%d x %zu)", BLOCK, T);
    if (qa_backend_kind_of(be) == QA_BACKEND_CUDA) QA_TRY(qa_buf_alloc(be, n * sizeof *lr, &dev));
    for (size_t s0 = 0; s0 < S; s0 += BLOCK) {
        size_t ns = S - s0 < BLOCK ? S - s0 : BLOCK;
        QA_TRY(qa_store_read(store, "bars/close", s0, ns, 0, T, buf));
        log_returns(buf, ns, T, lr);
        if (dev.ptr) {
            QA_TRY(qa_buf_upload(be, &dev, 0, lr, ns * T * sizeof *lr));
            QA_TRY(qa_reduce_moments(be, dev.ptr, ns, T, out + s0));
        } else {
            QA_TRY(qa_reduce_moments(be, lr, ns, T, out + s0));
        }
    }
cleanup:
    qa_buf_free(&dev);
    free(buf);
    free(lr);
    return st;
}

json_t *qa_describe_moments_json(qa_store_t *store, const qa_moments *m) {
    double ann = sqrt(qa_store_get_meta(store)->bars_per_year);
    json_t *arr = json_array();
    for (size_t i = 0; i < qa_store_nsym(store); i++) {
        json_t *o = json_object();
        json_object_set_new(o, "symbol", json_string(qa_store_symbol(store, i)));
        json_object_set_new(o, "returns", json_integer((json_int_t)m[i].count));
        json_object_set_new(o, "mean_log_return", json_real(isnan(m[i].mean) ? 0 : m[i].mean));
        double vol = qa_moments_std(&m[i]) * ann;
        json_object_set_new(o, "annual_vol", isnan(vol) ? json_null() : json_real(vol));
        json_object_set_new(o, "min", isnan(m[i].min) ? json_null() : json_real(m[i].min));
        json_object_set_new(o, "max", isnan(m[i].max) ? json_null() : json_real(m[i].max));
        json_array_append_new(arr, o);
    }
    return arr;
}
