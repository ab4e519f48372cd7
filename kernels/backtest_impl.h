/* Internal to the backtest module (not a public API): the observation sequence and the
 * portfolio accumulators shared by the CPU engines, the reference run, and the backend
 * implementations that backtest.c dispatches to after validating their inputs. Tests
 * include it to call an engine directly. */
#ifndef QA_KERNELS_BACKTEST_IMPL_H
#define QA_KERNELS_BACKTEST_IMPL_H

#include "kernels/backtest.h"
#include "kernels/backtest_rules.h" /* qa_bt_consts */

/* ---- host-side helpers shared by the CPU engines (backtest.c) ------------------------------ */
#ifdef __cplusplus
extern "C" {
#endif

/* The observation sequence of one symbol up to t_end (docs/backtest.md): arrays of n
 * observations; t[i] is the bar index, r[i] = c[i]/c[i-1] - 1 (r[0] NaN), i0 the base
 * observation (first at or after t_begin; n when none); aux is scratch (portfolio
 * weights). One allocation of capacity t_end. */
typedef struct qa_bt_obs {
    long n, i0;
    double *c, *h, *l, *v, *g, *r, *aux;
    long *t;
    void *block;
} qa_bt_obs;

qa_status qa_bt_obs_alloc(qa_bt_obs *o, size_t cap);
void qa_bt_obs_free(qa_bt_obs *o);
/* Fills o with symbol s: bars where close (and high/low, volume > 0, signal when the
 * flags ask for them) are present. */
void qa_bt_obs_build(qa_bt_obs *o, const qa_bt_data *d, size_t s, int need_hl, int need_vol, int need_sig);

/* Portfolio accumulators over the L = t_end - t_begin bars of the range for one
 * parameter set: weighted sums of R and turnover, total weight, any-held flags. */
typedef struct qa_bt_pacc {
    double *num, *den, *tnum;
    unsigned char *held;
    int64_t trades;
} qa_bt_pacc;

qa_status qa_bt_pacc_alloc(qa_bt_pacc *a, size_t L);
void qa_bt_pacc_free(qa_bt_pacc *a);
/* Portfolio weights of the symbol's observations into o->aux (1 for equal weights). */
void qa_bt_weights_build(qa_bt_obs *o, const qa_bt_portfolio_opts *opts);
/* Adds one symbol's run: R, delta, held over its P&L observations i = i0+1..n-1 (index
 * i - i0 - 1), with weights o->aux. Symbols are added in ascending order. */
void qa_bt_pacc_add(qa_bt_pacc *a, const qa_bt_obs *o, size_t t_begin, const double *R, const double *delta,
                    const unsigned char *held, int64_t trades);
/* Portfolio metrics and (optional) equity over the L bars. */
qa_status qa_bt_pacc_finish(const qa_bt_pacc *a, size_t L, double bpy, qa_bt_metrics *out, double *equity);

/* The reference run of one parameter set over one symbol's observations
 * (backtest_ref.c): per P&L bar j = i - i0 - 1 the P&L R, |delta pos|, position, equity
 * after the bar and the held flag (any output may be NULL); returns the number of P&L
 * bars and the entries in *trades. */
long qa_bt_ref_run(const qa_bt_obs *o, const qa_bt_consts *k, const double *p, double *R, double *delta,
                   double *pos, double *E, unsigned char *held, int64_t *trades);

/* Cross-sectional codes per (bar of the range, symbol), L x S row-major: +1 long leg,
 * -1 short leg, 0 flat, QA_BT_XS_CARRY when the symbol has no close (position carried). */
#define QA_BT_XS_CARRY 2
/* The portfolio from codes: P&L, metrics and equity (shared by the CPU engines). */
qa_status qa_bt_xs_finish(const qa_bt_data *d, const qa_bt_xs_settings *xs, const signed char *codes,
                          qa_bt_metrics *out, double *equity);


/* ---- backend implementations (inputs already validated by the functions above) --------- */

/* The reference: one (symbol, parameter set) at a time, indicators recomputed from
 * their windows at every bar. */
qa_status qa_bt_run_reference(const qa_bt_data *data, const qa_bt_grid *grid, const qa_bt_rules *rules,
                              qa_bt_metrics *out);
qa_status qa_bt_trace_reference(const qa_bt_data *data, const qa_bt_grid *grid, const qa_bt_rules *rules,
                                const qa_bt_trace *traces, size_t n_traces);
qa_status qa_bt_portfolio_reference(const qa_bt_data *data, const qa_bt_grid *grid,
                                    const qa_bt_rules *rules, const qa_bt_portfolio_opts *opts,
                                    qa_bt_metrics *out, double *equity);
qa_status qa_bt_xs_reference(const qa_bt_data *data, const qa_bt_xs_settings *xs, qa_bt_metrics *out,
                             double *equity);

/* The optimised CPU engine with `threads` OpenMP threads. */
qa_status qa_bt_run_cpu(const qa_bt_data *data, const qa_bt_grid *grid, const qa_bt_rules *rules,
                        qa_bt_metrics *out, int threads);
qa_status qa_bt_portfolio_cpu(const qa_bt_data *data, const qa_bt_grid *grid, const qa_bt_rules *rules,
                              const qa_bt_portfolio_opts *opts, qa_bt_metrics *out, double *equity,
                              int threads);
qa_status qa_bt_xs_cpu(const qa_bt_data *data, const qa_bt_xs_settings *xs, qa_bt_metrics *out,
                       double *equity, int threads);

/* CUDA: panels in device memory, work queued on `cuda_stream`; returns after the host
 * outputs are written. */
qa_status qa_bt_run_cuda(void *cuda_stream, const qa_bt_data *data, const qa_bt_grid *grid,
                         const qa_bt_rules *rules, qa_bt_metrics *out, const qa_bt_trace *traces,
                         size_t n_traces);
qa_status qa_bt_portfolio_cuda(void *cuda_stream, const qa_bt_data *data, const qa_bt_grid *grid,
                               const qa_bt_rules *rules, const qa_bt_portfolio_opts *opts,
                               qa_bt_metrics *out, double *equity);
qa_status qa_bt_xs_cuda(void *cuda_stream, const qa_bt_data *data, const qa_bt_xs_settings *xs,
                        qa_bt_metrics *out, double *equity);

#ifdef __cplusplus
}
#endif
#endif
