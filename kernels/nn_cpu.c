/* CPU implementations of the nn layers: the optimised path (OpenBLAS sgemm, vectorisable
 * activation math, OpenMP over rows), or, with `ref` set, the reference building blocks
 * of nn_ref.c (the oracle) in the same loops. Reductions sum in double in an order fixed by the shapes alone, so the
 * optimised path gives the same bias gradients, losses and norms for any thread count.
 * Formulas: docs/nn.md. */
#include "kernels/nn_impl.h"

#include <math.h>    /* sqrt, log, exp */
#include <string.h>  /* memcpy, memset */

#include "common/philox.h"  /* dropout mask: qa_rng_block, qa_rng_u01f_from_word */

#ifdef QA_HAVE_OPENBLAS
#include <cblas.h>  /* cblas_sgemm, openblas_set_num_threads */
#endif

/* Elementwise loops below this many elements stay on one thread (fork/join costs more). */
#define PAR_MIN 32768

/* ---- GEMM -------------------------------------------------------------------------------- */

#ifdef QA_HAVE_OPENBLAS
/* All CPU parallelism in the nn layers goes through OpenMP; OpenBLAS runs single-threaded
 * inside our parallel blocks. Mixing OpenBLAS's own pthread pool (whose workers spin
 * after each call) with OpenMP regions oversubscribes the cores and halves throughput.
 * OpenBLAS keeps one process-wide thread count, so this sets it to 1 once. */
static void blas_single_thread(void) {
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

/* Splits C into `parts` blocks of rows (m >= n) or columns, one cblas_sgemm each. */
static void gemm_blas(int threads, int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a,
                      int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    const CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
    blas_single_thread();
    /* below ~2 MFLOP a fork/join costs more than it saves */
    int parts = (threads > 1 && 2.0 * m * n * k >= 2e6) ? threads : 1;
    int split_rows = m >= n, extent = split_rows ? m : n;
    if (parts > extent / 8) parts = extent / 8 > 1 ? extent / 8 : 1;
    if (parts == 1) {
        cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
#pragma omp parallel for num_threads(parts) schedule(static, 1)
    for (int p = 0; p < parts; p++) {
        /* block boundaries on multiples of 8 rows/columns */
        int lo = (int)(((long long)extent * p / parts) & ~7LL), hi = p == parts - 1 ? extent : (int)(((long long)extent * (p + 1) / parts) & ~7LL);
        if (hi <= lo) continue;
        if (split_rows) /* rows i of op(A): A row i, or A column i when transposed */
            cblas_sgemm(CblasRowMajor, ta, tb, hi - lo, n, k, alpha, trans_a ? a + lo : a + (size_t)lo * lda, lda, b,
                        ldb, beta, c + (size_t)lo * ldc, ldc);
        else /* columns j of op(B): B column j, or B row j when transposed */
            cblas_sgemm(CblasRowMajor, ta, tb, m, hi - lo, k, alpha, a, lda, trans_b ? b + (size_t)lo * ldb : b + lo,
                        ldb, beta, c + lo, ldc);
    }
}
#endif

void qa_nn_cpu_gemm(int ref, int threads, int trans_a, int trans_b, int m, int n, int k, float alpha,
                    const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    if (m == 0 || n == 0) return;
#ifdef QA_HAVE_OPENBLAS
    if (!ref) {
        if (k == 0) { /* BLAS would accept it, but keep beta == 0 NaN-safe explicitly */
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                    c[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[(size_t)i * ldc + j];
            return;
        }
        gemm_blas(threads, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
#endif
    (void)ref, (void)threads;
    qa_nn_ref_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* ---- column sums (bias gradients) ------------------------------------------------------------ */

/* Columns in blocks of COL_BLOCK, each block summed over all rows in row order with
 * double accumulators: every column's sum is the same sequence of additions whatever
 * the blocking or thread count, so the result equals the reference bit for bit. */
#define COL_BLOCK 256

QA_NN_SIMD_BODY void colsum_block_body(int rows, int cols, int c0, int nc, const float *x, double *acc) {
    for (int j = 0; j < nc; j++) acc[j] = 0.0;
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * cols + c0;
#pragma omp simd
        for (int j = 0; j < nc; j++) acc[j] += xr[j];
    }
}
QA_NN_SIMD_DISPATCH(colsum_block, (int rows, int cols, int c0, int nc, const float *x, double *acc), (rows, cols, c0, nc, x, acc))

void qa_nn_cpu_colsum(int ref, int threads, int rows, int cols, const float *x, float *out,
                      int accumulate) {
    if (ref) threads = 1;
    int nblocks = (cols + COL_BLOCK - 1) / COL_BLOCK;
    (void)threads;
#pragma omp parallel for num_threads(threads) if (threads > 1 && (size_t)rows * cols >= PAR_MIN && nblocks > 1)
    for (int blk = 0; blk < nblocks; blk++) {
        double acc[COL_BLOCK];
        int c0 = blk * COL_BLOCK, nc = cols - c0 < COL_BLOCK ? cols - c0 : COL_BLOCK;
        colsum_block(rows, cols, c0, nc, x, acc);
        for (int j = 0; j < nc; j++) out[c0 + j] = (float)(accumulate ? out[c0 + j] + acc[j] : acc[j]);
    }
}

void qa_nn_cpu_broadcast_rows(int threads, int rows, int cols, const float *b, float *y) {
    (void)threads;
#pragma omp parallel for num_threads(threads) if (threads > 1 && (size_t)rows * cols >= PAR_MIN)
    for (int r = 0; r < rows; r++) memcpy(y + (size_t)r * cols, b, (size_t)cols * sizeof *y);
}

/* ---- fused bias + activation + dropout ---------------------------------------------------- */

/* Scales row `r` by the dropout mask: kept elements times 1/(1-p), dropped ones 0.
 * Element index = r*cols + c; one Philox block serves four consecutive indices. */
static void dropout_row(const qa_nn_dropout *d, int r, int cols, float *v) {
    const float scale = 1.0f / (1.0f - d->p);
    uint64_t base = (uint64_t)r * (uint64_t)cols, blk = UINT64_MAX;
    qa_philox_block pb = {{0, 0, 0, 0}};
    for (int c = 0; c < cols; c++) {
        uint64_t i = base + (uint64_t)c;
        if ((i >> 2) != blk) {
            blk = i >> 2;
            pb = qa_rng_block(d->seed, d->step, blk);
        }
        int kept = qa_rng_u01f_from_word(pb.v[i & 3]) >= d->p;
        v[c] = kept ? v[c] * scale : 0.0f;
    }
}

static int dropout_on(const qa_nn_dropout *d) { return d && d->p > 0.0f; }

QA_NN_SIMD_BODY void bias_act_row_fast_body(qa_nn_act act, int cols, const float *x, const float *bias, float *y) {
    if (bias) {
#pragma omp simd
        for (int c = 0; c < cols; c++) y[c] = x[c] + bias[c];
    } else if (y != x) {
        memcpy(y, x, (size_t)cols * sizeof *y);
    }
    /* The check cannot see into '#pragma omp simd' loops, so the two different branches look alike. */
    if (act == QA_NN_ACT_RELU) { /* NOLINT(bugprone-branch-clone) */
#pragma omp simd
        for (int c = 0; c < cols; c++) y[c] = y[c] < 0.0f ? 0.0f : y[c];
    } else if (act == QA_NN_ACT_GELU) {
#pragma omp simd
        for (int c = 0; c < cols; c++) y[c] = qa_nn_gelu_fast(y[c]);
    }
}
QA_NN_SIMD_DISPATCH(bias_act_row_fast, (qa_nn_act act, int cols, const float *x, const float *bias, float *y), (act, cols, x, bias, y))

static void bias_act_rows(int ref, qa_nn_act act, int r0, int r1, int cols, const float *x, const float *bias,
                          const qa_nn_dropout *drop, float *y) {
    for (int r = r0; r < r1; r++) {
        const float *xr = x + (size_t)r * cols;
        float *yr = y + (size_t)r * cols;
        if (ref) qa_nn_ref_bias_act_row(act, cols, xr, bias, yr);
        else bias_act_row_fast(act, cols, xr, bias, yr);
        if (dropout_on(drop)) dropout_row(drop, r, cols, yr);
    }
}

void qa_nn_cpu_bias_act_forward(int ref, int threads, qa_nn_act act, int rows, int cols,
                                const float *x, const float *bias, const qa_nn_dropout *drop,
                                float *y) {
    if (ref || threads <= 1 || (size_t)rows * cols < PAR_MIN) { /* no OpenMP call at all: the
                                                                  * inference path is latency-bound */
        bias_act_rows(ref, act, 0, rows, cols, x, bias, drop, y);
        return;
    }
#pragma omp parallel for num_threads(threads)
    for (int r = 0; r < rows; r++) bias_act_rows(0, act, r, r + 1, cols, x, bias, drop, y);
}

/* Chunks of CHUNK columns: h = x + b goes to a stack buffer first, so the derivative loop
 * has no conditional loads and dx may alias dy. */
#define CHUNK 256

QA_NN_SIMD_BODY void bias_act_grad_row_fast_body(qa_nn_act act, int cols, const float *x, const float *bias,
                                   const float *dy, float *dx) {
    float h[CHUNK];
    for (int c0 = 0; c0 < cols; c0 += CHUNK) {
        const int nc = cols - c0 < CHUNK ? cols - c0 : CHUNK;
        const float *xc = x + c0, *dyc = dy + c0;
        float *dxc = dx + c0;
        if (bias) {
            const float *bc = bias + c0;
#pragma omp simd
            for (int c = 0; c < nc; c++) h[c] = xc[c] + bc[c];
        } else {
            memcpy(h, xc, (size_t)nc * sizeof *h);
        }
        if (act == QA_NN_ACT_RELU) {
#pragma omp simd
            for (int c = 0; c < nc; c++) dxc[c] = h[c] > 0.0f ? dyc[c] : 0.0f;
        } else if (act == QA_NN_ACT_GELU) {
#pragma omp simd
            for (int c = 0; c < nc; c++) dxc[c] = dyc[c] * qa_nn_gelu_grad_fast(h[c]);
        } else if (dxc != dyc) {
            memcpy(dxc, dyc, (size_t)nc * sizeof *dxc);
        }
    }
}
QA_NN_SIMD_DISPATCH(bias_act_grad_row_fast, (qa_nn_act act, int cols, const float *x, const float *bias, const float *dy, float *dx), (act, cols, x, bias, dy, dx))

void qa_nn_cpu_bias_act_backward(int ref, int threads, qa_nn_act act, int rows, int cols,
                                 const float *x, const float *bias, const qa_nn_dropout *drop,
                                 const float *dy, float *dx) {
    if (ref) threads = 1;
    (void)threads;
#pragma omp parallel for num_threads(threads) if (threads > 1 && (size_t)rows * cols >= PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * cols, *dyr = dy + (size_t)r * cols;
        float *dxr = dx + (size_t)r * cols;
        if (ref) qa_nn_ref_bias_act_grad_row(act, cols, xr, bias, dyr, dxr);
        else bias_act_grad_row_fast(act, cols, xr, bias, dyr, dxr);
        /* d/dh of dropout(a) = mask * scale * a'(h): the same row scaling as forward */
        if (dropout_on(drop)) dropout_row(drop, r, cols, dxr);
    }
}

/* ---- LayerNorm ------------------------------------------------------------------------------ */

/* Row statistics in double (two passes), so mean/rstd are correctly rounded floats of
 * nearly exact values; the reference and the optimised path share this code (rows are
 * independent, so threading cannot change results). */
void qa_nn_cpu_layernorm_forward(int ref, int threads, int rows, int cols, float eps,
                                 const float *x, const float *gamma, const float *beta, float *y,
                                 float *mean, float *rstd) {
    if (ref) threads = 1;
    (void)threads;
#pragma omp parallel for num_threads(threads) if (threads > 1 && (size_t)rows * cols >= PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * cols;
        float *yr = y + (size_t)r * cols;
        double s = 0.0;
        for (int c = 0; c < cols; c++) s += xr[c];
        double mu = s / cols, ss = 0.0;
        for (int c = 0; c < cols; c++) ss += ((double)xr[c] - mu) * ((double)xr[c] - mu);
        double rs = 1.0 / sqrt(ss / cols + (double)eps);
        float muf = (float)mu, rsf = (float)rs;
        for (int c = 0; c < cols; c++) yr[c] = (xr[c] - muf) * rsf * gamma[c] + beta[c];
        mean[r] = muf;
        rstd[r] = rsf;
    }
}

void qa_nn_cpu_layernorm_backward(int ref, int threads, int rows, int cols, const float *x,
                                  const float *gamma, const float *mean, const float *rstd,
                                  const float *dy, float *dx, float *dgamma, float *dbeta,
                                  int accumulate) {
    if (ref) threads = 1;
    (void)threads;
    /* dx: rows are independent. */
#pragma omp parallel for num_threads(threads) if (threads > 1 && (size_t)rows * cols >= PAR_MIN)
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * cols, *dyr = dy + (size_t)r * cols;
        float *dxr = dx + (size_t)r * cols;
        float mu = mean[r], rs = rstd[r];
        double m1 = 0.0, m2 = 0.0;
        for (int c = 0; c < cols; c++) {
            float xhat = (xr[c] - mu) * rs, g = dyr[c] * gamma[c];
            m1 += g;
            m2 += (double)g * xhat;
        }
        float m1f = (float)(m1 / cols), m2f = (float)(m2 / cols);
        for (int c = 0; c < cols; c++) {
            float xhat = (xr[c] - mu) * rs, g = dyr[c] * gamma[c];
            dxr[c] = rs * (g - m1f - xhat * m2f);
        }
    }
    if (!dgamma && !dbeta) return;
    /* dgamma/dbeta: column sums over rows in row order (as qa_nn_cpu_colsum). */
    int nblocks = (cols + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for num_threads(threads) if (threads > 1 && (size_t)rows * cols >= PAR_MIN && nblocks > 1)
    for (int blk = 0; blk < nblocks; blk++) {
        double ag[COL_BLOCK], ab[COL_BLOCK];
        int c0 = blk * COL_BLOCK, nc = cols - c0 < COL_BLOCK ? cols - c0 : COL_BLOCK;
        for (int j = 0; j < nc; j++) ag[j] = ab[j] = 0.0;
        for (int r = 0; r < rows; r++) {
            const float *xr = x + (size_t)r * cols + c0, *dyr = dy + (size_t)r * cols + c0;
            float mu = mean[r], rs = rstd[r];
            for (int j = 0; j < nc; j++) {
                ag[j] += dyr[j] * ((xr[j] - mu) * rs);
                ab[j] += dyr[j];
            }
        }
        for (int j = 0; j < nc; j++) {
            if (dgamma) dgamma[c0 + j] = (float)(accumulate ? dgamma[c0 + j] + ag[j] : ag[j]);
            if (dbeta) dbeta[c0 + j] = (float)(accumulate ? dbeta[c0 + j] + ab[j] : ab[j]);
        }
    }
}

/* ---- deterministic chunked sums ---------------------------------------------------------------- */

/* Sums f(i) for i < n as: chunk sums (QA_NN_REDUCE_CHUNK consecutive terms, in index
 * order, double) added in chunk order. Chunks are computed in parallel groups of
 * GROUP into a stack array, so no allocation and the same result for any thread count. */
#define GROUP 64

typedef double (*chunk_fn)(const void *arg, size_t begin, size_t end);

static double chunked_sum(int threads, size_t n, chunk_fn fn, const void *arg) {
    double total = 0.0;
    size_t nchunks = (n + QA_NN_REDUCE_CHUNK - 1) / QA_NN_REDUCE_CHUNK;
    (void)threads;
    for (size_t g0 = 0; g0 < nchunks; g0 += GROUP) {
        double part[GROUP];
        int ng = (int)(nchunks - g0 < GROUP ? nchunks - g0 : GROUP);
#pragma omp parallel for num_threads(threads) if (threads > 1 && ng > 1)
        for (int j = 0; j < ng; j++) {
            size_t b = (g0 + (size_t)j) * QA_NN_REDUCE_CHUNK;
            size_t e = b + QA_NN_REDUCE_CHUNK < n ? b + QA_NN_REDUCE_CHUNK : n;
            part[j] = fn(arg, b, e);
        }
        for (int j = 0; j < ng; j++) total += part[j];
    }
    return total;
}

/* ---- losses ------------------------------------------------------------------------------------ */

typedef struct loss_arg {
    const float *pred, *target;
    float *dpred;
    float delta;
    double inv_n;
} loss_arg;

static double mse_chunk(const void *arg, size_t b, size_t e) {
    const loss_arg *a = arg;
    double s = 0.0;
    float d;
    for (size_t i = b; i < e; i++) {
        s += qa_nn_pointwise_loss(0, 0.0f, a->inv_n, a->pred[i] - a->target[i], &d);
        if (a->dpred) a->dpred[i] = d;
    }
    return s;
}

void qa_nn_cpu_loss_mse(int threads, size_t n, const float *pred, const float *target, float *loss,
                        float *dpred) {
    loss_arg a = {pred, target, dpred, 0.0f, n ? 1.0 / (double)n : 0.0};
    *loss = (float)(chunked_sum(threads, n, mse_chunk, &a) * a.inv_n);
}

static double huber_chunk(const void *arg, size_t b, size_t e) {
    const loss_arg *a = arg;
    double s = 0.0;
    float d;
    for (size_t i = b; i < e; i++) {
        s += qa_nn_pointwise_loss(1, a->delta, a->inv_n, a->pred[i] - a->target[i], &d);
        if (a->dpred) a->dpred[i] = d;
    }
    return s;
}

void qa_nn_cpu_loss_huber(int threads, size_t n, float delta, const float *pred,
                          const float *target, float *loss, float *dpred) {
    loss_arg a = {pred, target, dpred, delta, n ? 1.0 / (double)n : 0.0};
    *loss = (float)(chunked_sum(threads, n, huber_chunk, &a) * a.inv_n);
}

typedef struct ce_arg {
    const float *logits;
    const int32_t *labels;
    float *dlogits;
    int classes;
    double inv_rows;
} ce_arg;

/* Rows [b, e): row loss logsumexp(z) - z[y] with the max subtracted first, in double. */
static double ce_chunk(const void *arg, size_t b, size_t e) {
    const ce_arg *a = arg;
    const int k = a->classes;
    double s = 0.0;
    for (size_t r = b; r < e; r++) {
        const float *z = a->logits + r * (size_t)k;
        float *dz = a->dlogits ? a->dlogits + r * (size_t)k : NULL;
        int32_t y = a->labels[r];
        if (y < 0 || y >= k) {
            s += NAN;
            if (dz) memset(dz, 0, (size_t)k * sizeof *dz);
            continue;
        }
        float mx = z[0];
        for (int j = 1; j < k; j++) mx = z[j] > mx ? z[j] : mx;
        double se = 0.0;
        for (int j = 0; j < k; j++) se += exp((double)z[j] - mx);
        /* cppcheck-suppress invalidFunctionArg ; the sum holds exp(0) = 1 for the maximum: >= 1 */
        double lse = mx + log(se);
        s += lse - z[y];
        if (dz)
            for (int j = 0; j < k; j++) dz[j] = (float)((exp((double)z[j] - lse) - (j == y)) * a->inv_rows);
    }
    return s;
}

void qa_nn_cpu_loss_cross_entropy(int threads, int rows, int classes, const float *logits,
                                  const int32_t *labels, float *loss, float *dlogits) {
    ce_arg a = {logits, labels, dlogits, classes, rows ? 1.0 / rows : 0.0};
    /* Chunks are QA_NN_REDUCE_CHUNK rows here; a row is the unit of work. */
    *loss = (float)(chunked_sum(threads, (size_t)rows, ce_chunk, &a) * a.inv_rows);
}

/* ---- optimiser ---------------------------------------------------------------------------------- */

static double sumsq_chunk(const void *arg, size_t b, size_t e) {
    const float *g = arg;
    double s = 0.0;
    for (size_t i = b; i < e; i++) s += (double)g[i] * g[i];
    return s;
}

void qa_nn_cpu_grad_norm(int threads, size_t n, const float *grad, float *norm) {
    *norm = (float)sqrt(chunked_sum(threads, n, sumsq_chunk, grad));
}

void qa_nn_cpu_adamw_update(int threads, const qa_nn_adamw_f *a, size_t n, float *param,
                            const float *grad, float *m, float *v, const float *norm) {
    float scale;
    if (!qa_nn_adamw_scale(a, norm, &scale)) return; /* skipped step: p, m, v unchanged */
    const qa_nn_adamw_f k = *a; /* a local copy: the loop can keep the constants in registers */
    long long nn = (long long)n;
    (void)threads;
#pragma omp parallel for simd num_threads(threads) if (threads > 1 && n >= PAR_MIN)
    for (long long i = 0; i < nn; i++) qa_nn_adamw_elem(&k, scale, grad[i], &param[i], &m[i], &v[i]);
}
