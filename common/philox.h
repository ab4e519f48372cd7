/* Philox-4x32-10 counter-based random numbers, identical on CPU and GPU.
 *
 * A value is a pure function of (seed, stream, index): no state, no sequence, so any
 * rank, thread or CUDA thread computes element i of a stream directly and a
 * Monte-Carlo result does not depend on backend or rank count.
 *
 * Layout (documented in docs/rng.md):
 *   key     = {lo32(seed), hi32(seed)}
 *   counter = {lo32(block), hi32(block), lo32(stream), hi32(stream)}
 *   u32 element i     : block i/4, word i%4
 *   f64 uniform i     : block i/2, words (2(i%2), 2(i%2)+1) -> 53 bits, in (0, 1)
 *   f64 normal i      : block i/2, Box-Muller on the block's two uniforms; i%2 picks cos/sin
 *   f32 uniform i     : the u32 element i, top 24 bits, in (0, 1)
 *
 * These are `static inline` in a header on purpose: nvcc must see the bodies to
 * compile them into device code, and sharing one body is what makes the CPU and GPU
 * streams bit-identical (the integer and uniform parts are exact; normals differ at
 * most by the last-ulp differences of log/cos/sin between libm and CUDA). */
#ifndef QA_COMMON_PHILOX_H
#define QA_COMMON_PHILOX_H

#include <stdint.h>  /* uint32_t, uint64_t */
#include <math.h>    /* log, sqrt, cos, sin */

#if defined(__CUDACC__)
#define QA_HOSTDEV __host__ __device__ __forceinline__
#else
#define QA_HOSTDEV static inline
#endif

#define QA_PHILOX_M0 0xD2511F53u
#define QA_PHILOX_M1 0xCD9E8D57u
#define QA_PHILOX_W0 0x9E3779B9u
#define QA_PHILOX_W1 0xBB67AE85u

typedef struct qa_philox_block {
    uint32_t v[4];
} qa_philox_block;

QA_HOSTDEV void qa_philox_mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo) {
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

/* One Philox-4x32 bijection with 10 rounds: Random123's philox4x32_R(10, ctr, key). */
QA_HOSTDEV qa_philox_block qa_philox4x32_10(qa_philox_block ctr, uint32_t k0, uint32_t k1) {
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k0 += QA_PHILOX_W0;
            k1 += QA_PHILOX_W1;
        }
        uint32_t hi0, lo0, hi1, lo1;
        qa_philox_mulhilo(QA_PHILOX_M0, ctr.v[0], &hi0, &lo0);
        qa_philox_mulhilo(QA_PHILOX_M1, ctr.v[2], &hi1, &lo1);
        qa_philox_block n;
        n.v[0] = hi1 ^ ctr.v[1] ^ k0;
        n.v[1] = lo1;
        n.v[2] = hi0 ^ ctr.v[3] ^ k1;
        n.v[3] = lo0;
        ctr = n;
    }
    return ctr;
}

/* The four words of counter block `block` of `stream` under `seed`. */
QA_HOSTDEV qa_philox_block qa_rng_block(uint64_t seed, uint64_t stream, uint64_t block) {
    qa_philox_block c;
    c.v[0] = (uint32_t)block;
    c.v[1] = (uint32_t)(block >> 32);
    c.v[2] = (uint32_t)stream;
    c.v[3] = (uint32_t)(stream >> 32);
    return qa_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
}

QA_HOSTDEV uint32_t qa_rng_u32(uint64_t seed, uint64_t stream, uint64_t i) {
    qa_philox_block b = qa_rng_block(seed, stream, i >> 2);
    return b.v[i & 3];
}

/* 53 random bits -> double strictly inside (0, 1): (k + 0.5) * 2^-53. Exact. */
QA_HOSTDEV double qa_rng_u01_from_words(uint32_t hi, uint32_t lo) {
    uint64_t k = (((uint64_t)hi << 32) | lo) >> 11;
    return ((double)k + 0.5) * 1.1102230246251565404e-16; /* 2^-53 */
}

/* 24 random bits -> float strictly inside (0, 1). Exact. */
QA_HOSTDEV float qa_rng_u01f_from_word(uint32_t w) {
    return ((float)(w >> 8) + 0.5f) * 5.9604644775390625e-8f; /* 2^-24 */
}

QA_HOSTDEV double qa_rng_uniform(uint64_t seed, uint64_t stream, uint64_t i) {
    qa_philox_block b = qa_rng_block(seed, stream, i >> 1);
    return (i & 1) ? qa_rng_u01_from_words(b.v[2], b.v[3]) : qa_rng_u01_from_words(b.v[0], b.v[1]);
}

QA_HOSTDEV float qa_rng_uniformf(uint64_t seed, uint64_t stream, uint64_t i) {
    return qa_rng_u01f_from_word(qa_rng_u32(seed, stream, i));
}

/* Standard normal by Box-Muller on the block's two uniforms: even i -> r cos, odd -> r sin. */
QA_HOSTDEV double qa_rng_normal(uint64_t seed, uint64_t stream, uint64_t i) {
    qa_philox_block b = qa_rng_block(seed, stream, i >> 1);
    double u1 = qa_rng_u01_from_words(b.v[0], b.v[1]);
    double u2 = qa_rng_u01_from_words(b.v[2], b.v[3]);
    double r = sqrt(-2.0 * log(u1));
    double theta = 6.283185307179586477 * u2;
    return (i & 1) ? r * sin(theta) : r * cos(theta);
}

#endif
