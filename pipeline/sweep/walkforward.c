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
#include "common/mem.h"
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
    QA_FREE_ALL(best, bval, m, tr);
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

/* The walk-forward merge: per (window, series) choices and values, and the stitched
 * out-of-sample series. */
typedef struct wf_merge {
    const qa_sweep_cfg *c;
    const qa_sweep_wf *w;
    size_t W, nser, base, len;   /* windows, series, first test bar, stitched bars */
    double *R, *turn;            /* nser x len: returns, turnover */
    unsigned char *held;         /* nser x len */
    int64_t *trades;             /* nser */
    int64_t *chosen;             /* W x nser: parameter set (-1 none) */
    double *isv, *oosv;          /* W x nser: in- and out-of-sample value of the metric */
    int64_t *win;                /* W x 4: train_begin, train_end, test_begin, test_end */
    double mean_sharpe;          /* over the stitched series */
} wf_merge;

static void wf_free(wf_merge *m) {
    QA_FREE_ALL(m->R, m->turn, m->held, m->trades, m->chosen, m->isv, m->oosv, m->win);
}

static qa_status wf_alloc(wf_merge *m, qa_sweep_wf_out *out) {
    const qa_sweep_cfg *c = m->c;
    size_t W = m->W, nser = m->nser, len = m->len;
    /* Zeroed before the NaN / -1 fill below, so that no element is ever undefined. */
    m->R = calloc(nser * len, sizeof *m->R);
    m->turn = calloc(nser * len, sizeof *m->turn);
    m->held = calloc(nser * len, 1);
    m->trades = calloc(nser, sizeof *m->trades);
    m->chosen = calloc(W * nser, sizeof *m->chosen);
    m->isv = calloc(W * nser, sizeof *m->isv);
    m->oosv = calloc(W * nser, sizeof *m->oosv);
    m->win = malloc(W * 4 * sizeof *m->win);
    out->nser = nser;
    out->len = len;
    out->time = malloc(len * sizeof *out->time);
    out->equity = malloc(nser * len * sizeof *out->equity);
    out->names = calloc(nser, sizeof *out->names);
    out->windows = json_array();
    out->stitched = json_array();
    if (!m->R || !m->turn || !m->held || !m->trades || !m->chosen || !m->isv || !m->oosv || !m->win || !out->time ||
        !out->equity || !out->names)
        return QA_FAIL(QA_ERR_NOMEM, "walk-forward merge (%zu series x %zu bars)", nser, len);
    for (size_t i = 0; i < nser * len; i++) m->R[i] = NAN;
    for (size_t i = 0; i < W * nser; i++) {
        m->chosen[i] = -1;
        m->isv[i] = m->oosv[i] = NAN;
    }
    memcpy(out->time, c->time + m->base, len * sizeof *out->time);
    const char *whole = c->strategy == QA_SWEEP_XS ? "xs_topk" : "portfolio";
    for (size_t s = 0; s < nser; s++)
        snprintf(out->names[s], QA_STORE_SYMBOL_LEN, "%s", m->w->per_portfolio ? whole : c->sym_names[s]);
    return QA_OK;
}

static void csv_header(const qa_sweep_cfg *c, FILE *csv) {
    const char *metric = qa_sweep_metric_names[c->wf.metric];
    fprintf(csv, "window,train_start,train_end,test_start,test_end,series,param_index");
    for (int j = 0; j < c->nslots; j++) fprintf(csv, ",%s", c->slot_names[j]);
    fprintf(csv, ",is_%s,oos_%s,gap", metric, metric);
    for (int m = 0; m < QA_SWEEP_NMETRICS; m++) fprintf(csv, ",oos_%s", qa_sweep_metric_names[m]);
    fprintf(csv, "\n");
}

/* ISO dates of window k: first and last training bar, first and last test bar. */
static void window_dates(const qa_sweep_cfg *c, size_t k, char d[4][40]) {
    const qa_sweep_wf *w = &c->wf;
    qa_time_format_iso(c->time[w->train_begin[k]], d[0], 40);
    qa_time_format_iso(c->time[w->train_end[k] - 1], d[1], 40);
    qa_time_format_iso(c->time[w->test_begin[k]], d[2], 40);
    qa_time_format_iso(c->time[w->test_end[k] - 1], d[3], 40);
}

/* Row `row` of window k's chunk (series s): its choice and values, its test bars into the
 * stitched series, and its walkforward.csv line. */
static void take_row(wf_merge *m, const qa_sweep_result *r, size_t row, size_t k, size_t s, const char *name,
                     char d[4][40], FILE *csv) {
    const qa_sweep_cfg *c = m->c;
    const int metric = m->w->metric;
    const double *v = r->values + row * WF_COLS;
    size_t off = m->w->test_begin[k] - m->base, n = r->series_len;
    m->chosen[k * m->nser + s] = (int64_t)v[0];
    m->isv[k * m->nser + s] = v[1];
    m->oosv[k * m->nser + s] = v[2 + metric];
    m->trades[s] += (int64_t)v[2 + 12];
    for (size_t j = 0; j < n; j++) {
        size_t t = s * m->len + off + j;
        m->R[t] = r->series[row * n + j];
        if (r->pos) {
            double p = r->pos[row * n + j], prev = j ? r->pos[row * n + j - 1] : 0.0;
            m->turn[t] = fabs(p - prev);
            m->held[t] = prev != 0.0;
        } else {
            m->held[t] = !isnan(m->R[t]) && m->R[t] != 0.0;
        }
    }
    fprintf(csv, "%zu,%s,%s,%s,%s,%s,%ld", k, d[0], d[1], d[2], d[3], name, (long)v[0]);
    for (int j = 0; j < c->nslots; j++) {
        if (v[0] >= 0) fprintf(csv, ",%.17g", c->params[(size_t)v[0]].p[j]);
        else fprintf(csv, ",");
    }
    fprintf(csv, ",%.17g,%.17g,%.17g", v[1], v[2 + metric], v[1] - v[2 + metric]);
    for (int q = 0; q < QA_SWEEP_NMETRICS; q++) fprintf(csv, ",%.17g", v[2 + q]);
    fprintf(csv, "\n");
}

/* Reads the walk-forward chunks in plan order; writes walkforward.csv atomically. */
static qa_status read_chunks(wf_merge *m, const char *run_dir, const char *input_hash, const qa_sweep_chunk *plan,
                             size_t nplan, const qa_sweep_wf_out *out) {
    const qa_sweep_cfg *c = m->c;
    const qa_sweep_wf *w = m->w;
    qa_status st = QA_OK;
    qa_atomic_file af;
    memset(&af, 0, sizeof af);
    char path[QA_PATH_MAX];
    QA_TRY(qa_path_join(path, run_dir, "walkforward.csv"));
    QA_TRY(qa_atomic_open(&af, path));
    csv_header(c, af.f);
    for (size_t i = 0; i < nplan; i++) {
        if (plan[i].kind != QA_SWEEP_CHUNK_WF) continue;
        qa_sweep_result r;
        QA_TRY(qa_sweep_chunk_path(run_dir, i, path));
        QA_TRY(qa_sweep_chunk_read(path, c, input_hash, &r));
        size_t k = plan[i].w, s0 = w->per_portfolio ? 0 : plan[i].s0;
        if (r.cols != WF_COLS || r.series_len != w->test_end[k] - w->test_begin[k]) {
            qa_sweep_result_free(&r);
            QA_TRY_FAIL(QA_ERR_FORMAT, "%s: walk-forward chunk of an unexpected shape", path);
        }
        char d[4][40];
        window_dates(c, k, d);
        for (size_t row = 0; row < r.rows; row++) take_row(m, &r, row, k, s0 + row, out->names[s0 + row], d, af.f);
        qa_sweep_result_free(&r);
    }
    QA_TRY(qa_atomic_commit(&af));
cleanup:
    qa_atomic_abort(&af);
    return st;
}

/* The parameter set chosen for the most series in window k (ties: the lowest index), and
 * how many chose it. */
static long window_mode(const wf_merge *m, size_t k, size_t *count) {
    const int64_t *ch = m->chosen + k * m->nser;
    long mode = -1;
    size_t cnt = 0;
    for (size_t s = 0; s < m->nser; s++) {
        size_t n = 0;
        for (size_t u = 0; u < m->nser; u++) n += ch[u] == ch[s];
        if (ch[s] >= 0 && (n > cnt || (n == cnt && ch[s] < mode))) {
            cnt = n;
            mode = (long)ch[s];
        }
    }
    *count = cnt;
    return mode;
}

/* Window k's row of the summary and the report: dates, mean in- and out-of-sample value,
 * the chosen set. */
static json_t *window_json(const wf_merge *m, size_t k) {
    const qa_sweep_cfg *c = m->c;
    size_t nser = m->nser;
    char d[4][40];
    window_dates(c, k, d);
    json_t *o = json_object();
    json_object_set_new(o, "window", json_integer((json_int_t)k));
    json_object_set_new(o, "train_start", json_string(d[0]));
    json_object_set_new(o, "train_end", json_string(d[1]));
    json_object_set_new(o, "test_start", json_string(d[2]));
    json_object_set_new(o, "test_end", json_string(d[3]));
    double si = 0, so = 0;
    size_t ni = 0, no = 0;
    for (size_t s = 0; s < nser; s++) {
        double a = m->isv[k * nser + s], b = m->oosv[k * nser + s];
        if (isfinite(a)) si += a, ni++;
        if (isfinite(b)) so += b, no++;
    }
    double mi = ni ? si / (double)ni : NAN, mo = no ? so / (double)no : NAN;
    json_object_set_new(o, "is", num(mi));
    json_object_set_new(o, "oos", num(mo));
    json_object_set_new(o, "gap", num(mi - mo));
    if (nser == 1) {
        json_object_set_new(o, "param_index", json_integer(m->chosen[k]));
        json_object_set_new(o, "params", params_json(c, (long)m->chosen[k]));
        return o;
    }
    size_t cnt;
    long mode = window_mode(m, k, &cnt);
    json_object_set_new(o, "param_index", json_integer(mode));
    json_object_set_new(o, "params", params_json(c, mode));
    json_object_set_new(o, "chosen_by", json_integer((json_int_t)cnt));
    json_t *per = json_array();
    for (size_t s = 0; s < nser; s++) json_array_append_new(per, json_integer(m->chosen[k * nser + s]));
    json_object_set_new(o, "param_index_per_symbol", per);
    return o;
}

/* Stitched out-of-sample series: the DESIGN metrics over the concatenated test bars, and
 * their equity (floored at 0). */
static void stitch(wf_merge *m, qa_sweep_wf_out *out) {
    double sum_sh = 0;
    size_t n_sh = 0, len = m->len;
    for (size_t s = 0; s < m->nser; s++) {
        qa_bt_metrics bm;
        const double *R = m->R + s * len;
        qa_bt_series_metrics(R, m->turn + s * len, m->held + s * len, (long)len, m->trades[s], m->c->bt.bars_per_year,
                             &bm);
        double row[QA_SWEEP_NMETRICS];
        qa_sweep_metrics_to_row(&bm, row);
        json_t *o = metrics_json(row);
        json_object_set_new(o, "series", json_string(out->names[s]));
        json_array_append_new(out->stitched, o);
        if (isfinite(bm.sharpe)) sum_sh += bm.sharpe, n_sh++;
        double E = 1.0;
        for (size_t j = 0; j < len; j++) {
            if (!isnan(R[j])) {
                E *= 1.0 + R[j];
                if (E < 0) E = 0;
            }
            out->equity[s * len + j] = E;
        }
    }
    m->mean_sharpe = n_sh ? sum_sh / (double)n_sh : NAN;
}

/* results.h5: /walkforward with its settings as attributes. */
static qa_status write_h5(const wf_merge *m, const qa_sweep_wf_out *out, hid_t results) {
    const qa_sweep_wf *w = m->w;
    size_t dw[2] = {m->W, 4}, dc[2] = {m->W, m->nser}, de[2] = {m->nser, m->len};
    QA_TRY_RET(qa_h5_put(results, "walkforward/windows", H5T_STD_I64LE, 2, dw, m->win));
    QA_TRY_RET(qa_h5_put(results, "walkforward/param_index", H5T_STD_I64LE, 2, dc, m->chosen));
    QA_TRY_RET(qa_h5_put(results, "walkforward/is_value", H5T_IEEE_F64LE, 2, dc, m->isv));
    QA_TRY_RET(qa_h5_put(results, "walkforward/oos_value", H5T_IEEE_F64LE, 2, dc, m->oosv));
    QA_TRY_RET(qa_h5_put(results, "walkforward/oos_returns", H5T_IEEE_F64LE, 2, de, m->R));
    QA_TRY_RET(qa_h5_put(results, "walkforward/oos_equity", H5T_IEEE_F64LE, 2, de, out->equity));
    QA_TRY_RET(qa_h5_put(results, "walkforward/time", H5T_STD_I64LE, 1, de + 1, out->time));
    QA_TRY_RET(qa_h5_put_names(results, "walkforward/series", (const char *)out->names, m->nser, QA_STORE_SYMBOL_LEN));
    hid_t g = H5Gopen2(results, "walkforward", H5P_DEFAULT);
    if (g < 0) return QA_H5_FAIL(-1, "results", "no walkforward group");
    qa_status st = qa_h5_attr_set_str(g, NULL, "select_by", qa_sweep_metric_names[w->metric]);
    if (st == QA_OK) st = qa_h5_attr_set_str(g, NULL, "per", w->per_portfolio ? "portfolio" : "symbol");
    if (st == QA_OK) st = qa_h5_attr_set_i64(g, NULL, "anchored", w->anchored);
    if (st == QA_OK) st = qa_h5_attr_set_i64(g, NULL, "train_bars", w->train);
    if (st == QA_OK) st = qa_h5_attr_set_i64(g, NULL, "test_bars", w->test);
    if (st == QA_OK) st = qa_h5_attr_set_i64(g, NULL, "step_bars", w->step);
    H5Gclose(g);
    return st;
}

static json_t *summary_json(const wf_merge *m, const qa_sweep_wf_out *out) {
    const qa_sweep_wf *w = m->w;
    json_t *o = json_object();
    json_object_set_new(o, "select_by", json_string(qa_sweep_metric_names[w->metric]));
    json_object_set_new(o, "per", json_string(w->per_portfolio ? "portfolio" : "symbol"));
    json_object_set_new(o, "anchored", json_boolean(w->anchored));
    json_object_set_new(o, "train_bars", json_integer(w->train));
    json_object_set_new(o, "test_bars", json_integer(w->test));
    json_object_set_new(o, "step_bars", json_integer(w->step));
    json_object_set_new(o, "windows", json_incref(out->windows));
    json_object_set_new(o, "stitched", json_incref(out->stitched));
    json_object_set_new(o, "mean_stitched_sharpe", num(m->mean_sharpe));
    return o;
}

static qa_status wf_steps(wf_merge *m, const char *run_dir, const char *input_hash, const qa_sweep_chunk *plan,
                          size_t nplan, hid_t results, json_t *summary, qa_sweep_wf_out *out) {
    const qa_sweep_wf *w = m->w;
    QA_TRY_RET(wf_alloc(m, out));
    QA_TRY_RET(read_chunks(m, run_dir, input_hash, plan, nplan, out));
    for (size_t k = 0; k < m->W; k++) {
        m->win[k * 4 + 0] = (int64_t)w->train_begin[k];
        m->win[k * 4 + 1] = (int64_t)w->train_end[k];
        m->win[k * 4 + 2] = (int64_t)w->test_begin[k];
        m->win[k * 4 + 3] = (int64_t)w->test_end[k];
        json_array_append_new(out->windows, window_json(m, k));
    }
    stitch(m, out);
    QA_TRY_RET(write_h5(m, out, results));
    if (summary) json_object_set_new(summary, "walk_forward", summary_json(m, out));
    return QA_OK;
}

qa_status qa_sweep_wf_merge(const qa_sweep_cfg *c, const char *run_dir, const char *input_hash,
                            const qa_sweep_chunk *plan, size_t nplan, hid_t results, json_t *summary,
                            qa_sweep_wf_out *out) {
    memset(out, 0, sizeof *out);
    wf_merge m;
    memset(&m, 0, sizeof m);
    m.c = c;
    m.w = &c->wf;
    m.W = m.w->nwin;
    m.nser = m.w->per_portfolio ? 1 : c->nsym;
    m.base = m.w->test_begin[0];
    m.len = m.w->test_end[m.W - 1] - m.base;
    qa_status st = wf_steps(&m, run_dir, input_hash, plan, nplan, results, summary, out);
    wf_free(&m);
    if (st != QA_OK) qa_sweep_wf_out_free(out);
    return st;
}
