/* The two model architectures (an MLP and a stacked LSTM, each with a linear head), their
 * parameter layout, and their forward pass on the host for inference: the one forward
 * pass that every predictor runs (registry/predict.h: batch scoring, the live service,
 * the per-bar stateful LSTM).
 *
 * Architectures (docs/nn.md, docs/models.md):
 *   MLP:  x [L*F] -> per hidden width w_l: linear (W_l [w_l x in], b_l) -> LayerNorm
 *         (gamma_l, beta_l; optional) -> activation -> ... -> head (W_o [outputs x w], b_o)
 *   LSTM: x [L x F] -> stacked LSTM (every layer width H; PyTorch's gate order i, f, g, o
 *         and parameter layout W_ih, W_hh, b_ih, b_hh per layer) -> last hidden state ->
 *         head (W_o [outputs x H], b_o)
 * Parameters are one float vector; qa_nn_arch_segments lists its runs in order.
 *
 * Inference runs on the calling thread with buffers sized at creation: no allocation, no
 * locks and no BLAS threading per call. Arithmetic: the vectorised dense products of
 * this file and the CPU training kernels' own activation, LayerNorm and LSTM-cell code,
 * so the result equals the training network's CPU forward to float rounding (the GEMM
 * sums in another order; tests/kernels/test_nn_layers.c states the budget).
 *
 * The LSTM has two forms that are the same computation: a window forward (zero state,
 * then the window's L bars) and a step that advances a carried state (h, c of every
 * layer) by one bar. Stepping a reset state through a window's bars gives the window
 * forward's output bit for bit; carrying the state past L bars gives the network with
 * an unbounded history instead of the trained L-bar window (registry/predict.h says when
 * that is what a user wants). */
#ifndef QA_KERNELS_NN_INFER_H
#define QA_KERNELS_NN_INFER_H

#include <stddef.h>  /* size_t */

#include "common/status.h"
#include "kernels/nn.h" /* qa_nn_act */

#ifdef __cplusplus
extern "C" {
#endif

#define QA_NN_MAX_HIDDEN 8
#define QA_NN_MAX_SEGMENTS (4 * QA_NN_MAX_HIDDEN + 4)

typedef enum qa_nn_arch_type {
    QA_NN_ARCH_MLP = 0,
    QA_NN_ARCH_LSTM = 1,
    QA_NN_ARCH_COUNT = 2
} qa_nn_arch_type;

/* "mlp", "lstm"; "?" outside the enum. */
const char *qa_nn_arch_name(qa_nn_arch_type t);

typedef struct qa_nn_arch {
    qa_nn_arch_type type;
    int input;   /* F: inputs per bar */
    int window;  /* L: bars per sample (the MLP sees L*F inputs) */
    int outputs; /* 1 for regression, K class logits for classification */
    int nhidden; /* MLP hidden layers (0..QA_NN_MAX_HIDDEN); LSTM stacked layers (>= 1) */
    int hidden[QA_NN_MAX_HIDDEN];
    qa_nn_act act;  /* MLP hidden activation */
    int layer_norm; /* MLP: LayerNorm after each hidden linear layer */
    float dropout;  /* training only (MLP hidden layers, LSTM last hidden state); 0 <= p < 1 */
} qa_nn_arch;

/* QA_ERR_CONFIG naming the field for an inconsistent architecture. */
qa_status qa_nn_arch_check(const qa_nn_arch *a);

/* One contiguous run of the parameter vector. */
typedef struct qa_nn_seg {
    size_t offset, count;
    int decay;     /* a weight matrix (AdamW weight decay applies) */
    char name[24]; /* "l0.weight", "head.bias", "lstm0.w_ih", ... */
} qa_nn_seg;

/* Fills up to QA_NN_MAX_SEGMENTS segments in vector order; returns the count. */
int qa_nn_arch_segments(const qa_nn_arch *a, qa_nn_seg *segs);
size_t qa_nn_arch_param_count(const qa_nn_arch *a);

/* ---- host inference ------------------------------------------------------------------------- */

typedef struct qa_nn_infer qa_nn_infer_t;

/* A forward plan for up to max_rows rows (1..4096). Caller frees. */
qa_status qa_nn_infer_create(const qa_nn_arch *a, int max_rows, qa_nn_infer_t **out);
void qa_nn_infer_free(qa_nn_infer_t *p);

/* y[rows x outputs] = net(x[rows x L x F]) (raw head outputs: a regression value or class
 * logits), the LSTM from a zero state over each row's window. Host memory. */
qa_status qa_nn_infer_forward(qa_nn_infer_t *p, const float *params, int rows, const float *x, float *y);

/* LSTM carried state: for each layer h [H] then c [H]. */
size_t qa_nn_infer_state_floats(const qa_nn_arch *a);
/* Zeroes a state (a sequence restarts from it). */
void qa_nn_infer_state_reset(const qa_nn_arch *a, float *state);
/* One bar x_t [F] through every LSTM layer from `state` (updated in place); y [outputs]
 * receives the head output of the new top hidden state. LSTM plans only. */
qa_status qa_nn_infer_step(qa_nn_infer_t *p, const float *params, const float *x_t, float *state, float *y);

#ifdef __cplusplus
}
#endif
#endif
