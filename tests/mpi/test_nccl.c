/* NCCL bootstrap over MPI and an all-reduce on the GPU: every rank contributes
 * (rank + 1) * i, so the sum is size(size+1)/2 * i. Skipped without a GPU or NCCL. */
#include <stdlib.h>

#include "harness.h"
#include "kernels/backend.h"
#include "mpi/comm.h"
#include "mpi/nccl.h"

int main(int argc, char **argv) {
    if (!qa_nccl_compiled()) qa_test_skip("this build has no NCCL");
    int gpus = 0;
    qa_cuda_device_count(&gpus);
    if (gpus == 0) qa_test_skip("no CUDA device is available");
    qa_comm_t *comm = NULL;
    if (qa_comm_create(&argc, &argv, &comm) != QA_OK) return 1;
    if (qa_comm_size(comm) > gpus) {
        qa_comm_free(comm);
        qa_test_skip("fewer GPUs than ranks (NCCL needs one GPU per rank)");
    }
    qa_backend_t *be = NULL;
    qa_nccl_t *nccl = NULL;
    const size_t n = 1 << 20;
    double *host = malloc(n * sizeof *host);
    qa_buf buf = {0};
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CUDA, qa_comm_device(comm), &be));
    QA_CHECK_OK(qa_nccl_create(comm, &nccl));
    for (size_t i = 0; i < n; i++) host[i] = (double)(qa_comm_rank(comm) + 1) * (double)i;
    QA_CHECK_OK(qa_buf_alloc(be, n * sizeof *host, &buf));
    QA_CHECK_OK(qa_buf_upload(be, &buf, 0, host, n * sizeof *host));
    QA_CHECK_OK(qa_nccl_allreduce_sum_f64(nccl, buf.ptr, n, qa_backend_stream(be)));
    QA_CHECK_OK(qa_buf_download(be, host, &buf, 0, n * sizeof *host));
    int s = qa_comm_size(comm);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += host[i] != (double)(s * (s + 1) / 2) * (double)i;
    QA_CHECK_INT(bad, 0);
    qa_buf_free(&buf);
    qa_nccl_free(nccl);
    qa_backend_free(be);
    free(host);
    int rc = qa_test_finish();
    qa_comm_free(comm);
    return rc;
}
