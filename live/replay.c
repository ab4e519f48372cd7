/* History replay onto market.data (live/replay.h). */
#include "live/replay.h"

#include <math.h>    /* isfinite */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* malloc, free */
#include <string.h>  /* memset */
#include <time.h>    /* nanosleep */

#include "common/log.h"         /* progress */
#include "common/timer.h"       /* pacing */
#include "datasets/altalign.h"  /* when documents become available */
#include "datasets/altdocs.h"   /* the document store */
#include "datasets/store.h"     /* the market file */
#include "live/msg.h"        /* the bar and watermark schemas */

/* Sleeps until the monotonic clock reads `when_ns`. */
static void sleep_until(uint64_t when_ns) {
    uint64_t now = qa_time_ns();
    if (when_ns <= now) return;
    uint64_t d = when_ns - now;
    nanosleep(&(struct timespec){(time_t)(d / 1000000000u), (long)(d % 1000000000u)}, NULL);
}

/* A document to replay, with what its messages carry. */
typedef struct rdoc {
    int64_t avail, event, id;
    int basis;
    double sentiment;
    char source[16];
    char *text, *tickers; /* one allocation: text, NUL, tickers, NUL */
} rdoc;

typedef struct rdocs {
    rdoc *v;
    size_t n, cap;
    const qa_altclock *clock;
    int64_t lo, hi; /* availability range replayed */
    qa_status st;
} rdocs;

static int collect_doc(void *ctx, const qa_altdocs_row *r) {
    rdocs *c = ctx;
    int64_t avail = qa_altclock_available(c->clock, r->event_ns, r->basis);
    if (avail < c->lo || avail >= c->hi) return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 1024;
        rdoc *v = realloc(c->v, cap * sizeof *v);
        if (!v) goto nomem;
        c->v = v, c->cap = cap;
    }
    /* The scored text (a headline, else the body), cut at QA_MSG_DOC_TEXT bytes on a
     * UTF-8 character boundary. */
    const char *text = *r->title ? r->title : r->body;
    size_t tn = strlen(text), kn = strlen(r->tickers);
    if (tn > QA_MSG_DOC_TEXT) {
        tn = QA_MSG_DOC_TEXT;
        while (tn > 0 && ((unsigned char)text[tn] & 0xc0) == 0x80) tn--;
    }
    char *mem = malloc(tn + kn + 2);
    if (!mem) goto nomem;
    memcpy(mem, text, tn), mem[tn] = '\0';
    memcpy(mem + tn + 1, r->tickers, kn + 1);
    rdoc *d = &c->v[c->n++];
    *d = (rdoc){avail, r->event_ns, r->id, (int)r->basis, r->sentiment, {0}, mem, mem + tn + 1};
    snprintf(d->source, sizeof d->source, "%s", r->source);
    return 0;
nomem:
    c->st = QA_FAIL(QA_ERR_NOMEM, "documents to replay");
    return 1;
}

static int rdoc_cmp(const void *a, const void *b) {
    const rdoc *x = a, *y = b;
    if (x->avail != y->avail) return x->avail < y->avail ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* The documents whose availability falls in the replayed bars: from the close of the
 * bar before the first replayed one (one bar length before the first bar's close at the
 * start of the file, as `qa alt align` counts) to the last replayed bar's close. */
static qa_status load_docs(const qa_replay_opts *o, const qa_altclock *clock, const int64_t *time, size_t t0, size_t t1,
                           rdocs *out) {
    qa_altdocs_t *d = NULL;
    QA_TRY_RET(qa_altdocs_open(o->alt_db, 0, &d));
    out->clock = clock;
    out->lo = t0 > 0 ? qa_altclock_bar_close(clock, time[t0 - 1]) : qa_altclock_bar_close(clock, time[0]) - clock->bar_ns;
    out->hi = qa_altclock_bar_close(clock, time[t1 - 1]);
    /* A date-only document is available the next day: two days of event times before
     * the range cover it. */
    qa_status st = qa_altdocs_each(d, o->alt_source, out->lo - 2 * 86400000000000LL, out->hi, collect_doc, out);
    qa_altdocs_close(d);
    if (st == QA_OK) st = out->st;
    if (st == QA_OK && out->n > 1) qsort(out->v, out->n, sizeof *out->v, rdoc_cmp);
    return st;
}

static int str_cmp(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Sends document d once per ticker it is tagged with among the market file's symbols
 * (`known`: their ticker forms, sorted): a replay feeds the file's universe. */
static qa_status send_doc(qa_bus_producer_t *prod, const char *topic, const rdoc *d, char *const *known, size_t nknown,
                          uint8_t *buf, qa_replay_report *rep) {
    qa_msg m = {0};
    m.kind = QA_MSG_DOC;
    m.time = d->event;
    m.id = (uint64_t)d->id;
    m.u.doc = (qa_msg_doc){(uint32_t)d->basis, (uint32_t)strlen(d->text), d->sentiment, {0}, d->text};
    snprintf(m.u.doc.source, sizeof m.u.doc.source, "%s", d->source);
    for (const char *p = d->tickers; *p;) {
        size_t n = strcspn(p, " ");
        if (n > 0 && n < QA_MSG_SYMBOL_LEN) {
            memcpy(m.symbol, p, n), m.symbol[n] = '\0';
            const char *key = m.symbol;
            if (!bsearch(&key, known, nknown, sizeof *known, str_cmp)) {
                p += n + (p[n] == ' ');
                continue;
            }
            size_t len = 0;
            QA_TRY_RET(qa_msg_encode(&m, buf, QA_MSG_MAX, &len));
            QA_TRY_RET(qa_bus_produce(prod, topic, -1, m.symbol, n, buf, len));
            rep->docs++;
        }
        p += n + (p[n] == ' ');
    }
    return QA_OK;
}

/* One watermark for `time` on every partition of `topic`. */
static qa_status send_watermarks(qa_bus_producer_t *prod, const char *topic, int parts, int64_t time, uint8_t *buf,
                                 qa_replay_report *rep) {
    qa_msg w = {.kind = QA_MSG_WATERMARK, .time = time};
    w.u.wm.partitions = (uint32_t)parts;
    for (int p = 0; p < parts; p++) {
        size_t len = 0;
        w.u.wm.partition = (uint32_t)p;
        QA_TRY_RET(qa_msg_encode(&w, buf, QA_MSG_MAX, &len));
        QA_TRY_RET(qa_bus_produce(prod, topic, p, NULL, 0, buf, len));
        rep->watermarks++;
    }
    return QA_OK;
}

qa_status qa_replay_run(const qa_bus_cfg *cfg, const qa_replay_opts *o, qa_replay_report *rep) {
    qa_status st = QA_OK;
    qa_store_t *store = NULL;
    qa_bus_producer_t *prod = NULL;
    qa_bus_consumer_t *meta = NULL;
    double *bars = NULL;
    rdocs docs = {0};
    qa_bus_out *out = NULL;
    uint8_t *slots = NULL;
    int *part = NULL;
    char **known = NULL; /* the market file's symbols in ticker form, sorted */
    size_t nknown = 0;
    memset(rep, 0, sizeof *rep);
    char topic[256], topic_alt[256];
    qa_bus_topic(cfg, QA_TOPIC_MARKET, topic, sizeof topic);
    qa_bus_topic(cfg, QA_TOPIC_ALT, topic_alt, sizeof topic_alt);

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
    int parts = 0, alt_parts = 0;
    QA_TRY(qa_bus_partitions(meta, topic, 10000, &parts));
    qa_altclock clock;
    qa_altclock_init(sm, &clock);
    if (o->alt_db) {
        QA_TRY(load_docs(o, &clock, time, t0, t1, &docs));
        QA_TRY(qa_bus_partitions(meta, topic_alt, 10000, &alt_parts));
    }
    size_t next_doc = 0;
    known = calloc(S + 1, sizeof *known);
    if (!known) QA_TRY_FAIL(QA_ERR_NOMEM, "symbols");
    for (size_t s = 0; s < S && o->alt_db; s++) {
        char t[32];
        if (!qa_altdocs_ticker_norm(qa_store_symbol(store, s), t, sizeof t)) continue;
        if (!(known[nknown] = strdup(t))) QA_TRY_FAIL(QA_ERR_NOMEM, "symbols");
        nknown++;
    }
    qsort(known, nknown, sizeof *known, str_cmp);

    uint8_t buf[QA_MSG_MAX];
    size_t len = 0;
    /* A timestamp's bars go out as one batch: each symbol's partition and message slot
     * fixed once (a bar message is 88 bytes). */
    enum { SLOT = 128 };
    out = malloc((S + 1) * sizeof *out);
    slots = malloc((S + 1) * SLOT);
    part = malloc((S + 1) * sizeof *part);
    if (!out || !slots || !part) QA_TRY_FAIL(QA_ERR_NOMEM, "replay batch of %zu symbols", S);
    for (size_t s = 0; s < S; s++) {
        const char *name = qa_store_symbol(store, s);
        part[s] = qa_bus_partition_of(name, strlen(name), parts);
    }
    const uint64_t begin = qa_time_ns();
    uint64_t last_log = begin;
    for (size_t k = 0; k < n; k++) {
        if (o->speed > 0)
            sleep_until(begin + (uint64_t)((double)k * (double)sm->bar_seconds * 1e9 / o->speed));
        qa_msg m = {0};
        m.time = time[t0 + k];
        m.kind = QA_MSG_BAR;
        size_t nb = 0;
        for (size_t s = 0; s < S; s++) {
            const double *b = bars + s * n + k; /* field f at + f*S*n */
            if (!isfinite(b[(size_t)QA_BAR_CLOSE * S * n])) continue; /* no bar */
            const char *name = qa_store_symbol(store, s);
            const size_t kl = strlen(name);
            memcpy(m.symbol, name, kl + 1); /* checked above: shorter than the field */
            m.id = (uint64_t)(t0 + k) * S + s;
            m.u.bar = (qa_msg_bar){b[0], b[S * n], b[2 * S * n], b[3 * S * n], b[4 * S * n], (int32_t)sm->bar_seconds};
            uint8_t *slot = slots + nb * SLOT;
            QA_TRY(qa_msg_encode(&m, slot, SLOT, &len));
            out[nb] = (qa_bus_out){part[s], name, kl, slot, len};
            nb++;
        }
        QA_TRY(qa_bus_produce_batch(prod, topic, out, nb));
        rep->bars += nb;
        QA_TRY(send_watermarks(prod, topic, parts, time[t0 + k], buf, rep));
        if (o->alt_db) {
            const int64_t close = qa_altclock_bar_close(&clock, time[t0 + k]);
            for (; next_doc < docs.n && docs.v[next_doc].avail < close; next_doc++)
                QA_TRY(send_doc(prod, topic_alt, &docs.v[next_doc], known, nknown, buf, rep));
            QA_TRY(send_watermarks(prod, topic_alt, alt_parts, time[t0 + k], buf, rep));
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
    rep->msgs_per_s = rep->seconds > 0 ? (double)(rep->bars + rep->docs + rep->watermarks) / rep->seconds : 0.0;
cleanup:
    for (size_t i = 0; known && i < nknown; i++) free(known[i]);
    free(known);
    for (size_t i = 0; i < docs.n; i++) free(docs.v[i].text);
    free(docs.v);
    qa_bus_consumer_free(meta);
    qa_bus_producer_free(prod);
    free(bars);
    free(out);
    free(slots);
    free(part);
    qa_store_close(store);
    return st;
}
