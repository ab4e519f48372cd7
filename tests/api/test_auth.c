/* qa serve's users, keys, tokens and audit log (api/auth.c, api/audit.c): logins, scoped
 * keys, refresh rotation, revocation that takes effect at once, tokens that are forged,
 * tampered, of another algorithm or expired, and an audit chain that detects a changed, a
 * deleted and a cut-off row. */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/audit.h"
#include "api/auth.h"
#include "common/status.h"
#include "harness.h"

static char dir[256];

static void test_roles(void) {
    unsigned r = 0;
    char buf[64];
    QA_CHECK_OK(qa_auth_roles_parse("risk,trader", &r));
    QA_CHECK_INT(r, QA_ROLE_RISK | QA_ROLE_TRADER);
    QA_CHECK_STR(qa_auth_roles_text(r, buf, sizeof buf), "risk,trader");
    QA_CHECK_ERR(qa_auth_roles_parse("trader,boss", &r), QA_ERR_INVALID_ARG, "'boss'");
    QA_CHECK_ERR(qa_auth_roles_parse("", &r), QA_ERR_INVALID_ARG, "expected one or more");
}

/* The base64url payload of a JWT replaced, or its header: forgeries to refuse. */
static void forge(const char *tok, const char *header, char *out, size_t cap) {
    const char *dot = strchr(tok, '.');
    snprintf(out, cap, "%s%s", header, dot);
}

static void test_logins_and_tokens(void) {
    qa_auth_t *a = NULL;
    QA_CHECK_OK(qa_auth_open(dir, 1, &a));
    if (!a) return;
    QA_CHECK_OK(qa_auth_user_add(a, "alice", QA_ROLE_RESEARCHER | QA_ROLE_TRADER, "correct horse"));
    QA_CHECK_ERR(qa_auth_user_add(a, "alice", QA_ROLE_RISK, "another one"), QA_ERR_EXISTS, "exists");
    QA_CHECK_ERR(qa_auth_user_add(a, "bob", QA_ROLE_RISK, "short"), QA_ERR_INVALID_ARG, "8 or more");
    QA_CHECK_ERR(qa_auth_user_add(a, "bo b", QA_ROLE_RISK, NULL), QA_ERR_INVALID_ARG, "byte 2");
    qa_auth_tokens t, t2;
    qa_auth_who who;
    QA_CHECK_OK(qa_auth_login_password(a, "alice", "correct horse", &t));
    QA_CHECK_INT(t.roles, QA_ROLE_RESEARCHER | QA_ROLE_TRADER);
    QA_CHECK_OK(qa_auth_verify(a, t.access, &who));
    QA_CHECK_STR(who.user, "alice");
    QA_CHECK_INT(who.roles, QA_ROLE_RESEARCHER | QA_ROLE_TRADER);
    /* wrong password and unknown user: one answer, so names cannot be probed */
    QA_CHECK_ERR(qa_auth_login_password(a, "alice", "wrong horse", &t2), QA_ERR_STATE, "login failed");
    char msg[256];
    snprintf(msg, sizeof msg, "%s", qa_err_msg());
    QA_CHECK_ERR(qa_auth_login_password(a, "mallory", "wrong horse", &t2), QA_ERR_STATE, "login failed");
    QA_CHECK_STR(qa_err_msg(), msg);

    /* forgeries: a changed signature, "alg":"none", a payload with more roles */
    char bad[QA_AUTH_TOKEN_MAX + 64];
    snprintf(bad, sizeof bad, "%s", t.access);
    bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
    QA_CHECK_ERR(qa_auth_verify(a, bad, &who), QA_ERR_STATE, "access token");
    forge(t.access, "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0", bad, sizeof bad); /* {"alg":"none","typ":"JWT"} */
    QA_CHECK_ERR(qa_auth_verify(a, bad, &who), QA_ERR_STATE, "access token");
    const char *d1 = strchr(t.access, '.'), *d2 = strrchr(t.access, '.');
    /* {"exp":9999999999,"kid":"","roles":15,"sub":"alice"} with alice's signature */
    snprintf(bad, sizeof bad, "%.*s.eyJleHAiOjk5OTk5OTk5OTksImtpZCI6IiIsInJvbGVzIjoxNSwic3ViIjoiYWxpY2UifQ%s",
             (int)(d1 - t.access), t.access, d2);
    QA_CHECK_ERR(qa_auth_verify(a, bad, &who), QA_ERR_STATE, "access token");
    QA_CHECK_ERR(qa_auth_verify(a, "", &who), QA_ERR_STATE, "access token");

    /* a key scoped below the user's roles; a scope above them is refused */
    char key[QA_AUTH_KEY_MAX], id[16];
    QA_CHECK_ERR(qa_auth_key_add(a, "alice", QA_ROLE_ADMIN, "x", key, id), QA_ERR_INVALID_ARG, "exceeds");
    QA_CHECK_OK(qa_auth_key_add(a, "alice", QA_ROLE_RESEARCHER, "notebook", key, id));
    QA_CHECK_OK(qa_auth_login_key(a, key, &t2));
    QA_CHECK_INT(t2.roles, QA_ROLE_RESEARCHER);
    key[strlen(key) - 1] ^= 1;
    QA_CHECK_ERR(qa_auth_login_key(a, key, &t2), QA_ERR_STATE, "key");
    key[strlen(key) - 1] ^= 1;

    /* refresh rotates: the old refresh token is dead after one use */
    qa_auth_tokens r1, r2;
    QA_CHECK_OK(qa_auth_refresh(a, t2.refresh, &r1));
    QA_CHECK_INT(r1.roles, QA_ROLE_RESEARCHER);
    QA_CHECK_ERR(qa_auth_refresh(a, t2.refresh, &r2), QA_ERR_STATE, "expired, used or revoked");
    QA_CHECK_ERR(qa_auth_refresh(a, "qar_0123456789abcdef_nope", &r2), QA_ERR_STATE, "unknown");

    /* revoking the key refuses its access token at once, and its refresh token */
    QA_CHECK_OK(qa_auth_verify(a, r1.access, &who));
    QA_CHECK_OK(qa_auth_revoke_key(a, id));
    QA_CHECK_ERR(qa_auth_verify(a, r1.access, &who), QA_ERR_STATE, "revoked");
    QA_CHECK_ERR(qa_auth_refresh(a, r1.refresh, &r2), QA_ERR_STATE, "revoked");
    QA_CHECK_ERR(qa_auth_login_key(a, key, &t2), QA_ERR_STATE, "key");
    QA_CHECK_OK(qa_auth_verify(a, t.access, &who)); /* the password session is untouched */
    QA_CHECK_OK(qa_auth_revoke_user(a, "alice"));
    QA_CHECK_ERR(qa_auth_verify(a, t.access, &who), QA_ERR_STATE, "revoked");
    QA_CHECK_ERR(qa_auth_login_password(a, "alice", "correct horse", &t2), QA_ERR_STATE, "login failed");
    QA_CHECK_ERR(qa_auth_revoke_user(a, "alice"), QA_ERR_NOT_FOUND, "alice");

    /* expiry: a 1-second token is refused after it */
    QA_CHECK_OK(qa_auth_user_add(a, "carol", QA_ROLE_RISK, "carol's password"));
    qa_auth_set_ttl(a, 1, 0);
    QA_CHECK_OK(qa_auth_login_password(a, "carol", "carol's password", &t));
    sleep(2);
    QA_CHECK_ERR(qa_auth_verify(a, t.access, &who), QA_ERR_STATE, "expired");
    json_t *list = NULL;
    QA_CHECK_OK(qa_auth_list(a, &list));
    QA_CHECK_INT(json_array_size(json_object_get(list, "users")), 2);
    char *text = json_dumps(list, 0);
    QA_CHECK(text && !strstr(text, "argon2")); /* never the hashes */
    free(text);
    json_decref(list);
    qa_auth_close(a);
}

static void append(qa_audit_t *a, int i) {
    char detail[32];
    snprintf(detail, sizeof detail, "action %d\x1fwith a separator", i);
    qa_audit_entry e = {"alice", "trader", "127.0.0.1", "POST", "/api/live/kill", 202, "ok", detail};
    QA_CHECK_OK(qa_audit_append(a, &e));
}

static void sql(const char *db, const char *text) {
    sqlite3 *h = NULL;
    QA_CHECK_INT(sqlite3_open(db, &h), SQLITE_OK);
    char *err = NULL;
    QA_CHECK_MSG(sqlite3_exec(h, text, NULL, NULL, &err) == SQLITE_OK, "%s: %s", text, err ? err : "");
    sqlite3_free(err);
    sqlite3_close(h);
}

static void test_audit_chain(void) {
    char sub[300], db[400], cmd[1200];
    snprintf(sub, sizeof sub, "%s/audit", dir);
    snprintf(db, sizeof db, "%s/audit.db", sub);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", sub);
    QA_CHECK_INT(system(cmd), 0);
    qa_audit_t *a = NULL;
    QA_CHECK_OK(qa_audit_open(sub, &a));
    if (!a) return;
    for (int i = 0; i < 6; i++) append(a, i);
    /* append-only at the database level */
    sqlite3 *h = NULL;
    QA_CHECK_INT(sqlite3_open(db, &h), SQLITE_OK);
    QA_CHECK(sqlite3_exec(h, "UPDATE audit SET user='bob' WHERE seq=2", NULL, NULL, NULL) != SQLITE_OK);
    QA_CHECK(sqlite3_exec(h, "DELETE FROM audit WHERE seq=2", NULL, NULL, NULL) != SQLITE_OK);
    sqlite3_close(h);
    qa_audit_close(a);
    qa_audit_report r;
    QA_CHECK_OK(qa_audit_verify(sub, &r));
    QA_CHECK_INT(r.first_bad, -1);
    QA_CHECK_INT(r.rows, 6);
    /* whoever drops the triggers is still caught: a changed row, a deleted one, a cut tail */
    snprintf(cmd, sizeof cmd, "cp '%s' '%s.orig'", db, db);
    QA_CHECK_INT(system(cmd), 0);
    sql(db, "DROP TRIGGER audit_no_update; UPDATE audit SET user='bob' WHERE seq=3");
    QA_CHECK_OK(qa_audit_verify(sub, &r));
    QA_CHECK_INT(r.first_bad, 3);
    QA_CHECK(strstr(r.detail, "changed") != NULL);
    snprintf(cmd, sizeof cmd, "cp '%s.orig' '%s'", db, db);
    QA_CHECK_INT(system(cmd), 0);
    sql(db, "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq=4");
    QA_CHECK_OK(qa_audit_verify(sub, &r));
    QA_CHECK_INT(r.first_bad, 4);
    QA_CHECK(strstr(r.detail, "missing") != NULL);
    snprintf(cmd, sizeof cmd, "cp '%s.orig' '%s'", db, db);
    QA_CHECK_INT(system(cmd), 0);
    sql(db, "DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq=6");
    QA_CHECK_OK(qa_audit_verify(sub, &r));
    QA_CHECK_INT(r.first_bad, 6);
    QA_CHECK(strstr(r.detail, "removed at the end") != NULL);
    /* and the server refuses to append to a log that lost its end */
    QA_CHECK_ERR(qa_audit_open(sub, &a), QA_ERR_INTEGRITY, "rows were removed");
    snprintf(cmd, sizeof cmd, "cp '%s.orig' '%s'", db, db);
    QA_CHECK_INT(system(cmd), 0);
    QA_CHECK_OK(qa_audit_open(sub, &a));
    json_t *page = NULL;
    QA_CHECK_OK(qa_audit_page(a, 1, 4, &page));
    QA_CHECK_INT(json_array_size(json_object_get(page, "rows")), 4);
    QA_CHECK_INT(json_integer_value(json_array_get(json_array_get(json_object_get(page, "rows"), 0), 0)), 6);
    QA_CHECK_INT(json_integer_value(json_object_get(page, "pages")), 2);
    json_decref(page);
    qa_audit_close(a);
}

int main(void) {
    if (qa_test_tmpdir(dir, sizeof dir, "auth")) return 1;
    QA_RUN(test_roles);
    QA_RUN(test_logins_and_tokens);
    QA_RUN(test_audit_chain);
    qa_test_rmtree(dir);
    return qa_test_finish();
}
