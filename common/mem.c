/* The machine's memory, for checks of sizes read from input before they are allocated. */
#include "common/mem.h"

#include <inttypes.h>     /* SCNu64 */
#include <stdio.h>        /* fopen, fscanf, snprintf */
#include <string.h>       /* strcmp */
#include <sys/resource.h> /* getrlimit */
#include <unistd.h>       /* sysconf */

/* MemAvailable in bytes from /proc/meminfo, or 0 (not Linux, or a kernel before 3.14). */
static uint64_t meminfo_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char key[64];
    uint64_t kib = 0, found = 0;
    while (fscanf(f, "%63s %" SCNu64 "%*[^\n]", key, &kib) == 2) {
        if (strcmp(key, "MemAvailable:") == 0) {
            found = kib * 1024;
            break;
        }
    }
    fclose(f);
    return found;
}

uint64_t qa_mem_available(void) {
    uint64_t bytes = meminfo_available();
    if (bytes == 0) {
        long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        if (pages > 0 && page > 0) bytes = (uint64_t)pages * (uint64_t)page;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (bytes == 0 || (uint64_t)rl.rlim_cur < bytes))
        bytes = (uint64_t)rl.rlim_cur;
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
