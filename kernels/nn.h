/* Deep-learning layers as functions over arrays: GEMM, linear, fused bias + activation +
 * dropout, LayerNorm, losses, global-norm clipping + fused AdamW, the learning-rate
 * schedule. The LSTM lives in kernels/nn_lstm.h, the model architectures and their
 * inference forward pass in kernels/nn_infer.h. docs/nn.md gives every formula, layout
 * and tolerance.
 *
 * Conventions (all functions):
 *  - Arrays are backend memory (host memory on the CPU backend, device memory on CUDA),
 *    row-major, batch x features, float32. Weights are FP32 master copies; the math mode
 *    only changes how GEMMs treat their operands (QA_NN_MATH_*).
 *  - Buffers are caller-owned. No per-step call allocates, except that the ctx's scratch
 *    arena (BF16 operand copies) grows the first time a call needs more than any earlier
 *    call; qa_nn_ctx_reserve() pre-sizes it.
 *  - On CUDA, work is queued on the backend stream and results stay on the device; loss
 *    and norm outputs are one-float device scalars, so a training step never syncs.
 *  - Gradient outputs take an `accumulate` flag: 0 overwrites, 1 adds (gradient
 *    accumulation over micro-batches). Reductions (bias gradients, losses, norms) are
 *    deterministic: a fixed summation order that depends only on the shapes.
 *  - A CPU backend with the reference flag runs the plain loops (the oracle); otherwise
 *    the CPU uses OpenBLAS (QA_HAVE_OPENBLAS) and OpenMP with qa_backend_threads(be). */
#ifndef QA_KERNELS_NN_H
#define QA_KERNELS_NN_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int32_t, int64_t, uint64_t */

#include "common/status.h"
#include "kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- context ----------------------------------------------------------------------- */

/* GEMM math mode:
 *  FP32  cublasGemmEx with CUBLAS_COMPUTE_32F (no tensor-core down-conversion).
 *  TF32  CUBLAS_COMPUTE_32F_FAST_TF32: FP32 operands enter tensor cores as TF32 (10-bit
 *        mantissa), FP32 accumulate.
 *  BF16  operands are rounded (round-to-nearest-even) to BF16 copies in the ctx scratch
 *        arena for each GEMM, then cublasGemmEx(CUDA_R_16BF inputs, CUDA_R_32F output,
 *        CUBLAS_COMPUTE_32F). The FP32 master weights are never modified.
 * On the CPU: FP32 and TF32 both compute in FP32 (no TF32 arithmetic on x86). BF16
 * rounds op(A) and op(B) to bfloat16 the same way (nearest even) and sums in FP32:
 * with AVX512_BF16 (common/cpu.h) packed bf16 panels and vdpbf16ps, otherwise rounded
 * FP32 copies through the FP32 GEMM; the two differ only in summation order, and the
 * AVX512_BF16 path treats subnormal operands and results as zero. The packed or rounded
 * copies live in the ctx scratch arena. The CPU LSTM (nn_lstm.h) stays FP32. */
typedef enum qa_nn_math {
    QA_NN_MATH_FP32 = 0,
    QA_NN_MATH_TF32 = 1,
    QA_NN_MATH_BF16 = 2,
    QA_NN_MATH_COUNT = 3
} qa_nn_math;

/* Holds the backend, the math mode, the cuBLAS handle bound to the backend stream, a
 * small fixed buffer for reduction partials and the growable scratch arena. One ctx per
 * backend (per stream); not for concurrent use from several threads. */
typedef struct qa_nn_ctx qa_nn_ctx_t;

/* Creates a ctx on `be` (which must outlive it). Math mode starts as FP32. Caller frees. */
qa_status qa_nn_ctx_create(qa_backend_t *be, qa_nn_ctx_t **out);
/* Waits for queued work, then releases the handle and buffers. Accepts NULL. */
void qa_nn_ctx_free(qa_nn_ctx_t *ctx);
qa_backend_t *qa_nn_ctx_backend(const qa_nn_ctx_t *ctx);
qa_status qa_nn_ctx_set_math(qa_nn_ctx_t *ctx, qa_nn_math math);
qa_nn_math qa_nn_ctx_math(const qa_nn_ctx_t *ctx);
/* "fp32", "tf32", "bf16"; "?" for others. */
const char *qa_nn_math_name(qa_nn_math math);
/* Parses a math-mode name (as printed by qa_nn_math_name). */
qa_status qa_nn_math_parse(const char *name, qa_nn_math *out);
/* Grows the scratch arena to at least `bytes` now (CUDA, and the CPU's BF16 GEMM). */
qa_status qa_nn_ctx_reserve(qa_nn_ctx_t *ctx, size_t bytes);
/* Number of times the scratch arena was (re)allocated: steady-state steps keep it fixed. */
int qa_nn_ctx_scratch_allocs(const qa_nn_ctx_t *ctx);
/* Scratch bytes one qa_nn_gemm call with these shapes needs in `math` mode on CUDA. The
 * CPU's BF16 need also depends on the thread count; its arena grows on the first call
 * that needs more, so steady-state steps do not allocate either way. */
size_t qa_nn_gemm_scratch_bytes(qa_nn_math math, int trans_a, int trans_b, int m, int n, int k,
                                int lda, int ldb);

/* ---- GEMM ---------------------------------------------------------------------------- */

/* C = alpha * op(A) * op(B) + beta * C, row-major. op(X) = X, or X^T when trans_x != 0.
 * op(A) is m x k, op(B) is k x n, C is m x n; lda/ldb/ldc are row strides in elements
 * (lda >= k when !trans_a, >= m when trans_a; likewise ldb; ldc >= n). beta == 0 ignores
 * C's old contents (NaNs there do not propagate). m, n or k == 0 are valid (k == 0 gives
 * C = beta * C). */
qa_status qa_nn_gemm(qa_nn_ctx_t *ctx, int trans_a, int trans_b, int m, int n, int k, float alpha,
                     const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);

/* ---- linear layer ---------------------------------------------------------------------- */

/* Y[batch x out] = X[batch x in] * W^T + b, with W stored [out x in] (row o holds the
 * weights of output o, as in PyTorch) and b[out] (NULL: no bias). */
qa_status qa_nn_linear_forward(qa_nn_ctx_t *ctx, int batch, int in, int out, const float *x,
                               const float *w, const float *b, float *y);
/* dX = dY * W (NULL to skip, e.g. for the first layer; always overwritten),
 * dW (+)= dY^T * X, db (+)= sum over rows of dY (NULL to skip). */
qa_status qa_nn_linear_backward(qa_nn_ctx_t *ctx, int batch, int in, int out, const float *x,
                                const float *w, const float *dy, float *dx, float *dw, float *db,
                                int accumulate);

/* ---- fused bias + activation + dropout --------------------------------------------------- */

typedef enum qa_nn_act {
    QA_NN_ACT_NONE = 0,
    QA_NN_ACT_RELU = 1, /* max(x, 0); derivative 0 at x == 0 */
    QA_NN_ACT_GELU = 2, /* tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    QA_NN_ACT_COUNT = 3
} qa_nn_act;

const char *qa_nn_act_name(qa_nn_act act);

/* Inverted dropout with a counter-based mask. Element i (row-major index r*cols + c of
 * the layer output) is kept iff qa_rng_uniformf(seed, step, i) >= p, and kept values
 * are scaled by 1/(1-p). The mask is a pure function of (seed, step, i): identical on
 * CPU and GPU, and recomputed (never stored) in the backward pass. Give each layer its
 * own seed (e.g. qa_nn_dropout_seed(run_seed, layer)). p == 0 disables dropout;
 * 0 <= p < 1. */
typedef struct qa_nn_dropout {
    float p;
    uint64_t seed;
    uint64_t step;
} qa_nn_dropout;

/* A per-layer dropout seed derived from a run seed (a Philox hash of both). */
uint64_t qa_nn_dropout_seed(uint64_t run_seed, uint32_t layer);
/* 1 when element `index` is kept under `d` (host-side view of the mask, for tests). */
int qa_nn_dropout_kept(const qa_nn_dropout *d, uint64_t index);

/* H = X + b (bias broadcast over rows; NULL: none), Y = dropout(act(H)). X is typically
 * a linear layer's output without bias. `drop` NULL (or p == 0) disables dropout.
 * Y may alias X only when no backward pass follows (the backward needs X). */
qa_status qa_nn_bias_act_forward(qa_nn_ctx_t *ctx, qa_nn_act act, int rows, int cols,
                                 const float *x, const float *bias, const qa_nn_dropout *drop,
                                 float *y);
/* With the same x, bias and drop as the forward: dX = dY * mask/(1-p) * act'(X + b)
 * (dX may alias dY), dbias (+)= column sums of dX (NULL to skip). */
qa_status qa_nn_bias_act_backward(qa_nn_ctx_t *ctx, qa_nn_act act, int rows, int cols,
                                  const float *x, const float *bias, const qa_nn_dropout *drop,
                                  const float *dy, float *dx, float *dbias, int accumulate);

/* ---- LayerNorm --------------------------------------------------------------------------- */

/* Default epsilon (PyTorch's): added to the biased variance before the square root. */
#define QA_NN_LAYERNORM_EPS 1e-5f

/* Per row r: mean_r, var_r = mean((x - mean_r)^2) (biased), rstd_r = 1/sqrt(var_r + eps),
 * y = (x - mean_r) * rstd_r * gamma + beta. Saves mean[rows] and rstd[rows] for the
 * backward pass. gamma/beta are [cols]. */
qa_status qa_nn_layernorm_forward(qa_nn_ctx_t *ctx, int rows, int cols, float eps, const float *x,
                                  const float *gamma, const float *beta, float *y, float *mean,
                                  float *rstd);
/* dX (overwritten; may not alias X), dgamma (+)= sum_r dy * xhat, dbeta (+)= sum_r dy
 * (either NULL to skip). */
qa_status qa_nn_layernorm_backward(qa_nn_ctx_t *ctx, int rows, int cols, const float *x,
                                   const float *gamma, const float *mean, const float *rstd,
                                   const float *dy, float *dx, float *dgamma, float *dbeta,
                                   int accumulate);

/* ---- losses --------------------------------------------------------------------------------- */

/* Each writes the mean loss to `loss` (one float of backend memory) and, unless `dpred`
 * is NULL, dL/dpred (overwritten, same shape as pred). Sums are taken in double in a
 * fixed order. n == 0 (or rows == 0) gives loss 0. */

/* L = (1/n) sum (p - t)^2; dL/dp = 2 (p - t) / n. */
qa_status qa_nn_loss_mse(qa_nn_ctx_t *ctx, size_t n, const float *pred, const float *target,
                         float *loss, float *dpred);
/* r = p - t; l = r^2/2 if |r| <= delta else delta (|r| - delta/2); L = mean l;
 * dL/dp = clamp(r, -delta, delta) / n. delta > 0. */
qa_status qa_nn_loss_huber(qa_nn_ctx_t *ctx, size_t n, float delta, const float *pred,
                           const float *target, float *loss, float *dpred);
/* Softmax cross-entropy over `classes` logits per row, labels in [0, classes):
 * l_r = logsumexp(z_r) - z_r[y_r] (max-shifted), L = mean l_r,
 * dL/dz = (softmax(z_r) - onehot(y_r)) / rows. A label out of range makes the loss NaN
 * and that row's gradient 0 (validate labels when loading data). */
qa_status qa_nn_loss_cross_entropy(qa_nn_ctx_t *ctx, int rows, int classes, const float *logits,
                                   const int32_t *labels, float *loss, float *dlogits);

/* ---- optimiser ------------------------------------------------------------------------------ */

/* Global L2 norm sqrt(sum g_i^2) over n gradients into `norm` (one float of backend
 * memory). Deterministic two-stage reduction in double (fixed-size chunks, then the
 * chunk sums in order). */
qa_status qa_nn_grad_norm(qa_nn_ctx_t *ctx, size_t n, const float *grad, float *norm);

/* AdamW hyper-parameters (PyTorch's defaults: beta1 0.9, beta2 0.999, eps 1e-8). Kept in
 * double on the host: 1 - beta is formed in double before rounding to float, as
 * PyTorch does, so beta2 = 0.999 does not lose 1e-5 of relative accuracy. */
typedef struct qa_nn_adamw_cfg {
    double lr;
    double beta1;
    double beta2;
    double eps;
    double weight_decay; /* decoupled: p -= lr * wd * p */
    double max_norm;     /* global-norm clipping threshold; <= 0 disables clipping */
} qa_nn_adamw_cfg;

/* One fused pass over n parameters, step t >= 1 (1-based, for bias correction):
 *   s = (norm > max_norm > 0) ? max_norm / (norm + 1e-6) : 1;   g = s * grad
 *   p -= lr * wd * p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
 *   p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 * `norm` is the backend scalar written by qa_nn_grad_norm (NULL: no clipping). When
 * the norm is NaN or Inf the step is skipped (p, m, v unchanged). Call once per
 * parameter group (e.g. weights with decay, biases/LayerNorm without) with the same
 * norm; m and v start at zero. */
qa_status qa_nn_adamw_update(qa_nn_ctx_t *ctx, const qa_nn_adamw_cfg *cfg, int64_t step, size_t n,
                             float *param, const float *grad, float *m, float *v,
                             const float *norm);

/* Linear warm-up then cosine decay, a pure function of the 0-based step:
 *   step < warmup:          lr_max * (step + 1) / warmup
 *   warmup <= step < total: lr_min + (lr_max - lr_min) * (1 + cos(pi * q)) / 2,
 *                           q = (step - warmup) / (total - warmup)
 *   step >= total:          lr_min */
typedef struct qa_nn_lr_schedule {
    double lr_max;
    double lr_min;
    int64_t warmup_steps;
    int64_t total_steps;
} qa_nn_lr_schedule;

double qa_nn_lr_at(const qa_nn_lr_schedule *s, int64_t step);

#ifdef __cplusplus
}
#endif
#endif
