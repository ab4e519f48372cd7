/* qa: the QuantumAlpha command line. One binary, one subcommand per capability. */
#include <stdio.h>   /* printf */
#include <stdlib.h>  /* getenv */
#include <string.h>  /* strcmp, strncmp */

#include "build_info.h"       /* version, git hash, enabled backends */
#include "cli/cli.h"          /* command table, exit codes */
#include "common/fs.h"        /* temporary files removed on a stop signal */
#include "common/log.h"       /* log level options */
#include "datasets/h5.h"      /* HDF5 started without its exit-time termination */
#include "kernels/backend.h"  /* backends compiled in */

static const qa_cli_command commands[] = {
    {"info", "show build options, libraries, CPU cores and GPUs", qa_cmd_info},
    {"data", "market data: import, generate, info, validate (HDF5 store)", qa_cmd_data},
    {"features", "compute features into the store (CPU/GPU, MPI, lineage)", qa_cmd_features},
    {"sweep", "backtest parameter sweeps: MPI x GPU, resume, Slurm parts, walk-forward, report", qa_cmd_sweep},
    {"simulate", "event-driven backtest: orders, fills, costs, portfolio accounting", qa_cmd_simulate},
    {"train", "train an MLP/LSTM on store features into a run directory (MPI, GPU)", qa_cmd_train},
    {"rl", "reinforcement learning: PPO on vectorised trading environments, evaluation", qa_cmd_rl},
    {"runs", "experiment tracker: list and show training runs", qa_cmd_runs},
    {"registry", "model registry: publish, versions, aliases, lineage, verify, export/import, events", qa_cmd_registry},
    {"predict", "score a market file with a model (file or models:/ URI) into /predictions", qa_cmd_predict},
    {"evaluate", "out-of-sample IC, accuracy and top-k backtest of a trained model", qa_cmd_evaluate},
    {"bus", "the embedded Kafka-protocol cluster (run, stop) and topic reader (tail)", qa_cmd_bus},
    {"alt", "alternative data: news and tweets, sentiment, aligned series, search, event study", qa_cmd_alt},
    {"replay", "publish a market file's history on market.data (feeds qa live)", qa_cmd_replay},
    {"live", "the live service: market data -> features -> model signals -> position sizes", qa_cmd_live},
    {"stress", "portfolio VaR/ES, stress scenarios, contributions, limits; VaR backtests", qa_cmd_stress},
    {"submit", "submit a batch-script template to Slurm (libslurm); prints the job id", qa_cmd_submit},
    {"jobs", "Slurm jobs: status, wait, cancel (job arrays included)", qa_cmd_jobs},
    {"tca", "post-trade transaction-cost analysis of the live order database", qa_cmd_tca},
    {"exchange", "the paper exchange: the paper venue behind a FIX 4.4 acceptor (for broker fix)", qa_cmd_exchange},
    {"serve", "the HTTP API and web dashboard with users, roles and an audit log", qa_cmd_serve},
    {"users", "users, roles and API keys of qa serve", qa_cmd_users},
    {"audit", "verify the hash chain of qa serve's audit log", qa_cmd_audit},
    {NULL, NULL, NULL},
};

static void print_version(void) {
    printf("qa %s (git %s, %s) backends: cpu%s; mpi: %s\n", QA_VERSION, QA_GIT_HASH, QA_BUILD_TYPE,
           qa_backend_cuda_compiled() ? "+cuda" : "", strcmp(QA_BUILD_MPI, "ON") == 0 ? "on" : "off");
}

static void print_help(FILE *out) {
    fprintf(out,
            "usage: qa [--log-level LEVEL | -v | -q] <command> [options]\n"
            "\n"
            "QuantumAlpha: GPU-first batch platform for quantitative research.\n"
            "\n"
            "commands:\n");
    qa_cli_print_table(out, commands);
    fprintf(out,
            "\n"
            "global options:\n"
            "  --log-level L  debug, info, warn, error or off (default info; env QA_LOG_LEVEL)\n"
            "  -v, --verbose  same as --log-level debug\n"
            "  -q, --quiet    same as --log-level warn\n"
            "  --version      print version, git hash and enabled backends\n"
            "  -h, --help     this help; 'qa <command> --help' for a command\n"
            "\n"
            "exit codes: 0 ok, 1 runtime failure, 2 usage error\n");
}

int main(int argc, char **argv) {
    qa_h5_process_init(); /* first: before MPI_Init (see there) */
    /* A stop signal removes the temporary files of unfinished outputs (commands with a graceful
     * stop of their own install theirs over it). */
    if (qa_fs_tmp_remove_on_signals() != QA_OK) fprintf(stderr, "qa: %s\n", qa_err_msg());
    qa_log_init_from_env();
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_help(stdout);
            return QA_EXIT_OK;
        } else if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
            print_version();
            return QA_EXIT_OK;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            qa_log_set_level(QA_LOG_DEBUG);
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            qa_log_set_level(QA_LOG_WARN);
        } else if (strcmp(a, "--log-level") == 0 || strncmp(a, "--log-level=", 12) == 0) {
            const char *v = a[11] == '=' ? a + 12 : (i + 1 < argc ? argv[++i] : NULL);
            qa_log_level lv;
            if (!v) return qa_cli_usage_error("", "--log-level needs a value"), QA_EXIT_USAGE;
            if (qa_log_parse_level(v, &lv) != QA_OK) {
                fprintf(stderr, "qa: %s\n", qa_err_msg());
                return QA_EXIT_USAGE;
            }
            qa_log_set_level(lv);
        } else {
            fprintf(stderr, "qa: unknown option '%s'\nTry 'qa --help'.\n", a);
            return QA_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        print_help(stderr);
        return QA_EXIT_USAGE;
    }
    if (strcmp(argv[i], "help") == 0) {
        if (i + 1 < argc) {
            char *help_argv[] = {argv[i + 1], "--help", NULL};
            for (const qa_cli_command *c = commands; c->name; c++)
                if (strcmp(c->name, argv[i + 1]) == 0) return c->fn(2, help_argv);
            fprintf(stderr, "qa: unknown command '%s'\nTry 'qa --help'.\n", argv[i + 1]);
            return QA_EXIT_USAGE;
        }
        print_help(stdout);
        return QA_EXIT_OK;
    }
    for (const qa_cli_command *c = commands; c->name; c++) {
        if (strcmp(c->name, argv[i]) == 0) {
            qa_cli_reset_getopt();
            return c->fn(argc - i, argv + i);
        }
    }
    fprintf(stderr, "qa: unknown command '%s'\nTry 'qa --help'.\n", argv[i]);
    return QA_EXIT_USAGE;
}
