/* Backtest sweep kernels: a hand-computed 6-bar example, the reference against an
 * independent straightforward computation, reference vs the optimised CPU engine on
 * fresh random panels (NaN gaps, late listings) for every strategy and option,
 * portfolio and cross-sectional modes, traces, malformed inputs; and in gpu mode CUDA
 * vs the reference.
 *
 * Error budgets (docs/backtest.md, "Engines and tolerances"):
 *  - engines evaluate every indicator with the same operations in the same order, so
 *    positions, trades and all counts must be identical (exact);
 *  - sums and the equity path are accumulated in the same order: total return, CAGR,
 *    drawdown, Calmar, Sortino, turnover, hit rate, exposure agree to RTOL_SAME = 1e-12
 *    (they are equal bit for bit today; the budget allows a future reordering of a
 *    5,000-term sum, n*eps ~ 1e-12);
 *  - ann_vol and Sharpe use a one-pass variance (sumsq - sum^2/n) in the optimised and
 *    CUDA engines and a two-pass one in the reference: relative error <= ~2 n eps
 *    (1 + mean^2/var); for n <= 5,000 and mean^2/var <= 1 that is 2.2e-12, budget
 *    RTOL_VAR = 1e-10 (45x margin, still far below any meaningful difference);
 *  - CUDA's pow differs from glibc's by <= 2 ulp: CAGR and Calmar get RTOL_POW = 1e-13
 *    in gpu mode;
 *  - the optimised engine's segment path (phase S: fixed size, proportional costs, no
 *    stops) adds the P&L sums segment by segment from prefix sums and multiplies the
 *    equity chunk by chunk: the counts, turnover, trades and drawdown duration stay
 *    exact; the equity E = 1 + total return, its lowest ratio to the peak (1 + max
 *    drawdown) and the sums differ by rounding only. Both engines round the equity
 *    product ~n times, phase S ~3 more per change of position, so |dE| <= (2n + 3
 *    trades) eps E ~ 2.3e-12 E for n = 5,000: budget RTOL_SEG = 1e-11 on E and on
 *    1 + max drawdown, and on CAGR through its exponent (|dCAGR| <= RTOL_SEG (1 + CAGR)
 *    max(1, bars_per_year / n)); Sharpe and Sortino are mean/deviation, and a mean near
 *    0 makes any relative budget meaningless: |d| <= RTOL_VAR (1 + |value|). Calmar is
 *    checked to be the finalizer's ratio of the CAGR and drawdown checked above. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/cpu.h" /* qa_simd_cap: the SIMD bodies against each other */
#include "common/mem.h" /* QA_FREE_ALL */
#include "common/philox.h"
#include "kernel_test.h"
#include "kernels/backtest_impl.h" /* engines called directly */

#define RTOL_SAME 1e-12
#define RTOL_VAR 1e-10
#define RTOL_POW 1e-13
#define RTOL_SEG 1e-11
#define ATOL 1e-15 /* values that are 0 in one engine and rounding noise in another */

static uint64_t g_seed;

/* ---- random panels ----------------------------------------------------------------------- */

typedef struct panel {
    size_t S, T;
    double *close, *high, *low, *volume, *signal;
} panel;

static void panel_free(panel *p) {
    QA_FREE_ALL(p->close, p->high, p->low, p->volume, p->signal);
    memset(p, 0, sizeof *p);
}

/* Geometric random walks (daily vol 2%) with late listings (up to T/5 leading NaNs),
 * 3% NaN gaps, a -70% crash and a +160% squeeze in symbol 2, one all-NaN symbol when S > 3, a symbol with a single bar when S > 4,
 * flat stretches (std == 0 windows) in symbol 1, volume with NaNs and zeros, a signal
 * panel with its own NaNs. Streams of the seed: 1..9. */
static panel make_panel(size_t S, size_t T, uint64_t seed) {
    panel p = {S, T, NULL, NULL, NULL, NULL, NULL};
    size_t n = S * T + 1;
    p.close = malloc(n * sizeof(double));
    p.high = malloc(n * sizeof(double));
    p.low = malloc(n * sizeof(double));
    p.volume = malloc(n * sizeof(double));
    p.signal = malloc(n * sizeof(double));
    for (size_t s = 0; s < S; s++) {
        const size_t fifth = T / 5; /* whole bars */
        size_t start = (size_t)(qa_rng_uniform(seed, 1, s) * (double)fifth);
        double c = 20.0 + 80.0 * qa_rng_uniform(seed, 2, s);
        for (size_t t = 0; t < T; t++) {
            size_t i = s * T + t;
            double z = qa_rng_normal(seed, 3, i);
            if (!(s == 1 && t % 97 < 12)) c *= exp(0.02 * z - 0.0002); /* symbol 1 has flat stretches */
            if (s == 2 && t == T / 2) c *= 0.3;      /* a crash and a squeeze: leveraged runs are ruined */
            if (s == 2 && t == 2 * T / 3) c *= 2.6;
            int gap = t < start || qa_rng_uniform(seed, 4, i) < 0.03;
            if (S > 3 && s == 3) gap = 1;                  /* never listed */
            if (S > 4 && s == 4) gap = t != T / 2;         /* a single bar */
            p.close[i] = gap ? NAN : c;
            double u = fabs(qa_rng_normal(seed, 5, i)) * 0.01 * c, v = fabs(qa_rng_normal(seed, 6, i)) * 0.01 * c;
            p.high[i] = gap ? NAN : c + u;
            p.low[i] = gap ? NAN : c - v;
            double vu = qa_rng_uniform(seed, 7, i);
            p.volume[i] = vu < 0.01 ? NAN : vu < 0.02 ? 0.0 : 1e5 * (0.5 + qa_rng_uniform(seed, 8, i));
            double g = qa_rng_normal(seed, 9, i);
            p.signal[i] = (g > 2.5) ? NAN : g;
        }
    }
    return p;
}

static qa_bt_data panel_data(const panel *p, size_t t_begin, size_t t_end) {
    qa_bt_data d = {p->close, p->high, p->low, p->volume, p->signal, p->S, p->T, t_begin, t_end};
    return d;
}

/* ---- grids ----------------------------------------------------------------------------------- */

/* A grid of `n` parameter sets for a strategy, windows kept short enough for the data. */
static qa_bt_params *make_grid(qa_bt_strategy s, size_t n, uint64_t seed) {
    qa_bt_params *g = calloc(n + 1, sizeof *g);
    for (size_t i = 0; i < n; i++) {
        double u1 = qa_rng_uniform(seed, 20, i), u2 = qa_rng_uniform(seed, 21, i), u3 = qa_rng_uniform(seed, 22, i);
        double *p = g[i].p;
        switch (s) {
        case QA_BT_SMA_CROSS:
        case QA_BT_EMA_CROSS:
            p[0] = 1 + floor(u1 * 20);
            p[1] = p[0] + 1 + floor(u2 * 60);
            break;
        case QA_BT_ZSCORE:
            p[0] = 2 + floor(u1 * 40);
            p[1] = 0.5 + 2.0 * u2;
            p[2] = p[1] * u3;
            if (i % 5 == 0) p[2] = 0.0;
            break;
        case QA_BT_BOLLINGER:
            p[0] = 2 + floor(u1 * 40);
            p[1] = 0.25 + 2.5 * u2;
            break;
        case QA_BT_DONCHIAN:
            p[0] = 1 + floor(u1 * 50);
            p[1] = (i % 4 == 0) ? 0 : 1 + floor(u2 * 30);
            break;
        case QA_BT_RSI:
            p[0] = 1 + floor(u1 * 25);
            p[1] = 10 + 40 * u2;
            p[2] = 50 + 40 * u3;
            if (i % 6 == 0) p[1] = 50.0, p[2] = 50.0 + 1e-9 + 10 * u3;
            break;
        case QA_BT_SIGNAL:
            p[0] = -1.5 * u1;
            p[1] = 1.5 * u2;
            if (i % 7 == 0) p[0] = p[1] = 0.1;
            break;
        default:
            break;
        }
    }
    return g;
}

/* ---- comparisons ----------------------------------------------------------------------------- */

static int near(double g, double r, double rtol) {
    if (isnan(g) || isnan(r)) return isnan(g) && isnan(r);
    if (isinf(g) || isinf(r)) return g == r;
    return fabs(g - r) <= ATOL + rtol * fabs(r);
}

/* Compares n metric structs; `pow_tol` widens CAGR/Calmar (gpu). Prints the first
 * mismatch with its index and returns the number of mismatching structs. */
static size_t compare_metrics(const char *what, const qa_bt_metrics *got, const qa_bt_metrics *ref, size_t n,
                              double pow_tol) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        const qa_bt_metrics *a = &got[i], *b = &ref[i];
        double rp = pow_tol > RTOL_SAME ? pow_tol : RTOL_SAME;
        int ok = a->bars == b->bars && a->trades == b->trades && a->max_dd_duration == b->max_dd_duration &&
                 near(a->total_return, b->total_return, RTOL_SAME) && near(a->cagr, b->cagr, rp) &&
                 near(a->ann_vol, b->ann_vol, RTOL_VAR) && near(a->sharpe, b->sharpe, RTOL_VAR) &&
                 near(a->sortino, b->sortino, RTOL_SAME) && near(a->max_drawdown, b->max_drawdown, RTOL_SAME) &&
                 near(a->calmar, b->calmar, rp) && near(a->hit_rate, b->hit_rate, RTOL_SAME) &&
                 near(a->turnover, b->turnover, RTOL_SAME) && near(a->exposure, b->exposure, RTOL_SAME);
        if (!ok && bad++ == 0) {
            printf("  %s: run %zu differs\n", what, i);
            printf("    got: bars %lld trades %lld dddur %lld tr %.17g cagr %.17g vol %.17g sh %.17g so %.17g mdd %.17g "
                   "cal %.17g hit %.17g turn %.17g exp %.17g\n",
                   (long long)a->bars, (long long)a->trades, (long long)a->max_dd_duration, a->total_return, a->cagr,
                   a->ann_vol, a->sharpe, a->sortino, a->max_drawdown, a->calmar, a->hit_rate, a->turnover,
                   a->exposure);
            printf("    ref: bars %lld trades %lld dddur %lld tr %.17g cagr %.17g vol %.17g sh %.17g so %.17g mdd %.17g "
                   "cal %.17g hit %.17g turn %.17g exp %.17g\n",
                   (long long)b->bars, (long long)b->trades, (long long)b->max_dd_duration, b->total_return, b->cagr,
                   b->ann_vol, b->sharpe, b->sortino, b->max_drawdown, b->calmar, b->hit_rate, b->turnover,
                   b->exposure);
        }
    }
    QA_CHECK_MSG(bad == 0, "%s: %zu of %zu runs differ (seed %llu)", what, bad, n, (unsigned long long)g_seed);
    return bad;
}

/* The segment path's budget (see the top of the file); returns the worst ratio of an
 * error to its budget, and counts the runs over budget in *bad. QA_TEST_SEG_DEBUG=1
 * prints each new worst case with its five ratios (total return, drawdown, CAGR,
 * Sharpe, Sortino): which metric sets the margin. */
static double compare_segment(const char *what, const qa_bt_metrics *got, const qa_bt_metrics *ref, size_t n,
                              double bpy, size_t *bad) {
    double worst = 0.0;
    size_t nbad = 0;
    for (size_t i = 0; i < n; i++) {
        const qa_bt_metrics *a = &got[i], *b = &ref[i];
        double r[5] = {0, 0, 0, 0, 0};
        const double amp = b->bars > 0 && bpy > (double)b->bars ? bpy / (double)b->bars : 1.0;
        r[0] = fabs(a->total_return - b->total_return) / (RTOL_SEG * (1.0 + fabs(b->total_return)) + ATOL);
        r[1] = fabs(a->max_drawdown - b->max_drawdown) / (RTOL_SEG * (1.0 + b->max_drawdown) + ATOL);
        if (!isnan(b->cagr)) r[2] = fabs(a->cagr - b->cagr) / (RTOL_SEG * amp * (1.0 + fabs(b->cagr)) + ATOL);
        if (!isnan(b->sharpe)) r[3] = fabs(a->sharpe - b->sharpe) / (RTOL_VAR * (1.0 + fabs(b->sharpe)));
        if (!isnan(b->sortino)) r[4] = fabs(a->sortino - b->sortino) / (RTOL_VAR * (1.0 + fabs(b->sortino)));
        double w = 0.0;
        for (int k = 0; k < 5; k++) w = r[k] > w ? r[k] : w;
        if (w > worst) {
            worst = w;
            if (getenv("QA_TEST_SEG_DEBUG"))
                printf("  worst so far %s run %zu: ratios %.3g %.3g %.3g %.3g %.3g bars %lld cagr %.17g/%.17g sh %.17g/%.17g\n",
                       what, i, r[0], r[1], r[2], r[3], r[4], (long long)b->bars, a->cagr, b->cagr, a->sharpe, b->sharpe);
        }
        const double calmar = a->max_drawdown < -1e-12 ? a->cagr / -a->max_drawdown : NAN;
        int ok = !(w > 1.0) && a->bars == b->bars && a->trades == b->trades &&
                 a->max_dd_duration == b->max_dd_duration && isnan(a->cagr) == isnan(b->cagr) &&
                 isnan(a->sharpe) == isnan(b->sharpe) && isnan(a->sortino) == isnan(b->sortino) &&
                 near(a->ann_vol, b->ann_vol, RTOL_VAR) && near(a->hit_rate, b->hit_rate, RTOL_SAME) &&
                 near(a->turnover, b->turnover, RTOL_SAME) && near(a->exposure, b->exposure, RTOL_SAME) &&
                 (isnan(calmar) ? isnan(a->calmar) : a->calmar == calmar);
        if (!ok && nbad++ == 0)
            printf("  %s: run %zu over the segment budget (worst ratio %.3g)\n"
                   "    got: trades %lld dddur %lld tr %.17g cagr %.17g sh %.17g so %.17g mdd %.17g cal %.17g\n"
                   "    ref: trades %lld dddur %lld tr %.17g cagr %.17g sh %.17g so %.17g mdd %.17g cal %.17g\n",
                   what, i, w, (long long)a->trades, (long long)a->max_dd_duration, a->total_return, a->cagr, a->sharpe,
                   a->sortino, a->max_drawdown, a->calmar, (long long)b->trades, (long long)b->max_dd_duration,
                   b->total_return, b->cagr, b->sharpe, b->sortino, b->max_drawdown, b->calmar);
    }
    QA_CHECK_MSG(nbad == 0, "%s: %zu of %zu runs over the segment budget (seed %llu)", what, nbad, n,
                 (unsigned long long)g_seed);
    *bad += nbad;
    return worst;
}

/* ---- a hand-computed example ---------------------------------------------------------------- */

/* SMA cross fast 1 / slow 2, long-only, fraction 1, commission 6 bps + half spread
 * 4 bps (cost 0.001 per unit traded), 7 bars with a gap at bar 3:
 *
 *   bar t      0     1     2     3     4     5     6
 *   close    100   104   106   NaN   103   101   102
 *
 * Observations i = 0..5 are bars 0,1,2,4,5,6; i = 0 is the base bar (equity 1, flat).
 *   SMA(2) at i=1..5: 102, 105, 104.5, 102, 101.5; SMA(1) = close.
 *   close vs SMA(2): 104>102 +1, 106>105 +1, 103<104.5 -1, 101<102 -1, 102>101.5 +1
 *   long-only:  pos(1..5) = 1, 1, 0, 0, 1
 *   returns r(i) = c(i)/c(i-1) - 1: 0.04, 2/104 = 1/52, -3/106 (bar 4 vs bar 2: the
 *   gap is skipped), -2/103, 1/101
 *   R(i) = pos(i-1) r(i) - 0.001 |pos(i) - pos(i-1)|:
 *     R1 = 0*0.04 - 0.001*1        = -0.001
 *     R2 = 1*(1/52) - 0            =  0.019230769230769232
 *     R3 = 1*(-3/106) - 0.001*1    = -0.029301886792452830
 *     R4 = 0*(-2/103) - 0          =  0
 *     R5 = 0*(1/101) - 0.001*1     = -0.001
 *   E = 0.999, 0.999*53/52 = 1.0182115384615384, *0.97069811320754717 =
 *       0.98837601923076920, same, *0.999 = 0.98738764321153846
 *   total return E5 - 1 = -0.012612356788461539
 *   running peak 1, 1, 1.01821.., same...: below the peak at i = 1 (0.999 < 1), then a
 *   new peak at i = 2, below it at i = 3, 4, 5: longest run 3 bars; max drawdown
 *   E5/E2 - 1 = 0.97069811320754717*0.999 - 1 = -0.030272584905660378
 *   entries at i = 1 and 5: trades 2; held over bars 2 and 3 (pos(i-1) != 0): exposure
 *   2/5, of which R > 0 once: hit rate 0.5; turnover 1 + 0 + 1 + 0 + 1 = 3
 *   mean R = -0.00241422351233672, std (ddof 1) = 0.017329748115359502
 *   Sharpe = mean/std*sqrt(252) = -2.2114926242834194
 *   downside deviation sqrt((0.001^2 + 0.0293..^2 + 0.001^2)/5) = 0.013119455549661515,
 *   Sortino = mean/dd*sqrt(252) = -2.9212043131466543
 *   CAGR = E5^(252/5) - 1 = -0.4725522192686362, Calmar = CAGR/0.0302.. = -15.6099064794522
 * Trace on bars 0..6: equity 1, E1, E2, E2 (gap: carried), E3, E4, E5; position 0, 1,
 * 1, 1, 0, 0, 1; R NaN, R1, R2, NaN, R3, R4, R5. */
static void test_hand_example(void) {
    double close[7] = {100, 104, 106, NAN, 103, 101, 102};
    qa_bt_params prm = {{1, 2}};
    qa_bt_grid g = {QA_BT_SMA_CROSS, &prm, 1};
    qa_bt_data d = {close, NULL, NULL, NULL, NULL, 1, 7, 0, 7};
    qa_bt_rules set;
    set = qa_test_bt_rules();
    set.direction = QA_BT_LONG_ONLY;
    set.commission_bps = 6.0;
    set.half_spread_bps = 4.0;
    const double R[5] = {-0.001, 1.0 / 52.0, -3.0 / 106.0 - 0.001, 0.0, -0.001};
    const double E1 = 0.999, E2 = E1 * (1.0 + R[1]), E3 = E2 * (1.0 + R[2]), E5 = E3 * (1.0 + R[4]);
    qa_bt_metrics ref, opt;
    double eq[7], pos[7], ret[7];
    qa_bt_trace tr = {0, 0, eq, pos, ret};
    qa_backend_t *cpu = NULL;
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &cpu));
    qa_backend_set_reference(cpu, 1);
    QA_CHECK_OK(qa_bt_run(cpu, &d, &g, &set, &ref, &tr, 1));
    qa_backend_set_reference(cpu, 0);
    QA_CHECK_OK(qa_bt_run(cpu, &d, &g, &set, &opt, NULL, 0));
    const qa_bt_metrics *ms[2] = {&ref, &opt};
    for (int e = 0; e < 2; e++) {
        const qa_bt_metrics *m = ms[e];
        QA_CHECK_INT(m->bars, 5);
        QA_CHECK_INT(m->trades, 2);
        QA_CHECK_INT(m->max_dd_duration, 3);
        QA_CHECK_NEAR(m->total_return, -0.012612356788461539, 0, 1e-13);
        QA_CHECK_NEAR(m->total_return, E5 - 1.0, 0, 1e-13);
        QA_CHECK_NEAR(m->max_drawdown, -0.030272584905660378, 0, 1e-13);
        QA_CHECK_NEAR(m->max_drawdown, E5 / E2 - 1.0, 0, 1e-13);
        QA_CHECK_NEAR(m->exposure, 0.4, 0, 1e-15);
        QA_CHECK_NEAR(m->hit_rate, 0.5, 0, 1e-15);
        QA_CHECK_NEAR(m->turnover, 3.0, 0, 1e-15);
        QA_CHECK_NEAR(m->sharpe, -2.2114926242834194, 0, 1e-12);
        QA_CHECK_NEAR(m->ann_vol, 0.017329748115359502 * sqrt(252.0), 0, 1e-12);
        QA_CHECK_NEAR(m->sortino, -2.9212043131466543, 0, 1e-12);
        QA_CHECK_NEAR(m->cagr, -0.4725522192686362, 0, 1e-12);
        QA_CHECK_NEAR(m->calmar, -15.609906479452247, 0, 1e-12);
    }
    const double eq_ref[7] = {1.0, E1, E2, E2, E3, E3, E5};
    const double pos_ref[7] = {0, 1, 1, 1, 0, 0, 1};
    const double ret_ref[7] = {NAN, R[0], R[1], NAN, R[2], R[3], R[4]};
    qa_test_near_arrays("trace equity", eq, eq_ref, 7, 0, 1e-14);
    qa_test_near_arrays("trace position", pos, pos_ref, 7, 0, 0);
    qa_test_near_arrays("trace R", ret, ret_ref, 7, 1e-17, 1e-14);
    /* the same with the range starting at bar 2: bar 2 is the base, only bars 4..6 trade
     * (SMA(2) at bar 4 uses bar 2 from before the range: warm-up) */
    d.t_begin = 2;
    QA_CHECK_OK(qa_bt_run(cpu, &d, &g, &set, &opt, NULL, 0));
    /* i=3: -1 -> flat; i=4: flat; i=5: +1 entry: R = 0, 0, -0.001 */
    QA_CHECK_INT(opt.bars, 3);
    QA_CHECK_INT(opt.trades, 1);
    QA_CHECK_NEAR(opt.total_return, -0.001, 0, 1e-15);
    qa_backend_free(cpu);
}

/* ---- an independent straightforward implementation ------------------------------------------ */

/* Written from docs/backtest.md without the library's helpers: windows summed oldest
 * first, two-pass std, plain state machines. Different rounding from the engines, so
 * metrics are compared to 1e-9 relative (decisions flip only on exact near-ties, which
 * continuous random data do not produce). */
typedef struct ind_case {
    const char *name;
    qa_bt_strategy s;
    double p[3];
    size_t t_begin;
    qa_bt_rules set;
} ind_case;

static double ind_mean(const double *x, long i, long w) {
    double s = 0;
    for (long u = i - w + 1; u <= i; u++) s += x[u];
    return s / (double)w;
}
static double ind_std(const double *x, long i, long w) {
    double m = ind_mean(x, i, w), s = 0;
    for (long u = i - w + 1; u <= i; u++) s += (x[u] - m) * (x[u] - m);
    return sqrt(s / (double)(w - 1));
}

static void ind_run(const panel *pn, size_t sym, const ind_case *ic, size_t t_end, qa_bt_metrics *m) {
    const size_t T = pn->T;
    const qa_bt_rules *st = &ic->set;
    const int hl = ic->s == QA_BT_DONCHIAN, vol = st->impact_coef > 0, sig = ic->s == QA_BT_SIGNAL;
    double *c = malloc(T * sizeof(double) * 8);
    double *h = c + T, *l = c + 2 * T, *v = c + 3 * T, *g = c + 4 * T, *r = c + 5 * T, *ind1 = c + 6 * T,
           *ind2 = c + 7 * T;
    long n = 0, base = -1;
    for (size_t t = 0; t < t_end; t++) {
        size_t k = sym * T + t;
        if (isnan(pn->close[k]) || (hl && (isnan(pn->high[k]) || isnan(pn->low[k]))) ||
            (vol && !(pn->volume[k] > 0)) || (sig && isnan(pn->signal[k])))
            continue;
        if (base < 0 && t >= ic->t_begin) base = n;
        c[n] = pn->close[k];
        h[n] = pn->high[k];
        l[n] = pn->low[k];
        v[n] = pn->volume[k];
        g[n] = pn->signal[k];
        r[n] = n ? c[n] / c[n - 1] - 1 : NAN;
        n++;
    }
    if (base < 0) base = n;
    const long w0 = (long)ic->p[0], w1 = (long)ic->p[1];
    /* recurrences over all observations */
    if (ic->s == QA_BT_EMA_CROSS) {
        long sp[2] = {w0, w1};
        double *o[2] = {ind1, ind2};
        for (int q = 0; q < 2; q++) {
            double a = 2.0 / (sp[q] + 1.0);
            for (long i = 0; i < n; i++)
                o[q][i] = i < sp[q] - 1 ? NAN : i == sp[q] - 1 ? ind_mean(c, i, sp[q]) : a * c[i] + (1 - a) * o[q][i - 1];
        }
    }
    if (ic->s == QA_BT_RSI) {
        double ag = 0, al = 0;
        for (long i = 0; i < n; i++) {
            ind1[i] = NAN;
            if (i < w0) continue;
            if (i == w0) {
                ag = al = 0;
                for (long u = 1; u <= w0; u++) {
                    double d = c[u] - c[u - 1];
                    ag += d > 0 ? d : 0;
                    al += d < 0 ? -d : 0;
                }
                ag /= w0;
                al /= w0;
            } else {
                double d = c[i] - c[i - 1];
                ag = (ag * (w0 - 1) + (d > 0 ? d : 0)) / w0;
                al = (al * (w0 - 1) + (d < 0 ? -d : 0)) / w0;
            }
            ind1[i] = al == 0 ? (ag > 0 ? 100 : 50) : 100 - 100 / (1 + ag / al);
        }
    }
    int state = 0, q = 0, latch = 0;
    double pos = 0, entry_px = 0, E = 1, peak = 1, mdd = 0, sum = 0, tv = 0;
    long bars = 0, held = 0, wins = 0, trades = 0, run = 0, longest = 0;
    double *R = malloc((size_t)(n + 1) * sizeof(double));
    for (long i = base + 1; i < n; i++) {
        /* 1. raw state */
        int d = 0;
        switch (ic->s) {
        case QA_BT_SMA_CROSS:
        case QA_BT_EMA_CROSS: {
            double f = ic->s == QA_BT_SMA_CROSS ? (i >= w0 - 1 ? ind_mean(c, i, w0) : NAN) : ind1[i];
            double sl = ic->s == QA_BT_SMA_CROSS ? (i >= w1 - 1 ? ind_mean(c, i, w1) : NAN) : ind2[i];
            d = f > sl ? 1 : f < sl ? -1 : 0;
            break;
        }
        case QA_BT_ZSCORE: {
            double sd = i >= w0 - 1 ? ind_std(c, i, w0) : NAN;
            if (!(sd > 0)) break;
            double z = (c[i] - ind_mean(c, i, w0)) / sd;
            d = z > ic->p[1] ? -1 : z < -ic->p[1] ? 1 : (state < 0 && z < ic->p[2]) || (state > 0 && z > -ic->p[2]) ? 0 : state;
            break;
        }
        case QA_BT_BOLLINGER: {
            double sd = i >= w0 - 1 ? ind_std(c, i, w0) : NAN;
            if (!(sd > 0)) break;
            double mid = ind_mean(c, i, w0);
            d = c[i] > mid + ic->p[1] * sd ? 1 : c[i] < mid - ic->p[1] * sd ? -1
                : (state > 0 && c[i] <= mid) || (state < 0 && c[i] >= mid) ? 0 : state;
            break;
        }
        case QA_BT_DONCHIAN: {
            if (i < w0 || i < w1) break;
            double up = -INFINITY, dn = INFINITY, xup = INFINITY, xdn = -INFINITY;
            for (long u = i - w0; u < i; u++) up = fmax(up, h[u]), dn = fmin(dn, l[u]);
            if (w1 > 0) {
                xup = -INFINITY, xdn = INFINITY;
                for (long u = i - w1; u < i; u++) xup = fmax(xup, h[u]), xdn = fmin(xdn, l[u]);
            }
            d = c[i] > up ? 1 : c[i] < dn ? -1 : (state > 0 && c[i] < xdn) || (state < 0 && c[i] > xup) ? 0 : state;
            break;
        }
        case QA_BT_RSI: {
            double x = ind1[i];
            if (isnan(x)) break;
            d = x < ic->p[1] ? 1 : x > ic->p[2] ? -1 : (state > 0 && x >= 50) || (state < 0 && x <= 50) ? 0 : state;
            break;
        }
        case QA_BT_SIGNAL:
            d = g[i] > ic->p[1] ? 1 : g[i] < ic->p[0] ? -1 : 0;
            break;
        default:
            break;
        }
        state = d;
        int want = d;
        if (st->direction == QA_BT_LONG_ONLY && want < 0) want = 0;
        if (st->direction == QA_BT_SHORT_ONLY && want > 0) want = 0;
        /* 2. sizing / impact windows */
        double size = st->fraction, kappa = 0;
        int ok = 1;
        if (st->sizing == QA_BT_SIZE_VOL_TARGET) {
            if (i < st->vol_window) ok = 0, size = 0;
            else {
                size = st->target_vol / (ind_std(r, i, st->vol_window) * sqrt(st->bars_per_year));
                if (size > st->max_leverage) size = st->max_leverage;
            }
        }
        if (vol) {
            if (i < st->adv_window - 1 || i < st->impact_vol_window) ok = 0;
            else kappa = st->impact_coef * ind_std(r, i, st->impact_vol_window) *
                         sqrt(st->capital / (c[i] * ind_mean(v, i, st->adv_window)));
        }
        if (!ok) want = 0;
        /* 3. ruin: a run whose equity hit 0 stays flat */
        if (E <= 0) {
            q = 0, pos = 0, latch = 0;
            R[bars++] = 0;
            if (E < peak) run++;
            if (run > longest) longest = run;
            continue;
        }
        /* 4. stops on the close (levels fixed at entry), then the latch */
        int newq;
        int stopped = 0;
        if (q > 0)
            stopped = (st->stop_loss > 0 && c[i] <= entry_px * (1 - st->stop_loss)) ||
                      (st->take_profit > 0 && c[i] >= entry_px * (1 + st->take_profit));
        if (q < 0)
            stopped = (st->stop_loss > 0 && c[i] >= entry_px * (1 + st->stop_loss)) ||
                      (st->take_profit > 0 && c[i] <= entry_px * (1 - st->take_profit));
        int prevq = q;
        if (stopped) {
            newq = 0;
            latch = q;
        } else if (latch) {
            if (want != latch) latch = 0, newq = want;
            else newq = 0;
        } else {
            newq = want;
        }
        if (newq != 0 && newq != prevq) entry_px = c[i], trades++;
        double npos = newq * size, dl = fabs(npos - pos);
        double Ri = pos * r[i] - (st->commission_bps + st->half_spread_bps) * 1e-4 * dl;
        if (dl != 0 && st->fixed_cost > 0) Ri -= st->fixed_cost / (st->capital * E);
        if (dl != 0 && vol) Ri -= dl * kappa * sqrt(dl * E);
        if (prevq != 0) held++, wins += Ri > 0;
        q = newq;
        pos = npos;
        R[bars++] = Ri;
        sum += Ri;
        tv += dl;
        E *= 1 + Ri;
        if (E <= 0) E = 0;
        if (E > peak) peak = E;
        if (E < peak) run++;
        else run = 0;
        if (run > longest) longest = run;
        if (E / peak - 1 < mdd) mdd = E / peak - 1;
    }
    double mean = bars ? sum / bars : NAN, ss = 0, dn = 0;
    for (long j = 0; j < bars; j++) {
        ss += (R[j] - mean) * (R[j] - mean);
        if (R[j] < 0) dn += R[j] * R[j];
    }
    double sd = bars > 1 ? sqrt(ss / (bars - 1)) : NAN, sb = sqrt(st->bars_per_year);
    m->bars = bars;
    m->trades = trades;
    m->max_dd_duration = longest;
    m->total_return = E - 1;
    m->cagr = bars ? (E > 0 ? pow(E, st->bars_per_year / bars) - 1 : -1) : NAN;
    m->ann_vol = sd * sb;
    m->sharpe = sd > 1e-12 ? mean / sd * sb : NAN;
    m->sortino = sqrt(dn / bars) > 1e-12 ? mean / sqrt(dn / bars) * sb : NAN; /* docs/backtest.md: round-off is no risk */
    m->max_drawdown = mdd;
    m->calmar = mdd < -1e-12 ? m->cagr / -mdd : NAN;
    m->hit_rate = held ? (double)wins / held : NAN;
    m->turnover = tv;
    m->exposure = bars ? (double)held / bars : NAN;
    free(R);
    free(c);
}

static int ind_close(double a, double b) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return fabs(a - b) <= 1e-12 + 1e-9 * fabs(b);
}

static void test_independent(void) {
    const size_t S = 6, T = 700;
    panel pn = make_panel(S, T, g_seed + 101);
    ind_case cs[8];
    memset(cs, 0, sizeof cs);
    for (int i = 0; i < 8; i++) {
        cs[i].set = qa_test_bt_rules();
        cs[i].set.commission_bps = 1.0;
        cs[i].set.half_spread_bps = 2.0;
    }
    cs[0] = (ind_case){"sma 5/20 long-short", QA_BT_SMA_CROSS, {5, 20}, 100, cs[0].set};
    cs[1] = (ind_case){"ema 3/12 long-only vol target", QA_BT_EMA_CROSS, {3, 12}, 0, cs[1].set};
    cs[1].set.direction = QA_BT_LONG_ONLY;
    cs[1].set.sizing = QA_BT_SIZE_VOL_TARGET;
    cs[1].set.vol_window = 10;
    cs[2] = (ind_case){"zscore 20/1.5/0.3 stops", QA_BT_ZSCORE, {20, 1.5, 0.3}, 50, cs[2].set};
    cs[2].set.stop_loss = 0.03;
    cs[2].set.take_profit = 0.05;
    cs[3] = (ind_case){"bollinger 15/1 short-only fixed+impact", QA_BT_BOLLINGER, {15, 1.0}, 0, cs[3].set};
    cs[3].set.direction = QA_BT_SHORT_ONLY;
    cs[3].set.fixed_cost = 3.0;
    cs[3].set.capital = 2e5;
    cs[3].set.impact_coef = 0.5;
    cs[3].set.adv_window = 5;
    cs[3].set.impact_vol_window = 8;
    cs[4] = (ind_case){"donchian 20/10", QA_BT_DONCHIAN, {20, 10}, 30, cs[4].set};
    cs[5] = (ind_case){"donchian 15/0 stops", QA_BT_DONCHIAN, {15, 0}, 0, cs[5].set};
    cs[5].set.stop_loss = 0.02;
    cs[6] = (ind_case){"rsi 14 30/70", QA_BT_RSI, {14, 30, 70}, 0, cs[6].set};
    cs[7] = (ind_case){"signal -0.5/0.5 leverage 1.5", QA_BT_SIGNAL, {-0.5, 0.5}, 10, cs[7].set};
    cs[7].set.fraction = 1.5;
    size_t checked = 0;
    for (int i = 0; i < 8; i++) {
        qa_bt_params prm;
        memset(&prm, 0, sizeof prm);
        memcpy(prm.p, cs[i].p, sizeof cs[i].p);
        qa_bt_grid g = {cs[i].s, &prm, 1};
        qa_bt_data d = panel_data(&pn, cs[i].t_begin, T - 5);
        qa_bt_metrics ref[8], ind;
        QA_CHECK_OK(qa_bt_run_reference(&d, &g, &cs[i].set, ref));
        for (size_t s = 0; s < S; s++) {
            ind_run(&pn, s, &cs[i], T - 5, &ind);
            const qa_bt_metrics *a = &ref[s];
            int ok = a->bars == ind.bars && a->trades == ind.trades && a->max_dd_duration == ind.max_dd_duration &&
                     ind_close(a->total_return, ind.total_return) && ind_close(a->cagr, ind.cagr) &&
                     ind_close(a->ann_vol, ind.ann_vol) && ind_close(a->sharpe, ind.sharpe) &&
                     ind_close(a->sortino, ind.sortino) && ind_close(a->max_drawdown, ind.max_drawdown) &&
                     ind_close(a->calmar, ind.calmar) && ind_close(a->hit_rate, ind.hit_rate) &&
                     ind_close(a->turnover, ind.turnover) && ind_close(a->exposure, ind.exposure);
            QA_CHECK_MSG(ok,
                         "%s symbol %zu: ref (bars %lld trades %lld dd %lld tr %.15g sh %.15g mdd %.15g) vs independent "
                         "(bars %lld trades %lld dd %lld tr %.15g sh %.15g mdd %.15g)",
                         cs[i].name, s, (long long)a->bars, (long long)a->trades, (long long)a->max_dd_duration,
                         a->total_return, a->sharpe, a->max_drawdown, (long long)ind.bars, (long long)ind.trades,
                         (long long)ind.max_dd_duration, ind.total_return, ind.sharpe, ind.max_drawdown);
            checked += ind.trades > 0;
        }
    }
    QA_CHECK_MSG(checked > 20, "only %zu of the independent cases traded at all", checked);
    panel_free(&pn);
}

/* ---- configurations exercised by the parity tests ------------------------------------------- */

typedef struct config {
    const char *name;
    qa_bt_strategy strategy;
    qa_bt_rules set;
} config;

/* Every strategy under every direction mode, plus stops, vol targeting, each cost term
 * alone and all together. */
static size_t make_configs(config *c) {
    size_t n = 0;
    static const char *const dir_names[] = {"ls", "long", "short"};
    for (int s = 0; s < QA_BT_STRATEGY_COUNT; s++)
        for (int d = 0; d < QA_BT_DIRECTION_COUNT; d++) {
            config *x = &c[n++];
            x->strategy = (qa_bt_strategy)s;
            x->set = qa_test_bt_rules();
            x->set.direction = (qa_bt_direction)d;
            x->set.commission_bps = 1.0;
            x->set.half_spread_bps = 2.0;
            x->name = dir_names[d];
        }
    struct {
        const char *name;
        qa_bt_strategy s;
    } extra[] = {{"stops", QA_BT_SMA_CROSS},      {"stops", QA_BT_ZSCORE},        {"stops", QA_BT_DONCHIAN},
                 {"sl_only", QA_BT_EMA_CROSS},    {"tp_only", QA_BT_RSI},          {"voltarget", QA_BT_SMA_CROSS},
                 {"voltarget", QA_BT_BOLLINGER}, {"fixedcost", QA_BT_EMA_CROSS},  {"impact", QA_BT_SMA_CROSS},
                 {"impact", QA_BT_SIGNAL},        {"everything", QA_BT_ZSCORE},    {"everything", QA_BT_DONCHIAN},
                 {"leverage", QA_BT_SMA_CROSS},   {"nocost", QA_BT_SMA_CROSS}};
    for (size_t e = 0; e < sizeof extra / sizeof extra[0]; e++) {
        config *x = &c[n++];
        x->name = extra[e].name;
        x->strategy = extra[e].s;
        qa_bt_rules *t = &x->set;
        *t = qa_test_bt_rules();
        t->commission_bps = 0.5;
        t->half_spread_bps = 1.5;
        const char *nm = extra[e].name;
        if (!strcmp(nm, "stops") || !strcmp(nm, "everything")) t->stop_loss = 0.04, t->take_profit = 0.06;
        if (!strcmp(nm, "sl_only")) t->stop_loss = 0.03;
        if (!strcmp(nm, "tp_only")) t->take_profit = 0.05;
        if (!strcmp(nm, "voltarget") || !strcmp(nm, "everything")) {
            t->sizing = QA_BT_SIZE_VOL_TARGET;
            t->target_vol = 0.2;
            t->vol_window = 15;
            t->max_leverage = 3.0;
        }
        if (!strcmp(nm, "fixedcost") || !strcmp(nm, "everything")) t->fixed_cost = 5.0, t->capital = 1e5;
        if (!strcmp(nm, "impact") || !strcmp(nm, "everything")) {
            t->impact_coef = 0.3;
            t->capital = 1e7;
            t->adv_window = 10;
            t->impact_vol_window = 12;
        }
        if (!strcmp(nm, "leverage")) t->fraction = 2.5; /* ruin is possible: exercises the fallback */
        if (!strcmp(nm, "nocost")) t->commission_bps = t->half_spread_bps = 0.0;
    }
    return n;
}

/* 1 when the optimised engine may take its segment path (phase S) for these rules. */
static int segment_rules(const qa_bt_rules *r) {
    return r->sizing == QA_BT_SIZE_FIXED && r->stop_loss == 0.0 && r->take_profit == 0.0 && r->fixed_cost == 0.0 &&
           r->impact_coef == 0.0;
}

/* Runs the optimised engine with `threads` threads, per-bar only when `bar`
 * (QA_BT_ENGINE=bar). */
static void run_cpu(const qa_bt_data *d, const qa_bt_grid *g, const qa_bt_rules *r, qa_bt_metrics *out, int threads,
                    int bar) {
    if (bar) setenv("QA_BT_ENGINE", "bar", 1);
    QA_CHECK_OK(qa_bt_run_cpu(d, g, r, out, threads));
    if (bar) unsetenv("QA_BT_ENGINE");
}

/* Reference vs optimised on a fresh panel for every configuration; ranges with and
 * without warm-up; 1 and 2 threads must agree bit for bit. The per-bar engine
 * (QA_BT_ENGINE=bar) is held to the same-order budgets everywhere; the default engine to
 * the segment budget where it may take the segment path, and elsewhere must equal the
 * per-bar engine bit for bit. The SIMD bodies of the segment path (AVX-512, AVX2,
 * portable: whichever this CPU has) must agree bit for bit. */
static void test_parity_cpu(void) {
    const size_t S = 7, T = 900, P = 23; /* P not a multiple of the SIMD width */
    panel pn = make_panel(S, T, g_seed);
    config cf[64];
    size_t nc = make_configs(cf);
    const size_t n = S * P;
    qa_bt_metrics *ref = malloc(n * sizeof *ref), *opt = malloc(n * sizeof *opt), *opt1 = malloc(n * sizeof *opt1),
                  *bar = malloc(n * sizeof *bar), *low = malloc(n * sizeof *low);
    size_t failures = 0, seg_bad = 0, seg_runs = 0, seg_cases = 0, seg_taken = 0;
    double seg_worst = 0.0;
    const qa_simd top = qa_simd_level();
    for (size_t c = 0; c < nc; c++) {
        qa_bt_params *params = make_grid(cf[c].strategy, P, g_seed + c);
        qa_bt_grid grid = {cf[c].strategy, params, P};
        size_t ranges[2][2] = {{0, T}, {T / 3, T - 17}};
        const int seg = segment_rules(&cf[c].set);
        for (int rg = 0; rg < 2; rg++) {
            qa_bt_data d = panel_data(&pn, ranges[rg][0], ranges[rg][1]);
            QA_CHECK_OK(qa_bt_validate(&d, &grid, &cf[c].set));
            QA_CHECK_OK(qa_bt_run_reference(&d, &grid, &cf[c].set, ref));
            run_cpu(&d, &grid, &cf[c].set, opt, 2, 0);
            run_cpu(&d, &grid, &cf[c].set, opt1, 1, 0);
            run_cpu(&d, &grid, &cf[c].set, bar, 2, 1);
            char what[96];
            snprintf(what, sizeof what, "%s/%s range %d", qa_bt_strategy_name(cf[c].strategy), cf[c].name, rg);
            failures += compare_metrics(what, bar, ref, n, 0) > 0;
            QA_CHECK_MSG(memcmp(opt, opt1, n * sizeof *opt) == 0, "%s: 1 and 2 threads differ", what);
            if (seg) {
                double w = compare_segment(what, opt, ref, n, cf[c].set.bars_per_year, &seg_bad);
                seg_worst = w > seg_worst ? w : seg_worst;
                seg_runs += n;
                seg_cases++;
                seg_taken += memcmp(opt, bar, n * sizeof *opt) != 0; /* rounding differs: the path ran */
                for (qa_simd lv = QA_SIMD_PORTABLE; lv < top; lv++) { /* the lower SIMD bodies */
                    qa_simd_cap(lv);
                    run_cpu(&d, &grid, &cf[c].set, low, 1, 0);
                    qa_simd_cap(top);
                    QA_CHECK_MSG(memcmp(opt, low, n * sizeof *opt) == 0, "%s: SIMD level %d differs from level %d",
                                 what, (int)lv, (int)top);
                }
            } else {
                QA_CHECK_MSG(memcmp(opt, bar, n * sizeof *opt) == 0, "%s: not the per-bar engine's result", what);
            }
        }
        free(params);
    }
    QA_CHECK_MSG(2 * seg_taken > seg_cases, "the segment path changed the last bits in only %zu of %zu cases",
                 seg_taken, seg_cases);
    printf("  %zu configurations x 2 ranges x %zu symbols x %zu sets, seed %llu: %zu failing; segment path: %zu runs, "
           "worst error %.3g of its budget, %zu over\n",
           nc, S, P, (unsigned long long)g_seed, failures, seg_runs, seg_worst, seg_bad);
    QA_FREE_ALL(ref, opt, opt1, bar, low);
    panel_free(&pn);
}

/* Portfolio mode: reference vs optimised (equal and inverse-vol weights, two ranges,
 * equity curves), and the equal-weight portfolio against a combination computed here
 * from per-symbol traces: R_p(t) = mean of R_s(t) over symbols with a P&L bar. */
static void test_portfolio(void) {
    const size_t S = 9, T = 600, P = 6;
    panel pn = make_panel(S, T, g_seed + 7);
    config cf[64];
    size_t nc = make_configs(cf);
    const size_t L0 = T - 11;
    qa_bt_metrics *ref = malloc(P * sizeof *ref), *opt = malloc(P * sizeof *opt);
    double *eref = malloc(P * T * sizeof(double)), *eopt = malloc(P * T * sizeof(double));
    for (size_t c = 0; c < nc; c += 3) { /* every strategy once, and every extra option */
        qa_bt_params *params = make_grid(cf[c].strategy, P, g_seed + 70 + c);
        qa_bt_grid grid = {cf[c].strategy, params, P};
        for (int w = 0; w < QA_BT_WEIGHTING_COUNT; w++) {
            qa_bt_portfolio_opts po = {(qa_bt_weighting)w, 12};
            size_t tb = w ? 40 : 0;
            qa_bt_data d = panel_data(&pn, tb, L0 + tb > T ? T : L0);
            size_t L = d.t_end - d.t_begin;
            QA_CHECK_OK(qa_bt_portfolio_reference(&d, &grid, &cf[c].set, &po, ref, eref));
            QA_CHECK_OK(qa_bt_portfolio_cpu(&d, &grid, &cf[c].set, &po, opt, eopt, 2));
            char what[96];
            snprintf(what, sizeof what, "portfolio %s/%s weighting %d", qa_bt_strategy_name(cf[c].strategy), cf[c].name, w);
            compare_metrics(what, opt, ref, P, 0);
            qa_test_near_arrays(what, eopt, eref, P * L, ATOL, RTOL_SAME);
        }
        free(params);
    }
    /* equal weights from traces, combined here */
    {
        qa_bt_params prm = {{4, 17}};
        qa_bt_grid g = {QA_BT_SMA_CROSS, &prm, 1};
        qa_bt_rules set;
        set = qa_test_bt_rules();
        set.commission_bps = 3.0;
        qa_bt_data d = panel_data(&pn, 50, T);
        const size_t L = d.t_end - d.t_begin;
        double *R = calloc(S * L, sizeof(double)), *eq = malloc(L * sizeof(double));
        qa_bt_trace *tr = calloc(S, sizeof *tr);
        qa_bt_metrics *ms = malloc(S * sizeof *ms), pm;
        for (size_t s = 0; s < S; s++) tr[s] = (qa_bt_trace){s, 0, NULL, NULL, R + s * L};
        qa_backend_t *cpu = NULL;
        QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &cpu));
        QA_CHECK_OK(qa_bt_run(cpu, &d, &g, &set, ms, tr, S));
        qa_bt_portfolio_opts po = {QA_BT_WEIGHT_EQUAL, 0};
        QA_CHECK_OK(qa_bt_portfolio(cpu, &d, &g, &set, &po, &pm, eq));
        double E = 1.0, *eq_here = malloc(L * sizeof(double));
        long bars = 0;
        for (size_t j = 0; j < L; j++) {
            double sum = 0;
            int n = 0;
            for (size_t s = 0; s < S; s++)
                if (!isnan(R[s * L + j])) sum += R[s * L + j], n++;
            if (n) E *= 1 + sum / n, bars++;
            eq_here[j] = E;
        }
        qa_test_near_arrays("equal-weight portfolio equity vs traces", eq, eq_here, L, 0, 1e-12);
        QA_CHECK_INT(pm.bars, bars);
        long trades = 0;
        for (size_t s = 0; s < S; s++) trades += ms[s].trades;
        QA_CHECK_INT(pm.trades, trades);
        QA_CHECK_NEAR(pm.total_return, E - 1, 1e-15, 1e-12);
        free(R);
        free(eq);
        free(eq_here);
        free(tr);
        free(ms);
        qa_backend_free(cpu);
    }
    free(ref);
    free(opt);
    free(eref);
    free(eopt);
    panel_free(&pn);
}

/* Cross-sectional top-k, by hand: 3 symbols, 4 bars, one name per leg, legs of 0.5,
 * cost 10 bps.
 *   close  s0: 10 11 12 12     signal s0: 1 3 1 5
 *          s1: 20 20 18 19.8          s1: 2 1 3 4
 *          s2:  5  5  6 NaN           s2: 3 2 NaN 1
 *   bar 0 is the base: weights 0.
 *   bar 1: ranks (1, 2, 3) -> s1 bottom (short -0.5), s0 top (long +0.5); no position
 *          held before: R1 = 0 - 0.001 * (0.5 + 0.5) = -0.001; entries 2
 *   bar 2: s2 has no signal (weight 0); s0 < s1 -> s0 short, s1 long;
 *          R2 = 0.5*(12/11 - 1) - 0.5*(18/20 - 1) - 0.001*(1 + 1) = 1/22 + 0.05 - 0.002;
 *          entries 2 (both flip)
 *   bar 3: s2 has no close: carried, no P&L; s1 (4) < s0 (5) -> s0 long, s1 short;
 *          R3 = -0.5*(12/12 - 1) + 0.5*(19.8/18 - 1) - 0.001*(1 + 1) = 0.05 - 0.002;
 *          entries 2
 *   trades 6, turnover 1 + 2 + 2 = 5, held over bars 2 and 3: exposure 2/3, hit 1. */
static void test_xs_hand(void) {
    double close[12] = {10, 11, 12, 12, 20, 20, 18, 19.8, 5, 5, 6, NAN};
    double sig[12] = {1, 3, 1, 5, 2, 1, 3, 4, 3, 2, NAN, 1};
    qa_bt_data d = {close, NULL, NULL, NULL, sig, 3, 4, 0, 4};
    qa_bt_xs_settings xs = {1, 1, 0.5, 0.5, 10.0, 252.0};
    qa_bt_metrics m[2];
    double eq[2][4];
    QA_CHECK_OK(qa_bt_xs_reference(&d, &xs, &m[0], eq[0]));
    QA_CHECK_OK(qa_bt_xs_cpu(&d, &xs, &m[1], eq[1], 2));
    const double R1 = -0.001, R2 = 1.0 / 22.0 + 0.05 - 0.002, R3 = 0.05 - 0.002;
    const double E[4] = {1.0, 1 + R1, (1 + R1) * (1 + R2), (1 + R1) * (1 + R2) * (1 + R3)};
    for (int e = 0; e < 2; e++) {
        QA_CHECK_INT(m[e].bars, 3);
        QA_CHECK_INT(m[e].trades, 6);
        QA_CHECK_NEAR(m[e].turnover, 5.0, 0, 1e-15);
        QA_CHECK_NEAR(m[e].exposure, 2.0 / 3.0, 0, 1e-15);
        QA_CHECK_NEAR(m[e].hit_rate, 1.0, 0, 0);
        QA_CHECK_NEAR(m[e].total_return, E[3] - 1, 0, 1e-14);
        QA_CHECK_NEAR(m[e].max_drawdown, R1, 0, 1e-14);
        qa_test_near_arrays("xs equity", eq[e], E, 4, 0, 1e-14);
    }
}

/* Cross-sectional: reference (ranks by counting) vs optimised (sorting) on random
 * panels, with ties in the signal (rounded to 1 decimal) and too-small universes. */
static void test_xs_parity(void) {
    const size_t S = 37, T = 400;
    panel pn = make_panel(S, T, g_seed + 11);
    for (size_t i = 0; i < S * T; i++)
        if (!isnan(pn.signal[i])) pn.signal[i] = round(pn.signal[i] * 10) / 10;
    const qa_bt_xs_settings cfgs[4] = {{5, 5, 0.5, 0.5, 3.0, 252}, {1, 0, 1.0, 0, 0, 252}, {0, 3, 0, 1.0, 10, 52},
                                       {20, 20, 0.6, 0.4, 1, 252}};
    qa_bt_metrics r, o;
    double *er = malloc(T * sizeof(double)), *eo = malloc(T * sizeof(double));
    for (int c = 0; c < 4; c++) {
        qa_bt_data d = panel_data(&pn, c * 20, T - c);
        QA_CHECK_OK(qa_bt_xs_reference(&d, &cfgs[c], &r, er));
        QA_CHECK_OK(qa_bt_xs_cpu(&d, &cfgs[c], &o, eo, 2));
        compare_metrics("xs_topk ref vs cpu", &o, &r, 1, 0);
        qa_test_near_arrays("xs_topk equity", eo, er, d.t_end - d.t_begin, 0, RTOL_SAME);
        if (c < 3) QA_CHECK_MSG(r.trades > 0, "config %d never traded", c);
    }
    QA_FREE_ALL(er, eo);
    panel_free(&pn);
}

/* Traces agree with the metrics of the same run (last equity = 1 + total return;
 * turnover = sum |position steps|; R NaN exactly on bars without P&L). */
static void test_traces(void) {
    const size_t S = 5, T = 500, P = 9;
    panel pn = make_panel(S, T, g_seed + 13);
    qa_bt_params *params = make_grid(QA_BT_ZSCORE, P, g_seed + 14);
    qa_bt_grid g = {QA_BT_ZSCORE, params, P};
    qa_bt_rules set;
    set = qa_test_bt_rules();
    set.stop_loss = 0.03;
    set.sizing = QA_BT_SIZE_VOL_TARGET;
    set.commission_bps = 2;
    qa_bt_data d = panel_data(&pn, 25, T);
    const size_t L = d.t_end - d.t_begin;
    qa_bt_metrics *m = malloc(S * P * sizeof *m);
    double *buf = malloc(3 * L * sizeof(double));
    qa_bt_trace tr = {1, 4, buf, buf + L, buf + 2 * L};
    qa_backend_t *cpu = NULL;
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &cpu));
    QA_CHECK_OK(qa_bt_run(cpu, &d, &g, &set, m, &tr, 1));
    const qa_bt_metrics *mm = &m[1 * P + 4];
    QA_CHECK_NEAR(buf[L - 1], 1 + mm->total_return, 0, 1e-15);
    double tv = 0, prev = 0, E = 1;
    long nb = 0;
    for (size_t j = 0; j < L; j++) {
        double R = buf[2 * L + j];
        int has = !isnan(pn.close[1 * T + d.t_begin + j]);
        if (!isnan(R)) {
            nb++;
            E *= 1 + R;
            QA_CHECK_NEAR(buf[j], E, 0, 1e-13);
            tv += fabs(buf[L + j] - prev);
        } else {
            QA_CHECK(j == 0 || !has || nb == 0); /* no P&L only at the base bar or a gap */
            QA_CHECK(buf[L + j] == prev);        /* position carried */
        }
        prev = buf[L + j];
    }
    QA_CHECK_INT(nb, mm->bars);
    QA_CHECK_NEAR(tv, mm->turnover, 1e-15, 1e-12);
    free(buf);
    free(m);
    free(params);
    qa_backend_free(cpu);
    panel_free(&pn);
}

/* Malformed inputs give clear errors, through the public entry points. */
static void test_invalid(void) {
    double close[40];
    for (int i = 0; i < 40; i++) close[i] = 100 + i;
    qa_bt_params prm = {{5, 10}};
    qa_bt_grid g = {QA_BT_SMA_CROSS, &prm, 1};
    qa_bt_data d = {close, NULL, NULL, NULL, NULL, 1, 40, 0, 40};
    qa_bt_rules set;
    set = qa_test_bt_rules();
    qa_bt_metrics m;
    qa_backend_t *be = NULL;
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &be));
    QA_CHECK_OK(qa_bt_run(be, &d, &g, &set, &m, NULL, 0));
    QA_CHECK_ERR(qa_bt_run(be, NULL, &g, &set, &m, NULL, 0), QA_ERR_INVALID_ARG, "NULL");
    qa_bt_grid empty = {QA_BT_SMA_CROSS, &prm, 0};
    QA_CHECK_ERR(qa_bt_run(be, &d, &empty, &set, &m, NULL, 0), QA_ERR_INVALID_ARG, "empty parameter grid");
    qa_bt_data bad = d;
    bad.t_begin = 40;
    QA_CHECK_ERR(qa_bt_run(be, &bad, &g, &set, &m, NULL, 0), QA_ERR_INVALID_ARG, "evaluation range");
    bad = d;
    bad.t_end = 41;
    QA_CHECK_ERR(qa_bt_run(be, &bad, &g, &set, &m, NULL, 0), QA_ERR_INVALID_ARG, "exceeds");
    bad = d;
    bad.close = NULL;
    QA_CHECK_ERR(qa_bt_run(be, &bad, &g, &set, &m, NULL, 0), QA_ERR_INVALID_ARG, "close");
    struct {
        qa_bt_strategy s;
        double p0, p1, p2;
        qa_status code;
        const char *needle;
    } pc[] = {
        {QA_BT_SMA_CROSS, 10, 10, 0, QA_ERR_CONFIG, "shorter than"},
        {QA_BT_SMA_CROSS, 20, 5, 0, QA_ERR_CONFIG, "shorter than"},
        {QA_BT_SMA_CROSS, 5, 50, 0, QA_ERR_INVALID_ARG, "longer than the history"},
        {QA_BT_EMA_CROSS, 5.5, 10, 0, QA_ERR_INVALID_ARG, "whole numbers"},
        {QA_BT_SMA_CROSS, 0, 10, 0, QA_ERR_INVALID_ARG, "whole numbers"},
        {QA_BT_SMA_CROSS, NAN, 10, 0, QA_ERR_INVALID_ARG, "fast is nan"},
        {QA_BT_ZSCORE, 10, 1.0, 1.5, QA_ERR_CONFIG, "exit_z"},
        {QA_BT_ZSCORE, 10, -1.0, 0, QA_ERR_CONFIG, "entry_z"},
        {QA_BT_ZSCORE, 1, 1.0, 0, QA_ERR_INVALID_ARG, ">= 2"},
        {QA_BT_ZSCORE, 10, 2.0, NAN, QA_ERR_INVALID_ARG, "exit_z is nan"},
        {QA_BT_BOLLINGER, 10, 0, 0, QA_ERR_CONFIG, "k 0"},
        {QA_BT_BOLLINGER, 41, 1, 0, QA_ERR_INVALID_ARG, "longer than the history"},
        {QA_BT_RSI, 14, 60, 70, QA_ERR_CONFIG, "thresholds"},
        {QA_BT_RSI, 40, 30, 70, QA_ERR_INVALID_ARG, "longer than the history"},
        {QA_BT_DONCHIAN, 39, 40, 0, QA_ERR_INVALID_ARG, "longer than the history"},
        {QA_BT_SIGNAL, 1, -1, 0, QA_ERR_CONFIG, "must not exceed"},
    };
    double hl[40], sig[40];
    for (int i = 0; i < 40; i++) hl[i] = close[i], sig[i] = 0;
    qa_bt_data dd = {close, hl, hl, NULL, sig, 1, 40, 0, 40};
    for (size_t i = 0; i < sizeof pc / sizeof pc[0]; i++) {
        qa_bt_params q = {{pc[i].p0, pc[i].p1, pc[i].p2}};
        qa_bt_grid gg = {pc[i].s, &q, 1};
        QA_CHECK_ERR(qa_bt_run(be, &dd, &gg, &set, &m, NULL, 0), pc[i].code, pc[i].needle);
    }
    /* a bad set deep in a grid is named */
    qa_bt_params two[3] = {{{5, 10}}, {{6, 12}}, {{12, 6}}};
    qa_bt_grid g3 = {QA_BT_SMA_CROSS, two, 3};
    QA_CHECK_ERR(qa_bt_run(be, &d, &g3, &set, &m, NULL, 0), QA_ERR_CONFIG, "parameter set 2");
    /* panels a strategy or cost needs */
    qa_bt_params dp = {{5, 2}};
    qa_bt_grid gd = {QA_BT_DONCHIAN, &dp, 1};
    QA_CHECK_ERR(qa_bt_run(be, &d, &gd, &set, &m, NULL, 0), QA_ERR_INVALID_ARG, "high and low");
    qa_bt_params sp = {{-1, 1}};
    qa_bt_grid gs = {QA_BT_SIGNAL, &sp, 1};
    QA_CHECK_ERR(qa_bt_run(be, &d, &gs, &set, &m, NULL, 0), QA_ERR_INVALID_ARG, "signal panel");
    qa_bt_grid gbad = {(qa_bt_strategy)9, &prm, 1};
    QA_CHECK_ERR(qa_bt_run(be, &d, &gbad, &set, &m, NULL, 0), QA_ERR_CONFIG, "unknown strategy");
    /* settings */
    qa_bt_rules t;
    t = set, t.impact_coef = 0.1;
    QA_CHECK_ERR(qa_bt_run(be, &d, &g, &t, &m, NULL, 0), QA_ERR_INVALID_ARG, "volume");
    t = set, t.fixed_cost = 1, t.capital = 0;
    QA_CHECK_ERR(qa_bt_run(be, &d, &g, &t, &m, NULL, 0), QA_ERR_CONFIG, "capital");
    t = set, t.sizing = QA_BT_SIZE_VOL_TARGET, t.vol_window = 1;
    QA_CHECK_ERR(qa_bt_run(be, &d, &g, &t, &m, NULL, 0), QA_ERR_CONFIG, "vol_window");
    t = set, t.sizing = QA_BT_SIZE_VOL_TARGET, t.vol_window = 40;
    QA_CHECK_ERR(qa_bt_run(be, &d, &g, &t, &m, NULL, 0), QA_ERR_INVALID_ARG, "longer than the history");
    t = set, t.fraction = NAN;
    QA_CHECK_ERR(qa_bt_run(be, &d, &g, &t, &m, NULL, 0), QA_ERR_CONFIG, "fraction");
    t = set, t.stop_loss = -0.1;
    QA_CHECK_ERR(qa_bt_run(be, &d, &g, &t, &m, NULL, 0), QA_ERR_CONFIG, "stop_loss");
    t = set, t.commission_bps = NAN;
    QA_CHECK_ERR(qa_bt_run(be, &d, &g, &t, &m, NULL, 0), QA_ERR_CONFIG, "costs");
    t = set, t.bars_per_year = 0;
    QA_CHECK_ERR(qa_bt_run(be, &d, &g, &t, &m, NULL, 0), QA_ERR_CONFIG, "bars_per_year");
    t = set, t.direction = (qa_bt_direction)5;
    QA_CHECK_ERR(qa_bt_run(be, &d, &g, &t, &m, NULL, 0), QA_ERR_CONFIG, "direction");
    /* traces, portfolio and cross-sectional options */
    qa_bt_trace tr = {1, 0, NULL, NULL, NULL};
    QA_CHECK_ERR(qa_bt_run(be, &d, &g, &set, &m, &tr, 1), QA_ERR_INVALID_ARG, "trace 0");
    QA_CHECK_ERR(qa_bt_run(be, &d, &g, &set, &m, NULL, 1), QA_ERR_INVALID_ARG, "NULL array");
    qa_bt_portfolio_opts po = {QA_BT_WEIGHT_INV_VOL, 1};
    QA_CHECK_ERR(qa_bt_portfolio(be, &d, &g, &set, &po, &m, NULL), QA_ERR_CONFIG, "weight_window");
    po.weight_window = 39;
    QA_CHECK_ERR(qa_bt_portfolio(be, &d, &g, &set, &po, &m, NULL), QA_ERR_INVALID_ARG, "longer than the history");
    qa_bt_xs_settings xs = {0, 0, 0.5, 0.5, 0, 252};
    QA_CHECK_ERR(qa_bt_xs_topk(be, &dd, &xs, &m, NULL), QA_ERR_CONFIG, "not both 0");
    xs.k_long = 1;
    QA_CHECK_ERR(qa_bt_xs_topk(be, &d, &xs, &m, NULL), QA_ERR_INVALID_ARG, "signal panel");
    /* names */
    qa_bt_strategy st;
    QA_CHECK_ERR(qa_bt_strategy_parse("macd", &st), QA_ERR_CONFIG, "unknown strategy 'macd'");
    for (int i = 0; i < QA_BT_STRATEGY_COUNT; i++) {
        QA_CHECK_OK(qa_bt_strategy_parse(qa_bt_strategy_name((qa_bt_strategy)i), &st));
        QA_CHECK_INT(st, i);
        QA_CHECK(qa_bt_param_count((qa_bt_strategy)i) >= 2);
        QA_CHECK(qa_bt_param_name((qa_bt_strategy)i, qa_bt_param_count((qa_bt_strategy)i)) == NULL);
    }
    QA_CHECK_STR(qa_bt_param_name(QA_BT_ZSCORE, 2), "exit_z");
    QA_CHECK_STR(qa_bt_strategy_name((qa_bt_strategy)42), "?");
    qa_backend_free(be);
}

/* Edges: no symbols, one symbol and one set, a range holding only the base bar, a
 * symbol without bars; outputs bounded by guard bytes. */
static void test_edges(void) {
    panel pn = make_panel(5, 120, g_seed + 17);
    qa_bt_params prm = {{3, 9}};
    qa_bt_grid g = {QA_BT_SMA_CROSS, &prm, 1};
    qa_bt_rules set;
    set = qa_test_bt_rules();
    qa_backend_t *be = NULL;
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &be));
    qa_bt_data d = panel_data(&pn, 0, 120);
    d.symbols = 0;
    QA_CHECK_OK(qa_bt_run(be, &d, &g, &set, NULL, NULL, 0)); /* nothing to do */
    /* guard bytes around every output, both engines */
    unsigned char *buf = malloc(5 * sizeof(qa_bt_metrics) + 2 * QA_GUARD_BYTES);
    for (int ref = 0; ref < 2; ref++) {
        qa_backend_set_reference(be, ref);
        d = panel_data(&pn, 0, 120);
        qa_test_guard_fill(buf, 5 * sizeof(qa_bt_metrics) + 2 * QA_GUARD_BYTES);
        qa_bt_metrics *m = (qa_bt_metrics *)(buf + QA_GUARD_BYTES);
        QA_CHECK_OK(qa_bt_run(be, &d, &g, &set, m, NULL, 0));
        QA_CHECK(qa_test_guard_intact(buf, QA_GUARD_BYTES));
        QA_CHECK(qa_test_guard_intact(buf + QA_GUARD_BYTES + 5 * sizeof(qa_bt_metrics), QA_GUARD_BYTES));
        /* symbol 3 never trades: no P&L bars */
        QA_CHECK_INT(m[3].bars, 0);
        QA_CHECK(m[3].total_return == 0.0 && isnan(m[3].sharpe) && isnan(m[3].cagr) && m[3].max_drawdown == 0.0);
        /* symbol 4 has a single bar: only its base bar */
        QA_CHECK_INT(m[4].bars, 0);
        /* a range of one bar: base bar only, everywhere */
        d.t_begin = 119;
        QA_CHECK_OK(qa_bt_run(be, &d, &g, &set, m, NULL, 0));
        for (int s = 0; s < 5; s++) QA_CHECK_INT(m[s].bars, 0);
    }
    free(buf);
    qa_backend_free(be);
    panel_free(&pn);
}

/* ---- gpu mode ------------------------------------------------------------------------------------ */

typedef struct dev_panel {
    qa_buf close, high, low, volume, signal;
} dev_panel;

static void dev_upload(qa_backend_t *gpu, const panel *p, dev_panel *dp) {
    size_t b = p->S * p->T * sizeof(double);
    qa_buf *bs[5] = {&dp->close, &dp->high, &dp->low, &dp->volume, &dp->signal};
    const double *hs[5] = {p->close, p->high, p->low, p->volume, p->signal};
    for (int i = 0; i < 5; i++) {
        QA_CHECK_OK(qa_buf_alloc(gpu, b, bs[i]));
        QA_CHECK_OK(qa_buf_upload(gpu, bs[i], 0, hs[i], b));
    }
}

static void dev_free(dev_panel *dp) {
    qa_buf_free(&dp->close);
    qa_buf_free(&dp->high);
    qa_buf_free(&dp->low);
    qa_buf_free(&dp->volume);
    qa_buf_free(&dp->signal);
}

static qa_bt_data dev_data(const dev_panel *dp, const panel *p, size_t tb, size_t te) {
    qa_bt_data d = {dp->close.ptr, dp->high.ptr, dp->low.ptr, dp->volume.ptr, dp->signal.ptr, p->S, p->T, tb, te};
    return d;
}

/* CUDA vs the reference for every configuration, traces, portfolio and cross-section. */
static void test_gpu_parity(void) {
    qa_backend_t *gpu = qa_kernel_test_gpu();
    const size_t S = 7, T = 900, P = 133; /* P spans two 128-thread blocks */
    panel pn = make_panel(S, T, g_seed);
    dev_panel dp;
    dev_upload(gpu, &pn, &dp);
    config cf[64];
    size_t nc = make_configs(cf);
    qa_bt_metrics *ref = malloc(S * P * sizeof *ref), *got = malloc(S * P * sizeof *got);
    const size_t L = T - 17 - T / 3;
    double *tg = malloc(3 * L * sizeof(double)), *tc = malloc(3 * L * sizeof(double));
    for (size_t c = 0; c < nc; c++) {
        qa_bt_params *params = make_grid(cf[c].strategy, P, g_seed + c);
        qa_bt_grid grid = {cf[c].strategy, params, P};
        for (int rg = 0; rg < 2; rg++) {
            size_t tb = rg ? T / 3 : 0, te = rg ? T - 17 : T;
            qa_bt_data hd = panel_data(&pn, tb, te), dd = dev_data(&dp, &pn, tb, te);
            QA_CHECK_OK(qa_bt_run_reference(&hd, &grid, &cf[c].set, ref));
            qa_bt_trace trg = {5, 77, tg, tg + L, tg + 2 * L}, trc = {5, 77, tc, tc + L, tc + 2 * L};
            QA_CHECK_OK(qa_bt_run(gpu, &dd, &grid, &cf[c].set, got, rg ? &trg : NULL, rg ? 1 : 0));
            char what[96];
            snprintf(what, sizeof what, "cuda %s/%s range %d", qa_bt_strategy_name(cf[c].strategy), cf[c].name, rg);
            compare_metrics(what, got, ref, S * P, RTOL_POW);
            if (rg) {
                QA_CHECK_OK(qa_bt_trace_reference(&hd, &grid, &cf[c].set, &trc, 1));
                qa_test_near_arrays(what, tg, tc, 3 * L, ATOL, RTOL_SAME);
            }
        }
        if (c % 4 == 0)
            for (int w = 0; w < QA_BT_WEIGHTING_COUNT; w++) {
                qa_bt_portfolio_opts po = {(qa_bt_weighting)w, 15};
                qa_bt_data hd = panel_data(&pn, 30, T), dd = dev_data(&dp, &pn, 30, T);
                double *eg = malloc(P * (T - 30) * sizeof(double)), *ec = malloc(P * (T - 30) * sizeof(double));
                QA_CHECK_OK(qa_bt_portfolio_reference(&hd, &grid, &cf[c].set, &po, ref, ec));
                QA_CHECK_OK(qa_bt_portfolio(gpu, &dd, &grid, &cf[c].set, &po, got, eg));
                compare_metrics("cuda portfolio", got, ref, P, RTOL_POW);
                qa_test_near_arrays("cuda portfolio equity", eg, ec, P * (T - 30), ATOL, RTOL_SAME);
                free(eg);
                free(ec);
            }
        free(params);
    }
    const qa_bt_xs_settings xs[2] = {{2, 2, 0.5, 0.5, 5.0, 252}, {3, 0, 1.0, 0.0, 0.0, 252}};
    for (int c = 0; c < 2; c++) {
        qa_bt_data hd = panel_data(&pn, 10, T), dd = dev_data(&dp, &pn, 10, T);
        double *eg = malloc(T * sizeof(double)), *ec = malloc(T * sizeof(double));
        QA_CHECK_OK(qa_bt_xs_reference(&hd, &xs[c], ref, ec));
        QA_CHECK_OK(qa_bt_xs_topk(gpu, &dd, &xs[c], got, eg));
        compare_metrics("cuda xs_topk", got, ref, 1, RTOL_POW);
        qa_test_near_arrays("cuda xs_topk equity", eg, ec, T - 10, ATOL, RTOL_SAME);
        free(eg);
        free(ec);
    }
    free(tg);
    free(tc);
    free(ref);
    free(got);
    dev_free(&dp);
    panel_free(&pn);
    qa_backend_free(gpu);
}

int main(int argc, char **argv) {
    g_seed = qa_test_seed();
    static const qa_test_case gpu[] = {QA_CASE(test_gpu_parity)};
    static const qa_test_case cpu[] = {QA_CASE(test_hand_example), QA_CASE(test_independent), QA_CASE(test_parity_cpu),
                                       QA_CASE(test_portfolio), QA_CASE(test_xs_hand), QA_CASE(test_xs_parity),
                                       QA_CASE(test_traces), QA_CASE(test_invalid), QA_CASE(test_edges)};
    return qa_kernel_test_main(argc, argv, QA_CASES(gpu), QA_CASES(cpu));
}
