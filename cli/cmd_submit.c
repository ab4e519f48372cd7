/* qa submit: submits a batch-script template to Slurm through libslurm. Options come
 * from the template's #SBATCH lines, then a submit.yaml (--config), then the command
 * line, each overriding the one before. Prints the job id on stdout. */
#include <errno.h>   /* errno of a failed stdout flush */
#include <getopt.h>  /* getopt_long */
#include <stdio.h>   /* printf, fprintf */
#include <stdlib.h>  /* free */
#include <string.h>  /* strcmp, strerror, sigabbrev_np */

#include "cli/cli.h"          /* exit codes, usage errors */
#include "common/config.h"    /* submit.yaml schema binding */
#include "common/fs.h"        /* qa_fs_read_all */
#include "jobs/slurm.h"       /* qa_slurm_submit */
#include "jobs/slurm_spec.h"  /* qa_slurm_spec */

static void usage(FILE *out) {
    fprintf(out,
            "usage: qa submit [options] TEMPLATE [ARGS...]\n"
            "       qa submit --config submit.yaml [options] [TEMPLATE [ARGS...]]\n"
            "\n"
            "Submits the batch script TEMPLATE to Slurm through libslurm and prints the job id.\n"
            "TEMPLATE is a file, or a name (train, sweep, merge, stress) found as NAME.sbatch in\n"
            "$QA_SLURM_TEMPLATES, the installed PREFIX/share/quantumalpha/jobs/slurm/ or the\n"
            "project's jobs/slurm/. ARGS are passed to the script as $1 $2 ...\n"
            "The controller is the one in $SLURM_CONF, else /etc/slurm/slurm.conf.\n"
            "\n"
            "The template's #SBATCH lines are read (the options below, nothing else); a\n"
            "--config file overrides them and the command line overrides both.\n"
            "\n"
            "  -J, --job-name NAME        job name (default: the template's file name)\n"
            "  -p, --partition NAME       partition\n"
            "  -A, --account NAME         account to charge\n"
            "  -t, --time TIME            time limit: minutes, HH:MM:SS, D-HH:MM:SS, infinite\n"
            "  -N, --nodes N              nodes\n"
            "  -n, --ntasks N             tasks (MPI ranks)\n"
            "      --ntasks-per-node N    tasks per node (one per GPU for training)\n"
            "      --gpus-per-node N      GPUs per node; 0 drops a template's GPU request\n"
            "  -c, --cpus-per-task N      CPUs per task\n"
            "      --mem SIZE             memory per node (K, M, G, T; default M)\n"
            "  -a, --array SPEC           job array: 0-3, 0-99%%10, 1,5,7\n"
            "  -d, --dependency SPEC      e.g. afterok:123 (run after job 123 succeeded)\n"
            "  -o, --output PATH          stdout file (%%j job id, %%A array job id, %%a task id)\n"
            "  -e, --error PATH           stderr file\n"
            "      --signal [B:]SIG[@S]   send SIG S seconds before the time limit (B: batch shell only)\n"
            "      --requeue              allow requeue (preemption, node failure, scontrol requeue)\n"
            "      --no-requeue           never requeue\n"
            "      --open-mode MODE       append or truncate the output files\n"
            "  -D, --chdir DIR            working directory (default: the current directory)\n"
            "      --export KEY=VALUE     add to the job's environment (repeatable); the job gets\n"
            "                             this environment (without SLURM_* except SLURM_CONF) too\n"
            "      --config FILE          submit.yaml with the same keys (template, args, export, ...)\n"
            "      --dry-run              print the resolved job description, do not submit\n"
            "  -h, --help                 this help\n"
            "\n"
            "exit: 0 submitted (job id on stdout), 1 rejected or no controller, 2 usage error\n");
}

/* submit.yaml: every option above by its long name ('-' or '_'), plus the template, its
 * arguments and the exports. Values stay text and go through qa_slurm_spec_set under the
 * schema key (an option name), so a key means exactly what the option means. */
enum { N_OPTION_KEYS = 17 }; /* option keys of submit_schema, bound to values[0..16] */
typedef struct submit_cfg {
    const char *template_path;
    qa_cfg_list args;
    qa_cfg_list exports;
    const char *values[N_OPTION_KEYS];
    int requeue; /* -1 absent, 0, 1 */
} submit_cfg;

/* Offset of values[i]; an index out of range does not compile (negative array size). */
#define V(i) (offsetof(submit_cfg, values) + (i) * sizeof(const char *) + 0 * sizeof(char[(i) < N_OPTION_KEYS ? 1 : -1]))
static const qa_cfg_field submit_schema[] = {
    {"template", QA_CFG_T_STRING, offsetof(submit_cfg, template_path), 0, 0, NULL, NULL, 0,
     "batch script to submit (the command line's TEMPLATE overrides it)"},
    {"args", QA_CFG_T_STRING_LIST, offsetof(submit_cfg, args), 0, 0, NULL, NULL, 0,
     "arguments passed to the script"},
    {"export", QA_CFG_T_STRING_LIST, offsetof(submit_cfg, exports), 0, 0, NULL, NULL, 0,
     "KEY=VALUE entries added to the job's environment"},
    {"requeue", QA_CFG_T_BOOL, offsetof(submit_cfg, requeue), 0, 0, NULL, NULL, 0,
     "allow (true) or forbid (false) requeue"},
    {"job_name", QA_CFG_T_STRING, V(0), 0, 0, NULL, NULL, 0, "job name"},
    {"partition", QA_CFG_T_STRING, V(1), 0, 0, NULL, NULL, 0, "partition"},
    {"account", QA_CFG_T_STRING, V(2), 0, 0, NULL, NULL, 0, "account"},
    {"time", QA_CFG_T_STRING, V(3), 0, 0, NULL, NULL, 0, "time limit"},
    {"nodes", QA_CFG_T_STRING, V(4), 0, 0, NULL, NULL, 0, "nodes"},
    {"ntasks", QA_CFG_T_STRING, V(5), 0, 0, NULL, NULL, 0, "tasks"},
    {"ntasks_per_node", QA_CFG_T_STRING, V(6), 0, 0, NULL, NULL, 0, "tasks per node"},
    {"gpus_per_node", QA_CFG_T_STRING, V(7), 0, 0, NULL, NULL, 0, "GPUs per node"},
    {"cpus_per_task", QA_CFG_T_STRING, V(8), 0, 0, NULL, NULL, 0, "CPUs per task"},
    {"mem", QA_CFG_T_STRING, V(9), 0, 0, NULL, NULL, 0, "memory per node"},
    {"array", QA_CFG_T_STRING, V(10), 0, 0, NULL, NULL, 0, "job array indices"},
    {"dependency", QA_CFG_T_STRING, V(11), 0, 0, NULL, NULL, 0, "dependency, e.g. afterok:123"},
    {"output", QA_CFG_T_STRING, V(12), 0, 0, NULL, NULL, 0, "stdout path"},
    {"error", QA_CFG_T_STRING, V(13), 0, 0, NULL, NULL, 0, "stderr path"},
    {"signal", QA_CFG_T_STRING, V(14), 0, 0, NULL, NULL, 0, "[B:]SIG[@seconds] before the time limit"},
    {"open_mode", QA_CFG_T_STRING, V(15), 0, 0, NULL, NULL, 0, "append or truncate"},
    {"chdir", QA_CFG_T_STRING, V(16), 0, 0, NULL, NULL, 0, "working directory"},
    {NULL, 0, 0, 0, 0, NULL, NULL, 0, NULL},
};
#undef V

/* Command-line options are kept as (name, value) until the template has been read. */
typedef struct cli_opt {
    const char *name;
    const char *value;
} cli_opt;

/* One line on stderr: "qa submit: <what went wrong>". */
static int fail(void) {
    fprintf(stderr, "qa submit: %s\n", qa_err_msg());
    return QA_EXIT_FAILURE;
}

static void print_spec(const qa_slurm_spec *s, const char *script_name, int argc, char **argv) {
    printf("template: %s\n", script_name);
    printf("args:");
    for (int i = 0; i < argc; i++) printf(" %s", argv[i]);
    printf("\n");
#define STR(label, v) printf("%s: %s\n", label, (v) ? (v) : "(default)")
#define NUM(label, v)                                       \
    do {                                                    \
        if ((v) == QA_SLURM_UNSET) printf("%s: (default)\n", label); \
        else printf("%s: %lld\n", label, (long long)(v));   \
    } while (0)
    STR("job-name", s->job_name);
    STR("partition", s->partition);
    STR("account", s->account);
    if (s->time_minutes == QA_SLURM_TIME_INFINITE) printf("time: infinite\n");
    else NUM("time", s->time_minutes);
    NUM("nodes", s->nodes);
    NUM("ntasks", s->ntasks);
    NUM("ntasks-per-node", s->ntasks_per_node);
    NUM("gpus-per-node", s->gpus_per_node);
    NUM("cpus-per-task", s->cpus_per_task);
    NUM("mem", s->mem_mb);
    STR("array", s->array);
    STR("dependency", s->dependency);
    STR("output", s->output);
    STR("error", s->error);
    STR("chdir", s->work_dir);
    if (s->signal_num)
        printf("signal: %s%s%s@%d\n", s->signal_reservation ? "R" : "", s->signal_batch_only ? "B:" : (s->signal_reservation ? ":" : ""),
               sigabbrev_np(s->signal_num) ? sigabbrev_np(s->signal_num) : "?", s->signal_seconds);
    else printf("signal: (default)\n");
    printf("requeue: %s\n", s->requeue == QA_SLURM_UNSET ? "(default)" : s->requeue ? "yes" : "no");
    printf("open-mode: %s\n", s->open_mode == QA_SLURM_OPEN_APPEND     ? "append"
                              : s->open_mode == QA_SLURM_OPEN_TRUNCATE ? "truncate"
                                                                       : "(default)");
    for (size_t i = 0; i < s->n_env; i++) printf("export: %s\n", s->env[i]);
#undef STR
#undef NUM
}

int qa_cmd_submit(int argc, char **argv) {
    enum { O_NTPN = 256, O_GPN, O_MEM, O_SIGNAL, O_REQUEUE, O_NO_REQUEUE, O_OPEN, O_EXPORT, O_CONFIG, O_DRY };
    static const struct option opts[] = {
        {"job-name", required_argument, NULL, 'J'},   {"partition", required_argument, NULL, 'p'},
        {"account", required_argument, NULL, 'A'},    {"time", required_argument, NULL, 't'},
        {"nodes", required_argument, NULL, 'N'},      {"ntasks", required_argument, NULL, 'n'},
        {"ntasks-per-node", required_argument, NULL, O_NTPN},
        {"gpus-per-node", required_argument, NULL, O_GPN},
        {"cpus-per-task", required_argument, NULL, 'c'},
        {"mem", required_argument, NULL, O_MEM},      {"array", required_argument, NULL, 'a'},
        {"dependency", required_argument, NULL, 'd'}, {"output", required_argument, NULL, 'o'},
        {"error", required_argument, NULL, 'e'},      {"signal", required_argument, NULL, O_SIGNAL},
        {"requeue", no_argument, NULL, O_REQUEUE},    {"no-requeue", no_argument, NULL, O_NO_REQUEUE},
        {"open-mode", required_argument, NULL, O_OPEN},
        {"chdir", required_argument, NULL, 'D'},      {"export", required_argument, NULL, O_EXPORT},
        {"config", required_argument, NULL, O_CONFIG}, {"dry-run", no_argument, NULL, O_DRY},
        {"help", no_argument, NULL, 'h'},             {0, 0, 0, 0},
    };
    int rc = QA_EXIT_FAILURE, c, idx, dry_run = 0, n_cli = 0, n_exports = 0;
    const char *config_path = NULL;
    cli_opt *cli = calloc((size_t)argc + 1, sizeof *cli);
    const char **exports = calloc((size_t)argc + 1, sizeof *exports);
    qa_cfg_t *cfg = NULL;
    char *script = NULL;
    char **script_args = NULL;
    qa_slurm_spec spec;
    qa_slurm_spec_init(&spec);
    if (!cli || !exports) {
        fprintf(stderr, "qa submit: out of memory\n");
        goto done;
    }

    /* '+': stop at the template; everything after it belongs to the script. ':' first
     * and opterr 0: report bad options ourselves. */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:J:p:A:t:N:n:c:a:d:o:e:D:h", opts, &idx)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            rc = QA_EXIT_OK;
            goto done;
        case O_EXPORT: exports[n_exports++] = optarg; break;
        case O_CONFIG: config_path = optarg; break;
        case O_DRY: dry_run = 1; break;
        case '?':
            rc = qa_cli_usage_error("submit", "unknown option '%s'", argv[optind - 1]);
            goto done;
        case ':':
            rc = qa_cli_usage_error("submit", "option '%s' needs a value", argv[optind - 1]);
            goto done;
        default: {
            /* Every other option is a spec option under its long name. */
            const char *name = NULL;
            for (const struct option *o = opts; o->name; o++)
                if (o->val == c) name = o->name;
            if (!name) {
                rc = qa_cli_usage_error("submit", "unhandled option");
                goto done;
            }
            cli[n_cli].name = name;
            cli[n_cli].value = optarg;
            n_cli++;
        }
        }
    }

    submit_cfg sc;
    memset(&sc, 0, sizeof sc);
    sc.requeue = -1;
    if (config_path) {
        if (qa_cfg_load(config_path, &cfg) != QA_OK ||
            qa_cfg_bind(cfg, qa_cfg_root(cfg), submit_schema, &sc, NULL) != QA_OK) {
            rc = fail();
            goto done;
        }
    }
    const char *template_path = optind < argc ? argv[optind] : sc.template_path;
    if (!template_path) {
        rc = qa_cli_usage_error("submit", "missing TEMPLATE (a batch script, e.g. jobs/slurm/train.sbatch)");
        goto done;
    }
    int n_args;
    if (optind < argc) {
        n_args = argc - optind - 1;
        script_args = argv + optind + 1;
    } else {
        n_args = (int)sc.args.n;
        script_args = (char **)sc.args.items;
    }

    char resolved[QA_PATH_MAX];
    if (qa_slurm_find_template(template_path, resolved, sizeof resolved) != QA_OK) {
        rc = fail();
        goto done;
    }
    template_path = resolved;
    size_t len;
    if (qa_fs_read_all(template_path, &script, &len) != QA_OK) {
        rc = fail();
        goto done;
    }
    if (qa_slurm_spec_parse_script(&spec, template_path, script) != QA_OK) {
        rc = fail();
        goto done;
    }
    if (config_path) {
        /* The option entries of the schema are the ones bound into values[]. */
        for (const qa_cfg_field *f = submit_schema; f->key; f++) {
            if (f->offset < offsetof(submit_cfg, values) || f->offset >= offsetof(submit_cfg, values) + sizeof sc.values)
                continue;
            const char *value = *(const char *const *)((const char *)&sc + f->offset);
            if (!value) continue;
            if (qa_slurm_spec_set(&spec, f->key, value) != QA_OK) {
                /* Same form as the schema's own errors: "file:line: key 'k': ...". */
                char why[512];
                snprintf(why, sizeof why, "%s", qa_err_msg());
                qa_cfg_error(cfg, qa_cfg_map_get(qa_cfg_root(cfg), f->key), f->key, "%s", why);
                rc = fail();
                goto done;
            }
        }
        if (sc.requeue >= 0 && qa_slurm_spec_set(&spec, sc.requeue ? "requeue" : "no-requeue", NULL) != QA_OK) {
            rc = fail();
            goto done;
        }
        for (size_t i = 0; i < sc.exports.n; i++) {
            if (qa_slurm_spec_add_env(&spec, ((const char **)sc.exports.items)[i]) != QA_OK) {
                qa_err_prefix("%s: ", config_path);
                rc = fail();
                goto done;
            }
        }
    }
    for (int i = 0; i < n_cli; i++) {
        if (qa_slurm_spec_set(&spec, cli[i].name, cli[i].value) != QA_OK) {
            rc = qa_cli_usage_error("submit", "%s", qa_err_msg());
            goto done;
        }
    }
    for (int i = 0; i < n_exports; i++) {
        if (qa_slurm_spec_add_env(&spec, exports[i]) != QA_OK) {
            rc = qa_cli_usage_error("submit", "%s", qa_err_msg());
            goto done;
        }
    }

    if (dry_run) {
        print_spec(&spec, template_path, n_args, script_args);
        rc = QA_EXIT_OK;
        goto done;
    }
    uint32_t job_id = 0;
    if (qa_slurm_submit(&spec, template_path, script, n_args, script_args, &job_id) != QA_OK) {
        rc = fail();
        goto done;
    }
    printf("%u\n", job_id);
    if (fflush(stdout) != 0) { /* the caller needs the id to follow the job */
        (void)QA_FAIL(QA_ERR_IO, "job %u was submitted, but writing its id to stdout failed: %s", job_id, strerror(errno));
        rc = fail();
        goto done;
    }
    rc = QA_EXIT_OK;

done:
    qa_slurm_fini();
    qa_slurm_spec_free(&spec);
    free(script);
    qa_cfg_free(cfg);
    free(exports);
    free(cli);
    return rc;
}
