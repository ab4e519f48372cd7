/* The reference of the feature kernels (the oracle every other path is tested against).
 *
 * Per-symbol: every windowed output is recomputed from its observation window, gathered
 * by walking back over the block's inputs (skipping NaN) and then the carried ring:
 * O(w + gaps) per bar, obviously right. Recursive kinds (ema, rsi, atr, macd) are their
 * defining recurrences written out plainly. At the end of a call it writes the state in
 * canonical form (features_impl.h) so any path can continue it.
 * Cross-sections: xs_rank by counting (rank - 1 = #less + (#equal - 1)/2, O(n^2) per
 * timestamp), the definition itself; xs_zscore by the shared two-pass row. */
#include <math.h>    /* isnan, sqrt, log, NAN */
#include <stdlib.h>  /* malloc, free */
#include <string.h>  /* memcpy */

#include "kernels/features_impl.h" /* plan, state layout, canonical helpers */

/* ---- per-symbol rows ------------------------------------------------------------------------ */

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
static void ref_row(const qa_feat_plan *p, const qa_feat_row_in *r, size_t nbar, double *st, double *out, double *scratch) {
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

/* ---- cross-sections -------------------------------------------------------------------------- */

/* Reference row (out != x). */
static void xs_row_ref(int kind, const double *x, size_t n_all, double *out) {
    if (kind == QA_FEAT_XS_ZSCORE) {
        qa_feat_xs_zscore_row(x, n_all, out);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < n_all; i++) n += !isnan(x[i]);
    for (size_t i = 0; i < n_all; i++) {
        out[i] = NAN;
        if (isnan(x[i])) continue;
        size_t less = 0, eq = 0;
        for (size_t j = 0; j < n_all; j++) {
            if (isnan(x[j])) continue;
            less += x[j] < x[i];
            eq += x[j] == x[i];
        }
        out[i] = qa_feat_rank_value(less, eq, n);
    }
}

qa_status qa_feat_xs_ref(int kind, const double *x, size_t ldx, size_t nsym, size_t nbar, double *out, size_t ld_out) {
    double *col = malloc(2 * (nsym ? nsym : 1) * sizeof *col);
    if (!col) return QA_FAIL(QA_ERR_NOMEM, "cross-section column of %zu symbols", nsym);
    double *res = col + (nsym ? nsym : 1);
    for (size_t t = 0; t < nbar; t++) {
        for (size_t s = 0; s < nsym; s++) col[s] = x[s * ldx + t];
        xs_row_ref(kind, col, nsym, res);
        for (size_t s = 0; s < nsym; s++) out[s * ld_out + t] = res[s];
    }
    free(col);
    return QA_OK;
}

/* ---- driver ------------------------------------------------------------------------------------- */

qa_status qa_feat_compute_ref(const qa_feat_plan *p, const qa_feat_panel *in, double *state, double *out,
                              size_t ld_out) {
    if (p->body == QA_FEAT_BODY_XS && p->src_mode == QA_FEAT_SRC_RAW) /* no per-symbol stage */
        return qa_feat_xs_ref(p->kind, in->field[p->src_field], in->ld, in->nsym, in->nbar, out, ld_out);
    double *scratch = malloc((4 * in->nbar + 2 * (size_t)p->w + 1) * sizeof *scratch);
    if (!scratch) return QA_FAIL(QA_ERR_NOMEM, "reference scratch of %zu bars", in->nbar);
    for (size_t s = 0; s < in->nsym; s++) {
        qa_feat_row_in r;
        qa_feat_row_inputs(in, s, &r);
        ref_row(p, &r, in->nbar, state + s * p->doubles, out + s * ld_out, scratch);
    }
    free(scratch);
    if (p->body != QA_FEAT_BODY_XS) return QA_OK;
    /* Cross-section of the derived x the per-symbol stage wrote to `out`, in place. */
    return qa_feat_xs_ref(p->kind, out, ld_out, in->nsym, in->nbar, out, ld_out);
}
