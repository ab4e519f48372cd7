/* Deterministic block shard plans: which contiguous range of n items each of `parts`
 * workers owns. The first n % parts parts get one extra item, so sizes differ by at
 * most one and the plan depends only on (n, parts, index). */
#ifndef QA_MPI_SHARD_H
#define QA_MPI_SHARD_H

#include <stddef.h>  /* size_t */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_shard {
    size_t begin;      /* first owned item */
    size_t end;        /* one past the last owned item */
    size_t read_begin; /* first item to read: begin minus the look-back halo, clipped at 0 */
} qa_shard;

/* Range of part `index` (0 <= index < parts) of n items. */
qa_shard qa_shard_block(size_t n, int parts, int index);
/* Same, plus a look-back halo of `halo` items that rolling windows need to compute the
 * first owned item exactly as a single pass would. */
qa_shard qa_shard_block_halo(size_t n, int parts, int index, size_t halo);
/* Which part owns item i (inverse of qa_shard_block). */
int qa_shard_owner(size_t n, int parts, size_t i);

#ifdef __cplusplus
}
#endif
#endif
