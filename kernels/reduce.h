/* NaN-aware moments of each row of a row-major matrix: count, sum, mean, sum of
 * squared deviations (m2), min and max over the finite-or-infinite non-NaN entries.
 * With rows = 1 it is a plain reduction of a vector. */
#ifndef QA_KERNELS_REDUCE_H
#define QA_KERNELS_REDUCE_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"
#include "kernels/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_moments {
    int64_t count; /* non-NaN entries */
    double sum;
    double mean;   /* NaN when count == 0 */
    double m2;     /* sum of (x - mean)^2; sample variance = m2 / (count - 1) */
    double min;    /* NaN when count == 0 */
    double max;
} qa_moments;

/* `x` is a backend array of rows*cols doubles (row-major); `out` is host memory for
 * `rows` results. */
qa_status qa_reduce_moments(qa_backend_t *be, const double *x, size_t rows, size_t cols,
                            qa_moments *out);

/* Sample variance and standard deviation (ddof 1); NaN when count < 2. */
double qa_moments_var(const qa_moments *m);
double qa_moments_std(const qa_moments *m);

#ifdef __cplusplus
}
#endif
#endif
