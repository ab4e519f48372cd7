/* The event-driven simulator against the vectorized engine: for every strategy, every
 * direction mode, with stops, with each cost term and with vol-targeting, on fresh random
 * panels with gaps (and, given a market file as argv[1], on the shipped real data), the
 * simulator's sleeve equity curves (MOC fills, `vectorized` cost convention) equal
 * qa_bt_trace_reference's equity, its holdings equal the traced weights, its metrics
 * equal qa_bt_run_reference's, and the account equity is the sum of the sleeves. The
 * `traded` convention is checked against an independent share-based recursion that
 * differs from the vectorized accounting only in what the costs are charged on.
 *
 * Error budgets, |x - ref| <= ATOL + rtol |ref|:
 *  - equity: RTOL_EQ = 1e-10 (the brief's bound). The two engines compute the same
 *    quantities by different operations: the vectorized engine multiplies E(i-1)(1 + R),
 *    the simulator adds fills and marks in currency (compensated cash sums) and sizes
 *    holdings as w E / close. Each bar adds a few ulp of relative error to either path,
 *    ~n eps = 5,000 x 1.1e-16 = 6e-13 over a run, plus the holding's rounding times the
 *    leverage; 1e-10 leaves >100x margin;
 *  - weights held (shares x close / sleeve equity vs the traced position): the same
 *    1e-10, ATOL 1e-12 for flat positions (exactly 0 in both);
 *  - metrics from R = E(i)/E(i-1) - 1: the simulated R differs from the vectorized one
 *    by ~eps |1 + R| ~ 1e-16 absolute per bar (E equal to ~1e-12 relative, and R is a
 *    ratio of neighbours whose errors are correlated), so mean/std-based metrics get
 *    RTOL_M = 1e-8 relative to values of order 1 with ATOL_M = 1e-12 (Sharpe ~ 0 can
 *    be tiny); total return, drawdown and turnover follow the equity bound; counts
 *    (bars, trades) are exact: decisions are the same code.
 *  - hit rate counts R > 0: a held bar with an unchanged close has R = 0 exactly in the
 *    vectorized engine and +-1 ulp in the simulator, so the count may differ on such
 *    bars: hit_rate within 3 / held bars.
 *  - traded convention vs the independent recursion: RTOL_EQ; the impact inputs there
 *    are summed oldest first (rounding ~1e-16 relative on a cost term). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/philox.h"
#include "datasets/store.h"
#include "harness.h"
#include "kernels/backtest_impl.h" /* the reference engine, called directly */
#include "pipeline/sim/sim.h"

#define RTOL_EQ 1e-10
#define ATOL 1e-12
#define RTOL_M 1e-8
#define ATOL_M 1e-12

static uint64_t g_seed;

typedef struct panel {
    size_t S, T;
    double *open, *high, *low, *close, *volume, *signal;
    char **names;
} panel;

static void panel_free(panel *p) {
    free(p->open);
    if (p->names)
        for (size_t s = 0; s < p->S; s++) free(p->names[s]);
    free(p->names);
    memset(p, 0, sizeof *p);
}

static int panel_alloc(panel *p, size_t S, size_t T) {
    memset(p, 0, sizeof *p);
    p->S = S;
    p->T = T;
    p->open = malloc(6 * S * T * sizeof(double) + 1);
    if (!p->open) return 0;
    p->high = p->open + S * T;
    p->low = p->high + S * T;
    p->close = p->low + S * T;
    p->volume = p->close + S * T;
    p->signal = p->volume + S * T;
    return 1;
}

/* Geometric random walks (2% daily vol) with late listings, 4% whole-bar gaps, bars
 * without high/low (1%), zero and NaN volumes (2%), NaN signals (3%), and a jump of
 * +/-12% every ~150 bars so stops trigger. Streams 1..12 of the seed. */
static panel random_panel(size_t S, size_t T, uint64_t seed) {
    panel p;
    if (!panel_alloc(&p, S, T)) return p;
    for (size_t s = 0; s < S; s++) {
        const size_t sixth = T / 6; /* whole bars */
        size_t start = (size_t)(qa_rng_uniform(seed, 1, s) * (double)sixth);
        double c = 20.0 + 80.0 * qa_rng_uniform(seed, 2, s);
        for (size_t t = 0; t < T; t++) {
            size_t i = s * T + t;
            double prev = c;
            c *= exp(0.02 * qa_rng_normal(seed, 3, i) - 0.0001);
            if (qa_rng_uniform(seed, 10, i) < 1.0 / 150) c *= qa_rng_uniform(seed, 11, i) < 0.5 ? 0.88 : 1.12;
            int gap = t < start || qa_rng_uniform(seed, 4, i) < 0.04;
            double o = prev * (1.0 + 0.005 * qa_rng_normal(seed, 12, i));
            double hi = fmax(o, c) * (1.0 + 0.01 * fabs(qa_rng_normal(seed, 5, i)));
            double lo = fmin(o, c) * (1.0 - 0.01 * fabs(qa_rng_normal(seed, 6, i)));
            int nohl = qa_rng_uniform(seed, 7, i) < 0.01;
            double vu = qa_rng_uniform(seed, 8, i);
            double g = qa_rng_normal(seed, 9, i);
            p.open[i] = gap ? NAN : o;
            p.close[i] = gap ? NAN : c;
            p.high[i] = gap || nohl ? NAN : hi;
            p.low[i] = gap || nohl ? NAN : lo;
            p.volume[i] = gap ? NAN : vu < 0.01 ? 0.0 : vu < 0.02 ? NAN : 2e5 * (0.5 + qa_rng_uniform(seed, 13, i));
            p.signal[i] = gap || qa_rng_uniform(seed, 14, i) < 0.03 ? NAN : g;
        }
    }
    return p;
}

/* The shipped data: every symbol, bars from 2000-01-03 on, signal = 5-bar return. */
static int real_panel(const char *path, panel *p, size_t *t_begin) {
    qa_store_t *st = NULL;
    if (qa_store_open(path, NULL, QA_STORE_READ, &st) != QA_OK) {
        printf("cannot open %s: %s\n", path, qa_err_msg());
        return 0;
    }
    size_t S = qa_store_nsym(st), Tall = qa_store_ntime(st);
    const int64_t *time = qa_store_time(st);
    const int64_t y2000 = 946857600LL * 1000000000LL, y2005 = 1104710400LL * 1000000000LL; /* 2000-01-03, 2005-01-03 */
    size_t t0 = 0, tb = 0;
    while (t0 < Tall && time[t0] < y2000) t0++;
    while (tb < Tall && time[tb] < y2005) tb++;
    size_t T = Tall - t0;
    int ok = panel_alloc(p, S, T);
    p->names = calloc(S, sizeof *p->names);
    const qa_bar_field f[5] = {QA_BAR_OPEN, QA_BAR_HIGH, QA_BAR_LOW, QA_BAR_CLOSE, QA_BAR_VOLUME};
    double *dst[5] = {p->open, p->high, p->low, p->close, p->volume};
    for (int k = 0; k < 5 && ok; k++)
        ok = qa_store_read(st, qa_bar_field_path(f[k]), 0, S, t0, T, dst[k]) == QA_OK;
    for (size_t s = 0; s < S && ok; s++) {
        p->names[s] = strdup(qa_store_symbol(st, s));
        for (size_t t = 0; t < T; t++) {
            const double *c = p->close + s * T;
            p->signal[s * T + t] = t >= 5 ? c[t] / c[t - 5] - 1.0 : NAN; /* NaN propagates through gaps */
        }
    }
    qa_store_close(st);
    *t_begin = tb - t0;
    return ok;
}

static qa_sim_data sim_data(const panel *p, size_t tb, size_t te) {
    qa_sim_data d = {p->open, p->high, p->low, p->close, p->volume, p->signal, (const char *const *)p->names,
                     p->S, p->T, tb, te, NULL};
    return d;
}

/* ---- the matrix -------------------------------------------------------------------------------- */

static qa_bt_params params_of(qa_bt_strategy s) {
    qa_bt_params p;
    memset(&p, 0, sizeof p);
    switch (s) {
    case QA_BT_SMA_CROSS:
    case QA_BT_EMA_CROSS: p.p[0] = 5, p.p[1] = 20; break;
    case QA_BT_ZSCORE: p.p[0] = 20, p.p[1] = 1.5, p.p[2] = 0.25; break;
    case QA_BT_BOLLINGER: p.p[0] = 20, p.p[1] = 1.5; break;
    case QA_BT_DONCHIAN: p.p[0] = 20, p.p[1] = 10; break;
    case QA_BT_RSI: p.p[0] = 14, p.p[1] = 35, p.p[2] = 65; break;
    case QA_BT_SIGNAL: p.p[0] = -0.4, p.p[1] = 0.4; break;
    default: break;
    }
    return p;
}

enum { V_NONE, V_PROP, V_FIXED, V_IMPACT, V_ALL_STOPS, V_VOLT, V_COUNT };
static const char *const variant_names[V_COUNT] = {"no costs", "proportional, w 0.5", "fixed, w 1.5", "impact",
                                                   "all costs + stops", "vol target + costs + stops"};

static void variant(int v, qa_rules *b, double real_scale) {
    qa_rules_init(b);
    b->bars_per_year = 252.0;
    switch (v) {
    case V_PROP: b->costs.commission_bps = 1.0, b->costs.half_spread_bps = 2.5, b->sizing.fraction = 0.5; break;
    case V_FIXED: b->costs.fixed_cost = 25.0, b->sizing.fraction = 1.5; break;
    case V_IMPACT: b->costs.impact_coef = 0.3, b->costs.adv_window = 10, b->costs.impact_vol_window = 15; break;
    case V_ALL_STOPS:
        b->costs.commission_bps = 1.0, b->costs.half_spread_bps = 2.0, b->costs.fixed_cost = 10.0, b->costs.impact_coef = 0.2;
        b->stops.stop_loss = 0.04 * real_scale, b->stops.take_profit = 0.08 * real_scale, b->sizing.fraction = 0.8;
        break;
    case V_VOLT:
        b->sizing.method = QA_BT_SIZE_VOL_TARGET, b->sizing.target_vol = 0.2, b->sizing.vol_window = 15, b->sizing.max_leverage = 2.0;
        b->costs.commission_bps = 2.0, b->costs.impact_coef = 0.1, b->stops.stop_loss = 0.05 * real_scale;
        break;
    default: break;
    }
}

typedef struct stats {
    int runs;
    double worst_eq, worst_w, worst_traded;
    long long trades, orders;
} stats;

static double rel_err(double got, double ref) { return fabs(got - ref) / (ATOL + fabs(ref)); }

/* One simulation against the vectorized reference, symbol by symbol. */
static void check_one(const panel *p, size_t tb, size_t te, qa_bt_strategy strat, qa_bt_direction dir, int v,
                      double real_scale, stats *agg) {
    const size_t S = p->S, L = te - tb;
    qa_sim_settings set;
    qa_sim_settings_init(&set);
    set.strategy = strat;
    set.params = params_of(strat);
    variant(v, &set.rules, real_scale);
    set.rules.direction = dir;
    set.rules.capital = 1e6 * (double)S;
    set.record_blotter = 0;
    qa_sim_data d = sim_data(p, tb, te);
    qa_sim_result res;
    qa_status st = qa_sim_run(&d, &set, &res);
    char what[160];
    snprintf(what, sizeof what, "%s/%d/%s", qa_bt_strategy_name(strat), (int)dir, variant_names[v]);
    QA_CHECK_MSG(st == QA_OK, "%s: %s", what, qa_err_msg());
    if (st != QA_OK) {
        qa_sim_result_free(&res);
        return;
    }
    /* the vectorized reference with the sleeve's capital */
    qa_bt_rules vb;
    qa_rules_to_bt(&set.rules, &vb);
    vb.capital = set.rules.capital / (double)S;
    qa_bt_data bd = {p->close, p->high, p->low, p->volume, p->signal, S, p->T, tb, te};
    qa_bt_grid g = {strat, &set.params, 1};
    qa_bt_metrics *ref = calloc(S, sizeof *ref);
    double *eq = malloc(3 * L * sizeof *eq), *pos = eq + L, *w = eq + 2 * L;
    double *acct = calloc(L, sizeof *acct);
    QA_CHECK_OK(qa_bt_run_reference(&bd, &g, &vb, ref));
    double alloc = set.rules.capital / (double)S;
    for (size_t s = 0; s < S; s++) {
        qa_bt_trace tr = {s, 0, eq, pos, NULL};
        QA_CHECK_OK(qa_bt_trace_reference(&bd, &g, &vb, &tr, 1));
        const double *sl = res.sleeve + s * L;
        char name[200];
        snprintf(name, sizeof name, "%s sleeve %zu equity", what, s);
        qa_test_near_arrays(name, sl, eq, L, ATOL, RTOL_EQ);
        for (size_t j = 0; j < L; j++) {
            double E = sl[j] * alloc;
            w[j] = E > 0 ? res.value[s * L + j] / E : 0.0;
            acct[j] += alloc * eq[j];
            double e1 = rel_err(sl[j], eq[j]), e2 = fabs(w[j] - pos[j]) / (ATOL + fabs(pos[j]));
            if (e1 > agg->worst_eq) agg->worst_eq = e1;
            if (e2 > agg->worst_w) agg->worst_w = e2;
        }
        snprintf(name, sizeof name, "%s sleeve %zu weights", what, s);
        qa_test_near_arrays(name, w, pos, L, ATOL, RTOL_EQ);
        const qa_bt_metrics *a = &res.sleeve_metrics[s], *b = &ref[s];
        QA_CHECK_MSG(a->bars == b->bars && a->trades == b->trades, "%s sleeve %zu: bars %lld/%lld trades %lld/%lld", what,
                     s, (long long)a->bars, (long long)b->bars, (long long)a->trades, (long long)b->trades);
        QA_CHECK_MSG(llabs((long long)(a->max_dd_duration - b->max_dd_duration)) <= 1,
                     "%s sleeve %zu: max_dd_duration %lld vs %lld", what, s, (long long)a->max_dd_duration,
                     (long long)b->max_dd_duration);
        double mv[][2] = {{a->total_return, b->total_return}, {a->max_drawdown, b->max_drawdown},
                          {a->turnover, b->turnover},         {a->exposure, b->exposure},
                          {a->cagr, b->cagr},                 {a->calmar, b->calmar},
                          {a->ann_vol, b->ann_vol},           {a->sharpe, b->sharpe},
                          {a->sortino, b->sortino}};
        const char *mn[] = {"total_return", "max_drawdown", "turnover", "exposure", "cagr", "calmar", "ann_vol", "sharpe", "sortino"};
        for (size_t k = 0; k < sizeof mv / sizeof mv[0]; k++) {
            double x = mv[k][0], y = mv[k][1];
            // NOLINTNEXTLINE(bugprone-branch-clone): two named budgets (see the top) that happen to be equal
            double rt = k < 4 ? RTOL_EQ : RTOL_M, at = k < 4 ? ATOL : ATOL_M;
            int ok = (isnan(x) && isnan(y)) || fabs(x - y) <= at + rt * fabs(y);
            QA_CHECK_MSG(ok, "%s sleeve %zu: %s %.17g vs vectorized %.17g", what, s, mn[k], x, y);
        }
        double held = b->exposure * (double)b->bars;
        int hok = (isnan(a->hit_rate) && isnan(b->hit_rate)) || fabs(a->hit_rate - b->hit_rate) <= 3.0 / (held > 0 ? held : 1);
        QA_CHECK_MSG(hok, "%s sleeve %zu: hit_rate %.17g vs %.17g", what, s, a->hit_rate, b->hit_rate);
        agg->trades += b->trades;
    }
    snprintf(what + strlen(what), sizeof what - strlen(what), " account");
    qa_test_near_arrays(what, res.equity, acct, L, ATOL * set.rules.capital, RTOL_EQ);
    /* accounting invariants: equity = cash + sum value at every bar; realised + unrealised */
    for (size_t j = 0; j < L; j++) {
        double sum = res.cash[j];
        for (size_t s = 0; s < S; s++) sum += res.value[s * L + j];
        QA_CHECK_NEAR(res.equity[j], sum, 1e-9 * set.rules.capital, 0);
    }
    QA_CHECK_NEAR(res.realized + res.unrealized, res.final_equity - set.rules.capital, 1e-7 * set.rules.capital, 0);
    agg->orders += res.counts.orders;
    agg->runs++;
    free(ref);
    free(eq);
    free(acct);
    qa_sim_result_free(&res);
}

/* ---- traded convention: an independent share-based recursion ------------------------------ */

/* Observation flags of symbol s under the run's rules. */
static int observed(const panel *p, size_t s, size_t t, qa_bt_strategy strat, const qa_rules *b) {
    size_t i = s * p->T + t;
    if (isnan(p->close[i])) return 0;
    if (strat == QA_BT_DONCHIAN && (isnan(p->high[i]) || isnan(p->low[i]))) return 0;
    if (b->costs.impact_coef > 0 && !(p->volume[i] > 0)) return 0;
    if (strat == QA_BT_SIGNAL && isnan(p->signal[i])) return 0;
    return 1;
}

/* Expected traded-convention sleeve curve of symbol s from the vectorized positions:
 * at each decision close the holding becomes pos x (equity marked at the close) /
 * close, unless the change is rounding noise, and the fill pays prop x notional +
 * fixed + notional x coef x sigma x sqrt(shares / ADV) on its actual notional. */
static void traded_expected(const panel *p, size_t s, size_t tb, size_t te, qa_bt_strategy strat, const qa_rules *b,
                            const double *pos, double alloc, double *out) {
    size_t T = p->T;
    double *c = malloc(T * sizeof *c), *v = malloc(T * sizeof *v), *r = malloc(T * sizeof *r);
    long n = 0, i0 = -1;
    double E = alloc, sh = 0.0, cp = NAN;
    double cprop = (b->costs.commission_bps + b->costs.half_spread_bps) * 1e-4;
    for (size_t t = 0; t < te; t++) {
        int obs = observed(p, s, t, strat, b);
        if (obs) {
            c[n] = p->close[s * T + t];
            v[n] = p->volume[s * T + t];
            r[n] = n ? c[n] / c[n - 1] - 1 : NAN;
            n++;
        }
        if (t < tb) continue;
        size_t j = t - tb;
        if (obs && i0 < 0) {
            i0 = n - 1;
            cp = c[n - 1];
        } else if (obs) {
            long i = n - 1;
            double cl = c[i];
            double Epre = E + sh * (cl - cp);
            double target = Epre > 0 && E > 0 ? pos[j] * Epre / cl : 0.0;
            double q = target - sh;
            double cost = 0.0;
            if (fabs(q) * cl > 1e-12 * fabs(Epre)) {
                double N = fabs(q) * cl;
                cost = cprop * N + (b->costs.fixed_cost > 0 ? b->costs.fixed_cost : 0.0);
                if (b->costs.impact_coef > 0) {
                    double adv = 0, mr = 0, ss = 0;
                    for (long k = i - b->costs.adv_window + 1; k <= i; k++) adv += v[k];
                    adv /= b->costs.adv_window;
                    for (long k = i - b->costs.impact_vol_window + 1; k <= i; k++) mr += r[k];
                    mr /= b->costs.impact_vol_window;
                    for (long k = i - b->costs.impact_vol_window + 1; k <= i; k++) ss += (r[k] - mr) * (r[k] - mr);
                    double sig = sqrt(ss / (b->costs.impact_vol_window - 1));
                    cost += N * b->costs.impact_coef * sig * sqrt(fabs(q) / adv);
                }
                sh += q;
            }
            E = Epre - cost;
            cp = cl;
        }
        out[j] = E / alloc;
    }
    free(c);
    free(v);
    free(r);
}

static void check_traded(const panel *p, size_t tb, size_t te, qa_bt_strategy strat, int v, stats *agg) {
    const size_t S = p->S, L = te - tb;
    qa_sim_settings set;
    qa_sim_settings_init(&set);
    set.strategy = strat;
    set.params = params_of(strat);
    variant(v, &set.rules, 1.0);
    set.rules.capital = 1e6 * (double)S;
    set.record_blotter = 0;
    set.rules.costs.convention = QA_RULES_TRADED;
    qa_sim_data d = sim_data(p, tb, te);
    qa_sim_result tr, vr;
    QA_CHECK_OK(qa_sim_run(&d, &set, &tr));
    set.rules.costs.convention = QA_RULES_VECTORIZED;
    QA_CHECK_OK(qa_sim_run(&d, &set, &vr));
    qa_bt_rules vb;
    qa_rules_to_bt(&set.rules, &vb);
    vb.capital = set.rules.capital / (double)S;
    qa_bt_data bd = {p->close, p->high, p->low, p->volume, p->signal, S, p->T, tb, te};
    qa_bt_grid g = {strat, &set.params, 1};
    double *pos = malloc(2 * L * sizeof *pos), *exp_ = pos + L;
    double alloc = set.rules.capital / (double)S, maxdiff = 0.0;
    for (size_t s = 0; s < S && tr.sleeve; s++) {
        qa_bt_trace t = {s, 0, NULL, pos, NULL};
        QA_CHECK_OK(qa_bt_trace_reference(&bd, &g, &vb, &t, 1));
        traded_expected(p, s, tb, te, strat, &set.rules, pos, alloc, exp_);
        char name[160];
        snprintf(name, sizeof name, "traded %s/%s sleeve %zu", qa_bt_strategy_name(strat), variant_names[v], s);
        qa_test_near_arrays(name, tr.sleeve + s * L, exp_, L, ATOL, RTOL_EQ);
        for (size_t j = 0; j < L; j++) {
            double e = rel_err(tr.sleeve[s * L + j], exp_[j]);
            if (e > agg->worst_traded) agg->worst_traded = e;
            double dd = fabs(tr.sleeve[s * L + j] - vr.sleeve[s * L + j]);
            if (dd > maxdiff) maxdiff = dd;
        }
        /* decisions are the same in both conventions */
        QA_CHECK_INT(tr.sleeve_metrics[s].trades, vr.sleeve_metrics[s].trades);
    }
    if (v == V_NONE) {
        /* no costs: the conventions trade the same shares at the same prices */
        QA_CHECK_MSG(maxdiff <= 1e-10, "traded vs vectorized without costs differ by %g", maxdiff);
    } else if (v == V_PROP) {
        /* weight 0.5 rebalances every bar: the traded convention pays for it */
        QA_CHECK_MSG(maxdiff > 1e-6, "traded vs vectorized with costs and drift rebalancing differ by only %g", maxdiff);
    }
    free(pos);
    qa_sim_result_free(&tr);
    qa_sim_result_free(&vr);
}

/* ---- tests ---------------------------------------------------------------------------------------- */

static void test_random_matrix(void) {
    stats agg = {0};
    for (int rep = 0; rep < 2; rep++) {
        uint64_t seed = g_seed + (uint64_t)rep;
        size_t S = rep ? 7 : 4, T = rep ? 503 : 801; /* sizes that are no multiple of anything */
        panel p = random_panel(S, T, seed);
        size_t tb = rep ? 0 : 60, te = rep ? T - 17 : T;
        for (int st = 0; st < QA_BT_STRATEGY_COUNT; st++)
            for (int dir = 0; dir < QA_BT_DIRECTION_COUNT; dir++)
                for (int v = 0; v < V_COUNT; v++) check_one(&p, tb, te, (qa_bt_strategy)st, (qa_bt_direction)dir, v, 1.0, &agg);
        panel_free(&p);
    }
    printf("  %d runs, %lld trades, %lld orders; worst relative error: equity %.3g, weights %.3g\n", agg.runs, agg.trades,
           agg.orders, agg.worst_eq, agg.worst_w);
    QA_CHECK(agg.trades > 1000); /* the matrix exercises real trading */
}

static void test_traded(void) {
    stats agg = {0};
    panel p = random_panel(5, 640, g_seed + 7);
    for (int st = 0; st < QA_BT_STRATEGY_COUNT; st++)
        for (int v = 0; v < V_COUNT; v++) check_traded(&p, 40, 640, (qa_bt_strategy)st, v, &agg);
    printf("  traded convention vs the independent recursion: worst relative error %.3g\n", agg.worst_traded);
    panel_free(&p);
}

/* A leveraged short through a +150% squeeze: both engines are ruined at the same bar;
 * the vectorized engine clamps equity at 0, the simulator keeps the (negative) sleeve
 * equity and stays flat. */
static void test_ruin(void) {
    panel p = random_panel(2, 300, g_seed + 11);
    for (size_t t = 200; t < 300; t++) {
        if (!isnan(p.close[t])) p.close[t] *= 2.5;
        if (!isnan(p.open[t])) p.open[t] *= 2.5;
    }
    qa_sim_settings set;
    qa_sim_settings_init(&set);
    set.strategy = QA_BT_SIGNAL;
    set.params.p[0] = 0.0, set.params.p[1] = 1e9; /* always short where the signal is < 0 */
    set.rules.direction = QA_BT_SHORT_ONLY;
    set.rules.sizing.fraction = 1.0;
    set.rules.capital = 2e6;
    for (size_t t = 0; t < 300; t++) p.signal[t] = isnan(p.signal[t]) ? NAN : -1.0;
    qa_sim_data d = sim_data(&p, 10, 300);
    qa_sim_result res;
    QA_CHECK_OK(qa_sim_run(&d, &set, &res));
    qa_bt_rules vb;
    qa_rules_to_bt(&set.rules, &vb);
    vb.capital = 1e6;
    qa_bt_data bd = {p.close, p.high, p.low, p.volume, p.signal, 2, 300, 10, 300};
    qa_bt_grid g = {set.strategy, &set.params, 1};
    double eq[290];
    qa_bt_trace tr = {0, 0, eq, NULL, NULL};
    QA_CHECK_OK(qa_bt_trace_reference(&bd, &g, &vb, &tr, 1));
    int ruined = 0;
    for (size_t j = 0; j < 290 && res.sleeve; j++) {
        double x = res.sleeve[j];
        if (eq[j] == 0.0) {
            ruined = 1;
            QA_CHECK_MSG(x <= 0.0, "bar %zu: vectorized ruined, simulator sleeve %g", j, x);
            QA_CHECK_NEAR(res.qty[j], 0.0, 0, 0);
        } else {
            QA_CHECK_NEAR(x, eq[j], ATOL, RTOL_EQ);
        }
    }
    QA_CHECK(ruined);
    QA_CHECK(res.sleeve_metrics[0].total_return == -1.0 || res.sleeve_metrics[0].total_return <= -1.0);
    qa_sim_result_free(&res);
    panel_free(&p);
}

static const char *g_real;

static void test_real_data(void) {
    panel p;
    size_t tb;
    if (!real_panel(g_real, &p, &tb)) {
        QA_CHECK_MSG(0, "cannot read %s", g_real);
        panel_free(&p);
        return;
    }
    printf("  %zu symbols x %zu bars (evaluation from bar %zu)\n", p.S, p.T, tb);
    stats agg = {0};
    /* real prices move less than the random panels' jumps: wider stops */
    for (int st = 0; st < QA_BT_STRATEGY_COUNT; st++) {
        for (int dir = 0; dir < QA_BT_DIRECTION_COUNT; dir++)
            check_one(&p, tb, p.T, (qa_bt_strategy)st, (qa_bt_direction)dir, V_ALL_STOPS, 2.0, &agg);
        check_one(&p, tb, p.T, (qa_bt_strategy)st, QA_BT_LONG_SHORT, V_VOLT, 2.0, &agg);
    }
    printf("  %d runs, %lld trades, %lld orders; worst relative error: equity %.3g, weights %.3g\n", agg.runs, agg.trades,
           agg.orders, agg.worst_eq, agg.worst_w);
    QA_CHECK(agg.trades > 1000);
    stats ta = {0};
    check_traded(&p, tb, p.T, QA_BT_SMA_CROSS, V_PROP, &ta);
    check_traded(&p, tb, p.T, QA_BT_RSI, V_IMPACT, &ta);
    printf("  traded convention: worst relative error %.3g\n", ta.worst_traded);
    panel_free(&p);
}

int main(int argc, char **argv) {
    g_seed = qa_test_seed();
    if (argc > 1) {
        g_real = argv[1];
        QA_RUN(test_real_data);
    } else {
        QA_RUN(test_random_matrix);
        QA_RUN(test_traded);
        QA_RUN(test_ruin);
    }
    return qa_test_finish();
}
