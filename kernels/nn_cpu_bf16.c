/* The CPU GEMM in BF16 math (QA_NN_MATH_BF16): op(A) and op(B) are rounded to bfloat16
 * (round to nearest even, as the CUDA path's __float2bfloat16_rn), products are exact in
 * FP32 and sums are FP32. The FP32 inputs are never modified: rounded copies go to the
 * ctx scratch arena the caller passes in.
 *
 * Two paths give the same math and differ only in summation order:
 *  - fast (AVX512_BF16, qa_cpu_has_avx512bf16): a Goto-style blocked GEMM. Per block of
 *    KC_PAIRS pairs of k, op(B) is packed into 16-column panels in which each 32-bit
 *    word holds a (k, k+1) pair of one column, the layout vdpbf16ps multiplies against a
 *    broadcast (k, k+1) pair of one row of op(A); an 8 x 32 block of C stays in 16 zmm
 *    accumulators over the whole k block. Threads split the rows of C (8-row strips).
 *    The BF16 instructions treat subnormal inputs as zero and flush subnormal results
 *    (they ignore MXCSR); the portable path keeps subnormals.
 *  - portable (any CPU, or the backend's reference flag): the rounded operands are
 *    written as FP32 copies and handed to the FP32 CPU GEMM (OpenBLAS sgemm, or the
 *    double-accumulating reference loops when `ref` is set: the oracle).
 * docs/nn.md ("CPU BF16 GEMM") gives the error budget. */
#include "kernels/nn_impl.h"

#include <stdint.h>  /* uint32_t */
#include <string.h>  /* memcpy, memset */

#include "common/cpu.h"  /* qa_cpu_has_avx512bf16 */

#ifdef _OPENMP
#include <omp.h>  /* omp_get_thread_num: each thread's A buffer */
#endif

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>  /* AVX512_BF16 / AVX-512BW intrinsics */
#define BF16_FAST 1
#define BF16_TARGET __attribute__((target("avx512f,avx512bf16,avx512vl,avx512bw")))
#else
#define BF16_FAST 0
#endif

#define MR 8          /* rows of C per micro-kernel call */
#define NP 16         /* columns per packed panel of op(B) (one zmm of FP32 lanes) */
#define KC_PAIRS 256  /* k pairs per block: an op(B) block of n = 256 is 256 KiB (L2) */
#define ALIGN 64

/* Fork/join costs more than it saves below ~2 MFLOP (as the FP32 path). */
#define PAR_FLOPS 2e6

/* ---- rounding ------------------------------------------------------------------------------ */

/* x rounded to the nearest bfloat16 (ties to even), returned as the FP32 value it
 * represents. NaN stays NaN (made quiet); overflow past the largest bfloat16 gives Inf. */
static float bf16_round(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) u |= 0x00400000u;
    else u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* dst[r*cols + c] = bf16(src[r*ld + c]): the stored block of an operand, compacted. */
static void round_block(int threads, int rows, int cols, const float *src, int ld, float *dst) {
    (void)threads;
#pragma omp parallel for num_threads(threads) if (threads > 1 && (size_t)rows * cols >= 65536)
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) dst[(size_t)r * cols + c] = bf16_round(src[(size_t)r * ld + c]);
}

static size_t align_up(size_t bytes) { return (bytes + ALIGN - 1) & ~(size_t)(ALIGN - 1); }

/* ---- fast path: packing ------------------------------------------------------------------- */

static int min_i(int a, int b) { return a < b ? a : b; }

/* Words of one packed op(B) block and one thread's op(A) strip. */
static size_t b_block_words(int n, int kcp) { return (size_t)((n + NP - 1) / NP) * (size_t)kcp * NP; }
static int a_row_words(int kcp) { return (kcp + 15) & ~15; }

static int fast_parts(int threads, int m, int n, int k) {
    int strips = (m + MR - 1) / MR;
    int parts = (threads > 1 && 2.0 * m * n * k >= PAR_FLOPS) ? threads : 1;
    return parts < strips ? parts : (strips > 0 ? strips : 1);
}

#if BF16_FAST
static inline __mmask16 mask16(int count) { return count >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << count) - 1u); }

/* Interleaves words [r0(16) | r1(16)] into (r0[j], r1[j]) pairs. */
BF16_TARGET static inline __m512i pair_index(void) {
    return _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20,
                            4, 19, 3, 18, 2, 17, 1, 16, 0);
}

/* The 32 floats from src (the first `left` > 0 of them valid, the rest read as zero) as
 * 16 bf16 pairs: word t holds (src[2t], src[2t+1]) in its low and high half. */
BF16_TARGET static inline __m512i load_pairs16(const float *src, int left) {
    __m512 lo = _mm512_maskz_loadu_ps(mask16(left), src);
    __m512 hi = left > 16 ? _mm512_maskz_loadu_ps(mask16(left - 16), src + 16) : _mm512_setzero_ps();
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo); /* words in k order */
}

/* 2*kcp consecutive floats (kc valid, the rest zero) as kcp bf16 pairs: dst[t] holds
 * (src[2t], src[2t+1]) in its low and high half. */
BF16_TARGET static void pack_row_pairs(const float *src, int kc, int kcp, uint32_t *dst) {
    for (int t = 0; t < kcp; t += 16)
        _mm512_mask_storeu_epi32(dst + t, mask16(kcp - t), load_pairs16(src + (size_t)2 * t, kc - 2 * t));
}

/* One panel of op(B) = B (k x n, row-major): columns j0 .. j0+nc-1, k rows k0 .. k0+kc-1,
 * into dst[kp*16 + j] = (B[k0+2kp][j0+j], B[k0+2kp+1][j0+j]); missing columns and the odd
 * row past kc are zero. */
BF16_TARGET static void pack_b_rows(const float *b, int ldb, int k0, int kc, int j0, int nc, uint32_t *dst) {
    const __mmask16 cm = mask16(nc);
    const __m512i idx = pair_index();
    for (int kp = 0; 2 * kp < kc; kp++) {
        const float *r0 = b + (size_t)(k0 + 2 * kp) * ldb + j0;
        __m512 v0 = _mm512_maskz_loadu_ps(cm, r0);
        __m512 v1 = 2 * kp + 1 < kc ? _mm512_maskz_loadu_ps(cm, r0 + ldb) : _mm512_setzero_ps();
        __m512i w = (__m512i)_mm512_cvtne2ps_pbh(v1, v0);
        _mm512_store_si512((void *)(dst + (size_t)kp * NP), _mm512_permutexvar_epi16(idx, w));
    }
}

/* The same panel when op(B) = B^T (B stored n x k): column j of op(B) is row j of B,
 * whose pairs are converted in order and scattered to stride NP. */
BF16_TARGET static void pack_b_cols(const float *b, int ldb, int k0, int kc, int j0, int nc, uint32_t *dst) {
    const int kcp = (kc + 1) / 2;
    if (nc < NP) memset(dst, 0, (size_t)kcp * NP * sizeof *dst);
    const __m512i stride = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                              _mm512_set1_epi32(NP));
    for (int j = 0; j < nc; j++) {
        const float *src = b + (size_t)(j0 + j) * ldb + k0;
        for (int t = 0; t < kcp; t += 16)
            _mm512_mask_i32scatter_epi32(dst + (size_t)t * NP + j, mask16(kcp - t), stride,
                                         load_pairs16(src + (size_t)2 * t, kc - 2 * t), 4);
    }
}

/* An MR-row strip of op(A) = A (m x k, row-major): row r's pairs at dst[r*rs + kp]. */
BF16_TARGET static void pack_a_rows(const float *a, int lda, int i0, int mr, int k0, int kc, int rs, uint32_t *dst) {
    const int kcp = (kc + 1) / 2;
    for (int r = 0; r < mr; r++) pack_row_pairs(a + (size_t)(i0 + r) * lda + k0, kc, kcp, dst + (size_t)r * rs);
}

/* The strip when op(A) = A^T (A stored k x m): rows k, k+1 of A are contiguous in i, so
 * pairs interleave like op(B)'s; row r's pair kp at dst[kp*MR + r]. */
BF16_TARGET static void pack_a_cols(const float *a, int lda, int i0, int mr, int k0, int kc, uint32_t *dst) {
    const __mmask8 rm = (__mmask8)((1u << mr) - 1u);
    const __m256i idx = _mm256_set_epi16(15, 7, 14, 6, 13, 5, 12, 4, 11, 3, 10, 2, 9, 1, 8, 0);
    for (int kp = 0; 2 * kp < kc; kp++) {
        const float *r0 = a + (size_t)(k0 + 2 * kp) * lda + i0;
        __m256 v0 = _mm256_maskz_loadu_ps(rm, r0);
        __m256 v1 = 2 * kp + 1 < kc ? _mm256_maskz_loadu_ps(rm, r0 + lda) : _mm256_setzero_ps();
        __m256i w = (__m256i)_mm256_cvtne2ps_pbh(v1, v0);
        _mm256_store_si256((__m256i *)(dst + (size_t)kp * MR), _mm256_permutexvar_epi16(idx, w));
    }
}

/* ---- fast path: micro-kernel ------------------------------------------------------------------ */

/* C[i0.., j0..] (mr_ rows, nb_ panels of 16 columns, the last with nc_last valid) gets
 * alpha * sum_kp A-pair . B-pair: row r's pair kp is ap[r*rs + kp*ps]; panel q's pairs
 * are bp + q*bstep. first: C = that + beta*C (beta == 0 ignores C); else C += that. */
BF16_TARGET static inline __attribute__((always_inline)) void micro_body(
    const int mr_, const int nb_, int kcp, const uint32_t *ap, ptrdiff_t rs, ptrdiff_t ps, const uint32_t *bp,
    ptrdiff_t bstep, float alpha, float beta, int first, float *c, int ldc, int nc_last) {
    /* fully unrolled (constant mr_, nb_) so that acc lives in registers, not memory */
    __m512 acc[MR][2];
#pragma GCC unroll 8
    for (int r = 0; r < mr_; r++)
#pragma GCC unroll 2
        for (int q = 0; q < nb_; q++) acc[r][q] = _mm512_setzero_ps();
    for (int kp = 0; kp < kcp; kp++) {
        __m512bh b0 = (__m512bh)_mm512_load_si512((const void *)(bp + (size_t)kp * NP));
        __m512bh b1 = nb_ > 1 ? (__m512bh)_mm512_load_si512((const void *)(bp + bstep + (size_t)kp * NP)) : b0;
        const uint32_t *ak = ap + kp * ps;
#pragma GCC unroll 8
        for (int r = 0; r < mr_; r++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)ak[r * rs]);
            acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
            if (nb_ > 1) acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
        }
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 2
    for (int q = 0; q < nb_; q++) {
        const __mmask16 cm = q == nb_ - 1 ? mask16(nc_last) : (__mmask16)0xffff;
#pragma GCC unroll 8
        for (int r = 0; r < mr_; r++) {
            float *cr = c + (size_t)r * ldc + (size_t)q * NP;
            __m512 v = _mm512_mul_ps(va, acc[r][q]);
            if (!first) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(cm, cr));
            else if (beta != 0.0f) v = _mm512_add_ps(v, _mm512_mul_ps(vb, _mm512_maskz_loadu_ps(cm, cr)));
            _mm512_mask_storeu_ps(cr, cm, v);
        }
    }
}

#define MICRO_CASE(R)                                                                                        \
    case R:                                                                                                  \
        if (nb == 2) micro_body(R, 2, kcp, ap, rs, ps, bp, bstep, alpha, beta, first, c, ldc, nc_last);      \
        else micro_body(R, 1, kcp, ap, rs, ps, bp, bstep, alpha, beta, first, c, ldc, nc_last);              \
        break;

/* Instantiates the body for each strip height 1..MR and 1 or 2 panels (constants, so
 * the accumulators stay in registers). */
BF16_TARGET static void micro(int mr, int nb, int kcp, const uint32_t *ap, ptrdiff_t rs, ptrdiff_t ps,
                              const uint32_t *bp, ptrdiff_t bstep, float alpha, float beta, int first, float *c,
                              int ldc, int nc_last) {
    switch (mr) {
        MICRO_CASE(1) MICRO_CASE(2) MICRO_CASE(3) MICRO_CASE(4) MICRO_CASE(5) MICRO_CASE(6) MICRO_CASE(7)
        MICRO_CASE(8)
        default: break;
    }
}
_Static_assert(MR == 8, "micro() instantiates strip heights 1..8");

/* ---- fast path: driver ----------------------------------------------------------------------- */

BF16_TARGET static void gemm_fast(int threads, int trans_a, int trans_b, int m, int n, int k, float alpha,
                                  const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc,
                                  uint32_t *scratch) {
    const int npan = (n + NP - 1) / NP, strips = (m + MR - 1) / MR;
    const int kcp_max = min_i(KC_PAIRS, (k + 1) / 2), rs_max = a_row_words(kcp_max);
    uint32_t *bpk = scratch, *abase = scratch + align_up(b_block_words(n, kcp_max) * 4) / 4;
    const int parts = fast_parts(threads, m, n, k);
    (void)parts;
#pragma omp parallel num_threads(parts) if (parts > 1)
    {
        int tid = 0;
#ifdef _OPENMP
        tid = omp_get_thread_num();
#endif
        uint32_t *abuf = abase + (size_t)tid * MR * rs_max;
        for (int k0 = 0; k0 < k; k0 += 2 * KC_PAIRS) {
            const int kc = min_i(2 * KC_PAIRS, k - k0), kcp = (kc + 1) / 2, first = k0 == 0;
            const ptrdiff_t bstep = (ptrdiff_t)kcp * NP;
#pragma omp for schedule(static)
            for (int jp = 0; jp < npan; jp++) {
                uint32_t *dst = bpk + (size_t)jp * bstep;
                int j0 = jp * NP, nc = min_i(NP, n - j0);
                if (trans_b) pack_b_cols(b, ldb, k0, kc, j0, nc, dst);
                else pack_b_rows(b, ldb, k0, kc, j0, nc, dst);
            }
            /* implicit barrier: the block of op(B) is complete */
#pragma omp for schedule(static)
            for (int s = 0; s < strips; s++) {
                const int i0 = s * MR, mr = min_i(MR, m - i0);
                ptrdiff_t rs, ps;
                if (trans_a) {
                    pack_a_cols(a, lda, i0, mr, k0, kc, abuf);
                    rs = 1, ps = MR;
                } else {
                    pack_a_rows(a, lda, i0, mr, k0, kc, a_row_words(kcp), abuf);
                    rs = a_row_words(kcp), ps = 1;
                }
                for (int jp = 0; jp < npan; jp += 2) {
                    const int nb = min_i(2, npan - jp), nc_last = min_i(NP, n - (jp + nb - 1) * NP);
                    micro(mr, nb, kcp, abuf, rs, ps, bpk + (size_t)jp * bstep, bstep, alpha, beta, first,
                          c + (size_t)i0 * ldc + (size_t)jp * NP, ldc, nc_last);
                }
            }
            /* implicit barrier: nobody still reads the block before it is repacked */
        }
    }
}
#endif /* BF16_FAST */

/* ---- entry points ------------------------------------------------------------------------------ */

int qa_nn_cpu_bf16_fast(int ref) { return BF16_FAST && !ref && qa_cpu_has_avx512bf16(); }

size_t qa_nn_cpu_gemm_bf16_scratch(int ref, int threads, int m, int n, int k) {
    if (m <= 0 || n <= 0 || k <= 0) return 0;
    if (qa_nn_cpu_bf16_fast(ref)) {
        int kcp = min_i(KC_PAIRS, (k + 1) / 2);
        return align_up(b_block_words(n, kcp) * 4) +
               (size_t)fast_parts(threads, m, n, k) * MR * (size_t)a_row_words(kcp) * 4;
    }
    return align_up((size_t)m * k * sizeof(float)) + align_up((size_t)k * n * sizeof(float));
}

void qa_nn_cpu_gemm_bf16(int ref, int threads, void *scratch, int trans_a, int trans_b, int m, int n, int k,
                         float alpha, const float *a, int lda, const float *b, int ldb, float beta, float *c,
                         int ldc) {
    if (m == 0 || n == 0) return;
    if (k == 0) { /* C = beta * C: no operand to round */
        qa_nn_cpu_gemm(ref, threads, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
#if BF16_FAST
    if (qa_nn_cpu_bf16_fast(ref)) {
        gemm_fast(threads, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, scratch);
        return;
    }
#endif
    /* portable: rounded FP32 copies of the stored blocks, then the FP32 GEMM */
    const int ra = trans_a ? k : m, ca = trans_a ? m : k, rb = trans_b ? n : k, cb = trans_b ? k : n;
    float *a16 = scratch, *b16 = (float *)((char *)scratch + align_up((size_t)m * k * sizeof(float)));
    round_block(ref ? 1 : threads, ra, ca, a, lda, a16);
    round_block(ref ? 1 : threads, rb, cb, b, ldb, b16);
    qa_nn_cpu_gemm(ref, threads, trans_a, trans_b, m, n, k, alpha, a16, ca, b16, cb, beta, c, ldc);
}
