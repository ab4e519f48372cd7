/* One table of every kernel op, run on every backend against the reference (in the
 * spirit of ggml's test-backend-ops).
 *
 *   test_backend_ops cpu [--perf] [--op SUBSTRING]   optimised CPU (and the host replays
 *                                                    of CUDA code) vs the reference
 *   test_backend_ops gpu [--perf] [--op SUBSTRING]   CUDA vs the reference (exit 77
 *                                                    without a usable GPU)
 *
 * Each row names the op, builds its inputs from a fixed Philox seed (sizes that are not
 * multiples of a block or vector width, NaN gaps where the data can have them), runs it
 * through the public API on a backend, brings the outputs back as doubles, and compares
 * them with the reference backend's under the row's error budget
 * |x - ref| <= atol + rtol |ref| (NaN and Inf must match exactly); the budget's reason is
 * printed with the result. --perf times every backend (median of 5 after a warm-up) and
 * prints items/s, GB/s and GFLOP/s against the row's model of bytes moved and floating-
 * point operations (the op's own calls only: inputs, copies and checks are outside the
 * clock), with a JSON line per measurement. Op-specific edge cases live in the
 * op's own test (test_<op>.c); this table is the one place where every op meets every
 * backend. */
#include <assert.h> /* static_assert */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/philox.h"   /* inputs */
#include "common/timer.h"    /* --perf */
#include "kernel_test.h"     /* harness, modes, GPU skip */
#include "kernels/backtest.h"
#include "kernels/features.h"
#include "kernels/nn.h"
#include "kernels/nn_lstm.h"
#include "kernels/reduce_impl.h" /* the host replay of the CUDA reduction order */
#include "kernels/risk.h"
#include "kernels/rng.h"

#define SEED 20261206ULL

/* ---- backend memory ---------------------------------------------------------------------- */

/* Backend copies of host arrays for one run, freed together. */
typedef struct arena {
    qa_backend_t *be;
    qa_buf bufs[32];
    int n;
} arena;

static void *dev(arena *a, const void *host, size_t bytes) {
    if (qa_backend_kind_of(a->be) == QA_BACKEND_CPU && host) return (void *)host;
    qa_buf *b = &a->bufs[a->n++];
    if (qa_buf_alloc(a->be, bytes ? bytes : 8, b) != QA_OK) return NULL;
    if (host && bytes && qa_buf_upload(a->be, b, 0, host, bytes) != QA_OK) return NULL;
    return b->ptr;
}

/* A writable backend array of `bytes` (host memory on the CPU). */
static void *dev_out(arena *a, size_t bytes) {
    qa_buf *b = &a->bufs[a->n++];
    if (qa_buf_alloc(a->be, bytes ? bytes : 8, b) != QA_OK) return NULL;
    return b->ptr;
}

static qa_status fetch(arena *a, void *host, const void *ptr, size_t bytes) {
    qa_buf b = {(void *)ptr, bytes, qa_backend_kind_of(a->be)};
    return qa_buf_download(a->be, host, &b, 0, bytes);
}

static void arena_free(arena *a) {
    qa_backend_sync(a->be);
    for (int i = 0; i < a->n; i++) qa_buf_free(&a->bufs[i]);
    a->n = 0;
}

/* Seconds the last run spent in its kernel calls (inputs, copies and checks excluded):
 * every run wraps its kernel calls in TIMED, which syncs the backend before stopping the
 * clock, so --perf reports the op, not the test's scaffolding. */
static double g_kernel_s;
#define TIMED(be, expr)                                                      \
    do {                                                                     \
        uint64_t t0_ = qa_time_ns();                                         \
        st = (expr);                                                         \
        if (st == QA_OK) st = qa_backend_sync(be);                           \
        g_kernel_s += qa_time_since(t0_);                                    \
    } while (0)

static double *randn(size_t n, uint64_t stream, double sd) {
    double *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = sd * qa_rng_normal(SEED, stream, i);
    return x;
}

static float *randnf(size_t n, uint64_t stream, double sd) {
    float *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(sd * qa_rng_normal(SEED, stream, i));
    return x;
}

/* S x T OHLCV panels of random walks around 100 with ~2% gaps (NaN). */
typedef struct panels {
    size_t S, T;
    double *open, *high, *low, *close, *volume, *signal;
} panels;

static panels make_panels(size_t S, size_t T) {
    panels p = {S, T, NULL, NULL, NULL, NULL, NULL, NULL};
    size_t n = S * T;
    double *blk = malloc(6 * n * sizeof *blk);
    p.open = blk, p.high = blk + n, p.low = blk + 2 * n, p.close = blk + 3 * n, p.volume = blk + 4 * n;
    p.signal = blk + 5 * n;
    for (size_t s = 0; s < S; s++) {
        double px = 100.0 * exp(0.3 * qa_rng_normal(SEED, 900, s));
        for (size_t t = 0; t < T; t++) {
            size_t i = s * T + t;
            px *= exp(0.015 * qa_rng_normal(SEED, 901, i));
            int gap = qa_rng_uniform(SEED, 902, i) < 0.02;
            double wig = 0.01 * fabs(qa_rng_normal(SEED, 903, i));
            p.close[i] = gap ? NAN : px;
            p.open[i] = gap ? NAN : px * (1.0 + 0.3 * wig);
            p.high[i] = gap ? NAN : px * (1.0 + wig);
            p.low[i] = gap ? NAN : px * (1.0 - wig);
            p.volume[i] = gap ? NAN : 1e6 * exp(0.5 * qa_rng_normal(SEED, 904, i));
            p.signal[i] = gap ? NAN : qa_rng_normal(SEED, 905, i);
        }
    }
    return p;
}

static void panels_free(panels *p) { free(p->open); }

/* ---- the table ----------------------------------------------------------------------------- */

/* Runs the op on a->be, its backend arrays in `a` (the caller frees them), into out (host
 * doubles, room for MAX_OUT); *n gets the count. */
typedef qa_status (*run_fn)(arena *a, const void *arg, double *out, size_t *n);

typedef struct op {
    char name[64];
    run_fn run;
    const void *arg;
    double atol, rtol;
    const char *why;    /* the budget's reason */
    double items;       /* work items per run (for items/s) */
    const char *unit;
    double bytes, flops;  /* model per run */
    run_fn host_replay; /* the CUDA kernels' arithmetic on the host (or NULL) */
} op;

#define MAX_OPS 64
#define MAX_OUT (1u << 22)

/* ---- rng ---- */

enum { RNG_N = 1000003 };
static_assert(RNG_N <= MAX_OUT, "rng: the output must fit the run's buffer");

static qa_status run_rng(arena *a, const void *arg, double *out, size_t *n) {
    const qa_rng_dist dist = (qa_rng_dist)(intptr_t)arg;
    const size_t N = RNG_N;
    size_t esz = qa_rng_elem_size(dist);
    void *d = dev_out(a, N * esz), *h = malloc(N * esz);
    qa_status st = d && h ? QA_OK : QA_FAIL(QA_ERR_NOMEM, "rng");
    if (st == QA_OK) TIMED(a->be, qa_rng_fill(a->be, dist, SEED, 7, 12345, N, d));
    if (st == QA_OK) st = fetch(a, h, d, N * esz);
    for (size_t i = 0; st == QA_OK && i < N; i++)
        out[i] = dist == QA_RNG_U32 ? (double)((uint32_t *)h)[i]
                 : dist == QA_RNG_UNIFORM_F32 ? (double)((float *)h)[i]
                                              : ((double *)h)[i];
    *n = N;
    free(h);
    return st;
}

/* ---- reduce ---- */

enum { RED_ROWS = 37, RED_COLS = 65539 };

static double *reduce_input(void) {
    double *x = randn((size_t)RED_ROWS * RED_COLS, 50, 3.0);
    for (size_t i = 0; i < (size_t)RED_ROWS * RED_COLS; i++) {
        x[i] += 100.0;
        if (qa_rng_uniform(SEED, 51, i) < 0.03) x[i] = NAN;
    }
    return x;
}

static void moments_out(const qa_moments *m, size_t rows, double *out) {
    for (size_t r = 0; r < rows; r++) {
        double v[6] = {(double)m[r].count, m[r].sum, m[r].mean, m[r].m2, m[r].min, m[r].max};
        memcpy(out + 6 * r, v, sizeof v);
    }
}

static qa_status run_reduce(arena *a, const void *arg, double *out, size_t *n) {
    (void)arg;
    double *x = reduce_input();
    qa_moments m[RED_ROWS];
    const double *d = dev(a, x, sizeof(double) * RED_ROWS * RED_COLS);
    qa_status st = d ? QA_OK : QA_FAIL(QA_ERR_NOMEM, "reduce");
    if (st == QA_OK) TIMED(a->be, qa_reduce_moments(a->be, d, RED_ROWS, RED_COLS, m));
    if (st == QA_OK) moments_out(m, RED_ROWS, out);
    *n = 6 * RED_ROWS;
    free(x);
    return st;
}

static qa_status replay_reduce(arena *a, const void *arg, double *out, size_t *n) {
    (void)a, (void)arg;
    double *x = reduce_input();
    qa_moments m[RED_ROWS];
    qa_reduce_moments_gpu_order(x, RED_ROWS, RED_COLS, m);
    moments_out(m, RED_ROWS, out);
    *n = 6 * RED_ROWS;
    free(x);
    return QA_OK;
}

/* ---- features ---- */

enum { FEAT_S = 61, FEAT_T = 1531 };
static_assert((size_t)FEAT_S * FEAT_T <= MAX_OUT, "features: the output must fit the run's buffer");

static qa_status run_feature(arena *a, const void *arg, double *out, size_t *n) {
    const qa_feat_spec *spec = arg;
    panels p = make_panels(FEAT_S, FEAT_T);
    const size_t N = (size_t)FEAT_S * FEAT_T;
    const double *host[QA_FEAT_BAR_FIELDS] = {p.open, p.high, p.low, p.close, p.volume};
    qa_feat_panel in = {{NULL}, FEAT_S, FEAT_T, 0};
    for (int f = 0; f < QA_FEAT_BAR_FIELDS; f++) in.field[f] = dev(a, host[f], N * sizeof(double));
    double *o = dev_out(a, N * sizeof(double));
    qa_feat_state_t *state = NULL;
    qa_status st = qa_feat_state_create(a->be, spec, FEAT_S, &state);
    /* two time blocks: the carried state is part of what is compared */
    qa_feat_panel b1 = in, b2 = in;
    b1.nbar = 700, b1.ld = FEAT_T;
    b2.nbar = FEAT_T - 700, b2.ld = FEAT_T;
    for (int f = 0; f < QA_FEAT_BAR_FIELDS; f++) b2.field[f] = in.field[f] + 700;
    if (st == QA_OK) TIMED(a->be, qa_feat_compute(a->be, spec, &b1, state, o, FEAT_T));
    if (st == QA_OK) TIMED(a->be, qa_feat_compute(a->be, spec, &b2, state, o + 700, FEAT_T));
    if (st == QA_OK) st = fetch(a, out, o, N * sizeof(double));
    *n = N;
    qa_feat_state_free(state);
    panels_free(&p);
    return st;
}

/* ---- backtests ---- */

enum { BT_S = 19, BT_T = 1777 };

typedef struct bt_case {
    int kind; /* 0 grid, 1 portfolio, 2 xs_topk */
    qa_bt_strategy strategy;
    int rules;  /* 1: stops, long-only, vol target, every cost */
} bt_case;

static void bt_params(qa_bt_strategy s, qa_bt_params *p, size_t *np) {
    size_t k = 0;
    if (s == QA_BT_SMA_CROSS || s == QA_BT_EMA_CROSS) {
        for (int f = 3; f <= 23; f += 4)
            for (int l = 30; l <= 150; l += 24) p[k++] = (qa_bt_params){{f, l, 0, 0, 0, 0, 0, 0}};
    } else if (s == QA_BT_ZSCORE) {
        for (int w = 10; w <= 70; w += 12)
            for (double e = 1.0; e <= 2.6; e += 0.4) p[k++] = (qa_bt_params){{w, e, 0.3, 0, 0, 0, 0, 0}};
    } else { /* donchian */
        for (int w = 5; w <= 60; w += 5) {
            const int half = w / 2; /* the slow window: an integer number of bars */
            p[k++] = (qa_bt_params){{w, half, 0, 0, 0, 0, 0, 0}};
        }
    }
    *np = k;
}

static void metrics_out(const qa_bt_metrics *m, size_t n, double *out) {
    for (size_t i = 0; i < n; i++) {
        double v[13] = {m[i].total_return, m[i].cagr,     m[i].ann_vol,  m[i].sharpe,         m[i].sortino,
                        m[i].max_drawdown, m[i].calmar,   m[i].hit_rate, m[i].turnover,       m[i].exposure,
                        (double)m[i].bars, (double)m[i].max_dd_duration, (double)m[i].trades};
        memcpy(out + 13 * i, v, sizeof v);
    }
}

static qa_status run_backtest(arena *a, const void *arg, double *out, size_t *n) {
    const bt_case *c = arg;
    panels p = make_panels(BT_S, BT_T);
    const size_t N = (size_t)BT_S * BT_T;
    qa_bt_data d = {dev(a, p.close, N * 8), dev(a, p.high, N * 8), dev(a, p.low, N * 8),
                    dev(a, p.volume, N * 8), dev(a, p.signal, N * 8), BT_S, BT_T, 400, BT_T};
    qa_bt_params prm[64];
    size_t np = 0;
    bt_params(c->strategy, prm, &np);
    qa_bt_grid g = {c->strategy, prm, np};
    qa_bt_rules r = qa_test_bt_rules();
    r.commission_bps = 1.0, r.half_spread_bps = 2.0;
    if (c->rules) {
        r.direction = QA_BT_LONG_ONLY, r.stop_loss = 0.06, r.take_profit = 0.2, r.sizing = QA_BT_SIZE_VOL_TARGET;
        r.vol_window = 30, r.fixed_cost = 1.0, r.capital = 1e6, r.impact_coef = 0.1, r.adv_window = 15;
        r.impact_vol_window = 25;
    }
    qa_bt_metrics *m = calloc(BT_S * 64, sizeof *m);
    qa_status st = QA_OK;
    if (c->kind == 0) {
        TIMED(a->be, qa_bt_run(a->be, &d, &g, &r, m, NULL, 0));
        *n = 13 * BT_S * np;
        if (st == QA_OK) metrics_out(m, BT_S * np, out);
    } else if (c->kind == 1) {
        qa_bt_portfolio_opts po = {QA_BT_WEIGHT_INV_VOL, 60};
        TIMED(a->be, qa_bt_portfolio(a->be, &d, &g, &r, &po, m, NULL));
        *n = 13 * np;
        if (st == QA_OK) metrics_out(m, np, out);
    } else {
        qa_bt_xs_settings xs = {3, 3, 0.5, 0.5, 3.0, 252.0};
        double *eq = malloc((BT_T - 400) * sizeof *eq);
        TIMED(a->be, qa_bt_xs_topk(a->be, &d, &xs, m, eq));
        *n = 13 + (BT_T - 400);
        if (st == QA_OK) {
            metrics_out(m, 1, out);
            memcpy(out + 13, eq, (BT_T - 400) * sizeof *eq);
        }
        free(eq);
    }
    free(m);
    panels_free(&p);
    return st;
}

/* ---- nn ---- */

typedef struct nn_case {
    int kind; /* 0 linear, 1 gelu, 2 layernorm, 3 mse loss+grad, 4 cross-entropy, 5 adamw, 6 lstm fwd, 7 lstm bwd */
} nn_case;

enum { NN_B = 203, NN_IN = 97, NN_OUT = 130 };

static qa_status floats_out(arena *a, const float *d, size_t n, double *out) {
    float *h = malloc((n ? n : 1) * sizeof *h);
    qa_status st = fetch(a, h, d, n * sizeof *h);
    for (size_t i = 0; st == QA_OK && i < n; i++) out[i] = h[i];
    free(h);
    return st;
}

static qa_status run_lstm(qa_nn_ctx_t *ctx, arena *a, int backward, double *out, size_t *n) {
    qa_nn_lstm_shape sh = {37, 13, 7, 24, 2};
    size_t np = qa_nn_lstm_param_count(&sh), nx = (size_t)sh.batch * sh.seq_len * sh.input;
    float *p = randnf(np, 60, 0.2), *x = randnf(nx, 61, 1.0), *dh = randnf((size_t)sh.batch * sh.hidden, 62, 1.0);
    const float *dp = dev(a, p, np * 4), *dx = dev(a, x, nx * 4), *ddh = dev(a, dh, (size_t)sh.batch * sh.hidden * 4);
    float *h = dev_out(a, (size_t)sh.batch * sh.hidden * 4), *g = dev_out(a, np * 4);
    qa_nn_lstm_t *l = NULL;
    qa_status st = qa_nn_lstm_create(ctx, &sh, &l);
    if (st == QA_OK) TIMED(qa_nn_ctx_backend(ctx), qa_nn_lstm_forward(l, sh.batch, dp, dx, h, NULL));
    if (st == QA_OK && backward)
        TIMED(qa_nn_ctx_backend(ctx), qa_nn_lstm_backward(l, sh.batch, dp, dx, ddh, NULL, NULL, g, 0));
    if (st == QA_OK) st = backward ? floats_out(a, g, np, out) : floats_out(a, h, (size_t)sh.batch * sh.hidden, out);
    *n = backward ? np : (size_t)sh.batch * sh.hidden;
    qa_nn_lstm_free(l);
    free(p), free(x), free(dh);
    return st;
}

static qa_status run_nn(arena *a, const void *arg, double *out, size_t *n) {
    const nn_case *c = arg;
    qa_nn_ctx_t *ctx = NULL;
    qa_status st = qa_nn_ctx_create(a->be, &ctx);
    if (st != QA_OK) return st;
    const size_t nx = (size_t)NN_B * NN_IN, nw = (size_t)NN_OUT * NN_IN, ny = (size_t)NN_B * NN_OUT;
    float *x = randnf(nx, 70, 1.0), *w = randnf(nw, 71, 0.1), *b = randnf(NN_OUT, 72, 0.1);
    float *t = randnf(ny, 73, 1.0), *t2 = randnf(ny, 79, 1.0);
    const float *dx = dev(a, x, nx * 4), *dw = dev(a, w, nw * 4), *db = dev(a, b, NN_OUT * 4);
    const float *dt = dev(a, t, ny * 4), *dt2 = dev(a, t2, ny * 4);
    float *y = dev_out(a, ny * 4), *y2 = dev_out(a, ny * 4), *s1 = dev_out(a, NN_B * 4), *s2 = dev_out(a, NN_B * 4);
    float *loss = dev_out(a, 8);
    switch (c->kind) {
    case 0:
        TIMED(a->be, qa_nn_linear_forward(ctx, NN_B, NN_IN, NN_OUT, dx, dw, db, y));
        if (st == QA_OK) st = floats_out(a, y, ny, out);
        *n = ny;
        break;
    case 1: { /* GELU forward with dropout, then its gradient */
        qa_nn_dropout dr = {0.25f, 77, 3};
        TIMED(a->be, qa_nn_bias_act_forward(ctx, QA_NN_ACT_GELU, NN_B, NN_OUT, dt, db, &dr, y));
        if (st == QA_OK) TIMED(a->be, qa_nn_bias_act_backward(ctx, QA_NN_ACT_GELU, NN_B, NN_OUT, dt, db, &dr, dt, y2, NULL, 0));
        if (st == QA_OK) st = floats_out(a, y, ny, out);
        if (st == QA_OK) st = floats_out(a, y2, ny, out + ny);
        *n = 2 * ny;
        break;
    }
    case 2: {
        float *g = randnf(NN_OUT, 74, 1.0), *be_ = randnf(NN_OUT, 75, 0.5);
        const float *dg = dev(a, g, NN_OUT * 4), *dbe = dev(a, be_, NN_OUT * 4);
        TIMED(a->be, qa_nn_layernorm_forward(ctx, NN_B, NN_OUT, QA_NN_LAYERNORM_EPS, dt, dg, dbe, y, s1, s2));
        if (st == QA_OK) st = floats_out(a, y, ny, out);
        *n = ny;
        free(g), free(be_);
        break;
    }
    case 3:
        TIMED(a->be, qa_nn_loss_mse(ctx, ny, dt, dt2, loss, y));
        if (st == QA_OK) st = floats_out(a, loss, 1, out);
        if (st == QA_OK) st = floats_out(a, y, ny, out + 1);
        *n = 1 + ny;
        break;
    case 4: {
        int32_t *lab = malloc(NN_B * sizeof *lab);
        for (int r = 0; r < NN_B; r++) lab[r] = (int32_t)(qa_rng_u32(SEED, 76, (uint64_t)r) % NN_OUT);
        const int32_t *dlab = dev(a, lab, NN_B * 4);
        TIMED(a->be, qa_nn_loss_cross_entropy(ctx, NN_B, NN_OUT, dt, dlab, loss, y));
        if (st == QA_OK) st = floats_out(a, loss, 1, out);
        if (st == QA_OK) st = floats_out(a, y, ny, out + 1);
        *n = 1 + ny;
        free(lab);
        break;
    }
    case 5: { /* global norm + clipped AdamW, step 3 */
        float *m0 = randnf(nw, 77, 0.01), *v0 = randnf(nw, 78, 0.01);
        for (size_t i = 0; i < nw; i++) v0[i] = v0[i] * v0[i];
        float *pm = dev(a, w, nw * 4), *mm = dev(a, m0, nw * 4), *vv = dev(a, v0, nw * 4);
        if (qa_backend_kind_of(a->be) == QA_BACKEND_CPU) { /* the update is in place: work on copies */
            pm = memcpy(malloc(nw * 4), w, nw * 4), mm = memcpy(malloc(nw * 4), m0, nw * 4);
            vv = memcpy(malloc(nw * 4), v0, nw * 4);
        }
        qa_nn_adamw_cfg cfg = {1e-3, 0.9, 0.999, 1e-8, 0.01, 0.5};
        TIMED(a->be, qa_nn_grad_norm(ctx, nw, dx, loss));
        if (st == QA_OK) TIMED(a->be, qa_nn_adamw_update(ctx, &cfg, 3, nw, pm, dx, mm, vv, loss));
        if (st == QA_OK) st = floats_out(a, pm, nw, out);
        if (st == QA_OK) st = floats_out(a, vv, nw, out + nw);
        *n = 2 * nw;
        if (qa_backend_kind_of(a->be) == QA_BACKEND_CPU) free(pm), free(mm), free(vv);
        free(m0), free(v0);
        break;
    }
    default: st = run_lstm(ctx, a, c->kind == 7, out, n); break;
    }
    free(x), free(w), free(b), free(t), free(t2);
    qa_nn_ctx_free(ctx);
    return st;
}

/* ---- risk ---- */

typedef struct risk_case {
    int kind; /* 0 sample cov, 1 ewma, 2 ledoit-wolf, 3 cholesky, 4 normal scenarios, 5 student-t scenarios
                 through L, 6 linear P&L, 7 option P&L, 8 full-revaluation features (expm1), 9 delta-gamma
                 features */
} risk_case;

enum { RK_T = 509, RK_N = 23, RK_SC = 5003 };

static qa_status run_risk(arena *a, const void *arg, double *out, size_t *n) {
    const risk_case *c = arg;
    qa_risk_ctx_t *ctx = NULL;
    qa_status st = qa_risk_ctx_create(a->be, &ctx);
    if (st != QA_OK) return st;
    double *r = randn((size_t)RK_T * RK_N, 80, 0.01);
    for (size_t i = 0; i < (size_t)RK_T * RK_N; i++) r[i] += 0.004 * qa_rng_normal(SEED, 81, i / RK_N); /* a factor */
    const double *dr = dev(a, r, sizeof(double) * RK_T * RK_N);
    double *cov = dev_out(a, sizeof(double) * RK_N * RK_N), *l = dev_out(a, sizeof(double) * RK_N * RK_N);
    double *shocks = dev_out(a, sizeof(double) * RK_SC * RK_N), *pnl = dev_out(a, sizeof(double) * RK_SC);
    double delta = 0.0, jit = 0.0;
    const size_t nn = (size_t)RK_N * RK_N;
    switch (c->kind) {
    case 0: TIMED(a->be, qa_risk_cov_sample(ctx, dr, RK_T, RK_N, cov)); break;
    case 1: TIMED(a->be, qa_risk_cov_ewma(ctx, dr, RK_T, RK_N, 0.94, 1, cov)); break;
    case 2: TIMED(a->be, qa_risk_cov_ledoit_wolf(ctx, dr, RK_T, RK_N, QA_RISK_LW_CONSTANT_CORRELATION, cov, &delta)); break;
    default:
        st = qa_risk_cov_sample(ctx, dr, RK_T, RK_N, cov);
        if (st == QA_OK && c->kind == 3) TIMED(a->be, qa_risk_cholesky(ctx, cov, RK_N, 1e-6, l, &jit));
        else if (st == QA_OK) st = qa_risk_cholesky(ctx, cov, RK_N, 1e-6, l, &jit);
        break;
    }
    if (st == QA_OK && c->kind <= 2) {
        st = fetch(a, out, cov, nn * sizeof(double));
        out[nn] = delta;
        *n = nn + 1;
    } else if (st == QA_OK && c->kind == 3) {
        st = fetch(a, out, l, nn * sizeof(double));
        *n = nn;
    } else if (st == QA_OK) {
        qa_risk_mc mc = {SEED, 40, c->kind == 5 ? QA_RISK_DIST_STUDENT_T : QA_RISK_DIST_NORMAL, 6};
        if (c->kind <= 5) TIMED(a->be, qa_risk_scenarios(ctx, &mc, c->kind == 4 ? NULL : l, NULL, RK_N, 1000, RK_SC, shocks));
        else st = qa_risk_scenarios(ctx, &mc, l, NULL, RK_N, 1000, RK_SC, shocks);
        if (st == QA_OK && c->kind <= 5) {
            st = fetch(a, out, shocks, sizeof(double) * RK_SC * RK_N);
            *n = (size_t)RK_SC * RK_N;
        } else if (st == QA_OK && c->kind == 6) {
            double *w = randn(RK_N, 82, 1e5);
            const double *dw = dev(a, w, RK_N * sizeof(double));
            TIMED(a->be, qa_risk_pnl_linear(ctx, shocks, RK_SC, RK_N, dw, pnl));
            if (st == QA_OK) st = fetch(a, out, pnl, sizeof(double) * RK_SC);
            *n = RK_SC;
            free(w);
        } else if (st == QA_OK && c->kind >= 8) {
            qa_risk_reval mode = c->kind == 8 ? QA_RISK_REVAL_FULL : QA_RISK_REVAL_DELTA_GAMMA;
            size_t len = (size_t)RK_SC * qa_risk_reval_width(mode, RK_N);
            double *feat = dev_out(a, sizeof(double) * len);
            TIMED(a->be, qa_risk_reval_features(ctx, mode, shocks, RK_SC, RK_N, feat));
            if (st == QA_OK) st = fetch(a, out, feat, sizeof(double) * len);
            *n = len;
        } else if (st == QA_OK) {
            qa_risk_option opt[7];
            for (int q = 0; q < 7; q++)
                opt[q] = (qa_risk_option){q % 2 ? -3.0 : 2.0, 100.0, 80.0 + 7.0 * q, 0.05 + 0.3 * q, 0.2 + 0.02 * q,
                                          0.03, 0.01, q % 2 ? QA_RISK_PUT : QA_RISK_CALL, q, q == 3 ? 5 : -1, q == 4 ? 6 : -1};
            const qa_risk_option *dopt = dev(a, opt, sizeof opt);
            TIMED(a->be, qa_risk_pnl_options(ctx, shocks, RK_SC, RK_N, dopt, 7, 1.0 / 252.0, NULL, pnl));
            if (st == QA_OK) st = fetch(a, out, pnl, sizeof(double) * RK_SC);
            *n = RK_SC;
        }
    }
    free(r);
    qa_risk_ctx_free(ctx);
    return st;
}

/* ---- building the table --------------------------------------------------------------------- */

static op g_ops[MAX_OPS];
static int g_nops;

static op *add(const char *name, run_fn run, const void *arg, double atol, double rtol, const char *why) {
    op *o = &g_ops[g_nops++];
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", name);
    o->run = run, o->arg = arg, o->atol = atol, o->rtol = rtol, o->why = why, o->unit = "values";
    return o;
}

static void work(op *o, double items, const char *unit, double bytes, double flops) {
    o->items = items, o->unit = unit, o->bytes = bytes, o->flops = flops;
}

static qa_feat_spec g_feat[32];
static const bt_case g_bt[] = {{0, QA_BT_SMA_CROSS, 0}, {0, QA_BT_EMA_CROSS, 1}, {0, QA_BT_ZSCORE, 1},
                               {0, QA_BT_DONCHIAN, 0},  {1, QA_BT_SMA_CROSS, 1}, {2, QA_BT_SIGNAL, 0}};
static const nn_case g_nn[] = {{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}};
static const risk_case g_risk[] = {{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}};

static void build_table(void) {
    const char *rng_why = "every backend evaluates the same per-element Philox expressions (common/philox.h)";
    work(add("rng/u32", run_rng, (void *)(intptr_t)QA_RNG_U32, 0, 0, rng_why), 1000003, "numbers", 4e6, 0);
    work(add("rng/uniform", run_rng, (void *)(intptr_t)QA_RNG_UNIFORM, 0, 0, rng_why), 1000003, "numbers", 8e6, 0);
    /* normals: the CPU path's sin/cos of one pair and CUDA's libdevice differ by <= 1 ulp of
     * |z| < 9 */
    work(add("rng/normal", run_rng, (void *)(intptr_t)QA_RNG_NORMAL, 1e-14, 1e-14,
             "libm and libdevice log/sin/cos agree to 1-2 ulp; |z| < 9"),
         1000003, "numbers", 8e6, 20e6);
    op *red = add("reduce/moments", run_reduce, NULL, 1e-9, 1e-11,
                  "Welford + Chan tree vs two passes: ~n eps relative (sum, mean), m2 a difference of squares: 1e-9");
    work(red, (double)RED_ROWS * RED_COLS, "values", 8.0 * RED_ROWS * RED_COLS, 6.0 * RED_ROWS * RED_COLS);
    red->host_replay = replay_reduce;
    size_t nf = qa_feat_default_set(g_feat, 32);
    for (size_t i = 0; i < nf; i++) {
        char nm[48], full[64];
        qa_feat_spec_format(&g_feat[i], nm, sizeof nm);
        snprintf(full, sizeof full, "features/%s", nm);
        /* rolling sums slide and re-anchor (<= 6 w eps R); EMA/Wilder recurrences in another
         * association (1e-12); CUDA tiles restart scans (damped: 1e-11): docs/features.md */
        op *o = add(full, run_feature, &g_feat[i], 1e-8, 1e-8,
                    "rolling sums re-anchored, recurrences re-associated, GPU scans in tiles (docs/features.md)");
        work(o, (double)FEAT_S * FEAT_T, "symbol-bars", 8.0 * FEAT_S * FEAT_T * 3, 12.0 * FEAT_S * FEAT_T);
    }
    static const char *const bt_names[] = {"backtest/sma_cross", "backtest/ema_cross+rules", "backtest/zscore+rules",
                                           "backtest/donchian", "backtest/portfolio+rules", "backtest/xs_topk"};
    for (size_t i = 0; i < sizeof g_bt / sizeof g_bt[0]; i++) {
        op *o = add(bt_names[i], run_backtest, &g_bt[i], 1e-12, 1e-9,
                    "identical decisions (canonical order); P&L and moment sums in another order (docs/backtest.md)");
        work(o, (double)BT_S * BT_T * 36, "bar-params", 8.0 * BT_S * BT_T, 12.0 * BT_S * BT_T * 36);
    }
    static const char *const nn_names[] = {"nn/linear", "nn/gelu+dropout fwd+bwd", "nn/layernorm", "nn/mse loss+grad",
                                           "nn/cross_entropy loss+grad", "nn/grad_norm+adamw", "nn/lstm forward",
                                           "nn/lstm backward"};
    static const double nn_tol[][2] = {{1e-5, 1e-5}, {2e-6, 2e-6}, {2e-6, 2e-6}, {1e-6, 1e-6},
                                       {1e-6, 1e-6}, {1e-7, 1e-5}, {2e-5, 2e-5}, {1e-4, 1e-4}};
    static const char *const nn_why[] = {
        "float GEMM of 97 terms in another order (sgemm / cuBLAS vs double loops)",
        "fast tanh within 3e-7 of libm; dropout masks are the same Philox words",
        "row statistics in double on every path; fast rsqrt absent",
        "sums in double in a fixed chunk order; float result",
        "log-sum-exp in double; float result",
        "global norm in double chunks; AdamW's float update to 1 ulp",
        "float gate GEMMs over 13 steps (cuDNN / sgemm vs loops), fast sigmoid/tanh 3e-7",
        "backpropagation through 13 steps accumulates the forward's float differences"};
    for (size_t i = 0; i < sizeof g_nn / sizeof g_nn[0]; i++) {
        op *o = add(nn_names[i], run_nn, &g_nn[i], nn_tol[i][0], nn_tol[i][1], nn_why[i]);
        double fl = i == 0 ? 2.0 * NN_B * NN_IN * NN_OUT : i >= 6 ? 2.0 * 37 * 13 * 96 * 31 * 3 : 10.0 * NN_B * NN_OUT;
        work(o, (double)NN_B * NN_OUT, "elements", 4.0 * NN_B * (NN_IN + 2 * NN_OUT), fl);
    }
    static const char *const risk_names[] = {"risk/cov_sample", "risk/cov_ewma", "risk/cov_ledoit_wolf",
                                             "risk/cholesky", "risk/scenarios normal", "risk/scenarios student-t",
                                             "risk/pnl_linear", "risk/pnl_options", "risk/reval_features full",
                                             "risk/reval_features delta_gamma"};
    static const double risk_tol[][2] = {{1e-16, 1e-10}, {1e-16, 1e-10}, {1e-16, 1e-9}, {1e-14, 1e-10},
                                         {1e-14, 1e-14}, {1e-12, 1e-12}, {1e-6, 1e-11}, {1e-8, 1e-10},
                                         {2e-14, 2e-14}, {1e-14, 1e-14}};
    static const char *const risk_why[] = {
        "DSYRK / cuBLAS vs the definition's date-order sums: ~T eps relative",
        "the same, weighted",
        "Gram forms (covCor.m) vs loops; the intensity inherits ~T eps",
        "LAPACK / cuSOLVER vs Cholesky-Banachiewicz: n eps cond",
        "vectorised / libdevice log, sin, cos within a few ulp of libm (|z| < 9)",
        "the same normals scaled by the t factor and multiplied through L (n eps)",
        "GEMV in another order: n eps sum |x w| (P&L ~1e3, atol 1e-6)",
        "Black-Scholes per element, exp/log/erfc to a few ulp (P&L ~1e2)",
        "the scenarios' budget carried through e^x (expm1: libmvec AVX2 / libdevice, <= 4 ulp)",
        "the scenarios' budget (copies, squares)"};
    /* work models: values read (items), bytes of the inputs, flops (covariances T N^2,
     * Cholesky n^3/3, ~30 flops per Philox normal, L products n^2 per scenario, GEMV
     * 2n, ~100 per Black-Scholes valuation) */
    const double T = RK_T, N = RK_N, SC = RK_SC;
    const double risk_work[][3] = {{T * N, 8 * T * N, T * N * N},       {T * N, 8 * T * N, T * N * N},
                                   {T * N, 8 * T * N, 3 * T * N * N},   {N * N, 8 * N * N, N * N * N / 3},
                                   {SC * N, 8 * SC * N, 30 * SC * N},   {SC * N, 8 * SC * N, 30 * SC * N + SC * N * N},
                                   {SC * N, 8 * SC * N, 2 * SC * N},    {SC * 7, 8 * SC * N, 100 * SC * 7},
                                   {SC * N, 16 * SC * N, 20 * SC * N},  {SC * N, 24 * SC * N, SC * N}};
    for (size_t i = 0; i < sizeof g_risk / sizeof g_risk[0]; i++) {
        op *o = add(risk_names[i], run_risk, &g_risk[i], risk_tol[i][0], risk_tol[i][1], risk_why[i]);
        work(o, risk_work[i][0], i == 7 ? "valuations" : "values", risk_work[i][1], risk_work[i][2]);
    }
}

/* ---- running ------------------------------------------------------------------------------------- */

/* One run of `run` on `be` with its own arena. */
static qa_status run_on(run_fn run, qa_backend_t *be, const void *arg, double *out, size_t *n) {
    arena a = {be, {{0}}, 0};
    qa_status st = run(&a, arg, out, n);
    arena_free(&a);
    return st;
}

static double time_run(const op *o, qa_backend_t *be, double *buf) {
    size_t n;
    double t[5];
    run_on(o->run, be, o->arg, buf, &n); /* warm-up */
    for (int k = 0; k < 5; k++) {
        g_kernel_s = 0.0;
        run_on(o->run, be, o->arg, buf, &n);
        t[k] = g_kernel_s;
    }
    for (int i = 1; i < 5; i++) /* median of 5 */
        for (int j = i; j > 0 && t[j] < t[j - 1]; j--) {
            double x = t[j];
            t[j] = t[j - 1], t[j - 1] = x;
        }
    return t[2];
}

static void perf_line(const op *o, const char *backend, double s) {
    printf("  %-36s %-8s %10.3f ms %12.4g %s/s %8.2f GB/s %8.2f GFLOP/s\n", o->name, backend, s * 1e3, o->items / s,
           o->unit, o->bytes / s * 1e-9, o->flops / s * 1e-9);
    printf("JSON {\"bench\":\"backend_ops\",\"op\":\"%s\",\"backend\":\"%s\",\"median_s\":%.6g,\"items_per_s\":%.6g,"
           "\"gb_per_s\":%.4g,\"gflop_per_s\":%.4g}\n",
           o->name, backend, s, o->items / s, o->bytes / s * 1e-9, o->flops / s * 1e-9);
}

/* Runs every selected op on `be` (and its host replay in CPU mode) against `ref`. */
static void run_table(qa_backend_t *ref, qa_backend_t *be, const char *label, int perf, const char *filter) {
    double *want = malloc(MAX_OUT * sizeof *want), *got = malloc(MAX_OUT * sizeof *got);
    int ran = 0;
    for (int i = 0; i < g_nops; i++) {
        const op *o = &g_ops[i];
        if (filter && !strstr(o->name, filter)) continue;
        size_t nref = 0, n = 0;
        qa_status st = run_on(o->run, ref, o->arg, want, &nref);
        QA_CHECK_MSG(st == QA_OK, "%s on the reference: %s", o->name, qa_err_msg());
        if (st != QA_OK) continue;
        st = run_on(o->run, be, o->arg, got, &n);
        QA_CHECK_MSG(st == QA_OK && n == nref, "%s on %s: %s", o->name, label, st == QA_OK ? "size" : qa_err_msg());
        if (st != QA_OK || n != nref) continue;
        char what[128];
        snprintf(what, sizeof what, "%.63s (%.16s)", o->name, label);
        int ok = qa_test_near_arrays(what, got, want, n, o->atol, o->rtol);
        printf("  %-4s %-36s %-6s %8zu values, budget %.0e + %.0e|ref|: %s\n", ok ? "ok" : "FAIL", o->name, label, n,
               o->atol, o->rtol, o->why);
        if (o->host_replay && qa_backend_kind_of(be) == QA_BACKEND_CPU) {
            QA_CHECK_OK(run_on(o->host_replay, be, o->arg, got, &n));
            snprintf(what, sizeof what, "%.63s (CUDA order on the host)", o->name);
            ok = qa_test_near_arrays(what, got, want, n, o->atol, o->rtol);
            printf("  %-4s %-36s %-6s %8zu values: the CUDA kernels' code and order, replayed on the host\n",
                   ok ? "ok" : "FAIL", o->name, "cuda@h", n);
        }
        if (perf) {
            perf_line(o, "ref", time_run(o, ref, got));
            perf_line(o, label, time_run(o, be, got));
        }
        ran++;
    }
    printf("%d ops compared on %s\n", ran, label);
    QA_CHECK_MSG(ran > 0 || filter, "no op ran");
    free(want);
    free(got);
}

int main(int argc, char **argv) {
    int perf = 0;
    const char *filter = NULL;
    char *mode[2] = {argv[0], (char *)"cpu"};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--perf") == 0) perf = 1;
        else if (strcmp(argv[i], "--op") == 0 && i + 1 < argc) filter = argv[++i];
        else mode[1] = argv[i];
    }
    int gpu = qa_kernel_test_mode(2, mode);
    build_table();
    qa_backend_t *ref = NULL, *be = NULL;
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &ref));
    qa_backend_set_reference(ref, 1);
    if (gpu) {
        be = qa_kernel_test_gpu();
    } else {
        QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &be));
        qa_backend_set_threads(be, 2);
    }
    printf("%d ops in the table; reference: the CPU backend's reference path\n", g_nops);
    run_table(ref, be, gpu ? "cuda" : "cpu", perf, filter);
    qa_backend_free(be);
    qa_backend_free(ref);
    return qa_test_finish();
}
