/* The execution stage's speed (docs/execution.md, docs/performance.md "Execution"):
 *
 *  1. signal -> order on the wire, in process: a timestamp's position sizes go into the
 *     stage (qa_exec_step) exactly as qa live calls it, with the order database's and the
 *     paper venue's SQLite durability on (synchronous=FULL, WAL); the clock runs from the
 *     step's start to each NewOrder reaching the broker adapter (a timing wrapper around
 *     the paper broker). Every timestamp every symbol's target flips sign, so each symbol
 *     supersedes its parent (a cancel) and sends a new parent's child: the stage's
 *     busiest case. Reported: per-order latency p50/p99 to the wire, per-timestamp step
 *     time p50/p99, and the sustained rate of order events (children submitted +
 *     cancels + parents) through the OMS.
 *  2. the same with synchronous=NORMAL for both databases (WAL: commits survive a killed
 *     process, not a power loss): the stage's own work without the fsyncs.
 * Model of work per timestamp of S symbols: S parents created and checked, S children
 * checked and submitted, S cancels; 2 order-database transactions (the first, fsync'd,
 * before any request leaves) and 1 + 2S venue transactions (a bar advance, one per
 * request).
 *  3. FIX round trip on loopback: the FIX broker adapter (live/fixbroker.h) against the
 *     paper exchange (live/exchange.h) on a thread of this process, both QuickFIX sessions
 *     over TCP on 127.0.0.1: NewOrderSingle -> ExecutionReport (submit) and
 *     OrderCancelRequest -> ExecutionReport (cancel), the exchange's venue durable.
 * Usage: bench_exec [--quick | --profile] */
#include <math.h>     /* exp */
#include <pthread.h>  /* the exchange's thread */
#include <signal.h>   /* sig_atomic_t */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>   /* mkdtemp */

#include "bench.h"
#include "bench_bars.h"      /* synthetic bars */
#include "common/fs.h"       /* qa_fs_mkdirs */
#include "common/philox.h"   /* synthetic prices */
#include "datasets/store.h" /* the exchange's market file */
#include "live/broker.h"
#include "live/exchange.h"
#include "live/exec.h"
#include "live/fixbroker.h"

/* ---- a timing wrapper around the paper broker ------------------------------------------------------- */

typedef struct timed {
    qa_broker_t *inner;
    uint64_t t0;      /* the step's start */
    uint64_t venue;   /* ns spent inside the paper venue since t0 (the counterparty's work) */
    double *lat;      /* submit latencies (s): from the step's start */
    double *own;      /* the same less the time inside the venue: the stage's own */
    size_t n, cap;
} timed;

/* Times a call into the paper venue: in process, its matching and its own SQLite commits
 * run on our clock, but they are the exchange's work, not the stage's. */
#define VENUE_CALL(t, call)                     \
    do {                                        \
        uint64_t v0_ = qa_time_ns();            \
        qa_status st_ = (call);                 \
        (t)->venue += qa_time_ns() - v0_;       \
        return st_;                             \
    } while (0)

static qa_status t_submit(void *impl, const qa_venue_order *o, qa_venue_event *r) {
    timed *t = impl;
    if (t->n < t->cap) { /* on the wire: the adapter has it */
        uint64_t now = qa_time_ns();
        t->lat[t->n] = (double)(now - t->t0) * 1e-9;
        t->own[t->n++] = (double)(now - t->t0 - t->venue) * 1e-9;
    }
    VENUE_CALL(t, t->inner->ops->submit(t->inner->impl, o, r));
}
static qa_status t_cancel(void *impl, const char *id, int64_t time, qa_venue_event *r) {
    timed *t = impl;
    VENUE_CALL(t, t->inner->ops->cancel(t->inner->impl, id, time, r));
}
static qa_status t_replace(void *impl, const char *orig, const qa_venue_order *o, qa_venue_event *r) {
    timed *t = impl;
    VENUE_CALL(t, t->inner->ops->replace(t->inner->impl, orig, o, r));
}
static qa_status t_advance(void *impl, int64_t from, int64_t time, size_t n, const char *const *s, const qa_order_bar *b,
                           qa_venue_event **ev, size_t *nev) {
    timed *t = impl;
    VENUE_CALL(t, t->inner->ops->advance(t->inner->impl, from, time, n, s, b, ev, nev));
}
static qa_status t_orders(void *impl, int open_only, qa_venue_event **out, size_t *n) {
    timed *t = impl;
    return t->inner->ops->orders(t->inner->impl, open_only, out, n);
}
static qa_status t_fills(void *impl, const char *id, qa_venue_event **out, size_t *n) {
    timed *t = impl;
    return t->inner->ops->fills(t->inner->impl, id, out, n);
}
static qa_status t_clock(void *impl, int64_t *time) {
    timed *t = impl;
    return t->inner->ops->clock(t->inner->impl, time);
}
static void t_close(void *impl) {
    timed *t = impl;
    qa_broker_close(t->inner);
}
static const qa_broker_ops timed_ops = {"timed-paper", t_submit, t_cancel, t_replace, t_advance,
                                        t_orders,      t_fills,  t_clock,  t_close};

static qa_status count_emit(void *ctx, int topic, size_t mark, const qa_msg *m) {
    (void)topic, (void)mark, (void)m;
    ++*(long long *)ctx;
    return QA_OK;
}

static qa_msg_bar synth_bar(size_t s, size_t t, double *last) { return qa_bench_synth_bar(11, s, t, last, 1e6, 9e6); }

static int bench(const char *root, const char *fs, size_t S, size_t T, int durable) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/S%zu_%d", root, S, durable);
    char **names = calloc(S, sizeof *names);
    for (size_t s = 0; s < S; s++) names[s] = malloc(16), snprintf(names[s], 16, "S%zu", s);
    qa_exec_cfg cfg;
    qa_exec_cfg_default(&cfg);
    cfg.enabled = 1;
    cfg.algo.kind = QA_ALGO_IMMEDIATE;
    cfg.paper.participation = 0.0;
    cfg.paper.durable = durable;
    cfg.durable = durable;
    cfg.limits.duplicate_ids = 0; /* ids are unique by construction here; the guard's ring is measured in test_pretrade */
    cfg.reconcile_every = 1000000000;
    timed tw = {0};
    tw.cap = S * (T + T / 10 + 1);
    tw.lat = malloc(tw.cap * sizeof *tw.lat);
    tw.own = malloc(tw.cap * sizeof *tw.own);
    char vpath[600];
    snprintf(vpath, sizeof vpath, "%s/venue.db", dir);
    if (qa_fs_mkdirs(dir) != QA_OK || qa_broker_paper_open(vpath, &cfg.paper, &tw.inner) != QA_OK)
        return fprintf(stderr, "broker: %s\n", qa_err_msg()), 1;
    qa_broker_t *wrap = calloc(1, sizeof *wrap);
    wrap->ops = &timed_ops, wrap->impl = &tw;
    cfg.adapter = wrap;
    qa_exec_t *x = NULL;
    if (qa_exec_create(&cfg, dir, names, S, 1e9, &x) != QA_OK) return fprintf(stderr, "exec: %s\n", qa_err_msg()), 1;
    qa_msg_bar *bars = calloc(S, sizeof *bars);
    unsigned char *present = malloc(S);
    double *last = malloc(S * sizeof *last), *target = malloc(S * sizeof *target), *step = malloc(T * sizeof *step);
    uint64_t *sig = malloc(S * sizeof *sig);
    memset(present, 1, S);
    for (size_t s = 0; s < S; s++) last[s] = 100.0 + (double)s;
    long long msgs = 0;
    size_t warm = T / 10;
    uint64_t all0 = 0;
    for (size_t t = 0; t < T + warm; t++) {
        if (t == warm) tw.n = 0, msgs = 0, all0 = qa_time_ns();
        for (size_t s = 0; s < S; s++) {
            bars[s] = synth_bar(s, t, &last[s]);
            target[s] = (t % 2 ? 100.0 : -100.0) * (double)(1 + s % 3); /* flips every timestamp */
            sig[s] = ((uint64_t)t << 20) | s;
        }
        tw.t0 = qa_time_ns();
        tw.venue = 0;
        if (qa_exec_step(x, (int64_t)(t + 1) * 300000000000LL, bars, present, target, sig, QA_STATE_ACTIVE, count_emit,
                         NULL, NULL, &msgs) != QA_OK)
            return fprintf(stderr, "step: %s\n", qa_err_msg()), 1;
        if (t >= warm) step[t - warm] = qa_time_since(tw.t0);
    }
    double total = qa_time_since(all0);
    qa_exec_stats st;
    qa_exec_get_stats(x, &st);
    const size_t n = tw.n;
    double o50 = qa_bench_quantile(tw.lat, n, 0.5), o99 = qa_bench_quantile(tw.lat, n, 0.99);
    double w50 = qa_bench_quantile(tw.own, n, 0.5), w99 = qa_bench_quantile(tw.own, n, 0.99);
    double s50 = qa_bench_quantile(step, T, 0.5), s99 = qa_bench_quantile(step, T, 0.99);
    double events = (double)n * 3.0; /* per symbol and timestamp: a parent, its child, the old child's cancel */
    printf("exec %-5s S=%-3zu T=%zu sync %s: to the wire p50 %.1f us p99 %.1f us (the stage's own, less the venue's "
           "work: p50 %.1f us p99 %.1f us); step p50 %.2f ms p99 %.2f ms; %.0f orders/s (%.0f order events/s, %lld "
           "messages); %lld fills\n",
           fs, S, T, durable ? "FULL" : "NORMAL", o50 * 1e6, o99 * 1e6, w50 * 1e6, w99 * 1e6, s50 * 1e3, s99 * 1e3,
           (double)n / total, events / total, msgs, st.fills);
    char size[64];
    snprintf(size, sizeof size, "S=%zu,T=%zu,sync=%s,fs=%s", S, T, durable ? "full" : "normal", fs);
    printf("JSON {\"bench\":\"exec_oms\",\"backend\":\"cpu-1t\",\"size\":\"%s\",\"unit\":\"orders\",\"items_per_s\":%.6g,"
           "\"order_events_per_s\":%.6g,\"wire_p50_us\":%.3f,\"wire_p99_us\":%.3f,\"own_p50_us\":%.3f,"
           "\"own_p99_us\":%.3f,\"step_p50_ms\":%.4f,\"step_p99_ms\":%.4f,\"peak_rss_mb\":%.1f}\n",
           size, (double)n / total, events / total, o50 * 1e6, o99 * 1e6, w50 * 1e6, w99 * 1e6, s50 * 1e3, s99 * 1e3,
           (double)qa_peak_rss_bytes() / 1048576.0);
    qa_exec_free(x);

    for (size_t s = 0; s < S; s++) free(names[s]);
    free(names), free(bars), free(present), free(last), free(target), free(step), free(sig), free(tw.lat), free(tw.own);
    return 0;
}

/* ---- 3. FIX round trip ------------------------------------------------------------------------------------- */

static qa_status one_symbol_file(const char *path) {
    qa_store_meta meta;
    qa_bench_meta_5min(&meta);
    const char *names[1] = {"S0"};
    int64_t time[4];
    double panel[5 * 4], last = 100.0;
    for (size_t t = 0; t < 4; t++) {
        time[t] = 1769437800000000000LL + (int64_t)t * 300000000000LL;
        qa_msg_bar b = synth_bar(0, t, &last);
        const double f[5] = {b.open, b.high, b.low, b.close, b.volume};
        for (int k = 0; k < 5; k++) panel[k * 4 + (int)t] = f[k];
    }
    qa_store_t *st = NULL;
    qa_status rc = qa_store_create(path, NULL, &meta, 1, names, 4, time, &st);
    for (int k = 0; k < 5 && rc == QA_OK; k++) rc = qa_store_write(st, qa_bar_field_path((qa_bar_field)k), 0, 1, 0, 4, panel + k * 4);
    if (rc == QA_OK) rc = qa_store_commit(st);
    else qa_store_close(st);
    return rc;
}

typedef struct ex_thread {
    qa_exchange_t *x;
    volatile sig_atomic_t stop;
} ex_thread;

static void *run_exchange(void *p) {
    ex_thread *e = p;
    qa_exchange_run(e->x, &e->stop);
    return NULL;
}

static int bench_fix(const char *root, size_t N, int durable) {
    char file[400];
    snprintf(file, sizeof file, "%s/fix.h5", root);
    if (one_symbol_file(file) != QA_OK) return fprintf(stderr, "fix: %s\n", qa_err_msg()), 1;
    qa_exchange_cfg ec;
    qa_exchange_cfg_default(&ec);
    snprintf(ec.data, sizeof ec.data, "%s", file);
    snprintf(ec.state_dir, sizeof ec.state_dir, "%s/exchange%d", root, durable);
    ec.venue.durable = durable;
    ex_thread et = {NULL, 0};
    if (qa_exchange_open(&ec, &et.x) != QA_OK) return fprintf(stderr, "exchange: %s\n", qa_err_msg()), 1;
    pthread_t th;
    pthread_create(&th, NULL, run_exchange, &et);
    qa_fixbroker_cfg fc;
    qa_fixbroker_cfg_default(&fc);
    fc.port = qa_exchange_port(et.x);
    snprintf(fc.store_dir, sizeof fc.store_dir, "%s/client%d", root, durable);
    qa_broker_t *b = NULL;
    if (qa_fixbroker_open(&fc, &b) != QA_OK) return fprintf(stderr, "fix broker: %s\n", qa_err_msg()), 1;
    double *sub = malloc(N * sizeof *sub), *can = malloc(N * sizeof *can);
    int rc = 0;
    for (size_t i = 0; i < N + N / 10 && rc == 0; i++) { /* the first tenth warms up */
        qa_venue_order o;
        memset(&o, 0, sizeof o);
        snprintf(o.clordid, sizeof o.clordid, "B-%zu", i);
        snprintf(o.symbol, sizeof o.symbol, "S0");
        o.side = 1, o.qty = 100, o.limit = 1, o.price = 1.0; /* far below the market: it rests */
        o.time = 1769437800000000000LL;
        qa_venue_event r;
        uint64_t t0 = qa_time_ns();
        if (b->ops->submit(b->impl, &o, &r) != QA_OK || r.kind != QA_VENUE_EV_NEW) rc = 1;
        double ds = qa_time_since(t0);
        t0 = qa_time_ns();
        if (rc == 0 && (b->ops->cancel(b->impl, o.clordid, o.time, &r) != QA_OK || r.kind != QA_VENUE_EV_CANCELLED)) rc = 1;
        double dc = qa_time_since(t0);
        if (i >= N / 10) sub[i - N / 10] = ds, can[i - N / 10] = dc;
    }
    if (rc) fprintf(stderr, "fix round trip: %s\n", qa_err_msg());
    else {
        double s50 = qa_bench_quantile(sub, N, 0.5), s99 = qa_bench_quantile(sub, N, 0.99);
        double c50 = qa_bench_quantile(can, N, 0.5), c99 = qa_bench_quantile(can, N, 0.99);
        printf("FIX 4.4 round trip on loopback (%zu orders, venue sync %s): submit D->8 p50 %.1f us p99 %.1f us; "
               "cancel F->8 p50 %.1f us p99 %.1f us\n", N, durable ? "FULL" : "NORMAL", s50 * 1e6, s99 * 1e6, c50 * 1e6,
               c99 * 1e6);
        printf("JSON {\"bench\":\"exec_fix_rtt\",\"backend\":\"loopback\",\"size\":\"N=%zu,venue=%s\",\"unit\":\"round trips\","
               "\"items_per_s\":%.6g,\"submit_p50_us\":%.3f,\"submit_p99_us\":%.3f,\"cancel_p50_us\":%.3f,"
               "\"cancel_p99_us\":%.3f,\"peak_rss_mb\":%.1f}\n",
               N, durable ? "full" : "normal", 1.0 / s50, s50 * 1e6, s99 * 1e6, c50 * 1e6, c99 * 1e6,
               (double)qa_peak_rss_bytes() / 1048576.0);
    }
    qa_broker_close(b);
    et.stop = 1;
    pthread_join(th, NULL);
    qa_exchange_close(et.x);
    free(sub), free(can);
    return rc;
}

int main(int argc, char **argv) {
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    /* --profile: only the in-process goal's case (one symbol, tmpfs, NORMAL), long enough
     * for perf to sample the stage's own work */
    int profile = argc > 1 && strcmp(argv[1], "--profile") == 0;
    char disk[] = "/tmp/qa_bench_exec_XXXXXX", shm[] = "/dev/shm/qa_bench_exec_XXXXXX";
    if (!mkdtemp(disk)) return perror("mkdtemp"), 1;
    int have_shm = mkdtemp(shm) != NULL; /* memory-backed: the stage's own cost without the disk */
    printf("# execution stage: signal -> order on the wire with SQLite durability (docs/execution.md)\n");
    int rc = 0;
    if (profile) {
        rc = bench(have_shm ? shm : disk, have_shm ? "tmpfs" : "disk", 1, 20000, 0);
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", disk, shm);
        if (system(cmd) != 0) fprintf(stderr, "bench_exec: could not remove %s\n", disk);
        return rc;
    }
    const size_t T = quick ? 40 : 400;
    for (int durable = 1; durable >= 0; durable--) {
        rc |= bench(disk, "disk", 1, T, durable);
        rc |= bench(disk, "disk", 10, T, durable);
        rc |= bench(disk, "disk", 50, quick ? 20 : 200, durable);
    }
    rc |= bench_fix(disk, quick ? 100 : 2000, 1);
    rc |= bench_fix(disk, quick ? 100 : 2000, 0);
    if (have_shm) {
        rc |= bench(shm, "tmpfs", 1, T, 0);
        rc |= bench(shm, "tmpfs", 10, T, 0);
        rc |= bench(shm, "tmpfs", 50, quick ? 20 : 200, 0);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'%s%s", disk, have_shm ? " " : "", have_shm ? shm : "");
    if (system(cmd) != 0) fprintf(stderr, "bench_exec: could not remove %s\n", disk);
    return rc;
}
