/* NCCL communicators bootstrapped over MPI: rank 0 creates the unique id and
 * broadcasts it with MPI; every rank then joins on its own GPU. Only in builds with
 * CUDA, NCCL and MPI; elsewhere qa_nccl_create returns QA_ERR_UNSUPPORTED. */
#ifndef QA_MPI_NCCL_H
#define QA_MPI_NCCL_H

#include <stddef.h>  /* size_t */

#include "common/status.h"
#include "mpi/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_nccl qa_nccl_t;

int qa_nccl_compiled(void);
/* "2.28.9" or "none". */
const char *qa_nccl_version(char *buf, size_t size);
/* Collective over all ranks of `c`; each rank uses qa_comm_device(c). */
qa_status qa_nccl_create(const qa_comm_t *c, qa_nccl_t **out);
/* In-place sum over ranks of n floats/doubles in device memory, on `cuda_stream`. */
qa_status qa_nccl_allreduce_sum_f32(qa_nccl_t *n, float *dev, size_t count, void *cuda_stream);
qa_status qa_nccl_allreduce_sum_f64(qa_nccl_t *n, double *dev, size_t count, void *cuda_stream);
/* Gathers `count` floats from every rank into recv (size * count, rank order), on
 * `cuda_stream`. */
qa_status qa_nccl_allgather_f32(qa_nccl_t *n, const float *send, float *recv, size_t count, void *cuda_stream);
void qa_nccl_free(qa_nccl_t *n);

/* Allreduce overlapped with compute: pieces of a device buffer are summed over ranks on a
 * communication stream of its own as soon as the compute stream has produced them, while
 * the compute stream goes on (data-parallel training reduces gradient buckets during the
 * backward pass this way). The streams and events live here, not in the callers. */
typedef struct qa_nccl_overlap qa_nccl_overlap_t;

/* compute_stream: the CUDA stream producing the data (the backend's). */
qa_status qa_nccl_overlap_create(qa_nccl_t *n, void *compute_stream, qa_nccl_overlap_t **out);
/* Sums dev[0, count) over ranks once the work queued so far on the compute stream is done;
 * returns at once. */
qa_status qa_nccl_overlap_launch(qa_nccl_overlap_t *o, float *dev, size_t count);
/* Makes the compute stream wait for every reduction launched so far (the host does not
 * wait). */
qa_status qa_nccl_overlap_join(qa_nccl_overlap_t *o);
/* Waits for the reductions in flight, then frees. Accepts NULL. */
void qa_nccl_overlap_free(qa_nccl_overlap_t *o);

#ifdef __cplusplus
}
#endif
#endif
