/* Self-checking single-file containers (container.h). */
#include "common/container.h"

#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, free */
#include <string.h>  /* memcpy, memcmp */

#include "common/fs.h"    /* atomic writes, whole-file reads */
#include "common/hash.h"  /* SHA-256 */

static void put_u32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get_u32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t get_u64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

qa_status qa_container_write(const char *path, const unsigned char magic[8], uint32_t version, const char *json,
                             size_t J, const void *payload, size_t B, char *sha_hex) {
    qa_status st = QA_OK;
    const size_t H = QA_CONTAINER_HEADER, total = H + J + B + QA_CONTAINER_TRAILER;
    unsigned char *buf = calloc(1, total);
    if (!buf) return QA_FAIL(QA_ERR_NOMEM, "%s: file of %zu bytes", path, total);
    memcpy(buf, magic, 8);
    put_u32(buf + 8, version);
    put_u32(buf + 12, 0);
    put_u64(buf + 16, J);
    put_u64(buf + 24, B);
    memcpy(buf + H, json, J);
    if (B) memcpy(buf + H + J, payload, B);
    char hex[65];
    QA_TRY(qa_sha256_hex(buf, H + J + B, hex));
    QA_TRY(qa_hex_decode(hex, 32, buf + H + J + B));
    QA_TRY(qa_fs_write_all(path, buf, total));
    if (sha_hex) memcpy(sha_hex, hex, 65);
cleanup:
    free(buf);
    return st;
}

qa_status qa_container_parse(const char *path, const unsigned char *u, size_t len, const unsigned char magic[8],
                             uint32_t version, const char *what, json_t **doc, const unsigned char **payload, size_t *Bout,
                             char *sha_hex) {
    const size_t H = QA_CONTAINER_HEADER, T = QA_CONTAINER_TRAILER;
    *doc = NULL;
    if (len < 8 || memcmp(u, magic, 8) != 0) return QA_FAIL(QA_ERR_FORMAT, "%s: not a %s (bad magic)", path, what);
    if (len < H + T) return QA_FAIL(QA_ERR_FORMAT, "%s: truncated (%zu bytes, shorter than the header and checksum)", path, len);
    uint32_t ver = get_u32(u + 8);
    if (ver != version)
        return QA_FAIL(QA_ERR_FORMAT, "%s: container version %u is not supported (this build reads %u)", path, ver, version);
    uint64_t J = get_u64(u + 16), B = get_u64(u + 24);
    if (J > len || B > len || H + J + B + T != len) {
        if (J <= len && B <= len && H + J + B + T > len)
            return QA_FAIL(QA_ERR_FORMAT, "%s: truncated: the header announces %llu bytes, the file has %zu", path,
                           (unsigned long long)(H + J + B + T), len);
        return QA_FAIL(QA_ERR_FORMAT, "%s: length mismatch: the header announces %llu + %llu bytes of content, the file "
                                      "has %zu bytes (truncated, appended to or corrupted)",
                       path, (unsigned long long)J, (unsigned long long)B, len);
    }
    char hex[65], stored[65];
    qa_status st = qa_sha256_hex(u, H + J + B, hex);
    if (st != QA_OK) return st;
    for (size_t i = 0; i < 32; i++) snprintf(stored + 2 * i, 3, "%02x", u[H + J + B + i]);
    if (strcmp(hex, stored) != 0)
        return QA_FAIL(QA_ERR_INTEGRITY, "%s: SHA-256 mismatch: the file is corrupted (stored %.16s..., computed %.16s...)",
                       path, stored, hex);
    json_error_t err;
    *doc = json_loadb((const char *)u + H, J, 0, &err);
    if (!*doc) /* jansson's own position: line and column inside the metadata section */
        return QA_FAIL(QA_ERR_FORMAT, "%s: metadata (bytes %zu..%zu) is not valid JSON: %s at line %d, column %d",
                       path, (size_t)H, (size_t)(H + J), err.text, err.line, err.column);
    if (!json_is_object(*doc)) { /* valid JSON, so err says nothing: name what was found */
        static const char *const kinds[] = {"an object", "an array", "a string", "an integer",
                                            "a real", "true", "false", "null"};
        const int t = (int)json_typeof(*doc);
        json_decref(*doc);
        *doc = NULL;
        return QA_FAIL(QA_ERR_FORMAT, "%s: metadata is %s, expected a JSON object", path,
                       t >= 0 && t < (int)(sizeof kinds / sizeof *kinds) ? kinds[t] : "not an object");
    }
    *payload = u + H + J;
    *Bout = B;
    if (sha_hex) memcpy(sha_hex, hex, 65);
    return QA_OK;
}

qa_status qa_container_read(const char *path, const unsigned char magic[8], uint32_t version, const char *what,
                            json_t **doc, unsigned char **file, const unsigned char **payload, size_t *B,
                            char *sha_hex) {
    char *data = NULL;
    size_t len = 0;
    *doc = NULL;
    *file = NULL;
    qa_status st = qa_fs_read_all(path, &data, &len);
    if (st != QA_OK) return st;
    st = qa_container_parse(path, (const unsigned char *)data, len, magic, version, what, doc, payload, B, sha_hex);
    if (st != QA_OK) {
        free(data);
        return st;
    }
    *file = (unsigned char *)data;
    return QA_OK;
}
