/* The incremental strategy runner against the vectorized reference: for every strategy,
 * direction mode, with stops, vol targeting and the impact gate, on fresh random bars
 * with gaps, the runner's positions after each bar are bit-identical to
 * qa_bt_trace_reference's and its entries sum to qa_bt_run_reference's trades (the
 * decisions must be exactly the same: they are the same rules evaluated the same way).
 * Also: history growth from capacity 0 and the observation rule. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/philox.h"
#include "harness.h"
#include "kernels/backtest_impl.h" /* the reference engine, called directly */
#include "trading/strategy.h"

static uint64_t g_seed;

static qa_bt_params params_of(qa_bt_strategy s, uint64_t k) {
    qa_bt_params p;
    memset(&p, 0, sizeof p);
    double u = qa_rng_uniform(g_seed, 30, k);
    switch (s) {
    case QA_BT_SMA_CROSS:
    case QA_BT_EMA_CROSS: p.p[0] = 2 + floor(8 * u), p.p[1] = 12 + floor(30 * u); break;
    case QA_BT_ZSCORE: p.p[0] = 5 + floor(30 * u), p.p[1] = 1 + u, p.p[2] = 0.3 * u; break;
    case QA_BT_BOLLINGER: p.p[0] = 5 + floor(30 * u), p.p[1] = 1 + u; break;
    case QA_BT_DONCHIAN: p.p[0] = 5 + floor(30 * u), p.p[1] = floor(10 * u); break;
    case QA_BT_RSI: p.p[0] = 3 + floor(20 * u), p.p[1] = 30 + 10 * u, p.p[2] = 60 + 10 * u; break;
    case QA_BT_SIGNAL: p.p[0] = -0.5 * u, p.p[1] = 0.5 * u; break;
    default: break;
    }
    return p;
}

static void test_positions_identical(void) {
    const size_t T = 900, tb = 77;
    double *c = malloc(5 * T * sizeof *c), *h = c + T, *l = c + 2 * T, *v = c + 3 * T, *g = c + 4 * T;
    double *pos = malloc(T * sizeof *pos);
    long runs = 0, trades = 0, mism = 0;
    for (uint64_t rep = 0; rep < 6; rep++) {
        double px = 40;
        for (size_t t = 0; t < T; t++) {
            uint64_t i = rep * T + t;
            px *= exp(0.02 * qa_rng_normal(g_seed, 1, i));
            if (qa_rng_uniform(g_seed, 2, i) < 0.007) px *= 1.15; /* jumps trigger stops */
            int gap = qa_rng_uniform(g_seed, 3, i) < 0.05;
            c[t] = gap ? NAN : px;
            h[t] = gap || qa_rng_uniform(g_seed, 4, i) < 0.02 ? NAN : px * 1.01;
            l[t] = gap ? NAN : px * 0.99;
            v[t] = qa_rng_uniform(g_seed, 5, i) < 0.03 ? 0.0 : 1e5;
            g[t] = qa_rng_uniform(g_seed, 6, i) < 0.03 ? NAN : qa_rng_normal(g_seed, 7, i);
        }
        for (int st = 0; st < QA_BT_STRATEGY_COUNT; st++)
            for (int dir = 0; dir < QA_BT_DIRECTION_COUNT; dir++)
                for (int var = 0; var < 3; var++) {
                    qa_rules rules;
                    qa_rules_init(&rules);
                    rules.bars_per_year = 252;
                    rules.direction = (qa_bt_direction)dir;
                    if (var >= 1) rules.stops.stop_loss = 0.05, rules.stops.take_profit = 0.1;
                    if (var == 2) {
                        rules.sizing.method = QA_BT_SIZE_VOL_TARGET, rules.sizing.vol_window = 12;
                        rules.costs.impact_coef = 0.1, rules.costs.adv_window = 9, rules.costs.impact_vol_window = 11;
                    }
                    qa_bt_rules s;
                    qa_rules_to_bt(&rules, &s);
                    qa_bt_params p = params_of((qa_bt_strategy)st, rep * 100 + (uint64_t)(st * 9 + dir * 3 + var));
                    qa_bt_grid grid = {(qa_bt_strategy)st, &p, 1};
                    qa_bt_data d = {c, h, l, v, g, 1, T, tb, T};
                    if (qa_bt_validate(&d, &grid, &s) != QA_OK) {
                        QA_CHECK_MSG(0, "validate: %s", qa_err_msg());
                        continue;
                    }
                    qa_bt_trace tr = {0, 0, NULL, pos, NULL};
                    qa_bt_metrics m;
                    QA_CHECK_OK(qa_bt_trace_reference(&d, &grid, &s, &tr, 1));
                    QA_CHECK_OK(qa_bt_run_reference(&d, &grid, &s, &m));
                    qa_strategy run;
                    QA_CHECK_OK(qa_strategy_init(&run, (qa_bt_strategy)st, &p, &rules, var == 0 ? 0 : T));
                    double cur = 0.0;
                    long entries = 0;
                    for (size_t t = 0; t < T; t++) {
                        qa_strategy_bar b = {c[t], h[t], l[t], v[t], g[t]};
                        qa_strategy_step x;
                        QA_CHECK_OK(qa_strategy_push(&run, &b, t >= tb, 1, &x));
                        if (x.decision) {
                            cur = x.pos;
                            entries += x.entry;
                        }
                        if (t >= tb && memcmp(&cur, &pos[t - tb], sizeof cur) != 0) mism++;
                    }
                    QA_CHECK_INT(entries, m.trades);
                    trades += entries;
                    runs++;
                    qa_strategy_free(&run);
                }
    }
    printf("  %ld runs, %ld trades, %ld position mismatches\n", runs, trades, mism);
    QA_CHECK_INT(mism, 0);
    QA_CHECK(trades > 500);
    free(c);
    free(pos);
}

static void test_observation_rule(void) {
    qa_rules s;
    qa_rules_init(&s);
    s.bars_per_year = 252;
    s.costs.impact_coef = 0.1;
    qa_bt_params p = {{3, 1}};
    qa_strategy run;
    QA_CHECK_OK(qa_strategy_init(&run, QA_BT_DONCHIAN, &p, &s, 4));
    qa_strategy_bar ok = {10, 11, 9, 100, NAN}, nohl = {10, NAN, 9, 100, NAN}, novol = {10, 11, 9, 0, NAN},
                    noc = {NAN, 11, 9, 100, NAN};
    QA_CHECK(qa_strategy_observes(&run, &ok));
    QA_CHECK(!qa_strategy_observes(&run, &nohl));
    QA_CHECK(!qa_strategy_observes(&run, &novol));
    QA_CHECK(!qa_strategy_observes(&run, &noc));
    qa_strategy_step x;
    QA_CHECK_OK(qa_strategy_push(&run, &nohl, 1, 1, &x));
    QA_CHECK(!x.observed && !x.base);
    QA_CHECK_OK(qa_strategy_push(&run, &ok, 1, 1, &x));
    QA_CHECK(x.observed && x.base && !x.decision);
    for (int i = 0; i < 10; i++) QA_CHECK_OK(qa_strategy_push(&run, &ok, 1, 1, &x)); /* grows past capacity 4 */
    QA_CHECK(x.decision && x.index == 10);
    /* a ruined sleeve is forced flat */
    qa_strategy_bar up = {20, 21, 19, 100, NAN};
    QA_CHECK_OK(qa_strategy_push(&run, &up, 1, 0, &x));
    QA_CHECK(x.decision && x.pos == 0.0 && x.q == 0);
    qa_strategy_free(&run);
    qa_bt_params bad = {{0, 0}};
    QA_CHECK_ERR(qa_strategy_init(&run, QA_BT_SMA_CROSS, &bad, &s, 0), QA_ERR_INVALID_ARG, "windows");
    QA_CHECK_ERR(qa_strategy_init(&run, (qa_bt_strategy)42, &bad, &s, 0), QA_ERR_CONFIG, "unknown");
}

int main(void) {
    g_seed = qa_test_seed();
    QA_RUN(test_positions_identical);
    QA_RUN(test_observation_rule);
    return qa_test_finish();
}
