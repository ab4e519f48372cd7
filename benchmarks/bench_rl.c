/* PPO training throughput (rl/ppo.h) on the workload of benchmarks/bench_rl_torch.py (a
 * CleanRL-style PyTorch PPO on a NumPy env of the same definition).
 *
 * Model of work: 64 single-asset envs x 128 steps = 8,192 samples per update over a
 * synthetic panel of 16 symbols x 2,520 bars (returns ~ N(0, 0.01)), window 32, horizon
 * 252, cost 3e-4; observation 35 floats (32 log returns, position, unrealised P&L, time in
 * trade); separate actor and critic MLPs 35-64-64-(3 | 1), ReLU; 4 epochs x 4 minibatches
 * of 2,048; Adam, GAE, clipped losses, entropy bonus, normalisations (CleanRL's
 * defaults). Samples/s = env steps consumed per wall second, rollout + update (one
 * untimed warm-up update first); the rollout-only and update-only rates and per-update
 * time p50 / p99 are reported too. CPU at 1 thread and all threads; CUDA when usable.
 * FLOP model per sample: forward of both networks in the rollout (2 x 2 x (35x64 + 64x64
 * + 64x3|1)) and forward + backward (x3) of both per epoch. */
#include <math.h>

#include "bench.h"
#include "common/philox.h"
#include "kernels/backend.h"
#include "rl/ppo.h"

#define S 16
#define T 2520

static void make_panel(qa_rl_panel *p) {
    memset(p, 0, sizeof *p);
    p->nsym = S, p->ntime = T, p->nfeat = 1;
    snprintf(p->features[0], sizeof p->features[0], "log_return");
    p->ret = malloc((size_t)S * T * sizeof *p->ret);
    p->feat = malloc((size_t)S * T * sizeof *p->feat);
    p->size = malloc((size_t)S * T * sizeof *p->size);
    for (int s = 0; s < S; s++)
        for (int t = 0; t < T; t++) {
            double r = t ? 0.01 * qa_rng_normal(2026, (uint64_t)s, (uint64_t)t) : 0.0;
            size_t k = (size_t)s * T + t;
            p->ret[k] = (float)r, p->feat[k] = (float)log1p(r), p->size[k] = 1.0f;
        }
    for (int k = 0; k < QA_RL_SPLIT_COUNT; k++) p->split_lo[k] = 0, p->split_hi[k] = T;
}

static void bench(qa_backend_t *be, const char *name, const qa_rl_panel *p, int updates) {
    qa_rlenv_cfg ec = {.kind = QA_RLENV_SINGLE, .action = QA_RLENV_DISCRETE, .nenv = 64, .window = 32, .horizon = 252,
                       .pos_lo = -1.0f, .pos_hi = 1.0f, .cost = 3e-4, .min_equity = 0.5, .reward_scale = 1.0,
                       .seed = 2026};
    qa_rl_ppo_cfg pc;
    qa_rl_ppo_cfg_default(&pc);
    pc.total_updates = updates + 1;
    qa_rl_env_t *env = NULL;
    qa_rl_ppo_t *agent = NULL;
    if (qa_rl_env_create(be, p, QA_RL_TRAIN, &ec, &env) != QA_OK || qa_rl_ppo_create(be, env, &pc, NULL, &agent) != QA_OK) {
        printf("# %s: setup failed: %s\n", name, qa_err_msg());
        qa_rl_env_free(env);
        return;
    }
    qa_rl_ppo_stats s;
    double *per = malloc((size_t)updates * sizeof *per), roll = 0.0, upd = 0.0;
    qa_rl_ppo_iterate(agent, &s); /* warm-up */
    uint64_t t0 = qa_time_ns();
    for (int u = 0; u < updates; u++) {
        uint64_t u0 = qa_time_ns();
        if (qa_rl_ppo_iterate(agent, &s) != QA_OK) {
            printf("# %s: %s\n", name, qa_err_msg());
            break;
        }
        per[u] = qa_time_since(u0);
        roll += s.rollout_s, upd += s.update_s;
    }
    double sec = qa_time_since(t0), samples = 8192.0 * updates;
    double fl_net = 2.0 * (35 * 64 + 64 * 64 + 64 * 3) + 2.0 * (35 * 64 + 64 * 64 + 64);
    qa_bench_result r = {"ppo_train", name, "64x128,35-64-64", sec, samples, "samples", 0.0,
                         samples * fl_net * (1.0 + 3.0 * pc.epochs)};
    qa_bench_report(&r);
    printf("JSON {\"bench\":\"ppo_train_split\",\"backend\":\"%s\",\"size\":\"64x128,35-64-64\",\"rollout_samples_per_s\":%.6g,"
           "\"update_samples_per_s\":%.6g,\"p50_ms_per_update\":%.3f,\"p99_ms_per_update\":%.3f,\"peak_rss_mb\":%.1f}\n",
           name, samples / roll, samples / upd, qa_bench_quantile(per, (size_t)updates, 0.5) * 1e3,
           qa_bench_quantile(per, (size_t)updates, 0.99) * 1e3, (double)qa_peak_rss_bytes() / 1048576.0);
    printf("  %s: rollout %.4g samples/s, update %.4g samples/s, last entropy %.3f\n", name, samples / roll, samples / upd,
           s.entropy);
    free(per);
    qa_rl_ppo_free(agent);
    qa_rl_env_free(env);
}

int main(int argc, char **argv) {
    int updates = argc > 1 ? atoi(argv[1]) : 48;
    if (updates < 1) {
        printf("usage: bench_rl [updates]\n");
        return 2;
    }
    qa_bench_header("PPO training (CleanRL workload), samples/s");
    qa_rl_panel p;
    make_panel(&p);
    qa_backend_t *cpu = NULL;
    qa_backend_create(QA_BACKEND_CPU, 0, &cpu);
    int threads = qa_backend_threads(cpu);
    for (int th = 1; th <= threads; th = th == threads ? threads + 1 : threads) {
        qa_backend_set_threads(cpu, th);
        char name[16];
        snprintf(name, sizeof name, "cpu-%dt", th);
        bench(cpu, name, &p, updates);
    }
    int n = 0;
    qa_cuda_device_count(&n);
    qa_backend_t *gpu = NULL;
    if (n == 0) printf("# cuda: skipped (no GPU)\n");
    else if (qa_backend_create(QA_BACKEND_CUDA, 0, &gpu) == QA_OK) bench(gpu, "cuda", &p, updates);
    else printf("# cuda: skipped (%s)\n", qa_err_msg());
    qa_backend_free(gpu);
    qa_backend_free(cpu);
    free(p.ret), free(p.feat), free(p.size);
    return 0;
}
