/* The reference of the Philox stream fills: one call of the shared scalar generator
 * (common/philox.h) per element, which is the definition. */
#include "kernels/rng_impl.h"

#include "common/philox.h" /* the one generator shared with the CPU path and CUDA */

void qa_rng_fill_ref(qa_rng_dist dist, uint64_t seed, uint64_t stream, uint64_t offset, size_t n, void *out) {
    for (size_t k = 0; k < n; k++) {
        uint64_t i = offset + k;
        switch (dist) {
        case QA_RNG_U32: ((uint32_t *)out)[k] = qa_rng_u32(seed, stream, i); break;
        case QA_RNG_UNIFORM: ((double *)out)[k] = qa_rng_uniform(seed, stream, i); break;
        case QA_RNG_NORMAL: ((double *)out)[k] = qa_rng_normal(seed, stream, i); break;
        case QA_RNG_UNIFORM_F32: ((float *)out)[k] = qa_rng_uniformf(seed, stream, i); break;
        default: return;
        }
    }
}

