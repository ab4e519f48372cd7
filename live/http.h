/* The live service's operations endpoints over HTTP (libmicrohttpd), served from a thread
 * of their own beside the service:
 *   GET /metrics  the registry in Prometheus text format 0.0.4 (live/metrics.h)
 *   GET /health   the JSON of the caller's health callback; 200 when healthy, else 503
 * Any other path is 404 and any method but GET and HEAD is 405, both with a JSON error. */
#ifndef QA_LIVE_HTTP_H
#define QA_LIVE_HTTP_H

#include <stdarg.h>  /* va_list */

#include "common/status.h"
#include "live/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_http qa_http_t;

/* Runs on the server's thread, concurrently with the service. Sets `*json` to a malloc'd
 * NUL-terminated JSON document that the server frees, and `*healthy` to 1 or 0. A failure
 * status answers 500 with the thread's last-error text. */
typedef qa_status (*qa_http_health_fn)(void *ctx, char **json, int *healthy);

typedef struct qa_http_opts {
    const char *host;          /* address or name to bind; NULL = "127.0.0.1" */
    unsigned port;             /* 0 = a free port chosen by the kernel (see qa_http_port) */
    qa_metrics_t *metrics;     /* borrowed, must outlive the server; NULL: /metrics is 404 */
    qa_http_health_fn health;  /* NULL: /health always answers 200 {"status":"ok"} */
    void *health_ctx;
} qa_http_opts;

/* Starts listening; QA_ERR_INVALID_ARG for an unresolvable host, QA_ERR_IO when the
 * address cannot be bound. */
qa_status qa_http_start(const qa_http_opts *opts, qa_http_t **out);
/* The port actually bound. */
unsigned qa_http_port(const qa_http_t *h);
/* Stops listening, waits for requests in flight, frees the server. Accepts NULL. */
void qa_http_stop(qa_http_t *h);

/* libmicrohttpd's logger (MHD_OPTION_EXTERNAL_LOGGER): its own failures (bind errors,
 * lost connections) as warnings in our log, prefixed by `cls` (a string; NULL: "http"). */
void qa_http_mhd_log(void *cls, const char *fmt, va_list ap);

#ifdef __cplusplus
}
#endif
#endif
