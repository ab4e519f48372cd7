/* Internal header of the sweep module (the files of pipeline/sweep/):
 * the bound configuration, the loaded data, the chunk plan, chunk files and the HDF5
 * helpers they share. Not part of the public API (pipeline/sweep/sweep.h). */
#ifndef QA_PIPELINE_SWEEP_INTERNAL_H
#define QA_PIPELINE_SWEEP_INTERNAL_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include <hdf5.h>     /* hid_t */
#include <jansson.h>  /* json_t */
#include <signal.h>   /* sig_atomic_t */

#include "common/config.h"
#include "common/status.h"
#include "datasets/h5.h"    /* HDF5 errors, attributes, datasets */
#include "datasets/store.h"
#include "kernels/backend.h"
#include "kernels/backtest.h"
#include "pipeline/sweep/sweep.h"
#include "trading/rules.h"

#define QA_SWEEP_FORMAT "quantumalpha.sweep"          /* results.h5 */
#define QA_SWEEP_CHUNK_FORMAT "quantumalpha.sweep-chunk" /* chunks/chunk-NNNNNN.h5 */
#define QA_SWEEP_RUN_FORMAT "quantumalpha.sweep-run"    /* sweep.json (the run's manifest) */
#define QA_SWEEP_FORMAT_VERSION 1
/* Version of the chunk computation; part of the config hash, bumped when numbers change. */
#define QA_SWEEP_CODE_VERSION "sweep-1"

/* Pseudo-strategy of the sweep layer: the cross-sectional top-k/bottom-k portfolio
 * (qa_bt_xs_topk) with a grid over {k_long, k_short, long_weight, short_weight}. */
#define QA_SWEEP_XS ((int)QA_BT_STRATEGY_COUNT)
#define QA_SWEEP_NSTRAT (QA_SWEEP_XS + 1)

/* An allocation count that is never 0 (malloc(0) may return NULL). */
#define QA_SWEEP_NZ(n) ((n) > 0 ? (n) : 1)

/* The 13 metrics of qa_bt_metrics in a fixed order (datasets, CSV columns). */
#define QA_SWEEP_NMETRICS 13
extern const char *const qa_sweep_metric_names[QA_SWEEP_NMETRICS + 1]; /* NULL-terminated */
/* 1 when a larger value ranks better (0 for ann_vol, turnover, max_dd_duration). */
int qa_sweep_metric_higher_better(int m);
void qa_sweep_metrics_to_row(const qa_bt_metrics *m, double *row);
void qa_sweep_metrics_from_row(const double *row, qa_bt_metrics *m);
double qa_sweep_metric_value(const qa_bt_metrics *m, int metric);
/* 1 when a beats b for `metric` (NaN never beats; equal values do not beat). */
int qa_sweep_better(int metric, double a, double b);

/* ---- configuration -------------------------------------------------------------------- */

typedef struct qa_sweep_wf {
    int enabled;
    long long train, test, step; /* bars */
    int anchored;
    int per_portfolio;           /* select per symbol (0) or for the portfolio/xs series (1) */
    int metric;                  /* selection metric */
    const char *select_by;       /* its name as written (NULL: rank_by) */
    const qa_cfg_node *n_train, *n_test, *n_step; /* lengths as written (bars, 3y, 6m) */
    size_t nwin;
    size_t *train_begin, *train_end, *test_begin, *test_end; /* [nwin] bar indices, one allocation */
} qa_sweep_wf;

typedef struct qa_sweep_mt {
    int enabled;
    long long bootstrap;  /* resamples */
    double block;         /* mean block length (bars) */
    long long seed;
    int benchmark;        /* 0 zero, 1 equal-weight buy and hold */
    double trials;        /* independent trials for the DSR; 0 = estimated */
    const qa_cfg_node *n_trials; /* as written: auto or a number */
} qa_sweep_mt;

typedef struct qa_sweep_cfg {
    const qa_cfg_t *doc;
    const char *data, *backend, *signal;
    const char *strategy_name, *rank_by, *start, *end; /* as written */
    qa_cfg_list heatmap;         /* parameter names as written */
    int strategy;                /* qa_bt_strategy or QA_SWEEP_XS */
    int nslots;
    const char *slot_names[QA_BT_MAX_PARAMS];
    int random;                  /* random search */
    long long samples, seed;
    qa_bt_params *params;        /* [nparams], owned */
    size_t nparams, dropped;     /* sets kept / inconsistent combinations dropped */
    qa_rules rules;              /* the trading rules block (`settings:`) */
    qa_bt_rules bt;              /* the same, as the kernels take them (qa_rules_to_bt) */
    int portfolio;               /* `portfolio:` section present */
    qa_bt_portfolio_opts popts;
    int rank_metric;
    long long top;
    int heat[2];                 /* heatmap slots (-1: none) */
    long long chunk_symbols, chunk_params;
    qa_sweep_wf wf;
    qa_sweep_mt mt;
    /* resolved against the market file */
    size_t nsym;
    size_t *sym_index;           /* [nsym] rows in the file */
    char (*sym_names)[QA_STORE_SYMBOL_LEN];
    size_t t_begin, t_end;       /* evaluation range; panels are loaded as [0, t_end) */
    int64_t *time;               /* [t_end] time grid */
    int need_hl, need_vol, need_sig;
    /* nodes for error messages */
    const qa_cfg_node *n_root, *n_grid, *n_settings, *n_wf, *n_symbols, *n_portfolio, *n_mt;
    char config_hash[65];
    json_t *work;                /* canonical description of the work (hashed) */
    json_t *resolved;            /* work + presentation keys (config.resolved.json) */
    volatile sig_atomic_t *stop; /* the run's stop flag (SIGTERM): the grid expansion polls it */
} qa_sweep_cfg;

/* Binds `doc` with the run-time overrides, opens the market file (serially, read-only),
 * resolves symbols, dates and the signal dataset and validates everything; errors name
 * file:line and key. */
qa_status qa_sweep_cfg_load(const qa_cfg_t *doc, const qa_sweep_opts *o, qa_sweep_cfg *c);
void qa_sweep_cfg_free(qa_sweep_cfg *c);
/* "fast=5 slow=50" for parameter set p. */
void qa_sweep_params_text(const qa_sweep_cfg *c, size_t p, char *buf, size_t size);
int qa_sweep_slot_is_int(int strategy, int slot);
const char *qa_sweep_strategy_name(int strategy);

/* ---- data ------------------------------------------------------------------------------ */

typedef struct qa_sweep_data {
    size_t S, T;                 /* selected symbols x bars [0, t_end) */
    double *host;                /* one allocation: close, high, low, volume, signal (those needed) */
    double *close, *high, *low, *volume, *signal; /* host views, S x T */
    qa_buf dev;                  /* device copy (CUDA) */
    const double *bclose, *bhigh, *blow, *bvolume, *bsignal; /* backend pointers */
    char input_hash[65];
} qa_sweep_data;

/* Loads the panels the sweep needs for the selected symbols (every rank reads the file
 * itself) and, when `hash` is set, hashes them with the time grid into d->input_hash
 * (one rank hashes; the others receive it). Uploads to `be` when it is CUDA (be may be
 * NULL: host only). */
qa_status qa_sweep_data_load(const qa_sweep_cfg *c, qa_backend_t *be, int hash, qa_sweep_data *d);
void qa_sweep_data_free(qa_sweep_data *d);
/* A qa_bt_data view of symbols [s0, s0+ns) over [t_begin, t_end) on the backend
 * (host arrays when host != 0). */
qa_bt_data qa_sweep_data_view(const qa_sweep_data *d, size_t s0, size_t ns, size_t t_begin, size_t t_end, int host);

/* ---- chunk plan ---------------------------------------------------------------------------- */

typedef enum qa_sweep_kind {
    QA_SWEEP_CHUNK_GRID = 0, /* symbols [s0, s0+ns) x sets [p0, p0+np): metrics */
    QA_SWEEP_CHUNK_SET = 1,  /* sets [p0, p0+np): portfolio or xs metrics + per-bar returns */
    QA_SWEEP_CHUNK_WF = 2,   /* window w x symbols [s0, s0+ns) (or the set series): selection + OOS */
    QA_SWEEP_KIND_COUNT = 3
} qa_sweep_kind;

typedef struct qa_sweep_chunk {
    qa_sweep_kind kind;
    size_t s0, ns, p0, np, w;
} qa_sweep_chunk;

/* The fixed chunk list of a configuration (malloc'd). */
qa_status qa_sweep_plan(const qa_sweep_cfg *c, qa_sweep_chunk **out, size_t *n);
/* 1 when the sweep has set chunks (portfolio section, multiple testing or xs). */
int qa_sweep_has_sets(const qa_sweep_cfg *c);
/* Bar-parameter evaluations of a chunk (the throughput unit). */
double qa_sweep_chunk_evals(const qa_sweep_cfg *c, const qa_sweep_chunk *k);

/* Result of one chunk (host memory). */
typedef struct qa_sweep_result {
    qa_sweep_chunk chunk;
    size_t rows, cols;   /* of `values` */
    double *values;      /* grid/set: [rows][13] metrics; wf: [rows][2 + 13]: chosen set, IS value, OOS metrics */
    size_t series_len;   /* columns of `series` (0: none) */
    double *series;      /* set: [np][L] per-bar returns; wf: [rows][Ltest] OOS returns */
    double *pos;         /* wf per symbol: [rows][Ltest] positions (NULL otherwise) */
    double seconds, evals;
    char engine[16];
} qa_sweep_result;

void qa_sweep_result_free(qa_sweep_result *r);
/* Computes chunk k on `be` (the data on that backend). */
qa_status qa_sweep_compute(const qa_sweep_cfg *c, const qa_sweep_data *d, qa_backend_t *be, const qa_sweep_chunk *k,
                           qa_sweep_result *r);
/* Metrics and per-bar returns (R[0] = NaN at the base bar) of sets [p0, p0+np) of the set
 * series over [tb, te): the portfolio across all symbols, or the cross-sectional
 * portfolio for xs_topk. `rets` ([np][te - tb]) may be NULL. */
qa_status qa_sweep_set_series(const qa_sweep_cfg *c, const qa_sweep_data *d, qa_backend_t *be, size_t p0, size_t np,
                              size_t tb, size_t te, qa_bt_metrics *out, double *rets);
/* Walk-forward chunk (pipeline/sweep/walkforward.c). */
qa_status qa_sweep_compute_wf(const qa_sweep_cfg *c, const qa_sweep_data *d, qa_backend_t *be,
                              const qa_sweep_chunk *k, qa_sweep_result *r);

/* <run>/chunks/chunk-NNNNNN.h5 */
qa_status qa_sweep_chunk_path(const char *run_dir, size_t index, char *buf);
/* Writes a chunk file atomically (temporary name, then rename). */
qa_status qa_sweep_chunk_write(const char *path, const qa_sweep_cfg *c, const char *input_hash, size_t index,
                               const qa_sweep_result *r);
/* 1 when a finished chunk file for this config exists at `path`. */
int qa_sweep_chunk_done(const char *path, const qa_sweep_cfg *c, const char *input_hash);
/* Reads a chunk file; checks format and hashes. */
qa_status qa_sweep_chunk_read(const char *path, const qa_sweep_cfg *c, const char *input_hash, qa_sweep_result *r);

/* ---- merge and report ------------------------------------------------------------------------ */

/* Rank-0 merge of every chunk into the run directory's outputs. */
qa_status qa_sweep_merge_run(const qa_sweep_cfg *c, const qa_sweep_data *d, const char *run_dir, qa_sweep_report *rep,
                             json_t *timing);

/* Walk-forward merge: reads the wf chunks, stitches the OOS series, adds /walkforward to
 * the results file, a "walk_forward" section to `summary` and rows to walkforward.csv;
 * `stitched` receives the stitched equity curves for the report (caller frees). */
typedef struct qa_sweep_wf_out {
    size_t nser;                 /* stitched series (symbols, or 1 for the set series) */
    size_t len;                  /* bars from the first test bar to the last */
    int64_t *time;               /* [len] (owned) */
    double *equity;              /* [nser][len] (owned) */
    char (*names)[QA_STORE_SYMBOL_LEN];
    json_t *windows;             /* per-window table rows (owned reference) */
    json_t *stitched;            /* per-series stitched metrics (owned reference) */
} qa_sweep_wf_out;
qa_status qa_sweep_wf_merge(const qa_sweep_cfg *c, const char *run_dir, const char *input_hash,
                            const qa_sweep_chunk *plan, size_t nplan, hid_t results, json_t *summary,
                            qa_sweep_wf_out *out);
void qa_sweep_wf_out_free(qa_sweep_wf_out *w);

/* Everything the report shows, gathered by the merge (host arrays owned by the merge). */
typedef struct qa_sweep_view {
    size_t L;                    /* bars of the range */
    const int64_t *time;         /* [L] */
    size_t nruns;                /* best runs (symbol, set) with curves */
    const size_t *run_s, *run_p;
    const double *run_metrics;   /* [nruns][13] */
    const double *run_equity;    /* [nruns][L] */
    size_t nsets;                /* best sets with their set-series curves (0: no set series) */
    const size_t *set_p;
    const double *set_metrics;   /* [nsets][13] */
    const double *set_equity;    /* [nsets][L] */
    const char *set_source;      /* "portfolio", "xs_topk" or "mean over symbols" */
    const double *heat;          /* [nh0][nh1] mean Sharpe per cell (NULL: none) */
    size_t nh0, nh1;
    char (*heat_labels0)[32], (*heat_labels1)[32];
    const double *hist[3];       /* Sharpe, total return, max drawdown samples */
    size_t nhist;
    const json_t *summary;       /* summary.json (counts, timings, multiple testing) */
    const qa_sweep_wf_out *wf;   /* NULL without walk-forward */
} qa_sweep_view;
/* Plans the walk-forward windows into c->wf (called by the config loader). */
qa_status qa_sweep_wf_plan(qa_sweep_cfg *c);

/* Writes report.html (pipeline/sweep/sweep_report.c). */
qa_status qa_sweep_report_write(const qa_sweep_cfg *c, const qa_sweep_view *v, const char *path);


#endif
