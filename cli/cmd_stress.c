/* qa stress: VaR/ES, stress scenarios, contributions and limits of a portfolio; and
 * qa stress backtest: rolling VaR forecasts against realised P&L. */
#include <getopt.h>  /* getopt_long */
#include <math.h>    /* isnan */
#include <stdio.h>   /* printf */
#include <stdlib.h>  /* strtol */
#include <string.h>  /* strcmp */

#include "cli/cli.h"           /* exit codes */
#include "common/config.h"     /* config + overrides */
#include "mpi/comm.h"          /* MPI context */
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
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},  {"portfolio", required_argument, NULL, 'p'},
                                         {"data", required_argument, NULL, 'd'},    {"run-dir", required_argument, NULL, 'r'},
                                         {"backend", required_argument, NULL, 'b'}, {"threads", required_argument, NULL, 't'},
                                         {"set", required_argument, NULL, 'x'},     {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    int backtest = 0;
    if (argc > 1 && strcmp(argv[1], "backtest") == 0) {
        backtest = 1;
        argv[1] = argv[0];
        argc--;
        argv++;
    }
    const char *cmd = backtest ? "stress backtest" : "stress";
    const char *config = NULL, *portfolio = NULL, *data = NULL, *run_dir = NULL, *backend = NULL, *sets[64];
    long threads = -1;
    size_t nsets = 0;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'p': portfolio = optarg; break;
        case 'd': data = optarg; break;
        case 'r': run_dir = optarg; break;
        case 'b': backend = optarg; break;
        case 't': {
            char *end;
            threads = strtol(optarg, &end, 10);
            if (*end || threads < 0 || threads > 4096) return qa_cli_usage_error(cmd, "--threads needs 0..4096");
            break;
        }
        case 'x':
            if (nsets == 64) return qa_cli_usage_error(cmd, "too many --set");
            sets[nsets++] = optarg;
            break;
        case 'h': usage(stdout); return QA_EXIT_OK;
        default: return qa_cli_usage_error(cmd, "unknown option");
        }
    }
    if (optind < argc) return qa_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!run_dir) return qa_cli_usage_error(cmd, "--run-dir is required");
    if (backend && strcmp(backend, "cpu") && strcmp(backend, "cuda") && strcmp(backend, "auto"))
        return qa_cli_usage_error(cmd, "--backend must be cpu, cuda or auto");
    qa_status st = QA_OK;
    qa_cfg_t *doc = NULL;
    qa_comm_t *comm = NULL;
    qa_stress_cfg cfg;
    qa_stress_cfg_default(&cfg);
    /* Errors in the files are reported before MPI starts any work. */
    if (config) QA_TRY(qa_cfg_load(config, &doc));
    else QA_TRY(qa_cfg_parse("(command line)", "", 0, &doc));
    for (size_t i = 0; i < nsets; i++) QA_TRY(qa_cfg_override(doc, sets[i]));
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
