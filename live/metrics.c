/* The metrics registry: families of series behind a lock for registration and rendering,
 * values in atomics for the hot path. Doubles live in atomic uint64 bit patterns; adding to
 * one is a compare-and-swap loop. Relaxed ordering suffices because no other data is
 * published through a metric, and render derives _count from the buckets it read. */
#include "live/metrics.h"

#include <assert.h>     /* static_assert on the kind table */
#include <math.h>       /* isnan, isinf, isfinite */
#include <pthread.h>    /* pthread_mutex_t: registration against rendering */
#include <stdatomic.h>  /* the lock-free values */
#include <stdio.h>      /* snprintf */
#include <stdlib.h>     /* malloc, free, strtod */
#include <string.h>     /* memcpy, strcmp, strlen, strerror */

#include "common/strbuf.h"

enum kind { KIND_COUNTER, KIND_GAUGE, KIND_HISTOGRAM, KIND_COUNT };
static const char *const kind_names[] = {"counter", "gauge", "histogram"}; /* the # TYPE words */
static_assert(sizeof kind_names / sizeof kind_names[0] == KIND_COUNT, "one name per kind");

struct family;
/* One name + label set; one allocation holding the struct, buckets, bounds and labels. */
struct series {
    struct family *fam;
    struct series *next;
    const char *labels;        /* "" when none */
    _Atomic uint64_t a;        /* counter: integer total; gauge: value bits; histogram: _sum bits */
    _Atomic uint64_t b;        /* counter: fractional total bits */
    size_t nb;                 /* histogram: number of finite bounds */
    const double *bounds;      /* nb upper bounds, increasing */
    _Atomic uint64_t *buckets; /* nb + 1 per-bucket (not cumulative) counts; the last is +Inf */
};
struct qa_metrics_counter { struct series s; };
struct qa_metrics_gauge { struct series s; };
struct qa_metrics_histogram { struct series s; };

struct family {
    struct family *next;
    enum kind kind;
    const char *name, *help; /* stored after the struct */
    struct series *first, *last;
};

struct qa_metrics {
    pthread_mutex_t lock; /* guards the lists; a default mutex on a live object cannot fail */
    struct family *first, *last;
};

static uint64_t to_bits(double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static double from_bits(uint64_t u) {
    double x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static void add_double(_Atomic uint64_t *a, double x) {
    uint64_t old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, to_bits(from_bits(old) + x),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

qa_status qa_metrics_create(qa_metrics_t **out) {
    if (!out) return QA_FAIL(QA_ERR_INVALID_ARG, "qa_metrics_create: out is NULL");
    qa_metrics_t *m = calloc(1, sizeof *m);
    if (!m) return QA_FAIL(QA_ERR_NOMEM, "metrics registry");
    int rc = pthread_mutex_init(&m->lock, NULL);
    if (rc != 0) {
        free(m);
        return QA_FAIL(QA_ERR_STATE, "pthread_mutex_init: %s", strerror(rc));
    }
    *out = m;
    return QA_OK;
}

void qa_metrics_free(qa_metrics_t *m) {
    if (!m) return;
    for (struct family *f = m->first, *fn; f; f = fn) {
        fn = f->next;
        for (struct series *s = f->first, *sn; s; s = sn) {
            sn = s->next;
            free(s);
        }
        free(f);
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static int name_char(char c, int first, int colon) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
           (!first && c >= '0' && c <= '9');
}

/* Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*, starting with qa_, counters ending in _total. */
static qa_status check_name(const char *name, enum kind kind) {
    if (!name) return QA_FAIL(QA_ERR_INVALID_ARG, "metric name is NULL");
    for (const char *p = name; *p; p++)
        if (!name_char(*p, p == name, 1))
            return QA_FAIL(QA_ERR_INVALID_ARG, "metric name '%s' is not [a-zA-Z_:][a-zA-Z0-9_:]*", name);
    if (strncmp(name, "qa_", 3) != 0)
        return QA_FAIL(QA_ERR_INVALID_ARG, "metric name '%s' does not start with qa_", name);
    size_t n = strlen(name);
    if (kind == KIND_COUNTER && (n < 9 || strcmp(name + n - 6, "_total") != 0))
        return QA_FAIL(QA_ERR_INVALID_ARG, "counter name '%s' does not end in _total", name);
    return QA_OK;
}

/* A label set name="value"(,name="value")*; names [a-zA-Z_][a-zA-Z0-9_]* not starting with
 * __ (reserved); values with the escapes \\ \" \n only. Histograms own the `le` label. */
static int labels_ok(const char *p, enum kind kind) {
    for (;;) {
        const char *n = p;
        while (name_char(*p, p == n, 0)) p++;
        size_t nlen = (size_t)(p - n);
        if (nlen == 0 || (nlen >= 2 && n[0] == '_' && n[1] == '_')) return 0;
        if (kind == KIND_HISTOGRAM && nlen == 2 && n[0] == 'l' && n[1] == 'e') return 0;
        if (p[0] != '=' || p[1] != '"') return 0;
        for (p += 2; *p != '"'; p++) {
            if (!*p || *p == '\n') return 0;
            if (*p == '\\' && *++p != '\\' && *p != '"' && *p != 'n') return 0;
        }
        if (*++p == '\0') return 1;
        if (*p++ != ',') return 0;
    }
}

static qa_status add_series(qa_metrics_t *m, enum kind kind, const char *name, const char *help,
                            const char *labels, const double *bounds, size_t nb, struct series **out) {
    if (!m || !out) return QA_FAIL(QA_ERR_INVALID_ARG, "metrics registration: registry or out is NULL");
    QA_TRY_RET(check_name(name, kind));
    if (!help) return QA_FAIL(QA_ERR_INVALID_ARG, "metric %s has no help text", name);
    if (!labels) labels = "";
    if (labels[0] && !labels_ok(labels, kind))
        return QA_FAIL(QA_ERR_INVALID_ARG, "label set '%s' of %s is not name=\"value\"[,...] with "
                       "valid names%s", labels, name, kind == KIND_HISTOGRAM ? " other than le" : "");
    if (kind == KIND_HISTOGRAM) {
        if (!bounds || nb == 0) return QA_FAIL(QA_ERR_INVALID_ARG, "histogram %s has no buckets", name);
        for (size_t i = 0; i < nb; i++)
            if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
                return QA_FAIL(QA_ERR_INVALID_ARG, "histogram %s: bucket bound %zu (%g) is not finite "
                               "and above the previous one", name, i, bounds[i]);
    }
    /* one block: the struct, then 8-byte buckets and bounds (the struct is 8-byte aligned),
     * then the labels; filled before the lock, linked under it */
    size_t llen = strlen(labels) + 1, nbk = kind == KIND_HISTOGRAM ? nb + 1 : 0;
    struct series *s = malloc(sizeof *s + nbk * sizeof s->buckets[0] + nb * sizeof(double) + llen);
    if (!s) return QA_FAIL(QA_ERR_NOMEM, "metric %s", name);
    s->next = NULL, s->nb = nb;
    s->buckets = (_Atomic uint64_t *)(s + 1);
    double *sb = (double *)(s->buckets + nbk);
    if (nb) memcpy(sb, bounds, nb * sizeof *sb);
    s->bounds = sb;
    s->labels = memcpy((char *)(sb + nb), labels, llen);
    atomic_init(&s->a, kind == KIND_COUNTER ? 0 : to_bits(0.0));
    atomic_init(&s->b, to_bits(0.0));
    for (size_t i = 0; i < nbk; i++) atomic_init(&s->buckets[i], 0);
    qa_status st = QA_OK;
    pthread_mutex_lock(&m->lock);
    struct family *f = m->first;
    while (f && strcmp(f->name, name) != 0) f = f->next;
    if (f && f->kind != kind)
        QA_TRY_FAIL(QA_ERR_INVALID_ARG, "metric %s is already registered as a %s", name, kind_names[f->kind]);
    if (f && strcmp(f->help, help) != 0)
        QA_TRY_FAIL(QA_ERR_INVALID_ARG, "metric %s is already registered with other help text", name);
    for (struct series *o = f ? f->first : NULL; o; o = o->next)
        if (strcmp(o->labels, labels) == 0)
            QA_TRY_FAIL(QA_ERR_EXISTS, "metric %s{%s} is already registered", name, labels);
    if (!f) {
        size_t name_len = strlen(name) + 1, help_len = strlen(help) + 1;
        if (!(f = calloc(1, sizeof *f + name_len + help_len))) QA_TRY_FAIL(QA_ERR_NOMEM, "metric %s", name);
        f->kind = kind;
        f->name = memcpy((char *)(f + 1), name, name_len);
        f->help = memcpy((char *)(f + 1) + name_len, help, help_len);
        if (m->last) m->last->next = f;
        else m->first = f;
        m->last = f;
    }
    s->fam = f;
    if (f->last) f->last->next = s;
    else f->first = s;
    f->last = s;
    *out = s;
cleanup:
    pthread_mutex_unlock(&m->lock);
    if (st != QA_OK) free(s);
    return st;
}

qa_status qa_metrics_counter_register(qa_metrics_t *m, const char *name, const char *help,
                                      const char *labels, qa_metrics_counter **out) {
    struct series *s = NULL;
    QA_TRY_RET(add_series(m, KIND_COUNTER, name, help, labels, NULL, 0, &s));
    *out = (qa_metrics_counter *)s;
    return QA_OK;
}

qa_status qa_metrics_gauge_register(qa_metrics_t *m, const char *name, const char *help,
                                    const char *labels, qa_metrics_gauge **out) {
    struct series *s = NULL;
    QA_TRY_RET(add_series(m, KIND_GAUGE, name, help, labels, NULL, 0, &s));
    *out = (qa_metrics_gauge *)s;
    return QA_OK;
}

qa_status qa_metrics_histogram_register(qa_metrics_t *m, const char *name, const char *help,
                                        const char *labels, const double *bounds, size_t nbounds,
                                        qa_metrics_histogram **out) {
    struct series *s = NULL;
    QA_TRY_RET(add_series(m, KIND_HISTOGRAM, name, help, labels, bounds, nbounds, &s));
    *out = (qa_metrics_histogram *)s;
    return QA_OK;
}

void qa_metrics_counter_add(qa_metrics_counter *c, uint64_t n) {
    atomic_fetch_add_explicit(&c->s.a, n, memory_order_relaxed);
}

void qa_metrics_counter_add_f(qa_metrics_counter *c, double x) {
    if (x >= 0) add_double(&c->s.b, x); /* false for NaN */
}

void qa_metrics_gauge_set(qa_metrics_gauge *g, double x) {
    atomic_store_explicit(&g->s.a, to_bits(x), memory_order_relaxed);
}

void qa_metrics_gauge_add(qa_metrics_gauge *g, double x) { add_double(&g->s.a, x); }

void qa_metrics_histogram_observe(qa_metrics_histogram *h, double x) {
    if (isnan(x)) return;
    size_t lo = 0, hi = h->s.nb; /* first bound >= x; nb is the +Inf bucket */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x <= h->s.bounds[mid]) hi = mid;
        else lo = mid + 1;
    }
    atomic_fetch_add_explicit(&h->s.buckets[lo], 1, memory_order_relaxed);
    add_double(&h->s.a, x);
}

double qa_metrics_counter_value(const qa_metrics_counter *c) {
    return (double)atomic_load_explicit(&c->s.a, memory_order_relaxed) +
           from_bits(atomic_load_explicit(&c->s.b, memory_order_relaxed));
}

double qa_metrics_gauge_value(const qa_metrics_gauge *g) {
    return from_bits(atomic_load_explicit(&g->s.a, memory_order_relaxed));
}

/* Prometheus float text: NaN, +Inf, -Inf, else the shortest %g that reads back exactly
 * (1e-06, 0.25, 3), as the reference client prints. Assumes the C locale's decimal point. */
static const char *fmt_double(char buf[32], double x) {
    if (isnan(x)) return "NaN";
    if (isinf(x)) return x > 0 ? "+Inf" : "-Inf";
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    return buf;
}

/* name<suffix>{labels[,le="..."]} value */
static void sample(qa_strbuf *b, const struct series *s, const char *suffix, const char *le,
                   const char *value) {
    qa_strbuf_printf(b, "%s%s", s->fam->name, suffix);
    if (s->labels[0] || le) {
        qa_strbuf_printf(b, "{%s", s->labels);
        if (le) qa_strbuf_printf(b, "%sle=\"%s\"", s->labels[0] ? "," : "", le);
        qa_strbuf_append(b, "}");
    }
    qa_strbuf_printf(b, " %s\n", value);
}

static void render_series(qa_strbuf *b, enum kind kind, const struct series *s) {
    char v[32], le[32];
    uint64_t n = atomic_load_explicit(&s->a, memory_order_relaxed);
    if (kind == KIND_COUNTER) {
        double f = from_bits(atomic_load_explicit(&s->b, memory_order_relaxed));
        if (f == 0) snprintf(v, sizeof v, "%llu", (unsigned long long)n); /* exact past 2^53 */
        sample(b, s, "", NULL, f == 0 ? v : fmt_double(v, (double)n + f));
    } else if (kind == KIND_GAUGE) {
        sample(b, s, "", NULL, fmt_double(v, from_bits(n)));
    } else {
        uint64_t cum = 0;
        for (size_t i = 0; i <= s->nb; i++) {
            cum += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
            snprintf(v, sizeof v, "%llu", (unsigned long long)cum);
            sample(b, s, "_bucket", i < s->nb ? fmt_double(le, s->bounds[i]) : "+Inf", v);
        }
        sample(b, s, "_sum", NULL, fmt_double(v, from_bits(n)));
        snprintf(v, sizeof v, "%llu", (unsigned long long)cum);
        sample(b, s, "_count", NULL, v);
    }
}

qa_status qa_metrics_render(qa_metrics_t *m, char **text, size_t *len) {
    if (!m || !text || !len) return QA_FAIL(QA_ERR_INVALID_ARG, "qa_metrics_render: NULL argument");
    qa_strbuf b;
    qa_strbuf_init(&b);
    qa_strbuf_append(&b, ""); /* an empty registry still yields a buffer */
    pthread_mutex_lock(&m->lock);
    for (const struct family *f = m->first; f; f = f->next) {
        qa_strbuf_printf(&b, "# HELP %s ", f->name);
        for (const char *p = f->help; *p; p++) { /* HELP escapes only \ and newline */
            if (*p == '\\') qa_strbuf_append(&b, "\\\\");
            else if (*p == '\n') qa_strbuf_append(&b, "\\n");
            else qa_strbuf_append_n(&b, p, 1);
        }
        qa_strbuf_printf(&b, "\n# TYPE %s %s\n", f->name, kind_names[f->kind]);
        for (const struct series *s = f->first; s; s = s->next) render_series(&b, f->kind, s);
    }
    pthread_mutex_unlock(&m->lock);
    qa_status st = qa_strbuf_status(&b);
    if (st != QA_OK) {
        qa_strbuf_free(&b);
        return st;
    }
    *text = b.data;
    *len = b.len;
    return QA_OK;
}

size_t qa_metrics_latency_buckets(double *out, size_t cap) {
    static const double b[] = {1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3,
                               5e-3, 1e-2, 2e-2, 5e-2, 0.1,  0.2,  0.5,  1,    2,    5,    10};
    size_t n = sizeof b / sizeof b[0];
    for (size_t i = 0; i < n && i < cap; i++) out[i] = b[i];
    return n;
}
