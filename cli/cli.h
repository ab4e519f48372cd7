/* Shared pieces of the `qa` command line: the command table type, exit codes, and the
 * usage/failure helpers every subcommand uses. Commands are thin: parse arguments,
 * call a module, print. */
#ifndef QA_CLI_H
#define QA_CLI_H

#include <signal.h> /* sig_atomic_t */
#include <stdio.h>  /* FILE */

#include "common/status.h" /* qa_status */

enum {
    QA_EXIT_OK = 0,
    QA_EXIT_FAILURE = 1, /* runtime failure: bad input file, I/O, library error */
    QA_EXIT_USAGE = 2    /* bad command line */
};

typedef int (*qa_cli_fn)(int argc, char **argv);

typedef struct qa_cli_command {
    const char *name;
    const char *summary; /* one line for `qa --help` */
    qa_cli_fn fn;
} qa_cli_command;

/* Prints "qa <cmd>: <message>" and a hint to stderr; returns QA_EXIT_USAGE. */
int qa_cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Logs the thread's last error prefixed by `cmd`; returns QA_EXIT_FAILURE. */
int qa_cli_fail(const char *cmd);
/* Runs the subcommand named argv[1] from a NULL-terminated table (for groups such as
 * `qa data import`), printing the group's help for --help or no subcommand. */
int qa_cli_dispatch(const char *group, const char *group_summary, const qa_cli_command *table,
                    int argc, char **argv);
/* Prints a command table as "  name   summary" lines. */
void qa_cli_print_table(FILE *out, const qa_cli_command *table);
/* Resets getopt so a subcommand can parse its own argv. */
void qa_cli_reset_getopt(void);

/* SIGINT, SIGTERM (preemption, scancel) and SIGUSR1 (Slurm's time-limit warning, see
 * jobs/slurm/train.sbatch) set *flag (the signal number) instead of ending the process:
 * the training commands stop every rank after its current step with a checkpoint and
 * exit 0. QA_ERR_IO when a handler cannot be installed. */
qa_status qa_cli_stop_signals(const volatile sig_atomic_t **flag);

/* Publishes a run directory or model file as the next version of `name` in the registry
 * `reg_dir` (NULL: the default), points `alias` (may be NULL) at it with reason `why`,
 * and prints its URI: `qa registry publish` and `qa train --publish` (cli/cmd_registry.c). */
struct json_t;
qa_status qa_cli_publish(const char *reg_dir, const char *path, const char *name, const struct json_t *tags,
                         const char *description, const char *alias, const char *why);

/* Subcommands (cli/cmd_*.c). */
int qa_cmd_info(int argc, char **argv);
int qa_cmd_data(int argc, char **argv);
int qa_cmd_data_generate(int argc, char **argv);
int qa_cmd_features(int argc, char **argv);
int qa_cmd_submit(int argc, char **argv);
int qa_cmd_jobs(int argc, char **argv);
int qa_cmd_simulate(int argc, char **argv);
int qa_cmd_sweep(int argc, char **argv);
int qa_cmd_train(int argc, char **argv);
int qa_cmd_rl(int argc, char **argv);
int qa_cmd_runs(int argc, char **argv);
int qa_cmd_evaluate(int argc, char **argv);
int qa_cmd_registry(int argc, char **argv);
int qa_cmd_predict(int argc, char **argv);
int qa_cmd_stress(int argc, char **argv);
int qa_cmd_bus(int argc, char **argv);
int qa_cmd_replay(int argc, char **argv);
int qa_cmd_live(int argc, char **argv);
int qa_cmd_alt(int argc, char **argv);
int qa_cmd_alt_study(int argc, char **argv); /* `qa alt study` (cli/cmd_altstudy.c) */
int qa_cmd_tca(int argc, char **argv);
int qa_cmd_exchange(int argc, char **argv);
int qa_cmd_serve(int argc, char **argv);
int qa_cmd_users(int argc, char **argv);
int qa_cmd_audit(int argc, char **argv);

#endif
