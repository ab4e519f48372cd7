/* qa bus: the embedded Kafka-protocol cluster (run, stop) and a reader that prints any
 * topic's messages as JSON lines (tail). */
#include <errno.h>   /* errno */
#include <fcntl.h>   /* open: the control FIFO */
#include <limits.h>  /* INT_MAX */
#include <math.h>    /* isfinite */
#include <poll.h>    /* waiting on the FIFO and signals */
#include <signal.h>  /* SIGTERM */
#include <stdio.h>   /* printf */
#include <stdlib.h>  /* strtol */
#include <string.h>  /* strcmp */
#include <sys/stat.h> /* mkfifo */
#include <unistd.h>  /* read, unlink, getpid */

#include <jansson.h> /* tail's JSON lines */

#include "cli/args.h"     /* option tables */
#include "cli/cli.h"      /* exit codes, dispatch */
#include "common/fs.h"    /* the bootstrap file */
#include "common/log.h"
#include "common/timer.h" /* tail's idle timeout */
#include "live/bus.h"     /* the cluster, consumers */
#include "live/msg.h"     /* decoding */

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) { g_stop = sig; }

/* ---- qa bus run ------------------------------------------------------------------------------ */

static void usage_run(FILE *out) {
    fprintf(out, "usage: qa bus run [--brokers N] [--partitions N] [--prefix P] [--file F] [--control FIFO]\n\n"
                 "Runs a Kafka-protocol cluster (librdkafka's mock cluster: in memory, loopback TCP) with every\n"
                 "topic of the platform created, prints its bootstrap.servers and records it in the bus file\n"
                 "(default $QA_BUS_FILE, $XDG_RUNTIME_DIR/quantumalpha-bus or /tmp/quantumalpha-bus-UID), where\n"
                 "`qa replay` and `qa live` find it. Runs until SIGTERM/SIGINT or `qa bus stop`.\n"
                 "--control FIFO reads fault-injection lines: 'down B', 'up B', 'rtt B MS' (broker ids from 1).\n\n"
                 "  --brokers N      brokers (default 3)\n"
                 "  --partitions N   partitions per topic (default 6)\n"
                 "  --prefix P       topic name prefix\n"
                 "  --file F         bus file to write\n"
                 "  --control FIFO   fault-injection FIFO (created)\n");
}

/* Reads a decimal int in [0, INT_MAX] at *p (after blanks) and advances *p past it; 0 when
 * there is none. */
static int next_int(const char **p, int *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(*p, &end, 10);
    if (end == *p || errno != 0 || v < 0 || v > INT_MAX) return 0;
    *out = (int)v;
    *p = end;
    return 1;
}

static void control_line(qa_bus_mock_t *m, char *line) {
    int b = 0, ms = -1;
    char verb[16] = "";
    const char *p = line + strspn(line, " \t");
    size_t vlen = strcspn(p, " \t\r");
    int ok = vlen > 0 && vlen < sizeof verb;
    if (ok) {
        memcpy(verb, p, vlen);
        p += vlen;
        ok = next_int(&p, &b) && (strcmp(verb, "rtt") != 0 || next_int(&p, &ms)) && p[strspn(p, " \t\r")] == '\0';
    }
    if (!ok) {
        qa_log_warn("bus control: '%s': expected 'down B', 'up B' or 'rtt B MS'", line);
        return;
    }
    int up = strcmp(verb, "down") != 0;
    if (strcmp(verb, "rtt") != 0) ms = -1;
    if (qa_bus_mock_broker(m, b, up, ms) != QA_OK) qa_log_warn("bus control: %s", qa_err_msg());
    else qa_log_info("bus control: %s broker %d%s", verb, b, ms >= 0 ? " rtt set" : "");
}

static int cmd_run(int argc, char **argv) {
    long long brokers = 3, partitions = 6;
    const char *prefix = NULL, *file = NULL, *control = NULL;
    const qa_cli_opt opts[] = {QA_OPT_INT("brokers", &brokers, 1, 16), QA_OPT_INT("partitions", &partitions, 1, 1024),
                               QA_OPT_STR("prefix", &prefix), QA_OPT_STR("file", &file),
                               QA_OPT_STR("control", &control), QA_OPT_END};
    int rc = qa_cli_parse("bus run", argc, argv, opts, usage_run, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    qa_bus_cfg cfg;
    qa_bus_cfg_default(&cfg);
    cfg.partitions = (int)partitions;
    if (prefix) snprintf(cfg.prefix, sizeof cfg.prefix, "%s", prefix);
    char path[QA_PATH_MAX];
    if (file) snprintf(path, sizeof path, "%s", file);
    else qa_bus_default_file(path, sizeof path);
    qa_bus_mock_t *m = NULL;
    if (qa_bus_mock_create(&cfg, (int)brokers, &m) != QA_OK) return qa_cli_fail("bus run");
    char line[640];
    snprintf(line, sizeof line, "%s %ld\n", qa_bus_mock_bootstrap(m), (long)getpid());
    if (qa_fs_write_all(path, line, strlen(line)) != QA_OK) {
        qa_bus_mock_free(m);
        return qa_cli_fail("bus run");
    }
    (void)signal(SIGTERM, on_signal); /* cannot fail: valid, catchable signals */
    (void)signal(SIGINT, on_signal);
    printf("bootstrap.servers=%s\n", qa_bus_mock_bootstrap(m));
    if (fflush(stdout) != 0) { /* whoever started us waits for this line */
        (void)QA_FAIL(QA_ERR_IO, "stdout: %s", strerror(errno));
        unlink(path);
        qa_bus_mock_free(m);
        return qa_cli_fail("bus run");
    }
    qa_log_info("bus: %lld brokers, %lld partitions per topic, bus file %s", brokers, partitions, path);
    int fd = -1;
    if (control && (mkfifo(control, 0600) == 0 || errno == EEXIST)) fd = open(control, O_RDONLY | O_NONBLOCK);
    if (control && fd < 0) qa_log_warn("bus: control FIFO %s: %s", control, strerror(errno));
    char acc[256];
    size_t used = 0;
    while (!g_stop) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (fd < 0) {
            poll(NULL, 0, 200);
            continue;
        }
        if (poll(&pf, 1, 200) <= 0) continue;
        ssize_t n = read(fd, acc + used, sizeof acc - 1 - used);
        if (n <= 0) { /* writer closed: reopen to wait for the next one */
            close(fd);
            fd = open(control, O_RDONLY | O_NONBLOCK);
            used = 0;
            continue;
        }
        used += (size_t)n;
        acc[used] = '\0';
        char *nl;
        while ((nl = strchr(acc, '\n'))) {
            *nl = '\0';
            control_line(m, acc);
            used -= (size_t)(nl + 1 - acc);
            memmove(acc, nl + 1, used + 1);
        }
        if (used == sizeof acc - 1) used = 0; /* an overlong line: drop it */
    }
    if (fd >= 0) close(fd);
    /* Remove the bus file only when it still names this process. */
    char mine[512];
    if (qa_bus_mock_find(path, mine, sizeof mine) == QA_OK && strcmp(mine, qa_bus_mock_bootstrap(m)) == 0) unlink(path);
    qa_bus_mock_free(m);
    qa_log_info("bus: stopped");
    return QA_EXIT_OK;
}

/* ---- qa bus stop ------------------------------------------------------------------------------ */

static void usage_stop(FILE *out) {
    fprintf(out, "usage: qa bus stop [--file F]\n\nStops the `qa bus run` recorded in the bus file (SIGTERM) and waits for it.\n");
}

static int cmd_stop(int argc, char **argv) {
    const char *file = NULL;
    const qa_cli_opt opts[] = {QA_OPT_STR("file", &file), QA_OPT_END};
    int rc = qa_cli_parse("bus stop", argc, argv, opts, usage_stop, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    char path[QA_PATH_MAX], boot[512];
    if (file) snprintf(path, sizeof path, "%s", file);
    else qa_bus_default_file(path, sizeof path);
    long pid = 0;
    if (qa_bus_mock_find_pid(path, boot, sizeof boot, &pid) != QA_OK) {
        printf("no embedded cluster is running (%s)\n", qa_err_msg());
        return QA_EXIT_OK;
    }
    kill((pid_t)pid, SIGTERM);
    for (int i = 0; i < 100 && kill((pid_t)pid, 0) == 0; i++) poll(NULL, 0, 100);
    printf("stopped the embedded cluster at %s (pid %ld)\n", boot, pid);
    return QA_EXIT_OK;
}

/* ---- qa bus tail -------------------------------------------------------------------------------- */

static void usage_tail(FILE *out) {
    fprintf(out, "usage: qa bus tail TOPIC [--bootstrap B] [--prefix P] [--max N] [--idle S]\n\n"
                 "Prints every message of a topic (all partitions, from the beginning) as one JSON object per\n"
                 "line: topic, partition, offset, key, then the decoded message (kind, symbol, time, id and its\n"
                 "body; NaN as null), or {\"undecodable\": reason} for bytes that are not a message. Stops after\n"
                 "N messages or S seconds without one (default 2). Without --bootstrap: the embedded cluster.\n");
}

static json_t *num(double x) {
    return isfinite(x) ? json_real(x) : json_null();
}

/* Sets n named numbers (NaN as null). */
static void set_nums(json_t *o, const char *const *names, const double *vals, int n) {
    for (int i = 0; i < n; i++) json_object_set_new(o, names[i], num(vals[i]));
}

static json_t *hex32(const uint8_t *b) {
    char h[65];
    for (size_t i = 0; i < 32; i++) snprintf(h + 2 * i, 3, "%02x", b[i]);
    return json_string(h);
}

static json_t *msg_json(const qa_msg *m) {
    json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:i}", "kind", qa_msg_kind_name(m->kind), "symbol", m->symbol, "time",
                          (json_int_t)m->time, "id", "", "minor", m->minor);
    char id[24];
    snprintf(id, sizeof id, "%016llx", (unsigned long long)m->id);
    json_object_set_new(o, "id", json_string(id));
    switch (m->kind) {
    case QA_MSG_BAR: {
        static const char *const names[5] = {"open", "high", "low", "close", "volume"};
        const qa_msg_bar *b = &m->u.bar;
        set_nums(o, names, (const double[5]){b->open, b->high, b->low, b->close, b->volume}, 5);
        json_object_set_new(o, "bar_seconds", json_integer(b->bar_seconds));
        break;
    }
    case QA_MSG_WATERMARK:
        json_object_set_new(o, "partition", json_integer(m->u.wm.partition));
        json_object_set_new(o, "partitions", json_integer(m->u.wm.partitions));
        break;
    case QA_MSG_FEATURES: {
        json_t *vals = json_object();
        for (uint32_t i = 0; i < m->u.feat.n; i++) json_object_set_new(vals, m->u.feat.names[i], num(m->u.feat.values[i]));
        json_object_set_new(o, "lineage", hex32(m->u.feat.lineage));
        json_object_set_new(o, "values", vals);
        break;
    }
    case QA_MSG_SIGNAL:
        json_object_set_new(o, "model", json_string(m->u.sig.model));
        json_object_set_new(o, "version", json_integer(m->u.sig.version));
        json_object_set_new(o, "score", num(m->u.sig.score));
        json_object_set_new(o, "close", num(m->u.sig.close));
        json_object_set_new(o, "lineage", hex32(m->u.sig.lineage));
        break;
    case QA_MSG_SIZE: {
        static const char *const names[5] = {"weight", "shares", "price", "equity", "score"};
        const qa_msg_size *z = &m->u.size;
        set_nums(o, names, (const double[5]){z->weight, z->shares, z->price, z->equity, z->score}, 5);
        json_object_set_new(o, "method", json_string(m->u.size.method));
        json_object_set_new(o, "state", json_string(m->u.size.state));
        break;
    }
    case QA_MSG_RISK: {
        static const char *const names[11] = {"equity", "pnl", "drawdown", "gross", "net", "concentration", "var_hist",
                                              "es_hist", "var_param", "es_param", "level"};
        const qa_msg_risk *k = &m->u.risk;
        set_nums(o, names,
                 (const double[11]){k->equity, k->pnl, k->drawdown, k->gross, k->net, k->concentration, k->var_hist,
                                    k->es_hist, k->var_param, k->es_param, k->level},
                 11);
        json_object_set_new(o, "state", json_string(k->state));
        json_object_set_new(o, "top", json_string(k->top));
        break;
    }
    case QA_MSG_ALERT:
        json_object_set_new(o, "severity", json_string(m->u.alert.severity));
        json_object_set_new(o, "limit", json_string(m->u.alert.limit));
        json_object_set_new(o, "metric", json_string(m->u.alert.metric));
        json_object_set_new(o, "value", num(m->u.alert.value));
        json_object_set_new(o, "threshold", num(m->u.alert.threshold));
        json_object_set_new(o, "state", json_string(m->u.alert.state));
        json_object_set_new(o, "detail", json_string(m->u.alert.detail));
        break;
    case QA_MSG_ORDER: {
        static const char *const names[7] = {"qty", "limit", "last_qty", "last_price", "filled", "avg_price", "fees"};
        const qa_msg_order *x = &m->u.order;
        json_object_set_new(o, "clordid", json_string(x->clordid));
        json_object_set_new(o, "parent", json_string(x->parent));
        json_object_set_new(o, "side", json_integer(x->side));
        json_object_set_new(o, "event", json_string(x->event));
        json_object_set_new(o, "state", json_string(x->state));
        json_object_set_new(o, "type", json_string(x->type));
        json_object_set_new(o, "algo", json_string(x->algo));
        set_nums(o, names, (const double[7]){x->qty, x->limit, x->last_qty, x->last_price, x->filled, x->avg_price, x->fees}, 7);
        json_object_set_new(o, "trade_id", json_string(x->trade_id));
        json_object_set_new(o, "reason", json_string(x->reason));
        break;
    }
    case QA_MSG_DEAD:
        json_object_set_new(o, "source_topic", json_string(m->u.dead.topic));
        json_object_set_new(o, "source_partition", json_integer(m->u.dead.partition));
        json_object_set_new(o, "source_offset", json_integer(m->u.dead.offset));
        json_object_set_new(o, "reason", json_string(m->u.dead.reason));
        json_object_set_new(o, "payload_bytes", json_integer(m->u.dead.payload_len));
        break;
    case QA_MSG_DOC: {
        json_object_set_new(o, "source", json_string(m->u.doc.source));
        json_object_set_new(o, "time_basis", json_string(m->u.doc.basis ? "date" : "timestamp"));
        json_object_set_new(o, "sentiment", num(m->u.doc.sentiment));
        json_t *text = json_stringn(m->u.doc.text, m->u.doc.text_len); /* NULL: not UTF-8 (a foreign producer) */
        json_object_set_new(o, "text", text ? text : json_null());
        break;
    }
    default: break;
    }
    return o;
}

static int cmd_tail(int argc, char **argv) {
    const char *bootstrap = NULL, *prefix = NULL, *pos[1];
    long long max = 0;
    double idle = 2.0;
    size_t npos = 0;
    const qa_cli_opt opts[] = {QA_OPT_STR("bootstrap", &bootstrap), QA_OPT_STR("prefix", &prefix),
                               QA_OPT_INT("max", &max, 0, 1e15), QA_OPT_NUM("idle", &idle, 0.1, 1e6), QA_OPT_END};
    int rc = qa_cli_parse("bus tail", argc, argv, opts, usage_tail, pos, 1, &npos);
    if (rc != QA_CLI_RUN) return rc;
    if (npos != 1) return qa_cli_usage_error("bus tail", "give one TOPIC (e.g. signals)");
    qa_bus_cfg cfg;
    qa_bus_cfg_default(&cfg);
    if (prefix) snprintf(cfg.prefix, sizeof cfg.prefix, "%s", prefix);
    if (bootstrap) snprintf(cfg.bootstrap, sizeof cfg.bootstrap, "%s", bootstrap);
    else if (qa_bus_mock_find(NULL, cfg.bootstrap, sizeof cfg.bootstrap) != QA_OK) return qa_cli_fail("bus tail");
    char topic[256];
    qa_bus_topic(&cfg, pos[0], topic, sizeof topic);
    qa_bus_consumer_t *c = NULL;
    int parts = 0;
    if (qa_bus_consumer_create(&cfg, NULL, &c) != QA_OK || qa_bus_partitions(c, topic, 10000, &parts) != QA_OK ||
        qa_bus_assign(c, topic, parts, NULL) != QA_OK) {
        qa_bus_consumer_free(c);
        return qa_cli_fail("bus tail");
    }
    long long n = 0;
    uint64_t last = qa_time_ns();
    while ((max == 0 || n < max) && qa_time_since(last) < idle) {
        qa_bus_record r;
        int got = qa_bus_consume(c, 100, &r);
        if (got <= 0) continue;
        last = qa_time_ns();
        char key[64];
        qa_msg_printable(r.key, r.keylen, key, sizeof key);
        json_t *o = json_pack("{s:s, s:i, s:I, s:s}", "topic", r.topic, "partition", r.partition, "offset",
                              (json_int_t)r.offset, "key", key);
        qa_msg m;
        if (qa_msg_decode(r.payload, r.len, &m) == QA_OK) {
            json_t *mj = msg_json(&m);
            json_object_update(o, mj);
            json_decref(mj);
        } else {
            json_object_set_new(o, "undecodable", json_string(qa_err_msg()));
        }
        char *line = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        if (line) puts(line);
        free(line);
        json_decref(o);
        qa_bus_record_release(&r);
        n++;
    }
    qa_bus_consumer_free(c);
    return QA_EXIT_OK;
}

int qa_cmd_bus(int argc, char **argv) {
    static const qa_cli_command table[] = {
        {"run", "run the embedded Kafka-protocol cluster (3 brokers, loopback) until stopped", cmd_run},
        {"stop", "stop the running embedded cluster", cmd_stop},
        {"tail", "print a topic's messages as JSON lines", cmd_tail},
        {NULL, NULL, NULL},
    };
    return qa_cli_dispatch("bus", "The Kafka bus of the live side (docs/live.md).", table, argc, argv);
}
