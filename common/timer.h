/* Monotonic clock and wall-clock stamps. */
#ifndef QA_COMMON_TIMER_H
#define QA_COMMON_TIMER_H

#include <stdint.h>  /* uint64_t */

#ifdef __cplusplus
extern "C" {
#endif

/* Nanoseconds on CLOCK_MONOTONIC: only differences mean anything. */
uint64_t qa_time_ns(void);
/* Seconds since `start_ns` (a qa_time_ns() value). */
double qa_time_since(uint64_t start_ns);
/* Current UTC time as "2026-11-24T05:00:00Z" into buf (>= 21 bytes). */
void qa_time_utc_iso(char *buf, unsigned long size);
/* Peak resident set size of this process in bytes (VmHWM), 0 if unknown. */
uint64_t qa_peak_rss_bytes(void);

#ifdef __cplusplus
}
#endif
#endif
