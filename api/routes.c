/* The route table (api/routes.h) and its matcher and OpenAPI document. */
#include "api/routes.h"

#include <string.h>  /* strcmp, strchr */

#include "api/data.h"     /* runs' neighbours: market data, alternative data */
#include "api/desk.h"     /* the live desk */
#include "api/jobs.h"     /* job submission */
#include "api/models.h"   /* the model registry */
#include "api/orders.h"   /* orders and fills */
#include "api/risk.h"     /* risk history, alerts, limits */
#include "api/runs.h"     /* run directories */
#include "api/session.h"  /* login, users, audit */

#define R QA_ROLE_RESEARCHER
#define K QA_ROLE_RISK
#define T QA_ROLE_TRADER
#define A QA_ROLE_ADMIN
#define ALL QA_ROLE_ALL
#define P QA_ROUTE_PUBLIC
#define H QA_ROUTE_HDF5

/* Who may do what: every role reads research (runs, data, models); the desk's data is for
 * risk, traders and admins; acting on the book (cancels) is for traders and admins, the kill
 * switch also for risk; moving a model alias is a researcher's or an admin's (a protected
 * alias also checks the registry's own list of users); users and the audit log are admin. */
const qa_api_route qa_api_routes[] = {
    {"GET", "/health", 0, P, qa_session_health, "Liveness: the server answers"},
    {"GET", "/api/openapi.json", 0, P, qa_session_openapi, "This API as an OpenAPI 3.0 document"},
    {"POST", "/api/login", 0, P | QA_ROUTE_LOGIN, qa_session_login, "Log in with user and password, or an API key"},
    {"POST", "/api/refresh", 0, P | QA_ROUTE_LOGIN, qa_session_refresh, "Trade a refresh token for new tokens"},
    {"POST", "/api/logout", ALL, 0, qa_session_logout, "Revoke a refresh token"},
    {"GET", "/api/me", ALL, 0, qa_session_me, "The caller, its roles and the routes it may use"},
    {"GET", "/api/users", A, 0, qa_session_users, "Users and their keys (never the secrets)"},
    {"POST", "/api/users", A, 0, qa_session_user_add, "Add a user; answers its first API key once"},
    {"POST", "/api/users/{name}/revoke", A, 0, qa_session_revoke, "Revoke a user, its keys and tokens"},
    {"GET", "/api/audit", A, 0, qa_session_audit, "The audit log, newest first"},
    {"GET", "/api/audit/verify", A, 0, qa_session_verify, "Recompute the audit log's hash chain"},

    {"GET", "/api/runs", ALL, H, qa_apiruns_list, "Run directories: sweeps, training, RL and stress runs"},
    {"GET", "/api/runs/{id}", ALL, H, qa_apiruns_show, "One run: run.json, summary, resolved config, files"},
    {"GET", "/api/runs/{id}/top", ALL, H, qa_apiruns_top, "A sweep's best runs with parameters and metrics"},
    {"GET", "/api/runs/{id}/heatmap", ALL, H, qa_apiruns_heatmap, "A sweep's metric over two parameters"},
    {"GET", "/api/runs/{id}/equity", ALL, H, qa_apiruns_equity, "Equity and drawdown of one of a sweep's best"},
    {"GET", "/api/runs/{id}/curves", ALL, H, qa_apiruns_curves, "A training run's logged metrics per step"},
    {"GET", "/api/runs/{id}/stress", ALL, H, qa_apiruns_stress, "A stress run's VaR/ES, losses, scenarios"},
    {"POST", "/api/jobs", R | K | A, 0, qa_apijobs_submit, "Submit a sweep, stress or training job"},
    {"GET", "/api/data/symbols", ALL, H, qa_apidata_symbols, "Symbols of the market store and their coverage"},
    {"GET", "/api/data/bars/{symbol}", ALL, H, qa_apidata_bars, "Bars of a symbol over a range, paged"},
    {"GET", "/api/data/features/{symbol}", ALL, H, qa_apidata_features, "Features of a symbol, paged"},
    {"GET", "/api/alt/search", ALL, 0, qa_apidata_alt, "Full-text search of the alternative-data store"},

    {"GET", "/api/models", ALL, 0, qa_apimodels_list, "Registered models"},
    {"GET", "/api/models/{name}", ALL, 0, qa_apimodels_show, "A model's versions, aliases, alias history"},
    {"GET", "/api/models/{name}/versions/{version}", ALL, 0, qa_apimodels_version, "One version with lineage"},
    {"POST", "/api/models/{name}/aliases/{alias}", R | A, 0, qa_apimodels_alias, "Move an alias to a version"},

    {"GET", "/api/risk/metrics", K | T | A, 0, qa_apirisk_metrics, "The live risk snapshots over time"},
    {"GET", "/api/risk/alerts", K | T | A, 0, qa_apirisk_alerts, "Alerts, newest first"},
    {"GET", "/api/risk/limits", K | T | A, 0, qa_apirisk_limits, "Limits in force with use and state"},
    {"GET", "/api/orders", K | T | A, 0, qa_apiorders_list, "Orders, filtered and paged"},
    {"GET", "/api/orders/{clordid}", K | T | A, 0, qa_apiorders_show, "One order, its transitions and fills"},
    {"GET", "/api/fills", K | T | A, 0, qa_apiorders_fills, "Fills, filtered and paged"},
    {"GET", "/api/live/state", K | T | A, 0, qa_apidesk_state, "The desk: state, book, positions, limits"},
    {"GET", "/api/live/stream", K | T | A, QA_ROUTE_SSE, NULL, "Server-sent events: a desk snapshot on change"},
    {"POST", "/api/live/kill", K | T | A, 0, qa_apidesk_kill, "Kill switch: HALTED, REDUCING or ACTIVE"},
    {"POST", "/api/live/orders/{clordid}/cancel", T | A, 0, qa_apidesk_cancel, "Cancel one working order"},
    {"POST", "/api/live/cancel-all", T | A, 0, qa_apidesk_cancel_all, "Cancel every working order"},
};
const size_t qa_api_nroutes = sizeof qa_api_routes / sizeof *qa_api_routes;

/* Compares the path in `scratch` segment by segment with the pattern; parameter segments
 * are cut in place (their '/' becomes NUL) and pointed to by params. */
static int match(const char *pattern, char *scratch, const char **params, size_t *np) {
    *np = 0;
    if (scratch[0] != '/') return 0;
    const char *p = pattern + 1;
    char *s = scratch + 1;
    for (;;) {
        const char *pe = strchr(p, '/');
        char *se = strchr(s, '/');
        size_t pl = pe ? (size_t)(pe - p) : strlen(p), sl = se ? (size_t)(se - s) : strlen(s);
        if (pl > 2 && p[0] == '{') {
            if (sl == 0 || *np == QA_API_MAX_PARAMS) return 0;
            params[(*np)++] = s;
        } else if (pl != sl || strncmp(p, s, pl) != 0)
            return 0;
        if (!pe || !se) return !pe && !se;
        *se = '\0';
        p = pe + 1, s = se + 1;
    }
}

const qa_api_route *qa_api_route_match(const char *method, const char *path, char *scratch, const char **params,
                                       size_t *nparams, int *path_known) {
    *path_known = 0;
    size_t size = strlen(path) + 1; /* the contract: scratch holds this many bytes */
    for (size_t i = 0; i < qa_api_nroutes; i++) {
        memcpy(scratch, path, size); /* match() cuts the copy into parameters: fresh per route */
        if (!match(qa_api_routes[i].path, scratch, params, nparams)) continue;
        if (strcmp(qa_api_routes[i].method, method) == 0) return &qa_api_routes[i];
        *path_known = 1;
    }
    return NULL;
}

json_t *qa_api_openapi(const char *version) {
    static const char *const role_names[] = {"researcher", "risk", "trader", "admin"};
    json_t *paths = json_object();
    for (size_t i = 0; paths && i < qa_api_nroutes; i++) {
        const qa_api_route *r = &qa_api_routes[i];
        json_t *item = json_object_get(paths, r->path);
        if (!item) json_object_set_new(paths, r->path, item = json_object());
        json_t *params = json_array(), *roles = json_array();
        for (const char *p = strchr(r->path, '{'); p; p = strchr(p + 1, '{')) {
            const char *e = strchr(p, '}');
            json_array_append_new(params, json_pack("{s:s%, s:s, s:b, s:{s:s}}", "name", p + 1, (size_t)(e - p - 1),
                                                    "in", "path", "required", 1, "schema", "type", "string"));
        }
        for (unsigned b = 0; b < 4; b++)
            if (!(r->flags & QA_ROUTE_PUBLIC) && r->roles & (1u << b))
                json_array_append_new(roles, json_string(role_names[b]));
        json_t *responses = json_pack("{s:{s:s}}", "200", "description", "the JSON answer (docs/api.md)");
        if (!(r->flags & QA_ROUTE_PUBLIC)) {
            json_object_set_new(responses, "401", json_pack("{s:s}", "description", "no or bad credentials"));
            json_object_set_new(responses, "403", json_pack("{s:s}", "description", "role not allowed"));
        }
        json_t *op = json_pack("{s:s, s:o, s:o, s:o}", "summary", r->summary, "parameters", params, "responses",
                               responses, "x-roles", roles);
        if (!(r->flags & QA_ROUTE_PUBLIC))
            json_object_set_new(op, "security", json_pack("[{s:[]}]", "bearer"));
        if (strcmp(r->method, "POST") == 0)
            json_object_set_new(op, "requestBody",
                                json_pack("{s:{s:{s:{s:s}}}}", "content", "application/json", "schema", "type", "object"));
        char m[8];
        size_t k = 0;
        for (; k < sizeof m - 1 && r->method[k]; k++) m[k] = (char)(r->method[k] | 0x20);
        m[k] = '\0';
        json_object_set_new(item, m, op);
    }
    return json_pack("{s:s, s:{s:s, s:s}, s:o, s:{s:{s:{s:s, s:s, s:s}}}}", "openapi", "3.0.3", "info", "title",
                     "QuantumAlpha API", "version", version, "paths", paths, "components", "securitySchemes", "bearer",
                     "type", "http", "scheme", "bearer", "bearerFormat", "JWT");
}
