/* Owned string lists. */
#include "common/strlist.h"

#include <stdlib.h>  /* realloc, qsort */
#include <string.h>  /* strdup, strcmp */

qa_status qa_strlist_add(qa_strlist *l, const char *s) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **ni = realloc(l->items, cap * sizeof *ni);
        if (!ni) return QA_FAIL(QA_ERR_NOMEM, "string list of %zu", l->n);
        l->items = ni;
        l->cap = cap;
    }
    if (!(l->items[l->n] = strdup(s))) return QA_FAIL(QA_ERR_NOMEM, "string list");
    l->n++;
    return QA_OK;
}

long qa_strlist_find(const qa_strlist *l, const char *s) {
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i], s) == 0) return (long)i;
    return -1;
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void qa_strlist_sort(qa_strlist *l) {
    if (l->n > 1) qsort(l->items, l->n, sizeof *l->items, cmp);
}

void qa_strlist_free(qa_strlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = l->cap = 0;
}
