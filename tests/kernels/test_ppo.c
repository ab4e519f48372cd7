/* PPO kernels (kernels/ppo.h): GAE by hand and against a straightforward double loop,
 * loss gradients against central differences of double-precision losses written here,
 * the clipping branches, sampling frequencies and moments, running observation
 * statistics against two passes over the concatenated data, argument checks and edge
 * cases, the optimised CPU path against the reference bit for bit (guard bytes around
 * every output), and (gpu mode) CUDA against the CPU reference on random inputs.
 *
 * Budgets, |x - ref| <= atol + rtol |ref|:
 *  - GAE by hand: 1e-6 rel (gamma 0.9f, lambda 0.8f are 3e-8 off the decimals; float out).
 *  - GAE vs the test's double loop: 2.4e-7 rel (float rounding of the output, 2x margin)
 *    + 1e-9 abs (the same double arithmetic in another association).
 *  - gradients vs central differences (double, h = 1e-5): 1e-6 max|g| + 1e-6 rel; the
 *    numeric gradient is ~1e-10 accurate (truncation h^2 |f'''| / 6, rounding
 *    1e-16 |L| / h), the kernel's is a double result rounded to float (6e-8 rel).
 *  - stats vs the test's double losses: 1e-12 rel + 1e-14 abs (both double, other code).
 *  - sampling: empirical frequencies and moments within 4 standard errors.
 *  - observation statistics vs two passes over the concatenated data: 1e-12 rel (+1e-14
 *    abs); Chan's merge is exact in exact arithmetic, each merge adds ~1e-16 rounding.
 *  - CPU path vs reference: bit-identical (same per-row code, same summation order).
 *  - CUDA vs CPU reference (see test_gpu_parity). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/philox.h" /* random inputs */
#include "kernel_test.h"   /* harness, modes, GPU skip */
#include "nn_test.h"      /* nn_fd_grad */
#include "kernels/ppo.h"

static uint64_t g_seed; /* the run's seed (qa_test_seed: printed, QA_TEST_SEED repeats it) */

#define LOG_2PI 1.8378770664093454836

/* ---- helpers ------------------------------------------------------------------------------- */

static qa_backend_t *cpu_backend(int reference, int threads) {
    qa_backend_t *be = NULL;
    if (qa_backend_create(QA_BACKEND_CPU, 0, &be) != QA_OK) {
        printf("cannot create CPU backend: %s\n", qa_err_msg());
        exit(1);
    }
    qa_backend_set_reference(be, reference);
    qa_backend_set_threads(be, threads);
    return be;
}

/* n floats N(mu, sd^2) from stream `stream` of the run seed (malloc'ed). */
static float *randn(size_t n, uint64_t stream, double mu, double sd) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(mu + sd * qa_rng_normal(g_seed, stream, i));
    return x;
}

static double unif(uint64_t stream, uint64_t i) { return qa_rng_uniform(g_seed, stream, i); }

static double *to_double(const float *x, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static int near_f(const char *what, const float *got, const float *ref, size_t n, double atol, double rtol) {
    double *g = to_double(got, n), *r = to_double(ref, n);
    int ok = qa_test_near_arrays(what, g, r, n, atol, rtol);
    free(g), free(r);
    return ok;
}

static double max_abs(const double *x, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        if (fabs(x[i]) > m) m = fabs(x[i]);
    return m;
}

/* ---- the test's own double-precision losses ------------------------------------------------- */

/* The clipped surrogate of one row: adds -min(s1, s2) to *pg, (ratio - 1) - log ratio to
 * *kl and the clip indicator to *cf. */
static void surrogate_d(double logp, double logp_old, double adv, double clip, double *pg, double *kl, double *cf) {
    double ratio = exp(logp - logp_old);
    double s1 = ratio * adv, s2 = fmin(fmax(ratio, 1.0 - clip), 1.0 + clip) * adv;
    *pg += -fmin(s1, s2);
    *kl += (ratio - 1.0) - (logp - logp_old);
    *cf += fabs(ratio - 1.0) > clip;
}

typedef struct cat_problem {
    int B, A;
    double *z; /* logits, varied by the finite differences */
    const int32_t *action;
    const float *logp_old, *adv;
    double clip, ent_coef;
    double pg, ent, kl, cf; /* means, set by cat_loss_d */
} cat_problem;

/* -mean(min(s1, s2)) - ent_coef mean(H) of the categorical head. */
static double cat_loss_d(void *ctx) {
    cat_problem *p = ctx;
    double pg = 0, ent = 0, kl = 0, cf = 0;
    for (int i = 0; i < p->B; i++) {
        const double *z = p->z + (size_t)i * p->A;
        double m = z[0];
        for (int j = 1; j < p->A; j++) m = fmax(m, z[j]);
        double s = 0;
        for (int j = 0; j < p->A; j++) s += exp(z[j] - m);
        /* cppcheck-suppress invalidFunctionArg ; the sum holds exp(0) = 1 for the maximum: >= 1 */
        double lse = m + log(s), h = 0;
        for (int j = 0; j < p->A; j++) h -= exp(z[j] - lse) * (z[j] - lse);
        ent += h;
        surrogate_d(z[p->action[i]] - lse, p->logp_old[i], p->adv[i], p->clip, &pg, &kl, &cf);
    }
    p->pg = pg / p->B, p->ent = ent / p->B, p->kl = kl / p->B, p->cf = cf / p->B;
    return p->pg - p->ent_coef * p->ent;
}

typedef struct gauss_problem {
    int B, A;
    double *mu, *log_std; /* varied by the finite differences */
    const float *action, *logp_old, *adv;
    double clip, ent_coef;
    double pg, ent, kl, cf;
} gauss_problem;

static double gauss_logp_d(int A, const double *mu, const double *log_std, const float *a) {
    double lp = 0;
    for (int j = 0; j < A; j++) {
        double x = (a[j] - mu[j]) / exp(log_std[j]);
        lp += -0.5 * x * x - log_std[j] - 0.5 * LOG_2PI;
    }
    return lp;
}

static double gauss_loss_d(void *ctx) {
    gauss_problem *p = ctx;
    double pg = 0, kl = 0, cf = 0, h = 0;
    for (int i = 0; i < p->B; i++) {
        double lp = gauss_logp_d(p->A, p->mu + (size_t)i * p->A, p->log_std, p->action + (size_t)i * p->A);
        surrogate_d(lp, p->logp_old[i], p->adv[i], p->clip, &pg, &kl, &cf);
    }
    for (int j = 0; j < p->A; j++) h += p->log_std[j] + 0.5 * (1.0 + LOG_2PI);
    p->pg = pg / p->B, p->ent = h, p->kl = kl / p->B, p->cf = cf / p->B;
    return p->pg - p->ent_coef * h;
}

typedef struct value_problem {
    int B;
    double *v;
    const float *v_old, *ret;
    double clip, vf_coef;
    double half_mean; /* 0.5 mean(...), set by value_loss_d */
} value_problem;

static double value_loss_d(void *ctx) {
    value_problem *p = ctx;
    double s = 0;
    for (int i = 0; i < p->B; i++) {
        double l1 = (p->v[i] - p->ret[i]) * (p->v[i] - p->ret[i]);
        if (p->clip > 0) {
            double vc = p->v_old[i] + fmin(fmax(p->v[i] - p->v_old[i], -p->clip), p->clip);
            l1 = fmax(l1, (vc - p->ret[i]) * (vc - p->ret[i]));
        }
        s += 0.5 * l1;
    }
    p->half_mean = s / p->B;
    return p->vf_coef * p->half_mean;
}

static void check_stats(const double *stats, double pg, double ent, double kl, double cf, double total) {
    QA_CHECK_NEAR(stats[QA_PPO_STAT_PG], pg, 1e-14, 1e-12);
    QA_CHECK_NEAR(stats[QA_PPO_STAT_ENT], ent, 1e-14, 1e-12);
    QA_CHECK_NEAR(stats[QA_PPO_STAT_KL], kl, 1e-14, 1e-12);
    QA_CHECK_NEAR(stats[QA_PPO_STAT_CLIPFRAC], cf, 1e-14, 1e-12);
    QA_CHECK_NEAR(stats[QA_PPO_STAT_TOTAL], total, 1e-14, 1e-12);
    QA_CHECK(stats[6] == 0.0 && stats[7] == 0.0);
}

/* log softmax(z)[a] in double (the test's own). */
static double cat_logp_d(int A, const float *z, int a) {
    double m = z[0], s = 0;
    for (int j = 1; j < A; j++) m = fmax(m, z[j]);
    for (int j = 0; j < A; j++) s += exp(z[j] - m);
    /* cppcheck-suppress invalidFunctionArg ; the sum holds exp(0) = 1 for the maximum: >= 1 */
    return z[a] - m - log(s);
}

/* ---- GAE ------------------------------------------------------------------------------------------ */

/* T = 3, N = 2. Env 0 terminates at t = 1 (also flagged truncated, with a NaN final value:
 * termination wins and the value is not read); env 1 is truncated at t = 0 with final
 * value 4. gamma = 0.9, lambda = 0.8 (gamma lambda = 0.72):
 *   env 0: t=2 delta = 3 + 0.9*2.0 - 1.5 = 3.3             A = 3.3
 *          t=1 terminated: delta = 2 - 1.0 = 1.0           A = 1.0
 *          t=0 delta = 1 + 0.9*1.0 - 0.5 = 1.4             A = 1.4 + 0.72*1.0 = 2.12
 *   env 1: t=2 delta = 1 + 0.9*0.5 - 1 = 0.45              A = 0.45
 *          t=1 delta = 1 + 0.9*1 - 1 = 0.9                 A = 0.9 + 0.72*0.45 = 1.224
 *          t=0 truncated: delta = 1 + 0.9*4 - 1 = 3.6      A = 3.6
 * Returns = A + value. NaN final values elsewhere prove they are not read. */
static void test_gae_hand(void) {
    const float reward[] = {1, 1, 2, 1, 3, 1}, value[] = {0.5f, 1, 1.0f, 1, 1.5f, 1}, last[] = {2.0f, 0.5f};
    const uint8_t term[] = {0, 0, 1, 0, 0, 0}, trunc[] = {0, 1, 1, 0, 0, 0};
    const float final_value[] = {NAN, 4.0f, NAN, NAN, NAN, NAN};
    const double adv_ref[] = {2.12, 3.6, 1.0, 1.224, 3.3, 0.45}, ret_ref[] = {2.62, 4.6, 2.0, 2.224, 4.8, 1.45};
    for (int r = 0; r < 2; r++) {
        qa_backend_t *be = cpu_backend(r == 0, 2);
        float adv[6], ret[6];
        QA_CHECK_OK(qa_ppo_gae(be, 3, 2, 0.9f, 0.8f, reward, value, last, term, trunc, final_value, adv, ret));
        double a[6], t[6];
        for (int i = 0; i < 6; i++) a[i] = adv[i], t[i] = ret[i];
        qa_test_near_arrays("gae advantages by hand", a, adv_ref, 6, 0, 1e-6);
        qa_test_near_arrays("gae returns by hand", t, ret_ref, 6, 0, 1e-6);
        qa_backend_free(be);
    }
}

/* Random rollouts with ~8% terminations and ~8% truncations against a two-stage double
 * loop: all deltas first, then the backward recursion. */
static void test_gae_loop(void) {
    const int T = 37, N = 13;
    const size_t n = (size_t)T * N;
    float *reward = randn(n, 10, 0.1, 1.0), *value = randn(n, 11, 0.5, 1.0), *last = randn(N, 12, 0, 1);
    float *fv = randn(n, 13, 0, 1);
    uint8_t *term = malloc(n), *trunc = malloc(n);
    for (size_t k = 0; k < n; k++) {
        term[k] = unif(14, k) < 0.08;
        trunc[k] = unif(15, k) < 0.08;
    }
    const float gamma = 0.99f, lambda = 0.95f;
    double *delta = malloc(n * sizeof *delta), *adv_ref = malloc(n * sizeof *adv_ref), *ret_ref = malloc(n * sizeof *ret_ref);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < N; i++) {
            size_t k = (size_t)t * N + i;
            double next_v = term[k] ? 0.0 : trunc[k] ? fv[k] : (t == T - 1 ? last[i] : value[k + N]);
            delta[k] = reward[k] + (double)gamma * next_v - value[k];
        }
    for (int i = 0; i < N; i++) {
        double a = 0;
        for (int t = T - 1; t >= 0; t--) {
            size_t k = (size_t)t * N + i;
            int cont = !term[k] && !trunc[k];
            a = delta[k] + (cont ? (double)gamma * (double)lambda * a : 0.0);
            adv_ref[k] = a;
            ret_ref[k] = a + value[k];
        }
    }
    float *adv[2], *ret[2];
    for (int r = 0; r < 2; r++) {
        qa_backend_t *be = cpu_backend(r == 0, 2);
        adv[r] = malloc(n * sizeof(float)), ret[r] = malloc(n * sizeof(float));
        QA_CHECK_OK(qa_ppo_gae(be, T, N, gamma, lambda, reward, value, last, term, trunc, fv, adv[r], ret[r]));
        double *a = to_double(adv[r], n), *t = to_double(ret[r], n);
        qa_test_near_arrays("gae advantages vs double loop", a, adv_ref, n, 1e-9, 2.4e-7);
        qa_test_near_arrays("gae returns vs double loop", t, ret_ref, n, 1e-9, 2.4e-7);
        free(a), free(t);
        qa_backend_free(be);
    }
    QA_CHECK(memcmp(adv[0], adv[1], n * sizeof(float)) == 0 && memcmp(ret[0], ret[1], n * sizeof(float)) == 0);
    for (int r = 0; r < 2; r++) free(adv[r]), free(ret[r]);
    free(reward), free(value), free(last), free(fv), free(term), free(trunc), free(delta), free(adv_ref), free(ret_ref);
}

/* ---- categorical loss ---------------------------------------------------------------------------------- */

/* Ratios on every side of the clip range (clip 0.2) with both signs of advantage:
 * 0.6/+ and 1.4/- take the unclipped (steeper) branch, 0.7/- and 1.3/+ are clipped (no
 * policy gradient), the rest are inside. None is within 0.05 of a kink. */
static const double k_ratio[] = {0.6, 0.9, 1.0, 1.1, 1.4, 0.7, 1.3, 1.05, 0.95};
static const float k_adv[] = {1.0f, -0.5f, 0.8f, -1.2f, -0.7f, -1.5f, 2.0f, 0.3f, -0.4f};

static void test_cat_loss_gradient(void) {
    const int B = 9, A = 5;
    const double clip = 0.2f, ent_coef = 0.05f; /* the float values the kernel gets */
    float *z = randn((size_t)B * A, 20, 0.0, 1.5);
    int32_t action[9];
    float logp_old[9];
    for (int i = 0; i < B; i++) {
        action[i] = (i * 3) % A;
        logp_old[i] = (float)(cat_logp_d(A, z + (size_t)i * A, action[i]) - log(k_ratio[i]));
    }
    cat_problem p = {B, A, to_double(z, (size_t)B * A), action, logp_old, k_adv, clip, ent_coef, 0, 0, 0, 0};
    double *num = malloc((size_t)B * A * sizeof *num);
    nn_fd_grad(cat_loss_d, &p, p.z, (size_t)B * A, num);
    double total = cat_loss_d(&p);
    float *dz[2];
    double *scratch = malloc(qa_ppo_scratch_doubles(B, A) * sizeof(double));
    for (int r = 0; r < 2; r++) {
        qa_backend_t *be = cpu_backend(r == 0, 2);
        double stats[QA_PPO_STATS];
        dz[r] = malloc((size_t)B * A * sizeof(float));
        QA_CHECK_OK(qa_ppo_cat_loss(be, B, A, z, action, logp_old, k_adv, (float)clip, (float)ent_coef, dz[r], stats,
                                    scratch));
        double *g = to_double(dz[r], (size_t)B * A);
        qa_test_near_arrays("categorical dlogits vs central differences", g, num, (size_t)B * A,
                            1e-6 * max_abs(num, (size_t)B * A), 1e-6);
        check_stats(stats, p.pg, p.ent, p.kl, p.cf, total);
        QA_CHECK_NEAR(stats[QA_PPO_STAT_CLIPFRAC], 4.0 / 9.0, 0, 1e-15); /* 0.6, 1.4, 0.7, 1.3 */
        free(g);
        qa_backend_free(be);
    }
    QA_CHECK(memcmp(dz[0], dz[1], (size_t)B * A * sizeof(float)) == 0);
    free(dz[0]), free(dz[1]), free(scratch), free(num), free(p.z), free(z);
}

/* ---- Gaussian loss --------------------------------------------------------------------------------------- */

static void test_gauss_loss_gradient(void) {
    const int B = 9, A = 3;
    const double clip = 0.2f, ent_coef = 0.01f; /* the float values the kernel gets */
    float *mu = randn((size_t)B * A, 30, 0.0, 1.0), *log_std = randn(A, 31, -0.5, 0.3);
    float *action = randn((size_t)B * A, 32, 0.0, 1.0), logp_old[9];
    for (int i = 0; i < B * A; i++) action[i] = mu[i] + expf(log_std[i % A]) * action[i];
    double *mud = to_double(mu, (size_t)B * A), *lsd = to_double(log_std, A);
    for (int i = 0; i < B; i++)
        logp_old[i] = (float)(gauss_logp_d(A, mud + (size_t)i * A, lsd, action + (size_t)i * A) - log(k_ratio[i]));
    gauss_problem p = {B, A, mud, lsd, action, logp_old, k_adv, clip, ent_coef, 0, 0, 0, 0};
    double *num_mu = malloc((size_t)B * A * sizeof *num_mu), num_ls[3];
    nn_fd_grad(gauss_loss_d, &p, p.mu, (size_t)B * A, num_mu);
    nn_fd_grad(gauss_loss_d, &p, p.log_std, A, num_ls);
    double total = gauss_loss_d(&p);
    double *scratch = malloc(qa_ppo_scratch_doubles(B, A) * sizeof(double));
    float *dmu[2], dls[2][3];
    for (int r = 0; r < 2; r++) {
        qa_backend_t *be = cpu_backend(r == 0, 2);
        double stats[QA_PPO_STATS];
        dmu[r] = malloc((size_t)B * A * sizeof(float));
        QA_CHECK_OK(qa_ppo_gauss_loss(be, B, A, mu, log_std, action, logp_old, k_adv, (float)clip, (float)ent_coef,
                                      dmu[r], dls[r], stats, scratch));
        double *g = to_double(dmu[r], (size_t)B * A), gl[3] = {dls[r][0], dls[r][1], dls[r][2]};
        qa_test_near_arrays("gaussian dmean vs central differences", g, num_mu, (size_t)B * A,
                            1e-6 * max_abs(num_mu, (size_t)B * A), 1e-6);
        qa_test_near_arrays("gaussian dlog_std vs central differences", gl, num_ls, A, 1e-6 * max_abs(num_ls, A), 1e-6);
        check_stats(stats, p.pg, p.ent, p.kl, p.cf, total);
        free(g);
        qa_backend_free(be);
    }
    QA_CHECK(memcmp(dmu[0], dmu[1], (size_t)B * A * sizeof(float)) == 0 && memcmp(dls[0], dls[1], sizeof dls[0]) == 0);
    free(dmu[0]), free(dmu[1]), free(scratch), free(num_mu), free(mud), free(lsd), free(mu), free(log_std), free(action);
}

/* ---- clipping branches --------------------------------------------------------------------------------------- */

/* With ent_coef = 0 the only gradient is the policy term: rows whose clipped term is the
 * minimum (ratio above the range with adv > 0, below it with adv < 0) get exactly 0;
 * the opposite combinations get -adv ratio / B (onehot - p) (categorical) and
 * -adv ratio / B (a - mu) / sigma^2 (Gaussian). */
static void test_clip_branches(void) {
    const int B = 4, A = 3;
    const double ratio[] = {1.5, 0.5, 1.5, 0.5};
    const float adv[] = {1.0f, -1.0f, -1.0f, 1.0f};
    const int zero_row[] = {1, 1, 0, 0};
    const float z[] = {0.2f, -0.3f, 1.0f, 0.0f, 0.5f, -1.0f, 1.2f, 0.1f, -0.4f, -0.7f, 0.9f, 0.3f};
    const int32_t action[] = {0, 1, 2, 1};
    float logp_old[4], dz[12];
    double stats[QA_PPO_STATS];
    double *big = malloc(qa_ppo_scratch_doubles(B, A) * sizeof(double));
    for (int i = 0; i < B; i++) logp_old[i] = (float)(cat_logp_d(A, z + i * A, action[i]) - log(ratio[i]));
    qa_backend_t *be = cpu_backend(1, 1);
    QA_CHECK_OK(qa_ppo_cat_loss(be, B, A, z, action, logp_old, adv, 0.2f, 0.0f, dz, stats, big));
    for (int i = 0; i < B; i++) {
        double lp = cat_logp_d(A, z + i * A, action[i]), r = exp(lp - logp_old[i]);
        for (int j = 0; j < A; j++) {
            double p = exp(cat_logp_d(A, z + i * A, j));
            double want = zero_row[i] ? 0.0 : -adv[i] * r / B * ((j == action[i]) - p);
            if (zero_row[i]) QA_CHECK_MSG(dz[i * A + j] == 0.0f, "row %d col %d: %g", i, j, (double)dz[i * A + j]);
            else QA_CHECK_NEAR(dz[i * A + j], want, 1e-9, 1e-6);
        }
    }
    QA_CHECK_NEAR(stats[QA_PPO_STAT_CLIPFRAC], 1.0, 0, 0);
    /* Gaussian, one dimension: same rows. */
    const float mu[] = {0.1f, -0.2f, 0.3f, 0.0f}, log_std[] = {-0.3f}, act[] = {0.5f, 0.4f, -0.6f, 1.1f};
    float glo[4], dmu[4], dls[1];
    for (int i = 0; i < B; i++) {
        double x = (act[i] - mu[i]) / exp(log_std[0]);
        glo[i] = (float)(-0.5 * x * x - log_std[0] - 0.5 * LOG_2PI - log(ratio[i]));
    }
    QA_CHECK_OK(qa_ppo_gauss_loss(be, B, 1, mu, log_std, act, glo, adv, 0.2f, 0.0f, dmu, dls, stats, big));
    for (int i = 0; i < B; i++) {
        double s = exp(log_std[0]), x = (act[i] - mu[i]) / s;
        double lp = -0.5 * x * x - log_std[0] - 0.5 * LOG_2PI, r = exp(lp - glo[i]);
        if (zero_row[i]) QA_CHECK_MSG(dmu[i] == 0.0f, "gaussian row %d: %g", i, (double)dmu[i]);
        else QA_CHECK_NEAR(dmu[i], -adv[i] * r / B * x / s, 1e-9, 1e-6);
    }
    QA_CHECK_NEAR(stats[QA_PPO_STAT_CLIPFRAC], 1.0, 0, 0);
    free(big);
    qa_backend_free(be);
}

/* ---- value loss -------------------------------------------------------------------------------------------------- */

/* Rows (v_old, v, ret) with clip 0.2: inside the range (gradient through v), outside
 * with the unclipped loss larger (through v), outside with the clipped loss larger
 * (zero). Checked against central differences and closed forms, clipped and not. */
static void test_value_loss(void) {
    const int B = 6;
    const float v_old[] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 1.0f}, v[] = {0.1f, 0.5f, 0.5f, -0.5f, -0.5f, 0.9f};
    const float ret[] = {1.0f, 1.0f, -1.0f, -1.0f, 1.0f, 0.0f};
    const double through_v[] = {1, 0, 1, 0, 1, 1};
    const double vf_coef = 0.5;
    double scratch[4096];
    QA_CHECK(qa_ppo_scratch_doubles(B, 1) <= 4096);
    for (int clipped = 0; clipped < 2; clipped++) {
        double clip = clipped ? 0.2f : 0.0f;
        value_problem p = {B, to_double(v, B), v_old, ret, clip, vf_coef, 0};
        double num[6];
        nn_fd_grad(value_loss_d, &p, p.v, B, num);
        value_loss_d(&p);
        for (int r = 0; r < 2; r++) {
            qa_backend_t *be = cpu_backend(r == 0, 2);
            float dv[6];
            double stats[QA_PPO_STATS];
            for (int k = 0; k < QA_PPO_STATS; k++) stats[k] = 123.0;
            QA_CHECK_OK(qa_ppo_value_loss(be, B, v, clipped ? v_old : NULL, ret, (float)clip, (float)vf_coef, dv,
                                          stats, scratch));
            double g[6], want[6];
            for (int i = 0; i < B; i++) {
                g[i] = dv[i];
                want[i] = (clipped && !through_v[i]) ? 0.0 : vf_coef * ((double)v[i] - ret[i]) / B;
            }
            qa_test_near_arrays("value-loss gradient vs central differences", g, num, B, 1e-6 * max_abs(num, B), 1e-6);
            qa_test_near_arrays("value-loss gradient vs closed form", g, want, B, 1e-9, 1e-6);
            QA_CHECK_NEAR(stats[QA_PPO_STAT_VLOSS], p.half_mean, 1e-14, 1e-12);
            for (int k = 0; k < QA_PPO_STATS; k++)
                if (k != QA_PPO_STAT_VLOSS) QA_CHECK(stats[k] == 123.0);
            qa_backend_free(be);
        }
        free(p.v);
    }
}

/* ---- sampling ------------------------------------------------------------------------------------------------------ */

/* 200k rows with the same logits: each class's frequency within 4 standard errors of its
 * softmax probability; logp is log p of the drawn class; another counter draws anew. */
static void test_cat_sample_frequencies(void) {
    const int B = 200000, A = 5;
    const float row[] = {0.5f, -1.0f, 2.0f, 0.0f, 1.0f};
    float *logits = malloc((size_t)B * A * sizeof *logits), *logp = malloc((size_t)B * sizeof *logp);
    int32_t *action = malloc((size_t)B * sizeof *action), *action2 = malloc((size_t)B * sizeof *action2);
    for (int i = 0; i < B; i++) memcpy(logits + (size_t)i * A, row, sizeof row);
    double p[5];
    for (int j = 0; j < A; j++) p[j] = exp(cat_logp_d(A, row, j));
    qa_backend_t *be = cpu_backend(0, 2);
    QA_CHECK_OK(qa_ppo_cat_sample(be, B, A, logits, g_seed, 7, action, logp));
    long count[5] = {0};
    int bad_logp = 0;
    for (int i = 0; i < B; i++) {
        QA_CHECK(action[i] >= 0 && action[i] < A);
        if (action[i] < 0 || action[i] >= A) break;
        count[action[i]]++;
        if (fabs(logp[i] - log(p[action[i]])) > 1e-6) bad_logp++;
    }
    QA_CHECK_INT(bad_logp, 0);
    /* Each draw is the inverse CDF at its own uniform: cum_{k-1} <= u < cum_k (draws with
     * u within 1e-12 of a boundary, where rounding may decide, are not judged). */
    int bad_cdf = 0;
    for (int i = 0; i < B; i++) {
        double u = qa_rng_uniform(g_seed, 7, (uint64_t)i), lo = 0;
        for (int k = 0; k < action[i] && k < A; k++) lo += p[k];
        double hi = lo + (action[i] >= 0 && action[i] < A ? p[action[i]] : 0);
        if (action[i] == A - 1) hi = 1.0;
        if (u < lo - 1e-12 || u >= hi + 1e-12) bad_cdf++;
    }
    QA_CHECK_INT(bad_cdf, 0);
    for (int j = 0; j < A; j++) {
        double f = (double)count[j] / B, se = sqrt(p[j] * (1 - p[j]) / B);
        QA_CHECK_MSG(fabs(f - p[j]) <= 4 * se, "class %d: frequency %.5f, probability %.5f (4 se = %.5f)", j, f, p[j],
                     4 * se);
    }
    QA_CHECK_OK(qa_ppo_cat_sample(be, B, A, logits, g_seed, 8, action2, logp));
    long same = 0;
    for (int i = 0; i < B; i++) same += action[i] == action2[i];
    double psame = 0;
    for (int j = 0; j < A; j++) psame += p[j] * p[j];
    QA_CHECK_MSG(fabs((double)same / B - psame) <= 4 * sqrt(psame * (1 - psame) / B),
                 "counters 7 and 8 agree on %ld of %d draws (independent: %.4f)", same, B, psame);
    /* the reference draws the same classes */
    qa_backend_t *ref = cpu_backend(1, 1);
    QA_CHECK_OK(qa_ppo_cat_sample(ref, B, A, logits, g_seed, 8, action, logp));
    QA_CHECK(memcmp(action, action2, (size_t)B * sizeof *action) == 0);
    qa_backend_free(ref);
    qa_backend_free(be);
    free(logits), free(logp), free(action), free(action2);
}

/* Argmax: first of tied maxima, NaN never wins, an all-NaN row gives 0. */
static void test_cat_argmax(void) {
    const float z[] = {1.0f, 3.0f, 3.0f, -1.0f, NAN, 0.5f, 2.0f, 2.0f, NAN, NAN, NAN, NAN, -INFINITY, -5.0f, -INFINITY, -5.0f};
    int32_t a[4];
    qa_backend_t *be = cpu_backend(0, 1);
    QA_CHECK_OK(qa_ppo_cat_argmax(be, 4, 4, z, a));
    QA_CHECK(a[0] == 1 && a[1] == 2 && a[2] == 0 && a[3] == 1);
    qa_backend_free(be);
}

/* 100k rows of a 2-d Gaussian: per-dimension sample mean within 4 se (sigma / sqrt(n))
 * and sample variance within 4 se (sigma^2 sqrt(2 / (n - 1))) of the parameters; logp
 * equals the density of the stored action (double formula here, float output: 1e-6
 * abs + 1e-6 rel). */
static void test_gauss_sample_moments(void) {
    const int B = 100000, A = 2;
    const float mu_row[] = {1.0f, -2.0f}, log_std[] = {0.0f, -0.6931472f};
    float *mu = malloc((size_t)B * A * sizeof *mu), *act = malloc((size_t)B * A * sizeof *act);
    float *logp = malloc((size_t)B * sizeof *logp);
    for (int i = 0; i < B; i++) memcpy(mu + (size_t)i * A, mu_row, sizeof mu_row);
    qa_backend_t *be = cpu_backend(0, 2);
    QA_CHECK_OK(qa_ppo_gauss_sample(be, B, A, mu, log_std, g_seed, 3, act, logp));
    for (int j = 0; j < A; j++) {
        double s = 0, m2 = 0, sigma = exp(log_std[j]);
        for (int i = 0; i < B; i++) s += act[(size_t)i * A + j];
        double m = s / B;
        for (int i = 0; i < B; i++) m2 += (act[(size_t)i * A + j] - m) * (act[(size_t)i * A + j] - m);
        double var = m2 / (B - 1);
        QA_CHECK_NEAR(m, mu_row[j], 4 * sigma / sqrt(B), 0);
        QA_CHECK_NEAR(var, sigma * sigma, 4 * sigma * sigma * sqrt(2.0 / (B - 1)), 0);
    }
    double ls[2] = {log_std[0], log_std[1]}, mud[2] = {mu_row[0], mu_row[1]};
    int bad = 0;
    for (int i = 0; i < B; i++) {
        double want = gauss_logp_d(A, mud, ls, act + (size_t)i * A);
        if (fabs(logp[i] - want) > 1e-6 + 1e-6 * fabs(want)) bad++;
    }
    QA_CHECK_INT(bad, 0);
    float *act2 = malloc((size_t)B * A * sizeof *act2), *logp2 = malloc((size_t)B * sizeof *logp2);
    qa_backend_t *ref = cpu_backend(1, 1);
    QA_CHECK_OK(qa_ppo_gauss_sample(ref, B, A, mu, log_std, g_seed, 3, act2, logp2));
    QA_CHECK(memcmp(act, act2, (size_t)B * A * sizeof *act) == 0 && memcmp(logp, logp2, (size_t)B * sizeof *logp) == 0);
    qa_backend_free(ref);
    qa_backend_free(be);
    free(mu), free(act), free(logp), free(act2), free(logp2);
}

/* ---- normalisation ------------------------------------------------------------------------------------------------ */

/* Advantages: a hand case ([1, 3]: mean 2, sample std sqrt 2), n == 1 (x - mean = 0) and
 * 1000 values against a double two-pass computation here (1e-6 abs + 1e-6 rel: float
 * output of a double result). */
static void test_normalize(void) {
    double scratch[8192];
    QA_CHECK(qa_ppo_scratch_doubles(1000, 1) <= 8192);
    for (int r = 0; r < 2; r++) {
        qa_backend_t *be = cpu_backend(r == 0, 2);
        float two[] = {1.0f, 3.0f}, one[] = {5.0f};
        QA_CHECK_OK(qa_ppo_normalize(be, 2, two, scratch));
        QA_CHECK_NEAR(two[0], -1.0 / (sqrt(2.0) + 1e-8), 0, 1e-7);
        QA_CHECK_NEAR(two[1], 1.0 / (sqrt(2.0) + 1e-8), 0, 1e-7);
        QA_CHECK_OK(qa_ppo_normalize(be, 1, one, scratch));
        QA_CHECK(one[0] == 0.0f);
        QA_CHECK_OK(qa_ppo_normalize(be, 0, NULL, scratch));
        float *x = randn(1000, 40, 3.0, 2.0);
        double s = 0, m2 = 0, want[1000], got[1000];
        for (int i = 0; i < 1000; i++) s += x[i];
        for (int i = 0; i < 1000; i++) m2 += (x[i] - s / 1000) * (x[i] - s / 1000);
        for (int i = 0; i < 1000; i++) want[i] = (x[i] - s / 1000) / (sqrt(m2 / 999) + 1e-8);
        QA_CHECK_OK(qa_ppo_normalize(be, 1000, x, scratch));
        for (int i = 0; i < 1000; i++) got[i] = x[i];
        qa_test_near_arrays("normalised advantages", got, want, 1000, 1e-6, 1e-6);
        free(x);
        qa_backend_free(be);
    }
}

/* Running statistics from count 0 over batches of 7, 1, 33 and 100 rows equal two passes
 * over the rows seen so far (1e-12 rel + 1e-14 abs); gym's start (count 1e-4, mean 0,
 * var 1) gives the merge of a pseudo-batch of weight 1e-4; then apply with and without
 * clipping, in place. */
static void test_obsnorm(void) {
    const int D = 5, sizes[] = {7, 1, 33, 100}, total = 141;
    float *obs = randn((size_t)total * D, 50, 3.0, 2.0);
    double *scratch = malloc(qa_ppo_scratch_doubles(100, D) * sizeof(double));
    for (int r = 0; r < 2; r++) {
        qa_backend_t *be = cpu_backend(r == 0, 2);
        double mean[5] = {0}, var[5] = {0}, count = 0;
        int seen = 0;
        for (int b = 0; b < 4; b++) {
            QA_CHECK_OK(qa_ppo_obsnorm_update(be, sizes[b], D, obs + (size_t)seen * D, mean, var, &count, scratch));
            seen += sizes[b];
            QA_CHECK(count == seen);
            for (int j = 0; j < D; j++) {
                double s = 0, m2 = 0;
                for (int i = 0; i < seen; i++) s += obs[(size_t)i * D + j];
                for (int i = 0; i < seen; i++) m2 += (obs[(size_t)i * D + j] - s / seen) * (obs[(size_t)i * D + j] - s / seen);
                QA_CHECK_NEAR(mean[j], s / seen, 1e-14, 1e-12);
                QA_CHECK_NEAR(var[j], m2 / seen, 1e-14, 1e-12);
            }
        }
        /* gym's initial state */
        double gm[5] = {0}, gv[5] = {1, 1, 1, 1, 1}, gc = 1e-4;
        QA_CHECK_OK(qa_ppo_obsnorm_update(be, 33, D, obs, gm, gv, &gc, scratch));
        for (int j = 0; j < D; j++) {
            double s = 0, m2 = 0;
            for (int i = 0; i < 33; i++) s += obs[(size_t)i * D + j];
            double bm = s / 33;
            for (int i = 0; i < 33; i++) m2 += (obs[(size_t)i * D + j] - bm) * (obs[(size_t)i * D + j] - bm);
            double tot = 1e-4 + 33;
            QA_CHECK_NEAR(gm[j], bm * 33 / tot, 1e-14, 1e-12);
            QA_CHECK_NEAR(gv[j], (1e-4 + m2 + bm * bm * 1e-4 * 33 / tot) / tot, 1e-14, 1e-12);
        }
        QA_CHECK(gc == 1e-4 + 33);
        QA_CHECK_OK(qa_ppo_obsnorm_update(be, 0, D, NULL, gm, gv, &gc, scratch)); /* B == 0: no change */
        QA_CHECK(gc == 1e-4 + 33);
        /* apply: clip 1.5 and none; in place equals out of place */
        float out[705], inplace[705];
        for (int c = 0; c < 2; c++) {
            float clip = c ? 1.5f : 0.0f;
            QA_CHECK_OK(qa_ppo_obsnorm_apply(be, total, D, obs, mean, var, clip, out));
            memcpy(inplace, obs, sizeof inplace);
            QA_CHECK_OK(qa_ppo_obsnorm_apply(be, total, D, inplace, mean, var, clip, inplace));
            QA_CHECK(memcmp(out, inplace, sizeof out) == 0);
            int bad = 0;
            for (int k = 0; k < total * D; k++) {
                double y = (obs[k] - mean[k % D]) / sqrt(var[k % D] + 1e-8);
                if (clip > 0) y = fmin(fmax(y, -1.5), 1.5);
                if (fabs(out[k] - y) > 1e-6 * fabs(y) + 1e-7) bad++;
            }
            QA_CHECK_INT(bad, 0);
        }
        qa_backend_free(be);
    }
    free(scratch), free(obs);
}

static void test_gather(void) {
    const float src[] = {0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32};
    const int32_t idx[] = {2, 0, 2, 3}, isrc[] = {5, 6, 7, 8};
    float dst[12];
    int32_t idst[4];
    qa_backend_t *be = cpu_backend(0, 1);
    QA_CHECK_OK(qa_ppo_gather(be, 4, 3, src, idx, dst));
    const float want[] = {20, 21, 22, 0, 1, 2, 20, 21, 22, 30, 31, 32};
    QA_CHECK(memcmp(dst, want, sizeof want) == 0);
    QA_CHECK_OK(qa_ppo_gather(be, 4, 1, isrc, idx, idst));
    QA_CHECK(idst[0] == 7 && idst[1] == 5 && idst[2] == 7 && idst[3] == 8);
    qa_backend_free(be);
}

/* ---- argument checks and edge cases ------------------------------------------------------------------------------------ */

static void test_args(void) {
    qa_backend_t *be = cpu_backend(0, 1);
    float z[4] = {0}, f[4] = {0}, out[4] = {7, 7, 7, 7};
    int32_t a[2] = {0, 0};
    uint8_t u[4] = {0};
    double stats[QA_PPO_STATS] = {0}, scratch[4096];
    QA_CHECK_ERR(qa_ppo_gae(be, -1, 2, 0.9f, 0.9f, f, f, f, u, u, f, out, out), QA_ERR_INVALID_ARG, "negative");
    QA_CHECK_ERR(qa_ppo_gae(be, 2, 2, INFINITY, 0.9f, f, f, f, u, u, f, out, out), QA_ERR_INVALID_ARG, "gamma");
    QA_CHECK_ERR(qa_ppo_gae(be, 2, 2, 0.9f, 0.9f, f, f, f, u, u, NULL, out, out), QA_ERR_INVALID_ARG, "final_value");
    QA_CHECK_ERR(qa_ppo_cat_sample(be, 2, 0, z, 1, 1, a, out), QA_ERR_INVALID_ARG, "A = 0");
    QA_CHECK_ERR(qa_ppo_cat_loss(be, 2, 2, z, a, f, f, NAN, 0.0f, out, stats, scratch), QA_ERR_INVALID_ARG, "clip");
    QA_CHECK_ERR(qa_ppo_cat_loss(be, 2, 2, z, a, f, f, -0.1f, 0.0f, out, stats, scratch), QA_ERR_INVALID_ARG, "clip");
    QA_CHECK_ERR(qa_ppo_cat_loss(be, 2, 2, z, a, f, f, 0.2f, 0.0f, out, stats, NULL), QA_ERR_INVALID_ARG, "scratch");
    QA_CHECK_ERR(qa_ppo_gauss_loss(be, 2, 2, z, NULL, z, f, f, 0.2f, 0.0f, out, out, stats, scratch), QA_ERR_INVALID_ARG,
                 "log_std");
    QA_CHECK_ERR(qa_ppo_value_loss(be, 2, f, NULL, f, 0.2f, 0.5f, out, stats, scratch), QA_ERR_INVALID_ARG, "v_old");
    QA_CHECK_ERR(qa_ppo_value_loss(be, 2, f, f, f, 0.2f, NAN, out, stats, scratch), QA_ERR_INVALID_ARG, "vf_coef");
    QA_CHECK_ERR(qa_ppo_obsnorm_update(be, 2, -2, f, stats, stats, stats, scratch), QA_ERR_INVALID_ARG, "negative");
    QA_CHECK_ERR(qa_ppo_obsnorm_apply(be, 2, 2, f, stats, stats, NAN, out), QA_ERR_INVALID_ARG, "NaN");
    QA_CHECK_ERR(qa_ppo_gather(be, 2, 2, f, NULL, out), QA_ERR_INVALID_ARG, "idx");
    QA_CHECK_ERR(qa_ppo_normalize(be, 4, out, NULL), QA_ERR_INVALID_ARG, "scratch");
    QA_CHECK(out[0] == 7 && out[1] == 7 && out[2] == 7 && out[3] == 7); /* outputs untouched */
    QA_CHECK(qa_ppo_scratch_doubles(-5, -1) == qa_ppo_scratch_doubles(0, 0));
    QA_CHECK(qa_ppo_scratch_doubles(10, 3) >= 4 * 10 + 2 * 3);
    qa_backend_free(be);
}

/* Empty batches report zeros (the Gaussian entropy is the policy's own: H, and the
 * entropy gradient -ent_coef); one class has logp 0, entropy 0 and no gradient; an action
 * out of range gives NaN logp; a -inf logit (masked action) has probability 0, no
 * entropy contribution and a zero gradient; a NaN logit makes the draw the last class. */
static void test_edges(void) {
    qa_backend_t *be = cpu_backend(1, 1);
    double stats[QA_PPO_STATS], scratch[4096];
    for (int k = 0; k < QA_PPO_STATS; k++) stats[k] = 9.0;
    QA_CHECK_OK(qa_ppo_cat_loss(be, 0, 3, NULL, NULL, NULL, NULL, 0.2f, 0.01f, NULL, stats, scratch));
    for (int k = 0; k < QA_PPO_STATS; k++)
        if (k != QA_PPO_STAT_VLOSS) QA_CHECK(stats[k] == 0.0);
    QA_CHECK(stats[QA_PPO_STAT_VLOSS] == 9.0);
    const float ls[] = {0.5f, -0.5f};
    float dls[2];
    QA_CHECK_OK(qa_ppo_gauss_loss(be, 0, 2, NULL, ls, NULL, NULL, NULL, 0.2f, 0.25f, NULL, dls, stats, scratch));
    double h = 2 * 0.5 * (1 + LOG_2PI);
    QA_CHECK_NEAR(stats[QA_PPO_STAT_ENT], h, 0, 1e-15);
    QA_CHECK_NEAR(stats[QA_PPO_STAT_TOTAL], -0.25 * h, 0, 1e-15);
    QA_CHECK(dls[0] == -0.25f && dls[1] == -0.25f && stats[QA_PPO_STAT_PG] == 0.0);
    QA_CHECK_OK(qa_ppo_value_loss(be, 0, NULL, NULL, NULL, 0.2f, 0.5f, NULL, stats, scratch));
    QA_CHECK(stats[QA_PPO_STAT_VLOSS] == 0.0);

    const float one[] = {3.0f, -1.0f};
    const int32_t zero2[] = {0, 0};
    const float lpo[] = {0.0f, 0.0f}, adv[] = {1.0f, -1.0f};
    float lp[2], ent[2], dz[2];
    QA_CHECK_OK(qa_ppo_cat_logp(be, 2, 1, one, zero2, lp, ent));
    QA_CHECK(lp[0] == 0.0f && lp[1] == 0.0f && ent[0] == 0.0f && ent[1] == 0.0f);
    QA_CHECK_OK(qa_ppo_cat_loss(be, 2, 1, one, zero2, lpo, adv, 0.2f, 0.1f, dz, stats, scratch));
    QA_CHECK(dz[0] == 0.0f && dz[1] == 0.0f && stats[QA_PPO_STAT_PG] == 0.0 && stats[QA_PPO_STAT_KL] == 0.0);
    int32_t act[2];
    QA_CHECK_OK(qa_ppo_cat_sample(be, 2, 1, one, 5, 5, act, lp));
    QA_CHECK(act[0] == 0 && act[1] == 0 && lp[0] == 0.0f);

    const float z3[] = {0.5f, -INFINITY, 1.0f, 0.2f, NAN, 0.1f};
    const int32_t bad_act[] = {3, -1}, a3[] = {0, 0};
    float lp3[2], ent3[2], dz3[6];
    QA_CHECK_OK(qa_ppo_cat_logp(be, 2, 3, z3, bad_act, lp3, NULL));
    QA_CHECK(isnan(lp3[0]) && isnan(lp3[1]));
    QA_CHECK_OK(qa_ppo_cat_logp(be, 1, 3, z3, a3, lp3, ent3));
    double p0 = 1 / (1 + exp(0.5)), p2 = 1 - p0; /* softmax of {0.5, -inf, 1.0} */
    QA_CHECK_NEAR(lp3[0], log(p0), 0, 1e-6);
    QA_CHECK_NEAR(ent3[0], -(p0 * log(p0) + p2 * log(p2)), 0, 1e-6);
    float lpo3[] = {lp3[0]}, adv3[] = {1.0f};
    QA_CHECK_OK(qa_ppo_cat_loss(be, 1, 3, z3, a3, lpo3, adv3, 0.2f, 0.1f, dz3, stats, scratch));
    QA_CHECK(dz3[1] == 0.0f && isfinite(dz3[0]) && isfinite(dz3[2]) && isfinite(stats[QA_PPO_STAT_TOTAL]));
    QA_CHECK_OK(qa_ppo_cat_sample(be, 1, 3, z3 + 3, 5, 5, act, lp));
    QA_CHECK(act[0] == 2 && isnan(lp[0]));
    qa_backend_free(be);
}

/* ---- every function through one runner: CPU path vs reference, CUDA vs reference ------------------------------------ */

/* Shapes: a T x N rollout, B policy rows with A classes or GA Gaussian dimensions, OB x D
 * observations, a gather of G rows. */
typedef struct shape {
    int T, N, B, A, GA, D, OB, G;
} shape;

typedef struct inputs {
    shape s;
    float *reward, *value, *last_value, *final_value; /* T*N (last_value N) */
    uint8_t *term, *trunc;
    float *logits, *logp_old, *adv; /* B*A, B, B */
    int32_t *action;
    float *gmean, *log_std, *gaction, *glogp_old; /* B*GA, GA, B*GA, B */
    float *v, *v_old, *ret;                       /* B */
    float *obs;                                    /* OB*D */
    double *om, *ov, oc;                           /* D, D: a running state to update and apply */
    int32_t *idx;                                  /* G rows of logits */
} inputs;

static inputs make_inputs(shape s, uint64_t stream) {
    inputs in;
    memset(&in, 0, sizeof in);
    in.s = s;
    size_t TN = (size_t)s.T * s.N, BA = (size_t)s.B * s.A, BG = (size_t)s.B * s.GA;
    in.reward = randn(TN, stream + 1, 0.1, 1.0);
    in.value = randn(TN, stream + 2, 0.5, 1.0);
    in.last_value = randn(s.N, stream + 3, 0.0, 1.0);
    in.final_value = randn(TN, stream + 4, 0.0, 1.0);
    in.term = malloc(TN + 1), in.trunc = malloc(TN + 1);
    for (size_t k = 0; k < TN; k++) in.term[k] = unif(stream + 5, k) < 0.05, in.trunc[k] = unif(stream + 6, k) < 0.05;
    in.logits = randn(BA, stream + 7, 0.0, 2.0);
    in.action = malloc((s.B + 1) * sizeof *in.action);
    in.logp_old = malloc((s.B + 1) * sizeof(float));
    in.adv = randn(s.B, stream + 8, 0.0, 1.0);
    for (int i = 0; i < s.B; i++) {
        in.action[i] = (int32_t)(unif(stream + 9, i) * s.A);
        /* a masked (-inf) class in every 7th row, never the row's action */
        if (s.A > 1 && i % 7 == 3) in.logits[(size_t)i * s.A + (in.action[i] + 1) % s.A] = -INFINITY;
        in.logp_old[i] = (float)(cat_logp_d(s.A, in.logits + (size_t)i * s.A, in.action[i]) +
                                 0.3 * qa_rng_normal(g_seed, stream + 10, i));
    }
    in.gmean = randn(BG, stream + 11, 0.0, 1.0);
    in.log_std = randn(s.GA, stream + 12, -0.5, 0.3);
    in.gaction = randn(BG, stream + 13, 0.0, 1.0);
    in.glogp_old = malloc((s.B + 1) * sizeof(float));
    double *ls = to_double(in.log_std, s.GA), *mu = to_double(in.gmean, BG);
    for (size_t k = 0; k < BG; k++) in.gaction[k] = in.gmean[k] + expf(in.log_std[k % s.GA]) * in.gaction[k];
    for (int i = 0; i < s.B; i++)
        in.glogp_old[i] = (float)(gauss_logp_d(s.GA, mu + (size_t)i * s.GA, ls, in.gaction + (size_t)i * s.GA) +
                                  0.3 * qa_rng_normal(g_seed, stream + 14, i));
    free(ls), free(mu);
    in.v = randn(s.B, stream + 15, 0.0, 1.0);
    in.v_old = randn(s.B, stream + 16, 0.0, 1.0);
    for (int i = 0; i < s.B; i++) in.v_old[i] = in.v[i] + 0.3f * in.v_old[i]; /* |v - v_old| both sides of 0.2 */
    in.ret = randn(s.B, stream + 17, 0.0, 1.5);
    in.obs = randn((size_t)s.OB * s.D, stream + 18, 3.0, 2.0);
    in.om = malloc((s.D + 1) * sizeof(double)), in.ov = malloc((s.D + 1) * sizeof(double));
    for (int j = 0; j < s.D; j++) in.om[j] = 0.5 * j, in.ov[j] = 1.0 + 0.25 * j;
    in.oc = 10.0;
    in.idx = malloc((s.G + 1) * sizeof *in.idx);
    for (int r = 0; r < s.G; r++) in.idx[r] = (int32_t)(unif(stream + 19, r) * s.B);
    return in;
}

static void free_inputs(inputs *in) {
    free(in->reward), free(in->value), free(in->last_value), free(in->final_value), free(in->term), free(in->trunc);
    free(in->logits), free(in->action), free(in->logp_old), free(in->adv);
    free(in->gmean), free(in->log_std), free(in->gaction), free(in->glogp_old);
    free(in->v), free(in->v_old), free(in->ret), free(in->obs), free(in->om), free(in->ov), free(in->idx);
}

/* Every output of one run, in host memory. */
typedef struct outputs {
    float *adv, *ret, *norm;
    int32_t *cs_action, *amax;
    float *cs_logp, *lp, *ent, *dlogits;
    float *gs_action, *gs_logp, *dmean, *dlog_std;
    float *dv, *dv0;
    double *om, *ov, oc;
    float *oapply, *gathered;
    double cstats[QA_PPO_STATS], gstats[QA_PPO_STATS], vstats[QA_PPO_STATS], vstats0[QA_PPO_STATS];
} outputs;

/* Backend arrays of one run. Outputs have QA_GUARD_BYTES of guard on each side, checked
 * when they are fetched. */
typedef struct arena {
    qa_backend_t *be;
    qa_buf bufs[48];
    int n;
} arena;

static void arena_die(const char *what) {
    printf("%s: %s\n", what, qa_err_msg());
    exit(1);
}

/* A backend copy of `bytes` of host memory (or uninitialised room when host is NULL),
 * between guards; returns the start of the payload. */
static void *arena_put(arena *a, const void *host, size_t bytes) {
    qa_buf *b = &a->bufs[a->n++];
    size_t total = bytes + 2 * QA_GUARD_BYTES;
    uint8_t *staging = malloc(total);
    qa_test_guard_fill(staging, total);
    if (host && bytes) memcpy(staging + QA_GUARD_BYTES, host, bytes);
    if (qa_buf_alloc(a->be, total, b) != QA_OK || qa_buf_upload(a->be, b, 0, staging, total) != QA_OK)
        arena_die("backend buffer");
    free(staging);
    return (uint8_t *)b->ptr + QA_GUARD_BYTES;
}

/* Copies a payload back (a fresh malloc'ed block when dst is NULL) and checks its guards. */
static void *arena_get(arena *a, const void *ptr, size_t bytes, void *dst) {
    for (int i = 0; i < a->n; i++) {
        qa_buf *b = &a->bufs[i];
        if ((uint8_t *)b->ptr + QA_GUARD_BYTES != ptr) continue;
        size_t total = bytes + 2 * QA_GUARD_BYTES;
        uint8_t *staging = malloc(total);
        if (qa_buf_download(a->be, staging, b, 0, total) != QA_OK) arena_die("download");
        QA_CHECK_MSG(qa_test_guard_intact(staging, QA_GUARD_BYTES) &&
                         qa_test_guard_intact(staging + QA_GUARD_BYTES + bytes, QA_GUARD_BYTES),
                     "guard bytes of output buffer %d overwritten", i);
        if (!dst) dst = malloc(bytes ? bytes : 1);
        memcpy(dst, staging + QA_GUARD_BYTES, bytes);
        free(staging);
        return dst;
    }
    printf("arena_get: unknown pointer\n");
    exit(1);
}

static void run_all(qa_backend_t *be, const inputs *in, outputs *o) {
    const shape s = in->s;
    arena a = {be, {{0}}, 0};
    size_t TN = (size_t)s.T * s.N, BA = (size_t)s.B * s.A, BG = (size_t)s.B * s.GA, OD = (size_t)s.OB * s.D;
    size_t fB = (size_t)s.B * sizeof(float), iB = (size_t)s.B * sizeof(int32_t);
    int rows = s.B > s.OB ? s.B : s.OB, cols = s.GA > s.D ? s.GA : s.D;
    double *scratch = arena_put(&a, NULL, qa_ppo_scratch_doubles(rows, cols) * sizeof(double));
    double init_stats[QA_PPO_STATS];
    for (int k = 0; k < QA_PPO_STATS; k++) init_stats[k] = 123.0; /* entries a call does not own stay */

    float *reward = arena_put(&a, in->reward, TN * 4), *value = arena_put(&a, in->value, TN * 4);
    float *last = arena_put(&a, in->last_value, (size_t)s.N * 4), *fv = arena_put(&a, in->final_value, TN * 4);
    uint8_t *term = arena_put(&a, in->term, TN), *trunc = arena_put(&a, in->trunc, TN);
    float *adv = arena_put(&a, NULL, TN * 4), *ret = arena_put(&a, NULL, TN * 4);
    QA_CHECK_OK(qa_ppo_gae(be, s.T, s.N, 0.99f, 0.95f, reward, value, last, term, trunc, fv, adv, ret));

    float *norm = arena_put(&a, in->adv, fB);
    QA_CHECK_OK(qa_ppo_normalize(be, s.B, norm, scratch));

    float *logits = arena_put(&a, in->logits, BA * 4), *lpo = arena_put(&a, in->logp_old, fB);
    float *padv = arena_put(&a, in->adv, fB);
    int32_t *action = arena_put(&a, in->action, iB);
    int32_t *cs_action = arena_put(&a, NULL, iB), *amax = arena_put(&a, NULL, iB);
    float *cs_logp = arena_put(&a, NULL, fB), *lp = arena_put(&a, NULL, fB), *ent = arena_put(&a, NULL, fB);
    float *dlogits = arena_put(&a, NULL, BA * 4);
    double *cstats = arena_put(&a, init_stats, sizeof init_stats);
    QA_CHECK_OK(qa_ppo_cat_sample(be, s.B, s.A, logits, g_seed, 42, cs_action, cs_logp));
    QA_CHECK_OK(qa_ppo_cat_argmax(be, s.B, s.A, logits, amax));
    QA_CHECK_OK(qa_ppo_cat_logp(be, s.B, s.A, logits, action, lp, ent));
    QA_CHECK_OK(qa_ppo_cat_loss(be, s.B, s.A, logits, action, lpo, padv, 0.2f, 0.01f, dlogits, cstats, scratch));

    float *gmean = arena_put(&a, in->gmean, BG * 4), *log_std = arena_put(&a, in->log_std, (size_t)s.GA * 4);
    float *gaction = arena_put(&a, in->gaction, BG * 4), *glpo = arena_put(&a, in->glogp_old, fB);
    float *gs_action = arena_put(&a, NULL, BG * 4), *gs_logp = arena_put(&a, NULL, fB);
    float *dmean = arena_put(&a, NULL, BG * 4), *dlog_std = arena_put(&a, NULL, (size_t)s.GA * 4);
    double *gstats = arena_put(&a, init_stats, sizeof init_stats);
    QA_CHECK_OK(qa_ppo_gauss_sample(be, s.B, s.GA, gmean, log_std, g_seed, 43, gs_action, gs_logp));
    QA_CHECK_OK(qa_ppo_gauss_loss(be, s.B, s.GA, gmean, log_std, gaction, glpo, padv, 0.2f, 0.01f, dmean, dlog_std,
                                  gstats, scratch));

    float *v = arena_put(&a, in->v, fB), *v_old = arena_put(&a, in->v_old, fB), *pret = arena_put(&a, in->ret, fB);
    float *dv = arena_put(&a, NULL, fB), *dv0 = arena_put(&a, NULL, fB);
    double *vstats = arena_put(&a, init_stats, sizeof init_stats), *vstats0 = arena_put(&a, init_stats, sizeof init_stats);
    QA_CHECK_OK(qa_ppo_value_loss(be, s.B, v, v_old, pret, 0.2f, 0.5f, dv, vstats, scratch));
    QA_CHECK_OK(qa_ppo_value_loss(be, s.B, v, NULL, pret, 0.0f, 0.5f, dv0, vstats0, scratch));

    float *obs = arena_put(&a, in->obs, OD * 4);
    double *om = arena_put(&a, in->om, (size_t)s.D * 8), *ov = arena_put(&a, in->ov, (size_t)s.D * 8);
    double *oc = arena_put(&a, &in->oc, 8);
    float *oapply = arena_put(&a, NULL, OD * 4);
    /* apply with the initial state (identical inputs on every backend), then update in two batches */
    QA_CHECK_OK(qa_ppo_obsnorm_apply(be, s.OB, s.D, obs, om, ov, 2.0f, oapply));
    int half = s.OB / 2;
    QA_CHECK_OK(qa_ppo_obsnorm_update(be, half, s.D, obs, om, ov, oc, scratch));
    QA_CHECK_OK(qa_ppo_obsnorm_update(be, s.OB - half, s.D, obs + (size_t)half * s.D, om, ov, oc, scratch));

    int32_t *idx = arena_put(&a, in->idx, (size_t)s.G * 4);
    float *gathered = arena_put(&a, NULL, (size_t)s.G * s.A * 4);
    QA_CHECK_OK(qa_ppo_gather(be, s.G, s.A, logits, idx, gathered));
    QA_CHECK_OK(qa_backend_sync(be));

    o->adv = arena_get(&a, adv, TN * 4, NULL), o->ret = arena_get(&a, ret, TN * 4, NULL);
    o->norm = arena_get(&a, norm, fB, NULL);
    o->cs_action = arena_get(&a, cs_action, iB, NULL), o->amax = arena_get(&a, amax, iB, NULL);
    o->cs_logp = arena_get(&a, cs_logp, fB, NULL), o->lp = arena_get(&a, lp, fB, NULL);
    o->ent = arena_get(&a, ent, fB, NULL), o->dlogits = arena_get(&a, dlogits, BA * 4, NULL);
    arena_get(&a, cstats, sizeof o->cstats, o->cstats);
    o->gs_action = arena_get(&a, gs_action, BG * 4, NULL), o->gs_logp = arena_get(&a, gs_logp, fB, NULL);
    o->dmean = arena_get(&a, dmean, BG * 4, NULL), o->dlog_std = arena_get(&a, dlog_std, (size_t)s.GA * 4, NULL);
    arena_get(&a, gstats, sizeof o->gstats, o->gstats);
    o->dv = arena_get(&a, dv, fB, NULL), o->dv0 = arena_get(&a, dv0, fB, NULL);
    arena_get(&a, vstats, sizeof o->vstats, o->vstats);
    arena_get(&a, vstats0, sizeof o->vstats0, o->vstats0);
    o->om = arena_get(&a, om, (size_t)s.D * 8, NULL), o->ov = arena_get(&a, ov, (size_t)s.D * 8, NULL);
    arena_get(&a, oc, 8, &o->oc);
    o->oapply = arena_get(&a, oapply, OD * 4, NULL);
    o->gathered = arena_get(&a, gathered, (size_t)s.G * s.A * 4, NULL);
    free(arena_get(&a, scratch, qa_ppo_scratch_doubles(rows, cols) * sizeof(double), NULL)); /* its guards */
    for (int i = 0; i < a.n; i++) qa_buf_free(&a.bufs[i]);
}

static void free_outputs(outputs *o) {
    free(o->adv), free(o->ret), free(o->norm), free(o->cs_action), free(o->amax), free(o->cs_logp), free(o->lp);
    free(o->ent), free(o->dlogits), free(o->gs_action), free(o->gs_logp), free(o->dmean), free(o->dlog_std);
    free(o->dv), free(o->dv0), free(o->om), free(o->ov), free(o->oapply), free(o->gathered);
}

/* Every policy/value output: finite where expected, stats entries not owned untouched. */
static void check_ownership(const outputs *o) {
    QA_CHECK(o->vstats[0] == 123.0 && o->vstats[4] == 123.0 && o->vstats[6] == 123.0);
    QA_CHECK(o->cstats[QA_PPO_STAT_VLOSS] == 123.0 && o->gstats[QA_PPO_STAT_VLOSS] == 123.0);
}

/* Threads and rows not multiples of anything, sizes above the CPU path's parallel
 * threshold (8192 elements), more than 64 observation columns (the CPU path's column
 * chunks), and size 1. */
static const shape cpu_shapes[] = {{64, 201, 3001, 7, 5, 130, 101, 999}, {1, 1, 1, 1, 1, 1, 1, 1}, {5, 3, 0, 3, 2, 4, 0, 0}};

#define SAME(field, n) QA_CHECK_MSG(memcmp(r.field, c.field, (n)) == 0, "%s differs (shape %zu)", #field, k)

static void test_cpu_matches_reference(void) {
    for (size_t k = 0; k < sizeof cpu_shapes / sizeof cpu_shapes[0]; k++) {
        shape s = cpu_shapes[k];
        inputs in = make_inputs(s, 1000 + 100 * k);
        qa_backend_t *ref = cpu_backend(1, 1), *cpu = cpu_backend(0, 2);
        outputs r, c;
        run_all(ref, &in, &r);
        run_all(cpu, &in, &c);
        size_t TN = (size_t)s.T * s.N * 4, fB = (size_t)s.B * 4, BA = (size_t)s.B * s.A * 4, BG = (size_t)s.B * s.GA * 4;
        SAME(adv, TN); SAME(ret, TN); SAME(norm, fB); SAME(cs_action, fB); SAME(amax, fB); SAME(cs_logp, fB);
        SAME(lp, fB); SAME(ent, fB); SAME(dlogits, BA); SAME(cstats, sizeof r.cstats);
        SAME(gs_action, BG); SAME(gs_logp, fB); SAME(dmean, BG); SAME(dlog_std, (size_t)s.GA * 4);
        SAME(gstats, sizeof r.gstats); SAME(dv, fB); SAME(dv0, fB); SAME(vstats, sizeof r.vstats);
        SAME(vstats0, sizeof r.vstats0); SAME(om, (size_t)s.D * 8); SAME(ov, (size_t)s.D * 8); QA_CHECK(memcmp(&r.oc, &c.oc, 8) == 0);
        SAME(oapply, (size_t)s.OB * s.D * 4); SAME(gathered, (size_t)s.G * s.A * 4);
        check_ownership(&r);
        check_ownership(&c);
        free_outputs(&r), free_outputs(&c), free_inputs(&in);
        qa_backend_free(ref), qa_backend_free(cpu);
    }
}

/* CUDA vs the CPU reference. Budgets (|x - ref| <= atol + rtol |ref|):
 *  - float outputs computed in double and rounded (GAE, log-probabilities, entropies,
 *    gradients, normalised values, Gaussian actions): 1e-6 rel + 1e-9 max|ref| abs.
 *    CUDA's double exp/log/sin/cos are within 2 ulp of glibc's and nvcc contracts
 *    multiply-adds into FMAs: ~1e-15 relative in the double results, so the floats differ
 *    by at most one rounding step (1.2e-7 rel); the absolute term covers gradients that are
 *    sums of cancelling terms. dlog_std and the normalisation sum rows in another order
 *    (still ~1e-13 rel in double).
 *  - double stats and observation statistics: 1e-9 rel + 1e-12 abs (both sum in double,
 *    in a different order; n eps over <= 1e5 terms is 1e-11 of the absolute sum).
 *  - sampled and greedy actions, gather: identical. A draw could differ only when u lies
 *    within ~1e-16 of a cumulative probability (and the clip indicator when a ratio lies
 *    that close to 1 +- clip), probability ~1e-11 per run.
 *  - the observation count: identical (the same additions). */
static const shape gpu_shapes[] = {
    {64, 301, 70001, 6, 33, 70, 1000, 5000}, /* grid-stride beyond 256 x 256 rows; two 32-column blocks */
    {3, 5, 257, 3, 2, 33, 65, 17},
    {1, 1, 1, 1, 1, 1, 1, 1},
    {2, 2, 0, 3, 2, 4, 0, 0}, /* empty batches: the losses still write their stats */
};

static void near_rel(const char *what, const float *g, const float *r, size_t n) {
    double *rd = to_double(r, n);
    double atol = 1e-9 * max_abs(rd, n);
    free(rd);
    near_f(what, g, r, n, atol, 1e-6);
}

static void test_gpu_parity(void) {
    qa_backend_t *gpu = qa_kernel_test_gpu();
    qa_backend_t *ref = cpu_backend(1, 1);
    for (size_t k = 0; k < sizeof gpu_shapes / sizeof gpu_shapes[0]; k++) {
        shape s = gpu_shapes[k];
        printf("  shape T %d N %d B %d A %d GA %d D %d OB %d G %d\n", s.T, s.N, s.B, s.A, s.GA, s.D, s.OB, s.G);
        inputs in = make_inputs(s, 5000 + 100 * k);
        outputs r, g;
        run_all(ref, &in, &r);
        run_all(gpu, &in, &g);
        size_t TN = (size_t)s.T * s.N, B = (size_t)s.B, BA = B * s.A, BG = B * s.GA, OD = (size_t)s.OB * s.D;
        near_rel("gae advantages", g.adv, r.adv, TN);
        near_rel("gae returns", g.ret, r.ret, TN);
        near_rel("normalised advantages", g.norm, r.norm, B);
        QA_CHECK_MSG(memcmp(g.cs_action, r.cs_action, B * 4) == 0, "categorical draws differ");
        QA_CHECK_MSG(memcmp(g.amax, r.amax, B * 4) == 0, "argmax differs");
        near_rel("categorical sample logp", g.cs_logp, r.cs_logp, B);
        near_rel("categorical logp", g.lp, r.lp, B);
        near_rel("categorical entropy", g.ent, r.ent, B);
        near_rel("categorical dlogits", g.dlogits, r.dlogits, BA);
        qa_test_near_arrays("categorical stats", g.cstats, r.cstats, QA_PPO_STATS, 1e-12, 1e-9);
        near_rel("gaussian actions", g.gs_action, r.gs_action, BG);
        near_rel("gaussian sample logp", g.gs_logp, r.gs_logp, B);
        near_rel("gaussian dmean", g.dmean, r.dmean, BG);
        near_rel("gaussian dlog_std", g.dlog_std, r.dlog_std, (size_t)s.GA);
        qa_test_near_arrays("gaussian stats", g.gstats, r.gstats, QA_PPO_STATS, 1e-12, 1e-9);
        near_rel("value gradient (clipped)", g.dv, r.dv, B);
        near_rel("value gradient (unclipped)", g.dv0, r.dv0, B);
        qa_test_near_arrays("value stats (clipped)", g.vstats, r.vstats, QA_PPO_STATS, 1e-12, 1e-9);
        qa_test_near_arrays("value stats (unclipped)", g.vstats0, r.vstats0, QA_PPO_STATS, 1e-12, 1e-9);
        qa_test_near_arrays("observation means", g.om, r.om, (size_t)s.D, 1e-12, 1e-9);
        qa_test_near_arrays("observation variances", g.ov, r.ov, (size_t)s.D, 1e-12, 1e-9);
        QA_CHECK(g.oc == r.oc);
        near_rel("normalised observations", g.oapply, r.oapply, OD);
        QA_CHECK_MSG(memcmp(g.gathered, r.gathered, (size_t)s.G * s.A * 4) == 0, "gather differs");
        check_ownership(&g);
        free_outputs(&r), free_outputs(&g), free_inputs(&in);
    }
    qa_backend_free(ref);
    qa_backend_free(gpu);
}

int main(int argc, char **argv) {
    g_seed = qa_test_seed();
    static const qa_test_case gpu[] = {QA_CASE(test_gpu_parity)};
    static const qa_test_case cpu[] = {
        QA_CASE(test_gae_hand),          QA_CASE(test_gae_loop),          QA_CASE(test_cat_loss_gradient),
        QA_CASE(test_gauss_loss_gradient), QA_CASE(test_clip_branches),   QA_CASE(test_value_loss),
        QA_CASE(test_cat_sample_frequencies), QA_CASE(test_cat_argmax),   QA_CASE(test_gauss_sample_moments),
        QA_CASE(test_normalize),         QA_CASE(test_obsnorm),           QA_CASE(test_gather),
        QA_CASE(test_args),              QA_CASE(test_edges),             QA_CASE(test_cpu_matches_reference)};
    return qa_kernel_test_main(argc, argv, QA_CASES(gpu), QA_CASES(cpu));
}
