/* The actor and critic networks of PPO: a plain MLP (linear -> bias + activation per hidden
 * layer, then a linear head) on the nn kernels, on any backend, with its backward pass.
 *
 * Parameter layout = kernels/nn_infer.h's MLP without LayerNorm (W_l [w_l x in], b_l
 * [w_l] per hidden layer, then W_o [out x w_last], b_o [out]), so a trained actor is a
 * qa_nn_arch a host predictor (qa_nn_infer) or the registry loads as it is. */
#ifndef QA_RL_MLP_H
#define QA_RL_MLP_H

#include <stddef.h>  /* size_t */
#include <stdint.h>  /* uint64_t */

#include "common/status.h"
#include "kernels/nn.h"
#include "kernels/nn_infer.h" /* qa_nn_arch, QA_NN_MAX_HIDDEN */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qa_rl_mlp {
    int in, out, nhidden;
    int hidden[QA_NN_MAX_HIDDEN];
    qa_nn_act act;
} qa_rl_mlp;

size_t qa_rl_mlp_params(const qa_rl_mlp *m);
/* The same network as a qa_nn_arch (type MLP, window 1, no LayerNorm, no dropout). */
qa_nn_arch qa_rl_mlp_arch(const qa_rl_mlp *m);
/* Its inverse, for an actor read back from a model file (type MLP, window 1). */
qa_rl_mlp qa_rl_mlp_of_arch(const qa_nn_arch *a);
/* Widest layer (hidden or output): the row width of the backward scratch. */
int qa_rl_mlp_max_width(const qa_rl_mlp *m);

/* Initial parameters into host memory: hidden weights U(-a, a) with a = sqrt(2) sqrt(3 /
 * fan_in) (the variance of CleanRL's orthogonal init with gain sqrt 2), head weights the
 * same with gain `head_gain` (0.01 for the actor, 1 for the critic, as CleanRL), biases 0;
 * Philox (seed, stream + layer, element). */
void qa_rl_mlp_init(const qa_rl_mlp *m, uint64_t seed, uint64_t stream, double head_gain, float *params);

/* Activations of one forward pass: z[l] (linear outputs, B x w_l) and h[l] (after bias
 * and activation), for the backward. */
typedef struct qa_rl_mlp_act {
    float *z[QA_NN_MAX_HIDDEN];
    float *h[QA_NN_MAX_HIDDEN];
} qa_rl_mlp_act;

/* y [B x out] = net(x [B x in]). */
qa_status qa_rl_mlp_forward(qa_nn_ctx_t *ctx, const qa_rl_mlp *m, const float *params, int B, const float *x,
                            const qa_rl_mlp_act *a, float *y);
/* grad (overwritten, parameter layout) from dy [B x out] through the activations of the
 * forward on the same x; dy is left intact; s0, s1 are [B x max_width] scratch. */
qa_status qa_rl_mlp_backward(qa_nn_ctx_t *ctx, const qa_rl_mlp *m, const float *params, int B, const float *x,
                             const qa_rl_mlp_act *a, const float *dy, float *grad, float *s0, float *s1);

#ifdef __cplusplus
}
#endif
#endif
