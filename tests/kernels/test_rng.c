/* Philox fills: the CPU fill equals the scalar generator for every distribution and
 * offset; the CUDA fill equals the CPU fill (bitwise for integer and uniform outputs). */
#include <stdint.h>
#include <stdlib.h>

#include "common/philox.h"
#include "kernel_test.h"
#include "kernels/rng_impl.h" /* the backends, called directly */

static const size_t sizes[] = {0, 1, 3, 4, 5, 255, 257, 4099, 100003};
static const uint64_t offsets[] = {0, 1, 2, 3, 7, 1000003, 0xffffffffull - 2};

static double scalar(qa_rng_dist d, uint64_t seed, uint64_t stream, uint64_t i) {
    switch (d) {
    case QA_RNG_U32: return qa_rng_u32(seed, stream, i);
    case QA_RNG_UNIFORM: return qa_rng_uniform(seed, stream, i);
    case QA_RNG_NORMAL: return qa_rng_normal(seed, stream, i);
    default: return qa_rng_uniformf(seed, stream, i);
    }
}

static double elem(qa_rng_dist d, const void *p, size_t k) {
    switch (d) {
    case QA_RNG_U32: return ((const uint32_t *)p)[k];
    case QA_RNG_UNIFORM_F32: return ((const float *)p)[k];
    default: return ((const double *)p)[k];
    }
}

static void test_cpu_matches_scalar(void) {
    qa_backend_t *be = NULL;
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &be));
    for (int d = 0; d < QA_RNG_DIST_COUNT; d++) {
        size_t es = qa_rng_elem_size((qa_rng_dist)d);
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            size_t n = sizes[si];
            uint64_t off = offsets[si % (sizeof offsets / sizeof offsets[0])];
            unsigned char *buf = malloc(n * es + 2 * QA_GUARD_BYTES);
            qa_test_guard_fill(buf, n * es + 2 * QA_GUARD_BYTES);
            QA_CHECK_OK(qa_rng_fill(be, (qa_rng_dist)d, 77, 5, off, n, buf + QA_GUARD_BYTES));
            QA_CHECK(qa_test_guard_intact(buf, QA_GUARD_BYTES));
            QA_CHECK(qa_test_guard_intact(buf + QA_GUARD_BYTES + n * es, QA_GUARD_BYTES));
            size_t bad = 0;
            for (size_t k = 0; k < n; k++)
                bad += elem((qa_rng_dist)d, buf + QA_GUARD_BYTES, k) != scalar((qa_rng_dist)d, 77, 5, off + k);
            QA_CHECK_MSG(bad == 0, "dist %d n %zu: %zu mismatches", d, n, bad);
            free(buf);
        }
    }
    qa_backend_free(be);
}

/* Threaded and reference (single-thread) fills are identical: values depend on index only. */
static void test_threads_identical(void) {
    const size_t n = 300001;
    double *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    qa_rng_fill_ref(QA_RNG_NORMAL, 9, 1, 11, n, a); /* reference: per element */
    qa_rng_fill_cpu(QA_RNG_NORMAL, 9, 1, 11, n, b, 4); /* blocked, 4 threads */
    QA_CHECK(memcmp(a, b, n * sizeof *a) == 0);
    qa_rng_fill_cpu(QA_RNG_NORMAL, 9, 1, 11, n, b, 1);
    QA_CHECK(memcmp(a, b, n * sizeof *a) == 0);
    uint32_t *u = malloc(n * sizeof *u), *v = malloc(n * sizeof *v);
    qa_rng_fill_ref(QA_RNG_U32, 9, 1, 3, n, u);
    qa_rng_fill_cpu(QA_RNG_U32, 9, 1, 3, n, v, 3);
    QA_CHECK(memcmp(u, v, n * sizeof *u) == 0);
    free(u);
    free(v);
    /* A split fill (two halves at different offsets) equals one fill. */
    qa_rng_fill_cpu(QA_RNG_NORMAL, 9, 1, 11, n / 2, b, 2);
    qa_rng_fill_cpu(QA_RNG_NORMAL, 9, 1, 11 + n / 2, n - n / 2, b + n / 2, 2);
    QA_CHECK(memcmp(a, b, n * sizeof *a) == 0);
    free(a);
    free(b);
}

static void test_bad_args(void) {
    qa_backend_t *be = NULL;
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &be));
    QA_CHECK_ERR(qa_rng_fill(be, (qa_rng_dist)99, 1, 1, 0, 4, (void *)&be), QA_ERR_INVALID_ARG, "unknown random");
    QA_CHECK_ERR(qa_rng_fill(be, QA_RNG_U32, 1, 1, 0, 4, NULL), QA_ERR_INVALID_ARG, "NULL output");
    qa_backend_free(be);
}

/* CUDA fills equal the CPU reference. Integer and uniform outputs are exact integer
 * arithmetic and must match bitwise. Normals use log/cos/sin, which differ between
 * glibc (<= 1 ulp) and CUDA (<= 2 ulp for double sin/cos, 1 ulp log): with r <= 8.6
 * the product differs by at most ~4 ulp of 8.6, i.e. < 1e-14 absolute. */
static void test_gpu_parity(void) {
    qa_backend_t *gpu = qa_kernel_test_gpu();
    for (int d = 0; d < QA_RNG_DIST_COUNT; d++) {
        size_t es = qa_rng_elem_size((qa_rng_dist)d);
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            size_t n = sizes[si];
            uint64_t off = offsets[si % (sizeof offsets / sizeof offsets[0])];
            qa_buf dbuf;
            QA_CHECK_OK(qa_buf_alloc(gpu, n * es + 2 * QA_GUARD_BYTES, &dbuf));
            unsigned char *guard = malloc(n * es + 2 * QA_GUARD_BYTES);
            qa_test_guard_fill(guard, n * es + 2 * QA_GUARD_BYTES);
            QA_CHECK_OK(qa_buf_upload(gpu, &dbuf, 0, guard, n * es + 2 * QA_GUARD_BYTES));
            QA_CHECK_OK(qa_rng_fill(gpu, (qa_rng_dist)d, 1234, 99, off, n, (char *)dbuf.ptr + QA_GUARD_BYTES));
            QA_CHECK_OK(qa_backend_sync(gpu));
            unsigned char *got = malloc(n * es + 2 * QA_GUARD_BYTES);
            QA_CHECK_OK(qa_buf_download(gpu, got, &dbuf, 0, n * es + 2 * QA_GUARD_BYTES));
            QA_CHECK(qa_test_guard_intact(got, QA_GUARD_BYTES));
            QA_CHECK(qa_test_guard_intact(got + QA_GUARD_BYTES + n * es, QA_GUARD_BYTES));
            unsigned char *ref = malloc(n * es + 1);
            qa_rng_fill_ref((qa_rng_dist)d, 1234, 99, off, n, ref);
            if (d == QA_RNG_NORMAL) {
                qa_test_near_arrays("normal", (const double *)(got + QA_GUARD_BYTES), (const double *)ref, n, 1e-14, 0);
            } else {
                QA_CHECK_MSG(memcmp(got + QA_GUARD_BYTES, ref, n * es) == 0, "dist %d n %zu differs", d, n);
            }
            free(ref);
            free(got);
            free(guard);
            qa_buf_free(&dbuf);
        }
    }
    qa_backend_free(gpu);
}

int main(int argc, char **argv) {
    static const qa_test_case gpu[] = {QA_CASE(test_gpu_parity)};
    static const qa_test_case cpu[] = {QA_CASE(test_cpu_matches_scalar), QA_CASE(test_threads_identical),
                                       QA_CASE(test_bad_args)};
    return qa_kernel_test_main(argc, argv, QA_CASES(gpu), QA_CASES(cpu));
}
