/* qa serve's HTTP server (api/server.h). */
#include "api/server.h"

#include <arpa/inet.h>   /* inet_ntop: the client address for the audit log */
#include <microhttpd.h>  /* the HTTP server */
#include <netdb.h>       /* getaddrinfo */
#include <netinet/in.h>  /* sockaddr_in(6), loopback tests */
#include <pthread.h>     /* the event hub */
#include <stdint.h>      /* uint64_t */
#include <stdio.h>       /* snprintf */
#include <stdlib.h>      /* calloc, free */
#include <string.h>      /* strcmp, strncmp */
#include <sys/socket.h>  /* AF_INET6 */
#include <time.h>        /* clock_gettime */

#include "api/assets.h"   /* the dashboard, built into the binary */
#include "api/desk.h"     /* qa_apidesk_snapshot for the event stream */
#include "api/routes.h"
#include "api/session.h"
#include "common/fs.h"    /* reading the TLS files */
#include "common/log.h"
#include "live/http.h"    /* libmicrohttpd's logger */
#include "live/metrics.h" /* Prometheus text */

#define RL_BUCKETS 1024u
#define SSE_POLL_MS 250
#define SSE_KEEPALIVE_S 15
#define CONN_TIMEOUT_S 60u

typedef struct bucket {
    char remote[64];
    double tokens, t;
} bucket;

struct qa_serve {
    struct MHD_Daemon *d;
    unsigned port;
    int tls;
    char origins[QA_SERVE_MAX_ORIGINS][256];
    size_t norigins, body_max;
    double login_rate; /* attempts per second */
    double login_burst;
    qa_session sess;
    qa_api_ctx ctx;
    char *cert, *key;
    pthread_mutex_t rl_mu;
    bucket rl[RL_BUCKETS];
    pthread_mutex_t h5_mu; /* HDF5 handlers one at a time (QA_ROUTE_HDF5) */
    qa_metrics_t *metrics;
    qa_metrics_counter *by_class[6]; /* 1xx..5xx, [0] unused */
    qa_metrics_counter *refused, *audit_errors;
    qa_metrics_histogram *latency;
    qa_metrics_gauge *streams;
    /* the event hub: one poller, every stream waits on its sequence number */
    pthread_t hub;
    int hub_started, stop;
    pthread_mutex_t hub_mu;
    pthread_cond_t hub_cv;
    unsigned long seq;
    char *snap;       /* the newest "event: ...\ndata: ...\n\n" text */
    int snap_error;
};

typedef struct req_state {
    char *body;
    size_t len, cap;
    int too_big;
    double t0;
} req_state;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static const char *origin_allowed(const qa_serve_t *s, struct MHD_Connection *c) {
    const char *o = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    for (size_t i = 0; o && i < s->norigins; i++)
        if (strcmp(o, s->origins[i]) == 0) return o;
    return NULL;
}

/* Headers every answer carries: no sniffing, no framing, no referrer, a strict content
 * policy (scripts and connections to this origin only), HSTS under TLS, CORS only for a
 * configured origin. */
static enum MHD_Result headers(const qa_serve_t *s, struct MHD_Connection *c, struct MHD_Response *r, int api) {
    enum MHD_Result ok = MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (ok == MHD_YES) ok = MHD_add_response_header(r, "X-Frame-Options", "DENY");
    if (ok == MHD_YES) ok = MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    if (ok == MHD_YES)
        ok = MHD_add_response_header(r, "Content-Security-Policy",
                                     "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
                                     "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
                                     "form-action 'self'");
    if (ok == MHD_YES) ok = MHD_add_response_header(r, "Cache-Control", api ? "no-store" : "no-cache");
    if (ok == MHD_YES && s->tls)
        ok = MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000");
    const char *o = origin_allowed(s, c);
    if (ok == MHD_YES && o) {
        ok = MHD_add_response_header(r, "Access-Control-Allow-Origin", o);
        if (ok == MHD_YES) ok = MHD_add_response_header(r, "Vary", "Origin");
    }
    return ok;
}

static void count(qa_serve_t *s, unsigned code, double t0) {
    unsigned k = code / 100;
    if (k >= 1 && k <= 5) qa_metrics_counter_add(s->by_class[k], 1);
    qa_metrics_histogram_observe(s->latency, now_s() - t0);
}

static enum MHD_Result send_body(qa_serve_t *s, struct MHD_Connection *c, unsigned code, const char *type, char *body,
                                 size_t len, int api, const char *extra_name, const char *extra_value) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    enum MHD_Result ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (ok == MHD_YES) ok = headers(s, c, r, api);
    if (ok == MHD_YES && extra_name) ok = MHD_add_response_header(r, extra_name, extra_value);
    if (ok == MHD_YES) ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result send_json(qa_serve_t *s, struct MHD_Connection *c, unsigned code, json_t *j, const char *xn,
                                 const char *xv) {
    char *body = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!body) body = strdup("{\"error\":\"the answer could not be encoded as JSON\"}"), code = 500;
    if (!body) return MHD_NO;
    return send_body(s, c, code, "application/json", body, strlen(body), 1, xn, xv);
}

static enum MHD_Result send_error(qa_serve_t *s, struct MHD_Connection *c, unsigned code, const char *msg) {
    return send_json(s, c, code, json_pack("{s:s}", "error", msg), NULL, NULL);
}

static void remote_of(struct MHD_Connection *c, char out[64]) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, 64, "?");
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, 64);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, 64);
}

static void audit(qa_serve_t *s, const char *user, unsigned roles, const char *remote, const char *method,
                  const char *path, unsigned code, const char *outcome, const char *detail) {
    char rt[64];
    qa_audit_entry e = {user, qa_auth_roles_text(roles, rt, sizeof rt), remote, method, path, code, outcome, detail};
    if (qa_audit_append(s->sess.audit, &e) != QA_OK) {
        /* the call has been answered; the failure is loud and counted so it is not missed */
        qa_metrics_counter_add(s->audit_errors, 1);
        qa_log_error("serve: AUDIT WRITE FAILED for %s %s by %s: %s", method, path, user, qa_err_msg());
    }
}

/* A token bucket per client address for the login routes. */
static int rate_ok(qa_serve_t *s, const char *remote, double *retry) {
    uint64_t h = 1469598103934665603ull;
    for (const char *p = remote; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
    double t = now_s();
    pthread_mutex_lock(&s->rl_mu);
    bucket *b = &s->rl[h % RL_BUCKETS];
    if (strcmp(b->remote, remote) != 0) {
        snprintf(b->remote, sizeof b->remote, "%s", remote);
        b->tokens = s->login_burst, b->t = t;
    }
    b->tokens += (t - b->t) * s->login_rate;
    if (b->tokens > s->login_burst) b->tokens = s->login_burst;
    b->t = t;
    int ok = b->tokens >= 1.0;
    if (ok) b->tokens -= 1.0;
    else *retry = (1.0 - b->tokens) / s->login_rate;
    pthread_mutex_unlock(&s->rl_mu);
    return ok;
}

static unsigned http_code(qa_status st) {
    switch (st) {
    case QA_ERR_INVALID_ARG:
    case QA_ERR_FORMAT:
    case QA_ERR_CONFIG: return 400;
    case QA_ERR_NOT_FOUND: return 404;
    case QA_ERR_STATE:
    case QA_ERR_EXISTS: return 409;
    case QA_ERR_LIMIT: return 413;
    case QA_ERR_UNSUPPORTED: return 501;
    default: return 500;
    }
}

static const char *query_of(const qa_api_req *req, const char *name) {
    return MHD_lookup_connection_value((struct MHD_Connection *)req->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* ---- the event stream ------------------------------------------------------------------ */

typedef struct stream {
    qa_serve_t *s;
    unsigned long seq;
    char *buf;
    size_t len, off;
    long long expires; /* the token's exp: the stream ends then, and the client logs in again */
    double last;
} stream;

static void *hub_main(void *arg) {
    qa_serve_t *s = arg;
    pthread_mutex_lock(&s->hub_mu);
    while (!s->stop) {
        pthread_mutex_unlock(&s->hub_mu);
        json_t *j = NULL;
        qa_status st = qa_apidesk_snapshot(&s->ctx, &j);
        char *data = st == QA_OK && j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!data) {
            json_t *e = json_pack("{s:s}", "error", st == QA_OK ? "snapshot not encodable" : qa_err_msg());
            data = e ? json_dumps(e, JSON_COMPACT) : NULL;
            json_decref(e);
        }
        size_t n = data ? strlen(data) + 64 : 0;
        char *text = n ? malloc(n) : NULL;
        if (text) snprintf(text, n, "event: %s\ndata: %s\n\n", data && st == QA_OK ? "snapshot" : "error", data);
        free(data);
        pthread_mutex_lock(&s->hub_mu);
        if (text && (!s->snap || strcmp(text, s->snap) != 0)) {
            free(s->snap);
            s->snap = text, s->seq++;
            pthread_cond_broadcast(&s->hub_cv);
        } else
            free(text);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += SSE_POLL_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        if (!s->stop) pthread_cond_timedwait(&s->hub_cv, &s->hub_mu, &ts);
    }
    pthread_mutex_unlock(&s->hub_mu);
    return NULL;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max) {
    (void)pos;
    stream *st = cls;
    qa_serve_t *s = st->s;
    if (st->off == st->len) {
        free(st->buf);
        st->buf = NULL, st->len = st->off = 0;
        pthread_mutex_lock(&s->hub_mu);
        for (;;) {
            if (s->stop) break;
            if (s->seq != st->seq && s->snap) {
                st->buf = strdup(s->snap);
                st->seq = s->seq;
                break;
            }
            if ((long long)time(NULL) >= st->expires) {
                st->buf = strdup("event: expired\ndata: {\"error\":\"access token expired\"}\n\n");
                st->expires = -1; /* the next read ends the stream */
                break;
            }
            if (now_s() - st->last >= SSE_KEEPALIVE_S) {
                st->buf = strdup(": keepalive\n\n"); /* keeps proxies and the idle timeout from closing it */
                break;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 1;
            pthread_cond_timedwait(&s->hub_cv, &s->hub_mu, &ts);
        }
        pthread_mutex_unlock(&s->hub_mu);
        if (!st->buf) return MHD_CONTENT_READER_END_OF_STREAM;
        st->len = strlen(st->buf);
        st->last = now_s();
    }
    if (st->expires == -1 && st->off == st->len) return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = st->len - st->off < max ? st->len - st->off : max;
    memcpy(out, st->buf + st->off, n);
    st->off += n;
    return (ssize_t)n;
}

static void stream_free(void *cls) {
    stream *st = cls;
    qa_metrics_gauge_add(st->s->streams, -1);
    free(st->buf);
    free(st);
}

static enum MHD_Result start_stream(qa_serve_t *s, struct MHD_Connection *c, long long expires) {
    if (!s->ctx.live_state[0]) return send_error(s, c, 404, "no live service is configured (serve.yaml live.state_dir)");
    stream *st = calloc(1, sizeof *st);
    if (!st) return send_error(s, c, 500, "out of memory");
    st->s = s, st->expires = expires, st->last = now_s();
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_free);
    if (!r) {
        free(st);
        return MHD_NO;
    }
    qa_metrics_gauge_add(s->streams, 1);
    enum MHD_Result ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    if (ok == MHD_YES) ok = headers(s, c, r, 1);
    if (ok == MHD_YES) ok = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ok;
}

/* ---- requests -------------------------------------------------------------------------- */

static enum MHD_Result serve_asset(qa_serve_t *s, struct MHD_Connection *c, const char *url) {
    const unsigned char *data = NULL;
    size_t len = 0;
    const char *type = NULL, *etag = NULL;
    if (strcmp(url, "/") == 0) url = "/index.html";
    if (qa_assets_get(url, &data, &len, &type, &etag) != 0) return send_error(s, c, 404, "no such page or asset");
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match");
    int fresh = inm && etag && strcmp(inm, etag) == 0;
    struct MHD_Response *r = MHD_create_response_from_buffer(fresh ? 0 : len, fresh ? NULL : (void *)data,
                                                             MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    enum MHD_Result ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (ok == MHD_YES) ok = headers(s, c, r, 0);
    if (ok == MHD_YES && etag) ok = MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
    if (ok == MHD_YES) ok = MHD_queue_response(c, fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ok;
}

static enum MHD_Result dispatch(qa_serve_t *s, struct MHD_Connection *c, const char *url, const char *method,
                                req_state *rs) {
    char remote[64];
    remote_of(c, remote);
    int is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strcmp(method, "OPTIONS") == 0) { /* a CORS preflight: allowed origins get the methods */
        char *empty = strdup("");
        if (!empty) return MHD_NO;
        struct MHD_Response *r = MHD_create_response_from_buffer(0, empty, MHD_RESPMEM_MUST_FREE);
        if (!r) return MHD_NO;
        enum MHD_Result ok = headers(s, c, r, 1);
        if (ok == MHD_YES && origin_allowed(s, c)) {
            ok = MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST");
            if (ok == MHD_YES) ok = MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
            if (ok == MHD_YES) ok = MHD_add_response_header(r, "Access-Control-Max-Age", "600");
        }
        if (ok == MHD_YES) ok = MHD_queue_response(c, 204, r);
        MHD_destroy_response(r);
        return ok;
    }
    if (strcmp(url, "/metrics") == 0 && is_get) {
        char *text = NULL;
        size_t len = 0;
        if (qa_metrics_render(s->metrics, &text, &len) != QA_OK) return send_error(s, c, 500, qa_err_msg());
        return send_body(s, c, 200, "text/plain; version=0.0.4; charset=utf-8", text, len, 1, NULL, NULL);
    }
    if (strncmp(url, "/api/", 5) != 0 && strcmp(url, "/health") != 0) {
        if (!is_get) return send_error(s, c, 405, "pages and assets are GET only");
        return serve_asset(s, c, url);
    }
    size_t ul = strlen(url);
    char *scratch = malloc(ul + 1);
    if (!scratch) return send_error(s, c, 500, "out of memory");
    const char *params[QA_API_MAX_PARAMS] = {0};
    size_t np = 0;
    int known = 0;
    const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
    const qa_api_route *rt = qa_api_route_match(m, url, scratch, params, &np, &known);
    enum MHD_Result ret;
    qa_auth_who who = {.user = "", .roles = 0, .key_id = "", .expires = 0};
    if (!rt) {
        ret = known ? send_json(s, c, 405, json_pack("{s:s, s:s}", "error", "method not allowed", "path", url), NULL,
                                NULL)
                    : send_error(s, c, 404, "no such API route (GET /api/openapi.json lists them)");
        count(s, known ? 405 : 404, rs->t0);
        free(scratch);
        return ret;
    }
    char retry_text[32];
    double retry = 0;
    if (rt->flags & QA_ROUTE_LOGIN && !rate_ok(s, remote, &retry)) {
        snprintf(retry_text, sizeof retry_text, "%.0f", retry + 0.5);
        audit(s, "", 0, remote, method, url, 429, "refused: rate", "too many login attempts from this address");
        qa_metrics_counter_add(s->refused, 1);
        count(s, 429, rs->t0);
        free(scratch);
        return send_json(s, c, 429, json_pack("{s:s}", "error", "too many login attempts: retry later"), "Retry-After",
                         retry_text);
    }
    if (!(rt->flags & QA_ROUTE_PUBLIC)) {
        const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        qa_status st = QA_ERR_STATE;
        if (h && strncmp(h, "Bearer ", 7) == 0) st = qa_auth_verify(s->sess.auth, h + 7, &who);
        else qa_err_set(QA_ERR_STATE, __FILE__, __LINE__, "no credentials: send Authorization: Bearer <access token>");
        if (st != QA_OK) {
            unsigned code = st == QA_ERR_STATE ? 401 : 500;
            char why[256];
            snprintf(why, sizeof why, "%s", qa_err_msg());
            audit(s, "", 0, remote, method, url, code, "refused: token", why);
            qa_metrics_counter_add(s->refused, 1);
            count(s, code, rs->t0);
            free(scratch);
            return send_json(s, c, code, json_pack("{s:s}", "error", why), "WWW-Authenticate", "Bearer");
        }
        if (!(rt->roles & who.roles)) {
            char have[64], need[64], why[200];
            snprintf(why, sizeof why, "role %s may not %s %s (allowed: %s)", qa_auth_roles_text(who.roles, have, 64),
                     rt->method, rt->path, qa_auth_roles_text(rt->roles, need, 64));
            audit(s, who.user, who.roles, remote, method, url, 403, "refused: role", why);
            qa_metrics_counter_add(s->refused, 1);
            count(s, 403, rs->t0);
            free(scratch);
            return send_error(s, c, 403, why);
        }
    }
    if (rt->flags & QA_ROUTE_SSE) {
        free(scratch);
        count(s, 200, rs->t0);
        return start_stream(s, c, who.expires);
    }
    json_t *body = NULL;
    unsigned early = 0;
    char early_msg[256] = "";
    if (strcmp(m, "POST") == 0) {
        const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        if (rs->too_big) {
            early = 413;
            snprintf(early_msg, sizeof early_msg, "body larger than %zu bytes", s->body_max);
        } else if (rs->len == 0) {
            body = json_object(); /* an action without arguments */
        } else if (!ct || strncmp(ct, "application/json", 16) != 0) {
            early = 415;
            snprintf(early_msg, sizeof early_msg, "Content-Type %.64s: expected application/json", ct ? ct : "(none)");
        } else {
            json_error_t e;
            body = json_loadb(rs->body, rs->len, JSON_REJECT_DUPLICATES, &e);
            if (!body) {
                early = 400;
                snprintf(early_msg, sizeof early_msg, "body: JSON error at line %d column %d: %.150s", e.line, e.column,
                         e.text);
            } else if (!json_is_object(body)) {
                early = 400;
                snprintf(early_msg, sizeof early_msg, "body: expected a JSON object");
            }
        }
    }
    qa_api_resp resp = {0};
    unsigned code = early;
    if (!early) {
        qa_api_req req = {&s->ctx, m, url, {0}, np, body, who.user, who.roles, remote, query_of, c};
        for (size_t i = 0; i < np; i++) req.params[i] = params[i];
        if (rt->flags & QA_ROUTE_HDF5) pthread_mutex_lock(&s->h5_mu);
        qa_status st = rt->fn(&req, &resp);
        if (rt->flags & QA_ROUTE_HDF5) pthread_mutex_unlock(&s->h5_mu);
        if (st != QA_OK) {
            json_decref(resp.json);
            resp.json = json_pack("{s:s}", "error", qa_err_msg());
            code = http_code(st);
            snprintf(resp.audit, sizeof resp.audit, "%s", qa_err_msg());
        } else
            code = resp.code ? resp.code : 200;
    } else
        resp.json = json_pack("{s:s}", "error", early_msg);
    if (strcmp(m, "POST") == 0) {
        const char *outcome = code < 300 ? "ok" : code == 401 || code == 403 || code == 429 ? "refused" : "error";
        /* a login names the user it logged in (or tried to): the caller has no token yet */
        const char *user = who.user;
        unsigned roles = who.roles;
        json_t *ju = rt->flags & QA_ROUTE_LOGIN && code < 300 ? json_object_get(resp.json, "user") : NULL;
        if (json_is_string(ju)) user = json_string_value(ju);
        if (!early && rt->flags & QA_ROUTE_LOGIN && code >= 300) {
            const char *tried = NULL;
            if (qa_api_body_string(&(qa_api_req){.body = body}, "user", 0, &tried) == QA_OK && tried) user = tried;
        }
        audit(s, user, roles, remote, method, url, code, outcome, early ? early_msg : resp.audit);
    }
    json_decref(body);
    free(scratch);
    count(s, code, rs->t0);
    return send_json(s, c, code, resp.json, NULL, NULL);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    qa_serve_t *s = cls;
    req_state *rs = *con_cls;
    if (!rs) {
        rs = calloc(1, sizeof *rs);
        if (!rs) return MHD_NO;
        rs->t0 = now_s();
        *con_cls = rs;
        /* a declared body over the limit is refused before it is read */
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > s->body_max) {
            char msg[128];
            snprintf(msg, sizeof msg, "body of %.20s bytes: the limit is %zu", cl, s->body_max);
            return send_error(s, c, 413, msg);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (rs->too_big || rs->len + n > s->body_max) { /* chunked bodies: stop keeping, answer 413 at the end */
            rs->too_big = 1;
            return MHD_YES;
        }
        if (rs->len + n > rs->cap) {
            size_t cap = rs->cap ? rs->cap : 4096;
            while (cap < rs->len + n) cap *= 2;
            char *b = realloc(rs->body, cap);
            if (!b) return MHD_NO;
            rs->body = b, rs->cap = cap;
        }
        memcpy(rs->body + rs->len, upload, n);
        rs->len += n;
        return MHD_YES;
    }
    return dispatch(s, c, url, method, rs);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)c, (void)toe;
    req_state *rs = *con_cls;
    if (rs) free(rs->body);
    free(rs);
    *con_cls = NULL;
}

/* ---- start and stop -------------------------------------------------------------------- */

static int is_loopback(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6)
        return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr);
    return 0;
}

static qa_status register_metrics(qa_serve_t *s) {
    static const double lat[] = {1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5};
    QA_TRY_RET(qa_metrics_create(&s->metrics));
    for (unsigned k = 1; k <= 5; k++) {
        char labels[32];
        snprintf(labels, sizeof labels, "class=\"%uxx\"", k);
        QA_TRY_RET(qa_metrics_counter_register(s->metrics, "qa_serve_responses_total", "Answers by status class",
                                               labels, &s->by_class[k]));
    }
    QA_TRY_RET(qa_metrics_counter_register(s->metrics, "qa_serve_refused_total",
                                           "Requests refused for credentials, role or rate", NULL, &s->refused));
    QA_TRY_RET(qa_metrics_counter_register(s->metrics, "qa_serve_audit_errors_total",
                                           "Audit rows that could not be written", NULL, &s->audit_errors));
    QA_TRY_RET(qa_metrics_histogram_register(s->metrics, "qa_serve_request_seconds", "Time to answer a request",
                                             NULL, lat, sizeof lat / sizeof *lat, &s->latency));
    return qa_metrics_gauge_register(s->metrics, "qa_serve_streams", "Open event streams", NULL, &s->streams);
}

qa_status qa_serve_start(const qa_serve_opts *o, qa_serve_t **out) {
    if (!o || !o->state_dir) return QA_FAIL(QA_ERR_INVALID_ARG, "serve: no state_dir");
    if (!o->tls_cert != !o->tls_key) return QA_FAIL(QA_ERR_CONFIG, "serve: tls needs both cert and key");
    if (o->port > 65535) return QA_FAIL(QA_ERR_CONFIG, "serve: port %u is above 65535", o->port);
    const char *host = o->host ? o->host : "127.0.0.1";
    char port[8];
    snprintf(port, sizeof port, "%u", o->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) return QA_FAIL(QA_ERR_CONFIG, "serve: listen host '%s': %s", host, gai_strerror(rc));
    if (!o->tls_cert && !is_loopback(ai->ai_addr)) {
        freeaddrinfo(ai);
        return QA_FAIL(QA_ERR_CONFIG, "serve: plain HTTP is only served on a loopback address, and '%s' is not one: "
                       "configure tls.cert and tls.key", host);
    }
    qa_serve_t *s = calloc(1, sizeof *s);
    if (!s) {
        freeaddrinfo(ai);
        return QA_FAIL(QA_ERR_NOMEM, "serve");
    }
    pthread_mutex_init(&s->rl_mu, NULL);
    pthread_mutex_init(&s->h5_mu, NULL);
    pthread_mutex_init(&s->hub_mu, NULL);
    pthread_cond_init(&s->hub_cv, NULL);
    s->body_max = o->body_max ? o->body_max : (size_t)1 << 20;
    double per_min = o->login_per_min ? o->login_per_min : 10;
    s->login_rate = per_min / 60.0, s->login_burst = per_min < 5 ? per_min : 5;
    for (size_t i = 0; i < o->norigins && i < QA_SERVE_MAX_ORIGINS; i++)
        snprintf(s->origins[i], sizeof s->origins[i], "%s", o->origins[i]);
    s->norigins = o->norigins < QA_SERVE_MAX_ORIGINS ? o->norigins : QA_SERVE_MAX_ORIGINS;
    s->ctx = o->ctx;
    s->ctx.session = &s->sess;
    s->sess.version = o->version ? o->version : "unknown";
    snprintf(s->sess.state_dir, sizeof s->sess.state_dir, "%s", o->state_dir);
    qa_status st = qa_auth_open(o->state_dir, 1, &s->sess.auth);
    if (st == QA_OK) qa_auth_set_ttl(s->sess.auth, o->access_ttl_s, o->refresh_ttl_s);
    if (st == QA_OK) st = qa_audit_open(o->state_dir, &s->sess.audit);
    if (st == QA_OK) st = register_metrics(s);
    size_t n = 0;
    if (st == QA_OK && o->tls_cert) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
            st = QA_FAIL(QA_ERR_UNSUPPORTED, "serve: this libmicrohttpd has no TLS support");
        if (st == QA_OK) st = qa_fs_read_all(o->tls_cert, &s->cert, &n);
        if (st == QA_OK) st = qa_fs_read_all(o->tls_key, &s->key, &n);
        s->tls = 1;
    }
    if (st == QA_OK && s->ctx.live_state[0] && pthread_create(&s->hub, NULL, hub_main, s) != 0)
        st = QA_FAIL(QA_ERR_STATE, "serve: cannot start the event hub thread");
    else if (st == QA_OK && s->ctx.live_state[0])
        s->hub_started = 1;
    if (st == QA_OK) {
        unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                         (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0) | (s->tls ? MHD_USE_TLS : 0);
        unsigned maxc = o->max_connections ? o->max_connections : 512;
        /* the certificate and key only under TLS: the array starts at its end otherwise */
        struct MHD_OptionItem tls_opts[] = {{MHD_OPTION_HTTPS_MEM_CERT, 0, s->cert},
                                            {MHD_OPTION_HTTPS_MEM_KEY, 0, s->key},
                                            {MHD_OPTION_END, 0, NULL}};
        s->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, handle, s, MHD_OPTION_EXTERNAL_LOGGER,
                                qa_http_mhd_log, "serve", MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                                MHD_OPTION_CONNECTION_TIMEOUT, CONN_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT, maxc,
                                MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_ARRAY,
                                s->tls ? tls_opts : tls_opts + 2, MHD_OPTION_END);
        if (!s->d) st = QA_FAIL(QA_ERR_IO, "serve: cannot listen on %s port %u (the log says why)", host, o->port);
    }
    freeaddrinfo(ai);
    if (st == QA_OK) {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
        s->port = info ? info->port : 0;
        if (!s->port) st = QA_FAIL(QA_ERR_IO, "serve: libmicrohttpd does not report the port bound");
    }
    if (st != QA_OK) {
        qa_serve_stop(s);
        return st;
    }
    qa_log_info("serve: %s://%s:%u/ (API, dashboard, /health, /metrics)", s->tls ? "https" : "http", host, s->port);
    *out = s;
    return QA_OK;
}

unsigned qa_serve_port(const qa_serve_t *s) { return s ? s->port : 0; }

void qa_serve_stop(qa_serve_t *s) {
    if (!s) return;
    pthread_mutex_lock(&s->hub_mu);
    s->stop = 1; /* streams end at their next wake-up */
    pthread_cond_broadcast(&s->hub_cv);
    pthread_mutex_unlock(&s->hub_mu);
    if (s->d) MHD_stop_daemon(s->d);
    if (s->hub_started) pthread_join(s->hub, NULL);
    qa_audit_close(s->sess.audit);
    qa_auth_close(s->sess.auth);
    qa_metrics_free(s->metrics);
    free(s->snap);
    free(s->cert);
    if (s->key) memset(s->key, 0, strlen(s->key));
    free(s->key);
    pthread_cond_destroy(&s->hub_cv);
    pthread_mutex_destroy(&s->hub_mu);
    pthread_mutex_destroy(&s->rl_mu);
    pthread_mutex_destroy(&s->h5_mu);
    free(s);
}
