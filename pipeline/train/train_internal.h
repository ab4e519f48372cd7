/* Pieces of the training pipeline shared by train.c, train_dp.c and evaluate.c (not a
 * public API): batch staging to the backend, the rank-invariant loss over a row list,
 * and the data-parallel gradient synchronisation. */
#ifndef QA_PIPELINE_TRAIN_INTERNAL_H
#define QA_PIPELINE_TRAIN_INTERNAL_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int32_t, uint32_t */

#include "common/status.h"
#include "kernels/backend.h"
#include "kernels/nn.h"
#include "mpi/comm.h"
#include "pipeline/train/train_data.h"
#include "pipeline/train/train_net.h"

/* ---- batch staging ------------------------------------------------------------------------- */

/* Backend buffers for `rows` samples (x [rows x width], y, cls) and, on CUDA, the host
 * staging they are assembled in; on the CPU the samples are gathered in place. */
typedef struct qa_train_io {
    qa_backend_t *be;
    int rows;
    size_t width; /* L * F */
    qa_buf x, y, cls;
    float *hx, *hy;  /* host views: == x.ptr / y.ptr on the CPU */
    int32_t *hcls;
    int host_owned;
} qa_train_io;

qa_status qa_train_io_init(qa_train_io *io, qa_backend_t *be, int rows, size_t width);
/* Gathers n <= rows samples (rows of d) and makes them visible to the backend. */
qa_status qa_train_io_load(qa_train_io *io, const qa_train_data *d, const uint32_t *rows, size_t n);
void qa_train_io_free(qa_train_io *io);

/* Mean loss over n rows of d without dropout, in chunks of `chunk` rows. Chunk c is
 * computed by rank c % size (comm may be NULL: one rank) and the per-chunk sums are
 * combined exactly (each rank fills only its chunks of a zeroed vector; the sum with
 * zeros is exact), then added in chunk order: the result does not depend on the rank
 * count. Collective. */
qa_status qa_train_loss_rows(qa_train_net_t *net, qa_train_io *io, const float *params, const qa_train_data *d,
                             const uint32_t *rows, size_t n, qa_train_loss loss, float huber_delta, int chunk,
                             const qa_comm_t *comm, double *mean_loss);

/* ---- data-parallel gradient synchronisation (train_dp.c) ------------------------------------------ */

/* The global batch is M shards; this rank computes `local` consecutive ones. Modes:
 *  deterministic: each local shard has its own gradient; all M are gathered (MPI
 *    allgather / NCCL allgather) in shard order and averaged by one GEMM
 *    (1/M) * ones[1 x M] * G[M x P]: identical bits for any rank count;
 *  reduce: local shards accumulate into one gradient, summed over ranks (MPI allreduce
 *    on the CPU; NCCL on GPUs, bucketed and launched on a second stream while the
 *    backward continues), then scaled by 1/M. */
#define QA_TRAIN_MAX_SHARDS 256

typedef struct qa_train_dp qa_train_dp;

qa_status qa_train_dp_create(qa_nn_ctx_t *ctx, const qa_comm_t *comm, int shards, int deterministic, size_t nparams,
                             double bucket_mb, qa_train_dp **out);
void qa_train_dp_free(qa_train_dp *dp);
/* Gradient buffer local shard j writes, and whether it accumulates into it. */
float *qa_train_dp_grad(qa_train_dp *dp, int j);
int qa_train_dp_accumulate(const qa_train_dp *dp, int j);
/* Hook for the backward of the last local shard (NULL when nothing overlaps). */
qa_train_grad_ready_fn qa_train_dp_hook(const qa_train_dp *dp);
/* Resets per-step state; call before the local shards' backward passes. */
void qa_train_dp_begin(qa_train_dp *dp);
/* Completes the reduction and returns the mean gradient over the M shards (backend). */
qa_status qa_train_dp_finish(qa_train_dp *dp, const float **grad);
/* "deterministic allgather over MPI", "NCCL allreduce, 3 buckets, overlapped", ... */
const char *qa_train_dp_describe(const qa_train_dp *dp);

/* ---- provenance (train_lineage.c) ---------------------------------------------------- */

struct qa_train_cfg;
/* Writes run_dir/lineage.json (run id, config hash, the data read with its digest, the
 * features' lineage, the split range, code and build; docs/registry.md) and
 * run_dir/predictions.h5 (panel predictions/run/best: `best`'s scores over every row of
 * d, computed by qa_predict_data, with the symbols and grid of `store`, the open market
 * file d was loaded from). best: the best parameters with the run's spec and
 * normalisation (d was loaded with them). run_id_out (17 bytes, may be NULL). Rank 0. */
qa_status qa_train_write_provenance(const char *run_dir, const struct qa_train_cfg *c, qa_store_t *store,
                                    const qa_train_data *d, const qa_model *best, const char *cfg_hash, const char *backend, int ranks,
                                    char *run_id_out);

#endif
