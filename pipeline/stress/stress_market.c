/* Market data for `qa stress`: closing-price panels (read on rank 0, broadcast), common-
 * date log-returns and the sector table. */
#include <math.h>    /* log, exp, sqrt, isnan */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* malloc, calloc, free */
#include <string.h>  /* memcpy, strcmp */
#include <strings.h> /* strcasecmp */

#include "common/mem.h"          /* QA_FREE_ALL */
#include "datasets/csv.h"        /* sector table */
#include "pipeline/stress/stress_impl.h"

void qa_stress_panel_free(qa_stress_panel *p) {
    if (!p) return;
    free(p->sym);
    free(p->time);
    free(p->close);
    free(p->kind);
    memset(p, 0, sizeof *p);
}

qa_status qa_stress_panel_derive(qa_stress_panel *p, size_t at, const char *name, qa_stress_col_kind kind, size_t src,
                                 int window, double duration) {
    size_t t = p->t, n = p->n;
    double *close = malloc((n + 1) * (t ? t : 1) * sizeof *close), *lv = malloc((t ? t : 1) * sizeof *lv);
    char(*sym)[QA_STORE_SYMBOL_LEN] = calloc(n + 1, sizeof *sym);
    unsigned char *kinds = calloc(n + 1, 1);
    if (!close || !lv || !sym || !kinds) {
        QA_FREE_ALL(close, lv, sym, kinds);
        return QA_FAIL(QA_ERR_NOMEM, "derived series '%s' (%zu dates)", name, t);
    }
    const double *c = p->close + src * t;
    if (kind == QA_STRESS_COL_VOL) {
        /* Rolling sum of the last `window` squared log-returns between consecutive closes,
         * recomputed from scratch at each date (no drift from running sums). */
        size_t w = (size_t)window, cnt = 0;
        double *r2 = malloc((t ? t : 1) * sizeof *r2);
        if (!r2) {
            QA_FREE_ALL(close, lv, sym, kinds);
            /* cppcheck-suppress memleak ; QA_FREE_ALL freed them (cppcheck cannot see through its array) */
            return QA_FAIL(QA_ERR_NOMEM, "derived series '%s'", name);
        }
        long prev = -1;
        for (size_t d = 0; d < t; d++) {
            lv[d] = NAN;
            if (!(c[d] > 0)) continue;
            if (prev >= 0) {
                double r = log(c[d] / c[prev]);
                r2[cnt++] = r * r;
                if (cnt >= w) {
                    double s = 0.0;
                    for (size_t k = cnt - w; k < cnt; k++) s += r2[k];
                    lv[d] = sqrt(s / (double)w * p->bars_per_year);
                    if (!(lv[d] > 0)) lv[d] = NAN; /* a flat stretch has no volatility to move */
                }
            }
            prev = (long)d;
        }
        free(r2);
    } else {
        double p0 = NAN;
        for (size_t d = 0; d < t; d++) {
            if (isnan(p0) && c[d] > 0) p0 = c[d];
            lv[d] = c[d] > 0 ? exp(-log(c[d] / p0) / duration) : NAN;
        }
    }
    for (size_t j = 0, k = 0; j <= n; j++) {
        if (j == at) {
            memcpy(close + j * t, lv, t * sizeof *lv);
            snprintf(sym[j], sizeof sym[j], "%s", name);
            kinds[j] = (unsigned char)kind;
            continue;
        }
        memcpy(close + j * t, p->close + k * t, t * sizeof *close);
        memcpy(sym[j], p->sym[k], sizeof sym[j]);
        kinds[j] = p->kind ? p->kind[k] : QA_STRESS_COL_PRICE;
        k++;
    }
    free(p->close);
    free(p->sym);
    free(p->kind);
    free(lv);
    p->close = close;
    p->sym = sym;
    p->kind = kinds;
    p->n = n + 1;
    return QA_OK;
}

qa_status qa_stress_panel_load(const char *path, const qa_comm_t *comm, const char *const *symbols, size_t n,
                            qa_stress_panel *out) {
    qa_status st = QA_OK;
    qa_stress_panel p;
    memset(&p, 0, sizeof p);
    int root = qa_comm_rank(comm) == 0;
    qa_store_t *store = NULL;
    uint64_t hdr[2] = {0, 0};
    snprintf(p.path, sizeof p.path, "%s", path);
    p.n = n;
    p.sym = calloc(n ? n : 1, sizeof *p.sym);
    p.kind = calloc(n ? n : 1, 1); /* every loaded column is a price */
    if (!p.sym || !p.kind) st = QA_FAIL(QA_ERR_NOMEM, "symbols");
    for (size_t i = 0; st == QA_OK && i < n; i++) snprintf(p.sym[i], sizeof p.sym[i], "%s", symbols[i]);
    /* Rank 0 reads serially; the others receive the bytes. */
    if (root && st == QA_OK) {
        st = qa_store_open(path, NULL, QA_STORE_READ, &store);
        if (st == QA_OK) {
            p.t = qa_store_ntime(store);
            p.bars_per_year = qa_store_get_meta(store)->bars_per_year;
            if (!(p.bars_per_year > 0)) p.bars_per_year = 252.0;
            p.time = malloc((p.t ? p.t : 1) * sizeof *p.time);
            p.close = malloc((n * p.t != 0 ? n * p.t : 1) * sizeof *p.close);
            if (!p.time || !p.close) st = QA_FAIL(QA_ERR_NOMEM, "price panel (%zu x %zu)", n, p.t);
        }
        if (st == QA_OK) memcpy(p.time, qa_store_time(store), p.t * sizeof *p.time);
        for (size_t i = 0; st == QA_OK && i < n; i++) {
            long s = qa_store_find_symbol(store, symbols[i]);
            if (s < 0) st = QA_FAIL(QA_ERR_NOT_FOUND, "%s: symbol '%s' is not in the file", path, symbols[i]);
            else st = qa_store_read(store, "bars/close", (size_t)s, 1, 0, p.t, p.close + i * p.t);
        }
        qa_store_close(store);
        hdr[0] = p.t;
        memcpy(&hdr[1], &p.bars_per_year, sizeof hdr[1]);
    }
    st = qa_comm_agree(comm, st);
    if (st != QA_OK) goto cleanup;
    if (qa_comm_size(comm) > 1) {
        QA_TRY(qa_comm_bcast(comm, hdr, sizeof hdr, 0));
        if (!root) {
            p.t = (size_t)hdr[0];
            memcpy(&p.bars_per_year, &hdr[1], sizeof p.bars_per_year);
            p.time = malloc((p.t ? p.t : 1) * sizeof *p.time);
            p.close = malloc((n * p.t != 0 ? n * p.t : 1) * sizeof *p.close);
            if (!p.time || !p.close) st = QA_FAIL(QA_ERR_NOMEM, "price panel (%zu x %zu)", n, p.t);
        }
        st = qa_comm_agree(comm, st);
        if (st != QA_OK) goto cleanup;
        QA_TRY(qa_comm_bcast(comm, p.time, p.t * sizeof *p.time, 0));
        QA_TRY(qa_comm_bcast(comm, p.close, n * p.t * sizeof *p.close, 0));
    }
    *out = p;
    return QA_OK;
cleanup:
    qa_stress_panel_free(&p);
    return st;
}

long qa_stress_panel_find(const qa_stress_panel *p, const char *symbol) {
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->sym[i], symbol) == 0) return (long)i;
    return -1;
}

static int common(const qa_stress_panel *p, const size_t *cols, size_t ncols, size_t t) {
    for (size_t j = 0; j < ncols; j++) {
        double v = p->close[cols[j] * p->t + t];
        if (!(v > 0) || isnan(v)) return 0;
    }
    return 1;
}

long qa_stress_panel_last_common(const qa_stress_panel *p, const size_t *cols, size_t ncols, int64_t at) {
    for (size_t t = p->t; t-- > 0;) {
        if (at && p->time[t] > at) continue;
        if (common(p, cols, ncols, t)) return (long)t;
    }
    return -1;
}

/* Fills row k of ret with log(c[t]/c[prev]). */
static void log_return(const qa_stress_panel *p, const size_t *cols, size_t ncols, size_t prev, size_t t, double *row) {
    for (size_t j = 0; j < ncols; j++) {
        const double *c = p->close + cols[j] * p->t;
        row[j] = log(c[t] / c[prev]);
    }
}

qa_status qa_stress_returns_last(const qa_stress_panel *p, const size_t *cols, size_t ncols, size_t t_end, size_t window,
                              double **ret, size_t **date, size_t *available) {
    /* Walk back from t_end collecting window + 1 common dates. */
    size_t *dates = malloc((window + 1) * sizeof *dates), k = 0;
    if (!dates) return QA_FAIL(QA_ERR_NOMEM, "dates");
    for (size_t t = t_end + 1; t-- > 0 && k < window + 1;)
        if (common(p, cols, ncols, t)) dates[k++] = t;
    *available = k ? k - 1 : 0;
    if (k < window + 1) {
        free(dates);
        return QA_ERR_NOT_FOUND;
    }
    double *r = malloc(window * ncols * sizeof *r);
    size_t *d = malloc(window * sizeof *d);
    if (!r || !d) {
        free(dates);
        free(r);
        free(d);
        return QA_FAIL(QA_ERR_NOMEM, "returns (%zu x %zu)", window, ncols);
    }
    /* dates[] runs newest first: return i (oldest first) ends at dates[window - 1 - i]. */
    for (size_t i = 0; i < window; i++) {
        size_t t = dates[window - 1 - i], prev = dates[window - i];
        log_return(p, cols, ncols, prev, t, r + i * ncols);
        d[i] = t;
    }
    free(dates);
    *ret = r;
    *date = d;
    return QA_OK;
}

qa_status qa_stress_returns_range(const qa_stress_panel *p, const size_t *cols, size_t ncols, int64_t start, int64_t end,
                               double **ret, size_t **date, size_t *count) {
    size_t n = 0;
    long prev = -1;
    for (size_t t = 0; t < p->t && p->time[t] <= end; t++) {
        if (!common(p, cols, ncols, t)) continue;
        if (prev >= 0 && p->time[t] >= start) n++;
        prev = (long)t;
    }
    *count = n;
    if (n == 0) return QA_ERR_NOT_FOUND;
    double *r = malloc(n * ncols * sizeof *r);
    size_t *d = malloc(n * sizeof *d), k = 0;
    if (!r || !d) {
        free(r);
        free(d);
        return QA_FAIL(QA_ERR_NOMEM, "returns (%zu x %zu)", n, ncols);
    }
    prev = -1;
    for (size_t t = 0; t < p->t && p->time[t] <= end; t++) {
        if (!common(p, cols, ncols, t)) continue;
        if (prev >= 0 && p->time[t] >= start) {
            log_return(p, cols, ncols, (size_t)prev, t, r + k * ncols);
            d[k++] = t;
        }
        prev = (long)t;
    }
    *ret = r;
    *date = d;
    return QA_OK;
}

void qa_stress_sectors_free(qa_stress_sectors *s) {
    if (!s) return;
    free(s->sym);
    free(s->sector);
    memset(s, 0, sizeof *s);
}

qa_status qa_stress_sectors_load(const char *path, qa_stress_sectors *out) {
    qa_status st = QA_OK;
    qa_csv_t *csv = NULL;
    qa_stress_sectors s;
    memset(&s, 0, sizeof s);
    size_t cap = 0, nf;
    long cs = -1, cc = -1;
    QA_TRY(qa_csv_open(path, ',', &csv));
    for (int header = 1;; header = 0) {
        st = qa_csv_next(csv, &nf);
        if (st == QA_ERR_NOT_FOUND) {
            st = header ? QA_FAIL(QA_ERR_CONFIG, "%s: empty sector table", path) : QA_OK;
            break;
        }
        if (st != QA_OK) goto cleanup;
        if (header) {
            for (size_t i = 0; i < nf; i++) {
                const char *h = qa_csv_field(csv, i);
                if (strcasecmp(h, "symbol") == 0) cs = (long)i;
                if (strcasecmp(h, "sector") == 0 || (cc < 0 && strcasecmp(h, "gics_sector") == 0)) cc = (long)i;
            }
            if (cs < 0 || cc < 0)
                QA_TRY_FAIL(QA_ERR_CONFIG, "%s:%ld: the sector table needs a 'symbol' and a 'sector' (or 'gics_sector') "
                                           "column",
                            path, qa_csv_line(csv));
            continue;
        }
        if ((size_t)cs >= nf || (size_t)cc >= nf) continue;
        if (s.n == cap) {
            cap = cap ? 2 * cap : 64;
            void *a = realloc(s.sym, cap * sizeof *s.sym), *b = realloc(s.sector, cap * sizeof *s.sector);
            if (a) s.sym = a;
            if (b) s.sector = b;
            if (!a || !b) QA_TRY_FAIL(QA_ERR_NOMEM, "sector table");
        }
        snprintf(s.sym[s.n], sizeof s.sym[s.n], "%s", qa_csv_field(csv, (size_t)cs));
        snprintf(s.sector[s.n], sizeof s.sector[s.n], "%s", qa_csv_field(csv, (size_t)cc));
        s.n++;
    }
    if (st != QA_OK) goto cleanup;
    *out = s;
    qa_csv_close(csv);
    return QA_OK;
cleanup:
    qa_csv_close(csv);
    qa_stress_sectors_free(&s);
    return st;
}

const char *qa_stress_sectors_of(const qa_stress_sectors *s, const char *symbol) {
    for (size_t i = 0; s && i < s->n; i++)
        if (strcmp(s->sym[i], symbol) == 0) return s->sector[i];
    return NULL;
}
