/* `qa stress`: risk of a portfolio over a market file: historical, filtered historical,
 * parametric and Monte-Carlo VaR/ES at several levels and a multi-day horizon, stressed
 * VaR on a chosen window, Euler contributions and incremental VaR per position,
 * historical replays and hypothetical shocks propagated through the covariance, reverse
 * stress, limits with JSON-line alerts, and a run directory with results.h5,
 * summary.json and report.html. `qa stress backtest` compares rolling VaR forecasts with
 * realised P&L (Kupiec, Christoffersen).
 *
 * Monte Carlo and historical scenario sets are revalued by the distributed engine
 * (pipeline/stress/stress_engine.h): results are bitwise identical for any number of MPI ranks.
 * Configuration keys, formats and methods: docs/risk.md. */
#ifndef QA_PIPELINE_STRESS_H
#define QA_PIPELINE_STRESS_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/config.h"
#include "common/status.h"
#include "mpi/comm.h"
#include "trading/limits.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qa_stress_method {
    QA_STRESS_HISTORICAL = 0,
    QA_STRESS_FHS = 1,
    QA_STRESS_PARAMETRIC = 2,
    QA_STRESS_MONTECARLO = 3,
    QA_STRESS_METHOD_COUNT = 4
} qa_stress_method;
extern const char *const qa_stress_method_names[]; /* "historical", "fhs", "parametric", "montecarlo", NULL */

typedef enum qa_stress_estimator {
    QA_STRESS_COV_SAMPLE = 0,
    QA_STRESS_COV_EWMA = 1,
    QA_STRESS_COV_LEDOIT_WOLF = 2,
    QA_STRESS_ESTIMATOR_COUNT = 3
} qa_stress_estimator;
extern const char *const qa_stress_estimator_names[]; /* "sample", "ewma", "ledoit_wolf", NULL */

/* A named window of history {name, start, end} (dates inclusive, UTC ns of 00:00). */
typedef struct qa_stress_window {
    char name[64];
    int64_t start, end;
    int line;        /* config line (0 for built-in defaults) */
} qa_stress_window;

/* One shock of a hypothetical scenario: a simple-return move of an asset, of every
 * portfolio asset of a sector, or of a named factor (a weighted basket). */
typedef enum qa_stress_shock_kind {
    QA_STRESS_SHOCK_ASSET = 0,
    QA_STRESS_SHOCK_SECTOR = 1,
    QA_STRESS_SHOCK_FACTOR = 2,
    QA_STRESS_SHOCK_VOL = 3,  /* relative move of an option underlying's volatility: 0.5 = +50% */
    QA_STRESS_SHOCK_RATE = 4  /* absolute move of the rate: 0.01 = +100 bp */
} qa_stress_shock_kind;

typedef struct qa_stress_shock {
    qa_stress_shock_kind kind;
    const char *target; /* symbol, sector or factor name (points into the config) */
    double move;        /* simple return: -0.2 = -20% */
    int line;
} qa_stress_shock;

typedef struct qa_stress_hypo {
    char name[64];
    qa_stress_shock *shocks; /* owned */
    size_t nshocks;
    int line;
} qa_stress_hypo;

typedef struct qa_stress_factor {
    char name[64];
    const char **assets; /* owned array of pointers into the config */
    double *weights;     /* owned; equal weights when not given */
    size_t n;
    int line;
} qa_stress_factor;

/* The resolved configuration. Strings point into the qa_cfg_t it was bound from (keep it
 * alive) or into static defaults. */
/* Array bounds of the configuration: confidence levels of a run, levels of the VaR
 * backtest, reverse-stress losses. The config parser refuses more. */
#define QA_STRESS_MAX_LEVELS 16
#define QA_STRESS_MAX_BT_LEVELS 8
#define QA_STRESS_MAX_REVERSE 16

typedef struct qa_stress_cfg {
    const char *cfg_name;     /* config file name for messages */
    const char *portfolio;    /* portfolio file */
    const char *data;         /* market file */
    double portfolio_value;   /* NaN: from the portfolio */
    int64_t valuation;        /* 0: last date with prices for every asset */
    const char *backend;      /* cpu, cuda, auto */
    int threads;              /* CPU threads per rank, 0 = all */
    double levels[QA_STRESS_MAX_LEVELS];
    size_t nlevels;
    int horizon;              /* days */
    int window;               /* return dates for estimation and historical simulation (count form) */
    int64_t window_start, window_end; /* date form (UTC ns, inclusive): every return dated within; 0 = count form */
    int reval;                /* qa_risk_reval: full (default), delta, delta_gamma */
    /* Option risk factors beyond the underlying (docs/risk.md, "Volatility and rate
     * factors"): no implied-volatility or rate series ships, so proxies stand in. */
    int opt_vol;              /* 1: a vol factor per option underlying, its realised-vol proxy's log-change */
    int vol_window;           /* returns in the realised-volatility proxy */
    const char *rate_proxy;   /* bond ETF whose price moves give the rate factor (NULL/"none": rates fixed) */
    double rate_duration;     /* its modified duration: dr = -d log P / D */
    int rate_explicit;        /* rate_proxy was configured (missing from the data: an error, not a note) */
    unsigned methods;         /* bit per qa_stress_method */
    int use_mean;             /* 1: sample mean of the window, 0: zero mean */
    /* covariance */
    qa_stress_estimator estimator;
    double ewma_lambda;
    int lw_target;            /* qa_risk_lw_target */
    double jitter_max;
    /* fhs */
    double fhs_lambda;
    /* parametric */
    int param_nu;             /* 0 normal, else Student-t degrees of freedom */
    /* montecarlo */
    long long mc_scenarios;
    long long mc_block;
    int mc_nu;                /* 0 normal, else Student-t */
    long long mc_seed;
    long long sample;         /* losses kept for histograms */
    /* contributions */
    int contributions;
    int incremental;          /* -1 auto (positions <= 100), 0 off, 1 on */
    long long bandwidth;
    long long chunk;
    /* stressed VaR */
    int stressed;             /* a stress window is configured */
    qa_stress_window stress_window;
    unsigned stressed_methods;
    /* scenarios */
    qa_stress_window *replays; /* owned */
    size_t nreplays;
    int replays_default;      /* the built-in list (windows outside the data are skipped) */
    qa_stress_hypo *hypos;    /* owned */
    size_t nhypos;
    qa_stress_factor *factors;/* owned */
    size_t nfactors;
    const char *sectors;      /* sector table CSV (symbol + sector or gics_sector column) */
    int hypo_stressed_cov;    /* propagate hypothetical shocks with the stress-window covariance */
    double reverse_losses[QA_STRESS_MAX_REVERSE];/* fractions of the portfolio value */
    size_t nreverse;
    int reverse_max_iter;
    /* limits */
    qa_limit_set limits;      /* owned */
    int limits_method;        /* qa_stress_method whose VaR/ES feeds the limits, -1 = first run */
    /* backtest */
    unsigned bt_methods;
    double bt_levels[QA_STRESS_MAX_BT_LEVELS];
    size_t bt_nlevels;
    int bt_window;
    int64_t bt_start, bt_end; /* 0 = whole history */
    long long bt_scenarios;   /* Monte-Carlo scenarios per forecast */
    /* output */
    int bins;
    /* lines of keys for data-dependent errors (0 when absent) */
    int line_window, line_reval, line_valuation, line_stress_start, line_portfolio_value, line_bt_window, line_bt_start;
} qa_stress_cfg;

void qa_stress_cfg_default(qa_stress_cfg *c);
/* Binds a YAML document (keys in docs/risk.md, "Configuration"). Errors name file:line and
 * key. */
qa_status qa_stress_cfg_bind(const qa_cfg_t *cfg, qa_stress_cfg *c);
void qa_stress_cfg_free(qa_stress_cfg *c);
/* Where a config value came from, for messages: "file:line", or, for line 0 (a value given
 * by --set, or a default the file left out), "file (a --set value or a default)". */
#define QA_STRESS_AT_MAX 320
const char *qa_stress_cfg_at(const qa_stress_cfg *c, int line, char *buf, size_t size);
#define QA_STRESS_AT(c, line) qa_stress_cfg_at((c), (line), (char[QA_STRESS_AT_MAX]){0}, QA_STRESS_AT_MAX)

/* Headline numbers of a run (rank 0). */
typedef struct qa_stress_summary {
    double value;             /* portfolio value */
    size_t positions, factors;
    double var[QA_STRESS_METHOD_COUNT][QA_STRESS_MAX_LEVELS], es[QA_STRESS_METHOD_COUNT][QA_STRESS_MAX_LEVELS]; /* NaN when not run */
    size_t breaches, warnings;
    double mc_seconds, mc_scenarios_per_s, mc_asset_revals_per_s;
    double seconds;
    double peak_rss_mb;       /* max over ranks */
} qa_stress_summary;

/* Runs `qa stress` into run directory `run_dir`. argv is recorded in run.json.
 * Collective. */
qa_status qa_stress_run(const qa_stress_cfg *c, const qa_comm_t *comm, const char *run_dir, int argc, char **argv,
                        qa_stress_summary *sum);

/* Runs `qa stress backtest` into `run_dir`. Collective. */
qa_status qa_stress_backtest(const qa_stress_cfg *c, const qa_comm_t *comm, const char *run_dir, int argc,
                             char **argv);

#ifdef __cplusplus
}
#endif
#endif
