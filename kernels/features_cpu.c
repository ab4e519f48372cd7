/* CPU feature kernels for per-symbol kinds: the plain reference (the oracle), the
 * optimised streaming path (O(1) per bar, OpenMP over symbols) and the incremental
 * one-bar update, which runs the optimised path's step functions themselves.
 *
 * Reference: every windowed output is recomputed from its observation window, gathered
 * by walking back over the block's inputs (skipping NaN) and then the carried ring:
 * O(w + gaps) per bar, obviously right. Recursive kinds (ema, rsi, atr, macd) are
 * their defining recurrences written out plainly. At the end of a call it writes the
 * state in canonical form (features_impl.h) so any path can continue it.
 *
 * Optimised: rolling moments slide shifted sums A = sum(x-K), B = sum((x-K)^2) and
 * recompute them exactly (two-pass, K = window mean) when the window fills and then
 * every multiple of w >= 64 observations, so rounding cannot accumulate for long, and
 * sooner when K has drifted far from the mean (bounded cancellation); a run counter
 * makes constant windows exactly std 0 (as the reference). Donchian uses segment
 * prefix/suffix extremes (exact, O(1)). The recompute schedule depends only on the
 * observations, never on block boundaries, and all carried quantities live in the
 * state, so streaming in blocks is bit-identical to one call. The batch loops and
 * qa_feat_update run the same force-inlined step functions; with IEEE arithmetic (no
 * -ffast-math; GCC in ISO C mode does not contract a*b + c) they round identically. */
#include <math.h>    /* isnan, sqrt, log, fabs, NAN */
#include <stdlib.h>  /* malloc, free */

#include "kernels/features_impl.h" /* plan, state layout, canonical helpers */

/* ---- optimised step functions (also the incremental path) -------------------------------- */

/* The per-bar steps must inline into the row loops (their accumulators then live in
 * registers); the rare O(w) re-anchoring stays out of line so that they stay small. */
#if defined(__GNUC__)
#define STEP static inline __attribute__((always_inline))
#define COLD static __attribute__((noinline, cold))
#else
#define STEP static inline
#define COLD static
#endif

typedef struct src_acc {
    int mode;
    double has, prev;
} src_acc;

STEP void src_load(src_acc *s, int mode, const double *st) {
    s->mode = mode;
    s->has = mode == QA_FEAT_SRC_RAW ? 0.0 : st[QA_FEAT_SRC_HAS];
    s->prev = mode == QA_FEAT_SRC_RAW ? 0.0 : st[QA_FEAT_SRC_PREV];
}
STEP void src_store(const src_acc *s, double *st) {
    if (s->mode == QA_FEAT_SRC_RAW) return;
    st[QA_FEAT_SRC_HAS] = s->has;
    st[QA_FEAT_SRC_PREV] = s->prev;
}
/* x from the raw value p: p itself, or the return since the previous observed p. */
STEP double src_step(src_acc *s, double p) {
    if (s->mode == QA_FEAT_SRC_RAW || isnan(p)) return p;
    double x = NAN;
    if (s->has != 0.0) x = s->mode == QA_FEAT_SRC_RET ? p / s->prev - 1.0 : log(p / s->prev);
    s->has = 1.0;
    s->prev = p;
    return x;
}

typedef struct win_acc {
    int w, pos;
    double inv_w, inv_w1; /* 1/w and 1/(w-1): multiplications instead of divisions */
    double period;        /* scheduled re-anchoring every `period` observations */
    double count, K, A, B, run;
    double *ring;
} win_acc;

STEP void win_load(win_acc *a, int w, double *b) {
    a->w = w;
    a->inv_w = 1.0 / (double)w;
    a->inv_w1 = w > 1 ? 1.0 / (double)(w - 1) : 0.0;
    a->period = (double)w * (double)((64 + w - 1) / w); /* the multiple of w that is >= 64 */
    a->count = b[QA_FEAT_WIN_COUNT];
    a->pos = (int)b[QA_FEAT_WIN_POS];
    a->K = b[QA_FEAT_WIN_K];
    a->A = b[QA_FEAT_WIN_A];
    a->B = b[QA_FEAT_WIN_B];
    a->run = b[QA_FEAT_WIN_RUN];
    a->ring = b + QA_FEAT_WIN_RING;
}
STEP void win_store(const win_acc *a, double *b) {
    b[QA_FEAT_WIN_COUNT] = a->count;
    b[QA_FEAT_WIN_POS] = (double)a->pos;
    b[QA_FEAT_WIN_K] = a->K;
    b[QA_FEAT_WIN_A] = a->A;
    b[QA_FEAT_WIN_B] = a->B;
    b[QA_FEAT_WIN_RUN] = a->run;
}
/* Exact recomputation of K, A, B, run for a full window; returns them by value so that
 * the accumulator of the inlined caller never has its address taken. */
typedef struct win_sums {
    double K, A, B, run;
} win_sums;
COLD win_sums win_reanchor(const double *ring, int w, int pos) {
    win_sums r;
    qa_feat_win_canon(ring, w, w, pos, &r.K, &r.A, &r.B, &r.run);
    return r;
}
STEP void win_apply(win_acc *a, win_sums r) {
    a->K = r.K;
    a->A = r.A;
    a->B = r.B;
    a->run = r.run;
}

/* Adds observation x; returns 1 when the window is full. */
STEP int win_push(win_acc *a, double x) {
    const int w = a->w;
    int p = a->pos;
    if (a->count >= (double)w) { /* slot p holds the observation leaving the window */
        double dn = x - a->K, dold = a->ring[p] - a->K;
        a->A += dn - dold;
        a->B += dn * dn - dold * dold;
    } else {
        if (a->count == 0.0) a->K = x;
        double d = x - a->K;
        a->A += d;
        a->B += d * d;
    }
    if (a->count > 0.0 && x == a->ring[p == 0 ? w - 1 : p - 1]) {
        if (a->run < (double)w) a->run += 1.0;
    } else {
        a->run = 1.0;
    }
    a->ring[p] = x;
    a->count += 1.0;
    p = p + 1 == w ? 0 : p + 1;
    a->pos = p;
    /* Exact two-pass recomputation (stops drift) when the window fills and then every
     * `period` observations (the multiple of w >= 64: at most ~2*period rounded updates
     * between anchors, and the O(w) pass costs <= 3*w/period per bar). Between those,
     * also when the shift has wandered more than 8 standard deviations from the window
     * mean (after a level jump), where B - A^2/w would cancel more than 6 bits. Both
     * decisions depend only on the observations, never on block boundaries. */
    if (p == 0 && (a->count == (double)w || fmod(a->count, a->period) == 0.0)) {
        win_apply(a, win_reanchor(a->ring, w, 0));
    } else if (a->count > (double)w && a->run < (double)w) {
        double a2 = a->A * a->A * a->inv_w;
        /* written as !(ok) so that NaN sums (an infinite input went through) re-anchor too */
        if (!(a2 <= 64.0 * (a->B - a2))) win_apply(a, win_reanchor(a->ring, w, p));
    }
    return a->count >= (double)w;
}
/* Mean and variance (ddof 1) of a full window whose newest observation is x. */
STEP void win_moments(const win_acc *a, double x, double *mean, double *var) {
    if (a->run >= (double)a->w) { /* all w observations equal: exactly x and 0, as the reference */
        *mean = x;
        *var = 0.0;
        return;
    }
    *mean = a->K + a->A * a->inv_w;
    double v = (a->B - a->A * a->A * a->inv_w) * a->inv_w1;
    *var = v > 0.0 ? v : 0.0;
}

typedef struct don_acc {
    int w, pos;
    double count, ph, pl, up, dn;
    double *rh, *rl, *sh, *sl;
} don_acc;

STEP void don_load(don_acc *a, int w, double *b) {
    a->w = w;
    a->count = b[QA_FEAT_DON_COUNT];
    a->pos = (int)b[QA_FEAT_DON_POS];
    a->ph = b[QA_FEAT_DON_PH];
    a->pl = b[QA_FEAT_DON_PL];
    a->rh = b + QA_FEAT_DON_RING;
    a->rl = a->rh + w;
    a->sh = a->rl + w;
    a->sl = a->sh + w;
}
STEP void don_store(const don_acc *a, double *b) {
    b[QA_FEAT_DON_COUNT] = a->count;
    b[QA_FEAT_DON_POS] = (double)a->pos;
    b[QA_FEAT_DON_PH] = a->ph;
    b[QA_FEAT_DON_PL] = a->pl;
}
COLD void don_suffix(const double *rh, const double *rl, double *sh, double *sl, int w) {
    qa_feat_don_suffix(rh, rl, sh, sl, w);
}

/* Adds an observation (h, l); returns 1 when the window is full, with its max of highs
 * in a->up and min of lows in a->dn. The window of observation j (slot o = j mod w) is
 * slots o+1..w-1 of the previous segment (a suffix) plus slots 0..o of the current one
 * (a prefix): two comparisons per bar, and an O(w) suffix pass once per w bars. */
STEP int don_push(don_acc *a, double h, double l) {
    const int w = a->w, o = a->pos;
    a->rh[o] = h;
    a->rl[o] = l;
    a->ph = (o == 0 || h > a->ph) ? h : a->ph;
    a->pl = (o == 0 || l < a->pl) ? l : a->pl;
    if (o == w - 1) { /* the segment is complete and is exactly the window */
        a->up = a->ph;
        a->dn = a->pl;
        don_suffix(a->rh, a->rl, a->sh, a->sl, w);
    } else {
        a->up = a->sh[o + 1] > a->ph ? a->sh[o + 1] : a->ph;
        a->dn = a->sl[o + 1] < a->pl ? a->sl[o + 1] : a->pl;
    }
    a->count += 1.0;
    a->pos = o + 1 == w ? 0 : o + 1;
    return a->count >= (double)w;
}

/* One EMA-type smoother seeded with the plain mean of its first L inputs; n = inputs
 * before this one. ema: y = alpha*x + (1-alpha)*y_prev. Returns y, or NaN in warm-up. */
STEP double ema_step(double n, int L, double alpha, double *sum, double *y, double x) {
    if (n < (double)(L - 1)) {
        *sum += x;
        return NAN;
    }
    if (n == (double)(L - 1)) {
        *sum += x;
        *y = *sum / (double)L;
        return *y;
    }
    *y = alpha * x + (1.0 - alpha) * *y;
    return *y;
}
/* Wilder's smoother: seeded like ema_step, then y = (y_prev*(w-1) + x)/w evaluated as
 * m*y_prev + c*x with m = (w-1)/w, c = 1/w: the loop-carried chain is a multiply and an
 * add instead of a division (~3x shorter); the rounding differs from the literal form
 * (the reference's) by a few ulps (docs/features.md, tolerances). */
STEP double wilder_step(double n, int w, double *sum, double *y, double x) {
    if (n < (double)(w - 1)) {
        *sum += x;
        return NAN;
    }
    if (n == (double)(w - 1)) {
        *sum += x;
        *y = *sum / (double)w;
        return *y;
    }
    const double m = (double)(w - 1) / (double)w, c = 1.0 / (double)w; /* hoisted out of row loops */
    *y = m * *y + c * x;
    return *y;
}
STEP double ema_alpha(int span) { return 2.0 / ((double)span + 1.0); }

STEP double rsi_step(double *b, int w, double x) {
    double n = b[QA_FEAT_RSI_COUNT];
    b[QA_FEAT_RSI_COUNT] = n + 1.0;
    if (n == 0.0) {
        b[QA_FEAT_RSI_PREV] = x;
        return NAN;
    }
    double d = x - b[QA_FEAT_RSI_PREV];
    b[QA_FEAT_RSI_PREV] = x;
    double g = d > 0.0 ? d : 0.0, l = d < 0.0 ? -d : 0.0;
    double ag = wilder_step(n - 1.0, w, &b[QA_FEAT_RSI_SUM_G], &b[QA_FEAT_RSI_AG], g);
    double al = wilder_step(n - 1.0, w, &b[QA_FEAT_RSI_SUM_L], &b[QA_FEAT_RSI_AL], l);
    return isnan(ag) ? NAN : qa_feat_rsi_value(ag, al);
}

STEP double atr_step(double *b, int w, double h, double l, double c) {
    double n = b[QA_FEAT_ATR_COUNT];
    double tr = qa_feat_true_range(h, l, b[QA_FEAT_ATR_PREV], n == 0.0);
    b[QA_FEAT_ATR_COUNT] = n + 1.0;
    b[QA_FEAT_ATR_PREV] = c;
    return wilder_step(n, w, &b[QA_FEAT_ATR_SUM], &b[QA_FEAT_ATR_Y], tr);
}

STEP double macd_step(double *b, int fast, int slow, int sig, int output, double x) {
    double n = b[QA_FEAT_MACD_COUNT];
    b[QA_FEAT_MACD_COUNT] = n + 1.0;
    double f = ema_step(n, fast, ema_alpha(fast), &b[QA_FEAT_MACD_SUM_F], &b[QA_FEAT_MACD_YF], x);
    double s = ema_step(n, slow, ema_alpha(slow), &b[QA_FEAT_MACD_SUM_S], &b[QA_FEAT_MACD_YS], x);
    if (n < (double)(slow - 1)) return NAN; /* the line exists once both EMAs do */
    double line = f - s;
    double sg = ema_step(n - (double)(slow - 1), sig, ema_alpha(sig), &b[QA_FEAT_MACD_SUM_G], &b[QA_FEAT_MACD_YG],
                         line);
    if (output == QA_FEAT_OUT_LINE) return line;
    if (output == QA_FEAT_OUT_SIGNAL) return sg;
    return line - sg; /* NaN while the signal warms up */
}

/* ---- optimised rows ------------------------------------------------------------------------ */

/* Inputs of one symbol's row. */
typedef struct row_in {
    const double *f[QA_FEAT_BAR_FIELDS];
} row_in;

/* Rolling moments over one row; `kind` is a constant at each (inlined) call site. */
STEP void win_row(const qa_feat_plan *p, int kind, src_acc *src, const double *xr, size_t nbar, double *b,
                  double *out) {
    win_acc a;
    win_load(&a, p->w, b);
    for (size_t t = 0; t < nbar; t++) {
        double x = src_step(src, xr[t]), y = NAN;
        if (!isnan(x) && win_push(&a, x)) {
            double mean, var;
            win_moments(&a, x, &mean, &var);
            y = qa_feat_win_output(kind, p->k, x, mean, var);
        }
        out[t] = y;
    }
    win_store(&a, b);
}

static void opt_row(const qa_feat_plan *p, const row_in *r, size_t nbar, double *st, double *out) {
    double *b = st + p->body_off;
    src_acc src;
    src_load(&src, p->src_mode, st + p->src_off);
    const double *xr = r->f[p->src_field];
    switch (p->body) {
    case QA_FEAT_BODY_NONE:
    case QA_FEAT_BODY_XS:
        for (size_t t = 0; t < nbar; t++) out[t] = src_step(&src, xr[t]);
        break;
    case QA_FEAT_BODY_WIN: /* one loop per kind: the output formula is folded in */
        switch (p->kind) {
        case QA_FEAT_MEAN: win_row(p, QA_FEAT_MEAN, &src, xr, nbar, b, out); break;
        case QA_FEAT_STD: win_row(p, QA_FEAT_STD, &src, xr, nbar, b, out); break;
        case QA_FEAT_BBPCT: win_row(p, QA_FEAT_BBPCT, &src, xr, nbar, b, out); break;
        default: win_row(p, QA_FEAT_ZSCORE, &src, xr, nbar, b, out); break; /* zscore, volz */
        }
        break;
    case QA_FEAT_BODY_DON: {
        don_acc a;
        don_load(&a, p->w, b);
        const double *h = r->f[QA_FEAT_FIELD_HIGH], *l = r->f[QA_FEAT_FIELD_LOW], *c = r->f[QA_FEAT_FIELD_CLOSE];
        for (size_t t = 0; t < nbar; t++) {
            double y = NAN;
            if (!isnan(h[t]) && !isnan(l[t]) && !isnan(c[t]) && don_push(&a, h[t], l[t]))
                y = qa_feat_don_output(p->output, a.up, a.dn, c[t]);
            out[t] = y;
        }
        don_store(&a, b);
        break;
    }
    case QA_FEAT_BODY_EMA: {
        double n = b[QA_FEAT_EMA_COUNT], sum = b[QA_FEAT_EMA_SUM], y = b[QA_FEAT_EMA_Y], alpha = ema_alpha(p->w);
        for (size_t t = 0; t < nbar; t++) {
            double x = src_step(&src, xr[t]);
            out[t] = isnan(x) ? NAN : ema_step(n, p->w, alpha, &sum, &y, x);
            if (!isnan(x)) n += 1.0;
        }
        b[QA_FEAT_EMA_COUNT] = n;
        b[QA_FEAT_EMA_SUM] = sum;
        b[QA_FEAT_EMA_Y] = y;
        break;
    }
    case QA_FEAT_BODY_RSI:
        for (size_t t = 0; t < nbar; t++) {
            double x = src_step(&src, xr[t]);
            out[t] = isnan(x) ? NAN : rsi_step(b, p->w, x);
        }
        break;
    case QA_FEAT_BODY_ATR: {
        const double *h = r->f[QA_FEAT_FIELD_HIGH], *l = r->f[QA_FEAT_FIELD_LOW], *c = r->f[QA_FEAT_FIELD_CLOSE];
        for (size_t t = 0; t < nbar; t++)
            out[t] = (isnan(h[t]) || isnan(l[t]) || isnan(c[t])) ? NAN : atr_step(b, p->w, h[t], l[t], c[t]);
        break;
    }
    case QA_FEAT_BODY_MACD:
        for (size_t t = 0; t < nbar; t++) {
            double x = src_step(&src, xr[t]);
            out[t] = isnan(x) ? NAN : macd_step(b, p->w, p->slow, p->sig, p->output, x);
        }
        break;
    default: break;
    }
    src_store(&src, st + p->src_off);
}

/* ---- reference rows ------------------------------------------------------------------------ */

/* The last w observations up to and including bar t, oldest first, into v[0..w): the
 * block's non-NaN values of x at or before t, then the carried ring (newest first).
 * Returns how many were found (< w in warm-up). */
static int ref_gather(const double *x, size_t t, const double *ring, int w, double count, int pos, double *v) {
    int n = 0;
    for (size_t u = t + 1; u-- > 0 && n < w;)
        if (!isnan(x[u])) v[w - 1 - n++] = x[u];
    int fill = count < (double)w ? (int)count : w;
    for (int j = 0; j < fill && n < w; j++) {
        int slot = pos - 1 - j;
        if (slot < 0) slot += w;
        v[w - 1 - n++] = ring[slot];
    }
    if (n < w) /* warm-up: move what was found to the front */
        for (int i = 0; i < n; i++) v[i] = v[w - n + i];
    return n;
}

/* Mean shifted by the oldest value, then the two-pass sum of squares: a window of equal
 * values gives exactly that value and variance 0. */
static void ref_moments(const double *v, int w, double *mean, double *var) {
    double K = v[0], s = 0.0;
    for (int i = 0; i < w; i++) s += v[i] - K;
    double m = K + s / (double)w, q = 0.0;
    for (int i = 0; i < w; i++) q += (v[i] - m) * (v[i] - m);
    *mean = m;
    *var = w > 1 ? q / (double)(w - 1) : 0.0;
}

/* Appends the non-NaN values of x[0..n) to a ring of w slots (count, pos as in the state). */
static void ref_ring_append(double *ring, int w, double *count, int *pos, const double *x, size_t n) {
    for (size_t t = 0; t < n; t++) {
        if (isnan(x[t])) continue;
        ring[*pos] = x[t];
        *pos = *pos + 1 == w ? 0 : *pos + 1;
        *count += 1.0;
    }
}

/* scratch: 4*nbar + 2*w doubles. */
static void ref_row(const qa_feat_plan *p, const row_in *r, size_t nbar, double *st, double *out, double *scratch) {
    double *x = scratch, *v = scratch + nbar, *v2 = v + p->w;
    double *b = st + p->body_off;
    const int w = p->w;
    /* Source: the input series x, NaN where the bar is not an observation. */
    const double *raw = r->f[p->src_field];
    if (p->src_mode == QA_FEAT_SRC_RAW) {
        for (size_t t = 0; t < nbar; t++) x[t] = raw[t];
    } else {
        double *s = st + p->src_off;
        for (size_t t = 0; t < nbar; t++) {
            x[t] = NAN;
            if (isnan(raw[t])) continue;
            if (s[QA_FEAT_SRC_HAS] != 0.0) {
                double ratio = raw[t] / s[QA_FEAT_SRC_PREV];
                x[t] = p->src_mode == QA_FEAT_SRC_RET ? ratio - 1.0 : log(ratio);
            }
            s[QA_FEAT_SRC_HAS] = 1.0;
            s[QA_FEAT_SRC_PREV] = raw[t];
        }
    }
    switch (p->body) {
    case QA_FEAT_BODY_NONE:
    case QA_FEAT_BODY_XS:
        for (size_t t = 0; t < nbar; t++) out[t] = x[t];
        break;
    case QA_FEAT_BODY_WIN: {
        double *ring = b + QA_FEAT_WIN_RING, count = b[QA_FEAT_WIN_COUNT];
        int pos = (int)b[QA_FEAT_WIN_POS];
        for (size_t t = 0; t < nbar; t++) {
            out[t] = NAN;
            if (isnan(x[t]) || ref_gather(x, t, ring, w, count, pos, v) < w) continue;
            double mean, var;
            ref_moments(v, w, &mean, &var);
            out[t] = qa_feat_win_output(p->kind, p->k, x[t], mean, var);
        }
        ref_ring_append(ring, w, &count, &pos, x, nbar);
        b[QA_FEAT_WIN_COUNT] = count;
        b[QA_FEAT_WIN_POS] = (double)pos;
        int fill = count < (double)w ? (int)count : w;
        qa_feat_win_canon(ring, w, fill, pos, &b[QA_FEAT_WIN_K], &b[QA_FEAT_WIN_A], &b[QA_FEAT_WIN_B],
                          &b[QA_FEAT_WIN_RUN]);
        break;
    }
    case QA_FEAT_BODY_DON: {
        const double *hi = r->f[QA_FEAT_FIELD_HIGH], *lo = r->f[QA_FEAT_FIELD_LOW], *c = r->f[QA_FEAT_FIELD_CLOSE];
        /* Observations need all three inputs: mask the others out. */
        double *h = x, *l = scratch + 2 * nbar + 2 * (size_t)w;
        for (size_t t = 0; t < nbar; t++) {
            int obs = !isnan(hi[t]) && !isnan(lo[t]) && !isnan(c[t]);
            h[t] = obs ? hi[t] : NAN;
            l[t] = obs ? lo[t] : NAN;
        }
        double *rh = b + QA_FEAT_DON_RING, *rl = rh + w, count = b[QA_FEAT_DON_COUNT];
        int pos = (int)b[QA_FEAT_DON_POS];
        for (size_t t = 0; t < nbar; t++) {
            out[t] = NAN;
            if (isnan(h[t]) || ref_gather(h, t, rh, w, count, pos, v) < w) continue;
            ref_gather(l, t, rl, w, count, pos, v2);
            double up = v[0], dn = v2[0];
            for (int i = 1; i < w; i++) {
                if (v[i] > up) up = v[i];
                if (v2[i] < dn) dn = v2[i];
            }
            out[t] = qa_feat_don_output(p->output, up, dn, c[t]);
        }
        double count_l = count;
        int pos_l = pos;
        ref_ring_append(rh, w, &count, &pos, h, nbar);
        ref_ring_append(rl, w, &count_l, &pos_l, l, nbar);
        b[QA_FEAT_DON_COUNT] = count;
        b[QA_FEAT_DON_POS] = (double)pos;
        qa_feat_don_canon(b, w);
        break;
    }
    case QA_FEAT_BODY_EMA: {
        /* ema: mean of the first span observations, then alpha*x + (1-alpha)*ema_prev. */
        double alpha = 2.0 / ((double)w + 1.0);
        for (size_t t = 0; t < nbar; t++) {
            out[t] = NAN;
            if (isnan(x[t])) continue;
            double n = b[QA_FEAT_EMA_COUNT];
            if (n < (double)w) b[QA_FEAT_EMA_SUM] += x[t];
            if (n == (double)(w - 1)) b[QA_FEAT_EMA_Y] = b[QA_FEAT_EMA_SUM] / (double)w;
            if (n > (double)(w - 1)) b[QA_FEAT_EMA_Y] = alpha * x[t] + (1.0 - alpha) * b[QA_FEAT_EMA_Y];
            if (n >= (double)(w - 1)) out[t] = b[QA_FEAT_EMA_Y];
            b[QA_FEAT_EMA_COUNT] = n + 1.0;
        }
        break;
    }
    case QA_FEAT_BODY_RSI:
        for (size_t t = 0; t < nbar; t++) {
            out[t] = NAN;
            if (isnan(x[t])) continue;
            double n = b[QA_FEAT_RSI_COUNT]; /* closes before this one */
            b[QA_FEAT_RSI_COUNT] = n + 1.0;
            double prev = b[QA_FEAT_RSI_PREV];
            b[QA_FEAT_RSI_PREV] = x[t];
            if (n == 0.0) continue;
            double d = x[t] - prev, gain = d > 0.0 ? d : 0.0, loss = d < 0.0 ? -d : 0.0;
            double k = n - 1.0; /* index of this change */
            if (k < (double)w) {
                b[QA_FEAT_RSI_SUM_G] += gain;
                b[QA_FEAT_RSI_SUM_L] += loss;
            }
            if (k == (double)(w - 1)) {
                b[QA_FEAT_RSI_AG] = b[QA_FEAT_RSI_SUM_G] / (double)w;
                b[QA_FEAT_RSI_AL] = b[QA_FEAT_RSI_SUM_L] / (double)w;
            } else if (k > (double)(w - 1)) {
                b[QA_FEAT_RSI_AG] = (b[QA_FEAT_RSI_AG] * (double)(w - 1) + gain) / (double)w;
                b[QA_FEAT_RSI_AL] = (b[QA_FEAT_RSI_AL] * (double)(w - 1) + loss) / (double)w;
            }
            if (k >= (double)(w - 1)) out[t] = qa_feat_rsi_value(b[QA_FEAT_RSI_AG], b[QA_FEAT_RSI_AL]);
        }
        break;
    case QA_FEAT_BODY_ATR: {
        const double *h = r->f[QA_FEAT_FIELD_HIGH], *l = r->f[QA_FEAT_FIELD_LOW], *c = r->f[QA_FEAT_FIELD_CLOSE];
        for (size_t t = 0; t < nbar; t++) {
            out[t] = NAN;
            if (isnan(h[t]) || isnan(l[t]) || isnan(c[t])) continue;
            double n = b[QA_FEAT_ATR_COUNT];
            double tr = qa_feat_true_range(h[t], l[t], b[QA_FEAT_ATR_PREV], n == 0.0);
            b[QA_FEAT_ATR_PREV] = c[t];
            b[QA_FEAT_ATR_COUNT] = n + 1.0;
            if (n < (double)w) b[QA_FEAT_ATR_SUM] += tr;
            if (n == (double)(w - 1)) b[QA_FEAT_ATR_Y] = b[QA_FEAT_ATR_SUM] / (double)w;
            if (n > (double)(w - 1)) b[QA_FEAT_ATR_Y] = (b[QA_FEAT_ATR_Y] * (double)(w - 1) + tr) / (double)w;
            if (n >= (double)(w - 1)) out[t] = b[QA_FEAT_ATR_Y];
        }
        break;
    }
    case QA_FEAT_BODY_MACD: {
        const int fast = w, slow = p->slow, sig = p->sig;
        double af = 2.0 / (fast + 1.0), as = 2.0 / (slow + 1.0), ag = 2.0 / (sig + 1.0);
        for (size_t t = 0; t < nbar; t++) {
            out[t] = NAN;
            if (isnan(x[t])) continue;
            double n = b[QA_FEAT_MACD_COUNT];
            b[QA_FEAT_MACD_COUNT] = n + 1.0;
            if (n < fast) b[QA_FEAT_MACD_SUM_F] += x[t];
            if (n == fast - 1) b[QA_FEAT_MACD_YF] = b[QA_FEAT_MACD_SUM_F] / fast;
            if (n > fast - 1) b[QA_FEAT_MACD_YF] = af * x[t] + (1.0 - af) * b[QA_FEAT_MACD_YF];
            if (n < slow) b[QA_FEAT_MACD_SUM_S] += x[t];
            if (n == slow - 1) b[QA_FEAT_MACD_YS] = b[QA_FEAT_MACD_SUM_S] / slow;
            if (n > slow - 1) b[QA_FEAT_MACD_YS] = as * x[t] + (1.0 - as) * b[QA_FEAT_MACD_YS];
            if (n < slow - 1) continue;
            double line = b[QA_FEAT_MACD_YF] - b[QA_FEAT_MACD_YS], j = n - (slow - 1), signal = NAN;
            if (j < sig) b[QA_FEAT_MACD_SUM_G] += line;
            if (j == sig - 1) b[QA_FEAT_MACD_YG] = b[QA_FEAT_MACD_SUM_G] / sig;
            if (j > sig - 1) b[QA_FEAT_MACD_YG] = ag * line + (1.0 - ag) * b[QA_FEAT_MACD_YG];
            if (j >= sig - 1) signal = b[QA_FEAT_MACD_YG];
            out[t] = p->output == QA_FEAT_OUT_LINE ? line : p->output == QA_FEAT_OUT_SIGNAL ? signal : line - signal;
        }
        break;
    }
    default: break;
    }
}

/* ---- driver ------------------------------------------------------------------------------- */

static void row_inputs(const qa_feat_panel *in, size_t s, row_in *r) {
    for (int f = 0; f < QA_FEAT_BAR_FIELDS; f++) r->f[f] = in->field[f] ? in->field[f] + s * in->ld : NULL;
}

qa_status qa_feat_compute_cpu(const qa_feat_plan *p, const qa_feat_panel *in, double *state, double *out,
                              size_t ld_out, int threads, int reference) {
    const long long nsym = (long long)in->nsym;
    if (p->body == QA_FEAT_BODY_XS && p->src_mode == QA_FEAT_SRC_RAW) /* no per-symbol stage */
        return qa_feat_xs_cpu(p->kind, in->field[p->src_field], in->ld, in->nsym, in->nbar, out, ld_out, threads,
                              reference);
    if (reference) {
        double *scratch = malloc((4 * in->nbar + 2 * (size_t)p->w + 1) * sizeof *scratch);
        if (!scratch) return QA_FAIL(QA_ERR_NOMEM, "reference scratch of %zu bars", in->nbar);
        for (long long s = 0; s < nsym; s++) {
            row_in r;
            row_inputs(in, (size_t)s, &r);
            ref_row(p, &r, in->nbar, state + (size_t)s * p->doubles, out + (size_t)s * ld_out, scratch);
        }
        free(scratch);
    } else {
        (void)threads;
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads) if (threads > 1 && nsym > 1)
        for (long long s = 0; s < nsym; s++) {
            row_in r;
            row_inputs(in, (size_t)s, &r);
            opt_row(p, &r, in->nbar, state + (size_t)s * p->doubles, out + (size_t)s * ld_out);
        }
    }
    if (p->body != QA_FEAT_BODY_XS) return QA_OK;
    /* Cross-section of the derived x the per-symbol stage wrote to `out`, in place. */
    return qa_feat_xs_cpu(p->kind, out, ld_out, in->nsym, in->nbar, out, ld_out, threads, reference);
}

/* ---- incremental ------------------------------------------------------------------------------ */

double qa_feat_update(const qa_feat_spec *spec, double *st, const qa_feat_bar *bar) {
    qa_feat_plan p;
    qa_feat_plan_make(spec, &p);
    const double raw[QA_FEAT_BAR_FIELDS] = {bar->open, bar->high, bar->low, bar->close, bar->volume};
    double *b = st + p.body_off, y = NAN;
    src_acc src;
    src_load(&src, p.src_mode, st + p.src_off);
    double x = src_step(&src, raw[p.src_field]);
    src_store(&src, st + p.src_off);
    switch (p.body) {
    case QA_FEAT_BODY_NONE:
    case QA_FEAT_BODY_XS: y = x; break;
    case QA_FEAT_BODY_WIN: {
        if (isnan(x)) break;
        win_acc a;
        win_load(&a, p.w, b);
        if (win_push(&a, x)) {
            double mean, var;
            win_moments(&a, x, &mean, &var);
            y = qa_feat_win_output(p.kind, p.k, x, mean, var);
        }
        win_store(&a, b);
        break;
    }
    case QA_FEAT_BODY_DON: {
        double h = raw[QA_FEAT_FIELD_HIGH], l = raw[QA_FEAT_FIELD_LOW], c = raw[QA_FEAT_FIELD_CLOSE];
        if (isnan(h) || isnan(l) || isnan(c)) break;
        don_acc a;
        don_load(&a, p.w, b);
        if (don_push(&a, h, l)) y = qa_feat_don_output(p.output, a.up, a.dn, c);
        don_store(&a, b);
        break;
    }
    case QA_FEAT_BODY_EMA:
        if (isnan(x)) break;
        y = ema_step(b[QA_FEAT_EMA_COUNT], p.w, ema_alpha(p.w), &b[QA_FEAT_EMA_SUM], &b[QA_FEAT_EMA_Y], x);
        b[QA_FEAT_EMA_COUNT] += 1.0;
        break;
    case QA_FEAT_BODY_RSI:
        if (!isnan(x)) y = rsi_step(b, p.w, x);
        break;
    case QA_FEAT_BODY_ATR: {
        double h = raw[QA_FEAT_FIELD_HIGH], l = raw[QA_FEAT_FIELD_LOW], c = raw[QA_FEAT_FIELD_CLOSE];
        if (!isnan(h) && !isnan(l) && !isnan(c)) y = atr_step(b, p.w, h, l, c);
        break;
    }
    case QA_FEAT_BODY_MACD:
        if (!isnan(x)) y = macd_step(b, p.w, p.slow, p.sig, p.output, x);
        break;
    default: break;
    }
    return y;
}
