/* Leveled logging to stderr (and optionally a run-directory log file).
 *
 * Line format: `2026-11-24T05:00:00.123Z INFO  [r1/4] message`. The rank tag appears
 * only when more than one rank runs. Thread-safe. The level comes from
 * qa_log_set_level() or the QA_LOG_LEVEL environment variable (debug|info|warn|error). */
#ifndef QA_COMMON_LOG_H
#define QA_COMMON_LOG_H

#include <stdio.h>  /* FILE */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qa_log_level {
    QA_LOG_DEBUG = 0,
    QA_LOG_INFO = 1,
    QA_LOG_WARN = 2,
    QA_LOG_ERROR = 3,
    QA_LOG_OFF = 4,
    QA_LOG_LEVEL_COUNT = 5
} qa_log_level;

void qa_log_set_level(qa_log_level level);
qa_log_level qa_log_get_level(void);
/* Parses "debug", "info", "warn", "error", "off". */
qa_status qa_log_parse_level(const char *name, qa_log_level *out);
/* Reads QA_LOG_LEVEL if set; invalid values are ignored with a warning. */
void qa_log_init_from_env(void);
/* Adds "[rR/N]" to every line when size > 1. */
void qa_log_set_rank(int rank, int size);
/* Redirects the terminal stream (default stderr); used by tests. */
void qa_log_set_stream(FILE *stream);
/* Also appends every line to `path` (the run directory's log). Files nest (up to 4): lines
 * go to the last one opened; qa_log_close_file closes it and the previous one resumes. */
qa_status qa_log_open_file(const char *path);
void qa_log_close_file(void);

void qa_log_msg(qa_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Logs the thread's last error at ERROR level, prefixed with `what`. */
void qa_log_last_error(const char *what);

#define qa_log_debug(...) qa_log_msg(QA_LOG_DEBUG, __VA_ARGS__)
#define qa_log_info(...) qa_log_msg(QA_LOG_INFO, __VA_ARGS__)
#define qa_log_warn(...) qa_log_msg(QA_LOG_WARN, __VA_ARGS__)
#define qa_log_error(...) qa_log_msg(QA_LOG_ERROR, __VA_ARGS__)

/* Internal to common/: the progress reporter owns the terminal line and asks the
 * logger to clear it before printing a log line. */
void qa_log_set_tty_line_active(int active);

#ifdef __cplusplus
}
#endif
#endif
