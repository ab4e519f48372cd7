/* What a batch job asks Slurm for, independent of libslurm: the options `qa submit`
 * understands, read from a template's `#SBATCH` lines, a submit.yaml and the command line.
 *
 * slurm_submit_batch_job() does not parse `#SBATCH` lines (sbatch does that before it
 * calls the library), so `qa submit` parses the ones listed below itself, with sbatch's
 * rules: directives are read from the top of the script up to the first line that is
 * neither blank nor a comment; later settings override earlier ones; the command line
 * overrides the script. An unsupported option is an error naming file:line, never
 * silently dropped (a job that runs with other resources than written is worse than one
 * that does not start).
 *
 * Supported (long form, short form where sbatch has one):
 *   --job-name/-J NAME      --partition/-p NAME     --account/-A NAME
 *   --time/-t TIME          --nodes/-N N            --ntasks/-n N
 *   --ntasks-per-node N     --gpus-per-node N       --cpus-per-task/-c N
 *   --mem SIZE[K|M|G|T]     --array/-a SPEC         --output/-o PATH
 *   --error/-e PATH         --signal [B:|R:]SIG[@SECONDS]
 *   --requeue, --no-requeue --dependency/-d SPEC    --open-mode append|truncate
 *   --chdir/-D DIR
 * TIME is minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS or "infinite"/"unlimited".
 *
 * Ownership: the spec owns every string in it; qa_slurm_spec_free() releases them. */
#ifndef QA_JOBS_SLURM_SPEC_H
#define QA_JOBS_SLURM_SPEC_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint32_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    QA_SLURM_UNSET = -1,                 /* numeric option not given */
    QA_SLURM_TIME_INFINITE = 0x7fffffff  /* time limit "infinite" */
};

typedef enum qa_slurm_open_mode {
    QA_SLURM_OPEN_DEFAULT = 0, /* cluster default (truncate unless JobFileAppend) */
    QA_SLURM_OPEN_APPEND,
    QA_SLURM_OPEN_TRUNCATE,
    QA_SLURM_OPEN_MODE_COUNT
} qa_slurm_open_mode;

typedef struct qa_slurm_spec {
    /* Strings: NULL when not given. */
    char *job_name;   /* default: the template's base name */
    char *partition;
    char *account;
    char *array;      /* "0-3", "0-99%10" */
    char *dependency; /* "afterok:123[:456]" */
    char *output;     /* stdout path, Slurm patterns (%j %A %a) allowed */
    char *error;      /* stderr path */
    char *work_dir;   /* --chdir; default: the submitter's working directory */
    /* Numbers: QA_SLURM_UNSET when not given. */
    long time_minutes; /* or QA_SLURM_TIME_INFINITE */
    long nodes;
    long ntasks;
    long ntasks_per_node;
    long gpus_per_node; /* 0 means "no GPUs" (overrides a template's request) */
    long cpus_per_task;
    long long mem_mb;   /* memory per node in MiB */
    int requeue;        /* QA_SLURM_UNSET, 0 (--no-requeue) or 1 (--requeue) */
    qa_slurm_open_mode open_mode;
    /* --signal: signal number (0 = not given), seconds before the time limit, and
     * whether only the batch shell (B:) or the reservation (R:) gets it. */
    int signal_num;
    int signal_seconds;
    int signal_batch_only;
    int signal_reservation;
    /* Extra environment for the job, "KEY=VALUE", applied over the submitter's
     * environment (a later entry for the same KEY wins). */
    char **env;
    size_t n_env;
} qa_slurm_spec;

void qa_slurm_spec_init(qa_slurm_spec *spec);
/* Releases every string; the spec is re-initialised. Accepts NULL. */
void qa_slurm_spec_free(qa_slurm_spec *spec);

/* Sets one option by its long name without dashes ("partition", "gpus-per-node";
 * '_' is accepted for '-'). `value` is NULL for the flags requeue/no-requeue. Bad names
 * and values fail with QA_ERR_INVALID_ARG and a message naming the option. */
qa_status qa_slurm_spec_set(qa_slurm_spec *spec, const char *name, const char *value);

/* Adds "KEY=VALUE" to the job's environment (KEY must be a valid variable name). */
qa_status qa_slurm_spec_add_env(qa_slurm_spec *spec, const char *assignment);

/* Reads the `#SBATCH` directives of a script. `name` stands for the file in messages
 * ("train.sbatch:7: unsupported #SBATCH option '--exclusive'"). */
qa_status qa_slurm_spec_parse_script(qa_slurm_spec *spec, const char *name, const char *script);

/* Parsers behind qa_slurm_spec_set, exported for tests. */
qa_status qa_slurm_parse_time(const char *text, long *minutes);
qa_status qa_slurm_parse_mem(const char *text, long long *mib);
/* "[B:|R:]SIG[@SECONDS]", SIG a name (USR1, SIGUSR1) or number; SECONDS defaults to 60. */
qa_status qa_slurm_parse_signal(const char *text, int *signum, int *seconds, int *batch_only,
                                int *reservation);
/* A signal by name ("USR1", "SIGUSR1", "KILL") or number; 0 < result < 65. */
qa_status qa_slurm_parse_signal_name(const char *text, int *signum);

/* Job ids as users write them: "123" (a job, or every task of an array) or "123_4" (one
 * array task). `task` is QA_SLURM_NO_TASK when absent. */
#define QA_SLURM_NO_TASK UINT32_MAX
qa_status qa_slurm_parse_job_id(const char *text, uint32_t *job, uint32_t *task);

#ifdef __cplusplus
}
#endif
#endif
