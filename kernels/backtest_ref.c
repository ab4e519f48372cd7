/* CPU reference of the backtest sweep: the oracle. One (symbol, parameter set) at a
 * time, a plain loop over the symbol's observations that recomputes every windowed
 * indicator from its window at every bar (O(w) per bar), keeps the P&L series and
 * computes the metrics from it in two passes. Also the reference portfolio and
 * cross-sectional top-k runs. Rules: backtest_rules.h and docs/backtest.md. */
#include "kernels/backtest.h"

#include <math.h>    /* NAN, INFINITY, isnan */
#include <stdlib.h>  /* malloc, free */
#include <string.h>  /* memset */

#include "kernels/backtest_impl.h" /* the per-bar rules, observation sequences */

/* Per-bar results of one run over its P&L observations j = i - i0 - 1. */
typedef struct run_series {
    double *R, *delta, *pos, *E;
    unsigned char *held;
    int64_t trades;
    long n; /* P&L bars */
} run_series;

static qa_status series_alloc(run_series *rs, size_t cap) {
    memset(rs, 0, sizeof *rs);
    size_t n = cap ? cap : 1;
    rs->R = malloc(n * 4 * sizeof(double));
    rs->held = malloc(n);
    if (!rs->R || !rs->held) {
        free(rs->R);
        free(rs->held);
        memset(rs, 0, sizeof *rs);
        return QA_FAIL(QA_ERR_NOMEM, "backtest reference: series of %zu bars", cap);
    }
    rs->delta = rs->R + n;
    rs->pos = rs->R + 2 * n;
    rs->E = rs->R + 3 * n;
    return QA_OK;
}

static void series_free(run_series *rs) {
    free(rs->R);
    free(rs->held);
    memset(rs, 0, sizeof *rs);
}

long qa_bt_ref_run(const qa_bt_obs *o, const qa_bt_consts *k, const double *p, double *Rs, double *deltas,
                   double *poss, double *Es, unsigned char *helds, int64_t *trades) {
    long w0, w1;
    qa_bt_param_windows(k->strategy, p, &w0, &w1);
    const double a0 = 2.0 / ((double)w0 + 1.0), a1 = 2.0 / ((double)w1 + 1.0);
    double e0 = NAN, e1 = NAN, ag = NAN, al = NAN, rsi = NAN;
    int sp = 0; /* raw strategy state, flat at the base bar */
    qa_bt_pos ps;
    qa_bt_pos_init(&ps);
    double E = 1.0;
    long n = 0;
    *trades = 0;
    for (long i = 0; i < o->n; i++) {
        if (k->strategy == QA_BT_EMA_CROSS) {
            e0 = qa_bt_ema_update(o->c, i, w0, a0, 1.0 - a0, e0);
            e1 = qa_bt_ema_update(o->c, i, w1, a1, 1.0 - a1, e1);
        } else if (k->strategy == QA_BT_RSI) {
            rsi = qa_bt_rsi_update(o->c, i, w0, &ag, &al);
        }
        if (i <= o->i0) continue; /* warm-up and the base bar: no P&L */
        double v[5];
        qa_bt_values_at(k->strategy, w0, w1, o->c, o->h, o->l, o->g, i, e0, e1, rsi, v);
        sp = qa_bt_decide(k->strategy, p, v, sp);
        int m = qa_bt_filter(k->direction, sp);
        double size, kappa;
        if (!qa_bt_bar_inputs(k, o->c, o->r, o->v, i, &size, &kappa)) m = 0;
        double delta;
        int held, entry;
        double R = qa_bt_step(&ps, m, o->c[i], o->r[i], size, kappa, k, E, &delta, &held, &entry);
        E = E * (1.0 + R);
        if (!(E > 0.0)) E = 0.0; /* ruin (same clamp as qa_bt_path_push) */
        if (Rs) Rs[n] = R;
        if (deltas) deltas[n] = delta;
        if (poss) poss[n] = ps.pos;
        if (Es) Es[n] = E;
        if (helds) helds[n] = (unsigned char)held;
        *trades += entry;
        n++;
    }
    return n;
}

static void run_one(const qa_bt_obs *o, const qa_bt_consts *k, const double *p, run_series *rs) {
    rs->n = qa_bt_ref_run(o, k, p, rs->R, rs->delta, rs->pos, rs->E, rs->held, &rs->trades);
}

static int needs_hl(int strategy) { return strategy == QA_BT_DONCHIAN; }
static int needs_sig(int strategy) { return strategy == QA_BT_SIGNAL; }

/* The observation buffers and one run's series for data of t_end bars. */
static qa_status work_alloc(qa_bt_obs *o, run_series *rs, size_t t_end) {
    QA_TRY_RET(qa_bt_obs_alloc(o, t_end));
    qa_status st = series_alloc(rs, t_end);
    if (st != QA_OK) qa_bt_obs_free(o);
    return st;
}

qa_status qa_bt_run_reference(const qa_bt_data *data, const qa_bt_grid *grid, const qa_bt_rules *rules,
                              qa_bt_metrics *out) {
    qa_bt_consts k;
    qa_bt_consts_make(rules, grid->strategy, &k);
    qa_bt_obs o;
    run_series rs;
    QA_TRY_RET(work_alloc(&o, &rs, data->t_end));
    for (size_t s = 0; s < data->symbols; s++) {
        qa_bt_obs_build(&o, data, s, needs_hl(k.strategy), k.impact, needs_sig(k.strategy));
        for (size_t p = 0; p < grid->count; p++) {
            run_one(&o, &k, grid->params[p].p, &rs);
            qa_bt_series_metrics(rs.R, rs.delta, rs.held, rs.n, rs.trades, k.bars_per_year,
                                 &out[s * grid->count + p]);
        }
    }
    series_free(&rs);
    qa_bt_obs_free(&o);
    return QA_OK;
}

qa_status qa_bt_trace_reference(const qa_bt_data *data, const qa_bt_grid *grid, const qa_bt_rules *rules,
                                const qa_bt_trace *traces, size_t n_traces) {
    qa_bt_consts k;
    qa_bt_consts_make(rules, grid->strategy, &k);
    qa_bt_obs o;
    run_series rs;
    QA_TRY_RET(work_alloc(&o, &rs, data->t_end));
    for (size_t j = 0; j < n_traces; j++) {
        const qa_bt_trace *tr = &traces[j];
        qa_bt_obs_build(&o, data, tr->symbol, needs_hl(k.strategy), k.impact, needs_sig(k.strategy));
        run_one(&o, &k, grid->params[tr->param].p, &rs);
        /* walk the grid of the range; P&L observation i0+1+q sits at bar o.t[i0+1+q] */
        long q = 0;
        double E = 1.0, pos = 0.0;
        for (size_t t = data->t_begin; t < data->t_end; t++) {
            double R = NAN;
            long i = o.i0 + 1 + q;
            if (q < rs.n && o.t[i] == (long)t) {
                R = rs.R[q];
                E = rs.E[q];
                pos = rs.pos[q];
                q++;
            }
            size_t u = t - data->t_begin;
            if (tr->equity) tr->equity[u] = E;
            if (tr->position) tr->position[u] = pos;
            if (tr->ret) tr->ret[u] = R;
        }
    }
    series_free(&rs);
    qa_bt_obs_free(&o);
    return QA_OK;
}

qa_status qa_bt_portfolio_reference(const qa_bt_data *data, const qa_bt_grid *grid, const qa_bt_rules *rules,
                                    const qa_bt_portfolio_opts *opts, qa_bt_metrics *out, double *equity) {
    const size_t P = grid->count, L = data->t_end - data->t_begin;
    qa_bt_consts k;
    qa_bt_consts_make(rules, grid->strategy, &k);
    qa_bt_obs o;
    run_series rs;
    memset(&rs, 0, sizeof rs);
    qa_bt_pacc *acc = calloc(P, sizeof *acc);
    qa_status st = qa_bt_obs_alloc(&o, data->t_end);
    if (!acc) QA_TRY_FAIL(QA_ERR_NOMEM, "portfolio: %zu accumulators", P);
    if (st != QA_OK) goto cleanup;
    QA_TRY(series_alloc(&rs, data->t_end));
    for (size_t p = 0; p < P; p++) QA_TRY(qa_bt_pacc_alloc(&acc[p], L));
    /* symbols in ascending order: the order of every weighted sum */
    for (size_t s = 0; s < data->symbols; s++) {
        qa_bt_obs_build(&o, data, s, needs_hl(k.strategy), k.impact, needs_sig(k.strategy));
        qa_bt_weights_build(&o, opts);
        for (size_t p = 0; p < P; p++) {
            run_one(&o, &k, grid->params[p].p, &rs);
            qa_bt_pacc_add(&acc[p], &o, data->t_begin, rs.R, rs.delta, rs.held, rs.trades);
        }
    }
    for (size_t p = 0; p < P; p++)
        QA_TRY(qa_bt_pacc_finish(&acc[p], L, k.bars_per_year, &out[p], equity ? equity + p * L : NULL));
cleanup:
    if (acc)
        for (size_t p = 0; p < P; p++) qa_bt_pacc_free(&acc[p]);
    free(acc);
    series_free(&rs);
    qa_bt_obs_free(&o);
    return st;
}

qa_status qa_bt_xs_reference(const qa_bt_data *data, const qa_bt_xs_settings *xs, qa_bt_metrics *out,
                             double *equity) {
    const size_t S = data->symbols, T = data->bars, L = data->t_end - data->t_begin;
    signed char *codes = malloc(L * S + 1);
    if (!codes) return QA_FAIL(QA_ERR_NOMEM, "xs_topk: codes for %zu bars x %zu symbols", L, S);
    for (size_t j = 0; j < L; j++) {
        size_t t = data->t_begin + j;
        /* eligible: close and signal present */
        size_t n = 0;
        for (size_t s = 0; s < S; s++)
            if (!isnan(data->close[s * T + t]) && !isnan(data->signal[s * T + t])) n++;
        int enough = n >= (size_t)xs->k_long + (size_t)xs->k_short;
        for (size_t s = 0; s < S; s++) {
            signed char *code = &codes[j * S + s];
            double x = data->signal[s * T + t];
            if (isnan(data->close[s * T + t])) {
                *code = QA_BT_XS_CARRY;
                continue;
            }
            *code = 0;
            if (isnan(x) || !enough) continue;
            /* rank in the order (signal, symbol) ascending, counted directly */
            size_t rank = 0;
            for (size_t u = 0; u < S; u++) {
                double y = data->signal[u * T + t];
                if (isnan(data->close[u * T + t]) || isnan(y)) continue;
                if (y < x || (y == x && u < s)) rank++;
            }
            if (rank < (size_t)xs->k_short) *code = -1;
            else if (rank >= n - (size_t)xs->k_long) *code = 1;
        }
    }
    qa_status st = qa_bt_xs_finish(data, xs, codes, out, equity);
    free(codes);
    return st;
}
