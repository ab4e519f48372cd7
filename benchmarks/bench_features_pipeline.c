/* qa features end to end on a synthetic file: symbol-bars/s for the default feature set
 * (or a reduced set on a large file), and peak memory against the file size, to show the
 * pipeline streams (memory bounded by one block, not the file).
 *
 * usage: bench_features_pipeline [symbols] [bars] [nfeatures|all] [dir]
 *   default 500 x 5040, all 20 features, /tmp. A file larger than RAM/4 (24 GiB here):
 *   bench_features_pipeline 5000 32000 2 /tmp  -> 6.4 GB of bars. */
#include <string.h>

#include "bench.h"
#include "common/log.h"
#include "datasets/synth.h"
#include "mpi/comm.h"
#include "pipeline/features/features.h"

int main(int argc, char **argv) {
    qa_comm_t *comm = NULL;
    if (qa_comm_create(&argc, &argv, &comm) != QA_OK) return 1;
    long long S = argc > 1 ? atoll(argv[1]) : 500, T = argc > 2 ? atoll(argv[2]) : 5040;
    const char *nf_arg = argc > 3 ? argv[3] : "all";
    const char *dir = argc > 4 ? argv[4] : "/tmp";
    int rank = qa_comm_rank(comm);
    qa_log_set_level(QA_LOG_WARN);
    char path[512];
    snprintf(path, sizeof path, "%s/qa_bench_features.h5", dir);
    qa_synth_cfg sc;
    qa_synth_cfg_default(&sc);
    sc.output = path;
    sc.symbols = S;
    sc.bars = T;
    sc.deflate = 0;
    double gen_s = 0;
    if (qa_synth_run(&sc, comm, &gen_s) != QA_OK) {
        printf("generate: %s\n", qa_err_msg());
        return 1;
    }
    uint64_t rss_before = qa_peak_rss_bytes();
    if (rank == 0) qa_bench_header("qa features pipeline (synthetic file, uncompressed)");
    const char *backends[2] = {"cpu", "cuda"};
    int gpus = 0;
    qa_cuda_device_count(&gpus);
    for (int b = 0; b < (gpus > 0 ? 2 : 1); b++) {
        qa_features_cfg cfg;
        qa_features_cfg_default(&cfg);
        if (strcmp(nf_arg, "all") != 0) {
            size_t k = (size_t)atoi(nf_arg);
            if (k < cfg.nitems) cfg.nitems = k;
        }
        cfg.data = path;
        cfg.backend = backends[b];
        cfg.force = 1;
        qa_features_report rep;
        if (qa_features_run(&cfg, comm, &rep) != QA_OK) {
            printf("features: %s\n", qa_err_msg());
            return 1;
        }
        char size[64], be[32];
        snprintf(size, sizeof size, "%lldx%lld, %zu feat", S, T, cfg.nitems);
        snprintf(be, sizeof be, "%s-%dr", backends[b], qa_comm_size(comm));
        if (rank == 0) {
            /* Model: inputs read once per block plus one write per feature. */
            double bytes = (double)S * T * 8.0 * (5.0 + (double)cfg.nitems);
            qa_bench_result r = {"features_pipeline", be, size, rep.seconds, (double)S * T, "symbol-bars", bytes, 0};
            qa_bench_report(&r);
            printf("# file %.2f GB of bars, peak RSS %.1f MB before / %.1f MB after the run (generation took %.1f s)\n",
                   5.0 * (double)S * T * 8 / 1e9, rss_before / 1e6, qa_peak_rss_bytes() / 1e6, gen_s);
        }
        qa_features_cfg_free(&cfg);
    }
    if (rank == 0) remove(path);
    qa_comm_free(comm);
    return 0;
}
