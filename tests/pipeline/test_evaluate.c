/* Evaluation: the top-k cross-sectional backtest against a hand-computed example and an
 * independent implementation on random panels; Pearson/Spearman by hand; prediction
 * metrics for perfect, inverted and random scores against a brute-force IC. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/philox.h"
#include "harness.h"
#include "kernels/backtest.h" /* the sweep engine's cross-sectional portfolio: the same definition */
#include "pipeline/train/evaluate.h"
#include "train_test.h"

#define N_ NAN

/* 4 symbols x 6 bars, one long and one short name of weight 0.5, 10 bps. Every P&L bar
 * worked out by hand in the comments (r from each symbol's previous close). */
static void test_topk_by_hand(void) {
    const double close[4 * 6] = {
        100, 101, 102, 100, 103, 104, /* s0 */
        50,  50,  49,  N_,  48,  50,  /* s1: no bar at t3 (keeps its weight) */
        20,  21,  20,  22,  21,  21,  /* s2 */
        10,  10,  11,  11,  10,  12,  /* s3 */
    };
    const double signal[4 * 6] = {
        1, 0.5, 0.1, 5,  1, N_, /* s0 */
        2, -1,  0.3, N_, 1, N_, /* s1 */
        3, 0.2, -0.2, 1, 1, N_, /* s2 */
        4, N_,  0.9, N_, 1, N_, /* s3 */
    };
    qa_evaluate_topk_opts o = {1, 1, 0.5, 0.5, 10.0, 252.0};
    qa_evaluate_bt bt;
    double eq[6];
    QA_CHECK_OK(qa_evaluate_topk(close, signal, 4, 6, 0, 6, &o, &bt, eq));
    const double c = 0.001;
    /* t1: long s0, short s1 from flat: R = -c (0.5 + 0.5) */
    double R1 = -c * 1.0;
    /* t2: held +0.5 s0, -0.5 s1; rebalance to short s2, long s3: turnover 2 */
    double R2 = 0.5 * (102.0 / 101.0 - 1.0) - 0.5 * (49.0 / 50.0 - 1.0) - c * 2.0;
    /* t3: held -0.5 s2, +0.5 s3; eligible s0, s2 -> short s2, long s0; s3 (no signal) 0;
     * s1 has no bar: carried at 0; turnover 0.5 + 0 + 0.5 */
    double R3 = -0.5 * (22.0 / 20.0 - 1.0) + 0.5 * (11.0 / 11.0 - 1.0) - c * 1.0;
    /* t4: held +0.5 s0, -0.5 s2; all signals tie: (signal, index) order -> short s0, long s3 */
    double R4 = 0.5 * (103.0 / 100.0 - 1.0) - 0.5 * (21.0 / 22.0 - 1.0) - c * 2.0;
    /* t5: no signals -> flat: held -0.5 s0, +0.5 s3 */
    double R5 = -0.5 * (104.0 / 103.0 - 1.0) + 0.5 * (12.0 / 10.0 - 1.0) - c * 1.0;
    double R[5] = {R1, R2, R3, R4, R5}, E = 1.0, mean = 0.0, ss = 0.0;
    for (int i = 0; i < 5; i++) {
        E *= 1.0 + R[i];
        QA_CHECK_NEAR(eq[i + 1], E, 0, 1e-15);
        mean += R[i] / 5.0;
    }
    for (int i = 0; i < 5; i++) ss += (R[i] - mean) * (R[i] - mean);
    QA_CHECK_NEAR(eq[0], 1.0, 0, 0);
    QA_CHECK_INT(bt.bars, 5);
    QA_CHECK_NEAR(bt.total_return, E - 1.0, 1e-16, 1e-14);
    QA_CHECK_NEAR(bt.sharpe, mean / sqrt(ss / 4.0) * sqrt(252.0), 0, 1e-12);
    /* the drawdown is bar 3's loss from the bar-2 peak */
    QA_CHECK_NEAR(bt.max_drawdown, -0.051, 1e-15, 1e-12);
    QA_CHECK_NEAR(bt.hit_rate, 0.75, 0, 0); /* held bars 2..5; R3 < 0 */
    QA_CHECK_NEAR(bt.turnover, 7.0 * 252.0 / 5.0, 0, 1e-14);
    /* a bar without any close is skipped: equity carried, not a P&L bar */
    double close2[2 * 4] = {10, 11, N_, 12, 20, 19, N_, 18}, sig2[2 * 4] = {1, 1, 1, 1, 0, 0, 0, 0};
    qa_evaluate_topk_opts o2 = {1, 1, 1.0, 1.0, 0.0, 252.0};
    double eq2[4];
    QA_CHECK_OK(qa_evaluate_topk(close2, sig2, 2, 4, 0, 4, &o2, &bt, eq2));
    QA_CHECK_INT(bt.bars, 2);
    QA_CHECK_NEAR(eq2[2], eq2[1], 0, 0);
    /* t1: from flat; t3: long s0 (+1) 12/11 - 1, short s1 (-1) 18/19 - 1 */
    QA_CHECK_NEAR(eq2[3], 1.0 + (12.0 / 11.0 - 1.0) - (18.0 / 19.0 - 1.0), 0, 1e-15);
    QA_CHECK_ERR(qa_evaluate_topk(close2, sig2, 2, 4, 3, 3, &o2, &bt, NULL), QA_ERR_INVALID_ARG, "range");
}

/* An independent implementation: selection by repeated scans instead of a sort. */
static double reference_topk(const double *close, const double *sig, int S, int T, int k, double cost, double *E_out) {
    double w[16] = {0}, last[16], E = 1.0;
    for (int s = 0; s < S; s++) last[s] = close[s * T];
    for (int t = 1; t < T; t++) {
        double nw[16];
        int any = 0, used[16] = {0}, elig = 0;
        for (int s = 0; s < S; s++) {
            nw[s] = isnan(close[s * T + t]) ? w[s] : 0.0;
            any |= !isnan(close[s * T + t]);
            elig += !isnan(close[s * T + t]) && !isnan(sig[s * T + t]);
        }
        if (!any) continue;
        if (elig >= 2 * k) {
            for (int j = 0; j < k; j++) { /* smallest (signal, index) not yet used -> short */
                int best = -1;
                for (int s = 0; s < S; s++)
                    if (!used[s] && !isnan(close[s * T + t]) && !isnan(sig[s * T + t]) &&
                        (best < 0 || sig[s * T + t] < sig[best * T + t]))
                        best = s;
                QA_REQUIRE(best >= 0); /* elig >= 2k: an unused eligible symbol remains */
                used[best] = 1;
                nw[best] = -0.5 / k;
            }
            for (int j = 0; j < k; j++) { /* largest (signal, index) -> long */
                int best = -1;
                for (int s = 0; s < S; s++)
                    if (!used[s] && !isnan(close[s * T + t]) && !isnan(sig[s * T + t]) &&
                        (best < 0 || sig[s * T + t] >= sig[best * T + t]))
                        best = s;
                QA_REQUIRE(best >= 0); /* elig >= 2k: an unused eligible symbol remains */
                used[best] = 1;
                nw[best] = 0.5 / k;
            }
        }
        double R = 0.0;
        for (int s = 0; s < S; s++) {
            if (isnan(close[s * T + t])) continue;
            R += w[s] * (close[s * T + t] / last[s] - 1.0) - cost * fabs(nw[s] - w[s]);
            last[s] = close[s * T + t];
        }
        for (int s = 0; s < S; s++) w[s] = nw[s];
        E *= 1.0 + R;
        E_out[t] = E;
    }
    return E;
}

static void test_topk_random(void) {
    enum { S = 9, T = 80 };
    double close[S * T], sig[S * T], eq[T], ref_eq[T];
    for (uint64_t seed = 1; seed <= 20; seed++) {
        for (int s = 0; s < S; s++) {
            double p = 50.0;
            for (int t = 0; t < T; t++) {
                p *= exp(0.02 * qa_rng_normal(seed, 1, (uint64_t)(s * T + t)));
                int gap = t > 0 && qa_rng_uniform(seed, 2, (uint64_t)(s * T + t)) < 0.1;
                close[s * T + t] = gap ? NAN : p;
                double u = qa_rng_uniform(seed, 3, (uint64_t)(s * T + t));
                sig[s * T + t] = u < 0.1 ? NAN : floor(u * 6.0); /* many ties */
            }
        }
        int k = 1 + (int)(seed % 3);
        qa_evaluate_topk_opts o = {k, k, 0.5, 0.5, 7.0, 252.0};
        qa_evaluate_bt bt;
        QA_CHECK_OK(qa_evaluate_topk(close, sig, S, T, 0, T, &o, &bt, eq));
        for (int t = 0; t < T; t++) ref_eq[t] = NAN;
        double E = reference_topk(close, sig, S, T, k, 7e-4, ref_eq);
        QA_CHECK_NEAR(bt.total_return, E - 1.0, 1e-14, 1e-12);
        size_t bad = 0;
        for (int t = 1; t < T; t++) bad += !isnan(ref_eq[t]) && fabs(eq[t] - ref_eq[t]) > 1e-12 * ref_eq[t];
        QA_CHECK_MSG(bad == 0, "seed %llu: %zu equity values differ", (unsigned long long)seed, bad);
    }
}

/* qa_evaluate_topk runs the sweep engine's qa_bt_xs_topk: its metrics and equity must be
 * the engine's (the evaluation only converts turnover to an annual figure). */
static void test_topk_matches_sweep_engine(void) {
    enum { S = 11, T = 120 };
    double close[S * T], sig[S * T], eq[T], eq2[T];
    qa_backend_t *be = NULL;
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &be));
    for (uint64_t seed = 1; be && seed <= 10; seed++) {
        for (int s = 0; s < S; s++) {
            double p = 30.0;
            for (int t = 0; t < T; t++) {
                p *= exp(0.015 * qa_rng_normal(seed, 11, (uint64_t)(s * T + t)));
                close[s * T + t] = t > 0 && qa_rng_uniform(seed, 12, (uint64_t)(s * T + t)) < 0.08 ? NAN : p;
                double u = qa_rng_uniform(seed, 13, (uint64_t)(s * T + t));
                sig[s * T + t] = u < 0.1 ? NAN : floor(u * 8.0);
            }
        }
        int k = 1 + (int)(seed % 3);
        size_t t0 = 5 + seed, t1 = T - seed;
        qa_evaluate_topk_opts o = {k, k, 0.5, 0.5, 4.0, 252.0};
        qa_evaluate_bt mine;
        QA_CHECK_OK(qa_evaluate_topk(close, sig, S, T, t0, t1, &o, &mine, eq));
        qa_bt_data data = {close, NULL, NULL, NULL, sig, S, T, t0, t1};
        qa_bt_xs_settings xs = {k, k, 0.5, 0.5, 4.0, 252.0};
        qa_bt_metrics theirs;
        QA_CHECK_OK(qa_bt_xs_topk(be, &data, &xs, &theirs, eq2));
        QA_CHECK_INT(mine.bars, theirs.bars);
        QA_CHECK_NEAR(mine.total_return, theirs.total_return, 1e-14, 1e-12);
        QA_CHECK_NEAR(mine.sharpe, theirs.sharpe, 1e-12, 1e-12);
        QA_CHECK_NEAR(mine.max_drawdown, theirs.max_drawdown, 1e-14, 1e-12);
        QA_CHECK_NEAR(mine.hit_rate, theirs.hit_rate, 1e-14, 1e-12);
        qa_test_near_arrays("equity vs qa_bt_xs_topk", eq, eq2, t1 - t0, 1e-14, 1e-12);
    }
    qa_backend_free(be);
}

static void test_correlations(void) {
    double x[4] = {1, 2, 3, 4}, y[4] = {2, 4, 6, 8}, z[4] = {4, 3, 2, 1}, scr[16];
    QA_CHECK_NEAR(qa_evaluate_pearson(x, y, 4), 1.0, 1e-15, 0);
    QA_CHECK_NEAR(qa_evaluate_pearson(x, z, 4), -1.0, 1e-15, 0);
    double a[3] = {1, 2, 3}, b[3] = {1, 3, 2};
    QA_CHECK_NEAR(qa_evaluate_pearson(a, b, 3), 0.5, 1e-15, 0);
    double t1[4] = {1, 2, 2, 3}; /* average ranks 1, 2.5, 2.5, 4 */
    QA_CHECK_NEAR(qa_evaluate_spearman(t1, x, 4, scr), 4.5 / sqrt(22.5), 1e-15, 0);
    double c[4] = {5, 5, 5, 5};
    QA_CHECK(isnan(qa_evaluate_pearson(c, x, 4)));
    QA_CHECK(isnan(qa_evaluate_pearson(x, y, 1)));
}

static void test_prediction_metrics(void) {
    tt_fixture fx;
    if (tt_setup(&fx, "evaluate", 7, 400, 5)) return;
    qa_model_spec s;
    memset(&s, 0, sizeof s);
    snprintf(s.inputs[0].name, sizeof s.inputs[0].name, "f_noise");
    s.inputs[0].bar = -1;
    s.ninputs = 1, s.window = 1, s.horizon = 3, s.target = QA_MODEL_TARGET_RETURN, s.classes = 1;
    s.start = INT64_MIN, s.train_end = TT_T0 + 200 * TT_DAY, s.val_end = TT_T0 + 300 * TT_DAY, s.end = INT64_MAX;
    qa_store_t *st = NULL;
    qa_train_data d;
    QA_CHECK_OK(qa_store_open(fx.store, NULL, QA_STORE_READ, &st));
    QA_CHECK_OK(qa_train_data_load(st, &s, NULL, &d));
    qa_store_close(st);
    const int k = QA_TRAIN_SPLIT_TEST;
    size_t n = d.npred[k];
    double *score = malloc(n * sizeof *score);
    qa_evaluate_opts o = {2, 0.0, 3};
    qa_evaluate_metrics m;
    for (size_t i = 0; i < n; i++) score[i] = d.ret[d.pred_rows[k][i]];
    QA_CHECK_OK(qa_evaluate_predictions(&d, k, score, &o, &m));
    QA_CHECK_NEAR(m.ic.mean, 1.0, 1e-12, 0);
    QA_CHECK_NEAR(m.rank_ic.mean, 1.0, 1e-12, 0);
    QA_CHECK_NEAR(m.dir_acc, 1.0, 0, 0);
    QA_CHECK_NEAR(m.mse, 0.0, 0, 0);
    QA_CHECK(m.mse_zero > 0 && m.labelled + 3 * 7 >= n && m.labelled <= n);
    qa_evaluate_metrics_free(&m);
    for (size_t i = 0; i < n; i++) score[i] = -d.ret[d.pred_rows[k][i]];
    QA_CHECK_OK(qa_evaluate_predictions(&d, k, score, &o, &m));
    QA_CHECK_NEAR(m.ic.mean, -1.0, 1e-12, 0);
    QA_CHECK_NEAR(m.dir_acc, 0.0, 0, 0);
    qa_evaluate_metrics_free(&m);
    /* random scores: IC mean and t against a brute-force pass over timestamps */
    for (size_t i = 0; i < n; i++) score[i] = qa_rng_normal(77, 1, i);
    QA_CHECK_OK(qa_evaluate_predictions(&d, k, score, &o, &m));
    double sum = 0.0, sq = 0.0, xs[16], ys[16];
    size_t nt = 0;
    for (size_t t = 0; t < d.ntime; t++) {
        size_t c = 0;
        for (size_t i = 0; i < n; i++) {
            uint32_t r = d.pred_rows[k][i];
            if ((size_t)d.row_t[r] == t && !isnan(d.ret[r])) xs[c] = score[i], ys[c] = d.ret[r], c++;
        }
        if (c < 3) continue;
        double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
        for (size_t j = 0; j < c; j++) mx += xs[j] / c, my += ys[j] / c;
        for (size_t j = 0; j < c; j++)
            sxy += (xs[j] - mx) * (ys[j] - my), sxx += (xs[j] - mx) * (xs[j] - mx), syy += (ys[j] - my) * (ys[j] - my);
        double ic = sxy / sqrt(sxx * syy);
        sum += ic, sq += ic * ic, nt++;
    }
    double mean = sum / nt, sd = sqrt((sq - nt * mean * mean) / (nt - 1));
    QA_CHECK_INT(m.ic.n, nt);
    QA_CHECK_NEAR(m.ic.mean, mean, 1e-12, 1e-9);
    QA_CHECK_NEAR(m.ic.t, mean / sd * sqrt((double)nt), 1e-9, 1e-6);
    QA_CHECK(m.equity_n > 0 && m.equity[0] == 1.0 && m.bt.bars > 0);
    qa_evaluate_metrics_free(&m);
    free(score);
    qa_train_data_free(&d);
    qa_test_rmtree(fx.dir);
}

int main(void) {
    QA_RUN(test_topk_by_hand);
    QA_RUN(test_topk_random);
    QA_RUN(test_topk_matches_sweep_engine);
    QA_RUN(test_correlations);
    QA_RUN(test_prediction_metrics);
    return qa_test_finish();
}
