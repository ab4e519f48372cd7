/* Execution algorithms (trading/algo.h): IMMEDIATE, TWAP, VWAP and POV parents worked
 * through one child at a time on market time, and the intraday volume profile that VWAP
 * follows, learned from a market file. The rules and their reasons are in docs/algos.md. */
#include "trading/algo.h"

#include <assert.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "datasets/store.h" /* qa_store_*: the market file the profile is learned from */

const char *const qa_algo_kind_names[] = {"immediate", "twap", "vwap", "pov", NULL};
static_assert(sizeof qa_algo_kind_names / sizeof qa_algo_kind_names[0] == QA_ALGO_KIND_COUNT + 1,
              "one name per algo kind");

static const char *const child_type_names[] = {"market", "limit", NULL};

const char *qa_algo_kind_name(qa_algo_kind k) {
    return (unsigned)k < QA_ALGO_KIND_COUNT ? qa_algo_kind_names[k] : "?";
}

/* ---- time of day ------------------------------------------------------------------------------ */

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b) { return a - floor_div(a, b) * b; }

/* ---- the volume profile ----------------------------------------------------------------------- */

static qa_status check_bucket(int64_t bucket_ns, int *nbuckets) {
    if (bucket_ns <= 0 || QA_ALGO_DAY_NS % bucket_ns != 0 || QA_ALGO_DAY_NS / bucket_ns > QA_ALGO_PROFILE_MAX)
        return QA_FAIL(QA_ERR_INVALID_ARG,
                       "profile bucket of %lld ns: it must divide the day into at most %d buckets",
                       (long long)bucket_ns, QA_ALGO_PROFILE_MAX);
    *nbuckets = (int)(QA_ALGO_DAY_NS / bucket_ns);
    return QA_OK;
}

qa_status qa_algo_profile_from_array(const double *w, int n, int64_t bucket_ns, qa_algo_profile *out) {
    int nb = 0;
    QA_TRY_RET(check_bucket(bucket_ns, &nb));
    if (!w || n != nb)
        return QA_FAIL(QA_ERR_INVALID_ARG, "profile of %d buckets of %lld ns: a day needs %d", n,
                       (long long)bucket_ns, nb);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(w[i]) || w[i] < 0)
            return QA_FAIL(QA_ERR_INVALID_ARG, "profile bucket %d: weight %g is not a finite value >= 0", i, w[i]);
        sum += w[i];
    }
    if (!(sum > 0)) return QA_FAIL(QA_ERR_INVALID_ARG, "profile weights sum to %g, not a positive value", sum);
    memset(out, 0, sizeof *out);
    out->bucket_ns = bucket_ns;
    out->nbuckets = n;
    for (int i = 0; i < n; i++) out->frac[i] = w[i] / sum;
    return QA_OK;
}

/* Profile volume from 00:00 UTC to time of day `tod` in [0, day]. */
static double profile_within(const qa_algo_profile *p, int64_t tod) {
    int64_t b = tod / p->bucket_ns;
    double v = 0;
    for (int64_t i = 0; i < b && i < p->nbuckets; i++) v += p->frac[i];
    if (b < p->nbuckets) v += p->frac[b] * (double)(tod - b * p->bucket_ns) / (double)p->bucket_ns;
    return v;
}

double qa_algo_profile_volume(const qa_algo_profile *p, int64_t a, int64_t b) {
    if (!p || p->nbuckets <= 0 || p->bucket_ns <= 0 || b <= a) return 0;
    double total = 0;
    for (int i = 0; i < p->nbuckets; i++) total += p->frac[i];
    int64_t days = floor_div(b, QA_ALGO_DAY_NS) - floor_div(a, QA_ALGO_DAY_NS);
    return (double)days * total + profile_within(p, floor_mod(b, QA_ALGO_DAY_NS)) -
           profile_within(p, floor_mod(a, QA_ALGO_DAY_NS));
}

static int cmp_size(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

qa_status qa_algo_profile_learn(const char *market_file, int64_t bucket_ns, qa_algo_profile *out) {
    qa_status st = QA_OK;
    qa_store_t *store = NULL;
    size_t *day_start = NULL, *counts = NULL;
    double *vol = NULL, *acc = NULL;
    int nb = 0;
    QA_TRY(check_bucket(bucket_ns, &nb));
    QA_TRY(qa_store_open(market_file, NULL, QA_STORE_READ, &store));
    const size_t S = qa_store_nsym(store), T = qa_store_ntime(store);
    const int64_t *time = qa_store_time(store);

    /* The UTC days of the grid as ranges [day_start[d], day_start[d + 1]). */
    day_start = malloc((T + 1) * sizeof *day_start);
    counts = malloc((T + 1) * sizeof *counts);
    acc = calloc((size_t)nb, sizeof *acc);
    if (!day_start || !counts || !acc) QA_TRY_FAIL(QA_ERR_NOMEM, "profile of %s", market_file);
    size_t ndays = 0;
    for (size_t t = 0; t < T; t++)
        if (t == 0 || floor_div(time[t], QA_ALGO_DAY_NS) != floor_div(time[t - 1], QA_ALGO_DAY_NS))
            day_start[ndays++] = t;
    day_start[ndays] = T;

    /* A full day has the most common number of timestamps (the larger on a tie). */
    for (size_t d = 0; d < ndays; d++) counts[d] = day_start[d + 1] - day_start[d];
    qsort(counts, ndays, sizeof *counts, cmp_size);
    size_t modal = 0, best = 0;
    for (size_t i = 0; i < ndays;) {
        size_t j = i;
        while (j < ndays && counts[j] == counts[i]) j++;
        if (j - i >= best) best = j - i, modal = counts[i];
        i = j;
    }

    /* Volumes are read in blocks of whole days (about 4096 timestamps, S rows). */
    const size_t block = 4096;
    size_t maxn = 0;
    for (size_t d = 0; d < ndays;) {
        size_t e = d + 1;
        while (e < ndays && day_start[e + 1] - day_start[d] <= block) e++;
        if (day_start[e] - day_start[d] > maxn) maxn = day_start[e] - day_start[d];
        d = e;
    }
    vol = malloc((S * maxn + 1) * sizeof *vol);
    if (!vol) QA_TRY_FAIL(QA_ERR_NOMEM, "volume block of %zu x %zu for the profile", S, maxn);
    int64_t npairs = 0;
    for (size_t d = 0; d < ndays;) {
        size_t e = d + 1;
        while (e < ndays && day_start[e + 1] - day_start[d] <= block) e++;
        const size_t t0 = day_start[d], n = day_start[e] - t0;
        QA_TRY(qa_store_read(store, qa_bar_field_path(QA_BAR_VOLUME), 0, S, t0, n, vol));
        for (size_t dd = d; dd < e; dd++) {
            const size_t a = day_start[dd] - t0, b = day_start[dd + 1] - t0;
            if (b - a != modal) continue;
            for (size_t s = 0; s < S; s++) {
                const double *v = vol + s * n;
                double total = 0;
                int ok = 1;
                for (size_t t = a; t < b && ok; t++) {
                    if (!isfinite(v[t]) || v[t] < 0) ok = 0;
                    else total += v[t];
                }
                if (!ok || !(total > 0)) continue;
                for (size_t t = a; t < b; t++)
                    acc[floor_mod(time[t0 + t], QA_ALGO_DAY_NS) / bucket_ns] += v[t] / total;
                npairs++;
            }
        }
        d = e;
    }
    if (npairs == 0)
        QA_TRY_FAIL(QA_ERR_NOT_FOUND, "%s: no (symbol, day) with a full day of volumes to learn a profile from",
                    market_file);
    memset(out, 0, sizeof *out);
    out->bucket_ns = bucket_ns;
    out->nbuckets = nb;
    out->ndays = npairs;
    for (int i = 0; i < nb; i++) out->frac[i] = acc[i] / (double)npairs;
cleanup:
    qa_store_close(store);
    free(day_start);
    free(counts);
    free(vol);
    free(acc);
    return st;
}

/* ---- configuration ---------------------------------------------------------------------------- */

void qa_algo_cfg_default(qa_algo_cfg *c) {
    memset(c, 0, sizeof *c);
    c->kind = QA_ALGO_IMMEDIATE;
    c->slices = 10;
    c->window_ns = (int64_t)30 * 60 * 1000000000;
    c->pov_rate = 0.1;
    c->max_participation = 0;
    c->child_limit = 0;
    c->offset_bps = 0;
    c->replace_bps = 0;
    c->min_child = 1;
    c->profile = NULL;
}

/* The YAML view: the window in seconds, the rest as in qa_algo_cfg. */
typedef struct algo_yaml {
    qa_algo_cfg c;
    double window_s;
} algo_yaml;

static const qa_cfg_field algo_schema[] = {
    QA_CFG_ENUM(algo_yaml, "kind", c.kind, qa_algo_kind_names, 0, "immediate, twap, vwap or pov"),
    QA_CFG_NUM(algo_yaml, "slices", c.slices, 1, 100000, 0, "TWAP/VWAP slices over the window"),
    QA_CFG_NUM(algo_yaml, "window", window_s, 0, 1e7, 0, "TWAP/VWAP window, seconds of market time"),
    QA_CFG_NUM(algo_yaml, "pov_rate", c.pov_rate, 0, 1, 0, "POV: share of each bar's volume, (0, 1]"),
    QA_CFG_NUM(algo_yaml, "max_participation", c.max_participation, 0, 100, 0,
               "cap per child / last bar volume (0 = no cap)"),
    QA_CFG_ENUM(algo_yaml, "order", c.child_limit, child_type_names, 0, "children: market or limit"),
    QA_CFG_NUM(algo_yaml, "offset_bps", c.offset_bps, -9999, 9999, 0,
               "limit = close x (1 + side x offset_bps/1e4); > 0 marketable"),
    QA_CFG_NUM(algo_yaml, "replace_bps", c.replace_bps, 0, 1e5, 0,
               "re-price a working limit child this far from the quote (0 = never)"),
    QA_CFG_NUM(algo_yaml, "min_child", c.min_child, 1, 1e12, 0, "whole shares per child (last remainder excepted)"),
    {NULL},
};

qa_status qa_algo_cfg_bind(const qa_cfg_t *cfg, const qa_cfg_node *map, qa_algo_cfg *c) {
    if (qa_cfg_node_kind(map) != QA_CFG_MAP) return qa_cfg_error(cfg, map, "algo", "expected a map of algo settings");
    algo_yaml y;
    y.c = *c;
    y.window_s = (double)c->window_ns / 1e9;
    QA_TRY_RET(qa_cfg_bind(cfg, map, algo_schema, &y, "algo"));
    const qa_cfg_node *rate = qa_cfg_map_get(map, "pov_rate");
    if (rate && !(y.c.pov_rate > 0)) return qa_cfg_error(cfg, rate, "algo.pov_rate", "must be > 0");
    y.c.window_ns = (int64_t)llround(y.window_s * 1e9);
    *c = y.c;
    return QA_OK;
}

qa_status qa_algo_cfg_check(const qa_algo_cfg *c) {
    if (!c) return QA_FAIL(QA_ERR_INVALID_ARG, "algo: no configuration");
    if ((unsigned)c->kind >= QA_ALGO_KIND_COUNT) return QA_FAIL(QA_ERR_INVALID_ARG, "algo: unknown kind %d", (int)c->kind);
    if ((c->kind == QA_ALGO_TWAP || c->kind == QA_ALGO_VWAP) && (c->slices < 1 || c->slices > 100000 || c->window_ns < 0))
        return QA_FAIL(QA_ERR_INVALID_ARG, "algo %s: slices %d must be in [1, 100000] and the window %lld ns >= 0",
                       qa_algo_kind_name(c->kind), c->slices, (long long)c->window_ns);
    if (c->kind == QA_ALGO_POV && !(c->pov_rate > 0 && c->pov_rate <= 1))
        return QA_FAIL(QA_ERR_INVALID_ARG, "algo pov: pov_rate %g must be in (0, 1]", c->pov_rate);
    if (!(c->max_participation >= 0 && isfinite(c->max_participation)))
        return QA_FAIL(QA_ERR_INVALID_ARG, "algo: max_participation %g must be >= 0", c->max_participation);
    if (c->child_limit != 0 && c->child_limit != 1)
        return QA_FAIL(QA_ERR_INVALID_ARG, "algo: child_limit %d must be 0 or 1", c->child_limit);
    if (!(c->offset_bps > -1e4 && c->offset_bps < 1e4))
        return QA_FAIL(QA_ERR_INVALID_ARG, "algo: offset_bps %g must be in (-10000, 10000)", c->offset_bps);
    if (!(c->replace_bps >= 0 && isfinite(c->replace_bps)))
        return QA_FAIL(QA_ERR_INVALID_ARG, "algo: replace_bps %g must be >= 0", c->replace_bps);
    if (!(c->min_child >= 1 && isfinite(c->min_child)))
        return QA_FAIL(QA_ERR_INVALID_ARG, "algo: min_child %g must be >= 1 share", c->min_child);
    if (c->kind == QA_ALGO_VWAP) {
        const qa_algo_profile *p = c->profile;
        int nb = 0;
        if (!p) return QA_FAIL(QA_ERR_INVALID_ARG, "algo vwap: no volume profile (set cfg.profile)");
        if (check_bucket(p->bucket_ns, &nb) != QA_OK || p->nbuckets != nb)
            return QA_FAIL(QA_ERR_INVALID_ARG, "algo vwap: the profile's %d buckets of %lld ns do not make a day",
                           p->nbuckets, (long long)p->bucket_ns);
    }
    return QA_OK;
}

/* ---- schedules -------------------------------------------------------------------------------- */

/* Start of slice j of n over [t0, t0 + w]: t0 + floor(j w / n) without overflow. */
static int64_t slice_time(int64_t t0, int64_t w, int n, int j) {
    return t0 + (int64_t)j * (w / n) + ((int64_t)j * (w % n)) / n;
}

/* Slices due by time t: how many j in [0, n) have slice_time(j) <= t. */
static int slices_due(int64_t t0, int64_t w, int n, int64_t t) {
    if (t < t0) return 0;
    int lo = 1, hi = n; /* slice 0 is due at t0; find the largest k with slice_time(k - 1) <= t */
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (slice_time(t0, w, n, mid - 1) <= t) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

/* Magnitude of the cumulative schedule at t (whole shares): IMMEDIATE everything; TWAP
 * round(Q k / N); VWAP round(Q V(t0, end of slice k - 1) / V(t0, t0 + W)), TWAP's when
 * the profile has no volume in the window. */
static double due_mag(const qa_algo_cfg *c, const qa_algo_state *s, int64_t t) {
    const double Q = fabs(s->qty);
    if (c->kind == QA_ALGO_IMMEDIATE) return Q;
    const int n = c->slices;
    const int k = c->window_ns == 0 ? (t >= s->t0 ? n : 0) : slices_due(s->t0, c->window_ns, n, t);
    if (k >= n) return Q;
    double f = (double)k / n;
    if (c->kind == QA_ALGO_VWAP) {
        double all = qa_algo_profile_volume(c->profile, s->t0, s->t0 + c->window_ns);
        if (all > 0) f = qa_algo_profile_volume(c->profile, s->t0, slice_time(s->t0, c->window_ns, n, k)) / all;
    }
    return round(Q * f);
}

double qa_algo_due(const qa_algo_cfg *c, const qa_algo_state *s, int64_t t) {
    if (!c || !s || c->kind == QA_ALGO_POV) return NAN;
    return (s->qty < 0 ? -1 : 1) * due_mag(c, s, t);
}

/* ---- start / step ----------------------------------------------------------------------------- */

/* The decision of one bar, in magnitudes (shares on the parent's side): Q parent, F
 * filled, W working. Fills `act` and updates the state's child bookkeeping. */
static void decide(const qa_algo_cfg *c, qa_algo_state *s, int64_t t, const qa_order_bar *bar, double F, double W,
                   qa_algo_action *act) {
    const double side = s->qty < 0 ? -1 : 1, Q = fabs(s->qty);
    const double eps = 1e-9 * (Q > 1 ? Q : 1);
    const double R = Q - F; /* unfilled part of the parent */
    memset(act, 0, sizeof *act);
    act->replace_price = act->child_price = NAN;
    if (R <= eps) return;
    const double vol = bar->volume;
    const int has_vol = isfinite(vol) && vol > 0;

    /* What should be outstanding now. */
    double want;
    if (c->kind == QA_ALGO_POV) want = has_vol ? floor(c->pov_rate * vol + 1e-9) : 0;
    else want = due_mag(c, s, t) - F;
    if (want > R) want = R;
    if (want < 0) want = 0;
    double cap = INFINITY;
    if (c->max_participation > 0) cap = has_vol ? floor(c->max_participation * vol + 1e-9) : 0;
    if (want > cap) want = cap;
    const int last = want >= R - eps; /* the whole remainder: sent exactly, min_child aside */
    const double target = last ? R : floor(want + 1e-9);
    const double price = c->child_limit ? bar->close * (1 + side * c->offset_bps / 1e4) : NAN;

    if (W <= eps) {
        if (target > eps && (last || target >= c->min_child - 1e-9)) {
            act->child_qty = side * target;
            act->child_limit = c->child_limit;
            act->child_price = price;
            s->child_limit = c->child_limit;
            s->child_price = price;
            s->nchildren++;
        }
        return;
    }
    const double grow = target - W;
    if (grow > eps && (last || grow >= c->min_child - 1e-9)) {
        act->replace = 1;
        act->replace_qty = side * target;
        act->replace_price = s->child_limit ? (c->child_limit ? price : s->child_price) : NAN;
        s->child_price = act->replace_price;
        s->nreplaces++;
        return;
    }
    /* A resting limit child too far from the quote is re-priced, keeping its quantity
     * (cut to the participation cap; skipped when the cap would leave less than min_child). */
    if (s->child_limit && c->child_limit && c->replace_bps > 0 && isfinite(price) &&
        fabs(s->child_price - price) > c->replace_bps / 1e4 * price) {
        double q = W < cap ? W : cap;
        if (q <= eps || (q < W && q < c->min_child - 1e-9)) return;
        act->replace = 1;
        act->replace_qty = side * q;
        act->replace_price = price;
        s->child_price = price;
        s->nreplaces++;
    }
}

static qa_status check_bar(const qa_order_bar *bar, int64_t t) {
    if (!bar || !isfinite(bar->close) || bar->close <= 0)
        return QA_FAIL(QA_ERR_INVALID_ARG, "algo: the bar at %lld has no positive close", (long long)t);
    return QA_OK;
}

qa_status qa_algo_start(const qa_algo_cfg *c, qa_algo_state *s, double qty, int64_t t0,
                        const qa_order_bar *decision_bar, qa_algo_action *act) {
    QA_TRY_RET(qa_algo_cfg_check(c));
    if (!isfinite(qty) || qty == 0 || qty != round(qty))
        return QA_FAIL(QA_ERR_INVALID_ARG, "algo: parent quantity %g is not a non-zero whole number of shares", qty);
    QA_TRY_RET(check_bar(decision_bar, t0));
    memset(s, 0, sizeof *s);
    s->version = QA_ALGO_STATE_VERSION;
    s->kind = (int32_t)c->kind;
    s->qty = qty;
    s->t0 = t0;
    s->t_last = t0;
    s->child_price = NAN;
    decide(c, s, t0, decision_bar, 0, 0, act);
    return QA_OK;
}

qa_status qa_algo_step(const qa_algo_cfg *c, qa_algo_state *s, int64_t t, const qa_order_bar *bar, double filled,
                       double working, qa_algo_action *act) {
    QA_TRY_RET(qa_algo_cfg_check(c));
    if (s->version != QA_ALGO_STATE_VERSION)
        return QA_FAIL(QA_ERR_FORMAT, "algo state version %u, this build reads %u", s->version, QA_ALGO_STATE_VERSION);
    if (s->cancelled) return QA_FAIL(QA_ERR_STATE, "algo: the parent was cancelled");
    if (s->kind != (int32_t)c->kind)
        return QA_FAIL(QA_ERR_STATE, "algo: started as %s, stepped as %s", qa_algo_kind_name((qa_algo_kind)s->kind),
                       qa_algo_kind_name(c->kind));
    if (t <= s->t_last)
        return QA_FAIL(QA_ERR_INVALID_ARG, "algo: bar time %lld does not follow %lld", (long long)t,
                       (long long)s->t_last);
    QA_TRY_RET(check_bar(bar, t));
    const double side = s->qty < 0 ? -1 : 1, Q = fabs(s->qty);
    const double F = side * filled, W = side * working, eps = 1e-9 * (Q > 1 ? Q : 1);
    if (!isfinite(F) || !isfinite(W) || F < -eps || W < -eps || F + W > Q + eps)
        return QA_FAIL(QA_ERR_INVALID_ARG, "algo: filled %g and working %g do not fit the parent of %g", filled,
                       working, s->qty);
    qa_algo_state next = *s;
    next.t_last = t;
    decide(c, &next, t, bar, F > 0 ? F : 0, W > 0 ? W : 0, act);
    *s = next;
    return QA_OK;
}

void qa_algo_cancel(qa_algo_state *s, double working, qa_algo_action *act) {
    memset(act, 0, sizeof *act);
    act->replace_price = act->child_price = NAN;
    act->cancel = working != 0;
    s->cancelled = 1;
}

int qa_algo_done(const qa_algo_state *s, double filled) {
    const double Q = fabs(s->qty);
    return Q - (s->qty < 0 ? -filled : filled) <= 1e-9 * (Q > 1 ? Q : 1);
}
