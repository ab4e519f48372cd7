/* The evaluation backtest of a prediction panel: the sweep engine's cross-sectional
 * top-k long / bottom-k short portfolio (kernels/backtest, qa_bt_xs_topk; rules in
 * docs/backtest.md "Cross-sectional portfolio"), on the CPU, with the evaluation's
 * reporting conventions (annualised turnover). */
#include "pipeline/train/evaluate.h"

#include <math.h>    /* NAN */
#include <string.h>  /* memset */

#include "kernels/backend.h"   /* a CPU backend for the engine */
#include "kernels/backtest.h"  /* qa_bt_xs_topk */

qa_status qa_evaluate_topk(const double *close, const double *signal, size_t S, size_t T, size_t t_begin,
                           size_t t_end, const qa_evaluate_topk_opts *o, qa_evaluate_bt *out, double *equity) {
    if (!close || !signal || !o || !out) return QA_FAIL(QA_ERR_INVALID_ARG, "topk: NULL argument");
    if (t_begin >= t_end || t_end > T)
        return QA_FAIL(QA_ERR_INVALID_ARG, "topk: range [%zu, %zu) outside the %zu bars", t_begin, t_end, T);
    if (o->k_long < 1 || o->k_short < 1 || !(o->cost_bps >= 0.0) || !(o->bars_per_year > 0.0) ||
        !(o->long_weight >= 0.0) || !(o->short_weight >= 0.0))
        return QA_FAIL(QA_ERR_INVALID_ARG, "topk: k_long %d, k_short %d must be >= 1; weights, cost >= 0, "
                                           "bars_per_year > 0",
                       o->k_long, o->k_short);
    qa_backend_t *be = NULL;
    qa_status st = qa_backend_create(QA_BACKEND_CPU, 0, &be);
    if (st != QA_OK) return st;
    qa_bt_data data = {close, NULL, NULL, NULL, signal, S, T, t_begin, t_end};
    qa_bt_xs_settings xs = {o->k_long, o->k_short, o->long_weight, o->short_weight, o->cost_bps, o->bars_per_year};
    qa_bt_metrics m;
    st = qa_bt_xs_topk(be, &data, &xs, &m, equity);
    qa_backend_free(be);
    if (st != QA_OK) return st;
    memset(out, 0, sizeof *out);
    out->bars = (size_t)m.bars;
    out->total_return = m.total_return;
    out->cagr = m.cagr;
    out->ann_vol = m.ann_vol;
    out->sharpe = m.sharpe;
    out->max_drawdown = m.max_drawdown;
    out->turnover = m.bars ? m.turnover * o->bars_per_year / (double)m.bars : 0.0;
    out->hit_rate = m.hit_rate;
    return QA_OK;
}
