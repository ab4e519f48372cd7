/* SHA-256 through OpenSSL's EVP interface. */
#include "common/hash.h"

#include <errno.h>         /* strerror(errno) */
#include <openssl/evp.h>   /* EVP_MD_CTX, EVP_sha256 */
#include <stdio.h>         /* fopen, fread */
#include <stdlib.h>        /* malloc, free */
#include <string.h>        /* strerror */

struct qa_sha256 {
    EVP_MD_CTX *ctx;
};

qa_status qa_sha256_create(qa_sha256_t **out) {
    qa_sha256_t *h = malloc(sizeof *h);
    if (!h) return QA_FAIL(QA_ERR_NOMEM, "sha256");
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        qa_sha256_free(h);
        return QA_FAIL(QA_ERR_STATE, "OpenSSL: cannot initialise SHA-256");
    }
    *out = h;
    return QA_OK;
}

qa_status qa_sha256_update(qa_sha256_t *h, const void *data, size_t len) {
    if (len && EVP_DigestUpdate(h->ctx, data, len) != 1)
        return QA_FAIL(QA_ERR_STATE, "OpenSSL: SHA-256 update failed");
    return QA_OK;
}

qa_status qa_sha256_final_hex(qa_sha256_t *h, char *hex) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n != 32)
        return QA_FAIL(QA_ERR_STATE, "OpenSSL: SHA-256 final failed");
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[(size_t)2 * n] = '\0';
    return QA_OK;
}

void qa_sha256_free(qa_sha256_t *h) {
    if (!h) return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

qa_status qa_sha256_hex(const void *data, size_t len, char *hex) {
    qa_sha256_t *h = NULL;
    qa_status st = qa_sha256_create(&h);
    if (st == QA_OK) st = qa_sha256_update(h, data, len);
    if (st == QA_OK) st = qa_sha256_final_hex(h, hex);
    qa_sha256_free(h);
    return st;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

qa_status qa_hex_decode(const char *hex, size_t n, unsigned char *out) {
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hi < 0 ? -1 : hex_digit(hex[2 * i + 1]);
        if (lo < 0) return QA_FAIL(QA_ERR_FORMAT, "not a hex digit at offset %zu", 2 * i + (hi >= 0));
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return QA_OK;
}

qa_status qa_sha256_file_hex(const char *path, char *hex) {
    FILE *f = fopen(path, "rb");
    if (!f) return QA_FAIL(QA_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    qa_sha256_t *h = NULL;
    qa_status st = qa_sha256_create(&h);
    unsigned char buf[1 << 16];
    while (st == QA_OK) {
        size_t got = fread(buf, 1, sizeof buf, f);
        if (got == 0) break;
        st = qa_sha256_update(h, buf, got);
    }
    if (st == QA_OK && ferror(f)) st = QA_FAIL(QA_ERR_IO, "%s: read error", path);
    (void)fclose(f); /* read-only stream: a close error loses nothing */
    if (st == QA_OK) st = qa_sha256_final_hex(h, hex);
    qa_sha256_free(h);
    return st;
}
