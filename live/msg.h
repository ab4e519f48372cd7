/* The bus's message schemas (docs/live.md, "Messages"): one binary envelope for every
 * topic, little-endian, fixed offsets, so a decoder checks lengths and never parses text
 * on the hot path.
 *
 *   [0, 2)    magic "QA"
 *   [2]       kind (qa_msg_kind)
 *   [3]       schema major version (QA_MSG_MAJOR): a decoder refuses other majors
 *   [4, 6)    u16 minor version: additions at the end of a body; older decoders ignore them
 *   [6, 8)    u16 body length B (bytes after the header)
 *   [8, 16)   i64 event time, UTC nanoseconds (a bar's close time, a signal's bar)
 *   [16, 24)  u64 id: replay row for bars, signal id for signals and sizes, 0 otherwise
 *   [24, 40)  symbol, ASCII, NUL padded (also the Kafka key, so a symbol's messages
 *             stay in order on one partition)
 *   [40, 40+B) body, by kind (below)
 *
 * Bodies, major 1:
 *   bar        5 x f64 open, high, low, close, volume; i32 bar_seconds; u32 0   (48)
 *   watermark  u32 partition, u32 partitions: every bar with an event time <= the
 *              header's time has been sent on this partition                      (8)
 *   features   32 B lineage (SHA-256 of the definitions); u32 n; n x {32 B name,
 *              f64 value}                                                   (36 + 40n)
 *   signal     48 B model name; u32 version; u32 0; f64 score; f64 close;
 *              32 B features lineage                                            (104)
 *   size       f64 target weight, f64 target shares, f64 price, f64 equity,
 *              f64 score, 16 B sizing method, 16 B trading state                 (72)
 *   risk       f64 equity, pnl, drawdown, gross, net, concentration, var, es
 *              (historical), var, es (parametric), level; 16 B trading state;
 *              16 B most concentrated symbol                                    (120)
 *   alert      16 B severity (warning, breach, state); 48 B limit; 16 B metric;
 *              f64 value, f64 threshold; 16 B trading state; 128 B detail       (240)
 *   registry   i64 event seq; 24 B event kind; 64 B model; 32 B alias; i64 version;
 *              64 B who: one event of the model registry's log                  (200)
 *   dead       32 B source topic; i32 partition; u32 payload bytes P; i64 offset;
 *              128 B reason; P payload bytes (the original, cut at 4096)   (176 + P)
 *   order      64 B client order id; 64 B parent id; i32 side; u32 0; 24 B event; 24 B
 *              state; 16 B type; 16 B algo; f64 qty, limit, last qty, last price,
 *              filled, average price, fees; 64 B trade id; 64 B reason: one order
 *              event of the execution stage (orders, executions, fills topics)      (400)
 *   doc        u32 time basis (0 timestamp, 1 date only); u32 text bytes N; f64 the
 *              source's sentiment; 16 B source; N bytes of UTF-8 text (the scored text:
 *              a headline, a tweet; at most 2048): one alternative-data document for
 *              the header's symbol (a ticker), id = its document id, time = its event
 *              time (00:00 UTC of the day for date-only documents)          (32 + N)
 * Every text field is NUL padded and must hold a NUL. */
#ifndef QA_LIVE_MSG_H
#define QA_LIVE_MSG_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t, uint64_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QA_MSG_MAJOR 1
#define QA_MSG_MINOR 0
#define QA_MSG_HEADER 40
#define QA_MSG_SYMBOL_LEN 16
#define QA_MSG_MAX_FEATURES 64
#define QA_MSG_NAME_LEN 32
#define QA_MSG_MODEL_LEN 48
#define QA_MSG_REASON_LEN 128
#define QA_MSG_DEAD_PAYLOAD 4096
#define QA_MSG_DOC_TEXT 2048
/* Largest encoded message (a dead letter with its whole payload). */
#define QA_MSG_MAX (QA_MSG_HEADER + 176 + QA_MSG_DEAD_PAYLOAD)

typedef enum qa_msg_kind {
    QA_MSG_BAR = 1,
    QA_MSG_WATERMARK = 2,
    QA_MSG_FEATURES = 3,
    QA_MSG_SIGNAL = 4,
    QA_MSG_SIZE = 5,
    QA_MSG_DEAD = 6,
    QA_MSG_RISK = 7,
    QA_MSG_ALERT = 8,
    QA_MSG_REGISTRY = 9,
    QA_MSG_DOC = 10,
    QA_MSG_ORDER = 11,
    QA_MSG_KIND_END = 12
} qa_msg_kind;

/* "bar", "watermark", ...; "?" for others. */
const char *qa_msg_kind_name(int kind);

typedef struct qa_msg_bar {
    double open, high, low, close, volume;
    int32_t bar_seconds;
} qa_msg_bar;

typedef struct qa_msg_watermark {
    uint32_t partition, partitions;
} qa_msg_watermark;

typedef struct qa_msg_features {
    uint8_t lineage[32];
    uint32_t n;
    char names[QA_MSG_MAX_FEATURES][QA_MSG_NAME_LEN];
    double values[QA_MSG_MAX_FEATURES];
} qa_msg_features;

typedef struct qa_msg_signal {
    char model[QA_MSG_MODEL_LEN];
    uint32_t version;
    double score, close;
    uint8_t lineage[32];
} qa_msg_signal;

typedef struct qa_msg_size {
    double weight, shares, price, equity, score;
    char method[16];
    char state[16]; /* the trading state that gated it */
} qa_msg_size;

typedef struct qa_msg_risk {
    double equity, pnl, drawdown, gross, net, concentration;
    double var_hist, es_hist, var_param, es_param, level;
    char state[16];
    char top[16]; /* the most concentrated symbol */
} qa_msg_risk;

typedef struct qa_msg_alert {
    char severity[16];
    char limit[48];
    char metric[16];
    double value, threshold;
    char state[16];
    char detail[QA_MSG_REASON_LEN];
} qa_msg_alert;

typedef struct qa_msg_registry {
    int64_t seq;
    char kind[24]; /* version_created, alias_set, ... (registry/registry.h) */
    char model[64];
    char alias[32];
    int64_t version;
    char who[64];
} qa_msg_registry;

typedef struct qa_msg_dead {
    char topic[32];
    int32_t partition;
    int64_t offset;
    char reason[QA_MSG_REASON_LEN];
    uint32_t payload_len;
    const uint8_t *payload; /* decode: points into the decoded buffer */
} qa_msg_dead;

typedef struct qa_msg_doc {
    uint32_t basis;      /* qa_altdocs_basis: 0 timestamp, 1 date only */
    uint32_t text_len;
    double sentiment;    /* as the source scored it (informative: the service scores the text) */
    char source[16];     /* "reuters", "stocknet" */
    const char *text;    /* text_len bytes, not NUL-terminated; decode: points into the buffer */
} qa_msg_doc;

#define QA_MSG_ID_LEN 64
typedef struct qa_msg_order {
    char clordid[QA_MSG_ID_LEN];
    char parent[QA_MSG_ID_LEN]; /* "" for a parent order */
    int32_t side;               /* +1 buy, -1 sell */
    char event[24];             /* new, accepted, fill, cancel_request, cancelled, ... (live/oms.h) */
    char state[24];             /* the order's state after the event */
    char type[16];              /* parent, market, limit */
    char algo[16];
    double qty, limit, last_qty, last_price, filled, avg_price, fees;
    char trade_id[QA_MSG_ID_LEN];
    char reason[64];
} qa_msg_order;

typedef struct qa_msg {
    int kind;          /* qa_msg_kind */
    int minor;         /* the sender's minor version */
    int64_t time;      /* event time, UTC ns */
    uint64_t id;
    char symbol[QA_MSG_SYMBOL_LEN + 1];
    union {
        qa_msg_bar bar;
        qa_msg_watermark wm;
        qa_msg_features feat;
        qa_msg_signal sig;
        qa_msg_size size;
        qa_msg_dead dead;
        qa_msg_risk risk;
        qa_msg_alert alert;
        qa_msg_registry reg;
        qa_msg_doc doc;
        qa_msg_order order;
    } u;
} qa_msg;

/* Encodes m into buf (cap bytes, QA_MSG_MAX always suffices); *len receives the size.
 * QA_ERR_INVALID_ARG when a text field does not fit (naming it) or the kind is unknown. */
qa_status qa_msg_encode(const qa_msg *m, void *buf, size_t cap, size_t *len);

/* Decodes len bytes. QA_ERR_FORMAT with the reason in the last-error text ("truncated:
 * 12 bytes, a header needs 40", "schema major 2, this decoder reads 1", ...) when the
 * bytes are not a message this decoder understands; *m is then unspecified. Values are
 * not judged here (NaN prices are the collector's business). */
qa_status qa_msg_decode(const void *buf, size_t len, qa_msg *m);

/* The printable ASCII of n key bytes into out (size bytes, NUL-terminated; other bytes
 * become '?'): a dead letter's or a tail line's key, whatever the producer sent. */
void qa_msg_printable(const void *key, size_t n, char *out, size_t size);

/* A deterministic 64-bit id of (stream, symbol, event time): the signal id, the same
 * for a replayed input, so a consumer can spot a second copy. */
uint64_t qa_msg_signal_id(const char *stream, const char *symbol, int64_t time);

#ifdef __cplusplus
}
#endif
#endif
