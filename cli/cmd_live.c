/* qa live: the live service (live/service.h). */
#include <signal.h>  /* SIGTERM: drain, checkpoint, stop */
#include <stdio.h>   /* printf */

#include "cli/args.h"        /* option table, config + --set */
#include "cli/cli.h"         /* exit codes */
#include <stdlib.h>  /* getenv */
#include <string.h>  /* strcmp */
#include <unistd.h>  /* getlogin_r */

#include "common/timeparse.h" /* times in the change log */
#include "datasets/store.h"  /* bars per year of the universe */
#include "live/reload.h"     /* configuration changes */
#include "live/riskdb.h"     /* kill-switch commands, the change log */
#include "live/riskmon.h"    /* trading state names */
#include "live/service.h"    /* the service */

static volatile sig_atomic_t g_stop = 0, g_reload = 0;
static void on_signal(int sig) { g_stop = sig; }
static void on_hup(int sig) { (void)sig; g_reload = 1; }

static void usage(FILE *out) {
    fprintf(out,
            "usage: qa live --config live.yaml [--set KEY=VALUE ...]\n"
            "       qa live state ACTIVE|REDUCING|HALTED --state-dir DIR --why TEXT   (the kill switch)\n"
            "       qa live reload --state-dir DIR --why TEXT [--at TIME]    (apply the edited config file)\n"
            "       qa live changes --state-dir DIR                           (the configuration change log)\n"
            "       qa live status --config live.yaml                         (the desk's view: book, limits, positions)\n\n"
            "Runs the live service: consumes market.data, checks each bar (bad ones go to dead.letter with\n"
            "the reason), closes each timestamp when every partition's watermark passed it, computes the\n"
            "features with the batch kernels' incremental form, scores the model (a registry alias is\n"
            "loaded and verified), sizes positions with the trading rules, and produces features, signals\n"
            "and position.sizes exactly once across crashes (checkpoint in state_dir). SIGTERM/SIGINT:\n"
            "drain, checkpoint, stop. SIGHUP: read the configuration file again and apply what changed\n"
            "(rules, threshold, allocation, risk limits) from the next timestamp, recorded in\n"
            "state_dir/risk.db. Without kafka.bootstrap it uses the embedded cluster (`qa bus run`).\n"
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

/* Who asks: --who, else $QA_USER, the login name, $USER. */
static const char *operator_name(const char *who, char *buf, size_t size) {
    if (!who) who = getenv("QA_USER");
    if (!who && getlogin_r(buf, size) == 0) who = buf;
    if (!who) who = getenv("USER");
    return who ? who : "unknown";
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
    char user[64];
    who = operator_name(who, user, sizeof user);
    long long id = 0;
    if (qa_riskdb_command_add(dir, qa_trading_state_names[s], who, why, &id) != QA_OK)
        return qa_cli_fail("live state");
    printf("command %lld: %s queued for %s (applied at the service's next timestamp)\n", id, qa_trading_state_names[s], dir);
    return QA_EXIT_OK;
}

static void usage_reload(FILE *out) {
    fprintf(out, "usage: qa live reload --state-dir DIR --why TEXT [--config FILE] [--set KEY=VALUE ...] [--at TIME]\n"
                 "                      [--who NAME]\n\n"
                 "Queues the edited configuration file for the `qa live` that uses DIR (like SIGHUP, with who,\n"
                 "why and a time). It is checked now against the configuration recorded last in DIR/risk.db:\n"
                 "settings the service's state was built with (model, stream, features, capital, the sizing\n"
                 "and VaR windows, alt) cannot change; rules, threshold, allocation and risk every/level/\n"
                 "recover/limits/halt can; process settings (kafka, http, checkpoint_every, exit_idle) are\n"
                 "taken at the next start. The service applies it at its next timestamp, or at the first one\n"
                 "at or after --at (UTC), raises a `config` alert with what changed and records the\n"
                 "timestamp, so a restart replays it there.\n\n"
                 "  --config FILE   default: the file the service was started with\n"
                 "  --set K=V       replace the service's --set assignments (default: its own)\n");
}

/* Reads a configuration for the checks of `qa live reload` (bars per year from the universe). */
static qa_status read_resolved(const char *name, const char *path, const char *text, const char *sets, qa_reload_cfg **out) {
    qa_status st = path ? qa_reload_from_file(path, sets, out) : qa_reload_from_text(name, text, sets, out);
    if (st != QA_OK) return st;
    qa_store_t *store = NULL;
    st = qa_store_open((*out)->cfg.universe, NULL, QA_STORE_READ, &store);
    if (st == QA_OK) {
        qa_rules_resolve_bars_per_year(&(*out)->cfg.rules, qa_store_get_meta(store)->bars_per_year);
        qa_store_close(store);
        st = qa_rules_validate(&(*out)->cfg.rules);
    }
    if (st != QA_OK) qa_reload_free(*out), *out = NULL;
    return st;
}

static int cmd_reload(int argc, char **argv) {
    const char *dir = NULL, *who = NULL, *why = NULL, *config = NULL, *at_text = NULL;
    qa_cli_list sets = {0};
    const qa_cli_opt opts[] = {QA_OPT_STR("state-dir", &dir), QA_OPT_STR("who", &who), QA_OPT_STR("why", &why),
                               QA_OPT_STR("config", &config), QA_OPT_LIST("set", &sets), QA_OPT_STR("at", &at_text),
                               QA_OPT_END};
    int rc = qa_cli_parse("live reload", argc, argv, opts, usage_reload, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    if (!dir || !why) return qa_cli_usage_error("live reload", "give --state-dir DIR and --why TEXT");
    int64_t at = INT64_MIN;
    if (at_text && !qa_cli_time_opt(at_text, &at))
        return qa_cli_usage_error("live reload", "--at '%s': expected a UTC date or time, e.g. 2026-03-02T14:30", at_text);
    qa_riskdb_t *db = NULL;
    qa_riskdb_config *rows = NULL, row = {0};
    size_t n = 0;
    qa_reload_cfg *prev = NULL, *next = NULL;
    char *joined = NULL, user[64], later[512] = "";
    qa_status st = qa_riskdb_open(dir, &db);
    if (st == QA_OK) st = qa_riskdb_configs(db, NULL, &rows, &n);
    long k = st == QA_OK ? qa_riskdb_config_latest(rows, n, 1) : -1;
    if (st == QA_OK && k < 0)
        st = QA_FAIL(QA_ERR_STATE, "%s: no configuration recorded: start `qa live` with this state_dir first", dir);
    const char *path = config;
    for (size_t i = 0; st == QA_OK && !path && i < n; i++) /* the service's own file */
        if (!strcmp(rows[i].kind, "initial")) path = rows[i].path;
    if (st == QA_OK && (!path || !*path)) st = QA_FAIL(QA_ERR_STATE, "%s: the service runs without a file: give --config", dir);
    if (st == QA_OK && sets.n) st = qa_reload_join_sets((const char *const *)sets.items, sets.n, &joined);
    const char *own_sets = "";
    for (size_t i = 0; st == QA_OK && i < n; i++)
        if (!strcmp(rows[i].kind, "initial")) own_sets = rows[i].sets;
    if (st == QA_OK) st = read_resolved("risk.db", NULL, rows[k].payload, rows[k].sets, &prev);
    if (st == QA_OK) st = read_resolved(path, path, NULL, joined ? joined : own_sets, &next);
    if (st == QA_OK) st = qa_reload_compare(&prev->cfg, &next->cfg, row.changes, sizeof row.changes, later, sizeof later);
    if (st == QA_OK && !row.changes[0]) {
        printf("no reloadable setting of %s differs from configuration change %lld (%s): nothing queued%s%s\n", path,
               rows[k].id, rows[k].status, later[0] ? "; at the next start: " : "", later);
    } else if (st == QA_OK) {
        snprintf(row.kind, sizeof row.kind, "reload");
        snprintf(row.who, sizeof row.who, "%s", operator_name(who, user, sizeof user));
        snprintf(row.why, sizeof row.why, "%s", why);
        snprintf(row.path, sizeof row.path, "%s", path);
        snprintf(row.status, sizeof row.status, "queued");
        row.payload = next->text, row.sets = next->sets;
        row.at = at, row.not_before = row.applied_time = INT64_MIN;
        st = qa_reload_digest(&next->cfg, row.digest);
        if (st == QA_OK) st = qa_riskdb_config_add(db, &row);
        char when[96] = "its next timestamp";
        if (at != INT64_MIN) {
            char iso[40];
            snprintf(when, sizeof when, "the first timestamp at or after %s", qa_time_format_iso(at, iso, sizeof iso));
        }
        if (st == QA_OK)
            printf("configuration change %lld queued for %s: %s\nthe service applies it at %s%s%s\n", row.id, dir,
                   row.changes, when, later[0] ? "; at its next start only: " : "", later);
    }
    qa_reload_free(prev);
    qa_reload_free(next);
    free(joined);
    qa_riskdb_configs_free(rows, n);
    qa_riskdb_close(db);
    return st == QA_OK ? QA_EXIT_OK : qa_cli_fail("live reload");
}

static void usage_changes(FILE *out) {
    fprintf(out, "usage: qa live changes --state-dir DIR\n\n"
                 "The configuration change log of the `qa live` that uses DIR (DIR/risk.db): each change with\n"
                 "who asked, why, its status (initial, queued, pending, applied, unchanged, rejected: ...),\n"
                 "the timestamp from which it applied and what it changed.\n");
}

static int cmd_changes(int argc, char **argv) {
    const char *dir = NULL;
    const qa_cli_opt opts[] = {QA_OPT_STR("state-dir", &dir), QA_OPT_END};
    int rc = qa_cli_parse("live changes", argc, argv, opts, usage_changes, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    if (!dir) return qa_cli_usage_error("live changes", "give --state-dir DIR");
    qa_riskdb_t *db = NULL;
    qa_riskdb_config *rows = NULL;
    size_t n = 0;
    qa_status st = qa_riskdb_open(dir, &db);
    if (st == QA_OK) st = qa_riskdb_configs(db, NULL, &rows, &n);
    for (size_t i = 0; st == QA_OK && i < n; i++) {
        const qa_riskdb_config *r = &rows[i];
        char applied[40] = "-", at[40] = "";
        if (r->applied_time != INT64_MIN) qa_time_format_iso(r->applied_time, applied, sizeof applied);
        if (r->at != INT64_MIN) {
            char iso[40];
            snprintf(at, sizeof at, " (at %s)", qa_time_format_iso(r->at, iso, sizeof iso));
        }
        printf("%lld  %s  %-8s %-10s by %s: %s\n    from %s%s  %s\n", r->id, r->created, r->kind, r->status, r->who,
               r->why, applied, at, r->changes[0] ? r->changes : "(the file as started)");
    }
    if (st == QA_OK && n == 0) printf("%s: no configuration recorded\n", dir);
    qa_riskdb_configs_free(rows, n);
    qa_riskdb_close(db);
    return st == QA_OK ? QA_EXIT_OK : qa_cli_fail("live changes");
}

int qa_cmd_live_status(int argc, char **argv); /* cli/cmd_livestatus.c */

int qa_cmd_live(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "state") == 0) return cmd_state(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "status") == 0) return qa_cmd_live_status(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "reload") == 0) return cmd_reload(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "changes") == 0) return cmd_changes(argc - 1, argv + 1);
    const char *config = NULL;
    qa_cli_list sets = {0};
    const qa_cli_opt opts[] = {QA_OPT_STR("config", &config), QA_OPT_LIST("set", &sets), QA_OPT_END};
    int rc = qa_cli_parse("live", argc, argv, opts, usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    if (!config && !sets.n) return qa_cli_usage_error("live", "give --config live.yaml");
    /* Read once, kept as text: the change log records what the service started with. */
    char *joined = NULL;
    qa_reload_cfg *lc = NULL;
    qa_status st = qa_reload_join_sets((const char *const *)sets.items, sets.n, &joined);
    if (st == QA_OK) st = config ? qa_reload_from_file(config, joined, &lc) : qa_reload_from_text("live", "", joined, &lc);
    if (st != QA_OK) {
        free(joined);
        return qa_cli_fail("live");
    }
    if (config) lc->cfg.source_path = config, lc->cfg.source_text = lc->text, lc->cfg.source_sets = lc->sets;
    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    struct sigaction hup = {0};
    hup.sa_handler = on_hup;
    sigaction(SIGHUP, &hup, NULL);
    qa_live_report rep;
    st = qa_live_run(&lc->cfg, "/proc/self/exe", &g_stop, &g_reload, &rep);
    qa_reload_free(lc);
    free(joined);
    if (st != QA_OK) return qa_cli_fail("live");
    printf("live: %lld messages (%lld bars, %lld watermarks, %lld dead letters), %lld timestamps; produced %lld "
           "features, %lld signals, %lld sizes, %lld risk snapshots, %lld alerts; %lld already sent before a restart; "
           "%lld checkpoints; %lld configuration changes; trading state %s; %.2f s%s\n",
           rep.messages, rep.bars, rep.watermarks, rep.dead_letters, rep.timestamps, rep.produced[0], rep.produced[1],
           rep.produced[2], rep.produced[3], rep.produced[4], rep.suppressed, rep.checkpoints, rep.config_changes, rep.state, rep.seconds,
           rep.resumed ? " (resumed)" : "");
    if (rep.docs || rep.docs_ignored)
        printf("live: alt.data: %lld documents counted, %lld of other tickers skipped, %lld late (counted for the next bar)\n",
               rep.docs, rep.docs_ignored, rep.docs_late);
    return QA_EXIT_OK;
}
