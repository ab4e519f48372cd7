/* The route table of qa serve: every endpoint with the roles allowed to call it. It is the
 * single source of the authorisation rule (the server checks it before any handler runs),
 * of GET /api/me's list of what a caller may do (the dashboard hides the rest), of the
 * OpenAPI document and of the route x role test. */
#ifndef QA_API_ROUTES_H
#define QA_API_ROUTES_H

#include <jansson.h>  /* json_t */
#include <stddef.h>   /* size_t */

#include "api/api.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    QA_ROUTE_PUBLIC = 1u << 0, /* no credentials needed */
    QA_ROUTE_LOGIN = 1u << 1,  /* rate-limited per client address; never audited with its body */
    QA_ROUTE_SSE = 1u << 2,    /* a server-sent-events stream, answered by the server itself */
    QA_ROUTE_HDF5 = 1u << 3    /* reads HDF5 files: Debian's HDF5 is not thread-safe, so the server
                                  runs these handlers one at a time */
};

typedef struct qa_api_route {
    const char *method;  /* "GET" or "POST" */
    const char *path;    /* "/api/runs/{id}/top": {name} matches one non-empty segment */
    unsigned roles;      /* QA_ROLE_* bits allowed; ignored for public routes */
    unsigned flags;
    qa_api_fn fn;        /* NULL for SSE routes */
    const char *summary; /* one line, for the OpenAPI document and docs/api.md */
} qa_api_route;

extern const qa_api_route qa_api_routes[];
extern const size_t qa_api_nroutes;

/* The route for (method, path) with its parameters (pointers into `scratch`, which must
 * hold strlen(path) + 1 bytes). NULL when nothing matches; *path_known is then 1 when the
 * path matches with another method (405 rather than 404). */
const qa_api_route *qa_api_route_match(const char *method, const char *path, char *scratch, const char **params,
                                       size_t *nparams, int *path_known);
/* The OpenAPI 3.0 document of the table. */
json_t *qa_api_openapi(const char *version);

#ifdef __cplusplus
}
#endif
#endif
