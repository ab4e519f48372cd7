/* The live service's loop: collector, timestamp closing, engine, outputs, checkpoints and
 * recovery (live/service.h). */
#include "live/service.h"

#include <inttypes.h> /* PRId64 */
#include <math.h>     /* isfinite, log */
#include <stdio.h>    /* snprintf */
#include <stddef.h>   /* offsetof: the metric table */
#include <stdlib.h>   /* calloc, qsort */
#include <string.h>   /* strcmp, memmove */

#include <jansson.h>  /* /health */

#include "common/log.h"          /* progress, warnings */
#include "common/timer.h"        /* latency */
#include "datasets/altalign.h"   /* alternative-data series, session clock */
#include "datasets/altdocs.h"    /* ticker normal form */
#include "datasets/altvader.h"   /* sentiment of incoming documents */
#include "datasets/store.h"      /* the universe file */
#include "datasets/validate.h"   /* the importer's anomaly rules */
#include "live/bus.h"            /* Kafka */
#include "live/checkpoint.h"     /* state across restarts */
#include "live/engine.h"         /* the processing */
#include "live/http.h"           /* /health, /metrics */
#include "live/livestore.h"      /* accepted bars as a market file */
#include "live/metrics.h"        /* Prometheus counters */
#include "live/msg.h"            /* schemas */
#include "live/reload.h"         /* configuration changes */
#include "live/riskdb.h"         /* metrics history, alerts, kill-switch commands */
#include "live/riskmon.h"        /* book, VaR/ES, limits, trading state */
#include "registry/registry.h"   /* models by URI */

/* ---- configuration ------------------------------------------------------------------------ */

#define QA_LIVE_ALT_SOURCES 4 /* document sources one service follows */

void qa_live_cfg_init(qa_live_cfg *c) {
    memset(c, 0, sizeof *c);
    c->stream = "live";
    c->checkpoint_every = 64;
    c->http = "";
    c->live_store = 1;
    qa_rules_init(&c->rules);
    c->rules.sizing.method = QA_BT_SIZE_VOL_TARGET;
    c->risk_window = 500, c->risk_every = 12, c->risk_level = 0.99, c->risk_recover = 3;
    c->alt_z_window = 20;
}

void qa_live_cfg_free(qa_live_cfg *c) {
    qa_limits_free(&c->limits);
}

static const qa_cfg_field kafka_schema[] = {
    QA_CFG_FIELD(qa_live_cfg, "bootstrap", QA_CFG_T_STRING, bootstrap, 0, "bootstrap.servers (default: the embedded cluster)"),
    QA_CFG_FIELD(qa_live_cfg, "prefix", QA_CFG_T_STRING, prefix, 0, "topic name prefix"),
    QA_CFG_FIELD(qa_live_cfg, "properties", QA_CFG_T_STRING_LIST, properties, 0, "librdkafka properties key=value"),
    {NULL, 0, 0, 0, 0, NULL, NULL, 0, NULL}};

static const qa_cfg_field risk_schema[] = {
    QA_CFG_NUM(qa_live_cfg, "window", risk_window, 20, 1e6, 0, "rows of returns for VaR/ES"),
    QA_CFG_NUM(qa_live_cfg, "every", risk_every, 1, 1e9, 0, "timestamps between risk snapshots"),
    QA_CFG_NUM(qa_live_cfg, "level", risk_level, 0.5, 0.9999, 0, "VaR/ES confidence"),
    QA_CFG_NUM(qa_live_cfg, "recover", risk_recover, 1, 1e9, 0, "clean snapshots before an automatic state ends"),
    QA_CFG_FIELD(qa_live_cfg, "limits", QA_CFG_T_NODE, risk_limits_node, 0, "limits (docs/risk.md)"),
    QA_CFG_FIELD(qa_live_cfg, "halt", QA_CFG_T_STRING_LIST, risk_halt, 0, "limits whose breach halts trading"),
    {NULL, 0, 0, 0, 0, NULL, NULL, 0, NULL}};

static const qa_cfg_field alt_schema[] = {
    QA_CFG_FIELD(qa_live_cfg, "sources", QA_CFG_T_STRING_LIST, alt_sources, 0, "document sources read from alt.data"),
    QA_CFG_FIELD(qa_live_cfg, "lexicon", QA_CFG_T_STRING, alt_lexicon, 0, "VADER lexicon CSV"),
    QA_CFG_NUM(qa_live_cfg, "z_window", alt_z_window, 2, QA_ALTSERIES_MAX_WINDOW, 0, "bars in the count z-score"),
    {NULL, 0, 0, 0, 0, NULL, NULL, 0, NULL}};

static const qa_cfg_field live_schema[] = {
    QA_CFG_FIELD(qa_live_cfg, "universe", QA_CFG_T_STRING, universe, QA_CFG_REQUIRED, "market file naming the symbols"),
    QA_CFG_FIELD(qa_live_cfg, "model", QA_CFG_T_STRING, model, 0, "model URI or file (none: features only)"),
    QA_CFG_FIELD(qa_live_cfg, "registry", QA_CFG_T_STRING, registry, 0, "registry directory"),
    QA_CFG_FIELD(qa_live_cfg, "state_dir", QA_CFG_T_STRING, state_dir, QA_CFG_REQUIRED, "checkpoint directory"),
    QA_CFG_FIELD(qa_live_cfg, "stream", QA_CFG_T_STRING, stream, 0, "namespace of signal ids and the consumer group"),
    QA_CFG_FIELD(qa_live_cfg, "default_features", QA_CFG_T_BOOL, default_features, 0, "also publish the default feature set"),
    QA_CFG_NUM(qa_live_cfg, "checkpoint_every", checkpoint_every, 1, 1e9, 0, "timestamps between checkpoints"),
    QA_CFG_NUM(qa_live_cfg, "threshold", threshold, 0, 1e9, 0, "|score - centre| needed for a position"),
    QA_CFG_NUM(qa_live_cfg, "allocation", allocation, 0, 1e3, 0, "fraction of capital per symbol (0: 1/N)"),
    QA_CFG_NUM(qa_live_cfg, "exit_idle", exit_idle, 0, 1e9, 0, "seconds without input before a clean exit"),
    QA_CFG_FIELD(qa_live_cfg, "http", QA_CFG_T_STRING, http, 0, "host:port of /health and /metrics"),
    QA_CFG_FIELD(qa_live_cfg, "live_store", QA_CFG_T_BOOL, live_store, 0, "keep accepted bars in state_dir/live.h5"),
    {"kafka", QA_CFG_T_SECTION, 0, 0, 0, NULL, kafka_schema, 0, "the bus"},
    {"rules", QA_CFG_T_SECTION, offsetof(qa_live_cfg, rules), 0, 0, NULL, qa_rules_schema, 0, "trading rules"},
    {"risk", QA_CFG_T_SECTION, 0, 0, 0, NULL, risk_schema, 0, "risk monitoring"},
    {"alt", QA_CFG_T_SECTION, 0, 0, 0, NULL, alt_schema, 0, "alternative data"},
    QA_CFG_FIELD(qa_live_cfg, "execution", QA_CFG_T_NODE, exec_node, 0, "orders, brokers and fills (docs/execution.md)"),
    {NULL, 0, 0, 0, 0, NULL, NULL, 0, NULL}};

qa_status qa_live_cfg_bind(const qa_cfg_t *doc, qa_live_cfg *c) {
    /* The rules are validated once the universe gives bars_per_year. */
    QA_TRY_RET(qa_cfg_bind(doc, qa_cfg_root(doc), live_schema, c, NULL));
    if (c->risk_limits_node) QA_TRY_RET(qa_limits_parse(doc, c->risk_limits_node, &c->limits));
    for (size_t i = 0; i < c->risk_halt.n; i++) {
        const char *h = ((const char **)c->risk_halt.items)[i];
        size_t k = 0;
        while (k < c->limits.n && strcmp(c->limits.items[k].name, h) != 0) k++;
        if (k == c->limits.n) return QA_FAIL(QA_ERR_CONFIG, "risk.halt: '%s' is not the name of a risk limit", h);
    }
    if (c->exec_node) QA_TRY_RET(qa_exec_cfg_bind(doc, c->exec_node, &c->exec));
    if (c->alt_sources.n > QA_LIVE_ALT_SOURCES)
        return QA_FAIL(QA_ERR_CONFIG, "alt.sources: %zu sources, at most %d", c->alt_sources.n, QA_LIVE_ALT_SOURCES);
    for (size_t i = 0; i < c->alt_sources.n; i++) {
        const char *a = ((const char **)c->alt_sources.items)[i];
        if (!*a || strlen(a) >= 16) return QA_FAIL(QA_ERR_CONFIG, "alt.sources: '%s' is not a source name (1-15 characters)", a);
        for (size_t j = 0; j < i; j++)
            if (strcmp(a, ((const char **)c->alt_sources.items)[j]) == 0)
                return QA_FAIL(QA_ERR_CONFIG, "alt.sources: '%s' is listed twice", a);
    }
    return QA_OK;
}

/* ---- the service ------------------------------------------------------------------------------ */

/* A document read from alt.data, waiting for the close of the bar it counts for. */
typedef struct pdoc {
    int64_t avail;     /* when it became available (datasets/altalign.h) */
    int64_t id;        /* document id: ties in avail are broken by it, as in batch */
    uint32_t sym;
    int32_t src;       /* index in alt.sources */
    int32_t part;      /* global input partition */
    int64_t offset;
    int64_t wm_before; /* as for bars: where a restart from this offset stands */
    double sentiment;  /* VADER compound of its text, scored here */
} pdoc;

typedef struct pending {
    int64_t time;
    uint32_t sym;
    int32_t part;
    int64_t offset;
    int64_t wm_before; /* the partition's watermark when the bar was read: where a restart
                          from this bar's offset stands */
    qa_msg_bar bar;
} pending;

/* Last output already in a topic partition: (time, symbol index). */
typedef struct mark {
    int64_t time;
    int64_t sym;
} mark;

/* Output topics: the engine's three, then the service's own. Risk and alert messages are
 * ordered after every symbol of their timestamp: their mark is (time, S + id). */
enum { OUT_RISK = QA_ENGINE_OUTS, OUT_ALERTS, OUT_ORDERS, OUT_EXECS, OUT_FILLS, NOUT };
#define MAX_CMDS 64

/* A configuration change the service knows (live/reload.h): its row in risk.db, its file
 * parsed, and the service's configuration with it in force (the startup file's process
 * settings, its own reloadable ones, which point into rc). */
typedef struct chg {
    qa_riskdb_config row; /* payload and sets are in rc */
    qa_reload_cfg *rc;
    qa_live_cfg eff;
    int due;              /* applied before a restart at row.applied_time, after the checkpoint: replayed */
    int pending;          /* accepted, waiting for its timestamp */
} chg;
#define MAX_SWITCHES 256
#define MAX_ALERTS 64

typedef struct svc {
    const qa_live_cfg *cfg;
    qa_bus_cfg bus;
    char topic_in[256], topic_out[NOUT][256], topic_dead[256];
    qa_bus_producer_t *prod;
    qa_bus_consumer_t *cons;
    qa_engine_t *engine;
    /* Two slots: the engine scores with models[cur]; a version loaded for the next
     * timestamp waits in the other, so a swap is one pointer change. */
    qa_model models[2];
    int cur, loaded[2];
    /* Hot reload: the alias followed (regc != NULL), the last registry event seen, switches due. */
    qa_registry_ref ref;
    qa_registry_t *reg;
    qa_bus_consumer_t *regc;
    char topic_reg[256];
    int64_t reg_seq;
    qa_riskdb_switch pend_switch; /* received, applied at the next timestamp (seq 0: none) */
    qa_riskdb_switch due[MAX_SWITCHES]; /* recorded after the checkpoint: replayed at their times */
    size_t ndue;
    char model_label[QA_PATH_MAX];
    char model_name[QA_PATH_MAX]; /* the registry name (signals carry it) */
    uint32_t model_version;
    /* universe */
    size_t S;
    char **symbols;
    qa_store_meta meta;        /* the universe file's, for the live store */
    qa_livestore_t *store;
    uint32_t *hash; /* open addressing: symbol index + 1, 0 empty */
    size_t hcap;
    /* input */
    int nparts;
    int64_t *next_off;  /* next offset consumed per partition */
    int64_t *wm;        /* highest watermark read per partition */
    int64_t *dl_done;   /* last source offset already dead-lettered per input partition */
    pending *pend;
    size_t npend, cap_pend;
    int64_t pend_min; /* earliest buffered time (INT64_MAX: none) */
    int64_t *last_buf; /* [S] latest buffered bar time per symbol (INT64_MIN: none) */
    /* outputs */
    int nout[NOUT], ndead;
    mark *done[NOUT];
    /* a timestamp's outputs, encoded into `arena` and queued in one batch per topic at its
     * end (offsets, not pointers: the arena grows) */
    struct outmsg { int topic, partition; size_t key, keylen, off, len; } *ob;
    size_t nob, cap_ob;
    uint8_t *arena;
    size_t narena, cap_arena;
    qa_bus_out *obatch;
    size_t cap_obatch;
    /* checkpoint */
    qa_ckpt_t *ckpt;
    qa_ckpt_data cd;
    long long since_ckpt;
    /* per timestamp */
    qa_msg_bar *bars;
    unsigned char *present;
    qa_validate_opts vopt;
    uint8_t buf[QA_MSG_MAX];
    qa_live_report *rep;
    /* operations */
    qa_metrics_t *metrics;
    qa_http_t *http;
    qa_metrics_counter *m_in, *m_out[NOUT], *m_alerts, *m_dead, *m_suppressed, *m_ckpt, *m_times;
    qa_metrics_histogram *m_step, *m_bar;
    qa_metrics_gauge *m_lag;
    long long lag;
    qa_metrics_gauge *m_closed, *m_equity, *m_drawdown, *m_gross, *m_var, *m_state;
    /* risk */
    qa_riskmon_t *risk;
    qa_riskdb_t *riskdb;
    double *statebuf; /* engine state then risk state: the checkpoint blob */
    qa_riskdb_command cmds[MAX_CMDS];
    int64_t cmd_after[MAX_CMDS]; /* a command applies only after this timestamp (see produced_until) */
    size_t ncmds;
    /* configuration changes, in id order; cfg is the eff of the one in force (or the
     * startup configuration, `base`, when there is no file) */
    const qa_live_cfg *base;
    chg **chg;
    size_t nchg, cap_chg;
    chg *latest; /* the last one recorded (pending, else applied, else the initial) */
    volatile sig_atomic_t *reload;
    uint64_t last_poll;
    qa_msg_alert alerts[MAX_ALERTS];
    size_t nalerts;
    /* alternative data: inputs [0, nmkt) are market.data's partitions, [nmkt, nparts)
     * alt.data's; one series per (source, symbol) */
    int nmkt;
    char topic_alt[256];
    size_t nsrc;
    char src_name[QA_LIVE_ALT_SOURCES][16], src_prefix[QA_LIVE_ALT_SOURCES][16];
    qa_altvader_t *vader;
    qa_altclock clock;
    qa_altseries *series;     /* [nsrc * S] */
    double *alt_vals;         /* [S * nsrc * QA_ALT_NSERIES]: this timestamp's values */
    pdoc *docs;
    size_t ndocs, cap_docs;
    char (*tick)[32];         /* [S] the symbols in ticker normal form */
    uint32_t *thash;          /* open addressing over tick, like hash */
    /* execution (live/exec.h): this timestamp's targets from the sizes */
    qa_exec_t *exec;
    double *targets;
    uint64_t *sigs;
    int nouts; /* output topics in use: NOUT with execution, else OUT_ORDERS */
    /* bus health */
    uint64_t bus_errors_seen, cons_errors_seen, last_ops_alert;
    long long bus_errors;
    qa_metrics_counter *m_bus_errors;
} svc;

static size_t hash_str(const char *s) {
    size_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static long find_symbol(const svc *v, const char *name) {
    for (size_t i = hash_str(name) & (v->hcap - 1);; i = (i + 1) & (v->hcap - 1)) {
        if (!v->hash[i]) return -1;
        if (strcmp(v->symbols[v->hash[i] - 1], name) == 0) return (long)v->hash[i] - 1;
    }
}

/* Universe index of a ticker in normal form (datasets/altdocs.h), or -1. */
static long find_ticker(const svc *v, const char *t) {
    for (size_t i = hash_str(t) & (v->hcap - 1);; i = (i + 1) & (v->hcap - 1)) {
        if (!v->thash[i]) return -1;
        if (strcmp(v->tick[v->thash[i] - 1], t) == 0) return (long)v->thash[i] - 1;
    }
}

/* Global input partition of a record (market.data first, then alt.data); -1 when its
 * topic has more partitions than the service assigned. */
static int gpart(const svc *v, const qa_bus_record *r) {
    int alt = strcmp(r->topic, v->topic_in) != 0;
    int n = alt ? v->nparts - v->nmkt : v->nmkt;
    if (r->partition < 0 || r->partition >= n) return -1;
    return alt ? v->nmkt + r->partition : r->partition;
}

static qa_status load_universe(svc *v) {
    qa_store_t *st = NULL;
    QA_TRY_RET(qa_store_open(v->cfg->universe, NULL, QA_STORE_READ, &st));
    qa_status s = QA_OK;
    v->S = qa_store_nsym(st);
    v->meta = *qa_store_get_meta(st);
    double bpy = qa_store_get_meta(st)->bars_per_year;
    v->hcap = 16;
    while (v->hcap < 2 * v->S) v->hcap *= 2;
    v->symbols = calloc(v->S + 1, sizeof *v->symbols);
    v->hash = calloc(v->hcap, sizeof *v->hash);
    if (!v->symbols || !v->hash) s = QA_FAIL(QA_ERR_NOMEM, "universe of %zu symbols", v->S);
    for (size_t i = 0; i < v->S && s == QA_OK; i++) {
        v->symbols[i] = strdup(qa_store_symbol(st, i));
        if (!v->symbols[i]) s = QA_FAIL(QA_ERR_NOMEM, "symbol");
        else if (strlen(v->symbols[i]) >= QA_MSG_SYMBOL_LEN)
            s = QA_FAIL(QA_ERR_CONFIG, "%s: symbol '%s' is longer than the %d characters of a message", v->cfg->universe,
                        v->symbols[i], QA_MSG_SYMBOL_LEN - 1);
        else {
            size_t k = hash_str(v->symbols[i]) & (v->hcap - 1);
            while (v->hash[k]) k = (k + 1) & (v->hcap - 1);
            v->hash[k] = (uint32_t)i + 1;
        }
    }
    if (s == QA_OK && v->S == 0) s = QA_FAIL(QA_ERR_CONFIG, "%s: no symbols", v->cfg->universe);
    qa_store_close(st);
    if (s == QA_OK) {
        qa_live_cfg *c = (qa_live_cfg *)v->cfg; /* bars_per_year resolved from the universe */
        qa_rules_resolve_bars_per_year(&c->rules, bpy);
        s = qa_rules_validate(&c->rules);
    }
    return s;
}

/* ---- operations --------------------------------------------------------------------------------- */

static qa_status health(void *ctx, char **json, int *healthy) {
    svc *v = ctx;
    int degraded = v->last_ops_alert && qa_time_since(v->last_ops_alert) < 30.0;
    json_t *o = json_pack("{s:s, s:I, s:s, s:s, s:I, s:I, s:I, s:I}", "status", degraded ? "degraded" : "ok",
                          "consumer_lag", (json_int_t)v->lag, "trading_state",
                          qa_trading_state_names[qa_riskmon_state(v->risk)], "model", v->model_label, "closed_time",
                          (json_int_t)v->cd.closed_time, "timestamps", (json_int_t)v->rep->timestamps, "bars",
                          (json_int_t)v->rep->bars, "dead_letters", (json_int_t)v->rep->dead_letters);
    *json = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    *healthy = 1;
    return *json ? QA_OK : QA_FAIL(QA_ERR_NOMEM, "health");
}

static qa_status start_metrics(svc *v) {
    QA_TRY_RET(qa_metrics_create(&v->metrics));
    qa_metrics_t *m = v->metrics;
    char lab[300];
    snprintf(lab, sizeof lab, "topic=\"%s\"", v->topic_in);
    QA_TRY_RET(qa_metrics_counter_register(m, "qa_live_messages_in_total", "messages consumed", lab, &v->m_in));
    for (int o = 0; o < NOUT; o++) {
        snprintf(lab, sizeof lab, "topic=\"%s\"", v->topic_out[o]);
        QA_TRY_RET(qa_metrics_counter_register(m, "qa_live_messages_out_total", "messages produced", lab, &v->m_out[o]));
    }
    static const struct {
        const char *name, *help;
        size_t off; /* of the handle in svc */
        int gauge;
    } plain[] = {
        {"qa_live_dead_letters_total", "inputs sent to the dead-letter topic", offsetof(svc, m_dead), 0},
        {"qa_live_suppressed_total", "outputs not produced again after a restart (already in their topic)",
         offsetof(svc, m_suppressed), 0},
        {"qa_live_checkpoints_total", "checkpoints written", offsetof(svc, m_ckpt), 0},
        {"qa_live_timestamps_total", "timestamps closed and processed", offsetof(svc, m_times), 0},
        {"qa_live_bus_errors_total", "errors librdkafka reported (it retries)", offsetof(svc, m_bus_errors), 0},
        {"qa_live_alerts_total", "alerts raised (limit warnings, breaches, state changes)", offsetof(svc, m_alerts), 0},
        {"qa_live_closed_time_seconds", "event time of the last closed timestamp", offsetof(svc, m_closed), 1},
        {"qa_live_consumer_lag_messages", "input messages (market.data, alt.data) not yet read (from the last fetches' high watermarks)",
         offsetof(svc, m_lag), 1},
        {"qa_live_equity", "book equity in the capital's currency", offsetof(svc, m_equity), 1},
        {"qa_live_drawdown_ratio", "drawdown from the equity peak", offsetof(svc, m_drawdown), 1},
        {"qa_live_gross_exposure_ratio", "sum of |weights|", offsetof(svc, m_gross), 1},
        {"qa_live_var_ratio", "historical VaR of the book, fraction of equity", offsetof(svc, m_var), 1},
        {"qa_live_trading_state", "0 ACTIVE, 1 REDUCING, 2 HALTED", offsetof(svc, m_state), 1},
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        void *handle = (char *)v + plain[i].off;
        QA_TRY_RET(plain[i].gauge
                       ? qa_metrics_gauge_register(m, plain[i].name, plain[i].help, NULL, (qa_metrics_gauge **)handle)
                       : qa_metrics_counter_register(m, plain[i].name, plain[i].help, NULL, (qa_metrics_counter **)handle));
    }
    double b[32];
    size_t nb = qa_metrics_latency_buckets(b, 32);
    QA_TRY_RET(qa_metrics_histogram_register(m, "qa_live_step_seconds", "engine time per closed timestamp", NULL, b, nb, &v->m_step));
    QA_TRY_RET(qa_metrics_histogram_register(m, "qa_live_bar_seconds",
                                             "engine time per bar (features, signal, size)", NULL, b, nb, &v->m_bar));
    if (!v->cfg->http || !v->cfg->http[0]) return QA_OK;
    char host[256];
    snprintf(host, sizeof host, "%s", v->cfg->http);
    char *colon = strrchr(host, ':');
    unsigned port = 0;
    if (colon) *colon = '\0', port = (unsigned)strtoul(colon + 1, NULL, 10);
    qa_http_opts ho = {host[0] ? host : NULL, port, v->metrics, health, v};
    QA_TRY_RET(qa_http_start(&ho, &v->http));
    qa_log_info("live: /health and /metrics on http://%s:%u", host[0] ? host : "127.0.0.1", qa_http_port(v->http));
    return QA_OK;
}

/* ---- outputs ------------------------------------------------------------------------------------- */

static int mark_le(int64_t t, int64_t s, const mark *m) {
    return t < m->time || (t == m->time && s <= m->sym);
}

/* Produces output `out` of universe position `sym` (S + id for risk and alerts) unless
 * its topic already holds it. */
static qa_status produce_out(svc *v, int out, size_t sym, const qa_msg *m) {
    size_t len = 0;
    size_t kl = strlen(m->symbol);
    int p = qa_bus_partition_of(m->symbol, kl, v->nout[out]);
    if (mark_le(m->time, (int64_t)sym, &v->done[out][p])) { /* sent before the restart */
        v->rep->suppressed++;
        qa_metrics_counter_add(v->m_suppressed, 1);
        return QA_OK;
    }
    if (v->nob == v->cap_ob) {
        size_t nc = v->cap_ob ? 2 * v->cap_ob : 256;
        struct outmsg *g = realloc(v->ob, nc * sizeof *g);
        if (!g) return QA_FAIL(QA_ERR_NOMEM, "output batch");
        v->ob = g, v->cap_ob = nc;
    }
    if (v->cap_arena - v->narena < QA_MSG_MAX + kl) {
        size_t nc = v->cap_arena ? 2 * v->cap_arena : 1u << 20;
        while (nc - v->narena < QA_MSG_MAX + kl) nc *= 2;
        uint8_t *g = realloc(v->arena, nc);
        if (!g) return QA_FAIL(QA_ERR_NOMEM, "output batch of %zu bytes", nc);
        v->arena = g, v->cap_arena = nc;
    }
    struct outmsg *o = &v->ob[v->nob];
    o->topic = out, o->partition = p, o->key = v->narena, o->keylen = kl;
    memcpy(v->arena + v->narena, m->symbol, kl);
    v->narena += kl;
    QA_TRY_RET(qa_msg_encode(m, v->arena + v->narena, QA_MSG_MAX, &len));
    o->off = v->narena, o->len = len;
    v->narena += len;
    v->nob++;
    v->rep->produced[out]++;
    qa_metrics_counter_add(v->m_out[out], 1);
    return QA_OK;
}

/* Queues the timestamp's outputs: one batch per topic, in the order they were made, so
 * each partition still receives them in (time, symbol) order. */
static qa_status send_outputs(svc *v) {
    if (v->cap_obatch < v->nob) {
        qa_bus_out *g = realloc(v->obatch, v->nob * sizeof *g);
        if (!g) return QA_FAIL(QA_ERR_NOMEM, "output batch");
        v->obatch = g, v->cap_obatch = v->nob;
    }
    for (int t = 0; t < NOUT; t++) {
        size_t k = 0;
        for (size_t i = 0; i < v->nob; i++) {
            const struct outmsg *o = &v->ob[i];
            if (o->topic == t) v->obatch[k++] = (qa_bus_out){o->partition, v->arena + o->key, o->keylen, v->arena + o->off, o->len};
        }
        if (k) QA_TRY_RET(qa_bus_produce_batch(v->prod, v->topic_out[t], v->obatch, k));
    }
    v->nob = v->narena = 0;
    return QA_OK;
}

/* The engine's outputs; a size is gated by the trading state and becomes the book's
 * position first. */
static qa_status emit(void *ctx, qa_engine_out out, size_t sym, const qa_msg *m) {
    svc *v = ctx;
    if (out == QA_ENGINE_FEATURES && v->nsrc) { /* the symbol's alternative-data series ride along */
        qa_msg z = *m;
        const double *a = v->alt_vals + sym * v->nsrc * QA_ALT_NSERIES;
        for (size_t k = 0; k < v->nsrc; k++)
            for (int j = 0; j < QA_ALT_NSERIES; j++) {
                uint32_t n = z.u.feat.n++;
                snprintf(z.u.feat.names[n], QA_MSG_NAME_LEN, "%s_%s", v->src_prefix[k], qa_altseries_names[j]);
                z.u.feat.values[n] = a[k * QA_ALT_NSERIES + (size_t)j];
            }
        return produce_out(v, out, sym, &z);
    }
    if (out != QA_ENGINE_SIZES) return produce_out(v, out, sym, m);
    qa_msg z = *m;
    qa_riskmon_target(v->risk, sym, &z.u.size.weight, &z.u.size.shares, z.u.size.price);
    snprintf(z.u.size.state, sizeof z.u.size.state, "%s", qa_trading_state_names[qa_riskmon_state(v->risk)]);
    if (v->exec) v->targets[sym] = z.u.size.shares, v->sigs[sym] = m->id;
    return produce_out(v, out, sym, &z);
}

/* Queues an alert of this timestamp (sent with the snapshot, or at once for state
 * changes by command). */
static void add_alert(svc *v, const char *severity, const char *limit, const char *metric, double value,
                      double threshold, const char *detail) {
    if (v->nalerts == MAX_ALERTS) return;
    qa_msg_alert *a = &v->alerts[v->nalerts++];
    memset(a, 0, sizeof *a);
    snprintf(a->severity, sizeof a->severity, "%s", severity);
    snprintf(a->limit, sizeof a->limit, "%s", limit);
    snprintf(a->metric, sizeof a->metric, "%s", metric);
    a->value = value, a->threshold = threshold;
    snprintf(a->state, sizeof a->state, "%s", qa_trading_state_names[qa_riskmon_state(v->risk)]);
    snprintf(a->detail, sizeof a->detail, "%s", detail);
    v->rep->alerts_raised++;
    qa_metrics_counter_add(v->m_alerts, 1);
    qa_log_warn("alert: %s %s %s %g (threshold %g), state %s: %s", severity, limit, metric, value, threshold, a->state, detail);
}

/* Operator commands (kill switch, cancels): those due at t (replayed after a restart) and
 * new ones. */
static qa_status apply_commands(svc *v, int64_t t) {
    size_t keep = 0;
    for (size_t i = 0; i < v->ncmds; i++) {
        qa_riskdb_command *c = &v->cmds[i];
        if ((c->applied_time != INT64_MIN && c->applied_time != t) || (c->applied_time == INT64_MIN && t <= v->cmd_after[i])) {
            if (c->applied_time == INT64_MIN || c->applied_time > t) v->cmd_after[keep] = v->cmd_after[i], v->cmds[keep++] = *c;
            continue;
        }
        if (c->applied_time == INT64_MIN) QA_TRY_RET(qa_riskdb_command_applied(v->riskdb, c->id, t));
        const int all = strcmp(c->state, QA_RISKDB_CANCEL_ALL) == 0;
        if (all || strcmp(c->state, QA_RISKDB_CANCEL) == 0) { /* carried out by this timestamp's execution step */
            char d[QA_MSG_REASON_LEN];
            snprintf(d, sizeof d, "cancelled by %.40s: %.70s", c->who, c->why); /* fits the alert text */
            if (v->exec) QA_TRY_RET(qa_exec_cancel(v->exec, all ? NULL : c->target, d));
            else add_alert(v, "command", "cancel", "orders", 0, 0, "cancel ignored: the service has no execution stage");
            continue;
        }
        qa_trading_state to;
        if (qa_trading_state_parse(c->state, &to) != QA_OK) continue; /* checked when queued */
        qa_trading_state from = qa_riskmon_state(v->risk);
        qa_riskmon_set_state(v->risk, to, to != QA_STATE_ACTIVE);
        char d[QA_MSG_REASON_LEN];
        snprintf(d, sizeof d, "%s -> %.15s by %.40s: %.50s", qa_trading_state_names[from], c->state, c->who, c->why);
        add_alert(v, "state", "kill_switch", "state", (double)to, (double)from, d);
    }
    v->ncmds = keep;
    return QA_OK;
}

/* 1 when the configured model is models:/NAME@alias (not latest): the alias is followed
 * on registry.events; *ref receives it. */
static int follows_alias(const qa_live_cfg *c, qa_registry_ref *ref) {
    return c->model && qa_registry_is_uri(c->model) && qa_registry_uri_parse(c->model, ref) == QA_OK && ref->alias[0] &&
           strcmp(ref->alias, "latest") != 0;
}

/* Loads version `version` of the followed model into the spare slot. */
static qa_status load_next(svc *v, long version) {
    char uri[QA_PATH_MAX];
    snprintf(uri, sizeof uri, "models:/%s/%ld", v->ref.name, version);
    const int spare = 1 - v->cur;
    if (v->loaded[spare]) qa_model_free(&v->models[spare]), v->loaded[spare] = 0;
    QA_TRY_RET(qa_registry_load(v->reg, uri, &v->models[spare], NULL));
    v->loaded[spare] = 1;
    return QA_OK;
}

/* The spare slot becomes the scoring model (the engine checks it reads the same inputs);
 * the old one is freed. */
static qa_status swap_model(svc *v, long version) {
    const int spare = 1 - v->cur;
    QA_TRY_RET(qa_engine_set_model(v->engine, &v->models[spare], v->model_name, (uint32_t)version));
    qa_model_free(&v->models[v->cur]);
    v->loaded[v->cur] = 0;
    v->cur = spare;
    v->model_version = (uint32_t)version;
    snprintf(v->model_label, sizeof v->model_label, "models:/%s/%ld", v->ref.name, version);
    return QA_OK;
}

/* Model switches at timestamp t: those recorded before a restart (due at t), then a
 * version received since the last timestamp. Each is recorded with t, so a restart
 * replays it at the same timestamp. */
static qa_status apply_switches(svc *v, int64_t t) {
    for (size_t i = 0; i < v->ndue; i++)
        if (v->due[i].effective_time == t) {
            QA_TRY_RET(load_next(v, v->due[i].version));
            QA_TRY_RET(swap_model(v, v->due[i].version));
        }
    if (!v->pend_switch.seq) return QA_OK;
    qa_riskdb_switch w = v->pend_switch;
    long from = (long)v->model_version;
    char d[256];
    v->pend_switch.seq = 0;
    if (swap_model(v, w.version) == QA_OK) {
        w.effective_time = t;
        snprintf(w.status, sizeof w.status, "applied");
        snprintf(d, sizeof d, "models:/%.40s/%ld -> %ld (%.20s, registry event %lld)", v->ref.name, from, w.version,
                 v->ref.alias, (long long)w.seq);
        add_alert(v, "model", "model_switch", "version", (double)w.version, (double)from, d);
    } else {
        snprintf(w.status, sizeof w.status, "rejected: %.140s", qa_err_msg());
        snprintf(d, sizeof d, "models:/%.40s/%ld refused, still scoring with %ld: %.60s", v->ref.name, w.version, from,
                 qa_err_msg());
        add_alert(v, "model", "model_rejected", "version", (double)w.version, (double)from, d);
        if (v->loaded[1 - v->cur]) qa_model_free(&v->models[1 - v->cur]), v->loaded[1 - v->cur] = 0;
    }
    return qa_riskdb_switch_add(v->riskdb, &w);
}

/* ---- configuration changes (docs/live.md, "Configuration reload") ------------------------------------ */

/* The latest timestamp any output partition holds. Processing before it after a restart
 * re-creates outputs already sent, so it must run with the settings they were made with: a
 * change (or a kill-switch command) first seen now applies only after it. */
static int64_t produced_until(const svc *v) {
    int64_t t = v->cd.closed_time;
    for (int o = 0; o < NOUT; o++)
        for (int p = 0; v->done[o] && p < v->nout[o]; p++)
            if (v->done[o][p].time > t) t = v->done[o][p].time;
    return t;
}

static void chg_free(chg *c) {
    if (!c) return;
    qa_reload_free(c->rc);
    free(c);
}

/* Parses a recorded change (rc NULL: from its payload) and builds its configuration;
 * takes ownership of rc and of row's payload and sets. */
static qa_status chg_make(svc *v, qa_riskdb_config *row, qa_reload_cfg *rc, chg **out) {
    *out = NULL;
    qa_status st = QA_OK;
    if (!rc) {
        char name[64];
        snprintf(name, sizeof name, "risk.db configuration change %lld", row->id);
        st = qa_reload_from_text(name, row->payload ? row->payload : "", row->sets, &rc);
    }
    free(row->payload), free(row->sets);
    row->payload = row->sets = NULL;
    if (st != QA_OK) return st;
    chg *c = calloc(1, sizeof *c);
    if (!c) {
        qa_reload_free(rc);
        return QA_FAIL(QA_ERR_NOMEM, "configuration change");
    }
    c->row = *row, c->rc = rc;
    qa_rules_resolve_bars_per_year(&rc->cfg.rules, v->meta.bars_per_year);
    st = qa_rules_validate(&rc->cfg.rules);
    c->eff = *v->base;
    qa_reload_adopt(&c->eff, &rc->cfg);
    if (st == QA_OK && v->nchg == v->cap_chg) {
        size_t nc = v->cap_chg ? 2 * v->cap_chg : 8;
        chg **g = realloc(v->chg, nc * sizeof(chg *));
        if (!g) st = QA_FAIL(QA_ERR_NOMEM, "configuration changes");
        else v->chg = g, v->cap_chg = nc;
    }
    if (st != QA_OK) {
        chg_free(c);
        return st;
    }
    v->chg[v->nchg++] = c;
    *out = c;
    return QA_OK;
}

/* Drops the change made last (one that was refused). */
static void chg_drop_last(svc *v) {
    chg_free(v->chg[--v->nchg]);
}

/* Puts a configuration in force: the engine's rules, the risk monitor's limits. */
static qa_status chg_install(svc *v, const qa_live_cfg *c) {
    QA_TRY_RET(qa_engine_set_rules(v->engine, &c->rules, c->threshold, c->allocation));
    qa_riskmon_cfg rc = {v->S, c->rules.capital, (long)c->risk_window, (long)c->risk_every, c->risk_level,
                         (long)c->risk_recover, &c->limits, (const char *const *)c->risk_halt.items, c->risk_halt.n};
    QA_TRY_RET(qa_riskmon_reconfigure(v->risk, &rc));
    v->cfg = c;
    return QA_OK;
}

/* An operational alert (not tied to a timestamp's outputs: bus trouble, a refused
 * configuration): sent to the alerts partition after the one deterministic alerts use, so
 * it never disturbs their exactly-once marks (not sent with one partition). */
static void ops_alert(svc *v, const char *severity, const char *limit, const char *metric, double value, const char *what) {
    const int n = v->nout[OUT_ALERTS];
    if (n < 2 || !v->prod) return;
    qa_msg m = {.kind = QA_MSG_ALERT, .time = v->cd.closed_time};
    snprintf(m.symbol, sizeof m.symbol, "%s", v->cfg->stream);
    snprintf(m.u.alert.severity, sizeof m.u.alert.severity, "%s", severity);
    snprintf(m.u.alert.limit, sizeof m.u.alert.limit, "%s", limit);
    snprintf(m.u.alert.metric, sizeof m.u.alert.metric, "%s", metric);
    m.u.alert.value = value, m.u.alert.threshold = 0;
    snprintf(m.u.alert.state, sizeof m.u.alert.state, "%s", qa_trading_state_names[qa_riskmon_state(v->risk)]);
    snprintf(m.u.alert.detail, sizeof m.u.alert.detail, "%s", what);
    size_t len = 0;
    int p = (qa_bus_partition_of(m.symbol, strlen(m.symbol), n) + 1) % n;
    if (qa_msg_encode(&m, v->buf, sizeof v->buf, &len) == QA_OK)
        qa_bus_produce(v->prod, v->topic_out[OUT_ALERTS], p, m.symbol, strlen(m.symbol), v->buf, len);
}

/* ---- execution (live/exec.h) ------------------------------------------------------------------------ */

static qa_status exec_emit(void *ctx, int topic, size_t mark, const qa_msg *m) {
    return produce_out(ctx, OUT_ORDERS + topic, mark, m);
}

static void exec_alert(void *ctx, const char *severity, const char *limit, const char *metric, double value,
                       double threshold, const char *detail) {
    add_alert(ctx, severity, limit, metric, value, threshold, detail);
}

/* Reconciliation findings are operational: after a restart they depend on where the
 * previous run stopped, so they stay out of the deterministic alert sequence. */
static void exec_ops(void *ctx, const char *severity, const char *limit, const char *metric, double value,
                     double threshold, const char *detail) {
    (void)threshold;
    qa_log_warn("execution: %s %s: %s", severity, limit, detail);
    ops_alert(ctx, severity, limit, metric, value, detail);
}

/* Judges a new change (queued by `qa live reload`, SIGHUP or a restart) against the one
 * recorded last: refused (an identity setting differs, or the engine cannot take the
 * rules), unchanged, or pending from the next timestamp after everything already produced
 * (and its `at`). The verdict is recorded. */
static qa_status chg_accept(svc *v, chg *c) {
    const qa_live_cfg *prev = v->latest ? &v->latest->rc->cfg : v->base;
    char later[512] = "";
    qa_status st = qa_reload_compare(v->base, &c->rc->cfg, NULL, 0, later, sizeof later);
    if (st == QA_OK) st = qa_reload_compare(prev, &c->rc->cfg, c->row.changes, sizeof c->row.changes, NULL, 0);
    if (st == QA_OK) st = qa_engine_rules_check(v->engine, &c->eff.rules);
    if (st == QA_OK) st = qa_reload_digest(&c->rc->cfg, c->row.digest);
    if (st != QA_OK) {
        snprintf(c->row.status, sizeof c->row.status, "rejected: %.180s", qa_err_msg());
        char d[QA_MSG_REASON_LEN];
        snprintf(d, sizeof d, "configuration change %lld (%s by %s) refused: %s", c->row.id, c->row.kind, c->row.who,
                 qa_err_msg());
        qa_log_warn("live: %s", d);
        ops_alert(v, "config", "config_rejected", "change", (double)c->row.id, d);
        QA_TRY_RET(qa_riskdb_config_update(v->riskdb, &c->row));
        chg_drop_last(v);
        return QA_OK;
    }
    if (!c->row.changes[0]) {
        snprintf(c->row.status, sizeof c->row.status, "unchanged");
        qa_log_info("live: configuration change %lld (%s by %s): no reloadable setting differs%s%s", c->row.id,
                    c->row.kind, c->row.who, later[0] ? "; at the next start: " : "", later);
        QA_TRY_RET(qa_riskdb_config_update(v->riskdb, &c->row));
        chg_drop_last(v);
        return QA_OK;
    }
    const int64_t after = produced_until(v);
    if (after > c->row.not_before) c->row.not_before = after;
    snprintf(c->row.status, sizeof c->row.status, "pending");
    QA_TRY_RET(qa_riskdb_config_update(v->riskdb, &c->row));
    c->pending = 1;
    v->latest = c;
    qa_log_info("live: configuration change %lld (%s by %s: %s) accepted, from the next timestamp%s: %s%s%s", c->row.id,
                c->row.kind, c->row.who, c->row.why, c->row.at != INT64_MIN ? " at or after its `at`" : "",
                c->row.changes, later[0] ? "; at the next start only: " : "", later);
    return QA_OK;
}

/* A change row of the service's own file (no times yet). */
static qa_riskdb_config file_row(const svc *v, const char *kind, const char *who, const char *why, const char *status) {
    qa_riskdb_config row = {0};
    snprintf(row.kind, sizeof row.kind, "%s", kind);
    snprintf(row.who, sizeof row.who, "%s", who);
    snprintf(row.why, sizeof row.why, "%s", why);
    snprintf(row.path, sizeof row.path, "%s", v->base->source_path ? v->base->source_path : "");
    snprintf(row.status, sizeof row.status, "%s", status);
    row.at = row.not_before = row.applied_time = INT64_MIN;
    return row;
}

/* Records the service's file, read again (kind signal or restart; status queued, or
 * initial at the first start), and makes its change; a queued one is judged at once. */
static qa_status chg_record(svc *v, qa_reload_cfg *rc, const char *kind, const char *who, const char *why, chg **out) {
    qa_riskdb_config row = file_row(v, kind, who, why, strcmp(kind, "initial") ? "queued" : "initial");
    qa_status st = qa_reload_digest(&rc->cfg, row.digest);
    row.payload = rc->text, row.sets = rc->sets;
    if (st == QA_OK) st = qa_riskdb_config_add(v->riskdb, &row);
    row.payload = row.sets = NULL;
    chg *c = NULL;
    if (st == QA_OK) st = chg_make(v, &row, rc, &c);
    else qa_reload_free(rc);
    if (out) *out = c;
    return st == QA_OK && strcmp(kind, "initial") != 0 ? chg_accept(v, c) : st;
}

/* Changes due at t: those applied at t before a restart, then pending ones whose time has
 * come, in id order. Each is recorded with t (so a restart replays it at t) and raises a
 * `config` alert with what it changes. */
static qa_status apply_changes(svc *v, int64_t t) {
    for (size_t i = 0; i < v->nchg; i++) {
        chg *c = v->chg[i];
        int now = (c->due && c->row.applied_time == t) ||
                  (c->pending && t > c->row.not_before && (c->row.at == INT64_MIN || t >= c->row.at));
        if (!now) continue;
        QA_TRY_RET(chg_install(v, &c->eff));
        if (c->pending) {
            c->pending = 0;
            c->row.applied_time = t;
            snprintf(c->row.status, sizeof c->row.status, "applied");
            QA_TRY_RET(qa_riskdb_config_update(v->riskdb, &c->row));
        }
        c->due = 0;
        v->rep->config_changes++;
        char d[QA_MSG_REASON_LEN];
        /* the detail holds 127 characters: the whole change is in risk.db (`qa live changes`) */
        snprintf(d, sizeof d, "change %lld by %.20s: %.80s", c->row.id, c->row.who, c->row.changes);
        add_alert(v, "config", "config_reload", "change", (double)c->row.id, 0.0, d);
    }
    return QA_OK;
}

/* New changes queued by `qa live reload`, and a SIGHUP's re-read of the file. */
static qa_status poll_changes(svc *v) {
    if (!v->base->source_text) {
        if (v->reload && *v->reload) {
            *v->reload = 0;
            qa_log_warn("live: SIGHUP: the service was started without a configuration file; nothing to reload");
        }
        return QA_OK;
    }
    if (v->reload && *v->reload) {
        *v->reload = 0;
        qa_reload_cfg *rc = NULL;
        if (qa_reload_from_file(v->base->source_path, v->base->source_sets, &rc) != QA_OK) {
            /* recorded too, so the log shows every attempt */
            char why[200];
            snprintf(why, sizeof why, "rejected: %.180s", qa_err_msg());
            qa_riskdb_config row = file_row(v, "signal", "SIGHUP", "the configuration file was read again", why);
            char d[QA_MSG_REASON_LEN];
            snprintf(d, sizeof d, "SIGHUP: %s cannot be used, the configuration in force stays: %s", v->base->source_path,
                     qa_err_msg());
            qa_log_warn("live: %s", d);
            QA_TRY_RET(qa_riskdb_config_add(v->riskdb, &row));
            ops_alert(v, "config", "config_rejected", "change", (double)row.id, d);
        } else {
            QA_TRY_RET(chg_record(v, rc, "signal", "SIGHUP", "the configuration file was read again", NULL));
        }
    }
    qa_riskdb_config *rows = NULL;
    size_t n = 0;
    QA_TRY_RET(qa_riskdb_configs(v->riskdb, "queued", &rows, &n));
    qa_status st = QA_OK;
    for (size_t i = 0; i < n && st == QA_OK; i++) {
        int known = 0;
        for (size_t j = 0; j < v->nchg; j++) known |= v->chg[j]->row.id == rows[i].id;
        if (known) continue;
        chg *c = NULL;
        if (chg_make(v, &rows[i], NULL, &c) == QA_OK) {
            st = chg_accept(v, c);
            continue;
        }
        snprintf(rows[i].status, sizeof rows[i].status, "rejected: %.180s", qa_err_msg());
        char d[QA_MSG_REASON_LEN];
        snprintf(d, sizeof d, "configuration change %lld refused: %s", rows[i].id, qa_err_msg());
        qa_log_warn("live: %s", d);
        ops_alert(v, "config", "config_rejected", "change", (double)rows[i].id, d);
        st = qa_riskdb_config_update(v->riskdb, &rows[i]);
    }
    qa_riskdb_configs_free(rows, n);
    return st;
}

/* At start (after the checkpoint and the output marks are read): the change log decides
 * the settings in force at the checkpoint, the changes to replay after it, and those
 * still waiting. The first start records its file as the initial configuration; a start
 * whose file differs from the configuration recorded last records it as a change, applied
 * after everything already produced. */
static qa_status setup_changes(svc *v) {
    const qa_live_cfg *b = v->base;
    if (!b->source_text) {
        qa_log_info("live: no configuration file: configuration reloads are off");
        return QA_OK;
    }
    qa_riskdb_config *rows = NULL;
    size_t n = 0;
    QA_TRY_RET(qa_riskdb_configs(v->riskdb, NULL, &rows, &n));
    const long fi = qa_riskdb_config_in_force(rows, n, v->cd.closed_time), li = qa_riskdb_config_latest(rows, n, 0);
    const int64_t after = produced_until(v);
    qa_status st = QA_OK;
    chg *inforce = NULL;
    for (size_t i = 0; i < n && st == QA_OK; i++) {
        qa_riskdb_config *r = &rows[i];
        const int applied = !strcmp(r->status, "applied"), pend = !strcmp(r->status, "pending");
        if (!applied && !pend && strcmp(r->status, "initial") != 0) continue; /* rejected, unchanged; queued: judged below */
        chg *c = NULL;
        st = chg_make(v, r, NULL, &c);
        if (st != QA_OK) {
            qa_err_prefix("risk.db of %s, configuration change %lld (%s)", b->state_dir, r->id, r->status);
            break;
        }
        c->due = applied && c->row.applied_time > v->cd.closed_time;
        if ((c->pending = pend) && after > c->row.not_before) c->row.not_before = after;
        if ((long)i == fi) inforce = c;
        if ((long)i == li) v->latest = c;
    }
    qa_riskdb_configs_free(rows, n);
    QA_TRY_RET(st);
    const int initial = inforce != NULL;
    if (!initial) { /* the first start: its file is the initial configuration */
        qa_reload_cfg *rc = NULL;
        QA_TRY_RET(qa_reload_from_text(b->source_path ? b->source_path : "live.yaml", b->source_text, b->source_sets, &rc));
        QA_TRY_RET(chg_record(v, rc, "initial", "qa live", "first start", &inforce));
        v->latest = inforce;
    }
    if (inforce) {
        /* The file's identity settings must be those the state was built with. */
        QA_TRY_RET(qa_reload_compare(&inforce->rc->cfg, b, NULL, 0, NULL, 0));
        QA_TRY_RET(chg_install(v, &inforce->eff));
        if (initial && inforce->row.id != v->chg[0]->row.id)
            qa_log_info("live: configuration change %lld in force at the checkpoint (%s)", inforce->row.id,
                        inforce->row.changes);
    }
    /* Changes queued while the service was down, then the file itself when it differs
     * from the configuration recorded last. */
    QA_TRY_RET(poll_changes(v));
    char digest[65];
    QA_TRY_RET(qa_reload_digest(b, digest));
    if (v->latest && strcmp(digest, v->latest->row.digest) != 0) {
        qa_reload_cfg *rc = NULL;
        QA_TRY_RET(qa_reload_from_text(b->source_path ? b->source_path : "live.yaml", b->source_text, b->source_sets, &rc));
        QA_TRY_RET(chg_record(v, rc, "restart", "qa live", "the configuration file changed while the service was down", NULL));
    }
    return QA_OK;
}

/* One message of registry.events: when the followed alias moved, load and verify the
 * new version now and switch at the next timestamp. */
static qa_status on_registry(svc *v, const void *payload, size_t len) {
    qa_msg m;
    if (qa_msg_decode(payload, len, &m) != QA_OK || m.kind != QA_MSG_REGISTRY || m.u.reg.seq <= v->reg_seq ||
        strcmp(m.u.reg.kind, "alias_set") != 0 || strcmp(m.u.reg.model, v->ref.name) != 0 ||
        strcmp(m.u.reg.alias, v->ref.alias) != 0)
        return QA_OK;
    v->reg_seq = m.u.reg.seq;
    if (m.u.reg.version == (int64_t)v->model_version) return QA_OK;
    qa_riskdb_switch w = {m.u.reg.seq, (long)m.u.reg.version, INT64_MIN, ""};
    if (load_next(v, w.version) != QA_OK) { /* missing or corrupted: refuse, keep scoring */
        snprintf(w.status, sizeof w.status, "rejected: %.140s", qa_err_msg());
        qa_log_warn("live: %s@%s moved to version %ld, which cannot be loaded: %s", v->ref.name, v->ref.alias, w.version,
                    qa_err_msg());
        return qa_riskdb_switch_add(v->riskdb, &w);
    }
    qa_log_info("live: %s@%s moved to version %ld (registry event %lld): loaded and verified, scoring from the next "
                "timestamp", v->ref.name, v->ref.alias, w.version, (long long)w.seq);
    v->pend_switch = w;
    return QA_OK;
}

static qa_status poll_registry(svc *v) {
    for (int k = 0; k < 16; k++) {
        qa_bus_record r;
        int got = qa_bus_consume(v->regc, 0, &r);
        if (got <= 0) return QA_OK;
        qa_status st = on_registry(v, r.payload, r.len);
        qa_bus_record_release(&r);
        QA_TRY_RET(st);
    }
    return QA_OK;
}

static qa_status on_registry_rec(void *ctx, const qa_bus_record *r) {
    return on_registry(ctx, r->payload, r->len);
}

/* At start: the followed alias's history in risk.db decides the version active at the
 * checkpoint (the first start records the alias's version and the log's last seq). */
static qa_status setup_hot(svc *v) {
    const qa_live_cfg *c = v->cfg;
    if (!follows_alias(c, &v->ref)) return QA_OK; /* a file, a fixed version or latest: nothing to follow */
    QA_TRY_RET(qa_registry_open(c->registry, 0, &v->reg));
    static qa_riskdb_switch rows[MAX_SWITCHES];
    size_t n = 0;
    QA_TRY_RET(qa_riskdb_switches(v->riskdb, rows, MAX_SWITCHES, &n));
    if (n == 0) {
        int64_t last = 0;
        QA_TRY_RET(qa_registry_last_seq(v->reg, &last));
        rows[0] = (qa_riskdb_switch){last, (long)v->model_version, INT64_MIN, "initial"};
        QA_TRY_RET(qa_riskdb_switch_add(v->riskdb, &rows[0]));
        n = 1;
    }
    long active = rows[0].version;
    for (size_t i = 0; i < n; i++) {
        if (rows[i].seq > v->reg_seq) v->reg_seq = rows[i].seq;
        if (strcmp(rows[i].status, "applied") != 0) continue;
        if (rows[i].effective_time <= v->cd.closed_time) active = rows[i].version;
        else if (v->ndue < MAX_SWITCHES) v->due[v->ndue++] = rows[i];
    }
    if (active != (long)v->model_version) {
        QA_TRY_RET(load_next(v, active));
        QA_TRY_RET(swap_model(v, active));
    }
    QA_TRY_RET(qa_bus_consumer_create(&v->bus, NULL, &v->regc));
    int parts = 0;
    QA_TRY_RET(qa_bus_partitions(v->regc, v->topic_reg, 10000, &parts));
    /* What the topic already holds is read before the first bar, so an alias moved while
     * the service was down takes effect at its first timestamp, not whenever a fetch
     * happens to return; later events are polled between messages. */
    int64_t *from = calloc((size_t)parts, sizeof *from);
    if (!from) return QA_FAIL(QA_ERR_NOMEM, "registry offsets");
    qa_status st = QA_OK;
    for (int p = 0; p < parts && st == QA_OK; p++) {
        int64_t lo = 0, hi = 0;
        st = qa_bus_watermarks(v->regc, v->topic_reg, p, 10000, &lo, &hi);
        if (st == QA_OK) st = qa_bus_read_range(v->regc, v->topic_reg, p, lo, hi, 10000, on_registry_rec, v);
        from[p] = hi;
    }
    if (st == QA_OK) st = qa_bus_assign(v->regc, v->topic_reg, parts, from);
    free(from);
    QA_TRY_RET(st);
    qa_log_info("live: following %s@%s on %s (scoring with version %u)", v->ref.name, v->ref.alias, v->topic_reg,
                v->model_version);
    return QA_OK;
}

/* After the engine: the risk snapshot (every risk.every timestamps), its alerts, the risk
 * database, then every alert of the timestamp. */
static qa_status risk_step(svc *v, int64_t t) {
    qa_riskmon_report r;
    int taken = 0;
    QA_TRY_RET(qa_riskmon_end(v->risk, t, &r, &taken));
    qa_msg m = {0};
    m.time = t;
    snprintf(m.symbol, sizeof m.symbol, "%s", v->cfg->stream);
    if (taken) {
        v->rep->snapshots++;
        for (size_t i = 0; i < r.nresults; i++) {
            const qa_limit_result *x = &r.results[i];
            if (x->state != QA_LIMIT_WARNING && x->state != QA_LIMIT_BREACH) continue;
            char d[QA_MSG_REASON_LEN];
            snprintf(d, sizeof d, "%s %s %.6g against %.6g", x->limit->name, qa_limit_metric_names[x->limit->metric],
                     x->value, x->threshold);
            add_alert(v, x->state == QA_LIMIT_BREACH ? "breach" : "warning", x->limit->name,
                      qa_limit_metric_names[x->limit->metric], x->value, x->threshold, d);
        }
        if (r.state != r.prev_state) {
            char d[QA_MSG_REASON_LEN];
            snprintf(d, sizeof d, "%s -> %s (%s)", qa_trading_state_names[r.prev_state], qa_trading_state_names[r.state],
                     r.state_reason);
            add_alert(v, "state", r.state_reason[0] ? r.state_reason : "limits", "state", (double)r.state,
                      (double)r.prev_state, d);
        }
        m.kind = QA_MSG_RISK, m.id = 0;
        m.u.risk = (qa_msg_risk){r.equity, r.pnl, r.drawdown, r.gross, r.net, r.concentration, r.var_hist, r.es_hist,
                                 r.var_param, r.es_param, v->cfg->risk_level, "", ""};
        snprintf(m.u.risk.state, sizeof m.u.risk.state, "%s", qa_trading_state_names[r.state]);
        snprintf(m.u.risk.top, sizeof m.u.risk.top, "%s", r.concentration_symbol);
        QA_TRY_RET(produce_out(v, OUT_RISK, v->S, &m));
        QA_TRY_RET(qa_riskdb_record(v->riskdb, t, &m.u.risk, v->alerts, v->nalerts));
        qa_metrics_gauge_set(v->m_equity, r.equity);
        qa_metrics_gauge_set(v->m_drawdown, r.drawdown);
        qa_metrics_gauge_set(v->m_gross, r.gross);
        if (r.var_hist == r.var_hist) qa_metrics_gauge_set(v->m_var, r.var_hist);
    }
    /* alerts of a timestamp without a snapshot (kill switch, model switch, reload) too */
    else if (v->nalerts) QA_TRY_RET(qa_riskdb_record(v->riskdb, t, NULL, v->alerts, v->nalerts));
    qa_metrics_gauge_set(v->m_state, (double)qa_riskmon_state(v->risk));
    for (size_t k = 0; k < v->nalerts; k++) {
        m.kind = QA_MSG_ALERT, m.id = k;
        m.u.alert = v->alerts[k];
        QA_TRY_RET(produce_out(v, OUT_ALERTS, v->S + k, &m));
    }
    v->nalerts = 0;
    return QA_OK;
}

/* Sends an input to dead.letter with the reason, unless a run before a restart did. */
static qa_status dead_letter(svc *v, const qa_bus_record *r, const char *reason) {
    v->rep->dead_letters++;
    qa_metrics_counter_add(v->m_dead, 1);
    qa_log_warn("dead letter: %s [%d] offset %" PRId64 ": %s", r->topic, r->partition, r->offset, reason);
    if (r->offset <= v->dl_done[gpart(v, r)]) return QA_OK;
    qa_msg m = {.kind = QA_MSG_DEAD};
    qa_msg_printable(r->key, r->keylen, m.symbol, QA_MSG_SYMBOL_LEN);
    snprintf(m.u.dead.topic, sizeof m.u.dead.topic, "%s", r->topic);
    m.u.dead.partition = r->partition, m.u.dead.offset = r->offset;
    snprintf(m.u.dead.reason, sizeof m.u.dead.reason, "%s", reason);
    m.u.dead.payload_len = (uint32_t)(r->len < QA_MSG_DEAD_PAYLOAD ? r->len : QA_MSG_DEAD_PAYLOAD);
    m.u.dead.payload = r->payload;
    size_t len = 0;
    QA_TRY_RET(qa_msg_encode(&m, v->buf, sizeof v->buf, &len));
    return qa_bus_produce(v->prod, v->topic_dead, r->partition % v->ndead, m.symbol, strlen(m.symbol), v->buf, len);
}

/* ---- the collector --------------------------------------------------------------------------------- */

/* Why a decoded bar is refused ("" when accepted): the importer's per-bar rules
 * (datasets/validate.h: prices > 0, OHLC consistent, no decimal shift, volume >= 0),
 * finite prices,
 * and event times that move forward. */
static void judge(svc *v, const qa_msg *m, long s, char *why, size_t size) {
    const qa_msg_bar *b = &m->u.bar;
    why[0] = '\0';
    if (s < 0) {
        snprintf(why, size, "unknown symbol '%s' (not in the universe %s)", m->symbol, v->cfg->universe);
        return;
    }
    const double px[4] = {b->open, b->high, b->low, b->close};
    static const char *const names[4] = {"open", "high", "low", "close"};
    for (int k = 0; k < 4; k++)
        if (!isfinite(px[k])) {
            snprintf(why, size, "%s: %s is %g, expected a finite price", m->symbol, names[k], px[k]);
            return;
        }
    if (!isfinite(b->volume) && !isnan(b->volume)) {
        snprintf(why, size, "%s: volume is %g", m->symbol, b->volume);
        return;
    }
    int64_t last = v->cd.last_seen[s];
    if (m->time <= last) {
        snprintf(why, size, "%s: bar time %" PRId64 " is not after the symbol's last bar %" PRId64 " (stale or out of order)",
                 m->symbol, m->time, last);
        return;
    }
    if (m->time <= v->cd.closed_time) {
        snprintf(why, size, "%s: bar time %" PRId64 " arrived after its timestamp was closed (%" PRId64 ")", m->symbol, m->time,
                 v->cd.closed_time);
        return;
    }
    /* The per-bar rules on a one-bar series (the spike and jump rules need the bars
     * around it and are left to the batch validator). */
    double open = b->open, high = b->high, low = b->low, close = b->close, vol = b->volume;
    int64_t t1 = m->time;
    qa_anom_list l = {0};
    if (qa_validate_bars(&v->vopt, s, &t1, 1, &open, &high, &low, &close, &vol, 0, &l) != QA_OK) {
        snprintf(why, size, "%s: %s", m->symbol, qa_err_msg());
        return;
    }
    for (size_t i = 0; i < l.n; i++) {
        if (l.items[i].kind == QA_ANOM_ZERO_VOLUME) continue; /* kept by the importer too */
        char d[200];
        snprintf(why, size, "%s: %s", m->symbol, qa_anomaly_describe(&l.items[i], d, sizeof d));
        break;
    }
    qa_anom_list_free(&l);
}

/* ---- closing timestamps ----------------------------------------------------------------------------- */

static int cmp_pending(const void *a, const void *b) {
    const pending *x = a, *y = b;
    if (x->time != y->time) return x->time < y->time ? -1 : 1;
    return x->sym < y->sym ? -1 : x->sym > y->sym;
}

static int cmp_pdoc(const void *a, const void *b) {
    const pdoc *x = a, *y = b;
    if (x->avail != y->avail) return x->avail < y->avail ? -1 : 1;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return (x->sym > y->sym) - (x->sym < y->sym);
}

/* The alternative-data part of closing timestamp t: the waiting documents available
 * before t's close go to their symbol's series in (availability, id) order, the order
 * batch uses; every symbol with a bar closes its series. A symbol without a bar keeps
 * its documents in the open accumulator for its next bar, as `qa alt align` does. */
static void alt_step(svc *v, int64_t t) {
    const int64_t close = qa_altclock_bar_close(&v->clock, t);
    size_t nready = 0;
    for (size_t j = 0; j < v->ndocs; j++)
        if (v->docs[j].avail < close) {
            pdoc x = v->docs[nready];
            v->docs[nready++] = v->docs[j];
            v->docs[j] = x;
        }
    if (nready > 1) qsort(v->docs, nready, sizeof *v->docs, cmp_pdoc);
    for (size_t j = 0; j < nready; j++) qa_altseries_add(&v->series[(size_t)v->docs[j].src * v->S + v->docs[j].sym], v->docs[j].sentiment);
    if (nready) memmove(v->docs, v->docs + nready, (v->ndocs - nready) * sizeof *v->docs);
    v->ndocs -= nready;
    for (size_t s = 0; s < v->S; s++) {
        if (!v->present[s]) continue;
        for (size_t k = 0; k < v->nsrc; k++)
            qa_altseries_close(&v->series[k * v->S + s], v->alt_vals + (s * v->nsrc + k) * QA_ALT_NSERIES);
    }
}

/* With no engine features the alternative-data series still get a features message per
 * symbol with a bar, in symbol order (the order the outputs' exactly-once marks need). */
static qa_status alt_only_features(svc *v, int64_t t) {
    qa_msg m = {0};
    m.kind = QA_MSG_FEATURES;
    m.time = t;
    /* lineage stays zero: no engine feature is in the message */
    for (size_t s = 0; s < v->S; s++) {
        if (!v->present[s]) continue;
        snprintf(m.symbol, sizeof m.symbol, "%s", v->symbols[s]);
        m.u.feat.n = 0;
        QA_TRY_RET(emit(v, QA_ENGINE_FEATURES, s, &m));
    }
    return QA_OK;
}

/* Processes every buffered timestamp <= the smallest watermark. Only the bars that can
 * close are sorted: with a backlog (a replay read partition by partition) most of the
 * buffer waits for other partitions, and sorting all of it per watermark is quadratic. */
static qa_status close_ready(svc *v) {
    int64_t w = INT64_MAX;
    for (int p = 0; p < v->nparts; p++)
        if (v->wm[p] < w) w = v->wm[p];
    if (!v->npend || w == INT64_MIN || v->pend_min > w) return QA_OK;
    size_t nready = 0; /* move the ready bars to the front (order of the rest is irrelevant) */
    for (size_t j = 0; j < v->npend; j++)
        if (v->pend[j].time <= w) {
            pending x = v->pend[nready];
            v->pend[nready++] = v->pend[j];
            v->pend[j] = x;
        }
    qsort(v->pend, nready, sizeof *v->pend, cmp_pending);
    size_t i = 0;
    while (i < v->npend && v->pend[i].time <= w) {
        const int64_t t = v->pend[i].time;
        memset(v->present, 0, v->S);
        size_t n = 0;
        for (; i < v->npend && v->pend[i].time == t; i++, n++) {
            v->bars[v->pend[i].sym] = v->pend[i].bar;
            v->present[v->pend[i].sym] = 1;
            v->cd.last_seen[v->pend[i].sym] = t;
        }
        uint64_t t0 = qa_time_ns();
        QA_TRY_RET(apply_commands(v, t));
        QA_TRY_RET(apply_switches(v, t));
        if (v->nchg) QA_TRY_RET(apply_changes(v, t));
        qa_riskmon_mark(v->risk, v->bars, v->present);
        if (v->nsrc) alt_step(v, t);
        if (v->exec)
            for (size_t s2 = 0; s2 < v->S; s2++) v->targets[s2] = NAN, v->sigs[s2] = 0;
        QA_TRY_RET(qa_engine_step(v->engine, t, v->bars, v->present, emit, v));
        if (v->nsrc && qa_engine_nfeatures(v->engine) == 0) QA_TRY_RET(alt_only_features(v, t));
        if (v->exec) {
            QA_TRY_RET(qa_exec_step(v->exec, t, v->bars, v->present, v->targets, v->sigs, qa_riskmon_state(v->risk),
                                    exec_emit, exec_alert, exec_ops, v));
            /* the risk book is what was traded: the snapshot, the next marks and the
             * REDUCING gate see the positions the fills made, not the targets */
            for (size_t s2 = 0; s2 < v->S; s2++) qa_riskmon_hold(v->risk, s2, qa_exec_position(v->exec, s2));
        }
        QA_TRY_RET(risk_step(v, t));
        QA_TRY_RET(send_outputs(v));
        double dt = qa_time_since(t0);
        qa_metrics_histogram_observe(v->m_step, dt);
        qa_metrics_histogram_observe(v->m_bar, dt / (double)n);
        qa_bus_poll(v->prod);
        if (v->store) QA_TRY_RET(qa_livestore_append(v->store, t, v->bars, v->present));
        v->cd.closed_time = t;
        v->cd.times++;
        v->rep->timestamps++;
        v->since_ckpt++;
        qa_metrics_counter_add(v->m_times, 1);
        qa_metrics_gauge_set(v->m_closed, (double)t * 1e-9);
    }
    memmove(v->pend, v->pend + i, (v->npend - i) * sizeof *v->pend);
    v->npend -= i;
    v->pend_min = INT64_MAX;
    for (size_t j = 0; j < v->npend; j++)
        if (v->pend[j].time < v->pend_min) v->pend_min = v->pend[j].time;
    return QA_OK;
}

/* Messages not yet read on the inputs (from the cached high watermarks; -1 unknown). */
static long long input_lag(svc *v) {
    long long lag = qa_bus_lag(v->cons, v->topic_in, v->nmkt, v->next_off);
    if (lag >= 0 && v->nsrc) {
        long long a = qa_bus_lag(v->cons, v->topic_alt, v->nparts - v->nmkt, v->next_off + v->nmkt);
        lag = a >= 0 ? lag + a : -1;
    }
    return lag;
}

/* Flush, then save (offsets to resume from: the first buffered bar of a partition, else
 * the next unread offset; with the watermark read before that offset, so a restart never
 * closes a timestamp whose bars it has not re-read yet), then commit the same offsets to
 * the group. */
static qa_status checkpoint(svc *v) {
    QA_TRY_RET(qa_bus_flush(v->prod, -1));
    for (int p = 0; p < v->nparts; p++) v->cd.offsets[p] = v->next_off[p], v->cd.watermarks[p] = v->wm[p];
    for (size_t i = 0; i < v->npend; i++) {
        const pending *q = &v->pend[i];
        if (q->offset < v->cd.offsets[q->part]) v->cd.offsets[q->part] = q->offset, v->cd.watermarks[q->part] = q->wm_before;
    }
    for (size_t i = 0; i < v->ndocs; i++) { /* documents not yet counted are read again after a restart */
        const pdoc *q = &v->docs[i];
        if (q->offset < v->cd.offsets[q->part]) v->cd.offsets[q->part] = q->offset, v->cd.watermarks[q->part] = q->wm_before;
    }
    if (v->store) QA_TRY_RET(qa_livestore_commit(v->store)); /* never behind the checkpoint row */
    const size_t ne = qa_engine_state_doubles(v->engine);
    memcpy(v->statebuf, qa_engine_state(v->engine), ne * sizeof *v->statebuf);
    memcpy(v->statebuf + ne, qa_riskmon_state_data(v->risk), qa_riskmon_state_doubles(v->risk) * sizeof *v->statebuf);
    double *alt = v->statebuf + ne + qa_riskmon_state_doubles(v->risk);
    for (size_t k = 0; k < v->nsrc * v->S; k++)
        qa_altseries_pack(&v->series[k], alt + k * QA_ALTSERIES_DOUBLES(v->cfg->alt_z_window));
    if (v->exec) /* the execution stage's plain-data state rides at the end, as bytes */
        memcpy(alt + v->nsrc * v->S * QA_ALTSERIES_DOUBLES(v->cfg->alt_z_window), qa_exec_state(v->exec),
               qa_exec_state_bytes(v->exec));
    QA_TRY_RET(qa_ckpt_save(v->ckpt, &v->cd));
    v->since_ckpt = 0;
    v->rep->checkpoints++;
    v->lag = input_lag(v);
    if (v->lag >= 0) qa_metrics_gauge_set(v->m_lag, (double)v->lag);
    qa_metrics_counter_add(v->m_ckpt, 1);
    qa_status st = qa_bus_commit(v->cons, v->topic_in, v->nmkt, v->cd.offsets);
    if (st == QA_OK && v->nsrc) st = qa_bus_commit(v->cons, v->topic_alt, v->nparts - v->nmkt, v->cd.offsets + v->nmkt);
    if (st != QA_OK) qa_log_warn("live: %s (the checkpoint holds the offsets; the group's lag view lags)", qa_err_msg());
    return QA_OK;
}

/* ---- one input message ------------------------------------------------------------------------------- */

/* A document from alt.data (after its watermark test): scored, timed by the session
 * clock and kept until the close of the bar it counts for. Documents of tickers outside
 * the universe are the topic's business, not errors: counted and skipped. */
static qa_status on_doc(svc *v, const qa_bus_record *r, int gp, const qa_msg *m) {
    char why[QA_MSG_REASON_LEN + 64];
    if (m->kind != QA_MSG_DOC) {
        snprintf(why, sizeof why, "a %s message on %s, expected documents and watermarks", qa_msg_kind_name(m->kind), r->topic);
        return dead_letter(v, r, why);
    }
    const qa_msg_doc *d = &m->u.doc;
    int src = -1;
    for (size_t k = 0; k < v->nsrc; k++)
        if (strcmp(d->source, v->src_name[k]) == 0) src = (int)k;
    if (src < 0) {
        snprintf(why, sizeof why, "document source '%s' is not one of alt.sources", d->source);
        return dead_letter(v, r, why);
    }
    char tick[32];
    long s = qa_altdocs_ticker_norm(m->symbol, tick, sizeof tick) ? find_ticker(v, tick) : -1;
    if (s < 0) {
        v->rep->docs_ignored++;
        return QA_OK;
    }
    char text[QA_MSG_DOC_TEXT + 1];
    memcpy(text, d->text, d->text_len);
    text[d->text_len] = '\0';
    const double sentiment = qa_altvader_compound(v->vader, text);
    const int64_t avail = qa_altclock_available(&v->clock, m->time, (qa_altdocs_basis)d->basis);
    /* Late (its bar has closed): it counts for the symbol's next bar. */
    if (v->cd.closed_time != INT64_MIN && avail < qa_altclock_bar_close(&v->clock, v->cd.closed_time)) v->rep->docs_late++;
    if (v->ndocs == v->cap_docs) {
        size_t cap = v->cap_docs ? 2 * v->cap_docs : 1024;
        pdoc *q = realloc(v->docs, cap * sizeof *q);
        if (!q) return QA_FAIL(QA_ERR_NOMEM, "waiting documents");
        v->docs = q, v->cap_docs = cap;
    }
    v->docs[v->ndocs++] = (pdoc){avail, (int64_t)m->id, (uint32_t)s, src, gp, r->offset, v->wm[gp], sentiment};
    v->rep->docs++;
    return QA_OK;
}

static qa_status on_record(svc *v, const qa_bus_record *r) {
    v->rep->messages++;
    qa_metrics_counter_add(v->m_in, 1);
    const int gp = gpart(v, r);
    if (gp < 0)
        return QA_FAIL(QA_ERR_STATE, "%s has grown to more partitions than the service assigned: restart it", r->topic);
    v->next_off[gp] = r->offset + 1;
    qa_msg m;
    char why[QA_MSG_REASON_LEN + 64];
    if (r->len > QA_MSG_MAX) {
        snprintf(why, sizeof why, "oversized: %zu bytes, a market.data message has at most %d", r->len, QA_MSG_MAX);
        return dead_letter(v, r, why);
    }
    if (qa_msg_decode(r->payload, r->len, &m) != QA_OK) return dead_letter(v, r, qa_err_msg());
    if (m.kind == QA_MSG_WATERMARK) {
        v->rep->watermarks++;
        if (m.time > v->wm[gp]) v->wm[gp] = m.time;
        return close_ready(v);
    }
    if (gp >= v->nmkt) return on_doc(v, r, gp, &m);
    if (m.kind != QA_MSG_BAR) {
        snprintf(why, sizeof why, "a %s message on %s, expected bars and watermarks", qa_msg_kind_name(m.kind), r->topic);
        return dead_letter(v, r, why);
    }
    long s = find_symbol(v, m.symbol);
    judge(v, &m, s, why, sizeof why);
    /* A second bar of a symbol for a still-open timestamp is refused like a stale one. */
    if (!why[0] && m.time <= v->last_buf[s])
        snprintf(why, sizeof why, "%s: bar time %" PRId64 " is not after the symbol's last bar %" PRId64
                 " (stale, duplicate or out of order)", m.symbol, m.time, v->last_buf[s]);
    if (why[0]) return dead_letter(v, r, why);
    if (v->npend == v->cap_pend) {
        size_t cap = v->cap_pend ? 2 * v->cap_pend : 1024;
        pending *q = realloc(v->pend, cap * sizeof *q);
        if (!q) return QA_FAIL(QA_ERR_NOMEM, "pending bars");
        v->pend = q, v->cap_pend = cap;
    }
    v->pend[v->npend++] = (pending){m.time, (uint32_t)s, gp, r->offset, v->wm[gp], m.u.bar};
    if (m.time < v->pend_min) v->pend_min = m.time;
    v->last_buf[s] = m.time;
    v->rep->bars++;
    return QA_OK;
}

/* ---- recovery: what the topics already hold ---------------------------------------------------------- */

typedef struct tail_ctx {
    svc *v;
    mark *mk;
} tail_ctx;

static qa_status on_tail(void *ctx, const qa_bus_record *r) {
    tail_ctx *t = ctx;
    qa_msg m;
    if (qa_msg_decode(r->payload, r->len, &m) != QA_OK) return QA_OK; /* not ours: nothing to skip */
    if (m.kind == QA_MSG_DEAD) {
        const svc *v = t->v;
        int p = m.u.dead.partition, alt = v->nsrc && strcmp(m.u.dead.topic, v->topic_alt) == 0;
        if (!alt && strcmp(m.u.dead.topic, v->topic_in) != 0) return QA_OK;
        if (p < 0 || p >= (alt ? v->nparts - v->nmkt : v->nmkt)) return QA_OK;
        if (alt) p += v->nmkt;
        if (m.u.dead.offset > v->dl_done[p]) t->v->dl_done[p] = m.u.dead.offset;
        return QA_OK;
    }
    if (m.kind == QA_MSG_ALERT && (strcmp(m.u.alert.severity, "bus") == 0 || strcmp(m.u.alert.limit, "config_rejected") == 0))
        return QA_OK; /* operational: not in the deterministic sequence */
    if (m.kind == QA_MSG_ALERT && (strcmp(m.u.alert.severity, "reconcile") == 0 || strcmp(m.u.alert.severity, "broker") == 0 ||
                                   strcmp(m.u.alert.severity, "store") == 0))
        return QA_OK; /* operational: the execution stage's (live/exec.h) */
    if (m.kind == QA_MSG_RISK || m.kind == QA_MSG_ALERT) {
        *t->mk = (mark){m.time, (int64_t)(t->v->S + m.id)};
        return QA_OK;
    }
    if (m.kind == QA_MSG_ORDER) { /* (symbol << 16 | sequence): live/exec.h */
        *t->mk = (mark){m.time, (int64_t)m.id};
        return QA_OK;
    }
    long s = find_symbol(t->v, m.symbol);
    if (s >= 0) *t->mk = (mark){m.time, s};
    return QA_OK;
}

/* Dead letters are rare: the last DEAD_SCAN of each partition are read. */
#define DEAD_SCAN 4096

static qa_status read_tails(svc *v) {
    for (int o = 0; o < v->nouts; o++) {
        QA_TRY_RET(qa_bus_partitions(v->cons, v->topic_out[o], 10000, &v->nout[o]));
        v->done[o] = calloc((size_t)v->nout[o], sizeof *v->done[o]);
        if (!v->done[o]) return QA_FAIL(QA_ERR_NOMEM, "output marks");
        for (int p = 0; p < v->nout[o]; p++) {
            v->done[o][p] = (mark){INT64_MIN, -1};
            int64_t lo, hi;
            QA_TRY_RET(qa_bus_watermarks(v->cons, v->topic_out[o], p, 10000, &lo, &hi));
            tail_ctx t = {v, &v->done[o][p]};
            if (hi > lo) QA_TRY_RET(qa_bus_read_range(v->cons, v->topic_out[o], p, hi - 1, hi, 10000, on_tail, &t));
        }
    }
    QA_TRY_RET(qa_bus_partitions(v->cons, v->topic_dead, 10000, &v->ndead));
    for (int p = 0; p < v->ndead; p++) {
        int64_t lo, hi;
        QA_TRY_RET(qa_bus_watermarks(v->cons, v->topic_dead, p, 10000, &lo, &hi));
        tail_ctx t = {v, NULL};
        int64_t from = hi - lo > DEAD_SCAN ? hi - DEAD_SCAN : lo;
        if (hi > lo) QA_TRY_RET(qa_bus_read_range(v->cons, v->topic_dead, p, from, hi, 20000, on_tail, &t));
    }
    return QA_OK;
}

/* ---- setup and loop ------------------------------------------------------------------------------------ */

/* Input the topic no longer holds is input lost, and a service that never loses anything
 * must say so rather than start from whatever survived: resuming from an offset the
 * topic's retention has deleted is an error; a first start on a topic whose beginning
 * is gone is logged with the first offset read. (The embedded cluster keeps about 5 MB
 * per partition: librdkafka's mock retention.) */
static qa_status check_retention(svc *v) {
    for (int p = 0; p < v->nparts; p++) {
        const int alt = p >= v->nmkt;
        const char *topic = alt ? v->topic_alt : v->topic_in;
        const int tp = alt ? p - v->nmkt : p;
        int64_t lo = -1, hi = -1;
        QA_TRY_RET(qa_bus_watermarks(v->cons, topic, tp, 10000, &lo, &hi));
        if (v->cd.offsets[p] >= 0 && v->cd.offsets[p] < lo)
            return QA_FAIL(QA_ERR_INTEGRITY, "%s [%d]: resuming at offset %" PRId64 " but the topic now starts at %" PRId64
                           ": %" PRId64 " messages were deleted by retention before this service read them",
                           topic, tp, v->cd.offsets[p], lo, lo - v->cd.offsets[p]);
        if (v->cd.offsets[p] < 0 && lo > 0)
            qa_log_warn("live: %s [%d] starts at offset %" PRId64 ": its first messages were deleted by retention before "
                        "this service's first start", topic, tp, lo);
    }
    return QA_OK;
}

/* alt.sources: the lexicon, the universe in ticker form, one series per (source, symbol). */
static qa_status setup_alt(svc *v) {
    const qa_live_cfg *c = v->cfg;
    v->nsrc = c->alt_sources.n;
    for (size_t k = 0; k < v->nsrc; k++) {
        const char *name = ((const char **)c->alt_sources.items)[k];
        snprintf(v->src_name[k], sizeof v->src_name[k], "%s", name);
        snprintf(v->src_prefix[k], sizeof v->src_prefix[k], "%s", qa_altalign_default_prefix(name));
    }
    size_t nfeat = qa_engine_nfeatures(v->engine) + v->nsrc * QA_ALT_NSERIES;
    if (nfeat > QA_MSG_MAX_FEATURES)
        return QA_FAIL(QA_ERR_CONFIG, "alt: %zu features and alternative-data series, a features message holds %d", nfeat,
                       QA_MSG_MAX_FEATURES);
    char lex[4096];
    if (c->alt_lexicon) {
        snprintf(lex, sizeof lex, "%s", c->alt_lexicon);
    } else {
        const char *root = getenv("QA_DATA_ROOT");
        snprintf(lex, sizeof lex, "%s/alt_text/vader_lexicon.csv.gz", root && *root ? root : "../shared/datasets");
    }
    QA_TRY_RET(qa_altvader_load(lex, &v->vader));
    qa_altclock_init(&v->meta, &v->clock);
    v->tick = calloc(v->S, sizeof *v->tick);
    v->thash = calloc(v->hcap, sizeof *v->thash);
    v->series = calloc(v->nsrc * v->S, sizeof *v->series);
    v->alt_vals = calloc(v->S * v->nsrc * QA_ALT_NSERIES, sizeof *v->alt_vals);
    if (!v->tick || !v->thash || !v->series || !v->alt_vals) return QA_FAIL(QA_ERR_NOMEM, "alternative-data state");
    for (size_t i = 0; i < v->S; i++) {
        if (!qa_altdocs_ticker_norm(v->symbols[i], v->tick[i], sizeof v->tick[i]) || find_ticker(v, v->tick[i]) >= 0)
            continue; /* not a ticker, or the same ticker twice ("BRK.B", "BRK-B"): documents go to the first */
        size_t k = hash_str(v->tick[i]) & (v->hcap - 1);
        while (v->thash[k]) k = (k + 1) & (v->hcap - 1);
        v->thash[k] = (uint32_t)i + 1;
    }
    for (size_t k = 0; k < v->nsrc * v->S; k++) qa_altseries_init(&v->series[k], (int)c->alt_z_window);
    qa_bus_topic(&v->bus, QA_TOPIC_ALT, v->topic_alt, sizeof v->topic_alt);
    return QA_OK;
}

static qa_status setup(svc *v, const char *exe) {
    const qa_live_cfg *c = v->cfg;
    QA_TRY_RET(load_universe(v));
    qa_validate_opts_default(&v->vopt);
    qa_bus_cfg_default(&v->bus);
    if (c->bootstrap) snprintf(v->bus.bootstrap, sizeof v->bus.bootstrap, "%s", c->bootstrap);
    if (c->prefix) snprintf(v->bus.prefix, sizeof v->bus.prefix, "%s", c->prefix);
    snprintf(v->bus.client_id, sizeof v->bus.client_id, "qa-live-%s", c->stream);
    for (size_t i = 0; i < c->properties.n; i++) {
        if (i == QA_BUS_MAX_PROPS) return QA_FAIL(QA_ERR_CONFIG, "more than %d Kafka properties", QA_BUS_MAX_PROPS);
        snprintf(v->bus.props[i], sizeof v->bus.props[i], "%s", ((const char **)c->properties.items)[i]);
        v->bus.nprops++;
    }
    int started = 0;
    QA_TRY_RET(qa_bus_mock_ensure(&v->bus, exe, &started));
    qa_bus_topic(&v->bus, QA_TOPIC_MARKET, v->topic_in, sizeof v->topic_in);
    qa_bus_topic(&v->bus, QA_TOPIC_FEATURES, v->topic_out[QA_ENGINE_FEATURES], sizeof v->topic_out[0]);
    qa_bus_topic(&v->bus, QA_TOPIC_SIGNALS, v->topic_out[QA_ENGINE_SIGNALS], sizeof v->topic_out[0]);
    qa_bus_topic(&v->bus, QA_TOPIC_SIZES, v->topic_out[QA_ENGINE_SIZES], sizeof v->topic_out[0]);
    qa_bus_topic(&v->bus, QA_TOPIC_RISK, v->topic_out[OUT_RISK], sizeof v->topic_out[0]);
    qa_bus_topic(&v->bus, QA_TOPIC_ALERTS, v->topic_out[OUT_ALERTS], sizeof v->topic_out[0]);
    qa_bus_topic(&v->bus, QA_TOPIC_DEAD, v->topic_dead, sizeof v->topic_dead);
    qa_bus_topic(&v->bus, QA_TOPIC_ORDERS, v->topic_out[OUT_ORDERS], sizeof v->topic_out[0]);
    qa_bus_topic(&v->bus, QA_TOPIC_EXECUTIONS, v->topic_out[OUT_EXECS], sizeof v->topic_out[0]);
    qa_bus_topic(&v->bus, QA_TOPIC_FILLS, v->topic_out[OUT_FILLS], sizeof v->topic_out[0]);
    v->nouts = c->exec.enabled ? NOUT : OUT_ORDERS;

    /* The model: loaded and verified through the registry (or a file). */
    qa_registry_version info = {0};
    if (c->model) {
        QA_TRY_RET(qa_registry_load_ref(c->registry, c->model, &v->models[0], v->model_label, &info));
        v->loaded[0] = 1;
    } else {
        snprintf(v->model_label, sizeof v->model_label, "none");
    }
    qa_feat_spec extra[64];
    char extra_names[64][64];
    const char *extra_ptr[64];
    size_t nextra = c->default_features ? qa_feat_default_set(extra, 64) : 0;
    for (size_t i = 0; i < nextra; i++) {
        qa_feat_spec_format(&extra[i], extra_names[i], sizeof extra_names[i]);
        extra_ptr[i] = extra_names[i];
    }
    snprintf(v->model_name, sizeof v->model_name, "%s", info.name[0] ? info.name : v->model_label);
    v->model_version = (uint32_t)info.version;
    qa_engine_cfg ec = {(const char *const *)v->symbols, v->S, v->loaded[0] ? &v->models[0] : NULL,
                        v->model_name, v->model_version, extra, extra_ptr, nextra,
                        c->rules, c->threshold, c->allocation, c->stream};
    QA_TRY_RET(qa_engine_create(&ec, &v->engine));
    qa_riskmon_cfg rc = {v->S, c->rules.capital, (long)c->risk_window, (long)c->risk_every, c->risk_level,
                         (long)c->risk_recover, &c->limits, (const char *const *)c->risk_halt.items, c->risk_halt.n};
    QA_TRY_RET(qa_riskmon_create(&rc, (const char *const *)v->symbols, &v->risk));
    QA_TRY_RET(qa_riskdb_open(c->state_dir, &v->riskdb));

    QA_TRY_RET(qa_bus_producer_create(&v->bus, &v->prod));
    char group[128];
    snprintf(group, sizeof group, "qa-live-%s", c->stream);
    QA_TRY_RET(qa_bus_consumer_create(&v->bus, group, &v->cons));
    QA_TRY_RET(qa_bus_partitions(v->cons, v->topic_in, 10000, &v->nmkt));
    v->nparts = v->nmkt;
    if (c->alt_sources.n) {
        int nalt = 0;
        QA_TRY_RET(setup_alt(v));
        QA_TRY_RET(qa_bus_partitions(v->cons, v->topic_alt, 10000, &nalt));
        v->nparts += nalt;
    }

    /* Checkpoint arrays and identity. */
    const size_t P = (size_t)v->nparts;
    v->next_off = calloc(P, sizeof *v->next_off);
    v->wm = calloc(P, sizeof *v->wm);
    v->cd.watermarks = calloc(P, sizeof *v->cd.watermarks);
    v->dl_done = calloc(P, sizeof *v->dl_done);
    v->cd.offsets = calloc(P, sizeof *v->cd.offsets);
    v->cd.last_seen = calloc(v->S, sizeof *v->cd.last_seen);
    v->bars = calloc(v->S, sizeof *v->bars);
    v->present = calloc(v->S, 1);
    v->last_buf = malloc(v->S * sizeof *v->last_buf);
    if (!v->next_off || !v->wm || !v->cd.watermarks || !v->dl_done || !v->cd.offsets || !v->cd.last_seen || !v->bars || !v->present || !v->last_buf)
        return QA_FAIL(QA_ERR_NOMEM, "service state");
    for (size_t p = 0; p < P; p++) v->cd.offsets[p] = -1, v->cd.watermarks[p] = INT64_MIN, v->dl_done[p] = -1;
    for (size_t s = 0; s < v->S; s++) v->cd.last_seen[s] = v->last_buf[s] = INT64_MIN;
    v->cd.closed_time = INT64_MIN;
    v->pend_min = INT64_MAX;
    v->lag = -1; /* unknown until a fetch reports the high watermarks */
    v->cd.nparts = v->nparts, v->cd.nsym = v->S;
    const size_t ne = qa_engine_state_doubles(v->engine), nr = qa_riskmon_state_doubles(v->risk);
    const size_t per = QA_ALTSERIES_DOUBLES(c->alt_z_window), na = v->nsrc * v->S * per;
    if (c->exec.enabled) {
        QA_TRY_RET(qa_exec_create(&c->exec, c->state_dir, v->symbols, v->S, c->rules.capital, &v->exec));
        v->targets = calloc(v->S, sizeof *v->targets);
        v->sigs = calloc(v->S, sizeof *v->sigs);
        if (!v->targets || !v->sigs) return QA_FAIL(QA_ERR_NOMEM, "execution targets");
    }
    const size_t nx = v->exec ? (qa_exec_state_bytes(v->exec) + sizeof(double) - 1) / sizeof(double) : 0;
    v->statebuf = calloc(ne + nr + na + nx + 1, sizeof *v->statebuf);
    if (!v->statebuf) return QA_FAIL(QA_ERR_NOMEM, "checkpoint buffer");
    v->cd.ndoubles = ne + nr + na + nx;
    v->cd.state = v->statebuf;
    /* A followed alias may switch versions: the identity names the alias, else the digest. */
    char alt[96] = "";
    for (size_t k = 0; k < v->nsrc; k++)
        snprintf(alt + strlen(alt), sizeof alt - strlen(alt), "%s%s", k ? "+" : ", alt ", v->src_name[k]);
    if (v->nsrc) snprintf(alt + strlen(alt), sizeof alt - strlen(alt), " z%lld", c->alt_z_window);
    snprintf(v->cd.identity, sizeof v->cd.identity, "universe %zu symbols %.12s, features %.16s, model %.64s, input %.48s%.60s",
             v->S, v->symbols[0], qa_engine_lineage(v->engine),
             follows_alias(c, &v->ref) ? c->model : v->loaded[0] ? v->models[0].sha256 : "none", v->topic_in, alt);
    QA_TRY_RET(qa_ckpt_open(c->state_dir, &v->ckpt));
    int found = 0;
    QA_TRY_RET(qa_ckpt_load(v->ckpt, &v->cd, &found));
    v->rep->resumed = found;
    if (found) {
        memcpy(qa_engine_state(v->engine), v->statebuf, ne * sizeof *v->statebuf);
        memcpy(qa_riskmon_state_data(v->risk), v->statebuf + ne, nr * sizeof *v->statebuf);
        for (size_t k = 0; k < v->nsrc * v->S; k++) qa_altseries_unpack(&v->series[k], v->statebuf + ne + nr + k * per);
        if (v->exec) memcpy(qa_exec_state(v->exec), v->statebuf + ne + nr + na, qa_exec_state_bytes(v->exec));
    }
    if (c->live_store)
        QA_TRY_RET(qa_livestore_open(c->state_dir, &v->meta, v->S, (const char *const *)v->symbols, v->cd.closed_time,
                                     &v->store));
    qa_bus_topic(&v->bus, QA_TOPIC_REGISTRY, v->topic_reg, sizeof v->topic_reg);
    QA_TRY_RET(setup_hot(v));
    for (size_t p = 0; p < P; p++) v->next_off[p] = v->cd.offsets[p], v->wm[p] = v->cd.watermarks[p];
    QA_TRY_RET(read_tails(v));
    /* Commands applied after the checkpoint are applied again at their timestamps; new
     * ones after everything already produced. */
    QA_TRY_RET(qa_riskdb_commands(v->riskdb, v->cd.closed_time, v->cmds, MAX_CMDS, &v->ncmds));
    const int64_t after = produced_until(v);
    for (size_t i = 0; i < v->ncmds; i++) v->cmd_after[i] = after;
    QA_TRY_RET(setup_changes(v));
    QA_TRY_RET(check_retention(v));
    const char *topics[2] = {v->topic_in, v->topic_alt};
    const int counts[2] = {v->nmkt, v->nparts - v->nmkt};
    const int64_t *offs[2] = {v->cd.offsets, v->cd.offsets + v->nmkt};
    QA_TRY_RET(qa_bus_assign_topics(v->cons, v->nsrc ? 2 : 1, topics, counts, offs));
    QA_TRY_RET(start_metrics(v));
    if (v->exec) { /* the broker's view against the order database before anything is sent */
        qa_exec_recon r;
        QA_TRY_RET(qa_exec_reconcile(v->exec, &r, exec_ops, v));
        qa_log_info("execution: reconciled at start: the broker has %lld orders (%lld working) and %lld fills; the order "
                    "database %lld working orders and %lld fills; %lld fills fetched, %lld unknown orders, %lld "
                    "position differences",
                    r.broker_orders, r.broker_open, r.broker_fills, r.db_open, r.db_fills, r.fetched_fills,
                    r.unknown_orders, r.position_mismatch);
    }
    qa_log_info("live: %s, %zu symbols from %s, %zu features (lineage %.12s), %s from %s; %d input partitions, %s",
                v->model_label, v->S, c->universe, qa_engine_nfeatures(v->engine), qa_engine_lineage(v->engine),
                found ? "resuming" : "starting", found ? "its checkpoint" : "the beginning", v->nparts, v->bus.bootstrap);
    return QA_OK;
}

static void teardown(svc *v) {
    qa_http_stop(v->http);
    qa_exec_free(v->exec);
    free(v->targets);
    free(v->sigs);
    qa_bus_consumer_free(v->cons);
    qa_bus_producer_free(v->prod);
    qa_engine_free(v->engine);
    qa_riskmon_free(v->risk);
    qa_livestore_free(v->store);
    qa_riskdb_close(v->riskdb);
    free(v->statebuf);
    for (int k = 0; k < 2; k++)
        if (v->loaded[k]) qa_model_free(&v->models[k]);
    qa_bus_consumer_free(v->regc);
    qa_registry_close(v->reg);
    qa_ckpt_close(v->ckpt);
    qa_metrics_free(v->metrics);
    for (size_t i = 0; v->symbols && i < v->S; i++) free(v->symbols[i]);
    free(v->symbols);
    free(v->hash);
    free(v->next_off);
    free(v->wm);
    free(v->cd.watermarks);
    free(v->dl_done);
    free(v->pend);
    for (int o = 0; o < NOUT; o++) free(v->done[o]);
    free(v->cd.offsets);
    free(v->cd.last_seen);
    free(v->bars);
    free(v->present);
    free(v->last_buf);
    qa_altvader_free(v->vader);
    for (size_t i = 0; i < v->nchg; i++) chg_free(v->chg[i]);
    free(v->ob);
    free(v->arena);
    free(v->obatch);
    free(v->chg);
    free(v->series);
    free(v->alt_vals);
    free(v->docs);
    free(v->tick);
    free(v->thash);
}

/* A bus problem (a broker down, a request timing out): librdkafka retries with backoff on
 * its own; the desk is told at most every 10 s, on the log, the metrics, /health and an
 * operational alert. It goes to the alerts partition after the one deterministic alerts
 * use, so it never disturbs their exactly-once marks (not sent with one partition). */
static void bus_trouble(svc *v, const char *what) {
    v->bus_errors++;
    qa_metrics_counter_add(v->m_bus_errors, 1);
    if (v->last_ops_alert && qa_time_since(v->last_ops_alert) < 10.0) return;
    v->last_ops_alert = qa_time_ns();
    qa_log_warn("live: bus trouble (librdkafka retries): %s", what);
    ops_alert(v, "bus", "kafka", "errors", (double)v->bus_errors, what);
}

static void check_bus(svc *v) {
    /* every input message: the counts only; the texts when one moved */
    const uint64_t n = qa_bus_producer_errors(v->prod, NULL, 0), m = qa_bus_consumer_errors(v->cons, NULL, 0);
    if (n + m == v->bus_errors_seen) return;
    char last[256]; /* the consumer sees a broker go down even when the service is idle */
    if (m > v->cons_errors_seen) qa_bus_consumer_errors(v->cons, last, sizeof last);
    else qa_bus_producer_errors(v->prod, last, sizeof last);
    v->bus_errors_seen = n + m, v->cons_errors_seen = m;
    bus_trouble(v, last);
}

/* New kill-switch commands (`qa live state`), applied at the next timestamp, and
 * configuration changes. */
static qa_status poll_commands(svc *v) {
    v->last_poll = qa_time_ns();
    qa_riskdb_command fresh[MAX_CMDS];
    size_t n = 0;
    QA_TRY_RET(qa_riskdb_commands(v->riskdb, INT64_MAX, fresh, MAX_CMDS, &n));
    for (size_t i = 0; i < n; i++) {
        int known = 0;
        for (size_t j = 0; j < v->ncmds; j++) known |= v->cmds[j].id == fresh[i].id;
        if (!known && v->ncmds < MAX_CMDS) v->cmd_after[v->ncmds] = produced_until(v), v->cmds[v->ncmds++] = fresh[i];
    }
    return poll_changes(v);
}

qa_status qa_live_run(const qa_live_cfg *c, const char *exe, volatile sig_atomic_t *stop, volatile sig_atomic_t *reload,
                      qa_live_report *rep) {
    memset(rep, 0, sizeof *rep);
    if (!c->state_dir || !c->universe) return QA_FAIL(QA_ERR_CONFIG, "live: universe and state_dir are required");
    svc v = {0};
    v.cfg = v.base = c;
    v.reload = reload;
    v.rep = rep;
    const uint64_t begin = qa_time_ns();
    qa_status st = setup(&v, exe);
    uint64_t last_input = qa_time_ns(), last_log = last_input;
    while (st == QA_OK && !*stop) {
        qa_bus_record r;
        int got = qa_bus_consume(v.cons, 100, &r);
        if (got < 0) { /* a broker restarting: librdkafka retries; say so and go on */
            bus_trouble(&v, qa_err_msg());
            continue;
        }
        check_bus(&v);
        if (got == 0) {
            check_bus(&v);
            v.lag = input_lag(&v); /* cached watermarks: cheap */
            if (v.lag >= 0) qa_metrics_gauge_set(v.m_lag, (double)v.lag);
            if (c->exit_idle > 0 && qa_time_since(last_input) >= c->exit_idle) {
                qa_log_info("live: no input for %.1f s: stopping", c->exit_idle);
                break;
            }
            if (v.since_ckpt) st = checkpoint(&v); /* quiet: make progress durable */
            if (st == QA_OK) st = poll_commands(&v);
            if (st == QA_OK && v.regc) st = poll_registry(&v);
            continue;
        }
        last_input = qa_time_ns();
        if (qa_time_since(v.last_poll) > 0.25 || (reload && *reload)) st = poll_commands(&v);
        if (st == QA_OK && v.regc) st = poll_registry(&v);
        if (st == QA_OK) st = on_record(&v, &r);
        qa_bus_record_release(&r);
        if (st == QA_OK && v.since_ckpt >= c->checkpoint_every) st = checkpoint(&v);
        if (qa_time_since(last_log) > 5.0) {
            last_log = qa_time_ns();
            qa_log_info("live: %lld messages, %lld timestamps closed, %lld signals, %lld dead letters", rep->messages,
                        rep->timestamps, rep->produced[QA_ENGINE_SIGNALS], rep->dead_letters);
        }
    }
    /* Graceful stop (SIGTERM, idle): everything produced is acknowledged and checkpointed. */
    if (st == QA_OK && v.ckpt) st = checkpoint(&v);
    rep->seconds = qa_time_since(begin);
    if (v.risk) snprintf(rep->state, sizeof rep->state, "%s", qa_trading_state_names[qa_riskmon_state(v.risk)]);
    teardown(&v);
    return st;
}
