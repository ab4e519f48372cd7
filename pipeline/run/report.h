/* Self-contained HTML reports with inline SVG charts (readable offline, no scripts).
 *
 * Every batch run writes a report.html: line charts (equity, drawdown, loss curves),
 * heatmaps (Sharpe over two parameters), histograms with markers (loss distribution with
 * VaR/ES), bar charts (contributions by position) and tables. Build a report with the
 * calls below in order; qa_report_write writes it atomically. */
#ifndef QA_PIPELINE_REPORT_H
#define QA_PIPELINE_REPORT_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_report qa_report_t;

/* One line of a line chart. x is either timestamps (UTC ns; `time_x` set on the chart)
 * or plain numbers; NaN y values leave gaps. Arrays are read during the call only. */
typedef struct qa_report_series {
    const char *name;
    const double *x;    /* NULL: 0, 1, 2, ... */
    const int64_t *t;   /* timestamps instead of x (takes precedence) */
    const double *y;
    size_t n;
} qa_report_series;

typedef struct qa_report_chart {
    const char *title;
    const char *xlabel;
    const char *ylabel;
    int log_y;        /* logarithmic y axis (positive values only) */
    int fill;         /* fill the area between the first series and zero (drawdowns) */
    int percent_y;    /* format y ticks as percentages (values are fractions) */
} qa_report_chart;

qa_status qa_report_create(const char *title, qa_report_t **out);
void qa_report_free(qa_report_t *r);

void qa_report_heading(qa_report_t *r, const char *text);
/* A paragraph; the text is escaped. */
void qa_report_text(qa_report_t *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Key/value lines shown as a compact two-column table. */
void qa_report_kv(qa_report_t *r, const char *key, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Tables: begin with `ncols` header cells, then rows given as NULL-terminated arrays of
 * cell texts (escaped here), then end. */
void qa_report_table_begin(qa_report_t *r, const char *const *headers, size_t ncols);
void qa_report_table_row(qa_report_t *r, const char *const *cells);
void qa_report_table_end(qa_report_t *r);

void qa_report_line_chart(qa_report_t *r, const qa_report_chart *c, const qa_report_series *series, size_t nseries);
/* values[i * ncols + j]; NaN cells are grey. Diverging colours around `center`. */
void qa_report_heatmap(qa_report_t *r, const char *title, const double *values, size_t nrows, size_t ncols,
                       const char *const *row_labels, const char *const *col_labels, const char *row_title,
                       const char *col_title, double center);
/* Histogram of n values in `bins` bins with labelled vertical markers (e.g. VaR, ES). */
void qa_report_histogram(qa_report_t *r, const char *title, const char *xlabel, const double *values, size_t n,
                         size_t bins, const double *markers, const char *const *marker_labels, size_t nmarkers);
/* Horizontal bars, positive and negative, one per label. */
void qa_report_bar_chart(qa_report_t *r, const char *title, const char *const *labels, const double *values,
                         size_t n);

/* Writes the HTML document to `path` atomically. */
qa_status qa_report_write(qa_report_t *r, const char *path);
/* The document so far (for tests). */
const char *qa_report_html(qa_report_t *r);

/* "1.23%", "-0.5", "12.3k"... as used on axes (exposed for tests). */
void qa_report_nice_ticks(double lo, double hi, int target, double *first, double *step, int *count);

#ifdef __cplusplus
}
#endif
#endif
