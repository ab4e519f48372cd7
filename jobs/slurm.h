/* Submitting and monitoring Slurm batch jobs through libslurm (not by running sbatch):
 * submit a script with a qa_slurm_spec, load the state of a job or of every task of a
 * job array, wait for it to finish, cancel it.
 *
 * Controller: the one named by $SLURM_CONF, else /etc/slurm/slurm.conf. libslurm calls
 * exit(1) itself when it finds no configuration, so every call here first checks that
 * the file exists and fails with QA_ERR_CONFIG ("no Slurm controller configured (...)")
 * when it does not. A controller that cannot be reached fails with QA_ERR_SLURM and a
 * message naming it ("cannot reach the Slurm controller localhost:6817 (...)").
 *
 * Builds without libslurm (QA_HAVE_SLURM undefined) keep the same API; every call that
 * needs Slurm returns QA_ERR_UNSUPPORTED.
 *
 * Thread safety: none (libslurm keeps global state); call from one thread. */
#ifndef QA_JOBS_SLURM_H
#define QA_JOBS_SLURM_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint32_t */

#include "common/status.h"
#include "jobs/slurm_spec.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Base job states, in Slurm's own order (enum job_states in slurm.h). */
typedef enum qa_slurm_state {
    QA_SLURM_PENDING = 0,
    QA_SLURM_RUNNING,
    QA_SLURM_SUSPENDED,
    QA_SLURM_COMPLETED,
    QA_SLURM_CANCELLED,
    QA_SLURM_FAILED,
    QA_SLURM_TIMEOUT,
    QA_SLURM_NODE_FAIL,
    QA_SLURM_PREEMPTED,
    QA_SLURM_BOOT_FAIL,
    QA_SLURM_DEADLINE,
    QA_SLURM_OUT_OF_MEMORY,
    QA_SLURM_STATE_COUNT
} qa_slurm_state;

/* State flags that matter to a waiting client. */
enum {
    QA_SLURM_F_COMPLETING = 1u << 0, /* epilog still running: outputs may not be final */
    QA_SLURM_F_REQUEUED = 1u << 1,   /* being requeued: it will run again */
    QA_SLURM_F_OTHER = 1u << 2       /* configuring, resizing, stage-out, ... */
};

/* One record of slurm_load_job: a plain job, one started array task, or the meta-record
 * of an array's tasks that have not started yet (array_task_id QA_SLURM_NO_TASK,
 * pending_tasks "2-3"). */
typedef struct qa_slurm_record {
    uint32_t job_id;        /* this record's own job id */
    uint32_t array_job_id;  /* 0 when the job is not an array */
    uint32_t array_task_id; /* QA_SLURM_NO_TASK for plain jobs and meta-records */
    char pending_tasks[64]; /* meta-record: task ids not started yet; else "" */
    char name[128];
    char reason[64];        /* why pending / why it ended ("Dependency", "None") */
    qa_slurm_state state;
    unsigned flags;         /* QA_SLURM_F_* */
    int exit_code;          /* of the batch script (0..255), -1 while unknown */
    int exit_signal;        /* signal that ended it, 0 when none */
    unsigned restarts;      /* times requeued */
} qa_slurm_record;

/* Records of one job id; owned by the caller, released with qa_slurm_job_free(). */
typedef struct qa_slurm_job {
    qa_slurm_record *rec;
    size_t n;
} qa_slurm_job;

/* "COMPLETED", "OUT_OF_MEMORY", ... (Slurm's names). */
const char *qa_slurm_state_name(qa_slurm_state state);
/* 1 when the record will not change any more: a final base state and no completing /
 * requeue flag (a requeued job goes back to PENDING). */
int qa_slurm_record_final(const qa_slurm_record *r);
/* 1 when every record is final. */
int qa_slurm_job_done(const qa_slurm_job *job);
/* 1 when every record is final and COMPLETED (exit code 0). */
int qa_slurm_job_succeeded(const qa_slurm_job *job);
/* Formats "123", "123_4" or "123_[2-3]" for a record. */
void qa_slurm_record_id(const qa_slurm_record *r, char *buf, size_t size);
void qa_slurm_job_free(qa_slurm_job *job);

/* 1 when this build links libslurm. */
int qa_slurm_compiled(void);

/* Resolves a template argument: a path that exists is used as is; a bare name ("train",
 * "sweep.sbatch") is looked up as <dir>/<name>[.sbatch] in $QA_SLURM_TEMPLATES, then in
 * the installed <prefix>/share/quantumalpha/jobs/slurm/ (found from /proc/self/exe), then
 * in the source tree's jobs/slurm/. QA_ERR_NOT_FOUND names the places searched. */
qa_status qa_slurm_find_template(const char *name, char *buf, size_t size);

/* The slurm.conf path that will be used (SLURM_CONF or /etc/slurm/slurm.conf) if it
 * exists; otherwise QA_ERR_CONFIG with "no Slurm controller configured (...)". */
qa_status qa_slurm_conf_path(char *buf, size_t size);

/* Submits `script` (the text of a batch script; `script_name` is its path, used as
 * argv[0] and the default job name) with `spec`, passing argv[0..argc) to the script as
 * $1...$N. The job's environment is this process's environment (SLURM_* variables other
 * than SLURM_CONF dropped, so a job submitted from inside another job does not inherit
 * that job's identity) with spec->env applied over it. The working directory is
 * spec->work_dir or the current directory. On success *job_id is the new job (the array
 * job id for arrays). */
qa_status qa_slurm_submit(const qa_slurm_spec *spec, const char *script_name, const char *script,
                          int argc, char *const *argv, uint32_t *job_id);

/* Loads the records of `id` ("123": the job or every task of the array; "123_4": that
 * task). QA_ERR_NOT_FOUND when the controller does not know the job (never existed, or
 * finished more than MinJobAge seconds ago). On failure *out is untouched. */
qa_status qa_slurm_job_load(const char *id, qa_slurm_job *out);

/* Polls qa_slurm_job_load every `poll_s` seconds until qa_slurm_job_done. `timeout_s`
 * <= 0 waits without limit; when it expires the result is QA_ERR_LIMIT and *out holds
 * the last states seen. On QA_OK *out holds the final states. */
qa_status qa_slurm_job_wait(const char *id, double timeout_s, double poll_s, qa_slurm_job *out);

/* Cancels a job ("123": the job, or every task of an array, running or pending;
 * "123_4": one task): the job ends CANCELLED. */
qa_status qa_slurm_cancel(const char *id);

/* Sends `signum` to a running job without cancelling it. `batch_only`: only the batch
 * shell gets it (what `--signal=B:` does at the time limit; a template's trap forwards
 * it to the job step); else every process of the job (batch shell and steps). */
qa_status qa_slurm_signal(const char *id, int signum, int batch_only);

/* Releases libslurm's configuration (slurm_fini); safe to call when nothing was
 * initialised. */
void qa_slurm_fini(void);

#ifdef __cplusplus
}
#endif
#endif
