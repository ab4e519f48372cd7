// CUDA Philox stream fills: one thread per element, grid-stride, the same scalar
// generator as the CPU reference (common/philox.h), so outputs are bit-identical.
#include "kernels/rng_impl.h"

#include "common/philox.h"      // shared generator
#include "kernels/check.h" // QA_CUDA_CHECK

namespace {

template <typename T, int Dist>
__global__ void fill_kernel(uint64_t seed, uint64_t stream, uint64_t offset, size_t n, T *out) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < n; k += stride) {
        uint64_t i = offset + k;
        if constexpr (Dist == QA_RNG_U32) out[k] = qa_rng_u32(seed, stream, i);
        else if constexpr (Dist == QA_RNG_UNIFORM) out[k] = qa_rng_uniform(seed, stream, i);
        else if constexpr (Dist == QA_RNG_NORMAL) out[k] = qa_rng_normal(seed, stream, i);
        else out[k] = qa_rng_uniformf(seed, stream, i);
    }
}

unsigned grid_for(size_t n, int block) {
    size_t g = (n + (size_t)block - 1) / (size_t)block;
    return (unsigned)(g > 65536 ? 65536 : (g ? g : 1));
}

}  // namespace

extern "C" qa_status qa_rng_fill_cuda(void *cuda_stream, qa_rng_dist dist, uint64_t seed,
                                      uint64_t stream, uint64_t offset, size_t n, void *out) {
    cudaStream_t s = (cudaStream_t)cuda_stream;
    const int block = 256;
    unsigned grid = grid_for(n, block);
    switch (dist) {
    case QA_RNG_U32:
        fill_kernel<uint32_t, QA_RNG_U32><<<grid, block, 0, s>>>(seed, stream, offset, n, (uint32_t *)out);
        break;
    case QA_RNG_UNIFORM:
        fill_kernel<double, QA_RNG_UNIFORM><<<grid, block, 0, s>>>(seed, stream, offset, n, (double *)out);
        break;
    case QA_RNG_NORMAL:
        fill_kernel<double, QA_RNG_NORMAL><<<grid, block, 0, s>>>(seed, stream, offset, n, (double *)out);
        break;
    case QA_RNG_UNIFORM_F32:
        fill_kernel<float, QA_RNG_UNIFORM_F32><<<grid, block, 0, s>>>(seed, stream, offset, n, (float *)out);
        break;
    default:
        return QA_FAIL(QA_ERR_INVALID_ARG, "unknown random distribution %d", (int)dist);
    }
    QA_CUDA_LAUNCH_CHECK("rng fill");
    return QA_OK;
}
