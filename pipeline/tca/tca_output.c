/* qa tca, the outputs: tca_orders.csv (one row per measured parent), tca_days.csv (one
 * row per UTC day of decision), summary.json (the overall aggregate, the days, the
 * rejected parents) and report.html (pipeline/run/report.h charts). Every file is
 * written to a temporary name and renamed into place. Columns: docs/tca.md. */
#include <math.h>    /* isfinite, NAN */
#include <stdio.h>   /* fprintf, snprintf */
#include <stdlib.h>  /* malloc, free */
#include <string.h>  /* strpbrk */

#include "common/fs.h"          /* qa_atomic_file, qa_path_join, qa_fs_mkdirs */
#include "common/json.h"        /* summary.json */
#include "common/timeparse.h"   /* ISO dates */
#include "pipeline/run/report.h" /* the HTML report and its SVG charts */
#include "pipeline/tca/tca.h"

/* Numbers round-trip exactly (%.17g); undefined ones are empty cells. */
static void csv_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, ",%.17g", v);
    else fputs(",", f);
}

/* RFC 4180 quoting when the text needs it. */
static void csv_text(FILE *f, const char *s, int first) {
    if (!first) fputc(',', f);
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static const char *day_str(int64_t day, char *buf, size_t size) {
    int64_t y;
    unsigned m, d;
    qa_civil_from_days(day, &y, &m, &d);
    snprintf(buf, size, "%04lld-%02u-%02u", (long long)y, m, d);
    return buf;
}

static qa_status write_orders_csv(const char *path, const qa_tca_result *r) {
    qa_atomic_file af;
    QA_TRY_RET(qa_atomic_open(&af, path));
    FILE *f = af.f;
    fputs("clordid,strategy,symbol,side,algo,state,outcome,day,decision_time,decision_price,arrival_time,"
          "arrival_price,end_time,end_price,qty,filled,fill_rate,avg_price,filled_notional,fees,children,fills,"
          "duration_s,interval_vwap,interval_volume,participation",
          f);
    for (int k = 0; k < QA_TCA_BPS_COUNT; k++) fprintf(f, ",%s", qa_tca_bps_names[k]);
    fputc('\n', f);
    char day[16];
    for (size_t i = 0; i < r->norders; i++) {
        const qa_tca_order *o = &r->orders[i];
        if (o->outcome == QA_TCA_REJECTED) continue;
        csv_text(f, o->clordid, 1);
        csv_text(f, o->strategy, 0);
        csv_text(f, o->symbol, 0);
        fprintf(f, ",%d", o->side);
        csv_text(f, o->algo, 0);
        csv_text(f, o->state, 0);
        fprintf(f, ",%s,%s,%lld", qa_tca_outcome_names[o->outcome], day_str(o->day, day, sizeof day),
                (long long)o->decision_time);
        csv_num(f, o->decision_price);
        if (o->has_arrival) fprintf(f, ",%lld", (long long)o->arrival_time);
        else fputs(",", f);
        csv_num(f, o->arrival_price);
        fprintf(f, ",%lld", (long long)o->end_time);
        csv_num(f, o->end_price);
        csv_num(f, o->qty);
        csv_num(f, o->filled);
        csv_num(f, o->fill_rate);
        csv_num(f, o->avg_price);
        csv_num(f, o->notional);
        csv_num(f, o->fees);
        fprintf(f, ",%zu,%zu", o->nchildren, o->nfills);
        csv_num(f, o->duration_s);
        csv_num(f, o->vwap);
        csv_num(f, o->interval_volume);
        csv_num(f, o->participation);
        for (int k = 0; k < QA_TCA_BPS_COUNT; k++) csv_num(f, o->bps[k]);
        fputc('\n', f);
    }
    return qa_atomic_commit(&af);
}

static void day_row(FILE *f, const qa_tca_day *d) {
    for (int k = 0; k < QA_TCA_OUTCOME_COUNT; k++) fprintf(f, ",%zu", d->count[k]);
    csv_num(f, d->shares_ordered);
    csv_num(f, d->shares_filled);
    csv_num(f, d->notional_ordered);
    csv_num(f, d->notional_filled);
    csv_num(f, d->fees);
    for (int k = 0; k < QA_TCA_BPS_COUNT; k++) csv_num(f, d->bps[k]);
    fputc('\n', f);
}

static qa_status write_days_csv(const char *path, const qa_tca_result *r) {
    qa_atomic_file af;
    QA_TRY_RET(qa_atomic_open(&af, path));
    FILE *f = af.f;
    fputs("day", f);
    for (int k = 0; k < QA_TCA_OUTCOME_COUNT; k++) fprintf(f, ",%s", qa_tca_outcome_names[k]);
    fputs(",shares_ordered,shares_filled,notional_ordered,notional_filled,fees", f);
    for (int k = 0; k < QA_TCA_BPS_COUNT; k++) fprintf(f, ",%s", qa_tca_bps_names[k]);
    fputc('\n', f);
    char day[16];
    for (size_t i = 0; i < r->ndays; i++) {
        fputs(day_str(r->days[i].day, day, sizeof day), f);
        day_row(f, &r->days[i]);
    }
    return qa_atomic_commit(&af);
}

static json_t *day_json(const qa_tca_day *d, int is_day) {
    char day[16];
    json_t *j = json_object();
    if (is_day) json_object_set_new(j, "day", json_string(day_str(d->day, day, sizeof day)));
    json_t *c = json_object();
    for (int k = 0; k < QA_TCA_OUTCOME_COUNT; k++)
        json_object_set_new(c, qa_tca_outcome_names[k], json_integer((json_int_t)d->count[k]));
    json_object_set_new(j, "parents", c);
    json_object_set_new(j, "shares_ordered", qa_json_real(d->shares_ordered));
    json_object_set_new(j, "shares_filled", qa_json_real(d->shares_filled));
    json_object_set_new(j, "notional_ordered", qa_json_real(d->notional_ordered));
    json_object_set_new(j, "notional_filled", qa_json_real(d->notional_filled));
    json_object_set_new(j, "fees", qa_json_real(d->fees));
    for (int k = 0; k < QA_TCA_BPS_COUNT; k++) json_object_set_new(j, qa_tca_bps_names[k], qa_json_real(d->bps[k]));
    return j;
}

static json_t *summary_json(const qa_tca_result *r, const char *orders_db, const char *market, const qa_tca_filter *f) {
    char buf[64];
    json_t *j = json_object();
    json_object_set_new(j, "format", json_string(QA_TCA_FORMAT));
    json_object_set_new(j, "format_version", json_integer(QA_TCA_FORMAT_VERSION));
    json_object_set_new(j, "orders", json_string(orders_db));
    json_object_set_new(j, "data", json_string(market));
    json_t *flt = json_object();
    json_object_set_new(flt, "strategy", f->strategy ? json_string(f->strategy) : json_null());
    json_object_set_new(flt, "from", f->from == INT64_MIN ? json_null()
                                                          : json_string(qa_time_format_iso(f->from, buf, sizeof buf)));
    json_object_set_new(flt, "to", f->to == INT64_MAX ? json_null()
                                                      : json_string(qa_time_format_iso(f->to, buf, sizeof buf)));
    json_object_set_new(j, "filter", flt);
    json_object_set_new(j, "overall", day_json(&r->overall, 0));
    json_t *days = json_array();
    for (size_t i = 0; i < r->ndays; i++) json_array_append_new(days, day_json(&r->days[i], 1));
    json_object_set_new(j, "days", days);
    json_t *rej = json_array();
    for (size_t i = 0; i < r->norders; i++) {
        const qa_tca_order *o = &r->orders[i];
        if (o->outcome != QA_TCA_REJECTED) continue;
        json_array_append_new(rej, json_pack("{s:s, s:s, s:s, s:i, s:f, s:s, s:s}", "clordid", o->clordid, "strategy",
                                             o->strategy, "symbol", o->symbol, "side", o->side, "qty", o->qty, "day",
                                             day_str(o->day, buf, sizeof buf), "reason", o->reason));
    }
    json_object_set_new(j, "rejected", rej);
    return j;
}

/* ---- report ------------------------------------------------------------------------- */

static void fmt_opt(char *buf, size_t size, const char *fmt, double v) {
    if (isfinite(v)) snprintf(buf, size, fmt, v);
    else snprintf(buf, size, "-");
}

/* Scatter plots drawn with the line chart: each point is a short horizontal dash (two
 * points, then a NaN that lifts the pen). Returns the arrays in *x and *y (caller
 * frees) and their length. */
static size_t dashes(const double *px, const double *py, size_t n, double **x, double **y) {
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (isfinite(px[i]) && isfinite(py[i])) lo = fmin(lo, px[i]), hi = fmax(hi, px[i]);
    double half = hi > lo ? (hi - lo) * 0.004 : (isfinite(lo) && lo != 0 ? fabs(lo) * 0.01 : 0.01);
    *x = malloc((3 * n + 1) * sizeof **x);
    *y = malloc((3 * n + 1) * sizeof **y);
    if (!*x || !*y) return 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(px[i]) || !isfinite(py[i])) continue;
        (*x)[m] = px[i] - half, (*y)[m++] = py[i];
        (*x)[m] = px[i] + half, (*y)[m++] = py[i];
        (*x)[m] = px[i], (*y)[m++] = NAN;
    }
    return m;
}

static void report_charts(qa_report_t *rep, const qa_tca_result *r) {
    size_t n = r->norders;
    double *a = malloc((n + 1) * sizeof *a), *b = malloc((n + 1) * sizeof *b), *c = malloc((n + 1) * sizeof *c);
    double *dx = NULL, *dy = NULL, *ex = NULL, *ey = NULL;
    if (!a || !b || !c) goto done;
    /* IS per order over time (x: decision time). */
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const qa_tca_order *o = &r->orders[i];
        if (o->outcome == QA_TCA_REJECTED) continue;
        a[m] = (double)o->decision_time;
        b[m] = o->bps[QA_TCA_IS_DEC];
        c[m++] = o->bps[QA_TCA_IS_ARR];
    }
    size_t k1 = dashes(a, b, m, &dx, &dy), k2 = dashes(a, c, m, &ex, &ey);
    if (dx && ex) {
        int64_t *t1 = malloc((k1 + 1) * sizeof *t1), *t2 = malloc((k2 + 1) * sizeof *t2);
        if (t1 && t2) {
            for (size_t i = 0; i < k1; i++) t1[i] = (int64_t)dx[i];
            for (size_t i = 0; i < k2; i++) t2[i] = (int64_t)ex[i];
            qa_report_series s[2] = {{"vs decision price", NULL, t1, dy, k1}, {"vs arrival price", NULL, t2, ey, k2}};
            qa_report_chart ch = {"Implementation shortfall per parent order (bps) by decision time", "decision time",
                                  "bps", 0, 0, 0};
            qa_report_line_chart(rep, &ch, s, 2);
        }
        free(t1);
        free(t2);
    }
    free(dx), free(dy), free(ex), free(ey);
    dx = dy = ex = ey = NULL;
    /* Slippage vs interval VWAP. */
    m = 0;
    for (size_t i = 0; i < n; i++)
        if (r->orders[i].outcome != QA_TCA_REJECTED && isfinite(r->orders[i].bps[QA_TCA_VWAP_SLIP]))
            a[m++] = r->orders[i].bps[QA_TCA_VWAP_SLIP];
    const double mk[1] = {r->overall.bps[QA_TCA_VWAP_SLIP]};
    const char *const mkl[1] = {"weighted mean"};
    qa_report_histogram(rep, "Slippage vs interval VWAP per parent order (bps)", "bps", a, m, m > 40 ? 20 : 10, mk,
                        mkl, 1);
    /* Per day: IS and fees. */
    if (r->ndays) {
        char(*lab)[16] = malloc(r->ndays * sizeof *lab);
        const char **lp = malloc(r->ndays * sizeof *lp);
        double *v = malloc(r->ndays * sizeof *v);
        if (lab && lp && v) {
            for (size_t i = 0; i < r->ndays; i++) lp[i] = day_str(r->days[i].day, lab[i], sizeof lab[i]);
            for (size_t i = 0; i < r->ndays; i++) v[i] = r->days[i].bps[QA_TCA_IS_DEC];
            qa_report_bar_chart(rep, "Implementation shortfall vs decision per day (bps, weighted by Q·P_d)", lp, v,
                                r->ndays);
            for (size_t i = 0; i < r->ndays; i++) v[i] = r->days[i].fees;
            qa_report_bar_chart(rep, "Fees per day (currency)", lp, v, r->ndays);
        }
        free(lab), free(lp), free(v);
    }
    /* Fill rate vs participation. */
    m = 0;
    for (size_t i = 0; i < n; i++)
        if (r->orders[i].outcome != QA_TCA_REJECTED)
            a[m] = r->orders[i].participation, b[m++] = r->orders[i].fill_rate;
    size_t k3 = dashes(a, b, m, &dx, &dy);
    if (dx) {
        qa_report_series s = {"parent orders", dx, NULL, dy, k3};
        qa_report_chart ch = {"Fill rate vs participation (one mark per parent order)", "participation (q / interval volume)",
                              "fill rate", 0, 0, 1};
        qa_report_line_chart(rep, &ch, &s, 1);
    }
done:
    free(a), free(b), free(c), free(dx), free(dy);
}

static qa_status write_report(const char *path, const qa_tca_result *r, const char *orders_db, const char *market) {
    qa_report_t *rep = NULL;
    char b1[64], b2[64], b3[64], b4[64], b5[64], b6[64], b7[64], b8[64], b9[64];
    QA_TRY_RET(qa_report_create("qa tca", &rep));
    const qa_tca_day *all = &r->overall;
    qa_report_heading(rep, "Transaction-cost analysis");
    qa_report_kv(rep, "orders", "%s", orders_db);
    qa_report_kv(rep, "market data", "%s", market);
    qa_report_kv(rep, "parents", "%zu filled, %zu partial, %zu unfilled, %zu rejected", all->count[QA_TCA_FILLED],
                 all->count[QA_TCA_PARTIAL], all->count[QA_TCA_UNFILLED], all->count[QA_TCA_REJECTED]);
    qa_report_kv(rep, "shares", "%.10g ordered, %.10g filled", all->shares_ordered, all->shares_filled);
    qa_report_kv(rep, "notional", "%.2f ordered (at decision), %.2f filled", all->notional_ordered,
                 all->notional_filled);
    qa_report_kv(rep, "fees", "%.2f", all->fees);
    for (int k = 0; k < QA_TCA_BPS_COUNT; k++) {
        fmt_opt(b1, sizeof b1, "%.3f", all->bps[k]);
        qa_report_kv(rep, qa_tca_bps_names[k], "%s", b1);
    }
    qa_report_text(rep, "Averages are weighted by ordered notional at the decision price (Q·P_d), over the parents "
                        "where a figure is defined. Positive shortfall and slippage are costs. Definitions: docs/tca.md.");
    report_charts(rep, r);
    qa_report_heading(rep, "Per day (UTC day of the decision)");
    const char *hd[] = {"day", "filled", "partial", "unfilled", "rejected", "notional", "fees", "IS dec bps",
                        "IS arr bps", "vs VWAP bps"};
    qa_report_table_begin(rep, hd, 10);
    for (size_t i = 0; i < r->ndays; i++) {
        const qa_tca_day *d = &r->days[i];
        char c0[16];
        snprintf(b1, sizeof b1, "%zu", d->count[0]);
        snprintf(b2, sizeof b2, "%zu", d->count[1]);
        snprintf(b3, sizeof b3, "%zu", d->count[2]);
        snprintf(b4, sizeof b4, "%zu", d->count[3]);
        snprintf(b5, sizeof b5, "%.2f", d->notional_ordered);
        snprintf(b6, sizeof b6, "%.2f", d->fees);
        fmt_opt(b7, sizeof b7, "%.3f", d->bps[QA_TCA_IS_DEC]);
        fmt_opt(b8, sizeof b8, "%.3f", d->bps[QA_TCA_IS_ARR]);
        fmt_opt(b9, sizeof b9, "%.3f", d->bps[QA_TCA_VWAP_SLIP]);
        const char *row[] = {day_str(d->day, c0, sizeof c0), b1, b2, b3, b4, b5, b6, b7, b8, b9, NULL};
        qa_report_table_row(rep, row);
    }
    qa_report_table_end(rep);
    qa_report_heading(rep, "Parent orders");
    const char *ho[] = {"clordid", "symbol", "side", "algo", "outcome", "qty", "fill rate", "IS dec bps",
                        "IS arr bps", "vs VWAP bps", "fees"};
    qa_report_table_begin(rep, ho, 11);
    for (size_t i = 0; i < r->norders; i++) {
        const qa_tca_order *o = &r->orders[i];
        snprintf(b1, sizeof b1, "%s", o->side > 0 ? "buy" : "sell");
        snprintf(b2, sizeof b2, "%.10g", o->qty);
        fmt_opt(b3, sizeof b3, "%.4f", o->outcome == QA_TCA_REJECTED ? NAN : o->fill_rate);
        fmt_opt(b4, sizeof b4, "%.3f", o->outcome == QA_TCA_REJECTED ? NAN : o->bps[QA_TCA_IS_DEC]);
        fmt_opt(b5, sizeof b5, "%.3f", o->outcome == QA_TCA_REJECTED ? NAN : o->bps[QA_TCA_IS_ARR]);
        fmt_opt(b6, sizeof b6, "%.3f", o->outcome == QA_TCA_REJECTED ? NAN : o->bps[QA_TCA_VWAP_SLIP]);
        fmt_opt(b7, sizeof b7, "%.2f", o->outcome == QA_TCA_REJECTED ? NAN : o->fees);
        const char *row[] = {o->clordid, o->symbol, b1, o->algo, qa_tca_outcome_names[o->outcome], b2, b3, b4, b5, b6,
                             b7, NULL};
        qa_report_table_row(rep, row);
    }
    qa_report_table_end(rep);
    qa_status st = qa_report_write(rep, path);
    qa_report_free(rep);
    return st;
}

qa_status qa_tca_write(const qa_tca_result *r, const char *out_dir, const char *orders_db, const char *market,
                       const qa_tca_filter *f) {
    char p[QA_PATH_MAX];
    QA_TRY_RET(qa_fs_mkdirs(out_dir));
    QA_TRY_RET(qa_path_join(p, out_dir, "tca_orders.csv"));
    QA_TRY_RET(write_orders_csv(p, r));
    QA_TRY_RET(qa_path_join(p, out_dir, "tca_days.csv"));
    QA_TRY_RET(write_days_csv(p, r));
    json_t *s = summary_json(r, orders_db, market, f);
    if (!s) return QA_FAIL(QA_ERR_NOMEM, "summary.json");
    qa_status st = qa_path_join(p, out_dir, "summary.json");
    if (st == QA_OK) st = qa_json_write_file(s, p);
    json_decref(s);
    if (st != QA_OK) return st;
    QA_TRY_RET(qa_path_join(p, out_dir, "report.html"));
    return write_report(p, r, orders_db, market);
}
