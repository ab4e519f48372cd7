/* nn layers (kernels/nn.h): hand-computed values, the CPU reference and the optimised
 * CPU path against independent double-precision implementations written here,
 * finite-difference gradient checks, determinism, edge cases, and (gpu mode) CUDA
 * against the CPU reference on fresh random inputs with written error budgets.
 *
 * Gradient checks: the kernel's float backward is compared with central differences
 * (h = 1e-5) of this file's double forward of L = sum(R .* output) for a random R (so
 * dL/doutput = R is what the backward receives). The numeric gradient is accurate to
 * ~1e-9 relative (truncation h^2 |f'''| / 6, rounding 1e-16 |L| / h); the analytic one
 * carries float rounding of sums over <= 300 terms (~300 * 6e-8 = 2e-5 of the terms'
 * magnitude in the worst case), so the budget is 1e-4 of max|gradient| + 1e-4 relative. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/nn_impl.h" /* the fast activation math under test */
#include "nn_test.h"

#define GRAD_REL 1e-4

/* ---- independent double-precision forwards -------------------------------------------- */

/* ---- GEMM ----------------------------------------------------------------------------------- */

static void test_gemm_hand(void) {
    nn_env envs[2] = {nn_env_cpu(1, 1), nn_env_cpu(0, 2)};
    for (int e = 0; e < 2; e++) {
        qa_nn_ctx_t *ctx = envs[e].ctx;
        /* A = [1 2 3; 4 5 6], B = [1 0; 0 1; 1 1] -> AB = [4 5; 10 11] */
        const float a[] = {1, 2, 3, 4, 5, 6}, b[] = {1, 0, 0, 1, 1, 1};
        float c[4] = {NAN, NAN, NAN, NAN};
        QA_CHECK_OK(qa_nn_gemm(ctx, 0, 0, 2, 2, 3, 1.0f, a, 3, b, 2, 0.0f, c, 2)); /* beta 0 ignores NaN */
        QA_CHECK(c[0] == 4 && c[1] == 5 && c[2] == 10 && c[3] == 11);
        /* C = 2 A A^T + 1 C: A A^T = [14 32; 32 77] */
        QA_CHECK_OK(qa_nn_gemm(ctx, 0, 1, 2, 2, 3, 2.0f, a, 3, a, 3, 1.0f, c, 2));
        QA_CHECK(c[0] == 32 && c[1] == 69 && c[2] == 74 && c[3] == 165);
        /* A^T A (3x3) top-left = 1+16 = 17; k = 0 scales C */
        float d[9];
        QA_CHECK_OK(qa_nn_gemm(ctx, 1, 0, 3, 3, 2, 1.0f, a, 3, a, 3, 0.0f, d, 3));
        QA_CHECK(d[0] == 17 && d[4] == 29 && d[8] == 45 && d[1] == 22);
        QA_CHECK_OK(qa_nn_gemm(ctx, 0, 0, 2, 2, 0, 1.0f, NULL, 1, NULL, 2, 0.5f, c, 2));
        QA_CHECK(c[0] == 16 && c[3] == 82.5f);
        QA_CHECK_ERR(qa_nn_gemm(ctx, 0, 0, 2, 2, 3, 1.0f, a, 2, b, 2, 0.0f, c, 2), QA_ERR_INVALID_ARG, "leading");
        /* the CPU honours BF16 (1 + 2^-20 rounds to 1; test_nn_bf16.c checks the rest)
         * and computes TF32 in FP32 (1 + 2^-20 survives) */
        QA_CHECK_OK(qa_nn_ctx_set_math(ctx, QA_NN_MATH_BF16));
        const float one_eps[] = {1.0f + 0x1p-20f}, one[] = {1.0f};
        QA_CHECK_OK(qa_nn_gemm(ctx, 0, 0, 1, 1, 1, 1.0f, one_eps, 1, one, 1, 0.0f, c, 1));
        QA_CHECK(c[0] == 1.0f);
        QA_CHECK_OK(qa_nn_ctx_set_math(ctx, QA_NN_MATH_TF32));
        QA_CHECK_OK(qa_nn_gemm(ctx, 0, 0, 1, 1, 1, 1.0f, one_eps, 1, one, 1, 0.0f, c, 1));
        QA_CHECK(c[0] == 1.0f + 0x1p-20f);
        QA_CHECK_OK(qa_nn_ctx_set_math(ctx, QA_NN_MATH_FP32));
    }
    qa_nn_math mm;
    QA_CHECK_OK(qa_nn_math_parse("tf32", &mm));
    QA_CHECK(mm == QA_NN_MATH_TF32);
    QA_CHECK_STR(qa_nn_math_name(QA_NN_MATH_BF16), "bf16");
    QA_CHECK_ERR(qa_nn_math_parse("fp16", &mm), QA_ERR_INVALID_ARG, "fp16");
    QA_CHECK_STR(qa_nn_act_name(QA_NN_ACT_GELU), "gelu");
    nn_env_free(&envs[0]);
    nn_env_free(&envs[1]);
}

/* Random shapes (not multiples of 4/32, size 1, k = 0), all transpose combinations,
 * strided leading dimensions, guard columns between rows of C that must stay intact.
 * Budget: each C entry is a sum of k products rounded in float, |err| <= k u |A||B|
 * (u = 2^-24; gamma_k bound) for the reference (double sums: far below) and OpenBLAS;
 * we allow (k + 2) * 2^-24 * |A||B| + 1e-30. */
static void check_gemm_shapes(nn_env *env, const char *label, double budget_per_k, double budget_fixed) {
    /* the last two exceed the 2 MFLOP threshold of the threaded CPU path: split by rows
     * (m >= n) and by columns (n > m), with block edges not on multiples of 8 */
    static const int shapes[][3] = {{1, 1, 1},  {7, 5, 3},   {33, 31, 67},   {65, 130, 1},
                                    {1, 257, 19}, {40, 1, 300}, {3, 4, 0}, {130, 65, 129}, {17, 301, 257}};
    uint64_t stream = 100;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
                int arows = ta ? k : m, acols = ta ? m : k, brows = tb ? n : k, bcols = tb ? k : n;
                int lda = acols + 3, ldb = bcols + 1, ldc = n + 2;
                float *a = nn_randn((size_t)arows * lda, stream++, 1.0f);
                float *b = nn_randn((size_t)brows * ldb, stream++, 1.0f);
                float *c = nn_randn((size_t)m * ldc, stream++, 1.0f);
                float *c0 = malloc(((size_t)m * ldc + 1) * sizeof *c0);
                memcpy(c0, c, (size_t)m * ldc * sizeof *c);
                for (int i = 0; i < m; i++) c[(size_t)i * ldc + n] = c[(size_t)i * ldc + n + 1] = 777.0f; /* guards */
                float alpha = 0.75f, beta = (s % 2) ? 0.5f : 0.0f;
                double *ref = malloc(((size_t)m * n + 1) * sizeof *ref), *ab = malloc(((size_t)m * n + 1) * sizeof *ab);
                nn_gemm_d(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c0, ldc, ref, ab);
                float *dev_c = c;
                qa_buf ba = {0}, bb = {0}, bc = {0};
                const float *pa = a, *pb = b;
                if (qa_backend_kind_of(env->be) == QA_BACKEND_CUDA) {
                    pa = nn_dev(env, &ba, a, (size_t)arows * lda * 4);
                    pb = nn_dev(env, &bb, b, (size_t)brows * ldb * 4);
                    dev_c = nn_dev(env, &bc, c, (size_t)m * ldc * 4);
                }
                QA_CHECK_OK(qa_nn_gemm(env->ctx, ta, tb, m, n, k, alpha, pa, lda, pb, ldb, beta, dev_c, ldc));
                if (dev_c != c) {
                    float *h = nn_host(env, &bc, (size_t)m * ldc * 4);
                    memcpy(c, h, (size_t)m * ldc * 4);
                    free(h);
                }
                size_t bad = 0, worst = 0;
                double worst_ratio = 0.0;
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < n; j++) {
                        double err = fabs(c[(size_t)i * ldc + j] - ref[(size_t)i * n + j]);
                        double lim = (budget_per_k * (k + 2) + budget_fixed) * ab[(size_t)i * n + j] + 1e-30;
                        if (!(err <= lim)) bad++;
                        if (err / lim > worst_ratio) worst_ratio = err / lim, worst = (size_t)i * n + j;
                    }
                    if (c[(size_t)i * ldc + n] != 777.0f || c[(size_t)i * ldc + n + 1] != 777.0f) bad++;
                }
                QA_CHECK_MSG(bad == 0, "%s gemm m=%d n=%d k=%d ta=%d tb=%d: %zu bad (worst err/budget %.3g at %zu)",
                             label, m, n, k, ta, tb, bad, worst_ratio, worst);
                qa_buf_free(&ba), qa_buf_free(&bb), qa_buf_free(&bc);
                free(a), free(b), free(c), free(c0), free(ref), free(ab);
            }
}

static void test_gemm_random(void) {
    nn_env ref = nn_env_cpu(1, 1), opt = nn_env_cpu(0, 2);
    check_gemm_shapes(&ref, "cpu-reference", 0x1p-24, 0.0);
    check_gemm_shapes(&opt, "cpu-openblas", 0x1p-24, 0.0);
    nn_env_free(&ref);
    nn_env_free(&opt);
}

/* ---- linear ----------------------------------------------------------------------------------- */

typedef struct lin_case {
    int batch, in, out;
    double *x, *w, *b, *r;
} lin_case;

static double lin_loss(void *p) {
    lin_case *c = p;
    double L = 0.0;
    for (int i = 0; i < c->batch; i++)
        for (int o = 0; o < c->out; o++) {
            double y = c->b[o];
            for (int k = 0; k < c->in; k++) y += c->x[(size_t)i * c->in + k] * c->w[(size_t)o * c->in + k];
            L += c->r[(size_t)i * c->out + o] * y;
        }
    return L;
}

static void test_linear_hand_and_grad(void) {
    nn_env envs[2] = {nn_env_cpu(1, 1), nn_env_cpu(0, 2)};
    for (int e = 0; e < 2; e++) {
        qa_nn_ctx_t *ctx = envs[e].ctx;
        /* x = [1 2], W = [1 0; 2 1; -1 3], b = [0.5 0 -1] -> y = [1.5, 4, 4] */
        const float x[] = {1, 2}, w[] = {1, 0, 2, 1, -1, 3}, b[] = {0.5f, 0, -1};
        float y[3];
        QA_CHECK_OK(qa_nn_linear_forward(ctx, 1, 2, 3, x, w, b, y));
        QA_CHECK(y[0] == 1.5f && y[1] == 4.0f && y[2] == 4.0f);

        const int batch = 9, in = 13, out = 6;
        float *xf = nn_randn((size_t)batch * in, 1, 1.0f), *wf = nn_randn((size_t)out * in, 2, 0.5f);
        float *bf = nn_randn(out, 3, 0.5f), *rf = nn_randn((size_t)batch * out, 4, 1.0f);
        float *dx = malloc(sizeof(float) * batch * in), *dw = malloc(sizeof(float) * out * in), *db = malloc(sizeof(float) * out);
        lin_case c = {batch, in, out, nn_to_double(xf, (size_t)batch * in), nn_to_double(wf, (size_t)out * in),
                      nn_to_double(bf, out), nn_to_double(rf, (size_t)batch * out)};
        /* forward vs the double loop */
        float *yf = malloc(sizeof(float) * batch * out);
        double *yd = malloc(sizeof(double) * batch * out);
        QA_CHECK_OK(qa_nn_linear_forward(ctx, batch, in, out, xf, wf, bf, yf));
        for (int i = 0; i < batch; i++)
            for (int o = 0; o < out; o++) {
                double s = c.b[o];
                for (int k = 0; k < in; k++) s += c.x[(size_t)i * in + k] * c.w[(size_t)o * in + k];
                yd[(size_t)i * out + o] = s;
            }
        nn_near("linear forward", yf, yd, (size_t)batch * out, 1e-5, 1e-5);
        QA_CHECK_OK(qa_nn_linear_backward(ctx, batch, in, out, xf, wf, rf, dx, dw, db, 0));
        double *nx = malloc(sizeof(double) * batch * in), *nw = malloc(sizeof(double) * out * in), *nb = malloc(sizeof(double) * out);
        nn_fd_grad(lin_loss, &c, c.x, (size_t)batch * in, nx);
        nn_fd_grad(lin_loss, &c, c.w, (size_t)out * in, nw);
        nn_fd_grad(lin_loss, &c, c.b, out, nb);
        nn_grad_check("linear dx", dx, nx, (size_t)batch * in, GRAD_REL);
        nn_grad_check("linear dw", dw, nw, (size_t)out * in, GRAD_REL);
        nn_grad_check("linear db", db, nb, out, GRAD_REL);
        /* accumulate: a second backward adds the same gradients */
        QA_CHECK_OK(qa_nn_linear_backward(ctx, batch, in, out, xf, wf, rf, NULL, dw, db, 1));
        for (size_t i = 0; i < (size_t)out * in; i++) nw[i] *= 2;
        for (int i = 0; i < out; i++) nb[i] *= 2;
        nn_grad_check("linear dw accumulated", dw, nw, (size_t)out * in, GRAD_REL);
        nn_grad_check("linear db accumulated", db, nb, out, GRAD_REL);
        /* batch 0: nothing to do; dw overwritten with zeros */
        QA_CHECK_OK(qa_nn_linear_backward(ctx, 0, in, out, xf, wf, rf, NULL, dw, db, 0));
        QA_CHECK(nn_max_absf(dw, (size_t)out * in) == 0.0 && nn_max_absf(db, out) == 0.0);
        free(xf), free(wf), free(bf), free(rf), free(dx), free(dw), free(db), free(yf), free(yd);
        free(c.x), free(c.w), free(c.b), free(c.r), free(nx), free(nw), free(nb);
    }
    nn_env_free(&envs[0]);
    nn_env_free(&envs[1]);
}

/* ---- activations ------------------------------------------------------------------------------- */

/* The fast CPU tanh/sigmoid/exp against double libm over [-20, 20] and special values.
 * Budgets are the documented accuracy of kernels/nn_impl.h. */
static void test_fast_math(void) {
    double worst_t = 0, worst_s = 0, worst_e = 0;
    for (int i = -200000; i <= 200000; i++) {
        float x = (float)i * 1e-4f;
        worst_t = fmax(worst_t, fabs(qa_nn_tanh_fast(x) - tanh((double)x)));
        worst_s = fmax(worst_s, fabs(qa_nn_sigmoid_fast(x) - 1.0 / (1.0 + exp(-(double)x))));
        float xe = (float)i * 4.35e-4f; /* [-87, 87] */
        double ee = exp((double)xe);
        worst_e = fmax(worst_e, fabs(qa_nn_exp_fast(xe) - ee) / ee);
    }
    printf("  fast math worst: tanh %.3g abs, sigmoid %.3g abs, exp %.3g rel\n", worst_t, worst_s, worst_e);
    QA_CHECK(worst_t <= 3e-7);
    QA_CHECK(worst_s <= 3e-7);
    QA_CHECK(worst_e <= 4 * FLT_EPSILON);
    QA_CHECK(qa_nn_tanh_fast(0.0f) == 0.0f && qa_nn_tanh_fast(INFINITY) == 1.0f &&
             qa_nn_tanh_fast(-INFINITY) == -1.0f && isnan(qa_nn_tanh_fast(NAN)));
    QA_CHECK(qa_nn_sigmoid_fast(-INFINITY) >= 0.0f && qa_nn_sigmoid_fast(-INFINITY) < 1e-37f &&
             qa_nn_sigmoid_fast(INFINITY) == 1.0f && isnan(qa_nn_sigmoid_fast(NAN)));
}

/* The fast GELU (logistic form) and its derivative against the tanh form in double over
 * [-20, 20], relative to max(|h|, 1): the documented budget is 3e-7 (kernels/nn_impl.h). */
static void test_fast_gelu(void) {
    double worst_g = 0, worst_d = 0;
    for (int i = -200000; i <= 200000; i++) {
        float h = (float)i * 1e-4f;
        double hd = h, t = tanh(0.7978845608028654 * (hd + 0.044715 * hd * hd * hd));
        double g = 0.5 * hd * (1.0 + t);
        double d = 0.5 * (1.0 + t) + 0.5 * hd * (1.0 - t * t) * 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * hd * hd);
        double scale = fmax(fabs(hd), 1.0);
        worst_g = fmax(worst_g, fabs(qa_nn_gelu_fast(h) - g) / scale);
        worst_d = fmax(worst_d, fabs(qa_nn_gelu_grad_fast(h) - d) / scale);
    }
    printf("  fast gelu worst: value %.3g, derivative %.3g (relative to max(|h|, 1))\n", worst_g, worst_d);
    QA_CHECK(worst_g <= 3e-7);
    QA_CHECK(worst_d <= 3e-7);
    QA_CHECK(qa_nn_gelu_fast(0.0f) == 0.0f && qa_nn_gelu_fast(INFINITY) == INFINITY && isnan(qa_nn_gelu_fast(NAN)));
    QA_CHECK(qa_nn_gelu_fast(-1e30f) <= 0.0f && qa_nn_gelu_fast(-1e30f) > -1e-4f); /* tends to 0 from below */
    QA_CHECK(qa_nn_gelu_grad_fast(1e30f) == 1.0f && fabsf(qa_nn_gelu_grad_fast(-1e30f)) < 1e-30f &&
             isnan(qa_nn_gelu_grad_fast(NAN)));
}

static void test_bias_act_hand(void) {
    nn_env envs[2] = {nn_env_cpu(1, 1), nn_env_cpu(0, 1)};
    for (int e = 0; e < 2; e++) {
        const float x[] = {1.0f, -1.0f, 2.0f, 0.0f}, zero[] = {0, 0, 0, 0};
        float y[4];
        QA_CHECK_OK(qa_nn_bias_act_forward(envs[e].ctx, QA_NN_ACT_GELU, 1, 4, x, zero, NULL, y));
        /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) evaluated by hand (Python, double) */
        QA_CHECK_NEAR(y[0], 0.8411919906082768, 1e-6, 0);
        QA_CHECK_NEAR(y[1], -0.15880800939172324, 1e-6, 0);
        QA_CHECK_NEAR(y[2], 1.954597694087775, 1e-6, 0);
        QA_CHECK(y[3] == 0.0f);
        const float bias[] = {0.5f, 0.5f, -3.0f, 0.0f};
        QA_CHECK_OK(qa_nn_bias_act_forward(envs[e].ctx, QA_NN_ACT_RELU, 1, 4, x, bias, NULL, y));
        QA_CHECK(y[0] == 1.5f && y[1] == 0.0f && y[2] == 0.0f && y[3] == 0.0f);
        float dy[] = {1, 1, 1, 1}, dx[4], db[4];
        QA_CHECK_OK(qa_nn_bias_act_backward(envs[e].ctx, QA_NN_ACT_RELU, 1, 4, x, bias, NULL, dy, dx, db, 0));
        QA_CHECK(dx[0] == 1 && dx[1] == 0 && dx[2] == 0 && dx[3] == 0); /* relu'(0) = 0 */
        QA_CHECK(db[0] == 1 && db[1] == 0);
    }
    nn_env_free(&envs[0]);
    nn_env_free(&envs[1]);
}

typedef struct act_case {
    qa_nn_act act;
    int rows, cols;
    double *x, *b, *r;
    const qa_nn_dropout *drop;
} act_case;

static double act_loss(void *p) {
    act_case *c = p;
    double L = 0.0, scale = c->drop ? (double)(1.0f / (1.0f - c->drop->p)) : 1.0;
    for (int i = 0; i < c->rows; i++)
        for (int j = 0; j < c->cols; j++) {
            size_t idx = (size_t)i * c->cols + j;
            double y = act_d(c->act, c->x[idx] + c->b[j]);
            if (c->drop) y = qa_rng_uniformf(c->drop->seed, c->drop->step, idx) >= c->drop->p ? y * scale : 0.0;
            L += c->r[idx] * y;
        }
    return L;
}

/* Forward against the double formula and gradient checks, for each activation, with and
 * without dropout, on the reference and the optimised path. ReLU inputs are kept at
 * least 1e-3 away from the kink so central differences are exact there. Forward
 * budget: the fast GELU differs from double by <= 3e-7 max(|h|, 1) (test_fast_gelu)
 * plus float rounding (a few ulp): 2e-6 absolute + 2e-6 relative for |h| < 6. */
static void test_bias_act_grad(void) {
    nn_env envs[2] = {nn_env_cpu(1, 1), nn_env_cpu(0, 2)};
    const int rows = 5, cols = 37;
    const size_t n = (size_t)rows * cols;
    qa_nn_dropout drop = {0.3f, 12345, 7};
    for (int e = 0; e < 2; e++)
        for (int a = 0; a < QA_NN_ACT_COUNT; a++)
            for (int d = 0; d < 2; d++) {
                float *x = nn_randn(n, 10, 1.5f), *b = nn_randn(cols, 11, 0.5f), *r = nn_randn(n, 12, 1.0f);
                for (size_t i = 0; i < n; i++) { /* keep h = x + b away from 0 */
                    float h = x[i] + b[i % cols];
                    if (fabsf(h) < 1e-2f) x[i] += h < 0 ? -2e-2f : 2e-2f;
                }
                act_case c = {(qa_nn_act)a, rows, cols, nn_to_double(x, n), nn_to_double(b, cols), nn_to_double(r, n),
                              d ? &drop : NULL};
                /* outputs carry QA_GUARD_BYTES of guard after them */
                float *y = malloc(n * sizeof *y + QA_GUARD_BYTES), *dx = malloc(n * sizeof *dx + QA_GUARD_BYTES);
                float *db = malloc(cols * sizeof *db + QA_GUARD_BYTES);
                qa_test_guard_fill(y + n, QA_GUARD_BYTES), qa_test_guard_fill(dx + n, QA_GUARD_BYTES);
                qa_test_guard_fill(db + cols, QA_GUARD_BYTES);
                double *yd = malloc(n * sizeof *yd), *nx = malloc(n * sizeof *nx), *nb = malloc(cols * sizeof *nb);
                QA_CHECK_OK(qa_nn_bias_act_forward(envs[e].ctx, (qa_nn_act)a, rows, cols, x, b, c.drop, y));
                double scale = d ? (double)(1.0f / (1.0f - drop.p)) : 1.0;
                for (size_t i = 0; i < n; i++) {
                    yd[i] = act_d((qa_nn_act)a, (double)x[i] + b[i % cols]);
                    if (d) yd[i] = qa_rng_uniformf(drop.seed, drop.step, i) >= drop.p ? yd[i] * scale : 0.0;
                }
                char what[64];
                snprintf(what, sizeof what, "%s %s%s forward", e ? "opt" : "ref", qa_nn_act_name((qa_nn_act)a),
                         d ? "+dropout" : "");
                nn_near(what, y, yd, n, 2e-6, 2e-6);
                QA_CHECK_OK(qa_nn_bias_act_backward(envs[e].ctx, (qa_nn_act)a, rows, cols, x, b, c.drop, r, dx, db, 0));
                QA_CHECK(qa_test_guard_intact(y + n, QA_GUARD_BYTES) && qa_test_guard_intact(dx + n, QA_GUARD_BYTES) &&
                         qa_test_guard_intact(db + cols, QA_GUARD_BYTES));
                nn_fd_grad(act_loss, &c, c.x, n, nx);
                nn_fd_grad(act_loss, &c, c.b, cols, nb);
                snprintf(what, sizeof what, "%s %s%s dx", e ? "opt" : "ref", qa_nn_act_name((qa_nn_act)a), d ? "+dropout" : "");
                nn_grad_check(what, dx, nx, n, GRAD_REL);
                snprintf(what, sizeof what, "%s %s%s dbias", e ? "opt" : "ref", qa_nn_act_name((qa_nn_act)a),
                         d ? "+dropout" : "");
                nn_grad_check(what, db, nb, cols, GRAD_REL);
                /* in place: dx may alias dy */
                float *dy2 = malloc(n * sizeof *dy2);
                memcpy(dy2, r, n * sizeof *r);
                QA_CHECK_OK(qa_nn_bias_act_backward(envs[e].ctx, (qa_nn_act)a, rows, cols, x, b, c.drop, dy2, dy2, NULL, 0));
                QA_CHECK(memcmp(dy2, dx, n * sizeof *dx) == 0);
                free(dy2);
                free(x), free(b), free(r), free(y), free(dx), free(db), free(yd), free(nx), free(nb);
                free(c.x), free(c.b), free(c.r);
            }
    nn_env_free(&envs[0]);
    nn_env_free(&envs[1]);
}

/* Dropout keep rate: N = 200,003 Bernoulli(1-p) draws; the kept count is within 6
 * standard deviations (sqrt(N p (1-p)) ~ 205) of N(1-p). Kept values are exactly
 * 1/(1-p) (x = 1, no activation). Different steps and seeds give different masks; the
 * mask matches qa_nn_dropout_kept and does not depend on the thread count. */
static void test_dropout_mask(void) {
    nn_env ref = nn_env_cpu(1, 1), opt = nn_env_cpu(0, 2);
    const int rows = 401, cols = 499;
    const size_t n = (size_t)rows * cols;
    float *ones = malloc(n * sizeof *ones), *y1 = malloc(n * sizeof *y1), *y2 = malloc(n * sizeof *y2);
    for (size_t i = 0; i < n; i++) ones[i] = 1.0f;
    const float ps[] = {0.1f, 0.5f, 0.9f};
    for (int k = 0; k < 3; k++) {
        qa_nn_dropout d = {ps[k], qa_nn_dropout_seed(nn_test_seed(), (uint32_t)k), 42};
        QA_CHECK_OK(qa_nn_bias_act_forward(ref.ctx, QA_NN_ACT_NONE, rows, cols, ones, NULL, &d, y1));
        QA_CHECK_OK(qa_nn_bias_act_forward(opt.ctx, QA_NN_ACT_NONE, rows, cols, ones, NULL, &d, y2));
        QA_CHECK(memcmp(y1, y2, n * sizeof *y1) == 0);
        size_t kept = 0, mismatch = 0;
        const float scale = 1.0f / (1.0f - d.p);
        for (size_t i = 0; i < n; i++) {
            int kp = y1[i] != 0.0f;
            kept += kp;
            mismatch += kp != qa_nn_dropout_kept(&d, i) || (kp && y1[i] != scale);
        }
        double expect = n * (1.0 - d.p), sd = sqrt(n * d.p * (1.0 - d.p));
        QA_CHECK_MSG(fabs(kept - expect) <= 6 * sd, "p=%g kept %zu of %zu, expected %.0f +- %.0f", d.p, kept, n, expect, sd);
        QA_CHECK_INT(mismatch, 0);
        qa_nn_dropout d2 = d;
        d2.step = 43;
        QA_CHECK_OK(qa_nn_bias_act_forward(ref.ctx, QA_NN_ACT_NONE, rows, cols, ones, NULL, &d2, y2));
        QA_CHECK(memcmp(y1, y2, n * sizeof *y1) != 0);
    }
    QA_CHECK(qa_nn_dropout_seed(1, 0) != qa_nn_dropout_seed(1, 1) && qa_nn_dropout_seed(1, 0) != qa_nn_dropout_seed(2, 0));
    qa_nn_dropout bad = {1.0f, 1, 1};
    QA_CHECK_ERR(qa_nn_bias_act_forward(ref.ctx, QA_NN_ACT_NONE, 1, 1, ones, NULL, &bad, y1), QA_ERR_INVALID_ARG,
                 "dropout");
    free(ones), free(y1), free(y2);
    nn_env_free(&ref);
    nn_env_free(&opt);
}

/* ---- LayerNorm --------------------------------------------------------------------------------- */

typedef struct ln_case {
    int rows, cols;
    double eps;
    double *x, *g, *b, *r;
} ln_case;

static void ln_forward_d(const ln_case *c, double *y) {
    for (int i = 0; i < c->rows; i++) {
        const double *xr = c->x + (size_t)i * c->cols;
        double mu = 0.0, var = 0.0;
        for (int j = 0; j < c->cols; j++) mu += xr[j];
        mu /= c->cols;
        for (int j = 0; j < c->cols; j++) var += (xr[j] - mu) * (xr[j] - mu);
        var /= c->cols;
        for (int j = 0; j < c->cols; j++)
            y[(size_t)i * c->cols + j] = (xr[j] - mu) / sqrt(var + c->eps) * c->g[j] + c->b[j];
    }
}

static double ln_loss(void *p) {
    ln_case *c = p;
    size_t n = (size_t)c->rows * c->cols;
    double *y = malloc(n * sizeof *y), L = 0.0;
    ln_forward_d(c, y);
    for (size_t i = 0; i < n; i++) L += c->r[i] * y[i];
    free(y);
    return L;
}

static void test_layernorm(void) {
    nn_env envs[2] = {nn_env_cpu(1, 1), nn_env_cpu(0, 2)};
    for (int e = 0; e < 2; e++) {
        qa_nn_ctx_t *ctx = envs[e].ctx;
        /* [1 2 3]: mean 2, biased variance 2/3 -> (x - 2) / sqrt(2/3 + 1e-5) */
        const float x3[] = {1, 2, 3}, one[] = {1, 1, 1}, zero[] = {0, 0, 0};
        float y3[3], mu, rs;
        QA_CHECK_OK(qa_nn_layernorm_forward(ctx, 1, 3, QA_NN_LAYERNORM_EPS, x3, one, zero, y3, &mu, &rs));
        QA_CHECK_NEAR(y3[0], -1.2247356859083902, 1e-6, 0);
        QA_CHECK_NEAR(y3[1], 0.0, 1e-7, 0);
        QA_CHECK_NEAR(y3[2], 1.2247356859083902, 1e-6, 0);
        QA_CHECK(mu == 2.0f);
        QA_CHECK_NEAR(rs, 1.2247356859083902, 1e-6, 0);
        /* gradients: several widths incl. 1 (dx = 0) and a non-multiple of 32 */
        const int widths[] = {1, 7, 33};
        for (int wi = 0; wi < 3; wi++) {
            const int rows = 4, cols = widths[wi];
            const size_t n = (size_t)rows * cols;
            float *x = nn_randn(n, 20 + wi, 2.0f), *g = nn_randn(cols, 30 + wi, 1.0f), *b = nn_randn(cols, 40 + wi, 1.0f);
            float *r = nn_randn(n, 50 + wi, 1.0f);
            for (size_t i = 0; i < n; i++) x[i] += 3.0f; /* nonzero mean */
            ln_case c = {rows, cols, QA_NN_LAYERNORM_EPS, nn_to_double(x, n), nn_to_double(g, cols), nn_to_double(b, cols),
                         nn_to_double(r, n)};
            float *y = malloc(n * 4), *mean = malloc(rows * 4), *rstd = malloc(rows * 4), *dx = malloc(n * 4);
            float *dg = malloc(cols * 4), *dbt = malloc(cols * 4);
            double *yd = malloc(n * 8), *nx = malloc(n * 8), *ng = malloc(cols * 8), *nb = malloc(cols * 8);
            QA_CHECK_OK(qa_nn_layernorm_forward(ctx, rows, cols, QA_NN_LAYERNORM_EPS, x, g, b, y, mean, rstd));
            ln_forward_d(&c, yd);
            nn_near("layernorm forward", y, yd, n, 2e-6, 2e-6);
            QA_CHECK_OK(qa_nn_layernorm_backward(ctx, rows, cols, x, g, mean, rstd, r, dx, dg, dbt, 0));
            nn_fd_grad(ln_loss, &c, c.x, n, nx);
            nn_fd_grad(ln_loss, &c, c.g, cols, ng);
            nn_fd_grad(ln_loss, &c, c.b, cols, nb);
            /* cols == 1: y = beta exactly, dx = 0 both ways (the numeric one is ~1e-11) */
            nn_grad_check("layernorm dx", dx, nx, n, cols == 1 ? 1.0 : GRAD_REL);
            if (cols == 1) QA_CHECK(nn_max_absf(dx, n) == 0.0 && nn_max_abs(nx, n) < 1e-8);
            nn_grad_check("layernorm dgamma", dg, ng, cols, GRAD_REL);
            nn_grad_check("layernorm dbeta", dbt, nb, cols, GRAD_REL);
            free(x), free(g), free(b), free(r), free(y), free(mean), free(rstd), free(dx), free(dg), free(dbt);
            free(yd), free(nx), free(ng), free(nb), free(c.x), free(c.g), free(c.b), free(c.r);
        }
        QA_CHECK_ERR(qa_nn_layernorm_forward(ctx, 1, 3, 0.0f, x3, one, zero, y3, &mu, &rs), QA_ERR_INVALID_ARG, "eps");
    }
    nn_env_free(&envs[0]);
    nn_env_free(&envs[1]);
}

/* ---- losses ------------------------------------------------------------------------------------ */

static void test_losses_hand(void) {
    nn_env envs[2] = {nn_env_cpu(1, 1), nn_env_cpu(0, 2)};
    for (int e = 0; e < 2; e++) {
        qa_nn_ctx_t *ctx = envs[e].ctx;
        float loss, g[3];
        const float p[] = {1, 2}, t[] = {0, 0};
        QA_CHECK_OK(qa_nn_loss_mse(ctx, 2, p, t, &loss, g)); /* (1 + 4) / 2; 2 r / n */
        QA_CHECK(loss == 2.5f && g[0] == 1.0f && g[1] == 2.0f);
        const float ph[] = {0.5f, 3.0f};
        QA_CHECK_OK(qa_nn_loss_huber(ctx, 2, 1.0f, ph, t, &loss, g)); /* (0.125 + 2.5) / 2 */
        QA_CHECK(loss == 1.3125f && g[0] == 0.25f && g[1] == 0.5f);
        /* 3 classes, logits [1 2 3], label 2: log(1 + e^-1 + e^-2); softmax - onehot */
        const float z[] = {1, 2, 3};
        const int32_t y = 2;
        QA_CHECK_OK(qa_nn_loss_cross_entropy(ctx, 1, 3, z, &y, &loss, g));
        QA_CHECK_NEAR(loss, 0.4076059644443804, 1e-7, 0);
        QA_CHECK_NEAR(g[0], 0.09003057317038046, 1e-7, 0);
        QA_CHECK_NEAR(g[1], 0.24472847105479767, 1e-7, 0);
        QA_CHECK_NEAR(g[2], 0.6652409557748219 - 1.0, 1e-7, 0);
        /* numerically stable for huge logits: the same as [0 1 2] shifted */
        const float zb[] = {1000, 1001, 1002, -1000, -999, -998};
        const int32_t yb[] = {2, 2};
        QA_CHECK_OK(qa_nn_loss_cross_entropy(ctx, 2, 3, zb, yb, &loss, NULL));
        QA_CHECK_NEAR(loss, 0.4076059644443804, 1e-6, 0);
        /* invalid label: NaN loss, zero gradient row */
        const int32_t ybad[] = {1, 3};
        float gb[6] = {9, 9, 9, 9, 9, 9};
        QA_CHECK_OK(qa_nn_loss_cross_entropy(ctx, 2, 3, zb, ybad, &loss, gb));
        QA_CHECK(isnan(loss) && gb[3] == 0.0f && gb[4] == 0.0f && gb[5] == 0.0f && gb[0] != 9.0f);
        /* NaN in the data propagates to the loss (and then the norm skips the step) */
        const float pn[] = {1, NAN};
        QA_CHECK_OK(qa_nn_loss_mse(ctx, 2, pn, t, &loss, g));
        QA_CHECK(isnan(loss) && isnan(g[1]) && g[0] == 1.0f);
        QA_CHECK_OK(qa_nn_grad_norm(ctx, 2, g, &loss));
        QA_CHECK(isnan(loss));
        /* empty */
        QA_CHECK_OK(qa_nn_loss_mse(ctx, 0, NULL, NULL, &loss, NULL));
        QA_CHECK(loss == 0.0f);
        QA_CHECK_ERR(qa_nn_loss_huber(ctx, 2, 0.0f, p, t, &loss, g), QA_ERR_INVALID_ARG, "delta");
    }
    nn_env_free(&envs[0]);
    nn_env_free(&envs[1]);
}

typedef struct loss_case {
    int kind; /* 0 mse, 1 huber, 2 ce */
    size_t n;
    int rows, classes;
    double delta;
    double *p, *t;
    const int32_t *labels;
} loss_case;

static double loss_d(void *pc) {
    loss_case *c = pc;
    double s = 0.0;
    if (c->kind == 2) {
        for (int r = 0; r < c->rows; r++) {
            const double *z = c->p + (size_t)r * c->classes;
            double mx = z[0], se = 0.0;
            for (int j = 1; j < c->classes; j++) mx = fmax(mx, z[j]);
            for (int j = 0; j < c->classes; j++) se += exp(z[j] - mx);
            /* cppcheck-suppress invalidFunctionArg ; the sum holds exp(0) = 1 for the maximum: >= 1 */
            s += mx + log(se) - z[c->labels[r]];
        }
        return s / c->rows;
    }
    for (size_t i = 0; i < c->n; i++) {
        double r = c->p[i] - c->t[i];
        if (c->kind == 0) s += r * r;
        else s += fabs(r) <= c->delta ? 0.5 * r * r : c->delta * (fabs(r) - 0.5 * c->delta);
    }
    return s / c->n;
}

/* Every loss against the double formula (value: float rounding of a double sum, 1e-6
 * relative) and central differences of it (gradients). Huber residuals are kept away
 * from +-delta. Threads 1 and 2 give bitwise identical results (fixed chunking). */
static void test_losses_random(void) {
    nn_env envs[3] = {nn_env_cpu(1, 1), nn_env_cpu(0, 2), nn_env_cpu(0, 1)};
    const size_t n = 3 * 4096 + 17;
    const int rows = 4099, classes = 5;
    float *p = nn_randn(n, 60, 1.0f), *t = nn_randn(n, 61, 1.0f);
    for (size_t i = 0; i < n; i++)
        if (fabsf(fabsf(p[i] - t[i]) - 0.8f) < 1e-3f) p[i] += 0.01f;
    int32_t *labels = malloc(rows * sizeof *labels);
    for (int r = 0; r < rows; r++) labels[r] = (int32_t)(qa_rng_u32(nn_test_seed(), 62, (uint64_t)r) % classes);
    float *z = nn_randn((size_t)rows * classes, 63, 3.0f);
    for (int kind = 0; kind < 3; kind++) {
        size_t m = kind == 2 ? (size_t)rows * classes : n;
        loss_case c = {kind, n, rows, classes, 0.8, nn_to_double(kind == 2 ? z : p, m), nn_to_double(t, n), labels};
        float loss[3], *g[3];
        for (int e = 0; e < 3; e++) {
            g[e] = malloc(m * sizeof(float));
            if (kind == 0) QA_CHECK_OK(qa_nn_loss_mse(envs[e].ctx, n, p, t, &loss[e], g[e]));
            else if (kind == 1) QA_CHECK_OK(qa_nn_loss_huber(envs[e].ctx, n, 0.8f, p, t, &loss[e], g[e]));
            else QA_CHECK_OK(qa_nn_loss_cross_entropy(envs[e].ctx, rows, classes, z, labels, &loss[e], g[e]));
        }
        double ref = loss_d(&c);
        QA_CHECK_NEAR(loss[0], ref, 0, 1e-6);
        QA_CHECK_NEAR(loss[1], ref, 0, 1e-6);
        QA_CHECK(loss[1] == loss[2] && memcmp(g[1], g[2], m * sizeof(float)) == 0);
        /* finite differences on a subset (every 97th element) to keep the test fast */
        size_t cnt = 0;
        float *ga = malloc(m * sizeof(float));
        double *gn = malloc(m * sizeof(double));
        for (size_t i = 0; i < m; i += 97, cnt++) {
            double save = c.p[i], h = 1e-4;
            c.p[i] = save + h;
            double lp = loss_d(&c);
            c.p[i] = save - h;
            double lm = loss_d(&c);
            c.p[i] = save;
            gn[cnt] = (lp - lm) / (2 * h);
            ga[cnt] = g[0][i];
        }
        /* the numeric derivative of a mean over ~1e4 terms loses ~1e-16 * |L| / h = 1e-12
         * absolute against gradients of ~1e-4: relative 1e-4 */
        nn_grad_check(kind == 0 ? "mse grad" : kind == 1 ? "huber grad" : "ce grad", ga, gn, cnt, 1e-4);
        nn_near_ff("loss grad opt vs ref", g[1], g[0], m, 1e-9, 1e-6);
        free(ga), free(gn), free(c.p), free(c.t);
        for (int e = 0; e < 3; e++) free(g[e]);
    }
    free(p), free(t), free(z), free(labels);
    for (int e = 0; e < 3; e++) nn_env_free(&envs[e]);
}

/* ---- optimiser ---------------------------------------------------------------------------------- */

static void test_adamw_hand(void) {
    nn_env env = nn_env_cpu(1, 1);
    /* p = 1, g = 0.5, lr 0.1, wd 0.01: m = 0.05, v = 0.00025, mhat = 0.5, vhat = 0.25,
     * p = 1 * (1 - 0.001) - 0.1 * 0.5 / (0.5 + 1e-8) = 0.899000002 */
    float p = 1.0f, g = 0.5f, m = 0.0f, v = 0.0f;
    qa_nn_adamw_cfg cfg = {0.1, 0.9, 0.999, 1e-8, 0.01, 0.0};
    QA_CHECK_OK(qa_nn_adamw_update(env.ctx, &cfg, 1, 1, &p, &g, &m, &v, NULL));
    /* float rounding of the constants (0.1f, 0.001f) and of each operation: 1e-6 relative */
    QA_CHECK_NEAR(p, 0.899000002, 0, 1e-6);
    QA_CHECK_NEAR(m, 0.05, 0, 1e-6);
    QA_CHECK_NEAR(v, 0.00025, 0, 1e-6);
    /* clipping: norm 10 > max_norm 1 scales g by 1 / (10 + 1e-6) */
    float p2 = 1.0f, m2 = 0.0f, v2 = 0.0f, norm = 10.0f, g2 = 5.0f;
    cfg.max_norm = 1.0;
    cfg.weight_decay = 0.0;
    QA_CHECK_OK(qa_nn_adamw_update(env.ctx, &cfg, 1, 1, &p2, &g2, &m2, &v2, &norm));
    QA_CHECK_NEAR(m2, 0.1 * 5.0 / (10.0 + 1e-6), 0, 1e-6);
    /* non-finite norm: step skipped */
    float p3 = 1.0f, m3 = 0.0f, v3 = 0.0f, bad = NAN;
    QA_CHECK_OK(qa_nn_adamw_update(env.ctx, &cfg, 1, 1, &p3, &g2, &m3, &v3, &bad));
    QA_CHECK(p3 == 1.0f && m3 == 0.0f && v3 == 0.0f);
    QA_CHECK_ERR(qa_nn_adamw_update(env.ctx, &cfg, 0, 1, &p3, &g2, &m3, &v3, NULL), QA_ERR_INVALID_ARG, "step");
    nn_env_free(&env);
}

/* Global norm vs a double sum, and AdamW + clipping over 6 steps vs a straightforward
 * double implementation here (clipping active on some steps, inactive on others).
 * Budget: float state drifts by a few ulp per step: 1e-6 relative + 1e-7 absolute. */
static void test_adamw_vs_straightforward(void) {
    nn_env envs[2] = {nn_env_cpu(1, 1), nn_env_cpu(0, 2)};
    const size_t n = 70001;
    for (int e = 0; e < 2; e++) {
        float *p = nn_randn(n, 70, 1.0f), *m = calloc(n, 4), *v = calloc(n, 4);
        double *pd = nn_to_double(p, n), *md = calloc(n, 8), *vd = calloc(n, 8);
        qa_nn_adamw_cfg cfg = {1e-3, 0.9, 0.999, 1e-8, 0.05, 150.0};
        for (int step = 1; step <= 6; step++) {
            float *g = nn_randn(n, 80 + step, step % 2 ? 1.0f : 0.1f); /* norm ~264 or ~26 */
            float norm;
            QA_CHECK_OK(qa_nn_grad_norm(envs[e].ctx, n, g, &norm));
            double s2 = 0.0;
            for (size_t i = 0; i < n; i++) s2 += (double)g[i] * g[i];
            double nd = sqrt(s2);
            QA_CHECK_NEAR(norm, nd, 0, 1e-6);
            QA_CHECK_OK(qa_nn_adamw_update(envs[e].ctx, &cfg, step, n, p, g, m, v, &norm));
            double scale = nd > cfg.max_norm ? cfg.max_norm / (nd + 1e-6) : 1.0;
            double bc1 = 1 - pow(0.9, step), bc2 = 1 - pow(0.999, step);
            for (size_t i = 0; i < n; i++) {
                double gi = g[i] * scale;
                pd[i] -= cfg.lr * cfg.weight_decay * pd[i];
                md[i] = 0.9 * md[i] + 0.1 * gi;
                vd[i] = 0.999 * vd[i] + 0.001 * gi * gi;
                pd[i] -= cfg.lr * (md[i] / bc1) / (sqrt(vd[i] / bc2) + 1e-8);
            }
            free(g);
        }
        nn_near("adamw params", p, pd, n, 1e-7, 1e-6);
        /* m and v: float rounding of a few multiply-adds per step, 1e-6 relative to the
         * largest entry (m has cancellations near 0) */
        nn_near("adamw m", m, md, n, 1e-6 * nn_max_abs(md, n), 1e-6);
        nn_near("adamw v", v, vd, n, 1e-6 * nn_max_abs(vd, n), 1e-6);
        free(p), free(m), free(v), free(pd), free(md), free(vd);
    }
    /* the norm is the same for any thread count */
    float *g = nn_randn(n, 90, 1.0f), n1, n2;
    QA_CHECK_OK(qa_nn_grad_norm(envs[0].ctx, n, g, &n1));
    QA_CHECK_OK(qa_nn_grad_norm(envs[1].ctx, n, g, &n2));
    QA_CHECK(n1 == n2);
    free(g);
    nn_env_free(&envs[0]);
    nn_env_free(&envs[1]);
}

static void test_schedule(void) {
    qa_nn_lr_schedule s = {1e-3, 1e-5, 10, 110};
    QA_CHECK_NEAR(qa_nn_lr_at(&s, 0), 1e-4, 0, 1e-12);
    QA_CHECK_NEAR(qa_nn_lr_at(&s, 4), 5e-4, 0, 1e-12);
    QA_CHECK_NEAR(qa_nn_lr_at(&s, 9), 1e-3, 0, 1e-12);
    QA_CHECK_NEAR(qa_nn_lr_at(&s, 10), 1e-3, 0, 1e-12);                                 /* cos(0) */
    QA_CHECK_NEAR(qa_nn_lr_at(&s, 60), 1e-5 + 0.5 * (1e-3 - 1e-5), 0, 1e-12);          /* q = 1/2 */
    QA_CHECK_NEAR(qa_nn_lr_at(&s, 35), 1e-5 + (1e-3 - 1e-5) * (1 + sqrt(0.5)) / 2, 0, 1e-12); /* q = 1/4 */
    QA_CHECK_NEAR(qa_nn_lr_at(&s, 110), 1e-5, 0, 1e-12);
    QA_CHECK_NEAR(qa_nn_lr_at(&s, 100000), 1e-5, 0, 1e-12);
    double prev = 1.0;
    for (int64_t t = 10; t <= 110; t++) { /* non-increasing after warm-up */
        QA_CHECK(qa_nn_lr_at(&s, t) <= prev + 1e-18);
        prev = qa_nn_lr_at(&s, t);
    }
    qa_nn_lr_schedule nowarm = {2e-3, 0.0, 0, 50};
    QA_CHECK_NEAR(qa_nn_lr_at(&nowarm, 0), 2e-3, 0, 1e-12);
    QA_CHECK_NEAR(qa_nn_lr_at(&nowarm, 25), 1e-3, 0, 1e-12);
}

/* ---- end to end: a small MLP learns a linear target ------------------------------------------------ */

/* 4 -> 16 (GELU) -> 1, MSE, AdamW with clipping and the schedule; 300 steps on a fixed
 * batch of y = x . w*. The loss must fall below 2% of its start (it reaches ~1e-3 of
 * it); this exercises the layers composed the way a training loop uses them. */
static void test_mlp_training_converges(void) {
    nn_env env = nn_env_cpu(0, 2);
    const int B = 64, F = 4, Hd = 16;
    const size_t n1 = (size_t)Hd * F, n2 = Hd, n3 = Hd, np = n1 + n2 + n3 + 1;
    float *p = malloc(np * 4), *gr = malloc(np * 4), *m = calloc(np, 4), *v = calloc(np, 4);
    for (size_t i = 0; i < np; i++) p[i] = (float)(0.4 * qa_rng_normal(7, 1, i));
    float *w1 = p, *b1 = p + n1, *w2 = b1 + n2, *b2 = w2 + n3;
    float *gw1 = gr, *gb1 = gr + n1, *gw2 = gb1 + n2, *gb2 = gw2 + n3;
    float x[64 * 4], t[64], u[64 * 16], hbuf[64 * 16], yv[64], dy[64], dh[64 * 16], loss, norm, first = 0;
    for (int i = 0; i < B * F; i++) x[i] = (float)qa_rng_normal(7, 2, (uint64_t)i);
    for (int i = 0; i < B; i++) t[i] = 0.5f * x[i * 4] - 0.25f * x[i * 4 + 1] + 0.1f * x[i * 4 + 3];
    qa_nn_lr_schedule sched = {1e-2, 1e-3, 20, 300};
    for (int step = 0; step < 300; step++) {
        QA_CHECK_OK(qa_nn_linear_forward(env.ctx, B, F, Hd, x, w1, NULL, u));
        QA_CHECK_OK(qa_nn_bias_act_forward(env.ctx, QA_NN_ACT_GELU, B, Hd, u, b1, NULL, hbuf));
        QA_CHECK_OK(qa_nn_linear_forward(env.ctx, B, Hd, 1, hbuf, w2, b2, yv));
        QA_CHECK_OK(qa_nn_loss_mse(env.ctx, (size_t)B, yv, t, &loss, dy));
        if (step == 0) first = loss;
        QA_CHECK_OK(qa_nn_linear_backward(env.ctx, B, Hd, 1, hbuf, w2, dy, dh, gw2, gb2, 0));
        QA_CHECK_OK(qa_nn_bias_act_backward(env.ctx, QA_NN_ACT_GELU, B, Hd, u, b1, NULL, dh, dh, gb1, 0));
        QA_CHECK_OK(qa_nn_linear_backward(env.ctx, B, F, Hd, x, w1, dh, NULL, gw1, NULL, 0));
        QA_CHECK_OK(qa_nn_grad_norm(env.ctx, np, gr, &norm));
        qa_nn_adamw_cfg cfg = {qa_nn_lr_at(&sched, step), 0.9, 0.999, 1e-8, 0.0, 1.0};
        QA_CHECK_OK(qa_nn_adamw_update(env.ctx, &cfg, step + 1, np, p, gr, m, v, &norm));
    }
    printf("  mlp loss %.4g -> %.4g\n", first, loss);
    QA_CHECK_MSG(loss < 0.02f * first, "loss %g did not fall below 2%% of %g", loss, first);
    free(p), free(gr), free(m), free(v);
    nn_env_free(&env);
}

/* ---- GPU parity ------------------------------------------------------------------------------------ */

/* cuBLAS in each math mode against the double GEMM, budget c * |A||B| per entry:
 *  FP32: (k + 2) * 2^-24 (gamma_k for float accumulation; no down-conversion);
 *  TF32: 2 * 2^-10 for the two operands entering tensor cores with 10 mantissa bits
 *        (truncation or rounding: <= 2^-10 relative each) + k * 2^-24 accumulation;
 *  BF16: 2 * 2^-8 for the two operands rounded to 8 mantissa bits (RNE: 2^-9 each, with
 *        margin 2x) + k * 2^-24 accumulation. */
static void test_gpu_gemm(void) {
    nn_env g = nn_env_gpu();
    check_gemm_shapes(&g, "cuda-fp32", 0x1p-24, 0.0);
    QA_CHECK_OK(qa_nn_ctx_set_math(g.ctx, QA_NN_MATH_TF32));
    check_gemm_shapes(&g, "cuda-tf32", 0x1p-24, 2 * 0x1p-10);
    QA_CHECK_OK(qa_nn_ctx_set_math(g.ctx, QA_NN_MATH_BF16));
    check_gemm_shapes(&g, "cuda-bf16", 0x1p-24, 2 * 0x1p-8);
    /* the scratch arena stops growing once the largest shape was seen */
    int allocs = qa_nn_ctx_scratch_allocs(g.ctx);
    check_gemm_shapes(&g, "cuda-bf16 again", 0x1p-24, 2 * 0x1p-8);
    QA_CHECK_INT(qa_nn_ctx_scratch_allocs(g.ctx), allocs);
    nn_env_free(&g);
}

/* Linear, bias+act (+dropout), LayerNorm, losses, norm and AdamW on CUDA (FP32 math)
 * against the CPU reference on the same random inputs. Budgets: GEMM-based outputs
 * 1e-5 of max|ref| + 1e-5 relative (float sums of <= 200 terms in a different order);
 * elementwise ops 2e-6 (CUDA tanhf/expf are within 2 ulp of libm's); reductions in
 * double: 1e-6 relative; dropout masks must be bitwise identical. */
static void test_gpu_layers(void) {
    nn_env g = nn_env_gpu(), c = nn_env_cpu(1, 1);
    const int B = 37, IN = 45, OUT = 130;
    const size_t nx = (size_t)B * IN, nw = (size_t)OUT * IN, ny = (size_t)B * OUT;
    float *x = nn_randn(nx, 200, 1.0f), *w = nn_randn(nw, 201, 0.2f), *b = nn_randn(OUT, 202, 0.3f);
    float *r = nn_randn(ny, 203, 1.0f);
    qa_buf bx, bw, bb, br, by, bdx, bdw, bdb, bz;
    float *dx_ = nn_dev(&g, &bx, x, nx * 4), *dw_ = nn_dev(&g, &bw, w, nw * 4), *db_ = nn_dev(&g, &bb, b, OUT * 4);
    float *dr = nn_dev(&g, &br, r, ny * 4), *dy_ = nn_dev(&g, &by, NULL, ny * 4), *ddx = nn_dev(&g, &bdx, NULL, nx * 4);
    float *ddw = nn_dev(&g, &bdw, NULL, nw * 4), *ddb = nn_dev(&g, &bdb, NULL, OUT * 4), *dz = nn_dev(&g, &bz, NULL, ny * 4);
    float *y = malloc(ny * 4), *dxh = malloc(nx * 4), *dwh = malloc(nw * 4), *dbh = malloc(OUT * 4), *z = malloc(ny * 4);
    /* linear */
    QA_CHECK_OK(qa_nn_linear_forward(g.ctx, B, IN, OUT, dx_, dw_, db_, dy_));
    QA_CHECK_OK(qa_nn_linear_forward(c.ctx, B, IN, OUT, x, w, b, y));
    float *hy = nn_host(&g, &by, ny * 4);
    nn_near_ff("gpu linear forward", hy, y, ny, 1e-5 * nn_max_absf(y, ny), 1e-5);
    QA_CHECK_OK(qa_nn_linear_backward(g.ctx, B, IN, OUT, dx_, dw_, dr, ddx, ddw, ddb, 0));
    QA_CHECK_OK(qa_nn_linear_backward(c.ctx, B, IN, OUT, x, w, r, dxh, dwh, dbh, 0));
    float *h1 = nn_host(&g, &bdx, nx * 4), *h2 = nn_host(&g, &bdw, nw * 4), *h3 = nn_host(&g, &bdb, OUT * 4);
    nn_near_ff("gpu linear dx", h1, dxh, nx, 1e-5 * nn_max_absf(dxh, nx), 1e-5);
    nn_near_ff("gpu linear dw", h2, dwh, nw, 1e-5 * nn_max_absf(dwh, nw), 1e-5);
    nn_near_ff("gpu linear db", h3, dbh, OUT, 1e-5 * nn_max_absf(dbh, OUT), 1e-5);
    free(hy), free(h1), free(h2), free(h3);
    /* bias + act + dropout on x := the CPU's linear output, given to both backends so
     * the comparison sees only the elementwise kernels' differences */
    QA_CHECK_OK(qa_buf_upload(g.be, &by, 0, y, ny * 4));
    qa_nn_dropout drop = {0.25f, qa_nn_dropout_seed(nn_test_seed(), 3), 11};
    for (int a = 0; a < QA_NN_ACT_COUNT; a++)
        for (int d = 0; d < 2; d++) {
            const qa_nn_dropout *dp = d ? &drop : NULL;
            QA_CHECK_OK(qa_nn_bias_act_forward(g.ctx, (qa_nn_act)a, B, OUT, dy_, db_, dp, dz));
            QA_CHECK_OK(qa_nn_bias_act_forward(c.ctx, (qa_nn_act)a, B, OUT, y, b, dp, z));
            float *hz = nn_host(&g, &bz, ny * 4);
            nn_near_ff("gpu bias_act forward", hz, z, ny, 2e-6, 2e-6);
            size_t zero_mismatch = 0;
            for (size_t i = 0; i < ny; i++) zero_mismatch += (hz[i] == 0.0f) != (z[i] == 0.0f) && a != QA_NN_ACT_RELU;
            QA_CHECK_INT(zero_mismatch, 0);
            free(hz);
            QA_CHECK_OK(qa_nn_bias_act_backward(g.ctx, (qa_nn_act)a, B, OUT, dy_, db_, dp, dr, dz, ddb, 0));
            QA_CHECK_OK(qa_nn_bias_act_backward(c.ctx, (qa_nn_act)a, B, OUT, y, b, dp, r, z, dbh, 0));
            hz = nn_host(&g, &bz, ny * 4);
            h3 = nn_host(&g, &bdb, OUT * 4);
            nn_near_ff("gpu bias_act dx", hz, z, ny, 2e-6, 2e-6);
            nn_near_ff("gpu bias_act dbias", h3, dbh, OUT, 1e-6 * nn_max_absf(dbh, OUT), 1e-6);
            free(hz), free(h3);
        }
    /* dropout masks: identical bits for x = 1, no activation */
    for (size_t i = 0; i < ny; i++) z[i] = 1.0f;
    QA_CHECK_OK(qa_buf_upload(g.be, &bz, 0, z, ny * 4));
    QA_CHECK_OK(qa_nn_bias_act_forward(g.ctx, QA_NN_ACT_NONE, B, OUT, dz, NULL, &drop, dy_));
    QA_CHECK_OK(qa_nn_bias_act_forward(c.ctx, QA_NN_ACT_NONE, B, OUT, z, NULL, &drop, y));
    hy = nn_host(&g, &by, ny * 4);
    QA_CHECK_MSG(memcmp(hy, y, ny * 4) == 0, "CPU and GPU dropout masks differ");
    free(hy);
    /* LayerNorm */
    {
        float *gm = nn_randn(OUT, 210, 1.0f), *bt = nn_randn(OUT, 211, 1.0f), mean[64], rstd[64];
        qa_buf bg, bbt, bm, bs;
        float *dgm = nn_dev(&g, &bg, gm, OUT * 4), *dbt = nn_dev(&g, &bbt, bt, OUT * 4);
        float *dm = nn_dev(&g, &bm, NULL, B * 4), *ds = nn_dev(&g, &bs, NULL, B * 4);
        QA_CHECK_OK(qa_nn_layernorm_forward(g.ctx, B, OUT, QA_NN_LAYERNORM_EPS, dr, dgm, dbt, dz, dm, ds));
        QA_CHECK_OK(qa_nn_layernorm_forward(c.ctx, B, OUT, QA_NN_LAYERNORM_EPS, r, gm, bt, z, mean, rstd));
        float *hz = nn_host(&g, &bz, ny * 4);
        nn_near_ff("gpu layernorm forward", hz, z, ny, 2e-6, 2e-6);
        free(hz);
        QA_CHECK_OK(qa_nn_layernorm_backward(g.ctx, B, OUT, dr, dgm, dm, ds, dy_, dz, ddb, ddw, 0));
        QA_CHECK_OK(qa_nn_layernorm_backward(c.ctx, B, OUT, r, gm, mean, rstd, y, z, dbh, dwh, 0));
        hz = nn_host(&g, &bz, ny * 4);
        h1 = nn_host(&g, &bdb, OUT * 4);
        h2 = nn_host(&g, &bdw, OUT * 4);
        nn_near_ff("gpu layernorm dx", hz, z, ny, 1e-5 * nn_max_absf(z, ny), 1e-5);
        nn_near_ff("gpu layernorm dgamma", h1, dbh, OUT, 1e-6 * nn_max_absf(dbh, OUT), 1e-6);
        nn_near_ff("gpu layernorm dbeta", h2, dwh, OUT, 1e-6 * nn_max_absf(dwh, OUT), 1e-6);
        free(hz), free(h1), free(h2), free(gm), free(bt);
        qa_buf_free(&bg), qa_buf_free(&bbt), qa_buf_free(&bm), qa_buf_free(&bs);
    }
    /* losses + norm: values to 1e-6 relative (double sums, different order), grads 1e-6 */
    {
        int32_t *lab = malloc(B * sizeof *lab);
        for (int i = 0; i < B; i++) lab[i] = (int32_t)(qa_rng_u32(nn_test_seed(), 220, (uint64_t)i) % OUT);
        qa_buf bl, bloss;
        int32_t *dl = (int32_t *)nn_dev(&g, &bl, lab, B * sizeof *lab);
        float *dloss = nn_dev(&g, &bloss, NULL, 4), lg, lc;
        for (int kind = 0; kind < 4; kind++) {
            if (kind == 0) {
                QA_CHECK_OK(qa_nn_loss_mse(g.ctx, ny, dy_, dr, dloss, dz));
                QA_CHECK_OK(qa_nn_loss_mse(c.ctx, ny, y, r, &lc, z));
            } else if (kind == 1) {
                QA_CHECK_OK(qa_nn_loss_huber(g.ctx, ny, 0.7f, dy_, dr, dloss, dz));
                QA_CHECK_OK(qa_nn_loss_huber(c.ctx, ny, 0.7f, y, r, &lc, z));
            } else if (kind == 2) {
                QA_CHECK_OK(qa_nn_loss_cross_entropy(g.ctx, B, OUT, dr, dl, dloss, dz));
                QA_CHECK_OK(qa_nn_loss_cross_entropy(c.ctx, B, OUT, r, lab, &lc, z));
            } else {
                QA_CHECK_OK(qa_nn_grad_norm(g.ctx, ny, dr, dloss));
                QA_CHECK_OK(qa_nn_grad_norm(c.ctx, ny, r, &lc));
            }
            QA_CHECK_OK(qa_buf_download(g.be, &lg, &bloss, 0, 4));
            QA_CHECK_NEAR(lg, lc, 0, 1e-6);
            if (kind < 3) {
                float *hz = nn_host(&g, &bz, ny * 4);
                nn_near_ff("gpu loss grad", hz, z, ny, 1e-6 * nn_max_absf(z, ny), 1e-6);
                free(hz);
            }
        }
        /* AdamW: a few steps from the same state */
        float *m = calloc(ny, 4), *v = calloc(ny, 4), *p = malloc(ny * 4);
        memcpy(p, y, ny * 4);
        qa_buf bm, bv;
        float *dm = nn_dev(&g, &bm, m, ny * 4), *dv = nn_dev(&g, &bv, v, ny * 4);
        QA_CHECK_OK(qa_buf_upload(g.be, &by, 0, p, ny * 4));
        qa_nn_adamw_cfg cfg = {1e-2, 0.9, 0.999, 1e-8, 0.1, 5.0};
        for (int step = 1; step <= 3; step++) {
            QA_CHECK_OK(qa_nn_grad_norm(g.ctx, ny, dr, dloss));
            QA_CHECK_OK(qa_nn_adamw_update(g.ctx, &cfg, step, ny, dy_, dr, dm, dv, dloss));
            QA_CHECK_OK(qa_nn_grad_norm(c.ctx, ny, r, &lc));
            QA_CHECK_OK(qa_nn_adamw_update(c.ctx, &cfg, step, ny, p, r, m, v, &lc));
        }
        float *hp = nn_host(&g, &by, ny * 4);
        nn_near_ff("gpu adamw params", hp, p, ny, 1e-7, 1e-6);
        free(hp), free(m), free(v), free(p), free(lab);
        qa_buf_free(&bm), qa_buf_free(&bv), qa_buf_free(&bl), qa_buf_free(&bloss);
    }
    /* determinism: the same reduction twice gives the same bits */
    {
        float n1, n2;
        qa_buf bn;
        float *dn = nn_dev(&g, &bn, NULL, 4);
        QA_CHECK_OK(qa_nn_grad_norm(g.ctx, ny, dr, dn));
        QA_CHECK_OK(qa_buf_download(g.be, &n1, &bn, 0, 4));
        QA_CHECK_OK(qa_nn_grad_norm(g.ctx, ny, dr, dn));
        QA_CHECK_OK(qa_buf_download(g.be, &n2, &bn, 0, 4));
        QA_CHECK(n1 == n2);
        qa_buf_free(&bn);
    }
    qa_buf *bufs[] = {&bx, &bw, &bb, &br, &by, &bdx, &bdw, &bdb, &bz};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) qa_buf_free(bufs[i]);
    free(x), free(w), free(b), free(r), free(y), free(dxh), free(dwh), free(dbh), free(z);
    nn_env_free(&c);
    nn_env_free(&g);
}

int main(int argc, char **argv) {
    nn_test_seed();
    static const qa_test_case gpu[] = {QA_CASE(test_gpu_gemm), QA_CASE(test_gpu_layers)};
    static const qa_test_case cpu[] = {QA_CASE(test_gemm_hand), QA_CASE(test_gemm_random),
                                       QA_CASE(test_linear_hand_and_grad), QA_CASE(test_fast_math), QA_CASE(test_fast_gelu),
                                       QA_CASE(test_bias_act_hand), QA_CASE(test_bias_act_grad),
                                       QA_CASE(test_dropout_mask), QA_CASE(test_layernorm), QA_CASE(test_losses_hand),
                                       QA_CASE(test_losses_random), QA_CASE(test_adamw_hand),
                                       QA_CASE(test_adamw_vs_straightforward), QA_CASE(test_schedule),
                                       QA_CASE(test_mlp_training_converges)};
    return qa_kernel_test_main(argc, argv, QA_CASES(gpu), QA_CASES(cpu));
}
