/* Shared by the training tests: a small synthetic market file with bars and three
 * features, written through the store API (no CLI), and a temporary directory.
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

#include "common/fs.h"
#include "common/philox.h"
#include "datasets/store.h"

#define TT_DAY 86400000000000LL
#define TT_T0 946857600000000000LL /* 2000-01-03 */

static inline int tt_missing(size_t s, size_t t) { return (s == 1 && t < 40) || (s == 2 && t % 37 == 17); }

/* Writes `path` (S symbols x T daily bars from 2000-01-03). Returns 0 on success. */
static inline int tt_make_store(const char *path, size_t S, size_t T, uint64_t seed) {
    qa_store_meta m;
    memset(&m, 0, sizeof m);
    snprintf(m.frequency, sizeof m.frequency, "1d");
    m.bar_seconds = 86400;
    m.bars_per_year = 252;
    snprintf(m.calendar, sizeof m.calendar, "24x7");
    snprintf(m.currency, sizeof m.currency, "USD");
    snprintf(m.adjustment, sizeof m.adjustment, "none");
    snprintf(m.source, sizeof m.source, "training test");
    m.deflate_level = 1;
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

/* A fresh directory under /tmp (path into buf). */
static inline int tt_tmpdir(char *buf, size_t size, const char *tag) {
    snprintf(buf, size, "/tmp/qa_%s_XXXXXX", tag);
    return mkdtemp(buf) ? 0 : 1;
}

/* rm -rf of a test directory (paths made by tt_tmpdir only). */
static inline void tt_rmtree(const char *dir) {
    if (strncmp(dir, "/tmp/qa_", 8) != 0) return;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("warning: could not remove %s\n", dir);
}

#endif
