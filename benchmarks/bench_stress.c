/* qa stress end to end: the Monte-Carlo engine inside a full `qa stress` run (data read,
 * covariance, Cholesky, the streamed scenario pass, tail contributions, outputs) on a
 * synthetic market of N assets, in the units of the work done (docs/risk.md, "Throughput"):
 *   linear book:  N positions (one per asset) x S scenarios under full revaluation (the
 *                 default): normals, z = L eps (N^2 flops), expm1 per asset, exposure dot:
 *                 scenario x asset revaluations/s (S N per run)
 *   option book:  K European options (full Black-Scholes, spot, vol and rate factors) + K
 *                 linear positions on K assets: option valuations/s (S K per run)
 * CPU with 1 thread and all threads per rank; run under `mpirun -np R` for MPI scaling;
 * CUDA when a GPU is usable. Checks first that the Monte-Carlo VaR of the linear book is
 * within 5 standard errors of the closed-form normal VaR (parametric, same covariance).
 *
 * usage: bench_stress [assets=500] [scenarios=200000] [options=200] [option_scenarios=200000]
 *                     [dir=/tmp] [repeats=1]
 * Peak memory: VmHWM of rank 0 (and the max over ranks in the run's summary). */
#include <math.h>
#include <string.h>

#include "bench.h"
#include "common/log.h"
#include "datasets/store.h"
#include "datasets/synth.h"
#include "common/timeparse.h"
#include "kernels/backend.h"
#include "kernels/risk.h"
#include "mpi/comm.h"
#include "pipeline/stress/stress.h"

/* Portfolio CSVs: linear (one position per asset) and options (K puts/calls + K linear). */
static int write_books(const char *h5, const char *lin, const char *opt, int nopt) {
    qa_store_t *st = NULL;
    if (qa_store_open(h5, NULL, QA_STORE_READ, &st) != QA_OK) return -1;
    size_t S = qa_store_nsym(st), T = qa_store_ntime(st);
    double *last = malloc(S * sizeof *last);
    for (size_t s = 0; s < S; s++) qa_store_read(st, "bars/close", s, 1, T - 1, 1, &last[s]);
    char expiry[32];
    qa_time_format_iso(qa_store_time(st)[T - 1] + 182LL * 86400 * 1000000000LL, expiry, sizeof expiry); /* ~6 months */
    FILE *a = fopen(lin, "w"), *b = fopen(opt, "w");
    if (!a || !b) return -1;
    fprintf(a, "id,symbol,type,quantity\n");
    fprintf(b, "id,symbol,type,quantity,right,strike,expiry,vol,rate\n");
    for (size_t s = 0; s < S; s++) fprintf(a, "p%zu,%s,equity,%d\n", s, qa_store_symbol(st, s), s % 7 == 3 ? -50 : 100);
    for (int k = 0; k < nopt && (size_t)k < S; k++) {
        const char *sym = qa_store_symbol(st, (size_t)k);
        fprintf(b, "l%d,%s,equity,100,,,,,\n", k, sym);
        fprintf(b, "o%d,%s,option,%d,%s,%.4f,%s,%.3f,0.03\n", k, sym, k % 2 ? -3 : 2, k % 2 ? "call" : "put",
                last[k] * (0.9 + 0.2 * (k % 5) / 4.0), expiry, 0.15 + 0.01 * (k % 10));
    }
    fclose(a);
    fclose(b);
    free(last);
    qa_store_close(st);
    return 0;
}

static int run(const qa_comm_t *comm, const char *cfgtext, const char *name, const char *rundir, int threads,
               const char *backend, qa_stress_summary *sum) {
    qa_cfg_t *doc = NULL;
    qa_stress_cfg c;
    qa_stress_cfg_default(&c);
    if (qa_cfg_parse(name, cfgtext, strlen(cfgtext), &doc) != QA_OK || qa_stress_cfg_bind(doc, &c) != QA_OK) {
        printf("config: %s\n", qa_err_msg());
        return -1;
    }
    c.threads = threads;
    c.backend = backend;
    char *argv[1] = {(char *)"bench_stress"};
    qa_status st = qa_stress_run(&c, comm, rundir, 1, argv, sum);
    if (st != QA_OK) printf("stress: %s\n", qa_err_msg());
    qa_stress_cfg_free(&c);
    qa_cfg_free(doc);
    return st == QA_OK ? 0 : -1;
}

int main(int argc, char **argv) {
    qa_comm_t *comm = NULL;
    if (qa_comm_create(&argc, &argv, &comm) != QA_OK) return 1;
    long long N = argc > 1 ? atoll(argv[1]) : 500, S = argc > 2 ? atoll(argv[2]) : 200000;
    int K = argc > 3 ? atoi(argv[3]) : 200;
    long long SO = argc > 4 ? atoll(argv[4]) : 200000;
    const char *dir = argc > 5 ? argv[5] : "/tmp";
    int repeats = argc > 6 ? atoi(argv[6]) : 1;
    int rank = qa_comm_rank(comm), ranks = qa_comm_size(comm);
    qa_log_set_level(QA_LOG_WARN);
    char h5[512], lin[512], opt[512], rd[512];
    snprintf(h5, sizeof h5, "%s/qa_bench_stress.h5", dir);
    snprintf(lin, sizeof lin, "%s/qa_bench_stress_lin.csv", dir);
    snprintf(opt, sizeof opt, "%s/qa_bench_stress_opt.csv", dir);
    snprintf(rd, sizeof rd, "%s/qa_bench_stress_run", dir);
    qa_synth_cfg sc;
    qa_synth_cfg_default(&sc);
    sc.output = h5;
    sc.symbols = N;
    sc.bars = 1600; /* 1,500 returns in the window: a full-rank sample covariance for N <= 1,500 */
    sc.deflate = 0;
    double gen_s = 0;
    if (qa_synth_run(&sc, comm, &gen_s) != QA_OK) {
        printf("generate: %s\n", qa_err_msg());
        return 1;
    }
    int bad = rank == 0 ? write_books(h5, lin, opt, K) : 0;
    qa_comm_bcast(comm, &bad, sizeof bad, 0);
    if (bad) return 1;
    char cfg_lin[2048], cfg_opt[2048], cfg_chk[2048];
    const char *common = "levels: [0.99, 0.975]\nwindow: 1500\ncovariance: {estimator: sample}\n"
                         "scenarios: {historical: []}\ncontributions: {incremental: false}\n";
    snprintf(cfg_lin, sizeof cfg_lin, "portfolio: %s\ndata: %s\n%smethods: [montecarlo]\nmontecarlo: {scenarios: %lld, block: 16384}\n",
             lin, h5, common, S);
    snprintf(cfg_opt, sizeof cfg_opt, "portfolio: %s\ndata: %s\n%smethods: [montecarlo]\nmontecarlo: {scenarios: %lld, block: 16384}\n",
             opt, h5, common, SO);
    /* The check uses the delta approximation, whose P&L is normal (the closed form). */
    snprintf(cfg_chk, sizeof cfg_chk, "portfolio: %s\ndata: %s\n%smethods: [parametric, montecarlo]\nrevaluation: delta\n"
             "montecarlo: {scenarios: %lld, block: 16384}\n",
             lin, h5, common, S < 200000 ? S : 200000);

    /* Correctness first: MC VaR vs the closed-form normal VaR of the same book. */
    qa_stress_summary sum;
    if (run(comm, cfg_chk, "check.yaml", rd, 0, "cpu", &sum) != 0) return 1;
    double a = 0.99, z = qa_risk_norm_ppf(a), sigma = sum.var[QA_STRESS_PARAMETRIC][0] / z;
    double n = S < 200000 ? (double)S : 200000.0, se = sqrt(a * (1 - a) / n) * sigma / qa_risk_norm_pdf(z);
    double dev = (sum.var[QA_STRESS_MONTECARLO][0] - sum.var[QA_STRESS_PARAMETRIC][0]) / se;
    if (rank == 0) printf("# check: MC VaR 99%% %.1f vs normal %.1f (%.2f standard errors)\n", sum.var[QA_STRESS_MONTECARLO][0],
                          sum.var[QA_STRESS_PARAMETRIC][0], dev);
    if (fabs(dev) > 5) {
        if (rank == 0) printf("FAIL: Monte-Carlo VaR is off the closed form\n");
        return 1;
    }
    if (rank == 0) qa_bench_header("qa stress end to end (synthetic market)");
    int gpus = 0;
    qa_cuda_device_count(&gpus);
    int cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    struct {
        const char *backend;
        int threads;
    } cfgs[3] = {{"cpu", 1}, {"cpu", cores}, {"cuda", 0}};
    int ncfg = ranks > 1 ? 1 : (cores > 1 ? 2 : 1); /* under MPI: one thread per rank */
    if (gpus > 0) cfgs[ncfg++] = cfgs[2];
    for (int book = 0; book < 2; book++) {
        for (int k = 0; k < ncfg; k++) {
            double t_all[16], t_mc[16];
            int reps = repeats < 16 ? repeats : 16;
            for (int rep = 0; rep < reps; rep++) {
                if (run(comm, book ? cfg_opt : cfg_lin, "bench.yaml", rd, cfgs[k].threads, cfgs[k].backend, &sum) != 0) return 1;
                t_all[rep] = sum.seconds;
                t_mc[rep] = sum.mc_seconds;
            }
            double s_all = qa_bench_median(t_all, reps), s_mc = qa_bench_median(t_mc, reps);
            double scen = book ? (double)SO : (double)S, pos = (double)sum.positions;
            char be[32], size[64];
            if (cfgs[k].threads) snprintf(be, sizeof be, "%s-%dt-%dr", cfgs[k].backend, cfgs[k].threads, ranks);
            else snprintf(be, sizeof be, "%s-%dr", cfgs[k].backend, ranks);
            snprintf(size, sizeof size, "%.0fx%.0f%s", scen, pos, book ? " opt" : "");
            if (rank == 0) {
                /* Work of the MC pass: linear book S (N^2 + 52 N) flops, counted as S N
                 * scenario x asset revaluations; option book S K Black-Scholes valuations
                 * (~100 flops each) plus the correlation of its factors. */
                double nf = (double)sum.factors;
                double items = book ? scen * (double)K : scen * (double)N;
                const char *unit = book ? "option valuations" : "scenario x asset revaluations";
                double flops = book ? scen * (100.0 * K + nf * nf) : scen * ((double)N * N + 52.0 * N);
                qa_bench_result r1 = {book ? "stress_mc_options" : "stress_mc_linear", be, size, s_mc, items, unit,
                                      scen * nf * 8.0, flops};
                qa_bench_report(&r1);
                qa_bench_result r2 = {book ? "stress_e2e_options" : "stress_e2e_linear", be, size, s_all, items, unit,
                                      0, 0};
                qa_bench_report(&r2);
                (void)pos;
                printf("# peak RSS over ranks %.0f MB (run summary); scenario set %.1f GB if held in memory\n",
                       sum.peak_rss_mb, scen * (double)sum.factors * 8.0 / 1e9);
            }
        }
    }
    if (rank == 0) {
        remove(h5);
        remove(lin);
        remove(opt);
    }
    qa_comm_free(comm);
    return 0;
}
