/* Training-step throughput of the nn layers (inference latency: bench_nn_infer.c).
 *
 *  mlp_train   64 -> 256 -> 256 -> 1, GELU, MSE, batch 4096: forward + backward + global
 *              norm + AdamW. Model FLOPs per step = 6 * batch * (weights) (2 per
 *              multiply-add forward, 4 backward), the usual MFU convention.
 *  lstm_train  LSTM(F=32, H=128, L=64) + linear head on the last hidden state, MSE,
 *              batch 256: forward + BPTT + norm + AdamW. FLOPs = 6 * batch * L * 4H (F + H)
 *              (gate GEMMs) + head.
 *
 * CPU on 1 thread and on all threads, in FP32 and (mlp_train only: the CPU LSTM is FP32)
 * in BF16 GEMM math (cpu-bf16-Nt rows; AVX512_BF16 kernel where the CPU has it, else
 * the portable path, as the header line says); CUDA (FP32, TF32, BF16 GEMM math) when a GPU is
 * present, with model-FLOPs utilisation against the H100 SXM dense peaks (FP32 67,
 * TF32 495, BF16 989 TFLOP/s). Each configuration first checks that the loss is finite
 * and falls over the warm-up steps. Usage: bench_nn [steps-scale] [--no-cpu] [--mlp-only]
 * [--threads N] [--math fp32|bf16] (--mlp-only skips the LSTM rows, --threads N and
 * --math run only that CPU configuration: for profiling one of them under perf) (scale
 * default 1). A build without OpenBLAS (QA_GPU_ONLY) skips the CPU training steps: its
 * CPU path is the reference loops. */
#include <math.h>

#include "bench.h"
#include "common/cpu.h"      /* qa_cpu_has_avx512bf16: which CPU BF16 path runs */
#include "common/philox.h"   /* data and initial weights */
#include "kernels/backend.h"
#include "kernels/nn.h"
#include "kernels/nn_lstm.h"

#define MAX_BUFS 32

/* Backend arrays of one model; freed together. */
typedef struct arena {
    qa_backend_t *be;
    qa_buf bufs[MAX_BUFS];
    int n;
} arena;

static float *arena_floats(arena *a, size_t n, const float *init) {
    qa_buf *b = &a->bufs[a->n++];
    if (qa_buf_alloc(a->be, n * sizeof(float), b) != QA_OK) {
        fprintf(stderr, "alloc: %s\n", qa_err_msg());
        exit(1);
    }
    if (init) qa_buf_upload(a->be, b, 0, init, n * sizeof(float));
    else qa_buf_memset(a->be, b, 0);
    return (float *)b->ptr;
}

static void arena_free(arena *a) {
    for (int i = 0; i < a->n; i++) qa_buf_free(&a->bufs[i]);
    a->n = 0;
}

static float *host_normal(size_t n, uint64_t stream, double sd) {
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(sd * qa_rng_normal(2026, stream, i));
    return x;
}

static float read_scalar(qa_backend_t *be, const float *p) {
    float v = NAN;
    qa_buf b = {(void *)p, sizeof(float), qa_backend_kind_of(be)};
    qa_buf_download(be, &v, &b, 0, sizeof v);
    return v;
}

static const qa_nn_adamw_cfg adam = {1e-3, 0.9, 0.999, 1e-8, 0.01, 1.0};

/* ---- MLP --------------------------------------------------------------------------------- */

enum { MB = 4096, M0 = 64, M1 = 256, M2 = 256, M3 = 1 };
#define MLP_PARAMS ((size_t)M1 * M0 + M1 + (size_t)M2 * M1 + M2 + (size_t)M3 * M2 + M3)

typedef struct mlp {
    arena ar;
    float *p, *g, *m, *v, *x, *t, *u1, *h1, *u2, *h2, *y, *d1, *d2, *dy, *loss, *norm;
} mlp;

static void mlp_init(mlp *M, qa_backend_t *be) {
    memset(M, 0, sizeof *M);
    M->ar.be = be;
    float *p = malloc(MLP_PARAMS * sizeof *p);
    size_t off = 0;
    const int fan[3] = {M0, M1, M2}, outs[3] = {M1, M2, M3};
    for (int l = 0; l < 3; l++) { /* N(0, 1/fan_in) weights, zero biases */
        for (size_t i = 0; i < (size_t)outs[l] * fan[l]; i++)
            p[off + i] = (float)(qa_rng_normal(2026, 10 + l, i) / sqrt((double)fan[l]));
        off += (size_t)outs[l] * fan[l];
        for (int i = 0; i < outs[l]; i++) p[off + i] = 0.0f;
        off += outs[l];
    }
    float *x = host_normal((size_t)MB * M0, 1, 1.0), *t = malloc(MB * sizeof *t);
    for (int i = 0; i < MB; i++) /* a smooth nonlinear target of a few inputs */
        t[i] = (float)(sin(x[i * M0]) + 0.5 * x[i * M0 + 1] * x[i * M0 + 2] - 0.3 * x[i * M0 + 3]);
    M->p = arena_floats(&M->ar, MLP_PARAMS, p);
    M->g = arena_floats(&M->ar, MLP_PARAMS, NULL);
    M->m = arena_floats(&M->ar, MLP_PARAMS, NULL);
    M->v = arena_floats(&M->ar, MLP_PARAMS, NULL);
    M->x = arena_floats(&M->ar, (size_t)MB * M0, x);
    M->t = arena_floats(&M->ar, MB, t);
    M->u1 = arena_floats(&M->ar, (size_t)MB * M1, NULL);
    M->h1 = arena_floats(&M->ar, (size_t)MB * M1, NULL);
    M->u2 = arena_floats(&M->ar, (size_t)MB * M2, NULL);
    M->h2 = arena_floats(&M->ar, (size_t)MB * M2, NULL);
    M->y = arena_floats(&M->ar, MB, NULL);
    M->dy = arena_floats(&M->ar, MB, NULL);
    M->d1 = arena_floats(&M->ar, (size_t)MB * M1, NULL);
    M->d2 = arena_floats(&M->ar, (size_t)MB * M2, NULL);
    M->loss = arena_floats(&M->ar, 1, NULL);
    M->norm = arena_floats(&M->ar, 1, NULL);
    free(p), free(x), free(t);
}

static qa_status mlp_step(qa_nn_ctx_t *ctx, mlp *M, int64_t step) {
    qa_status st = QA_OK;
    float *w1 = M->p, *b1 = w1 + (size_t)M1 * M0, *w2 = b1 + M1, *b2 = w2 + (size_t)M2 * M1, *w3 = b2 + M2, *b3 = w3 + M2;
    float *g1 = M->g, *gb1 = g1 + (size_t)M1 * M0, *g2 = gb1 + M1, *gb2 = g2 + (size_t)M2 * M1, *g3 = gb2 + M2,
          *gb3 = g3 + M2;
    QA_TRY(qa_nn_linear_forward(ctx, MB, M0, M1, M->x, w1, NULL, M->u1));
    QA_TRY(qa_nn_bias_act_forward(ctx, QA_NN_ACT_GELU, MB, M1, M->u1, b1, NULL, M->h1));
    QA_TRY(qa_nn_linear_forward(ctx, MB, M1, M2, M->h1, w2, NULL, M->u2));
    QA_TRY(qa_nn_bias_act_forward(ctx, QA_NN_ACT_GELU, MB, M2, M->u2, b2, NULL, M->h2));
    QA_TRY(qa_nn_linear_forward(ctx, MB, M2, M3, M->h2, w3, b3, M->y));
    QA_TRY(qa_nn_loss_mse(ctx, MB, M->y, M->t, M->loss, M->dy));
    QA_TRY(qa_nn_linear_backward(ctx, MB, M2, M3, M->h2, w3, M->dy, M->d2, g3, gb3, 0));
    QA_TRY(qa_nn_bias_act_backward(ctx, QA_NN_ACT_GELU, MB, M2, M->u2, b2, NULL, M->d2, M->d2, gb2, 0));
    QA_TRY(qa_nn_linear_backward(ctx, MB, M1, M2, M->h1, w2, M->d2, M->d1, g2, NULL, 0));
    QA_TRY(qa_nn_bias_act_backward(ctx, QA_NN_ACT_GELU, MB, M1, M->u1, b1, NULL, M->d1, M->d1, gb1, 0));
    QA_TRY(qa_nn_linear_backward(ctx, MB, M0, M1, M->x, w1, M->d1, NULL, g1, NULL, 0));
    QA_TRY(qa_nn_grad_norm(ctx, MLP_PARAMS, M->g, M->norm));
    QA_TRY(qa_nn_adamw_update(ctx, &adam, step, MLP_PARAMS, M->p, M->g, M->m, M->v, M->norm));
cleanup:
    return st;
}

/* ---- LSTM --------------------------------------------------------------------------------- */

enum { LB = 256, LL = 64, LF = 32, LH = 128 };

typedef struct lstm_model {
    arena ar;
    qa_nn_lstm_t *plan;
    qa_nn_lstm_shape shape;
    size_t np; /* LSTM params + head (LH weights + 1 bias) */
    float *p, *g, *m, *v, *x, *t, *h, *y, *dy, *dh, *loss, *norm;
} lstm_model;

static qa_status lstm_init(lstm_model *M, qa_nn_ctx_t *ctx) {
    memset(M, 0, sizeof *M);
    M->ar.be = qa_nn_ctx_backend(ctx);
    M->shape = (qa_nn_lstm_shape){LB, LL, LF, LH, 1};
    size_t nl = qa_nn_lstm_param_count(&M->shape);
    M->np = nl + LH + 1;
    float *p = malloc(M->np * sizeof *p);
    const double k = 1.0 / sqrt((double)LH); /* PyTorch's U(-1/sqrt(H), 1/sqrt(H)) */
    for (size_t i = 0; i < M->np; i++) p[i] = (float)(k * (2.0 * qa_rng_uniform(2026, 20, i) - 1.0));
    float *x = host_normal((size_t)LB * LL * LF, 21, 1.0), *t = malloc(LB * sizeof *t);
    for (int b = 0; b < LB; b++) { /* target: a decayed sum of the first feature */
        double s = 0.0;
        for (int i = 0; i < LL; i++) s = 0.9 * s + 0.1 * x[((size_t)b * LL + i) * LF];
        t[b] = (float)s;
    }
    M->p = arena_floats(&M->ar, M->np, p);
    M->g = arena_floats(&M->ar, M->np, NULL);
    M->m = arena_floats(&M->ar, M->np, NULL);
    M->v = arena_floats(&M->ar, M->np, NULL);
    M->x = arena_floats(&M->ar, (size_t)LB * LL * LF, x);
    M->t = arena_floats(&M->ar, LB, t);
    M->h = arena_floats(&M->ar, (size_t)LB * LH, NULL);
    M->dh = arena_floats(&M->ar, (size_t)LB * LH, NULL);
    M->y = arena_floats(&M->ar, LB, NULL);
    M->dy = arena_floats(&M->ar, LB, NULL);
    M->loss = arena_floats(&M->ar, 1, NULL);
    M->norm = arena_floats(&M->ar, 1, NULL);
    free(p), free(x), free(t);
    return qa_nn_lstm_create(ctx, &M->shape, &M->plan);
}

static qa_status lstm_step(qa_nn_ctx_t *ctx, lstm_model *M, int64_t step) {
    qa_status st = QA_OK;
    size_t nl = qa_nn_lstm_param_count(&M->shape);
    float *hw = M->p + nl, *hb = hw + LH, *ghw = M->g + nl, *ghb = ghw + LH;
    QA_TRY(qa_nn_lstm_forward(M->plan, LB, M->p, M->x, M->h, NULL));
    QA_TRY(qa_nn_linear_forward(ctx, LB, LH, 1, M->h, hw, hb, M->y));
    QA_TRY(qa_nn_loss_mse(ctx, LB, M->y, M->t, M->loss, M->dy));
    QA_TRY(qa_nn_linear_backward(ctx, LB, LH, 1, M->h, hw, M->dy, M->dh, ghw, ghb, 0));
    QA_TRY(qa_nn_lstm_backward(M->plan, LB, M->p, M->x, M->dh, NULL, NULL, M->g, 0));
    QA_TRY(qa_nn_grad_norm(ctx, M->np, M->g, M->norm));
    QA_TRY(qa_nn_adamw_update(ctx, &adam, step, M->np, M->p, M->g, M->m, M->v, M->norm));
cleanup:
    return st;
}

/* ---- timing ------------------------------------------------------------------------------------ */

typedef qa_status (*step_fn)(qa_nn_ctx_t *ctx, void *model, int64_t step);
static qa_status mlp_step_v(qa_nn_ctx_t *c, void *m, int64_t s) { return mlp_step(c, m, s); }
static qa_status lstm_step_v(qa_nn_ctx_t *c, void *m, int64_t s) { return lstm_step(c, m, s); }

/* Warm-up steps with a correctness check (finite loss that falls), then the median over
 * `repeats` of `per` consecutive steps (synchronised), per step. */
static double time_steps(qa_nn_ctx_t *ctx, void *model, step_fn fn, const float *loss, int warm, int repeats, int per,
                         float *first_loss, float *last_loss) {
    qa_backend_t *be = qa_nn_ctx_backend(ctx);
    int64_t step = 1;
    for (int i = 0; i < warm; i++) {
        if (fn(ctx, model, step++) != QA_OK) {
            fprintf(stderr, "step failed: %s\n", qa_err_msg());
            exit(1);
        }
        if (i == 0) *first_loss = read_scalar(be, loss);
    }
    double t[64];
    for (int r = 0; r < repeats; r++) {
        qa_backend_sync(be);
        uint64_t t0 = qa_time_ns();
        for (int i = 0; i < per; i++) fn(ctx, model, step++);
        qa_backend_sync(be);
        t[r] = qa_time_since(t0) / per;
    }
    *last_loss = read_scalar(be, loss);
    if (!(isfinite(*last_loss) && *last_loss < *first_loss)) {
        fprintf(stderr, "correctness check failed: loss %g -> %g\n", *first_loss, *last_loss);
        exit(1);
    }
    return qa_bench_median(t, repeats);
}

static double mlp_flops(void) { return 6.0 * MB * ((double)M0 * M1 + (double)M1 * M2 + (double)M2 * M3); }
static double lstm_flops(void) { return 6.0 * LB * LL * 4.0 * LH * (LF + LH) + 6.0 * LB * LH; }

static void report(const char *bench, const char *backend, const char *size, double sec, double samples,
                   double flops, double peak) {
    qa_bench_result r = {bench, backend, size, sec, samples, "samples", 0.0, flops};
    qa_bench_report(&r);
    if (peak > 0) printf("  %s %s: model FLOPs utilisation %.1f%% of %.0f TFLOP/s\n", bench, backend,
                         100.0 * flops / sec / (peak * 1e12), peak);
}

static void run_models(qa_nn_ctx_t *ctx, const char *label, double scale, double peak, int lstm) {
    float l0, l1;
    mlp M;
    mlp_init(&M, qa_nn_ctx_backend(ctx));
    int gpu = qa_backend_kind_of(qa_nn_ctx_backend(ctx)) == QA_BACKEND_CUDA;
    double t = time_steps(ctx, &M, mlp_step_v, M.loss, 3, 5, gpu ? 50 : (int)(2 * scale + 1), &l0, &l1);
    printf("  mlp %s: loss %.4f -> %.4f\n", label, l0, l1);
    report("mlp_train", label, "b4096 64-256-256-1", t, MB, mlp_flops(), peak);
    arena_free(&M.ar);
    if (!lstm) return;

    lstm_model L;
    if (lstm_init(&L, ctx) != QA_OK) {
        printf("  lstm %s: skipped (%s)\n", label, qa_err_msg());
    } else {
        t = time_steps(ctx, &L, lstm_step_v, L.loss, 3, 3, gpu ? 20 : (int)scale, &l0, &l1);
        printf("  lstm %s: loss %.4f -> %.4f, plan memory %.1f MiB\n", label, l0, l1,
               qa_nn_lstm_memory_bytes(L.plan) / 1048576.0);
        report("lstm_train", label, "b256 L64 F32 H128", t, LB, lstm_flops(), peak);
    }
    qa_nn_lstm_free(L.plan);
    arena_free(&L.ar);
}

int main(int argc, char **argv) {
    double scale = 1.0;
    int cpu_train = 1, mlp_only = 0, only_threads = 0;
    const char *only_math = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--no-cpu") == 0) cpu_train = 0;
        else if (strcmp(argv[i], "--mlp-only") == 0) mlp_only = 1;
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) only_threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--math") == 0 && i + 1 < argc) only_math = argv[++i];
        else if (atof(argv[i]) > 0) scale = atof(argv[i]);
    }
#ifndef QA_HAVE_OPENBLAS
    cpu_train = 0;
    printf("# cpu training: skipped (no OpenBLAS in this build; the CPU path is the reference loops)\n");
#endif
    qa_bench_header("nn training steps");
    qa_backend_t *cpu = NULL;
    qa_nn_ctx_t *ctx = NULL;
    if (qa_backend_create(QA_BACKEND_CPU, 0, &cpu) != QA_OK || qa_nn_ctx_create(cpu, &ctx) != QA_OK) {
        fprintf(stderr, "%s\n", qa_err_msg());
        return 1;
    }
    int all = qa_backend_threads(cpu);
    if (cpu_train)
        printf("# cpu bf16 GEMM: %s\n", qa_cpu_has_avx512bf16() ? "avx512bf16 kernel" : "portable (rounded fp32 copies + sgemm)");
    for (int th = 1; cpu_train && th <= all; th = th == all ? all + 1 : all) {
        if (only_threads > 0 && th != only_threads) continue;
        qa_backend_set_threads(cpu, th);
        char label[32];
        snprintf(label, sizeof label, "cpu-%dt", th);
        qa_nn_ctx_set_math(ctx, QA_NN_MATH_FP32);
        if (!only_math || strcmp(only_math, "fp32") == 0) run_models(ctx, label, scale, 0.0, !mlp_only);
        snprintf(label, sizeof label, "cpu-bf16-%dt", th);
        qa_nn_ctx_set_math(ctx, QA_NN_MATH_BF16);
        if (!only_math || strcmp(only_math, "bf16") == 0) run_models(ctx, label, scale, 0.0, 0);
    }
    qa_nn_ctx_free(ctx);
    qa_backend_free(cpu);

    int gpus = 0;
    qa_cuda_device_count(&gpus);
    if (gpus == 0) {
        printf("# cuda: skipped (no GPU)\n");
        return 0;
    }
    qa_backend_t *gpu = NULL;
    if (qa_backend_create(QA_BACKEND_CUDA, 0, &gpu) != QA_OK || qa_nn_ctx_create(gpu, &ctx) != QA_OK) {
        fprintf(stderr, "cuda: %s\n", qa_err_msg());
        qa_backend_free(gpu);
        return 1;
    }
    char desc[128];
    qa_cuda_device_describe(0, desc, sizeof desc);
    printf("# cuda device: %s (MFU against H100 SXM dense peaks)\n", desc);
    static const double peaks[QA_NN_MATH_COUNT] = {67.0, 495.0, 989.0};
    for (int m = 0; m < QA_NN_MATH_COUNT; m++) {
        qa_nn_ctx_set_math(ctx, (qa_nn_math)m);
        char label[16];
        snprintf(label, sizeof label, "cuda-%s", qa_nn_math_name((qa_nn_math)m));
        run_models(ctx, label, scale, peaks[m], !mlp_only);
    }
    qa_nn_ctx_free(ctx);
    qa_backend_free(gpu);
    return 0;
}
