/* qa serve: the types every API handler shares (docs/api.md). A handler reads its request
 * (path parameters, query string, JSON body, caller) and fills a JSON answer; the server
 * (api/server.c) does authentication, the role check of the route table (api/routes.c),
 * the audit log, limits and headers. Handlers never touch libmicrohttpd. */
#ifndef QA_API_API_H
#define QA_API_API_H

#include <jansson.h>  /* json_t */
#include <stddef.h>   /* size_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Roles as bits; a user holds one or more, a token carries the subset it was issued for. */
enum {
    QA_ROLE_RESEARCHER = 1u << 0,
    QA_ROLE_RISK = 1u << 1,
    QA_ROLE_TRADER = 1u << 2,
    QA_ROLE_ADMIN = 1u << 3,
    QA_ROLE_ALL = 0xfu
};

#define QA_API_MAX_ROOTS 8
#define QA_API_MAX_PARAMS 4

/* What qa serve serves (from serve.yaml, docs/api.md "Configuration"). Paths may be empty
 * strings when that part is not configured; its routes then answer 404 with a message. */
typedef struct qa_api_ctx {
    char runs[QA_API_MAX_ROOTS][512]; /* folders whose sub-folders are run directories */
    size_t nruns;
    char data[512];       /* market.h5 (bars, features) */
    char registry[512];   /* model registry directory */
    char live_state[512]; /* the live service's state_dir (risk.db, orders.db) */
    char live_config[512];/* the live service's configuration (limits), may be empty */
    char alt[512];        /* alternative-data document store (SQLite FTS5), may be empty */
    char jobs_dir[512];   /* where submitted jobs' run directories go (default: runs[0]) */
    char qa_exe[512];     /* the qa binary that runs submitted jobs */
    struct qa_session *session; /* the server's users, tokens and audit log (api/session.h) */
} qa_api_ctx;

typedef struct qa_api_req {
    const qa_api_ctx *ctx;
    const char *method;                 /* "GET", "POST", ... */
    const char *path;                   /* "/api/runs/ma-demo/top" */
    const char *params[QA_API_MAX_PARAMS]; /* the route's {name} segments, in order, URL-decoded */
    size_t nparams;
    json_t *body;                       /* POST/PUT: a JSON object (checked), else NULL */
    const char *user;                   /* authenticated user name ("" for public routes) */
    unsigned roles;                     /* the caller's role bits */
    const char *remote;                 /* client address, for the audit log */
    /* The query string: returns the value of `name` or NULL. */
    const char *(*query)(const struct qa_api_req *req, const char *name);
    void *conn;                         /* server-private */
} qa_api_req;

typedef struct qa_api_resp {
    unsigned code;  /* HTTP status; 0 = 200 */
    json_t *json;   /* the answer; owned by the server after return */
    char audit[256];/* what a mutating handler did, for the audit log ("cancel 42") */
} qa_api_resp;

/* A handler. Failure statuses map to HTTP: QA_ERR_INVALID_ARG / FORMAT / CONFIG → 400,
 * QA_ERR_NOT_FOUND → 404, QA_ERR_STATE / EXISTS → 409, QA_ERR_LIMIT → 413,
 * QA_ERR_UNSUPPORTED → 501, anything else → 500; the body is {"error": qa_err_msg()}. */
typedef qa_status (*qa_api_fn)(const qa_api_req *req, qa_api_resp *resp);

/* Query helpers: an integer/number parameter with a default and bounds; a bad value is
 * QA_ERR_INVALID_ARG naming the parameter, the value and the range. */
qa_status qa_api_query_long(const qa_api_req *req, const char *name, long def, long lo, long hi, long *out);
qa_status qa_api_query_time(const qa_api_req *req, const char *name, long long def, long long *out);
/* A body member of the given jansson type; required or not; error names the member. */
qa_status qa_api_body_string(const qa_api_req *req, const char *name, int required, const char **out);
qa_status qa_api_body_long(const qa_api_req *req, const char *name, int required, long lo, long hi, long *out);
/* A path parameter that names a file system entry (run id, model name): refuses '/',
 * "..", a leading '.', control bytes and more than 200 bytes. */
qa_status qa_api_safe_name(const char *s, const char *what);
/* Numbers: use qa_json_real (common/json.h), which writes NaN/inf as null. */

#ifdef __cplusplus
}
#endif
#endif
