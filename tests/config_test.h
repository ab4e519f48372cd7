/* Binding config text in tests, as an engine binds its config file (common/config.h). */
#ifndef QA_TESTS_CONFIG_TEST_H
#define QA_TESTS_CONFIG_TEST_H

#include <string.h>

#include "common/config.h"

/* Parses `text` (called `name` in messages) and binds its root with `schema` into `out`;
 * the document is freed before returning, so strings bound into `out` must not be read. */
static inline qa_status qa_test_bind_text(const char *name, const char *text, const qa_cfg_field *schema, void *out) {
    qa_cfg_t *cfg = NULL;
    qa_status st = qa_cfg_parse(name, text, strlen(text), &cfg);
    if (st == QA_OK) st = qa_cfg_bind(cfg, qa_cfg_root(cfg), schema, out, NULL);
    qa_cfg_free(cfg);
    return st;
}

#endif
