/* JSON outputs through jansson: summaries, resolved configs, metrics lines. */
#ifndef QA_COMMON_JSON_H
#define QA_COMMON_JSON_H

#include <jansson.h>  /* json_t */

#include "common/config.h"
#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes `j` (indented, keys in insertion order) to `path` atomically. */
qa_status qa_json_write_file(const json_t *j, const char *path);
/* Parses a JSON file; errors name the file, line and column. Caller json_decref()s. */
qa_status qa_json_read_file(const char *path, json_t **out);
/* j["a"]["b"]["c"] for the dotted path "a.b.c"; NULL when any step is missing (or a
 * key is longer than 127 bytes). Borrowed reference. */
json_t *qa_json_path(const json_t *j, const char *path);
/* A JSON number for a double; NaN/Inf (not valid JSON) become null. */
json_t *qa_json_real(double v);
/* Builds the resolved configuration (every schema key with its bound or default value)
 * from a struct bound by qa_cfg_bind. Returns a new reference or NULL on OOM. */
json_t *qa_json_from_schema(const qa_cfg_field *schema, const void *src);

#ifdef __cplusplus
}
#endif
#endif
