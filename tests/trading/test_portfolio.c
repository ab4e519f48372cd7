/* Portfolio accounting, cost model and sizing: a hand-computed sequence of fills
 * (adding, reducing, crossing zero, closing) with average cost, realised/unrealised
 * P&L, cash, exposures and sleeve equity; invariants over random fills (equity = cash +
 * sum qty x mark; realised + unrealised = equity - initial; cash equal to an
 * independent running sum); hand-computed costs and their equality with the vectorized
 * engine's per-bar cost terms; sizing bit-identical to the vectorized engine's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/philox.h"
#include "harness.h"
#include "kernels/backtest_rules.h"
#include "trading/costs.h"
#include "trading/portfolio.h"
#include "trading/sizing.h"

static uint64_t g_seed;

static void test_hand_sequence(void) {
    qa_portfolio pf;
    QA_CHECK_OK(qa_portfolio_init(&pf, 2, 10000.0));
    QA_CHECK_NEAR(qa_portfolio_equity(&pf), 10000, 0, 0);
    QA_CHECK_OK(qa_portfolio_fill(&pf, 0, 100, 10, 1));   /* buy 100 @ 10, cost 1 */
    QA_CHECK_NEAR(pf.pos[0].avg_cost, 10, 0, 0);
    QA_CHECK_NEAR(qa_portfolio_cash(&pf), 8999, 1e-12, 0);
    QA_CHECK_OK(qa_portfolio_fill(&pf, 0, 50, 13, 0.5));  /* add 50 @ 13: avg (1000 + 650) / 150 = 11 */
    QA_CHECK_NEAR(pf.pos[0].avg_cost, 11, 1e-12, 0);
    QA_CHECK_NEAR(qa_portfolio_cash(&pf), 8348.5, 1e-12, 0);
    qa_portfolio_mark(&pf, 0, 12);
    QA_CHECK_NEAR(qa_portfolio_equity(&pf), 8348.5 + 150 * 12, 1e-9, 0);
    QA_CHECK_NEAR(qa_portfolio_unrealized(&pf, 0), 150, 1e-12, 0);
    QA_CHECK_NEAR(pf.pos[0].realized, -1.5, 1e-12, 0);    /* costs are realised losses */
    /* a second symbol, short 10 @ 50 */
    QA_CHECK_OK(qa_portfolio_fill(&pf, 1, -10, 50, 0));
    double g, n;
    qa_portfolio_exposure(&pf, &g, &n);
    QA_CHECK_NEAR(g, 1800 + 500, 1e-9, 0);
    QA_CHECK_NEAR(n, 1800 - 500, 1e-9, 0);
    double eq = qa_portfolio_equity(&pf);
    QA_CHECK_NEAR(eq, 8348.5 + 500 + 1800 - 500, 1e-9, 0);
    QA_CHECK_NEAR(qa_portfolio_weight(&pf, 0), 1800 / eq, 1e-15, 0);
    QA_CHECK_NEAR(qa_portfolio_weight(&pf, 1), -500 / eq, 1e-15, 0);
    /* sell 200 @ 12.5 crosses zero: realise 150 x (12.5 - 11) = 225, open -50 @ 12.5 */
    QA_CHECK_OK(qa_portfolio_fill(&pf, 0, -200, 12.5, 1));
    QA_CHECK_NEAR(pf.pos[0].qty, -50, 0, 0);
    QA_CHECK_NEAR(pf.pos[0].avg_cost, 12.5, 0, 0);
    QA_CHECK_NEAR(pf.pos[0].realized, -1.5 + 225 - 1, 1e-12, 0);
    qa_portfolio_mark(&pf, 0, 12);
    QA_CHECK_NEAR(qa_portfolio_unrealized(&pf, 0), 25, 1e-12, 0);
    /* buy back 50 @ 11: realise 50 x (12.5 - 11) = 75, flat */
    QA_CHECK_OK(qa_portfolio_fill(&pf, 0, 50, 11, 0));
    QA_CHECK_NEAR(pf.pos[0].qty, 0, 0, 0);
    QA_CHECK_NEAR(pf.pos[0].avg_cost, 0, 0, 0);
    QA_CHECK_NEAR(pf.pos[0].realized, 297.5, 1e-12, 0);
    QA_CHECK_NEAR(qa_portfolio_value(&pf, 0), 0, 0, 0);
    QA_CHECK_OK(qa_portfolio_charge(&pf, 1, 5));
    QA_CHECK_NEAR(pf.pos[1].realized, -5, 0, 0);
    QA_CHECK_NEAR(pf.costs, 1 + 0.5 + 1 + 5, 1e-12, 0);
    /* cash: 10000 - 1000 - 1 - 650 - 0.5 + 500 + 2500 - 1 - 550 - 5 */
    QA_CHECK_NEAR(qa_portfolio_cash(&pf), 10792.5, 1e-9, 0);
    qa_portfolio_mark(&pf, 1, 48);
    eq = qa_portfolio_equity(&pf);
    QA_CHECK_NEAR(eq, 10792.5 - 480, 1e-9, 0);
    QA_CHECK_NEAR(qa_portfolio_total_realized(&pf) + qa_portfolio_total_unrealized(&pf), eq - 10000, 1e-9, 0);
    /* sleeves of 6000 and 4000: sleeve equities add up to the account */
    double s0 = qa_portfolio_sleeve_equity(&pf, 0, 6000), s1 = qa_portfolio_sleeve_equity(&pf, 1, 4000);
    QA_CHECK_NEAR(s0, 6000 + 297.5, 1e-9, 0);
    QA_CHECK_NEAR(s1, 4000 + 500 - 5 - 480, 1e-9, 0);
    QA_CHECK_NEAR(s0 + s1, eq, 1e-9, 0);
    QA_CHECK_ERR(qa_portfolio_fill(&pf, 0, 1, -1, 0), QA_ERR_INVALID_ARG, "price");
    QA_CHECK_ERR(qa_portfolio_fill(&pf, 0, 1, 1, -1), QA_ERR_INVALID_ARG, "cost");
    QA_CHECK_ERR(qa_portfolio_fill(&pf, 2, 1, 1, 0), QA_ERR_INVALID_ARG, "symbol");
    qa_portfolio_free(&pf);
}

static void test_random_invariants(void) {
    const size_t S = 3;
    qa_portfolio pf;
    QA_CHECK_OK(qa_portfolio_init(&pf, S, 1e6));
    double cash = 1e6, qty[3] = {0}, mark[3] = {100, 50, 20}, worst = 0.0;
    for (uint64_t k = 0; k < 20000; k++) {
        size_t s = (size_t)(qa_rng_uniform(g_seed, 1, k) * S);
        mark[s] *= exp(0.01 * qa_rng_normal(g_seed, 2, k));
        if (qa_rng_uniform(g_seed, 3, k) < 0.7) {
            double q = round(2000 * (qa_rng_uniform(g_seed, 4, k) - 0.5)) + 0.25;
            double cost = 0.001 * fabs(q) * mark[s];
            QA_CHECK_OK(qa_portfolio_fill(&pf, s, q, mark[s], cost));
            cash -= q * mark[s] + cost;
            qty[s] += q;
        } else {
            qa_portfolio_mark(&pf, s, mark[s]);
        }
        double eq = qa_portfolio_equity(&pf), ref = cash;
        for (size_t i = 0; i < S; i++) ref += qty[i] * mark[i];
        double scale = 1e6 + fabs(qty[0] * mark[0]) + fabs(qty[1] * mark[1]) + fabs(qty[2] * mark[2]);
        double e1 = fabs(eq - ref) / scale;
        double e2 = fabs(qa_portfolio_total_realized(&pf) + qa_portfolio_total_unrealized(&pf) - (eq - 1e6)) / scale;
        if (e1 > worst) worst = e1;
        if (e2 > worst) worst = e2;
        for (size_t i = 0; i < S; i++) QA_CHECK(fabs(pf.pos[i].qty - qty[i]) <= 1e-9 * (1 + fabs(qty[i])));
    }
    printf("  worst relative invariant error over 20000 events: %.3g\n", worst);
    /* budget: the running cash reference itself is a plain sum of 14000 terms: ~n eps */
    QA_CHECK(worst < 1e-11);
    qa_portfolio_free(&pf);
}

static void test_costs(void) {
    qa_rules_costs m = {.commission_bps = 1.0, .half_spread_bps = 2.0, .fixed_cost = 5.0, .impact_coef = 0.1,
                        .adv_window = 10, .impact_vol_window = 15};
    QA_CHECK_NEAR(qa_cost_prop_rate(&m), 3e-4, 1e-18, 0);
    /* 3e-4 x 10000 + 5 + 10000 x 0.1 x 0.02 x sqrt(100 / 10000) = 3 + 5 + 2 */
    QA_CHECK_NEAR(qa_cost_of(&m, 10000, 100, 0.02, 1e4, 1), 10, 1e-12, 0);
    QA_CHECK_NEAR(qa_cost_of(&m, 10000, 100, 0.02, 1e4, 0), 5, 1e-12, 0);
    QA_CHECK_NEAR(qa_cost_of(&m, 0, 0, 0.02, 1e4, 1), 0, 0, 0);
    /* the vectorized engine's per-bar cost of a weight change (fractions of equity),
     * converted to currency, equals cost(N = delta E capital, Q = N / close) */
    qa_rules s;
    qa_rules_init(&s);
    s.bars_per_year = 252;
    s.costs.commission_bps = 1.0, s.costs.half_spread_bps = 2.0, s.costs.fixed_cost = 5.0, s.costs.impact_coef = 0.1;
    s.capital = 2.5e5;
    qa_bt_rules bt;
    qa_rules_to_bt(&s, &bt);
    qa_bt_consts k;
    qa_bt_consts_make(&bt, QA_BT_SMA_CROSS, &k);
    const qa_rules_costs *cm = &s.costs;
    for (int j = 0; j < 200; j++) {
        double delta = 2 * qa_rng_uniform(g_seed, 10, (uint64_t)j), E = 0.5 + qa_rng_uniform(g_seed, 11, (uint64_t)j);
        double c = 10 + 100 * qa_rng_uniform(g_seed, 12, (uint64_t)j), sd = 0.03 * qa_rng_uniform(g_seed, 13, (uint64_t)j);
        double adv = 1e4 + 1e6 * qa_rng_uniform(g_seed, 14, (uint64_t)j);
        double kappa = qa_bt_kappa(&k, sd, c, adv);
        double frac = k.cprop * delta + k.phi / E + delta * kappa * sqrt(delta * E);
        double N = delta * E * s.capital;
        QA_CHECK_NEAR(qa_cost_of(cm, N, N / c, sd, adv, 1), frac * E * s.capital, 0, 1e-13);
    }
    /* impact inputs: windows gate, values equal a straightforward computation */
    double r[40], v[40];
    for (int i = 0; i < 40; i++) {
        r[i] = i ? 0.02 * qa_rng_normal(g_seed, 15, (uint64_t)i) : NAN;
        v[i] = 1e5 * (1 + qa_rng_uniform(g_seed, 16, (uint64_t)i));
    }
    double sig, adv;
    QA_CHECK(!qa_cost_impact_inputs(&m, r, v, 14, &sig, &adv)); /* i < impact_vol_window */
    QA_CHECK(isnan(sig) && isnan(adv));
    QA_CHECK(qa_cost_impact_inputs(&m, r, v, 15, &sig, &adv));
    for (long i = 15; i < 40; i++) {
        QA_CHECK(qa_cost_impact_inputs(&m, r, v, i, &sig, &adv));
        double a = 0, mu = 0, ss = 0;
        for (long j = i - 9; j <= i; j++) a += v[j];
        for (long j = i - 14; j <= i; j++) mu += r[j];
        mu /= 15;
        for (long j = i - 14; j <= i; j++) ss += (r[j] - mu) * (r[j] - mu);
        QA_CHECK_NEAR(adv, a / 10, 0, 1e-13);
        QA_CHECK_NEAR(sig, sqrt(ss / 14), 0, 1e-12);
    }
}

static void test_sizing(void) {
    qa_rules z;
    qa_rules_init(&z);
    z.sizing = (qa_rules_sizing){QA_BT_SIZE_VOL_TARGET, 1.0, 0.2, 5, 2.0, 0.5};
    z.bars_per_year = 256.0;
    QA_CHECK_NEAR(qa_sizing_vol_target(&z, 0.01), 1.25, 1e-15, 0); /* 0.2 / (0.01 x 16) */
    QA_CHECK_NEAR(qa_sizing_vol_target(&z, 0.005), 2.0, 0, 0);    /* 2.5 capped */
    QA_CHECK_NEAR(qa_sizing_vol_target(&z, 0.0), 2.0, 0, 0);      /* sigma 0: the cap */
    QA_CHECK_NEAR(qa_sizing_shares(0.5, 10000, 20), 250, 0, 0);
    QA_CHECK_NEAR(qa_sizing_shares(-1.5, 10000, 20), -750, 0, 0);
    /* bit-identical to the vectorized engine's sizing on random returns */
    z.sizing = (qa_rules_sizing){QA_BT_SIZE_VOL_TARGET, 1.0, 0.15, 7, 3, 0.5};
    z.bars_per_year = 252;
    qa_bt_rules bt;
    qa_rules_to_bt(&z, &bt);
    qa_bt_consts k;
    qa_bt_consts_make(&bt, QA_BT_SMA_CROSS, &k);
    double c[300], r[300];
    c[0] = 50;
    r[0] = NAN;
    for (int i = 1; i < 300; i++) {
        c[i] = c[i - 1] * exp(0.02 * qa_rng_normal(g_seed, 20, (uint64_t)i));
        r[i] = c[i] / c[i - 1] - 1;
    }
    int same = 1;
    for (long i = 0; i < 300; i++) {
        double a, b, kap;
        int oa = qa_sizing_size(&z, r, i, &a), ob = qa_bt_bar_inputs(&k, c, r, NULL, i, &b, &kap);
        same &= oa == ob && memcmp(&a, &b, sizeof a) == 0;
    }
    QA_CHECK(same);
    qa_rules fx = z;
    fx.sizing.method = QA_BT_SIZE_FIXED, fx.sizing.fraction = 0.7;
    double w;
    QA_CHECK(qa_sizing_size(&fx, r, 0, &w) && w == 0.7);
}

int main(void) {
    g_seed = qa_test_seed();
    QA_RUN(test_hand_sequence);
    QA_RUN(test_random_invariants);
    QA_RUN(test_costs);
    QA_RUN(test_sizing);
    return qa_test_finish();
}
