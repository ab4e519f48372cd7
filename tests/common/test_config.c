/* Config parsing and schema binding: every rejection names file, line and key. */
#include <signal.h>       /* SIGALRM in the child's time limit */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>        /* snprintf, fprintf */
#include <stdlib.h>       /* malloc */
#include <string.h>
#include <sys/resource.h> /* setrlimit: the child's memory cap */
#include <sys/wait.h>     /* waitpid */
#include <unistd.h>       /* fork, alarm, _exit */

#include "common/config.h"
#include "common/json.h" /* qa_json_from_schema */
#include "common/timer.h"
#include "config_test.h" /* qa_test_bind_text */
#include "harness.h"

typedef struct demo_cfg {
    long long window;
    double cost_bps;
    int enabled;
    const char *name;
    int mode;
    qa_cfg_list fast; /* long long */
    qa_cfg_list symbols; /* strings */
    long long seed;
    const qa_cfg_node *grid;
} demo_cfg;

static const char *const modes[] = {"long", "short", "long_short", NULL};

static const qa_cfg_field model_fields[] = {
    {"seed", QA_CFG_T_INT, offsetof(demo_cfg, seed), 0, 1e18, NULL, NULL, 0, "RNG seed"},
    {NULL},
};

static const qa_cfg_field schema[] = {
    {"window", QA_CFG_T_INT, offsetof(demo_cfg, window), 2, 10000, NULL, NULL, QA_CFG_REQUIRED, "look-back"},
    {"cost_bps", QA_CFG_T_DOUBLE, offsetof(demo_cfg, cost_bps), 0, 1000, NULL, NULL, 0, "cost"},
    {"enabled", QA_CFG_T_BOOL, offsetof(demo_cfg, enabled), 0, 0, NULL, NULL, 0, "on/off"},
    {"name", QA_CFG_T_STRING, offsetof(demo_cfg, name), 0, 0, NULL, NULL, 0, "label"},
    {"mode", QA_CFG_T_ENUM, offsetof(demo_cfg, mode), 0, 0, modes, NULL, 0, "direction"},
    {"fast", QA_CFG_T_INT_LIST, offsetof(demo_cfg, fast), 1, 500, NULL, NULL, 0, "fast windows"},
    {"symbols", QA_CFG_T_STRING_LIST, offsetof(demo_cfg, symbols), 0, 0, NULL, NULL, 0, "universe"},
    {"model", QA_CFG_T_SECTION, 0, 0, 0, NULL, model_fields, 0, "model settings"},
    {"grid", QA_CFG_T_NODE, offsetof(demo_cfg, grid), 0, 0, NULL, NULL, 0, "free-form"},
    {NULL},
};

static qa_status bind_text(const char *text, demo_cfg *out, qa_cfg_t **keep) {
    qa_cfg_t *cfg = NULL;
    qa_status st = qa_cfg_parse("t.yaml", text, strlen(text), &cfg);
    if (st != QA_OK) return st;
    demo_cfg d = {.window = 20, .cost_bps = 1.5, .enabled = 1, .name = "default", .mode = 0};
    st = qa_cfg_bind(cfg, qa_cfg_root(cfg), schema, &d, NULL);
    if (st == QA_OK) *out = d;
    if (keep && st == QA_OK) *keep = cfg;
    else qa_cfg_free(cfg);
    return st;
}

static void test_good(void) {
    const char *text =
        "# comment\n"
        "window: 50\n"
        "cost_bps: 2.5\n"
        "enabled: no\n"
        "name: \"ma cross\"\n"
        "mode: long_short\n"
        "fast: [5, 10, 20]\n"
        "symbols:\n  - AAPL\n  - MSFT\n"
        "model:\n  seed: 1e6\n"
        "grid: {a: 1}\n";
    demo_cfg d;
    qa_cfg_t *cfg = NULL;
    QA_CHECK_OK(bind_text(text, &d, &cfg));
    QA_CHECK_INT(d.window, 50);
    QA_CHECK_NEAR(d.cost_bps, 2.5, 0, 0);
    QA_CHECK_INT(d.enabled, 0);
    QA_CHECK_STR(d.name, "ma cross");
    QA_CHECK_INT(d.mode, 2);
    QA_CHECK_INT(d.fast.n, 3);
    QA_CHECK_INT(((long long *)d.fast.items)[2], 20);
    QA_CHECK_INT(d.symbols.n, 2);
    QA_CHECK_STR(((const char **)d.symbols.items)[1], "MSFT");
    QA_CHECK_INT(d.seed, 1000000);
    QA_CHECK(qa_cfg_node_kind(d.grid) == QA_CFG_MAP);
    QA_CHECK_INT(qa_cfg_node_line(d.grid), 13);
    qa_cfg_free(cfg);
}

static void test_defaults_kept(void) {
    demo_cfg d;
    QA_CHECK_OK(bind_text("window: 3\n", &d, NULL));
    QA_CHECK_NEAR(d.cost_bps, 1.5, 0, 0);
    QA_CHECK_STR(d.name, "default");
}

static void test_json_accepted(void) {
    demo_cfg d;
    QA_CHECK_OK(bind_text("{\"window\": 7, \"fast\": [1, 2], \"model\": {\"seed\": 3}}", &d, NULL));
    QA_CHECK_INT(d.window, 7);
    QA_CHECK_INT(d.seed, 3);
}

static void test_rejections(void) {
    demo_cfg d;
    QA_CHECK_ERR(bind_text("window: 5\nwindw: 3\n", &d, NULL), QA_ERR_CONFIG,
                 "t.yaml:2: unknown key 'windw' in the top level (did you mean 'window'?)");
    QA_CHECK_ERR(bind_text("window: 5\nbogus_key: 3\n", &d, NULL), QA_ERR_CONFIG, "allowed: window, cost_bps");
    QA_CHECK_ERR(bind_text("window: 1\n", &d, NULL), QA_ERR_CONFIG,
                 "t.yaml:1: key 'window': 1 is out of range [2, 10000]");
    QA_CHECK_ERR(bind_text("cost_bps: 1\n", &d, NULL), QA_ERR_CONFIG, "missing required key 'window'");
    QA_CHECK_ERR(bind_text("window: ten\n", &d, NULL), QA_ERR_CONFIG, "'ten' is not an integer");
    QA_CHECK_ERR(bind_text("window: 2.5\n", &d, NULL), QA_ERR_CONFIG, "'2.5' is not an integer");
    QA_CHECK_ERR(bind_text("window: 5\nenabled: maybe\n", &d, NULL), QA_ERR_CONFIG,
                 "t.yaml:2: key 'enabled': 'maybe' is not true or false");
    QA_CHECK_ERR(bind_text("window: 5\nmode: sideways\n", &d, NULL), QA_ERR_CONFIG,
                 "'sideways' is not one of: long, short, long_short");
    QA_CHECK_ERR(bind_text("window: 5\nfast: [1, 999]\n", &d, NULL), QA_ERR_CONFIG,
                 "key 'fast[1]': 999 is out of range [1, 500]");
    QA_CHECK_ERR(bind_text("window: 5\nmodel:\n  sed: 1\n", &d, NULL), QA_ERR_CONFIG,
                 "t.yaml:3: unknown key 'sed' in model (did you mean 'seed'?)");
    QA_CHECK_ERR(bind_text("window: 5\nwindow: 6\n", &d, NULL), QA_ERR_CONFIG,
                 "t.yaml:2: duplicate key 'window' (first at line 1)");
    QA_CHECK_ERR(bind_text("window: [5\n", &d, NULL), QA_ERR_CONFIG, "t.yaml:");
    QA_CHECK_ERR(bind_text("- a\n- b\n", &d, NULL), QA_ERR_CONFIG, "top level must be a map");
    QA_CHECK_ERR(bind_text("window: 5\ncost_bps: .nan\n", &d, NULL), QA_ERR_CONFIG, "is not a number");
    QA_CHECK_ERR(bind_text("window: {a: 1}\n", &d, NULL), QA_ERR_CONFIG, "expected an integer, got a map");
    /* a second document would be ignored: refused with its line */
    QA_CHECK_ERR(bind_text("window: 5\n---\nwindow: 6\n", &d, NULL), QA_ERR_CONFIG,
                 "t.yaml:2: a second YAML document: a config is one document");
    QA_CHECK_OK(bind_text("---\nwindow: 5\n...\n", &d, NULL)); /* one document with its markers */
}

static void test_override(void) {
    qa_cfg_t *cfg = NULL;
    const char *text = "window: 5\nmodel:\n  seed: 1\n";
    QA_CHECK_OK(qa_cfg_parse("t.yaml", text, strlen(text), &cfg));
    QA_CHECK_OK(qa_cfg_override(cfg, "model.seed=42"));
    QA_CHECK_OK(qa_cfg_override(cfg, "fast=[3,4]"));
    QA_CHECK_OK(qa_cfg_override(cfg, "window=9"));
    demo_cfg d = {0};
    QA_CHECK_OK(qa_cfg_bind(cfg, qa_cfg_root(cfg), schema, &d, NULL));
    QA_CHECK_INT(d.seed, 42);
    QA_CHECK_INT(d.window, 9);
    QA_CHECK_INT(d.fast.n, 2);
    QA_CHECK_ERR(qa_cfg_override(cfg, "noequals"), QA_ERR_CONFIG, "expected key.path=value");
    QA_CHECK_ERR(qa_cfg_override(cfg, "window.x=1"), QA_ERR_CONFIG, "'window' is not a map");
    /* an empty part of the key path is an error, not skipped */
    QA_CHECK_ERR(qa_cfg_override(cfg, "model..seed=5"), QA_ERR_CONFIG, "empty key in 'model..seed'");
    QA_CHECK_ERR(qa_cfg_override(cfg, ".window=5"), QA_ERR_CONFIG, "empty key");
    QA_CHECK_ERR(qa_cfg_override(cfg, "window.=5"), QA_ERR_CONFIG, "empty key");
    qa_cfg_free(cfg);
}

static void test_missing_file(void) {
    qa_cfg_t *cfg = NULL;
    QA_CHECK_ERR(qa_cfg_load("/nonexistent/x.yaml", &cfg), QA_ERR_IO, "/nonexistent/x.yaml: cannot open");
}

static void test_empty_document(void) {
    qa_cfg_t *cfg = NULL;
    QA_CHECK_OK(qa_cfg_parse("e.yaml", "", 0, &cfg));
    QA_CHECK(qa_cfg_node_kind(qa_cfg_root(cfg)) == QA_CFG_MAP);
    demo_cfg d = {0};
    QA_CHECK_ERR(qa_cfg_bind(cfg, qa_cfg_root(cfg), schema, &d, NULL), QA_ERR_CONFIG, "missing required key 'window'");
    qa_cfg_free(cfg);
}

/* A shared block (like trading's rules) bound into its own member of an engine's
 * config: integers of their own types, a section with a scalar shorthand for its enum,
 * the block's leaves inline, and the same value given twice refused. */
typedef struct block {
    int kind;
    int window;
    int64_t stamp;
    size_t count;
    double rate;
} block;
typedef struct engine {
    const char *name;
    block b;
} engine;
static const char *const kinds[] = {"fixed", "adaptive", NULL};
static const qa_cfg_field inner[] = {
    QA_CFG_ENUM(block, "method", kind, kinds, 0, "kind"),
    QA_CFG_NUM(block, "window", window, 2, 1e6, 0, "bars"),
    {NULL},
};
static const qa_cfg_field block_schema[] = {
    {"sizing", QA_CFG_T_SECTION, 0, 0, 0, NULL, inner, 0, "a section"},
    QA_CFG_NUM(block, "stamp", stamp, 0, 9e18, 0, "int64"),
    QA_CFG_NUM(block, "count", count, 0, 1e9, 0, "size_t"),
    QA_CFG_NUM(block, "rate", rate, 0, 1, 0, "double"),
    {"", QA_CFG_T_INLINE, 0, 0, 0, NULL, inner + 1, QA_CFG_ALIAS, "window written flat"},
    {NULL},
};
static const qa_cfg_field engine_schema[] = {
    QA_CFG_FIELD(engine, "name", QA_CFG_T_STRING, name, 0, "label"),
    {"settings", QA_CFG_T_SECTION, offsetof(engine, b), 0, 0, NULL, block_schema, 0, "the block"},
    {"", QA_CFG_T_INLINE, offsetof(engine, b), 0, 0, NULL, block_schema, QA_CFG_ALIAS, "the block at the top level"},
    {NULL},
};

static qa_status bind_engine(const char *text, engine *e) {
    return qa_test_bind_text("e.yaml", text, engine_schema, e);
}

static void test_typed_blocks(void) {
    engine e = {NULL, {0, 20, 0, 0, 0.5}};
    QA_CHECK_OK(bind_engine("settings: {sizing: adaptive, stamp: 9000000000000000000, count: 7}\nrate: 0.25\n", &e));
    QA_CHECK_INT(e.b.kind, 1);
    QA_CHECK(e.b.stamp == INT64_C(9000000000000000000));
    QA_CHECK_INT(e.b.count, 7);
    QA_CHECK(e.b.rate == 0.25 && e.b.window == 20);
    QA_CHECK_OK(bind_engine("sizing: {method: fixed, window: 30}\n", &e));
    QA_CHECK(e.b.kind == 0 && e.b.window == 30);
    QA_CHECK_OK(bind_engine("settings: {window: 40}\n", &e)); /* the flat alias */
    QA_CHECK_INT(e.b.window, 40);
    QA_CHECK_ERR(bind_engine("settings: {window: 40}\nwindow: 41\n", &e), QA_ERR_CONFIG,
                 "e.yaml:2: key 'window' sets the same value as 'settings.window' at line 1");
    QA_CHECK_ERR(bind_engine("sizing: {window: 40}\nsettings: {window: 3}\n", &e), QA_ERR_CONFIG,
                 "sets the same value as 'sizing.window'");
    QA_CHECK_ERR(bind_engine("settings: {sizing: fixed, method: fixed}\n", &e), QA_ERR_CONFIG,
                 "unknown key 'method' in settings");
    QA_CHECK_ERR(bind_engine("count: -1\n", &e), QA_ERR_CONFIG, "key 'count'");
    QA_CHECK_ERR(bind_engine("settings: {sizing: wide}\n", &e), QA_ERR_CONFIG,
                 "key 'settings.sizing.method': 'wide' is not one of: fixed, adaptive");
    QA_CHECK_ERR(bind_engine("windw: 3\n", &e), QA_ERR_CONFIG, "did you mean 'window'?");
    /* The resolved config lists the block once, without its aliases. */
    json_t *j = qa_json_from_schema(engine_schema, &e);
    QA_CHECK(j && json_object_get(j, "settings") && json_object_get(json_object_get(j, "settings"), "sizing"));
    QA_CHECK(json_object_get(j, "name") && !json_object_get(j, "rate") && !json_object_get(j, "window"));
    QA_CHECK(json_object_get(json_object_get(j, "settings"), "rate") && !json_object_get(json_object_get(j, "settings"), "window"));
    QA_CHECK(json_integer_value(json_object_get(json_object_get(json_object_get(j, "settings"), "sizing"), "window")) == 40);
    json_decref(j);
}

/* Errors in a value given by --set name the override, not "file:0". */
static void test_override_errors(void) {
    static const struct {
        const char *text, *set, *want;
    } cases[] = {
        {"window: 5\n", "window=abc", "--set window=abc: key 'window': 'abc' is not an integer"},
        {"window: 5\n", "window=1", "--set window=1: key 'window': 1 is out of range [2, 10000]"},
        {"window: 5\n", "fast=[3,999]", "--set fast=[3,999]: key 'fast[1]': 999 is out of range [1, 500]"},
        {"window: 5\n", "model.sed=1", "--set model.sed=1: unknown key 'sed' in model (did you mean 'seed'?)"},
        {"window: 5\n", "windw=1", "--set windw=1: unknown key 'windw' in the top level"},
        {"window: 5\n", "grid.fast=[1", "--set grid.fast=[1: the value is not valid YAML: did not find expected ','"},
        {"window: 5\n", "model=3", "--set model=3: key 'model': expected a map of keys"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        qa_cfg_t *cfg = NULL;
        QA_CHECK_OK(qa_cfg_parse("t.yaml", cases[i].text, strlen(cases[i].text), &cfg));
        qa_status st = qa_cfg_override(cfg, cases[i].set);
        demo_cfg d = {0};
        if (st == QA_OK) st = qa_cfg_bind(cfg, qa_cfg_root(cfg), schema, &d, NULL);
        QA_CHECK_MSG(st == QA_ERR_CONFIG && strstr(qa_err_msg(), cases[i].want), "--set %s -> %s '%s', want '%s'",
                     cases[i].set, qa_status_name(st), qa_err_msg(), cases[i].want);
        QA_CHECK_MSG(!strstr(qa_err_msg(), ":0:"), "--set %s: '%s' names line 0", cases[i].set, qa_err_msg());
        qa_cfg_free(cfg);
    }
    /* a value in the file: still file:line */
    demo_cfg d;
    QA_CHECK_ERR(bind_text("window: 5\nmodel: {seed: -1}\n", &d, NULL), QA_ERR_CONFIG, "t.yaml:2: key 'model.seed'");
    /* the same value from the file and from --set through a flat alias: both named */
    engine e;
    qa_cfg_t *cfg = NULL;
    QA_CHECK_OK(qa_cfg_parse("e.yaml", "settings: {window: 40}\n", 23, &cfg));
    QA_CHECK_OK(qa_cfg_override(cfg, "window=41"));
    QA_CHECK_ERR(qa_cfg_bind(cfg, qa_cfg_root(cfg), engine_schema, &e, NULL), QA_ERR_CONFIG,
                 "--set window=41: key 'window' sets the same value as 'settings.window' at line 1");
    qa_cfg_free(cfg);
    /* the node API names the place the same way */
    char at[QA_CFG_WHERE_MAX];
    QA_CHECK_OK(qa_cfg_parse("w.yaml", "a: 1\nb: 2\n", 10, &cfg));
    QA_CHECK_OK(qa_cfg_override(cfg, "b=3"));
    QA_CHECK_STR(qa_cfg_node_where(cfg, qa_cfg_map_get(qa_cfg_root(cfg), "a"), at, sizeof at), "w.yaml:1");
    QA_CHECK_STR(qa_cfg_node_where(cfg, qa_cfg_map_get(qa_cfg_root(cfg), "b"), at, sizeof at), "--set b=3");
    qa_cfg_free(cfg);
}

/* ---- aliases ---------------------------------------------------------------------------------- */

/* The "billion laughs": level k is a list naming level k-1 nine times, so the top level
 * stands for 9^levels scalars; written with ~60 bytes a level. */
static size_t laughs(char *buf, size_t size, int levels) {
    size_t used = (size_t)snprintf(buf, size, "a0: &a0 [lol]\n");
    for (int k = 1; k <= levels; k++) {
        used += (size_t)snprintf(buf + used, size - used, "a%d: &a%d [", k, k);
        for (int j = 0; j < 9; j++) used += (size_t)snprintf(buf + used, size - used, "%s*a%d", j ? "," : "", k - 1);
        used += (size_t)snprintf(buf + used, size - used, "]\n");
    }
    return used;
}

/* The parse in a child under a 512 MiB address-space cap (none under AddressSanitizer,
 * which reserves terabytes of shadow) and a 20 s alarm, so an unbounded expansion fails
 * the test instead of taking the machine. Exit 0: refused with `want` in the message. */
static int parse_capped(const char *text, size_t len, const char *want) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
#if !defined(__SANITIZE_ADDRESS__)
        struct rlimit rl = {512u << 20, 512u << 20};
        if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(3);
#endif
        alarm(20);
        qa_cfg_t *cfg = NULL;
        qa_status st = qa_cfg_parse("laughs.yaml", text, len, &cfg);
        qa_cfg_free(cfg);
        if (st == QA_ERR_CONFIG && strstr(qa_err_msg(), want)) _exit(0);
        fprintf(stderr, "child: %s: %s\n", qa_status_name(st), qa_err_msg());
        _exit(1);
    }
    int ws = 0;
    if (waitpid(pid, &ws, 0) != pid) return -1;
    if (WIFSIGNALED(ws)) return 128 + WTERMSIG(ws);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
}

static void test_alias_bomb(void) {
    char buf[4096];
    size_t len = laughs(buf, sizeof buf, 9);
    QA_CHECK(len < 700); /* the 606 bytes */
    /* Level k has 1 + 9 size(k-1) nodes (a0: 2): 19, 172, 1549, 13942, 125479, ... Aliases
     * copy 9 size(k-1) on line k+1: 141156 through line 6, and line 7's aliases of a5 pass
     * 1e6 at the 7th (141156 + 7 x 125479 = 1019509). */
    int rc = parse_capped(buf, len, "laughs.yaml:7: alias '*a5' (125479 nodes)");
    QA_CHECK_MSG(rc == 0, "billion laughs: child exit %d (0 = refused with file:line and the alias)", rc);
    rc = parse_capped(buf, len, "past the limit of 1000000");
    QA_CHECK_MSG(rc == 0, "billion laughs: message names the limit (child exit %d)", rc);
    /* five levels copy 141156 nodes: within the limit, and every copy is there */
    len = laughs(buf, sizeof buf, 5);
    qa_cfg_t *cfg = NULL;
    QA_CHECK_OK(qa_cfg_parse("five.yaml", buf, len, &cfg));
    const qa_cfg_node *n = qa_cfg_map_get(qa_cfg_root(cfg), "a5");
    static const size_t path[] = {8, 0, 4, 2, 1}; /* a5 -> a4 -> a3 -> a2 -> a1 -> a0 */
    for (size_t k = 0; k < 5; k++) {
        QA_CHECK_INT(qa_cfg_node_len(n), 9);
        n = qa_cfg_seq_at(n, path[k]);
    }
    QA_CHECK_INT(qa_cfg_node_len(n), 1);
    QA_CHECK_STR(qa_cfg_node_text(qa_cfg_seq_at(n, 0)), "lol");
    qa_cfg_free(cfg);
    /* an alias inside its own anchor is a cycle */
    const char *cyc = "a: &x [1, *x]\n";
    QA_CHECK_ERR(qa_cfg_parse("c.yaml", cyc, strlen(cyc), &cfg), QA_ERR_CONFIG,
                 "c.yaml:1: alias '*x' refers to the value it is inside");
    /* an undefined alias: libyaml's message with its line */
    const char *undef = "a: 1\nb: *nope\n";
    QA_CHECK_ERR(qa_cfg_parse("u.yaml", undef, strlen(undef), &cfg), QA_ERR_CONFIG, "u.yaml:2:");
}

/* A few anchors and aliases, as a real config shares settings: each alias is a full copy. */
static void test_alias_small(void) {
    const char *text =
        "base: &costs {commission_bps: 1, slippage_bps: 2}\n"
        "window: &w 30\n"
        "a: *costs\n"
        "b: {x: *w, y: [*w, *w]}\n"
        "fast: [*w, 7]\n";
    qa_cfg_t *cfg = NULL;
    QA_CHECK_OK(qa_cfg_parse("s.yaml", text, strlen(text), &cfg));
    const qa_cfg_node *root = qa_cfg_root(cfg), *a = qa_cfg_map_get(root, "a");
    QA_CHECK_INT(qa_cfg_node_len(a), 2);
    QA_CHECK_STR(qa_cfg_node_text(qa_cfg_map_get(a, "slippage_bps")), "2");
    QA_CHECK_STR(qa_cfg_node_text(qa_cfg_seq_at(qa_cfg_map_get(qa_cfg_map_get(root, "b"), "y"), 1)), "30");
    qa_cfg_free(cfg);
    /* bound through the schema: the aliased scalar is a value like any other */
    demo_cfg d;
    qa_cfg_t *kept = NULL; /* the bound list points into it */
    QA_CHECK_OK(bind_text("window: &w 12\nfast: [*w, *w]\ngrid: &g {p: 1}\n", &d, &kept));
    QA_CHECK_INT(d.window, 12);
    QA_CHECK_INT(d.fast.n, 2);
    if (kept) QA_CHECK_INT(((const long long *)d.fast.items)[1], 12);
    qa_cfg_free(kept);
}

/* A map of 300k keys: the duplicate check is sorted (the pairwise scan takes minutes), and
 * a repeat is still reported at its first occurrence in file order, with both lines. */
static void test_many_keys(void) {
    const size_t K = 300000; /* pairwise: 4.5e10 compares, minutes even optimised */
    char *text = malloc(K * 24 + 64);
    QA_REQUIRE(text != NULL);
    size_t len = 0;
    for (size_t i = 0; i < K; i++) len += (size_t)sprintf(text + len, "k%zu: %zu\n", i, i);
    qa_cfg_t *cfg = NULL;
    uint64_t t0 = qa_time_ns();
    QA_CHECK_OK(qa_cfg_parse("big.yaml", text, len, &cfg));
    double secs = qa_time_since(t0);
    QA_CHECK_MSG(secs < 30.0, "300k keys took %.1f s", secs);
    QA_CHECK_INT(qa_cfg_node_len(qa_cfg_root(cfg)), K);
    qa_cfg_free(cfg);
    /* repeats of k7 (line 8) at lines 50001 and 70001, and of k3 (line 4) at line 90001 */
    len = 0;
    for (size_t i = 0; i < K; i++)
        len += (size_t)sprintf(text + len, "k%zu: %zu\n", i == 50000 || i == 70000 ? 7 : i == 90000 ? 3 : i, i);
    QA_CHECK_ERR(qa_cfg_parse("big.yaml", text, len, &cfg), QA_ERR_CONFIG,
                 "big.yaml:50001: duplicate key 'k7' (first at line 8)");
    free(text);
}

int main(void) {
    QA_RUN(test_many_keys);
    QA_RUN(test_good);
    QA_RUN(test_typed_blocks);
    QA_RUN(test_defaults_kept);
    QA_RUN(test_json_accepted);
    QA_RUN(test_rejections);
    QA_RUN(test_override);
    QA_RUN(test_override_errors);
    QA_RUN(test_alias_bomb);
    QA_RUN(test_alias_small);
    QA_RUN(test_missing_file);
    QA_RUN(test_empty_document);
    return qa_test_finish();
}
