// CUDA implementations of the nn layers (kernels/nn.h): cuBLAS GEMMs in FP32 / TF32 /
// BF16 math, fused elementwise kernels, LayerNorm, losses, the global-norm reduction and
// the fused AdamW update. Everything is queued on the backend stream; reductions are
// deterministic (fixed launch shapes that depend only on the sizes, fixed-order trees).
#include "kernels/nn_impl.h"

#include <cublas_v2.h>  // cublasGemmEx
#include <cuda_bf16.h>  // __nv_bfloat16, __float2bfloat16_rn
#include <math.h>
#include <stdlib.h>     // calloc, free

#include "common/philox.h"       // dropout mask (same generator as the CPU)
#include "kernels/check.h"       // QA_CUDA_*, QA_CUBLAS_CHECK
#include "kernels/cudalib.h"     // cuBLAS is opened on first use, not at start-up
#include "kernels/cuda_block.h"  // qa_block_sum


// Capacity of the reduction partials buffer: stage 1 of every reduction uses at most
// this many blocks (doubles), stage 2 merges them in one block.
constexpr int kMaxPartials = 1024;
constexpr int kBlock = 256;

struct qa_nn_gpu {
    cudaStream_t stream;
    cublasHandle_t blas;
    double *partials;     // kMaxPartials
    void *scratch;        // BF16 operand copies
    size_t scratch_bytes;
    int scratch_allocs;
};

namespace {

unsigned grid_for(size_t n, int block, size_t cap = 65536) {
    size_t g = (n + (size_t)block - 1) / (size_t)block;
    if (g > cap) g = cap;
    return (unsigned)(g ? g : 1);
}

qa_status ensure_scratch(qa_nn_gpu *g, size_t bytes) {
    if (bytes <= g->scratch_bytes) return QA_OK;
    if (g->scratch) QA_CUDA_CHECK(cudaFreeAsync(g->scratch, g->stream));
    g->scratch = nullptr;
    g->scratch_bytes = 0;
    QA_CUDA_CHECK(cudaMallocAsync(&g->scratch, bytes, g->stream));
    g->scratch_bytes = bytes;
    g->scratch_allocs++;
    return QA_OK;
}

// ---- block reductions (fixed order) -------------------------------------------------------------


__device__ __forceinline__ float warp_max(float v) {
    for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
    return v;
}

__device__ __forceinline__ double warp_allsum(double v) {
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    return v;
}

// block_sum: the shared fixed-order block sum at this file's block size.
__device__ __forceinline__ double block_sum(double v) { return qa_block_sum<kBlock>(v); }

// Stage 2: out = sum(partials[0..count)) * scale, or its square root when take_sqrt.
__global__ void finish_kernel(const double *partials, int count, double scale, int take_sqrt, float *out) {
    double v = 0.0;
    for (int i = threadIdx.x; i < count; i += kBlock) v += partials[i];
    double t = block_sum(v);
    if (threadIdx.x == 0) *out = (float)(take_sqrt ? sqrt(t) : t * scale);
}

// Stage-1 grid for n terms: at least 2048 terms per block, at most kMaxPartials blocks.
unsigned reduce_grid(size_t n) { return grid_for(n, 8 * kBlock, kMaxPartials); }

// ---- GEMM helpers -------------------------------------------------------------------------------

// C = beta * C over an m x n row-major block (the k == 0 GEMM); beta == 0 writes zeros.
__global__ void scale_matrix_kernel(int m, int n, float beta, float *c, int ldc) {
    size_t total = (size_t)m * n, stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        float *p = c + (i / n) * (size_t)ldc + i % n;
        *p = beta == 0.0f ? 0.0f : beta * *p;
    }
}

// dst[r*ld + c] = bf16(src[r*ld + c]) for r < rows, c < cols (round to nearest even).
__global__ void to_bf16_kernel(int rows, int cols, int ld, const float *src, __nv_bfloat16 *dst) {
    size_t total = (size_t)rows * cols, stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += stride) {
        size_t off = (i / cols) * (size_t)ld + i % cols;
        dst[off] = __float2bfloat16_rn(src[off]);
    }
}

// ---- column sums (deterministic) ------------------------------------------------------------------

// Block (32, 32): threadIdx.x picks the column of a 32-wide tile, threadIdx.y a row lane;
// lane y sums rows y, y+32, ... in order, then lane 0 adds the 32 lane sums in order.
__global__ void colsum_kernel(int rows, int cols, const float *x, float *out, int accumulate) {
    __shared__ double part[32][33];
    const int col = blockIdx.x * 32 + threadIdx.x;
    double acc = 0.0;
    if (col < cols)
        for (int r = threadIdx.y; r < rows; r += 32) acc += x[(size_t)r * cols + col];
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && col < cols) {
        double t = 0.0;
        for (int y = 0; y < 32; y++) t += part[y][threadIdx.x];
        out[col] = (float)(accumulate ? out[col] + t : t);
    }
}

__global__ void broadcast_rows_kernel(size_t n, int cols, const float *b, float *y) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) y[i] = b[i % cols];
}

// ---- bias + activation + dropout -------------------------------------------------------------------

struct DropArgs {
    int on;
    float p, scale;
    uint64_t seed, step;
};

// One thread per quad of flat indices 4q..4q+3 (one Philox block: the same words the
// CPU uses for those indices). Backward = forward's mask and scale times act'(h) * dy.
template <int Act, bool Backward>
__global__ void bias_act_kernel(size_t n, int cols, const float *x, const float *bias, const float *dy,
                                float *out, DropArgs d) {
    size_t quads = (n + 3) / 4, stride = (size_t)gridDim.x * blockDim.x;
    for (size_t q = (size_t)blockIdx.x * blockDim.x + threadIdx.x; q < quads; q += stride) {
        qa_philox_block pb = {{0u, 0u, 0u, 0u}};
        if (d.on) pb = qa_rng_block(d.seed, d.step, (uint64_t)q);
        for (int j = 0; j < 4; j++) {
            size_t i = 4 * q + j;
            if (i >= n) break;
            float h = x[i] + (bias ? bias[i % cols] : 0.0f);
            float v = Backward ? dy[i] * qa_nn_act_grad_exact((qa_nn_act)Act, h) : qa_nn_act_exact((qa_nn_act)Act, h);
            if (d.on) v = qa_rng_u01f_from_word(pb.v[j]) >= d.p ? v * d.scale : 0.0f;
            out[i] = v;
        }
    }
}

template <bool Backward>
qa_status launch_bias_act(qa_nn_gpu *g, qa_nn_act act, int rows, int cols, const float *x, const float *bias,
                          const qa_nn_dropout *drop, const float *dy, float *out) {
    size_t n = (size_t)rows * cols;
    DropArgs d = {0, 0.0f, 1.0f, 0, 0};
    if (drop && drop->p > 0.0f) {
        d.on = 1;
        d.p = drop->p;
        d.scale = 1.0f / (1.0f - drop->p);  // the CPU's expression: identical float
        d.seed = drop->seed;
        d.step = drop->step;
    }
    unsigned grid = grid_for((n + 3) / 4, kBlock);
    switch (act) {
    case QA_NN_ACT_RELU:
        bias_act_kernel<QA_NN_ACT_RELU, Backward><<<grid, kBlock, 0, g->stream>>>(n, cols, x, bias, dy, out, d);
        break;
    case QA_NN_ACT_GELU:
        bias_act_kernel<QA_NN_ACT_GELU, Backward><<<grid, kBlock, 0, g->stream>>>(n, cols, x, bias, dy, out, d);
        break;
    default:
        bias_act_kernel<QA_NN_ACT_NONE, Backward><<<grid, kBlock, 0, g->stream>>>(n, cols, x, bias, dy, out, d);
        break;
    }
    QA_CUDA_LAUNCH_CHECK("bias_act");
    return QA_OK;
}

// ---- LayerNorm -------------------------------------------------------------------------------------------

// One warp per row; statistics in double (two passes), as the CPU.
__global__ void layernorm_fwd_kernel(int rows, int cols, float eps, const float *x, const float *gamma,
                                     const float *beta, float *y, float *mean, float *rstd) {
    const int lane = threadIdx.x & 31;
    const int warps = (gridDim.x * blockDim.x) >> 5;
    for (int r = (blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
        const float *xr = x + (size_t)r * cols;
        double s = 0.0;
        for (int c = lane; c < cols; c += 32) s += xr[c];
        double mu = warp_allsum(s) / cols;
        double ss = 0.0;
        for (int c = lane; c < cols; c += 32) ss += ((double)xr[c] - mu) * ((double)xr[c] - mu);
        double rs = 1.0 / sqrt(warp_allsum(ss) / cols + (double)eps);
        float muf = (float)mu, rsf = (float)rs;
        float *yr = y + (size_t)r * cols;
        for (int c = lane; c < cols; c += 32) yr[c] = (xr[c] - muf) * rsf * gamma[c] + beta[c];
        if (lane == 0) {
            mean[r] = muf;
            rstd[r] = rsf;
        }
    }
}

__global__ void layernorm_bwd_dx_kernel(int rows, int cols, const float *x, const float *gamma,
                                        const float *mean, const float *rstd, const float *dy, float *dx) {
    const int lane = threadIdx.x & 31;
    const int warps = (gridDim.x * blockDim.x) >> 5;
    for (int r = (blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
        const float *xr = x + (size_t)r * cols, *dyr = dy + (size_t)r * cols;
        const float mu = mean[r], rs = rstd[r];
        double m1 = 0.0, m2 = 0.0;
        for (int c = lane; c < cols; c += 32) {
            float xhat = (xr[c] - mu) * rs, gd = dyr[c] * gamma[c];
            m1 += gd;
            m2 += (double)gd * xhat;
        }
        const float m1f = (float)(warp_allsum(m1) / cols), m2f = (float)(warp_allsum(m2) / cols);
        float *dxr = dx + (size_t)r * cols;
        for (int c = lane; c < cols; c += 32) {
            float xhat = (xr[c] - mu) * rs, gd = dyr[c] * gamma[c];
            dxr[c] = rs * (gd - m1f - xhat * m2f);
        }
    }
}

// dgamma/dbeta column sums with the colsum_kernel layout.
__global__ void layernorm_bwd_params_kernel(int rows, int cols, const float *x, const float *mean,
                                            const float *rstd, const float *dy, float *dgamma, float *dbeta,
                                            int accumulate) {
    __shared__ double pg[32][33], pb[32][33];
    const int col = blockIdx.x * 32 + threadIdx.x;
    double ag = 0.0, ab = 0.0;
    if (col < cols)
        for (int r = threadIdx.y; r < rows; r += 32) {
            size_t i = (size_t)r * cols + col;
            ag += dy[i] * ((x[i] - mean[r]) * rstd[r]);
            ab += dy[i];
        }
    pg[threadIdx.y][threadIdx.x] = ag;
    pb[threadIdx.y][threadIdx.x] = ab;
    __syncthreads();
    if (threadIdx.y == 0 && col < cols) {
        double tg = 0.0, tb = 0.0;
        for (int y = 0; y < 32; y++) {
            tg += pg[y][threadIdx.x];
            tb += pb[y][threadIdx.x];
        }
        if (dgamma) dgamma[col] = (float)(accumulate ? dgamma[col] + tg : tg);
        if (dbeta) dbeta[col] = (float)(accumulate ? dbeta[col] + tb : tb);
    }
}

// ---- losses ------------------------------------------------------------------------------------------------

template <bool Huber>
__global__ void pointwise_loss_kernel(size_t n, float delta, double inv_n, const float *pred, const float *target,
                                      float *dpred, double *partials) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    double s = 0.0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        float d;
        s += qa_nn_pointwise_loss(Huber, delta, inv_n, pred[i] - target[i], &d);
        if (dpred) dpred[i] = d;
    }
    double t = block_sum(s);
    if (threadIdx.x == 0) partials[blockIdx.x] = t;
}

// One warp per row: max-shifted log-sum-exp in double, gradient (softmax - onehot)/rows.
__global__ void cross_entropy_kernel(int rows, int classes, double inv_rows, const float *logits,
                                     const int32_t *labels, float *dlogits, double *partials) {
    const int lane = threadIdx.x & 31;
    const int warps = (gridDim.x * blockDim.x) >> 5;
    double s = 0.0;  // lane 0's sum of its rows' losses
    for (int r = (blockIdx.x * blockDim.x + threadIdx.x) >> 5; r < rows; r += warps) {
        const float *z = logits + (size_t)r * classes;
        float *dz = dlogits ? dlogits + (size_t)r * classes : nullptr;
        const int y = labels[r];
        if (y < 0 || y >= classes) {
            if (lane == 0) s += nan("");
            if (dz)
                for (int j = lane; j < classes; j += 32) dz[j] = 0.0f;
            continue;
        }
        float mx = -INFINITY;
        for (int j = lane; j < classes; j += 32) mx = fmaxf(mx, z[j]);
        mx = warp_max(mx);
        double se = 0.0;
        for (int j = lane; j < classes; j += 32) se += exp((double)z[j] - mx);
        const double lse = mx + log(warp_allsum(se));
        if (lane == 0) s += lse - z[y];
        if (dz)
            for (int j = lane; j < classes; j += 32) dz[j] = (float)((exp((double)z[j] - lse) - (j == y)) * inv_rows);
    }
    double t = block_sum(s);
    if (threadIdx.x == 0) partials[blockIdx.x] = t;
}

__global__ void sumsq_kernel(size_t n, const float *g, double *partials) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    double s = 0.0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) s += (double)g[i] * g[i];
    double t = block_sum(s);
    if (threadIdx.x == 0) partials[blockIdx.x] = t;
}

// ---- AdamW -------------------------------------------------------------------------------------------------

__global__ void adamw_kernel(size_t n, qa_nn_adamw_f a, float *param, const float *grad, float *m, float *v,
                             const float *norm) {
    float scale;
    if (!qa_nn_adamw_scale(&a, norm, &scale)) return;  // skipped step
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride)
        qa_nn_adamw_elem(&a, scale, grad[i], &param[i], &m[i], &v[i]);
}

}  // namespace

// ---- entry points ---------------------------------------------------------------------------------------

extern "C" qa_status qa_nn_cuda_create(void *stream, qa_nn_gpu **out) {
    qa_status st = QA_OK;
    qa_nn_gpu *g = (qa_nn_gpu *)calloc(1, sizeof *g);
    if (!g) return QA_FAIL(QA_ERR_NOMEM, "nn gpu state");
    g->stream = (cudaStream_t)stream;
    QA_TRY(qa_cudalib_load(QA_CUDALIB_CUBLAS));
    {
        cublasStatus_t bs = cublasCreate(&g->blas);
        if (bs != CUBLAS_STATUS_SUCCESS) {
            g->blas = nullptr;
            QA_TRY_FAIL(QA_ERR_CUDA, "cublasCreate: %s", cublasGetStatusString(bs));
        }
        bs = cublasSetStream(g->blas, g->stream);
        if (bs != CUBLAS_STATUS_SUCCESS) QA_TRY_FAIL(QA_ERR_CUDA, "cublasSetStream: %s", cublasGetStatusString(bs));
    }
    QA_CUDA_TRY(cudaMalloc((void **)&g->partials, kMaxPartials * sizeof(double)));
    *out = g;
    return QA_OK;
cleanup:
    qa_nn_cuda_free(g);
    return st;
}

extern "C" void qa_nn_cuda_free(qa_nn_gpu *g) {
    if (!g) return;
    if (g->scratch) cudaFreeAsync(g->scratch, g->stream);  // stream-ordered, as it was allocated
    cudaStreamSynchronize(g->stream);
    if (g->blas) cublasDestroy(g->blas);
    if (g->partials) cudaFree(g->partials);
    free(g);
}

extern "C" qa_status qa_nn_cuda_reserve(qa_nn_gpu *g, size_t bytes) { return ensure_scratch(g, bytes); }

extern "C" int qa_nn_cuda_scratch_allocs(const qa_nn_gpu *g) { return g->scratch_allocs; }

extern "C" qa_status qa_nn_cuda_zero(qa_nn_gpu *g, size_t n, float *x) {
    if (n) QA_CUDA_CHECK(cudaMemsetAsync(x, 0, n * sizeof(float), g->stream));
    return QA_OK;
}

// Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: cuBLAS gets B first.
extern "C" qa_status qa_nn_cuda_gemm(qa_nn_gpu *g, qa_nn_math math, int trans_a, int trans_b, int m, int n,
                                     int k, float alpha, const float *a, int lda, const float *b, int ldb,
                                     float beta, float *c, int ldc) {
    if (k == 0) {
        scale_matrix_kernel<<<grid_for((size_t)m * n, kBlock), kBlock, 0, g->stream>>>(m, n, beta, c, ldc);
        QA_CUDA_LAUNCH_CHECK("gemm k=0 scale");
        return QA_OK;
    }
    const cublasOperation_t op_a = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const cublasOperation_t op_b = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    if (math == QA_NN_MATH_BF16) {
        const int rows_a = trans_a ? k : m, cols_a = trans_a ? m : k;
        const int rows_b = trans_b ? n : k, cols_b = trans_b ? k : n;
        const size_t bytes_a = ((size_t)rows_a * lda * 2 + 255) & ~(size_t)255;
        qa_status st = ensure_scratch(g, qa_nn_gemm_scratch_bytes(math, trans_a, trans_b, m, n, k, lda, ldb));
        if (st != QA_OK) return st;
        __nv_bfloat16 *a16 = (__nv_bfloat16 *)g->scratch;
        __nv_bfloat16 *b16 = (__nv_bfloat16 *)((char *)g->scratch + bytes_a);
        to_bf16_kernel<<<grid_for((size_t)rows_a * cols_a, kBlock), kBlock, 0, g->stream>>>(rows_a, cols_a, lda, a, a16);
        QA_CUDA_LAUNCH_CHECK("bf16 convert A");
        to_bf16_kernel<<<grid_for((size_t)rows_b * cols_b, kBlock), kBlock, 0, g->stream>>>(rows_b, cols_b, ldb, b, b16);
        QA_CUDA_LAUNCH_CHECK("bf16 convert B");
        QA_CUBLAS_CHECK(cublasGemmEx(g->blas, op_b, op_a, n, m, k, &alpha, b16, CUDA_R_16BF, ldb, a16, CUDA_R_16BF,
                                     lda, &beta, c, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
        return QA_OK;
    }
    const cublasComputeType_t compute = math == QA_NN_MATH_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    QA_CUBLAS_CHECK(cublasGemmEx(g->blas, op_b, op_a, n, m, k, &alpha, b, CUDA_R_32F, ldb, a, CUDA_R_32F, lda, &beta,
                                 c, CUDA_R_32F, ldc, compute, CUBLAS_GEMM_DEFAULT));
    return QA_OK;
}

extern "C" qa_status qa_nn_cuda_colsum(qa_nn_gpu *g, int rows, int cols, const float *x, float *out, int accumulate) {
    colsum_kernel<<<(unsigned)((cols + 31) / 32), dim3(32, 32), 0, g->stream>>>(rows, cols, x, out, accumulate);
    QA_CUDA_LAUNCH_CHECK("colsum");
    return QA_OK;
}

extern "C" qa_status qa_nn_cuda_broadcast_rows(qa_nn_gpu *g, int rows, int cols, const float *b, float *y) {
    size_t n = (size_t)rows * cols;
    broadcast_rows_kernel<<<grid_for(n, kBlock), kBlock, 0, g->stream>>>(n, cols, b, y);
    QA_CUDA_LAUNCH_CHECK("broadcast rows");
    return QA_OK;
}

extern "C" qa_status qa_nn_cuda_bias_act_forward(qa_nn_gpu *g, qa_nn_act act, int rows, int cols, const float *x,
                                                 const float *bias, const qa_nn_dropout *drop, float *y) {
    return launch_bias_act<false>(g, act, rows, cols, x, bias, drop, nullptr, y);
}

extern "C" qa_status qa_nn_cuda_bias_act_backward(qa_nn_gpu *g, qa_nn_act act, int rows, int cols, const float *x,
                                                  const float *bias, const qa_nn_dropout *drop, const float *dy,
                                                  float *dx) {
    return launch_bias_act<true>(g, act, rows, cols, x, bias, drop, dy, dx);
}

extern "C" qa_status qa_nn_cuda_layernorm_forward(qa_nn_gpu *g, int rows, int cols, float eps, const float *x,
                                                  const float *gamma, const float *beta, float *y, float *mean,
                                                  float *rstd) {
    layernorm_fwd_kernel<<<grid_for((size_t)rows * 32, kBlock), kBlock, 0, g->stream>>>(rows, cols, eps, x, gamma,
                                                                                        beta, y, mean, rstd);
    QA_CUDA_LAUNCH_CHECK("layernorm forward");
    return QA_OK;
}

extern "C" qa_status qa_nn_cuda_layernorm_backward(qa_nn_gpu *g, int rows, int cols, const float *x,
                                                   const float *gamma, const float *mean, const float *rstd,
                                                   const float *dy, float *dx, float *dgamma, float *dbeta,
                                                   int accumulate) {
    if (rows > 0) {
        layernorm_bwd_dx_kernel<<<grid_for((size_t)rows * 32, kBlock), kBlock, 0, g->stream>>>(rows, cols, x, gamma,
                                                                                               mean, rstd, dy, dx);
        QA_CUDA_LAUNCH_CHECK("layernorm backward dx");
    }
    if (dgamma || dbeta) {
        layernorm_bwd_params_kernel<<<(unsigned)((cols + 31) / 32), dim3(32, 32), 0, g->stream>>>(
            rows, cols, x, mean, rstd, dy, dgamma, dbeta, accumulate);
        QA_CUDA_LAUNCH_CHECK("layernorm backward params");
    }
    return QA_OK;
}

static qa_status finish(qa_nn_gpu *g, unsigned count, double scale, int take_sqrt, float *out) {
    finish_kernel<<<1, kBlock, 0, g->stream>>>(g->partials, (int)count, scale, take_sqrt, out);
    QA_CUDA_LAUNCH_CHECK("reduction finish");
    return QA_OK;
}

extern "C" qa_status qa_nn_cuda_loss_mse(qa_nn_gpu *g, size_t n, const float *pred, const float *target, float *loss,
                                         float *dpred) {
    const double inv_n = n ? 1.0 / (double)n : 0.0;
    unsigned grid = reduce_grid(n);
    pointwise_loss_kernel<false><<<grid, kBlock, 0, g->stream>>>(n, 0.0f, inv_n, pred, target, dpred, g->partials);
    QA_CUDA_LAUNCH_CHECK("mse loss");
    return finish(g, grid, inv_n, 0, loss);
}

extern "C" qa_status qa_nn_cuda_loss_huber(qa_nn_gpu *g, size_t n, float delta, const float *pred,
                                           const float *target, float *loss, float *dpred) {
    const double inv_n = n ? 1.0 / (double)n : 0.0;
    unsigned grid = reduce_grid(n);
    pointwise_loss_kernel<true><<<grid, kBlock, 0, g->stream>>>(n, delta, inv_n, pred, target, dpred, g->partials);
    QA_CUDA_LAUNCH_CHECK("huber loss");
    return finish(g, grid, inv_n, 0, loss);
}

extern "C" qa_status qa_nn_cuda_loss_cross_entropy(qa_nn_gpu *g, int rows, int classes, const float *logits,
                                                   const int32_t *labels, float *loss, float *dlogits) {
    const double inv_rows = rows ? 1.0 / rows : 0.0;
    // one warp per row, 8 rows per block, at most kMaxPartials blocks
    unsigned grid = grid_for((size_t)rows, kBlock / 32, kMaxPartials);
    cross_entropy_kernel<<<grid, kBlock, 0, g->stream>>>(rows, classes, inv_rows, logits, labels, dlogits,
                                                          g->partials);
    QA_CUDA_LAUNCH_CHECK("cross-entropy loss");
    return finish(g, grid, inv_rows, 0, loss);
}

extern "C" qa_status qa_nn_cuda_grad_norm(qa_nn_gpu *g, size_t n, const float *grad, float *norm) {
    unsigned grid = reduce_grid(n);
    sumsq_kernel<<<grid, kBlock, 0, g->stream>>>(n, grad, g->partials);
    QA_CUDA_LAUNCH_CHECK("grad norm");
    return finish(g, grid, 1.0, 1, norm);
}

extern "C" qa_status qa_nn_cuda_adamw_update(qa_nn_gpu *g, const qa_nn_adamw_f *a, size_t n, float *param,
                                             const float *grad, float *m, float *v, const float *norm) {
    adamw_kernel<<<grid_for(n, kBlock), kBlock, 0, g->stream>>>(n, *a, param, grad, m, v, norm);
    QA_CUDA_LAUNCH_CHECK("adamw");
    return QA_OK;
}
