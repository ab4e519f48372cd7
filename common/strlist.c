/* Owned string lists. */
#include "common/strlist.h"

#include <stdint.h>  /* SIZE_MAX */
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

typedef struct {
    const char *name;
    size_t index;
} name_ref;

static int cmp_name_ref(const void *a, const void *b) {
    const name_ref *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

qa_status qa_names_first_repeat(const char *const *names, size_t n, size_t *first, size_t *repeat) {
    *first = *repeat = SIZE_MAX;
    if (n <= 16) { /* a few names (most config maps): no allocation */
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (strcmp(names[j], names[i]) == 0) {
                    *first = j, *repeat = i;
                    return QA_OK;
                }
        return QA_OK;
    }
    name_ref *r = malloc(n * sizeof *r);
    if (!r) return QA_FAIL(QA_ERR_NOMEM, "the repeat check of %zu names", n);
    for (size_t i = 0; i < n; i++) r[i] = (name_ref){names[i], i};
    qsort(r, n, sizeof *r, cmp_name_ref);
    /* Equal names sort by index: a group's first entry is the first occurrence, its second
     * the first repeat; the answer is the group whose first repeat comes earliest. */
    for (size_t k = 1, g = 0; k < n; k++) {
        if (strcmp(r[k].name, r[g].name) != 0) {
            g = k;
        } else if (k == g + 1 && r[k].index < *repeat) {
            *first = r[g].index, *repeat = r[k].index;
        }
    }
    free(r);
    return QA_OK;
}
