/* The harnesses' small market file (fuzz_market.h). */
#include "fuzz_market.h"

#include <stdint.h>  /* int64_t */
#include <stdio.h>   /* snprintf */

#include "datasets/store.h" /* qa_store_create */
#include "fuzz_util.h"      /* qa_fuzz_path */

const char *qa_fuzz_market(void) {
    static char path[512];
    if (path[0]) return path;
    enum { S = 5, T = 300 };
    const char *syms[S] = {"SPY", "TLT", "AAA", "BBB", "CCC"};
    static int64_t time[T];
    static double v[S * T];
    for (size_t t = 0; t < T; t++) time[t] = (int64_t)(t + 10957) * 86400 * 1000000000LL; /* 2000-01-01 on */
    for (size_t i = 0; i < S * T; i++) v[i] = 100.0 + (double)(i % 17) - (double)(i % 5) * 2.0;
    qa_store_meta meta = {.frequency = "1d", .bar_seconds = 86400, .bars_per_year = 252, .calendar = "NYSE",
                          .currency = "USD", .adjustment = "none", .source = "fuzz", .deflate_level = 0};
    qa_store_t *st = NULL;
    char p[512];
    qa_fuzz_path("market.h5", p, sizeof p);
    if (qa_store_create(p, NULL, &meta, S, syms, T, time, &st) != QA_OK) return NULL;
    for (int f = 0; f < QA_BAR_FIELD_COUNT; f++)
        if (qa_store_write(st, qa_bar_field_path((qa_bar_field)f), 0, S, 0, T, v) != QA_OK) {
            qa_store_close(st);
            return NULL;
        }
    if (qa_store_commit(st) != QA_OK) return NULL;
    snprintf(path, sizeof path, "%s", p);
    return path;
}
