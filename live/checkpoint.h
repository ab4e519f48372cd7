/* The live service's checkpoint (docs/live.md, "Exactly once"): one SQLite file in the
 * state directory holding, in one row written in one transaction, everything needed to
 * continue after a crash as if it had not happened: the engine state after the last
 * closed timestamp, the input offsets to resume from and the watermarks read, the last
 * accepted bar time of every symbol, and the identity of the configuration that produced it (a checkpoint
 * made by another model, feature set or universe is refused, never silently reused).
 * Written with synchronous=FULL after the outputs it covers were acknowledged. */
#ifndef QA_LIVE_CHECKPOINT_H
#define QA_LIVE_CHECKPOINT_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_ckpt qa_ckpt_t;

typedef struct qa_ckpt_data {
    char identity[256];  /* what produced it: universe, features lineage, model digest */
    int64_t closed_time; /* last processed timestamp (INT64_MIN: none) */
    long long times;     /* timestamps processed */
    int nparts;
    int64_t *offsets;    /* [nparts] next input offset per partition (-1: beginning) */
    int64_t *watermarks; /* [nparts] highest watermark read per partition (INT64_MIN: none):
                            a partition with no bars after its offset still closes times */
    size_t nsym;
    int64_t *last_seen;  /* [nsym] last accepted bar time per symbol (INT64_MIN: none) */
    size_t ndoubles;
    double *state;       /* [ndoubles] the engine state */
} qa_ckpt_data;

/* Opens or creates <dir>/live.db (the directory is created). */
qa_status qa_ckpt_open(const char *dir, qa_ckpt_t **out);
void qa_ckpt_close(qa_ckpt_t *c);
/* Loads the checkpoint into d, whose arrays the caller sized (nparts, nsym, ndoubles
 * and identity set): *found 0 when there is none. QA_ERR_STATE when it was made by
 * another identity or with other sizes (naming both). */
qa_status qa_ckpt_load(qa_ckpt_t *c, qa_ckpt_data *d, int *found);
/* Replaces the checkpoint atomically (one transaction, fsync'd). */
qa_status qa_ckpt_save(qa_ckpt_t *c, const qa_ckpt_data *d);

#ifdef __cplusplus
}
#endif
#endif
