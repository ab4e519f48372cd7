/* qa rl: reinforcement learning on the trading environments (train, eval). */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "common/config.h"
#include "common/log.h"
#include "mpi/comm.h"
#include "pipeline/rl/rl.h"
#include "registry/registry.h"


static void train_usage(FILE *out) {
    fprintf(out,
            "usage: qa rl train --config FILE --run-dir DIR [--data FILE] [--backend cpu|cuda|auto]\n"
            "                   [--resume] [--max-updates N] [--set key=value]...\n"
            "                   [--publish NAME [--alias A] [--registry DIR]]\n\n"
            "Trains a PPO trading agent on vectorised environments over a market file (every env draws\n"
            "its own symbol and start date inside the training split; rewards are P&L minus the trading\n"
            "rules' costs) and writes a run directory: config.resolved.json, metrics.jsonl,\n"
            "checkpoint.qrl, model.qam (the policy with the best validation reward), lineage.json,\n"
            "summary.json, report.html, eval-test/ (the policy through the event-driven simulator on the\n"
            "test split, beside buy-and-hold and a sweep's best parameters). Runs under mpirun (data\n"
            "parallel). Keys and formulas: docs/rl.md.\n\n"
            "  --config FILE     RL config (YAML)\n"
            "  --run-dir DIR     where the run is written (required)\n"
            "  --data FILE       market file (overrides 'data')\n"
            "  --backend B       cpu, cuda or auto (overrides 'backend')\n"
            "  --resume          continue from DIR/checkpoint.qrl (bit-identical to an uninterrupted run)\n"
            "  --max-updates N   stop after N updates with a checkpoint (resume later)\n"
            "  --set k=v         override a config key, e.g. --set ppo.lr=3e-4\n"
            "  --publish NAME    when the run finishes, publish the policy as the next version of NAME\n"
            "  --alias A         then point alias A at that version\n"
            "  --registry DIR    the registry (default $QA_REGISTRY, else ~/.local/share/quantumalpha/registry)\n");
}

static int cmd_train(int argc, char **argv) {
    const char *config = NULL, *data = NULL, *run_dir = NULL, *backend = NULL, *publish = NULL, *alias = NULL,
               *reg_dir = NULL;
    int resume = 0;
    long long max_updates = 0;
    qa_cli_list sets = {.n = 0};
    const qa_cli_opt opts[] = {QA_OPT_STR("config", &config),     QA_OPT_STR("data", &data),
                               QA_OPT_STR("run-dir", &run_dir),   QA_OPT_STR("backend", &backend),
                               QA_OPT_FLAG("resume", &resume),    QA_OPT_INT("max-updates", &max_updates, 1, 9e18),
                               QA_OPT_LIST("set", &sets),         QA_OPT_STR("publish", &publish),
                               QA_OPT_STR("alias", &alias),       QA_OPT_STR("registry", &reg_dir),
                               QA_OPT_END};
    int rc = qa_cli_parse("rl train", argc, argv, opts, train_usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    if (!run_dir) return qa_cli_usage_error("rl train", "give --run-dir DIR");
    if (alias && !publish) return qa_cli_usage_error("rl train", "--alias needs --publish NAME");
    if (publish && qa_registry_name_check(publish, "model name") != QA_OK)
        return qa_cli_usage_error("rl train", "--publish: %s", qa_err_msg());
    if (!config && !sets.n) return qa_cli_usage_error("rl train", "give --config FILE (and/or --set key=value)");
    qa_status st = QA_OK;
    qa_cfg_t *doc = NULL;
    qa_comm_t *comm = NULL;
    qa_rl_cfg cfg;
    QA_TRY(qa_rl_cfg_default(&cfg));
    QA_TRY(qa_cli_config(config, &sets, "(command line)", &doc));
    QA_TRY(qa_rl_cfg_bind(doc, &cfg));
    if (data) cfg.data = data;
    if (backend) cfg.backend = backend;
    cfg.run_dir = run_dir;
    cfg.resume = resume;
    cfg.max_updates = max_updates;
    if (!cfg.data) {
        qa_cfg_free(doc);
        return qa_cli_usage_error("rl train", "give --data or 'data' in the config");
    }
    QA_TRY(qa_comm_create(&argc, &argv, &comm));
    /* Signals stop every rank after its current update with a checkpoint (the Slurm
     * template's contract, as qa train). */
    const volatile sig_atomic_t *stop = NULL;
    QA_TRY(qa_cli_stop_signals(&stop));
    cfg.stop = stop;
    qa_rl_result res;
    QA_TRY(qa_rl_train(&cfg, comm, argc, argv, &res));
    if (publish && qa_comm_rank(comm) == 0) {
        if (strcmp(res.stop_reason, "steps") != 0)
            qa_log_warn("rl train: the run stopped early (%s): not published; resume it, then qa registry publish %s --name %s",
                        res.stop_reason, run_dir, publish);
        else
            QA_TRY(qa_cli_publish(reg_dir, run_dir, publish, NULL, NULL, alias, "qa rl train --publish --alias"));
    }
cleanup:
    qa_cfg_free(doc);
    qa_comm_free(comm);
    if (st != QA_OK) return qa_cli_fail("rl train");
    return QA_EXIT_OK;
}

static void eval_usage(FILE *out) {
    fprintf(out,
            "usage: qa rl eval (--run DIR | --model URI [--registry DIR]) [--data FILE] [--split test|validation]\n"
            "                  [--out DIR]\n\n"
            "Runs a trained policy out of sample: a qa rl train run directory, or a policy in the model\n"
            "registry (models:/NAME@ALIAS or models:/NAME/V, with the configuration its run recorded).\n"
            "Single-asset discrete policies go through the event-driven simulator (orders, fills, costs\n"
            "under the run's trading rules) beside buy-and-hold and the best SMA-cross parameters of a\n"
            "sweep on the same period; continuous and portfolio policies run episodes in their\n"
            "environment beside a hold policy. Writes summary.json and report.html (and decisions.csv,\n"
            "equity.csv) into --out (default DIR/eval-<split>; required with --model).\n\n"
            "  --run DIR        a qa rl train run directory\n"
            "  --model URI      a policy in the registry\n"
            "  --registry DIR   the registry (default $QA_REGISTRY, else ~/.local/share/quantumalpha/registry)\n"
            "  --data FILE      market file (default: the run's)\n"
            "  --split S        test (default) or validation\n"
            "  --out DIR        output directory\n");
}

static int cmd_eval(int argc, char **argv) {
    const char *run = NULL, *model = NULL, *reg_dir = NULL, *data = NULL, *split = "test", *out = NULL;
    const qa_cli_opt opts[] = {QA_OPT_STR("run", &run),         QA_OPT_STR("model", &model),
                               QA_OPT_STR("registry", &reg_dir), QA_OPT_STR("data", &data),
                               QA_OPT_STR("split", &split),     QA_OPT_STR("out", &out),
                               QA_OPT_END};
    int rc = qa_cli_parse("rl eval", argc, argv, opts, eval_usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    if (!run == !model) return qa_cli_usage_error("rl eval", "give one of --run DIR or --model URI");
    if (model && strncmp(model, "models:/", 8) != 0)
        return qa_cli_usage_error("rl eval", "--model '%s': expected a registry URI models:/NAME@ALIAS or models:/NAME/V", model);
    if (model && !out) return qa_cli_usage_error("rl eval", "--model needs --out DIR");
    if (reg_dir && !model) return qa_cli_usage_error("rl eval", "--registry goes with --model");
    qa_rl_split sp;
    if (strcmp(split, "test") == 0) sp = QA_RL_TEST;
    else if (strcmp(split, "validation") == 0) sp = QA_RL_VALIDATION;
    else return qa_cli_usage_error("rl eval", "--split '%s': expected test or validation", split);
    char dir[4096];
    if (out) snprintf(dir, sizeof dir, "%s", out);
    else snprintf(dir, sizeof dir, "%s/eval-%s", run, split);
    qa_rl_eval_report rep;
    if (qa_rl_evaluate_ref(model ? model : run, reg_dir, data, sp, dir, argc, argv, &rep) != QA_OK)
        return qa_cli_fail("rl eval");
    if (strcmp(rep.method, "simulator") == 0)
        printf("%s split, %d symbol(s), through the simulator: policy Sharpe %.3f, total return %.2f%%; buy and hold "
               "%.3f, %.2f%%; best SMA cross (in sample) %.3f, %.2f%%\n",
               split, rep.symbols, rep.policy_sharpe, 100 * rep.policy_return, rep.hold_sharpe, 100 * rep.hold_return,
               rep.sweep_sharpe, 100 * rep.sweep_return);
    else
        printf("%s split, in the environment: policy mean episode return %.2f%%, hold %.2f%% (same episodes)\n", split,
               100 * rep.policy_episode_return, 100 * rep.hold_episode_return);
    printf("report: %s/report.html\n", dir);
    return QA_EXIT_OK;
}

int qa_cmd_rl(int argc, char **argv) {
    static const qa_cli_command table[] = {
        {"train", "PPO on vectorised trading environments into a run directory (MPI, GPU)", cmd_train},
        {"eval", "a trained policy out of sample through the simulator, with benchmarks", cmd_eval},
        {NULL, NULL, NULL},
    };
    return qa_cli_dispatch("rl", "Reinforcement learning on trading environments (docs/rl.md).", table, argc, argv);
}
