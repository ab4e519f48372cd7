/* NCCL bootstrap over MPI (ncclGetUniqueId on rank 0, MPI_Bcast, ncclCommInitRank). */
#include "mpi/nccl.h"

#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc */

#if defined(QA_HAVE_NCCL) && defined(QA_HAVE_MPI)
#include <cuda_runtime_api.h>  /* cudaSetDevice */
#include <nccl.h>              /* the NCCL library */

#include "kernels/check.h"   /* QA_CUDA_CHECK, QA_NCCL_CHECK */
#include "kernels/cudalib.h" /* NCCL is opened on first use, not at start-up */


struct qa_nccl {
    ncclComm_t comm;
};

int qa_nccl_compiled(void) { return 1; }

const char *qa_nccl_version(char *buf, size_t size) {
    int v = 0;
    if (qa_cudalib_load(QA_CUDALIB_NCCL) != QA_OK) {
        snprintf(buf, size, "not loadable (%s)", qa_err_msg());
        qa_err_clear();
        return buf;
    }
    if (ncclGetVersion(&v) == ncclSuccess)
        snprintf(buf, size, "%d.%d.%d", v / 10000, (v / 100) % 100, v % 100);
    else
        snprintf(buf, size, "unknown");
    return buf;
}

qa_status qa_nccl_create(const qa_comm_t *c, qa_nccl_t **out) {
    int dev = qa_comm_device(c);
    /* Every rank must agree before the collective id exchange, or some would wait. */
    qa_status st = qa_comm_agree(c, dev < 0 ? QA_FAIL(QA_ERR_NO_DEVICE, "NCCL needs a GPU per rank")
                                            : qa_cudalib_load(QA_CUDALIB_NCCL));
    if (st != QA_OK) return st;
    ncclUniqueId id;
    if (qa_comm_rank(c) == 0) QA_NCCL_CHECK(ncclGetUniqueId(&id));
    st = qa_comm_bcast(c, &id, sizeof id, 0);
    if (st != QA_OK) return st;
    QA_CUDA_CHECK(cudaSetDevice(dev));
    qa_nccl_t *n = calloc(1, sizeof *n);
    if (!n) return QA_FAIL(QA_ERR_NOMEM, "nccl");
    ncclResult_t r = ncclCommInitRank(&n->comm, qa_comm_size(c), id, qa_comm_rank(c));
    if (r != ncclSuccess) {
        free(n);
        return QA_FAIL(QA_ERR_CUDA, "ncclCommInitRank (rank %d of %d, GPU %d): %s", qa_comm_rank(c),
                       qa_comm_size(c), dev, ncclGetErrorString(r));
    }
    *out = n;
    return QA_OK;
}

qa_status qa_nccl_allreduce_sum_f32(qa_nccl_t *n, float *dev, size_t count, void *cuda_stream) {
    QA_NCCL_CHECK(ncclAllReduce(dev, dev, count, ncclFloat32, ncclSum, n->comm, (cudaStream_t)cuda_stream));
    return QA_OK;
}

qa_status qa_nccl_allreduce_sum_f64(qa_nccl_t *n, double *dev, size_t count, void *cuda_stream) {
    QA_NCCL_CHECK(ncclAllReduce(dev, dev, count, ncclFloat64, ncclSum, n->comm, (cudaStream_t)cuda_stream));
    return QA_OK;
}

qa_status qa_nccl_allgather_f32(qa_nccl_t *n, const float *send, float *recv, size_t count, void *cuda_stream) {
    QA_NCCL_CHECK(ncclAllGather(send, recv, count, ncclFloat32, n->comm, (cudaStream_t)cuda_stream));
    return QA_OK;
}

void qa_nccl_free(qa_nccl_t *n) {
    if (!n) return;
    ncclCommDestroy(n->comm);
    free(n);
}

struct qa_nccl_overlap {
    qa_nccl_t *n;
    cudaStream_t compute, comm; /* comm: non-blocking, so it never serialises with stream 0 */
    cudaEvent_t ready, done;
};

qa_status qa_nccl_overlap_create(qa_nccl_t *n, void *compute_stream, qa_nccl_overlap_t **out) {
    *out = NULL;
    qa_nccl_overlap_t *o = calloc(1, sizeof *o);
    if (!o) return QA_FAIL(QA_ERR_NOMEM, "nccl overlap");
    o->n = n;
    o->compute = (cudaStream_t)compute_stream;
    qa_status st = QA_OK;
    QA_CUDA_TRY(cudaStreamCreateWithFlags(&o->comm, cudaStreamNonBlocking));
    QA_CUDA_TRY(cudaEventCreateWithFlags(&o->ready, cudaEventDisableTiming));
    QA_CUDA_TRY(cudaEventCreateWithFlags(&o->done, cudaEventDisableTiming));
    *out = o;
    return QA_OK;
cleanup:
    qa_nccl_overlap_free(o);
    return st;
}

qa_status qa_nccl_overlap_launch(qa_nccl_overlap_t *o, float *dev, size_t count) {
    QA_CUDA_CHECK(cudaEventRecord(o->ready, o->compute));
    QA_CUDA_CHECK(cudaStreamWaitEvent(o->comm, o->ready, 0));
    return qa_nccl_allreduce_sum_f32(o->n, dev, count, o->comm);
}

qa_status qa_nccl_overlap_join(qa_nccl_overlap_t *o) {
    QA_CUDA_CHECK(cudaEventRecord(o->done, o->comm));
    QA_CUDA_CHECK(cudaStreamWaitEvent(o->compute, o->done, 0));
    return QA_OK;
}

void qa_nccl_overlap_free(qa_nccl_overlap_t *o) {
    if (!o) return;
    if (o->comm) {
        cudaStreamSynchronize(o->comm);
        cudaStreamDestroy(o->comm);
    }
    if (o->ready) cudaEventDestroy(o->ready);
    if (o->done) cudaEventDestroy(o->done);
    free(o);
}

#else /* no NCCL in this build */

struct qa_nccl {
    int unused;
};

int qa_nccl_compiled(void) { return 0; }

const char *qa_nccl_version(char *buf, size_t size) {
    snprintf(buf, size, "none");
    return buf;
}

qa_status qa_nccl_create(const qa_comm_t *c, qa_nccl_t **out) {
    (void)c;
    *out = NULL;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no NCCL (needs CUDA, NCCL and MPI)");
}

qa_status qa_nccl_allreduce_sum_f32(qa_nccl_t *n, float *dev, size_t count, void *cuda_stream) {
    (void)n, (void)dev, (void)count, (void)cuda_stream;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no NCCL");
}

qa_status qa_nccl_allreduce_sum_f64(qa_nccl_t *n, double *dev, size_t count, void *cuda_stream) {
    (void)n, (void)dev, (void)count, (void)cuda_stream;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no NCCL");
}

qa_status qa_nccl_allgather_f32(qa_nccl_t *n, const float *send, float *recv, size_t count, void *cuda_stream) {
    (void)n, (void)send, (void)recv, (void)count, (void)cuda_stream;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no NCCL");
}

void qa_nccl_free(qa_nccl_t *n) { free(n); }

struct qa_nccl_overlap {
    int unused;
};

qa_status qa_nccl_overlap_create(qa_nccl_t *n, void *compute_stream, qa_nccl_overlap_t **out) {
    (void)n, (void)compute_stream;
    *out = NULL;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no NCCL");
}

qa_status qa_nccl_overlap_launch(qa_nccl_overlap_t *o, float *dev, size_t count) {
    (void)o, (void)dev, (void)count;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no NCCL");
}

qa_status qa_nccl_overlap_join(qa_nccl_overlap_t *o) {
    (void)o;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no NCCL");
}

void qa_nccl_overlap_free(qa_nccl_overlap_t *o) { free(o); }
#endif
