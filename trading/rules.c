/* The trading rules: names, schema, defaults, validation, the kernels' flat form and
 * the canonical JSON. */
#include "trading/rules.h"

#include <math.h>    /* NAN, isnan, isfinite */
#include <stddef.h>  /* offsetof */
#include <string.h>  /* memset */

const char *const qa_rules_direction_names[] = {"long_short", "long_only", "short_only", NULL};
const char *const qa_rules_sizing_names[] = {"fixed", "vol_target", "kelly", NULL};
const char *const qa_rules_convention_names[] = {"vectorized", "traded", NULL};
_Static_assert(sizeof qa_rules_direction_names / sizeof qa_rules_direction_names[0] == QA_BT_DIRECTION_COUNT + 1,
               "direction names");
_Static_assert(sizeof qa_rules_sizing_names / sizeof qa_rules_sizing_names[0] == QA_BT_SIZING_COUNT + 1,
               "sizing names");
_Static_assert(sizeof qa_rules_convention_names / sizeof qa_rules_convention_names[0] == QA_RULES_CONVENTION_COUNT + 1,
               "convention names");

/* ---- schema ------------------------------------------------------------------------------- */

#define NUM(key, field, lo, hi, doc) QA_CFG_NUM(qa_rules, key, field, lo, hi, 0, doc)

static const qa_cfg_field stops_fields[] = {
    NUM("stop_loss", stops.stop_loss, 0, QA_RULES_MAX_STOP, "exit when the close moves this fraction against the entry (0 = off)"),
    NUM("take_profit", stops.take_profit, 0, QA_RULES_MAX_STOP, "exit when the close moves this fraction in favour (0 = off)"),
    {NULL},
};
/* `method` first: `sizing: vol_target` is `sizing: {method: vol_target}`. */
static const qa_cfg_field sizing_fields[] = {
    QA_CFG_ENUM(qa_rules, "method", sizing.method, qa_rules_sizing_names, 0, "fixed, vol_target or kelly (live only)"),
    NUM("fraction", sizing.fraction, 1e-9, QA_RULES_MAX_LEVERAGE, "fixed: |weight| as a fraction of equity"),
    NUM("target_vol", sizing.target_vol, 1e-9, QA_RULES_MAX_TARGET_VOL, "vol_target: annualised target"),
    NUM("vol_window", sizing.vol_window, 2, QA_RULES_MAX_WINDOW, "vol_target: returns in the realised-vol window"),
    NUM("max_leverage", sizing.max_leverage, 1e-9, QA_RULES_MAX_LEVERAGE, "vol_target, kelly: cap on |weight|"),
    NUM("kelly_fraction", sizing.kelly_fraction, 1e-9, 1, "kelly: share of the full Kelly weight"),
    {NULL},
};
static const qa_cfg_field costs_fields[] = {
    NUM("commission_bps", costs.commission_bps, 0, QA_RULES_MAX_BPS, "per unit of traded notional"),
    NUM("half_spread_bps", costs.half_spread_bps, 0, QA_RULES_MAX_BPS, "per unit of traded notional"),
    NUM("fixed_cost", costs.fixed_cost, 0, QA_RULES_MAX_MONEY, "currency per order"),
    NUM("impact_coef", costs.impact_coef, 0, QA_RULES_MAX_IMPACT, "square-root impact coefficient"),
    NUM("adv_window", costs.adv_window, 1, QA_RULES_MAX_WINDOW, "impact: observations in the average volume"),
    NUM("impact_vol_window", costs.impact_vol_window, 2, QA_RULES_MAX_WINDOW, "impact: returns in the volatility"),
    QA_CFG_ENUM(qa_rules, "convention", costs.convention, qa_rules_convention_names, 0, "vectorized or traded"),
    {NULL},
};

const qa_cfg_field qa_rules_schema[] = {
    QA_CFG_ENUM(qa_rules, "direction", direction, qa_rules_direction_names, 0, "long_short, long_only or short_only"),
    {"stops", QA_CFG_T_SECTION, 0, 0, 0, NULL, stops_fields, 0, "stop_loss, take_profit"},
    {"sizing", QA_CFG_T_SECTION, 0, 0, 0, NULL, sizing_fields, 0, "position sizing (a method name or a map)"},
    {"costs", QA_CFG_T_SECTION, 0, 0, 0, NULL, costs_fields, 0, "transaction costs and their convention"},
    NUM("capital", capital, 1e-6, QA_RULES_MAX_MONEY, "initial equity in currency"),
    NUM("bars_per_year", bars_per_year, 1e-6, 1e9, "annualisation (default: the market file's)"),
    /* The leaves written flat in the block (the sweep's `settings:` style). */
    {"", QA_CFG_T_INLINE, 0, 0, 0, NULL, stops_fields, QA_CFG_ALIAS, "stops, flat"},
    {"", QA_CFG_T_INLINE, 0, 0, 0, NULL, sizing_fields + 1, QA_CFG_ALIAS, "sizing parameters, flat"},
    {"", QA_CFG_T_INLINE, 0, 0, 0, NULL, costs_fields, QA_CFG_ALIAS, "costs, flat"},
    {NULL},
};
#undef NUM

/* ---- defaults and checks -------------------------------------------------------------------- */

void qa_rules_init(qa_rules *r) {
    *r = (qa_rules){
        .direction = QA_BT_LONG_SHORT,
        .stops = {0.0, 0.0},
        .sizing = {.method = QA_BT_SIZE_FIXED, .fraction = 1.0, .target_vol = 0.15, .vol_window = 20,
                   .max_leverage = 2.0, .kelly_fraction = 0.5},
        .costs = {.adv_window = 20, .impact_vol_window = 20, .convention = QA_RULES_VECTORIZED},
        .capital = 1e6,
        .bars_per_year = NAN,
    };
}

int qa_rules_resolve_bars_per_year(qa_rules *r, double data_bars_per_year) {
    if (!isnan(r->bars_per_year)) return 1;
    r->bars_per_year = data_bars_per_year;
    return 0;
}

qa_status qa_rules_validate(const qa_rules *r) {
    if ((int)r->costs.convention < 0 || r->costs.convention >= QA_RULES_CONVENTION_COUNT)
        return QA_FAIL(QA_ERR_CONFIG, "costs.convention %d is not vectorized or traded", (int)r->costs.convention);
    if (!(isfinite(r->capital) && r->capital > 0.0))
        return QA_FAIL(QA_ERR_CONFIG, "capital %g must be finite and > 0", r->capital);
    qa_bt_rules bt;
    qa_rules_to_bt(r, &bt);
    if (r->sizing.method == QA_BT_SIZE_KELLY) {
        /* Valid rules for the live service; the batch engines refuse them in their own
         * check (qa_bt_rules_check). Its other checks apply as to any sizing. */
        const qa_rules_sizing *z = &r->sizing;
        if (!(isfinite(z->kelly_fraction) && z->kelly_fraction > 0.0 && z->kelly_fraction <= 1.0))
            return QA_FAIL(QA_ERR_CONFIG, "kelly sizing: kelly_fraction %g must lie in (0, 1]", z->kelly_fraction);
        if (!(isfinite(z->max_leverage) && z->max_leverage > 0.0))
            return QA_FAIL(QA_ERR_CONFIG, "kelly sizing: max_leverage %g must be finite and > 0", z->max_leverage);
        if (z->vol_window < 2 || z->vol_window > QA_RULES_MAX_WINDOW)
            return QA_FAIL(QA_ERR_CONFIG, "kelly sizing: vol_window %d must lie in [2, %.0f]", z->vol_window,
                           (double)QA_RULES_MAX_WINDOW);
        bt.sizing = QA_BT_SIZE_FIXED, bt.fraction = 1.0;
    }
    return qa_bt_rules_check(&bt);
}

void qa_rules_to_bt(const qa_rules *r, qa_bt_rules *out) {
    memset(out, 0, sizeof *out); /* padding too: the struct may be hashed or compared bytewise */
    out->direction = r->direction;
    out->stop_loss = r->stops.stop_loss;
    out->take_profit = r->stops.take_profit;
    out->sizing = r->sizing.method;
    out->fraction = r->sizing.fraction;
    out->target_vol = r->sizing.target_vol;
    out->vol_window = r->sizing.vol_window;
    out->max_leverage = r->sizing.max_leverage;
    out->commission_bps = r->costs.commission_bps;
    out->half_spread_bps = r->costs.half_spread_bps;
    out->fixed_cost = r->costs.fixed_cost;
    out->capital = r->capital;
    out->impact_coef = r->costs.impact_coef;
    out->adv_window = r->costs.adv_window;
    out->impact_vol_window = r->costs.impact_vol_window;
    out->bars_per_year = r->bars_per_year;
}

json_t *qa_rules_bt_json(const qa_rules *r) {
    json_t *o = json_object();
    if (!o) return NULL;
    int bad = 0;
#define PUT(key, value) bad |= json_object_set_new(o, key, value)
    PUT("direction", json_string(qa_rules_direction_names[r->direction]));
    PUT("stop_loss", json_real(r->stops.stop_loss));
    PUT("take_profit", json_real(r->stops.take_profit));
    PUT("sizing", json_string(qa_rules_sizing_names[r->sizing.method]));
    PUT("fraction", json_real(r->sizing.fraction));
    PUT("target_vol", json_real(r->sizing.target_vol));
    PUT("vol_window", json_integer(r->sizing.vol_window));
    PUT("max_leverage", json_real(r->sizing.max_leverage));
    if (r->sizing.method == QA_BT_SIZE_KELLY) PUT("kelly_fraction", json_real(r->sizing.kelly_fraction));
    PUT("commission_bps", json_real(r->costs.commission_bps));
    PUT("half_spread_bps", json_real(r->costs.half_spread_bps));
    PUT("fixed_cost", json_real(r->costs.fixed_cost));
    PUT("capital", json_real(r->capital));
    PUT("impact_coef", json_real(r->costs.impact_coef));
    PUT("adv_window", json_integer(r->costs.adv_window));
    PUT("impact_vol_window", json_integer(r->costs.impact_vol_window));
    PUT("bars_per_year", json_real(r->bars_per_year));
#undef PUT
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}
