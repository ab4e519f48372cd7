/* qa serve: model registry handlers (api/models.h). */
#include "api/models.h"

#include <errno.h>   /* strtol's range errors */
#include <limits.h>  /* LONG_MAX */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* strtol */
#include <string.h>  /* strcmp, strstr */

#include "registry/registry.h" /* open, search, show, alias_set */

static qa_status open_registry(const qa_api_req *req, qa_registry_t **r) {
    if (!req->ctx->registry[0])
        return QA_FAIL(QA_ERR_NOT_FOUND, "no model registry is configured (serve.yaml registry)");
    return qa_registry_open(req->ctx->registry, 0, r);
}

/* The {name} path parameter, checked as the registry checks names (400 otherwise). */
static qa_status model_param(const qa_api_req *req, size_t i, const char *what, const char **out) {
    *out = i < req->nparams ? req->params[i] : NULL;
    if (!*out) return QA_FAIL(QA_ERR_INVALID_ARG, "missing path parameter %s", what);
    return qa_registry_name_check(*out, what);
}

/* The newest of two UTC ISO times of the registry's one format (they order as text). */
static const char *newest(const char *a, const char *b) {
    if (!a || !*a) return b;
    if (!b || !*b) return a;
    return strcmp(a, b) >= 0 ? a : b;
}

/* One entry of the list from the model's show record. */
static json_t *summary(const json_t *m) {
    const json_t *vers = json_object_get(m, "versions"), *al = json_object_get(m, "aliases");
    const char *updated = NULL;
    size_t i;
    json_t *v;
    json_int_t latest = 0;
    json_array_foreach(vers, i, v) {
        latest = json_integer_value(json_object_get(v, "version")); /* in version order */
        updated = newest(updated, json_string_value(json_object_get(v, "created")));
    }
    json_t *amap = json_object();
    json_array_foreach(al, i, v) {
        json_object_set_new(amap, json_string_value(json_object_get(v, "alias")),
                            json_integer(json_integer_value(json_object_get(v, "version"))));
        updated = newest(updated, json_string_value(json_object_get(v, "updated")));
    }
    return json_pack("{s:O, s:I, s:o, s:o, s:s}", "name", json_object_get(m, "name"), "versions",
                     (json_int_t)json_array_size(vers), "latest", latest ? json_integer(latest) : json_null(), "aliases",
                     amap, "updated", updated ? updated : "");
}

qa_status qa_apimodels_list(const qa_api_req *req, qa_api_resp *resp) {
    qa_registry_t *r = NULL;
    QA_TRY_RET(open_registry(req, &r));
    json_t *all = NULL, *models = json_array();
    qa_registry_query q = {NULL, NULL, NULL, NULL};
    qa_status st = models ? qa_registry_search(r, &q, &all) : QA_FAIL(QA_ERR_NOMEM, "models");
    /* the search lists versions by name then version: one show per model */
    const char *prev = "";
    size_t i;
    json_t *v;
    json_array_foreach(all, i, v) {
        const char *name = json_string_value(json_object_get(v, "name"));
        if (st != QA_OK || !name || strcmp(name, prev) == 0) continue;
        prev = name;
        json_t *m = NULL;
        st = qa_registry_show(r, name, &m);
        if (st == QA_OK && json_array_append_new(models, summary(m)) != 0) st = QA_FAIL(QA_ERR_NOMEM, "model %s", name);
        json_decref(m);
    }
    if (st == QA_OK) {
        resp->json = json_pack("{s:O}", "models", models);
        if (!resp->json) st = QA_FAIL(QA_ERR_NOMEM, "models");
    }
    json_decref(all);
    json_decref(models);
    qa_registry_close(r);
    return st;
}

qa_status qa_apimodels_show(const qa_api_req *req, qa_api_resp *resp) {
    const char *name = NULL;
    QA_TRY_RET(model_param(req, 0, "model name", &name));
    qa_registry_t *r = NULL;
    QA_TRY_RET(open_registry(req, &r));
    json_t *m = NULL;
    qa_status st = qa_registry_show(r, name, &m);
    /* each version with its tags and aliases (the model record lists neither), and "who" */
    json_t *vers = st == QA_OK ? json_object_get(m, "versions") : NULL, *v;
    size_t i;
    json_array_foreach(vers, i, v) {
        char ref[QA_REGISTRY_NAME_MAX + 24];
        snprintf(ref, sizeof ref, "%s/%lld", name, (long long)json_integer_value(json_object_get(v, "version")));
        json_t *full = NULL;
        st = qa_registry_show(r, ref, &full);
        if (st != QA_OK) break;
        if (json_object_set(v, "tags", json_object_get(full, "tags")) ||
            json_object_set(v, "aliases", json_object_get(full, "aliases")) ||
            json_object_set(v, "who", json_object_get(v, "created_by")) || json_object_del(v, "created_by"))
            st = QA_FAIL(QA_ERR_NOMEM, "%s", ref);
        json_decref(full);
        if (st != QA_OK) break;
    }
    qa_registry_close(r);
    if (st != QA_OK) {
        json_decref(m);
        return st;
    }
    json_object_del(m, "next_version"); /* the registry's counter: not the caller's business */
    resp->json = m;
    return QA_OK;
}

/* A version path parameter: a positive integer or "latest". */
static qa_status version_param(const char *s, char *out, size_t size) {
    if (s && strcmp(s, "latest") == 0) {
        snprintf(out, size, "latest");
        return QA_OK;
    }
    char *end = NULL;
    errno = 0;
    long v = s && *s >= '0' && *s <= '9' ? strtol(s, &end, 10) : 0;
    if (!s || !end || *end || errno == ERANGE || v < 1)
        return QA_FAIL(QA_ERR_INVALID_ARG, "version '%.40s': expected a positive integer or 'latest'", s ? s : "");
    snprintf(out, size, "%ld", v);
    return QA_OK;
}

qa_status qa_apimodels_version(const qa_api_req *req, qa_api_resp *resp) {
    const char *name = NULL;
    char ver[32], ref[QA_REGISTRY_NAME_MAX + 40];
    QA_TRY_RET(model_param(req, 0, "model name", &name));
    QA_TRY_RET(version_param(req->nparams > 1 ? req->params[1] : NULL, ver, sizeof ver));
    snprintf(ref, sizeof ref, "%s/%s", name, ver);
    qa_registry_t *r = NULL;
    QA_TRY_RET(open_registry(req, &r));
    json_t *o = NULL;
    qa_status st = qa_registry_show(r, ref, &o);
    qa_registry_close(r);
    if (st != QA_OK) return st;
    json_object_del(json_object_get(o, "artifact"), "path"); /* the registry's file layout stays inside */
    resp->json = o;
    return QA_OK;
}

qa_status qa_apimodels_alias(const qa_api_req *req, qa_api_resp *resp) {
    const char *name = NULL, *alias = NULL, *why = NULL;
    long version = 0;
    QA_TRY_RET(model_param(req, 0, "model name", &name));
    QA_TRY_RET(model_param(req, 1, "alias", &alias));
    QA_TRY_RET(qa_api_body_long(req, "version", 1, 1, LONG_MAX, &version));
    QA_TRY_RET(qa_api_body_string(req, "why", 0, &why));
    if (why && strlen(why) > 500)
        return QA_FAIL(QA_ERR_INVALID_ARG, "body: member \"why\" has %zu bytes: expected at most 500", strlen(why));
    /* the registry falls back to the server's own user: never for a request */
    if (!req->user || !*req->user)
        return QA_FAIL(QA_ERR_INVALID_ARG, "alias moves need an authenticated user (the registry records who)");
    qa_registry_t *r = NULL;
    QA_TRY_RET(open_registry(req, &r));
    char ref[2 * QA_REGISTRY_NAME_MAX + 8];
    snprintf(ref, sizeof ref, "%s@%s", name, alias);
    qa_registry_version before;
    long from = 0;
    qa_status st = qa_registry_resolve(r, ref, &before);
    if (st == QA_OK) from = before.version;
    else if (st == QA_ERR_NOT_FOUND) qa_err_clear(), st = QA_OK; /* a new alias (or model: alias_set says) */
    if (st == QA_OK) st = qa_registry_alias_set(r, name, alias, version, req->user, why);
    qa_registry_close(r);
    if (st == QA_ERR_STATE && strstr(qa_err_msg(), "is protected")) {
        /* the registry's refusal, as the HTTP answer a refused permission gets */
        resp->code = 403;
        resp->json = json_pack("{s:s}", "error", qa_err_msg());
        snprintf(resp->audit, sizeof resp->audit, "alias %s@%s -> v%ld refused (protected)", name, alias, version);
        return resp->json ? QA_OK : QA_FAIL(QA_ERR_NOMEM, "answer");
    }
    if (st != QA_OK) return st;
    resp->json = json_pack("{s:s, s:s, s:I, s:o}", "name", name, "alias", alias, "version", (json_int_t)version, "from",
                           from ? json_integer(from) : json_null());
    if (!resp->json) return QA_FAIL(QA_ERR_NOMEM, "answer");
    snprintf(resp->audit, sizeof resp->audit, "alias %s@%s -> v%ld", name, alias, version);
    return QA_OK;
}
