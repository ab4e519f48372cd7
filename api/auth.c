/* Users, keys and tokens of qa serve (api/auth.h). */
#include "api/auth.h"

#include <argon2.h>      /* Argon2id password and key hashes */
#include <errno.h>       /* errno of mkdir and getrandom */
#include <jwt.h>         /* HS256 access tokens */
#include <pthread.h>     /* the connection's mutex */
#include <sqlite3.h>     /* users.db */
#include <stdio.h>       /* snprintf */
#include <stdlib.h>      /* calloc, free */
#include <string.h>      /* strlen, strcmp, memcpy */
#include <sys/random.h>  /* getrandom: secrets, keys, refresh tokens */
#include <sys/stat.h>    /* mkdir, chmod */
#include <time.h>        /* time */

#include "api/api.h"     /* role bits */
#include "common/hash.h"  /* SHA-256 of refresh tokens */
#include "common/sqlite.h"

/* OWASP's Argon2id baseline: 19 MiB, 2 passes, 1 lane (about 30 ms here). */
#define ARGON_T 2u
#define ARGON_M 19456u
#define ARGON_P 1u
#define ENCODED_MAX 160

struct qa_auth {
    sqlite3 *db;
    pthread_mutex_t mu;
    unsigned char secret[32]; /* the HS256 key */
    long access_s, refresh_s;
    char dummy[ENCODED_MAX];  /* verified against for unknown users, so their answer takes as long */
};

static const char *const schema =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('format', 'quantumalpha.users'), ('format_version', '1');"
    "CREATE TABLE IF NOT EXISTS users(name TEXT PRIMARY KEY, roles INTEGER NOT NULL, password TEXT,"
    " created INTEGER NOT NULL, revoked INTEGER);"
    "CREATE TABLE IF NOT EXISTS keys(id TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name),"
    " roles INTEGER NOT NULL, label TEXT NOT NULL, hash TEXT NOT NULL, created INTEGER NOT NULL, revoked INTEGER,"
    " last_used INTEGER);"
    "CREATE TABLE IF NOT EXISTS refresh(id TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name),"
    " key_id TEXT NOT NULL, roles INTEGER NOT NULL, hash TEXT NOT NULL, expires INTEGER NOT NULL, revoked INTEGER);";

static const char *const role_names[] = {"researcher", "risk", "trader", "admin"};

qa_status qa_auth_roles_parse(const char *text, unsigned *roles) {
    unsigned r = 0;
    const char *p = text ? text : "";
    while (*p) {
        size_t n = strcspn(p, ",");
        size_t i = 0;
        for (; i < 4; i++)
            if (strlen(role_names[i]) == n && strncmp(p, role_names[i], n) == 0) break;
        if (i == 4)
            return QA_FAIL(QA_ERR_INVALID_ARG, "role '%.*s': expected researcher, risk, trader or admin",
                           (int)(n > 32 ? 32 : n), p);
        r |= 1u << i;
        p += n;
        if (*p == ',') p++;
    }
    if (!r) return QA_FAIL(QA_ERR_INVALID_ARG, "roles '%s': expected one or more of researcher, risk, trader, admin",
                           text ? text : "");
    *roles = r;
    return QA_OK;
}

const char *qa_auth_roles_text(unsigned roles, char *buf, size_t cap) {
    size_t n = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < 4; i++)
        if (roles & (1u << i)) {
            int w = snprintf(buf + n, cap - n, "%s%s", n ? "," : "", role_names[i]);
            if (w < 0 || (size_t)w >= cap - n) break;
            n += (size_t)w;
        }
    return buf;
}

json_t *qa_auth_roles_json(unsigned roles) {
    json_t *a = json_array();
    for (unsigned i = 0; a && i < 4; i++)
        if (roles & (1u << i)) json_array_append_new(a, json_string(role_names[i]));
    return a;
}

static qa_status random_bytes(void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom((char *)buf + got, n - got, 0);
        if (r < 0) {
            if (errno == EINTR) continue;
            return QA_FAIL(QA_ERR_IO, "getrandom: %s", strerror(errno));
        }
        got += (size_t)r;
    }
    return QA_OK;
}

static void hex(const unsigned char *b, size_t n, char *out) {
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) out[2 * i] = d[b[i] >> 4], out[2 * i + 1] = d[b[i] & 15];
    out[2 * n] = '\0';
}

/* base64url without padding: the secret part of keys and refresh tokens. */
static void b64url(const unsigned char *b, size_t n, char *out) {
    static const char d[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)b[i] << 16 | (i + 1 < n ? (unsigned)b[i + 1] << 8 : 0) | (i + 2 < n ? b[i + 2] : 0);
        out[o++] = d[v >> 18 & 63], out[o++] = d[v >> 12 & 63];
        if (i + 1 < n) out[o++] = d[v >> 6 & 63];
        if (i + 2 < n) out[o++] = d[v & 63];
    }
    out[o] = '\0';
}

static qa_status argon_hash(const char *secret, char out[ENCODED_MAX]) {
    unsigned char salt[16];
    QA_TRY_RET(random_bytes(salt, sizeof salt));
    int rc = argon2id_hash_encoded(ARGON_T, ARGON_M, ARGON_P, secret, strlen(secret), salt, sizeof salt, 32, out,
                                   ENCODED_MAX);
    if (rc != ARGON2_OK) return QA_FAIL(QA_ERR_NOMEM, "argon2id: %s", argon2_error_message(rc));
    return QA_OK;
}

/* 1 when `secret` matches; a malformed stored hash counts as a mismatch. */
static int argon_ok(const char *encoded, const char *secret) {
    return argon2id_verify(encoded, secret, strlen(secret)) == ARGON2_OK;
}

/* Constant-time comparison of two equal-length hex digests. */
static int same_digest(const char *a, const char *b) {
    size_t n = strlen(a);
    if (n != strlen(b)) return 0;
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++) d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

static qa_status load_secret(qa_auth_t *a) {
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(a->db, "SELECT value FROM meta WHERE key='jwt_secret'", &s));
    int rc = sqlite3_step(s);
    char text[65] = "";
    if (rc == SQLITE_ROW) snprintf(text, sizeof text, "%s", qa_sqlite_text(s, 0));
    sqlite3_finalize(s);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return QA_SQLITE_CHECK(a->db, rc);
    if (strlen(text) == 64) {
        if (qa_hex_decode(text, 32, a->secret) != QA_OK)
            return QA_FAIL(QA_ERR_FORMAT, "users.db: meta jwt_secret is not 64 hex digits");
        return QA_OK;
    }
    QA_TRY_RET(random_bytes(a->secret, sizeof a->secret));
    hex(a->secret, sizeof a->secret, text);
    QA_TRY_RET(qa_sqlite_prepare(a->db, "INSERT OR REPLACE INTO meta VALUES('jwt_secret', ?)", &s));
    qa_sqlite_bind_text(s, 1, text);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? QA_OK : QA_SQLITE_CHECK(a->db, rc);
}

qa_status qa_auth_open(const char *state_dir, int create, qa_auth_t **out) {
    char path[1024];
    if (create && mkdir(state_dir, 0700) != 0 && errno != EEXIST)
        return QA_FAIL(QA_ERR_IO, "%s: cannot create the state folder: %s", state_dir, strerror(errno));
    if (snprintf(path, sizeof path, "%s/users.db", state_dir) >= (int)sizeof path)
        return QA_FAIL(QA_ERR_INVALID_ARG, "state folder path too long: %s", state_dir);
    qa_auth_t *a = calloc(1, sizeof *a);
    if (!a) return QA_FAIL(QA_ERR_NOMEM, "auth");
    a->access_s = 900, a->refresh_s = 86400;
    pthread_mutex_init(&a->mu, NULL);
    int wal = 0;
    qa_status st = qa_sqlite_open(path, create, 5000, &a->db, &wal);
    /* the database holds the signing secret and the hashes: owner only */
    if (st == QA_OK && chmod(path, 0600) != 0)
        st = QA_FAIL(QA_ERR_IO, "%s: chmod 0600: %s", path, strerror(errno));
    if (st == QA_OK) st = qa_sqlite_check_format(a->db, path, "quantumalpha.users", "1");
    if (st == QA_OK) st = qa_sqlite_exec(a->db, schema);
    if (st == QA_OK) st = load_secret(a);
    if (st == QA_OK) st = argon_hash("no such user", a->dummy);
    if (st != QA_OK) {
        qa_auth_close(a);
        return st;
    }
    *out = a;
    return QA_OK;
}

void qa_auth_close(qa_auth_t *a) {
    if (!a) return;
    qa_sqlite_close(a->db);
    pthread_mutex_destroy(&a->mu);
    memset(a->secret, 0, sizeof a->secret);
    free(a);
}

void qa_auth_set_ttl(qa_auth_t *a, long access_s, long refresh_s) {
    if (access_s > 0) a->access_s = access_s;
    if (refresh_s > 0) a->refresh_s = refresh_s;
}

/* Runs one statement with text/int binds ("t" = text, "i" = int64) under the mutex the
 * caller holds; *changes receives the rows changed. */
static qa_status run(qa_auth_t *a, const char *sql, const char *types, const void *const *vals, int *changes) {
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(a->db, sql, &s));
    for (int i = 0; types[i]; i++) {
        if (types[i] == 't') qa_sqlite_bind_text(s, i + 1, vals[i]);
        else sqlite3_bind_int64(s, i + 1, *(const long long *)vals[i]);
    }
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return QA_SQLITE_CHECK(a->db, rc);
    if (changes) *changes = sqlite3_changes(a->db);
    return QA_OK;
}

static qa_status check_name(const char *name) {
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 63) return QA_FAIL(QA_ERR_INVALID_ARG, "user name: expected 1 to 63 bytes");
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.' || c == '@'))
            return QA_FAIL(QA_ERR_INVALID_ARG, "user name '%s': byte %zu ('%c') is not a letter, digit or _-.@",
                           name, i, c);
    }
    return QA_OK;
}

qa_status qa_auth_user_add(qa_auth_t *a, const char *name, unsigned roles, const char *password) {
    QA_TRY_RET(check_name(name));
    if (!roles || roles & ~(unsigned)QA_ROLE_ALL) return QA_FAIL(QA_ERR_INVALID_ARG, "user %s: no valid role", name);
    char enc[ENCODED_MAX] = "";
    if (password) {
        if (strlen(password) < 8) return QA_FAIL(QA_ERR_INVALID_ARG, "user %s: a password needs 8 or more bytes", name);
        QA_TRY_RET(argon_hash(password, enc));
    }
    long long r = roles, now = (long long)time(NULL);
    const void *v[] = {name, &r, password ? enc : NULL, &now};
    pthread_mutex_lock(&a->mu);
    qa_status st = run(a, "INSERT INTO users(name, roles, password, created) VALUES(?, ?, ?, ?)", "titi", v, NULL);
    pthread_mutex_unlock(&a->mu);
    if (st != QA_OK && strstr(qa_err_msg(), "UNIQUE"))
        return QA_FAIL(QA_ERR_EXISTS, "user %s exists already", name);
    return st;
}

qa_status qa_auth_user_count(qa_auth_t *a, long *n) {
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&a->mu);
    qa_status st = qa_sqlite_prepare(a->db, "SELECT count(*) FROM users", &s);
    if (st == QA_OK) {
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) *n = (long)sqlite3_column_int64(s, 0);
        else st = QA_SQLITE_CHECK(a->db, rc);
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&a->mu);
    return st;
}

/* The user's roles and revocation; QA_ERR_NOT_FOUND when absent. Caller holds the mutex. */
static qa_status user_row(qa_auth_t *a, const char *name, unsigned *roles, int *revoked, char *password) {
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(a->db, "SELECT roles, revoked IS NOT NULL, password FROM users WHERE name=?", &s));
    qa_sqlite_bind_text(s, 1, name);
    int rc = sqlite3_step(s);
    qa_status st = QA_OK;
    if (rc == SQLITE_ROW) {
        *roles = (unsigned)sqlite3_column_int64(s, 0);
        *revoked = sqlite3_column_int(s, 1);
        if (password) snprintf(password, ENCODED_MAX, "%s", qa_sqlite_text(s, 2));
    } else if (rc == SQLITE_DONE) st = QA_FAIL(QA_ERR_NOT_FOUND, "no user %s", name);
    else st = QA_SQLITE_CHECK(a->db, rc);
    sqlite3_finalize(s);
    return st;
}

qa_status qa_auth_key_add(qa_auth_t *a, const char *user, unsigned scope, const char *label,
                          char key[QA_AUTH_KEY_MAX], char id[16]) {
    unsigned char raw[6 + 32];
    QA_TRY_RET(random_bytes(raw, sizeof raw));
    char secret[48], enc[ENCODED_MAX];
    hex(raw, 6, id);
    b64url(raw + 6, 32, secret);
    QA_TRY_RET(argon_hash(secret, enc));
    pthread_mutex_lock(&a->mu);
    unsigned roles = 0;
    int revoked = 0;
    qa_status st = user_row(a, user, &roles, &revoked, NULL);
    if (st == QA_OK && revoked) st = QA_FAIL(QA_ERR_STATE, "user %s is revoked", user);
    if (st == QA_OK && scope & ~roles) {
        char want[64], have[64];
        st = QA_FAIL(QA_ERR_INVALID_ARG, "key scope %s exceeds user %s's roles %s", qa_auth_roles_text(scope, want, 64),
                     user, qa_auth_roles_text(roles, have, 64));
    }
    if (st == QA_OK) {
        long long r = scope ? scope : roles, now = (long long)time(NULL);
        const void *v[] = {id, user, &r, label ? label : "", enc, &now};
        st = run(a, "INSERT INTO keys(id, user, roles, label, hash, created) VALUES(?, ?, ?, ?, ?, ?)", "ttitti", v,
                 NULL);
    }
    pthread_mutex_unlock(&a->mu);
    if (st == QA_OK) snprintf(key, QA_AUTH_KEY_MAX, "qak_%s_%s", id, secret);
    return st;
}

qa_status qa_auth_revoke_user(qa_auth_t *a, const char *name) {
    long long now = (long long)time(NULL);
    const void *v[] = {&now, name};
    int n = 0;
    pthread_mutex_lock(&a->mu);
    qa_status st = qa_sqlite_begin(a->db);
    if (st == QA_OK) st = run(a, "UPDATE users SET revoked=? WHERE name=? AND revoked IS NULL", "it", v, &n);
    if (st == QA_OK) st = run(a, "UPDATE keys SET revoked=? WHERE user=? AND revoked IS NULL", "it", v, NULL);
    if (st == QA_OK) st = run(a, "UPDATE refresh SET revoked=? WHERE user=? AND revoked IS NULL", "it", v, NULL);
    if (st == QA_OK) st = qa_sqlite_commit(a->db);
    else qa_sqlite_rollback(a->db);
    pthread_mutex_unlock(&a->mu);
    if (st == QA_OK && n == 0) return QA_FAIL(QA_ERR_NOT_FOUND, "no active user %s", name);
    return st;
}

qa_status qa_auth_revoke_key(qa_auth_t *a, const char *id) {
    long long now = (long long)time(NULL);
    const void *v[] = {&now, id};
    int n = 0;
    pthread_mutex_lock(&a->mu);
    qa_status st = qa_sqlite_begin(a->db);
    if (st == QA_OK) st = run(a, "UPDATE keys SET revoked=? WHERE id=? AND revoked IS NULL", "it", v, &n);
    if (st == QA_OK) st = run(a, "UPDATE refresh SET revoked=? WHERE key_id=? AND revoked IS NULL", "it", v, NULL);
    if (st == QA_OK) st = qa_sqlite_commit(a->db);
    else qa_sqlite_rollback(a->db);
    pthread_mutex_unlock(&a->mu);
    if (st == QA_OK && n == 0) return QA_FAIL(QA_ERR_NOT_FOUND, "no active key %s", id);
    return st;
}

static json_t *opt_int(sqlite3_stmt *s, int col) {
    return sqlite3_column_type(s, col) == SQLITE_NULL ? json_null() : json_integer(sqlite3_column_int64(s, col));
}

qa_status qa_auth_list(qa_auth_t *a, json_t **out) {
    json_t *users = json_array(), *root = json_pack("{s:o}", "users", users);
    if (!root) return QA_FAIL(QA_ERR_NOMEM, "users list");
    sqlite3_stmt *s = NULL, *k = NULL;
    pthread_mutex_lock(&a->mu);
    qa_status st = qa_sqlite_prepare(a->db, "SELECT name, roles, created, revoked, password IS NOT NULL FROM users "
                                            "ORDER BY name", &s);
    if (st == QA_OK)
        st = qa_sqlite_prepare(a->db, "SELECT id, label, roles, created, revoked, last_used FROM keys WHERE user=? "
                                      "ORDER BY created, id", &k);
    int rc = SQLITE_DONE;
    while (st == QA_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        json_t *keys = json_array();
        json_array_append_new(users, json_pack("{s:s, s:o, s:I, s:o, s:b, s:o}", "name", qa_sqlite_text(s, 0), "roles",
                                               qa_auth_roles_json((unsigned)sqlite3_column_int64(s, 1)), "created",
                                               (json_int_t)sqlite3_column_int64(s, 2), "revoked", opt_int(s, 3),
                                               "password", sqlite3_column_int(s, 4), "keys", keys));
        sqlite3_reset(k);
        qa_sqlite_bind_text(k, 1, qa_sqlite_text(s, 0));
        int kr;
        while ((kr = sqlite3_step(k)) == SQLITE_ROW)
            json_array_append_new(keys, json_pack("{s:s, s:s, s:o, s:I, s:o, s:o}", "id", qa_sqlite_text(k, 0),
                                                  "label", qa_sqlite_text(k, 1), "roles",
                                                  qa_auth_roles_json((unsigned)sqlite3_column_int64(k, 2)), "created",
                                                  (json_int_t)sqlite3_column_int64(k, 3), "revoked", opt_int(k, 4),
                                                  "last_used", opt_int(k, 5)));
        if (kr != SQLITE_DONE) st = QA_SQLITE_CHECK(a->db, kr);
    }
    if (st == QA_OK && rc != SQLITE_DONE) st = QA_SQLITE_CHECK(a->db, rc);
    sqlite3_finalize(s);
    sqlite3_finalize(k);
    pthread_mutex_unlock(&a->mu);
    if (st != QA_OK) {
        json_decref(root);
        return st;
    }
    *out = root;
    return QA_OK;
}

/* Signs an access token and stores a new refresh token for (user, key, roles). */
static qa_status issue(qa_auth_t *a, const char *user, const char *key_id, unsigned roles, qa_auth_tokens *out) {
    long long now = (long long)time(NULL), exp = now + a->access_s, rexp = now + a->refresh_s;
    jwt_t *j = NULL;
    if (jwt_new(&j) != 0) return QA_FAIL(QA_ERR_NOMEM, "jwt_new");
    int rc = jwt_set_alg(j, JWT_ALG_HS256, a->secret, (int)sizeof a->secret);
    if (!rc) rc = jwt_add_grant(j, "iss", "quantumalpha");
    if (!rc) rc = jwt_add_grant(j, "sub", user);
    if (!rc) rc = jwt_add_grant(j, "kid", key_id);
    if (!rc) rc = jwt_add_grant_int(j, "roles", (long)roles);
    if (!rc) rc = jwt_add_grant_int(j, "iat", (long)now);
    if (!rc) rc = jwt_add_grant_int(j, "exp", (long)exp);
    char *tok = rc ? NULL : jwt_encode_str(j);
    jwt_free(j);
    if (!tok) return QA_FAIL(QA_ERR_NOMEM, "jwt: cannot sign a token (%s)", rc ? strerror(rc) : "encode failed");
    size_t tl = strlen(tok);
    if (tl >= sizeof out->access) {
        free(tok); /* libjwt 1.10 allocates with malloc */
        return QA_FAIL(QA_ERR_LIMIT, "jwt: token of %zu bytes", tl);
    }
    memcpy(out->access, tok, tl + 1);
    free(tok); /* libjwt 1.10 allocates with malloc */
    unsigned char raw[8 + 32];
    QA_TRY_RET(random_bytes(raw, sizeof raw));
    char id[17], secret[48], digest[QA_SHA256_HEX_LEN + 1];
    hex(raw, 8, id);
    b64url(raw + 8, 32, secret);
    QA_TRY_RET(qa_sha256_hex(secret, strlen(secret), digest));
    long long r = roles;
    const void *v[] = {id, user, key_id, &r, digest, &rexp};
    QA_TRY_RET(run(a, "INSERT INTO refresh(id, user, key_id, roles, hash, expires) VALUES(?, ?, ?, ?, ?, ?)", "tttiti",
                   v, NULL));
    snprintf(out->refresh, sizeof out->refresh, "qar_%s_%s", id, secret);
    out->expires_in = a->access_s;
    snprintf(out->user, sizeof out->user, "%s", user);
    out->roles = roles;
    return QA_OK;
}

#define LOGIN_FAILED "login failed: unknown user, wrong password or revoked"

qa_status qa_auth_login_password(qa_auth_t *a, const char *user, const char *password, qa_auth_tokens *out) {
    char enc[ENCODED_MAX] = "";
    unsigned roles = 0;
    int revoked = 0;
    pthread_mutex_lock(&a->mu);
    qa_status st = check_name(user) == QA_OK ? user_row(a, user, &roles, &revoked, enc) : QA_ERR_NOT_FOUND;
    pthread_mutex_unlock(&a->mu);
    if (st != QA_OK && st != QA_ERR_NOT_FOUND) return st;
    /* unknown users and key-only users verify against a dummy, so timing does not tell */
    int ok = argon_ok(st == QA_OK && enc[0] ? enc : a->dummy, password ? password : "");
    if (st != QA_OK || !enc[0] || !ok || revoked) return QA_FAIL(QA_ERR_STATE, LOGIN_FAILED);
    pthread_mutex_lock(&a->mu);
    st = issue(a, user, "", roles, out);
    pthread_mutex_unlock(&a->mu);
    return st;
}

/* Splits "qa?_<id>_<secret>" with the given prefix. */
static int split_token(const char *t, const char *prefix, char *id, size_t idlen, const char **secret) {
    size_t pl = strlen(prefix);
    if (!t || strncmp(t, prefix, pl) != 0 || strlen(t) > 200) return 0;
    const char *p = t + pl, *u = strchr(p, '_');
    if (!u || (size_t)(u - p) != idlen) return 0;
    memcpy(id, p, idlen);
    id[idlen] = '\0';
    for (size_t i = 0; i < idlen; i++)
        if (!strchr("0123456789abcdef", id[i])) return 0;
    *secret = u + 1;
    return 1;
}

qa_status qa_auth_login_key(qa_auth_t *a, const char *key, qa_auth_tokens *out) {
    char id[16], enc[ENCODED_MAX] = "", user[64] = "";
    const char *secret = NULL;
    unsigned roles = 0;
    int usable = 0;
    if (split_token(key, "qak_", id, 12, &secret)) {
        sqlite3_stmt *s = NULL;
        pthread_mutex_lock(&a->mu);
        qa_status st = qa_sqlite_prepare(a->db, "SELECT k.hash, k.user, k.roles, k.revoked IS NULL AND u.revoked IS NULL"
                                                " FROM keys k JOIN users u ON u.name = k.user WHERE k.id=?", &s);
        if (st == QA_OK) {
            qa_sqlite_bind_text(s, 1, id);
            int rc = sqlite3_step(s);
            if (rc == SQLITE_ROW) {
                snprintf(enc, sizeof enc, "%s", qa_sqlite_text(s, 0));
                snprintf(user, sizeof user, "%s", qa_sqlite_text(s, 1));
                roles = (unsigned)sqlite3_column_int64(s, 2);
                usable = sqlite3_column_int(s, 3);
            } else if (rc != SQLITE_DONE) st = QA_SQLITE_CHECK(a->db, rc);
        }
        sqlite3_finalize(s);
        pthread_mutex_unlock(&a->mu);
        if (st != QA_OK) return st;
    }
    int ok = argon_ok(enc[0] ? enc : a->dummy, secret ? secret : "");
    if (!enc[0] || !ok || !usable) return QA_FAIL(QA_ERR_STATE, "login failed: unknown, wrong or revoked key");
    long long now = (long long)time(NULL);
    const void *v[] = {&now, id};
    pthread_mutex_lock(&a->mu);
    qa_status st = run(a, "UPDATE keys SET last_used=? WHERE id=?", "it", v, NULL);
    if (st == QA_OK) st = issue(a, user, id, roles, out);
    pthread_mutex_unlock(&a->mu);
    return st;
}

/* Finds a live refresh token and marks it used (revoked): rotation, so a stolen refresh
 * token that its owner uses first is dead. */
static qa_status take_refresh(qa_auth_t *a, const char *token, char *user, char *key_id, unsigned *roles) {
    char id[17], digest[QA_SHA256_HEX_LEN + 1];
    const char *secret = NULL;
    if (!split_token(token, "qar_", id, 16, &secret)) return QA_FAIL(QA_ERR_STATE, "refresh token: malformed");
    QA_TRY_RET(qa_sha256_hex(secret, strlen(secret), digest));
    sqlite3_stmt *s = NULL;
    QA_TRY_RET(qa_sqlite_prepare(a->db, "SELECT r.hash, r.user, r.key_id, r.roles, r.expires, r.revoked IS NULL AND "
                                        "u.revoked IS NULL AND (r.key_id = '' OR (SELECT revoked IS NULL FROM keys WHERE "
                                        "id = r.key_id)) FROM refresh r JOIN users u ON u.name = r.user WHERE r.id=?",
                                 &s));
    qa_sqlite_bind_text(s, 1, id);
    int rc = sqlite3_step(s);
    qa_status st = QA_OK;
    if (rc == SQLITE_ROW) {
        int ok = same_digest(qa_sqlite_text(s, 0), digest) && sqlite3_column_int64(s, 4) > (long long)time(NULL) &&
                 sqlite3_column_int(s, 5);
        snprintf(user, 64, "%s", qa_sqlite_text(s, 1));
        snprintf(key_id, 16, "%s", qa_sqlite_text(s, 2));
        *roles = (unsigned)sqlite3_column_int64(s, 3);
        if (!ok) st = QA_FAIL(QA_ERR_STATE, "refresh token: expired, used or revoked");
    } else if (rc == SQLITE_DONE) st = QA_FAIL(QA_ERR_STATE, "refresh token: unknown");
    else st = QA_SQLITE_CHECK(a->db, rc);
    sqlite3_finalize(s);
    if (st != QA_OK) return st;
    long long now = (long long)time(NULL);
    const void *v[] = {&now, id};
    return run(a, "UPDATE refresh SET revoked=? WHERE id=?", "it", v, NULL);
}

qa_status qa_auth_refresh(qa_auth_t *a, const char *refresh, qa_auth_tokens *out) {
    char user[64], key_id[16];
    unsigned roles = 0;
    pthread_mutex_lock(&a->mu);
    qa_status st = take_refresh(a, refresh, user, key_id, &roles);
    if (st == QA_OK) st = issue(a, user, key_id, roles, out);
    pthread_mutex_unlock(&a->mu);
    return st;
}

qa_status qa_auth_logout(qa_auth_t *a, const char *refresh) {
    char user[64], key_id[16];
    unsigned roles = 0;
    pthread_mutex_lock(&a->mu);
    qa_status st = take_refresh(a, refresh, user, key_id, &roles);
    pthread_mutex_unlock(&a->mu);
    return st;
}

qa_status qa_auth_verify(qa_auth_t *a, const char *token, qa_auth_who *who) {
    jwt_t *j = NULL;
    if (!token || strlen(token) >= QA_AUTH_TOKEN_MAX || jwt_decode(&j, token, a->secret, (int)sizeof a->secret) != 0)
        return QA_FAIL(QA_ERR_STATE, "access token: malformed or bad signature");
    /* the algorithm is ours, never the token's choice ("none", or RS256 with our key) */
    int alg_ok = jwt_get_alg(j) == JWT_ALG_HS256;
    const char *sub = jwt_get_grant(j, "sub"), *kid = jwt_get_grant(j, "kid");
    long exp = jwt_get_grant_int(j, "exp"), roles = jwt_get_grant_int(j, "roles");
    qa_status st = QA_OK;
    if (!alg_ok || !sub || !kid || exp <= 0) st = QA_FAIL(QA_ERR_STATE, "access token: not one of ours");
    else if (exp <= (long)time(NULL)) st = QA_FAIL(QA_ERR_STATE, "access token: expired");
    if (st == QA_OK) {
        snprintf(who->user, sizeof who->user, "%s", sub);
        snprintf(who->key_id, sizeof who->key_id, "%s", kid);
        who->roles = (unsigned)roles & QA_ROLE_ALL;
        who->expires = exp;
    }
    jwt_free(j);
    if (st != QA_OK) return st;
    sqlite3_stmt *s = NULL;
    pthread_mutex_lock(&a->mu);
    st = qa_sqlite_prepare(a->db, "SELECT u.revoked IS NULL AND (?2 = '' OR (SELECT revoked IS NULL FROM keys WHERE "
                                  "id = ?2 AND user = ?1)), u.roles FROM users u WHERE u.name = ?1", &s);
    if (st == QA_OK) {
        qa_sqlite_bind_text(s, 1, who->user);
        qa_sqlite_bind_text(s, 2, who->key_id);
        int rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            if (!sqlite3_column_int(s, 0)) st = QA_FAIL(QA_ERR_STATE, "access token: user or key revoked");
            who->roles &= (unsigned)sqlite3_column_int64(s, 1); /* never more than the user holds now */
        } else if (rc == SQLITE_DONE) st = QA_FAIL(QA_ERR_STATE, "access token: no such user");
        else st = QA_SQLITE_CHECK(a->db, rc);
    }
    sqlite3_finalize(s);
    pthread_mutex_unlock(&a->mu);
    return st;
}
