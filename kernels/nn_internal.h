/* Backend implementations behind kernels/nn.h and kernels/nn_lstm.h (not part of the
 * public API): nn.c and nn_lstm.c validate arguments and dispatch here.
 *
 * CPU functions take `ref` (1: the plain reference loops, the oracle; 0: the optimised
 * path with OpenBLAS GEMMs, vectorised activations and OpenMP over `threads`). CUDA
 * functions take the ctx's GPU state (qa_nn_gpu, defined in nn.cu) and queue work on
 * its stream. Shapes were validated by the caller. */
#ifndef QA_KERNELS_NN_INTERNAL_H
#define QA_KERNELS_NN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "common/status.h"
#include "kernels/nn.h"
#include "kernels/nn_lstm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- CPU (nn_cpu.c) ------------------------------------------------------------------- */

void qa_nn_cpu_gemm(int ref, int threads, int trans_a, int trans_b, int m, int n, int k, float alpha,
                    const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
/* out[c] (+)= sum_r x[r*cols + c], rows summed in order (double accumulators). */
void qa_nn_cpu_colsum(int ref, int threads, int rows, int cols, const float *x, float *out,
                      int accumulate);
/* y[r*cols + c] = b[c] for every row (the bias broadcast a linear layer starts from). */
void qa_nn_cpu_broadcast_rows(int threads, int rows, int cols, const float *b, float *y);
void qa_nn_cpu_bias_act_forward(int ref, int threads, qa_nn_act act, int rows, int cols,
                                const float *x, const float *bias, const qa_nn_dropout *drop,
                                float *y);
void qa_nn_cpu_bias_act_backward(int ref, int threads, qa_nn_act act, int rows, int cols,
                                 const float *x, const float *bias, const qa_nn_dropout *drop,
                                 const float *dy, float *dx);
void qa_nn_cpu_layernorm_forward(int ref, int threads, int rows, int cols, float eps,
                                 const float *x, const float *gamma, const float *beta, float *y,
                                 float *mean, float *rstd);
void qa_nn_cpu_layernorm_backward(int ref, int threads, int rows, int cols, const float *x,
                                  const float *gamma, const float *mean, const float *rstd,
                                  const float *dy, float *dx, float *dgamma, float *dbeta,
                                  int accumulate);
void qa_nn_cpu_loss_mse(int threads, size_t n, const float *pred, const float *target, float *loss,
                        float *dpred);
void qa_nn_cpu_loss_huber(int threads, size_t n, float delta, const float *pred,
                          const float *target, float *loss, float *dpred);
void qa_nn_cpu_loss_cross_entropy(int threads, int rows, int classes, const float *logits,
                                  const int32_t *labels, float *loss, float *dlogits);
void qa_nn_cpu_grad_norm(int threads, size_t n, const float *grad, float *norm);
/* AdamW step constants rounded to float once on the host (nn.c). */
typedef struct qa_nn_adamw_f {
    float lr, b1, omb1, b2, omb2, eps, decay, bc1, bc2, max_norm; /* omb = 1 - beta, decay = 1 - lr wd */
} qa_nn_adamw_f;

void qa_nn_cpu_adamw_update(int threads, const qa_nn_adamw_f *a, size_t n, float *param,
                            const float *grad, float *m, float *v, const float *norm);

/* Size of the fixed chunk of deterministic CPU and GPU reductions (elements). */
#define QA_NN_REDUCE_CHUNK 4096

/* CPU LSTM (nn_lstm_cpu.c). `cache` holds qa_nn_cpu_lstm_cache_floats(s) floats: the
 * saved gates, cell states and outputs of the last forward plus backward scratch. */
size_t qa_nn_cpu_lstm_cache_floats(const qa_nn_lstm_shape *s);
/* One LSTM cell for one row (the training kernel's, shared with kernels/nn_infer.c): g holds
 * the 4H gate sums W_ih x + W_hh h_prev without bias and becomes the gate values i, f, g,
 * o; bs = b_ih + b_hh; c = f cprev + i g (c may be cprev), tc = tanh(c), h = o tc. */
void qa_nn_cpu_lstm_cell(int ref, int H, float *g, const float *bs, const float *cprev, float *c, float *tc, float *h);
void qa_nn_cpu_lstm_forward(int ref, int threads, const qa_nn_lstm_shape *s, int batch,
                            const float *params, const float *x, float *cache, float *h_last,
                            float *y_seq);
void qa_nn_cpu_lstm_backward(int ref, int threads, const qa_nn_lstm_shape *s, int batch,
                             const float *params, const float *x, const float *dh_last,
                             const float *dy_seq, float *dx, float *dparams, int accumulate,
                             float *cache);

/* ---- CUDA (nn.cu) ------------------------------------------------------------------------ */

typedef struct qa_nn_gpu qa_nn_gpu;

qa_status qa_nn_cuda_create(void *stream, qa_nn_gpu **out);
void qa_nn_cuda_free(qa_nn_gpu *g);
qa_status qa_nn_cuda_reserve(qa_nn_gpu *g, size_t bytes);
int qa_nn_cuda_scratch_allocs(const qa_nn_gpu *g);
qa_status qa_nn_cuda_gemm(qa_nn_gpu *g, qa_nn_math math, int trans_a, int trans_b, int m, int n, int k,
                          float alpha, const float *a, int lda, const float *b, int ldb, float beta,
                          float *c, int ldc);
qa_status qa_nn_cuda_colsum(qa_nn_gpu *g, int rows, int cols, const float *x, float *out,
                            int accumulate);
qa_status qa_nn_cuda_broadcast_rows(qa_nn_gpu *g, int rows, int cols, const float *b, float *y);
qa_status qa_nn_cuda_bias_act_forward(qa_nn_gpu *g, qa_nn_act act, int rows, int cols,
                                      const float *x, const float *bias, const qa_nn_dropout *drop,
                                      float *y);
qa_status qa_nn_cuda_bias_act_backward(qa_nn_gpu *g, qa_nn_act act, int rows, int cols,
                                       const float *x, const float *bias,
                                       const qa_nn_dropout *drop, const float *dy, float *dx);
qa_status qa_nn_cuda_layernorm_forward(qa_nn_gpu *g, int rows, int cols, float eps, const float *x,
                                       const float *gamma, const float *beta, float *y, float *mean,
                                       float *rstd);
qa_status qa_nn_cuda_layernorm_backward(qa_nn_gpu *g, int rows, int cols, const float *x,
                                        const float *gamma, const float *mean, const float *rstd,
                                        const float *dy, float *dx, float *dgamma, float *dbeta,
                                        int accumulate);
qa_status qa_nn_cuda_loss_mse(qa_nn_gpu *g, size_t n, const float *pred, const float *target,
                              float *loss, float *dpred);
qa_status qa_nn_cuda_loss_huber(qa_nn_gpu *g, size_t n, float delta, const float *pred,
                                const float *target, float *loss, float *dpred);
qa_status qa_nn_cuda_loss_cross_entropy(qa_nn_gpu *g, int rows, int classes, const float *logits,
                                        const int32_t *labels, float *loss, float *dlogits);
qa_status qa_nn_cuda_grad_norm(qa_nn_gpu *g, size_t n, const float *grad, float *norm);
qa_status qa_nn_cuda_adamw_update(qa_nn_gpu *g, const qa_nn_adamw_f *a, size_t n, float *param,
                                  const float *grad, float *m, float *v, const float *norm);
/* Sets n floats to zero on the stream. */
qa_status qa_nn_cuda_zero(qa_nn_gpu *g, size_t n, float *x);

/* cuDNN LSTM (nn_lstm.cu); QA_ERR_UNSUPPORTED without cuDNN. */
typedef struct qa_nn_lstm_gpu qa_nn_lstm_gpu;
qa_status qa_nn_cuda_lstm_create(void *stream, qa_nn_math math, const qa_nn_lstm_shape *s,
                                 qa_nn_lstm_gpu **out);
void qa_nn_cuda_lstm_free(qa_nn_lstm_gpu *g);
size_t qa_nn_cuda_lstm_memory_bytes(const qa_nn_lstm_gpu *g);
qa_status qa_nn_cuda_lstm_forward(qa_nn_lstm_gpu *g, int batch, const float *params, const float *x,
                                  float *h_last, float *y_seq);
qa_status qa_nn_cuda_lstm_backward(qa_nn_lstm_gpu *g, int batch, const float *x, const float *dh_last,
                                   const float *dy_seq, float *dx, float *dparams, int accumulate);

/* The ctx's GPU state (NULL on a CPU ctx); used by nn_lstm.c. */
qa_nn_gpu *qa_nn_ctx_gpu_(const qa_nn_ctx_t *ctx);

#ifdef __cplusplus
}
#endif
#endif
