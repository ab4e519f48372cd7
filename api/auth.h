/* qa serve's users, API keys and tokens (docs/api.md, "Authentication"), in
 * <state_dir>/users.db (SQLite, mode 0600):
 *   - a user has a name, roles and optionally a password; a user has API keys, each scoped
 *     to a subset of the user's roles; passwords and keys are stored as Argon2id hashes;
 *   - logging in (password or key) issues a short-lived access token (a JWT, HS256, signed
 *     with a random secret kept in the database) and a refresh token (random, stored as its
 *     SHA-256: it is high-entropy, so a slow hash adds nothing), rotated at every use;
 *   - revoking a user or a key refuses its tokens at once: every verification looks the
 *     user and key up, so revocation does not wait for a token to expire.
 * Safe from several threads (one connection behind a mutex; Argon2 runs outside it). */
#ifndef QA_API_AUTH_H
#define QA_API_AUTH_H

#include <jansson.h>  /* json_t */
#include <stdint.h>   /* int64_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_auth qa_auth_t;

/* An API key as handed to its owner: "qak_" + 12 hex id + "_" + 43 base64url secret. */
#define QA_AUTH_KEY_MAX 80
#define QA_AUTH_TOKEN_MAX 1024

typedef struct qa_auth_tokens {
    char access[QA_AUTH_TOKEN_MAX];
    char refresh[QA_AUTH_TOKEN_MAX];
    long expires_in; /* seconds of the access token */
    char user[64];
    unsigned roles;
} qa_auth_tokens;

typedef struct qa_auth_who {
    char user[64];
    unsigned roles;
    char key_id[16]; /* "" for a password login */
    int64_t expires; /* the token's exp, Unix seconds */
} qa_auth_who;

/* Opens <state_dir>/users.db, creating the folder and database when `create`. */
qa_status qa_auth_open(const char *state_dir, int create, qa_auth_t **out);
void qa_auth_close(qa_auth_t *a);
/* Token lifetimes (defaults 900 s and 86400 s). */
void qa_auth_set_ttl(qa_auth_t *a, long access_s, long refresh_s);

/* Role names <-> bits: "researcher,risk" -> bits; QA_ERR_INVALID_ARG names a bad one. */
qa_status qa_auth_roles_parse(const char *text, unsigned *roles);
/* "researcher,trader" into buf. */
const char *qa_auth_roles_text(unsigned roles, char *buf, size_t cap);
json_t *qa_auth_roles_json(unsigned roles);

/* Users. A password may be NULL (key-only user). QA_ERR_EXISTS for a taken name. */
qa_status qa_auth_user_add(qa_auth_t *a, const char *name, unsigned roles, const char *password);
qa_status qa_auth_user_count(qa_auth_t *a, long *n);
/* A new key for `user`, scoped to `scope` (0 = all the user's roles; bits beyond the
 * user's roles are refused). The key text is returned once and never stored. */
qa_status qa_auth_key_add(qa_auth_t *a, const char *user, unsigned scope, const char *label,
                          char key[QA_AUTH_KEY_MAX], char id[16]);
/* Revokes a user (all keys and refresh tokens) or one key by id. QA_ERR_NOT_FOUND. */
qa_status qa_auth_revoke_user(qa_auth_t *a, const char *name);
qa_status qa_auth_revoke_key(qa_auth_t *a, const char *id);
/* {"users":[{"name","roles","created","revoked","keys":[{"id","label","roles","created","revoked","last_used"}]}]} */
qa_status qa_auth_list(qa_auth_t *a, json_t **out);

/* Logins. A failure is QA_ERR_STATE with the same text for an unknown user and a wrong
 * password, so the answer does not say which names exist. */
qa_status qa_auth_login_password(qa_auth_t *a, const char *user, const char *password, qa_auth_tokens *out);
qa_status qa_auth_login_key(qa_auth_t *a, const char *key, qa_auth_tokens *out);
qa_status qa_auth_refresh(qa_auth_t *a, const char *refresh, qa_auth_tokens *out);
qa_status qa_auth_logout(qa_auth_t *a, const char *refresh);
/* Verifies an access token: signature, algorithm, expiry, and that neither the user nor
 * the key is revoked. QA_ERR_STATE with the reason otherwise. */
qa_status qa_auth_verify(qa_auth_t *a, const char *token, qa_auth_who *who);

#ifdef __cplusplus
}
#endif
#endif
