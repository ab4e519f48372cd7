/* History replay onto market.data (live/replay.h). */
#include "live/replay.h"

#include <math.h>    /* isfinite */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* malloc, free */
#include <string.h>  /* memset */
#include <time.h>    /* nanosleep */

#include "common/log.h"      /* progress */
#include "common/timer.h"    /* pacing */
#include "datasets/store.h"  /* the market file */
#include "live/msg.h"        /* the bar and watermark schemas */

/* Sleeps until the monotonic clock reads `when_ns`. */
static void sleep_until(uint64_t when_ns) {
    uint64_t now = qa_time_ns();
    if (when_ns <= now) return;
    uint64_t d = when_ns - now;
    nanosleep(&(struct timespec){(time_t)(d / 1000000000u), (long)(d % 1000000000u)}, NULL);
}

qa_status qa_replay_run(const qa_bus_cfg *cfg, const qa_replay_opts *o, qa_replay_report *rep) {
    qa_status st = QA_OK;
    qa_store_t *store = NULL;
    qa_bus_producer_t *prod = NULL;
    qa_bus_consumer_t *meta = NULL;
    double *bars = NULL;
    memset(rep, 0, sizeof *rep);
    char topic[256];
    qa_bus_topic(cfg, QA_TOPIC_MARKET, topic, sizeof topic);

    QA_TRY(qa_store_open(o->data, NULL, QA_STORE_READ, &store));
    const size_t S = qa_store_nsym(store), T = qa_store_ntime(store);
    const int64_t *time = qa_store_time(store);
    const qa_store_meta *sm = qa_store_get_meta(store);
    size_t t0 = 0, t1 = T;
    while (t0 < T && time[t0] < o->start) t0++;
    while (t1 > t0 && time[t1 - 1] >= o->end) t1--;
    if (o->max_times > 0 && t1 - t0 > (size_t)o->max_times) t1 = t0 + (size_t)o->max_times;
    if (t0 == t1) QA_TRY_FAIL(QA_ERR_INVALID_ARG, "%s: no timestamp in the requested range", o->data);
    for (size_t s = 0; s < S; s++)
        if (strlen(qa_store_symbol(store, s)) > QA_MSG_SYMBOL_LEN - 1)
            QA_TRY_FAIL(QA_ERR_FORMAT, "%s: symbol '%s' is longer than the %d characters of a message", o->data,
                        qa_store_symbol(store, s), QA_MSG_SYMBOL_LEN - 1);

    /* The five fields of the whole range: S x n x 5, read once (the shipped 5-minute
     * file is 50 x 3.7k bars: a few MB). */
    const size_t n = t1 - t0;
    bars = malloc(S * n * QA_BAR_FIELD_COUNT * sizeof *bars + 1);
    if (!bars) QA_TRY_FAIL(QA_ERR_NOMEM, "replay buffer of %zu x %zu bars", S, n);
    for (int f = 0; f < QA_BAR_FIELD_COUNT; f++)
        QA_TRY(qa_store_read(store, qa_bar_field_path((qa_bar_field)f), 0, S, t0, n, bars + (size_t)f * S * n));

    /* Throughput over latency for a replay: bigger batches (the caller's properties,
     * applied after these, still win). */
    qa_bus_cfg pc = *cfg;
    if (pc.nprops + 2 <= QA_BUS_MAX_PROPS) {
        memmove(pc.props[2], pc.props[0], (size_t)pc.nprops * sizeof pc.props[0]);
        snprintf(pc.props[0], sizeof pc.props[0], "linger.ms=5");
        snprintf(pc.props[1], sizeof pc.props[1], "batch.num.messages=10000");
        pc.nprops += 2;
    }
    QA_TRY(qa_bus_producer_create(&pc, &prod));
    QA_TRY(qa_bus_consumer_create(cfg, NULL, &meta));
    int parts = 0;
    QA_TRY(qa_bus_partitions(meta, topic, 10000, &parts));

    uint8_t buf[QA_MSG_MAX];
    size_t len = 0;
    const uint64_t begin = qa_time_ns();
    uint64_t last_log = begin;
    for (size_t k = 0; k < n; k++) {
        if (o->speed > 0)
            sleep_until(begin + (uint64_t)((double)k * (double)sm->bar_seconds * 1e9 / o->speed));
        qa_msg m = {0};
        m.time = time[t0 + k];
        m.kind = QA_MSG_BAR;
        for (size_t s = 0; s < S; s++) {
            const double *b = bars + s * n + k; /* field f at + f*S*n */
            if (!isfinite(b[(size_t)QA_BAR_CLOSE * S * n])) continue; /* no bar */
            snprintf(m.symbol, sizeof m.symbol, "%s", qa_store_symbol(store, s));
            m.id = (uint64_t)(t0 + k) * S + s;
            m.u.bar = (qa_msg_bar){b[0], b[S * n], b[2 * S * n], b[3 * S * n], b[4 * S * n], (int32_t)sm->bar_seconds};
            QA_TRY(qa_msg_encode(&m, buf, sizeof buf, &len));
            QA_TRY(qa_bus_produce(prod, topic, -1, m.symbol, strlen(m.symbol), buf, len));
            rep->bars++;
        }
        qa_msg w = {.kind = QA_MSG_WATERMARK, .time = time[t0 + k]};
        w.u.wm.partitions = (uint32_t)parts;
        for (int p = 0; p < parts; p++) {
            w.u.wm.partition = (uint32_t)p;
            QA_TRY(qa_msg_encode(&w, buf, sizeof buf, &len));
            QA_TRY(qa_bus_produce(prod, topic, p, NULL, 0, buf, len));
            rep->watermarks++;
        }
        rep->times++;
        qa_bus_poll(prod);
        if (o->progress && qa_time_since(last_log) > 2.0) {
            last_log = qa_time_ns();
            qa_log_info("replay: %zu/%zu timestamps, %zu bars (%.0f msg/s)", k + 1, n, rep->bars,
                        (double)(rep->bars + rep->watermarks) / qa_time_since(begin));
        }
    }
    /* Done means acknowledged by the cluster, not queued here. */
    QA_TRY(qa_bus_flush(prod, 60000));
    rep->seconds = qa_time_since(begin);
    rep->msgs_per_s = rep->seconds > 0 ? (double)(rep->bars + rep->watermarks) / rep->seconds : 0.0;
cleanup:
    qa_bus_consumer_free(meta);
    qa_bus_producer_free(prod);
    free(bars);
    qa_store_close(store);
    return st;
}
