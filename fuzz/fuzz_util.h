/* What every harness shares: a private scratch folder in /dev/shm (one per process, so
 * parallel fuzzing jobs never share files), files written there per input, and a reader
 * that takes typed values off the front of the fuzz input (libFuzzer's FuzzedDataProvider,
 * in C). Harnesses only; the library never includes this. */
#ifndef QA_FUZZ_UTIL_H
#define QA_FUZZ_UTIL_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint8_t */

/* The process's scratch folder, created on first use (and removed at exit with its
 * files); aborts when /dev/shm (or $TMPDIR) cannot hold it: a harness cannot run. */
const char *qa_fuzz_dir(void);
/* "<dir>/<name>" into out (size bytes); returns out. */
const char *qa_fuzz_path(const char *name, char *out, size_t size);
/* Writes len bytes as <dir>/<name>, replacing it; returns its path, written into out
 * (size bytes). Aborts on I/O errors. */
const char *qa_fuzz_write(const char *name, const void *data, size_t len, char *out, size_t size);
/* Silences the library's log output (harnesses call it once). */
void qa_fuzz_quiet(void);

/* libFuzzer's entry points (declared here: -Wmissing-prototypes and one place for both). */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* The initializer of a harness that needs nothing but quiet logs. */
#define QA_FUZZ_QUIET_INITIALIZE                          \
    int LLVMFuzzerInitialize(int *argc, char ***argv) {  \
        (void)argc, (void)argv;                           \
        qa_fuzz_quiet();                                  \
        return 0;                                         \
    }

/* A cursor over the input: take bytes from the front; once it is exhausted every take
 * returns zeros / empty. */
typedef struct qa_fuzz_in {
    const uint8_t *p;
    size_t n;
} qa_fuzz_in;

uint8_t qa_fuzz_u8(qa_fuzz_in *in);
uint32_t qa_fuzz_u32(qa_fuzz_in *in);
uint64_t qa_fuzz_u64(qa_fuzz_in *in);
/* One of k choices (k > 0). */
unsigned qa_fuzz_pick(qa_fuzz_in *in, unsigned k);
/* A double from a table of edge values (0, -0, NaN, ±inf, huge, tiny, negative) or the
 * next 8 bytes' bit pattern. */
double qa_fuzz_double(qa_fuzz_in *in);
/* A NUL-terminated string of at most max bytes into out (size > max): bytes up to the
 * next 0xff separator or max, whichever comes first. */
size_t qa_fuzz_str(qa_fuzz_in *in, char *out, size_t max);

#endif
