/* Data-parallel gradient synchronisation for `qa train` (contract in train_internal.h):
 * MPI on the CPU, NCCL between GPUs (bucketed allreduce on a second stream, started by
 * the backward pass as gradients become final), and a deterministic mode that gathers
 * every shard's gradient and averages them in shard order. */
#include "pipeline/train/train_internal.h"

#include <limits.h>  /* INT_MAX */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, malloc, free */

#include "mpi/nccl.h" /* NCCL communicator over MPI */


struct qa_train_dp {
    qa_nn_ctx_t *ctx;
    qa_backend_t *be;
    const qa_comm_t *comm;
    int M, R, local, det, cuda;
    size_t P;
    qa_buf g;    /* deterministic: local x P (one gradient per local shard); reduce: P */
    qa_buf gall; /* deterministic with R > 1: M x P */
    qa_buf mean; /* P: the averaged gradient */
    qa_buf ones; /* M floats of 1 */
    float *host; /* CUDA without NCCL and R > 1: host staging ((local + M) x P) */
    qa_nccl_t *nccl;
    int overlap;
    size_t bucket, launched_from;
    int nbuckets;
    qa_nccl_overlap_t *ov; /* overlapped bucket reductions (NCCL, non-deterministic mode) */
    char desc[160];
};

void qa_train_dp_free(qa_train_dp *dp) {
    if (!dp) return;
    if (dp->be) qa_backend_sync(dp->be);
    qa_nccl_overlap_free(dp->ov);
    qa_nccl_free(dp->nccl);
    qa_buf_free(&dp->g);
    qa_buf_free(&dp->gall);
    qa_buf_free(&dp->mean);
    qa_buf_free(&dp->ones);
    free(dp->host);
    free(dp);
}

qa_status qa_train_dp_create(qa_nn_ctx_t *ctx, const qa_comm_t *comm, int shards, int deterministic, size_t nparams,
                             double bucket_mb, qa_train_dp **out) {
    int R = qa_comm_size(comm);
    if (shards < 1 || shards % R != 0)
        return QA_FAIL(QA_ERR_CONFIG, "%d data shards cannot be split evenly over %d ranks", shards, R);
    if (nparams == 0 || nparams > (size_t)INT_MAX / (size_t)shards)
        return QA_FAIL(QA_ERR_LIMIT, "%zu parameters x %d shards is too large for one gradient GEMM", nparams, shards);
    qa_train_dp *dp = calloc(1, sizeof *dp);
    if (!dp) return QA_FAIL(QA_ERR_NOMEM, "dp");
    qa_status st = QA_OK;
    dp->ctx = ctx;
    dp->be = qa_nn_ctx_backend(ctx);
    dp->comm = comm;
    dp->M = shards;
    dp->R = R;
    dp->local = shards / R;
    dp->det = deterministic;
    dp->P = nparams;
    dp->cuda = qa_backend_kind_of(dp->be) == QA_BACKEND_CUDA;
    const size_t P = nparams, fb = sizeof(float);
    QA_TRY(qa_buf_alloc(dp->be, (dp->det ? (size_t)dp->local : 1) * P * fb, &dp->g));
    if (dp->det && R > 1) QA_TRY(qa_buf_alloc(dp->be, (size_t)dp->M * P * fb, &dp->gall));
    QA_TRY(qa_buf_alloc(dp->be, P * fb, &dp->mean));
    QA_TRY(qa_buf_alloc(dp->be, (size_t)dp->M * fb, &dp->ones));
    {
        float one[QA_TRAIN_MAX_SHARDS];
        for (int i = 0; i < QA_TRAIN_MAX_SHARDS; i++) one[i] = 1.0f;
        if (dp->M > QA_TRAIN_MAX_SHARDS)
            QA_TRY_FAIL(QA_ERR_LIMIT, "%d shards (at most %d)", dp->M, QA_TRAIN_MAX_SHARDS);
        QA_TRY(qa_buf_upload(dp->be, &dp->ones, 0, one, (size_t)dp->M * fb));
    }
    const char *how = "one rank, no communication";
    if (R > 1 && dp->cuda && qa_nccl_compiled()) {
        QA_TRY(qa_nccl_create(comm, &dp->nccl));
        how = dp->det ? "NCCL allgather in shard order" : "NCCL allreduce";
    } else if (R > 1 && dp->cuda) {
        dp->host = malloc(((size_t)dp->local + (size_t)dp->M) * P * fb);
        if (!dp->host) QA_TRY_FAIL(QA_ERR_NOMEM, "dp staging");
        how = dp->det ? "MPI allgather through host memory (no NCCL in this build)"
                      : "MPI allreduce through host memory (no NCCL in this build)";
    } else if (R > 1) {
        how = dp->det ? "MPI allgather in shard order" : "MPI allreduce";
    }
    if (dp->nccl && !dp->det) {
        dp->overlap = 1;
        double mb = bucket_mb > 0.0 ? bucket_mb : 4.0;
        dp->bucket = (size_t)(mb * 1048576.0 / (double)fb);
        if (dp->bucket < 1) dp->bucket = 1;
        QA_TRY(qa_nccl_overlap_create(dp->nccl, qa_backend_stream(dp->be), &dp->ov));
    }
    snprintf(dp->desc, sizeof dp->desc, "%s%s; %d shard(s), %d per rank", how,
             dp->overlap ? ", bucketed and overlapped with the backward pass" : "", dp->M, dp->local);
    *out = dp;
    return QA_OK;
cleanup:
    qa_train_dp_free(dp);
    return st;
}

float *qa_train_dp_grad(qa_train_dp *dp, int j) {
    float *g = dp->g.ptr;
    return dp->det ? g + (size_t)j * dp->P : g;
}

int qa_train_dp_accumulate(const qa_train_dp *dp, int j) { return !dp->det && j > 0; }

const char *qa_train_dp_describe(const qa_train_dp *dp) { return dp->desc; }

void qa_train_dp_begin(qa_train_dp *dp) {
    dp->launched_from = dp->P;
    dp->nbuckets = 0;
}

/* Allreduce of grad[lo, launched_from) on the comm stream once the compute stream has
 * produced it. */
static qa_status launch(qa_train_dp *dp, size_t lo) {
    float *g = dp->g.ptr;
    qa_status st = qa_nccl_overlap_launch(dp->ov, g + lo, dp->launched_from - lo);
    if (st != QA_OK) return st;
    dp->launched_from = lo;
    dp->nbuckets++;
    return QA_OK;
}

static qa_status hook(void *user, size_t first) {
    qa_train_dp *dp = user;
    if (first < dp->launched_from && (dp->launched_from - first >= dp->bucket || first == 0)) return launch(dp, first);
    return QA_OK;
}

qa_train_grad_ready_fn qa_train_dp_hook(const qa_train_dp *dp) { return dp->overlap ? hook : NULL; }

qa_status qa_train_dp_finish(qa_train_dp *dp, const float **grad) {
    qa_status st = QA_OK;
    const size_t P = dp->P, fb = sizeof(float);
    const float *G = dp->g.ptr;
    int K = 1;
    if (dp->det) {
        K = dp->M;
        if (dp->R > 1) {
            G = dp->gall.ptr;
            size_t bytes = (size_t)dp->local * P * fb;
            if (dp->nccl) {
                QA_TRY(qa_nccl_allgather_f32(dp->nccl, dp->g.ptr, dp->gall.ptr, (size_t)dp->local * P,
                                             qa_backend_stream(dp->be)));
            } else if (dp->host) {
                float *mine = dp->host, *all = dp->host + (size_t)dp->local * P;
                QA_TRY(qa_buf_download(dp->be, mine, &dp->g, 0, bytes));
                QA_TRY(qa_comm_allgather(dp->comm, mine, bytes, all));
                QA_TRY(qa_buf_upload(dp->be, &dp->gall, 0, all, (size_t)dp->M * P * fb));
            } else {
                QA_TRY(qa_comm_allgather(dp->comm, dp->g.ptr, bytes, dp->gall.ptr));
            }
        }
    } else if (dp->R > 1) {
        if (dp->nccl) {
            if (dp->launched_from > 0) QA_TRY(launch(dp, 0));
            QA_TRY(qa_nccl_overlap_join(dp->ov));
        } else if (dp->host) {
            QA_TRY(qa_buf_download(dp->be, dp->host, &dp->g, 0, P * fb));
            QA_TRY(qa_comm_allreduce_sum_f32(dp->comm, dp->host, P));
            QA_TRY(qa_buf_upload(dp->be, &dp->g, 0, dp->host, P * fb));
        } else {
            QA_TRY(qa_comm_allreduce_sum_f32(dp->comm, dp->g.ptr, P));
        }
    }
    /* mean = (1/M) * ones[1 x K] * G[K x P]: the K shard (or one summed) gradients added in
     * order by one GEMM, scaled once. */
    QA_TRY(qa_nn_gemm(dp->ctx, 0, 0, 1, (int)P, K, (float)(1.0 / dp->M), dp->ones.ptr, K, G, (int)P, 0.0f,
                      dp->mean.ptr, (int)P));
    *grad = dp->mean.ptr;
cleanup:
    return st;
}
