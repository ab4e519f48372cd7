/* The per-bar trading rules of the backtest as host/device inline functions: canonical
 * indicator evaluation, strategy state machines, stops, sizing, costs, P&L and metric
 * accumulation. The CPU reference (backtest_ref.c) and the CUDA kernels (backtest.cu)
 * call these, so they follow one definition; the optimised CPU engine (backtest_cpu.c)
 * re-implements them with SIMD across parameter sets and is tested against the
 * reference. They are public because the engines that run bar by bar (the event-driven
 * simulator through trading/strategy.h, the live service) must decide with the same
 * code. docs/backtest.md is the prose version of this file.
 *
 * Canonical evaluation order. Decisions (fast > slow, z > entry, close <= stop level)
 * are discontinuous, so engines must compute every indicator bit for bit the same way
 * or a near-tie could flip a trade. The rules: window sums run newest first
 * (x[i] + x[i-1] + ... + x[i-w+1]); sums of squared deviations likewise; no fused
 * multiply-add anywhere. C code relies on ISO C mode (-std=c11 implies
 * -ffp-contract=off in GCC); device code spells products that feed a sum with
 * __dmul_rn (QA_BT_MUL), which nvcc never fuses. */
#ifndef QA_KERNELS_BACKTEST_RULES_H
#define QA_KERNELS_BACKTEST_RULES_H

#include <math.h>    /* sqrt, pow, fabs, NAN, INFINITY */
#include <stdint.h>  /* int64_t */

#include "kernels/backtest.h"

#if defined(__CUDACC__)
#define QA_BT_FN __host__ __device__ __forceinline__
#else
#define QA_BT_FN static inline
#endif

#if defined(__CUDA_ARCH__)
#define QA_BT_MUL(a, b) __dmul_rn((a), (b))
#else
#define QA_BT_MUL(a, b) ((a) * (b))
#endif

/* Constants of one run, derived from the rules by qa_bt_consts_make (plain data: passed
 * to CUDA kernels by value). Stop levels are entry close x factor; a disabled stop has an
 * infinite level. */
typedef struct qa_bt_consts {
    int strategy, direction, sizing;
    int vol_window, impact, adv_window, impact_vol_window;
    double fraction, target_vol, max_leverage, sqrt_bpy, bars_per_year;
    double cprop;      /* (commission + half spread) * 1e-4 per unit traded */
    double phi;        /* fixed cost / capital (0 = off) */
    double impact_coef, capital;
    double lo_long, hi_long, lo_short, hi_short; /* stop-level factors */
} qa_bt_consts;

QA_BT_FN void qa_bt_consts_make(const qa_bt_rules *s, qa_bt_strategy strategy, qa_bt_consts *k) {
    k->strategy = (int)strategy;
    k->direction = (int)s->direction;
    k->sizing = (int)s->sizing;
    k->vol_window = s->vol_window;
    k->impact = s->impact_coef > 0.0;
    k->adv_window = s->adv_window;
    k->impact_vol_window = s->impact_vol_window;
    k->fraction = s->fraction;
    k->target_vol = s->target_vol;
    k->max_leverage = s->max_leverage;
    k->bars_per_year = s->bars_per_year;
    k->sqrt_bpy = sqrt(s->bars_per_year);
    k->cprop = (s->commission_bps + s->half_spread_bps) * 1e-4;
    k->phi = s->fixed_cost > 0.0 ? s->fixed_cost / s->capital : 0.0;
    k->impact_coef = s->impact_coef;
    k->capital = s->capital;
    /* long: stop below, take-profit above; short: the mirror image */
    k->lo_long = s->stop_loss > 0.0 ? 1.0 - s->stop_loss : -INFINITY;
    k->hi_long = s->take_profit > 0.0 ? 1.0 + s->take_profit : INFINITY;
    k->lo_short = s->take_profit > 0.0 ? 1.0 - s->take_profit : -INFINITY;
    k->hi_short = s->stop_loss > 0.0 ? 1.0 + s->stop_loss : INFINITY;
}

/* Indicator windows a parameter set uses: w[0] primary, w[1] secondary (slow MA,
 * Donchian exit; 0 when none). Strategy SIGNAL has none. */
QA_BT_FN void qa_bt_param_windows(int strategy, const double *p, long *w0, long *w1) {
    *w0 = 0;
    *w1 = 0;
    switch (strategy) {
    case QA_BT_SMA_CROSS:
    case QA_BT_EMA_CROSS:
    case QA_BT_DONCHIAN:
        *w0 = (long)p[0];
        *w1 = (long)p[1];
        break;
    case QA_BT_ZSCORE:
    case QA_BT_BOLLINGER:
    case QA_BT_RSI:
        *w0 = (long)p[0];
        break;
    default:
        break;
    }
}

/* ---- canonical indicators on an observation array x (index i = current observation) ---- */

/* mean of x[i-w+1..i], summed newest first; needs i >= w-1. */
QA_BT_FN double qa_bt_mean_at(const double *x, long i, long w) {
    double s = x[i];
    for (long k = 1; k < w; k++) s = s + x[i - k];
    return s / (double)w;
}

/* sum of (x - m)^2 over x[i-w+1..i], newest first. */
QA_BT_FN double qa_bt_ss_at(const double *x, long i, long w, double m) {
    double ss = 0.0;
    for (long k = 0; k < w; k++) {
        double d = x[i - k] - m;
        ss = ss + QA_BT_MUL(d, d);
    }
    return ss;
}

/* sample standard deviation (ddof 1) from a sum of squared deviations */
QA_BT_FN double qa_bt_std_from_ss(double ss, long w) { return sqrt(ss / (double)(w - 1)); }

/* max of x[i-w..i-1] / min of x[i-w..i-1] (the previous w observations); needs i >= w. */
QA_BT_FN double qa_bt_max_prev(const double *x, long i, long w) {
    double m = x[i - 1];
    for (long k = 2; k <= w; k++)
        if (x[i - k] > m) m = x[i - k];
    return m;
}
QA_BT_FN double qa_bt_min_prev(const double *x, long i, long w) {
    double m = x[i - 1];
    for (long k = 2; k <= w; k++)
        if (x[i - k] < m) m = x[i - k];
    return m;
}

/* EMA recurrence: alpha*x + (1-alpha)*e_prev with beta = 1 - alpha precomputed. */
QA_BT_FN double qa_bt_ema_next(double e_prev, double x, double alpha, double beta) {
    return QA_BT_MUL(alpha, x) + QA_BT_MUL(beta, e_prev);
}

/* Wilder gains/losses of observation i >= 1 from closes. */
QA_BT_FN double qa_bt_gain(const double *c, long i) {
    double d = c[i] - c[i - 1];
    return d > 0.0 ? d : 0.0;
}
QA_BT_FN double qa_bt_loss(const double *c, long i) {
    double d = c[i] - c[i - 1];
    return d < 0.0 ? -d : 0.0;
}
/* Wilder smoothing: (avg*(w-1) + cur) / w */
QA_BT_FN double qa_bt_wilder_next(double avg, double cur, double w) {
    return (QA_BT_MUL(avg, w - 1.0) + cur) / w;
}
QA_BT_FN double qa_bt_rsi_value(double avg_gain, double avg_loss) {
    if (avg_loss == 0.0) return avg_gain > 0.0 ? 100.0 : 50.0;
    return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss);
}

/* EMA of span over observations: NaN before observation span-1, the mean of the first
 * span observations there, then the recurrence. Call for every i in order. */
QA_BT_FN double qa_bt_ema_update(const double *x, long i, long span, double alpha, double beta, double prev) {
    if (i < span - 1) return NAN;
    if (i == span - 1) return qa_bt_mean_at(x, i, span);
    return qa_bt_ema_next(prev, x[i], alpha, beta);
}

/* Wilder RSI(w) over closes: NaN before observation w; at w the averages are the plain
 * means of the first w gains/losses (summed newest first), later Wilder smoothing.
 * Call for every i in order; *ag, *al carry the averages. */
QA_BT_FN double qa_bt_rsi_update(const double *c, long i, long w, double *ag, double *al) {
    if (i < w) return NAN;
    if (i == w) {
        double g = qa_bt_gain(c, i), l = qa_bt_loss(c, i);
        for (long k = 1; k < w; k++) {
            g = g + qa_bt_gain(c, i - k);
            l = l + qa_bt_loss(c, i - k);
        }
        *ag = g / (double)w;
        *al = l / (double)w;
    } else {
        *ag = qa_bt_wilder_next(*ag, qa_bt_gain(c, i), (double)w);
        *al = qa_bt_wilder_next(*al, qa_bt_loss(c, i), (double)w);
    }
    return qa_bt_rsi_value(*ag, *al);
}

/* Inverse-volatility portfolio weight of observation i: 1/std of the returns
 * r[i-ww..i-1] (the ww returns before the bar); NaN while undefined or when std == 0. */
QA_BT_FN double qa_bt_inv_vol_weight(const double *r, long i, long ww) {
    if (i < ww + 1) return NAN;
    double m = qa_bt_mean_at(r, i - 1, ww);
    double sd = qa_bt_std_from_ss(qa_bt_ss_at(r, i - 1, ww, m), ww);
    return sd > 0.0 ? 1.0 / sd : NAN;
}

/* Indicator values of observation i in the layout qa_bt_decide reads, straight from
 * their windows over the observation arrays c (close), h/l (high/low, Donchian) and g
 * (signal); EMA and RSI come in from their recurrences (e0, e1, rsi), which run over
 * every observation. Shared by the CPU reference and the event-driven simulator
 * (trading/strategy.c), so both evaluate every indicator the same way. */
QA_BT_FN void qa_bt_values_at(int strategy, long w0, long w1, const double *c, const double *h, const double *l,
                              const double *g, long i, double e0, double e1, double rsi, double v[5]) {
    v[0] = v[1] = v[2] = v[3] = v[4] = NAN;
    switch (strategy) {
    case QA_BT_SMA_CROSS:
        if (i >= w0 - 1) v[0] = qa_bt_mean_at(c, i, w0);
        if (i >= w1 - 1) v[1] = qa_bt_mean_at(c, i, w1);
        break;
    case QA_BT_EMA_CROSS:
        v[0] = e0;
        v[1] = e1;
        break;
    case QA_BT_ZSCORE:
    case QA_BT_BOLLINGER:
        v[0] = c[i];
        if (i >= w0 - 1) {
            v[1] = qa_bt_mean_at(c, i, w0);
            v[2] = qa_bt_std_from_ss(qa_bt_ss_at(c, i, w0, v[1]), w0);
        }
        break;
    case QA_BT_DONCHIAN:
        v[0] = c[i];
        if (i >= w0) {
            v[1] = qa_bt_max_prev(h, i, w0);
            v[2] = qa_bt_min_prev(l, i, w0);
        }
        if (w1 == 0) {
            v[3] = INFINITY;
            v[4] = -INFINITY;
        } else if (i >= w1) {
            v[3] = qa_bt_max_prev(h, i, w1);
            v[4] = qa_bt_min_prev(l, i, w1);
        }
        break;
    case QA_BT_RSI:
        v[0] = rsi;
        break;
    case QA_BT_SIGNAL:
        v[0] = g[i];
        break;
    default:
        break;
    }
}

/* ---- strategy decisions ------------------------------------------------------------- */

/* New raw state in {-1, 0, +1} from the indicator values v of this bar and the previous
 * raw state sp, one function per strategy (qa_bt_decide dispatches). Per strategy, v holds:
 *   SMA/EMA cross: v0 fast, v1 slow
 *   ZSCORE, BOLLINGER: v0 close, v1 mean(w), v2 std(w)
 *   DONCHIAN: v0 close, v1/v2 max high/min low of the previous w observations,
 *             v3/v4 the same over exit_window (+inf/-inf when exit_window is 0)
 *   RSI: v0 rsi(w);  SIGNAL: v0 signal.
 * NaN values (warm-up, std == 0 for z/Bollinger) mean "no signal": state 0. */
QA_BT_FN int qa_bt_decide_cross(const double *v) {
    return (v[0] > v[1]) - (v[0] < v[1]); /* NaN compares false: 0 */
}

QA_BT_FN int qa_bt_decide_zscore(const double *p, const double *v, int sp) {
    if (!(v[2] > 0.0)) return 0;
    double z = (v[0] - v[1]) / v[2];
    if (z > p[1]) return -1;
    if (z < -p[1]) return 1;
    if (sp < 0 && z < p[2]) return 0;  /* short exits once z is back below exit_z */
    if (sp > 0 && z > -p[2]) return 0; /* long exits once z is back above -exit_z */
    return sp;
}

QA_BT_FN int qa_bt_decide_bollinger(const double *p, const double *v, int sp) {
    if (!(v[2] > 0.0)) return 0;
    double ks = QA_BT_MUL(p[1], v[2]);
    if (v[0] > v[1] + ks) return 1;
    if (v[0] < v[1] - ks) return -1;
    if (sp > 0 && v[0] <= v[1]) return 0;
    if (sp < 0 && v[0] >= v[1]) return 0;
    return sp;
}

QA_BT_FN int qa_bt_decide_donchian(const double *v, int sp) {
    if (isnan(v[1]) || isnan(v[2]) || isnan(v[3]) || isnan(v[4])) return 0;
    if (v[0] > v[1]) return 1;
    if (v[0] < v[2]) return -1;
    if (sp > 0 && v[0] < v[4]) return 0;
    if (sp < 0 && v[0] > v[3]) return 0;
    return sp;
}

QA_BT_FN int qa_bt_decide_rsi(const double *p, const double *v, int sp) {
    if (isnan(v[0])) return 0;
    if (v[0] < p[1]) return 1;
    if (v[0] > p[2]) return -1;
    if (sp > 0 && v[0] >= 50.0) return 0;
    if (sp < 0 && v[0] <= 50.0) return 0;
    return sp;
}

QA_BT_FN int qa_bt_decide_signal(const double *p, const double *v) {
    return (v[0] > p[1]) ? 1 : (v[0] < p[0]) ? -1 : 0;
}

QA_BT_FN int qa_bt_decide(int strategy, const double *p, const double *v, int sp) {
    switch (strategy) {
    case QA_BT_SMA_CROSS:
    case QA_BT_EMA_CROSS:
        return qa_bt_decide_cross(v);
    case QA_BT_ZSCORE:
        return qa_bt_decide_zscore(p, v, sp);
    case QA_BT_BOLLINGER:
        return qa_bt_decide_bollinger(p, v, sp);
    case QA_BT_DONCHIAN:
        return qa_bt_decide_donchian(v, sp);
    case QA_BT_RSI:
        return qa_bt_decide_rsi(p, v, sp);
    case QA_BT_SIGNAL:
        return qa_bt_decide_signal(p, v);
    default:
        return 0;
    }
}

/* The direction mode applied to a raw state. */
QA_BT_FN int qa_bt_filter(int direction, int s) {
    if (direction == QA_BT_LONG_ONLY && s < 0) return 0;
    if (direction == QA_BT_SHORT_ONLY && s > 0) return 0;
    return s;
}

/* ---- sizing and impact inputs of a bar -------------------------------------------------- */

/* |pos| under vol targeting from the std of the last vol_window returns. */
QA_BT_FN double qa_bt_size_vol(const qa_bt_consts *k, double sd) {
    double sz = k->target_vol / (sd * k->sqrt_bpy);
    return sz < k->max_leverage ? sz : k->max_leverage; /* also caps sd == 0 (inf) */
}

/* Impact factor kappa = coef * sigma * sqrt(capital / (close * ADV)); the impact cost
 * of a trade of delta (fraction of equity E_prev) is delta * kappa * sqrt(delta * E_prev). */
QA_BT_FN double qa_bt_kappa(const qa_bt_consts *k, double sd, double close, double adv) {
    return QA_BT_MUL(k->impact_coef, sd) * sqrt(k->capital / QA_BT_MUL(close, adv));
}

/* Size and kappa of observation i from the observation arrays (close c, returns r with
 * r[0] unused, volume v). Returns 0 when a sizing or impact window is not yet full:
 * the bar gives no signal (size is then 0 under vol targeting, kappa 0). */
QA_BT_FN int qa_bt_bar_inputs(const qa_bt_consts *k, const double *c, const double *r, const double *v,
                              long i, double *size, double *kappa) {
    int ok = 1;
    *size = k->sizing == QA_BT_SIZE_VOL_TARGET ? 0.0 : k->fraction;
    *kappa = 0.0;
    if (k->sizing == QA_BT_SIZE_VOL_TARGET) {
        long w = k->vol_window;
        if (i < w) { /* returns r[i-w+1..i] need i-w+1 >= 1 */
            ok = 0;
        } else {
            double m = qa_bt_mean_at(r, i, w);
            *size = qa_bt_size_vol(k, qa_bt_std_from_ss(qa_bt_ss_at(r, i, w, m), w));
        }
    }
    if (k->impact) {
        long aw = k->adv_window, iw = k->impact_vol_window;
        if (i < aw - 1 || i < iw) {
            ok = 0;
        } else {
            double adv = qa_bt_mean_at(v, i, aw);
            double m = qa_bt_mean_at(r, i, iw);
            *kappa = qa_bt_kappa(k, qa_bt_std_from_ss(qa_bt_ss_at(r, i, iw, m), iw), c[i], adv);
        }
    }
    return ok;
}

/* ---- positions, stops and P&L ------------------------------------------------------------ */

typedef struct qa_bt_pos {
    double pos;    /* position after the last bar (fraction of equity) */
    double lo, hi; /* stop levels of the open position: exit when close <= lo or >= hi */
    int q;         /* direction after the last bar */
    int latch;     /* direction stopped out of, until the signal leaves it (0 = none) */
} qa_bt_pos;

QA_BT_FN void qa_bt_pos_init(qa_bt_pos *ps) {
    ps->pos = 0.0;
    ps->lo = -INFINITY;
    ps->hi = INFINITY;
    ps->q = 0;
    ps->latch = 0;
}

/* One P&L bar: m is the filtered signal of this bar (0 when a window is not full), c
 * and r the close and return, size |pos| if in the market, kappa the impact factor,
 * E_prev the equity after the previous bar. Updates the position state and returns
 * R = pos_prev*r - cprop*delta [- phi/E_prev] [- delta*kappa*sqrt(delta*E_prev)],
 * the non-proportional terms only on bars that trade. A ruined run (E_prev <= 0) stays
 * flat with R = 0. */
QA_BT_FN double qa_bt_step(qa_bt_pos *ps, int m, double c, double r, double size, double kappa,
                           const qa_bt_consts *k, double E_prev, double *delta, int *held, int *entry) {
    if (!(E_prev > 0.0)) {
        qa_bt_pos_init(ps);
        *delta = 0.0;
        *held = 0;
        *entry = 0;
        return 0.0;
    }
    int qp = ps->q, q;
    *held = qp != 0;
    if (qp != 0 && (c <= ps->lo || c >= ps->hi)) { /* stop-loss / take-profit on the close */
        q = 0;
        ps->latch = qp;
    } else if (ps->latch != 0) { /* after a stop: flat until the signal leaves that direction */
        if (m != ps->latch) {
            ps->latch = 0;
            q = m;
        } else {
            q = 0;
        }
    } else {
        q = m;
    }
    *entry = q != 0 && q != qp;
    if (*entry) {
        ps->lo = QA_BT_MUL(c, q > 0 ? k->lo_long : k->lo_short);
        ps->hi = QA_BT_MUL(c, q > 0 ? k->hi_long : k->hi_short);
    }
    double pos = QA_BT_MUL((double)q, size);
    double d = fabs(pos - ps->pos);
    double R = QA_BT_MUL(ps->pos, r);
    R = R - QA_BT_MUL(k->cprop, d);
    if (d != 0.0) {
        if (k->phi > 0.0) R = R - k->phi / E_prev;
        if (k->impact) R = R - QA_BT_MUL(QA_BT_MUL(d, kappa), sqrt(QA_BT_MUL(d, E_prev)));
    }
    ps->q = q;
    ps->pos = pos;
    *delta = d;
    return R;
}

/* ---- equity path and metrics ------------------------------------------------------------- */

/* Equity after a bar with P&L R (clamped at 0: ruin), the running peak, the lowest
 * E/peak so far (rho) and the current / longest run of bars below the peak. */
typedef struct qa_bt_path {
    double E, peak, rho;
    int64_t uw, maxuw;
} qa_bt_path;

QA_BT_FN void qa_bt_path_init(qa_bt_path *p) {
    p->E = 1.0;
    p->peak = 1.0;
    p->rho = 1.0;
    p->uw = 0;
    p->maxuw = 0;
}

QA_BT_FN void qa_bt_path_push(qa_bt_path *p, double R) {
    double e = QA_BT_MUL(p->E, 1.0 + R);
    if (!(e > 0.0)) e = 0.0;
    if (e > p->peak) p->peak = e;
    if (e < p->peak) {
        p->uw++;
        double d = e / p->peak;
        if (d < p->rho) p->rho = d;
    } else {
        p->uw = 0;
    }
    if (p->uw > p->maxuw) p->maxuw = p->uw;
    p->E = e;
}

#define QA_BT_ROUNDOFF 1e-12 /* per-bar deviation / drawdown below which a ratio is undefined */

/* Metrics from the accumulated sums. m2 is the sum of squared deviations from the mean
 * (exact two-pass value or sumsq - sum^2/n). */
QA_BT_FN void qa_bt_finalize(int64_t n, double sum, double m2, double down, const qa_bt_path *p,
                             int64_t held, int64_t wins, double turnover, int64_t trades, double bpy,
                             qa_bt_metrics *m) {
    double sb = sqrt(bpy);
    m->bars = n;
    m->trades = trades;
    m->max_dd_duration = p->maxuw;
    m->turnover = turnover;
    m->total_return = p->E - 1.0;
    m->max_drawdown = p->rho - 1.0;
    m->cagr = n > 0 ? (p->E > 0.0 ? pow(p->E, bpy / (double)n) - 1.0 : -1.0) : NAN;
    m->exposure = n > 0 ? (double)held / (double)n : NAN;
    m->hit_rate = held > 0 ? (double)wins / (double)held : NAN;
    double mean = n > 0 ? sum / (double)n : NAN;
    /* A deviation or drawdown below QA_BT_ROUNDOFF is the round-off of a flat equity
     * curve (an engine that keeps cash can dip by 1e-16 where the vectorized one stays
     * exactly flat), not risk: the ratio over it is undefined, as over an exact zero. */
    if (n >= 2) {
        double sd = sqrt((m2 > 0.0 ? m2 : 0.0) / (double)(n - 1));
        m->ann_vol = sd * sb;
        m->sharpe = sd > QA_BT_ROUNDOFF ? mean / sd * sb : NAN;
    } else {
        m->ann_vol = NAN;
        m->sharpe = NAN;
    }
    double dd = n > 0 ? sqrt(down / (double)n) : NAN;
    m->sortino = dd > QA_BT_ROUNDOFF ? mean / dd * sb : NAN;
    m->calmar = m->max_drawdown < -QA_BT_ROUNDOFF ? m->cagr / -m->max_drawdown : NAN;
}

/* One-pass accumulator (optimised CPU scalar paths and CUDA threads). */
typedef struct qa_bt_acc {
    qa_bt_path path;
    double sum, sumsq, down, turnover;
    int64_t n, held, wins, trades;
} qa_bt_acc;

QA_BT_FN void qa_bt_acc_init(qa_bt_acc *a) {
    qa_bt_path_init(&a->path);
    a->sum = a->sumsq = a->down = a->turnover = 0.0;
    a->n = a->held = a->wins = a->trades = 0;
}

QA_BT_FN void qa_bt_acc_push(qa_bt_acc *a, double R, double delta, int held, int entry) {
    a->n++;
    a->sum = a->sum + R;
    double r2 = QA_BT_MUL(R, R);
    a->sumsq = a->sumsq + r2;
    if (R < 0.0) a->down = a->down + r2;
    a->turnover = a->turnover + delta;
    a->held += held;
    a->wins += held && R > 0.0;
    a->trades += entry;
    qa_bt_path_push(&a->path, R);
}

QA_BT_FN void qa_bt_acc_finalize(const qa_bt_acc *a, double bpy, qa_bt_metrics *m) {
    double m2 = a->n > 0 ? a->sumsq - QA_BT_MUL(a->sum, a->sum) / (double)a->n : 0.0;
    qa_bt_finalize(a->n, a->sum, m2, a->down, &a->path, a->held, a->wins, a->turnover, a->trades, bpy, m);
}

/* Metrics of a P&L series R[0..n) in bar order; NaN entries (bars without P&L) are
 * skipped. turn[j] is the bar's turnover, held[j] != 0 when a position was held over it.
 * Two-pass variance. */
QA_BT_FN void qa_bt_series_metrics(const double *R, const double *turn, const unsigned char *held, long n,
                                   int64_t trades, double bpy, qa_bt_metrics *m) {
    qa_bt_path path;
    qa_bt_path_init(&path);
    int64_t cnt = 0, nh = 0, wins = 0;
    double sum = 0.0, down = 0.0, tv = 0.0;
    for (long j = 0; j < n; j++) {
        double x = R[j];
        if (isnan(x)) continue;
        cnt++;
        sum = sum + x;
        if (x < 0.0) down = down + QA_BT_MUL(x, x);
        tv = tv + turn[j];
        if (held[j]) {
            nh++;
            wins += x > 0.0;
        }
        qa_bt_path_push(&path, x);
    }
    double mean = cnt > 0 ? sum / (double)cnt : 0.0, m2 = 0.0;
    for (long j = 0; j < n; j++) {
        if (isnan(R[j])) continue;
        double d = R[j] - mean;
        m2 = m2 + QA_BT_MUL(d, d);
    }
    qa_bt_finalize(cnt, sum, m2, down, &path, nh, wins, tv, trades, bpy, m);
}

#endif
