/* A growable list of owned strings (file lists, symbol lists, dataset names). */
#ifndef QA_COMMON_STRLIST_H
#define QA_COMMON_STRLIST_H

#include <stddef.h>  /* size_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_strlist {
    char **items; /* owned copies; NULL when empty */
    size_t n, cap;
} qa_strlist;

/* Appends a copy of `s`. */
qa_status qa_strlist_add(qa_strlist *l, const char *s);
/* Index of the first item equal to `s`, or -1 (linear search). */
long qa_strlist_find(const qa_strlist *l, const char *s);
/* Sorts in strcmp order. */
void qa_strlist_sort(qa_strlist *l);
/* Frees the items and the array; the list is empty afterwards. Accepts a zeroed list. */
void qa_strlist_free(qa_strlist *l);

/* The first name equal to an earlier one, in order: *repeat is its index and *first that of
 * the name's first occurrence; *repeat = SIZE_MAX when all differ. The answer of a pairwise
 * scan in O(n log n) (sorted (name, index) pairs): inputs of 10^5 names took minutes
 * pairwise. QA_ERR_NOMEM when the pairs cannot be allocated. */
qa_status qa_names_first_repeat(const char *const *names, size_t n, size_t *first, size_t *repeat);

#ifdef __cplusplus
}
#endif
#endif
