/* Kafka producers, consumers and the embedded cluster over librdkafka (live/bus.h). */
#include "live/bus.h"

#include <errno.h>      /* errno */
#include <fcntl.h>      /* open */
#include <signal.h>     /* kill */
#include <stdatomic.h>  /* delivery counters read by the metrics thread */
#include <stdio.h>      /* snprintf, fopen */
#include <stdlib.h>     /* calloc, getenv, strtol */
#include <string.h>     /* strchr, memcpy */
#include <sys/wait.h>   /* waitpid */
#include <time.h>       /* nanosleep */
#include <unistd.h>     /* fork, setsid, getuid */

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h> /* the embedded cluster (after rdkafka.h) */

#include "common/fs.h"  /* qa_fs_write_all: the bootstrap file, atomically */
#include "common/log.h"   /* librdkafka's warnings */
#include "common/timer.h" /* read timeouts */

const char *const qa_bus_topics[] = {QA_TOPIC_MARKET, QA_TOPIC_ALT, QA_TOPIC_FEATURES, QA_TOPIC_SIGNALS,
                                     QA_TOPIC_SIZES, QA_TOPIC_RISK, QA_TOPIC_ALERTS, QA_TOPIC_REGISTRY,
                                     QA_TOPIC_DEAD, QA_TOPIC_ORDERS, QA_TOPIC_EXECUTIONS, QA_TOPIC_FILLS, NULL};

void qa_bus_cfg_default(qa_bus_cfg *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->client_id, sizeof c->client_id, "qa");
    c->partitions = 6;
}

void qa_bus_topic(const qa_bus_cfg *c, const char *name, char *out, size_t size) {
    snprintf(out, size, "%s%s", c->prefix, name);
}

/* ---- configuration ------------------------------------------------------------------------ */

static qa_status conf_set(rd_kafka_conf_t *conf, const char *key, const char *value) {
    char err[256];
    if (rd_kafka_conf_set(conf, key, value, err, sizeof err) != RD_KAFKA_CONF_OK)
        return QA_FAIL(QA_ERR_CONFIG, "Kafka property %s=%s: %s", key, value, err);
    return QA_OK;
}

/* Transport and broker errors are expected while a broker restarts: librdkafka retries
 * on its own, so they are warnings; fatal ones (idempotence broken) end the session at
 * the next produce or flush. */
/* Errors a client's error callback reported: the first member of producers and consumers
 * (the callback's opaque). */
typedef struct health {
    atomic_ullong errors;
    char last_error[256]; /* written by the thread that polls the client */
} health;

/* The producer's local queue (queue.buffering.max.messages). */
#define QA_BUS_QUEUE_MAX 1000000u
#define QA_BUS_QUEUE_MAX_S "1000000"

struct qa_bus_producer {
    health h;
    rd_kafka_t *rk;
    atomic_ullong failed;
    char first_failure[256]; /* written once, by the polling thread */
};

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    (void)rk;
    qa_log_warn("kafka: %s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
    health *h = opaque;
    if (h) {
        snprintf(h->last_error, sizeof h->last_error, "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
        atomic_fetch_add(&h->errors, 1);
    }
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    (void)rk;
    if (level <= 3) qa_log_warn("kafka %s: %s", fac, buf);
    else qa_log_debug("kafka %s: %s", fac, buf);
}

/* A configuration: `defaults` (key, value pairs, NULL-ended), then the bootstrap, the
 * client id and the caller's properties, which therefore win. */
static qa_status make_conf_with(const qa_bus_cfg *cfg, const char *const *defaults, rd_kafka_conf_t **out) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf) return QA_FAIL(QA_ERR_NOMEM, "Kafka configuration");
    qa_status st = QA_OK;
    for (int i = 0; defaults && defaults[i] && st == QA_OK; i += 2) st = conf_set(conf, defaults[i], defaults[i + 1]);
    if (st == QA_OK && cfg->bootstrap[0]) st = conf_set(conf, "bootstrap.servers", cfg->bootstrap);
    if (st == QA_OK) st = conf_set(conf, "client.id", cfg->client_id[0] ? cfg->client_id : "qa");
    for (int i = 0; i < cfg->nprops && st == QA_OK; i++) {
        char key[160];
        snprintf(key, sizeof key, "%s", cfg->props[i]);
        char *eq = strchr(key, '=');
        if (!eq) st = QA_FAIL(QA_ERR_CONFIG, "Kafka property '%s': expected key=value", cfg->props[i]);
        else *eq = '\0', st = conf_set(conf, key, eq + 1);
    }
    if (st != QA_OK) {
        rd_kafka_conf_destroy(conf);
        return st;
    }
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    *out = conf;
    return QA_OK;
}

/* ---- producer ------------------------------------------------------------------------------- */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    qa_bus_producer_t *p = opaque;
    if (m->err) {
        if (atomic_fetch_add(&p->failed, 1) == 0)
            snprintf(p->first_failure, sizeof p->first_failure, "%s [%d]: %s", rd_kafka_topic_name(m->rkt),
                     (int)m->partition, rd_kafka_err2str(m->err));
    }
}

qa_status qa_bus_producer_create(const qa_bus_cfg *cfg, qa_bus_producer_t **out) {
    /* Idempotence implies acks=all and at most 5 requests in flight per connection,
     * which keeps per-partition order across retries. linger.ms 1 keeps latency low
     * while still batching a burst (a replay). */
    static const char *const defaults[] = {"enable.idempotence", "true", "linger.ms", "1",
                                           "queue.buffering.max.messages", QA_BUS_QUEUE_MAX_S, "partitioner", "murmur2_random", NULL};
    qa_bus_producer_t *p = calloc(1, sizeof *p);
    if (!p) return QA_FAIL(QA_ERR_NOMEM, "Kafka producer");
    rd_kafka_conf_t *conf = NULL;
    qa_status st = make_conf_with(cfg, defaults, &conf);
    if (st != QA_OK) {
        free(p);
        return st;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, p);
    char err[256];
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!p->rk) {
        rd_kafka_conf_destroy(conf);
        free(p);
        return QA_FAIL(QA_ERR_KAFKA, "creating a Kafka producer: %s", err);
    }
    *out = p;
    return QA_OK;
}

void qa_bus_producer_free(qa_bus_producer_t *p) {
    if (!p) return;
    if (rd_kafka_flush(p->rk, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        qa_log_warn("kafka producer closed with %d messages not acknowledged", rd_kafka_outq_len(p->rk));
    rd_kafka_destroy(p->rk);
    free(p);
}

static qa_status fatal_status(rd_kafka_t *rk) {
    char why[256];
    rd_kafka_resp_err_t e = rd_kafka_fatal_error(rk, why, sizeof why);
    if (e) return QA_FAIL(QA_ERR_KAFKA, "fatal Kafka error %s: %s", rd_kafka_err2name(e), why);
    return QA_OK;
}

qa_status qa_bus_produce(qa_bus_producer_t *p, const char *topic, int partition, const void *key, size_t keylen,
                         const void *payload, size_t len) {
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY((void *)key, keylen),
            RD_KAFKA_V_VALUE((void *)payload, len), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) return QA_OK;
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_poll(p->rk, 10); /* serve delivery reports until there is room */
            continue;
        }
        if (e == RD_KAFKA_RESP_ERR__FATAL) return fatal_status(p->rk);
        return QA_FAIL(QA_ERR_KAFKA, "producing to %s: %s", topic, rd_kafka_err2str(e));
    }
}

qa_status qa_bus_produce_batch(qa_bus_producer_t *p, const char *topic, const qa_bus_out *msgs, size_t n) {
    if (n == 0) return QA_OK;
    int np = 0;
    for (size_t i = 0; i < n; i++) {
        if (msgs[i].partition < 0 || msgs[i].partition >= 4096)
            return QA_FAIL(QA_ERR_INVALID_ARG, "batch message %zu: partition %d", i, msgs[i].partition);
        if (msgs[i].partition >= np) np = msgs[i].partition + 1;
    }
    /* Room for the whole batch first: a message refused in the middle of a partition's run
     * would let the ones after it overtake it. */
    while ((size_t)rd_kafka_outq_len(p->rk) + n > QA_BUS_QUEUE_MAX) rd_kafka_poll(p->rk, 10);
    rd_kafka_message_t *m = calloc(n, sizeof *m);
    size_t *start = calloc((size_t)np + 1, sizeof *start);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(p->rk, topic, NULL);
    qa_status st = QA_OK;
    if (!m || !start) st = QA_FAIL(QA_ERR_NOMEM, "batch of %zu messages", n);
    else if (!rkt) st = QA_FAIL(QA_ERR_KAFKA, "topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
    if (st == QA_OK) { /* stable counting sort by partition */
        for (size_t i = 0; i < n; i++) start[msgs[i].partition + 1]++;
        for (int k = 0; k < np; k++) start[k + 1] += start[k];
        for (size_t i = 0; i < n; i++) {
            rd_kafka_message_t *x = &m[start[msgs[i].partition]++];
            x->partition = msgs[i].partition;
            x->key = (void *)msgs[i].key, x->key_len = msgs[i].keylen;
            x->payload = (void *)msgs[i].payload, x->len = msgs[i].len;
        }
    }
    for (size_t i = 0; st == QA_OK && i < n;) {
        size_t j = i;
        while (j < n && m[j].partition == m[i].partition) j++;
        int sent = rd_kafka_produce_batch(rkt, m[i].partition, RD_KAFKA_MSG_F_COPY, m + i, (int)(j - i));
        if (sent != (int)(j - i)) {
            rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_UNKNOWN;
            for (size_t k = i; k < j; k++)
                if (m[k].err) {
                    e = m[k].err;
                    break;
                }
            st = e == RD_KAFKA_RESP_ERR__FATAL ? fatal_status(p->rk)
                                                : QA_FAIL(QA_ERR_KAFKA, "producing %zu messages to %s [%d]: %d queued, %s",
                                                          j - i, topic, m[i].partition, sent, rd_kafka_err2str(e));
        }
        i = j;
    }
    if (rkt) rd_kafka_topic_destroy(rkt);
    free(m);
    free(start);
    return st;
}

void qa_bus_poll(qa_bus_producer_t *p) {
    rd_kafka_poll(p->rk, 0);
}

qa_status qa_bus_flush(qa_bus_producer_t *p, int timeout_ms) {
    rd_kafka_resp_err_t e = rd_kafka_flush(p->rk, timeout_ms < 0 ? -1 : timeout_ms);
    QA_TRY_RET(fatal_status(p->rk));
    if (atomic_load(&p->failed))
        return QA_FAIL(QA_ERR_KAFKA, "%llu messages were not delivered, the first: %s",
                       (unsigned long long)atomic_load(&p->failed), p->first_failure);
    if (e) return QA_FAIL(QA_ERR_KAFKA, "flush: %d messages not acknowledged after %d ms", rd_kafka_outq_len(p->rk), timeout_ms);
    return QA_OK;
}

uint64_t qa_bus_producer_errors(qa_bus_producer_t *p, char *last, size_t size) {
    if (last && size) snprintf(last, size, "%s", p->h.last_error);
    return atomic_load(&p->h.errors);
}


/* ---- consumer ------------------------------------------------------------------------------- */

struct qa_bus_consumer {
    health h; /* a broker down is reported here while nothing is fetched from it */
    rd_kafka_t *rk;
};

uint64_t qa_bus_consumer_errors(qa_bus_consumer_t *c, char *last, size_t size) {
    if (last && size) snprintf(last, size, "%s", c->h.last_error);
    return atomic_load(&c->h.errors);
}

qa_status qa_bus_consumer_create(const qa_bus_cfg *cfg, const char *group, qa_bus_consumer_t **out) {
    char gid[96];
    if (group) snprintf(gid, sizeof gid, "%s", group);
    else snprintf(gid, sizeof gid, "qa-reader-%ld", (long)getpid()); /* never commits */
    /* fetch.wait.max.ms bounds how long a quiet partition delays the next fetch (the
     * default 500 ms would be the service's latency floor). */
    const char *const defaults[] = {"group.id", gid, "enable.auto.commit", "false", "enable.auto.offset.store",
                                    "false", "auto.offset.reset", "earliest", "enable.partition.eof", "false",
                                    "fetch.wait.max.ms", "5", NULL};
    rd_kafka_conf_t *conf = NULL;
    QA_TRY_RET(make_conf_with(cfg, defaults, &conf));
    qa_bus_consumer_t *c = calloc(1, sizeof *c);
    if (!c) {
        rd_kafka_conf_destroy(conf);
        return QA_FAIL(QA_ERR_NOMEM, "Kafka consumer");
    }
    rd_kafka_conf_set_opaque(conf, &c->h);
    char err[256];
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!c->rk) {
        rd_kafka_conf_destroy(conf);
        free(c);
        return QA_FAIL(QA_ERR_KAFKA, "creating a Kafka consumer: %s", err);
    }
    rd_kafka_poll_set_consumer(c->rk); /* one queue: errors and messages in consumer_poll */
    *out = c;
    return QA_OK;
}

void qa_bus_consumer_free(qa_bus_consumer_t *c) {
    if (!c) return;
    rd_kafka_resp_err_t e = rd_kafka_consumer_close(c->rk);
    if (e) qa_log_warn("kafka consumer close: %s", rd_kafka_err2str(e));
    rd_kafka_destroy(c->rk);
    free(c);
}

qa_status qa_bus_partitions(qa_bus_consumer_t *c, const char *topic, int timeout_ms, int *n) {
    rd_kafka_topic_t *t = rd_kafka_topic_new(c->rk, topic, NULL);
    if (!t) return QA_FAIL(QA_ERR_KAFKA, "topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
    const struct rd_kafka_metadata *md = NULL;
    qa_status st = QA_OK;
    rd_kafka_resp_err_t e = rd_kafka_metadata(c->rk, 0, t, &md, timeout_ms);
    if (e) st = QA_FAIL(QA_ERR_KAFKA, "metadata of topic %s: %s", topic, rd_kafka_err2str(e));
    else if (md->topic_cnt != 1 || md->topics[0].err)
        st = QA_FAIL(QA_ERR_NOT_FOUND, "topic %s: %s", topic,
                     md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "not in the metadata");
    else *n = md->topics[0].partition_cnt;
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(t);
    return st;
}

qa_status qa_bus_assign(qa_bus_consumer_t *c, const char *topic, int n, const int64_t *offsets) {
    return qa_bus_assign_topics(c, 1, &topic, &n, &offsets);
}

qa_status qa_bus_assign_topics(qa_bus_consumer_t *c, int ntopics, const char *const *topics, const int *n,
                               const int64_t *const *offsets) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(ntopics > 0 ? n[0] : 0);
    if (!l) return QA_FAIL(QA_ERR_NOMEM, "partition list");
    for (int k = 0; k < ntopics; k++)
        for (int i = 0; i < n[k]; i++)
            rd_kafka_topic_partition_list_add(l, topics[k], i)->offset =
                offsets[k] && offsets[k][i] >= 0 ? offsets[k][i] : RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) return QA_FAIL(QA_ERR_KAFKA, "assigning %d partitions of %s%s: %s", n[0], topics[0], ntopics > 1 ? " and more" : "",
                          rd_kafka_err2str(e));
    return QA_OK;
}

int qa_bus_consume(qa_bus_consumer_t *c, int timeout_ms, qa_bus_record *rec) {
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, timeout_ms);
    if (!m) return 0;
    if (m->err) {
        qa_status st = m->err == RD_KAFKA_RESP_ERR__FATAL
                           ? fatal_status(c->rk)
                           : QA_FAIL(QA_ERR_KAFKA, "consumer: %s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        return st;
    }
    rec->topic = rd_kafka_topic_name(m->rkt);
    rec->partition = (int)m->partition;
    rec->offset = m->offset;
    rec->timestamp_ms = rd_kafka_message_timestamp(m, NULL);
    rec->key = m->key;
    rec->keylen = m->key_len;
    rec->payload = m->payload;
    rec->len = m->len;
    rec->handle_ = m;
    return 1;
}

void qa_bus_record_release(qa_bus_record *rec) {
    if (rec && rec->handle_) rd_kafka_message_destroy(rec->handle_);
    if (rec) rec->handle_ = NULL;
}

qa_status qa_bus_commit(qa_bus_consumer_t *c, const char *topic, int n, const int64_t *next) {
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    if (!l) return QA_FAIL(QA_ERR_NOMEM, "partition list");
    for (int i = 0; i < n; i++)
        if (next[i] >= 0) rd_kafka_topic_partition_list_add(l, topic, i)->offset = next[i];
    rd_kafka_resp_err_t e = l->cnt ? rd_kafka_commit(c->rk, l, 0) : RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_destroy(l);
    if (e) return QA_FAIL(QA_ERR_KAFKA, "committing offsets of %s: %s", topic, rd_kafka_err2str(e));
    return QA_OK;
}

qa_status qa_bus_watermarks(qa_bus_consumer_t *c, const char *topic, int partition, int timeout_ms, int64_t *lo,
                            int64_t *hi) {
    rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(c->rk, topic, partition, lo, hi, timeout_ms);
    if (e) return QA_FAIL(QA_ERR_KAFKA, "watermarks of %s [%d]: %s", topic, partition, rd_kafka_err2str(e));
    return QA_OK;
}

long long qa_bus_lag(qa_bus_consumer_t *c, const char *topic, int n, const int64_t *next) {
    long long lag = 0;
    for (int p = 0; p < n; p++) {
        int64_t lo = -1, hi = -1;
        if (rd_kafka_get_watermark_offsets(c->rk, topic, p, &lo, &hi) != RD_KAFKA_RESP_ERR_NO_ERROR || hi < 0) return -1;
        int64_t at = next[p] >= 0 ? next[p] : lo;
        if (hi > at) lag += hi - at;
    }
    return lag;
}

qa_status qa_bus_read_range(qa_bus_consumer_t *c, const char *topic, int partition, int64_t from, int64_t to,
                            int timeout_ms, qa_bus_read_fn fn, void *ctx) {
    if (from >= to) return QA_OK;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    if (!l) return QA_FAIL(QA_ERR_NOMEM, "partition list");
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = from;
    rd_kafka_resp_err_t e = rd_kafka_assign(c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) return QA_FAIL(QA_ERR_KAFKA, "reading %s [%d] from %lld: %s", topic, partition, (long long)from, rd_kafka_err2str(e));
    qa_status st = QA_OK;
    int64_t next = from;
    uint64_t begin = qa_time_ns();
    while (st == QA_OK && next < to) {
        if (qa_time_since(begin) * 1000.0 > timeout_ms) {
            st = QA_FAIL(QA_ERR_NOT_FOUND, "%s [%d]: offsets %lld..%lld did not arrive within %d ms", topic, partition,
                         (long long)next, (long long)to - 1, timeout_ms);
            break;
        }
        qa_bus_record r;
        int got = qa_bus_consume(c, 100, &r);
        if (got < 0) qa_log_warn("%s", qa_err_msg()); /* transient: keep waiting */
        if (got <= 0) continue;
        if (r.partition == partition && r.offset >= next && strcmp(r.topic, topic) == 0) {
            next = r.offset + 1; /* compacted or transactional topics may skip offsets */
            st = fn(ctx, &r);
        }
        qa_bus_record_release(&r);
    }
    rd_kafka_assign(c->rk, NULL);
    return st;
}

int qa_bus_partition_of(const void *key, size_t keylen, int n) {
    /* librdkafka's murmur2 partitioner ignores the topic and opaques. */
    return (int)rd_kafka_msg_partitioner_murmur2(NULL, key, keylen, n, NULL, NULL);
}

/* ---- the embedded cluster -------------------------------------------------------------------- */

struct qa_bus_mock {
    rd_kafka_t *rk; /* the handle the mock cluster lives in */
    rd_kafka_mock_cluster_t *mc;
};

qa_status qa_bus_mock_create(const qa_bus_cfg *cfg, int brokers, qa_bus_mock_t **out) {
    if (brokers < 1 || brokers > 16) return QA_FAIL(QA_ERR_INVALID_ARG, "brokers %d: expected 1..16", brokers);
    qa_bus_mock_t *m = calloc(1, sizeof *m);
    if (!m) return QA_FAIL(QA_ERR_NOMEM, "mock cluster");
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf) rd_kafka_conf_set_log_cb(conf, on_log); /* its "no bootstrap.servers" notice is expected */
    char err[256];
    m->rk = conf ? rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err) : NULL;
    if (!m->rk) {
        if (conf) rd_kafka_conf_destroy(conf);
        free(m);
        return QA_FAIL(QA_ERR_KAFKA, "mock cluster handle: %s", conf ? err : "out of memory");
    }
    m->mc = rd_kafka_mock_cluster_new(m->rk, brokers);
    if (!m->mc) {
        qa_bus_mock_free(m);
        return QA_FAIL(QA_ERR_KAFKA, "starting a mock cluster of %d brokers", brokers);
    }
    /* Replicate over up to three brokers so one broker down leaves the data served. */
    int rf = brokers < 3 ? brokers : 3;
    for (int i = 0; qa_bus_topics[i]; i++) {
        char name[256];
        qa_bus_topic(cfg, qa_bus_topics[i], name, sizeof name);
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(m->mc, name, cfg->partitions, rf);
        if (e) {
            qa_bus_mock_free(m);
            return QA_FAIL(QA_ERR_KAFKA, "creating topic %s on the mock cluster: %s", name, rd_kafka_err2str(e));
        }
    }
    *out = m;
    return QA_OK;
}

void qa_bus_mock_free(qa_bus_mock_t *m) {
    if (!m) return;
    if (m->mc) rd_kafka_mock_cluster_destroy(m->mc);
    if (m->rk) rd_kafka_destroy(m->rk);
    free(m);
}

const char *qa_bus_mock_bootstrap(const qa_bus_mock_t *m) {
    return rd_kafka_mock_cluster_bootstraps(m->mc);
}

qa_status qa_bus_mock_broker(qa_bus_mock_t *m, int broker, int up, int rtt_ms) {
    rd_kafka_resp_err_t e = up ? rd_kafka_mock_broker_set_up(m->mc, broker) : rd_kafka_mock_broker_set_down(m->mc, broker);
    if (!e && rtt_ms >= 0) e = rd_kafka_mock_broker_set_rtt(m->mc, broker, rtt_ms);
    if (e) return QA_FAIL(QA_ERR_KAFKA, "mock broker %d: %s", broker, rd_kafka_err2str(e));
    return QA_OK;
}

void qa_bus_default_file(char *out, size_t size) {
    const char *env = getenv("QA_BUS_FILE"), *run = getenv("XDG_RUNTIME_DIR");
    if (env && *env) snprintf(out, size, "%s", env);
    else if (run && *run) snprintf(out, size, "%s/quantumalpha-bus", run);
    else snprintf(out, size, "/tmp/quantumalpha-bus-%ld", (long)getuid());
}

qa_status qa_bus_mock_find_pid(const char *file, char *out, size_t size, long *pid_out) {
    char path[QA_PATH_MAX];
    if (file) snprintf(path, sizeof path, "%s", file);
    else qa_bus_default_file(path, sizeof path);
    FILE *f = fopen(path, "r");
    if (!f) return QA_FAIL(QA_ERR_NOT_FOUND, "no embedded cluster: %s does not exist", path);
    /* One line "<bootstrap> <pid>", as cmd_run writes it. */
    char line[640] = "";
    int got = fgets(line, sizeof line, f) != NULL;
    (void)fclose(f); /* read-only stream: a close error loses nothing */
    const char *b = line + strspn(line, " \t");
    size_t blen = strcspn(b, " \t\r\n");
    char *end = NULL;
    errno = 0;
    long pid = blen ? strtol(b + blen, &end, 10) : 0;
    int ok = got && blen > 0 && blen < 512 && end != b + blen && errno == 0 && pid > 0 &&
             end[strspn(end, " \t\r\n")] == '\0';
    if (!ok) return QA_FAIL(QA_ERR_FORMAT, "%s: expected 'bootstrap pid'", path);
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return QA_FAIL(QA_ERR_NOT_FOUND, "no embedded cluster: process %ld of %s is gone", pid, path);
    snprintf(out, size, "%.*s", (int)blen, b);
    if (pid_out) *pid_out = pid;
    return QA_OK;
}

qa_status qa_bus_mock_find(const char *file, char *out, size_t size) {
    return qa_bus_mock_find_pid(file, out, size, NULL);
}

qa_status qa_bus_mock_ensure(qa_bus_cfg *cfg, const char *exe, int *started) {
    *started = 0;
    if (cfg->bootstrap[0]) return QA_OK;
    if (qa_bus_mock_find(NULL, cfg->bootstrap, sizeof cfg->bootstrap) == QA_OK) return QA_OK;
    char file[QA_PATH_MAX], log[QA_PATH_MAX + 8];
    qa_bus_default_file(file, sizeof file);
    snprintf(log, sizeof log, "%s.log", file);
    pid_t pid = fork();
    if (pid < 0) return QA_FAIL(QA_ERR_IO, "fork for the embedded cluster: %s", strerror(errno));
    if (pid == 0) {
        /* Double fork: the cluster outlives this command and is nobody's zombie. */
        if (setsid() < 0 || fork() != 0) _exit(0);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644), nul = open("/dev/null", O_RDONLY);
        if (fd >= 0) dup2(fd, 1), dup2(fd, 2);
        if (nul >= 0) dup2(nul, 0);
        char parts[16];
        snprintf(parts, sizeof parts, "%d", cfg->partitions);
        execl(exe, exe, "bus", "run", "--partitions", parts, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    for (int i = 0; i < 150; i++) {
        if (qa_bus_mock_find(NULL, cfg->bootstrap, sizeof cfg->bootstrap) == QA_OK) {
            *started = 1;
            qa_log_info("started the embedded Kafka cluster at %s (qa bus; stop it with 'qa bus stop')", cfg->bootstrap);
            return QA_OK;
        }
        nanosleep(&(struct timespec){0, 100000000L}, NULL);
    }
    return QA_FAIL(QA_ERR_KAFKA, "the embedded cluster did not start within 15 s (log: %s)", log);
}
