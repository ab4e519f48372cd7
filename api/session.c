/* Login, identity, users and audit handlers (api/session.h). */
#include "api/session.h"

#include <stdio.h>   /* snprintf */
#include <string.h>  /* strcmp */

#include "api/routes.h"  /* /api/me lists the routes the caller may use */

static qa_session *sess(const qa_api_req *req) { return req->ctx->session; }

static json_t *tokens_json(const qa_auth_tokens *t) {
    return json_pack("{s:s, s:s, s:s, s:i, s:s, s:o}", "access_token", t->access, "refresh_token", t->refresh,
                     "token_type", "Bearer", "expires_in", (int)t->expires_in, "user", t->user, "roles",
                     qa_auth_roles_json(t->roles));
}

/* A refused login or refresh: 401 with the reason, which never says whether a user exists. */
static qa_status refused(qa_api_resp *resp, const char *why) {
    resp->code = 401;
    resp->json = json_pack("{s:s}", "error", why);
    snprintf(resp->audit, sizeof resp->audit, "%s", why);
    return QA_OK;
}

qa_status qa_session_login(const qa_api_req *req, qa_api_resp *resp) {
    const char *user = NULL, *password = NULL, *key = NULL;
    QA_TRY_RET(qa_api_body_string(req, "user", 0, &user));
    QA_TRY_RET(qa_api_body_string(req, "password", 0, &password));
    QA_TRY_RET(qa_api_body_string(req, "key", 0, &key));
    if (!key && !(user && password))
        return QA_FAIL(QA_ERR_INVALID_ARG, "body: expected {\"user\", \"password\"} or {\"key\"}");
    qa_auth_tokens t;
    qa_status st = key ? qa_auth_login_key(sess(req)->auth, key, &t)
                       : qa_auth_login_password(sess(req)->auth, user, password, &t);
    if (st == QA_ERR_STATE) return refused(resp, qa_err_msg());
    QA_TRY_RET(st);
    resp->json = tokens_json(&t);
    snprintf(resp->audit, sizeof resp->audit, "login %s by %s", t.user, key ? "key" : "password");
    return QA_OK;
}

qa_status qa_session_refresh(const qa_api_req *req, qa_api_resp *resp) {
    const char *refresh = NULL;
    QA_TRY_RET(qa_api_body_string(req, "refresh_token", 1, &refresh));
    qa_auth_tokens t;
    qa_status st = qa_auth_refresh(sess(req)->auth, refresh, &t);
    if (st == QA_ERR_STATE) return refused(resp, qa_err_msg());
    QA_TRY_RET(st);
    resp->json = tokens_json(&t);
    snprintf(resp->audit, sizeof resp->audit, "refresh %s", t.user);
    return QA_OK;
}

qa_status qa_session_logout(const qa_api_req *req, qa_api_resp *resp) {
    const char *refresh = NULL;
    QA_TRY_RET(qa_api_body_string(req, "refresh_token", 1, &refresh));
    qa_status st = qa_auth_logout(sess(req)->auth, refresh);
    if (st == QA_ERR_STATE) return QA_FAIL(QA_ERR_INVALID_ARG, "%s", qa_err_msg());
    QA_TRY_RET(st);
    resp->json = json_pack("{s:b}", "ok", 1);
    snprintf(resp->audit, sizeof resp->audit, "logout");
    return QA_OK;
}

qa_status qa_session_me(const qa_api_req *req, qa_api_resp *resp) {
    json_t *routes = json_array();
    for (size_t i = 0; i < qa_api_nroutes; i++) {
        const qa_api_route *r = &qa_api_routes[i];
        if (r->flags & QA_ROUTE_PUBLIC || !(r->roles & req->roles)) continue;
        json_array_append_new(routes, json_pack("{s:s, s:s}", "method", r->method, "path", r->path));
    }
    resp->json = json_pack("{s:s, s:o, s:o}", "user", req->user, "roles", qa_auth_roles_json(req->roles), "routes",
                           routes);
    return resp->json ? QA_OK : QA_FAIL(QA_ERR_NOMEM, "me");
}

qa_status qa_session_users(const qa_api_req *req, qa_api_resp *resp) {
    return qa_auth_list(sess(req)->auth, &resp->json);
}

qa_status qa_session_user_add(const qa_api_req *req, qa_api_resp *resp) {
    const char *name = NULL, *roles_text = NULL, *password = NULL;
    QA_TRY_RET(qa_api_body_string(req, "name", 1, &name));
    QA_TRY_RET(qa_api_body_string(req, "roles", 1, &roles_text));
    QA_TRY_RET(qa_api_body_string(req, "password", 0, &password));
    unsigned roles = 0;
    QA_TRY_RET(qa_auth_roles_parse(roles_text, &roles));
    QA_TRY_RET(qa_auth_user_add(sess(req)->auth, name, roles, password));
    char key[QA_AUTH_KEY_MAX], id[16];
    QA_TRY_RET(qa_auth_key_add(sess(req)->auth, name, 0, "first", key, id));
    resp->code = 201;
    resp->json = json_pack("{s:s, s:o, s:s, s:s}", "name", name, "roles", qa_auth_roles_json(roles), "key", key,
                           "key_id", id);
    snprintf(resp->audit, sizeof resp->audit, "add user %.63s roles %.60s key %s", name, roles_text, id);
    return QA_OK;
}

qa_status qa_session_revoke(const qa_api_req *req, qa_api_resp *resp) {
    QA_TRY_RET(qa_auth_revoke_user(sess(req)->auth, req->params[0]));
    resp->json = json_pack("{s:s, s:b}", "name", req->params[0], "revoked", 1);
    snprintf(resp->audit, sizeof resp->audit, "revoke user %.63s", req->params[0]);
    return QA_OK;
}

qa_status qa_session_audit(const qa_api_req *req, qa_api_resp *resp) {
    long page = 1, limit = 100;
    QA_TRY_RET(qa_api_query_long(req, "page", 1, 1, 1000000000L, &page));
    QA_TRY_RET(qa_api_query_long(req, "limit", 100, 1, 1000, &limit));
    return qa_audit_page(sess(req)->audit, page, limit, &resp->json);
}

qa_status qa_session_verify(const qa_api_req *req, qa_api_resp *resp) {
    qa_audit_report r;
    QA_TRY_RET(qa_audit_verify(sess(req)->state_dir, &r));
    resp->json = json_pack("{s:b, s:I, s:o, s:s}", "ok", r.first_bad < 0, "rows", (json_int_t)r.rows, "first_bad",
                           r.first_bad < 0 ? json_null() : json_integer(r.first_bad), "detail", r.detail);
    return QA_OK;
}

qa_status qa_session_openapi(const qa_api_req *req, qa_api_resp *resp) {
    resp->json = qa_api_openapi(sess(req)->version);
    return resp->json ? QA_OK : QA_FAIL(QA_ERR_NOMEM, "openapi");
}

qa_status qa_session_health(const qa_api_req *req, qa_api_resp *resp) {
    resp->json = json_pack("{s:s, s:s}", "status", "ok", "version", sess(req)->version);
    return QA_OK;
}
