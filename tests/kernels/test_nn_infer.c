/* The inference forward pass (kernels/nn_infer.h): the architectures' parameter layout,
 * the MLP (with and without LayerNorm) and the stacked LSTM against a double-precision
 * forward written here from the formulas of docs/nn.md, the LSTM step carried bar by
 * bar equal to the window forward bit for bit, and the argument checks.
 *
 * Error budget: the fast tanh/sigmoid/GELU of the optimised CPU path are within 3e-7 of
 * libm per evaluation (tests/kernels/test_nn_layers.c checks them); float dot products of
 * at most ~100 terms of O(1) values add ~1e-6; an LSTM carries errors through L <= 12
 * steps, each contracting (|f| < 1). Bounds: 2e-5 absolute + 2e-5 relative.
 *
 * `test_nn_infer gpu` skips: inference is a host path by design (one row at a time for
 * live signals); batch scoring on a GPU runs the training network's forward, which the
 * nn layer and LSTM tests compare across backends. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/nn_infer.h"
#include "nn_test.h"

#define ATOL 2e-5
#define RTOL 2e-5

/* ---- double-precision references ------------------------------------------------------- */

static double sig_d(double x) { return 1.0 / (1.0 + exp(-x)); }

/* One row of the MLP: linear -> [LayerNorm] -> activation per hidden layer, linear head. */
static void mlp_ref(const qa_nn_arch *a, const float *p, const float *x, double *y) {
    qa_nn_seg s[QA_NN_MAX_SEGMENTS];
    int ns = qa_nn_arch_segments(a, s), per = a->layer_norm ? 4 : 2;
    double in[256], out[256];
    int n = a->input * a->window;
    for (int i = 0; i < n; i++) in[i] = x[i];
    for (int l = 0; l <= a->nhidden; l++) {
        int last = l == a->nhidden, w = last ? a->outputs : a->hidden[l];
        const float *W = p + s[last ? ns - 2 : l * per].offset, *b = p + s[last ? ns - 1 : l * per + 1].offset;
        for (int o = 0; o < w; o++) {
            double acc = b[o];
            for (int i = 0; i < n; i++) acc += (double)W[(size_t)o * n + i] * in[i];
            out[o] = acc;
        }
        if (!last && a->layer_norm) {
            const float *g = p + s[l * per + 2].offset, *be = p + s[l * per + 3].offset;
            double mu = 0, var = 0;
            for (int o = 0; o < w; o++) mu += out[o];
            mu /= w;
            for (int o = 0; o < w; o++) var += (out[o] - mu) * (out[o] - mu);
            var /= w;
            for (int o = 0; o < w; o++) out[o] = (out[o] - mu) / sqrt(var + 1e-5) * g[o] + be[o];
        }
        if (!last)
            for (int o = 0; o < w; o++) out[o] = act_d(a->act, out[o]);
        memcpy(in, out, (size_t)w * sizeof *in);
        n = w;
    }
    for (int o = 0; o < a->outputs; o++) y[o] = in[o];
}

/* One window of the LSTM from a zero state, then the head. */
static void lstm_ref(const qa_nn_arch *a, const float *p, const float *x, double *y) {
    qa_nn_seg s[QA_NN_MAX_SEGMENTS];
    int ns = qa_nn_arch_segments(a, s);
    const int H = a->hidden[0], L = a->window;
    double seq[16][64], h[64], c[64];
    for (int t = 0; t < L; t++)
        for (int f = 0; f < a->input; f++) seq[t][f] = x[t * a->input + f];
    int in_w = a->input;
    for (int l = 0; l < a->nhidden; l++) {
        const float *wih = p + s[4 * l].offset, *whh = p + s[4 * l + 1].offset;
        const float *bih = p + s[4 * l + 2].offset, *bhh = p + s[4 * l + 3].offset;
        memset(h, 0, sizeof h);
        memset(c, 0, sizeof c);
        for (int t = 0; t < L; t++) {
            double z[256];
            for (int g = 0; g < 4 * H; g++) {
                double acc = (double)bih[g] + bhh[g];
                for (int i = 0; i < in_w; i++) acc += (double)wih[(size_t)g * in_w + i] * seq[t][i];
                for (int i = 0; i < H; i++) acc += (double)whh[(size_t)g * H + i] * h[i];
                z[g] = acc;
            }
            for (int j = 0; j < H; j++) {
                double ig = sig_d(z[j]), fg = sig_d(z[H + j]), gg = tanh(z[2 * H + j]), og = sig_d(z[3 * H + j]);
                c[j] = fg * c[j] + ig * gg;
                h[j] = og * tanh(c[j]);
            }
            memcpy(seq[t], h, (size_t)H * sizeof h[0]);
        }
        in_w = H;
    }
    const float *W = p + s[ns - 2].offset, *b = p + s[ns - 1].offset;
    for (int o = 0; o < a->outputs; o++) {
        double acc = b[o];
        for (int i = 0; i < H; i++) acc += (double)W[(size_t)o * H + i] * h[i];
        y[o] = acc;
    }
}

/* ---- tests ------------------------------------------------------------------------------------ */

static void test_layout(void) {
    qa_nn_arch mlp = {QA_NN_ARCH_MLP, 11, 2, 1, 2, {64, 32}, QA_NN_ACT_GELU, 1, 0.1f};
    QA_CHECK_OK(qa_nn_arch_check(&mlp));
    QA_CHECK_INT(qa_nn_arch_param_count(&mlp), 64 * 22 + 64 * 3 + 32 * 64 + 32 * 3 + 32 + 1); /* 3777 */
    qa_nn_seg s[QA_NN_MAX_SEGMENTS];
    QA_CHECK_INT(qa_nn_arch_segments(&mlp, s), 10);
    QA_CHECK_STR(s[2].name, "l0.ln_gamma");
    QA_CHECK(s[8].decay && !s[9].decay && s[9].offset == 3776);
    qa_nn_arch lstm = {QA_NN_ARCH_LSTM, 5, 12, 2, 2, {8, 8}, QA_NN_ACT_NONE, 0, 0.0f};
    QA_CHECK_OK(qa_nn_arch_check(&lstm));
    QA_CHECK_INT(qa_nn_arch_param_count(&lstm), (32 * 5 + 32 * 8 + 64) + (32 * 8 + 32 * 8 + 64) + 2 * 8 + 2);
    QA_CHECK_STR(qa_nn_arch_name(QA_NN_ARCH_LSTM), "lstm");
    qa_nn_arch bad = lstm;
    bad.hidden[1] = 4;
    QA_CHECK_ERR(qa_nn_arch_check(&bad), QA_ERR_CONFIG, "one width");
    bad = mlp;
    bad.dropout = 1.0f;
    QA_CHECK_ERR(qa_nn_arch_check(&bad), QA_ERR_CONFIG, "dropout");
}

static void check_mlp(const char *what, const qa_nn_arch *a, uint64_t stream) {
    const int rows = 5, W = a->input * a->window;
    size_t np = qa_nn_arch_param_count(a);
    float *p = nn_randn(np, stream, 0.3f), *x = nn_randn((size_t)rows * W, stream + 1, 1.0f);
    float *y = malloc((size_t)rows * a->outputs * sizeof *y);
    double *ref = malloc((size_t)rows * a->outputs * sizeof *ref);
    qa_nn_infer_t *plan = NULL;
    QA_CHECK_OK(qa_nn_infer_create(a, rows, &plan));
    for (int batch = 1; batch <= rows; batch += 4) { /* one row (live) and a batch */
        QA_CHECK_OK(qa_nn_infer_forward(plan, p, batch, x, y));
        for (int r = 0; r < batch; r++) mlp_ref(a, p, x + (size_t)r * W, ref + (size_t)r * a->outputs);
        nn_near(what, y, ref, (size_t)batch * a->outputs, ATOL, RTOL);
    }
    QA_CHECK_ERR(qa_nn_infer_forward(plan, p, rows + 1, x, y), QA_ERR_INVALID_ARG, "at most 5");
    float state[4];
    QA_CHECK_ERR(qa_nn_infer_step(plan, p, x, state, y), QA_ERR_INVALID_ARG, "not an LSTM");
    qa_nn_infer_free(plan);
    free(p), free(x), free(y), free(ref);
}

static void test_mlp(void) {
    qa_nn_arch plain = {QA_NN_ARCH_MLP, 11, 1, 2, 2, {48, 17}, QA_NN_ACT_GELU, 0, 0.0f};
    check_mlp("mlp gelu", &plain, 95);
    qa_nn_arch ln = {QA_NN_ARCH_MLP, 7, 3, 1, 3, {33, 16, 5}, QA_NN_ACT_RELU, 1, 0.2f};
    check_mlp("mlp layernorm relu", &ln, 97);
    qa_nn_arch linear = {QA_NN_ARCH_MLP, 6, 2, 3, 0, {0}, QA_NN_ACT_NONE, 0, 0.0f};
    check_mlp("linear model (no hidden layer)", &linear, 99);
}

/* The window forward against the double reference; the step from a reset state through
 * the window's bars equals it bit for bit; carrying the state on gives another number
 * than the window of the last L bars (the unbounded-history estimate). */
static void test_lstm(void) {
    qa_nn_arch a = {QA_NN_ARCH_LSTM, 5, 12, 3, 2, {24, 24}, QA_NN_ACT_NONE, 0, 0.0f};
    const int rows = 3, W = a.input * a.window, K = a.outputs;
    size_t np = qa_nn_arch_param_count(&a);
    float *p = nn_randn(np, 101, 0.25f), *x = nn_randn((size_t)(rows + 1) * W, 102, 1.0f);
    float y[9], ys[3] = {0}, yw[3] = {0};
    double ref[9];
    qa_nn_infer_t *plan = NULL;
    QA_CHECK_OK(qa_nn_infer_create(&a, rows, &plan));
    QA_CHECK_OK(qa_nn_infer_forward(plan, p, rows, x, y));
    for (int r = 0; r < rows; r++) lstm_ref(&a, p, x + (size_t)r * W, ref + (size_t)r * K);
    nn_near("lstm window", y, ref, (size_t)rows * K, ATOL, RTOL);

    size_t sf = qa_nn_infer_state_floats(&a);
    QA_CHECK_INT(sf, 2 * 2 * 24);
    float *state = malloc(sf * sizeof *state);
    int same = 1;
    for (int r = 0; r < rows; r++) {
        qa_nn_infer_state_reset(&a, state);
        for (int t = 0; t < a.window; t++)
            QA_CHECK_OK(qa_nn_infer_step(plan, p, x + (size_t)r * W + (size_t)t * a.input, state, ys));
        same &= memcmp(ys, y + (size_t)r * K, sizeof ys) == 0;
    }
    QA_CHECK_MSG(same, "step-by-step from a reset state differs from the window forward");
    /* rows 0 and 1 back to back: 2L bars carried vs the window of the last L */
    qa_nn_infer_state_reset(&a, state);
    for (int t = 0; t < 2 * a.window; t++) QA_CHECK_OK(qa_nn_infer_step(plan, p, x + (size_t)t * a.input, state, ys));
    QA_CHECK_OK(qa_nn_infer_forward(plan, p, 1, x + W, yw));
    QA_CHECK(memcmp(ys, yw, sizeof ys) != 0);
    QA_CHECK_ERR(qa_nn_infer_step(plan, p, NULL, state, ys), QA_ERR_INVALID_ARG, "NULL");
    qa_nn_infer_free(plan);
    QA_CHECK_ERR(qa_nn_infer_create(&a, 0, &plan), QA_ERR_INVALID_ARG, "max_rows");
    free(state), free(p), free(x);
}

int main(int argc, char **argv) {
    if (qa_kernel_test_mode(argc, argv))
        qa_test_skip("nn_infer is a host path (single-row latency); the GPU scores batches with the training forward");
    QA_RUN(test_layout);
    QA_RUN(test_mlp);
    QA_RUN(test_lstm);
    return qa_test_finish();
}
