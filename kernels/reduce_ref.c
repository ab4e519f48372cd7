/* The reference for row moments: pass 1 counts, sums and finds extremes; pass 2 sums
 * squared deviations from the exact-as-possible mean (more accurate than one pass). */
#include "kernels/reduce_impl.h"

#include <math.h>  /* isnan, NAN, sqrt */

void qa_reduce_row_ref(const double *x, size_t cols, qa_moments *m) {
    int64_t count = 0;
    double sum = 0.0, lo = INFINITY, hi = -INFINITY;
    for (size_t j = 0; j < cols; j++) {
        double v = x[j];
        if (isnan(v)) continue;
        count++;
        sum += v;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    m->count = count;
    m->sum = sum;
    if (count == 0) {
        m->mean = m->min = m->max = NAN;
        m->m2 = 0.0;
        return;
    }
    double mean = sum / (double)count, m2 = 0.0;
    for (size_t j = 0; j < cols; j++) {
        double v = x[j];
        if (!isnan(v)) m2 += (v - mean) * (v - mean);
    }
    m->mean = mean;
    m->m2 = m2;
    m->min = lo;
    m->max = hi;
}

void qa_reduce_moments_ref(const double *x, size_t rows, size_t cols, qa_moments *out) {
    for (size_t r = 0; r < rows; r++) qa_reduce_row_ref(x + r * cols, cols, &out[r]);
}

double qa_moments_var(const qa_moments *m) {
    return m->count < 2 ? NAN : m->m2 / (double)(m->count - 1);
}

double qa_moments_std(const qa_moments *m) { return sqrt(qa_moments_var(m)); }
