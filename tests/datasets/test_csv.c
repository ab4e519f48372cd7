/* CSV reading (quotes, CRLF, gzip, truncation), exact number parsing, timestamps. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "common/fs.h"
#include "common/philox.h"
#include "datasets/csv.h"
#include "common/timeparse.h"
#include "harness.h"

static char dir[256];

static void test_records(void) {
    char p[512];
    snprintf(p, sizeof p, "%s/a.csv", dir);
    const char *text = "a,b,c\r\n1, \"x,y\" ,3\r\n\r\n\"he said \"\"hi\"\"\",,last\nno-newline-at-end";
    qa_fs_write_all(p, text, strlen(text));
    qa_csv_t *c = NULL;
    size_t nf;
    QA_CHECK_OK(qa_csv_open(p, ',', &c));
    QA_CHECK_OK(qa_csv_next(c, &nf));
    QA_CHECK_INT(nf, 3);
    QA_CHECK_STR(qa_csv_field(c, 2), "c");
    QA_CHECK_OK(qa_csv_next(c, &nf));
    QA_CHECK_INT(qa_csv_line(c), 2);
    QA_CHECK_STR(qa_csv_field(c, 1), "x,y");
    QA_CHECK_OK(qa_csv_next(c, &nf)); /* blank line skipped */
    QA_CHECK_INT(qa_csv_line(c), 4);
    QA_CHECK_STR(qa_csv_field(c, 0), "he said \"hi\"");
    QA_CHECK_STR(qa_csv_field(c, 1), "");
    QA_CHECK(qa_csv_field(c, 3) == NULL);
    QA_CHECK_OK(qa_csv_next(c, &nf));
    QA_CHECK_STR(qa_csv_field(c, 0), "no-newline-at-end");
    QA_CHECK_INT(qa_csv_next(c, &nf), QA_ERR_NOT_FOUND);
    qa_csv_close(c);
}

/* A small gzip file is inflated whole at the first read (qa_csv_bytes gives all of it
 * then), the same text as two members, or with the fast path off, streams through zlib
 * (256 KiB read); every way gives the same records. Damage is reported, not read as an
 * early end. */
static void test_gzip_and_truncation(void) {
    enum { N = 100000 }; /* ~590 KB of text, more than the 256 KiB read window */
    char p[512], p2[512];
    snprintf(p, sizeof p, "%s/b.csv.gz", dir);
    snprintf(p2, sizeof p2, "%s/b2.csv.gz", dir);
    unsigned long long text = 2;
    for (int i = 0; i < N; i++) text += (unsigned long long)snprintf(NULL, 0, "%d\n", i);
    gzFile g = gzopen(p, "wb");
    gzputs(g, "x\n");
    for (int i = 0; i < N; i++) gzprintf(g, "%d\n", i);
    gzclose(g);
    for (int part = 0; part < 2; part++) {
        g = gzopen(p2, part ? "ab" : "wb");
        if (!part) gzputs(g, "x\n");
        for (int i = part * N / 2; i < (part + 1) * N / 2; i++) gzprintf(g, "%d\n", i);
        gzclose(g);
    }
    /* way 0: whole; 1: two members, streamed; 2: fast path off, streamed */
    for (int way = 0; way < 3; way++) {
        qa_csv_t *c = NULL;
        size_t nf;
        QA_CHECK_OK(qa_csv_open(way == 1 ? p2 : p, ',', &c));
        if (way == 2) qa_csv_set_fast(c, 0);
        QA_CHECK(qa_csv_bytes(c) == 0);
        QA_CHECK_OK(qa_csv_next(c, &nf));
        QA_CHECK(qa_csv_bytes(c) == (way == 0 ? text : 256 * 1024));
        long rows = 1, bad = 0;
        while (qa_csv_next(c, &nf) == QA_OK) {
            char want[24];
            snprintf(want, sizeof want, "%ld", rows - 1);
            bad += nf != 1 || strcmp(qa_csv_field(c, 0), want) != 0 || qa_csv_line(c) != rows + 1;
            rows++;
        }
        QA_CHECK_INT(rows, N + 1);
        QA_CHECK_INT(bad, 0);
        QA_CHECK(qa_csv_bytes(c) == text);
        qa_csv_close(c);
    }
    /* A trailer whose length lies: libdeflate refuses it, zlib reports the damage. Then
     * the stream cut in half. */
    char *buf = NULL;
    size_t len = 0;
    qa_fs_read_all(p, &buf, &len);
    for (int cut = 0; cut < 2; cut++) {
        if (cut) qa_fs_write_all(p2, buf, len / 2);
        else {
            buf[len - 1] ^= 0x01;
            qa_fs_write_all(p2, buf, len);
        }
        qa_csv_t *c = NULL;
        size_t nf;
        QA_CHECK_OK(qa_csv_open(p2, ',', &c));
        qa_status s;
        while ((s = qa_csv_next(c, &nf)) == QA_OK) {
        }
        QA_CHECK_ERR(s, QA_ERR_IO, "truncated or corrupt gzip");
        qa_csv_close(c);
    }
    free(buf);
}

/* The in-place fast path against the byte-by-byte reference path (qa_csv_set_fast off)
 * on random text: quoted fields with delimiters, doubled quotes and newlines inside,
 * CRLF and stray CRs, blank lines, padding, a line longer than the 256 KiB read window
 * and a last line without a newline, for three delimiters. Every status, field count,
 * line number and field must agree. */
static void test_fast_path_parity(void) {
    static const char delims[] = {',', '\t', ';'};
    static const char plain[] = "ab1.- \t", quoted[] = "ab,\n\"";
    uint64_t seed = qa_test_seed();
    const size_t cap = 3u << 20;
    char *text = malloc(cap), p[512];
    QA_CHECK(text != NULL);
    if (!text) return;
    for (size_t d = 0; d < sizeof delims; d++) {
        const char delim = delims[d];
        size_t n = 0;
        uint64_t k = 0;
        int long_done = 0;
#define R(m) (qa_rng_u32(seed, 10 + d, k++) % (m))
        while (n < cap - (512u << 10)) {
            if (R(30) == 0) { /* blank line */
                text[n++] = '\n';
                continue;
            }
            if (n > (1u << 20) && !long_done) { /* 300 KiB: crosses the window */
                for (size_t i = 0; i < (300u << 10); i++) text[n++] = i % 1000 == 999 ? delim : 'x';
                text[n++] = '\n';
                long_done = 1;
            }
            int nf = 1 + (int)R(8);
            for (int f = 0; f < nf; f++) {
                if (f) text[n++] = delim;
                uint32_t kind = R(60), len = R(12);
                if (kind == 0) {
                    text[n++] = '"';
                    for (uint32_t i = 0; i < len; i++) {
                        char ch = quoted[R(sizeof quoted - 1)];
                        if (ch == '"') text[n++] = '"';
                        text[n++] = ch;
                    }
                    text[n++] = '"';
                } else if (kind == 1) {
                    text[n++] = 'c';
                    text[n++] = '\r'; /* a CR inside a field is dropped */
                    text[n++] = 'r';
                } else {
                    for (uint32_t i = 0; i < len; i++) text[n++] = plain[R(sizeof plain - 1)];
                }
            }
            if (R(20) == 0) text[n++] = '\r';
            text[n++] = '\n';
        }
#undef R
        static const char tail[] = "last,line"; /* no final newline: bytes, not a string */
        for (size_t i = 0; i + 1 < sizeof tail; i++) text[n++] = tail[i];
        snprintf(p, sizeof p, "%s/parity%zu.csv", dir, d);
        QA_CHECK_OK(qa_fs_write_all(p, text, n));
        qa_csv_t *fast = NULL, *ref = NULL;
        QA_CHECK_OK(qa_csv_open(p, delim, &fast));
        QA_CHECK_OK(qa_csv_open(p, delim, &ref));
        if (!fast || !ref) {
            qa_csv_close(fast);
            qa_csv_close(ref);
            break;
        }
        qa_csv_set_fast(ref, 0);
        size_t records = 0, bad = 0, nf1 = 0, nf2 = 0;
        for (;;) {
            qa_status s1 = qa_csv_next(fast, &nf1), s2 = qa_csv_next(ref, &nf2);
            int same = s1 == s2;
            if (same && s1 == QA_OK) {
                same = nf1 == nf2 && qa_csv_line(fast) == qa_csv_line(ref);
                for (size_t i = 0; same && i < nf1; i++) {
                    same = strcmp(qa_csv_field(fast, i), qa_csv_field(ref, i)) == 0;
                    if (!same) printf("  field %zu: '%.40s' vs reference '%.40s'\n", i, qa_csv_field(fast, i), qa_csv_field(ref, i));
                }
            }
            if (!same && bad++ < 3)
                printf("  delimiter %d, record %zu: status %d/%d, %zu/%zu fields, line %ld/%ld\n", delim, records,
                       (int)s1, (int)s2, nf1, nf2, qa_csv_line(fast), qa_csv_line(ref));
            if (s1 != QA_OK || s2 != QA_OK || bad > 3) break;
            records++;
        }
        QA_CHECK_INT(bad, 0);
        QA_CHECK(records > 40000); /* the whole file was read */
        qa_csv_close(fast);
        qa_csv_close(ref);
    }
    free(text);
    /* A NUL byte still stops the read with its field, whatever path sees the line first. */
    snprintf(p, sizeof p, "%s/nul.csv", dir);
    QA_CHECK_OK(qa_fs_write_all(p, "a,b\n1,x\0y\n", 10));
    qa_csv_t *c = NULL;
    size_t nf;
    QA_CHECK_OK(qa_csv_open(p, ',', &c));
    QA_CHECK_OK(qa_csv_next(c, &nf));
    QA_CHECK_ERR(qa_csv_next(c, &nf), QA_ERR_FORMAT, ":2: field 2: a NUL byte");
    qa_csv_close(c);
}

/* The fast path must give exactly strtod's correctly rounded result. */
static void test_parse_double_exact(void) {
    uint64_t seed = qa_test_seed();
    char txt[64];
    size_t bad = 0;
    for (uint64_t i = 0; i < 200000; i++) {
        uint32_t a = qa_rng_u32(seed, 1, i), b = qa_rng_u32(seed, 2, i);
        int frac = (int)(b % 12);
        unsigned long long mant = ((unsigned long long)a << 20 | (b >> 12)) % 100000000000000ULL;
        snprintf(txt, sizeof txt, "%s%llu", (b & 1) ? "-" : "", mant);
        size_t L = strlen(txt);
        if (frac > 0 && (size_t)frac < L - ((b & 1) ? 1 : 0)) {
            memmove(txt + L - frac + 1, txt + L - frac, (size_t)frac + 1);
            txt[L - frac] = '.';
        }
        double got, ref = strtod(txt, NULL);
        if (!qa_csv_parse_double(txt, &got) || got != ref) {
            if (bad++ < 3) printf("  %s -> %.17g vs strtod %.17g\n", txt, got, ref);
        }
    }
    QA_CHECK_INT(bad, 0);
    /* Past the fast path (exponents, 20+ digits, > 22 decimals, denormals, 2^53 + 1) and
     * inside it (leading zeros, signs, 0.1, the largest exact power of ten). */
    static const char *const ok[] = {"0", "-0", "41969028.638309", "0.0996047", "1e-3", "12345678901234567890", "1.", ".5",
                                     "1e23", "0.1", "+1.5", "-0.0", "000000000000000000000123.4500", "9007199254740993",
                                     "9007199254740992", "4.9e-324", "2.2250738585072011e-308", "1.7976931348623157e308",
                                     "0.00000000000000000000001", "123456789012345678901234567890.5", "1e22", "1E-5",
                                     "0.30000000000000004", "98811715", "-2.5e+3"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        double v;
        double ref = strtod(ok[i], NULL);
        QA_CHECK_MSG(qa_csv_parse_double(ok[i], &v) && memcmp(&v, &ref, sizeof v) == 0, "'%s' -> %.17g, strtod %.17g",
                     ok[i], v, ref);
    }
    /* The importer takes strtod's NaN and infinities as numbers, then rejects them
     * (not finite), and an empty field as missing only in wide files: both are the
     * importer's choice, the parser only has to agree with strtod. */
    double v = 0;
    QA_CHECK(qa_csv_parse_double("nan", &v) && v != v);
    QA_CHECK(qa_csv_parse_double("-inf", &v) && v < 0 && v * 0 != 0);
    static const char *const no[] = {"", "abc", "1.2.3", "12x", "-", ".", "1e", "1.5 ", "0x", "--1", "1,5"};
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
        QA_CHECK_MSG(!qa_csv_parse_double(no[i], &v), "'%s' accepted", no[i]);
    }
}

static void test_times(void) {
    qa_tzone utc, ny, plus1;
    QA_CHECK_OK(qa_tzone_parse("UTC", &utc));
    QA_CHECK_OK(qa_tzone_parse("America/New_York", &ny));
    QA_CHECK_OK(qa_tzone_parse("+01:00", &plus1));
    QA_CHECK_ERR(qa_tzone_parse("Mars/Olympus", &ny), QA_ERR_CONFIG, "unknown time zone 'Mars/Olympus'");
    QA_CHECK_OK(qa_tzone_parse("America/New_York", &ny));
    int64_t ns;
    const int64_t S = 1000000000LL;
    QA_CHECK(qa_time_parse("1970-01-01", QA_TIME_ISO, &utc, &ns) && ns == 0);
    QA_CHECK(qa_time_parse("2020-03-16", QA_TIME_ISO, &utc, &ns) && ns == 1584316800LL * S);
    QA_CHECK(qa_time_parse("2026-01-26T14:30:00Z", QA_TIME_ISO, &utc, &ns) && ns == 1769437800LL * S);
    QA_CHECK(qa_time_parse("2026-01-26T09:30:00-05:00", QA_TIME_ISO, &utc, &ns) && ns == 1769437800LL * S);
    QA_CHECK(qa_time_parse("2026-01-26 15:30:00", QA_TIME_ISO, &plus1, &ns) && ns == 1769437800LL * S);
    QA_CHECK(qa_time_parse("2026-01-26T14:30:00.250Z", QA_TIME_ISO, &utc, &ns) && ns == 1769437800LL * S + 250000000);
    QA_CHECK(qa_time_parse("1962-01-02", QA_TIME_ISO, &utc, &ns) && ns == -252374400LL * S);
    /* Naive New York times across the DST change (2026-03-08): EST = UTC-5, EDT = UTC-4. */
    qa_tzone_activate(&ny);
    QA_CHECK(qa_time_parse("2026-03-06 09:30:00", QA_TIME_ISO, &ny, &ns) && ns == (1772807400LL) * S);
    QA_CHECK(qa_time_parse("2026-03-09 09:30:00", QA_TIME_ISO, &ny, &ns) && ns == (1773063000LL) * S);
    qa_tzone_restore();
    QA_CHECK(qa_time_parse("1769904000000", QA_TIME_EPOCH_MS, &utc, &ns) && ns == 1769904000LL * S);
    QA_CHECK(qa_time_parse("1769904000", QA_TIME_EPOCH_S, &utc, &ns) && ns == 1769904000LL * S);
    static const char *const bad[] = {"2020-02-30", "2020-13-01", "2020-1-01", "2020-01-01T25:00", "2020-01-01X", "yesterday", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        QA_CHECK_MSG(!qa_time_parse(bad[i], QA_TIME_ISO, &utc, &ns), "'%s' accepted", bad[i]);
    QA_CHECK(!qa_time_parse("12ab", QA_TIME_EPOCH_MS, &utc, &ns));
    /* the range of int64 nanoseconds (1677-09-21T00:12:43.145224192Z .. 2262-04-11T23:47:16.854775807Z):
     * a time outside it is refused with the reason, never wrapped into another time */
    QA_CHECK(qa_time_parse("2262-04-11T23:47:16Z", QA_TIME_ISO, &utc, &ns) && ns == 9223372036LL * S);
    QA_CHECK(qa_time_parse("2262-04-11T23:47:16.854775807Z", QA_TIME_ISO, &utc, &ns) && ns == INT64_MAX);
    QA_CHECK(qa_time_parse("1677-09-21T00:12:44Z", QA_TIME_ISO, &utc, &ns) && ns == -9223372036LL * S);
    QA_CHECK_STR(qa_time_parse_why(), "");
    static const char *const out[] = {"2300-01-02", "1600-12-31", "2262-04-11T23:47:16.854775808Z", "2262-04-12",
                                      "1677-09-21T00:12:43Z", "9999-12-31T23:59:59Z", "2262-04-11T20:00:00-05:00"};
    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++) {
        ns = 12345;
        QA_CHECK_MSG(!qa_time_parse(out[i], QA_TIME_ISO, &utc, &ns) && ns == 12345, "'%s' accepted as %lld", out[i],
                     (long long)ns);
        QA_CHECK_MSG(strstr(qa_time_parse_why(), "2262-04-11") != NULL, "'%s': no reason given", out[i]);
    }
    QA_CHECK(!qa_time_parse("9300000000000000", QA_TIME_EPOCH_MS, &utc, &ns) && strstr(qa_time_parse_why(), "2262"));
    QA_CHECK(!qa_time_parse("99999999999999999999", QA_TIME_EPOCH_NS, &utc, &ns) && strstr(qa_time_parse_why(), "2262"));
    QA_CHECK(!qa_time_parse("yesterday", QA_TIME_ISO, &utc, &ns));
    QA_CHECK_STR(qa_time_parse_why(), ""); /* malformed: nothing to add */
    /* Formatting the ends of int64 time (INT64_MIN was negated: UB, found by fuzz_store). */
    char iso[40];
    QA_CHECK_STR(qa_time_format_iso(INT64_MIN, iso, sizeof iso), "1677-09-21T00:12:43Z");
    QA_CHECK_STR(qa_time_format_iso(INT64_MAX, iso, sizeof iso), "2262-04-11T23:47:16Z");
    QA_CHECK_STR(qa_time_format_iso(-1, iso, sizeof iso), "1969-12-31T23:59:59Z");
    QA_CHECK_STR(qa_time_format_iso(-86400LL * S, iso, sizeof iso), "1969-12-31");
    /* days_from_civil against timegm for a range of dates, and formatting back. */
    size_t wrong = 0;
    for (int64_t d = -30000; d < 30000; d += 37) {
        time_t tt = (time_t)(d * 86400);
        struct tm tm;
        gmtime_r(&tt, &tm);
        wrong += qa_days_from_civil(tm.tm_year + 1900, (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday) != d;
    }
    QA_CHECK_INT(wrong, 0);
    char buf[40];
    QA_CHECK_STR(qa_time_format_iso(1584316800LL * S, buf, sizeof buf), "2020-03-16");
    QA_CHECK_STR(qa_time_format_iso(1769437800LL * S, buf, sizeof buf), "2026-01-26T14:30:00Z");
    QA_CHECK_STR(qa_time_format_iso(-252374400LL * S, buf, sizeof buf), "1962-01-02");
}

int main(void) {
    if (qa_test_tmpdir(dir, sizeof dir, "test_csv")) qa_test_skip("no temp dir");
    QA_RUN(test_records);
    QA_RUN(test_gzip_and_truncation);
    QA_RUN(test_fast_path_parity);
    QA_RUN(test_parse_double_exact);
    QA_RUN(test_times);
    qa_test_rmtree(dir);
    return qa_test_finish();
}
