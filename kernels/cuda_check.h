/* Error checks for the CUDA runtime and libraries (included by CUDA-enabled sources only).
 *
 * Each records the failed statement, the library's own message and the source location
 * through qa_err_set. The _TRY forms need a `qa_status st` and a `cleanup:` label. */
#ifndef QA_KERNELS_CUDA_CHECK_H
#define QA_KERNELS_CUDA_CHECK_H

#include <cuda_runtime_api.h>  /* cudaError_t, cudaGetErrorString */

#include "common/status.h"

#define QA_CUDA_FAIL_(e_, what_)                                                                 \
    qa_err_set(((e_) == cudaErrorInsufficientDriver || (e_) == cudaErrorNoDevice) ? QA_ERR_NO_DEVICE \
                                                                                  : QA_ERR_CUDA, \
               __FILE__, __LINE__, "%s: %s (%s)", what_, cudaGetErrorString(e_), cudaGetErrorName(e_))

/* Returns the status from the enclosing function on failure. */
#define QA_CUDA_CHECK(stmt)                                   \
    do {                                                      \
        cudaError_t e_ = (stmt);                              \
        if (e_ != cudaSuccess) return QA_CUDA_FAIL_(e_, #stmt); \
    } while (0)

/* Sets `st` and jumps to `cleanup` on failure. */
#define QA_CUDA_TRY(stmt)                          \
    do {                                           \
        cudaError_t e_ = (stmt);                   \
        if (e_ != cudaSuccess) {                   \
            st = QA_CUDA_FAIL_(e_, #stmt);         \
            goto cleanup;                          \
        }                                          \
    } while (0)

/* After every kernel launch: catches bad launch configurations immediately. */
#define QA_CUDA_LAUNCH_CHECK(name)                                      \
    do {                                                                \
        cudaError_t e_ = cudaGetLastError();                            \
        if (e_ != cudaSuccess) return QA_CUDA_FAIL_(e_, "launch of " name); \
    } while (0)

#endif
