/* Sweep I/O: loading the selected panels (and their input hash), and chunk files written
 * atomically (fsync'ed: they are the resume checkpoints) and read back. */
#include "pipeline/sweep/sweep_internal.h"

#include <math.h>    /* NAN */
#include <stdio.h>   /* snprintf, remove */
#include <stdlib.h>  /* malloc */
#include <string.h>  /* memcpy */

#include "common/fs.h"   /* temporary names, rename, mkdirs */
#include "common/hash.h" /* input hash */

/* ---- data ----------------------------------------------------------------------------------- */

void qa_sweep_data_free(qa_sweep_data *d) {
    if (!d) return;
    free(d->host);
    qa_buf_free(&d->dev);
    memset(d, 0, sizeof *d);
}

qa_status qa_sweep_data_load(const qa_sweep_cfg *c, qa_backend_t *be, int hash, qa_sweep_data *d) {
    memset(d, 0, sizeof *d);
    const size_t S = c->nsym, T = c->t_end;
    const char *paths[5] = {"bars/close", "bars/high", "bars/low", "bars/volume", c->signal};
    const int need[5] = {1, c->need_hl, c->need_hl, c->need_vol, c->need_sig};
    double **views[5] = {&d->close, &d->high, &d->low, &d->volume, &d->signal};
    size_t np = 0;
    for (int k = 0; k < 5; k++) np += (size_t)need[k];
    qa_status st = QA_OK;
    qa_store_t *store = NULL;
    qa_sha256_t *h = NULL;
    d->S = S;
    d->T = T;
    QA_TRY(qa_store_open(c->data, NULL, QA_STORE_READ, &store));
    QA_TRY(qa_store_check_load(store, "bars/close", S, T, (double)np, 0)); /* before allocating the panels */
    d->host = malloc(QA_SWEEP_NZ(S * T * np) * sizeof(double));
    if (!d->host) QA_TRY_FAIL(QA_ERR_NOMEM, "panels of %zu symbols x %zu bars", S, T);
    if (hash) {
        QA_TRY(qa_sha256_create(&h));
        QA_TRY(qa_sha256_update(h, "qa-sweep-input-1", 16));
        QA_TRY(qa_sha256_update(h, c->time, T * sizeof *c->time));
        for (size_t i = 0; i < S; i++) QA_TRY(qa_sha256_update(h, c->sym_names[i], QA_STORE_SYMBOL_LEN));
    }
    size_t slot = 0;
    for (int k = 0; k < 5; k++) {
        if (!need[k]) continue;
        double *panel = d->host + slot++ * S * T;
        *views[k] = panel;
        /* runs of selected symbols that are consecutive in the file, at most 64 rows per read */
        for (size_t i = 0; i < S;) {
            size_t j = i + 1;
            while (j < S && j - i < 64 && c->sym_index[j] == c->sym_index[j - 1] + 1) j++;
            QA_TRY(qa_store_read(store, paths[k], c->sym_index[i], j - i, 0, T, panel + i * T));
            i = j;
        }
        if (h) {
            QA_TRY(qa_sha256_update(h, paths[k], strlen(paths[k]) + 1));
            QA_TRY(qa_sha256_update(h, panel, S * T * sizeof(double)));
        }
    }
    if (h) QA_TRY(qa_sha256_final_hex(h, d->input_hash));
    d->bclose = d->close;
    d->bhigh = d->high;
    d->blow = d->low;
    d->bvolume = d->volume;
    d->bsignal = d->signal;
    if (be && qa_backend_kind_of(be) == QA_BACKEND_CUDA && S * T > 0) {
        /* One device allocation with the same layout; it stays resident for every chunk. */
        QA_TRY(qa_buf_alloc(be, S * T * np * sizeof(double), &d->dev));
        QA_TRY(qa_buf_upload(be, &d->dev, 0, d->host, S * T * np * sizeof(double)));
        double *base = d->dev.ptr;
        const double **bviews[5] = {&d->bclose, &d->bhigh, &d->blow, &d->bvolume, &d->bsignal};
        for (int k = 0; k < 5; k++)
            if (*views[k]) *bviews[k] = base + (*views[k] - d->host);
    }
cleanup:
    qa_sha256_free(h);
    qa_store_close(store);
    if (st != QA_OK) {
        qa_err_prefix("loading %s: ", c->data);
        qa_sweep_data_free(d);
    }
    return st;
}

qa_bt_data qa_sweep_data_view(const qa_sweep_data *d, size_t s0, size_t ns, size_t t_begin, size_t t_end, int host) {
    const size_t T = d->T;
    const double *c = host ? d->close : d->bclose, *h = host ? d->high : d->bhigh, *l = host ? d->low : d->blow;
    const double *v = host ? d->volume : d->bvolume, *g = host ? d->signal : d->bsignal;
    qa_bt_data v_ = {c ? c + s0 * T : NULL, h ? h + s0 * T : NULL, l ? l + s0 * T : NULL, v ? v + s0 * T : NULL,
                     g ? g + s0 * T : NULL, ns, T, t_begin, t_end};
    return v_;
}

/* ---- chunk files ---------------------------------------------------------------------------------- */

void qa_sweep_result_free(qa_sweep_result *r) {
    if (!r) return;
    free(r->values);
    free(r->series);
    free(r->pos);
    memset(r, 0, sizeof *r);
}

qa_status qa_sweep_chunk_path(const char *run_dir, size_t index, char *buf) {
    return qa_path_join(buf, run_dir, "chunks/chunk-%06zu.h5", index);
}

qa_status qa_sweep_chunk_write(const char *path, const qa_sweep_cfg *c, const char *input_hash, size_t index,
                               const qa_sweep_result *r) {
    qa_h5_file file;
    qa_status st = qa_h5_file_create(path, &file);
    if (st != QA_OK) return st;
    hid_t f = file.id;
    const qa_sweep_chunk *k = &r->chunk;
    QA_TRY(qa_h5_attr_set_str(f, NULL, "format", QA_SWEEP_CHUNK_FORMAT));
    QA_TRY(qa_h5_attr_set_i64(f, NULL, "format_version", QA_SWEEP_FORMAT_VERSION));
    QA_TRY(qa_h5_attr_set_str(f, NULL, "config_hash", c->config_hash));
    QA_TRY(qa_h5_attr_set_str(f, NULL, "input_hash", input_hash));
    QA_TRY(qa_h5_attr_set_i64(f, NULL, "index", (int64_t)index));
    QA_TRY(qa_h5_attr_set_i64(f, NULL, "kind", (int64_t)k->kind));
    QA_TRY(qa_h5_attr_set_i64(f, NULL, "s0", (int64_t)k->s0));
    QA_TRY(qa_h5_attr_set_i64(f, NULL, "ns", (int64_t)k->ns));
    QA_TRY(qa_h5_attr_set_i64(f, NULL, "p0", (int64_t)k->p0));
    QA_TRY(qa_h5_attr_set_i64(f, NULL, "np", (int64_t)k->np));
    QA_TRY(qa_h5_attr_set_i64(f, NULL, "window", (int64_t)k->w));
    QA_TRY(qa_h5_attr_set_str(f, NULL, "engine", r->engine));
    QA_TRY(qa_h5_attr_set_f64(f, NULL, "seconds", r->seconds));
    QA_TRY(qa_h5_attr_set_f64(f, NULL, "evaluations", r->evals));
    size_t dv[2] = {r->rows, r->cols};
    QA_TRY(qa_h5_put(f, "values", H5T_IEEE_F64LE, 2, dv, r->values));
    if (r->series) {
        size_t rows = k->kind == QA_SWEEP_CHUNK_SET ? k->np : r->rows;
        size_t ds[2] = {rows, r->series_len};
        QA_TRY(qa_h5_put(f, "series", H5T_IEEE_F64LE, 2, ds, r->series));
        if (r->pos) QA_TRY(qa_h5_put(f, "pos", H5T_IEEE_F64LE, 2, ds, r->pos));
    }
cleanup:
    /* a chunk is a checkpoint: on disk (fsync) before its name says it is done */
    if (st == QA_OK) return qa_h5_file_commit(&file, 1);
    qa_h5_file_abort(&file);
    return st;
}

static qa_status open_chunk(const char *path, const qa_sweep_cfg *c, const char *input_hash, hid_t *out) {
    qa_h5_quiet();
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return QA_H5_FAIL(-1, path, "cannot open chunk file");
    char fmt[64] = "", ch[80] = "", ih[80] = "";
    qa_status st = QA_OK;
    if (qa_h5_attr_get_str(f, NULL, "format", fmt, sizeof fmt) != QA_OK || strcmp(fmt, QA_SWEEP_CHUNK_FORMAT) != 0)
        st = QA_FAIL(QA_ERR_FORMAT, "%s: not a sweep chunk file", path);
    else if (qa_h5_attr_get_str(f, NULL, "config_hash", ch, sizeof ch) != QA_OK || strcmp(ch, c->config_hash) != 0)
        st = QA_FAIL(QA_ERR_INTEGRITY, "%s: chunk of another configuration (config hash %.12s, this config %.12s)", path,
                     ch, c->config_hash);
    else if (qa_h5_attr_get_str(f, NULL, "input_hash", ih, sizeof ih) != QA_OK || strcmp(ih, input_hash) != 0)
        st = QA_FAIL(QA_ERR_INTEGRITY, "%s: chunk computed from other data (input hash %.12s, now %.12s)", path, ih,
                     input_hash);
    if (st != QA_OK) {
        H5Fclose(f);
        return st;
    }
    *out = f;
    return QA_OK;
}

int qa_sweep_chunk_done(const char *path, const qa_sweep_cfg *c, const char *input_hash) {
    if (!qa_fs_exists(path)) return 0;
    hid_t f = H5I_INVALID_HID;
    if (open_chunk(path, c, input_hash, &f) != QA_OK) return 0;
    H5Fclose(f);
    return 1;
}

static qa_status read_2d(hid_t f, const char *path, const char *name, size_t *rows, size_t *cols, double **out) {
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    if (ds < 0) return QA_H5_FAIL(-1, path, "chunk file lacks a dataset");
    hid_t sp = H5Dget_space(ds);
    hsize_t d[2] = {0, 0};
    qa_status st = QA_OK;
    if (H5Sget_simple_extent_ndims(sp) != 2) {
        st = QA_FAIL(QA_ERR_FORMAT, "%s: dataset '%s' is not 2-D", path, name);
    } else {
        H5Sget_simple_extent_dims(sp, d, NULL);
        *rows = (size_t)d[0];
        *cols = (size_t)d[1];
        *out = malloc(QA_SWEEP_NZ(d[0] * d[1]) * sizeof(double));
        if (!*out) st = QA_FAIL(QA_ERR_NOMEM, "chunk data");
        else if (d[0] * d[1] > 0 && H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, *out) < 0)
            st = QA_H5_FAIL(-1, path, "cannot read chunk data");
    }
    H5Sclose(sp);
    H5Dclose(ds);
    return st;
}

qa_status qa_sweep_chunk_read(const char *path, const qa_sweep_cfg *c, const char *input_hash, qa_sweep_result *r) {
    memset(r, 0, sizeof *r);
    hid_t f = H5I_INVALID_HID;
    qa_status st = open_chunk(path, c, input_hash, &f);
    if (st != QA_OK) return st;
    int64_t v[7];
    const char *keys[7] = {"kind", "s0", "ns", "p0", "np", "window", "index"};
    for (int i = 0; i < 7; i++) QA_TRY(qa_h5_attr_get_i64(f, NULL, keys[i], &v[i]));
    r->chunk.kind = (qa_sweep_kind)v[0];
    r->chunk.s0 = (size_t)v[1];
    r->chunk.ns = (size_t)v[2];
    r->chunk.p0 = (size_t)v[3];
    r->chunk.np = (size_t)v[4];
    r->chunk.w = (size_t)v[5];
    QA_TRY(qa_h5_attr_get_str(f, NULL, "engine", r->engine, sizeof r->engine));
    QA_TRY(read_2d(f, path, "values", &r->rows, &r->cols, &r->values));
    if (H5Lexists(f, "series", H5P_DEFAULT) > 0) {
        size_t rows;
        QA_TRY(read_2d(f, path, "series", &rows, &r->series_len, &r->series));
        if (H5Lexists(f, "pos", H5P_DEFAULT) > 0) {
            size_t pr, pc;
            QA_TRY(read_2d(f, path, "pos", &pr, &pc, &r->pos));
        }
    }
cleanup:
    H5Fclose(f);
    if (st != QA_OK) qa_sweep_result_free(r);
    return st;
}
