/* Internal to the rng op (not a public API): the backend entry points rng.c dispatches
 * to; tests call them directly. All three give identical values: each evaluates the
 * same per-element expressions of common/philox.h (host/device code). */
#ifndef QA_KERNELS_RNG_IMPL_H
#define QA_KERNELS_RNG_IMPL_H

#include "kernels/rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The reference (rng_ref.c): one call of the scalar generator per element. */
void qa_rng_fill_ref(qa_rng_dist dist, uint64_t seed, uint64_t stream, uint64_t offset, size_t n, void *out);
/* The CPU path (rng_cpu.c): one Philox block per 4 words / 2 doubles, contiguous ranges
 * over `threads` (>= 1) OpenMP threads. */
void qa_rng_fill_cpu(qa_rng_dist dist, uint64_t seed, uint64_t stream, uint64_t offset, size_t n, void *out,
                     int threads);
/* CUDA (rng.cu). */
qa_status qa_rng_fill_cuda(void *cuda_stream, qa_rng_dist dist, uint64_t seed, uint64_t stream, uint64_t offset,
                           size_t n, void *out);

#ifdef __cplusplus
}
#endif
#endif
