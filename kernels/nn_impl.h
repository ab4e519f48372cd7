/* Internal to the nn ops (nn, nn_lstm, nn_infer; not a public API): the fast activation
 * math of the optimised CPU path, and the backend implementations nn.c and nn_lstm.c
 * dispatch to after validating arguments.
 *
 * CPU functions take `ref`, the backend's reference flag as the dispatcher read it
 * (qa_backend_reference): 1 runs the plain reference building blocks of nn_ref.c and
 * nn_lstm_ref.c (the oracle), 0 the optimised path (OpenBLAS GEMMs, vectorised
 * activations, OpenMP over `threads`). The loop structure around them is shared, so the
 * two differ only where the arithmetic does. CUDA functions take the ctx's GPU state
 * (qa_nn_gpu, defined in nn.cu) and queue work on its stream. Shapes were validated by
 * the caller. */
#ifndef QA_KERNELS_NN_IMPL_H
#define QA_KERNELS_NN_IMPL_H

#include <stddef.h>
#include <math.h>    /* tanhf, sqrtf, fabsf, isfinite */
#include <stdint.h>

#include <string.h>  /* memcpy (bit casts of the fast math) */

#include "common/status.h"
#include "kernels/nn.h"
#include "kernels/nn_lstm.h"

/* ---- fast activation math (host) ------------------------------------------------------------
   Fast float exp / tanh / sigmoid for the optimised CPU nn paths (dense activations,
 * LSTM gates). They are `static inline` in a header on purpose, like common/philox.h:
 * the loops in nn_cpu.c and nn_lstm_cpu.c must see the bodies to inline and vectorise
 * them (libm calls block vectorisation without -ffast-math). Branch-free; NaN in gives
 * NaN out. Accuracy against double-precision libm (tested over [-20, 20] in
 * tests/kernels/test_nn_layers.c): |error| <= 3e-7 absolute for tanh and sigmoid,
 * <= 4 ulp relative for exp on [-87, 88], <= 3e-7 max(|h|, 1) for GELU and its
 * derivative. The reference path uses libm instead. */

/* Hot loop functions in AVX-512, AVX2 and baseline (x86-64 SSE2) versions, picked per
 * call by the process's SIMD level (common/cpu.h, capped by QA_SIMD). A file writes the
 * body once as
 *     QA_NN_SIMD_BODY void name_body(params) { ... }
 *     QA_NN_SIMD_DISPATCH(name, (params), (args))
 * and calls name(args). The versions compute the same per-element results (no FMA: ISO
 * C mode keeps -ffp-contract=off), only more lanes at once; reductions may sum in a
 * different order, which is why the level is capped for bit-identical runs across
 * machines. The AVX-512 version made the 1-thread MLP training step 12% faster on an
 * AVX-512 EPYC (docs/performance.md). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include "common/cpu.h" /* qa_simd_level */
#define QA_NN_SIMD_BODY static inline __attribute__((always_inline))
#define QA_NN_SIMD_DISPATCH(name, params, args)                                            \
    __attribute__((target("avx512f"))) static void name##_avx512 params { name##_body args; } \
    __attribute__((target("avx2"))) static void name##_avx2 params { name##_body args; }      \
    static void name params {                                                              \
        qa_simd level_ = qa_simd_level();                                                  \
        if (level_ >= QA_SIMD_AVX512) name##_avx512 args;                                  \
        else if (level_ >= QA_SIMD_AVX2) name##_avx2 args;                                 \
        else name##_body args;                                                             \
    }
#else
#define QA_NN_SIMD_BODY static inline
#define QA_NN_SIMD_DISPATCH(name, params, args) \
    static void name params { name##_body args; }
#endif

#define QA_NN_GELU_K0 0.7978845608028654f /* sqrt(2/pi) */
#define QA_NN_GELU_K1 0.044715f

/* exp(x) for x in [-87, 88] (no NaN), where 2^n stays a normal float: Cody-Waite
 * reduction x = n ln2 + r with |r| <= ln2/2, a degree-6 Taylor polynomial for e^r
 * (truncation <= |r|^7/5040 = 1.2e-7 relative), and 2^n built from exponent bits. */
static inline float qa_nn_exp_core(float x) {
    float n = x * 1.44269504088896341f + 12582912.0f; /* round to nearest via 1.5 * 2^23 */
    n -= 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f; /* ln2 = 0.693359375 - 2.12194440e-4 */
    float p = 1.3888889e-3f;   /* 1/720 */
    p = p * r + 8.3333333e-3f; /* 1/120 */
    p = p * r + 4.1666667e-2f; /* 1/24 */
    p = p * r + 1.6666667e-1f; /* 1/6 */
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t bits = ((int32_t)n + 127) * 8388608; /* (n + 127) << 23, n in [-126, 127] */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* exp(x) for any x: clamped to [-87, 88] for qa_nn_exp_core, NaN passed through. */
static inline float qa_nn_exp_fast(float x0) {
    float x = x0 > -87.0f ? x0 : -87.0f; /* NaN -> -87 keeps the int conversion defined */
    x = x < 88.0f ? x : 88.0f;
    float res = qa_nn_exp_core(x);
    return x0 == x0 ? res : x0;
}

/* tanh(x): the odd Taylor series up to x^9 below |x| = 0.3 (next term < 2e-8 relative),
 * else sign(x) (1 - 2 / (e^{2|x|} + 1)); |x| clamped at 10, beyond which tanh rounds to 1
 * in float (1 - tanh(10) = 4e-9 < 2^-25). */
static inline float qa_nn_tanh_fast(float x) {
    float ax = x < 0.0f ? -x : x;
    ax = ax < 10.0f ? ax : 10.0f;
    float e = qa_nn_exp_fast(2.0f * ax);
    float big = 1.0f - 2.0f / (e + 1.0f);
    float x2 = x * x;
    float small = x * (1.0f + x2 * (-0.33333333f + x2 * (0.13333333f + x2 * (-0.053968254f + x2 * 0.021869488f))));
    float t = x < 0.0f ? -big : big;
    float res = ax < 0.3f ? small : t;
    return x == x ? res : x;
}

/* sigmoid(x) = 1 / (1 + e^{-x}). */
static inline float qa_nn_sigmoid_fast(float x) { return 1.0f / (1.0f + qa_nn_exp_fast(-x)); }

/* GELU's tanh form through the logistic function: 1/2 (1 + tanh u) = 1 / (1 + e^{-2u}),
 * so gelu(h) = h / (1 + e^{-2u}) with u = K0 (h + K1 h^3): one exp and one division and
 * no branch, where the tanh form pays for both tanh branches on every vector (about 3x
 * the time) and cancels in 1 + tanh u for h < 0. -2u is clamped at 80 so that e^{-2u}
 * stays far from overflow and the logistic value a normal float (subnormal operands are
 * slow); that changes results only below h = -8.6, where they are below |h| 2e-35.
 * Error: exp's 1.2e-7 relative and a few roundings, under 3e-7 max(|h|, 1) for value and
 * derivative (test_nn_layers measures 1.2e-7 and 1.8e-7). */
static inline float qa_nn_gelu_exp(float h) {
    float h2 = h * h;
    float a = h * (-2.0f * QA_NN_GELU_K0 + (-2.0f * QA_NN_GELU_K0 * QA_NN_GELU_K1) * h2);
    a = a > -87.0f ? a : -87.0f; /* NaN -> -87: h itself carries the NaN through */
    return qa_nn_exp_core(a < 80.0f ? a : 80.0f);
}
static inline float qa_nn_gelu_fast(float h) { return h / (1.0f + qa_nn_gelu_exp(h)); }
/* d/dh h s(2u) = s + h 2u' s (1 - s), with s (1 - s) = e s^2 (no cancellation at s ~ 1).
 * h is clamped to [-10, 10] in the second term only, so that h^2 cannot overflow: beyond
 * it e s^2 < 2e-35 and the term is below 3e-33 either way. */
static inline float qa_nn_gelu_grad_fast(float h) {
    float e = qa_nn_gelu_exp(h), s = 1.0f / (1.0f + e);
    float hc = h < -10.0f ? -10.0f : h; /* NaN stays NaN: the clamped exp argument lost it */
    hc = hc > 10.0f ? 10.0f : hc;
    return s + 2.0f * QA_NN_GELU_K0 * hc * (e * s * s) * (1.0f + 3.0f * QA_NN_GELU_K1 * hc * hc);
}


#ifdef __cplusplus
extern "C" {
#endif

/* ---- CPU reference building blocks (nn_ref.c, nn_lstm_ref.c) ------------------------------- */

/* C = alpha op(A) op(B) + beta C with double accumulators (row-major, op = transpose when
 * trans_*); beta == 0 ignores C's old contents, NaN included. */
void qa_nn_ref_gemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
                    const float *b, int ldb, float beta, float *c, int ldc);
/* One row of bias + activation (libm tanh) and of its gradient dx = dy * act'(x + bias). */
void qa_nn_ref_bias_act_row(qa_nn_act act, int cols, const float *x, const float *bias, float *y);
void qa_nn_ref_bias_act_grad_row(qa_nn_act act, int cols, const float *x, const float *bias, const float *dy,
                                 float *dx);
/* One LSTM cell with libm's expf/tanhf (contract of qa_nn_cpu_lstm_cell). */
void qa_nn_ref_lstm_cell(int H, float *g, const float *bs, const float *cprev, float *c, float *tc, float *h);

/* ---- CPU (nn_cpu.c) ------------------------------------------------------------------- */

void qa_nn_cpu_gemm(int ref, int threads, int trans_a, int trans_b, int m, int n, int k, float alpha,
                    const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
/* BF16 math on the CPU (nn_cpu_bf16.c): C = alpha op(A) op(B) + beta C with op(A), op(B)
 * rounded to bfloat16 (nearest even) and FP32 sums. `scratch` (64-byte aligned) holds at
 * least qa_nn_cpu_gemm_bf16_scratch(ref, threads, m, n, k) bytes; the inputs are not
 * modified. qa_nn_cpu_bf16_fast(ref): 1 when the AVX512_BF16 kernel runs (else the
 * portable path: rounded FP32 copies, then qa_nn_cpu_gemm). */
int qa_nn_cpu_bf16_fast(int ref);
size_t qa_nn_cpu_gemm_bf16_scratch(int ref, int threads, int m, int n, int k);
void qa_nn_cpu_gemm_bf16(int ref, int threads, void *scratch, int trans_a, int trans_b, int m, int n, int k,
                         float alpha, const float *a, int lda, const float *b, int ldb, float beta, float *c,
                         int ldc);
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

/* ---- per-element code shared by the CPU paths and the CUDA kernels (host/device) ------------
 * The CUDA kernels of nn.cu call these for every element, and so do the CPU reference
 * (activations, dropout) and the CPU path (losses, AdamW): the arithmetic the GPU runs is
 * the arithmetic the CPU tests check. */
#if defined(__CUDACC__)
#define QA_NN_HD static __host__ __device__ __forceinline__
#else
#define QA_NN_HD static inline
#endif

/* The activation and its derivative with the library tanhf (libm / libdevice): the
 * reference's form; the optimised CPU path uses the fast tanh above instead. */
QA_NN_HD float qa_nn_act_exact(qa_nn_act act, float h) {
    if (act == QA_NN_ACT_RELU) return h < 0.0f ? 0.0f : h;
    if (act == QA_NN_ACT_GELU) return 0.5f * h * (1.0f + tanhf(QA_NN_GELU_K0 * (h + QA_NN_GELU_K1 * h * h * h)));
    return h;
}
QA_NN_HD float qa_nn_act_grad_exact(qa_nn_act act, float h) {
    if (act == QA_NN_ACT_RELU) return h > 0.0f ? 1.0f : 0.0f;
    if (act == QA_NN_ACT_GELU) {
        float t = tanhf(QA_NN_GELU_K0 * (h + QA_NN_GELU_K1 * h * h * h));
        return 0.5f * (1.0f + t) + 0.5f * h * (1.0f - t * t) * QA_NN_GELU_K0 * (1.0f + 3.0f * QA_NN_GELU_K1 * h * h);
    }
    return 1.0f;
}

/* Squared or Huber loss of one residual r = pred - target (in double) and its gradient
 * d(mean loss)/d(pred) = inv_n * dL/dr into *d. */
QA_NN_HD double qa_nn_pointwise_loss(int huber, float delta, double inv_n, float r, float *d) {
    if (!huber) {
        *d = (float)(2.0 * inv_n * r);
        return (double)r * r;
    }
    float ar = fabsf(r), g = r > delta ? delta : (r < -delta ? -delta : r);
    *d = (float)(inv_n * g);
    return ar <= delta ? 0.5 * (double)r * r : (double)delta * ((double)ar - 0.5 * delta);
}

/* The gradient scale of a clipped step from the global norm (NULL: no clipping); 0 when
 * the norm is not finite (the step is skipped: parameters and moments unchanged). */
QA_NN_HD int qa_nn_adamw_scale(const qa_nn_adamw_f *a, const float *norm, float *scale) {
    *scale = 1.0f;
    if (!norm) return 1;
    float gn = *norm;
    if (!isfinite(gn)) return 0;
    if (a->max_norm > 0.0f && gn > a->max_norm) *scale = a->max_norm / (gn + 1e-6f);
    return 1;
}

/* One element of the AdamW update with decoupled weight decay. */
QA_NN_HD void qa_nn_adamw_elem(const qa_nn_adamw_f *a, float scale, float grad, float *param, float *m, float *v) {
    float g = grad * scale;
    float mi = a->b1 * *m + a->omb1 * g;
    float vi = a->b2 * *v + a->omb2 * g * g;
    *m = mi;
    *v = vi;
    *param = *param * a->decay - a->lr * (mi / a->bc1) / (sqrtf(vi / a->bc2) + a->eps);
}

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
