/* VaR backtest statistics against values computed by hand on small exceedance sequences. */
#include <math.h>
#include <string.h>

#include "harness.h"
#include "pipeline/stats/var_backtest.h"

/* 20 forecasts at 90% (p = 0.1), exceedances on days 2, 7, 8 and 18 (x = 4):
 *   Kupiec LR = -2 [16 ln 0.9 + 4 ln 0.1] + 2 [16 ln 0.8 + 4 ln 0.2]
 *             = -2 [-1.685760 - 9.210340] + 2 [-3.570297 - 6.437752] = 21.792200 - 20.016080
 *             = 1.776120,  p = erfc(sqrt(LR / 2)) = 0.182626
 *   transitions over the 19 pairs: n00 = 12, n01 = 3, n10 = 3, n11 = 1;
 *   pi = 4/19, pi01 = 3/15 = 0.2, pi11 = 1/4
 *   Christoffersen LR = -2 [15 ln(15/19) + 4 ln(4/19)] + 2 [12 ln 0.8 + 3 ln 0.2 + 3 ln 0.75 + ln 0.25]
 *                     = 0.046066,  p = 0.830055
 *   conditional coverage LR = 1.822187, p = exp(-LR / 2) = 0.402084
 *   P(X <= 4), X ~ Bin(20, 0.1) = 0.956826 -> yellow (>= 0.95). */
static void test_hand_computed(void) {
    const unsigned char h[20] = {0, 0, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
    qa_var_backtest_stats s;
    QA_CHECK_OK(qa_var_backtest_evaluate(h, 20, 0.9, &s));
    QA_CHECK_INT(s.n, 20);
    QA_CHECK_INT(s.exceed, 4);
    QA_CHECK_INT(s.n00, 12);
    QA_CHECK_INT(s.n01, 3);
    QA_CHECK_INT(s.n10, 3);
    QA_CHECK_INT(s.n11, 1);
    QA_CHECK_NEAR(s.rate, 0.2, 1e-15, 0);
    QA_CHECK_NEAR(s.pi01, 0.2, 1e-15, 0);
    QA_CHECK_NEAR(s.pi11, 0.25, 1e-15, 0);
    QA_CHECK_NEAR(s.lr_pof, 1.7761203034752882, 1e-12, 0);
    QA_CHECK_NEAR(s.p_pof, 0.1826264533901104, 1e-12, 0);
    QA_CHECK_NEAR(s.lr_ind, 0.04606642320321086, 1e-12, 0);
    QA_CHECK_NEAR(s.p_ind, 0.83005510066424, 1e-12, 0);
    QA_CHECK_NEAR(s.lr_cc, 1.822186726678499, 1e-12, 0);
    QA_CHECK_NEAR(s.p_cc, 0.40208435931371667, 1e-12, 0);
    QA_CHECK_NEAR(s.binom_cdf, 0.9568255047155371, 1e-12, 0);
    QA_CHECK_INT(s.zone, QA_VAR_ZONE_YELLOW);
}

/* No exceedance: LR_pof = -2 n ln(1 - p) (the unrestricted likelihood is 1); the
 * independence statistic is 0 (every transition is 0 -> 0). */
static void test_no_exceedance(void) {
    unsigned char h[250];
    memset(h, 0, sizeof h);
    qa_var_backtest_stats s;
    QA_CHECK_OK(qa_var_backtest_evaluate(h, 250, 0.99, &s));
    QA_CHECK_INT(s.exceed, 0);
    QA_CHECK_NEAR(s.lr_pof, -2.0 * 250 * log(0.99), 1e-12, 1e-14);
    QA_CHECK_NEAR(s.lr_ind, 0.0, 0, 0);
    QA_CHECK_INT(s.n00, 249);
    QA_CHECK_INT(s.zone, QA_VAR_ZONE_GREEN);
}

/* Basel traffic light for 250 days at 99%: green 0-4, yellow 5-9, red 10+ (the Basel
 * Committee's table: cumulative probabilities 89.22%, 95.88%, 99.97%, 99.99%). */
static void test_basel_zones(void) {
    const size_t x[] = {4, 5, 9, 10};
    const qa_var_zone z[] = {QA_VAR_ZONE_GREEN, QA_VAR_ZONE_YELLOW, QA_VAR_ZONE_YELLOW, QA_VAR_ZONE_RED};
    const double cdf[] = {0.8921876269036233, 0.9588168159301496, 0.9997498099312573, 0.9999461013709507};
    for (size_t i = 0; i < 4; i++) {
        unsigned char h[250];
        memset(h, 0, sizeof h);
        for (size_t k = 0; k < x[i]; k++) h[k * 20] = 1; /* spread out */
        qa_var_backtest_stats s;
        QA_CHECK_OK(qa_var_backtest_evaluate(h, 250, 0.99, &s));
        QA_CHECK_INT(s.zone, z[i]);
        QA_CHECK_NEAR(s.binom_cdf, cdf[i], 1e-12, 0);
        QA_CHECK_INT(s.n11, 0);
    }
}

/* Clustered exceedances are rejected by the independence test: 5 hits in a row among 100
 * (pi01 = 1/94, pi11 = 4/5) gives a large LR_ind (p < 1e-4), while Kupiec at p = 0.05
 * accepts the count (x = 5 = expected, LR_pof = 0). */
static void test_clustered(void) {
    unsigned char h[100];
    memset(h, 0, sizeof h);
    for (int k = 40; k < 45; k++) h[k] = 1;
    qa_var_backtest_stats s;
    QA_CHECK_OK(qa_var_backtest_evaluate(h, 100, 0.95, &s));
    QA_CHECK_NEAR(s.lr_pof, 0.0, 1e-12, 0);
    QA_CHECK_NEAR(s.p_pof, 1.0, 1e-12, 0);
    QA_CHECK_INT(s.n11, 4);
    QA_CHECK_INT(s.n01, 1);
    QA_CHECK_MSG(s.p_ind < 1e-4, "p_ind = %g", s.p_ind);
}

static void test_errors(void) {
    unsigned char h[3] = {0, 2, 0};
    qa_var_backtest_stats s;
    QA_CHECK_ERR(qa_var_backtest_evaluate(h, 3, 0.99, &s), QA_ERR_INVALID_ARG, "hit 1");
    QA_CHECK_ERR(qa_var_backtest_evaluate(h, 1, 0.99, &s), QA_ERR_INVALID_ARG, "at least 2");
    h[1] = 0;
    QA_CHECK_ERR(qa_var_backtest_evaluate(h, 3, 1.0, &s), QA_ERR_INVALID_ARG, "level");
    QA_CHECK(isnan(qa_var_backtest_chi2_sf(1.0, 3)));
    QA_CHECK_NEAR(qa_var_backtest_chi2_sf(3.841458820694124, 1), 0.05, 1e-12, 0); /* chi2(1) 95% quantile */
    QA_CHECK_NEAR(qa_var_backtest_chi2_sf(5.991464547107979, 2), 0.05, 1e-12, 0); /* chi2(2) 95% quantile */
}

int main(void) {
    QA_RUN(test_hand_computed);
    QA_RUN(test_no_exceedance);
    QA_RUN(test_basel_zones);
    QA_RUN(test_clustered);
    QA_RUN(test_errors);
    return qa_test_finish();
}
