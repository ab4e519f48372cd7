/* Philox random streams as arrays (the bulk form of common/philox.h).
 *
 * out[k] = element (offset + k) of `stream` under `seed`, for k < n. Because elements
 * are pure functions of their index, any split of the index range over threads, GPUs
 * or ranks produces the same numbers. */
#ifndef QA_KERNELS_RNG_H
#define QA_KERNELS_RNG_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint64_t */

#include "common/status.h"
#include "kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qa_rng_dist {
    QA_RNG_U32 = 0,         /* uint32_t raw words */
    QA_RNG_UNIFORM = 1,     /* double in (0, 1) */
    QA_RNG_NORMAL = 2,      /* double, standard normal */
    QA_RNG_UNIFORM_F32 = 3, /* float in (0, 1) */
    QA_RNG_DIST_COUNT = 4
} qa_rng_dist;

/* Size in bytes of one element of `dist`. */
size_t qa_rng_elem_size(qa_rng_dist dist);

/* Fills `out` (backend memory, n elements of the dist's type). */
qa_status qa_rng_fill(qa_backend_t *be, qa_rng_dist dist, uint64_t seed, uint64_t stream,
                      uint64_t offset, size_t n, void *out);

#ifdef __cplusplus
}
#endif
#endif
