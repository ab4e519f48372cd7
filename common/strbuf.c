/* Growable text buffer with sticky allocation failure. */
#include "common/strbuf.h"

#include <stdarg.h>  /* va_list */
#include <stdio.h>   /* vsnprintf */
#include <stdlib.h>  /* realloc */
#include <string.h>  /* memcpy, strlen */

void qa_strbuf_init(qa_strbuf *b) { memset(b, 0, sizeof *b); }

void qa_strbuf_copy_cut(char *dst, size_t size, const char *src) {
    if (size == 0) return;
    size_t n = src ? strlen(src) : 0;
    if (n >= size) n = size - 1;
    if (n) memcpy(dst, src, n);
    dst[n] = '\0';
}

void qa_strbuf_free(qa_strbuf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

static int reserve(qa_strbuf *b, size_t extra) {
    if (b->failed) return 0;
    if (b->len + extra + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *nd = realloc(b->data, cap);
    if (!nd) {
        b->failed = 1;
        return 0;
    }
    b->data = nd;
    b->cap = cap;
    return 1;
}

void qa_strbuf_append_n(qa_strbuf *b, const char *text, size_t n) {
    if (!reserve(b, n)) return;
    memcpy(b->data + b->len, text, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void qa_strbuf_append(qa_strbuf *b, const char *text) { qa_strbuf_append_n(b, text, strlen(text)); }

void qa_strbuf_printf(qa_strbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char small[512];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if ((size_t)n < sizeof small) {
        qa_strbuf_append_n(b, small, (size_t)n);
        return;
    }
    if (!reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void qa_strbuf_append_escaped(qa_strbuf *b, const char *text) {
    for (const char *p = text; *p; p++) {
        switch (*p) {
        case '&': qa_strbuf_append(b, "&amp;"); break;
        case '<': qa_strbuf_append(b, "&lt;"); break;
        case '>': qa_strbuf_append(b, "&gt;"); break;
        case '"': qa_strbuf_append(b, "&quot;"); break;
        case '\'': qa_strbuf_append(b, "&#39;"); break;
        default: qa_strbuf_append_n(b, p, 1); break;
        }
    }
}

const char *qa_strbuf_str(const qa_strbuf *b) { return b->data ? b->data : ""; }

qa_status qa_strbuf_status(const qa_strbuf *b) {
    return b->failed ? QA_FAIL(QA_ERR_NOMEM, "text buffer allocation failed") : QA_OK;
}
