/* Internal to the reduce op (not a public API): the Welford accumulator and Chan's merge
 * as host/device functions, the chunk layout of the CUDA kernels, and the backend entry
 * points reduce.c dispatches to.
 *
 * The CUDA kernels (reduce.cu) accumulate each thread's elements with qa_reduce_push and
 * combine partials with qa_reduce_merge; the same functions run on the CPU in
 * qa_reduce_moments_gpu_order (reduce_cpu.c), which replays the GPU's decomposition
 * (chunks, 256 strided threads, the warp's shuffle tree, the block's warps, the chunk
 * partials in order) so a machine without a GPU tests the CUDA arithmetic. */
#ifndef QA_KERNELS_REDUCE_IMPL_H
#define QA_KERNELS_REDUCE_IMPL_H

#include <math.h>  /* INFINITY, NAN, isnan, fmin, fmax */

#include "kernels/reduce.h"

#if defined(__CUDACC__)
#define QA_REDUCE_HD static __host__ __device__ __forceinline__
#else
#define QA_REDUCE_HD static inline
#endif

/* Threads per block of the CUDA chunk kernel (and of its CPU replay). */
#define QA_REDUCE_BLOCK 256

/* Count (as a double, exact below 2^53), mean, M2 and extremes of a stream. */
typedef struct qa_reduce_acc {
    double n, mean, m2, lo, hi;
} qa_reduce_acc;

QA_REDUCE_HD qa_reduce_acc qa_reduce_empty(void) {
    qa_reduce_acc a = {0.0, 0.0, 0.0, INFINITY, -INFINITY};
    return a;
}

/* Welford's update with one value; NaN is skipped. */
QA_REDUCE_HD void qa_reduce_push(qa_reduce_acc *a, double v) {
    if (isnan(v)) return;
    a->n += 1.0;
    double d = v - a->mean;
    a->mean += d / a->n;
    a->m2 += d * (v - a->mean);
    a->lo = fmin(a->lo, v);
    a->hi = fmax(a->hi, v);
}

/* Chan et al.'s pairwise merge of two partial accumulators. */
QA_REDUCE_HD qa_reduce_acc qa_reduce_merge(qa_reduce_acc a, qa_reduce_acc b) {
    if (b.n == 0.0) return a;
    if (a.n == 0.0) return b;
    qa_reduce_acc r;
    r.n = a.n + b.n;
    double d = b.mean - a.mean;
    r.mean = a.mean + d * (b.n / r.n);
    r.m2 = a.m2 + b.m2 + d * d * (a.n * b.n / r.n);
    r.lo = fmin(a.lo, b.lo);
    r.hi = fmax(a.hi, b.hi);
    return r;
}

/* The moments of a finished accumulator. */
QA_REDUCE_HD qa_moments qa_reduce_finish(qa_reduce_acc t) {
    qa_moments m;
    m.count = (int64_t)t.n;
    if (t.n == 0.0) {
        m.sum = 0.0;
        m.mean = m.min = m.max = NAN;
        m.m2 = 0.0;
    } else {
        m.sum = t.mean * t.n;
        m.mean = t.mean;
        m.m2 = t.m2;
        m.min = t.lo;
        m.max = t.hi;
    }
    return m;
}

/* Chunks per row of the CUDA kernels: enough to fill the GPU when there are few rows, at
 * least 4096 values each, at most 1024. */
QA_REDUCE_HD void qa_reduce_chunks(size_t rows, size_t cols, size_t *chunks, size_t *chunk) {
    size_t c = rows >= 1024 ? 1 : (cols + 4095) / 4096;
    if (c > 1024) c = 1024;
    if (c == 0) c = 1;
    size_t w = (cols + c - 1) / c;
    *chunks = c;
    *chunk = w ? w : 1;
}

#ifdef __cplusplus
extern "C" {
#endif

/* The two-pass reference (reduce_ref.c): one row, one thread; the oracle. */
void qa_reduce_row_ref(const double *x, size_t cols, qa_moments *m);
void qa_reduce_moments_ref(const double *x, size_t rows, size_t cols, qa_moments *out);
/* The CPU path (reduce_cpu.c): the reference's rows over `threads` OpenMP threads. */
void qa_reduce_moments_cpu(const double *x, size_t rows, size_t cols, qa_moments *out, int threads);
/* The CUDA kernels' arithmetic in their order, on the host (tests). */
void qa_reduce_moments_gpu_order(const double *x, size_t rows, size_t cols, qa_moments *out);
/* CUDA (reduce.cu). */
qa_status qa_reduce_moments_cuda(void *cuda_stream, const double *x, size_t rows, size_t cols, qa_moments *out);

#ifdef __cplusplus
}
#endif
#endif
