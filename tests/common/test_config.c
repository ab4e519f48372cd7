/* Config parsing and schema binding: every rejection names file, line and key. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/config.h"
#include "common/json.h" /* qa_json_from_schema */
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

int main(void) {
    QA_RUN(test_good);
    QA_RUN(test_typed_blocks);
    QA_RUN(test_defaults_kept);
    QA_RUN(test_json_accepted);
    QA_RUN(test_rejections);
    QA_RUN(test_override);
    QA_RUN(test_missing_file);
    QA_RUN(test_empty_document);
    return qa_test_finish();
}
