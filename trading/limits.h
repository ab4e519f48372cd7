/* Risk limits and structured alerts, shared by stress runs, the event-driven simulator
 * and the live service (pre-trade checks of single orders: trading/pretrade.h).
 *
 * Post-trade limits are checked against a snapshot of portfolio risk (VaR, ES, gross and
 * net exposure, concentration, drawdown); each evaluation gives ok / warning (at
 * `warn_fraction` of the threshold, default 90%) / breach. Breaches and warnings are
 * written as JSON lines:
 *   {"time":"2026-11-24T05:00:00Z","source":"stress","limit":"var99","metric":"var",
 *    "level":0.99,"value":0.061,"threshold":0.05,"severity":"breach","detail":"..."}
 * Config (YAML list under `limits:`) is documented in docs/risk.md. */
#ifndef QA_TRADING_LIMITS_H
#define QA_TRADING_LIMITS_H

#include <stddef.h>  /* size_t */
#include <stdio.h>   /* FILE */

#include "common/config.h"
#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qa_limit_metric {
    QA_LIMIT_VAR = 0,           /* value-at-risk at `level`, fraction of portfolio value */
    QA_LIMIT_ES = 1,            /* expected shortfall at `level`, fraction */
    QA_LIMIT_GROSS = 2,         /* sum |weights| */
    QA_LIMIT_NET = 3,           /* sum weights */
    QA_LIMIT_CONCENTRATION = 4, /* max |weight| of one position */
    QA_LIMIT_DRAWDOWN = 5,      /* current drawdown magnitude (0.2 = 20% below the peak) */
    QA_LIMIT_METRIC_COUNT = 6
} qa_limit_metric;

extern const char *const qa_limit_metric_names[]; /* NULL-terminated: "var", "es", ... */

typedef struct qa_limit {
    char name[48];
    qa_limit_metric metric;
    double level;         /* confidence for var/es (e.g. 0.99); ignored otherwise */
    double min, max;      /* allowed range; -inf/+inf when unset */
    double warn_fraction; /* warn when |value| >= warn_fraction * |bound| (0 disables) */
} qa_limit;

typedef struct qa_limit_set {
    qa_limit *items;
    size_t n;
} qa_limit_set;

/* Parses a YAML sequence of limit maps (keys: name, metric, level, min, max, warn).
 * Errors name file:line and key. */
qa_status qa_limits_parse(const qa_cfg_t *cfg, const qa_cfg_node *seq, qa_limit_set *out);
void qa_limits_free(qa_limit_set *set);

/* A risk snapshot. Values a run does not compute are NaN (their limits are skipped and
 * reported as "not evaluated"). VaR/ES are given per confidence level. */
typedef struct qa_risk_snapshot {
    const double *levels;  /* confidence levels available */
    const double *var;     /* var[i] at levels[i], fraction of portfolio value (loss > 0) */
    const double *es;
    size_t nlevels;
    double gross, net;
    double max_weight;      /* largest |weight| */
    const char *max_weight_name;
    double drawdown;
} qa_risk_snapshot;

typedef enum qa_limit_state { QA_LIMIT_OK = 0, QA_LIMIT_WARNING = 1, QA_LIMIT_BREACH = 2, QA_LIMIT_SKIPPED = 3 } qa_limit_state;

typedef struct qa_limit_result {
    const qa_limit *limit;
    qa_limit_state state;
    double value;
    double threshold; /* the bound that was hit or approached */
} qa_limit_result;

/* Evaluates every limit; `out` has set->n entries. Returns the number of breaches. */
size_t qa_limits_check(const qa_limit_set *set, const qa_risk_snapshot *snap, qa_limit_result *out);

/* A limit as a desk reads it (`qa live status`, the API): the bound shown, its max, else
 * its min (a range shows its max); and the use |value / bound| as a fraction of it (NaN
 * when the value was not evaluated or the bound is 0). */
double qa_limit_bound(const qa_limit *l);
double qa_limit_use(const qa_limit *l, const qa_limit_result *r);

/* Writes one JSON line per warning/breach to `f` (flushed), with `source` ("stress",
 * "live", "backtest") and an ISO `time` (NULL: now). Returns QA_ERR_IO on write errors. */
qa_status qa_limits_write_alerts(FILE *f, const char *source, const char *time, const qa_limit_result *res, size_t n,
                                 const qa_risk_snapshot *snap);

#ifdef __cplusplus
}
#endif
#endif
