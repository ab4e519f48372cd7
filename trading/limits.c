/* Limit parsing, evaluation and JSON-line alerts. */
#include "trading/limits.h"

#include <math.h>    /* INFINITY, isnan, fabs */
#include <stdlib.h>  /* calloc */
#include <string.h>  /* strcmp */

#include <jansson.h> /* alert lines */

#include "common/json.h"   /* qa_json_real */
#include "common/timer.h"  /* now */

const char *const qa_limit_metric_names[] = {"var", "es", "gross_exposure", "net_exposure", "concentration", "drawdown", NULL};
_Static_assert(sizeof qa_limit_metric_names / sizeof qa_limit_metric_names[0] == QA_LIMIT_METRIC_COUNT + 1, "metrics");

static const char *const state_names[] = {"ok", "warning", "breach", "not evaluated"};

/* A limit binds into its own fields; its name, a string in the config, is copied into the
 * fixed array after the checks. */
struct bind_limit {
    qa_limit l;
    const char *name;
};

static const qa_cfg_field limit_fields[] = {
    QA_CFG_FIELD(struct bind_limit, "name", QA_CFG_T_STRING, name, QA_CFG_REQUIRED, "limit name"),
    QA_CFG_ENUM(struct bind_limit, "metric", l.metric, qa_limit_metric_names, QA_CFG_REQUIRED, "what is limited"),
    QA_CFG_NUM(struct bind_limit, "level", l.level, 0.5, 0.9999, 0, "VaR/ES confidence"),
    QA_CFG_NUM(struct bind_limit, "min", l.min, -1e12, 1e12, 0, "lower bound"),
    QA_CFG_NUM(struct bind_limit, "max", l.max, -1e12, 1e12, 0, "upper bound"),
    QA_CFG_NUM(struct bind_limit, "warn", l.warn_fraction, 0, 1, 0, "warning fraction"),
    {NULL},
};

qa_status qa_limits_parse(const qa_cfg_t *cfg, const qa_cfg_node *seq, qa_limit_set *out) {
    out->items = NULL;
    out->n = 0;
    if (!seq || qa_cfg_node_kind(seq) == QA_CFG_NULL) return QA_OK;
    if (qa_cfg_node_kind(seq) != QA_CFG_SEQ) return qa_cfg_error(cfg, seq, "limits", "expected a list of limits");
    size_t n = qa_cfg_node_len(seq);
    qa_limit *items = calloc(n ? n : 1, sizeof *items);
    if (!items) return QA_FAIL(QA_ERR_NOMEM, "limits");
    qa_status st = QA_OK;
    for (size_t i = 0; i < n && st == QA_OK; i++) {
        const qa_cfg_node *m = qa_cfg_seq_at(seq, i);
        char what[64];
        snprintf(what, sizeof what, "limits[%zu]", i);
        if (qa_cfg_node_kind(m) != QA_CFG_MAP) {
            st = qa_cfg_error(cfg, m, what, "expected a map with name, metric, max/min");
            break;
        }
        /* Bound through a schema so unknown keys are rejected with file:line. */
        struct bind_limit b = {{"", (qa_limit_metric)-1, 0.99, -INFINITY, INFINITY, 0.9}, NULL};
        st = qa_cfg_bind(cfg, m, limit_fields, &b, what);
        if (st != QA_OK) break;
        if (isinf(b.l.min) && isinf(b.l.max)) {
            st = qa_cfg_error(cfg, m, what, "limit '%s' needs max and/or min", b.name);
            break;
        }
        if (b.l.min > b.l.max) {
            st = qa_cfg_error(cfg, m, what, "min %g is above max %g", b.l.min, b.l.max);
            break;
        }
        if (strlen(b.name) >= sizeof items[i].name) {
            st = qa_cfg_error(cfg, m, what, "name longer than %zu characters", sizeof items[i].name - 1);
            break;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(items[k].name, b.name) == 0) st = qa_cfg_error(cfg, m, what, "duplicate limit name '%s'", b.name);
        items[i] = b.l;
        snprintf(items[i].name, sizeof items[i].name, "%s", b.name);
    }
    if (st != QA_OK) {
        free(items);
        return st;
    }
    out->items = items;
    out->n = n;
    return QA_OK;
}

void qa_limits_free(qa_limit_set *set) {
    free(set->items);
    set->items = NULL;
    set->n = 0;
}

static double snapshot_value(const qa_limit *l, const qa_risk_snapshot *s) {
    switch (l->metric) {
    case QA_LIMIT_VAR:
    case QA_LIMIT_ES:
        for (size_t i = 0; i < s->nlevels; i++)
            if (fabs(s->levels[i] - l->level) < 1e-9) return l->metric == QA_LIMIT_VAR ? s->var[i] : s->es[i];
        return NAN;
    case QA_LIMIT_GROSS: return s->gross;
    case QA_LIMIT_NET: return s->net;
    case QA_LIMIT_CONCENTRATION: return s->max_weight;
    case QA_LIMIT_DRAWDOWN: return s->drawdown;
    default: return NAN;
    }
}

size_t qa_limits_check(const qa_limit_set *set, const qa_risk_snapshot *snap, qa_limit_result *out) {
    size_t breaches = 0;
    for (size_t i = 0; i < set->n; i++) {
        const qa_limit *l = &set->items[i];
        double v = snapshot_value(l, snap);
        qa_limit_result r = {l, QA_LIMIT_OK, v, NAN};
        if (isnan(v)) {
            r.state = QA_LIMIT_SKIPPED;
        } else if (v > l->max || v < l->min) {
            r.state = QA_LIMIT_BREACH;
            r.threshold = v > l->max ? l->max : l->min;
            breaches++;
        } else if (l->warn_fraction > 0) {
            /* Approaching a bound: within (1 - warn) of it, measured as a share of the bound. */
            if (!isinf(l->max) && l->max > 0 && v >= l->warn_fraction * l->max) r.state = QA_LIMIT_WARNING, r.threshold = l->max;
            if (!isinf(l->min) && l->min < 0 && v <= l->warn_fraction * l->min) r.state = QA_LIMIT_WARNING, r.threshold = l->min;
        }
        out[i] = r;
    }
    return breaches;
}

qa_status qa_limits_write_alerts(FILE *f, const char *source, const char *time, const qa_limit_result *res, size_t n,
                                 const qa_risk_snapshot *snap) {
    char now[40];
    if (!time) {
        qa_time_utc_iso(now, sizeof now);
        time = now;
    }
    for (size_t i = 0; i < n; i++) {
        const qa_limit_result *r = &res[i];
        if (r->state != QA_LIMIT_WARNING && r->state != QA_LIMIT_BREACH) continue;
        const qa_limit *l = r->limit;
        char detail[256];
        if (l->metric == QA_LIMIT_CONCENTRATION && snap->max_weight_name)
            snprintf(detail, sizeof detail, "largest position %s at %.2f%% of equity", snap->max_weight_name, 100 * r->value);
        else
            snprintf(detail, sizeof detail, "%s %.6g %s %s %.6g", qa_limit_metric_names[l->metric], r->value,
                     r->state == QA_LIMIT_BREACH ? "outside" : "near", r->threshold == l->max ? "max" : "min", r->threshold);
        json_t *o = json_object();
        json_object_set_new(o, "time", json_string(time));
        json_object_set_new(o, "source", json_string(source));
        json_object_set_new(o, "limit", json_string(l->name));
        json_object_set_new(o, "metric", json_string(qa_limit_metric_names[l->metric]));
        if (l->metric == QA_LIMIT_VAR || l->metric == QA_LIMIT_ES) json_object_set_new(o, "level", json_real(l->level));
        json_object_set_new(o, "value", qa_json_real(r->value));
        json_object_set_new(o, "threshold", qa_json_real(r->threshold));
        json_object_set_new(o, "severity", json_string(state_names[r->state]));
        json_object_set_new(o, "detail", json_string(detail));
        char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
        json_decref(o);
        if (!line) return QA_FAIL(QA_ERR_NOMEM, "alert line");
        int bad = fprintf(f, "%s\n", line) < 0;
        free(line);
        if (bad || fflush(f) != 0) return QA_FAIL(QA_ERR_IO, "cannot write alert line");
    }
    return QA_OK;
}

double qa_limit_bound(const qa_limit *l) { return isfinite(l->max) ? l->max : l->min; }

double qa_limit_use(const qa_limit *l, const qa_limit_result *r) {
    const double bound = qa_limit_bound(l);
    return isfinite(r->value) && bound != 0 ? fabs(r->value / bound) : NAN;
}
