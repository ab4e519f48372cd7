/* The trading rules block (trading/rules.h): one schema bound the same way wherever an
 * engine places it (a `settings:` block or its top level), flat or grouped spellings
 * giving the same struct, one set of bounds and messages, the kernels' flat form and
 * the canonical JSON. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "common/config.h"
#include "config_test.h" /* qa_test_bind_text */
#include "harness.h"
#include "trading/rules.h"
#include "trading/sizing.h"

/* An engine config as sweep and simulate embed the block: under `settings:` and inline
 * at the top level, next to a key of the engine's own. */
typedef struct engine_cfg {
    const char *data;
    qa_rules rules;
} engine_cfg;

static const qa_cfg_field engine_schema[] = {
    QA_CFG_FIELD(engine_cfg, "data", QA_CFG_T_STRING, data, 0, "market file"),
    {"settings", QA_CFG_T_SECTION, offsetof(engine_cfg, rules), 0, 0, NULL, qa_rules_schema, 0, "rules"},
    {"", QA_CFG_T_INLINE, offsetof(engine_cfg, rules), 0, 0, NULL, qa_rules_schema, QA_CFG_ALIAS, "rules, top level"},
    {NULL},
};

static qa_status bind(const char *text, qa_rules *out) {
    engine_cfg e = {NULL, {0}};
    qa_rules_init(&e.rules);
    qa_status st = qa_test_bind_text("r.yaml", text, engine_schema, &e);
    if (st == QA_OK) *out = e.rules;
    return st;
}

/* Byte equality of two bound rule sets (every member, padding zeroed by qa_rules_init's
 * compound literal and untouched by binding). */
static int same(const qa_rules *a, const qa_rules *b) {
    qa_bt_rules x, y;
    qa_rules_to_bt(a, &x);
    qa_rules_to_bt(b, &y);
    return memcmp(&x, &y, sizeof x) == 0 && a->costs.convention == b->costs.convention &&
           (a->bars_per_year == b->bars_per_year || (isnan(a->bars_per_year) && isnan(b->bars_per_year)));
}

static void test_defaults(void) {
    qa_rules r;
    qa_rules_init(&r);
    QA_CHECK(r.direction == QA_BT_LONG_SHORT && r.stops.stop_loss == 0 && r.stops.take_profit == 0);
    QA_CHECK(r.sizing.method == QA_BT_SIZE_FIXED && r.sizing.fraction == 1.0 && r.sizing.target_vol == 0.15);
    QA_CHECK(r.sizing.vol_window == 20 && r.sizing.max_leverage == 2.0 && r.capital == 1e6);
    QA_CHECK(r.costs.commission_bps == 0 && r.costs.adv_window == 20 && r.costs.impact_vol_window == 20);
    QA_CHECK(r.costs.convention == QA_RULES_VECTORIZED && isnan(r.bars_per_year));
    QA_CHECK_INT(qa_rules_resolve_bars_per_year(&r, 252), 0);
    QA_CHECK(r.bars_per_year == 252);
    QA_CHECK_INT(qa_rules_resolve_bars_per_year(&r, 365), 1); /* given: kept */
    QA_CHECK(r.bars_per_year == 252);
    QA_CHECK_OK(qa_rules_validate(&r));
}

/* Every spelling of one rule set binds to the same struct. */
static void test_spellings(void) {
    const char *forms[] = {
        /* the simulator's grouped layout at the top level */
        "direction: long_only\nstops: {stop_loss: 0.08, take_profit: 0.2}\n"
        "sizing: {method: vol_target, target_vol: 0.12, vol_window: 30}\n"
        "costs: {commission_bps: 1, half_spread_bps: 2, impact_coef: 0.1, convention: traded}\ncapital: 4e5\n",
        /* the sweep's flat `settings:` block */
        "settings: {direction: long_only, stop_loss: 0.08, take_profit: 0.2, sizing: vol_target, target_vol: 0.12,\n"
        "  vol_window: 30, commission_bps: 1, half_spread_bps: 2, impact_coef: 0.1, convention: traded, capital: 4e5}\n",
        /* grouped inside `settings:` */
        "settings:\n  direction: long_only\n  stops: {stop_loss: 0.08, take_profit: 0.2}\n"
        "  sizing: {method: vol_target, target_vol: 0.12, vol_window: 30}\n"
        "  costs: {commission_bps: 1, half_spread_bps: 2, impact_coef: 0.1, convention: traded}\n  capital: 4e5\n",
        /* mixed: some flat at the top, some grouped in settings */
        "stop_loss: 0.08\ntake_profit: 0.2\nsettings: {direction: long_only, sizing: {method: vol_target, "
        "target_vol: 0.12, vol_window: 30}}\ncosts: {commission_bps: 1, half_spread_bps: 2}\nimpact_coef: 0.1\n"
        "convention: traded\ncapital: 4e5\n",
    };
    qa_rules first;
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        qa_rules r;
        QA_CHECK_MSG(bind(forms[i], &r) == QA_OK, "form %zu: %s", i, qa_err_msg());
        if (i == 0) {
            first = r;
            QA_CHECK(r.direction == QA_BT_LONG_ONLY && r.stops.stop_loss == 0.08 && r.stops.take_profit == 0.2);
            QA_CHECK(r.sizing.method == QA_BT_SIZE_VOL_TARGET && r.sizing.target_vol == 0.12 && r.sizing.vol_window == 30);
            QA_CHECK(r.costs.commission_bps == 1 && r.costs.half_spread_bps == 2 && r.costs.impact_coef == 0.1);
            QA_CHECK(r.costs.convention == QA_RULES_TRADED && r.capital == 4e5);
        } else {
            QA_CHECK_MSG(same(&first, &r), "form %zu binds to other rules", i);
        }
    }
}

/* One set of bounds and messages, wherever the block is. */
static void test_rejections(void) {
    qa_rules r;
    const char *bad[][2] = {
        {"settings: {commission_bps: 20000}\n", "key 'settings.commission_bps': 20000 is out of range [0, 10000]"},
        {"costs: {commission_bps: 20000}\n", "key 'costs.commission_bps': 20000 is out of range [0, 10000]"},
        {"impact_coef: 5000\n", "key 'impact_coef': 5000 is out of range [0, 1000]"},
        {"settings: {vol_window: 20000000}\n", "out of range [2, 10000000]"},
        {"settings: {vol_window: 2.5}\n", "'2.5' is not an integer"},
        {"settings: {sizing: optimal}\n", "key 'settings.sizing.method': 'optimal' is not one of: fixed, vol_target, kelly"},
        {"direction: both\n", "'both' is not one of: long_short, long_only, short_only"},
        {"costs: {convention: daily}\n", "'daily' is not one of: vectorized, traded"},
        {"settings: {comission_bps: 1}\n", "unknown key 'comission_bps' in settings (did you mean 'commission_bps'?)"},
        {"commission_bps: 1\ncosts: {commission_bps: 2}\n",
         "r.yaml:2: key 'costs.commission_bps' sets the same value as 'commission_bps' at line 1"},
        {"settings: {stop_loss: 0.1}\nstops: {stop_loss: 0.1}\n", "sets the same value as 'settings.stop_loss'"},
        {"sizing: fixed\nsettings: {sizing: {method: fixed}}\n", "sets the same value as 'sizing.method'"},
        {"settings: {method: fixed}\n", "unknown key 'method' in settings"},
        {"capital: 0\n", "key 'capital': 0 is out of range"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        QA_CHECK_ERR(bind(bad[i][0], &r), QA_ERR_CONFIG, bad[i][1]);
}

/* Checks the schema cannot express, shared with the kernels' own check. */
static void test_validate(void) {
    qa_rules r;
    qa_rules_init(&r);
    r.bars_per_year = 252;
    r.costs.fixed_cost = 5;
    r.capital = 0;
    QA_CHECK_ERR(qa_rules_validate(&r), QA_ERR_CONFIG, "capital 0 must be finite and > 0");
    qa_rules_init(&r);
    QA_CHECK_ERR(qa_rules_validate(&r), QA_ERR_CONFIG, "bars_per_year nan must be > 0");
    r.bars_per_year = 252;
    r.sizing.method = QA_BT_SIZE_VOL_TARGET;
    r.sizing.vol_window = 1;
    QA_CHECK_ERR(qa_rules_validate(&r), QA_ERR_CONFIG, "vol_window 1");
    r.sizing.vol_window = 20;
    r.costs.impact_coef = 0.1;
    r.costs.adv_window = 0;
    QA_CHECK_ERR(qa_rules_validate(&r), QA_ERR_CONFIG, "adv_window 0");
    r.costs.adv_window = 5;
    r.stops.stop_loss = -0.1;
    QA_CHECK_ERR(qa_rules_validate(&r), QA_ERR_CONFIG, "stop_loss -0.1");
    r.stops.stop_loss = 0.1;
    r.costs.convention = (qa_rules_convention)7;
    QA_CHECK_ERR(qa_rules_validate(&r), QA_ERR_CONFIG, "convention 7");
}

/* Capped Kelly: valid rules for the live service, refused by every batch engine's check;
 * the weight by hand. */
static void test_kelly(void) {
    qa_rules r;
    QA_CHECK_OK(bind("sizing: {method: kelly, kelly_fraction: 0.5, vol_window: 20, max_leverage: 1.5}\nbars_per_year: 252\n",
                     &r));
    QA_CHECK(r.sizing.method == QA_BT_SIZE_KELLY && r.sizing.kelly_fraction == 0.5 && r.sizing.max_leverage == 1.5);
    QA_CHECK_OK(qa_rules_validate(&r));
    qa_bt_rules b;
    qa_rules_to_bt(&r, &b);
    QA_CHECK_ERR(qa_bt_rules_check(&b), QA_ERR_CONFIG, "only the live service has");
    QA_CHECK_ERR(bind("sizing: {method: kelly, kelly_fraction: 1.5}\n", &r), QA_ERR_CONFIG, "kelly_fraction");
    qa_rules_init(&r);
    r.bars_per_year = 252, r.sizing.method = QA_BT_SIZE_KELLY, r.sizing.kelly_fraction = 0;
    QA_CHECK_ERR(qa_rules_validate(&r), QA_ERR_CONFIG, "kelly_fraction 0 must lie in (0, 1]");
    r.sizing.kelly_fraction = 0.5, r.sizing.vol_window = 1;
    QA_CHECK_ERR(qa_rules_validate(&r), QA_ERR_CONFIG, "kelly sizing: vol_window 1");
    r.sizing.vol_window = 20, r.sizing.max_leverage = 1.5;
    /* mu 0.001 a bar, sd 0.02: full Kelly 0.001 / 0.0004 = 2.5, half 1.25 (under the cap);
     * mu 0.002: 2.5 capped at 1.5; the sign is the caller's; sd 0 gives the cap, a NaN mu 0. */
    QA_CHECK_NEAR(qa_sizing_kelly(&r, 0.001, 0.02), 1.25, 1e-15, 1e-14);
    QA_CHECK_NEAR(qa_sizing_kelly(&r, -0.001, 0.02), 1.25, 1e-15, 1e-14);
    QA_CHECK(qa_sizing_kelly(&r, 0.002, 0.02) == 1.5);
    QA_CHECK(qa_sizing_kelly(&r, 0.001, 0.0) == 1.5);
    QA_CHECK(qa_sizing_kelly(&r, NAN, 0.02) == 0.0);
    /* The sd the live engine feeds it: returns 0.01, -0.01 alternating over 20 bars have
     * mean 0 and sample sd sqrt(20 x 1e-4 / 19). */
    double ret[21] = {0};
    for (int i = 1; i <= 20; i++) ret[i] = i % 2 ? 0.01 : -0.01;
    double sd = 0;
    QA_CHECK(!qa_sizing_sd(&r, ret, 19, &sd) && isnan(sd));
    QA_CHECK(qa_sizing_sd(&r, ret, 20, &sd));
    QA_CHECK_NEAR(sd, sqrt(20 * 1e-4 / 19), 1e-17, 1e-12);
}

/* The kernels' flat struct and the canonical JSON carry every rule, by name. */
static void test_flat_forms(void) {
    qa_rules r;
    QA_CHECK_OK(bind("direction: short_only\nstops: {stop_loss: 0.05, take_profit: 0.3}\n"
                     "sizing: {method: vol_target, fraction: 0.5, target_vol: 0.2, vol_window: 15, max_leverage: 3}\n"
                     "costs: {commission_bps: 1.5, half_spread_bps: 2.5, fixed_cost: 4, impact_coef: 0.2, adv_window: 7,\n"
                     "        impact_vol_window: 9}\ncapital: 123456\nbars_per_year: 365\n",
                     &r));
    qa_bt_rules b;
    qa_rules_to_bt(&r, &b);
    QA_CHECK(b.direction == QA_BT_SHORT_ONLY && b.stop_loss == 0.05 && b.take_profit == 0.3);
    QA_CHECK(b.sizing == QA_BT_SIZE_VOL_TARGET && b.fraction == 0.5 && b.target_vol == 0.2 && b.vol_window == 15);
    QA_CHECK(b.max_leverage == 3 && b.commission_bps == 1.5 && b.half_spread_bps == 2.5 && b.fixed_cost == 4);
    QA_CHECK(b.impact_coef == 0.2 && b.adv_window == 7 && b.impact_vol_window == 9);
    QA_CHECK(b.capital == 123456 && b.bars_per_year == 365);
    json_t *j = qa_rules_bt_json(&r);
    QA_CHECK(j && json_object_size(j) == 16);
    QA_CHECK_STR(json_string_value(json_object_get(j, "direction")), "short_only");
    QA_CHECK_STR(json_string_value(json_object_get(j, "sizing")), "vol_target");
    QA_CHECK(json_integer_value(json_object_get(j, "impact_vol_window")) == 9);
    QA_CHECK(json_real_value(json_object_get(j, "half_spread_bps")) == 2.5);
    json_decref(j);
}

int main(void) {
    QA_RUN(test_defaults);
    QA_RUN(test_spellings);
    QA_RUN(test_rejections);
    QA_RUN(test_validate);
    QA_RUN(test_flat_forms);
    QA_RUN(test_kelly);
    return qa_test_finish();
}
