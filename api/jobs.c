/* qa serve: job submission. Checks the request (kind, role, run name, a configuration
 * inside the allowed folders), creates the run directory (atomically: mkdir refuses a
 * taken name), records job.json there, and starts the command:
 *   local  `qa <kind> --config C --run-dir D`, detached (own session, reparented to init)
 *          with stdin from /dev/null and stdout/stderr appended to D/job.log;
 *   slurm  `qa submit [...] <kind> C D` (jobs/slurm/<kind>.sbatch; a sweep also submits
 *          its merge with --dependency afterok), waited for, its job id read from stdout. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* POSIX_SPAWN_SETSID, pipe2 */
#endif
#include <errno.h>     /* EEXIST */
#include <fcntl.h>     /* open */
#include <limits.h>    /* PATH_MAX */
#include <spawn.h>     /* posix_spawn */
#include <stdio.h>     /* snprintf */
#include <stdlib.h>    /* realpath, strtol */
#include <string.h>    /* strcmp, strstr */
#include <sys/stat.h>  /* mkdir */
#include <sys/time.h>  /* gettimeofday: submitted_unix */
#include <sys/wait.h>  /* waitpid */
#include <unistd.h>    /* pipe, read, close */

#include "api/jobs.h"
#include "api/runs.h"     /* qa_apiruns_locate: a name taken in any runs root */
#include "common/fs.h"    /* qa_path_join, qa_fs_mkdirs */
#include "common/json.h"  /* qa_json_write_file */

extern char **environ;

static const char *const KINDS[] = {"sweep", "stress", "train"};

/* 1 when `path` (canonical) is `dir` (canonicalized here) or below it. */
static int inside(const char *path, const char *dir) {
    char d[PATH_MAX];
    if (!dir[0] || !realpath(dir, d)) return 0;
    size_t n = strlen(d);
    if (n > 1 && d[n - 1] == '/') d[--n] = '\0';
    return strncmp(path, d, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/* The configuration path of the body, canonical, inside jobs_dir or a runs root. A
 * relative path is taken relative to jobs_dir. Components ".." are refused before any
 * look-up, and the canonical path (symbolic links resolved) is checked again. */
static qa_status config_path(const qa_api_ctx *ctx, const char *jobs_dir, const char *cfg, char *out) {
    for (const char *p = cfg; (p = strstr(p, "..")) != NULL; p += 2)
        if ((p == cfg || p[-1] == '/') && (p[2] == '/' || p[2] == '\0'))
            return QA_FAIL(QA_ERR_INVALID_ARG, "body: config '%.200s' contains '..'", cfg);
    size_t n = strlen(cfg);
    if (n < 5 || (strcmp(cfg + n - 5, ".yaml") != 0 && (n < 4 || strcmp(cfg + n - 4, ".yml") != 0)))
        return QA_FAIL(QA_ERR_INVALID_ARG, "body: config '%.200s' is not a .yaml/.yml file", cfg);
    char joined[QA_PATH_MAX];
    if (cfg[0] == '/') snprintf(joined, sizeof joined, "%s", cfg);
    else QA_TRY_RET(qa_path_join(joined, jobs_dir, "%s", cfg));
    char real[PATH_MAX];
    if (!realpath(joined, real)) return QA_FAIL(QA_ERR_NOT_FOUND, "body: config '%.200s': %s", cfg, strerror(errno));
    int ok = inside(real, jobs_dir);
    for (size_t r = 0; r < ctx->nruns && r < QA_API_MAX_ROOTS && !ok; r++) ok = inside(real, ctx->runs[r]);
    if (!ok)
        return QA_FAIL(QA_ERR_INVALID_ARG, "body: config '%.200s' is outside the jobs folder and the runs folders", cfg);
    struct stat sb;
    if (stat(real, &sb) != 0 || !S_ISREG(sb.st_mode))
        return QA_FAIL(QA_ERR_INVALID_ARG, "body: config '%.200s' is not a regular file", cfg);
    snprintf(out, QA_PATH_MAX, "%s", real);
    return QA_OK;
}

/* Spawns argv with stdout (and stderr when `err` is NULL) into fds; returns the pid. */
static qa_status spawn(char *const argv[], int in, int out, int err, int setsid_, pid_t *pid) {
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int rc = posix_spawn_file_actions_init(&fa);
    if (rc) return QA_FAIL(QA_ERR_IO, "jobs: posix_spawn_file_actions_init: %s", strerror(rc));
    if ((rc = posix_spawnattr_init(&at))) {
        posix_spawn_file_actions_destroy(&fa);
        return QA_FAIL(QA_ERR_IO, "jobs: posix_spawnattr_init: %s", strerror(rc));
    }
    if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, in, 0);
    if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, out, 1);
    if (!rc) rc = posix_spawn_file_actions_adddup2(&fa, err, 2);
    if (!rc && setsid_) rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID);
    if (!rc) rc = posix_spawn(pid, argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (rc) return QA_FAIL(QA_ERR_IO, "jobs: cannot start %s: %s", argv[0], strerror(rc));
    return QA_OK;
}

/* Runs argv to completion with stdout and stderr captured into buf (cut to size - 1). */
static qa_status run_capture(char *const argv[], char *buf, size_t size, int *status) {
    int p[2], nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nul < 0) return QA_FAIL(QA_ERR_IO, "jobs: /dev/null: %s", strerror(errno));
    if (pipe2(p, O_CLOEXEC) != 0) {
        close(nul);
        return QA_FAIL(QA_ERR_IO, "jobs: pipe: %s", strerror(errno));
    }
    pid_t pid;
    qa_status st = spawn(argv, nul, p[1], p[1], 0, &pid);
    close(nul);
    close(p[1]);
    size_t len = 0;
    if (st == QA_OK) {
        char tmp[4096];
        ssize_t k;
        while ((k = read(p[0], tmp, sizeof tmp)) > 0 || (k < 0 && errno == EINTR))
            for (ssize_t i = 0; i < k; i++)
                if (len + 1 < size) buf[len++] = tmp[i];
        while (waitpid(pid, status, 0) < 0)
            if (errno != EINTR) {
                st = QA_FAIL(QA_ERR_IO, "jobs: waiting for %s: %s", argv[0], strerror(errno));
                break;
            }
    }
    buf[len] = '\0';
    close(p[0]);
    return st;
}

/* Starts argv detached: a shell in a new session starts it in the background with its
 * output appended to `log`, prints its pid and exits, so the job is reparented to init and
 * the server never has to reap it. Arguments travel as positional parameters, never
 * through the shell's parser. */
static qa_status start_detached(const char *log, char *const job_argv[], size_t nargs, long *job_pid) {
    char *argv[16];
    size_t k = 0;
    argv[k++] = "/bin/sh";
    argv[k++] = "-c";
    argv[k++] = "log=$1; shift; \"$@\" </dev/null >>\"$log\" 2>&1 & echo $!";
    argv[k++] = "qa-job";
    argv[k++] = (char *)log;
    for (size_t i = 0; i < nargs && k < 15; i++) argv[k++] = job_argv[i];
    argv[k] = NULL;
    char out[256];
    int status = 0;
    QA_TRY_RET(run_capture(argv, out, sizeof out, &status));
    char *end = NULL;
    long pid = strtol(out, &end, 10);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || pid <= 0 || (*end && *end != '\n'))
        return QA_FAIL(QA_ERR_IO, "jobs: starting %s failed: %.200s", job_argv[0], out);
    *job_pid = pid;
    return QA_OK;
}

/* `qa submit ARGS...`; the job id is the last line of its stdout. */
static qa_status slurm_submit(char *const argv[], long *job) {
    char out[4096];
    int status = 0;
    QA_TRY_RET(run_capture(argv, out, sizeof out, &status));
    size_t n = strlen(out);
    while (n && (out[n - 1] == '\n' || out[n - 1] == ' ')) out[--n] = '\0';
    const char *last = strrchr(out, '\n');
    last = last ? last + 1 : out;
    char *end = NULL;
    long id = strtol(last, &end, 10);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || id <= 0 || *end)
        return QA_FAIL(QA_ERR_SLURM, "jobs: qa submit failed (exit %d): %.300s",
                       WIFEXITED(status) ? WEXITSTATUS(status) : -1, out);
    *job = id;
    return QA_OK;
}

static void deny(qa_api_resp *resp, const char *msg) {
    resp->code = 403;
    resp->json = json_object();
    json_object_set_new(resp->json, "error", json_string(msg));
}

qa_status qa_apijobs_submit(const qa_api_req *req, qa_api_resp *resp) {
    const qa_api_ctx *ctx = req->ctx;
    const char *kind = NULL, *cfg = NULL, *name = NULL;
    QA_TRY_RET(qa_api_body_string(req, "kind", 1, &kind));
    QA_TRY_RET(qa_api_body_string(req, "config", 1, &cfg));
    QA_TRY_RET(qa_api_body_string(req, "name", 1, &name));
    json_t *sj = req->body ? json_object_get(req->body, "slurm") : NULL;
    if (sj && !json_is_boolean(sj) && !json_is_null(sj))
        return QA_FAIL(QA_ERR_INVALID_ARG, "body: member \"slurm\" must be true or false");
    int slurm = json_is_true(sj);
    /* The job's size: the templates ask for a cluster node's worth, which a small partition
     * may not have; "time" is Slurm's own syntax and is checked by qa submit. */
    long ntasks = 0, cpus = 0, gpus = -1;
    const char *time_limit = NULL;
    QA_TRY_RET(qa_api_body_long(req, "ntasks", 0, 1, 65536, &ntasks));
    QA_TRY_RET(qa_api_body_long(req, "cpus_per_task", 0, 1, 1024, &cpus));
    QA_TRY_RET(qa_api_body_long(req, "gpus_per_node", 0, 0, 64, &gpus));
    QA_TRY_RET(qa_api_body_string(req, "time", 0, &time_limit));
    if (time_limit && (strlen(time_limit) > 32 || strspn(time_limit, "0123456789:-") != strlen(time_limit)))
        return QA_FAIL(QA_ERR_INVALID_ARG, "body: member \"time\" = '%.40s': expected minutes or [D-]HH:MM:SS",
                       time_limit);
    if (!slurm && (ntasks || cpus || gpus >= 0 || time_limit))
        return QA_FAIL(QA_ERR_INVALID_ARG, "body: ntasks, cpus_per_task, gpus_per_node and time size a Slurm job "
                       "(\"slurm\": true)");
    size_t ki = 0;
    while (ki < 3 && strcmp(kind, KINDS[ki]) != 0) ki++;
    if (ki == 3) return QA_FAIL(QA_ERR_INVALID_ARG, "body: kind '%.64s': expected sweep, stress or train", kind);
    /* The route lets researchers, risk and admins in; risk alone may run stress only. */
    if (strcmp(kind, "stress") != 0 && !(req->roles & (QA_ROLE_RESEARCHER | QA_ROLE_ADMIN))) {
        deny(resp, "forbidden: the risk role may submit stress jobs only");
        return QA_OK;
    }
    QA_TRY_RET(qa_api_safe_name(name, "body: name"));
    const char *jobs_dir = ctx->jobs_dir[0] ? ctx->jobs_dir : ctx->nruns ? ctx->runs[0] : "";
    if (!jobs_dir[0]) return QA_FAIL(QA_ERR_NOT_FOUND, "jobs: no jobs folder (jobs_dir or runs) is configured");
    if (!ctx->qa_exe[0]) return QA_FAIL(QA_ERR_UNSUPPORTED, "jobs: no qa binary is configured (qa_exe)");
    char real_cfg[QA_PATH_MAX], run_dir[QA_PATH_MAX], found[QA_PATH_MAX];
    QA_TRY_RET(config_path(ctx, jobs_dir, cfg, real_cfg));
    /* A name taken in any runs folder would be shadowed in the run list: refuse it too. */
    qa_status lst = qa_apiruns_locate(ctx, name, found);
    if (lst == QA_OK) return QA_FAIL(QA_ERR_EXISTS, "body: name '%s': a run of that name exists", name);
    if (lst != QA_ERR_NOT_FOUND) return lst;
    qa_err_clear();
    QA_TRY_RET(qa_fs_mkdirs(jobs_dir));
    QA_TRY_RET(qa_path_join(run_dir, jobs_dir, "%s", name));
    if (mkdir(run_dir, 0755) != 0) {
        if (errno == EEXIST) return QA_FAIL(QA_ERR_EXISTS, "body: name '%s': a run of that name exists", name);
        return QA_FAIL(QA_ERR_IO, "jobs: cannot create %s: %s", run_dir, strerror(errno));
    }
    char log[QA_PATH_MAX];
    QA_TRY_RET(qa_path_join(log, run_dir, "job.log"));
    struct timeval tv;
    gettimeofday(&tv, NULL);
    json_t *job = json_object();
    json_object_set_new(job, "kind", json_string(kind));
    json_object_set_new(job, "config", json_string(real_cfg));
    json_object_set_new(job, "user", json_string(req->user ? req->user : ""));
    json_object_set_new(job, "submitted_unix", json_real((double)tv.tv_sec + (double)tv.tv_usec * 1e-6));
    qa_status st = QA_OK;
    long id = 0, merge = 0;
    char jobname[256];
    if (!slurm) {
        char *argv[] = {(char *)ctx->qa_exe, (char *)kind, "--config", real_cfg, "--run-dir", run_dir};
        QA_TRY(start_detached(log, argv, 6, &id));
        json_object_set_new(job, "pid", json_integer(id));
        snprintf(jobname, sizeof jobname, "local-%ld", id);
    } else {
        /* The templates run "$QA_BIN"; output files go to the run directory. */
        char export_bin[QA_PATH_MAX + 16], out[QA_PATH_MAX], jname[256];
        snprintf(export_bin, sizeof export_bin, "QA_BIN=%s", ctx->qa_exe);
        snprintf(jname, sizeof jname, "qa-%s", name);
        QA_TRY(qa_path_join(out, run_dir, ki == 0 ? "slurm-%%A_%%a.out" : "slurm-%%j.out"));
        char nt[24], cp[24], gp[24];
        char *argv[24] = {(char *)ctx->qa_exe, "submit", "--export", export_bin, "-J", jname, "-o", out};
        int na = 8;
        if (ntasks) snprintf(nt, sizeof nt, "%ld", ntasks), argv[na++] = "--ntasks", argv[na++] = nt;
        if (cpus) snprintf(cp, sizeof cp, "%ld", cpus), argv[na++] = "--cpus-per-task", argv[na++] = cp;
        if (gpus >= 0) snprintf(gp, sizeof gp, "%ld", gpus), argv[na++] = "--gpus-per-node", argv[na++] = gp;
        if (time_limit) argv[na++] = "--time", argv[na++] = (char *)time_limit;
        argv[na++] = (char *)kind, argv[na++] = real_cfg, argv[na++] = run_dir, argv[na] = NULL;
        QA_TRY(slurm_submit(argv, &id));
        json_object_set_new(job, "slurm_job", json_integer(id));
        if (ki == 0) {
            /* A sweep's array tasks each compute chunks; the merge runs when all succeeded. */
            char dep[64], mout[QA_PATH_MAX];
            snprintf(dep, sizeof dep, "afterok:%ld", id);
            QA_TRY(qa_path_join(mout, run_dir, "slurm-merge-%%j.out"));
            char *margv[] = {(char *)ctx->qa_exe, "submit", "--export", export_bin, "-J", jname, "-o", mout,
                             "--dependency", dep, "merge", real_cfg, run_dir, NULL};
            QA_TRY(slurm_submit(margv, &merge));
            json_object_set_new(job, "slurm_merge_job", json_integer(merge));
        }
        snprintf(jobname, sizeof jobname, "slurm-%ld", id);
    }
    json_object_set_new(job, "job", json_string(jobname));
    char jp[QA_PATH_MAX];
    QA_TRY(qa_path_join(jp, run_dir, "job.json"));
    QA_TRY(qa_json_write_file(job, jp));
    resp->code = 202;
    resp->json = json_object();
    json_object_set_new(resp->json, "job", json_string(jobname));
    json_object_set_new(resp->json, "run", json_string(name));
    if (!slurm) json_object_set_new(resp->json, "pid", json_integer(id));
    else {
        json_object_set_new(resp->json, "slurm_job", json_integer(id));
        if (merge) json_object_set_new(resp->json, "slurm_merge_job", json_integer(merge));
    }
    snprintf(resp->audit, sizeof resp->audit, "submit %s run=%.64s config=%.100s %.60s", kind, name, cfg, jobname);
cleanup:
    if (st != QA_OK && id == 0) {
        /* Nothing started: the name is free again. The error is kept across the cleanup. */
        char keep[512];
        snprintf(keep, sizeof keep, "%s", qa_err_msg());
        unlink(log);
        rmdir(run_dir);
        (void)QA_FAIL(st, "%s", keep);
    }
    json_decref(job);
    return st;
}
