/* The trainable networks of `qa train`, assembled from the nn kernels (kernels/nn.h,
 * kernels/nn_lstm.h) on any backend: an MLP and an LSTM with a linear head (the
 * architectures of kernels/nn_infer.h), their initialisation, and one forward + loss +
 * backward pass.
 *
 * MLP: x [rows x L*F] -> for each hidden width w_l: linear (W_l [w_l x in], b_l)
 *      -> LayerNorm (gamma_l, beta_l; optional) -> activation -> dropout
 *      -> linear head (W_o [outputs x w_last], b_o).
 *      Without LayerNorm the bias is fused into the activation kernel (same maths).
 * LSTM: x [rows x L x F] -> stacked LSTM (all layers of width H) -> last hidden state
 *      -> dropout -> linear head (W_o [outputs x H], b_o).
 *
 * Parameters are one float vector (docs/models.md lists the segments in order): MLP
 * layer by layer W_l, b_l[, gamma_l, beta_l], then W_o, b_o; LSTM the kernel's vector
 * (per layer W_ih, W_hh, b_ih, b_hh; PyTorch's layout) then W_o, b_o. Weight matrices
 * get weight decay, biases and LayerNorm parameters do not.
 *
 * Dropout masks are keyed by (seed, step, element): the trainer derives a seed per data
 * shard and layer, so a shard's masks do not depend on which rank computes it. */
#ifndef QA_PIPELINE_TRAIN_NET_H
#define QA_PIPELINE_TRAIN_NET_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* int32_t, uint64_t */

#include "common/status.h"
#include "kernels/nn.h"
#include "kernels/nn_infer.h" /* qa_nn_arch and its parameter layout */
#include "kernels/nn_lstm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qa_train_loss {
    QA_TRAIN_LOSS_MSE = 0,
    QA_TRAIN_LOSS_HUBER = 1,
    QA_TRAIN_LOSS_CROSS_ENTROPY = 2,
    QA_TRAIN_LOSS_COUNT = 3
} qa_train_loss;

/* "mse", "huber", "cross_entropy": registry/model.h's qa_model_loss_names. */
const char *qa_train_loss_name(qa_train_loss l);

/* Initial parameters into host memory: PyTorch's defaults (linear weights and biases
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), LSTM U(-1/sqrt(H), 1/sqrt(H)), LayerNorm gamma 1,
 * beta 0) from Philox (seed, stream 100 + segment, element). */
void qa_train_arch_init_params(const qa_nn_arch *a, uint64_t seed, float *params);

/* Dropout key of one pass: masks use seed qa_nn_dropout_seed(seed, layer) at `step`. */
typedef struct qa_train_drop {
    uint64_t seed;
    uint64_t step;
} qa_train_drop;

/* Called during the backward pass when grad[first, P) is final (backward runs from the
 * head to the input, so `first` decreases); lets data parallelism start reducing
 * those gradients while the rest is computed. */
typedef qa_status (*qa_train_grad_ready_fn)(void *user, size_t first);

typedef struct qa_train_net qa_train_net_t;

/* Buffers for passes of up to max_rows rows on ctx's backend. Caller frees. */
qa_status qa_train_net_create(qa_nn_ctx_t *ctx, const qa_nn_arch *a, int max_rows, qa_train_net_t **out);
void qa_train_net_free(qa_train_net_t *n);
int qa_train_net_max_rows(const qa_train_net_t *n);
/* Backend bytes the net holds (activations, LSTM plan). */
size_t qa_train_net_memory_bytes(const qa_train_net_t *n);

/* Forward without dropout; returns the backend output [rows x outputs] (owned by the
 * net, valid until the next call). x is backend memory [rows x L x F]. */
qa_status qa_train_net_forward(qa_train_net_t *n, int rows, const float *params, const float *x, const float **out);

/* Mean loss of a forward without dropout (no gradients): regression targets y[rows] or
 * class labels cls[rows] (backend memory); *loss is a backend scalar. */
qa_status qa_train_net_loss(qa_train_net_t *n, int rows, const float *params, const float *x, qa_train_loss loss,
                            float huber_delta, const float *y, const int32_t *cls, float *loss_out);

/* Forward with dropout `drop` (NULL: none), loss, backward. grad (P floats, backend)
 * receives d(mean loss over the rows)/d(params): overwritten, or added to when
 * `accumulate` (micro-batches). `hook` (may be NULL) is called as ranges become final. */
qa_status qa_train_net_step(qa_train_net_t *n, int rows, const float *params, const float *x, qa_train_loss loss,
                            float huber_delta, const float *y, const int32_t *cls, const qa_train_drop *drop,
                            float *loss_out, float *grad, int accumulate, qa_train_grad_ready_fn hook, void *user);

#ifdef __cplusplus
}
#endif
#endif
