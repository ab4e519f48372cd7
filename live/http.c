/* The operations endpoints on libmicrohttpd's internal polling thread. Handlers only read
 * the metrics registry (whose render is safe beside the hot path) and call the health
 * callback, so the server needs no state of its own beyond its options. */
#include "live/http.h"

#include <jansson.h>     /* JSON error bodies with their text escaped */
#include <microhttpd.h>  /* the HTTP server */
#include <netdb.h>       /* getaddrinfo: the host string to a socket address */
#include <stdarg.h>      /* va_list for libmicrohttpd's logger */
#include <stdio.h>       /* snprintf, vsnprintf */
#include <stdlib.h>      /* calloc, free */
#include <string.h>      /* strcmp, strdup, strlen */
#include <sys/socket.h>  /* AF_INET6, SOCK_STREAM */

#include "common/log.h"

#define QA_HTTP_TIMEOUT_S 10u /* idle connections are closed so none can pin the server */

struct qa_http {
    struct MHD_Daemon *daemon;
    unsigned port;
    qa_metrics_t *metrics;
    qa_http_health_fn health;
    void *health_ctx;
};

void qa_http_mhd_log(void *cls, const char *fmt, va_list ap) {
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n') msg[--n] = '\0';
    qa_log_warn("%s: %s", cls ? (const char *)cls : "http", msg);
}

/* Queues `body` (malloc'd; ownership passes to libmicrohttpd, or is freed here). MHD_NO
 * makes libmicrohttpd drop the connection, the only answer left when queuing fails. */
static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *type, char *body,
                             size_t len) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    enum MHD_Result ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (ok == MHD_YES && code == MHD_HTTP_METHOD_NOT_ALLOWED)
        ok = MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    if (ok == MHD_YES) ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r); /* the queued response holds its own reference */
    return ok;
}

/* {"error": what, "detail": detail} */
static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned code, const char *what,
                                   const char *detail) {
    json_t *j = json_pack("{s:s, s:s}", "error", what, "detail", detail);
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL; /* NULL also for non-UTF-8 detail */
    json_decref(j);
    if (!body) return MHD_NO;
    return reply(c, code, "application/json", body, strlen(body));
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **req_state) {
    (void)version, (void)upload, (void)upload_size, (void)req_state;
    qa_http_t *h = cls;
    /* libmicrohttpd sends no body for HEAD, so HEAD is served as GET */
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed", "only GET and HEAD are served");
    if (strcmp(url, "/metrics") == 0 && h->metrics) {
        char *text = NULL;
        size_t len = 0;
        if (qa_metrics_render(h->metrics, &text, &len) != QA_OK)
            return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "metrics render failed", qa_err_msg());
        return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len);
    }
    if (strcmp(url, "/health") == 0) {
        char *json = NULL;
        int healthy = 1;
        if (!h->health) json = strdup("{\"status\":\"ok\"}");
        else if (h->health(h->health_ctx, &json, &healthy) != QA_OK) {
            free(json); /* NULL unless the callback broke its contract */
            return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "health check failed", qa_err_msg());
        }
        if (!json) return reply_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "health check failed", "no JSON");
        return reply(c, healthy ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", json,
                     strlen(json));
    }
    return reply_error(c, MHD_HTTP_NOT_FOUND, "not found", "this server answers /metrics and /health");
}

qa_status qa_http_start(const qa_http_opts *opts, qa_http_t **out) {
    if (!opts || !out) return QA_FAIL(QA_ERR_INVALID_ARG, "qa_http_start: opts or out is NULL");
    if (opts->port > 65535) return QA_FAIL(QA_ERR_INVALID_ARG, "http port %u is above 65535", opts->port);
    const char *host = opts->host ? opts->host : "127.0.0.1";
    char port[8];
    snprintf(port, sizeof port, "%u", opts->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) return QA_FAIL(QA_ERR_INVALID_ARG, "http host '%s': %s", host, gai_strerror(rc));
    qa_http_t *h = calloc(1, sizeof *h);
    if (!h) {
        freeaddrinfo(ai);
        return QA_FAIL(QA_ERR_NOMEM, "http server");
    }
    h->metrics = opts->metrics, h->health = opts->health, h->health_ctx = opts->health_ctx;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG |
                     (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    /* the address is only read while binding, inside MHD_start_daemon */
    h->daemon = MHD_start_daemon(flags, (uint16_t)opts->port, NULL, NULL, handle, h,
                                 MHD_OPTION_EXTERNAL_LOGGER, qa_http_mhd_log, "http", /* first, to catch all */
                                 MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                 MHD_OPTION_CONNECTION_TIMEOUT, QA_HTTP_TIMEOUT_S, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!h->daemon) {
        free(h);
        return QA_FAIL(QA_ERR_IO, "http: cannot serve on %s port %u (the log says why)", host, opts->port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    if (!info || info->port == 0) {
        qa_http_stop(h);
        return QA_FAIL(QA_ERR_IO, "http: libmicrohttpd does not report the port bound on %s", host);
    }
    h->port = info->port;
    qa_log_info("http: serving /metrics and /health on %s port %u", host, h->port);
    *out = h;
    return QA_OK;
}

unsigned qa_http_port(const qa_http_t *h) { return h ? h->port : 0; }

void qa_http_stop(qa_http_t *h) {
    if (!h) return;
    MHD_stop_daemon(h->daemon); /* joins the server thread, so no handler is still running */
    free(h);
}
