/* The distributed scenario engine against a slow straightforward evaluation in this test
 * (sort every loss; sum positions over the tail by hand) under each revaluation mode of
 * the linear positions (full e (e^x - 1), delta e x, delta-gamma e (x + x^2/2)), the
 * Monte-Carlo VaR of a linear book against the closed-form normal VaR (delta), fused vs
 * general revaluation paths, and
 * (under mpirun) bitwise equality of 1 and N ranks with block and chunk sizes that do not
 * divide the scenario count. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/mem.h" /* QA_FREE_ALL */
#include "harness.h"
#include "kernels/backend.h"
#include "kernels/risk.h"
#include "mpi/comm.h"
#include "mpi_test.h" /* qa_test_finish_comm */
#include "pipeline/stress/stress_engine.h"

#define N 5     /* factors */
#define P 7     /* positions: 5 linear + 2 options */
#define T 2501  /* historical scenarios */

static qa_comm_t *comm;
static qa_risk_ctx_t *ctx;
static uint64_t seed;

/* A small uniform generator (splitmix64) for test inputs; the seed is printed. */
static uint64_t sm_state;
static double unif(void) {
    uint64_t z = (sm_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void) { return sqrt(-2.0 * log(unif())) * cos(6.283185307179586 * unif()); }

/* The book: positions 0, 2, 3, 5, 6 linear on factors 0..4; 1 a long call on factor 0,
 * 4 a short put on factor 2. */
static double e_lin[N * 5], w[N];
static size_t lin_pos[5] = {0, 2, 3, 5, 6}, opt_pos[2] = {1, 4}, lin_only[5] = {0, 1, 2, 3, 4};
static qa_risk_option opt[2];
static const double horizon = 1.0 / 252;

static void make_book(void) {
    memset(e_lin, 0, sizeof e_lin);
    memset(w, 0, sizeof w);
    for (size_t i = 0; i < 5; i++) {
        double e = (unif() < 0.2 ? -1.0 : 1.0) * (50000.0 + 100000.0 * unif());
        e_lin[i * 5 + i] = e; /* position lin_pos[i] on factor i */
        w[i] += e;
    }
    opt[0] = (qa_risk_option){300.0, 100.0, 105.0, 0.25, 0.25, 0.03, 0.01, QA_RISK_CALL, 0, -1, -1};
    opt[1] = (qa_risk_option){-500.0, 50.0, 45.0, 0.5, 0.35, 0.03, 0.0, QA_RISK_PUT, 2, -1, -1};
}

/* Delta-gamma exposures: e on x, e/2 on x^2 (2N rows). */
static double e_dg[2 * N * 5], w_dg[2 * N];

static qa_stress_engine_book book(int with_options, qa_risk_reval mode) {
    int dg = mode == QA_RISK_REVAL_DELTA_GAMMA;
    memset(e_dg, 0, sizeof e_dg);
    for (size_t k = 0; k < N * 5; k++) e_dg[k] = e_lin[k], e_dg[N * 5 + k] = 0.5 * e_lin[k];
    for (size_t j = 0; j < N; j++) w_dg[j] = w[j], w_dg[N + j] = 0.5 * w[j];
    qa_stress_engine_book b = {N, with_options ? P : 5, 5, mode, dg ? e_dg : e_lin, dg ? w_dg : w, NULL,
                               with_options ? lin_pos : lin_only, with_options ? 2 : 0, opt, opt_pos, horizon};
    return b;
}

/* Reference revaluation of scenario x, per position (the definitions of docs/risk.md). */
static double ref_pnl(const double *x, double *pos, qa_risk_reval mode) {
    double tot = 0.0;
    for (size_t i = 0; i < 5; i++) {
        double f = mode == QA_RISK_REVAL_FULL ? expm1(x[i]) : mode == QA_RISK_REVAL_DELTA ? x[i] : x[i] + 0.5 * x[i] * x[i];
        pos[lin_pos[i]] = e_lin[i * 5 + i] * f;
    }
    for (size_t k = 0; k < 2; k++) {
        const qa_risk_option *o = &opt[k];
        double s1 = o->spot * exp(x[o->factor]);
        pos[opt_pos[k]] = o->quantity * (qa_risk_bs_price(o->type, s1, o->strike, o->expiry - horizon, o->vol, o->rate, o->div_yield) -
                                         qa_risk_bs_price(o->type, o->spot, o->strike, o->expiry, o->vol, o->rate, o->div_yield));
    }
    for (size_t j = 0; j < P; j++) tot += pos[j];
    return tot;
}

typedef struct item {
    double loss;
    size_t idx;
} item;
static int cmp_item(const void *a, const void *b) {
    const item *x = a, *y = b;
    if (x->loss != y->loss) return x->loss > y->loss ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}
static size_t tail_m(double alpha, size_t n) {
    size_t k = (size_t)ceil(alpha * (double)n - 1e-9);
    return n - k + 1;
}

static void test_matrix_vs_reference(qa_risk_reval mode) {
    printf("  matrix source, %s revaluation\n", qa_risk_reval_names[mode]);
    double *x = malloc(T * N * sizeof *x), *pos = malloc(T * P * sizeof *pos);
    item *it = malloc(T * sizeof *it);
    for (size_t s = 0; s < T * N; s++) x[s] = 0.02 * gauss();
    const double levels[3] = {0.95, 0.99, 0.975};
    qa_stress_engine_book b = book(1, mode);
    qa_stress_engine_source src = {QA_STRESS_SOURCE_MATRIX, T, {0, 0, 0, 0}, NULL, NULL, x};
    qa_stress_engine_opts o = {levels, 3, 97, 41, 1, 1, 0, 300, NULL};
    qa_stress_engine_result r;
    QA_CHECK_OK(qa_stress_engine_run(ctx, NULL, &b, &src, &o, &r));
    double scale = 0.0;
    for (size_t s = 0; s < T; s++) {
        it[s].loss = -ref_pnl(x + s * N, pos + s * P, mode) + 0.0;
        it[s].idx = s;
        scale = fmax(scale, fabs(it[s].loss));
    }
    for (size_t s = 0; s < 300; s++) QA_CHECK_NEAR(r.sample[s], it[s].loss, 1e-12 * scale, 0);
    qsort(it, T, sizeof *it, cmp_item);
    for (size_t l = 0; l < 3; l++) {
        size_t m = tail_m(levels[l], T), h = (size_t)floor(sqrt((double)m));
        double es = 0.0, ces[P] = {0}, cvar[P] = {0}, tot = 0.0, sum_es = 0.0, sum_var = 0.0;
        for (size_t i = 0; i < m; i++) es += it[i].loss;
        es /= (double)m;
        /* Budget: every P&L differs from the reference by rounding only (~1e-15 of the
         * scale); order statistics and tail means move by at most that. */
        QA_CHECK_NEAR(r.var[l], it[m - 1].loss, 1e-12 * scale, 0);
        QA_CHECK_NEAR(r.es[l], es, 1e-12 * scale, 0);
        QA_CHECK_INT(r.var_index[l], it[m - 1].idx);
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < P; j++) ces[j] -= pos[it[i].idx * P + j] / (double)m;
        size_t lo = m - 1 - h, hi = m - 1 + h;
        for (size_t i = lo; i <= hi; i++)
            for (size_t j = 0; j < P; j++) cvar[j] -= pos[it[i].idx * P + j] / (double)(hi - lo + 1);
        for (size_t j = 0; j < P; j++) tot += cvar[j];
        for (size_t j = 0; j < P; j++) cvar[j] *= it[m - 1].loss / tot;
        qa_test_near_arrays("component ES", r.comp_es + l * P, ces, P, 1e-11 * scale, 0);
        qa_test_near_arrays("component VaR", r.comp_var + l * P, cvar, P, 1e-11 * scale, 0);
        for (size_t j = 0; j < P; j++) sum_es += r.comp_es[l * P + j], sum_var += r.comp_var[l * P + j];
        QA_CHECK_NEAR(sum_es, r.es[l], 1e-11 * scale, 0);   /* Euler: components add up */
        QA_CHECK_NEAR(sum_var, r.var[l], 1e-11 * scale, 0);
        /* Incremental: VaR of the book minus VaR of the book without position j. */
        for (size_t j = 0; j < P; j++) {
            item *wo = malloc(T * sizeof *wo);
            for (size_t s = 0; s < T; s++) {
                double t = 0.0;
                for (size_t q = 0; q < P; q++) t += pos[s * P + q];
                wo[s].loss = -(t - pos[s * P + j]) + 0.0;
                wo[s].idx = s;
            }
            qsort(wo, T, sizeof *wo, cmp_item);
            QA_CHECK_NEAR(r.incr_var[l * P + j], it[m - 1].loss - wo[m - 1].loss, 1e-11 * scale, 0);
            double e2 = 0.0;
            for (size_t i = 0; i < m; i++) e2 += wo[i].loss;
            QA_CHECK_NEAR(r.incr_es[l * P + j], es - e2 / (double)m, 1e-11 * scale, 0);
            free(wo);
        }
    }
    qa_stress_engine_result_free(&r);
    QA_FREE_ALL(x, pos, it);
}

/* Monte Carlo of a linear book: VaR converges to the closed form z_alpha sqrt(w' S w)
 * within its standard error sqrt(a (1 - a) / n) sigma / phi(z_a) (4 SE allowed); the
 * fused path (no options) and the general path (an option of quantity 0) revalue the same
 * scenarios. */
static void test_mc_converges(void) {
    double cov[N * N], l[N * N], a[N * N];
    for (size_t i = 0; i < N * N; i++) a[i] = 0.01 * gauss();
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < N; j++) {
            double s = i == j ? 1e-4 : 0.0;
            for (size_t k = 0; k < N; k++) s += a[i * N + k] * a[j * N + k];
            cov[i * N + j] = s;
        }
    QA_CHECK_OK(qa_risk_cholesky(ctx, cov, N, 0, l, NULL));
    const double levels[2] = {0.99, 0.95};
    const uint64_t n = 200000;
    qa_stress_engine_book b = book(0, QA_RISK_REVAL_DELTA);
    qa_stress_engine_source src = {QA_STRESS_SOURCE_MC, n, {seed, 4, QA_RISK_DIST_NORMAL, 0}, l, NULL, NULL};
    qa_stress_engine_opts o = {levels, 2, 16384, 1024, 1, 0, 0, 0, NULL};
    qa_stress_engine_result r;
    QA_CHECK_OK(qa_stress_engine_run(ctx, comm, &b, &src, &o, &r));
    double var_w = 0.0;
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < N; j++) var_w += w[i] * cov[i * N + j] * w[j];
    double sigma = sqrt(var_w);
    for (size_t k = 0; k < 2; k++) {
        double z = qa_risk_norm_ppf(levels[k]), se = sqrt(levels[k] * (1 - levels[k]) / (double)n) * sigma / qa_risk_norm_pdf(z);
        printf("  MC VaR %.2f%%: %.2f vs closed form %.2f (SE %.2f)\n", 100 * levels[k], r.var[k], z * sigma, se);
        QA_CHECK_NEAR(r.var[k], z * sigma, 4 * se, 0);
        double es = sigma * qa_risk_norm_pdf(z) / (1 - levels[k]);
        QA_CHECK_NEAR(r.es[k], es, 6 * se, 0);
    }
    if (qa_comm_rank(comm) == 0) {
        double s = 0.0;
        for (size_t j = 0; j < 5; j++) s += r.comp_var[j];
        QA_CHECK_NEAR(s, r.var[0], 1e-10 * r.var[0], 0);
    }
    /* The general path (an option with quantity 0 forces non-fused shocks L eps). */
    qa_risk_option zero = opt[0];
    zero.quantity = 0.0;
    size_t lp[5] = {0, 1, 2, 3, 4}, op[1] = {5};
    qa_stress_engine_book b2 = {N, 6, 5, QA_RISK_REVAL_DELTA, e_lin, w, NULL, lp, 1, &zero, op, horizon};
    qa_stress_engine_result r2;
    QA_CHECK_OK(qa_stress_engine_run(ctx, comm, &b2, &src, &o, &r2));
    for (size_t k = 0; k < 2; k++) QA_CHECK_NEAR(r2.var[k], r.var[k], 1e-10 * r.var[k], 0); /* rounding of two product orders */
    qa_stress_engine_result_free(&r);
    qa_stress_engine_result_free(&r2);
}

static int same(const void *a, const void *b, size_t bytes) { return (!a && !b) || (a && b && memcmp(a, b, bytes) == 0); }

/* N ranks (comm) vs one process (NULL) on every rank: bitwise equal results on rank 0. */
static void test_ranks_bitwise(void) {
    double *x = malloc(T * N * sizeof *x), cov[N * N], l[N * N];
    for (size_t s = 0; s < T * N; s++) x[s] = 0.015 * gauss();
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < N; j++) cov[i * N + j] = (i == j ? 4e-4 : 1e-4);
    QA_CHECK_OK(qa_risk_cholesky(ctx, cov, N, 0, l, NULL));
    const double levels[2] = {0.975, 0.9};
    qa_stress_engine_source srcs[4] = {{QA_STRESS_SOURCE_MATRIX, T, {0, 0, 0, 0}, NULL, NULL, x},
                                       {QA_STRESS_SOURCE_MC, 30001, {seed, 0, QA_RISK_DIST_STUDENT_T, 5}, l, NULL, NULL},
                                       {QA_STRESS_SOURCE_MC, 30001, {seed, 2, QA_RISK_DIST_NORMAL, 0}, l, NULL, NULL},
                                       {QA_STRESS_SOURCE_MC, 30001, {seed, 6, QA_RISK_DIST_NORMAL, 0}, l, NULL, NULL}};
    for (size_t k = 0; k < 4; k++) {
        /* k = 0, 1: full revaluation with options; 2: the fused linear path (delta); 3: a
         * linear book in full revaluation (correlated shocks, expm1 per asset). */
        qa_stress_engine_book bk = k == 2 ? book(0, QA_RISK_REVAL_DELTA) : k == 3 ? book(0, QA_RISK_REVAL_FULL)
                                                                                   : book(1, QA_RISK_REVAL_FULL);
        qa_stress_engine_opts o = {levels, 2, 1000, 77, 1, 1, 0, 5000, NULL};
        qa_stress_engine_result a, c;
        QA_CHECK_OK(qa_stress_engine_run(ctx, comm, &bk, &srcs[k], &o, &a));
        QA_CHECK_OK(qa_stress_engine_run(ctx, NULL, &bk, &srcs[k], &o, &c));
        QA_CHECK(same(a.var, c.var, 2 * sizeof(double)) && same(a.es, c.es, 2 * sizeof(double)));
        QA_CHECK(same(a.var_index, c.var_index, 2 * sizeof(uint64_t)));
        if (qa_comm_rank(comm) == 0) {
            size_t pp = bk.p;
            QA_CHECK(same(a.comp_var, c.comp_var, 2 * pp * sizeof(double)));
            QA_CHECK(same(a.comp_es, c.comp_es, 2 * pp * sizeof(double)));
            QA_CHECK(same(a.incr_var, c.incr_var, 2 * pp * sizeof(double)));
            QA_CHECK(same(a.incr_es, c.incr_es, 2 * pp * sizeof(double)));
            size_t ns = srcs[k].count < 5000 ? (size_t)srcs[k].count : 5000;
            QA_CHECK_INT(a.nsample, ns);
            QA_CHECK(same(a.sample, c.sample, ns * sizeof(double)));
        }
        /* A different block size gives the same bits on the CPU (deterministic products). */
        o.block = 4096;
        qa_stress_engine_result d;
        QA_CHECK_OK(qa_stress_engine_run(ctx, comm, &bk, &srcs[k], &o, &d));
        QA_CHECK(same(a.var, d.var, 2 * sizeof(double)) && same(a.es, d.es, 2 * sizeof(double)));
        qa_stress_engine_result_free(&a);
        qa_stress_engine_result_free(&c);
        qa_stress_engine_result_free(&d);
    }
    free(x);
}

static void test_matrix_full(void) { test_matrix_vs_reference(QA_RISK_REVAL_FULL); }
static void test_matrix_delta(void) { test_matrix_vs_reference(QA_RISK_REVAL_DELTA); }
static void test_matrix_delta_gamma(void) { test_matrix_vs_reference(QA_RISK_REVAL_DELTA_GAMMA); }

static void test_errors(void) {
    const double bad_levels[1] = {1.0};
    qa_stress_engine_book b = book(1, QA_RISK_REVAL_FULL);
    double x[N] = {0};
    qa_stress_engine_source src = {QA_STRESS_SOURCE_MATRIX, 1, {0, 0, 0, 0}, NULL, NULL, x};
    qa_stress_engine_opts o = {bad_levels, 1, 10, 10, 0, 0, 0, 0, NULL};
    qa_stress_engine_result r;
    QA_CHECK_ERR(qa_stress_engine_run(ctx, NULL, &b, &src, &o, &r), QA_ERR_INVALID_ARG, "level 1");
    src.count = 0;
    QA_CHECK_ERR(qa_stress_engine_run(ctx, NULL, &b, &src, &o, &r), QA_ERR_INVALID_ARG, "no scenarios");
    /* One scenario, one level: m = 1, VaR = ES = its loss. */
    const double lv[1] = {0.99};
    o.levels = lv;
    src.count = 1;
    x[0] = -0.1;
    QA_CHECK_OK(qa_stress_engine_run(ctx, NULL, &b, &src, &o, &r));
    double pos[P], ref = -ref_pnl(x, pos, QA_RISK_REVAL_FULL);
    QA_CHECK_NEAR(r.var[0], ref, 1e-9, 1e-12);
    QA_CHECK_NEAR(r.es[0], ref, 1e-9, 1e-12);
    qa_stress_engine_result_free(&r);
}

/* A scenario count read from a config is checked against the machine before anything is
 * allocated: 1e12 Monte-Carlo scenarios at 95% keep a tail of m = 5e10 rows, each held 3
 * times at 16 bytes (items and a scratch of two), its index broadcast for contributions (8
 * bytes), and with R > 1 ranks gathered on rank 0 (16 R bytes): m (56 + 16 R) bytes, 2.55
 * TiB on one rank, plus the component-VaR bandwidth and block buffers (under 10%). */
static void test_memory_bound(void) {
    double l[N * N] = {0};
    for (size_t i = 0; i < N; i++) l[i * N + i] = 0.01;
    const double levels[1] = {0.95};
    qa_stress_engine_book b = book(0, QA_RISK_REVAL_DELTA);
    qa_stress_engine_source src = {QA_STRESS_SOURCE_MC, 1000000000000ull, {seed, 4, QA_RISK_DIST_NORMAL, 0}, l, NULL, NULL};
    qa_stress_engine_opts o = {levels, 1, 16384, 1024, 1, 0, 0, 0, NULL};
    qa_stress_engine_result r;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    QA_CHECK_ERR(qa_stress_engine_run(ctx, comm, &b, &src, &o, &r), QA_ERR_LIMIT, "need an estimated");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    QA_CHECK_MSG(secs < 1.0, "refused after %.2f s (before any allocation or scan: well under 1 s)", secs);
    if (qa_comm_rank(comm) == 0) { /* other ranks hold the agreed status only */
        const char *msg = qa_err_msg(), *at = strstr(msg, "need an estimated ");
        double tib = 0.0;
        QA_CHECK_MSG(strstr(msg, "1000000000000 scenarios (a loss tail of 5e+10 rows at level 0.95"), "message: %s", msg);
        int R = qa_comm_size(comm);
        double want = 5e10 * (56.0 + (R > 1 ? 16.0 * R : 0.0)) / 1099511627776.0;
        QA_CHECK_MSG(at && sscanf(at, "need an estimated %lf TiB", &tib) == 1 && tib >= want - 0.05 && tib < 1.1 * want,
                     "estimate %.3f TiB, expected the tail's %.3f TiB plus under 10%% (%s)", tib, want, msg);
        QA_CHECK_MSG(strstr(msg, "available: use fewer scenarios"), "message names the available memory: %s", msg);
    }
    /* the same book with 1e5 scenarios fits any machine that runs the tests */
    src.count = 100000;
    QA_CHECK_OK(qa_stress_engine_run(ctx, comm, &b, &src, &o, &r));
    qa_stress_engine_result_free(&r);
}

int main(int argc, char **argv) {
    if (qa_comm_create(&argc, &argv, &comm) != QA_OK) return 1;
    seed = getenv("QA_TEST_SEED") ? strtoull(getenv("QA_TEST_SEED"), NULL, 10) : (uint64_t)time(NULL);
    qa_comm_bcast(comm, &seed, sizeof seed, 0);
    if (qa_comm_rank(comm) == 0) printf("seed %llu (QA_TEST_SEED to repeat), %d rank(s)\n", (unsigned long long)seed, qa_comm_size(comm));
    sm_state = seed;
    qa_backend_t *be = NULL;
    if (qa_backend_create(QA_BACKEND_CPU, 0, &be) != QA_OK || qa_risk_ctx_create(be, &ctx) != QA_OK) return 1;
    /* Ranks share the cores: one thread each (spinning OpenMP teams would oversubscribe). */
    if (qa_comm_size(comm) > 1) qa_backend_set_threads(be, 1);
    make_book();
    if (qa_comm_size(comm) == 1) {
        QA_RUN(test_matrix_full);
        QA_RUN(test_matrix_delta);
        QA_RUN(test_matrix_delta_gamma);
        QA_RUN(test_errors);
    }
    QA_RUN(test_mc_converges);
    QA_RUN(test_ranks_bitwise);
    QA_RUN(test_memory_bound);
    qa_risk_ctx_free(ctx);
    qa_backend_free(be);
    int rc = qa_test_finish_comm(comm);
    qa_comm_free(comm);
    return rc;
}
