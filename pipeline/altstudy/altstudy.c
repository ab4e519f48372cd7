/* Event study of alt-data sentiment: triggers, market-model abnormal returns, per-group
 * aggregation with Student-t bands, and the run directory (summary.json, events.csv,
 * report.html). Definitions are in docs/alt-data.md ("Event study"). */
#include "pipeline/altstudy/altstudy.h"

#include <assert.h>  /* static_assert */
#include <math.h>    /* NAN, isfinite, sqrt, fabs */
#include <stdio.h>   /* snprintf, fprintf */
#include <stdlib.h>  /* malloc, realloc, free */
#include <string.h>  /* strcmp, memset, strlen */
#include <time.h>    /* gmtime_r: event dates */

#include <jansson.h> /* summary.json */

#include "common/fs.h"           /* events.csv written atomically */
#include "common/json.h"         /* qa_json_real: NaN as null */
#include "common/log.h"          /* progress line in run.log */
#include "datasets/store.h"      /* the market file */
#include "kernels/risk.h"        /* qa_risk_t_ppf, qa_risk_t_cdf: Student-t quantile and CDF */
#include "pipeline/run/report.h" /* report.html */
#include "pipeline/run/rundir.h" /* the output directory, run.json, run.log */

const char *const qa_altstudy_group_names[] = {"positive", "negative", "volume", NULL};
static_assert(sizeof qa_altstudy_group_names / sizeof qa_altstudy_group_names[0] == QA_ALTSTUDY_GROUP_COUNT + 1,
              "group names");
const char *const qa_altstudy_skip_names[] = {"overlap", "window_end", "estimation", "flat_market", "missing_return",
                                              NULL};
static_assert(sizeof qa_altstudy_skip_names / sizeof qa_altstudy_skip_names[0] == QA_ALTSTUDY_SKIP_COUNT + 1,
              "skip names");

/* The fixed windows; QA_ALTSTUDY_WIN_0_POST and _ALL depend on the configuration. */
static const int win_fixed[4][2] = {{0, 0}, {0, 1}, {-1, 1}, {0, 5}};

/* The band's two-sided confidence level: t_{(1 + 0.95) / 2, N - 1}. */
#define BAND_P 0.975

/* ---- configuration ------------------------------------------------------------------- */

void qa_altstudy_cfg_default(qa_altstudy_cfg *c) {
    memset(c, 0, sizeof *c);
    c->market = "equal";
    c->pos = 0.5;
    c->z = 2.0;
    c->min_docs = 1;
    c->pre = 5;
    c->post = 10;
    c->est_len = 120;
    c->est_end = 11;
    c->min_est = 60;
}

/* Upper bound on any offset: keeps every index computation far from overflow. */
#define MAX_BARS 1000000

qa_status qa_altstudy_cfg_check(const qa_altstudy_cfg *c) {
    if (!c->source || !*c->source || strlen(c->source) > 64)
        return QA_FAIL(QA_ERR_CONFIG, "--source: give the alt panel prefix (news or tweets)");
    for (const char *p = c->source; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return QA_FAIL(QA_ERR_CONFIG, "--source '%s': letters, digits and '_' only", c->source);
    if (!c->market || !*c->market) return QA_FAIL(QA_ERR_CONFIG, "--market: give 'equal' or a symbol");
    if (!(c->pos > 0.0 && c->pos <= 1.0)) return QA_FAIL(QA_ERR_CONFIG, "--pos %g: must be in (0, 1]", c->pos);
    if (!isfinite(c->z)) return QA_FAIL(QA_ERR_CONFIG, "--z %g: must be a finite number", c->z);
    if (c->min_docs < 1) return QA_FAIL(QA_ERR_CONFIG, "--min-docs %ld: must be at least 1", c->min_docs);
    if (c->pre < 0 || c->pre > MAX_BARS) return QA_FAIL(QA_ERR_CONFIG, "--pre %d: must be in [0, %d]", c->pre, MAX_BARS);
    if (c->post < 0 || c->post > MAX_BARS)
        return QA_FAIL(QA_ERR_CONFIG, "--post %d: must be in [0, %d]", c->post, MAX_BARS);
    if (c->est_len < 2 || c->est_len > MAX_BARS)
        return QA_FAIL(QA_ERR_CONFIG, "--est-len %d: must be in [2, %d]", c->est_len, MAX_BARS);
    if (c->est_end <= c->pre)
        return QA_FAIL(QA_ERR_CONFIG, "--est-end %d: must exceed --pre %d (the estimation window ends before the event window)",
                       c->est_end, c->pre);
    if (c->est_end > MAX_BARS) return QA_FAIL(QA_ERR_CONFIG, "--est-end %d: must be at most %d", c->est_end, MAX_BARS);
    if (c->min_est < 2 || c->min_est > c->est_len)
        return QA_FAIL(QA_ERR_CONFIG, "--min-est %d: must be in [2, --est-len %d]", c->min_est, c->est_len);
    return QA_OK;
}

/* ---- results ----------------------------------------------------------------------------- */

void qa_altstudy_result_init(qa_altstudy_result *r) {
    memset(r, 0, sizeof *r);
    r->market = -1;
}

void qa_altstudy_result_free(qa_altstudy_result *r) {
    if (!r) return;
    free(r->events);
    free(r->ar);
    free(r->buf_);
    qa_altstudy_result_init(r);
}

/* Growable list of used events and their abnormal returns (L per event). */
typedef struct ev_list {
    qa_altstudy_event *ev;
    double *ar;
    size_t n, cap, L;
} ev_list;

static qa_status ev_reserve(ev_list *l) {
    if (l->n < l->cap) return QA_OK;
    size_t cap = l->cap ? 2 * l->cap : 64;
    qa_altstudy_event *ev = realloc(l->ev, cap * sizeof *ev);
    if (!ev) return QA_FAIL(QA_ERR_NOMEM, "alt study: %zu events", cap);
    l->ev = ev;
    double *ar = realloc(l->ar, cap * l->L * sizeof *ar);
    if (!ar) return QA_FAIL(QA_ERR_NOMEM, "alt study: abnormal returns of %zu events", cap);
    l->ar = ar;
    l->cap = cap;
    return QA_OK;
}

/* ---- the computation ------------------------------------------------------------------- */

/* 1 when bar i (index s * T + t) triggers group g; *value is the triggering number. NaN
 * inputs never trigger (every comparison with NaN is false). */
static int triggered(const qa_altstudy_cfg *c, const qa_altstudy_data *d, qa_altstudy_group g, size_t i,
                     double *value) {
    switch (g) {
    case QA_ALTSTUDY_GROUP_POSITIVE:
        *value = d->sent_mean[i];
        return d->sent_mean[i] >= c->pos && d->count[i] >= (double)c->min_docs;
    case QA_ALTSTUDY_GROUP_NEGATIVE:
        *value = d->sent_mean[i];
        return d->sent_mean[i] <= -c->pos && d->count[i] >= (double)c->min_docs;
    default:
        *value = d->count_z[i];
        return d->count_z[i] >= c->z;
    }
}

/* Market model and abnormal returns of one trigger at day 0 = column t of a symbol with
 * returns r[T] against market returns m[T]. Returns the skip reason, or -1 with e's
 * alpha, beta, n_est and ar[L] filled when the event is usable. */
static int event_eval(const qa_altstudy_cfg *c, size_t T, const double *r, const double *m, size_t t,
                      qa_altstudy_event *e, double *ar) {
    long tl = (long)t;
    if (tl + c->post >= (long)T) return QA_ALTSTUDY_SKIP_WINDOW_END;
    long hi = tl - c->est_end, lo = hi - c->est_len + 1;
    if (lo < 0) lo = 0;
    /* OLS by centred sums (two passes): exact enough for returns with tiny means. */
    size_t n = 0;
    double mr = 0.0, mm = 0.0;
    for (long k = lo; k <= hi; k++)
        if (isfinite(r[k]) && isfinite(m[k])) {
            n++;
            mr += r[k];
            mm += m[k];
        }
    if (n < (size_t)c->min_est) return QA_ALTSTUDY_SKIP_ESTIMATION;
    mr /= (double)n;
    mm /= (double)n;
    double sxx = 0.0, sxy = 0.0;
    for (long k = lo; k <= hi; k++)
        if (isfinite(r[k]) && isfinite(m[k])) {
            sxx += (m[k] - mm) * (m[k] - mm);
            sxy += (m[k] - mm) * (r[k] - mr);
        }
    if (!(sxx > 0.0)) return QA_ALTSTUDY_SKIP_FLAT_MARKET;
    double beta = sxy / sxx, alpha = mr - beta * mm;
    size_t L = (size_t)c->pre + (size_t)c->post + 1;
    for (size_t i = 0; i < L; i++) {
        long k = tl - c->pre + (long)i; /* >= 0: est_end > pre and the estimation window had pairs */
        if (k < 0 || !isfinite(r[k]) || !isfinite(m[k])) return QA_ALTSTUDY_SKIP_MISSING;
        ar[i] = r[k] - alpha - beta * m[k];
    }
    e->alpha = alpha;
    e->beta = beta;
    e->n_est = n;
    return -1;
}

/* Mean of x[0..n) and its standard error sd(ddof 1) / sqrt(n); se NaN when n < 2. */
static void mean_se(const double *x, size_t n, double *mean, double *se) {
    *mean = NAN;
    *se = NAN;
    if (n == 0) return;
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i];
    double mu = s / (double)n, ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (x[i] - mu) * (x[i] - mu);
    *mean = mu;
    if (n >= 2) *se = sqrt(ss / (double)(n - 1)) / sqrt((double)n);
}

/* The group's AAR/CAAR/SE/band and window statistics from its n events, whose abnormal
 * returns are ar[e * L + i]; scratch holds n doubles. */
static void aggregate(const qa_altstudy_cfg *c, const double *ar, size_t n, size_t L, double *scratch,
                      qa_altstudy_group_stats *g) {
    g->tcrit = n >= 2 ? qa_risk_t_ppf(BAND_P, (int)(n - 1)) : NAN;
    for (size_t e = 0; e < n; e++) scratch[e] = 0.0; /* running CAR of each event */
    for (size_t i = 0; i < L; i++) {
        double s = 0.0;
        for (size_t e = 0; e < n; e++) {
            s += ar[e * L + i];
            scratch[e] += ar[e * L + i];
        }
        g->aar[i] = n ? s / (double)n : NAN;
        mean_se(scratch, n, &g->caar[i], &g->se[i]);
        g->lo[i] = g->caar[i] - g->tcrit * g->se[i];
        g->hi[i] = g->caar[i] + g->tcrit * g->se[i];
    }
    for (int w = 0; w < QA_ALTSTUDY_WIN_COUNT; w++) {
        qa_altstudy_win_stat *ws = &g->win[w];
        ws->from = w < 4 ? win_fixed[w][0] : w == QA_ALTSTUDY_WIN_0_POST ? 0 : -c->pre;
        ws->to = w < 4 ? win_fixed[w][1] : c->post;
        ws->avail = ws->from >= -c->pre && ws->to <= c->post;
        ws->car = ws->se = ws->t = ws->p = NAN;
        if (!ws->avail) continue;
        const int ia = ws->from + c->pre, ib = ws->to + c->pre; /* >= 0: the window is available */
        size_t a = (size_t)ia, b = (size_t)ib;
        for (size_t e = 0; e < n; e++) {
            double s = 0.0;
            for (size_t i = a; i <= b; i++) s += ar[e * L + i];
            scratch[e] = s;
        }
        mean_se(scratch, n, &ws->car, &ws->se);
        if (ws->se > 0.0) {
            ws->t = ws->car / ws->se;
            ws->p = 2.0 * qa_risk_t_cdf(-fabs(ws->t), (int)(n - 1));
        }
    }
}

qa_status qa_altstudy_compute(const qa_altstudy_cfg *c, const qa_altstudy_data *d, qa_altstudy_result *out) {
    qa_status st = QA_OK;
    const size_t S = d->S, T = d->T, L = (size_t)c->pre + (size_t)c->post + 1;
    qa_altstudy_result res;
    qa_altstudy_result_init(&res);
    ev_list el = {NULL, NULL, 0, 0, L};
    double *scratch = NULL;
    QA_TRY(qa_altstudy_cfg_check(c));
    long market = -1;
    if (strcmp(c->market, "equal") != 0) {
        for (size_t s = 0; s < S && market < 0; s++)
            if (strcmp(d->symbols[s], c->market) == 0) market = (long)s;
        if (market < 0)
            QA_TRY_FAIL(QA_ERR_NOT_FOUND, "--market '%s': not a symbol of the market file (use 'equal' or one of its %zu symbols)",
                        c->market, S);
    }
    /* scratch: returns r[S*T], market m[T]; reused for the per-event CARs afterwards. */
    scratch = malloc((S * T + T + 1) * sizeof *scratch);
    if (!scratch) QA_TRY_FAIL(QA_ERR_NOMEM, "alt study: returns of %zu x %zu bars", S, T);
    double *r = scratch, *m = scratch + S * T;
    for (size_t s = 0; s < S; s++) {
        const double *p = d->close + s * T;
        for (size_t t = 0; t < T; t++) {
            double v = t ? p[t] / p[t - 1] - 1.0 : NAN;
            r[s * T + t] = isfinite(v) ? v : NAN; /* NaN or zero previous close: no return */
        }
    }
    for (size_t t = 0; t < T; t++) {
        if (market >= 0) {
            m[t] = r[(size_t)market * T + t];
            continue;
        }
        double sum = 0.0;
        size_t k = 0;
        for (size_t s = 0; s < S; s++)
            if (!isnan(r[s * T + t])) {
                sum += r[s * T + t];
                k++;
            }
        m[t] = k ? sum / (double)k : NAN;
    }
    for (int g = 0; g < QA_ALTSTUDY_GROUP_COUNT; g++) {
        qa_altstudy_group_stats *gs = &res.group[g];
        for (size_t s = 0; s < S; s++) {
            if ((long)s == market) continue;
            int have_last = 0;
            size_t last = 0;
            for (size_t t = 0; t < T; t++) {
                double value;
                if (!triggered(c, d, (qa_altstudy_group)g, s * T + t, &value)) continue;
                gs->triggers++;
                /* Overlap: measured from the last trigger kept by this rule, whatever the
                 * data checks below made of it, so the rule depends on the triggers alone. */
                if (have_last && t - last <= (size_t)c->post) {
                    gs->skipped[QA_ALTSTUDY_SKIP_OVERLAP]++;
                    continue;
                }
                have_last = 1;
                last = t;
                QA_TRY(ev_reserve(&el));
                qa_altstudy_event *e = &el.ev[el.n];
                int why = event_eval(c, T, r + s * T, m, t, e, el.ar + el.n * L);
                if (why >= 0) {
                    gs->skipped[why]++;
                    continue;
                }
                e->symbol = s;
                e->t = t;
                e->group = (qa_altstudy_group)g;
                e->value = value;
                double c01 = 0.0, call = 0.0;
                for (size_t i = 0; i < L; i++) {
                    double a = el.ar[el.n * L + i];
                    call += a;
                    if (i == (size_t)c->pre || i == (size_t)c->pre + 1) c01 += a;
                }
                e->car_0_1 = c->post >= 1 ? c01 : NAN;
                e->car_all = call;
                el.n++;
                gs->n++;
            }
        }
    }
    /* Group views: 5 series of L values per group, one allocation. */
    res.buf_ = malloc((5 * L * QA_ALTSTUDY_GROUP_COUNT) * sizeof *res.buf_);
    if (!res.buf_) QA_TRY_FAIL(QA_ERR_NOMEM, "alt study: group series");
    if (el.n + 1 > S * T + T + 1) { /* the CAR scratch needs one double per event */
        double *more = realloc(scratch, (el.n + 1) * sizeof *more);
        if (!more) QA_TRY_FAIL(QA_ERR_NOMEM, "alt study: CARs of %zu events", el.n);
        scratch = more;
    }
    size_t e0 = 0;
    for (int g = 0; g < QA_ALTSTUDY_GROUP_COUNT; g++) {
        qa_altstudy_group_stats *gs = &res.group[g];
        double *b = res.buf_ + (size_t)g * 5 * L;
        gs->aar = b;
        gs->caar = b + L;
        gs->se = b + 2 * L;
        gs->lo = b + 3 * L;
        gs->hi = b + 4 * L;
        aggregate(c, el.ar + e0 * L, gs->n, L, scratch, gs);
        e0 += gs->n;
    }
    res.pre = c->pre;
    res.post = c->post;
    res.L = L;
    res.market = market;
    res.events = el.ev;
    res.ar = el.ar;
    res.nevents = el.n;
    el.ev = NULL;
    el.ar = NULL;
    qa_altstudy_result_free(out);
    *out = res;
    qa_altstudy_result_init(&res);
cleanup:
    free(scratch);
    free(el.ev);
    free(el.ar);
    qa_altstudy_result_free(&res);
    return st;
}

/* ---- the market file ------------------------------------------------------------------ */

enum { P_CLOSE = 0, P_COUNT = 1, P_SENT = 2, P_Z = 3, P_N = 4 };
static const char *const alt_suffix[P_N] = {NULL, "count", "sent_mean", "count_z"};

/* Reads the four panels into one allocation (*block, caller frees) and fills d. */
static qa_status load(qa_store_t *store, const qa_altstudy_cfg *c, qa_altstudy_data *d, double **block,
                      const char ***names) {
    qa_status st = QA_OK;
    const size_t S = qa_store_nsym(store), T = qa_store_ntime(store);
    char path[P_N][96];
    double *buf = NULL;
    const char **sym = NULL;
    snprintf(path[P_CLOSE], sizeof path[P_CLOSE], "bars/close");
    for (int p = P_COUNT; p < P_N; p++) {
        snprintf(path[p], sizeof path[p], "alt/%s_%s", c->source, alt_suffix[p]);
        if (!qa_store_exists(store, path[p]))
            QA_TRY_FAIL(QA_ERR_NOT_FOUND,
                        "%s has no panel /%s: `qa alt align` makes the alt/%s_* panels (run it on this file first)",
                        qa_store_path(store), path[p], c->source);
    }
    buf = malloc((P_N * S * T + 1) * sizeof *buf);
    sym = malloc((S + 1) * sizeof *sym);
    if (!buf || !sym) QA_TRY_FAIL(QA_ERR_NOMEM, "alt study: %zu x %zu panels", S, T);
    for (int p = 0; p < P_N; p++) QA_TRY(qa_store_read(store, path[p], 0, S, 0, T, buf + (size_t)p * S * T));
    for (size_t s = 0; s < S; s++) sym[s] = qa_store_symbol(store, s);
    *d = (qa_altstudy_data){S, T, sym, qa_store_time(store), buf, buf + S * T, buf + 2 * S * T, buf + 3 * S * T};
    *block = buf;
    *names = sym;
    buf = NULL;
    sym = NULL;
cleanup:
    free(buf);
    free(sym);
    return st;
}

/* ---- outputs ---------------------------------------------------------------------------- */

/* "2024-03-15" of a UTC ns timestamp (floor to the day). */
static const char *day_text(int64_t ns, char *buf, size_t size) {
    int64_t sec = ns / 1000000000LL - (ns % 1000000000LL < 0);
    time_t tt = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || strftime(buf, size, "%Y-%m-%d", &tm) == 0) snprintf(buf, size, "?");
    return buf;
}

/* "[-1,+1]" */
static const char *win_label(int from, int to, char *buf, size_t size) {
    snprintf(buf, size, from > 0 ? "[+%d," : "[%d,", from);
    size_t l = strlen(buf);
    snprintf(buf + l, size - l, to > 0 ? "+%d]" : "%d]", to);
    return buf;
}

static void group_condition(const qa_altstudy_cfg *c, int g, char *buf, size_t size) {
    if (g == QA_ALTSTUDY_GROUP_POSITIVE)
        snprintf(buf, size, "alt/%s_sent_mean >= %g with alt/%s_count >= %ld", c->source, c->pos, c->source,
                 c->min_docs);
    else if (g == QA_ALTSTUDY_GROUP_NEGATIVE)
        snprintf(buf, size, "alt/%s_sent_mean <= %g with alt/%s_count >= %ld", c->source, -c->pos, c->source,
                 c->min_docs);
    else
        snprintf(buf, size, "alt/%s_count_z >= %g", c->source, c->z);
}

static const char *day0_text =
    "Day 0 is the first bar at whose close the documents were known (`qa alt align` counts a document for the "
    "first bar of its symbol whose close comes after the document became available). News stories that carry "
    "only a date become available at the next session's open, so their day 0 is the next session after that "
    "date, and part of the reaction to them can already show at day -1.";

static json_t *summary_json(const qa_altstudy_cfg *c, const qa_altstudy_data *d, const qa_altstudy_result *r) {
    json_t *o = json_object(), *cfg = json_object(), *groups = json_object();
    char a[32], b[32];
    json_object_set_new(o, "command", json_string("alt study"));
    json_object_set_new(cfg, "data", json_string(c->data ? c->data : ""));
    json_object_set_new(cfg, "source", json_string(c->source));
    json_object_set_new(cfg, "market", json_string(c->market));
    json_object_set_new(cfg, "pos", qa_json_real(c->pos));
    json_object_set_new(cfg, "z", qa_json_real(c->z));
    json_object_set_new(cfg, "min_docs", json_integer(c->min_docs));
    json_object_set_new(cfg, "pre", json_integer(c->pre));
    json_object_set_new(cfg, "post", json_integer(c->post));
    json_object_set_new(cfg, "est_len", json_integer(c->est_len));
    json_object_set_new(cfg, "est_end", json_integer(c->est_end));
    json_object_set_new(cfg, "min_est", json_integer(c->min_est));
    json_object_set_new(o, "config", cfg);
    json_object_set_new(o, "symbols", json_integer((json_int_t)d->S));
    json_object_set_new(o, "bars", json_integer((json_int_t)d->T));
    if (d->T) {
        json_object_set_new(o, "start", json_string(day_text(d->time[0], a, sizeof a)));
        json_object_set_new(o, "end", json_string(day_text(d->time[d->T - 1], b, sizeof b)));
    }
    json_object_set_new(o, "returns", json_string("simple close-to-close over consecutive bars"));
    json_object_set_new(o, "market_return",
                        json_string(r->market < 0 ? "equal-weighted mean of all symbols' returns" : c->market));
    json_object_set_new(o, "day0", json_string(day0_text));
    json_object_set_new(o, "band", json_string("CAAR -+ t(0.975, N-1) * SE, SE = sample std of CAR / sqrt(N)"));
    for (int g = 0; g < QA_ALTSTUDY_GROUP_COUNT; g++) {
        const qa_altstudy_group_stats *gs = &r->group[g];
        json_t *go = json_object(), *sk = json_object(), *taus = json_array(), *wins = json_array();
        char cond[200];
        group_condition(c, g, cond, sizeof cond);
        json_object_set_new(go, "condition", json_string(cond));
        json_object_set_new(go, "triggers", json_integer((json_int_t)gs->triggers));
        json_object_set_new(go, "events", json_integer((json_int_t)gs->n));
        for (int k = 0; k < QA_ALTSTUDY_SKIP_COUNT; k++)
            json_object_set_new(sk, qa_altstudy_skip_names[k], json_integer((json_int_t)gs->skipped[k]));
        json_object_set_new(go, "skipped", sk);
        json_object_set_new(go, "t_crit", qa_json_real(gs->tcrit));
        for (size_t i = 0; i < r->L; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "tau", json_integer((json_int_t)i - r->pre));
            json_object_set_new(e, "aar", qa_json_real(gs->aar[i]));
            json_object_set_new(e, "caar", qa_json_real(gs->caar[i]));
            json_object_set_new(e, "se", qa_json_real(gs->se[i]));
            json_object_set_new(e, "lo", qa_json_real(gs->lo[i]));
            json_object_set_new(e, "hi", qa_json_real(gs->hi[i]));
            json_array_append_new(taus, e);
        }
        json_object_set_new(go, "by_tau", taus);
        for (int w = 0; w < QA_ALTSTUDY_WIN_COUNT; w++) {
            const qa_altstudy_win_stat *ws = &gs->win[w];
            if (!ws->avail) continue;
            json_t *e = json_object();
            json_object_set_new(e, "window", json_string(win_label(ws->from, ws->to, a, sizeof a)));
            json_object_set_new(e, "from", json_integer(ws->from));
            json_object_set_new(e, "to", json_integer(ws->to));
            json_object_set_new(e, "n", json_integer((json_int_t)gs->n));
            json_object_set_new(e, "caar", qa_json_real(ws->car));
            json_object_set_new(e, "se", qa_json_real(ws->se));
            json_object_set_new(e, "t", qa_json_real(ws->t));
            json_object_set_new(e, "p", qa_json_real(ws->p));
            json_array_append_new(wins, e);
        }
        json_object_set_new(go, "windows", wins);
        json_object_set_new(groups, qa_altstudy_group_names[g], go);
    }
    json_object_set_new(o, "groups", groups);
    return o;
}

static qa_status write_events(const qa_rundir *rd, const qa_altstudy_data *d, const qa_altstudy_result *r) {
    char path[QA_PATH_MAX];
    qa_atomic_file af;
    qa_status st = qa_rundir_file(rd, "events.csv", path);
    if (st != QA_OK) return st;
    if ((st = qa_atomic_open(&af, path)) != QA_OK) return st;
    int bad = fprintf(af.f, "symbol,date,group,value,alpha,beta,car_0_1,car_all,n_est\n") < 0;
    for (size_t i = 0; i < r->nevents && !bad; i++) {
        const qa_altstudy_event *e = &r->events[i];
        char day[32];
        bad = fprintf(af.f, "%s,%s,%s,%.10g,%.10g,%.10g,%.10g,%.10g,%zu\n", d->symbols[e->symbol],
                      day_text(d->time[e->t], day, sizeof day), qa_altstudy_group_names[e->group], e->value, e->alpha,
                      e->beta, e->car_0_1, e->car_all, e->n_est) < 0;
    }
    if (bad) {
        qa_atomic_abort(&af);
        return QA_FAIL(QA_ERR_IO, "cannot write %s", path);
    }
    return qa_atomic_commit(&af);
}

/* "1.234%" or "n/a" for NaN. */
static const char *pct(double v, char *buf, size_t size) {
    if (isnan(v)) snprintf(buf, size, "n/a");
    else snprintf(buf, size, "%.3f%%", 100.0 * v);
    return buf;
}

static const char *num(double v, const char *fmt, char *buf, size_t size) {
    if (isnan(v)) snprintf(buf, size, "n/a");
    else snprintf(buf, size, fmt, v);
    return buf;
}

static qa_status write_report(const qa_rundir *rd, const qa_altstudy_cfg *c, const qa_altstudy_data *d,
                              const qa_altstudy_result *r) {
    qa_status st = QA_OK;
    qa_report_t *rep = NULL;
    char title[160], path[QA_PATH_MAX], a[32], b[32];
    double *tau = malloc(r->L * sizeof *tau);
    if (!tau) return QA_FAIL(QA_ERR_NOMEM, "report axis");
    for (size_t i = 0; i < r->L; i++) tau[i] = (double)i - r->pre;
    snprintf(title, sizeof title, "Event study: %s sentiment and volume", c->source);
    QA_TRY(qa_report_create(title, &rep));
    qa_report_heading(rep, "Method");
    qa_report_text(rep,
                   "Returns are simple close-to-close returns over consecutive bars (a missing previous bar gives no "
                   "return). For each event a market model r = alpha + beta m is fitted by OLS on bars [%d, %d] "
                   "relative to day 0 (at least %d valid pairs), where m is %s. The abnormal return is AR = r - alpha - "
                   "beta m for tau in [%d, +%d]; CAR(tau) sums AR from -%d to tau. AAR and CAAR are means over the "
                   "group's events; SE is the cross-sectional sample standard deviation of CAR divided by sqrt(N); "
                   "the band is CAAR -+ t(0.975, N-1) SE. A trigger within %d bars after the previous kept trigger "
                   "of the same group and symbol is dropped (no overlapping windows within a symbol). The "
                   "cross-sectional test treats events as independent: events on the same dates share market "
                   "shocks and make the band too narrow.",
                   -c->est_end - c->est_len + 1, -c->est_end, c->min_est,
                   r->market < 0 ? "the equal-weighted mean return of all symbols" : c->market, -c->pre, c->post,
                   c->pre, c->post);
    qa_report_text(rep, "%s", day0_text);
    qa_report_heading(rep, "Run");
    if (d->T)
        qa_report_kv(rep, "data", "%s: %zu symbols, %s .. %s (%zu bars)", c->data ? c->data : "(memory)", d->S,
                     day_text(d->time[0], a, sizeof a), day_text(d->time[d->T - 1], b, sizeof b), d->T);
    qa_report_kv(rep, "market", "%s", r->market < 0 ? "equal-weighted" : c->market);
    for (int g = 0; g < QA_ALTSTUDY_GROUP_COUNT; g++) {
        char cond[200];
        group_condition(c, g, cond, sizeof cond);
        qa_report_kv(rep, qa_altstudy_group_names[g], "%s: %zu triggers, %zu events", cond, r->group[g].triggers,
                     r->group[g].n);
    }
    {
        const char *hdr[] = {"group", "triggers", "used", "overlap", "window_end", "estimation", "flat_market",
                             "missing_return"};
        static_assert(sizeof hdr / sizeof hdr[0] == 3 + QA_ALTSTUDY_SKIP_COUNT, "skip table");
        qa_report_heading(rep, "Triggers and skipped events");
        qa_report_table_begin(rep, hdr, sizeof hdr / sizeof hdr[0]);
        for (int g = 0; g < QA_ALTSTUDY_GROUP_COUNT; g++) {
            char cell[3 + QA_ALTSTUDY_SKIP_COUNT][24];
            const char *row[3 + QA_ALTSTUDY_SKIP_COUNT + 1];
            row[0] = qa_altstudy_group_names[g];
            snprintf(cell[1], sizeof cell[1], "%zu", r->group[g].triggers);
            snprintf(cell[2], sizeof cell[2], "%zu", r->group[g].n);
            for (int k = 0; k < QA_ALTSTUDY_SKIP_COUNT; k++)
                snprintf(cell[3 + k], sizeof cell[3 + k], "%zu", r->group[g].skipped[k]);
            for (int k = 1; k < 3 + QA_ALTSTUDY_SKIP_COUNT; k++) row[k] = cell[k];
            row[3 + QA_ALTSTUDY_SKIP_COUNT] = NULL;
            qa_report_table_row(rep, row);
        }
        qa_report_table_end(rep);
    }
    {
        const char *hdr[] = {"group", "window", "N", "CAAR", "SE", "t", "p (two-sided)"};
        qa_report_heading(rep, "CAR windows");
        qa_report_table_begin(rep, hdr, 7);
        for (int g = 0; g < QA_ALTSTUDY_GROUP_COUNT; g++)
            for (int w = 0; w < QA_ALTSTUDY_WIN_COUNT; w++) {
                const qa_altstudy_win_stat *ws = &r->group[g].win[w];
                if (!ws->avail) continue;
                char c1[32], c2[32], c3[32], c4[32], c5[32], c6[32];
                snprintf(c2, sizeof c2, "%zu", r->group[g].n);
                const char *row[] = {qa_altstudy_group_names[g], win_label(ws->from, ws->to, c1, sizeof c1), c2,
                                     pct(ws->car, c3, sizeof c3), pct(ws->se, c4, sizeof c4),
                                     num(ws->t, "%.2f", c5, sizeof c5), num(ws->p, "%.4f", c6, sizeof c6), NULL};
                qa_report_table_row(rep, row);
            }
        qa_report_table_end(rep);
    }
    for (int g = 0; g < QA_ALTSTUDY_GROUP_COUNT; g++) {
        const qa_altstudy_group_stats *gs = &r->group[g];
        char head[200], ct[240];
        snprintf(head, sizeof head, "Group %s (%zu events)", qa_altstudy_group_names[g], gs->n);
        qa_report_heading(rep, head);
        snprintf(ct, sizeof ct, "CAAR of %s events with the 95%% band (N = %zu)", qa_altstudy_group_names[g], gs->n);
        qa_report_series sr[3] = {{"CAAR", tau, NULL, gs->caar, r->L},
                                  {"lower 95%", tau, NULL, gs->lo, r->L},
                                  {"upper 95%", tau, NULL, gs->hi, r->L}};
        qa_report_chart ch = {ct, "bars relative to day 0 (tau)", "CAAR", 0, 0, 1};
        qa_report_line_chart(rep, &ch, sr, 3);
        const char *hdr[] = {"tau", "AAR", "CAAR", "SE(CAAR)", "lower 95%", "upper 95%"};
        qa_report_table_begin(rep, hdr, 6);
        for (size_t i = 0; i < r->L; i++) {
            char c0[16], c1[32], c2[32], c3[32], c4[32], c5[32];
            int tv = (int)i - r->pre;
            snprintf(c0, sizeof c0, tv > 0 ? "+%d" : "%d", tv);
            const char *row[] = {c0, pct(gs->aar[i], c1, sizeof c1), pct(gs->caar[i], c2, sizeof c2),
                                 pct(gs->se[i], c3, sizeof c3), pct(gs->lo[i], c4, sizeof c4),
                                 pct(gs->hi[i], c5, sizeof c5), NULL};
            qa_report_table_row(rep, row);
        }
        qa_report_table_end(rep);
    }
    QA_TRY(qa_rundir_file(rd, "report.html", path));
    QA_TRY(qa_report_write(rep, path));
cleanup:
    free(tau);
    qa_report_free(rep);
    return st;
}

qa_status qa_altstudy_run(const qa_altstudy_cfg *c, const char *out_dir, int argc, char **argv,
                          qa_altstudy_result *res) {
    qa_status st = QA_OK;
    qa_store_t *store = NULL;
    double *block = NULL;
    const char **names = NULL;
    json_t *doc = NULL;
    qa_rundir rd;
    memset(&rd, 0, sizeof rd);
    qa_altstudy_result r;
    qa_altstudy_result_init(&r);
    qa_altstudy_data d;
    QA_TRY(qa_altstudy_cfg_check(c));
    if (!c->data) QA_TRY_FAIL(QA_ERR_CONFIG, "--data: no market file given");
    if (!out_dir || !*out_dir) QA_TRY_FAIL(QA_ERR_CONFIG, "--out: no output directory given");
    /* Inputs are checked before the output directory exists: a refused run leaves nothing. */
    QA_TRY(qa_store_open(c->data, NULL, QA_STORE_READ, &store));
    QA_TRY(load(store, c, &d, &block, &names));
    st = qa_altstudy_compute(c, &d, &r);
    if (st != QA_OK) {
        qa_err_prefix("%s: ", c->data);
        goto cleanup;
    }
    QA_TRY(qa_rundir_open(&rd, out_dir, NULL, "alt study", argc, argv));
    qa_log_info("alt study: %s, %zu symbols x %zu bars, %s: %zu positive, %zu negative, %zu volume events", c->data,
                d.S, d.T, c->source, r.group[0].n, r.group[1].n, r.group[2].n);
    doc = summary_json(c, &d, &r);
    if (!doc) QA_TRY_FAIL(QA_ERR_NOMEM, "summary.json");
    QA_TRY(qa_rundir_write_json(&rd, "summary.json", doc));
    QA_TRY(write_events(&rd, &d, &r));
    QA_TRY(write_report(&rd, c, &d, &r));
    QA_TRY(qa_rundir_close(&rd, QA_OK));
    if (res) {
        qa_altstudy_result_free(res);
        *res = r;
        qa_altstudy_result_init(&r);
    }
cleanup:
    if (rd.run) qa_rundir_close(&rd, st); /* records the failure in run.json */
    json_decref(doc);
    qa_altstudy_result_free(&r);
    free(block);
    free(names);
    qa_store_close(store);
    return st;
}
