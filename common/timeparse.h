/* Timestamps in market files: UTC nanoseconds since 1970-01-01T00:00:00Z (int64).
 *
 * Parses ISO 8601 dates and date-times ("2020-03-16", "2026-01-26T14:30:00Z",
 * "2026-01-26 09:30:00", "2024-06-10T09:30:00.123-04:00") and integer epochs (s, ms,
 * us, ns). A date-time without an offset is local time in the configured zone: "UTC",
 * a fixed offset ("+01:00"), or an IANA name ("America/New_York", from the system's tz
 * database, DST-aware). A bare date is 00:00 UTC of that day (daily bars are keyed by
 * their trading date). */
#ifndef QA_COMMON_TIMEPARSE_H
#define QA_COMMON_TIMEPARSE_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qa_time_format {
    QA_TIME_ISO = 0,
    QA_TIME_EPOCH_S = 1,
    QA_TIME_EPOCH_MS = 2,
    QA_TIME_EPOCH_US = 3,
    QA_TIME_EPOCH_NS = 4,
    QA_TIME_FORMAT_COUNT = 5
} qa_time_format;

/* NULL-terminated names: "iso", "epoch_s", "epoch_ms", "epoch_us", "epoch_ns". */
extern const char *const qa_time_format_names[];

typedef struct qa_tzone {
    int kind;             /* 0 UTC, 1 fixed offset, 2 IANA zone */
    int64_t offset_s;     /* fixed offset east of UTC */
    char name[64];
} qa_tzone;

/* Parses "UTC", "Z", "+01:00", "-0500" or an IANA zone name (checked against
 * /usr/share/zoneinfo). */
qa_status qa_tzone_parse(const char *text, qa_tzone *out);
/* Makes `tz` the process's local zone for naive timestamps (sets TZ; not thread-safe:
 * call before parsing threads start). qa_tzone_restore undoes it. */
void qa_tzone_activate(const qa_tzone *tz);
void qa_tzone_restore(void);

/* Parses one timestamp. Returns 1 and sets *ns on success, 0 if malformed or outside the
 * range of int64 nanoseconds since the epoch (1677-09-21 .. 2262-04-11): a time is never
 * wrapped into another one. */
int qa_time_parse(const char *text, qa_time_format fmt, const qa_tzone *tz, int64_t *ns);
/* Why this thread's last qa_time_parse failed beyond "malformed" (the range), ready to
 * append to an error message (": outside the times ..."); "" when there is nothing to add. */
const char *qa_time_parse_why(void);

/* Days since 1970-01-01 of a proleptic Gregorian date (exact for all int years). */
int64_t qa_days_from_civil(int64_t y, unsigned m, unsigned d);
/* Its inverse: the date of day z since 1970-01-01 (negative before). */
void qa_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);
/* Days in month m (1..12) of year y, leap years included. */
int qa_days_in_month(int64_t y, int m);
/* Formats `ns` as "2020-03-16" when it is midnight UTC, else "2026-01-26T14:30:00Z". */
char *qa_time_format_iso(int64_t ns, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
