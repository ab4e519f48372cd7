/* Releasing many allocations at once: a struct that owns a dozen arrays frees them in one
 * statement instead of a dozen, so ownership reads as a list of what is owned; and the
 * memory the machine has, to refuse sizes read from input before allocating them. */
#ifndef QA_COMMON_MEM_H
#define QA_COMMON_MEM_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint64_t */
#include <stdlib.h>  /* free */

#ifdef __cplusplus
extern "C" {
#endif

/* free() of each of the n pointers (NULL ones included, as free allows). */
static inline void qa_mem_free_all(void *const *ptrs, size_t n) {
    for (size_t i = 0; i < n; i++) free(ptrs[i]);
}

/* QA_FREE_ALL(a, b, c): free(a); free(b); free(c); for pointers to non-const objects
 * (a pointer to const needs a cast, as free itself would). */
#define QA_FREE_ALL(...) \
    qa_mem_free_all((void *const[]){__VA_ARGS__}, sizeof((void *const[]){__VA_ARGS__}) / sizeof(void *))

/* Bytes this process can expect to allocate: MemAvailable of /proc/meminfo (free memory
 * plus reclaimable caches), else free physical pages (sysconf _SC_AVPHYS_PAGES), capped
 * by what an address-space limit (RLIMIT_AS, `ulimit -v`) leaves beyond the address space
 * already mapped (/proc/self/statm). 0 when none of these is known. */
uint64_t qa_mem_available(void);

/* "1.5 GiB", "800.0 MiB": bytes for messages, into buf (at least 16 bytes); returns buf. */
const char *qa_mem_format(uint64_t bytes, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
