/* `qa rl eval`: a trained policy out of sample through the event-driven simulator, beside
 * buy-and-hold and the best SMA-cross parameters of a sweep on the same period
 * (pipeline/rl/rl.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/timeparse.h"
#include "kernels/backtest.h"
#include "pipeline/rl/rl.h"
#include "pipeline/rl/rl_internal.h"
#include "pipeline/run/report.h"
#include "pipeline/run/rundir.h"
#include "pipeline/sim/sim.h"
#include "registry/model.h"
#include "registry/registry.h"

/* The SMA-cross grid of the sweep benchmark: fast < slow from these. */
static const int k_fast[] = {5, 10, 20, 50};
static const int k_slow[] = {20, 50, 100, 200};

static json_t *metrics_json(const qa_bt_metrics *m) {
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o}", "total_return", qa_json_real(m->total_return),
                     "cagr", qa_json_real(m->cagr), "ann_vol", qa_json_real(m->ann_vol), "sharpe", qa_json_real(m->sharpe),
                     "sortino", qa_json_real(m->sortino), "max_drawdown", qa_json_real(m->max_drawdown), "hit_rate",
                     qa_json_real(m->hit_rate), "turnover", qa_json_real(m->turnover), "trades", (json_int_t)m->trades,
                     "exposure", qa_json_real(m->exposure));
}

/* Closes a written CSV file: the stream is gone whatever fclose says. */
static qa_status close_csv(FILE **f, const char *path) {
    FILE *x = *f;
    *f = NULL;
    if (fclose(x) != 0) return QA_FAIL(QA_ERR_IO, "%s: write failed", path);
    return QA_OK;
}

/* Loads a run's configuration and policy: a run directory (config.resolved.json,
 * model.qam), or a registry URI (the version's recorded configuration and its policy
 * artifact, checked against its digest). `data` (may be NULL) replaces the market file. */
static qa_status load_run(const char *ref, const char *registry, const char *data, qa_cfg_t **doc, qa_rl_cfg *c,
                          qa_model *m) {
    char path[QA_PATH_MAX];
    if (strncmp(ref, "models:/", 8) == 0) {
        qa_registry_t *reg = NULL;
        json_t *v = NULL;
        char *text = NULL;
        qa_status st = qa_registry_open(registry, 0, &reg);
        if (st == QA_OK) st = qa_registry_show(reg, ref, &v);
        qa_registry_close(reg);
        json_t *cfg = v ? json_object_get(v, "config") : NULL;
        if (st == QA_OK && !json_is_object(cfg))
            st = QA_FAIL(QA_ERR_NOT_FOUND, "%s: the version records no configuration (publish a qa rl train run "
                         "directory, not a bare model file)", ref);
        if (st == QA_OK && !(text = json_dumps(cfg, JSON_COMPACT))) st = QA_FAIL(QA_ERR_NOMEM, "%s: configuration", ref);
        if (st == QA_OK) st = qa_cfg_parse(ref, text, strlen(text), doc);
        free(text);
        json_decref(v);
        QA_TRY_RET(st);
        QA_TRY_RET(qa_rl_cfg_default(c));
        QA_TRY_RET(qa_rl_cfg_bind(*doc, c));
        if (data) c->data = data;
        return qa_registry_load_policy_ref(registry, ref, m, NULL, NULL);
    }
    QA_TRY_RET(qa_path_join(path, ref, "config.resolved.json"));
    QA_TRY_RET(qa_cfg_load(path, doc));
    QA_TRY_RET(qa_rl_cfg_default(c));
    QA_TRY_RET(qa_rl_cfg_bind(*doc, c));
    if (data) c->data = data;
    QA_TRY_RET(qa_path_join(path, ref, "model.qam"));
    if (!qa_fs_exists(path))
        return QA_FAIL(QA_ERR_NOT_FOUND, "%s: no model.qam (the run has not reached its first validation)", ref);
    QA_TRY_RET(qa_model_load(path, m));
    if (m->data.target != QA_MODEL_TARGET_POLICY)
        return QA_FAIL(QA_ERR_FORMAT, "%s: a %s model, not a policy (qa rl train writes policies)", path,
                       qa_model_target_name(m->data.target));
    return QA_OK;
}

/* Runs the simulator with `strategy`/`params` over [t_begin, t_end) and returns the
 * result (caller frees). */
static qa_status simulate(const qa_rl_panel *p, const qa_rules *rules, qa_bt_strategy strategy, const qa_bt_params *params,
                          const double *signal, size_t t_begin, size_t t_end, qa_sim_result *out) {
    qa_sim_settings s;
    qa_sim_settings_init(&s);
    s.strategy = strategy;
    s.params = *params;
    s.rules = *rules;
    s.record_blotter = 0;
    const char **names = malloc((size_t)p->nsym * sizeof *names);
    if (!names) return QA_FAIL(QA_ERR_NOMEM, "rl eval: no memory");
    for (int i = 0; i < p->nsym; i++) names[i] = p->symbols[i];
    qa_sim_data d = {.close = p->close, .signal = signal, .names = names, .symbols = (size_t)p->nsym,
                     .bars = (size_t)p->ntime, .t_begin = t_begin, .t_end = t_end};
    qa_status st = qa_sim_run(&d, &s, out);
    free(names);
    return st;
}

/* Continuous and portfolio policies: greedy episodes in the environment beside a hold
 * policy on the same episodes. */
static qa_status evaluate_in_env(const char *run_dir, const qa_rl_cfg *c, const qa_model *m, qa_rl_split split,
                                 const char *out_dir, int argc, char **argv, qa_rl_eval_report *rep) {
    qa_status st = QA_OK;
    qa_rl_panel p;
    memset(&p, 0, sizeof p);
    qa_rundir rd;
    memset(&rd, 0, sizeof rd);
    qa_rl_policy_t *pol = NULL;
    qa_report_t *r = NULL;
    json_t *sum = NULL;
    int n = (int)c->eval_envs;
    double *rp = calloc((size_t)n, sizeof *rp), *rh = calloc((size_t)n, sizeof *rh);
    float hold[QA_RLENV_MAX_ASSETS];
    if (!rp || !rh) QA_TRY_FAIL(QA_ERR_NOMEM, "rl eval: no memory");
    QA_TRY(qa_rundir_open(&rd, out_dir, NULL, "rl eval", argc, argv));
    QA_TRY(qa_rl_cfg_panel(c, &p));
    qa_rlenv_cfg ec;
    qa_rl_cfg_env(c, &ec);
    qa_rl_mlp actor = qa_rl_mlp_of_arch(&m->arch);
    QA_TRY(qa_rl_policy_create(&actor, m->params, m->policy.obs_mean, m->policy.obs_var, m->policy.obs_clip, 0,
                               n < 4096 ? n : 4096, &pol));
    /* hold: always long (one asset), equal weights (softmax of zeros, or 1/K each long/short) */
    int A = actor.out;
    for (int j = 0; j < A; j++)
        hold[j] = c->kind == QA_RLENV_PORTFOLIO && c->weights == QA_RLENV_LONG_SHORT ? (float)(1.0 / A) : (c->kind == QA_RLENV_PORTFOLIO ? 0.0f : 1.0f);
    uint64_t seed = (uint64_t)c->seed * 0x9E3779B97F4A7C15ull + 1000003u;
    double prps, pret, hrps, hret;
    QA_TRY(qa_rl_episodes(&p, split, &ec, n, seed, pol, NULL, &prps, &pret, rp));
    QA_TRY(qa_rl_episodes(&p, split, &ec, n, seed, NULL, hold, &hrps, &hret, rh));
    snprintf(rep->method, sizeof rep->method, "environment");
    rep->symbols = p.nsym;
    rep->policy_episode_return = pret, rep->hold_episode_return = hret;
    rep->policy_sharpe = rep->hold_sharpe = rep->sweep_sharpe = rep->sweep_return = NAN;
    rep->policy_return = pret, rep->hold_return = hret;
    rep->env_sim_max_diff = NAN;
    sum = json_pack("{s:s, s:s, s:s, s:i, s:i, s:{s:o, s:o}, s:{s:o, s:o}, s:s}", "run", run_dir, "split",
                    qa_rl_split_name(split), "method", "environment", "symbols", p.nsym, "episodes", n, "policy",
                    "reward_per_step", qa_json_real(prps), "mean_episode_return", qa_json_real(pret), "hold",
                    "reward_per_step", qa_json_real(hrps), "mean_episode_return", qa_json_real(hret), "note",
                    c->kind == QA_RLENV_PORTFOLIO
                        ? "a portfolio policy: episodes in the environment (the simulator trades one signal per symbol)"
                        : "a continuous policy: episodes in the environment (the simulator's SIGNAL strategy trades "
                          "short / flat / long)");
    if (!sum) QA_TRY_FAIL(QA_ERR_NOMEM, "rl eval summary");
    QA_TRY(qa_rundir_write_json(&rd, "summary.json", sum));
    QA_TRY(qa_report_create("qa rl eval", &r));
    qa_report_heading(r, "Policy out of sample in its environment");
    qa_report_kv(r, "run", "%s", run_dir);
    qa_report_kv(r, "split / episodes", "%s / %d of %lld steps", qa_rl_split_name(split), n, (long long)c->horizon);
    qa_report_kv(r, "policy: reward per step, mean episode return", "%.6g, %.2f%%", prps, 100 * pret);
    qa_report_kv(r, c->kind == QA_RLENV_PORTFOLIO ? "equal weights" : "always long", "%.6g, %.2f%%", hrps, 100 * hret);
    double marks[2] = {pret, hret};
    const char *mlabels[2] = {"policy mean", "hold mean"};
    qa_report_histogram(r, "Policy episode returns", "final equity - 1", rp, (size_t)n, 20, marks, mlabels, 2);
    qa_report_histogram(r, "Hold episode returns (same episodes)", "final equity - 1", rh, (size_t)n, 20, marks, mlabels, 2);
    char path[QA_PATH_MAX];
    QA_TRY(qa_path_join(path, out_dir, "report.html"));
    QA_TRY(qa_report_write(r, path));
cleanup:
    free(rp), free(rh);
    json_decref(sum);
    qa_report_free(r);
    qa_rl_policy_free(pol);
    qa_rl_panel_free(&p);
    if (rd.path[0]) {
        qa_status cs = qa_rundir_close(&rd, st);
        if (st == QA_OK) st = cs;
    }
    return st;
}

qa_status qa_rl_evaluate(const char *run_dir, qa_rl_split split, const char *out_dir, int argc, char **argv,
                         qa_rl_eval_report *rep) {
    return qa_rl_evaluate_ref(run_dir, NULL, NULL, split, out_dir, argc, argv, rep);
}

qa_status qa_rl_evaluate_ref(const char *run_dir, const char *registry, const char *data, qa_rl_split split,
                             const char *out_dir, int argc, char **argv, qa_rl_eval_report *rep) {
    memset(rep, 0, sizeof *rep);
    qa_status st = QA_OK;
    qa_cfg_t *doc = NULL;
    qa_rl_cfg c;
    qa_model m;
    memset(&m, 0, sizeof m);
    qa_rl_panel p;
    memset(&p, 0, sizeof p);
    qa_backend_t *be = NULL;
    qa_rundir rd;
    memset(&rd, 0, sizeof rd);
    double *sig = NULL, *hold = NULL, *envq = NULL;
    float *obs = NULL;
    qa_sim_result rp, rh, rs;
    qa_rl_policy_t *pol = NULL;
    memset(&rp, 0, sizeof rp), memset(&rh, 0, sizeof rh), memset(&rs, 0, sizeof rs);
    qa_bt_metrics *grid_m = NULL;
    json_t *sum = NULL;
    qa_report_t *r = NULL;
    FILE *csv = NULL;
    QA_TRY(load_run(run_dir, registry, data, &doc, &c, &m));
    if (c.kind != QA_RLENV_SINGLE || c.action != QA_RLENV_DISCRETE) {
        st = evaluate_in_env(run_dir, &c, &m, split, out_dir, argc, argv, rep);
        goto cleanup;
    }
    snprintf(rep->method, sizeof rep->method, "simulator");
    QA_TRY(qa_rundir_open(&rd, out_dir, NULL, "rl eval", argc, argv));
    QA_TRY(qa_rl_cfg_panel(&c, &p));
    qa_rules rules = c.rules;
    qa_rules_resolve_bars_per_year(&rules, p.bars_per_year);
    qa_rlenv_cfg ec;
    qa_rl_cfg_env(&c, &ec);
    qa_rl_mlp actor = qa_rl_mlp_of_arch(&m.arch);
    const int S = p.nsym, T = p.ntime;
    sig = malloc((size_t)S * T * sizeof *sig);
    hold = malloc((size_t)S * T * sizeof *hold);
    envq = malloc((size_t)S * T * sizeof *envq);
    obs = malloc((size_t)actor.in * sizeof *obs);
    if (!sig || !hold || !envq || !obs) QA_TRY_FAIL(QA_ERR_NOMEM, "rl eval: no memory");
    for (size_t i = 0; i < (size_t)S * T; i++) sig[i] = hold[i] = envq[i] = NAN;
    QA_TRY(qa_backend_create(QA_BACKEND_CPU, 0, &be));
    qa_backend_set_threads(be, 1); /* one env per walk */
    QA_TRY(qa_rl_policy_create(&actor, m.params, m.policy.obs_mean, m.policy.obs_var, m.policy.obs_clip, 1, 1, &pol));
    size_t t_begin = (size_t)T, t_end = (size_t)p.split_hi[split];
    int used = 0;
    /* The policy walks each symbol through the split; its decisions become the signal. */
    for (int s = 0; s < S; s++) {
        qa_rl_env_t *env = NULL;
        int first = 0, steps = 0;
        if (qa_rl_env_create_path(be, &p, split, &ec, s, &env, &first, &steps) != QA_OK) {
            qa_log_warn("rl eval: %s skipped: %s", p.symbols[s], qa_err_msg());
            continue;
        }
        used++;
        /* The simulator's first observed bar in range is a base bar without a decision
         * (docs/simulator.md): the bar before the walk's first decision plays it. */
        if ((size_t)first - 1 < t_begin) t_begin = (size_t)first - 1;
        sig[(size_t)s * T + first - 1] = 0.0;
        hold[(size_t)s * T + first - 1] = 0.0;
        qa_rlenv_state *es = qa_rl_env_state(env);
        st = qa_rl_env_reset(env, obs);
        for (int k = 0; k < steps && st == QA_OK; k++) {
            int32_t a = 1;
            if ((st = qa_rl_policy_act(pol, 1, obs, &a)) != QA_OK) break;
            float d = (float)(a - 1);
            d = d < ec.pos_lo ? ec.pos_lo : (d > ec.pos_hi ? ec.pos_hi : d);
            size_t cell = (size_t)s * T + first + k;
            sig[cell] = d;
            hold[cell] = ec.pos_hi > 0 ? 1.0 : -1.0;
            /* The bar after the last decision repeats it: the simulator marks that bar's
             * return without trading (the walk holds its position there). */
            if (k == steps - 1) sig[cell + 1] = d, hold[cell + 1] = hold[cell];
            qa_rlenv_out o = {.obs = obs};
            st = qa_rl_env_step(env, &a, &o);
            /* The platform's equity at the decision bar after its trade: the simulator's
             * sleeve there; after the last step, the mark over the final bar. */
            envq[cell] = es->base[0];
            if (k == steps - 1) envq[cell + 1] = es->equity[0];
        }
        qa_rl_env_free(env);
        if (st != QA_OK) goto cleanup;
    }
    if (!used) QA_TRY_FAIL(QA_ERR_CONFIG, "rl eval: no symbol has data in the %s split", qa_rl_split_name(split));
    rep->symbols = used;
    /* The simulator trades the decisions (SIGNAL: long above 0.5, short below -0.5). */
    qa_bt_params sp = {{-0.5, 0.5}};
    QA_TRY(simulate(&p, &rules, QA_BT_SIGNAL, &sp, sig, t_begin, t_end, &rp));
    QA_TRY(simulate(&p, &rules, QA_BT_SIGNAL, &sp, hold, t_begin, t_end, &rh));
    /* The sweep: every SMA-cross pair on the same period; the best mean Sharpe wins. */
    qa_bt_params grid[16];
    size_t ng = 0;
    for (size_t i = 0; i < 4; i++)
        for (size_t j = 0; j < 4; j++)
            if (k_fast[i] < k_slow[j]) grid[ng++] = (qa_bt_params){{k_fast[i], k_slow[j]}};
    qa_bt_rules btr;
    qa_rules_to_bt(&rules, &btr);
    qa_bt_grid g = {QA_BT_SMA_CROSS, grid, ng};
    qa_bt_data bd = {.close = p.close, .symbols = (size_t)S, .bars = (size_t)T, .t_begin = t_begin, .t_end = t_end};
    grid_m = malloc((size_t)S * ng * sizeof *grid_m);
    if (!grid_m) QA_TRY_FAIL(QA_ERR_NOMEM, "rl eval: no memory");
    /* Windows longer than the history before t_end cannot run; shrink the grid until valid. */
    while (ng > 0 && qa_bt_validate(&bd, &g, &btr) != QA_OK) g.count = --ng;
    qa_err_clear();
    size_t best = 0;
    if (ng > 0) {
        QA_TRY(qa_bt_run(be, &bd, &g, &btr, grid_m, NULL, 0));
        double best_sh = -INFINITY;
        for (size_t q = 0; q < ng; q++) {
            double sh = 0.0;
            int n = 0;
            for (int s = 0; s < S; s++)
                if (isfinite(grid_m[(size_t)s * ng + q].sharpe)) sh += grid_m[(size_t)s * ng + q].sharpe, n++;
            sh = n ? sh / n : -INFINITY;
            if (sh > best_sh) best_sh = sh, best = q;
        }
        QA_TRY(simulate(&p, &rules, QA_BT_SMA_CROSS, &grid[best], NULL, t_begin, t_end, &rs));
    }
    /* Consistency: the env's equity of each symbol against the simulator's sleeve. */
    double maxdiff = 0.0;
    size_t L = rp.L;
    for (int s = 0; s < S; s++) {
        double md = 0.0;
        size_t at = 0;
        for (size_t j = 0; j < L; j++) {
            double e = envq[(size_t)s * T + t_begin + j];
            if (isfinite(e) && fabs(e - rp.sleeve[(size_t)s * L + j]) > md) md = fabs(e - rp.sleeve[(size_t)s * L + j]), at = j;
        }
        qa_log_debug("rl eval: %s: env vs simulator sleeve equity max |diff| %.3g at bar %zu (env %.9g, sim %.9g)",
                     p.symbols[s], md, t_begin + at, envq[(size_t)s * T + t_begin + at], rp.sleeve[(size_t)s * L + at]);
        maxdiff = fmax(maxdiff, md);
    }
    rep->env_sim_max_diff = maxdiff;
    rep->policy_sharpe = rp.metrics.sharpe, rep->policy_return = rp.metrics.total_return;
    rep->hold_sharpe = rh.metrics.sharpe, rep->hold_return = rh.metrics.total_return;
    rep->sweep_sharpe = ng ? rs.metrics.sharpe : NAN, rep->sweep_return = ng ? rs.metrics.total_return : NAN;
    char d0[40], d1[40];
    sum = json_pack("{s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:o, s:o}", "run", run_dir, "split", qa_rl_split_name(split),
                    "first_bar", qa_time_format_iso(p.time[t_begin], d0, sizeof d0), "last_bar",
                    qa_time_format_iso(p.time[t_end - 1], d1, sizeof d1), "symbols", used, "policy", metrics_json(&rp.metrics),
                    "buy_and_hold", metrics_json(&rh.metrics), "sweep_best",
                    ng ? metrics_json(&rs.metrics) : json_null(), "env_sim_max_equity_diff", qa_json_real(maxdiff));
    if (!sum) QA_TRY_FAIL(QA_ERR_NOMEM, "rl eval summary");
    if (ng) {
        json_object_set_new(json_object_get(sum, "sweep_best"), "strategy", json_string("sma_cross"));
        json_object_set_new(json_object_get(sum, "sweep_best"), "fast", json_integer((json_int_t)grid[best].p[0]));
        json_object_set_new(json_object_get(sum, "sweep_best"), "slow", json_integer((json_int_t)grid[best].p[1]));
        json_object_set_new(json_object_get(sum, "sweep_best"), "note",
                            json_string("chosen on this same period (in sample): an optimistic benchmark"));
    }
    json_object_set_new(json_object_get(sum, "policy"), "orders", json_integer(rp.counts.orders));
    json_object_set_new(json_object_get(sum, "policy"), "fills", json_integer(rp.counts.fills));
    json_object_set_new(json_object_get(sum, "policy"), "costs", qa_json_real(rp.costs));
    QA_TRY(qa_rundir_write_json(&rd, "summary.json", sum));
    /* equity.csv and the report */
    char path[QA_PATH_MAX];
    /* decisions.csv: the policy's decision at every bar it walked (-1 short, 0 flat, 1 long). */
    QA_TRY(qa_path_join(path, out_dir, "decisions.csv"));
    csv = fopen(path, "w");
    if (!csv) QA_TRY_FAIL(QA_ERR_IO, "%s: cannot write", path);
    fprintf(csv, "date,symbol,decision,env_equity,sim_sleeve_equity\n"); /* equity after the bar's trade */
    for (int s = 0; s < S; s++)
        for (int t = 0; t < T; t++)
            if (!isnan(sig[(size_t)s * T + t])) {
                char dd[40];
                double sl = (size_t)t >= t_begin && (size_t)t < t_begin + L ? rp.sleeve[(size_t)s * L + t - t_begin] : NAN;
                fprintf(csv, "%s,%s,%g,%.10g,%.10g\n", qa_time_format_iso(p.time[t], dd, sizeof dd), p.symbols[s],
                        sig[(size_t)s * T + t], envq[(size_t)s * T + t], sl);
            }
    QA_TRY(close_csv(&csv, path));
    QA_TRY(qa_path_join(path, out_dir, "equity.csv"));
    csv = fopen(path, "w");
    if (!csv) QA_TRY_FAIL(QA_ERR_IO, "%s: cannot write", path);
    fprintf(csv, "date,policy,buy_and_hold,sweep_best\n");
    double cap = rules.capital;
    for (size_t j = 0; j < L; j++) {
        char dd[40];
        fprintf(csv, "%s,%.10g,%.10g,%.10g\n", qa_time_format_iso(p.time[t_begin + j], dd, sizeof dd), rp.equity[j] / cap,
                rh.equity[j] / cap, ng ? rs.equity[j] / cap : NAN);
    }
    QA_TRY(close_csv(&csv, path));
    QA_TRY(qa_report_create("qa rl eval", &r));
    qa_report_heading(r, "Policy out of sample through the event-driven simulator");
    qa_report_kv(r, "run", "%s", run_dir);
    qa_report_kv(r, "split", "%s: %s .. %s, %d symbol(s)", qa_rl_split_name(split), d0, d1, used);
    qa_report_kv(r, "orders / fills / costs", "%lld / %lld / %.2f", (long long)rp.counts.orders, (long long)rp.counts.fills,
                 rp.costs);
    qa_report_kv(r, "env vs simulator equity", "max |difference| %.3g (the env's float returns)", maxdiff);
    const char *hdr[] = {"", "total return", "CAGR", "Sharpe", "Sortino", "max drawdown", "turnover", "trades"};
    qa_report_table_begin(r, hdr, 8);
    const qa_bt_metrics *ms[3] = {&rp.metrics, &rh.metrics, ng ? &rs.metrics : NULL};
    char label[64];
    snprintf(label, sizeof label, "best SMA cross %d/%d (in sample)", ng ? (int)grid[best].p[0] : 0,
             ng ? (int)grid[best].p[1] : 0);
    const char *names[3] = {"PPO policy", "buy and hold", label};
    for (int k = 0; k < 3; k++) {
        if (!ms[k]) continue;
        char cells[7][32];
        snprintf(cells[0], 32, "%.2f%%", 100 * ms[k]->total_return);
        snprintf(cells[1], 32, "%.2f%%", 100 * ms[k]->cagr);
        snprintf(cells[2], 32, "%.3f", ms[k]->sharpe);
        snprintf(cells[3], 32, "%.3f", ms[k]->sortino);
        snprintf(cells[4], 32, "%.2f%%", 100 * ms[k]->max_drawdown);
        snprintf(cells[5], 32, "%.1f", ms[k]->turnover);
        snprintf(cells[6], 32, "%lld", (long long)ms[k]->trades);
        const char *row[9] = {names[k], cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], NULL};
        qa_report_table_row(r, row);
    }
    qa_report_table_end(r);
    double *eq[3];
    for (int k = 0; k < 3; k++) eq[k] = malloc((L ? L : 1) * sizeof(double));
    if (!eq[0] || !eq[1] || !eq[2]) {
        for (int k = 0; k < 3; k++) free(eq[k]);
        QA_TRY_FAIL(QA_ERR_NOMEM, "rl eval: no memory");
    }
    for (size_t j = 0; j < L; j++) {
        eq[0][j] = rp.equity[j] / cap, eq[1][j] = rh.equity[j] / cap;
        eq[2][j] = ng ? rs.equity[j] / cap : NAN;
    }
    qa_report_series ser[3] = {{"PPO policy", NULL, p.time + t_begin, eq[0], L},
                               {"buy and hold", NULL, p.time + t_begin, eq[1], L},
                               {label, NULL, p.time + t_begin, eq[2], ng ? L : 0}};
    qa_report_chart ch = {"Account equity (multiple of capital)", "date", "equity", 0, 0, 0};
    qa_report_line_chart(r, &ch, ser, ng ? 3 : 2);
    for (int k = 0; k < 3; k++) free(eq[k]);
    qa_report_text(r, "Metrics are the sweep engine's definitions (docs/backtest.md) on the simulator's account equity. "
                      "The SMA-cross row is the best of a sweep chosen on this same period, so it is optimistic; the "
                      "policy never saw this period.");
    QA_TRY(qa_path_join(path, out_dir, "report.html"));
    QA_TRY(qa_report_write(r, path));
cleanup:
    if (csv) (void)fclose(csv); /* only on failure: the run has failed already, the CSV is partial */
    qa_report_free(r);
    json_decref(sum);
    free(grid_m);
    qa_sim_result_free(&rp), qa_sim_result_free(&rh), qa_sim_result_free(&rs);
    free(sig), free(hold), free(envq), free(obs);
    qa_rl_policy_free(pol);
    qa_backend_free(be);
    qa_rl_panel_free(&p);
    qa_model_free(&m);
    qa_cfg_free(doc);
    if (rd.path[0]) {
        qa_status cs = qa_rundir_close(&rd, st);
        if (st == QA_OK) st = cs;
    }
    return st;
}
