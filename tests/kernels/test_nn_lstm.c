/* LSTM (kernels/nn_lstm.h): a hand-computed cell, the CPU reference and the optimised
 * (OpenBLAS + fast gates) path against an independent double-precision LSTM written
 * here, finite-difference gradients (BPTT) for every parameter and input, gradient
 * accumulation, smaller-than-maximum batches, and (gpu mode) cuDNN against the CPU
 * reference on fresh random inputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/nn_lstm.h"
#include "nn_test.h"

/* ---- independent double LSTM ------------------------------------------------------------ */

static double sigm(double z) { return 1.0 / (1.0 + exp(-z)); }

/* Forward of the stacked LSTM in double with the documented layout; returns
 * L = sum(r_last .* h_last) + sum(r_seq .* y_seq) when the weights are given, and fills
 * h_last / y_seq when those are non-NULL. */
typedef struct lstm_d {
    qa_nn_lstm_shape s;
    int batch;
    double *p, *x, *r_last, *r_seq; /* r_* may be NULL (zero weights) */
} lstm_d;

static double lstm_forward_d(const lstm_d *c, double *h_last, double *y_seq) {
    const int B = c->batch, L = c->s.seq_len, H = c->s.hidden;
    size_t seq = (size_t)B * L * H;
    double *in = malloc(((size_t)B * L * (c->s.input > H ? c->s.input : H)) * sizeof *in);
    double *out = malloc(seq * sizeof *out), *cc = malloc((size_t)H * sizeof *cc), *z = malloc(4 * (size_t)H * sizeof *z);
    memcpy(in, c->x, (size_t)B * L * c->s.input * sizeof *in);
    for (int l = 0; l < c->s.layers; l++) {
        const int F = l == 0 ? c->s.input : H;
        const double *wi = c->p + qa_nn_lstm_param_offset(&c->s, l, QA_NN_LSTM_W_IH);
        const double *wh = c->p + qa_nn_lstm_param_offset(&c->s, l, QA_NN_LSTM_W_HH);
        const double *bi = c->p + qa_nn_lstm_param_offset(&c->s, l, QA_NN_LSTM_B_IH);
        const double *bh = c->p + qa_nn_lstm_param_offset(&c->s, l, QA_NN_LSTM_B_HH);
        for (int b = 0; b < B; b++) {
            for (int j = 0; j < H; j++) cc[j] = 0.0;
            for (int t = 0; t < L; t++) {
                const double *xt = in + ((size_t)b * L + t) * F;
                const double *hp = t > 0 ? out + ((size_t)b * L + t - 1) * H : NULL;
                for (int q = 0; q < 4 * H; q++) {
                    double s = bi[q] + bh[q];
                    for (int k = 0; k < F; k++) s += wi[(size_t)q * F + k] * xt[k];
                    if (hp)
                        for (int k = 0; k < H; k++) s += wh[(size_t)q * H + k] * hp[k];
                    z[q] = s;
                }
                double *ht = out + ((size_t)b * L + t) * H;
                for (int j = 0; j < H; j++) {
                    double i = sigm(z[j]), f = sigm(z[H + j]), g = tanh(z[2 * H + j]), o = sigm(z[3 * H + j]);
                    cc[j] = f * cc[j] + i * g;
                    ht[j] = o * tanh(cc[j]);
                }
            }
        }
        memcpy(in, out, seq * sizeof *in);
    }
    double loss = 0.0;
    for (int b = 0; b < B; b++)
        for (int j = 0; j < H; j++) {
            double v = out[((size_t)b * L + L - 1) * H + j];
            if (h_last) h_last[(size_t)b * H + j] = v;
            if (c->r_last) loss += c->r_last[(size_t)b * H + j] * v;
        }
    if (y_seq) memcpy(y_seq, out, seq * sizeof *y_seq);
    if (c->r_seq)
        for (size_t i = 0; i < seq; i++) loss += c->r_seq[i] * out[i];
    free(in), free(out), free(cc), free(z);
    return loss;
}

static double lstm_loss(void *p) { return lstm_forward_d(p, NULL, NULL); }

/* ---- tests ----------------------------------------------------------------------------- */

/* One cell, all parameters 0 except b_ih of gate g = 1: i = f = o = 1/2, g = tanh(1),
 * c = tanh(1)/2 = 0.3807970779778824, h = tanh(c)/2 = 0.18169974219452625. */
static void test_lstm_hand(void) {
    qa_nn_lstm_shape s = {1, 1, 1, 1, 1};
    QA_CHECK_INT(qa_nn_lstm_param_count(&s), 4 + 4 + 4 + 4);
    float p[16] = {0}, x = 0.7f, h;
    p[qa_nn_lstm_param_offset(&s, 0, QA_NN_LSTM_B_IH) + 2] = 1.0f;
    for (int ref = 0; ref < 2; ref++) {
        nn_env e = nn_env_cpu(ref, 1);
        qa_nn_lstm_t *lstm = NULL;
        QA_CHECK_OK(qa_nn_lstm_create(e.ctx, &s, &lstm));
        QA_CHECK_OK(qa_nn_lstm_forward(lstm, 1, p, &x, &h, NULL));
        QA_CHECK_NEAR(h, 0.18169974219452625, 5e-7, 0);
        qa_nn_lstm_free(lstm);
        nn_env_free(&e);
    }
}

/* Forward (h_last and y_seq) against the double LSTM. The reference differs from double
 * only by float rounding, ~L * few ulp on values bounded by 1; the optimised path adds
 * the fast gates (3e-7 each): 1e-5 absolute covers both with > 10x margin. */
static void test_lstm_forward(void) {
    qa_nn_lstm_shape s = {4, 7, 5, 9, 2};
    const int batch = 3;
    size_t np = qa_nn_lstm_param_count(&s), nx = (size_t)batch * s.seq_len * s.input;
    size_t nh = (size_t)batch * s.hidden, ns = nh * s.seq_len;
    QA_CHECK_INT(np, (36 * 5 + 36 * 9 + 72) + (36 * 9 + 36 * 9 + 72));
    float *p = nn_randn(np, 300, 0.4f), *x = nn_randn(nx, 301, 1.0f);
    lstm_d c = {s, batch, nn_to_double(p, np), nn_to_double(x, nx), NULL, NULL};
    double *hd = malloc(nh * 8), *yd = malloc(ns * 8);
    lstm_forward_d(&c, hd, yd);
    for (int ref = 0; ref < 2; ref++) {
        nn_env e = nn_env_cpu(ref, 2);
        qa_nn_lstm_t *lstm = NULL;
        QA_CHECK_OK(qa_nn_lstm_create(e.ctx, &s, &lstm));
        float *h = malloc(nh * 4 + QA_GUARD_BYTES), *y = malloc(ns * 4 + QA_GUARD_BYTES);
        qa_test_guard_fill(h + nh, QA_GUARD_BYTES), qa_test_guard_fill(y + ns, QA_GUARD_BYTES);
        QA_CHECK_OK(qa_nn_lstm_forward(lstm, batch, p, x, h, y));
        QA_CHECK(qa_test_guard_intact(h + nh, QA_GUARD_BYTES) && qa_test_guard_intact(y + ns, QA_GUARD_BYTES));
        nn_near(ref ? "ref lstm h_last" : "opt lstm h_last", h, hd, nh, 1e-5, 0);
        nn_near(ref ? "ref lstm y_seq" : "opt lstm y_seq", y, yd, ns, 1e-5, 0);
        QA_CHECK(qa_nn_lstm_memory_bytes(lstm) > 0);
        free(h), free(y);
        qa_nn_lstm_free(lstm);
        nn_env_free(&e);
    }
    free(p), free(x), free(hd), free(yd), free(c.p), free(c.x);
}

/* BPTT against central differences of the double LSTM, for every parameter and input,
 * with gradient arriving through h_last, through y_seq, and both. Budget: the float
 * backward sums over B*L rows and L recurrent steps (<= 28 terms of ~0.1): 2e-4 of
 * max|gradient| + 2e-4 relative. */
static void test_lstm_grad(void) {
    qa_nn_lstm_shape s = {3, 5, 3, 4, 2};
    const int batch = 2;
    size_t np = qa_nn_lstm_param_count(&s), nx = (size_t)batch * s.seq_len * s.input;
    size_t nh = (size_t)batch * s.hidden, ns = nh * s.seq_len;
    float *p = nn_randn(np, 310, 0.5f), *x = nn_randn(nx, 311, 1.0f);
    float *rl = nn_randn(nh, 312, 1.0f), *rs = nn_randn(ns, 313, 1.0f);
    double *np_ = malloc(np * 8), *nx_ = malloc(nx * 8);
    for (int mode = 0; mode < 3; mode++) { /* 0: h_last only, 1: y_seq only, 2: both */
        lstm_d c = {s, batch, nn_to_double(p, np), nn_to_double(x, nx), mode != 1 ? nn_to_double(rl, nh) : NULL,
                    mode != 0 ? nn_to_double(rs, ns) : NULL};
        nn_fd_grad(lstm_loss, &c, c.p, np, np_);
        nn_fd_grad(lstm_loss, &c, c.x, nx, nx_);
        for (int ref = 0; ref < 2; ref++) {
            nn_env e = nn_env_cpu(ref, 2);
            qa_nn_lstm_t *lstm = NULL;
            QA_CHECK_OK(qa_nn_lstm_create(e.ctx, &s, &lstm));
            float *h = malloc(nh * 4), *dp = malloc(np * 4 + QA_GUARD_BYTES), *dx = malloc(nx * 4 + QA_GUARD_BYTES);
            qa_test_guard_fill(dp + np, QA_GUARD_BYTES), qa_test_guard_fill(dx + nx, QA_GUARD_BYTES);
            QA_CHECK_OK(qa_nn_lstm_forward(lstm, batch, p, x, h, NULL));
            QA_CHECK_OK(qa_nn_lstm_backward(lstm, batch, p, x, mode != 1 ? rl : NULL, mode != 0 ? rs : NULL, dx, dp, 0));
            QA_CHECK(qa_test_guard_intact(dp + np, QA_GUARD_BYTES) && qa_test_guard_intact(dx + nx, QA_GUARD_BYTES));
            char what[64];
            snprintf(what, sizeof what, "%s lstm dparams (mode %d)", ref ? "ref" : "opt", mode);
            nn_grad_check(what, dp, np_, np, 2e-4);
            snprintf(what, sizeof what, "%s lstm dx (mode %d)", ref ? "ref" : "opt", mode);
            nn_grad_check(what, dx, nx_, nx, 2e-4);
            if (mode == 2) { /* accumulate: a second backward adds the same again */
                QA_CHECK_OK(qa_nn_lstm_backward(lstm, batch, p, x, rl, rs, NULL, dp, 1));
                double *twice = malloc(np * 8);
                for (size_t i = 0; i < np; i++) twice[i] = 2 * np_[i];
                nn_grad_check("lstm dparams accumulated", dp, twice, np, 2e-4);
                free(twice);
            }
            free(h), free(dp), free(dx);
            qa_nn_lstm_free(lstm);
            nn_env_free(&e);
        }
        free(c.p), free(c.x), free(c.r_last), free(c.r_seq);
    }
    free(p), free(x), free(rl), free(rs), free(np_), free(nx_);
}

/* The optimised path against the reference on a larger single-layer shape with sizes
 * that are not multiples of 4 or 32: forward 1e-5 absolute; gradients 1e-4 of
 * max|gradient| + 1e-4 relative (different GEMM summation orders over B*L = 340 rows). */
static void test_lstm_opt_vs_ref(void) {
    qa_nn_lstm_shape s = {17, 20, 13, 33, 1};
    size_t np = qa_nn_lstm_param_count(&s), nx = (size_t)s.batch * s.seq_len * s.input, nh = (size_t)s.batch * s.hidden;
    float *p = nn_randn(np, 320, 0.3f), *x = nn_randn(nx, 321, 1.0f), *rl = nn_randn(nh, 322, 1.0f);
    float *h[2], *dp[2], *dx[2];
    for (int ref = 0; ref < 2; ref++) {
        nn_env e = nn_env_cpu(ref, 2);
        qa_nn_lstm_t *lstm = NULL;
        QA_CHECK_OK(qa_nn_lstm_create(e.ctx, &s, &lstm));
        h[ref] = malloc(nh * 4), dp[ref] = malloc(np * 4), dx[ref] = malloc(nx * 4);
        QA_CHECK_OK(qa_nn_lstm_forward(lstm, s.batch, p, x, h[ref], NULL));
        QA_CHECK_OK(qa_nn_lstm_backward(lstm, s.batch, p, x, rl, NULL, dx[ref], dp[ref], 0));
        qa_nn_lstm_free(lstm);
        nn_env_free(&e);
    }
    nn_near_ff("opt vs ref h_last", h[0], h[1], nh, 1e-5, 0);
    nn_near_ff("opt vs ref dparams", dp[0], dp[1], np, 1e-4 * nn_max_absf(dp[1], np), 1e-4);
    nn_near_ff("opt vs ref dx", dx[0], dx[1], nx, 1e-4 * nn_max_absf(dx[1], nx), 1e-4);
    for (int i = 0; i < 2; i++) free(h[i]), free(dp[i]), free(dx[i]);
    free(p), free(x), free(rl);
}

static void test_lstm_errors(void) {
    nn_env e = nn_env_cpu(0, 1);
    qa_nn_lstm_shape bad = {0, 4, 3, 2, 1}, s = {2, 3, 2, 2, 1};
    qa_nn_lstm_t *lstm = NULL;
    QA_CHECK_ERR(qa_nn_lstm_create(e.ctx, &bad, &lstm), QA_ERR_INVALID_ARG, "batch");
    QA_CHECK_OK(qa_nn_lstm_create(e.ctx, &s, &lstm));
    float p[64] = {0}, x[12] = {0}, h[4], dp[64];
    QA_CHECK_ERR(qa_nn_lstm_forward(lstm, 3, p, x, h, NULL), QA_ERR_INVALID_ARG, "maximum");
    QA_CHECK_ERR(qa_nn_lstm_backward(lstm, 2, p, x, h, NULL, NULL, dp, 0), QA_ERR_STATE, "forward");
    QA_CHECK_OK(qa_nn_lstm_forward(lstm, 1, p, x, h, NULL));
    QA_CHECK_ERR(qa_nn_lstm_backward(lstm, 2, p, x, h, NULL, NULL, dp, 0), QA_ERR_STATE, "forward");
    QA_CHECK_OK(qa_nn_lstm_backward(lstm, 1, p, x, h, NULL, NULL, dp, 0));
    qa_nn_lstm_free(lstm);
    qa_nn_lstm_free(NULL);
    nn_env_free(&e);
}

/* cuDNN against the CPU reference on fresh random inputs. FP32 math (CUDNN_FMA_MATH):
 * differences are float rounding in other summation orders, carried through L steps:
 * forward 2e-5 absolute (|h| < 1); gradients 1e-4 of max|gradient| + 1e-4 relative.
 * TF32 math: operands of the gate GEMMs carry 2^-10 relative error: forward 5e-3
 * absolute, gradients 2e-2 of max|gradient|. Includes a batch below the plan maximum
 * and two stacked layers. */
static void gpu_lstm_case(nn_env *g, nn_env *c, qa_nn_lstm_shape s, int batch, double fwd_atol, double grad_rel) {
    size_t np = qa_nn_lstm_param_count(&s), nx = (size_t)batch * s.seq_len * s.input, nh = (size_t)batch * s.hidden;
    size_t ns = nh * s.seq_len;
    float *p = nn_randn(np, 330 + s.layers, 0.3f), *x = nn_randn(nx, 331 + s.hidden, 1.0f);
    float *rl = nn_randn(nh, 332, 1.0f), *rs = nn_randn(ns, 333, 0.1f);
    qa_nn_lstm_t *lg = NULL, *lc = NULL;
    QA_CHECK_OK(qa_nn_lstm_create(g->ctx, &s, &lg));
    QA_CHECK_OK(qa_nn_lstm_create(c->ctx, &s, &lc));
    if (!lg || !lc) {
        qa_nn_lstm_free(lg), qa_nn_lstm_free(lc);
        free(p), free(x), free(rl), free(rs);
        return;
    }
    qa_buf bp, bx, brl, brs, bh, by, bdp, bdx;
    float *dp_ = nn_dev(g, &bp, p, np * 4), *dx_ = nn_dev(g, &bx, x, nx * 4), *drl = nn_dev(g, &brl, rl, nh * 4);
    float *drs = nn_dev(g, &brs, rs, ns * 4), *dh = nn_dev(g, &bh, NULL, nh * 4), *dy = nn_dev(g, &by, NULL, ns * 4);
    float *ddp = nn_dev(g, &bdp, NULL, np * 4), *ddx = nn_dev(g, &bdx, NULL, nx * 4);
    float *h = malloc(nh * 4), *y = malloc(ns * 4), *gp = malloc(np * 4), *gx = malloc(nx * 4);
    for (int rep = 0; rep < 2; rep++) { /* twice: the second run reuses every buffer */
        QA_CHECK_OK(qa_nn_lstm_forward(lg, batch, dp_, dx_, dh, dy));
        QA_CHECK_OK(qa_nn_lstm_backward(lg, batch, dp_, dx_, drl, drs, ddx, ddp, 0));
    }
    QA_CHECK_OK(qa_nn_lstm_forward(lc, batch, p, x, h, y));
    QA_CHECK_OK(qa_nn_lstm_backward(lc, batch, p, x, rl, rs, gx, gp, 0));
    float *hh = nn_host(g, &bh, nh * 4), *hy = nn_host(g, &by, ns * 4), *hp = nn_host(g, &bdp, np * 4);
    float *hx = nn_host(g, &bdx, nx * 4);
    nn_near_ff("cudnn h_last", hh, h, nh, fwd_atol, 0);
    nn_near_ff("cudnn y_seq", hy, y, ns, fwd_atol, 0);
    nn_near_ff("cudnn dparams", hp, gp, np, grad_rel * nn_max_absf(gp, np), grad_rel);
    nn_near_ff("cudnn dx", hx, gx, nx, grad_rel * nn_max_absf(gx, nx), grad_rel);
    free(hh), free(hy), free(hp), free(hx), free(h), free(y), free(gp), free(gx);
    qa_buf *bufs[] = {&bp, &bx, &brl, &brs, &bh, &by, &bdp, &bdx};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) qa_buf_free(bufs[i]);
    qa_nn_lstm_free(lg), qa_nn_lstm_free(lc);
    free(p), free(x), free(rl), free(rs);
}

static void test_gpu_lstm(void) {
    nn_env g = nn_env_gpu(), c = nn_env_cpu(1, 1);
    qa_nn_lstm_shape s1 = {64, 16, 13, 37, 1}, s2 = {8, 9, 3, 20, 2};
    gpu_lstm_case(&g, &c, s1, 64, 2e-5, 1e-4);
    gpu_lstm_case(&g, &c, s2, 5, 2e-5, 1e-4);
    QA_CHECK_OK(qa_nn_ctx_set_math(g.ctx, QA_NN_MATH_TF32));
    gpu_lstm_case(&g, &c, s1, 64, 5e-3, 2e-2);
    nn_env_free(&c);
    nn_env_free(&g);
}

int main(int argc, char **argv) {
    nn_test_seed();
    static const qa_test_case gpu[] = {QA_CASE(test_gpu_lstm)};
    static const qa_test_case cpu[] = {QA_CASE(test_lstm_hand), QA_CASE(test_lstm_forward), QA_CASE(test_lstm_grad),
                                       QA_CASE(test_lstm_opt_vs_ref), QA_CASE(test_lstm_errors)};
    return qa_kernel_test_main(argc, argv, QA_CASES(gpu), QA_CASES(cpu));
}
