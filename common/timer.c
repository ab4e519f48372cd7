/* Monotonic timers and process memory readings. */
#include "common/timer.h"

#include <errno.h>     /* strtoull's range errors */
#include <stdio.h>     /* fopen of /proc/self/status */
#include <stdlib.h>    /* strtoull */
#include <string.h>    /* strncmp */
#include <sys/resource.h> /* getrusage fallback */
#include <time.h>      /* clock_gettime, gmtime_r, strftime */

uint64_t qa_time_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double qa_time_since(uint64_t start_ns) { return (double)(qa_time_ns() - start_ns) * 1e-9; }

void qa_time_utc_iso(char *buf, unsigned long size) {
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    if (strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0 && size > 0) buf[0] = '\0'; /* too small: empty */
}

uint64_t qa_peak_rss_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        unsigned long long kb = 0;
        int found = 0;
        while (!found && fgets(line, sizeof line, f)) {
            if (strncmp(line, "VmHWM:", 6) != 0) continue;
            char *end = NULL;
            errno = 0;
            kb = strtoull(line + 6, &end, 10); /* "VmHWM:     1234 kB" */
            found = end != line + 6 && errno == 0;
        }
        (void)fclose(f); /* read-only stream: a close error loses nothing */
        if (found) return (uint64_t)kb * 1024ull;
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) return (uint64_t)ru.ru_maxrss * 1024ull;
    return 0;
}
