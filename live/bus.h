/* The Kafka bus of the live side (docs/live.md, "Bus"): librdkafka producers and
 * consumers with the settings the no-loss/no-duplicate argument needs, the topic names,
 * and the embedded Kafka-protocol cluster that stands in for a real one on a laptop.
 *
 * Producers are idempotent (enable.idempotence: per-partition order, no duplicates from
 * retries) and report every delivery; qa_bus_flush fails when any message of the
 * session was not acknowledged, so a caller that checkpoints only after a successful
 * flush never records a message as sent that the cluster does not hold.
 * Consumers use explicit partition assignment (the service keeps its input offsets in
 * its own checkpoint, the pattern Kafka documents for exactly-once with external
 * state), never auto-commit, and commit to the group only what the caller says is done
 * (so lag tools and `kafka-consumer-groups` see real progress).
 *
 * Nothing here is mock-only: with `bootstrap` set the same code talks to any Kafka
 * cluster. The embedded cluster (qa_bus_mock_*) is librdkafka's mock cluster, served on
 * loopback TCP from its own process (`qa bus`), found by other processes through a
 * bootstrap file. */
#ifndef QA_LIVE_BUS_H
#define QA_LIVE_BUS_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The topics (before the configured prefix). */
#define QA_TOPIC_MARKET "market.data"
#define QA_TOPIC_ALT "alt.data"
#define QA_TOPIC_FEATURES "features"
#define QA_TOPIC_SIGNALS "signals"
#define QA_TOPIC_SIZES "position.sizes"
#define QA_TOPIC_RISK "risk.metrics"
#define QA_TOPIC_ALERTS "alerts"
#define QA_TOPIC_REGISTRY "registry.events"
#define QA_TOPIC_DEAD "dead.letter"
#define QA_TOPIC_ORDERS "orders"         /* every order created (parents and children) */
#define QA_TOPIC_EXECUTIONS "executions" /* every order state change (execution reports) */
#define QA_TOPIC_FILLS "fills"           /* every fill, once, with its trade id */
/* NULL-terminated list of every topic above. */
extern const char *const qa_bus_topics[];

#define QA_BUS_MAX_PROPS 32

typedef struct qa_bus_cfg {
    char bootstrap[512];    /* host:port,...; "" = the embedded cluster (qa_bus_mock_ensure) */
    char client_id[64];
    char prefix[64];        /* prepended to every topic name ("" by default) */
    int partitions;         /* of topics this process creates (embedded cluster: all of them) */
    /* Extra librdkafka properties "key=value", applied last (they win). */
    char props[QA_BUS_MAX_PROPS][160];
    int nprops;
} qa_bus_cfg;

/* client_id "qa", no prefix, 6 partitions, no extra properties, no bootstrap. */
void qa_bus_cfg_default(qa_bus_cfg *c);
/* The full topic name: prefix + name, into out (size bytes). */
void qa_bus_topic(const qa_bus_cfg *c, const char *name, char *out, size_t size);

/* ---- producer ---------------------------------------------------------------------------- */

typedef struct qa_bus_producer qa_bus_producer_t;

qa_status qa_bus_producer_create(const qa_bus_cfg *cfg, qa_bus_producer_t **out);
/* Flushes (up to 10 s) and frees; accepts NULL. */
void qa_bus_producer_free(qa_bus_producer_t *p);
/* One message of a batch: partition >= 0 (qa_bus_partition_of for a key). */
typedef struct qa_bus_out {
    int partition;
    const void *key;
    size_t keylen;
    const void *payload;
    size_t len;
} qa_bus_out;

/* Queues n messages (copied) of one topic with one call per partition, so a burst (a
 * replay's timestamp) pays librdkafka's queue lock once per partition, not per message.
 * The order of the messages of each partition is kept. Waits while the local queue has no
 * room for the batch; QA_ERR_KAFKA as qa_bus_produce. */
qa_status qa_bus_produce_batch(qa_bus_producer_t *p, const char *topic, const qa_bus_out *msgs, size_t n);
/* Queues one message (copied). partition -1 = by key (qa_bus_partition_of). Waits while the local queue is full. QA_ERR_KAFKA when
 * librdkafka refuses it or the producer hit a fatal error. */
qa_status qa_bus_produce(qa_bus_producer_t *p, const char *topic, int partition, const void *key, size_t keylen,
                         const void *payload, size_t len);
/* Serves delivery reports without blocking. */
void qa_bus_poll(qa_bus_producer_t *p);
/* Waits until every queued message is acknowledged (timeout_ms < 0: forever).
 * QA_ERR_KAFKA when one was not (with the first failure's reason) or the wait timed out. */
qa_status qa_bus_flush(qa_bus_producer_t *p, int timeout_ms);
/* Errors librdkafka reported (a broker down, a timeout: it retries on its own) since
 * creation, and the last one's text. */
uint64_t qa_bus_producer_errors(qa_bus_producer_t *p, char *last, size_t size);

/* ---- consumer ---------------------------------------------------------------------------- */

typedef struct qa_bus_consumer qa_bus_consumer_t;

/* group may be NULL (no commits). */
qa_status qa_bus_consumer_create(const qa_bus_cfg *cfg, const char *group, qa_bus_consumer_t **out);
void qa_bus_consumer_free(qa_bus_consumer_t *c);
/* Errors the consumer's client reported (a broker down while nothing is fetched from it)
 * since creation, and the last one's text. */
uint64_t qa_bus_consumer_errors(qa_bus_consumer_t *c, char *last, size_t size);
/* Number of partitions of a topic (waits up to timeout_ms for metadata). */
qa_status qa_bus_partitions(qa_bus_consumer_t *c, const char *topic, int timeout_ms, int *n);
/* Reads partitions [0, n) of topic from offsets[i] (a value < 0: from the beginning). */
qa_status qa_bus_assign(qa_bus_consumer_t *c, const char *topic, int n, const int64_t *offsets);
/* The same over several topics at once (an assignment replaces the previous one): topic
 * k's partitions [0, n[k]) from offsets[k][i]. */
qa_status qa_bus_assign_topics(qa_bus_consumer_t *c, int ntopics, const char *const *topics, const int *n,
                               const int64_t *const *offsets);

typedef struct qa_bus_record {
    const char *topic;
    int partition;
    int64_t offset;
    int64_t timestamp_ms; /* the broker's or producer's timestamp; -1 unknown */
    const void *key;
    size_t keylen;
    const void *payload;
    size_t len;
    void *handle_; /* the librdkafka message, released by qa_bus_record_release */
} qa_bus_record;

/* Waits up to timeout_ms: 1 and *rec filled (release it), 0 when nothing came, or an
 * error status (a consumer error other than reaching a partition's end). */
int qa_bus_consume(qa_bus_consumer_t *c, int timeout_ms, qa_bus_record *rec);
void qa_bus_record_release(qa_bus_record *rec);
/* Commits next offsets[i] of partitions [0, n) of topic to the group (synchronous). */
qa_status qa_bus_commit(qa_bus_consumer_t *c, const char *topic, int n, const int64_t *next);
/* Low and high watermark of a partition (high = the offset the next message gets). */
qa_status qa_bus_watermarks(qa_bus_consumer_t *c, const char *topic, int partition, int timeout_ms, int64_t *lo,
                            int64_t *hi);
/* Messages not yet consumed on partitions [0, n) of topic, given the next offsets to read
 * (a value < 0: from the low watermark), from the high watermarks the consumer's last
 * fetches reported (cached: no request, so cheap enough for every checkpoint). -1 when no
 * fetch has reported them yet. */
long long qa_bus_lag(qa_bus_consumer_t *c, const char *topic, int n, const int64_t *next);

/* Reads offsets [from, to) of a partition, calling fn for each message in order (a
 * non-OK return stops and is returned); QA_ERR_NOT_FOUND when they did not all arrive
 * within timeout_ms. Uses its own short-lived assignment: call it before qa_bus_assign. */
typedef qa_status (*qa_bus_read_fn)(void *ctx, const qa_bus_record *rec);
qa_status qa_bus_read_range(qa_bus_consumer_t *c, const char *topic, int partition, int64_t from, int64_t to,
                            int timeout_ms, qa_bus_read_fn fn, void *ctx);

/* The partition of a key among n, by murmur2 as Kafka's Java clients do, so a symbol
 * lands where every other client expects it. */
int qa_bus_partition_of(const void *key, size_t keylen, int n);

/* ---- the embedded cluster --------------------------------------------------------------- */

typedef struct qa_bus_mock qa_bus_mock_t;

/* Starts a mock cluster of `brokers` brokers in this process with every topic of
 * qa_bus_topics (prefix applied) created with cfg->partitions partitions. */
qa_status qa_bus_mock_create(const qa_bus_cfg *cfg, int brokers, qa_bus_mock_t **out);
void qa_bus_mock_free(qa_bus_mock_t *m);
const char *qa_bus_mock_bootstrap(const qa_bus_mock_t *m);
/* Fault injection (tests, `qa bus` control lines): a broker down or up (1-based id),
 * its round-trip time in ms. */
qa_status qa_bus_mock_broker(qa_bus_mock_t *m, int broker, int up, int rtt_ms);

/* Where a `qa bus` process publishes its bootstrap list: $QA_BUS_FILE, else
 * $XDG_RUNTIME_DIR/quantumalpha-bus, else /tmp/quantumalpha-bus-<uid>. */
void qa_bus_default_file(char *out, size_t size);
/* The bootstrap of the running `qa bus` recorded in `file` (NULL: the default): QA_OK
 * with it in out, or QA_ERR_NOT_FOUND when there is no file or its process is gone. */
qa_status qa_bus_mock_find(const char *file, char *out, size_t size);
/* qa_bus_mock_find that also gives the process id recorded in the file (pid may be NULL). */
qa_status qa_bus_mock_find_pid(const char *file, char *out, size_t size, long *pid);
/* cfg->bootstrap when set; else the running embedded cluster's; else starts
 * `exe bus --daemon` (a detached `qa bus`) and waits up to 15 s for it. *started = 1
 * when this call started it. */
qa_status qa_bus_mock_ensure(qa_bus_cfg *cfg, const char *exe, int *started);

#ifdef __cplusplus
}
#endif
#endif
