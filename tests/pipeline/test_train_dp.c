/* Data parallelism: the same global batch trained on 1, 2 and 4 ranks (sub-groups of one
 * `mpirun -np 4` job) gives bit-identical parameters in deterministic mode (MLP with
 * dropout and LayerNorm; LSTM), and parameters within a stated tolerance with the
 * MPI allreduce. Also runs as one process (then only the 1-rank runs happen). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/log.h"
#include "harness.h"
#include "mpi/comm.h"
#include "pipeline/train/train.h"
#include "registry/model.h"
#include "train_test.h"

static char dir[256], store_path[300];
static qa_comm_t *world;

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
    qa_cfg_t *doc = NULL;
    qa_train_cfg c;
    qa_train_result r;
    char run[400];
    snprintf(run, sizeof run, "%s/%s", dir, name);
    qa_status st = qa_cfg_parse("dp.yaml", yaml, strlen(yaml), &doc);
    if (st == QA_OK && set) st = qa_cfg_override(doc, set);
    if (st == QA_OK) st = qa_train_cfg_default(&c);
    if (st == QA_OK) st = qa_train_cfg_bind(doc, &c);
    if (st == QA_OK) {
        c.data = store_path;
        c.run_dir = run;
        char *argv[] = {"test", NULL};
        st = qa_train_run(&c, comm, 1, argv, &r);
    }
    qa_cfg_free(doc);
    return st;
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
    snprintf(p, sizeof p, "%s/%s_r%d/checkpoint.qac", dir, tag, n);
    qa_status st = qa_model_ckpt_load(p, m, &c);
    qa_model_ckpt_free(&c);
    return st;
}

/* Rank 0 compares every rank count's final parameters with the 1-rank run: bitwise
 * (atol < 0) or within |a - b| <= atol. */
static void compare(const char *tag, const int *counts, int ncounts, double atol) {
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
        snprintf(p, sizeof p, "%s/det_mlp_r1t2/checkpoint.qac", dir);
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
    if (rank == 0 && tt_tmpdir(dir, sizeof dir, "train_dp")) return 1;
    qa_comm_bcast(world, dir, sizeof dir, 0);
    snprintf(store_path, sizeof store_path, "%s/m.h5", dir);
    int rc = rank == 0 ? tt_make_store(store_path, 8, 600, 33) : 0;
    qa_comm_bcast(world, &rc, sizeof rc, 0);
    if (rc) return 1;
    QA_RUN(test_deterministic_mlp);
    QA_RUN(test_threads);
    QA_RUN(test_deterministic_lstm);
    QA_RUN(test_allreduce_mlp);
    int64_t failures = qa_test_failures_;
    qa_comm_allreduce_sum_i64(world, &failures, 1);
    qa_comm_barrier(world);
    if (rank == 0) tt_rmtree(dir);
    rc = qa_test_finish();
    qa_comm_free(world);
    return failures ? 1 : rc;
}
