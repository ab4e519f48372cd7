/* libFuzzer harness: qa serve's request handling that is ours (api/), without a socket.
 * libmicrohttpd parses HTTP; everything after it is driven here the way api/server.c's
 * dispatch does. Input: one mode byte, then
 *   mode 0, a request: "METHOD /path?query" up to the first newline, then the body.
 *           Route matching (qa_api_route_match: parameters, 404 vs 405), the path-parameter
 *           name check, the query helpers, the POST body rules (JSON object, duplicate keys
 *           refused) and, for the read-only research routes (runs, market data, models,
 *           alternative data), the handler itself over a small market file and empty run,
 *           registry and document folders;
 *   mode 1, a JSON body: the typed member helpers and the role list parser;
 *   mode 2, an access token as sent in "Authorization: Bearer ...": qa_auth_verify;
 *   mode 3, a token's claims (JSON): signed with the server's key (known to the harness)
 *           with the algorithm of the next byte (HS256 mostly; HS512; none), then
 *           verified: what our claim checks do behind a valid signature.
 * The users database (one user "alice", a key) lives in the scratch folder. */
#include <jansson.h>  /* json_loadb */
#include <jwt.h>      /* signing claims for mode 3 */
#include <sqlite3.h>  /* setting the database's signing key */
#include <stdint.h>   /* uint8_t */
#include <stdio.h>    /* snprintf */
#include <stdlib.h>   /* malloc, free */
#include <string.h>   /* memchr, strncmp */

#include "api/api.h"     /* qa_api_req, helpers */
#include "api/auth.h"    /* qa_auth_open, qa_auth_verify */
#include "api/routes.h"  /* qa_api_route_match */
#include "common/fs.h"   /* qa_fs_mkdirs */
#include "fuzz_market.h" /* the market file the data routes read */
#include "fuzz_util.h"   /* scratch files */

/* The signing key the harness installs: 32 bytes 0x01..0x20 (hex in users.db). */
static unsigned char key[32];
static qa_auth_t *auth;
static qa_api_ctx ctx;

static int setup_auth(void) {
    char dir[512], db[600], hex[65], sql[200];
    qa_fuzz_path("state", dir, sizeof dir);
    if (qa_auth_open(dir, 1, &auth) != QA_OK) return 1;
    char k[QA_AUTH_KEY_MAX], id[16];
    if (qa_auth_user_add(auth, "alice", QA_ROLE_ALL, NULL) != QA_OK ||
        qa_auth_key_add(auth, "alice", 0, "fuzz", k, id) != QA_OK || qa_auth_user_add(auth, "bob", 1, NULL) != QA_OK ||
        qa_auth_revoke_user(auth, "bob") != QA_OK)
        return 1;
    qa_auth_close(auth);
    for (int i = 0; i < 32; i++) key[i] = (unsigned char)(i + 1), snprintf(hex + 2 * i, 3, "%02x", key[i]);
    snprintf(db, sizeof db, "%s/users.db", dir);
    snprintf(sql, sizeof sql, "UPDATE meta SET value='%s' WHERE key='jwt_secret'", hex);
    sqlite3 *h = NULL;
    int rc = sqlite3_open(db, &h);
    if (rc == SQLITE_OK) rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    sqlite3_close(h);
    if (rc != SQLITE_OK) return 1;
    return qa_auth_open(dir, 0, &auth) != QA_OK;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    qa_fuzz_quiet();
    const char *market = qa_fuzz_market();
    if (!market || setup_auth()) return 1;
    snprintf(ctx.data, sizeof ctx.data, "%s", market);
    qa_fuzz_path("runs", ctx.runs[0], sizeof ctx.runs[0]);
    ctx.nruns = 1;
    qa_fuzz_path("registry", ctx.registry, sizeof ctx.registry);
    qa_fuzz_path("alt.db", ctx.alt, sizeof ctx.alt); /* absent: the route answers 404 */
    if (qa_fs_mkdirs(ctx.runs[0]) != QA_OK || qa_fs_mkdirs(ctx.registry) != QA_OK) return 1;
    return 0;
}

/* The query string of the current request, "a=1&b=2" (not URL-decoded: libmicrohttpd
 * decodes before our code sees values). */
static const char *query_text;

static const char *query(const qa_api_req *req, const char *name) {
    (void)req;
    static char value[512];
    size_t nl = strlen(name);
    for (const char *p = query_text; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t vl = len - nl - 1 < sizeof value - 1 ? len - nl - 1 : sizeof value - 1;
            memcpy(value, p + nl + 1, vl);
            value[vl] = '\0';
            return value;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

/* The server's POST body rule (api/server.c dispatch): empty = {}, else a JSON object. */
static json_t *parse_body(const char *b, size_t n) {
    if (n == 0) return json_object();
    json_error_t e;
    json_t *j = json_loadb(b, n, JSON_REJECT_DUPLICATES, &e);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static void body_helpers(json_t *body) {
    static const char *const names[] = {"user", "password", "key", "refresh", "state", "name", "roles", "version",
                                        "kind", "config", "label", "reason"};
    qa_api_req req = {.ctx = &ctx, .body = body};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const char *s = NULL;
        long l = 0;
        if (qa_api_body_string(&req, names[i], i & 1, &s) == QA_OK && s) {
            unsigned roles;
            if (qa_auth_roles_parse(s, &roles) == QA_OK) {
                char text[64];
                json_decref(qa_auth_roles_json(roles));
                (void)qa_auth_roles_text(roles, text, sizeof text);
            }
            (void)qa_api_safe_name(s, names[i]);
        }
        (void)qa_api_body_long(&req, names[i], i & 1, -5, 1L << 40, &l);
    }
}

static int research_route(const qa_api_route *rt) {
    static const char *const prefixes[] = {"/api/runs", "/api/data/", "/api/models", "/api/alt/"};
    if (!rt->fn || strcmp(rt->method, "GET") != 0 || rt->flags & QA_ROUTE_SSE) return 0;
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        if (strncmp(rt->path, prefixes[i], strlen(prefixes[i])) == 0) return 1;
    return 0;
}

static void request(const char *text, size_t n) {
    const char *nl = memchr(text, '\n', n);
    size_t line = nl ? (size_t)(nl - text) : n;
    char *l = malloc(line + 1);
    if (!l) return;
    memcpy(l, text, line);
    l[line] = '\0';
    if (strlen(l) != line) { /* a NUL in the request line: libmicrohttpd never passes one */
        free(l);
        return;
    }
    char *sp = strchr(l, ' ');
    const char *method = "GET", *url = l;
    if (sp) *sp = '\0', method = l, url = sp + 1;
    char *q = strchr(url, '?');
    query_text = NULL;
    if (q) *q = '\0', query_text = q + 1;
    char *scratch = malloc(strlen(url) + 1);
    const char *params[QA_API_MAX_PARAMS] = {0};
    size_t np = 0;
    int known = 0;
    const qa_api_route *rt = scratch ? qa_api_route_match(method, url, scratch, params, &np, &known) : NULL;
    if (rt) {
        if (np > QA_API_MAX_PARAMS) __builtin_trap();
        for (size_t i = 0; i < np; i++)
            if (params[i] < scratch || params[i] > scratch + strlen(url) || !params[i][0]) __builtin_trap();
        json_t *body = NULL;
        if (strcmp(method, "POST") == 0 && nl) {
            body = parse_body(nl + 1, n - line - 1);
            if (body) body_helpers(body);
        }
        qa_api_req req = {&ctx, method, url, {0}, np, body, "alice", QA_ROLE_ALL, "127.0.0.1", query, NULL};
        for (size_t i = 0; i < np; i++) req.params[i] = params[i], (void)qa_api_safe_name(params[i], "param");
        long lv;
        long long tv;
        (void)qa_api_query_long(&req, "limit", 100, 1, 1000, &lv);
        (void)qa_api_query_time(&req, "start", 0, &tv);
        if (research_route(rt)) {
            qa_api_resp resp = {0};
            (void)rt->fn(&req, &resp);
            json_decref(resp.json);
        }
        json_decref(body);
    }
    free(scratch);
    free(l);
}

static void verify(const char *token) {
    qa_auth_who who;
    (void)qa_auth_verify(auth, token, &who);
}

static void signed_claims(const char *claims, unsigned alg_pick) {
    jwt_t *j = NULL;
    if (jwt_new(&j) != 0) return;
    jwt_alg_t alg = alg_pick < 200 ? JWT_ALG_HS256 : alg_pick < 230 ? JWT_ALG_HS512 : JWT_ALG_NONE;
    int rc = jwt_set_alg(j, alg, alg == JWT_ALG_NONE ? NULL : key, alg == JWT_ALG_NONE ? 0 : (int)sizeof key);
    if (!rc) rc = jwt_add_grants_json(j, claims);
    char *tok = rc ? NULL : jwt_encode_str(j);
    jwt_free(j);
    if (tok) verify(tok);
    free(tok);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned mode = data[0] % 4;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    if (mode == 0) {
        request(text, n);
        return 0;
    }
    if (mode == 1) {
        json_t *body = parse_body(text, n);
        if (body) body_helpers(body);
        json_decref(body);
        return 0;
    }
    unsigned alg = 0;
    if (mode == 3 && n) alg = (uint8_t)*text++, n--;
    char *s = malloc(n + 1); /* the header value / claims as a C string */
    if (!s) return 0;
    memcpy(s, text, n);
    s[n] = '\0';
    if (mode == 2) verify(s);
    else signed_claims(s, alg);
    free(s);
    return 0;
}
