/* Parallel HDF5: every rank writes its block of symbols collectively into one file,
 * then reads a time shard with a look-back halo; the file equals the values a single
 * process computes. Runs as one process too. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fs.h"
#include "datasets/store.h"
#include "common/mem.h" /* QA_FREE_ALL */
#include "harness.h"
#include "mpi_test.h"   /* qa_test_finish_comm */
#include "mpi/comm.h"
#include "mpi/shard.h"

static double value(size_t s, size_t t) { return (double)(s * 100000 + t) + 0.25; }

int main(int argc, char **argv) {
    qa_comm_t *comm = NULL;
    if (qa_comm_create(&argc, &argv, &comm) != QA_OK) return 1;
    int rank = qa_comm_rank(comm), size = qa_comm_size(comm);
    char path[256] = "";
    if (rank == 0) snprintf(path, sizeof path, "/tmp/qa_test_store_mpi_%ld.h5", (long)getpid());
    qa_comm_bcast(comm, path, sizeof path, 0);
    const size_t S = 150, T = 3001; /* not multiples of the chunk sizes or the rank count */
    char **names = malloc(S * sizeof *names);
    char *nb = malloc(S * 16);
    int64_t *time = malloc(T * sizeof *time);
    for (size_t s = 0; s < S; s++) {
        names[s] = nb + s * 16;
        snprintf(names[s], 16, "S%03zu", s);
    }
    for (size_t t = 0; t < T; t++) time[t] = (int64_t)t * 60000000000LL;
    qa_store_meta m = {0};
    snprintf(m.frequency, sizeof m.frequency, "1min");
    m.bar_seconds = 60;
    m.bars_per_year = 525600;
    m.deflate_level = 1;
    qa_store_t *st = NULL;
    QA_CHECK_OK(qa_store_create(path, comm, &m, S, (const char *const *)names, T, time, &st));
    QA_CHECK_INT(qa_store_parallel(st), size > 1);
    /* Symbol shard of this rank; ranks with no symbols still join the collective write. */
    qa_shard sh = qa_shard_block(S, size, rank);
    size_t ns = sh.end - sh.begin;
    double *blk = malloc((ns ? ns : 1) * T * sizeof *blk);
    for (size_t i = 0; i < ns; i++)
        for (size_t t = 0; t < T; t++) blk[i * T + t] = value(sh.begin + i, t);
    QA_CHECK_OK(qa_store_write(st, "bars/close", sh.begin, ns, 0, ns ? T : 0, blk));
    QA_CHECK_OK(qa_store_commit(st));
    free(blk);

    /* Read back: a time shard with a 50-bar halo, all symbols. */
    QA_CHECK_OK(qa_store_open(path, comm, QA_STORE_READ, &st));
    qa_shard th = qa_shard_block_halo(T, size, rank, 50);
    size_t nt = th.end - th.read_begin;
    double *rd = malloc(S * (nt ? nt : 1) * sizeof *rd);
    QA_CHECK_OK(qa_store_read(st, "bars/close", 0, S, th.read_begin, nt, rd));
    size_t bad = 0;
    for (size_t s = 0; s < S; s++)
        for (size_t k = 0; k < nt; k++) bad += rd[s * nt + k] != value(s, th.read_begin + k);
    QA_CHECK_INT(bad, 0);
    if (rank > 0) QA_CHECK(th.read_begin + 50 == th.begin);
    /* Unwritten fields are NaN everywhere. */
    QA_CHECK_OK(qa_store_read(st, "bars/open", 0, 1, 0, nt, rd));
    QA_CHECK(isnan(rd[0]) && isnan(rd[nt - 1]));
    qa_store_close(st);
    free(rd);
    int rc = qa_test_finish_comm(comm);
    if (rank == 0) remove(path);
    QA_FREE_ALL(names, nb, time);
    qa_comm_free(comm);
    return rc;
}
