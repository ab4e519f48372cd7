/* qa serve's HTTP server (docs/api.md): libmicrohttpd with one thread per connection (the
 * event stream blocks between events), TLS through GnuTLS when a certificate is given, and
 * plain HTTP only on a loopback address. Every request goes through, in order: the route
 * table (404/405), the login rate limit (429), the access token (401), the route's roles
 * (403), the body limit and strict JSON (413/415/400), the handler; mutating calls and
 * every refusal are written to the audit log. Security headers on every answer; CORS only
 * for the origins configured. Static dashboard assets are served from the binary. */
#ifndef QA_API_SERVER_H
#define QA_API_SERVER_H

#include <stddef.h>  /* size_t */

#include "api/api.h"
#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QA_SERVE_MAX_ORIGINS 8

typedef struct qa_serve_opts {
    const char *host;           /* NULL = 127.0.0.1 */
    unsigned port;              /* 0 = a free port (qa_serve_port) */
    const char *tls_cert;       /* PEM files; both or neither */
    const char *tls_key;
    const char *state_dir;      /* users.db, audit.db */
    const char *origins[QA_SERVE_MAX_ORIGINS]; /* CORS: allowed origins, exact match */
    size_t norigins;
    size_t body_max;            /* bytes; 0 = 1 MiB */
    unsigned login_per_min;     /* login/refresh attempts per client address; 0 = 10 */
    long access_ttl_s, refresh_ttl_s; /* 0 = 900 s, 86400 s */
    unsigned max_connections;   /* 0 = 512 */
    const char *version;        /* qa's version text */
    qa_api_ctx ctx;             /* what is served (session is filled in by the server) */
} qa_serve_opts;

typedef struct qa_serve qa_serve_t;

/* Opens users.db and audit.db and starts listening. */
qa_status qa_serve_start(const qa_serve_opts *opts, qa_serve_t **out);
unsigned qa_serve_port(const qa_serve_t *s);
/* Stops listening, ends event streams, waits for requests in flight, frees. */
void qa_serve_stop(qa_serve_t *s);

#ifdef __cplusplus
}
#endif
#endif
