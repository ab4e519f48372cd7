/* Process context: MPI rank and size, rank within the node, and the GPU chosen for it.
 *
 * Works unchanged as one process (no mpirun: a singleton, rank 0 of 1), under
 * `mpirun -np N` and under `srun --mpi=pmix`. In builds without MPI (QA_MPI=OFF) every
 * collective is the identity on one rank. Collectives must be called by all ranks.
 *
 * Every function accepts a NULL context: one process (rank 0 of 1, local rank 0 of 1, no
 * GPU assigned by rank), every collective the identity. Library code passes the
 * communicator it was given straight through, without testing it. */
#ifndef QA_MPI_COMM_H
#define QA_MPI_COMM_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int64_t */

#include "common/status.h"

#ifdef QA_HAVE_MPI
#include <mpi.h>  /* MPI_Comm */
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_comm qa_comm_t;

/* Initialises MPI if nobody has (MPI_THREAD_FUNNELED), learns rank/size/local rank,
 * sets the log rank prefix and picks the GPU `local_rank % gpus` (-1 when none).
 * Caller frees with qa_comm_free, which finalises MPI if this call initialised it. */
qa_status qa_comm_create(int *argc, char ***argv, qa_comm_t **out);
void qa_comm_free(qa_comm_t *c);
/* Splits `c` into groups by color (MPI_Comm_split, ranks ordered as in c): each rank
 * gets the context of its group, or NULL when color < 0. Collective over c. The result
 * is freed with qa_comm_free (MPI stays initialised). Used to run a computation on
 * fewer ranks inside one MPI job (e.g. tests comparing rank counts). */
qa_status qa_comm_split(const qa_comm_t *c, int color, qa_comm_t **out);

int qa_comm_rank(const qa_comm_t *c);
int qa_comm_size(const qa_comm_t *c);
int qa_comm_local_rank(const qa_comm_t *c);
int qa_comm_local_size(const qa_comm_t *c);
/* CUDA device for this rank, or -1 when no GPU is usable. */
int qa_comm_device(const qa_comm_t *c);
#ifdef QA_HAVE_MPI
/* The MPI communicator of c, for libraries that take one (parallel HDF5's MPI-IO driver);
 * MPI_COMM_SELF for NULL or a process started without a launcher. */
MPI_Comm qa_comm_mpi(const qa_comm_t *c);
#endif
/* 1 when built with MPI. */
int qa_comm_mpi_compiled(void);
/* MPI library version text ("Open MPI v4.1.4, ..."), or "none". */
const char *qa_comm_library_version(char *buf, size_t size);

qa_status qa_comm_barrier(const qa_comm_t *c);
qa_status qa_comm_bcast(const qa_comm_t *c, void *buf, size_t bytes, int root);
qa_status qa_comm_allreduce_sum_f64(const qa_comm_t *c, double *inout, size_t n);
qa_status qa_comm_allreduce_sum_i64(const qa_comm_t *c, int64_t *inout, size_t n);
/* In-place float sum (gradients of data-parallel training). MPI's summation order is
 * the library's; use qa_comm_allgather and add in rank order where bits must not
 * depend on the rank count. */
qa_status qa_comm_allreduce_sum_f32(const qa_comm_t *c, float *inout, size_t n);
qa_status qa_comm_allreduce_max_i64(const qa_comm_t *c, int64_t *inout, size_t n);
qa_status qa_comm_allreduce_min_f64(const qa_comm_t *c, double *inout, size_t n);
qa_status qa_comm_allreduce_max_f64(const qa_comm_t *c, double *inout, size_t n);
/* Gathers `bytes` from every rank (sizes may differ) into a malloc'd buffer on `root`,
 * rank-ordered, with per-rank sizes in *counts (malloc'd, size entries). Other ranks
 * get NULLs. Caller frees both. */
qa_status qa_comm_gatherv(const qa_comm_t *c, const void *buf, size_t bytes, int root,
                          void **all, size_t **counts);
/* Every rank sends the same number of `bytes` from `send`; every rank receives all
 * blocks in rank order into `recv` (size * bytes; must not overlap `send`). */
qa_status qa_comm_allgather(const qa_comm_t *c, const void *send, size_t bytes, void *recv);
/* Every rank learns the most severe status any rank had: if one rank failed, all
 * return that failure (QA_ERR_MPI ... or the rank's own code), so no rank waits forever
 * in a later collective. The failing rank keeps its own error text; others get
 * "rank R failed". */
qa_status qa_comm_agree(const qa_comm_t *c, qa_status local);
/* Aborts all ranks (only for main/tools after an unrecoverable error). */
void qa_comm_abort(const qa_comm_t *c, int code);

#ifdef __cplusplus
}
#endif
#endif
