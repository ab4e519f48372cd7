/* report.html of a sweep: headline numbers, the best runs and sets with equity and
 * drawdown curves, the Sharpe heatmap over two parameters, metric distributions across
 * all runs, the multiple-testing results and the walk-forward tables (pipeline/run/report.h). */
#include "pipeline/sweep/sweep_internal.h"

#include <math.h>    /* isfinite */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* malloc */
#include <string.h>  /* strlen */

#include "pipeline/run/report.h" /* HTML + SVG charts */

#define MAX_CURVES 10

static const char *fmt(char *buf, size_t size, double x, const char *spec) {
    if (!isfinite(x)) snprintf(buf, size, "-");
    else snprintf(buf, size, spec, x);
    return buf;
}

static double jnum(const json_t *o, const char *key) {
    const json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static void curves(qa_report_t *r, const qa_sweep_cfg *c, const qa_sweep_view *v, size_t n, const double *equity,
                   char (*labels)[96], const char *what) {
    size_t k = n < MAX_CURVES ? n : MAX_CURVES;
    if (k == 0) return;
    qa_report_series *s = calloc(k, sizeof *s);
    double *dd = malloc(k * v->L * sizeof *dd);
    if (!s || !dd) {
        free(s);
        free(dd);
        return;
    }
    for (size_t i = 0; i < k; i++) {
        const double *E = equity + i * v->L;
        double peak = 1.0;
        for (size_t j = 0; j < v->L; j++) {
            if (E[j] > peak) peak = E[j];
            dd[i * v->L + j] = peak > 0 ? E[j] / peak - 1.0 : 0.0;
        }
        s[i] = (qa_report_series){labels[i], NULL, v->time, E, v->L};
    }
    int logy = 1;
    for (size_t i = 0; i < k && logy; i++)
        for (size_t j = 0; j < v->L; j++)
            if (!(equity[i * v->L + j] > 0)) logy = 0;
    char title[160];
    snprintf(title, sizeof title, "Equity of the best %s (growth of 1)", what);
    qa_report_chart ch = {title, "date", "equity", logy, 0, 0};
    qa_report_line_chart(r, &ch, s, k);
    for (size_t i = 0; i < k; i++) s[i].y = dd + i * v->L;
    snprintf(title, sizeof title, "Drawdown of the best %s", what);
    qa_report_chart cd = {title, "date", "drawdown", 0, k == 1, 1};
    qa_report_line_chart(r, &cd, s, k);
    (void)c;
    free(s);
    free(dd);
}

static void metrics_table(qa_report_t *r, const qa_sweep_cfg *c, size_t n, const double *rows, char (*names)[96],
                          const char *first) {
    const char *hdr[] = {strcmp(first, "series") == 0 ? "#" : "rank", first, "Sharpe", "total return", "CAGR", "max drawdown", "Calmar", "trades", "exposure"};
    qa_report_table_begin(r, hdr, 9);
    for (size_t i = 0; i < n; i++) {
        const double *m = rows + i * QA_SWEEP_NMETRICS;
        char c0[24], c2[32], c3[32], c4[32], c5[32], c6[32], c7[32], c8[32];
        snprintf(c0, sizeof c0, "%zu", i + 1);
        fmt(c2, sizeof c2, m[3], "%.3f");
        fmt(c3, sizeof c3, m[0] * 100, "%.1f%%");
        fmt(c4, sizeof c4, m[1] * 100, "%.2f%%");
        fmt(c5, sizeof c5, m[5] * 100, "%.1f%%");
        fmt(c6, sizeof c6, m[6], "%.3f");
        fmt(c7, sizeof c7, m[12], "%.0f");
        fmt(c8, sizeof c8, m[9] * 100, "%.0f%%");
        const char *row[] = {c0, names[i], c2, c3, c4, c5, c6, c7, c8, NULL};
        qa_report_table_row(r, row);
    }
    qa_report_table_end(r);
    (void)c;
}

static void multiple_testing(qa_report_t *r, const json_t *mt) {
    qa_report_heading(r, "Multiple testing");
    char b[64];
    qa_report_text(r, "The best of many trials looks good by construction. The deflated Sharpe ratio (Bailey & "
                      "Lopez de Prado, 2014) is the probability that the selected set's true Sharpe ratio exceeds "
                      "SR0, the Sharpe ratio the best of the effective number of zero-skill trials is expected to "
                      "reach; the Reality Check (White, 2000) and SPA (Hansen, 2005) p-values test whether any set "
                      "beats the benchmark, from a stationary bootstrap of per-bar return differences.");
    qa_report_kv(r, "series tested", "%s", json_string_value(json_object_get(mt, "series")));
    qa_report_kv(r, "trials (sets with a Sharpe ratio)", "%lld", (long long)json_integer_value(json_object_get(mt, "trials")));
    qa_report_kv(r, "mean pairwise correlation", "%s", fmt(b, sizeof b, jnum(mt, "mean_correlation"), "%.3f"));
    qa_report_kv(r, "effective independent trials", "%s", fmt(b, sizeof b, jnum(mt, "effective_trials"), "%.1f"));
    const json_t *d = json_object_get(mt, "deflated_sharpe");
    if (json_is_object(d)) {
        qa_report_kv(r, "selected set (by rank metric)", "%lld", (long long)json_integer_value(json_object_get(mt, "selected_param_index")));
        qa_report_kv(r, "Sharpe ratio (annualised)", "%s", fmt(b, sizeof b, jnum(d, "sharpe"), "%.3f"));
        qa_report_kv(r, "SR0: expected best of null trials", "%s", fmt(b, sizeof b, jnum(d, "sr0"), "%.3f"));
        qa_report_kv(r, "skewness / kurtosis of returns", "%.2f / %.2f", jnum(d, "skew"), jnum(d, "kurtosis"));
        qa_report_kv(r, "probabilistic Sharpe ratio P(SR > 0)", "%s", fmt(b, sizeof b, jnum(d, "psr"), "%.4f"));
        qa_report_kv(r, "deflated Sharpe ratio P(SR > SR0)", "%s", fmt(b, sizeof b, jnum(d, "dsr"), "%.4f"));
    } else {
        qa_report_kv(r, "deflated Sharpe ratio", "undefined");
    }
    const json_t *rc = json_object_get(mt, "reality_check");
    if (json_is_object(rc)) {
        qa_report_kv(r, "benchmark", "%s", json_string_value(json_object_get(rc, "benchmark")));
        qa_report_kv(r, "bootstrap", "%lld resamples, mean block %.3g bars, seed %lld",
                     (long long)json_integer_value(json_object_get(rc, "bootstrap")), jnum(rc, "mean_block"),
                     (long long)json_integer_value(json_object_get(rc, "seed")));
        qa_report_kv(r, "White's Reality Check p-value", "%s", fmt(b, sizeof b, jnum(rc, "rc_pvalue"), "%.4f"));
        qa_report_kv(r, "Hansen's SPA p-value", "%s", fmt(b, sizeof b, jnum(rc, "spa_pvalue"), "%.4f"));
        double dsr = json_is_object(d) ? jnum(d, "dsr") : NAN, p = jnum(rc, "spa_pvalue");
        qa_report_text(r, "%s", (dsr > 0.95 && p < 0.05)
                                    ? "Verdict: the best set survives both guards (DSR > 0.95, SPA p < 0.05)."
                                    : "Verdict: the best set does not survive the multiple-testing guards at the 5% "
                                      "level; treat its in-sample performance as selection luck until shown otherwise.");
    }
}

static void walk_forward(qa_report_t *r, const qa_sweep_cfg *c, const qa_sweep_view *v) {
    const qa_sweep_wf_out *w = v->wf;
    qa_report_heading(r, "Walk-forward");
    qa_report_text(r, "%s windows: train %lld bars, test %lld bars, step %lld bars; the best set by %s is chosen in "
                      "sample %s and evaluated on the next window (starting flat). IS and OOS columns are %s (means "
                      "over symbols when selecting per symbol); gap = IS - OOS.",
                   c->wf.anchored ? "Anchored" : "Rolling", c->wf.train, c->wf.test, c->wf.step,
                   qa_sweep_metric_names[c->wf.metric], c->wf.per_portfolio ? "for the portfolio" : "per symbol",
                   qa_sweep_metric_names[c->wf.metric]);
    const char *hdr[] = {"window", "train", "test", "chosen set", "IS", "OOS", "gap"};
    qa_report_table_begin(r, hdr, 7);
    size_t nw = json_array_size(w->windows);
    for (size_t k = 0; k < nw; k++) {
        const json_t *o = json_array_get(w->windows, k);
        char c0[24], c1[64], c2[64], c3[200] = "-", c4[32], c5[32], c6[32];
        snprintf(c0, sizeof c0, "%zu", k);
        snprintf(c1, sizeof c1, "%s .. %s", json_string_value(json_object_get(o, "train_start")),
                 json_string_value(json_object_get(o, "train_end")));
        snprintf(c2, sizeof c2, "%s .. %s", json_string_value(json_object_get(o, "test_start")),
                 json_string_value(json_object_get(o, "test_end")));
        json_int_t pi = json_integer_value(json_object_get(o, "param_index"));
        if (json_is_integer(json_object_get(o, "param_index")) && pi >= 0) {
            qa_sweep_params_text(c, (size_t)pi, c3, sizeof c3);
            if (json_object_get(o, "chosen_by"))
                snprintf(c3 + strlen(c3), sizeof c3 - strlen(c3), " (%lld of %zu symbols)",
                         (long long)json_integer_value(json_object_get(o, "chosen_by")), c->nsym);
        }
        fmt(c4, sizeof c4, jnum(o, "is"), "%.3f");
        fmt(c5, sizeof c5, jnum(o, "oos"), "%.3f");
        fmt(c6, sizeof c6, jnum(o, "gap"), "%.3f");
        const char *row[] = {c0, c1, c2, c3, c4, c5, c6, NULL};
        qa_report_table_row(r, row);
    }
    qa_report_table_end(r);
    qa_report_text(r, "Stitched out-of-sample performance (the test windows back to back):");
    size_t ns = json_array_size(w->stitched);
    double *rows = malloc((ns ? ns : 1) * QA_SWEEP_NMETRICS * sizeof *rows);
    char(*names)[96] = calloc(ns ? ns : 1, sizeof *names);
    if (rows && names) {
        for (size_t i = 0; i < ns; i++) {
            const json_t *o = json_array_get(w->stitched, i);
            for (int m = 0; m < QA_SWEEP_NMETRICS; m++) rows[i * QA_SWEEP_NMETRICS + m] = jnum(o, qa_sweep_metric_names[m]);
            snprintf(names[i], 96, "%s", json_string_value(json_object_get(o, "series")));
        }
        metrics_table(r, c, ns, rows, names, "series");
        size_t k = ns < MAX_CURVES ? ns : MAX_CURVES;
        qa_report_series *s = calloc(k ? k : 1, sizeof *s);
        if (s && k) {
            for (size_t i = 0; i < k; i++) s[i] = (qa_report_series){names[i], NULL, w->time, w->equity + i * w->len, w->len};
            qa_report_chart ch = {"Stitched out-of-sample equity", "date", "equity", 0, 0, 0};
            qa_report_line_chart(r, &ch, s, k);
        }
        free(s);
    }
    free(rows);
    free(names);
}

static void report_run(qa_report_t *r, const qa_sweep_cfg *c, const qa_sweep_view *v) {
    const json_t *sum = v->summary, *cnt = json_object_get(sum, "counts"), *tim = json_object_get(sum, "timing");
    char b[64];
    qa_report_heading(r, "Run");
    qa_report_kv(r, "strategy", "%s", qa_sweep_strategy_name(c->strategy));
    qa_report_kv(r, "range", "%s .. %s (%zu bars)", json_string_value(json_object_get(sum, "start")),
                 json_string_value(json_object_get(sum, "end")), v->L);
    qa_report_kv(r, "symbols x parameter sets", "%zu x %zu = %lld runs", c->strategy == QA_SWEEP_XS ? (size_t)1 : c->nsym,
                 c->nparams, (long long)json_integer_value(json_object_get(cnt, "runs")));
    if (c->dropped) qa_report_kv(r, "inconsistent combinations dropped", "%zu", c->dropped);
    qa_report_kv(r, "ranked by", "%s", qa_sweep_metric_names[c->rank_metric]);
    qa_report_kv(r, "costs", "commission %.3g bp + half spread %.3g bp per unit traded", c->bt.commission_bps,
                 c->bt.half_spread_bps);
    if (json_is_object(tim)) {
        const json_t *bk = json_object_get(tim, "backend");
        qa_report_kv(r, "engine", "%s, %lld rank(s)", json_is_string(bk) ? json_string_value(bk) : "?",
                     (long long)json_integer_value(json_object_get(tim, "ranks")));
        qa_report_kv(r, "evaluations (bar x set x symbol)", "%.4g", jnum(tim, "evaluations"));
        qa_report_kv(r, "compute", "%s s, %s evaluations/s", fmt(b, sizeof b, jnum(tim, "compute_s"), "%.3f"),
                     fmt(b + 32, 32, jnum(tim, "evals_per_s"), "%.3g"));
        qa_report_kv(r, "merge", "%s s", fmt(b, sizeof b, jnum(tim, "merge_s"), "%.3f"));
    }
    qa_report_kv(r, "config hash", "%.16s", c->config_hash);
}

/* Best parameter sets: metrics and curves when sets were computed, else the ranking of
 * the mean over symbols. names: one label buffer per set. */
static void report_sets(qa_report_t *r, const qa_sweep_cfg *c, const qa_sweep_view *v, char (*names)[96]) {
    const json_t *bs = json_object_get(json_object_get(v->summary, "best_sets"), "sets");
    size_t ns = json_array_size(bs);
    qa_report_heading(r, "Best parameter sets");
    qa_report_text(r, "Ranked by %s of the %s.", qa_sweep_metric_names[c->rank_metric], v->set_source);
    for (size_t i = 0; i < ns; i++)
        qa_sweep_params_text(c, (size_t)json_integer_value(json_object_get(json_array_get(bs, i), "param_index")),
                             names[i], 96);
    if (v->nsets) {
        metrics_table(r, c, v->nsets, v->set_metrics, names, "parameter set");
        curves(r, c, v, v->nsets, v->set_equity, names, "sets (portfolio)");
        return;
    }
    const char *hdr[] = {"rank", "parameter set", qa_sweep_metric_names[c->rank_metric]};
    qa_report_table_begin(r, hdr, 3);
    for (size_t i = 0; i < ns; i++) {
        char c0[24], c2[32];
        snprintf(c0, sizeof c0, "%zu", i + 1);
        fmt(c2, sizeof c2, jnum(json_array_get(bs, i), "value"), "%.4f");
        const char *row[] = {c0, names[i], c2, NULL};
        qa_report_table_row(r, row);
    }
    qa_report_table_end(r);
}

static void report_heatmap(qa_report_t *r, const qa_sweep_cfg *c, const qa_sweep_view *v) {
    const char **rl = malloc(v->nh0 * sizeof *rl), **cl = malloc(v->nh1 * sizeof *cl);
    if (rl && cl) {
        for (size_t i = 0; i < v->nh0; i++) rl[i] = v->heat_labels0[i];
        for (size_t j = 0; j < v->nh1; j++) cl[j] = v->heat_labels1[j];
        char t[160];
        snprintf(t, sizeof t, "Sharpe ratio (%s) over %s x %s",
                 c->strategy == QA_SWEEP_XS || v->nsets ? v->set_source : "mean over symbols",
                 c->slot_names[c->heat[0]], c->slot_names[c->heat[1]]);
        qa_report_heading(r, "Parameter landscape");
        qa_report_heatmap(r, t, v->heat, v->nh0, v->nh1, rl, cl, c->slot_names[c->heat[0]], c->slot_names[c->heat[1]],
                          0.0);
    }
    free(rl);
    free(cl);
}

/* Histograms of Sharpe, total return and drawdown over all runs, the best run marked. */
static void report_distributions(qa_report_t *r, const qa_sweep_view *v) {
    size_t n = v->nhist, nr = v->nruns;
    qa_report_heading(r, "Distributions across all runs");
    double *x = malloc(n * sizeof *x);
    /* Total returns compound: their distribution is shown as log10(1 + total return)
     * (ruined runs, at -100%, are left out of that histogram). */
    const char *titles[3] = {"Sharpe ratio", "Total return (log scale)", "Max drawdown"};
    const char *xl[3] = {"annualised Sharpe", "log10(1 + total return): 0 = flat, 1 = x10, -1 = -90%", "max drawdown"};
    for (int h = 0; h < 3 && x; h++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            double y = h == 1 ? log10(1.0 + v->hist[h][i]) : v->hist[h][i];
            if (isfinite(y)) x[k++] = y;
        }
        if (k == 0) continue;
        double mk[1] = {h == 0 && nr ? v->run_metrics[3] : h == 1 && nr ? log10(1.0 + v->run_metrics[0])
                                                         : nr ? v->run_metrics[5] : 0};
        const char *ml[1] = {"best run"};
        qa_report_histogram(r, titles[h], xl[h], x, k, 40, mk, ml, nr ? 1 : 0);
    }
    free(x);
}

qa_status qa_sweep_report_write(const qa_sweep_cfg *c, const qa_sweep_view *v, const char *path) {
    char title[256];
    snprintf(title, sizeof title, "Sweep: %s on %s", qa_sweep_strategy_name(c->strategy), c->data);
    qa_report_t *r = NULL;
    QA_TRY_RET(qa_report_create(title, &r));
    size_t nr = v->nruns;
    char(*names)[96] = calloc((nr > v->nsets ? nr : v->nsets) + c->top + 1, sizeof *names);
    if (!names) {
        qa_report_free(r);
        return QA_FAIL(QA_ERR_NOMEM, "report labels");
    }
    report_run(r, c, v);
    qa_report_heading(r, "Best runs (symbol, parameter set)");
    for (size_t i = 0; i < nr; i++) {
        char pt[80];
        qa_sweep_params_text(c, v->run_p[i], pt, sizeof pt);
        snprintf(names[i], 96, "%s %s", c->strategy == QA_SWEEP_XS ? "xs_topk" : c->sym_names[v->run_s[i]], pt);
    }
    metrics_table(r, c, nr, v->run_metrics, names, "run");
    curves(r, c, v, nr, v->run_equity, names, "runs");
    if (c->strategy != QA_SWEEP_XS) report_sets(r, c, v, names);
    if (v->heat) report_heatmap(r, c, v);
    if (v->nhist > 0) report_distributions(r, v);
    const json_t *mt = json_object_get(v->summary, "multiple_testing");
    if (json_is_object(mt)) multiple_testing(r, mt);
    if (v->wf) walk_forward(r, c, v);
    free(names);
    qa_status st = qa_report_write(r, path);
    qa_report_free(r);
    return st;
}
