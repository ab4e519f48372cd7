/* qa predict: score a market file with a model (a file or a registry URI). */
#include <stdio.h>  /* printf */

#include "cli/args.h"                  /* the option table */
#include "cli/cli.h"                   /* exit codes */
#include "pipeline/predict/predict.h"  /* the scoring */

static void usage(FILE *out) {
    fprintf(out,
            "usage: qa predict --model MODEL --data FILE [--out FILE] [--registry DIR]\n\n"
            "Scores every bar of a market file with a model: MODEL is a model file or a registry URI\n"
            "(models:/NAME/7, models:/NAME@champion, models:/NAME/latest; the artifact's SHA-256 and the\n"
            "model's signature are checked against the file's features first). The S x T panel of\n"
            "scores (predicted forward return, P(up) or the centred expected quantile; NaN where a\n"
            "window is incomplete) is written as /predictions/<model>/<version> into the market file,\n"
            "or into --out, a new file with the same symbols and grid. `qa simulate` reads it as a\n"
            "signal (signal: predictions/NAME/7). docs/registry.md.\n\n"
            "  --model MODEL   model file or models:/ URI\n"
            "  --data FILE     market file with the model's features\n"
            "  --out FILE      write into this new file instead of the market file\n"
            "  --registry DIR  registry for URIs (default $QA_REGISTRY, else ~/.local/share/quantumalpha/registry)\n");
}

int qa_cmd_predict(int argc, char **argv) {
    qa_predict_opts o = {NULL, NULL, NULL, NULL};
    const qa_cli_opt opts[] = {QA_OPT_STR("model", &o.model), QA_OPT_STR("data", &o.data), QA_OPT_STR("out", &o.out),
                               QA_OPT_STR("registry", &o.registry), QA_OPT_END};
    int rc = qa_cli_parse("predict", argc, argv, opts, usage, NULL, 0, NULL);
    if (rc != QA_CLI_RUN) return rc;
    if (!o.model || !o.data) return qa_cli_usage_error("predict", "give --model MODEL and --data FILE");
    qa_predict_report rep;
    if (qa_predict_run(&o, &rep) != QA_OK) return qa_cli_fail("predict");
    printf("%s: %zu scores over %zu symbols x %zu bars into %s:/%s (%.0f rows/s)\n", rep.label, rep.scored, rep.symbols,
           rep.bars, o.out ? o.out : o.data, rep.dataset, rep.rows_per_s);
    return QA_EXIT_OK;
}
