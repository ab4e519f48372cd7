/* Streaming CSV reader over plain or gzip-compressed files (zlib reads both; a gzip file
 * of at most 16 MiB that inflates to at most 64 MiB is inflated whole by libdeflate).
 *
 * Reads one record at a time with bounded memory (a 256 KiB buffer, or the small gzip
 * file and its inflated text, plus the longest
 * line, at most QA_CSV_MAX_RECORD bytes: a longer record is an error), refuses NUL bytes
 * (they would cut a field short), tracks line numbers for error messages, splits on a one-character delimiter
 * and understands RFC 4180 double-quoted fields ("" inside quotes is a quote). Fields
 * are views into an internal buffer, valid until the next qa_csv_next. */
#ifndef QA_DATASETS_CSV_H
#define QA_DATASETS_CSV_H

#include <stddef.h>  /* size_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define QA_CSV_MAX_RECORD (16 << 20) /* bytes of one record (a line, or a quoted field's lines) */

typedef struct qa_csv qa_csv_t;

qa_status qa_csv_open(const char *path, char delimiter, qa_csv_t **out);
void qa_csv_close(qa_csv_t *csv);

/* Lines without quotes, CRs (but one before the newline) or NULs are split in place in
 * the read buffer, with no copy, and a small gzip file is inflated whole at the first
 * read (the fast path, on by default); off (before the first qa_csv_next), every record
 * takes the byte-by-byte reference path over zlib's streaming reader. Both yield the same
 * records: the switch is for tests and measurements. */
void qa_csv_set_fast(qa_csv_t *csv, int on);

/* Reads the next record. Returns QA_OK with *nfields set, or QA_ERR_NOT_FOUND at end of
 * file; QA_ERR_FORMAT for an unterminated quote, QA_ERR_IO for a read or gzip error
 * (e.g. a truncated .gz), each naming the file and line. Blank lines are skipped. */
qa_status qa_csv_next(qa_csv_t *csv, size_t *nfields);
/* Field i of the current record (NUL-terminated, quotes removed, surrounding spaces
 * trimmed); NULL when i >= nfields. */
const char *qa_csv_field(const qa_csv_t *csv, size_t i);
/* Line number (1-based) where the current record starts. */
long qa_csv_line(const qa_csv_t *csv);
const char *qa_csv_path(const qa_csv_t *csv);
/* Uncompressed bytes read so far (for progress and throughput): all of them from the
 * first record on for a file inflated whole. */
unsigned long long qa_csv_bytes(const qa_csv_t *csv);

/* Parses a decimal number ("-12.5e3", "41969028.638309") exactly as strtod would
 * (correctly rounded), with a fast path for the common short decimals. Returns 1 on a
 * complete parse, 0 otherwise (empty, garbage, trailing characters). */
int qa_csv_parse_double(const char *s, double *out);
/* Parses a base-10 integer (optional sign); 1 on success. */
int qa_csv_parse_int64(const char *s, long long *out);

#ifdef __cplusplus
}
#endif
#endif
