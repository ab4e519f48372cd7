/* Data parallelism: the same global batch trained on 1, 2 and 4 ranks (sub-groups of one
 * `mpirun -np 4` job) gives bit-identical parameters in deterministic mode (MLP with
 * dropout and LayerNorm; LSTM), and parameters within a stated tolerance with the
 * MPI allreduce. Registered on 4 ranks (test_train_dp_4) and on one (test_train_dp_1):
 * one rank has nothing to compare its training with, so there only the thread-count case
 * checks anything, and the test then reports a skip (exit 77) rather than a pass. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/log.h"
#include "harness.h"
#include "mpi_test.h" /* qa_test_finish_comm */
#include "mpi/comm.h"
#include "pipeline/train/train.h"
#include "registry/model.h"
#include "train_test.h"

static tt_fixture fx;
static qa_comm_t *world;
static int g_compared; /* rank counts compared with the 1-rank run */

static const char *const MLP_CFG =
    "backend: cpu\n"
    "seed: 9\n"
    "threads: 1\n"
    "inputs: {features: [f_signal, f_noise, f_mom], bars: [logret], window: 2}\n"
    "target: {kind: return, horizon: 5}\n"
    "split: {train_end: 2001-01-01, val_end: 2001-05-01, embargo: 5}\n"
    "model: {type: mlp, hidden: [24, 12], activation: gelu, layer_norm: true, dropout: 0.1}\n"
    "train: {batch_size: 128, steps: 40, lr: 3e-3, warmup_steps: 5, eval_every: 20, patience: 0}\n"
    "parallel: {shards: 4}\n";

static const char *const LSTM_CFG =
    "backend: cpu\n"
    "seed: 4\n"
    "threads: 1\n"
    "inputs: {features: [f_signal, f_mom], window: 5}\n"
    "target: {kind: return, horizon: 5}\n"
    "split: {train_end: 2001-01-01, val_end: 2001-05-01, embargo: 5}\n"
    "model: {type: lstm, hidden: [8]}\n"
    "train: {batch_size: 64, steps: 20, lr: 5e-3, warmup_steps: 2, eval_every: 10, patience: 0}\n"
    "parallel: {shards: 4}\n";

/* Trains on the ranks of `comm` into dir/<name>. */
static qa_status train(qa_comm_t *comm, const char *yaml, const char *set, const char *name) {
    char run[400];
    snprintf(run, sizeof run, "%s/%s", fx.dir, name);
    tt_run o = {.name = "dp.yaml", .sets = &set, .nsets = set != NULL, .data = fx.store, .run_dir = run};
    return tt_train(yaml, &o, comm, NULL);
}

/* Runs `yaml` on 1, 2 and 4 ranks (as many as the job has) into <tag>_r<n>. */
static void run_all(const char *yaml, const char *set, const char *tag, int *counts, int *ncounts) {
    int rank = qa_comm_rank(world), size = qa_comm_size(world);
    *ncounts = 0;
    for (int n = 1; n <= size; n *= 2) {
        if (size % n) continue;
        qa_comm_t *sub = NULL;
        QA_CHECK_OK(qa_comm_split(world, rank < n ? 0 : -1, &sub));
        char name[64];
        snprintf(name, sizeof name, "%s_r%d", tag, n);
        if (sub) {
            qa_status st = train(sub, yaml, set, name);
            QA_CHECK_MSG(st == QA_OK, "%s on %d rank(s): %s", tag, n, qa_err_msg());
        }
        qa_comm_free(sub);
        qa_comm_barrier(world);
        counts[(*ncounts)++] = n;
    }
}

static qa_status load_final(const char *tag, int n, qa_model *m) {
    char p[400];
    qa_model_ckpt c;
    snprintf(p, sizeof p, "%s/%s_r%d/checkpoint.qac", fx.dir, tag, n);
    qa_status st = qa_model_ckpt_load(p, m, &c);
    qa_model_ckpt_free(&c);
    return st;
}

/* Rank 0 compares every rank count's final parameters with the 1-rank run: bitwise
 * (atol < 0) or within |a - b| <= atol. */
static void compare(const char *tag, const int *counts, int ncounts, double atol) {
    if (ncounts < 2) printf("  skipped: %s: no rank count but 1 divides %d rank(s), nothing to compare\n", tag,
                            qa_comm_size(world));
    g_compared += ncounts - 1;
    if (qa_comm_rank(world) != 0) return;
    qa_model ref;
    QA_CHECK_OK(load_final(tag, 1, &ref));
    for (int i = 1; i < ncounts && ref.params; i++) {
        qa_model m;
        QA_CHECK_OK(load_final(tag, counts[i], &m));
        if (!m.params) continue;
        size_t diff = 0;
        double worst = 0.0, pmax = 0.0;
        for (size_t j = 0; j < m.nparams; j++) {
            diff += memcmp(&m.params[j], &ref.params[j], sizeof(float)) != 0;
            worst = fmax(worst, fabs((double)m.params[j] - ref.params[j]));
            pmax = fmax(pmax, fabs(ref.params[j]));
        }
        printf("  %s: 1 vs %d ranks: %zu of %zu parameters differ, max |diff| %.3g (max |p| %.3g)\n", tag, counts[i],
               diff, m.nparams, worst, pmax);
        if (atol < 0) QA_CHECK_MSG(diff == 0, "%s: %d ranks not bit-identical to 1 rank", tag, counts[i]);
        else QA_CHECK_MSG(worst <= atol, "%s: %d ranks: max |diff| %.3g > %.3g", tag, counts[i], worst, atol);
        qa_model_free(&m);
    }
    qa_model_free(&ref);
}

static void test_deterministic_mlp(void) {
    int counts[8], n = 0;
    run_all(MLP_CFG, NULL, "det_mlp", counts, &n);
    compare("det_mlp", counts, n, -1.0);
}

/* The thread count of a rank does not change the bits either (the nn kernels' sums have
 * a fixed order): 1 rank on 2 threads equals 1 rank on 1 thread. */

static void test_threads(void) {
    qa_comm_t *self = NULL;
    int rank = qa_comm_rank(world);
    QA_CHECK_OK(qa_comm_split(world, rank == 0 ? 0 : -1, &self));
    if (self) {
        QA_CHECK_OK(train(self, MLP_CFG, "threads=2", "det_mlp_r1t2"));
        qa_model a, b;
        char p[400];
        qa_model_ckpt c;
        snprintf(p, sizeof p, "%s/det_mlp_r1t2/checkpoint.qac", fx.dir);
        QA_CHECK_OK(qa_model_ckpt_load(p, &b, &c));
        qa_model_ckpt_free(&c);
        QA_CHECK_OK(load_final("det_mlp", 1, &a));
        QA_CHECK(a.params && b.params && a.nparams == b.nparams &&
                 memcmp(a.params, b.params, a.nparams * sizeof(float)) == 0);
        qa_model_free(&a);
        qa_model_free(&b);
    }
    qa_comm_free(self);
    qa_comm_barrier(world);
}

static void test_deterministic_lstm(void) {
    int counts[8], n = 0;
    run_all(LSTM_CFG, NULL, "det_lstm", counts, &n);
    compare("det_lstm", counts, n, -1.0);
}

/* MPI allreduce: the gradient sums reassociate (a few float ulps of the gradients per
 * step). AdamW normalises each coordinate's step to at most ~lr, so two trajectories can
 * drift apart by at most 2 lr per step in the worst case (40 steps x 2 x 3e-3 = 0.24);
 * in practice the difference stays at float rounding (measured 6e-8 after 40 steps). The
 * bound 1e-4 is ~2500x below the worst case: it catches a wrong reduction
 * (a missing rank or scale is a difference of order lr per step) while allowing
 * reassociation. */
static void test_allreduce_mlp(void) {
    int counts[8], n = 0;
    run_all(MLP_CFG, "parallel.deterministic=false", "sum_mlp", counts, &n);
    compare("sum_mlp", counts, n, 1e-4);
}

int main(int argc, char **argv) {
    if (qa_comm_create(&argc, &argv, &world) != QA_OK) return 1;
    int rank = qa_comm_rank(world);
    qa_log_set_level(QA_LOG_WARN);
    /* rank 0 writes the store; every rank learns its path and whether that worked */
    int rc = rank == 0 ? tt_setup(&fx, "train_dp", 8, 600, 33) : 0;
    qa_comm_bcast(world, &fx, sizeof fx, 0);
    qa_comm_bcast(world, &rc, sizeof rc, 0);
    if (rc) return 1;
    QA_RUN(test_deterministic_mlp);
    QA_RUN(test_threads);
    QA_RUN(test_deterministic_lstm);
    QA_RUN(test_allreduce_mlp);
    rc = qa_test_finish_comm(world);
    if (rank == 0) qa_test_rmtree(fx.dir);
    qa_comm_free(world);
    if (rc == 0 && g_compared == 0) qa_test_skip("the data-parallel comparisons need 2 or 4 ranks (mpirun -np 4)");
    return rc;
}
