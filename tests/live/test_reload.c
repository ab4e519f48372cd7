/* Configuration reload (live/reload.h): which settings a reload may change, what the
 * change log says about a change, the digest that decides whether a file changed, and
 * the refusals for a file that is not a configuration. */
#include <stdio.h>   /* fopen */
#include <stdlib.h>  /* free */
#include <string.h>  /* strstr */

#include "harness.h"
#include "live/reload.h"

static const char *const base =
    "universe: s5.h5\n"
    "state_dir: st\n"
    "model: models:/m5@champion\n"
    "rules: {sizing: {method: vol_target, target_vol: 0.1, vol_window: 20}, capital: 1000000}\n"
    "risk: {window: 100, every: 12, limits: [{name: gross, metric: gross_exposure, max: 2, warn: 0.3}]}\n";

static qa_reload_cfg *parse(const char *text, const char *sets) {
    qa_reload_cfg *r = NULL;
    QA_CHECK(qa_reload_from_text("t.yaml", text, sets, &r) == QA_OK);
    return r;
}

static void test_compare(void) {
    qa_reload_cfg *a = parse(base, NULL);
    /* Reloadable: rules, threshold, limits; process: http (the next start). */
    qa_reload_cfg *b = parse(base, "threshold=0.001\nrisk.limits=[{name: gross, metric: gross_exposure, max: 2, warn: 0.9}]\nhttp=127.0.0.1:9464\n"
                                   "rules.sizing.method=kelly\nrules.sizing.kelly_fraction=0.5\n");
    char changes[1024], later[256];
    QA_CHECK(qa_reload_compare(&a->cfg, &b->cfg, changes, sizeof changes, later, sizeof later) == QA_OK);
    QA_CHECK_MSG(strstr(changes, "threshold: 0.0 -> 0.001") && strstr(changes, "risk.limits.gross.warn: 0.3 -> 0.9") &&
                     strstr(changes, "rules.sizing: \"vol_target\" -> \"kelly\"") &&
                     strstr(changes, "rules.kelly_fraction: null -> 0.5") && !strstr(changes, "http"),
                 "%s", changes);
    QA_CHECK_MSG(strstr(later, "http: \"\" -> \"127.0.0.1:9464\"") && !strstr(later, "threshold"), "%s", later);
    /* Nothing changes: empty lists. */
    QA_CHECK(qa_reload_compare(&a->cfg, &a->cfg, changes, sizeof changes, later, sizeof later) == QA_OK);
    QA_CHECK(changes[0] == 0 && later[0] == 0);
    /* Identity settings: refused, naming the setting, both values and the way out. */
    static const char *const identity[][2] = {{"risk.window=50", "risk.window: 100 -> 50"},
                                              {"rules.capital=2000000", "rules.capital"},
                                              {"rules.sizing.vol_window=30", "rules.sizing.vol_window: 20 -> 30"},
                                              {"model=models:/m6@champion", "model"},
                                              {"default_features=true", "default_features: false -> true"},
                                              {"stream=paper", "stream"},
                                              {"execution={strategy: s1}", "execution: null -> \"strategy s1 broker paper"}};
    for (size_t i = 0; i < sizeof identity / sizeof identity[0]; i++) {
        qa_reload_cfg *c = parse(base, identity[i][0]);
        QA_CHECK_MSG(qa_reload_compare(&a->cfg, &c->cfg, changes, sizeof changes, NULL, 0) == QA_ERR_CONFIG, "%s",
                     identity[i][0]);
        QA_CHECK_MSG(strstr(qa_err_msg(), identity[i][1]) && strstr(qa_err_msg(), "new state_dir"), "%s", qa_err_msg());
        qa_reload_free(c);
    }
    /* Paths may move between starts: the universe and the state directory are process settings. */
    qa_reload_cfg *d = parse(base, "universe=/data/s5.h5\nstate_dir=/var/qa/st\n");
    QA_CHECK(qa_reload_compare(&a->cfg, &d->cfg, changes, sizeof changes, later, sizeof later) == QA_OK);
    QA_CHECK(changes[0] == 0 && strstr(later, "universe") && strstr(later, "state_dir"));
    qa_reload_free(a), qa_reload_free(b), qa_reload_free(d);
}

static void test_digest(void) {
    char x[65], y[65], z[65];
    qa_reload_cfg *a = parse(base, NULL);
    /* The same settings spelt otherwise: block style, other key order, defaults written out,
     * process settings changed. */
    qa_reload_cfg *b = parse("risk:\n  limits:\n    - {warn: 0.3, max: 2, metric: gross_exposure, name: gross}\n"
                             "  every: 12\n  window: 100\n  level: 0.99\n"
                             "rules:\n  capital: 1e6\n  sizing: {vol_window: 20, target_vol: 0.10, method: vol_target}\n"
                             "state_dir: elsewhere\nmodel: models:/m5@champion\nuniverse: s5.h5\nthreshold: 0\n"
                             "exit_idle: 5\nhttp: 127.0.0.1:0\n",
                             NULL);
    qa_reload_cfg *c = parse(base, "risk.limits=[{name: gross, metric: gross_exposure, max: 1.5, warn: 0.3}]\n");
    QA_CHECK(qa_reload_digest(&a->cfg, x) == QA_OK && qa_reload_digest(&b->cfg, y) == QA_OK &&
             qa_reload_digest(&c->cfg, z) == QA_OK);
    QA_CHECK_MSG(strcmp(x, y) == 0, "%s vs %s", x, y);
    QA_CHECK(strcmp(x, z) != 0 && strlen(x) == 64);
    /* Adopting: the reloadable settings move, the identity ones stay. */
    qa_reload_cfg *k = parse(base, "rules.capital=5\nthreshold=0.25\nrisk.every=3\n");
    qa_live_cfg eff = a->cfg;
    qa_reload_adopt(&eff, &k->cfg);
    QA_CHECK(eff.threshold == 0.25 && eff.risk_every == 3 && eff.rules.capital == 1e6 && eff.limits.n == 1);
    qa_reload_free(a), qa_reload_free(b), qa_reload_free(c), qa_reload_free(k);
}

static void test_refusals(void) {
    qa_reload_cfg *r = NULL;
    QA_CHECK(qa_reload_from_text("t.yaml", "universe: [\n", NULL, &r) != QA_OK && r == NULL);
    QA_CHECK(qa_reload_from_text("t.yaml", base, "nosuchkey=1\n", &r) == QA_ERR_CONFIG && r == NULL);
    QA_CHECK(strstr(qa_err_msg(), "nosuchkey"));
    const char *path = "test_reload_nul.yaml";
    FILE *f = fopen(path, "wb");
    QA_REQUIRE(f != NULL);
    fwrite("universe: a\0b\n", 1, 15, f);
    fclose(f);
    QA_CHECK(qa_reload_from_file(path, NULL, &r) == QA_ERR_CONFIG && strstr(qa_err_msg(), "NUL"));
    f = fopen(path, "wb");
    for (int i = 0; i < 70000; i++) fputs("# a long comment line\n", f);
    fclose(f);
    QA_CHECK(qa_reload_from_file(path, NULL, &r) == QA_ERR_CONFIG && strstr(qa_err_msg(), "at most"));
    remove(path);
    const char *sets[] = {"threshold=1", "bad\nline"};
    char *joined = NULL;
    QA_CHECK(qa_reload_join_sets(sets, 1, &joined) == QA_OK && strcmp(joined, "threshold=1\n") == 0);
    free(joined);
    QA_CHECK(qa_reload_join_sets(sets, 2, &joined) == QA_ERR_CONFIG);
}

int main(void) {
    QA_RUN(test_compare);
    QA_RUN(test_digest);
    QA_RUN(test_refusals);
    return qa_test_finish();
}
