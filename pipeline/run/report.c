/* HTML + inline SVG report builder. */
#include "pipeline/run/report.h"

#include <math.h>    /* floor, log10, pow, isnan */
#include <stdarg.h>  /* va_list */
#include <stdio.h>   /* vsnprintf */
#include <stdlib.h>  /* calloc */
#include <string.h>  /* strlen */

#include "common/fs.h"           /* atomic write */
#include "common/strbuf.h"       /* the document text */
#include "common/timeparse.h"  /* date labels */

#define W 760.0
#define H 300.0
#define ML 64.0 /* margins */
#define MR 16.0
#define MT 30.0
#define MB 40.0

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
#define NPALETTE (sizeof palette / sizeof palette[0])

struct qa_report {
    qa_strbuf doc;
    int in_kv;
};

static const char *style =
    "body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:980px;"
    "color:#222}h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}"
    "table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;"
    "text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}"
    "table.kv td{border:none;padding:1px 10px 1px 0}svg{display:block;margin:8px 0}"
    ".axis{font-size:11px;fill:#555}.title{font-size:13px;font-weight:600;fill:#222}";

qa_status qa_report_create(const char *title, qa_report_t **out) {
    qa_report_t *r = calloc(1, sizeof *r);
    if (!r) return QA_FAIL(QA_ERR_NOMEM, "report");
    qa_strbuf_init(&r->doc);
    qa_strbuf_printf(&r->doc, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    qa_strbuf_append_escaped(&r->doc, title);
    qa_strbuf_printf(&r->doc, "</title><style>%s</style></head><body>\n<h1>", style);
    qa_strbuf_append_escaped(&r->doc, title);
    qa_strbuf_append(&r->doc, "</h1>\n");
    *out = r;
    return QA_OK;
}

void qa_report_free(qa_report_t *r) {
    if (!r) return;
    qa_strbuf_free(&r->doc);
    free(r);
}

static void end_kv(qa_report_t *r) {
    if (r->in_kv) qa_strbuf_append(&r->doc, "</table>\n");
    r->in_kv = 0;
}

void qa_report_heading(qa_report_t *r, const char *text) {
    end_kv(r);
    qa_strbuf_append(&r->doc, "<h2>");
    qa_strbuf_append_escaped(&r->doc, text);
    qa_strbuf_append(&r->doc, "</h2>\n");
}

/* Appends the formatted text, HTML-escaped. */
static void append_escaped_v(qa_strbuf *b, const char *fmt, va_list ap) {
    char buf[4096];
    vsnprintf(buf, sizeof buf, fmt, ap);
    qa_strbuf_append_escaped(b, buf);
}

void qa_report_text(qa_report_t *r, const char *fmt, ...) {
    end_kv(r);
    va_list ap;
    va_start(ap, fmt);
    qa_strbuf_append(&r->doc, "<p>");
    append_escaped_v(&r->doc, fmt, ap);
    qa_strbuf_append(&r->doc, "</p>\n");
    va_end(ap);
}

void qa_report_kv(qa_report_t *r, const char *key, const char *fmt, ...) {
    if (!r->in_kv) qa_strbuf_append(&r->doc, "<table class=\"kv\">\n");
    r->in_kv = 1;
    va_list ap;
    va_start(ap, fmt);
    qa_strbuf_append(&r->doc, "<tr><td><b>");
    qa_strbuf_append_escaped(&r->doc, key);
    qa_strbuf_append(&r->doc, "</b></td><td>");
    append_escaped_v(&r->doc, fmt, ap);
    qa_strbuf_append(&r->doc, "</td></tr>\n");
    va_end(ap);
}

void qa_report_table_begin(qa_report_t *r, const char *const *headers, size_t ncols) {
    end_kv(r);
    qa_strbuf_append(&r->doc, "<table><tr>");
    for (size_t i = 0; i < ncols; i++) {
        qa_strbuf_append(&r->doc, "<th>");
        qa_strbuf_append_escaped(&r->doc, headers[i]);
        qa_strbuf_append(&r->doc, "</th>");
    }
    qa_strbuf_append(&r->doc, "</tr>\n");
    r->in_kv = 0;
    /* remember the width in the doc-less way: rows pass NULL-terminated arrays */
}

void qa_report_table_row(qa_report_t *r, const char *const *cells) {
    qa_strbuf_append(&r->doc, "<tr>");
    for (size_t i = 0; cells[i]; i++) {
        qa_strbuf_append(&r->doc, "<td>");
        qa_strbuf_append_escaped(&r->doc, cells[i]);
        qa_strbuf_append(&r->doc, "</td>");
    }
    qa_strbuf_append(&r->doc, "</tr>\n");
}

void qa_report_table_end(qa_report_t *r) { qa_strbuf_append(&r->doc, "</table>\n"); }

/* ---- axes --------------------------------------------------------------------------- */

void qa_report_nice_ticks(double lo, double hi, int target, double *first, double *step, int *count) {
    if (!(hi > lo)) {
        hi = lo + 1;
        lo -= 1;
    }
    double raw = (hi - lo) / (target > 1 ? target : 2);
    double mag = pow(10, floor(log10(raw)));
    double norm = raw / mag;
    double s = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10;
    s *= mag;
    double f = ceil(lo / s - 1e-9) * s;
    int n = (int)floor((hi - f) / s + 1e-9) + 1;
    *first = f;
    *step = s;
    *count = n < 0 ? 0 : n;
}

static void fmt_num(char *buf, size_t size, double v, double step, int percent) {
    if (percent) {
        double p = v * 100, sp = step * 100;
        int dec = sp >= 1 ? 0 : sp >= 0.1 ? 1 : 2;
        snprintf(buf, size, "%.*f%%", dec, p);
        return;
    }
    double a = fabs(v);
    if (a >= 1e9) snprintf(buf, size, "%.3gG", v / 1e9);
    else if (a >= 1e6) snprintf(buf, size, "%.3gM", v / 1e6);
    else if (a >= 1e4) snprintf(buf, size, "%.3gk", v / 1e3);
    else {
        int dec = step >= 1 ? 0 : step >= 0.1 ? 1 : step >= 0.01 ? 2 : step >= 0.001 ? 3 : 4;
        snprintf(buf, size, "%.*f", dec, v);
    }
}

static void svg_begin(qa_strbuf *b, const char *title) {
    qa_strbuf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n",
                     W, H, W, H);
    qa_strbuf_append(b, "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n");
    if (title) {
        qa_strbuf_printf(b, "<text class=\"title\" x=\"%.0f\" y=\"18\">", ML);
        qa_strbuf_append_escaped(b, title);
        qa_strbuf_append(b, "</text>\n");
    }
}

static void y_axis(qa_strbuf *b, double lo, double hi, int log_y, int percent, const char *label) {
    double first, step;
    int n;
    double tlo = log_y ? log10(lo) : lo, thi = log_y ? log10(hi) : hi;
    qa_report_nice_ticks(tlo, thi, 5, &first, &step, &n);
    if (log_y && step < 1) {
        step = 1;
        first = ceil(tlo);
        n = (int)floor(thi - first) + 1;
    }
    /* A log axis spanning less than two decades gets ticks at 1, 2 and 5 times powers of
     * ten (decade ticks alone would leave one or two labels). */
    double ticks[64];
    int nt = 0;
    if (log_y && thi - tlo < 2.0) {
        static const double mant[3] = {1.0, 2.0, 5.0};
        for (int e = (int)floor(tlo); e <= (int)ceil(thi) && nt < 64; e++)
            for (int k = 0; k < 3 && nt < 64; k++) {
                double v = (double)e + log10(mant[k]);
                if (v >= tlo && v <= thi) ticks[nt++] = v;
            }
    } else {
        for (int i = 0; i < n && nt < 64; i++) ticks[nt++] = first + i * step;
    }
    for (int i = 0; i < nt; i++) {
        double v = ticks[i];
        double y = MT + (H - MT - MB) * (1 - (v - tlo) / (thi - tlo));
        char txt[32];
        fmt_num(txt, sizeof txt, log_y ? pow(10, v) : v, log_y ? pow(10, v) : step, percent);
        qa_strbuf_printf(b, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>", ML, W - MR, y, y);
        qa_strbuf_printf(b, "<text class=\"axis\" x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", ML - 6, y + 4, txt);
    }
    if (label) {
        qa_strbuf_printf(b, "<text class=\"axis\" transform=\"translate(14,%.0f) rotate(-90)\" text-anchor=\"middle\">",
                         MT + (H - MT - MB) / 2);
        qa_strbuf_append_escaped(b, label);
        qa_strbuf_append(b, "</text>\n");
    }
}

static void x_axis_numeric(qa_strbuf *b, double lo, double hi, const char *label) {
    double first, step;
    int n;
    qa_report_nice_ticks(lo, hi, 8, &first, &step, &n);
    for (int i = 0; i < n; i++) {
        double v = first + i * step;
        double x = ML + (W - ML - MR) * (v - lo) / (hi - lo);
        char txt[32];
        fmt_num(txt, sizeof txt, v, step, 0);
        qa_strbuf_printf(b, "<text class=\"axis\" x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>\n", x, H - MB + 16, txt);
    }
    if (label) {
        qa_strbuf_printf(b, "<text class=\"axis\" x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">", ML + (W - ML - MR) / 2, H - 6);
        qa_strbuf_append_escaped(b, label);
        qa_strbuf_append(b, "</text>\n");
    }
}

static void x_axis_time(qa_strbuf *b, int64_t lo, int64_t hi) {
    /* Up to ~8 date labels at even spacing, formatted as dates or date-times. */
    const int n = 7;
    for (int i = 0; i <= n; i++) {
        int64_t t = lo + (int64_t)((double)(hi - lo) * i / n);
        double x = ML + (W - ML - MR) * (double)i / n;
        char txt[40];
        qa_time_format_iso(t, txt, sizeof txt);
        if (hi - lo > 3LL * 365 * 86400 * 1000000000LL) txt[7] = '\0';        /* YYYY-MM */
        else if (hi - lo > 20LL * 86400 * 1000000000LL) txt[10] = '\0';      /* YYYY-MM-DD */
        else if (strlen(txt) > 16) { memmove(txt, txt + 5, strlen(txt + 5) + 1); txt[11] = '\0'; } /* MM-DDTHH:MM */
        /* The last label ends at the plot's right edge so it is not clipped. */
        qa_strbuf_printf(b, "<text class=\"axis\" x=\"%.1f\" y=\"%.0f\" text-anchor=\"%s\">%s</text>\n", x, H - MB + 16,
                         i == n ? "end" : "middle", txt);
    }
}

/* ---- charts ------------------------------------------------------------------------- */

static double sx(const qa_report_series *s, size_t i) {
    return s->t ? (double)s->t[i] : s->x ? s->x[i] : (double)i;
}

void qa_report_line_chart(qa_report_t *r, const qa_report_chart *c, const qa_report_series *series, size_t nseries) {
    end_kv(r);
    qa_strbuf *b = &r->doc;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (size_t k = 0; k < nseries; k++)
        for (size_t i = 0; i < series[k].n; i++) {
            double y = series[k].y[i];
            if (isnan(y) || (c->log_y && y <= 0)) continue;
            double x = sx(&series[k], i);
            xlo = fmin(xlo, x);
            xhi = fmax(xhi, x);
            ylo = fmin(ylo, y);
            yhi = fmax(yhi, y);
        }
    svg_begin(b, c->title);
    if (!(xhi > xlo) || !(yhi >= ylo)) {
        qa_strbuf_append(b, "<text class=\"axis\" x=\"100\" y=\"100\">no data</text></svg>\n");
        return;
    }
    if (c->fill) yhi = fmax(yhi, 0), ylo = fmin(ylo, 0);
    if (yhi == ylo) yhi = ylo + (ylo == 0 ? 1 : fabs(ylo) * 0.1);
    double pad = c->log_y ? 0 : (yhi - ylo) * 0.05;
    ylo -= c->fill ? 0 : pad;
    yhi += pad;
    y_axis(b, ylo, yhi, c->log_y, c->percent_y, c->ylabel);
    int time_x = nseries > 0 && series[0].t;
    if (time_x) x_axis_time(b, (int64_t)xlo, (int64_t)xhi);
    else x_axis_numeric(b, xlo, xhi, c->xlabel);
    double tlo = c->log_y ? log10(ylo) : ylo, thi = c->log_y ? log10(yhi) : yhi;
    for (size_t k = 0; k < nseries; k++) {
        const qa_report_series *s = &series[k];
        /* Thin long series to ~2 points per pixel column: charts stay small. */
        size_t stride = s->n > 1600 ? s->n / 1600 : 1;
        qa_strbuf_printf(b, "<path fill=\"%s\" fill-opacity=\"%s\" stroke=\"%s\" stroke-width=\"1.3\" d=\"",
                         (c->fill && k == 0) ? palette[k % NPALETTE] : "none", (c->fill && k == 0) ? "0.25" : "1",
                         palette[k % NPALETTE]);
        int pen = 0;
        double first_x = 0, last_x = 0;
        for (size_t i = 0; i < s->n; i += stride) {
            double y = s->y[i];
            if (isnan(y) || (c->log_y && y <= 0)) {
                pen = 0;
                continue;
            }
            double px = ML + (W - ML - MR) * (sx(s, i) - xlo) / (xhi - xlo);
            double ty = c->log_y ? log10(y) : y;
            double py = MT + (H - MT - MB) * (1 - (ty - tlo) / (thi - tlo));
            if (!pen && c->fill && k == 0) {
                double zy = MT + (H - MT - MB) * (1 - (0 - tlo) / (thi - tlo));
                qa_strbuf_printf(b, "M%.1f,%.1f L%.1f,%.1f ", px, zy, px, py);
                first_x = px;
            } else {
                qa_strbuf_printf(b, "%c%.1f,%.1f ", pen ? 'L' : 'M', px, py);
            }
            last_x = px;
            pen = 1;
        }
        if (c->fill && k == 0) {
            double zy = MT + (H - MT - MB) * (1 - (0 - tlo) / (thi - tlo));
            qa_strbuf_printf(b, "L%.1f,%.1f Z", last_x, zy);
            (void)first_x;
        }
        qa_strbuf_append(b, "\"/>\n");
        if (s->name) {
            double ly = MT + 4 + 14.0 * (double)k;
            qa_strbuf_printf(b, "<rect x=\"%.0f\" y=\"%.1f\" width=\"10\" height=\"3\" fill=\"%s\"/>", ML + 10, ly, palette[k % NPALETTE]);
            qa_strbuf_printf(b, "<text class=\"axis\" x=\"%.0f\" y=\"%.1f\">", ML + 24, ly + 4);
            qa_strbuf_append_escaped(b, s->name);
            qa_strbuf_append(b, "</text>\n");
        }
    }
    qa_strbuf_printf(b, "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"#999\"/>\n", ML, MT,
                     W - ML - MR, H - MT - MB);
    qa_strbuf_append(b, "</svg>\n");
}

/* Diverging red (below center) - white - green (above) colour. */
static void heat_color(char *buf, size_t size, double v, double center, double span) {
    if (isnan(v)) {
        snprintf(buf, size, "#cccccc");
        return;
    }
    double z = span > 0 ? (v - center) / span : 0;
    if (z > 1) z = 1;
    if (z < -1) z = -1;
    int rr, gg, bb;
    if (z >= 0) {
        rr = (int)(255 - 200 * z);
        gg = (int)(255 - 80 * z);
        bb = (int)(255 - 200 * z);
    } else {
        rr = (int)(255 + 40 * z);
        gg = (int)(255 + 200 * z);
        bb = (int)(255 + 200 * z);
    }
    snprintf(buf, size, "#%02x%02x%02x", rr, gg, bb);
}

/* An SVG chart of the report's width and height h on a white ground, with its title. */
static void svg_open(qa_strbuf *b, double h, const char *title) {
    qa_strbuf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\">\n", W, h);
    qa_strbuf_append(b, "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n");
    if (!title) return;
    qa_strbuf_printf(b, "<text class=\"title\" x=\"%.0f\" y=\"18\">", ML);
    qa_strbuf_append_escaped(b, title);
    qa_strbuf_append(b, "</text>\n");
}

void qa_report_heatmap(qa_report_t *r, const char *title, const double *values, size_t nrows, size_t ncols,
                       const char *const *row_labels, const char *const *col_labels, const char *row_title,
                       const char *col_title, double center) {
    end_kv(r);
    qa_strbuf *b = &r->doc;
    double span = 0;
    for (size_t i = 0; i < nrows * ncols; i++)
        if (!isnan(values[i])) span = fmax(span, fabs(values[i] - center));
    double h = fmax(H, MT + MB + 16.0 * (double)nrows);
    svg_open(b, h, title);
    double cw = (W - ML - MR - 60) / (double)(ncols ? ncols : 1), chh = (h - MT - MB) / (double)(nrows ? nrows : 1);
    for (size_t i = 0; i < nrows; i++) {
        for (size_t j = 0; j < ncols; j++) {
            char col[16];
            double v = values[i * ncols + j];
            heat_color(col, sizeof col, v, center, span);
            double x = ML + cw * (double)j, y = MT + chh * (double)i;
            qa_strbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>", x, y, cw, chh, col);
            qa_strbuf_append_escaped(b, row_labels ? row_labels[i] : "");
            qa_strbuf_append(b, " / ");
            qa_strbuf_append_escaped(b, col_labels ? col_labels[j] : "");
            qa_strbuf_printf(b, ": %.4g</title></rect>", v);
            if (cw > 34 && chh > 12 && !isnan(v))
                qa_strbuf_printf(b, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.2f</text>",
                                 x + cw / 2, y + chh / 2 + 4, v);
        }
        if (row_labels) {
            qa_strbuf_printf(b, "<text class=\"axis\" x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">", ML - 4,
                             MT + chh * (double)i + chh / 2 + 4);
            qa_strbuf_append_escaped(b, row_labels[i]);
            qa_strbuf_append(b, "</text>\n");
        }
    }
    size_t every = ncols > 24 ? ncols / 12 : 1;
    for (size_t j = 0; col_labels && j < ncols; j += every) {
        qa_strbuf_printf(b, "<text class=\"axis\" x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">", ML + cw * (double)j + cw / 2,
                         h - MB + 14);
        qa_strbuf_append_escaped(b, col_labels[j]);
        qa_strbuf_append(b, "</text>\n");
    }
    if (col_title) {
        qa_strbuf_printf(b, "<text class=\"axis\" x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">", ML + (W - ML - MR - 60) / 2, h - 8);
        qa_strbuf_append_escaped(b, col_title);
        qa_strbuf_append(b, "</text>\n");
    }
    if (row_title) {
        qa_strbuf_printf(b, "<text class=\"axis\" transform=\"translate(12,%.0f) rotate(-90)\" text-anchor=\"middle\">",
                         MT + (h - MT - MB) / 2);
        qa_strbuf_append_escaped(b, row_title);
        qa_strbuf_append(b, "</text>\n");
    }
    /* colour scale */
    for (int k = 0; k <= 10; k++) {
        char col[16];
        double v = center - span + 2 * span * k / 10.0;
        heat_color(col, sizeof col, v, center, span);
        double y = MT + (h - MT - MB) * (1 - k / 10.0) - (h - MT - MB) / 11;
        qa_strbuf_printf(b, "<rect x=\"%.0f\" y=\"%.1f\" width=\"14\" height=\"%.1f\" fill=\"%s\"/>", W - MR - 44, y,
                         (h - MT - MB) / 11 + 1, col);
        if (k % 5 == 0)
            qa_strbuf_printf(b, "<text class=\"axis\" x=\"%.0f\" y=\"%.1f\">%.2f</text>", W - MR - 26, y + 10, v);
    }
    qa_strbuf_append(b, "</svg>\n");
}

void qa_report_histogram(qa_report_t *r, const char *title, const char *xlabel, const double *values, size_t n,
                         size_t bins, const double *markers, const char *const *marker_labels, size_t nmarkers) {
    end_kv(r);
    qa_strbuf *b = &r->doc;
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (!isnan(values[i])) lo = fmin(lo, values[i]), hi = fmax(hi, values[i]);
    for (size_t m = 0; m < nmarkers; m++)
        if (!isnan(markers[m])) lo = fmin(lo, markers[m]), hi = fmax(hi, markers[m]);
    svg_begin(b, title);
    if (!(hi > lo) || bins == 0) {
        qa_strbuf_append(b, "<text class=\"axis\" x=\"100\" y=\"100\">no data</text></svg>\n");
        return;
    }
    size_t *count = calloc(bins, sizeof *count);
    if (!count) {
        qa_strbuf_append(b, "</svg>\n");
        return;
    }
    size_t cmax = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(values[i])) continue;
        size_t k = (size_t)((values[i] - lo) / (hi - lo) * (double)bins);
        if (k >= bins) k = bins - 1;
        if (++count[k] > cmax) cmax = count[k];
    }
    y_axis(b, 0, (double)cmax * 1.05, 0, 0, "count");
    x_axis_numeric(b, lo, hi, xlabel);
    double bw = (W - ML - MR) / (double)bins;
    for (size_t k = 0; k < bins; k++) {
        double bh = (H - MT - MB) * (double)count[k] / ((double)cmax * 1.05);
        qa_strbuf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#1f77b4\" fill-opacity=\"0.7\"/>",
                         ML + bw * (double)k, H - MB - bh, bw > 1.5 ? bw - 0.5 : bw, bh);
    }
    qa_strbuf_append(b, "\n");
    for (size_t m = 0; m < nmarkers; m++) {
        if (isnan(markers[m])) continue;
        double x = ML + (W - ML - MR) * (markers[m] - lo) / (hi - lo);
        qa_strbuf_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"%s\" stroke-width=\"1.5\" "
                            "stroke-dasharray=\"4,3\"/>", x, x, MT, H - MB, palette[(m + 1) % NPALETTE]);
        /* labels of markers in the right half go on their left, so they stay inside the chart */
        int left = x > 0.5 * W;
        qa_strbuf_printf(b, "<text class=\"axis\" x=\"%.1f\" y=\"%.0f\" fill=\"%s\"%s>", left ? x - 3 : x + 3,
                         MT + 12 + 13.0 * (double)m, palette[(m + 1) % NPALETTE], left ? " text-anchor=\"end\"" : "");
        qa_strbuf_append_escaped(b, marker_labels ? marker_labels[m] : "");
        qa_strbuf_append(b, "</text>\n");
    }
    free(count);
    qa_strbuf_append(b, "</svg>\n");
}

void qa_report_bar_chart(qa_report_t *r, const char *title, const char *const *labels, const double *values, size_t n) {
    end_kv(r);
    qa_strbuf *b = &r->doc;
    double lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(values[i])) lo = fmin(lo, values[i]), hi = fmax(hi, values[i]);
    if (hi == lo) hi = lo + 1;
    double h = fmax(120, MT + MB + 18.0 * (double)n);
    svg_open(b, h, title);
    double left = 120, right = W - 90;
    double zx = left + (right - left) * (0 - lo) / (hi - lo);
    for (size_t i = 0; i < n; i++) {
        double y = MT + 18.0 * (double)i;
        double v = isnan(values[i]) ? 0 : values[i];
        double x = left + (right - left) * (v - lo) / (hi - lo);
        qa_strbuf_printf(b, "<text class=\"axis\" x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">", left - 6, y + 12);
        qa_strbuf_append_escaped(b, labels[i]);
        qa_strbuf_printf(b, "</text><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"13\" fill=\"%s\"/>", fmin(x, zx), y + 2,
                         fabs(x - zx), v >= 0 ? "#d62728" : "#2ca02c");
        qa_strbuf_printf(b, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\">%.4g</text>\n", fmax(x, zx) + 4, y + 12, values[i]);
    }
    qa_strbuf_printf(b, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" y2=\"%.0f\" stroke=\"#666\"/>\n", zx, zx, MT, h - MB + 10);
    qa_strbuf_append(b, "</svg>\n");
}

const char *qa_report_html(qa_report_t *r) { return qa_strbuf_str(&r->doc); }

qa_status qa_report_write(qa_report_t *r, const char *path) {
    end_kv(r);
    qa_strbuf_append(&r->doc, "<p style=\"color:#888;font-size:11px\">Generated by QuantumAlpha (qa).</p>\n</body></html>\n");
    qa_status st = qa_strbuf_status(&r->doc);
    if (st != QA_OK) return st;
    return qa_fs_write_all(path, r->doc.data, r->doc.len);
}
