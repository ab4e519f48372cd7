/* qa live: the live service (live/service.h). */
#include <signal.h>  /* SIGTERM: drain, checkpoint, stop */
#include <stdio.h>   /* printf */

#include "cli/args.h"        /* option table, config + --set */
#include "cli/cli.h"         /* exit codes */
#include <stdlib.h>  /* getenv */
#include <string.h>  /* strcmp */
#include <unistd.h>  /* getlogin_r */

#include "live/riskdb.h"     /* kill-switch commands */
#include "live/riskmon.h"    /* trading state names */
#include "live/service.h"    /* the service */

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) { g_stop = sig; }

static void usage(FILE *out) {
    fprintf(out,
            "usage: qa live --config live.yaml [--set KEY=VALUE ...]\n"
            "       qa live state ACTIVE|REDUCING|HALTED --state-dir DIR --why TEXT   (the kill switch)\n\n"
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
            "  risk: {window: 500, every: 12, level: 0.99, limits: [{name: gross, metric: gross, max: 1.5}]}\n"
            "  alt: {sources: [stocknet]}   also read alt.data: VADER-scored documents into news/tweet series\n"
            "  http: 127.0.0.1:9464         /health and /metrics (Prometheus)\n"
            "  exit_idle: 5                 stop cleanly after 5 s without input (replays)\n\n"
            "  --config FILE    YAML configuration\n"
            "  --set KEY=VALUE  override a key (repeatable; e.g. --set exit_idle=3)\n");
}

static void usage_state(FILE *out) {
    fprintf(out, "usage: qa live state ACTIVE|REDUCING|HALTED --state-dir DIR [--who NAME] --why TEXT\n\n"
                 "The kill switch: queues a trading-state change for the `qa live` that uses DIR. The service\n"
                 "applies it at its next timestamp (HALTED: targets stay where they are; REDUCING: they may\n"
                 "only move toward zero; ACTIVE: resume), raises an alert and records who and why in\n"
                 "DIR/risk.db. A HALTED or REDUCING set here stays until ACTIVE is set here.\n");
}

static int cmd_state(int argc, char **argv) {
    const char *dir = NULL, *who = NULL, *why = NULL, *pos[1];
    size_t npos = 0;
    const qa_cli_opt opts[] = {QA_OPT_STR("state-dir", &dir), QA_OPT_STR("who", &who), QA_OPT_STR("why", &why), QA_OPT_END};
    int rc = qa_cli_parse("live state", argc, argv, opts, usage_state, pos, 1, &npos);
    if (rc != QA_CLI_RUN) return rc;
    qa_trading_state s;
    if (npos != 1 || !dir || !why) return qa_cli_usage_error("live state", "give STATE, --state-dir DIR and --why TEXT");
    if (qa_trading_state_parse(pos[0], &s) != QA_OK) return qa_cli_usage_error("live state", "%s", qa_err_msg());
    char user[64] = "";
    if (!who) who = getenv("QA_USER");
    if (!who && getlogin_r(user, sizeof user) == 0) who = user;
    if (!who) who = getenv("USER");
    long long id = 0;
    if (qa_riskdb_command_add(dir, qa_trading_state_names[s], who ? who : "unknown", why, &id) != QA_OK)
        return qa_cli_fail("live state");
    printf("command %lld: %s queued for %s (applied at the service's next timestamp)\n", id, qa_trading_state_names[s], dir);
    return QA_EXIT_OK;
}

int qa_cmd_live(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "state") == 0) return cmd_state(argc - 1, argv + 1);
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
        qa_live_cfg_free(&cfg);
        qa_cfg_free(doc);
        return qa_cli_fail("live");
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    qa_live_report rep;
    qa_status st = qa_live_run(&cfg, "/proc/self/exe", &g_stop, &rep);
    qa_live_cfg_free(&cfg);
    qa_cfg_free(doc);
    if (st != QA_OK) return qa_cli_fail("live");
    printf("live: %lld messages (%lld bars, %lld watermarks, %lld dead letters), %lld timestamps; produced %lld "
           "features, %lld signals, %lld sizes, %lld risk snapshots, %lld alerts; %lld already sent before a restart; "
           "%lld checkpoints; trading state %s; %.2f s%s\n",
           rep.messages, rep.bars, rep.watermarks, rep.dead_letters, rep.timestamps, rep.produced[0], rep.produced[1],
           rep.produced[2], rep.produced[3], rep.produced[4], rep.suppressed, rep.checkpoints, rep.state, rep.seconds,
           rep.resumed ? " (resumed)" : "");
    if (rep.docs || rep.docs_ignored)
        printf("live: alt.data: %lld documents counted, %lld of other tickers skipped, %lld late (counted for the next bar)\n",
               rep.docs, rep.docs_ignored, rep.docs_late);
    return QA_EXIT_OK;
}
