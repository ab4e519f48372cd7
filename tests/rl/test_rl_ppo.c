/* PPO on the trading environments (rl/ppo.h, rl/env.h) over a market with a planted
 * signal: AR(1) returns r(t) = phi r(t-1) + eps, where the sign of the last return
 * predicts the next, so the oracle policy "hold sign(r(t))" earns phi E|r| per bar and a
 * random policy earns nothing.
 *  - learns: greedy PPO reaches >= 90% of the oracle's mean reward on the test split
 *    within a bounded number of updates (CPU); a random policy stays below 20%;
 *  - deterministic: two runs with the same seed give the same parameters bit for bit;
 *  - exact resume: 2 updates, checkpoint, a new agent loading it, 2 more updates =
 *    4 updates in one go, bit for bit;
 *  - a checkpoint of another shape is refused naming the mismatch.
 * `test_rl_ppo gpu` runs the learning case with the rollout and the update on the CUDA
 * backend (exit 77 where no GPU is usable). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/philox.h"
#include "harness.h"
#include "rl/ppo.h"
#include "store_test.h"

#define DAY 86400000000000LL
#define T0 946857600000000000LL /* 2000-01-03 */
#define NSYM 4
#define NBAR 3000
#define PHI 0.6

static char g_dir[256], g_store[300];

static int make_store(void) {
    qa_store_meta m = qa_test_daily_meta("24x7", "AR(1) planted signal", 1);
    const char *syms[NSYM] = {"AR0", "AR1", "AR2", "AR3"};
    int64_t *time = malloc(NBAR * sizeof *time);
    double *c = malloc((size_t)NSYM * NBAR * sizeof *c);
    for (int t = 0; t < NBAR; t++) time[t] = T0 + (int64_t)t * DAY;
    for (int s = 0; s < NSYM; s++) {
        double p = 100.0, r = 0.0;
        for (int t = 0; t < NBAR; t++) {
            if (t > 0) r = PHI * r + 0.01 * qa_rng_normal(77, (uint64_t)s, (uint64_t)t);
            p *= 1.0 + r;
            c[(size_t)s * NBAR + t] = p;
        }
    }
    qa_store_t *st = NULL;
    int rc = 1;
    if (qa_store_create(g_store, NULL, &m, NSYM, syms, NBAR, time, &st) != QA_OK) goto done;
    for (int f = 0; f < QA_BAR_FIELD_COUNT; f++)
        if (qa_store_write(st, qa_bar_field_path((qa_bar_field)f), 0, NSYM, 0, NBAR, c) != QA_OK) goto done;
    rc = qa_store_commit(st) == QA_OK ? 0 : 1;
    st = NULL;
done:
    if (rc) printf("make_store: %s\n", qa_err_msg());
    qa_store_close(st);
    free(time);
    free(c);
    return rc;
}

static qa_rl_panel g_panel;
static int g_gpu = 0; /* train on CUDA */

static qa_rlenv_cfg env_cfg(int nenv) {
    qa_rlenv_cfg c = {.kind = QA_RLENV_SINGLE, .action = QA_RLENV_DISCRETE, .nenv = nenv, .window = 4,
                      .horizon = 64, .pos_lo = -1.0f, .pos_hi = 1.0f, .cost = 0.0, .min_equity = 0.0,
                      .reward_scale = 100.0, .seed = 5};
    return c;
}

static qa_rl_ppo_cfg ppo_cfg(void) {
    qa_rl_ppo_cfg c;
    qa_rl_ppo_cfg_default(&c);
    c.nsteps = 64;
    c.hidden[0] = c.hidden[1] = 32;
    c.lr = 3e-3;
    c.total_updates = 80;
    c.seed = 11;
    return c;
}

/* Mean reward per step over `steps` of the test split's envs under a policy: 0 greedy
 * PPO, 1 oracle, 2 uniform random. Every policy sees the same episodes (no termination:
 * resets depend only on the seed). */
static double evaluate(qa_rl_ppo_t *agent, int policy, int steps) {
    qa_backend_t *be = NULL;
    qa_rl_env_t *env = NULL;
    qa_rlenv_cfg ec = env_cfg(256);
    ec.seed = 99;
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &be));
    QA_CHECK_OK(qa_rl_env_create(be, &g_panel, QA_RL_TEST, &ec, &env));
    int D = qa_rl_env_obs_dim(env), N = ec.nenv;
    float *obs = malloc((size_t)N * D * sizeof *obs), *rew = malloc((size_t)N * sizeof *rew);
    int32_t *act = malloc((size_t)N * sizeof *act);
    float *params = NULL;
    double *mean = malloc((size_t)D * sizeof *mean), *var = malloc((size_t)D * sizeof *var);
    qa_rl_policy_t *pol = NULL;
    if (agent) {
        params = malloc(qa_rl_mlp_params(qa_rl_ppo_actor(agent)) * sizeof *params);
        QA_CHECK_OK(qa_rl_ppo_actor_params(agent, params, NULL));
        QA_CHECK_OK(qa_rl_ppo_obs_stats(agent, mean, var));
        QA_CHECK_OK(qa_rl_policy_create(qa_rl_ppo_actor(agent), params, mean, var, 10.0, 1, N, &pol));
    }
    QA_CHECK_OK(qa_rl_env_reset(env, obs));
    double sum = 0.0;
    for (int k = 0; k < steps; k++) {
        if (policy == 0) QA_CHECK_OK(qa_rl_policy_act(pol, N, obs, act));
        for (int i = 0; i < N; i++) {
            if (policy == 1) act[i] = obs[(size_t)i * D + ec.window - 1] > 0.0f ? 2 : 0;
            if (policy == 2) act[i] = (int32_t)(qa_rng_uniform(3, (uint64_t)i, (uint64_t)k) * 3.0);
        }
        qa_rlenv_out o = {.reward = rew, .obs = obs};
        QA_CHECK_OK(qa_rl_env_step(env, act, &o));
        for (int i = 0; i < N; i++) sum += rew[i];
    }
    free(obs), free(rew), free(act), free(params), free(mean), free(var);
    qa_rl_policy_free(pol);
    qa_rl_env_free(env);
    qa_backend_free(be);
    return sum / ((double)steps * N);
}

static void test_learns(void) {
    qa_backend_t *be = NULL;
    qa_rl_env_t *env = NULL;
    qa_rl_ppo_t *agent = NULL;
    qa_rlenv_cfg ec = env_cfg(64);
    qa_rl_ppo_cfg pc = ppo_cfg();
    QA_CHECK_OK(qa_backend_create(g_gpu ? QA_BACKEND_CUDA : QA_BACKEND_CPU, 0, &be));
    QA_CHECK_OK(qa_rl_env_create(be, &g_panel, QA_RL_TRAIN, &ec, &env));
    QA_CHECK_OK(qa_rl_ppo_create(be, env, &pc, NULL, &agent));
    double oracle = evaluate(NULL, 1, 128), random = evaluate(NULL, 2, 128);
    printf("  oracle mean reward %.4f, random %.4f\n", oracle, random);
    QA_CHECK(oracle > 0.3);
    QA_CHECK_MSG(fabs(random) < 0.2 * oracle, "random policy earns %.4f of the oracle's %.4f", random, oracle);
    double got = 0.0;
    int u = 0;
    qa_rl_ppo_stats s;
    /* Bounded: at most 80 updates of 4,096 samples (327,680 env steps). */
    while (u < 80 && got < 0.9 * oracle) {
        for (int k = 0; k < 5; k++, u++) QA_CHECK_OK(qa_rl_ppo_iterate(agent, &s));
        got = evaluate(agent, 0, 128);
        printf("  update %3d: env steps %lld, greedy %.4f (%.0f%% of oracle), entropy %.3f, kl %.4f, ev %.2f\n", u,
               (long long)s.env_steps, got, 100.0 * got / oracle, s.entropy, s.approx_kl, s.explained_var);
    }
    QA_CHECK_MSG(got >= 0.9 * oracle, "PPO reached %.4f = %.0f%% of the oracle's %.4f after %d updates", got,
                 100.0 * got / oracle, oracle, u);
    qa_rl_ppo_free(agent);
    qa_rl_env_free(env);
    qa_backend_free(be);
}

/* Parameters after `n` updates, optionally through a checkpoint after `split`. */
static float *train_params(int n, int split, size_t *np) {
    qa_backend_t *be = NULL;
    qa_rl_env_t *env = NULL;
    qa_rl_ppo_t *agent = NULL;
    qa_rlenv_cfg ec = env_cfg(32);
    qa_rl_ppo_cfg pc = ppo_cfg();
    pc.nsteps = 32;
    char ck[320];
    snprintf(ck, sizeof ck, "%s/ck.qrl", g_dir);
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &be));
    qa_backend_set_threads(be, 2);
    QA_CHECK_OK(qa_rl_env_create(be, &g_panel, QA_RL_TRAIN, &ec, &env));
    QA_CHECK_OK(qa_rl_ppo_create(be, env, &pc, NULL, &agent));
    qa_rl_ppo_stats s;
    for (int u = 0; u < n; u++) {
        if (split && u == split) {
            QA_CHECK_OK(qa_rl_ppo_save(agent, ck));
            qa_rl_ppo_free(agent);
            qa_rl_env_free(env);
            QA_CHECK_OK(qa_rl_env_create(be, &g_panel, QA_RL_TRAIN, &ec, &env));
            QA_CHECK_OK(qa_rl_ppo_create(be, env, &pc, NULL, &agent));
            QA_CHECK_OK(qa_rl_ppo_load(agent, ck));
            QA_CHECK_INT(qa_rl_ppo_updates_done(agent), split);
        }
        QA_CHECK_OK(qa_rl_ppo_iterate(agent, &s));
    }
    *np = qa_rl_mlp_params(qa_rl_ppo_actor(agent));
    float *p = malloc(*np * sizeof *p);
    QA_CHECK_OK(qa_rl_ppo_actor_params(agent, p, NULL));
    qa_rl_ppo_free(agent);
    qa_rl_env_free(env);
    qa_backend_free(be);
    return p;
}

static void test_deterministic_and_resume(void) {
    size_t n1, n2, n3;
    float *a = train_params(4, 0, &n1), *b = train_params(4, 0, &n2), *c = train_params(4, 2, &n3);
    QA_CHECK(n1 == n2 && n1 == n3);
    QA_CHECK_MSG(memcmp(a, b, n1 * sizeof *a) == 0, "two runs with one seed differ");
    QA_CHECK_MSG(memcmp(a, c, n1 * sizeof *a) == 0, "2 + checkpoint + 2 updates differ from 4 updates");
    float *d = train_params(3, 0, &n3);
    QA_CHECK_MSG(memcmp(a, d, n1 * sizeof *a) != 0, "parameters did not move between updates 3 and 4");
    free(a), free(b), free(c), free(d);
}

static void test_checkpoint_mismatch(void) {
    qa_backend_t *be = NULL;
    qa_rl_env_t *env = NULL, *env2 = NULL;
    qa_rl_ppo_t *a = NULL, *b = NULL;
    qa_rlenv_cfg ec = env_cfg(16), ec2 = env_cfg(8);
    qa_rl_ppo_cfg pc = ppo_cfg();
    pc.nsteps = 16;
    char ck[320];
    snprintf(ck, sizeof ck, "%s/ck2.qrl", g_dir);
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &be));
    QA_CHECK_OK(qa_rl_env_create(be, &g_panel, QA_RL_TRAIN, &ec, &env));
    QA_CHECK_OK(qa_rl_env_create(be, &g_panel, QA_RL_TRAIN, &ec2, &env2));
    QA_CHECK_OK(qa_rl_ppo_create(be, env, &pc, NULL, &a));
    QA_CHECK_OK(qa_rl_ppo_create(be, env2, &pc, NULL, &b));
    QA_CHECK_OK(qa_rl_ppo_save(a, ck));
    QA_CHECK_ERR(qa_rl_ppo_load(b, ck), QA_ERR_CONFIG, "envs");
    FILE *f = fopen(ck, "r+b");
    QA_CHECK(f && ftruncate(fileno(f), 100) == 0);
    if (f) fclose(f);
    QA_CHECK_ERR(qa_rl_ppo_load(a, ck), QA_ERR_FORMAT, "truncated");
    qa_rl_ppo_free(a), qa_rl_ppo_free(b);
    qa_rl_env_free(env), qa_rl_env_free(env2);
    qa_backend_free(be);
}

static void test_split_errors(void) {
    qa_rl_panel p;
    qa_rules r;
    qa_rules_init(&r);
    const char *feat[1] = {"log_return"};
    QA_CHECK_OK(qa_rl_panel_load(g_store, NULL, 0, feat, 1, &r, &p));
    QA_CHECK_ERR(qa_rl_panel_split(&p, NULL, "2001-13-01", "2005-01-01", NULL, 5), QA_ERR_CONFIG, "train_end");
    QA_CHECK_ERR(qa_rl_panel_split(&p, NULL, "2005-01-01", "2004-01-01", NULL, 5), QA_ERR_CONFIG, "val_end");
    QA_CHECK_OK(qa_rl_panel_split(&p, NULL, "2004-01-01", "2006-01-01", NULL, 10));
    /* The splits never share a bar: the embargo separates them. */
    QA_CHECK(p.split_hi[QA_RL_TRAIN] + 10 == p.split_lo[QA_RL_VALIDATION]);
    QA_CHECK(p.split_hi[QA_RL_VALIDATION] + 10 == p.split_lo[QA_RL_TEST]);
    const char *bad[1] = {"nope"};
    qa_rl_panel q;
    QA_CHECK_ERR(qa_rl_panel_load(g_store, NULL, 0, bad, 1, &r, &q), QA_ERR_CONFIG, "nope");
    qa_backend_t *be = NULL;
    qa_rl_env_t *env = NULL;
    qa_rlenv_cfg ec = env_cfg(4);
    ec.horizon = 5000;
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CPU, 0, &be));
    QA_CHECK_ERR(qa_rl_env_create(be, &p, QA_RL_VALIDATION, &ec, &env), QA_ERR_CONFIG, "no start");
    r.stops.stop_loss = 0.05;
    QA_CHECK_ERR(qa_rl_rules_apply(&r, &ec), QA_ERR_CONFIG, "stop");
    qa_backend_free(be);
    qa_rl_panel_free(&p);
}

int main(int argc, char **argv) {
    g_gpu = argc > 1 && strcmp(argv[1], "gpu") == 0;
    if (g_gpu) {
        int n = 0;
        qa_cuda_device_count(&n);
        if (!qa_backend_cuda_compiled() || n == 0) {
            printf("skipped: no usable CUDA device\n");
            return QA_TEST_SKIP_CODE;
        }
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/qa_rlppo_XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    snprintf(g_store, sizeof g_store, "%s/m.h5", g_dir);
    if (make_store()) return 1;
    qa_rules r;
    qa_rules_init(&r);
    const char *feat[1] = {"log_return"};
    if (qa_rl_panel_load(g_store, NULL, 0, feat, 1, &r, &g_panel) != QA_OK ||
        qa_rl_panel_split(&g_panel, NULL, "2006-01-01", "2007-06-01", NULL, 10) != QA_OK) {
        printf("panel: %s\n", qa_err_msg());
        return 1;
    }
    if (!g_gpu) {
        qa_test_run("split_errors", test_split_errors);
        qa_test_run("checkpoint_mismatch", test_checkpoint_mismatch);
        qa_test_run("deterministic_and_resume", test_deterministic_and_resume);
    }
    qa_test_run(g_gpu ? "learns_cuda" : "learns", test_learns);
    qa_rl_panel_free(&g_panel);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    if (system(cmd) != 0) printf("could not remove %s\n", g_dir);
    return qa_test_finish();
}
