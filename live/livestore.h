/* The live HDF5 store (docs/live.md, "Live store"): every bar the collector accepted,
 * on the grid of the timestamps the service closed, as an ordinary market file
 * (<state_dir>/live.h5, format quantumalpha.market) that every batch command reads:
 * `qa data info`, `qa features`, `qa sweep`, `qa predict`.
 *
 * Crash safety: the file is only ever replaced whole, by qa_store_create's temporary
 * sibling and an atomic rename, fsync'd with its directory, at each service checkpoint
 * (before the checkpoint row is saved), so a kill leaves the previous complete file or the
 * new one, never a torn one, and the file is never behind the checkpoint.
 * On restart the file is read back and cut at the checkpoint's last closed timestamp; the
 * bars after it are accepted again when the service replays them. The cost of a commit
 * is a rewrite of the whole file (O(timestamps x symbols)), so it suits a session or a
 * replay, not years of ticks in one file. */
#ifndef QA_LIVE_LIVESTORE_H
#define QA_LIVE_LIVESTORE_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"
#include "datasets/store.h" /* qa_store_meta */
#include "live/msg.h"       /* qa_msg_bar */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_livestore qa_livestore_t;

/* Opens <dir>/live.h5 for the universe (its symbols and metadata), keeping the bars of
 * timestamps <= upto from an existing file (which must hold the same symbols). */
qa_status qa_livestore_open(const char *dir, const qa_store_meta *meta, size_t nsym, const char *const *symbols,
                            int64_t upto, qa_livestore_t **out);
void qa_livestore_free(qa_livestore_t *s);
/* One closed timestamp: the accepted bars (present[s] = 0: NaN). */
qa_status qa_livestore_append(qa_livestore_t *s, int64_t time, const qa_msg_bar *bars, const unsigned char *present);
/* Rewrites the file when anything was appended since the last commit. */
qa_status qa_livestore_commit(qa_livestore_t *s);

#ifdef __cplusplus
}
#endif
#endif
