/* The run-directory and job handlers (api/runs.c, api/jobs.c) on real run directories
 * made by the built qa (argv[1]) in the setup: a sweep, a stress run and a training run
 * over the shipped sample. Figures are checked against summary.json and against
 * results.h5 read here with the HDF5 C API (the heat map recomputed from the whole
 * metric panel); bad ids, parameters and files must fail with the right code and text. */
#include <hdf5.h>      /* independent reads of results.h5 */
#include <math.h>      /* NAN */
#include <stdio.h>     /* fopen */
#include <stdlib.h>    /* system */
#include <string.h>    /* strcmp */
#include <sys/stat.h>  /* mkdir */
#include <unistd.h>    /* usleep */

#include "api/jobs.h"
#include "api/runs.h"
#include "common/json.h"
#include "api_req.h"  /* requests built by hand */
#include "harness.h"

static char g_tmp[512], g_qa[512];
static qa_api_ctx g_ctx;

/* ---- requests built by hand ---------------------------------------------------------- */

typedef qa_tkv kv;

/* Calls fn on GET with path parameter `id` and query pairs; the answer goes to *out. */
static qa_status call(qa_api_fn fn, const char *id, const kv *q, size_t nq, json_t **out) {
    return qa_treq_get(fn, &g_ctx, id, q, nq, out);
}
#define NQ(a) (sizeof(a) / sizeof((a)[0]))

static qa_status submit(const char *body_json, unsigned roles, qa_api_resp *resp) {
    qa_treq t;
    qa_treq_init(&t, &g_ctx, "POST", "tester", NULL, NULL);
    t.req.roles = roles;
    t.req.body = json_loads(body_json, 0, NULL);
    memset(resp, 0, sizeof *resp);
    qa_status st = qa_apijobs_submit(&t.req, resp);
    json_decref(t.req.body);
    return st;
}

/* ---- independent reads ---------------------------------------------------------------- */

static json_t *read_json(const char *run, const char *name) {
    char p[1024];
    json_t *j = NULL;
    snprintf(p, sizeof p, "%s/runs/%s/%s", g_tmp, run, name);
    if (qa_json_read_file(p, &j) != QA_OK) return NULL;
    return j;
}

/* A whole dataset as doubles (n0 x n1), or NULL. */
static double *h5_all(const char *run, const char *path, size_t *n0, size_t *n1) {
    char p[1024];
    snprintf(p, sizeof p, "%s/runs/%s/results.h5", g_tmp, run);
    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return NULL;
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT), s = H5Dget_space(d);
    hsize_t dims[2] = {0, 1};
    int rank = H5Sget_simple_extent_dims(s, dims, NULL);
    *n0 = dims[0];
    *n1 = rank == 2 ? dims[1] : 1;
    double *v = malloc(*n0 * *n1 * sizeof *v + 8);
    if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
        free(v);
        v = NULL;
    }
    H5Sclose(s);
    H5Dclose(d);
    H5Fclose(f);
    return v;
}

/* ---- setup ------------------------------------------------------------------------------ */

static int sh(const char *fmt, const char *a, const char *b) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    int rc = system(cmd);
    if (rc != 0) printf("setup command failed (%d): %s\n", rc, cmd);
    return rc;
}

static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

static int setup(void) {
    const char *src = getenv("QA_SOURCE_DIR");
    if (!src) {
        printf("QA_SOURCE_DIR is not set (run through ctest)\n");
        return -1;
    }
    if (qa_test_tmpdir(g_tmp, sizeof g_tmp, "apiruns") != 0) return -1;
    char p[1024], y[2048];
    snprintf(p, sizeof p, "%s/runs", g_tmp);
    mkdir(p, 0755);
    /* A damaged run made first (oldest by mtime), and a folder that is not a run at all. */
    snprintf(p, sizeof p, "%s/runs/broken", g_tmp);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/runs/broken/run.json", g_tmp);
    write_file(p, "{\"command\": \"sweep\", ");
    snprintf(p, sizeof p, "%s/runs/configs", g_tmp);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/runs/configs/notes.txt", g_tmp);
    write_file(p, "not a run\n");

    char log[1024];
    snprintf(log, sizeof log, "%s/setup.log", g_tmp);
    snprintf(p, sizeof p, "%s/datasets/sample", src);
    char out[2200];
    snprintf(out, sizeof out, "--out %s/stocks.h5 >>%s 2>&1", g_tmp, log);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s data import --preset sp500-daily --data-root %s %s", g_qa, p, out);
    if (sh("%s%s", cmd, "")) return -1;
    snprintf(out, sizeof out, "--out %s/etfs.h5 >>%s 2>&1", g_tmp, log);
    snprintf(cmd, sizeof cmd, "%s data import --preset etf-daily --data-root %s %s", g_qa, p, out);
    if (sh("%s%s", cmd, "")) return -1;

    snprintf(y, sizeof y,
             "data: %s/stocks.h5\nsymbols: [AAPL, MSFT, JPM]\nstart: 2010-01-01\nend: 2015-12-31\n"
             "strategy: sma_cross\ngrid:\n  fast: [5, 10, 20]\n  slow: [30, 60]\n"
             "settings: {commission_bps: 1, half_spread_bps: 2}\nportfolio: {weighting: equal}\ntop: 5\n",
             g_tmp);
    snprintf(p, sizeof p, "%s/sweep.yaml", g_tmp);
    if (write_file(p, y)) return -1;
    snprintf(cmd, sizeof cmd, "%s sweep --config %s/sweep.yaml --run-dir %s/runs/sw --backend cpu --threads 1 >>%s 2>&1",
             g_qa, g_tmp, g_tmp, log);
    if (sh("%s%s", cmd, "")) return -1;

    snprintf(y, sizeof y,
             "name: test book\nvalue: 1000000\npositions:\n  - {id: spy, symbol: SPY, type: etf, weight: 0.5}\n"
             "  - {id: tlt, symbol: TLT, type: etf, weight: 0.3}\n  - {id: gld, symbol: GLD, type: etf, weight: 0.2}\n");
    snprintf(p, sizeof p, "%s/book.yaml", g_tmp);
    if (write_file(p, y)) return -1;
    snprintf(y, sizeof y,
             "portfolio: %s/book.yaml\ndata: %s/etfs.h5\nlevels: [0.95, 0.99]\nwindow: 500\n"
             "methods: [historical, parametric, montecarlo]\nmontecarlo: {scenarios: 2000}\n"
             "limits:\n  - {name: var99, metric: var, level: 0.99, max: 0.001}\n",
             g_tmp, g_tmp);
    /* The stress config sits in a runs root (configs/), where job submission may read it. */
    snprintf(p, sizeof p, "%s/runs/configs/stress.yaml", g_tmp);
    if (write_file(p, y)) return -1;
    snprintf(p, sizeof p, "%s/stress-outside.yaml", g_tmp);
    if (write_file(p, y)) return -1;
    snprintf(cmd, sizeof cmd, "%s stress --config %s/runs/configs/stress.yaml --run-dir %s/runs/st --backend cpu --threads 1 >>%s 2>&1",
             g_qa, g_tmp, g_tmp, log);
    if (sh("%s%s", cmd, "")) return -1;

    snprintf(y, sizeof y,
             "data: %s/stocks.h5\nbackend: cpu\nseed: 7\ninputs: {bars: [logret, range, body], window: 2}\n"
             "target: {kind: return, horizon: 5, demean: true}\n"
             "split: {start: 2000-01-01, train_end: 2012-01-01, val_end: 2017-01-01, embargo: 5}\n"
             "model: {type: mlp, hidden: [8]}\ntrain: {batch_size: 256, steps: 40, eval_every: 20, log_every: 10}\n",
             g_tmp);
    snprintf(p, sizeof p, "%s/train.yaml", g_tmp);
    if (write_file(p, y)) return -1;
    snprintf(cmd, sizeof cmd, "%s train --config %s/train.yaml --run-dir %s/runs/tr >>%s 2>&1", g_qa, g_tmp, g_tmp, log);
    if (sh("%s%s", cmd, "")) return -1;

    memset(&g_ctx, 0, sizeof g_ctx);
    snprintf(g_ctx.runs[0], sizeof g_ctx.runs[0], "%.400s/runs", g_tmp);
    /* A second root that does not exist: skipped, not an error. */
    snprintf(g_ctx.runs[1], sizeof g_ctx.runs[1], "%.400s/no-such-root", g_tmp);
    g_ctx.nruns = 2;
    snprintf(g_ctx.qa_exe, sizeof g_ctx.qa_exe, "%s", g_qa);
    return 0;
}

/* ---- cases --------------------------------------------------------------------------- */

static json_t *find_run(json_t *runs, const char *id) {
    for (size_t i = 0; i < json_array_size(runs); i++)
        if (strcmp(json_string_value(json_object_get(json_array_get(runs, i), "id")), id) == 0)
            return json_array_get(runs, i);
    return NULL;
}

static void test_list(void) {
    json_t *o = NULL;
    QA_CHECK_OK(call(qa_apiruns_list, NULL, NULL, 0, &o));
    json_t *runs = json_object_get(o, "runs");
    /* sw, st, tr and the damaged one; configs/ is no run. */
    QA_CHECK_INT(json_integer_value(json_object_get(o, "total")), 4);
    QA_CHECK_INT(json_array_size(runs), 4);
    QA_CHECK(find_run(runs, "configs") == NULL);
    /* Newest first: the training run was made last, the damaged folder first. */
    QA_CHECK_STR(json_string_value(json_object_get(json_array_get(runs, 0), "id")), "tr");
    QA_CHECK_STR(json_string_value(json_object_get(json_array_get(runs, 3), "id")), "broken");
    json_t *b = find_run(runs, "broken");
    QA_CHECK_STR(json_string_value(json_object_get(b, "status")), "damaged");
    QA_CHECK(json_string_value(json_object_get(b, "error")) && strstr(json_string_value(json_object_get(b, "error")), "run.json"));
    json_t *sw = find_run(runs, "sw"), *st = find_run(runs, "st"), *tr = find_run(runs, "tr");
    QA_CHECK_STR(json_string_value(json_object_get(sw, "kind")), "sweep");
    QA_CHECK_STR(json_string_value(json_object_get(st, "kind")), "stress");
    QA_CHECK_STR(json_string_value(json_object_get(tr, "kind")), "train");
    QA_CHECK_STR(json_string_value(json_object_get(sw, "status")), "ok");
    QA_CHECK(json_is_string(json_object_get(sw, "started")));
    /* Headlines equal the summaries. */
    json_t *ss = read_json("sw", "summary.json"), *ts = read_json("tr", "summary.json");
    QA_CHECK(ss && ts);
    QA_CHECK(json_equal(qa_json_path(sw, "headline.best_value"), json_object_get(json_array_get(json_object_get(ss, "best_runs"), 0), "value")));
    QA_CHECK_STR(json_string_value(qa_json_path(sw, "headline.rank_by")), "sharpe");
    QA_CHECK(json_equal(qa_json_path(tr, "headline.best_val_loss"), qa_json_path(ts, "training.best_val_loss")));
    QA_CHECK(json_equal(qa_json_path(tr, "headline.test_ic"), qa_json_path(ts, "evaluation.test.ic.mean")));
    QA_CHECK(json_is_number(qa_json_path(st, "headline.var")));
    json_decref(ss);
    json_decref(ts);
    json_decref(o);

    kv k1[] = {{"kind", "sweep"}};
    QA_CHECK_OK(call(qa_apiruns_list, NULL, k1, 1, &o));
    QA_CHECK_INT(json_integer_value(json_object_get(o, "total")), 1);
    json_decref(o);
    kv k2[] = {{"q", "TEST BOOK"}};  /* the stress title holds the portfolio name */
    QA_CHECK_OK(call(qa_apiruns_list, NULL, k2, 1, &o));
    QA_CHECK_INT(json_integer_value(json_object_get(o, "total")), 1);
    QA_CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(o, "runs"), 0), "id")), "st");
    json_decref(o);
    kv k3[] = {{"limit", "3"}, {"page", "2"}};
    QA_CHECK_OK(call(qa_apiruns_list, NULL, k3, 2, &o));
    QA_CHECK_INT(json_array_size(json_object_get(o, "runs")), 1);
    QA_CHECK_INT(json_integer_value(json_object_get(o, "pages")), 2);
    json_decref(o);
    kv k4[] = {{"limit", "3"}, {"page", "3"}};
    QA_CHECK_ERR(call(qa_apiruns_list, NULL, k4, 2, &o), QA_ERR_INVALID_ARG, "page=3");
    kv k5[] = {{"limit", "0"}};
    QA_CHECK_ERR(call(qa_apiruns_list, NULL, k5, 1, &o), QA_ERR_INVALID_ARG, "limit");
}

static void test_show_and_errors(void) {
    json_t *o = NULL;
    QA_CHECK_OK(call(qa_apiruns_show, "sw", NULL, 0, &o));
    QA_CHECK_STR(json_string_value(json_object_get(o, "kind")), "sweep");
    QA_CHECK_STR(json_string_value(qa_json_path(o, "summary.rank_by")), "sharpe");
    QA_CHECK(json_is_object(json_object_get(o, "config")));
    QA_CHECK_STR(json_string_value(qa_json_path(o, "run.command")), "sweep");
    int has_results = 0;
    json_t *files = json_object_get(o, "files");
    for (size_t i = 0; i < json_array_size(files); i++) {
        json_t *f = json_array_get(files, i);
        if (strcmp(json_string_value(json_object_get(f, "name")), "results.h5") == 0)
            has_results = json_integer_value(json_object_get(f, "bytes")) > 1000;
    }
    QA_CHECK(has_results);
    json_decref(o);

    QA_CHECK_ERR(call(qa_apiruns_show, "nope", NULL, 0, &o), QA_ERR_NOT_FOUND, "'nope'");
    QA_CHECK_ERR(call(qa_apiruns_show, "../etc", NULL, 0, &o), QA_ERR_INVALID_ARG, "run id");
    QA_CHECK_ERR(call(qa_apiruns_top, "..", NULL, 0, &o), QA_ERR_INVALID_ARG, "run id");
    QA_CHECK_ERR(call(qa_apiruns_show, "configs", NULL, 0, &o), QA_ERR_NOT_FOUND, "no run");
    /* Views that need results.h5 of a kind: missing file, wrong kind. */
    QA_CHECK_ERR(call(qa_apiruns_top, "tr", NULL, 0, &o), QA_ERR_NOT_FOUND, "results.h5");
    QA_CHECK_ERR(call(qa_apiruns_heatmap, "st", NULL, 0, &o), QA_ERR_INVALID_ARG, "quantumalpha.stress");
    QA_CHECK_ERR(call(qa_apiruns_stress, "sw", NULL, 0, &o), QA_ERR_INVALID_ARG, "quantumalpha.sweep");
    QA_CHECK_ERR(call(qa_apiruns_curves, "sw", NULL, 0, &o), QA_ERR_NOT_FOUND, "metrics.jsonl");
}

static void test_top(void) {
    json_t *o = NULL;
    kv k[] = {{"n", "3"}};
    QA_CHECK_OK(call(qa_apiruns_top, "sw", k, 1, &o));
    json_t *cols = json_object_get(o, "columns"), *rows = json_object_get(o, "rows");
    QA_CHECK_INT(json_array_size(rows), 3);
    long ci_sharpe = -1, ci_fast = -1;
    for (size_t i = 0; i < json_array_size(cols); i++) {
        if (strcmp(json_string_value(json_array_get(cols, i)), "sharpe") == 0) ci_sharpe = (long)i;
        if (strcmp(json_string_value(json_array_get(cols, i)), "fast") == 0) ci_fast = (long)i;
    }
    QA_CHECK(ci_sharpe > 0 && ci_fast > 0);
    json_t *ss = read_json("sw", "summary.json");
    json_t *b0 = json_array_get(json_object_get(ss, "best_runs"), 0), *r0 = json_array_get(rows, 0);
    QA_CHECK_STR(json_string_value(json_array_get(r0, 1)), json_string_value(json_object_get(b0, "symbol")));
    QA_CHECK_NEAR(json_number_value(json_array_get(r0, 3)), json_number_value(json_object_get(b0, "value")), 0, 0);
    QA_CHECK_NEAR(json_number_value(json_array_get(r0, ci_fast)), json_number_value(qa_json_path(b0, "params.fast")), 0, 0);
    /* The sharpe cell equals metrics/sharpe[symbol, set] read here. */
    size_t S, P;
    double *sh = h5_all("sw", "metrics/sharpe", &S, &P);
    QA_CHECK(sh && S == 3 && P == 6);
    long pi = (long)json_integer_value(json_array_get(r0, 2));
    long si = -1;
    const char *syms[] = {"AAPL", "MSFT", "JPM"}; /* the config's order is the file's */
    for (long s = 0; s < 3; s++)
        if (strcmp(syms[s], json_string_value(json_array_get(r0, 1))) == 0) si = s;
    QA_CHECK(si >= 0);
    if (sh && si >= 0) QA_CHECK_NEAR(json_number_value(json_array_get(r0, ci_sharpe)), sh[si * 6 + pi], 0, 0);
    free(sh);
    json_decref(ss);
    json_decref(o);
    kv bad[] = {{"n", "0"}};
    QA_CHECK_ERR(call(qa_apiruns_top, "sw", bad, 1, &o), QA_ERR_INVALID_ARG, "n=0");
}

static void test_heatmap(void) {
    json_t *o = NULL;
    QA_CHECK_OK(call(qa_apiruns_heatmap, "sw", NULL, 0, &o));
    QA_CHECK_STR(json_string_value(json_object_get(o, "x")), "fast");
    QA_CHECK_STR(json_string_value(json_object_get(o, "y")), "slow");
    QA_CHECK_STR(json_string_value(json_object_get(o, "metric")), "sharpe");
    json_t *xs = json_object_get(o, "xs"), *ys = json_object_get(o, "ys"), *z = json_object_get(o, "z");
    QA_CHECK_INT(json_array_size(xs), 3);
    QA_CHECK_INT(json_array_size(ys), 2);
    QA_CHECK_NEAR(json_number_value(json_array_get(xs, 0)), 5, 0, 0);
    QA_CHECK_NEAR(json_number_value(json_array_get(ys, 1)), 60, 0, 0);
    /* Recompute: mean of metrics/sharpe over the symbols per set, placed by its params. */
    size_t S, P, P2, k;
    double *sh = h5_all("sw", "metrics/sharpe", &S, &P), *pr = h5_all("sw", "params", &P2, &k);
    QA_CHECK(sh && pr && P == P2 && k == 2);
    double best = -INFINITY;
    for (size_t p = 0; sh && pr && p < P; p++) {
        double m = 0;
        size_t c = 0;
        for (size_t s = 0; s < S; s++)
            if (!isnan(sh[s * P + p])) m += sh[s * P + p], c++;
        m = c ? m / (double)c : NAN;
        size_t cx = pr[p * 2] == 5 ? 0 : pr[p * 2] == 10 ? 1 : 2, cy = pr[p * 2 + 1] == 30 ? 0 : 1;
        json_t *cell = json_array_get(json_array_get(z, cy), cx);
        /* The same sums in the same order: equal up to a compiler's contraction. */
        if (isnan(m)) QA_CHECK(json_is_null(cell));
        else QA_CHECK_NEAR(json_number_value(cell), m, 0, 1e-12);
        if (m > best) best = m;
    }
    QA_CHECK_NEAR(json_number_value(qa_json_path(o, "best.value")), best, 0, 1e-12);
    json_decref(o);
    /* One symbol: its row exactly. */
    kv k1[] = {{"symbol", "MSFT"}, {"metric", "ann_vol"}, {"x", "slow"}, {"y", "fast"}};
    QA_CHECK_OK(call(qa_apiruns_heatmap, "sw", k1, NQ(k1), &o));
    double *av = h5_all("sw", "metrics/ann_vol", &S, &P);
    for (size_t p = 0; av && pr && p < P; p++) {
        size_t cy = pr[p * 2] == 5 ? 0 : pr[p * 2] == 10 ? 1 : 2, cx = pr[p * 2 + 1] == 30 ? 0 : 1;
        QA_CHECK_NEAR(json_number_value(json_array_get(json_array_get(json_object_get(o, "z"), cy), cx)), av[1 * P + p], 0, 0);
    }
    /* ann_vol ranks lower-better: best is the minimum of MSFT's row. */
    double mn = INFINITY;
    for (size_t p = 0; av && p < P; p++)
        if (av[P + p] < mn) mn = av[P + p];
    QA_CHECK_NEAR(json_number_value(qa_json_path(o, "best.value")), mn, 0, 0);
    free(av);
    free(sh);
    free(pr);
    json_decref(o);
    kv b1[] = {{"metric", "sharpey"}};
    QA_CHECK_ERR(call(qa_apiruns_heatmap, "sw", b1, 1, &o), QA_ERR_INVALID_ARG, "metric=sharpey");
    kv b2[] = {{"x", "window"}};
    QA_CHECK_ERR(call(qa_apiruns_heatmap, "sw", b2, 1, &o), QA_ERR_INVALID_ARG, "x=window");
    kv b3[] = {{"symbol", "TSLA"}};
    QA_CHECK_ERR(call(qa_apiruns_heatmap, "sw", b3, 1, &o), QA_ERR_NOT_FOUND, "TSLA");
}

static void test_equity(void) {
    json_t *o = NULL;
    QA_CHECK_OK(call(qa_apiruns_equity, "sw", NULL, 0, &o));
    size_t N, L, Lt, one;
    double *eq = h5_all("sw", "best/runs/equity", &N, &L), *t = h5_all("sw", "time", &Lt, &one);
    json_t *e = json_object_get(o, "equity"), *tm = json_object_get(o, "time");
    QA_CHECK(eq && t && L == Lt);
    QA_CHECK_INT(json_array_size(e), L);
    QA_CHECK_INT(json_array_size(json_object_get(o, "drawdown")), L);
    if (eq && L) {
        QA_CHECK_NEAR(json_number_value(json_array_get(e, L - 1)), eq[L - 1], 0, 0);
        QA_CHECK(json_is_integer(json_array_get(tm, 0)));
        /* time as int64 ns; the double read here holds 2010's ns to within its ulp (256 ns). */
        QA_CHECK_NEAR((double)json_integer_value(json_array_get(tm, 0)), t[0], 512, 0);
    }
    json_t *ss = read_json("sw", "summary.json");
    json_t *b0 = json_array_get(json_object_get(ss, "best_runs"), 0);
    QA_CHECK_NEAR(json_number_value(json_object_get(o, "value")), json_number_value(json_object_get(b0, "value")), 0, 0);
    QA_CHECK_STR(json_string_value(json_object_get(o, "symbol")), json_string_value(json_object_get(b0, "symbol")));
    QA_CHECK(json_equal(json_object_get(o, "params"), json_object_get(b0, "params")));
    json_decref(o);
    kv k1[] = {{"kind", "sets"}, {"rank", "1"}};
    QA_CHECK_OK(call(qa_apiruns_equity, "sw", k1, 2, &o));
    json_t *s1 = json_array_get(qa_json_path(ss, "best_sets.sets"), 1);
    QA_CHECK_NEAR(json_number_value(json_object_get(o, "value")), json_number_value(json_object_get(s1, "value")), 0, 0);
    QA_CHECK_STR(json_string_value(json_object_get(o, "symbol")), "portfolio");
    json_decref(o);
    json_decref(ss);
    free(eq);
    free(t);
    kv b1[] = {{"rank", "5"}};
    QA_CHECK_ERR(call(qa_apiruns_equity, "sw", b1, 1, &o), QA_ERR_INVALID_ARG, "rank=5");
    kv b2[] = {{"kind", "best"}};
    QA_CHECK_ERR(call(qa_apiruns_equity, "sw", b2, 1, &o), QA_ERR_INVALID_ARG, "kind=best");
}

static void test_curves(void) {
    json_t *o = NULL;
    QA_CHECK_OK(call(qa_apiruns_curves, "tr", NULL, 0, &o));
    char p[1024], line[4096];
    snprintf(p, sizeof p, "%s/runs/tr/metrics.jsonl", g_tmp);
    FILE *f = fopen(p, "r");
    size_t n = 0;
    json_t *first = NULL;
    while (f && fgets(line, sizeof line, f)) {
        if (n == 0) first = json_loads(line, 0, NULL);
        n++;
    }
    if (f) fclose(f);
    QA_CHECK(n >= 4);
    QA_CHECK_INT(json_array_size(json_object_get(o, "rows")), n);
    QA_CHECK(first && json_equal(json_array_get(json_object_get(o, "rows"), 0), first));
    json_decref(first);
    json_decref(o);
    /* A corrupt line in the middle names the file and line. */
    snprintf(p, sizeof p, "%s/runs/bad-curves", g_tmp);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/runs/bad-curves/metrics.jsonl", g_tmp);
    write_file(p, "{\"step\": 1}\n{\"step\": \n{\"step\": 3}\n");
    QA_CHECK_ERR(call(qa_apiruns_curves, "bad-curves", NULL, 0, &o), QA_ERR_FORMAT, "metrics.jsonl line 2");
    /* ... while an unfinished last line (a job writing it) is left out. */
    write_file(p, "{\"step\": 1}\n{\"step\": 2}\n{\"ste");
    QA_CHECK_OK(call(qa_apiruns_curves, "bad-curves", NULL, 0, &o));
    QA_CHECK_INT(json_array_size(json_object_get(o, "rows")), 2);
    json_decref(o);
    snprintf(p, sizeof p, "rm -rf %s/runs/bad-curves", g_tmp);
    QA_CHECK(system(p) == 0);
}

static void test_stress(void) {
    json_t *o = NULL;
    QA_CHECK_OK(call(qa_apiruns_stress, "st", NULL, 0, &o));
    json_t *ss = read_json("st", "summary.json");
    json_t *methods = json_object_get(o, "methods"), *levels = json_object_get(o, "levels");
    QA_CHECK_INT(json_array_size(levels), 2);
    QA_CHECK_INT(json_array_size(methods), 3);
    for (size_t m = 0; m < json_array_size(methods); m++) {
        const char *name = json_string_value(json_array_get(methods, m));
        json_t *sm = json_object_get(json_object_get(ss, "measures"), name);
        QA_CHECK_MSG(sm != NULL, "method %s missing from summary.json", name);
        json_t *v99 = json_object_get(json_object_get(sm, "var"), "0.99");
        QA_CHECK_NEAR(json_number_value(json_array_get(json_array_get(json_object_get(o, "var"), m), 1)),
                      json_number_value(v99), 0, 0);
    }
    json_t *hv = json_object_get(json_object_get(json_object_get(json_object_get(ss, "measures"), "historical"), "var"), "0.99");
    QA_CHECK(hv != NULL);
    QA_CHECK_NEAR(json_number_value(json_array_get(json_array_get(json_object_get(o, "var"), 0), 1)), json_number_value(hv), 0, 0);
    json_t *he = json_object_get(json_object_get(json_object_get(json_object_get(ss, "measures"), "historical"), "es"), "0.95");
    QA_CHECK_NEAR(json_number_value(json_array_get(json_array_get(json_object_get(o, "es"), 0), 0)), json_number_value(he), 0, 0);
    /* Histograms for the simulated methods only; counts sum to the loss sample. */
    json_t *hists = json_object_get(o, "histograms");
    QA_CHECK_INT(json_array_size(hists), 2);
    size_t ns, one;
    double *sample = h5_all("st", "loss/historical/sample", &ns, &one);
    double total = 0;
    json_t *h0 = json_array_get(hists, 0);
    QA_CHECK_STR(json_string_value(json_object_get(h0, "method")), "historical");
    for (size_t i = 0; i < json_array_size(json_object_get(h0, "counts")); i++)
        total += json_number_value(json_array_get(json_object_get(h0, "counts"), i));
    QA_CHECK_NEAR(total, (double)ns, 0, 0);
    QA_CHECK_INT(json_array_size(json_object_get(h0, "edges")), json_array_size(json_object_get(h0, "counts")) + 1);
    free(sample);
    json_t *pos = json_object_get(o, "positions");
    QA_CHECK_INT(json_array_size(pos), 3);
    QA_CHECK_STR(json_string_value(json_object_get(json_array_get(pos, 1), "symbol")), "TLT");
    QA_CHECK_NEAR(json_number_value(json_object_get(json_array_get(pos, 1), "weight")), 0.3, 1e-12, 0);
    /* component VaR of each method sums to its VaR at each level (docs/risk.md, 1e-9). */
    json_t *cv = json_object_get(json_object_get(json_object_get(o, "contributions"), "historical"), "component_var");
    QA_CHECK_INT(json_array_size(cv), 2);
    double sum = 0;
    for (size_t i = 0; i < json_array_size(json_array_get(cv, 1)); i++) sum += json_number_value(json_array_get(json_array_get(cv, 1), i));
    QA_CHECK_NEAR(sum, json_number_value(hv), 0, 1e-9);
    json_t *lim = json_array_get(json_object_get(o, "limits"), 0);
    QA_CHECK_STR(json_string_value(json_object_get(lim, "name")), "var99");
    QA_CHECK_STR(json_string_value(json_object_get(lim, "state")), "breach"); /* max 0.1% of NAV */
    json_decref(ss);
    json_decref(o);
}

static void test_jobs(void) {
    qa_api_resp r;
    /* risk alone may not run a sweep: 403 with a message, not an error status. */
    QA_CHECK_OK(submit("{\"kind\":\"sweep\",\"config\":\"configs/stress.yaml\",\"name\":\"j1\"}", QA_ROLE_RISK, &r));
    QA_CHECK_INT(r.code, 403);
    QA_CHECK(json_is_string(json_object_get(r.json, "error")));
    json_decref(r.json);
    QA_CHECK_ERR(submit("{\"kind\":\"stress\",\"config\":\"../stress-outside.yaml\",\"name\":\"j1\"}", QA_ROLE_RISK, &r),
                 QA_ERR_INVALID_ARG, "'..'");
    char body[2048];
    snprintf(body, sizeof body, "{\"kind\":\"stress\",\"config\":\"%s/stress-outside.yaml\",\"name\":\"j1\"}", g_tmp);
    QA_CHECK_ERR(submit(body, QA_ROLE_RISK, &r), QA_ERR_INVALID_ARG, "outside");
    QA_CHECK_ERR(submit("{\"kind\":\"stress\",\"config\":\"configs/stress.yaml\",\"name\":\"sw\"}", QA_ROLE_RISK, &r),
                 QA_ERR_EXISTS, "'sw'");
    QA_CHECK_ERR(submit("{\"kind\":\"backtest\",\"config\":\"configs/stress.yaml\",\"name\":\"j1\"}", QA_ROLE_ALL, &r),
                 QA_ERR_INVALID_ARG, "backtest");
    QA_CHECK_ERR(submit("{\"kind\":\"stress\",\"config\":\"configs/stress.yaml\",\"name\":\"a/b\"}", QA_ROLE_ALL, &r),
                 QA_ERR_INVALID_ARG, "name");
    QA_CHECK_ERR(submit("{\"kind\":\"stress\",\"config\":\"configs/notes.txt\",\"name\":\"j1\"}", QA_ROLE_ALL, &r),
                 QA_ERR_INVALID_ARG, ".yaml");

    QA_CHECK_OK(submit("{\"kind\":\"stress\",\"config\":\"configs/stress.yaml\",\"name\":\"j1\"}", QA_ROLE_RISK, &r));
    QA_CHECK_INT(r.code, 202);
    QA_CHECK(json_integer_value(json_object_get(r.json, "pid")) > 0);
    QA_CHECK_STR(json_string_value(json_object_get(r.json, "run")), "j1");
    QA_CHECK(strstr(r.audit, "submit stress run=j1") != NULL);
    json_decref(r.json);
    /* The detached job writes the run; wait for run.json (a second or two on the sample). */
    char p[1024];
    snprintf(p, sizeof p, "%s/runs/j1/run.json", g_tmp);
    int waited = 0;
    while (access(p, F_OK) != 0 && waited < 600) {
        usleep(50000);
        waited++;
    }
    QA_CHECK_MSG(access(p, F_OK) == 0, "the submitted job wrote no run.json in 30 s (see %s/runs/j1/job.log)", g_tmp);
    json_t *o = NULL;
    QA_CHECK_OK(call(qa_apiruns_show, "j1", NULL, 0, &o));
    QA_CHECK_STR(json_string_value(json_object_get(o, "kind")), "stress");
    QA_CHECK_STR(json_string_value(json_object_get(o, "status")), "ok");
    json_decref(o);
    QA_CHECK_ERR(submit("{\"kind\":\"stress\",\"config\":\"configs/stress.yaml\",\"name\":\"j1\"}", QA_ROLE_RISK, &r),
                 QA_ERR_EXISTS, "j1");
    /* No binary configured: 501, and the name stays free. */
    char keep[512];
    snprintf(keep, sizeof keep, "%s", g_ctx.qa_exe);
    g_ctx.qa_exe[0] = '\0';
    QA_CHECK_ERR(submit("{\"kind\":\"stress\",\"config\":\"configs/stress.yaml\",\"name\":\"j2\"}", QA_ROLE_ALL, &r),
                 QA_ERR_UNSUPPORTED, "qa_exe");
    snprintf(g_ctx.qa_exe, sizeof g_ctx.qa_exe, "%s", keep);
    snprintf(p, sizeof p, "%s/runs/j2", g_tmp);
    QA_CHECK(access(p, F_OK) != 0);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        printf("usage: test_apiruns QA_BINARY\n");
        return 2;
    }
    snprintf(g_qa, sizeof g_qa, "%s", argv[1]);
    if (setup() != 0) {
        printf("setup failed (see %s/setup.log)\n", g_tmp);
        return 1;
    }
    QA_RUN(test_list);
    QA_RUN(test_show_and_errors);
    QA_RUN(test_top);
    QA_RUN(test_heatmap);
    QA_RUN(test_equity);
    QA_RUN(test_curves);
    QA_RUN(test_stress);
    QA_RUN(test_jobs);
    int rc = qa_test_finish();
    if (rc == 0) qa_test_rmtree(g_tmp);
    return rc;
}
