/* Deterministic row-block products for the risk kernels (CPU).
 *
 * Why not BLAS: OpenBLAS picks different micro-kernels for edge rows and splits work
 * differently with the thread count, so the bits of row s of X*B depend on how many
 * rows were in the call and on the threads (measured: 0.3.21, both dgemm and dtrmm).
 * Monte-Carlo blocks must not: a scenario computed in block [a, b), in another split,
 * alone from an index list, or with another thread count must give the same bits, or
 * distributed VaR stops being exact.
 *
 * Here every output element is ONE fused-multiply-add chain in k order starting at 0:
 *   c = fma(a_k, b_k, c), k = 0, 1, ..., K-1
 * whatever the tiling, row grouping or thread split (padding adds exact zeros). The
 * AVX2+FMA micro-kernel (6 x 8 register tile, packed operands, Goto-style blocking)
 * and the portable fallback (libm fma, correctly rounded) give identical bits. The k
 * range is cut into KC-long pieces so one B piece (KC x 8) and one A micro-panel
 * (KC x 6) stay in L1 across the row tiles; between pieces the accumulators go to memory
 * and come back unchanged, so each chain goes on in k order with the same bits. */
#include <math.h>    /* fma */
#include <stdlib.h>  /* aligned_alloc, free */
#include <string.h>  /* memset */

#include "common/cpu.h"         /* qa_simd_level: which micro-kernel */
#include "kernels/risk_impl.h"  /* declarations */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>  /* AVX2 / FMA intrinsics */
#define QA_RISK_X86 1
#endif

enum { MR_MAX = 12, NR = 8, MC = 48, KC = 256 }; /* register tile rows (max) / columns; rows per packed
                                                 block; k per L1 piece */

static size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

/* ---- micro-kernels: out[r][c] = init + sum_{k < kend} ap[k][r] * bp[k][c], one chain each
 * (init: out's values when acc, else 0) ap holds mr rows per k (mr = the kernel's tile
 * height), bp 8 columns per k. */

enum { MR_PORTABLE = 6 };

static void micro_portable(size_t kend, const double *ap, const double *bp, double *out, int acc_in) {
    double acc[MR_PORTABLE][NR] = {{0}};
    if (acc_in) memcpy(acc, out, sizeof acc);
    for (size_t k = 0; k < kend; k++)
        for (int r = 0; r < MR_PORTABLE; r++)
            for (int c = 0; c < NR; c++) acc[r][c] = fma(ap[k * MR_PORTABLE + r], bp[k * NR + c], acc[r][c]);
    memcpy(out, acc, sizeof acc);
}

#ifdef QA_RISK_X86
__attribute__((target("avx2,fma"))) static void micro_avx2(size_t kend, const double *ap, const double *bp,
                                                           double *out, int acc_in) {
    __m256d c00 = _mm256_setzero_pd(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256d c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    if (acc_in) {
        c00 = _mm256_loadu_pd(out + 0), c01 = _mm256_loadu_pd(out + 4);
        c10 = _mm256_loadu_pd(out + 8), c11 = _mm256_loadu_pd(out + 12);
        c20 = _mm256_loadu_pd(out + 16), c21 = _mm256_loadu_pd(out + 20);
        c30 = _mm256_loadu_pd(out + 24), c31 = _mm256_loadu_pd(out + 28);
        c40 = _mm256_loadu_pd(out + 32), c41 = _mm256_loadu_pd(out + 36);
        c50 = _mm256_loadu_pd(out + 40), c51 = _mm256_loadu_pd(out + 44);
    }
    for (size_t k = 0; k < kend; k++) {
        __m256d b0 = _mm256_load_pd(bp + k * NR), b1 = _mm256_load_pd(bp + k * NR + 4);
        const double *a = ap + k * 6;
        __m256d x = _mm256_broadcast_sd(a + 0);
        c00 = _mm256_fmadd_pd(x, b0, c00);
        c01 = _mm256_fmadd_pd(x, b1, c01);
        x = _mm256_broadcast_sd(a + 1);
        c10 = _mm256_fmadd_pd(x, b0, c10);
        c11 = _mm256_fmadd_pd(x, b1, c11);
        x = _mm256_broadcast_sd(a + 2);
        c20 = _mm256_fmadd_pd(x, b0, c20);
        c21 = _mm256_fmadd_pd(x, b1, c21);
        x = _mm256_broadcast_sd(a + 3);
        c30 = _mm256_fmadd_pd(x, b0, c30);
        c31 = _mm256_fmadd_pd(x, b1, c31);
        x = _mm256_broadcast_sd(a + 4);
        c40 = _mm256_fmadd_pd(x, b0, c40);
        c41 = _mm256_fmadd_pd(x, b1, c41);
        x = _mm256_broadcast_sd(a + 5);
        c50 = _mm256_fmadd_pd(x, b0, c50);
        c51 = _mm256_fmadd_pd(x, b1, c51);
    }
    _mm256_storeu_pd(out + 0, c00);
    _mm256_storeu_pd(out + 4, c01);
    _mm256_storeu_pd(out + 8, c10);
    _mm256_storeu_pd(out + 12, c11);
    _mm256_storeu_pd(out + 16, c20);
    _mm256_storeu_pd(out + 20, c21);
    _mm256_storeu_pd(out + 24, c30);
    _mm256_storeu_pd(out + 28, c31);
    _mm256_storeu_pd(out + 32, c40);
    _mm256_storeu_pd(out + 36, c41);
    _mm256_storeu_pd(out + 40, c50);
    _mm256_storeu_pd(out + 44, c51);
}

/* AVX-512: 12 rows x 8 columns, one zmm accumulator per row (fewer instructions per
 * FMA than AVX2; the same chains, so the same bits). */
__attribute__((target("avx512f"))) static void micro_avx512(size_t kend, const double *ap, const double *bp,
                                                             double *out, int acc_in) {
    __m512d c[12];
    for (size_t r = 0; r < 12; r++) c[r] = acc_in ? _mm512_loadu_pd(out + r * NR) : _mm512_setzero_pd();
    for (size_t k = 0; k < kend; k++) {
        __m512d b = _mm512_load_pd(bp + k * NR);
        const double *a = ap + k * 12;
        c[0] = _mm512_fmadd_pd(_mm512_set1_pd(a[0]), b, c[0]);
        c[1] = _mm512_fmadd_pd(_mm512_set1_pd(a[1]), b, c[1]);
        c[2] = _mm512_fmadd_pd(_mm512_set1_pd(a[2]), b, c[2]);
        c[3] = _mm512_fmadd_pd(_mm512_set1_pd(a[3]), b, c[3]);
        c[4] = _mm512_fmadd_pd(_mm512_set1_pd(a[4]), b, c[4]);
        c[5] = _mm512_fmadd_pd(_mm512_set1_pd(a[5]), b, c[5]);
        c[6] = _mm512_fmadd_pd(_mm512_set1_pd(a[6]), b, c[6]);
        c[7] = _mm512_fmadd_pd(_mm512_set1_pd(a[7]), b, c[7]);
        c[8] = _mm512_fmadd_pd(_mm512_set1_pd(a[8]), b, c[8]);
        c[9] = _mm512_fmadd_pd(_mm512_set1_pd(a[9]), b, c[9]);
        c[10] = _mm512_fmadd_pd(_mm512_set1_pd(a[10]), b, c[10]);
        c[11] = _mm512_fmadd_pd(_mm512_set1_pd(a[11]), b, c[11]);
    }
    for (size_t r = 0; r < 12; r++) _mm512_storeu_pd(out + r * NR, c[r]);
}
#endif

typedef void (*micro_fn)(size_t, const double *, const double *, double *, int);

typedef struct micro_kernel {
    micro_fn fn;
    size_t mr; /* tile height = rows per packed A micro-panel */
    int simd;  /* 0 portable, 1 AVX2, 2 AVX-512 */
} micro_kernel;

/* The widest micro-kernel the process's SIMD level allows (common/cpu.h; tests lower the
 * level with qa_simd_cap to compare the kernels). */
static micro_kernel pick_micro(void) {
#ifdef QA_RISK_X86
    qa_simd level = qa_simd_level();
    if (level >= QA_SIMD_AVX512) return (micro_kernel){micro_avx512, 12, 2};
    if (level >= QA_SIMD_AVX2) return (micro_kernel){micro_avx2, 6, 1};
#endif
    return (micro_kernel){micro_portable, MR_PORTABLE, 0};
}

int qa_risk_gemm_simd(void) { return pick_micro().simd; }

/* ---- the blocked product --------------------------------------------------------------- */

qa_status qa_risk_gemm_det(const double *a, size_t lda, size_t rows, size_t kdim, const double *b, size_t brs,
                           size_t bcs, size_t ncols, int tri, double *c, size_t ldc, int threads) {
    if (rows == 0 || ncols == 0) return QA_OK;
    const size_t nt = (ncols + NR - 1) / NR, kk = kdim ? kdim : 1;
    /* B packed once: tile t holds columns [8t, 8t+8) as kdim rows of 8 (zeros past ncols
     * and, for tri, below the diagonal k > column). */
    double *bp = aligned_alloc(64, round_up(nt * kk * NR * sizeof(double), 64));
    if (!bp) return QA_FAIL(QA_ERR_NOMEM, "risk product: packed %zu x %zu operand", kdim, ncols);
    for (size_t t = 0; t < nt; t++)
        for (size_t k = 0; k < kdim; k++)
            for (size_t q = 0; q < NR; q++) {
                size_t col = t * NR + q;
                bp[(t * kk + k) * NR + q] = (col < ncols && (!tri || k <= col)) ? b[k * brs + col * bcs] : 0.0;
            }
    const micro_kernel mk = pick_micro();
    const size_t MR = mk.mr;
    const size_t nblocks = (rows + MC - 1) / MC;
    int failed = 0;
    const long long nb = (long long)nblocks;
    (void)threads;
#pragma omp parallel num_threads(threads > 0 ? threads : 1) if (threads > 1 && nblocks > 1)
    {
        /* Each thread packs whole row blocks (all of k) before writing their outputs, so
         * c may alias a (in-place products). */
        double *ap = aligned_alloc(64, round_up(MC * kk * sizeof(double), 64));
        double out[(MC + MR_MAX) * NR]; /* the accumulator tiles of a block (tiles x MR <= MC + MR - 1 rows) */
        if (!ap) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 1)
        for (long long blk = 0; blk < nb; blk++) {
            if (!ap) continue;
            size_t s0 = (size_t)blk * MC, mrows = rows - s0 < MC ? rows - s0 : MC;
            size_t tiles = (mrows + MR - 1) / MR;
            for (size_t rt = 0; rt < tiles; rt++)
                for (size_t k = 0; k < kdim; k++)
                    for (size_t r = 0; r < MR; r++) {
                        size_t s = rt * MR + r;
                        ap[(rt * kk + k) * MR + r] = s < mrows ? a[(s0 + s) * lda + k] : 0.0;
                    }
            for (size_t t = 0; t < nt; t++) {
                size_t kend = tri ? (kdim < (t + 1) * NR ? kdim : (t + 1) * NR) : kdim;
                size_t cols = ncols - t * NR < NR ? ncols - t * NR : NR;
                /* k pieces outer, row tiles inner: the B piece stays in L1 for every tile. */
                for (size_t k0 = 0; k0 < kend || k0 == 0; k0 += KC) {
                    size_t kl = kend - k0 < KC ? kend - k0 : KC;
                    for (size_t rt = 0; rt < tiles; rt++)
                        mk.fn(kl, ap + (rt * kk + k0) * MR, bp + (t * kk + k0) * NR, out + rt * MR * NR, k0 > 0);
                    if (kend == 0) break;
                }
                for (size_t rt = 0; rt < tiles; rt++) {
                    size_t rr = mrows - rt * MR < MR ? mrows - rt * MR : MR;
                    for (size_t r = 0; r < rr; r++) {
                        double *dst = c + (s0 + rt * MR + r) * ldc + t * NR;
                        for (size_t q = 0; q < cols; q++) dst[q] = out[rt * MR * NR + r * NR + q];
                    }
                }
            }
        }
        free(ap);
    }
    free(bp);
    if (failed) return QA_FAIL(QA_ERR_NOMEM, "risk product: per-thread packing buffers");
    return QA_OK;
}

/* y[s] = sum_k a[s][k] w[k]: the same single FMA chain per row as column 0 of
 * qa_risk_gemm_det (so a one-column product and this agree bitwise). Four rows are
 * interleaved to keep the FMA units busy. */
#ifdef QA_RISK_X86
__attribute__((target("fma"))) static void gemv_rows_fma(const double *a, size_t lda, size_t s0, size_t s1,
                                                          size_t kdim, const double *w, double *y) {
    size_t s = s0;
    for (; s + 4 <= s1; s += 4) {
        const double *r0 = a + s * lda, *r1 = r0 + lda, *r2 = r1 + lda, *r3 = r2 + lda;
        __m128d y0 = _mm_setzero_pd(), y1 = y0, y2 = y0, y3 = y0;
        for (size_t k = 0; k < kdim; k++) {
            __m128d wk = _mm_load_sd(w + k);
            y0 = _mm_fmadd_sd(_mm_load_sd(r0 + k), wk, y0);
            y1 = _mm_fmadd_sd(_mm_load_sd(r1 + k), wk, y1);
            y2 = _mm_fmadd_sd(_mm_load_sd(r2 + k), wk, y2);
            y3 = _mm_fmadd_sd(_mm_load_sd(r3 + k), wk, y3);
        }
        y[s] = _mm_cvtsd_f64(y0);
        y[s + 1] = _mm_cvtsd_f64(y1);
        y[s + 2] = _mm_cvtsd_f64(y2);
        y[s + 3] = _mm_cvtsd_f64(y3);
    }
    for (; s < s1; s++) {
        __m128d acc = _mm_setzero_pd();
        for (size_t k = 0; k < kdim; k++) acc = _mm_fmadd_sd(_mm_load_sd(a + s * lda + k), _mm_load_sd(w + k), acc);
        y[s] = _mm_cvtsd_f64(acc);
    }
}
#endif

static void gemv_rows_portable(const double *a, size_t lda, size_t s0, size_t s1, size_t kdim, const double *w,
                               double *y) {
    for (size_t s = s0; s < s1; s++) {
        double acc = 0.0;
        for (size_t k = 0; k < kdim; k++) acc = fma(a[s * lda + k], w[k], acc);
        y[s] = acc;
    }
}

void qa_risk_gemv_det(const double *a, size_t lda, size_t rows, size_t kdim, const double *w, double *y, int threads) {
    int simd = qa_risk_gemm_simd();
    const long long nr = (long long)((rows + 63) / 64);
    (void)threads;
    (void)simd;
#pragma omp parallel for schedule(static) num_threads(threads > 0 ? threads : 1) if (threads > 1 && rows > 256)
    for (long long blk = 0; blk < nr; blk++) {
        size_t s0 = (size_t)blk * 64, s1 = s0 + 64 < rows ? s0 + 64 : rows;
#ifdef QA_RISK_X86
        if (simd >= 1) {
            gemv_rows_fma(a, lda, s0, s1, kdim, w, y);
            continue;
        }
#endif
        gemv_rows_portable(a, lda, s0, s1, kdim, w, y);
    }
}
