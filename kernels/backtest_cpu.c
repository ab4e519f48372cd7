/* Optimised CPU engine of the backtest sweep (the production CPU path).
 *
 * Work unit ("task"): one symbol x a block of up to MAX_BLOCK parameter sets; OpenMP
 * spreads tasks over threads. Per task:
 *   1. the symbol's observation sequence (shared helper, same as the reference);
 *   2. shared indicator tables over the P&L bars, one per DISTINCT window of the block:
 *      all moving averages from one newest-first running sum (x[i] + x[i-1] + ...,
 *      storing the mean when the count reaches a window), std per window, Donchian
 *      max/min from one running max/min, EMA/RSI recurrences; plus the per-bar sizing
 *      and impact inputs. Each value is computed with exactly the operations of the
 *      reference (backtest_rules.h), so every decision is identical;
 *   3. in chunks of CHUNK bars and groups of VL parameter sets: phase A writes each
 *      lane's filtered signal (-1/0/+1) for the chunk (the moving-average cross is
 *      vectorised over bars and transposed 4x4); phase B runs stops, sizing, costs,
 *      P&L and the metric accumulators with SIMD across the VL lanes.
 *      With fixed sizing, proportional costs only and no stops (the usual sweep), phase S
 *      (backtest_cpu_seg.c, the segment engine) takes phase B's place: per bar only the
 *      drawdown path, the P&L sums per change of position from prefix sums.
 * Lanes whose equity reaches 0 (ruin; rare) are recomputed by the reference, which
 * implements the ruin rule; phases B and S do not.
 *
 * Phase B's metrics equal the reference bit for bit except the variance, accumulated in
 * one pass (sum of squares) instead of two; phase S adds and multiplies the same terms in
 * another order. See docs/backtest.md for the bounds. QA_BT_ENGINE=bar turns phase S
 * off.
 *
 * SIMD: GCC vector extensions (4 doubles). On x86-64 the task body is compiled three
 * times, for AVX-512 (VL/DQ encodings, 4 lanes), AVX2 and the baseline, and picked at run
 * time by qa_simd_level() (QA_SIMD caps it). The baseline (SSE2) build is
 * correct but GCC lowers the 4-wide compares to scalar code there (~14x slower); every
 * x86-64 server CPU since 2013 takes the AVX2 clone. */
#include "kernels/backtest.h"

#include <math.h>    /* NAN, INFINITY, sqrt */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* malloc, free, aligned_alloc */
#include <string.h>  /* memset, memcpy */

#include "common/cpu.h"             /* qa_simd_level: the AVX2 body */
#include "kernels/backtest_impl.h"  /* the per-bar rules, observation sequences */
#include "kernels/backtest_seg.h"   /* the segment engine (phase S) */

/* The 32-byte vectors below only pass between always-inline functions, so the ABI note
 * GCC gives for the baseline (non-AVX) compilation does not apply. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

#define VL 4          /* lanes (parameter sets) per SIMD group */
#define CHUNK 256     /* bars per phase A/B round (keeps the signal buffer in L1) */
#define MAX_BLOCK 2048 /* parameter sets per task */
/* ... but 256 where the indicator tables cover the whole series (K windows x m bars,
 * K <= 2 x sets): only the SMA cross's tables are built a chunk at a time. A wide SMA
 * grid in one task builds each symbol's tables once: the overnight grid's 1,790 sets in
 * blocks of 256 made each symbol's ~180 window means (a division each per bar) 7 times. */
#define MAX_BLOCK_WHOLE 256

typedef double v4d __attribute__((vector_size(32)));
typedef long long v4l __attribute__((vector_size(32)));
/* Two-vector shuffle of lanes i0..i3 (0-3: a, 4-7: b): GCC's __builtin_shuffle; clang
 * (the fuzzing build, docs/fuzzing.md) spells it __builtin_shufflevector. */
#if defined(__clang__)
#define V4D_SHUFFLE(a, b, i0, i1, i2, i3) __builtin_shufflevector(a, b, i0, i1, i2, i3)
#else
#define V4D_SHUFFLE(a, b, i0, i1, i2, i3) __builtin_shuffle(a, b, (v4l){i0, i1, i2, i3})
#endif

#define INLINE static inline __attribute__((always_inline))

INLINE v4d vb(double x) { return (v4d){x, x, x, x}; }
INLINE v4d vsel(v4l m, v4d a, v4d b) { return (v4d)((m & (v4l)a) | (~m & (v4l)b)); }
INLINE v4d vand(v4l m, v4d a) { return (v4d)(m & (v4l)a); }
INLINE v4d vabs(v4d a) { return (v4d)((v4l)a & (v4l){INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX}); }
INLINE int vany(v4l m) { return (m[0] | m[1] | m[2] | m[3]) != 0; }
INLINE v4d vload(const double *p) {
    v4d v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* State of one group of VL lanes, carried from chunk to chunk. */
typedef struct grp {
    v4d q, pos, lo, hi, latch; /* position state */
    v4d E, peak, rho, uw, maxuw; /* equity path */
    v4d sum, sumsq, down, turn;
    v4l trades, held, wins; /* counts, incremented by subtracting -1 masks */
} grp;

/* Read-only description of the work, shared by all tasks. */
typedef struct job {
    const qa_bt_data *d;
    const qa_bt_grid *g;
    qa_bt_consts k;
    int need_hl, need_sig;
    int segments; /* phase S may run (fixed size; not portfolio; QA_BT_ENGINE != bar) */
    const qa_bt_portfolio_opts *popts; /* portfolio mode when non-NULL */
} job;

/* Per-task buffers (one allocation per task). */
typedef struct task_mem {
    long m;                 /* P&L bars */
    int K;                  /* distinct windows */
    long W[2 * MAX_BLOCK];  /* sorted distinct windows */
    int k0[MAX_BLOCK], k1[MAX_BLOCK]; /* per lane: table index of window 0/1 (-1 none) */
    size_t cw_p0;           /* the block W, k0 and k1 were collected for (cw_np 0: none) */
    int cw_np;
    double *tabA, *tabB;    /* K x m tables (mean/EMA/RSI/max-prev, std/min-prev) */
    long ts, tj0;           /* tabA row stride and first bar: m and 0, or one chunk's (SMA) */
    double *size, *kappa, *gate, *work; /* per-bar inputs, scratch (2 x m) */
    v4d *D;                 /* CHUNK signals of one group */
    v4d *RB;                /* CHUNK returns of the chunk, pre-broadcast to all lanes */
    grp *G;                 /* groups */
    int *sp;                /* raw strategy state per lane */
    double *sR, *sD;        /* portfolio series per lane x m */
    unsigned char *sH;
    /* phase S (allocated without series): */
    int fast;               /* this task ran phase S */
    int pf_ok;              /* pf holds the current symbol's prefix sums: 1 yes, 0 the
                             * symbol cannot take phase S, -1 not built yet */
    qa_bt_seg_state *SS;    /* drawdown path per pair of groups */
    qa_bt_seg_event *ev;    /* one pair's change bars in the chunk (at most CHUNK) */
    qa_bt_seg_pfx *pf;      /* prefix sums over the P&L bars (m + 1) */
    qa_bt_seg_acc *sa;      /* per-lane sums (8 per pair) */
    double *SL;             /* a pair's signals lane by lane (8 x CHUNK) */
    double *code;           /* the two groups' codes per bar (2 x CHUNK) */
    double *wp, *wm;        /* the chunk's equity factors, long and short */
    void *block;
} task_mem;

/* ---- shared indicator tables --------------------------------------------------------------- */

/* Column form of rolling_means for bars [ja, jb): acc[j] accumulates the newest-first
 * sum of bar j one term per step; used where some window is not yet full. */
INLINE void rolling_means_cols(const double *restrict x, long lo, long ja, long jb, long m, const long *W, int K,
                               double *tab, double *restrict acc) {
    for (long j = ja; j < jb; j++) acc[j] = x[lo + j];
    int k = 0;
    for (long w = 1; k < K; w++) {
        long js = w - 1 - lo > ja ? w - 1 - lo : ja; /* first j with a full window */
        if (js > jb) js = jb;
        if (w > 1) {
            const double *restrict xs = x + lo - (w - 1);
#pragma omp simd
            for (long j = js; j < jb; j++) acc[j] = acc[j] + xs[j];
        }
        if (W[k] == w) {
            double *restrict out = tab + (size_t)k * (size_t)m;
            for (long j = ja; j < js; j++) out[j] = NAN;
            for (long j = js; j < jb; j++) out[j] = acc[j] / (double)w;
            k++;
        }
    }
}

/* out[k][j] = mean of x[i-W[k]+1..i] (i = lo + j), summed newest first as
 * qa_bt_mean_at does; NaN while the window is not full. W ascending and distinct.
 * Bars where every window is full run in register blocks of 16 (the partial sums stay
 * in registers; only the means are stored); the rest in column form. */
INLINE void rolling_means(const double *restrict x, long lo, long m, const long *W, int K, double *tab,
                          double *restrict acc) {
    long jf = W[K - 1] - 1 - lo; /* from here on every window is full */
    if (jf < 0) jf = 0;
    if (jf > m) jf = m;
    long jb = jf;
    for (; jb + 16 <= m; jb += 16) {
        const double *x0 = x + lo + jb;
        v4d a0 = vload(x0), a1 = vload(x0 + 4), a2 = vload(x0 + 8), a3 = vload(x0 + 12);
        int k = 0;
        for (long w = 1; k < K; w++) {
            if (w > 1) {
                const double *xs = x0 - (w - 1);
                a0 = a0 + vload(xs);
                a1 = a1 + vload(xs + 4);
                a2 = a2 + vload(xs + 8);
                a3 = a3 + vload(xs + 12);
            }
            if (W[k] == w) {
                const double dw = (double)w;
                const v4d vw = {dw, dw, dw, dw};
                double *out = tab + (size_t)k * (size_t)m + jb;
                v4d r0 = a0 / vw, r1 = a1 / vw, r2 = a2 / vw, r3 = a3 / vw;
                memcpy(out, &r0, sizeof r0);
                memcpy(out + 4, &r1, sizeof r1);
                memcpy(out + 8, &r2, sizeof r2);
                memcpy(out + 12, &r3, sizeof r3);
                k++;
            }
        }
    }
    if (jf > 0) rolling_means_cols(x, lo, 0, jf, m, W, K, tab, acc);
    if (jb < m) rolling_means_cols(x, lo, jb, m, m, W, K, tab, acc);
}

/* out[j] = std (ddof 1) of x[i-w+1..i] around mean[j], as qa_bt_ss_at + std_from_ss:
 * squared deviations summed newest first, in register blocks of 8 bars. */
INLINE void rolling_std(const double *restrict x, long lo, long m, long w, const double *restrict mean,
                        double *restrict out) {
    long js = w - 1 - lo > 0 ? w - 1 - lo : 0;
    if (js > m) js = m;
    for (long j = 0; j < js; j++) out[j] = NAN;
    long jb = js;
    for (; jb + 8 <= m; jb += 8) {
        const v4d m0 = vload(mean + jb), m1 = vload(mean + jb + 4);
        v4d s0 = {0.0, 0.0, 0.0, 0.0}, s1 = s0;
        for (long kk = 0; kk < w; kk++) {
            const double *xs = x + lo + jb - kk;
            v4d d0 = vload(xs) - m0, d1 = vload(xs + 4) - m1;
            s0 = s0 + d0 * d0;
            s1 = s1 + d1 * d1;
        }
        memcpy(out + jb, &s0, sizeof s0);
        memcpy(out + jb + 4, &s1, sizeof s1);
    }
    for (long j = jb; j < m; j++) out[j] = qa_bt_ss_at(x, lo + j, w, mean[j]);
    for (long j = js; j < m; j++) out[j] = qa_bt_std_from_ss(out[j], w);
}

/* Donchian channels: max of h / min of l over the previous W[k] observations. */
INLINE void rolling_channels(const double *restrict h, const double *restrict l, long lo, long m, const long *W,
                             int K, double *tmax, double *tmin, double *restrict amax, double *restrict amin) {
    for (long j = 0; j < m; j++) {
        amax[j] = h[lo + j - 1];
        amin[j] = l[lo + j - 1];
    }
    int k = 0;
    for (long w = 1; k < K; w++) {
        long js = w - lo > 0 ? w - lo : 0; /* needs i - w >= 0 */
        if (js > m) js = m;
        if (w > 1) {
            const double *restrict hs = h + lo - w, *restrict ls = l + lo - w;
            for (long j = js; j < m; j++) {
                if (hs[j] > amax[j]) amax[j] = hs[j];
                if (ls[j] < amin[j]) amin[j] = ls[j];
            }
        }
        if (W[k] == w) {
            double *omax = tmax + (size_t)k * (size_t)m, *omin = tmin + (size_t)k * (size_t)m;
            for (long j = 0; j < m; j++) {
                omax[j] = j < js ? NAN : amax[j];
                omin[j] = j < js ? NAN : amin[j];
            }
            k++;
        }
    }
}

/* ---- task setup ------------------------------------------------------------------------------ */

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static int find_window(const long *W, int K, long w) {
    int a = 0, b = K - 1;
    while (a <= b) {
        int c = (a + b) / 2;
        if (W[c] == w) return c;
        if (W[c] < w) a = c + 1;
        else b = c - 1;
    }
    return -1;
}

/* Distinct windows of parameter sets [p0, p0 + np) and each lane's table indices (kept
 * for the next task of the same block: sorting 2 x 1,790 windows per symbol was 3% of
 * the overnight grid). */
static void collect_windows(const job *jb, size_t p0, int np, task_mem *t) {
    if (t->cw_np == np && t->cw_p0 == p0) return;
    t->cw_p0 = p0;
    t->cw_np = np;
    int K = 0;
    for (int l = 0; l < np; l++) {
        long w0, w1;
        qa_bt_param_windows(jb->k.strategy, jb->g->params[p0 + l].p, &w0, &w1);
        if (w0 > 0) t->W[K++] = w0;
        if (w1 > 0) t->W[K++] = w1;
    }
    qsort(t->W, (size_t)K, sizeof(long), cmp_long);
    int u = 0;
    for (int i = 0; i < K; i++)
        if (u == 0 || t->W[u - 1] != t->W[i]) t->W[u++] = t->W[i];
    t->K = u;
    for (int l = 0; l < np; l++) {
        long w0, w1;
        qa_bt_param_windows(jb->k.strategy, jb->g->params[p0 + l].p, &w0, &w1);
        t->k0[l] = w0 > 0 ? find_window(t->W, u, w0) : -1;
        t->k1[l] = w1 > 0 ? find_window(t->W, u, w1) : -1;
    }
}

static qa_status task_alloc(task_mem *t, long cap, int np, int series) {
    memset(t, 0, sizeof *t);
    size_t m = (size_t)(cap > 0 ? cap : 1), groups = (size_t)(np + VL - 1) / VL;
    size_t K = 2 * (size_t)np;
    size_t bytes = (size_t)2 * CHUNK * sizeof(v4d) + groups * sizeof(grp) + (2 * K + 5) * m * sizeof(double) +
                   (size_t)np * sizeof(int);
    const size_t pairs = (groups + 1) / 2;
    if (series) bytes += groups * VL * m * (2 * sizeof(double) + 1);
    else
        bytes += pairs * sizeof(qa_bt_seg_state) + CHUNK * sizeof(qa_bt_seg_event) + 64 +
                 (m + 1) * sizeof(qa_bt_seg_pfx) + pairs * QA_BT_SEG_LANES * sizeof(qa_bt_seg_acc) +
                 (size_t)(8 + 2 + 2) * CHUNK * sizeof(double);
    bytes = (bytes + 63) & ~(size_t)63;
    char *b = aligned_alloc(64, bytes);
    if (!b) return QA_FAIL(QA_ERR_NOMEM, "backtest: %zu bytes of task buffers", bytes);
    t->block = b;
    if (!series) { /* phase S: the 64-byte aligned parts first */
        t->SS = (qa_bt_seg_state *)b;
        b += pairs * sizeof(qa_bt_seg_state);
        t->ev = (qa_bt_seg_event *)b;
        b += CHUNK * sizeof(qa_bt_seg_event);
        t->sa = (qa_bt_seg_acc *)b;
        b += pairs * QA_BT_SEG_LANES * sizeof(qa_bt_seg_acc);
        t->SL = (double *)b;
        t->code = t->SL + (size_t)8 * CHUNK;
        t->wp = t->code + (size_t)2 * CHUNK;
        t->wm = t->wp + CHUNK;
        t->pf = (qa_bt_seg_pfx *)(t->wm + CHUNK);
        b = (char *)(t->pf + m + 1);
        b += 64 - (size_t)((uintptr_t)b % 64); /* the rest as before, aligned */
    }
    t->pf_ok = -1;
    t->D = (v4d *)b;
    b += CHUNK * sizeof(v4d);
    t->RB = (v4d *)b;
    b += CHUNK * sizeof(v4d);
    t->G = (grp *)b;
    b += groups * sizeof(grp);
    double *f = (double *)b;
    t->tabA = f;
    t->tabB = f + K * m;
    t->size = f + 2 * K * m;
    t->kappa = t->size + m;
    t->gate = t->kappa + m;
    t->work = t->gate + m; /* 2 x m */
    f = t->work + 2 * m;
    if (series) {
        t->sR = f;
        t->sD = f + groups * VL * m;
        f = t->sD + groups * VL * m;
    }
    t->sp = (int *)f;
    if (series) t->sH = (unsigned char *)(t->sp + np);
    return QA_OK;
}

/* Indicator tables and per-bar inputs of the P&L bars j = i - lo of observations o. */
INLINE void build_tables(const job *jb, const qa_bt_obs *o, task_mem *t) {
    const qa_bt_consts *k = &jb->k;
    const long lo = o->i0 + 1, m = t->m, n = o->n;
    double *acc = t->work, *acc2 = t->work + m;
    t->ts = m;
    t->tj0 = 0;
    switch (k->strategy) {
    case QA_BT_SMA_CROSS:
        break; /* chunk by chunk in task_body */
    case QA_BT_ZSCORE:
    case QA_BT_BOLLINGER:
        rolling_means(o->c, lo, m, t->W, t->K, t->tabA, acc);
        for (int q = 0; q < t->K; q++)
            rolling_std(o->c, lo, m, t->W[q], t->tabA + (size_t)q * m, t->tabB + (size_t)q * m);
        break;
    case QA_BT_DONCHIAN:
        rolling_channels(o->h, o->l, lo, m, t->W, t->K, t->tabA, t->tabB, acc, acc2);
        break;
    case QA_BT_EMA_CROSS:
        for (int q = 0; q < t->K; q++) {
            long w = t->W[q];
            double a = 2.0 / ((double)w + 1.0), e = NAN;
            for (long i = 0; i < n; i++) {
                e = qa_bt_ema_update(o->c, i, w, a, 1.0 - a, e);
                if (i >= lo) t->tabA[(size_t)q * m + (i - lo)] = e;
            }
        }
        break;
    case QA_BT_RSI:
        for (int q = 0; q < t->K; q++) {
            double ag = NAN, al = NAN;
            for (long i = 0; i < n; i++) {
                double v = qa_bt_rsi_update(o->c, i, t->W[q], &ag, &al);
                if (i >= lo) t->tabA[(size_t)q * m + (i - lo)] = v;
            }
        }
        break;
    default:
        break;
    }
    /* sizing and impact inputs (qa_bt_bar_inputs) */
    for (long j = 0; j < m; j++) {
        t->size[j] = k->sizing == QA_BT_SIZE_VOL_TARGET ? 0.0 : k->fraction;
        t->kappa[j] = 0.0;
        t->gate[j] = 1.0;
    }
    if (k->sizing == QA_BT_SIZE_VOL_TARGET) {
        long w = k->vol_window;
        rolling_means(o->r, lo, m, &w, 1, acc, acc2);
        rolling_std(o->r, lo, m, w, acc, acc2);
        for (long j = 0; j < m; j++) {
            if (lo + j < w) t->gate[j] = 0.0;
            else t->size[j] = qa_bt_size_vol(k, acc2[j]);
        }
    }
    if (k->impact) {
        long aw = k->adv_window, iw = k->impact_vol_window;
        double *adv = t->kappa; /* staged in kappa, replaced below */
        rolling_means(o->v, lo, m, &aw, 1, adv, acc);
        rolling_means(o->r, lo, m, &iw, 1, acc, acc2);
        rolling_std(o->r, lo, m, iw, acc, acc2);
        for (long j = 0; j < m; j++) {
            long i = lo + j;
            if (i < aw - 1 || i < iw) {
                t->gate[j] = 0.0;
                t->kappa[j] = 0.0;
            } else {
                t->kappa[j] = qa_bt_kappa(k, acc2[j], o->c[i], adv[j]);
            }
        }
    }
}

/* ---- phase A: filtered signals of one group for one chunk --------------------------------- */

INLINE v4d filter4(int direction, v4d x) {
    const v4d zero = vb(0.0);
    if (direction == QA_BT_LONG_ONLY) return vand(x > zero, x);
    if (direction == QA_BT_SHORT_ONLY) return vand(x < zero, x);
    return x;
}

/* Moving-average cross: sign(fast - slow) for 4 lanes x 4 bars at a time, transposed into
 * D for phase B. For phase S (`seg`, a constant at the call sites) instead lane by lane
 * into slot g % 2 of SL, with each bar's code (qa_bt_seg_code) in that slot of `code`:
 * phase S reads the signals only where the code changes. */
INLINE void phase_a_cross(const job *jb, task_mem *t, int g, int np, long j0, long cm, int seg) {
    const double *F[VL], *Sl[VL];
    for (int l = 0; l < VL; l++) {
        int lane = g * VL + l;
        if (lane < np) {
            F[l] = t->tabA + (size_t)t->k0[lane] * (size_t)t->ts + (j0 - t->tj0);
            Sl[l] = t->tabA + (size_t)t->k1[lane] * (size_t)t->ts + (j0 - t->tj0);
        } else { /* padding lane: equal inputs give signal 0 */
            F[l] = Sl[l] = t->tabA + (j0 - t->tj0);
        }
    }
    const double *gate = t->gate + j0;
    const v4d one = vb(1.0), zero = vb(0.0);
    const int dir = jb->k.direction;
    long jj = 0;
    double *restrict code = t->code + (size_t)(g % 2) * CHUNK, *restrict s0 = t->SL + (size_t)(g % 2) * VL * CHUNK;
    if (seg) { /* no gate: phase S runs with fixed size and no impact windows */
        double *restrict s1 = s0 + CHUNK, *restrict s2 = s1 + CHUNK, *restrict s3 = s2 + CHUNK;
        for (; jj + VL <= cm; jj += VL) {
            v4d c[VL];
#pragma GCC unroll 4
            for (int l = 0; l < VL; l++) {
                v4d a = vload(F[l] + jj), b = vload(Sl[l] + jj);
                c[l] = filter4(dir, vand(a > b, one) - vand(a < b, one));
            }
            const v4d cd = c[0] + vb(3.0) * c[1] + vb(9.0) * c[2] + vb(27.0) * c[3];
            memcpy(code + jj, &cd, sizeof cd);
            memcpy(s0 + jj, &c[0], sizeof c[0]);
            memcpy(s1 + jj, &c[1], sizeof c[1]);
            memcpy(s2 + jj, &c[2], sizeof c[2]);
            memcpy(s3 + jj, &c[3], sizeof c[3]);
        }
    }
    for (; !seg && jj + VL <= cm; jj += VL) {
        v4d c[VL];
        const v4l open = vload(gate + jj) != zero;
        for (int l = 0; l < VL; l++) {
            v4d a = vload(F[l] + jj), b = vload(Sl[l] + jj);
            c[l] = vand(open, filter4(dir, vand(a > b, one) - vand(a < b, one)));
        }
        /* 4x4 transpose: c[l][u] (lane l, bar jj+u) -> D[jj+u][l] */
        v4d t0 = V4D_SHUFFLE(c[0], c[1], 0, 4, 2, 6);
        v4d t1 = V4D_SHUFFLE(c[0], c[1], 1, 5, 3, 7);
        v4d t2 = V4D_SHUFFLE(c[2], c[3], 0, 4, 2, 6);
        v4d t3 = V4D_SHUFFLE(c[2], c[3], 1, 5, 3, 7);
        t->D[jj + 0] = V4D_SHUFFLE(t0, t2, 0, 1, 4, 5);
        t->D[jj + 1] = V4D_SHUFFLE(t1, t3, 0, 1, 4, 5);
        t->D[jj + 2] = V4D_SHUFFLE(t0, t2, 2, 3, 6, 7);
        t->D[jj + 3] = V4D_SHUFFLE(t1, t3, 2, 3, 6, 7);
    }
    for (; jj < cm; jj++) {
        v4d x = vb(0.0); /* every lane is set below; the tail loop runs < 4 times */
        for (int l = 0; l < VL; l++) {
            double a = F[l][jj], b = Sl[l][jj];
            int s = qa_bt_filter(dir, (a > b) - (a < b));
            x[l] = gate[jj] != 0.0 ? (double)s : 0.0;
        }
        if (seg) {
            double xs[VL];
            memcpy(xs, &x, sizeof xs);
            for (int l = 0; l < VL; l++) s0[(size_t)l * CHUNK + (size_t)jj] = xs[l];
            code[jj] = qa_bt_seg_code(xs);
        } else {
            t->D[jj] = x;
        }
    }
}

/* One lane of phase A for strategy `st` (a constant at every call site, so the
 * switches fold and the per-strategy rule is inlined). */
INLINE int phase_a_lane(const int st, const qa_bt_obs *o, const task_mem *t, const double *p, const double *A0,
                        const double *B0, const double *A1, const double *B1, int dir, long j0, long cm, double *Dl,
                        int sp) {
    const long lo = o->i0 + 1;
    for (long jj = 0; jj < cm; jj++) {
        const long j = j0 + jj, i = lo + j;
        double v[5];
        int s = 0;
        switch (st) { /* the crosses take phase_a_cross */
        case QA_BT_ZSCORE:
        case QA_BT_BOLLINGER:
            v[0] = o->c[i];
            v[1] = A0[j];
            v[2] = B0[j];
            s = st == QA_BT_ZSCORE ? qa_bt_decide_zscore(p, v, sp) : qa_bt_decide_bollinger(p, v, sp);
            break;
        case QA_BT_DONCHIAN:
            v[0] = o->c[i];
            v[1] = A0[j];
            v[2] = B0[j];
            v[3] = A1 ? A1[j] : INFINITY;
            v[4] = B1 ? B1[j] : -INFINITY;
            s = qa_bt_decide_donchian(v, sp);
            break;
        case QA_BT_RSI:
            v[0] = A0[j];
            s = qa_bt_decide_rsi(p, v, sp);
            break;
        case QA_BT_SIGNAL:
            v[0] = o->g[i];
            s = qa_bt_decide_signal(p, v);
            break;
        default:
            break;
        }
        sp = s;
        s = qa_bt_filter(dir, s);
        Dl[jj * VL] = t->gate[j] != 0.0 ? (double)s : 0.0;
    }
    return sp;
}

/* Any strategy through its decision rule, one lane at a time (stateful rules). */
INLINE void phase_a_generic(const job *jb, const qa_bt_obs *o, task_mem *t, size_t p0, int g, int np, long j0,
                            long cm) {
    const qa_bt_consts *k = &jb->k;
    const long m = t->m;
    for (int l = 0; l < VL; l++) {
        int lane = g * VL + l;
        double *Dl = (double *)t->D + l;
        if (lane >= np) {
            for (long jj = 0; jj < cm; jj++) Dl[jj * VL] = 0.0;
            continue;
        }
        const double *p = jb->g->params[p0 + lane].p;
        const double *A0 = t->k0[lane] >= 0 ? t->tabA + (size_t)t->k0[lane] * m : NULL;
        const double *B0 = t->k0[lane] >= 0 ? t->tabB + (size_t)t->k0[lane] * m : NULL;
        const double *A1 = t->k1[lane] >= 0 ? t->tabA + (size_t)t->k1[lane] * m : NULL;
        const double *B1 = t->k1[lane] >= 0 ? t->tabB + (size_t)t->k1[lane] * m : NULL;
        int sp = t->sp[lane];
        const int dir = k->direction;
        if ((!A0 || !B0) && k->strategy != QA_BT_SIGNAL) { /* cannot happen: every such set has a window */
            for (long jj = 0; jj < cm; jj++) Dl[jj * VL] = 0.0;
            continue;
        }
        /* The moving-average crosses take phase_a_cross (whose SMA tables are per chunk). */
        switch (k->strategy) {
        case QA_BT_ZSCORE:
            sp = phase_a_lane(QA_BT_ZSCORE, o, t, p, A0, B0, A1, B1, dir, j0, cm, Dl, sp);
            break;
        case QA_BT_BOLLINGER:
            sp = phase_a_lane(QA_BT_BOLLINGER, o, t, p, A0, B0, A1, B1, dir, j0, cm, Dl, sp);
            break;
        case QA_BT_DONCHIAN:
            sp = phase_a_lane(QA_BT_DONCHIAN, o, t, p, A0, B0, A1, B1, dir, j0, cm, Dl, sp);
            break;
        case QA_BT_RSI:
            sp = phase_a_lane(QA_BT_RSI, o, t, p, A0, B0, A1, B1, dir, j0, cm, Dl, sp);
            break;
        default:
            sp = phase_a_lane(QA_BT_SIGNAL, o, t, p, A0, B0, A1, B1, dir, j0, cm, Dl, sp);
            break;
        }
        t->sp[lane] = sp;
    }
}

/* ---- phase B: positions, P&L and accumulators of one group for one chunk ----------------- */

/* `full` enables stops, the stop latch, fixed and impact costs; `series` records each
 * lane's R, |delta| and held flag (portfolio mode). Both are constants at every call
 * site, so each combination compiles to its own loop. */
INLINE void phase_b(const job *jb, task_mem *t, const qa_bt_obs *o, int g, long j0, long cm, int full, int series) {
    const qa_bt_consts *k = &jb->k;
    const long lo = o->i0 + 1, m = t->m;
    const double *c = o->c + lo, *size = t->size, *kappa = t->kappa;
    const int fixed = k->sizing == QA_BT_SIZE_FIXED; /* size is then `fraction` on every bar */
    const v4d fsize = vb(k->fraction);
    grp *G = &t->G[g];
    v4d q_prev = G->q, pos_prev = G->pos, lo_px = G->lo, hi_px = G->hi, latch = G->latch;
    v4d E = G->E, peak = G->peak, rho = G->rho, uw = G->uw, maxuw = G->maxuw;
    v4d sum = G->sum, sumsq = G->sumsq, down = G->down, turn = G->turn;
    v4l trades = G->trades, held = G->held, wins = G->wins;
    const v4d one = vb(1.0), zero = vb(0.0), cp = vb(k->cprop);
    const int costs = full && (k->phi > 0.0 || k->impact);
    for (long jj = 0; jj < cm; jj++) {
        const long j = j0 + jj;
        const v4d s = t->D[jj];
        const v4l held_m = q_prev != zero;
        v4d q;
        if (full) {
            const v4d cc = vb(c[j]);
            const v4l stopped = held_m & ((cc <= lo_px) | (cc >= hi_px));
            const v4l keep = (latch != zero) & (s == latch);
            q = vsel(stopped | keep, zero, s);
            latch = vsel(stopped, q_prev, vand(keep, latch));
            const v4l entry = (q != zero) & (q != q_prev);
            if (vany(entry)) {
                const v4l up = q > zero;
                lo_px = vsel(entry, cc * vsel(up, vb(k->lo_long), vb(k->lo_short)), lo_px);
                hi_px = vsel(entry, cc * vsel(up, vb(k->hi_long), vb(k->hi_short)), hi_px);
            }
            trades -= entry;
        } else {
            q = s;
            trades -= (q != zero) & (q != q_prev);
        }
        const v4d pos = q * (fixed ? fsize : vb(size[j]));
        const v4d dlt = vabs(pos - pos_prev);
        v4d R = pos_prev * t->RB[jj];
        R = R - cp * dlt;
        if (costs) {
            const v4l trade = dlt != zero;
            if (vany(trade)) {
                if (k->phi > 0.0) R = R - vand(trade, vb(k->phi) / E);
                if (k->impact) {
                    v4d a = dlt * vb(kappa[j]), sq = dlt * E;
                    for (int l = 0; l < VL; l++) sq[l] = sqrt(sq[l]);
                    R = R - a * sq;
                }
            }
        }
        const v4d r2 = R * R;
        sum = sum + R;
        sumsq = sumsq + r2;
        down = down + vand(R < zero, r2);
        turn = turn + dlt;
        held -= held_m;
        wins -= held_m & (R > zero);
        E = E * (one + R);
        peak = vsel(E > peak, E, peak);
        const v4l under = E < peak;
        uw = vand(under, uw + one);
        maxuw = vsel(uw > maxuw, uw, maxuw);
        const v4d dd = E / peak; /* every bar: branch-free, and exactly the reference's value */
        rho = vsel(dd < rho, dd, rho);
        if (series) {
            for (int l = 0; l < VL; l++) {
                size_t at = (size_t)(g * VL + l) * (size_t)m + (size_t)j;
                t->sR[at] = R[l];
                t->sD[at] = dlt[l];
                t->sH[at] = held_m[l] != 0;
            }
        }
        q_prev = q;
        pos_prev = pos;
    }
    G->q = q_prev;
    G->pos = pos_prev;
    G->lo = lo_px;
    G->hi = hi_px;
    G->latch = latch;
    G->E = E;
    G->peak = peak;
    G->rho = rho;
    G->uw = uw;
    G->maxuw = maxuw;
    G->sum = sum;
    G->sumsq = sumsq;
    G->down = down;
    G->turn = turn;
    G->trades = trades;
    G->held = held;
    G->wins = wins;
}

/* ---- the task ------------------------------------------------------------------------------ */

INLINE void groups_init(task_mem *t, int np) {
    const v4d z = vb(0.0), one = vb(1.0);
    for (int g = 0; g < (np + VL - 1) / VL; g++) {
        grp *G = &t->G[g];
        G->q = G->pos = G->latch = z;
        G->lo = vb(-INFINITY);
        G->hi = vb(INFINITY);
        G->E = G->peak = G->rho = one;
        G->uw = G->maxuw = z;
        G->sum = G->sumsq = G->down = G->turn = z;
        G->trades = G->held = G->wins = (v4l){0, 0, 0, 0};
    }
    for (int l = 0; l < np; l++) t->sp[l] = 0;
}

/* Phase A then phase S for groups g and g + 1 (when there is one) of a chunk. */
INLINE void pair_s(const job *jb, const qa_bt_obs *o, task_mem *t, size_t p0, int g, int np, long j0, long cm,
                   int cross) {
    const int groups = (np + VL - 1) / VL;
    for (int h = g; h < g + 2; h++) {
        double *code = t->code + (size_t)(h % 2) * CHUNK, *sl = t->SL + (size_t)(h % 2) * VL * CHUNK;
        if (h >= groups) { /* padding lanes: signal 0 throughout */
            memset(code, 0, (size_t)cm * sizeof(double));
            for (int l = 0; l < VL; l++) memset(sl + (size_t)l * CHUNK, 0, (size_t)cm * sizeof(double));
        } else if (cross) {
            phase_a_cross(jb, t, h, np, j0, cm, 1);
        } else { /* the stateful rules write D; reordered here */
            phase_a_generic(jb, o, t, p0, h, np, j0, cm);
            const double *d = (const double *)t->D;
            for (long jj = 0; jj < cm; jj++) {
                for (int l = 0; l < VL; l++) sl[(size_t)l * CHUNK + jj] = d[jj * VL + l];
                code[jj] = qa_bt_seg_code(d + jj * VL);
            }
        }
    }
    const long lo = o->i0 + 1;
    qa_bt_seg_state *st = &t->SS[g / 2];
    long nev = qa_bt_seg_path(st, t->code, t->code + CHUNK, t->SL, CHUNK, t->wp, t->wm, o->r + lo + j0, cm, j0,
                              jb->k.fraction, jb->k.cprop, t->ev);
    qa_bt_seg_book(t->pf, t->ev, nev, jb->k.fraction, t->sa + (size_t)g / 2 * QA_BT_SEG_LANES);
}

/* Runs parameter sets [p0, p0 + np) on observations o (tables for them in t), leaving
 * each lane's accumulators in t->G, or with phase S in t->SS and t->sa (and series in
 * t->s* when series). */
INLINE void task_body(const job *jb, const qa_bt_obs *o, task_mem *t, size_t p0, int np, int series) {
    const qa_bt_consts *k = &jb->k;
    const int full = k->lo_long != -INFINITY || k->hi_long != INFINITY || k->phi > 0.0 || k->impact;
    const int cross = k->strategy == QA_BT_SMA_CROSS || k->strategy == QA_BT_EMA_CROSS;
    build_tables(jb, o, t);
    groups_init(t, np);
    const int groups = (np + VL - 1) / VL;
    t->fast = 0;
    if (jb->segments && !full && !series) {
        if (t->pf_ok < 0) t->pf_ok = qa_bt_seg_prefix(o->r + o->i0 + 1, t->m, k->fraction, t->pf);
        t->fast = t->pf_ok;
    }
    if (t->fast) {
        for (int g = 0; g < groups; g += 2) qa_bt_seg_state_init(&t->SS[g / 2]);
        for (int l = 0; l < (groups + 1) / 2 * QA_BT_SEG_LANES; l++) qa_bt_seg_acc_init(&t->sa[l]);
    }
    /* Moving averages are made a chunk at a time: the whole-series tables of a wide grid
     * (~190 windows x 5,040 bars = 7.7 MB) would stream from memory in phase A; one
     * chunk's (~390 KB) stays in L2. Each mean is summed in the same order either way. */
    const int sma_chunks = k->strategy == QA_BT_SMA_CROSS;
    for (long j0 = 0; j0 < t->m; j0 += CHUNK) {
        long cm = t->m - j0 < CHUNK ? t->m - j0 : CHUNK;
        if (sma_chunks) {
            rolling_means(o->c, o->i0 + 1 + j0, cm, t->W, t->K, t->tabA, t->work);
            t->ts = cm;
            t->tj0 = j0;
        }
        if (t->fast) {
            qa_bt_seg_factors(o->r + o->i0 + 1 + j0, cm, k->fraction, t->wp, t->wm);
            for (int g = 0; g < groups; g += 2) pair_s(jb, o, t, p0, g, np, j0, cm, cross);
            continue;
        }
        for (long jj = 0; jj < cm; jj++) t->RB[jj] = vb(o->r[o->i0 + 1 + j0 + jj]);
        for (int g = 0; g < groups; g++) {
            if (cross) phase_a_cross(jb, t, g, np, j0, cm, 0);
            else phase_a_generic(jb, o, t, p0, g, np, j0, cm);
            if (full) {
                if (series) phase_b(jb, t, o, g, j0, cm, 1, 1);
                else phase_b(jb, t, o, g, j0, cm, 1, 0);
            } else {
                if (series) phase_b(jb, t, o, g, j0, cm, 0, 1);
                else phase_b(jb, t, o, g, j0, cm, 0, 0);
            }
        }
    }
    if (t->fast) /* the segments still open at the end of the range */
        for (int l = 0; l < np; l++)
            qa_bt_seg_finish(t->pf, t->SS[l / QA_BT_SEG_LANES].q[l % QA_BT_SEG_LANES], t->m, &t->sa[l]);
}

static void task_body_generic(const job *jb, const qa_bt_obs *o, task_mem *t, size_t p0, int np, int series) {
    task_body(jb, o, t, p0, np, series);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define QA_BT_AVX2_CLONE 1
__attribute__((target("avx2"))) static void task_body_avx2(const job *jb, const qa_bt_obs *o, task_mem *t, size_t p0,
                                                          int np, int series) {
    task_body(jb, o, t, p0, np, series);
}
/* The same body with AVX-512 encodings at the same 4-lane width: 32 vector registers (the
 * AVX2 body spills four metric accumulators to the stack and reloads them every bar) and
 * compares into mask registers, so blends and masked adds are one instruction. Same
 * operations in the same order, no contraction: bit-identical to the AVX2 body. Not 8
 * lanes: Zen 4 executes a 512-bit operation as two 256-bit halves, so the wider vector
 * gives no more arithmetic per cycle there (docs/backtest.md, "Where the time goes"). */
__attribute__((target("avx512f,avx512vl,avx512dq"))) static void task_body_avx512(const job *jb, const qa_bt_obs *o,
                                                                                   task_mem *t, size_t p0, int np,
                                                                                   int series) {
    task_body(jb, o, t, p0, np, series);
}
#endif

static void run_task_body(const job *jb, const qa_bt_obs *o, task_mem *t, size_t p0, int np, int series) {
#ifdef QA_BT_AVX2_CLONE
    if (qa_simd_level() >= QA_SIMD_AVX512) { /* the level includes VL and DQ */
        task_body_avx512(jb, o, t, p0, np, series);
        return;
    }
    if (qa_simd_level() >= QA_SIMD_AVX2) {
        task_body_avx2(jb, o, t, p0, np, series);
        return;
    }
#endif
    task_body_generic(jb, o, t, p0, np, series);
}

/* Metrics of lane `lane` from its group accumulators (one-pass variance). */
static void lane_metrics(const task_mem *t, int lane, double bpy, qa_bt_metrics *out) {
    const grp *G = &t->G[lane / VL];
    int l = lane % VL;
    qa_bt_acc a;
    a.n = t->m;
    if (t->fast) { /* phase S: the path per pair of groups, the sums per lane */
        const qa_bt_seg_state *st = &t->SS[lane / QA_BT_SEG_LANES];
        const qa_bt_seg_acc *s = &t->sa[lane];
        const int k = lane % QA_BT_SEG_LANES;
        a.path.E = st->E[k];
        a.path.peak = st->peak[k];
        a.path.rho = st->rn[k] / st->rd[k];
        a.path.uw = (int64_t)st->uw[k];
        a.path.maxuw = (int64_t)st->maxuw[k];
        a.sum = s->sum;
        a.sumsq = s->sumsq;
        a.down = s->down;
        a.turnover = s->turn;
        a.held = s->held;
        a.wins = s->wins;
        a.trades = s->trades;
    } else {
        a.path.E = G->E[l];
        a.path.peak = G->peak[l];
        a.path.rho = G->rho[l];
        a.path.uw = (int64_t)G->uw[l];
        a.path.maxuw = (int64_t)G->maxuw[l];
        a.sum = G->sum[l];
        a.sumsq = G->sumsq[l];
        a.down = G->down[l];
        a.turnover = G->turn[l];
        a.held = (int64_t)G->held[l];
        a.wins = (int64_t)G->wins[l];
        a.trades = (int64_t)G->trades[l];
    }
    qa_bt_acc_finalize(&a, bpy, out);
}

/* A lane whose equity reached 0 (or whose path is not finite) is left to the reference. */
static int lane_ruined(const task_mem *t, int lane) {
    if (t->fast) {
        const qa_bt_seg_state *st = &t->SS[lane / QA_BT_SEG_LANES];
        const int k = lane % QA_BT_SEG_LANES;
        return !(st->rn[k] > 0.0) || !(st->E[k] > 0.0);
    }
    const grp *G = &t->G[lane / VL];
    int l = lane % VL;
    return !(G->rho[l] > 0.0) || !(G->E[l] > 0.0);
}

/* ---- drivers ------------------------------------------------------------------------------- */

/* First failure inside a parallel region, re-raised on the calling thread (the error
 * text is per thread). */
typedef struct first_error {
    qa_status st;
    char msg[256];
} first_error;

static void record_error(first_error *fe, qa_status st) {
#pragma omp critical(qa_bt_error)
    {
        if (fe->st == QA_OK) {
            fe->st = st;
            snprintf(fe->msg, sizeof fe->msg, "%s", qa_err_msg());
        }
    }
}

static void job_make(job *jb, const qa_bt_data *d, const qa_bt_grid *g, const qa_bt_rules *rules,
                     const qa_bt_portfolio_opts *po) {
    jb->d = d;
    jb->g = g;
    qa_bt_consts_make(rules, g->strategy, &jb->k);
    jb->need_hl = g->strategy == QA_BT_DONCHIAN;
    jb->need_sig = g->strategy == QA_BT_SIGNAL;
    const char *eng = getenv("QA_BT_ENGINE"); /* "bar": phase B only (bit-identical to the reference's sums) */
    jb->segments = jb->k.sizing == QA_BT_SIZE_FIXED && !po && !(eng && strcmp(eng, "bar") == 0);
    jb->popts = po;
}

qa_status qa_bt_run_cpu(const qa_bt_data *data, const qa_bt_grid *grid, const qa_bt_rules *rules, qa_bt_metrics *out,
                        int threads) {
    job jb;
    job_make(&jb, data, grid, rules, NULL);
    const size_t S = data->symbols, P = grid->count;
    if (threads < 1) threads = 1;
    /* parameter blocks: at most MAX_BLOCK(_WHOLE) sets, and enough tasks to feed every thread */
    const size_t maxb = grid->strategy == QA_BT_SMA_CROSS ? MAX_BLOCK : MAX_BLOCK_WHOLE;
    size_t nb = (P + maxb - 1) / maxb;
    while (S * nb < 2 * (size_t)threads && nb * VL < P) nb++;
    const size_t bsz = (P + nb - 1) / nb;
    const size_t ntask_u = S * nb;
    const long long ntask = (long long)ntask_u;
    first_error fe = {QA_OK, ""};
#pragma omp parallel num_threads(threads) if (threads > 1 && ntask > 1)
    {
        qa_bt_obs o;
        task_mem t;
        memset(&t, 0, sizeof t);
        int ok = qa_bt_obs_alloc(&o, data->t_end) == QA_OK && task_alloc(&t, (long)data->t_end, (int)bsz, 0) == QA_OK;
        if (!ok) record_error(&fe, QA_ERR_NOMEM);
        size_t built = (size_t)-1;
#pragma omp for schedule(dynamic, 1)
        for (long long task = 0; task < ntask; task++) {
            if (!ok) continue;
            size_t s = (size_t)task / nb, b = (size_t)task % nb;
            size_t p0 = b * bsz;
            if (p0 >= P) continue;
            int np = (int)(P - p0 < bsz ? P - p0 : bsz);
            if (built != s) {
                qa_bt_obs_build(&o, data, s, jb.need_hl, jb.k.impact, jb.need_sig);
                built = s;
                t.pf_ok = -1; /* phase S's prefix sums are per symbol */
            }
            t.m = o.n - o.i0 - 1 > 0 ? o.n - o.i0 - 1 : 0;
            collect_windows(&jb, p0, np, &t);
            run_task_body(&jb, &o, &t, p0, np, 0);
            for (int l = 0; l < np; l++) {
                qa_bt_metrics *mo = &out[s * P + p0 + (size_t)l];
                if (lane_ruined(&t, l)) {
                    /* the reference implements ruin: recompute this run there */
                    double *R = t.work, *dl = t.work + t.m;
                    unsigned char *h = (unsigned char *)t.gate; /* free after phase B */
                    int64_t tr = 0;
                    long n = qa_bt_ref_run(&o, &jb.k, grid->params[p0 + (size_t)l].p, R, dl, NULL, NULL, h, &tr);
                    qa_bt_series_metrics(R, dl, h, n, tr, jb.k.bars_per_year, mo);
                } else {
                    lane_metrics(&t, l, jb.k.bars_per_year, mo);
                }
            }
        }
        free(t.block);
        qa_bt_obs_free(&o);
    }
    if (fe.st != QA_OK) return QA_FAIL(fe.st, "%s", fe.msg);
    return QA_OK;
}

qa_status qa_bt_portfolio_cpu(const qa_bt_data *data, const qa_bt_grid *grid, const qa_bt_rules *rules,
                              const qa_bt_portfolio_opts *opts, qa_bt_metrics *out, double *equity, int threads) {
    job jb;
    job_make(&jb, data, grid, rules, opts);
    const size_t S = data->symbols, P = grid->count, L = data->t_end - data->t_begin;
    if (threads < 1) threads = 1;
    /* tasks are parameter blocks; each walks all symbols in ascending order so every
     * weighted sum has the reference's order */
    size_t bsz = (P + (size_t)threads - 1) / (size_t)threads;
    if (bsz > MAX_BLOCK_WHOLE) bsz = MAX_BLOCK_WHOLE;
    if (bsz < VL) bsz = VL;
    const long long nb = (long long)((P + bsz - 1) / bsz);
    first_error fe = {QA_OK, ""};
#pragma omp parallel num_threads(threads) if (threads > 1 && nb > 1)
    {
        qa_bt_obs o;
        task_mem t;
        qa_bt_pacc *acc = calloc(bsz, sizeof *acc);
        memset(&t, 0, sizeof t);
        memset(&o, 0, sizeof o);
        int ok = acc && qa_bt_obs_alloc(&o, data->t_end) == QA_OK &&
                 task_alloc(&t, (long)data->t_end, (int)bsz, 1) == QA_OK;
        for (size_t l = 0; ok && l < bsz; l++) ok = qa_bt_pacc_alloc(&acc[l], L) == QA_OK;
        if (!ok) record_error(&fe, QA_ERR_NOMEM);
#pragma omp for schedule(dynamic, 1)
        for (long long b = 0; b < nb; b++) {
            if (!ok) continue;
            size_t p0 = (size_t)b * bsz;
            int np = (int)(P - p0 < bsz ? P - p0 : bsz);
            for (int l = 0; l < np; l++) {
                memset(acc[l].num, 0, 3 * (L ? L : 1) * sizeof(double));
                memset(acc[l].held, 0, L ? L : 1);
                acc[l].trades = 0;
            }
            collect_windows(&jb, p0, np, &t);
            for (size_t s = 0; s < S; s++) {
                qa_bt_obs_build(&o, data, s, jb.need_hl, jb.k.impact, jb.need_sig);
                qa_bt_weights_build(&o, opts);
                t.m = o.n - o.i0 - 1 > 0 ? o.n - o.i0 - 1 : 0;
                run_task_body(&jb, &o, &t, p0, np, 1);
                for (int l = 0; l < np; l++) {
                    size_t at = (size_t)l * (size_t)t.m;
                    int64_t tr = (int64_t)t.G[l / VL].trades[l % VL];
                    if (lane_ruined(&t, l))
                        qa_bt_ref_run(&o, &jb.k, grid->params[p0 + (size_t)l].p, t.sR + at, t.sD + at, NULL, NULL,
                                      t.sH + at, &tr);
                    qa_bt_pacc_add(&acc[l], &o, data->t_begin, t.sR + at, t.sD + at, t.sH + at, tr);
                }
            }
            for (int l = 0; l < np; l++) {
                size_t p = p0 + (size_t)l;
                qa_status st = qa_bt_pacc_finish(&acc[l], L, jb.k.bars_per_year, &out[p], equity ? equity + p * L : NULL);
                if (st != QA_OK) record_error(&fe, st);
            }
        }
        if (acc)
            for (size_t l = 0; l < bsz; l++) qa_bt_pacc_free(&acc[l]);
        free(acc);
        free(t.block);
        qa_bt_obs_free(&o);
    }
    if (fe.st != QA_OK) return QA_FAIL(fe.st, "%s", fe.msg);
    return QA_OK;
}

/* ---- cross-sectional top-k: ranking by sorting, bars in parallel --------------------------- */

typedef struct xs_item {
    double x;
    size_t s;
} xs_item;

static int cmp_xs(const void *a, const void *b) {
    const xs_item *u = a, *v = b;
    if (u->x < v->x) return -1;
    if (u->x > v->x) return 1;
    return (u->s > v->s) - (u->s < v->s);
}

qa_status qa_bt_xs_cpu(const qa_bt_data *data, const qa_bt_xs_settings *xs, qa_bt_metrics *out, double *equity,
                       int threads) {
    const size_t S = data->symbols, T = data->bars, L = data->t_end - data->t_begin;
    signed char *codes = malloc(L * S + 1);
    if (!codes) return QA_FAIL(QA_ERR_NOMEM, "xs_topk: codes for %zu bars x %zu symbols", L, S);
    if (threads < 1) threads = 1;
    int nomem = 0;
#pragma omp parallel num_threads(threads) if (threads > 1 && L > 1)
    {
        xs_item *it = malloc((S + 1) * sizeof *it);
        if (!it) {
#pragma omp atomic write
            nomem = 1;
        }
#pragma omp for schedule(static)
        for (long long jl = 0; jl < (long long)L; jl++) {
            if (!it) continue;
            size_t j = (size_t)jl, t = data->t_begin + j, n = 0;
            signed char *row = codes + j * S;
            for (size_t s = 0; s < S; s++) {
                double c = data->close[s * T + t], x = data->signal[s * T + t];
                row[s] = isnan(c) ? QA_BT_XS_CARRY : 0;
                if (!isnan(c) && !isnan(x)) it[n++] = (xs_item){x, s};
            }
            if (n < (size_t)xs->k_long + (size_t)xs->k_short) continue;
            qsort(it, n, sizeof *it, cmp_xs);
            for (size_t q = 0; q < (size_t)xs->k_short; q++) row[it[q].s] = -1;
            for (size_t q = n - (size_t)xs->k_long; q < n; q++) row[it[q].s] = 1;
        }
        free(it);
    }
    qa_status st = nomem ? QA_FAIL(QA_ERR_NOMEM, "xs_topk: sort buffers for %zu symbols", S)
                         : qa_bt_xs_finish(data, xs, codes, out, equity);
    free(codes);
    return st;
}
