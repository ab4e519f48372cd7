// CUDA row moments. Grid (chunks, rows): each block reduces one chunk of one row with
// Welford per thread and Chan's pairwise merge across the warp and the block; a second
// kernel merges a row's chunk partials in chunk order (deterministic for a given
// launch shape). The per-element and merge arithmetic lives in reduce_impl.h, shared
// with qa_reduce_moments_gpu_order, the host replay the CPU tests run.
#include "kernels/reduce_impl.h" // the accumulator, merge and chunk layout (shared with the CPU replay)

#include <math.h>

#include "kernels/check.h"  // QA_CUDA_CHECK

namespace {

using Acc = qa_reduce_acc;

__device__ __forceinline__ Acc acc_shfl_down(const Acc &a, int off) {
    Acc r;
    r.n = __shfl_down_sync(0xffffffffu, a.n, off);
    r.mean = __shfl_down_sync(0xffffffffu, a.mean, off);
    r.m2 = __shfl_down_sync(0xffffffffu, a.m2, off);
    r.lo = __shfl_down_sync(0xffffffffu, a.lo, off);
    r.hi = __shfl_down_sync(0xffffffffu, a.hi, off);
    return r;
}

constexpr int kBlock = QA_REDUCE_BLOCK;

__global__ void chunk_kernel(const double *x, size_t cols, size_t chunk, Acc *partials) {
    const size_t row = blockIdx.y, c = blockIdx.x;
    const size_t begin = c * chunk;
    const size_t end = begin + chunk < cols ? begin + chunk : cols;
    const double *xr = x + row * cols;
    Acc a = qa_reduce_empty();
    for (size_t j = begin + threadIdx.x; j < end; j += kBlock) qa_reduce_push(&a, xr[j]);
    for (int off = 16; off > 0; off >>= 1) a = qa_reduce_merge(a, acc_shfl_down(a, off));
    __shared__ Acc warp_acc[kBlock / 32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) warp_acc[warp] = a;
    __syncthreads();
    if (threadIdx.x == 0) {
        Acc t = warp_acc[0];
        for (int w = 1; w < kBlock / 32; w++) t = qa_reduce_merge(t, warp_acc[w]);
        partials[row * gridDim.x + c] = t;
    }
}

__global__ void merge_kernel(const Acc *partials, size_t rows, size_t chunks, qa_moments *out) {
    size_t row = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= rows) return;
    Acc t = qa_reduce_empty();
    for (size_t c = 0; c < chunks; c++) t = qa_reduce_merge(t, partials[row * chunks + c]);
    out[row] = qa_reduce_finish(t);
}

}  // namespace

extern "C" qa_status qa_reduce_moments_cuda(void *cuda_stream, const double *x, size_t rows,
                                            size_t cols, qa_moments *out) {
    cudaStream_t s = (cudaStream_t)cuda_stream;
    qa_status st = QA_OK;
    size_t chunks, chunk;
    qa_reduce_chunks(rows, cols, &chunks, &chunk);
    const size_t max_rows = 65535;  // gridDim.y limit: larger inputs go in row batches
    size_t batch = rows < max_rows ? rows : max_rows;
    Acc *partials = nullptr;
    qa_moments *dout = nullptr;
    QA_CUDA_TRY(cudaMallocAsync((void **)&partials, batch * chunks * sizeof(Acc), s));
    QA_CUDA_TRY(cudaMallocAsync((void **)&dout, rows * sizeof(qa_moments), s));
    for (size_t r0 = 0; r0 < rows; r0 += batch) {
        size_t nr = rows - r0 < batch ? rows - r0 : batch;
        chunk_kernel<<<dim3((unsigned)chunks, (unsigned)nr), kBlock, 0, s>>>(x + r0 * cols, cols,
                                                                             chunk, partials);
        QA_CUDA_TRY(cudaGetLastError());
        merge_kernel<<<(unsigned)((nr + 127) / 128), 128, 0, s>>>(partials, nr, chunks, dout + r0);
        QA_CUDA_TRY(cudaGetLastError());
    }
    QA_CUDA_TRY(cudaMemcpyAsync(out, dout, rows * sizeof(qa_moments), cudaMemcpyDeviceToHost, s));
    QA_CUDA_TRY(cudaStreamSynchronize(s));
cleanup:
    if (partials) cudaFreeAsync(partials, s);
    if (dout) cudaFreeAsync(dout, s);
    return st;
}
