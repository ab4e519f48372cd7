/* The end of a test that runs on several MPI ranks: every rank must pass. */
#ifndef QA_TESTS_MPI_TEST_H
#define QA_TESTS_MPI_TEST_H

#include <stdint.h>

#include "harness.h"
#include "mpi/comm.h"

/* Collective: prints this rank's summary and returns the exit status of the whole job,
 * 1 when any rank of comm recorded a failure. Every rank has finished its cases when it
 * returns (files they share may be removed). */
static inline int qa_test_finish_comm(qa_comm_t *comm) {
    int64_t failures = qa_test_failures_;
    qa_comm_allreduce_sum_i64(comm, &failures, 1);
    int rc = qa_test_finish();
    return failures ? 1 : rc;
}

#endif
