/* The LOBSTER book of the paper venue (live/lobbook.h). */
#include "live/lobbook.h"

#include <math.h>    /* floor, llround */
#include <stdlib.h>  /* malloc, realloc, free */
#include <string.h>  /* memset, memmove */

#include "datasets/csv.h"    /* CSV and gzip reading, integer fields */
#include "datasets/import.h" /* qa_import_lobster_day: the session's midnight */

/* Columns of a book row: ask price, ask size, bid price, bid size, per level. Prices are in
 * LOBSTER's 1/10,000 units; an empty level (LOBSTER's dummy price, size 0) is kept as 0, 0. */
struct qa_lobbook {
    size_t n;
    int levels;
    int64_t *time;
    uint64_t *id;
    int64_t *size, *price;
    signed char *type, *dir;
    int32_t *book; /* [n][4 * levels] */
};

void qa_lobbook_free(qa_lobbook_t *b) {
    if (!b) return;
    free(b->time);
    free(b->id);
    free(b->size);
    free(b->price);
    free(b->type);
    free(b->dir);
    free(b->book);
    free(b);
}

size_t qa_lobbook_count(const qa_lobbook_t *b) { return b->n; }
int64_t qa_lobbook_time(const qa_lobbook_t *b, size_t i) { return b->time[i]; }

/* Seconds after midnight with up to 9 decimals, exactly (a double loses the nanoseconds). */
static int parse_seconds(const char *s, int64_t *ns) {
    int64_t whole = 0, frac = 0;
    int digits = 0, nd = 0;
    for (; *s >= '0' && *s <= '9'; s++, nd++) {
        if (nd > 6) return 0; /* more than a day */
        whole = whole * 10 + (*s - '0');
    }
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++)
            if (digits < 9) frac = frac * 10 + (*s - '0'), digits++;
    if (*s || nd == 0) return 0;
    for (; digits < 9; digits++) frac *= 10;
    *ns = whole * 1000000000LL + frac;
    return 1;
}

static qa_status grow(qa_lobbook_t *b, size_t cap) {
    const size_t row = 4 * (size_t)b->levels;
    void *p;
#define GROW(f)                                                                            \
    if (!(p = realloc(b->f, cap * sizeof *b->f))) return QA_FAIL(QA_ERR_NOMEM, "LOBSTER book"); \
    b->f = p;
    GROW(time) GROW(id) GROW(size) GROW(price) GROW(type) GROW(dir)
#undef GROW
    /* row >= 4 and cap >= 1, so a zero size could only come from a wrapped product. */
    const size_t bytes = cap * row * sizeof *b->book;
    if (cap > SIZE_MAX / (row * sizeof *b->book) || bytes == 0) return QA_FAIL(QA_ERR_NOMEM, "LOBSTER book rows");
    if (!(p = realloc(b->book, bytes))) return QA_FAIL(QA_ERR_NOMEM, "LOBSTER book rows");
    b->book = p;
    return QA_OK;
}

/* One message row into b at index b->n. */
static qa_status read_message(qa_lobbook_t *b, qa_csv_t *m, size_t nf, int64_t t0, int64_t prev) {
    const char *path = qa_csv_path(m);
    long line = qa_csv_line(m);
    if (nf < 6) return QA_FAIL(QA_ERR_FORMAT, "%s:%ld: %zu fields, a LOBSTER message has 6", path, line, nf);
    int64_t ns;
    if (!parse_seconds(qa_csv_field(m, 0), &ns))
        return QA_FAIL(QA_ERR_FORMAT, "%s:%ld: field 'time': '%s' is not seconds after midnight", path, line,
                       qa_csv_field(m, 0));
    static const char *const names[] = {"type", "order_id", "size", "price", "direction"};
    long long v[5];
    for (int j = 0; j < 5; j++)
        if (!qa_csv_parse_int64(qa_csv_field(m, (size_t)j + 1), &v[j]))
            return QA_FAIL(QA_ERR_FORMAT, "%s:%ld: field '%s': '%s' is not an integer", path, line, names[j],
                           qa_csv_field(m, (size_t)j + 1));
    if (v[0] < 1 || v[0] > 7) return QA_FAIL(QA_ERR_FORMAT, "%s:%ld: field 'type': %lld, expected 1-7", path, line, v[0]);
    if (v[4] != 1 && v[4] != -1)
        return QA_FAIL(QA_ERR_FORMAT, "%s:%ld: field 'direction': %lld, expected 1 or -1", path, line, v[4]);
    if (v[1] < 0 || v[2] < 0 || v[2] > 1000000000LL || v[3] < 0 || v[3] > INT32_MAX)
        return QA_FAIL(QA_ERR_FORMAT, "%s:%ld: order id %lld, size %lld or price %lld out of range", path, line, v[1],
                       v[2], v[3]);
    const int64_t t = t0 + ns;
    if (t < prev) return QA_FAIL(QA_ERR_FORMAT, "%s:%ld: field 'time': %s is earlier than the previous message", path, line,
                                 qa_csv_field(m, 0));
    size_t i = b->n;
    b->time[i] = t;
    b->type[i] = (signed char)v[0];
    b->id[i] = (uint64_t)v[1];
    b->size[i] = v[2];
    b->price[i] = v[3];
    b->dir[i] = (signed char)v[4];
    return QA_OK;
}

static qa_status read_row(qa_lobbook_t *b, qa_csv_t *o, size_t nf) {
    const size_t row = 4 * (size_t)b->levels;
    if (nf < row)
        return QA_FAIL(QA_ERR_FORMAT, "%s:%ld: %zu fields, expected %zu (%d levels)", qa_csv_path(o), qa_csv_line(o), nf,
                       row, b->levels);
    int32_t *r = b->book + b->n * row;
    for (size_t k = 0; k < row; k += 2) {
        long long px, sz;
        if (!qa_csv_parse_int64(qa_csv_field(o, k), &px) || !qa_csv_parse_int64(qa_csv_field(o, k + 1), &sz) || sz < 0 || sz > INT32_MAX)
            return QA_FAIL(QA_ERR_FORMAT, "%s:%ld: fields %zu-%zu: '%s', '%s' are not a price and a size", qa_csv_path(o),
                           qa_csv_line(o), k + 1, k + 2, qa_csv_field(o, k), qa_csv_field(o, k + 1));
        if (sz == 0) px = 0; /* an empty level carries LOBSTER's dummy price */
        else if (px <= 0 || px > INT32_MAX)
            return QA_FAIL(QA_ERR_FORMAT, "%s:%ld: field %zu: price %lld out of range", qa_csv_path(o), qa_csv_line(o), k + 1,
                           px);
        r[k] = (int32_t)px, r[k + 1] = (int32_t)sz;
    }
    return QA_OK;
}

qa_status qa_lobbook_open(const char *messages, const char *orderbook, const char *date, int levels,
                          qa_lobbook_t **out) {
    if (levels < 1 || levels > 200) return QA_FAIL(QA_ERR_CONFIG, "LOBSTER levels %d: expected 1-200", levels);
    qa_tzone utc;
    memset(&utc, 0, sizeof utc);
    int64_t t0;
    QA_TRY_RET(qa_import_lobster_day(date, &utc, &t0));
    qa_lobbook_t *b = calloc(1, sizeof *b);
    if (!b) return QA_FAIL(QA_ERR_NOMEM, "LOBSTER book");
    b->levels = levels;
    qa_csv_t *m = NULL, *o = NULL;
    size_t cap = 0;
    qa_status st = qa_csv_open(messages, ',', &m);
    if (st == QA_OK) st = qa_csv_open(orderbook, ',', &o);
    while (st == QA_OK) {
        size_t nm, no;
        qa_status sm = qa_csv_next(m, &nm), so = qa_csv_next(o, &no);
        if (sm == QA_ERR_NOT_FOUND && so == QA_ERR_NOT_FOUND) break;
        if (sm != QA_OK && sm != QA_ERR_NOT_FOUND) st = sm;
        else if (so != QA_OK && so != QA_ERR_NOT_FOUND) st = so;
        else if (sm != so) st = QA_FAIL(QA_ERR_FORMAT, "%s and %s have different numbers of rows", messages, orderbook);
        if (st != QA_OK) break;
        if (b->n == cap && (st = grow(b, cap = cap ? 2 * cap : 4096)) != QA_OK) break;
        if ((st = read_message(b, m, nm, t0, b->n ? b->time[b->n - 1] : INT64_MIN)) == QA_OK && (st = read_row(b, o, no)) == QA_OK)
            b->n++;
    }
    if (st == QA_OK && b->n == 0) st = QA_FAIL(QA_ERR_FORMAT, "%s: no messages", messages);
    qa_csv_close(m);
    qa_csv_close(o);
    if (st != QA_OK) {
        qa_lobbook_free(b);
        return st;
    }
    *out = b;
    return QA_OK;
}

/* ---- one order ---------------------------------------------------------------------------- */

void qa_lobbook_queue_free(qa_lobbook_queue *q) {
    free(q->behind);
    q->behind = NULL;
    q->nbehind = q->cap = 0;
}

static size_t lower(const uint64_t *a, size_t n, uint64_t x) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static int is_behind(const qa_lobbook_queue *q, uint64_t id) {
    size_t k = lower(q->behind, q->nbehind, id);
    return k < q->nbehind && q->behind[k] == id;
}

static qa_status add_behind(qa_lobbook_queue *q, uint64_t id) {
    size_t k = lower(q->behind, q->nbehind, id);
    if (k < q->nbehind && q->behind[k] == id) return QA_OK;
    if (q->nbehind == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 64;
        uint64_t *p = realloc(q->behind, cap * sizeof *p);
        if (!p) return QA_FAIL(QA_ERR_NOMEM, "queue of %zu ids", cap);
        q->behind = p, q->cap = cap;
    }
    memmove(q->behind + k + 1, q->behind + k, (q->nbehind - k) * sizeof *q->behind);
    q->behind[k] = id;
    q->nbehind++;
    return QA_OK;
}

typedef struct sink {
    int quiet;
    double left; /* of the order */
    qa_lobbook_fill **fills;
    size_t *n, *cap;
} sink;

static qa_status fill(sink *k, int64_t time, double qty, int64_t ticks) {
    if (qty > k->left) qty = k->left;
    if (!(qty > 0.0)) return QA_OK;
    k->left -= qty;
    if (k->quiet) return QA_OK;
    if (*k->n == *k->cap) {
        size_t cap = *k->cap ? 2 * *k->cap : 16;
        qa_lobbook_fill *p = realloc(*k->fills, cap * sizeof *p);
        if (!p) return QA_FAIL(QA_ERR_NOMEM, "book fills");
        *k->fills = p, *k->cap = cap;
    }
    (*k->fills)[(*k->n)++] = (qa_lobbook_fill){time, qty, (double)ticks / 10000.0};
    return QA_OK;
}

/* The last message at or before t (the first message when t precedes it). */
static size_t row_at(const qa_lobbook_t *b, int64_t t) {
    size_t lo = 0, hi = b->n; /* first message with time > t */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (b->time[mid] <= t) lo = mid + 1;
        else hi = mid;
    }
    return lo ? lo - 1 : 0;
}

/* Arrival: take what the opposite side shows up to the limit, else join the own side. */
static qa_status arrive(const qa_lobbook_t *b, const qa_lobbook_order *o, qa_lobbook_queue *q, sink *k, int *cancelled) {
    const int64_t a = o->arrive > b->time[0] ? o->arrive : b->time[0];
    const size_t r = row_at(b, a);
    const int32_t *row = b->book + r * 4 * (size_t)b->levels;
    const int opp = o->side > 0 ? 0 : 2, own = o->side > 0 ? 2 : 0; /* ask columns, bid columns */
    int took = 0;
    for (int l = 0; l < b->levels && k->left > 0.0; l++) {
        int64_t px = row[4 * l + opp], sz = row[4 * l + opp + 1];
        if (sz <= 0) break;
        if (o->limit && (o->side > 0 ? px > q->ticks : px < q->ticks)) break;
        QA_TRY_RET(fill(k, a, (double)sz, px));
        took = 1;
    }
    q->arrived = 1;
    q->next = r + 1;
    if (k->left <= 0.0) return QA_OK;
    if (!o->limit) { /* a market order's rest: nothing more shown */
        *cancelled = 1;
        return QA_OK;
    }
    q->resting = 1;
    q->ahead = 0.0;
    if (!took)
        for (int l = 0; l < b->levels; l++)
            if (row[4 * l + own + 1] > 0 && row[4 * l + own] == q->ticks) q->ahead = (double)row[4 * l + own + 1];
    return QA_OK;
}

qa_status qa_lobbook_work(const qa_lobbook_t *b, const qa_lobbook_order *o, double remaining, int quiet, int64_t to,
                          qa_lobbook_queue *q, qa_lobbook_fill **fills, size_t *nfills, size_t *cap, int *cancelled) {
    sink k = {quiet, floor(remaining + 1e-9), fills, nfills, cap};
    *cancelled = 0;
    if (!q->arrived) {
        if (o->limit && !(o->price > 0.0)) return QA_FAIL(QA_ERR_INVALID_ARG, "book order: limit price %g", o->price);
        q->ticks = o->limit ? llround(o->price * 10000.0) : 0;
        const int64_t a = o->arrive > b->time[0] ? o->arrive : b->time[0];
        if (a > to) return QA_OK;
        QA_TRY_RET(arrive(b, o, q, &k, cancelled));
    }
    for (; q->next < b->n && b->time[q->next] <= to; q->next++) {
        const size_t i = q->next;
        if (!q->resting || k.left <= 0.0 || b->dir[i] != o->side) continue;
        const int type = (int)b->type[i]; /* a small code, not a character */
        const int at = b->price[i] == q->ticks;
        const int through = o->side > 0 ? b->price[i] < q->ticks : b->price[i] > q->ticks;
        if (type == 1 && at) {
            QA_TRY_RET(add_behind(q, b->id[i]));
        } else if ((type == 2 || type == 3) && at && !is_behind(q, b->id[i])) {
            q->ahead = q->ahead > (double)b->size[i] ? q->ahead - (double)b->size[i] : 0.0;
        } else if ((type == 4 || type == 5) && through) {
            QA_TRY_RET(fill(&k, b->time[i], k.left, q->ticks));
        } else if (type == 4 && at) {
            double n = (double)b->size[i];
            if (is_behind(q, b->id[i])) q->ahead = 0.0; /* a later arrival traded: the queue ahead is gone */
            double used = n < q->ahead ? n : q->ahead;
            q->ahead -= used;
            QA_TRY_RET(fill(&k, b->time[i], n - used, q->ticks));
        }
    }
    return QA_OK;
}
