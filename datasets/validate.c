/* Anomaly rules for bar data: per-bar checks first (and masking), then returns. */
#include "datasets/validate.h"

#include <math.h>    /* isnan, log, fabs */
#include <stdlib.h>  /* realloc */
#include <string.h>  /* memcpy */

#include "datasets/store.h"      /* qa_bar_field names */
#include "common/timeparse.h"  /* dates in reports */

const char *const qa_anom_policy_names[] = {"keep", "mask", "reject", NULL};
_Static_assert(sizeof qa_anom_policy_names / sizeof qa_anom_policy_names[0] == QA_ANOM_POLICY_COUNT + 1, "policies");

static const char *const kind_names[] = {"zero_volume", "negative_volume", "nonpositive_price", "ohlc_inconsistent",
                                         "decimal_shift", "spike", "jump"};
_Static_assert(sizeof kind_names / sizeof kind_names[0] == QA_ANOM_KIND_COUNT, "anomaly kinds");

const char *qa_anom_kind_name(qa_anom_kind k) { return (k >= 0 && k < QA_ANOM_KIND_COUNT) ? kind_names[k] : "?"; }

void qa_validate_opts_default(qa_validate_opts *o) {
    o->spike_log = 1.0;
    o->jump_log = 1.6;
    o->shift_ratio = 5.0;
    o->zero_volume = 1;
}

qa_status qa_anom_list_append(qa_anom_list *l, const qa_anomaly *a) { return qa_anom_list_extend(l, a, 1); }

qa_status qa_anom_list_extend(qa_anom_list *l, const qa_anomaly *a, size_t n) {
    if (l->n + n > l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        while (cap < l->n + n) cap *= 2;
        qa_anomaly *ni = realloc(l->items, cap * sizeof *ni);
        if (!ni) return QA_FAIL(QA_ERR_NOMEM, "anomaly list");
        l->items = ni;
        l->cap = cap;
    }
    if (n) memcpy(l->items + l->n, a, n * sizeof *a);
    l->n += n;
    return QA_OK;
}

void qa_anom_list_free(qa_anom_list *l) {
    free(l->items);
    l->items = NULL;
    l->n = l->cap = 0;
}

static qa_status add(qa_anom_list *out, int64_t sym, size_t t, const int64_t *time, qa_anom_kind k, int field,
                     double value, double ref) {
    qa_anomaly a = {sym, (int64_t)t, time[t], (int32_t)k, (int32_t)field, value, ref};
    return qa_anom_list_append(out, &a);
}

static void mask_bar(double *o, double *h, double *l, double *c, double *v, size_t t) {
    o[t] = h[t] = l[t] = c[t] = v[t] = NAN;
}

static double median4(double a, double b, double c, double d) {
    double x[4] = {a, b, c, d};
    for (int i = 1; i < 4; i++)
        for (int j = i; j > 0 && x[j - 1] > x[j]; j--) {
            double tmp = x[j];
            x[j] = x[j - 1];
            x[j - 1] = tmp;
        }
    return 0.5 * (x[1] + x[2]);
}

qa_status qa_validate_bars(const qa_validate_opts *o, int64_t sym, const int64_t *time, size_t T, double *op,
                           double *hi, double *lo, double *cl, double *vo, int mask, qa_anom_list *out) {
    qa_status s = QA_OK;
    double *px[4] = {op, hi, lo, cl};
    static const int px_field[4] = {QA_BAR_OPEN, QA_BAR_HIGH, QA_BAR_LOW, QA_BAR_CLOSE};
    for (size_t t = 0; t < T && s == QA_OK; t++) {
        /* Volume. */
        if (!isnan(vo[t]) && vo[t] < 0) {
            s = add(out, sym, t, time, QA_ANOM_NEG_VOLUME, QA_BAR_VOLUME, vo[t], 0);
            if (mask) vo[t] = NAN;
        } else if (o->zero_volume && vo[t] == 0.0 && !isnan(cl[t])) {
            s = add(out, sym, t, time, QA_ANOM_ZERO_VOLUME, QA_BAR_VOLUME, 0, 0);
            if (mask) vo[t] = NAN;
        }
        /* Non-positive prices. */
        int close_bad = 0, any_bad = 0;
        for (int k = 0; k < 4 && s == QA_OK; k++) {
            if (!isnan(px[k][t]) && px[k][t] <= 0) {
                s = add(out, sym, t, time, QA_ANOM_NONPOS_PRICE, px_field[k], px[k][t], 0);
                if (k == 3) close_bad = 1;
                any_bad = 1;
                if (mask) px[k][t] = NAN;
            }
        }
        if (close_bad && mask) mask_bar(op, hi, lo, cl, vo, t);
        if (any_bad) continue; /* OHLC relations mean nothing with a non-positive price */
        double O = op[t], H = hi[t], L = lo[t], C = cl[t];
        if (s != QA_OK || isnan(O) || isnan(H) || isnan(L) || isnan(C)) continue;
        int consistent = L <= O && L <= C && O <= H && C <= H && L <= H;
        if (consistent) continue;
        /* Which field is wrong? One price far from the bar's median is a decimal shift. */
        double med = median4(O, H, L, C);
        int worst = -1;
        double worst_dev = 0;
        for (int k = 0; k < 4; k++) {
            double dev = fabs(log(px[k][t] / med));
            if (dev > worst_dev) {
                worst_dev = dev;
                worst = k;
            }
        }
        if (worst >= 0 && worst_dev >= log(o->shift_ratio)) {
            s = add(out, sym, t, time, QA_ANOM_SHIFT, px_field[worst], px[worst][t], med);
            if (mask) {
                if (worst == 3) mask_bar(op, hi, lo, cl, vo, t);
                else px[worst][t] = NAN;
            }
        } else {
            /* Blame high if it is below another price, else low. */
            int k = (H < O || H < C || H < L) ? 1 : 2;
            double ref = k == 1 ? fmax(fmax(O, C), L) : fmin(fmin(O, C), H);
            s = add(out, sym, t, time, QA_ANOM_OHLC, px_field[k], px[k][t], ref);
            if (mask) px[k][t] = NAN;
        }
    }
    /* Returns on the observation sequence of closes (after masking). */
    size_t prev = (size_t)-1;
    for (size_t t = 0; t < T && s == QA_OK; t++) {
        if (isnan(cl[t])) continue;
        if (prev == (size_t)-1) {
            prev = t;
            continue;
        }
        double r = log(cl[t] / cl[prev]);
        size_t next = t + 1;
        while (next < T && isnan(cl[next])) next++;
        double rn = next < T ? log(cl[next] / cl[t]) : 0.0;
        int spike = fabs(r) > o->spike_log && next < T && r * rn < 0 && fabs(rn) > 0.5 * o->spike_log;
        int jump = !spike && fabs(r) > o->jump_log;
        if (spike || jump) {
            s = add(out, sym, t, time, spike ? QA_ANOM_SPIKE : QA_ANOM_JUMP, QA_BAR_CLOSE, cl[t], cl[prev]);
            if (mask) mask_bar(op, hi, lo, cl, vo, t);
            /* After a spike the last good close stays the reference (so the way back is
             * not reported again); after a masked jump likewise; a kept jump is a new level. */
            if (spike || mask) continue;
        }
        prev = t;
    }
    return s;
}

char *qa_anomaly_describe(const qa_anomaly *a, char *buf, size_t size) {
    const char *f = qa_bar_field_name((qa_bar_field)a->field);
    switch (a->kind) {
    case QA_ANOM_ZERO_VOLUME: snprintf(buf, size, "zero volume"); break;
    case QA_ANOM_NEG_VOLUME: snprintf(buf, size, "negative volume %g", a->value); break;
    case QA_ANOM_NONPOS_PRICE: snprintf(buf, size, "non-positive %s %g", f, a->value); break;
    case QA_ANOM_OHLC:
        snprintf(buf, size, "%s %g is %s %g: low <= open, close <= high does not hold", f, a->value,
                 a->field == QA_BAR_HIGH ? "below" : "above", a->ref);
        break;
    case QA_ANOM_SHIFT:
        snprintf(buf, size, "decimal shift suspected: %s %g vs the bar's median price %g", f, a->value, a->ref);
        break;
    case QA_ANOM_SPIKE:
        snprintf(buf, size, "spike: close %g vs previous %g (%+.1f%%) and reverts next bar", a->value, a->ref,
                 100.0 * (a->value / a->ref - 1.0));
        break;
    case QA_ANOM_JUMP:
        snprintf(buf, size, "extreme jump: close %g vs previous %g (%+.1f%%)", a->value, a->ref,
                 100.0 * (a->value / a->ref - 1.0));
        break;
    default: snprintf(buf, size, "unknown anomaly"); break;
    }
    return buf;
}

qa_status qa_anom_write_csv(FILE *f, const qa_anom_list *l, const char *const *symbols) {
    fprintf(f, "symbol,date,field,kind,value,reference,why\n");
    char date[40], why[256];
    for (size_t i = 0; i < l->n; i++) {
        const qa_anomaly *a = &l->items[i];
        qa_anomaly_describe(a, why, sizeof why);
        for (char *p = why; *p; p++)
            if (*p == ',') *p = ';';
        fprintf(f, "%s,%s,%s,%s,%.17g,%.17g,%s\n", symbols[a->symbol], qa_time_format_iso(a->time, date, sizeof date),
                qa_bar_field_name((qa_bar_field)a->field), qa_anom_kind_name((qa_anom_kind)a->kind), a->value, a->ref,
                why);
    }
    if (ferror(f)) return QA_FAIL(QA_ERR_IO, "cannot write the anomaly report");
    return QA_OK;
}
