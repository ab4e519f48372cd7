/* qa train: train an MLP or LSTM on features from the store into a run directory. */
#include <signal.h>  /* sig_atomic_t, strsignal's numbers */
#include <stdio.h>   /* printf */
#include <stdlib.h>  /* strtoll */
#include <string.h>  /* strcmp, strsignal */

#include "cli/args.h"           /* the option table */
#include "cli/cli.h"           /* exit codes */
#include "common/config.h"     /* config + overrides */
#include "common/log.h"        /* the interruption */
#include "mpi/comm.h"          /* MPI context */
#include "pipeline/train/train.h"    /* the training pipeline */
#include "registry/registry.h"   /* --publish */


static void usage(FILE *out) {
    fprintf(out,
            "usage: qa train --config FILE --run-dir DIR [--data FILE] [--backend cpu|cuda|auto]\n"
            "                [--resume] [--max-steps N] [--set key=value]...\n"
            "                [--publish NAME [--alias A] [--registry DIR]]\n\n"
            "Trains an MLP or an LSTM on features of a market file (inputs, forward-return target,\n"
            "time splits with purge and embargo, per-feature normalisation fitted on the training\n"
            "period) and writes a run directory: config.resolved.json, metrics.jsonl, checkpoint.qac,\n"
            "model.qam (best by validation loss), summary.json, report.html, run.log. Runs under\n"
            "mpirun (data parallel: each rank computes shards of the global batch). Config keys and\n"
            "definitions: docs/training.md; the model file: docs/models.md.\n\n"
            "  --config FILE   training config (YAML)\n"
            "  --run-dir DIR   where the run is written (required)\n"
            "  --data FILE     market file (overrides 'data')\n"
            "  --backend B     cpu, cuda or auto (overrides 'backend')\n"
            "  --resume        continue from DIR/checkpoint.qac (bit-identical to an uninterrupted run)\n"
            "  --max-steps N   stop after N steps with a checkpoint (resume later)\n"
            "  --set k=v       override a config key, e.g. --set train.lr=3e-4\n"
            "  --publish NAME  when the run finishes, publish it as the next version of NAME in the\n"
            "                  model registry (docs/registry.md) and print its URI\n"
            "  --alias A       then point alias A (e.g. challenger) at that version\n"
            "  --registry DIR  the registry (default $QA_REGISTRY, else ~/.local/share/quantumalpha/registry)\n");
}

int qa_cmd_train(int argc, char **argv) {
    const char *config = NULL, *data = NULL, *run_dir = NULL, *backend = NULL, *publish = NULL, *alias = NULL,
               *reg_dir = NULL;
    int resume = 0;
    long long max_steps = 0;
    qa_cli_list sets = {.n = 0};
    const qa_cli_opt opts[] = {QA_OPT_STR("config", &config),     QA_OPT_STR("data", &data),
                               QA_OPT_STR("run-dir", &run_dir),   QA_OPT_STR("backend", &backend),
                               QA_OPT_FLAG("resume", &resume),    QA_OPT_INT("max-steps", &max_steps, 1, 9e18),
                               QA_OPT_LIST("set", &sets),         QA_OPT_STR("publish", &publish),
                               QA_OPT_STR("alias", &alias),       QA_OPT_STR("registry", &reg_dir),
                               QA_OPT_END};
    int rc = qa_cli_parse("train", argc, argv, opts, usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    if (!run_dir) return qa_cli_usage_error("train", "give --run-dir DIR");
    if (alias && !publish) return qa_cli_usage_error("train", "--alias needs --publish NAME");
    if (publish && qa_registry_name_check(publish, "model name") != QA_OK)
        return qa_cli_usage_error("train", "--publish: %s", qa_err_msg());
    if (!config && !sets.n) return qa_cli_usage_error("train", "give --config FILE (and/or --set key=value)");
    qa_status st = QA_OK;
    qa_cfg_t *doc = NULL;
    qa_comm_t *comm = NULL;
    qa_train_cfg cfg;
    QA_TRY(qa_train_cfg_default(&cfg));
    QA_TRY(qa_cli_config(config, &sets, "(command line)", &doc));
    QA_TRY(qa_train_cfg_bind(doc, &cfg));
    if (data) cfg.data = data;
    if (backend) cfg.backend = backend;
    cfg.run_dir = run_dir;
    cfg.resume = resume;
    cfg.max_steps = max_steps;
    if (!cfg.data) {
        qa_cfg_free(doc);
        return qa_cli_usage_error("train", "give --data or 'data' in the config");
    }
    QA_TRY(qa_comm_create(&argc, &argv, &comm));
    /* SIGINT, SIGTERM (preemption, scancel) and SIGUSR1 (Slurm's time-limit warning, see
     * jobs/slurm/train.sbatch): every rank stops after its current step with a checkpoint
     * and the command exits 0. Installed before the data load, so a signal then is not
     * fatal either (the run stops after its first step). */
    const volatile sig_atomic_t *stop = NULL;
    QA_TRY(qa_cli_stop_signals(&stop));
    cfg.stop = stop;
    qa_train_result res;
    QA_TRY(qa_train_run(&cfg, comm, argc, argv, &res));
    if (*stop && qa_comm_rank(comm) == 0)
        qa_log_warn("train: interrupted by a signal (%s) at step %lld", strsignal(*stop), res.steps);
    if (publish && qa_comm_rank(comm) == 0) {
        if (*stop || strcmp(res.stop_reason, "max-steps") == 0 || strcmp(res.stop_reason, "interrupted") == 0) {
            qa_log_warn("train: the run stopped early (%s): not published; resume it, then qa registry publish %s --name %s",
                        res.stop_reason, run_dir, publish);
        } else {
            QA_TRY(qa_cli_publish(reg_dir, run_dir, publish, NULL, NULL, alias, "qa train --publish --alias"));
        }
    }
cleanup:
    qa_cfg_free(doc);
    qa_comm_free(comm);
    if (st != QA_OK) return qa_cli_fail("train");
    return QA_EXIT_OK;
}
