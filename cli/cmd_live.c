/* qa live: the live service (live/service.h). */
#include <signal.h>  /* SIGTERM: drain, checkpoint, stop */
#include <stdio.h>   /* printf */

#include "cli/args.h"        /* option table, config + --set */
#include "cli/cli.h"         /* exit codes */
#include "live/service.h"    /* the service */

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) { g_stop = sig; }

static void usage(FILE *out) {
    fprintf(out,
            "usage: qa live --config live.yaml [--set KEY=VALUE ...]\n\n"
            "Runs the live service: consumes market.data, checks each bar (bad ones go to dead.letter with\n"
            "the reason), closes each timestamp when every partition's watermark passed it, computes the\n"
            "features with the batch kernels' incremental form, scores the model (a registry alias is\n"
            "loaded and verified), sizes positions with the trading rules, and produces features, signals\n"
            "and position.sizes exactly once across crashes (checkpoint in state_dir). SIGTERM/SIGINT:\n"
            "drain, checkpoint, stop. Without kafka.bootstrap it uses the embedded cluster (`qa bus run`).\n"
            "docs/live.md has every key; the essential ones:\n\n"
            "  universe: market.h5          symbols (and their order), bar length, bars per year\n"
            "  model: models:/NAME@champion  or a model file; leave out for features only\n"
            "  state_dir: DIR               checkpoint (one per stream)\n"
            "  rules: {sizing: {method: vol_target, target_vol: 0.1, vol_window: 20}, capital: 1e6}\n"
            "  http: 127.0.0.1:9464         /health and /metrics (Prometheus)\n"
            "  exit_idle: 5                 stop cleanly after 5 s without input (replays)\n\n"
            "  --config FILE    YAML configuration\n"
            "  --set KEY=VALUE  override a key (repeatable; e.g. --set exit_idle=3)\n");
}

int qa_cmd_live(int argc, char **argv) {
    const char *config = NULL;
    qa_cli_list sets = {0};
    const qa_cli_opt opts[] = {QA_OPT_STR("config", &config), QA_OPT_LIST("set", &sets), QA_OPT_END};
    int rc = qa_cli_parse("live", argc, argv, opts, usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    if (!config && !sets.n) return qa_cli_usage_error("live", "give --config live.yaml");
    qa_cfg_t *doc = NULL;
    qa_live_cfg cfg;
    qa_live_cfg_init(&cfg);
    if (qa_cli_config(config, &sets, "live", &doc) != QA_OK || qa_live_cfg_bind(doc, &cfg) != QA_OK) {
        qa_cfg_free(doc);
        return qa_cli_fail("live");
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    qa_live_report rep;
    qa_status st = qa_live_run(&cfg, "/proc/self/exe", &g_stop, &rep);
    qa_cfg_free(doc);
    if (st != QA_OK) return qa_cli_fail("live");
    printf("live: %lld messages (%lld bars, %lld watermarks, %lld dead letters), %lld timestamps; produced %lld "
           "features, %lld signals, %lld sizes; %lld already sent before a restart; %lld checkpoints; %.2f s%s\n",
           rep.messages, rep.bars, rep.watermarks, rep.dead_letters, rep.timestamps, rep.produced[0], rep.produced[1],
           rep.produced[2], rep.suppressed, rep.checkpoints, rep.seconds, rep.resumed ? " (resumed)" : "");
    return QA_EXIT_OK;
}
