/* Backend dispatch for Philox stream fills. */
#include "kernels/rng_impl.h"

size_t qa_rng_elem_size(qa_rng_dist dist) {
    switch (dist) {
    case QA_RNG_U32: return sizeof(uint32_t);
    case QA_RNG_UNIFORM_F32: return sizeof(float);
    case QA_RNG_UNIFORM:
    case QA_RNG_NORMAL: return sizeof(double);
    default: return 0;
    }
}

qa_status qa_rng_fill(qa_backend_t *be, qa_rng_dist dist, uint64_t seed, uint64_t stream,
                      uint64_t offset, size_t n, void *out) {
    if (dist < 0 || dist >= QA_RNG_DIST_COUNT)
        return QA_FAIL(QA_ERR_INVALID_ARG, "unknown random distribution %d", (int)dist);
    if (n == 0) return QA_OK;
    if (!out) return QA_FAIL(QA_ERR_INVALID_ARG, "rng fill: NULL output");
    if (qa_backend_kind_of(be) == QA_BACKEND_CUDA)
        return qa_rng_fill_cuda(qa_backend_stream(be), dist, seed, stream, offset, n, out);
    if (qa_backend_reference(be)) qa_rng_fill_ref(dist, seed, stream, offset, n, out);
    else qa_rng_fill_cpu(dist, seed, stream, offset, n, out, qa_backend_threads(be));
    return QA_OK;
}

#ifndef QA_HAVE_CUDA
qa_status qa_rng_fill_cuda(void *cuda_stream, qa_rng_dist dist, uint64_t seed, uint64_t stream,
                           uint64_t offset, size_t n, void *out) {
    (void)cuda_stream, (void)dist, (void)seed, (void)stream, (void)offset, (void)n, (void)out;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no CUDA backend");
}
#endif
