/* The machine's memory, for checks of sizes read from input before they are allocated. */
#include "common/mem.h"

#include <errno.h>        /* strtoull's range errors */
#include <inttypes.h>     /* PRIu64, UINT64_MAX */
#include <stdio.h>        /* fopen, fgets, snprintf */
#include <stdlib.h>       /* strtoull */
#include <string.h>       /* strncmp */
#include <sys/resource.h> /* getrlimit */
#include <unistd.h>       /* sysconf */

/* MemAvailable in bytes from /proc/meminfo, or 0 (not Linux, or a kernel before 3.14). */
static uint64_t meminfo_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    static const char key[] = "MemAvailable:"; /* "MemAvailable:   123456 kB" */
    char line[256];
    uint64_t found = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, sizeof key - 1) != 0) continue;
        const char *num = line + sizeof key - 1;
        char *end = NULL;
        errno = 0;
        unsigned long long kib = strtoull(num, &end, 10);
        if (end != num && errno == 0 && kib <= UINT64_MAX / 1024) found = (uint64_t)kib * 1024;
        break;
    }
    (void)fclose(f); /* read-only stream: a close error loses nothing */
    return found;
}

/* The process's mapped address space in bytes (first field of /proc/self/statm), or 0. */
static uint64_t address_space_used(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    uint64_t pages = 0;
    long page = sysconf(_SC_PAGESIZE);
    char line[256];
    if (fgets(line, sizeof line, f)) {
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(line, &end, 10);
        if (end != line && errno == 0) pages = (uint64_t)v;
    }
    (void)fclose(f); /* read-only stream: a close error loses nothing */
    return page > 0 ? pages * (uint64_t)page : 0;
}

uint64_t qa_mem_available(void) {
    uint64_t bytes = meminfo_available();
    if (bytes == 0) {
        long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        if (pages > 0 && page > 0) bytes = (uint64_t)pages * (uint64_t)page;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
        /* what the limit leaves: the libraries and heap already mapped count against it */
        uint64_t used = address_space_used(), cap = (uint64_t)rl.rlim_cur;
        uint64_t left = used < cap ? cap - used : 1; /* 1, not 0: 0 means "unknown" */
        if (bytes == 0 || left < bytes) bytes = left;
    }
    return bytes;
}

const char *qa_mem_format(uint64_t bytes, char *buf, size_t size) {
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024.0 && u < 6) {
        v /= 1024.0;
        u++;
    }
    if (u == 0) snprintf(buf, size, "%" PRIu64 " bytes", bytes);
    else snprintf(buf, size, "%.1f %s", v, units[u]);
    return buf;
}
