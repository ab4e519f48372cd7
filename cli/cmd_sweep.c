/* qa sweep: backtest parameter sweeps (MPI x GPU, checkpointed, Slurm-array parts),
 * `qa sweep merge` for the parts, `qa sweep walkforward`. */
#include <signal.h>  /* SIGTERM: finish the current chunk and stop */
#include <stdio.h>   /* printf */
#include <stdlib.h>  /* strtol */
#include <string.h>  /* strcmp */

#include "cli/args.h"          /* the option table */
#include "cli/cli.h"          /* exit codes */
#include "common/config.h"    /* config + overrides */
#include "common/log.h"       /* summary line */
#include "mpi/comm.h"         /* MPI context */
#include "pipeline/sweep/sweep.h"   /* the sweep */

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) {
    (void)sig;
    g_stop = 1;
}

static void usage(FILE *out) {
    fprintf(out,
            "usage: qa sweep --config FILE [--data FILE] [--run-dir DIR] [--backend cpu|cuda|auto]\n"
            "                [--set key=value]... [--chunk I/K] [--max-chunks N] [--threads N] [--reference] [--check]\n"
            "       qa sweep merge --config FILE --run-dir DIR [--chunks K] [--data FILE] [--set key=value]...\n"
            "       qa sweep walkforward --config FILE ...   (the same run; the config must have walk_forward)\n\n"
            "Runs a strategy over a parameter grid (lists, ranges or random search) for every selected\n"
            "symbol of a market file: metrics of every (symbol, set), portfolio per set, walk-forward\n"
            "optimisation, deflated Sharpe ratio and Reality Check / SPA, into RUN_DIR: results.h5,\n"
            "summary.json, top.csv, report.html. Runs under mpirun/srun (chunks dealt to ranks, one GPU\n"
            "per rank); a killed run resumes from RUN_DIR. Config keys: docs/sweep.md.\n\n"
            "  --config FILE    sweep configuration (YAML)\n"
            "  --data FILE      market file (overrides the config's data)\n"
            "  --run-dir DIR    run directory (default runs/sweep-<config hash>)\n"
            "  --backend B      cpu, cuda or auto (default: the config's, else auto)\n"
            "  --set k=v        override a config key (repeatable)\n"
            "  --chunk I/K      compute only part I (0-based) of K equal parts of the work (Slurm array task);\n"
            "                   then 'qa sweep merge'\n"
            "  --chunks K       merge: the part count the parts ran with (names missing parts)\n"
            "  --max-chunks N   stop after computing N chunks (testing resume); rerun to continue\n"
            "  --chunk-delay-ms MS  pause after each chunk (testing preemption/requeue/cancel)\n"
            "  --threads N      CPU threads per rank (default: cores / ranks on the node)\n"
            "  --reference      CPU reference engine (slow; for checks)\n"
            "  --check          validate the config against the data and print the work layout\n"
            "SIGTERM/SIGUSR1: finish the current chunk, exit 1; the run directory keeps what was done.\n");
}

static int parse_part(const char *s, int *part, int *parts) {
    char *e = NULL;
    long a = strtol(s, &e, 10);
    if (e == s || *e != '/') return 0;
    const char *s2 = e + 1;
    long b = strtol(s2, &e, 10);
    if (e == s2 || *e != '\0' || b < 1 || a < 0 || a >= b || b > 1000000) return 0;
    *part = (int)a;
    *parts = (int)b;
    return 1;
}

int qa_cmd_sweep(int argc, char **argv) {
    const char *mode = "run";
    int argc0 = argc;
    char **argv0 = argv;
    if (argc > 1 && (strcmp(argv[1], "merge") == 0 || strcmp(argv[1], "walkforward") == 0)) {
        mode = argv[1];
        argc--;
        argv++;
    }
    const char *config = NULL, *part = NULL;
    long long chunks = 0, threads = 0;
    int check = 0;
    char run_dir_buf[512];
    qa_cli_list sets = {.n = 0};
    qa_sweep_opts o;
    qa_sweep_opts_init(&o);
    o.command = strcmp(mode, "merge") == 0 ? "sweep merge" : "sweep";
    o.argc = argc0;
    o.argv = argv0;
    const qa_cli_opt opts[] = {QA_OPT_STR("config", &config),
                               QA_OPT_STR("data", &o.data),
                               QA_OPT_STR("run-dir", &o.run_dir),
                               QA_OPT_STR("backend", &o.backend),
                               QA_OPT_LIST("set", &sets),
                               QA_OPT_STR("chunk", &part),
                               QA_OPT_INT("chunks", &chunks, 1, 1e6),
                               QA_OPT_INT("max-chunks", &o.max_chunks, 1, 9e18),
                               QA_OPT_INT("chunk-delay-ms", &o.chunk_delay_ms, 0, 3.6e6),
                               QA_OPT_INT("threads", &threads, 1, 4096),
                               QA_OPT_FLAG("reference", &o.reference),
                               QA_OPT_FLAG("check", &check),
                               QA_OPT_END};
    int rc = qa_cli_parse("sweep", argc, argv, opts, usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    if (part && !parse_part(part, &o.part, &o.parts))
        return qa_cli_usage_error("sweep", "--chunk '%s': expected I/K with 0 <= I < K", part);
    o.expect_parts = (int)chunks;
    o.threads = (int)threads;
    if (!config) return qa_cli_usage_error("sweep", "--config FILE is required");
    if (strcmp(mode, "merge") == 0 && !o.run_dir) return qa_cli_usage_error("sweep", "merge needs --run-dir");
    if (strcmp(mode, "merge") == 0 && o.parts) return qa_cli_usage_error("sweep", "merge takes --chunks K, not --chunk I/K");

    qa_status st = QA_OK;
    qa_cfg_t *doc = NULL;
    qa_comm_t *comm = NULL;
    qa_sweep_report rep;
    QA_TRY(qa_cli_config(config, &sets, NULL, &doc));
    if (strcmp(mode, "walkforward") == 0 && !qa_cfg_map_get(qa_cfg_root(doc), "walk_forward"))
        QA_TRY_FAIL(QA_ERR_CONFIG, "%s: 'qa sweep walkforward' needs a walk_forward section", config);
    if (check || (!o.run_dir && strcmp(mode, "merge") != 0)) {
        QA_TRY(qa_sweep_check(doc, &o, &rep));
        if (check) {
            printf("ok: %zu symbols x %zu parameter sets x %zu bars, %zu chunks, config hash %s\n", rep.symbols,
                   rep.params, rep.bars, rep.chunks, rep.config_hash);
            goto cleanup;
        }
        snprintf(run_dir_buf, sizeof run_dir_buf, "runs/sweep-%.12s", rep.config_hash);
        o.run_dir = run_dir_buf;
    }
    if (strcmp(mode, "merge") == 0) {
        QA_TRY(qa_sweep_merge(doc, &o, &rep));
        qa_log_info("merged %zu chunks (%zu symbols x %zu sets) in %.2f s", rep.chunks, rep.symbols, rep.params,
                    rep.merge_seconds);
        printf("results: %s\nreport: %s\n", rep.results, rep.report);
        goto cleanup;
    }
    QA_TRY(qa_comm_create(&argc, &argv, &comm));
    (void)signal(SIGTERM, on_signal); /* cannot fail: valid, catchable signals */
    (void)signal(SIGUSR1, on_signal);
    o.stop = &g_stop;
    QA_TRY(qa_sweep_run(doc, &o, comm, &rep));
    if (qa_comm_rank(comm) == 0) {
        if (rep.merged) {
            qa_log_info("sweep: %zu symbols x %zu sets x %zu bars on %s (%d rank(s)): %.4g evaluations in %.2f s "
                        "(%.4g evals/s), merge %.2f s",
                        rep.symbols, rep.params, rep.bars, rep.backend, qa_comm_size(comm), rep.evaluations,
                        rep.compute_seconds, rep.evals_per_s, rep.merge_seconds);
            printf("results: %s\nreport: %s\n", rep.results, rep.report);
        } else if (o.parts) {
            printf("part %d/%d: %zu chunks computed, %zu already done; merge with: qa sweep merge --config %s --run-dir %s "
                   "--chunks %d\n",
                   o.part, o.parts, rep.computed, rep.skipped, config, o.run_dir, o.parts);
        } else if (rep.stopped) {
            printf("stopped after %zu chunk(s) (--max-chunks); %zu of %zu chunks done; rerun to resume: %s\n",
                   rep.computed, rep.computed + rep.skipped, rep.chunks, o.run_dir);
        }
    }
cleanup:
    qa_comm_free(comm);
    qa_cfg_free(doc);
    if (st != QA_OK) return qa_cli_fail("sweep");
    return QA_EXIT_OK;
}
