/* Backend dispatch for row moments. */
#include "kernels/reduce_impl.h"

qa_status qa_reduce_moments(qa_backend_t *be, const double *x, size_t rows, size_t cols,
                            qa_moments *out) {
    if (rows == 0) return QA_OK;
    if (!x && cols > 0) return QA_FAIL(QA_ERR_INVALID_ARG, "reduce: NULL input");
    if (qa_backend_kind_of(be) == QA_BACKEND_CUDA)
        return qa_reduce_moments_cuda(qa_backend_stream(be), x, rows, cols, out);
    if (qa_backend_reference(be)) qa_reduce_moments_ref(x, rows, cols, out);
    else qa_reduce_moments_cpu(x, rows, cols, out, qa_backend_threads(be));
    return QA_OK;
}

#ifndef QA_HAVE_CUDA
qa_status qa_reduce_moments_cuda(void *cuda_stream, const double *x, size_t rows, size_t cols,
                                 qa_moments *out) {
    (void)cuda_stream, (void)x, (void)rows, (void)cols, (void)out;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no CUDA backend");
}
#endif
