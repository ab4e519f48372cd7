/* The optimised CPU feature kernels: the per-symbol streaming path (O(1) per bar,
 * OpenMP over symbols), the incremental one-bar update, which runs the streaming path's
 * step functions themselves, and the cross-sections (tiles of timestamps, radix-sorted
 * ranks). The oracle they are tested against is features_ref.c.
 *
 * Per-symbol: rolling moments slide shifted sums A = sum(x-K), B = sum((x-K)^2) and
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
#include <stdint.h>  /* uint64_t, uint32_t */
#include <stdlib.h>  /* malloc, free */
#include <string.h>  /* memcpy */

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
    const int reps = (64 + w - 1) / w; /* ceil(64 / w): period is the multiple of w that is >= 64 */
    a->period = (double)w * (double)reps;
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

static void opt_row(const qa_feat_plan *p, const qa_feat_row_in *r, size_t nbar, double *st, double *out) {
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

/* ---- driver ------------------------------------------------------------------------------- */


qa_status qa_feat_compute_cpu(const qa_feat_plan *p, const qa_feat_panel *in, double *state, double *out,
                              size_t ld_out, int threads) {
    const long long nsym = (long long)in->nsym;
    if (p->body == QA_FEAT_BODY_XS && p->src_mode == QA_FEAT_SRC_RAW) /* no per-symbol stage */
        return qa_feat_xs_cpu(p->kind, in->field[p->src_field], in->ld, in->nsym, in->nbar, out, ld_out, threads);
    (void)threads;
#pragma omp parallel for schedule(dynamic, 4) num_threads(threads) if (threads > 1 && nsym > 1)
    for (long long s = 0; s < nsym; s++) {
        qa_feat_row_in r;
        qa_feat_row_inputs(in, (size_t)s, &r);
        opt_row(p, &r, in->nbar, state + (size_t)s * p->doubles, out + (size_t)s * ld_out);
    }
    if (p->body != QA_FEAT_BODY_XS) return QA_OK;
    /* Cross-section of the derived x the per-symbol stage wrote to `out`, in place. */
    return qa_feat_xs_cpu(p->kind, out, ld_out, in->nsym, in->nbar, out, ld_out, threads);
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

/* ---- cross-sections --------------------------------------------------------------------------- */

/* Per timestamp t, over the symbols whose x is non-NaN:
 *   xs_rank   = (rank - 1)/(n - 1), average ranks for ties, 0.5 when n == 1;
 *   xs_zscore = (x - mean)/std (ddof 1), NaN when n < 2 or std == 0.
 * Ranks: an LSD radix sort of order-preserving 64-bit keys (on their upper halves, with
 * exact fix-up of equal halves), then tie groups; tiles of 8 timestamps (one cache line
 * per symbol row) gathered into a column buffer, OpenMP over tiles. The same doubles as
 * the reference's counting: ranks are exact small integers and halves, and the z-score
 * is the same two-pass row in symbol order. */

enum { XS_TILE = 8 }; /* timestamps per gathered tile: 8 doubles = one cache line */

/* Sorts a[0..n) by their upper 32 bits (stable LSD radix, 8 bits a pass; passes whose
 * digit is the same for every word are skipped). tmp holds n words. */
static void radix_sort_hi32(uint64_t *a, uint64_t *tmp, size_t n) {
    size_t hist[4][256];
    memset(hist, 0, sizeof hist);
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 4; b++) hist[b][(a[i] >> (32 + 8 * b)) & 255u]++;
    uint64_t *src = a, *dst = tmp;
    for (int b = 0; b < 4; b++) {
        size_t *h = hist[b];
        const int shift = 32 + 8 * b;
        if (n == 0 || h[(src[0] >> shift) & 255u] == n) continue;
        size_t off = 0;
        for (int d = 0; d < 256; d++) {
            size_t c = h[d];
            h[d] = off;
            off += c;
        }
        for (size_t i = 0; i < n; i++) dst[h[(src[i] >> shift) & 255u]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a) memcpy(a, src, n * sizeof *a);
}

/* Optimised row; out may equal x. `scratch` holds 3*n_all words. Items are
 * (upper 32 bits of the order key) << 32 | symbol, radix-sorted on the upper half (4
 * passes over 8-byte words instead of 8 over full keys); runs of equal upper halves
 * (values within ~1e-6 relative of each other, rare) are then ordered by the full key,
 * and ties are runs of equal full keys. */
static void xs_row_opt(int kind, const double *x, size_t n_all, double *out, uint64_t *scratch) {
    if (kind == QA_FEAT_XS_ZSCORE) {
        qa_feat_xs_zscore_row(x, n_all, out);
        return;
    }
    uint64_t *keys = scratch, *items = scratch + n_all, *tmp = items + n_all;
    size_t n = 0;
    for (size_t i = 0; i < n_all; i++) {
        if (isnan(x[i])) continue;
        keys[i] = qa_feat_order_key(x[i]);
        items[n++] = (keys[i] & 0xffffffff00000000ull) | (uint64_t)i;
    }
    for (size_t i = 0; i < n_all; i++)
        if (isnan(x[i])) out[i] = NAN;
    radix_sort_hi32(items, tmp, n);
    for (size_t i = 0; i < n;) { /* order runs of equal upper halves by the full key */
        size_t j = i + 1;
        while (j < n && (items[j] >> 32) == (items[i] >> 32)) j++;
        for (size_t a = i + 1; a < j; a++) {
            uint64_t it = items[a], k = keys[(uint32_t)it];
            size_t b = a;
            for (; b > i && keys[(uint32_t)items[b - 1]] > k; b--) items[b] = items[b - 1];
            items[b] = it;
        }
        i = j;
    }
    for (size_t i = 0; i < n;) {
        uint64_t k = keys[(uint32_t)items[i]];
        size_t j = i + 1;
        while (j < n && keys[(uint32_t)items[j]] == k) j++;
        double r = qa_feat_rank_value(i, j - i, n);
        for (size_t q = i; q < j; q++) out[(uint32_t)items[q]] = r;
        i = j;
    }
}

size_t qa_feat_xs_scratch_bytes(size_t n) { return 3 * (n ? n : 1) * sizeof(uint64_t); }

qa_status qa_feat_xs_row(qa_feat_kind kind, const double *x, size_t n, double *out, void *scratch) {
    if (kind != QA_FEAT_XS_RANK && kind != QA_FEAT_XS_ZSCORE)
        return QA_FAIL(QA_ERR_INVALID_ARG, "qa_feat_xs_row: '%s' is not a cross-sectional kind",
                       qa_feat_kind_name(kind));
    if (n == 0) return QA_OK;
    if (!x || !out || !scratch) return QA_FAIL(QA_ERR_INVALID_ARG, "qa_feat_xs_row: NULL argument");
    if (n > UINT32_MAX) return QA_FAIL(QA_ERR_LIMIT, "qa_feat_xs_row: %zu symbols (at most 2^32)", n);
    xs_row_opt(kind, x, n, out, (uint64_t *)scratch);
    return QA_OK;
}

qa_status qa_feat_xs_cpu(int kind, const double *x, size_t ldx, size_t nsym, size_t nbar, double *out,
                         size_t ld_out, int threads) {
    const long long tiles = (long long)((nbar + XS_TILE - 1) / XS_TILE);
    qa_status st = QA_OK;
    if (nsym > UINT32_MAX) return QA_FAIL(QA_ERR_LIMIT, "cross-section of %zu symbols (at most 2^32)", nsym);
    (void)threads;
#pragma omp parallel num_threads(threads) if (threads > 1 && tiles > 1)
    {
        /* Per thread: the tile's columns [XS_TILE][nsym] and the sort items. */
        double *cols = malloc(XS_TILE * nsym * sizeof *cols);
        uint64_t *items = malloc(3 * nsym * sizeof *items);
        int ok = cols && items;
        if (!ok) {
#pragma omp critical(qa_feat_xs_nomem)
            st = QA_FAIL(QA_ERR_NOMEM, "cross-section buffers for %zu symbols", nsym);
        }
#pragma omp for schedule(dynamic, 1)
        for (long long tile = 0; tile < tiles; tile++) {
            if (!ok) continue;
            size_t t0 = (size_t)tile * XS_TILE, tb = nbar - t0 < XS_TILE ? nbar - t0 : XS_TILE;
            for (size_t s = 0; s < nsym; s++) {
                const double *row = x + s * ldx + t0;
                for (size_t j = 0; j < tb; j++) cols[j * nsym + s] = row[j];
            }
            for (size_t j = 0; j < tb; j++) xs_row_opt(kind, cols + j * nsym, nsym, cols + j * nsym, items);
            for (size_t s = 0; s < nsym; s++) {
                double *row = out + s * ld_out + t0;
                for (size_t j = 0; j < tb; j++) row[j] = cols[j * nsym + s];
            }
        }
        free(cols);
        free(items);
    }
    return st;
}
