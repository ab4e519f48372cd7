/* cuBLAS, cuSOLVER, cuDNN and NCCL, loaded on first use (dlopen) instead of at start-up.
 *
 * Why: linking them makes the dynamic loader map and relocate ~1 GB of libraries
 * (cuBLASLt alone is ~500 MB) before main, for every command: `qa --version` took 0.12 s
 * in a CUDA build against 12 ms without them, and a CPU-only sweep paid the same.
 * The CUDA runtime stays linked (it costs well under 1 ms: it loads the driver itself,
 * on the first runtime call).
 *
 * How: the code keeps calling the libraries by their documented names. Included after
 * a library's own header, this header turns each call into a call through a function
 * pointer of the same type (the header's own declaration), resolved by
 * qa_cudalib_load(), which opens the library and resolves every symbol the project uses
 * at once, so a missing library or symbol is one clear error at the first use (creating
 * the handle), never a crash later. A call not listed here is an undefined symbol at
 * link time, because the libraries are no longer linked: the list cannot fall behind.
 *
 * Usage (host code): #include <cublas_v2.h>, then "kernels/cudalib.h"; before creating
 * a handle, QA_CHECK(qa_cudalib_load(QA_CUDALIB_CUBLAS)). */
#ifndef QA_KERNELS_CUDALIB_H
#define QA_KERNELS_CUDALIB_H

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qa_cudalib {
    QA_CUDALIB_CUBLAS = 0,
    QA_CUDALIB_CUSOLVER = 1,
    QA_CUDALIB_CUDNN = 2,
    QA_CUDALIB_NCCL = 3,
    QA_CUDALIB_COUNT = 4
} qa_cudalib;

/* Every entry point used, by library (the exported names: cublas_v2.h maps
 * cublasCreate to cublasCreate_v2, and so on). */
#define QA_CUDALIB_FNS(X)                                                                                   \
    X(CUBLAS, cublasCreate_v2) X(CUBLAS, cublasDestroy_v2) X(CUBLAS, cublasSetStream_v2)                     \
    X(CUBLAS, cublasSetPointerMode_v2) X(CUBLAS, cublasGetStatusString) X(CUBLAS, cublasGemmEx)              \
    X(CUBLAS, cublasDgemm_v2) X(CUBLAS, cublasDsyrk_v2) X(CUBLAS, cublasDtrmm_v2) X(CUBLAS, cublasDgemv_v2) \
    X(CUSOLVER, cusolverDnCreate) X(CUSOLVER, cusolverDnDestroy) X(CUSOLVER, cusolverDnSetStream)             \
    X(CUSOLVER, cusolverDnDpotrf_bufferSize) X(CUSOLVER, cusolverDnDpotrf)                                   \
    X(CUDNN, cudnnCreate) X(CUDNN, cudnnDestroy) X(CUDNN, cudnnSetStream) X(CUDNN, cudnnGetErrorString)      \
    X(CUDNN, cudnnCreateTensorDescriptor) X(CUDNN, cudnnDestroyTensorDescriptor)                            \
    X(CUDNN, cudnnSetTensorNdDescriptor) X(CUDNN, cudnnGetTensorNdDescriptor)                               \
    X(CUDNN, cudnnCreateRNNDataDescriptor) X(CUDNN, cudnnDestroyRNNDataDescriptor)                          \
    X(CUDNN, cudnnSetRNNDataDescriptor) X(CUDNN, cudnnCreateRNNDescriptor) X(CUDNN, cudnnDestroyRNNDescriptor) \
    X(CUDNN, cudnnSetRNNDescriptor_v8) X(CUDNN, cudnnCreateDropoutDescriptor)                               \
    X(CUDNN, cudnnDestroyDropoutDescriptor) X(CUDNN, cudnnSetDropoutDescriptor) X(CUDNN, cudnnRNNForward)    \
    X(CUDNN, cudnnRNNBackwardData_v8) X(CUDNN, cudnnRNNBackwardWeights_v8)                                  \
    X(CUDNN, cudnnGetRNNWeightSpaceSize) X(CUDNN, cudnnGetRNNWeightParams) X(CUDNN, cudnnGetRNNTempSpaceSizes) \
    X(NCCL, ncclGetVersion) X(NCCL, ncclGetUniqueId) X(NCCL, ncclCommInitRank) X(NCCL, ncclCommDestroy)      \
    X(NCCL, ncclAllReduce) X(NCCL, ncclAllGather) X(NCCL, ncclGetErrorString)

#define QA_CUDALIB_SLOT_(lib, name) QA_CUDALIB_FN_##name,
typedef enum qa_cudalib_fn_id { QA_CUDALIB_FNS(QA_CUDALIB_SLOT_) QA_CUDALIB_FN_COUNT } qa_cudalib_fn_id;
#undef QA_CUDALIB_SLOT_

/* Resolved entry points (NULL until their library is loaded). Written once under a lock
 * before qa_cudalib_load returns QA_OK; read only after that. */
extern void *qa_cudalib_fn[QA_CUDALIB_FN_COUNT];

/* Opens `lib` and resolves all its entry points, once per process (thread-safe). Later
 * calls return the first outcome; a failure names the library file and dlerror(). */
qa_status qa_cudalib_load(qa_cudalib lib);
/* The file name tried first for `lib` (its SONAME), for messages and `qa info`. */
const char *qa_cudalib_file(qa_cudalib lib);

#ifdef __cplusplus
}
#endif

/* ---- calls through the resolved pointers (host code, after the library's header) ---- */
#define QA_CUDALIB_CALL_(name) ((__typeof__(&(name)))qa_cudalib_fn[QA_CUDALIB_FN_##name])

#ifdef CUBLAS_VER_MAJOR
#define cublasCreate_v2(...) QA_CUDALIB_CALL_(cublasCreate_v2)(__VA_ARGS__)
#define cublasDestroy_v2(...) QA_CUDALIB_CALL_(cublasDestroy_v2)(__VA_ARGS__)
#define cublasSetStream_v2(...) QA_CUDALIB_CALL_(cublasSetStream_v2)(__VA_ARGS__)
#define cublasSetPointerMode_v2(...) QA_CUDALIB_CALL_(cublasSetPointerMode_v2)(__VA_ARGS__)
#define cublasGetStatusString(...) QA_CUDALIB_CALL_(cublasGetStatusString)(__VA_ARGS__)
/* C++ sees a second, inline cublasGemmEx (taking a cudaDataType compute type), so the
 * exported one is named by its C signature. */
typedef cublasStatus_t (*qa_cudalib_gemm_ex_fn)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                                const void *, const void *, cudaDataType, int, const void *,
                                                cudaDataType, int, const void *, void *, cudaDataType, int,
                                                cublasComputeType_t, cublasGemmAlgo_t);
#define cublasGemmEx(...) ((qa_cudalib_gemm_ex_fn)qa_cudalib_fn[QA_CUDALIB_FN_cublasGemmEx])(__VA_ARGS__)
#define cublasDgemm_v2(...) QA_CUDALIB_CALL_(cublasDgemm_v2)(__VA_ARGS__)
#define cublasDsyrk_v2(...) QA_CUDALIB_CALL_(cublasDsyrk_v2)(__VA_ARGS__)
#define cublasDtrmm_v2(...) QA_CUDALIB_CALL_(cublasDtrmm_v2)(__VA_ARGS__)
#define cublasDgemv_v2(...) QA_CUDALIB_CALL_(cublasDgemv_v2)(__VA_ARGS__)
#endif

#ifdef CUSOLVER_VER_MAJOR
#define cusolverDnCreate(...) QA_CUDALIB_CALL_(cusolverDnCreate)(__VA_ARGS__)
#define cusolverDnDestroy(...) QA_CUDALIB_CALL_(cusolverDnDestroy)(__VA_ARGS__)
#define cusolverDnSetStream(...) QA_CUDALIB_CALL_(cusolverDnSetStream)(__VA_ARGS__)
#define cusolverDnDpotrf_bufferSize(...) QA_CUDALIB_CALL_(cusolverDnDpotrf_bufferSize)(__VA_ARGS__)
#define cusolverDnDpotrf(...) QA_CUDALIB_CALL_(cusolverDnDpotrf)(__VA_ARGS__)
#endif

#ifdef CUDNN_MAJOR
#define cudnnCreate(...) QA_CUDALIB_CALL_(cudnnCreate)(__VA_ARGS__)
#define cudnnDestroy(...) QA_CUDALIB_CALL_(cudnnDestroy)(__VA_ARGS__)
#define cudnnSetStream(...) QA_CUDALIB_CALL_(cudnnSetStream)(__VA_ARGS__)
#define cudnnGetErrorString(...) QA_CUDALIB_CALL_(cudnnGetErrorString)(__VA_ARGS__)
#define cudnnCreateTensorDescriptor(...) QA_CUDALIB_CALL_(cudnnCreateTensorDescriptor)(__VA_ARGS__)
#define cudnnDestroyTensorDescriptor(...) QA_CUDALIB_CALL_(cudnnDestroyTensorDescriptor)(__VA_ARGS__)
#define cudnnSetTensorNdDescriptor(...) QA_CUDALIB_CALL_(cudnnSetTensorNdDescriptor)(__VA_ARGS__)
#define cudnnGetTensorNdDescriptor(...) QA_CUDALIB_CALL_(cudnnGetTensorNdDescriptor)(__VA_ARGS__)
#define cudnnCreateRNNDataDescriptor(...) QA_CUDALIB_CALL_(cudnnCreateRNNDataDescriptor)(__VA_ARGS__)
#define cudnnDestroyRNNDataDescriptor(...) QA_CUDALIB_CALL_(cudnnDestroyRNNDataDescriptor)(__VA_ARGS__)
#define cudnnSetRNNDataDescriptor(...) QA_CUDALIB_CALL_(cudnnSetRNNDataDescriptor)(__VA_ARGS__)
#define cudnnCreateRNNDescriptor(...) QA_CUDALIB_CALL_(cudnnCreateRNNDescriptor)(__VA_ARGS__)
#define cudnnDestroyRNNDescriptor(...) QA_CUDALIB_CALL_(cudnnDestroyRNNDescriptor)(__VA_ARGS__)
#define cudnnSetRNNDescriptor_v8(...) QA_CUDALIB_CALL_(cudnnSetRNNDescriptor_v8)(__VA_ARGS__)
#define cudnnCreateDropoutDescriptor(...) QA_CUDALIB_CALL_(cudnnCreateDropoutDescriptor)(__VA_ARGS__)
#define cudnnDestroyDropoutDescriptor(...) QA_CUDALIB_CALL_(cudnnDestroyDropoutDescriptor)(__VA_ARGS__)
#define cudnnSetDropoutDescriptor(...) QA_CUDALIB_CALL_(cudnnSetDropoutDescriptor)(__VA_ARGS__)
#define cudnnRNNForward(...) QA_CUDALIB_CALL_(cudnnRNNForward)(__VA_ARGS__)
#define cudnnRNNBackwardData_v8(...) QA_CUDALIB_CALL_(cudnnRNNBackwardData_v8)(__VA_ARGS__)
#define cudnnRNNBackwardWeights_v8(...) QA_CUDALIB_CALL_(cudnnRNNBackwardWeights_v8)(__VA_ARGS__)
#define cudnnGetRNNWeightSpaceSize(...) QA_CUDALIB_CALL_(cudnnGetRNNWeightSpaceSize)(__VA_ARGS__)
#define cudnnGetRNNWeightParams(...) QA_CUDALIB_CALL_(cudnnGetRNNWeightParams)(__VA_ARGS__)
#define cudnnGetRNNTempSpaceSizes(...) QA_CUDALIB_CALL_(cudnnGetRNNTempSpaceSizes)(__VA_ARGS__)
#endif

#ifdef NCCL_MAJOR
#define ncclGetVersion(...) QA_CUDALIB_CALL_(ncclGetVersion)(__VA_ARGS__)
#define ncclGetUniqueId(...) QA_CUDALIB_CALL_(ncclGetUniqueId)(__VA_ARGS__)
#define ncclCommInitRank(...) QA_CUDALIB_CALL_(ncclCommInitRank)(__VA_ARGS__)
#define ncclCommDestroy(...) QA_CUDALIB_CALL_(ncclCommDestroy)(__VA_ARGS__)
#define ncclAllReduce(...) QA_CUDALIB_CALL_(ncclAllReduce)(__VA_ARGS__)
#define ncclAllGather(...) QA_CUDALIB_CALL_(ncclAllGather)(__VA_ARGS__)
#define ncclGetErrorString(...) QA_CUDALIB_CALL_(ncclGetErrorString)(__VA_ARGS__)
#endif

#endif
