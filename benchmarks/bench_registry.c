/* The model registry's costs (registry/registry.h) on this machine's local disk:
 *   publish           one version: model file checked, hashed, artifact written (fsync),
 *                     one SQLite transaction (WAL) with the version, metric, tag and
 *                     event rows. Work model: 1 version (~20 KB artifact); and 8 processes
 *                     publishing 25 versions each at once (versions/s of the whole).
 *   resolve           a URI to a version: models:/m/V and models:/m@champion.
 *   load              resolve + SHA-256 of the artifact + parse and check the model file.
 *   poll              qa_registry_last_seq: what a service pays per poll of the events.
 *   predict_row       one row through the CPU predictor: the demo's MLP (11 inputs x 2 bars,
 *                     64-32 GELU + LayerNorm) and the LSTM step of a stateful stream (6
 *                     inputs, 32 units, sign target), one thread.
 *   predict_batch     1024-row batches: the MLP, and the LSTM windowed over 16 bars.
 * Every timing is per call; p50 and p99 over the repeats, throughput from the median.
 * Correctness first: the model loaded by URI predicts bit-identically to the file it was
 * published from. Usage: bench_registry [DIR] (default: a fresh /tmp directory). */
#include <math.h>
#include <sys/wait.h> /* waitpid: concurrent publishers */

#include "bench.h"
#include "kernels/nn.h"         /* activations */
#include "registry/predict.h"
#include "registry/registry.h"
#include "registry/registry_test.h" /* the tests' synthetic model (tests/registry) */

static void die(const char *what) {
    fprintf(stderr, "bench_registry: %s: %s\n", what, qa_err_msg());
    exit(1);
}

static void make(qa_model *m, qa_nn_arch_type type, int F, int L, int h0, int h1, int K, int salt) {
    qa_nn_arch a;
    memset(&a, 0, sizeof a);
    a.type = type, a.input = F, a.window = L, a.outputs = K, a.act = QA_NN_ACT_GELU;
    a.nhidden = h1 ? 2 : 1, a.hidden[0] = h0, a.hidden[1] = h1, a.layer_norm = type == QA_NN_ARCH_MLP;
    if (qa_test_registry_model(m, &a, NULL, salt) != QA_OK) die("model");
}

/* p50/p99 line and JSON of per-call samples. */
static void lat(const char *bench, const char *size, double *t, size_t n) {
    double p50 = qa_bench_quantile(t, n, 0.5), p99 = qa_bench_quantile(t, n, 0.99);
    printf("  %s %s: p50 %.2f us, p99 %.2f us (%zu calls)\n", bench, size, p50 * 1e6, p99 * 1e6, n);
    printf("JSON {\"bench\":\"%s_latency\",\"size\":\"%s\",\"p50_us\":%.3f,\"p99_us\":%.3f,\"calls\":%zu,"
           "\"peak_rss_mb\":%.1f}\n",
           bench, size, p50 * 1e6, p99 * 1e6, n, (double)qa_peak_rss_bytes() / 1048576.0);
}

static void thr(const char *bench, const char *size, double *t, size_t n, double items, const char *unit, double flops) {
    qa_bench_result r = {bench, "cpu-1t", size, qa_bench_quantile(t, n, 0.5), items, unit, 0.0, flops};
    qa_bench_report(&r);
}

int main(int argc, char **argv) {
    char dir[QA_PATH_MAX];
    if (argc > 1) snprintf(dir, sizeof dir, "%s", argv[1]);
    else {
        snprintf(dir, sizeof dir, "/tmp/qa_bench_registry_XXXXXX");
        if (!mkdtemp(dir)) die("temporary directory");
    }
    enum { NPUB = 200, NRES = 5000, NLOAD = 300, NROW = 20000, NBATCH = 30, B = 1024 };
    static double t[NROW];
    qa_registry_t *r = NULL;
    if (qa_registry_open(dir, 1, &r) != QA_OK) die("open");
    qa_bench_header("model registry: publish, resolve, load, poll, predict (one thread, local disk)");
    /* the demo's MLP shape; NPUB distinct artifacts */
    qa_model mlp, lstm;
    make(&mlp, QA_NN_ARCH_MLP, 11, 2, 64, 32, 1, 0);
    make(&lstm, QA_NN_ARCH_LSTM, 6, 16, 32, 0, 2, 1);
    char path[QA_PATH_MAX];
    json_t *metrics = json_pack("{s:f, s:f}", "test_ic", 0.01, "val_loss", 0.5);
    for (int i = 0; i < NPUB; i++) {
        mlp.params[0] = (float)i; /* a different artifact each time */
        if (qa_path_join(path, dir, "m%d.qam", i % 2) != QA_OK || qa_model_save(&mlp, path) != QA_OK) die("save");
        qa_registry_publish_req req = {"bench-mlp", path, metrics, NULL, NULL, NULL, NULL, "bench"};
        long v;
        uint64_t t0 = qa_time_ns();
        if (qa_registry_publish(r, &req, &v) != QA_OK) die("publish");
        t[i] = qa_time_since(t0);
    }
    long long art = qa_fs_size(path);
    char size[64];
    snprintf(size, sizeof size, "%lld B artifact", art);
    thr("registry_publish", size, t, NPUB, 1, "versions", 0);
    lat("registry_publish", size, t, NPUB);
    if (qa_path_join(path, dir, "lstm.qam") != QA_OK || qa_model_save(&lstm, path) != QA_OK) die("save lstm");
    qa_registry_publish_req lreq = {"bench-lstm", path, metrics, NULL, NULL, NULL, NULL, "bench"};
    long lv;
    if (qa_registry_publish(r, &lreq, &lv) != QA_OK || qa_registry_alias_set(r, "bench-mlp", "champion", NPUB / 2, "bench", "bench") != QA_OK)
        die("lstm / alias");
    /* contention: 8 processes publishing 25 versions each into the same registry */
    {
        enum { PROCS = 8, EACH = 25 };
        uint64_t t0 = qa_time_ns();
        pid_t kids[PROCS];
        for (int k = 0; k < PROCS; k++) {
            kids[k] = fork();
            if (kids[k] == 0) {
                qa_registry_t *rk = NULL;
                int bad = qa_registry_open(dir, 0, &rk) != QA_OK;
                for (int i = 0; i < EACH && !bad; i++) {
                    qa_registry_publish_req req = {"bench-conc", path, NULL, NULL, NULL, NULL, NULL, "bench"};
                    long v;
                    bad = qa_registry_publish(rk, &req, &v) != QA_OK;
                }
                qa_registry_close(rk);
                _exit(bad);
            }
        }
        int bad = 0;
        for (int k = 0; k < PROCS; k++) {
            int status = 0;
            waitpid(kids[k], &status, 0);
            bad |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
        }
        if (bad) die("concurrent publishers");
        double wall = qa_time_since(t0);
        qa_bench_result res = {"registry_publish", "8-proc", "8 x 25 versions", wall, PROCS * EACH, "versions", 0.0, 0.0};
        qa_bench_report(&res);
    }
    /* resolve */
    qa_registry_version ver;
    char uri[96];
    for (int i = 0; i < NRES; i++) {
        snprintf(uri, sizeof uri, "models:/bench-mlp/%d", 1 + (i * 37) % NPUB);
        uint64_t t0 = qa_time_ns();
        if (qa_registry_resolve(r, uri, &ver) != QA_OK) die("resolve");
        t[i] = qa_time_since(t0);
    }
    thr("registry_resolve", "models:/m/V", t, NRES, 1, "resolves", 0);
    lat("registry_resolve", "models:/m/V", t, NRES);
    for (int i = 0; i < NRES; i++) {
        uint64_t t0 = qa_time_ns();
        if (qa_registry_resolve(r, "models:/bench-mlp@champion", &ver) != QA_OK) die("resolve alias");
        t[i] = qa_time_since(t0);
    }
    lat("registry_resolve", "models:/m@champion", t, NRES);
    /* load by URI; correctness: identical predictions to the in-memory model */
    qa_model lm;
    for (int i = 0; i < NLOAD; i++) {
        uint64_t t0 = qa_time_ns();
        if (qa_registry_load(r, "models:/bench-mlp@champion", &lm, NULL) != QA_OK) die("load");
        t[i] = qa_time_since(t0);
        if (i < NLOAD - 1) qa_model_free(&lm);
    }
    lat("registry_load", size, t, NLOAD);
    const int half = NPUB / 2 - 1; /* an integer: the middle version */
    mlp.params[0] = (float)half;
    double raw[B * 16 * 11], o1[2 * B], o2[2 * B];
    for (size_t i = 0; i < sizeof raw / sizeof *raw; i++) raw[i] = sin(0.37 * (double)i);
    qa_model_predictor_t *p1 = NULL, *p2 = NULL, *pl = NULL;
    if (qa_model_predictor_create(&lm, B, &p1) != QA_OK || qa_model_predictor_create(&mlp, B, &p2) != QA_OK ||
        qa_model_predictor_create(&lstm, B, &pl) != QA_OK)
        die("predictors");
    if (qa_model_predictor_run(p1, B, raw, o1) != QA_OK || qa_model_predictor_run(p2, B, raw, o2) != QA_OK) die("predict");
    if (memcmp(o1, o2, B * sizeof *o1) != 0) {
        fprintf(stderr, "bench_registry: the model loaded by URI predicts differently from its source\n");
        return 1;
    }
    /* polling */
    int64_t seq = 0;
    for (int i = 0; i < NRES; i++) {
        uint64_t t0 = qa_time_ns();
        if (qa_registry_last_seq(r, &seq) != QA_OK) die("poll");
        t[i] = qa_time_since(t0);
    }
    lat("registry_poll", "last_seq", t, NRES);
    /* predictions: FLOP models are 2 per weight (the forward pass's multiply-adds) */
    double mlp_flops = 2.0 * (22.0 * 64 + 64.0 * 32 + 32.0), step_flops = 2.0 * (4.0 * 32 * (6 + 32) + 32.0 * 2);
    for (int i = 0; i < NROW; i++) {
        uint64_t t0 = qa_time_ns();
        qa_model_predictor_run(p1, 1, raw + (size_t)(i % B) * 22, o1);
        t[i] = qa_time_since(t0);
    }
    thr("predict_row", "MLP 22-64-32-1 LN", t, NROW, 1, "rows", mlp_flops);
    lat("predict_row", "MLP 22-64-32-1 LN", t, NROW);
    qa_model_stream_t *st = NULL;
    if (qa_model_stream_create(&lstm, 64, 0, &st) != QA_OK) die("stream");
    for (int i = 0; i < NROW; i++) {
        uint64_t t0 = qa_time_ns();
        qa_model_stream_push(st, (size_t)(i % 64), raw + (size_t)(i % 4096) * 6, o1);
        t[i] = qa_time_since(t0);
    }
    thr("predict_lstm_step", "F6 H32 1 bar", t, NROW, 1, "bars", step_flops);
    lat("predict_lstm_step", "F6 H32 1 bar", t, NROW);
    for (int i = 0; i < NBATCH; i++) {
        uint64_t t0 = qa_time_ns();
        qa_model_predictor_run(p1, B, raw, o1);
        t[i] = qa_time_since(t0);
    }
    thr("predict_batch", "MLP 1024 rows", t, NBATCH, B, "rows", B * mlp_flops);
    for (int i = 0; i < NBATCH; i++) {
        uint64_t t0 = qa_time_ns();
        qa_model_predictor_run(pl, B, raw, o1);
        t[i] = qa_time_since(t0);
    }
    thr("predict_batch", "LSTM L16 1024 rows", t, NBATCH, B, "rows", B * 16 * step_flops);
    qa_model_stream_free(st);
    qa_model_predictor_free(p1);
    qa_model_predictor_free(p2);
    qa_model_predictor_free(pl);
    qa_model_free(&lm);
    qa_model_free(&mlp);
    qa_model_free(&lstm);
    json_decref(metrics);
    qa_registry_close(r);
    if (argc <= 1) {
        char cmd[QA_PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "bench_registry: could not remove %s\n", dir);
    }
    return 0;
}
