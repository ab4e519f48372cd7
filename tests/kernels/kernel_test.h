/* Shared setup for kernel tests: `test_<op> cpu` runs reference checks; `test_<op> gpu`
 * runs CPU<->CUDA parity and exits 77 (skipped) when no GPU is usable. Kernel benchmarks
 * take their GPU backend and their inputs from here too. */
#ifndef QA_TESTS_KERNEL_TEST_H
#define QA_TESTS_KERNEL_TEST_H

#include <string.h>

#include "harness.h"
#include "kernels/backend.h"
#include "kernels/backtest.h" /* qa_bt_rules */

/* Returns 1 for "gpu", 0 for "cpu"; exits 2 on anything else. */
static inline int qa_kernel_test_mode(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "gpu") == 0) return 1;
    if (argc == 2 && strcmp(argv[1], "cpu") == 0) return 0;
    printf("usage: %s cpu|gpu\n", argv[0]);
    exit(2);
}

/* main() of a kernel test: runs the `gpu` cases for "gpu", the `cpu` cases for "cpu";
 * returns the exit status. */
static inline int qa_kernel_test_main(int argc, char **argv, const qa_test_case *gpu, size_t ngpu,
                                      const qa_test_case *cpu, size_t ncpu) {
    if (qa_kernel_test_mode(argc, argv)) qa_test_run_all(gpu, ngpu);
    else qa_test_run_all(cpu, ncpu);
    return qa_test_finish();
}

/* A CUDA backend on device 0, or a skip (exit 77) with the reason. */
static inline qa_backend_t *qa_kernel_test_gpu(void) {
    if (!qa_backend_cuda_compiled()) qa_test_skip("this build has no CUDA backend");
    int n = 0;
    qa_cuda_device_count(&n);
    if (n == 0) qa_test_skip("no CUDA device is available (no driver or no GPU)");
    qa_backend_t *be = NULL;
    if (qa_backend_create(QA_BACKEND_CUDA, 0, &be) != QA_OK) {
        printf("cannot create CUDA backend: %s\n", qa_err_msg());
        exit(1);
    }
    return be;
}

/* A CUDA backend on device 0 for a benchmark's GPU lines, or NULL after printing why
 * there are none. */
static inline qa_backend_t *qa_kernel_bench_gpu(void) {
    int n = 0;
    qa_cuda_device_count(&n);
    qa_backend_t *be = NULL;
    if (n == 0) printf("# cuda: skipped (no GPU)\n");
    else if (qa_backend_create(QA_BACKEND_CUDA, 0, &be) != QA_OK) printf("# cuda: skipped (%s)\n", qa_err_msg());
    return be;
}

/* Plain rules for the backtest kernels' tests and benchmarks: long/short, no stops,
 * fixed size 1, no costs, capital 1e6, windows 20, target vol 0.15, max leverage 2, 252
 * bars per year. Tests set the fields they exercise; the kernels take the flat struct
 * as it is (trading/rules.h fills it in the engines; kernel tests link only kernels). */
static inline qa_bt_rules qa_test_bt_rules(void) {
    qa_bt_rules r = {.direction = QA_BT_LONG_SHORT, .sizing = QA_BT_SIZE_FIXED, .fraction = 1.0, .target_vol = 0.15,
                     .vol_window = 20, .max_leverage = 2.0, .capital = 1e6, .adv_window = 20,
                     .impact_vol_window = 20, .bars_per_year = 252.0};
    return r;
}

#endif
