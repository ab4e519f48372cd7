/* Learning samples from the feature store: rows, inputs, targets, splits, purge,
 * embargo, normalisation and shuffled batches (contracts in pipeline/train/train_data.h). */
#include "pipeline/train/train_data.h"

#include <assert.h>  /* static_assert */
#include <math.h>    /* isfinite, log, log1p, sqrt */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* malloc, calloc, free, qsort */
#include <string.h>  /* strcmp, memcpy */

#include "common/hash.h"   /* the data digest */
#include "common/mem.h"
#include "common/philox.h" /* qa_rng_u32: the shuffle */
#include "registry/inputs.h" /* bar-derived inputs, shared with the live service */

static const char *const split_names[] = {"train", "val", "test"};
static_assert(sizeof split_names / sizeof split_names[0] == QA_TRAIN_SPLIT_COUNT, "split names");

const char *qa_train_split_name(qa_train_split s) { return (unsigned)s < QA_TRAIN_SPLIT_COUNT ? split_names[s] : "?"; }

qa_status qa_train_split_parse(const char *name, qa_train_split *out) {
    for (int i = 0; i < QA_TRAIN_SPLIT_COUNT; i++)
        if (name && strcmp(name, split_names[i]) == 0) {
            *out = (qa_train_split)i;
            return QA_OK;
        }
    return QA_FAIL(QA_ERR_INVALID_ARG, "unknown split '%s' (expected train, val or test)", name ? name : "");
}

qa_status qa_train_data_resolve_inputs(qa_store_t *st, qa_model_spec *spec) {
    for (int i = 0; i < spec->ninputs; i++) {
        qa_model_input *in = &spec->inputs[i];
        in->input_hash[0] = in->params[0] = '\0';
        if (in->bar >= 0) continue;
        char path[QA_MODEL_NAME_LEN + 16];
        snprintf(path, sizeof path, "features/%s", in->name);
        if (!qa_store_exists(st, path))
            return QA_FAIL(QA_ERR_NOT_FOUND, "feature '%s' is not in /features of %s (run qa features)", in->name,
                           qa_store_path(st));
        qa_status s = qa_store_attr_get_str(st, path, "input_hash", in->input_hash, sizeof in->input_hash);
        if (s == QA_ERR_NOT_FOUND) in->input_hash[0] = '\0';
        else if (s != QA_OK) return s;
        s = qa_store_attr_get_str(st, path, "params", in->params, sizeof in->params);
        if (s == QA_ERR_NOT_FOUND) in->params[0] = '\0';
        else if (s != QA_OK) return s;
    }
    return QA_OK;
}

void qa_train_data_free(qa_train_data *d) {
    if (!d) return;
    QA_FREE_ALL(d->symbols, d->time, d->sym_begin, d->row_sym, d->row_t, d->close, d->x, d->ret, d->y, d->cls, d->split,
                d->valid);
    for (int k = 0; k < QA_TRAIN_SPLIT_COUNT; k++) {
        free(d->samples[k]);
        free(d->pred_rows[k]);
    }
    memset(d, 0, sizeof *d);
}

/* Reads a whole S x T panel. */
static qa_status read_panel(qa_store_t *st, const char *path, size_t S, size_t T, double **out) {
    qa_status c = qa_store_check_load(st, path, S, T, 1, 0); /* before allocating it */
    if (c != QA_OK) return c;
    double *p = malloc(S * T * sizeof *p + 1);
    if (!p) return QA_FAIL(QA_ERR_NOMEM, "panel %s: %zu x %zu doubles", path, S, T);
    qa_status s = qa_store_read(st, path, 0, S, 0, T, p);
    if (s != QA_OK) {
        free(p);
        return s;
    }
    *out = p;
    return QA_OK;
}

/* Raw values of one input for every row into col[nrows] (non-finite -> NaN). */
static qa_status input_column(qa_store_t *st, const qa_train_data *d, const qa_model_input *in, double *col) {
    const size_t S = d->nsym, T = d->ntime, R = d->nrows;
    qa_status s = QA_OK;
    double *a = NULL, *b = NULL;
    if (in->bar < 0) {
        char path[QA_MODEL_NAME_LEN + 16];
        snprintf(path, sizeof path, "features/%s", in->name);
        if ((s = read_panel(st, path, S, T, &a)) != QA_OK) return s;
        for (size_t r = 0; r < R; r++) col[r] = a[(size_t)d->row_sym[r] * T + (size_t)d->row_t[r]];
    } else {
        /* The bar fields this input reads (close comes with the rows), then the one
         * definition batch and live share. */
        static const char *const extra[QA_MODEL_BAR_COUNT][2] = {
            [QA_MODEL_BAR_RANGE] = {"bars/high", "bars/low"}, [QA_MODEL_BAR_BODY] = {"bars/open", NULL},
            [QA_MODEL_BAR_LOGVOL] = {"bars/volume", NULL}};
        if (in->bar >= QA_MODEL_BAR_COUNT)
            return QA_FAIL(QA_ERR_INVALID_ARG, "input '%s': unknown bar input %d", in->name, in->bar);
        const char *const *need = extra[in->bar];
        if (need[0] && (s = read_panel(st, need[0], S, T, &a)) != QA_OK) goto cleanup;
        if (need[1] && (s = read_panel(st, need[1], S, T, &b)) != QA_OK) goto cleanup;
        /* The table names a panel for every bar kind the switch below reads one for. */
        const int reads_a = in->bar == QA_MODEL_BAR_RANGE || in->bar == QA_MODEL_BAR_BODY || in->bar == QA_MODEL_BAR_LOGVOL;
        if ((reads_a && !a) || (in->bar == QA_MODEL_BAR_RANGE && !b)) {
            s = QA_FAIL(QA_ERR_STATE, "input '%s': bar input %d lacks its panel", in->name, in->bar);
            goto cleanup;
        }
        for (size_t r = 0; r < R; r++) {
            size_t i = (size_t)d->row_sym[r] * T + (size_t)d->row_t[r];
            double bar[5] = {NAN, NAN, NAN, d->close[r], NAN};
            switch ((qa_model_bar_input)in->bar) {
            case QA_MODEL_BAR_RANGE: bar[1] = a[i], bar[2] = b[i]; break;
            case QA_MODEL_BAR_BODY: bar[0] = a[i]; break;
            case QA_MODEL_BAR_LOGVOL: bar[4] = a[i]; break;
            default: break;
            }
            int first = r == d->sym_begin[d->row_sym[r]];
            col[r] = qa_inputs_bar_value((qa_model_bar_input)in->bar, bar, first ? NAN : d->close[r - 1]);
        }
    }
    for (size_t r = 0; r < R; r++)
        if (!isfinite(col[r])) col[r] = NAN;
cleanup:
    free(a);
    free(b);
    return s;
}

/* Mean and sample std (ddof 1) of the finite col[r] over rows of the training period,
 * two passes in double; std 1 when fewer than two values or no spread. */
static void fit_column(const qa_train_data *d, const double *col, double *mean, double *std) {
    double sum = 0.0;
    size_t n = 0;
    for (size_t r = 0; r < d->nrows; r++)
        if (d->split[r] == QA_TRAIN_SPLIT_TRAIN && !isnan(col[r])) sum += col[r], n++;
    double m = n ? sum / (double)n : 0.0, ss = 0.0;
    for (size_t r = 0; r < d->nrows; r++)
        if (d->split[r] == QA_TRAIN_SPLIT_TRAIN && !isnan(col[r])) ss += (col[r] - m) * (col[r] - m);
    double sd = n >= 2 ? sqrt(ss / (double)(n - 1)) : 0.0;
    *mean = m;
    *std = (sd > 0.0 && isfinite(sd)) ? sd : 1.0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int64_t split_lo(const qa_model_spec *s, int k) {
    return k == 0 ? s->start : k == 1 ? s->train_end : s->val_end;
}
static int64_t split_hi(const qa_model_spec *s, int k) {
    return k == 0 ? s->train_end : k == 1 ? s->val_end : s->end;
}

/* First grid index with time >= t (ntime when none). */
static size_t grid_lower_bound(const int64_t *time, size_t n, int64_t t) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (time[mid] < t) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* The store's symbols and time grid. */
static qa_status load_index(qa_store_t *store, qa_train_data *d) {
    const size_t S = qa_store_nsym(store), T = qa_store_ntime(store);
    d->nsym = S;
    d->ntime = T;
    d->bars_per_year = qa_store_get_meta(store)->bars_per_year;
    d->symbols = calloc(S ? S : 1, sizeof *d->symbols);
    d->time = malloc((T ? T : 1) * sizeof *d->time);
    d->sym_begin = calloc(S + 1, sizeof *d->sym_begin);
    if (!d->symbols || !d->time || !d->sym_begin) return QA_FAIL(QA_ERR_NOMEM, "training data index");
    for (size_t i = 0; i < S; i++) snprintf(d->symbols[i], sizeof d->symbols[i], "%s", qa_store_symbol(store, i));
    if (T) memcpy(d->time, qa_store_time(store), T * sizeof *d->time);
    return QA_OK;
}

/* Observation rows: the bars with a positive close, symbol-major, and the per-row arrays. */
static qa_status load_rows(qa_store_t *store, qa_train_data *d) {
    const size_t S = d->nsym, T = d->ntime, F = (size_t)d->spec.ninputs;
    double *cpanel = NULL;
    QA_TRY_RET(read_panel(store, "bars/close", S, T, &cpanel));
    size_t R = 0;
    for (size_t i = 0; i < S; i++) {
        d->sym_begin[i] = R;
        for (size_t t = 0; t < T; t++) R += isfinite(cpanel[i * T + t]) && cpanel[i * T + t] > 0.0;
    }
    d->sym_begin[S] = R;
    qa_status st = QA_OK;
    if (R > 0xffffffffu) QA_TRY_FAIL(QA_ERR_LIMIT, "%zu observation rows exceed 2^32", R);
    if (R == 0) QA_TRY_FAIL(QA_ERR_FORMAT, "%s has no bars with a close", qa_store_path(store));
    d->nrows = R;
    /* Zeroed; the second pass below fills all R rows the first one counted. */
    d->row_sym = calloc(R, sizeof *d->row_sym);
    d->row_t = calloc(R, sizeof *d->row_t);
    d->close = calloc(R, sizeof *d->close);
    d->x = malloc(R * F * sizeof *d->x);
    d->ret = malloc(R * sizeof *d->ret);
    d->y = malloc(R * sizeof *d->y);
    d->cls = malloc(R * sizeof *d->cls);
    d->split = malloc(R * sizeof *d->split);
    d->valid = calloc(R, sizeof *d->valid);
    if (!d->row_sym || !d->row_t || !d->close || !d->x || !d->ret || !d->y || !d->cls || !d->split || !d->valid)
        QA_TRY_FAIL(QA_ERR_NOMEM, "training data: %zu rows x %zu inputs", R, F);
    R = 0;
    for (size_t i = 0; i < S; i++)
        for (size_t t = 0; t < T; t++) {
            double c = cpanel[i * T + t];
            if (!(isfinite(c) && c > 0.0)) continue;
            d->row_sym[R] = (int32_t)i, d->row_t[R] = (int32_t)t, d->close[R] = c;
            R++;
        }
cleanup:
    free(cpanel);
    return st;
}

/* Split of each row's timestamp; the time range of the rows in [start, end). */
static void assign_splits(qa_train_data *d) {
    const qa_model_spec *spec = &d->spec;
    d->first_time = INT64_MAX, d->last_time = INT64_MIN;
    for (size_t r = 0; r < d->nrows; r++) {
        int64_t tm = d->time[d->row_t[r]];
        int k = -1;
        for (int j = 0; j < QA_TRAIN_SPLIT_COUNT; j++)
            if (tm >= split_lo(spec, j) && tm < split_hi(spec, j)) k = j;
        d->split[r] = (int8_t)k;
        if (k >= 0) {
            d->first_time = tm < d->first_time ? tm : d->first_time;
            d->last_time = tm > d->last_time ? tm : d->last_time;
        }
    }
}

/* Inputs: raw column, normalisation fitted on the training period (or given), clipped,
 * stored as float; a window is valid when its L rows belong to the symbol and are all
 * finite. */
static qa_status load_inputs(qa_store_t *store, const qa_model_norm *norm, qa_train_data *d, qa_sha256_t *h) {
    const qa_model_spec *spec = &d->spec;
    const size_t R = d->nrows, F = (size_t)spec->ninputs;
    qa_status st = QA_OK;
    double *col = calloc(R, sizeof *col); /* zeroed; input_column fills all R rows */
    uint8_t *rowok = malloc(R);
    if (!col || !rowok) QA_TRY_FAIL(QA_ERR_NOMEM, "training data: %zu rows", R);
    if (norm) d->norm = *norm;
    memset(rowok, 1, R);
    for (size_t f = 0; f < F; f++) {
        QA_TRY(input_column(store, d, &spec->inputs[f], col));
        QA_TRY(qa_sha256_update(h, col, R * sizeof *col));
        if (!norm) fit_column(d, col, &d->norm.mean[f], &d->norm.std[f]);
        double m = d->norm.mean[f], sd = d->norm.std[f], c = spec->clip;
        for (size_t r = 0; r < R; r++) {
            double z = (col[r] - m) / sd;
            if (c > 0.0) z = z > c ? c : z < -c ? -c : z; /* NaN passes through */
            d->x[r * F + f] = (float)z;
            if (isnan(z)) rowok[r] = 0;
        }
    }
    for (size_t i = 0; i < d->nsym; i++) {
        size_t run = 0;
        for (size_t r = d->sym_begin[i]; r < d->sym_begin[i + 1]; r++) {
            run = rowok[r] ? run + 1 : 0;
            d->valid[r] = run >= (size_t)spec->window;
        }
    }
cleanup:
    free(col);
    free(rowok);
    return st;
}

/* Forward returns over h rows of the same symbol (lab[r]: grid index of the label's end,
 * -1 none), demeaned per timestamp when asked. */
static qa_status forward_returns(qa_train_data *d, int32_t *lab) {
    const size_t R = d->nrows, T = d->ntime, h = (size_t)d->spec.horizon;
    for (size_t r = 0; r < R; r++) {
        size_t end = d->sym_begin[d->row_sym[r] + 1];
        if (r + h < end) {
            d->ret[r] = d->close[r + h] / d->close[r] - 1.0;
            lab[r] = d->row_t[r + h];
        } else {
            d->ret[r] = NAN;
            lab[r] = -1;
        }
    }
    if (!d->spec.demean) return QA_OK;
    /* Cross-sectional demeaning: subtract each timestamp's mean forward return. */
    double *sum = calloc(T ? T : 1, sizeof *sum);
    size_t *cnt = calloc(T ? T : 1, sizeof *cnt);
    if (sum && cnt) {
        for (size_t r = 0; r < R; r++)
            if (!isnan(d->ret[r])) sum[d->row_t[r]] += d->ret[r], cnt[d->row_t[r]]++;
        for (size_t r = 0; r < R; r++)
            if (!isnan(d->ret[r])) d->ret[r] -= sum[d->row_t[r]] / (double)cnt[d->row_t[r]];
    }
    free(sum);
    free(cnt);
    return sum && cnt ? QA_OK : QA_FAIL(QA_ERR_NOMEM, "demeaning");
}

/* Samples and prediction rows per split, with the reason each excluded row was left out
 * (embargo, short history, NaN input or label, label crossing the split's end). */
static qa_status select_samples(qa_train_data *d, const int32_t *lab) {
    const qa_model_spec *spec = &d->spec;
    const size_t R = d->nrows, T = d->ntime;
    size_t gidx[QA_TRAIN_SPLIT_COUNT] = {0, grid_lower_bound(d->time, T, spec->train_end),
                                         grid_lower_bound(d->time, T, spec->val_end)};
    for (int k = 0; k < QA_TRAIN_SPLIT_COUNT; k++) {
        d->samples[k] = malloc((R ? R : 1) * sizeof(uint32_t));
        d->pred_rows[k] = malloc((R ? R : 1) * sizeof(uint32_t));
        if (!d->samples[k] || !d->pred_rows[k]) return QA_FAIL(QA_ERR_NOMEM, "sample lists");
    }
    for (size_t r = 0; r < R; r++) {
        int k = (int)d->split[r]; /* a split index or -1, not a character */
        if (k < 0) continue;
        qa_train_data_counts *c = &d->counts[k];
        c->rows++;
        if (k > 0 && (size_t)d->row_t[r] < gidx[k] + (size_t)spec->embargo) {
            c->embargoed++;
            continue;
        }
        if (r - d->sym_begin[d->row_sym[r]] + 1 < (size_t)spec->window) {
            c->short_history++;
            continue;
        }
        if (!d->valid[r]) {
            c->nan_input++;
            continue;
        }
        d->pred_rows[k][d->npred[k]++] = (uint32_t)r;
        if (isnan(d->ret[r]) || !isfinite(d->ret[r])) {
            c->nan_label++;
            continue;
        }
        if (d->time[lab[r]] >= split_hi(spec, k)) {
            c->purged++;
            continue;
        }
        d->samples[k][d->nsamples[k]++] = (uint32_t)r;
        c->samples++;
    }
    return QA_OK;
}

/* Target standardisation or quantile edges from the training samples only. */
static qa_status fit_targets(qa_train_data *d) {
    const qa_model_spec *spec = &d->spec;
    const size_t ntr = d->nsamples[QA_TRAIN_SPLIT_TRAIN];
    const uint32_t *tr_rows = d->samples[QA_TRAIN_SPLIT_TRAIN];
    d->norm.target_mean = 0.0, d->norm.target_std = 1.0, d->norm.nedges = 0;
    if (spec->target == QA_MODEL_TARGET_RETURN && spec->standardize && ntr >= 2) {
        double sum = 0.0, ss = 0.0;
        for (size_t i = 0; i < ntr; i++) sum += d->ret[tr_rows[i]];
        double m = sum / (double)ntr;
        for (size_t i = 0; i < ntr; i++) {
            double e = d->ret[tr_rows[i]] - m;
            ss += e * e;
        }
        double sd = sqrt(ss / (double)(ntr - 1));
        d->norm.target_mean = m;
        d->norm.target_std = sd > 0.0 ? sd : 1.0;
    }
    if (spec->target == QA_MODEL_TARGET_QUANTILE && ntr > 0) {
        double *tr = malloc(ntr * sizeof *tr);
        if (!tr) return QA_FAIL(QA_ERR_NOMEM, "quantile edges");
        for (size_t i = 0; i < ntr; i++) tr[i] = d->ret[tr_rows[i]];
        qsort(tr, ntr, sizeof *tr, cmp_double);
        d->norm.nedges = spec->classes - 1;
        for (int k = 1; k < spec->classes; k++) d->norm.edges[k - 1] = tr[(size_t)k * ntr / (size_t)spec->classes];
        free(tr);
    }
    return QA_OK;
}

/* Regression targets and class labels of every row. */
static void label_rows(qa_train_data *d) {
    const qa_model_spec *spec = &d->spec;
    for (size_t r = 0; r < d->nrows; r++) {
        double v = d->ret[r];
        d->y[r] = (float)((v - d->norm.target_mean) / d->norm.target_std);
        d->cls[r] = -1; /* no class: a NaN target, or a target kind without classes */
        if (isnan(v)) continue;
        if (spec->target == QA_MODEL_TARGET_SIGN) d->cls[r] = v > 0.0;
        else if (spec->target == QA_MODEL_TARGET_QUANTILE) {
            int c = 0;
            for (int k = 0; k < d->norm.nedges; k++) c += v >= d->norm.edges[k];
            d->cls[r] = c;
        }
    }
}

static qa_status load_steps(qa_store_t *store, const qa_model_norm *norm, qa_train_data *d) {
    const qa_model_spec *spec = &d->spec;
    QA_TRY_RET(load_index(store, d));
    QA_TRY_RET(load_rows(store, d));
    assign_splits(d);
    /* The identity of the data read (lineage): names, grid, rows and raw inputs. */
    qa_sha256_t *h = NULL;
    qa_status hs = qa_sha256_create(&h);
    if (hs == QA_OK) hs = qa_sha256_update(h, d->symbols, d->nsym * sizeof *d->symbols);
    if (hs == QA_OK) hs = qa_sha256_update(h, d->time, d->ntime * sizeof *d->time);
    if (hs == QA_OK) hs = qa_sha256_update(h, d->row_sym, d->nrows * sizeof *d->row_sym);
    if (hs == QA_OK) hs = qa_sha256_update(h, d->row_t, d->nrows * sizeof *d->row_t);
    if (hs == QA_OK) hs = qa_sha256_update(h, d->close, d->nrows * sizeof *d->close);
    if (hs == QA_OK) hs = load_inputs(store, norm, d, h);
    if (hs == QA_OK) hs = qa_sha256_final_hex(h, d->data_sha256);
    qa_sha256_free(h);
    QA_TRY_RET(hs);
    int32_t *lab = malloc(d->nrows * sizeof *lab);
    if (!lab) return QA_FAIL(QA_ERR_NOMEM, "labels");
    qa_status st = forward_returns(d, lab);
    if (st == QA_OK) st = select_samples(d, lab);
    free(lab);
    QA_TRY_RET(st);
    if (!norm) QA_TRY_RET(fit_targets(d));
    else if (spec->target == QA_MODEL_TARGET_QUANTILE && norm->nedges != spec->classes - 1)
        return QA_FAIL(QA_ERR_FORMAT, "quantile target with %d classes needs %d edges, the normalisation has %d",
                       spec->classes, spec->classes - 1, norm->nedges);
    label_rows(d);
    return QA_OK;
}

qa_status qa_train_data_load(qa_store_t *store, const qa_model_spec *spec, const qa_model_norm *norm,
                             qa_train_data *out) {
    memset(out, 0, sizeof *out);
    QA_TRY_RET(qa_model_spec_check(spec));
    qa_train_data d;
    memset(&d, 0, sizeof d);
    d.spec = *spec;
    qa_status st = load_steps(store, norm, &d);
    if (st == QA_OK) *out = d;
    else qa_train_data_free(&d);
    return st;
}

void qa_train_data_gather(const qa_train_data *d, const uint32_t *rows, size_t n, float *x, float *y,
                          int32_t *cls) {
    const size_t F = (size_t)d->spec.ninputs, L = (size_t)d->spec.window, w = L * F;
    for (size_t i = 0; i < n; i++) {
        size_t r = rows[i];
        /* the window's rows are consecutive rows of one symbol: one contiguous block */
        memcpy(x + i * w, d->x + (r + 1 - L) * F, w * sizeof *x);
        if (y) y[i] = d->y[r];
        if (cls) cls[i] = d->cls[r];
    }
}

void qa_train_data_shuffle(uint32_t *perm, size_t n, uint64_t seed, uint64_t epoch) {
    for (size_t i = 0; i < n; i++) perm[i] = (uint32_t)i;
    const uint64_t stream = ((uint64_t)1 << 32) + epoch;
    for (size_t i = n; i-- > 1;) {
        uint64_t u = qa_rng_u32(seed, stream, i);
        size_t j = (size_t)((u * (uint64_t)(i + 1)) >> 32);
        uint32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

qa_status qa_train_check_store(const qa_model *m, qa_store_t *st, int *lineage_changed) {
    qa_model_spec cur = m->data;
    *lineage_changed = 0;
    for (int f = 0; f < cur.ninputs; f++) { /* the signature's field names the input */
        char path[QA_MODEL_NAME_LEN + 16];
        snprintf(path, sizeof path, "features/%s", cur.inputs[f].name);
        if (cur.inputs[f].bar < 0 && !qa_store_exists(st, path))
            return QA_FAIL(QA_ERR_NOT_FOUND, "signature field inputs[%d] '%s' is not in /features of %s (run qa features)",
                           f, cur.inputs[f].name, qa_store_path(st));
    }
    qa_status s = qa_train_data_resolve_inputs(st, &cur);
    if (s != QA_OK) return s;
    for (int f = 0; f < cur.ninputs; f++) {
        if (cur.inputs[f].bar >= 0) continue;
        if (strcmp(cur.inputs[f].params, m->data.inputs[f].params) != 0)
            return QA_FAIL(QA_ERR_FORMAT,
                           "signature field inputs[%d].params: feature '%s' in %s is defined as %s, the model was "
                           "trained on %s",
                           f, cur.inputs[f].name, qa_store_path(st), cur.inputs[f].params, m->data.inputs[f].params);
        if (strcmp(cur.inputs[f].input_hash, m->data.inputs[f].input_hash) != 0) (*lineage_changed)++;
    }
    return QA_OK;
}
