/* qa evaluate: out-of-sample metrics of a trained model on a market file. */
#include <getopt.h>  /* getopt_long */
#include <math.h>    /* isfinite */
#include <stdio.h>   /* printf */
#include <stdlib.h>  /* strtod */

#include "cli/cli.h"           /* exit codes */
#include "common/json.h"       /* --json output */
#include "pipeline/train/evaluate.h" /* the evaluation */

static void usage(FILE *out) {
    fprintf(out,
            "usage: qa evaluate --model FILE --data FILE [--split train|val|test] [--backend cpu|cuda|auto]\n"
            "                   [--top-k K] [--cost-bps C] [--json FILE]\n\n"
            "Scores a split with a trained model (model.qam) and prints the information coefficient and\n"
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
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'}, {"data", required_argument, NULL, 'd'},
                                         {"split", required_argument, NULL, 's'}, {"backend", required_argument, NULL, 'b'},
                                         {"top-k", required_argument, NULL, 'k'}, {"cost-bps", required_argument, NULL, 'c'},
                                         {"json", required_argument, NULL, 'j'},  {"help", no_argument, NULL, 'h'},
                                         {0, 0, 0, 0}};
    const char *model = NULL, *data = NULL, *split_name = "test", *backend = "cpu", *json_path = NULL;
    qa_evaluate_opts o = {3, 5.0, 3};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end = NULL;
        switch (c) {
        case 'm': model = optarg; break;
        case 'd': data = optarg; break;
        case 's': split_name = optarg; break;
        case 'b': backend = optarg; break;
        case 'k':
            o.top_k = (int)strtol(optarg, &end, 10);
            if (*end || o.top_k < 1) return qa_cli_usage_error("evaluate", "--top-k needs a positive integer");
            break;
        case 'c':
            o.cost_bps = strtod(optarg, &end);
            if (*end || !(o.cost_bps >= 0)) return qa_cli_usage_error("evaluate", "--cost-bps needs a number >= 0");
            break;
        case 'j': json_path = optarg; break;
        case 'h': usage(stdout); return QA_EXIT_OK;
        default: return qa_cli_usage_error("evaluate", "unknown option");
        }
    }
    if (optind < argc) return qa_cli_usage_error("evaluate", "unexpected argument '%s'", argv[optind]);
    if (!model || !data) return qa_cli_usage_error("evaluate", "give --model FILE and --data FILE");
    qa_train_split split;
    if (qa_train_split_parse(split_name, &split) != QA_OK) return qa_cli_usage_error("evaluate", "%s", qa_err_msg());
    qa_evaluate_metrics m;
    if (qa_evaluate_run(model, data, split, backend, &o, &m) != QA_OK) return qa_cli_fail("evaluate");
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
    int rc = QA_EXIT_OK;
    if (json_path) {
        json_t *j = qa_evaluate_metrics_json(&m);
        if (!j || qa_json_write_file(j, json_path) != QA_OK) rc = qa_cli_fail("evaluate");
        json_decref(j);
    }
    qa_evaluate_metrics_free(&m);
    return rc;
}
