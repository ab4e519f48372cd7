/* The model registry handlers (api/models.h) on a registry built with qa_registry_publish:
 * two models, three versions, an alias protected for one user. Expected values are what
 * the test published; the registry's own reads (resolve) check what an alias move did. */
#include <stdio.h>   /* snprintf */
#include <string.h>  /* strcmp, strstr, strlen */

#include "api/models.h"
#include "api_req.h"
#include "harness.h"
#include "registry/registry.h"
#include "registry/registry_test.h" /* a synthetic model (tests/registry) */

static char g_dir[256];
static qa_api_ctx g_ctx;

static long publish(qa_registry_t *r, const char *name, int salt, double ic) {
    qa_nn_arch a;
    memset(&a, 0, sizeof a);
    a.type = QA_NN_ARCH_MLP, a.input = 3, a.window = 1, a.outputs = 1;
    a.nhidden = 1, a.hidden[0] = 5, a.act = QA_NN_ACT_RELU;
    static const char *const names[3] = {"rsi_close_14", "zscore_close_20", "ret"};
    qa_model m;
    char path[QA_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s_%d.qam", g_dir, name, salt);
    QA_CHECK_OK(qa_test_registry_model(&m, &a, names, salt));
    QA_CHECK_OK(qa_model_save(&m, path));
    qa_model_free(&m);
    json_t *met = json_pack("{s:f}", "test_ic", ic), *tags = json_pack("{s:s}", "team", name);
    qa_registry_publish_req req = {name, path, met, NULL, NULL, tags, "test", "tester"};
    long v = -1;
    QA_CHECK_OK(qa_registry_publish(r, &req, &v));
    json_decref(met);
    json_decref(tags);
    return v;
}

static long alias_now(const char *ref) {
    qa_registry_t *r = NULL;
    qa_registry_version v;
    memset(&v, 0, sizeof v);
    QA_CHECK_OK(qa_registry_open(g_ctx.registry, 0, &r));
    QA_CHECK_OK(qa_registry_resolve(r, ref, &v));
    qa_registry_close(r);
    return v.version;
}

static void setup(void) {
    snprintf(g_ctx.registry, sizeof g_ctx.registry, "%s/reg", g_dir);
    qa_registry_t *r = NULL;
    QA_CHECK_OK(qa_registry_open(g_ctx.registry, 1, &r));
    QA_CHECK_INT(publish(r, "alpha", 1, 0.01), 1);
    QA_CHECK_INT(publish(r, "alpha", 2, 0.02), 2);
    QA_CHECK_INT(publish(r, "beta", 3, 0.05), 1);
    QA_CHECK_OK(qa_registry_alias_set(r, "alpha", "champion", 1, "tester", "first"));
    QA_CHECK_OK(qa_registry_alias_protect(r, "alpha", "champion", "alice", "tester"));
    qa_registry_close(r);
}

static void test_list(void) {
    qa_treq t;
    qa_api_resp resp;
    qa_treq_init(&t, &g_ctx, "GET", "bob", NULL, NULL);
    QA_CHECK_OK(qa_treq_call(qa_apimodels_list, &t, &resp));
    json_t *ms = json_object_get(resp.json, "models");
    QA_CHECK_INT(json_array_size(ms), 2);
    json_t *a = json_array_get(ms, 0), *b = json_array_get(ms, 1);
    QA_CHECK_STR(json_string_value(json_object_get(a, "name")), "alpha");
    QA_CHECK_INT(json_integer_value(json_object_get(a, "versions")), 2);
    QA_CHECK_INT(json_integer_value(json_object_get(a, "latest")), 2);
    QA_CHECK_INT(json_integer_value(json_object_get(json_object_get(a, "aliases"), "champion")), 1);
    QA_CHECK_INT(json_object_size(json_object_get(a, "aliases")), 1);
    const char *upd = json_string_value(json_object_get(a, "updated"));
    QA_CHECK_MSG(upd && strlen(upd) >= 20 && upd[4] == '-', "updated '%s'", upd ? upd : "(null)");
    QA_CHECK_STR(json_string_value(json_object_get(b, "name")), "beta");
    QA_CHECK_INT(json_integer_value(json_object_get(b, "latest")), 1);
    QA_CHECK_INT(json_object_size(json_object_get(b, "aliases")), 0);
    json_decref(resp.json);
    /* no registry configured: 404 with a message naming the setting */
    qa_api_ctx none;
    memset(&none, 0, sizeof none);
    qa_treq_init(&t, &none, "GET", "bob", NULL, NULL);
    QA_CHECK_ERR(qa_treq_call(qa_apimodels_list, &t, &resp), QA_ERR_NOT_FOUND, "registry");
}

static void test_show(void) {
    qa_treq t;
    qa_api_resp resp;
    qa_treq_init(&t, &g_ctx, "GET", "bob", "alpha", NULL);
    QA_CHECK_OK(qa_treq_call(qa_apimodels_show, &t, &resp));
    json_t *vs = json_object_get(resp.json, "versions");
    QA_CHECK_INT(json_array_size(vs), 2);
    json_t *v1 = json_array_get(vs, 0), *v2 = json_array_get(vs, 1);
    QA_CHECK_INT(json_integer_value(json_object_get(v1, "version")), 1);
    QA_CHECK_STR(json_string_value(json_object_get(v1, "who")), "tester");
    QA_CHECK(json_object_get(v1, "created_by") == NULL);
    QA_CHECK_INT(strlen(json_string_value(json_object_get(v1, "sha256"))), 64);
    QA_CHECK_STR(json_string_value(json_object_get(json_object_get(v1, "tags"), "team")), "alpha");
    QA_CHECK(fabs(json_real_value(json_object_get(json_object_get(v2, "metrics"), "test_ic")) - 0.02) < 1e-12);
    QA_CHECK_STR(json_string_value(json_array_get(json_object_get(v1, "aliases"), 0)), "champion");
    QA_CHECK_INT(json_array_size(json_object_get(v2, "aliases")), 0);
    json_t *al = json_array_get(json_object_get(resp.json, "aliases"), 0);
    QA_CHECK_STR(json_string_value(json_object_get(al, "alias")), "champion");
    QA_CHECK_STR(json_string_value(json_object_get(al, "protected_for")), "alice");
    json_t *h = json_object_get(resp.json, "alias_history");
    QA_CHECK_INT(json_array_size(h), 1);
    QA_CHECK_STR(json_string_value(json_object_get(json_array_get(h, 0), "why")), "first");
    json_decref(resp.json);
    qa_treq_init(&t, &g_ctx, "GET", "bob", "gamma", NULL);
    QA_CHECK_ERR(qa_treq_call(qa_apimodels_show, &t, &resp), QA_ERR_NOT_FOUND, "gamma");
    qa_treq_init(&t, &g_ctx, "GET", "bob", "../etc", NULL);
    QA_CHECK_ERR(qa_treq_call(qa_apimodels_show, &t, &resp), QA_ERR_INVALID_ARG, "model name");
}

static void test_version(void) {
    qa_treq t;
    qa_api_resp resp;
    qa_treq_init(&t, &g_ctx, "GET", "bob", "alpha", "2");
    QA_CHECK_OK(qa_treq_call(qa_apimodels_version, &t, &resp));
    QA_CHECK_INT(json_integer_value(json_object_get(resp.json, "version")), 2);
    QA_CHECK(fabs(json_real_value(json_object_get(json_object_get(resp.json, "metrics"), "test_ic")) - 0.02) < 1e-12);
    json_t *art = json_object_get(resp.json, "artifact");
    QA_CHECK_INT(strlen(json_string_value(json_object_get(art, "sha256"))), 64);
    QA_CHECK(json_object_get(art, "path") == NULL); /* the registry's layout is not answered */
    QA_CHECK(json_is_object(json_object_get(resp.json, "signature")));
    json_decref(resp.json);
    qa_treq_init(&t, &g_ctx, "GET", "bob", "alpha", "latest");
    QA_CHECK_OK(qa_treq_call(qa_apimodels_version, &t, &resp));
    QA_CHECK_INT(json_integer_value(json_object_get(resp.json, "version")), 2);
    json_decref(resp.json);
    static const char *const bad[] = {"0", "-1", "abc", "2x", "", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        qa_treq_init(&t, &g_ctx, "GET", "bob", "alpha", bad[i]);
        QA_CHECK_ERR(qa_treq_call(qa_apimodels_version, &t, &resp), QA_ERR_INVALID_ARG, "version");
    }
    qa_treq_init(&t, &g_ctx, "GET", "bob", "alpha", "9");
    QA_CHECK_ERR(qa_treq_call(qa_apimodels_version, &t, &resp), QA_ERR_NOT_FOUND, "9");
}

/* An alias move request: body {"version": v, "why": why} (v < 0: no version member). */
static qa_status move(const char *user, const char *name, const char *alias, long v, const char *why,
                      qa_api_resp *resp) {
    qa_treq t;
    qa_treq_init(&t, &g_ctx, "POST", user, name, alias);
    t.req.body = json_object();
    if (v >= 0) json_object_set_new(t.req.body, "version", json_integer(v));
    if (why) json_object_set_new(t.req.body, "why", json_string(why));
    qa_status st = qa_treq_call(qa_apimodels_alias, &t, resp);
    json_decref(t.req.body);
    return st;
}

static void test_alias(void) {
    qa_api_resp resp;
    QA_CHECK_OK(move("bob", "alpha", "challenger", 2, "try it", &resp));
    QA_CHECK_INT(resp.code, 0);
    QA_CHECK(json_is_null(json_object_get(resp.json, "from")));
    QA_CHECK_STR(resp.audit, "alias alpha@challenger -> v2");
    json_decref(resp.json);
    QA_CHECK_INT(alias_now("alpha@challenger"), 2);
    QA_CHECK_OK(move("bob", "alpha", "challenger", 1, NULL, &resp));
    QA_CHECK_INT(json_integer_value(json_object_get(resp.json, "from")), 2);
    json_decref(resp.json);
    QA_CHECK_INT(alias_now("alpha@challenger"), 1);
    /* protected for alice: bob gets 403 with the registry's words, nothing moves */
    QA_CHECK_OK(move("bob", "alpha", "champion", 2, "promote", &resp));
    QA_CHECK_INT(resp.code, 403);
    const char *err = json_string_value(json_object_get(resp.json, "error"));
    QA_CHECK_MSG(err && strstr(err, "protected") && strstr(err, "alice") && strstr(err, "bob"), "%s", err ? err : "(null)");
    QA_CHECK(strstr(resp.audit, "refused") != NULL);
    json_decref(resp.json);
    QA_CHECK_INT(alias_now("alpha@champion"), 1);
    QA_CHECK_OK(move("alice", "alpha", "champion", 2, "promote", &resp));
    QA_CHECK_INT(resp.code, 0);
    json_decref(resp.json);
    QA_CHECK_INT(alias_now("alpha@champion"), 2);
    /* refusals: body, version, alias name, model, caller */
    QA_CHECK_ERR(move("bob", "alpha", "challenger", -1, "x", &resp), QA_ERR_INVALID_ARG, "version");
    QA_CHECK_ERR(move("bob", "alpha", "challenger", 0, "x", &resp), QA_ERR_INVALID_ARG, "version");
    QA_CHECK_ERR(move("bob", "alpha", "challenger", 7, "x", &resp), QA_ERR_NOT_FOUND, "7");
    QA_CHECK_ERR(move("bob", "alpha", "latest", 1, "x", &resp), QA_ERR_INVALID_ARG, "latest");
    QA_CHECK_ERR(move("bob", "gamma", "challenger", 1, "x", &resp), QA_ERR_NOT_FOUND, "gamma");
    QA_CHECK_ERR(move("", "alpha", "challenger", 1, "x", &resp), QA_ERR_INVALID_ARG, "authenticated");
    QA_CHECK_INT(alias_now("alpha@challenger"), 1);
}

int main(void) {
    if (qa_test_tmpdir(g_dir, sizeof g_dir, "apimodels")) {
        printf("cannot create a temporary directory\n");
        return 1;
    }
    setup();
    QA_RUN(test_list);
    QA_RUN(test_show);
    QA_RUN(test_version);
    QA_RUN(test_alias);
    qa_test_rmtree(g_dir);
    return qa_test_finish();
}
