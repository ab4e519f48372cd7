/* libFuzzer harness: model files (registry/model.h) as the registry and the live service
 * load them. Input: one mode byte, then
 *   mode 0: the file's bytes as they are (container magic, lengths, checksum first);
 *   mode 1: JSON metadata, a 0xff byte, then the payload: the harness wraps them in a
 *           container with the right magic, lengths and SHA-256 trailer, so the fuzzer
 *           reaches the metadata and parameter checks behind the checksum;
 *   mode 2: as mode 1, loaded as a training checkpoint from a file.
 * A model that loads is saved and loaded again: the two must hold the same parameters
 * and the same content hash (save -> load is the identity). */
#include <openssl/evp.h> /* EVP_Digest: the container's SHA-256 trailer */
#include <stdint.h>      /* uint8_t */
#include <stdio.h>       /* fprintf */
#include <stdlib.h>      /* malloc, abort */
#include <string.h>      /* memcpy, memchr */

#include "fuzz_util.h"      /* scratch files */
#include "registry/model.h" /* qa_model_load_bytes, qa_model_save, qa_model_ckpt_load */

QA_FUZZ_QUIET_INITIALIZE

static const unsigned char MAGIC[8] = {0x89, 'Q', 'A', 'M', 'O', 'D', 'L', '\n'}; /* registry/model.c */

static void put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* header + json + payload + SHA-256 of everything before the trailer (common/container.h). */
static unsigned char *wrap(const uint8_t *json, size_t J, const uint8_t *payload, size_t B, size_t *len) {
    *len = 32 + J + B + 32;
    unsigned char *f = malloc(*len);
    if (!f) return NULL;
    memcpy(f, MAGIC, 8);
    put_u32(f + 8, 1);
    put_u32(f + 12, 0);
    put_u64(f + 16, J);
    put_u64(f + 24, B);
    memcpy(f + 32, json, J);
    memcpy(f + 32 + J, payload, B);
    unsigned int mdlen = 0;
    if (!EVP_Digest(f, 32 + J + B, f + 32 + J + B, &mdlen, EVP_sha256(), NULL) || mdlen != 32) abort();
    return f;
}

static void round_trip(qa_model *m) {
    char path[512];
    (void)qa_model_check_predictor(m, "fuzz");
    qa_fuzz_path("saved.qam", path, sizeof path);
    if (qa_model_save(m, path) != QA_OK) return; /* save refuses what it cannot write: fine */
    qa_model back;
    if (qa_model_load(path, &back) != QA_OK) {
        fprintf(stderr, "a saved model does not load: %s\n", qa_err_msg());
        abort();
    }
    if (back.nparams != m->nparams || memcmp(back.params, m->params, m->nparams * sizeof *m->params) != 0 ||
        strcmp(back.sha256, m->sha256) != 0) {
        fprintf(stderr, "save -> load changed the model (%zu vs %zu parameters)\n", back.nparams, m->nparams);
        abort();
    }
    qa_model_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned mode = data[0] % 3;
    data++, size--;
    qa_model m;
    if (mode == 0) {
        if (qa_model_load_bytes("fuzz.qam", data, size, &m) == QA_OK) {
            round_trip(&m);
            qa_model_free(&m);
        }
        return 0;
    }
    const uint8_t *sep = memchr(data, 0xff, size);
    size_t J = sep ? (size_t)(sep - data) : size;
    const uint8_t *payload = sep ? sep + 1 : data + size;
    size_t B = sep ? size - J - 1 : 0, len = 0;
    unsigned char *file = wrap(data, J, payload, B, &len);
    if (!file) return 0;
    if (mode == 1) {
        if (qa_model_load_bytes("fuzz.qam", file, len, &m) == QA_OK) {
            round_trip(&m);
            qa_model_free(&m);
        }
    } else {
        char path[512];
        qa_fuzz_write("ckpt.qam", file, len, path, sizeof path);
        qa_model_ckpt c;
        memset(&c, 0, sizeof c);
        if (qa_model_ckpt_load(path, &m, &c) == QA_OK) {
            qa_model_ckpt_free(&c);
            qa_model_free(&m);
        }
    }
    free(file);
    return 0;
}
