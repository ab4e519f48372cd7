/* Prometheus metrics of the live service: a registry of counters, gauges and histograms
 * rendered in the text exposition format 0.0.4 for the /metrics endpoint (live/http.h).
 *
 * Registration is cold (it takes a lock) and returns a handle that stays valid until the
 * registry is freed. Updates through a handle are lock-free atomics, so the processing
 * thread never waits for the HTTP thread that renders. A render reads each value
 * atomically but not all values at one instant: a histogram's _sum may lag its buckets by
 * the observations in flight; its _count always equals its +Inf bucket.
 *
 * Names follow Prometheus ([a-zA-Z_:][a-zA-Z0-9_:]*) and ours: they start with `qa_`, and
 * counters end in `_total`. Each series may carry one preformatted label set such as
 * `topic="market.data",partition="0"`; series with one name form one family rendered under
 * one # HELP / # TYPE header, in registration order. */
#ifndef QA_LIVE_METRICS_H
#define QA_LIVE_METRICS_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint64_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_metrics qa_metrics_t;
/* Handles owned by the registry; distinct types so a counter cannot be observed. */
typedef struct qa_metrics_counter qa_metrics_counter;
typedef struct qa_metrics_gauge qa_metrics_gauge;
typedef struct qa_metrics_histogram qa_metrics_histogram;

qa_status qa_metrics_create(qa_metrics_t **out);
/* Frees the registry and every handle it gave out. Accepts NULL. No update or render may
 * be in flight. */
void qa_metrics_free(qa_metrics_t *m);

/* Registration. `help` is required (escaped on output); `labels` is NULL or a label set
 * `name="value"[,name="value"...]` whose values escape \, " and newline as \\, \" and \n.
 * Label sets compare as text, so the same pairs in another order make another series.
 * Errors: QA_ERR_INVALID_ARG for a bad name, label set or bucket list, or a name already
 * registered with another type or help text; QA_ERR_EXISTS for a name and label set
 * registered before. On success `*out` is a handle owned by the registry. */
qa_status qa_metrics_counter_register(qa_metrics_t *m, const char *name, const char *help,
                                      const char *labels, qa_metrics_counter **out);
qa_status qa_metrics_gauge_register(qa_metrics_t *m, const char *name, const char *help,
                                    const char *labels, qa_metrics_gauge **out);
/* `bounds`: nbounds >= 1 finite, strictly increasing bucket upper bounds (copied); the +Inf
 * bucket is implicit. Buckets are inclusive: an observation equal to a bound counts in it. */
qa_status qa_metrics_histogram_register(qa_metrics_t *m, const char *name, const char *help,
                                        const char *labels, const double *bounds, size_t nbounds,
                                        qa_metrics_histogram **out);

/* Hot path: lock-free, safe from any thread; handles must be non-NULL. A counter renders as its integer total plus
 * its fractional total; negative or NaN counter increments and NaN observations are
 * dropped, since a counter only goes up and a NaN would poison _sum for good. */
void qa_metrics_counter_add(qa_metrics_counter *c, uint64_t n);
void qa_metrics_counter_add_f(qa_metrics_counter *c, double x);
void qa_metrics_gauge_set(qa_metrics_gauge *g, double x);
void qa_metrics_gauge_add(qa_metrics_gauge *g, double x);
void qa_metrics_histogram_observe(qa_metrics_histogram *h, double x);

/* Current values, for tests and for the service's own decisions. */
double qa_metrics_counter_value(const qa_metrics_counter *c);
double qa_metrics_gauge_value(const qa_metrics_gauge *g);

/* Renders every family as Prometheus text format 0.0.4 into a new NUL-terminated buffer
 * that the caller frees with free(); `*len` excludes the NUL. Safe while other threads
 * update and register. */
qa_status qa_metrics_render(qa_metrics_t *m, char **text, size_t *len);

/* The standard latency buckets in seconds: 1-2-5 steps from 1e-6 (1 µs) to 10 s, 22 bounds
 * (1e-6, 2e-6, 5e-6, 1e-5, ..., 1, 2, 5, 10). Copies the first min(cap, 22) into `out`
 * (which may be NULL when cap is 0) and returns 22. */
size_t qa_metrics_latency_buckets(double *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
