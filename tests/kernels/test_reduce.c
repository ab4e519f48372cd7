/* Row moments: a hand-checked case, edge cases, an independent long-double oracle, and
 * CPU<->CUDA parity on fresh random inputs with NaNs. */
#include <math.h>
#include <stdlib.h>

#include "common/philox.h"
#include "kernel_test.h"
#include "kernels/reduce_impl.h" /* the backends and the host replay of the CUDA order */

static void test_hand_checked(void) {
    const double x[] = {1.0, 2.0, NAN, 4.0};
    qa_moments m;
    qa_reduce_moments_cpu(x, 1, 4, &m, 1);
    QA_CHECK_INT(m.count, 3);
    QA_CHECK_NEAR(m.sum, 7.0, 0, 0);
    QA_CHECK_NEAR(m.mean, 7.0 / 3.0, 0, 1e-15);
    QA_CHECK_NEAR(m.m2, 42.0 / 9.0, 0, 1e-15); /* (16 + 1 + 25) / 9 */
    QA_CHECK_NEAR(m.min, 1.0, 0, 0);
    QA_CHECK_NEAR(m.max, 4.0, 0, 0);
    QA_CHECK_NEAR(qa_moments_var(&m), 21.0 / 9.0, 0, 1e-15);
}

static void test_edges(void) {
    qa_moments m[3];
    const double nans[] = {NAN, NAN, NAN};
    qa_reduce_moments_cpu(nans, 1, 3, &m[0], 1);
    QA_CHECK_INT(m[0].count, 0);
    QA_CHECK(isnan(m[0].mean) && isnan(m[0].min) && isnan(m[0].max));
    QA_CHECK(isnan(qa_moments_var(&m[0])));
    qa_reduce_moments_cpu(nans, 2, 0, m, 1); /* empty rows */
    QA_CHECK_INT(m[0].count, 0);
    QA_CHECK_INT(m[1].count, 0);
    const double one = -3.5;
    qa_reduce_moments_cpu(&one, 1, 1, &m[0], 1);
    QA_CHECK_INT(m[0].count, 1);
    QA_CHECK(m[0].min == -3.5 && m[0].max == -3.5 && m[0].m2 == 0.0);
    QA_CHECK(isnan(qa_moments_var(&m[0])));
    const double inf[] = {1.0, INFINITY};
    qa_reduce_moments_cpu(inf, 1, 2, &m[0], 1);
    QA_CHECK(isinf(m[0].max) && m[0].count == 2);
}

static uint64_t g_seed; /* the run's seed (qa_test_seed: printed, QA_TEST_SEED repeats it) */

static double *random_matrix(size_t rows, size_t cols, uint64_t seed, double nan_rate) {
    double *x = malloc((rows * cols + 1) * sizeof *x);
    for (size_t i = 0; i < rows * cols; i++) {
        double u = qa_rng_uniform(seed, 1, i);
        x[i] = u < nan_rate ? NAN : 100.0 + 3.0 * qa_rng_normal(seed, 2, i);
    }
    return x;
}

/* The reference against an independent long-double computation (80-bit extended
 * precision: its own rounding error is ~1e-19 relative). Double two-pass sums over
 * <= 5000 values stay within ~n*eps = 1e-12 relative in the worst case; 1e-12 holds. */
static void test_against_long_double(void) {
    const size_t rows = 37, cols = 5000;
    double *x = random_matrix(rows, cols, g_seed, 0.05);
    qa_moments *m = malloc(rows * sizeof *m);
    qa_reduce_moments_cpu(x, rows, cols, m, 2);
    for (size_t r = 0; r < rows; r++) {
        long double s = 0, c = 0, lo = INFINITY, hi = -INFINITY;
        for (size_t j = 0; j < cols; j++) {
            double v = x[r * cols + j];
            if (isnan(v)) continue;
            s += v;
            c += 1;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        long double mean = s / c, m2 = 0;
        for (size_t j = 0; j < cols; j++) {
            double v = x[r * cols + j];
            if (!isnan(v)) m2 += (v - mean) * (v - mean);
        }
        QA_CHECK_INT(m[r].count, (long long)c);
        QA_CHECK_NEAR(m[r].sum, (double)s, 0, 1e-12);
        QA_CHECK_NEAR(m[r].mean, (double)mean, 0, 1e-12);
        QA_CHECK_NEAR(m[r].m2, (double)m2, 0, 1e-10);
        QA_CHECK(m[r].min == (double)lo && m[r].max == (double)hi);
    }
    /* Threaded and single-threaded runs are bitwise identical (rows are independent). */
    qa_moments *m1 = malloc(rows * sizeof *m1);
    qa_reduce_moments_cpu(x, rows, cols, m1, 1);
    QA_CHECK(memcmp(m, m1, rows * sizeof *m) == 0);
    free(m1);
    free(m);
    free(x);
}

/* Rows of `got` against the reference `c`, with the GPU budget below. */
static size_t compare_rows(const char *what, const qa_moments *g, const qa_moments *c, size_t rows, size_t cols) {
    size_t bad = 0;
    for (size_t r = 0; r < rows; r++) {
        int ok = g[r].count == c[r].count;
        if (c[r].count > 0) {
            ok = ok && g[r].min == c[r].min && g[r].max == c[r].max;
            ok = ok && fabs(g[r].sum - c[r].sum) <= 1e-11 * fabs(c[r].sum) + 1e-12;
            ok = ok && fabs(g[r].mean - c[r].mean) <= 1e-11 * fabs(c[r].mean);
            ok = ok && fabs(g[r].m2 - c[r].m2) <= 1e-9 * fabs(c[r].m2) + 1e-9;
        } else {
            ok = ok && isnan(g[r].mean);
        }
        if (!ok && bad++ == 0)
            printf("  %s %zux%zu row %zu: got (%lld %.17g %.17g) ref (%lld %.17g %.17g)\n", what, rows, cols, r,
                   (long long)g[r].count, g[r].sum, g[r].m2, (long long)c[r].count, c[r].sum, c[r].m2);
    }
    QA_CHECK_MSG(bad == 0, "%s %zux%zu: %zu rows differ", what, rows, cols, bad);
    return bad;
}

static const size_t shapes[][2] = {{1, 1}, {1, 1000007}, {3, 4097}, {2000, 301}, {70001, 3}, {5, 0}};

/* The CUDA kernels' arithmetic, replayed on the host in their decomposition (chunks,
 * strided threads, shuffle tree, warps, chunk partials), against the reference with the
 * GPU budget: this checks the code the GPU runs (reduce_impl.h) on any machine. */
static void test_gpu_order_on_host(void) {
    uint64_t seed = g_seed + 100;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t rows = shapes[s][0], cols = shapes[s][1];
        double *x = random_matrix(rows, cols, seed + s, 0.03);
        qa_moments *g = malloc((rows ? rows : 1) * sizeof *g), *c = malloc((rows ? rows : 1) * sizeof *c);
        qa_reduce_moments_gpu_order(x, rows, cols, g);
        qa_reduce_moments_ref(x, rows, cols, c);
        compare_rows("host replay of the CUDA order", g, c, rows, cols);
        free(g), free(c), free(x);
    }
}

/* GPU vs CPU. Count/min/max are exact. The GPU merges Welford partials in a tree, the
 * CPU sums sequentially: both are within ~n*eps*sum|x| of the truth in the worst case,
 * ~sqrt(n)*eps typically. Data are positive-mean (|x| ~ 100), so relative bounds on
 * sum/mean of 1e-11 leave > 100x margin for n <= 1e6; m2 gets 1e-9 (it is a small
 * difference of large squares in the GPU's one-pass form). */
static void test_gpu_parity(void) {
    qa_backend_t *gpu = qa_kernel_test_gpu();
    uint64_t seed = g_seed + 100;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t rows = shapes[s][0], cols = shapes[s][1];
        double *x = random_matrix(rows, cols, seed + s, 0.03);
        qa_buf d;
        QA_CHECK_OK(qa_buf_alloc(gpu, rows * cols * sizeof(double), &d));
        QA_CHECK_OK(qa_buf_upload(gpu, &d, 0, x, rows * cols * sizeof(double)));
        qa_moments *g = malloc(rows * sizeof *g), *c = malloc(rows * sizeof *c);
        QA_CHECK_OK(qa_reduce_moments(gpu, d.ptr, rows, cols, g));
        qa_reduce_moments_ref(x, rows, cols, c);
        compare_rows("gpu", g, c, rows, cols);
        free(g);
        free(c);
        free(x);
        qa_buf_free(&d);
    }
    qa_backend_free(gpu);
}

int main(int argc, char **argv) {
    g_seed = qa_test_seed();
    static const qa_test_case gpu[] = {QA_CASE(test_gpu_parity)};
    static const qa_test_case cpu[] = {QA_CASE(test_hand_checked), QA_CASE(test_edges),
                                       QA_CASE(test_against_long_double), QA_CASE(test_gpu_order_on_host)};
    return qa_kernel_test_main(argc, argv, QA_CASES(gpu), QA_CASES(cpu));
}
