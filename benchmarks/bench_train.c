/* qa train end to end on the shipped sample: training throughput of the pipeline (data
 * assembly, forward, backward, gradient combination, AdamW; samples/s of the training
 * loop, evaluation excluded), scaling over MPI ranks, and CPU inference latency.
 *
 * Throughput is the median over steps of the per-step samples/s in metrics.jsonl, the
 * first step (first touch of the buffers) left out.
 *
 *  mlp   16 features x window 4 = 64 inputs -> 256 -> 256 -> 1, GELU, batch 4096.
 *        Model FLOPs per step 6 * 4096 * 82,176 = 2.02 GFLOP (as bench_nn).
 *  lstm  16 features, L = 64, H = 128 -> linear head, batch 256.
 *        Model FLOPs per step 6 * 256 * 64 * 4H (F + H) = 7.25 GFLOP.
 *  scaling  (under mpirun -np 4) the MLP on 1, 2 and 4 ranks (sub-groups of the job) with
 *        the same global batch in 4 shards, deterministic allgather and allreduce modes;
 *        efficiency = samples/s(R) / (R x samples/s(1)).
 *  infer the trained models' CPU predictor (qa_model_predictor_run): one row of raw
 *        inputs per call, p50 / p99 latency.
 *
 * usage: bench_train [DATA_ROOT | market.h5] [scale]   (default datasets/sample, scale 1)
 * Without a market file it imports the sp500-daily preset from DATA_ROOT and computes the
 * default feature set into /tmp first (a few seconds). */
#include <math.h>
#include <string.h>

#include "bench.h"
#include "common/config.h"
#include "common/fs.h"
#include "common/log.h"
#include "datasets/import.h"
#include "kernels/backend.h"
#include "mpi/comm.h"
#include "pipeline/features/features.h"
#include "pipeline/train/train.h"
#include "pipeline/train_test.h" /* tt_train: the tests' training run (tests/pipeline) */
#include "registry/model.h"
#include "registry/predict.h"

static const char *FEATS =
    "[ret_close, logret_close, zscore_close_20, rsi_close_14, macd_close_12_26_9_hist, atr_14, bbpct_close_20_2, "
    "donchian_20_pos, donchian_20_mid, volz_20, xs_rank_ret, xs_zscore_ret, std_close_20, ema_close_12, mean_close_20, "
    "macd_close_12_26_9_line]";

static char data_path[512], dir[256];

/* Imports the sample and computes the default features (rank 0 file, all ranks join). */
static qa_status prepare_data(const char *root, qa_comm_t *comm) {
    qa_status st = QA_OK;
    qa_cfg_t *doc = NULL;
    char **files = NULL;
    qa_import_cfg ic;
    qa_import_cfg_default(&ic);
    const char *text = qa_import_preset_text("sp500-daily");
    QA_TRY(qa_cfg_parse("preset:sp500-daily", text, strlen(text), &doc));
    QA_TRY(qa_cfg_bind(doc, qa_cfg_root(doc), qa_import_schema, &ic, NULL));
    files = calloc(ic.files.n, sizeof *files);
    for (size_t i = 0; files && i < ic.files.n; i++) {
        files[i] = malloc(4096);
        if (files[i]) qa_path_join(files[i], root, "%s", ((const char **)ic.files.items)[i]);
    }
    ic.files.items = files;
    ic.output = data_path;
    qa_import_report ir;
    QA_TRY(qa_import_run(&ic, comm, &ir));
    qa_features_cfg fc;
    QA_TRY(qa_features_cfg_default(&fc));
    fc.data = data_path;
    fc.backend = "cpu";
    qa_features_report fr;
    st = qa_features_run(&fc, comm, &fr);
    qa_features_cfg_free(&fc);
cleanup:
    for (size_t i = 0; files && i < ic.files.n; i++) free(files[i]);
    free(files);
    qa_cfg_free(doc);
    return st;
}

/* One training run paused after `steps` steps (no evaluation): the loop's samples/s. */
static qa_status run(qa_comm_t *comm, const char *yaml, const char *name, const char *backend, int threads, int steps,
                     qa_train_result *res, double *wall) {
    char run_dir[512], cmd[600];
    snprintf(run_dir, sizeof run_dir, "%s/%s", dir, name);
    if (qa_comm_rank(comm) == 0 && qa_fs_exists(run_dir)) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", run_dir);
        if (system(cmd) != 0) return QA_FAIL(QA_ERR_IO, "cannot clear %s", run_dir);
    }
    qa_comm_barrier(comm);
    tt_run o = {.name = "bench", .data = data_path, .backend = backend, .threads = threads, .run_dir = run_dir,
                .max_steps = steps, .argv0 = "bench_train"};
    uint64_t t0 = qa_time_ns();
    qa_status st = tt_train(yaml, &o, comm, res);
    *wall = qa_time_since(t0);
    return st;
}

static void mlp_yaml(char *buf, size_t n, int shards, int det) {
    snprintf(buf, n,
             "seed: 1\n"
             "inputs: {features: %s, window: 4}\n"
             "target: {kind: return, horizon: 5}\n"
             "split: {start: 1990-01-01, train_end: 2012-01-01, val_end: 2017-01-01}\n"
             "model: {type: mlp, hidden: [256, 256], activation: gelu}\n"
             "train: {batch_size: 4096, steps: 1000, eval_every: 1000, log_every: 1}\n"
             "parallel: {shards: %d, deterministic: %s}\n",
             FEATS, shards, det ? "true" : "false");
}

static void lstm_yaml(char *buf, size_t n) {
    snprintf(buf, n,
             "seed: 1\n"
             "inputs: {features: %s, window: 64}\n"
             "target: {kind: return, horizon: 5}\n"
             "split: {start: 1990-01-01, train_end: 2012-01-01, val_end: 2017-01-01}\n"
             "model: {type: lstm, hidden: [128]}\n"
             "train: {batch_size: 256, steps: 1000, eval_every: 1000, log_every: 1, eval_batch: 256}\n"
             "parallel: {shards: 1}\n",
             FEATS);
}

static int cmp_d(const void *a, const void *b);

/* Median per-step samples/s of a run's metrics.jsonl (one line per step), the first step
 * (page faults, first-touch of the activation buffers) left out; the run's overall
 * figure when fewer than 3 lines. */
static double median_rate(const char *name, double fallback) {
    char p[600], *text = NULL;
    size_t len = 0, n = 0;
    double v[4096];
    snprintf(p, sizeof p, "%s/%s/metrics.jsonl", dir, name);
    if (qa_fs_read_all(p, &text, &len) != QA_OK) return fallback;
    int line = 0;
    for (char *q = strstr(text, "\"samples_per_s\":"); q && n < 4096; q = strstr(q + 1, "\"samples_per_s\":"))
        if (line++ > 0) v[n++] = atof(q + 16);
    free(text);
    if (n < 2) return fallback;
    qsort(v, n, sizeof *v, cmp_d);
    return v[n / 2];
}

static void report(const char *bench, const char *be, const char *size, const char *name, const qa_train_result *r,
                   double batch, double flops) {
    double rate = median_rate(name, r->samples_per_s);
    qa_bench_result b = {bench, be, size, batch / rate, batch, "samples", 0, flops};
    qa_bench_report(&b);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* p50/p99 of single-row predictions with the final parameters of run `name`. */
static void latency(const char *name, const char *bench, int calls) {
    char p[600];
    snprintf(p, sizeof p, "%s/%s/checkpoint.qac", dir, name);
    qa_model m;
    qa_model_ckpt c;
    if (qa_model_ckpt_load(p, &m, &c) != QA_OK) {
        printf("%s: %s\n", bench, qa_err_msg());
        return;
    }
    qa_model_predictor_t *pr = NULL;
    size_t w = (size_t)m.arch.input * (size_t)m.arch.window;
    double *raw = malloc(w * sizeof *raw), out[QA_MODEL_MAX_CLASSES], *t = malloc((size_t)calls * sizeof *t);
    for (size_t i = 0; i < w; i++) raw[i] = m.norm.mean[i % (size_t)m.arch.input] + 0.5 * m.norm.std[i % (size_t)m.arch.input];
    if (qa_model_predictor_create(&m, 1, &pr) == QA_OK && raw && t) {
        for (int i = 0; i < calls / 10 + 1; i++) qa_model_predictor_run(pr, 1, raw, out); /* warm-up */
        for (int i = 0; i < calls; i++) {
            uint64_t t0 = qa_time_ns();
            qa_model_predictor_run(pr, 1, raw, out);
            t[i] = (double)(qa_time_ns() - t0) * 1e-3;
        }
        qsort(t, (size_t)calls, sizeof *t, cmp_d);
        double p50 = t[calls / 2], p99 = t[(size_t)(0.99 * calls)];
        printf("%-22s %-8s %-22s p50 %.1f us  p99 %.1f us  (%d calls, one row, output %.4g)\n", bench, "cpu-1t", "1 row",
               p50, p99, calls, out[0]);
        printf("JSON {\"bench\":\"%s\",\"backend\":\"cpu-1t\",\"size\":\"1 row\",\"p50_us\":%.3f,\"p99_us\":%.3f,"
               "\"calls\":%d,\"peak_rss_mb\":%.1f}\n",
               bench, p50, p99, calls, (double)qa_peak_rss_bytes() / 1048576.0);
    }
    qa_model_predictor_free(pr);
    free(raw);
    free(t);
    qa_model_free(&m);
    qa_model_ckpt_free(&c);
}

int main(int argc, char **argv) {
    qa_comm_t *world = NULL;
    if (qa_comm_create(&argc, &argv, &world) != QA_OK) return 1;
    qa_log_set_level(QA_LOG_WARN);
    const char *arg = argc > 1 ? argv[1] : (getenv("QA_DATA_ROOT") ? getenv("QA_DATA_ROOT") : "datasets/sample");
    double scale = argc > 2 ? atof(argv[2]) : 1.0;
    int rank = qa_comm_rank(world), size = qa_comm_size(world);
    snprintf(dir, sizeof dir, "/tmp/qa_bench_train");
    if (rank == 0) qa_fs_mkdirs(dir);
    size_t al = strlen(arg);
    if (al > 3 && strcmp(arg + al - 3, ".h5") == 0) {
        snprintf(data_path, sizeof data_path, "%s", arg);
    } else {
        snprintf(data_path, sizeof data_path, "%s/sample.h5", dir);
        qa_log_set_level(QA_LOG_ERROR); /* the import lists the sample's known anomalies */
        qa_status pst = prepare_data(arg, world);
        qa_log_set_level(QA_LOG_WARN);
        if (pst != QA_OK) {
            printf("bench_train: cannot prepare the sample from %s: %s\n(give DATA_ROOT or a market file with the "
                   "default features)\n",
                   arg, qa_err_msg());
            return 1;
        }
    }
    int mlp_steps = (int)(12 * scale) > 3 ? (int)(12 * scale) : 3, lstm_steps = (int)(6 * scale) > 3 ? (int)(6 * scale) : 3;
    int gpus = 0;
    qa_cuda_device_count(&gpus);
    char yaml[2048];
    qa_train_result r;
    double wall;
    const double mlp_flops = 6.0 * 4096 * 82176, lstm_flops = 6.0 * 256 * 64 * 512 * (16 + 128);
    if (rank == 0) qa_bench_header("qa train pipeline on the shipped sample (16 stocks, daily)");
    /* single-rank throughput: rank 0 alone */
    qa_comm_t *self = NULL;
    qa_comm_split(world, rank == 0 ? 0 : -1, &self);
    if (self) {
        const char *bes[3] = {"cpu", "cpu", "cuda"};
        int ths[3] = {1, 0, 0};
        for (int k = 0; k < (gpus ? 3 : 2); k++) {
            char be[32], name[64];
            int th = ths[k];
            snprintf(be, sizeof be, "%s", k == 2 ? "cuda" : th == 1 ? "cpu-1t" : "cpu-all");
            mlp_yaml(yaml, sizeof yaml, 1, 1);
            snprintf(name, sizeof name, "mlp_%s", be);
            if (run(self, yaml, name, bes[k], th, k == 2 ? 50 : mlp_steps, &r, &wall) == QA_OK)
                report("train_mlp_64x256x256", be, "batch 4096", name, &r, 4096, mlp_flops);
            else
                printf("mlp %s: %s\n", be, qa_err_msg());
            lstm_yaml(yaml, sizeof yaml);
            snprintf(name, sizeof name, "lstm_%s", be);
            if (run(self, yaml, name, bes[k], th, k == 2 ? 30 : lstm_steps, &r, &wall) == QA_OK)
                report("train_lstm_L64_H128", be, "batch 256", name, &r, 256, lstm_flops);
            else
                printf("lstm %s: %s\n", be, qa_err_msg());
        }
        latency("mlp_cpu-1t", "infer_mlp_64x256x256", 20000);
        latency("lstm_cpu-1t", "infer_lstm_L64_H128", 500);
    }
    qa_comm_free(self);
    qa_comm_barrier(world);
    /* scaling over ranks: 1, 2, 4 ranks of this job, one thread each, same global batch */
    if (size > 1) {
        for (int det = 1; det >= 0; det--) {
            double base = 0.0;
            for (int n = 1; n <= size && n <= 4; n *= 2) {
                qa_comm_t *sub = NULL;
                qa_comm_split(world, rank < n ? 0 : -1, &sub);
                char name[64], be[32];
                snprintf(name, sizeof name, "scale_%s_%d", det ? "det" : "sum", n);
                mlp_yaml(yaml, sizeof yaml, 4, det);
                qa_status st = sub ? run(sub, yaml, name, "cpu", 1, mlp_steps, &r, &wall) : QA_OK;
                if (rank == 0) {
                    if (st != QA_OK) printf("scaling %d: %s\n", n, qa_err_msg());
                    else {
                        snprintf(be, sizeof be, "cpu-%dr", n);
                        report(det ? "train_mlp_scale_det" : "train_mlp_scale_sum", be, "batch 4096, 4 shards", name, &r,
                               4096, mlp_flops);
                        double rate = median_rate(name, r.samples_per_s);
                        if (n == 1) base = rate;
                        printf("  %d rank(s): %.0f samples/s, efficiency %.0f%%\n", n, rate, 100.0 * rate / (n * base));
                    }
                }
                qa_comm_free(sub);
                qa_comm_barrier(world);
            }
        }
    } else if (rank == 0) {
        printf("(scaling: run under mpirun -np 4 for 1/2/4-rank figures)\n");
    }
    qa_comm_free(world);
    return 0;
}
