/* The model registry (registry/registry.h) through its C API: dense immutable versions,
 * content-addressed artifacts stored once, URIs and the errors for what does not exist,
 * aliases with an append-only history and protection, tags and search, verification of a
 * corrupted artifact and of the signature, delete rules, gc, events, export/import with an
 * identical show, concurrent publishers in separate processes, and loading by URI for
 * the prediction API (windowed rows and the stateful LSTM step). */
#include <math.h>       /* sin */
#include <sqlite3.h>    /* direct SQL against the audit trail */
#include <stdlib.h>     /* free */
#include <string.h>     /* strstr */
#include <sys/wait.h>   /* waitpid: concurrent publishers */
#include <unistd.h>     /* fork */
#include <utime.h>      /* ageing an artifact for gc */

#include "common/container.h"
#include "common/fs.h"
#include "common/hash.h"
#include "harness.h"
#include "registry/predict.h"
#include "registry/registry.h"
#include "registry/registry_test.h" /* the synthetic model */

static char g_dir[256];

/* A small model whose parameters depend on `salt` (different salts: different artifacts):
 * 3 inputs (two features, the bar return), 5 hidden units, a return target. */
static void make_model(qa_model *m, qa_nn_arch_type type, int salt) {
    qa_nn_arch a;
    memset(&a, 0, sizeof a);
    a.type = type, a.input = 3, a.window = type == QA_NN_ARCH_LSTM ? 4 : 1, a.outputs = 1;
    a.nhidden = 1, a.hidden[0] = 5, a.act = QA_NN_ACT_RELU;
    static const char *const names[3] = {"rsi_close_14", "zscore_close_20", "ret"};
    QA_CHECK_OK(qa_test_registry_model(m, &a, names, salt));
}

/* Saves a model with `salt` as DIR/<file>. */
static void model_file(const char *file, qa_nn_arch_type type, int salt, char *path) {
    qa_model m;
    make_model(&m, type, salt);
    snprintf(path, QA_PATH_MAX, "%s/%s", g_dir, file);
    QA_CHECK_OK(qa_model_save(&m, path));
    qa_model_free(&m);
}

static long publish(qa_registry_t *r, const char *name, const char *path, double ic) {
    json_t *met = json_pack("{s:f}", "test_ic", ic), *tags = json_pack("{s:s}", "team", "alpha");
    qa_registry_publish_req req = {name, path, met, NULL, NULL, tags, "test", "tester"};
    long v = -1;
    QA_CHECK_OK(qa_registry_publish(r, &req, &v));
    json_decref(met);
    json_decref(tags);
    return v;
}

static qa_registry_t *open_reg(const char *sub) {
    char d[QA_PATH_MAX];
    snprintf(d, sizeof d, "%s/%s", g_dir, sub);
    qa_registry_t *r = NULL;
    QA_CHECK_OK(qa_registry_open(d, 1, &r));
    return r;
}

static long count_files(const char *sub) {
    char cmd[QA_PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "find %s/%s/artifacts -name '*.qam' | wc -l", g_dir, sub);
    FILE *p = popen(cmd, "r");
    long n = -1;
    if (p && fscanf(p, "%ld", &n) != 1) n = -1;
    if (p) pclose(p);
    return n;
}

/* Versions are 1, 2, 3; identical artifacts are stored once; URIs resolve. */
static void test_versions_and_uris(void) {
    qa_registry_t *r = open_reg("a");
    char p1[QA_PATH_MAX], p2[QA_PATH_MAX];
    model_file("m1.qam", QA_NN_ARCH_MLP, 1, p1);
    model_file("m2.qam", QA_NN_ARCH_MLP, 2, p2);
    QA_CHECK_INT(publish(r, "alpha", p1, 0.01), 1);
    QA_CHECK_INT(publish(r, "alpha", p2, 0.03), 2);
    QA_CHECK_INT(publish(r, "alpha", p1, 0.02), 3); /* same bytes as version 1 */
    QA_CHECK_INT(count_files("a"), 2);
    qa_registry_version v;
    QA_CHECK_OK(qa_registry_resolve(r, "models:/alpha/2", &v));
    QA_CHECK_INT(v.version, 2);
    char sha[65];
    QA_CHECK_OK(qa_sha256_file_hex(p2, sha));
    QA_CHECK_STR(v.sha256, sha);
    QA_CHECK_OK(qa_registry_resolve(r, "models:/alpha/latest", &v));
    QA_CHECK_INT(v.version, 3);
    QA_CHECK_ERR(qa_registry_resolve(r, "models:/alpha/9", &v), QA_ERR_NOT_FOUND, "model 'alpha' has no version 9");
    QA_CHECK_ERR(qa_registry_resolve(r, "models:/beta/1", &v), QA_ERR_NOT_FOUND, "model 'beta' does not exist");
    QA_CHECK_ERR(qa_registry_resolve(r, "models:/alpha@champion", &v), QA_ERR_NOT_FOUND, "no alias 'champion'");
    QA_CHECK_ERR(qa_registry_resolve(r, "models:/alpha", &v), QA_ERR_INVALID_ARG, "names no version");
    QA_CHECK_ERR(qa_registry_resolve(r, "models:/al pha/1", &v), QA_ERR_INVALID_ARG, "is not one of");
    QA_CHECK_ERR(qa_registry_resolve(r, "models:/alpha/0", &v), QA_ERR_INVALID_ARG, "not a positive integer");
    qa_registry_close(r);
}

static long history_rows(qa_registry_t *r, const char *name) {
    json_t *j = NULL;
    QA_CHECK_OK(qa_registry_show(r, name, &j));
    long n = (long)json_array_size(json_object_get(j, "alias_history"));
    json_decref(j);
    return n;
}

/* Aliases move with audit rows; history cannot be rewritten; protection; delete rules. */
static void test_aliases(void) {
    qa_registry_t *r = open_reg("a");
    qa_registry_version v;
    QA_CHECK_OK(qa_registry_alias_set(r, "alpha", "champion", 1, "ana", "first"));
    QA_CHECK_OK(qa_registry_alias_set(r, "alpha", "champion", 2, "ben", "better IC"));
    QA_CHECK_OK(qa_registry_alias_set(r, "alpha", "challenger", 3, "ben", "shadow"));
    QA_CHECK_OK(qa_registry_resolve(r, "models:/alpha@champion", &v));
    QA_CHECK_INT(v.version, 2);
    QA_CHECK_ERR(qa_registry_alias_set(r, "alpha", "champion", 7, "ben", "x"), QA_ERR_NOT_FOUND, "no version 7");
    QA_CHECK_ERR(qa_registry_alias_set(r, "alpha", "42", 1, "ben", "x"), QA_ERR_INVALID_ARG, "would read as a version");
    json_t *j = NULL;
    QA_CHECK_OK(qa_registry_show(r, "alpha", &j));
    json_t *h = json_object_get(j, "alias_history");
    QA_CHECK_INT(json_array_size(h), 3);
    json_t *h1 = json_array_get(h, 1);
    QA_CHECK_INT(json_integer_value(json_object_get(h1, "from")), 1);
    QA_CHECK_INT(json_integer_value(json_object_get(h1, "to")), 2);
    QA_CHECK_STR(json_string_value(json_object_get(h1, "who")), "ben");
    QA_CHECK_STR(json_string_value(json_object_get(h1, "why")), "better IC");
    QA_CHECK(json_is_null(json_object_get(json_array_get(h, 0), "from")));
    json_decref(j);
    /* the audit trail refuses rewriting even through plain SQL */
    char db[QA_PATH_MAX];
    snprintf(db, sizeof db, "%s/a/registry.db", g_dir);
    sqlite3 *raw = NULL;
    QA_CHECK(sqlite3_open(db, &raw) == SQLITE_OK);
    QA_CHECK(sqlite3_exec(raw, "DELETE FROM alias_history", NULL, NULL, NULL) != SQLITE_OK);
    QA_CHECK(sqlite3_exec(raw, "UPDATE events SET who = 'x'", NULL, NULL, NULL) != SQLITE_OK);
    sqlite3_close(raw);
    QA_CHECK_INT(history_rows(r, "alpha"), 3);
    /* protection: only the listed users move it */
    QA_CHECK_OK(qa_registry_alias_protect(r, "alpha", "champion", "ana,risk", "ana"));
    QA_CHECK_ERR(qa_registry_alias_set(r, "alpha", "champion", 3, "ben", "x"), QA_ERR_STATE, "only ana,risk may move");
    QA_CHECK_OK(qa_registry_alias_set(r, "alpha", "champion", 3, "risk", "approved"));
    QA_CHECK_OK(qa_registry_alias_set(r, "alpha", "champion", 2, "ana", "rollback"));
    /* delete: refused while an alias points at the version; numbers never reused */
    QA_CHECK_ERR(qa_registry_delete(r, "alpha", 2, "ana", "x"), QA_ERR_STATE, "aliases point to it (champion)");
    QA_CHECK_OK(qa_registry_alias_delete(r, "alpha", "challenger", "ben", "done"));
    QA_CHECK_OK(qa_registry_delete(r, "alpha", 3, "ben", "superseded"));
    QA_CHECK_ERR(qa_registry_resolve(r, "models:/alpha/3", &v), QA_ERR_NOT_FOUND, "deleted versions stay retired");
    char p3[QA_PATH_MAX];
    model_file("m3.qam", QA_NN_ARCH_MLP, 3, p3);
    QA_CHECK_INT(publish(r, "alpha", p3, 0.05), 4);
    QA_CHECK_INT(history_rows(r, "alpha"), 6);
    qa_registry_close(r);
}

/* Tags and search by name, tag, alias and metric. */
static void test_search(void) {
    qa_registry_t *r = open_reg("a");
    QA_CHECK_OK(qa_registry_tag(r, "alpha", 4, "stage", "candidate", "ana"));
    json_t *a = NULL;
    qa_registry_query q = {"al*", NULL, NULL, NULL};
    QA_CHECK_OK(qa_registry_search(r, &q, &a));
    QA_CHECK_INT(json_array_size(a), 3); /* 1, 2, 4 */
    json_decref(a);
    qa_registry_query q2 = {NULL, "stage=candidate", NULL, NULL};
    QA_CHECK_OK(qa_registry_search(r, &q2, &a));
    QA_CHECK_INT(json_array_size(a), 1);
    QA_CHECK_INT(json_integer_value(json_object_get(json_array_get(a, 0), "version")), 4);
    json_decref(a);
    qa_registry_query q3 = {NULL, NULL, NULL, "test_ic>=0.02"};
    QA_CHECK_OK(qa_registry_search(r, &q3, &a));
    QA_CHECK_INT(json_array_size(a), 2); /* 0.03 and 0.05 */
    json_decref(a);
    qa_registry_query q4 = {NULL, NULL, "champion", NULL};
    QA_CHECK_OK(qa_registry_search(r, &q4, &a));
    QA_CHECK_INT(json_array_size(a), 1);
    QA_CHECK_STR(json_string_value(json_object_get(json_array_get(a, 0), "uri")), "models:/alpha/2");
    json_decref(a);
    qa_registry_query bad = {NULL, NULL, NULL, "test_ic~1"};
    QA_CHECK_ERR(qa_registry_search(r, &bad, &a), QA_ERR_INVALID_ARG, "expected NAME OP NUMBER");
    json_t *d = NULL;
    QA_CHECK_OK(qa_registry_diff(r, "models:/alpha/1", "models:/alpha/2", &d));
    int saw_metric = 0, saw_sha = 0;
    size_t i;
    json_t *e;
    json_array_foreach(d, i, e) {
        const char *sec = json_string_value(json_object_get(e, "section")), *k = json_string_value(json_object_get(e, "key"));
        saw_metric |= strcmp(sec, "metrics") == 0 && strcmp(k, "test_ic") == 0;
        saw_sha |= strcmp(sec, "artifact") == 0 && strcmp(k, "sha256") == 0;
    }
    QA_CHECK(saw_metric && saw_sha);
    json_decref(d);
    qa_registry_close(r);
}

/* A flipped byte in a stored artifact: load refuses with the model, version and field and
 * leaves the output untouched; verify counts it. */
static void test_corruption(void) {
    qa_registry_t *r = open_reg("a");
    qa_registry_version v;
    QA_CHECK_OK(qa_registry_resolve(r, "models:/alpha/4", &v));
    FILE *f = fopen(v.path, "r+b");
    QA_CHECK(f != NULL);
    if (f) {
        fseek(f, 100, SEEK_SET);
        int c = fgetc(f);
        fseek(f, 100, SEEK_SET);
        fputc(c ^ 0x20, f);
        fclose(f);
    }
    qa_model m;
    memset(&m, 0x5a, sizeof m);
    QA_CHECK_ERR(qa_registry_load(r, "models:/alpha/4", &m, NULL), QA_ERR_INTEGRITY, "models:/alpha/4: artifact");
    QA_CHECK(strstr(qa_err_msg(), "field sha256") != NULL);
    unsigned char probe[sizeof m];
    memset(probe, 0x5a, sizeof probe);
    QA_CHECK(memcmp(&m, probe, sizeof m) == 0); /* nothing loaded */
    long checked = 0, bad = 0;
    QA_CHECK_OK(qa_registry_verify(r, NULL, &checked, &bad));
    QA_CHECK_INT(checked, 3);
    QA_CHECK_INT(bad, 1);
    QA_CHECK_OK(qa_registry_load(r, "models:/alpha@champion", &m, &v)); /* others still load */
    QA_CHECK_INT(v.version, 2);
    qa_model_free(&m);
    qa_registry_close(r);
}

/* The signature against the inputs a caller provides. */
static void test_signature(void) {
    qa_model m;
    make_model(&m, QA_NN_ARCH_MLP, 1);
    const char *ok[3] = {"rsi_close_14", "zscore_close_20", "ret"};
    const char *reordered[3] = {"zscore_close_20", "rsi_close_14", "ret"};
    const char *missing[2] = {"rsi_close_14", "ret"};
    const char *params[3] = {"{\"kind\":\"k0\"}", "{\"kind\":\"other\"}", NULL};
    QA_CHECK_OK(qa_registry_check_inputs(&m, "models:/alpha/1", ok, NULL, 3));
    QA_CHECK_ERR(qa_registry_check_inputs(&m, "models:/alpha/1", reordered, NULL, 3), QA_ERR_CONFIG,
                 "models:/alpha/1: signature field inputs[0] is 'rsi_close_14'");
    QA_CHECK(strstr(qa_err_msg(), "reordered") != NULL);
    QA_CHECK_ERR(qa_registry_check_inputs(&m, "models:/alpha/1", missing, NULL, 2), QA_ERR_CONFIG,
                 "inputs[1] 'zscore_close_20' is missing");
    QA_CHECK_ERR(qa_registry_check_inputs(&m, "models:/alpha/1", ok, params, 3), QA_ERR_CONFIG,
                 "inputs[1].params of 'zscore_close_20'");
    json_t *sig = qa_registry_signature(&m);
    QA_CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(sig, "inputs"), 2), "kind")), "bar");
    QA_CHECK_STR(json_string_value(json_object_get(sig, "dtype")), "float32");
    json_decref(sig);
    qa_model_free(&m);
}

typedef struct ev_ctx {
    long n, created;
    int64_t last;
    int increasing;
} ev_ctx;

static qa_status on_event(const qa_registry_event *e, void *p) {
    ev_ctx *c = p;
    if (e->seq <= c->last) c->increasing = 0;
    c->last = e->seq;
    c->n++;
    c->created += strcmp(e->kind, "version_created") == 0;
    return QA_OK;
}

/* Events: one per change, strictly increasing; polling from a sequence number. */
static void test_events(void) {
    qa_registry_t *r = open_reg("a");
    ev_ctx c = {0, 0, 0, 1};
    QA_CHECK_OK(qa_registry_events(r, 0, 0, on_event, &c));
    /* 4 publishes, 6 alias changes (5 sets, 1 delete), 1 protection, 1 delete, 1 tag */
    QA_CHECK_INT(c.n, 13);
    QA_CHECK_INT(c.created, 4);
    QA_CHECK(c.increasing);
    int64_t last = 0;
    QA_CHECK_OK(qa_registry_last_seq(r, &last));
    QA_CHECK_INT(last, c.last);
    ev_ctx tail = {0, 0, 0, 1};
    QA_CHECK_OK(qa_registry_events(r, last - 2, 0, on_event, &tail));
    QA_CHECK_INT(tail.n, 2);
    qa_registry_close(r);
}

static char *show_text(qa_registry_t *r, const char *what) {
    json_t *j = NULL;
    QA_CHECK_OK(qa_registry_show(r, what, &j));
    char *t = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    return t;
}

/* Export on one registry, import on another: identical show of the model and of every
 * version, alias history included; importing twice is refused. */
static void test_export_import(void) {
    qa_registry_t *r = open_reg("b");
    char p1[QA_PATH_MAX], p2[QA_PATH_MAX], bundle[QA_PATH_MAX];
    model_file("b1.qam", QA_NN_ARCH_MLP, 11, p1);
    model_file("b2.qam", QA_NN_ARCH_LSTM, 12, p2);
    publish(r, "beta", p1, 0.1);
    publish(r, "beta", p2, 0.2);
    QA_CHECK_OK(qa_registry_alias_set(r, "beta", "champion", 1, "ana", "first"));
    QA_CHECK_OK(qa_registry_alias_set(r, "beta", "champion", 2, "ana", "lstm"));
    QA_CHECK_OK(qa_registry_alias_protect(r, "beta", "champion", "ana", "ana"));
    QA_CHECK_OK(qa_registry_tag(r, "beta", 0, "owner", "desk-1", "ana"));
    snprintf(bundle, sizeof bundle, "%s/beta.qab", g_dir);
    QA_CHECK_OK(qa_registry_export(r, "beta", NULL, 0, bundle));
    qa_registry_t *r2 = open_reg("c");
    char name[QA_REGISTRY_NAME_MAX];
    QA_CHECK_OK(qa_registry_import(r2, bundle, "ops", name));
    QA_CHECK_STR(name, "beta");
    const char *what[] = {"beta", "models:/beta/1", "models:/beta/2", "models:/beta@champion"};
    for (int i = 0; i < 4; i++) {
        char *a = show_text(r, what[i]), *b = show_text(r2, what[i]);
        QA_CHECK_MSG(a && b && strcmp(a, b) == 0, "show %s differs after import", what[i]);
        free(a);
        free(b);
    }
    QA_CHECK_ERR(qa_registry_import(r2, bundle, "ops", name), QA_ERR_EXISTS, "already exists");
    /* one version only: the champion travels with its alias and the whole history */
    {
        char one[QA_PATH_MAX];
        snprintf(one, sizeof one, "%s/beta2.qab", g_dir);
        long v2 = 2, v9 = 9;
        QA_CHECK_ERR(qa_registry_export(r, "beta", &v9, 1, one), QA_ERR_NOT_FOUND, "1 version(s) asked for export, 0 exist");
        QA_CHECK_OK(qa_registry_export(r, "beta", &v2, 1, one));
        qa_registry_t *r5 = open_reg("f");
        QA_CHECK_OK(qa_registry_import(r5, one, "ops", name));
        qa_registry_version v;
        QA_CHECK_OK(qa_registry_resolve(r5, "models:/beta@champion", &v));
        QA_CHECK_INT(v.version, 2);
        QA_CHECK_ERR(qa_registry_resolve(r5, "models:/beta/1", &v), QA_ERR_NOT_FOUND, "no version 1");
        QA_CHECK_INT(history_rows(r5, "beta"), 2);
        char pv[QA_PATH_MAX];
        model_file("b3.qam", QA_NN_ARCH_MLP, 13, pv);
        QA_CHECK_INT(publish(r5, "beta", pv, 0.3), 3); /* the counter travelled too */
        qa_registry_close(r5);
    }
    qa_model m;
    memset(&m, 0, sizeof m);
    QA_CHECK_OK(qa_registry_load(r2, "models:/beta@champion", &m, NULL));
    QA_CHECK_INT(m.arch.type, QA_NN_ARCH_LSTM);
    qa_model_free(&m);
    /* a bundle with a valid checksum but bad records is refused whole */
    {
        static const unsigned char magic[8] = {0x89, 'Q', 'A', 'R', 'E', 'G', 'B', '\n'};
        json_t *doc = NULL;
        unsigned char *file = NULL;
        const unsigned char *payload = NULL;
        size_t B = 0;
        char bad[QA_PATH_MAX];
        snprintf(bad, sizeof bad, "%s/bad.qab", g_dir);
        QA_CHECK_OK(qa_container_read(bundle, magic, 1, "bundle", &doc, &file, &payload, &B, NULL));
        json_object_set_new(json_array_get(json_object_get(doc, "aliases"), 0), "alias", json_string("42"));
        char *text = json_dumps(doc, 0);
        QA_CHECK_OK(qa_container_write(bad, magic, 1, text, strlen(text), payload, B, NULL));
        qa_registry_t *r4 = open_reg("e");
        QA_CHECK_ERR(qa_registry_import(r4, bad, "ops", name), QA_ERR_FORMAT, "aliases[0]");
        json_object_set_new(json_array_get(json_object_get(doc, "aliases"), 0), "alias", json_string("champion"));
        json_object_set_new(json_array_get(json_object_get(doc, "versions"), 1), "version", json_integer(99));
        free(text);
        text = json_dumps(doc, 0);
        QA_CHECK_OK(qa_container_write(bad, magic, 1, text, strlen(text), payload, B, NULL));
        QA_CHECK_ERR(qa_registry_import(r4, bad, "ops", name), QA_ERR_FORMAT, "versions[1].version");
        qa_registry_close(r4);
        free(text);
        free(file);
        json_decref(doc);
    }
    /* a damaged bundle is refused whole */
    FILE *f = fopen(bundle, "r+b");
    if (f) {
        fseek(f, -40, SEEK_END);
        fputc(0x42, f);
        fclose(f);
    }
    qa_registry_t *r3 = open_reg("d");
    QA_CHECK_ERR(qa_registry_import(r3, bundle, "ops", name), QA_ERR_INTEGRITY, "SHA-256 mismatch");
    qa_registry_query q = {NULL, NULL, NULL, NULL};
    json_t *a = NULL;
    QA_CHECK_OK(qa_registry_search(r3, &q, &a));
    QA_CHECK_INT(json_array_size(a), 0);
    json_decref(a);
    qa_registry_close(r3);
    qa_registry_close(r2);
    qa_registry_close(r);
}

/* gc: an unreferenced artifact past the grace period is listed, and removed with apply. */
static void test_gc(void) {
    qa_registry_t *r = open_reg("a");
    qa_registry_version v;
    QA_CHECK_OK(qa_registry_resolve(r, "models:/alpha/1", &v));
    char orphan[QA_PATH_MAX];
    snprintf(orphan, sizeof orphan, "%s/a/artifacts/00/%064d.qam", g_dir, 0);
    char dir[QA_PATH_MAX];
    snprintf(dir, sizeof dir, "%s/a/artifacts/00", g_dir);
    QA_CHECK_OK(qa_fs_mkdirs(dir));
    QA_CHECK_OK(qa_fs_write_all(orphan, "x", 1));
    long files = 0;
    long long bytes = 0;
    QA_CHECK_OK(qa_registry_gc(r, 1, NULL, &files, &bytes));
    QA_CHECK_INT(files, 0); /* too young: a publish may be in flight */
    struct utimbuf old = {time(NULL) - 7200, time(NULL) - 7200};
    QA_CHECK(utime(orphan, &old) == 0 && utime(v.path, &old) == 0);
    QA_CHECK_OK(qa_registry_gc(r, 0, NULL, &files, &bytes));
    QA_CHECK_INT(files, 1);
    QA_CHECK(qa_fs_exists(orphan));
    QA_CHECK_OK(qa_registry_gc(r, 1, NULL, &files, &bytes));
    QA_CHECK_INT(files, 1);
    QA_CHECK(!qa_fs_exists(orphan) && qa_fs_exists(v.path));
    qa_registry_close(r);
}

/* 8 processes x 50 publishes into one registry: 400 dense, unique versions, 400 events. */
static void test_concurrent(void) {
    enum { PROCS = 8, EACH = 50 };
    char paths[PROCS][QA_PATH_MAX];
    for (int p = 0; p < PROCS; p++) {
        char file[32];
        snprintf(file, sizeof file, "c%d.qam", p);
        model_file(file, QA_NN_ARCH_MLP, 100 + p, paths[p]);
    }
    qa_registry_close(open_reg("conc"));
    pid_t kids[PROCS];
    for (int p = 0; p < PROCS; p++) {
        kids[p] = fork();
        if (kids[p] == 0) {
            char d[QA_PATH_MAX];
            snprintf(d, sizeof d, "%s/conc", g_dir);
            qa_registry_t *r = NULL;
            int bad = qa_registry_open(d, 1, &r) != QA_OK;
            for (int i = 0; i < EACH && !bad; i++) {
                char tag[16];
                snprintf(tag, sizeof tag, "%d", p);
                json_t *tags = json_pack("{s:s}", "writer", tag);
                qa_registry_publish_req req = {"gamma", paths[p], NULL, NULL, NULL, tags, NULL, "proc"};
                long v;
                if (qa_registry_publish(r, &req, &v) != QA_OK) {
                    printf("  child %d: %s\n", p, qa_err_msg());
                    bad = 1;
                }
                json_decref(tags);
            }
            qa_registry_close(r);
            _exit(bad);
        }
    }
    int failed = 0;
    for (int p = 0; p < PROCS; p++) {
        int status = 0;
        waitpid(kids[p], &status, 0);
        failed += !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    }
    QA_CHECK_INT(failed, 0);
    qa_registry_t *r = open_reg("conc");
    json_t *a = NULL;
    qa_registry_query q = {"gamma", NULL, NULL, NULL};
    QA_CHECK_OK(qa_registry_search(r, &q, &a));
    QA_CHECK_INT(json_array_size(a), PROCS * EACH);
    size_t i;
    json_t *e;
    int dense = 1;
    json_array_foreach(a, i, e) dense &= json_integer_value(json_object_get(e, "version")) == (json_int_t)i + 1;
    QA_CHECK(dense);
    json_decref(a);
    ev_ctx c = {0, 0, 0, 1};
    QA_CHECK_OK(qa_registry_events(r, 0, 0, on_event, &c));
    QA_CHECK_INT(c.created, PROCS * EACH);
    QA_CHECK(c.increasing);
    QA_CHECK_INT(count_files("conc"), PROCS);
    qa_registry_close(r);
}

/* The prediction API on a model loaded by URI: the same outputs as the file it was
 * published from, one row as in a batch, and the stateful LSTM step. */
static void test_predict_by_uri(void) {
    qa_registry_t *r = open_reg("b");
    qa_model byuri, file;
    char p2[QA_PATH_MAX];
    snprintf(p2, sizeof p2, "%s/b2.qam", g_dir);
    QA_CHECK_OK(qa_registry_load(r, "models:/beta@champion", &byuri, NULL));
    QA_CHECK_OK(qa_model_load(p2, &file));
    const int rows = 5, W = 4 * 3;
    double raw[5 * 12], o1[5], o2[5], one;
    for (int i = 0; i < rows * W; i++) raw[i] = 0.5 * sin(0.91 * i);
    qa_model_predictor_t *a = NULL, *b = NULL;
    QA_CHECK_OK(qa_model_predictor_create(&byuri, rows, &a));
    QA_CHECK_OK(qa_model_predictor_create(&file, rows, &b));
    QA_CHECK_OK(qa_model_predictor_run(a, rows, raw, o1));
    QA_CHECK_OK(qa_model_predictor_run(b, rows, raw, o2));
    QA_CHECK(memcmp(o1, o2, sizeof o1) == 0);
    QA_CHECK_OK(qa_model_predictor_run(a, 1, raw + 3 * W, &one));
    QA_CHECK(memcmp(&one, &o1[3], sizeof one) == 0);
    qa_model_stream_t *s = NULL;
    QA_CHECK_OK(qa_model_stream_create(&byuri, 2, 0, &s));
    double so = 0;
    for (int t = 0; t < 4; t++) QA_CHECK_OK(qa_model_stream_push(s, 1, raw + 2 * W + t * 3, &so));
    QA_CHECK(so == o1[2]); /* from a reset, L steps reproduce the windowed row bit for bit */
    qa_model_stream_free(s);
    qa_model_predictor_free(a);
    qa_model_predictor_free(b);
    qa_model_free(&byuri);
    qa_model_free(&file);
    qa_registry_close(r);
}

int main(void) {
    if (qa_test_tmpdir(g_dir, sizeof g_dir, "registry")) {
        printf("cannot create a temporary directory\n");
        return 1;
    }
    QA_RUN(test_versions_and_uris);
    QA_RUN(test_aliases);
    QA_RUN(test_search);
    QA_RUN(test_corruption);
    QA_RUN(test_signature);
    QA_RUN(test_events);
    QA_RUN(test_export_import);
    QA_RUN(test_gc);
    QA_RUN(test_concurrent);
    QA_RUN(test_predict_by_uri);
    qa_test_rmtree(g_dir);
    return qa_test_finish();
}
