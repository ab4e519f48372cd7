/* Error checks for the foreign compute libraries: the CUDA runtime, cuBLAS, cuSOLVER,
 * cuDNN and NCCL, in one place. Each records the failed statement, the library's own
 * message and the source location through qa_err_set (common/status.h), so a failure
 * reads "cublasDgemm(...): CUBLAS_STATUS_EXECUTION_FAILED".
 *
 *   QA_<LIB>_CHECK(stmt)  returns the status from the enclosing function on failure;
 *   QA_<LIB>_TRY(stmt)    sets `st` and jumps to `cleanup` (the goto-cleanup style);
 *   QA_CUDA_LAUNCH_CHECK(name) / QA_CUDA_LAUNCH_TRY(name) after every kernel launch.
 *
 * Include the library's own header first: the macros of a library are defined only when
 * its header was seen, so a source that uses just the runtime does not need cuDNN. The
 * HDF5 check lives with the store (datasets/h5.h): kernels know nothing of files. */
#ifndef QA_KERNELS_CHECK_H
#define QA_KERNELS_CHECK_H

#include <cuda_runtime_api.h>  /* cudaError_t, cudaGetErrorString */

#include "common/status.h"

/* The two forms for any library whose calls return a status `type` with success `ok`;
 * `msg` turns a status into text, `code` is the qa_status recorded. */
#define QA_LIB_FAIL_(code, stmt_text, detail) qa_err_set((code), __FILE__, __LINE__, "%s: %s", (stmt_text), (detail))
#define QA_LIB_CHECK_(type, stmt, ok, msg, code)                          \
    do {                                                                  \
        type e_ = (stmt);                                                 \
        if (e_ != (ok)) return QA_LIB_FAIL_((code), #stmt, msg(e_));      \
    } while (0)
#define QA_LIB_TRY_(type, stmt, ok, msg, code)                            \
    do {                                                                  \
        type e_ = (stmt);                                                 \
        if (e_ != (ok)) {                                                 \
            st = QA_LIB_FAIL_((code), #stmt, msg(e_));                    \
            goto cleanup;                                                 \
        }                                                                 \
    } while (0)

/* ---- CUDA runtime: no driver or no device is QA_ERR_NO_DEVICE, anything else QA_ERR_CUDA */
#define QA_CUDA_CODE_(e) \
    (((e) == cudaErrorInsufficientDriver || (e) == cudaErrorNoDevice) ? QA_ERR_NO_DEVICE : QA_ERR_CUDA)
#define QA_CUDA_FAIL_(e_, what_) \
    qa_err_set(QA_CUDA_CODE_(e_), __FILE__, __LINE__, "%s: %s (%s)", what_, cudaGetErrorString(e_), cudaGetErrorName(e_))
#define QA_CUDA_CHECK(stmt)                                       \
    do {                                                          \
        cudaError_t e_ = (stmt);                                  \
        if (e_ != cudaSuccess) return QA_CUDA_FAIL_(e_, #stmt);   \
    } while (0)
#define QA_CUDA_TRY(stmt)                                         \
    do {                                                          \
        cudaError_t e_ = (stmt);                                  \
        if (e_ != cudaSuccess) {                                  \
            st = QA_CUDA_FAIL_(e_, #stmt);                        \
            goto cleanup;                                         \
        }                                                         \
    } while (0)
/* After every kernel launch: catches bad launch configurations immediately. */
#define QA_CUDA_LAUNCH_CHECK(name)                                          \
    do {                                                                    \
        cudaError_t e_ = cudaGetLastError();                                \
        if (e_ != cudaSuccess) return QA_CUDA_FAIL_(e_, "launch of " name); \
    } while (0)
#define QA_CUDA_LAUNCH_TRY(name)                   \
    do {                                           \
        cudaError_t e_ = cudaGetLastError();       \
        if (e_ != cudaSuccess) {                   \
            st = QA_CUDA_FAIL_(e_, "launch of " name); \
            goto cleanup;                          \
        }                                          \
    } while (0)

/* ---- cuBLAS */
#if defined(__cplusplus)
/* Cleanup paths of the CUDA kernels: cudaFreeAsync of every non-NULL pointer on stream s
 * (freeing is ordered after the stream's queued work). */
template <typename... P> static inline void qa_cuda_free_all(cudaStream_t s, P... p) {
    void *ptrs[] = {(void *)p...};
    for (void *x : ptrs)
        if (x) cudaFreeAsync(x, s);
}
#endif

#ifdef CUBLAS_VER_MAJOR
#define QA_CUBLAS_CHECK(stmt) QA_LIB_CHECK_(cublasStatus_t, stmt, CUBLAS_STATUS_SUCCESS, cublasGetStatusString, QA_ERR_CUDA)
#define QA_CUBLAS_TRY(stmt) QA_LIB_TRY_(cublasStatus_t, stmt, CUBLAS_STATUS_SUCCESS, cublasGetStatusString, QA_ERR_CUDA)
#endif

/* ---- cuSOLVER (it has no status-to-text call: the number, as the docs list it) */
#ifdef CUSOLVER_VER_MAJOR
static inline const char *qa_cusolver_status_text_(int s) {
    switch (s) {
    case 1: return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case 2: return "CUSOLVER_STATUS_ALLOC_FAILED";
    case 3: return "CUSOLVER_STATUS_INVALID_VALUE";
    case 4: return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case 6: return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case 7: return "CUSOLVER_STATUS_INTERNAL_ERROR";
    case 8: return "CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED";
    default: return "cuSOLVER error";
    }
}
#define QA_CUSOLVER_TEXT_(e) qa_cusolver_status_text_((int)(e))
#define QA_CUSOLVER_TRY(stmt) QA_LIB_TRY_(cusolverStatus_t, stmt, CUSOLVER_STATUS_SUCCESS, QA_CUSOLVER_TEXT_, QA_ERR_CUDA)
#endif

/* ---- cuDNN */
#ifdef CUDNN_MAJOR
#define QA_CUDNN_CHECK(stmt) QA_LIB_CHECK_(cudnnStatus_t, stmt, CUDNN_STATUS_SUCCESS, cudnnGetErrorString, QA_ERR_CUDA)
#define QA_CUDNN_TRY(stmt) QA_LIB_TRY_(cudnnStatus_t, stmt, CUDNN_STATUS_SUCCESS, cudnnGetErrorString, QA_ERR_CUDA)
#endif

/* ---- NCCL */
#ifdef NCCL_MAJOR
#define QA_NCCL_CHECK(stmt) QA_LIB_CHECK_(ncclResult_t, stmt, ncclSuccess, ncclGetErrorString, QA_ERR_CUDA)
#define QA_NCCL_TRY(stmt) QA_LIB_TRY_(ncclResult_t, stmt, ncclSuccess, ncclGetErrorString, QA_ERR_CUDA)
#endif

#endif
