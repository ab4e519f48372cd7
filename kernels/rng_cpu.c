/* CPU Philox stream fills: one Philox block per 4 u32 words / 2 doubles, and one
 * log/sqrt/sincos per pair of normals, parallel over contiguous index ranges. The values
 * equal the reference's (rng_ref.c): the same expressions per element. */
#include "kernels/rng_impl.h"

#include <math.h>  /* sqrt, log, cos, sin */
#ifdef _OPENMP
#include <omp.h>   /* thread ids for the contiguous split */
#endif

#include "common/philox.h"  /* the one generator shared with the CUDA kernel */

/* Elements [k0, k1) of the output, block by block. */
static void fill_fast(qa_rng_dist dist, uint64_t seed, uint64_t stream, uint64_t offset, size_t k0, size_t k1,
                      void *out) {
    const unsigned per = (dist == QA_RNG_U32 || dist == QA_RNG_UNIFORM_F32) ? 4 : 2;
    size_t k = k0;
    while (k < k1) {
        uint64_t i = offset + k;
        uint64_t blk = per == 4 ? i >> 2 : i >> 1;
        unsigned first = (unsigned)(i - blk * per);
        qa_philox_block b = qa_rng_block(seed, stream, blk);
        if (dist == QA_RNG_U32 || dist == QA_RNG_UNIFORM_F32) {
            for (unsigned w = first; w < 4 && k < k1; w++, k++) {
                if (dist == QA_RNG_U32) ((uint32_t *)out)[k] = b.v[w];
                else ((float *)out)[k] = qa_rng_u01f_from_word(b.v[w]);
            }
        } else {
            double u1 = qa_rng_u01_from_words(b.v[0], b.v[1]);
            double u2 = qa_rng_u01_from_words(b.v[2], b.v[3]);
            double v[2];
            if (dist == QA_RNG_UNIFORM) {
                v[0] = u1;
                v[1] = u2;
            } else {
                /* Same expressions as qa_rng_normal, evaluated once for the pair. */
                double r = sqrt(-2.0 * log(u1));
                double theta = 6.283185307179586477 * u2;
                v[0] = r * cos(theta);
                v[1] = r * sin(theta);
            }
            for (unsigned w = first; w < 2 && k < k1; w++, k++) ((double *)out)[k] = v[w];
        }
    }
}

void qa_rng_fill_cpu(qa_rng_dist dist, uint64_t seed, uint64_t stream, uint64_t offset, size_t n,
                     void *out, int threads) {
    if (dist < 0 || dist >= QA_RNG_DIST_COUNT) return;
    if (threads <= 1 || n < 65536) {
        fill_fast(dist, seed, stream, offset, 0, n, out);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
#ifdef _OPENMP
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
        int t = 0, nt = 1;
#endif
        size_t k0 = n * (size_t)t / (size_t)nt, k1 = n * (size_t)(t + 1) / (size_t)nt;
        fill_fast(dist, seed, stream, offset, k0, k1, out);
    }
}
