/* End-to-end sweep throughput (`qa sweep` as a library call: config, data load, chunked
 * engine runs with chunk files, merge into results.h5, summary, report) in bar-parameter
 * evaluations per second, for the moving-average-cross grid of 100 combinations (fast
 * 5..50 step 5 x slow 60..240 step 20) over 200 synthetic symbols x 5,040 daily bars and
 * a 10x larger universe, and the overnight grid of 1,790 combinations (fast 5..50 step 5 x
 * slow 60..238 step 1) over the 200 symbols; CPU with 1 thread and all threads, CUDA when
 * a GPU is present. For the first two the kernel alone (qa_bt_run_cpu on the panel in
 * memory, no chunks, files or merge) is timed too: the whole run's share of its rate is
 * what the sweep machinery costs.
 * Run it under `mpirun -np N` for rank scaling (every rank takes part; rank 0 prints).
 * `--memory` runs the bounded-memory case instead: 2,000 symbols x 1,000 sets x 504 bars,
 * a result set of 208 MB (S x P x 13 metrics x 8 bytes), reporting peak RSS against it.
 *
 * Correctness first: metrics of a few (symbol, set) runs in results.h5 are compared with
 * the reference engine run directly on the same data.
 * Work model: ~40 floating-point operations per evaluation (see bench_backtest.c); the
 * multiple-testing pass is off in the throughput cases (it adds a portfolio pass per set).
 * Usage: bench_sweep [symbols] [bars] [repeats] [--memory] [--no-large] */
#include <math.h>
#include <stdio.h>
#include <time.h> /* CLOCK_PROCESS_CPUTIME_ID */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5.h>

#include "bench.h"
#include "common/config.h"
#include "common/log.h"
#include "datasets/store.h"
#include "datasets/synth.h"
#include "kernels/backtest_impl.h" /* the reference engine, called directly */
#include "trading/rules.h"        /* the rules of the check */
#include "mpi/comm.h"
#include "pipeline/sweep/sweep.h"
#include "pipeline/sweep_test.h" /* qa_test_sweep_text: the tests' sweep run (tests/pipeline) */

static const char *cfg_fmt =
    "data: %s\n"
    "strategy: sma_cross\n"
    "grid:\n"
    "  fast: {start: %d, stop: %d, step: %d}\n"
    "  slow: {start: %d, stop: %d, step: %d}\n"
    "settings: {commission_bps: 1, half_spread_bps: 2}\n"
    "multiple_testing: {enabled: false}\n"
    "top: 10\n";

static double cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static qa_status run_once(const char *cfgtext, const char *run_dir, const char *backend, int threads,
                          const qa_comm_t *comm, qa_sweep_report *rep) {
    qa_sweep_opts o;
    qa_sweep_opts_init(&o);
    o.run_dir = run_dir;
    o.backend = backend;
    o.threads = threads;
    return qa_test_sweep_text("bench.yaml", cfgtext, &o, comm, rep);
}

/* The rules of the benchmark's configuration (cfg_fmt) for direct engine calls. */
static void bench_rules(qa_bt_rules *set) {
    qa_rules rules;
    qa_rules_init(&rules);
    rules.bars_per_year = 252;
    rules.costs.commission_bps = 1;
    rules.costs.half_spread_bps = 2;
    qa_rules_to_bt(&rules, set);
}

/* results.h5 metrics of (s, p) against qa_bt_run_reference on the file's closes. */
static int check_results(const char *market, const char *run_dir, size_t T) {
    char res[1024];
    snprintf(res, sizeof res, "%s/results.h5", run_dir);
    hid_t f = H5Fopen(res, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return 0;
    hid_t ds = H5Dopen2(f, "metrics/sharpe", H5P_DEFAULT), pds = H5Dopen2(f, "params", H5P_DEFAULT);
    hid_t sp = H5Dget_space(ds);
    hsize_t d[2];
    H5Sget_simple_extent_dims(sp, d, NULL);
    double *sh = malloc(d[0] * d[1] * sizeof *sh), *par = malloc(d[1] * 2 * sizeof *par);
    H5Dread(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, sh);
    H5Dread(pds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, par);
    H5Sclose(sp);
    H5Dclose(ds);
    H5Dclose(pds);
    H5Fclose(f);
    qa_store_t *st = NULL;
    double *close = malloc(3 * T * sizeof *close);
    int ok = qa_store_open(market, NULL, QA_STORE_READ, &st) == QA_OK &&
             qa_store_read(st, "bars/close", 0, 3, 0, T, close) == QA_OK;
    qa_store_close(st);
    const size_t P = d[1], picks[3] = {0, P / 2, P - 1};
    for (size_t s = 0; s < 3 && ok; s++)
        for (int k = 0; k < 3 && ok; k++) {
            qa_bt_params p = {{par[picks[k] * 2], par[picks[k] * 2 + 1], 0, 0, 0, 0, 0, 0}};
            qa_bt_grid g = {QA_BT_SMA_CROSS, &p, 1};
            qa_bt_rules set;
            bench_rules(&set);
            qa_bt_data dd = {close + s * T, NULL, NULL, NULL, NULL, 1, T, 0, T};
            qa_bt_metrics m;
            if (qa_bt_run_reference(&dd, &g, &set, &m) != QA_OK) ok = 0;
            double got = sh[s * P + picks[k]];
            if (!(fabs(got - m.sharpe) <= 1e-10 * fabs(m.sharpe) + 1e-15)) ok = 0;
        }
    free(sh);
    free(par);
    free(close);
    return ok;
}

/* Evaluations per second of the kernel alone on the market's whole close panel, the
 * sweep's grid and rules, `threads` threads: median of `repeats` runs. 0 on failure. */
static double kernel_rate(const char *market, size_t S, size_t T, int f0, int f1, int fs, int s0, int s1, int ss,
                          int threads, int repeats) {
    size_t P = (size_t)((f1 - f0) / fs + 1) * (size_t)((s1 - s0) / ss + 1);
    double *close = malloc(S * T * sizeof *close);
    qa_bt_params *pr = malloc(P * sizeof *pr);
    qa_bt_metrics *out = malloc(S * P * sizeof *out);
    qa_store_t *st = NULL;
    int ok = close && pr && out && qa_store_open(market, NULL, QA_STORE_READ, &st) == QA_OK &&
             qa_store_read(st, "bars/close", 0, S, 0, T, close) == QA_OK;
    qa_store_close(st);
    double rate = 0, t[16];
    if (ok) {
        size_t n = 0;
        for (int f = f0; f <= f1; f += fs)
            for (int w = s0; w <= s1; w += ss) pr[n++] = (qa_bt_params){{f, w, 0, 0, 0, 0, 0, 0}};
        qa_bt_grid g = {QA_BT_SMA_CROSS, pr, P};
        qa_bt_rules set;
        bench_rules(&set);
        qa_bt_data d = {close, NULL, NULL, NULL, NULL, S, T, 0, T};
        for (int r = 0; r < repeats && ok; r++) {
            uint64_t t0 = qa_time_ns();
            ok = qa_bt_run_cpu(&d, &g, &set, out, threads) == QA_OK;
            t[r] = qa_time_since(t0);
        }
        if (ok) rate = (double)S * (double)P * (double)T / qa_bench_median(t, repeats);
    }
    free(close);
    free(pr);
    free(out);
    return rate;
}

static double file_mb(const char *dir, const char *name) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    double mb = (double)ftell(f) / 1048576.0;
    fclose(f);
    return mb;
}

int main(int argc, char **argv) {
    qa_comm_t *comm = NULL;
    if (qa_comm_create(&argc, &argv, &comm) != QA_OK) return 1;
    const int rank = qa_comm_rank(comm), size = qa_comm_size(comm);
    size_t S = 200, T = 5040;
    int repeats = 3, memory = 0, large = 1, pos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--memory") == 0) memory = 1;
        else if (strcmp(argv[i], "--no-large") == 0) large = 0;
        else if (pos == 0) S = strtoull(argv[i], NULL, 10), pos++;
        else if (pos == 1) T = strtoull(argv[i], NULL, 10), pos++;
        else repeats = atoi(argv[i]), pos++;
    }
    if (repeats < 1 || repeats > 16) repeats = 3;
    qa_log_set_level(QA_LOG_WARN);
    setenv("QA_PROGRESS", "0", 1);
    char dir[256] = "";
    if (rank == 0) {
        snprintf(dir, sizeof dir, "/tmp/qa_bench_sweep_XXXXXX");
        if (!mkdtemp(dir)) return 1;
        qa_bench_header("sweep end to end (bar-parameter evaluations)");
        printf("# ranks %d\n", size);
    }
    qa_comm_bcast(comm, dir, sizeof dir, 0);

    qa_backend_t *probe = NULL;
    int threads = 1, gpus = 0;
    if (qa_backend_create(QA_BACKEND_CPU, 0, &probe) == QA_OK) threads = qa_backend_threads(probe);
    qa_backend_free(probe);
    qa_cuda_device_count(&gpus);

    /* cases: {symbols, bars, fast lo/hi/step, slow lo/hi/step} */
    struct bcase {
        const char *name;
        size_t S, T;
        int f0, f1, fs, s0, s1, ss;
    } cases[4] = {
        {"sweep_sma100", S, T, 5, 50, 5, 60, 240, 20},
        {"sweep_overnight", S, T, 5, 50, 5, 60, 238, 1},
        {"sweep_sma100", 10 * S, T, 5, 50, 5, 60, 240, 20},
        {"sweep_mem_1000", 2000, 504, 2, 51, 1, 60, 250, 10},
    };
    int first = memory ? 3 : 0, last = memory ? 3 : (large ? 2 : 1);
    for (int ci = first; ci <= last; ci++) {
        const struct bcase *bc = &cases[ci];
        char market[512], cfg[1024];
        snprintf(market, sizeof market, "%s/market_%zux%zu.h5", dir, bc->S, bc->T);
        qa_synth_cfg sc;
        qa_synth_cfg_default(&sc);
        sc.output = market;
        sc.symbols = (long long)bc->S;
        sc.bars = (long long)bc->T;
        sc.deflate = 0;
        double gen_s = 0;
        if (qa_synth_run(&sc, comm, &gen_s) != QA_OK) {
            if (rank == 0) printf("# generate: %s\n", qa_err_msg());
            break;
        }
        snprintf(cfg, sizeof cfg, cfg_fmt, market, bc->f0, bc->f1, bc->fs, bc->s0, bc->s1, bc->ss);
        size_t P = (size_t)((bc->f1 - bc->f0) / bc->fs + 1) * (size_t)((bc->s1 - bc->s0) / bc->ss + 1);
        double items = (double)P * (double)bc->S * (double)bc->T;
        char sz[64];
        snprintf(sz, sizeof sz, "%zux%zux%zu", P, bc->S, bc->T);
        const char *backends[3] = {"cpu", "cpu", "cuda"};
        double whole_rate[2] = {0, 0};
        int ths[3] = {1, size > 1 ? 0 : threads, 0};
        for (int b = 0; b < 3; b++) {
            if (b == 2 && gpus == 0) {
                if (rank == 0) printf("# cuda: skipped (no GPU)\n");
                continue;
            }
            if (size > 1 && b == 0) continue; /* under MPI: one configuration, threads = cores / ranks */
            if (memory && b == 0) continue;
            if (b == 1 && ths[1] == 1 && size == 1 && threads == 1) continue;
            double t_total[16], t_comp[16], t_merge[16], cpu_sum = 0;
            int ok = 1;
            for (int r = 0; r < repeats && ok; r++) {
                char run[600];
                snprintf(run, sizeof run, "%s/run_%d_%d_%d", dir, ci, b, r);
                qa_sweep_report rep;
                uint64_t t0 = qa_time_ns();
                double c0 = cpu_seconds();
                if (run_once(cfg, run, backends[b], ths[b], comm, &rep) != QA_OK) {
                    if (rank == 0) printf("# %s %s failed: %s\n", bc->name, backends[b], qa_err_msg());
                    ok = 0;
                    break;
                }
                t_total[r] = qa_time_since(t0);
                cpu_sum += cpu_seconds() - c0;
                t_comp[r] = rep.compute_seconds;
                t_merge[r] = rep.merge_seconds;
                if (rank == 0 && r == 0) {
                    printf("# %s %s: results.h5 vs the reference engine on 3 symbols x 3 sets: %s\n", bc->name,
                           backends[b], check_results(market, run, bc->T) ? "match" : "MISMATCH");
                    if (memory)
                        printf("# memory case: results %.1f MB as S x P x 13 x 8 bytes (results.h5 %.1f MB on disk), "
                               "market panel %.1f MB\n",
                               (double)bc->S * (double)P * 13 * 8 / 1048576.0, file_mb(run, "results.h5"),
                               (double)bc->S * (double)bc->T * 8 / 1048576.0);
                }
                if (rank == 0) {
                    char cmd[700];
                    snprintf(cmd, sizeof cmd, "rm -rf '%s'", run);
                    if (system(cmd) != 0) printf("# could not remove %s\n", run);
                }
            }
            if (!ok) continue;
            double cpu_per_run = cpu_sum / repeats;
            if (b < 2) whole_rate[b] = items / qa_bench_median(t_total, repeats);
            if (rank == 0) {
                char bname[32];
                if (b == 2) snprintf(bname, sizeof bname, "cuda");
                else if (size > 1) snprintf(bname, sizeof bname, "mpi-%dr", size);
                else snprintf(bname, sizeof bname, "cpu-%dt", ths[b] ? ths[b] : threads);
                double tot = qa_bench_median(t_total, repeats), comp = qa_bench_median(t_comp, repeats);
                double mer = qa_bench_median(t_merge, repeats);
                qa_bench_result res = {bc->name, bname, sz, tot, items, "bar-params", (double)bc->S * bc->T * 8.0,
                                       40.0 * items};
                qa_bench_report(&res);
                printf("# %s %s: end to end %.3f s (%.3g evals/s); chunk phase %.3f s (%.3g evals/s); merge + report "
                       "%.3f s; peak RSS %.1f MB\n",
                       bc->name, bname, tot, items / tot, comp, items / comp, mer,
                       (double)qa_peak_rss_bytes() / 1048576.0);
                if (size == 1 && b < 2)
                    printf("# %s %s: %.3g evaluations per CPU-second end to end (%.3f CPU s per run; independent of "
                           "other load on the machine)\n",
                           bc->name, bname, items / cpu_per_run, cpu_per_run);
                fflush(stdout);
            }
        }
        /* After every backend of the case, so the panel and metrics it holds do not show in
         * their peak RSS. */
        for (int b = 0; b < 2 && rank == 0 && size == 1 && ci <= 1; b++) {
            if (whole_rate[b] <= 0) continue;
            int th = ths[b] ? ths[b] : threads;
            double kr = kernel_rate(market, bc->S, bc->T, bc->f0, bc->f1, bc->fs, bc->s0, bc->s1, bc->ss, th, repeats);
            if (kr > 0)
                printf("# %s cpu-%dt: kernel alone %.3g evals/s (the panel in memory); end to end is %.0f%% of it\n",
                       bc->name, th, kr, 100.0 * whole_rate[b] / kr);
            else
                printf("# %s cpu-%dt: kernel alone: %s\n", bc->name, th, qa_err_msg());
            fflush(stdout);
        }
    }
    if (rank == 0) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) printf("# could not remove %s\n", dir);
    }
    qa_comm_free(comm);
    return 0;
}
