/* MLP and LSTM networks for training: initialisation and the
 * forward/loss/backward pass over the nn kernels (contracts in pipeline/train/train_net.h). */
#include "pipeline/train/train_net.h"

#include <assert.h>  /* static_assert */
#include <math.h>    /* sqrt */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, free */
#include <string.h>  /* memset */

#include "common/philox.h" /* initial parameters */
#include "registry/model.h"  /* the loss names */

/* The names are the model file's (registry/model.h), which its loader checks: one table. */
static_assert(QA_MODEL_LOSS_COUNT == QA_TRAIN_LOSS_COUNT, "loss names");

const char *qa_train_loss_name(qa_train_loss l) {
    return (unsigned)l < QA_TRAIN_LOSS_COUNT ? qa_model_loss_names[l] : "?";
}

static qa_nn_lstm_shape lstm_shape(const qa_nn_arch *a, int batch) {
    return (qa_nn_lstm_shape){batch, a->window, a->input, a->hidden[0], a->nhidden};
}

void qa_train_arch_init_params(const qa_nn_arch *a, uint64_t seed, float *p) {
    qa_nn_seg s[QA_NN_MAX_SEGMENTS];
    int n = qa_nn_arch_segments(a, s);
    for (int i = 0; i < n; i++) {
        double bound;
        const char *nm = s[i].name;
        if (strstr(nm, "ln_gamma") || strstr(nm, "ln_beta")) {
            float v = strstr(nm, "ln_gamma") ? 1.0f : 0.0f;
            for (size_t k = 0; k < s[i].count; k++) p[s[i].offset + k] = v;
            continue;
        }
        if (a->type == QA_NN_ARCH_LSTM && strncmp(nm, "lstm", 4) == 0) bound = 1.0 / sqrt((double)a->hidden[0]);
        else {
            /* fan-in of a linear layer: its weight count / its output count */
            const qa_nn_seg *w = strstr(nm, "bias") ? &s[i - 1] : &s[i];
            size_t outs = strstr(nm, "bias") ? s[i].count : s[i + 1].count;
            const size_t fan_in = w->count / outs; /* exact: a weight matrix holds fan-in x outputs */
            bound = 1.0 / sqrt((double)fan_in);
        }
        for (size_t k = 0; k < s[i].count; k++)
            p[s[i].offset + k] = (float)(bound * (2.0 * qa_rng_uniform(seed, 100 + (uint64_t)i, k) - 1.0));
    }
}

/* ---- the net ---------------------------------------------------------------------------- */

#define MAX_BUFS (8 * QA_NN_MAX_HIDDEN + 16)

struct qa_train_net {
    qa_nn_ctx_t *ctx;
    qa_backend_t *be;
    qa_nn_arch arch;
    int max_rows;
    size_t nparams;
    qa_nn_seg segs[QA_NN_MAX_SEGMENTS];
    int nsegs;
    qa_buf bufs[MAX_BUFS];
    int nbufs;
    size_t bytes;
    /* MLP: per hidden layer */
    float *u[QA_NN_MAX_HIDDEN];   /* linear output (pre-LN / pre-activation) */
    float *ln[QA_NN_MAX_HIDDEN];  /* LayerNorm output */
    float *mu[QA_NN_MAX_HIDDEN], *rs[QA_NN_MAX_HIDDEN];
    float *h[QA_NN_MAX_HIDDEN];   /* activation (+ dropout) output */
    float *d[QA_NN_MAX_HIDDEN];   /* gradient w.r.t. h */
    float *e;                        /* LayerNorm input gradient (widest layer) */
    /* LSTM */
    qa_nn_lstm_t *lstm;
    float *hl, *hd, *dh; /* last hidden, after dropout, its gradient */
    /* head */
    float *y, *dy;
    float *scratch_loss;
};

static qa_status alloc(qa_train_net_t *n, size_t floats, float **out) {
    if (n->nbufs == MAX_BUFS) return QA_FAIL(QA_ERR_LIMIT, "net: too many buffers");
    qa_buf *b = &n->bufs[n->nbufs];
    qa_status st = qa_buf_alloc(n->be, (floats ? floats : 1) * sizeof(float), b);
    if (st != QA_OK) return st;
    n->nbufs++;
    n->bytes += b->bytes;
    *out = b->ptr;
    return QA_OK;
}

void qa_train_net_free(qa_train_net_t *n) {
    if (!n) return;
    if (n->be) qa_backend_sync(n->be);
    qa_nn_lstm_free(n->lstm);
    for (int i = 0; i < n->nbufs; i++) qa_buf_free(&n->bufs[i]);
    free(n);
}

qa_status qa_train_net_create(qa_nn_ctx_t *ctx, const qa_nn_arch *a, int max_rows, qa_train_net_t **out) {
    qa_status st = qa_nn_arch_check(a);
    if (st != QA_OK) return st;
    if (max_rows < 1) return QA_FAIL(QA_ERR_INVALID_ARG, "net: max_rows %d", max_rows);
    qa_train_net_t *n = calloc(1, sizeof *n);
    if (!n) return QA_FAIL(QA_ERR_NOMEM, "net");
    n->ctx = ctx;
    n->be = qa_nn_ctx_backend(ctx);
    n->arch = *a;
    n->max_rows = max_rows;
    n->nsegs = qa_nn_arch_segments(a, n->segs);
    n->nparams = qa_nn_arch_param_count(a);
    const size_t B = (size_t)max_rows;
    if (a->type == QA_NN_ARCH_MLP) {
        size_t widest = 1;
        for (int l = 0; l < a->nhidden; l++) {
            size_t w = (size_t)a->hidden[l];
            widest = w > widest ? w : widest;
            QA_TRY(alloc(n, B * w, &n->u[l]));
            QA_TRY(alloc(n, B * w, &n->h[l]));
            QA_TRY(alloc(n, B * w, &n->d[l]));
            if (a->layer_norm) {
                QA_TRY(alloc(n, B * w, &n->ln[l]));
                QA_TRY(alloc(n, B, &n->mu[l]));
                QA_TRY(alloc(n, B, &n->rs[l]));
            }
        }
        if (a->layer_norm) QA_TRY(alloc(n, B * widest, &n->e));
    } else {
        qa_nn_lstm_shape sh = lstm_shape(a, max_rows);
        QA_TRY(qa_nn_lstm_create(ctx, &sh, &n->lstm));
        size_t H = (size_t)a->hidden[0];
        QA_TRY(alloc(n, B * H, &n->hl));
        QA_TRY(alloc(n, B * H, &n->hd));
        QA_TRY(alloc(n, B * H, &n->dh));
    }
    QA_TRY(alloc(n, B * (size_t)a->outputs, &n->y));
    QA_TRY(alloc(n, B * (size_t)a->outputs, &n->dy));
    QA_TRY(alloc(n, 1, &n->scratch_loss));
    *out = n;
    return QA_OK;
cleanup:
    qa_train_net_free(n);
    return st;
}

int qa_train_net_max_rows(const qa_train_net_t *n) { return n->max_rows; }

size_t qa_train_net_memory_bytes(const qa_train_net_t *n) {
    return n->bytes + (n->lstm ? qa_nn_lstm_memory_bytes(n->lstm) : 0);
}

/* Offsets of the parameters of MLP layer l (W, b, gamma, beta) and the head. */
typedef struct layer_view {
    const float *w, *b, *g, *be;
    size_t w_off;
} layer_view;

static layer_view mlp_layer(const qa_train_net_t *n, const float *p, int l) {
    int per = n->arch.layer_norm ? 4 : 2, i = l * per;
    layer_view v = {p + n->segs[i].offset, p + n->segs[i + 1].offset, NULL, NULL, n->segs[i].offset};
    if (n->arch.layer_norm) v.g = p + n->segs[i + 2].offset, v.be = p + n->segs[i + 3].offset;
    return v;
}

static layer_view head_layer(const qa_train_net_t *n, const float *p) {
    const qa_nn_seg *w = &n->segs[n->nsegs - 2], *b = &n->segs[n->nsegs - 1];
    return (layer_view){p + w->offset, p + b->offset, NULL, NULL, w->offset};
}

static qa_nn_dropout layer_drop(const qa_train_net_t *n, const qa_train_drop *drop, int layer) {
    qa_nn_dropout d = {0.0f, 0, 0};
    if (drop && n->arch.dropout > 0.0f) {
        d.p = n->arch.dropout;
        d.seed = qa_nn_dropout_seed(drop->seed, (uint32_t)layer);
        d.step = drop->step;
    }
    return d;
}

static int in_width(const qa_train_net_t *n, int l) {
    return l == 0 ? n->arch.input * n->arch.window : n->arch.hidden[l - 1];
}

/* Forward; the head output lands in n->y. */
static qa_status forward(qa_train_net_t *n, int rows, const float *p, const float *x, const qa_train_drop *drop) {
    qa_status st = QA_OK;
    const qa_nn_arch *a = &n->arch;
    const float *in = x;
    int in_w;
    if (a->type == QA_NN_ARCH_MLP) {
        for (int l = 0; l < a->nhidden; l++) {
            layer_view v = mlp_layer(n, p, l);
            int w = a->hidden[l];
            qa_nn_dropout dr = layer_drop(n, drop, l);
            if (a->layer_norm) {
                QA_TRY(qa_nn_linear_forward(n->ctx, rows, in_width(n, l), w, in, v.w, v.b, n->u[l]));
                QA_TRY(qa_nn_layernorm_forward(n->ctx, rows, w, QA_NN_LAYERNORM_EPS, n->u[l], v.g, v.be, n->ln[l],
                                               n->mu[l], n->rs[l]));
                QA_TRY(qa_nn_bias_act_forward(n->ctx, a->act, rows, w, n->ln[l], NULL, &dr, n->h[l]));
            } else {
                QA_TRY(qa_nn_linear_forward(n->ctx, rows, in_width(n, l), w, in, v.w, NULL, n->u[l]));
                QA_TRY(qa_nn_bias_act_forward(n->ctx, a->act, rows, w, n->u[l], v.b, &dr, n->h[l]));
            }
            in = n->h[l];
        }
        in_w = in_width(n, a->nhidden);
    } else {
        QA_TRY(qa_nn_lstm_forward(n->lstm, rows, p, x, n->hl, NULL));
        in = n->hl;
        qa_nn_dropout dr = layer_drop(n, drop, 0);
        if (dr.p > 0.0f) {
            QA_TRY(qa_nn_bias_act_forward(n->ctx, QA_NN_ACT_NONE, rows, a->hidden[0], n->hl, NULL, &dr, n->hd));
            in = n->hd;
        }
        in_w = a->hidden[0];
    }
    layer_view hv = head_layer(n, p);
    QA_TRY(qa_nn_linear_forward(n->ctx, rows, in_w, a->outputs, in, hv.w, hv.b, n->y));
cleanup:
    return st;
}

static qa_status check_rows(const qa_train_net_t *n, int rows) {
    if (rows < 1 || rows > n->max_rows)
        return QA_FAIL(QA_ERR_INVALID_ARG, "net: %d rows outside 1..%d", rows, n->max_rows);
    return QA_OK;
}

qa_status qa_train_net_forward(qa_train_net_t *n, int rows, const float *params, const float *x, const float **out) {
    qa_status st = check_rows(n, rows);
    if (st == QA_OK) st = forward(n, rows, params, x, NULL);
    if (st == QA_OK) *out = n->y;
    return st;
}

static qa_status loss_of(qa_train_net_t *n, int rows, qa_train_loss loss, float delta, const float *y, const int32_t *cls,
                         float *loss_out, float *dpred) {
    switch (loss) {
    case QA_TRAIN_LOSS_MSE: return qa_nn_loss_mse(n->ctx, (size_t)rows, n->y, y, loss_out, dpred);
    case QA_TRAIN_LOSS_HUBER: return qa_nn_loss_huber(n->ctx, (size_t)rows, delta, n->y, y, loss_out, dpred);
    case QA_TRAIN_LOSS_CROSS_ENTROPY:
        return qa_nn_loss_cross_entropy(n->ctx, rows, n->arch.outputs, n->y, cls, loss_out, dpred);
    default: return QA_FAIL(QA_ERR_INVALID_ARG, "unknown loss %d", (int)loss);
    }
}

static qa_status check_loss(const qa_train_net_t *n, qa_train_loss loss, const float *y, const int32_t *cls) {
    if (loss == QA_TRAIN_LOSS_CROSS_ENTROPY) {
        if (!cls || n->arch.outputs < 2) return QA_FAIL(QA_ERR_INVALID_ARG, "cross-entropy needs labels and >= 2 outputs");
    } else if (!y || n->arch.outputs != 1) {
        return QA_FAIL(QA_ERR_INVALID_ARG, "%s needs targets and one output", qa_train_loss_name(loss));
    }
    return QA_OK;
}

qa_status qa_train_net_loss(qa_train_net_t *n, int rows, const float *params, const float *x, qa_train_loss loss,
                            float huber_delta, const float *y, const int32_t *cls, float *loss_out) {
    qa_status st = check_rows(n, rows);
    if (st == QA_OK) st = check_loss(n, loss, y, cls);
    if (st == QA_OK) st = forward(n, rows, params, x, NULL);
    if (st == QA_OK) st = loss_of(n, rows, loss, huber_delta, y, cls, loss_out, NULL);
    return st;
}

qa_status qa_train_net_step(qa_train_net_t *n, int rows, const float *p, const float *x, qa_train_loss loss,
                            float huber_delta, const float *y, const int32_t *cls, const qa_train_drop *drop,
                            float *loss_out, float *grad, int accumulate, qa_train_grad_ready_fn hook, void *user) {
    const int acc = accumulate ? 1 : 0;
    qa_status st = check_rows(n, rows);
    if (st != QA_OK) return st;
    QA_TRY(check_loss(n, loss, y, cls));
    QA_TRY(forward(n, rows, p, x, drop));
    QA_TRY(loss_of(n, rows, loss, huber_delta, y, cls, loss_out, n->dy));
    const qa_nn_arch *a = &n->arch;
    layer_view hv = head_layer(n, p);
    layer_view hg = head_layer(n, grad);
    if (a->type == QA_NN_ARCH_MLP) {
        int L = a->nhidden;
        const float *hin = L ? n->h[L - 1] : x;
        QA_TRY(qa_nn_linear_backward(n->ctx, rows, in_width(n, L), a->outputs, hin, hv.w, n->dy, L ? n->d[L - 1] : NULL,
                                     (float *)hg.w, (float *)hg.b, acc));
        if (hook) QA_TRY(hook(user, hv.w_off));
        for (int l = L - 1; l >= 0; l--) {
            layer_view v = mlp_layer(n, p, l), g = mlp_layer(n, grad, l);
            int w = a->hidden[l];
            qa_nn_dropout dr = layer_drop(n, drop, l);
            const float *gin;
            if (a->layer_norm) {
                QA_TRY(qa_nn_bias_act_backward(n->ctx, a->act, rows, w, n->ln[l], NULL, &dr, n->d[l], n->d[l], NULL, 0));
                QA_TRY(qa_nn_layernorm_backward(n->ctx, rows, w, n->u[l], v.g, n->mu[l], n->rs[l], n->d[l], n->e,
                                                (float *)g.g, (float *)g.be, acc));
                gin = n->e;
            } else {
                QA_TRY(qa_nn_bias_act_backward(n->ctx, a->act, rows, w, n->u[l], v.b, &dr, n->d[l], n->d[l],
                                               (float *)g.b, acc));
                gin = n->d[l];
            }
            const float *lin = l ? n->h[l - 1] : x;
            QA_TRY(qa_nn_linear_backward(n->ctx, rows, in_width(n, l), w, lin, v.w, gin, l ? n->d[l - 1] : NULL,
                                         (float *)g.w, a->layer_norm ? (float *)g.b : NULL, acc));
            if (hook) QA_TRY(hook(user, v.w_off));
        }
    } else {
        int H = a->hidden[0];
        qa_nn_dropout dr = layer_drop(n, drop, 0);
        const float *hin = dr.p > 0.0f ? n->hd : n->hl;
        QA_TRY(qa_nn_linear_backward(n->ctx, rows, H, a->outputs, hin, hv.w, n->dy, n->dh, (float *)hg.w, (float *)hg.b,
                                     acc));
        if (hook) QA_TRY(hook(user, hv.w_off));
        if (dr.p > 0.0f)
            QA_TRY(qa_nn_bias_act_backward(n->ctx, QA_NN_ACT_NONE, rows, H, n->hl, NULL, &dr, n->dh, n->dh, NULL, 0));
        QA_TRY(qa_nn_lstm_backward(n->lstm, rows, p, x, n->dh, NULL, NULL, grad, acc));
        if (hook) QA_TRY(hook(user, 0));
    }
cleanup:
    return st;
}
