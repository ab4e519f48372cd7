/* SIMD level detection and the QA_SIMD cap. */
#include "common/cpu.h"

#include <stdatomic.h>  /* the cached level */
#include <stdio.h>      /* fprintf: a bad QA_SIMD value */
#include <stdlib.h>     /* getenv */
#include <string.h>     /* strcmp */

static const char *const simd_names[] = {"portable", "avx2", "avx512"};
_Static_assert(sizeof simd_names / sizeof simd_names[0] == QA_SIMD_COUNT, "simd names");

/* -1: not read yet. */
static atomic_int g_level = -1;

const char *qa_simd_name(qa_simd s) { return (int)s >= 0 && s < QA_SIMD_COUNT ? simd_names[s] : "?"; }

qa_simd qa_simd_detected(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))) return QA_SIMD_PORTABLE;
    /* F with VL, DQ and BW: the AVX-512 paths use the 256-bit and mask encodings too, and
     * every AVX-512 CPU but Xeon Phi has all four (Phi takes the AVX2 paths). */
    int avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                 __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
    return avx512 ? QA_SIMD_AVX512 : QA_SIMD_AVX2;
#else
    return QA_SIMD_PORTABLE;
#endif
}

static qa_simd env_cap(void) {
    const char *v = getenv("QA_SIMD");
    if (!v || !*v) return QA_SIMD_AVX512;
    for (int s = 0; s < QA_SIMD_COUNT; s++)
        if (strcmp(v, simd_names[s]) == 0) return (qa_simd)s;
    fprintf(stderr, "warning: QA_SIMD=%s is not portable, avx2 or avx512; ignored\n", v);
    return QA_SIMD_AVX512;
}

qa_simd qa_simd_level(void) {
    int l = atomic_load(&g_level);
    if (l >= 0) return (qa_simd)l;
    qa_simd d = qa_simd_detected(), c = env_cap();
    l = (int)(c < d ? c : d);
    int expect = -1;
    atomic_compare_exchange_strong(&g_level, &expect, l);
    return (qa_simd)atomic_load(&g_level);
}

qa_simd qa_simd_cap(qa_simd cap) {
    qa_simd d = qa_simd_detected(), c = env_cap();
    qa_simd l = d < c ? d : c;
    if ((int)cap >= 0 && cap < l) l = cap;
    atomic_store(&g_level, (int)l);
    return l;
}

int qa_cpu_has_avx512bf16(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    /* GCC >= 12 knows the feature name; it reads CPUID leaf 7 subleaf 1 EAX bit 5 */
    return qa_simd_level() >= QA_SIMD_AVX512 && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}
