/* A growable text buffer for building reports, JSON fragments and messages.
 * Append never fails silently: on allocation failure the buffer is marked failed, later
 * appends are ignored, and qa_strbuf_status reports QA_ERR_NOMEM once at the end. */
#ifndef QA_COMMON_STRBUF_H
#define QA_COMMON_STRBUF_H

#include <stddef.h>  /* size_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_strbuf {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len, cap;
    int failed;
} qa_strbuf;

void qa_strbuf_init(qa_strbuf *b);
void qa_strbuf_free(qa_strbuf *b);
void qa_strbuf_append(qa_strbuf *b, const char *text);
void qa_strbuf_append_n(qa_strbuf *b, const char *text, size_t n);
void qa_strbuf_printf(qa_strbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Appends text with &, <, >, " and ' escaped for HTML/XML. */
void qa_strbuf_append_escaped(qa_strbuf *b, const char *text);
/* The text ("" when empty). */
const char *qa_strbuf_str(const qa_strbuf *b);
/* Copies src (NULL: "") into the fixed buffer dst of `size` bytes, cut to fit and always
 * NUL-terminated: identifiers and reasons stored in records of fixed width. */
void qa_strbuf_copy_cut(char *dst, size_t size, const char *src);
qa_status qa_strbuf_status(const qa_strbuf *b);

#ifdef __cplusplus
}
#endif
#endif
