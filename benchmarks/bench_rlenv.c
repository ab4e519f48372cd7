/* Trading-environment throughput (kernels/rlenv.h): env-steps/s of the single-asset env
 * with discrete actions, the workload of benchmarks/bench_rl_numpy.py.
 *
 * Model of work: N = 4,096 envs x 2,520 steps over S = 16 synthetic symbols x T = 2,520
 * bars (returns ~ N(0, 0.01), feature log1p(r)), window W = 32, horizon H = 252 (each env
 * resets on its own draw), cost 3e-4 per unit traded, a pre-generated uniform random
 * action stream. Variants:
 *   rlenv_step      the step alone (rewards, flags, resets; no observation written)
 *   rlenv_step_obs  the step plus the observations (and final observations of ended
 *                   episodes): D = 35 floats (32 log returns, position, unrealised P&L,
 *                   time in trade; NumPy's D = 33 lacks the last two)
 * Bytes per env-step (model): step 90 (action 4, returns 8, state read 44 and written
 * 28, reward 4, flags 2); with observation + window read 128 + written 140.
 * Per-step latency p50 / p99 over every step of every repeat (CUDA: the mean, see run()). CPU 1 thread and all
 * threads; CUDA (one thread per env, everything resident) when a GPU is usable. */
#include <math.h>

#include "bench.h"
#include "common/philox.h"
#include "kernels/backend.h"
#include "kernels/kernel_test.h" /* qa_kernel_bench_gpu */
#include "kernels/rlenv.h"

#define S 16
#define T 2520
#define W 32
#define H 252

typedef struct host_mkt {
    float *ret, *feat, *size;
    int32_t lo[S];
    int64_t cum[S + 1];
} host_mkt;

/* Device (or host) copies of everything a step touches. */
typedef struct bufs {
    qa_buf ret, feat, lo, cum, st[10], act, rew, term, trunc, obs, fin;
} bufs;

static void make_market(host_mkt *m) {
    m->ret = malloc((size_t)S * T * sizeof *m->ret);
    m->feat = malloc((size_t)S * T * sizeof *m->feat);
    m->size = NULL;
    for (int s = 0; s < S; s++)
        for (int t = 0; t < T; t++) {
            double r = t ? 0.01 * qa_rng_normal(2026, (uint64_t)s, (uint64_t)t) : 0.0;
            m->ret[(size_t)s * T + t] = (float)r;
            m->feat[(size_t)s * T + t] = (float)log1p(r);
        }
    m->cum[0] = 0;
    for (int s = 0; s < S; s++) {
        m->lo[s] = W - 1;
        m->cum[s + 1] = m->cum[s] + (T - 2 - H) - (W - 1) + 1;
    }
}

static int setup(qa_backend_t *be, const host_mkt *h, int n, bufs *b, qa_rlenv_market *m, qa_rlenv_state *st,
                 const int32_t *actions, int steps) {
    size_t plane = (size_t)S * T * 4, D = 35;
    size_t sz[10] = {4 * (size_t)n, 4 * (size_t)n, 4 * (size_t)n, 4 * (size_t)n, 4 * (size_t)n, 4 * (size_t)n,
                     8 * (size_t)n, 8 * (size_t)n, 8 * (size_t)n, 8 * (size_t)n};
    if (qa_buf_alloc(be, plane, &b->ret) || qa_buf_alloc(be, plane, &b->feat) || qa_buf_alloc(be, S * 4, &b->lo) ||
        qa_buf_alloc(be, (S + 1) * 8, &b->cum) || qa_buf_alloc(be, (size_t)steps * n * 4, &b->act) ||
        qa_buf_alloc(be, (size_t)n * 4, &b->rew) || qa_buf_alloc(be, (size_t)n, &b->term) ||
        qa_buf_alloc(be, (size_t)n, &b->trunc) || qa_buf_alloc(be, (size_t)n * D * 4, &b->obs) ||
        qa_buf_alloc(be, (size_t)n * D * 4, &b->fin))
        return 1;
    for (int i = 0; i < 10; i++)
        if (qa_buf_alloc(be, sz[i], &b->st[i])) return 1;
    if (qa_buf_upload(be, &b->ret, 0, h->ret, plane) || qa_buf_upload(be, &b->feat, 0, h->feat, plane) ||
        qa_buf_upload(be, &b->lo, 0, h->lo, S * 4) || qa_buf_upload(be, &b->cum, 0, h->cum, (S + 1) * 8) ||
        qa_buf_upload(be, &b->act, 0, actions, (size_t)steps * n * 4))
        return 1;
    *m = (qa_rlenv_market){.nsym = S, .ntime = T, .ngroup = S, .ret = b->ret.ptr, .feat = b->feat.ptr,
                           .size = NULL, .start_lo = b->lo.ptr, .start_cum = b->cum.ptr};
    *st = (qa_rlenv_state){.sym = b->st[0].ptr, .t = b->st[1].ptr, .steps = b->st[2].ptr,
                           .entry_step = b->st[3].ptr, .episode = b->st[4].ptr, .pos = b->st[5].ptr,
                           .equity = b->st[6].ptr, .peak = b->st[7].ptr, .entry_equity = b->st[8].ptr,
                           .base = b->st[9].ptr};
    return 0;
}

static void release(bufs *b) {
    qa_buf *all[] = {&b->ret, &b->feat, &b->lo, &b->cum, &b->act, &b->rew, &b->term, &b->trunc, &b->obs, &b->fin};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) qa_buf_free(all[i]);
    for (int i = 0; i < 10; i++) qa_buf_free(&b->st[i]);
}

/* Median seconds of `repeats` runs of `steps` steps; lat receives every step's time. */
static double run(qa_backend_t *be, const qa_rlenv_cfg *c, const qa_rlenv_market *m, qa_rlenv_state *st, bufs *b,
                  int with_obs, int steps, int repeats, double *lat) {
    double t[16];
    qa_rlenv_out o = {.reward = b->rew.ptr, .terminated = b->term.ptr, .truncated = b->trunc.ptr,
                      .obs = with_obs ? b->obs.ptr : NULL, .final_obs = with_obs ? b->fin.ptr : NULL};
    int sync = qa_backend_kind_of(be) == QA_BACKEND_CUDA;
    for (int r = -1; r < repeats; r++) {
        if (qa_rlenv_reset(be, c, m, st, with_obs ? b->obs.ptr : NULL) != QA_OK) return NAN;
        qa_backend_sync(be);
        uint64_t t0 = qa_time_ns();
        for (int k = 0; k < steps; k++) {
            uint64_t s0 = qa_time_ns();
            if (qa_rlenv_step(be, c, m, st, (const int32_t *)b->act.ptr + (size_t)k * c->nenv, &o) != QA_OK) return NAN;
            if (r >= 0) lat[(size_t)r * steps + k] = qa_time_since(s0);
        }
        qa_backend_sync(be);
        if (r >= 0) t[r] = qa_time_since(t0);
        /* CUDA steps are queued, not finished, when the launch returns: a per-step sync
         * would time the launch round trip instead, so the GPU reports the mean. */
        if (sync && r >= 0)
            for (int k = 0; k < steps; k++) lat[(size_t)r * steps + k] = t[r] / steps;
    }
    return qa_bench_median(t, repeats);
}

static void bench_backend(qa_backend_t *be, const char *name, const host_mkt *h, int n, int steps, int repeats,
                          const int32_t *actions) {
    bufs b;
    memset(&b, 0, sizeof b);
    qa_rlenv_market m;
    qa_rlenv_state st;
    if (setup(be, h, n, &b, &m, &st, actions, steps)) {
        printf("# %s: setup failed: %s\n", name, qa_err_msg());
        release(&b);
        return;
    }
    qa_rlenv_cfg c = {.kind = QA_RLENV_SINGLE, .action = QA_RLENV_DISCRETE, .nenv = n, .window = W, .horizon = H,
                      .nfeat = 1, .pos_lo = -1.0f, .pos_hi = 1.0f, .cost = 3e-4, .min_equity = 0.5,
                      .reward_scale = 1.0, .seed = 2026};
    double *lat = malloc((size_t)repeats * steps * sizeof *lat);
    char size[48];
    snprintf(size, sizeof size, "N=%d,steps=%d", n, steps);
    for (int with_obs = 0; with_obs < 2; with_obs++) {
        double sec = run(be, &c, &m, &st, &b, with_obs, steps, repeats, lat);
        double items = (double)n * steps, bytes = items * (with_obs ? 90.0 + 128 + 140 : 90.0);
        qa_bench_result r = {with_obs ? "rlenv_step_obs" : "rlenv_step", name, size, sec, items, "env-steps",
                             bytes, 0.0};
        qa_bench_report(&r);
        size_t nl = (size_t)repeats * steps;
        double p50 = qa_bench_quantile(lat, nl, 0.5), p99 = qa_bench_quantile(lat, nl, 0.99);
        printf("JSON {\"bench\":\"%s_latency\",\"backend\":\"%s\",\"size\":\"%s\",\"p50_us\":%.3f,\"p99_us\":%.3f,"
               "\"unit\":\"us per step of all envs\",\"peak_rss_mb\":%.1f}\n",
               r.bench, name, size, p50 * 1e6, p99 * 1e6, (double)qa_peak_rss_bytes() / 1048576.0);
    }
    free(lat);
    release(&b);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 4096, steps = argc > 2 ? atoi(argv[2]) : 2520;
    int repeats = argc > 3 ? atoi(argv[3]) : 7; /* a run of the step alone is ~50 ms: medians of 7 */
    if (n < 1 || steps < 1 || repeats < 1 || repeats > 16) {
        printf("usage: bench_rlenv [envs] [steps] [repeats <= 16]\n");
        return 2;
    }
    qa_bench_header("trading environments (single asset, discrete), env-steps/s");
    host_mkt h;
    make_market(&h);
    int32_t *actions = malloc((size_t)steps * n * sizeof *actions);
    for (size_t i = 0; i < (size_t)steps * n; i++) actions[i] = (int32_t)(qa_rng_uniform(7, 0, i) * 3.0);
    qa_backend_t *cpu = NULL;
    qa_backend_create(QA_BACKEND_CPU, 0, &cpu);
    int threads = qa_backend_threads(cpu);
    for (int th = 1; th <= threads; th = th == threads ? threads + 1 : threads) {
        qa_backend_set_threads(cpu, th);
        char name[16];
        snprintf(name, sizeof name, "cpu-%dt", th);
        bench_backend(cpu, name, &h, n, steps, repeats, actions);
    }
    qa_backend_t *gpu = qa_kernel_bench_gpu();
    if (gpu) bench_backend(gpu, "cuda", &h, n, steps, repeats, actions);
    qa_backend_free(gpu);
    qa_backend_free(cpu);
    free(actions);
    free(h.ret);
    free(h.feat);
    return 0;
}
