/* Multiple-testing guards: normal quantiles, the expected maximum Sharpe ratio, the
 * deflated Sharpe ratio and White's Reality Check / Hansen's SPA on cases with known
 * answers: closed forms, pure-noise trials (nothing should look significant after
 * deflation), a genuinely good strategy planted among noise (must be detected), and
 * correlated trials (few effective trials). Random inputs are Philox streams with fixed,
 * printed seeds, so every run checks the same numbers. */
#include <math.h>
#include <stdlib.h>

#include "common/philox.h"
#include "harness.h"
#include "pipeline/stats/mtest.h"

/* Inverse normal CDF by bisection on erfc: slow, obviously right. */
static double ppf_bisect(double p) {
    double lo = -40.0, hi = 40.0;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (0.5 * erfc(-mid / sqrt(2.0)) < p) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

static void test_normal(void) {
    QA_CHECK_NEAR(qa_mtest_norm_cdf(1.96), 0.9750021048517795, 1e-15, 1e-14);
    QA_CHECK_NEAR(qa_mtest_norm_ppf(0.975), 1.959963984540054, 0, 1e-14);
    QA_CHECK_NEAR(qa_mtest_norm_ppf(0.5), 0.0, 1e-15, 0);
    const double ps[] = {1e-12, 1e-6, 0.001, 0.02, 0.02425, 0.1, 0.3, 0.7, 0.97575, 0.999};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        double ref = ppf_bisect(ps[i]);
        /* bisection resolves ~1e-15 in x where the CDF is steep enough to see it */
        QA_CHECK_NEAR(qa_mtest_norm_ppf(ps[i]), ref, 1e-12, 1e-12);
    }
    /* near 1 the argument 1 - 1e-9 itself carries a relative error of ~1e-7 in 1 - p */
    QA_CHECK_NEAR(qa_mtest_norm_ppf(1 - 1e-9), -ppf_bisect(1e-9), 0, 1e-8);
    QA_CHECK(isinf(qa_mtest_norm_ppf(0.0)) && qa_mtest_norm_ppf(0.0) < 0);
    QA_CHECK(isnan(qa_mtest_norm_ppf(1.5)));
}

/* E[max of N standard normals]: the approximation against its closed form, tabulated
 * exact values (N = 100: 2.50759, N = 1000: 3.24144) and a Monte-Carlo estimate. */
static void test_expected_max(void) {
    const double g = 0.5772156649015329;
    double f100 = (1 - g) * ppf_bisect(1 - 1.0 / 100) + g * ppf_bisect(1 - 1.0 / (100 * exp(1.0)));
    QA_CHECK_NEAR(qa_mtest_expected_max_sharpe(1.0, 100), f100, 0, 1e-10);
    QA_CHECK_NEAR(qa_mtest_expected_max_sharpe(4.0, 100), 2 * f100, 0, 1e-10);
    QA_CHECK_NEAR(qa_mtest_expected_max_sharpe(1.0, 100), 2.50759, 0, 0.02);
    QA_CHECK_NEAR(qa_mtest_expected_max_sharpe(1.0, 1000), 3.24144, 0, 0.02);
    QA_CHECK_NEAR(qa_mtest_expected_max_sharpe(1.0, 1), 0.0, 0, 0);
    const uint64_t seed = 20261124;
    double acc = 0;
    const int reps = 4000;
    for (int r = 0; r < reps; r++) {
        double m = -INFINITY;
        for (int k = 0; k < 100; k++) {
            double z = qa_rng_normal(seed, 1, (uint64_t)r * 100 + (uint64_t)k);
            if (z > m) m = z;
        }
        acc += m;
    }
    /* MC standard error ~0.43/sqrt(4000) = 0.007; the approximation is 0.9% above 2.5076 */
    printf("  E[max of 100 N(0,1)]: Monte Carlo %.4f (seed %llu), formula %.4f\n", acc / reps,
           (unsigned long long)seed, f100);
    QA_CHECK_NEAR(acc / reps, f100, 0.05, 0);
}

/* A two-point series mu +- 1 has skewness 0 and kurtosis 1, so the PSR denominator is 1:
 * PSR = Phi(SR·sqrt(n - 1)) with SR = mu / sqrt(n/(n-1)). With var_trials = 0, DSR = PSR. */
static void test_dsr_closed_form(void) {
    enum { N = 400 };
    double R[N];
    const double mu = 0.05;
    for (int i = 0; i < N; i++) R[i] = mu + (i % 2 ? 1.0 : -1.0);
    qa_mtest_dsr_result d;
    QA_CHECK_OK(qa_mtest_dsr(R, N, 0.0, 50, &d));
    double sr = mu / sqrt((double)N / (N - 1));
    double want = 0.5 * erfc(-(sr * sqrt(N - 1.0)) / sqrt(2.0));
    QA_CHECK_NEAR(d.sharpe, sr, 0, 1e-12);
    QA_CHECK_NEAR(d.skew, 0.0, 1e-12, 0);
    QA_CHECK_NEAR(d.kurt, 1.0, 0, 1e-12);
    QA_CHECK_NEAR(d.psr, want, 0, 1e-12);
    QA_CHECK_NEAR(d.dsr, want, 0, 1e-12);
    /* with trial variance the hurdle rises and the probability falls */
    QA_CHECK_OK(qa_mtest_dsr(R, N, 1.0 / N, 50, &d));
    double sr0 = qa_mtest_expected_max_sharpe(1.0 / N, 50);
    QA_CHECK_NEAR(d.sr0, sr0, 0, 1e-15);
    QA_CHECK_NEAR(d.dsr, 0.5 * erfc(-((sr - sr0) * sqrt(N - 1.0)) / sqrt(2.0)), 0, 1e-12);
    double flat[5] = {0.01, 0.01, 0.01, 0.01, 0.01};
    QA_CHECK(qa_mtest_dsr(flat, 5, 0.0, 10, &d) == QA_ERR_INVALID_ARG);
}

/* K trials of n iid N(mu_k, sigma) returns from one seed; trial `planted` gets mean drift. */
static double *make_trials(uint64_t seed, int K, int n, int planted, double drift, double common) {
    double *R = malloc((size_t)K * n * sizeof *R);
    for (int k = 0; k < K; k++)
        for (int t = 0; t < n; t++) {
            double z = qa_rng_normal(seed, 10 + (uint64_t)k, (uint64_t)t);
            double c = qa_rng_normal(seed, 9, (uint64_t)t);
            R[(size_t)k * n + t] = 0.01 * (common * c + sqrt(1 - common * common) * z) + (k == planted ? drift : 0.0);
        }
    return R;
}

/* DSR and trial statistics of K series: picks the best by Sharpe ratio. */
static void run_dsr(const double *R, int K, int n, int *best, qa_mtest_dsr_result *d, qa_mtest_trials_result *tr) {
    qa_mtest_trials_t *t = NULL;
    QA_CHECK_OK(qa_mtest_trials_create((size_t)n, &t));
    double bs = -INFINITY;
    for (int k = 0; k < K; k++) {
        qa_mtest_trials_add(t, R + (size_t)k * n);
        qa_mtest_moments m;
        qa_mtest_moments_of(R + (size_t)k * n, (size_t)n, &m);
        if (m.sharpe > bs) {
            bs = m.sharpe;
            *best = k;
        }
    }
    qa_mtest_trials_result_of(t, tr);
    qa_mtest_trials_free(t);
    QA_CHECK_OK(qa_mtest_dsr(R + (size_t)*best * n, (size_t)n, tr->var_sharpe, tr->n_eff, d));
}

static void test_dsr_noise_and_planted(void) {
    const int K = 100, n = 1000;
    double dsr_sum = 0, psr_sum = 0;
    for (uint64_t seed = 1; seed <= 10; seed++) {
        double *R = make_trials(seed, K, n, -1, 0.0, 0.0);
        int best = -1;
        qa_mtest_dsr_result d;
        qa_mtest_trials_result tr;
        run_dsr(R, K, n, &best, &d, &tr);
        /* Var(SR_hat) ~ 1/n for zero-mean normal returns; independent series */
        /* relative standard error of a variance from 100 values: sqrt(2/99) = 14%; 3 SE */
        printf("  seed %llu: var of trial Sharpes %.3g (1/n = %.3g)\n", (unsigned long long)seed, tr.var_sharpe, 1.0 / n);
        QA_CHECK_NEAR(tr.var_sharpe, 1.0 / n, 0, 0.45);
        QA_CHECK_NEAR(tr.rho_mean, 0.0, 0.01, 0);
        QA_CHECK_NEAR(tr.n_eff, K, 0, 0.05);
        dsr_sum += d.dsr;
        psr_sum += d.psr;
        free(R);
    }
    printf("  pure noise (100 trials x 1000 bars, seeds 1..10): mean DSR %.3f, mean PSR of the best %.3f\n",
           dsr_sum / 10, psr_sum / 10);
    QA_CHECK(dsr_sum / 10 < 0.6);  /* near or below 0.5: the best of noise is not significant */
    QA_CHECK(psr_sum / 10 > 0.9);  /* while the undeflated probability is fooled */

    /* A strategy with a per-bar Sharpe ratio of 0.2 (3.2 annualised) among 99 noise trials */
    double *R = make_trials(77, K, n, 42, 0.002, 0.0);
    int best = -1;
    qa_mtest_dsr_result d;
    qa_mtest_trials_result tr;
    run_dsr(R, K, n, &best, &d, &tr);
    printf("  planted (seed 77): best %d, SR %.3f vs SR0 %.3f, DSR %.4f\n", best, d.sharpe, d.sr0, d.dsr);
    QA_CHECK_INT(best, 42);
    QA_CHECK(d.dsr > 0.99);
    free(R);

    /* 100 trials sharing 99.5% of their variance: about 1 effective trial */
    R = make_trials(5, K, n, -1, 0.0, sqrt(0.995));
    run_dsr(R, K, n, &best, &d, &tr);
    printf("  correlated trials: mean correlation %.3f, effective trials %.2f\n", tr.rho_mean, tr.n_eff);
    QA_CHECK_NEAR(tr.rho_mean, 0.995, 0.01, 0);
    QA_CHECK(tr.n_eff < 3.0);
    free(R);
}

static void rc_of(const double *R, int K, int n, size_t B, double block, uint64_t seed, qa_mtest_rc_result *out) {
    qa_mtest_rc_t *rc = NULL;
    QA_CHECK_OK(qa_mtest_rc_create((size_t)n, B, block, seed, &rc));
    for (int k = 0; k < K && rc; k++) QA_CHECK_OK(qa_mtest_rc_add(rc, R + (size_t)k * n));
    if (rc) QA_CHECK_OK(qa_mtest_rc_finish(rc, out));
    qa_mtest_rc_free(rc);
}

static void test_reality_check(void) {
    const int K = 50, n = 500;
    double prc = 0, pspa = 0, pmin = 1;
    for (uint64_t seed = 1; seed <= 8; seed++) {
        double *R = make_trials(100 + seed, K, n, -1, 0.0, 0.0);
        qa_mtest_rc_result r;
        rc_of(R, K, n, 400, 5.0, seed, &r);
        prc += r.p_rc;
        pspa += r.p_spa;
        if (r.p_rc < pmin) pmin = r.p_rc;
        free(R);
    }
    printf("  noise (50 models x 500 bars, 8 seeds): mean p RC %.3f, mean p SPA %.3f, min p RC %.3f\n", prc / 8,
           pspa / 8, pmin);
    QA_CHECK(prc / 8 > 0.2);
    QA_CHECK(pspa / 8 > 0.2);
    QA_CHECK(pmin > 0.01);

    double *R = make_trials(9, K, n, 17, 0.0025, 0.0); /* per-bar Sharpe 0.25: t ~ 5.6 */
    qa_mtest_rc_result r;
    rc_of(R, K, n, 400, 5.0, 3, &r);
    printf("  planted: best model %zu, p RC %.4f, p SPA %.4f\n", r.best, r.p_rc, r.p_spa);
    QA_CHECK_INT(r.best, 17);
    QA_CHECK(r.p_rc < 0.01);
    QA_CHECK(r.p_spa < 0.01);
    /* the same inputs and seed give the same p-values; another seed similar ones */
    qa_mtest_rc_result r2;
    rc_of(R, K, n, 400, 5.0, 3, &r2);
    QA_CHECK(r.p_rc == r2.p_rc && r.p_spa == r2.p_spa && r.stat_rc == r2.stat_rc);
    free(R);

    /* An all-negative set of models: SPA statistic 0 and p = 1 */
    R = make_trials(11, 5, n, -1, 0.0, 0.0);
    for (int i = 0; i < 5 * n; i++) R[i] -= 0.01;
    rc_of(R, 5, n, 100, 5.0, 1, &r);
    QA_CHECK_NEAR(r.p_spa, 1.0, 0, 0);
    QA_CHECK_NEAR(r.p_rc, 1.0, 0, 0.02);
    free(R);
}

/* The bootstrap's standard error: ~std for iid data with mean block 1; for an AR(1) with
 * phi = 0.5 a long-block bootstrap recovers the long-run std, sqrt((1+phi)/(1-phi)) = 1.73
 * times the marginal std, while the iid bootstrap wrongly gives ~1. (A block-bootstrap
 * variance from one path of 4000 bars with blocks of 60 has ~15-20% relative error.) */
static void test_bootstrap_omega(void) {
    const int n = 4000;
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    double prev = 0;
    for (int t = 0; t < n; t++) {
        x[t] = qa_rng_normal(99, 1, (uint64_t)t);
        prev = 0.5 * prev + sqrt(0.75) * qa_rng_normal(99, 2, (uint64_t)t);
        y[t] = prev;
    }
    qa_mtest_rc_t *rc = NULL;
    QA_CHECK_OK(qa_mtest_rc_create((size_t)n, 1000, 1.0, 5, &rc));
    if (rc) QA_CHECK_NEAR(qa_mtest_rc_omega(rc, x), 1.0, 0, 0.08);
    qa_mtest_rc_free(rc);
    rc = NULL;
    double om_iid = NAN;
    QA_CHECK_OK(qa_mtest_rc_create((size_t)n, 1000, 1.0, 5, &rc));
    if (rc) om_iid = qa_mtest_rc_omega(rc, y);
    qa_mtest_rc_free(rc);
    rc = NULL;
    QA_CHECK_OK(qa_mtest_rc_create((size_t)n, 1000, 60.0, 5, &rc));
    if (rc) {
        double om = qa_mtest_rc_omega(rc, y);
        printf("  AR(1) phi 0.5: block-bootstrap omega %.3f, iid-bootstrap omega %.3f (long-run std 1.732)\n", om,
               om_iid);
        QA_CHECK_NEAR(om, 1.732, 0, 0.3);
        QA_CHECK_NEAR(om_iid, 1.0, 0, 0.1);
        QA_CHECK(om / om_iid > 1.4);
    }
    qa_mtest_rc_free(rc);
    QA_CHECK(qa_mtest_rc_create(5, 10, 2.0, 1, &rc) == QA_ERR_INVALID_ARG);
    QA_CHECK(qa_mtest_rc_create(100, 10, 0.5, 1, &rc) == QA_ERR_INVALID_ARG);
    free(x);
    free(y);
}

int main(void) {
    QA_RUN(test_normal);
    QA_RUN(test_expected_max);
    QA_RUN(test_dsr_closed_form);
    QA_RUN(test_dsr_noise_and_planted);
    QA_RUN(test_reality_check);
    QA_RUN(test_bootstrap_omega);
    return qa_test_finish();
}
