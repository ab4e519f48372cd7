/* Model architectures, their parameter layout, and the host inference forward pass
 * (contracts in kernels/nn_infer.h). */
#include "kernels/nn_infer.h"

#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, malloc, free */
#include <string.h>  /* memcpy, memset */

#include "kernels/nn_impl.h" /* fast math, SIMD dispatch, the CPU activation, LayerNorm and LSTM-cell code */

/* ---- architecture ------------------------------------------------------------------------- */

static const char *const arch_names[] = {"mlp", "lstm"};
_Static_assert(sizeof arch_names / sizeof arch_names[0] == QA_NN_ARCH_COUNT, "arch names");

const char *qa_nn_arch_name(qa_nn_arch_type t) { return (unsigned)t < QA_NN_ARCH_COUNT ? arch_names[t] : "?"; }

qa_status qa_nn_arch_check(const qa_nn_arch *a) {
    if (!a) return QA_FAIL(QA_ERR_INVALID_ARG, "NULL architecture");
    if ((unsigned)a->type >= QA_NN_ARCH_COUNT) return QA_FAIL(QA_ERR_CONFIG, "unknown model type %d", (int)a->type);
    if (a->input < 1 || a->window < 1 || a->outputs < 1 || (double)a->input * a->window > (1 << 20))
        return QA_FAIL(QA_ERR_CONFIG, "model: %d inputs x window %d -> %d outputs is not a valid shape", a->input,
                       a->window, a->outputs);
    if (a->nhidden < 0 || a->nhidden > QA_NN_MAX_HIDDEN)
        return QA_FAIL(QA_ERR_CONFIG, "model: %d hidden layers (at most %d)", a->nhidden, QA_NN_MAX_HIDDEN);
    for (int l = 0; l < a->nhidden; l++)
        if (a->hidden[l] < 1 || a->hidden[l] > 65536)
            return QA_FAIL(QA_ERR_CONFIG, "model: hidden width %d (expected 1..65536)", a->hidden[l]);
    if (!(a->dropout >= 0.0f && a->dropout < 1.0f))
        return QA_FAIL(QA_ERR_CONFIG, "model: dropout %g (expected 0 <= p < 1)", (double)a->dropout);
    if ((unsigned)a->act >= QA_NN_ACT_COUNT) return QA_FAIL(QA_ERR_CONFIG, "model: unknown activation %d", (int)a->act);
    if (a->type == QA_NN_ARCH_LSTM) {
        if (a->nhidden < 1) return QA_FAIL(QA_ERR_CONFIG, "lstm: needs at least one layer (hidden: [H])");
        for (int l = 1; l < a->nhidden; l++)
            if (a->hidden[l] != a->hidden[0])
                return QA_FAIL(QA_ERR_CONFIG, "lstm: stacked layers must have one width (got %d and %d)", a->hidden[0],
                               a->hidden[l]);
        if (a->layer_norm) return QA_FAIL(QA_ERR_CONFIG, "lstm: layer_norm is an MLP option");
    }
    return QA_OK;
}

static void seg(qa_nn_seg *s, int *n, size_t *off, size_t count, int decay, const char *fmt, int l) {
    qa_nn_seg *p = &s[(*n)++];
    p->offset = *off, p->count = count, p->decay = decay;
    snprintf(p->name, sizeof p->name, fmt, l);
    *off += count;
}

int qa_nn_arch_segments(const qa_nn_arch *a, qa_nn_seg *s) {
    int n = 0;
    size_t off = 0;
    int last;
    if (a->type == QA_NN_ARCH_MLP) {
        int in = a->input * a->window;
        for (int l = 0; l < a->nhidden; l++) {
            size_t w = (size_t)a->hidden[l];
            seg(s, &n, &off, w * (size_t)in, 1, "l%d.weight", l);
            seg(s, &n, &off, w, 0, "l%d.bias", l);
            if (a->layer_norm) {
                seg(s, &n, &off, w, 0, "l%d.ln_gamma", l);
                seg(s, &n, &off, w, 0, "l%d.ln_beta", l);
            }
            in = (int)w;
        }
        last = in;
    } else {
        size_t H = (size_t)a->hidden[0], g = 4 * H;
        for (int l = 0; l < a->nhidden; l++) {
            size_t in = l == 0 ? (size_t)a->input : H;
            seg(s, &n, &off, g * in, 1, "lstm%d.w_ih", l);
            seg(s, &n, &off, g * H, 1, "lstm%d.w_hh", l);
            seg(s, &n, &off, g, 0, "lstm%d.b_ih", l);
            seg(s, &n, &off, g, 0, "lstm%d.b_hh", l);
        }
        last = (int)H;
    }
    seg(s, &n, &off, (size_t)a->outputs * (size_t)last, 1, "head.weight", 0);
    seg(s, &n, &off, (size_t)a->outputs, 0, "head.bias", 0);
    return n;
}

size_t qa_nn_arch_param_count(const qa_nn_arch *a) {
    qa_nn_seg s[QA_NN_MAX_SEGMENTS];
    int n = qa_nn_arch_segments(a, s);
    return s[n - 1].offset + s[n - 1].count;
}

/* ---- dense products ------------------------------------------------------------------------ */

/* out[r][o] = sum_i w[o][i] * x[r][i], four outputs at a time (four independent vector
 * accumulators sharing each load of x: as fast as OpenBLAS sgemv for one row, without
 * its call overhead). Each group of weight rows is read once for all rows of the batch.
 * The vectorised sums' order depends on the SIMD width (AVX-512, AVX2 or SSE2 version),
 * so results can differ in the last bits between machines (QA_SIMD caps the width). */
QA_NN_SIMD_BODY void dense_body(int batch, int in, int out, const float *x, const float *w, float *y) {
    int o = 0;
    for (; o + 4 <= out; o += 4) {
        const float *w0 = w + (size_t)o * in, *w1 = w0 + in, *w2 = w1 + in, *w3 = w2 + in;
        for (int r = 0; r < batch; r++) {
            const float *xr = x + (size_t)r * in;
            float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
#pragma omp simd reduction(+ : a0, a1, a2, a3)
            for (int i = 0; i < in; i++) {
                float xi = xr[i];
                a0 += w0[i] * xi;
                a1 += w1[i] * xi;
                a2 += w2[i] * xi;
                a3 += w3[i] * xi;
            }
            float *yr = y + (size_t)r * out + o;
            yr[0] = a0, yr[1] = a1, yr[2] = a2, yr[3] = a3;
        }
    }
    for (; o < out; o++) {
        const float *wo = w + (size_t)o * in;
        for (int r = 0; r < batch; r++) {
            const float *xr = x + (size_t)r * in;
            float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
            for (int i = 0; i < in; i++) acc += wo[i] * xr[i];
            y[(size_t)r * out + o] = acc;
        }
    }
}
QA_NN_SIMD_DISPATCH(dense, (int batch, int in, int out, const float *x, const float *w, float *y),
                    (batch, in, out, x, w, y))

/* ---- the plan ---------------------------------------------------------------------------------- */

struct qa_nn_infer {
    qa_nn_arch a;
    qa_nn_seg segs[QA_NN_MAX_SEGMENTS];
    int nsegs;
    int max_rows;
    float *block;    /* one allocation for the views below */
    float *buf[2];   /* MLP: ping-pong activations [max_rows x widest] */
    float *mu, *rs;  /* MLP LayerNorm statistics [max_rows] */
    float *state;    /* LSTM: the window forward's state [layers x 2H] */
    float *z, *zh;   /* LSTM: gate sums W_ih x and W_hh h [4H] each */
    float *bsum;     /* LSTM: b_ih + b_hh of one layer [4H] */
    float *tc;       /* LSTM: tanh(c) written by the cell [H] */
};

void qa_nn_infer_free(qa_nn_infer_t *p) {
    if (!p) return;
    free(p->block);
    free(p);
}

qa_status qa_nn_infer_create(const qa_nn_arch *a, int max_rows, qa_nn_infer_t **out) {
    qa_status st = qa_nn_arch_check(a);
    if (st != QA_OK) return st;
    if (max_rows < 1 || max_rows > 4096)
        return QA_FAIL(QA_ERR_INVALID_ARG, "infer: max_rows %d (expected 1..4096)", max_rows);
    qa_nn_infer_t *p = calloc(1, sizeof *p);
    if (!p) return QA_FAIL(QA_ERR_NOMEM, "infer plan");
    p->a = *a;
    p->nsegs = qa_nn_arch_segments(a, p->segs);
    p->max_rows = max_rows;
    size_t widest = (size_t)a->outputs, B = (size_t)max_rows, floats;
    for (int l = 0; l < a->nhidden; l++) widest = (size_t)a->hidden[l] > widest ? (size_t)a->hidden[l] : widest;
    if (a->type == QA_NN_ARCH_MLP) {
        floats = 2 * B * widest + 2 * B;
    } else {
        size_t H = (size_t)a->hidden[0];
        floats = qa_nn_infer_state_floats(a) + 4 * H + 4 * H + 4 * H + H;
    }
    p->block = malloc(floats * sizeof *p->block);
    if (!p->block) {
        free(p);
        return QA_FAIL(QA_ERR_NOMEM, "infer buffers (%zu floats)", floats);
    }
    if (a->type == QA_NN_ARCH_MLP) {
        p->buf[0] = p->block;
        p->buf[1] = p->buf[0] + B * widest;
        p->mu = p->buf[1] + B * widest;
        p->rs = p->mu + B;
    } else {
        size_t H = (size_t)a->hidden[0];
        p->state = p->block;
        p->z = p->state + qa_nn_infer_state_floats(a);
        p->zh = p->z + 4 * H;
        p->bsum = p->zh + 4 * H;
        p->tc = p->bsum + 4 * H;
    }
    *out = p;
    return QA_OK;
}

/* ---- MLP ---------------------------------------------------------------------------------------- */

static void mlp_forward(qa_nn_infer_t *p, const float *params, int rows, const float *x, float *y) {
    const qa_nn_arch *a = &p->a;
    const int per = a->layer_norm ? 4 : 2;
    const float *in = x;
    int in_w = a->input * a->window;
    for (int l = 0; l < a->nhidden; l++) {
        const int w = a->hidden[l];
        const float *W = params + p->segs[(size_t)l * per].offset, *b = params + p->segs[(size_t)l * per + 1].offset;
        float *u = p->buf[l % 2];
        dense(rows, in_w, w, in, W, u);
        if (a->layer_norm) {
            /* the training layer's order: (W x + b) -> LayerNorm -> activation */
            qa_nn_cpu_bias_act_forward(0, 1, QA_NN_ACT_NONE, rows, w, u, b, NULL, u);
            qa_nn_cpu_layernorm_forward(0, 1, rows, w, QA_NN_LAYERNORM_EPS, u, params + p->segs[l * per + 2].offset,
                                        params + p->segs[l * per + 3].offset, u, p->mu, p->rs);
            qa_nn_cpu_bias_act_forward(0, 1, a->act, rows, w, u, NULL, NULL, u);
        } else {
            qa_nn_cpu_bias_act_forward(0, 1, a->act, rows, w, u, b, NULL, u);
        }
        in = u;
        in_w = w;
    }
    const qa_nn_seg *hw = &p->segs[p->nsegs - 2], *hb = &p->segs[p->nsegs - 1];
    dense(rows, in_w, a->outputs, in, params + hw->offset, y);
    qa_nn_cpu_bias_act_forward(0, 1, QA_NN_ACT_NONE, rows, a->outputs, y, params + hb->offset, NULL, y);
}

/* ---- LSTM ---------------------------------------------------------------------------------------- */

size_t qa_nn_infer_state_floats(const qa_nn_arch *a) {
    return a->type == QA_NN_ARCH_LSTM ? 2 * (size_t)a->nhidden * (size_t)a->hidden[0] : 0;
}

void qa_nn_infer_state_reset(const qa_nn_arch *a, float *state) {
    memset(state, 0, qa_nn_infer_state_floats(a) * sizeof *state);
}

/* Advances every layer's (h, c) by one bar; the top layer's new h is state + (layers-1)*2H. */
static void lstm_advance(qa_nn_infer_t *p, const float *params, const float *x_t, float *state) {
    const qa_nn_arch *a = &p->a;
    const int H = a->hidden[0], G = 4 * H;
    const float *in = x_t;
    int in_w = a->input;
    for (int l = 0; l < a->nhidden; l++) {
        const float *w_ih = params + p->segs[4 * (size_t)l].offset, *w_hh = params + p->segs[4 * (size_t)l + 1].offset;
        const float *b_ih = params + p->segs[4 * (size_t)l + 2].offset, *b_hh = params + p->segs[4 * (size_t)l + 3].offset;
        float *h = state + (size_t)l * 2 * H, *c = h + H;
        dense(1, in_w, G, in, w_ih, p->z);
        dense(1, H, G, h, w_hh, p->zh);
        for (int j = 0; j < G; j++) {
            p->z[j] += p->zh[j];
            p->bsum[j] = b_ih[j] + b_hh[j];
        }
        /* the CPU training kernel's cell: gates, c = f c + i g, h = o tanh(c) */
        qa_nn_cpu_lstm_cell(0, H, p->z, p->bsum, c, c, p->tc, h);
        in = h;
        in_w = H;
    }
}

static void lstm_head(const qa_nn_infer_t *p, const float *params, const float *state, float *y) {
    const qa_nn_arch *a = &p->a;
    const int H = a->hidden[0];
    const float *top = state + (size_t)(a->nhidden - 1) * 2 * H;
    const qa_nn_seg *hw = &p->segs[p->nsegs - 2], *hb = &p->segs[p->nsegs - 1];
    dense(1, H, a->outputs, top, params + hw->offset, y);
    qa_nn_cpu_bias_act_forward(0, 1, QA_NN_ACT_NONE, 1, a->outputs, y, params + hb->offset, NULL, y);
}

qa_status qa_nn_infer_step(qa_nn_infer_t *p, const float *params, const float *x_t, float *state, float *y) {
    if (!p || !params || !x_t || !state || !y) return QA_FAIL(QA_ERR_INVALID_ARG, "infer step: NULL argument");
    if (p->a.type != QA_NN_ARCH_LSTM) return QA_FAIL(QA_ERR_INVALID_ARG, "infer step: the model is not an LSTM");
    lstm_advance(p, params, x_t, state);
    lstm_head(p, params, state, y);
    return QA_OK;
}

qa_status qa_nn_infer_forward(qa_nn_infer_t *p, const float *params, int rows, const float *x, float *y) {
    if (!p || (rows > 0 && (!params || !x || !y))) return QA_FAIL(QA_ERR_INVALID_ARG, "infer: NULL argument");
    if (rows < 0 || rows > p->max_rows)
        return QA_FAIL(QA_ERR_INVALID_ARG, "infer: %d rows (the plan holds at most %d)", rows, p->max_rows);
    if (rows == 0) return QA_OK;
    const qa_nn_arch *a = &p->a;
    if (a->type == QA_NN_ARCH_MLP) {
        mlp_forward(p, params, rows, x, y);
        return QA_OK;
    }
    /* the window forward is the step from a zero state, bar after bar */
    const size_t row_w = (size_t)a->window * (size_t)a->input;
    for (int r = 0; r < rows; r++) {
        qa_nn_infer_state_reset(a, p->state);
        for (int t = 0; t < a->window; t++) lstm_advance(p, params, x + (size_t)r * row_w + (size_t)t * a->input, p->state);
        lstm_head(p, params, p->state, y + (size_t)r * (size_t)a->outputs);
    }
    return QA_OK;
}
