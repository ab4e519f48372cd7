/* Metadata of the tests' synthetic market files (datasets/store.h). */
#ifndef QA_TESTS_STORE_TEST_H
#define QA_TESTS_STORE_TEST_H

#include <stdio.h>

#include "datasets/store.h"

/* Daily bars ("1d", 86400 s, 252 a year) in USD, unadjusted; the calendar, the source
 * text and the panels' deflate level as given. */
static inline qa_store_meta qa_test_daily_meta(const char *calendar, const char *source, int deflate_level) {
    qa_store_meta m = {0};
    snprintf(m.frequency, sizeof m.frequency, "1d");
    m.bar_seconds = 86400;
    m.bars_per_year = 252;
    snprintf(m.calendar, sizeof m.calendar, "%s", calendar);
    snprintf(m.currency, sizeof m.currency, "USD");
    snprintf(m.adjustment, sizeof m.adjustment, "none");
    snprintf(m.source, sizeof m.source, "%s", source);
    m.deflate_level = deflate_level;
    return m;
}

#endif
