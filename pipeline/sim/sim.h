/* `qa simulate`: the event-driven backtest simulator. Bars are fed in time order; at
 * each bar every symbol's strategy (trading/strategy.h, the vectorized engine's rules)
 * gives a target weight of the symbol's sleeve, the bar loop turns it into an order
 * (trading/orders.h), optional pre-trade checks gate it (trading/pretrade.h), fills go
 * through the portfolio (trading/portfolio.h) with costs from trading/costs.h, and the
 * equity curve, positions and the blotter of every order event are recorded.
 *
 * Capital: the account starts with `capital`; each of the S symbols trades its own
 * sleeve of capital / S (no transfers between sleeves). A sleeve's equity
 * (allocation + its cash flows + its position value) is the vectorized engine's
 * per-symbol equity curve, and with market-on-close orders and the `vectorized` cost
 * convention it reproduces qa_bt_run's curve of that symbol (settings capital =
 * capital / S) to rounding. The account equity is the sum of the sleeves.
 *
 * Cost conventions:
 *   vectorized  costs on |delta weight| x sleeve equity at the previous observation,
 *               free drift rebalancing; holdings sized against the equity after this
 *               bar's costs, exactly docs/backtest.md's accounting (MOC orders only,
 *               no participation cap);
 *   traded      costs on each fill's traded notional (drift rebalancing pays too);
 *               holdings sized against the equity marked at the decision close.
 * Everything is defined in docs/simulator.md. This layer works on in-memory panels;
 * sim_run.c binds the YAML config, reads the market file and writes the run dir. */
#ifndef QA_PIPELINE_SIM_H
#define QA_PIPELINE_SIM_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/config.h"
#include "common/status.h"
#include "kernels/backtest.h"
#include "trading/blotter.h"
#include "trading/orders.h"
#include "trading/pretrade.h"
#include "trading/rules.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a target weight is a fraction of:
 *   EQUITY   the sleeve's equity at the decision (compounding; the vectorized engine's);
 *   CAPITAL  a fixed allocation: shares = weight x (1/S) x capital / close, the live
 *            service's sizing with its default allocation (docs/live.md), evaluated by the
 *            same expression so both give the same shares. */
typedef enum qa_sim_size_on { QA_SIM_SIZE_EQUITY = 0, QA_SIM_SIZE_CAPITAL = 1 } qa_sim_size_on;
extern const char *const qa_sim_size_on_names[]; /* "equity", "capital", NULL */

typedef struct qa_sim_settings {
    qa_bt_strategy strategy;
    qa_bt_params params;
    qa_rules rules;            /* direction, stops, sizing, costs (and their convention),
                                  capital = the initial account equity, bars_per_year; each
                                  sleeve runs them with capital / S */
    qa_order_type order_type;  /* how target changes are traded (MOC by default) */
    qa_order_tif tif;
    double price_offset;       /* limit/stop level distance from the decision close (fraction):
                                  buy limit c(1-x), sell limit c(1+x), buy stop c(1+x), sell stop c(1-x) */
    double participation;      /* max fill per bar as a fraction of its volume (0 = no cap) */
    double rebalance_band;     /* a resize of an open position (same direction) is traded only
                                  when it moves at least this fraction of the sleeve's equity
                                  (0 = every bar; changes below 1e-12 are always rounding noise) */
    double min_order_value;    /* resizes below this notional (currency) are not traded */
    qa_sim_size_on size_on;    /* what a target weight is a fraction of (QA_SIM_SIZE_EQUITY) */
    int whole_shares;          /* round targets to whole shares (qa_sizing_whole), as a venue
                                  and the live execution stage do (0) */
    int replace;               /* cancel a symbol's working orders before each new order (1) or
                                  order net of them (0) */
    int pretrade_on;           /* gate every order with qa_pretrade_check: the account is
                                  ACTIVE, position = the symbol's shares + working orders,
                                  reference and last price = the decision close, buying
                                  power = the account's cash, fee rate = commission +
                                  half spread; orders carry no client order id */
    qa_pretrade_limits pretrade;
    int record_blotter;        /* keep every order event */
} qa_sim_settings;

/* SMA cross 10/50 with qa_rules_init defaults (capital 1e6, vectorized convention,
 * bars_per_year 252), MOC DAY orders, no cap, replace, no pre-trade gate, blotter on. */
void qa_sim_settings_init(qa_sim_settings *s);

/* Host panels S x T row-major (symbol s, bar t at [s*T + t]); NaN = no value. close is
 * required, high/low for Donchian, volume for the impact cost and participation caps,
 * signal for the signal strategy; open is used by next-bar market/limit/stop fills (the
 * close when absent). */
typedef struct qa_sim_data {
    const double *open, *high, *low, *close, *volume, *signal;
    const char *const *names;   /* [S] symbol names for messages (may be NULL) */
    size_t symbols, bars;
    size_t t_begin, t_end;      /* evaluation range; earlier bars warm up indicators */
    const int64_t *time;        /* [bars] bar times, ns since the epoch: the pre-trade
                                   checks' market clock (NULL: the bar index t stands for
                                   the time, so their windows count bars) */
} qa_sim_data;

typedef struct qa_sim_counts {
    int64_t orders;        /* accepted into the book */
    int64_t fills;         /* fill events */
    int64_t partial_fills; /* fills that left a remainder */
    int64_t rejected;      /* refused by the pre-trade gate */
    int64_t expired;       /* DAY remainders */
    int64_t cancelled;     /* replaced */
    int64_t bars;          /* symbol-bars fed through the loop (observations and gaps) */
} qa_sim_counts;

/* Results over the L = t_end - t_begin bars of the range (element j is bar t_begin + j),
 * all at the bar's close after its fills. Arrays are owned by the result. */
typedef struct qa_sim_result {
    size_t symbols, L;
    double *equity;   /* [L] account equity, currency */
    double *cash;     /* [L] */
    double *gross;    /* [L] sum |position value| */
    double *net;      /* [L] sum position value */
    double *ret;      /* [L] account return at its P&L bars, NaN elsewhere */
    double *sleeve;   /* [S*L] sleeve equity / allocation (1 up to the base bar) */
    double *qty;      /* [S*L] shares held */
    double *value;    /* [S*L] position value (shares x last close) */
    qa_bt_metrics metrics;         /* account (equity / capital), docs/backtest.md formulas */
    qa_bt_metrics *sleeve_metrics; /* [S] per sleeve, comparable with qa_bt_run */
    qa_sim_counts counts;
    double costs, realized, unrealized, final_equity, final_cash;
    qa_blotter blotter;
    double seconds; /* the bar loop */
} qa_sim_result;

/* Validates (qa_bt_validate on the panels, plus the simulator's settings) and runs.
 * `out` is initialised here; free it with qa_sim_result_free (also after a failure). */
qa_status qa_sim_run(const qa_sim_data *d, const qa_sim_settings *s, qa_sim_result *out);
void qa_sim_result_free(qa_sim_result *r);

/* ---- configuration, market file and run directory (sim_run.c) ---------------------------- */

typedef struct qa_sim_cfg {
    const char *data;       /* market file */
    qa_cfg_list symbols;    /* names (strings); empty = all */
    const char *start;      /* first date of the evaluation range (ISO; NULL = first bar) */
    const char *end;        /* last date, inclusive (NULL = last bar) */
    const char *signal;     /* panel path for the signal strategy ("features/x", "alt/y",
                               "predictions/NAME/7"), or a model URI ("models:/NAME@champion"):
                               the model's scores at each bar (pipeline/predict/predict.h) */
    const char *registry;   /* registry directory for a model signal (NULL: the default; not
                               a config key: the command line's --registry) */
    const char *strategy;   /* the strategy's name as written (set.strategy once parsed) */
    const qa_cfg_node *n_params, *n_pretrade; /* parsed by qa_sim_cfg_bind */
    qa_sim_settings set;    /* set.rules.bars_per_year NaN: the store's */
    const char *run_dir;
} qa_sim_cfg;

/* Defaults: qa_sim_settings_init, all symbols, whole file. */
void qa_sim_cfg_default(qa_sim_cfg *c);
/* Binds a YAML document (keys in docs/simulator.md); strings point into `cfg`. Errors
 * name file:line and key. */
qa_status qa_sim_cfg_bind(const qa_cfg_t *cfg, qa_sim_cfg *c);

typedef struct qa_sim_report {
    size_t symbols, bars;
    double seconds;        /* bar loop */
    double bars_per_s;     /* symbol-bars per second of the loop */
    double orders_per_s;
    double final_equity, total_return, sharpe;
    qa_sim_counts counts;
} qa_sim_report;

/* Reads the market file, runs, and writes the run directory `run_dir`:
 * config.resolved.json, equity.csv, positions.csv, sleeves.csv, blotter.csv,
 * summary.json, report.html, run.json, run.log. argc/argv are recorded in run.json. */
qa_status qa_sim_execute(const qa_sim_cfg *c, const char *run_dir, int argc, char **argv, qa_sim_report *rep);

#ifdef __cplusplus
}
#endif
#endif
