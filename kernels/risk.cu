// CUDA implementations of the risk kernels (kernels/risk.h), queued on the backend
// stream. Dense algebra goes through cuBLAS (DSYRK/DGEMM/DGEMV/DTRMM) and cuSOLVER
// (DPOTRF) with handles owned by the risk context; tail selection is a radix select
// (8-bit digit histograms, most significant first) on order-preserving 64-bit keys, so
// no CUB instantiation weighs on the build. Element-wise kernels evaluate the same expressions
// as risk_cpu.c (shared code in risk_impl.h; explicit _rn intrinsics where the CPU
// rounds a product before adding), so means, historical windows, FHS, row sums and
// tails are bitwise equal to the CPU; error budgets for the rest are in docs/risk.md.
#include <cublas_v2.h>                          // DSYRK, DGEMM, DGEMV, DTRMM
#include <cusolverDn.h>                         // DPOTRF
#include <limits.h>                             // INT_MAX
#include <stdlib.h>                             // malloc, qsort
#include <stdint.h>
#include <string.h>                             // memcpy (key bit casts)

#include "common/philox.h"      // qa_rng_normal: the scenario definition
#include "kernels/check.h"      // QA_CUDA_*, QA_CUBLAS_TRY, QA_CUSOLVER_TRY
#include "kernels/cudalib.h"    // cuBLAS and cuSOLVER are opened on first use
#include "kernels/risk_impl.h"  // context layout, shared per-element code

namespace {


constexpr int kBlock = 256;

cudaStream_t stream_of(const qa_risk_ctx_t *ctx) { return (cudaStream_t)qa_backend_stream(ctx->be); }
cublasHandle_t blas_of(const qa_risk_ctx_t *ctx) { return (cublasHandle_t)ctx->cublas; }

unsigned grid_for(size_t n) {
    size_t g = (n + kBlock - 1) / kBlock;
    return (unsigned)(g > 65536 ? 65536 : (g ? g : 1));
}

qa_status need_int(size_t v, const char *what) {
    if (v > (size_t)INT_MAX)
        return QA_FAIL(QA_ERR_INVALID_ARG, "%s = %zu exceeds the 32-bit limit of cuBLAS/cuSOLVER: use smaller blocks",
                       what, v);
    return QA_OK;
}

// ---- element-wise kernels -------------------------------------------------------------------

// mean[j] = (sum_d r[d][j]) / t in date order (the CPU order: bitwise equal).
__global__ void mean_kernel(const double *r, size_t t, size_t n, double *mean) {
    for (size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < n; j += (size_t)gridDim.x * blockDim.x) {
        double s = 0.0;
        for (size_t d = 0; d < t; d++) s = __dadd_rn(s, r[d * n + j]);
        mean[j] = s / (double)t;
    }
}

// x[d][j] = scale_d (r[d][j] - c[j]); scale_d = sqrt(w_d) for EWMA, 1 otherwise.
__global__ void center_kernel(const double *r, size_t t, size_t n, const double *c, int ewma, double lambda,
                              double *x) {
    size_t total = t * n, stride = (size_t)gridDim.x * blockDim.x;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < total; k += stride) {
        size_t d = k / n, j = k % n;
        double v = r[k] - (c ? c[j] : 0.0);
        if (ewma) {
            double w = pow(lambda, (double)t) / (double)t + (1.0 - lambda) * pow(lambda, (double)(t - 1 - d));
            v *= sqrt(w);
        }
        x[k] = v;
    }
}

// Fills the row-major upper triangle from the lower one (DSYRK wrote col-major upper).
__global__ void mirror_kernel(double *c, size_t n) {
    size_t total = n * n, stride = (size_t)gridDim.x * blockDim.x;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < total; k += stride) {
        size_t i = k / n, j = k % n;
        if (i < j) c[k] = c[j * n + i];
    }
}

__global__ void pow_kernel(const double *x, size_t len, int power, double *y) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < len; k += stride) {
        double v = x[k];
        y[k] = power == 2 ? v * v : v * v * v;
    }
}

// Deterministic single-block sum (fixed tree for a fixed block size).
__device__ double block_sum(double v, double *sh) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int off = blockDim.x / 2; off > 0; off >>= 1) {
        if ((int)threadIdx.x < off) sh[threadIdx.x] += sh[threadIdx.x + off];
        __syncthreads();
    }
    double r = sh[0];
    __syncthreads();
    return r;
}

// Ledoit-Wolf sums, pass 1: out[0] = sum_{i<j} s_ij / sqrt(s_ii s_jj), out[1] = trace,
// out[2] = min_i s_ii. One block of kBlock threads.
__global__ void lw_sums1_kernel(const double *s, size_t n, double *out) {
    __shared__ double sh[kBlock];
    double r = 0.0, tr = 0.0, mn = INFINITY;
    for (size_t k = threadIdx.x; k < n * n; k += blockDim.x) {
        size_t i = k / n, j = k % n;
        if (i < j) r += s[k] / sqrt(s[i * n + i] * s[j * n + j]);
        if (i == j) {
            tr += s[k];
            mn = fmin(mn, s[k]);
        }
    }
    r = block_sum(r, sh);
    tr = block_sum(tr, sh);
    sh[threadIdx.x] = mn;
    __syncthreads();
    for (int off = blockDim.x / 2; off > 0; off >>= 1) {
        if ((int)threadIdx.x < off) sh[threadIdx.x] = fmin(sh[threadIdx.x], sh[threadIdx.x + off]);
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        out[0] = r;
        out[1] = tr;
        out[2] = sh[0];
    }
}

// Pass 2 (rbar from pass 1): out[3] pi, out[4] pi_diag, out[5] rho_off, out[6] gamma,
// out[7] d2. g2 = (1/T) Y'Y (symmetric), g3c col-major: g3c[i + j n] = (1/T) sum x_i^3 x_j.
__global__ void lw_sums2_kernel(const double *s, const double *g2, const double *g3c, size_t n, double *out) {
    __shared__ double sh[kBlock];
    const double rbar = n > 1 ? 2.0 * out[0] / ((double)n * (double)(n - 1)) : 0.0;
    const double m = out[1] / (double)n;
    double pi = 0.0, pid = 0.0, rho = 0.0, gam = 0.0, d2 = 0.0;
    for (size_t k = threadIdx.x; k < n * n; k += blockDim.x) {
        size_t i = k / n, j = k % n;
        double sij = s[k], sii = s[i * n + i], sjj = s[j * n + j];
        double pij = g2[k] - sij * sij;
        pi += pij;
        if (i == j) {
            pid += pij;
            d2 += (sij - m) * (sij - m);
        } else {
            rho += sqrt(sjj / sii) * (g3c[i + j * n] - sii * sij);
            double g = rbar * sqrt(sii * sjj) - sij;
            gam += g * g;
            d2 += sij * sij;
        }
    }
    pi = block_sum(pi, sh);
    pid = block_sum(pid, sh);
    rho = block_sum(rho, sh);
    gam = block_sum(gam, sh);
    d2 = block_sum(d2, sh);
    if (threadIdx.x == 0) {
        out[3] = pi;
        out[4] = pid;
        out[5] = rho;
        out[6] = gam;
        out[7] = d2;
    }
}

__global__ void lw_combine_kernel(const double *s, size_t n, double rbar, double m, double delta, int identity,
                                  double *cov) {
    size_t total = n * n, stride = (size_t)gridDim.x * blockDim.x;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < total; k += stride) {
        size_t i = k / n, j = k % n;
        double sij = s[k], f;
        if (identity) f = i == j ? m : 0.0;
        else f = i == j ? sij : rbar * sqrt(s[i * n + i] * s[j * n + j]);
        cov[k] = delta * f + (1.0 - delta) * sij;
    }
}

__global__ void scale_kernel(double *x, size_t len, double a) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < len; k += stride) x[k] *= a;
}

// Cholesky input: a = lower triangle of cov (+ add on the diagonal), zero above; the
// first row holding a non-finite value goes to *bad (1-based; atomicMin).
__global__ void chol_prep_kernel(const double *cov, size_t n, double add, double *a, unsigned long long *bad) {
    size_t total = n * n, stride = (size_t)gridDim.x * blockDim.x;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < total; k += stride) {
        size_t i = k / n, j = k % n;
        double v = j <= i ? cov[k] : 0.0;
        if (!isfinite(v)) atomicMin(bad, (unsigned long long)(i + 1));
        a[k] = i == j ? v + add : v;
    }
}

// Scenario rows: out[s][j] = c_s eps_j (+ later L and mean). Student-t scales first.
__global__ void t_scale_kernel(uint64_t seed, uint64_t stream, int nu, uint64_t first, const uint64_t *index,
                               size_t count, double *scale) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t s = (size_t)blockIdx.x * blockDim.x + threadIdx.x; s < count; s += stride) {
        uint64_t g = index ? index[s] : first + s, base = g * (uint64_t)nu;
        double w = 0.0;
        for (int k = 0; k < nu; k++) {
            double e = qa_rng_normal(seed, stream + 1, base + (uint64_t)k);
            w = __dadd_rn(w, __dmul_rn(e, e));
        }
        scale[s] = sqrt((double)(nu - 2) / w);
    }
}

__global__ void eps_kernel(uint64_t seed, uint64_t stream, size_t n, uint64_t first, const uint64_t *index,
                           size_t count, const double *scale, double *out) {
    size_t total = count * n, stride = (size_t)gridDim.x * blockDim.x;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < total; k += stride) {
        size_t s = k / n, j = k % n;
        uint64_t g = index ? index[s] : first + s;
        double e = qa_rng_normal(seed, stream, g * (uint64_t)n + j);
        out[k] = scale ? e * scale[s] : e;
    }
}

__global__ void add_rowvec_kernel(double *x, size_t rows, size_t n, const double *v) {
    size_t total = rows * n, stride = (size_t)gridDim.x * blockDim.x;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < total; k += stride) x[k] += v[k % n];
}

__global__ void fill_rows_kernel(double *c, size_t rows, size_t p, const double *v) {
    size_t total = rows * p, stride = (size_t)gridDim.x * blockDim.x;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < total; k += stride) c[k] = v[k % p];
}

// pnl[s] = sum_q c[s][q] in position order (the CPU's order: bitwise equal).
__global__ void row_sum_kernel(const double *c, size_t rows, size_t p, double *pnl) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t s = (size_t)blockIdx.x * blockDim.x + threadIdx.x; s < rows; s += stride) {
        double t = 0.0;
        for (size_t q = 0; q < p; q++) t = __dadd_rn(t, c[s * p + q]);
        pnl[s] = t;
    }
}

__global__ void option_base_kernel(const qa_risk_option *opt, size_t p, double *v0) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t q = (size_t)blockIdx.x * blockDim.x + threadIdx.x; q < p; q += stride) {
        const qa_risk_option *o = &opt[q];
        v0[q] = qa_risk_bs_(o->type, o->spot, o->strike, o->expiry, o->vol, o->rate, o->div_yield);
    }
}

__global__ void option_check_kernel(const qa_risk_option *opt, size_t p, size_t n, unsigned long long *bad) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t q = (size_t)blockIdx.x * blockDim.x + threadIdx.x; q < p; q += stride)
        if (!qa_risk_option_valid(&opt[q], n)) atomicMin(bad, (unsigned long long)q);
}

// One thread per scenario; options in order so the total is the CPU's row sum.
__global__ void option_pnl_kernel(const double *x, size_t b, size_t n, const qa_risk_option *opt, size_t p,
                                  double horizon, const double *v0, double *pnl_pos, double *pnl) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t s = (size_t)blockIdx.x * blockDim.x + threadIdx.x; s < b; s += stride) {
        const double *row = x + s * n;
        double tot = 0.0;
        for (size_t q = 0; q < p; q++) {
            double v = qa_risk_option_pnl_(&opt[q], row, horizon, v0[q]);
            if (pnl_pos) pnl_pos[s * p + q] = v;
            tot = __dadd_rn(tot, v);
        }
        if (pnl) pnl[s] = tot;
    }
}

__global__ void without_kernel(const double *pnl, const double *pnl_pos, size_t b, size_t p, size_t j, double *out) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t s = (size_t)blockIdx.x * blockDim.x + threadIdx.x; s < b; s += stride)
        out[s] = pnl[s] - pnl_pos[s * p + j];
}

// Revaluation features (risk.h): expm1(x) (full), x (delta), [x, x^2] (delta-gamma).
__global__ void reval_kernel(int mode, const double *x, size_t b, size_t n, double *out) {
    size_t total = b * n, stride = (size_t)gridDim.x * blockDim.x, w = mode == QA_RISK_REVAL_DELTA_GAMMA ? 2 * n : n;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < total; k += stride) {
        size_t s = k / n, j = k % n;
        double v = x[k];
        if (mode == QA_RISK_REVAL_FULL) {
            out[s * w + j] = expm1(v);
        } else {
            out[s * w + j] = v;
            if (mode == QA_RISK_REVAL_DELTA_GAMMA) out[s * w + n + j] = v * v;
        }
    }
}

// out[d][j] = r[d][j] + r[d+1][j] + ... + r[d+h-1][j], in that order (as the CPU).
__global__ void hist_kernel(const double *r, size_t rows, size_t n, size_t h, double *out) {
    size_t total = rows * n, stride = (size_t)gridDim.x * blockDim.x;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < total; k += stride) {
        size_t d = k / n, j = k % n;
        double o = r[d * n + j];
        for (size_t q = 1; q < h; q++) o = __dadd_rn(o, r[(d + q) * n + j]);
        out[k] = o;
    }
}

// FHS per factor (thread j), with the CPU's rounding: products rounded before the adds.
__global__ void fhs_kernel(const double *r, size_t t, size_t n, double lambda, double *out, double *sigma_now) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    const double oml = 1.0 - lambda;
    for (size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < n; j += stride) {
        double v = 0.0;
        for (size_t d = 0; d < t; d++) {
            double x = r[d * n + j];
            v = __dadd_rn(v, __dmul_rn(x, x));
        }
        v /= (double)t;
        double now = v;
        for (size_t d = 0; d < t; d++) {
            double x = r[d * n + j];
            now = __dadd_rn(__dmul_rn(lambda, now), __dmul_rn(oml, __dmul_rn(x, x)));
        }
        now = sqrt(now);
        for (size_t d = 0; d < t; d++) {
            double x = r[d * n + j], sd = sqrt(v);
            out[d * n + j] = sd > 0.0 ? __dmul_rn(x, now / sd) : 0.0;
            v = __dadd_rn(__dmul_rn(lambda, v), __dmul_rn(oml, __dmul_rn(x, x)));
        }
        if (sigma_now) sigma_now[j] = now;
    }
}

// Order-preserving key of a canonical loss: ascending keys <=> ascending doubles.
__host__ __device__ inline uint64_t loss_key(double loss) {
    uint64_t b;
    memcpy(&b, &loss, sizeof b);
    return (b >> 63) ? ~b : (b | 0x8000000000000000ull);
}
inline double key_loss(uint64_t k) {
    uint64_t b = (k >> 63) ? (k & 0x7fffffffffffffffull) : ~k;
    double x;
    memcpy(&x, &b, sizeof x);
    return x;
}

__global__ void tail_keys_kernel(const double *pnl, size_t n, uint64_t *keys, unsigned long long *nan_at) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t s = (size_t)blockIdx.x * blockDim.x + threadIdx.x; s < n; s += stride) {
        double v = pnl[s];
        if (isnan(v)) atomicMin(nan_at, (unsigned long long)s);
        keys[s] = loss_key(qa_risk_loss_of(v));
    }
}

// Histogram of digit (key >> shift) & 255 over the keys whose masked bits equal prefix.
__global__ void digit_hist_kernel(const uint64_t *keys, size_t n, uint64_t mask, uint64_t prefix, int shift,
                                  unsigned long long *hist) {
    __shared__ unsigned int local[256];
    for (int b = threadIdx.x; b < 256; b += blockDim.x) local[b] = 0;
    __syncthreads();
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t s = (size_t)blockIdx.x * blockDim.x + threadIdx.x; s < n; s += stride) {
        uint64_t k = keys[s];
        if ((k & mask) == prefix) atomicAdd(&local[(k >> shift) & 255u], 1u);
    }
    __syncthreads();
    for (int b = threadIdx.x; b < 256; b += blockDim.x)
        if (local[b]) atomicAdd(&hist[b], (unsigned long long)local[b]);
}

// Splits the block: masked key > prefix -> "greater" list, == prefix -> "boundary" list
// (unordered; the host sorts). counts[0], counts[1] are the list lengths.
__global__ void tail_collect_kernel(const uint64_t *keys, size_t n, uint64_t mask, uint64_t prefix,
                                    uint64_t *gt_key, uint64_t *gt_pos, uint64_t *eq_key, uint64_t *eq_pos,
                                    unsigned long long *counts) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t s = (size_t)blockIdx.x * blockDim.x + threadIdx.x; s < n; s += stride) {
        uint64_t k = keys[s], kp = k & mask;
        if (kp > prefix) {
            unsigned long long at = atomicAdd(&counts[0], 1ull);
            gt_key[at] = k;
            gt_pos[at] = s;
        } else if (kp == prefix) {
            unsigned long long at = atomicAdd(&counts[1], 1ull);
            eq_key[at] = k;
            eq_pos[at] = s;
        }
    }
}

__global__ void nonfinite_kernel(const double *x, size_t len, unsigned long long *pos) {
    size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t k = (size_t)blockIdx.x * blockDim.x + threadIdx.x; k < len; k += stride)
        if (!isfinite(x[k])) atomicMin(pos, (unsigned long long)k);
}

}  // namespace

// ---- context ---------------------------------------------------------------------------------

extern "C" qa_status qa_risk_handles_create_cuda(qa_risk_ctx_t *ctx) {
    qa_status st = QA_OK;
    cublasHandle_t h = nullptr;
    cusolverDnHandle_t sv = nullptr;
    cudaStream_t s = stream_of(ctx);
    QA_CUDA_TRY(cudaSetDevice(qa_backend_device(ctx->be)));
    QA_TRY(qa_cudalib_load(QA_CUDALIB_CUBLAS));
    QA_TRY(qa_cudalib_load(QA_CUDALIB_CUSOLVER));
    QA_CUBLAS_TRY(cublasCreate(&h));
    QA_CUBLAS_TRY(cublasSetStream(h, s));
    QA_CUBLAS_TRY(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST));
    QA_CUSOLVER_TRY(cusolverDnCreate(&sv));
    QA_CUSOLVER_TRY(cusolverDnSetStream(sv, s));
    ctx->cublas = h;
    ctx->cusolver = sv;
    return QA_OK;
cleanup:
    if (h) cublasDestroy(h);
    if (sv) cusolverDnDestroy(sv);
    return st;
}

extern "C" void qa_risk_handles_free_cuda(qa_risk_ctx_t *ctx) {
    if (ctx->cusolver) cusolverDnDestroy((cusolverDnHandle_t)ctx->cusolver);
    if (ctx->cublas) cublasDestroy((cublasHandle_t)ctx->cublas);
    ctx->cusolver = ctx->cublas = nullptr;
}

extern "C" qa_status qa_risk_find_nonfinite_cuda(qa_risk_ctx_t *ctx, const double *x, size_t len, uint64_t *pos) {
    qa_status st = QA_OK;
    cudaStream_t s = stream_of(ctx);
    unsigned long long *d = nullptr, h = ~0ull;
    QA_CUDA_TRY(cudaMallocAsync((void **)&d, sizeof *d, s));
    QA_CUDA_TRY(cudaMemsetAsync(d, 0xFF, sizeof *d, s));
    nonfinite_kernel<<<grid_for(len), kBlock, 0, s>>>(x, len, d);
    QA_CUDA_LAUNCH_TRY("finite check");
    QA_CUDA_TRY(cudaMemcpyAsync(&h, d, sizeof h, cudaMemcpyDeviceToHost, s));
    QA_CUDA_TRY(cudaStreamSynchronize(s));
    *pos = h == ~0ull ? UINT64_MAX : (uint64_t)h;
cleanup:
    if (d) cudaFreeAsync(d, s);
    return st;
}

// ---- covariance --------------------------------------------------------------------------------

extern "C" qa_status qa_risk_mean_cuda(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, double *mean) {
    mean_kernel<<<grid_for(n), kBlock, 0, stream_of(ctx)>>>(r, t, n, mean);
    QA_CUDA_LAUNCH_CHECK("risk mean");
    return QA_OK;
}

// x (t x n, caller's device scratch) = weighted, centred returns; returns alpha for DSYRK.
static qa_status centred(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, qa_risk_weighting wt, double lambda,
                         int demean, double *cvec, double *x, double *alpha) {
    cudaStream_t s = stream_of(ctx);
    int use_mean = wt != QA_RISK_W_EWMA || demean;
    if (use_mean) {
        mean_kernel<<<grid_for(n), kBlock, 0, s>>>(r, t, n, cvec);
        QA_CUDA_LAUNCH_CHECK("risk mean");
    }
    center_kernel<<<grid_for(t * n), kBlock, 0, s>>>(r, t, n, use_mean ? cvec : nullptr, wt == QA_RISK_W_EWMA, lambda,
                                                     x);
    QA_CUDA_LAUNCH_CHECK("risk centre");
    *alpha = wt == QA_RISK_W_EWMA ? 1.0 : wt == QA_RISK_W_SAMPLE ? 1.0 / (double)(t - 1) : 1.0 / (double)t;
    return QA_OK;
}

extern "C" qa_status qa_risk_gram_cuda(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n,
                                       qa_risk_weighting wt, double lambda, int demean, double *cov) {
    qa_status st = QA_OK;
    cudaStream_t s = stream_of(ctx);
    double *x = nullptr, *cvec = nullptr, alpha = 1.0, zero = 0.0;
    if ((st = need_int(t, "dates")) || (st = need_int(n, "factors"))) return st;
    QA_CUDA_TRY(cudaMallocAsync((void **)&x, t * n * sizeof(double), s));
    QA_CUDA_TRY(cudaMallocAsync((void **)&cvec, n * sizeof(double), s));
    QA_TRY(centred(ctx, r, t, n, wt, lambda, demean, cvec, x, &alpha));
    // Col-major view: x is n x t (ld n); C = x x' = X'X, col-major upper = row-major lower.
    QA_CUBLAS_TRY(cublasDsyrk(blas_of(ctx), CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, (int)n, (int)t, &alpha, x, (int)n,
                              &zero, cov, (int)n));
    mirror_kernel<<<grid_for(n * n), kBlock, 0, s>>>(cov, n);
    QA_CUDA_LAUNCH_TRY("risk mirror");
cleanup:
    if (x) cudaFreeAsync(x, s);
    if (cvec) cudaFreeAsync(cvec, s);
    return st;
}

extern "C" qa_status qa_risk_lw_cuda(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n,
                                     qa_risk_lw_target target, double *cov, double *delta) {
    qa_status st = QA_OK;
    cudaStream_t s = stream_of(ctx);
    cublasHandle_t h = blas_of(ctx);
    double *x = nullptr, *y = nullptr, *cvec = nullptr, *sm = nullptr, *g2 = nullptr, *g3 = nullptr, *dsums = nullptr;
    double alpha = 1.0, zero = 0.0, hs[8];
    qa_risk_lw_sums sums;
    double d = 0.0;
    if ((st = need_int(t, "dates")) || (st = need_int(n, "factors"))) return st;
    QA_CUDA_TRY(cudaMallocAsync((void **)&x, t * n * sizeof(double), s));
    QA_CUDA_TRY(cudaMallocAsync((void **)&y, t * n * sizeof(double), s));
    QA_CUDA_TRY(cudaMallocAsync((void **)&cvec, n * sizeof(double), s));
    QA_CUDA_TRY(cudaMallocAsync((void **)&sm, n * n * sizeof(double), s));
    QA_CUDA_TRY(cudaMallocAsync((void **)&g2, n * n * sizeof(double), s));
    QA_CUDA_TRY(cudaMallocAsync((void **)&g3, n * n * sizeof(double), s));
    QA_CUDA_TRY(cudaMallocAsync((void **)&dsums, 8 * sizeof(double), s));
    QA_TRY(centred(ctx, r, t, n, QA_RISK_W_PLAIN, 0.0, 1, cvec, x, &alpha)); // alpha = 1/T
    QA_CUBLAS_TRY(cublasDsyrk(h, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, (int)n, (int)t, &alpha, x, (int)n, &zero, sm,
                              (int)n));
    mirror_kernel<<<grid_for(n * n), kBlock, 0, s>>>(sm, n);
    QA_CUDA_LAUNCH_TRY("risk mirror");
    pow_kernel<<<grid_for(t * n), kBlock, 0, s>>>(x, t * n, 2, y);
    QA_CUDA_LAUNCH_TRY("risk square");
    QA_CUBLAS_TRY(cublasDsyrk(h, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, (int)n, (int)t, &alpha, y, (int)n, &zero, g2,
                              (int)n));
    mirror_kernel<<<grid_for(n * n), kBlock, 0, s>>>(g2, n);
    QA_CUDA_LAUNCH_TRY("risk mirror");
    pow_kernel<<<grid_for(t * n), kBlock, 0, s>>>(x, t * n, 3, y);
    QA_CUDA_LAUNCH_TRY("risk cube");
    // g3 col-major (i, j) = (1/T) sum_t x_ti^3 x_tj: A = cubes (n x t), B = x (n x t), C = A B'.
    QA_CUBLAS_TRY(cublasDgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, (int)n, (int)n, (int)t, &alpha, y, (int)n, x, (int)n, &zero,
                              g3, (int)n));
    lw_sums1_kernel<<<1, kBlock, 0, s>>>(sm, n, dsums);
    QA_CUDA_LAUNCH_TRY("Ledoit-Wolf sums");
    lw_sums2_kernel<<<1, kBlock, 0, s>>>(sm, g2, g3, n, dsums);
    QA_CUDA_LAUNCH_TRY("Ledoit-Wolf sums");
    QA_CUDA_TRY(cudaMemcpyAsync(hs, dsums, sizeof hs, cudaMemcpyDeviceToHost, s));
    QA_CUDA_TRY(cudaStreamSynchronize(s));
    sums.rbar = n > 1 ? 2.0 * hs[0] / ((double)n * (double)(n - 1)) : 0.0;
    sums.trace = hs[1];
    sums.min_var = hs[2];
    sums.pi = hs[3];
    sums.pi_diag = hs[4];
    sums.rho_off = hs[5];
    sums.gamma = hs[6];
    sums.d2 = hs[7];
    if (target == QA_RISK_LW_CONSTANT_CORRELATION && !(sums.min_var > 0.0))
        QA_TRY_FAIL(QA_ERR_NUMERIC, "Ledoit-Wolf constant-correlation target needs every variance > 0 (smallest is %g)",
                    sums.min_var);
    d = qa_risk_lw_intensity(&sums, t, n, target);
    lw_combine_kernel<<<grid_for(n * n), kBlock, 0, s>>>(sm, n, sums.rbar, sums.trace / (double)n, d,
                                                         target == QA_RISK_LW_SCALED_IDENTITY, cov);
    QA_CUDA_LAUNCH_TRY("Ledoit-Wolf combine");
    *delta = d;
cleanup:
    qa_cuda_free_all(s, x, y, cvec, sm, g2, g3, dsums);
    return st;
}

extern "C" qa_status qa_risk_scale_cuda(qa_risk_ctx_t *ctx, double *x, size_t len, double a) {
    scale_kernel<<<grid_for(len), kBlock, 0, stream_of(ctx)>>>(x, len, a);
    QA_CUDA_LAUNCH_CHECK("risk scale");
    return QA_OK;
}

// ---- Cholesky ------------------------------------------------------------------------------------

extern "C" qa_status qa_risk_cholesky_cuda(qa_risk_ctx_t *ctx, const double *cov, size_t n, double jitter_rel,
                                           double *l, size_t *minor) {
    qa_status st = QA_OK;
    cudaStream_t s = stream_of(ctx);
    cusolverDnHandle_t sv = (cusolverDnHandle_t)ctx->cusolver;
    double *a = nullptr, *work = nullptr, *diag = nullptr, add = 0.0;
    int *info_d = nullptr, info = 0, lwork = 0;
    unsigned long long *bad_d = nullptr, bad = 0;
    *minor = 0;
    if ((st = need_int(n, "matrix order"))) return st;
    if (jitter_rel > 0.0) {
        // The mean variance on the host, summed in the CPU's order (same jitter, bitwise).
        diag = (double *)malloc(n * sizeof(double));
        if (!diag) return QA_FAIL(QA_ERR_NOMEM, "Cholesky: %zu diagonal entries", n);
        QA_CUDA_TRY(cudaMemcpy2DAsync(diag, sizeof(double), cov, (n + 1) * sizeof(double), sizeof(double), n,
                                      cudaMemcpyDeviceToHost, s));
        QA_CUDA_TRY(cudaStreamSynchronize(s));
        double md = 0.0;
        for (size_t i = 0; i < n; i++) md += diag[i];
        md /= (double)n;
        if (!(md > 0.0) || !isfinite(md)) {
            *minor = 1;
            goto cleanup;
        }
        add = jitter_rel * md;
    }
    QA_CUDA_TRY(cudaMallocAsync((void **)&a, n * n * sizeof(double), s));
    QA_CUDA_TRY(cudaMallocAsync((void **)&bad_d, sizeof *bad_d, s));
    QA_CUDA_TRY(cudaMallocAsync((void **)&info_d, sizeof *info_d, s));
    QA_CUDA_TRY(cudaMemsetAsync(bad_d, 0xFF, sizeof *bad_d, s));
    chol_prep_kernel<<<grid_for(n * n), kBlock, 0, s>>>(cov, n, add, a, bad_d);
    QA_CUDA_LAUNCH_TRY("Cholesky prepare");
    QA_CUDA_TRY(cudaMemcpyAsync(&bad, bad_d, sizeof bad, cudaMemcpyDeviceToHost, s));
    QA_CUDA_TRY(cudaStreamSynchronize(s));
    if (bad != ~0ull) {
        *minor = (size_t)bad;
        goto cleanup;
    }
    // Row-major lower L = col-major upper U = L': factor the col-major upper triangle.
    QA_CUSOLVER_TRY(cusolverDnDpotrf_bufferSize(sv, CUBLAS_FILL_MODE_UPPER, (int)n, a, (int)n, &lwork));
    QA_CUDA_TRY(cudaMallocAsync((void **)&work, (size_t)(lwork > 0 ? lwork : 1) * sizeof(double), s));
    QA_CUSOLVER_TRY(cusolverDnDpotrf(sv, CUBLAS_FILL_MODE_UPPER, (int)n, a, (int)n, work, lwork, info_d));
    QA_CUDA_TRY(cudaMemcpyAsync(&info, info_d, sizeof info, cudaMemcpyDeviceToHost, s));
    QA_CUDA_TRY(cudaStreamSynchronize(s));
    if (info < 0) QA_TRY_FAIL(QA_ERR_CUDA, "cusolverDnDpotrf: parameter %d is invalid", -info);
    if (info > 0) {
        *minor = (size_t)info;
        goto cleanup;
    }
    QA_CUDA_TRY(cudaMemcpyAsync(l, a, n * n * sizeof(double), cudaMemcpyDeviceToDevice, s));
cleanup:
    free(diag);
    qa_cuda_free_all(s, a, work, bad_d, info_d);
    return st;
}

// ---- scenarios -------------------------------------------------------------------------------------

extern "C" qa_status qa_risk_scenarios_cuda(qa_risk_ctx_t *ctx, const qa_risk_mc *mc, const double *l,
                                            const double *mean, size_t n, uint64_t first, const uint64_t *index,
                                            size_t count, double *shocks) {
    qa_status st = QA_OK;
    cudaStream_t s = stream_of(ctx);
    uint64_t *idx_d = nullptr;
    double *scale = nullptr, one = 1.0;
    if ((st = need_int(n, "factors")) || (st = need_int(count, "scenarios per block"))) return st;
    if (index) {
        QA_CUDA_TRY(cudaMallocAsync((void **)&idx_d, count * sizeof *idx_d, s));
        QA_CUDA_TRY(cudaMemcpyAsync(idx_d, index, count * sizeof *idx_d, cudaMemcpyHostToDevice, s));
        QA_CUDA_TRY(cudaStreamSynchronize(s)); // the host list may go away after we return
    }
    if (mc->dist == QA_RISK_DIST_STUDENT_T) {
        QA_CUDA_TRY(cudaMallocAsync((void **)&scale, count * sizeof *scale, s));
        t_scale_kernel<<<grid_for(count), kBlock, 0, s>>>(mc->seed, mc->stream, mc->nu, first, idx_d, count, scale);
        QA_CUDA_LAUNCH_TRY("Student-t scale");
    }
    eps_kernel<<<grid_for(count * n), kBlock, 0, s>>>(mc->seed, mc->stream, n, first, idx_d, count, scale, shocks);
    QA_CUDA_LAUNCH_TRY("scenario normals");
    if (l) {
        // Col-major: shocks is n x count (E'), l is L' (upper); op = T gives L: Z' = L E', in place.
        QA_CUBLAS_TRY(cublasDtrmm(blas_of(ctx), CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_T,
                                  CUBLAS_DIAG_NON_UNIT, (int)n, (int)count, &one, l, (int)n, shocks, (int)n, shocks,
                                  (int)n));
    }
    if (mean) {
        add_rowvec_kernel<<<grid_for(count * n), kBlock, 0, s>>>(shocks, count, n, mean);
        QA_CUDA_LAUNCH_TRY("scenario mean");
    }
cleanup:
    if (idx_d) cudaFreeAsync(idx_d, s);
    if (scale) cudaFreeAsync(scale, s);
    return st;
}

// ---- revaluation -----------------------------------------------------------------------------------

extern "C" qa_status qa_risk_pnl_linear_cuda(qa_risk_ctx_t *ctx, const double *x, size_t b, size_t n, const double *w,
                                             double *pnl) {
    qa_status st = QA_OK;
    double one = 1.0, zero = 0.0;
    if ((st = need_int(n, "factors")) || (st = need_int(b, "scenarios per block"))) return st;
    // Col-major: x is n x b; y = x' w.
    QA_CUBLAS_TRY(cublasDgemv(blas_of(ctx), CUBLAS_OP_T, (int)n, (int)b, &one, x, (int)n, w, 1, &zero, pnl, 1));
cleanup:
    return st;
}

extern "C" qa_status qa_risk_pnl_linear_pos_cuda(qa_risk_ctx_t *ctx, const double *x, size_t b, size_t n,
                                                 const double *e, size_t p, const double *offset, double *pnl_pos,
                                                 double *pnl) {
    qa_status st = QA_OK;
    cudaStream_t s = stream_of(ctx);
    double *tmp = nullptr, one = 1.0, beta = offset ? 1.0 : 0.0;
    size_t chunk = b;
    if ((st = need_int(n, "factors")) || (st = need_int(p, "positions")) || (st = need_int(b, "scenarios per block")))
        return st;
    if (!pnl_pos) { // totals only: bounded scratch of <= 2^24 values
        chunk = ((size_t)1 << 24) / p;
        if (chunk < 1) chunk = 1;
        if (chunk > b) chunk = b;
        QA_CUDA_TRY(cudaMallocAsync((void **)&tmp, chunk * p * sizeof(double), s));
    }
    for (size_t s0 = 0; s0 < b; s0 += chunk) {
        size_t rows = b - s0 < chunk ? b - s0 : chunk;
        double *c = pnl_pos ? pnl_pos + s0 * p : tmp;
        if (offset) {
            fill_rows_kernel<<<grid_for(rows * p), kBlock, 0, s>>>(c, rows, p, offset);
            QA_CUDA_LAUNCH_TRY("offsets");
        }
        // Col-major: C' (p x rows) = E' (p x n) X' (n x rows).
        QA_CUBLAS_TRY(cublasDgemm(blas_of(ctx), CUBLAS_OP_N, CUBLAS_OP_N, (int)p, (int)rows, (int)n, &one, e, (int)p,
                                  x + s0 * n, (int)n, &beta, c, (int)p));
        if (pnl) {
            row_sum_kernel<<<grid_for(rows), kBlock, 0, s>>>(c, rows, p, pnl + s0);
            QA_CUDA_LAUNCH_TRY("row sums");
        }
    }
cleanup:
    if (tmp) cudaFreeAsync(tmp, s);
    return st;
}

extern "C" qa_status qa_risk_factor_loadings_cuda(qa_risk_ctx_t *ctx, const double *l, size_t n, const double *e,
                                                  size_t p, double *m) {
    qa_status st = QA_OK;
    double one = 1.0;
    if ((st = need_int(n, "factors")) || (st = need_int(p, "positions"))) return st;
    // Col-major: e is E' (p x n), l is L' (upper); C = E' op(L') = E' L = (L' E)' = M'.
    QA_CUBLAS_TRY(cublasDtrmm(blas_of(ctx), CUBLAS_SIDE_RIGHT, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_T,
                              CUBLAS_DIAG_NON_UNIT, (int)p, (int)n, &one, l, (int)n, e, (int)p, m, (int)p));
cleanup:
    return st;
}

extern "C" qa_status qa_risk_options_check_cuda(qa_risk_ctx_t *ctx, const qa_risk_option *opt, size_t p, size_t n,
                                                uint64_t *bad) {
    qa_status st = QA_OK;
    cudaStream_t s = stream_of(ctx);
    unsigned long long *bad_d = nullptr, hb = ~0ull;
    QA_CUDA_TRY(cudaMallocAsync((void **)&bad_d, sizeof *bad_d, s));
    QA_CUDA_TRY(cudaMemsetAsync(bad_d, 0xFF, sizeof *bad_d, s));
    option_check_kernel<<<grid_for(p), kBlock, 0, s>>>(opt, p, n, bad_d);
    QA_CUDA_LAUNCH_TRY("option check");
    QA_CUDA_TRY(cudaMemcpyAsync(&hb, bad_d, sizeof hb, cudaMemcpyDeviceToHost, s));
    QA_CUDA_TRY(cudaStreamSynchronize(s));
    *bad = hb == ~0ull ? UINT64_MAX : (uint64_t)hb;
cleanup:
    if (bad_d) cudaFreeAsync(bad_d, s);
    return st;
}

extern "C" qa_status qa_risk_pnl_options_cuda(qa_risk_ctx_t *ctx, const double *x, size_t b, size_t n,
                                              const qa_risk_option *opt, size_t p, double horizon, double *pnl_pos,
                                              double *pnl) {
    qa_status st = QA_OK;
    cudaStream_t s = stream_of(ctx);
    double *v0 = nullptr;
    QA_CUDA_TRY(cudaMallocAsync((void **)&v0, p * sizeof *v0, s));
    option_base_kernel<<<grid_for(p), kBlock, 0, s>>>(opt, p, v0);
    QA_CUDA_LAUNCH_TRY("option base values");
    option_pnl_kernel<<<grid_for(b), kBlock, 0, s>>>(x, b, n, opt, p, horizon, v0, pnl_pos, pnl);
    QA_CUDA_LAUNCH_TRY("option revaluation");
cleanup:
    if (v0) cudaFreeAsync(v0, s);
    return st;
}

extern "C" qa_status qa_risk_pnl_without_cuda(qa_risk_ctx_t *ctx, const double *pnl, const double *pnl_pos, size_t b,
                                              size_t p, size_t j, double *out) {
    without_kernel<<<grid_for(b), kBlock, 0, stream_of(ctx)>>>(pnl, pnl_pos, b, p, j, out);
    QA_CUDA_LAUNCH_CHECK("P&L without a position");
    return QA_OK;
}

extern "C" qa_status qa_risk_reval_features_cuda(qa_risk_ctx_t *ctx, qa_risk_reval mode, const double *x, size_t b,
                                                 size_t n, double *out) {
    reval_kernel<<<grid_for(b * n), kBlock, 0, stream_of(ctx)>>>((int)mode, x, b, n, out);
    QA_CUDA_LAUNCH_CHECK("revaluation features");
    return QA_OK;
}

// ---- historical ---------------------------------------------------------------------------------------

extern "C" qa_status qa_risk_hist_horizon_cuda(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, size_t h,
                                               double *out) {
    size_t rows = t - h + 1;
    hist_kernel<<<grid_for(rows * n), kBlock, 0, stream_of(ctx)>>>(r, rows, n, h, out);
    QA_CUDA_LAUNCH_CHECK("historical horizon");
    return QA_OK;
}

extern "C" qa_status qa_risk_fhs_cuda(qa_risk_ctx_t *ctx, const double *r, size_t t, size_t n, double lambda,
                                      double *out, double *sigma_now) {
    fhs_kernel<<<grid_for(n), kBlock, 0, stream_of(ctx)>>>(r, t, n, lambda, out, sigma_now);
    QA_CUDA_LAUNCH_CHECK("FHS");
    return QA_OK;
}

// ---- tails ---------------------------------------------------------------------------------------------

// Exact top m (canonical order) of a block. Radix select finds the digits of the
// m-th largest key from the top (stopping early when a digit's bucket is exactly what is
// still needed); the keys above it and its boundary bucket come back to the host, which
// sorts them canonically and keeps the first m: the same set and order as the CPU.
extern "C" qa_status qa_risk_tail_top_cuda(qa_risk_ctx_t *ctx, const double *pnl, size_t n, uint64_t first, size_t m,
                                           qa_risk_tail_item *top, uint64_t *nan_at) {
    qa_status st = QA_OK;
    cudaStream_t s = stream_of(ctx);
    uint64_t *keys = nullptr, *gt = nullptr, *eq = nullptr, *hbuf = nullptr;
    unsigned long long *dcnt = nullptr, hist[256], hn = ~0ull, counts[2] = {0, 0};
    qa_risk_tail_item *items = nullptr;
    uint64_t mask = 0, prefix = 0;
    size_t remaining = m, total = 0;
    *nan_at = UINT64_MAX;
    QA_CUDA_TRY(cudaMallocAsync((void **)&keys, n * sizeof(uint64_t), s));
    QA_CUDA_TRY(cudaMallocAsync((void **)&dcnt, 258 * sizeof(unsigned long long), s)); // hist + 2 counts
    QA_CUDA_TRY(cudaMemsetAsync(dcnt, 0xFF, sizeof(unsigned long long), s));
    tail_keys_kernel<<<grid_for(n), kBlock, 0, s>>>(pnl, n, keys, dcnt);
    QA_CUDA_LAUNCH_TRY("tail keys");
    QA_CUDA_TRY(cudaMemcpyAsync(&hn, dcnt, sizeof hn, cudaMemcpyDeviceToHost, s));
    QA_CUDA_TRY(cudaStreamSynchronize(s));
    if (hn != ~0ull) {
        *nan_at = first + (uint64_t)hn;
        goto cleanup;
    }
    for (int shift = 56; shift >= 0; shift -= 8) {
        QA_CUDA_TRY(cudaMemsetAsync(dcnt, 0, 256 * sizeof(unsigned long long), s));
        digit_hist_kernel<<<grid_for(n), kBlock, 0, s>>>(keys, n, mask, prefix, shift, dcnt);
        QA_CUDA_LAUNCH_TRY("tail digit histogram");
        QA_CUDA_TRY(cudaMemcpyAsync(hist, dcnt, sizeof hist, cudaMemcpyDeviceToHost, s));
        QA_CUDA_TRY(cudaStreamSynchronize(s));
        int digit = 255;
        for (; digit > 0 && hist[digit] < remaining; digit--) remaining -= (size_t)hist[digit];
        mask |= (uint64_t)0xFF << shift;
        prefix |= (uint64_t)digit << shift;
        if (hist[digit] == remaining) break; /* the whole bucket is in the tail */
    }
    QA_CUDA_TRY(cudaMallocAsync((void **)&gt, 2 * m * sizeof(uint64_t), s));
    QA_CUDA_TRY(cudaMallocAsync((void **)&eq, 2 * n * sizeof(uint64_t), s));
    QA_CUDA_TRY(cudaMemsetAsync(dcnt + 256, 0, 2 * sizeof(unsigned long long), s));
    tail_collect_kernel<<<grid_for(n), kBlock, 0, s>>>(keys, n, mask, prefix, gt, gt + m, eq, eq + n, dcnt + 256);
    QA_CUDA_LAUNCH_TRY("tail collect");
    QA_CUDA_TRY(cudaMemcpyAsync(counts, dcnt + 256, sizeof counts, cudaMemcpyDeviceToHost, s));
    QA_CUDA_TRY(cudaStreamSynchronize(s));
    total = (size_t)(counts[0] + counts[1]);
    if (counts[0] + remaining != m || counts[1] < remaining)
        QA_TRY_FAIL(QA_ERR_STATE, "tail selection: inconsistent radix select (%llu above, %llu at the boundary, %zu needed)",
                    counts[0], counts[1], m);
    hbuf = (uint64_t *)malloc(2 * total * sizeof(uint64_t));
    items = (qa_risk_tail_item *)malloc(total * sizeof *items);
    if (!hbuf || !items) QA_TRY_FAIL(QA_ERR_NOMEM, "tail selection: %zu host entries", total);
    QA_CUDA_TRY(cudaMemcpyAsync(hbuf, gt, counts[0] * sizeof(uint64_t), cudaMemcpyDeviceToHost, s));
    QA_CUDA_TRY(cudaMemcpyAsync(hbuf + counts[0], eq, counts[1] * sizeof(uint64_t), cudaMemcpyDeviceToHost, s));
    QA_CUDA_TRY(cudaMemcpyAsync(hbuf + total, gt + m, counts[0] * sizeof(uint64_t), cudaMemcpyDeviceToHost, s));
    QA_CUDA_TRY(cudaMemcpyAsync(hbuf + total + counts[0], eq + n, counts[1] * sizeof(uint64_t), cudaMemcpyDeviceToHost, s));
    QA_CUDA_TRY(cudaStreamSynchronize(s));
    for (size_t i = 0; i < total; i++) {
        items[i].loss = key_loss(hbuf[i]);
        items[i].index = first + hbuf[total + i];
    }
    qa_risk_tail_sort(items, total);
    memcpy(top, items, m * sizeof *items);
cleanup:
    free(hbuf);
    free(items);
    qa_cuda_free_all(s, keys, dcnt, gt, eq);
    return st;
}
