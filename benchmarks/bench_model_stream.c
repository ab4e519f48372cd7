/* Streaming against windowed LSTM inference on a trained model and its market file: what
 * the live service's O(1) per-bar path (registry/predict.h, qa_model_stream) costs and how
 * far its predictions are from the windowed predictions the model was trained as.
 *
 * Every symbol's bars (the rows qa evaluate scores, inputs in the store's units) go in time
 * order through
 *   stream       qa_model_stream with period 0: the state carries every bar since the start
 *   stream_L     qa_model_stream with period L: reset every L bars
 *   window       qa_model_predictor on the last L bars, at every bar with a full window.
 * Reported: per-bar latency p50 / p99 of each path (one thread; work model: one LSTM step
 * per bar for the streams, L steps for the window); for every bar with a full window, the
 * difference stream - window of each output (absolute p50 / p95 / max, relative to the
 * standard deviation of the windowed outputs, and their correlation); and how many of
 * stream_L's outputs at bars whose L since-reset bars are exactly the window equal the
 * windowed output bit for bit (all of them must). Peak RSS.
 * Usage: bench_model_stream MODEL.qam MARKET.h5 (an LSTM trained on that file, e.g. the
 * golden run's runs/lstm/model.qam and stocks.h5: tests/golden/run.sh). Without arguments
 * (scripts/bench.sh) it says so and does nothing. */
#include <math.h>

#include "bench.h"
#include "datasets/store.h"
#include "pipeline/train/train_data.h" /* the rows qa evaluate scores */
#include "registry/model.h"
#include "registry/predict.h"

static void die(const char *what) {
    fprintf(stderr, "bench_model_stream: %s: %s\n", what, qa_err_msg());
    exit(1);
}

int main(int argc, char **argv) {
    if (argc == 1) {
        printf("# bench_model_stream: skipped (needs a trained LSTM and its market file: bench_model_stream "
               "MODEL.qam MARKET.h5)\n");
        return 0;
    }
    if (argc != 3) {
        fprintf(stderr, "usage: bench_model_stream MODEL.qam MARKET.h5\n");
        return 2;
    }
    qa_model m;
    qa_store_t *store = NULL;
    qa_train_data d;
    if (qa_model_load(argv[1], &m) != QA_OK) die("model");
    if (m.arch.type != QA_NN_ARCH_LSTM) {
        fprintf(stderr, "bench_model_stream: %s is not an LSTM model\n", argv[1]);
        return 2;
    }
    if (qa_store_open(argv[2], NULL, QA_STORE_READ, &store) != QA_OK) die("market file");
    if (qa_train_data_load(store, &m.data, &m.norm, &d) != QA_OK) die("rows");
    const size_t F = (size_t)m.data.ninputs, L = (size_t)m.arch.window, K = (size_t)m.arch.outputs, S = d.nsym;
    qa_model_predictor_t *pred = NULL;
    qa_model_stream_t *st = NULL, *stL = NULL;
    if (qa_model_predictor_create(&m, 1, &pred) != QA_OK || qa_model_stream_create(&m, S, 0, &st) != QA_OK ||
        qa_model_stream_create(&m, S, (long)L, &stL) != QA_OK)
        die("predictors");
    /* raw inputs per row: the store's units, recovered from the normalised training inputs */
    double *raw = malloc(d.nrows * F * sizeof *raw), *win = malloc(L * F * sizeof *win);
    double *diff = malloc(d.nrows * K * sizeof *diff), *wv = malloc(d.nrows * K * sizeof *wv);
    double *sv = malloc(d.nrows * K * sizeof *sv), *lat_s = malloc(d.nrows * sizeof *lat_s);
    double *lat_w = malloc(d.nrows * sizeof *lat_w), ys[QA_MODEL_MAX_CLASSES], yl[QA_MODEL_MAX_CLASSES];
    double yw[QA_MODEL_MAX_CLASSES];
    if (!raw || !win || !diff || !wv || !sv || !lat_s || !lat_w) die("buffers");
    for (size_t r = 0; r < d.nrows; r++)
        for (size_t f = 0; f < F; f++) {
            float x = d.x[r * F + f];
            raw[r * F + f] = isnan(x) ? NAN : (double)x * m.norm.std[f] + m.norm.mean[f];
        }
    size_t nd = 0, ns = 0, nw = 0, aligned = 0, aligned_equal = 0;
    for (size_t i = 0; i < S; i++) {
        for (size_t r = d.sym_begin[i]; r < d.sym_begin[i + 1]; r++) {
            uint64_t t0 = qa_time_ns();
            if (qa_model_stream_push(st, i, raw + r * F, ys) != QA_OK) die("stream");
            lat_s[ns++] = qa_time_since(t0);
            if (qa_model_stream_push(stL, i, raw + r * F, yl) != QA_OK) die("stream_L");
            if (!d.valid[r]) continue;
            for (size_t q = 0; q < L; q++) memcpy(win + q * F, raw + (r + 1 - L + q) * F, F * sizeof *win);
            t0 = qa_time_ns();
            if (qa_model_predictor_run(pred, 1, win, yw) != QA_OK) die("window");
            lat_w[nw++] = qa_time_since(t0);
            for (size_t k = 0; k < K; k++) {
                diff[nd * K + k] = fabs(ys[k] - yw[k]);
                wv[nd * K + k] = yw[k];
                sv[nd * K + k] = ys[k];
            }
            nd++;
            /* rows r-L+1..r are all finite (valid), so L bars since stream_L's last reset are
             * exactly this window */
            if (qa_model_stream_bars(stL, i) == (long)L) {
                aligned++;
                aligned_equal += memcmp(yl, yw, K * sizeof *yw) == 0;
            }
        }
    }
    /* difference statistics over every output of every compared bar */
    size_t n = nd * K;
    if (n < 2) {
        fprintf(stderr, "bench_model_stream: fewer than 2 bars with a full window\n");
        return 1;
    }
    double mw = 0, ms = 0, sww = 0, sss = 0, sws = 0;
    for (size_t j = 0; j < n; j++) mw += wv[j], ms += sv[j];
    mw /= (double)n, ms /= (double)n;
    for (size_t j = 0; j < n; j++) {
        sww += (wv[j] - mw) * (wv[j] - mw);
        sss += (sv[j] - ms) * (sv[j] - ms);
        sws += (wv[j] - mw) * (sv[j] - ms);
    }
    double sd = sqrt(sww / (double)(n - 1)), corr = sws / sqrt(sww * sss);
    qa_bench_header("streaming vs windowed LSTM inference (one thread)");
    printf("model %s: LSTM F=%zu L=%zu outputs=%zu; %zu symbols, %zu bars pushed, %zu with a full window\n", argv[1],
           F, L, K, S, ns, nd);
    char size[64];
    snprintf(size, sizeof size, "F%zu L%zu", F, L);
    double step_flops = 0.0, in = (double)F; /* 2 FLOPs per LSTM weight per step, plus the head */
    for (int l = 0; l < m.arch.nhidden; l++) {
        double h = m.arch.hidden[l];
        step_flops += 2.0 * 4.0 * h * (in + h);
        in = h;
    }
    step_flops += 2.0 * in * (double)K;
    qa_bench_result rs = {"model_stream_push", "cpu-1t", size, qa_bench_quantile(lat_s, ns, 0.5), 1, "bars", 0.0, step_flops};
    qa_bench_result rw = {"model_window_predict", "cpu-1t", size, qa_bench_quantile(lat_w, nw, 0.5), 1, "bars", 0.0,
                          step_flops * (double)L};
    qa_bench_report(&rs);
    qa_bench_report(&rw);
    printf("  latency per bar: stream p50 %.2f us p99 %.2f us; window p50 %.2f us p99 %.2f us\n", qa_bench_quantile(lat_s, ns, 0.5) * 1e6,
           qa_bench_quantile(lat_s, ns, 0.99) * 1e6, qa_bench_quantile(lat_w, nw, 0.5) * 1e6, qa_bench_quantile(lat_w, nw, 0.99) * 1e6);
    printf("  |stream - window| over %zu outputs: p50 %.3g p95 %.3g max %.3g (std of windowed outputs %.3g: p50 %.3g "
           "p95 %.3g of it); correlation %.4f\n",
           n, qa_bench_quantile(diff, n, 0.5), qa_bench_quantile(diff, n, 0.95), qa_bench_quantile(diff, n, 1.0), sd, qa_bench_quantile(diff, n, 0.5) / sd, qa_bench_quantile(diff, n, 0.95) / sd,
           corr);
    printf("  period L, aligned bars: %zu of %zu equal to the window bit for bit\n", aligned_equal, aligned);
    printf("JSON {\"bench\":\"model_stream_vs_window\",\"size\":\"%s\",\"bars\":%zu,\"compared\":%zu,"
           "\"stream_p50_us\":%.3f,\"stream_p99_us\":%.3f,\"window_p50_us\":%.3f,\"window_p99_us\":%.3f,"
           "\"absdiff_p50\":%.4g,\"absdiff_p95\":%.4g,\"absdiff_max\":%.4g,\"window_std\":%.4g,\"corr\":%.6f,"
           "\"aligned\":%zu,\"aligned_equal\":%zu,\"peak_rss_mb\":%.1f}\n",
           size, ns, nd, qa_bench_quantile(lat_s, ns, 0.5) * 1e6, qa_bench_quantile(lat_s, ns, 0.99) * 1e6, qa_bench_quantile(lat_w, nw, 0.5) * 1e6,
           qa_bench_quantile(lat_w, nw, 0.99) * 1e6, qa_bench_quantile(diff, n, 0.5), qa_bench_quantile(diff, n, 0.95), qa_bench_quantile(diff, n, 1.0), sd, corr, aligned,
           aligned_equal, (double)qa_peak_rss_bytes() / 1048576.0);
    int ok = aligned_equal == aligned;
    qa_model_stream_free(st);
    qa_model_stream_free(stL);
    qa_model_predictor_free(pred);
    qa_train_data_free(&d);
    qa_store_close(store);
    qa_model_free(&m);
    free(raw), free(win), free(diff), free(wv), free(sv), free(lat_s), free(lat_w);
    if (!ok) fprintf(stderr, "bench_model_stream: %zu aligned bars differ from the window\n", aligned - aligned_equal);
    return ok ? 0 : 1;
}
