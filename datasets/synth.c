/* Synthetic market generator: factor-model GBM with jumps and volatility regimes. */
#include "datasets/synth.h"

#include <math.h>    /* exp, log, sqrt */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* malloc */
#include <string.h>  /* memset */

#include "common/log.h"          /* summary */
#include "common/mem.h"
#include "common/philox.h"       /* counter-based random numbers */
#include "common/progress.h"     /* bars/s */
#include "common/timer.h"        /* elapsed */
#include "datasets/store.h"      /* output file */
#include "common/timeparse.h"  /* start date */

/* Philox streams: one per purpose, so adding a purpose never shifts another's numbers. */
enum {
    STREAM_LOADINGS = 1, /* per-symbol parameters: betas, vol, drift, volume scale */
    STREAM_REGIME = 2,   /* per-bar regime switching uniforms */
    STREAM_FACTOR = 3,   /* factor shocks: index t*K + k */
    STREAM_IDIO = 4,     /* idiosyncratic shocks: index s*T + t */
    STREAM_JUMP_U = 5,   /* jump occurrence uniforms: index s*T + t */
    STREAM_JUMP_Z = 6,   /* jump sizes */
    STREAM_BAR = 7,      /* intrabar shape (open gap, high/low excursions, volume noise): 4 per bar */
};

#define F(key, type, member, lo, hi, doc) {key, type, offsetof(qa_synth_cfg, member), lo, hi, NULL, NULL, 0, doc}
const qa_cfg_field qa_synth_schema[] = {
    F("output", QA_CFG_T_STRING, output, 0, 0, "output market file"),
    F("symbols", QA_CFG_T_INT, symbols, 1, 10000000, "number of assets"),
    F("bars", QA_CFG_T_INT, bars, 2, 1000000000, "number of bars"),
    F("seed", QA_CFG_T_INT, seed, 0, 9.2e18, "random seed"),
    F("bar_seconds", QA_CFG_T_INT, bar_seconds, 1, 86400, "86400 for daily bars, else intraday bar length"),
    F("start", QA_CFG_T_STRING, start, 0, 0, "first session date YYYY-MM-DD"),
    F("factors", QA_CFG_T_INT, factors, 1, 64, "common factors (the first is the market)"),
    F("drift", QA_CFG_T_DOUBLE, drift, -1, 1, "mean annual drift"),
    F("vol", QA_CFG_T_DOUBLE, vol, 0.001, 5, "mean annual volatility"),
    F("market_share", QA_CFG_T_DOUBLE, market_share, 0, 0.99, "share of variance from the factors"),
    F("jump_rate", QA_CFG_T_DOUBLE, jump_rate, 0, 1000, "jumps per asset per year"),
    F("jump_mean", QA_CFG_T_DOUBLE, jump_mean, -1, 1, "mean log jump"),
    F("jump_vol", QA_CFG_T_DOUBLE, jump_vol, 0, 2, "std of log jumps"),
    F("stress_vol_mult", QA_CFG_T_DOUBLE, stress_vol_mult, 1, 20, "vol multiplier when stressed"),
    F("p_enter_stress", QA_CFG_T_DOUBLE, p_enter_stress, 0, 1, "per-bar calm->stressed probability"),
    F("p_exit_stress", QA_CFG_T_DOUBLE, p_exit_stress, 0, 1, "per-bar stressed->calm probability"),
    F("volume_mean", QA_CFG_T_DOUBLE, volume_mean, 1, 1e15, "mean shares per bar"),
    F("deflate", QA_CFG_T_INT, deflate, 0, 9, "HDF5 deflate level"),
    {NULL},
};
#undef F

void qa_synth_cfg_default(qa_synth_cfg *c) {
    memset(c, 0, sizeof *c);
    c->output = "synthetic.h5";
    c->symbols = 100;
    c->bars = 2520;
    c->seed = 42;
    c->bar_seconds = 86400;
    c->start = "2000-01-03";
    c->factors = 3;
    c->drift = 0.06;
    c->vol = 0.25;
    c->market_share = 0.4;
    c->jump_rate = 0.5;
    c->jump_mean = -0.02;
    c->jump_vol = 0.06;
    c->stress_vol_mult = 2.5;
    c->p_enter_stress = 0.004;
    c->p_exit_stress = 0.03;
    c->volume_mean = 1e6;
    c->deflate = 1;
}

double qa_synth_bars_per_year(long long bar_seconds) {
    if (bar_seconds >= 86400) return 252.0;
    return 252.0 * (23400.0 / (double)bar_seconds);
}

/* Session timestamps: weekdays from `start`; daily bars at 00:00 UTC of the date,
 * intraday bars from 14:30 UTC (09:30 New York standard time) for 6.5 hours. The grid is
 * produced in blocks (grid_next) so that no O(bars) array is ever held. */
typedef struct grid_gen {
    int64_t d;          /* day index (days since 1970-01-01) of the next bar */
    long long k;        /* bar of that day */
    long long per_day;  /* bars per session */
    size_t t;           /* bars produced so far */
} grid_gen;

static qa_status grid_start(const qa_synth_cfg *c, grid_gen *g) {
    qa_tzone utc;
    qa_tzone_parse("UTC", &utc);
    int64_t day;
    if (!qa_time_parse(c->start, QA_TIME_ISO, &utc, &day) || strlen(c->start) != 10)
        return QA_FAIL(QA_ERR_CONFIG, "start: '%s' is not a YYYY-MM-DD date%s", c->start, qa_time_parse_why());
    g->per_day = c->bar_seconds >= 86400 ? 1 : 23400 / c->bar_seconds;
    if (g->per_day < 1) g->per_day = 1;
    g->d = day / (86400LL * 1000000000LL);
    g->k = 0;
    g->t = 0;
    return QA_OK;
}

/* The next n timestamps into out (NULL: only advances, a day at a time). */
static qa_status grid_next(const qa_synth_cfg *c, grid_gen *g, size_t n, int64_t *out) {
    const int64_t ns_day = 86400LL * 1000000000LL;
    size_t i = 0;
    while (i < n) {
        if (g->k == 0) { /* a new day: skip to the next weekday */
            for (;;) {
                if (g->d >= INT64_MAX / ns_day) /* the next day's times do not fit int64 nanoseconds */
                    return QA_FAIL(QA_ERR_CONFIG, "%lld bars from %s run past 2262-04-11, the last time int64 "
                                                  "nanoseconds can hold (%zu bars fit)", (long long)c->bars, c->start, g->t);
                int64_t dow = ((g->d % 7) + 7 + 3) % 7; /* 1970-01-01 was a Thursday: 0 = Monday */
                if (dow < 5) break;
                g->d++;
            }
        }
        size_t m = (size_t)(g->per_day - g->k);
        if (m > n - i) m = n - i;
        if (out) {
            int64_t base = g->d * ns_day;
            for (size_t j = 0; j < m; j++) {
                long long k = g->k + (long long)j;
                out[i + j] = c->bar_seconds >= 86400 ? base
                                                     : base + (14LL * 3600 + 1800) * 1000000000LL +
                                                           k * c->bar_seconds * 1000000000LL;
            }
        }
        i += m;
        g->t += m;
        g->k += (long long)m;
        if (g->k == g->per_day) {
            g->k = 0;
            g->d++;
        }
    }
    return QA_OK;
}

typedef struct sym_params {
    double beta[64];
    double sigma;     /* per-bar total volatility in the calm regime */
    double mu;        /* per-bar drift of log price */
    double idio;      /* idiosyncratic loading */
    double vol_scale; /* mean volume */
    double p0;        /* initial price */
} sym_params;

static void symbol_params(const qa_synth_cfg *c, uint64_t s, double dt, sym_params *p) {
    uint64_t seed = (uint64_t)c->seed, base = s * 16;
    double u_vol = qa_rng_uniform(seed, STREAM_LOADINGS, base + 0);
    double u_mu = qa_rng_uniform(seed, STREAM_LOADINGS, base + 1);
    double u_beta = qa_rng_uniform(seed, STREAM_LOADINGS, base + 2);
    double u_v = qa_rng_uniform(seed, STREAM_LOADINGS, base + 3);
    double u_p = qa_rng_uniform(seed, STREAM_LOADINGS, base + 4);
    double ann_vol = c->vol * (0.6 + 0.8 * u_vol);
    p->sigma = ann_vol * sqrt(dt);
    p->mu = (c->drift + 0.08 * (u_mu - 0.5)) * dt - 0.5 * p->sigma * p->sigma;
    /* Factor loadings: market beta in [0.5, 1.5], sector/style factors N(0, 0.5);
     * normalised so that the factors explain `market_share` of the variance. */
    double norm = 0;
    for (long long k = 0; k < c->factors; k++) {
        double b = k == 0 ? 0.5 + u_beta : 0.5 * qa_rng_normal(seed, STREAM_LOADINGS, base + 5 + (uint64_t)k);
        p->beta[k] = b;
        norm += b * b;
    }
    double scale = norm > 0 ? sqrt(c->market_share / norm) : 0;
    for (long long k = 0; k < c->factors; k++) p->beta[k] *= scale;
    p->idio = sqrt(1.0 - c->market_share);
    p->vol_scale = c->volume_mean * exp(1.5 * qa_rng_normal(seed, STREAM_LOADINGS, base + 15) - 1.125) * (0.5 + u_v);
    p->p0 = 10.0 + 190.0 * u_p;
}

qa_status qa_synth_run(const qa_synth_cfg *c, const qa_comm_t *comm, double *seconds) {
    uint64_t t0 = qa_time_ns();
    qa_status st = QA_OK;
    size_t S = (size_t)c->symbols, T = (size_t)c->bars, K = (size_t)c->factors;
    int rank = qa_comm_rank(comm), size = qa_comm_size(comm);
    /* Memory is O(block + symbols), never O(bars): the time grid and the regime path are
     * produced a time block at a time (the regime path again for every symbol group). */
    const size_t G = 64, TB = 2048;
    /* Refused before anything is allocated: one block of bars, the factor shocks and the
     * grid block, HDF5's chunk buffers (two compressed chunks of 64 x 2048 doubles), and
     * per symbol its name (24 + 8 bytes here, 32 + 8 + 16 in the store). */
    double need = (double)(5 * G * TB + TB * K) * sizeof(double) + (double)TB * 9 + (double)(2 * G * TB * sizeof(double)) +
                  (double)S * 88;
    uint64_t avail = qa_mem_available();
    qa_status pre = QA_OK;
    if (avail && need > (double)avail) {
        char a[32], b[32];
        pre = QA_FAIL(QA_ERR_LIMIT,
                       "data generate: %zu symbols x %zu bars need an estimated %s of memory (a block of %zu symbols x "
                       "%zu bars x 5 fields per rank, 88 bytes per symbol), more than the %s available",
                       S, T, qa_mem_format((uint64_t)need, a, sizeof a), G, TB, qa_mem_format(avail, b, sizeof b));
    }
    if ((pre = qa_comm_agree(comm, pre)) != QA_OK) return pre; /* every rank refuses alike */
    int64_t *grid = malloc(TB * sizeof *grid);
    char **names = NULL, *namebuf = NULL;
    uint8_t *regime = malloc(TB);
    double *factor = NULL, *block = NULL, *last_close = NULL;
    grid_gen gen;
    sym_params *params = NULL;
    qa_store_t *store = NULL;
    qa_progress_t *prog = NULL;
    if (!grid || !regime) QA_TRY_FAIL(QA_ERR_NOMEM, "grid");
    if (c->factors > 64) QA_TRY_FAIL(QA_ERR_CONFIG, "factors: at most 64");
    QA_TRY(grid_start(c, &gen));
    QA_TRY(grid_next(c, &gen, T, NULL)); /* a grid past 2262 is refused before the file exists */
    names = malloc(S * sizeof *names);
    namebuf = malloc(S * 24);
    if (!names || !namebuf) QA_TRY_FAIL(QA_ERR_NOMEM, "symbols");
    for (size_t s = 0; s < S; s++) {
        names[s] = namebuf + s * 24;
        snprintf(names[s], 24, "SYN%05zu", s);
    }
    double dt = 1.0 / qa_synth_bars_per_year(c->bar_seconds);
    qa_store_meta meta = {0};
    snprintf(meta.frequency, sizeof meta.frequency, c->bar_seconds >= 86400 ? "1d" : "%llds", c->bar_seconds);
    meta.bar_seconds = c->bar_seconds;
    meta.bars_per_year = qa_synth_bars_per_year(c->bar_seconds);
    snprintf(meta.calendar, sizeof meta.calendar, "weekdays");
    snprintf(meta.currency, sizeof meta.currency, "USD");
    snprintf(meta.adjustment, sizeof meta.adjustment, "none (synthetic)");
    snprintf(meta.source, sizeof meta.source,
             "synthetic: seed %lld, %lld factors, vol %.3g, jumps %.3g/yr, regimes x%.3g (qa data generate)", c->seed,
             c->factors, c->vol, c->jump_rate, c->stress_vol_mult);
    meta.deflate_level = (int)c->deflate;
    QA_TRY(qa_store_create(c->output, comm, &meta, S, (const char *const *)names, T, NULL, &store));
    QA_TRY(qa_store_attr_set_i64(store, "/", "synthetic_seed", c->seed));
    QA_TRY(grid_start(c, &gen));
    for (size_t tb = 0; tb < T; tb += TB) {
        size_t nt = T - tb < TB ? T - tb : TB;
        QA_TRY(grid_next(c, &gen, nt, grid));
        QA_TRY(qa_store_write_time(store, tb, nt, grid));
    }

    /* Work plan: symbol groups of 64 (chunk rows) round-robin over ranks, and time blocks
     * of 2048 (chunk columns); every rank performs the same number of collective writes. */
    size_t ngroups = (S + G - 1) / G, rounds = (ngroups + (size_t)size - 1) / (size_t)size;
    block = malloc(5 * G * TB * sizeof *block);
    factor = malloc(TB * K * sizeof *factor);
    last_close = malloc(G * sizeof *last_close);
    params = malloc(G * sizeof *params);
    if (!block || !factor || !last_close || !params) QA_TRY_FAIL(QA_ERR_NOMEM, "generator buffers");
    if (rank == 0) QA_TRY(qa_progress_create("generate", (uint64_t)S * T, "bars", QA_PROGRESS_AUTO, NULL, &prog));
    uint64_t seed = (uint64_t)c->seed;
    double jump_p = c->jump_rate * dt;
    for (size_t r = 0; r < rounds; r++) {
        size_t g = r * (size_t)size + (size_t)rank;
        size_t s0 = g < ngroups ? g * G : 0, ns = g < ngroups ? (S - s0 < G ? S - s0 : G) : 0;
        for (size_t i = 0; i < ns; i++) {
            symbol_params(c, s0 + i, dt, &params[i]);
            last_close[i] = params[i].p0;
        }
        /* The regime path is common to all assets: a Markov chain every rank walks alike,
         * block by block (T uniforms per group: 1/64 of a bar's draws per symbol). */
        uint8_t state = 0;
        for (size_t tb = 0; tb < T; tb += TB) {
            size_t nt = T - tb < TB ? T - tb : TB;
            for (size_t t = 0; t < nt; t++) {
                double u = qa_rng_uniform((uint64_t)c->seed, STREAM_REGIME, tb + t);
                if (state == 0 && u < c->p_enter_stress) state = 1;
                else if (state == 1 && u < c->p_exit_stress) state = 0;
                regime[t] = state;
            }
            for (size_t t = 0; t < nt; t++)
                for (size_t k = 0; k < K; k++) factor[t * K + k] = qa_rng_normal(seed, STREAM_FACTOR, (tb + t) * K + k);
            double *O = block, *H = block + G * TB, *L = block + 2 * G * TB, *C = block + 3 * G * TB, *V = block + 4 * G * TB;
#pragma omp parallel for schedule(static)
            for (long long ii = 0; ii < (long long)ns; ii++) {
                size_t i = (size_t)ii;
                const sym_params *p = &params[i];
                uint64_t sym = s0 + i;
                double prev = last_close[i];
                for (size_t t = 0; t < nt; t++) {
                    size_t gt = tb + t;
                    uint64_t idx = sym * (uint64_t)T + gt;
                    double m = regime[t] ? c->stress_vol_mult : 1.0;
                    double z = p->idio * qa_rng_normal(seed, STREAM_IDIO, idx);
                    for (size_t k = 0; k < K; k++) z += p->beta[k] * factor[t * K + k];
                    double lr = p->mu + p->sigma * m * z;
                    if (qa_rng_uniform(seed, STREAM_JUMP_U, idx) < jump_p)
                        lr += c->jump_mean + c->jump_vol * qa_rng_normal(seed, STREAM_JUMP_Z, idx);
                    double close = prev * exp(lr);
                    /* Intrabar shape: an opening gap worth a quarter of the bar's variance,
                     * high/low excursions beyond the open-close range, volume rising with
                     * the size of the move and with stress. */
                    uint64_t b4 = idx * 4;
                    double sd = p->sigma * m;
                    double open = prev * exp(0.5 * sd * qa_rng_normal(seed, STREAM_BAR, b4));
                    double up = fabs(qa_rng_normal(seed, STREAM_BAR, b4 + 1)) * 0.5 * sd;
                    double dn = fabs(qa_rng_normal(seed, STREAM_BAR, b4 + 2)) * 0.5 * sd;
                    double hi = fmax(open, close) * exp(up), lo = fmin(open, close) * exp(-dn);
                    double vol = p->vol_scale * m * (1.0 + 3.0 * fabs(lr) / (p->sigma > 0 ? p->sigma : 1)) *
                                 exp(0.3 * qa_rng_normal(seed, STREAM_BAR, b4 + 3) - 0.045);
                    O[i * TB + t] = open;
                    H[i * TB + t] = hi;
                    L[i * TB + t] = lo;
                    C[i * TB + t] = close;
                    V[i * TB + t] = floor(vol);
                    prev = close;
                }
                last_close[i] = prev;
            }
            /* Write each field's block (ns rows of nt values, packed from stride TB). */
            for (int f = 0; f < 5; f++) {
                double *src = block + (size_t)f * G * TB;
                if (nt != TB)
                    for (size_t i = 0; i < ns; i++) memmove(src + i * nt, src + i * TB, nt * sizeof *src);
                QA_TRY(qa_store_write(store, qa_bar_field_path((qa_bar_field)f), s0, ns, tb, ns ? nt : 0, src));
            }
            qa_progress_add(prog, (uint64_t)ns * nt * (uint64_t)size);
        }
    }
    qa_progress_finish(prog);
    st = qa_store_commit(store);
    store = NULL;
cleanup:
    st = qa_comm_agree(comm, st);
    qa_store_close(store);
    qa_progress_free(prog);
    QA_FREE_ALL(grid, regime, names, namebuf, factor, block, last_close, params);
    if (seconds) *seconds = qa_time_since(t0);
    return st;
}
