/* Backtest sweep throughput in bar-parameter evaluations per second (symbols x
 * parameter sets x bars of the range) for a moving-average-cross grid of 100
 * combinations (10 fast x 10 slow SMA windows) over 200 symbols x 5,040 daily bars, and
 * a 10x larger case (2,000 symbols); CPU with 1 thread and all threads, CUDA when a GPU
 * is present; plus a z-score grid with stops and vol targeting as a "full rules" case.
 *
 * Correctness first: the optimised (and CUDA) results of the first symbols are compared
 * with the reference, and one combination's metrics are printed.
 * Work model: ~40 floating-point operations per bar-parameter evaluation (signal,
 * position, P&L with costs, 8 accumulators, equity path); bytes: the close panel is
 * read once per run (the per-bar work is compute-bound). Usage:
 *   bench_backtest [symbols] [bars] [repeats] */
#include <math.h>
#include <time.h>  /* clock_gettime(CLOCK_PROCESS_CPUTIME_ID) */

#include "bench.h"
#include "common/philox.h"
#include "kernels/backend.h"
#include "kernels/backtest_impl.h" /* the reference engine, called directly */
#include "kernels/kernel_test.h" /* qa_test_bt_rules */

/* Random walks with 2% daily vol; 1% NaN gaps. */
static double *make_close(size_t S, size_t T, uint64_t seed) {
    double *c = malloc(S * T * sizeof *c);
    for (size_t s = 0; s < S; s++) {
        double x = 20.0 + 80.0 * qa_rng_uniform(seed, 1, s);
        for (size_t t = 0; t < T; t++) {
            x *= exp(0.02 * qa_rng_normal(seed, 2, s * T + t));
            c[s * T + t] = qa_rng_uniform(seed, 3, s * T + t) < 0.01 ? NAN : x;
        }
    }
    return c;
}

static int same_metrics(const qa_bt_metrics *a, const qa_bt_metrics *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (a[i].trades != b[i].trades || a[i].bars != b[i].bars) return 0;
        if (fabs(a[i].total_return - b[i].total_return) > 1e-12 * fabs(b[i].total_return) + 1e-15) return 0;
        if (!(fabs(a[i].sharpe - b[i].sharpe) <= 1e-10 * fabs(b[i].sharpe) + 1e-15) &&
            !(isnan(a[i].sharpe) && isnan(b[i].sharpe)))
            return 0;
    }
    return 1;
}

typedef struct bench_case {
    const char *name;
    qa_bt_strategy strategy;
    qa_bt_params *params;
    size_t count;
    qa_bt_rules set;
} bench_case;

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Process CPU seconds of the last time_run per repeat: on a machine shared with other
 * jobs the wall-clock median includes time-slicing, CPU time does not. */
static double g_cpu_per_run;

static double time_run(qa_backend_t *be, const qa_bt_data *d, const bench_case *bc, qa_bt_metrics *out, int repeats) {
    qa_bt_grid g = {bc->strategy, bc->params, bc->count};
    double t[16];
    if (qa_bt_run(be, d, &g, &bc->set, out, NULL, 0) != QA_OK) {
        printf("# %s failed: %s\n", bc->name, qa_err_msg());
        return NAN;
    }
    double c0 = cpu_seconds();
    for (int r = 0; r < repeats; r++) {
        uint64_t t0 = qa_time_ns();
        qa_bt_run(be, d, &g, &bc->set, out, NULL, 0);
        if (qa_backend_kind_of(be) == QA_BACKEND_CUDA) qa_backend_sync(be);
        t[r] = qa_time_since(t0);
    }
    g_cpu_per_run = (cpu_seconds() - c0) / repeats;
    return qa_bench_median(t, repeats);
}

static void report(const bench_case *bc, const char *backend, size_t S, size_t T, double secs) {
    char size[64];
    snprintf(size, sizeof size, "%zux%zux%zu", bc->count, S, T);
    double items = (double)bc->count * (double)S * (double)T;
    qa_bench_result r = {bc->name, backend, size, secs, items, "bar-params", (double)S * (double)T * 8.0, 40.0 * items};
    qa_bench_report(&r);
}

int main(int argc, char **argv) {
    size_t S = argc > 1 ? strtoull(argv[1], NULL, 10) : 200;
    size_t T = argc > 2 ? strtoull(argv[2], NULL, 10) : 5040;
    int repeats = argc > 3 ? atoi(argv[3]) : 5;
    if (repeats < 1 || repeats > 16) repeats = 5;
    qa_bench_header("backtest sweep (bar-parameter evaluations)");

    /* MA grid: fast 5..50 step 5, slow 60..240 step 20 */
    qa_bt_params ma[100];
    memset(ma, 0, sizeof ma);
    for (int i = 0; i < 100; i++) {
        const int tier = 1 + i / 10; /* ten sets per window length */
        ma[i].p[0] = 5.0 * tier;
        ma[i].p[1] = 60.0 + 20.0 * (i % 10);
    }
    /* z-score grid with stops and vol targeting: windows 10..100, entry 1..2.8 */
    qa_bt_params zs[100];
    memset(zs, 0, sizeof zs);
    for (int i = 0; i < 100; i++) {
        const int tier = 1 + i / 10; /* ten sets per window length */
        zs[i].p[0] = 10.0 * tier;
        zs[i].p[1] = 1.0 + 0.2 * (i % 10);
        zs[i].p[2] = 0.25;
    }
    bench_case cases[2] = {{"sma_cross_100", QA_BT_SMA_CROSS, ma, 100, {0}}, {"zscore_full_100", QA_BT_ZSCORE, zs, 100, {0}}};
    cases[0].set = qa_test_bt_rules();
    cases[0].set.commission_bps = 1.0;
    cases[0].set.half_spread_bps = 2.0;
    cases[1].set = qa_test_bt_rules();
    cases[1].set.commission_bps = 1.0;
    cases[1].set.stop_loss = 0.05;
    cases[1].set.take_profit = 0.1;
    cases[1].set.sizing = QA_BT_SIZE_VOL_TARGET;
    cases[1].set.vol_window = 20;

    qa_backend_t *cpu = NULL;
    if (qa_backend_create(QA_BACKEND_CPU, 0, &cpu) != QA_OK) return 1;
    const int threads = qa_backend_threads(cpu);
    int gpus = 0;
    qa_cuda_device_count(&gpus);
    qa_backend_t *gpu = NULL;
    if (gpus > 0 && qa_backend_create(QA_BACKEND_CUDA, 0, &gpu) != QA_OK) gpu = NULL;

    const size_t sizes[2] = {S, 10 * S};
    for (int z = 0; z < 2; z++) {
        size_t SS = sizes[z];
        double *close = make_close(SS, T, 42);
        qa_bt_data d = {close, NULL, NULL, NULL, NULL, SS, T, 0, T};
        qa_bt_metrics *out = malloc(SS * 100 * sizeof *out), *ref = malloc(3 * 100 * sizeof *ref);
        for (int ci = 0; ci < 2; ci++) {
            const bench_case *bc = &cases[ci];
            if (z == 1 && ci == 1) continue; /* the large case runs the MA grid only */
            qa_bt_grid g = {bc->strategy, bc->params, bc->count};
            /* correctness: reference on the first 3 symbols vs the optimised engine */
            qa_bt_data d3 = d;
            d3.symbols = 3;
            qa_bt_run_reference(&d3, &g, &bc->set, ref);
            qa_bt_run_cpu(&d3, &g, &bc->set, out, threads);
            int ok = same_metrics(out, ref, 300);
            printf("# %s: optimised vs reference on 3 symbols: %s\n", bc->name, ok ? "match" : "MISMATCH");
            if (z == 0)
                printf("# %s symbol 0 set 37 (%g, %g): total %.6f cagr %.6f sharpe %.6f maxdd %.6f trades %lld\n",
                       bc->name, bc->params[37].p[0], bc->params[37].p[1], ref[37].total_return, ref[37].cagr,
                       ref[37].sharpe, ref[37].max_drawdown, (long long)ref[37].trades);
            for (int th = 1; th <= threads; th = th == threads ? threads + 1 : threads) {
                qa_backend_set_threads(cpu, th);
                double secs = time_run(cpu, &d, bc, out, z == 1 ? (repeats > 3 ? 3 : repeats) : repeats);
                char bname[16];
                snprintf(bname, sizeof bname, "cpu-%dt", th);
                report(bc, bname, SS, T, secs);
                printf("# %s %s: %.3g evaluations per CPU-second (%.3f CPU s per run)\n", bc->name, bname,
                       (double)bc->count * (double)SS * (double)T / g_cpu_per_run, g_cpu_per_run);
            }
            if (gpu) {
                qa_buf dc;
                if (qa_buf_alloc(gpu, SS * T * sizeof(double), &dc) == QA_OK &&
                    qa_buf_upload(gpu, &dc, 0, close, SS * T * sizeof(double)) == QA_OK) {
                    qa_bt_data dg = d;
                    dg.close = dc.ptr;
                    qa_bt_data dg3 = dg;
                    dg3.symbols = 3;
                    qa_bt_metrics g3[300];
                    int gok = qa_bt_run(gpu, &dg3, &g, &bc->set, g3, NULL, 0) == QA_OK && same_metrics(g3, ref, 300);
                    printf("# %s: cuda vs reference on 3 symbols: %s\n", bc->name, gok ? "match" : "MISMATCH");
                    double secs = time_run(gpu, &dg, bc, out, 10);
                    report(bc, "cuda", SS, T, secs);
                } else {
                    printf("# cuda: %s\n", qa_err_msg());
                }
                qa_buf_free(&dc);
            }
        }
        if (!gpu) printf("# cuda: skipped (no GPU)\n");
        free(out);
        free(ref);
        free(close);
    }
    qa_backend_free(gpu);
    qa_backend_free(cpu);
    return 0;
}
