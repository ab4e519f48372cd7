/* Internal to the features module (not a public API): the execution plan derived from a
 * spec, the per-symbol state layout shared by the CPU reference, the optimised CPU path
 * and CUDA, the canonical-state helpers compiled for host and device, and the backend
 * entry points that kernels/features.c dispatches to.
 *
 * Per-symbol state = [source part][body part], all doubles, all-zero = fresh:
 *   source (only when the input is a derived return): SRC_HAS (0/1), SRC_PREV (last close)
 *   WIN  (mean/std/zscore/bbpct/volz): COUNT obs seen, POS = COUNT % w (next ring slot),
 *        K shift, A = sum(x-K), B = sum((x-K)^2) over the ring's observations, RUN =
 *        trailing equal observations (capped at w), RING[w] (obs j at RING[j % w])
 *   DON  (donchian): COUNT, POS, PH, PL, RING_H[w], RING_L[w], SUF_H[w], SUF_L[w]: the
 *        observations are cut into segments of w (by observation number); PH/PL = max of
 *        highs / min of lows of the current segment so far, SUF_H[i] = max(RING_H[i..w-1])
 *        of the previous (complete) segment (van Herk / Gil-Werman)
 *   EMA: COUNT, SUM (of the first span obs), Y
 *   RSI: COUNT (closes), PREV, SUM_G, SUM_L (first w gains/losses), AG, AL
 *   ATR: COUNT, PREV (close), SUM (first w TRs), Y
 *   MACD: COUNT, SUM_F, YF, SUM_S, YS, SUM_G, YG (signal over line observations)
 * Counts are exact in a double up to 2^53 observations. */
#ifndef QA_KERNELS_FEATURES_IMPL_H
#define QA_KERNELS_FEATURES_IMPL_H

#include <math.h>    /* sqrt, fabs, NAN */
#include <stddef.h>  /* size_t */
#include <string.h>  /* memcpy (order keys) */

#include "kernels/features.h"

#if defined(__CUDACC__)
#define QA_FEAT_HD static __host__ __device__ __forceinline__
#else
#define QA_FEAT_HD static inline
#endif

/* How the per-symbol input x is produced from the bars. */
enum { QA_FEAT_SRC_RAW = 0, QA_FEAT_SRC_RET = 1, QA_FEAT_SRC_LOGRET = 2 };

/* The computation after the source stage. */
enum {
    QA_FEAT_BODY_NONE = 0, /* ret/logret: the source output itself */
    QA_FEAT_BODY_WIN = 1,  /* rolling moments: mean/std/zscore/bbpct/volz */
    QA_FEAT_BODY_DON = 2,
    QA_FEAT_BODY_EMA = 3,
    QA_FEAT_BODY_RSI = 4,
    QA_FEAT_BODY_ATR = 5,
    QA_FEAT_BODY_MACD = 6,
    QA_FEAT_BODY_XS = 7 /* cross-sectional after the source stage */
};

/* State offsets (see the file comment). */
enum { QA_FEAT_SRC_HAS = 0, QA_FEAT_SRC_PREV = 1, QA_FEAT_SRC_DOUBLES = 2 };
enum { QA_FEAT_WIN_COUNT = 0, QA_FEAT_WIN_POS, QA_FEAT_WIN_K, QA_FEAT_WIN_A, QA_FEAT_WIN_B, QA_FEAT_WIN_RUN,
       QA_FEAT_WIN_RING };
enum { QA_FEAT_DON_COUNT = 0, QA_FEAT_DON_POS, QA_FEAT_DON_PH, QA_FEAT_DON_PL,
       QA_FEAT_DON_RING /* RING_H; then RING_L at +w, SUF_H at +2w, SUF_L at +3w */ };
enum { QA_FEAT_EMA_COUNT = 0, QA_FEAT_EMA_SUM, QA_FEAT_EMA_Y, QA_FEAT_EMA_DOUBLES };
enum { QA_FEAT_RSI_COUNT = 0, QA_FEAT_RSI_PREV, QA_FEAT_RSI_SUM_G, QA_FEAT_RSI_SUM_L, QA_FEAT_RSI_AG,
       QA_FEAT_RSI_AL, QA_FEAT_RSI_DOUBLES };
enum { QA_FEAT_ATR_COUNT = 0, QA_FEAT_ATR_PREV, QA_FEAT_ATR_SUM, QA_FEAT_ATR_Y, QA_FEAT_ATR_DOUBLES };
enum { QA_FEAT_MACD_COUNT = 0, QA_FEAT_MACD_SUM_F, QA_FEAT_MACD_YF, QA_FEAT_MACD_SUM_S, QA_FEAT_MACD_YS,
       QA_FEAT_MACD_SUM_G, QA_FEAT_MACD_YG, QA_FEAT_MACD_DOUBLES };

/* Everything a backend needs to run one (valid) spec. */
typedef struct qa_feat_plan {
    int kind;      /* qa_feat_kind */
    int output;    /* qa_feat_output */
    int body;      /* QA_FEAT_BODY_* */
    int src_mode;  /* QA_FEAT_SRC_* */
    int src_field; /* bar field the source reads (close for derived returns) */
    int w, slow, sig;
    double k;
    size_t src_off, body_off, doubles; /* state layout, in doubles */
} qa_feat_plan;

#ifdef __cplusplus
extern "C" {
#endif
/* Fills `plan` from a valid spec. */
void qa_feat_plan_make(const qa_feat_spec *spec, qa_feat_plan *plan);
#ifdef __cplusplus
}
#endif

/* ---- canonical state (host and device) ------------------------------------------------ */

/* Shift K = mean of the ring's observations, A and B the sums of deviations from it and
 * RUN the trailing run of equal values: the exact recomputation the optimised path does
 * every w observations, and what the reference and CUDA paths write at the end of a
 * call so that any path can continue any other's state. Sums run oldest to newest. */
QA_FEAT_HD void qa_feat_win_canon(const double *ring, int w, int fill, int pos, double *K, double *A, double *B,
                                  double *run) {
    if (fill == 0) {
        *K = *A = *B = *run = 0.0;
        return;
    }
    int first = pos - fill;
    if (first < 0) first += w;
    double sum = 0.0;
    for (int j = 0, i = first; j < fill; j++, i = i + 1 == w ? 0 : i + 1) sum += ring[i];
    double k = sum / (double)fill, a = 0.0, b = 0.0;
    for (int j = 0, i = first; j < fill; j++, i = i + 1 == w ? 0 : i + 1) {
        double d = ring[i] - k;
        a += d;
        b += d * d;
    }
    int newest = pos == 0 ? w - 1 : pos - 1, r = 1;
    for (int j = 1, i = newest; j < fill; j++) {
        i = i == 0 ? w - 1 : i - 1;
        if (ring[i] != ring[newest]) break;
        r++;
    }
    *K = k;
    *A = a;
    *B = b;
    *run = (double)r;
}

/* ---- per-bar expressions shared by every path (host and device) ----------------------- */

/* Output of a rolling-moment kind from x, the window mean and variance (ddof 1). */
QA_FEAT_HD double qa_feat_win_output(int kind, double k, double x, double mean, double var) {
    if (kind == QA_FEAT_MEAN) return mean;
    double s = sqrt(var);
    if (kind == QA_FEAT_STD) return s;
    if (!(s > 0.0)) return NAN; /* zscore, volz and bbpct are undefined for std 0 */
    if (kind == QA_FEAT_BBPCT) return (x - (mean - k * s)) / (2.0 * k * s);
    return (x - mean) / s;
}

QA_FEAT_HD double qa_feat_don_output(int output, double up, double lo, double c) {
    if (output == QA_FEAT_OUT_UPPER) return up;
    if (output == QA_FEAT_OUT_LOWER) return lo;
    if (output == QA_FEAT_OUT_MID) return (up + lo) / 2.0;
    return up != lo ? (c - lo) / (up - lo) : NAN;
}

/* 100 - 100/(1 + ag/al) written with one division: 100*ag/(ag + al). */
QA_FEAT_HD double qa_feat_rsi_value(double ag, double al) {
    if (al == 0.0) return ag > 0.0 ? 100.0 : 50.0;
    return 100.0 * ag / (ag + al);
}

QA_FEAT_HD double qa_feat_true_range(double h, double l, double prev_close, int first) {
    if (first) return h - l;
    double a = h - l, b = fabs(h - prev_close), c = fabs(l - prev_close);
    double m = a > b ? a : b;
    return m > c ? m : c;
}

/* Cross-sectional rank: rank - 1 of a value with `less` smaller and `eq` equal values
 * (itself included), scaled to [0, 1] over n values. Exact small integers and halves,
 * so every path produces the same doubles. */
QA_FEAT_HD double qa_feat_rank_value(unsigned long long less, unsigned long long eq, unsigned long long n) {
    double r0 = (double)less + 0.5 * (double)(eq - 1);
    return n == 1 ? 0.5 : r0 / (double)(n - 1);
}

/* 64-bit key ordered like the double (-0 == +0); x must not be NaN. Branch-free: the
 * sign of returns is random, and a branch on it mispredicts half the time. */
QA_FEAT_HD unsigned long long qa_feat_order_key(double x) {
    x = x + 0.0; /* -0 + +0 = +0 in round-to-nearest; no other value changes */
    unsigned long long u;
    memcpy(&u, &x, sizeof u);
    return u ^ ((0ull - (u >> 63)) | 0x8000000000000000ull); /* negative: all bits; positive: the sign */
}

/* Suffix extremes of a complete segment held in ring[0..w): suf_h[i] = max(rh[i..w-1]),
 * suf_l[i] = min(rl[i..w-1]). */
QA_FEAT_HD void qa_feat_don_suffix(const double *rh, const double *rl, double *suf_h, double *suf_l, int w) {
    double h = rh[w - 1], l = rl[w - 1];
    suf_h[w - 1] = h;
    suf_l[w - 1] = l;
    for (int i = w - 2; i >= 0; i--) {
        h = rh[i] > h ? rh[i] : h;
        l = rl[i] < l ? rl[i] : l;
        suf_h[i] = h;
        suf_l[i] = l;
    }
}

/* Donchian's segment extremes from the rings (what the reference and CUDA paths write at
 * the end of a call). Slots >= POS still hold the previous segment, and only suffixes
 * starting there are ever read; PH/PL cover slots < POS (unused when POS == 0). */
QA_FEAT_HD void qa_feat_don_canon(double *b, int w) {
    int pos = (int)b[QA_FEAT_DON_POS];
    const double *rh = b + QA_FEAT_DON_RING, *rl = rh + w;
    double ph = 0.0, pl = 0.0;
    for (int i = 0; i < pos; i++) {
        ph = (i == 0 || rh[i] > ph) ? rh[i] : ph;
        pl = (i == 0 || rl[i] < pl) ? rl[i] : pl;
    }
    b[QA_FEAT_DON_PH] = ph;
    b[QA_FEAT_DON_PL] = pl;
    qa_feat_don_suffix(rh, rl, b + QA_FEAT_DON_RING + 2 * (size_t)w, b + QA_FEAT_DON_RING + 3 * (size_t)w, w);
}

/* ---- host helpers shared by the CPU paths ------------------------------------------------ */

/* Inputs of one symbol's row. */
typedef struct qa_feat_row_in {
    const double *f[QA_FEAT_BAR_FIELDS];
} qa_feat_row_in;

static inline void qa_feat_row_inputs(const qa_feat_panel *in, size_t s, qa_feat_row_in *r) {
    for (int f = 0; f < QA_FEAT_BAR_FIELDS; f++) r->f[f] = in->field[f] ? in->field[f] + s * in->ld : NULL;
}

/* Mean shifted by the first value (a constant cross-section gives exactly std 0), then
 * the two-pass sum of squares, both in symbol order. Returns n; NaN mean/std when n < 2. */
static inline size_t qa_feat_xs_moments(const double *x, size_t n_all, double *mean, double *sd) {
    size_t n = 0;
    double K = NAN, s = 0.0;
    for (size_t i = 0; i < n_all; i++) {
        if (isnan(x[i])) continue;
        if (n++ == 0) K = x[i];
        s += x[i] - K;
    }
    *mean = *sd = NAN;
    if (n < 2) return n;
    double m = K + s / (double)n, q = 0.0;
    for (size_t i = 0; i < n_all; i++)
        if (!isnan(x[i])) q += (x[i] - m) * (x[i] - m);
    *mean = m;
    *sd = sqrt(q / (double)(n - 1));
    return n;
}

static inline void qa_feat_xs_zscore_row(const double *x, size_t n_all, double *out) {
    double mean, sd;
    qa_feat_xs_moments(x, n_all, &mean, &sd);
    int ok = sd > 0.0; /* false for NaN (n < 2) and 0 */
    for (size_t i = 0; i < n_all; i++) out[i] = (ok && !isnan(x[i])) ? (x[i] - mean) / sd : NAN;
}

/* ---- backends ------------------------------------------------------------------------ */

#ifdef __cplusplus
extern "C" {
#endif

/* The reference (features_ref.c): per-symbol kinds and cross-sections, one thread. */
qa_status qa_feat_compute_ref(const qa_feat_plan *plan, const qa_feat_panel *in, double *state, double *out,
                              size_t ld_out);
/* Cross-section out[:, t] from x[:, t] for every t; x may equal out (same ld). */
qa_status qa_feat_xs_ref(int kind, const double *x, size_t ldx, size_t nsym, size_t nbar, double *out,
                         size_t ld_out);
/* The optimised CPU path (features_cpu.c) on `threads` OpenMP threads. */
qa_status qa_feat_compute_cpu(const qa_feat_plan *plan, const qa_feat_panel *in, double *state, double *out,
                              size_t ld_out, int threads);
qa_status qa_feat_xs_cpu(int kind, const double *x, size_t ldx, size_t nsym, size_t nbar, double *out,
                         size_t ld_out, int threads);
/* CUDA (features.cu): everything, queued on the stream. */
qa_status qa_feat_compute_cuda(void *cuda_stream, const qa_feat_plan *plan, const qa_feat_panel *in,
                               double *state, double *out, size_t ld_out);

#ifdef __cplusplus
}
#endif
#endif
