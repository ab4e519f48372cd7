/* Value anomalies in vendor bar data, and the policy that handles them.
 *
 * Real vendor data has bad values that are not structural errors: zero volume,
 * OHLC relations that do not hold (e.g. a decimal-shifted high), non-positive prices,
 * and price spikes. Each is reported as (symbol, date, field, why) and handled by the
 * policy the user picks: keep (report only), mask (set the offending values to NaN;
 * the default) or reject (fail the import). Rules are documented in
 * docs/data-format.md ("Anomalies"). */
#ifndef QA_DATASETS_VALIDATE_H
#define QA_DATASETS_VALIDATE_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */
#include <stdio.h>   /* FILE */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qa_anom_kind {
    QA_ANOM_ZERO_VOLUME = 0,  /* volume == 0 */
    QA_ANOM_NEG_VOLUME = 1,   /* volume < 0 */
    QA_ANOM_NONPOS_PRICE = 2, /* open/high/low/close <= 0 */
    QA_ANOM_OHLC = 3,         /* low <= open, close <= high does not hold */
    QA_ANOM_SHIFT = 4,        /* one price off the bar's others by >= 5x (decimal shift) */
    QA_ANOM_SPIKE = 5,        /* close jumps and reverts next bar */
    QA_ANOM_JUMP = 6,         /* extreme one-bar move (|log return| above the jump limit) */
    QA_ANOM_KIND_COUNT = 7
} qa_anom_kind;

typedef enum qa_anom_policy {
    QA_ANOM_KEEP = 0,
    QA_ANOM_MASK = 1,
    QA_ANOM_REJECT = 2,
    QA_ANOM_POLICY_COUNT = 3
} qa_anom_policy;

/* NULL-terminated names for configs: "keep", "mask", "reject". */
extern const char *const qa_anom_policy_names[];
const char *qa_anom_kind_name(qa_anom_kind k);

typedef struct qa_anomaly {
    int64_t symbol;  /* index into the file's symbols */
    int64_t t;       /* index into the time grid */
    int64_t time;    /* UTC ns */
    int32_t kind;    /* qa_anom_kind */
    int32_t field;   /* qa_bar_field */
    double value;    /* the offending value */
    double ref;      /* what it was compared with (median price, previous close, ...) */
} qa_anomaly;

typedef struct qa_anom_list {
    qa_anomaly *items;
    size_t n, cap;
} qa_anom_list;

typedef struct qa_validate_opts {
    double spike_log;   /* spike: |log r_t| > spike_log and the next bar reverts by > spike_log/2 */
    double jump_log;    /* jump: |log r_t| > jump_log */
    double shift_ratio; /* decimal shift: one price >= shift_ratio x (or <= 1/x) the bar's median */
    int zero_volume;    /* report zero volume (1) */
} qa_validate_opts;

/* Defaults: spike 1.0 (x2.7 or /2.7 and back the next bar: a decimal-shifted close, not
 * a crisis day: AIG's -61% on 2008-09-15 is log -0.94), jump 1.6 (x5 or /5 in one bar),
 * shift 5, zero volume on. */
void qa_validate_opts_default(qa_validate_opts *o);

/* Checks one symbol's bars (arrays of length T; NaN = no bar). Appends anomalies in time
 * order. With mask != 0 the offending values are set to NaN (a bad close masks the
 * whole bar) before return-based checks run, so spikes are judged on clean closes. */
qa_status qa_validate_bars(const qa_validate_opts *o, int64_t symbol, const int64_t *time, size_t T,
                           double *open, double *high, double *low, double *close, double *volume,
                           int mask, qa_anom_list *out);

qa_status qa_anom_list_append(qa_anom_list *l, const qa_anomaly *a);
qa_status qa_anom_list_extend(qa_anom_list *l, const qa_anomaly *a, size_t n);
void qa_anom_list_free(qa_anom_list *l);
/* "price spike: close 12.5 vs previous 8.1 (+43.5%), reverts next bar" */
char *qa_anomaly_describe(const qa_anomaly *a, char *buf, size_t size);
/* Writes "symbol,date,field,kind,value,reference,why" CSV lines (with header). */
qa_status qa_anom_write_csv(FILE *f, const qa_anom_list *l, const char *const *symbols);

#ifdef __cplusplus
}
#endif
#endif
