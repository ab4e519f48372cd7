/* Out-of-sample evaluation of a trained model: prediction quality (information
 * coefficient, rank IC, directional accuracy, MSE) against naive baselines, and a
 * cross-sectional top-k long / bottom-k short backtest of the predictions with costs.
 * `qa evaluate` and the end of `qa train` both use it. Definitions in docs/training.md.
 *
 * The top-k backtest (qa_evaluate_topk, evaluate_topk.c) runs the sweep engine's
 * cross-sectional portfolio (qa_bt_xs_topk) on the predictions; tests check it against a
 * hand-computed case and an independent implementation in the test. */
#ifndef QA_PIPELINE_EVALUATE_H
#define QA_PIPELINE_EVALUATE_H

#include <jansson.h>  /* json_t */
#include <stddef.h>   /* size_t */
#include <stdint.h>   /* int64_t */

#include "common/status.h"
#include "pipeline/train/train_data.h"
#include "registry/model.h"
#include "pipeline/train/train_net.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- top-k cross-sectional backtest ------------------------------------------------------- */

typedef struct qa_evaluate_topk_opts {
    int k_long, k_short;      /* names per leg (>= 1 each) */
    double long_weight;       /* total weight of the long leg (each name long_weight/k_long) */
    double short_weight;      /* total weight of the short leg (each name -short_weight/k_short) */
    double cost_bps;          /* proportional cost per unit of traded weight, basis points */
    double bars_per_year;     /* annualisation */
} qa_evaluate_topk_opts;

typedef struct qa_evaluate_bt {
    size_t bars;          /* P&L bars */
    double total_return;  /* E_last - 1 */
    double cagr;          /* E_last^(bars_per_year/bars) - 1 */
    double ann_vol;       /* std(R, ddof 1) sqrt(bars_per_year) */
    double sharpe;        /* mean(R)/std(R, ddof 1) sqrt(bars_per_year); NaN when std = 0 */
    double max_drawdown;  /* min E/max(1, running max E) - 1 */
    double turnover;      /* annualised: sum |dw| * bars_per_year / bars */
    double hit_rate;      /* share of held bars with R > 0 */
} qa_evaluate_bt;

/* Panels close and signal are S x T row-major (NaN = no bar / no signal). Bar t_begin
 * is the base bar (weights 0, equity 1); for t in (t_begin, t_end): symbols without a
 * close keep their weight; the eligible symbols (close and signal) are ranked ascending
 * by (signal, symbol index) when there are at least k_long + k_short of them (else every
 * symbol with a close goes flat): the first k_short get -short_weight/k_short, the last
 * k_long +long_weight/k_long, the rest with a close 0. R(t) = sum_s w_s(t-1) r_s(t) -
 * cost sum_s |w_s(t) - w_s(t-1)| over the symbols with a close at t, r_s from the
 * symbol's previous close (also before t_begin; 0 at its first bar); bars without any
 * close are skipped. `equity` (t_end - t_begin values or NULL) receives E on the grid,
 * carried over skipped bars. */
qa_status qa_evaluate_topk(const double *close, const double *signal, size_t S, size_t T, size_t t_begin,
                           size_t t_end, const qa_evaluate_topk_opts *o, qa_evaluate_bt *out, double *equity);

/* ---- prediction metrics ------------------------------------------------------------------------ */

typedef struct qa_evaluate_opts {
    int top_k;        /* names per leg of the backtest */
    double cost_bps;  /* backtest cost */
    int min_names;    /* symbols with a label needed for a timestamp's IC (>= 3) */
} qa_evaluate_opts;

/* Cross-sectional correlation statistics over timestamps. */
typedef struct qa_evaluate_ic {
    size_t n;          /* timestamps with an IC */
    double mean, std, t; /* t = mean / std * sqrt(n) (overlapping horizons overstate it) */
} qa_evaluate_ic;

typedef struct qa_evaluate_metrics {
    qa_train_split split;
    size_t predictions;   /* rows with a prediction (valid inputs) */
    size_t labelled;      /* of which with a label (forward return) */
    double loss;          /* the training loss on the split (NaN when not computed) */
    /* regression-style errors on the forward return itself (NaN for classifiers) */
    double mse, mse_zero, mse_mean, mse_prev;
    qa_evaluate_ic ic, rank_ic;           /* model score vs forward return */
    qa_evaluate_ic ic_prev, rank_ic_prev; /* baseline: the trailing h-bar return */
    double dir_acc;       /* sign agreement of score (centred) and return, over non-zero returns */
    double dir_acc_up;    /* baseline: always up */
    double dir_acc_prev;  /* baseline: sign of the trailing h-bar return */
    qa_evaluate_bt bt, bt_prev;           /* top-k backtests of the model and of the baseline */
    int64_t t_first, t_last;              /* backtest range */
    double *equity, *equity_prev;         /* backtest equity on the grid range (owned) */
    int64_t *equity_time;                 /* its timestamps (owned) */
    size_t equity_n;
} qa_evaluate_metrics;

/* Metrics of per-row scores (score[i] for row d->pred_rows[split][i]; NaN allowed)
 * against the data's labels. Fills *out (free with qa_evaluate_metrics_free). */
qa_status qa_evaluate_predictions(const qa_train_data *d, qa_train_split split, const double *score,
                                  const qa_evaluate_opts *o, qa_evaluate_metrics *out);
void qa_evaluate_metrics_free(qa_evaluate_metrics *m);
json_t *qa_evaluate_metrics_json(const qa_evaluate_metrics *m);
/* Pearson correlation and Spearman (average ranks) of n pairs; NaN when undefined. */
double qa_evaluate_pearson(const double *x, const double *y, size_t n);
double qa_evaluate_spearman(const double *x, const double *y, size_t n, double *scratch /* 4n */);

/* Scores of every prediction row of `split` with the model's parameters on the net's
 * backend (params: backend memory), in chunks of `chunk` rows (<= the net's max rows).
 * score has d->npred[split] entries. The last bits of a score can depend on the chunk
 * size and the CPU thread count (BLAS picks kernels by matrix shape), so `qa evaluate`
 * uses the run's eval_batch and threads, recorded in the model, to reproduce the run. */
qa_status qa_evaluate_scores(qa_train_net_t *net, qa_backend_t *be, const float *params, const qa_model *m,
                             const qa_train_data *d, qa_train_split split, int chunk, double *score);

/* `qa evaluate`: loads the model (a file, or a models:/ URI resolved in the registry
 * `registry`, NULL: the default, with the artifact's hash checked), checks its features
 * against the store, loads the data with the model's normalisation, scores `split` on
 * `backend` and computes the metrics. */
qa_status qa_evaluate_run(const char *model_ref, const char *registry, const char *data_path, qa_train_split split, const char *backend,
                          const qa_evaluate_opts *o, qa_evaluate_metrics *out);

#ifdef __cplusplus
}
#endif
#endif
