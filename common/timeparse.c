/* ISO 8601 / epoch timestamp parsing to UTC nanoseconds, with time zones. */
#include "common/timeparse.h"

#include <errno.h>     /* ERANGE */
#include <stdio.h>     /* snprintf */
#include <stdlib.h>    /* getenv, setenv */
#include <string.h>    /* strcmp */
#include <time.h>      /* mktime, tzset */
#include <unistd.h>    /* access */

const char *const qa_time_format_names[] = {"iso", "epoch_s", "epoch_ms", "epoch_us", "epoch_ns", NULL};
_Static_assert(sizeof qa_time_format_names / sizeof qa_time_format_names[0] == QA_TIME_FORMAT_COUNT + 1,
               "time format names");

#define NS_PER_S 1000000000LL

/* Howard Hinnant's days_from_civil. */
int64_t qa_days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

void qa_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int parse_offset(const char *p, int64_t *off) {
    /* "+HH:MM", "+HHMM", "+HH" */
    int sign = *p == '-' ? -1 : 1;
    if (*p != '+' && *p != '-') return 0;
    p++;
    if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9') return 0;
    int hh = (p[0] - '0') * 10 + (p[1] - '0'), mm = 0;
    p += 2;
    if (*p == ':') p++;
    if (*p) {
        if (p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9' || p[2]) return 0;
        mm = (p[0] - '0') * 10 + (p[1] - '0');
    }
    if (hh > 23 || mm > 59) return 0;
    *off = (int64_t)sign * (hh * 3600 + mm * 60);
    return 1;
}

qa_status qa_tzone_parse(const char *text, qa_tzone *out) {
    memset(out, 0, sizeof *out);
    if (!text || !*text || strcmp(text, "UTC") == 0 || strcmp(text, "Z") == 0 || strcmp(text, "utc") == 0) {
        snprintf(out->name, sizeof out->name, "UTC");
        return QA_OK;
    }
    if (parse_offset(text, &out->offset_s)) {
        out->kind = 1;
        snprintf(out->name, sizeof out->name, "%s", text);
        return QA_OK;
    }
    char path[256];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", text);
    if (strstr(text, "..") || access(path, R_OK) != 0)
        return QA_FAIL(QA_ERR_CONFIG, "unknown time zone '%s' (use UTC, an offset like +01:00, or an IANA name such as America/New_York)", text);
    out->kind = 2;
    snprintf(out->name, sizeof out->name, "%s", text);
    return QA_OK;
}

static char saved_tz[128];
static int saved_tz_set = -1; /* -1: nothing saved */

void qa_tzone_activate(const qa_tzone *tz) {
    if (tz->kind != 2) return;
    if (saved_tz_set < 0) {
        const char *cur = getenv("TZ");
        saved_tz_set = cur != NULL;
        snprintf(saved_tz, sizeof saved_tz, "%s", cur ? cur : "");
    }
    setenv("TZ", tz->name, 1);
    tzset();
}

void qa_tzone_restore(void) {
    if (saved_tz_set < 0) return;
    if (saved_tz_set) setenv("TZ", saved_tz, 1);
    else unsetenv("TZ");
    tzset();
    saved_tz_set = -1;
}

static int digits(const char *p, int n, int *v) {
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return 0;
        x = x * 10 + (p[i] - '0');
    }
    *v = x;
    return 1;
}

int qa_days_in_month(int64_t y, int m) {
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : dm[m - 1];
}

/* Why the last qa_time_parse of this thread failed ("" after a success). */
static _Thread_local const char *g_why = "";

const char *qa_time_parse_why(void) { return g_why; }

#define RANGE_WHY ": outside the times int64 nanoseconds can hold (1677-09-21T00:12:44Z .. 2262-04-11T23:47:16Z)"

/* secs x 1e9 + frac as int64 nanoseconds, or 0 when that does not fit. */
static int to_ns(int64_t secs, int64_t frac_ns, int64_t *ns) {
    if (secs > (INT64_MAX - frac_ns) / NS_PER_S || secs < INT64_MIN / NS_PER_S) {
        g_why = RANGE_WHY;
        return 0;
    }
    *ns = secs * NS_PER_S + frac_ns;
    return 1;
}

static int parse_iso(const char *s, const qa_tzone *tz, int64_t *ns) {
    int y, mo, d, hh = 0, mi = 0, se = 0;
    int64_t frac_ns = 0;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d)) return 0;
    if (mo < 1 || mo > 12 || d < 1 || d > qa_days_in_month(y, mo)) return 0;
    const char *p = s + 10;
    int64_t days = qa_days_from_civil(y, (unsigned)mo, (unsigned)d);
    if (*p == '\0') return to_ns(days * 86400, 0, ns); /* a bare date: 00:00 UTC of that day */
    if (*p != 'T' && *p != ' ') return 0;
    p++;
    if (!digits(p, 2, &hh) || p[2] != ':' || !digits(p + 3, 2, &mi)) return 0;
    p += 5;
    if (*p == ':') {
        if (!digits(p + 1, 2, &se)) return 0;
        p += 3;
        if (*p == '.') {
            p++;
            int nd = 0;
            while (*p >= '0' && *p <= '9') {
                if (nd < 9) frac_ns = frac_ns * 10 + (*p - '0');
                nd++;
                p++;
            }
            if (nd == 0) return 0;
            for (int k = nd; k < 9; k++) frac_ns *= 10;
        }
    }
    if (hh > 23 || mi > 59 || se > 60) return 0;
    int64_t secs = days * 86400 + (int64_t)hh * 3600 + (int64_t)mi * 60 + se;
    if (*p == 'Z' && p[1] == '\0') {
        /* explicit UTC */
    } else if (*p == '+' || *p == '-') {
        int64_t off;
        if (!parse_offset(p, &off)) return 0;
        secs -= off;
    } else if (*p == '\0') {
        if (tz->kind == 1) {
            secs -= tz->offset_s;
        } else if (tz->kind == 2) {
            struct tm tm = {0};
            tm.tm_year = y - 1900;
            tm.tm_mon = mo - 1;
            tm.tm_mday = d;
            tm.tm_hour = hh;
            tm.tm_min = mi;
            tm.tm_sec = se;
            tm.tm_isdst = -1;
            time_t t = mktime(&tm);
            if (t == (time_t)-1 && !(tm.tm_year == 69)) return 0;
            secs = (int64_t)t;
        }
    } else {
        return 0;
    }
    return to_ns(secs, frac_ns, ns);
}

int qa_time_parse(const char *text, qa_time_format fmt, const qa_tzone *tz, int64_t *ns) {
    g_why = "";
    if (fmt == QA_TIME_ISO) return parse_iso(text, tz, ns);
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end != '\0') return 0;
    static const int64_t scale[] = {0, NS_PER_S, 1000000, 1000, 1};
    int64_t k = scale[fmt];
    if (errno == ERANGE || v > INT64_MAX / k || v < INT64_MIN / k) {
        g_why = RANGE_WHY;
        return 0;
    }
    *ns = (int64_t)v * k;
    return 1;
}

char *qa_time_format_iso(int64_t ns, char *buf, size_t size) {
    /* Floor divisions without negating (-INT64_MIN overflows: found by fuzz_store). */
    int64_t secs = ns / NS_PER_S - (ns % NS_PER_S < 0);
    int64_t days = secs / 86400 - (secs % 86400 < 0);
    int64_t rem = secs - days * 86400;
    int64_t y;
    unsigned m, d;
    qa_civil_from_days(days, &y, &m, &d);
    if (rem == 0 && ns % NS_PER_S == 0)
        snprintf(buf, size, "%04lld-%02u-%02u", (long long)y, m, d);
    else
        snprintf(buf, size, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", (long long)y, m, d, (long long)(rem / 3600),
                 (long long)(rem / 60 % 60), (long long)(rem % 60));
    return buf;
}
