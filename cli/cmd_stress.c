/* qa stress: VaR/ES, stress scenarios, contributions and limits of a portfolio; and
 * qa stress backtest: rolling VaR forecasts against realised P&L. */
#include <math.h>    /* isnan */
#include <stdio.h>   /* printf */
#include <string.h>  /* strcmp */

#include "cli/args.h"          /* the option table */
#include "cli/cli.h"           /* exit codes */
#include "common/config.h"     /* config + overrides */
#include "mpi/comm.h"          /* MPI context */
#include "kernels/backend.h"    /* backend names */
#include "pipeline/stress/stress.h"   /* the pipeline */

static void usage(FILE *out) {
    fprintf(out,
            "usage: qa stress [backtest] --run-dir DIR [--config FILE] [--portfolio FILE] [--data FILE]\n"
            "                 [--backend cpu|cuda|auto] [--threads N] [--set key=value]...\n\n"
            "Risk of a portfolio over a market file: historical, filtered historical, parametric and\n"
            "Monte-Carlo VaR/ES at several levels, stressed VaR, component/marginal/incremental VaR per\n"
            "position, historical replays (2008, 2020, 2022...), hypothetical shocks propagated through\n"
            "the covariance, reverse stress and limits (alerts.jsonl). Runs under mpirun/srun: VaR/ES are\n"
            "identical for any number of ranks. 'qa stress backtest' compares rolling VaR forecasts with\n"
            "realised P&L (Kupiec, Christoffersen). Portfolio format and config keys: docs/risk.md.\n\n"
            "  --run-dir DIR     run directory (results.h5, summary.json, report.html, alerts.jsonl, run.log)\n"
            "  --config FILE     stress config (YAML); may name 'portfolio' and 'data'\n"
            "  --portfolio FILE  portfolio (CSV or YAML); overrides the config\n"
            "  --data FILE       market file (HDF5); overrides the config\n"
            "  --backend B       cpu, cuda or auto (scenario revaluation)\n"
            "  --threads N       CPU threads per rank (0 = all)\n"
            "  --set key=value   override a config key (e.g. --set montecarlo.scenarios=1000000)\n");
}

int qa_cmd_stress(int argc, char **argv) {
    int backtest = 0;
    if (argc > 1 && strcmp(argv[1], "backtest") == 0) {
        backtest = 1;
        argv[1] = argv[0];
        argc--;
        argv++;
    }
    const char *cmd = backtest ? "stress backtest" : "stress";
    const char *config = NULL, *portfolio = NULL, *data = NULL, *run_dir = NULL, *backend = NULL;
    long long threads = -1;
    qa_cli_list sets = {.n = 0};
    const qa_cli_opt opts[] = {QA_OPT_STR("config", &config),
                               QA_OPT_STR("portfolio", &portfolio),
                               QA_OPT_STR("data", &data),
                               QA_OPT_STR("run-dir", &run_dir),
                               QA_OPT_CHOICE("backend", &backend, qa_backend_choices),
                               QA_OPT_INT("threads", &threads, 0, 4096),
                               QA_OPT_LIST("set", &sets),
                               QA_OPT_END};
    int rc = qa_cli_parse(cmd, argc, argv, opts, usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    if (!run_dir) return qa_cli_usage_error(cmd, "--run-dir is required");
    qa_status st = QA_OK;
    qa_cfg_t *doc = NULL;
    qa_comm_t *comm = NULL;
    qa_stress_cfg cfg;
    qa_stress_cfg_default(&cfg);
    /* Errors in the files are reported before MPI starts any work. */
    QA_TRY(qa_cli_config(config, &sets, "(command line)", &doc));
    QA_TRY(qa_stress_cfg_bind(doc, &cfg));
    if (portfolio) cfg.portfolio = portfolio;
    if (data) cfg.data = data;
    if (backend) cfg.backend = backend;
    if (threads >= 0) cfg.threads = (int)threads;
    if (!cfg.portfolio || !cfg.data) {
        qa_stress_cfg_free(&cfg);
        qa_cfg_free(doc);
        return qa_cli_usage_error(cmd, "give --portfolio and --data (or 'portfolio' and 'data' in the config)");
    }
    QA_TRY(qa_comm_create(&argc, &argv, &comm));
    if (backtest) {
        QA_TRY(qa_stress_backtest(&cfg, comm, run_dir, argc, argv));
    } else {
        qa_stress_summary sum;
        QA_TRY(qa_stress_run(&cfg, comm, run_dir, argc, argv, &sum));
        if (qa_comm_rank(comm) == 0 && sum.breaches)
            fprintf(stderr, "qa stress: %zu limit breach(es), %zu warning(s): see %s/alerts.jsonl\n", sum.breaches,
                    sum.warnings, run_dir);
    }
cleanup:
    qa_stress_cfg_free(&cfg);
    qa_cfg_free(doc);
    qa_comm_free(comm);
    if (st != QA_OK) return qa_cli_fail(cmd);
    return QA_EXIT_OK;
}
