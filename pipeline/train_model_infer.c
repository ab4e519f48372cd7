/* CPU inference from a loaded model (the live service's path): normalisation, the MLP
 * (qa_nn_mlp_infer, or plain loops with LayerNorm) and a one-row LSTM over the window,
 * in buffers sized at creation: no allocation per call. */
#include "pipeline/train_model.h"

#include <math.h>    /* isnan, sqrt, exp */
#include <stdlib.h>  /* calloc, aligned_alloc, free */
#include <string.h>  /* memcpy */

#include "kernels/nn_act.h" /* the fast tanh/sigmoid of the CPU training path */

struct qa_train_predictor {
    const qa_train_model *m;
    int max_rows;
    qa_nn_mlp_spec mlp; /* MLP without LayerNorm: the kernels' inference */
    int use_mlp_kernel;
    size_t in_w;  /* L * F */
    size_t widest;
    float *x;     /* [max_rows x L x F] normalised inputs */
    float *work;  /* MLP ping-pong, or LSTM z [4H] + h, c [H] + two sequences [L x H] */
    size_t work_floats;
    float *y;     /* [max_rows x K] raw outputs */
};

void qa_train_predictor_free(qa_train_predictor_t *p) {
    if (!p) return;
    free(p->x);
    free(p->work);
    free(p->y);
    free(p);
}

qa_status qa_train_predictor_create(const qa_train_model *m, int max_rows, qa_train_predictor_t **out) {
    if (!m || !m->params || max_rows < 1) return QA_FAIL(QA_ERR_INVALID_ARG, "predictor: no model or max_rows < 1");
    const qa_train_arch *a = &m->arch;
    qa_train_predictor_t *p = calloc(1, sizeof *p);
    if (!p) return QA_FAIL(QA_ERR_NOMEM, "predictor");
    p->m = m;
    p->max_rows = max_rows;
    p->in_w = (size_t)a->input * (size_t)a->window;
    size_t widest = (size_t)a->outputs;
    for (int l = 0; l < a->nhidden; l++) widest = (size_t)a->hidden[l] > widest ? (size_t)a->hidden[l] : widest;
    p->widest = widest;
    if (a->type == QA_TRAIN_ARCH_MLP) {
        p->use_mlp_kernel = !a->layer_norm && a->nhidden + 1 <= QA_NN_MLP_MAX_LAYERS;
        p->mlp.n_layers = a->nhidden + 1;
        p->mlp.act = a->act;
        if (p->use_mlp_kernel) {
            p->mlp.sizes[0] = (int)p->in_w;
            for (int l = 0; l < a->nhidden; l++) p->mlp.sizes[l + 1] = a->hidden[l];
            p->mlp.sizes[a->nhidden + 1] = a->outputs;
            p->work_floats = qa_nn_mlp_workspace_floats(&p->mlp, max_rows);
        } else {
            p->work_floats = 2 * widest * (size_t)max_rows;
        }
    } else {
        size_t H = (size_t)a->hidden[0], L = (size_t)a->window;
        p->work_floats = 4 * H + 2 * H + 2 * L * H;
    }
    p->x = malloc(p->in_w * (size_t)max_rows * sizeof *p->x);
    p->work = malloc((p->work_floats ? p->work_floats : 1) * sizeof *p->work);
    p->y = malloc((size_t)a->outputs * (size_t)max_rows * sizeof *p->y);
    if (!p->x || !p->work || !p->y) {
        qa_train_predictor_free(p);
        return QA_FAIL(QA_ERR_NOMEM, "predictor buffers");
    }
    *out = p;
    return QA_OK;
}

/* y[o] = b[o] + sum_i w[o*in + i] x[i] for one row. */
static void dense_row(int in, int outs, const float *x, const float *w, const float *b, float *y) {
    for (int o = 0; o < outs; o++) {
        const float *wo = w + (size_t)o * (size_t)in;
        float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
        for (int i = 0; i < in; i++) acc += wo[i] * x[i];
        y[o] = acc + b[o];
    }
}

static float act_of(qa_nn_act act, float h) {
    switch (act) {
    case QA_NN_ACT_RELU: return h > 0.0f ? h : 0.0f;
    case QA_NN_ACT_GELU: return 0.5f * h * (1.0f + qa_nn_tanh_fast(QA_NN_GELU_K0 * (h + QA_NN_GELU_K1 * h * h * h)));
    default: return h;
    }
}

/* MLP with LayerNorm: plain loops, one row. */
static void mlp_ln_row(const qa_train_predictor_t *p, const float *x, float *y) {
    const qa_train_model *m = p->m;
    const qa_train_arch *a = &m->arch;
    qa_train_param_seg s[QA_TRAIN_MAX_SEGMENTS];
    int ns = qa_train_arch_segments(a, s);
    float *buf[2] = {p->work, p->work + p->widest};
    const float *in = x;
    int in_w = (int)p->in_w, per = a->layer_norm ? 4 : 2;
    for (int l = 0; l < a->nhidden; l++) {
        const float *w = m->params + s[l * per].offset, *b = m->params + s[l * per + 1].offset;
        float *o = buf[l % 2];
        int width = a->hidden[l];
        dense_row(in_w, width, in, w, b, o);
        if (a->layer_norm) {
            const float *g = m->params + s[l * per + 2].offset, *be = m->params + s[l * per + 3].offset;
            double mu = 0.0, var = 0.0;
            for (int i = 0; i < width; i++) mu += o[i];
            mu /= width;
            for (int i = 0; i < width; i++) var += ((double)o[i] - mu) * ((double)o[i] - mu);
            var /= width;
            float rstd = (float)(1.0 / sqrt(var + (double)QA_NN_LAYERNORM_EPS)), fm = (float)mu;
            for (int i = 0; i < width; i++) o[i] = (o[i] - fm) * rstd * g[i] + be[i];
        }
        for (int i = 0; i < width; i++) o[i] = act_of(a->act, o[i]);
        in = o;
        in_w = width;
    }
    dense_row(in_w, a->outputs, in, m->params + s[ns - 2].offset, m->params + s[ns - 1].offset, y);
}

/* LSTM over the window from zero state, then the head: one row. */
static void lstm_row(const qa_train_predictor_t *p, const float *x, float *y) {
    const qa_train_model *m = p->m;
    const qa_train_arch *a = &m->arch;
    const int H = a->hidden[0], L = a->window, G = 4 * H;
    qa_nn_lstm_shape sh = {1, L, a->input, H, a->nhidden};
    float *z = p->work, *h = z + G, *c = h + H, *seq[2] = {c + H, c + H + (size_t)L * H};
    const float *in_seq = x;
    int in_w = a->input;
    for (int l = 0; l < a->nhidden; l++) {
        const float *wih = m->params + qa_nn_lstm_param_offset(&sh, l, QA_NN_LSTM_W_IH);
        const float *whh = m->params + qa_nn_lstm_param_offset(&sh, l, QA_NN_LSTM_W_HH);
        const float *bih = m->params + qa_nn_lstm_param_offset(&sh, l, QA_NN_LSTM_B_IH);
        const float *bhh = m->params + qa_nn_lstm_param_offset(&sh, l, QA_NN_LSTM_B_HH);
        float *out_seq = seq[l % 2];
        for (int j = 0; j < H; j++) h[j] = c[j] = 0.0f;
        for (int t = 0; t < L; t++) {
            const float *xt = in_seq + (size_t)t * (size_t)in_w;
            for (int g = 0; g < G; g++) {
                const float *wi = wih + (size_t)g * (size_t)in_w, *wh = whh + (size_t)g * (size_t)H;
                float acc = 0.0f, acc2 = 0.0f;
#pragma omp simd reduction(+ : acc)
                for (int i = 0; i < in_w; i++) acc += wi[i] * xt[i];
#pragma omp simd reduction(+ : acc2)
                for (int i = 0; i < H; i++) acc2 += wh[i] * h[i];
                z[g] = acc + acc2 + bih[g] + bhh[g];
            }
            for (int j = 0; j < H; j++) {
                float ig = qa_nn_sigmoid_fast(z[j]), fg = qa_nn_sigmoid_fast(z[H + j]);
                float gg = qa_nn_tanh_fast(z[2 * H + j]), og = qa_nn_sigmoid_fast(z[3 * H + j]);
                c[j] = fg * c[j] + ig * gg;
                h[j] = og * qa_nn_tanh_fast(c[j]);
            }
            memcpy(out_seq + (size_t)t * (size_t)H, h, (size_t)H * sizeof *h);
        }
        in_seq = out_seq;
        in_w = H;
    }
    qa_train_param_seg s[QA_TRAIN_MAX_SEGMENTS];
    int ns = qa_train_arch_segments(a, s);
    dense_row(H, a->outputs, h, m->params + s[ns - 2].offset, m->params + s[ns - 1].offset, y);
}

/* Converts raw outputs to results: de-standardised return or softmax probabilities. */
static void finish(const qa_train_model *m, const float *yr, double *out) {
    const int K = m->arch.outputs;
    if (m->data.target == QA_TRAIN_TARGET_RETURN) {
        out[0] = (double)yr[0] * m->norm.target_std + m->norm.target_mean;
        return;
    }
    double mx = yr[0], sum = 0.0;
    for (int k = 1; k < K; k++) mx = yr[k] > mx ? yr[k] : mx;
    for (int k = 0; k < K; k++) sum += out[k] = exp((double)yr[k] - mx);
    for (int k = 0; k < K; k++) out[k] /= sum;
}

qa_status qa_train_predictor_run_normalized(qa_train_predictor_t *p, int rows, const float *x, double *out) {
    if (rows < 0 || rows > p->max_rows)
        return QA_FAIL(QA_ERR_INVALID_ARG, "predictor: %d rows (created for at most %d)", rows, p->max_rows);
    const qa_train_model *m = p->m;
    const int K = m->arch.outputs;
    if (rows == 0) return QA_OK;
    if (m->arch.type == QA_TRAIN_ARCH_MLP && p->use_mlp_kernel) {
        qa_status st = qa_nn_mlp_infer(&p->mlp, m->params, rows, x, p->y, p->work, p->work_floats);
        if (st != QA_OK) return st;
    } else {
        for (int r = 0; r < rows; r++) {
            const float *xr = x + (size_t)r * p->in_w;
            float *yr = p->y + (size_t)r * (size_t)K;
            if (m->arch.type == QA_TRAIN_ARCH_MLP) mlp_ln_row(p, xr, yr);
            else lstm_row(p, xr, yr);
        }
    }
    for (int r = 0; r < rows; r++) finish(m, p->y + (size_t)r * (size_t)K, out + (size_t)r * (size_t)K);
    return QA_OK;
}

qa_status qa_train_predictor_run(qa_train_predictor_t *p, int rows, const double *raw, double *out) {
    if (rows < 0 || rows > p->max_rows)
        return QA_FAIL(QA_ERR_INVALID_ARG, "predictor: %d rows (created for at most %d)", rows, p->max_rows);
    const qa_train_model *m = p->m;
    const size_t F = (size_t)m->data.ninputs, W = p->in_w;
    const double c = m->data.clip;
    for (size_t i = 0; i < (size_t)rows * W; i++) {
        size_t f = i % F;
        double z = (raw[i] - m->norm.mean[f]) / m->norm.std[f];
        if (c > 0.0) z = z > c ? c : z < -c ? -c : z; /* NaN passes through */
        p->x[i] = (float)z;
    }
    qa_status st = qa_train_predictor_run_normalized(p, rows, p->x, out);
    if (st != QA_OK) return st;
    const int K = m->arch.outputs;
    for (int r = 0; r < rows; r++) { /* the kernels' max(x, 0) could hide a NaN input: be explicit */
        int bad = 0;
        for (size_t i = 0; i < W; i++) bad |= isnan(p->x[(size_t)r * W + i]);
        if (bad)
            for (int k = 0; k < K; k++) out[(size_t)r * (size_t)K + (size_t)k] = NAN;
    }
    return QA_OK;
}

double qa_train_model_score(const qa_train_model *m, const float *y) {
    const int K = m->arch.outputs;
    if (m->data.target == QA_TRAIN_TARGET_RETURN) return (double)y[0] * m->norm.target_std + m->norm.target_mean;
    double pr[QA_TRAIN_MAX_CLASSES];
    finish(m, y, pr);
    if (m->data.target == QA_TRAIN_TARGET_SIGN) return pr[1];
    double e = 0.0;
    for (int k = 0; k < K; k++) e += k * pr[k];
    return e - (K - 1) / 2.0;
}
