/* Status message table and the per-thread last-error buffer. */
#include "common/status.h"

#include <assert.h>  /* static_assert on the table size */
#include <stdarg.h>  /* va_list for the printf-style setters */
#include <stdio.h>   /* vsnprintf, snprintf */
#include <string.h>  /* memcpy, strlen */

#define QA_ERR_TEXT_MAX 2048

struct entry {
    qa_status code;
    const char *name;
    const char *msg;
};

#define QA_STATUS_ENTRY_(name, value, msg) {name, #name, msg},
static const struct entry status_table[] = {QA_STATUS_LIST(QA_STATUS_ENTRY_)};
#undef QA_STATUS_ENTRY_

static_assert(sizeof status_table / sizeof status_table[0] == QA_STATUS_COUNT,
              "QA_STATUS_COUNT must match QA_STATUS_LIST");

static _Thread_local char err_text[QA_ERR_TEXT_MAX];
static _Thread_local char err_where[256];
static _Thread_local qa_status err_code = QA_OK;

static const struct entry *lookup(qa_status st) {
    int idx = -(int)st;
    if (idx < 0 || idx >= QA_STATUS_COUNT) return NULL;
    return &status_table[idx];
}

const char *qa_status_str(qa_status st) {
    const struct entry *e = lookup(st);
    return e ? e->msg : "unknown status";
}

const char *qa_status_name(qa_status st) {
    const struct entry *e = lookup(st);
    return e ? e->name : "QA_ERR_UNKNOWN";
}

qa_status qa_err_set(qa_status code, const char *src_file, int src_line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_text, sizeof err_text, fmt, ap);
    va_end(ap);
    /* "hash buffers" alone does not say what went wrong: an allocation that failed says so */
    if (code == QA_ERR_NOMEM && !strstr(err_text, "memory")) {
        size_t n = strlen(err_text);
        snprintf(err_text + n, sizeof err_text - n, " (out of memory)");
    }
    const char *base = src_file ? strrchr(src_file, '/') : NULL;
    snprintf(err_where, sizeof err_where, "%s:%d", base ? base + 1 : (src_file ? src_file : "?"),
             src_line);
    err_code = code;
    return code;
}

void qa_err_prefix(const char *fmt, ...) {
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (n <= 0) return;
    size_t plen = strlen(prefix), tlen = strlen(err_text);
    if (plen + tlen + 1 > sizeof err_text) tlen = sizeof err_text - plen - 1;
    memmove(err_text + plen, err_text, tlen);
    memcpy(err_text, prefix, plen);
    err_text[plen + tlen] = '\0';
}

const char *qa_err_msg(void) { return err_text; }
qa_status qa_err_code(void) { return err_code; }
const char *qa_err_where(void) { return err_where; }

void qa_err_clear(void) {
    err_text[0] = '\0';
    err_where[0] = '\0';
    err_code = QA_OK;
}
