/* Sweep configuration: YAML binding, parameter grids (lists, ranges, random search),
 * symbols, dates and the signal dataset resolved against the market file, validation
 * through qa_bt_validate plus the sweep's own checks (every error names file:line and
 * key), and the canonical description of the work whose hash guards resumes. */
#include "pipeline/sweep/sweep_internal.h"

#include <math.h>    /* floor, isnan, NAN */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, strtod */
#include <string.h>  /* strcmp, strlen */

#include "common/hash.h"        /* config hash */
#include "common/log.h"         /* notes on dropped combinations */
#include "common/mem.h"
#include "common/philox.h"      /* random search draws */
#include "common/timeparse.h" /* start/end dates */

/* ---- metrics --------------------------------------------------------------------------- */

const char *const qa_sweep_metric_names[QA_SWEEP_NMETRICS + 1] = {
    "total_return", "cagr",     "ann_vol",  "sharpe", "sortino", "max_drawdown",    "calmar",
    "hit_rate",     "turnover", "exposure", "bars",   "max_dd_duration", "trades", NULL};

int qa_sweep_metric_higher_better(int m) { return !(m == 2 || m == 8 || m == 11); }

void qa_sweep_metrics_to_row(const qa_bt_metrics *m, double *row) {
    row[0] = m->total_return;
    row[1] = m->cagr;
    row[2] = m->ann_vol;
    row[3] = m->sharpe;
    row[4] = m->sortino;
    row[5] = m->max_drawdown;
    row[6] = m->calmar;
    row[7] = m->hit_rate;
    row[8] = m->turnover;
    row[9] = m->exposure;
    row[10] = (double)m->bars;
    row[11] = (double)m->max_dd_duration;
    row[12] = (double)m->trades;
}

void qa_sweep_metrics_from_row(const double *row, qa_bt_metrics *m) {
    m->total_return = row[0];
    m->cagr = row[1];
    m->ann_vol = row[2];
    m->sharpe = row[3];
    m->sortino = row[4];
    m->max_drawdown = row[5];
    m->calmar = row[6];
    m->hit_rate = row[7];
    m->turnover = row[8];
    m->exposure = row[9];
    m->bars = (int64_t)row[10];
    m->max_dd_duration = (int64_t)row[11];
    m->trades = (int64_t)row[12];
}

double qa_sweep_metric_value(const qa_bt_metrics *m, int metric) {
    double row[QA_SWEEP_NMETRICS];
    qa_sweep_metrics_to_row(m, row);
    return row[metric];
}

int qa_sweep_better(int metric, double a, double b) {
    if (isnan(a)) return 0;
    if (isnan(b)) return 1;
    return qa_sweep_metric_higher_better(metric) ? a > b : a < b;
}

/* ---- strategies, slots, defaults --------------------------------------------------------- */

static const char *const xs_slots[] = {"k_long", "k_short", "long_weight", "short_weight"};

const char *qa_sweep_strategy_name(int strategy) {
    return strategy == QA_SWEEP_XS ? "xs_topk" : qa_bt_strategy_name((qa_bt_strategy)strategy);
}

static int slot_count(int strategy) { return strategy == QA_SWEEP_XS ? 4 : qa_bt_param_count((qa_bt_strategy)strategy); }

static const char *slot_name(int strategy, int slot) {
    return strategy == QA_SWEEP_XS ? xs_slots[slot] : qa_bt_param_name((qa_bt_strategy)strategy, slot);
}

/* Window and count slots take whole numbers (random search draws integers for them). */
int qa_sweep_slot_is_int(int strategy, int slot) {
    switch (strategy) {
    case QA_BT_SMA_CROSS:
    case QA_BT_EMA_CROSS:
    case QA_BT_DONCHIAN: return slot <= 1;
    case QA_BT_ZSCORE:
    case QA_BT_BOLLINGER:
    case QA_BT_RSI: return slot == 0;
    case QA_SWEEP_XS: return slot <= 1;
    default: return 0;
    }
}

/* Default of a slot the grid leaves out; NAN = required. */
static double slot_default(int strategy, int slot) {
    switch (strategy) {
    case QA_BT_ZSCORE: return slot == 1 ? 2.0 : slot == 2 ? 0.0 : NAN;
    case QA_BT_BOLLINGER: return slot == 1 ? 2.0 : NAN;
    case QA_BT_DONCHIAN: return slot == 1 ? 0.0 : NAN;
    case QA_BT_RSI: return slot == 1 ? 30.0 : slot == 2 ? 70.0 : NAN;
    case QA_BT_SIGNAL: return 0.0;
    case QA_SWEEP_XS: return slot >= 2 ? 0.5 : NAN;
    default: return NAN;
    }
}

/* Bars of history a window value needs before its first signal (docs/backtest.md). */
static double window_need(int strategy, int slot, double v) {
    switch (strategy) {
    case QA_BT_SMA_CROSS:
    case QA_BT_EMA_CROSS: return v;
    case QA_BT_ZSCORE:
    case QA_BT_BOLLINGER: return slot == 0 ? v : 0;
    case QA_BT_DONCHIAN: return v + 1;
    case QA_BT_RSI: return slot == 0 ? v + 1 : 0;
    default: return 0;
    }
}

void qa_sweep_params_text(const qa_sweep_cfg *c, size_t p, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int j = 0; j < c->nslots; j++) {
        int w = snprintf(buf + used, size - used, "%s%s=%.10g", j ? " " : "", c->slot_names[j], c->params[p].p[j]);
        if (w < 0 || used + (size_t)w >= size) break;
        used += (size_t)w;
    }
}

/* ---- binding --------------------------------------------------------------------------------- */

static const char *const search_choices[] = {"grid", "random", NULL};
static const char *const weighting_choices[] = {"equal", "inv_vol", NULL};
static const char *const per_choices[] = {"symbol", "portfolio", NULL};
static const char *const bench_choices[] = {"zero", "buy_and_hold", NULL};
_Static_assert(sizeof weighting_choices / sizeof weighting_choices[0] == QA_BT_WEIGHTING_COUNT + 1, "weightings");

#define FIELD(key, type, field, flags, doc) QA_CFG_FIELD(qa_sweep_cfg, key, type, field, flags, doc)
#define NUM(key, field, lo, hi, doc) QA_CFG_NUM(qa_sweep_cfg, key, field, lo, hi, 0, doc)
static const qa_cfg_field chunk_fields[] = {
    NUM("symbols", chunk_symbols, 1, 1e7, "symbols per chunk"),
    NUM("params", chunk_params, 1, 1e7, "parameter sets per chunk"),
    {NULL},
};
static const qa_cfg_field mt_fields[] = {
    FIELD("enabled", QA_CFG_T_BOOL, mt.enabled, 0, "compute DSR and RC/SPA"),
    QA_CFG_ENUM(qa_sweep_cfg, "benchmark", mt.benchmark, bench_choices, 0, "zero or buy_and_hold"),
    NUM("bootstrap", mt.bootstrap, 10, 1000000, "bootstrap resamples"),
    NUM("seed", mt.seed, 0, 9.2e18, "Philox seed of the bootstrap"),
    NUM("block", mt.block, 1, 1e6, "mean block length (bars)"),
    FIELD("trials", QA_CFG_T_NODE, mt.n_trials, 0, "independent trials: auto or a number"),
    {NULL},
};
static const qa_cfg_field wf_fields[] = {
    FIELD("train", QA_CFG_T_NODE, wf.n_train, QA_CFG_REQUIRED, "in-sample length (bars, 3y, 6m)"),
    FIELD("test", QA_CFG_T_NODE, wf.n_test, QA_CFG_REQUIRED, "out-of-sample length"),
    FIELD("step", QA_CFG_T_NODE, wf.n_step, 0, "shift between windows (default: test)"),
    FIELD("anchored", QA_CFG_T_BOOL, wf.anchored, 0, "train from the start (expanding)"),
    QA_CFG_ENUM(qa_sweep_cfg, "per", wf.per_portfolio, per_choices, 0, "select per symbol or for the portfolio"),
    FIELD("select_by", QA_CFG_T_STRING, wf.select_by, 0, "selection metric (default rank_by)"),
    {NULL},
};
static const qa_cfg_field portfolio_fields[] = {
    QA_CFG_ENUM(qa_sweep_cfg, "weighting", popts.weighting, weighting_choices, 0, "equal or inv_vol"),
    NUM("weight_window", popts.weight_window, 2, 1e7, "inverse-vol window"),
    {NULL},
};
/* The trading rules (trading/rules.h) under `settings:`, or at the top level as in a
 * simulator config. */
static const qa_cfg_field top_schema[] = {
    FIELD("data", QA_CFG_T_STRING, data, 0, "market file (HDF5)"),
    FIELD("backend", QA_CFG_T_STRING, backend, 0, "cpu, cuda or auto"),
    FIELD("symbols", QA_CFG_T_NODE, n_symbols, 0, "all, a list of names, or a count (the first N)"),
    FIELD("start", QA_CFG_T_STRING, start, 0, "first date of the evaluation range (YYYY-MM-DD)"),
    FIELD("end", QA_CFG_T_STRING, end, 0, "last date of the evaluation range, inclusive"),
    FIELD("strategy", QA_CFG_T_STRING, strategy_name, QA_CFG_REQUIRED,
          "sma_cross, ema_cross, zscore, bollinger, donchian, rsi, signal, xs_topk"),
    QA_CFG_ENUM(qa_sweep_cfg, "search", random, search_choices, 0, "grid (cartesian product) or random"),
    NUM("samples", samples, 1, 10000000, "random search: parameter sets to draw"),
    NUM("seed", seed, 0, 9.2e18, "random search: Philox seed"),
    FIELD("grid", QA_CFG_T_NODE, n_grid, QA_CFG_REQUIRED, "per parameter: a value, a list or {start, stop, step}"),
    {"settings", QA_CFG_T_SECTION, offsetof(qa_sweep_cfg, rules), 0, 0, NULL, qa_rules_schema, 0,
     "trading rules: direction, stops, sizing, costs, capital, bars_per_year"},
    {"", QA_CFG_T_INLINE, offsetof(qa_sweep_cfg, rules), 0, 0, NULL, qa_rules_schema, QA_CFG_ALIAS,
     "the trading rules at the top level"},
    FIELD("signal", QA_CFG_T_STRING, signal, 0, "signal panel for signal/xs_topk (features/... or alt/...)"),
    FIELD("portfolio", QA_CFG_T_NODE, n_portfolio, 0, "portfolio per parameter set: {weighting, weight_window}"),
    FIELD("rank_by", QA_CFG_T_STRING, rank_by, 0, "metric that ranks runs and sets (default sharpe)"),
    NUM("top", top, 1, 1000, "best runs/sets kept with equity curves"),
    FIELD("heatmap", QA_CFG_T_STRING_LIST, heatmap, 0, "two parameters for the Sharpe heatmap"),
    {"chunk", QA_CFG_T_SECTION, 0, 0, 0, NULL, chunk_fields, 0, "work chunk sizes: {symbols, params}"},
    FIELD("walk_forward", QA_CFG_T_NODE, n_wf, 0, "walk-forward optimisation"),
    {"multiple_testing", QA_CFG_T_SECTION, 0, 0, 0, NULL, mt_fields, 0, "deflated Sharpe ratio, Reality Check / SPA"},
    {NULL},
};
#undef FIELD
#undef NUM

/* ---- grid ----------------------------------------------------------------------------------- */

/* One parameter's values: a list, or a range {start, stop, step}. */
typedef struct slot_spec {
    const qa_cfg_node *node;
    double *vals; /* list values (or the expanded range in grid mode) */
    size_t n;
    int range;    /* given as {start, stop[, step]} */
    double lo, hi, step;
} slot_spec;

static qa_status read_number(const qa_cfg_t *cfg, const qa_cfg_node *n, const char *what, double *out) {
    return qa_cfg_read_double(cfg, n, what, -1e300, 1e300, out);
}

static qa_status bind_slot(qa_sweep_cfg *c, const qa_cfg_node *v, const char *what, int slot, slot_spec *sp) {
    const qa_cfg_t *cfg = c->doc;
    qa_status st = QA_OK;
    sp->node = v;
    int is_int = qa_sweep_slot_is_int(c->strategy, slot);
    if (qa_cfg_node_kind(v) == QA_CFG_MAP) {
        struct {
            double start, stop, step;
        } r = {NAN, NAN, NAN};
        const qa_cfg_field rs[] = {
            {"start", QA_CFG_T_DOUBLE, 0, -1e300, 1e300, NULL, NULL, QA_CFG_REQUIRED, "first value"},
            {"stop", QA_CFG_T_DOUBLE, sizeof(double), -1e300, 1e300, NULL, NULL, QA_CFG_REQUIRED, "last value (inclusive)"},
            {"step", QA_CFG_T_DOUBLE, 2 * sizeof(double), 1e-300, 1e300, NULL, NULL, 0, "increment (> 0)"},
            {NULL},
        };
        if ((st = qa_cfg_bind(cfg, v, rs, &r, what)) != QA_OK) return st;
        if (r.stop < r.start) return qa_cfg_error(cfg, v, what, "stop %g is below start %g", r.stop, r.start);
        sp->range = 1;
        sp->lo = r.start;
        sp->hi = r.stop;
        sp->step = isnan(r.step) ? (c->random ? 0.0 : 1.0) : r.step;
        if (c->random) return QA_OK;
        double cnt = floor((r.stop - r.start) / sp->step + 1e-9) + 1.0;
        if (cnt > 1e7) return qa_cfg_error(cfg, v, what, "range has %.0f values (at most 10,000,000)", cnt);
        sp->n = (size_t)cnt;
        sp->vals = calloc(sp->n, sizeof *sp->vals);
        if (!sp->vals) return QA_FAIL(QA_ERR_NOMEM, "grid values");
        for (size_t i = 0; i < sp->n; i++) sp->vals[i] = r.start + (double)i * sp->step;
    } else if (qa_cfg_node_kind(v) == QA_CFG_SEQ || qa_cfg_node_kind(v) == QA_CFG_SCALAR) {
        size_t n = qa_cfg_node_kind(v) == QA_CFG_SEQ ? qa_cfg_node_len(v) : 1;
        if (n == 0) return qa_cfg_error(cfg, v, what, "empty list of values");
        sp->n = n;
        sp->vals = calloc(n, sizeof *sp->vals);
        if (!sp->vals) return QA_FAIL(QA_ERR_NOMEM, "grid values");
        for (size_t i = 0; i < n; i++) {
            const qa_cfg_node *it = qa_cfg_node_kind(v) == QA_CFG_SEQ ? qa_cfg_seq_at(v, i) : v;
            char iw[160];
            snprintf(iw, sizeof iw, "%s[%zu]", what, i);
            if ((st = read_number(cfg, it, qa_cfg_node_kind(v) == QA_CFG_SEQ ? iw : what, &sp->vals[i])) != QA_OK) return st;
        }
    } else {
        return qa_cfg_error(cfg, v, what, "expected a value, a list of values or {start, stop, step}");
    }
    /* Whole numbers for windows and counts, and windows that fit the history; a list
     * item is named by its index and line. */
    for (size_t i = 0; i < (sp->range && c->random ? 2 : sp->n); i++) {
        double x = sp->range && c->random ? (i ? sp->hi : sp->lo) : sp->vals[i];
        const qa_cfg_node *at = v;
        char iw[160];
        snprintf(iw, sizeof iw, "%s", what);
        if (!sp->range && qa_cfg_node_kind(v) == QA_CFG_SEQ) {
            at = qa_cfg_seq_at(v, i);
            snprintf(iw, sizeof iw, "%s[%zu]", what, i);
        }
        if (is_int && x != floor(x))
            return qa_cfg_error(cfg, at, iw, "%s must be a whole number (got %g)", slot_name(c->strategy, slot), x);
        double need = window_need(c->strategy, slot, x);
        if (need > (double)c->t_end) {
            char date[40] = "";
            qa_time_format_iso(c->time[c->t_end - 1], date, sizeof date);
            return qa_cfg_error(cfg, at, iw,
                                "%s %g needs %.0f bars of history but the data end at bar %zu (%s): window longer than "
                                "the history",
                                slot_name(c->strategy, slot), x, need, c->t_end, date);
        }
    }
    return QA_OK;
}

/* A dummy panel for validation: qa_bt_validate checks pointers and shapes, never values. */
static const double dummy_panel[1] = {1.0};

static qa_bt_data dummy_data(const qa_sweep_cfg *c, size_t t_begin, size_t t_end) {
    qa_bt_data d = {dummy_panel, c->need_hl ? dummy_panel : NULL, c->need_hl ? dummy_panel : NULL,
                    c->need_vol ? dummy_panel : NULL, c->need_sig ? dummy_panel : NULL,
                    c->nsym, c->t_end, t_begin, t_end};
    return d;
}

/* Checks one parameter set; QA_ERR_CONFIG = inconsistent (dropped from the grid). */
static qa_status check_set(const qa_sweep_cfg *c, const qa_bt_params *p) {
    if (c->strategy == QA_SWEEP_XS) {
        double kl = p->p[0], ks = p->p[1];
        if (kl < 0 || ks < 0 || (kl == 0 && ks == 0))
            return QA_FAIL(QA_ERR_CONFIG, "k_long %g and k_short %g must be >= 0 and not both 0", kl, ks);
        if (kl + ks > (double)c->nsym)
            return QA_FAIL(QA_ERR_CONFIG, "k_long + k_short = %g exceeds the %zu symbols", kl + ks, c->nsym);
        if (!(p->p[2] >= 0) || !(p->p[3] >= 0))
            return QA_FAIL(QA_ERR_CONFIG, "long_weight %g and short_weight %g must be >= 0", p->p[2], p->p[3]);
        return QA_OK;
    }
    qa_bt_data d = dummy_data(c, c->t_begin, c->t_end);
    qa_bt_grid g = {(qa_bt_strategy)c->strategy, p, 1};
    return qa_bt_validate(&d, &g, &c->bt);
}

/* "parameter set 0 (sma_cross): fast ..." -> "fast ..." */
static const char *strip_set_prefix(const char *msg) {
    if (strncmp(msg, "parameter set ", 14) == 0) {
        const char *q = strstr(msg, "): ");
        if (q) return q + 3;
        q = strstr(msg, ": ");
        if (q) return q + 2;
    }
    return msg;
}

/* Appends a set unless it duplicates the previous (random search avoids repeats below). */
static qa_status push_set(qa_sweep_cfg *c, size_t *cap, const qa_bt_params *p) {
    if (c->nparams == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        qa_bt_params *np = realloc(c->params, nc * sizeof *np);
        if (!np) return QA_FAIL(QA_ERR_NOMEM, "parameter table of %zu sets", nc);
        c->params = np;
        *cap = nc;
    }
    c->params[c->nparams++] = *p;
    return QA_OK;
}

static int same_set(const qa_bt_params *a, const qa_bt_params *b, int n) {
    for (int j = 0; j < n; j++)
        if (a->p[j] != b->p[j]) return 0;
    return 1;
}

/* Open-addressing set of drawn parameter sets (indices into c->params + 1; 0 = empty),
 * so random search rejects repeats in O(1) per draw. */
static uint64_t set_hash(const qa_bt_params *p, int n) {
    uint64_t h = 1469598103934665603ull;
    for (int j = 0; j < n; j++) {
        double x = p->p[j] == 0.0 ? 0.0 : p->p[j]; /* -0 and +0 are the same value */
        uint64_t b;
        memcpy(&b, &x, sizeof b);
        h = (h ^ b) * 1099511628211ull;
        h ^= h >> 29;
    }
    return h;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Distinct values slot j can take in a random search into *out, 0 when it is continuous
 * (a range without a step for a real-valued parameter). */
static qa_status slot_distinct(const qa_sweep_cfg *c, const slot_spec *sp, int j, double *out) {
    if (!sp->range) {
        double *v = malloc((sp->n ? sp->n : 1) * sizeof *v);
        if (!v) return QA_FAIL(QA_ERR_NOMEM, "grid values (%zu)", sp->n);
        memcpy(v, sp->vals, sp->n * sizeof *v);
        qsort(v, sp->n, sizeof *v, cmp_double);
        size_t d = 0;
        for (size_t i = 0; i < sp->n; i++) d += i == 0 || v[i] != v[i - 1];
        free(v);
        *out = (double)d;
        return QA_OK;
    }
    if (sp->step > 0 || qa_sweep_slot_is_int(c->strategy, j)) {
        double step = sp->step > 0 ? sp->step : 1.0;
        *out = floor((sp->hi - sp->lo) / step + 1e-9) + 1.0;
        return QA_OK;
    }
    *out = 0.0;
    return QA_OK;
}

static int stopped(const qa_sweep_cfg *c) { return c->stop && *c->stop; }

/* Memory one parameter set costs over a run: its row of the table (grown by doubling, so
 * up to twice its size), the summary's JSON row (an array and a real per slot), the
 * merge's per-set aggregates and parameter row, the report's label. Measured: about 220
 * bytes per set of RSS at the margin for sma_cross; this estimate is deliberately above. */
static double set_bytes(const qa_sweep_cfg *c) {
    return 2.0 * sizeof(qa_bt_params) + 64.0 + 48.0 * c->nslots + 4 * 8.0 + 8.0 * c->nslots + 96.0;
}

/* Refuses `sets` parameter sets whose memory exceeds what the machine has, before the
 * grid is expanded (a range read from the config can ask for 10^8 sets). */
static qa_status check_sets_memory(const qa_sweep_cfg *c, double sets, const char *what) {
    double need = sets * set_bytes(c);
    uint64_t avail = qa_mem_available();
    if (avail == 0 || need <= (double)avail) return QA_OK;
    char a[32], b[32];
    return qa_cfg_error(c->doc, c->n_grid, "grid",
                        "%s %.0f parameter sets x %.0f bytes each (parameter table, summary, per-set aggregates, "
                        "report) need an estimated %s of memory, more than the %s available: narrow the grid%s",
                        what, sets, set_bytes(c), qa_mem_format((uint64_t)need, a, sizeof a),
                        qa_mem_format(avail, b, sizeof b), c->random ? " or lower 'samples'" : " or use search: random");
}

static qa_status expand_grid(qa_sweep_cfg *c, slot_spec *sp) {
    const qa_cfg_t *cfg = c->doc;
    size_t cap = 0;
    qa_status st = QA_OK;
    char first_bad[512] = "";
    size_t tried = 0;
    if (!c->random) {
        double total = 1;
        for (int j = 0; j < c->nslots; j++) total *= (double)sp[j].n;
        if (total > 1e8)
            return qa_cfg_error(cfg, c->n_grid, "grid", "the grid has %.3g combinations (at most 1e8)", total);
        if ((st = check_sets_memory(c, total, "the grid's")) != QA_OK) return st;
        size_t idx[QA_BT_MAX_PARAMS] = {0};
        for (size_t k = 0; k < (size_t)total; k++) {
            if ((k & 0xffff) == 0 && stopped(c)) /* up to 1e8 sets: a stop must not wait for them */
                return QA_FAIL(QA_ERR_INTERRUPTED, "sweep stopped by a signal while expanding the grid (%zu of %.0f "
                               "combinations); nothing was written", k, total);
            qa_bt_params p;
            memset(&p, 0, sizeof p);
            for (int j = 0; j < c->nslots; j++) p.p[j] = sp[j].vals[idx[j]];
            tried++;
            st = check_set(c, &p);
            if (st == QA_OK) {
                if ((st = push_set(c, &cap, &p)) != QA_OK) return st;
            } else if (st == QA_ERR_CONFIG) {
                if (!first_bad[0]) snprintf(first_bad, sizeof first_bad, "%s", strip_set_prefix(qa_err_msg()));
                c->dropped++;
            } else {
                return qa_cfg_error(cfg, c->n_grid, "grid", "%s", strip_set_prefix(qa_err_msg()));
            }
            for (int j = c->nslots - 1; j >= 0; j--) { /* odometer: the last parameter varies fastest */
                if (++idx[j] < sp[j].n) break;
                idx[j] = 0;
            }
        }
    } else {
        /* Draw i of slot j: Philox (seed, stream 1000 + j, attempt). Inconsistent or
         * repeated draws are rejected and drawn again. A space of fewer distinct sets than
         * samples is refused at once (for discrete slots it is counted exactly); otherwise
         * the draws stop after 100 per sample, or earlier once even the rate of new valid
         * sets so far (which only falls as the space fills) cannot reach the count. */
        double space = 1.0;
        for (int j = 0; j < c->nslots; j++) {
            double d = 0.0;
            if ((st = slot_distinct(c, &sp[j], j, &d)) != QA_OK) return st;
            space = d > 0 && space > 0 ? space * d : 0.0; /* 0: a continuous slot, no bound */
        }
        if (space > 0 && space < (double)c->samples)
            return qa_cfg_error(cfg, c->n_grid, "grid",
                                "random search asks for %lld samples but the grid has only %.0f distinct parameter sets "
                                "(lower 'samples', widen the grid, or use search: grid)",
                                c->samples, space);
        if ((st = check_sets_memory(c, (double)c->samples * 1.25, "random search's")) != QA_OK) return st; /* + its hash table */
        size_t attempts = (size_t)c->samples * 100, cap_h = 16;
        while (cap_h < 2 * (size_t)c->samples) cap_h *= 2;
        size_t *table = calloc(cap_h, sizeof *table);
        if (!table) return QA_FAIL(QA_ERR_NOMEM, "random search table");
        size_t a = 0;
        for (; a < attempts && c->nparams < (size_t)c->samples; a++) {
            if ((a & 0xffff) == 0 && stopped(c)) {
                free(table);
                return QA_FAIL(QA_ERR_INTERRUPTED, "sweep stopped by a signal during the random search (%zu draws, %zu "
                               "sets); nothing was written", a, c->nparams);
            }
            if (a >= 10 * (size_t)c->samples && a % 1024 == 0 &&
                (double)c->nparams * ((double)attempts / (double)a) < (double)c->samples)
                break;
            qa_bt_params p;
            memset(&p, 0, sizeof p);
            for (int j = 0; j < c->nslots; j++) {
                double u = qa_rng_uniform((uint64_t)c->seed, 1000 + (uint64_t)j, a);
                if (!sp[j].range) {
                    size_t k = (size_t)floor(u * (double)sp[j].n);
                    p.p[j] = sp[j].vals[k < sp[j].n ? k : sp[j].n - 1];
                } else if (sp[j].step > 0 || qa_sweep_slot_is_int(c->strategy, j)) {
                    double step = sp[j].step > 0 ? sp[j].step : 1.0;
                    double cnt = floor((sp[j].hi - sp[j].lo) / step + 1e-9) + 1.0;
                    double k = floor(u * cnt);
                    p.p[j] = sp[j].lo + (k < cnt ? k : cnt - 1) * step;
                } else {
                    p.p[j] = sp[j].lo + u * (sp[j].hi - sp[j].lo);
                }
            }
            tried++;
            st = check_set(c, &p);
            if (st == QA_ERR_CONFIG) {
                if (!first_bad[0]) snprintf(first_bad, sizeof first_bad, "%s", strip_set_prefix(qa_err_msg()));
                c->dropped++;
                continue;
            }
            if (st != QA_OK) {
                free(table);
                return qa_cfg_error(cfg, c->n_grid, "grid", "%s", strip_set_prefix(qa_err_msg()));
            }
            size_t slot = (size_t)set_hash(&p, c->nslots) & (cap_h - 1);
            int dup = 0;
            while (table[slot] && !(dup = same_set(&c->params[table[slot] - 1], &p, c->nslots))) slot = (slot + 1) & (cap_h - 1);
            if (dup) continue;
            if ((st = push_set(c, &cap, &p)) != QA_OK) {
                free(table);
                return st;
            }
            table[slot] = c->nparams;
        }
        free(table);
        if (c->nparams < (size_t)c->samples && c->nparams > 0) {
            char of[64] = "";
            if (space > 0) snprintf(of, sizeof of, " (of %.0f distinct sets in the grid)", space);
            return qa_cfg_error(cfg, c->n_grid, "grid",
                                "random search found only %zu distinct valid parameter sets%s in %zu draws, %lld asked "
                                "(%zu draws inconsistent%s%s; lower 'samples' or widen the grid)",
                                c->nparams, of, a, c->samples, c->dropped, c->dropped ? ", e.g. " : "",
                                c->dropped ? first_bad : "");
        }
    }
    if (c->nparams == 0)
        return qa_cfg_error(cfg, c->n_grid, "grid",
                            "no valid parameter set: all %zu combinations are inconsistent, e.g. %s", tried,
                            first_bad[0] ? first_bad : "?");
    if (c->dropped)
        qa_log_info("grid: %zu of %zu combinations dropped as inconsistent (e.g. %s)", c->dropped, tried, first_bad);
    return QA_OK;
}

static qa_status bind_grid(qa_sweep_cfg *c) {
    const qa_cfg_t *cfg = c->doc;
    const qa_cfg_node *g = c->n_grid;
    qa_status st = QA_OK;
    slot_spec sp[QA_BT_MAX_PARAMS];
    memset(sp, 0, sizeof sp);
    if (qa_cfg_node_kind(g) != QA_CFG_MAP)
        return qa_cfg_error(cfg, g, "grid", "expected a map of parameters (e.g. fast: [5, 10], slow: {start: 20, stop: 200, step: 10})");
    for (size_t i = 0; i < qa_cfg_node_len(g); i++) {
        const char *key = qa_cfg_map_key_at(g, i);
        int slot = -1;
        for (int j = 0; j < c->nslots; j++)
            if (strcmp(key, c->slot_names[j]) == 0) slot = j;
        if (slot < 0) {
            char names[256] = "";
            for (int j = 0; j < c->nslots; j++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", j ? ", " : "", c->slot_names[j]);
            char at[QA_CFG_WHERE_MAX];
            if (qa_cfg_map_key_line_at(g, i) > 0) snprintf(at, sizeof at, "%s:%d", qa_cfg_name(cfg), qa_cfg_map_key_line_at(g, i));
            else qa_cfg_node_where(cfg, qa_cfg_map_value_at(g, i), at, sizeof at); /* a key given by --set */
            st = QA_FAIL(QA_ERR_CONFIG, "%s: key 'grid.%s': unknown parameter '%s' of %s (parameters: %s)", at, key,
                         key, qa_sweep_strategy_name(c->strategy), names);
            goto cleanup;
        }
        /* Keys are unique (the parser refuses duplicates) and i < len: each slot is bound
         * once, to a present value, so sp[slot] owns no values yet and gets a node. */
        const qa_cfg_node *v = qa_cfg_map_value_at(g, i);
        if (!v || sp[slot].node) QA_TRY_FAIL(QA_ERR_STATE, "grid.%s: no value, or given twice", key);
        char what[96];
        snprintf(what, sizeof what, "grid.%s", key);
        QA_TRY(bind_slot(c, v, what, slot, &sp[slot]));
    }
    for (int j = 0; j < c->nslots; j++) {
        if (sp[j].node) continue;
        double def = slot_default(c->strategy, j);
        if (isnan(def)) {
            st = qa_cfg_error(cfg, g, "grid", "parameter '%s' of %s is missing", c->slot_names[j],
                              qa_sweep_strategy_name(c->strategy));
            goto cleanup;
        }
        sp[j].n = 1;
        sp[j].vals = calloc(1, sizeof(double));
        if (!sp[j].vals) QA_TRY_FAIL(QA_ERR_NOMEM, "grid");
        sp[j].vals[0] = def;
    }
    st = expand_grid(c, sp);
cleanup:
    for (int j = 0; j < QA_BT_MAX_PARAMS; j++) free(sp[j].vals);
    return st;
}

/* ---- symbols, dates, signal ------------------------------------------------------------------------ */

static qa_status bind_symbols(qa_sweep_cfg *c, qa_store_t *store, const qa_cfg_node *n) {
    const qa_cfg_t *cfg = c->doc;
    size_t S = qa_store_nsym(store);
    size_t want = S;
    int list = 0;
    if (qa_cfg_node_kind(n) == QA_CFG_SCALAR) {
        const char *t = qa_cfg_node_text(n);
        if (strcmp(t, "all") != 0) {
            long long k;
            qa_status st = qa_cfg_read_int(cfg, n, "symbols", 1, (long long)1 << 40, &k);
            if (st != QA_OK)
                return qa_cfg_error(cfg, n, "symbols", "expected all, a list of symbols or a count (got '%s')", t);
            if ((size_t)k > S)
                return qa_cfg_error(cfg, n, "symbols", "asks for %lld symbols but %s has %zu", k, qa_store_path(store), S);
            want = (size_t)k;
        }
    } else if (qa_cfg_node_kind(n) == QA_CFG_SEQ) {
        want = qa_cfg_node_len(n);
        list = 1;
        if (want == 0) return qa_cfg_error(cfg, n, "symbols", "empty symbol list");
    } else if (qa_cfg_node_kind(n) != QA_CFG_NULL) {
        return qa_cfg_error(cfg, n, "symbols", "expected all, a list of symbols or a count");
    }
    if (S == 0) return QA_FAIL(QA_ERR_CONFIG, "%s has no symbols", qa_store_path(store));
    c->nsym = want;
    c->sym_index = calloc(want, sizeof *c->sym_index);
    c->sym_names = calloc(want, sizeof *c->sym_names);
    if (!c->sym_index || !c->sym_names) return QA_FAIL(QA_ERR_NOMEM, "symbol list");
    for (size_t i = 0; i < want; i++) {
        if (!list) {
            c->sym_index[i] = i;
        } else {
            const qa_cfg_node *it = qa_cfg_seq_at(n, i);
            char what[48];
            snprintf(what, sizeof what, "symbols[%zu]", i);
            const char *name;
            qa_status st = qa_cfg_read_string(cfg, it, what, &name);
            if (st != QA_OK) return st;
            long k = qa_store_find_symbol(store, name);
            if (k < 0) return qa_cfg_error(cfg, it, what, "unknown symbol '%s' (not in %s)", name, qa_store_path(store));
            for (size_t j = 0; j < i; j++)
                if (c->sym_index[j] == (size_t)k) return qa_cfg_error(cfg, it, what, "symbol '%s' is listed twice", name);
            c->sym_index[i] = (size_t)k;
        }
        snprintf(c->sym_names[i], QA_STORE_SYMBOL_LEN, "%s", qa_store_symbol(store, c->sym_index[i]));
    }
    return QA_OK;
}

static qa_status parse_date(const qa_sweep_cfg *c, const char *text, const char *key, int end, int64_t *ns) {
    qa_tzone utc;
    memset(&utc, 0, sizeof utc);
    if (!qa_time_parse(text, QA_TIME_ISO, &utc, ns))
        return qa_cfg_error(c->doc, qa_cfg_map_get(c->n_root, key), key,
                            "'%s' is not a valid date (YYYY-MM-DD or an ISO 8601 time)%s", text, qa_time_parse_why());
    if (end && strlen(text) == 10) /* a bare end date includes its day (up to the last time there is) */
        *ns = *ns > INT64_MAX - (86400LL * 1000000000LL - 1) ? INT64_MAX : *ns + 86400LL * 1000000000LL - 1;
    return QA_OK;
}

static qa_status bind_dates(qa_sweep_cfg *c, qa_store_t *store, const char *start, const char *end) {
    const qa_cfg_t *cfg = c->doc;
    size_t T = qa_store_ntime(store);
    const int64_t *tm = qa_store_time(store);
    qa_status st;
    if (T < 2) return QA_FAIL(QA_ERR_CONFIG, "%s has %zu bars (a backtest needs >= 2)", qa_store_path(store), T);
    char first[40], last[40];
    qa_time_format_iso(tm[0], first, sizeof first);
    qa_time_format_iso(tm[T - 1], last, sizeof last);
    int64_t s_ns = tm[0], e_ns = tm[T - 1];
    if (start && (st = parse_date(c, start, "start", 0, &s_ns)) != QA_OK) return st;
    if (end && (st = parse_date(c, end, "end", 1, &e_ns)) != QA_OK) return st;
    if (start && end && e_ns < s_ns)
        return qa_cfg_error(cfg, qa_cfg_map_get(c->n_root, "end"), "end", "%s is before start %s", end, start);
    size_t tb = 0;
    while (tb < T && tm[tb] < s_ns) tb++;
    size_t te = tb;
    while (te < T && tm[te] <= e_ns) te++;
    if (tb >= T)
        return qa_cfg_error(cfg, qa_cfg_map_get(c->n_root, "start"), "start", "%s is after the last bar of %s (%s)", start,
                            qa_store_path(store), last);
    if (end && e_ns < tm[0])
        return qa_cfg_error(cfg, qa_cfg_map_get(c->n_root, "end"), "end", "%s is before the first bar of %s (%s)", end,
                            qa_store_path(store), first);
    if (te - tb < 2)
        return qa_cfg_error(cfg, qa_cfg_map_get(c->n_root, end ? "end" : "start"), end ? "end" : "start",
                            "the range %s .. %s holds %zu bar(s) of %s (a backtest needs >= 2)", start ? start : first,
                            end ? end : last, te - tb, qa_store_path(store));
    c->t_begin = tb;
    c->t_end = te;
    c->time = malloc(te * sizeof *c->time);
    if (!c->time) return QA_FAIL(QA_ERR_NOMEM, "time grid");
    memcpy(c->time, tm, te * sizeof *c->time);
    return QA_OK;
}

/* ---- sections ----------------------------------------------------------------------------------------- */

/* The rules block, resolved against the market file and converted for the kernels. */
static qa_status resolve_rules(qa_sweep_cfg *c, double file_bpy) {
    qa_rules_resolve_bars_per_year(&c->rules, file_bpy);
    if (c->rules.costs.convention != QA_RULES_VECTORIZED)
        return qa_cfg_error(c->doc, c->n_settings ? c->n_settings : c->n_root, "settings",
                            "costs.convention %s: a sweep books costs the vectorized way (traded is the simulator's)",
                            qa_rules_convention_names[c->rules.costs.convention]);
    qa_rules_to_bt(&c->rules, &c->bt);
    return QA_OK;
}

static qa_status metric_parse(const qa_sweep_cfg *c, const qa_cfg_node *n, const char *what, const char *name, int *out) {
    for (int m = 0; m < QA_SWEEP_NMETRICS; m++)
        if (strcmp(name, qa_sweep_metric_names[m]) == 0) {
            *out = m;
            return QA_OK;
        }
    return qa_cfg_error(c->doc, n, what,
                        "unknown metric '%s' (total_return, cagr, ann_vol, sharpe, sortino, max_drawdown, calmar, "
                        "hit_rate, turnover, exposure, bars, max_dd_duration, trades)",
                        name);
}

/* "756" (bars), "3y" (years), "6m" (months), "500b" (bars) -> bars. */
static qa_status parse_length(const qa_sweep_cfg *c, const qa_cfg_node *n, const char *what, long long *out) {
    const char *t = qa_cfg_node_text(n);
    if (!t || !*t) return qa_cfg_error(c->doc, n, what, "expected a length: bars (756) or years (3y) or months (6m)");
    char *endp = NULL;
    double v = strtod(t, &endp);
    double bars;
    if (endp == t || !(v > 0)) return qa_cfg_error(c->doc, n, what, "'%s' is not a positive length", t);
    if (*endp == '\0' || strcmp(endp, "b") == 0) bars = v;
    else if (strcmp(endp, "y") == 0) bars = v * c->bt.bars_per_year;
    else if (strcmp(endp, "m") == 0) bars = v * c->bt.bars_per_year / 12.0;
    else return qa_cfg_error(c->doc, n, what, "'%s': unknown unit '%s' (bars, y for years, m for months)", t, endp);
    if (bars < 1 || bars > 1e12) return qa_cfg_error(c->doc, n, what, "'%s' is %.0f bars", t, bars);
    *out = (long long)floor(bars + 0.5);
    return QA_OK;
}

static qa_status bind_wf(qa_sweep_cfg *c) {
    qa_sweep_wf *w = &c->wf;
    w->per_portfolio = c->strategy == QA_SWEEP_XS;
    qa_status st = qa_cfg_bind(c->doc, c->n_wf, wf_fields, c, "walk_forward");
    if (st != QA_OK) return st;
    w->enabled = 1;
    if (c->strategy == QA_SWEEP_XS && !w->per_portfolio)
        return qa_cfg_error(c->doc, qa_cfg_map_get(c->n_wf, "per"), "walk_forward.per",
                            "xs_topk is one cross-sectional portfolio: use per: portfolio");
    w->metric = c->rank_metric;
    if (w->select_by && (st = metric_parse(c, qa_cfg_map_get(c->n_wf, "select_by"), "walk_forward.select_by",
                                           w->select_by, &w->metric)) != QA_OK)
        return st;
    if ((st = parse_length(c, w->n_train, "walk_forward.train", &w->train)) != QA_OK) return st;
    if ((st = parse_length(c, w->n_test, "walk_forward.test", &w->test)) != QA_OK) return st;
    w->step = w->test;
    if (w->n_step && qa_cfg_node_kind(w->n_step) != QA_CFG_NULL &&
        (st = parse_length(c, w->n_step, "walk_forward.step", &w->step)) != QA_OK)
        return st;
    if ((st = qa_sweep_wf_plan(c)) != QA_OK) return st;
    /* The first training window must hold every window of the grid. */
    if (c->strategy != QA_SWEEP_XS) {
        qa_bt_data d = dummy_data(c, w->train_begin[0], w->train_end[0]);
        qa_bt_grid g = {(qa_bt_strategy)c->strategy, c->params, c->nparams};
        if (qa_bt_validate(&d, &g, &c->bt) != QA_OK) {
            char date[40];
            qa_time_format_iso(c->time[w->train_end[0] - 1], date, sizeof date);
            return qa_cfg_error(c->doc, qa_cfg_map_get(c->n_wf, "train"), "walk_forward.train",
                                "the first training window ends at bar %zu (%s): %s", w->train_end[0], date,
                                strip_set_prefix(qa_err_msg()));
        }
    }
    return QA_OK;
}

/* After the top-level bind (the section's keys are in c->mt): the trials count. */
static qa_status bind_mt(qa_sweep_cfg *c) {
    qa_sweep_mt *m = &c->mt;
    qa_status st;
    if (m->n_trials && qa_cfg_node_kind(m->n_trials) != QA_CFG_NULL &&
        !(qa_cfg_node_kind(m->n_trials) == QA_CFG_SCALAR && strcmp(qa_cfg_node_text(m->n_trials), "auto") == 0)) {
        if ((st = qa_cfg_read_double(c->doc, m->n_trials, "multiple_testing.trials", 1, 1e15, &m->trials)) != QA_OK) return st;
    }
    return QA_OK;
}

/* ---- canonical description and hash ------------------------------------------------------------------ */

static qa_status build_json(qa_sweep_cfg *c) {
    json_t *w = json_object();
    c->work = w;
    json_object_set_new(w, "code", json_string(QA_SWEEP_CODE_VERSION));
    json_object_set_new(w, "strategy", json_string(qa_sweep_strategy_name(c->strategy)));
    json_t *syms = json_array();
    for (size_t i = 0; i < c->nsym; i++) json_array_append_new(syms, json_string(c->sym_names[i]));
    json_object_set_new(w, "symbols", syms);
    char b[40], e[40];
    qa_time_format_iso(c->time[c->t_begin], b, sizeof b);
    qa_time_format_iso(c->time[c->t_end - 1], e, sizeof e);
    json_object_set_new(w, "start", json_string(b));
    json_object_set_new(w, "end", json_string(e));
    json_object_set_new(w, "t_begin", json_integer((json_int_t)c->t_begin));
    json_object_set_new(w, "t_end", json_integer((json_int_t)c->t_end));
    json_t *names = json_array(), *vals = json_array();
    for (int j = 0; j < c->nslots; j++) json_array_append_new(names, json_string(c->slot_names[j]));
    for (size_t p = 0; p < c->nparams; p++) {
        json_t *row = json_array();
        for (int j = 0; j < c->nslots; j++) json_array_append_new(row, json_real(c->params[p].p[j]));
        json_array_append_new(vals, row);
    }
    json_t *pj = json_object();
    json_object_set_new(pj, "names", names);
    json_object_set_new(pj, "count", json_integer((json_int_t)c->nparams));
    json_object_set_new(pj, "values", vals);
    json_object_set_new(w, "params", pj);
    json_object_set_new(w, "settings", qa_rules_bt_json(&c->rules));
    json_object_set_new(w, "signal", c->signal ? json_string(c->signal) : json_null());
    json_t *po = json_null();
    if (qa_sweep_has_sets(c) && c->strategy != QA_SWEEP_XS) {
        po = json_object();
        json_object_set_new(po, "weighting", json_string(weighting_choices[c->popts.weighting]));
        json_object_set_new(po, "weight_window", json_integer(c->popts.weight_window));
    }
    json_object_set_new(w, "portfolio", po);
    json_object_set_new(w, "sets", json_boolean(qa_sweep_has_sets(c)));
    json_t *ch = json_object();
    json_object_set_new(ch, "symbols", json_integer(c->chunk_symbols));
    json_object_set_new(ch, "params", json_integer(c->chunk_params));
    json_object_set_new(w, "chunk", ch);
    json_t *wf = json_null();
    if (c->wf.enabled) {
        wf = json_object();
        json_object_set_new(wf, "train", json_integer(c->wf.train));
        json_object_set_new(wf, "test", json_integer(c->wf.test));
        json_object_set_new(wf, "step", json_integer(c->wf.step));
        json_object_set_new(wf, "anchored", json_boolean(c->wf.anchored));
        json_object_set_new(wf, "per", json_string(per_choices[c->wf.per_portfolio]));
        json_object_set_new(wf, "select_by", json_string(qa_sweep_metric_names[c->wf.metric]));
        json_object_set_new(wf, "windows", json_integer((json_int_t)c->wf.nwin));
    }
    json_object_set_new(w, "walk_forward", wf);

    char *text = json_dumps(w, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17));
    if (!text) return QA_FAIL(QA_ERR_NOMEM, "config description");
    qa_status st = qa_sha256_hex(text, strlen(text), c->config_hash);
    free(text);
    if (st != QA_OK) return st;

    json_t *r = json_deep_copy(w);
    c->resolved = r;
    json_object_set_new(r, "data", json_string(c->data));
    json_object_set_new(r, "backend", json_string(c->backend));
    json_object_set_new(r, "search", json_string(search_choices[c->random]));
    if (c->random) {
        json_object_set_new(r, "samples", json_integer(c->samples));
        json_object_set_new(r, "seed", json_integer(c->seed));
    }
    json_object_set_new(r, "dropped_combinations", json_integer((json_int_t)c->dropped));
    json_object_set_new(r, "rank_by", json_string(qa_sweep_metric_names[c->rank_metric]));
    json_object_set_new(r, "top", json_integer(c->top));
    json_t *hm = json_array();
    for (int k = 0; k < 2; k++)
        if (c->heat[k] >= 0) json_array_append_new(hm, json_string(c->slot_names[c->heat[k]]));
    json_object_set_new(r, "heatmap", hm);
    json_t *mt = json_object();
    json_object_set_new(mt, "enabled", json_boolean(c->mt.enabled));
    json_object_set_new(mt, "benchmark", json_string(bench_choices[c->mt.benchmark]));
    json_object_set_new(mt, "bootstrap", json_integer(c->mt.bootstrap));
    json_object_set_new(mt, "block", json_real(c->mt.block));
    json_object_set_new(mt, "seed", json_integer(c->mt.seed));
    json_object_set_new(mt, "trials", c->mt.trials > 0 ? json_real(c->mt.trials) : json_string("auto"));
    json_object_set_new(r, "multiple_testing", mt);
    json_object_set_new(r, "config_hash", json_string(c->config_hash));
    return QA_OK;
}

/* ---- loader ------------------------------------------------------------------------------------------ */

void qa_sweep_cfg_free(qa_sweep_cfg *c) {
    if (!c) return;
    QA_FREE_ALL(c->params, c->sym_index, c->sym_names, c->time, c->wf.train_begin);
    json_decref(c->work);
    json_decref(c->resolved);
    memset(c, 0, sizeof *c);
}

/* Defaults of every key, before the document is bound over them. */
static void cfg_defaults(qa_sweep_cfg *c) {
    c->backend = "auto";
    c->rank_by = "sharpe";
    c->samples = 100;
    c->seed = 1;
    c->top = 10;
    c->chunk_symbols = 64;
    c->chunk_params = 2048;
    c->heat[0] = c->heat[1] = -1;
    qa_rules_init(&c->rules);
    c->popts.weighting = QA_BT_WEIGHT_EQUAL;
    c->popts.weight_window = 60;
    c->mt.enabled = 1;
    c->mt.bootstrap = 1000;
    c->mt.block = 10.0;
    c->mt.seed = 1;
}

qa_status qa_sweep_cfg_load(const qa_cfg_t *doc, const qa_sweep_opts *o, qa_sweep_cfg *c) {
    memset(c, 0, sizeof *c);
    c->doc = doc;
    c->n_root = qa_cfg_root(doc);
    cfg_defaults(c);
    qa_status st = qa_cfg_bind(doc, c->n_root, top_schema, c, NULL);
    qa_store_t *store = NULL;
    if (st != QA_OK) return st;
    if (o && o->data) c->data = o->data;
    if (o && o->backend) c->backend = o->backend;
    if (o) c->stop = o->stop;
    if (!c->data) return QA_FAIL(QA_ERR_CONFIG, "%s: no market file: give --data or 'data' in the config", qa_cfg_name(doc));
    c->n_settings = qa_cfg_map_get(c->n_root, "settings");
    c->n_mt = qa_cfg_map_get(c->n_root, "multiple_testing");

    /* strategy */
    const qa_cfg_node *ns = qa_cfg_map_get(c->n_root, "strategy");
    if (strcmp(c->strategy_name, "xs_topk") == 0) {
        c->strategy = QA_SWEEP_XS;
    } else {
        qa_bt_strategy s;
        if (qa_bt_strategy_parse(c->strategy_name, &s) != QA_OK)
            return qa_cfg_error(doc, ns, "strategy",
                                "unknown strategy '%s' (sma_cross, ema_cross, zscore, bollinger, donchian, rsi, signal, "
                                "xs_topk)",
                                c->strategy_name);
        c->strategy = (int)s;
    }
    c->nslots = slot_count(c->strategy);
    for (int j = 0; j < c->nslots; j++) c->slot_names[j] = slot_name(c->strategy, j);
    if ((st = metric_parse(c, qa_cfg_map_get(c->n_root, "rank_by"), "rank_by", c->rank_by, &c->rank_metric)) != QA_OK)
        return st;

    /* the market file: symbols, dates, signal, bars per year */
    QA_TRY(qa_store_open(c->data, NULL, QA_STORE_READ, &store));
    QA_TRY(bind_symbols(c, store, c->n_symbols));
    QA_TRY(bind_dates(c, store, c->start, c->end));
    c->need_hl = c->strategy == QA_BT_DONCHIAN;
    c->need_sig = c->strategy == QA_BT_SIGNAL || c->strategy == QA_SWEEP_XS;
    const qa_cfg_node *nsig = qa_cfg_map_get(c->n_root, "signal");
    if (c->need_sig && !c->signal)
        QA_TRY(qa_cfg_error(doc, ns, "strategy", "%s needs a signal panel: add signal: features/<name> (or alt/<name>)",
                            qa_sweep_strategy_name(c->strategy)));
    if (!c->need_sig && c->signal)
        QA_TRY(qa_cfg_error(doc, nsig, "signal", "only the signal and xs_topk strategies read a signal (strategy is %s)",
                            qa_sweep_strategy_name(c->strategy)));
    if (c->signal) {
        if (strncmp(c->signal, "features/", 9) != 0 && strncmp(c->signal, "alt/", 4) != 0)
            QA_TRY(qa_cfg_error(doc, nsig, "signal", "'%s' must name a panel under features/ or alt/", c->signal));
        if (!qa_store_exists(store, c->signal))
            QA_TRY(qa_cfg_error(doc, nsig, "signal", "dataset '%s' not found in %s (run qa features first?)", c->signal,
                                c->data));
    }
    QA_TRY(resolve_rules(c, qa_store_get_meta(store)->bars_per_year));
    c->need_vol = c->bt.impact_coef > 0.0;

    /* the rules, checked on their own with a trivially valid parameter set */
    if (c->strategy != QA_SWEEP_XS) {
        qa_bt_params ok = {{1, 2, 0, 0, 0, 0, 0, 0}};
        qa_bt_grid g = {QA_BT_SMA_CROSS, &ok, 1};
        qa_bt_data d = dummy_data(c, c->t_begin, c->t_end);
        if (qa_bt_validate(&d, &g, &c->bt) != QA_OK)
            QA_TRY(qa_cfg_error(doc, c->n_settings ? c->n_settings : c->n_root, "settings", "%s", qa_err_msg()));
    } else if (!(isfinite(c->bt.bars_per_year) && c->bt.bars_per_year > 0)) {
        QA_TRY(qa_cfg_error(doc, c->n_settings, "settings", "bars_per_year %g must be > 0", c->bt.bars_per_year));
    }

    /* portfolio */
    if (c->n_portfolio) {
        if (c->strategy == QA_SWEEP_XS)
            QA_TRY(qa_cfg_error(doc, c->n_portfolio, "portfolio", "xs_topk is already a portfolio: remove the portfolio section"));
        if (qa_cfg_node_kind(c->n_portfolio) != QA_CFG_NULL)
            QA_TRY(qa_cfg_bind(doc, c->n_portfolio, portfolio_fields, c, "portfolio"));
        c->portfolio = 1;
        if (c->popts.weighting == QA_BT_WEIGHT_INV_VOL && (double)c->popts.weight_window + 2.0 > (double)c->t_end)
            QA_TRY(qa_cfg_error(doc, c->n_portfolio, "portfolio.weight_window", "%d is longer than the history (%zu bars)",
                                c->popts.weight_window, c->t_end));
    }
    QA_TRY(bind_mt(c));

    /* the grid */
    QA_TRY(bind_grid(c));

    /* heatmap parameters */
    if (c->heatmap.n > 0) {
        const qa_cfg_node *nh = qa_cfg_map_get(c->n_root, "heatmap");
        if (c->heatmap.n != 2) QA_TRY(qa_cfg_error(doc, nh, "heatmap", "expected two parameter names"));
        for (int k = 0; k < 2; k++) {
            const char *name = ((const char **)c->heatmap.items)[k];
            for (int j = 0; j < c->nslots; j++)
                if (strcmp(name, c->slot_names[j]) == 0) c->heat[k] = j;
            if (c->heat[k] < 0)
                QA_TRY(qa_cfg_error(doc, nh, "heatmap", "'%s' is not a parameter of %s", name, qa_sweep_strategy_name(c->strategy)));
        }
        if (c->heat[0] == c->heat[1]) QA_TRY(qa_cfg_error(doc, nh, "heatmap", "the two parameters must differ"));
    } else if (c->nslots >= 2) {
        c->heat[0] = 0;
        c->heat[1] = 1;
    }

    if (c->n_wf && qa_cfg_node_kind(c->n_wf) != QA_CFG_NULL) QA_TRY(bind_wf(c));
    QA_TRY(build_json(c));
cleanup:
    qa_store_close(store);
    if (st != QA_OK) qa_sweep_cfg_free(c);
    return st;
}
