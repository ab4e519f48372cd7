/* The optimised CPU path of qa_risk_reval_features: the features a linear revaluation
 * multiplies by exposures (expm1 for full revaluation, x and x^2 for delta-gamma).
 *
 * Full revaluation spends one expm1 per scenario x asset, the same order of work as the
 * correlation product's row, so glibc's scalar expm1 (~15 ns) would dominate a Monte-
 * Carlo block; libmvec's AVX2 expm1 (4 lanes, <= 4 ulp) is used instead for every
 * element, the last partial vector through a padded copy, so an element's bits depend
 * only on its value (never on the block, offset or thread split: the exact distributed
 * VaR protocol relies on it). Without AVX2 or libmvec (or under QA_SIMD=portable) the
 * reference's scalar loop runs. */
#include <string.h>  /* memcpy */

#include "common/cpu.h"         /* qa_simd_level */
#include "kernels/risk_impl.h"  /* declarations */

#if defined(__x86_64__) && defined(__GNUC__) && defined(QA_HAVE_MVEC)
#define QA_RISK_VEC_EXPM1 1
#include <immintrin.h>  /* AVX2 */

/* glibc libmvec, AVX2 vector-function ABI: the name is the implementation's own (libmvec exports
 * it without a header), so we declare it. */
__m256d _ZGVdN4v_expm1(__m256d x); /* NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */

/* out[k] = expm1(x[k]), k < len: 4 lanes at a time, the tail padded with zeros. */
__attribute__((target("avx2,fma"))) static void expm1_avx2(const double *x, size_t len, double *out) {
    size_t k = 0;
    for (; k + 4 <= len; k += 4) _mm256_storeu_pd(out + k, _ZGVdN4v_expm1(_mm256_loadu_pd(x + k)));
    if (k < len) {
        double in[4] = {0.0, 0.0, 0.0, 0.0}, res[4];
        memcpy(in, x + k, (len - k) * sizeof *in);
        _mm256_storeu_pd(res, _ZGVdN4v_expm1(_mm256_loadu_pd(in)));
        memcpy(out + k, res, (len - k) * sizeof *res);
    }
}
#endif

qa_status qa_risk_reval_features_cpu(qa_risk_reval mode, const double *x, size_t b, size_t n, double *out, int ref,
                                     int threads) {
#ifdef QA_RISK_VEC_EXPM1
    const int vec = !ref && qa_simd_level() >= QA_SIMD_AVX2;
#else
    const int vec = 0;
#endif
    if (ref || (mode == QA_RISK_REVAL_FULL && !vec)) return qa_risk_reval_features_ref(mode, x, b, n, out);
    const size_t w = qa_risk_reval_width(mode, n);
    const long long nb = (long long)b;
    const int nt = threads > 1 && b * n >= 16384 ? threads : 1;
    (void)nt;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (long long s = 0; s < nb; s++) {
        const double *xs = x + (size_t)s * n;
        double *o = out + (size_t)s * w;
        if (mode == QA_RISK_REVAL_FULL) {
#ifdef QA_RISK_VEC_EXPM1
            expm1_avx2(xs, n, o);
#endif
        } else {
            memcpy(o, xs, n * sizeof *o);
            if (mode == QA_RISK_REVAL_DELTA_GAMMA)
                for (size_t j = 0; j < n; j++) o[n + j] = xs[j] * xs[j];
        }
    }
    return QA_OK;
}
