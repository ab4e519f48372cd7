/* qa runs: the experiment tracker over run directories (list, show). */
#include <stdio.h>   /* stdout */
#include <string.h>  /* strcmp */

#include "cli/args.h"     /* the option table */
#include "cli/cli.h"        /* exit codes, dispatch */
#include "pipeline/train/train.h" /* qa_train_runs_list/show */

static void list_usage(FILE *out) {
    fprintf(out, "usage: qa runs list [--dir DIR | DIR]\n\nA table of the training runs under DIR (default runs): model, "
                 "inputs, target,\nsteps, best validation loss, test IC, rank IC, top-k Sharpe, duration, status.\n");
}

static int cmd_list(int argc, char **argv) {
    const char *dir = "runs", *pos = NULL;
    size_t npos = 0;
    const qa_cli_opt opts[] = {QA_OPT_STR("dir", &dir), QA_OPT_END};
    int rc = qa_cli_parse("runs list", argc, argv, opts, list_usage, &pos, 1, &npos);
    if (rc != QA_CLI_RUN) return rc;
    if (npos) dir = pos;
    if (qa_train_runs_list(dir, stdout) != QA_OK) return qa_cli_fail("runs list");
    return QA_EXIT_OK;
}

static int cmd_show(int argc, char **argv) {
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: qa runs show RUN_DIR\n\nOne run's configuration, status, training and evaluation figures and "
               "files.\n");
        return QA_EXIT_OK;
    }
    if (argc != 2) return qa_cli_usage_error("runs show", "give one run directory");
    if (qa_train_runs_show(argv[1], stdout) != QA_OK) return qa_cli_fail("runs show");
    return QA_EXIT_OK;
}

int qa_cmd_runs(int argc, char **argv) {
    static const qa_cli_command table[] = {
        {"list", "table of the runs under a directory (default runs/)", cmd_list},
        {"show", "details of one run", cmd_show},
        {NULL, NULL, NULL},
    };
    return qa_cli_dispatch("runs", "The experiment tracker: compare training runs.", table, argc, argv);
}
