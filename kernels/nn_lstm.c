/* LSTM plans: shape checks, the parameter layout, buffer ownership and dispatch to the
 * CPU implementation (nn_lstm_cpu.c) or cuDNN (nn_lstm.cu). */
#include "kernels/nn_lstm.h"

#include <limits.h>  /* INT_MAX */
#include <stdlib.h>  /* calloc, aligned_alloc, free */

#include "kernels/nn_impl.h" /* backend implementations, qa_nn_ctx_gpu_ */

struct qa_nn_lstm {
    qa_nn_ctx_t *ctx;
    qa_nn_lstm_shape shape;
    float *cache;         /* CPU saved activations + scratch */
    size_t cache_floats;
    qa_nn_lstm_gpu *gpu;  /* CUDA: cuDNN state */
    int last_batch;       /* batch of the last forward; -1 before any */
};

qa_status qa_nn_lstm_check(const qa_nn_lstm_shape *s) {
    if (!s) return QA_FAIL(QA_ERR_INVALID_ARG, "lstm: NULL shape");
    if (s->batch < 1 || s->seq_len < 1 || s->input < 1 || s->hidden < 1 || s->layers < 1)
        return QA_FAIL(QA_ERR_INVALID_ARG, "lstm: batch %d, seq_len %d, input %d, hidden %d, layers %d must all be >= 1",
                       s->batch, s->seq_len, s->input, s->hidden, s->layers);
    /* every GEMM dimension (rows = batch * seq_len, 4 * hidden, ...) must fit an int */
    if ((double)s->batch * s->seq_len > INT_MAX / 8 || (double)s->hidden * 4 > INT_MAX / 8 || s->layers > 64 ||
        (double)s->batch * s->seq_len * s->hidden * 4 > (double)INT_MAX * 64)
        return QA_FAIL(QA_ERR_INVALID_ARG, "lstm: shape %d x %d x %d, hidden %d, %d layers is too large", s->batch,
                       s->seq_len, s->input, s->hidden, s->layers);
    return QA_OK;
}

static size_t layer_params(const qa_nn_lstm_shape *s, int l) {
    size_t in = (size_t)(l == 0 ? s->input : s->hidden), g = 4 * (size_t)s->hidden;
    return g * in + g * (size_t)s->hidden + 2 * g;
}

size_t qa_nn_lstm_param_offset(const qa_nn_lstm_shape *s, int layer, qa_nn_lstm_part part) {
    size_t off = 0;
    for (int l = 0; l < layer; l++) off += layer_params(s, l);
    size_t in = (size_t)(layer == 0 ? s->input : s->hidden), g = 4 * (size_t)s->hidden;
    switch (part) {
    case QA_NN_LSTM_W_HH: return off + g * in;
    case QA_NN_LSTM_B_IH: return off + g * in + g * (size_t)s->hidden;
    case QA_NN_LSTM_B_HH: return off + g * in + g * (size_t)s->hidden + g;
    default: return off;
    }
}

size_t qa_nn_lstm_param_count(const qa_nn_lstm_shape *s) {
    return qa_nn_lstm_param_offset(s, s->layers, QA_NN_LSTM_W_IH);
}

qa_status qa_nn_lstm_create(qa_nn_ctx_t *ctx, const qa_nn_lstm_shape *shape, qa_nn_lstm_t **out) {
    if (!ctx || !out) return QA_FAIL(QA_ERR_INVALID_ARG, "lstm: NULL ctx or output");
    qa_status st = qa_nn_lstm_check(shape);
    if (st != QA_OK) return st;
    qa_nn_lstm_t *p = calloc(1, sizeof *p);
    if (!p) return QA_FAIL(QA_ERR_NOMEM, "lstm plan");
    p->ctx = ctx;
    p->shape = *shape;
    p->last_batch = -1;
    qa_nn_gpu *gpu = qa_nn_ctx_gpu_(ctx);
    if (gpu) {
        QA_TRY(qa_nn_cuda_lstm_create(qa_backend_stream(qa_nn_ctx_backend(ctx)), qa_nn_ctx_math(ctx), shape, &p->gpu));
    } else {
        p->cache_floats = qa_nn_cpu_lstm_cache_floats(shape);
        size_t bytes = (p->cache_floats * sizeof(float) + 63) & ~(size_t)63;
        p->cache = aligned_alloc(64, bytes);
        if (!p->cache) QA_TRY_FAIL(QA_ERR_NOMEM, "lstm: cannot allocate %zu bytes of saved activations", bytes);
    }
    *out = p;
    return QA_OK;
cleanup:
    qa_nn_lstm_free(p);
    return st;
}

void qa_nn_lstm_free(qa_nn_lstm_t *lstm) {
    if (!lstm) return;
    qa_nn_cuda_lstm_free(lstm->gpu);
    free(lstm->cache);
    free(lstm);
}

size_t qa_nn_lstm_memory_bytes(const qa_nn_lstm_t *lstm) {
    return lstm->gpu ? qa_nn_cuda_lstm_memory_bytes(lstm->gpu) : lstm->cache_floats * sizeof(float);
}

static qa_status check_batch(const qa_nn_lstm_t *lstm, int batch, const char *fn) {
    if (batch < 0 || batch > lstm->shape.batch)
        return QA_FAIL(QA_ERR_INVALID_ARG, "lstm %s: batch %d outside 0..%d (the plan's maximum)", fn, batch,
                       lstm->shape.batch);
    return QA_OK;
}

qa_status qa_nn_lstm_forward(qa_nn_lstm_t *lstm, int batch, const float *params, const float *x,
                             float *h_last, float *y_seq) {
    qa_status st = check_batch(lstm, batch, "forward");
    if (st != QA_OK || batch == 0) return st;
    if (!params || !x || !h_last) return QA_FAIL(QA_ERR_INVALID_ARG, "lstm forward: NULL params, x or h_last");
    lstm->last_batch = batch;
    if (lstm->gpu) return qa_nn_cuda_lstm_forward(lstm->gpu, batch, params, x, h_last, y_seq);
    qa_backend_t *be = qa_nn_ctx_backend(lstm->ctx);
    qa_nn_cpu_lstm_forward(qa_backend_reference(be), qa_backend_threads(be), &lstm->shape, batch, params, x,
                           lstm->cache, h_last, y_seq);
    return QA_OK;
}

qa_status qa_nn_lstm_backward(qa_nn_lstm_t *lstm, int batch, const float *params, const float *x,
                              const float *dh_last, const float *dy_seq, float *dx, float *dparams,
                              int accumulate) {
    qa_status st = check_batch(lstm, batch, "backward");
    if (st != QA_OK) return st;
    if (!dparams) return QA_FAIL(QA_ERR_INVALID_ARG, "lstm backward: NULL dparams");
    if (batch == 0) return QA_OK;
    if (batch != lstm->last_batch)
        return QA_FAIL(QA_ERR_STATE, "lstm backward: batch %d but the last forward ran %d rows", batch,
                       lstm->last_batch);
    if (!params || !x) return QA_FAIL(QA_ERR_INVALID_ARG, "lstm backward: NULL params or x");
    if (lstm->gpu) return qa_nn_cuda_lstm_backward(lstm->gpu, batch, x, dh_last, dy_seq, dx, dparams, accumulate);
    qa_backend_t *be = qa_nn_ctx_backend(lstm->ctx);
    qa_nn_cpu_lstm_backward(qa_backend_reference(be), qa_backend_threads(be), &lstm->shape, batch, params, x, dh_last,
                            dy_seq, dx, dparams, accumulate, lstm->cache);
    return QA_OK;
}

#ifndef QA_HAVE_CUDA
qa_status qa_nn_cuda_lstm_create(void *stream, qa_nn_math math, const qa_nn_lstm_shape *s, qa_nn_lstm_gpu **out) {
    (void)stream, (void)math, (void)s, (void)out;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no CUDA backend");
}
void qa_nn_cuda_lstm_free(qa_nn_lstm_gpu *g) { (void)g; }
size_t qa_nn_cuda_lstm_memory_bytes(const qa_nn_lstm_gpu *g) {
    (void)g;
    return 0;
}
qa_status qa_nn_cuda_lstm_forward(qa_nn_lstm_gpu *g, int batch, const float *params, const float *x, float *h_last,
                                  float *y_seq) {
    (void)g, (void)batch, (void)params, (void)x, (void)h_last, (void)y_seq;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no CUDA backend");
}
qa_status qa_nn_cuda_lstm_backward(qa_nn_lstm_gpu *g, int batch, const float *x, const float *dh_last,
                                   const float *dy_seq, float *dx, float *dparams, int accumulate) {
    (void)g, (void)batch, (void)x, (void)dh_last, (void)dy_seq, (void)dx, (void)dparams, (void)accumulate;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no CUDA backend");
}
#endif
