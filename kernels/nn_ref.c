/* The reference building blocks of the nn layers (the oracle): plain loops, double
 * accumulators for products, libm's tanhf/expf for activations. nn_cpu.c and
 * nn_lstm_cpu.c run them in place of the optimised pieces when the backend's reference
 * flag is set. Formulas: docs/nn.md. */
#include "kernels/nn_impl.h"

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

void qa_nn_ref_bias_act_row(qa_nn_act act, int cols, const float *x, const float *bias, float *y) {
    for (int c = 0; c < cols; c++) y[c] = qa_nn_act_exact(act, x[c] + (bias ? bias[c] : 0.0f));
}

void qa_nn_ref_bias_act_grad_row(qa_nn_act act, int cols, const float *x, const float *bias, const float *dy,
                                 float *dx) {
    for (int c = 0; c < cols; c++) dx[c] = dy[c] * qa_nn_act_grad_exact(act, x[c] + (bias ? bias[c] : 0.0f));
}
