/* cli/args: the table-driven option parser every subcommand uses: values of every kind,
 * --name=value, abbreviations, bounds, choices, repeated options, positionals, --help,
 * and the usage errors (exit code 2) for what is wrong. */
#include <stdio.h>
#include <string.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "harness.h"

typedef struct vals {
    const char *config, *backend;
    int force;
    long long threads;
    double cost;
    qa_cli_list sets;
    const char *pos[2];
    size_t npos;
} vals;

static const char *const backends[] = {"cpu", "cuda", "auto", NULL};
static int helped = 0;
static void usage(FILE *out) {
    (void)out;
    helped++;
}

/* Parses the space-separated command line `line` (argv[0] = "cmd") into v. */
static int parse(const char *line, vals *v, size_t max_pos) {
    static char buf[512];
    char *argv[32];
    int argc = 0;
    snprintf(buf, sizeof buf, "cmd %s", line);
    for (char *t = strtok(buf, " "); t && argc < 32; t = strtok(NULL, " ")) argv[argc++] = t;
    memset(v, 0, sizeof *v);
    v->threads = -1;
    const qa_cli_opt opts[] = {QA_OPT_STR("config", &v->config),
                               QA_OPT_CHOICE("backend", &v->backend, backends),
                               QA_OPT_FLAG("force", &v->force),
                               QA_OPT_INT("threads", &v->threads, 0, 64),
                               QA_OPT_NUM("cost-bps", &v->cost, 0, 100),
                               QA_OPT_NUM("cost-cap", &v->cost, 0, 100),
                               QA_OPT_LIST("set", &v->sets),
                               QA_OPT_END};
    return qa_cli_parse("test", argc, argv, opts, usage, max_pos ? v->pos : NULL, max_pos, &v->npos);
}

static void test_values(void) {
    vals v;
    QA_CHECK_INT(parse("--config a.yaml --backend cuda --force --threads 8 --cost-bps=2.5 --set x=1 --set y=2 F", &v, 2),
                 QA_CLI_RUN);
    QA_CHECK_STR(v.config, "a.yaml");
    QA_CHECK_STR(v.backend, "cuda");
    QA_CHECK_INT(v.force, 1);
    QA_CHECK_INT(v.threads, 8);
    QA_CHECK(v.cost == 2.5);
    QA_CHECK_INT(v.sets.n, 2);
    QA_CHECK_STR(v.sets.items[1], "y=2");
    QA_CHECK_INT(v.npos, 1);
    QA_CHECK_STR(v.pos[0], "F");
    /* an unambiguous abbreviation, as getopt_long takes it; "--" ends the options */
    QA_CHECK_INT(parse("--conf b.yaml -- --force", &v, 2), QA_CLI_RUN);
    QA_CHECK_STR(v.config, "b.yaml");
    QA_CHECK_INT(v.force, 0);
    QA_CHECK_STR(v.pos[0], "--force");
}

static void test_errors(void) {
    vals v;
    QA_CHECK_INT(parse("--threads 65", &v, 0), QA_EXIT_USAGE);      /* above the bound */
    QA_CHECK_INT(parse("--threads 2x", &v, 0), QA_EXIT_USAGE);      /* not a whole number */
    QA_CHECK_INT(parse("--cost-bps nan", &v, 0), QA_EXIT_USAGE);    /* not finite */
    QA_CHECK_INT(parse("--cost 1", &v, 0), QA_EXIT_USAGE);          /* ambiguous: cost-bps, cost-cap */
    QA_CHECK_INT(parse("--backend tpu", &v, 0), QA_EXIT_USAGE);     /* not a choice */
    QA_CHECK_INT(parse("--bogus", &v, 0), QA_EXIT_USAGE);           /* unknown */
    QA_CHECK_INT(parse("-x", &v, 0), QA_EXIT_USAGE);                /* no short options */
    QA_CHECK_INT(parse("--config", &v, 0), QA_EXIT_USAGE);          /* missing value */
    QA_CHECK_INT(parse("--force=1", &v, 0), QA_EXIT_USAGE);         /* a flag takes no value */
    QA_CHECK_INT(parse("F", &v, 0), QA_EXIT_USAGE);                 /* no positionals allowed */
    QA_CHECK_INT(parse("F G H", &v, 2), QA_EXIT_USAGE);             /* too many */
    QA_CHECK_INT(helped, 0);
    QA_CHECK_INT(parse("--threads 1 --help --bogus", &v, 0), QA_EXIT_OK);
    QA_CHECK_INT(helped, 1);
}

static void test_config(void) {
    qa_cli_list sets = {.items = {"a.b=3", "c=x"}, .n = 2};
    qa_cfg_t *doc = NULL;
    QA_CHECK_OK(qa_cli_config(NULL, &sets, "(command line)", &doc));
    const qa_cfg_node *a = qa_cfg_map_get(qa_cfg_root(doc), "a");
    QA_CHECK_STR(qa_cfg_node_text(qa_cfg_map_get(a, "b")), "3");
    QA_CHECK_STR(qa_cfg_node_text(qa_cfg_map_get(qa_cfg_root(doc), "c")), "x");
    qa_cfg_free(doc);
    QA_CHECK(qa_cli_config("/nonexistent/c.yaml", NULL, "x", &doc) != QA_OK);
    QA_CHECK(doc == NULL);
    QA_CHECK(strstr(qa_err_msg(), "config file") != NULL);
}

int main(void) {
    QA_RUN(test_values);
    QA_RUN(test_errors);
    QA_RUN(test_config);
    return qa_test_finish();
}
