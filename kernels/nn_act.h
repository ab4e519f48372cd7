/* Fast float exp / tanh / sigmoid for the optimised CPU nn paths (dense activations,
 * LSTM gates). They are `static inline` in a header on purpose, like common/philox.h:
 * the loops in nn_cpu.c and nn_lstm_cpu.c must see the bodies to inline and vectorise
 * them (libm calls block vectorisation without -ffast-math). Branch-free; NaN in gives
 * NaN out. Accuracy against double-precision libm (tested over [-20, 20] in
 * tests/kernels/test_nn_layers.c): |error| <= 3e-7 absolute for tanh and sigmoid,
 * <= 4 ulp relative for exp on [-87, 88]. The reference path uses libm instead. */
#ifndef QA_KERNELS_NN_ACT_H
#define QA_KERNELS_NN_ACT_H

#include <stdint.h>  /* int32_t */
#include <string.h>  /* memcpy (bit cast) */

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

/* exp(x): Cody-Waite reduction x = n ln2 + r with |r| <= ln2/2, a degree-6 Taylor
 * polynomial for e^r (truncation <= |r|^7/5040 = 1.2e-7 relative), and 2^n built from
 * exponent bits. Input clamped to [-87, 88] so 2^n stays a normal float. */
static inline float qa_nn_exp_fast(float x0) {
    float x = x0 > -87.0f ? x0 : -87.0f; /* NaN -> -87 keeps the int conversion defined */
    x = x < 88.0f ? x : 88.0f;
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
    float res = p * scale;
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

#endif
