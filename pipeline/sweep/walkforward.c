/* Walk-forward optimisation for the sweep: rolling or anchored train/test windows, the
 * in-sample choice of the best parameter set (per symbol, or for the portfolio / xs
 * series), its out-of-sample evaluation on the next window, and the stitched
 * out-of-sample series.
 *
 * Window w trains on bars [train_begin, train_end) (indicators warm up on everything
 * before) and tests on [test_begin, test_end) with test_begin = train_end. The test run
 * uses the evaluation range [test_begin - 1, test_end): its base bar is the last training
 * bar, so its P&L bars are exactly the test bars and consecutive test windows tile the
 * out-of-sample period without gaps; every test window starts flat. */
#include "pipeline/sweep/sweep_internal.h"

#include <math.h>    /* NAN, isnan */
#include <stdio.h>   /* snprintf, fprintf */
#include <stdlib.h>  /* calloc */
#include <string.h>  /* memset */

#include "common/fs.h"             /* walkforward.csv */
#include "common/timeparse.h"    /* dates in tables */
#include "kernels/backtest_rules.h" /* qa_bt_series_metrics: the metric definitions, reused for the stitched series */

/* ---- windows ----------------------------------------------------------------------------- */

qa_status qa_sweep_wf_plan(qa_sweep_cfg *c) {
    qa_sweep_wf *w = &c->wf;
    const qa_cfg_node *n = w->enabled ? c->n_wf : NULL;
    const size_t tb = c->t_begin, te = c->t_end;
    if (w->train < 2)
        return qa_cfg_error(c->doc, qa_cfg_map_get(n, "train"), "walk_forward.train", "%lld bars (needs >= 2)", w->train);
    if (w->step < w->test)
        return qa_cfg_error(c->doc, qa_cfg_map_get(n, "step"), "walk_forward.step",
                            "%lld bars is shorter than the test window (%lld): out-of-sample windows would overlap",
                            w->step, w->test);
    if ((double)tb + (double)w->train >= (double)te)
        return qa_cfg_error(c->doc, qa_cfg_map_get(n, "train"), "walk_forward.train",
                            "%lld bars leave no test window in the %zu bars between start and end", w->train, te - tb);
    size_t nwin = 0;
    for (size_t k = 0;; k++) {
        double trend = (double)tb + (double)w->train + (double)k * (double)w->step;
        if (trend >= (double)te) break;
        nwin++;
        if (nwin > 100000)
            return qa_cfg_error(c->doc, n, "walk_forward", "more than 100,000 windows: lengthen step or test");
    }
    free(w->train_begin);
    w->train_begin = calloc(4 * nwin, sizeof(size_t));
    if (!w->train_begin) return QA_FAIL(QA_ERR_NOMEM, "walk-forward windows");
    w->train_end = w->train_begin + nwin;
    w->test_begin = w->train_end + nwin;
    w->test_end = w->test_begin + nwin;
    w->nwin = nwin;
    for (size_t k = 0; k < nwin; k++) {
        size_t shift = k * (size_t)w->step;
        w->train_begin[k] = w->anchored ? tb : tb + shift;
        w->train_end[k] = tb + (size_t)w->train + shift;
        w->test_begin[k] = w->train_end[k];
        size_t e = w->test_begin[k] + (size_t)w->test;
        w->test_end[k] = e < te ? e : te;
    }
    return QA_OK;
}

/* ---- one window x a block of symbols (or the set series) ----------------------------------- */

#define WF_COLS (2 + QA_SWEEP_NMETRICS) /* chosen set, in-sample value, out-of-sample metrics */

static int on_host(qa_backend_t *be) { return qa_backend_kind_of(be) == QA_BACKEND_CPU; }

static void nan_row(double *row) {
    for (int m = 0; m < QA_SWEEP_NMETRICS; m++) row[m] = NAN;
    row[10] = row[11] = row[12] = 0; /* bars, drawdown duration, trades */
}

qa_status qa_sweep_compute_wf(const qa_sweep_cfg *c, const qa_sweep_data *d, qa_backend_t *be, const qa_sweep_chunk *k,
                              qa_sweep_result *r) {
    const qa_sweep_wf *w = &c->wf;
    const size_t trb = w->train_begin[k->w], tre = w->train_end[k->w];
    const size_t oob = w->test_begin[k->w] - 1, ooe = w->test_end[k->w];
    const size_t Lt = ooe - oob, L = Lt - 1; /* trace length; test bars */
    const size_t P = c->nparams, cp = (size_t)c->chunk_params;
    const int sets = w->per_portfolio;
    const size_t rows = sets ? 1 : k->ns;
    qa_status st = QA_OK;
    size_t *best = malloc(rows * sizeof *best);
    double *bval = malloc(rows * sizeof *bval);
    qa_bt_metrics *m = malloc((sets ? cp : k->ns * cp) * sizeof *m);
    double *tr = malloc(2 * Lt * sizeof *tr);
    r->rows = rows;
    r->cols = WF_COLS;
    r->values = malloc(rows * WF_COLS * sizeof(double));
    r->series_len = L;
    r->series = malloc(QA_SWEEP_NZ(rows * L) * sizeof(double));
    if (!sets) r->pos = malloc(QA_SWEEP_NZ(rows * L) * sizeof(double));
    if (!best || !bval || !m || !tr || !r->values || !r->series || (!sets && !r->pos))
        QA_TRY_FAIL(QA_ERR_NOMEM, "walk-forward window of %zu series", rows);
    for (size_t i = 0; i < rows; i++) {
        best[i] = (size_t)-1;
        bval[i] = NAN;
    }
    /* In sample: every set, block by block; strict improvement keeps the lowest index on ties. */
    for (size_t p0 = 0; p0 < P; p0 += cp) {
        size_t np = P - p0 < cp ? P - p0 : cp;
        if (sets) {
            QA_TRY(qa_sweep_set_series(c, d, be, p0, np, trb, tre, m, NULL));
        } else {
            qa_bt_data v = qa_sweep_data_view(d, k->s0, k->ns, trb, tre, on_host(be));
            qa_bt_grid g = {(qa_bt_strategy)c->strategy, c->params + p0, np};
            QA_TRY(qa_bt_run(be, &v, &g, &c->bt, m, NULL, 0));
        }
        for (size_t i = 0; i < rows; i++)
            for (size_t p = 0; p < np; p++) {
                double x = qa_sweep_metric_value(&m[i * np + p], w->metric);
                if (qa_sweep_better(w->metric, x, bval[i])) {
                    bval[i] = x;
                    best[i] = p0 + p;
                }
            }
    }
    /* Out of sample: the chosen set on the next window. */
    for (size_t i = 0; i < rows; i++) {
        double *row = r->values + i * WF_COLS, *ser = r->series + i * L, *pos = r->pos ? r->pos + i * L : NULL;
        row[0] = best[i] == (size_t)-1 ? -1.0 : (double)best[i];
        row[1] = bval[i];
        if (best[i] == (size_t)-1) { /* no set had a defined metric in sample: stay flat */
            nan_row(row + 2);
            for (size_t j = 0; j < L; j++) {
                ser[j] = NAN;
                if (pos) pos[j] = 0;
            }
            continue;
        }
        qa_bt_metrics om;
        if (sets) {
            QA_TRY(qa_sweep_set_series(c, d, be, best[i], 1, oob, ooe, &om, tr));
            memcpy(ser, tr + 1, L * sizeof *ser);
        } else {
            qa_bt_data v = qa_sweep_data_view(d, k->s0 + i, 1, oob, ooe, on_host(be));
            qa_bt_grid g = {(qa_bt_strategy)c->strategy, c->params + best[i], 1};
            qa_bt_trace t = {0, 0, NULL, tr + Lt, tr};
            QA_TRY(qa_bt_run(be, &v, &g, &c->bt, &om, &t, 1));
            memcpy(ser, tr + 1, L * sizeof *ser);
            memcpy(pos, tr + Lt + 1, L * sizeof *pos);
        }
        qa_sweep_metrics_to_row(&om, row + 2);
    }
cleanup:
    free(best);
    free(bval);
    free(m);
    free(tr);
    return st;
}

/* ---- merge: per-window table, stitched series ---------------------------------------------------- */

void qa_sweep_wf_out_free(qa_sweep_wf_out *w) {
    if (!w) return;
    free(w->time);
    free(w->equity);
    free(w->names);
    json_decref(w->windows);
    json_decref(w->stitched);
    memset(w, 0, sizeof *w);
}

static json_t *metrics_json(const double *row) {
    json_t *o = json_object();
    for (int m = 0; m < QA_SWEEP_NMETRICS; m++) {
        if (m >= 10) json_object_set_new(o, qa_sweep_metric_names[m], json_integer((json_int_t)row[m]));
        else json_object_set_new(o, qa_sweep_metric_names[m], isfinite(row[m]) ? json_real(row[m]) : json_null());
    }
    return o;
}

static json_t *params_json(const qa_sweep_cfg *c, long p) {
    if (p < 0) return json_null();
    json_t *o = json_object();
    for (int j = 0; j < c->nslots; j++) json_object_set_new(o, c->slot_names[j], json_real(c->params[p].p[j]));
    return o;
}

static json_t *num(double x) { return isfinite(x) ? json_real(x) : json_null(); }

qa_status qa_sweep_wf_merge(const qa_sweep_cfg *c, const char *run_dir, const char *input_hash,
                            const qa_sweep_chunk *plan, size_t nplan, hid_t results, json_t *summary,
                            qa_sweep_wf_out *out) {
    memset(out, 0, sizeof *out);
    const qa_sweep_wf *w = &c->wf;
    const size_t W = w->nwin, nser = w->per_portfolio ? 1 : c->nsym;
    const size_t base = w->test_begin[0], len = w->test_end[W - 1] - base;
    const int metric = w->metric;
    qa_status st = QA_OK;
    double *R = calloc(nser * len, sizeof *R), *turn = calloc(nser * len, sizeof *turn);
    unsigned char *held = calloc(nser * len, 1);
    int64_t *trades = calloc(nser, sizeof *trades), *chosen = malloc(W * nser * sizeof *chosen);
    double *isv = malloc(W * nser * sizeof *isv), *oosv = malloc(W * nser * sizeof *oosv);
    int64_t *win = malloc(W * 4 * sizeof *win);
    FILE *csv = NULL;
    qa_atomic_file af;
    memset(&af, 0, sizeof af);
    out->nser = nser;
    out->len = len;
    out->time = malloc(len * sizeof *out->time);
    out->equity = malloc(nser * len * sizeof *out->equity);
    out->names = calloc(nser, sizeof *out->names);
    out->windows = json_array();
    out->stitched = json_array();
    if (!R || !turn || !held || !trades || !chosen || !isv || !oosv || !win || !out->time || !out->equity || !out->names)
        QA_TRY_FAIL(QA_ERR_NOMEM, "walk-forward merge (%zu series x %zu bars)", nser, len);
    for (size_t i = 0; i < nser * len; i++) R[i] = NAN;
    for (size_t i = 0; i < W * nser; i++) {
        chosen[i] = -1;
        isv[i] = oosv[i] = NAN;
    }
    memcpy(out->time, c->time + base, len * sizeof *out->time);
    for (size_t s = 0; s < nser; s++)
        snprintf(out->names[s], QA_STORE_SYMBOL_LEN, "%s", w->per_portfolio ? (c->strategy == QA_SWEEP_XS ? "xs_topk" : "portfolio") : c->sym_names[s]);

    char path[QA_PATH_MAX];
    QA_TRY(qa_path_join(path, run_dir, "walkforward.csv"));
    QA_TRY(qa_atomic_open(&af, path));
    csv = af.f;
    fprintf(csv, "window,train_start,train_end,test_start,test_end,series,param_index");
    for (int j = 0; j < c->nslots; j++) fprintf(csv, ",%s", c->slot_names[j]);
    fprintf(csv, ",is_%s,oos_%s,gap", qa_sweep_metric_names[metric], qa_sweep_metric_names[metric]);
    for (int m = 0; m < QA_SWEEP_NMETRICS; m++) fprintf(csv, ",oos_%s", qa_sweep_metric_names[m]);
    fprintf(csv, "\n");

    for (size_t i = 0; i < nplan; i++) {
        if (plan[i].kind != QA_SWEEP_CHUNK_WF) continue;
        char cp[QA_PATH_MAX];
        qa_sweep_result r;
        QA_TRY(qa_sweep_chunk_path(run_dir, i, cp));
        QA_TRY(qa_sweep_chunk_read(cp, c, input_hash, &r));
        size_t k = plan[i].w, s0 = w->per_portfolio ? 0 : plan[i].s0;
        size_t off = w->test_begin[k] - base;
        if (r.cols != WF_COLS || r.series_len != w->test_end[k] - w->test_begin[k]) {
            qa_sweep_result_free(&r);
            QA_TRY_FAIL(QA_ERR_FORMAT, "%s: walk-forward chunk of an unexpected shape", cp);
        }
        char d0[40], d1[40], d2[40], d3[40];
        qa_time_format_iso(c->time[w->train_begin[k]], d0, sizeof d0);
        qa_time_format_iso(c->time[w->train_end[k] - 1], d1, sizeof d1);
        qa_time_format_iso(c->time[w->test_begin[k]], d2, sizeof d2);
        qa_time_format_iso(c->time[w->test_end[k] - 1], d3, sizeof d3);
        for (size_t row = 0; row < r.rows; row++) {
            size_t s = s0 + row;
            const double *v = r.values + row * WF_COLS;
            chosen[k * nser + s] = (int64_t)v[0];
            isv[k * nser + s] = v[1];
            oosv[k * nser + s] = v[2 + metric];
            trades[s] += (int64_t)v[2 + 12];
            for (size_t j = 0; j < r.series_len; j++) {
                size_t t = s * len + off + j;
                R[t] = r.series[row * r.series_len + j];
                if (r.pos) {
                    double p = r.pos[row * r.series_len + j], prev = j ? r.pos[row * r.series_len + j - 1] : 0.0;
                    turn[t] = fabs(p - prev);
                    held[t] = prev != 0.0;
                } else {
                    held[t] = !isnan(R[t]) && R[t] != 0.0;
                }
            }
            fprintf(csv, "%zu,%s,%s,%s,%s,%s,%ld", k, d0, d1, d2, d3, out->names[s], (long)v[0]);
            for (int j = 0; j < c->nslots; j++) {
                if (v[0] >= 0) fprintf(csv, ",%.17g", c->params[(size_t)v[0]].p[j]);
                else fprintf(csv, ",");
            }
            fprintf(csv, ",%.17g,%.17g,%.17g", v[1], v[2 + metric], v[1] - v[2 + metric]);
            for (int m = 0; m < QA_SWEEP_NMETRICS; m++) fprintf(csv, ",%.17g", v[2 + m]);
            fprintf(csv, "\n");
        }
        qa_sweep_result_free(&r);
    }
    QA_TRY(qa_atomic_commit(&af));

    /* Per-window rows for the summary and the report. */
    for (size_t k = 0; k < W; k++) {
        win[k * 4 + 0] = (int64_t)w->train_begin[k];
        win[k * 4 + 1] = (int64_t)w->train_end[k];
        win[k * 4 + 2] = (int64_t)w->test_begin[k];
        win[k * 4 + 3] = (int64_t)w->test_end[k];
        char d[4][40];
        qa_time_format_iso(c->time[w->train_begin[k]], d[0], 40);
        qa_time_format_iso(c->time[w->train_end[k] - 1], d[1], 40);
        qa_time_format_iso(c->time[w->test_begin[k]], d[2], 40);
        qa_time_format_iso(c->time[w->test_end[k] - 1], d[3], 40);
        json_t *o = json_object();
        json_object_set_new(o, "window", json_integer((json_int_t)k));
        json_object_set_new(o, "train_start", json_string(d[0]));
        json_object_set_new(o, "train_end", json_string(d[1]));
        json_object_set_new(o, "test_start", json_string(d[2]));
        json_object_set_new(o, "test_end", json_string(d[3]));
        double si = 0, so = 0;
        size_t ni = 0, no = 0;
        for (size_t s = 0; s < nser; s++) {
            double a = isv[k * nser + s], b = oosv[k * nser + s];
            if (isfinite(a)) si += a, ni++;
            if (isfinite(b)) so += b, no++;
        }
        double mi = ni ? si / (double)ni : NAN, mo = no ? so / (double)no : NAN;
        json_object_set_new(o, "is", num(mi));
        json_object_set_new(o, "oos", num(mo));
        json_object_set_new(o, "gap", num(mi - mo));
        if (nser == 1) {
            json_object_set_new(o, "param_index", json_integer(chosen[k]));
            json_object_set_new(o, "params", params_json(c, (long)chosen[k]));
        } else {
            /* the set chosen for the most symbols */
            long mode = -1;
            size_t cnt = 0;
            for (size_t s = 0; s < nser; s++) {
                size_t n = 0;
                for (size_t u = 0; u < nser; u++) n += chosen[k * nser + u] == chosen[k * nser + s];
                if (chosen[k * nser + s] >= 0 && (n > cnt || (n == cnt && chosen[k * nser + s] < mode))) {
                    cnt = n;
                    mode = (long)chosen[k * nser + s];
                }
            }
            json_object_set_new(o, "param_index", json_integer(mode));
            json_object_set_new(o, "params", params_json(c, mode));
            json_object_set_new(o, "chosen_by", json_integer((json_int_t)cnt));
            json_t *per = json_array();
            for (size_t s = 0; s < nser; s++) json_array_append_new(per, json_integer(chosen[k * nser + s]));
            json_object_set_new(o, "param_index_per_symbol", per);
        }
        json_array_append_new(out->windows, o);
    }

    /* Stitched out-of-sample series: the DESIGN metrics over the concatenated test bars. */
    double sum_sh = 0;
    size_t n_sh = 0;
    for (size_t s = 0; s < nser; s++) {
        qa_bt_metrics m;
        qa_bt_series_metrics(R + s * len, turn + s * len, held + s * len, (long)len, trades[s], c->bt.bars_per_year, &m);
        double row[QA_SWEEP_NMETRICS];
        qa_sweep_metrics_to_row(&m, row);
        json_t *o = metrics_json(row);
        json_object_set_new(o, "series", json_string(out->names[s]));
        json_array_append_new(out->stitched, o);
        if (isfinite(m.sharpe)) sum_sh += m.sharpe, n_sh++;
        double E = 1.0;
        for (size_t j = 0; j < len; j++) {
            double x = R[s * len + j];
            if (!isnan(x)) {
                E *= 1.0 + x;
                if (E < 0) E = 0;
            }
            out->equity[s * len + j] = E;
        }
    }

    /* results.h5: /walkforward */
    size_t dw[2] = {W, 4}, dc[2] = {W, nser}, de[2] = {nser, len};
    QA_TRY(qa_h5_put(results, "walkforward/windows", H5T_STD_I64LE, 2, dw, win));
    QA_TRY(qa_h5_put(results, "walkforward/param_index", H5T_STD_I64LE, 2, dc, chosen));
    QA_TRY(qa_h5_put(results, "walkforward/is_value", H5T_IEEE_F64LE, 2, dc, isv));
    QA_TRY(qa_h5_put(results, "walkforward/oos_value", H5T_IEEE_F64LE, 2, dc, oosv));
    QA_TRY(qa_h5_put(results, "walkforward/oos_returns", H5T_IEEE_F64LE, 2, de, R));
    QA_TRY(qa_h5_put(results, "walkforward/oos_equity", H5T_IEEE_F64LE, 2, de, out->equity));
    QA_TRY(qa_h5_put(results, "walkforward/time", H5T_STD_I64LE, 1, de + 1, out->time));
    QA_TRY(qa_h5_put_names(results, "walkforward/series", (const char *)out->names, nser, QA_STORE_SYMBOL_LEN));
    {
        hid_t g = H5Gopen2(results, "walkforward", H5P_DEFAULT);
        if (g < 0) QA_TRY(QA_H5_FAIL(-1, "results", "no walkforward group"));
        st = qa_h5_attr_set_str(g, NULL, "select_by", qa_sweep_metric_names[metric]);
        if (st == QA_OK) st = qa_h5_attr_set_str(g, NULL, "per", w->per_portfolio ? "portfolio" : "symbol");
        if (st == QA_OK) st = qa_h5_attr_set_i64(g, NULL, "anchored", w->anchored);
        if (st == QA_OK) st = qa_h5_attr_set_i64(g, NULL, "train_bars", w->train);
        if (st == QA_OK) st = qa_h5_attr_set_i64(g, NULL, "test_bars", w->test);
        if (st == QA_OK) st = qa_h5_attr_set_i64(g, NULL, "step_bars", w->step);
        H5Gclose(g);
        if (st != QA_OK) goto cleanup;
    }

    if (summary) {
        json_t *o = json_object();
        json_object_set_new(o, "select_by", json_string(qa_sweep_metric_names[metric]));
        json_object_set_new(o, "per", json_string(w->per_portfolio ? "portfolio" : "symbol"));
        json_object_set_new(o, "anchored", json_boolean(w->anchored));
        json_object_set_new(o, "train_bars", json_integer(w->train));
        json_object_set_new(o, "test_bars", json_integer(w->test));
        json_object_set_new(o, "step_bars", json_integer(w->step));
        json_object_set_new(o, "windows", json_incref(out->windows));
        json_object_set_new(o, "stitched", json_incref(out->stitched));
        json_object_set_new(o, "mean_stitched_sharpe", num(n_sh ? sum_sh / (double)n_sh : NAN));
        json_object_set_new(summary, "walk_forward", o);
    }
cleanup:
    qa_atomic_abort(&af);
    free(R);
    free(turn);
    free(held);
    free(trades);
    free(chosen);
    free(isv);
    free(oosv);
    free(win);
    if (st != QA_OK) qa_sweep_wf_out_free(out);
    return st;
}
