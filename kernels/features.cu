// CUDA feature kernels.
//
// Per-symbol kinds: one warp per symbol, walking its time block in tiles of 32 bars
// (lane = bar), kUnroll tiles loaded ahead (coalesced 256-byte rows per field) to keep
// enough bytes in flight; a block holds up to kWarps symbols. Inside a tile:
//   - observations are compacted with a ballot: lane l's observation index is the
//     carried count plus the number of observing lanes below it;
//   - returns take the previous observation from the nearest observing lower lane
//     (shuffle) or the carried value;
//   - windowed kinds keep the last w observations in a per-warp shared ring indexed by
//     observation number (capacity a power of two >= w + 32) and compute each output
//     directly from its window (one pass of shifted sums for moments; exact max/min);
//   - EMA-type recurrences (ema, rsi, atr, macd) are inclusive warp scans of affine maps
//     y -> m*y + b, the seed (mean of the first L inputs) being a constant map.
// The carried state (features_impl.h layout, same as the CPU) is read at the start and
// written at the end, in canonical form, so blocks stream exactly like on the CPU and a
// GPU-computed history can be continued by the CPU live path.
//
// Cross-sectional kinds: one block per timestamp. xs_zscore: deterministic block
// reductions (fixed tree order). xs_rank: bitonic sort of order keys in shared memory,
// then each symbol's rank by binary search; exact, identical to the CPU.
#include "kernels/features_impl.h"

#include <math.h>

#include "kernels/check.h"  // QA_CUDA_CHECK, QA_CUDA_LAUNCH_CHECK

namespace {

constexpr unsigned kFull = 0xffffffffu;
constexpr int kWarps = 4;                      // symbols per block (at most)
constexpr int kUnroll = 4;                     // tiles of 32 bars loaded ahead
constexpr size_t kMaxSmem = 200 * 1024;        // dynamic shared memory per block we allow ourselves
constexpr unsigned kMaxRankN = 16384;          // xs_rank: keys sorted in shared memory (128 KiB)
constexpr unsigned long long kNanKey = ~0ull;  // sorts after every real key

struct SymParams {
    const double *in[3]; // NF == 1: the source field; NF == 3: high, low, close
    double *out;
    double *state;
    size_t nsym, nbar, ld, ld_out, sdoubles, src_off, body_off;
    int kind, output, src_mode, w, slow, sig, cap;
    double k;
};

__device__ __forceinline__ int last_lane(unsigned m) { return 31 - __clz(m); }

// Source stage for one tile: x from the raw value p (see src_step in features_cpu.c).
struct Src {
    int mode;
    double has, prev;
};

__device__ __forceinline__ double src_tile(Src &s, double p, int lane, unsigned lt) {
    if (s.mode == QA_FEAT_SRC_RAW) return p;
    const bool v = !isnan(p);
    const unsigned m = __ballot_sync(kFull, v), before = m & lt;
    const double pp = __shfl_sync(kFull, p, before ? last_lane(before) : 0);
    double x = NAN;
    if (v && (before || s.has != 0.0)) {
        double prev = before ? pp : s.prev;
        x = s.mode == QA_FEAT_SRC_RET ? p / prev - 1.0 : log(p / prev);
    }
    if (m) {
        s.prev = __shfl_sync(kFull, p, last_lane(m));
        s.has = 1.0;
    }
    return x;
}

// C EMA-type smoothers sharing one input sequence. Lanes with `has` carry input u[c] at
// sequence index k (global). Channel c: inputs 0..L-2 accumulate into sum, input L-1
// sets y = (sum + u)/L, later inputs y = m*y + cc*u. Writes y[c] (NaN before the seed or
// without input) and advances the carries (sum, yc) to the end of the tile.
// All pointers are to the caller's small local arrays (C entries); inlined, they stay in
// registers.
template <int C>
__device__ __forceinline__ void smooth(bool has, long long k, const double *u, const int *L, const double *m,
                                       const double *cc, double *sum, double *yc, double *y, int lane) {
#pragma unroll
    for (int c = 0; c < C; c++) {
        double sd = (has && k < L[c]) ? u[c] : 0.0; // seed-phase input, then its inclusive prefix sum
#pragma unroll
        for (int off = 1; off < 32; off <<= 1) {
            double o = __shfl_up_sync(kFull, sd, off);
            if (lane >= off) sd += o;
        }
        double mm = 1.0, bb = 0.0; // this lane's map; identity without input
        if (has && k >= L[c]) {
            mm = m[c];
            bb = cc[c] * u[c];
        } else if (has && k == L[c] - 1) {
            mm = 0.0;
            bb = (sum[c] + sd) / (double)L[c];
        }
#pragma unroll
        for (int off = 1; off < 32; off <<= 1) { // inclusive scan: maps of lanes <= l, applied in order
            double pm = __shfl_up_sync(kFull, mm, off), pb = __shfl_up_sync(kFull, bb, off);
            if (lane >= off) {
                bb = mm * pb + bb;
                mm = mm * pm;
            }
        }
        double yy = mm * yc[c] + bb;
        y[c] = (has && k >= L[c] - 1) ? yy : NAN;
        yc[c] = __shfl_sync(kFull, yy, 31);
        sum[c] += __shfl_sync(kFull, sd, 31);
    }
}

// Carried ring (observation j in slot j % w) <-> shared buffer (slot j & cm).
__device__ void ring_to_buf(const double *ring, int w, long long count, double *buf, unsigned cm, int lane) {
    long long fill = count < w ? count : w;
    for (long long j = count - fill + lane; j < count; j += 32) buf[(unsigned)j & cm] = ring[j % w];
}
__device__ void buf_to_ring(double *ring, int w, long long count, const double *buf, unsigned cm, int lane) {
    long long fill = count < w ? count : w;
    for (long long j = count - fill + lane; j < count; j += 32) ring[j % w] = buf[(unsigned)j & cm];
}

template <int Body>
__global__ void __launch_bounds__(kWarps * 32) sym_kernel(SymParams p) {
    constexpr int NF = (Body == QA_FEAT_BODY_DON || Body == QA_FEAT_BODY_ATR) ? 3 : 1;
    extern __shared__ double smem[];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, wpb = blockDim.x >> 5;
    const size_t s = (size_t)blockIdx.x * wpb + warp;
    if (s >= p.nsym) return; // whole warps leave; no block-wide barriers below
    const unsigned lt = (1u << lane) - 1u;
    const double *in[NF];
#pragma unroll
    for (int f = 0; f < NF; f++) in[f] = p.in[f] + s * p.ld;
    double *out = p.out + s * p.ld_out;
    double *st = p.state + s * p.sdoubles;
    double *b = st + p.body_off;
    const int w = p.w;
    const unsigned cm = (unsigned)p.cap - 1u;
    double *bufa = smem + (size_t)warp * p.cap * (Body == QA_FEAT_BODY_DON ? 2 : 1), *bufb = bufa + p.cap;

    Src src{p.src_mode, 0.0, 0.0};
    if (p.src_mode != QA_FEAT_SRC_RAW) {
        src.has = st[p.src_off + QA_FEAT_SRC_HAS];
        src.prev = st[p.src_off + QA_FEAT_SRC_PREV];
    }
    // Carries (all lanes hold the same values). Smoother channels: ema {y}; rsi {gain,
    // loss}; atr {tr}; macd {fast, slow} and the signal channel g.
    long long count = 0;
    double prev = 0.0, sum[2] = {0.0, 0.0}, yc[2] = {0.0, 0.0}, gsum[1] = {0.0}, gy[1] = {0.0};
    int L[2] = {w, w}, Lg[1] = {p.sig};
    double m[2], cc[2], mg[1], ccg[1];
    if (Body == QA_FEAT_BODY_EMA || Body == QA_FEAT_BODY_MACD) {
        double af = 2.0 / ((double)w + 1.0), as = 2.0 / ((double)p.slow + 1.0), ag = 2.0 / ((double)p.sig + 1.0);
        m[0] = 1.0 - af;
        cc[0] = af;
        m[1] = 1.0 - as;
        cc[1] = as;
        L[1] = p.slow;
        mg[0] = 1.0 - ag;
        ccg[0] = ag;
    } else { // Wilder: y = y*(w-1)/w + x/w
        m[0] = m[1] = (double)(w - 1) / (double)w;
        cc[0] = cc[1] = 1.0 / (double)w;
        mg[0] = ccg[0] = 0.0;
    }
    if constexpr (Body == QA_FEAT_BODY_WIN) {
        count = (long long)b[QA_FEAT_WIN_COUNT];
        ring_to_buf(b + QA_FEAT_WIN_RING, w, count, bufa, cm, lane);
    } else if constexpr (Body == QA_FEAT_BODY_DON) {
        count = (long long)b[QA_FEAT_DON_COUNT];
        ring_to_buf(b + QA_FEAT_DON_RING, w, count, bufa, cm, lane);
        ring_to_buf(b + QA_FEAT_DON_RING + w, w, count, bufb, cm, lane);
    } else if constexpr (Body == QA_FEAT_BODY_EMA) {
        count = (long long)b[QA_FEAT_EMA_COUNT];
        sum[0] = b[QA_FEAT_EMA_SUM];
        yc[0] = b[QA_FEAT_EMA_Y];
    } else if constexpr (Body == QA_FEAT_BODY_RSI) {
        count = (long long)b[QA_FEAT_RSI_COUNT];
        prev = b[QA_FEAT_RSI_PREV];
        sum[0] = b[QA_FEAT_RSI_SUM_G];
        sum[1] = b[QA_FEAT_RSI_SUM_L];
        yc[0] = b[QA_FEAT_RSI_AG];
        yc[1] = b[QA_FEAT_RSI_AL];
    } else if constexpr (Body == QA_FEAT_BODY_ATR) {
        count = (long long)b[QA_FEAT_ATR_COUNT];
        prev = b[QA_FEAT_ATR_PREV];
        sum[0] = b[QA_FEAT_ATR_SUM];
        yc[0] = b[QA_FEAT_ATR_Y];
    } else if constexpr (Body == QA_FEAT_BODY_MACD) {
        count = (long long)b[QA_FEAT_MACD_COUNT];
        sum[0] = b[QA_FEAT_MACD_SUM_F];
        yc[0] = b[QA_FEAT_MACD_YF];
        sum[1] = b[QA_FEAT_MACD_SUM_S];
        yc[1] = b[QA_FEAT_MACD_YS];
        gsum[0] = b[QA_FEAT_MACD_SUM_G];
        gy[0] = b[QA_FEAT_MACD_YG];
    }
    __syncwarp();

    for (size_t t0 = 0; t0 < p.nbar; t0 += 32 * kUnroll) {
        double v[kUnroll][NF];
#pragma unroll
        for (int u = 0; u < kUnroll; u++) {
            size_t t = t0 + (size_t)u * 32 + lane;
#pragma unroll
            for (int f = 0; f < NF; f++) v[u][f] = t < p.nbar ? __ldg(in[f] + t) : NAN;
        }
#pragma unroll
        for (int u = 0; u < kUnroll; u++) {
            const size_t t = t0 + (size_t)u * 32 + lane;
            double y = NAN;
            if constexpr (NF == 1) {
                const double x = src_tile(src, v[u][0], lane, lt);
                const bool valid = !isnan(x);
                const unsigned msk = __ballot_sync(kFull, valid);
                const long long idx = count + __popc(msk & lt); // observation number of this lane
                if constexpr (Body == QA_FEAT_BODY_NONE) {
                    y = x;
                } else if constexpr (Body == QA_FEAT_BODY_WIN) {
                    if (valid) bufa[(unsigned)idx & cm] = x;
                    __syncwarp();
                    if (valid && idx >= w - 1) {
                        // One pass of sums shifted by x itself: a window of equal values gives
                        // exactly mean x and variance 0, as on the CPU.
                        double A = 0.0, B = 0.0;
                        for (int j = 0; j < w; j++) {
                            double d = bufa[(unsigned)(idx - j) & cm] - x;
                            A += d;
                            B += d * d;
                        }
                        double mean = x + A / (double)w, var = 0.0;
                        if (w > 1) {
                            var = (B - A * A / (double)w) / (double)(w - 1);
                            var = var > 0.0 ? var : 0.0;
                        }
                        y = qa_feat_win_output(p.kind, p.k, x, mean, var);
                    }
                    __syncwarp(); // the next tile overwrites slots
                } else if constexpr (Body == QA_FEAT_BODY_EMA) {
                    double uu[1] = {x}, yy[1];
                    smooth<1>(valid, idx, uu, L, m, cc, sum, yc, yy, lane);
                    y = yy[0];
                } else if constexpr (Body == QA_FEAT_BODY_RSI) {
                    const unsigned before = msk & lt;
                    const double px_lane = __shfl_sync(kFull, x, before ? last_lane(before) : 0);
                    const double px = before ? px_lane : prev;
                    const bool has = valid && idx >= 1; // a change needs a previous close
                    const double d = has ? x - px : 0.0;
                    double uu[2] = {d > 0.0 ? d : 0.0, d < 0.0 ? -d : 0.0}, yy[2];
                    smooth<2>(has, idx - 1, uu, L, m, cc, sum, yc, yy, lane);
                    if (has && idx - 1 >= w - 1) y = qa_feat_rsi_value(yy[0], yy[1]);
                    if (msk) prev = __shfl_sync(kFull, x, last_lane(msk));
                } else if constexpr (Body == QA_FEAT_BODY_MACD) {
                    double uu[2] = {x, x}, yy[2];
                    smooth<2>(valid, idx, uu, L, m, cc, sum, yc, yy, lane);
                    const bool hl = valid && idx >= p.slow - 1; // the line exists once both EMAs do
                    const double line = yy[0] - yy[1];
                    double ug[1] = {line}, yg[1];
                    smooth<1>(hl, idx - (p.slow - 1), ug, Lg, mg, ccg, gsum, gy, yg, lane);
                    if (hl)
                        y = p.output == QA_FEAT_OUT_LINE     ? line
                            : p.output == QA_FEAT_OUT_SIGNAL ? yg[0]
                                                             : line - yg[0];
                }
                count += __popc(msk);
            } else {
                const double h = v[u][0], l = v[u][1], c = v[u][2];
                const bool valid = !isnan(h) && !isnan(l) && !isnan(c);
                const unsigned msk = __ballot_sync(kFull, valid);
                const long long idx = count + __popc(msk & lt);
                if constexpr (Body == QA_FEAT_BODY_DON) {
                    if (valid) {
                        bufa[(unsigned)idx & cm] = h;
                        bufb[(unsigned)idx & cm] = l;
                    }
                    __syncwarp();
                    if (valid && idx >= w - 1) {
                        double up = h, dn = l;
                        for (int j = 1; j < w; j++) {
                            double hj = bufa[(unsigned)(idx - j) & cm], lj = bufb[(unsigned)(idx - j) & cm];
                            up = hj > up ? hj : up;
                            dn = lj < dn ? lj : dn;
                        }
                        y = qa_feat_don_output(p.output, up, dn, c);
                    }
                    __syncwarp();
                } else { // ATR
                    const unsigned before = msk & lt;
                    const double pc_lane = __shfl_sync(kFull, c, before ? last_lane(before) : 0);
                    const double pc = before ? pc_lane : prev;
                    double uu[1] = {valid ? qa_feat_true_range(h, l, pc, idx == 0) : 0.0}, yy[1];
                    smooth<1>(valid, idx, uu, L, m, cc, sum, yc, yy, lane);
                    y = yy[0];
                    if (msk) prev = __shfl_sync(kFull, c, last_lane(msk));
                }
                count += __popc(msk);
            }
            if (t < p.nbar) out[t] = y;
        }
    }

    // Write the carried state back (canonical form, see features_impl.h).
    if constexpr (Body == QA_FEAT_BODY_WIN) {
        buf_to_ring(b + QA_FEAT_WIN_RING, w, count, bufa, cm, lane);
        __syncwarp();
        if (lane == 0) {
            int fill = count < w ? (int)count : w, pos = (int)(count % w);
            b[QA_FEAT_WIN_COUNT] = (double)count;
            b[QA_FEAT_WIN_POS] = (double)pos;
            qa_feat_win_canon(b + QA_FEAT_WIN_RING, w, fill, pos, &b[QA_FEAT_WIN_K], &b[QA_FEAT_WIN_A],
                              &b[QA_FEAT_WIN_B], &b[QA_FEAT_WIN_RUN]);
        }
    } else if constexpr (Body == QA_FEAT_BODY_DON) {
        buf_to_ring(b + QA_FEAT_DON_RING, w, count, bufa, cm, lane);
        buf_to_ring(b + QA_FEAT_DON_RING + w, w, count, bufb, cm, lane);
        __syncwarp();
        if (lane == 0) {
            b[QA_FEAT_DON_COUNT] = (double)count;
            b[QA_FEAT_DON_POS] = (double)(count % w);
            qa_feat_don_canon(b, w);
        }
    }
    if (lane != 0) return;
    if (p.src_mode != QA_FEAT_SRC_RAW) {
        st[p.src_off + QA_FEAT_SRC_HAS] = src.has;
        st[p.src_off + QA_FEAT_SRC_PREV] = src.prev;
    }
    if constexpr (Body == QA_FEAT_BODY_EMA) {
        b[QA_FEAT_EMA_COUNT] = (double)count;
        b[QA_FEAT_EMA_SUM] = sum[0];
        b[QA_FEAT_EMA_Y] = yc[0];
    } else if constexpr (Body == QA_FEAT_BODY_RSI) {
        b[QA_FEAT_RSI_COUNT] = (double)count;
        b[QA_FEAT_RSI_PREV] = prev;
        b[QA_FEAT_RSI_SUM_G] = sum[0];
        b[QA_FEAT_RSI_SUM_L] = sum[1];
        b[QA_FEAT_RSI_AG] = yc[0];
        b[QA_FEAT_RSI_AL] = yc[1];
    } else if constexpr (Body == QA_FEAT_BODY_ATR) {
        b[QA_FEAT_ATR_COUNT] = (double)count;
        b[QA_FEAT_ATR_PREV] = prev;
        b[QA_FEAT_ATR_SUM] = sum[0];
        b[QA_FEAT_ATR_Y] = yc[0];
    } else if constexpr (Body == QA_FEAT_BODY_MACD) {
        b[QA_FEAT_MACD_COUNT] = (double)count;
        b[QA_FEAT_MACD_SUM_F] = sum[0];
        b[QA_FEAT_MACD_YF] = yc[0];
        b[QA_FEAT_MACD_SUM_S] = sum[1];
        b[QA_FEAT_MACD_YS] = yc[1];
        b[QA_FEAT_MACD_SUM_G] = gsum[0];
        b[QA_FEAT_MACD_YG] = gy[0];
    }
}

// ---- cross-section ---------------------------------------------------------------------

// Deterministic block reductions (warp tree, then warps in order by thread 0). `sh` has
// 33 entries; every thread of the block must call.
__device__ double block_sum(double v, double *sh) {
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(kFull, v, off);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads(); // sh may still be read from the previous call
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    if (threadIdx.x == 0) {
        double t = 0.0;
        for (int i = 0; i < nw; i++) t += sh[i];
        sh[32] = t;
    }
    __syncthreads();
    return sh[32];
}

__device__ unsigned long long block_min(unsigned long long v, unsigned long long *sh) {
    for (int off = 16; off > 0; off >>= 1) {
        unsigned long long o = __shfl_down_sync(kFull, v, off);
        v = o < v ? o : v;
    }
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    if (threadIdx.x == 0) {
        unsigned long long t = sh[0];
        for (int i = 1; i < nw; i++) t = sh[i] < t ? sh[i] : t;
        sh[32] = t;
    }
    __syncthreads();
    return sh[32];
}

// One block per timestamp: mean shifted by the first non-NaN value, two-pass variance
// (the CPU formula; sums in tree order). Thread i only ever reads and writes its own
// symbols' entries after the reductions, so x may equal out.
__global__ void __launch_bounds__(256) xs_zscore_kernel(const double *x, size_t ldx, size_t nsym, double *out,
                                                        size_t ld_out) {
    __shared__ double sh[33];
    __shared__ unsigned long long shi[33];
    const size_t t = blockIdx.x;
    unsigned long long first = kNanKey;
    for (size_t i = threadIdx.x; i < nsym; i += blockDim.x)
        if (!isnan(x[i * ldx + t])) {
            first = i;
            break;
        }
    first = block_min(first, shi);
    double n = 0.0, s1 = 0.0, K = first == kNanKey ? 0.0 : x[first * ldx + t];
    for (size_t i = threadIdx.x; i < nsym; i += blockDim.x) {
        double v = x[i * ldx + t];
        if (isnan(v)) continue;
        n += 1.0;
        s1 += v - K;
    }
    n = block_sum(n, sh);
    s1 = block_sum(s1, sh);
    const double mean = n > 0.0 ? K + s1 / n : NAN;
    double q = 0.0;
    for (size_t i = threadIdx.x; i < nsym; i += blockDim.x) {
        double v = x[i * ldx + t];
        if (!isnan(v)) q += (v - mean) * (v - mean);
    }
    q = block_sum(q, sh);
    const double sd = n >= 2.0 ? sqrt(q / (n - 1.0)) : NAN;
    const bool ok = sd > 0.0;
    for (size_t i = threadIdx.x; i < nsym; i += blockDim.x) {
        double v = x[i * ldx + t];
        out[i * ld_out + t] = (ok && !isnan(v)) ? (v - mean) / sd : NAN;
    }
}

// First index in keys[0..n) whose key is >= v (strict: > v).
__device__ __forceinline__ unsigned lower_bound(const unsigned long long *keys, unsigned n, unsigned long long v,
                                                bool strict) {
    unsigned lo = 0, hi = n;
    while (lo < hi) {
        unsigned mid = (lo + hi) >> 1;
        bool left = strict ? keys[mid] <= v : keys[mid] < v;
        if (left) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

// One block per timestamp; N = power of two >= nsym keys in dynamic shared memory.
__global__ void __launch_bounds__(512) xs_rank_kernel(const double *x, size_t ldx, size_t nsym, unsigned N,
                                                      double *out, size_t ld_out) {
    extern __shared__ unsigned long long keys[];
    const size_t t = blockIdx.x;
    for (unsigned i = threadIdx.x; i < N; i += blockDim.x) {
        double v = i < nsym ? x[i * ldx + t] : NAN;
        keys[i] = isnan(v) ? kNanKey : qa_feat_order_key(v);
    }
    __syncthreads();
    // Bitonic sort, ascending. Pair q of stage (k, j) compares i = 2q - (q mod j) with i + j.
    for (unsigned k = 2; k <= N; k <<= 1) {
        for (unsigned j = k >> 1; j > 0; j >>= 1) {
            for (unsigned q = threadIdx.x; q < N / 2; q += blockDim.x) {
                unsigned i = 2 * q - (q & (j - 1)), l = i + j;
                bool up = (i & k) == 0;
                unsigned long long a = keys[i], c = keys[l];
                if ((a > c) == up) {
                    keys[i] = c;
                    keys[l] = a;
                }
            }
            __syncthreads();
        }
    }
    const unsigned n = lower_bound(keys, N, kNanKey, false); // real keys come first
    for (size_t i = threadIdx.x; i < nsym; i += blockDim.x) {
        double v = x[i * ldx + t];
        double r = NAN;
        if (!isnan(v)) {
            unsigned long long key = qa_feat_order_key(v);
            unsigned less = lower_bound(keys, n, key, false), upto = lower_bound(keys, n, key, true);
            r = qa_feat_rank_value(less, upto - less, n);
        }
        out[i * ld_out + t] = r;
    }
}

template <int Body>
qa_status launch_sym(const SymParams &p, cudaStream_t s) {
    const size_t nbuf = Body == QA_FEAT_BODY_DON ? 2 : Body == QA_FEAT_BODY_WIN ? 1 : 0;
    const size_t per_warp = nbuf * (size_t)p.cap * sizeof(double);
    if (per_warp > kMaxSmem) { // the largest ring that fits, less one tile
        size_t cap_max = 1;
        while (cap_max * 2 * nbuf * sizeof(double) <= kMaxSmem) cap_max *= 2;
        return QA_FAIL(QA_ERR_UNSUPPORTED, "window %d is too long for the CUDA backend (at most %zu observations)",
                       p.w, cap_max - 32);
    }
    int wpb = kWarps;
    while (wpb > 1 && (size_t)wpb * per_warp > kMaxSmem) wpb--;
    const size_t smem = (size_t)wpb * per_warp;
    if (smem > 48 * 1024)
        QA_CUDA_CHECK(cudaFuncSetAttribute(sym_kernel<Body>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    const unsigned grid = (unsigned)((p.nsym + (size_t)wpb - 1) / (size_t)wpb);
    sym_kernel<Body><<<grid, 32 * wpb, smem, s>>>(p);
    QA_CUDA_LAUNCH_CHECK("features per-symbol kernel");
    return QA_OK;
}

qa_status launch_xs(int kind, const double *x, size_t ldx, size_t nsym, size_t nbar, double *out, size_t ld_out,
                    cudaStream_t s) {
    if (kind == QA_FEAT_XS_ZSCORE) {
        xs_zscore_kernel<<<(unsigned)nbar, 256, 0, s>>>(x, ldx, nsym, out, ld_out);
        QA_CUDA_LAUNCH_CHECK("features xs_zscore kernel");
        return QA_OK;
    }
    unsigned N = 1;
    while (N < nsym) N <<= 1;
    if (N > kMaxRankN)
        return QA_FAIL(QA_ERR_UNSUPPORTED, "xs_rank on CUDA sorts at most %u symbols per timestamp (got %zu)",
                       kMaxRankN, nsym);
    const size_t smem = (size_t)N * sizeof(unsigned long long);
    const int threads = N / 2 < 32 ? 32 : N / 2 > 512 ? 512 : (int)(N / 2);
    if (smem > 48 * 1024)
        QA_CUDA_CHECK(cudaFuncSetAttribute(xs_rank_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    xs_rank_kernel<<<(unsigned)nbar, threads, smem, s>>>(x, ldx, nsym, N, out, ld_out);
    QA_CUDA_LAUNCH_CHECK("features xs_rank kernel");
    return QA_OK;
}

unsigned pow2_at_least(unsigned v) {
    unsigned c = 1;
    while (c < v) c <<= 1;
    return c;
}

}  // namespace

extern "C" qa_status qa_feat_compute_cuda(void *cuda_stream, const qa_feat_plan *plan, const qa_feat_panel *in,
                                          double *state, double *out, size_t ld_out) {
    cudaStream_t s = (cudaStream_t)cuda_stream;
    if (in->nbar > 0x7fffffffu && plan->body == QA_FEAT_BODY_XS)
        return QA_FAIL(QA_ERR_UNSUPPORTED, "cross-sections of more than 2^31 timestamps in one call");
    SymParams p;
    memset(&p, 0, sizeof p);
    p.out = out;
    p.state = state;
    p.nsym = in->nsym;
    p.nbar = in->nbar;
    p.ld = in->ld;
    p.ld_out = ld_out;
    p.sdoubles = plan->doubles;
    p.src_off = plan->src_off;
    p.body_off = plan->body_off;
    p.kind = plan->kind;
    p.output = plan->output;
    p.src_mode = plan->src_mode;
    p.w = plan->w;
    p.slow = plan->slow;
    p.sig = plan->sig;
    p.k = plan->k;
    if (plan->body == QA_FEAT_BODY_DON || plan->body == QA_FEAT_BODY_ATR) {
        p.in[0] = in->field[QA_FEAT_FIELD_HIGH];
        p.in[1] = in->field[QA_FEAT_FIELD_LOW];
        p.in[2] = in->field[QA_FEAT_FIELD_CLOSE];
    } else {
        p.in[0] = in->field[plan->src_field];
    }
    if (plan->body == QA_FEAT_BODY_WIN || plan->body == QA_FEAT_BODY_DON) {
        if (plan->w > (1 << 20)) return QA_FAIL(QA_ERR_UNSUPPORTED, "window %d is too long for CUDA", plan->w);
        p.cap = (int)pow2_at_least((unsigned)plan->w + 32u);
    }
    switch (plan->body) {
    case QA_FEAT_BODY_NONE: return launch_sym<QA_FEAT_BODY_NONE>(p, s);
    case QA_FEAT_BODY_WIN: return launch_sym<QA_FEAT_BODY_WIN>(p, s);
    case QA_FEAT_BODY_DON: return launch_sym<QA_FEAT_BODY_DON>(p, s);
    case QA_FEAT_BODY_EMA: return launch_sym<QA_FEAT_BODY_EMA>(p, s);
    case QA_FEAT_BODY_RSI: return launch_sym<QA_FEAT_BODY_RSI>(p, s);
    case QA_FEAT_BODY_ATR: return launch_sym<QA_FEAT_BODY_ATR>(p, s);
    case QA_FEAT_BODY_MACD: return launch_sym<QA_FEAT_BODY_MACD>(p, s);
    case QA_FEAT_BODY_XS: {
        const double *x = in->field[plan->src_field];
        size_t ldx = in->ld;
        if (plan->src_mode != QA_FEAT_SRC_RAW) { // derived x into out, then the cross-section in place
            qa_status st = launch_sym<QA_FEAT_BODY_NONE>(p, s);
            if (st != QA_OK) return st;
            x = out;
            ldx = ld_out;
        }
        return launch_xs(plan->kind, x, ldx, in->nsym, in->nbar, out, ld_out, s);
    }
    default: return QA_FAIL(QA_ERR_INVALID_ARG, "unknown feature body %d", plan->body);
    }
}
