/* qa simulate: the event-driven backtest simulator (orders, fills, costs, accounting)
 * for one strategy and parameter set, writing a run directory. */
#include <stdio.h>   /* printf */

#include "cli/args.h"           /* the option table */
#include "cli/cli.h"         /* exit codes */
#include "common/config.h"   /* config + overrides */
#include "common/log.h"      /* summary line */
#include "pipeline/sim/sim.h"    /* the simulator */

static void usage(FILE *out) {
    fprintf(out,
            "usage: qa simulate --config FILE [--data FILE] [--run-dir DIR] [--set key=value]...\n"
            "                   [--registry DIR]\n\n"
            "Runs the event-driven simulator: bars in time order, the strategy's target weight per\n"
            "symbol (the vectorized engine's rules), orders (market-on-close, next-bar market, limit,\n"
            "stop; partial fills by volume participation), optional pre-trade checks, costs and\n"
            "portfolio accounting. Writes equity.csv, positions.csv, sleeves.csv, blotter.csv,\n"
            "summary.json and report.html into the run directory. Config keys: docs/simulator.md.\n\n"
            "  --config FILE   simulation config (YAML): data, symbols, start, end, strategy, params,\n"
            "                  direction, stops, sizing, costs, capital, orders, pretrade, blotter\n"
            "  --data FILE     market file (overrides 'data')\n"
            "  --run-dir DIR   run directory (overrides 'run_dir'; default runs/simulate)\n"
            "  --set K=V       override a config key, e.g. --set costs.convention=traded\n"
            "  --registry DIR  registry for a model-driven signal (signal: models:/NAME@champion;\n"
            "                  default $QA_REGISTRY, else ~/.local/share/quantumalpha/registry)\n");
}

int qa_cmd_simulate(int argc, char **argv) {
    const char *config = NULL, *data = NULL, *run_dir = NULL, *reg_dir = NULL;
    qa_cli_list sets = {.n = 0};
    const qa_cli_opt opts[] = {QA_OPT_STR("config", &config), QA_OPT_STR("data", &data), QA_OPT_STR("run-dir", &run_dir),
                               QA_OPT_LIST("set", &sets), QA_OPT_STR("registry", &reg_dir), QA_OPT_END};
    int rc = qa_cli_parse("simulate", argc, argv, opts, usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    if (!config && !sets.n) return qa_cli_usage_error("simulate", "give --config FILE (see 'qa simulate --help')");
    qa_status st = QA_OK;
    qa_cfg_t *doc = NULL;
    qa_sim_cfg cfg;
    qa_sim_cfg_default(&cfg);
    QA_TRY(qa_cli_config(config, &sets, "(command line)", &doc));
    QA_TRY(qa_sim_cfg_bind(doc, &cfg));
    if (data) cfg.data = data;
    if (run_dir) cfg.run_dir = run_dir;
    cfg.registry = reg_dir;
    if (!cfg.run_dir) cfg.run_dir = "runs/simulate";
    if (!cfg.data) {
        qa_cfg_free(doc);
        return qa_cli_usage_error("simulate", "give --data or 'data' in the config");
    }
    qa_sim_report rep;
    QA_TRY(qa_sim_execute(&cfg, cfg.run_dir, argc, argv, &rep));
    qa_log_info("simulate: %zu symbols x %zu bars: equity %.2f (total return %.2f%%, Sharpe %.3f), %lld orders, %lld fills, "
                "%lld rejected; loop %.3f s (%.3g symbol-bars/s, %.3g orders/s) -> %s",
                rep.symbols, rep.bars, rep.final_equity, 100 * rep.total_return, rep.sharpe, (long long)rep.counts.orders,
                (long long)rep.counts.fills, (long long)rep.counts.rejected, rep.seconds, rep.bars_per_s, rep.orders_per_s,
                cfg.run_dir);
cleanup:
    qa_cfg_free(doc);
    if (st != QA_OK) return qa_cli_fail("simulate");
    return QA_EXIT_OK;
}
