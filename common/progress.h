/* Progress reporter for long work.
 *
 * On a terminal it redraws one live line (at most 10 times a second):
 *     features  42.0%  1.23M/2.93M symbol-bars  3.41M/s  ETA 0:00:12
 * Elsewhere (Slurm, pipes, log files) it writes an INFO log line every
 * QA_PROGRESS_SECONDS seconds (default 10). QA_PROGRESS=0 silences it. Under MPI only
 * the caller decides who reports (usually rank 0). qa_progress_add() is thread-safe. */
#ifndef QA_COMMON_PROGRESS_H
#define QA_COMMON_PROGRESS_H

#include <stdint.h>  /* uint64_t */
#include <stdio.h>   /* FILE */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_progress qa_progress_t;

typedef enum qa_progress_mode {
    QA_PROGRESS_AUTO = 0, /* TTY line when the stream is a terminal, else log lines */
    QA_PROGRESS_TTY = 1,
    QA_PROGRESS_LOG = 2,
    QA_PROGRESS_SILENT = 3
} qa_progress_mode;

/* Creates a reporter for `total` units (0 = unknown total: no percentage or ETA).
 * `label` and `unit` are copied. `stream` NULL means stderr. Caller frees. */
qa_status qa_progress_create(const char *label, uint64_t total, const char *unit,
                             qa_progress_mode mode, FILE *stream, qa_progress_t **out);
/* Adds `n` finished units and reports when due. */
void qa_progress_add(qa_progress_t *p, uint64_t n);
/* Prints the final line (total, elapsed, mean rate). */
void qa_progress_finish(qa_progress_t *p);
void qa_progress_free(qa_progress_t *p);
/* Sets the reporting interval (seconds) of log mode; used by tests. */
void qa_progress_set_interval(qa_progress_t *p, double seconds);

/* Formats the status text for `done` of `total` units after `elapsed` seconds into buf
 * (pure; exposed for tests). Returns buf. */
char *qa_progress_format(char *buf, unsigned long size, const char *label, const char *unit,
                         uint64_t done, uint64_t total, double elapsed);
/* "1.23M", "950", "4.50G": a count with an SI suffix (3 significant digits). */
char *qa_progress_si(char *buf, unsigned long size, double v);

#ifdef __cplusplus
}
#endif
#endif
