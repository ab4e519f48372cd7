/* LSTM sequence layer (optionally stacked) with forward and backward through time.
 *
 * Input x is [batch x seq_len x input] row-major (batch-first). Layer l (input size
 * in_l = input for l = 0, hidden above) computes for t = 0..L-1, from h_{-1} = c_{-1} = 0:
 *   z = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh                  (4H values, gate order i, f, g, o)
 *   i = sigmoid(z_i), f = sigmoid(z_f), g = tanh(z_g), o = sigmoid(z_o)
 *   c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)
 * and feeds its h sequence to layer l+1. The forward returns the top layer's last hidden
 * state h_{L-1} [batch x hidden] (for a head on top) and optionally its whole output
 * sequence [batch x seq_len x hidden].
 *
 * Parameters are one float vector, layer after layer, each layer
 *   W_ih [4H x in_l] | W_hh [4H x H] | b_ih [4H] | b_hh [4H]
 * with rows grouped by gate in the order i, f, g, o (PyTorch's nn.LSTM layout). The CPU
 * and the CUDA backend use this same vector; on CUDA it is copied into cuDNN's weight
 * space (cudnnGetRNNWeightParams: linLayerID 0-3 = W_ih gates i, f, g, o, 4-7 = W_hh
 * gates, each an H x in row-major matrix; biases likewise) before the forward, and
 * cuDNN's weight gradients are copied back the same way. See docs/nn.md.
 *
 * The plan (qa_nn_lstm_t) owns every buffer the layer needs (the saved activations
 * for BPTT on the CPU; cuDNN's weight, work and reserve spaces on CUDA), sized once for
 * the maximum batch, so forward/backward never allocate. It keeps the activations of
 * the last forward: call backward after forward with the same batch, params and x. */
#ifndef QA_KERNELS_NN_LSTM_H
#define QA_KERNELS_NN_LSTM_H

#include <stddef.h>  /* size_t */

#include "common/status.h"
#include "kernels/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_nn_lstm_shape {
    int batch;   /* maximum batch; calls may use fewer rows */
    int seq_len; /* L */
    int input;   /* F */
    int hidden;  /* H */
    int layers;  /* stacked layers, >= 1 */
} qa_nn_lstm_shape;

typedef enum qa_nn_lstm_part {
    QA_NN_LSTM_W_IH = 0,
    QA_NN_LSTM_W_HH = 1,
    QA_NN_LSTM_B_IH = 2,
    QA_NN_LSTM_B_HH = 3,
    QA_NN_LSTM_PART_COUNT = 4
} qa_nn_lstm_part;

qa_status qa_nn_lstm_check(const qa_nn_lstm_shape *s);
/* Length of the parameter vector. */
size_t qa_nn_lstm_param_count(const qa_nn_lstm_shape *s);
/* Offset of `part` of `layer` in the parameter vector. */
size_t qa_nn_lstm_param_offset(const qa_nn_lstm_shape *s, int layer, qa_nn_lstm_part part);

typedef struct qa_nn_lstm qa_nn_lstm_t;

/* Creates a plan on ctx's backend (the ctx must outlive it). On CUDA the math mode of
 * the ctx at creation picks cuDNN's math: FP32 -> CUDNN_FMA_MATH (no tensor cores),
 * TF32 or BF16 -> CUDNN_DEFAULT_MATH (TF32 tensor cores allowed; cuDNN's FP32 LSTM has
 * no BF16 mode). A CUDA build without cuDNN returns QA_ERR_UNSUPPORTED. Caller frees. */
qa_status qa_nn_lstm_create(qa_nn_ctx_t *ctx, const qa_nn_lstm_shape *shape, qa_nn_lstm_t **out);
/* Waits for queued work, then frees. Accepts NULL. */
void qa_nn_lstm_free(qa_nn_lstm_t *lstm);
/* Bytes of buffers the plan holds (saved activations / cuDNN spaces). */
size_t qa_nn_lstm_memory_bytes(const qa_nn_lstm_t *lstm);

/* Forward over batch <= shape.batch rows of x; h_last [batch x H]; y_seq [batch x L x H]
 * or NULL. Saves what backward needs. */
qa_status qa_nn_lstm_forward(qa_nn_lstm_t *lstm, int batch, const float *params, const float *x,
                             float *h_last, float *y_seq);
/* Backward through time for the last forward. Incoming gradients: dh_last [batch x H]
 * on the top layer's last hidden state and/or dy_seq [batch x L x H] on its whole output
 * sequence (either may be NULL = zero). Outputs: dx [batch x L x F] (NULL to skip;
 * overwritten) and dparams (+)= gradients in the parameter-vector layout. */
qa_status qa_nn_lstm_backward(qa_nn_lstm_t *lstm, int batch, const float *params, const float *x,
                              const float *dh_last, const float *dy_seq, float *dx, float *dparams,
                              int accumulate);

#ifdef __cplusplus
}
#endif
#endif
