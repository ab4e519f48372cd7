/* Releasing many allocations at once: a struct that owns a dozen arrays frees them in one
 * statement instead of a dozen, so ownership reads as a list of what is owned. */
#ifndef QA_COMMON_MEM_H
#define QA_COMMON_MEM_H

#include <stddef.h>  /* size_t */
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

#ifdef __cplusplus
}
#endif
#endif
