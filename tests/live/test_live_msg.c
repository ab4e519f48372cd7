/* Message schemas: every kind round-trips field for field, the layout is the documented
 * one (offsets checked on the bytes), and the decoder refuses what it must. */
#include <math.h>    /* NAN */
#include <string.h>  /* memcmp */

#include "harness.h"
#include "live/msg.h"

static qa_msg roundtrip(const qa_msg *m, size_t want_len) {
    uint8_t buf[QA_MSG_MAX];
    size_t len = 0;
    qa_msg out;
    memset(&out, 0xab, sizeof out);
    QA_CHECK(qa_msg_encode(m, buf, sizeof buf, &len) == QA_OK);
    QA_CHECK(len == want_len);
    QA_CHECK(qa_msg_decode(buf, len, &out) == QA_OK);
    QA_CHECK(out.kind == m->kind && out.time == m->time && out.id == m->id && strcmp(out.symbol, m->symbol) == 0);
    return out;
}

static void test_roundtrip(void) {
    qa_msg m = {.kind = QA_MSG_BAR, .time = 1769437800000000000LL, .id = 42, .symbol = "AAPL"};
    m.u.bar = (qa_msg_bar){1.5, 2.5, 0.5, 2.0, NAN, 300};
    qa_msg o = roundtrip(&m, 88);
    QA_CHECK(o.u.bar.open == 1.5 && o.u.bar.high == 2.5 && o.u.bar.low == 0.5 && o.u.bar.close == 2.0);
    QA_CHECK(isnan(o.u.bar.volume) && o.u.bar.bar_seconds == 300);

    qa_msg f = {.kind = QA_MSG_FEATURES, .time = -5, .symbol = "MSFT"};
    f.u.feat.n = 3;
    for (int i = 0; i < 3; i++) snprintf(f.u.feat.names[i], QA_MSG_NAME_LEN, "feature_%d", i), f.u.feat.values[i] = i - 0.25;
    f.u.feat.lineage[0] = 0xde, f.u.feat.lineage[31] = 0xad;
    o = roundtrip(&f, 40 + 36 + 120);
    QA_CHECK(o.u.feat.n == 3 && strcmp(o.u.feat.names[2], "feature_2") == 0 && o.u.feat.values[1] == 0.75);
    QA_CHECK(o.u.feat.lineage[0] == 0xde && o.u.feat.lineage[31] == 0xad);

    qa_msg s = {.kind = QA_MSG_SIGNAL, .time = 7, .id = 0xfedcba9876543210ull, .symbol = "NVDA"};
    snprintf(s.u.sig.model, sizeof s.u.sig.model, "demo-mlp");
    s.u.sig.version = 12, s.u.sig.score = -0.003, s.u.sig.close = 187.25;
    o = roundtrip(&s, 144);
    QA_CHECK(strcmp(o.u.sig.model, "demo-mlp") == 0 && o.u.sig.version == 12 && o.u.sig.score == -0.003);

    qa_msg z = {.kind = QA_MSG_SIZE, .time = 7, .id = 9, .symbol = "NVDA"};
    z.u.size = (qa_msg_size){-0.25, -1335.1, 187.25, 1e6, -0.003, "vol_target", "REDUCING"};
    o = roundtrip(&z, 112);
    QA_CHECK(o.u.size.weight == -0.25 && o.u.size.shares == -1335.1 && strcmp(o.u.size.method, "vol_target") == 0);
    QA_CHECK(strcmp(o.u.size.state, "REDUCING") == 0);

    qa_msg k = {.kind = QA_MSG_RISK, .time = 8, .id = 0, .symbol = "live"};
    k.u.risk = (qa_msg_risk){1e6, -2.5, 0.01, 0.9, -0.1, 0.4, 0.02, 0.03, 0.021, 0.024, 0.99, "ACTIVE", "AAPL"};
    o = roundtrip(&k, 160);
    QA_CHECK(o.u.risk.pnl == -2.5 && o.u.risk.es_param == 0.024 && o.u.risk.level == 0.99);
    QA_CHECK(strcmp(o.u.risk.state, "ACTIVE") == 0 && strcmp(o.u.risk.top, "AAPL") == 0);

    qa_msg a = {.kind = QA_MSG_ALERT, .time = 9, .id = 1, .symbol = "live"};
    a.u.alert = (qa_msg_alert){"breach", "var99", "var", 0.031, 0.02, "REDUCING", ""};
    memset(a.u.alert.detail, 'd', sizeof a.u.alert.detail); /* too long: cut, not refused */
    a.u.alert.detail[sizeof a.u.alert.detail - 1] = 0;
    o = roundtrip(&a, 280);
    QA_CHECK(strcmp(o.u.alert.limit, "var99") == 0 && o.u.alert.value == 0.031 && strlen(o.u.alert.detail) == 127);

    const uint8_t payload[5] = {1, 2, 3, 0, 5};
    qa_msg d = {.kind = QA_MSG_DEAD, .time = 0, .symbol = "X"};
    snprintf(d.u.dead.topic, sizeof d.u.dead.topic, "market.data");
    d.u.dead.partition = 4, d.u.dead.offset = 123456789012LL, d.u.dead.payload = payload, d.u.dead.payload_len = 5;
    snprintf(d.u.dead.reason, sizeof d.u.dead.reason, "truncated");
    o = roundtrip(&d, 40 + 176 + 5);
    QA_CHECK(o.u.dead.partition == 4 && o.u.dead.offset == 123456789012LL && o.u.dead.payload_len == 5);
    QA_CHECK(memcmp(o.u.dead.payload, payload, 5) == 0 && strcmp(o.u.dead.reason, "truncated") == 0);

    const char *text = "RT @WSJD: $AAPL closed Friday at $645.57";
    qa_msg doc = {.kind = QA_MSG_DOC, .time = 1402319580000000000LL, .id = 77, .symbol = "AAPL"};
    doc.u.doc = (qa_msg_doc){0, (uint32_t)strlen(text), 0.25, "stocknet", text};
    o = roundtrip(&doc, 40 + 32 + strlen(text));
    QA_CHECK(o.u.doc.basis == 0 && o.u.doc.sentiment == 0.25 && strcmp(o.u.doc.source, "stocknet") == 0);
    QA_CHECK(o.u.doc.text_len == strlen(text) && memcmp(o.u.doc.text, text, strlen(text)) == 0 && o.id == 77);
}

/* Documents: the text length must fit the body and the limit; the basis is 0 or 1. */
static void test_doc_refusals(void) {
    static char text[QA_MSG_DOC_TEXT + 2];
    memset(text, 'x', sizeof text - 1);
    qa_msg d = {.kind = QA_MSG_DOC, .symbol = "T"}, o;
    d.u.doc = (qa_msg_doc){1, QA_MSG_DOC_TEXT + 1, 0.0, "reuters", text};
    uint8_t b[QA_MSG_MAX];
    size_t len = 0;
    QA_CHECK(qa_msg_encode(&d, b, sizeof b, &len) == QA_ERR_INVALID_ARG && strstr(qa_err_msg(), "at most 2048"));
    d.u.doc.text_len = 10;
    QA_CHECK(qa_msg_encode(&d, b, sizeof b, &len) == QA_OK && len == 40 + 32 + 10);
    b[40 + 4] = 11; /* says 11 bytes of text in a body of 42 */
    QA_CHECK(qa_msg_decode(b, len, &o) == QA_ERR_FORMAT && strstr(qa_err_msg(), "text of 11 bytes"));
    b[40 + 4] = 10, b[40] = 2;
    QA_CHECK(qa_msg_decode(b, len, &o) == QA_ERR_FORMAT && strstr(qa_err_msg(), "time basis 2"));
}

/* The bytes at the documented offsets (docs/live.md), little-endian. */
static void test_layout(void) {
    qa_msg m = {.kind = QA_MSG_BAR, .time = 0x0102030405060708LL, .id = 0x1122334455667788ull, .symbol = "AB"};
    m.u.bar = (qa_msg_bar){1.0, 2.0, 0.5, 1.5, 10.0, 60};
    uint8_t b[QA_MSG_MAX];
    size_t len = 0;
    QA_CHECK(qa_msg_encode(&m, b, sizeof b, &len) == QA_OK);
    QA_CHECK(b[0] == 'Q' && b[1] == 'A' && b[2] == QA_MSG_BAR && b[3] == QA_MSG_MAJOR);
    QA_CHECK(b[4] == QA_MSG_MINOR && b[5] == 0 && b[6] == 48 && b[7] == 0);
    QA_CHECK(b[8] == 0x08 && b[15] == 0x01 && b[16] == 0x88 && b[23] == 0x11);
    QA_CHECK(b[24] == 'A' && b[25] == 'B' && b[26] == 0 && b[39] == 0);
    double close;
    memcpy(&close, b + 40 + 24, 8); /* this machine is little-endian too */
    QA_CHECK(close == 1.5 && b[40 + 40] == 60);
}

static void test_refusals(void) {
    qa_msg m = {.kind = QA_MSG_BAR, .symbol = "AAPL"}, o;
    uint8_t b[QA_MSG_MAX];
    size_t len = 0;
    QA_CHECK(qa_msg_encode(&m, b, sizeof b, &len) == QA_OK);
    QA_CHECK(qa_msg_decode(b, 39, &o) == QA_ERR_FORMAT && strstr(qa_err_msg(), "truncated"));
    QA_CHECK(qa_msg_decode(b, len - 1, &o) == QA_ERR_FORMAT);
    b[3] = 2;
    QA_CHECK(qa_msg_decode(b, len, &o) == QA_ERR_FORMAT && strstr(qa_err_msg(), "schema major 2"));
    b[3] = QA_MSG_MAJOR, b[2] = 99;
    QA_CHECK(qa_msg_decode(b, len, &o) == QA_ERR_FORMAT && strstr(qa_err_msg(), "unknown kind"));
    b[2] = QA_MSG_BAR, b[0] = 'X';
    QA_CHECK(qa_msg_decode(b, len, &o) == QA_ERR_FORMAT && strstr(qa_err_msg(), "magic"));
    b[0] = 'Q';
    memset(b + 24, 'A', 16); /* a symbol with no NUL */
    QA_CHECK(qa_msg_decode(b, len, &o) == QA_ERR_FORMAT && strstr(qa_err_msg(), "symbol"));
    /* A newer minor with a longer body is read (the extra bytes ignored). */
    QA_CHECK(qa_msg_encode(&m, b, sizeof b, &len) == QA_OK);
    b[4] = 3, b[6] = 56;
    QA_CHECK(qa_msg_decode(b, len + 8, &o) == QA_OK && o.minor == 3);
    /* Encoder refusals. */
    qa_msg big = {.kind = QA_MSG_SIGNAL, .symbol = "AAPL"};
    memset(big.u.sig.model, 'm', sizeof big.u.sig.model);
    QA_CHECK(qa_msg_encode(&big, b, sizeof b, &len) == QA_ERR_INVALID_ARG);
    qa_msg longsym = {.kind = QA_MSG_BAR, .symbol = "ABCDEFGHIJKLMNOP"};
    QA_CHECK(qa_msg_encode(&longsym, b, sizeof b, &len) == QA_ERR_INVALID_ARG && strstr(qa_err_msg(), "symbol"));
    QA_CHECK(qa_msg_encode(&m, b, 60, &len) == QA_ERR_INVALID_ARG);
}

static void test_signal_id(void) {
    uint64_t a = qa_msg_signal_id("live", "AAPL", 100), b = qa_msg_signal_id("live", "AAPL", 100);
    QA_CHECK(a == b);
    QA_CHECK(a != qa_msg_signal_id("live", "AAPL", 101) && a != qa_msg_signal_id("live", "MSFT", 100));
    QA_CHECK(a != qa_msg_signal_id("paper", "AAPL", 100));
    /* Field boundaries matter: ("ab","c") and ("a","bc") differ. */
    QA_CHECK(qa_msg_signal_id("ab", "c", 0) != qa_msg_signal_id("a", "bc", 0));
}

int main(void) {
    QA_RUN(test_roundtrip);
    QA_RUN(test_layout);
    QA_RUN(test_refusals);
    QA_RUN(test_doc_refusals);
    QA_RUN(test_signal_id);
    return qa_test_finish();
}
