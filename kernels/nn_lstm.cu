// cuDNN LSTM (v8 RNN API: cudnnRNNForward, cudnnRNNBackwardData_v8,
// cudnnRNNBackwardWeights_v8) behind kernels/nn_lstm.h. Batch-major unpacked data
// descriptors (padded I/O enabled) match the [batch x L x F] layout directly. Our
// parameter vector is mapped to and from cuDNN's weight space through a segment table
// built once from cudnnGetRNNWeightParams; one kernel copies all segments per step.
// Without cuDNN in the build every entry point returns QA_ERR_UNSUPPORTED.
#include "kernels/nn_impl.h"

#include <stdlib.h>  // calloc, free

#ifdef QA_HAVE_CUDNN
#include <cudnn.h>  // RNN API (before check.h: it defines QA_CUDNN_* when cuDNN is seen)
#endif
#include "kernels/check.h"  // QA_CUDA_*, QA_CUDNN_CHECK / QA_CUDNN_TRY
#include "kernels/cudalib.h"  // cuDNN is opened on first use, not at start-up

#ifdef QA_HAVE_CUDNN



namespace {

// One contiguous block shared by our vector and cuDNN's weight space (float offsets).
struct Seg {
    unsigned long long ours, theirs, len;
};

// to_ours == 0: wspace[theirs + i] = params[ours + i] (pack weights);
// to_ours == 1: dparams[ours + i] = (accumulate ? dparams[ours + i] : 0) + dwspace[theirs + i].
__global__ void seg_copy_kernel(const Seg *segs, const float *src, float *dst, int to_ours, int accumulate) {
    const Seg s = segs[blockIdx.y];
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < s.len; i += stride) {
        if (to_ours) dst[s.ours + i] = (accumulate ? dst[s.ours + i] : 0.0f) + src[s.theirs + i];
        else dst[s.theirs + i] = src[s.ours + i];
    }
}

}  // namespace

struct qa_nn_lstm_gpu {
    cudaStream_t stream;
    qa_nn_lstm_shape shape;
    cudnnHandle_t dnn;
    cudnnDropoutDescriptor_t drop;
    cudnnRNNDescriptor_t rnn;
    cudnnRNNDataDescriptor_t xdesc, ydesc;
    cudnnTensorDescriptor_t hdesc, cdesc;
    int cur_batch;  // batch the data/state descriptors describe
    size_t wspace_bytes, work_bytes, reserve_bytes;
    void *wspace, *dwspace, *work, *reserve;
    float *y;         // [B x L x H] top-layer output sequence (read by the backward)
    float *hy;        // [layers x B x H] final hidden states
    float *dy_zero;   // [B x L x H] zeros: dy when the caller gives none
    float *dhy;       // [layers x B x H] gradient on hy (top layer = dh_last)
    float *dx_skip;   // [B x L x F] dx when the caller does not want it
    int32_t *dev_seq; // [B] sequence lengths (all L)
    Seg *segs;        // device segment table
    int nseg;
    size_t max_seg;
    size_t bytes;     // device memory held
};

namespace {

// Sets the data and state descriptors for `batch` rows (host-only calls) and checks the
// temp-space sizes fit what was allocated for the maximum batch.
qa_status set_batch(qa_nn_lstm_gpu *g, int batch) {
    qa_status st = QA_OK;
    const qa_nn_lstm_shape &s = g->shape;
    int *lens = (int *)malloc((size_t)batch * sizeof(int));
    if (!lens) return QA_FAIL(QA_ERR_NOMEM, "lstm: sequence lengths");
    for (int b = 0; b < batch; b++) lens[b] = s.seq_len;
    {
        QA_CUDNN_TRY(cudnnSetRNNDataDescriptor(g->xdesc, CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED,
                                               s.seq_len, batch, s.input, lens, nullptr));
        QA_CUDNN_TRY(cudnnSetRNNDataDescriptor(g->ydesc, CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED,
                                               s.seq_len, batch, s.hidden, lens, nullptr));
        const int dims[3] = {s.layers, batch, s.hidden};
        const int strides[3] = {batch * s.hidden, s.hidden, 1};
        QA_CUDNN_TRY(cudnnSetTensorNdDescriptor(g->hdesc, CUDNN_DATA_FLOAT, 3, dims, strides));
        QA_CUDNN_TRY(cudnnSetTensorNdDescriptor(g->cdesc, CUDNN_DATA_FLOAT, 3, dims, strides));
        size_t work = 0, reserve = 0;
        QA_CUDNN_TRY(cudnnGetRNNTempSpaceSizes(g->dnn, g->rnn, CUDNN_FWD_MODE_TRAINING, g->xdesc, &work, &reserve));
        if (g->wspace == nullptr) {  // creation: record the sizes for the maximum batch
            g->work_bytes = work;
            g->reserve_bytes = reserve;
        } else if (work > g->work_bytes || reserve > g->reserve_bytes) {
            QA_TRY_FAIL(QA_ERR_STATE, "lstm: cuDNN needs %zu/%zu work/reserve bytes for batch %d, more than the %zu/%zu "
                        "allocated for the maximum batch", work, reserve, batch, g->work_bytes, g->reserve_bytes);
        }
        g->cur_batch = batch;
    }
cleanup:
    free(lens);
    return st;
}

// Builds the segment table: for each layer, the 8 matrices (linLayerID 0-3: W_ih gates
// i, f, g, o; 4-7: W_hh gates) and their 8 bias vectors.
qa_status build_segments(qa_nn_lstm_gpu *g) {
    qa_status st = QA_OK;
    const qa_nn_lstm_shape &s = g->shape;
    const size_t H = (size_t)s.hidden;
    g->nseg = 16 * s.layers;
    Seg *host = (Seg *)calloc((size_t)g->nseg, sizeof(Seg));
    cudnnTensorDescriptor_t mdesc = nullptr, bdesc = nullptr;
    if (!host) return QA_FAIL(QA_ERR_NOMEM, "lstm: segment table");
    QA_CUDNN_TRY(cudnnCreateTensorDescriptor(&mdesc));
    QA_CUDNN_TRY(cudnnCreateTensorDescriptor(&bdesc));
    for (int l = 0; l < s.layers; l++) {
        const size_t in = (size_t)(l == 0 ? s.input : s.hidden);
        for (int id = 0; id < 8; id++) {
            void *maddr = nullptr, *baddr = nullptr;
            QA_CUDNN_TRY(cudnnGetRNNWeightParams(g->dnn, g->rnn, l, g->wspace_bytes, g->wspace, id, mdesc, &maddr, bdesc,
                                                 &baddr));
            if (!maddr || !baddr) QA_TRY_FAIL(QA_ERR_CUDA, "lstm: cuDNN reports no matrix/bias for layer %d id %d", l, id);
            const int gate = id % 4, rec = id >= 4;
            const size_t mlen = H * (rec ? H : in);
            // check cuDNN's matrix is H x cols as assumed
            cudnnDataType_t dt;
            int nb = 0, dims[8] = {0}, strides[8] = {0};
            QA_CUDNN_TRY(cudnnGetTensorNdDescriptor(mdesc, 8, &dt, &nb, dims, strides));
            size_t count = 1;
            for (int d = 0; d < nb; d++) count *= (size_t)dims[d];
            if (count != mlen)
                QA_TRY_FAIL(QA_ERR_CUDA, "lstm: cuDNN matrix layer %d id %d has %zu elements, expected %zu", l, id, count,
                            mlen);
            Seg &ms = host[l * 16 + id];
            ms.ours = qa_nn_lstm_param_offset(&s, l, rec ? QA_NN_LSTM_W_HH : QA_NN_LSTM_W_IH) + (size_t)gate * mlen;
            ms.theirs = (size_t)((const char *)maddr - (const char *)g->wspace) / sizeof(float);
            ms.len = mlen;
            Seg &bs = host[l * 16 + 8 + id];
            bs.ours = qa_nn_lstm_param_offset(&s, l, rec ? QA_NN_LSTM_B_HH : QA_NN_LSTM_B_IH) + (size_t)gate * H;
            bs.theirs = (size_t)((const char *)baddr - (const char *)g->wspace) / sizeof(float);
            bs.len = H;
            if (ms.len > g->max_seg) g->max_seg = ms.len;
            if ((ms.theirs + ms.len) * sizeof(float) > g->wspace_bytes ||
                (bs.theirs + bs.len) * sizeof(float) > g->wspace_bytes)
                QA_TRY_FAIL(QA_ERR_CUDA, "lstm: cuDNN weight %d/%d lies outside its weight space", l, id);
        }
    }
    QA_CUDA_TRY(cudaMalloc((void **)&g->segs, (size_t)g->nseg * sizeof(Seg)));
    QA_CUDA_TRY(cudaMemcpy(g->segs, host, (size_t)g->nseg * sizeof(Seg), cudaMemcpyHostToDevice));
cleanup:
    if (mdesc) cudnnDestroyTensorDescriptor(mdesc);
    if (bdesc) cudnnDestroyTensorDescriptor(bdesc);
    free(host);
    return st;
}

qa_status seg_copy(qa_nn_lstm_gpu *g, const float *src, float *dst, int to_ours, int accumulate) {
    size_t blocks = (g->max_seg + 255) / 256;
    if (blocks > 1024) blocks = 1024;
    seg_copy_kernel<<<dim3((unsigned)blocks, (unsigned)g->nseg), 256, 0, g->stream>>>(g->segs, src, dst, to_ours,
                                                                                      accumulate);
    QA_CUDA_LAUNCH_CHECK("lstm weight segment copy");
    return QA_OK;
}

qa_status dev_alloc(qa_nn_lstm_gpu *g, void **p, size_t bytes) {
    QA_CUDA_CHECK(cudaMalloc(p, bytes ? bytes : 16));
    g->bytes += bytes;
    return QA_OK;
}

}  // namespace

extern "C" qa_status qa_nn_cuda_lstm_create(void *stream, qa_nn_math math, const qa_nn_lstm_shape *s,
                                            qa_nn_lstm_gpu **out) {
    qa_status st = QA_OK;
    qa_nn_lstm_gpu *g = (qa_nn_lstm_gpu *)calloc(1, sizeof *g);
    if (!g) return QA_FAIL(QA_ERR_NOMEM, "lstm gpu state");
    g->stream = (cudaStream_t)stream;
    g->shape = *s;
    const size_t B = (size_t)s->batch, L = (size_t)s->seq_len, H = (size_t)s->hidden, F = (size_t)s->input;
    const size_t nl = (size_t)s->layers;
    int32_t *lens = nullptr;
    {
        QA_TRY(qa_cudalib_load(QA_CUDALIB_CUDNN));
        QA_CUDNN_TRY(cudnnCreate(&g->dnn));
        QA_CUDNN_TRY(cudnnSetStream(g->dnn, g->stream));
        QA_CUDNN_TRY(cudnnCreateDropoutDescriptor(&g->drop));
        // no dropout: cuDNN takes no RNG state (and applies dropout only between layers)
        QA_CUDNN_TRY(cudnnSetDropoutDescriptor(g->drop, g->dnn, 0.0f, nullptr, 0, 0));
        QA_CUDNN_TRY(cudnnCreateRNNDescriptor(&g->rnn));
        // FP32: FMA only (no TF32 tensor cores), to match the CPU to ~1e-5; TF32/BF16:
        // cuDNN's default math, which may use TF32 tensor cores for FP32 data.
        const cudnnMathType_t mt = math == QA_NN_MATH_FP32 ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
        QA_CUDNN_TRY(cudnnSetRNNDescriptor_v8(g->rnn, CUDNN_RNN_ALGO_STANDARD, CUDNN_LSTM, CUDNN_RNN_DOUBLE_BIAS,
                                              CUDNN_UNIDIRECTIONAL, CUDNN_LINEAR_INPUT, CUDNN_DATA_FLOAT,
                                              CUDNN_DATA_FLOAT, mt, s->input, s->hidden, s->hidden, s->layers,
                                              g->drop, CUDNN_RNN_PADDED_IO_ENABLED));
        QA_CUDNN_TRY(cudnnCreateRNNDataDescriptor(&g->xdesc));
        QA_CUDNN_TRY(cudnnCreateRNNDataDescriptor(&g->ydesc));
        QA_CUDNN_TRY(cudnnCreateTensorDescriptor(&g->hdesc));
        QA_CUDNN_TRY(cudnnCreateTensorDescriptor(&g->cdesc));
        QA_TRY(set_batch(g, s->batch));  // records work/reserve sizes for the maximum batch
        QA_CUDNN_TRY(cudnnGetRNNWeightSpaceSize(g->dnn, g->rnn, &g->wspace_bytes));
        QA_TRY(dev_alloc(g, &g->wspace, g->wspace_bytes));
        QA_TRY(dev_alloc(g, &g->dwspace, g->wspace_bytes));
        QA_TRY(dev_alloc(g, &g->work, g->work_bytes));
        QA_TRY(dev_alloc(g, &g->reserve, g->reserve_bytes));
        QA_TRY(dev_alloc(g, (void **)&g->y, B * L * H * sizeof(float)));
        QA_TRY(dev_alloc(g, (void **)&g->hy, nl * B * H * sizeof(float)));
        QA_TRY(dev_alloc(g, (void **)&g->dy_zero, B * L * H * sizeof(float)));
        QA_TRY(dev_alloc(g, (void **)&g->dhy, nl * B * H * sizeof(float)));
        QA_TRY(dev_alloc(g, (void **)&g->dx_skip, B * L * F * sizeof(float)));
        QA_TRY(dev_alloc(g, (void **)&g->dev_seq, B * sizeof(int32_t)));
        QA_CUDA_TRY(cudaMemset(g->wspace, 0, g->wspace_bytes));
        QA_CUDA_TRY(cudaMemset(g->dy_zero, 0, B * L * H * sizeof(float)));
        lens = (int32_t *)malloc(B * sizeof(int32_t));
        if (!lens) QA_TRY_FAIL(QA_ERR_NOMEM, "lstm: sequence lengths");
        for (size_t b = 0; b < B; b++) lens[b] = s->seq_len;
        QA_CUDA_TRY(cudaMemcpy(g->dev_seq, lens, B * sizeof(int32_t), cudaMemcpyHostToDevice));
        QA_TRY(build_segments(g));
    }
    free(lens);
    *out = g;
    return QA_OK;
cleanup:
    free(lens);
    qa_nn_cuda_lstm_free(g);
    return st;
}

extern "C" void qa_nn_cuda_lstm_free(qa_nn_lstm_gpu *g) {
    if (!g) return;
    cudaStreamSynchronize(g->stream);
    void *bufs[] = {g->wspace, g->dwspace, g->work, g->reserve, g->y, g->hy, g->dy_zero, g->dhy, g->dx_skip,
                    g->dev_seq, g->segs};
    for (void *p : bufs)
        if (p) cudaFree(p);
    if (g->xdesc) cudnnDestroyRNNDataDescriptor(g->xdesc);
    if (g->ydesc) cudnnDestroyRNNDataDescriptor(g->ydesc);
    if (g->hdesc) cudnnDestroyTensorDescriptor(g->hdesc);
    if (g->cdesc) cudnnDestroyTensorDescriptor(g->cdesc);
    if (g->rnn) cudnnDestroyRNNDescriptor(g->rnn);
    if (g->drop) cudnnDestroyDropoutDescriptor(g->drop);
    if (g->dnn) cudnnDestroy(g->dnn);
    free(g);
}

extern "C" size_t qa_nn_cuda_lstm_memory_bytes(const qa_nn_lstm_gpu *g) { return g->bytes; }

extern "C" qa_status qa_nn_cuda_lstm_forward(qa_nn_lstm_gpu *g, int batch, const float *params, const float *x,
                                             float *h_last, float *y_seq) {
    const qa_nn_lstm_shape &s = g->shape;
    if (batch != g->cur_batch) {
        qa_status st = set_batch(g, batch);
        if (st != QA_OK) return st;
    }
    qa_status st = seg_copy(g, params, (float *)g->wspace, 0, 0);
    if (st != QA_OK) return st;
    QA_CUDNN_CHECK(cudnnRNNForward(g->dnn, g->rnn, CUDNN_FWD_MODE_TRAINING, g->dev_seq, g->xdesc, x, g->ydesc, g->y,
                                   g->hdesc, nullptr, g->hy, g->cdesc, nullptr, nullptr, g->wspace_bytes, g->wspace,
                                   g->work_bytes, g->work, g->reserve_bytes, g->reserve));
    const size_t bh = (size_t)batch * s.hidden;
    QA_CUDA_CHECK(cudaMemcpyAsync(h_last, g->hy + (size_t)(s.layers - 1) * bh, bh * sizeof(float),
                                  cudaMemcpyDeviceToDevice, g->stream));
    if (y_seq)
        QA_CUDA_CHECK(cudaMemcpyAsync(y_seq, g->y, bh * (size_t)s.seq_len * sizeof(float), cudaMemcpyDeviceToDevice,
                                      g->stream));
    return QA_OK;
}

extern "C" qa_status qa_nn_cuda_lstm_backward(qa_nn_lstm_gpu *g, int batch, const float *x, const float *dh_last,
                                              const float *dy_seq, float *dx, float *dparams, int accumulate) {
    const qa_nn_lstm_shape &s = g->shape;
    const size_t bh = (size_t)batch * s.hidden;
    // dhy: zero for the lower layers' final states, dh_last on the top layer's
    QA_CUDA_CHECK(cudaMemsetAsync(g->dhy, 0, (size_t)s.layers * bh * sizeof(float), g->stream));
    if (dh_last)
        QA_CUDA_CHECK(cudaMemcpyAsync(g->dhy + (size_t)(s.layers - 1) * bh, dh_last, bh * sizeof(float),
                                      cudaMemcpyDeviceToDevice, g->stream));
    QA_CUDNN_CHECK(cudnnRNNBackwardData_v8(g->dnn, g->rnn, g->dev_seq, g->ydesc, g->y, dy_seq ? dy_seq : g->dy_zero,
                                           g->xdesc, dx ? dx : g->dx_skip, g->hdesc, nullptr, g->dhy, nullptr,
                                           g->cdesc, nullptr, nullptr, nullptr, g->wspace_bytes, g->wspace,
                                           g->work_bytes, g->work, g->reserve_bytes, g->reserve));
    // cuDNN's weight gradient only adds (CUDNN_WGRAD_MODE_ADD): start from zero
    QA_CUDA_CHECK(cudaMemsetAsync(g->dwspace, 0, g->wspace_bytes, g->stream));
    QA_CUDNN_CHECK(cudnnRNNBackwardWeights_v8(g->dnn, g->rnn, CUDNN_WGRAD_MODE_ADD, g->dev_seq, g->xdesc, x, g->hdesc,
                                              nullptr, g->ydesc, g->y, g->wspace_bytes, g->dwspace, g->work_bytes,
                                              g->work, g->reserve_bytes, g->reserve));
    return seg_copy(g, (const float *)g->dwspace, dparams, 1, accumulate);
}

#else  // !QA_HAVE_CUDNN

extern "C" qa_status qa_nn_cuda_lstm_create(void *stream, qa_nn_math math, const qa_nn_lstm_shape *s,
                                            qa_nn_lstm_gpu **out) {
    (void)stream, (void)math, (void)s, (void)out;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no cuDNN: the GPU LSTM needs it (the CPU LSTM works)");
}
extern "C" void qa_nn_cuda_lstm_free(qa_nn_lstm_gpu *g) { (void)g; }
extern "C" size_t qa_nn_cuda_lstm_memory_bytes(const qa_nn_lstm_gpu *g) {
    (void)g;
    return 0;
}
extern "C" qa_status qa_nn_cuda_lstm_forward(qa_nn_lstm_gpu *g, int batch, const float *params, const float *x,
                                             float *h_last, float *y_seq) {
    (void)g, (void)batch, (void)params, (void)x, (void)h_last, (void)y_seq;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no cuDNN");
}
extern "C" qa_status qa_nn_cuda_lstm_backward(qa_nn_lstm_gpu *g, int batch, const float *x, const float *dh_last,
                                              const float *dy_seq, float *dx, float *dparams, int accumulate) {
    (void)g, (void)batch, (void)x, (void)dh_last, (void)dy_seq, (void)dx, (void)dparams, (void)accumulate;
    return QA_FAIL(QA_ERR_UNSUPPORTED, "this build has no cuDNN");
}

#endif
