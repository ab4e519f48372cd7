/* qa features: compute a declared feature set into a market file's /features group. */
#include <stdio.h>   /* printf */

#include "cli/args.h"           /* the option table */
#include "cli/cli.h"             /* exit codes */
#include "common/config.h"       /* config + overrides */
#include "common/log.h"          /* summary */
#include "mpi/comm.h"            /* MPI context */
#include "pipeline/features/features.h"   /* the pipeline */

static void usage(FILE *out) {
    fprintf(out,
            "usage: qa features [--config FILE] [--data FILE] [--backend cpu|cuda|auto] [--force]\n"
            "                   [--reference] [--set key=value]...\n\n"
            "Computes features (returns, rolling mean/std/z-score, EMA, RSI, MACD, ATR, Bollinger %%B,\n"
            "Donchian, volume z-score, cross-sectional rank/z-score) into /features/<name> with\n"
            "lineage attributes; up-to-date features are skipped, stale ones recomputed. Without a\n"
            "config the default set is computed. Runs under mpirun (symbols are sharded over ranks)\n"
            "and on a GPU with --backend cuda. Config keys: docs/features.md.\n\n"
            "  --config FILE   feature set (YAML): data, backend, block_bars, block_symbols,\n"
            "                  default_set, features: [{name, kind, field, window, ...}]\n"
            "  --data FILE     market file (overrides the config)\n"
            "  --backend B     cpu, cuda or auto (default auto: a GPU when one is usable)\n"
            "  --force         recompute features that are up to date\n"
            "  --reference     use the plain CPU reference kernels (slow; for checking)\n");
}

int qa_cmd_features(int argc, char **argv) {
    const char *config = NULL, *data = NULL, *backend = NULL;
    int force = 0, reference = 0;
    qa_cli_list sets = {.n = 0};
    const qa_cli_opt opts[] = {QA_OPT_STR("config", &config),     QA_OPT_STR("data", &data),
                               QA_OPT_STR("backend", &backend),   QA_OPT_FLAG("force", &force),
                               QA_OPT_FLAG("reference", &reference), QA_OPT_LIST("set", &sets),
                               QA_OPT_END};
    int rc = qa_cli_parse("features", argc, argv, opts, usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    qa_status st = QA_OK;
    qa_cfg_t *doc = NULL;
    qa_comm_t *comm = NULL;
    qa_features_cfg cfg;
    QA_TRY(qa_features_cfg_default(&cfg));
    if (config || sets.n) {
        QA_TRY(qa_cli_config(config, &sets, "(command line)", &doc));
        QA_TRY(qa_features_cfg_bind(doc, &cfg));
    }
    if (data) cfg.data = data;
    if (backend) cfg.backend = backend;
    if (force) cfg.force = 1;
    if (reference) cfg.reference = 1;
    if (!cfg.data) {
        qa_features_cfg_free(&cfg);
        qa_cfg_free(doc);
        return qa_cli_usage_error("features", "give --data or 'data' in the config");
    }
    QA_TRY(qa_comm_create(&argc, &argv, &comm));
    qa_features_report rep;
    QA_TRY(qa_features_run(&cfg, comm, &rep));
    if (qa_comm_rank(comm) == 0)
        qa_log_info("features: %zu computed, %zu up to date, %zu symbols x %zu bars on %s (%d rank(s)) in %.2f s "
                    "(%.3g symbol-bars/s per feature set)",
                    rep.computed, rep.up_to_date, rep.symbols, rep.bars, rep.backend, qa_comm_size(comm), rep.seconds,
                    rep.symbol_bars_per_s);
cleanup:
    qa_features_cfg_free(&cfg);
    qa_cfg_free(doc);
    qa_comm_free(comm);
    if (st != QA_OK) return qa_cli_fail("features");
    return QA_EXIT_OK;
}
