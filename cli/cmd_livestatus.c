/* qa live status: what a desk looks at, from a live service's state directory and its
 * topics (docs/live.md, "Operations"). */
#include <math.h>    /* isfinite */
#include <stdio.h>   /* printf */
#include <stdlib.h>  /* calloc, qsort */
#include <string.h>  /* strcmp */

#include "cli/args.h"           /* options */
#include "cli/cli.h"            /* exit codes */
#include "common/timeparse.h"   /* ISO times */
#include "live/bus.h"           /* position.sizes */
#include "live/msg.h"           /* schemas */
#include "live/reload.h"        /* the configuration in force */
#include "live/riskdb.h"        /* metrics, alerts, commands, changes */
#include "live/riskmon.h"       /* limits on a recorded snapshot */
#include "trading/limits.h"     /* distance to each limit */

int qa_cmd_live_status(int argc, char **argv);

static void usage(FILE *out) {
    fprintf(out, "usage: qa live status --config live.yaml [--alerts N] [--set KEY=VALUE ...]\n\n"
                 "What a desk looks at, from the service's state directory and its topics (it may be running\n"
                 "or stopped): the trading state, the book (equity, P&L, drawdown, exposures, VaR/ES of the\n"
                 "last risk snapshot), every limit of the configuration in force with its use and state, the\n"
                 "position of each symbol (its last position size), the newest alerts, and the kill-switch,\n"
                 "model and configuration history. docs/live.md, \"Operations\".\n\n"
                 "  --alerts N   newest alerts shown (10)\n");
}

/* The last size of each symbol, from the end of every position.sizes partition. */
typedef struct pos {
    char symbol[sizeof ((qa_msg *)0)->symbol];
    int64_t time;
    qa_msg_size z;
} pos;

typedef struct book {
    pos m[4096];
    size_t n;
} book;

static qa_status on_size(void *ctx, const qa_bus_record *r) {
    book *b = ctx;
    qa_msg m;
    if (qa_msg_decode(r->payload, r->len, &m) != QA_OK || m.kind != QA_MSG_SIZE) return QA_OK;
    pos x = {"", m.time, m.u.size};
    snprintf(x.symbol, sizeof x.symbol, "%s", m.symbol);
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->m[i].symbol, x.symbol) == 0) {
            if (x.time >= b->m[i].time) b->m[i] = x;
            return QA_OK;
        }
    if (b->n < sizeof b->m / sizeof b->m[0]) b->m[b->n++] = x;
    return QA_OK;
}

static int by_symbol(const void *a, const void *b) {
    return strcmp(((const pos *)a)->symbol, ((const pos *)b)->symbol);
}

/* Reads the positions; the message says why when the bus cannot be reached. */
static qa_status read_book(const qa_live_cfg *c, book *b) {
    qa_bus_cfg cfg;
    qa_bus_cfg_default(&cfg);
    if (c->prefix) snprintf(cfg.prefix, sizeof cfg.prefix, "%s", c->prefix);
    if (c->bootstrap && *c->bootstrap) snprintf(cfg.bootstrap, sizeof cfg.bootstrap, "%s", c->bootstrap);
    else QA_TRY_RET(qa_bus_mock_find(NULL, cfg.bootstrap, sizeof cfg.bootstrap));
    char topic[256];
    qa_bus_topic(&cfg, QA_TOPIC_SIZES, topic, sizeof topic);
    qa_bus_consumer_t *k = NULL;
    int parts = 0;
    qa_status st = qa_bus_consumer_create(&cfg, NULL, &k);
    if (st == QA_OK) st = qa_bus_partitions(k, topic, 5000, &parts);
    for (int p = 0; p < parts && st == QA_OK; p++) {
        int64_t lo = 0, hi = 0;
        st = qa_bus_watermarks(k, topic, p, 5000, &lo, &hi);
        /* a symbol's last size is among the partition's newest messages: one per symbol per
         * timestamp, the symbols of a partition being a fraction of the universe */
        const int64_t from = hi - lo > 8192 ? hi - 8192 : lo;
        if (st == QA_OK && hi > lo) st = qa_bus_read_range(k, topic, p, from, hi, 10000, on_size, b);
    }
    qa_bus_consumer_free(k);
    qsort(b->m, b->n, sizeof b->m[0], by_symbol);
    return st;
}

static const char *iso(int64_t t, char *buf, size_t size) {
    if (t == INT64_MIN) return "-";
    return qa_time_format_iso(t, buf, size);
}

static void print_limits(const qa_live_cfg *c, const qa_msg_risk *k) {
    if (!c->limits.n) {
        printf("limits: none configured\n");
        return;
    }
    qa_limit_result *res = calloc(c->limits.n, sizeof *res);
    if (!res) return;
    qa_riskmon_check_recorded(&c->limits, k, res);
    static const char *const states[] = {"ok", "WARNING", "BREACH", "not evaluated"};
    printf("limits (the configuration in force):\n  %-12s %-15s %12s %12s %7s  %s\n", "name", "metric", "value", "bound",
           "used", "state");
    for (size_t i = 0; i < c->limits.n; i++) {
        const qa_limit *l = &c->limits.items[i];
        const qa_limit_result *r = &res[i];
        double bound = qa_limit_bound(l);
        double used = qa_limit_use(l, r) * 100.0;
        char m[32];
        snprintf(m, sizeof m, "%s%s", qa_limit_metric_names[l->metric],
                 l->metric == QA_LIMIT_VAR || l->metric == QA_LIMIT_ES ? (l->level >= 0.99 ? " 99%" : " (level)") : "");
        printf("  %-12s %-15s %12.6g %12.6g %6.1f%%  %s%s\n", l->name, m, r->value, bound, used, states[r->state],
               isfinite(l->min) && isfinite(l->max) ? " (a range: the max shown)" : "");
    }
    free(res);
}

int qa_cmd_live_status(int argc, char **argv) {
    const char *config = NULL;
    long long nalerts = 10;
    qa_cli_list sets = {0};
    const qa_cli_opt opts[] = {QA_OPT_STR("config", &config), QA_OPT_INT("alerts", &nalerts, 0, 1000),
                               QA_OPT_LIST("set", &sets), QA_OPT_END};
    int rc = qa_cli_parse("live status", argc, argv, opts, usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    if (!config) return qa_cli_usage_error("live status", "give --config live.yaml (the service's)");
    char *joined = NULL;
    qa_reload_cfg *file = NULL, *inforce = NULL;
    qa_riskdb_t *db = NULL;
    qa_riskdb_alert *alerts = calloc((size_t)nalerts + 1, sizeof *alerts);
    static qa_riskdb_command cmds[256];
    static qa_riskdb_switch sw[256];
    static book b;
    qa_status st = alerts ? QA_OK : QA_FAIL(QA_ERR_NOMEM, "alerts");
    if (st == QA_OK) st = qa_reload_join_sets((const char *const *)sets.items, sets.n, &joined);
    if (st == QA_OK) st = qa_reload_from_file(config, joined, &file);
    if (st == QA_OK) st = qa_riskdb_open(file->cfg.state_dir, &db);
    long long change = 0;
    size_t nchanges = 0, na = 0, ncmd = 0, nsw = 0;
    long long total = 0;
    int64_t t = INT64_MIN;
    int found = 0;
    qa_msg_risk k;
    if (st == QA_OK) st = qa_reload_in_force(db, &inforce, &change, &nchanges);
    if (st == QA_OK) st = qa_riskdb_last_metrics(db, &t, &k, &found);
    if (st == QA_OK) st = qa_riskdb_alerts_recent(db, alerts, (size_t)nalerts, &na, &total);
    if (st == QA_OK) st = qa_riskdb_commands(db, INT64_MIN, cmds, 256, &ncmd);
    if (st == QA_OK) st = qa_riskdb_switches(db, sw, 256, &nsw);
    if (st != QA_OK) {
        qa_reload_free(file), qa_reload_free(inforce), qa_riskdb_close(db), free(joined), free(alerts);
        return qa_cli_fail("live status");
    }
    const qa_live_cfg *c = inforce ? &inforce->cfg : &file->cfg;
    char a[40], d[40];
    printf("qa live, stream %s, state dir %s\n", file->cfg.stream, file->cfg.state_dir);
    if (!found) {
        printf("no risk snapshot yet (the first comes after risk.every timestamps)\n");
    } else {
        printf("trading state %s at the last snapshot, %s\n", k.state, iso(t, a, sizeof a));
        printf("book: equity %.2f  P&L %+.2f  drawdown %.3f%%  gross %.4f  net %+.4f  largest %.4f (%s)\n", k.equity,
               k.pnl, k.drawdown * 100, k.gross, k.net, k.concentration, k.top[0] ? k.top : "-");
        printf("risk (%.0f%%, fractions of equity): historical VaR %.4f%% ES %.4f%%  parametric VaR %.4f%% ES %.4f%%%s\n",
               k.level * 100, k.var_hist * 100, k.es_hist * 100, k.var_param * 100, k.es_param * 100,
               isfinite(k.var_hist) ? "" : " (the window is not full yet)");
        print_limits(c, &k);
    }
    qa_status bs = read_book(&file->cfg, &b);
    if (bs != QA_OK) {
        printf("positions: the bus cannot be reached (%s)\n", qa_err_msg());
    } else {
        printf("positions (the last position size of each symbol, %zu):\n  %-10s %14s %10s %12s %12s  %-10s %-9s %s\n",
               b.n, "symbol", "shares", "weight", "price", "score", "method", "state", "time");
        for (size_t i = 0; i < b.n; i++) {
            const pos *m = &b.m[i];
            printf("  %-10s %14.2f %+10.4f %12.4f %+12.6f  %-10s %-9s %s\n", m->symbol, m->z.shares, m->z.weight,
                   m->z.price, m->z.score, m->z.method, m->z.state, iso(m->time, a, sizeof a));
        }
    }
    printf("alerts: %lld in risk.db%s\n", total, na ? ", newest first:" : "");
    for (size_t i = 0; i < na; i++)
        printf("  %s  %-8s %-14s %s\n", iso(alerts[i].time, a, sizeof a), alerts[i].a.severity, alerts[i].a.limit,
               alerts[i].a.detail);
    size_t nkill = 0; /* the kill switch's commands: operator cancels (the API) change no state */
    for (size_t i = 0; i < ncmd; i++)
        if (strcmp(cmds[i].state, QA_RISKDB_CANCEL) != 0 && strcmp(cmds[i].state, QA_RISKDB_CANCEL_ALL) != 0)
            cmds[nkill++] = cmds[i];
    ncmd = nkill;
    if (ncmd) {
        const qa_riskdb_command *x = &cmds[ncmd - 1];
        printf("kill switch: %zu command(s); the last: %s by %s (%s), applied %s\n", ncmd, x->state, x->who, x->why,
               iso(x->applied_time, d, sizeof d));
    } else {
        printf("kill switch: never used\n");
    }
    for (size_t i = nsw; i-- > 0;)
        if (!strcmp(sw[i].status, "applied") || !strcmp(sw[i].status, "initial")) {
            printf("model: %s, version %ld in force since %s\n", c->model ? c->model : "-", sw[i].version,
                   sw[i].effective_time == INT64_MIN ? "the first start" : iso(sw[i].effective_time, a, sizeof a));
            break;
        }
    if (!nsw) printf("model: %s\n", c->model ? c->model : "none (features only)");
    printf("configuration: change %lld in force, %zu applied since the first start (`qa live changes --state-dir %s`)\n",
           change, nchanges, file->cfg.state_dir);
    qa_reload_free(file);
    qa_reload_free(inforce);
    qa_riskdb_close(db);
    free(joined);
    free(alerts);
    return QA_EXIT_OK;
}
