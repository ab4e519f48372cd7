/* Trade blotter storage: growable rows plus a text pool for rejection reasons. */
#include "trading/blotter.h"

#include <stdlib.h>  /* realloc, free */
#include <string.h>  /* memset, strlen, memcpy */

void qa_blotter_init(qa_blotter *b) { memset(b, 0, sizeof *b); }

void qa_blotter_free(qa_blotter *b) {
    if (!b) return;
    free(b->rows);
    free(b->text);
    memset(b, 0, sizeof *b);
}

qa_status qa_blotter_add(qa_blotter *b, const qa_blotter_row *row, const char *reason) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 1024;
        qa_blotter_row *p = realloc(b->rows, cap * sizeof *p);
        if (!p) return QA_FAIL(QA_ERR_NOMEM, "blotter of %zu rows", cap);
        b->rows = p;
        b->cap = cap;
    }
    qa_blotter_row r = *row;
    r.reason = -1;
    if (reason && *reason) {
        size_t len = strlen(reason) + 1;
        if (b->text_len + len > b->text_cap) {
            size_t cap = b->text_cap ? b->text_cap : 4096;
            while (cap < b->text_len + len) cap *= 2;
            char *t = realloc(b->text, cap);
            if (!t) return QA_FAIL(QA_ERR_NOMEM, "blotter text of %zu bytes", cap);
            b->text = t;
            b->text_cap = cap;
        }
        memcpy(b->text + b->text_len, reason, len);
        r.reason = (int64_t)b->text_len;
        b->text_len += len;
    }
    b->rows[b->n++] = r;
    return QA_OK;
}

const char *qa_blotter_reason(const qa_blotter *b, const qa_blotter_row *row) {
    return row->reason >= 0 && (size_t)row->reason < b->text_len ? b->text + row->reason : "";
}
