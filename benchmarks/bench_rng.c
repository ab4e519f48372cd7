/* Philox fill throughput: numbers/s and GB/s written, CPU (1 thread, all threads) and
 * CUDA. Model: each number is written once (4 or 8 bytes); Philox costs 10 rounds of
 * two 32x32->64 multiplies per 4 words. */
#include "bench.h"
#include "kernels/backend.h"
#include "kernels/kernel_test.h" /* qa_kernel_bench_gpu */
#include "kernels/rng.h"

static double time_fill(qa_backend_t *be, qa_rng_dist d, size_t n, void *out, int repeats) {
    double t[32];
    qa_rng_fill(be, d, 1, 2, 0, n, out); /* warm-up */
    qa_backend_sync(be);
    for (int r = 0; r < repeats; r++) {
        uint64_t t0 = qa_time_ns();
        qa_rng_fill(be, d, 1, 2, (uint64_t)r * n, n, out);
        qa_backend_sync(be);
        t[r] = qa_time_since(t0);
    }
    return qa_bench_median(t, repeats);
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : (size_t)1 << 25;
    qa_bench_header("Philox-4x32-10 fills");
    static const qa_rng_dist dists[] = {QA_RNG_U32, QA_RNG_UNIFORM, QA_RNG_NORMAL};
    static const char *names[] = {"rng_u32", "rng_uniform_f64", "rng_normal_f64"};
    char size[32];
    snprintf(size, sizeof size, "n=%zu", n);
    void *host = malloc(n * sizeof(double));
    qa_backend_t *cpu = NULL;
    qa_backend_create(QA_BACKEND_CPU, 0, &cpu);
    int threads = qa_backend_threads(cpu);
    for (int k = 0; k < 3; k++) {
        size_t es = qa_rng_elem_size(dists[k]);
        for (int th = 1; th <= threads; th = th == threads ? threads + 1 : threads) {
            qa_backend_set_threads(cpu, th);
            double s = time_fill(cpu, dists[k], n, host, 5);
            char bname[16];
            snprintf(bname, sizeof bname, "cpu-%dt", th);
            qa_bench_result r = {names[k], bname, size, s, (double)n, "numbers", (double)(n * es), 0};
            qa_bench_report(&r);
        }
    }
    qa_backend_t *gpu = qa_kernel_bench_gpu();
    qa_buf d;
    if (gpu && qa_buf_alloc(gpu, n * sizeof(double), &d) == QA_OK) {
        for (int k = 0; k < 3; k++) {
            double s = time_fill(gpu, dists[k], n, d.ptr, 20);
            qa_bench_result r = {names[k], "cuda", size, s, (double)n, "numbers",
                                 (double)(n * qa_rng_elem_size(dists[k])), 0};
            qa_bench_report(&r);
        }
        qa_buf_free(&d);
    }
    qa_backend_free(gpu);
    qa_backend_free(cpu);
    free(host);
    return 0;
}
