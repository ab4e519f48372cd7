/* Progress formatting, log-mode lines and the silent mode. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/progress.h"
#include "harness.h"

static void test_si(void) {
    char b[16];
    QA_CHECK_STR(qa_progress_si(b, sizeof b, 950), "950");
    QA_CHECK_STR(qa_progress_si(b, sizeof b, 1234), "1.23k");
    QA_CHECK_STR(qa_progress_si(b, sizeof b, 12345678), "12.3M");
    QA_CHECK_STR(qa_progress_si(b, sizeof b, 4.5e9), "4.50G");
    QA_CHECK_STR(qa_progress_si(b, sizeof b, 999.7), "1.00k");
}

static void test_format(void) {
    char b[256];
    /* 250 of 1000 rows in 10 s: 25 rows/s, 750 left -> 30 s. */
    qa_progress_format(b, sizeof b, "import", "rows", 250, 1000, 10.0);
    QA_CHECK_STR(b, "import  25.0%  250/1.00k rows  25/s  ETA 0:00:30");
    qa_progress_format(b, sizeof b, "scan", "files", 7, 0, 3661.0);
    QA_CHECK_STR(b, "scan  7 files  0/s  elapsed 1:01:01");
}

/* What a LOG-mode progress writes, with the log, while the `n` adds are counted one by
 * one (a report at each) and it finishes: the text (the caller frees it), its length in
 * *len. */
static char *log_mode_text(const char *label, uint64_t total, const char *unit, const uint64_t *adds, size_t n,
                           size_t *len) {
    char *buf = NULL;
    FILE *mem = open_memstream(&buf, len);
    qa_log_set_stream(mem);
    qa_progress_t *p = NULL;
    QA_CHECK_OK(qa_progress_create(label, total, unit, QA_PROGRESS_LOG, mem, &p));
    qa_progress_set_interval(p, 0.0); /* report at every add */
    for (size_t i = 0; i < n; i++) qa_progress_add(p, adds[i]);
    qa_progress_finish(p);
    qa_progress_free(p);
    qa_log_set_stream(NULL);
    fclose(mem);
    return buf;
}

static void test_log_mode_lines(void) {
    const uint64_t adds[2] = {40, 60};
    size_t len = 0;
    char *buf = log_mode_text("work", 100, "items", adds, 2, &len);
    QA_CHECK(strstr(buf, "INFO  work  40.0%  40/100 items") != NULL);
    QA_CHECK(strstr(buf, "work 100.0%  100/100 items") != NULL);
    QA_CHECK(strstr(buf, "(done)") != NULL);
    free(buf);
}

/* QA_PROGRESS=0 when the progress is created: nothing is written. */
static void test_silent(void) {
    const uint64_t adds[1] = {10};
    size_t len = 0;
    setenv("QA_PROGRESS", "0", 1);
    char *buf = log_mode_text("quiet", 10, "x", adds, 1, &len);
    unsetenv("QA_PROGRESS");
    QA_CHECK_INT(len, 0);
    free(buf);
}

int main(void) {
    QA_RUN(test_si);
    QA_RUN(test_format);
    QA_RUN(test_log_mode_lines);
    QA_RUN(test_silent);
    return qa_test_finish();
}
