/* Inference latency of the forward pass (kernels/nn_infer.h) on one CPU thread, the
 * live service's path: p50 / p99 per call over 20,000 calls after 1,000 warm-up calls.
 *
 *  mlp          64 -> 256 -> 256 -> 1, GELU: one row and 8 rows. Work model: 2 FLOPs
 *               per weight per row.
 *  mlp_ln       the same with LayerNorm after each hidden layer.
 *  lstm_window  LSTM(F=16, H=64, 2 layers, L=64) + head, one row: the window forward
 *               (L steps from a zero state), what a windowed predictor pays per bar.
 *  lstm_step    the same network, one carried step per bar (registry's stream
 *               predictor): the O(1) per-bar cost. Work model: 2 FLOPs per LSTM weight
 *               per step (x L for the window) + the head.
 * Checks first that the step from a reset state over a window equals the window forward
 * bit for bit (the equality the stream predictor relies on). Usage: bench_nn_infer. */
#include <string.h>

#include "bench.h"
#include "common/philox.h"    /* parameters and inputs */
#include "kernels/nn_infer.h"

#define CALLS 20000
#define WARMUP 1000

static float *normals(size_t n, uint64_t stream, double sd) {
    float *x = malloc(n * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = (float)(sd * qa_rng_normal(2026, stream, i));
    return x;
}

typedef qa_status (*call_fn)(qa_nn_infer_t *p, const float *params, const float *x, float *state, float *y, int rows);

static qa_status call_forward(qa_nn_infer_t *p, const float *params, const float *x, float *state, float *y, int rows) {
    (void)state;
    return qa_nn_infer_forward(p, params, rows, x, y);
}

static qa_status call_step(qa_nn_infer_t *p, const float *params, const float *x, float *state, float *y, int rows) {
    (void)rows;
    return qa_nn_infer_step(p, params, x, state, y);
}

/* Times CALLS calls and reports p50 (as the median) and p99. */
static void time_calls(const char *name, const char *size, call_fn fn, qa_nn_infer_t *p, const float *params,
                       const float *x, float *state, float *y, int rows, double flops) {
    static double lat[CALLS];
    for (int i = 0; i < WARMUP; i++) fn(p, params, x, state, y, rows);
    for (int i = 0; i < CALLS; i++) {
        uint64_t t0 = qa_time_ns();
        fn(p, params, x, state, y, rows);
        lat[i] = qa_time_since(t0);
    }
    double p50 = qa_bench_quantile(lat, CALLS, 0.5), p99 = qa_bench_quantile(lat, CALLS, 0.99);
    qa_bench_result r = {name, "cpu-1t", size, p50, rows, "rows", 0.0, flops};
    qa_bench_report(&r);
    printf("  %s %s: p50 %.2f us, p99 %.2f us\n", name, size, p50 * 1e6, p99 * 1e6);
    printf("JSON {\"bench\":\"%s_latency\",\"size\":\"%s\",\"p50_us\":%.3f,\"p99_us\":%.3f,\"peak_rss_mb\":%.1f}\n", name,
           size, p50 * 1e6, p99 * 1e6, (double)qa_peak_rss_bytes() / 1048576.0);
}

static void bench_mlp(int layer_norm) {
    qa_nn_arch a = {QA_NN_ARCH_MLP, 64, 1, 1, 2, {256, 256}, QA_NN_ACT_GELU, layer_norm, 0.0f};
    size_t np = qa_nn_arch_param_count(&a);
    float *p = normals(np, 30, 0.06), *x = normals(8 * 64, 31, 1.0), y[8];
    qa_nn_infer_t *plan = NULL;
    if (qa_nn_infer_create(&a, 8, &plan) != QA_OK) {
        fprintf(stderr, "mlp plan: %s\n", qa_err_msg());
        exit(1);
    }
    const double weights = 64.0 * 256 + 256.0 * 256 + 256;
    for (int rows = 1; rows <= 8; rows += 7) {
        char size[48];
        snprintf(size, sizeof size, "%d row%s 64-256-256-1", rows, rows > 1 ? "s" : "");
        time_calls(layer_norm ? "mlp_ln_infer" : "mlp_infer", size, call_forward, plan, p, x, NULL, y, rows,
                   2.0 * weights * rows);
    }
    qa_nn_infer_free(plan);
    free(p), free(x);
}

static void bench_lstm(void) {
    const int F = 16, H = 64, L = 64;
    qa_nn_arch a = {QA_NN_ARCH_LSTM, F, L, 1, 2, {H, H}, QA_NN_ACT_NONE, 0, 0.0f};
    size_t np = qa_nn_arch_param_count(&a), sf = qa_nn_infer_state_floats(&a);
    float *p = normals(np, 40, 0.1), *x = normals((size_t)L * F, 41, 1.0), *state = malloc(sf * sizeof *state);
    float yw, ys;
    qa_nn_infer_t *plan = NULL;
    if (qa_nn_infer_create(&a, 1, &plan) != QA_OK) {
        fprintf(stderr, "lstm plan: %s\n", qa_err_msg());
        exit(1);
    }
    /* correctness first: L steps from a reset state equal the window forward */
    qa_nn_infer_forward(plan, p, 1, x, &yw);
    qa_nn_infer_state_reset(&a, state);
    for (int t = 0; t < L; t++) qa_nn_infer_step(plan, p, x + (size_t)t * F, state, &ys);
    if (memcmp(&yw, &ys, sizeof yw) != 0) {
        fprintf(stderr, "lstm: step-by-step %.9g differs from the window forward %.9g\n", (double)ys, (double)yw);
        exit(1);
    }
    const double step_flops = 2.0 * (4.0 * H * (F + H) + 4.0 * H * (H + H)) + 2.0 * H;
    time_calls("lstm_window_infer", "F16 H64x2 L64", call_forward, plan, p, x, NULL, &yw, 1, step_flops * L);
    qa_nn_infer_state_reset(&a, state);
    time_calls("lstm_step_infer", "F16 H64x2 1 bar", call_step, plan, p, x, state, &ys, 1, step_flops);
    qa_nn_infer_free(plan);
    free(p), free(x), free(state);
}

int main(void) {
    qa_bench_header("inference forward pass (one thread)");
    bench_mlp(0);
    bench_mlp(1);
    bench_lstm();
    return 0;
}
