/* Start-up latency of the qa command: fork + exec of `qa --version` (loader, library
 * constructors, argument parsing; no GPU, no files), N times, median and p95 wall time
 * and the child's peak RSS. In a CUDA build this is what lazy loading of cuBLAS,
 * cuSOLVER, cuDNN and NCCL buys (kernels/cudalib.h): linked, they cost ~0.1 s and
 * ~250 MB per command.
 * Work model: one process start per item.
 * Usage: bench_startup [QA_BINARY] [runs]   (default: ../bin/qa next to this program, 50) */
#include <limits.h>        /* PATH_MAX */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>  /* struct rusage */
#include <sys/wait.h>      /* wait4 */
#include <unistd.h>        /* fork, execv, readlink */
#include <fcntl.h>         /* open: the child's stdout to /dev/null */

#include "bench.h"
#include "common/timer.h"

/* One start of `qa args...`: wall seconds, the child's max RSS in KiB; -1 on failure. */
static double run_once(const char *qa, char *const argv[], long *rss_kb) {
    uint64_t t0 = qa_time_ns();
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            (void)dup2(fd, 1);
            (void)dup2(fd, 2);
        }
        execv(qa, argv);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid) return -1;
    double s = qa_time_since(t0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
    *rss_kb = ru.ru_maxrss;
    return s;
}

int main(int argc, char **argv) {
    char qa[PATH_MAX];
    if (argc > 1) {
        snprintf(qa, sizeof qa, "%s", argv[1]);
    } else {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) return 1;
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash) *slash = '\0';
        if (snprintf(qa, sizeof qa, "%.*s/../bin/qa", (int)(sizeof qa - 16), self) >= (int)sizeof qa) return 1;
    }
    int runs = argc > 2 ? atoi(argv[2]) : 50;
    if (runs < 3 || runs > 10000) runs = 50;
    if (access(qa, X_OK) != 0) {
        printf("# no executable %s\n", qa);
        return 1;
    }
    qa_bench_header("qa start-up (fork + exec to exit)");
    char *args[] = {qa, "--version", NULL};
    double *t = malloc((size_t)runs * sizeof *t);
    if (!t) return 1;
    long rss_max = 0;
    for (int w = 0; w < 3; w++) { /* page cache warm-up, not timed */
        long r = 0;
        if (run_once(qa, args, &r) < 0) {
            printf("# %s --version failed\n", qa);
            return 1;
        }
    }
    for (int i = 0; i < runs; i++) {
        long r = 0;
        t[i] = run_once(qa, args, &r);
        if (t[i] < 0) {
            printf("# %s --version failed\n", qa);
            return 1;
        }
        if (r > rss_max) rss_max = r;
    }
    double p95 = qa_bench_quantile(t, (size_t)runs, 0.95), med = qa_bench_quantile(t, (size_t)runs, 0.5);
    char sz[64];
    snprintf(sz, sizeof sz, "%d starts", runs);
    qa_bench_result res = {"startup_version", "cpu-1t", sz, med, 1.0, "starts", 0, 0};
    qa_bench_report(&res);
    printf("# startup_version: %s --version: median %.1f ms, p95 %.1f ms, child peak RSS %.1f MB (the goal: <= 20 ms)\n",
           qa, med * 1e3, p95 * 1e3, (double)rss_max / 1024.0);
    free(t);
    return 0;
}
