/* `qa simulate` around the bar loop: the YAML config, the market file, and the run
 * directory (equity, positions, sleeves, blotter, summary, report). Keys and files are
 * documented in docs/simulator.md. */
#include "pipeline/sim/sim.h"

#include <math.h>    /* NAN, isnan, INFINITY */
#include <stddef.h>  /* offsetof */
#include <stdio.h>   /* fprintf */
#include <stdlib.h>  /* malloc, free */
#include <string.h>  /* strcmp, memset */

#include <jansson.h> /* summary and resolved config */

#include "common/fs.h"          /* atomic CSV files */
#include "common/json.h"        /* qa_json_real, qa_json_from_schema */
#include "common/log.h"         /* progress lines */
#include "datasets/store.h"     /* the market file */
#include "pipeline/predict/predict.h" /* model-driven signals */
#include "registry/registry.h"  /* models:/ URIs */
#include "common/timeparse.h" /* start/end dates, ISO times */
#include "pipeline/run/report.h"    /* report.html */
#include "pipeline/run/rundir.h"    /* run directory */

/* ---- configuration ---------------------------------------------------------------------------- */

#define SET(field) set.field
static const qa_cfg_field orders_schema[] = {
    QA_CFG_ENUM(qa_sim_cfg, "type", SET(order_type), qa_order_type_names, 0, "moc, market, limit or stop"),
    QA_CFG_ENUM(qa_sim_cfg, "tif", SET(tif), qa_order_tif_names, 0, "day or gtc"),
    QA_CFG_NUM(qa_sim_cfg, "price_offset", SET(price_offset), 0, 0.999999, 0, "limit/stop distance from the close"),
    QA_CFG_NUM(qa_sim_cfg, "participation", SET(participation), 0, 1e6, 0, "max fill per bar / bar volume (0 = no cap)"),
    QA_CFG_NUM(qa_sim_cfg, "rebalance_band", SET(rebalance_band), 0, 1e3, 0, "min resize as a fraction of sleeve equity"),
    QA_CFG_NUM(qa_sim_cfg, "min_order_value", SET(min_order_value), 0, 1e15, 0, "min resize notional (currency)"),
    QA_CFG_FIELD(qa_sim_cfg, "replace", QA_CFG_T_BOOL, SET(replace), 0, "cancel working orders before a new one"),
    QA_CFG_ENUM(qa_sim_cfg, "size_on", SET(size_on), qa_sim_size_on_names, 0,
                "equity (the sleeve's, compounding) or capital (fixed, the live service's sizing)"),
    QA_CFG_FIELD(qa_sim_cfg, "whole_shares", QA_CFG_T_BOOL, SET(whole_shares), 0, "round targets to whole shares"),
    {NULL},
};
/* The trading rules (trading/rules.h) are bound at the top level, where simulator
 * configs have always had them, or under `settings:` as in a sweep config. */
static const qa_cfg_field schema[] = {
    QA_CFG_FIELD(qa_sim_cfg, "data", QA_CFG_T_STRING, data, 0, "market file"),
    QA_CFG_FIELD(qa_sim_cfg, "run_dir", QA_CFG_T_STRING, run_dir, 0, "run directory"),
    QA_CFG_FIELD(qa_sim_cfg, "symbols", QA_CFG_T_STRING_LIST, symbols, 0, "symbols (default all)"),
    QA_CFG_FIELD(qa_sim_cfg, "start", QA_CFG_T_STRING, start, 0, "first date of the evaluation range"),
    QA_CFG_FIELD(qa_sim_cfg, "end", QA_CFG_T_STRING, end, 0, "last date of the evaluation range"),
    QA_CFG_FIELD(qa_sim_cfg, "strategy", QA_CFG_T_STRING, strategy, 0,
                 "sma_cross, ema_cross, zscore, bollinger, donchian, rsi, signal"),
    QA_CFG_FIELD(qa_sim_cfg, "params", QA_CFG_T_NODE, n_params, 0, "the strategy's parameters by name"),
    QA_CFG_FIELD(qa_sim_cfg, "signal", QA_CFG_T_STRING, signal, 0, "signal panel (features/..., alt/..., predictions/...) or a model (models:/NAME@ALIAS)"),
    {"", QA_CFG_T_INLINE, offsetof(qa_sim_cfg, SET(rules)), 0, 0, NULL, qa_rules_schema, 0, "trading rules"},
    {"settings", QA_CFG_T_SECTION, offsetof(qa_sim_cfg, SET(rules)), 0, 0, NULL, qa_rules_schema, QA_CFG_ALIAS,
     "trading rules as a block (as in a sweep config)"},
    {"orders", QA_CFG_T_SECTION, 0, 0, 0, NULL, orders_schema, 0, "order model"},
    QA_CFG_FIELD(qa_sim_cfg, "pretrade", QA_CFG_T_NODE, n_pretrade, 0, "pre-trade checks (absent = off)"),
    QA_CFG_FIELD(qa_sim_cfg, "blotter", QA_CFG_T_BOOL, SET(record_blotter), 0, "write every order event to blotter.csv"),
    {NULL},
};
#undef SET

void qa_sim_cfg_default(qa_sim_cfg *c) {
    memset(c, 0, sizeof *c);
    qa_sim_settings_init(&c->set);
    c->set.rules.bars_per_year = NAN; /* the market file's unless the config gives it */
    c->strategy = qa_bt_strategy_name(c->set.strategy);
}

/* params: {name: value} by the strategy's slot names, every slot required. */
static qa_status bind_params(const qa_cfg_t *cfg, const qa_cfg_node *map, qa_bt_strategy strat, qa_bt_params *out) {
    int n = qa_bt_param_count(strat);
    char expect[160] = "";
    for (int j = 0; j < n; j++) {
        size_t l = strlen(expect);
        snprintf(expect + l, sizeof expect - l, "%s%s", j ? ", " : "", qa_bt_param_name(strat, j));
    }
    if (!map) return QA_FAIL(QA_ERR_CONFIG, "%s: key 'params' is required for %s (%s)", qa_cfg_name(cfg),
                             qa_bt_strategy_name(strat), expect);
    if (qa_cfg_node_kind(map) != QA_CFG_MAP)
        return qa_cfg_error(cfg, map, "params", "expected a map of %s", expect);
    int seen[QA_BT_MAX_PARAMS] = {0};
    for (size_t i = 0; i < qa_cfg_node_len(map); i++) {
        const char *key = qa_cfg_map_key_at(map, i);
        int slot = -1;
        for (int j = 0; j < n; j++)
            if (strcmp(key, qa_bt_param_name(strat, j)) == 0) slot = j;
        char what[64];
        snprintf(what, sizeof what, "params.%s", key);
        if (slot < 0)
            return qa_cfg_error(cfg, qa_cfg_map_value_at(map, i), what, "unknown parameter of %s (expected %s)",
                                qa_bt_strategy_name(strat), expect);
        qa_status st = qa_cfg_read_double(cfg, qa_cfg_map_value_at(map, i), what, -1e12, 1e12, &out->p[slot]);
        if (st != QA_OK) return st;
        seen[slot] = 1;
    }
    for (int j = 0; j < n; j++)
        if (!seen[j])
            return qa_cfg_error(cfg, map, "params", "missing parameter '%s' of %s (expected %s)",
                                qa_bt_param_name(strat, j), qa_bt_strategy_name(strat), expect);
    return QA_OK;
}

qa_status qa_sim_cfg_bind(const qa_cfg_t *cfg, qa_sim_cfg *c) {
    const char *strategy_before = c->strategy;
    qa_status st = qa_cfg_bind(cfg, qa_cfg_root(cfg), schema, c, NULL);
    if (st != QA_OK) return st;
    qa_sim_settings *s = &c->set;
    if (qa_bt_strategy_parse(c->strategy, &s->strategy) != QA_OK)
        return qa_cfg_error(cfg, qa_cfg_map_get(qa_cfg_root(cfg), "strategy"), "strategy", "%s", qa_err_msg());
    if (c->n_params || c->strategy != strategy_before) {
        memset(&s->params, 0, sizeof s->params);
        if ((st = bind_params(cfg, c->n_params, s->strategy, &s->params)) != QA_OK) return st;
    }
    if (c->n_pretrade) {
        if ((st = qa_pretrade_limits_bind(cfg, c->n_pretrade, "pretrade", &s->pretrade)) != QA_OK) return st;
        s->pretrade_on = 1;
    }
    if (s->strategy == QA_BT_SIGNAL && !c->signal)
        return QA_FAIL(QA_ERR_CONFIG, "%s: strategy signal needs 'signal' (a panel such as features/ret_1)", qa_cfg_name(cfg));
    if (s->rules.sizing.method == QA_BT_SIZE_KELLY) {
        /* Kelly is live sizing: refused here with the kernels' words, at the config, as
         * `qa sweep` refuses it. */
        qa_bt_rules b;
        qa_rules_to_bt(&s->rules, &b);
        (void)qa_bt_rules_check(&b);
        const qa_cfg_node *at = qa_cfg_map_get(qa_cfg_root(cfg), "settings");
        return qa_cfg_error(cfg, at ? at : qa_cfg_root(cfg), "settings", "%s", qa_err_msg());
    }
    return QA_OK;
}

static json_t *resolved_json(const qa_sim_cfg *c) {
    json_t *o = qa_json_from_schema(schema, c);
    if (!o) return NULL;
    json_t *p = json_object();
    for (int j = 0; j < qa_bt_param_count(c->set.strategy); j++)
        json_object_set_new(p, qa_bt_param_name(c->set.strategy, j), qa_json_real(c->set.params.p[j]));
    json_object_set_new(o, "params", p);
    if (c->set.pretrade_on) {
        /* the simulator's five original keys always (price_collar, its name of the price
         * band); the newer checks when they are on */
        const qa_pretrade_limits *t = &c->set.pretrade;
        qa_pretrade_limits off;
        qa_pretrade_limits_default(&off);
        json_t *g = json_object();
        json_object_set_new(g, "max_order_notional", qa_json_real(t->max_order_notional));
        json_object_set_new(g, "max_position_weight", qa_json_real(t->max_position_weight));
        json_object_set_new(g, "max_gross", qa_json_real(t->max_gross));
        json_object_set_new(g, "price_collar", qa_json_real(t->price_band));
        json_object_set_new(g, "max_order_qty", qa_json_real(t->max_order_qty));
        if (t->max_position != off.max_position) json_object_set_new(g, "max_position", qa_json_real(t->max_position));
        if (t->throttle_orders) {
            json_object_set_new(g, "throttle_orders", json_integer(t->throttle_orders));
            json_object_set_new(g, "throttle_window_ns", json_integer(t->throttle_window_ns));
        }
        if (t->duplicate_ids != off.duplicate_ids) json_object_set_new(g, "duplicate_ids", json_integer(t->duplicate_ids));
        if (t->duplicate_window_ns)
            json_object_set_new(g, "duplicate_window_ns", json_integer(t->duplicate_window_ns));
        if (t->buying_power) json_object_set_new(g, "buying_power", json_true());
        json_object_set_new(o, "pretrade", g);
    } else {
        json_object_set_new(o, "pretrade", json_null());
    }
    return o;
}

/* ---- market data -------------------------------------------------------------------------------- */

typedef struct panels {
    size_t S, T;                 /* selected symbols, bars up to t_end */
    size_t t_begin, t_end;
    size_t *index;               /* [S] store row of each selected symbol */
    const char **names;          /* [S] (owned by the store) */
    double *block;               /* open, high, low, close, volume, signal: 6 x S x T */
    const int64_t *time;         /* [T] (owned by the store) */
} panels;

static void panels_free(panels *p) {
    free(p->index);
    free(p->names);
    free(p->block);
    memset(p, 0, sizeof *p);
}

static qa_status parse_date(const char *text, const char *key, int64_t *ns) {
    qa_tzone utc;
    memset(&utc, 0, sizeof utc);
    if (!qa_time_parse(text, QA_TIME_ISO, &utc, ns))
        return QA_FAIL(QA_ERR_CONFIG, "%s '%s' is not an ISO date or date-time%s", key, text, qa_time_parse_why());
    return QA_OK;
}

/* The signal panel of a model-driven run: the model's scores (pipeline/predict) over the
 * whole file, rows of the selected symbols. `used` (QA_PATH_MAX) receives the resolved
 * version ("models:/NAME/V") for the run's record. */
static qa_status model_signal(qa_store_t *store, const qa_sim_cfg *c, const panels *p, double *dst, char *used) {
    qa_model m;
    memset(&m, 0, sizeof m);
    double *score = NULL;
    size_t n = 0;
    const size_t Tall = qa_store_ntime(store);
    qa_status st = qa_registry_load_ref(c->registry, c->signal, &m, used, NULL);
    if (st != QA_OK) return st;
    QA_TRY(qa_predict_store(&m, used, store, &score, &n));
    for (size_t i = 0; i < p->S; i++) memcpy(dst + i * p->T, score + p->index[i] * Tall, p->T * sizeof *dst);
    qa_log_info("simulate: signal from %s (%zu scores)", used, n);
cleanup:
    free(score);
    qa_model_free(&m);
    return st;
}

static qa_status load(qa_store_t *store, const qa_sim_cfg *c, panels *p, char *model_used) {
    qa_status st = QA_OK;
    memset(p, 0, sizeof *p);
    size_t nall = qa_store_nsym(store), T = qa_store_ntime(store);
    const int64_t *time = qa_store_time(store);
    if (T == 0 || nall == 0) return QA_FAIL(QA_ERR_FORMAT, "%s holds no bars", qa_store_path(store));
    size_t S = c->symbols.n ? c->symbols.n : nall;
    p->index = calloc(S, sizeof *p->index);
    p->names = calloc(S, sizeof *p->names);
    if (!p->index || !p->names) QA_TRY_FAIL(QA_ERR_NOMEM, "symbol list");
    for (size_t i = 0; i < S; i++) {
        long k = (long)i;
        if (c->symbols.n) {
            const char *name = ((const char *const *)c->symbols.items)[i];
            k = qa_store_find_symbol(store, name);
            if (k < 0) QA_TRY_FAIL(QA_ERR_NOT_FOUND, "symbol '%s' is not in %s", name, qa_store_path(store));
        }
        p->index[i] = (size_t)k;
        p->names[i] = qa_store_symbol(store, (size_t)k);
    }
    /* evaluation range [t_begin, t_end) from the inclusive dates */
    size_t tb = 0, te = T;
    if (c->start) {
        int64_t ns;
        QA_TRY(parse_date(c->start, "start", &ns));
        while (tb < T && time[tb] < ns) tb++;
    }
    if (c->end) {
        int64_t ns;
        QA_TRY(parse_date(c->end, "end", &ns));
        /* a bare date covers that whole day */
        if (ns % 86400000000000LL == 0)
            ns = ns > INT64_MAX - (86400000000000LL - 1) ? INT64_MAX : ns + 86400000000000LL - 1;
        while (te > 0 && time[te - 1] > ns) te--;
    }
    if (tb >= te)
        QA_TRY_FAIL(QA_ERR_CONFIG, "the range %s .. %s holds no bars of %s", c->start ? c->start : "(first)",
                    c->end ? c->end : "(last)", qa_store_path(store));
    p->S = S;
    p->T = te;
    p->t_begin = tb;
    p->t_end = te;
    p->time = time;
    QA_TRY(qa_store_check_load(store, "bars", S, te, 6, 0)); /* five fields and the signal, before allocating */
    p->block = malloc(6 * S * te * sizeof *p->block);
    if (!p->block) QA_TRY_FAIL(QA_ERR_NOMEM, "panels of %zu symbols x %zu bars", S, te);
    const char *paths[6] = {qa_bar_field_path(QA_BAR_OPEN), qa_bar_field_path(QA_BAR_HIGH), qa_bar_field_path(QA_BAR_LOW),
                            qa_bar_field_path(QA_BAR_CLOSE), qa_bar_field_path(QA_BAR_VOLUME), c->signal};
    for (int f = 0; f < 6; f++) {
        double *dst = p->block + (size_t)f * S * te;
        if (!paths[f] || (f == 5 && c->set.strategy != QA_BT_SIGNAL)) {
            for (size_t i = 0; i < S * te; i++) dst[i] = NAN;
            continue;
        }
        if (f == 5 && qa_registry_is_uri(paths[f])) {
            QA_TRY(model_signal(store, c, p, dst, model_used));
            continue;
        }
        if (!qa_store_exists(store, paths[f]))
            QA_TRY_FAIL(QA_ERR_NOT_FOUND, "panel '%s' is not in %s", paths[f], qa_store_path(store));
        for (size_t i = 0; i < S; i++) QA_TRY(qa_store_read(store, paths[f], p->index[i], 1, 0, te, dst + i * te));
    }
cleanup:
    if (st != QA_OK) panels_free(p);
    return st;
}

/* ---- outputs ------------------------------------------------------------------------------------ */

static const char *iso(const panels *p, size_t t, char *buf, size_t n) { return qa_time_format_iso(p->time[t], buf, n); }

static qa_status open_csv(const qa_rundir *rd, const char *name, qa_atomic_file *af) {
    char path[QA_PATH_MAX];
    qa_status st = qa_rundir_file(rd, name, path);
    if (st != QA_OK) return st;
    return qa_atomic_open(af, path);
}

static qa_status close_csv(qa_atomic_file *af, int bad) {
    if (bad) {
        qa_atomic_abort(af);
        return QA_FAIL(QA_ERR_IO, "cannot write %s", af->path);
    }
    return qa_atomic_commit(af);
}

static qa_status write_equity(const qa_rundir *rd, const panels *p, const qa_sim_result *r, double capital) {
    qa_atomic_file af;
    qa_status st = open_csv(rd, "equity.csv", &af);
    if (st != QA_OK) return st;
    int bad = fprintf(af.f, "time,equity,cash,gross,net,return,drawdown\n") < 0;
    double peak = capital;
    for (size_t j = 0; j < r->L && !bad; j++) {
        char tb[48];
        if (r->equity[j] > peak) peak = r->equity[j];
        bad = fprintf(af.f, "%s,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g\n", iso(p, p->t_begin + j, tb, sizeof tb),
                      r->equity[j], r->cash[j], r->gross[j], r->net[j], r->ret[j], r->equity[j] / peak - 1.0) < 0;
    }
    return close_csv(&af, bad);
}

/* A wide CSV: time, one column per symbol, values [S*L]. */
static qa_status write_wide(const qa_rundir *rd, const char *name, const panels *p, const qa_sim_result *r, const double *v) {
    qa_atomic_file af;
    qa_status st = open_csv(rd, name, &af);
    if (st != QA_OK) return st;
    int bad = fprintf(af.f, "time") < 0;
    for (size_t s = 0; s < p->S && !bad; s++) bad = fprintf(af.f, ",%s", p->names[s]) < 0;
    bad = bad || fputc('\n', af.f) == EOF;
    for (size_t j = 0; j < r->L && !bad; j++) {
        char tb[48];
        bad = fprintf(af.f, "%s", iso(p, p->t_begin + j, tb, sizeof tb)) < 0;
        for (size_t s = 0; s < p->S && !bad; s++) bad = fprintf(af.f, ",%.12g", v[s * r->L + j]) < 0;
        bad = bad || fputc('\n', af.f) == EOF;
    }
    return close_csv(&af, bad);
}

static void csv_text(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static qa_status write_blotter(const qa_rundir *rd, const panels *p, const qa_blotter *b) {
    qa_atomic_file af;
    qa_status st = open_csv(rd, "blotter.csv", &af);
    if (st != QA_OK) return st;
    int bad = fprintf(af.f, "time,order_id,symbol,event,type,tif,qty,price,fill_qty,fill_price,cost,remaining,position,"
                            "cash,reason\n") < 0;
    for (size_t i = 0; i < b->n && !bad; i++) {
        const qa_blotter_row *w = &b->rows[i];
        char tb[48];
        bad = fprintf(af.f, "%s,%lld,%s,%s,%s,%s,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g,%.10g,",
                      iso(p, (size_t)w->t, tb, sizeof tb), (long long)w->order_id, p->names[w->symbol],
                      qa_order_event_name((qa_order_event)w->event), qa_order_type_name((qa_order_type)w->type),
                      qa_order_tif_name((qa_order_tif)w->tif), w->qty, w->price, w->fill_qty, w->fill_price, w->cost,
                      w->remaining, w->position, w->cash) < 0;
        if (!bad) {
            const char *reason = qa_blotter_reason(b, w);
            if (*reason) csv_text(af.f, reason);
            bad = fputc('\n', af.f) == EOF;
        }
    }
    return close_csv(&af, bad);
}

static json_t *metrics_json(const qa_bt_metrics *m) {
    json_t *o = json_object();
    json_object_set_new(o, "total_return", qa_json_real(m->total_return));
    json_object_set_new(o, "cagr", qa_json_real(m->cagr));
    json_object_set_new(o, "ann_vol", qa_json_real(m->ann_vol));
    json_object_set_new(o, "sharpe", qa_json_real(m->sharpe));
    json_object_set_new(o, "sortino", qa_json_real(m->sortino));
    json_object_set_new(o, "max_drawdown", qa_json_real(m->max_drawdown));
    json_object_set_new(o, "calmar", qa_json_real(m->calmar));
    json_object_set_new(o, "hit_rate", qa_json_real(m->hit_rate));
    json_object_set_new(o, "turnover", qa_json_real(m->turnover));
    json_object_set_new(o, "exposure", qa_json_real(m->exposure));
    json_object_set_new(o, "bars", json_integer(m->bars));
    json_object_set_new(o, "max_dd_duration", json_integer(m->max_dd_duration));
    json_object_set_new(o, "trades", json_integer(m->trades));
    return o;
}

static json_t *summary_json(const qa_sim_cfg *c, const panels *p, const qa_sim_result *r, const qa_sim_report *rep) {
    json_t *o = json_object();
    char a[48], b[48];
    json_object_set_new(o, "command", json_string("simulate"));
    json_object_set_new(o, "strategy", json_string(qa_bt_strategy_name(c->set.strategy)));
    json_t *pj = json_object();
    for (int j = 0; j < qa_bt_param_count(c->set.strategy); j++)
        json_object_set_new(pj, qa_bt_param_name(c->set.strategy, j), qa_json_real(c->set.params.p[j]));
    json_object_set_new(o, "params", pj);
    json_object_set_new(o, "convention", json_string(qa_rules_convention_names[c->set.rules.costs.convention]));
    json_object_set_new(o, "order_type", json_string(qa_order_type_name(c->set.order_type)));
    json_object_set_new(o, "start", json_string(iso(p, p->t_begin, a, sizeof a)));
    json_object_set_new(o, "end", json_string(iso(p, p->t_end - 1, b, sizeof b)));
    json_object_set_new(o, "bars", json_integer((json_int_t)r->L));
    json_object_set_new(o, "capital", qa_json_real(c->set.rules.capital));
    json_object_set_new(o, "final_equity", qa_json_real(r->final_equity));
    json_object_set_new(o, "final_cash", qa_json_real(r->final_cash));
    json_object_set_new(o, "costs", qa_json_real(r->costs));
    json_object_set_new(o, "realized_pnl", qa_json_real(r->realized));
    json_object_set_new(o, "unrealized_pnl", qa_json_real(r->unrealized));
    json_object_set_new(o, "metrics", metrics_json(&r->metrics));
    json_t *cn = json_object();
    json_object_set_new(cn, "orders", json_integer(r->counts.orders));
    json_object_set_new(cn, "fills", json_integer(r->counts.fills));
    json_object_set_new(cn, "partial_fills", json_integer(r->counts.partial_fills));
    json_object_set_new(cn, "rejected", json_integer(r->counts.rejected));
    json_object_set_new(cn, "expired", json_integer(r->counts.expired));
    json_object_set_new(cn, "cancelled", json_integer(r->counts.cancelled));
    json_object_set_new(o, "orders", cn);
    json_t *per = json_array();
    for (size_t s = 0; s < p->S; s++) {
        json_t *e = json_object();
        json_object_set_new(e, "symbol", json_string(p->names[s]));
        json_object_set_new(e, "final_sleeve_equity", qa_json_real(r->sleeve[s * r->L + r->L - 1]));
        json_object_set_new(e, "metrics", metrics_json(&r->sleeve_metrics[s]));
        json_array_append_new(per, e);
    }
    json_object_set_new(o, "symbols", per);
    json_object_set_new(o, "loop_seconds", qa_json_real(rep->seconds));
    json_object_set_new(o, "symbol_bars_per_s", qa_json_real(rep->bars_per_s));
    json_object_set_new(o, "orders_per_s", qa_json_real(rep->orders_per_s));
    return o;
}

static qa_status write_report(const qa_rundir *rd, const qa_sim_cfg *c, const panels *p, const qa_sim_result *r) {
    qa_report_t *rep = NULL;
    char title[160], path[QA_PATH_MAX];
    const qa_sim_settings *s = &c->set;
    snprintf(title, sizeof title, "Simulation: %s on %zu symbols", qa_bt_strategy_name(s->strategy), p->S);
    qa_status st = qa_report_create(title, &rep);
    if (st != QA_OK) return st;
    const size_t L = r->L, S = p->S;
    double *dd = malloc((4 * L + 1) * sizeof *dd), *norm, *gross, *net;
    if (!dd) QA_TRY_FAIL(QA_ERR_NOMEM, "report series");
    norm = dd + L;
    gross = dd + 2 * L;
    net = dd + 3 * L;
    const int64_t *tx = p->time + p->t_begin;
    double peak = s->rules.capital;
    for (size_t j = 0; j < L; j++) {
        if (r->equity[j] > peak) peak = r->equity[j];
        dd[j] = r->equity[j] / peak - 1.0;
        norm[j] = r->equity[j] / s->rules.capital;
        gross[j] = r->equity[j] > 0 ? r->gross[j] / r->equity[j] : NAN;
        net[j] = r->equity[j] > 0 ? r->net[j] / r->equity[j] : NAN;
    }
    char a[48], b[48];
    qa_report_heading(rep, "Run");
    qa_report_kv(rep, "range", "%s .. %s (%zu bars)", iso(p, p->t_begin, a, sizeof a), iso(p, p->t_end - 1, b, sizeof b), L);
    {
        char params[160] = "";
        for (int j = 0; j < qa_bt_param_count(s->strategy); j++) {
            size_t l = strlen(params);
            snprintf(params + l, sizeof params - l, "%s%s=%g", j ? ", " : "", qa_bt_param_name(s->strategy, j), s->params.p[j]);
        }
        qa_report_kv(rep, "strategy", "%s (%s)", qa_bt_strategy_name(s->strategy), params);
    }
    qa_report_kv(rep, "orders", "%s %s, cost convention %s", qa_order_type_name(s->order_type), qa_order_tif_name(s->tif),
                 qa_rules_convention_names[s->rules.costs.convention]);
    qa_report_kv(rep, "capital", "%.2f -> %.2f (%.2f%%)", s->rules.capital, r->final_equity, 100 * r->metrics.total_return);
    qa_report_kv(rep, "Sharpe / max drawdown", "%.3f / %.2f%%", r->metrics.sharpe, 100 * r->metrics.max_drawdown);
    qa_report_kv(rep, "costs", "%.2f (realised P&L %.2f, unrealised %.2f)", r->costs, r->realized, r->unrealized);
    qa_report_kv(rep, "order events", "%lld orders, %lld fills (%lld partial), %lld rejected, %lld expired, %lld cancelled",
                 (long long)r->counts.orders, (long long)r->counts.fills, (long long)r->counts.partial_fills,
                 (long long)r->counts.rejected, (long long)r->counts.expired, (long long)r->counts.cancelled);
    qa_report_series eq = {"equity / capital", NULL, tx, norm, L};
    qa_report_chart ce = {"Equity", "time", "equity / capital", 0, 0, 0};
    qa_report_line_chart(rep, &ce, &eq, 1);
    qa_report_series ds = {"drawdown", NULL, tx, dd, L};
    qa_report_chart cd = {"Drawdown", "time", "drawdown", 0, 1, 1};
    qa_report_line_chart(rep, &cd, &ds, 1);
    qa_report_series ex[2] = {{"gross", NULL, tx, gross, L}, {"net", NULL, tx, net, L}};
    qa_report_chart cx = {"Exposure (fraction of equity)", "time", "exposure", 0, 0, 1};
    qa_report_line_chart(rep, &cx, ex, 2);
    /* weights of up to 8 symbols with the largest mean |weight| */
    {
        enum { KMAX = 8 };
        size_t pick[KMAX], k = 0;
        double score[KMAX];
        for (size_t sy = 0; sy < S; sy++) {
            double m = 0.0;
            for (size_t j = 0; j < L; j++) m += r->equity[j] > 0 ? fabs(r->value[sy * L + j]) / r->equity[j] : 0.0;
            size_t pos = k < KMAX ? k++ : KMAX;
            if (pos == KMAX) {
                if (m <= score[KMAX - 1]) continue;
                pos = KMAX - 1;
            }
            while (pos > 0 && score[pos - 1] < m) {
                score[pos] = score[pos - 1];
                pick[pos] = pick[pos - 1];
                pos--;
            }
            score[pos] = m;
            pick[pos] = sy;
        }
        double *w = malloc((k ? k : 1) * (L ? L : 1) * sizeof *w);
        qa_report_series ws[KMAX];
        if (!w) QA_TRY_FAIL(QA_ERR_NOMEM, "report weights");
        for (size_t i = 0; i < k; i++) {
            for (size_t j = 0; j < L; j++)
                w[i * L + j] = r->equity[j] > 0 ? r->value[pick[i] * L + j] / r->equity[j] : NAN;
            ws[i] = (qa_report_series){p->names[pick[i]], NULL, tx, w + i * L, L};
        }
        qa_report_chart cw = {"Positions (weight of account equity)", "time", "weight", 0, 0, 1};
        if (k) qa_report_line_chart(rep, &cw, ws, k);
        free(w);
    }
    qa_report_heading(rep, "Per symbol (sleeve of capital / symbols)");
    const char *hdr[] = {"symbol", "total return", "Sharpe", "max drawdown", "trades", "exposure", "turnover/yr", "final shares"};
    qa_report_table_begin(rep, hdr, 8);
    for (size_t sy = 0; sy < S; sy++) {
        const qa_bt_metrics *m = &r->sleeve_metrics[sy];
        char c1[32], c2[32], c3[32], c4[32], c5[32], c6[32], c7[32];
        snprintf(c1, sizeof c1, "%.2f%%", 100 * m->total_return);
        snprintf(c2, sizeof c2, "%.3f", m->sharpe);
        snprintf(c3, sizeof c3, "%.2f%%", 100 * m->max_drawdown);
        snprintf(c4, sizeof c4, "%lld", (long long)m->trades);
        snprintf(c5, sizeof c5, "%.1f%%", 100 * m->exposure);
        snprintf(c6, sizeof c6, "%.2f", m->bars > 0 ? m->turnover * s->rules.bars_per_year / (double)m->bars : 0.0);
        snprintf(c7, sizeof c7, "%.4g", r->qty[sy * L + L - 1]);
        const char *row[] = {p->names[sy], c1, c2, c3, c4, c5, c6, c7, NULL};
        qa_report_table_row(rep, row);
    }
    qa_report_table_end(rep);
    QA_TRY(qa_rundir_file(rd, "report.html", path));
    QA_TRY(qa_report_write(rep, path));
cleanup:
    free(dd);
    qa_report_free(rep);
    return st;
}

qa_status qa_sim_execute(const qa_sim_cfg *c, const char *run_dir, int argc, char **argv, qa_sim_report *rep) {
    qa_status st = QA_OK;
    qa_store_t *store = NULL;
    panels p;
    memset(&p, 0, sizeof p);
    qa_sim_result res;
    memset(&res, 0, sizeof res);
    qa_rundir rd;
    memset(&rd, 0, sizeof rd);
    json_t *doc = NULL;
    memset(rep, 0, sizeof *rep);
    if (!c->data) return QA_FAIL(QA_ERR_CONFIG, "simulate: no market file (give --data or 'data')");
    if (!run_dir) return QA_FAIL(QA_ERR_CONFIG, "simulate: no run directory (give --run-dir or 'run_dir')");
    QA_TRY(qa_rundir_open(&rd, run_dir, NULL, "simulate", argc, argv));
    QA_TRY(qa_store_open(c->data, NULL, QA_STORE_READ, &store));
    char model_used[QA_PATH_MAX] = "";
    QA_TRY(load(store, c, &p, model_used));
    if (model_used[0]) qa_rundir_note(&rd, "model", json_string(model_used));
    qa_sim_cfg eff = *c;
    qa_rules_resolve_bars_per_year(&eff.set.rules, qa_store_get_meta(store)->bars_per_year);
    doc = resolved_json(&eff);
    if (!doc) QA_TRY_FAIL(QA_ERR_NOMEM, "resolved config");
    QA_TRY(qa_rundir_write_json(&rd, "config.resolved.json", doc));
    json_decref(doc);
    doc = NULL;
    qa_sim_data d = {p.block, p.block + p.S * p.T, p.block + 2 * p.S * p.T, p.block + 3 * p.S * p.T,
                     p.block + 4 * p.S * p.T, eff.set.strategy == QA_BT_SIGNAL ? p.block + 5 * p.S * p.T : NULL,
                     p.names, p.S, p.T, p.t_begin, p.t_end, p.time};
    char a[48], b[48];
    qa_log_info("simulate: %s on %zu symbols, %s .. %s (%zu bars, %zu warm-up), %s orders, %s costs",
                qa_bt_strategy_name(eff.set.strategy), p.S, iso(&p, p.t_begin, a, sizeof a),
                iso(&p, p.t_end - 1, b, sizeof b), p.t_end - p.t_begin, p.t_begin, qa_order_type_name(eff.set.order_type),
                qa_rules_convention_names[eff.set.rules.costs.convention]);
    st = qa_sim_run(&d, &eff.set, &res);
    if (st != QA_OK) {
        qa_err_prefix("simulate: ");
        goto cleanup;
    }
    rep->symbols = p.S;
    rep->bars = p.t_end - p.t_begin;
    rep->seconds = res.seconds;
    rep->bars_per_s = res.seconds > 0 ? (double)res.counts.bars / res.seconds : 0.0;
    rep->orders_per_s = res.seconds > 0 ? (double)res.counts.orders / res.seconds : 0.0;
    rep->final_equity = res.final_equity;
    rep->total_return = res.metrics.total_return;
    rep->sharpe = res.metrics.sharpe;
    rep->counts = res.counts;
    QA_TRY(write_equity(&rd, &p, &res, eff.set.rules.capital));
    QA_TRY(write_wide(&rd, "positions.csv", &p, &res, res.qty));
    QA_TRY(write_wide(&rd, "sleeves.csv", &p, &res, res.sleeve));
    if (eff.set.record_blotter) QA_TRY(write_blotter(&rd, &p, &res.blotter));
    doc = summary_json(&eff, &p, &res, rep);
    if (!doc) QA_TRY_FAIL(QA_ERR_NOMEM, "summary");
    QA_TRY(qa_rundir_write_json(&rd, "summary.json", doc));
    QA_TRY(write_report(&rd, &eff, &p, &res));
    qa_rundir_note(&rd, "outputs", json_pack("[s,s,s,s,s,s]", "equity.csv", "positions.csv", "sleeves.csv", "blotter.csv",
                                             "summary.json", "report.html"));
cleanup:
    json_decref(doc);
    qa_sim_result_free(&res);
    panels_free(&p);
    qa_store_close(store);
    {
        qa_status cst = qa_rundir_close(&rd, st);
        if (st == QA_OK) st = cst;
    }
    return st;
}
