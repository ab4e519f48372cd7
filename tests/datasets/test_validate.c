/* Anomaly rules on crafted bars: each kind is found with the right field, masking sets
 * exactly the documented values to NaN, and clean data raises nothing. */
#include <math.h>
#include <string.h>

#include "datasets/store.h"
#include "datasets/validate.h"
#include "harness.h"

#define T 9
static int64_t times[T] = {0, 1, 2, 3, 4, 5, 6, 7, 8};

/* The same bars as tests/data/good/ANOM.csv into o..v, validated with the default options
 * as symbol `symbol`, masking (mask 1) or keeping (0) what is found. */
static void validate_anom(int64_t symbol, int mask, double *o, double *h, double *l, double *c, double *v,
                          qa_anom_list *out) {
    const double O[T] = {10.0, 10.2, 10.4, 10.5, -10.7, 10.8, 10.9, 11.1, 11.2};
    const double H[T] = {10.5, 10.6, 1.07, 10.9, 11.0, 11.2, 11.3, 11.0, 11.6};
    const double L[T] = {9.8, 10.0, 10.1, 10.3, 10.5, 10.6, 10.7, 10.9, 11.0};
    const double C[T] = {10.2, 10.4, 10.5, 10.7, 10.8, 108.0, 11.1, 11.2, 11.4};
    const double V[T] = {1000, 0, 1200, 1100, 900, 950, 1000, 1000, 1000};
    memcpy(o, O, sizeof O);
    memcpy(h, H, sizeof H);
    memcpy(l, L, sizeof L);
    memcpy(c, C, sizeof C);
    memcpy(v, V, sizeof V);
    qa_validate_opts opts;
    qa_validate_opts_default(&opts);
    QA_CHECK_OK(qa_validate_bars(&opts, symbol, times, T, o, h, l, c, v, mask, out));
}

static void test_keep(void) {
    double o[T], h[T], l[T], c[T], v[T];
    qa_anom_list out = {0};
    validate_anom(0, 0, o, h, l, c, v, &out);
    struct {
        int t, kind, field;
    } want[] = {{1, QA_ANOM_ZERO_VOLUME, QA_BAR_VOLUME}, {2, QA_ANOM_SHIFT, QA_BAR_HIGH},
                {4, QA_ANOM_NONPOS_PRICE, QA_BAR_OPEN}, {5, QA_ANOM_SHIFT, QA_BAR_CLOSE},
                {7, QA_ANOM_OHLC, QA_BAR_HIGH},         {5, QA_ANOM_SPIKE, QA_BAR_CLOSE}};
    QA_CHECK_INT(out.n, 6);
    for (size_t i = 0; i < out.n && i < 6; i++) {
        QA_CHECK_INT(out.items[i].t, want[i].t);
        QA_CHECK_INT(out.items[i].kind, want[i].kind);
        QA_CHECK_INT(out.items[i].field, want[i].field);
    }
    QA_CHECK(c[5] == 108.0 && v[1] == 0.0); /* keep: nothing changed */
    char why[256];
    qa_anomaly_describe(&out.items[1], why, sizeof why);
    QA_CHECK_STR(why, "decimal shift suspected: high 1.07 vs the bar's median price 10.25");
    qa_anom_list_free(&out);
}

static void test_mask(void) {
    double o[T], h[T], l[T], c[T], v[T];
    qa_anom_list out = {0};
    validate_anom(3, 1, o, h, l, c, v, &out);
    QA_CHECK_INT(out.n, 5); /* the masked close no longer makes a spike */
    QA_CHECK(isnan(v[1]) && !isnan(c[1]));                           /* zero volume: volume only */
    QA_CHECK(isnan(h[2]) && !isnan(o[2]) && !isnan(c[2]));           /* shifted high: high only */
    QA_CHECK(isnan(o[4]) && !isnan(c[4]));                           /* negative open: open only */
    QA_CHECK(isnan(o[5]) && isnan(h[5]) && isnan(c[5]) && isnan(v[5])); /* bad close: whole bar */
    QA_CHECK(isnan(h[7]) && !isnan(c[7]));                           /* inconsistent high */
    QA_CHECK_INT(out.items[0].symbol, 3);
    qa_anom_list_free(&out);
}

static void test_clean_and_real_crash(void) {
    /* A -45% day that does not revert is a crash, not an anomaly (AIG 2008-09-17). */
    double c[6] = {60.76, 33.21, 36.0, 35.5, 37.0, 38.0}, o[6], h[6], l[6], v[6];
    for (int i = 0; i < 6; i++) {
        o[i] = c[i];
        h[i] = c[i] * 1.01;
        l[i] = c[i] * 0.99;
        v[i] = 100;
    }
    qa_validate_opts opts;
    qa_validate_opts_default(&opts);
    qa_anom_list out = {0};
    QA_CHECK_OK(qa_validate_bars(&opts, 0, times, 6, o, h, l, c, v, 1, &out));
    QA_CHECK_INT(out.n, 0);
    /* A tenfold drop that stays is an extreme jump, kept as a new level afterwards. */
    double c2[5] = {100, 10, 10.1, 10.2, 10.3};
    for (int i = 0; i < 5; i++) o[i] = h[i] = l[i] = c2[i];
    QA_CHECK_OK(qa_validate_bars(&opts, 0, times, 5, o, h, l, c2, v, 0, &out));
    QA_CHECK_INT(out.n, 1);
    if (out.n) QA_CHECK_INT(out.items[0].kind, QA_ANOM_JUMP);
    qa_anom_list_free(&out);
}

int main(void) {
    QA_RUN(test_keep);
    QA_RUN(test_mask);
    QA_RUN(test_clean_and_real_crash);
    return qa_test_finish();
}
