/* The CPU's SIMD level, as the optimized CPU paths may use it.
 *
 * Every hand-vectorised or multi-versioned CPU path (risk GEMM micro-kernels, the risk
 * normal generator, the backtest engine's AVX2 body, the nn activation loops) asks
 * qa_simd_level() which instruction set to run. Sums vectorised at different widths
 * round differently, so the level is also a reproducibility switch: the environment
 * variable QA_SIMD (portable, avx2, avx512) caps it, and two machines run at the same
 * cap give bit-identical results (tests/golden runs at QA_SIMD=avx2). Without QA_SIMD
 * the level is the best the CPU supports. */
#ifndef QA_COMMON_CPU_H
#define QA_COMMON_CPU_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qa_simd {
    QA_SIMD_PORTABLE = 0, /* baseline x86-64 (SSE2) or any other architecture */
    QA_SIMD_AVX2 = 1,     /* AVX2 + FMA */
    QA_SIMD_AVX512 = 2,   /* AVX-512 F, VL, DQ and BW (on top of AVX2 + FMA) */
    QA_SIMD_COUNT = 3
} qa_simd;

/* "portable", "avx2", "avx512". */
const char *qa_simd_name(qa_simd s);
/* What the CPU supports, ignoring QA_SIMD. */
qa_simd qa_simd_detected(void);
/* min(detected, QA_SIMD cap, qa_simd_cap), read once and cached (thread-safe). An
 * unknown QA_SIMD value is ignored with a warning on stderr. */
qa_simd qa_simd_level(void);
/* Lowers (or, up to the detected level, restores) the cap for this process; returns the
 * resulting level. For tests that compare the SIMD paths with each other. */
qa_simd qa_simd_cap(qa_simd cap);
/* 1 when the CPU has AVX512_BF16 (vcvtne2ps2bf16, vdpbf16ps) and the current level is
 * QA_SIMD_AVX512, so a QA_SIMD cap below avx512 also turns the BF16 instructions off
 * (the BF16 GEMM then takes its portable path: same rounding, other summation order). */
int qa_cpu_has_avx512bf16(void);

#ifdef __cplusplus
}
#endif
#endif
