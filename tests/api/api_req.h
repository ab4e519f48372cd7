/* Hand-made requests for the handler tests (test_apimodels, test_apidesk, test_apiruns,
 * test_apidata): path parameters, a query string as key/value pairs, a JSON body and a
 * caller, without a server. */
#ifndef QA_TESTS_API_API_REQ_H
#define QA_TESTS_API_API_REQ_H

#include <jansson.h>  /* json_t */
#include <string.h>   /* strcmp, memset */

#include "api/api.h"

#define QA_TREQ_MAX_QUERY 16

typedef struct qa_treq {
    qa_api_req req;              /* first: the handler's pointer is this struct's */
    const char *query[QA_TREQ_MAX_QUERY][2];
    size_t nquery;
} qa_treq;

static inline const char *qa_treq_query(const qa_api_req *req, const char *name) {
    const qa_treq *t = (const qa_treq *)req;
    for (size_t i = 0; i < t->nquery; i++)
        if (strcmp(t->query[i][0], name) == 0) return t->query[i][1];
    return NULL;
}

/* A request of `method` by `user` (all roles) with up to two path parameters (NULL: none). */
static inline void qa_treq_init(qa_treq *t, const qa_api_ctx *ctx, const char *method, const char *user, const char *p0,
                                const char *p1) {
    memset(t, 0, sizeof *t);
    t->req.ctx = ctx;
    t->req.method = method;
    t->req.path = "/api/test";
    t->req.user = user;
    t->req.roles = QA_ROLE_ALL;
    t->req.remote = "127.0.0.1";
    t->req.query = qa_treq_query;
    if (p0) t->req.params[t->req.nparams++] = p0;
    if (p1) t->req.params[t->req.nparams++] = p1;
}

static inline void qa_treq_set(qa_treq *t, const char *name, const char *value) {
    if (t->nquery < QA_TREQ_MAX_QUERY) t->query[t->nquery][0] = name, t->query[t->nquery][1] = value, t->nquery++;
}

/* Runs a handler on the request; the answer's JSON is the caller's (json_decref). */
static inline qa_status qa_treq_call(qa_api_fn fn, qa_treq *t, qa_api_resp *resp) {
    memset(resp, 0, sizeof *resp);
    qa_status st = fn(&t->req, resp);
    if (st != QA_OK && resp->json) { /* a failing handler must leave no answer behind */
        json_decref(resp->json);
        resp->json = NULL;
        return QA_ERR_INTEGRITY;
    }
    return st;
}

/* A query pair, for tables of them. */
typedef struct qa_tkv {
    const char *k, *v;
} qa_tkv;

/* GET through `fn` with one path parameter (NULL: none) and nq query pairs, as a caller
 * with every role; *out is the answer (the caller's), NULL on failure. */
static inline qa_status qa_treq_get(qa_api_fn fn, const qa_api_ctx *ctx, const char *param, const qa_tkv *q,
                                    size_t nq, json_t **out) {
    qa_treq t;
    qa_treq_init(&t, ctx, "GET", "tester", param, NULL);
    for (size_t i = 0; i < nq; i++) qa_treq_set(&t, q[i].k, q[i].v);
    qa_api_resp resp;
    qa_status st = qa_treq_call(fn, &t, &resp);
    *out = st == QA_OK ? resp.json : NULL;
    return st;
}

#endif
