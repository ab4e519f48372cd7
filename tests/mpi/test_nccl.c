/* NCCL bootstrap over MPI and an all-reduce on the GPU, on 2 or more ranks (registered as
 * test_nccl_2: one rank proves nothing, since an all-reduce that does nothing leaves a
 * single rank's data right). Rank r contributes 2^r * (i + 1) at element i, so the sum is
 * (2^size - 1) * (i + 1): every subset of ranks has a different sum, and the factor
 * (i + 1) pins each element to its place. All values are small integers, exact in double
 * in any summation order, so the check is exact. A missing rank, a rank counted twice, no
 * reduction at all (each rank keeps 2^r * (i + 1)), or shifted elements all fail it.
 * Skipped (exit 77) without NCCL, without a GPU, with fewer GPUs than ranks, or with one
 * rank. */
#include <stdlib.h> /* malloc */

#include "harness.h"         /* checks, qa_test_skip */
#include "kernels/backend.h" /* the CUDA backend: device buffers and the stream */
#include "mpi/comm.h"        /* ranks */
#include "mpi/nccl.h"        /* the all-reduce under test */
#include "mpi_test.h"        /* qa_test_finish_comm: every rank must pass */

int main(int argc, char **argv) {
    if (!qa_nccl_compiled()) qa_test_skip("this build has no NCCL");
    int gpus = 0;
    qa_cuda_device_count(&gpus);
    if (gpus == 0) qa_test_skip("no CUDA device is available");
    qa_comm_t *comm = NULL;
    if (qa_comm_create(&argc, &argv, &comm) != QA_OK) return 1;
    const int s = qa_comm_size(comm), rank = qa_comm_rank(comm);
    if (s < 2) {
        qa_comm_free(comm);
        qa_test_skip("one rank: an all-reduce needs 2+ ranks to be checked (mpirun -np 2)");
    }
    if (s > gpus) {
        qa_comm_free(comm);
        qa_test_skip("fewer GPUs than ranks (NCCL needs one GPU per rank)");
    }
    qa_backend_t *be = NULL;
    qa_nccl_t *nccl = NULL;
    const size_t n = (1 << 20) + 3; /* not a multiple of any block or vector width */
    double *host = malloc(n * sizeof *host);
    qa_buf buf = {0};
    QA_CHECK_OK(qa_backend_create(QA_BACKEND_CUDA, qa_comm_device(comm), &be));
    QA_CHECK_OK(qa_nccl_create(comm, &nccl));
    const double mine = (double)(1u << rank), all = (double)((1u << s) - 1);
    for (size_t i = 0; i < n; i++) host[i] = mine * (double)(i + 1);
    QA_CHECK_OK(qa_buf_alloc(be, n * sizeof *host, &buf));
    QA_CHECK_OK(qa_buf_upload(be, &buf, 0, host, n * sizeof *host));
    QA_CHECK_OK(qa_nccl_allreduce_sum_f64(nccl, buf.ptr, n, qa_backend_stream(be)));
    QA_CHECK_OK(qa_buf_download(be, host, &buf, 0, n * sizeof *host));
    size_t bad = 0, first = n;
    for (size_t i = 0; i < n; i++)
        if (host[i] != all * (double)(i + 1) && bad++ == 0) first = i;
    QA_CHECK_MSG(bad == 0, "rank %d of %d: %zu of %zu elements wrong; first [%zu] = %.17g, expected %.17g", rank, s,
                 bad, n, first, first < n ? host[first] : 0.0, first < n ? all * (double)(first + 1) : 0.0);
    qa_buf_free(&buf);
    qa_nccl_free(nccl);
    qa_backend_free(be);
    free(host);
    int rc = qa_test_finish_comm(comm);
    qa_comm_free(comm);
    return rc;
}
