/* `qa alt study`: an event study of news/tweet sentiment on a market file.
 *
 * Events are the bars where the alt-data aligner's panels (/alt/<source>_count,
 * _sent_mean, _count_z, made by `qa alt align`) show extreme sentiment or abnormal
 * document volume; each event's abnormal returns come from a market model fitted on an
 * estimation window before it, and are averaged per event group with cross-sectional
 * standard errors and Student-t confidence bands. Definitions, formulas and defaults are
 * in docs/alt-data.md ("Event study").
 *
 * Units: returns are simple per-bar returns (fractions, 0.01 = 1%); offsets (tau, windows)
 * are in bars of the file's time grid relative to day 0, the first bar at whose close the
 * documents were known.
 *
 * Layers: qa_altstudy_compute works on in-memory panels; qa_altstudy_run reads the market
 * file, computes and writes the output directory. Single process. */
#ifndef QA_PIPELINE_ALTSTUDY_H
#define QA_PIPELINE_ALTSTUDY_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Event groups: what triggers an event on bar t of a symbol. */
typedef enum qa_altstudy_group {
    QA_ALTSTUDY_GROUP_POSITIVE = 0, /* sent_mean >= pos and count >= min_docs */
    QA_ALTSTUDY_GROUP_NEGATIVE = 1, /* sent_mean <= -pos and count >= min_docs */
    QA_ALTSTUDY_GROUP_VOLUME = 2,   /* count_z >= z */
    QA_ALTSTUDY_GROUP_COUNT = 3
} qa_altstudy_group;
/* "positive", "negative", "volume", NULL */
extern const char *const qa_altstudy_group_names[];

/* Why a trigger did not become a used event. Checked in this order; each trigger is
 * counted under the first reason that applies. */
typedef enum qa_altstudy_skip {
    QA_ALTSTUDY_SKIP_OVERLAP = 0,     /* 1..post bars after the previous kept trigger of the
                                         same group and symbol */
    QA_ALTSTUDY_SKIP_WINDOW_END = 1,  /* day +post lies beyond the last bar of the file */
    QA_ALTSTUDY_SKIP_ESTIMATION = 2,  /* fewer than min_est valid (return, market) pairs in
                                         the estimation window (also: window before the data) */
    QA_ALTSTUDY_SKIP_FLAT_MARKET = 3, /* the market return is constant over those pairs */
    QA_ALTSTUDY_SKIP_MISSING = 4,     /* a return or market return in [-pre, +post] is NaN */
    QA_ALTSTUDY_SKIP_COUNT = 5
} qa_altstudy_skip;
/* "overlap", "window_end", "estimation", "flat_market", "missing_return", NULL */
extern const char *const qa_altstudy_skip_names[];

/* The CAR windows tested with a cross-sectional t statistic. */
typedef enum qa_altstudy_window {
    QA_ALTSTUDY_WIN_0_0 = 0,   /* [0, 0] */
    QA_ALTSTUDY_WIN_0_1 = 1,   /* [0, +1] */
    QA_ALTSTUDY_WIN_M1_1 = 2,  /* [-1, +1] */
    QA_ALTSTUDY_WIN_0_5 = 3,   /* [0, +5] */
    QA_ALTSTUDY_WIN_0_POST = 4, /* [0, +post] */
    QA_ALTSTUDY_WIN_ALL = 5,   /* [-pre, +post]: the whole event window */
    QA_ALTSTUDY_WIN_COUNT = 6
} qa_altstudy_window;

typedef struct qa_altstudy_cfg {
    const char *data;   /* market file (qa_altstudy_run only) */
    const char *source; /* alt panel prefix: "news" or "tweets" (letters, digits, '_') */
    const char *market; /* "equal" (equal-weighted mean return of all symbols) or a symbol */
    double pos;         /* sentiment threshold in (0, 1] */
    double z;           /* abnormal-volume z-score threshold */
    long min_docs;      /* documents a sentiment event needs, >= 1 */
    int pre, post;      /* event window [-pre, +post], pre >= 0, post >= 0 */
    int est_len;        /* estimation window length in bars, >= 2 */
    int est_end;        /* estimation window [-est_end - est_len + 1, -est_end], est_end > pre */
    int min_est;        /* valid pairs the market model needs, in [2, est_len] */
} qa_altstudy_cfg;

/* Defaults: market "equal", pos 0.5, z 2, min_docs 1, pre 5, post 10, est_len 120,
 * est_end 11, min_est 60; data and source NULL. */
void qa_altstudy_cfg_default(qa_altstudy_cfg *c);
/* QA_ERR_CONFIG naming the offending option ("--min-est 200: ...") when a field is out of
 * range or the fields disagree; data is not checked. */
qa_status qa_altstudy_cfg_check(const qa_altstudy_cfg *c);

/* In-memory inputs: S x T row-major panels (index s * T + t) on one time grid. The
 * arrays are read during qa_altstudy_compute only. */
typedef struct qa_altstudy_data {
    size_t S, T;
    const char *const *symbols; /* [S] */
    const int64_t *time;        /* [T] UTC ns, increasing */
    const double *close;        /* close prices, NaN where the symbol has no bar */
    const double *count;        /* documents per bar (0 with a bar and none, NaN without bar) */
    const double *sent_mean;    /* mean compound sentiment, NaN when count is 0 */
    const double *count_z;      /* count z-score, NaN when undefined */
} qa_altstudy_data;

/* One used event. */
typedef struct qa_altstudy_event {
    size_t symbol;           /* index into the data's symbols */
    size_t t;                /* day 0: column of the time grid */
    qa_altstudy_group group;
    double value;            /* the triggering sent_mean (positive, negative) or count_z */
    double alpha, beta;      /* market model r = alpha + beta m, alpha per bar */
    size_t n_est;            /* valid pairs the model was fitted on */
    double car_0_1;          /* CAR over [0, +1] */
    double car_all;          /* CAR over [-pre, +post] */
} qa_altstudy_event;

/* A window's CAR statistics over the group's N events: car = mean CAR, se = its sample
 * standard deviation (ddof 1) / sqrt(N), t = car / se, p = two-sided Student-t(N - 1)
 * p-value. `avail` is 0 (and the numbers NaN) when the window does not fit in
 * [-pre, +post]; se, t, p are NaN when N < 2 or the CARs are all equal. */
typedef struct qa_altstudy_win_stat {
    int from, to;
    int avail;
    double car, se, t, p;
} qa_altstudy_win_stat;

typedef struct qa_altstudy_group_stats {
    size_t triggers;                        /* bars meeting the group's condition */
    size_t n;                               /* used events */
    size_t skipped[QA_ALTSTUDY_SKIP_COUNT]; /* triggers - n, by reason */
    double tcrit;                           /* t_{0.975, n-1}; NaN when n < 2 */
    /* [L] each, index i is tau = i - pre (views into the result's one buffer):
     * AAR, CAAR (mean of CAR from -pre to tau), SE of CAAR, band CAAR -+ tcrit SE.
     * NaN where undefined (no events; SE and band need n >= 2). */
    double *aar, *caar, *se, *lo, *hi;
    qa_altstudy_win_stat win[QA_ALTSTUDY_WIN_COUNT];
} qa_altstudy_group_stats;

typedef struct qa_altstudy_result {
    int pre, post;
    size_t L;                  /* pre + post + 1 */
    long market;               /* symbol index of the market, -1 for equal-weighted */
    qa_altstudy_group_stats group[QA_ALTSTUDY_GROUP_COUNT];
    qa_altstudy_event *events; /* used events, by group, then symbol, then day */
    size_t nevents;
    double *ar;                /* [nevents * L]: abnormal returns of event e at tau = i - pre */
    double *buf_;              /* the allocation behind the group views */
} qa_altstudy_result;

void qa_altstudy_result_init(qa_altstudy_result *r);
/* Frees what a result owns and re-initialises it. Accepts NULL. */
void qa_altstudy_result_free(qa_altstudy_result *r);

/* Runs the study on in-memory panels. QA_ERR_NOT_FOUND when cfg->market is neither
 * "equal" nor a symbol. On success *out (initialised or freed by the caller) owns the
 * result; on failure it is unchanged. Symbols equal to the market symbol have no
 * events (their abnormal return is zero by construction). */
qa_status qa_altstudy_compute(const qa_altstudy_cfg *c, const qa_altstudy_data *d, qa_altstudy_result *out);

/* Reads c->data (bars/close and alt/<source>_{count,sent_mean,count_z}: a missing alt
 * panel is QA_ERR_NOT_FOUND pointing at `qa alt align`), computes, and writes into
 * out_dir (created): summary.json, events.csv, report.html, plus run.json and run.log
 * (pipeline/run/rundir.h; argv is recorded there). Files appear atomically. `res` may be
 * NULL; otherwise it receives the result as qa_altstudy_compute's *out. */
qa_status qa_altstudy_run(const qa_altstudy_cfg *c, const char *out_dir, int argc, char **argv,
                          qa_altstudy_result *res);

#ifdef __cplusplus
}
#endif
#endif
