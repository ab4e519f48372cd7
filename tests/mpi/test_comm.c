/* Rank context and collectives. Runs as one process (singleton) and under mpirun -np 4:
 * the checks hold for any size. */
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"
#include "mpi_test.h" /* qa_test_finish_comm */
#include "mpi/comm.h"
#include "mpi/shard.h"

static qa_comm_t *comm;

static void test_layout(void) {
    int rank = qa_comm_rank(comm), size = qa_comm_size(comm);
    QA_CHECK(size >= 1 && rank >= 0 && rank < size);
    /* One node here: local rank == rank, local size == size. */
    QA_CHECK_INT(qa_comm_local_rank(comm), rank);
    QA_CHECK_INT(qa_comm_local_size(comm), size);
    if (getenv("OMPI_COMM_WORLD_SIZE")) QA_CHECK_INT(size, atoi(getenv("OMPI_COMM_WORLD_SIZE")));
}

static void test_allreduce(void) {
    int rank = qa_comm_rank(comm), size = qa_comm_size(comm);
    double v[2] = {rank + 1.0, 0.5};
    QA_CHECK_OK(qa_comm_allreduce_sum_f64(comm, v, 2));
    QA_CHECK_NEAR(v[0], size * (size + 1) / 2.0, 0, 0);
    QA_CHECK_NEAR(v[1], 0.5 * size, 0, 0);
    int64_t m = rank * 10;
    QA_CHECK_OK(qa_comm_allreduce_max_i64(comm, &m, 1));
    QA_CHECK_INT(m, (size - 1) * 10);
    double lo = 3.0 - rank;
    QA_CHECK_OK(qa_comm_allreduce_min_f64(comm, &lo, 1));
    QA_CHECK_NEAR(lo, 3.0 - (size - 1), 0, 0);
}

/* Each rank takes its shard of n items; gathered on rank 0 the items are 0..n-1 in order. */
static void test_shard_gather(void) {
    int rank = qa_comm_rank(comm), size = qa_comm_size(comm);
    const size_t n = 1003;
    qa_shard s = qa_shard_block(n, size, rank);
    size_t cnt = s.end - s.begin;
    int64_t *mine = malloc((cnt + 1) * sizeof *mine);
    for (size_t i = 0; i < cnt; i++) mine[i] = (int64_t)(s.begin + i);
    void *all = NULL;
    size_t *counts = NULL;
    QA_CHECK_OK(qa_comm_gatherv(comm, mine, cnt * sizeof *mine, 0, &all, &counts));
    if (rank == 0) {
        size_t total = 0;
        for (int r = 0; r < size; r++) total += counts[r];
        QA_CHECK_INT(total, n * sizeof(int64_t));
        int64_t *a = all;
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) bad += a[i] != (int64_t)i;
        QA_CHECK_INT(bad, 0);
    } else {
        QA_CHECK(all == NULL && counts == NULL);
    }
    free(all);
    free(counts);
    free(mine);
    int64_t sum = (int64_t)cnt;
    QA_CHECK_OK(qa_comm_allreduce_sum_i64(comm, &sum, 1));
    QA_CHECK_INT(sum, n);
}

/* Float sums (exact here: small integers) and rank-ordered all-gathers. */
static void test_allreduce_f32_allgather(void) {
    int rank = qa_comm_rank(comm), size = qa_comm_size(comm);
    float f[3] = {(float)rank, 1.0f, -2.0f * (float)rank};
    QA_CHECK_OK(qa_comm_allreduce_sum_f32(comm, f, 3));
    QA_CHECK_NEAR(f[0], size * (size - 1) / 2.0, 0, 0);
    QA_CHECK_NEAR(f[1], size, 0, 0);
    QA_CHECK_NEAR(f[2], -(double)size * (size - 1), 0, 0);
    int32_t mine[2] = {rank, 100 + rank}, *all = malloc((size_t)size * sizeof mine);
    QA_CHECK_OK(qa_comm_allgather(comm, mine, sizeof mine, all));
    size_t bad = 0;
    for (int r = 0; r < size; r++) bad += all[2 * r] != r || all[2 * r + 1] != 100 + r;
    QA_CHECK_INT(bad, 0);
    free(all);
}

/* Groups by color: sizes and ranks within each group; color < 0 gives no context. */
static void test_split(void) {
    int rank = qa_comm_rank(comm), size = qa_comm_size(comm);
    qa_comm_t *sub = NULL;
    QA_CHECK_OK(qa_comm_split(comm, rank % 2, &sub));
    if (sub) {
        QA_CHECK_INT(qa_comm_size(sub), (size + 1 - rank % 2) / 2);
        QA_CHECK_INT(qa_comm_rank(sub), rank / 2);
        double v = 1.0;
        QA_CHECK_OK(qa_comm_allreduce_sum_f64(sub, &v, 1));
        QA_CHECK_NEAR(v, qa_comm_size(sub), 0, 0);
    } else {
        QA_CHECK(0);
    }
    qa_comm_free(sub);
    QA_CHECK_OK(qa_comm_split(comm, rank == 0 ? 0 : -1, &sub));
    QA_CHECK(rank == 0 ? sub != NULL && qa_comm_size(sub) == 1 : sub == NULL);
    qa_comm_free(sub);
}

static void test_bcast(void) {
    char msg[32] = "";
    if (qa_comm_rank(comm) == 0) snprintf(msg, sizeof msg, "from root");
    QA_CHECK_OK(qa_comm_bcast(comm, msg, sizeof msg, 0));
    QA_CHECK_STR(msg, "from root");
}

/* A failure on the last rank reaches every rank, which can then stop cleanly. */
static void test_agree(void) {
    int rank = qa_comm_rank(comm), size = qa_comm_size(comm);
    QA_CHECK_INT(qa_comm_agree(comm, QA_OK), QA_OK);
    qa_status local = rank == size - 1 ? QA_FAIL(QA_ERR_IO, "disk full on this rank") : QA_OK;
    qa_status all = qa_comm_agree(comm, local);
    QA_CHECK_INT(all, QA_ERR_IO);
    if (rank == size - 1) QA_CHECK_STR(qa_err_msg(), "disk full on this rank");
    else {
        char expect[64];
        snprintf(expect, sizeof expect, "rank %d failed", size - 1);
        QA_CHECK(strstr(qa_err_msg(), expect) != NULL);
    }
}

int main(int argc, char **argv) {
    if (qa_comm_create(&argc, &argv, &comm) != QA_OK) {
        printf("comm: %s\n", qa_err_msg());
        return 1;
    }
    QA_RUN(test_layout);
    QA_RUN(test_allreduce);
    QA_RUN(test_shard_gather);
    QA_RUN(test_allreduce_f32_allgather);
    QA_RUN(test_split);
    QA_RUN(test_bcast);
    QA_RUN(test_agree);
    int rc = qa_test_finish_comm(comm); /* every rank must pass */
    qa_comm_free(comm);
    return rc;
}
