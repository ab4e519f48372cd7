/* `qa stress backtest`: rolling one-day VaR forecasts of the portfolio held at constant
 * weights (its delta exposures on the valuation date, as fractions of its value) against
 * the realised P&L of the next day, for each configured method and level; Kupiec,
 * Christoffersen and traffic-light statistics; results.h5, summary.json, report.html.
 * Forecast days are dealt round-robin over MPI ranks. */
#include <math.h>    /* exp, expm1, NAN */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, free */
#include <string.h>  /* memset */

#include "common/fs.h"          /* paths */
#include "common/json.h"        /* summary */
#include "common/log.h"         /* progress lines */
#include "common/progress.h"    /* days done */
#include "common/timer.h"       /* seconds */
#include "common/timeparse.h" /* dates */
#include "kernels/backend.h"    /* CPU backend */
#include "pipeline/run/rundir.h"    /* run directory */
#include "pipeline/stress/stress_impl.h"
#include "pipeline/stats/var_backtest.h"

/* Per-rank scratch for one forecast. */
typedef struct bt_work {
    size_t n, win, nsc;
    double *pnl;  /* max(win, nsc) */
    double *f;    /* win x n (FHS) */
    double *cov, *l, *mu, *m; /* n x n, n x n, n, n */
    double *eps;  /* nsc x n */
} bt_work;

static void work_free(bt_work *w) {
    free(w->pnl);
    free(w->f);
    free(w->cov);
    free(w->l);
    free(w->mu);
    free(w->m);
    free(w->eps);
}

static qa_status work_init(bt_work *w, size_t n, size_t win, size_t nsc) {
    memset(w, 0, sizeof *w);
    w->n = n, w->win = win, w->nsc = nsc;
    w->pnl = malloc((win > nsc ? win : nsc) * sizeof *w->pnl);
    w->f = malloc(win * n * sizeof *w->f);
    w->cov = malloc(n * n * sizeof *w->cov);
    w->l = malloc(n * n * sizeof *w->l);
    w->mu = malloc(n * sizeof *w->mu);
    w->m = malloc(n * sizeof *w->m);
    w->eps = malloc(nsc * n * sizeof *w->eps);
    if (!w->pnl || !w->f || !w->cov || !w->l || !w->mu || !w->m || !w->eps) {
        work_free(w);
        return QA_FAIL(QA_ERR_NOMEM, "backtest scratch (%zu x %zu)", nsc, n);
    }
    return QA_OK;
}

static qa_status covariance(const qa_stress_cfg *c, qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, double *cov) {
    switch (c->estimator) {
    case QA_STRESS_COV_SAMPLE: return qa_risk_cov_sample(ctx, r, t, n, cov);
    case QA_STRESS_COV_EWMA: return qa_risk_cov_ewma(ctx, r, t, n, c->ewma_lambda, 0, cov);
    default: return qa_risk_cov_ledoit_wolf(ctx, r, t, n, (qa_risk_lw_target)c->lw_target, cov, NULL);
    }
}

/* VaR (fraction of value) of method k at every level for the forecast of return t, from
 * the returns r[t - win .. t - 1]; x[s] = w'r[s] precomputed. */
static qa_status forecast(const qa_stress_cfg *c, qa_risk_ctx_t *ctx, bt_work *wk, const double *r, const double *x,
                          const double *w, size_t t, int k, double *var) {
    size_t n = wk->n, win = wk->win;
    const double *rw = r + (t - win) * n;
    qa_status st = QA_OK;
    double es;
    switch (k) {
    case QA_STRESS_HISTORICAL:
        for (size_t l = 0; l < c->bt_nlevels && st == QA_OK; l++) st = qa_risk_var_es(ctx, x + t - win, win, c->bt_levels[l], &var[l], &es);
        return st;
    case QA_STRESS_FHS:
        if ((st = qa_risk_fhs(ctx, rw, win, n, c->fhs_lambda, wk->f, NULL))) return st;
        if ((st = qa_risk_pnl_linear(ctx, wk->f, win, n, w, wk->pnl))) return st;
        for (size_t l = 0; l < c->bt_nlevels && st == QA_OK; l++) st = qa_risk_var_es(ctx, wk->pnl, win, c->bt_levels[l], &var[l], &es);
        return st;
    case QA_STRESS_PARAMETRIC:
        if ((st = covariance(c, ctx, rw, win, n, wk->cov)) || (st = qa_risk_mean(ctx, rw, win, n, wk->mu))) return st;
        for (size_t l = 0; l < c->bt_nlevels && st == QA_OK; l++) {
            qa_risk_param out;
            st = qa_risk_parametric(wk->cov, c->use_mean ? wk->mu : NULL, w, n, c->bt_levels[l], 1.0, c->param_nu, &out,
                                    NULL, NULL, NULL, NULL);
            var[l] = out.var;
        }
        return st;
    default: {
        /* Monte Carlo: z = L eps (+ mu), P&L = eps'(L'w) (+ mu'w); stream 2t keys the day. */
        if ((st = covariance(c, ctx, rw, win, n, wk->cov)) || (st = qa_risk_mean(ctx, rw, win, n, wk->mu)) ||
            (st = qa_risk_cholesky(ctx, wk->cov, n, c->jitter_max, wk->l, NULL)))
            return st;
        double mw = 0.0;
        for (size_t i = 0; i < n; i++) {
            double v = 0.0;
            for (size_t j = i; j < n; j++) v += wk->l[j * n + i] * w[j];
            wk->m[i] = v;
            mw += wk->mu[i] * w[i];
        }
        qa_risk_mc mc = {(uint64_t)c->mc_seed, 2 * (uint64_t)t, c->mc_nu ? QA_RISK_DIST_STUDENT_T : QA_RISK_DIST_NORMAL,
                         c->mc_nu};
        if ((st = qa_risk_scenarios(ctx, &mc, NULL, NULL, n, 0, wk->nsc, wk->eps)) ||
            (st = qa_risk_pnl_linear(ctx, wk->eps, wk->nsc, n, wk->m, wk->pnl)))
            return st;
        if (c->use_mean)
            for (size_t s = 0; s < wk->nsc; s++) wk->pnl[s] += mw;
        for (size_t l = 0; l < c->bt_nlevels && st == QA_OK; l++) st = qa_risk_var_es(ctx, wk->pnl, wk->nsc, c->bt_levels[l], &var[l], &es);
        return st;
    }
    }
}

static qa_status write_bt_outputs(const qa_stress_cfg *c, const char *run_dir, const qa_stress_book *b,
                                  const qa_stress_panel *panel, const size_t *dates, size_t t0, size_t nd,
                                  const double *real, const double *var, const qa_var_backtest_stats *stats,
                                  double seconds, int ranks) {
    qa_status st = QA_OK;
    size_t LV = c->bt_nlevels, K = QA_STRESS_METHOD_COUNT;
    char p[QA_PATH_MAX], d[32], d2[32], key[128];
    int64_t *time = malloc(nd * sizeof *time);
    unsigned char *hits = malloc(nd);
    double *series = malloc(4 * nd * sizeof *series);
    qa_h5_file hf = {-1, NULL, NULL}, *h = &hf;
    json_t *sum = NULL;
    qa_report_t *rep = NULL;
    if (!time || !hits || !series) QA_TRY_FAIL(QA_ERR_NOMEM, "backtest outputs");
    for (size_t i = 0; i < nd; i++) time[i] = panel->time[dates[t0 + i]];
    /* results.h5 */
    QA_TRY(qa_path_join(p, run_dir, "results.h5"));
    QA_TRY(qa_stress_h5_create(p, "quantumalpha.stress-backtest", 1, h));
    QA_TRY(qa_h5_attr_set_str(h->id, "/", "portfolio", b->pf.path));
    QA_TRY(qa_h5_attr_set_str(h->id, "/", "data", panel->path));
    QA_TRY(qa_h5_put_i64(h->id, "backtest/time", time, nd));
    QA_TRY(qa_h5_put_f64(h->id, "backtest/realised_pnl", real, nd, 0));
    QA_TRY(qa_h5_put_f64(h->id, "backtest/levels", c->bt_levels, LV, 0));
    for (size_t k = 0; k < K; k++) {
        if (!(c->bt_methods & (1u << k))) continue;
        snprintf(key, sizeof key, "backtest/%s/var", qa_stress_method_names[k]);
        QA_TRY(qa_h5_put_f64(h->id, key, var + k * LV * nd, LV, nd));
        for (size_t l = 0; l < LV; l++) {
            for (size_t i = 0; i < nd; i++) hits[i] = -real[i] > var[(k * LV + l) * nd + i];
            snprintf(key, sizeof key, "backtest/%s/hits_%g", qa_stress_method_names[k], c->bt_levels[l]);
            QA_TRY(qa_h5_put_u8(h->id, key, hits, nd));
        }
    }
    QA_TRY(qa_h5_file_commit(h, 0));
    h = NULL;
    /* summary.json */
    sum = json_object();
    json_object_set_new(sum, "portfolio", json_string(b->pf.path));
    json_object_set_new(sum, "data", json_string(panel->path));
    json_object_set_new(sum, "value", json_real(b->value));
    json_object_set_new(sum, "start", json_string(qa_time_format_iso(time[0], d, sizeof d)));
    json_object_set_new(sum, "end", json_string(qa_time_format_iso(time[nd - 1], d, sizeof d)));
    json_object_set_new(sum, "forecasts", json_integer((json_int_t)nd));
    json_object_set_new(sum, "window", json_integer(c->bt_window));
    json_t *res = json_array();
    for (size_t k = 0; k < K; k++)
        for (size_t l = 0; l < LV && (c->bt_methods & (1u << k)); l++) {
            const qa_var_backtest_stats *s = &stats[k * LV + l];
            json_t *o = json_object();
            json_object_set_new(o, "method", json_string(qa_stress_method_names[k]));
            json_object_set_new(o, "level", json_real(c->bt_levels[l]));
            json_object_set_new(o, "n", json_integer((json_int_t)s->n));
            json_object_set_new(o, "exceedances", json_integer((json_int_t)s->exceed));
            json_object_set_new(o, "expected", json_real(s->expected_rate * (double)s->n));
            json_object_set_new(o, "rate", json_real(s->rate));
            json_object_set_new(o, "kupiec_lr", json_real(s->lr_pof));
            json_object_set_new(o, "kupiec_p", json_real(s->p_pof));
            json_object_set_new(o, "christoffersen_lr", json_real(s->lr_ind));
            json_object_set_new(o, "christoffersen_p", json_real(s->p_ind));
            json_object_set_new(o, "n00", json_integer((json_int_t)s->n00));
            json_object_set_new(o, "n01", json_integer((json_int_t)s->n01));
            json_object_set_new(o, "n10", json_integer((json_int_t)s->n10));
            json_object_set_new(o, "n11", json_integer((json_int_t)s->n11));
            json_object_set_new(o, "conditional_coverage_lr", json_real(s->lr_cc));
            json_object_set_new(o, "conditional_coverage_p", json_real(s->p_cc));
            json_object_set_new(o, "zone", json_string(qa_var_zone_names[s->zone]));
            json_array_append_new(res, o);
        }
    json_object_set_new(sum, "results", res);
    json_t *pe = json_object();
    json_object_set_new(pe, "ranks", json_integer(ranks));
    json_object_set_new(pe, "seconds", json_real(seconds));
    json_object_set_new(pe, "peak_rss_mb", json_real((double)qa_peak_rss_bytes() / 1048576.0));
    json_object_set_new(sum, "performance", pe);
    QA_TRY(qa_path_join(p, run_dir, "summary.json"));
    QA_TRY(qa_json_write_file(sum, p));
    /* report.html */
    QA_TRY(qa_report_create("qa stress backtest", &rep));
    qa_report_heading(rep, "VaR backtest");
    qa_report_kv(rep, "portfolio", "%s (constant weights of the book on %s)", b->pf.path,
                 qa_time_format_iso(b->valuation, d, sizeof d));
    qa_report_kv(rep, "forecasts", "%zu one-day forecasts, %s .. %s, window %d returns", nd,
                 qa_time_format_iso(time[0], d, sizeof d), qa_time_format_iso(time[nd - 1], d2, sizeof d2), c->bt_window);
    qa_report_kv(rep, "run", "%d rank(s), %.2f s", ranks, seconds);
    {
        const char *hd[] = {"method", "level", "exceedances", "expected", "Kupiec LR", "p", "Christoffersen LR", "p",
                            "cond. coverage LR", "p", "zone"};
        qa_report_table_begin(rep, hd, 11);
        for (size_t k = 0; k < K; k++)
            for (size_t l = 0; l < LV && (c->bt_methods & (1u << k)); l++) {
                const qa_var_backtest_stats *s = &stats[k * LV + l];
                char c1[32], c2[32], c3[32], c4[32], c5[32], c6[32], c7[32], c8[32], c9[32];
                snprintf(c1, sizeof c1, "%.4g%%", 100 * c->bt_levels[l]);
                snprintf(c2, sizeof c2, "%zu (%.2f%%)", s->exceed, 100 * s->rate);
                snprintf(c3, sizeof c3, "%.1f", s->expected_rate * (double)s->n);
                snprintf(c4, sizeof c4, "%.3f", s->lr_pof);
                snprintf(c5, sizeof c5, "%.4f", s->p_pof);
                snprintf(c6, sizeof c6, "%.3f", s->lr_ind);
                snprintf(c7, sizeof c7, "%.4f", s->p_ind);
                snprintf(c8, sizeof c8, "%.3f", s->lr_cc);
                snprintf(c9, sizeof c9, "%.4f", s->p_cc);
                const char *row[] = {qa_stress_method_names[k], c1, c2, c3, c4, c5, c6, c7, c8, c9,
                                     qa_var_zone_names[s->zone], NULL};
                qa_report_table_row(rep, row);
            }
        qa_report_table_end(rep);
    }
    /* Cumulative exceedances against the expected count (first level). */
    {
        qa_report_series ser[QA_STRESS_METHOD_COUNT + 1];
        double *cum = malloc((K + 1) * nd * sizeof *cum);
        char names[QA_STRESS_METHOD_COUNT][48];
        size_t ns = 0;
        if (cum) {
            for (size_t k = 0; k < K; k++) {
                if (!(c->bt_methods & (1u << k))) continue;
                double acc = 0;
                for (size_t i = 0; i < nd; i++) {
                    acc += -real[i] > var[(k * LV) * nd + i];
                    cum[ns * nd + i] = acc;
                }
                snprintf(names[ns], sizeof names[ns], "%s", qa_stress_method_names[k]);
                ser[ns] = (qa_report_series){names[ns], NULL, time, cum + ns * nd, nd};
                ns++;
            }
            for (size_t i = 0; i < nd; i++) cum[ns * nd + i] = (1.0 - c->bt_levels[0]) * (double)(i + 1);
            ser[ns] = (qa_report_series){"expected", NULL, time, cum + ns * nd, nd};
            char title[96];
            snprintf(title, sizeof title, "Cumulative exceedances of the %.4g%% VaR", 100 * c->bt_levels[0]);
            qa_report_chart ch = {title, "date", "exceedances", 0, 0, 0};
            qa_report_line_chart(rep, &ch, ser, ns + 1);
            free(cum);
        }
    }
    /* Realised P&L against -VaR per method (first level), and the exceedance dates. */
    for (size_t k = 0; k < K; k++) {
        if (!(c->bt_methods & (1u << k))) continue;
        for (size_t i = 0; i < nd; i++) {
            series[i] = real[i];
            series[nd + i] = -var[(k * LV) * nd + i];
        }
        qa_report_series ser[2] = {{"realised P&L", NULL, time, series, nd}, {"-VaR", NULL, time, series + nd, nd}};
        char title[128];
        snprintf(title, sizeof title, "%s: daily P&L and -VaR %.4g%% (fraction of value)", qa_stress_method_names[k],
                 100 * c->bt_levels[0]);
        qa_report_chart ch = {title, "date", "P&L", 0, 0, 1};
        qa_report_line_chart(rep, &ch, ser, 2);
        const char *hd[] = {"date", "realised loss", "VaR", "excess"};
        size_t shown = 0, total = 0;
        for (size_t i = 0; i < nd; i++) total += -real[i] > var[(k * LV) * nd + i];
        qa_report_text(rep, "%s: %zu exceedances of the %.4g%% VaR; the latest 25:", qa_stress_method_names[k], total,
                       100 * c->bt_levels[0]);
        qa_report_table_begin(rep, hd, 4);
        for (size_t i = nd; i-- > 0 && shown < 25;) {
            double v = var[(k * LV) * nd + i];
            if (!(-real[i] > v)) continue;
            char a[32], bb[32], cc[32];
            snprintf(a, sizeof a, "%.3f%%", -100 * real[i]);
            snprintf(bb, sizeof bb, "%.3f%%", 100 * v);
            snprintf(cc, sizeof cc, "%.3f%%", 100 * (-real[i] - v));
            const char *row[] = {qa_time_format_iso(time[i], d, sizeof d), a, bb, cc, NULL};
            qa_report_table_row(rep, row);
            shown++;
        }
        qa_report_table_end(rep);
    }
    QA_TRY(qa_path_join(p, run_dir, "report.html"));
    QA_TRY(qa_report_write(rep, p));
cleanup:
    qa_h5_file_abort(h);
    json_decref(sum);
    qa_report_free(rep);
    free(time);
    free(hits);
    free(series);
    return st;
}

qa_status qa_stress_backtest(const qa_stress_cfg *c, const qa_comm_t *comm, const char *run_dir, int argc, char **argv) {
    qa_status st = QA_OK;
    uint64_t t_start = qa_time_ns();
    int rank = comm ? qa_comm_rank(comm) : 0, size = comm ? qa_comm_size(comm) : 1, root = rank == 0;
    qa_rundir rd;
    memset(&rd, 0, sizeof rd);
    qa_stress_book b;
    memset(&b, 0, sizeof b);
    qa_stress_panel panel;
    memset(&panel, 0, sizeof panel);
    qa_backend_t *be = NULL;
    qa_risk_ctx_t *ctx = NULL;
    qa_progress_t *prog = NULL;
    bt_work wk;
    memset(&wk, 0, sizeof wk);
    double *r = NULL, *x = NULL, *w = NULL, *real = NULL, *var = NULL;
    size_t *dates = NULL, T = 0;
    qa_var_backtest_stats *stats = NULL;
    char d[32], d2[32];

    QA_TRY(qa_rundir_open(&rd, run_dir, comm, "stress backtest", argc, argv));
    if (root) st = qa_stress_write_config(run_dir, c);
    if (comm) st = qa_comm_agree(comm, st);
    if (st != QA_OK) goto cleanup;
    QA_TRY(qa_stress_book_prepare(c, comm, &b, &panel));
    size_t n = b.n, W = (size_t)c->bt_window;
    /* Every return up to the valuation date (or backtest.end). */
    int64_t end = c->bt_end && c->bt_end < b.valuation ? c->bt_end : b.valuation;
    st = qa_stress_returns_range(&panel, b.cols, n, INT64_MIN, end, &r, &dates, &T);
    if (st == QA_ERR_NOT_FOUND) st = QA_FAIL(QA_ERR_CONFIG, "%s: no returns with prices for every portfolio asset", c->data);
    if (st != QA_OK) goto cleanup;
    size_t t0 = W;
    if (c->bt_start) {
        size_t t = 0;
        while (t < T && panel.time[dates[t]] < c->bt_start) t++;
        if (t < W)
            QA_TRY_FAIL(QA_ERR_CONFIG, "%s:%d: key 'backtest.start': a forecast on %s needs %zu returns before it, but the "
                                       "common history of the portfolio assets starts on %s (%zu returns before)",
                        c->cfg_name, c->line_bt_start, qa_time_format_iso(c->bt_start, d, sizeof d), W,
                        qa_time_format_iso(panel.time[dates[0]], d2, sizeof d2), t);
        t0 = t;
    }
    if (T < t0 + 2)
        QA_TRY_FAIL(QA_ERR_CONFIG, "%s:%d: key 'backtest.window': %zu returns leave %s forecasts in %zu returns of history "
                                   "(window longer than the history)",
                    c->cfg_name, c->line_bt_window, W, T > t0 ? "fewer than 2" : "no", T);
    size_t nd = T - t0, LV = c->bt_nlevels, K = QA_STRESS_METHOD_COUNT;
    /* Constant weights: delta exposures as fractions of the value. */
    w = malloc(n * sizeof *w);
    x = malloc(T * sizeof *x);
    real = malloc(nd * sizeof *real);
    var = calloc(K * LV * nd, sizeof *var);
    if (!w || !x || !real || !var) QA_TRY_FAIL(QA_ERR_NOMEM, "backtest (%zu days)", nd);
    for (size_t f = 0; f < n; f++) w[f] = b.w[f] / b.value;
    for (size_t t = 0; t < T; t++) {
        double s = 0.0;
        for (size_t f = 0; f < n; f++) s += w[f] * r[t * n + f];
        x[t] = s;
    }
    for (size_t i = 0; i < nd; i++) {
        double s = 0.0;
        for (size_t f = 0; f < n; f++) s += w[f] * expm1(r[(t0 + i) * n + f]);
        real[i] = s; /* realised: constant weights, simple returns */
    }
    if (root)
        qa_log_info("stress backtest: %zu one-day forecasts %s..%s, window %zu, %zu method(s) x %zu level(s), %d rank(s)",
                    nd, qa_time_format_iso(panel.time[dates[t0]], d, sizeof d),
                    qa_time_format_iso(panel.time[dates[T - 1]], d2, sizeof d2), W, (size_t)__builtin_popcount(c->bt_methods),
                    LV, size);
    QA_TRY(qa_backend_create(QA_BACKEND_CPU, 0, &be));
    qa_backend_set_threads(be, 1);
    QA_TRY(qa_risk_ctx_create(be, &ctx));
    QA_TRY(work_init(&wk, n, W, (size_t)c->bt_scenarios));
    if (root) QA_TRY(qa_progress_create("backtest", nd, "forecasts", QA_PROGRESS_AUTO, NULL, &prog));
    double lv[8];
    for (size_t i = (size_t)rank; i < nd && st == QA_OK; i += (size_t)size) {
        for (size_t k = 0; k < K && st == QA_OK; k++) {
            if (!(c->bt_methods & (1u << k))) continue;
            st = forecast(c, ctx, &wk, r, x, w, t0 + i, (int)k, lv);
            for (size_t l = 0; l < LV; l++) var[(k * LV + l) * nd + i] = lv[l];
        }
        if (prog) qa_progress_add(prog, (uint64_t)size);
    }
    if (comm) st = qa_comm_agree(comm, st);
    if (st != QA_OK) goto cleanup;
    qa_progress_finish(prog);
    /* Each forecast was computed by exactly one rank (others hold 0): the sum is exact. */
    if (comm) QA_TRY(qa_comm_allreduce_sum_f64(comm, var, K * LV * nd));
    if (root) {
        stats = calloc(K * LV, sizeof *stats);
        unsigned char *hits = malloc(nd);
        if (!stats || !hits) st = QA_FAIL(QA_ERR_NOMEM, "backtest statistics");
        for (size_t k = 0; k < K && st == QA_OK; k++) {
            if (!(c->bt_methods & (1u << k))) continue;
            for (size_t l = 0; l < LV && st == QA_OK; l++) {
                for (size_t i = 0; i < nd; i++) hits[i] = -real[i] > var[(k * LV + l) * nd + i];
                st = qa_var_backtest_evaluate(hits, nd, c->bt_levels[l], &stats[k * LV + l]);
                const qa_var_backtest_stats *s = &stats[k * LV + l];
                if (st == QA_OK)
                    qa_log_info("backtest %-10s %.4g%%: %zu exceedances of %zu (expected %.1f); Kupiec LR %.3f p %.4f; "
                                "Christoffersen LR %.3f p %.4f; cc p %.4f; %s",
                                qa_stress_method_names[k], 100 * c->bt_levels[l], s->exceed, s->n,
                                s->expected_rate * (double)s->n, s->lr_pof, s->p_pof, s->lr_ind, s->p_ind, s->p_cc,
                                qa_var_zone_names[s->zone]);
            }
        }
        free(hits);
        if (st == QA_OK)
            st = write_bt_outputs(c, run_dir, &b, &panel, dates, t0, nd, real, var, stats, qa_time_since(t_start), size);
    }
    if (comm) st = qa_comm_agree(comm, st);
cleanup:
    qa_rundir_close(&rd, st);
    qa_progress_free(prog);
    work_free(&wk);
    qa_risk_ctx_free(ctx);
    qa_backend_free(be);
    qa_stress_book_free(&b);
    qa_stress_panel_free(&panel);
    free(r);
    free(x);
    free(w);
    free(real);
    free(var);
    free(dates);
    free(stats);
    return st;
}
