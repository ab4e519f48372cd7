/* Outputs of `qa stress`: results.h5 (format "quantumalpha.stress" 1), summary.json,
 * report.html and config.resolved.json, written by rank 0. */
#include <hdf5.h>    /* results file */
#include <math.h>    /* isnan, fabs */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* malloc, free */
#include <string.h>  /* strcmp */

#include "common/fs.h"          /* atomic rename */
#include "common/json.h"        /* summary, resolved config */
#include "common/timeparse.h" /* dates */
#include "pipeline/stress/stress_impl.h"

/* ---- HDF5 ---------------------------------------------------------------------------------- */

qa_status qa_stress_h5_create(const char *path, const char *format, int version, qa_h5_file *out) {
    qa_status st = qa_h5_file_create(path, out);
    if (st != QA_OK) return st;
    char v[16];
    snprintf(v, sizeof v, "%d", version);
    st = qa_h5_attr_set_str(out->id, "/", "format", format);
    if (st == QA_OK) st = qa_h5_attr_set_str(out->id, "/", "format_version", v);
    if (st != QA_OK) qa_h5_file_abort(out);
    return st;
}

/* ---- helpers ---------------------------------------------------------------------------------- */

void qa_stress_histogram(const double *v, size_t n, size_t bins, double *lo, double *hi, double *counts) {
    double a = INFINITY, b = -INFINITY;
    for (size_t i = 0; i < n; i++) a = fmin(a, v[i]), b = fmax(b, v[i]);
    if (!(b > a)) a -= 0.5, b += 0.5;
    *lo = a;
    *hi = b;
    if (bins == 0) return; /* no bin to count into (bins - 1 below would wrap) */
    for (size_t k = 0; k < bins; k++) counts[k] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = (size_t)((v[i] - a) / (b - a) * (double)bins);
        counts[k < bins ? k : bins - 1] += 1;
    }
}

static const char *day(int64_t ns, char *buf, size_t size) { return qa_time_format_iso(ns, buf, size); }

/* Index of the highest confidence level (contributions and markers are shown there). */
static size_t top_level(const qa_stress_cfg *c) {
    size_t t = 0;
    for (size_t l = 1; l < c->nlevels; l++)
        if (c->levels[l] > c->levels[t]) t = l;
    return t;
}

static json_t *levels_obj(const double *levels, const double *v, size_t n) {
    json_t *o = json_object();
    for (size_t l = 0; l < n; l++) {
        char k[32];
        snprintf(k, sizeof k, "%g", levels[l]);
        json_object_set_new(o, k, qa_json_real(v[l]));
    }
    return o;
}

static json_t *cfg_json(const qa_stress_cfg *c) {
    char d[32];
    json_t *o = json_object(), *lv = json_array(), *me = json_array();
    json_object_set_new(o, "portfolio", c->portfolio ? json_string(c->portfolio) : json_null());
    json_object_set_new(o, "data", c->data ? json_string(c->data) : json_null());
    json_object_set_new(o, "portfolio_value", qa_json_real(c->portfolio_value));
    json_object_set_new(o, "valuation_date", c->valuation ? json_string(day(c->valuation, d, sizeof d)) : json_null());
    json_object_set_new(o, "backend", json_string(c->backend));
    json_object_set_new(o, "threads", json_integer(c->threads));
    for (size_t l = 0; l < c->nlevels; l++) json_array_append_new(lv, json_real(c->levels[l]));
    json_object_set_new(o, "levels", lv);
    json_object_set_new(o, "horizon", json_integer(c->horizon));
    if (c->window_start) {
        json_t *w = json_object();
        json_object_set_new(w, "start", json_string(day(c->window_start, d, sizeof d)));
        json_object_set_new(w, "end", json_string(day(c->window_end, d, sizeof d)));
        json_object_set_new(o, "window", w);
    } else {
        json_object_set_new(o, "window", json_integer(c->window));
    }
    json_object_set_new(o, "revaluation", json_string(qa_risk_reval_names[c->reval]));
    json_t *of = json_object();
    json_object_set_new(of, "vol", json_string(c->opt_vol ? "realised" : "none"));
    json_object_set_new(of, "vol_window", json_integer(c->vol_window));
    json_object_set_new(of, "rate", json_string(c->rate_proxy ? c->rate_proxy : "none"));
    json_object_set_new(of, "rate_duration", json_real(c->rate_duration));
    json_object_set_new(o, "option_factors", of);
    for (int k = 0; k < QA_STRESS_METHOD_COUNT; k++)
        if (c->methods & (1u << k)) json_array_append_new(me, json_string(qa_stress_method_names[k]));
    json_object_set_new(o, "methods", me);
    json_object_set_new(o, "mean", json_string(c->use_mean ? "sample" : "zero"));
    json_t *cv = json_object();
    json_object_set_new(cv, "estimator", json_string(qa_stress_estimator_names[c->estimator]));
    json_object_set_new(cv, "lambda", json_real(c->ewma_lambda));
    json_object_set_new(cv, "lw_target", json_string(c->lw_target ? "scaled_identity" : "constant_correlation"));
    json_object_set_new(cv, "jitter_max", json_real(c->jitter_max));
    json_object_set_new(o, "covariance", cv);
    json_t *fh = json_object();
    json_object_set_new(fh, "lambda", json_real(c->fhs_lambda));
    json_object_set_new(o, "fhs", fh);
    json_t *pa = json_object();
    json_object_set_new(pa, "dist", json_string(c->param_nu ? "student_t" : "normal"));
    if (c->param_nu) json_object_set_new(pa, "nu", json_integer(c->param_nu));
    json_object_set_new(o, "parametric", pa);
    json_t *mc = json_object();
    json_object_set_new(mc, "scenarios", json_integer(c->mc_scenarios));
    json_object_set_new(mc, "block", json_integer(c->mc_block));
    json_object_set_new(mc, "dist", json_string(c->mc_nu ? "student_t" : "normal"));
    if (c->mc_nu) json_object_set_new(mc, "nu", json_integer(c->mc_nu));
    json_object_set_new(mc, "seed", json_integer(c->mc_seed));
    json_object_set_new(mc, "sample", json_integer(c->sample));
    json_object_set_new(o, "montecarlo", mc);
    json_t *co = json_object();
    json_object_set_new(co, "enabled", json_boolean(c->contributions));
    json_object_set_new(co, "incremental", json_string(c->incremental < 0 ? "auto" : c->incremental ? "true" : "false"));
    json_object_set_new(co, "bandwidth", json_integer(c->bandwidth));
    json_object_set_new(co, "chunk", json_integer(c->chunk));
    json_object_set_new(o, "contributions", co);
    if (c->stressed) {
        json_t *s = json_object(), *sm = json_array();
        json_object_set_new(s, "start", json_string(day(c->stress_window.start, d, sizeof d)));
        json_object_set_new(s, "end", json_string(day(c->stress_window.end, d, sizeof d)));
        for (int k = 0; k < QA_STRESS_METHOD_COUNT; k++)
            if (c->stressed_methods & (1u << k)) json_array_append_new(sm, json_string(qa_stress_method_names[k]));
        json_object_set_new(s, "methods", sm);
        json_object_set_new(o, "stressed", s);
    }
    json_t *sc = json_object(), *hist = json_array(), *hy = json_array(), *rv = json_array();
    for (size_t i = 0; i < c->nreplays; i++) {
        json_t *w = json_object();
        json_object_set_new(w, "name", json_string(c->replays[i].name));
        json_object_set_new(w, "start", json_string(day(c->replays[i].start, d, sizeof d)));
        json_object_set_new(w, "end", json_string(day(c->replays[i].end, d, sizeof d)));
        json_array_append_new(hist, w);
    }
    for (size_t i = 0; i < c->nhypos; i++) {
        json_t *h = json_object(), *sh = json_array();
        json_object_set_new(h, "name", json_string(c->hypos[i].name));
        for (size_t j = 0; j < c->hypos[i].nshocks; j++) {
            const qa_stress_shock *s = &c->hypos[i].shocks[j];
            json_t *x = json_object();
            static const char *const kinds[] = {"asset", "sector", "factor", "vol", "rate"}; /* qa_stress_shock_kind */
            json_object_set_new(x, kinds[s->kind], json_string(s->target));
            json_object_set_new(x, "move", json_real(s->move));
            json_array_append_new(sh, x);
        }
        json_object_set_new(h, "shocks", sh);
        json_array_append_new(hy, h);
    }
    for (size_t i = 0; i < c->nreverse; i++) json_array_append_new(rv, json_real(c->reverse_losses[i]));
    json_object_set_new(sc, "historical", hist);
    json_object_set_new(sc, "hypothetical", hy);
    json_object_set_new(sc, "sectors", c->sectors ? json_string(c->sectors) : json_null());
    json_object_set_new(sc, "covariance", json_string(c->hypo_stressed_cov ? "stressed" : "current"));
    json_t *rvo = json_object();
    json_object_set_new(rvo, "losses", rv);
    json_object_set_new(rvo, "max_iter", json_integer(c->reverse_max_iter));
    json_object_set_new(sc, "reverse", rvo);
    json_object_set_new(o, "scenarios", sc);
    json_t *li = json_array();
    for (size_t i = 0; i < c->limits.n; i++) {
        const qa_limit *l = &c->limits.items[i];
        json_t *x = json_object();
        json_object_set_new(x, "name", json_string(l->name));
        json_object_set_new(x, "metric", json_string(qa_limit_metric_names[l->metric]));
        json_object_set_new(x, "level", json_real(l->level));
        json_object_set_new(x, "min", qa_json_real(l->min));
        json_object_set_new(x, "max", qa_json_real(l->max));
        json_object_set_new(x, "warn", json_real(l->warn_fraction));
        json_array_append_new(li, x);
    }
    json_object_set_new(o, "limits", li);
    json_object_set_new(o, "limits_method",
                        c->limits_method >= 0 ? json_string(qa_stress_method_names[c->limits_method]) : json_string("auto"));
    json_t *bt = json_object(), *bm = json_array(), *bl = json_array();
    for (int k = 0; k < QA_STRESS_METHOD_COUNT; k++)
        if (c->bt_methods & (1u << k)) json_array_append_new(bm, json_string(qa_stress_method_names[k]));
    for (size_t l = 0; l < c->bt_nlevels; l++) json_array_append_new(bl, json_real(c->bt_levels[l]));
    json_object_set_new(bt, "methods", bm);
    json_object_set_new(bt, "levels", bl);
    json_object_set_new(bt, "window", json_integer(c->bt_window));
    json_object_set_new(bt, "start", c->bt_start ? json_string(day(c->bt_start, d, sizeof d)) : json_null());
    json_object_set_new(bt, "end", c->bt_end ? json_string(day(c->bt_end, d, sizeof d)) : json_null());
    json_object_set_new(bt, "scenarios", json_integer(c->bt_scenarios));
    json_object_set_new(o, "backtest", bt);
    json_t *ou = json_object();
    json_object_set_new(ou, "bins", json_integer(c->bins));
    json_object_set_new(o, "output", ou);
    return o;
}

qa_status qa_stress_write_config(const char *run_dir, const qa_stress_cfg *c) {
    char p[QA_PATH_MAX];
    qa_status st = qa_path_join(p, run_dir, "config.resolved.json");
    if (st != QA_OK) return st;
    json_t *j = cfg_json(c);
    st = qa_json_write_file(j, p);
    json_decref(j);
    return st;
}

static const char *const limit_states[] = {"ok", "warning", "breach", "not evaluated"};

/* ---- results.h5 ---------------------------------------------------------------------------- */

static qa_status h5_header(hid_t id, const qa_stress_results *r) {
    const qa_stress_cfg *c = r->cfg;
    const qa_stress_book *b = r->book;
    char d[32], v[64];
    QA_TRY_RET(qa_h5_attr_set_str(id, "/", "portfolio", b->pf.path));
    QA_TRY_RET(qa_h5_attr_set_str(id, "/", "data", r->panel->path));
    QA_TRY_RET(qa_h5_attr_set_str(id, "/", "valuation_date", day(b->valuation, d, sizeof d)));
    snprintf(v, sizeof v, "%.17g", b->value);
    QA_TRY_RET(qa_h5_attr_set_str(id, "/", "portfolio_value", v));
    snprintf(v, sizeof v, "%d", c->horizon);
    QA_TRY_RET(qa_h5_attr_set_str(id, "/", "horizon_days", v));
    return qa_h5_put_f64(id, "levels", c->levels, c->nlevels, 0);
}

/* /positions: ids, symbols, kinds, quantities, values, exposures and weights. names: P. */
static qa_status h5_positions(hid_t id, const qa_stress_book *b, const char **names) {
    size_t P = b->p;
    for (size_t i = 0; i < P; i++) names[i] = b->pf.pos[i].id;
    QA_TRY_RET(qa_h5_put_strings(id, "positions/id", names, P));
    for (size_t i = 0; i < P; i++) names[i] = b->pf.pos[i].symbol;
    QA_TRY_RET(qa_h5_put_strings(id, "positions/symbol", names, P));
    for (size_t i = 0; i < P; i++) names[i] = qa_book_kind_names[b->pf.pos[i].kind];
    QA_TRY_RET(qa_h5_put_strings(id, "positions/kind", names, P));
    QA_TRY_RET(qa_h5_put_f64(id, "positions/quantity", b->qty, P, 0));
    QA_TRY_RET(qa_h5_put_f64(id, "positions/market_value", b->mv, P, 0));
    QA_TRY_RET(qa_h5_put_f64(id, "positions/exposure", b->exposure, P, 0));
    double *w = malloc((P ? P : 1) * sizeof *w);
    if (!w) return QA_FAIL(QA_ERR_NOMEM, "weights");
    for (size_t i = 0; i < P; i++) w[i] = b->exposure[i] / b->value;
    qa_status st = qa_h5_put_f64(id, "positions/weight", w, P, 0);
    free(w);
    return st;
}

/* /measures: VaR and ES of every measure run, one row each. names: 2 x method count. */
static qa_status h5_measures(hid_t id, const qa_stress_results *r, const char **names) {
    size_t L = r->cfg->nlevels, M = 0, K = 2 * (size_t)QA_STRESS_METHOD_COUNT;
    double *var = malloc(K * (2 * L + 1) * sizeof *var);
    if (!var) return QA_FAIL(QA_ERR_NOMEM, "measures");
    double *es = var + K * L, *cnt = es + K * L;
    for (size_t k = 0; k < K; k++) {
        const qa_stress_measure *m = &r->m[k];
        if (!m->run) continue;
        names[M] = m->name;
        for (size_t l = 0; l < L; l++) var[M * L + l] = m->var[l], es[M * L + l] = m->es[l];
        cnt[M] = (double)m->scenarios;
        M++;
    }
    qa_status st = qa_h5_put_strings(id, "measures/method", names, M);
    if (st == QA_OK) st = qa_h5_put_f64(id, "measures/var", var, M, L);
    if (st == QA_OK) st = qa_h5_put_f64(id, "measures/es", es, M, L);
    if (st == QA_OK) st = qa_h5_put_f64(id, "measures/scenarios", cnt, M, 0);
    free(var);
    return st;
}

/* /loss/<measure>: the loss sample and its histogram. */
static qa_status h5_loss(hid_t id, const qa_stress_measure *m, size_t bins) {
    char key[256];
    snprintf(key, sizeof key, "loss/%s/sample", m->name);
    QA_TRY_RET(qa_h5_put_f64(id, key, m->sample, m->nsample, 0));
    double *counts = malloc((2 * bins + 1) * sizeof *counts), lo, hi;
    if (!counts) return QA_FAIL(QA_ERR_NOMEM, "histogram");
    qa_stress_histogram(m->sample, m->nsample, bins, &lo, &hi, counts);
    double *edges = counts + bins;
    for (size_t q = 0; q <= bins; q++) edges[q] = lo + (hi - lo) * (double)q / (double)bins;
    snprintf(key, sizeof key, "loss/%s/hist_counts", m->name);
    qa_status st = qa_h5_put_f64(id, key, counts, bins, 0);
    snprintf(key, sizeof key, "loss/%s/hist_edges", m->name);
    if (st == QA_OK) st = qa_h5_put_f64(id, key, edges, bins + 1, 0);
    free(counts);
    return st;
}

/* /contributions/<measure>/<kind> (levels x positions) and /loss/<measure>. */
static qa_status h5_contributions(hid_t id, const qa_stress_results *r) {
    size_t L = r->cfg->nlevels, P = r->book->p;
    char key[256];
    for (int k = 0; k < 2 * QA_STRESS_METHOD_COUNT; k++) {
        const qa_stress_measure *m = &r->m[k];
        if (!m->run) continue;
        struct {
            const char *name;
            const double *v;
        } arrs[] = {{"component_var", m->comp_var},   {"component_es", m->comp_es},
                    {"marginal_var", m->marginal},     {"marginal_es", m->marginal_es},
                    {"incremental_var", m->incr_var}, {"incremental_es", m->incr_es}};
        for (size_t a = 0; a < sizeof arrs / sizeof arrs[0]; a++) {
            if (!arrs[a].v) continue;
            snprintf(key, sizeof key, "contributions/%s/%s", m->name, arrs[a].name);
            QA_TRY_RET(qa_h5_put_f64(id, key, arrs[a].v, L, P));
        }
        if (m->nsample) QA_TRY_RET(h5_loss(id, m, (size_t)r->cfg->bins));
    }
    return QA_OK;
}

/* A replay's P&L path or a shocked scenario's moves under /scenarios/{paths,moves}/<s>. */
static qa_status h5_scenario_detail(hid_t id, const qa_stress_scenario *sc, size_t s) {
    char key[256];
    if (sc->npath) {
        snprintf(key, sizeof key, "scenarios/paths/%zu/time", s);
        QA_TRY_RET(qa_h5_put_i64(id, key, sc->path_time, sc->npath));
        snprintf(key, sizeof key, "scenarios/paths/%zu/pnl", s);
        QA_TRY_RET(qa_h5_put_f64(id, key, sc->path_pnl, sc->npath, 0));
        snprintf(key, sizeof key, "scenarios/paths/%zu", s);
        QA_TRY_RET(qa_h5_attr_set_str(id, key, "name", sc->name));
    }
    if (!sc->nmoves) return QA_OK;
    const char **ms = malloc(sc->nmoves * sizeof *ms);
    if (!ms) return QA_FAIL(QA_ERR_NOMEM, "moves");
    for (size_t q = 0; q < sc->nmoves; q++) ms[q] = sc->move_sym[q];
    snprintf(key, sizeof key, "scenarios/moves/%zu/symbol", s);
    qa_status st = qa_h5_put_strings(id, key, ms, sc->nmoves);
    free(ms);
    snprintf(key, sizeof key, "scenarios/moves/%zu/move", s);
    if (st == QA_OK) st = qa_h5_put_f64(id, key, sc->moves, sc->nmoves, 0);
    snprintf(key, sizeof key, "scenarios/moves/%zu", s);
    if (st == QA_OK) st = qa_h5_attr_set_str(id, key, "name", sc->name);
    return st;
}

/* /scenarios: names, kinds, P&L, worst P&L, P&L by position. names: nsc. */
static qa_status h5_scenarios(hid_t id, const qa_stress_results *r, const char **names) {
    size_t P = r->book->p, n = r->nsc;
    if (!n) return QA_OK;
    double *tab = malloc(n * (P + 2) * sizeof *tab);
    if (!tab) return QA_FAIL(QA_ERR_NOMEM, "scenario table");
    double *pnl = tab + n * P, *worst = pnl + n;
    for (size_t s = 0; s < n; s++) {
        memcpy(tab + s * P, r->sc[s].pos, P * sizeof *tab);
        pnl[s] = r->sc[s].pnl;
        worst[s] = r->sc[s].worst;
        names[s] = r->sc[s].name;
    }
    qa_status st = qa_h5_put_strings(id, "scenarios/name", names, n);
    for (size_t s = 0; s < n; s++) names[s] = r->sc[s].kind;
    if (st == QA_OK) st = qa_h5_put_strings(id, "scenarios/kind", names, n);
    if (st == QA_OK) st = qa_h5_put_f64(id, "scenarios/pnl", pnl, n, 0);
    if (st == QA_OK) st = qa_h5_put_f64(id, "scenarios/worst", worst, n, 0);
    if (st == QA_OK) st = qa_h5_put_f64(id, "scenarios/pnl_by_position", tab, n, P);
    free(tab);
    for (size_t s = 0; s < n && st == QA_OK; s++) st = h5_scenario_detail(id, &r->sc[s], s);
    return st;
}

/* /limits: name, value, threshold and state of each limit. names: limit count. */
static qa_status h5_limits(hid_t id, const qa_stress_results *r, const char **names) {
    const qa_stress_cfg *c = r->cfg;
    size_t nl = c->limits.n;
    if (!nl) return QA_OK;
    double *lv = malloc(2 * nl * sizeof *lv);
    unsigned char *ls = malloc(nl);
    qa_status st = !lv || !ls ? QA_FAIL(QA_ERR_NOMEM, "limits") : QA_OK;
    for (size_t i = 0; i < nl && st == QA_OK; i++) {
        names[i] = c->limits.items[i].name;
        lv[i] = r->limits[i].value;
        lv[nl + i] = r->limits[i].threshold;
        ls[i] = (unsigned char)r->limits[i].state;
    }
    if (st == QA_OK) st = qa_h5_put_strings(id, "limits/name", names, nl);
    if (st == QA_OK) st = qa_h5_put_f64(id, "limits/value", lv, nl, 0);
    if (st == QA_OK) st = qa_h5_put_f64(id, "limits/threshold", lv + nl, nl, 0);
    if (st == QA_OK) st = qa_h5_put_u8(id, "limits/state", ls, nl);
    free(lv);
    free(ls);
    return st;
}

static qa_status write_h5(const char *path, const qa_stress_results *r) {
    size_t P = r->book->p, nl = r->cfg->limits.n, nsc = r->nsc, K = 2 * (size_t)QA_STRESS_METHOD_COUNT;
    size_t nnames = P > nsc ? P : nsc;
    nnames = nnames > nl ? nnames : nl;
    nnames = nnames > K ? nnames : K;
    qa_h5_file hf = {-1, NULL, NULL}, *h = &hf;
    qa_status st = QA_OK;
    const char **names = calloc(nnames, sizeof *names); /* the string column being written */
    if (!names) QA_TRY_FAIL(QA_ERR_NOMEM, "results");
    QA_TRY(qa_stress_h5_create(path, "quantumalpha.stress", 1, h));
    QA_TRY(h5_header(h->id, r));
    QA_TRY(h5_positions(h->id, r->book, names));
    QA_TRY(h5_measures(h->id, r, names));
    QA_TRY(h5_contributions(h->id, r));
    QA_TRY(h5_scenarios(h->id, r, names));
    QA_TRY(h5_limits(h->id, r, names));
    st = qa_h5_file_commit(h, 0);
    h = NULL;
cleanup:
    qa_h5_file_abort(h);
    free((void *)names);
    return st;
}

/* ---- summary.json ------------------------------------------------------------------------------ */

static json_t *portfolio_json(const qa_stress_book *b) {
    json_t *pf = json_object();
    json_object_set_new(pf, "name", json_string(b->pf.name));
    json_object_set_new(pf, "file", json_string(b->pf.path));
    json_object_set_new(pf, "value", qa_json_real(b->value));
    json_object_set_new(pf, "positions", json_integer((json_int_t)b->p));
    json_object_set_new(pf, "options", json_integer((json_int_t)b->nopt));
    json_object_set_new(pf, "assets", json_integer((json_int_t)b->n));
    return pf;
}

/* Contributions of every position at level index `top`. */
static json_t *contributions_json(const qa_stress_book *b, const qa_stress_measure *m, size_t top) {
    size_t P = b->p;
    json_t *cp = json_array();
    for (size_t i = 0; i < P; i++) {
        json_t *e = json_object();
        json_object_set_new(e, "id", json_string(b->pf.pos[i].id));
        json_object_set_new(e, "component_var", qa_json_real(m->comp_var[top * P + i]));
        if (m->comp_es) json_object_set_new(e, "component_es", qa_json_real(m->comp_es[top * P + i]));
        if (m->marginal) json_object_set_new(e, "marginal_var", qa_json_real(m->marginal[top * P + i]));
        if (m->marginal_es) json_object_set_new(e, "marginal_es", qa_json_real(m->marginal_es[top * P + i]));
        if (m->incr_var) json_object_set_new(e, "incremental_var", qa_json_real(m->incr_var[top * P + i]));
        json_array_append_new(cp, e);
    }
    return cp;
}

static json_t *measure_json(const qa_stress_results *r, const qa_stress_measure *m) {
    const qa_stress_cfg *c = r->cfg;
    const qa_stress_book *b = r->book;
    size_t L = c->nlevels, top = top_level(c);
    double vp[QA_STRESS_MAX_LEVELS], ep[QA_STRESS_MAX_LEVELS];
    for (size_t l = 0; l < L; l++) vp[l] = m->var[l] / b->value, ep[l] = m->es[l] / b->value;
    json_t *x = json_object();
    json_object_set_new(x, "var", levels_obj(c->levels, m->var, L));
    json_object_set_new(x, "es", levels_obj(c->levels, m->es, L));
    json_object_set_new(x, "var_fraction", levels_obj(c->levels, vp, L));
    json_object_set_new(x, "es_fraction", levels_obj(c->levels, ep, L));
    json_object_set_new(x, "scenarios", json_integer((json_int_t)m->scenarios));
    json_object_set_new(x, "seconds", json_real(m->seconds));
    if (m->comp_var) { /* at the last configured level */
        json_object_set_new(x, "contributions_level", json_real(c->levels[top]));
        json_object_set_new(x, "contributions", contributions_json(b, m, top));
    }
    return x;
}

static json_t *scenario_json(const qa_stress_results *r, const qa_stress_scenario *x) {
    char d[32];
    json_t *e = json_object();
    json_object_set_new(e, "name", json_string(x->name));
    json_object_set_new(e, "kind", json_string(x->kind));
    json_object_set_new(e, "pnl", qa_json_real(x->pnl));
    json_object_set_new(e, "pnl_fraction", qa_json_real(x->pnl / r->book->value));
    if (x->npath) {
        json_object_set_new(e, "worst", qa_json_real(x->worst));
        json_object_set_new(e, "worst_date", json_string(day(x->worst_date, d, sizeof d)));
        json_object_set_new(e, "days", json_integer((json_int_t)x->npath - 1));
    }
    if (!strcmp(x->kind, "reverse")) {
        json_object_set_new(e, "model_loss", qa_json_real(x->model_loss));
        json_object_set_new(e, "sigma_distance", qa_json_real(x->sigma_distance));
        json_object_set_new(e, "converged", json_boolean(x->converged));
    }
    if (x->nmoves) {
        json_t *mv = json_object();
        for (size_t q = 0; q < x->nmoves; q++) json_object_set_new(mv, x->move_sym[q], qa_json_real(x->moves[q]));
        json_object_set_new(e, "moves", mv);
    }
    if (x->note[0]) json_object_set_new(e, "note", json_string(x->note));
    return e;
}

static json_t *exposure_json(const qa_stress_results *r) {
    json_t *ex = json_object();
    json_object_set_new(ex, "gross", qa_json_real(r->gross));
    json_object_set_new(ex, "net", qa_json_real(r->net));
    json_object_set_new(ex, "max_weight", qa_json_real(r->max_weight));
    json_object_set_new(ex, "max_weight_position", r->max_weight_name ? json_string(r->max_weight_name) : json_null());
    json_object_set_new(ex, "drawdown", qa_json_real(r->drawdown));
    return ex;
}

/* The limits, with their breach and warning counts into o. */
static void limits_json(const qa_stress_results *r, json_t *o) {
    const qa_stress_cfg *c = r->cfg;
    json_t *li = json_array();
    size_t nb = 0, nw = 0;
    for (size_t i = 0; i < c->limits.n; i++) {
        const qa_limit_result *lr = &r->limits[i];
        json_t *e = json_object();
        json_object_set_new(e, "name", json_string(lr->limit->name));
        json_object_set_new(e, "metric", json_string(qa_limit_metric_names[lr->limit->metric]));
        if (lr->limit->metric <= QA_LIMIT_ES) json_object_set_new(e, "level", json_real(lr->limit->level));
        json_object_set_new(e, "value", qa_json_real(lr->value));
        json_object_set_new(e, "threshold", qa_json_real(lr->threshold));
        json_object_set_new(e, "state", json_string(limit_states[lr->state]));
        json_array_append_new(li, e);
        nb += lr->state == QA_LIMIT_BREACH;
        nw += lr->state == QA_LIMIT_WARNING;
    }
    json_object_set_new(o, "limits", li);
    json_object_set_new(o, "limits_method",
                        r->limits_source >= 0 ? json_string(qa_stress_method_names[r->limits_source]) : json_null());
    json_object_set_new(o, "breaches", json_integer((json_int_t)nb));
    json_object_set_new(o, "warnings", json_integer((json_int_t)nw));
}

/* What each revaluation mode computes, for summary.json and the report. */
static const char *reval_label(int mode) {
    switch (mode) {
    case QA_RISK_REVAL_DELTA:
        return "delta (first-order approximation): linear e x, options c0 + q Delta S x (greeks at the horizon); "
               "parametric VaR is delta-normal";
    case QA_RISK_REVAL_DELTA_GAMMA:
        return "delta-gamma (second-order approximation): linear e (x + x^2/2), options c0 + q Delta S x + q (Delta S + "
               "Gamma S^2) x^2/2; parametric VaR is delta-normal";
    default:
        return "full: linear e (exp(x) - 1), options in full Black-Scholes; parametric VaR is delta-normal "
               "(first order)";
    }
}

static json_t *performance_json(const qa_stress_results *r) {
    json_t *pe = json_object();
    json_object_set_new(pe, "ranks", json_integer(r->ranks));
    json_object_set_new(pe, "backend", json_string(r->backend));
    json_object_set_new(pe, "mc_seconds", qa_json_real(r->mc_seconds));
    /* Units of the work done (docs/risk.md, "Throughput"): not scenarios x positions. */
    json_object_set_new(pe, "mc_scenarios_per_s", qa_json_real(r->mc_scenarios_per_s));
    json_object_set_new(pe, "mc_scenario_asset_revaluations_per_s", qa_json_real(r->mc_asset_revals_per_s));
    json_object_set_new(pe, "mc_option_valuations_per_s", qa_json_real(r->mc_option_revals_per_s));
    json_object_set_new(pe, "mc_assets", json_integer((json_int_t)r->book->n));
    json_object_set_new(pe, "seconds", json_real(r->seconds));
    json_object_set_new(pe, "peak_rss_mb", json_real(r->peak_rss_mb));
    return pe;
}

static json_t *summary_json(const qa_stress_results *r) {
    const qa_stress_cfg *c = r->cfg;
    const qa_stress_book *b = r->book;
    char d[32];
    json_t *o = json_object(), *lv = json_array(), *ms = json_object(), *sc = json_array(), *no = json_array();
    json_object_set_new(o, "portfolio", portfolio_json(b));
    json_object_set_new(o, "data", json_string(r->panel->path));
    json_object_set_new(o, "valuation_date", json_string(day(b->valuation, d, sizeof d)));
    json_object_set_new(o, "horizon_days", json_integer(c->horizon));
    json_t *win = json_object();
    json_object_set_new(win, "returns", json_integer((json_int_t)r->window_used));
    json_object_set_new(win, "start", json_string(day(r->window_start, d, sizeof d)));
    json_object_set_new(win, "end", json_string(day(r->window_end, d, sizeof d)));
    json_object_set_new(o, "window", win);
    json_t *rv = json_object();
    json_object_set_new(rv, "mode", json_string(qa_risk_reval_names[b->reval]));
    json_object_set_new(rv, "model", json_string(reval_label(b->reval)));
    json_object_set_new(o, "revaluation", rv);
    for (size_t l = 0; l < c->nlevels; l++) json_array_append_new(lv, json_real(c->levels[l]));
    json_object_set_new(o, "levels", lv);
    for (int k = 0; k < 2 * QA_STRESS_METHOD_COUNT; k++)
        if (r->m[k].run) json_object_set_new(ms, r->m[k].name, measure_json(r, &r->m[k]));
    json_object_set_new(o, "measures", ms);
    for (size_t s = 0; s < r->nsc; s++) json_array_append_new(sc, scenario_json(r, &r->sc[s]));
    json_object_set_new(o, "scenarios", sc);
    json_object_set_new(o, "exposure", exposure_json(r));
    limits_json(r, o);
    json_object_set_new(o, "performance", performance_json(r));
    json_object_set_new(o, "covariance_estimator", json_string(qa_stress_estimator_names[c->estimator]));
    if (!isnan(r->lw_intensity)) json_object_set_new(o, "ledoit_wolf_intensity", json_real(r->lw_intensity));
    json_object_set_new(o, "cholesky_jitter", json_real(r->jitter));
    for (size_t i = 0; i < r->nnotes; i++) json_array_append_new(no, json_string(r->notes[i]));
    json_object_set_new(o, "notes", no);
    return o;
}

/* ---- report.html -------------------------------------------------------------------------------- */

static void fmt_money(char *buf, size_t size, double v) {
    if (isnan(v)) snprintf(buf, size, "n/a");
    else snprintf(buf, size, "%.2f", v);
}

static void fmt_pct(char *buf, size_t size, double v) {
    if (isnan(v)) snprintf(buf, size, "n/a");
    else snprintf(buf, size, "%.3f%%", 100 * v);
}

static void report_portfolio(qa_report_t *rep, const qa_stress_results *r) {
    const qa_stress_cfg *c = r->cfg;
    const qa_stress_book *b = r->book;
    char d[32], a1[32], a2[32];
    qa_report_heading(rep, "Portfolio");
    qa_report_kv(rep, "portfolio", "%s (%s)", b->pf.name, b->pf.path);
    qa_report_kv(rep, "value", "%.2f", b->value);
    qa_report_kv(rep, "positions", "%zu (%zu options) on %zu assets", b->p, b->nopt, b->n);
    qa_report_kv(rep, "valuation date", "%s", day(b->valuation, d, sizeof d));
    qa_report_kv(rep, "horizon", "%d day(s)", c->horizon);
    qa_report_kv(rep, "window", "%zu returns, %s .. %s", r->window_used, day(r->window_start, a1, sizeof a1),
                 day(r->window_end, a2, sizeof a2));
    qa_report_kv(rep, "covariance", "%s%s", qa_stress_estimator_names[c->estimator],
                 isnan(r->lw_intensity) ? "" : " (Ledoit-Wolf)");
    qa_report_kv(rep, "gross / net exposure", "%.1f%% / %.1f%% of value", 100 * r->gross, 100 * r->net);
    qa_report_kv(rep, "largest position", "%s at %.1f%%", r->max_weight_name ? r->max_weight_name : "-", 100 * r->max_weight);
    qa_report_kv(rep, "run", "%d rank(s), %s backend, %.2f s, peak RSS %.0f MB", r->ranks, r->backend, r->seconds,
                 r->peak_rss_mb);
    qa_report_kv(rep, "revaluation", "%s", reval_label(b->reval));
    if (r->mc_scenarios_per_s > 0)
        qa_report_kv(rep, "Monte Carlo", "%.3g scenarios/s, %.3g scenario x asset revaluations/s (%zu assets)%s",
                     r->mc_scenarios_per_s, r->mc_asset_revals_per_s, b->n,
                     r->mc_option_revals_per_s > 0 ? ", plus every option in Black-Scholes" : "");
}

static void report_measures(qa_report_t *rep, const qa_stress_results *r) {
    const qa_stress_cfg *c = r->cfg;
    char a1[64], a2[64], a3[64], a4[64], a5[64], a6[64];
    qa_report_heading(rep, "VaR and Expected Shortfall by method");
    const char *hd[] = {"method", "level", "VaR", "VaR % value", "ES", "ES % value", "scenarios"};
    qa_report_table_begin(rep, hd, 7);
    for (int k = 0; k < 2 * QA_STRESS_METHOD_COUNT; k++) {
        const qa_stress_measure *m = &r->m[k];
        if (!m->run) continue;
        for (size_t l = 0; l < c->nlevels; l++) {
            snprintf(a1, sizeof a1, "%.4g%%", 100 * c->levels[l]);
            fmt_money(a2, sizeof a2, m->var[l]);
            fmt_pct(a3, sizeof a3, m->var[l] / r->book->value);
            fmt_money(a4, sizeof a4, m->es[l]);
            fmt_pct(a5, sizeof a5, m->es[l] / r->book->value);
            snprintf(a6, sizeof a6, "%zu", m->scenarios);
            const char *row[] = {m->name, a1, a2, a3, a4, a5, m->scenarios ? a6 : "closed form", NULL};
            qa_report_table_row(rep, row);
        }
    }
    qa_report_table_end(rep);
}

/* Loss distributions with VaR/ES markers at the highest configured level. */
static void report_losses(qa_report_t *rep, const qa_stress_results *r) {
    const qa_stress_cfg *c = r->cfg;
    size_t top = top_level(c);
    char a1[64], a2[64], title[128];
    for (int k = 0; k < 2 * QA_STRESS_METHOD_COUNT; k++) {
        const qa_stress_measure *m = &r->m[k];
        if (!m->run || !m->nsample) continue;
        double mk[2] = {m->var[top], m->es[top]};
        snprintf(a1, sizeof a1, "VaR %.4g%%", 100 * c->levels[top]);
        snprintf(a2, sizeof a2, "ES %.4g%%", 100 * c->levels[top]);
        const char *ml[2] = {a1, a2};
        snprintf(title, sizeof title, "Loss distribution: %s (%zu of %zu scenarios shown)", m->name, m->nsample,
                 m->scenarios);
        qa_report_histogram(rep, title, "loss (currency; positive = money lost)", m->sample, m->nsample, (size_t)c->bins,
                            mk, ml, 2);
    }
}

/* Contributions of the measure feeding the limits (else the first with contributions). */
static void report_contributions(qa_report_t *rep, const qa_stress_results *r) {
    const qa_stress_cfg *c = r->cfg;
    const qa_stress_book *b = r->book;
    size_t P = b->p, top = top_level(c);
    int src = r->limits_source >= 0 ? r->limits_source : -1;
    for (int k = 0; src < 0 && k < QA_STRESS_METHOD_COUNT; k++)
        if (r->m[k].run && r->m[k].comp_var) src = k;
    if (src < 0 || !r->m[src].comp_var) return;
    const qa_stress_measure *m = &r->m[src];
    char title[128], a1[64], a2[64], a3[64], a4[64], a5[64], a6[64];
    snprintf(title, sizeof title, "Component VaR %.4g%% by position (%s; sums to VaR)", 100 * c->levels[top], m->name);
    const char **lab = malloc(P * sizeof *lab);
    if (lab) {
        for (size_t i = 0; i < P; i++) lab[i] = b->pf.pos[i].id;
        qa_report_bar_chart(rep, title, lab, m->comp_var + top * P, P);
        free(lab);
    }
    const char *hd[] = {"position", "exposure", "weight", "component VaR", "marginal VaR", "incremental VaR",
                        "component ES"};
    qa_report_table_begin(rep, hd, 7);
    size_t shown = P < 200 ? P : 200;
    for (size_t i = 0; i < shown; i++) {
        fmt_money(a1, sizeof a1, b->exposure[i]);
        fmt_pct(a2, sizeof a2, b->exposure[i] / b->value);
        fmt_money(a3, sizeof a3, m->comp_var[top * P + i]);
        snprintf(a4, sizeof a4, "%.5f", m->marginal ? m->marginal[top * P + i] : NAN);
        fmt_money(a5, sizeof a5, m->incr_var ? m->incr_var[top * P + i] : NAN);
        fmt_money(a6, sizeof a6, m->comp_es ? m->comp_es[top * P + i] : NAN);
        const char *row[] = {b->pf.pos[i].id, a1, a2, a3, a4, a5, a6, NULL};
        qa_report_table_row(rep, row);
    }
    qa_report_table_end(rep);
    if (shown < P) qa_report_text(rep, "%zu more positions in results.h5 (contributions/%s).", P - shown, m->name);
}

/* Replay paths and the asset moves of shocked scenarios. */
static void report_scenario_charts(qa_report_t *rep, const qa_stress_results *r) {
    char title[160];
    for (size_t s = 0; s < r->nsc; s++) {
        const qa_stress_scenario *x = &r->sc[s];
        if (!x->npath) continue;
        snprintf(title, sizeof title, "Replay: %s (today's book, cumulative P&L)", x->name);
        qa_report_series ser = {"P&L", NULL, x->path_time, x->path_pnl, x->npath};
        qa_report_chart ch = {title, "date", "P&L", 0, 1, 0};
        qa_report_line_chart(rep, &ch, &ser, 1);
    }
    for (size_t s = 0; s < r->nsc; s++) {
        const qa_stress_scenario *x = &r->sc[s];
        if (!x->nmoves) continue;
        snprintf(title, sizeof title, "Asset moves of '%s' (simple returns)", x->name);
        const char **lab = malloc(x->nmoves * sizeof *lab);
        if (!lab) continue;
        for (size_t q = 0; q < x->nmoves; q++) lab[q] = x->move_sym[q];
        qa_report_bar_chart(rep, title, lab, x->moves, x->nmoves < 60 ? x->nmoves : 60);
        free(lab);
    }
}

static void report_scenarios(qa_report_t *rep, const qa_stress_results *r) {
    if (!r->nsc) return;
    char d[32], a1[64], a2[64], a3[64], note[200];
    qa_report_heading(rep, "Stress scenarios");
    const char *hd[] = {"scenario", "kind", "P&L", "P&L % value", "worst (replay)", "note"};
    qa_report_table_begin(rep, hd, 6);
    for (size_t s = 0; s < r->nsc; s++) {
        const qa_stress_scenario *x = &r->sc[s];
        fmt_money(a1, sizeof a1, x->pnl);
        fmt_pct(a2, sizeof a2, x->pnl / r->book->value);
        if (x->npath) snprintf(a3, sizeof a3, "%.2f on %s", x->worst, day(x->worst_date, d, sizeof d));
        else snprintf(a3, sizeof a3, "-");
        if (!strcmp(x->kind, "reverse") && !isnan(x->sigma_distance))
            snprintf(note, sizeof note, "%.2f sigma; %s", x->sigma_distance, x->note);
        else snprintf(note, sizeof note, "%s", x->note);
        const char *row[] = {x->name, x->kind, a1, a2, a3, note, NULL};
        qa_report_table_row(rep, row);
    }
    qa_report_table_end(rep);
    report_scenario_charts(rep, r);
}

static void report_limits(qa_report_t *rep, const qa_stress_results *r) {
    const qa_stress_cfg *c = r->cfg;
    if (!c->limits.n) return;
    char a1[64], a2[64], metric[64];
    qa_report_heading(rep, "Limits");
    const char *hd[] = {"limit", "metric", "value", "bound", "state"};
    qa_report_table_begin(rep, hd, 5);
    for (size_t i = 0; i < c->limits.n; i++) {
        const qa_limit_result *lr = &r->limits[i];
        snprintf(a1, sizeof a1, "%.6g", lr->value);
        double bound = !isnan(lr->threshold) ? lr->threshold : !isinf(lr->limit->max) ? lr->limit->max : lr->limit->min;
        snprintf(a2, sizeof a2, "%.6g", bound);
        if (lr->limit->metric <= QA_LIMIT_ES)
            snprintf(metric, sizeof metric, "%s %.4g%%", qa_limit_metric_names[lr->limit->metric], 100 * lr->limit->level);
        else snprintf(metric, sizeof metric, "%s", qa_limit_metric_names[lr->limit->metric]);
        const char *row[] = {lr->limit->name, metric, a1, a2, limit_states[lr->state], NULL};
        qa_report_table_row(rep, row);
    }
    qa_report_table_end(rep);
    qa_report_text(rep, "VaR/ES limits use the %s figures as fractions of the portfolio value; alerts in alerts.jsonl.",
                   r->limits_source >= 0 ? qa_stress_method_names[r->limits_source] : "(none)");
}

static qa_status write_report(const char *path, const qa_stress_results *r) {
    qa_report_t *rep = NULL;
    QA_TRY_RET(qa_report_create("qa stress", &rep));
    report_portfolio(rep, r);
    report_measures(rep, r);
    report_losses(rep, r);
    report_contributions(rep, r);
    report_scenarios(rep, r);
    report_limits(rep, r);
    for (size_t i = 0; i < r->nnotes; i++) qa_report_text(rep, "Note: %s", r->notes[i]);
    qa_status st = qa_report_write(rep, path);
    qa_report_free(rep);
    return st;
}

qa_status qa_stress_write_outputs(const char *run_dir, const qa_stress_results *r, json_t **summary) {
    char p[QA_PATH_MAX];
    qa_status st = qa_path_join(p, run_dir, "results.h5");
    if (st == QA_OK) st = write_h5(p, r);
    if (st != QA_OK) return st;
    json_t *s = summary_json(r);
    if ((st = qa_path_join(p, run_dir, "summary.json")) == QA_OK) st = qa_json_write_file(s, p);
    if (st == QA_OK && (st = qa_path_join(p, run_dir, "report.html")) == QA_OK) st = write_report(p, r);
    if (st == QA_OK && summary) *summary = s;
    else json_decref(s);
    return st;
}
