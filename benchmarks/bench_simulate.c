/* Event-driven simulator throughput: symbol-bars per second and orders per second of
 * the bar loop (qa_sim_run: strategy decisions, orders, fills, costs, accounting,
 * recorded curves and the blotter) for 100 symbols x 5,040 bars (20 years of daily
 * bars), after checking one sleeve against the vectorized reference.
 *
 * Cases: an SMA cross at weight 0.5 (drift rebalancing: an order every bar per held
 * symbol), the same at weight 1 (orders only when the position changes), a z-score
 * with vol targeting and impact costs (heavier windows per bar), and limit orders with
 * participation caps in the traded convention (the order book path); the first case
 * once more without the blotter (its ~96-byte rows, two per order, cost page faults).
 *
 * Work model per symbol-bar: ~6 panel doubles read, the strategy's windows re-evaluated
 * (O(window)), 3 doubles recorded; bytes = 72 per symbol-bar (no FLOP model: the loop is
 * branchy control flow). The loop is serial by nature (one account, bars in time
 * order), so there is one CPU line per case and no GPU line.
 *
 * usage: bench_simulate [symbols] [bars] [repeats] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "common/philox.h"
#include "common/timer.h"
#include "kernels/backtest_impl.h" /* the reference engine, called directly */
#include "pipeline/sim/sim.h"

/* CPU seconds of this process (user + system): independent of other load on the machine. */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct bcase {
    const char *name;
    qa_bt_strategy strategy;
    double p0, p1, p2;
    double fraction;
    int vol_target, impact;
    qa_rules_convention conv;
    qa_order_type type;
    double participation;
    int no_blotter;
} bcase;

int main(int argc, char **argv) {
    size_t S = argc > 1 ? strtoul(argv[1], NULL, 10) : 100, T = argc > 2 ? strtoul(argv[2], NULL, 10) : 5040;
    int reps = argc > 3 ? atoi(argv[3]) : 5;
    if (S == 0 || T < 200 || reps < 1) {
        fprintf(stderr, "usage: bench_simulate [symbols >= 1] [bars >= 200] [repeats >= 1]\n");
        return 2;
    }
    const uint64_t seed = 20261124;
    double *pan = malloc(6 * S * T * sizeof *pan);
    if (!pan) return 1;
    double *open = pan, *high = pan + S * T, *low = pan + 2 * S * T, *close = pan + 3 * S * T, *vol = pan + 4 * S * T,
           *sig = pan + 5 * S * T;
    for (size_t s = 0; s < S; s++) {
        double c = 20 + 80 * qa_rng_uniform(seed, 1, s);
        for (size_t t = 0; t < T; t++) {
            size_t i = s * T + t;
            double prev = c;
            c *= exp(0.02 * qa_rng_normal(seed, 2, i));
            int gap = qa_rng_uniform(seed, 3, i) < 0.01;
            double o = prev * exp(0.005 * qa_rng_normal(seed, 4, i));
            open[i] = gap ? NAN : o;
            close[i] = gap ? NAN : c;
            high[i] = gap ? NAN : fmax(o, c) * 1.01;
            low[i] = gap ? NAN : fmin(o, c) * 0.99;
            vol[i] = gap ? NAN : 1e5 * (0.5 + qa_rng_uniform(seed, 5, i));
            sig[i] = gap ? NAN : qa_rng_normal(seed, 6, i);
        }
    }
    const bcase cases[] = {
        {"sim_sma_w0.5_moc", QA_BT_SMA_CROSS, 10, 50, 0, 0.5, 0, 0, QA_RULES_VECTORIZED, QA_ORDER_MOC, 0, 0},
        {"sim_sma_w0.5_noblot", QA_BT_SMA_CROSS, 10, 50, 0, 0.5, 0, 0, QA_RULES_VECTORIZED, QA_ORDER_MOC, 0, 1},
        {"sim_sma_w1_moc", QA_BT_SMA_CROSS, 10, 50, 0, 1.0, 0, 0, QA_RULES_VECTORIZED, QA_ORDER_MOC, 0, 0},
        {"sim_zscore_vt_impact", QA_BT_ZSCORE, 40, 1.5, 0.25, 1.0, 1, 1, QA_RULES_VECTORIZED, QA_ORDER_MOC, 0, 0},
        {"sim_sma_limit_part", QA_BT_SMA_CROSS, 10, 50, 0, 0.5, 0, 0, QA_RULES_TRADED, QA_ORDER_LIMIT, 0.02, 0},
    };
    char size[64];
    snprintf(size, sizeof size, "%zux%zu", S, T);
    qa_bench_header("event-driven simulator (bar loop)");
    int failed = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const bcase *b = &cases[ci];
        qa_sim_settings set;
        qa_sim_settings_init(&set);
        set.strategy = b->strategy;
        set.params.p[0] = b->p0, set.params.p[1] = b->p1, set.params.p[2] = b->p2;
        set.rules.sizing.fraction = b->fraction;
        set.rules.costs.commission_bps = 1, set.rules.costs.half_spread_bps = 2, set.rules.costs.fixed_cost = 1;
        if (b->vol_target) set.rules.sizing.method = QA_BT_SIZE_VOL_TARGET, set.rules.stops.stop_loss = 0.1;
        if (b->impact) set.rules.costs.impact_coef = 0.1;
        set.rules.capital = 1e6 * (double)S;
        set.rules.costs.convention = b->conv;
        set.order_type = b->type;
        set.price_offset = b->type == QA_ORDER_LIMIT ? 0.002 : 0.0;
        set.participation = b->participation;
        set.tif = b->participation > 0 ? QA_TIF_GTC : QA_TIF_DAY;
        set.record_blotter = !b->no_blotter;
        qa_sim_data d = {open, high, low, close, vol, sig, NULL, S, T, 250, T, NULL}; /* no bar times: the index is the clock */
        qa_sim_result r;
        /* correctness first: sleeve 0 against the vectorized reference (MOC cases) */
        if (qa_sim_run(&d, &set, &r) != QA_OK) {
            fprintf(stderr, "%s: %s\n", b->name, qa_err_msg());
            return 1;
        }
        if (b->conv == QA_RULES_VECTORIZED) {
            size_t L = T - 250;
            double *eq = malloc(L * sizeof *eq), worst = 0;
            qa_bt_rules vb;
            qa_rules_to_bt(&set.rules, &vb);
            vb.capital = 1e6;
            qa_bt_data bd = {close, high, low, vol, sig, S, T, 250, T};
            qa_bt_grid g = {b->strategy, &set.params, 1};
            qa_bt_trace tr = {0, 0, eq, NULL, NULL};
            if (qa_bt_trace_reference(&bd, &g, &vb, &tr, 1) != QA_OK) return 1;
            for (size_t j = 0; j < L; j++) worst = fmax(worst, fabs(r.sleeve[j] - eq[j]) / fabs(eq[j]));
            if (!(worst <= 1e-10)) {
                fprintf(stderr, "%s: sleeve 0 differs from the vectorized reference by %g\n", b->name, worst);
                failed = 1;
            }
            free(eq);
        }
        qa_sim_result_free(&r);
        double *ts = malloc((size_t)reps * sizeof *ts), *os = malloc((size_t)reps * sizeof *os);
        double *cs = malloc((size_t)reps * sizeof *cs);
        long long orders = 0, fills = 0, bars = 0;
        for (int k = 0; k < reps; k++) {
            uint64_t t0 = qa_time_ns();
            double c0 = cpu_s();
            if (qa_sim_run(&d, &set, &r) != QA_OK) return 1;
            double all = qa_time_since(t0);
            cs[k] = cpu_s() - c0;
            ts[k] = r.seconds; /* the bar loop */
            os[k] = all;       /* including setup, metrics and freeing nothing */
            orders = r.counts.orders, fills = r.counts.fills, bars = r.counts.bars;
            qa_sim_result_free(&r);
        }
        double loop = qa_bench_median(ts, reps), total = qa_bench_median(os, reps), cpu = qa_bench_median(cs, reps);
        qa_bench_result br = {b->name, "cpu-1t", size, loop, (double)bars, "symbol-bars", 72.0 * (double)bars, 0};
        qa_bench_report(&br);
        qa_bench_result bo = {b->name, "cpu-1t", size, loop, (double)orders, "orders", 0, 0};
        qa_bench_report(&bo);
        printf("# %s: %lld orders, %lld fills; whole qa_sim_run %.3f s wall, %.3f s CPU (loop %.3f s wall): "
               "%.3g symbol-bars and %.3g orders per CPU-second\n",
               b->name, orders, fills, total, cpu, loop, (double)bars / cpu, (double)orders / cpu);
        free(cs);
        free(ts);
        free(os);
    }
    free(pan);
    return failed;
}
