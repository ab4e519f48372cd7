/* qa registry: the model registry from the command line (registry/registry.h). */
#include <errno.h>   /* errno of a failed stdout flush */
#include <math.h>    /* isfinite */
#include <signal.h>  /* SIGINT: stop watch --follow */
#include <stdio.h>   /* printf */
#include <stdlib.h>  /* realpath */
#include <string.h>  /* strchr, strcmp, strerror */
#include <time.h>    /* nanosleep */

#include "cli/args.h"           /* the option table */
#include "cli/cli.h"            /* exit codes, dispatch */
#include "live/regbridge.h"      /* --publish: the event log onto the bus */
#include "common/fs.h"          /* qa_fs_is_dir */
#include "common/timer.h"       /* watch timeouts */
#include "registry/registry.h"  /* the registry */

#define REG_OPT QA_OPT_STR("registry", &reg_dir)
#define REG_HELP "  --registry DIR  the registry (default $QA_REGISTRY, else ~/.local/share/quantumalpha/registry)\n"

static int open_reg(const char *cmd, const char *dir, int create, qa_registry_t **r) {
    if (qa_registry_open(dir, create, r) != QA_OK) return qa_cli_fail(cmd);
    return QA_EXIT_OK;
}

static int print_json(const char *cmd, json_t *j) {
    char *t = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(j);
    if (!t) return qa_cli_usage_error(cmd, "cannot format the result");
    printf("%s\n", t);
    free(t);
    return QA_EXIT_OK;
}

/* "k=v" items into a JSON object of strings. */
static int kv_object(const char *cmd, const qa_cli_list *l, json_t **out) {
    *out = json_object();
    for (size_t i = 0; i < l->n; i++) {
        const char *eq = strchr(l->items[i], '=');
        if (!eq || eq == l->items[i]) {
            json_decref(*out);
            return qa_cli_usage_error(cmd, "--tag '%s': expected key=value", l->items[i]);
        }
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(eq - l->items[i]), l->items[i]);
        json_object_set_new(*out, key, json_string(eq + 1));
    }
    return QA_EXIT_OK;
}

/* ---- publish ------------------------------------------------------------------------------ */

qa_status qa_cli_publish(const char *reg_dir, const char *path, const char *name, const json_t *tags,
                         const char *description, const char *alias, const char *why) {
    qa_registry_t *r = NULL;
    long v = 0;
    qa_status st = qa_registry_open(reg_dir, 1, &r);
    if (st == QA_OK) st = qa_registry_publish_path(r, path, name, tags, description, NULL, &v);
    if (st == QA_OK && alias) st = qa_registry_alias_set(r, name, alias, v, NULL, why);
    qa_registry_close(r);
    if (st == QA_OK) printf("models:/%s/%ld\n", name, v);
    return st;
}

static void publish_usage(FILE *out) {
    fprintf(out, "usage: qa registry publish RUN_DIR|MODEL.qam --name NAME [--tag k=v]... [--description TEXT]\n"
                 "                            [--alias A [--reason WHY]] [--registry DIR]\n\n"
                 "Publishes a finished `qa train` run (its best model, metrics from summary.json, the resolved\n"
                 "config, lineage from lineage.json and run.json) or a bare model file as the next version of\n"
                 "NAME. Prints the new version's URI. --alias then points A at it (recorded with --reason).\n\n" REG_HELP);
}

static int cmd_publish(int argc, char **argv) {
    const char *reg_dir = NULL, *name = NULL, *desc = NULL, *alias = NULL, *reason = NULL, *pos = NULL;
    qa_cli_list tags = {.n = 0};
    size_t npos = 0;
    const qa_cli_opt opts[] = {REG_OPT, QA_OPT_STR("name", &name), QA_OPT_LIST("tag", &tags),
                               QA_OPT_STR("description", &desc), QA_OPT_STR("alias", &alias),
                               QA_OPT_STR("reason", &reason), QA_OPT_END};
    int rc = qa_cli_parse("registry publish", argc, argv, opts, publish_usage, &pos, 1, &npos);
    if (rc != QA_CLI_RUN) return rc;
    if (!npos || !name) return qa_cli_usage_error("registry publish", "give a run directory (or model file) and --name NAME");
    json_t *tj = NULL;
    if ((rc = kv_object("registry publish", &tags, &tj)) != QA_EXIT_OK) return rc;
    rc = qa_cli_publish(reg_dir, pos, name, tj, desc, alias, reason ? reason : "published") == QA_OK
             ? QA_EXIT_OK
             : qa_cli_fail("registry publish");
    json_decref(tj);
    return rc;
}

/* ---- list / show / diff ------------------------------------------------------------------ */

static void list_usage(FILE *out) {
    fprintf(out, "usage: qa registry list [--name GLOB] [--tag KEY[=VALUE]] [--alias A] [--metric 'NAME>X']\n"
                 "                         [--json] [--registry DIR]\n\n"
                 "Versions matching every filter given: URI, created, by, aliases, test IC and Sharpe.\n"
                 "--metric compares a recorded metric (>=, <=, !=, >, <, =), e.g. --metric 'test_ic>0.01'.\n\n" REG_HELP);
}

static void metric_cell(json_t *m, const char *k) {
    json_t *v = json_object_get(m, k);
    if (json_is_number(v) && isfinite(json_number_value(v))) printf(" %10.4f", json_number_value(v));
    else printf(" %10s", "-");
}

static int cmd_list(int argc, char **argv) {
    const char *reg_dir = NULL;
    qa_registry_query q = {NULL, NULL, NULL, NULL};
    int as_json = 0;
    const qa_cli_opt opts[] = {REG_OPT, QA_OPT_STR("name", &q.name), QA_OPT_STR("tag", &q.tag),
                               QA_OPT_STR("alias", &q.alias), QA_OPT_STR("metric", &q.metric),
                               QA_OPT_FLAG("json", &as_json), QA_OPT_END};
    int rc = qa_cli_parse("registry list", argc, argv, opts, list_usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    qa_registry_t *r = NULL;
    json_t *a = NULL;
    if ((rc = open_reg("registry list", reg_dir, 0, &r)) != QA_EXIT_OK) return rc;
    if (qa_registry_search(r, &q, &a) != QA_OK) rc = qa_cli_fail("registry list");
    qa_registry_close(r);
    if (rc != QA_EXIT_OK) return rc;
    if (as_json) return print_json("registry list", a);
    printf("%-32s %-27s %-12s %-20s %10s %10s\n", "uri", "created", "by", "aliases", "test_ic", "test_sharpe");
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        char al[256] = "";
        size_t j, used = 0;
        json_t *x;
        json_array_foreach(json_object_get(v, "aliases"), j, x) used +=
            (size_t)snprintf(al + used, used < sizeof al ? sizeof al - used : 0, "%s%s", j ? "," : "", json_string_value(x));
        printf("%-32s %-27s %-12s %-20s", json_string_value(json_object_get(v, "uri")),
               json_string_value(json_object_get(v, "created")), json_string_value(json_object_get(v, "created_by")),
               al[0] ? al : "-");
        metric_cell(json_object_get(v, "metrics"), "test_ic");
        metric_cell(json_object_get(v, "metrics"), "test_sharpe");
        printf("\n");
    }
    printf("%zu version(s)\n", json_array_size(a));
    json_decref(a);
    return QA_EXIT_OK;
}

static void show_usage(FILE *out) {
    fprintf(out, "usage: qa registry show NAME | models:/NAME/V | models:/NAME@ALIAS [--registry DIR]\n\n"
                 "A model (versions, aliases, alias history, tags) or one version (artifact, signature,\n"
                 "metrics, tags, config, lineage, aliases) as JSON.\n\n" REG_HELP);
}

static int cmd_show(int argc, char **argv) {
    const char *reg_dir = NULL, *pos = NULL;
    size_t npos = 0;
    const qa_cli_opt opts[] = {REG_OPT, QA_OPT_END};
    int rc = qa_cli_parse("registry show", argc, argv, opts, show_usage, &pos, 1, &npos);
    if (rc != QA_CLI_RUN) return rc;
    if (!npos) return qa_cli_usage_error("registry show", "give a model name or a models:/ URI");
    qa_registry_t *r = NULL;
    json_t *j = NULL;
    if ((rc = open_reg("registry show", reg_dir, 0, &r)) != QA_EXIT_OK) return rc;
    if (qa_registry_show(r, pos, &j) != QA_OK) rc = qa_cli_fail("registry show");
    qa_registry_close(r);
    return rc == QA_EXIT_OK ? print_json("registry show", j) : rc;
}

static void diff_usage(FILE *out) {
    fprintf(out, "usage: qa registry diff A B [--json] [--registry DIR]\n\n"
                 "Differences between two versions (URIs) in artifact, signature, metrics, config, lineage and\n"
                 "tags, one line per differing field.\n\n" REG_HELP);
}

static int cmd_diff(int argc, char **argv) {
    const char *reg_dir = NULL, *pos[2] = {NULL, NULL};
    size_t npos = 0;
    int as_json = 0;
    const qa_cli_opt opts[] = {REG_OPT, QA_OPT_FLAG("json", &as_json), QA_OPT_END};
    int rc = qa_cli_parse("registry diff", argc, argv, opts, diff_usage, pos, 2, &npos);
    if (rc != QA_CLI_RUN) return rc;
    if (npos != 2) return qa_cli_usage_error("registry diff", "give two versions");
    qa_registry_t *r = NULL;
    json_t *d = NULL;
    if ((rc = open_reg("registry diff", reg_dir, 0, &r)) != QA_EXIT_OK) return rc;
    if (qa_registry_diff(r, pos[0], pos[1], &d) != QA_OK) rc = qa_cli_fail("registry diff");
    qa_registry_close(r);
    if (rc != QA_EXIT_OK) return rc;
    if (as_json) return print_json("registry diff", d);
    size_t i;
    json_t *e;
    json_array_foreach(d, i, e) {
        char *a = json_dumps(json_object_get(e, "a"), JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(10));
        char *b = json_dumps(json_object_get(e, "b"), JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(10));
        printf("%-9s %-40s %s -> %s\n", json_string_value(json_object_get(e, "section")),
               json_string_value(json_object_get(e, "key")), a ? a : "?", b ? b : "?");
        free(a);
        free(b);
    }
    printf("%zu difference(s)\n", json_array_size(d));
    json_decref(d);
    return QA_EXIT_OK;
}

/* ---- aliases, tags, delete ----------------------------------------------------------------- */

static void alias_usage(FILE *out) {
    fprintf(out, "usage: qa registry alias set NAME ALIAS VERSION [--reason WHY] [--who USER]\n"
                 "       qa registry alias delete NAME ALIAS [--reason WHY] [--who USER]\n"
                 "       qa registry alias protect NAME ALIAS --users U1,U2 (\"\" lifts it)\n\n"
                 "Moves, deletes or protects an alias. Every move is recorded (who, when, why, from which\n"
                 "version) in the alias history, which is never deleted.\n\n" REG_HELP);
}

static int cmd_alias(int argc, char **argv) {
    const char *reg_dir = NULL, *reason = NULL, *who = NULL, *users = NULL, *pos[4] = {NULL, NULL, NULL, NULL};
    size_t npos = 0;
    const qa_cli_opt opts[] = {REG_OPT, QA_OPT_STR("reason", &reason), QA_OPT_STR("who", &who),
                               QA_OPT_STR("users", &users), QA_OPT_END};
    int rc = qa_cli_parse("registry alias", argc, argv, opts, alias_usage, pos, 4, &npos);
    if (rc != QA_CLI_RUN) return rc;
    const char *op = npos ? pos[0] : "";
    int set = strcmp(op, "set") == 0, del = strcmp(op, "delete") == 0, prot = strcmp(op, "protect") == 0;
    if (!(set && npos == 4) && !(del && npos == 3) && !(prot && npos == 3))
        return qa_cli_usage_error("registry alias", "expected: set NAME ALIAS VERSION | delete NAME ALIAS | protect NAME ALIAS");
    if (prot && !users) return qa_cli_usage_error("registry alias", "protect needs --users (\"\" lifts the protection)");
    long v = 0;
    if (set) {
        char *end = NULL;
        v = strtol(pos[3], &end, 10);
        if (*end || v < 1) return qa_cli_usage_error("registry alias", "VERSION '%s' is not a positive integer", pos[3]);
    }
    qa_registry_t *r = NULL;
    if ((rc = open_reg("registry alias", reg_dir, 0, &r)) != QA_EXIT_OK) return rc;
    qa_status st = set ? qa_registry_alias_set(r, pos[1], pos[2], v, who, reason)
                 : del ? qa_registry_alias_delete(r, pos[1], pos[2], who, reason)
                       : qa_registry_alias_protect(r, pos[1], pos[2], users, who);
    qa_registry_close(r);
    if (st != QA_OK) return qa_cli_fail("registry alias");
    if (set) printf("models:/%s@%s -> models:/%s/%ld\n", pos[1], pos[2], pos[1], v);
    return QA_EXIT_OK;
}

static void tag_usage(FILE *out) {
    fprintf(out, "usage: qa registry tag NAME[/VERSION] KEY=VALUE | --delete KEY [--who USER]\n\n"
                 "Sets or removes a tag of a version (NAME/3) or of the model (NAME).\n\n" REG_HELP);
}

static int cmd_tag(int argc, char **argv) {
    const char *reg_dir = NULL, *who = NULL, *del = NULL, *pos[2] = {NULL, NULL};
    size_t npos = 0;
    const qa_cli_opt opts[] = {REG_OPT, QA_OPT_STR("who", &who), QA_OPT_STR("delete", &del), QA_OPT_END};
    int rc = qa_cli_parse("registry tag", argc, argv, opts, tag_usage, pos, 2, &npos);
    if (rc != QA_CLI_RUN) return rc;
    if (npos < 1 || (npos == 2) == (del != NULL)) return qa_cli_usage_error("registry tag", "give NAME[/VERSION] and KEY=VALUE or --delete KEY");
    char name[QA_REGISTRY_NAME_MAX + 32], key[256];
    snprintf(name, sizeof name, "%s", qa_registry_is_uri(pos[0]) ? pos[0] + 8 : pos[0]);
    long v = 0;
    char *sl = strchr(name, '/');
    if (sl) {
        char *end = NULL;
        *sl = '\0';
        v = strtol(sl + 1, &end, 10);
        if (*end || v < 1) return qa_cli_usage_error("registry tag", "'%s': version is not a positive integer", pos[0]);
    }
    const char *val = NULL;
    if (del) snprintf(key, sizeof key, "%s", del);
    else {
        const char *eq = strchr(pos[1], '=');
        if (!eq || eq == pos[1]) return qa_cli_usage_error("registry tag", "'%s': expected KEY=VALUE", pos[1]);
        snprintf(key, sizeof key, "%.*s", (int)(eq - pos[1]), pos[1]);
        val = eq + 1;
    }
    qa_registry_t *r = NULL;
    if ((rc = open_reg("registry tag", reg_dir, 0, &r)) != QA_EXIT_OK) return rc;
    qa_status st = qa_registry_tag(r, name, v, key, val, who);
    qa_registry_close(r);
    return st == QA_OK ? QA_EXIT_OK : qa_cli_fail("registry tag");
}

static void delete_usage(FILE *out) {
    fprintf(out, "usage: qa registry delete NAME/VERSION [--reason WHY] [--who USER]\n\n"
                 "Deletes a version no alias points to. Its number is never reused; its artifact stays until\n"
                 "gc; the alias history and events keep their rows.\n\n" REG_HELP);
}

static int cmd_delete(int argc, char **argv) {
    const char *reg_dir = NULL, *who = NULL, *reason = NULL, *pos = NULL;
    size_t npos = 0;
    const qa_cli_opt opts[] = {REG_OPT, QA_OPT_STR("who", &who), QA_OPT_STR("reason", &reason), QA_OPT_END};
    int rc = qa_cli_parse("registry delete", argc, argv, opts, delete_usage, &pos, 1, &npos);
    if (rc != QA_CLI_RUN) return rc;
    qa_registry_ref ref;
    if (!npos) return qa_cli_usage_error("registry delete", "give NAME/VERSION");
    if (qa_registry_uri_parse(pos, &ref) != QA_OK || ref.version < 1)
        return qa_cli_usage_error("registry delete", "'%s': give NAME/VERSION (a version number, not an alias)", pos);
    qa_registry_t *r = NULL;
    if ((rc = open_reg("registry delete", reg_dir, 0, &r)) != QA_EXIT_OK) return rc;
    qa_status st = qa_registry_delete(r, ref.name, ref.version, who, reason);
    qa_registry_close(r);
    return st == QA_OK ? QA_EXIT_OK : qa_cli_fail("registry delete");
}

/* ---- verify, gc, export, import ---------------------------------------------------------- */

static void verify_usage(FILE *out) {
    fprintf(out, "usage: qa registry verify [--registry DIR]\n\nRe-hashes every version's artifact; exit 1 when "
                 "any is missing or corrupted.\n\n" REG_HELP);
}

static int cmd_verify(int argc, char **argv) {
    const char *reg_dir = NULL;
    const qa_cli_opt opts[] = {REG_OPT, QA_OPT_END};
    int rc = qa_cli_parse("registry verify", argc, argv, opts, verify_usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    qa_registry_t *r = NULL;
    long checked = 0, bad = 0;
    if ((rc = open_reg("registry verify", reg_dir, 0, &r)) != QA_EXIT_OK) return rc;
    qa_status st = qa_registry_verify(r, stdout, &checked, &bad);
    if (st == QA_OK) printf("%ld version(s) checked in %s, %ld bad\n", checked, qa_registry_dir(r), bad);
    qa_registry_close(r);
    if (st != QA_OK) return qa_cli_fail("registry verify");
    return bad ? QA_EXIT_FAILURE : QA_EXIT_OK;
}

static void gc_usage(FILE *out) {
    fprintf(out, "usage: qa registry gc [--apply] [--registry DIR]\n\nLists artifacts no version references (older "
                 "than an hour, so a publish in flight\nis never touched); --apply removes them.\n\n" REG_HELP);
}

static int cmd_gc(int argc, char **argv) {
    const char *reg_dir = NULL;
    int apply = 0;
    const qa_cli_opt opts[] = {REG_OPT, QA_OPT_FLAG("apply", &apply), QA_OPT_END};
    int rc = qa_cli_parse("registry gc", argc, argv, opts, gc_usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    qa_registry_t *r = NULL;
    long files = 0;
    long long bytes = 0;
    if ((rc = open_reg("registry gc", reg_dir, 0, &r)) != QA_EXIT_OK) return rc;
    qa_status st = qa_registry_gc(r, apply, stdout, &files, &bytes);
    qa_registry_close(r);
    if (st != QA_OK) return qa_cli_fail("registry gc");
    printf("%ld file(s), %lld bytes %s\n", files, bytes, apply ? "removed" : "would be removed (dry run; --apply removes)");
    return QA_EXIT_OK;
}

static void export_usage(FILE *out) {
    fprintf(out, "usage: qa registry export NAME --out FILE [--versions 3,5] [--registry DIR]\n"
                 "       qa registry import FILE [--registry DIR]\n\n"
                 "A single bundle file with a model's versions, artifacts, tags, metrics, aliases and alias\n"
                 "history; import recreates it (same version numbers and records) in a registry without it.\n"
                 "--versions exports only those versions (and the aliases pointing to them).\n\n" REG_HELP);
}

static int cmd_export(int argc, char **argv) {
    const char *reg_dir = NULL, *out = NULL, *pos = NULL, *vlist = NULL;
    size_t npos = 0;
    const qa_cli_opt opts[] = {REG_OPT, QA_OPT_STR("out", &out), QA_OPT_STR("versions", &vlist), QA_OPT_END};
    int rc = qa_cli_parse("registry export", argc, argv, opts, export_usage, &pos, 1, &npos);
    if (rc != QA_CLI_RUN) return rc;
    if (!npos || !out) return qa_cli_usage_error("registry export", "give NAME and --out FILE");
    long vs[256];
    int nv = 0;
    for (const char *p = vlist; p && *p;) {
        char *end = NULL;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || (*end && *end != ',') || nv == 256)
            return qa_cli_usage_error("registry export", "--versions '%s': expected version numbers like 3,5", vlist);
        vs[nv++] = v;
        p = *end ? end + 1 : end;
    }
    qa_registry_t *r = NULL;
    if ((rc = open_reg("registry export", reg_dir, 0, &r)) != QA_EXIT_OK) return rc;
    qa_status st = qa_registry_export(r, pos, vs, nv, out);
    qa_registry_close(r);
    return st == QA_OK ? QA_EXIT_OK : qa_cli_fail("registry export");
}

static int cmd_import(int argc, char **argv) {
    const char *reg_dir = NULL, *who = NULL, *pos = NULL;
    size_t npos = 0;
    const qa_cli_opt opts[] = {REG_OPT, QA_OPT_STR("who", &who), QA_OPT_END};
    int rc = qa_cli_parse("registry import", argc, argv, opts, export_usage, &pos, 1, &npos);
    if (rc != QA_CLI_RUN) return rc;
    if (!npos) return qa_cli_usage_error("registry import", "give the bundle file");
    qa_registry_t *r = NULL;
    char name[QA_REGISTRY_NAME_MAX];
    if ((rc = open_reg("registry import", reg_dir, 1, &r)) != QA_EXIT_OK) return rc;
    qa_status st = qa_registry_import(r, pos, who, name);
    qa_registry_close(r);
    if (st != QA_OK) return qa_cli_fail("registry import");
    printf("imported model '%s'\n", name);
    return QA_EXIT_OK;
}

/* ---- watch ------------------------------------------------------------------------------- */

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) { g_stop = sig; }

typedef struct watch_ctx {
    int as_json;
    int64_t last;
} watch_ctx;

static qa_status print_event(const qa_registry_event *e, void *p) {
    watch_ctx *w = p;
    w->last = e->seq;
    if (w->as_json) {
        json_t *d = json_loads(e->detail, 0, NULL);
        json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:I, s:s, s:s, s:o}", "seq", (json_int_t)e->seq, "at", e->at, "kind",
                              e->kind, "model", e->model, "version", (json_int_t)e->version, "alias", e->alias, "who",
                              e->who, "detail", d ? d : json_object());
        char *t = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        if (t) printf("%s\n", t);
        free(t);
        json_decref(o);
    } else {
        printf("%6lld %s %-16s models:/%s%s%ld%s%s %-10s %s\n", (long long)e->seq, e->at, e->kind, e->model,
               e->version ? "/" : "", e->version, e->alias[0] ? " @" : "", e->alias, e->who, e->detail);
    }
    if (fflush(stdout) != 0) return QA_FAIL(QA_ERR_IO, "stdout: %s", strerror(errno));
    return QA_OK;
}

static void watch_usage(FILE *out) {
    fprintf(out, "usage: qa registry watch [--from SEQ] [--follow] [--interval MS] [--timeout S] [--json]\n"
                 "                          [--registry DIR] [--publish [--bootstrap B] [--prefix P]]\n\n"
                 "Prints the registry's events after SEQ (default 0: all), oldest first; --follow keeps\n"
                 "polling (every --interval ms, default 200) until --timeout seconds pass or Ctrl-C.\n"
                 "--publish sends the events the bus's registry.events topic does not hold yet, in order and\n"
                 "exactly once (qa live follows that topic to hot-reload its model; docs/live.md); without\n"
                 "--bootstrap it uses the embedded cluster.\n\n" REG_HELP);
}

static int cmd_watch(int argc, char **argv) {
    const char *reg_dir = NULL;
    long long from = 0, interval = 200;
    double timeout = 0;
    int follow = 0, as_json = 0, publish = 0;
    const char *bootstrap = NULL, *prefix = NULL;
    const qa_cli_opt opts[] = {REG_OPT, QA_OPT_INT("from", &from, 0, 9e18), QA_OPT_FLAG("follow", &follow),
                               QA_OPT_INT("interval", &interval, 1, 3.6e6), QA_OPT_NUM("timeout", &timeout, 0, 1e9),
                               QA_OPT_FLAG("json", &as_json), QA_OPT_FLAG("publish", &publish),
                               QA_OPT_STR("bootstrap", &bootstrap), QA_OPT_STR("prefix", &prefix), QA_OPT_END};
    int rc = qa_cli_parse("registry watch", argc, argv, opts, watch_usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    if (publish) { /* onto the bus's registry.events, where qa live follows it */
        qa_bus_cfg cfg;
        qa_bus_cfg_default(&cfg);
        if (bootstrap) snprintf(cfg.bootstrap, sizeof cfg.bootstrap, "%s", bootstrap);
        if (prefix) snprintf(cfg.prefix, sizeof cfg.prefix, "%s", prefix);
        int started = 0;
        long long n = 0;
        (void)signal(SIGINT, on_signal); /* cannot fail: valid, catchable signals */
        (void)signal(SIGTERM, on_signal);
        if (qa_bus_mock_ensure(&cfg, "/proc/self/exe", &started) != QA_OK ||
            qa_regbridge_run(&cfg, reg_dir, follow, (int)interval, &g_stop, &n) != QA_OK)
            return qa_cli_fail("registry watch");
        printf("published %lld registry events to %s%s\n", n, cfg.prefix, QA_TOPIC_REGISTRY);
        return QA_EXIT_OK;
    }
    qa_registry_t *r = NULL;
    if ((rc = open_reg("registry watch", reg_dir, 0, &r)) != QA_EXIT_OK) return rc;
    (void)signal(SIGINT, on_signal); /* cannot fail: valid, catchable signals */
    (void)signal(SIGTERM, on_signal);
    watch_ctx w = {as_json, from};
    uint64_t t0 = qa_time_ns();
    qa_status st = QA_OK;
    for (;;) {
        int64_t last = 0;
        /* The cheap check first: one indexed read; the walk only when something is new. */
        if ((st = qa_registry_last_seq(r, &last)) != QA_OK) break;
        if (last > w.last && (st = qa_registry_events(r, w.last, 0, print_event, &w)) != QA_OK) break;
        if (!follow || g_stop || (timeout > 0 && qa_time_since(t0) >= timeout)) break;
        struct timespec ts = {(time_t)(interval / 1000), (long)(interval % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    qa_registry_close(r);
    return st == QA_OK ? QA_EXIT_OK : qa_cli_fail("registry watch");
}

int qa_cmd_registry(int argc, char **argv) {
    static const qa_cli_command table[] = {
        {"publish", "publish a training run (or model file) as the next version of a model", cmd_publish},
        {"list", "versions, filtered by name, tag, alias or metric", cmd_list},
        {"show", "a model or one version (signature, metrics, config, lineage) as JSON", cmd_show},
        {"diff", "differences between two versions", cmd_diff},
        {"alias", "set, delete or protect an alias (audited)", cmd_alias},
        {"tag", "set or delete a tag of a version or model", cmd_tag},
        {"delete", "delete a version no alias points to", cmd_delete},
        {"verify", "re-hash every artifact", cmd_verify},
        {"gc", "unreferenced artifacts (dry run unless --apply)", cmd_gc},
        {"export", "one bundle file with a model's whole record", cmd_export},
        {"import", "recreate a model from a bundle", cmd_import},
        {"watch", "the event log (follow it with --follow)", cmd_watch},
        {NULL, NULL, NULL},
    };
    return qa_cli_dispatch("registry", "The model registry: versioned, verified, lineage-tracked models (docs/registry.md).",
                           table, argc, argv);
}
