/* Registry events onto registry.events, exactly once (live/regbridge.h). */
#include "live/regbridge.h"

#include <stdio.h>   /* snprintf */
#include <string.h>  /* strlen */
#include <time.h>    /* nanosleep */

#include "live/msg.h"          /* the registry event schema */
#include "registry/registry.h" /* the event log */

typedef struct bridge {
    qa_bus_producer_t *prod;
    char topic[256];
    int64_t done; /* highest sequence on the topic */
    long long sent;
} bridge;

static qa_status on_tail(void *ctx, const qa_bus_record *r) {
    bridge *b = ctx;
    qa_msg m;
    if (qa_msg_decode(r->payload, r->len, &m) == QA_OK && m.kind == QA_MSG_REGISTRY && m.u.reg.seq > b->done)
        b->done = m.u.reg.seq;
    return QA_OK;
}

static qa_status on_event(const qa_registry_event *e, void *ctx) {
    bridge *b = ctx;
    qa_msg m = {.kind = QA_MSG_REGISTRY, .id = (uint64_t)e->seq};
    m.u.reg.seq = e->seq;
    m.u.reg.version = e->version;
    snprintf(m.u.reg.kind, sizeof m.u.reg.kind, "%s", e->kind);
    snprintf(m.u.reg.model, sizeof m.u.reg.model, "%s", e->model);
    snprintf(m.u.reg.alias, sizeof m.u.reg.alias, "%s", e->alias);
    snprintf(m.u.reg.who, sizeof m.u.reg.who, "%s", e->who);
    uint8_t buf[QA_MSG_MAX];
    size_t len = 0;
    QA_TRY_RET(qa_msg_encode(&m, buf, sizeof buf, &len));
    QA_TRY_RET(qa_bus_produce(b->prod, b->topic, -1, e->model, strlen(e->model), buf, len));
    /* One at a time: the highest sequence on the topic is then a prefix boundary. */
    QA_TRY_RET(qa_bus_flush(b->prod, 30000));
    b->done = e->seq;
    b->sent++;
    return QA_OK;
}

qa_status qa_regbridge_run(const qa_bus_cfg *cfg, const char *reg_dir, int follow, int interval_ms,
                           volatile sig_atomic_t *stop, long long *published) {
    bridge b = {NULL, "", 0, 0};
    qa_registry_t *reg = NULL;
    qa_bus_consumer_t *c = NULL;
    qa_status st = QA_OK;
    qa_bus_topic(cfg, QA_TOPIC_REGISTRY, b.topic, sizeof b.topic);
    QA_TRY(qa_registry_open(reg_dir, 0, &reg));
    QA_TRY(qa_bus_producer_create(cfg, &b.prod));
    QA_TRY(qa_bus_consumer_create(cfg, NULL, &c));
    int parts = 0;
    QA_TRY(qa_bus_partitions(c, b.topic, 10000, &parts));
    for (int p = 0; p < parts; p++) {
        int64_t lo, hi;
        QA_TRY(qa_bus_watermarks(c, b.topic, p, 10000, &lo, &hi));
        if (hi > lo) QA_TRY(qa_bus_read_range(c, b.topic, p, hi - 1, hi, 10000, on_tail, &b));
    }
    for (;;) {
        int64_t last = 0;
        QA_TRY(qa_registry_last_seq(reg, &last));
        if (last > b.done) QA_TRY(qa_registry_events(reg, b.done, 0, on_event, &b));
        if (!follow || (stop && *stop)) break;
        nanosleep(&(struct timespec){interval_ms / 1000, (long)(interval_ms % 1000) * 1000000L}, NULL);
    }
cleanup:
    *published = b.sent;
    qa_bus_consumer_free(c);
    qa_bus_producer_free(b.prod);
    qa_registry_close(reg);
    return st;
}
