/* Helpers shared by the nn kernel tests (test_nn_layers.c, test_nn_lstm.c): seeded
 * random arrays, CPU/GPU contexts, device round trips, finite-difference gradients and the
 * gradient comparison. */
#ifndef QA_TESTS_NN_TEST_H
#define QA_TESTS_NN_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/philox.h"
#include "kernel_test.h"
#include "kernels/nn.h"

/* The run's seed: time-based unless QA_TEST_SEED is set; printed so a failure can be
 * replayed. */
static inline uint64_t nn_test_seed(void) {
    static uint64_t seed = 0;
    if (!seed) seed = qa_test_seed();
    return seed;
}

/* Central differences of the loss f(ctx) in each of the n parameters (step 1e-5; each
 * parameter is restored): out[i] ~ dL/dparam[i]. */
static inline void nn_fd_grad(double (*f)(void *ctx), void *ctx, double *param, size_t n, double *out) {
    const double h = 1e-5;
    for (size_t i = 0; i < n; i++) {
        double save = param[i];
        param[i] = save + h;
        double lp = f(ctx);
        param[i] = save - h;
        double lm = f(ctx);
        param[i] = save;
        out[i] = (lp - lm) / (2 * h);
    }
}

/* The activations in double precision (GELU in its tanh form, as the kernels). */
static inline double gelu_d(double h) { return 0.5 * h * (1.0 + tanh(0.7978845608028654 * (h + 0.044715 * h * h * h))); }
static inline double act_d(qa_nn_act act, double h) {
    if (act == QA_NN_ACT_RELU) return h > 0 ? h : 0.0;
    if (act == QA_NN_ACT_GELU) return gelu_d(h);
    return h;
}

/* n floats N(0, sd^2) from stream `stream` of the run seed (malloc'ed; caller frees). */
static inline float *nn_randn(size_t n, uint64_t stream, float sd) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(sd * qa_rng_normal(nn_test_seed(), stream, i));
    return x;
}

static inline double *nn_to_double(const float *x, size_t n) {
    double *d = malloc((n ? n : 1) * sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

/* A CPU backend and nn ctx; reference = 1 selects the plain loops. */
typedef struct nn_env {
    qa_backend_t *be;
    qa_nn_ctx_t *ctx;
} nn_env;

static inline nn_env nn_env_cpu(int reference, int threads) {
    nn_env e = {NULL, NULL};
    if (qa_backend_create(QA_BACKEND_CPU, 0, &e.be) != QA_OK || qa_nn_ctx_create(e.be, &e.ctx) != QA_OK) {
        printf("cannot create CPU nn ctx: %s\n", qa_err_msg());
        exit(1);
    }
    qa_backend_set_reference(e.be, reference);
    qa_backend_set_threads(e.be, threads);
    return e;
}

/* The CUDA backend and ctx, or a skip (exit 77). */
static inline nn_env nn_env_gpu(void) {
    nn_env e = {qa_kernel_test_gpu(), NULL};
    if (qa_nn_ctx_create(e.be, &e.ctx) != QA_OK) {
        printf("cannot create CUDA nn ctx: %s\n", qa_err_msg());
        exit(1);
    }
    return e;
}

static inline void nn_env_free(nn_env *e) {
    qa_nn_ctx_free(e->ctx);
    qa_backend_free(e->be);
}

/* Device copy of n host floats (n may be 0). */
static inline float *nn_dev(nn_env *e, qa_buf *buf, const void *host, size_t bytes) {
    if (qa_buf_alloc(e->be, bytes, buf) != QA_OK) {
        printf("device alloc of %zu bytes: %s\n", bytes, qa_err_msg());
        exit(1);
    }
    if (host && bytes) QA_CHECK_OK(qa_buf_upload(e->be, buf, 0, host, bytes));
    return (float *)buf->ptr;
}

static inline float *nn_host(nn_env *e, const qa_buf *buf, size_t bytes) {
    float *h = malloc(bytes ? bytes : 4);
    QA_CHECK_OK(qa_buf_download(e->be, h, buf, 0, bytes));
    return h;
}

/* Compares float results with double references under |x - ref| <= atol + rtol |ref|. */
static inline int nn_near(const char *what, const float *got, const double *ref, size_t n, double atol, double rtol) {
    double *g = nn_to_double(got, n);
    int ok = qa_test_near_arrays(what, g, ref, n, atol, rtol);
    free(g);
    return ok;
}

static inline int nn_near_ff(const char *what, const float *got, const float *ref, size_t n, double atol,
                             double rtol) {
    double *r = nn_to_double(ref, n);
    int ok = nn_near(what, got, r, n, atol, rtol);
    free(r);
    return ok;
}

static inline double nn_max_abs(const double *x, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) m = fabs(x[i]) > m ? fabs(x[i]) : m;
    return m;
}

static inline double nn_max_absf(const float *x, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) m = fabs((double)x[i]) > m ? fabs((double)x[i]) : m;
    return m;
}

/* Analytic (float, from the kernel) vs numeric (double central differences) gradient:
 * |a - n| <= rel * max|n| + rel * |n|. */
static inline int nn_grad_check(const char *what, const float *analytic, const double *numeric, size_t n, double rel) {
    double scale = nn_max_abs(numeric, n);
    return nn_near(what, analytic, numeric, n, rel * (scale > 0 ? scale : 1.0), rel);
}

/* C = alpha op(A) op(B) + beta C in double; also the absolute product |op(A)||op(B)|,
 * the scale of GEMM rounding errors. */
static inline void nn_gemm_d(int ta, int tb, int m, int n, int k, double alpha, const float *a, int lda, const float *b, int ldb,
                             double beta, const float *c0, int ldc, double *c, double *absprod) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0.0, sa = 0.0;
            for (int p = 0; p < k; p++) {
                double av = ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                double bv = tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                s += av * bv;
                sa += fabs(av * bv);
            }
            double old = beta == 0.0 ? 0.0 : beta * c0[(size_t)i * ldc + j];
            c[(size_t)i * n + j] = alpha * s + old;
            absprod[(size_t)i * n + j] = fabs(alpha) * sa + fabs(old);
        }
}

#endif
