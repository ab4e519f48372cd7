/* Buffered CSV record reader on zlib's gzread (transparent for uncompressed files); a
 * small single-member gzip file is inflated whole by libdeflate instead. */
#include "datasets/csv.h"

#include <errno.h>      /* errno from strtod/strtoll */
#include <libdeflate.h> /* libdeflate_gzip_decompress_ex: the whole-file path */
#include <stdio.h>      /* snprintf, fopen, fread */
#include <stdint.h>     /* uint64_t */
#include <stdlib.h>     /* malloc, strtod */
#include <string.h>     /* memchr, memmove */
#include <sys/stat.h>   /* fstat: the compressed size */
#include <zlib.h>       /* gzopen, gzread */

#include "common/fs.h" /* QA_PATH_MAX */
#include "common/mem.h"

enum { CSV_BUF = 256 * 1024 }; /* bytes per gzread */

/* A gzip file of at most WHOLE_MAX_IN bytes whose trailer gives at most WHOLE_MAX_OUT
 * uncompressed bytes is read and inflated in one call by libdeflate, 2-3x faster than
 * zlib's streaming inflate (the import's daily files: 0.26 s instead of 0.6-0.8 s for
 * 191 MB, one core). The bounds keep a reader's memory at their sum; larger files,
 * multi-member or damaged ones stream through zlib as before, which also words the
 * errors. */
#define WHOLE_MAX_IN (16L << 20)
#define WHOLE_MAX_OUT (64UL << 20)

struct qa_csv {
    gzFile gz;      /* NULL when the whole file is in buf */
    int started;    /* the first fill has run (it may inflate the file whole) */
    int whole_ok;   /* the fast path is on: a small gzip file may be inflated whole */
    char path[QA_PATH_MAX];
    char delim;
    char *buf;      /* raw input window */
    size_t len, pos;
    int eof;
    long line;      /* lines consumed so far */
    long rec_line;  /* first line of the current record */
    unsigned long long bytes;
    char *rec;      /* current record, unquoted, fields NUL-separated */
    size_t rec_cap;
    size_t *fields; /* offsets into base */
    size_t nfields, fields_cap;
    const char *base; /* rec (slow path) or buf (fast path): what the field offsets index */
    /* Byte classes for the fast path (CLS_*); fast = 0 when the delimiter is itself a
     * quote, CR, LF or NUL, so that every record takes the byte-by-byte path. */
    unsigned char cls[256];
    int fast;
};

enum { CLS_PLAIN = 0, CLS_DELIM = 1, CLS_NL = 2, CLS_SLOW = 3 };

/* The compressed file `f` (n bytes) inflated into a new buffer, or NULL when it is not
 * one small, intact, single-member gzip stream (the caller then streams it with zlib). */
static char *gunzip_small(FILE *f, long n, size_t *len) {
    unsigned char *in = malloc((size_t)n);
    char *outb = NULL;
    if (!in || fread(in, 1, (size_t)n, f) != (size_t)n || in[0] != 0x1f || in[1] != 0x8b) goto done;
    /* ISIZE, the trailer's uncompressed length mod 2^32: only a hint, checked below */
    size_t isize = (size_t)in[n - 4] | (size_t)in[n - 3] << 8 | (size_t)in[n - 2] << 16 | (size_t)in[n - 1] << 24;
    if (isize > WHOLE_MAX_OUT) goto done;
    outb = malloc(isize ? isize : 1);
    struct libdeflate_decompressor *d = outb ? libdeflate_alloc_decompressor() : NULL;
    size_t used = 0, got = 0;
    /* success only if the one member is the whole file and inflates to exactly isize */
    int ok = d && libdeflate_gzip_decompress_ex(d, in, (size_t)n, outb, isize, &used, &got) == LIBDEFLATE_SUCCESS &&
             used == (size_t)n && got == isize;
    libdeflate_free_decompressor(d); /* accepts NULL */
    if (!ok) {
        free(outb);
        outb = NULL;
    }
    *len = isize;
done:
    free(in);
    return outb;
}

/* Puts the whole inflated file in c->buf when gunzip_small can; returns 1 if it did. */
static int inflate_whole(qa_csv_t *c) {
    FILE *f = fopen(c->path, "rb");
    if (!f) return 0;
    struct stat stbuf;
    char *whole = NULL;
    size_t len = 0;
    if (fstat(fileno(f), &stbuf) == 0 && S_ISREG(stbuf.st_mode) && stbuf.st_size >= 18 &&
        stbuf.st_size <= WHOLE_MAX_IN) /* 18: the smallest gzip member */
        whole = gunzip_small(f, (long)stbuf.st_size, &len);
    (void)fclose(f); /* read-only stream: a close error loses nothing */
    if (!whole) return 0;
    free(c->buf);
    c->buf = whole;
    c->len = len;
    c->pos = 0;
    c->eof = 1;
    c->bytes = len;
    return 1;
}

qa_status qa_csv_open(const char *path, char delimiter, qa_csv_t **out) {
    qa_csv_t *c = calloc(1, sizeof *c);
    if (!c) return QA_FAIL(QA_ERR_NOMEM, "csv reader");
    snprintf(c->path, sizeof c->path, "%s", path);
    c->delim = delimiter;
    c->cls['"'] = c->cls['\r'] = c->cls['\0'] = CLS_SLOW;
    c->cls['\n'] = CLS_NL;
    c->fast = c->cls[(unsigned char)delimiter] == CLS_PLAIN;
    if (c->fast) c->cls[(unsigned char)delimiter] = CLS_DELIM;
    c->buf = malloc(CSV_BUF);
    c->rec_cap = 4096;
    c->rec = malloc(c->rec_cap);
    c->fields_cap = 64;
    c->fields = malloc(c->fields_cap * sizeof *c->fields);
    if (!c->buf || !c->rec || !c->fields) {
        qa_csv_close(c);
        return QA_FAIL(QA_ERR_NOMEM, "csv reader");
    }
    c->whole_ok = 1;
    c->gz = gzopen(path, "rb");
    if (!c->gz) {
        qa_status s = QA_FAIL(QA_ERR_IO, "%s: cannot open: %s", path, errno ? strerror(errno) : "gzopen failed");
        qa_csv_close(c);
        return s;
    }
    gzbuffer(c->gz, 128 * 1024);
    *out = c;
    return QA_OK;
}

void qa_csv_close(qa_csv_t *c) {
    if (!c) return;
    if (c->gz) gzclose(c->gz);
    QA_FREE_ALL(c->buf, c->rec, c->fields, c);
}

void qa_csv_set_fast(qa_csv_t *c, int on) {
    c->fast = on && c->cls[(unsigned char)c->delim] == CLS_DELIM;
    c->whole_ok = on;
}

/* Ensures at least one unread byte is buffered; returns 0 at EOF, -1 on error. */
static int fill(qa_csv_t *c) {
    if (c->pos < c->len) return 1;
    if (c->eof) return 0;
    if (!c->started) { /* the first read: decided here, so that qa_csv_set_fast can still say no */
        c->started = 1;
        if (c->whole_ok && inflate_whole(c)) {
            gzclose(c->gz); /* only opened: nothing read, nothing to report */
            c->gz = NULL;
            return c->len > 0;
        }
    }
    int n = gzread(c->gz, c->buf, CSV_BUF);
    if (n < 0) return -1;
    if (n == 0) {
        /* gzread returns 0 at a clean end, and also for a truncated stream: check. */
        int zerr = 0;
        const char *msg = gzerror(c->gz, &zerr);
        (void)msg;
        if (zerr != Z_OK && zerr != Z_STREAM_END) return -1;
        c->eof = 1;
        return 0;
    }
    c->len = (size_t)n;
    c->pos = 0;
    c->bytes += (unsigned long long)n;
    return 1;
}

static qa_status rec_push(qa_csv_t *c, size_t *used, char ch) {
    if (*used + 1 >= c->rec_cap) {
        if (c->rec_cap >= QA_CSV_MAX_RECORD) /* the memory bound a small gzip could otherwise blow */
            return QA_FAIL(QA_ERR_FORMAT, "%s:%ld: a record longer than %d MiB (a line without its end?)", c->path,
                           c->rec_line, QA_CSV_MAX_RECORD >> 20);
        size_t cap = c->rec_cap * 2;
        char *nr = realloc(c->rec, cap);
        if (!nr) return QA_FAIL(QA_ERR_NOMEM, "%s:%ld: line too long", c->path, c->rec_line);
        c->rec = nr;
        c->rec_cap = cap;
    }
    c->rec[(*used)++] = ch;
    return QA_OK;
}

static qa_status field_push(qa_csv_t *c, size_t start) {
    if (c->nfields == c->fields_cap) {
        size_t cap = c->fields_cap ? c->fields_cap * 2 : 64; /* grows from any capacity, 0 included */
        size_t *nf = realloc(c->fields, cap * sizeof *nf);
        if (!nf) return QA_FAIL(QA_ERR_NOMEM, "%s:%ld: too many fields", c->path, c->rec_line);
        c->fields = nf;
        c->fields_cap = cap;
    }
    c->fields[c->nfields++] = start;
    return QA_OK;
}

/* Trims spaces/tabs around field text in place; returns the new start offset. */
static size_t trim_field(char *rec, size_t start, size_t end) {
    while (start < end && (rec[start] == ' ' || rec[start] == '\t')) start++;
    while (end > start && (rec[end - 1] == ' ' || rec[end - 1] == '\t')) end--;
    rec[end] = '\0';
    return start;
}

/* A file inflated whole is one window, so a line there may be longer than the slow
 * path's record bound: the fast path leaves lines from half that bound on to the slow
 * path, which accepts or refuses them as it would any line. */
#define FAST_MAX_LINE ((size_t)QA_CSV_MAX_RECORD / 2)

/* Fast path: a line that lies wholly in the buffered window and holds no quote, CR or
 * NUL (a CR just before the newline is allowed) is split in place: delimiters and the
 * newline become NULs, nothing is copied. It yields exactly what the byte-by-byte path
 * below yields for such a line; any other line, or one that crosses the window's end,
 * returns 0 with nothing consumed and the slow path takes it (at most a couple of lines
 * per 256 KiB window in ordinary files). Returns 1 for a record, 2 for a blank line (consumed), 0 to fall back,
 * -1 (status in *st) when the field table cannot grow. */
static int next_fast(qa_csv_t *c, qa_status *st) {
    char *p = c->buf + c->pos, *end = c->buf + c->len, *q = p;
    c->nfields = 0;
    size_t fstart = c->pos, cr = 0;
    for (; q < end; q++) {
        unsigned char k = c->cls[(unsigned char)*q];
        if (k == CLS_PLAIN) continue;
        if (k == CLS_NL) break;
        if (k == CLS_SLOW) {
            if (*q != '\r' || q + 1 == end || q[1] != '\n') return 0;
            cr = 1; /* CRLF: the slow path drops the CR, so the line ends here */
            break;
        }
        if ((size_t)(q - p) >= FAST_MAX_LINE) return 0;
        if ((*st = field_push(c, fstart)) != QA_OK) return -1;
        fstart = (size_t)(q - c->buf) + 1;
    }
    if (q == end) return 0; /* no newline in the window: the slow path refills */
    if ((size_t)(q - p) >= FAST_MAX_LINE) return 0;
    if ((*st = field_push(c, fstart)) != QA_OK) return -1;
    /* Terminate every field (the byte after each is a delimiter or the newline). */
    for (size_t i = 1; i < c->nfields; i++) c->buf[c->fields[i] - 1] = '\0';
    *q = '\0';
    c->pos = (size_t)(q - c->buf) + 1 + cr;
    c->line++;
    c->base = c->buf;
    for (size_t i = 0; i < c->nfields; i++) {
        size_t start = c->fields[i];
        size_t fend = i + 1 < c->nfields ? c->fields[i + 1] - 1 : (size_t)(q - c->buf);
        c->fields[i] = trim_field(c->buf, start, fend);
    }
    return c->nfields == 1 && c->buf[c->fields[0]] == '\0' ? 2 : 1;
}

qa_status qa_csv_next(qa_csv_t *c, size_t *nfields) {
    qa_status s;
    for (;;) {
        if (c->fast && c->pos < c->len) {
            c->rec_line = c->line + 1;
            int r = next_fast(c, &s);
            if (r < 0) return s;
            if (r == 2) continue; /* blank line */
            if (r == 1) {
                *nfields = c->nfields;
                return QA_OK;
            }
        }
        size_t used = 0, fstart = 0;
        int in_quotes = 0, any = 0;
        c->nfields = 0;
        c->rec_line = c->line + 1;
        for (;;) {
            int r = fill(c);
            if (r < 0) {
                int zerr = 0;
                const char *msg = gzerror(c->gz, &zerr);
                return QA_FAIL(QA_ERR_IO, "%s:%ld: read error (%s; truncated or corrupt gzip?)", c->path, c->line + 1,
                               msg && *msg ? msg : "unknown");
            }
            if (r == 0) {
                if (in_quotes)
                    return QA_FAIL(QA_ERR_FORMAT, "%s:%ld: unterminated quoted field", c->path, c->rec_line);
                if (!any) return QA_ERR_NOT_FOUND;
                c->line++;
                break; /* last line without newline */
            }
            char ch = c->buf[c->pos++];
            any = 1;
            if (ch == '\0') /* would cut the field short where it is read as a string */
                return QA_FAIL(QA_ERR_FORMAT, "%s:%ld: field %zu: a NUL byte (binary data in a text file?)", c->path,
                               c->line + 1, c->nfields + 1);
            if (in_quotes) {
                if (ch == '"') {
                    if (fill(c) > 0 && c->buf[c->pos] == '"') {
                        c->pos++;
                        if ((s = rec_push(c, &used, '"')) != QA_OK) return s;
                    } else {
                        in_quotes = 0;
                    }
                } else {
                    if (ch == '\n') c->line++;
                    if ((s = rec_push(c, &used, ch)) != QA_OK) return s;
                }
                continue;
            }
            if (ch == '"') {
                in_quotes = 1;
                continue;
            }
            if (ch == '\r') continue;
            if (ch == '\n') {
                c->line++;
                break;
            }
            if (ch == c->delim) {
                if ((s = rec_push(c, &used, '\0')) != QA_OK) return s;
                if ((s = field_push(c, fstart)) != QA_OK) return s;
                fstart = used;
                continue;
            }
            if ((s = rec_push(c, &used, ch)) != QA_OK) return s;
        }
        if ((s = rec_push(c, &used, '\0')) != QA_OK) return s;
        if ((s = field_push(c, fstart)) != QA_OK) return s;
        c->base = c->rec; /* only now: rec_push may have moved rec */
        /* Trim each field. */
        for (size_t i = 0; i < c->nfields; i++) {
            size_t start = c->fields[i];
            size_t end = start + strlen(c->rec + start);
            c->fields[i] = trim_field(c->rec, start, end);
        }
        if (c->nfields == 1 && c->rec[c->fields[0]] == '\0') continue; /* blank line */
        *nfields = c->nfields;
        return QA_OK;
    }
}

const char *qa_csv_field(const qa_csv_t *c, size_t i) { return i < c->nfields ? c->base + c->fields[i] : NULL; }
long qa_csv_line(const qa_csv_t *c) { return c->rec_line; }
const char *qa_csv_path(const qa_csv_t *c) { return c->path; }
unsigned long long qa_csv_bytes(const qa_csv_t *c) { return c->bytes; }

/* Powers of ten exactly representable in a double. */
static const double exact_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

int qa_csv_parse_double(const char *s, double *out) {
    /* Clinger's fast path: mantissa < 2^53 and |exponent| <= 22 gives one correctly
     * rounded multiplication or division. Anything else goes to strtod. */
    const char *p = s;
    int neg = 0;
    if (*p == '-' || *p == '+') neg = *p++ == '-';
    uint64_t mant = 0;
    int digits = 0, frac = 0, seen_dot = 0, any = 0;
    for (;; p++) {
        if (*p >= '0' && *p <= '9') {
            any = 1;
            if (mant == 0 && *p == '0') {
                if (seen_dot) frac++;
                continue;
            }
            if (digits >= 19) goto slow;
            mant = mant * 10 + (uint64_t)(*p - '0');
            digits++;
            if (seen_dot) frac++;
        } else if (*p == '.' && !seen_dot) {
            seen_dot = 1;
        } else {
            break;
        }
    }
    if (!any) goto slow;
    if (*p == 'e' || *p == 'E') goto slow;
    if (*p != '\0') return 0;
    if (mant >= (1ull << 53) || frac > 22) goto slow;
    double v = (double)mant / exact_pow10[frac];
    *out = neg ? -v : v;
    return 1;
slow:;
    if (!*s) return 0;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end == s || *end != '\0') return 0;
    *out = d;
    return 1;
}

int qa_csv_parse_int64(const char *s, long long *out) {
    if (!*s) return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0' || errno == ERANGE) return 0;
    *out = v;
    return 1;
}
