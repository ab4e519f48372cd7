/* Sweep merge: reads the chunk files in chunk order and streams them into results.h5
 * (metrics [S, P] per metric, the parameter table, symbols, time), keeping only bounded
 * state in memory: the best N runs and sets, per-set aggregates, histogram samples and
 * the streaming multiple-testing statistics. Then the curves of the best runs and sets
 * (recomputed on the CPU), the walk-forward tables, summary.json, top.csv and the report.
 *
 * results.h5 (format "quantumalpha.sweep", version 1; docs/sweep.md):
 *   /            attrs: format, format_version, strategy, config_hash, input_hash, data,
 *                start, end, t_begin, t_end, bars_per_year, rank_by, symbols, params, runs
 *   /symbols [S], /param_names [k]  fixed-length strings
 *   /time [L] int64   /params [P, k] float64 (attribute names)
 *   /metrics/<m> [S, P] float64 (bars, max_dd_duration, trades: int64)
 *   /portfolio/metrics/<m> [P]      portfolio per set (when computed)
 *   /best/runs/{symbol_index, param_index, value, equity [N, L], drawdown [N, L]}
 *   /best/sets/{param_index, value, equity [N, L], drawdown [N, L]}
 *   /walkforward/...                 (walk-forward; see walkforward.c)
 *   /multiple_testing                attributes (deflated Sharpe, Reality Check, SPA) */
#include "pipeline/sweep/sweep_internal.h"

#include <math.h>    /* isnan, sqrt */
#include <stdio.h>   /* fprintf */
#include <stdlib.h>  /* calloc */
#include <string.h>  /* memcpy */

#include "common/fs.h"          /* atomic top.csv, results rename */
#include "common/json.h"        /* summary.json */
#include "common/log.h"         /* merge progress */
#include "common/mem.h"
#include "common/timer.h"       /* created stamp */
#include "common/timeparse.h" /* dates */
#include "pipeline/stats/mtest.h"     /* DSR, Reality Check, SPA */

#define HIST_CAP 1000000 /* histogram samples per metric; beyond, a deterministic stride */

/* ---- best-N list ------------------------------------------------------------------------- */

typedef struct best_list {
    size_t cap, n;
    int metric;
    size_t *a, *b;  /* (symbol, set) or (set, 0) */
    double *val;
    double *row;    /* [cap][13] */
} best_list;

static qa_status best_init(best_list *l, size_t cap, int metric) {
    memset(l, 0, sizeof *l);
    l->cap = cap;
    l->metric = metric;
    l->a = calloc(cap + 1, sizeof *l->a);
    l->b = calloc(cap + 1, sizeof *l->b);
    l->val = calloc(cap + 1, sizeof *l->val);
    l->row = calloc((cap + 1) * QA_SWEEP_NMETRICS, sizeof *l->row);
    if (!l->a || !l->b || !l->val || !l->row) return QA_FAIL(QA_ERR_NOMEM, "best list");
    return QA_OK;
}

static void best_free(best_list *l) {
    QA_FREE_ALL(l->a, l->b, l->val, l->row);
    memset(l, 0, sizeof *l);
}

/* Ordered by value (best first), ties by (a, b) ascending: independent of chunk order. */
static int ranks_before(const best_list *l, double v, size_t a, size_t b, size_t i) {
    if (qa_sweep_better(l->metric, v, l->val[i])) return 1;
    if (qa_sweep_better(l->metric, l->val[i], v)) return 0;
    return a < l->a[i] || (a == l->a[i] && b < l->b[i]);
}

static void best_offer(best_list *l, double v, size_t a, size_t b, const double *row) {
    if (isnan(v)) return;
    if (l->n == l->cap && !ranks_before(l, v, a, b, l->n - 1)) return;
    size_t i = l->n < l->cap ? l->n : l->cap - 1;
    while (i > 0 && ranks_before(l, v, a, b, i - 1)) {
        l->a[i] = l->a[i - 1];
        l->b[i] = l->b[i - 1];
        l->val[i] = l->val[i - 1];
        memcpy(l->row + i * QA_SWEEP_NMETRICS, l->row + (i - 1) * QA_SWEEP_NMETRICS, QA_SWEEP_NMETRICS * sizeof(double));
        i--;
    }
    l->a[i] = a;
    l->b[i] = b;
    l->val[i] = v;
    memcpy(l->row + i * QA_SWEEP_NMETRICS, row, QA_SWEEP_NMETRICS * sizeof(double));
    if (l->n < l->cap) l->n++;
}

/* ---- results file ------------------------------------------------------------------------------ */

typedef struct merge_state {
    const qa_sweep_cfg *c;
    qa_h5_file out; /* results.h5 under a temporary name until published */
    hid_t file;     /* out.id while open, -1 after */
    hid_t met[QA_SWEEP_NMETRICS];   /* /metrics/<m> */
    hid_t pmet[QA_SWEEP_NMETRICS];  /* /portfolio/metrics/<m> */
    best_list runs, sets;
    double *set_sum, *set_sharpe;   /* per set: aggregate of the rank metric / Sharpe */
    size_t *set_cnt, *sh_cnt;
    int set_from_series;            /* set aggregates come from set chunks */
    double *hist[3];
    size_t nhist, stride;
    size_t runs_total, runs_nan;
} merge_state;

static int is_int_metric(int m) { return m >= 10; }

/* Writes block [o0, o0+n0) x [o1, o1+n1) of the 13 metric datasets ds[] from the chunk's
 * rows (13 metrics each). The rows are split into one column per metric in a single pass
 * (tmp: 13 x n0 n1): a pass per metric reread the whole chunk 13 times at a 104-byte
 * stride, 70% of the overnight grid's merge. */
static qa_status write_metric_blocks(const hid_t *ds, size_t o0, size_t n0, size_t o1, size_t n1, const double *values,
                                     double *tmp) {
    const size_t n = n0 * n1;
    for (size_t i = 0; i < n; i++)
        for (int m = 0; m < QA_SWEEP_NMETRICS; m++) tmp[(size_t)m * n + i] = values[i * QA_SWEEP_NMETRICS + (size_t)m];
    for (int m = 0; m < QA_SWEEP_NMETRICS; m++) {
        double *col = tmp + (size_t)m * n;
        qa_status st;
        if (is_int_metric(m)) {
            int64_t *t = (int64_t *)col; /* in place: same width */
            for (size_t i = 0; i < n; i++) t[i] = (int64_t)col[i];
            st = qa_h5_write_block(ds[m], H5T_NATIVE_INT64, o0, n0, o1, n1, t);
        } else {
            st = qa_h5_write_block(ds[m], H5T_NATIVE_DOUBLE, o0, n0, o1, n1, col);
        }
        if (st != QA_OK) return st;
    }
    return QA_OK;
}

static qa_status results_create(merge_state *ms, const char *results, const qa_sweep_cfg *c, const char *input_hash) {
    const size_t S = c->strategy == QA_SWEEP_XS ? 1 : c->nsym, P = c->nparams, L = c->t_end - c->t_begin;
    qa_status st = QA_OK;
    if ((st = qa_h5_file_create(results, &ms->out)) != QA_OK) return st;
    hid_t f = ms->file = ms->out.id;
    char b[40], e[40], now[40];
    qa_time_format_iso(c->time[c->t_begin], b, sizeof b);
    qa_time_format_iso(c->time[c->t_end - 1], e, sizeof e);
    qa_time_utc_iso(now, sizeof now);
    QA_TRY(qa_h5_attr_set_str(f, NULL, "format", QA_SWEEP_FORMAT));
    QA_TRY(qa_h5_attr_set_i64(f, NULL, "format_version", QA_SWEEP_FORMAT_VERSION));
    QA_TRY(qa_h5_attr_set_str(f, NULL, "strategy", qa_sweep_strategy_name(c->strategy)));
    QA_TRY(qa_h5_attr_set_str(f, NULL, "config_hash", c->config_hash));
    QA_TRY(qa_h5_attr_set_str(f, NULL, "input_hash", input_hash));
    QA_TRY(qa_h5_attr_set_str(f, NULL, "data", c->data));
    QA_TRY(qa_h5_attr_set_str(f, NULL, "start", b));
    QA_TRY(qa_h5_attr_set_str(f, NULL, "end", e));
    QA_TRY(qa_h5_attr_set_i64(f, NULL, "t_begin", (int64_t)c->t_begin));
    QA_TRY(qa_h5_attr_set_i64(f, NULL, "t_end", (int64_t)c->t_end));
    QA_TRY(qa_h5_attr_set_f64(f, NULL, "bars_per_year", c->bt.bars_per_year));
    QA_TRY(qa_h5_attr_set_str(f, NULL, "rank_by", qa_sweep_metric_names[c->rank_metric]));
    QA_TRY(qa_h5_attr_set_i64(f, NULL, "symbols", (int64_t)S));
    QA_TRY(qa_h5_attr_set_i64(f, NULL, "params", (int64_t)P));
    QA_TRY(qa_h5_attr_set_i64(f, NULL, "runs", (int64_t)(S * P)));
    if (c->signal) QA_TRY(qa_h5_attr_set_str(f, NULL, "signal", c->signal));
    if (c->strategy == QA_SWEEP_XS) {
        char xs[1][QA_STORE_SYMBOL_LEN] = {"xs_topk"};
        QA_TRY(qa_h5_put_names(f, "symbols", xs[0], 1, QA_STORE_SYMBOL_LEN));
    } else {
        QA_TRY(qa_h5_put_names(f, "symbols", c->sym_names[0], S, QA_STORE_SYMBOL_LEN));
    }
    size_t dl[1] = {L};
    QA_TRY(qa_h5_put(f, "time", H5T_STD_I64LE, 1, dl, c->time + c->t_begin));
    {
        char names[QA_BT_MAX_PARAMS][32];
        memset(names, 0, sizeof names);
        char joined[256] = "";
        for (int j = 0; j < c->nslots; j++) {
            snprintf(names[j], 32, "%s", c->slot_names[j]);
            snprintf(joined + strlen(joined), sizeof joined - strlen(joined), "%s%s", j ? "," : "", c->slot_names[j]);
        }
        QA_TRY(qa_h5_put_names(f, "param_names", names[0], (size_t)c->nslots, 32));
        double *tab = malloc(QA_SWEEP_NZ(P * (size_t)c->nslots) * sizeof *tab);
        if (!tab) QA_TRY_FAIL(QA_ERR_NOMEM, "parameter table");
        for (size_t p = 0; p < P; p++)
            for (int j = 0; j < c->nslots; j++) tab[p * (size_t)c->nslots + (size_t)j] = c->params[p].p[j];
        size_t dp[2] = {P, (size_t)c->nslots};
        st = qa_h5_put(f, "params", H5T_IEEE_F64LE, 2, dp, tab);
        free(tab);
        if (st != QA_OK) goto cleanup;
        hid_t ds = H5Dopen2(f, "params", H5P_DEFAULT);
        st = qa_h5_attr_set_str(ds, NULL, "names", joined);
        H5Dclose(ds);
        if (st != QA_OK) goto cleanup;
    }
    size_t dims[2] = {S, P}, chunk[2] = {(size_t)c->chunk_symbols, (size_t)c->chunk_params};
    for (int m = 0; m < QA_SWEEP_NMETRICS; m++) {
        char path[64];
        snprintf(path, sizeof path, "metrics/%s", qa_sweep_metric_names[m]);
        QA_TRY(qa_h5_create(f, path, is_int_metric(m) ? H5T_STD_I64LE : H5T_IEEE_F64LE, 2, dims, chunk, &ms->met[m]));
        if (qa_sweep_has_sets(c) && c->strategy != QA_SWEEP_XS) {
            snprintf(path, sizeof path, "portfolio/metrics/%s", qa_sweep_metric_names[m]);
            size_t dp[1] = {P}, cp[1] = {(size_t)c->chunk_params};
            QA_TRY(qa_h5_create(f, path, is_int_metric(m) ? H5T_STD_I64LE : H5T_IEEE_F64LE, 1, dp, cp, &ms->pmet[m]));
        }
    }
cleanup:
    return st;
}

/* ---- streaming over the chunks ------------------------------------------------------------------- */

static void sample_hist(merge_state *ms, size_t run, const double *row) {
    if (run % ms->stride != 0 || ms->nhist >= HIST_CAP) return;
    ms->hist[0][ms->nhist] = row[3];
    ms->hist[1][ms->nhist] = row[0];
    ms->hist[2][ms->nhist] = row[5];
    ms->nhist++;
}

static qa_status merge_grid(merge_state *ms, const qa_sweep_result *r, double *tmp) {
    const qa_sweep_cfg *c = ms->c;
    const qa_sweep_chunk *k = &r->chunk;
    QA_TRY_RET(write_metric_blocks(ms->met, k->s0, k->ns, k->p0, k->np, r->values, tmp));
    for (size_t s = 0; s < k->ns; s++)
        for (size_t p = 0; p < k->np; p++) {
            const double *row = r->values + (s * k->np + p) * QA_SWEEP_NMETRICS;
            size_t gs = k->s0 + s, gp = k->p0 + p;
            double v = row[c->rank_metric];
            best_offer(&ms->runs, v, gs, gp, row);
            ms->runs_total++;
            if (isnan(v)) ms->runs_nan++;
            sample_hist(ms, gs * c->nparams + gp, row);
            if (!ms->set_from_series && !isnan(v)) {
                ms->set_sum[gp] += v;
                ms->set_cnt[gp]++;
            }
            if (!ms->set_from_series && !isnan(row[3])) {
                ms->set_sharpe[gp] += row[3];
                ms->sh_cnt[gp]++;
            }
        }
    return QA_OK;
}

typedef struct mt_state {
    qa_mtest_trials_t *trials;
    qa_mtest_rc_t *rc;
    double *bench;   /* [L] benchmark returns (bars 1..L-1 used) */
    double *diff;    /* scratch [L] */
    double *best;    /* [L] returns of the best set so far (by the rank metric) */
    double best_val;
    size_t best_p;
    int have_best;
} mt_state;

static qa_status merge_sets(merge_state *ms, mt_state *mt, const qa_sweep_result *r, double *tmp) {
    const qa_sweep_cfg *c = ms->c;
    const qa_sweep_chunk *k = &r->chunk;
    const size_t L = c->t_end - c->t_begin;
    qa_status st = QA_OK;
    if (c->strategy == QA_SWEEP_XS) st = write_metric_blocks(ms->met, 0, 1, k->p0, k->np, r->values, tmp);
    else st = write_metric_blocks(ms->pmet, k->p0, k->np, 0, 1, r->values, tmp);
    if (st != QA_OK) return st;
    if (r->series_len != L) return QA_FAIL(QA_ERR_FORMAT, "set chunk with %zu bars, expected %zu", r->series_len, L);
    for (size_t p = 0; p < k->np; p++) {
        const double *row = r->values + p * QA_SWEEP_NMETRICS, *R = r->series + p * L;
        size_t gp = k->p0 + p;
        double v = row[c->rank_metric];
        best_offer(&ms->sets, v, gp, 0, row);
        ms->set_sum[gp] = v;
        ms->set_cnt[gp] = !isnan(v);
        ms->set_sharpe[gp] = row[3];
        ms->sh_cnt[gp] = !isnan(row[3]);
        if (c->strategy == QA_SWEEP_XS) {
            best_offer(&ms->runs, v, 0, gp, row);
            ms->runs_total++;
            if (isnan(v)) ms->runs_nan++;
            sample_hist(ms, gp, row);
        }
        if (mt->trials) {
            qa_mtest_trials_add(mt->trials, R + 1);
            if (mt->rc) {
                for (size_t j = 1; j < L; j++) mt->diff[j - 1] = (isnan(R[j]) ? 0.0 : R[j]) - mt->bench[j];
                if ((st = qa_mtest_rc_add(mt->rc, mt->diff)) != QA_OK) return st;
            }
            if (!isnan(v) && (!mt->have_best || qa_sweep_better(c->rank_metric, v, mt->best_val))) {
                mt->have_best = 1;
                mt->best_val = v;
                mt->best_p = gp;
                memcpy(mt->best, R, L * sizeof *R);
            }
        }
    }
    return QA_OK;
}

/* Equal-weight buy-and-hold of the selected symbols: at bar t > t_begin the mean return
 * of the symbols with a close at t and an earlier close in the range. */
static void buy_and_hold(const qa_sweep_cfg *c, const qa_sweep_data *d, double *bench) {
    const size_t L = c->t_end - c->t_begin, T = d->T;
    double *sum = calloc(L, sizeof *sum);
    size_t *cnt = calloc(L, sizeof *cnt);
    for (size_t j = 0; j < L; j++) bench[j] = 0.0;
    if (!sum || !cnt) {
        free(sum);
        free(cnt);
        return;
    }
    for (size_t s = 0; s < d->S; s++) {
        double last = NAN;
        for (size_t t = c->t_begin; t < c->t_end; t++) {
            double x = d->close[s * T + t];
            if (isnan(x)) continue;
            if (!isnan(last)) {
                sum[t - c->t_begin] += x / last - 1.0;
                cnt[t - c->t_begin]++;
            }
            last = x;
        }
    }
    for (size_t j = 0; j < L; j++) bench[j] = cnt[j] ? sum[j] / (double)cnt[j] : 0.0;
    free(sum);
    free(cnt);
}

/* ---- curves of the best runs and sets --------------------------------------------------------------- */

static void drawdown_of(const double *E, size_t L, double *dd) {
    double peak = 1.0;
    for (size_t j = 0; j < L; j++) {
        if (E[j] > peak) peak = E[j];
        dd[j] = peak > 0 ? E[j] / peak - 1.0 : 0.0;
    }
}

static qa_status put_best(hid_t f, const char *group, const best_list *l, int with_symbol, const double *equity,
                          size_t L) {
    char path[96];
    qa_status st = QA_OK;
    size_t n = l->n, d1[1] = {n}, d2[2] = {n, L};
    int64_t *ia = malloc((n ? n : 1) * sizeof *ia), *ib = malloc((n ? n : 1) * sizeof *ib);
    double *dd = malloc(QA_SWEEP_NZ(n * L) * sizeof *dd);
    if (!ia || !ib || !dd) QA_TRY_FAIL(QA_ERR_NOMEM, "best curves");
    for (size_t i = 0; i < n; i++) {
        ia[i] = (int64_t)l->a[i];
        ib[i] = (int64_t)l->b[i];
        drawdown_of(equity + i * L, L, dd + i * L);
    }
    if (with_symbol) {
        snprintf(path, sizeof path, "%s/symbol_index", group);
        QA_TRY(qa_h5_put(f, path, H5T_STD_I64LE, 1, d1, ia));
        snprintf(path, sizeof path, "%s/param_index", group);
        QA_TRY(qa_h5_put(f, path, H5T_STD_I64LE, 1, d1, ib));
    } else {
        snprintf(path, sizeof path, "%s/param_index", group);
        QA_TRY(qa_h5_put(f, path, H5T_STD_I64LE, 1, d1, ia));
    }
    snprintf(path, sizeof path, "%s/value", group);
    QA_TRY(qa_h5_put(f, path, H5T_IEEE_F64LE, 1, d1, l->val));
    snprintf(path, sizeof path, "%s/equity", group);
    QA_TRY(qa_h5_put(f, path, H5T_IEEE_F64LE, 2, d2, equity));
    snprintf(path, sizeof path, "%s/drawdown", group);
    QA_TRY(qa_h5_put(f, path, H5T_IEEE_F64LE, 2, d2, dd));
cleanup:
    free(ia);
    free(ib);
    free(dd);
    return st;
}

/* ---- summary, top.csv ---------------------------------------------------------------------------------- */

static json_t *num(double x) { return isfinite(x) ? json_real(x) : json_null(); }

static json_t *metrics_obj(const double *row) {
    json_t *o = json_object();
    for (int m = 0; m < QA_SWEEP_NMETRICS; m++)
        json_object_set_new(o, qa_sweep_metric_names[m], is_int_metric(m) ? json_integer((json_int_t)row[m]) : num(row[m]));
    return o;
}

static json_t *params_obj(const qa_sweep_cfg *c, size_t p) {
    json_t *o = json_object();
    for (int j = 0; j < c->nslots; j++) json_object_set_new(o, c->slot_names[j], json_real(c->params[p].p[j]));
    return o;
}

static const char *run_symbol(const qa_sweep_cfg *c, size_t s) {
    return c->strategy == QA_SWEEP_XS ? "xs_topk" : c->sym_names[s];
}

static qa_status write_top_csv(const qa_sweep_cfg *c, const best_list *runs, const char *path) {
    qa_atomic_file af;
    qa_status st = qa_atomic_open(&af, path);
    if (st != QA_OK) return st;
    fprintf(af.f, "rank,symbol,param_index");
    for (int j = 0; j < c->nslots; j++) fprintf(af.f, ",%s", c->slot_names[j]);
    for (int m = 0; m < QA_SWEEP_NMETRICS; m++) fprintf(af.f, ",%s", qa_sweep_metric_names[m]);
    fprintf(af.f, "\n");
    for (size_t i = 0; i < runs->n; i++) {
        fprintf(af.f, "%zu,%s,%zu", i + 1, run_symbol(c, runs->a[i]), runs->b[i]);
        for (int j = 0; j < c->nslots; j++) fprintf(af.f, ",%.17g", c->params[runs->b[i]].p[j]);
        const double *row = runs->row + i * QA_SWEEP_NMETRICS;
        for (int m = 0; m < QA_SWEEP_NMETRICS; m++) {
            if (is_int_metric(m)) fprintf(af.f, ",%lld", (long long)row[m]);
            else if (isnan(row[m])) fprintf(af.f, ",");
            else fprintf(af.f, ",%.17g", row[m]);
        }
        fprintf(af.f, "\n");
    }
    return qa_atomic_commit(&af);
}

/* ---- heatmap ----------------------------------------------------------------------------------------------- */

/* Axis of slot j: its distinct values when there are at most 30, else 12 equal bins. */
typedef struct axis {
    size_t n;
    double v[30];
    int binned;
    double lo, hi;
    char labels[30][32];
} axis;

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void axis_build(const qa_sweep_cfg *c, int j, axis *ax) {
    memset(ax, 0, sizeof *ax);
    ax->lo = INFINITY;
    ax->hi = -INFINITY;
    for (size_t p = 0; p < c->nparams; p++) {
        double x = c->params[p].p[j];
        if (x < ax->lo) ax->lo = x;
        if (x > ax->hi) ax->hi = x;
        if (ax->binned) continue;
        size_t k = 0;
        while (k < ax->n && ax->v[k] != x) k++;
        if (k == ax->n) {
            if (ax->n == 30) ax->binned = 1;
            else ax->v[ax->n++] = x;
        }
    }
    if (!ax->binned) {
        qsort(ax->v, ax->n, sizeof ax->v[0], cmp_d);
        for (size_t k = 0; k < ax->n; k++) snprintf(ax->labels[k], 32, "%.6g", ax->v[k]);
    } else {
        ax->n = 12;
        double w = (ax->hi - ax->lo) / 12.0;
        for (size_t k = 0; k < 12; k++) snprintf(ax->labels[k], 32, "%.4g", ax->lo + ((double)k + 0.5) * w);
    }
}

static size_t axis_index(const axis *ax, double x) {
    if (!ax->binned) {
        for (size_t k = 0; k < ax->n; k++)
            if (ax->v[k] == x) return k;
        return 0;
    }
    double w = (ax->hi - ax->lo) / 12.0;
    size_t k = w > 0 ? (size_t)((x - ax->lo) / w) : 0;
    return k > 11 ? 11 : k;
}

/* ---- the merge ---------------------------------------------------------------------------------------------- */

/* One merge: the streaming state, the multiple-testing accumulators, the plan, and what the
 * outputs are built from. */
typedef struct merge_run {
    const qa_sweep_cfg *c;
    const qa_sweep_data *d;
    const char *run_dir;
    size_t P, L, S;
    int sets;                    /* set chunks (portfolio, xs_topk or multiple testing) */
    int do_mt;
    merge_state ms;
    mt_state mt;
    qa_sweep_chunk *plan;
    size_t nplan;
    double *tmp;                 /* one chunk's metric blocks, column by column */
    double *run_eq, *set_eq;     /* equity of the best runs and sets (N x L) */
    size_t nset_curves;
    const char *set_source;      /* what a "set" aggregates, for the summary and report */
    json_t *summary;
    qa_sweep_wf_out wf;
    axis ax0, ax1;               /* heatmap axes */
    double *heat;
    size_t *heat_n;
    char results[QA_PATH_MAX];
} merge_run;

static void merge_free(merge_run *mr) {
    merge_state *ms = &mr->ms;
    for (int m = 0; m < QA_SWEEP_NMETRICS; m++) {
        if (ms->met[m] >= 0) H5Dclose(ms->met[m]);
        if (ms->pmet[m] >= 0) H5Dclose(ms->pmet[m]);
    }
    if (ms->file >= 0) qa_h5_file_abort(&ms->out);
    best_free(&ms->runs);
    best_free(&ms->sets);
    QA_FREE_ALL(ms->set_sum, ms->set_sharpe, ms->set_cnt, ms->sh_cnt);
    for (int h = 0; h < 3; h++) free(ms->hist[h]);
    qa_mtest_trials_free(mr->mt.trials);
    qa_mtest_rc_free(mr->mt.rc);
    QA_FREE_ALL(mr->mt.bench, mr->mt.diff, mr->mt.best, mr->plan, mr->tmp, mr->run_eq, mr->set_eq, mr->heat,
                mr->heat_n);
    json_decref(mr->summary);
    qa_sweep_wf_out_free(&mr->wf);
}

/* The plan, the bounded streaming state, results.h5 under its temporary name, and the
 * multiple-testing accumulators. */
static qa_status merge_init(merge_run *mr) {
    const qa_sweep_cfg *c = mr->c;
    merge_state *ms = &mr->ms;
    mt_state *mt = &mr->mt;
    ms->c = c;
    ms->file = -1;
    for (int m = 0; m < QA_SWEEP_NMETRICS; m++) ms->met[m] = ms->pmet[m] = -1;
    mr->P = c->nparams;
    mr->L = c->t_end - c->t_begin;
    mr->S = c->strategy == QA_SWEEP_XS ? 1 : c->nsym;
    mr->sets = qa_sweep_has_sets(c);
    mr->do_mt = mr->sets && c->mt.enabled;
    mr->set_source = c->strategy == QA_SWEEP_XS ? "xs_topk" : mr->sets ? "portfolio" : "mean over symbols";
    QA_TRY_RET(qa_path_join(mr->results, mr->run_dir, "results.h5"));
    QA_TRY_RET(qa_sweep_plan(c, &mr->plan, &mr->nplan));
    size_t top = (size_t)c->top, P = mr->P, L = mr->L, runs = mr->S * P;
    QA_TRY_RET(best_init(&ms->runs, top, c->rank_metric));
    QA_TRY_RET(best_init(&ms->sets, top, c->rank_metric));
    ms->set_from_series = mr->sets;
    ms->set_sum = calloc(P, sizeof *ms->set_sum);
    ms->set_sharpe = calloc(P, sizeof *ms->set_sharpe);
    ms->set_cnt = calloc(P, sizeof *ms->set_cnt);
    ms->sh_cnt = calloc(P, sizeof *ms->sh_cnt);
    ms->stride = runs > HIST_CAP ? (runs + HIST_CAP - 1) / HIST_CAP : 1;
    for (int h = 0; h < 3; h++) ms->hist[h] = malloc((runs < HIST_CAP ? runs : HIST_CAP) * sizeof(double) + 8);
    size_t maxblk = (size_t)c->chunk_symbols * (size_t)c->chunk_params;
    if (maxblk < P) maxblk = P;
    mr->tmp = malloc(maxblk * QA_SWEEP_NMETRICS * sizeof *mr->tmp);
    if (!ms->set_sum || !ms->set_sharpe || !ms->set_cnt || !ms->sh_cnt || !ms->hist[0] || !ms->hist[1] || !ms->hist[2] ||
        !mr->tmp)
        return QA_FAIL(QA_ERR_NOMEM, "merge state for %zu sets", P);
    QA_TRY_RET(results_create(ms, mr->results, c, mr->d->input_hash));
    if (!mr->do_mt) return QA_OK;
    QA_TRY_RET(qa_mtest_trials_create(L - 1, &mt->trials));
    mt->bench = calloc(L, sizeof *mt->bench);
    mt->diff = calloc(L, sizeof *mt->diff);
    mt->best = calloc(L, sizeof *mt->best);
    if (!mt->bench || !mt->diff || !mt->best) return QA_FAIL(QA_ERR_NOMEM, "multiple-testing buffers");
    if (c->mt.benchmark == 1) buy_and_hold(c, mr->d, mt->bench);
    if (L - 1 >= 10) QA_TRY_RET(qa_mtest_rc_create(L - 1, (size_t)c->mt.bootstrap, c->mt.block, (uint64_t)c->mt.seed, &mt->rc));
    return QA_OK;
}

/* Streams the chunk files in chunk order into results.h5 and the bounded state. */
static qa_status merge_stream(merge_run *mr) {
    const qa_sweep_cfg *c = mr->c;
    merge_state *ms = &mr->ms;
    for (size_t i = 0; i < mr->nplan; i++) {
        const qa_sweep_chunk *k = &mr->plan[i];
        if (k->kind == QA_SWEEP_CHUNK_WF) continue;
        qa_sweep_result r;
        char path[QA_PATH_MAX];
        QA_TRY_RET(qa_sweep_chunk_path(mr->run_dir, i, path));
        QA_TRY_RET(qa_sweep_chunk_read(path, c, mr->d->input_hash, &r));
        qa_status st = QA_OK;
        if (r.chunk.kind != k->kind || r.chunk.p0 != k->p0 || r.chunk.np != k->np || r.chunk.s0 != k->s0 ||
            r.chunk.ns != k->ns)
            st = QA_FAIL(QA_ERR_INTEGRITY, "%s does not hold chunk %zu of this plan", path, i);
        else
            st = k->kind == QA_SWEEP_CHUNK_GRID ? merge_grid(ms, &r, mr->tmp) : merge_sets(ms, &mr->mt, &r, mr->tmp);
        qa_sweep_result_free(&r);
        QA_TRY_RET(st);
    }
    if (!mr->sets) /* best sets by the mean of the rank metric over symbols */
        for (size_t p = 0; p < mr->P; p++) {
            double row[QA_SWEEP_NMETRICS];
            for (int m = 0; m < QA_SWEEP_NMETRICS; m++) row[m] = NAN;
            row[c->rank_metric] = ms->set_cnt[p] ? ms->set_sum[p] / (double)ms->set_cnt[p] : NAN;
            row[3] = ms->sh_cnt[p] ? ms->set_sharpe[p] / (double)ms->sh_cnt[p] : NAN;
            best_offer(&ms->sets, row[c->rank_metric], p, 0, row);
        }
    return QA_OK;
}

/* Equity from a set's per-bar returns (the first bar is the start: 1). */
static void equity_of(const double *R, size_t L, double *E) {
    double e = 1.0;
    for (size_t j = 0; j < L; j++) {
        if (j > 0) e = e * (1.0 + R[j]);
        E[j] = e;
    }
}

static qa_status best_curves_compute(merge_run *mr, qa_backend_t *cpu, double *trace) {
    const qa_sweep_cfg *c = mr->c;
    const best_list *runs = &mr->ms.runs, *sets = &mr->ms.sets;
    size_t L = mr->L;
    for (size_t i = 0; i < runs->n; i++) {
        qa_bt_metrics m;
        if (c->strategy == QA_SWEEP_XS) {
            QA_TRY_RET(qa_sweep_set_series(c, mr->d, cpu, runs->b[i], 1, c->t_begin, c->t_end, &m, trace));
            equity_of(trace, L, mr->run_eq + i * L);
        } else {
            qa_bt_data v = qa_sweep_data_view(mr->d, runs->a[i], 1, c->t_begin, c->t_end, 1);
            qa_bt_grid g = {(qa_bt_strategy)c->strategy, c->params + runs->b[i], 1};
            qa_bt_trace t = {0, 0, mr->run_eq + i * L, NULL, NULL};
            QA_TRY_RET(qa_bt_run(cpu, &v, &g, &c->bt, &m, &t, 1));
        }
    }
    for (size_t i = 0; i < mr->nset_curves; i++) {
        qa_bt_metrics m;
        QA_TRY_RET(qa_sweep_set_series(c, mr->d, cpu, sets->a[i], 1, c->t_begin, c->t_end, &m, trace));
        equity_of(trace, L, mr->set_eq + i * L);
    }
    return QA_OK;
}

/* Curves of the best runs (reference traces on the CPU) and of the best sets, into
 * results.h5. */
static qa_status merge_best_curves(merge_run *mr) {
    size_t L = mr->L;
    qa_backend_t *cpu = NULL;
    mr->nset_curves = mr->sets ? mr->ms.sets.n : 0;
    mr->run_eq = malloc(QA_SWEEP_NZ(mr->ms.runs.n * L) * sizeof *mr->run_eq);
    mr->set_eq = malloc(QA_SWEEP_NZ(mr->ms.sets.n * L) * sizeof *mr->set_eq);
    double *trace = malloc(L * sizeof *trace);
    qa_status st = !mr->run_eq || !mr->set_eq || !trace ? QA_FAIL(QA_ERR_NOMEM, "best curves") : QA_OK;
    if (st == QA_OK) st = qa_backend_create(QA_BACKEND_CPU, 0, &cpu);
    if (st == QA_OK) st = best_curves_compute(mr, cpu, trace);
    qa_backend_free(cpu);
    free(trace);
    QA_TRY_RET(st);
    QA_TRY_RET(put_best(mr->ms.file, "best/runs", &mr->ms.runs, 1, mr->run_eq, L));
    if (mr->nset_curves) QA_TRY_RET(put_best(mr->ms.file, "best/sets", &mr->ms.sets, 0, mr->set_eq, L));
    return QA_OK;
}

static json_t *counts_json(const merge_run *mr) {
    const qa_sweep_cfg *c = mr->c;
    json_t *counts = json_object();
    json_object_set_new(counts, "symbols", json_integer((json_int_t)c->nsym));
    json_object_set_new(counts, "params", json_integer((json_int_t)mr->P));
    json_object_set_new(counts, "runs", json_integer((json_int_t)mr->ms.runs_total));
    json_object_set_new(counts, "runs_without_" "metric", json_integer((json_int_t)mr->ms.runs_nan));
    json_object_set_new(counts, "bars", json_integer((json_int_t)mr->L));
    json_object_set_new(counts, "chunks", json_integer((json_int_t)mr->nplan));
    json_object_set_new(counts, "dropped_combinations", json_integer((json_int_t)c->dropped));
    json_object_set_new(counts, "grid_evaluations", json_real((double)mr->S * (double)mr->P * (double)mr->L));
    return counts;
}

static json_t *best_runs_json(const merge_run *mr) {
    const best_list *l = &mr->ms.runs;
    json_t *br = json_array();
    for (size_t i = 0; i < l->n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "rank", json_integer((json_int_t)i + 1));
        json_object_set_new(o, "symbol", json_string(run_symbol(mr->c, l->a[i])));
        json_object_set_new(o, "param_index", json_integer((json_int_t)l->b[i]));
        json_object_set_new(o, "params", params_obj(mr->c, l->b[i]));
        json_object_set_new(o, "value", num(l->val[i]));
        json_object_set_new(o, "metrics", metrics_obj(l->row + i * QA_SWEEP_NMETRICS));
        json_array_append_new(br, o);
    }
    return br;
}

static json_t *best_sets_json(const merge_run *mr) {
    const best_list *l = &mr->ms.sets;
    json_t *bs = json_array();
    for (size_t i = 0; i < l->n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "rank", json_integer((json_int_t)i + 1));
        json_object_set_new(o, "param_index", json_integer((json_int_t)l->a[i]));
        json_object_set_new(o, "params", params_obj(mr->c, l->a[i]));
        json_object_set_new(o, "value", num(l->val[i]));
        if (mr->sets) json_object_set_new(o, "metrics", metrics_obj(l->row + i * QA_SWEEP_NMETRICS));
        json_array_append_new(bs, o);
    }
    json_t *bso = json_object();
    json_object_set_new(bso, "by", json_string(mr->set_source));
    json_object_set_new(bso, "sets", bs);
    return bso;
}

/* summary.json without the multiple-testing and walk-forward sections. */
static json_t *summary_base(const merge_run *mr) {
    const qa_sweep_cfg *c = mr->c;
    json_t *summary = json_object();
    json_object_set_new(summary, "format", json_string("quantumalpha.sweep-summary"));
    json_object_set_new(summary, "format_version", json_integer(QA_SWEEP_FORMAT_VERSION));
    json_object_set_new(summary, "strategy", json_string(qa_sweep_strategy_name(c->strategy)));
    json_object_set_new(summary, "config_hash", json_string(c->config_hash));
    json_object_set_new(summary, "input_hash", json_string(mr->d->input_hash));
    json_object_set_new(summary, "data", json_string(c->data));
    char b[40], e[40];
    qa_time_format_iso(c->time[c->t_begin], b, sizeof b);
    qa_time_format_iso(c->time[c->t_end - 1], e, sizeof e);
    json_object_set_new(summary, "start", json_string(b));
    json_object_set_new(summary, "end", json_string(e));
    json_object_set_new(summary, "rank_by", json_string(qa_sweep_metric_names[c->rank_metric]));
    json_object_set_new(summary, "counts", counts_json(mr));
    json_object_set_new(summary, "best_runs", best_runs_json(mr));
    json_object_set_new(summary, "best_sets", best_sets_json(mr));
    return summary;
}

/* Deflated Sharpe ratio of the selected set, deflated by the trials' effective count. */
static void dsr_json(const merge_run *mr, const qa_mtest_trials_result *tr, json_t *mtj) {
    const qa_sweep_cfg *c = mr->c;
    const mt_state *mt = &mr->mt;
    double ntr = c->mt.trials > 0 ? c->mt.trials : tr->n_eff;
    qa_mtest_dsr_result dr;
    json_object_set_new(mtj, "selected_param_index", json_integer((json_int_t)mt->best_p));
    json_object_set_new(mtj, "selected_params", params_obj(c, mt->best_p));
    if (tr->trials >= 2 && qa_mtest_dsr(mt->best + 1, mr->L - 1, tr->var_sharpe, ntr, &dr) == QA_OK) {
        double ann = sqrt(c->bt.bars_per_year);
        json_t *dj = json_object();
        json_object_set_new(dj, "trials_used", num(ntr));
        json_object_set_new(dj, "sharpe", num(dr.sharpe * ann));
        json_object_set_new(dj, "sr0", num(dr.sr0 * ann));
        json_object_set_new(dj, "sharpe_per_bar", num(dr.sharpe));
        json_object_set_new(dj, "sr0_per_bar", num(dr.sr0));
        json_object_set_new(dj, "skew", num(dr.skew));
        json_object_set_new(dj, "kurtosis", num(dr.kurt));
        json_object_set_new(dj, "bars", json_integer(dr.n));
        json_object_set_new(dj, "psr", num(dr.psr));
        json_object_set_new(dj, "dsr", num(dr.dsr));
        json_object_set_new(mtj, "deflated_sharpe", dj);
    } else {
        json_object_set_new(mtj, "deflated_sharpe", json_null());
        json_object_set_new(mtj, "note", json_string("deflated Sharpe ratio undefined (fewer than 2 trials "
                                                     "with a Sharpe ratio, or a flat selected series)"));
        qa_err_clear();
    }
}

/* White's Reality Check and Hansen's SPA against the benchmark; null when not run. */
static json_t *rc_json(const merge_run *mr) {
    const qa_sweep_cfg *c = mr->c;
    qa_mtest_rc_result rr;
    if (!mr->mt.rc) return json_null();
    if (qa_mtest_rc_finish(mr->mt.rc, &rr) != QA_OK) return NULL;
    json_t *rj = json_object();
    json_object_set_new(rj, "benchmark", json_string(c->mt.benchmark ? "buy_and_hold" : "zero"));
    json_object_set_new(rj, "bootstrap", json_integer(c->mt.bootstrap));
    json_object_set_new(rj, "mean_block", json_real(c->mt.block));
    json_object_set_new(rj, "seed", json_integer(c->mt.seed));
    json_object_set_new(rj, "models", json_integer((json_int_t)rr.models));
    json_object_set_new(rj, "best_param_index", json_integer((json_int_t)rr.best));
    json_object_set_new(rj, "best_mean_excess_per_bar", num(rr.best_mean));
    json_object_set_new(rj, "rc_statistic", num(rr.stat_rc));
    json_object_set_new(rj, "rc_pvalue", num(rr.p_rc));
    json_object_set_new(rj, "spa_statistic", num(rr.stat_spa));
    json_object_set_new(rj, "spa_pvalue", num(rr.p_spa));
    return rj;
}

/* The multiple-testing section, also stored as attributes of /multiple_testing. */
static qa_status merge_mtest(merge_run *mr) {
    mt_state *mt = &mr->mt;
    json_t *mtj = json_object();
    qa_mtest_trials_result tr;
    qa_mtest_trials_result_of(mt->trials, &tr);
    json_object_set_new(mtj, "series", json_string(mr->set_source));
    json_object_set_new(mtj, "trials", json_integer((json_int_t)tr.trials));
    json_object_set_new(mtj, "mean_correlation", num(tr.rho_mean));
    json_object_set_new(mtj, "effective_trials", num(tr.n_eff));
    json_object_set_new(mtj, "var_sharpe_per_bar", num(tr.var_sharpe));
    if (mt->have_best) dsr_json(mr, &tr, mtj);
    json_t *rj = rc_json(mr);
    if (rj) json_object_set_new(mtj, "reality_check", rj);
    json_object_set_new(mr->summary, "multiple_testing", json_incref(mtj));

    qa_status st = QA_OK;
    hid_t g = H5Gcreate2(mr->ms.file, "multiple_testing", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) st = QA_H5_FAIL(-1, "results", "cannot create multiple_testing group");
    char *text = st == QA_OK ? json_dumps(mtj, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
    if (st == QA_OK) st = qa_h5_attr_set_str(g, NULL, "json", text ? text : "{}");
    free(text);
    json_t *dj = json_object_get(mtj, "deflated_sharpe");
    rj = json_object_get(mtj, "reality_check");
    if (st == QA_OK && json_is_object(dj))
        st = qa_h5_attr_set_f64(g, NULL, "dsr", json_is_number(json_object_get(dj, "dsr"))
                                                ? json_number_value(json_object_get(dj, "dsr")) : NAN);
    if (st == QA_OK && json_is_object(rj)) {
        st = qa_h5_attr_set_f64(g, NULL, "rc_pvalue", json_number_value(json_object_get(rj, "rc_pvalue")));
        if (st == QA_OK) st = qa_h5_attr_set_f64(g, NULL, "spa_pvalue", json_number_value(json_object_get(rj, "spa_pvalue")));
    }
    if (g >= 0) H5Gclose(g);
    json_decref(mtj);
    return st;
}

/* Closes and publishes results.h5, then summary.json and top.csv. */
static qa_status merge_publish(merge_run *mr, json_t *timing, uint64_t t0) {
    merge_state *ms = &mr->ms;
    char path[QA_PATH_MAX];
    for (int m = 0; m < QA_SWEEP_NMETRICS; m++) {
        if (ms->met[m] >= 0) H5Dclose(ms->met[m]);
        if (ms->pmet[m] >= 0) H5Dclose(ms->pmet[m]);
        ms->met[m] = ms->pmet[m] = -1;
    }
    ms->file = -1;
    QA_TRY_RET(qa_h5_file_commit(&ms->out, 0));
    if (timing) {
        json_object_set_new(timing, "merge_s", json_real(qa_time_since(t0)));
        json_object_set_new(mr->summary, "timing", json_incref(timing));
    }
    QA_TRY_RET(qa_path_join(path, mr->run_dir, "summary.json"));
    QA_TRY_RET(qa_json_write_file(mr->summary, path));
    QA_TRY_RET(qa_path_join(path, mr->run_dir, "top.csv"));
    return write_top_csv(mr->c, &ms->runs, path);
}

/* Mean Sharpe ratio over the two heatmap parameters' axes. */
static qa_status heat_fill(merge_run *mr) {
    const qa_sweep_cfg *c = mr->c;
    const merge_state *ms = &mr->ms;
    axis_build(c, c->heat[0], &mr->ax0);
    axis_build(c, c->heat[1], &mr->ax1);
    size_t cells = mr->ax0.n * mr->ax1.n;
    mr->heat = calloc(cells, sizeof *mr->heat);
    mr->heat_n = calloc(cells, sizeof *mr->heat_n);
    if (!mr->heat || !mr->heat_n) return QA_FAIL(QA_ERR_NOMEM, "heatmap");
    for (size_t p = 0; p < mr->P; p++) {
        if (!ms->sh_cnt[p]) continue;
        double sh = ms->set_from_series ? ms->set_sharpe[p] : ms->set_sharpe[p] / (double)ms->sh_cnt[p];
        size_t k = axis_index(&mr->ax0, c->params[p].p[c->heat[0]]) * mr->ax1.n +
                   axis_index(&mr->ax1, c->params[p].p[c->heat[1]]);
        mr->heat[k] += sh;
        mr->heat_n[k]++;
    }
    for (size_t i = 0; i < cells; i++) mr->heat[i] = mr->heat_n[i] ? mr->heat[i] / (double)mr->heat_n[i] : NAN;
    return QA_OK;
}

/* report.html from the merged view. */
static qa_status merge_report(merge_run *mr, char *path) {
    const qa_sweep_cfg *c = mr->c;
    const merge_state *ms = &mr->ms;
    qa_sweep_view v;
    memset(&v, 0, sizeof v);
    v.L = mr->L;
    v.time = c->time + c->t_begin;
    v.nruns = ms->runs.n;
    v.run_s = ms->runs.a;
    v.run_p = ms->runs.b;
    v.run_metrics = ms->runs.row;
    v.run_equity = mr->run_eq;
    v.nsets = mr->nset_curves;
    v.set_p = ms->sets.a;
    v.set_metrics = ms->sets.row;
    v.set_equity = mr->set_eq;
    v.set_source = mr->set_source;
    if (c->heat[0] >= 0) {
        QA_TRY_RET(heat_fill(mr));
        v.heat = mr->heat;
        v.nh0 = mr->ax0.n;
        v.nh1 = mr->ax1.n;
        v.heat_labels0 = mr->ax0.labels;
        v.heat_labels1 = mr->ax1.labels;
    }
    for (int h = 0; h < 3; h++) v.hist[h] = ms->hist[h];
    v.nhist = ms->nhist;
    v.summary = mr->summary;
    v.wf = c->wf.enabled ? &mr->wf : NULL;
    QA_TRY_RET(qa_path_join(path, mr->run_dir, "report.html"));
    return qa_sweep_report_write(c, &v, path);
}

static qa_status merge_steps(merge_run *mr, json_t *timing, qa_sweep_report *rep) {
    uint64_t t0 = qa_time_ns();
    char report[QA_PATH_MAX];
    QA_TRY_RET(merge_init(mr));
    QA_TRY_RET(merge_stream(mr));
    QA_TRY_RET(merge_best_curves(mr));
    mr->summary = summary_base(mr);
    if (mr->do_mt) QA_TRY_RET(merge_mtest(mr));
    if (mr->c->wf.enabled)
        QA_TRY_RET(qa_sweep_wf_merge(mr->c, mr->run_dir, mr->d->input_hash, mr->plan, mr->nplan, mr->ms.file,
                                     mr->summary, &mr->wf));
    QA_TRY_RET(merge_publish(mr, timing, t0));
    QA_TRY_RET(merge_report(mr, report));
    if (rep) {
        snprintf(rep->results, sizeof rep->results, "%s", mr->results);
        snprintf(rep->report, sizeof rep->report, "%s", report);
    }
    qa_log_info("merged %zu chunks into %s (%.3f s); report %s", mr->nplan, mr->results, qa_time_since(t0), report);
    return QA_OK;
}

qa_status qa_sweep_merge_run(const qa_sweep_cfg *c, const qa_sweep_data *d, const char *run_dir, qa_sweep_report *rep,
                             json_t *timing) {
    merge_run *mr = calloc(1, sizeof *mr);
    if (!mr) return QA_FAIL(QA_ERR_NOMEM, "sweep merge");
    mr->c = c;
    mr->d = d;
    mr->run_dir = run_dir;
    mr->ms.file = -1;
    for (int m = 0; m < QA_SWEEP_NMETRICS; m++) mr->ms.met[m] = mr->ms.pmet[m] = -1;
    qa_status st = merge_steps(mr, timing, rep);
    merge_free(mr);
    free(mr);
    return st;
}
