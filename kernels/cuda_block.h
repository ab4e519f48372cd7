// Device helpers the CUDA kernels share (included by .cu files only): the fixed-order
// warp and block sums of doubles that make the reductions deterministic for a given
// launch shape.
#ifndef QA_KERNELS_CUDA_BLOCK_H
#define QA_KERNELS_CUDA_BLOCK_H

#if defined(__CUDACC__)

// Sum over a warp by shuffles down; the result is valid in lane 0.
__device__ __forceinline__ double qa_warp_sum(double v) {
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    return v;
}

// Sum over a block of kThreads threads (a multiple of 32): warp sums, then the warps'
// partials in order by thread 0, where the result is valid. Every thread must call.
template <int kThreads> __device__ double qa_block_sum(double v) {
    __shared__ double warp_part[kThreads / 32];
    v = qa_warp_sum(v);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) warp_part[warp] = v;
    __syncthreads();
    double t = 0.0;
    if (threadIdx.x == 0)
        for (int w = 0; w < kThreads / 32; w++) t += warp_part[w];
    __syncthreads();
    return t;
}

#endif
#endif
