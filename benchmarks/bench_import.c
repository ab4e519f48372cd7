/* CSV import throughput (rows/s, MB/s of uncompressed CSV) for a preset over a data
 * root, with 1 OpenMP thread and with all threads (and under mpirun with N ranks).
 *
 * usage: bench_import [data-root] [preset] [keep_mb] [deflate_level]   (defaults:
 *        ../shared/datasets sp500-daily, the preset's keep_mb, the importer's level 4;
 *        another level is named in the backend, "... deflate 0")
 *
 * MB is the uncompressed CSV the import read: each file once while the importer keeps
 * pass-1 values (keep_mb), twice for files read again (keep_mb 0, the streaming path,
 * is reported as backend "... read twice"). The
 * pandas baseline over the same files is benchmarks/bench_import_pandas.py. */
#include <omp.h>
#include <stdlib.h> /* atoll */
#include <string.h>

#include "bench.h"
#include "common/config.h"
#include "common/log.h"
#include "datasets/import.h"
#include "mpi/comm.h"

int main(int argc, char **argv) {
    qa_comm_t *comm = NULL;
    if (qa_comm_create(&argc, &argv, &comm) != QA_OK) return 1;
    const char *root = argc > 1 ? argv[1] : "../shared/datasets";
    const char *preset = argc > 2 ? argv[2] : "sp500-daily";
    int rank = qa_comm_rank(comm), size = qa_comm_size(comm);
    if (rank == 0) qa_bench_header("CSV import");
    const char *text = qa_import_preset_text(preset);
    qa_cfg_t *doc = NULL;
    qa_import_cfg cfg;
    qa_import_cfg_default(&cfg);
    if (!text || qa_cfg_parse(preset, text, strlen(text), &doc) != QA_OK ||
        qa_cfg_bind(doc, qa_cfg_root(doc), qa_import_schema, &cfg, NULL) != QA_OK) {
        printf("bad preset: %s\n", qa_err_msg());
        return 1;
    }
    if (argc > 3) cfg.keep_mb = atoll(argv[3]);
    if (argc > 4) cfg.deflate_level = atoll(argv[4]);
    char level[32] = "";
    if (cfg.deflate_level != 4) snprintf(level, sizeof level, " deflate %lld", cfg.deflate_level);
    char in[4096];
    snprintf(in, sizeof in, "%s/%s", root, ((const char **)cfg.files.items)[0]);
    const char *files[1] = {in};
    cfg.files.items = files;
    cfg.files.n = 1;
    cfg.output = "/tmp/qa_bench_import.h5";
    cfg.report = "/tmp/qa_bench_import.anomalies.csv";
    qa_log_set_level(QA_LOG_ERROR);
    int maxt = omp_get_max_threads();
    for (int th = 1; th <= maxt; th = th == maxt ? maxt + 1 : maxt) {
        omp_set_num_threads(th);
        double t[3];
        qa_import_report rep = {0};
        for (int k = 0; k < 3; k++) {
            if (qa_import_run(&cfg, comm, &rep) != QA_OK) {
                printf("import failed: %s\n", qa_err_msg());
                return 1;
            }
            t[k] = rep.seconds;
        }
        double med = qa_bench_median(t, 3);
        /* Each rank's report counts its own files: sum them so that rows/s is the job's. */
        int64_t sums[2] = {(int64_t)rep.rows, (int64_t)rep.bytes};
        if (qa_comm_allreduce_sum_i64(comm, sums, 2) != QA_OK) {
            printf("allreduce failed: %s\n", qa_err_msg());
            return 1;
        }
        rep.rows = (unsigned long long)sums[0];
        rep.bytes = (unsigned long long)sums[1];
        char backend[64], sz[64];
        snprintf(backend, sizeof backend, "%dr x %dt%s%s", size, th, cfg.keep_mb ? "" : " read twice", level);
        snprintf(sz, sizeof sz, "%zu sym, %.0f MB csv", rep.symbols, (double)rep.bytes / 1e6);
        if (rank == 0) {
            qa_bench_result r = {preset, backend, sz, med, (double)rep.rows, "rows", (double)rep.bytes, 0};
            qa_bench_report(&r);
        }
    }
    if (rank == 0) {
        remove(cfg.output);
        remove(cfg.report);
    }
    qa_cfg_free(doc);
    qa_comm_free(comm);
    return 0;
}
