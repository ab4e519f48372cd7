/* Training samples: rows and forward returns, splits with purge and embargo (against a
 * brute-force re-derivation from the raw panel), normalisation fitted on the training
 * period only, NaN handling, targets for classification, batches and the shuffle. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "pipeline/train/train_data.h"
#include "train_test.h"

enum { S = 6, T = 520 };
static tt_fixture fx;

static qa_model_spec base_spec(int window, int horizon, int embargo) {
    qa_model_spec s;
    memset(&s, 0, sizeof s);
    snprintf(s.inputs[0].name, sizeof s.inputs[0].name, "f_noise");
    s.inputs[0].bar = -1;
    snprintf(s.inputs[1].name, sizeof s.inputs[1].name, "f_mom");
    s.inputs[1].bar = -1;
    snprintf(s.inputs[2].name, sizeof s.inputs[2].name, "ret");
    s.inputs[2].bar = QA_MODEL_BAR_RET;
    s.ninputs = 3;
    s.window = window;
    s.horizon = horizon;
    s.target = QA_MODEL_TARGET_RETURN;
    s.classes = 1;
    s.standardize = 1;
    s.start = TT_T0 + 10 * TT_DAY;
    s.train_end = TT_T0 + 250 * TT_DAY;
    s.val_end = TT_T0 + 380 * TT_DAY;
    s.end = INT64_MAX;
    s.embargo = embargo;
    s.clip = 0.0;
    return s;
}

static qa_status load(const char *path, const qa_model_spec *spec0, const qa_model_norm *norm, qa_train_data *d) {
    qa_store_t *st = NULL;
    qa_model_spec spec = *spec0;
    qa_status s = qa_store_open(path, NULL, QA_STORE_READ, &st);
    if (s == QA_OK) s = qa_train_data_resolve_inputs(st, &spec);
    if (s == QA_OK) s = qa_train_data_load(st, &spec, norm, d);
    qa_store_close(st);
    return s;
}

static double *read_panel(const char *path, const char *name) {
    qa_store_t *st = NULL;
    double *p = malloc(S * T * sizeof *p);
    if (qa_store_open(path, NULL, QA_STORE_READ, &st) != QA_OK || qa_store_read(st, name, 0, S, 0, T, p) != QA_OK) {
        printf("read %s: %s\n", name, qa_err_msg());
        free(p);
        p = NULL;
    }
    qa_store_close(st);
    return p;
}

/* Rows are the bars with a close; the forward return is over h observations. */
static void test_rows_and_targets(void) {
    qa_model_spec spec = base_spec(1, 3, 4);
    qa_train_data d;
    QA_CHECK_OK(load(fx.store, &spec, NULL, &d));
    double *c = read_panel(fx.store, "bars/close");
    if (!c) return;
    size_t r = 0, bad = 0;
    for (size_t s = 0; s < S; s++) {
        size_t obs[T], n = 0; /* obs[0..n) is filled below; only that prefix is read */
        for (size_t t = 0; t < T; t++)
            if (!isnan(c[s * T + t])) obs[n++] = t;
        QA_CHECK_INT(d.sym_begin[s + 1] - d.sym_begin[s], n);
        for (size_t j = 0; j < n; j++, r++) {
            /* cppcheck-suppress uninitvar ; j < n: obs[j] was written above */
            bad += d.row_sym[r] != (int32_t)s || d.row_t[r] != (int32_t)obs[j] || d.close[r] != c[s * T + obs[j]];
            double want = j + 3 < n ? c[s * T + obs[j + 3]] / c[s * T + obs[j]] - 1.0 : NAN;
            bad += !(want == d.ret[r] || (isnan(want) && isnan(d.ret[r])));
        }
    }
    QA_CHECK_INT(r, d.nrows);
    QA_CHECK_INT(bad, 0);
    free(c);
    qa_train_data_free(&d);
}

/* Brute force: which rows must be samples of split k, from the definitions alone. */
static void expect_samples(const double *c, const double *f1, const double *f2, const qa_model_spec *sp, int k,
                           uint32_t *out, size_t *nout) {
    int64_t lo[3] = {sp->start, sp->train_end, sp->val_end}, hi[3] = {sp->train_end, sp->val_end, sp->end};
    size_t first_grid = 0; /* first grid index at or after the split's start */
    while (first_grid < T && TT_T0 + (int64_t)first_grid * TT_DAY < lo[k]) first_grid++;
    size_t r = 0;
    *nout = 0;
    for (size_t s = 0; s < S; s++) {
        size_t obs[T], n = 0; /* obs[0..n) is filled below; only that prefix is read */
        for (size_t t = 0; t < T; t++)
            if (!isnan(c[s * T + t])) obs[n++] = t;
        for (size_t j = 0; j < n; j++, r++) {
            /* cppcheck-suppress uninitvar ; j < n: obs[j] was written above */
            int64_t tm = TT_T0 + (int64_t)obs[j] * TT_DAY;
            if (tm < lo[k] || tm >= hi[k]) continue;
            if (k > 0 && obs[j] < first_grid + (size_t)sp->embargo) continue;
            if (j + 1 < (size_t)sp->window) continue;
            int ok = 1;
            for (size_t w = j + 1 - (size_t)sp->window; w <= j; w++) {
                size_t t = obs[w];
                double ret = w > 0 ? c[s * T + t] / c[s * T + obs[w - 1]] - 1.0 : NAN;
                ok &= !isnan(f1[s * T + t]) && !isnan(f2[s * T + t]) && !isnan(ret);
            }
            if (!ok || j + (size_t)sp->horizon >= n) continue;
            int64_t label_end = TT_T0 + (int64_t)obs[j + (size_t)sp->horizon] * TT_DAY;
            if (label_end >= hi[k]) continue; /* purge */
            out[(*nout)++] = (uint32_t)r;
        }
    }
}

static void test_splits_purge_embargo(void) {
    double *c = read_panel(fx.store, "bars/close"), *f1 = read_panel(fx.store, "features/f_noise"),
           *f2 = read_panel(fx.store, "features/f_mom");
    uint32_t *want = malloc(S * T * sizeof *want);
    const int cases[][3] = {{1, 1, 0}, {1, 5, 4}, {4, 10, 7}, {2, 20, 0}, {8, 3, 25}};
    for (size_t ci = 0; c && f1 && f2 && ci < sizeof cases / sizeof cases[0]; ci++) {
        qa_model_spec spec = base_spec(cases[ci][0], cases[ci][1], cases[ci][2]);
        qa_train_data d;
        QA_CHECK_OK(load(fx.store, &spec, NULL, &d));
        for (int k = 0; k < QA_TRAIN_SPLIT_COUNT; k++) {
            size_t n = 0;
            expect_samples(c, f1, f2, &spec, k, want, &n);
            QA_CHECK_MSG(n == d.nsamples[k] && memcmp(want, d.samples[k], n * sizeof *want) == 0,
                         "case %zu split %d: %zu samples, brute force %zu", ci, k, d.nsamples[k], n);
            const qa_train_data_counts *ct = &d.counts[k];
            QA_CHECK_INT(ct->rows, ct->samples + ct->embargoed + ct->short_history + ct->nan_input + ct->nan_label +
                                       ct->purged);
            QA_CHECK(ct->samples > 0);
        }
        /* no label window reaches into the next split; no sample sits in an embargo */
        int64_t hi[3] = {spec.train_end, spec.val_end, INT64_MAX};
        size_t leaks = 0;
        for (int k = 0; k < QA_TRAIN_SPLIT_COUNT; k++)
            for (size_t i = 0; i < d.nsamples[k]; i++) {
                uint32_t r = d.samples[k][i];
                int64_t t = d.time[d.row_t[r]], end = d.time[d.row_t[r + (uint32_t)spec.horizon]];
                leaks += end >= hi[k];
                if (k > 0) leaks += t < (k == 1 ? spec.train_end : spec.val_end) + (int64_t)spec.embargo * TT_DAY;
            }
        QA_CHECK_INT(leaks, 0);
        /* with an embargo >= the horizon, the purge and embargo together separate the
         * splits' label windows by at least E - h grid bars */
        qa_train_data_free(&d);
    }
    free(want);
    free(c), free(f1), free(f2);
}

/* Changing values outside the training period leaves the normalisation unchanged; it
 * equals a two-pass mean / sample std over the training period. */
static void test_norm_train_only(void) {
    char other[320];
    snprintf(other, sizeof other, "%s/other.h5", fx.dir);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", fx.store, other);
    QA_CHECK(system(cmd) == 0);
    qa_model_spec spec = base_spec(2, 5, 3);
    qa_store_t *st = NULL;
    double *f = malloc(S * T * sizeof *f);
    QA_CHECK_OK(qa_store_open(other, NULL, QA_STORE_RDWR, &st));
    QA_CHECK_OK(qa_store_read(st, "features/f_noise", 0, S, 0, T, f));
    for (size_t s = 0; s < S; s++)
        for (size_t t = 0; t < T; t++)
            if (TT_T0 + (int64_t)t * TT_DAY >= spec.train_end || TT_T0 + (int64_t)t * TT_DAY < spec.start)
                f[s * T + t] = f[s * T + t] * 100.0 + 50.0;
    QA_CHECK_OK(qa_store_write(st, "features/f_noise", 0, S, 0, T, f));
    qa_store_close(st);
    qa_train_data a, b;
    QA_CHECK_OK(load(fx.store, &spec, NULL, &a));
    QA_CHECK_OK(load(other, &spec, NULL, &b));
    for (int i = 0; i < spec.ninputs; i++) {
        QA_CHECK(a.norm.mean[i] == b.norm.mean[i]);
        QA_CHECK(a.norm.std[i] == b.norm.std[i]);
    }
    QA_CHECK(a.norm.target_mean == b.norm.target_mean && a.norm.target_std == b.norm.target_std);
    /* independent fit over the training period */
    double *orig = read_panel(fx.store, "features/f_noise"), *c = read_panel(fx.store, "bars/close");
    double sum = 0.0, ss = 0.0;
    size_t n = 0;
    for (size_t s = 0; orig && c && s < S; s++)
        for (size_t t = 0; t < T; t++) {
            int64_t tm = TT_T0 + (int64_t)t * TT_DAY;
            if (tm >= spec.start && tm < spec.train_end && !isnan(c[s * T + t])) sum += orig[s * T + t], n++;
        }
    double m = sum / (double)n;
    for (size_t s = 0; orig && c && s < S; s++)
        for (size_t t = 0; t < T; t++) {
            int64_t tm = TT_T0 + (int64_t)t * TT_DAY;
            if (tm >= spec.start && tm < spec.train_end && !isnan(c[s * T + t]))
                ss += (orig[s * T + t] - m) * (orig[s * T + t] - m);
        }
    /* same algorithm (two passes in double, same order): equal to the last bits */
    QA_CHECK_NEAR(a.norm.mean[0], m, 1e-15, 1e-12);
    QA_CHECK_NEAR(a.norm.std[0], sqrt(ss / (double)(n - 1)), 0, 1e-12);
    /* training-period inputs are identical; later ones differ */
    size_t same = 0, diff = 0;
    for (size_t r = 0; r < a.nrows; r++) {
        int k = (int)a.split[r]; /* a small signed code (-1 = unused, 0..2 = split) */
        if (k == QA_TRAIN_SPLIT_TRAIN) same += a.x[r * 3] == b.x[r * 3] || (isnan(a.x[r * 3]) && isnan(b.x[r * 3]));
        else if (k > 0) diff += a.x[r * 3] != b.x[r * 3];
    }
    QA_CHECK_INT(same, a.counts[0].rows);
    QA_CHECK(diff > 0);
    /* a model's normalisation given back reproduces the inputs exactly */
    qa_train_data a2;
    QA_CHECK_OK(load(fx.store, &spec, &a.norm, &a2));
    QA_CHECK(memcmp(a.x, a2.x, a.nrows * 3 * sizeof *a.x) == 0);
    qa_train_data_free(&a2);
    free(orig), free(c), free(f);
    qa_train_data_free(&a);
    qa_train_data_free(&b);
}

/* A NaN input removes exactly the samples whose window contains it. */
static void test_nan_inputs_dropped(void) {
    char other[320], cmd[700];
    snprintf(other, sizeof other, "%s/nan.h5", fx.dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", fx.store, other);
    QA_CHECK(system(cmd) == 0);
    qa_store_t *st = NULL;
    double v = NAN;
    QA_CHECK_OK(qa_store_open(other, NULL, QA_STORE_RDWR, &st));
    QA_CHECK_OK(qa_store_write(st, "features/f_mom", 0, 1, 100, 1, &v)); /* symbol 0, bar 100 (train) */
    qa_store_close(st);
    qa_model_spec spec = base_spec(3, 2, 0);
    qa_train_data a, b;
    QA_CHECK_OK(load(fx.store, &spec, NULL, &a));
    QA_CHECK_OK(load(other, &spec, NULL, &b));
    /* symbol 0 has every bar: row 100 is bar 100; windows of rows 100, 101, 102 contain it */
    QA_CHECK_INT(a.nsamples[0] - b.nsamples[0], 3);
    QA_CHECK_INT(b.counts[0].nan_input - a.counts[0].nan_input, 3);
    size_t hits = 0;
    for (size_t i = 0; i < b.nsamples[0]; i++) hits += b.samples[0][i] >= 100 && b.samples[0][i] <= 102;
    QA_CHECK_INT(hits, 0);
    QA_CHECK(!b.valid[100] && !b.valid[101] && !b.valid[102] && b.valid[103] && b.valid[99]);
    qa_train_data_free(&a);
    qa_train_data_free(&b);
}

static void test_classes(void) {
    qa_model_spec spec = base_spec(1, 5, 5);
    spec.target = QA_MODEL_TARGET_QUANTILE;
    spec.classes = 4;
    qa_train_data d;
    QA_CHECK_OK(load(fx.store, &spec, NULL, &d));
    size_t n = d.nsamples[0];
    double *r = malloc(n * sizeof *r);
    for (size_t i = 0; i < n; i++) r[i] = d.ret[d.samples[0][i]];
    /* edges: the training returns' k/4 quantiles (sorted[k n / 4]) by insertion sort */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && r[j - 1] > r[j]; j--) {
            double t = r[j];
            r[j] = r[j - 1];
            r[j - 1] = t;
        }
    QA_CHECK_INT(d.norm.nedges, 3);
    for (int k = 1; k < 4; k++) QA_CHECK(d.norm.edges[k - 1] == r[(size_t)k * n / 4]);
    size_t counts[4] = {0}, bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t row = d.samples[0][i];
        int want = (d.ret[row] >= d.norm.edges[0]) + (d.ret[row] >= d.norm.edges[1]) + (d.ret[row] >= d.norm.edges[2]);
        bad += d.cls[row] != want;
        counts[d.cls[row]]++;
    }
    QA_CHECK_INT(bad, 0);
    for (int k = 0; k < 4; k++) QA_CHECK_MSG(counts[k] + 2 >= n / 4 && counts[k] <= n / 4 + 2, "class %d: %zu of %zu", k, counts[k], n);
    qa_train_data_free(&d);
    free(r);
    spec.target = QA_MODEL_TARGET_SIGN;
    spec.classes = 2;
    QA_CHECK_OK(load(fx.store, &spec, NULL, &d));
    bad = 0;
    for (size_t r2 = 0; r2 < d.nrows; r2++) bad += isnan(d.ret[r2]) ? d.cls[r2] != -1 : d.cls[r2] != (d.ret[r2] > 0.0);
    QA_CHECK_INT(bad, 0);
    qa_train_data_free(&d);
}

/* The shuffle is a permutation, a pure function of (seed, epoch, n), equal to the
 * documented Fisher-Yates recipe; batches gather the window rows. */
static void test_shuffle_and_gather(void) {
    enum { N = 1000 };
    uint32_t a[N], b[N], c[N], ref[N];
    qa_train_data_shuffle(a, N, 42, 3);
    qa_train_data_shuffle(b, N, 42, 3);
    qa_train_data_shuffle(c, N, 42, 4);
    QA_CHECK(memcmp(a, b, sizeof a) == 0);
    QA_CHECK(memcmp(a, c, sizeof a) != 0);
    int seen[N] = {0};
    for (int i = 0; i < N; i++) seen[a[i]]++;
    int dup = 0;
    for (int i = 0; i < N; i++) dup += seen[i] != 1;
    QA_CHECK_INT(dup, 0);
    for (int i = 0; i < N; i++) ref[i] = (uint32_t)i;
    for (int i = N - 1; i >= 1; i--) {
        uint64_t u = qa_rng_u32(42, ((uint64_t)1 << 32) + 3, (uint64_t)i);
        int j = (int)((u * (uint64_t)(i + 1)) >> 32);
        uint32_t t = ref[i];
        ref[i] = ref[j];
        ref[j] = t;
    }
    QA_CHECK(memcmp(a, ref, sizeof a) == 0);
    size_t fixed = 0;
    for (int i = 0; i < N; i++) fixed += a[i] == (uint32_t)i;
    QA_CHECK(fixed < 10); /* a shuffle, not the identity (expected ~1) */

    qa_model_spec spec = base_spec(4, 2, 0);
    qa_train_data d;
    QA_CHECK_OK(load(fx.store, &spec, NULL, &d));
    uint32_t rows[3] = {d.samples[0][0], d.samples[0][d.nsamples[0] / 2], d.samples[1][1]};
    float x[3 * 4 * 3], y[3];
    int32_t cls[3];
    qa_train_data_gather(&d, rows, 3, x, y, cls);
    size_t bad = 0;
    for (int i = 0; i < 3; i++) {
        for (int w = 0; w < 4; w++)
            for (int f = 0; f < 3; f++) {
                float want = d.x[((size_t)rows[i] - 3 + (size_t)w) * 3 + (size_t)f];
                bad += memcmp(&x[(i * 4 + w) * 3 + f], &want, sizeof want) != 0;
            }
        bad += y[i] != d.y[rows[i]];
        QA_CHECK_NEAR(y[i], (d.ret[rows[i]] - d.norm.target_mean) / d.norm.target_std, 1e-6, 1e-6);
        bad += d.row_sym[rows[i]] != d.row_sym[rows[i] - 3]; /* the window stays in one symbol */
    }
    QA_CHECK_INT(bad, 0);
    qa_train_data_free(&d);
}

/* demean: each timestamp's labelled forward returns sum to zero; differences within a
 * timestamp are those of the raw returns. */
static void test_demean(void) {
    qa_model_spec spec = base_spec(1, 4, 0);
    qa_train_data raw, dm;
    QA_CHECK_OK(load(fx.store, &spec, NULL, &raw));
    spec.demean = 1;
    QA_CHECK_OK(load(fx.store, &spec, NULL, &dm));
    double sum[T] = {0}, rawsum[T] = {0};
    int cnt[T] = {0};
    size_t bad = 0;
    for (size_t r = 0; r < dm.nrows; r++) {
        if (isnan(raw.ret[r])) {
            bad += !isnan(dm.ret[r]);
            continue;
        }
        sum[dm.row_t[r]] += dm.ret[r];
        rawsum[dm.row_t[r]] += raw.ret[r];
        cnt[dm.row_t[r]]++;
    }
    for (size_t r = 0; r < dm.nrows; r++)
        if (!isnan(raw.ret[r])) /* ret - mean, the mean from an independent pass */
            bad += fabs(dm.ret[r] - (raw.ret[r] - rawsum[dm.row_t[r]] / cnt[dm.row_t[r]])) > 1e-15;
    for (int t = 0; t < T; t++) bad += cnt[t] && fabs(sum[t]) > 1e-14;
    QA_CHECK_INT(bad, 0);
    qa_train_data_free(&raw);
    qa_train_data_free(&dm);
}

static void test_errors(void) {
    qa_model_spec spec = base_spec(1, 0, 0);
    QA_CHECK_ERR(qa_model_spec_check(&spec), QA_ERR_CONFIG, "horizon");
    spec = base_spec(1, 1, 0);
    spec.val_end = spec.train_end;
    QA_CHECK_ERR(qa_model_spec_check(&spec), QA_ERR_CONFIG, "increase");
    spec = base_spec(1, 1, 0);
    spec.target = QA_MODEL_TARGET_SIGN;
    QA_CHECK_ERR(qa_model_spec_check(&spec), QA_ERR_CONFIG, "2 classes");
    spec = base_spec(1, 1, 0);
    snprintf(spec.inputs[1].name, sizeof spec.inputs[1].name, "no_such_feature");
    qa_store_t *st = NULL;
    QA_CHECK_OK(qa_store_open(fx.store, NULL, QA_STORE_READ, &st));
    QA_CHECK_ERR(qa_train_data_resolve_inputs(st, &spec), QA_ERR_NOT_FOUND, "'no_such_feature' is not in /features");
    spec = base_spec(1, 1, 0);
    QA_CHECK_OK(qa_train_data_resolve_inputs(st, &spec));
    QA_CHECK_STR(spec.inputs[0].input_hash, "bbbb");
    QA_CHECK_STR(spec.inputs[1].params, "{\"test\":2}");
    qa_store_close(st);
    qa_model_bar_input b;
    QA_CHECK_ERR(qa_model_bar_input_parse("vwap", &b), QA_ERR_CONFIG, "unknown bar input 'vwap'");
}

int main(void) {
    if (tt_setup(&fx, "train_data", S, T, 11)) return 1;
    QA_RUN(test_rows_and_targets);
    QA_RUN(test_splits_purge_embargo);
    QA_RUN(test_norm_train_only);
    QA_RUN(test_nan_inputs_dropped);
    QA_RUN(test_classes);
    QA_RUN(test_shuffle_and_gather);
    QA_RUN(test_demean);
    QA_RUN(test_errors);
    qa_test_rmtree(fx.dir);
    return qa_test_finish();
}
