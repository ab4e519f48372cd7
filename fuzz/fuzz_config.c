/* libFuzzer harness: configuration files (common/config.h) and the binders that turn
 * them into command configs. Input: one selector byte, then the YAML/JSON text, then up
 * to four `--set a.b=value` overrides, each after a 0xff byte.
 *   - the text is parsed (qa_cfg_parse), the overrides applied (qa_cfg_override);
 *   - the whole tree is walked: kinds, lines, "where" texts, map lookups of every key and
 *     every typed read (int, double, bool, string, enum) of every scalar;
 *   - the document is bound by one binder (selector byte % 11): import, synth, trading
 *     rules, sim, stress, train, RL, features, sweep (against a small market file made
 *     at start-up, fuzz_market.h), risk limits + pre-trade limits + execution algos, or all schemas at
 *     once on the root. */
#include <stdint.h>  /* uint8_t */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* malloc, free */
#include <string.h>  /* memchr, memcpy */

#include "common/config.h"        /* qa_cfg_parse, qa_cfg_override, qa_cfg_bind */
#include "datasets/import.h"      /* qa_import_schema */
#include "datasets/synth.h"       /* qa_synth_schema */
#include "fuzz_market.h"          /* the market file the sweep binder reads */
#include "fuzz_util.h"            /* scratch files, quiet logs */
#include "pipeline/features/features.h"
#include "pipeline/rl/rl.h"
#include "pipeline/sim/sim.h"
#include "pipeline/stress/stress.h"
#include "pipeline/sweep/sweep.h"
#include "pipeline/sweep/sweep_internal.h" /* qa_sweep_cfg_load: the sweep's binder */
#include "pipeline/train/train.h"
#include "trading/algo.h"         /* qa_algo_cfg_bind */
#include "trading/limits.h"       /* qa_limits_parse */
#include "trading/pretrade.h"     /* qa_pretrade_limits_bind */
#include "trading/rules.h"        /* qa_rules_schema */

static const char *market;
static char run_dir[512];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    qa_fuzz_quiet();
    qa_fuzz_path("run", run_dir, sizeof run_dir);
    market = qa_fuzz_market(); /* for the sweep binder's symbol and date checks */
    return market ? 0 : 1;
}

static void walk(const qa_cfg_t *cfg, const qa_cfg_node *n, int depth) {
    static const char *const choices[] = {"a", "b", "true", "mask", NULL};
    char where[QA_CFG_WHERE_MAX];
    (void)qa_cfg_node_where(cfg, n, where, sizeof where);
    (void)qa_cfg_node_line(n);
    size_t len = qa_cfg_node_len(n);
    switch (qa_cfg_node_kind(n)) {
    case QA_CFG_SCALAR: {
        long long i;
        double d;
        int b, e;
        const char *s;
        (void)qa_cfg_node_text(n);
        (void)qa_cfg_read_int(cfg, n, "x", -1000000, 1000000, &i);
        (void)qa_cfg_read_double(cfg, n, "x", -1e300, 1e300, &d);
        (void)qa_cfg_read_bool(cfg, n, "x", &b);
        (void)qa_cfg_read_string(cfg, n, "x", &s);
        (void)qa_cfg_read_enum(cfg, n, "x", choices, &e);
        break;
    }
    case QA_CFG_SEQ:
        for (size_t i = 0; i < len && i < 256; i++)
            if (depth < 64) walk(cfg, qa_cfg_seq_at(n, i), depth + 1);
        (void)qa_cfg_seq_at(n, len); /* one past the end: NULL */
        break;
    case QA_CFG_MAP:
        for (size_t i = 0; i < len && i < 256; i++) {
            const char *k = qa_cfg_map_key_at(n, i);
            (void)qa_cfg_map_key_line_at(n, i);
            if (k && qa_cfg_map_get(n, k) == NULL) __builtin_trap(); /* a listed key must be found */
            if (depth < 64) walk(cfg, qa_cfg_map_value_at(n, i), depth + 1);
        }
        break;
    default:
        break;
    }
}

static void bind_one(unsigned which, const qa_cfg_t *cfg) {
    const qa_cfg_node *root = qa_cfg_root(cfg);
    switch (which) {
    case 0: {
        qa_import_cfg c;
        qa_import_cfg_default(&c);
        (void)qa_cfg_bind(cfg, root, qa_import_schema, &c, NULL);
        break;
    }
    case 1: {
        qa_synth_cfg c;
        qa_synth_cfg_default(&c);
        (void)qa_cfg_bind(cfg, root, qa_synth_schema, &c, NULL);
        break;
    }
    case 2: {
        qa_rules r;
        qa_rules_init(&r);
        if (qa_cfg_bind(cfg, root, qa_rules_schema, &r, "settings") == QA_OK) (void)qa_rules_validate(&r);
        break;
    }
    case 3: {
        qa_sim_cfg c;
        qa_sim_cfg_default(&c);
        (void)qa_sim_cfg_bind(cfg, &c);
        break;
    }
    case 4: {
        qa_stress_cfg c;
        qa_stress_cfg_default(&c);
        (void)qa_stress_cfg_bind(cfg, &c);
        qa_stress_cfg_free(&c);
        break;
    }
    case 5: {
        qa_train_cfg c;
        if (qa_train_cfg_default(&c) == QA_OK) (void)qa_train_cfg_bind(cfg, &c);
        break;
    }
    case 6: {
        qa_rl_cfg c;
        if (qa_rl_cfg_default(&c) == QA_OK) (void)qa_rl_cfg_bind(cfg, &c);
        break;
    }
    case 7: {
        qa_features_cfg c;
        if (qa_features_cfg_default(&c) == QA_OK) (void)qa_features_cfg_bind(cfg, &c);
        qa_features_cfg_free(&c);
        break;
    }
    case 8: {
        qa_sweep_opts o;
        qa_sweep_opts_init(&o);
        o.run_dir = run_dir;
        o.data = market;
        qa_sweep_cfg c;
        memset(&c, 0, sizeof c);
        (void)qa_sweep_cfg_load(cfg, &o, &c);
        qa_sweep_cfg_free(&c);
        break;
    }
    case 9: {
        const qa_cfg_node *lim = qa_cfg_map_get(root, "limits");
        qa_limit_set set;
        memset(&set, 0, sizeof set);
        if (qa_limits_parse(cfg, lim ? lim : root, &set) == QA_OK) qa_limits_free(&set);
        qa_pretrade_limits pl;
        qa_pretrade_limits_default(&pl);
        const qa_cfg_node *pre = qa_cfg_map_get(root, "pretrade");
        (void)qa_pretrade_limits_bind(cfg, pre ? pre : root, "pretrade", &pl);
        qa_algo_cfg a;
        qa_algo_cfg_default(&a);
        const qa_cfg_node *an = qa_cfg_map_get(root, "algo");
        (void)qa_algo_cfg_bind(cfg, an ? an : root, &a);
        break;
    }
    default:
        for (unsigned w = 0; w < 10; w++)
            if (w != 8) bind_one(w, cfg);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned which = data[0] % 11;
    data++, size--;
    const uint8_t *sep = memchr(data, 0xff, size);
    size_t doc_len = sep ? (size_t)(sep - data) : size;
    qa_cfg_t *cfg = NULL;
    if (qa_cfg_parse("fuzz.yaml", (const char *)data, doc_len, &cfg) != QA_OK) return 0;
    /* Overrides: NUL-terminated copies of the 0xff-separated tails. */
    for (int k = 0; k < 4 && sep; k++) {
        const uint8_t *p = sep + 1, *end = data + size;
        sep = memchr(p, 0xff, (size_t)(end - p));
        size_t n = sep ? (size_t)(sep - p) : (size_t)(end - p);
        char *set = malloc(n + 1);
        if (!set) break;
        memcpy(set, p, n);
        set[n] = '\0';
        (void)qa_cfg_override(cfg, set);
        free(set);
    }
    (void)qa_cfg_name(cfg);
    walk(cfg, qa_cfg_root(cfg), 0);
    bind_one(which, cfg);
    qa_cfg_free(cfg);
    return 0;
}
