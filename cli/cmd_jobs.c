/* qa jobs status|wait|cancel: the state of a Slurm job or of every task of a job array,
 * waiting for it to finish, cancelling it; all through libslurm. */
#include <getopt.h>  /* getopt_long */
#include <jansson.h> /* --json output */
#include <stdio.h>   /* printf */
#include <stdlib.h>  /* strtod */
#include <string.h>  /* strcmp */

#include "cli/cli.h"          /* exit codes, dispatch */
#include "jobs/slurm.h"       /* qa_slurm_job_load, qa_slurm_job_wait, qa_slurm_cancel */
#include "jobs/slurm_spec.h"  /* qa_slurm_parse_signal_name */

static int fail(const char *cmd) {
    fprintf(stderr, "qa jobs %s: %s\n", cmd, qa_err_msg());
    return QA_EXIT_FAILURE;
}

static void state_text(const qa_slurm_record *r, char *buf, size_t size) {
    snprintf(buf, size, "%s%s%s%s", qa_slurm_state_name(r->state),
             (r->flags & QA_SLURM_F_COMPLETING) ? "+COMPLETING" : "",
             (r->flags & QA_SLURM_F_REQUEUED) ? "+REQUEUED" : "", (r->flags & QA_SLURM_F_OTHER) ? "+BUSY" : "");
}

/* One line per record:  JOBID  STATE  EXIT  RESTARTS  REASON  NAME */
static void print_table(const qa_slurm_job *job) {
    printf("%-16s %-24s %5s %8s  %-20s %s\n", "JOBID", "STATE", "EXIT", "RESTARTS", "REASON", "NAME");
    for (size_t i = 0; i < job->n; i++) {
        const qa_slurm_record *r = &job->rec[i];
        char id[96], state[64], exit_text[16];
        qa_slurm_record_id(r, id, sizeof id);
        state_text(r, state, sizeof state);
        if (r->exit_code < 0) snprintf(exit_text, sizeof exit_text, "-");
        else if (r->exit_signal) snprintf(exit_text, sizeof exit_text, "sig%d", r->exit_signal);
        else snprintf(exit_text, sizeof exit_text, "%d", r->exit_code);
        printf("%-16s %-24s %5s %8u  %-20s %s\n", id, state, exit_text, r->restarts, r->reason, r->name);
    }
}

static void print_json(const qa_slurm_job *job) {
    json_t *root = json_object();
    json_t *tasks = json_array();
    for (size_t i = 0; i < job->n; i++) {
        const qa_slurm_record *r = &job->rec[i];
        char id[96];
        qa_slurm_record_id(r, id, sizeof id);
        json_t *t = json_object();
        json_object_set_new(t, "id", json_string(id));
        json_object_set_new(t, "job_id", json_integer(r->job_id));
        if (r->array_job_id) json_object_set_new(t, "array_job_id", json_integer(r->array_job_id));
        if (r->array_task_id != QA_SLURM_NO_TASK) json_object_set_new(t, "array_task_id", json_integer(r->array_task_id));
        if (r->pending_tasks[0]) json_object_set_new(t, "pending_tasks", json_string(r->pending_tasks));
        json_object_set_new(t, "state", json_string(qa_slurm_state_name(r->state)));
        json_object_set_new(t, "completing", json_boolean(r->flags & QA_SLURM_F_COMPLETING));
        json_object_set_new(t, "requeued", json_boolean(r->flags & QA_SLURM_F_REQUEUED));
        json_object_set_new(t, "final", json_boolean(qa_slurm_record_final(r)));
        json_object_set_new(t, "exit_code", r->exit_code < 0 ? json_null() : json_integer(r->exit_code));
        json_object_set_new(t, "signal", json_integer(r->exit_signal));
        json_object_set_new(t, "restarts", json_integer(r->restarts));
        json_object_set_new(t, "reason", json_string(r->reason));
        json_object_set_new(t, "name", json_string(r->name));
        json_array_append_new(tasks, t);
    }
    json_object_set_new(root, "done", json_boolean(qa_slurm_job_done(job)));
    json_object_set_new(root, "succeeded", json_boolean(qa_slurm_job_succeeded(job)));
    json_object_set_new(root, "records", tasks);
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) puts(s);
    free(s);
    json_decref(root);
}

/* Shared option parsing: [--json] [--timeout S] [--poll S] [--signal SIG [--batch]] ID.
 * Which options a subcommand accepts is given by `allowed` ("jtpsb"). Returns 1 to go on, or 0
 * with *exit_code set (help printed, usage error). */
typedef struct jobs_args {
    const char *id;
    int json;
    double timeout_s;
    double poll_s;
    int signum; /* 0: cancel */
    int batch_only;
} jobs_args;

static int stop(int *exit_code, int code) {
    *exit_code = code;
    return 0;
}

static int parse_args(const char *cmd, const char *allowed, void (*help)(FILE *), int argc, char **argv,
                      jobs_args *a, int *exit_code) {
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},         {"timeout", required_argument, NULL, 't'},
        {"poll", required_argument, NULL, 'p'},   {"signal", required_argument, NULL, 's'},
        {"batch", no_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},         {0, 0, 0, 0},
    };
    a->id = NULL;
    a->json = 0;
    a->timeout_s = 0.0;
    a->poll_s = 0.2;
    a->signum = 0;
    a->batch_only = 0;
    int c;
    opterr = 0; /* bad options are reported below, naming the option */
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'h') {
            help(stdout);
            return stop(exit_code, QA_EXIT_OK);
        }
        if (c == ':') return stop(exit_code, qa_cli_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]));
        if (c == '?') return stop(exit_code, qa_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]));
        if (!strchr(allowed, c)) {
            const char *name = "?";
            for (const struct option *o = opts; o->name; o++)
                if (o->val == c) name = o->name;
            return stop(exit_code, qa_cli_usage_error(cmd, "option '--%s' does not apply here", name));
        }
        char *end = NULL;
        switch (c) {
        case 'j': a->json = 1; break;
        case 'b': a->batch_only = 1; break;
        case 't':
            a->timeout_s = strtod(optarg, &end);
            if (!end || *end || a->timeout_s < 0) return stop(exit_code, qa_cli_usage_error(cmd, "bad --timeout '%s' (seconds)", optarg));
            break;
        case 'p':
            a->poll_s = strtod(optarg, &end);
            if (!end || *end || a->poll_s < 0.01 || a->poll_s > 3600)
                return stop(exit_code, qa_cli_usage_error(cmd, "bad --poll '%s' (seconds, 0.01 to 3600)", optarg));
            break;
        case 's':
            if (qa_slurm_parse_signal_name(optarg, &a->signum) != QA_OK) return stop(exit_code, qa_cli_usage_error(cmd, "%s", qa_err_msg()));
            break;
        default: break;
        }
    }
    if (optind >= argc) return stop(exit_code, qa_cli_usage_error(cmd, "missing job id (123 or 123_4)"));
    if (optind + 1 < argc) return stop(exit_code, qa_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]));
    if (a->batch_only && !a->signum) return stop(exit_code, qa_cli_usage_error(cmd, "--batch needs --signal"));
    a->id = argv[optind];
    uint32_t job, task;
    if (qa_slurm_parse_job_id(a->id, &job, &task) != QA_OK) return stop(exit_code, qa_cli_usage_error(cmd, "%s", qa_err_msg()));
    return 1;
}

static void status_help(FILE *out) {
    fprintf(out,
            "usage: qa jobs status [--json] ID\n\n"
            "State of job ID, or of every task of job array ID (ID_TASK for one task): one\n"
            "line per record with state, exit code, restarts (requeues), reason and name.\n"
            "Tasks of an array that have not started yet show as one ID_[range] PENDING line.\n\n"
            "  --json   the same as a JSON object {done, succeeded, records: [...]}\n\n"
            "exit: 0 state printed (whatever the state), 1 unknown job or no controller\n");
}

static void wait_help(FILE *out) {
    fprintf(out,
            "usage: qa jobs wait [--timeout S] [--poll S] [--json] ID\n\n"
            "Polls job ID (every task of an array) every --poll seconds (default 0.2) until\n"
            "every record is in a final state (COMPLETED, FAILED, CANCELLED, TIMEOUT, ...,\n"
            "and not completing or being requeued), then prints the states.\n\n"
            "  --timeout S   give up after S seconds (default: wait without limit)\n"
            "  --json        print the final states as JSON\n\n"
            "exit: 0 every record COMPLETED with exit code 0; 1 otherwise (a failure, a\n"
            "cancellation, a timeout, an unknown job or no controller)\n");
}

static void cancel_help(FILE *out) {
    fprintf(out,
            "usage: qa jobs cancel [--signal SIG [--batch]] ID\n\n"
            "Cancels job ID, every task of job array ID, or one task ID_TASK: the job ends\n"
            "CANCELLED.\n\n"
            "  --signal SIG   send SIG (USR1, TERM, 10, ...) to every process of the running\n"
            "                 job instead of cancelling it; the job decides what to do\n"
            "  --batch        only the batch shell gets SIG (like #SBATCH --signal=B:SIG):\n"
            "                 train.sbatch's trap then checkpoints and requeues the job\n\n"
            "exit: 0 done, 1 unknown, pending (for --signal) or finished job, or no controller\n");
}

static int cmd_status(int argc, char **argv) {
    jobs_args a;
    int rc;
    if (!parse_args("jobs status", "j", status_help, argc, argv, &a, &rc)) return rc;
    qa_slurm_job job = {NULL, 0};
    if (qa_slurm_job_load(a.id, &job) != QA_OK) rc = fail("status");
    else {
        if (a.json) print_json(&job);
        else print_table(&job);
        rc = QA_EXIT_OK;
    }
    qa_slurm_job_free(&job);
    qa_slurm_fini();
    return rc;
}

static int cmd_wait(int argc, char **argv) {
    jobs_args a;
    int rc;
    if (!parse_args("jobs wait", "jtp", wait_help, argc, argv, &a, &rc)) return rc;
    qa_slurm_job job = {NULL, 0};
    qa_status st = qa_slurm_job_wait(a.id, a.timeout_s, a.poll_s, &job);
    if (st != QA_OK && st != QA_ERR_LIMIT) {
        rc = fail("wait");
    } else {
        if (st == QA_ERR_LIMIT) fprintf(stderr, "qa jobs wait: %s\n", qa_err_msg());
        if (a.json) print_json(&job);
        else print_table(&job);
        rc = st == QA_OK && qa_slurm_job_succeeded(&job) ? QA_EXIT_OK : QA_EXIT_FAILURE;
    }
    qa_slurm_job_free(&job);
    qa_slurm_fini();
    return rc;
}

static int cmd_cancel(int argc, char **argv) {
    jobs_args a;
    int rc;
    if (!parse_args("jobs cancel", "sb", cancel_help, argc, argv, &a, &rc)) return rc;
    qa_status st = a.signum ? qa_slurm_signal(a.id, a.signum, a.batch_only) : qa_slurm_cancel(a.id);
    rc = st == QA_OK ? QA_EXIT_OK : fail("cancel");
    qa_slurm_fini();
    return rc;
}

int qa_cmd_jobs(int argc, char **argv) {
    static const qa_cli_command table[] = {
        {"status", "state of a job or of every task of a job array", cmd_status},
        {"wait", "wait until a job (every array task) has finished; exit 0 if all COMPLETED", cmd_wait},
        {"cancel", "cancel a job, an array or one array task", cmd_cancel},
        {NULL, NULL, NULL},
    };
    return qa_cli_dispatch("jobs", "Slurm jobs through libslurm (controller from $SLURM_CONF or /etc/slurm/slurm.conf).",
                           table, argc, argv);
}
