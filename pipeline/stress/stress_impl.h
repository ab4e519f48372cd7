/* Internal interface between the parts of `qa stress` (stress.c, stress_market.c,
 * stress_scenarios.c, stress_output.c, stress_backtest.c). Not part of the public API. */
#ifndef QA_PIPELINE_STRESS_IMPL_H
#define QA_PIPELINE_STRESS_IMPL_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include <jansson.h> /* summary documents */

#include "common/fs.h"     /* QA_PATH_MAX */
#include "common/status.h"
#include "datasets/h5.h"    /* results files */
#include "datasets/store.h"
#include "kernels/risk.h"
#include "mpi/comm.h"
#include "trading/book.h"
#include "pipeline/run/report.h"
#include "pipeline/stress/stress.h"
#include "pipeline/stress/stress_engine.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- market data (stress_market.c) ------------------------------------------------------ */

/* Closing prices of a symbol set on the store's whole time grid, identical on every rank
 * (rank 0 reads, then broadcasts the bytes). */
typedef struct qa_stress_panel {
    size_t n;                             /* symbols */
    char (*sym)[QA_STORE_SYMBOL_LEN];     /* n */
    size_t t;                             /* timestamps */
    int64_t *time;                        /* t, UTC ns */
    double *close;                        /* n x t, NaN where no bar (derived columns: the proxy's level) */
    unsigned char *kind;                  /* n: qa_stress_col_kind */
    double bars_per_year;
    char path[QA_PATH_MAX];               /* market file */
} qa_stress_panel;

/* Reads `n` symbols (each must exist: the caller checked) from `path`. Collective. */
qa_status qa_stress_panel_load(const char *path, const qa_comm_t *comm, const char *const *symbols, size_t n,
                            qa_stress_panel *out);
void qa_stress_panel_free(qa_stress_panel *p);
/* What a panel column holds; a factor's scenario value is the log-change of its level. */
typedef enum qa_stress_col_kind {
    QA_STRESS_COL_PRICE = 0, /* a close: log-return */
    QA_STRESS_COL_VOL = 1,   /* realised-volatility proxy of an implied vol: log-change of the vol */
    QA_STRESS_COL_RATE = 2   /* exp(rate proxy): its log-change is the rate's absolute change */
} qa_stress_col_kind;

/* Inserts at column `at` a derived level series computed from column `src` (the columns
 * from `at` on move right by one):
 *   QA_STRESS_COL_VOL:  the annualised realised volatility of src's last `window` log-
 *                       returns (zero mean), NaN until `window` returns exist;
 *   QA_STRESS_COL_RATE: exp(-log(P_t / P_0) / duration) for src's closes P (P_0 its first),
 *                       so a log-change is the rate move dr = -dlog P / D of a bond of
 *                       modified duration D.
 * Every rank computes the same bits from the same panel. */
qa_status qa_stress_panel_derive(qa_stress_panel *p, size_t at, const char *name, qa_stress_col_kind kind, size_t src,
                                 int window, double duration);
/* Column of `symbol`, or -1. */
long qa_stress_panel_find(const qa_stress_panel *p, const char *symbol);
/* Index of the last timestamp <= `at` (at = 0: the last) where every symbol in cols has a
 * close; -1 when none. */
long qa_stress_panel_last_common(const qa_stress_panel *p, const size_t *cols, size_t ncols, int64_t at);

/* Log-returns between consecutive dates on which every column has a close.
 * Last-`window` form: the `window` returns ending at time index `t_end` (inclusive).
 * Range form: every return dated within [start, end]. ret: (count x ncols), date[k] is
 * the time index of return k (its end date). Caller frees both. QA_ERR_NOT_FOUND when
 * there are fewer than `window` (or no) returns, with *available set. */
qa_status qa_stress_returns_last(const qa_stress_panel *p, const size_t *cols, size_t ncols, size_t t_end, size_t window,
                              double **ret, size_t **date, size_t *available);
qa_status qa_stress_returns_range(const qa_stress_panel *p, const size_t *cols, size_t ncols, int64_t start, int64_t end,
                               double **ret, size_t **date, size_t *count);

/* Reads a sector table: a CSV with a `symbol` column and a `sector` or `gics_sector`
 * column. Returns parallel malloc'd arrays (free with qa_stress_sectors_free). */
typedef struct qa_stress_sectors {
    char (*sym)[QA_STORE_SYMBOL_LEN];
    char (*sector)[64];
    size_t n;
} qa_stress_sectors;
qa_status qa_stress_sectors_load(const char *path, qa_stress_sectors *out);
void qa_stress_sectors_free(qa_stress_sectors *s);
const char *qa_stress_sectors_of(const qa_stress_sectors *s, const char *symbol);

/* ---- the book (stress.c) ---------------------------------------------------------------- */

/* A portfolio resolved against prices on the valuation date. Factors are the distinct
 * symbols the positions refer to (an option's factor is its underlying). */
typedef struct qa_stress_book {
    qa_book pf;
    size_t n, p;
    size_t *cols;        /* n: factor -> panel column */
    size_t *factor;      /* p: position -> factor */
    double *spot;        /* n: price on the valuation date */
    double *qty;         /* p: signed quantity (weights resolved) */
    double *mv;          /* p: market value (futures 0) */
    double *exposure;    /* p: delta exposure, currency per unit log-return (linear: q m S; option: q m Delta S) */
    double *w;           /* n: total delta exposure per factor */
    double *w_lin;       /* n: linear positions only */
    double *e_lin;       /* n x nlin */
    size_t nlin, nopt;
    size_t *lin_pos, *opt_pos;
    qa_risk_option *opt; /* nopt, with the horizon's factor columns */
    double *vol;         /* p: option volatility used (NaN for linear) */
    /* The revaluation model (qa_risk_reval; docs/risk.md, "Revaluation model"). Under the
     * approximations position i makes c0 + a1 x + [delta-gamma] a2 x^2 / 2 in its factor's
     * log-return x, from its value and greeks at the horizon (linear: c0 = 0, a1 = a2 =
     * exposure; option: time decay, q (Delta S), q (Delta S + Gamma S^2)). */
    int reval;
    double *c0, *a1, *a2;/* p */
    double *av, *ar;     /* p: first-order P&L per unit vol log-change (q vega vol) and per unit rate move (q rho) */
    /* Factors: the portfolio's assets, then a vol factor per option underlying (its
     * realised-vol proxy) and one rate factor (a bond ETF proxy), each a panel column. */
    long *vol_of;        /* per asset factor: the vol factor of an underlying, or -1 */
    long rate_f;         /* the rate factor, or -1 */
    int rate_missing;    /* the book has options but the default rate proxy is not in the data */
    double *e_apx, *w_apx;/* approximations: width x p exposures and their row sums (engine book) */
    size_t *all_pos;     /* p: 0 .. p-1 */
    double value;        /* portfolio value (NAV) */
    double horizon_years;
    int64_t valuation;
    size_t t_val;        /* time index of the valuation date */
} qa_stress_book;

void qa_stress_book_free(qa_stress_book *b);
/* Loads the portfolio (checked against the market file), the panel of its symbols, and
 * resolves the book on the valuation date (historical option volatilities over the last
 * `window` returns). Collective. */
qa_status qa_stress_book_prepare(const qa_stress_cfg *c, const qa_comm_t *comm, qa_stress_book *b, qa_stress_panel *panel);

/* P&L of one scenario x (n log-returns) under the run's revaluation model (the VaR
 * engines' and reverse stress's: full by default, else the delta / delta-gamma
 * approximation with greeks at the horizon), per position into pos (p, may be NULL).
 * `years` of time decay apply to full revaluation (the approximations are taken at the
 * horizon). Returns the total. */
double qa_stress_book_pnl_model(const qa_stress_book *b, const double *x, double years, double *pos);
/* Full revaluation (scenarios): linear positions exactly, q m S (e^x - 1). */
double qa_stress_book_pnl_full(const qa_stress_book *b, const double *x, double years, double *pos);
/* d pnl_model / d x at x (n), after `years` of time decay. */
void qa_stress_book_gradient(const qa_stress_book *b, const double *x, double years, double *g);
/* Black-Scholes delta of an option at spot s (its expiry field: years left). */
double qa_stress_option_delta(const qa_risk_option *o, double s);

/* ---- results (stress.c -> stress_output.c) ------------------------------------------- */

typedef struct qa_stress_measure {
    int run;                  /* computed */
    char name[32];            /* "historical", "stressed_montecarlo", ... */
    double var[QA_STRESS_MAX_LEVELS], es[QA_STRESS_MAX_LEVELS]; /* losses, currency */
    size_t scenarios;         /* sample size (0 for parametric) */
    double *comp_var, *comp_es, *marginal, *marginal_es, *incr_var, *incr_es; /* nlevels x p, owned, NULL when absent */
    double *sample;           /* loss sample, owned */
    size_t nsample;
    double seconds;
} qa_stress_measure;

typedef struct qa_stress_scenario {
    char name[96];
    char kind[16];            /* "replay", "hypothetical", "reverse" */
    double pnl;               /* total P&L (currency); for replays the end of the window */
    double worst;             /* replays: lowest cumulative P&L; else = pnl */
    int64_t worst_date;
    double *pos;              /* p: per-position P&L (owned) */
    /* replay path */
    size_t npath;
    int64_t *path_time;       /* owned */
    double *path_pnl;         /* owned */
    /* hypothetical / reverse: factor moves (simple returns) over the universe */
    size_t nmoves;
    char (*move_sym)[QA_STORE_SYMBOL_LEN]; /* owned */
    double *moves;            /* owned */
    double sigma_distance;    /* reverse: Mahalanobis distance of the move (horizon covariance) */
    double model_loss;        /* reverse: loss under the VaR model's revaluation */
    int iterations;
    int converged;
    char note[160];
} qa_stress_scenario;

typedef struct qa_stress_results {
    const qa_stress_cfg *cfg;
    qa_stress_book *book;
    const qa_stress_panel *panel;
    qa_stress_measure m[2 * QA_STRESS_METHOD_COUNT]; /* [method] then [METHOD_COUNT + method] stressed */
    qa_stress_scenario *sc;
    size_t nsc;
    size_t window_used, stress_returns;
    int64_t window_start, window_end;
    double lw_intensity, jitter;
    qa_limit_result *limits;  /* cfg->limits.n */
    double gross, net, max_weight, drawdown;
    const char *max_weight_name;
    int limits_source;        /* measure index feeding the limits, -1 none */
    /* Monte-Carlo throughput of the scan, in the units of the work done (docs/risk.md,
     * "Throughput"): scenarios/s; scenario x asset moves revalued/s (normals, correlation,
     * the mode's features, the book's exposure per asset); option valuations/s (full
     * Black-Scholes per option and scenario, 0 when none are revalued). */
    double mc_scenarios_per_s, mc_asset_revals_per_s, mc_option_revals_per_s, mc_seconds;
    double seconds, peak_rss_mb;
    int ranks;
    char backend[16];
    char notes[8][320];
    size_t nnotes;
} qa_stress_results;

void qa_stress_results_free(qa_stress_results *r);
void qa_stress_note(qa_stress_results *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---- scenarios (stress_scenarios.c) ---------------------------------------------------- */

qa_status qa_stress_replays(const qa_stress_cfg *c, const qa_stress_panel *panel, const qa_stress_book *b, qa_stress_results *res);
/* Hypothetical shocks, propagated by conditional expectation. uni: the universe panel
 * columns (portfolio factors first), cov: its covariance (nu x nu). */
qa_status qa_stress_hypothetical(const qa_stress_cfg *c, const qa_stress_panel *panel, const qa_stress_book *b,
                              const size_t *uni, size_t nu, const double *cov, const qa_stress_sectors *sectors,
                              qa_stress_results *res);
/* Reverse stress for each configured loss; cov: n x n horizon covariance of the factors. */
qa_status qa_stress_reverse(const qa_stress_cfg *c, const qa_stress_book *b, const double *cov, qa_stress_results *res);
/* E[r | A r = s] = Sigma A' (A Sigma A')^-1 s: constraints A (k x n), values s (k). */
qa_status qa_stress_condition(const double *cov, size_t n, const double *a, const double *s, size_t k, double *x);

/* ---- outputs (stress_output.c) ---------------------------------------------------------- */

/* A results file (datasets/h5.h) with its format name and version attributes (as
 * strings, the layout of docs/risk.md). */
qa_status qa_stress_h5_create(const char *path, const char *format, int version, qa_h5_file *out);

/* Writes config.resolved.json (every key with its effective value) into run_dir. */
qa_status qa_stress_write_config(const char *run_dir, const qa_stress_cfg *c);
/* Writes results.h5, summary.json, report.html of a stress run (rank 0). */
qa_status qa_stress_write_outputs(const char *run_dir, const qa_stress_results *r, json_t **summary);
/* Histogram sample -> counts over `bins` equal bins spanning [lo, hi]. */
void qa_stress_histogram(const double *v, size_t n, size_t bins, double *lo, double *hi, double *counts);

#ifdef __cplusplus
}
#endif
#endif
