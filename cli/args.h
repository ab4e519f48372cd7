/* Command-line options from a table: each subcommand lists its options (name, kind, where
 * the value goes, bounds) once, and one parser handles --help, unknown options, missing
 * values, integer and number bounds, choices, repeated options and positional arguments
 * with the same messages everywhere. Config files and their --set overrides load through
 * one helper too. */
#ifndef QA_CLI_ARGS_H
#define QA_CLI_ARGS_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */
#include <stdio.h>   /* FILE */

#include "common/config.h"
#include "common/status.h"

typedef enum qa_cli_kind {
    QA_ARG_STR,    /* const char **: the value */
    QA_ARG_FLAG,   /* int *: set to 1, takes no value */
    QA_ARG_INT,    /* long long *: a whole number in [lo, hi] */
    QA_ARG_NUM,    /* double *: a finite number in [lo, hi] */
    QA_ARG_CHOICE, /* const char **: one of `choices` */
    QA_ARG_LIST    /* qa_cli_list *: each occurrence appended (--set k=v, --input F) */
} qa_cli_kind;

#define QA_CLI_LIST_MAX 256
typedef struct qa_cli_list {
    const char *items[QA_CLI_LIST_MAX];
    size_t n;
} qa_cli_list;

typedef struct qa_cli_opt {
    const char *name;             /* without the leading "--" */
    qa_cli_kind kind;
    void *dst;
    double lo, hi;                /* QA_ARG_INT, QA_ARG_NUM */
    const char *const *choices;   /* QA_ARG_CHOICE: NULL-terminated */
} qa_cli_opt;

/* Table entries. */
#define QA_OPT_STR(name, dst) {name, QA_ARG_STR, dst, 0, 0, NULL}
#define QA_OPT_FLAG(name, dst) {name, QA_ARG_FLAG, dst, 0, 0, NULL}
#define QA_OPT_INT(name, dst, lo, hi) {name, QA_ARG_INT, dst, lo, hi, NULL}
#define QA_OPT_NUM(name, dst, lo, hi) {name, QA_ARG_NUM, dst, lo, hi, NULL}
#define QA_OPT_CHOICE(name, dst, choices) {name, QA_ARG_CHOICE, dst, 0, 0, choices}
#define QA_OPT_LIST(name, dst) {name, QA_ARG_LIST, dst, 0, 0, NULL}
#define QA_OPT_END {NULL, QA_ARG_STR, NULL, 0, 0, NULL}

#define QA_CLI_RUN (-1) /* qa_cli_parse: go on and run the command */

/* Parses argv[1..] by the table (ended by an entry with name NULL). --help prints
 * usage(stdout) and returns QA_EXIT_OK; a bad command line returns QA_EXIT_USAGE after
 * "qa <cmd>: <what was wrong>". Positional arguments go to `pos` (at most `max_pos`;
 * NULL: none allowed), their count to *npos. Returns QA_CLI_RUN when the command should
 * run. */
int qa_cli_parse(const char *cmd, int argc, char **argv, const qa_cli_opt *opts, void (*usage)(FILE *),
                 const char **pos, size_t max_pos, size_t *npos);

/* The document a command binds: `config` loaded (or an empty document named `empty_name`
 * when there is none) with every --set applied in order. */
qa_status qa_cli_config(const char *config, const qa_cli_list *sets, const char *empty_name, qa_cfg_t **doc);

/* A date or ISO date-time option in UTC (--start, --from): 1 when `text` is NULL (not
 * given: *out unchanged) or parses (into *out), 0 when malformed. */
int qa_cli_time_opt(const char *text, int64_t *out);

#endif
