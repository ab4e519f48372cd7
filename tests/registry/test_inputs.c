/* Feature params <-> kernel specs (registry/inputs.h): every spec of the default set
 * survives the round trip, a feature over another panel (alt/...) is written with its
 * input and refused by the bar-by-bar parser (the live engine must not mistake it for a
 * close-based feature), and malformed params name what is wrong. */
#include <string.h>  /* memcmp */

#include "harness.h"
#include "registry/inputs.h"

static void test_round_trip(void) {
    qa_feat_spec specs[64];
    size_t n = qa_feat_default_set(specs, 64);
    QA_CHECK(n > 10 && n <= 64);
    for (size_t i = 0; i < n; i++) {
        char params[256];
        qa_feat_spec back;
        QA_CHECK_OK(qa_inputs_feat_params(&specs[i], params, sizeof params));
        QA_CHECK_OK(qa_inputs_feat_spec(params, &back));
        qa_feat_spec want = qa_feat_spec_normalize(&specs[i]);
        QA_CHECK_MSG(memcmp(&back, &want, sizeof back) == 0, "spec %zu (%s) changed in the round trip", i, params);
    }
}

static void test_other_input(void) {
    qa_feat_spec s = qa_feat_spec_default(QA_FEAT_ZSCORE);
    char params[256];
    QA_CHECK_OK(qa_inputs_feat_params_input(&s, "alt/news_sent_mean", params, sizeof params));
    QA_CHECK_STR(params, "{\"field\":\"close\",\"input\":\"alt/news_sent_mean\",\"kind\":\"zscore\",\"output\":\"value\",\"window\":20}");
    qa_feat_spec out = {0};
    QA_CHECK_ERR(qa_inputs_feat_spec(params, &out), QA_ERR_UNSUPPORTED, "reads 'alt/news_sent_mean', not the bars");
    QA_CHECK_INT(out.kind, 0); /* unchanged */
    char plain[256];
    QA_CHECK_OK(qa_inputs_feat_params_input(&s, "", plain, sizeof plain));
    QA_CHECK_OK(qa_inputs_feat_params(&s, params, sizeof params));
    QA_CHECK_STR(plain, params);
}

static void test_malformed(void) {
    qa_feat_spec out;
    QA_CHECK_ERR(qa_inputs_feat_spec("[1]", &out), QA_ERR_CONFIG, "not a JSON object");
    QA_CHECK_ERR(qa_inputs_feat_spec("{\"window\":3}", &out), QA_ERR_CONFIG, "'kind' missing");
    QA_CHECK_ERR(qa_inputs_feat_spec("{\"kind\":\"zscore\",\"window\":-2}", &out), QA_ERR_CONFIG, "'window'");
    QA_CHECK_ERR(qa_inputs_feat_spec("{\"kind\":\"nope\"}", &out), QA_ERR_CONFIG, "nope");
    char tiny[8];
    qa_feat_spec s = qa_feat_spec_default(QA_FEAT_RSI);
    QA_CHECK_ERR(qa_inputs_feat_params(&s, tiny, sizeof tiny), QA_ERR_INVALID_ARG, "longer than");
}

int main(void) {
    QA_RUN(test_round_trip);
    QA_RUN(test_other_input);
    QA_RUN(test_malformed);
    return qa_test_finish();
}
