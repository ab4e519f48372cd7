/* qa serve: the web dashboard's files, built into the binary (docs/dashboard.md). The
 * table is generated at build time by cmake/embed_assets.cmake from the .html, .js and
 * .css files of dashboard/ and the vendored uPlot (dashboard/package-lock.json, npm ci
 * under the build directory), so the server needs no file system, CDN or network to
 * serve the page. Library: qa_assets (dashboard/CMakeLists.txt). */
#ifndef QA_API_ASSETS_H
#define QA_API_ASSETS_H

#include <stddef.h> /* size_t */

#ifdef __cplusplus
extern "C" {
#endif

/* The file served at `path` ("/index.html", "/app.js", "/vendor/uPlot.iife.min.js"; "/"
 * and "" mean "/index.html"). Returns 0 (QA_OK) and points the outputs at static,
 * read-only data that lives as long as the program (never freed), or QA_ERR_NOT_FOUND
 * with the outputs unchanged. *data holds *len bytes followed by one NUL that *len does
 * not count. *content_type is a complete Content-Type value ("text/html; charset=utf-8");
 * *etag is a complete strong ETag value, quotes included ("\"3f9a...\""): the first 16
 * bytes of the file's SHA-256 in hex, computed at build time. Any output may be NULL. */
int qa_assets_get(const char *path, const unsigned char **data, size_t *len,
                  const char **content_type, const char **etag);

/* How many files are embedded, and the path of the i-th (sorted by path; NULL when i is
 * out of range), so a test or `qa serve` can list them. */
size_t qa_assets_count(void);
const char *qa_assets_path(size_t i);

#ifdef __cplusplus
}
#endif

#endif /* QA_API_ASSETS_H */
