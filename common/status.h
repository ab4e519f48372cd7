/* Status codes and the per-thread last-error text.
 *
 * Every function that can fail returns a qa_status (0 = ok, negative = error). The
 * code says what kind of failure; the detail (which file, line, field, value) goes
 * into the calling thread's last-error text through qa_err_set(), so callers can
 * print one precise line. The code list and its messages are one X-macro table. */
#ifndef QA_COMMON_STATUS_H
#define QA_COMMON_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, message) */
#define QA_STATUS_LIST(X)                                                   \
    X(QA_OK, 0, "ok")                                                       \
    X(QA_ERR_INVALID_ARG, -1, "invalid argument")                           \
    X(QA_ERR_NOMEM, -2, "out of memory")                                    \
    X(QA_ERR_IO, -3, "I/O error")                                           \
    X(QA_ERR_FORMAT, -4, "malformed input")                                 \
    X(QA_ERR_CONFIG, -5, "invalid configuration")                           \
    X(QA_ERR_UNSUPPORTED, -6, "not supported by this build")                \
    X(QA_ERR_NO_DEVICE, -7, "no usable GPU")                                \
    X(QA_ERR_CUDA, -8, "CUDA error")                                        \
    X(QA_ERR_MPI, -9, "MPI error")                                          \
    X(QA_ERR_HDF5, -10, "HDF5 error")                                       \
    X(QA_ERR_SQLITE, -11, "SQLite error")                                   \
    X(QA_ERR_KAFKA, -12, "Kafka error")                                     \
    X(QA_ERR_SLURM, -13, "Slurm error")                                     \
    X(QA_ERR_BLAS, -14, "BLAS/LAPACK error")                                \
    X(QA_ERR_NOT_FOUND, -15, "not found")                                   \
    X(QA_ERR_STATE, -16, "invalid state")                                   \
    X(QA_ERR_NUMERIC, -17, "numerical failure")                             \
    X(QA_ERR_INTERRUPTED, -18, "interrupted")                               \
    X(QA_ERR_LIMIT, -19, "limit exceeded")                                  \
    X(QA_ERR_EXISTS, -20, "already exists")                                 \
    X(QA_ERR_INTEGRITY, -21, "integrity check failed")

#define QA_STATUS_ENUM_(name, value, msg) name = (value),
typedef enum qa_status { QA_STATUS_LIST(QA_STATUS_ENUM_) } qa_status;
#undef QA_STATUS_ENUM_

/* Number of codes in QA_STATUS_LIST (codes run 0, -1, ..., -(QA_STATUS_COUNT-1)). */
#define QA_STATUS_COUNT 22

/* Short fixed message for a code ("HDF5 error"); "unknown status" for others. */
const char *qa_status_str(qa_status st);
/* Symbolic name of a code ("QA_ERR_HDF5"). */
const char *qa_status_name(qa_status st);

/* Records `code` with a printf-style detail as this thread's last error and returns
 * `code`, so a caller can write `return QA_FAIL(QA_ERR_FORMAT, "...")`. The source
 * location is kept separately (shown in debug logs), not in the user-facing text. */
qa_status qa_err_set(qa_status code, const char *src_file, int src_line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
/* The value is `code` itself, not qa_err_set's return: a static analyser (which does not
 * see into qa_err_set) then knows that QA_FAIL never yields QA_OK. `code` is evaluated
 * twice: pass a value (every caller does), not a call. */
#define QA_FAIL(code, ...) ((void)qa_err_set((code), __FILE__, __LINE__, __VA_ARGS__), (code))

/* Prepends context ("reading market.h5: ") to the current last-error text. */
void qa_err_prefix(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* This thread's last-error detail; "" when none was recorded. Valid until the next
 * qa_err_* call on this thread. */
const char *qa_err_msg(void);
/* The code recorded with the last error (QA_OK when none). */
qa_status qa_err_code(void);
/* "file.c:123" of the place that recorded the last error. */
const char *qa_err_where(void);
void qa_err_clear(void);

/* Goto-cleanup helpers: the enclosing function declares `qa_status st` and a
 * `cleanup:` label. */
#define QA_TRY(expr)                        \
    do {                                    \
        st = (expr);                        \
        if (st != QA_OK) goto cleanup;      \
    } while (0)
#define QA_TRY_FAIL(code, ...)                  \
    do {                                        \
        st = QA_FAIL((code), __VA_ARGS__);      \
        goto cleanup;                           \
    } while (0)
/* For functions with nothing to clean up: returns the failure as it is. */
#define QA_TRY_RET(expr)                            \
    do {                                            \
        qa_status qa_try_ret_st_ = (expr);          \
        if (qa_try_ret_st_ != QA_OK) return qa_try_ret_st_; \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif
