/* Usage errors, failure reporting and subcommand-group dispatch for `qa`. */
#include "cli/cli.h"

#include <errno.h>   /* errno */
#include <getopt.h>  /* optind */
#include <signal.h>  /* sigaction: the stop handlers */
#include <stdarg.h>  /* va_list */
#include <string.h>  /* strcmp, strerror, memset */

#include "common/log.h"     /* qa_log_last_error */
#include "common/status.h"  /* qa_err_msg */

int qa_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "qa %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'qa %s --help'.\n", cmd);
    return QA_EXIT_USAGE;
}

int qa_cli_fail(const char *cmd) {
    char what[128];
    snprintf(what, sizeof what, "qa %s", cmd);
    qa_log_last_error(what);
    return QA_EXIT_FAILURE;
}

void qa_cli_print_table(FILE *out, const qa_cli_command *table) {
    for (const qa_cli_command *c = table; c->name; c++) fprintf(out, "  %-12s %s\n", c->name, c->summary);
}

void qa_cli_reset_getopt(void) { optind = 1; }

int qa_cli_dispatch(const char *group, const char *group_summary, const qa_cli_command *table,
                    int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        FILE *out = argc < 2 ? stderr : stdout;
        fprintf(out, "usage: qa %s <command> [options]\n\n%s\n\ncommands:\n", group, group_summary);
        qa_cli_print_table(out, table);
        fprintf(out, "\nRun 'qa %s <command> --help' for a command's options.\n", group);
        return argc < 2 ? QA_EXIT_USAGE : QA_EXIT_OK;
    }
    for (const qa_cli_command *c = table; c->name; c++) {
        if (strcmp(c->name, argv[1]) == 0) {
            qa_cli_reset_getopt();
            return c->fn(argc - 1, argv + 1);
        }
    }
    return qa_cli_usage_error(group, "unknown command '%s'", argv[1]);
}

static volatile sig_atomic_t g_stop_signal = 0;
static void on_stop_signal(int sig) { g_stop_signal = sig; }

qa_status qa_cli_stop_signals(const volatile sig_atomic_t **flag) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGUSR1, &sa, NULL) != 0)
        return QA_FAIL(QA_ERR_IO, "cannot install the stop handlers: %s", strerror(errno));
    *flag = &g_stop_signal;
    return QA_OK;
}
