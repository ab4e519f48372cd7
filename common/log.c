/* Logger: one mutex-protected writer for the terminal stream and an optional file. */
#include "common/log.h"

#include <assert.h>   /* static_assert */
#include <errno.h>    /* errno of a failed close */
#include <pthread.h>  /* the writer mutex */
#include <stdarg.h>   /* va_list */
#include <stdlib.h>   /* getenv */
#include <string.h>   /* strcmp, strerror */
#include <time.h>     /* clock_gettime, gmtime_r */
#include <unistd.h>   /* isatty, fileno */

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR", "OFF"};
static const char *const level_keys[] = {"debug", "info", "warn", "error", "off"};
static_assert(sizeof level_names / sizeof level_names[0] == QA_LOG_LEVEL_COUNT, "level table");
static_assert(sizeof level_keys / sizeof level_keys[0] == QA_LOG_LEVEL_COUNT, "level table");

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static qa_log_level log_level = QA_LOG_INFO;
static int log_rank = 0, log_size = 1;
static FILE *log_stream = NULL; /* NULL means stderr (resolved at write time) */
/* Run logs nest (a run that starts another run in a sub-directory, e.g. qa rl train's
 * test evaluation): lines go to the innermost open file; closing it resumes the outer. */
#define LOG_FILES_MAX 4
static FILE *log_files[LOG_FILES_MAX];
static int log_depth = 0;
static int tty_line_active = 0;

void qa_log_set_level(qa_log_level level) { log_level = level; }
qa_log_level qa_log_get_level(void) { return log_level; }

qa_status qa_log_parse_level(const char *name, qa_log_level *out) {
    for (int i = 0; i < QA_LOG_LEVEL_COUNT; i++) {
        if (strcmp(name, level_keys[i]) == 0) {
            *out = (qa_log_level)i;
            return QA_OK;
        }
    }
    return QA_FAIL(QA_ERR_INVALID_ARG,
                   "unknown log level '%s' (expected debug, info, warn, error or off)", name);
}

void qa_log_init_from_env(void) {
    const char *v = getenv("QA_LOG_LEVEL");
    if (!v || !*v) return;
    qa_log_level lv;
    if (qa_log_parse_level(v, &lv) == QA_OK)
        log_level = lv;
    else
        qa_log_warn("QA_LOG_LEVEL: %s", qa_err_msg());
}

void qa_log_set_rank(int rank, int size) {
    log_rank = rank;
    log_size = size;
}

void qa_log_set_stream(FILE *stream) { log_stream = stream; }

qa_status qa_log_open_file(const char *path) {
    if (log_depth == LOG_FILES_MAX) return QA_FAIL(QA_ERR_LIMIT, "'%s': %d run logs are open already", path, LOG_FILES_MAX);
    FILE *f = fopen(path, "a");
    if (!f) return QA_FAIL(QA_ERR_IO, "cannot open log file '%s'", path);
    pthread_mutex_lock(&log_mu);
    log_files[log_depth++] = f;
    pthread_mutex_unlock(&log_mu);
    return QA_OK;
}

void qa_log_close_file(void) {
    pthread_mutex_lock(&log_mu);
    int failed = log_depth > 0 && fclose(log_files[--log_depth]) != 0, err = errno;
    pthread_mutex_unlock(&log_mu);
    /* A write error is sticky and shows here: the run log may have lost lines. */
    if (failed) qa_log_warn("closing the run log: %s", strerror(err));
}

void qa_log_set_tty_line_active(int active) { tty_line_active = active; }

static void write_line(FILE *f, const char *stamp, qa_log_level level, const char *rank_tag,
                       const char *msg) {
    fprintf(f, "%s %-5s %s%s\n", stamp, level_names[level], rank_tag, msg);
    (void)fflush(f); /* nowhere to report it; a run log's error stays sticky until its close */
}

void qa_log_msg(qa_log_level level, const char *fmt, ...) {
    if (level < log_level || level >= QA_LOG_OFF) return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[64];
    snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L);
    char rank_tag[32] = "";
    if (log_size > 1) snprintf(rank_tag, sizeof rank_tag, "[r%d/%d] ", log_rank, log_size);

    pthread_mutex_lock(&log_mu);
    FILE *out = log_stream ? log_stream : stderr;
    /* A live progress line sits on the terminal without a newline: clear it first. */
    if (tty_line_active && isatty(fileno(out))) fputs("\r\033[K", out);
    write_line(out, stamp, level, rank_tag, msg);
    if (log_depth > 0) write_line(log_files[log_depth - 1], stamp, level, rank_tag, msg);
    pthread_mutex_unlock(&log_mu);
}

void qa_log_last_error(const char *what) {
    if (qa_err_code() == QA_OK && qa_err_msg()[0] == '\0') {
        qa_log_error("%s", what);
        return;
    }
    qa_log_error("%s: %s", what, qa_err_msg());
    qa_log_debug("(error %s recorded at %s)", qa_status_name(qa_err_code()), qa_err_where());
}
