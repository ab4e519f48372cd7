/* The execution stage (live/exec.h): targets -> parents -> pre-trade checks -> algorithm
 * children -> broker -> fills, written ahead to the order database. */
#include "live/exec.h"

#include <math.h>    /* fabs, floor, isfinite, NAN */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, realloc, free, qsort */
#include <string.h>  /* memset, memcpy, strcmp, strlen */

#include "common/fs.h"     /* qa_path_join */
#include "common/log.h"    /* qa_log_warn */
#include "common/strbuf.h" /* qa_strbuf_copy_cut: reasons cut to their fields */
#include "common/timeparse.h" /* `start` */
#include "common/timer.h"  /* lock waits */
#include "live/broker.h"   /* the adapter interface */
#include "live/fixbroker.h" /* broker "fix": FIX 4.4 to qa exchange */
#include "live/orderdb.h"  /* write-ahead order and trade records */
#include "trading/sizing.h" /* qa_sizing_whole: the simulator's rounding */

#define EXEC_STATE_VERSION 2u

/* ---- configuration ------------------------------------------------------------------------------------ */

void qa_exec_cfg_default(qa_exec_cfg *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->strategy, sizeof c->strategy, "qa");
    snprintf(c->broker, sizeof c->broker, "paper");
    qa_venue_cfg_default(&c->paper);
    qa_algo_cfg_default(&c->algo);
    qa_pretrade_limits_default(&c->limits);
    c->rebalance_band = 0.05;
    c->min_shares = 1.0;
    c->leverage = 1.0;
    c->reconcile_every = 12;
    c->start_ns = INT64_MIN;
    c->durable = 1;
    snprintf(c->fix_host, sizeof c->fix_host, "127.0.0.1");
    snprintf(c->fix_sender, sizeof c->fix_sender, "QA");
    snprintf(c->fix_target, sizeof c->fix_target, "QAEX");
}

/* The YAML shape: strings by pointer, nested maps as nodes. */
typedef struct exec_yaml {
    const char *strategy, *broker, *vwap_profile, *durability, *start;
    double rebalance_band, min_shares, leverage;
    long long reconcile_every;
    double latency_ms, participation, slippage_bps, fill_prob, fee_bps;
    long long seed;
    const qa_cfg_node *algo, *pretrade;
    const char *fix_host, *fix_sender, *fix_target;
    long long fix_port;
    const char *book_symbol, *book_messages, *book_orderbook, *book_date;
    long long book_levels;
} exec_yaml;

static const char *const broker_names[] = {"paper", "fix", NULL};

static const qa_cfg_field book_schema[] = {
    QA_CFG_FIELD(exec_yaml, "symbol", QA_CFG_T_STRING, book_symbol, QA_CFG_REQUIRED, "the symbol matched on the book"),
    QA_CFG_FIELD(exec_yaml, "messages", QA_CFG_T_STRING, book_messages, QA_CFG_REQUIRED, "LOBSTER message file"),
    QA_CFG_FIELD(exec_yaml, "orderbook", QA_CFG_T_STRING, book_orderbook, QA_CFG_REQUIRED, "LOBSTER order-book file"),
    QA_CFG_FIELD(exec_yaml, "date", QA_CFG_T_STRING, book_date, QA_CFG_REQUIRED, "session date YYYY-MM-DD"),
    QA_CFG_NUM(exec_yaml, "levels", book_levels, 1, 200, 0, "levels in the order-book file"),
    {NULL, 0, 0, 0, 0, NULL, NULL, 0, NULL}};

static const qa_cfg_field paper_schema[] = {
    QA_CFG_NUM(exec_yaml, "latency_ms", latency_ms, 0, 1e9, 0, "market time before an order may trade"),
    QA_CFG_NUM(exec_yaml, "participation", participation, 0, 1, 0, "max share of a bar's volume per order (0: no cap)"),
    QA_CFG_NUM(exec_yaml, "slippage_bps", slippage_bps, 0, 1e4, 0, "fill price moved against the order"),
    QA_CFG_NUM(exec_yaml, "fill_prob", fill_prob, 0, 1, 0, "chance an eligible order fills at a bar"),
    QA_CFG_NUM(exec_yaml, "fee_bps", fee_bps, 0, 1e4, 0, "fee per filled notional"),
    QA_CFG_NUM(exec_yaml, "seed", seed, 0, 9.2e18, 0, "of the fill-probability draws"),
    {"book", QA_CFG_T_SECTION, 0, 0, 0, NULL, book_schema, 0, "queue position on a LOBSTER book for one symbol"},
    {NULL, 0, 0, 0, 0, NULL, NULL, 0, NULL}};

static const qa_cfg_field fix_schema[] = {
    QA_CFG_FIELD(exec_yaml, "host", QA_CFG_T_STRING, fix_host, 0, "the exchange's FIX acceptor host"),
    QA_CFG_NUM(exec_yaml, "port", fix_port, 1, 65535, 0, "its port"),
    QA_CFG_FIELD(exec_yaml, "sender", QA_CFG_T_STRING, fix_sender, 0, "SenderCompID"),
    QA_CFG_FIELD(exec_yaml, "target", QA_CFG_T_STRING, fix_target, 0, "TargetCompID"),
    {NULL, 0, 0, 0, 0, NULL, NULL, 0, NULL}};

static const qa_cfg_field exec_schema[] = {
    QA_CFG_FIELD(exec_yaml, "strategy", QA_CFG_T_STRING, strategy, 0, "first part of client order ids"),
    QA_CFG_FIELD(exec_yaml, "broker", QA_CFG_T_STRING, broker, 0, "paper or fix"),
    QA_CFG_FIELD(exec_yaml, "vwap_profile", QA_CFG_T_STRING, vwap_profile, 0, "market file the VWAP profile is learned from"),
    QA_CFG_FIELD(exec_yaml, "durability", QA_CFG_T_STRING, durability, 0, "orders.db commits: full (fsync) or normal"),
    QA_CFG_NUM(exec_yaml, "rebalance_band", rebalance_band, 0, 10, 0, "fraction of |target| a target must move"),
    QA_CFG_NUM(exec_yaml, "min_shares", min_shares, 1, 1e12, 0, "smallest parent order"),
    QA_CFG_NUM(exec_yaml, "leverage", leverage, 0, 100, 0, "buying power per unit of equity"),
    QA_CFG_NUM(exec_yaml, "reconcile_every", reconcile_every, 1, 1e9, 0, "timestamps between reconciliations"),
    QA_CFG_FIELD(exec_yaml, "start", QA_CFG_T_STRING, start, 0, "first market time whose sizes are traded (ISO)"),
    {"paper", QA_CFG_T_SECTION, 0, 0, 0, NULL, paper_schema, 0, "the paper broker's fill model"},
    {"fix", QA_CFG_T_SECTION, 0, 0, 0, NULL, fix_schema, 0, "the FIX broker"},
    QA_CFG_FIELD(exec_yaml, "algo", QA_CFG_T_NODE, algo, 0, "execution algorithm (docs/algos.md)"),
    QA_CFG_FIELD(exec_yaml, "pretrade", QA_CFG_T_NODE, pretrade, 0, "pre-trade checks (docs/pretrade.md)"),
    {NULL, 0, 0, 0, 0, NULL, NULL, 0, NULL}};

qa_status qa_exec_cfg_bind(const qa_cfg_t *doc, const qa_cfg_node *map, qa_exec_cfg *c) {
    qa_exec_cfg_default(c);
    exec_yaml y = {0};
    y.rebalance_band = c->rebalance_band, y.min_shares = c->min_shares, y.leverage = c->leverage;
    y.reconcile_every = c->reconcile_every;
    y.latency_ms = 0.0, y.participation = c->paper.participation, y.slippage_bps = c->paper.slippage_bps;
    y.fill_prob = c->paper.fill_prob, y.fee_bps = c->paper.fee_bps, y.seed = (long long)c->paper.seed;
    y.fix_port = 0;
    y.book_levels = c->paper.book_levels;
    QA_TRY_RET(qa_cfg_bind(doc, map, exec_schema, &y, "execution"));
    if (y.book_symbol) {
        struct { const char *v; char *dst; size_t n; const char *key; } b[] = {
            {y.book_symbol, c->paper.book_symbol, sizeof c->paper.book_symbol, "symbol"},
            {y.book_messages, c->paper.book_messages, sizeof c->paper.book_messages, "messages"},
            {y.book_orderbook, c->paper.book_orderbook, sizeof c->paper.book_orderbook, "orderbook"},
            {y.book_date, c->paper.book_date, sizeof c->paper.book_date, "date"}};
        for (size_t i = 0; i < sizeof b / sizeof *b; i++)
            if ((size_t)snprintf(b[i].dst, b[i].n, "%s", b[i].v) >= b[i].n)
                return QA_FAIL(QA_ERR_CONFIG, "execution.paper.book.%s: '%s' is longer than %zu characters", b[i].key,
                               b[i].v, b[i].n - 1);
        c->paper.book_levels = (int)y.book_levels;
    }
    if (y.strategy) {
        if (!*y.strategy || strlen(y.strategy) >= sizeof c->strategy)
            return QA_FAIL(QA_ERR_CONFIG, "execution.strategy: '%s' must have 1 to %zu characters", y.strategy,
                           sizeof c->strategy - 1);
        snprintf(c->strategy, sizeof c->strategy, "%s", y.strategy);
        char probe[QA_OMS_ID_LEN];
        if (qa_oms_parent_id(c->strategy, "X", 0, probe) != QA_OK)
            return QA_FAIL(QA_ERR_CONFIG, "execution.strategy: %s", qa_err_msg());
    }
    if (y.broker) {
        int k = 0;
        while (broker_names[k] && strcmp(broker_names[k], y.broker) != 0) k++;
        if (!broker_names[k]) return QA_FAIL(QA_ERR_CONFIG, "execution.broker: '%s', expected paper or fix", y.broker);
        snprintf(c->broker, sizeof c->broker, "%s", y.broker);
    }
    c->rebalance_band = y.rebalance_band, c->min_shares = y.min_shares, c->leverage = y.leverage;
    c->reconcile_every = y.reconcile_every;
    c->paper.latency_ns = (int64_t)(y.latency_ms * 1e6);
    c->paper.participation = y.participation, c->paper.slippage_bps = y.slippage_bps;
    c->paper.fill_prob = y.fill_prob, c->paper.fee_bps = y.fee_bps, c->paper.seed = (uint64_t)y.seed;
    if (y.fix_host) snprintf(c->fix_host, sizeof c->fix_host, "%s", y.fix_host);
    if (y.fix_sender) snprintf(c->fix_sender, sizeof c->fix_sender, "%s", y.fix_sender);
    if (y.fix_target) snprintf(c->fix_target, sizeof c->fix_target, "%s", y.fix_target);
    c->fix_port = (int)y.fix_port;
    if (strcmp(c->broker, "fix") == 0 && c->fix_port == 0)
        return QA_FAIL(QA_ERR_CONFIG, "execution.fix.port: required with broker fix");
    if (y.algo) QA_TRY_RET(qa_algo_cfg_bind(doc, y.algo, &c->algo));
    if (y.pretrade) QA_TRY_RET(qa_pretrade_limits_bind(doc, y.pretrade, "execution.pretrade", &c->limits));
    if (y.durability) {
        if (strcmp(y.durability, "full") != 0 && strcmp(y.durability, "normal") != 0)
            return QA_FAIL(QA_ERR_CONFIG, "execution.durability: '%s', expected full or normal", y.durability);
        c->durable = strcmp(y.durability, "full") == 0;
    }
    if (y.start) {
        qa_tzone utc;
        memset(&utc, 0, sizeof utc);
        if (!qa_time_parse(y.start, QA_TIME_ISO, &utc, &c->start_ns))
            return QA_FAIL(QA_ERR_CONFIG, "execution.start: '%s' is not an ISO date or date-time%s", y.start,
                           qa_time_parse_why());
    }
    if (y.vwap_profile) snprintf(c->profile_path, sizeof c->profile_path, "%s", y.vwap_profile);
    c->enabled = 1;
    return QA_OK;
}

/* ---- state -------------------------------------------------------------------------------------------- */

/* One symbol: its position and the parent (and that parent's one working child) at work. */
typedef struct exec_sym {
    double position;   /* signed shares held (from fills) */
    double last_close; /* NaN before the first bar */
    double goal;       /* the position the active parent aims at */
    int active;        /* parent is working */
    int has_child;     /* child is working */
    qa_oms_order parent, child;
    qa_algo_state algo;
    double recon_broker, recon_db; /* positions at the broker and in the database as of the last reconciliation */
} exec_sym;

typedef struct exec_head {
    uint32_t version;
    uint32_t nsym;
    int64_t last_t;      /* broker events read up to here (INT64_MIN: none) */
    double cash;
    long long parents, children, rejected, fills, cancels, since_recon;
    int64_t recon_t;     /* the last reconciliation covered broker events up to here */
    int64_t recon_row;   /* and the order database's fills up to this row */
    qa_pretrade_guard guard;
} exec_head;

/* A message of this timestamp, emitted sorted by (symbol, sequence) at the end. */
typedef struct pmsg {
    int topic;
    uint32_t sym, seq;
    int64_t time;
    qa_msg_order o;
} pmsg;

/* A request for the broker, decided in phase B1 and sent in B2. */
typedef enum { REQ_CANCEL, REQ_REPLACE, REQ_SUBMIT } req_kind;
typedef struct req {
    req_kind kind;
    size_t sym;
    qa_oms_order order; /* submit/replace: the new child */
} req;

struct qa_exec {
    qa_exec_cfg cfg;
    size_t S;
    char *const *symbols;
    qa_orderdb_t *db;
    qa_broker_t *broker;
    unsigned char *state; /* head then S exec_sym: the checkpoint blob */
    size_t state_bytes;
    exec_head *h;
    exec_sym *sy;
    pmsg *msgs;
    size_t nmsgs, cap_msgs;
    req *reqs;
    size_t nreqs, cap_reqs;
    uint32_t *seq; /* [S * QA_EXEC_TOPICS] per-timestamp sequence */
    qa_order_bar *vbars;
    const char **vsyms;
    qa_exec_alert_fn alert, ops;
    void *ctx;
    long broker_repeats; /* FIX requests sent again so far (the session or the exchange was down) */
    struct named { const char *name; size_t s; } *by_name; /* [S] in name order: events find their symbol by bisection */
    /* operator cancels for the next step (qa_exec_cancel): not checkpoint state, the
     * service hands a command over again at the timestamp it applied at */
    struct op_cancel { char clordid[QA_OMS_ID_LEN]; int all; char detail[64]; } *cancels;
    size_t ncancels, cap_cancels;
    unsigned char *hold; /* [S]: touched by a cancel at this step, no decision */
};

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const struct named *)a)->name, ((const struct named *)b)->name);
}

static long find_sym(const qa_exec_t *x, const char *name) {
    size_t lo = 0, hi = x->S;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(x->by_name[mid].name, name);
        if (c == 0) return (long)x->by_name[mid].s;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

qa_status qa_exec_create(const qa_exec_cfg *cfg, const char *state_dir, char *const *symbols, size_t S, double capital,
                         qa_exec_t **out) {
    qa_exec_t *x = calloc(1, sizeof *x);
    if (!x) {
        qa_broker_close(cfg->adapter);
        return QA_FAIL(QA_ERR_NOMEM, "execution stage");
    }
    x->cfg = *cfg;
    x->broker = cfg->adapter; /* ours from here, closed by qa_exec_free also on failure */
    x->cfg.adapter = NULL;
    x->S = S;
    x->symbols = symbols;
    x->state_bytes = sizeof(exec_head) + S * sizeof(exec_sym);
    x->state = calloc(1, x->state_bytes);
    x->seq = calloc(S * QA_EXEC_TOPICS, sizeof *x->seq);
    x->vbars = calloc(S ? S : 1, sizeof *x->vbars);
    x->vsyms = calloc(S ? S : 1, sizeof *x->vsyms);
    x->by_name = calloc(S ? S : 1, sizeof *x->by_name);
    x->hold = calloc(S ? S : 1, 1);
    qa_status st = QA_OK;
    if (!x->state || !x->seq || !x->vbars || !x->vsyms || !x->by_name || !x->hold)
        st = QA_FAIL(QA_ERR_NOMEM, "execution state of %zu symbols", S);
    if (st == QA_OK) {
        for (size_t s = 0; s < S; s++) x->by_name[s].name = symbols[s], x->by_name[s].s = s;
        qsort(x->by_name, S, sizeof *x->by_name, cmp_name);
        for (size_t s = 1; s < S && st == QA_OK; s++)
            if (strcmp(x->by_name[s - 1].name, x->by_name[s].name) == 0)
                st = QA_FAIL(QA_ERR_CONFIG, "execution: symbol %s appears twice in the universe", x->by_name[s].name);
    }
    if (st == QA_OK) {
        x->h = (exec_head *)x->state;
        x->sy = (exec_sym *)(x->state + sizeof(exec_head));
        x->h->version = EXEC_STATE_VERSION;
        x->h->nsym = (uint32_t)S;
        x->h->last_t = INT64_MIN;
        x->h->recon_t = INT64_MIN;
        x->h->cash = capital;
        qa_pretrade_guard_init(&x->h->guard);
        for (size_t s = 0; s < S; s++) x->sy[s].last_close = NAN;
    }
    if (st == QA_OK && x->cfg.algo.kind == QA_ALGO_VWAP) {
        if (!x->cfg.profile_path[0])
            st = QA_FAIL(QA_ERR_CONFIG, "execution.vwap_profile: a market file to learn the volume profile from is required by algo vwap");
        else st = qa_algo_profile_learn(x->cfg.profile_path, x->cfg.profile.bucket_ns ? x->cfg.profile.bucket_ns : 300000000000LL,
                                        &x->cfg.profile);
        x->cfg.algo.profile = &x->cfg.profile;
    }
    if (st == QA_OK) st = qa_algo_cfg_check(&x->cfg.algo);
    char path[QA_PATH_MAX];
    if (st == QA_OK) st = qa_fs_mkdirs(state_dir);
    if (st == QA_OK) st = qa_path_join(path, state_dir, "orders.db");
    if (st == QA_OK) st = qa_orderdb_open(path, &x->db);
    if (st == QA_OK && !x->cfg.durable) st = qa_orderdb_set_full(x->db, 0);
    if (st == QA_OK && !x->broker && strcmp(x->cfg.broker, "fix") == 0) {
        qa_fixbroker_cfg fc;
        qa_fixbroker_cfg_default(&fc);
        snprintf(fc.host, sizeof fc.host, "%s", x->cfg.fix_host);
        fc.port = x->cfg.fix_port;
        snprintf(fc.sender, sizeof fc.sender, "%s", x->cfg.fix_sender);
        snprintf(fc.target, sizeof fc.target, "%s", x->cfg.fix_target);
        st = qa_path_join(path, state_dir, "fix");
        if (st == QA_OK && strlen(path) >= sizeof fc.store_dir)
            st = QA_FAIL(QA_ERR_CONFIG, "state_dir '%s' is too long for the FIX store (%zu bytes at most)", state_dir,
                         sizeof fc.store_dir - 5);
        if (st == QA_OK) memcpy(fc.store_dir, path, strlen(path) + 1); /* fits: checked above */
        if (st == QA_OK) st = qa_fixbroker_open(&fc, &x->broker);
    } else if (st == QA_OK && !x->broker) {
        st = qa_path_join(path, state_dir, "venue.db");
        if (st == QA_OK) st = qa_broker_paper_open(path, &x->cfg.paper, &x->broker);
    }
    if (st != QA_OK) {
        qa_exec_free(x);
        return st;
    }
    *out = x;
    return QA_OK;
}

void qa_exec_free(qa_exec_t *x) {
    if (!x) return;
    qa_broker_close(x->broker);
    qa_orderdb_close(x->db);
    free(x->state);
    free(x->seq);
    free(x->vbars);
    free(x->vsyms);
    free(x->by_name);
    free(x->hold);
    free(x->cancels);
    free(x->msgs);
    free(x->reqs);
    free(x);
}

size_t qa_exec_state_bytes(const qa_exec_t *x) { return x->state_bytes; }
double qa_exec_position(const qa_exec_t *x, size_t s) { return x->sy[s].position; }
void *qa_exec_state(qa_exec_t *x) { return x->state; }

void qa_exec_get_stats(const qa_exec_t *x, qa_exec_stats *s) {
    memset(s, 0, sizeof *s);
    s->parents = x->h->parents, s->children = x->h->children, s->rejected = x->h->rejected;
    s->fills = x->h->fills, s->cancels = x->h->cancels, s->cash = x->h->cash;
    for (size_t i = 0; i < x->S; i++)
        if (isfinite(x->sy[i].last_close)) s->position_value += x->sy[i].position * x->sy[i].last_close;
}

/* ---- messages ----------------------------------------------------------------------------------------- */

static qa_status queue_msg(qa_exec_t *x, int topic, size_t sym, int64_t t, const qa_oms_order *o, int event,
                           double last_qty, double last_px, const char *trade_id) {
    if (x->nmsgs == x->cap_msgs) {
        size_t cap = x->cap_msgs ? 2 * x->cap_msgs : 64;
        pmsg *p = realloc(x->msgs, cap * sizeof *p);
        if (!p) return QA_FAIL(QA_ERR_NOMEM, "%zu order messages", cap);
        x->msgs = p, x->cap_msgs = cap;
    }
    pmsg *m = &x->msgs[x->nmsgs++];
    memset(m, 0, sizeof *m);
    m->topic = topic, m->sym = (uint32_t)sym, m->time = t;
    m->seq = x->seq[sym * QA_EXEC_TOPICS + (size_t)topic]++;
    qa_msg_order *q = &m->o;
    snprintf(q->clordid, sizeof q->clordid, "%s", o->clordid);
    snprintf(q->parent, sizeof q->parent, "%s", o->parent);
    q->side = o->side;
    snprintf(q->event, sizeof q->event, "%s", qa_oms_event_names[event]);
    snprintf(q->state, sizeof q->state, "%s", qa_oms_state_names[o->state]);
    snprintf(q->type, sizeof q->type, "%s", qa_oms_type_names[o->type]);
    snprintf(q->algo, sizeof q->algo, "%s", o->type == QA_OMS_PARENT ? qa_algo_kind_name((qa_algo_kind)o->algo) : "");
    q->qty = o->qty, q->limit = o->type == QA_OMS_LIMIT ? o->limit : NAN;
    q->last_qty = last_qty, q->last_price = last_px;
    q->filled = o->filled, q->avg_price = o->avg_price, q->fees = o->fees;
    snprintf(q->trade_id, sizeof q->trade_id, "%s", trade_id ? trade_id : "");
    snprintf(q->reason, sizeof q->reason, "%s", o->reason);
    return QA_OK;
}

static int cmp_pmsg(const void *a, const void *b) {
    const pmsg *p = a, *q = b;
    if (p->topic != q->topic) return p->topic < q->topic ? -1 : 1;
    if (p->sym != q->sym) return p->sym < q->sym ? -1 : 1;
    return p->seq < q->seq ? -1 : p->seq > q->seq;
}

static qa_status flush_msgs(qa_exec_t *x, qa_exec_emit_fn emit, void *ctx) {
    if (x->nmsgs) qsort(x->msgs, x->nmsgs, sizeof *x->msgs, cmp_pmsg); /* msgs is NULL before the first */
    qa_status st = QA_OK;
    for (size_t i = 0; st == QA_OK && i < x->nmsgs; i++) {
        const pmsg *p = &x->msgs[i];
        qa_msg m;
        memset(&m, 0, sizeof m);
        m.kind = QA_MSG_ORDER;
        m.time = p->time;
        m.id = ((uint64_t)p->sym << 16) | p->seq;
        snprintf(m.symbol, sizeof m.symbol, "%s", x->symbols[p->sym]);
        m.u.order = p->o;
        st = emit(ctx, p->topic, (size_t)m.id, &m);
    }
    x->nmsgs = 0;
    memset(x->seq, 0, x->S * QA_EXEC_TOPICS * sizeof *x->seq);
    return st;
}

/* Records a transition of o (already applied) in the database and on `executions`. */
static qa_status record(qa_exec_t *x, size_t sym, const qa_oms_order *o, int from, int event, double last_qty,
                        double last_px, const char *trade_id) {
    QA_TRY_RET(qa_orderdb_put_order(x->db, o));
    QA_TRY_RET(qa_orderdb_put_transition(x->db, o, from, event, o->reason));
    return queue_msg(x, QA_EXEC_EXECUTIONS, sym, o->updated, o, event, last_qty, last_px, trade_id);
}

static qa_status apply_rec(qa_exec_t *x, size_t sym, qa_oms_order *o, int event, double q, double px, double fee,
                           int64_t t, const char *trade_id) {
    int from = o->state;
    qa_status st = qa_oms_apply(o, (qa_oms_event)event, q, px, fee, t);
    if (st != QA_OK) { /* illegal: logged and refused, the order stays as it was */
        qa_log_warn("execution: %s", qa_err_msg());
        if (x->alert) x->alert(x->ctx, "order", "illegal_transition", "state", (double)event, (double)from, qa_err_msg());
        return QA_OK;
    }
    return record(x, sym, o, from, event, event == QA_OMS_EV_FILL ? q : NAN, event == QA_OMS_EV_FILL ? px : NAN, trade_id);
}

/* A new order (parent or child) in state new: database row, `orders` and `executions`. */
static qa_status created(qa_exec_t *x, size_t sym, qa_oms_order *o) {
    o->state = QA_OMS_NEW;
    o->version = 1;
    QA_TRY_RET(qa_orderdb_put_order(x->db, o));
    QA_TRY_RET(qa_orderdb_put_transition(x->db, o, -1, QA_OMS_EV_SUBMIT, NULL));
    QA_TRY_RET(queue_msg(x, QA_EXEC_ORDERS, sym, o->created, o, QA_OMS_EV_SUBMIT, NAN, NAN, NULL));
    return queue_msg(x, QA_EXEC_EXECUTIONS, sym, o->created, o, QA_OMS_EV_SUBMIT, NAN, NAN, NULL);
}

/* A transaction begun, waiting out another writer's lock (busy timeout x 4); a wait of a
 * second or more is reported. */
static qa_status begin_timed(qa_exec_t *x) {
    uint64_t t0 = qa_time_ns();
    qa_status st = qa_orderdb_begin(x->db);
    double waited = qa_time_since(t0);
    if (waited >= 1.0 && x->ops) {
        char d[160];
        snprintf(d, sizeof d, "the order database was locked by another process for %.1f s", waited);
        x->ops(x->ctx, "store", "order_db_busy", "seconds", waited, 1.0, d);
    }
    return st;
}

/* Requests the FIX adapter had to send again since the last look (the session or the
 * exchange was down): reported, as they delayed the stage. */
static void broker_trouble(qa_exec_t *x) {
    qa_fixbroker_stats fs;
    if (strcmp(x->broker->ops->name, "fix") != 0 || qa_fixbroker_get_stats(x->broker, &fs) != QA_OK) return;
    if (fs.repeats > x->broker_repeats && x->ops) {
        char d[160];
        snprintf(d, sizeof d, "%ld FIX requests sent again (no answer in time, or the session logged on again)",
                 fs.repeats - x->broker_repeats);
        x->ops(x->ctx, "broker", "broker_retry", "requests", (double)(fs.repeats - x->broker_repeats), 0, d);
    }
    x->broker_repeats = fs.repeats;
}

/* ---- phase A: what the broker did ------------------------------------------------------------------- */

/* The database row of a broker fill. */
static qa_orderdb_fill fill_of(const qa_venue_event *e, const char *parent) {
    qa_orderdb_fill f;
    memset(&f, 0, sizeof f);
    snprintf(f.trade_id, sizeof f.trade_id, "%s", e->trade_id);
    snprintf(f.clordid, sizeof f.clordid, "%s", e->clordid);
    snprintf(f.parent, sizeof f.parent, "%s", parent);
    snprintf(f.symbol, sizeof f.symbol, "%s", e->symbol);
    f.side = e->side, f.qty = e->qty, f.price = e->price, f.fee = e->fee, f.time = e->time, f.bar_volume = e->bar_volume;
    return f;
}

static qa_status on_event(qa_exec_t *x, const qa_venue_event *e, int64_t t) {
    long s = find_sym(x, e->symbol);
    exec_sym *y = s >= 0 ? &x->sy[s] : NULL;
    if (!y || !y->has_child || strcmp(y->child.clordid, e->clordid) != 0) {
        char d[512]; /* alerts cut it to their detail field */
        snprintf(d, sizeof d, "%s for %s, which is not a working order of this stage", qa_venue_ev_names[e->kind], e->clordid);
        if (x->ops) x->ops(x->ctx, "reconcile", "unknown_order", "order", 0, 0, d);
        return QA_OK;
    }
    if (e->kind == QA_VENUE_EV_FILL) {
        qa_orderdb_fill f = fill_of(e, y->child.parent);
        int added = 0;
        QA_TRY_RET(qa_orderdb_put_fill(x->db, &f, &added));
        QA_TRY_RET(apply_rec(x, (size_t)s, &y->child, QA_OMS_EV_FILL, e->qty, e->price, e->fee, t, e->trade_id));
        QA_TRY_RET(queue_msg(x, QA_EXEC_FILLS, (size_t)s, t, &y->child, QA_OMS_EV_FILL, e->qty, e->price, e->trade_id));
        QA_TRY_RET(apply_rec(x, (size_t)s, &y->parent, QA_OMS_EV_FILL, e->qty, e->price, e->fee, t, e->trade_id));
        y->position += e->side * e->qty;
        x->h->cash -= e->side * e->qty * e->price + e->fee;
        x->h->fills++;
    } else if (e->kind == QA_VENUE_EV_EXPIRED) {
        QA_TRY_RET(apply_rec(x, (size_t)s, &y->child, QA_OMS_EV_EXPIRED, 0, NAN, 0, t, NULL));
    }
    if (qa_oms_final((qa_oms_state)y->child.state)) y->has_child = 0;
    if (y->active && qa_oms_final((qa_oms_state)y->parent.state)) y->active = 0;
    return QA_OK;
}

/* Inside the caller's transaction. */
static qa_status phase_a(qa_exec_t *x, int64_t t, const qa_msg_bar *bars, const unsigned char *present) {
    size_t n = 0;
    for (size_t s = 0; s < x->S; s++) {
        if (!present[s]) continue;
        x->vsyms[n] = x->symbols[s];
        x->vbars[n] = (qa_order_bar){bars[s].open, bars[s].high, bars[s].low, bars[s].close, bars[s].volume};
        n++;
    }
    qa_venue_event *ev = NULL;
    size_t nev = 0;
    QA_TRY_RET(x->broker->ops->advance(x->broker->impl, x->h->last_t, t, n, x->vsyms, x->vbars, &ev, &nev));
    qa_status st = QA_OK;
    for (size_t i = 0; st == QA_OK && i < nev; i++) st = on_event(x, &ev[i], t);
    /* a parent's arrival: the first bar after its decision, at that bar's open */
    for (size_t s = 0; st == QA_OK && s < x->S; s++) {
        exec_sym *y = &x->sy[s];
        if (!y->active || y->parent.arrival_time != INT64_MIN || !present[s] || t <= y->parent.decision_time) continue;
        y->parent.arrival_time = t;
        y->parent.arrival_price = isfinite(bars[s].open) ? bars[s].open : bars[s].close;
        st = qa_orderdb_put_arrival(x->db, &y->parent);
    }
    free(ev);
    return st;
}

/* ---- phase B: decisions ---------------------------------------------------------------------------------- */

static qa_status add_req(qa_exec_t *x, req_kind k, size_t sym, const qa_oms_order *o) {
    if (x->nreqs == x->cap_reqs) {
        size_t cap = x->cap_reqs ? 2 * x->cap_reqs : 64;
        req *p = realloc(x->reqs, cap * sizeof *p);
        if (!p) return QA_FAIL(QA_ERR_NOMEM, "%zu broker requests", cap);
        x->reqs = p, x->cap_reqs = cap;
    }
    req *r = &x->reqs[x->nreqs++];
    r->kind = k, r->sym = sym;
    if (o) r->order = *o;
    return QA_OK;
}

/* Equity, gross exposure and working notional at the last closes. */
static void account(const qa_exec_t *x, double *equity, double *gross, double *working) {
    double e = x->h->cash, g = 0.0, w = 0.0;
    for (size_t s = 0; s < x->S; s++) {
        const exec_sym *y = &x->sy[s];
        if (!isfinite(y->last_close)) continue;
        e += y->position * y->last_close;
        g += fabs(y->position) * y->last_close;
        if (y->has_child) w += (y->child.qty - y->child.filled) * y->last_close;
    }
    *equity = e, *gross = g, *working = w;
}

/* The pre-trade checks for order o of symbol s (qty signed by its side). */
static qa_pretrade_reason check(qa_exec_t *x, size_t s, const qa_oms_order *o, qa_trading_state state, int64_t t,
                                char *detail, size_t size) {
    const exec_sym *y = &x->sy[s];
    double equity, gross, working;
    account(x, &equity, &gross, &working);
    qa_pretrade_account a = {state, y->position, y->has_child ? y->child.side * (y->child.qty - y->child.filled) : 0.0,
                             y->last_close, equity, gross, x->cfg.leverage * equity - gross - working,
                             x->cfg.paper.fee_bps * 1e-4};
    qa_pretrade_order po = {o->clordid, o->symbol, o->side * (o->qty - o->filled),
                            o->type == QA_OMS_LIMIT ? o->limit : NAN, y->last_close, 0, t};
    qa_pretrade_reason r = qa_pretrade_check(&x->cfg.limits, &x->h->guard, &a, &po, detail, size);
    if (r == QA_PRETRADE_OK) qa_pretrade_record(&x->h->guard, &po);
    return r;
}

static void base_order(qa_exec_t *x, size_t s, qa_oms_order *o, int64_t t) {
    memset(o, 0, sizeof *o);
    snprintf(o->strategy, sizeof o->strategy, "%s", x->cfg.strategy);
    snprintf(o->symbol, sizeof o->symbol, "%s", x->symbols[s]);
    o->limit = NAN, o->avg_price = NAN, o->arrival_price = NAN, o->arrival_time = INT64_MIN;
    o->created = o->updated = t;
    o->decision_time = t;
}

/* A refusal: the order is rejected with its reason and an alert is raised. */
static qa_status refuse(qa_exec_t *x, size_t s, qa_oms_order *o, qa_pretrade_reason r, const char *detail, int64_t t) {
    snprintf(o->reason, sizeof o->reason, "%s", detail && detail[0] ? detail : qa_pretrade_reason_name(r));
    x->h->rejected++;
    if (x->alert) {
        char d[512]; /* alerts cut it to their detail field */
        snprintf(d, sizeof d, "%s %s refused: %s", o->clordid, o->symbol, o->reason);
        x->alert(x->ctx, "order", qa_pretrade_reason_name(r), "pretrade", o->side * o->qty, 0, d);
    }
    return apply_rec(x, s, o, QA_OMS_EV_REJECTED, 0, NAN, 0, t, NULL);
}

/* Asks for the working child to be cancelled: pending_cancel now, the request in B2. */
static qa_status cancel_child(qa_exec_t *x, size_t s, int64_t t) {
    exec_sym *y = &x->sy[s];
    if (!y->has_child || y->child.state == QA_OMS_PENDING_CANCEL) return QA_OK;
    if (y->child.state == QA_OMS_NEW) return QA_OK; /* not at the broker yet */
    QA_TRY_RET(apply_rec(x, s, &y->child, QA_OMS_EV_CANCEL_REQUEST, 0, NAN, 0, t, NULL));
    /* The request carries the order from here: cancels go to the broker before any new
     * order of this timestamp, so the symbol's next child may be decided now. */
    QA_TRY_RET(add_req(x, REQ_CANCEL, s, &y->child));
    y->has_child = 0;
    return QA_OK;
}

/* Ends the active parent (superseded, halted): its child's cancel is requested. */
static qa_status end_parent(qa_exec_t *x, size_t s, int64_t t, const char *why) {
    exec_sym *y = &x->sy[s];
    QA_TRY_RET(cancel_child(x, s, t));
    snprintf(y->parent.reason, sizeof y->parent.reason, "%s", why);
    QA_TRY_RET(apply_rec(x, s, &y->parent, QA_OMS_EV_CANCELLED, 0, NAN, 0, t, NULL));
    y->active = 0;
    return QA_OK;
}

/* Carries out an algorithm action for symbol s. */
static qa_status act(qa_exec_t *x, size_t s, const qa_algo_action *a, qa_trading_state state, int64_t t) {
    exec_sym *y = &x->sy[s];
    if (a->cancel) QA_TRY_RET(cancel_child(x, s, t));
    if (a->replace && y->has_child && y->child.state != QA_OMS_PENDING_CANCEL) {
        qa_oms_order c;
        base_order(x, s, &c, t);
        QA_TRY_RET(qa_oms_child_id(y->parent.clordid, ++y->parent.children, c.clordid));
        snprintf(c.parent, sizeof c.parent, "%s", y->parent.clordid);
        c.side = y->parent.side;
        c.qty = fabs(a->replace_qty);
        c.type = isfinite(a->replace_price) ? QA_OMS_LIMIT : QA_OMS_MARKET;
        c.limit = a->replace_price;
        c.decision_time = y->parent.decision_time, c.decision_price = y->parent.decision_price;
        QA_TRY_RET(created(x, s, &c));
        x->h->children++;
        char detail[160];
        qa_oms_order probe = c; /* checked as what it adds to the working child */
        probe.qty = c.qty - (y->child.qty - y->child.filled);
        qa_pretrade_reason r = probe.qty > 0 ? check(x, s, &probe, state, t, detail, sizeof detail) : QA_PRETRADE_OK;
        if (r != QA_PRETRADE_OK) return refuse(x, s, &c, r, detail, t); /* the working child stays as it is */
        QA_TRY_RET(apply_rec(x, s, &y->child, QA_OMS_EV_CANCEL_REQUEST, 0, NAN, 0, t, NULL));
        return add_req(x, REQ_REPLACE, s, &c);
    }
    if (a->child_qty == 0.0) return QA_OK;
    if (y->has_child) return QA_OK; /* one working child per parent: the algorithm cancels first */
    qa_oms_order c;
    base_order(x, s, &c, t);
    QA_TRY_RET(qa_oms_child_id(y->parent.clordid, ++y->parent.children, c.clordid));
    snprintf(c.parent, sizeof c.parent, "%s", y->parent.clordid);
    c.side = a->child_qty > 0 ? 1 : -1;
    c.qty = fabs(a->child_qty);
    c.type = a->child_limit ? QA_OMS_LIMIT : QA_OMS_MARKET;
    c.limit = a->child_limit ? a->child_price : NAN;
    c.decision_time = y->parent.decision_time, c.decision_price = y->parent.decision_price;
    QA_TRY_RET(created(x, s, &c));
    x->h->children++;
    char detail[160];
    qa_pretrade_reason r = check(x, s, &c, state, t, detail, sizeof detail);
    if (r != QA_PRETRADE_OK) { /* the child is refused: the parent stops with the reason */
        QA_TRY_RET(refuse(x, s, &c, r, detail, t));
        return end_parent(x, s, t, c.reason);
    }
    y->child = c;
    y->has_child = 1;
    return add_req(x, REQ_SUBMIT, s, &c);
}

static qa_status decide(qa_exec_t *x, size_t s, int64_t t, const qa_msg_bar *bar, int present, double target,
                        uint64_t sig, qa_trading_state state) {
    exec_sym *y = &x->sy[s];
    if (present) y->last_close = bar->close;
    if (state == QA_STATE_HALTED) {
        if (y->active) QA_TRY_RET(end_parent(x, s, t, "halted"));
        else if (y->has_child) QA_TRY_RET(cancel_child(x, s, t));
        return QA_OK;
    }
    int fresh = 0;
    if (isfinite(target) && t >= x->cfg.start_ns) {
        double tgt = qa_sizing_whole(target);
        double band = x->cfg.rebalance_band * fabs(tgt);
        if (band < x->cfg.min_shares) band = x->cfg.min_shares;
        double from = y->active ? y->goal : y->position;
        if (fabs(tgt - from) >= band) {
            if (y->active) QA_TRY_RET(end_parent(x, s, t, "superseded by a new target"));
            double delta = tgt - y->position;
            if (fabs(delta) >= x->cfg.min_shares) {
                qa_oms_order p;
                base_order(x, s, &p, t);
                QA_TRY_RET(qa_oms_parent_id(x->cfg.strategy, x->symbols[s], sig, p.clordid));
                p.type = QA_OMS_PARENT;
                p.algo = (int)x->cfg.algo.kind;
                p.side = delta > 0 ? 1 : -1;
                p.qty = fabs(delta);
                p.decision_price = bar->close;
                QA_TRY_RET(created(x, s, &p));
                x->h->parents++;
                char detail[160];
                qa_pretrade_limits saved = x->cfg.limits; /* the throttle counts orders on the wire: children */
                x->cfg.limits.throttle_orders = 0;
                qa_pretrade_reason r = check(x, s, &p, state, t, detail, sizeof detail);
                x->cfg.limits = saved;
                if (r != QA_PRETRADE_OK) return refuse(x, s, &p, r, detail, t);
                QA_TRY_RET(apply_rec(x, s, &p, QA_OMS_EV_ACCEPTED, 0, NAN, 0, t, NULL));
                y->parent = p;
                y->active = 1;
                y->goal = tgt;
                qa_order_bar ob = {bar->open, bar->high, bar->low, bar->close, bar->volume};
                qa_algo_action a;
                QA_TRY_RET(qa_algo_start(&x->cfg.algo, &y->algo, p.side * p.qty, t, &ob, &a));
                fresh = 1;
                QA_TRY_RET(act(x, s, &a, state, t));
            }
        }
    }
    if (y->active && !fresh && present) {
        qa_order_bar ob = {bar->open, bar->high, bar->low, bar->close, bar->volume};
        double working = y->has_child && y->child.state != QA_OMS_PENDING_CANCEL
                             ? y->child.side * (y->child.qty - y->child.filled) : 0.0;
        qa_algo_action a;
        QA_TRY_RET(qa_algo_step(&x->cfg.algo, &y->algo, t, &ob, y->parent.side * y->parent.filled, working, &a));
        QA_TRY_RET(act(x, s, &a, state, t));
    }
    return QA_OK;
}

qa_status qa_exec_cancel(qa_exec_t *x, const char *clordid, const char *detail) {
    if (x->ncancels == x->cap_cancels) {
        size_t cap = x->cap_cancels ? 2 * x->cap_cancels : 8;
        struct op_cancel *p = realloc(x->cancels, cap * sizeof *p);
        if (!p) return QA_FAIL(QA_ERR_NOMEM, "%zu operator cancels", cap);
        x->cancels = p, x->cap_cancels = cap;
    }
    struct op_cancel *c = &x->cancels[x->ncancels++];
    memset(c, 0, sizeof *c);
    c->all = clordid == NULL;
    snprintf(c->clordid, sizeof c->clordid, "%s", clordid ? clordid : "");
    qa_strbuf_copy_cut(c->detail, sizeof c->detail, detail ? detail : "cancelled by the operator");
    return QA_OK;
}

/* The operator cancels kept for this step, after the broker's events (an order filled in
 * the meantime is no longer working) and before the decisions: the path HALTED takes. */
static qa_status operator_cancels(qa_exec_t *x, int64_t t) {
    memset(x->hold, 0, x->S);
    for (size_t i = 0; i < x->ncancels; i++) {
        const struct op_cancel *c = &x->cancels[i];
        long long n = 0;
        for (size_t s = 0; s < x->S; s++) {
            exec_sym *y = &x->sy[s];
            const int parent = y->active && (c->all || strcmp(y->parent.clordid, c->clordid) == 0);
            const int child = y->has_child && y->child.state != QA_OMS_PENDING_CANCEL && y->child.state != QA_OMS_NEW &&
                              (c->all || strcmp(y->child.clordid, c->clordid) == 0);
            if (!parent && !child) continue;
            if (child) { /* the cancel request's and the cancel's transitions carry who asked */
                snprintf(y->child.reason, sizeof y->child.reason, "%s", c->detail);
                n++;
            }
            if (parent) {
                QA_TRY_RET(end_parent(x, s, t, c->detail));
                n++;
            } else {
                QA_TRY_RET(cancel_child(x, s, t));
            }
            x->hold[s] = 1;
        }
        if (x->alert) {
            char d[512]; /* alerts cut it to their detail field */
            snprintf(d, sizeof d, "%s %s: %lld order(s) cancelled%s", c->all ? "cancel-all" : "cancel of",
                     c->all ? "" : c->clordid, n,
                     n ? "" : " (not a working order: filled, final, unknown or not at the broker yet)");
            x->alert(x->ctx, "command", "cancel", "orders", (double)n, 0, d);
        }
    }
    x->ncancels = 0;
    return QA_OK;
}

static qa_venue_order to_venue(const qa_oms_order *o) {
    qa_venue_order v;
    memset(&v, 0, sizeof v);
    snprintf(v.clordid, sizeof v.clordid, "%s", o->clordid);
    snprintf(v.symbol, sizeof v.symbol, "%s", o->symbol);
    v.side = o->side, v.qty = o->qty, v.limit = o->type == QA_OMS_LIMIT, v.price = o->limit, v.day = 0, v.time = o->created;
    return v;
}

/* B2: the requests go to the broker (cancels first, so a new child never overlaps the old
 * one), and its answers are recorded. */
static qa_status send_reqs(qa_exec_t *x, int64_t t) {
    qa_status st = QA_OK;
    for (int pass = 0; pass < 3 && st == QA_OK; pass++) {
        for (size_t i = 0; i < x->nreqs && st == QA_OK; i++) {
            req *r = &x->reqs[i];
            if ((int)r->kind != pass) continue;
            exec_sym *y = &x->sy[r->sym];
            qa_venue_event rep;
            if (r->kind == REQ_CANCEL) {
                st = x->broker->ops->cancel(x->broker->impl, r->order.clordid, t, &rep);
                if (st != QA_OK) break;
                qa_oms_order *o = &r->order;
                if (rep.kind == QA_VENUE_EV_CANCELLED) {
                    st = apply_rec(x, r->sym, o, QA_OMS_EV_CANCELLED, 0, NAN, 0, t, NULL);
                    x->h->cancels++;
                } else { /* the broker no longer works it (it said why): recorded, and reconciliation compares */
                    qa_strbuf_copy_cut(o->reason, sizeof o->reason, rep.reason);
                    st = apply_rec(x, r->sym, o, QA_OMS_EV_CANCEL_REJECTED, 0, NAN, 0, t, NULL);
                    if (x->ops) {
                        char d[512]; /* alerts cut it to their detail field */
                        snprintf(d, sizeof d, "cancel of %s refused: %s", o->clordid, rep.reason);
                        x->ops(x->ctx, "reconcile", "cancel_rejected", "order", 0, 0, d);
                    }
                }
            } else if (r->kind == REQ_REPLACE) {
                qa_venue_order vo = to_venue(&r->order);
                st = x->broker->ops->replace(x->broker->impl, y->child.clordid, &vo, &rep);
                if (st != QA_OK) break;
                if (rep.kind == QA_VENUE_EV_REPLACED) {
                    st = apply_rec(x, r->sym, &y->child, QA_OMS_EV_CANCELLED, 0, NAN, 0, t, NULL);
                    if (st == QA_OK) st = apply_rec(x, r->sym, &r->order, QA_OMS_EV_ACCEPTED, 0, NAN, 0, t, NULL);
                    y->child = r->order;
                    y->has_child = 1;
                } else {
                    qa_strbuf_copy_cut(y->child.reason, sizeof y->child.reason, rep.reason);
                    st = apply_rec(x, r->sym, &y->child, QA_OMS_EV_CANCEL_REJECTED, 0, NAN, 0, t, NULL);
                    qa_strbuf_copy_cut(r->order.reason, sizeof r->order.reason, rep.reason);
                    if (st == QA_OK) st = apply_rec(x, r->sym, &r->order, QA_OMS_EV_REJECTED, 0, NAN, 0, t, NULL);
                }
            } else {
                qa_venue_order vo = to_venue(&r->order);
                st = x->broker->ops->submit(x->broker->impl, &vo, &rep);
                if (st != QA_OK) break;
                if (!y->has_child || strcmp(y->child.clordid, r->order.clordid) != 0) continue;
                if (rep.kind == QA_VENUE_EV_NEW) {
                    st = apply_rec(x, r->sym, &y->child, QA_OMS_EV_ACCEPTED, 0, NAN, 0, t, NULL);
                } else {
                    snprintf(y->child.reason, sizeof y->child.reason, "broker: %.55s", rep.reason);
                    st = apply_rec(x, r->sym, &y->child, QA_OMS_EV_REJECTED, 0, NAN, 0, t, NULL);
                    y->has_child = 0;
                    x->h->rejected++;
                    if (x->alert) {
                        char d[512]; /* alerts cut it to their detail field */
                        snprintf(d, sizeof d, "%s refused by the broker: %s", r->order.clordid, rep.reason);
                        x->alert(x->ctx, "order", "broker_reject", "order", 0, 0, d);
                    }
                    if (st == QA_OK && y->active) st = end_parent(x, r->sym, t, y->child.reason);
                }
            }
        }
    }
    x->nreqs = 0;
    return st;
}

/* A broker fill, recorded here unless the database has it already; a missing one is
 * reported (inside the caller's transaction). */
static qa_status fetch_fill(qa_exec_t *x, const qa_venue_event *e, qa_exec_recon *r, qa_exec_alert_fn alert, void *ctx) {
    qa_status st = QA_OK;
    int has = qa_orderdb_has_fill(x->db, e->trade_id, &st);
    if (has != 0) return st; /* recorded, or an error */
    qa_oms_order o;
    int known = qa_orderdb_get_order(x->db, e->clordid, &o, &st);
    if (known < 0) return st;
    qa_orderdb_fill f = fill_of(e, known ? o.parent : "");
    QA_TRY_RET(qa_orderdb_put_fill(x->db, &f, NULL));
    r->fetched_fills++;
    char d[512]; /* alerts cut it to their detail field */
    snprintf(d, sizeof d, "fill %s (%g %s at %g) was missing from the order database: fetched", e->trade_id, e->qty,
             e->symbol, e->price);
    if (alert) alert(ctx, "reconcile", "missing_fill", "fill", e->qty, 0, d);
    return QA_OK;
}

/* ---- continuous reconciliation ------------------------------------------------------------------------------- */

typedef struct db_pos {
    qa_exec_t *x;
    long unknown; /* fills of symbols outside the universe */
} db_pos;

static void add_db_fill(void *ctx, const char *symbol, double q) {
    db_pos *p = ctx;
    long s = find_sym(p->x, symbol);
    if (s >= 0) p->x->sy[s].recon_db += q;
    else p->unknown++;
}

static int open_at_broker(const qa_venue_event *bo, size_t n, const char *clordid) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(bo[i].clordid, clordid) == 0) return 1;
    return 0;
}

/* What changed since the last reconciliation (the start-up one is qa_exec_reconcile, over
 * everything): the broker's working orders against the database's, the broker's fills in
 * (recon_t, t] (a missing one is fetched), and the positions of both sides carried forward
 * by the fills of the window, against the stage's. Its cost follows the window and the
 * working orders, not the history. */
static qa_status reconcile_window(qa_exec_t *x, int64_t t, qa_exec_recon *r, qa_exec_alert_fn alert, void *ctx) {
    memset(r, 0, sizeof *r);
    if (!(t > x->h->recon_t)) return QA_OK; /* repeating what an earlier pass saw (after a restart) */
    int64_t bclock = INT64_MIN;
    qa_status st = x->broker->ops->clock(x->broker->impl, &bclock);
    if (st != QA_OK) return st;
    const int current = bclock <= x->h->last_t;
    qa_venue_event *bo = NULL, *ev = NULL;
    qa_oms_order *dbo = NULL;
    size_t nbo = 0, nev = 0, ndbo = 0;
    char d[512]; /* alerts cut it to their detail field */
    st = x->broker->ops->orders(x->broker->impl, 1, &bo, &nbo);
    if (st == QA_OK) st = qa_orderdb_open_orders(x->db, &dbo, &ndbo);
    r->broker_open = (long long)nbo;
    for (size_t i = 0; st == QA_OK && i < nbo; i++) {
        qa_oms_order o;
        int known = qa_orderdb_get_order(x->db, bo[i].clordid, &o, &st);
        if (known < 0) break;
        if (!known) {
            r->unknown_orders++;
            snprintf(d, sizeof d, "the broker has working order %s (%s), unknown to the order database", bo[i].clordid,
                     bo[i].symbol);
            if (alert) alert(ctx, "reconcile", "unknown_order", "order", 0, 0, d);
        } else if (current && (qa_oms_final((qa_oms_state)o.state) || o.state == QA_OMS_NEW)) {
            r->state_mismatch++;
            snprintf(d, sizeof d, "order %s is working at the broker and %s in the order database", bo[i].clordid,
                     qa_oms_state_names[o.state]);
            if (alert) alert(ctx, "reconcile", "order_state", "order", 0, 0, d);
        }
    }
    for (size_t i = 0; st == QA_OK && i < ndbo; i++) {
        if (dbo[i].type == QA_OMS_PARENT || dbo[i].state == QA_OMS_NEW) continue;
        r->db_open++;
        if (current && !open_at_broker(bo, nbo, dbo[i].clordid)) {
            r->state_mismatch++;
            snprintf(d, sizeof d, "order %s is %s in the order database and not working at the broker", dbo[i].clordid,
                     qa_oms_state_names[dbo[i].state]);
            if (alert) alert(ctx, "reconcile", "order_state", "order", 0, 0, d);
        }
    }
    /* the window's fills at the broker: each must be recorded (a missing one is fetched) */
    if (st == QA_OK) st = x->broker->ops->advance(x->broker->impl, x->h->recon_t, t, 0, NULL, NULL, &ev, &nev);
    if (st == QA_OK) st = begin_timed(x);
    for (size_t i = 0; st == QA_OK && i < nev; i++) {
        if (ev[i].kind != QA_VENUE_EV_FILL) continue;
        r->broker_fills++;
        long s = find_sym(x, ev[i].symbol);
        if (s >= 0) x->sy[s].recon_broker += ev[i].side * ev[i].qty;
        st = fetch_fill(x, &ev[i], r, alert, ctx);
    }
    if (st == QA_OK) st = qa_orderdb_commit(x->db);
    else qa_orderdb_rollback(x->db);
    /* the database's new fill rows (the fetched ones included), then positions */
    db_pos p = {x, 0};
    if (st == QA_OK) st = qa_orderdb_fills_after(x->db, x->h->recon_row, add_db_fill, &p, &x->h->recon_row);
    for (size_t s = 0; st == QA_OK && s < x->S; s++) {
        const exec_sym *y = &x->sy[s];
        if (y->recon_broker != y->recon_db || (current && y->recon_broker != y->position)) {
            r->position_mismatch++;
            snprintf(d, sizeof d, "%s: position %g at the broker, %g in the order database, %g in the stage", x->symbols[s],
                     y->recon_broker, y->recon_db, y->position);
            if (alert) alert(ctx, "reconcile", "position", "position", y->recon_broker, y->position, d);
        }
    }
    if (st == QA_OK) x->h->recon_t = t;
    free(bo);
    free(ev);
    free(dbo);
    return st;
}

qa_status qa_exec_step(qa_exec_t *x, int64_t t, const qa_msg_bar *bars, const unsigned char *present,
                       const double *target, const uint64_t *sig, qa_trading_state state, qa_exec_emit_fn emit,
                       qa_exec_alert_fn alert, qa_exec_alert_fn ops, void *ctx) {
    x->alert = alert, x->ops = ops, x->ctx = ctx;
    x->nmsgs = 0, x->nreqs = 0;
    /* A and B1: what the broker did and the decisions it led to are kept in memory and
     * appended to the intent journal in one write (fdatasync'd with durability full)
     * before any request leaves; B2 sends the requests; then SQLite gets A, B1 and the
     * answers in one transaction and the journal is emptied (live/orderdb.h). A process
     * killed in between leaves the intents in the journal: the next open applies them. */
    qa_orderdb_defer(x->db);
    qa_status st = phase_a(x, t, bars, present);
    if (st == QA_OK) st = operator_cancels(x, t);
    for (size_t s = 0; st == QA_OK && s < x->S; s++) {
        if (x->hold[s]) { /* cancelled by the operator at t: the strategy trades again from the next timestamp */
            if (present[s]) x->sy[s].last_close = bars[s].close;
            continue;
        }
        st = decide(x, s, t, &bars[s], present[s], target[s], sig[s], state);
    }
    if (st == QA_OK) st = qa_orderdb_write_ahead(x->db, x->cfg.durable);
    if (st == QA_OK) x->h->last_t = t;
    if (st == QA_OK && x->nreqs) st = send_reqs(x, t);
    if (st == QA_OK) st = begin_timed(x);
    if (st == QA_OK) {
        st = qa_orderdb_apply(x->db);
        if (st == QA_OK) st = qa_orderdb_commit(x->db);
        else qa_orderdb_rollback(x->db);
        if (st == QA_OK) qa_orderdb_journal_clear(x->db);
    } else {
        qa_orderdb_discard(x->db);
    }
    if (st == QA_OK) st = flush_msgs(x, emit, ctx);
    x->nmsgs = 0;
    broker_trouble(x);
    if (st == QA_OK && ++x->h->since_recon >= x->cfg.reconcile_every) {
        x->h->since_recon = 0;
        qa_exec_recon r;
        st = reconcile_window(x, t, &r, ops, ctx);
    }
    return st;
}

/* ---- reconciliation ---------------------------------------------------------------------------------------- */

qa_status qa_exec_reconcile(qa_exec_t *x, qa_exec_recon *r, qa_exec_alert_fn alert, void *ctx) {
    memset(r, 0, sizeof *r);
    x->ops = alert, x->ctx = ctx;
    qa_venue_event *bo = NULL, *bf = NULL;
    qa_oms_order *dbo = NULL;
    size_t nbo = 0, nbf = 0, ndbo = 0;
    qa_status st = x->broker->ops->orders(x->broker->impl, 0, &bo, &nbo);
    if (st == QA_OK) st = x->broker->ops->fills(x->broker->impl, NULL, &bf, &nbf);
    if (st == QA_OK) st = qa_orderdb_open_orders(x->db, &dbo, &ndbo);
    char d[512]; /* alerts cut it to their detail field */
    r->broker_orders = (long long)nbo, r->broker_fills = (long long)nbf;
    int64_t bclock = INT64_MIN;
    if (st == QA_OK) st = x->broker->ops->clock(x->broker->impl, &bclock);
    const int current = bclock <= x->h->last_t; /* else the stage repeats what the broker has seen */
    /* every broker order must be known; working ones must be working here */
    for (size_t i = 0; st == QA_OK && i < nbo; i++) {
        qa_oms_order o;
        int known = qa_orderdb_get_order(x->db, bo[i].clordid, &o, &st);
        if (known < 0) break;
        int open_b = strcmp(bo[i].reason, "working") == 0;
        r->broker_open += open_b;
        if (!known) {
            r->unknown_orders++;
            snprintf(d, sizeof d, "the broker has order %s (%s, %s), unknown to the order database", bo[i].clordid,
                     bo[i].symbol, bo[i].reason);
            if (alert) alert(ctx, "reconcile", "unknown_order", "order", 0, 0, d);
            continue;
        }
        int open_d = !qa_oms_final((qa_oms_state)o.state) && o.state != QA_OMS_NEW;
        if (current && open_b != open_d) {
            r->state_mismatch++;
            snprintf(d, sizeof d, "order %s is %s at the broker and %s in the order database", bo[i].clordid,
                     bo[i].reason, qa_oms_state_names[o.state]);
            if (alert) alert(ctx, "reconcile", "order_state", "order", 0, 0, d);
        }
    }
    for (size_t i = 0; i < ndbo; i++) r->db_open += dbo[i].type != QA_OMS_PARENT;
    /* every broker fill must be recorded: a missing one is fetched now */
    if (st == QA_OK) st = begin_timed(x);
    for (size_t i = 0; st == QA_OK && i < nbf; i++) {
        st = fetch_fill(x, &bf[i], r, alert, ctx);
    }
    if (st == QA_OK) st = qa_orderdb_commit(x->db);
    else qa_orderdb_rollback(x->db);
    /* positions: database fills and broker fills must agree, and with the stage's when it
     * is not behind the broker */
    for (size_t s = 0; s < x->S; s++) x->sy[s].recon_broker = 0.0;
    for (size_t i = 0; i < nbf; i++) {
        long s = find_sym(x, bf[i].symbol);
        if (s >= 0) x->sy[s].recon_broker += bf[i].side * bf[i].qty;
    }
    for (size_t s = 0; st == QA_OK && s < x->S; s++) {
        double pdb = 0.0, pb = x->sy[s].recon_broker;
        long long nf = 0;
        st = qa_orderdb_position(x->db, x->symbols[s], &pdb, &nf);
        r->db_fills += nf;
        x->sy[s].recon_db = pdb; /* the next windows start from here */
        if (st == QA_OK && (pdb != pb || (current && pb != x->sy[s].position))) {
            r->position_mismatch++;
            snprintf(d, sizeof d, "%s: position %g at the broker, %g in the order database, %g in the stage",
                     x->symbols[s], pb, pdb, x->sy[s].position);
            if (alert) alert(ctx, "reconcile", "position", "position", pb, x->sy[s].position, d);
        }
    }
    if (st == QA_OK) st = qa_orderdb_last_fill_row(x->db, &x->h->recon_row);
    if (st == QA_OK) x->h->recon_t = bclock;
    free(bo);
    free(bf);
    free(dbo);
    return st;
}
