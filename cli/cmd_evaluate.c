/* qa evaluate: out-of-sample metrics of a trained model on a market file. */
#include <math.h>    /* isfinite */
#include <stdio.h>   /* printf */
#include <stdlib.h>  /* strtod */

#include "cli/args.h"           /* the option table */
#include "cli/cli.h"           /* exit codes */
#include "common/json.h"       /* --json output */
#include "pipeline/train/evaluate.h" /* the evaluation */

static void usage(FILE *out) {
    fprintf(out,
            "usage: qa evaluate --model MODEL --data FILE [--split train|val|test] [--backend cpu|cuda|auto]\n"
            "                   [--top-k K] [--cost-bps C] [--json FILE] [--registry DIR]\n\n"
            "Scores a split with a trained model (a model.qam file, or a registry URI such as\n"
            "models:/NAME/3 or models:/NAME@champion, its artifact hash checked) and prints the information coefficient and\n"
            "rank IC per timestamp (mean, t-stat), directional accuracy, MSE against naive baselines\n"
            "(zero, training mean, trailing return) and a top-k long / bottom-k short backtest with\n"
            "costs. The model's features are checked against the store (definitions must match).\n"
            "Definitions: docs/training.md.\n");
}

static void line(const char *name, double v, const char *fmt) {
    printf("  %-34s ", name);
    if (isfinite(v)) printf(fmt, v);
    else printf("-");
    printf("\n");
}

int qa_cmd_evaluate(int argc, char **argv) {
    const char *model = NULL, *reg_dir = NULL, *data = NULL, *split_name = "test", *backend = "cpu", *json_path = NULL;
    long long top_k = 3;
    double cost_bps = 5.0;
    const qa_cli_opt opts[] = {QA_OPT_STR("model", &model),      QA_OPT_STR("data", &data),
                               QA_OPT_STR("split", &split_name), QA_OPT_STR("backend", &backend),
                               QA_OPT_INT("top-k", &top_k, 1, 1e6), QA_OPT_NUM("cost-bps", &cost_bps, 0, 1e5),
                               QA_OPT_STR("json", &json_path),   QA_OPT_STR("registry", &reg_dir),
                               QA_OPT_END};
    int rc = qa_cli_parse("evaluate", argc, argv, opts, usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    qa_evaluate_opts o = {(int)top_k, cost_bps, 3};
    if (!model || !data) return qa_cli_usage_error("evaluate", "give --model FILE and --data FILE");
    qa_train_split split;
    if (qa_train_split_parse(split_name, &split) != QA_OK) return qa_cli_usage_error("evaluate", "%s", qa_err_msg());
    qa_evaluate_metrics m;
    if (qa_evaluate_run(model, reg_dir, data, split, backend, &o, &m) != QA_OK) return qa_cli_fail("evaluate");
    printf("%s split: %zu predictions, %zu labelled\n", split_name, m.predictions, m.labelled);
    line("loss (training loss)", m.loss, "%.6g");
    line("IC mean", m.ic.mean, "%.4f");
    line("IC t-stat", m.ic.t, "%.2f");
    line("rank IC mean", m.rank_ic.mean, "%.4f");
    line("rank IC t-stat", m.rank_ic.t, "%.2f");
    line("directional accuracy", 100 * m.dir_acc, "%.2f%%");
    line("MSE (forward return)", m.mse, "%.6g");
    line("baseline MSE: predict 0", m.mse_zero, "%.6g");
    line("baseline MSE: training mean", m.mse_mean, "%.6g");
    line("baseline MSE: trailing return", m.mse_prev, "%.6g");
    line("baseline IC: trailing return", m.ic_prev.mean, "%.4f");
    line("baseline rank IC: trailing return", m.rank_ic_prev.mean, "%.4f");
    line("baseline direction: always up", 100 * m.dir_acc_up, "%.2f%%");
    line("baseline direction: trailing return", 100 * m.dir_acc_prev, "%.2f%%");
    printf("  top-%d/bottom-%d backtest, %g bps:\n", o.top_k, o.top_k, o.cost_bps);
    line("  Sharpe", m.bt.sharpe, "%.3f");
    line("  total return", 100 * m.bt.total_return, "%.2f%%");
    line("  max drawdown", 100 * m.bt.max_drawdown, "%.2f%%");
    line("  turnover (per year)", m.bt.turnover, "%.1f");
    line("  baseline Sharpe (trailing return)", m.bt_prev.sharpe, "%.3f");
    rc = QA_EXIT_OK;
    if (json_path) {
        json_t *j = qa_evaluate_metrics_json(&m);
        if (!j || qa_json_write_file(j, json_path) != QA_OK) rc = qa_cli_fail("evaluate");
        json_decref(j);
    }
    qa_evaluate_metrics_free(&m);
    return rc;
}
