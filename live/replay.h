/* `qa replay`: publishes a market file's history on `market.data` in event-time order,
 * so the whole live path runs on real data anywhere (docs/live.md, "Replay").
 *
 * For each timestamp of the file's grid in [start, end): one bar message per symbol
 * with a close (keyed by symbol; id = t x S + s, the bar's place in the file, so a
 * consumer can tell replays of the same bar apart from new ones), then one watermark
 * per partition saying every bar up to that time has been sent there, which lets a
 * consumer close the timestamp (cross-sectional features need all of it) without
 * waiting on a clock. Pacing: speed 0 sends as fast as the bus takes it; speed N sends
 * one timestamp every bar_seconds / N seconds of wall time (calendar gaps such as
 * nights are not waited out).
 *
 * With a document store (alt_db), the documents of the replayed range go to `alt.data` in
 * the order they became available (datasets/altalign.h's clock on the market file's
 * calendar), one message per (document, ticker) keyed by the ticker; after each
 * timestamp's bars come the documents available before that bar's close, then one
 * watermark per alt.data partition, so a consumer knows every document of the bar has
 * arrived when it closes the timestamp. */
#ifndef QA_LIVE_REPLAY_H
#define QA_LIVE_REPLAY_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"
#include "live/bus.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_replay_opts {
    const char *data;  /* market file */
    double speed;      /* 0 = as fast as possible; N = N x real time */
    int64_t start;     /* UTC ns; INT64_MIN = the first bar */
    int64_t end;       /* exclusive; INT64_MAX = after the last bar */
    long max_times;    /* stop after this many timestamps (0 = no limit) */
    int progress;      /* log progress lines */
    const char *alt_db;     /* document store (qa alt import); NULL: bars only */
    const char *alt_source; /* its source to replay ("stocknet"); NULL: every source */
} qa_replay_opts;

typedef struct qa_replay_report {
    size_t times, bars, watermarks, docs;
    double seconds;
    double msgs_per_s;
} qa_replay_report;

qa_status qa_replay_run(const qa_bus_cfg *cfg, const qa_replay_opts *o, qa_replay_report *rep);

#ifdef __cplusplus
}
#endif
#endif
