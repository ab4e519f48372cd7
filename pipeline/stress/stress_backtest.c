/* `qa stress backtest`: rolling one-day VaR forecasts of the portfolio held at constant
 * weights (its delta exposures on the valuation date, as fractions of its value) against
 * the realised P&L of the next day (simple returns), for each configured method and level,
 * the scenarios revalued by the configured model (full by default: w (e^x - 1)); Kupiec,
 * Christoffersen and traffic-light statistics; results.h5, summary.json, report.html.
 * Forecast days are dealt round-robin over MPI ranks. */
#include <math.h>    /* exp, expm1, NAN */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, free */
#include <string.h>  /* memset */

#include "common/fs.h"          /* paths */
#include "common/json.h"        /* summary */
#include "common/log.h"         /* progress lines */
#include "common/mem.h"
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
    double *feat; /* max(win, nsc) x width: the revaluation features (full, delta-gamma) */
    double *wf;   /* width: the weights per feature ([w] or [w, w/2]) */
    qa_risk_reval mode;
    size_t width;
} bt_work;

static void work_free(bt_work *w) {
    QA_FREE_ALL(w->pnl, w->f, w->cov, w->l, w->mu, w->m, w->eps, w->feat, w->wf);
}

static qa_status work_init(bt_work *w, size_t n, size_t win, size_t nsc, qa_risk_reval mode, const double *weights) {
    memset(w, 0, sizeof *w);
    w->n = n, w->win = win, w->nsc = nsc;
    w->mode = mode;
    w->width = qa_risk_reval_width(mode, n);
    w->feat = malloc((win > nsc ? win : nsc) * w->width * sizeof *w->feat);
    w->wf = malloc(w->width * sizeof *w->wf);
    if (w->wf)
        for (size_t k = 0; k < w->width; k++) w->wf[k] = k < n ? weights[k] : 0.5 * weights[k - n];
    w->pnl = malloc((win > nsc ? win : nsc) * sizeof *w->pnl);
    w->f = malloc(win * n * sizeof *w->f);
    w->cov = malloc(n * n * sizeof *w->cov);
    w->l = malloc(n * n * sizeof *w->l);
    w->mu = malloc(n * sizeof *w->mu);
    w->m = malloc(n * sizeof *w->m);
    w->eps = malloc(nsc * n * sizeof *w->eps);
    if (!w->pnl || !w->f || !w->cov || !w->l || !w->mu || !w->m || !w->eps || !w->feat || !w->wf) {
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
        if (wk->mode == QA_RISK_REVAL_DELTA)
            st = qa_risk_pnl_linear(ctx, wk->f, win, n, w, wk->pnl);
        else if ((st = qa_risk_reval_features(ctx, wk->mode, wk->f, win, n, wk->feat)) == QA_OK)
            st = qa_risk_pnl_linear(ctx, wk->feat, win, wk->width, wk->wf, wk->pnl);
        if (st != QA_OK) return st;
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
        /* Monte Carlo: z = L eps (+ mu); stream 2t keys the day. Full and delta-gamma revalue
         * each asset's move z; delta folds L into the weights: P&L = eps'(L'w) (+ mu'w). */
        if ((st = covariance(c, ctx, rw, win, n, wk->cov)) || (st = qa_risk_mean(ctx, rw, win, n, wk->mu)) ||
            (st = qa_risk_cholesky(ctx, wk->cov, n, c->jitter_max, wk->l, NULL)))
            return st;
        if (wk->mode != QA_RISK_REVAL_DELTA) {
            qa_risk_mc mc = {(uint64_t)c->mc_seed, 2 * (uint64_t)t,
                             c->mc_nu ? QA_RISK_DIST_STUDENT_T : QA_RISK_DIST_NORMAL, c->mc_nu};
            if ((st = qa_risk_scenarios(ctx, &mc, wk->l, c->use_mean ? wk->mu : NULL, n, 0, wk->nsc, wk->eps)) ||
                (st = qa_risk_reval_features(ctx, wk->mode, wk->eps, wk->nsc, n, wk->feat)) ||
                (st = qa_risk_pnl_linear(ctx, wk->feat, wk->nsc, wk->width, wk->wf, wk->pnl)))
                return st;
            for (size_t l = 0; l < c->bt_nlevels && st == QA_OK; l++)
                st = qa_risk_var_es(ctx, wk->pnl, wk->nsc, c->bt_levels[l], &var[l], &es);
            return st;
        }
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

/* ---- the run --------------------------------------------------------------------------------- */

typedef struct bt_run {
    const qa_stress_cfg *c;
    const qa_comm_t *comm;
    const char *dir;
    int rank, size, root;
    qa_rundir rd;
    qa_stress_book b;
    qa_stress_panel panel;
    double *r;                    /* every return up to the end (T x n) */
    size_t *dates, T;             /* their time indices */
    size_t t0, nd, LV;            /* first forecast, forecasts, levels */
    double *w;                    /* n: constant weights (delta exposure / value) */
    double *x;                    /* T: portfolio log-return at constant weights */
    double *real;                 /* nd: realised P&L (simple returns) */
    double *var;                  /* K x LV x nd: VaR forecasts (fraction of value) */
    int64_t *time;                /* nd: forecast dates */
    qa_var_backtest_stats *stats; /* K x LV (rank 0) */
    double seconds;
} bt_run;

static void bt_free(bt_run *s, qa_status st) {
    qa_rundir_close(&s->rd, st);
    qa_stress_book_free(&s->b);
    qa_stress_panel_free(&s->panel);
    QA_FREE_ALL(s->r, s->dates, s->w, s->x, s->real, s->var, s->time, s->stats);
}

static int method_on(const qa_stress_cfg *c, size_t k) { return (c->bt_methods & (1u << k)) != 0; }

/* VaR forecast of method k at level l for forecast i. */
static double var_at(const bt_run *s, size_t k, size_t l, size_t i) { return s->var[(k * s->LV + l) * s->nd + i]; }

/* The book, every common return up to the valuation date (or backtest.end), and the first
 * forecast: backtest.start, else the first day with a full window before it. */
static qa_status bt_history(bt_run *s) {
    const qa_stress_cfg *c = s->c;
    char d[32], d2[32];
    QA_TRY_RET(qa_stress_book_prepare(c, s->comm, &s->b, &s->panel));
    size_t W = (size_t)c->bt_window;
    int64_t end = c->bt_end && c->bt_end < s->b.valuation ? c->bt_end : s->b.valuation;
    qa_status st = qa_stress_returns_range(&s->panel, s->b.cols, s->b.n, INT64_MIN, end, &s->r, &s->dates, &s->T);
    if (st == QA_ERR_NOT_FOUND)
        return QA_FAIL(QA_ERR_CONFIG, "%s: no returns with prices for every portfolio asset", c->data);
    QA_TRY_RET(st);
    s->t0 = W;
    if (c->bt_start) {
        size_t t = 0;
        while (t < s->T && s->panel.time[s->dates[t]] < c->bt_start) t++;
        if (t < W)
            return QA_FAIL(QA_ERR_CONFIG, "%s: key 'backtest.start': a forecast on %s needs %zu returns before it, "
                                          "but the common history of the portfolio assets starts on %s (%zu returns "
                                          "before)",
                           QA_STRESS_AT(c, c->line_bt_start), qa_time_format_iso(c->bt_start, d, sizeof d), W,
                           qa_time_format_iso(s->panel.time[s->dates[0]], d2, sizeof d2), t);
        s->t0 = t;
    }
    if (s->T < s->t0 + 2)
        return QA_FAIL(QA_ERR_CONFIG, "%s: key 'backtest.window': %zu returns leave %s forecasts in %zu returns of "
                                      "history (window longer than the history)",
                       QA_STRESS_AT(c, c->line_bt_window), W, s->T > s->t0 ? "fewer than 2" : "no", s->T);
    s->nd = s->T - s->t0;
    s->LV = c->bt_nlevels;
    return QA_OK;
}

/* Constant weights (delta exposures as fractions of the value), the portfolio's log-return
 * series and its realised P&L on the forecast days. */
static qa_status bt_series(bt_run *s) {
    size_t n = s->b.n, T = s->T, nd = s->nd;
    s->w = malloc(n * sizeof *s->w);
    s->x = malloc(T * sizeof *s->x);
    s->real = malloc(nd * sizeof *s->real);
    s->var = calloc(QA_STRESS_METHOD_COUNT * s->LV * nd, sizeof *s->var);
    s->time = malloc(nd * sizeof *s->time);
    if (!s->w || !s->x || !s->real || !s->var || !s->time) return QA_FAIL(QA_ERR_NOMEM, "backtest (%zu days)", nd);
    for (size_t f = 0; f < n; f++) s->w[f] = s->b.w[f] / s->b.value;
    /* Historical scenarios: the day's P&L (fraction of value) under the revaluation model. */
    int mode = s->c->reval;
    for (size_t t = 0; t < T; t++) {
        double v = 0.0;
        for (size_t f = 0; f < n; f++) {
            double x = s->r[t * n + f];
            v += s->w[f] * (mode == QA_RISK_REVAL_FULL ? expm1(x) : mode == QA_RISK_REVAL_DELTA ? x : x + 0.5 * x * x);
        }
        s->x[t] = v;
    }
    for (size_t i = 0; i < nd; i++) {
        double v = 0.0;
        for (size_t f = 0; f < n; f++) v += s->w[f] * expm1(s->r[(s->t0 + i) * n + f]);
        s->real[i] = v; /* realised: constant weights, simple returns */
        s->time[i] = s->panel.time[s->dates[s->t0 + i]];
    }
    return QA_OK;
}

/* Every forecast, dealt round-robin over the ranks on a 1-thread CPU context (bits
 * independent of ranks), then summed: each forecast was computed by exactly one rank
 * (the others hold 0), so the sum is exact. */
static qa_status bt_forecasts(bt_run *s) {
    const qa_stress_cfg *c = s->c;
    qa_status st = QA_OK;
    qa_backend_t *be = NULL;
    qa_risk_ctx_t *ctx = NULL;
    qa_progress_t *prog = NULL;
    bt_work wk;
    memset(&wk, 0, sizeof wk);
    QA_TRY(qa_backend_create(QA_BACKEND_CPU, 0, &be));
    qa_backend_set_threads(be, 1);
    QA_TRY(qa_risk_ctx_create(be, &ctx));
    QA_TRY(work_init(&wk, s->b.n, (size_t)c->bt_window, (size_t)c->bt_scenarios, (qa_risk_reval)c->reval, s->w));
    if (s->root) QA_TRY(qa_progress_create("backtest", s->nd, "forecasts", QA_PROGRESS_AUTO, NULL, &prog));
    /* forecast fills s->LV == c->bt_nlevels entries; zeroed so that a failed forecast,
     * which stops at the failing level, copies defined values before the loop ends. */
    double lv[QA_STRESS_MAX_BT_LEVELS] = {0};
    for (size_t i = (size_t)s->rank; i < s->nd && st == QA_OK; i += (size_t)s->size) {
        for (size_t k = 0; k < QA_STRESS_METHOD_COUNT && st == QA_OK; k++) {
            if (!method_on(c, k)) continue;
            st = forecast(c, ctx, &wk, s->r, s->x, s->w, s->t0 + i, (int)k, lv);
            for (size_t l = 0; l < s->LV; l++) s->var[(k * s->LV + l) * s->nd + i] = lv[l];
        }
        if (prog) qa_progress_add(prog, (uint64_t)s->size);
    }
    st = qa_comm_agree(s->comm, st);
    if (st != QA_OK) goto cleanup;
    qa_progress_finish(prog);
    QA_TRY(qa_comm_allreduce_sum_f64(s->comm, s->var, QA_STRESS_METHOD_COUNT * s->LV * s->nd));
cleanup:
    qa_progress_free(prog);
    work_free(&wk);
    qa_risk_ctx_free(ctx);
    qa_backend_free(be);
    return st;
}

/* Kupiec, Christoffersen and traffic-light statistics per method and level (rank 0). */
static qa_status bt_statistics(bt_run *s) {
    const qa_stress_cfg *c = s->c;
    qa_status st = QA_OK;
    s->stats = calloc(QA_STRESS_METHOD_COUNT * s->LV, sizeof *s->stats);
    unsigned char *hits = malloc(s->nd);
    if (!s->stats || !hits) st = QA_FAIL(QA_ERR_NOMEM, "backtest statistics");
    for (size_t k = 0; k < QA_STRESS_METHOD_COUNT && st == QA_OK; k++) {
        if (!method_on(c, k)) continue;
        for (size_t l = 0; l < s->LV && st == QA_OK; l++) {
            for (size_t i = 0; i < s->nd; i++) hits[i] = -s->real[i] > var_at(s, k, l, i);
            const qa_var_backtest_stats *v = &s->stats[k * s->LV + l];
            st = qa_var_backtest_evaluate(hits, s->nd, c->bt_levels[l], &s->stats[k * s->LV + l]);
            if (st == QA_OK)
                qa_log_info("backtest %-10s %.4g%%: %zu exceedances of %zu (expected %.1f); Kupiec LR %.3f p %.4f; "
                            "Christoffersen LR %.3f p %.4f; cc p %.4f; %s",
                            qa_stress_method_names[k], 100 * c->bt_levels[l], v->exceed, v->n,
                            v->expected_rate * (double)v->n, v->lr_pof, v->p_pof, v->lr_ind, v->p_ind, v->p_cc,
                            qa_var_zone_names[v->zone]);
        }
    }
    free(hits);
    return st;
}

/* ---- outputs (rank 0) -------------------------------------------------------------------------- */

static qa_status bt_write_h5(const bt_run *s) {
    const qa_stress_cfg *c = s->c;
    size_t nd = s->nd, LV = s->LV;
    char p[QA_PATH_MAX], key[128];
    qa_status st = QA_OK;
    qa_h5_file hf = {-1, NULL, NULL}, *h = &hf;
    unsigned char *hits = malloc(nd);
    if (!hits) QA_TRY_FAIL(QA_ERR_NOMEM, "backtest outputs");
    QA_TRY(qa_path_join(p, s->dir, "results.h5"));
    QA_TRY(qa_stress_h5_create(p, "quantumalpha.stress-backtest", 1, h));
    QA_TRY(qa_h5_attr_set_str(h->id, "/", "portfolio", s->b.pf.path));
    QA_TRY(qa_h5_attr_set_str(h->id, "/", "data", s->panel.path));
    QA_TRY(qa_h5_put_i64(h->id, "backtest/time", s->time, nd));
    QA_TRY(qa_h5_put_f64(h->id, "backtest/realised_pnl", s->real, nd, 0));
    QA_TRY(qa_h5_put_f64(h->id, "backtest/levels", c->bt_levels, LV, 0));
    for (size_t k = 0; k < QA_STRESS_METHOD_COUNT; k++) {
        if (!method_on(c, k)) continue;
        snprintf(key, sizeof key, "backtest/%s/var", qa_stress_method_names[k]);
        QA_TRY(qa_h5_put_f64(h->id, key, s->var + k * LV * nd, LV, nd));
        for (size_t l = 0; l < LV; l++) {
            for (size_t i = 0; i < nd; i++) hits[i] = -s->real[i] > var_at(s, k, l, i);
            snprintf(key, sizeof key, "backtest/%s/hits_%g", qa_stress_method_names[k], c->bt_levels[l]);
            QA_TRY(qa_h5_put_u8(h->id, key, hits, nd));
        }
    }
    QA_TRY(qa_h5_file_commit(h, 0));
    h = NULL;
cleanup:
    qa_h5_file_abort(h);
    free(hits);
    return st;
}

static json_t *stats_json(const char *method, double level, const qa_var_backtest_stats *v) {
    json_t *o = json_object();
    json_object_set_new(o, "method", json_string(method));
    json_object_set_new(o, "level", json_real(level));
    json_object_set_new(o, "n", json_integer((json_int_t)v->n));
    json_object_set_new(o, "exceedances", json_integer((json_int_t)v->exceed));
    json_object_set_new(o, "expected", json_real(v->expected_rate * (double)v->n));
    json_object_set_new(o, "rate", json_real(v->rate));
    json_object_set_new(o, "kupiec_lr", json_real(v->lr_pof));
    json_object_set_new(o, "kupiec_p", json_real(v->p_pof));
    json_object_set_new(o, "christoffersen_lr", json_real(v->lr_ind));
    json_object_set_new(o, "christoffersen_p", json_real(v->p_ind));
    json_object_set_new(o, "n00", json_integer((json_int_t)v->n00));
    json_object_set_new(o, "n01", json_integer((json_int_t)v->n01));
    json_object_set_new(o, "n10", json_integer((json_int_t)v->n10));
    json_object_set_new(o, "n11", json_integer((json_int_t)v->n11));
    json_object_set_new(o, "conditional_coverage_lr", json_real(v->lr_cc));
    json_object_set_new(o, "conditional_coverage_p", json_real(v->p_cc));
    json_object_set_new(o, "zone", json_string(qa_var_zone_names[v->zone]));
    return o;
}

static qa_status bt_write_summary(const bt_run *s) {
    const qa_stress_cfg *c = s->c;
    char p[QA_PATH_MAX], d[32];
    json_t *sum = json_object();
    json_object_set_new(sum, "portfolio", json_string(s->b.pf.path));
    json_object_set_new(sum, "data", json_string(s->panel.path));
    json_object_set_new(sum, "value", json_real(s->b.value));
    json_object_set_new(sum, "start", json_string(qa_time_format_iso(s->time[0], d, sizeof d)));
    json_object_set_new(sum, "end", json_string(qa_time_format_iso(s->time[s->nd - 1], d, sizeof d)));
    json_object_set_new(sum, "forecasts", json_integer((json_int_t)s->nd));
    json_object_set_new(sum, "window", json_integer(c->bt_window));
    json_t *res = json_array();
    for (size_t k = 0; k < QA_STRESS_METHOD_COUNT; k++)
        for (size_t l = 0; l < s->LV && method_on(c, k); l++)
            json_array_append_new(res, stats_json(qa_stress_method_names[k], c->bt_levels[l], &s->stats[k * s->LV + l]));
    json_object_set_new(sum, "results", res);
    json_t *pe = json_object();
    json_object_set_new(pe, "ranks", json_integer(s->size));
    json_object_set_new(pe, "seconds", json_real(s->seconds));
    json_object_set_new(pe, "peak_rss_mb", json_real((double)qa_peak_rss_bytes() / 1048576.0));
    json_object_set_new(sum, "performance", pe);
    qa_status st = qa_path_join(p, s->dir, "summary.json");
    if (st == QA_OK) st = qa_json_write_file(sum, p);
    json_decref(sum);
    return st;
}

static void report_stats_table(qa_report_t *rep, const bt_run *s) {
    const qa_stress_cfg *c = s->c;
    const char *hd[] = {"method", "level", "exceedances", "expected", "Kupiec LR", "p", "Christoffersen LR", "p",
                        "cond. coverage LR", "p", "zone"};
    qa_report_table_begin(rep, hd, 11);
    for (size_t k = 0; k < QA_STRESS_METHOD_COUNT; k++)
        for (size_t l = 0; l < s->LV && method_on(c, k); l++) {
            const qa_var_backtest_stats *v = &s->stats[k * s->LV + l];
            char c1[32], c2[32], c3[32], c4[32], c5[32], c6[32], c7[32], c8[32], c9[32];
            snprintf(c1, sizeof c1, "%.4g%%", 100 * c->bt_levels[l]);
            snprintf(c2, sizeof c2, "%zu (%.2f%%)", v->exceed, 100 * v->rate);
            snprintf(c3, sizeof c3, "%.1f", v->expected_rate * (double)v->n);
            snprintf(c4, sizeof c4, "%.3f", v->lr_pof);
            snprintf(c5, sizeof c5, "%.4f", v->p_pof);
            snprintf(c6, sizeof c6, "%.3f", v->lr_ind);
            snprintf(c7, sizeof c7, "%.4f", v->p_ind);
            snprintf(c8, sizeof c8, "%.3f", v->lr_cc);
            snprintf(c9, sizeof c9, "%.4f", v->p_cc);
            const char *row[] = {qa_stress_method_names[k], c1, c2, c3, c4, c5, c6, c7, c8, c9,
                                 qa_var_zone_names[v->zone], NULL};
            qa_report_table_row(rep, row);
        }
    qa_report_table_end(rep);
}

/* Cumulative exceedances against the expected count (first level). */
static void report_cumulative(qa_report_t *rep, const bt_run *s) {
    const qa_stress_cfg *c = s->c;
    size_t nd = s->nd, K = QA_STRESS_METHOD_COUNT, ns = 0;
    qa_report_series ser[QA_STRESS_METHOD_COUNT + 1];
    double *cum = malloc((K + 1) * nd * sizeof *cum);
    if (!cum) return; /* the chart is left out; the tables above carry the numbers */
    for (size_t k = 0; k < K; k++) {
        if (!method_on(c, k)) continue;
        double acc = 0;
        for (size_t i = 0; i < nd; i++) {
            acc += -s->real[i] > var_at(s, k, 0, i);
            cum[ns * nd + i] = acc;
        }
        ser[ns] = (qa_report_series){qa_stress_method_names[k], NULL, s->time, cum + ns * nd, nd};
        ns++;
    }
    for (size_t i = 0; i < nd; i++) cum[ns * nd + i] = (1.0 - c->bt_levels[0]) * (double)(i + 1);
    ser[ns] = (qa_report_series){"expected", NULL, s->time, cum + ns * nd, nd};
    char title[96];
    snprintf(title, sizeof title, "Cumulative exceedances of the %.4g%% VaR", 100 * c->bt_levels[0]);
    qa_report_chart ch = {title, "date", "exceedances", 0, 0, 0};
    qa_report_line_chart(rep, &ch, ser, ns + 1);
    free(cum);
}

/* Realised P&L against -VaR of method k (first level), and its latest exceedances. */
static void report_method(qa_report_t *rep, const bt_run *s, size_t k, double *series) {
    const qa_stress_cfg *c = s->c;
    const char *name = qa_stress_method_names[k];
    size_t nd = s->nd, shown = 0, total = 0;
    char title[128], d[32];
    for (size_t i = 0; i < nd; i++) {
        series[i] = s->real[i];
        series[nd + i] = -var_at(s, k, 0, i);
        total += -s->real[i] > var_at(s, k, 0, i);
    }
    qa_report_series ser[2] = {{"realised P&L", NULL, s->time, series, nd}, {"-VaR", NULL, s->time, series + nd, nd}};
    snprintf(title, sizeof title, "%s: daily P&L and -VaR %.4g%% (fraction of value)", name, 100 * c->bt_levels[0]);
    qa_report_chart ch = {title, "date", "P&L", 0, 0, 1};
    qa_report_line_chart(rep, &ch, ser, 2);
    qa_report_text(rep, "%s: %zu exceedances of the %.4g%% VaR; the latest 25:", name, total, 100 * c->bt_levels[0]);
    const char *hd[] = {"date", "realised loss", "VaR", "excess"};
    qa_report_table_begin(rep, hd, 4);
    for (size_t i = nd; i-- > 0 && shown < 25;) {
        double v = var_at(s, k, 0, i), loss = -s->real[i];
        if (!(loss > v)) continue;
        char a[32], b[32], e[32];
        snprintf(a, sizeof a, "%.3f%%", 100 * loss);
        snprintf(b, sizeof b, "%.3f%%", 100 * v);
        snprintf(e, sizeof e, "%.3f%%", 100 * (loss - v));
        const char *row[] = {qa_time_format_iso(s->time[i], d, sizeof d), a, b, e, NULL};
        qa_report_table_row(rep, row);
        shown++;
    }
    qa_report_table_end(rep);
}

static qa_status bt_write_report(const bt_run *s) {
    const qa_stress_cfg *c = s->c;
    char p[QA_PATH_MAX], d[32], d2[32];
    qa_report_t *rep = NULL;
    qa_status st = QA_OK;
    double *series = malloc(2 * s->nd * sizeof *series);
    if (!series) QA_TRY_FAIL(QA_ERR_NOMEM, "backtest report");
    QA_TRY(qa_report_create("qa stress backtest", &rep));
    qa_report_heading(rep, "VaR backtest");
    qa_report_kv(rep, "portfolio", "%s (constant weights of the book on %s)", s->b.pf.path,
                 qa_time_format_iso(s->b.valuation, d, sizeof d));
    qa_report_kv(rep, "forecasts", "%zu one-day forecasts, %s .. %s, window %d returns", s->nd,
                 qa_time_format_iso(s->time[0], d, sizeof d), qa_time_format_iso(s->time[s->nd - 1], d2, sizeof d2),
                 c->bt_window);
    qa_report_kv(rep, "run", "%d rank(s), %.2f s", s->size, s->seconds);
    report_stats_table(rep, s);
    report_cumulative(rep, s);
    for (size_t k = 0; k < QA_STRESS_METHOD_COUNT; k++)
        if (method_on(c, k)) report_method(rep, s, k, series);
    QA_TRY(qa_path_join(p, s->dir, "report.html"));
    QA_TRY(qa_report_write(rep, p));
cleanup:
    qa_report_free(rep);
    free(series);
    return st;
}

static qa_status bt_outputs(bt_run *s, uint64_t t_start) {
    QA_TRY_RET(bt_statistics(s));
    s->seconds = qa_time_since(t_start);
    QA_TRY_RET(bt_write_h5(s));
    QA_TRY_RET(bt_write_summary(s));
    return bt_write_report(s);
}

static qa_status bt_steps(bt_run *s, uint64_t t_start, int argc, char **argv) {
    const qa_stress_cfg *c = s->c;
    char d[32], d2[32];
    QA_TRY_RET(qa_rundir_open(&s->rd, s->dir, s->comm, "stress backtest", argc, argv));
    qa_status st = s->root ? qa_stress_write_config(s->dir, c) : QA_OK;
    QA_TRY_RET(qa_comm_agree(s->comm, st));
    QA_TRY_RET(bt_history(s));
    QA_TRY_RET(bt_series(s));
    if (s->root)
        qa_log_info("stress backtest: %zu one-day forecasts %s..%s, window %d, %d method(s) x %zu level(s), %d rank(s)",
                    s->nd, qa_time_format_iso(s->time[0], d, sizeof d),
                    qa_time_format_iso(s->time[s->nd - 1], d2, sizeof d2), c->bt_window,
                    __builtin_popcount(c->bt_methods), s->LV, s->size);
    QA_TRY_RET(bt_forecasts(s));
    st = s->root ? bt_outputs(s, t_start) : QA_OK;
    return qa_comm_agree(s->comm, st);
}

qa_status qa_stress_backtest(const qa_stress_cfg *c, const qa_comm_t *comm, const char *run_dir, int argc, char **argv) {
    uint64_t t_start = qa_time_ns();
    bt_run *s = calloc(1, sizeof *s);
    if (!s) return QA_FAIL(QA_ERR_NOMEM, "stress backtest");
    s->c = c;
    s->comm = comm;
    s->dir = run_dir;
    s->rank = qa_comm_rank(comm);
    s->size = qa_comm_size(comm);
    s->root = s->rank == 0;
    qa_status st = bt_steps(s, t_start, argc, argv);
    bt_free(s, st);
    free(s);
    return st;
}
