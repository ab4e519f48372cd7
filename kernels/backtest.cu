// CUDA backtest sweep. Panels stay on the device; symbols are processed in chunks sized
// to a memory budget, many symbols per launch:
//   k_compact   one warp per symbol: the observation sequence (ballot + popc scan)
//   k_returns   r[i] = c[i]/c[i-1] - 1
//   k_tables    one thread per (symbol, P&L bar): every distinct window of the grid from
//               one newest-first running sum / max / min (the CPU engine's order), std
//   k_recur     one thread per (symbol, window): EMA / RSI recurrences
//   k_common    one thread per (symbol, P&L bar): sizing and impact inputs, gate
//   k_sweep     one thread per (symbol, parameter set); the block's per-bar inputs
//               (close, return, size, kappa, gate) are staged in shared memory tile by
//               tile; all state and metric accumulators live in registers
// The per-bar rules are the reference's own functions (backtest_rules.h), so decisions
// are identical; metrics use the one-pass variance (docs/backtest.md, tolerances).
// Portfolio mode writes per-(parameter set, symbol) series on the bar grid and combines
// them per (parameter set, bar) in ascending symbol order (the CPU order); the
// cross-sectional portfolio ranks per bar by counting.
#include "kernels/backtest.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include "kernels/backtest_impl.h"   // the per-bar rules shared with the CPU reference
#include "kernels/check.h"     // QA_CUDA_TRY

namespace {

constexpr int kBlock = 128;  // threads per block of the per-bar and sweep kernels
constexpr int kTile = 256;   // bars per shared-memory tile in k_sweep
constexpr size_t kBudget = size_t(2) << 30; // device bytes a call may use at most

// Device views of one symbol chunk. Arrays are [symbol][cap] with cap = t_end.
struct Chunk {
    double *c, *h, *l, *v, *g, *r;  // observation arrays
    int *gidx;                      // bar index of each observation
    int *n, *i0;                    // observations, base observation per symbol
    double *tabA, *tabB;            // [k][symbol][cap] window tables
    double *size, *kappa;           // per-bar sizing / impact inputs
    unsigned char *gate;            // 0 where a sizing/impact window is not full
    long long cap;
    int S;                          // symbols in the chunk
};

struct Inputs {
    const double *close, *high, *low, *volume, *signal;
    long long T, t_begin, t_end;
    int need_hl, need_vol, need_sig;
};

__device__ __forceinline__ double *row(double *base, long long cap, int s) { return base + (long long)s * cap; }

// ---- observation sequences -----------------------------------------------------------------

__global__ void k_compact(Inputs in, long long s0, Chunk ch) {
    const int s = blockIdx.x, lane = threadIdx.x;
    const long long off = (s0 + s) * in.T;
    double *c = row(ch.c, ch.cap, s), *h = row(ch.h, ch.cap, s), *l = row(ch.l, ch.cap, s);
    double *v = row(ch.v, ch.cap, s), *g = row(ch.g, ch.cap, s);
    int *gi = ch.gidx + (long long)s * ch.cap;
    int n = 0, before = 0;
    for (long long t0 = 0; t0 < in.t_end; t0 += 32) {
        long long t = t0 + lane;
        bool ok = t < in.t_end;
        double cv = 0, hv = NAN, lv = NAN, vv = NAN, gv = NAN;
        if (ok) {
            cv = in.close[off + t];
            ok = !isnan(cv);
            if (ok && in.need_hl) {
                hv = in.high[off + t];
                lv = in.low[off + t];
                ok = !isnan(hv) && !isnan(lv);
            }
            if (ok && in.need_vol) {
                vv = in.volume[off + t];
                ok = vv > 0.0;  // NaN or zero volume: not an observation
            }
            if (ok && in.need_sig) {
                gv = in.signal[off + t];
                ok = !isnan(gv);
            }
        }
        unsigned mask = __ballot_sync(0xffffffffu, ok);
        unsigned early = __ballot_sync(0xffffffffu, ok && t < in.t_begin);
        if (ok) {
            int at = n + __popc(mask & ((1u << lane) - 1u));
            c[at] = cv;
            h[at] = hv;
            l[at] = lv;
            v[at] = vv;
            g[at] = gv;
            gi[at] = (int)t;
        }
        n += __popc(mask);
        before += __popc(early);
    }
    if (lane == 0) {
        ch.n[s] = n;
        ch.i0[s] = before;  // index of the first observation at or after t_begin (n if none)
    }
}

__global__ void k_returns(Chunk ch) {
    const int s = blockIdx.y;
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= ch.n[s]) return;
    const double *c = row(ch.c, ch.cap, s);
    row(ch.r, ch.cap, s)[i] = i > 0 ? c[i] / c[i - 1] - 1.0 : NAN;
}

// ---- indicator tables ------------------------------------------------------------------------

// Windows of the grid, ascending and distinct (device copy).
struct Windows {
    const long long *W;
    int K;
};

__global__ void k_tables(Chunk ch, int strategy, Windows wn) {
    const int s = blockIdx.y;
    const long long lo = ch.i0[s] + 1, n = ch.n[s];
    const long long i = lo + (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n || wn.K == 0) return;
    const long long cap = ch.cap;
    const double *c = row(ch.c, cap, s);
    if (strategy == QA_BT_DONCHIAN) {
        const double *h = row(ch.h, cap, s), *l = row(ch.l, cap, s);
        double mx = h[i - 1], mn = l[i - 1];
        int k = 0;
        for (long long w = 1; k < wn.K; w++) {
            if (w > 1 && i - w >= 0) {
                if (h[i - w] > mx) mx = h[i - w];
                if (l[i - w] < mn) mn = l[i - w];
            }
            if (wn.W[k] == w) {
                bool full = i >= w;
                ch.tabA[((long long)k * ch.S + s) * cap + i] = full ? mx : NAN;
                ch.tabB[((long long)k * ch.S + s) * cap + i] = full ? mn : NAN;
                k++;
            }
        }
        return;
    }
    // moving averages: one newest-first running sum, the mean stored at each window
    double acc = c[i];
    int k = 0;
    for (long long w = 1; k < wn.K; w++) {
        if (w > 1 && i - (w - 1) >= 0) acc = acc + c[i - (w - 1)];
        if (wn.W[k] == w) {
            ch.tabA[((long long)k * ch.S + s) * cap + i] = i >= w - 1 ? acc / (double)w : NAN;
            k++;
        }
    }
    if (strategy == QA_BT_ZSCORE || strategy == QA_BT_BOLLINGER) {
        for (int q = 0; q < wn.K; q++) {
            long long w = wn.W[q];
            double m = ch.tabA[((long long)q * ch.S + s) * cap + i];
            double sd = i >= w - 1 ? qa_bt_std_from_ss(qa_bt_ss_at(c, (long)i, (long)w, m), (long)w) : NAN;
            ch.tabB[((long long)q * ch.S + s) * cap + i] = sd;
        }
    }
}

__global__ void k_recur(Chunk ch, int strategy, Windows wn) {
    const long long id = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= (long long)wn.K * ch.S) return;
    const int k = (int)(id / ch.S), s = (int)(id % ch.S);
    const long long n = ch.n[s], lo = ch.i0[s] + 1, w = wn.W[k];
    const double *c = row(ch.c, ch.cap, s);
    double *out = ch.tabA + ((long long)k * ch.S + s) * ch.cap;
    if (strategy == QA_BT_EMA_CROSS) {
        const double a = 2.0 / ((double)w + 1.0);
        double e = NAN;
        for (long long i = 0; i < n; i++) {
            e = qa_bt_ema_update(c, (long)i, (long)w, a, 1.0 - a, e);
            if (i >= lo) out[i] = e;
        }
    } else {  // RSI
        double ag = NAN, al = NAN;
        for (long long i = 0; i < n; i++) {
            double v = qa_bt_rsi_update(c, (long)i, (long)w, &ag, &al);
            if (i >= lo) out[i] = v;
        }
    }
}

__global__ void k_common(Chunk ch, qa_bt_consts k) {
    const int s = blockIdx.y;
    const long long i = ch.i0[s] + 1 + (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= ch.n[s]) return;
    double size, kappa;
    int ok = qa_bt_bar_inputs(&k, row(ch.c, ch.cap, s), row(ch.r, ch.cap, s), row(ch.v, ch.cap, s), (long)i, &size,
                              &kappa);
    row(ch.size, ch.cap, s)[i] = size;
    row(ch.kappa, ch.cap, s)[i] = kappa;
    ch.gate[(long long)s * ch.cap + i] = (unsigned char)ok;
}

// ---- the sweep ------------------------------------------------------------------------------

struct Grid {
    const double *params;  // [P][QA_BT_MAX_PARAMS]
    const int *k0, *k1;    // table index of each set's windows (-1 none)
    int P;
};

// Series outputs on the bar grid of the range (portfolio mode): [p - p0][symbol][L].
struct Series {
    double *R, *D;
    unsigned char *H;
    unsigned long long *trades;  // per parameter set (all symbols)
    int p0, Pc;
    long long L, t_begin;
};

// Per-bar trace of one run on the grid of the range (traces of qa_bt_run).
struct TraceOut {
    double *E, *pos, *R;  // [L] each
    long long L, t_begin;
};

__device__ __forceinline__ void table_values(int strategy, const Chunk &ch, int s, long long i, int k0, int k1,
                                             double c, const double *g, double v[5]) {
    const long long cap = ch.cap;
    v[0] = v[1] = v[2] = v[3] = v[4] = NAN;
    switch (strategy) {
    case QA_BT_SMA_CROSS:
    case QA_BT_EMA_CROSS:
        v[0] = __ldg(ch.tabA + ((long long)k0 * ch.S + s) * cap + i);
        v[1] = __ldg(ch.tabA + ((long long)k1 * ch.S + s) * cap + i);
        break;
    case QA_BT_ZSCORE:
    case QA_BT_BOLLINGER:
        v[0] = c;
        v[1] = __ldg(ch.tabA + ((long long)k0 * ch.S + s) * cap + i);
        v[2] = __ldg(ch.tabB + ((long long)k0 * ch.S + s) * cap + i);
        break;
    case QA_BT_DONCHIAN:
        v[0] = c;
        v[1] = __ldg(ch.tabA + ((long long)k0 * ch.S + s) * cap + i);
        v[2] = __ldg(ch.tabB + ((long long)k0 * ch.S + s) * cap + i);
        v[3] = k1 >= 0 ? __ldg(ch.tabA + ((long long)k1 * ch.S + s) * cap + i) : INFINITY;
        v[4] = k1 >= 0 ? __ldg(ch.tabB + ((long long)k1 * ch.S + s) * cap + i) : -INFINITY;
        break;
    case QA_BT_RSI:
        v[0] = __ldg(ch.tabA + ((long long)k0 * ch.S + s) * cap + i);
        break;
    case QA_BT_SIGNAL:
        v[0] = g[i];
        break;
    default:
        break;
    }
}

// MODE 0: metrics of every (symbol, rules). MODE 1: portfolio series for sets
// [p0, p0 + Pc). Block = kBlock sets of one symbol (blockIdx.y).
template <int MODE>
__global__ void __launch_bounds__(kBlock) k_sweep(Chunk ch, Grid gr, qa_bt_consts k, qa_bt_metrics *out, Series se) {
    __shared__ double sc[kTile], sr[kTile], ssz[kTile], skp[kTile];
    __shared__ unsigned char sg[kTile];
    const int s = blockIdx.y;
    const int p = (MODE == 1 ? se.p0 : 0) + blockIdx.x * kBlock + threadIdx.x;
    const int pend = MODE == 1 ? se.p0 + se.Pc : gr.P;
    const bool active = p < pend;
    const long long lo = ch.i0[s] + 1, n = ch.n[s], cap = ch.cap;
    const double *c = row(ch.c, cap, s), *r = row(ch.r, cap, s), *sz = row(ch.size, cap, s);
    const double *kp = row(ch.kappa, cap, s), *g = row(ch.g, cap, s);
    const unsigned char *gt = ch.gate + (long long)s * cap;
    const int *gi = ch.gidx + (long long)s * cap;
    double par[QA_BT_MAX_PARAMS] = {0.0};
    int k0 = 0, k1 = -1;
    if (active) {
        for (int j = 0; j < QA_BT_MAX_PARAMS; j++) par[j] = gr.params[(long long)p * QA_BT_MAX_PARAMS + j];
        k0 = gr.k0[p];
        k1 = gr.k1[p];
    }
    int sp = 0;
    qa_bt_pos ps;
    qa_bt_pos_init(&ps);
    qa_bt_acc a;
    qa_bt_acc_init(&a);
    double *sR = nullptr, *sD = nullptr;
    unsigned char *sH = nullptr;
    if (MODE == 1 && active) {
        long long base = ((long long)(p - se.p0) * ch.S + s) * se.L;
        sR = se.R + base;
        sD = se.D + base;
        sH = se.H + base;
    }
    for (long long t0 = lo; t0 < n; t0 += kTile) {
        const int tn = (int)(n - t0 < kTile ? n - t0 : kTile);
        __syncthreads();
        for (int j = threadIdx.x; j < tn; j += kBlock) {
            sc[j] = c[t0 + j];
            sr[j] = r[t0 + j];
            ssz[j] = sz[t0 + j];
            skp[j] = kp[t0 + j];
            sg[j] = gt[t0 + j];
        }
        __syncthreads();
        if (!active) continue;
        for (int j = 0; j < tn; j++) {
            const long long i = t0 + j;
            double v[5];
            table_values(k.strategy, ch, s, i, k0, k1, sc[j], g, v);
            sp = qa_bt_decide(k.strategy, par, v, sp);
            int m = qa_bt_filter(k.direction, sp);
            if (!sg[j]) m = 0;
            double delta;
            int held, entry;
            double R = qa_bt_step(&ps, m, sc[j], sr[j], ssz[j], skp[j], &k, a.path.E, &delta, &held, &entry);
            qa_bt_acc_push(&a, R, delta, held, entry);
            if (MODE == 1) {
                long long t = gi[i] - se.t_begin;
                sR[t] = R;
                sD[t] = delta;
                sH[t] = (unsigned char)held;
            }
        }
    }
    if (!active) return;
    if (MODE == 0) qa_bt_acc_finalize(&a, k.bars_per_year, &out[(long long)s * gr.P + p]);
    else if (a.trades > 0) atomicAdd(&se.trades[p], (unsigned long long)a.trades);
}

// One thread per requested trace (symbol in this chunk): the same loop, writing the
// grid of the range with equity and position carried across bars without P&L.
__global__ void k_trace(Chunk ch, Grid gr, qa_bt_consts k, const int *tsym, const int *tpar, int nt, TraceOut *outs) {
    const int q = blockIdx.x * blockDim.x + threadIdx.x;
    if (q >= nt) return;
    const int s = tsym[q], p = tpar[q];
    const long long lo = ch.i0[s] + 1, n = ch.n[s], cap = ch.cap;
    const double *c = row(ch.c, cap, s), *r = row(ch.r, cap, s), *sz = row(ch.size, cap, s);
    const double *kp = row(ch.kappa, cap, s), *g = row(ch.g, cap, s);
    const unsigned char *gt = ch.gate + (long long)s * cap;
    const int *gi = ch.gidx + (long long)s * cap;
    const double *par = gr.params + (long long)p * QA_BT_MAX_PARAMS;
    TraceOut to = outs[q];
    int sp = 0;
    qa_bt_pos ps;
    qa_bt_pos_init(&ps);
    qa_bt_path path;
    qa_bt_path_init(&path);
    long long next = 0;  // first grid cell not yet written
    for (long long i = lo; i < n; i++) {
        double v[5];
        table_values(k.strategy, ch, s, i, gr.k0[p], gr.k1[p], c[i], g, v);
        sp = qa_bt_decide(k.strategy, par, v, sp);
        int m = qa_bt_filter(k.direction, sp);
        if (!gt[i]) m = 0;
        const long long t = gi[i] - to.t_begin;
        for (; next < t; next++) {  // bars without P&L: equity and position carried
            to.E[next] = path.E;
            to.pos[next] = ps.pos;
            to.R[next] = NAN;
        }
        double delta;
        int held, entry;
        double R = qa_bt_step(&ps, m, c[i], r[i], sz[i], kp[i], &k, path.E, &delta, &held, &entry);
        qa_bt_path_push(&path, R);
        to.E[t] = path.E;
        to.pos[t] = ps.pos;
        to.R[t] = R;
        next = t + 1;
    }
    for (; next < to.L; next++) {
        to.E[next] = path.E;
        to.pos[next] = ps.pos;
        to.R[next] = NAN;
    }
}

// ---- portfolio ------------------------------------------------------------------------------

// Weight of each symbol's P&L bar on the grid ([symbol][L]); NaN elsewhere.
__global__ void k_weights(Chunk ch, int weighting, int ww, double *Wg, long long L, long long t_begin) {
    const int s = blockIdx.y;
    const long long i = ch.i0[s] + 1 + (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= ch.n[s]) return;
    double w = weighting == QA_BT_WEIGHT_INV_VOL ? qa_bt_inv_vol_weight(row(ch.r, ch.cap, s), (long)i, ww) : 1.0;
    Wg[(long long)s * L + (ch.gidx[(long long)s * ch.cap + i] - t_begin)] = w;
}

__global__ void k_fill(double *x, long long n, double v) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = v;
}

// Adds the chunk's symbols (ascending) into the per-(rules, bar) accumulators.
__global__ void k_pcombine(Series se, int S, const double *Wg, double *num, double *den, double *tnum,
                           unsigned char *held) {
    const long long id = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (id >= (long long)se.Pc * se.L) return;
    const int pl = (int)(id / se.L);
    const long long t = id % se.L;
    const long long at = (long long)(se.p0 + pl) * se.L + t;
    double a = num[at], b = den[at], d = tnum[at];
    unsigned char h = held[at];
    for (int s = 0; s < S; s++) {
        const long long x = ((long long)pl * S + s) * se.L + t;
        const double R = se.R[x];
        if (isnan(R)) continue;
        const double w = Wg[(long long)s * se.L + t];
        if (!(w > 0.0 && isfinite(w))) continue;
        a = a + QA_BT_MUL(w, R);
        b = b + w;
        d = d + QA_BT_MUL(w, se.D[x]);
        if (se.H[x]) h = 1;
    }
    num[at] = a;
    den[at] = b;
    tnum[at] = d;
    held[at] = h;
}

__global__ void k_pseries(long long n, const double *num, const double *den, const double *tnum, double *R,
                          double *turn) {
    const long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    if (den[i] > 0.0) {
        R[i] = num[i] / den[i];
        turn[i] = tnum[i] / den[i];
    } else {
        R[i] = NAN;
        turn[i] = 0.0;
    }
}

// One thread per series: metrics (two-pass) and the carried equity curve.
__global__ void k_series_metrics(int P, long long L, const double *R, const double *turn, const unsigned char *held,
                                 const unsigned long long *trades, double bpy, qa_bt_metrics *out, double *equity) {
    const int p = blockIdx.x * blockDim.x + threadIdx.x;
    if (p >= P) return;
    const double *Rp = R + (long long)p * L;
    qa_bt_series_metrics(Rp, turn + (long long)p * L, held + (long long)p * L, (long)L, (int64_t)trades[p], bpy,
                         &out[p]);
    if (equity) {
        qa_bt_path path;
        qa_bt_path_init(&path);
        for (long long t = 0; t < L; t++) {
            if (!isnan(Rp[t])) qa_bt_path_push(&path, Rp[t]);
            equity[(long long)p * L + t] = path.E;
        }
    }
}

// ---- cross-sectional top-k -------------------------------------------------------------------

// One block per bar of the range: codes by counting ranks in the order (signal, symbol).
__global__ void k_xs_codes(Inputs in, long long S, int kl, int ks, signed char *codes) {
    const long long j = blockIdx.x, t = in.t_begin + j;
    __shared__ int count;
    if (threadIdx.x == 0) count = 0;
    __syncthreads();
    int mine = 0;
    for (long long s = threadIdx.x; s < S; s += blockDim.x)
        mine += !isnan(in.close[s * in.T + t]) && !isnan(in.signal[s * in.T + t]);
    atomicAdd(&count, mine);
    __syncthreads();
    const long long n = count;
    const bool enough = n >= (long long)kl + ks;
    for (long long s = threadIdx.x; s < S; s += blockDim.x) {
        const double c = in.close[s * in.T + t], x = in.signal[s * in.T + t];
        signed char code = isnan(c) ? (signed char)QA_BT_XS_CARRY : (signed char)0;
        if (!isnan(c) && !isnan(x) && enough) {
            long long rank = 0;
            for (long long u = 0; u < S; u++) {
                const double y = in.signal[u * in.T + t];
                if (isnan(in.close[u * in.T + t]) || isnan(y)) continue;
                rank += (y < x) || (y == x && u < s);
            }
            if (rank < ks) code = -1;
            else if (rank >= n - kl) code = 1;
        }
        codes[j * S + s] = code;
    }
}

// One thread per symbol, bars in order: its contribution to each bar (the CPU finish).
__global__ void k_xs_symbol(Inputs in, long long S, long long L, const signed char *codes, double wl, double wsh,
                            double *contrib, double *dturn, unsigned char *flags) {
    const long long s = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (s >= S) return;
    const double *cl = in.close + s * in.T;
    double last = NAN, wprev = 0.0;
    for (long long t = 0; t <= in.t_begin; t++)
        if (!isnan(cl[t])) last = cl[t];
    for (long long j = 1; j < L; j++) {
        const long long t = in.t_begin + j, at = j * S + s;
        const double c = cl[t];
        if (isnan(c)) {
            contrib[at] = NAN;  // no bar: carried
            continue;
        }
        const signed char code = codes[at];
        const double w = code == 1 ? wl : code == -1 ? wsh : 0.0;
        const double r = isnan(last) ? 0.0 : c / last - 1.0;
        last = c;
        contrib[at] = QA_BT_MUL(wprev, r);
        dturn[at] = fabs(w - wprev);
        flags[at] = (unsigned char)((wprev != 0.0 ? 1 : 0) |
                                    ((w != 0.0 && (wprev == 0.0 || (w > 0.0) != (wprev > 0.0))) ? 2 : 0));
        wprev = w;
    }
}

// One thread per bar: sums over symbols in ascending order.
__global__ void k_xs_bar(long long S, long long L, const double *contrib, const double *dturn, const unsigned char *flags,
                         double cprop, double *R, double *turn, unsigned char *held, unsigned long long *trades) {
    const long long j = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= L) return;
    if (j == 0) {
        R[0] = NAN;
        turn[0] = 0.0;
        held[0] = 0;
        return;
    }
    bool any = false;
    unsigned char h = 0;
    double gross = 0.0, tv = 0.0;
    unsigned long long e = 0;
    for (long long s = 0; s < S; s++) {
        const long long at = j * S + s;
        if (isnan(contrib[at])) continue;
        any = true;
        gross = gross + contrib[at];
        tv = tv + dturn[at];
        if (flags[at] & 1) h = 1;
        e += (flags[at] >> 1) & 1;
    }
    R[j] = any ? gross - QA_BT_MUL(cprop, tv) : NAN;
    turn[j] = any ? tv : 0.0;
    held[j] = h;
    if (e) atomicAdd(trades, e);
}

// ---- host helpers ----------------------------------------------------------------------------

unsigned grid1(long long n, int block) { return (unsigned)((n + block - 1) / block); }

// Distinct windows of the grid and each set's table indices (host).
struct HostWindows {
    std::vector<long long> W;
    std::vector<int> k0, k1;
};

void host_windows(const qa_bt_grid *g, HostWindows *hw) {
    std::vector<long long> all;
    for (size_t p = 0; p < g->count; p++) {
        long w0, w1;
        qa_bt_param_windows((int)g->strategy, g->params[p].p, &w0, &w1);
        if (w0 > 0) all.push_back(w0);
        if (w1 > 0) all.push_back(w1);
    }
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    hw->W = all;
    hw->k0.resize(g->count);
    hw->k1.resize(g->count);
    for (size_t p = 0; p < g->count; p++) {
        long w0, w1;
        qa_bt_param_windows((int)g->strategy, g->params[p].p, &w0, &w1);
        hw->k0[p] = w0 > 0 ? (int)(std::lower_bound(all.begin(), all.end(), (long long)w0) - all.begin()) : -1;
        hw->k1[p] = w1 > 0 ? (int)(std::lower_bound(all.begin(), all.end(), (long long)w1) - all.begin()) : -1;
    }
}

// Device copies of the grid (parameters, table indices, windows) for a whole call.
struct DevGrid {
    double *params = nullptr;
    int *k0 = nullptr, *k1 = nullptr;
    long long *W = nullptr;
    int K = 0;
};

qa_status dev_grid_make(cudaStream_t st_, const qa_bt_grid *g, DevGrid *dg) {
    qa_status st = QA_OK;
    HostWindows hw;
    host_windows(g, &hw);
    dg->K = (int)hw.W.size();
    const size_t P = g->count;
    QA_CUDA_TRY(cudaMallocAsync((void **)&dg->params, P * sizeof(qa_bt_params), st_));
    QA_CUDA_TRY(cudaMallocAsync((void **)&dg->k0, P * sizeof(int), st_));
    QA_CUDA_TRY(cudaMallocAsync((void **)&dg->k1, P * sizeof(int), st_));
    QA_CUDA_TRY(cudaMallocAsync((void **)&dg->W, (hw.W.size() + 1) * sizeof(long long), st_));
    QA_CUDA_TRY(cudaMemcpyAsync(dg->params, g->params, P * sizeof(qa_bt_params), cudaMemcpyHostToDevice, st_));
    QA_CUDA_TRY(cudaMemcpyAsync(dg->k0, hw.k0.data(), P * sizeof(int), cudaMemcpyHostToDevice, st_));
    QA_CUDA_TRY(cudaMemcpyAsync(dg->k1, hw.k1.data(), P * sizeof(int), cudaMemcpyHostToDevice, st_));
    if (!hw.W.empty())
        QA_CUDA_TRY(cudaMemcpyAsync(dg->W, hw.W.data(), hw.W.size() * sizeof(long long), cudaMemcpyHostToDevice, st_));
    // the host vectors die here: wait for the copies
    QA_CUDA_TRY(cudaStreamSynchronize(st_));
cleanup:
    return st;
}

void dev_grid_free(cudaStream_t st_, DevGrid *dg) {
    if (dg->params) cudaFreeAsync(dg->params, st_);
    if (dg->k0) cudaFreeAsync(dg->k0, st_);
    if (dg->k1) cudaFreeAsync(dg->k1, st_);
    if (dg->W) cudaFreeAsync(dg->W, st_);
    *dg = DevGrid();
}

Inputs make_inputs(const qa_bt_data *d, const qa_bt_consts &k) {
    Inputs in;
    in.close = d->close;
    in.high = d->high;
    in.low = d->low;
    in.volume = d->volume;
    in.signal = d->signal;
    in.T = (long long)d->bars;
    in.t_begin = (long long)d->t_begin;
    in.t_end = (long long)d->t_end;
    in.need_hl = k.strategy == QA_BT_DONCHIAN;
    in.need_vol = k.impact;
    in.need_sig = k.strategy == QA_BT_SIGNAL;
    return in;
}

size_t chunk_bytes_per_symbol(long long cap, int K) {
    return (size_t)cap * (6 * sizeof(double) + sizeof(int) + 2 * (size_t)K * sizeof(double) + 2 * sizeof(double) + 1) +
           2 * sizeof(int);
}

size_t device_budget() {
    size_t fr = 0, tot = 0;
    if (cudaMemGetInfo(&fr, &tot) != cudaSuccess) {
        (void)cudaGetLastError();
        return size_t(256) << 20;
    }
    size_t b = fr / 2;
    return b < kBudget ? b : kBudget;
}

// Allocates a chunk of up to S symbols (one allocation, named views).
qa_status chunk_alloc(cudaStream_t st_, Chunk *ch, long long cap, int S, int K, void **block) {
    qa_status st = QA_OK;
    size_t bytes = chunk_bytes_per_symbol(cap, K) * (size_t)S + 256;
    char *b = nullptr;
    QA_CUDA_TRY(cudaMallocAsync((void **)&b, bytes, st_));
    *block = b;
    {
        const size_t nd = (size_t)cap * (size_t)S;
        double *f = (double *)b;
        ch->c = f;
        ch->h = f + nd;
        ch->l = f + 2 * nd;
        ch->v = f + 3 * nd;
        ch->g = f + 4 * nd;
        ch->r = f + 5 * nd;
        ch->size = f + 6 * nd;
        ch->kappa = f + 7 * nd;
        ch->tabA = f + 8 * nd;
        ch->tabB = ch->tabA + (size_t)K * nd;
        int *ip = (int *)(ch->tabB + (size_t)K * nd);
        ch->gidx = ip;
        ch->n = ip + nd;
        ch->i0 = ch->n + S;
        ch->gate = (unsigned char *)(ch->i0 + S);
        ch->cap = cap;
        ch->S = S;
    }
cleanup:
    return st;
}

// Observation sequences, tables and per-bar inputs of symbols [s0, s0 + ch.S).
qa_status chunk_prepare(cudaStream_t st_, const Inputs &in, long long s0, Chunk &ch, const qa_bt_consts &k,
                        const DevGrid &dg) {
    qa_status st = QA_OK;
    const unsigned bx = grid1(ch.cap, kBlock);
    Windows wn = {dg.W, dg.K};
    k_compact<<<ch.S, 32, 0, st_>>>(in, s0, ch);
    QA_CUDA_TRY(cudaGetLastError());
    k_returns<<<dim3(bx, ch.S), kBlock, 0, st_>>>(ch);
    QA_CUDA_TRY(cudaGetLastError());
    if (dg.K > 0) {
        if (k.strategy == QA_BT_EMA_CROSS || k.strategy == QA_BT_RSI) {
            k_recur<<<grid1((long long)dg.K * ch.S, kBlock), kBlock, 0, st_>>>(ch, k.strategy, wn);
        } else {
            k_tables<<<dim3(bx, ch.S), kBlock, 0, st_>>>(ch, k.strategy, wn);
        }
        QA_CUDA_TRY(cudaGetLastError());
    }
    k_common<<<dim3(bx, ch.S), kBlock, 0, st_>>>(ch, k);
    QA_CUDA_TRY(cudaGetLastError());
cleanup:
    return st;
}

// Symbols per chunk: `extra` device bytes per symbol besides the chunk arrays, `reserve`
// bytes kept for other buffers.
int chunk_symbols(size_t S, long long cap, int K, size_t extra, size_t reserve) {
    size_t budget = device_budget();
    size_t per = chunk_bytes_per_symbol(cap, K) + extra;
    size_t avail = budget > reserve ? budget - reserve : per;
    size_t n = avail / per;
    if (n < 1) n = 1;
    if (n > S) n = S;
    if (n > 65535) n = 65535;  // gridDim.y
    return (int)n;
}

}  // namespace

// ---- entry points ------------------------------------------------------------------------------

extern "C" qa_status qa_bt_run_cuda(void *cuda_stream, const qa_bt_data *data, const qa_bt_grid *grid,
                                    const qa_bt_rules *rules, qa_bt_metrics *out, const qa_bt_trace *traces,
                                    size_t n_traces) {
    cudaStream_t s_ = (cudaStream_t)cuda_stream;
    qa_status st = QA_OK;
    qa_bt_consts k;
    qa_bt_consts_make(rules, grid->strategy, &k);
    const Inputs in = make_inputs(data, k);
    const long long cap = (long long)data->t_end, L = (long long)(data->t_end - data->t_begin);
    const size_t S = data->symbols, P = grid->count;
    DevGrid dg;
    void *chunk_block = nullptr;
    qa_bt_metrics *dout = nullptr;
    double *dtr = nullptr;
    TraceOut *dto = nullptr;
    int *dts = nullptr, *dtp = nullptr;
    QA_TRY(dev_grid_make(s_, grid, &dg));
    {
        const int Sc = chunk_symbols(S, cap, dg.K, P * sizeof(qa_bt_metrics), 0);
        Chunk ch;
        QA_TRY(chunk_alloc(s_, &ch, cap, Sc, dg.K, &chunk_block));
        QA_CUDA_TRY(cudaMallocAsync((void **)&dout, (size_t)Sc * P * sizeof(qa_bt_metrics), s_));
        if (n_traces > 0) {
            QA_CUDA_TRY(cudaMallocAsync((void **)&dtr, n_traces * 3 * (size_t)L * sizeof(double), s_));
            QA_CUDA_TRY(cudaMallocAsync((void **)&dto, n_traces * sizeof(TraceOut), s_));
            QA_CUDA_TRY(cudaMallocAsync((void **)&dts, n_traces * sizeof(int), s_));
            QA_CUDA_TRY(cudaMallocAsync((void **)&dtp, n_traces * sizeof(int), s_));
        }
        Grid gr = {dg.params, dg.k0, dg.k1, (int)P};
        Series none = {};
        for (size_t s0 = 0; s0 < S; s0 += (size_t)Sc) {
            const int ns = (int)(S - s0 < (size_t)Sc ? S - s0 : (size_t)Sc);
            ch.S = ns;
            QA_TRY(chunk_prepare(s_, in, (long long)s0, ch, k, dg));
            k_sweep<0><<<dim3(grid1((long long)P, kBlock), ns), kBlock, 0, s_>>>(ch, gr, k, dout, none);
            QA_CUDA_TRY(cudaGetLastError());
            QA_CUDA_TRY(cudaMemcpyAsync(out + s0 * P, dout, (size_t)ns * P * sizeof(qa_bt_metrics),
                                        cudaMemcpyDeviceToHost, s_));
            // traces of symbols in this chunk
            std::vector<int> ts, tp;
            std::vector<TraceOut> to;
            for (size_t q = 0; q < n_traces; q++)
                if (traces[q].symbol >= s0 && traces[q].symbol < s0 + (size_t)ns) {
                    ts.push_back((int)(traces[q].symbol - s0));
                    tp.push_back((int)traces[q].param);
                    TraceOut o;
                    o.E = dtr + (q * 3 + 0) * (size_t)L;
                    o.pos = dtr + (q * 3 + 1) * (size_t)L;
                    o.R = dtr + (q * 3 + 2) * (size_t)L;
                    o.L = L;
                    o.t_begin = (long long)data->t_begin;
                    to.push_back(o);
                }
            if (!ts.empty()) {
                const int nt = (int)ts.size();
                QA_CUDA_TRY(cudaMemcpyAsync(dts, ts.data(), nt * sizeof(int), cudaMemcpyHostToDevice, s_));
                QA_CUDA_TRY(cudaMemcpyAsync(dtp, tp.data(), nt * sizeof(int), cudaMemcpyHostToDevice, s_));
                QA_CUDA_TRY(cudaMemcpyAsync(dto, to.data(), nt * sizeof(TraceOut), cudaMemcpyHostToDevice, s_));
                k_trace<<<grid1(nt, 64), 64, 0, s_>>>(ch, gr, k, dts, dtp, nt, dto);
                QA_CUDA_TRY(cudaGetLastError());
            }
            // the chunk buffers and the host vectors above are reused: finish first
            QA_CUDA_TRY(cudaStreamSynchronize(s_));
        }
        for (size_t q = 0; q < n_traces; q++) {
            double *dst[3] = {traces[q].equity, traces[q].position, traces[q].ret};
            for (int a = 0; a < 3; a++)
                if (dst[a])
                    QA_CUDA_TRY(cudaMemcpyAsync(dst[a], dtr + (q * 3 + a) * (size_t)L, (size_t)L * sizeof(double),
                                                cudaMemcpyDeviceToHost, s_));
        }
        QA_CUDA_TRY(cudaStreamSynchronize(s_));
    }
cleanup:
    qa_cuda_free_all(s_, chunk_block, dout, dtr, dto, dts, dtp);
    dev_grid_free(s_, &dg);
    cudaStreamSynchronize(s_);
    return st;
}

extern "C" qa_status qa_bt_portfolio_cuda(void *cuda_stream, const qa_bt_data *data, const qa_bt_grid *grid,
                                          const qa_bt_rules *rules, const qa_bt_portfolio_opts *opts,
                                          qa_bt_metrics *out, double *equity) {
    cudaStream_t s_ = (cudaStream_t)cuda_stream;
    qa_status st = QA_OK;
    qa_bt_consts k;
    qa_bt_consts_make(rules, grid->strategy, &k);
    const Inputs in = make_inputs(data, k);
    const long long cap = (long long)data->t_end, L = (long long)(data->t_end - data->t_begin);
    const size_t S = data->symbols, P = grid->count;
    DevGrid dg;
    void *chunk_block = nullptr;
    double *acc = nullptr, *ser = nullptr, *Wg = nullptr, *Rp = nullptr, *deq = nullptr;
    unsigned char *held = nullptr, *serH = nullptr;
    unsigned long long *trades = nullptr;
    qa_bt_metrics *dout = nullptr;
    QA_TRY(dev_grid_make(s_, grid, &dg));
    {
        const size_t accb = P * (size_t)L * (3 * sizeof(double) + 1);
        const int Sc = chunk_symbols(S, cap, dg.K, 0, accb + device_budget() / 2);
        // series of Pc sets x Sc symbols x L bars: R, D (doubles), H (bytes)
        size_t per_set = (size_t)Sc * (size_t)L * (2 * sizeof(double) + 1);
        size_t Pc = (device_budget() / 2) / (per_set ? per_set : 1);
        if (Pc < 1) Pc = 1;
        if (Pc > P) Pc = P;
        Chunk ch;
        QA_TRY(chunk_alloc(s_, &ch, cap, Sc, dg.K, &chunk_block));
        QA_CUDA_TRY(cudaMallocAsync((void **)&acc, P * (size_t)L * 3 * sizeof(double), s_));
        QA_CUDA_TRY(cudaMallocAsync((void **)&held, P * (size_t)L, s_));
        QA_CUDA_TRY(cudaMallocAsync((void **)&trades, P * sizeof(unsigned long long), s_));
        QA_CUDA_TRY(cudaMallocAsync((void **)&ser, Pc * per_set, s_));
        QA_CUDA_TRY(cudaMallocAsync((void **)&Wg, (size_t)Sc * (size_t)L * sizeof(double), s_));
        QA_CUDA_TRY(cudaMemsetAsync(acc, 0, P * (size_t)L * 3 * sizeof(double), s_));
        QA_CUDA_TRY(cudaMemsetAsync(held, 0, P * (size_t)L, s_));
        QA_CUDA_TRY(cudaMemsetAsync(trades, 0, P * sizeof(unsigned long long), s_));
        double *num = acc, *den = acc + P * (size_t)L, *tnum = acc + 2 * P * (size_t)L;
        serH = (unsigned char *)(ser + 2 * Pc * (size_t)Sc * (size_t)L);
        Grid gr = {dg.params, dg.k0, dg.k1, (int)P};
        for (size_t s0 = 0; s0 < S; s0 += (size_t)Sc) {
            const int ns = (int)(S - s0 < (size_t)Sc ? S - s0 : (size_t)Sc);
            ch.S = ns;
            QA_TRY(chunk_prepare(s_, in, (long long)s0, ch, k, dg));
            k_fill<<<grid1((long long)ns * L, 256), 256, 0, s_>>>(Wg, (long long)ns * L, NAN);
            QA_CUDA_TRY(cudaGetLastError());
            k_weights<<<dim3(grid1(cap, kBlock), ns), kBlock, 0, s_>>>(ch, (int)opts->weighting, opts->weight_window, Wg,
                                                                        L, (long long)data->t_begin);
            QA_CUDA_TRY(cudaGetLastError());
            for (size_t p0 = 0; p0 < P; p0 += Pc) {
                const int pc = (int)(P - p0 < Pc ? P - p0 : Pc);
                Series se;
                se.R = ser;
                se.D = ser + (size_t)pc * (size_t)ns * (size_t)L;
                se.H = serH;
                se.trades = trades;
                se.p0 = (int)p0;
                se.Pc = pc;
                se.L = L;
                se.t_begin = (long long)data->t_begin;
                const long long nser = (long long)pc * ns * L;
                k_fill<<<grid1(nser, 256), 256, 0, s_>>>(se.R, nser, NAN);
                QA_CUDA_TRY(cudaGetLastError());
                QA_CUDA_TRY(cudaMemsetAsync(se.H, 0, (size_t)nser, s_));
                k_sweep<1><<<dim3(grid1(pc, kBlock), ns), kBlock, 0, s_>>>(ch, gr, k, nullptr, se);
                QA_CUDA_TRY(cudaGetLastError());
                k_pcombine<<<grid1((long long)pc * L, 256), 256, 0, s_>>>(se, ns, Wg, num, den, tnum, held);
                QA_CUDA_TRY(cudaGetLastError());
            }
        }
        // portfolio series, metrics and equity
        QA_CUDA_TRY(cudaMallocAsync((void **)&Rp, P * (size_t)L * 2 * sizeof(double), s_));
        QA_CUDA_TRY(cudaMallocAsync((void **)&dout, P * sizeof(qa_bt_metrics), s_));
        if (equity) QA_CUDA_TRY(cudaMallocAsync((void **)&deq, P * (size_t)L * sizeof(double), s_));
        k_pseries<<<grid1((long long)P * L, 256), 256, 0, s_>>>((long long)P * L, num, den, tnum, Rp,
                                                                 Rp + P * (size_t)L);
        QA_CUDA_TRY(cudaGetLastError());
        k_series_metrics<<<grid1((long long)P, 64), 64, 0, s_>>>((int)P, L, Rp, Rp + P * (size_t)L, held, trades,
                                                                  k.bars_per_year, dout, deq);
        QA_CUDA_TRY(cudaGetLastError());
        QA_CUDA_TRY(cudaMemcpyAsync(out, dout, P * sizeof(qa_bt_metrics), cudaMemcpyDeviceToHost, s_));
        if (equity)
            QA_CUDA_TRY(cudaMemcpyAsync(equity, deq, P * (size_t)L * sizeof(double), cudaMemcpyDeviceToHost, s_));
        QA_CUDA_TRY(cudaStreamSynchronize(s_));
    }
cleanup:
    qa_cuda_free_all(s_, chunk_block, acc, held, trades, ser, Wg, Rp, dout, deq);
    dev_grid_free(s_, &dg);
    cudaStreamSynchronize(s_);
    return st;
}

extern "C" qa_status qa_bt_xs_cuda(void *cuda_stream, const qa_bt_data *data, const qa_bt_xs_settings *xs,
                                   qa_bt_metrics *out, double *equity) {
    cudaStream_t s_ = (cudaStream_t)cuda_stream;
    qa_status st = QA_OK;
    const long long S = (long long)data->symbols, L = (long long)(data->t_end - data->t_begin);
    Inputs in = {};
    in.close = data->close;
    in.signal = data->signal;
    in.T = (long long)data->bars;
    in.t_begin = (long long)data->t_begin;
    in.t_end = (long long)data->t_end;
    signed char *codes = nullptr;
    double *buf = nullptr, *deq = nullptr;
    unsigned char *flags = nullptr;
    unsigned long long *trades = nullptr;
    qa_bt_metrics *dout = nullptr;
    const double wl = xs->k_long > 0 ? xs->long_weight / (double)xs->k_long : 0.0;
    const double wsh = xs->k_short > 0 ? -(xs->short_weight / (double)xs->k_short) : 0.0;
    const size_t LS = (size_t)L * (size_t)(S > 0 ? S : 1);
    QA_CUDA_TRY(cudaMallocAsync((void **)&codes, LS, s_));
    QA_CUDA_TRY(cudaMallocAsync((void **)&flags, LS + (size_t)L, s_));
    QA_CUDA_TRY(cudaMallocAsync((void **)&buf, (2 * LS + 2 * (size_t)L) * sizeof(double), s_));
    QA_CUDA_TRY(cudaMallocAsync((void **)&trades, sizeof(unsigned long long), s_));
    QA_CUDA_TRY(cudaMallocAsync((void **)&dout, sizeof(qa_bt_metrics), s_));
    if (equity) QA_CUDA_TRY(cudaMallocAsync((void **)&deq, (size_t)L * sizeof(double), s_));
    QA_CUDA_TRY(cudaMemsetAsync(trades, 0, sizeof(unsigned long long), s_));
    QA_CUDA_TRY(cudaMemsetAsync(flags, 0, LS + (size_t)L, s_));
    {
        double *contrib = buf, *dturn = buf + LS, *R = buf + 2 * LS, *turn = R + L;
        unsigned char *held = flags + LS;
        if (S > 0) {
            k_xs_codes<<<(unsigned)L, 256, 0, s_>>>(in, S, xs->k_long, xs->k_short, codes);
            QA_CUDA_TRY(cudaGetLastError());
            k_xs_symbol<<<grid1(S, 128), 128, 0, s_>>>(in, S, L, codes, wl, wsh, contrib, dturn, flags);
            QA_CUDA_TRY(cudaGetLastError());
        }
        // row 0 is the base bar; rows of absent symbols are NaN already (k_xs_symbol)
        k_xs_bar<<<grid1(L, 128), 128, 0, s_>>>(S, L, contrib, dturn, flags, xs->cost_bps * 1e-4, R, turn, held, trades);
        QA_CUDA_TRY(cudaGetLastError());
        k_series_metrics<<<1, 1, 0, s_>>>(1, L, R, turn, held, trades, xs->bars_per_year, dout, deq);
        QA_CUDA_TRY(cudaGetLastError());
        QA_CUDA_TRY(cudaMemcpyAsync(out, dout, sizeof(qa_bt_metrics), cudaMemcpyDeviceToHost, s_));
        if (equity) QA_CUDA_TRY(cudaMemcpyAsync(equity, deq, (size_t)L * sizeof(double), cudaMemcpyDeviceToHost, s_));
        QA_CUDA_TRY(cudaStreamSynchronize(s_));
    }
cleanup:
    qa_cuda_free_all(s_, codes, flags, buf, trades, dout, deq);
    cudaStreamSynchronize(s_);
    return st;
}
