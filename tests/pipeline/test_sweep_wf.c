/* Walk-forward on a synthetic market whose answer is known, plus the sweep library on
 * the same file (chunk layout invariance, resume, config refusal).
 *
 * Market: 3 random-walk symbols over 2000 daily bars; /alt/oracle holds c(t) + r(t+1),
 * the next bar's return shifted by a regime constant c = +1 in bars [0,500), [1000,1500)
 * and c = -1 in [500,1000), [1500,2000). The signal strategy (long above `upper`, short
 * below `lower`) with lower = upper = +1 trades perfectly in a +1 regime (and is always
 * short in a -1 regime); lower = upper = -1 the reverse; every other set of the grid is
 * worse. Walk-forward with train = test = step = 250 bars: the training windows lie in
 * single regimes, so the chosen set is known in every window, and the out-of-sample
 * per-bar returns are known exactly: |r| where the test regime matches the training
 * regime, the wrong side otherwise (0 on each window's first bar, which starts flat).
 * They are recomputed here bar by bar from the closes and compared with
 * results.h5:/walkforward/oos_returns. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/philox.h"
#include "datasets/store.h"
#include "harness.h"
#include "store_test.h" /* qa_test_daily_meta */
#include "sweep_test.h" /* qa_test_sweep_text */
#include "pipeline/sweep/sweep.h"

enum { S = 3, T = 2000, REGIME = 500, WIN = 250 };

static char g_dir[256];
static double g_close[S * T];

static double regime_c(size_t t) { return (t / REGIME) % 2 == 0 ? 1.0 : -1.0; }

static void make_market(const char *path, uint64_t seed) {
    const char *syms[S] = {"AAA", "BBB", "CCC"};
    int64_t *time = malloc(T * sizeof *time);
    double *sig = malloc(S * T * sizeof *sig);
    for (size_t t = 0; t < T; t++) time[t] = (int64_t)(10957 + t) * 86400LL * 1000000000LL; /* from 2000-01-01 */
    for (size_t s = 0; s < S; s++) {
        double x = 50.0 + 10.0 * (double)s;
        for (size_t t = 0; t < T; t++) {
            if (t) x *= 1.0 + 0.01 * qa_rng_normal(seed, 1 + s, t);
            g_close[s * T + t] = x;
        }
        for (size_t t = 0; t < T; t++)
            sig[s * T + t] = t + 1 < T ? regime_c(t) + (g_close[s * T + t + 1] / g_close[s * T + t] - 1.0) : NAN;
    }
    qa_store_meta m = qa_test_daily_meta("weekdays", "test_sweep_wf synthetic regimes", 1);
    qa_store_t *st = NULL;
    QA_CHECK_OK(qa_store_create(path, NULL, &m, S, syms, T, time, &st));
    QA_CHECK_OK(qa_store_write(st, "bars/close", 0, S, 0, T, g_close));
    QA_CHECK_OK(qa_store_panel_create(st, "alt/oracle"));
    QA_CHECK_OK(qa_store_write(st, "alt/oracle", 0, S, 0, T, sig));
    QA_CHECK_OK(qa_store_commit(st));
    free(time);
    free(sig);
}

static qa_status run_text(const char *text, const char *run_dir, long long max_chunks, qa_sweep_report *rep) {
    qa_sweep_opts o;
    qa_sweep_opts_init(&o);
    o.run_dir = run_dir;
    o.max_chunks = max_chunks;
    o.threads = 1;
    return qa_test_sweep_text("wf.yaml", text, &o, NULL, rep);
}

static double *read_2d(const char *file, const char *name, size_t *r, size_t *c) {
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t sp = H5Dget_space(ds);
    hsize_t d[2] = {0, 1};
    H5Sget_simple_extent_dims(sp, d, NULL);
    double *x = malloc(d[0] * d[1] * sizeof *x);
    H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, x);
    H5Sclose(sp);
    H5Dclose(ds);
    H5Fclose(f);
    *r = d[0];
    *c = d[1];
    return x;
}

static const char *config_fmt =
    "data: %s\n"
    "strategy: signal\n"
    "signal: alt/oracle\n"
    "grid:\n"
    "  lower: [-1, 0, 1]\n"
    "  upper: [-1, 0, 1]\n"
    "multiple_testing: {bootstrap: 100}\n"
    "chunk: {symbols: %d, params: %d}\n"
    "walk_forward: {train: %d, test: %d, per: %s}\n";

/* Position the signal rule takes at bar t for thresholds (lo, hi). */
static double decide(size_t s, size_t t, double lo, double hi) {
    double g = t + 1 < T ? regime_c(t) + (g_close[s * T + t + 1] / g_close[s * T + t] - 1.0) : NAN;
    return g > hi ? 1.0 : g < lo ? -1.0 : 0.0;
}

static void test_walk_forward_known(void) {
    char market[512], cfg[1024], run[512], res[600], sum[600];
    snprintf(market, sizeof market, "%s/wf.h5", g_dir);
    make_market(market, 20261124);
    printf("  market: %d symbols x %d bars, regimes of %d bars (Philox seed 20261124)\n", S, T, REGIME);
    snprintf(cfg, sizeof cfg, config_fmt, market, 2, 4, WIN, WIN, "symbol");
    snprintf(run, sizeof run, "%s/run_wf", g_dir);
    qa_sweep_report rep;
    QA_CHECK_OK(run_text(cfg, run, 0, &rep));
    QA_CHECK(rep.merged);
    QA_CHECK_INT(rep.params, 6); /* 9 combinations, 3 with lower > upper dropped */
    snprintf(res, sizeof res, "%s/results.h5", run);
    snprintf(sum, sizeof sum, "%s/summary.json", run);
    json_t *j = NULL;
    QA_CHECK_OK(qa_json_read_file(sum, &j));
    json_t *wins = json_object_get(json_object_get(j, "walk_forward"), "windows");
    const size_t nwin = (T - WIN) / WIN;
    QA_CHECK_INT(json_array_size(wins), nwin);
    size_t nr, nc;
    double *R = read_2d(res, "walkforward/oos_returns", &nr, &nc);
    QA_CHECK_INT(nr, S);
    QA_CHECK_INT(nc, T - WIN);
    double worst = 0;
    int wrong_choice = 0;
    for (size_t k = 0; k < nwin; k++) {
        json_t *w = json_array_get(wins, k);
        double want = regime_c(k * WIN); /* the training window's regime picks lower = upper = c */
        json_t *p = json_object_get(w, "params");
        double lo = json_number_value(json_object_get(p, "lower")), hi = json_number_value(json_object_get(p, "upper"));
        if (lo != want || hi != want || json_integer_value(json_object_get(w, "chosen_by")) != S) wrong_choice++;
        size_t tb = (k + 1) * WIN, te = tb + WIN < T ? tb + WIN : T;
        for (size_t s = 0; s < S; s++) {
            for (size_t t = tb; t < te; t++) {
                /* the position held over bar t was decided at t - 1; the window starts flat at tb - 1 */
                double pos = t == tb ? 0.0 : decide(s, t - 1, want, want);
                double r = g_close[s * T + t] / g_close[s * T + t - 1] - 1.0;
                double ref = pos * r, got = R[s * nc + (t - WIN)];
                if (t == T - 1) ref = NAN; /* no signal at the last bar: not an observation, no P&L */
                double err = isnan(ref) && isnan(got) ? 0.0 : fabs(got - ref);
                if (err > worst) worst = err;
                if (!(err <= 1e-15 + 1e-12 * fabs(ref)) && !(isnan(ref) && isnan(got))) {
                    QA_CHECK_MSG(0, "window %zu symbol %zu bar %zu: oos return %.17g, expected %.17g", k, s, t, got, ref);
                    k = nwin;
                    s = S;
                    break;
                }
            }
        }
        /* matching regimes trade perfectly (every return captured: Sharpe ~20); mismatched
         * ones hold one side of a driftless random walk (Sharpe ~N(0, 1)) */
        double oos = json_number_value(json_object_get(w, "oos")), is = json_number_value(json_object_get(w, "is"));
        QA_CHECK(is > 15.0);
        if (regime_c(tb) == want) QA_CHECK(oos > 15.0);
        else QA_CHECK(oos < 5.0);
    }
    QA_CHECK_INT(wrong_choice, 0);
    printf("  %zu windows: choices as expected, out-of-sample returns within %.3g of the closed form\n", nwin, worst);
    /* stitched total return = product over the out-of-sample bars */
    json_t *stitched = json_object_get(json_object_get(j, "walk_forward"), "stitched");
    for (size_t s = 0; s < S; s++) {
        double E = 1.0;
        for (size_t i = 0; i < nc; i++)
            if (!isnan(R[s * nc + i])) E *= 1.0 + R[s * nc + i];
        QA_CHECK_NEAR(json_number_value(json_object_get(json_array_get(stitched, s), "total_return")), E - 1.0, 1e-12, 1e-9);
    }
    free(R);
    json_decref(j);

    /* the same choices for the portfolio of the three symbols */
    snprintf(cfg, sizeof cfg, config_fmt, market, 2, 4, WIN, WIN, "portfolio");
    snprintf(run, sizeof run, "%s/run_wfp", g_dir);
    QA_CHECK_OK(run_text(cfg, run, 0, &rep));
    snprintf(sum, sizeof sum, "%s/summary.json", run);
    QA_CHECK_OK(qa_json_read_file(sum, &j));
    wins = json_object_get(json_object_get(j, "walk_forward"), "windows");
    wrong_choice = 0;
    for (size_t k = 0; k < json_array_size(wins); k++) {
        json_t *p = json_object_get(json_array_get(wins, k), "params");
        if (json_number_value(json_object_get(p, "lower")) != regime_c(k * WIN)) wrong_choice++;
    }
    QA_CHECK_INT(wrong_choice, 0);
    /* the sweep's best set over the whole range: none of the perfect sets wins everywhere,
     * and the multiple-testing section is present */
    QA_CHECK(json_is_object(json_object_get(json_object_get(j, "multiple_testing"), "reality_check")));
    json_decref(j);
}

/* Chunk layout changes the work list (and so the config hash) but not a single number;
 * an interrupted run resumes to the same result; another config in the same run
 * directory is refused. */
static void test_layout_resume_refusal(void) {
    char market[512], cfg[1024], a[512], b[512];
    snprintf(market, sizeof market, "%s/wf.h5", g_dir);
    snprintf(cfg, sizeof cfg, config_fmt, market, 1, 1, WIN, WIN, "symbol");
    snprintf(a, sizeof a, "%s/run_small_chunks", g_dir);
    qa_sweep_report rep;
    QA_CHECK_OK(run_text(cfg, a, 5, &rep));
    QA_CHECK(rep.stopped && !rep.merged);
    QA_CHECK_INT(rep.computed, 5);
    QA_CHECK_OK(run_text(cfg, a, 0, &rep));
    QA_CHECK(rep.merged);
    QA_CHECK_INT(rep.skipped, 5);
    QA_CHECK_INT(rep.computed + rep.skipped, rep.chunks);
    size_t r1, c1, r2, c2;
    char f1[600], f2[600];
    snprintf(f1, sizeof f1, "%s/results.h5", a);
    snprintf(f2, sizeof f2, "%s/run_wf/results.h5", g_dir);
    double *x = read_2d(f1, "metrics/sharpe", &r1, &c1), *y = read_2d(f2, "metrics/sharpe", &r2, &c2);
    QA_CHECK(r1 == r2 && c1 == c2 && memcmp(x, y, r1 * c1 * sizeof *x) == 0);
    free(x);
    free(y);
    x = read_2d(f1, "walkforward/oos_returns", &r1, &c1);
    y = read_2d(f2, "walkforward/oos_returns", &r2, &c2);
    QA_CHECK(r1 == r2 && c1 == c2 && memcmp(x, y, r1 * c1 * sizeof *x) == 0);
    free(x);
    free(y);
    /* a different config in the same run directory */
    snprintf(cfg, sizeof cfg, config_fmt, market, 1, 1, WIN, 2 * WIN, "symbol");
    QA_CHECK_ERR(run_text(cfg, a, 0, &rep), QA_ERR_CONFIG, "holds a sweep of another configuration");
    /* a missing run directory option */
    snprintf(b, sizeof b, "%s", "");
    QA_CHECK_ERR(run_text(cfg, b, 0, &rep), QA_ERR_CONFIG, "no run directory");
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/qa_test_sweep_wf_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        printf("cannot create a temporary directory\n");
        return 1;
    }
    qa_log_set_level(QA_LOG_WARN);
    QA_RUN(test_walk_forward_known);
    QA_RUN(test_layout_resume_refusal);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (qa_test_failures_ == 0 && system(cmd) != 0) printf("could not remove %s\n", g_dir);
    return qa_test_finish();
}
