/* SHA-256 (OpenSSL EVP) for content addresses and lineage hashes. */
#ifndef QA_COMMON_HASH_H
#define QA_COMMON_HASH_H

#include <stddef.h>  /* size_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QA_SHA256_HEX_LEN 64

typedef struct qa_sha256 qa_sha256_t;

qa_status qa_sha256_create(qa_sha256_t **out);
qa_status qa_sha256_update(qa_sha256_t *h, const void *data, size_t len);
/* Writes 64 lowercase hex digits and a NUL into hex (>= 65 bytes). */
qa_status qa_sha256_final_hex(qa_sha256_t *h, char *hex);
void qa_sha256_free(qa_sha256_t *h);

/* One-shot digest of a buffer. */
qa_status qa_sha256_hex(const void *data, size_t len, char *hex);
/* Digest of a file's bytes, streamed. */
qa_status qa_sha256_file_hex(const char *path, char *hex);
/* Decodes the first 2*n characters of hex (digits of either case) into n bytes. Fails with
 * QA_ERR_FORMAT at the first character that is not a hex digit (a NUL included); out may
 * then be partly written. */
qa_status qa_hex_decode(const char *hex, size_t n, unsigned char *out);

#ifdef __cplusplus
}
#endif
#endif
