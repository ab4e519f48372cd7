/* Shared by the training tests and bench_train: a small synthetic market file with bars
 * and three features, written through the store API (no CLI), in a temporary directory,
 * and a training run from config text.
 *
 * Prices: per symbol a Philox random walk, close = 100 exp(cumsum(0.01 z)); open/high/
 * low/volume derived from it. Symbol 1 lists late (NaN before bar 40), symbol 2 misses
 * every 37th bar. Features on the grid (NaN where the close is NaN):
 *   f_signal  the forward 5-observation return plus noise (learnable on purpose)
 *   f_noise   N(0, 1)
 *   f_mom     the trailing 5-observation return */
#ifndef QA_TESTS_PIPELINE_TRAIN_TEST_H
#define QA_TESTS_PIPELINE_TRAIN_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/fs.h"
#include "common/philox.h"
#include "datasets/store.h"
#include "harness.h"    /* qa_test_tmpdir */
#include "mpi/comm.h"
#include "pipeline/train/train.h"
#include "store_test.h" /* qa_test_daily_meta */

#define TT_DAY 86400000000000LL
#define TT_T0 946857600000000000LL /* 2000-01-03 */

static inline int tt_missing(size_t s, size_t t) { return (s == 1 && t < 40) || (s == 2 && t % 37 == 17); }

/* Writes `path` (S symbols x T daily bars from 2000-01-03). Returns 0 on success. */
static inline int tt_make_store(const char *path, size_t S, size_t T, uint64_t seed) {
    qa_store_meta m = qa_test_daily_meta("24x7", "training test", 1);
    char names[16][8];
    const char *syms[16];
    for (size_t s = 0; s < S && s < 16; s++) {
        snprintf(names[s], sizeof names[s], "S%02zu", s);
        syms[s] = names[s];
    }
    int64_t *time = malloc(T * sizeof *time);
    double *c = malloc(S * T * sizeof *c), *o = malloc(S * T * sizeof *o), *h = malloc(S * T * sizeof *h),
           *l = malloc(S * T * sizeof *l), *v = malloc(S * T * sizeof *v), *f = malloc(S * T * sizeof *f);
    for (size_t t = 0; t < T; t++) time[t] = TT_T0 + (int64_t)t * TT_DAY;
    for (size_t s = 0; s < S; s++) {
        double p = 100.0;
        for (size_t t = 0; t < T; t++) {
            double z = qa_rng_normal(seed, 1 + s, t);
            p *= exp(0.01 * z);
            size_t i = s * T + t;
            c[i] = p;
            o[i] = p * exp(0.002 * qa_rng_normal(seed, 100 + s, t));
            h[i] = fmax(c[i], o[i]) * (1.0 + 0.003 * fabs(qa_rng_normal(seed, 200 + s, t)));
            l[i] = fmin(c[i], o[i]) * (1.0 - 0.003 * fabs(qa_rng_normal(seed, 300 + s, t)));
            v[i] = 1e6 * exp(0.3 * qa_rng_normal(seed, 400 + s, t));
            if (tt_missing(s, t)) c[i] = o[i] = h[i] = l[i] = v[i] = NAN;
        }
    }
    qa_store_t *st = NULL;
    int rc = 1;
    if (qa_store_create(path, NULL, &m, S, syms, T, time, &st) != QA_OK) goto done;
    if (qa_store_write(st, "bars/close", 0, S, 0, T, c) != QA_OK || qa_store_write(st, "bars/open", 0, S, 0, T, o) != QA_OK ||
        qa_store_write(st, "bars/high", 0, S, 0, T, h) != QA_OK || qa_store_write(st, "bars/low", 0, S, 0, T, l) != QA_OK ||
        qa_store_write(st, "bars/volume", 0, S, 0, T, v) != QA_OK)
        goto done;
    for (int k = 0; k < 3; k++) {
        static const char *const fn[3] = {"features/f_signal", "features/f_noise", "features/f_mom"};
        for (size_t s = 0; s < S; s++) {
            /* observation indices of symbol s */
            size_t obs[4096], n = 0;
            for (size_t t = 0; t < T && n < 4096; t++)
                if (!isnan(c[s * T + t])) obs[n++] = t;
            for (size_t t = 0; t < T; t++) f[s * T + t] = NAN;
            for (size_t j = 0; j < n; j++) {
                size_t t = obs[j];
                double val;
                if (k == 0) val = j + 5 < n ? c[s * T + obs[j + 5]] / c[s * T + t] - 1.0 + 0.01 * qa_rng_normal(seed, 500 + s, t) : NAN;
                else if (k == 1) val = qa_rng_normal(seed, 600 + s, t);
                else val = j >= 5 ? c[s * T + t] / c[s * T + obs[j - 5]] - 1.0 : NAN;
                f[s * T + t] = val;
            }
        }
        char params[64];
        snprintf(params, sizeof params, "{\"test\":%d}", k);
        if (qa_store_panel_create(st, fn[k]) != QA_OK || qa_store_write(st, fn[k], 0, S, 0, T, f) != QA_OK ||
            qa_store_attr_set_str(st, fn[k], "input_hash", k == 0 ? "aaaa" : k == 1 ? "bbbb" : "cccc") != QA_OK ||
            qa_store_attr_set_str(st, fn[k], "params", params) != QA_OK)
            goto done;
    }
    if (qa_store_commit(st) != QA_OK) {
        st = NULL;
        goto done;
    }
    st = NULL;
    rc = 0;
done:
    if (rc) printf("tt_make_store: %s\n", qa_err_msg());
    qa_store_close(st);
    free(time), free(c), free(o), free(h), free(l), free(v), free(f);
    return rc;
}

/* A training test's files: its directory and the market file in it. */
typedef struct tt_fixture {
    char dir[256];   /* /tmp/qa_<tag>_XXXXXX */
    char store[300]; /* <dir>/m.h5 */
} tt_fixture;

/* Makes f->dir and writes f->store (S symbols x T bars from `seed`). Returns 0 on success. */
static inline int tt_setup(tt_fixture *f, const char *tag, size_t S, size_t T, uint64_t seed) {
    if (qa_test_tmpdir(f->dir, sizeof f->dir, tag)) return 1;
    snprintf(f->store, sizeof f->store, "%s/m.h5", f->dir);
    return tt_make_store(f->store, S, T, seed);
}

/* A training run as `qa train` makes it: the YAML text (called `name` in messages) with
 * the `--set` overrides, then what comes from the command line. NULL / 0 fields keep the
 * config's value (backend, threads) or the default (the rest). */
typedef struct tt_run {
    const char *name;
    const char *const *sets;
    size_t nsets;
    const char *data, *backend, *run_dir;
    long long threads, max_steps;
    int resume;
    const char *argv0; /* recorded in run.json ("test" when NULL) */
} tt_run;

/* Trains `yaml` with the options of `o` on the ranks of comm; r may be NULL. */
static inline qa_status tt_train(const char *yaml, const tt_run *o, const qa_comm_t *comm, qa_train_result *r) {
    qa_cfg_t *doc = NULL;
    qa_train_cfg c;
    qa_train_result ignored;
    qa_status st = qa_cfg_parse(o->name, yaml, strlen(yaml), &doc);
    for (size_t i = 0; st == QA_OK && i < o->nsets; i++) st = qa_cfg_override(doc, o->sets[i]);
    if (st == QA_OK) st = qa_train_cfg_default(&c);
    if (st == QA_OK) st = qa_train_cfg_bind(doc, &c);
    if (st == QA_OK) {
        c.data = o->data;
        if (o->backend) c.backend = o->backend;
        if (o->threads) c.threads = o->threads;
        c.run_dir = o->run_dir;
        c.max_steps = o->max_steps;
        c.resume = o->resume;
        char *argv[] = {(char *)(o->argv0 ? o->argv0 : "test"), NULL};
        st = qa_train_run(&c, comm, 1, argv, r ? r : &ignored);
    }
    qa_cfg_free(doc);
    return st;
}

#endif
