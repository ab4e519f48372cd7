/* CPU predictions from a loaded model: normalisation, the kernels' inference forward pass
 * and output transforms, windowed and streaming (contracts in registry/predict.h). */
#include "registry/predict.h"

#include <math.h>    /* exp, isnan, NAN */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, malloc, free */
#include <string.h>  /* memset */

#include "common/mem.h" /* QA_FREE_ALL */

/* ---- shared pieces ------------------------------------------------------------------------------ */

/* (raw - mean) / std of input f, clipped to +-clip when clip > 0 (NaN passes through). */
static float normalise(const qa_model *m, size_t f, double raw) {
    const double c = m->data.clip;
    double z = (raw - m->norm.mean[f]) / m->norm.std[f];
    if (c > 0.0) z = z > c ? c : z < -c ? -c : z;
    return (float)z;
}

/* Raw outputs to results: the de-standardised return, or softmax probabilities. */
static void finish(const qa_model *m, const float *yr, double *out) {
    const int K = m->arch.outputs;
    if (m->data.target == QA_MODEL_TARGET_RETURN) {
        out[0] = (double)yr[0] * m->norm.target_std + m->norm.target_mean;
        return;
    }
    double mx = yr[0], sum = 0.0;
    for (int k = 1; k < K; k++) mx = yr[k] > mx ? yr[k] : mx;
    for (int k = 0; k < K; k++) sum += out[k] = exp((double)yr[k] - mx);
    for (int k = 0; k < K; k++) out[k] /= sum;
}

double qa_model_output_score(const qa_model *m, const double *o) {
    const int K = m->arch.outputs;
    if (m->data.target == QA_MODEL_TARGET_RETURN) return o[0];
    if (m->data.target == QA_MODEL_TARGET_SIGN) return o[1];
    double e = 0.0;
    for (int k = 0; k < K; k++) e += k * o[k];
    return e - (K - 1) / 2.0;
}

double qa_model_score(const qa_model *m, const float *y) {
    double pr[QA_MODEL_MAX_CLASSES];
    finish(m, y, pr);
    return qa_model_output_score(m, pr);
}

/* ---- windowed ------------------------------------------------------------------------------------ */

struct qa_model_predictor {
    const qa_model *m;
    int max_rows;
    size_t in_w;        /* L * F */
    qa_nn_infer_t *net;
    float *x;           /* [max_rows x L x F] normalised inputs */
    float *y;           /* [max_rows x K] raw outputs */
};

void qa_model_predictor_free(qa_model_predictor_t *p) {
    if (!p) return;
    qa_nn_infer_free(p->net);
    free(p->x);
    free(p);
}

/* Predictors score returns: a policy is refused, naming the model by its content identity. */
static qa_status predictor_model(const qa_model *m) {
    char label[64];
    snprintf(label, sizeof label, "model %.12s", m->sha256[0] ? m->sha256 : "(unsaved)");
    return qa_model_check_predictor(m, label);
}

qa_status qa_model_predictor_create(const qa_model *m, int max_rows, qa_model_predictor_t **out) {
    if (!m || !m->params || max_rows < 1) return QA_FAIL(QA_ERR_INVALID_ARG, "predictor: no model or max_rows < 1");
    QA_TRY_RET(predictor_model(m));
    qa_model_predictor_t *p = calloc(1, sizeof *p);
    if (!p) return QA_FAIL(QA_ERR_NOMEM, "predictor");
    p->m = m;
    p->max_rows = max_rows;
    p->in_w = (size_t)m->arch.input * (size_t)m->arch.window;
    qa_status st = qa_nn_infer_create(&m->arch, max_rows, &p->net);
    if (st != QA_OK) {
        qa_model_predictor_free(p);
        return st;
    }
    size_t B = (size_t)max_rows;
    p->x = malloc((p->in_w * B + (size_t)m->arch.outputs * B) * sizeof *p->x);
    if (!p->x) {
        qa_model_predictor_free(p);
        return QA_FAIL(QA_ERR_NOMEM, "predictor buffers");
    }
    p->y = p->x + p->in_w * B;
    *out = p;
    return QA_OK;
}

static qa_status check_rows(const qa_model_predictor_t *p, int rows) {
    if (rows < 0 || rows > p->max_rows)
        return QA_FAIL(QA_ERR_INVALID_ARG, "predictor: %d rows (created for at most %d)", rows, p->max_rows);
    return QA_OK;
}

qa_status qa_model_predictor_run_normalized(qa_model_predictor_t *p, int rows, const float *x, double *out) {
    qa_status st = check_rows(p, rows);
    if (st != QA_OK || rows == 0) return st;
    const qa_model *m = p->m;
    const int K = m->arch.outputs;
    if ((st = qa_nn_infer_forward(p->net, m->params, rows, x, p->y)) != QA_OK) return st;
    for (int r = 0; r < rows; r++) finish(m, p->y + (size_t)r * (size_t)K, out + (size_t)r * (size_t)K);
    return QA_OK;
}

qa_status qa_model_predictor_run(qa_model_predictor_t *p, int rows, const double *raw, double *out) {
    qa_status st = check_rows(p, rows);
    if (st != QA_OK) return st;
    const qa_model *m = p->m;
    const size_t F = (size_t)m->data.ninputs, W = p->in_w;
    for (size_t i = 0; i < (size_t)rows * W; i++) p->x[i] = normalise(m, i % F, raw[i]);
    if ((st = qa_model_predictor_run_normalized(p, rows, p->x, out)) != QA_OK) return st;
    const int K = m->arch.outputs;
    for (int r = 0; r < rows; r++) { /* an activation's max(x, 0) could hide a NaN input: be explicit */
        int bad = 0;
        for (size_t i = 0; i < W; i++) bad |= isnan(p->x[(size_t)r * W + i]);
        if (bad)
            for (int k = 0; k < K; k++) out[(size_t)r * (size_t)K + (size_t)k] = NAN;
    }
    return QA_OK;
}

/* ---- streaming ------------------------------------------------------------------------------------- */

struct qa_model_stream {
    const qa_model *m;
    qa_nn_infer_t *net;
    size_t symbols, state_floats;
    long period;
    float *state; /* [symbols x state_floats] */
    long *bars;   /* [symbols] since the last reset */
    float *x, *y; /* [F], [K] */
};

void qa_model_stream_free(qa_model_stream_t *s) {
    if (!s) return;
    qa_nn_infer_free(s->net);
    QA_FREE_ALL(s->state, s->bars, s->x, s);
}

qa_status qa_model_stream_create(const qa_model *m, size_t symbols, long period, qa_model_stream_t **out) {
    if (!m || !m->params || symbols == 0 || period < 0)
        return QA_FAIL(QA_ERR_INVALID_ARG, "stream: no model, no symbols or a negative reset period");
    QA_TRY_RET(predictor_model(m));
    if (m->arch.type != QA_NN_ARCH_LSTM)
        return QA_FAIL(QA_ERR_INVALID_ARG, "stream: the model is an %s, which carries no state between bars (use the "
                                           "windowed predictor)", qa_nn_arch_name(m->arch.type));
    qa_model_stream_t *s = calloc(1, sizeof *s);
    if (!s) return QA_FAIL(QA_ERR_NOMEM, "stream");
    s->m = m;
    s->symbols = symbols;
    s->period = period;
    s->state_floats = qa_nn_infer_state_floats(&m->arch);
    qa_status st = qa_nn_infer_create(&m->arch, 1, &s->net);
    if (st == QA_OK) {
        s->state = calloc(symbols * s->state_floats, sizeof *s->state);
        s->bars = calloc(symbols, sizeof *s->bars);
        s->x = malloc(((size_t)m->arch.input + (size_t)m->arch.outputs) * sizeof *s->x);
        if (!s->state || !s->bars || !s->x) st = QA_FAIL(QA_ERR_NOMEM, "stream state for %zu symbols", symbols);
    }
    if (st != QA_OK) {
        qa_model_stream_free(s);
        return st;
    }
    s->y = s->x + m->arch.input;
    *out = s;
    return QA_OK;
}

void qa_model_stream_reset(qa_model_stream_t *s, size_t sym) {
    if (!s || sym >= s->symbols) return;
    qa_nn_infer_state_reset(&s->m->arch, s->state + sym * s->state_floats);
    s->bars[sym] = 0;
}

long qa_model_stream_bars(const qa_model_stream_t *s, size_t sym) { return s && sym < s->symbols ? s->bars[sym] : 0; }

qa_status qa_model_stream_push(qa_model_stream_t *s, size_t sym, const double *raw, double *out) {
    if (!s || !raw || !out) return QA_FAIL(QA_ERR_INVALID_ARG, "stream: NULL argument");
    if (sym >= s->symbols) return QA_FAIL(QA_ERR_INVALID_ARG, "stream: symbol %zu of %zu", sym, s->symbols);
    const qa_model *m = s->m;
    const int F = m->arch.input, K = m->arch.outputs;
    int bad = 0;
    for (int f = 0; f < F; f++) {
        s->x[f] = normalise(m, (size_t)f, raw[f]);
        bad |= isnan(s->x[f]);
    }
    if (bad) {
        for (int k = 0; k < K; k++) out[k] = NAN;
        return QA_OK;
    }
    if (s->period > 0 && s->bars[sym] >= s->period) qa_model_stream_reset(s, sym);
    qa_status st = qa_nn_infer_step(s->net, m->params, s->x, s->state + sym * s->state_floats, s->y);
    if (st != QA_OK) return st;
    s->bars[sym]++;
    finish(m, s->y, out);
    return QA_OK;
}
