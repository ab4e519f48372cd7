/* A small valid market file for the harnesses whose code checks its input against one
 * (the sweep binder, portfolio market checks). Harnesses that link qa_datasets only. */
#ifndef QA_FUZZ_MARKET_H
#define QA_FUZZ_MARKET_H

#include <stddef.h>  /* size_t */

/* Writes <scratch>/market.h5: symbols SPY, TLT, AAA, BBB, CCC; 300 daily bars from
 * 2000-01-01 (closes 90..116). Returns its path (static), or NULL on failure. */
const char *qa_fuzz_market(void);

#endif
