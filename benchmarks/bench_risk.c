/* Risk kernels: Monte-Carlo VaR throughput by revaluation model, with bounded memory.
 *
 *   bench_risk [scenarios [assets [positions [option_scenarios]]]]
 *   defaults:   200000     500      500         200000
 *
 * Model of work and units (docs/risk.md, "Throughput"): each row counts what it does.
 * - Full revaluation (qa stress's default), portfolio: per scenario N normals (~30 flops
 *   each), the correlation product z = L eps (triangular: N^2 flops), one expm1 per asset
 *   (~20 flops) and the exposure dot product (2N): items = scenario x asset
 *   revaluations (S N), flops S (N^2 + 52 N). The NumPy baseline does the same:
 *   expm1(eps @ L.T) @ w (2 N^2 flops: it cannot use the triangle).
 * - Full revaluation per position (the contribution path): + expm1(z) E, 2 N P flops per
 *   scenario: items = scenario x position revaluations of N assets each (S P).
 * - Delta (first-order) portfolio: the shortcut eps (L'w) needs no per-asset move, so its
 *   work is N normals + one N-dot per scenario and does not depend on the positions:
 *   items = scenarios (S). Delta per position: eps (L'E), 2 N P flops: items S P.
 * - The revaluation GEMM alone (X E): items S P, flops 2 S N P.
 * - Options: Black-Scholes valuations (scenario x option, ~100 flops each).
 * - Scenarios are streamed in blocks (8192 on the CPU, 65536 on CUDA) so memory stays
 *   bounded: peak RSS is printed with every row (JSON line).
 * - Market model: sample covariance of 1500 dates of synthetic one-factor returns;
 *   dense exposures E[j][q] = 1e4 ((7j + 13q) mod 101 - 50) / 50 (bench_risk_numpy.py
 *   builds the same book, so the VaR/ES lines can be compared statistically).
 * CPU on 1 thread and all threads; CUDA when a GPU is present. Correctness is checked
 * first on a small block (optimised vs reference, full revaluation). */
#include <math.h>
#include <stdint.h>

#include "bench.h"                 /* timing, table + JSON rows */
#include "common/philox.h"         /* synthetic inputs */
#include "kernels/backend.h"       /* backends, device buffers */
#include "kernels/risk.h"          /* the kernels under test */

static size_t g_s = 200000, g_n = 500, g_p = 500, g_sopt = 200000;

static void die(const char *what) {
    printf("bench_risk: %s failed: %s\n", what, qa_err_msg());
    exit(1);
}
#define TRY(x)                          \
    do {                                \
        if ((x) != QA_OK) die(#x);      \
    } while (0)

/* Buffers on a backend: host pointers on the CPU, qa_buf device memory on CUDA. */
typedef struct env {
    qa_backend_t *be;
    qa_risk_ctx_t *ctx;
    const char *name;
    size_t block;
    double *l, *e, *m, *w, *wl, *x, *f, *pos, *pnl; /* backend arrays */
    qa_buf bufs[10];
    int nbufs;
} env;

static double *balloc(env *v, size_t count) {
    qa_buf *b = &v->bufs[v->nbufs++];
    TRY(qa_buf_alloc(v->be, count * sizeof(double), b));
    return b->ptr;
}

static void put(env *v, double *dst, const double *src, size_t count) {
    for (int i = 0; i < v->nbufs; i++)
        if (v->bufs[i].ptr == dst) {
            TRY(qa_buf_upload(v->be, &v->bufs[i], 0, src, count * sizeof(double)));
            return;
        }
    die("upload target");
}

static void env_init(env *v, qa_backend_t *be, const char *name, size_t block, const double *l, const double *e,
                     const double *w) {
    memset(v, 0, sizeof *v);
    v->be = be;
    v->name = name;
    v->block = block;
    TRY(qa_risk_ctx_create(be, &v->ctx));
    size_t n = g_n, p = g_p;
    v->l = balloc(v, n * n);
    v->e = balloc(v, n * p);
    v->m = balloc(v, n * p);
    v->w = balloc(v, n);
    v->wl = balloc(v, n);
    v->x = balloc(v, block * n);
    v->f = balloc(v, block * n);
    v->pos = balloc(v, block * p);
    v->pnl = balloc(v, block);
    put(v, v->l, l, n * n);
    put(v, v->e, e, n * p);
    put(v, v->w, w, n);
    TRY(qa_risk_factor_loadings(v->ctx, v->l, n, v->e, p, v->m));  /* M = L'E */
    TRY(qa_risk_factor_loadings(v->ctx, v->l, n, v->w, 1, v->wl)); /* L'w */
    TRY(qa_backend_sync(be));
}

static void env_free(env *v) {
    for (int i = 0; i < v->nbufs; i++) qa_buf_free(&v->bufs[i]);
    qa_risk_ctx_free(v->ctx);
}

typedef enum pipeline { P_SCEN, P_REVAL, P_FULL, P_FULL_POS, P_DELTA, P_DELTA_POS } pipeline;

/* Streams `total` scenarios through one pipeline; returns seconds (after a warm-up block). */
static double run_pipeline(env *v, pipeline pl, size_t total, double *var_out, double *es_out) {
    const size_t n = g_n, p = g_p, b = v->block;
    qa_risk_mc mc = {20261124, 0, QA_RISK_DIST_NORMAL, 0};
    qa_risk_tail tail;
    size_t m = qa_risk_tail_size(0.99, total);
    TRY(qa_risk_tail_init(&tail, m));
    /* Warm-up (first-touch, handles, caches) on one block outside the timing. */
    TRY(qa_risk_scenarios(v->ctx, &mc, v->l, NULL, n, 0, b < total ? b : total, v->x));
    TRY(qa_risk_reval_features(v->ctx, QA_RISK_REVAL_FULL, v->x, b < total ? b : total, n, v->f));
    TRY(qa_risk_pnl_linear_pos(v->ctx, v->f, b < total ? b : total, n, v->e, p, NULL, v->pos, v->pnl));
    TRY(qa_backend_sync(v->be));
    if (pl == P_REVAL) /* revaluation only: one block of shocks, revalued total/b times */
        TRY(qa_risk_scenarios(v->ctx, &mc, v->l, NULL, n, 0, b, v->x));
    uint64_t t0 = qa_time_ns();
    for (size_t s0 = 0; s0 < total; s0 += b) {
        size_t cnt = total - s0 < b ? total - s0 : b;
        switch (pl) {
        case P_SCEN: TRY(qa_risk_scenarios(v->ctx, &mc, v->l, NULL, n, s0, cnt, v->x)); break;
        case P_REVAL: TRY(qa_risk_pnl_linear_pos(v->ctx, v->x, cnt, n, v->e, p, NULL, v->pos, NULL)); break;
        case P_FULL: /* z = L eps, expm1(z), one GEMV against the exposures per asset */
        case P_FULL_POS: /* ... and the per-position GEMM (contributions) */
            TRY(qa_risk_scenarios(v->ctx, &mc, v->l, NULL, n, s0, cnt, v->x));
            if (pl == P_FULL) {
                /* features and the exposure sum in cache-sized row pieces (as qa stress) */
                for (size_t r0 = 0; r0 < cnt; r0 += 512) {
                    size_t rc = cnt - r0 < 512 ? cnt - r0 : 512;
                    TRY(qa_risk_reval_features(v->ctx, QA_RISK_REVAL_FULL, v->x + r0 * n, rc, n, v->f));
                    TRY(qa_risk_pnl_linear(v->ctx, v->f, rc, n, v->w, v->pnl + r0));
                }
            } else {
                TRY(qa_risk_reval_features(v->ctx, QA_RISK_REVAL_FULL, v->x, cnt, n, v->f));
                TRY(qa_risk_pnl_linear_pos(v->ctx, v->f, cnt, n, v->e, p, NULL, v->pos, v->pnl));
            }
            TRY(qa_risk_tail_push(v->ctx, &tail, v->pnl, cnt, s0));
            break;
        case P_DELTA: /* first order: raw shocks against L'w, one GEMV per block */
            TRY(qa_risk_scenarios(v->ctx, &mc, NULL, NULL, n, s0, cnt, v->x));
            TRY(qa_risk_pnl_linear(v->ctx, v->x, cnt, n, v->wl, v->pnl));
            TRY(qa_risk_tail_push(v->ctx, &tail, v->pnl, cnt, s0));
            break;
        case P_DELTA_POS: /* first order per position: raw shocks against M = L'E */
            TRY(qa_risk_scenarios(v->ctx, &mc, NULL, NULL, n, s0, cnt, v->x));
            TRY(qa_risk_pnl_linear_pos(v->ctx, v->x, cnt, n, v->m, p, NULL, v->pos, v->pnl));
            TRY(qa_risk_tail_push(v->ctx, &tail, v->pnl, cnt, s0));
            break;
        }
    }
    TRY(qa_backend_sync(v->be));
    double sec = qa_time_since(t0);
    if (pl >= P_FULL) TRY(qa_risk_var_es_tail(tail.items, tail.count, m, var_out, es_out));
    qa_risk_tail_free(&tail);
    return sec;
}

static void report(const char *bench, const char *backend, size_t s, double sec, double items, const char *unit,
                   double flops, double bytes) {
    char size[64];
    snprintf(size, sizeof size, "S=%zu N=%zu P=%zu", s, g_n, g_p);
    qa_bench_result r = {bench, backend, size, sec, items, unit, bytes, flops};
    qa_bench_report(&r);
}

#define U_ASSET "scenario x asset revaluations"
#define U_POS "scenario x position revaluations (N assets each)"

/* Linear book: every pipeline on one backend configuration. */
static void bench_linear(env *v, int all) {
    const double S = (double)g_s, N = (double)g_n, P = (double)g_p;
    double var = 0, es = 0;
    double t = run_pipeline(v, P_REVAL, g_s, NULL, NULL);
    report("risk_reval_linear", v->name, g_s, t, S * P, U_POS, 2 * S * N * P, 8 * (S * N + S * P));
    if (!all) return;
    t = run_pipeline(v, P_SCEN, g_s, NULL, NULL);
    report("risk_scenarios", v->name, g_s, t, S * N, "scenario x asset shocks", S * N * N + 30 * S * N, 8 * S * N);
    t = run_pipeline(v, P_FULL, g_s, &var, &es);
    report("risk_mc_full", v->name, g_s, t, S * N, U_ASSET, S * N * N + 52 * S * N, 8 * S * N);
    printf("#   full revaluation: %.4g scenarios/s; portfolio 99%% VaR %.6g ES %.6g\n", S / t, var, es);
    t = run_pipeline(v, P_FULL_POS, g_s, &var, &es);
    report("risk_mc_full_positions", v->name, g_s, t, S * P, U_POS, S * N * N + 50 * S * N + 2 * S * N * P,
           8 * (S * N + S * P));
    printf("#   full revaluation per position: %.4g scenarios/s; 99%% VaR %.6g ES %.6g\n", S / t, var, es);
    t = run_pipeline(v, P_DELTA, g_s, &var, &es);
    report("risk_mc_delta", v->name, g_s, t, S, "scenarios", 32 * S * N, 8 * S * N);
    printf("#   delta (first-order) portfolio: 99%% VaR %.6g ES %.6g\n", var, es);
    t = run_pipeline(v, P_DELTA_POS, g_s, &var, &es);
    report("risk_mc_delta_positions", v->name, g_s, t, S * P, U_POS, 30 * S * N + 2 * S * N * P, 8 * (S * N + S * P));
    printf("#   delta per position: 99%% VaR %.6g ES %.6g\n", var, es);
}

/* Revalues option_scenarios scenarios in blocks (the same block of shocks each time). */
static void bench_options(qa_backend_t *be, const char *name, const double *xh, size_t block, size_t nf,
                          const qa_risk_option *oh, size_t p) {
    qa_risk_ctx_t *ctx;
    TRY(qa_risk_ctx_create(be, &ctx));
    qa_buf bx, bo, bp;
    TRY(qa_buf_alloc(be, block * nf * sizeof(double), &bx));
    TRY(qa_buf_alloc(be, p * sizeof *oh, &bo));
    TRY(qa_buf_alloc(be, block * sizeof(double), &bp));
    TRY(qa_buf_upload(be, &bx, 0, xh, block * nf * sizeof(double)));
    TRY(qa_buf_upload(be, &bo, 0, oh, p * sizeof *oh));
    TRY(qa_risk_pnl_options(ctx, bx.ptr, block, nf, bo.ptr, p, 10.0 / 252, NULL, bp.ptr));
    TRY(qa_backend_sync(be));
    uint64_t t0 = qa_time_ns();
    for (size_t s0 = 0; s0 < g_sopt; s0 += block) {
        size_t cnt = g_sopt - s0 < block ? g_sopt - s0 : block;
        TRY(qa_risk_pnl_options(ctx, bx.ptr, cnt, nf, bo.ptr, p, 10.0 / 252, NULL, bp.ptr));
    }
    TRY(qa_backend_sync(be));
    double t = qa_time_since(t0);
    char size[64];
    snprintf(size, sizeof size, "S=%zu options=%zu", g_sopt, p);
    qa_bench_result r = {"risk_reval_options", name, size, t, (double)g_sopt * (double)p, "option valuations", 0,
                         100.0 * (double)g_sopt * (double)p};
    qa_bench_report(&r);
    qa_buf_free(&bx);
    qa_buf_free(&bo);
    qa_buf_free(&bp);
    qa_risk_ctx_free(ctx);
}

static void bench_tail(qa_backend_t *be, const char *name, const double *pnl_h, size_t n) {
    qa_risk_ctx_t *ctx;
    TRY(qa_risk_ctx_create(be, &ctx));
    qa_buf b;
    TRY(qa_buf_alloc(be, n * sizeof(double), &b));
    TRY(qa_buf_upload(be, &b, 0, pnl_h, n * sizeof(double)));
    double t[5], var = 0, es = 0;
    TRY(qa_risk_var_es(ctx, b.ptr, n, 0.99, &var, &es));
    for (int i = 0; i < 5; i++) {
        uint64_t t0 = qa_time_ns();
        TRY(qa_risk_var_es(ctx, b.ptr, n, 0.99, &var, &es));
        t[i] = qa_time_since(t0);
    }
    char size[48];
    snprintf(size, sizeof size, "n=%zu m=%zu", n, qa_risk_tail_size(0.99, n));
    qa_bench_result r = {"risk_var_es_tail", name, size, qa_bench_median(t, 5), (double)n, "scenarios", 8.0 * n, 0};
    qa_bench_report(&r);
    qa_buf_free(&b);
    qa_risk_ctx_free(ctx);
}

int main(int argc, char **argv) {
    if (argc > 1) g_s = strtoull(argv[1], NULL, 10);
    if (argc > 2) g_n = strtoull(argv[2], NULL, 10);
    if (argc > 3) g_p = strtoull(argv[3], NULL, 10);
    if (argc > 4) g_sopt = strtoull(argv[4], NULL, 10);
    if (g_s == 0 || g_n == 0 || g_p == 0 || g_sopt == 0) {
        printf("usage: bench_risk [scenarios [factors [positions [option_scenarios]]]]\n");
        return 2;
    }
    qa_bench_header("Risk: Monte-Carlo revaluation (streamed blocks)");
    const size_t n = g_n, p = g_p, t_dates = 1500;
    qa_backend_t *cpu;
    TRY(qa_backend_create(QA_BACKEND_CPU, 0, &cpu));
    const int threads = qa_backend_threads(cpu);
    qa_risk_ctx_t *cctx;
    TRY(qa_risk_ctx_create(cpu, &cctx));

    /* Market model: sample covariance of synthetic factor returns (one common factor);
     * the EWMA estimator (same cost) is timed as well. */
    double *r = malloc(t_dates * n * sizeof *r), *cov = malloc(n * n * sizeof *cov), *l = malloc(n * n * sizeof *l);
    double *e = malloc(n * p * sizeof *e), *w = calloc(n, sizeof *w);
    if (!r || !cov || !l || !e || !w) die("allocation");
    for (size_t d = 0; d < t_dates; d++) {
        double f = qa_rng_normal(7, 1, d);
        for (size_t j = 0; j < n; j++) r[d * n + j] = 0.01 * (0.6 * f + 0.8 * qa_rng_normal(7, 2, d * n + j));
    }
    for (int th = 1; th <= threads; th = th == threads ? threads + 1 : threads) {
        qa_backend_set_threads(cpu, th);
        char bname[16];
        snprintf(bname, sizeof bname, "cpu-%dt", th);
        uint64_t t0 = qa_time_ns();
        TRY(qa_risk_cov_ewma(cctx, r, t_dates, n, 0.94, 0, cov));
        double tc = qa_time_since(t0);
        TRY(qa_risk_cov_sample(cctx, r, t_dates, n, cov));
        t0 = qa_time_ns();
        TRY(qa_risk_cholesky(cctx, cov, n, 0.0, l, NULL));
        double tl = qa_time_since(t0);
        char size[48];
        snprintf(size, sizeof size, "T=%zu N=%zu", t_dates, n);
        qa_bench_result rc = {"risk_cov_ewma", bname, size, tc, (double)t_dates * n, "returns", 8.0 * t_dates * n,
                              (double)t_dates * n * n};
        qa_bench_report(&rc);
        snprintf(size, sizeof size, "N=%zu", n);
        qa_bench_result rl = {"risk_cholesky", bname, size, tl, (double)n, "rows", 8.0 * n * n, (double)n * n * n / 3};
        qa_bench_report(&rl);
    }
    /* Dense exposures by a formula the NumPy baseline repeats (same book in both). */
    for (size_t j = 0; j < n; j++)
        for (size_t q = 0; q < p; q++) e[j * p + q] = 1e4 * (double)((long)((j * 7 + q * 13) % 101) - 50) / 50.0;
    for (size_t j = 0; j < n; j++)
        for (size_t q = 0; q < p; q++) w[j] += e[j * p + q];

    /* Correctness first: optimised vs reference on a small block. */
    {
        qa_backend_t *rb;
        qa_risk_ctx_t *rc;
        TRY(qa_backend_create(QA_BACKEND_CPU, 0, &rb));
        qa_backend_set_reference(rb, 1);
        TRY(qa_risk_ctx_create(rb, &rc));
        const size_t b = 37;
        double *z1 = malloc(b * n * sizeof *z1), *z2 = malloc(b * n * sizeof *z2), *p1 = malloc(b * sizeof *p1),
               *p2 = malloc(b * sizeof *p2);
        qa_risk_mc mc = {1, 0, QA_RISK_DIST_NORMAL, 0};
        TRY(qa_risk_scenarios(rc, &mc, l, NULL, n, 12345, b, z1));
        TRY(qa_risk_scenarios(cctx, &mc, l, NULL, n, 12345, b, z2));
        double worst = 0;
        for (size_t k = 0; k < b * n; k++) worst = fmax(worst, fabs(z1[k] - z2[k]));
        double *f1 = malloc(b * n * sizeof *f1), *f2 = malloc(b * n * sizeof *f2);
        if (!f1 || !f2) die("allocation");
        TRY(qa_risk_reval_features(rc, QA_RISK_REVAL_FULL, z1, b, n, f1));
        TRY(qa_risk_reval_features(cctx, QA_RISK_REVAL_FULL, z2, b, n, f2));
        TRY(qa_risk_pnl_linear_pos(rc, f1, b, n, e, p, NULL, NULL, p1));
        TRY(qa_risk_pnl_linear_pos(cctx, f2, b, n, e, p, NULL, NULL, p2));
        free(f1);
        free(f2);
        double worst_p = 0, scale = 0;
        for (size_t s = 0; s < b; s++) {
            worst_p = fmax(worst_p, fabs(p1[s] - p2[s]));
            scale = fmax(scale, fabs(p1[s]));
        }
        printf("# check: shocks max |opt - ref| = %.3g, full-revaluation P&L max |opt - ref| = %.3g (|P&L| up to %.3g)\n", worst,
               worst_p, scale);
        if (worst > 1e-12 || worst_p > 1e-9 * scale) die("correctness check");
        free(z1);
        free(z2);
        free(p1);
        free(p2);
        qa_risk_ctx_free(rc);
        qa_backend_free(rb);
    }

    /* CPU rows. */
    const size_t cpu_block = 8192;
    for (int th = 1; th <= threads; th = th == threads ? threads + 1 : threads) {
        qa_backend_set_threads(cpu, th);
        char bname[32];
        snprintf(bname, sizeof bname, "cpu-%dt", th);
        env v;
        env_init(&v, cpu, bname, cpu_block, l, e, w);
        bench_linear(&v, 1);
        if (th == threads) { /* the same GEMM through OpenBLAS, for the roofline comparison */
            qa_risk_ctx_set_vendor_blas(v.ctx, 1);
            snprintf(bname, sizeof bname, "cpu-%dt-blas", th);
            v.name = bname;
            bench_linear(&v, 0);
        }
        env_free(&v);
    }

    /* Option book: 200 options (calls and puts, a third with vol shocks) on 200
     * underlyings + 1 vol factor, correlated with the leading block of L (the Cholesky
     * factor of the leading block of the covariance). */
    const size_t nopt = 200, nof = n > 201 ? 201 : n, ob = 16384;
    qa_risk_option *opt = calloc(nopt, sizeof *opt);
    double *xo = malloc(ob * nof * sizeof *xo), *lo = malloc(nof * nof * sizeof *lo);
    if (!opt || !xo || !lo) die("allocation");
    for (size_t i = 0; i < nof; i++)
        for (size_t j = 0; j < nof; j++) lo[i * nof + j] = l[i * n + j];
    for (size_t q = 0; q < nopt; q++) {
        opt[q].quantity = 100.0 * (q % 3 == 0 ? -1.0 : 1.0);
        opt[q].spot = 50.0 + (double)(q % 50);
        opt[q].strike = opt[q].spot * (0.8 + 0.002 * (double)q);
        opt[q].expiry = 0.1 + 0.01 * (double)(q % 90);
        opt[q].vol = 0.15 + 0.001 * (double)q;
        opt[q].rate = 0.03;
        opt[q].type = (int32_t)(q % 2);
        opt[q].factor = (int32_t)(q % (nof > 1 ? nof - 1 : 1));
        opt[q].vol_factor = q % 3 == 0 && nof > 1 ? (int32_t)(nof - 1) : -1;
        opt[q].rate_factor = -1;
    }
    qa_risk_mc mco = {99, 0, QA_RISK_DIST_NORMAL, 0};
    qa_backend_set_threads(cpu, threads);
    TRY(qa_risk_scenarios(cctx, &mco, lo, NULL, nof, 0, ob, xo));
    for (int th = 1; th <= threads; th = th == threads ? threads + 1 : threads) {
        qa_backend_set_threads(cpu, th);
        char bname[16];
        snprintf(bname, sizeof bname, "cpu-%dt", th);
        bench_options(cpu, bname, xo, 8192, nof, opt, nopt);
    }

    /* Exact tail of 10^6 P&L values. */
    const size_t nt = 1000000;
    double *pnl = malloc(nt * sizeof *pnl);
    if (!pnl) die("allocation");
    for (size_t s = 0; s < nt; s++) pnl[s] = 1e6 * qa_rng_normal(5, 0, s);
    qa_backend_set_threads(cpu, 1);
    bench_tail(cpu, "cpu-1t", pnl, nt);

    int gpus = 0;
    qa_cuda_device_count(&gpus);
    if (gpus > 0) {
        qa_backend_t *gpu;
        TRY(qa_backend_create(QA_BACKEND_CUDA, 0, &gpu));
        char desc[128];
        qa_cuda_device_describe(0, desc, sizeof desc);
        printf("# cuda: %s\n", desc);
        env v;
        env_init(&v, gpu, "cuda", 65536, l, e, w);
        bench_linear(&v, 1);
        env_free(&v);
        bench_options(gpu, "cuda", xo, ob, nof, opt, nopt);
        bench_tail(gpu, "cuda", pnl, nt);
        qa_backend_free(gpu);
    } else {
        printf("# cuda: skipped (no GPU)\n");
    }
    free(r);
    free(cov);
    free(l);
    free(e);
    free(w);
    free(opt);
    free(xo);
    free(lo);
    free(pnl);
    qa_risk_ctx_free(cctx);
    qa_backend_free(cpu);
    return 0;
}
