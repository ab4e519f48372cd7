/* GPU training (label gpu; skips with exit 77 without a usable GPU): the same MLP and
 * LSTM runs on the CUDA backend (cuBLAS FP32 GEMMs, cuDNN LSTM) and on the CPU agree
 * within a stated tolerance; a GPU run resumed from its checkpoint equals the
 * uninterrupted GPU run bit for bit; the GPU-trained model loads and predicts on the CPU.
 *
 * Tolerance: CPU (OpenBLAS) and GPU (cuBLAS/cuDNN) sum in other orders, so gradients
 * differ by float rounding (~1e-7 relative) each step. AdamW bounds each coordinate's
 * step by ~lr, so the worst-case drift is 2 lr per step (30 steps x 2 x 3e-3 = 0.18);
 * rounding-level differences stay orders of magnitude below that. The bound 2e-3 on the
 * final parameters (and 1e-3 relative on the best validation loss) catches a wrong
 * kernel or layout (an error of order lr per step) while allowing reassociation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/log.h"
#include "harness.h"
#include "kernels/backend.h"
#include "mpi/comm.h"
#include "pipeline/train/train.h"
#include "registry/model.h"
#include "registry/predict.h"
#include "train_test.h"

static tt_fixture fx;
static qa_comm_t *comm;

static const char *const MLP_CFG =
    "seed: 2\n"
    "threads: 1\n"
    "inputs: {features: [f_signal, f_noise, f_mom], bars: [logret], window: 2}\n"
    "target: {kind: return, horizon: 5}\n"
    "split: {train_end: 2001-01-01, val_end: 2001-05-01, embargo: 5}\n"
    "model: {type: mlp, hidden: [32, 16], activation: gelu, layer_norm: true, dropout: 0.1}\n"
    "train: {batch_size: 128, steps: 30, lr: 3e-3, warmup_steps: 5, eval_every: 10, patience: 0}\n"
    "parallel: {shards: 2, math: fp32}\n";

static const char *const LSTM_CFG =
    "seed: 3\n"
    "threads: 1\n"
    "inputs: {features: [f_signal, f_mom], window: 6}\n"
    "target: {kind: return, horizon: 5}\n"
    "split: {train_end: 2001-01-01, val_end: 2001-05-01, embargo: 5}\n"
    "model: {type: lstm, hidden: [16]}\n"
    "train: {batch_size: 64, steps: 30, lr: 3e-3, warmup_steps: 5, eval_every: 10, patience: 0}\n"
    "parallel: {shards: 2, math: fp32}\n";

static qa_status train(const char *yaml, const char *backend, const char *name, long long max_steps, int resume,
                       qa_train_result *r) {
    char run[400];
    snprintf(run, sizeof run, "%s/%s", fx.dir, name);
    tt_run o = {.name = "gpu.yaml", .data = fx.store, .backend = backend, .run_dir = run, .max_steps = max_steps,
                .resume = resume};
    return tt_train(yaml, &o, comm, r);
}

static qa_status final_params(const char *name, qa_model *m) {
    char p[400];
    qa_model_ckpt c;
    snprintf(p, sizeof p, "%s/%s/checkpoint.qac", fx.dir, name);
    qa_status st = qa_model_ckpt_load(p, m, &c);
    qa_model_ckpt_free(&c);
    return st;
}

static void cpu_vs_gpu(const char *yaml, const char *tag) {
    char a[64], b[64], c[64];
    snprintf(a, sizeof a, "%s_cpu", tag);
    snprintf(b, sizeof b, "%s_gpu", tag);
    snprintf(c, sizeof c, "%s_gpu_resumed", tag);
    qa_train_result rc, rg, rr;
    QA_CHECK_OK(train(yaml, "cpu", a, 0, 0, &rc));
    QA_CHECK_OK(train(yaml, "cuda", b, 0, 0, &rg));
    QA_CHECK_NEAR(rg.best_val_loss, rc.best_val_loss, 0, 1e-3);
    qa_model mc, mg;
    QA_CHECK_OK(final_params(a, &mc));
    QA_CHECK_OK(final_params(b, &mg));
    if (mc.params && mg.params) {
        double worst = 0.0;
        for (size_t i = 0; i < mc.nparams; i++) worst = fmax(worst, fabs((double)mc.params[i] - mg.params[i]));
        printf("  %s: CPU vs GPU max |param diff| %.3g over %zu parameters\n", tag, worst, mc.nparams);
        QA_CHECK(worst <= 2e-3);
    }
    /* resume on the GPU: bit-identical to the uninterrupted GPU run */
    QA_CHECK_OK(train(yaml, "cuda", c, 15, 0, &rr));
    QA_CHECK_OK(train(yaml, "cuda", c, 0, 1, &rr));
    qa_model mr;
    QA_CHECK_OK(final_params(c, &mr));
    if (mr.params && mg.params) QA_CHECK(memcmp(mr.params, mg.params, mg.nparams * sizeof(float)) == 0);
    /* the GPU-trained model predicts on the CPU */
    char p[400];
    snprintf(p, sizeof p, "%s/%s/model.qam", fx.dir, b);
    qa_model m;
    QA_CHECK_OK(qa_model_load(p, &m));
    qa_model_predictor_t *pr = NULL;
    QA_CHECK_OK(qa_model_predictor_create(&m, 1, &pr));
    size_t w = (size_t)m.arch.input * (size_t)m.arch.window;
    double *raw = calloc(w, sizeof *raw), out[QA_MODEL_MAX_CLASSES];
    QA_CHECK_OK(qa_model_predictor_run(pr, 1, raw, out));
    QA_CHECK(isfinite(out[0]));
    free(raw);
    qa_model_predictor_free(pr);
    qa_model_free(&m);
    qa_model_free(&mr);
    qa_model_free(&mc);
    qa_model_free(&mg);
}

static void test_mlp(void) { cpu_vs_gpu(MLP_CFG, "mlp"); }
static void test_lstm(void) { cpu_vs_gpu(LSTM_CFG, "lstm"); }

int main(int argc, char **argv) {
    int gpus = 0;
    if (!qa_backend_cuda_compiled()) qa_test_skip("this build has no CUDA backend");
    if (qa_cuda_device_count(&gpus) != QA_OK || gpus < 1) qa_test_skip("no usable GPU");
    if (qa_comm_create(&argc, &argv, &comm) != QA_OK) return 1;
    if (tt_setup(&fx, "train_gpu", 8, 600, 44)) return 1;
    qa_log_set_level(QA_LOG_WARN);
    QA_RUN(test_mlp);
    QA_RUN(test_lstm);
    qa_test_rmtree(fx.dir);
    qa_comm_free(comm);
    return qa_test_finish();
}
