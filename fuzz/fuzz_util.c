/* Scratch files and input cursor for the harnesses (fuzz_util.h). */
#include "fuzz_util.h"

#include <fcntl.h>    /* open */
#include <math.h>     /* NAN, INFINITY */
#include <stdio.h>    /* snprintf, fprintf */
#include <stdlib.h>   /* abort, mkdtemp, getenv, atexit */
#include <string.h>   /* memcpy */
#include <unistd.h>   /* write, close */

#include "common/log.h" /* qa_log_set_level */

static char dir[256];

static void remove_dir(void) {
    char cmd[300];
    if (!dir[0]) return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", dir);
}

const char *qa_fuzz_dir(void) {
    if (dir[0]) return dir;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(dir, sizeof dir, "%s/qa-fuzz-XXXXXX", base);
    if (!mkdtemp(dir)) {
        fprintf(stderr, "fuzz: cannot create a scratch folder under %s\n", base);
        abort();
    }
    atexit(remove_dir);
    return dir;
}

const char *qa_fuzz_path(const char *name, char *out, size_t size) {
    snprintf(out, size, "%s/%s", qa_fuzz_dir(), name);
    return out;
}

const char *qa_fuzz_write(const char *name, const void *data, size_t len, char *out, size_t size) {
    qa_fuzz_path(name, out, size);
    int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        fprintf(stderr, "fuzz: cannot write %s\n", out);
        abort();
    }
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w <= 0) {
            fprintf(stderr, "fuzz: short write to %s\n", out);
            abort();
        }
        p += w, len -= (size_t)w;
    }
    close(fd);
    return out;
}

void qa_fuzz_quiet(void) { qa_log_set_level(QA_LOG_OFF); }

uint8_t qa_fuzz_u8(qa_fuzz_in *in) {
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

uint32_t qa_fuzz_u32(qa_fuzz_in *in) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)qa_fuzz_u8(in) << (8 * i);
    return v;
}

uint64_t qa_fuzz_u64(qa_fuzz_in *in) { return qa_fuzz_u32(in) | (uint64_t)qa_fuzz_u32(in) << 32; }

unsigned qa_fuzz_pick(qa_fuzz_in *in, unsigned k) { return qa_fuzz_u8(in) % k; }

double qa_fuzz_double(qa_fuzz_in *in) {
    static const double edge[] = {0.0, -0.0, NAN, INFINITY, -INFINITY, 1e308, -1e308, 5e-324, -1.0, 1.0,
                                  252.0, 86400.0, 1e15, -1e15, 0.5, 100.0};
    unsigned k = qa_fuzz_u8(in);
    if (k < 2 * sizeof edge / sizeof *edge) return edge[k % (sizeof edge / sizeof *edge)];
    uint64_t bits = qa_fuzz_u64(in);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

size_t qa_fuzz_str(qa_fuzz_in *in, char *out, size_t max) {
    size_t k = 0;
    while (k < max && in->n) {
        uint8_t c = qa_fuzz_u8(in);
        if (c == 0xff) break;
        out[k++] = (char)c;
    }
    out[k] = '\0';
    return k;
}
