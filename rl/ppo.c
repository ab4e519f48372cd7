/* PPO on the trading environments (rl/ppo.h). */
#include "rl/ppo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fs.h"
#include "common/philox.h"
#include "common/timer.h"
#include "kernels/ppo.h"
#include "mpi/nccl.h"

void qa_rl_ppo_cfg_default(qa_rl_ppo_cfg *c) {
    memset(c, 0, sizeof *c);
    c->nsteps = 128;
    c->epochs = 4;
    c->minibatches = 4;
    c->nhidden = 2;
    c->hidden[0] = c->hidden[1] = 64;
    c->act = QA_NN_ACT_RELU;
    c->lr = 2.5e-4;
    c->anneal_lr = 1;
    c->gamma = 0.99;
    c->lambda = 0.95;
    c->clip = 0.2;
    c->vclip = 0.2;
    c->ent_coef = 0.01;
    c->vf_coef = 0.5;
    c->max_grad_norm = 0.5;
    c->adam_eps = 1e-5;
    c->norm_adv = 1;
    c->norm_obs = 1;
    c->obs_clip = 10.0;
    c->init_log_std = 0.0;
    c->total_updates = 1;
    c->seed = 1;
}

/* Philox streams of the run's random draws (the env resets use the env cfg's seed). */
enum { STREAM_ACTOR_INIT = 1000, STREAM_CRITIC_INIT = 2000, STREAM_SHUFFLE = 3000 };

/* One network's parameters are a slice of the flat vector; its activations its own. */
typedef struct net {
    qa_rl_mlp m;
    size_t off, n;
    qa_rl_mlp_act act;
} net;

struct qa_rl_ppo {
    qa_backend_t *be;
    qa_nn_ctx_t *ctx;
    qa_rl_env_t *env;
    const qa_comm_t *comm;
    qa_rl_ppo_cfg cfg;
    int N, T, D, A, discrete, B, mb;
    net actor, critic;
    size_t P, logstd_off; /* log-std at the end of the vector (continuous) */
    int64_t update, env_steps, sample_counter;
    /* backend buffers */
    qa_buf all[64];
    int nall;
    float *params, *grad, *adam_m, *adam_v, *norm;
    double *ob_mean, *ob_var, *ob_count, *scratch, *stats;
    float *obs_raw, *obs_n, *fin_raw, *fin_n, *tmp_n;
    void *act;                  /* [T x N x A] int32 or float */
    float *logp, *val, *rew, *fval, *last_val, *adv, *ret, *ep_ret;
    uint8_t *term, *trunc;
    int32_t *ep_len, *perm;
    float *out_a, *out_c, *dout_a, *dout_c, *s0, *s1;
    float *mb_obs, *mb_logp, *mb_adv, *mb_ret, *mb_val;
    void *mb_act;
    int32_t *host_perm;
    double *host_mom;   /* MPI: this rank's and every rank's batch moments, statistics */
    float *host_obs;    /* MPI on CUDA: the rows copied to the host for the moments */
    qa_nccl_t *nccl;    /* CUDA data parallel: gradients summed on the devices */
    float *host_grad;   /* CUDA data parallel without NCCL: the host staging buffer */
};

static qa_status alloc(qa_rl_ppo_t *p, size_t bytes, void *ptr) {
    if (p->nall >= (int)(sizeof p->all / sizeof p->all[0])) return QA_FAIL(QA_ERR_STATE, "ppo: too many buffers");
    qa_buf *b = &p->all[p->nall++];
    QA_TRY_RET(qa_buf_alloc(p->be, bytes ? bytes : 8, b));
    *(void **)ptr = b->ptr;
    return QA_OK;
}

void qa_rl_ppo_free(qa_rl_ppo_t *p) {
    if (!p) return;
    for (int i = 0; i < p->nall; i++) qa_buf_free(&p->all[i]);
    qa_nn_ctx_free(p->ctx);
    qa_nccl_free(p->nccl);
    free(p->host_grad);
    free(p->host_mom);
    free(p->host_obs);
    free(p->host_perm);
    free(p);
}

/* Copies between host memory and `bytes` of backend memory at `dev` (any of the agent's
 * buffers, or a slice of one). */
static qa_buf view(const qa_rl_ppo_t *p, const void *dev, size_t bytes) {
    qa_buf b = {.ptr = (void *)dev, .bytes = bytes, .kind = qa_backend_kind_of(p->be)};
    return b;
}
static qa_status to_host(const qa_rl_ppo_t *p, void *host, const void *dev, size_t bytes) {
    qa_buf b = view(p, dev, bytes);
    return qa_buf_download(p->be, host, &b, 0, bytes);
}
static qa_status to_dev(const qa_rl_ppo_t *p, void *dev, const void *host, size_t bytes) {
    qa_buf b = view(p, dev, bytes);
    return qa_buf_upload(p->be, &b, 0, host, bytes);
}

static qa_status net_alloc(qa_rl_ppo_t *p, net *n, int rows) {
    for (int l = 0; l < n->m.nhidden; l++) {
        QA_TRY_RET(alloc(p, (size_t)rows * n->m.hidden[l] * sizeof(float), &n->act.z[l]));
        QA_TRY_RET(alloc(p, (size_t)rows * n->m.hidden[l] * sizeof(float), &n->act.h[l]));
    }
    return QA_OK;
}

qa_status qa_rl_ppo_create(qa_backend_t *be, qa_rl_env_t *env, const qa_rl_ppo_cfg *cfg, const qa_comm_t *comm,
                        qa_rl_ppo_t **out) {
    *out = NULL;
    const qa_rlenv_cfg *ec = qa_rl_env_cfg(env);
    if (cfg->nsteps < 1 || cfg->epochs < 1 || cfg->minibatches < 1)
        return QA_FAIL(QA_ERR_CONFIG, "ppo: nsteps, epochs and minibatches must be >= 1");
    if (((int64_t)cfg->nsteps * ec->nenv) % cfg->minibatches)
        return QA_FAIL(QA_ERR_CONFIG, "ppo: %d steps x %d envs = %lld samples do not split into %d equal minibatches",
                       cfg->nsteps, ec->nenv, (long long)cfg->nsteps * ec->nenv, cfg->minibatches);
    if ((int64_t)cfg->nsteps * ec->nenv > INT32_MAX / 4)
        return QA_FAIL(QA_ERR_CONFIG, "ppo: a rollout of %lld samples is too large", (long long)cfg->nsteps * ec->nenv);
    if (cfg->nhidden < 0 || cfg->nhidden > QA_NN_MAX_HIDDEN)
        return QA_FAIL(QA_ERR_CONFIG, "ppo: %d hidden layers (0 to %d)", cfg->nhidden, QA_NN_MAX_HIDDEN);
    qa_rl_ppo_t *p = calloc(1, sizeof *p);
    if (!p) return QA_FAIL(QA_ERR_NOMEM, "ppo: no memory");
    qa_status st = QA_OK;
    float *host = NULL;
    p->be = be;
    p->env = env;
    p->comm = comm;
    p->cfg = *cfg;
    p->N = ec->nenv;
    p->T = cfg->nsteps;
    p->D = qa_rl_env_obs_dim(env);
    p->discrete = ec->action == QA_RLENV_DISCRETE;
    p->A = p->discrete ? 3 : qa_rl_env_action_dim(env);
    p->mb = p->T * p->N / cfg->minibatches;
    p->B = p->mb > p->N ? p->mb : p->N;
    QA_TRY(qa_nn_ctx_create(be, &p->ctx));
    qa_rl_mlp base = {.in = p->D, .nhidden = cfg->nhidden, .act = cfg->act};
    for (int l = 0; l < cfg->nhidden; l++) {
        if (cfg->hidden[l] < 1) QA_TRY_FAIL(QA_ERR_CONFIG, "ppo: hidden width %d", cfg->hidden[l]);
        base.hidden[l] = cfg->hidden[l];
    }
    p->actor.m = base, p->actor.m.out = p->A;
    p->critic.m = base, p->critic.m.out = 1;
    p->actor.off = 0, p->actor.n = qa_rl_mlp_params(&p->actor.m);
    p->critic.off = p->actor.n, p->critic.n = qa_rl_mlp_params(&p->critic.m);
    p->logstd_off = p->actor.n + p->critic.n;
    p->P = p->logstd_off + (p->discrete ? 0 : (size_t)p->A);
    size_t P = p->P, TN = (size_t)p->T * p->N, N = (size_t)p->N, D = (size_t)p->D, A = (size_t)p->A;
    size_t aw = p->discrete ? 1 : A; /* action elements per sample (4 bytes each) */
    int W = qa_rl_mlp_max_width(&p->actor.m);
    QA_TRY(alloc(p, P * 4, &p->params));
    QA_TRY(alloc(p, P * 4, &p->grad));
    QA_TRY(alloc(p, P * 4, &p->adam_m));
    QA_TRY(alloc(p, P * 4, &p->adam_v));
    QA_TRY(alloc(p, 4, &p->norm));
    QA_TRY(alloc(p, D * 8, &p->ob_mean));
    QA_TRY(alloc(p, D * 8, &p->ob_var));
    QA_TRY(alloc(p, 8, &p->ob_count));
    QA_TRY(alloc(p, qa_ppo_scratch_doubles(p->B, p->D) * 8, &p->scratch));
    QA_TRY(alloc(p, (size_t)cfg->epochs * cfg->minibatches * QA_PPO_STATS * 8, &p->stats));
    QA_TRY(alloc(p, N * D * 4, &p->obs_raw));
    QA_TRY(alloc(p, TN * D * 4, &p->obs_n));
    QA_TRY(alloc(p, N * D * 4, &p->fin_raw));
    QA_TRY(alloc(p, N * D * 4, &p->fin_n));
    QA_TRY(alloc(p, N * D * 4, &p->tmp_n));
    QA_TRY(alloc(p, TN * aw * 4, &p->act));
    QA_TRY(alloc(p, TN * 4, &p->logp));
    QA_TRY(alloc(p, TN * 4, &p->val));
    QA_TRY(alloc(p, TN * 4, &p->rew));
    QA_TRY(alloc(p, TN * 4, &p->fval));
    QA_TRY(alloc(p, N * 4, &p->last_val));
    QA_TRY(alloc(p, TN * 4, &p->adv));
    QA_TRY(alloc(p, TN * 4, &p->ret));
    QA_TRY(alloc(p, TN * 4, &p->ep_ret));
    QA_TRY(alloc(p, TN, &p->term));
    QA_TRY(alloc(p, TN, &p->trunc));
    QA_TRY(alloc(p, TN * 4, &p->ep_len));
    QA_TRY(alloc(p, TN * 4, &p->perm));
    QA_TRY(alloc(p, (size_t)p->B * A * 4, &p->out_a));
    QA_TRY(alloc(p, (size_t)p->B * 4, &p->out_c));
    QA_TRY(alloc(p, (size_t)p->B * A * 4, &p->dout_a));
    QA_TRY(alloc(p, (size_t)p->B * 4, &p->dout_c));
    QA_TRY(alloc(p, (size_t)p->B * W * 4, &p->s0));
    QA_TRY(alloc(p, (size_t)p->B * W * 4, &p->s1));
    QA_TRY(alloc(p, (size_t)p->mb * D * 4, &p->mb_obs));
    QA_TRY(alloc(p, (size_t)p->mb * aw * 4, &p->mb_act));
    QA_TRY(alloc(p, (size_t)p->mb * 4, &p->mb_logp));
    QA_TRY(alloc(p, (size_t)p->mb * 4, &p->mb_adv));
    QA_TRY(alloc(p, (size_t)p->mb * 4, &p->mb_ret));
    QA_TRY(alloc(p, (size_t)p->mb * 4, &p->mb_val));
    QA_TRY(net_alloc(p, &p->actor, p->B));
    QA_TRY(net_alloc(p, &p->critic, p->B));
    p->host_perm = malloc(TN * sizeof *p->host_perm);
    /* One host staging buffer: first the P float parameters, then (through `hd` below) the D
     * double normalisation statistics and the count, so it is sized for the larger use. */
    size_t host_bytes = P * sizeof(float) > D * sizeof(double) ? P * sizeof(float) : D * sizeof(double);
    if (host_bytes < sizeof(double)) host_bytes = sizeof(double);
    host = malloc(host_bytes);
    if (!p->host_perm || !host) QA_TRY_FAIL(QA_ERR_NOMEM, "ppo: no memory");
    /* Parameters: both networks, then the log-std. */
    qa_rl_mlp_init(&p->actor.m, cfg->seed, STREAM_ACTOR_INIT, 0.01, host);
    qa_rl_mlp_init(&p->critic.m, cfg->seed, STREAM_CRITIC_INIT, 1.0, host + p->critic.off);
    for (size_t j = p->logstd_off; j < P; j++) host[j] = (float)cfg->init_log_std;
    QA_TRY(to_dev(p, p->params, host, P * 4));
    qa_buf mom = view(p, p->adam_m, P * 4);
    QA_TRY(qa_buf_memset(be, &mom, 0));
    mom = view(p, p->adam_v, P * 4);
    QA_TRY(qa_buf_memset(be, &mom, 0));
    /* gym's RunningMeanStd start: mean 0, var 1, count 1e-4. */
    double *hd = (double *)host;
    for (size_t j = 0; j < D; j++) hd[j] = 0.0;
    QA_TRY(to_dev(p, p->ob_mean, hd, D * 8));
    for (size_t j = 0; j < D; j++) hd[j] = cfg->norm_obs ? 1.0 : 1.0 - 1e-8;
    QA_TRY(to_dev(p, p->ob_var, hd, D * 8));
    hd[0] = 1e-4;
    QA_TRY(to_dev(p, p->ob_count, hd, 8));
    if (comm && qa_comm_size(comm) > 1) {
        size_t R = (size_t)qa_comm_size(comm);
        p->host_mom = malloc((2 * D * (R + 1) + 2 * D + 1) * sizeof *p->host_mom);
        p->host_obs = malloc(N * D * sizeof *p->host_obs);
        if (!p->host_mom || !p->host_obs) QA_TRY_FAIL(QA_ERR_NOMEM, "ppo: no memory");
    }
    if (comm && qa_comm_size(comm) > 1 && qa_backend_kind_of(be) == QA_BACKEND_CUDA) {
        /* NCCL between the GPUs where the build has it; else through host memory. */
        if (qa_nccl_compiled()) QA_TRY(qa_nccl_create(comm, &p->nccl));
        else if (!(p->host_grad = malloc(P * sizeof *p->host_grad))) QA_TRY_FAIL(QA_ERR_NOMEM, "ppo: no memory");
    }
    QA_TRY(qa_rl_env_reset(env, p->obs_raw));
    *out = p;
    p = NULL;
cleanup:
    free(host);
    qa_rl_ppo_free(p);
    return st;
}

int64_t qa_rl_ppo_updates_done(const qa_rl_ppo_t *p) { return p->update; }
const qa_rl_mlp *qa_rl_ppo_actor(const qa_rl_ppo_t *p) { return &p->actor.m; }

static int rank_count(const qa_rl_ppo_t *p) { return p->comm ? qa_comm_size(p->comm) : 1; }

/* Normalised observations of `rows` raw rows (stats updated first when `learn`). Without
 * normalisation the statistics stay at mean 0, var 1 - 1e-8 and no clip, so the same
 * kernel copies x / sqrt(1) = x. */
/* Under MPI the running statistics see every rank's rows, so all ranks normalise with the
 * same numbers: each rank's batch moments (two passes in double, rows in order) are
 * gathered and merged in rank order (Chan et al.), then merged into the running
 * statistics with qa_ppo_obsnorm_update's formula. Host arithmetic (the statistics are
 * 2D + 1 doubles; a CUDA backend copies the rows and statistics across). */
static qa_status obsnorm_update_ranks(qa_rl_ppo_t *p, int rows, const float *raw) {
    const int D = p->D, R = rank_count(p);
    const int cpu = qa_backend_kind_of(p->be) == QA_BACKEND_CPU;
    const float *x = raw;
    double *loc = p->host_mom, *all = p->host_mom + 2 * (size_t)D, *st = all + 2 * (size_t)D * R;
    if (!cpu) {
        QA_TRY_RET(to_host(p, p->host_obs, raw, (size_t)rows * D * 4));
        x = p->host_obs;
    }
    for (int j = 0; j < D; j++) {
        double s = 0.0, q = 0.0;
        for (int r = 0; r < rows; r++) s += x[(size_t)r * D + j];
        double m = s / rows;
        for (int r = 0; r < rows; r++) {
            double d = x[(size_t)r * D + j] - m;
            q += d * d;
        }
        loc[j] = m, loc[D + j] = q;
    }
    QA_TRY_RET(qa_comm_allgather(p->comm, loc, 2 * (size_t)D * sizeof(double), all));
    /* The merged batch: every rank contributed `rows` rows. */
    double n = rows;
    for (int k = 1; k < R; k++) {
        const double *o = all + 2 * (size_t)D * k;
        for (int j = 0; j < D; j++) {
            double d = o[j] - all[j], tot = n + rows;
            all[j] += d * rows / tot;
            all[D + j] += o[D + j] + d * d * n * rows / tot;
        }
        n += rows;
    }
    double *mean = p->ob_mean, *var = p->ob_var, *count = p->ob_count;
    if (!cpu) {
        mean = st, var = st + D, count = st + 2 * (size_t)D;
        QA_TRY_RET(to_host(p, mean, p->ob_mean, (size_t)D * 8));
        QA_TRY_RET(to_host(p, var, p->ob_var, (size_t)D * 8));
        QA_TRY_RET(to_host(p, count, p->ob_count, 8));
    }
    double c0 = count[0], tot = c0 + n;
    for (int j = 0; j < D; j++) {
        double vb = all[D + j] / n, d = all[j] - mean[j];
        mean[j] += d * n / tot;
        var[j] = (var[j] * c0 + vb * n + d * d * c0 * n / tot) / tot;
    }
    count[0] = tot;
    if (!cpu) {
        QA_TRY_RET(to_dev(p, p->ob_mean, mean, (size_t)D * 8));
        QA_TRY_RET(to_dev(p, p->ob_var, var, (size_t)D * 8));
        QA_TRY_RET(to_dev(p, p->ob_count, count, 8));
    }
    return QA_OK;
}

static qa_status normalise(qa_rl_ppo_t *p, int rows, const float *raw, float *dst, int learn) {
    if (learn && p->cfg.norm_obs) {
        if (rank_count(p) > 1) QA_TRY_RET(obsnorm_update_ranks(p, rows, raw));
        else QA_TRY_RET(qa_ppo_obsnorm_update(p->be, rows, p->D, raw, p->ob_mean, p->ob_var, p->ob_count, p->scratch));
    }
    return qa_ppo_obsnorm_apply(p->be, rows, p->D, raw, p->ob_mean, p->ob_var,
                                p->cfg.norm_obs ? (float)p->cfg.obs_clip : 0.0f, dst);
}

static qa_status value_of(qa_rl_ppo_t *p, int rows, const float *x, float *v) {
    return qa_rl_mlp_forward(p->ctx, &p->critic.m, p->params + p->critic.off, rows, x, &p->critic.act, v);
}

static int any_truncated_host(qa_rl_ppo_t *p, const uint8_t *trunc) {
    /* Only the CPU can look without a sync; the GPU always values the final rows. */
    if (qa_backend_kind_of(p->be) != QA_BACKEND_CPU) return 1;
    for (int i = 0; i < p->N; i++)
        if (trunc[i]) return 1;
    return 0;
}

static qa_status rollout(qa_rl_ppo_t *p) {
    size_t N = (size_t)p->N, D = (size_t)p->D, aw = p->discrete ? 1 : (size_t)p->A;
    for (int t = 0; t < p->T; t++) {
        size_t r = (size_t)t * N;
        float *on = p->obs_n + r * D;
        QA_TRY_RET(normalise(p, p->N, p->obs_raw, on, 1));
        QA_TRY_RET(qa_rl_mlp_forward(p->ctx, &p->actor.m, p->params, p->N, on, &p->actor.act, p->out_a));
        QA_TRY_RET(value_of(p, p->N, on, p->val + r));
        void *a = (char *)p->act + r * aw * 4;
        uint64_t ctr = (uint64_t)p->sample_counter++;
        /* Action draws: their own key per rank (streams are step counters, which would
         * meet the initialisation and shuffle streams under the run seed itself). */
        uint64_t seed = (p->cfg.seed + 1u) * 0x9E3779B97F4A7C15ull +
                        (uint64_t)(p->comm ? qa_comm_rank(p->comm) : 0) * 0x632BE59BD9B4E019ull;
        if (p->discrete) QA_TRY_RET(qa_ppo_cat_sample(p->be, p->N, p->A, p->out_a, seed, ctr, a, p->logp + r));
        else
            QA_TRY_RET(qa_ppo_gauss_sample(p->be, p->N, p->A, p->out_a, p->params + p->logstd_off, seed, ctr, a,
                                           p->logp + r));
        qa_rlenv_out o = {.reward = p->rew + r, .terminated = p->term + r, .truncated = p->trunc + r,
                          .obs = p->obs_raw, .final_obs = p->fin_raw, .ep_return = p->ep_ret + r,
                          .ep_length = p->ep_len + r};
        QA_TRY_RET(qa_rl_env_step(p->env, a, &o));
        if (any_truncated_host(p, p->trunc + r)) {
            QA_TRY_RET(normalise(p, p->N, p->fin_raw, p->fin_n, 0));
            QA_TRY_RET(value_of(p, p->N, p->fin_n, p->fval + r));
        }
    }
    QA_TRY_RET(normalise(p, p->N, p->obs_raw, p->tmp_n, 0));
    QA_TRY_RET(value_of(p, p->N, p->tmp_n, p->last_val));
    return qa_ppo_gae(p->be, p->T, p->N, (float)p->cfg.gamma, (float)p->cfg.lambda, p->rew, p->val, p->last_val,
                      p->term, p->trunc, p->fval, p->adv, p->ret);
}

/* A Philox Fisher-Yates shuffle of the rollout's sample indices (host; one upload per
 * epoch, the only host-to-device copy of an update). */
static qa_status shuffle(qa_rl_ppo_t *p, int epoch) {
    int n = p->T * p->N;
    uint64_t stream = STREAM_SHUFFLE + (uint64_t)p->update * 64 + (uint64_t)epoch;
    for (int i = 0; i < n; i++) p->host_perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(qa_rng_uniform(p->cfg.seed, stream, (uint64_t)i) * (i + 1));
        if (j > i) j = i;
        int32_t x = p->host_perm[i];
        p->host_perm[i] = p->host_perm[j];
        p->host_perm[j] = x;
    }
    return to_dev(p, p->perm, p->host_perm, (size_t)n * 4);
}

static qa_status minibatch(qa_rl_ppo_t *p, const int32_t *idx, double *stats, double lr, int64_t step) {
    int B = p->mb, D = p->D, A = p->A, aw = p->discrete ? 1 : A;
    QA_TRY_RET(qa_ppo_gather(p->be, B, D, p->obs_n, idx, p->mb_obs));
    QA_TRY_RET(qa_ppo_gather(p->be, B, aw, p->act, idx, p->mb_act));
    QA_TRY_RET(qa_ppo_gather(p->be, B, 1, p->logp, idx, p->mb_logp));
    QA_TRY_RET(qa_ppo_gather(p->be, B, 1, p->adv, idx, p->mb_adv));
    QA_TRY_RET(qa_ppo_gather(p->be, B, 1, p->ret, idx, p->mb_ret));
    QA_TRY_RET(qa_ppo_gather(p->be, B, 1, p->val, idx, p->mb_val));
    if (p->cfg.norm_adv) QA_TRY_RET(qa_ppo_normalize(p->be, B, p->mb_adv, p->scratch));
    float *pa = p->params + p->actor.off, *pc = p->params + p->critic.off;
    QA_TRY_RET(qa_rl_mlp_forward(p->ctx, &p->actor.m, pa, B, p->mb_obs, &p->actor.act, p->out_a));
    if (p->discrete)
        QA_TRY_RET(qa_ppo_cat_loss(p->be, B, A, p->out_a, p->mb_act, p->mb_logp, p->mb_adv, (float)p->cfg.clip,
                                   (float)p->cfg.ent_coef, p->dout_a, stats, p->scratch));
    else
        QA_TRY_RET(qa_ppo_gauss_loss(p->be, B, A, p->out_a, p->params + p->logstd_off, p->mb_act, p->mb_logp,
                                     p->mb_adv, (float)p->cfg.clip, (float)p->cfg.ent_coef, p->dout_a,
                                     p->grad + p->logstd_off, stats, p->scratch));
    QA_TRY_RET(qa_rl_mlp_backward(p->ctx, &p->actor.m, pa, B, p->mb_obs, &p->actor.act, p->dout_a,
                                  p->grad + p->actor.off, p->s0, p->s1));
    QA_TRY_RET(value_of(p, B, p->mb_obs, p->out_c));
    QA_TRY_RET(qa_ppo_value_loss(p->be, B, p->out_c, p->mb_val, p->mb_ret, (float)p->cfg.vclip,
                                 (float)p->cfg.vf_coef, p->dout_c, stats, p->scratch));
    QA_TRY_RET(qa_rl_mlp_backward(p->ctx, &p->critic.m, pc, B, p->mb_obs, &p->critic.act, p->dout_c,
                                  p->grad + p->critic.off, p->s0, p->s1));
    int R = rank_count(p);
    if (R > 1) {
        /* Data parallel: every rank takes the same step on the mean gradient (sum over
         * ranks, then x 1/R as a k = 0 GEMM, C = beta C, on whichever backend). */
        if (qa_backend_kind_of(p->be) == QA_BACKEND_CPU) {
            QA_TRY_RET(qa_comm_allreduce_sum_f32(p->comm, p->grad, p->P));
        } else if (p->nccl) {
            QA_TRY_RET(qa_nccl_allreduce_sum_f32(p->nccl, p->grad, p->P, qa_backend_stream(p->be)));
        } else {
            QA_TRY_RET(to_host(p, p->host_grad, p->grad, p->P * 4));
            QA_TRY_RET(qa_comm_allreduce_sum_f32(p->comm, p->host_grad, p->P));
            QA_TRY_RET(to_dev(p, p->grad, p->host_grad, p->P * 4));
        }
        QA_TRY_RET(qa_nn_gemm(p->ctx, 0, 0, 1, (int)p->P, 0, 1.0f, p->grad, 1, p->grad, (int)p->P, 1.0f / (float)R,
                              p->grad, (int)p->P));
    }
    QA_TRY_RET(qa_nn_grad_norm(p->ctx, p->P, p->grad, p->norm));
    qa_nn_adamw_cfg ac = {.lr = lr, .beta1 = 0.9, .beta2 = 0.999, .eps = p->cfg.adam_eps, .weight_decay = 0.0,
                          .max_norm = p->cfg.max_grad_norm};
    return qa_nn_adamw_update(p->ctx, &ac, step, p->P, p->params, p->grad, p->adam_m, p->adam_v,
                              p->cfg.max_grad_norm > 0 ? p->norm : NULL);
}

/* Mean and variance of a host float array, in double. */
static void moments(const float *x, size_t n, double *mean, double *var) {
    double s = 0.0, q = 0.0;
    for (size_t i = 0; i < n; i++) s += x[i];
    double m = n ? s / (double)n : NAN;
    for (size_t i = 0; i < n; i++) q += (x[i] - m) * (x[i] - m);
    *mean = m;
    *var = n > 1 ? q / (double)(n - 1) : NAN;
}

static qa_status rollout_stats(qa_rl_ppo_t *p, qa_rl_ppo_stats *s) {
    size_t TN = (size_t)p->T * p->N;
    float *h = malloc(TN * 4 * 3);
    int32_t *len = malloc(TN * 4);
    qa_status st = QA_OK;
    if (!h || !len) QA_TRY_FAIL(QA_ERR_NOMEM, "ppo: no memory for statistics");
    QA_TRY(to_host(p, h, p->rew, TN * 4));
    QA_TRY(to_host(p, h + TN, p->ep_ret, TN * 4));
    QA_TRY(to_host(p, len, p->ep_len, TN * 4));
    double m, v;
    moments(h, TN, &m, &v);
    double acc[4] = {0, 0, 0, m}; /* episodes, sum of returns, sum of lengths, reward mean */
    for (size_t i = 0; i < TN; i++)
        if (len[i] > 0) acc[0] += 1, acc[1] += h[TN + i], acc[2] += len[i];
    /* Explained variance of the value function over this rollout. */
    QA_TRY(to_host(p, h, p->val, TN * 4));
    QA_TRY(to_host(p, h + TN, p->ret, TN * 4));
    for (size_t i = 0; i < TN; i++) h[2 * TN + i] = h[TN + i] - h[i];
    double mr, vr, md, vd;
    moments(h + TN, TN, &mr, &vr);
    moments(h + 2 * TN, TN, &md, &vd);
    s->explained_var = vr > 0 ? 1.0 - vd / vr : NAN;
    int R = rank_count(p);
    if (R > 1) {
        QA_TRY(qa_comm_allreduce_sum_f64(p->comm, acc, 4));
        acc[3] /= R;
    }
    s->reward_mean = acc[3];
    s->episodes = acc[0];
    s->ep_return = acc[0] > 0 ? acc[1] / acc[0] : NAN;
    s->ep_length = acc[0] > 0 ? acc[2] / acc[0] : NAN;
cleanup:
    free(h);
    free(len);
    return st;
}

qa_status qa_rl_ppo_iterate(qa_rl_ppo_t *p, qa_rl_ppo_stats *s) {
    memset(s, 0, sizeof *s);
    uint64_t t0 = qa_time_ns();
    QA_TRY_RET(rollout(p));
    QA_TRY_RET(qa_backend_sync(p->be));
    double t1 = qa_time_since(t0);
    double frac = p->cfg.anneal_lr && p->cfg.total_updates > 0
                      ? 1.0 - (double)p->update / (double)p->cfg.total_updates : 1.0;
    double lr = p->cfg.lr * (frac > 0 ? frac : 0);
    int nmb = p->cfg.minibatches;
    int64_t step0 = p->update * p->cfg.epochs * nmb;
    for (int e = 0; e < p->cfg.epochs; e++) {
        QA_TRY_RET(shuffle(p, e));
        for (int k = 0; k < nmb; k++)
            QA_TRY_RET(minibatch(p, p->perm + (size_t)k * p->mb, p->stats + (size_t)(e * nmb + k) * QA_PPO_STATS, lr,
                                 step0 + (int64_t)e * nmb + k + 1));
    }
    size_t ns = (size_t)p->cfg.epochs * nmb * QA_PPO_STATS;
    double *hs = malloc(ns * sizeof *hs);
    if (!hs) return QA_FAIL(QA_ERR_NOMEM, "ppo: no memory");
    qa_status st = to_host(p, hs, p->stats, ns * 8);
    if (st != QA_OK) {
        free(hs);
        return st;
    }
    double t2 = qa_time_since(t0);
    int M = p->cfg.epochs * nmb;
    for (int i = 0; i < M; i++) {
        s->policy_loss += hs[i * QA_PPO_STATS + QA_PPO_STAT_PG] / M;
        s->value_loss += hs[i * QA_PPO_STATS + QA_PPO_STAT_VLOSS] / M;
        s->entropy += hs[i * QA_PPO_STATS + QA_PPO_STAT_ENT] / M;
        s->approx_kl += hs[i * QA_PPO_STATS + QA_PPO_STAT_KL] / M;
        s->clipfrac += hs[i * QA_PPO_STATS + QA_PPO_STAT_CLIPFRAC] / M;
    }
    free(hs);
    QA_TRY_RET(rollout_stats(p, s));
    p->update++;
    p->env_steps += (int64_t)p->T * p->N * rank_count(p);
    s->update = p->update;
    s->env_steps = p->env_steps;
    s->lr = lr;
    s->rollout_s = t1;
    s->update_s = t2 - t1;
    return QA_OK;
}

qa_status qa_rl_ppo_actor_params(qa_rl_ppo_t *p, float *params, float *log_std) {
    QA_TRY_RET(to_host(p, params, p->params + p->actor.off, p->actor.n * 4));
    if (log_std && !p->discrete) QA_TRY_RET(to_host(p, log_std, p->params + p->logstd_off, (size_t)p->A * 4));
    return QA_OK;
}

qa_status qa_rl_ppo_obs_stats(qa_rl_ppo_t *p, double *mean, double *var) {
    size_t D = (size_t)p->D;
    QA_TRY_RET(to_host(p, mean, p->ob_mean, D * 8));
    return to_host(p, var, p->ob_var, D * 8);
}

/* ---- checkpoints ------------------------------------------------------------------------- */

#define CKPT_MAGIC "QARLPPO1"

typedef struct ckpt_head {
    char magic[8];
    int64_t P, D, A, N, T, state_bytes;
    int64_t update, env_steps, sample_counter;
} ckpt_head;

/* The buffers a checkpoint holds, in file order: params, Adam m and v, the observation
 * statistics, the current raw observations. */
static int ckpt_bufs(const qa_rl_ppo_t *p, void **b, size_t *n) {
    int k = 0;
    b[k] = p->params, n[k++] = p->P * 4;
    b[k] = p->adam_m, n[k++] = p->P * 4;
    b[k] = p->adam_v, n[k++] = p->P * 4;
    b[k] = p->ob_mean, n[k++] = (size_t)p->D * 8;
    b[k] = p->ob_var, n[k++] = (size_t)p->D * 8;
    b[k] = p->ob_count, n[k++] = 8;
    b[k] = p->obs_raw, n[k++] = (size_t)p->N * p->D * 4;
    return k;
}

qa_status qa_rl_ppo_save(qa_rl_ppo_t *p, const char *path) {
    ckpt_head h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CKPT_MAGIC, 8);
    h.P = (int64_t)p->P, h.D = p->D, h.A = p->A, h.N = p->N, h.T = p->T;
    h.state_bytes = (int64_t)qa_rl_env_state_bytes(p->env);
    h.update = p->update, h.env_steps = p->env_steps, h.sample_counter = p->sample_counter;
    void *b[8];
    size_t n[8];
    int k = ckpt_bufs(p, b, n);
    size_t total = (size_t)h.state_bytes;
    for (int i = 0; i < k; i++) total = n[i] > total ? n[i] : total;
    void *tmp = malloc(total);
    if (!tmp) return QA_FAIL(QA_ERR_NOMEM, "%s: no memory for the checkpoint", path);
    qa_atomic_file af;
    qa_status st = qa_atomic_open(&af, path);
    if (st != QA_OK) {
        free(tmp);
        return st;
    }
    if (fwrite(&h, sizeof h, 1, af.f) != 1) QA_TRY_FAIL(QA_ERR_IO, "%s: write failed", path);
    for (int i = 0; i < k; i++) {
        QA_TRY(to_host(p, tmp, b[i], n[i]));
        if (fwrite(tmp, 1, n[i], af.f) != n[i]) QA_TRY_FAIL(QA_ERR_IO, "%s: write failed", path);
    }
    QA_TRY(qa_rl_env_state_save(p->env, tmp));
    if (fwrite(tmp, 1, (size_t)h.state_bytes, af.f) != (size_t)h.state_bytes)
        QA_TRY_FAIL(QA_ERR_IO, "%s: write failed", path);
    st = qa_atomic_commit(&af);
cleanup:
    if (st != QA_OK) qa_atomic_abort(&af);
    free(tmp);
    return st;
}

qa_status qa_rl_ppo_load(qa_rl_ppo_t *p, const char *path) {
    char *data = NULL;
    size_t len = 0;
    QA_TRY_RET(qa_fs_read_all(path, &data, &len));
    qa_status st = QA_OK;
    ckpt_head h;
    if (len < sizeof h) QA_TRY_FAIL(QA_ERR_FORMAT, "%s: %zu bytes, too short for a PPO checkpoint", path, len);
    memcpy(&h, data, sizeof h);
    if (memcmp(h.magic, CKPT_MAGIC, 8) != 0) QA_TRY_FAIL(QA_ERR_FORMAT, "%s: not a PPO checkpoint (bad magic)", path);
    int64_t want[6] = {(int64_t)p->P, p->D, p->A, p->N, p->T, (int64_t)qa_rl_env_state_bytes(p->env)};
    int64_t got[6] = {h.P, h.D, h.A, h.N, h.T, h.state_bytes};
    static const char *const what[6] = {"parameters", "observation width", "action width", "envs",
                                        "steps per rollout", "env state bytes"};
    for (int i = 0; i < 6; i++)
        if (want[i] != got[i])
            QA_TRY_FAIL(QA_ERR_CONFIG, "%s: checkpoint has %lld %s, this configuration %lld", path,
                        (long long)got[i], what[i], (long long)want[i]);
    void *b[8];
    size_t n[8], off = sizeof h, need = sizeof h + (size_t)h.state_bytes;
    int k = ckpt_bufs(p, b, n);
    for (int i = 0; i < k; i++) need += n[i];
    if (len != need) QA_TRY_FAIL(QA_ERR_FORMAT, "%s: %zu bytes, expected %zu (truncated?)", path, len, need);
    for (int i = 0; i < k; i++) {
        QA_TRY(to_dev(p, b[i], data + off, n[i]));
        off += n[i];
    }
    QA_TRY(qa_rl_env_state_load(p->env, data + off));
    p->update = h.update, p->env_steps = h.env_steps, p->sample_counter = h.sample_counter;
cleanup:
    free(data);
    return st;
}

/* ---- greedy policy on the host --------------------------------------------------------------- */

struct qa_rl_policy {
    qa_rl_mlp actor;
    qa_nn_infer_t *plan;
    float *params, *x, *y;
    double *mean, *var, clip;
    int discrete, max_rows;
};

void qa_rl_policy_free(qa_rl_policy_t *p) {
    if (!p) return;
    qa_nn_infer_free(p->plan);
    free(p->params), free(p->x), free(p->y), free(p->mean), free(p->var);
    free(p);
}

qa_status qa_rl_policy_create(const qa_rl_mlp *actor, const float *params, const double *mean, const double *var,
                              double obs_clip, int discrete, int max_rows, qa_rl_policy_t **out) {
    *out = NULL;
    if (max_rows < 1 || max_rows > 4096) return QA_FAIL(QA_ERR_INVALID_ARG, "policy: max_rows %d (1 to 4096)", max_rows);
    qa_rl_policy_t *p = calloc(1, sizeof *p);
    if (!p) return QA_FAIL(QA_ERR_NOMEM, "policy: no memory");
    size_t np = qa_rl_mlp_params(actor), D = (size_t)actor->in;
    p->actor = *actor;
    p->clip = obs_clip, p->discrete = discrete, p->max_rows = max_rows;
    p->params = malloc(np * sizeof *p->params);
    p->x = malloc((size_t)max_rows * D * sizeof *p->x);
    p->y = malloc((size_t)max_rows * actor->out * sizeof *p->y);
    p->mean = malloc(D * sizeof *p->mean);
    p->var = malloc(D * sizeof *p->var);
    if (!p->params || !p->x || !p->y || !p->mean || !p->var) {
        qa_rl_policy_free(p);
        return QA_FAIL(QA_ERR_NOMEM, "policy: no memory");
    }
    memcpy(p->params, params, np * sizeof *params);
    memcpy(p->mean, mean, D * sizeof *mean);
    memcpy(p->var, var, D * sizeof *var);
    qa_nn_arch a = qa_rl_mlp_arch(actor);
    qa_status st = qa_nn_infer_create(&a, max_rows, &p->plan);
    if (st != QA_OK) {
        qa_rl_policy_free(p);
        return st;
    }
    *out = p;
    return QA_OK;
}

qa_status qa_rl_policy_act(qa_rl_policy_t *p, int rows, const float *obs, void *action) {
    int D = p->actor.in, A = p->actor.out;
    for (int r0 = 0; r0 < rows; r0 += p->max_rows) {
        int n = rows - r0 < p->max_rows ? rows - r0 : p->max_rows;
        const float *o = obs + (size_t)r0 * D;
        for (size_t i = 0; i < (size_t)n * D; i++) {
            size_t j = i % (size_t)D;
            double z = ((double)o[i] - p->mean[j]) / sqrt(p->var[j] + 1e-8);
            if (p->clip > 0) z = z < -p->clip ? -p->clip : (z > p->clip ? p->clip : z);
            p->x[i] = (float)z;
        }
        QA_TRY_RET(qa_nn_infer_forward(p->plan, p->params, n, p->x, p->y));
        for (int r = 0; r < n; r++) {
            const float *yr = p->y + (size_t)r * A;
            if (p->discrete) {
                int best = 0;
                for (int j = 1; j < A; j++)
                    if (yr[j] > yr[best]) best = j;
                ((int32_t *)action)[r0 + r] = best;
            } else {
                for (int j = 0; j < A; j++) ((float *)action)[(size_t)(r0 + r) * A + j] = yr[j];
            }
        }
    }
    return QA_OK;
}
