/* PPO's MLP on the nn kernels (rl/mlp.h). */
#include "rl/mlp.h"

#include <math.h>

#include "common/philox.h"

size_t qa_rl_mlp_params(const qa_rl_mlp *m) {
    size_t n = 0;
    int in = m->in;
    for (int l = 0; l < m->nhidden; l++) {
        n += (size_t)m->hidden[l] * in + m->hidden[l];
        in = m->hidden[l];
    }
    return n + (size_t)m->out * in + m->out;
}

qa_nn_arch qa_rl_mlp_arch(const qa_rl_mlp *m) {
    qa_nn_arch a = {.type = QA_NN_ARCH_MLP, .input = m->in, .window = 1, .outputs = m->out,
                    .nhidden = m->nhidden, .act = m->act};
    for (int l = 0; l < m->nhidden; l++) a.hidden[l] = m->hidden[l];
    return a;
}

qa_rl_mlp qa_rl_mlp_of_arch(const qa_nn_arch *a) {
    qa_rl_mlp m = {.in = a->input * a->window, .out = a->outputs, .nhidden = a->nhidden, .act = a->act};
    for (int l = 0; l < a->nhidden; l++) m.hidden[l] = a->hidden[l];
    return m;
}

int qa_rl_mlp_max_width(const qa_rl_mlp *m) {
    int w = m->out;
    for (int l = 0; l < m->nhidden; l++) w = m->hidden[l] > w ? m->hidden[l] : w;
    return w;
}

static void init_layer(uint64_t seed, uint64_t stream, int rows, int cols, double gain, float *w, float *b) {
    double a = gain * sqrt(3.0 / cols);
    for (size_t i = 0; i < (size_t)rows * cols; i++)
        w[i] = (float)(a * (2.0 * qa_rng_uniform(seed, stream, i) - 1.0));
    for (int i = 0; i < rows; i++) b[i] = 0.0f;
}

void qa_rl_mlp_init(const qa_rl_mlp *m, uint64_t seed, uint64_t stream, double head_gain, float *p) {
    int in = m->in;
    for (int l = 0; l < m->nhidden; l++) {
        int w = m->hidden[l];
        init_layer(seed, stream + (uint64_t)l, w, in, sqrt(2.0), p, p + (size_t)w * in);
        p += (size_t)w * in + w;
        in = w;
    }
    init_layer(seed, stream + (uint64_t)m->nhidden, m->out, in, head_gain, p, p + (size_t)m->out * in);
}

qa_status qa_rl_mlp_forward(qa_nn_ctx_t *ctx, const qa_rl_mlp *m, const float *params, int B, const float *x,
                            const qa_rl_mlp_act *a, float *y) {
    const float *in = x, *p = params;
    int nin = m->in;
    for (int l = 0; l < m->nhidden; l++) {
        int w = m->hidden[l];
        QA_TRY_RET(qa_nn_linear_forward(ctx, B, nin, w, in, p, NULL, a->z[l]));
        QA_TRY_RET(qa_nn_bias_act_forward(ctx, m->act, B, w, a->z[l], p + (size_t)w * nin, NULL, a->h[l]));
        p += (size_t)w * nin + w;
        in = a->h[l];
        nin = w;
    }
    return qa_nn_linear_forward(ctx, B, nin, m->out, in, p, p + (size_t)m->out * nin, y);
}

qa_status qa_rl_mlp_backward(qa_nn_ctx_t *ctx, const qa_rl_mlp *m, const float *params, int B, const float *x,
                             const qa_rl_mlp_act *a, const float *dy, float *grad, float *s0, float *s1) {
    /* Offsets of each layer's W and b in the parameter vector. */
    size_t off[QA_NN_MAX_HIDDEN + 1];
    int fan[QA_NN_MAX_HIDDEN + 1];
    size_t o = 0;
    int nin = m->in;
    for (int l = 0; l < m->nhidden; l++) {
        off[l] = o, fan[l] = nin;
        o += (size_t)m->hidden[l] * nin + m->hidden[l];
        nin = m->hidden[l];
    }
    off[m->nhidden] = o, fan[m->nhidden] = nin;
    int L = m->nhidden;
    const float *hin = L ? a->h[L - 1] : x;
    float *dcur = L ? s0 : NULL;
    QA_TRY_RET(qa_nn_linear_backward(ctx, B, fan[L], m->out, hin, params + off[L], dy, dcur, grad + off[L],
                                     grad + off[L] + (size_t)m->out * fan[L], 0));
    for (int l = L - 1; l >= 0; l--) {
        int w = m->hidden[l];
        const float *bias = params + off[l] + (size_t)w * fan[l];
        QA_TRY_RET(qa_nn_bias_act_backward(ctx, m->act, B, w, a->z[l], bias, NULL, dcur, dcur,
                                           grad + off[l] + (size_t)w * fan[l], 0));
        float *dnext = l > 0 ? (dcur == s0 ? s1 : s0) : NULL;
        QA_TRY_RET(qa_nn_linear_backward(ctx, B, fan[l], w, l > 0 ? a->h[l - 1] : x, params + off[l], dcur, dnext,
                                         grad + off[l], NULL, 0));
        dcur = dnext;
    }
    return QA_OK;
}
