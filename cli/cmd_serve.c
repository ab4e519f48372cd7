/* qa serve: the HTTP API and dashboard (api/, docs/api.md); qa users and qa audit: its
 * users and audit log from the command line. */
#include <errno.h>     /* errno of a failed stdout flush */
#include <signal.h>    /* sig_atomic_t */
#include <stdio.h>     /* printf */
#include <stdlib.h>    /* realpath */
#include <string.h>    /* strcmp, strerror */
#include <unistd.h>    /* usleep, readlink */

#include "api/audit.h"   /* qa audit */
#include "api/auth.h"    /* qa users, the first admin */
#include "api/server.h"  /* the server */
#include "build_info.h"  /* QA_VERSION, QA_GIT_HASH */
#include "cli/args.h"
#include "cli/cli.h"
#include "common/config.h"
#include "common/fs.h"   /* --port-file */

typedef struct serve_cfg {
    const char *host;
    long long port;
    const char *cert, *key, *state_dir, *data, *registry, *alt, *jobs_dir, *live_state, *live_config;
    qa_cfg_list runs, cors;
    long long body_bytes, login_per_minute, max_connections, access_s, refresh_s;
} serve_cfg;

static const qa_cfg_field listen_fields[] = {
    QA_CFG_FIELD(serve_cfg, "host", QA_CFG_T_STRING, host, 0, "address to listen on (127.0.0.1)"),
    QA_CFG_NUM(serve_cfg, "port", port, 0, 65535, 0, "TCP port (8080; 0 = any free port)"),
    {NULL}};
static const qa_cfg_field tls_fields[] = {
    QA_CFG_FIELD(serve_cfg, "cert", QA_CFG_T_STRING, cert, 0, "PEM certificate chain"),
    QA_CFG_FIELD(serve_cfg, "key", QA_CFG_T_STRING, key, 0, "PEM private key"),
    {NULL}};
static const qa_cfg_field live_fields[] = {
    QA_CFG_FIELD(serve_cfg, "state_dir", QA_CFG_T_STRING, live_state, 0, "the live service's state_dir"),
    QA_CFG_FIELD(serve_cfg, "config", QA_CFG_T_STRING, live_config, 0, "the live service's configuration"),
    {NULL}};
static const qa_cfg_field limit_fields[] = {
    QA_CFG_NUM(serve_cfg, "body_bytes", body_bytes, 1024, 64 << 20, 0, "largest request body (1 MiB)"),
    QA_CFG_NUM(serve_cfg, "login_per_minute", login_per_minute, 1, 10000, 0, "login attempts per client address (10)"),
    QA_CFG_NUM(serve_cfg, "max_connections", max_connections, 1, 10000, 0, "connections at once (512)"),
    {NULL}};
static const qa_cfg_field token_fields[] = {
    QA_CFG_NUM(serve_cfg, "access_s", access_s, 10, 86400, 0, "access token lifetime (900)"),
    QA_CFG_NUM(serve_cfg, "refresh_s", refresh_s, 60, 90 * 86400, 0, "refresh token lifetime (86400)"),
    {NULL}};
static const qa_cfg_field serve_fields[] = {
    {"listen", QA_CFG_T_SECTION, 0, 0, 0, NULL, listen_fields, 0, "where to listen"},
    {"tls", QA_CFG_T_SECTION, 0, 0, 0, NULL, tls_fields, 0, "HTTPS (required off loopback)"},
    QA_CFG_FIELD(serve_cfg, "state_dir", QA_CFG_T_STRING, state_dir, QA_CFG_REQUIRED, "users.db and audit.db"),
    QA_CFG_FIELD(serve_cfg, "runs", QA_CFG_T_STRING_LIST, runs, 0, "folders of run directories"),
    QA_CFG_FIELD(serve_cfg, "data", QA_CFG_T_STRING, data, 0, "market file (HDF5)"),
    QA_CFG_FIELD(serve_cfg, "registry", QA_CFG_T_STRING, registry, 0, "model registry directory"),
    {"live", QA_CFG_T_SECTION, 0, 0, 0, NULL, live_fields, 0, "the live service"},
    QA_CFG_FIELD(serve_cfg, "alt", QA_CFG_T_STRING, alt, 0, "alternative-data document store"),
    QA_CFG_FIELD(serve_cfg, "jobs_dir", QA_CFG_T_STRING, jobs_dir, 0, "where submitted jobs' runs go"),
    QA_CFG_FIELD(serve_cfg, "cors", QA_CFG_T_STRING_LIST, cors, 0, "origins allowed cross-origin (none)"),
    {"limits", QA_CFG_T_SECTION, 0, 0, 0, NULL, limit_fields, 0, "request limits"},
    {"tokens", QA_CFG_T_SECTION, 0, 0, 0, NULL, token_fields, 0, "token lifetimes"},
    {NULL}};

static void serve_usage(FILE *out) {
    fprintf(out, "usage: qa serve --config serve.yaml [--set KEY=VALUE ...] [--port-file FILE]\n\n"
                 "The HTTP API and the web dashboard over runs, market data, the model registry and the\n"
                 "live service (docs/api.md, docs/dashboard.md). Users and keys: qa users. On first start,\n"
                 "with no user at all, an admin user and its API key are created and the key printed once.\n"
                 "Plain HTTP only on loopback; elsewhere configure tls.cert and tls.key. Runs until SIGTERM.\n\n"
                 "  --config FILE     serve.yaml (keys in docs/api.md, \"Configuration\")\n"
                 "  --set KEY=VALUE   override a key (listen.port=0)\n"
                 "  --port-file FILE  write the port bound once listening\n");
}

static qa_status copy_path(char *dst, size_t cap, const char *src, const char *what) {
    if (!src) return QA_OK;
    if (strlen(src) >= cap) return QA_FAIL(QA_ERR_CONFIG, "serve: %s path longer than %zu bytes", what, cap - 1);
    snprintf(dst, cap, "%s", src);
    return QA_OK;
}

/* The first start: no users yet, so nobody could log in to add one. */
static qa_status bootstrap(const char *state_dir) {
    qa_auth_t *a = NULL;
    QA_TRY_RET(qa_auth_open(state_dir, 1, &a));
    long n = 0;
    qa_status st = qa_auth_user_count(a, &n);
    if (st == QA_OK && n == 0) {
        char key[QA_AUTH_KEY_MAX], id[16];
        st = qa_auth_user_add(a, "admin", QA_ROLE_ADMIN, NULL);
        if (st == QA_OK) st = qa_auth_key_add(a, "admin", 0, "first start", key, id);
        if (st == QA_OK)
            printf("qa serve: first start: created user 'admin' (role admin). Its API key, shown only now:\n  %s\n",
                   key);
    }
    qa_auth_close(a);
    return st;
}

int qa_cmd_serve(int argc, char **argv) {
    const char *cmd = "serve", *config = NULL, *port_file = NULL;
    qa_cli_list sets = {0};
    const qa_cli_opt opts[] = {QA_OPT_STR("config", &config), QA_OPT_LIST("set", &sets),
                               QA_OPT_STR("port-file", &port_file), QA_OPT_END};
    int rc = qa_cli_parse(cmd, argc, argv, opts, serve_usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    if (!config) return qa_cli_usage_error(cmd, "--config is required");
    qa_cfg_t *cfg = NULL;
    qa_serve_t *srv = NULL;
    qa_status st = QA_OK;
    serve_cfg c = {.host = "127.0.0.1", .port = 8080};
    qa_serve_opts o = {0};
    QA_TRY(qa_cfg_load(config, &cfg));
    for (size_t i = 0; i < sets.n; i++) QA_TRY(qa_cfg_override(cfg, sets.items[i]));
    QA_TRY(qa_cfg_bind(cfg, qa_cfg_root(cfg), serve_fields, &c, NULL));
    if (c.runs.n > QA_API_MAX_ROOTS) {
        st = QA_FAIL(QA_ERR_CONFIG, "%s: runs: at most %d folders", config, QA_API_MAX_ROOTS);
        goto cleanup;
    }
    if (c.cors.n > QA_SERVE_MAX_ORIGINS) {
        st = QA_FAIL(QA_ERR_CONFIG, "%s: cors: at most %d origins", config, QA_SERVE_MAX_ORIGINS);
        goto cleanup;
    }
    o.host = c.host, o.port = (unsigned)c.port, o.tls_cert = c.cert, o.tls_key = c.key, o.state_dir = c.state_dir;
    for (size_t i = 0; i < c.cors.n; i++) o.origins[i] = ((const char **)c.cors.items)[i];
    o.norigins = c.cors.n;
    o.body_max = (size_t)c.body_bytes, o.login_per_min = (unsigned)c.login_per_minute;
    o.max_connections = (unsigned)c.max_connections, o.access_ttl_s = (long)c.access_s;
    o.refresh_ttl_s = (long)c.refresh_s;
    o.version = QA_VERSION " (" QA_GIT_HASH ")";
    for (size_t i = 0; i < c.runs.n; i++)
        QA_TRY(copy_path(o.ctx.runs[i], sizeof o.ctx.runs[i], ((const char **)c.runs.items)[i], "runs"));
    o.ctx.nruns = c.runs.n;
    QA_TRY(copy_path(o.ctx.data, sizeof o.ctx.data, c.data, "data"));
    QA_TRY(copy_path(o.ctx.registry, sizeof o.ctx.registry, c.registry, "registry"));
    QA_TRY(copy_path(o.ctx.live_state, sizeof o.ctx.live_state, c.live_state, "live.state_dir"));
    QA_TRY(copy_path(o.ctx.live_config, sizeof o.ctx.live_config, c.live_config, "live.config"));
    QA_TRY(copy_path(o.ctx.alt, sizeof o.ctx.alt, c.alt, "alt"));
    QA_TRY(copy_path(o.ctx.jobs_dir, sizeof o.ctx.jobs_dir, c.jobs_dir ? c.jobs_dir : c.runs.n ? o.ctx.runs[0] : NULL,
                     "jobs_dir"));
    /* submitted jobs run this very binary */
    ssize_t n = readlink("/proc/self/exe", o.ctx.qa_exe, sizeof o.ctx.qa_exe - 1);
    if (n <= 0) {
        st = QA_FAIL(QA_ERR_IO, "serve: cannot read /proc/self/exe");
        goto cleanup;
    }
    o.ctx.qa_exe[n] = '\0';
    const volatile sig_atomic_t *stop = NULL;
    QA_TRY(qa_cli_stop_signals(&stop));
    QA_TRY(bootstrap(c.state_dir));
    QA_TRY(qa_serve_start(&o, &srv));
    if (port_file) {
        char text[16];
        int w = snprintf(text, sizeof text, "%u\n", qa_serve_port(srv));
        QA_TRY(qa_fs_write_all(port_file, text, (size_t)w));
    }
    printf("qa serve: listening on %s://%s:%u/\n", c.cert ? "https" : "http", c.host, qa_serve_port(srv));
    if (fflush(stdout) != 0) QA_TRY_FAIL(QA_ERR_IO, "stdout: %s", strerror(errno)); /* a parent waits for the line */
    while (!*stop) usleep(100000);
    printf("qa serve: stopped\n");
cleanup:
    qa_serve_stop(srv);
    qa_cfg_free(cfg);
    if (st != QA_OK) return qa_cli_fail(cmd);
    return QA_EXIT_OK;
}

static void users_usage(FILE *out) {
    fprintf(out, "usage: qa users add NAME --role ROLES [--password-stdin] --state DIR\n"
                 "       qa users key NAME [--role ROLES] [--label TEXT] --state DIR\n"
                 "       qa users list --state DIR\n"
                 "       qa users revoke NAME | --key ID  --state DIR\n\n"
                 "Users, roles and API keys of qa serve in DIR/users.db (serve.yaml's state_dir). ROLES:\n"
                 "researcher, risk, trader, admin, comma-separated. add and key print a new API key once;\n"
                 "it is stored only as an Argon2id hash. --password-stdin reads a password (8+ bytes) from\n"
                 "the first line of standard input. revoke refuses the user's or key's tokens at once.\n");
}

int qa_cmd_users(int argc, char **argv) {
    const char *cmd = "users";
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
            users_usage(stdout);
            return QA_EXIT_OK;
        }
        return qa_cli_usage_error(cmd, "expected add, key, list or revoke");
    }
    const char *sub = argv[1], *state = NULL, *role = NULL, *label = NULL, *key_id = NULL, *pos = NULL;
    int pw_stdin = 0;
    size_t npos = 0;
    const qa_cli_opt opts[] = {QA_OPT_STR("state", &state),           QA_OPT_STR("role", &role),
                               QA_OPT_STR("label", &label),           QA_OPT_STR("key", &key_id),
                               QA_OPT_FLAG("password-stdin", &pw_stdin), QA_OPT_END};
    int rc = qa_cli_parse(cmd, argc - 1, argv + 1, opts, users_usage, &pos, 1, &npos);
    if (rc != QA_CLI_RUN) return rc;
    if (!state) return qa_cli_usage_error(cmd, "--state DIR is required (serve.yaml's state_dir)");
    qa_auth_t *a = NULL;
    qa_status st = QA_OK;
    json_t *list = NULL;
    unsigned roles = 0;
    QA_TRY(qa_auth_open(state, strcmp(sub, "add") == 0, &a));
    if (strcmp(sub, "add") == 0 || strcmp(sub, "key") == 0) {
        if (!npos) {
            st = QA_FAIL(QA_ERR_INVALID_ARG, "users %s: NAME is required", sub);
            goto cleanup;
        }
        if (role) QA_TRY(qa_auth_roles_parse(role, &roles));
        if (strcmp(sub, "add") == 0) {
            char pw[256] = "";
            if (!role) {
                st = QA_FAIL(QA_ERR_INVALID_ARG, "users add: --role is required");
                goto cleanup;
            }
            if (pw_stdin) {
                if (!fgets(pw, sizeof pw, stdin)) {
                    st = QA_FAIL(QA_ERR_INVALID_ARG, "users add: --password-stdin: no line on standard input");
                    goto cleanup;
                }
                pw[strcspn(pw, "\r\n")] = '\0';
            }
            st = qa_auth_user_add(a, pos, roles, pw_stdin ? pw : NULL);
            memset(pw, 0, sizeof pw);
            if (st != QA_OK) goto cleanup;
            roles = 0; /* the first key carries all the user's roles */
        }
        char key[QA_AUTH_KEY_MAX], id[16];
        QA_TRY(qa_auth_key_add(a, pos, roles, label ? label : strcmp(sub, "add") == 0 ? "first" : "", key, id));
        printf("key %s for %s (shown only now): %s\n", id, pos, key);
    } else if (strcmp(sub, "list") == 0) {
        QA_TRY(qa_auth_list(a, &list));
        json_t *u;
        size_t i;
        printf("%-20s %-28s %-8s %s\n", "user", "roles", "state", "keys (id label state)");
        json_array_foreach(json_object_get(list, "users"), i, u) {
            char roles_text[64] = "";
            size_t used = 0; /* strlen(roles_text) */
            json_t *r, *k;
            size_t j;
            json_array_foreach(json_object_get(u, "roles"), j, r) {
                const char *name = json_string_value(r);
                int w = snprintf(roles_text + used, sizeof roles_text - used, "%s%s", j ? "," : "", name ? name : "?");
                if (w < 0 || (size_t)w >= sizeof roles_text - used) { /* a display column: cut, visibly */
                    memcpy(roles_text + sizeof roles_text - 4, "...", 4);
                    break;
                }
                used += (size_t)w;
            }
            printf("%-20s %-28s %-8s", json_string_value(json_object_get(u, "name")), roles_text,
                   json_is_null(json_object_get(u, "revoked")) ? "active" : "revoked");
            json_array_foreach(json_object_get(u, "keys"), j, k)
                printf(" %s(%s,%s)", json_string_value(json_object_get(k, "id")),
                       json_string_value(json_object_get(k, "label")),
                       json_is_null(json_object_get(k, "revoked")) ? "active" : "revoked");
            printf("\n");
        }
    } else if (strcmp(sub, "revoke") == 0) {
        if (key_id) QA_TRY(qa_auth_revoke_key(a, key_id));
        else if (npos) QA_TRY(qa_auth_revoke_user(a, pos));
        else {
            st = QA_FAIL(QA_ERR_INVALID_ARG, "users revoke: NAME or --key ID is required");
            goto cleanup;
        }
        printf("revoked %s %s\n", key_id ? "key" : "user", key_id ? key_id : pos);
    } else
        st = QA_FAIL(QA_ERR_INVALID_ARG, "users: unknown subcommand '%s' (add, key, list, revoke)", sub);
cleanup:
    json_decref(list);
    qa_auth_close(a);
    if (st != QA_OK) return qa_cli_fail(cmd);
    return QA_EXIT_OK;
}

static void audit_usage(FILE *out) {
    fprintf(out, "usage: qa audit verify --state DIR\n\n"
                 "Recomputes the hash chain of qa serve's audit log (DIR/audit.db) against DIR/audit.head:\n"
                 "exit 0 when intact; 1 naming the first row changed, missing or cut off at the end.\n");
}

int qa_cmd_audit(int argc, char **argv) {
    const char *cmd = "audit", *state = NULL, *pos = NULL;
    size_t npos = 0;
    const qa_cli_opt opts[] = {QA_OPT_STR("state", &state), QA_OPT_END};
    int rc = qa_cli_parse(cmd, argc, argv, opts, audit_usage, &pos, 1, &npos);
    if (rc != QA_CLI_RUN) return rc;
    if (!npos || strcmp(pos, "verify") != 0) return qa_cli_usage_error(cmd, "expected: qa audit verify --state DIR");
    if (!state) return qa_cli_usage_error(cmd, "--state DIR is required");
    qa_audit_report r;
    if (qa_audit_verify(state, &r) != QA_OK) return qa_cli_fail(cmd);
    if (r.first_bad >= 0) {
        fprintf(stderr, "qa audit: TAMPERED: %s (first bad row %lld; %lld rows verified before it)\n", r.detail,
                r.first_bad, r.rows);
        return QA_EXIT_FAILURE;
    }
    printf("qa audit: %s\n", r.detail);
    return QA_EXIT_OK;
}
