/* The trading rules: direction, stops, position sizing, transaction costs, capital and
 * annualisation, in one struct with one set of names, one YAML schema, one validation and
 * one page of documentation (docs/rules.md). Every engine binds the same block the same
 * way: the vectorized sweep (`qa sweep`), the event-driven simulator (`qa simulate`), and
 * the services that come after them (live sizing, RL rewards). A rules block accepted by
 * one engine is accepted, with the same bounds and messages, by every other.
 *
 * YAML (docs/rules.md): under `settings:` or at the config's top level (each value once):
 *     direction: long_short               # long_short | long_only | short_only
 *     stops:  {stop_loss: 0.08, take_profit: 0}
 *     sizing: {method: vol_target, fraction: 1, target_vol: 0.15, vol_window: 20,
 *              max_leverage: 2}           # or `sizing: fixed`; `kelly` (live only:
 *                                         #   kelly_fraction, vol_window, max_leverage)
 *     costs:  {commission_bps: 1, half_spread_bps: 2, fixed_cost: 0, impact_coef: 0,
 *              adv_window: 20, impact_vol_window: 20, convention: vectorized}
 *     capital: 1000000
 *     bars_per_year: 252                  # default: the market file's
 * Every leaf of stops, sizing and costs may also be written flat in the block
 * (`commission_bps: 1` is `costs: {commission_bps: 1}`); a value given twice is an error.
 *
 * The compute kernels receive the rules as the flat plain-data struct qa_bt_rules
 * (kernels/backtest.h), filled by qa_rules_to_bt and nowhere else. */
#ifndef QA_TRADING_RULES_H
#define QA_TRADING_RULES_H

#include <jansson.h>  /* json_t */

#include "common/config.h"    /* qa_cfg_field */
#include "common/status.h"
#include "kernels/backtest.h" /* qa_bt_direction, qa_bt_sizing, qa_bt_rules */

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds of the schema (docs/rules.md says why each is where it is). */
#define QA_RULES_MAX_BPS 1e4        /* 100% of the traded notional */
#define QA_RULES_MAX_WINDOW 1e7     /* bars in a rolling window: decades of minute bars */
#define QA_RULES_MAX_STOP 1e6       /* stop / take-profit distance, fraction of the entry */
#define QA_RULES_MAX_LEVERAGE 1e3   /* |position| / equity */
#define QA_RULES_MAX_TARGET_VOL 100 /* annualised volatility target (10,000%) */
#define QA_RULES_MAX_IMPACT 1e3     /* square-root impact coefficient */
#define QA_RULES_MAX_MONEY 1e15     /* capital and fixed costs, currency */

/* How costs are booked by an engine that keeps cash (docs/simulator.md, "Cost
 * conventions"); the vectorized engines always book them the vectorized way. */
typedef enum qa_rules_convention {
    QA_RULES_VECTORIZED = 0, /* on |delta weight| x equity at the previous bar */
    QA_RULES_TRADED = 1,     /* on each fill's traded notional */
    QA_RULES_CONVENTION_COUNT = 2
} qa_rules_convention;

typedef struct qa_rules_stops {
    double stop_loss;   /* exit when the close moves this fraction against the entry (0 = off) */
    double take_profit; /* exit when the close moves this fraction in favour (0 = off) */
} qa_rules_stops;

typedef struct qa_rules_sizing {
    qa_bt_sizing method;  /* QA_BT_SIZE_FIXED, _VOL_TARGET or _KELLY (live only) */
    double fraction;      /* fixed: |weight| of equity (> 0; above 1 is leverage) */
    double target_vol;    /* vol_target: annualised target (> 0) */
    int vol_window;       /* vol_target: returns in the realised-vol window (>= 2) */
    double max_leverage;  /* vol_target, kelly: cap on |weight| (> 0) */
    double kelly_fraction;/* kelly: share of the full Kelly weight, (0, 1] (0.5: "half Kelly") */
} qa_rules_sizing;

typedef struct qa_rules_costs {
    double commission_bps;  /* per unit of traded notional */
    double half_spread_bps; /* per unit of traded notional */
    double fixed_cost;      /* currency per order (needs capital) */
    double impact_coef;     /* square-root impact coefficient (needs volume and capital) */
    int adv_window;         /* impact: observations in the average volume (>= 1) */
    int impact_vol_window;  /* impact: returns in the per-bar volatility (>= 2) */
    qa_rules_convention convention;
} qa_rules_costs;

typedef struct qa_rules {
    qa_bt_direction direction;
    qa_rules_stops stops;
    qa_rules_sizing sizing;
    qa_rules_costs costs;
    double capital;       /* initial equity in currency (> 0) */
    double bars_per_year; /* annualisation; NaN until given or taken from the data */
} qa_rules;

/* Names of the enums, NULL-terminated, indexed by value. */
extern const char *const qa_rules_direction_names[]; /* "long_short", "long_only", "short_only" */
extern const char *const qa_rules_sizing_names[];    /* "fixed", "vol_target", "kelly" */
extern const char *const qa_rules_convention_names[]; /* "vectorized", "traded" */

/* The block's schema, offsets relative to a qa_rules: an engine's schema places it as
 *     {"settings", QA_CFG_T_SECTION, offsetof(cfg, rules), .., qa_rules_schema, ..}
 *     {"", QA_CFG_T_INLINE, offsetof(cfg, rules), .., qa_rules_schema, QA_CFG_ALIAS, ..}
 * (one of the two may be the alias), so both placements bind into the same struct. */
extern const qa_cfg_field qa_rules_schema[];

/* Long/short, no stops, fixed sizing with fraction 1, no costs, vectorized convention,
 * capital 1e6, windows 20 (vol, ADV, impact vol), target vol 0.15, max leverage 2,
 * bars_per_year NaN (the data's). */
void qa_rules_init(qa_rules *r);
/* bars_per_year from the data when the rules do not give it; 1 when it was given. */
int qa_rules_resolve_bars_per_year(qa_rules *r, double data_bars_per_year);

/* Checks the rules on their own (bounds, enums, a fixed or impact cost without
 * capital, bars_per_year > 0): QA_ERR_CONFIG naming the field. */
qa_status qa_rules_validate(const qa_rules *r);

/* The one conversion to the kernels' flat struct. */
void qa_rules_to_bt(const qa_rules *r, qa_bt_rules *out);

/* The rules the vectorized engines run (the fields of qa_bt_rules) as a flat JSON
 * object with stable key names: the canonical description that sweeps hash into their
 * run identity and write to config.resolved.json. Returns a new reference (NULL on
 * OOM). */
json_t *qa_rules_bt_json(const qa_rules *r);

#ifdef __cplusplus
}
#endif
#endif
