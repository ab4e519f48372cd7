/* Row-moment throughput (values/s, GB/s read) on a 1 x n vector and a 512 x (n/512)
 * panel, CPU (1 thread, all threads) and CUDA. Model: each double read once; ~8 flops
 * per value (compare, add, min, max, and the second pass's subtract-square-add). */
#include "bench.h"
#include "kernels/backend.h"
#include "kernels/kernel_test.h" /* qa_kernel_bench_gpu */
#include "kernels/reduce.h"
#include "kernels/rng.h"

static double time_reduce(qa_backend_t *be, const double *x, size_t rows, size_t cols, qa_moments *out, int repeats) {
    double t[32];
    qa_reduce_moments(be, x, rows, cols, out);
    for (int r = 0; r < repeats; r++) {
        uint64_t t0 = qa_time_ns();
        qa_reduce_moments(be, x, rows, cols, out);
        t[r] = qa_time_since(t0);
    }
    return qa_bench_median(t, repeats);
}

int main(int argc, char **argv) {
    size_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : (size_t)1 << 25;
    n = (n / 512) * 512;
    qa_bench_header("NaN-aware row moments");
    double *x = malloc(n * sizeof *x);
    qa_moments *out = malloc(512 * sizeof *out);
    qa_backend_t *cpu = NULL;
    qa_backend_create(QA_BACKEND_CPU, 0, &cpu);
    qa_rng_fill(cpu, QA_RNG_NORMAL, 3, 0, 0, n, x);
    const size_t shapes[2][2] = {{1, n}, {512, n / 512}};
    int threads = qa_backend_threads(cpu);
    for (int s = 0; s < 2; s++) {
        char size[48];
        snprintf(size, sizeof size, "%zux%zu", shapes[s][0], shapes[s][1]);
        for (int th = 1; th <= threads; th = th == threads ? threads + 1 : threads) {
            qa_backend_set_threads(cpu, th);
            double t = time_reduce(cpu, x, shapes[s][0], shapes[s][1], out, 5);
            char bname[16];
            snprintf(bname, sizeof bname, "cpu-%dt", th);
            qa_bench_result r = {"reduce_moments", bname, size, t, (double)n, "values", 2.0 * n * 8, 8.0 * n};
            qa_bench_report(&r);
        }
    }
    qa_backend_t *gpu = qa_kernel_bench_gpu();
    qa_buf d;
    if (gpu && qa_buf_alloc(gpu, n * sizeof(double), &d) == QA_OK &&
        qa_buf_upload(gpu, &d, 0, x, n * sizeof(double)) == QA_OK) {
        for (int s = 0; s < 2; s++) {
            char size[48];
            snprintf(size, sizeof size, "%zux%zu", shapes[s][0], shapes[s][1]);
            double t = time_reduce(gpu, d.ptr, shapes[s][0], shapes[s][1], out, 20);
            qa_bench_result r = {"reduce_moments", "cuda", size, t, (double)n, "values", 1.0 * n * 8, 8.0 * n};
            qa_bench_report(&r);
        }
        qa_buf_free(&d);
    }
    qa_backend_free(gpu);
    qa_backend_free(cpu);
    free(x);
    free(out);
    return 0;
}
