/* libslurm client: batch submission (slurm_submit_batch_job), job/array state
 * (slurm_load_job), cancellation (slurm_kill_job2), with the configuration checks that
 * keep libslurm from exiting the process. Without libslurm every Slurm call returns
 * QA_ERR_UNSUPPORTED. */
#include "jobs/slurm.h"

#include <assert.h>    /* static_assert */
#include <errno.h>     /* errno */
#include <signal.h>    /* SIGKILL */
#include <stdarg.h>    /* va_list */
#include <stdio.h>     /* snprintf, fopen */
#include <stdlib.h>    /* malloc, free */
#include <string.h>    /* strcmp, strncmp, strerror */
#include <strings.h>   /* strncasecmp */
#include <sys/resource.h> /* getpriority */
#include <sys/stat.h>  /* umask */
#include <sys/wait.h>  /* WIFEXITED, WEXITSTATUS, WTERMSIG */
#include <time.h>      /* nanosleep */
#include <unistd.h>    /* access, getcwd, getuid, getgid, gethostname */

#ifdef QA_HAVE_SLURM
#include <slurm/slurm.h>        /* job_desc_msg_t, slurm_submit_batch_job, slurm_load_job */
#include <slurm/slurm_errno.h>  /* slurm_get_errno, slurm_strerror, error codes */
#include <slurm/slurm_version.h> /* SLURM_VERSION_NUMBER */
/* Exported by libslurm but not declared in its public header (22.05). */
extern char *slurm_job_reason_string(enum job_state_reason inx);
#endif

#include "common/timer.h"  /* qa_time_ns, qa_time_since */

extern char **environ;

#define DEFAULT_SLURM_CONF "/etc/slurm/slurm.conf"

/* ---- states (no libslurm needed) ---------------------------------------------------- */

static const char *const state_names[] = {
    "PENDING", "RUNNING",   "SUSPENDED", "COMPLETED", "CANCELLED", "FAILED",
    "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE",  "OUT_OF_MEMORY",
};
static_assert(sizeof state_names / sizeof state_names[0] == QA_SLURM_STATE_COUNT,
              "state_names must cover qa_slurm_state");
#ifdef QA_HAVE_SLURM
static_assert((int)QA_SLURM_STATE_COUNT == (int)JOB_END, "qa_slurm_state must mirror Slurm's enum job_states");
static_assert((int)QA_SLURM_COMPLETED == (int)JOB_COMPLETE && (int)QA_SLURM_OUT_OF_MEMORY == (int)JOB_OOM &&
                  (int)QA_SLURM_CANCELLED == (int)JOB_CANCELLED && (int)QA_SLURM_TIMEOUT == (int)JOB_TIMEOUT,
              "qa_slurm_state order must match Slurm's");
#endif

const char *qa_slurm_state_name(qa_slurm_state state) {
    return (unsigned)state < QA_SLURM_STATE_COUNT ? state_names[state] : "UNKNOWN";
}

int qa_slurm_record_final(const qa_slurm_record *r) {
    return r->state >= QA_SLURM_COMPLETED && r->state < QA_SLURM_STATE_COUNT && r->flags == 0;
}

int qa_slurm_job_done(const qa_slurm_job *job) {
    if (!job || job->n == 0) return 0;
    for (size_t i = 0; i < job->n; i++)
        if (!qa_slurm_record_final(&job->rec[i])) return 0;
    return 1;
}

int qa_slurm_job_succeeded(const qa_slurm_job *job) {
    if (!qa_slurm_job_done(job)) return 0;
    for (size_t i = 0; i < job->n; i++)
        if (job->rec[i].state != QA_SLURM_COMPLETED || job->rec[i].exit_code != 0) return 0;
    return 1;
}

void qa_slurm_record_id(const qa_slurm_record *r, char *buf, size_t size) {
    if (r->array_job_id == 0) snprintf(buf, size, "%u", r->job_id);
    else if (r->array_task_id != QA_SLURM_NO_TASK) snprintf(buf, size, "%u_%u", r->array_job_id, r->array_task_id);
    else snprintf(buf, size, "%u_[%s]", r->array_job_id, r->pending_tasks);
}

void qa_slurm_job_free(qa_slurm_job *job) {
    if (!job) return;
    free(job->rec);
    job->rec = NULL;
    job->n = 0;
}

/* ---- templates ------------------------------------------------------------------------ */

#ifndef QA_SLURM_TEMPLATE_DIR
#define QA_SLURM_TEMPLATE_DIR "jobs/slurm"
#endif
/* The installed templates relative to the directory of the running binary: <prefix>/bin/qa
 * reads <prefix>/share/quantumalpha/jobs/slurm. cmake/Packaging.cmake installs them there
 * and passes the path it computed from the install directories. */
#ifndef QA_SLURM_TEMPLATE_REL
#define QA_SLURM_TEMPLATE_REL "../share/quantumalpha/jobs/slurm"
#endif

/* dir = the canonical <directory of /proc/self/exe>/QA_SLURM_TEMPLATE_REL when that
 * directory exists (an installed qa), else "" (a build tree's qa, or no /proc). */
static void installed_template_dir(char *dir, size_t size) {
    char exe[4096], cand[4096 + sizeof QA_SLURM_TEMPLATE_REL + 1];
    dir[0] = '\0';
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return;
    *slash = '\0';
    snprintf(cand, sizeof cand, "%s/%s", exe, QA_SLURM_TEMPLATE_REL);
    char *real = realpath(cand, NULL);
    struct stat sb;
    if (real && strlen(real) < size && stat(real, &sb) == 0 && S_ISDIR(sb.st_mode)) snprintf(dir, size, "%s", real);
    free(real);
}

qa_status qa_slurm_find_template(const char *name, char *buf, size_t size) {
    if (!name || !*name) return QA_FAIL(QA_ERR_INVALID_ARG, "empty template name");
    if (access(name, R_OK) == 0 || strchr(name, '/')) {
        if (access(name, R_OK) != 0) return QA_FAIL(QA_ERR_NOT_FOUND, "template %s: %s", name, strerror(errno));
        snprintf(buf, size, "%s", name);
        return QA_OK;
    }
    /* $QA_SLURM_TEMPLATES, then the installed templates, then the source tree's (a build
     * tree's qa; an installed qa on the machine that built it still prefers its own). */
    const char *env = getenv("QA_SLURM_TEMPLATES");
    char installed[4096];
    installed_template_dir(installed, sizeof installed);
    const char *dirs[] = {env && *env ? env : NULL, installed[0] ? installed : NULL, QA_SLURM_TEMPLATE_DIR};
    const size_t name_len = strlen(name);
    const int has_ext = name_len > 7 && strcmp(name + name_len - 7, ".sbatch") == 0;
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (!dirs[i]) continue;
        snprintf(buf, size, "%s/%s%s", dirs[i], name, has_ext ? "" : ".sbatch");
        if (access(buf, R_OK) == 0) return QA_OK;
    }
    return QA_FAIL(QA_ERR_NOT_FOUND, "template '%s' not found: not a file, and no %s%s in %s%s%s%s", name, name,
                   has_ext ? "" : ".sbatch", env && *env ? "$QA_SLURM_TEMPLATES, " : "", installed,
                   installed[0] ? " or " : "", QA_SLURM_TEMPLATE_DIR);
}

/* ---- configuration ------------------------------------------------------------------- */

qa_status qa_slurm_conf_path(char *buf, size_t size) {
    const char *env = getenv("SLURM_CONF");
    if (env && *env) {
        if (access(env, R_OK) != 0)
            return QA_FAIL(QA_ERR_CONFIG, "no Slurm controller configured (SLURM_CONF=%s: %s)", env,
                           strerror(errno));
        snprintf(buf, size, "%s", env);
        return QA_OK;
    }
    if (access(DEFAULT_SLURM_CONF, R_OK) != 0)
        return QA_FAIL(QA_ERR_CONFIG,
                       "no Slurm controller configured (SLURM_CONF unset and " DEFAULT_SLURM_CONF " missing)");
    snprintf(buf, size, "%s", DEFAULT_SLURM_CONF);
    return QA_OK;
}

int qa_slurm_compiled(void) {
#ifdef QA_HAVE_SLURM
    return 1;
#else
    return 0;
#endif
}

#ifdef QA_HAVE_SLURM

static int g_initialized;
static char g_conf[4096];

/* slurm_init() exits the process when it finds no configuration; check first. */
static qa_status ensure_init(void) {
    if (g_initialized) return QA_OK;
    qa_status st = qa_slurm_conf_path(g_conf, sizeof g_conf);
    if (st != QA_OK) return st;
    slurm_init(g_conf);
    g_initialized = 1;
    return QA_OK;
}

void qa_slurm_fini(void) {
    if (!g_initialized) return;
    slurm_fini();
    g_initialized = 0;
}

/* "host:port" of the first controller in the configuration, for error messages only
 * (libslurm does not export its parsed configuration). */
static void controller_name(char *buf, size_t size) {
    char host[256] = "", line[1024];
    long port = 6817;
    FILE *f = fopen(g_conf, "r");
    while (f && fgets(line, sizeof line, f)) {
        const char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (!host[0] && (strncasecmp(p, "SlurmctldHost=", 14) == 0 || strncasecmp(p, "ControlMachine=", 15) == 0)) {
            p = strchr(p, '=') + 1;
            size_t n = strcspn(p, "( \t\r\n#");
            if (n >= sizeof host) n = sizeof host - 1;
            memcpy(host, p, n);
            host[n] = '\0';
        } else if (strncasecmp(p, "SlurmctldPort=", 14) == 0) {
            port = strtol(p + 14, NULL, 10);
        }
    }
    if (f) (void)fclose(f); /* read-only stream: a close error loses nothing */
    snprintf(buf, size, "%s:%ld", host[0] ? host : "?", port);
}

static int is_auth_error(int err) {
    return err == SLURM_PROTOCOL_AUTHENTICATION_ERROR || (err >= ESLURM_AUTH_CRED_INVALID && err <= ESLURM_AUTH_UNPACK);
}

static int is_connection_error(int err) {
    return (err >= SLURM_COMMUNICATIONS_CONNECTION_ERROR && err <= SLURM_COMMUNICATIONS_SHUTDOWN_ERROR) ||
           err == SLURM_COMMUNICATIONS_MISSING_SOCKET_ERROR ||
           (err >= SLURMCTLD_COMMUNICATIONS_CONNECTION_ERROR && err <= SLURMCTLD_COMMUNICATIONS_SHUTDOWN_ERROR) ||
           err == SLURM_PROTOCOL_SOCKET_IMPL_TIMEOUT || err == ECONNREFUSED || err == ETIMEDOUT ||
           err == EHOSTUNREACH;
}

/* Records the failure of a libslurm call as one line: naming the controller when it
 * could not be reached or would not authenticate us, else `what` and Slurm's message. */
static qa_status slurm_fail(const char *what) {
    int err = slurm_get_errno();
    char ctl[300];
    if (is_connection_error(err)) {
        controller_name(ctl, sizeof ctl);
        return QA_FAIL(QA_ERR_SLURM, "cannot reach the Slurm controller %s (config %s): %s", ctl, g_conf,
                       slurm_strerror(err));
    }
    if (is_auth_error(err)) {
        controller_name(ctl, sizeof ctl);
        return QA_FAIL(QA_ERR_SLURM,
                       "cannot authenticate to the Slurm controller %s (config %s): %s; is munged running "
                       "with the cluster's key?", ctl, g_conf, slurm_strerror(err));
    }
    return QA_FAIL(QA_ERR_SLURM, "%s: %s", what, slurm_strerror(err));
}

/* ---- submission ---------------------------------------------------------------------- */

static int env_key_eq(const char *a, const char *b) { /* same KEY in "KEY=..." */
    while (*a && *a != '=' && *a == *b) a++, b++;
    return (*a == '=' || *a == '\0') && (*b == '=' || *b == '\0');
}

/* asprintf that leaves *dst NULL on failure (glibc leaves it undefined); 0 on success. */
static int format_owned(char **dst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int format_owned(char **dst, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(dst, fmt, ap);
    va_end(ap);
    if (n < 0) *dst = NULL;
    return n < 0 ? -1 : 0;
}

/* Variables sbatch adds to a batch job's environment (the controller does not). */
enum { OWN_UMASK = 0, OWN_JOB_NAME, OWN_PRIO, OWN_SUBMIT_DIR, OWN_SUBMIT_HOST, OWN_COUNT };

/* The job's environment: environ without SLURM_* (except SLURM_CONF), then what sbatch
 * sets (SLURM_UMASK, which the job applies; SLURM_JOB_NAME; SLURM_PRIO_PROCESS;
 * SLURM_SUBMIT_DIR; SLURM_SUBMIT_HOST), then spec->env over it. The array is malloc'd;
 * its strings are borrowed except own[] (the caller frees them). */
static qa_status build_env(const qa_slurm_spec *spec, const char *job_name, char *own[OWN_COUNT],
                           char ***out, uint32_t *count) {
    char cwd[4096], host[256];
    if (!getcwd(cwd, sizeof cwd)) return QA_FAIL(QA_ERR_IO, "getcwd: %s", strerror(errno));
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    mode_t mask = umask(0);
    umask(mask);
    errno = 0;
    int prio = getpriority(PRIO_PROCESS, 0);
    if (errno) prio = 0;
    if (format_owned(&own[OWN_UMASK], "SLURM_UMASK=0%o%o%o", (mask >> 6) & 7, (mask >> 3) & 7, mask & 7) ||
        format_owned(&own[OWN_JOB_NAME], "SLURM_JOB_NAME=%s", job_name) ||
        format_owned(&own[OWN_PRIO], "SLURM_PRIO_PROCESS=%d", prio) ||
        format_owned(&own[OWN_SUBMIT_DIR], "SLURM_SUBMIT_DIR=%s", cwd) ||
        format_owned(&own[OWN_SUBMIT_HOST], "SLURM_SUBMIT_HOST=%s", host))
        return QA_FAIL(QA_ERR_NOMEM, "out of memory");

    size_t n_environ = 0;
    while (environ && environ[n_environ]) n_environ++;
    char **env = malloc((n_environ + OWN_COUNT + spec->n_env + 1) * sizeof *env);
    if (!env) return QA_FAIL(QA_ERR_NOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < n_environ; i++) {
        if (strncmp(environ[i], "SLURM_", 6) == 0 && strncmp(environ[i], "SLURM_CONF=", 11) != 0) continue;
        env[n++] = environ[i];
    }
    for (int i = 0; i < OWN_COUNT; i++) env[n++] = own[i];
    for (size_t i = 0; i < spec->n_env; i++) {
        size_t j = 0;
        while (j < n && !env_key_eq(env[j], spec->env[i])) j++;
        if (j < n) env[j] = spec->env[i];
        else env[n++] = spec->env[i];
    }
    env[n] = NULL;
    *out = env;
    *count = (uint32_t)n;
    return QA_OK;
}

qa_status qa_slurm_submit(const qa_slurm_spec *spec, const char *script_name, const char *script,
                          int argc, char *const *argv, uint32_t *job_id) {
    qa_status st = QA_OK;
    char **env = NULL, **job_argv = NULL;
    char *name = NULL, *tres = NULL;
    char cwd[4096];
    char *own[OWN_COUNT] = {NULL};
    submit_response_msg_t *resp = NULL;
    job_desc_msg_t d;

    if (!spec || !script || !script_name || argc < 0 || (argc > 0 && !argv) || !job_id)
        return QA_FAIL(QA_ERR_INVALID_ARG, "qa_slurm_submit: missing argument");
    if (strncmp(script, "#!", 2) != 0)
        return QA_FAIL(QA_ERR_FORMAT, "%s: a batch script must start with '#!' (e.g. #!/bin/bash)", script_name);
    QA_TRY(ensure_init());

    slurm_init_job_desc_msg(&d);
    d.script = (char *)script;
    if (spec->job_name) {
        d.name = spec->job_name;
    } else {
        const char *slash = strrchr(script_name, '/');
        if (!(name = strdup(slash ? slash + 1 : script_name))) QA_TRY_FAIL(QA_ERR_NOMEM, "out of memory");
        d.name = name;
    }
    d.partition = spec->partition;
    d.account = spec->account;
    d.array_inx = spec->array;
    d.dependency = spec->dependency;
    d.std_out = spec->output;
    d.std_err = spec->error;
    if (spec->work_dir) {
        d.work_dir = spec->work_dir;
    } else {
        if (!getcwd(cwd, sizeof cwd)) QA_TRY_FAIL(QA_ERR_IO, "getcwd: %s", strerror(errno));
        d.work_dir = cwd;
    }
    if (spec->time_minutes != QA_SLURM_UNSET)
        d.time_limit = spec->time_minutes == QA_SLURM_TIME_INFINITE ? INFINITE : (uint32_t)spec->time_minutes;
    if (spec->nodes != QA_SLURM_UNSET) {
        d.min_nodes = (uint32_t)spec->nodes;
        d.max_nodes = (uint32_t)spec->nodes;
    }
    if (spec->ntasks != QA_SLURM_UNSET) d.num_tasks = (uint32_t)spec->ntasks;
    else if (spec->nodes != QA_SLURM_UNSET && spec->ntasks_per_node != QA_SLURM_UNSET)
        d.num_tasks = (uint32_t)(spec->nodes * spec->ntasks_per_node); /* as sbatch does */
    if (spec->ntasks_per_node != QA_SLURM_UNSET) d.ntasks_per_node = (uint16_t)spec->ntasks_per_node;
    if (spec->cpus_per_task != QA_SLURM_UNSET) d.cpus_per_task = (uint16_t)spec->cpus_per_task;
    /* The controller sizes the allocation from min_cpus, not from num_tasks (sbatch sets
     * both); without it a 2-task job gets 1 CPU and its srun step is refused. */
    if (d.num_tasks != NO_VAL)
        d.min_cpus = d.num_tasks * (spec->cpus_per_task != QA_SLURM_UNSET ? (uint32_t)spec->cpus_per_task : 1u);
    if (spec->gpus_per_node > 0) {
        /* What sbatch --gpus-per-node=N sends: "gres:gpu:N" up to 22.05 (checked against
         * the controller here: scontrol shows TresPerNode=gres:gpu:N); 23.02 moved to the
         * TRES form "gres/gpu:N". */
        size_t len = 32;
        if (!(tres = malloc(len))) QA_TRY_FAIL(QA_ERR_NOMEM, "out of memory");
#if SLURM_VERSION_NUMBER >= SLURM_VERSION_NUM(23, 2, 0)
        snprintf(tres, len, "gres/gpu:%ld", spec->gpus_per_node);
#else
        snprintf(tres, len, "gres:gpu:%ld", spec->gpus_per_node);
#endif
        d.tres_per_node = tres;
    }
    if (spec->mem_mb != QA_SLURM_UNSET) d.pn_min_memory = (uint64_t)spec->mem_mb;
    if (spec->requeue != QA_SLURM_UNSET) d.requeue = (uint16_t)spec->requeue;
    if (spec->open_mode == QA_SLURM_OPEN_APPEND) d.open_mode = OPEN_MODE_APPEND;
    else if (spec->open_mode == QA_SLURM_OPEN_TRUNCATE) d.open_mode = OPEN_MODE_TRUNCATE;
    if (spec->signal_num > 0) {
        d.warn_signal = (uint16_t)spec->signal_num;
        d.warn_time = (uint16_t)spec->signal_seconds;
        d.warn_flags = 0;
        if (spec->signal_batch_only) d.warn_flags |= KILL_JOB_BATCH;
        if (spec->signal_reservation) d.warn_flags |= KILL_JOB_RESV;
    }
    QA_TRY(build_env(spec, d.name, own, &env, &d.env_size));
    d.environment = env;
    if (!(job_argv = malloc(((size_t)argc + 2) * sizeof *job_argv))) QA_TRY_FAIL(QA_ERR_NOMEM, "out of memory");
    job_argv[0] = (char *)script_name;
    for (int i = 0; i < argc; i++) job_argv[i + 1] = argv[i];
    job_argv[argc + 1] = NULL;
    d.argc = (uint32_t)argc + 1;
    d.argv = job_argv;
    d.user_id = getuid();
    d.group_id = getgid();

    if (slurm_submit_batch_job(&d, &resp) != SLURM_SUCCESS || !resp) {
        st = slurm_fail("Slurm rejected the job");
        goto cleanup;
    }
    *job_id = resp->job_id;

cleanup:
    if (resp) slurm_free_submit_response_response_msg(resp);
    free(job_argv);
    free(env);
    for (int i = 0; i < OWN_COUNT; i++) free(own[i]);
    free(tres);
    free(name);
    return st;
}

/* ---- state ---------------------------------------------------------------------------- */

static void fill_record(const slurm_job_info_t *j, qa_slurm_record *r) {
    memset(r, 0, sizeof *r);
    r->job_id = j->job_id;
    r->array_job_id = j->array_job_id;
    r->array_task_id = (j->array_job_id && j->array_task_id != NO_VAL) ? j->array_task_id : QA_SLURM_NO_TASK;
    if (j->array_job_id && j->array_task_str) snprintf(r->pending_tasks, sizeof r->pending_tasks, "%s", j->array_task_str);
    snprintf(r->name, sizeof r->name, "%s", j->name ? j->name : "");
    const char *reason = slurm_job_reason_string((enum job_state_reason)j->state_reason);
    snprintf(r->reason, sizeof r->reason, "%s", reason ? reason : "");
    uint32_t base = j->job_state & JOB_STATE_BASE;
    r->state = base < QA_SLURM_STATE_COUNT ? (qa_slurm_state)base : QA_SLURM_FAILED;
    if (j->job_state & JOB_COMPLETING) r->flags |= QA_SLURM_F_COMPLETING;
    if (j->job_state & (JOB_REQUEUE | JOB_REQUEUE_HOLD | JOB_REQUEUE_FED | JOB_SPECIAL_EXIT))
        r->flags |= QA_SLURM_F_REQUEUED;
    if (j->job_state & (JOB_CONFIGURING | JOB_RESIZING | JOB_STAGE_OUT | JOB_SIGNALING | JOB_STOPPED |
                        JOB_POWER_UP_NODE))
        r->flags |= QA_SLURM_F_OTHER;
    r->exit_code = -1;
    if (r->state >= QA_SLURM_COMPLETED && j->exit_code != NO_VAL) {
        int status = (int)j->exit_code; /* a wait(2) status */
        if (WIFSIGNALED(status)) r->exit_signal = WTERMSIG(status);
        r->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + r->exit_signal;
    }
    r->restarts = j->restart_cnt;
}

/* Array tasks in task order, the meta-record of unstarted tasks (NO_TASK) last. */
static int record_cmp(const void *pa, const void *pb) {
    const qa_slurm_record *a = pa, *b = pb;
    if (a->array_task_id != b->array_task_id) return a->array_task_id < b->array_task_id ? -1 : 1;
    return a->job_id < b->job_id ? -1 : a->job_id > b->job_id;
}

qa_status qa_slurm_job_load(const char *id, qa_slurm_job *out) {
    qa_status st = QA_OK;
    uint32_t job, task;
    job_info_msg_t *msg = NULL;
    qa_slurm_record *rec = NULL;
    size_t n = 0;

    QA_TRY(qa_slurm_parse_job_id(id, &job, &task));
    QA_TRY(ensure_init());
    if (slurm_load_job(&msg, job, SHOW_ALL) != SLURM_SUCCESS) {
        if (slurm_get_errno() == ESLURM_INVALID_JOB_ID)
            QA_TRY_FAIL(QA_ERR_NOT_FOUND,
                        "job %s unknown to the controller (never submitted, or finished more than MinJobAge "
                        "seconds ago)", id);
        st = slurm_fail("loading the job");
        goto cleanup;
    }
    if (!(rec = calloc(msg->record_count ? msg->record_count : 1, sizeof *rec)))
        QA_TRY_FAIL(QA_ERR_NOMEM, "out of memory");
    qa_slurm_record meta;
    int have_meta = 0;
    for (uint32_t i = 0; i < msg->record_count; i++) {
        qa_slurm_record r;
        fill_record(&msg->job_array[i], &r);
        if (task != QA_SLURM_NO_TASK) {
            if (r.array_job_id == 0) continue;
            if (r.array_task_id == QA_SLURM_NO_TASK) { /* meta-record of tasks not started */
                meta = r;
                have_meta = 1;
                continue;
            }
            if (r.array_task_id != task) continue;
        }
        rec[n++] = r;
    }
    if (task != QA_SLURM_NO_TASK && n == 0) {
        /* A task that has not started lives only in the array's meta-record. */
        if (!have_meta) QA_TRY_FAIL(QA_ERR_NOT_FOUND, "job %s: no such array task", id);
        rec[0] = meta;
        rec[0].array_task_id = task;
        rec[0].pending_tasks[0] = '\0';
        n = 1;
    }
    if (n == 0) QA_TRY_FAIL(QA_ERR_NOT_FOUND, "job %s: no records", id);
    qsort(rec, n, sizeof *rec, record_cmp);
    out->rec = rec;
    out->n = n;
    rec = NULL;

cleanup:
    free(rec);
    if (msg) slurm_free_job_info_msg(msg);
    return st;
}

qa_status qa_slurm_job_wait(const char *id, double timeout_s, double poll_s, qa_slurm_job *out) {
    qa_slurm_job cur = {NULL, 0};
    uint64_t t0 = qa_time_ns();
    if (poll_s <= 0.0) poll_s = 0.2;
    for (;;) {
        qa_slurm_job next = {NULL, 0};
        qa_status st = qa_slurm_job_load(id, &next);
        if (st != QA_OK) {
            qa_slurm_job_free(&cur);
            return st;
        }
        qa_slurm_job_free(&cur);
        cur = next;
        if (qa_slurm_job_done(&cur)) break;
        if (timeout_s > 0.0 && qa_time_since(t0) >= timeout_s) {
            *out = cur;
            return QA_FAIL(QA_ERR_LIMIT, "job %s not finished after %.1f s", id, timeout_s);
        }
        struct timespec ts = {(time_t)poll_s, (long)((poll_s - (double)(time_t)poll_s) * 1e9)};
        nanosleep(&ts, NULL);
    }
    *out = cur;
    return QA_OK;
}

static qa_status kill_job(const char *id, int signum, uint16_t flags) {
    uint32_t job, task;
    qa_status st = qa_slurm_parse_job_id(id, &job, &task);
    if (st != QA_OK) return st;
    if (signum <= 0 || signum > 0xffff) return QA_FAIL(QA_ERR_INVALID_ARG, "bad signal %d", signum);
    if ((st = ensure_init()) != QA_OK) return st;
    /* A bare array id names every task (running, pending and finished). */
    if (task == QA_SLURM_NO_TASK) flags |= KILL_JOB_ARRAY;
    if (slurm_kill_job2(id, (uint16_t)signum, flags, NULL) != SLURM_SUCCESS) {
        int err = slurm_get_errno();
        if (err == ESLURM_INVALID_JOB_ID) return QA_FAIL(QA_ERR_NOT_FOUND, "job %s unknown to the controller", id);
        if (err == ESLURM_ALREADY_DONE) return QA_FAIL(QA_ERR_STATE, "job %s has already finished", id);
        if (err == ESLURM_JOB_PENDING) return QA_FAIL(QA_ERR_STATE, "job %s is pending: nothing to signal", id);
        return slurm_fail("signalling the job");
    }
    return QA_OK;
}

qa_status qa_slurm_cancel(const char *id) { return kill_job(id, SIGKILL, 0); }

qa_status qa_slurm_signal(const char *id, int signum, int batch_only) {
    /* Without KILL_FULL_JOB/KILL_JOB_BATCH a signal reaches the job steps only, never the
     * batch shell, so a template's trap would not see it. */
    return kill_job(id, signum, batch_only ? KILL_JOB_BATCH : KILL_FULL_JOB);
}

#else /* !QA_HAVE_SLURM */

#define NO_SLURM(what) \
    QA_FAIL(QA_ERR_UNSUPPORTED, "%s: this build has no libslurm (install libslurm-dev and reconfigure)", what)

void qa_slurm_fini(void) {}

qa_status qa_slurm_submit(const qa_slurm_spec *spec, const char *script_name, const char *script,
                          int argc, char *const *argv, uint32_t *job_id) {
    (void)spec, (void)script_name, (void)script, (void)argc, (void)argv, (void)job_id;
    return NO_SLURM("submitting a Slurm job");
}

qa_status qa_slurm_job_load(const char *id, qa_slurm_job *out) {
    (void)id, (void)out;
    return NO_SLURM("loading a Slurm job");
}

qa_status qa_slurm_job_wait(const char *id, double timeout_s, double poll_s, qa_slurm_job *out) {
    (void)id, (void)timeout_s, (void)poll_s, (void)out;
    return NO_SLURM("waiting for a Slurm job");
}

qa_status qa_slurm_cancel(const char *id) {
    (void)id;
    return NO_SLURM("cancelling a Slurm job");
}

qa_status qa_slurm_signal(const char *id, int signum, int batch_only) {
    (void)id, (void)signum, (void)batch_only;
    return NO_SLURM("signalling a Slurm job");
}

#endif
