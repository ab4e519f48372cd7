/* datasets/describe: coverage shares, dataset lineage and return moments of a small
 * crafted store, checked against values worked out by hand. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "datasets/describe.h"
#include "harness.h"
#include "store_test.h" /* qa_test_daily_meta */

static char dir[256];

static void test_describe(void) {
    char p[300];
    snprintf(p, sizeof p, "%s/d.h5", dir);
    qa_store_meta m = qa_test_daily_meta("NYSE", "unit test", 0);
    m.bars_per_year = 256; /* sqrt = 16: an exact annualisation factor */
    const char *syms[] = {"AAA", "BBB"};
    int64_t time[4] = {0, 86400000000000LL, 2 * 86400000000000LL, 3 * 86400000000000LL};
    /* AAA doubles, halves, doubles: returns ln2, -ln2, ln2. BBB has a gap at t=1: one
     * return spanning it (ln 4/1 from 1 to 4) and one flat. */
    double close[8] = {1, 2, 1, 2, 1, NAN, 4, 4};
    qa_store_t *st = NULL;
    QA_CHECK_OK(qa_store_create(p, NULL, &m, 2, syms, 4, time, &st));
    QA_CHECK_OK(qa_store_write(st, "bars/close", 0, 2, 0, 4, close));
    QA_CHECK_OK(qa_store_panel_create(st, "features/x"));
    QA_CHECK_OK(qa_store_attr_set_str(st, "features/x", "kind", "sma"));
    QA_CHECK_OK(qa_store_commit(st));

    QA_CHECK_OK(qa_store_open(p, NULL, QA_STORE_READ, &st));
    json_t *d = NULL;
    QA_CHECK_OK(qa_describe_store(st, &d));
    QA_CHECK_INT(json_integer_value(json_object_get(d, "symbols")), 2);
    QA_CHECK_INT(json_integer_value(json_object_get(d, "timestamps")), 4);
    json_t *cov = json_object_get(d, "coverage");
    QA_CHECK(json_real_value(json_object_get(cov, "close")) == 7.0 / 8.0);
    QA_CHECK(json_real_value(json_object_get(cov, "open")) == 0.0);
    QA_CHECK_STR(json_string_value(json_object_get(json_object_get(json_object_get(d, "features"), "x"), "kind")), "sma");
    QA_CHECK_INT(json_object_size(json_object_get(d, "alt")), 0);
    json_decref(d);

    qa_backend_t *be = NULL;
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &be));
    qa_moments mom[2];
    QA_CHECK_OK(qa_describe_return_moments(st, be, mom));
    double l2 = log(2.0);
    QA_CHECK_INT(mom[0].count, 3);
    QA_CHECK_NEAR(mom[0].mean, l2 / 3.0, 1e-15, 1e-12);
    QA_CHECK_NEAR(mom[0].min, -l2, 1e-15, 1e-12);
    QA_CHECK_INT(mom[1].count, 2);
    QA_CHECK_NEAR(mom[1].max, log(4.0), 1e-15, 1e-12);
    json_t *arr = qa_describe_moments_json(st, mom);
    /* sample std of {ln2, -ln2, ln2} = ln2 * sqrt(4/3), annualised by 16 */
    QA_CHECK_NEAR(json_real_value(json_object_get(json_array_get(arr, 0), "annual_vol")), 16.0 * l2 * sqrt(4.0 / 3.0),
                  1e-12, 1e-12);
    QA_CHECK_STR(json_string_value(json_object_get(json_array_get(arr, 1), "symbol")), "BBB");
    json_decref(arr);
    qa_backend_free(be);
    qa_store_close(st);
}

int main(void) {
    if (qa_test_tmpdir(dir, sizeof dir, "test_describe")) qa_test_skip("no temp dir");
    QA_RUN(test_describe);
    qa_test_rmtree(dir);
    return qa_test_finish();
}
