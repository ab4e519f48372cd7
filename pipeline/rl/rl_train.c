/* `qa rl train`: PPO into a run directory (pipeline/rl/rl.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "build_info.h"
#include "common/fs.h"
#include "common/hash.h"
#include "common/json.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/timeparse.h"
#include "common/timer.h"
#include "datasets/store.h"
#include "pipeline/rl/rl.h"
#include "pipeline/rl/rl_internal.h"
#include "pipeline/run/report.h"
#include "pipeline/run/rundir.h"
#include "registry/model.h"

/* ---- episodes: the greedy policy (or a constant action) on a split -------------------------- */

qa_status qa_rl_episodes(const qa_rl_panel *p, qa_rl_split split, const qa_rlenv_cfg *base, int nenv, uint64_t seed,
                         qa_rl_policy_t *pol, const float *hold, double *rps, double *ret, double *rets) {
    qa_backend_t *be = NULL;
    qa_rl_env_t *env = NULL;
    qa_rlenv_cfg ec = *base;
    ec.nenv = nenv, ec.seed = seed;
    qa_status st = QA_OK;
    float *obs = NULL, *rew = NULL, *epr = NULL, *act = NULL;
    int32_t *len = NULL;
    unsigned char *fin = NULL;
    QA_TRY(qa_backend_create(QA_BACKEND_CPU, 0, &be));
    qa_backend_set_threads(be, 1); /* a few dozen envs: a thread team costs more than it gives */
    QA_TRY(qa_rl_env_create(be, p, split, &ec, &env));
    int D = qa_rl_env_obs_dim(env), A = qa_rl_env_action_dim(env);
    obs = malloc((size_t)nenv * D * 4), rew = malloc((size_t)nenv * 4), epr = malloc((size_t)nenv * 4);
    act = malloc((size_t)nenv * A * 4), len = malloc((size_t)nenv * 4), fin = calloc((size_t)nenv, 1);
    if (!obs || !rew || !epr || !act || !len || !fin) QA_TRY_FAIL(QA_ERR_NOMEM, "rl: no memory for the episodes");
    QA_TRY(qa_rl_env_reset(env, obs));
    /* One episode per env: each env's first episode ends by the horizon at the latest. */
    double sum = 0.0, rsum = 0.0;
    long long steps = 0, done = 0;
    for (int k = 0; k < ec.horizon && done < nenv; k++) {
        if (pol) QA_TRY(qa_rl_policy_act(pol, nenv, obs, act));
        else
            for (int i = 0; i < nenv; i++) memcpy(act + (size_t)i * A, hold, (size_t)A * 4);
        qa_rlenv_out o = {.reward = rew, .obs = obs, .ep_return = epr, .ep_length = len};
        QA_TRY(qa_rl_env_step(env, act, &o));
        for (int i = 0; i < nenv; i++) {
            if (fin[i]) continue;
            sum += rew[i], steps++;
            if (len[i] > 0) {
                fin[i] = 1, done++, rsum += epr[i];
                if (rets) rets[i] = epr[i];
            }
        }
    }
    *rps = steps ? sum / (double)steps : NAN;
    *ret = done ? rsum / (double)done : NAN;
cleanup:
    free(obs), free(rew), free(epr), free(act), free(len), free(fin);
    qa_rl_env_free(env);
    qa_backend_free(be);
    return st;
}

/* ---- the policy model file ------------------------------------------------------------------ */

qa_status qa_rl_write_policy(const char *path, const qa_rl_cfg *c, const qa_rl_panel *p, const qa_rl_mlp *actor,
                             const float *params, const double *mean, const double *var, int nsym_env) {
    qa_nn_arch arch = qa_rl_mlp_arch(actor);
    qa_model_spec spec;
    qa_model_norm norm;
    memset(&spec, 0, sizeof spec);
    memset(&norm, 0, sizeof norm);
    qa_store_t *st = NULL;
    qa_status s = QA_OK;
    spec.ninputs = p->nfeat;
    for (int f = 0; f < p->nfeat; f++) {
        qa_model_input *in = &spec.inputs[f];
        norm.mean[f] = 0.0, norm.std[f] = 1.0;
        if (strcmp(p->features[f], "log_return") == 0) {
            snprintf(in->name, sizeof in->name, "%s", qa_model_bar_input_name(QA_MODEL_BAR_LOGRET));
            in->bar = QA_MODEL_BAR_LOGRET;
            continue;
        }
        snprintf(in->name, sizeof in->name, "%s", p->features[f]);
        in->bar = -1;
        if (!st && (s = qa_store_open(c->data, NULL, QA_STORE_READ, &st)) != QA_OK) return s;
        char dset[96];
        snprintf(dset, sizeof dset, "features/%s", p->features[f]);
        /* Lineage attributes are optional on hand-made feature panels. */
        if (qa_store_attr_get_str(st, dset, "input_hash", in->input_hash, sizeof in->input_hash) != QA_OK) in->input_hash[0] = 0;
        if (qa_store_attr_get_str(st, dset, "params", in->params, sizeof in->params) != QA_OK) in->params[0] = 0;
    }
    qa_store_close(st);
    qa_err_clear();
    spec.window = (int)c->window;
    spec.horizon = (int)c->horizon;
    spec.target = QA_MODEL_TARGET_POLICY;
    spec.classes = actor->out;
    spec.start = p->time[p->split_lo[QA_RL_TRAIN]];
    spec.train_end = p->split_hi[QA_RL_TRAIN] < p->ntime ? p->time[p->split_hi[QA_RL_TRAIN]] : INT64_MAX;
    spec.val_end = p->split_hi[QA_RL_VALIDATION] < p->ntime ? p->time[p->split_hi[QA_RL_VALIDATION]] : INT64_MAX;
    spec.end = p->split_hi[QA_RL_TEST] < p->ntime ? p->time[p->split_hi[QA_RL_TEST]] : INT64_MAX;
    spec.embargo = (int)c->embargo;
    spec.clip = c->norm_obs ? c->obs_clip : 0.0;
    norm.target_std = 1.0;
    qa_model m;
    memset(&m, 0, sizeof m);
    QA_TRY_RET(qa_model_init(&m, &arch, &spec, &norm));
    memcpy(m.params, params, m.nparams * sizeof *params);
    qa_model_policy pol = {.action = c->action, .assets = nsym_env, .weights = c->weights,
                           .extras = c->kind == QA_RLENV_PORTFOLIO ? nsym_env + 2 : 3, .dim = actor->in,
                           .obs_clip = c->norm_obs ? c->obs_clip : 0.0, .obs_mean = (double *)mean,
                           .obs_var = (double *)var};
    s = qa_model_set_policy(&m, &pol);
    if (s == QA_OK) {
        m.info = json_pack("{s:s, s:s}", "trainer", "qa rl train (PPO)", "environment",
                           c->kind == QA_RLENV_PORTFOLIO ? "portfolio" : "single");
        s = qa_model_save(&m, path);
    }
    qa_model_free(&m);
    return s;
}

/* ---- metrics, report, summary ---------------------------------------------------------------- */

static json_t *update_json(const qa_rl_ppo_stats *s) {
    return json_pack("{s:s, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "kind",
                     "update", "update", (json_int_t)s->update, "env_steps", (json_int_t)s->env_steps, "lr",
                     qa_json_real(s->lr), "policy_loss", qa_json_real(s->policy_loss), "value_loss",
                     qa_json_real(s->value_loss), "entropy", qa_json_real(s->entropy), "approx_kl",
                     qa_json_real(s->approx_kl), "clipfrac", qa_json_real(s->clipfrac), "explained_variance",
                     qa_json_real(s->explained_var), "reward_mean", qa_json_real(s->reward_mean), "episodes",
                     qa_json_real(s->episodes), "ep_return", qa_json_real(s->ep_return), "ep_length",
                     qa_json_real(s->ep_length), "rollout_s", qa_json_real(s->rollout_s), "update_s",
                     qa_json_real(s->update_s));
}

static qa_status append_line(const char *path, const json_t *j) {
    char *txt = json_dumps(j, JSON_COMPACT);
    if (!txt) return QA_FAIL(QA_ERR_NOMEM, "metrics line");
    FILE *f = fopen(path, "a");
    qa_status st = QA_OK;
    if (!f || fprintf(f, "%s\n", txt) < 0 || fflush(f) != 0) st = QA_FAIL(QA_ERR_IO, "%s: cannot append", path);
    if (f && fclose(f) != 0 && st == QA_OK) st = QA_FAIL(QA_ERR_IO, "%s: cannot close", path);
    free(txt);
    return st;
}

/* The report: training curves from metrics.jsonl (the whole run, resumes included). */
static qa_status write_report(const char *run_dir, const qa_rl_result *res, const json_t *summary) {
    char path[QA_PATH_MAX];
    QA_TRY_RET(qa_path_join(path, run_dir, "metrics.jsonl"));
    char *text = NULL;
    size_t len = 0;
    QA_TRY_RET(qa_fs_read_all(path, &text, &len));
    size_t cap = 1024, nu = 0, nv = 0;
    double *ux = malloc(cap * 8), *ret = malloc(cap * 8), *ent = malloc(cap * 8), *vl = malloc(cap * 8);
    double *kl = malloc(cap * 8), *vx = malloc(cap * 8), *vr = malloc(cap * 8);
    qa_status st = QA_OK;
    qa_report_t *r = NULL;
    if (!ux || !ret || !ent || !vl || !kl || !vx || !vr) QA_TRY_FAIL(QA_ERR_NOMEM, "report");
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j) continue;
        if (nu == cap || nv == cap) {
            cap *= 2;
            double **arr[7] = {&ux, &ret, &ent, &vl, &kl, &vx, &vr};
            for (int a = 0; a < 7; a++) {
                double *n2 = realloc(*arr[a], cap * 8);
                if (!n2) {
                    json_decref(j);
                    QA_TRY_FAIL(QA_ERR_NOMEM, "report");
                }
                *arr[a] = n2;
            }
        }
        const char *kind = json_string_value(json_object_get(j, "kind"));
        double steps = json_number_value(json_object_get(j, "env_steps"));
        if (kind && strcmp(kind, "update") == 0) {
            ux[nu] = steps;
            json_t *e = json_object_get(j, "ep_return");
            ret[nu] = json_is_number(e) ? json_number_value(e) : NAN;
            ent[nu] = json_number_value(json_object_get(j, "entropy"));
            vl[nu] = json_number_value(json_object_get(j, "value_loss"));
            kl[nu] = json_number_value(json_object_get(j, "approx_kl"));
            nu++;
        } else if (kind && strcmp(kind, "validation") == 0) {
            vx[nv] = steps;
            vr[nv] = json_number_value(json_object_get(j, "reward_per_step"));
            nv++;
        }
        json_decref(j);
    }
    QA_TRY(qa_report_create("qa rl train", &r));
    qa_report_heading(r, "PPO run");
    qa_report_kv(r, "updates", "%lld", res->updates);
    qa_report_kv(r, "env steps", "%lld", res->env_steps);
    qa_report_kv(r, "samples/s", "%.4g", res->samples_per_s);
    qa_report_kv(r, "best validation reward / step", "%.6g (update %lld)", res->best_val_reward, res->best_update);
    qa_report_kv(r, "stop", "%s", res->stop_reason);
    json_t *ev = json_object_get(summary, "evaluation");
    if (ev) {
        qa_report_kv(r, "test: policy Sharpe / return", "%.3f / %.2f%%", json_number_value(json_object_get(ev, "policy_sharpe")),
                     100 * json_number_value(json_object_get(ev, "policy_total_return")));
        qa_report_kv(r, "test: buy and hold Sharpe / return", "%.3f / %.2f%%", json_number_value(json_object_get(ev, "hold_sharpe")),
                     100 * json_number_value(json_object_get(ev, "hold_total_return")));
        qa_report_text(r, "The full out-of-sample evaluation (simulator, benchmarks, equity curves) is eval-test/report.html.");
    }
    qa_report_series s1 = {"mean episode return (final equity - 1)", ux, NULL, ret, nu};
    qa_report_chart c1 = {"Training episodes", "env steps", "episode return", 0, 0, 1};
    qa_report_line_chart(r, &c1, &s1, 1);
    qa_report_series s2 = {"greedy reward per step", vx, NULL, vr, nv};
    qa_report_chart c2 = {"Validation (greedy policy)", "env steps", "reward per step", 0, 0, 0};
    qa_report_line_chart(r, &c2, &s2, 1);
    qa_report_series s3[2] = {{"entropy", ux, NULL, ent, nu}, {"value loss", ux, NULL, vl, nu}};
    qa_report_chart c3 = {"Entropy and value loss", "env steps", "", 0, 0, 0};
    qa_report_line_chart(r, &c3, s3, 2);
    qa_report_series s4 = {"approx KL", ux, NULL, kl, nu};
    qa_report_chart c4 = {"Approximate KL per update", "env steps", "KL", 0, 0, 0};
    qa_report_line_chart(r, &c4, &s4, 1);
    QA_TRY(qa_path_join(path, run_dir, "report.html"));
    QA_TRY(qa_report_write(r, path));
cleanup:
    qa_report_free(r);
    free(text);
    free(ux), free(ret), free(ent), free(vl), free(kl), free(vx), free(vr);
    return st;
}

static qa_status write_lineage(const char *run_dir, const qa_rl_cfg *c, const qa_rl_panel *p, const char *cfg_hash,
                               const char *backend, int ranks) {
    char path[QA_PATH_MAX], abs[QA_PATH_MAX], dabs[QA_PATH_MAX], created[40], id[17], b0[40], b1[40], b2[40], b3[40];
    if (!realpath(run_dir, abs)) snprintf(abs, sizeof abs, "%s", run_dir);
    if (!realpath(c->data, dabs)) snprintf(dabs, sizeof dabs, "%s", c->data);
    QA_TRY_RET(qa_rundir_new_id(abs, id));
    qa_time_utc_iso(created, sizeof created);
    json_t *feats = json_array();
    for (int f = 0; f < p->nfeat; f++) json_array_append_new(feats, json_string(p->features[f]));
    int lo = p->split_lo[QA_RL_TRAIN], vl = p->split_lo[QA_RL_VALIDATION], tl = p->split_lo[QA_RL_TEST];
    int th = p->split_hi[QA_RL_TEST] - 1;
    json_t *lin = json_pack(
        "{s:s, s:s, s:s, s:{s:s, s:s, s:i, s:i}, s:o, s:{s:s, s:s, s:s, s:s, s:i}, s:{s:s, s:s}, s:{s:s, s:s, s:i}, s:s}",
        "run_id", id, "run_dir", abs, "config_hash", cfg_hash, "data", "path", dabs, "data_sha256", p->data_sha,
        "symbols", p->nsym, "bars", p->ntime, "features", feats, "range", "start",
        qa_time_format_iso(p->time[lo], b0, sizeof b0), "validation_start", qa_time_format_iso(p->time[vl], b1, sizeof b1),
        "test_start", qa_time_format_iso(p->time[tl], b2, sizeof b2), "end", qa_time_format_iso(p->time[th], b3, sizeof b3),
        "embargo", (int)c->embargo, "code", "version", QA_VERSION, "git", QA_GIT_HASH, "build", "backend", backend,
        "build_type", QA_BUILD_TYPE, "ranks", ranks, "created", created);
    if (!lin) return QA_FAIL(QA_ERR_NOMEM, "lineage");
    qa_status st = qa_path_join(path, run_dir, "lineage.json");
    if (st == QA_OK) st = qa_json_write_file(lin, path);
    json_decref(lin);
    return st;
}

/* ---- the run -------------------------------------------------------------------------------- */

typedef struct best_state {
    double val;
    long long update;
} best_state;

static qa_status read_best(const char *run_dir, best_state *b) {
    char path[QA_PATH_MAX];
    b->val = -INFINITY, b->update = -1;
    QA_TRY_RET(qa_path_join(path, run_dir, "best.json"));
    if (!qa_fs_exists(path)) return QA_OK;
    json_t *j = NULL;
    QA_TRY_RET(qa_json_read_file(path, &j));
    b->val = json_number_value(json_object_get(j, "reward_per_step"));
    b->update = json_integer_value(json_object_get(j, "update"));
    json_decref(j);
    return QA_OK;
}

/* The greedy policy on the validation split: a metrics line, and the policy file and
 * best.json when it beats the best so far. */
static qa_status validate(const qa_rl_cfg *c, qa_rundir *rd, const qa_rl_panel *panel, const qa_rlenv_cfg *eval_cfg,
                          const qa_rl_mlp *actor, const float *params, const double *mean, const double *var,
                          const char *metrics, const char *model, long long u, int64_t env_steps, int nsym_env,
                          best_state *best) {
    double rps, epr;
    int n = (int)c->eval_envs;
    qa_rl_policy_t *pol = NULL;
    QA_TRY_RET(qa_rl_policy_create(actor, params, mean, var, c->norm_obs ? c->obs_clip : 0.0,
                                   c->action == QA_RLENV_DISCRETE, n < 4096 ? n : 4096, &pol));
    qa_status es = qa_rl_episodes(panel, QA_RL_VALIDATION, eval_cfg, n, (uint64_t)c->seed + 99, pol, NULL, &rps, &epr, NULL);
    qa_rl_policy_free(pol);
    if (es != QA_OK) return es;
    json_t *j = json_pack("{s:s, s:I, s:I, s:o, s:o}", "kind", "validation", "update", (json_int_t)u, "env_steps",
                          (json_int_t)env_steps, "reward_per_step", qa_json_real(rps), "ep_return", qa_json_real(epr));
    qa_status st = append_line(metrics, j);
    json_decref(j);
    if (st != QA_OK || !(rps > best->val || best->update < 0)) return st;
    best->val = rps, best->update = u;
    QA_TRY_RET(qa_rl_write_policy(model, c, panel, actor, params, mean, var,
                                  c->kind == QA_RLENV_PORTFOLIO ? nsym_env : 1));
    json_t *b = json_pack("{s:I, s:o}", "update", (json_int_t)u, "reward_per_step", qa_json_real(rps));
    st = qa_rundir_write_json(rd, "best.json", b);
    json_decref(b);
    return st;
}

qa_status qa_rl_train(const qa_rl_cfg *c, const qa_comm_t *comm, int argc, char **argv, qa_rl_result *res) {
    memset(res, 0, sizeof *res);
    int rank = comm ? qa_comm_rank(comm) : 0, ranks = comm ? qa_comm_size(comm) : 1;
    qa_status st = QA_OK;
    qa_rundir rd;
    memset(&rd, 0, sizeof rd);
    qa_backend_t *be = NULL;
    qa_rl_panel panel;
    memset(&panel, 0, sizeof panel);
    qa_rl_env_t *env = NULL;
    qa_rl_ppo_t *agent = NULL;
    qa_progress_t *prog = NULL;
    json_t *resolved = NULL, *summary = NULL;
    float *params = NULL;
    double *mean = NULL, *var = NULL;
    char ckpt[QA_PATH_MAX], metrics[QA_PATH_MAX], model[QA_PATH_MAX], hash[65];
    QA_TRY(qa_rundir_open(&rd, c->run_dir, comm, "rl train", argc, argv));
    resolved = qa_rl_cfg_json(c);
    if (!resolved) QA_TRY_FAIL(QA_ERR_NOMEM, "resolved config");
    {
        char *txt = json_dumps(resolved, JSON_COMPACT | JSON_SORT_KEYS);
        if (!txt) QA_TRY_FAIL(QA_ERR_NOMEM, "config hash");
        st = qa_sha256_hex(txt, strlen(txt), hash);
        free(txt);
        if (st != QA_OK) goto cleanup;
    }
    QA_TRY(qa_rundir_write_json(&rd, "config.resolved.json", resolved));
    QA_TRY(qa_backend_create_named(c->backend, comm ? qa_comm_local_rank(comm) : 0, &be));
    if (c->threads > 0) qa_backend_set_threads(be, (int)c->threads);
    QA_TRY(qa_rl_cfg_panel(c, &panel));
    qa_rlenv_cfg ec;
    qa_rl_cfg_env(c, &ec);
    qa_rlenv_cfg eval_cfg = ec;
    ec.seed += (uint64_t)rank * 0x632BE59BD9B4E019ull; /* each rank its own episodes */
    QA_TRY(qa_rl_env_create(be, &panel, QA_RL_TRAIN, &ec, &env));
    qa_rl_ppo_cfg pc;
    qa_rl_cfg_ppo(c, ranks, &pc);
    QA_TRY(qa_rl_ppo_create(be, env, &pc, comm, &agent));
    QA_TRY(qa_path_join(ckpt, c->run_dir, ranks > 1 ? "checkpoint.r%d.qrl" : "checkpoint.qrl", rank));
    QA_TRY(qa_path_join(metrics, c->run_dir, "metrics.jsonl"));
    QA_TRY(qa_path_join(model, c->run_dir, "model.qam"));
    best_state best;
    QA_TRY(read_best(c->run_dir, &best));
    if (c->resume && qa_fs_exists(ckpt)) {
        QA_TRY(qa_rl_ppo_load(agent, ckpt));
        if (rank == 0) qa_log_info("rl train: resumed at update %lld from %s", (long long)qa_rl_ppo_updates_done(agent), ckpt);
    } else if (rank == 0 && qa_fs_exists(metrics) && unlink(metrics) != 0) {
        QA_TRY_FAIL(QA_ERR_IO, "%s: cannot remove the previous run's metrics", metrics);
    }
    const qa_rl_mlp *actor = qa_rl_ppo_actor(agent);
    size_t np = qa_rl_mlp_params(actor);
    int D = actor->in;
    params = malloc(np * sizeof *params);
    mean = malloc((size_t)D * sizeof *mean);
    var = malloc((size_t)D * sizeof *var);
    if (!params || !mean || !var) QA_TRY_FAIL(QA_ERR_NOMEM, "rl: no memory");
    long long total = pc.total_updates, u0 = qa_rl_ppo_updates_done(agent);
    if (rank == 0) {
        qa_log_info("rl train: %d %s env(s) x %d rank(s) on %s, obs %d, %lld (symbol, start) pairs, %lld updates of %lld "
                    "samples",
                    ec.nenv, c->kind == QA_RLENV_PORTFOLIO ? "portfolio" : "single-asset", ranks,
                    qa_backend_name(qa_backend_kind_of(be)), D, (long long)qa_rl_env_starts(env), total,
                    (long long)pc.nsteps * ec.nenv * ranks);
        QA_TRY(qa_progress_create("rl train", (uint64_t)total, "updates", QA_PROGRESS_AUTO, NULL, &prog));
        qa_progress_add(prog, (uint64_t)u0);
    }
    uint64_t t0 = qa_time_ns();
    long long u = u0;
    snprintf(res->stop_reason, sizeof res->stop_reason, "steps");
    while (u < total) {
        qa_rl_ppo_stats s;
        QA_TRY(qa_rl_ppo_iterate(agent, &s));
        u = s.update;
        qa_status ms = QA_OK;
        if (rank == 0) {
            json_t *j = update_json(&s);
            ms = append_line(metrics, j);
            json_decref(j);
            qa_progress_add(prog, 1);
        }
        QA_TRY(comm ? qa_comm_agree(comm, ms) : ms);
        int last = u == total;
        if (u % c->eval_every == 0 || last) {
            QA_TRY(qa_rl_ppo_actor_params(agent, params, NULL));
            QA_TRY(qa_rl_ppo_obs_stats(agent, mean, var));
            /* Rank 0 validates and writes the best policy; every rank learns how that went
             * before its next collective (a failure there must not leave the others
             * waiting in the gradient allreduce). */
            qa_status vs = rank == 0 ? validate(c, &rd, &panel, &eval_cfg, actor, params, mean, var, metrics, model, u,
                                                s.env_steps, qa_rl_env_nsym(env), &best)
                                     : QA_OK;
            QA_TRY(comm ? qa_comm_agree(comm, vs) : vs);
        }
        /* A signal may reach one rank only: every rank stops when any has one. */
        int64_t stop_any = c->stop && *c->stop;
        if (comm) QA_TRY(qa_comm_allreduce_max_i64(comm, &stop_any, 1));
        int stop = stop_any != 0;
        int capped = c->max_updates > 0 && u - u0 >= c->max_updates;
        if (u % c->checkpoint_every == 0 || last || stop || capped) {
            qa_status cs = qa_rl_ppo_save(agent, ckpt);
            QA_TRY(comm ? qa_comm_agree(comm, cs) : cs);
        }
        if (stop || capped) {
            snprintf(res->stop_reason, sizeof res->stop_reason, "%s", stop ? "interrupted" : "max-updates");
            break;
        }
    }
    if (comm) QA_TRY(qa_comm_barrier(comm));
    res->updates = u;
    res->env_steps = u * (long long)pc.nsteps * ec.nenv * ranks;
    res->seconds = qa_time_since(t0);
    res->samples_per_s = res->seconds > 0 ? (double)(u - u0) * pc.nsteps * ec.nenv * ranks / res->seconds : 0.0;
    res->best_val_reward = best.val;
    res->best_update = best.update;
    if (prog) qa_progress_finish(prog);
    if (rank == 0 && strcmp(res->stop_reason, "steps") == 0) {
        QA_TRY(write_lineage(c->run_dir, c, &panel, hash, qa_backend_name(qa_backend_kind_of(be)), ranks));
        summary = json_pack("{s:I, s:I, s:o, s:o, s:o, s:I, s:s, s:I, s:s}", "updates", (json_int_t)res->updates,
                            "env_steps", (json_int_t)res->env_steps, "seconds", qa_json_real(res->seconds),
                            "samples_per_s", qa_json_real(res->samples_per_s), "best_val_reward_per_step",
                            qa_json_real(best.val), "best_update", (json_int_t)best.update, "stop_reason",
                            res->stop_reason, "ranks", (json_int_t)ranks, "backend",
                            qa_backend_name(qa_backend_kind_of(be)));
        if (!summary) QA_TRY_FAIL(QA_ERR_NOMEM, "summary");
        /* The out-of-sample evaluation of the best policy (single-asset discrete policies
         * go through the simulator; the others are evaluated in their environment). */
        char evdir[QA_PATH_MAX];
        QA_TRY(qa_path_join(evdir, c->run_dir, "eval-test"));
        qa_rl_eval_report er;
        QA_TRY(qa_rl_evaluate(c->run_dir, QA_RL_TEST, evdir, argc, argv, &er));
        json_object_set_new(summary, "evaluation",
                            json_pack("{s:s, s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "split", "test", "method",
                                      er.method, "symbols", er.symbols, "policy_sharpe", qa_json_real(er.policy_sharpe), "policy_total_return",
                                      qa_json_real(er.policy_return), "hold_sharpe", qa_json_real(er.hold_sharpe),
                                      "hold_total_return", qa_json_real(er.hold_return), "sweep_best_sharpe",
                                      qa_json_real(er.sweep_sharpe), "sweep_best_total_return",
                                      qa_json_real(er.sweep_return), "env_sim_max_equity_diff",
                                      qa_json_real(er.env_sim_max_diff)));
        /* Flat metrics for the registry. */
        json_object_set_new(summary, "val_reward_per_step", qa_json_real(best.val));
        if (strcmp(er.method, "simulator") == 0) {
            json_object_set_new(summary, "test_sharpe", qa_json_real(er.policy_sharpe));
            json_object_set_new(summary, "test_total_return", qa_json_real(er.policy_return));
        } else {
            json_object_set_new(summary, "test_mean_episode_return", qa_json_real(er.policy_episode_return));
            json_object_set_new(json_object_get(summary, "evaluation"), "hold_mean_episode_return",
                                qa_json_real(er.hold_episode_return));
        }
        QA_TRY(qa_rundir_write_json(&rd, "summary.json", summary));
        QA_TRY(write_report(c->run_dir, res, summary));
        if (strcmp(er.method, "simulator") == 0)
            qa_log_info("rl train: %lld updates, %.4g samples/s; best validation reward/step %.6g at update %lld; test "
                        "Sharpe %.3f (buy and hold %.3f)",
                        res->updates, res->samples_per_s, best.val, best.update, er.policy_sharpe, er.hold_sharpe);
        else
            qa_log_info("rl train: %lld updates, %.4g samples/s; best validation reward/step %.6g at update %lld; test "
                        "mean episode return %.4f (hold %.4f)",
                        res->updates, res->samples_per_s, best.val, best.update, er.policy_episode_return,
                        er.hold_episode_return);
    }
cleanup:
    qa_progress_free(prog);
    json_decref(resolved);
    json_decref(summary);
    free(params), free(mean), free(var);
    qa_rl_ppo_free(agent);
    qa_rl_env_free(env);
    qa_rl_panel_free(&panel);
    qa_backend_free(be);
    qa_status cs = qa_rundir_close(&rd, st);
    return st != QA_OK ? st : cs;
}
