/* Run directories: every batch run writes its resolved config, machine-readable summary,
 * results, human report and log into one directory.
 *
 *   <run>/config.resolved.json   every key with its effective value
 *   <run>/run.json               command, version, git hash, ranks, host, start/end time
 *   <run>/summary.json           the run's headline numbers (written by the command)
 *   <run>/run.log                the rank-0 log
 *   <run>/report.html            charts and tables
 * Files are written by rank 0, atomically. */
#ifndef QA_PIPELINE_RUNDIR_H
#define QA_PIPELINE_RUNDIR_H

#include <jansson.h>  /* json_t */
#include <stddef.h>   /* size_t */

#include "common/fs.h" /* QA_PATH_MAX */
#include "common/status.h"
#include "mpi/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_rundir {
    char path[QA_PATH_MAX];
    const qa_comm_t *comm;
    int root;          /* this rank writes files */
    double start_time; /* seconds since the epoch */
    json_t *run;       /* run.json being built */
    int lock_fd;       /* rank 0: <run>/.lock, held (flock) from open to close; -1 none */
} qa_rundir;

/* Creates the directory (rank 0), takes its lock, starts the log file, records the
 * command line. Collective. The lock (flock on <run>/.lock, released at close or when the
 * process dies, kill -9 included) keeps two runs out of one directory: the second fails
 * at once with QA_ERR_STATE naming the pid that holds it, before it touches run.log. */
qa_status qa_rundir_open(qa_rundir *rd, const char *path, const qa_comm_t *comm, const char *command, int argc,
                         char **argv);
/* A run id of 16 hex digits, unique per run: host, pid, clock and the run directory
 * hashed (the lineage files' run_id). out holds 17 bytes. */
qa_status qa_rundir_new_id(const char *dir, char *out);
/* "<run>/<name>" into buf (QA_PATH_MAX bytes). */
qa_status qa_rundir_file(const qa_rundir *rd, const char *name, char *buf);
/* Writes a JSON document as <run>/<name> (rank 0 only; others return QA_OK). */
qa_status qa_rundir_write_json(qa_rundir *rd, const char *name, const json_t *doc);
/* Adds a key to run.json (steals the reference). */
void qa_rundir_note(qa_rundir *rd, const char *key, json_t *value);
/* Writes run.json with the end time and `status`, closes the log file. Accepts a
 * zeroed struct. */
qa_status qa_rundir_close(qa_rundir *rd, qa_status status);

#ifdef __cplusplus
}
#endif
#endif
