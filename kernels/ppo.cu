// CUDA PPO kernels (kernels/ppo.h). Row-parallel kernels call the per-row functions of
// ppo_impl.h (the CPU reference's arithmetic) with one thread per row, env or element.
// Reductions over rows are deterministic: stage 1 runs qa_ppo_blocks(n) blocks of
// QA_PPO_BLOCK threads (each thread sums its grid-strided rows, then a fixed warp-shuffle
// and warp-order tree) into partials in the caller's scratch; stage 2, one block, sums
// each quantity's partials in a fixed order and writes the stats. Column sums (the
// Gaussian dlog_std, the observation statistics) use 32 x 32 blocks: lane y sums rows
// y, y + 32, ... in order, then the 32 lane sums are added in order. Launch shapes depend
// only on the sizes. Nothing synchronises the stream.
#include "kernels/ppo_impl.h" // per-row math, scratch layout (shared with the CPU paths)

#include <math.h>

#include "kernels/check.h"       // QA_CUDA_LAUNCH_CHECK
#include "kernels/cuda_block.h"  // qa_block_sum

namespace {

constexpr int kBlock = QA_PPO_BLOCK;

// Blocks for an element-parallel grid-stride kernel over n items.
unsigned grid_for(size_t n, size_t cap = 4096) {
    size_t g = (n + kBlock - 1) / kBlock;
    if (g > cap) g = cap;
    return (unsigned)(g ? g : 1);
}

// ---- fixed-order block reduction --------------------------------------------------------------


// block_sum: the shared fixed-order block sum at this file's block size.
__device__ __forceinline__ double block_sum(double v) { return qa_block_sum<kBlock>(v); }

// Stage 1's epilogue: block b's sums of K quantities into partials[q * gridDim.x + b].
__device__ void store_partials(const double *s, int K, double *partials) {
    for (int q = 0; q < K; q++) {
        double t = block_sum(s[q]);
        if (threadIdx.x == 0) partials[(size_t)q * gridDim.x + blockIdx.x] = t;
    }
}

// What stage 2 does with the K sums.
enum Finish { kCatPolicy, kGaussPolicy, kValue, kMean, kDenom };

// One block: sums[q] = the partials of quantity q (G per quantity) in a fixed order, then
// thread 0 writes the results of `mode`. n is the row (element) count.
__global__ void finish_kernel(const double *partials, int G, int K, int mode, int n, double ent_coef,
                              const float *log_std, int A, double *stats, double *slots) {
    double s[QA_PPO_ROW_TERMS];
    for (int q = 0; q < QA_PPO_ROW_TERMS; q++) {
        double v = 0.0;
        if (q < K)
            for (int i = threadIdx.x; i < G; i += kBlock) v += partials[(size_t)q * G + i];
        s[q] = block_sum(v);
    }
    if (threadIdx.x != 0) return;
    switch (mode) {
    case kCatPolicy: qa_ppo_policy_stats(n, s[0], s[2], s[3], n > 0 ? s[1] / n : 0.0, ent_coef, stats); break;
    case kGaussPolicy:
        qa_ppo_policy_stats(n, s[0], s[1], s[2], qa_ppo_gauss_entropy(A, log_std), ent_coef, stats);
        break;
    case kValue: stats[QA_PPO_STAT_VLOSS] = n > 0 ? s[0] / n : 0.0; break;
    case kMean: slots[0] = s[0] / n; break;
    case kDenom: slots[1] = n > 1 ? sqrt(s[0] / (n - 1)) + QA_PPO_EPS : 1.0; break;
    }
}

// ---- advantages ----------------------------------------------------------------------------------

__global__ void gae_kernel(int T, int N, double gamma, double gl, const float *reward, const float *value,
                           const float *last_value, const uint8_t *terminated, const uint8_t *truncated,
                           const float *final_value, float *adv, float *ret) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N) qa_ppo_gae_env(T, N, i, gamma, gl, reward, value, last_value, terminated, truncated, final_value, adv, ret);
}

// Stage 1 of the mean (squares == 0) or of the squared deviations from slots[0].
__global__ void moment_kernel(size_t n, const float *x, int squares, const double *slots, double *partials) {
    const double mean = squares ? slots[0] : 0.0;
    double s = 0.0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        double d = (double)x[i] - mean;
        s += squares ? d * d : (double)x[i];
    }
    store_partials(&s, 1, partials);
}

__global__ void normalize_apply_kernel(size_t n, float *x, const double *slots) {
    const double mean = slots[0], denom = slots[1];
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        x[i] = qa_ppo_normalize_value(x[i], mean, denom);
}

// ---- categorical ------------------------------------------------------------------------------------

__global__ void cat_sample_kernel(int B, int A, const float *logits, uint64_t seed, uint64_t counter, int32_t *action,
                                  float *logp) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)B; i += (size_t)gridDim.x * blockDim.x)
        action[i] = qa_ppo_cat_sample_row(A, logits + i * A, qa_rng_uniform(seed, counter, i), &logp[i]);
}

__global__ void cat_argmax_kernel(int B, int A, const float *logits, int32_t *action) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)B; i += (size_t)gridDim.x * blockDim.x)
        action[i] = qa_ppo_cat_argmax_row(A, logits + i * A);
}

__global__ void cat_logp_kernel(int B, int A, const float *logits, const int32_t *action, float *logp,
                                float *entropy) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)B; i += (size_t)gridDim.x * blockDim.x) {
        const float *z = logits + i * A;
        double lse = qa_ppo_cat_lse(A, z);
        if (logp) logp[i] = (float)qa_ppo_cat_logp_of(A, z, action[i], lse);
        if (entropy) entropy[i] = (float)qa_ppo_cat_entropy(A, z, lse);
    }
}

__global__ void cat_loss_kernel(int B, int A, const float *logits, const int32_t *action, const float *logp_old,
                                const float *adv, double clip, double ent_coef, double inv_B, float *dlogits,
                                double *partials) {
    double s[4] = {0.0, 0.0, 0.0, 0.0};
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)B; i += (size_t)gridDim.x * blockDim.x) {
        qa_ppo_terms t = qa_ppo_cat_loss_row(A, logits + i * A, action[i], logp_old[i], adv[i], clip, ent_coef, inv_B,
                                             dlogits + i * A);
        s[0] += t.pg, s[1] += t.ent, s[2] += t.kl, s[3] += t.clip;
    }
    store_partials(s, 4, partials);
}

// ---- diagonal Gaussian ---------------------------------------------------------------------------------

__global__ void gauss_sample_kernel(int B, int A, const float *mean, const float *log_std, uint64_t seed,
                                    uint64_t counter, float *action, float *logp) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)B; i += (size_t)gridDim.x * blockDim.x)
        logp[i] = qa_ppo_gauss_sample_row(A, mean + i * A, log_std, seed, counter, i, action + i * A);
}

// Stage 1 of the Gaussian loss; also keeps each row's g in coef[] for the dlog_std sums.
__global__ void gauss_loss_kernel(int B, int A, const float *mean, const float *log_std, const float *action,
                                  const float *logp_old, const float *adv, double clip, double inv_B, float *dmean,
                                  double *coef, double *partials) {
    double s[3] = {0.0, 0.0, 0.0};
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)B; i += (size_t)gridDim.x * blockDim.x) {
        size_t o = i * A;
        qa_ppo_terms t = qa_ppo_gauss_loss_row(A, mean + o, log_std, action + o, logp_old[i], adv[i], clip, inv_B,
                                               dmean + o);
        s[0] += t.pg, s[1] += t.kl, s[2] += t.clip;
        coef[i] = t.g;
    }
    store_partials(s, 3, partials);
}

// Block (32, 32) per 32 columns: dlog_std_j = sum_r g_r (x_rj^2 - 1) - ent_coef.
__global__ void gauss_dlogstd_kernel(int B, int A, const float *mean, const float *log_std, const float *action,
                                     const double *coef, double ent_coef, float *dlog_std) {
    __shared__ double part[32][33];
    const int col = blockIdx.x * 32 + threadIdx.x;
    double acc = 0.0;
    if (col < A)
        for (size_t r = threadIdx.y; r < (size_t)B; r += 32) {
            size_t o = r * A + col;
            acc += qa_ppo_gauss_dlogstd_term(coef[r], action[o], mean[o], log_std[col]);
        }
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && col < A) {
        double t = 0.0;
        for (int y = 0; y < 32; y++) t += part[y][threadIdx.x];
        dlog_std[col] = (float)(t - ent_coef);
    }
}

// ---- value loss --------------------------------------------------------------------------------------------

__global__ void value_loss_kernel(int B, const float *v, const float *v_old, const float *ret, double clip,
                                  double scale, float *dv, double *partials) {
    double s = 0.0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)B; i += (size_t)gridDim.x * blockDim.x)
        s += qa_ppo_value_row(v[i], v_old ? v_old[i] : 0.0f, ret[i], clip, scale, &dv[i]);
    store_partials(&s, 1, partials);
}

// ---- observation normalisation ---------------------------------------------------------------------------------

// Block (32, 32) per 32 columns: the batch mean, then the squared deviations from it
// (two passes, as the CPU), then Chan's merge with the running count (read only here;
// count_kernel adds B after every column has used the old count).
__global__ void obsnorm_update_kernel(int B, int D, const float *obs, double *mean, double *var, const double *count) {
    __shared__ double part[32][33];
    __shared__ double bmean[32];
    const int x = threadIdx.x, y = threadIdx.y, col = blockIdx.x * 32 + x;
    double acc = 0.0;
    if (col < D)
        for (size_t r = y; r < (size_t)B; r += 32) acc += obs[r * D + col];
    part[y][x] = acc;
    __syncthreads();
    if (y == 0) {
        double t = 0.0;
        for (int k = 0; k < 32; k++) t += part[k][x];
        bmean[x] = t / B;
    }
    __syncthreads();
    const double bm = bmean[x];
    acc = 0.0;
    if (col < D)
        for (size_t r = y; r < (size_t)B; r += 32) {
            double d = (double)obs[r * D + col] - bm;
            acc += d * d;
        }
    part[y][x] = acc;
    __syncthreads();
    if (y == 0 && col < D) {
        double m2 = 0.0;
        for (int k = 0; k < 32; k++) m2 += part[k][x];
        qa_ppo_obsnorm_merge(bm, m2, (double)B, *count, &mean[col], &var[col]);
    }
}

__global__ void count_kernel(double *count, double n) { *count += n; }

__global__ void obsnorm_apply_kernel(size_t total, int D, const float *obs, const double *mean, const double *var,
                                     double clip, float *out) {
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < total; k += (size_t)gridDim.x * blockDim.x) {
        size_t j = k % (size_t)D;
        out[k] = qa_ppo_obsnorm_value(obs[k], mean[j], var[j], clip);
    }
}

// ---- gather ------------------------------------------------------------------------------------------------------

__global__ void gather_kernel(size_t total, int cols, const uint32_t *src, const int32_t *idx, uint32_t *dst) {
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < total; k += (size_t)gridDim.x * blockDim.x) {
        size_t r = k / (size_t)cols, c = k % (size_t)cols;
        dst[k] = src[(size_t)idx[r] * cols + c];
    }
}

cudaStream_t as_stream(void *s) { return (cudaStream_t)s; }

}  // namespace

// ---- entry points (ppo_impl.h) ---------------------------------------------------------------------------------------

extern "C" qa_status qa_ppo_gae_cuda(void *stream, int T, int N, float gamma, float lambda, const float *reward,
                                     const float *value, const float *last_value, const uint8_t *terminated,
                                     const uint8_t *truncated, const float *final_value, float *adv, float *ret) {
    gae_kernel<<<(unsigned)((N + kBlock - 1) / kBlock), kBlock, 0, as_stream(stream)>>>(
        T, N, gamma, (double)gamma * (double)lambda, reward, value, last_value, terminated, truncated, final_value,
        adv, ret);
    QA_CUDA_LAUNCH_CHECK("ppo gae");
    return QA_OK;
}

extern "C" qa_status qa_ppo_normalize_cuda(void *stream, int n, float *x, double *scratch) {
    cudaStream_t s = as_stream(stream);
    const int G = qa_ppo_blocks((size_t)n);
    double *slots = scratch + QA_PPO_SCRATCH_SLOTS;
    moment_kernel<<<G, kBlock, 0, s>>>((size_t)n, x, 0, slots, scratch);
    QA_CUDA_LAUNCH_CHECK("ppo normalize mean");
    finish_kernel<<<1, kBlock, 0, s>>>(scratch, G, 1, kMean, n, 0.0, nullptr, 0, nullptr, slots);
    QA_CUDA_LAUNCH_CHECK("ppo normalize mean finish");
    moment_kernel<<<G, kBlock, 0, s>>>((size_t)n, x, 1, slots, scratch);
    QA_CUDA_LAUNCH_CHECK("ppo normalize deviations");
    finish_kernel<<<1, kBlock, 0, s>>>(scratch, G, 1, kDenom, n, 0.0, nullptr, 0, nullptr, slots);
    QA_CUDA_LAUNCH_CHECK("ppo normalize deviations finish");
    normalize_apply_kernel<<<grid_for((size_t)n), kBlock, 0, s>>>((size_t)n, x, slots);
    QA_CUDA_LAUNCH_CHECK("ppo normalize apply");
    return QA_OK;
}

extern "C" qa_status qa_ppo_cat_sample_cuda(void *stream, int B, int A, const float *logits, uint64_t seed,
                                            uint64_t counter, int32_t *action, float *logp) {
    cat_sample_kernel<<<grid_for((size_t)B), kBlock, 0, as_stream(stream)>>>(B, A, logits, seed, counter, action, logp);
    QA_CUDA_LAUNCH_CHECK("ppo cat_sample");
    return QA_OK;
}

extern "C" qa_status qa_ppo_cat_argmax_cuda(void *stream, int B, int A, const float *logits, int32_t *action) {
    cat_argmax_kernel<<<grid_for((size_t)B), kBlock, 0, as_stream(stream)>>>(B, A, logits, action);
    QA_CUDA_LAUNCH_CHECK("ppo cat_argmax");
    return QA_OK;
}

extern "C" qa_status qa_ppo_cat_logp_cuda(void *stream, int B, int A, const float *logits, const int32_t *action,
                                          float *logp, float *entropy) {
    cat_logp_kernel<<<grid_for((size_t)B), kBlock, 0, as_stream(stream)>>>(B, A, logits, action, logp, entropy);
    QA_CUDA_LAUNCH_CHECK("ppo cat_logp");
    return QA_OK;
}

extern "C" qa_status qa_ppo_cat_loss_cuda(void *stream, int B, int A, const float *logits, const int32_t *action,
                                          const float *logp_old, const float *adv, float clip, float ent_coef,
                                          float *dlogits, double *stats, double *scratch) {
    cudaStream_t s = as_stream(stream);
    const int G = qa_ppo_blocks((size_t)B);
    cat_loss_kernel<<<G, kBlock, 0, s>>>(B, A, logits, action, logp_old, adv, clip, ent_coef, B > 0 ? 1.0 / B : 0.0,
                                         dlogits, scratch);
    QA_CUDA_LAUNCH_CHECK("ppo cat_loss");
    finish_kernel<<<1, kBlock, 0, s>>>(scratch, G, 4, kCatPolicy, B, ent_coef, nullptr, A, stats, nullptr);
    QA_CUDA_LAUNCH_CHECK("ppo cat_loss finish");
    return QA_OK;
}

extern "C" qa_status qa_ppo_gauss_sample_cuda(void *stream, int B, int A, const float *mean, const float *log_std,
                                              uint64_t seed, uint64_t counter, float *action, float *logp) {
    gauss_sample_kernel<<<grid_for((size_t)B), kBlock, 0, as_stream(stream)>>>(B, A, mean, log_std, seed, counter,
                                                                               action, logp);
    QA_CUDA_LAUNCH_CHECK("ppo gauss_sample");
    return QA_OK;
}

extern "C" qa_status qa_ppo_gauss_loss_cuda(void *stream, int B, int A, const float *mean, const float *log_std,
                                            const float *action, const float *logp_old, const float *adv, float clip,
                                            float ent_coef, float *dmean, float *dlog_std, double *stats,
                                            double *scratch) {
    cudaStream_t s = as_stream(stream);
    const int G = qa_ppo_blocks((size_t)B);
    double *coef = scratch + QA_PPO_SCRATCH_COEF;
    gauss_loss_kernel<<<G, kBlock, 0, s>>>(B, A, mean, log_std, action, logp_old, adv, clip, B > 0 ? 1.0 / B : 0.0,
                                           dmean, coef, scratch);
    QA_CUDA_LAUNCH_CHECK("ppo gauss_loss");
    gauss_dlogstd_kernel<<<(unsigned)((A + 31) / 32), dim3(32, 32), 0, s>>>(B, A, mean, log_std, action, coef,
                                                                           ent_coef, dlog_std);
    QA_CUDA_LAUNCH_CHECK("ppo gauss_loss dlog_std");
    finish_kernel<<<1, kBlock, 0, s>>>(scratch, G, 3, kGaussPolicy, B, ent_coef, log_std, A, stats, nullptr);
    QA_CUDA_LAUNCH_CHECK("ppo gauss_loss finish");
    return QA_OK;
}

extern "C" qa_status qa_ppo_value_loss_cuda(void *stream, int B, const float *v, const float *v_old,
                                            const float *ret, float clip, float vf_coef, float *dv, double *stats,
                                            double *scratch) {
    cudaStream_t s = as_stream(stream);
    const int G = qa_ppo_blocks((size_t)B);
    value_loss_kernel<<<G, kBlock, 0, s>>>(B, v, v_old, ret, clip, B > 0 ? (double)vf_coef / B : 0.0, dv, scratch);
    QA_CUDA_LAUNCH_CHECK("ppo value_loss");
    finish_kernel<<<1, kBlock, 0, s>>>(scratch, G, 1, kValue, B, 0.0, nullptr, 0, stats, nullptr);
    QA_CUDA_LAUNCH_CHECK("ppo value_loss finish");
    return QA_OK;
}

extern "C" qa_status qa_ppo_obsnorm_update_cuda(void *stream, int B, int D, const float *obs, double *mean,
                                                double *var, double *count) {
    cudaStream_t s = as_stream(stream);
    if (D > 0) {
        obsnorm_update_kernel<<<(unsigned)((D + 31) / 32), dim3(32, 32), 0, s>>>(B, D, obs, mean, var, count);
        QA_CUDA_LAUNCH_CHECK("ppo obsnorm_update");
    }
    count_kernel<<<1, 1, 0, s>>>(count, (double)B);
    QA_CUDA_LAUNCH_CHECK("ppo obsnorm_update count");
    return QA_OK;
}

extern "C" qa_status qa_ppo_obsnorm_apply_cuda(void *stream, int B, int D, const float *obs, const double *mean,
                                               const double *var, float clip, float *out) {
    size_t total = (size_t)B * (size_t)D;
    obsnorm_apply_kernel<<<grid_for(total), kBlock, 0, as_stream(stream)>>>(total, D, obs, mean, var, clip, out);
    QA_CUDA_LAUNCH_CHECK("ppo obsnorm_apply");
    return QA_OK;
}

extern "C" qa_status qa_ppo_gather_cuda(void *stream, int n, int cols, const void *src, const int32_t *idx,
                                        void *dst) {
    size_t total = (size_t)n * (size_t)cols;
    gather_kernel<<<grid_for(total), kBlock, 0, as_stream(stream)>>>(total, cols, (const uint32_t *)src, idx,
                                                                     (uint32_t *)dst);
    QA_CUDA_LAUNCH_CHECK("ppo gather");
    return QA_OK;
}
