/* Inside the registry: the handle and helpers shared by its source files (registry.c:
 * open, publish, resolve, events; registry_admin.c: aliases, tags, reading, verify, gc;
 * registry_bundle.c: export and import; registry_run.c: run directories, signatures). */
#ifndef QA_REGISTRY_INTERNAL_H
#define QA_REGISTRY_INTERNAL_H

#include <sqlite3.h>  /* the metadata database */

#include "common/fs.h"
#include "registry/registry.h"

struct qa_registry {
    char dir[QA_PATH_MAX];
    sqlite3 *db;
    int wal;
    sqlite3_stmt *last_seq; /* kept prepared: polling costs one step */
};

/* Now as "YYYY-MM-DDTHH:MM:SS.uuuuuuZ" (buf >= 40 bytes). */
void qa_registry_now(char *buf, size_t n);
/* who, else $QA_USER, else the OS user name, else "unknown". */
const char *qa_registry_who(const char *who);
/* Appends an event inside the caller's transaction. detail: JSON object or NULL (stolen). */
qa_status qa_registry_event_add(qa_registry_t *r, const char *at, const char *kind, const char *model, long version,
                                const char *alias, const char *who, json_t *detail);
/* "DIR/artifacts/ab/<sha>.qam" into out (QA_PATH_MAX) and the relative form into rel
 * (may be NULL; 128 bytes). */
qa_status qa_registry_artifact_path(const qa_registry_t *r, const char *sha, char *out, char *rel);
/* Stores `len` bytes as the artifact `sha` (the caller has checked the digest) unless it
 * is there already: temporary file, fsync, rename (qa_fs_write_all). */
qa_status qa_registry_artifact_store(qa_registry_t *r, const void *data, size_t len, const char *sha);
/* A parsed JSON column (NULL text or bad JSON: an empty object). New reference. */
json_t *qa_registry_json_col(sqlite3_stmt *s, int col);
/* Serialises compactly with sorted keys (NULL: "{}"); caller frees. */
char *qa_registry_json_text(const json_t *j);
/* One JSON value per result row of `sql`, whose ?1 is bound to `name` and, when
 * version >= 0, ?2 to `version`: *out is the array of fn's values (new reference). */
typedef json_t *(*qa_registry_row_fn)(sqlite3_stmt *s, const void *ctx);
qa_status qa_registry_rows(qa_registry_t *r, const char *sql, const char *name, long version, qa_registry_row_fn fn,
                           const void *ctx, json_t **out);
/* Fails with QA_ERR_NOT_FOUND when the model does not exist. */
qa_status qa_registry_model_exists(qa_registry_t *r, const char *name);

#endif
