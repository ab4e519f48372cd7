/* Limits from YAML, evaluation against a snapshot, alert lines (pre-trade checks: test_pretrade). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "harness.h"
#include "trading/limits.h"

static const char *yaml =
    "limits:\n"
    "  - {name: var99, metric: var, level: 0.99, max: 0.05}\n"
    "  - {name: es975, metric: es, level: 0.975, max: 0.06}\n"
    "  - {name: gross, metric: gross_exposure, max: 2.0}\n"
    "  - {name: net, metric: net_exposure, min: -0.5, max: 1.0}\n"
    "  - {name: single, metric: concentration, max: 0.25, warn: 0.8}\n"
    "  - {name: dd, metric: drawdown, max: 0.2}\n";

static void test_parse_and_check(void) {
    qa_cfg_t *cfg = NULL;
    QA_CHECK_OK(qa_cfg_parse("l.yaml", yaml, strlen(yaml), &cfg));
    qa_limit_set set;
    QA_CHECK_OK(qa_limits_parse(cfg, qa_cfg_map_get(qa_cfg_root(cfg), "limits"), &set));
    QA_CHECK_INT(set.n, 6);
    double levels[2] = {0.99, 0.975}, var[2] = {0.061, 0.04}, es[2] = {0.08, 0.055};
    qa_risk_snapshot snap = {levels, var, es, 2, 1.5, -0.7, 0.21, "AAPL", NAN};
    qa_limit_result res[6];
    size_t breaches = qa_limits_check(&set, &snap, res);
    /* var99 0.061 > 0.05 breach; es975 0.055 >= 0.9*0.06 warning; gross ok;
     * net -0.7 < -0.5 breach; single 0.21 >= 0.8*0.25 warning; drawdown NaN skipped. */
    QA_CHECK_INT(breaches, 2);
    QA_CHECK_INT(res[0].state, QA_LIMIT_BREACH);
    QA_CHECK_NEAR(res[0].threshold, 0.05, 0, 0);
    QA_CHECK_INT(res[1].state, QA_LIMIT_WARNING);
    QA_CHECK_INT(res[2].state, QA_LIMIT_OK);
    QA_CHECK_INT(res[3].state, QA_LIMIT_BREACH);
    QA_CHECK_NEAR(res[3].threshold, -0.5, 0, 0);
    QA_CHECK_INT(res[4].state, QA_LIMIT_WARNING);
    QA_CHECK_INT(res[5].state, QA_LIMIT_SKIPPED);
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    QA_CHECK_OK(qa_limits_write_alerts(mem, "stress", "2026-11-24T00:00:00Z", res, 6, &snap));
    fclose(mem);
    int lines = 0;
    for (char *p = buf; *p; p++) lines += *p == '\n';
    QA_CHECK_INT(lines, 4);
    QA_CHECK(strstr(buf, "{\"time\":\"2026-11-24T00:00:00Z\",\"source\":\"stress\",\"limit\":\"var99\",\"metric\":\"var\",\"level\":0.99,\"value\":0.061,\"threshold\":0.05,\"severity\":\"breach\"") != NULL);
    QA_CHECK(strstr(buf, "largest position AAPL at 21.00% of equity") != NULL);
    free(buf);
    qa_limits_free(&set);
    qa_cfg_free(cfg);
}

static void test_bad_configs(void) {
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"limits:\n  - {name: x, metric: vol, max: 1}\n", "'vol' is not one of: var, es"},
        {"limits:\n  - {name: x, metric: var}\n", "limit 'x' needs max and/or min"},
        {"limits:\n  - {name: x, metric: var, max: 1, maxx: 2}\n", "unknown key 'maxx' in limits[0] (did you mean 'max'?)"},
        {"limits:\n  - {metric: var, max: 1}\n", "missing required key 'limits[0].name'"},
        {"limits:\n  - {name: x, metric: net_exposure, min: 1, max: 0}\n", "min 1 is above max 0"},
        {"limits:\n  - {name: x, metric: var, max: 1}\n  - {name: x, metric: es, max: 1}\n", "duplicate limit name 'x'"},
        {"limits: 5\n", "expected a list of limits"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        qa_cfg_t *cfg = NULL;
        QA_CHECK_OK(qa_cfg_parse("l.yaml", bad[i].text, strlen(bad[i].text), &cfg));
        qa_limit_set set;
        QA_CHECK_ERR(qa_limits_parse(cfg, qa_cfg_map_get(qa_cfg_root(cfg), "limits"), &set), QA_ERR_CONFIG, bad[i].want);
        qa_cfg_free(cfg);
    }
}

int main(void) {
    QA_RUN(test_parse_and_check);
    QA_RUN(test_bad_configs);
    return qa_test_finish();
}
