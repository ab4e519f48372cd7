/* Self-checking single-file containers: model files, checkpoints and registry bundles.
 *
 *   [0, 8)    magic (8 bytes, names the kind of file)
 *   [8, 12)   u32 container version, little-endian
 *   [12, 16)  u32 flags (0)
 *   [16, 24)  u64 J: bytes of JSON metadata
 *   [24, 32)  u64 B: bytes of payload
 *   [32, 32+J)          JSON text
 *   [32+J, 32+J+B)      payload
 *   [32+J+B, +32)       SHA-256 of every byte before it
 * A reader checks the magic, the version, the exact length (truncation, appended bytes)
 * and the checksum (any flipped byte) before it parses anything. Writes are atomic
 * (temporary file + rename). */
#ifndef QA_COMMON_CONTAINER_H
#define QA_COMMON_CONTAINER_H

#include <jansson.h>  /* json_t */
#include <stddef.h>   /* size_t */
#include <stdint.h>   /* uint32_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QA_CONTAINER_HEADER 32
#define QA_CONTAINER_TRAILER 32

/* Writes JSON text `json` (J bytes) and `payload` (B bytes) as `path`; sha_hex (65 bytes,
 * may be NULL) receives the trailer's digest in hex. */
qa_status qa_container_write(const char *path, const unsigned char magic[8], uint32_t version, const char *json,
                             size_t J, const void *payload, size_t B, char *sha_hex);

/* Verifies and parses `len` bytes of a container held in memory (`name` labels
 * messages; `what` names the kind of file: "QuantumAlpha model or checkpoint file"). On
 * success *doc is the parsed JSON object (new reference) and *payload points into
 * `data` with *B bytes. */
qa_status qa_container_parse(const char *name, const unsigned char *data, size_t len, const unsigned char magic[8],
                             uint32_t version, const char *what, json_t **doc, const unsigned char **payload, size_t *B,
                             char *sha_hex);

/* Reads `path` whole and parses it (qa_container_parse); *file is the whole file
 * (caller frees) that *payload points into. */
qa_status qa_container_read(const char *path, const unsigned char magic[8], uint32_t version, const char *what,
                            json_t **doc, unsigned char **file, const unsigned char **payload, size_t *B,
                            char *sha_hex);

#ifdef __cplusplus
}
#endif
#endif
