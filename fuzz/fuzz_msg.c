/* libFuzzer harness: the bus's binary messages (live/msg.h), as a consumer gets them from
 * Kafka. Any bytes must decode or fail with QA_ERR_FORMAT, never read out of bounds; what
 * decodes must encode again, and decoding that encoding must give the same message
 * (encode(decode(encode(decode(x)))) == encode(decode(x)) byte for byte). */
#include <stdint.h>  /* uint8_t */
#include <stdio.h>   /* fprintf */
#include <stdlib.h>  /* abort */
#include <string.h>  /* memcmp */

#include "fuzz_util.h"   /* qa_fuzz_quiet */
#include "live/msg.h"    /* qa_msg_decode, qa_msg_encode, qa_msg_printable */

QA_FUZZ_QUIET_INITIALIZE

static uint8_t enc1[QA_MSG_MAX], enc2[QA_MSG_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char key[64];
    qa_msg_printable(data, size < 40 ? size : 40, key, sizeof key); /* a tail line's key */
    qa_msg m, m2;
    memset(&m, 0, sizeof m);
    qa_status st = qa_msg_decode(data, size, &m);
    if (st != QA_OK) {
        if (st != QA_ERR_FORMAT) {
            fprintf(stderr, "qa_msg_decode: status %d, expected QA_ERR_FORMAT\n", (int)st);
            abort();
        }
        return 0;
    }
    (void)qa_msg_kind_name(m.kind);
    size_t n1 = 0, n2 = 0;
    if (qa_msg_encode(&m, enc1, sizeof enc1, &n1) != QA_OK) {
        fprintf(stderr, "a decoded %s message does not encode: %s\n", qa_msg_kind_name(m.kind), qa_err_msg());
        abort();
    }
    memset(&m2, 0, sizeof m2);
    if (qa_msg_decode(enc1, n1, &m2) != QA_OK) {
        fprintf(stderr, "an encoded %s message does not decode: %s\n", qa_msg_kind_name(m.kind), qa_err_msg());
        abort();
    }
    if (qa_msg_encode(&m2, enc2, sizeof enc2, &n2) != QA_OK || n1 != n2 || memcmp(enc1, enc2, n1) != 0) {
        fprintf(stderr, "%s message: encode/decode is not a round trip (%zu vs %zu bytes)\n", qa_msg_kind_name(m.kind),
                n1, n2);
        abort();
    }
    return 0;
}
