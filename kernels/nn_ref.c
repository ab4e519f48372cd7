/* The reference building blocks of the nn layers (the oracle): plain loops, double
 * accumulators for products, libm's tanhf/expf for activations. nn_cpu.c and
 * nn_lstm_cpu.c run them in place of the optimised pieces when the backend's reference
 * flag is set. Formulas: docs/nn.md. */
#include "kernels/nn_impl.h"

#include <math.h>  /* tanhf */

void qa_nn_ref_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                    const float *b, int ldb, float beta, float *c, int ldc) {
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            double acc = 0.0;
            for (int p = 0; p < k; p++) {
                float av = trans_a ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
                float bv = trans_b ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
                acc += (double)av * (double)bv;
            }
            float *cij = &c[(size_t)i * ldc + j];
            *cij = (float)(alpha * acc) + (beta == 0.0f ? 0.0f : beta * *cij);
        }
    }
}

static inline float gelu_ref(float h) {
    return 0.5f * h * (1.0f + tanhf(QA_NN_GELU_K0 * (h + QA_NN_GELU_K1 * h * h * h)));
}
static inline float gelu_grad_ref(float h) {
    float t = tanhf(QA_NN_GELU_K0 * (h + QA_NN_GELU_K1 * h * h * h));
    return 0.5f * (1.0f + t) + 0.5f * h * (1.0f - t * t) * QA_NN_GELU_K0 * (1.0f + 3.0f * QA_NN_GELU_K1 * h * h);
}

void qa_nn_ref_bias_act_row(qa_nn_act act, int cols, const float *x, const float *bias, float *y) {
    for (int c = 0; c < cols; c++) {
        float h = x[c] + (bias ? bias[c] : 0.0f);
        switch (act) {
        case QA_NN_ACT_RELU: y[c] = h < 0.0f ? 0.0f : h; break;
        case QA_NN_ACT_GELU: y[c] = gelu_ref(h); break;
        default: y[c] = h; break;
        }
    }
}

void qa_nn_ref_bias_act_grad_row(qa_nn_act act, int cols, const float *x, const float *bias, const float *dy,
                                 float *dx) {
    for (int c = 0; c < cols; c++) {
        float h = x[c] + (bias ? bias[c] : 0.0f);
        float d;
        switch (act) {
        case QA_NN_ACT_RELU: d = h > 0.0f ? 1.0f : 0.0f; break;
        case QA_NN_ACT_GELU: d = gelu_grad_ref(h); break;
        default: d = 1.0f; break;
        }
        dx[c] = dy[c] * d;
    }
}
