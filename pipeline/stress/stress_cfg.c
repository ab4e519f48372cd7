/* `qa stress` configuration: defaults, the YAML schema, and the checks a config file
 * alone decides (data-dependent checks run in stress.c before any computation). */
#include <math.h>    /* NAN, isnan */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, free */
#include <string.h>  /* strcmp, memset */

#include "common/timeparse.h" /* dates */
#include "kernels/backend.h"    /* backend names */
#include "kernels/risk.h"       /* Ledoit-Wolf targets, revaluation modes */
#include "pipeline/stress/stress.h"

const char *const qa_stress_method_names[] = {"historical", "fhs", "parametric", "montecarlo", NULL};
_Static_assert(sizeof qa_stress_method_names / sizeof qa_stress_method_names[0] == QA_STRESS_METHOD_COUNT + 1, "methods");
const char *const qa_stress_estimator_names[] = {"sample", "ewma", "ledoit_wolf", NULL};
_Static_assert(sizeof qa_stress_estimator_names / sizeof qa_stress_estimator_names[0] == QA_STRESS_ESTIMATOR_COUNT + 1,
               "estimators");

static const char *const dist_names[] = {"normal", "student_t", NULL};
static const char *const lw_names[] = {"constant_correlation", "scaled_identity", NULL};
_Static_assert(sizeof lw_names / sizeof lw_names[0] == QA_RISK_LW_TARGET_COUNT + 1, "lw targets");
static const char *const mean_names[] = {"zero", "sample", NULL};
static const char *const tristate_names[] = {"auto", "false", "true", NULL};
static const char *const cov_names[] = {"current", "stressed", NULL};
static const char *const vol_names[] = {"none", "realised", NULL};

/* Built-in replay windows (skipped, with a note, where the data does not cover them). */
static const struct {
    const char *name, *start, *end;
} default_replays[] = {
    {"GFC 2008-09", "2008-09-01", "2009-03-31"},
    {"COVID 2020", "2020-02-19", "2020-04-30"},
    {"Rates 2022", "2022-01-03", "2022-10-31"},
};

static int64_t date_ns(const char *s) {
    qa_tzone utc;
    memset(&utc, 0, sizeof utc);
    int64_t ns = 0;
    return qa_time_parse(s, QA_TIME_ISO, &utc, &ns) ? ns : INT64_MIN;
}

void qa_stress_cfg_default(qa_stress_cfg *c) {
    memset(c, 0, sizeof *c);
    c->cfg_name = "(defaults)";
    c->portfolio_value = NAN;
    c->backend = "auto";
    c->levels[0] = 0.95;
    c->levels[1] = 0.975;
    c->levels[2] = 0.99;
    c->nlevels = 3;
    c->horizon = 1;
    c->opt_vol = 1;
    c->vol_window = 21;
    c->rate_proxy = "IEF";
    c->rate_duration = 7.5; /* iShares 7-10 Year Treasury: modified duration ~7.5 years */
    c->window = 1000;
    c->methods = (1u << QA_STRESS_METHOD_COUNT) - 1;
    c->estimator = QA_STRESS_COV_SAMPLE;
    c->ewma_lambda = 0.94;
    c->lw_target = QA_RISK_LW_CONSTANT_CORRELATION;
    c->jitter_max = 1e-6;
    c->fhs_lambda = 0.94;
    c->mc_scenarios = 100000;
    c->mc_block = 16384;
    c->mc_seed = 42;
    c->sample = 100000;
    c->contributions = 1;
    c->incremental = -1;
    c->chunk = 1024;
    c->stressed_methods = (1u << QA_STRESS_HISTORICAL) | (1u << QA_STRESS_PARAMETRIC) | (1u << QA_STRESS_MONTECARLO);
    c->replays_default = 1;
    c->reverse_max_iter = 50;
    c->limits_method = -1;
    c->bt_methods = (1u << QA_STRESS_METHOD_COUNT) - 1;
    c->bt_levels[0] = 0.99;
    c->bt_nlevels = 1;
    c->bt_window = 500;
    c->bt_scenarios = 5000;
    c->bins = 60;
}

void qa_stress_cfg_free(qa_stress_cfg *c) {
    for (size_t i = 0; i < c->nhypos; i++) free(c->hypos[i].shocks);
    free(c->hypos);
    for (size_t i = 0; i < c->nfactors; i++) {
        free(c->factors[i].assets);
        free(c->factors[i].weights);
    }
    free(c->factors);
    free(c->replays);
    qa_limits_free(&c->limits);
    c->hypos = NULL;
    c->factors = NULL;
    c->replays = NULL;
    c->nhypos = c->nfactors = c->nreplays = 0;
}

/* What the schema binds: the configuration itself (numbers, strings and enums land in
 * their own fields), and beside it the keys parsed after binding (dates, lists of methods
 * and levels, scenario lists, limits, and the encoded choices below). */
struct bind {
    qa_stress_cfg c;
    const char *valuation_date;
    const qa_cfg_node *window;           /* a count of returns or {start, end} */
    const char *rate_proxy;              /* option_factors.rate: a symbol or "none" */
    int backend;                         /* index into qa_backend_choices */
    const qa_cfg_node *levels, *methods;
    int param_dist, mc_dist;             /* dist_names; with nu they make c.param_nu / c.mc_nu */
    int param_nu, mc_nu;
    int incremental;                     /* tristate_names */
    const char *st_start, *st_end;
    const qa_cfg_node *st_methods;
    const qa_cfg_node *replays, *hypos, *factors;
    qa_cfg_list reverse_losses;
    const qa_cfg_node *limits;
    const qa_cfg_node *bt_methods, *bt_levels;
    const char *bt_start, *bt_end;
};

#define NUM(key, member, lo, hi, doc) QA_CFG_NUM(struct bind, key, member, lo, hi, 0, doc)
#define ENUM(key, member, names, doc) QA_CFG_ENUM(struct bind, key, member, names, 0, doc)
#define FIELD(key, type, member, doc) QA_CFG_FIELD(struct bind, key, type, member, 0, doc)
#define SECTION(key, sub, doc) {key, QA_CFG_T_SECTION, 0, 0, 0, NULL, sub, 0, doc}

static const qa_cfg_field cov_fields[] = {
    ENUM("estimator", c.estimator, qa_stress_estimator_names, "sample, ewma or ledoit_wolf"),
    NUM("lambda", c.ewma_lambda, 1e-6, 0.999999, "EWMA decay"),
    ENUM("lw_target", c.lw_target, lw_names, "Ledoit-Wolf target"),
    NUM("jitter_max", c.jitter_max, 0, 1, "Cholesky jitter limit (x mean variance)"),
    {NULL},
};
static const qa_cfg_field fhs_fields[] = {
    NUM("lambda", c.fhs_lambda, 1e-6, 0.999999, "EWMA decay of the volatility filter"),
    {NULL},
};
static const qa_cfg_field param_fields[] = {
    ENUM("dist", param_dist, dist_names, "normal or student_t"),
    NUM("nu", param_nu, 3, 100000, "Student-t degrees of freedom"),
    {NULL},
};
static const qa_cfg_field mc_fields[] = {
    NUM("scenarios", c.mc_scenarios, 1, 1e13, "number of scenarios"),
    NUM("block", c.mc_block, 1, 1 << 22, "scenarios per block (global, fixed)"),
    ENUM("dist", mc_dist, dist_names, "normal or student_t"),
    NUM("nu", mc_nu, 3, 100000, "Student-t degrees of freedom"),
    NUM("seed", c.mc_seed, 0, 9.2e18, "Philox seed"),
    NUM("sample", c.sample, 0, 1e8, "losses kept for the histogram"),
    {NULL},
};
static const qa_cfg_field contrib_fields[] = {
    FIELD("enabled", QA_CFG_T_BOOL, c.contributions, "component VaR/ES"),
    ENUM("incremental", incremental, tristate_names, "auto, true or false"),
    NUM("bandwidth", c.bandwidth, 0, 1e9, "component-VaR half-width in ranks (0 = sqrt(m))"),
    NUM("chunk", c.chunk, 1, 1 << 20, "tail rows per contribution chunk"),
    {NULL},
};
static const qa_cfg_field stressed_fields[] = {
    FIELD("start", QA_CFG_T_STRING, st_start, "first date of the stress window"),
    FIELD("end", QA_CFG_T_STRING, st_end, "last date of the stress window"),
    FIELD("methods", QA_CFG_T_NODE, st_methods, "historical, parametric, montecarlo"),
    {NULL},
};
static const qa_cfg_field reverse_fields[] = {
    {"losses", QA_CFG_T_DOUBLE_LIST, offsetof(struct bind, reverse_losses), 1e-9, 100, NULL, NULL, 0,
     "target losses, fractions of the value"},
    NUM("max_iter", c.reverse_max_iter, 1, 10000, "iterations of the option-book search"),
    {NULL},
};
static const qa_cfg_field scen_fields[] = {
    FIELD("historical", QA_CFG_T_NODE, replays, "replay windows [{name, start, end}]"),
    FIELD("hypothetical", QA_CFG_T_NODE, hypos, "shock scenarios [{name, shocks}]"),
    FIELD("factors", QA_CFG_T_NODE, factors, "named factors [{name, assets, weights}]"),
    FIELD("sectors", QA_CFG_T_STRING, c.sectors, "sector table (CSV)"),
    ENUM("covariance", c.hypo_stressed_cov, cov_names, "current or stressed"),
    SECTION("reverse", reverse_fields, "reverse stress"),
    {NULL},
};
static const qa_cfg_field bt_fields[] = {
    FIELD("methods", QA_CFG_T_NODE, bt_methods, "methods to backtest"),
    FIELD("levels", QA_CFG_T_NODE, bt_levels, "levels to backtest"),
    NUM("window", c.bt_window, 2, 1e6, "estimation window (days)"),
    FIELD("start", QA_CFG_T_STRING, bt_start, "first forecast date"),
    FIELD("end", QA_CFG_T_STRING, bt_end, "last forecast date"),
    NUM("scenarios", c.bt_scenarios, 100, 1e9, "Monte-Carlo scenarios per forecast"),
    {NULL},
};
static const qa_cfg_field optf_fields[] = {
    ENUM("vol", c.opt_vol, vol_names, "none or realised (a vol factor per option underlying)"),
    NUM("vol_window", c.vol_window, 5, 1000, "returns in the realised-volatility proxy"),
    FIELD("rate", QA_CFG_T_STRING, rate_proxy, "bond ETF proxy of the rate factor, or none"),
    NUM("rate_duration", c.rate_duration, 0.1, 50, "modified duration of the rate proxy (years)"),
    {NULL},
};
static const qa_cfg_field out_fields[] = {
    NUM("bins", c.bins, 5, 1000, "histogram bins"),
    {NULL},
};
static const qa_cfg_field top_fields[] = {
    FIELD("portfolio", QA_CFG_T_STRING, c.portfolio, "portfolio file (CSV or YAML)"),
    FIELD("data", QA_CFG_T_STRING, c.data, "market file (HDF5)"),
    NUM("portfolio_value", c.portfolio_value, 1e-6, 1e18, "portfolio value (currency)"),
    FIELD("valuation_date", QA_CFG_T_STRING, valuation_date, "valuation date YYYY-MM-DD"),
    ENUM("backend", backend, qa_backend_choices, "cpu, cuda or auto"),
    NUM("threads", c.threads, 0, 4096, "CPU threads per rank (0 = all)"),
    FIELD("levels", QA_CFG_T_NODE, levels, "confidence levels in (0, 1)"),
    NUM("horizon", c.horizon, 1, 3650, "horizon in days (>= 1)"),
    FIELD("window", QA_CFG_T_NODE, window, "returns used for estimation: a count, or {start, end} dates"),
    ENUM("revaluation", c.reval, qa_risk_reval_names, "full, delta or delta_gamma"),
    FIELD("methods", QA_CFG_T_NODE, methods, "historical, fhs, parametric, montecarlo"),
    ENUM("mean", c.use_mean, mean_names, "zero or sample"),
    SECTION("covariance", cov_fields, "covariance estimator"),
    SECTION("fhs", fhs_fields, "filtered historical simulation"),
    SECTION("parametric", param_fields, "delta-normal / Student-t"),
    SECTION("montecarlo", mc_fields, "Monte Carlo"),
    SECTION("contributions", contrib_fields, "contributions per position"),
    SECTION("stressed", stressed_fields, "stressed VaR"),
    SECTION("scenarios", scen_fields, "stress scenarios"),
    FIELD("limits", QA_CFG_T_NODE, limits, "risk limits (trading/limits.h)"),
    ENUM("limits_method", c.limits_method, qa_stress_method_names, "VaR/ES source of the limits"),
    SECTION("backtest", bt_fields, "qa stress backtest"),
    SECTION("output", out_fields, "outputs"),
    SECTION("option_factors", optf_fields, "volatility and rate factors of option books"),
    {NULL},
};
#undef NUM
#undef ENUM
#undef FIELD
#undef SECTION

/* Node of a dotted key path (for error lines), or NULL. */
static const qa_cfg_node *node_at(const qa_cfg_t *cfg, const char *a, const char *b) {
    const qa_cfg_node *n = qa_cfg_map_get(qa_cfg_root(cfg), a);
    return b ? qa_cfg_map_get(n, b) : n;
}

static qa_status parse_date(const qa_cfg_t *cfg, const qa_cfg_node *n, const char *what, int64_t *out) {
    const char *s = qa_cfg_node_text(n);
    int64_t ns = s ? date_ns(s) : INT64_MIN;
    if (ns == INT64_MIN) return qa_cfg_error(cfg, n, what, "'%s' is not a date (YYYY-MM-DD)%s", s ? s : "", qa_time_parse_why());
    *out = ns;
    return QA_OK;
}

static qa_status parse_methods(const qa_cfg_t *cfg, const qa_cfg_node *n, const char *what, unsigned allowed,
                               unsigned *out) {
    size_t cnt = qa_cfg_node_kind(n) == QA_CFG_SEQ ? qa_cfg_node_len(n) : 1;
    if (qa_cfg_node_kind(n) != QA_CFG_SEQ && qa_cfg_node_kind(n) != QA_CFG_SCALAR)
        return qa_cfg_error(cfg, n, what, "expected a list of methods");
    unsigned mask = 0;
    for (size_t i = 0; i < cnt; i++) {
        const qa_cfg_node *it = qa_cfg_node_kind(n) == QA_CFG_SEQ ? qa_cfg_seq_at(n, i) : n;
        char w[96];
        snprintf(w, sizeof w, "%s[%zu]", what, i);
        int m = -1;
        qa_status st = qa_cfg_read_enum(cfg, it, w, qa_stress_method_names, &m);
        if (st != QA_OK) return st;
        if (!(allowed & (1u << m))) return qa_cfg_error(cfg, it, w, "method '%s' is not available here", qa_stress_method_names[m]);
        if (mask & (1u << m)) return qa_cfg_error(cfg, it, w, "method '%s' is listed twice", qa_stress_method_names[m]);
        mask |= 1u << m;
    }
    if (!mask) return qa_cfg_error(cfg, n, what, "the list of methods is empty");
    *out = mask;
    return QA_OK;
}

static qa_status parse_levels(const qa_cfg_t *cfg, const qa_cfg_node *n, const char *what, double *out, size_t cap,
                              size_t *count) {
    size_t cnt = qa_cfg_node_kind(n) == QA_CFG_SEQ ? qa_cfg_node_len(n) : 1;
    if (qa_cfg_node_kind(n) != QA_CFG_SEQ && qa_cfg_node_kind(n) != QA_CFG_SCALAR)
        return qa_cfg_error(cfg, n, what, "expected a list of confidence levels");
    if (cnt == 0) return qa_cfg_error(cfg, n, what, "the list of levels is empty");
    if (cnt > cap) return qa_cfg_error(cfg, n, what, "at most %zu levels", cap);
    for (size_t i = 0; i < cnt; i++) {
        const qa_cfg_node *it = qa_cfg_node_kind(n) == QA_CFG_SEQ ? qa_cfg_seq_at(n, i) : n;
        char w[96];
        snprintf(w, sizeof w, "%s[%zu]", what, i);
        double v;
        qa_status st = qa_cfg_read_double(cfg, it, w, -1e300, 1e300, &v);
        if (st != QA_OK) return st;
        if (!(v > 0.0 && v < 1.0)) return qa_cfg_error(cfg, it, w, "level %g is outside (0, 1) (0.99 = 99%%)", v);
        for (size_t j = 0; j < i; j++)
            if (out[j] == v) return qa_cfg_error(cfg, it, w, "level %g is listed twice", v);
        out[i] = v;
    }
    *count = cnt;
    return QA_OK;
}

static qa_status copy_name(const qa_cfg_t *cfg, const qa_cfg_node *n, const char *what, const char *s, char *dst,
                           size_t size) {
    if (!s || !*s) return qa_cfg_error(cfg, n, what, "a name is required");
    if (strlen(s) >= size) return qa_cfg_error(cfg, n, what, "name '%s' is longer than %zu characters", s, size - 1);
    snprintf(dst, size, "%s", s);
    return QA_OK;
}

struct raw_window {
    const char *name, *start, *end;
};

static qa_status parse_window(const qa_cfg_t *cfg, const qa_cfg_node *m, const char *what, qa_stress_window *w) {
    struct raw_window r = {NULL, NULL, NULL};
    const qa_cfg_field schema[] = {
        {"name", QA_CFG_T_STRING, offsetof(struct raw_window, name), 0, 0, NULL, NULL, QA_CFG_REQUIRED, "name"},
        {"start", QA_CFG_T_STRING, offsetof(struct raw_window, start), 0, 0, NULL, NULL, QA_CFG_REQUIRED, "first date"},
        {"end", QA_CFG_T_STRING, offsetof(struct raw_window, end), 0, 0, NULL, NULL, QA_CFG_REQUIRED, "last date"},
        {NULL},
    };
    if (qa_cfg_node_kind(m) != QA_CFG_MAP) return qa_cfg_error(cfg, m, what, "expected a map {name, start, end}");
    qa_status st = qa_cfg_bind(cfg, m, schema, &r, what);
    if (st != QA_OK) return st;
    char k[128];
    snprintf(k, sizeof k, "%s.name", what);
    if ((st = copy_name(cfg, qa_cfg_map_get(m, "name"), k, r.name, w->name, sizeof w->name))) return st;
    snprintf(k, sizeof k, "%s.start", what);
    if ((st = parse_date(cfg, qa_cfg_map_get(m, "start"), k, &w->start))) return st;
    snprintf(k, sizeof k, "%s.end", what);
    if ((st = parse_date(cfg, qa_cfg_map_get(m, "end"), k, &w->end))) return st;
    if (w->end < w->start) return qa_cfg_error(cfg, qa_cfg_map_get(m, "end"), k, "the window ends before it starts");
    w->line = qa_cfg_node_line(m);
    return QA_OK;
}

struct raw_hypo {
    const char *name;
    const qa_cfg_node *shocks;
};

struct raw_factor {
    const char *name;
    qa_cfg_list assets, weights;
};

struct raw_shock {
    const char *asset, *sector, *factor, *vol, *rate;
    double move;
};

static qa_status parse_hypos(const qa_cfg_t *cfg, const qa_cfg_node *seq, qa_stress_cfg *c) {
    if (qa_cfg_node_kind(seq) != QA_CFG_SEQ)
        return qa_cfg_error(cfg, seq, "scenarios.hypothetical", "expected a list of {name, shocks}");
    size_t n = qa_cfg_node_len(seq);
    c->hypos = calloc(n ? n : 1, sizeof *c->hypos);
    if (!c->hypos) return QA_FAIL(QA_ERR_NOMEM, "scenarios");
    for (size_t i = 0; i < n; i++) {
        const qa_cfg_node *m = qa_cfg_seq_at(seq, i);
        char what[96];
        snprintf(what, sizeof what, "scenarios.hypothetical[%zu]", i);
        struct raw_hypo r = {NULL, NULL};
        const qa_cfg_field schema[] = {
            {"name", QA_CFG_T_STRING, offsetof(struct raw_hypo, name), 0, 0, NULL, NULL, QA_CFG_REQUIRED, "name"},
            {"shocks", QA_CFG_T_NODE, offsetof(struct raw_hypo, shocks), 0, 0, NULL, NULL, QA_CFG_REQUIRED, "shocks"},
            {NULL},
        };
        if (qa_cfg_node_kind(m) != QA_CFG_MAP) return qa_cfg_error(cfg, m, what, "expected a map {name, shocks}");
        qa_status st = qa_cfg_bind(cfg, m, schema, &r, what);
        if (st != QA_OK) return st;
        qa_stress_hypo *hy = &c->hypos[c->nhypos++];
        hy->line = qa_cfg_node_line(m);
        if ((st = copy_name(cfg, m, what, r.name, hy->name, sizeof hy->name))) return st;
        if (qa_cfg_node_kind(r.shocks) != QA_CFG_SEQ || qa_cfg_node_len(r.shocks) == 0)
            return qa_cfg_error(cfg, r.shocks, what, "shocks must be a non-empty list of {asset|sector|factor, move}");
        size_t k = qa_cfg_node_len(r.shocks);
        hy->shocks = calloc(k, sizeof *hy->shocks);
        if (!hy->shocks) return QA_FAIL(QA_ERR_NOMEM, "shocks");
        for (size_t j = 0; j < k; j++) {
            const qa_cfg_node *sm = qa_cfg_seq_at(r.shocks, j);
            char sw[128];
            snprintf(sw, sizeof sw, "%s.shocks[%zu]", what, j);
            struct raw_shock rs = {NULL, NULL, NULL, NULL, NULL, NAN};
            const qa_cfg_field ss[] = {
                {"asset", QA_CFG_T_STRING, offsetof(struct raw_shock, asset), 0, 0, NULL, NULL, 0, "symbol"},
                {"sector", QA_CFG_T_STRING, offsetof(struct raw_shock, sector), 0, 0, NULL, NULL, 0, "sector"},
                {"factor", QA_CFG_T_STRING, offsetof(struct raw_shock, factor), 0, 0, NULL, NULL, 0, "factor"},
                {"vol", QA_CFG_T_STRING, offsetof(struct raw_shock, vol), 0, 0, NULL, NULL, 0,
                 "option underlying whose volatility moves"},
                {"rate", QA_CFG_T_STRING, offsetof(struct raw_shock, rate), 0, 0, NULL, NULL, 0,
                 "the rate (its currency, e.g. USD)"},
                {"move", QA_CFG_T_DOUBLE, offsetof(struct raw_shock, move), -0.999999, 100, NULL, NULL, QA_CFG_REQUIRED,
                 "simple return (-0.2 = -20%); for vol a relative change, for rate an absolute change (0.01 = +100 bp)"},
                {NULL},
            };
            if (qa_cfg_node_kind(sm) != QA_CFG_MAP) return qa_cfg_error(cfg, sm, sw, "expected a map {asset, move}");
            if ((st = qa_cfg_bind(cfg, sm, ss, &rs, sw))) return st;
            int given = (rs.asset != NULL) + (rs.sector != NULL) + (rs.factor != NULL) + (rs.vol != NULL) +
                        (rs.rate != NULL);
            if (given != 1) return qa_cfg_error(cfg, sm, sw, "give exactly one of asset, sector, factor, vol or rate");
            qa_stress_shock *sh = &hy->shocks[hy->nshocks++];
            sh->kind = rs.asset    ? QA_STRESS_SHOCK_ASSET
                       : rs.sector ? QA_STRESS_SHOCK_SECTOR
                       : rs.factor ? QA_STRESS_SHOCK_FACTOR
                       : rs.vol    ? QA_STRESS_SHOCK_VOL
                                   : QA_STRESS_SHOCK_RATE;
            sh->target = rs.asset ? rs.asset : rs.sector ? rs.sector : rs.factor ? rs.factor : rs.vol ? rs.vol : rs.rate;
            if (sh->kind == QA_STRESS_SHOCK_RATE && !(fabs(rs.move) <= 0.2))
                return qa_cfg_error(cfg, qa_cfg_map_get(sm, "move"), sw, "a rate move of %g is outside [-0.2, 0.2] "
                                    "(absolute: 0.01 = +100 bp)", rs.move);
            sh->move = rs.move;
            sh->line = qa_cfg_node_line(sm);
        }
    }
    return QA_OK;
}

static qa_status parse_factors(const qa_cfg_t *cfg, const qa_cfg_node *seq, qa_stress_cfg *c) {
    if (qa_cfg_node_kind(seq) != QA_CFG_SEQ)
        return qa_cfg_error(cfg, seq, "scenarios.factors", "expected a list of {name, assets, weights}");
    size_t n = qa_cfg_node_len(seq);
    c->factors = calloc(n ? n : 1, sizeof *c->factors);
    if (!c->factors) return QA_FAIL(QA_ERR_NOMEM, "factors");
    for (size_t i = 0; i < n; i++) {
        const qa_cfg_node *m = qa_cfg_seq_at(seq, i);
        char what[96];
        snprintf(what, sizeof what, "scenarios.factors[%zu]", i);
        struct raw_factor r = {NULL, {NULL, 0}, {NULL, 0}};
        const qa_cfg_field schema[] = {
            {"name", QA_CFG_T_STRING, offsetof(struct raw_factor, name), 0, 0, NULL, NULL, QA_CFG_REQUIRED, "name"},
            {"assets", QA_CFG_T_STRING_LIST, offsetof(struct raw_factor, assets), 0, 0, NULL, NULL, QA_CFG_REQUIRED, "symbols"},
            {"weights", QA_CFG_T_DOUBLE_LIST, offsetof(struct raw_factor, weights), -1e6, 1e6, NULL, NULL, 0, "basket weights"},
            {NULL},
        };
        if (qa_cfg_node_kind(m) != QA_CFG_MAP) return qa_cfg_error(cfg, m, what, "expected a map {name, assets}");
        qa_status st = qa_cfg_bind(cfg, m, schema, &r, what);
        if (st != QA_OK) return st;
        qa_stress_factor *f = &c->factors[c->nfactors++];
        f->line = qa_cfg_node_line(m);
        if ((st = copy_name(cfg, m, what, r.name, f->name, sizeof f->name))) return st;
        for (size_t j = 0; j + 1 < c->nfactors; j++)
            if (strcmp(c->factors[j].name, f->name) == 0) return qa_cfg_error(cfg, m, what, "duplicate factor '%s'", f->name);
        if (r.assets.n == 0) return qa_cfg_error(cfg, qa_cfg_map_get(m, "assets"), what, "a factor needs assets");
        if (r.weights.n && r.weights.n != r.assets.n)
            return qa_cfg_error(cfg, qa_cfg_map_get(m, "weights"), what, "%zu weights for %zu assets", r.weights.n,
                                r.assets.n);
        f->n = r.assets.n;
        f->assets = calloc(f->n, sizeof *f->assets);
        f->weights = calloc(f->n, sizeof *f->weights);
        if (!f->assets || !f->weights) return QA_FAIL(QA_ERR_NOMEM, "factor");
        double sum = 0.0;
        for (size_t j = 0; j < f->n; j++) {
            f->assets[j] = ((const char **)r.assets.items)[j];
            f->weights[j] = r.weights.n ? ((double *)r.weights.items)[j] : 1.0 / (double)f->n;
            sum += f->weights[j];
        }
        if (sum == 0.0) return qa_cfg_error(cfg, qa_cfg_map_get(m, "weights"), what, "the weights sum to 0");
    }
    return QA_OK;
}

/* The stress window: both dates, in order, and the methods run on it. */
static qa_status bind_stressed(const qa_cfg_t *cfg, const struct bind *r, qa_stress_cfg *c) {
    qa_status st;
    if (!r->st_start && !r->st_end) {
        if (r->st_methods)
            return qa_cfg_error(cfg, r->st_methods, "stressed.methods", "a stress window (start, end) is required");
        return QA_OK;
    }
    const qa_cfg_node *sn = node_at(cfg, "stressed", NULL);
    if (!r->st_start || !r->st_end) return qa_cfg_error(cfg, sn, "stressed", "give both start and end of the stress window");
    if ((st = parse_date(cfg, qa_cfg_map_get(sn, "start"), "stressed.start", &c->stress_window.start)) ||
        (st = parse_date(cfg, qa_cfg_map_get(sn, "end"), "stressed.end", &c->stress_window.end)))
        return st;
    if (c->stress_window.end <= c->stress_window.start)
        return qa_cfg_error(cfg, qa_cfg_map_get(sn, "end"), "stressed.end", "the stress window ends before it starts");
    snprintf(c->stress_window.name, sizeof c->stress_window.name, "stress window");
    c->stress_window.line = c->line_stress_start = qa_cfg_node_line(qa_cfg_map_get(sn, "start"));
    c->stressed = 1;
    unsigned allowed = (1u << QA_STRESS_HISTORICAL) | (1u << QA_STRESS_PARAMETRIC) | (1u << QA_STRESS_MONTECARLO);
    if (r->st_methods) return parse_methods(cfg, r->st_methods, "stressed.methods", allowed, &c->stressed_methods);
    return QA_OK;
}

/* Replay windows: the configured list, else the built-in one. */
static qa_status bind_replays(const qa_cfg_t *cfg, const qa_cfg_node *replays, qa_stress_cfg *c) {
    if (replays) {
        c->replays_default = 0;
        if (qa_cfg_node_kind(replays) != QA_CFG_SEQ)
            return qa_cfg_error(cfg, replays, "scenarios.historical", "expected a list of {name, start, end}");
        size_t n = qa_cfg_node_len(replays);
        c->replays = calloc(n ? n : 1, sizeof *c->replays);
        if (!c->replays) return QA_FAIL(QA_ERR_NOMEM, "replays");
        for (size_t i = 0; i < n; i++) {
            char what[64];
            snprintf(what, sizeof what, "scenarios.historical[%zu]", i);
            QA_TRY_RET(parse_window(cfg, qa_cfg_seq_at(replays, i), what, &c->replays[i]));
            c->nreplays++;
        }
    } else if (!c->replays) {
        size_t n = sizeof default_replays / sizeof default_replays[0];
        c->replays = calloc(n, sizeof *c->replays);
        if (!c->replays) return QA_FAIL(QA_ERR_NOMEM, "replays");
        for (size_t i = 0; i < n; i++) {
            snprintf(c->replays[i].name, sizeof c->replays[i].name, "%s", default_replays[i].name);
            c->replays[i].start = date_ns(default_replays[i].start);
            c->replays[i].end = date_ns(default_replays[i].end);
        }
        c->nreplays = n;
    }
    return QA_OK;
}

const char *qa_stress_cfg_at(const qa_stress_cfg *c, int line, char *buf, size_t size) {
    const char *name = c->cfg_name ? c->cfg_name : "config";
    if (line > 0)
        snprintf(buf, size, "%s:%d", name, line);
    else
        snprintf(buf, size, "%s (a --set value or a default)", name);
    return buf;
}

/* Scenarios: replays, factors, hypothetical shocks (their factors defined), reverse losses. */
static qa_status bind_scenarios(const qa_cfg_t *cfg, const struct bind *r, qa_stress_cfg *c) {
    QA_TRY_RET(bind_replays(cfg, r->replays, c));
    if (r->factors) QA_TRY_RET(parse_factors(cfg, r->factors, c));
    if (r->hypos) QA_TRY_RET(parse_hypos(cfg, r->hypos, c));
    for (size_t i = 0; i < c->nhypos; i++)
        for (size_t j = 0; j < c->hypos[i].nshocks; j++) {
            const qa_stress_shock *s = &c->hypos[i].shocks[j];
            if (s->kind != QA_STRESS_SHOCK_FACTOR) continue;
            int found = 0;
            for (size_t k = 0; k < c->nfactors; k++) found |= strcmp(c->factors[k].name, s->target) == 0;
            if (!found)
                return QA_FAIL(QA_ERR_CONFIG, "%s: key 'scenarios.hypothetical[%zu].shocks[%zu].factor': unknown factor "
                                              "'%s' (define it under scenarios.factors)",
                               QA_STRESS_AT(c, s->line), i, j, s->target);
        }
    if (c->hypo_stressed_cov && !c->stressed)
        return qa_cfg_error(cfg, node_at(cfg, "scenarios", "covariance"), "scenarios.covariance",
                            "'stressed' needs a stress window (stressed.start, stressed.end)");
    if (r->reverse_losses.n > QA_STRESS_MAX_REVERSE)
        return qa_cfg_error(cfg, node_at(cfg, "scenarios", "reverse"), "scenarios.reverse.losses", "at most %d losses",
                            QA_STRESS_MAX_REVERSE);
    for (size_t i = 0; i < r->reverse_losses.n; i++) c->reverse_losses[i] = ((double *)r->reverse_losses.items)[i];
    if (r->reverse_losses.n) c->nreverse = r->reverse_losses.n;
    return QA_OK;
}

/* `qa stress backtest`: methods, levels and dates. */
static qa_status bind_backtest(const qa_cfg_t *cfg, const struct bind *r, qa_stress_cfg *c) {
    unsigned all = (1u << QA_STRESS_METHOD_COUNT) - 1;
    if (r->bt_methods) QA_TRY_RET(parse_methods(cfg, r->bt_methods, "backtest.methods", all, &c->bt_methods));
    if (r->bt_levels)
        QA_TRY_RET(parse_levels(cfg, r->bt_levels, "backtest.levels", c->bt_levels, QA_STRESS_MAX_BT_LEVELS,
                                &c->bt_nlevels));
    c->line_bt_window = qa_cfg_node_line(node_at(cfg, "backtest", "window"));
    if (r->bt_start) {
        const qa_cfg_node *n = node_at(cfg, "backtest", "start");
        QA_TRY_RET(parse_date(cfg, n, "backtest.start", &c->bt_start));
        c->line_bt_start = qa_cfg_node_line(n);
    }
    if (r->bt_end) QA_TRY_RET(parse_date(cfg, node_at(cfg, "backtest", "end"), "backtest.end", &c->bt_end));
    if (c->bt_start && c->bt_end && c->bt_end <= c->bt_start)
        return qa_cfg_error(cfg, node_at(cfg, "backtest", "end"), "backtest.end", "the backtest ends before it starts");
    return QA_OK;
}

/* `window`: a count of returns ending on the valuation date, or {start, end}: every
 * return dated within those dates (inclusive). */
static qa_status bind_window(const qa_cfg_t *cfg, const qa_cfg_node *n, qa_stress_cfg *c) {
    if (!n) return QA_OK;
    c->line_window = qa_cfg_node_line(n);
    if (qa_cfg_node_kind(n) == QA_CFG_SCALAR) {
        long long v;
        QA_TRY_RET(qa_cfg_read_int(cfg, n, "window", 2, 1000000, &v));
        c->window = (int)v;
        c->window_start = c->window_end = 0;
        return QA_OK;
    }
    if (qa_cfg_node_kind(n) != QA_CFG_MAP)
        return qa_cfg_error(cfg, n, "window", "expected a count of returns or {start: YYYY-MM-DD, end: YYYY-MM-DD}");
    for (size_t i = 0; i < qa_cfg_node_len(n); i++) {
        const char *k = qa_cfg_map_key_at(n, i);
        if (strcmp(k, "start") != 0 && strcmp(k, "end") != 0)
            return qa_cfg_error(cfg, qa_cfg_map_value_at(n, i), "window", "unknown key '%s' (expected start and end)", k);
    }
    const qa_cfg_node *a = qa_cfg_map_get(n, "start"), *b = qa_cfg_map_get(n, "end");
    if (!a || !b) return qa_cfg_error(cfg, n, "window", "give both start and end (YYYY-MM-DD)");
    QA_TRY_RET(parse_date(cfg, a, "window.start", &c->window_start));
    QA_TRY_RET(parse_date(cfg, b, "window.end", &c->window_end));
    if (c->window_end <= c->window_start) return qa_cfg_error(cfg, b, "window.end", "the window ends before it starts");
    return QA_OK;
}

/* The keys parsed after binding, and the checks across keys. */
static qa_status bind_parsed(const qa_cfg_t *cfg, const struct bind *r, qa_stress_cfg *c) {
    c->cfg_name = qa_cfg_name(cfg);
    c->line_portfolio_value = qa_cfg_node_line(node_at(cfg, "portfolio_value", NULL));
    if (r->valuation_date) {
        const qa_cfg_node *n = node_at(cfg, "valuation_date", NULL);
        QA_TRY_RET(parse_date(cfg, n, "valuation_date", &c->valuation));
        c->line_valuation = qa_cfg_node_line(n);
    }
    c->backend = qa_backend_choices[r->backend];
    if (r->levels) QA_TRY_RET(parse_levels(cfg, r->levels, "levels", c->levels, QA_STRESS_MAX_LEVELS, &c->nlevels));
    QA_TRY_RET(bind_window(cfg, r->window, c));
    if (r->rate_proxy) {
        c->rate_proxy = strcmp(r->rate_proxy, "none") == 0 ? NULL : r->rate_proxy;
        c->rate_explicit = c->rate_proxy != NULL;
    }
    c->line_reval = qa_cfg_node_line(node_at(cfg, "revaluation", NULL));
    unsigned all = (1u << QA_STRESS_METHOD_COUNT) - 1;
    if (r->methods) QA_TRY_RET(parse_methods(cfg, r->methods, "methods", all, &c->methods));
    c->param_nu = r->param_dist ? r->param_nu : 0;
    c->mc_nu = r->mc_dist ? r->mc_nu : 0;
    c->incremental = r->incremental == 0 ? -1 : r->incremental == 2 ? 1 : 0;
    QA_TRY_RET(bind_stressed(cfg, r, c));
    QA_TRY_RET(bind_scenarios(cfg, r, c));
    if (r->limits) QA_TRY_RET(qa_limits_parse(cfg, r->limits, &c->limits));
    if (c->limits_method >= 0 && !(c->methods & (1u << c->limits_method)))
        return qa_cfg_error(cfg, node_at(cfg, "limits_method", NULL), "limits_method", "method '%s' is not in methods",
                            qa_stress_method_names[c->limits_method]);
    return bind_backtest(cfg, r, c);
}

qa_status qa_stress_cfg_bind(const qa_cfg_t *cfg, qa_stress_cfg *c) {
    struct bind *r = calloc(1, sizeof *r);
    if (!r) return QA_FAIL(QA_ERR_NOMEM, "stress configuration");
    r->c = *c;
    r->backend = 2;
    for (int i = 0; qa_backend_choices[i]; i++)
        if (c->backend && strcmp(c->backend, qa_backend_choices[i]) == 0) r->backend = i;
    r->param_dist = c->param_nu ? 1 : 0;
    r->param_nu = c->param_nu ? c->param_nu : 5;
    r->mc_dist = c->mc_nu ? 1 : 0;
    r->mc_nu = c->mc_nu ? c->mc_nu : 5;
    r->incremental = c->incremental < 0 ? 0 : c->incremental ? 2 : 1;
    r->c.limits_method = -1;
    qa_status st = qa_cfg_bind(cfg, qa_cfg_root(cfg), top_fields, r, NULL);
    if (st == QA_OK) {
        *c = r->c;
        st = bind_parsed(cfg, r, c);
    }
    free(r);
    return st;
}
