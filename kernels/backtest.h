/* Vectorized backtest sweeps: per-(symbol, parameter set) metrics of a rule-based
 * strategy over S x T price panels, for a whole grid of parameter sets at once.
 *
 * The rules (timing, strategies, stops, sizing, costs, metrics) are defined in
 * docs/backtest.md; this header states shapes, memory and ownership. In short:
 *   - panels are S x T row-major float64 (symbol s, bar t at [s*T + t]); NaN = no bar;
 *   - every per-symbol computation runs on the symbol's observation sequence: the bars
 *     where all inputs this run uses are non-NaN (close; high+low for Donchian; volume,
 *     which must also be > 0, when the impact cost is on; the signal for SIGNAL);
 *   - data before t_begin warms up indicators; the first observation at or after
 *     t_begin is the base bar (equity 1, flat); P&L is booked at the later observations
 *     before t_end: R = pos(prev)*r - costs.
 *
 * Engines: the CPU reference (plain, one run at a time, the oracle), the optimised CPU
 * engine (OpenMP over symbols, shared per-symbol indicator tables, SIMD across
 * parameter sets) and CUDA (one thread per (symbol, parameter set)). All three evaluate
 * every indicator in the same canonical order, so positions and trade decisions are
 * identical across engines; metrics agree within the tolerances of docs/backtest.md.
 *
 * Panel pointers live on the backend (device memory for CUDA, e.g. qa_buf.ptr);
 * parameter grids, settings, metrics and traces are host memory. */
#ifndef QA_KERNELS_BACKTEST_H
#define QA_KERNELS_BACKTEST_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"
#include "kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- strategies and their parameter layouts ------------------------------------------
 * A parameter set is a generic double p[8]; each strategy reads the slots listed here
 * (windows are whole numbers stored as doubles) and ignores the rest. Names (for
 * configs and reports) come from qa_bt_param_name. */
typedef enum qa_bt_strategy {
    QA_BT_SMA_CROSS = 0, /* {fast, slow}: long when SMA(fast) > SMA(slow), short when < */
    QA_BT_EMA_CROSS = 1, /* {fast, slow}: the same with EMA spans */
    QA_BT_ZSCORE = 2,    /* {window, entry_z, exit_z}: mean reversion with hysteresis */
    QA_BT_BOLLINGER = 3, /* {window, k}: breakout of mean +- k*std, exit at the mean */
    QA_BT_DONCHIAN = 4,  /* {window, exit_window}: breakout of the previous channel */
    QA_BT_RSI = 5,       /* {window, lower, upper}: Wilder RSI thresholds, exit at 50 */
    QA_BT_SIGNAL = 6,    /* {lower, upper}: long when signal > upper, short when < lower */
    QA_BT_STRATEGY_COUNT = 7
} qa_bt_strategy;

#define QA_BT_MAX_PARAMS 8

typedef struct qa_bt_params {
    double p[QA_BT_MAX_PARAMS];
} qa_bt_params;

/* "sma_cross", "ema_cross", "zscore", "bollinger", "donchian", "rsi", "signal"; "?" for
 * values outside the enum. */
const char *qa_bt_strategy_name(qa_bt_strategy s);
/* Inverse of qa_bt_strategy_name; QA_ERR_CONFIG naming the valid choices otherwise. */
qa_status qa_bt_strategy_parse(const char *name, qa_bt_strategy *out);
/* Number of slots the strategy reads (0 for values outside the enum). */
int qa_bt_param_count(qa_bt_strategy s);
/* Name of slot `slot` ("fast", "entry_z", ...); NULL past qa_bt_param_count. */
const char *qa_bt_param_name(qa_bt_strategy s, int slot);

/* ---- common settings ------------------------------------------------------------------ */

typedef enum qa_bt_direction {
    QA_BT_LONG_SHORT = 0, /* positions in {-1, 0, +1} x size */
    QA_BT_LONG_ONLY = 1,  /* short signals mean flat */
    QA_BT_SHORT_ONLY = 2, /* long signals mean flat */
    QA_BT_DIRECTION_COUNT = 3
} qa_bt_direction;

typedef enum qa_bt_sizing {
    QA_BT_SIZE_FIXED = 0,      /* |pos| = fraction */
    QA_BT_SIZE_VOL_TARGET = 1, /* |pos| = min(target_vol / realised annual vol, max_leverage) */
    QA_BT_SIZE_KELLY = 2,      /* |pos| = min(kelly_fraction x |mu| / sigma^2, max_leverage), mu a model's
                                  expected return per bar: live sizing only (qa_bt_rules_check refuses it) */
    QA_BT_SIZING_COUNT = 3
} qa_bt_sizing;

/* The trading rules common to a whole grid, as flat plain data. The rules are owned by
 * trading/rules.h (one struct with its names, YAML schema, defaults and validation,
 * shared by every engine); qa_rules_to_bt fills this struct from it, and nothing else
 * should. Fractions are plain numbers (0.05 = 5%); a 0 stop or cost turns it off. */
typedef struct qa_bt_rules {
    qa_bt_direction direction;
    double stop_loss;     /* exit when the close moves this fraction against the entry close */
    double take_profit;   /* exit when the close moves this fraction in favour */
    qa_bt_sizing sizing;
    double fraction;      /* fixed sizing: position as a fraction of equity (> 0) */
    double target_vol;    /* vol targeting: annualised target (> 0) */
    int vol_window;       /* vol targeting: returns in the realised-vol window (>= 2) */
    double max_leverage;  /* vol targeting: cap on |pos| (> 0) */
    double commission_bps; /* per unit of traded notional */
    double half_spread_bps; /* per unit of traded notional */
    double fixed_cost;    /* currency per order (needs capital) */
    double capital;       /* initial equity in currency (for fixed and impact costs) */
    double impact_coef;   /* square-root impact coefficient (needs volume and capital) */
    int adv_window;       /* impact: observations in the average daily volume (>= 1) */
    int impact_vol_window; /* impact: returns in the per-bar volatility (>= 2) */
    double bars_per_year; /* annualisation (252 for daily bars) */
} qa_bt_rules;

/* Checks the rules on their own (enums, signs, windows, a fixed or impact cost without
 * capital): QA_ERR_CONFIG naming the field. qa_bt_validate adds the checks against the
 * data (windows within the history, the volume panel for impact). */
qa_status qa_bt_rules_check(const qa_bt_rules *rules);

/* ---- inputs and outputs ------------------------------------------------------------------ */

/* Backend arrays of symbols x bars doubles. Only close is always required. */
typedef struct qa_bt_data {
    const double *close;
    const double *high;   /* Donchian */
    const double *low;    /* Donchian */
    const double *volume; /* impact cost */
    const double *signal; /* SIGNAL strategy and the cross-sectional portfolio */
    size_t symbols, bars; /* S, T */
    size_t t_begin, t_end; /* evaluation range [t_begin, t_end) of bar indices */
} qa_bt_data;

/* A strategy and `count` parameter sets (host memory, owned by the caller). */
typedef struct qa_bt_grid {
    qa_bt_strategy strategy;
    const qa_bt_params *params;
    size_t count;
} qa_bt_grid;

/* Metrics of one run (formulas in docs/backtest.md). NaN where undefined. */
typedef struct qa_bt_metrics {
    double total_return;  /* E_last - 1 */
    double cagr;          /* E_last^(bars_per_year / bars) - 1 */
    double ann_vol;       /* std(R, ddof 1) * sqrt(bars_per_year) */
    double sharpe;        /* mean(R) / std(R) * sqrt(bars_per_year) */
    double sortino;       /* mean(R) / sqrt(mean(min(R, 0)^2)) * sqrt(bars_per_year) */
    double max_drawdown;  /* min E / running max E - 1 (<= 0) */
    double calmar;        /* cagr / |max_drawdown| */
    double hit_rate;      /* bars with R > 0 among bars held in the market */
    double turnover;      /* sum |pos(i) - pos(i-1)| (multiples of equity) */
    double exposure;      /* bars held in the market / bars */
    int64_t bars;         /* number of P&L bars (observations after the base bar) */
    int64_t max_dd_duration; /* longest run of consecutive bars below the running max */
    int64_t trades;       /* entries: bars where the direction becomes non-zero or flips */
} qa_bt_metrics;

/* Optional per-bar output of one (symbol, parameter set) run, on the grid of the
 * evaluation range: element j is bar t_begin + j. Host arrays of t_end - t_begin
 * doubles; any may be NULL. Equity and position are carried across missing bars (1 and
 * 0 up to the base bar); ret is R on P&L bars and NaN elsewhere. */
typedef struct qa_bt_trace {
    size_t symbol, param;
    double *equity;
    double *position;
    double *ret;
} qa_bt_trace;

/* Checks shapes, pointers, parameter sets and settings. QA_ERR_INVALID_ARG for
 * malformed inputs (NULL arrays, empty grid, bad range, NaN or non-integral parameters,
 * a window longer than the history up to t_end), QA_ERR_CONFIG for inconsistent
 * choices (fast >= slow, exit_z > entry_z, lower >= upper, a cost without capital). The
 * error text names the parameter set and field. */
qa_status qa_bt_validate(const qa_bt_data *data, const qa_bt_grid *grid, const qa_bt_rules *rules);

/* Runs every (symbol, parameter set): out[s*grid->count + p] (host, S*P entries).
 * `traces` (host, may be NULL when n_traces is 0) receive per-bar curves of selected
 * runs. On the CPU backend the optimised engine runs unless the backend's reference
 * flag is set; traces always come from the reference (identical positions). */
qa_status qa_bt_run(qa_backend_t *be, const qa_bt_data *data, const qa_bt_grid *grid,
                    const qa_bt_rules *rules, qa_bt_metrics *out, const qa_bt_trace *traces,
                    size_t n_traces);

/* ---- portfolio of one parameter set across all symbols ----------------------------------- */

typedef enum qa_bt_weighting {
    QA_BT_WEIGHT_EQUAL = 0,  /* mean of the symbols' R over the symbols with a P&L bar */
    QA_BT_WEIGHT_INV_VOL = 1, /* weights 1/sigma, sigma = std of the symbol's last
                                 weight_window returns before the bar */
    QA_BT_WEIGHTING_COUNT = 2
} qa_bt_weighting;

typedef struct qa_bt_portfolio_opts {
    qa_bt_weighting weighting;
    int weight_window; /* inverse-vol weights: returns in the window (>= 2) */
} qa_bt_portfolio_opts;

/* For each parameter set p, combines the symbols' per-bar P&L into one portfolio
 * (docs/backtest.md, "Portfolio mode"): out[p] (host, grid->count entries). `equity`
 * (host, may be NULL) receives grid->count x (t_end - t_begin) portfolio equity values,
 * carried across bars where no symbol has a P&L bar. */
qa_status qa_bt_portfolio(qa_backend_t *be, const qa_bt_data *data, const qa_bt_grid *grid,
                          const qa_bt_rules *rules, const qa_bt_portfolio_opts *opts,
                          qa_bt_metrics *out, double *equity);

/* ---- cross-sectional top-k / bottom-k portfolio ------------------------------------------ */

typedef struct qa_bt_xs_settings {
    int k_long;          /* names in the long leg (0 = no long leg) */
    int k_short;         /* names in the short leg (0 = no short leg) */
    double long_weight;  /* total weight of the long leg, e.g. 0.5 */
    double short_weight; /* total absolute weight of the short leg, e.g. 0.5 */
    double cost_bps;     /* commission + half spread per unit of traded notional */
    double bars_per_year;
} qa_bt_xs_settings;

/* At every bar ranks the symbols with a close and a signal, holds the top k_long
 * (weight long_weight/k_long each) and the bottom k_short (-short_weight/k_short each)
 * over the next bar. Uses data->signal and data->close (S x T, backend memory) and the
 * range; one metrics struct in *out; `equity` (host, may be NULL) gets t_end - t_begin
 * values. Rules in docs/backtest.md, "Cross-sectional portfolio". */
qa_status qa_bt_xs_topk(qa_backend_t *be, const qa_bt_data *data, const qa_bt_xs_settings *xs,
                        qa_bt_metrics *out, double *equity);

#ifdef __cplusplus
}
#endif
#endif
