/* Deterministic per-timestamp processing of the live service (live/engine.h). */
#include "live/engine.h"

#include <math.h>    /* isfinite, NAN */
#include <stdio.h>   /* snprintf */
#include <stdlib.h>  /* calloc, free */
#include <string.h>  /* memcpy, memmove, strcmp */

#include "common/hash.h"      /* the features' lineage */
#include "registry/inputs.h"  /* params -> specs, bar inputs */
#include "registry/predict.h" /* the windowed predictor */
#include "trading/sizing.h"   /* |weight| from the rules */

#define MAX_FEATURES QA_MSG_MAX_FEATURES

/* Per-symbol state, all doubles:
 *   [feat_off[j], + feat_len[j])  feature j's kernel state
 *   [aux]      prev close, observation rows, returns held (nret)
 *   [win]      the last L rows of F model inputs, oldest first
 *   [ret]      the last vol_window + 1 bar returns (slot 0 unused by qa_sizing_size) */
struct qa_engine {
    qa_engine_cfg cfg;
    size_t nfeat;
    qa_feat_spec spec[MAX_FEATURES];
    char names[MAX_FEATURES][QA_MSG_NAME_LEN];
    size_t feat_off[MAX_FEATURES];
    int xs[MAX_FEATURES];
    /* Model: input i reads feature model_feat[i] (>= 0) or bar input model_bar[i]. */
    int F, L, K;
    int model_feat[QA_MODEL_MAX_INPUTS];
    int model_bar[QA_MODEL_MAX_INPUTS];
    double centre;
    qa_model_predictor_t *pred;
    int nret; /* returns kept for sizing */
    size_t aux, win, ret, per_sym;
    double *state;  /* nsym x per_sym */
    double *vals;   /* nsym x nfeat: this timestamp's feature values */
    double *xs_in;  /* nsym scratch */
    void *xs_scratch;
    double *row;    /* L x F */
    double *out;    /* K */
    char lineage[65];
    uint8_t lineage_bin[32];
};

static int find_feature(const qa_engine_t *e, const qa_feat_spec *s) {
    for (size_t j = 0; j < e->nfeat; j++)
        if (qa_feat_spec_equal(&e->spec[j], s)) return (int)j;
    return -1;
}

static qa_status add_feature(qa_engine_t *e, const qa_feat_spec *s, const char *name, int *index) {
    qa_feat_spec n = qa_feat_spec_normalize(s);
    int j = find_feature(e, &n);
    if (j < 0) {
        if (e->nfeat == MAX_FEATURES) return QA_FAIL(QA_ERR_LIMIT, "more than %d features", MAX_FEATURES);
        if (strlen(name) >= QA_MSG_NAME_LEN)
            return QA_FAIL(QA_ERR_CONFIG, "feature name '%s' is longer than %d characters", name, QA_MSG_NAME_LEN - 1);
        j = (int)e->nfeat++;
        e->spec[j] = n;
        snprintf(e->names[j], QA_MSG_NAME_LEN, "%s", name);
        e->xs[j] = qa_feat_spec_is_xs(&n);
    }
    if (index) *index = j;
    return QA_OK;
}

static qa_status make_lineage(qa_engine_t *e) {
    qa_sha256_t *h = NULL;
    QA_TRY_RET(qa_sha256_create(&h));
    qa_status st = qa_sha256_update(h, QA_FEATURES_CODE_VERSION, strlen(QA_FEATURES_CODE_VERSION));
    for (size_t j = 0; j < e->nfeat && st == QA_OK; j++) {
        char params[512];
        st = qa_inputs_feat_params(&e->spec[j], params, sizeof params);
        if (st == QA_OK) st = qa_sha256_update(h, e->names[j], strlen(e->names[j]) + 1);
        if (st == QA_OK) st = qa_sha256_update(h, params, strlen(params) + 1);
    }
    if (st == QA_OK) st = qa_sha256_final_hex(h, e->lineage);
    qa_sha256_free(h);
    if (st == QA_OK) st = qa_hex_decode(e->lineage, 32, e->lineage_bin);
    return st;
}

/* Kelly sizing takes the expected return from the score: only a return model has one. */
static qa_status kelly_check(const qa_rules *r, const qa_model *m) {
    if (r->sizing.method == QA_BT_SIZE_KELLY && (!m || m->data.target != QA_MODEL_TARGET_RETURN))
        return QA_FAIL(QA_ERR_CONFIG, "kelly sizing needs a model of the forward return (target kind return) for its "
                                      "expected return; %s%s", m ? "this model predicts the " : "there is no model",
                       m ? qa_model_target_name(m->data.target) : "");
    return QA_OK;
}

void qa_engine_free(qa_engine_t *e) {
    if (!e) return;
    qa_model_predictor_free(e->pred);
    free(e->state);
    free(e->vals);
    free(e->xs_in);
    free(e->xs_scratch);
    free(e->row);
    free(e->out);
    free(e);
}

qa_status qa_engine_create(const qa_engine_cfg *cfg, qa_engine_t **out) {
    qa_status st = QA_OK;
    qa_engine_t *e = calloc(1, sizeof *e);
    if (!e) return QA_FAIL(QA_ERR_NOMEM, "live engine");
    e->cfg = *cfg;
    if (cfg->nsym == 0) QA_TRY_FAIL(QA_ERR_CONFIG, "the universe has no symbols");
    const qa_model *m = cfg->model;
    if (m) {
        e->F = m->data.ninputs, e->L = m->data.window, e->K = m->arch.outputs;
        e->centre = m->data.target == QA_MODEL_TARGET_SIGN ? 0.5 : 0.0;
        QA_TRY(kelly_check(&cfg->rules, m));
        for (int i = 0; i < e->F; i++) {
            const qa_model_input *in = &m->data.inputs[i];
            e->model_feat[i] = -1, e->model_bar[i] = in->bar;
            if (in->bar >= 0) continue;
            qa_feat_spec s;
            st = qa_inputs_feat_spec(in->params, &s);
            if (st != QA_OK) {
                qa_err_prefix("model input %d '%s'", i, in->name);
                goto cleanup;
            }
            QA_TRY(add_feature(e, &s, in->name, &e->model_feat[i]));
        }
        QA_TRY(qa_model_predictor_create(m, 1, &e->pred));
    }
    for (size_t i = 0; i < cfg->nextra; i++) QA_TRY(add_feature(e, &cfg->extra[i], cfg->extra_names[i], NULL));
    QA_TRY(make_lineage(e));
    size_t off = 0;
    for (size_t j = 0; j < e->nfeat; j++) e->feat_off[j] = off, off += qa_feat_state_doubles(&e->spec[j]);
    /* The returns are kept whatever the sizing method, so a reload may switch between
     * fixed, vol-target and Kelly sizing without a gap in the window. */
    e->nret = cfg->rules.sizing.vol_window;
    if (e->nret < 2) QA_TRY_FAIL(QA_ERR_CONFIG, "rules.sizing.vol_window %d: at least 2 returns", e->nret);
    e->aux = off, e->win = off + 3, e->ret = e->win + (size_t)e->L * (size_t)e->F;
    e->per_sym = e->ret + (size_t)e->nret + 1;
    const size_t S = cfg->nsym;
    e->state = calloc(S * e->per_sym, sizeof *e->state);
    e->vals = calloc(S * (e->nfeat ? e->nfeat : 1), sizeof *e->vals);
    e->xs_in = calloc(S, sizeof *e->xs_in);
    e->xs_scratch = malloc(qa_feat_xs_scratch_bytes(S) + 1);
    e->row = calloc((size_t)(e->L * e->F) + 1, sizeof *e->row);
    e->out = calloc((size_t)e->K + 1, sizeof *e->out);
    if (!e->state || !e->vals || !e->xs_in || !e->xs_scratch || !e->row || !e->out)
        QA_TRY_FAIL(QA_ERR_NOMEM, "live engine state for %zu symbols", S);
    *out = e;
    return QA_OK;
cleanup:
    qa_engine_free(e);
    return st;
}

qa_status qa_engine_set_model(qa_engine_t *e, const qa_model *m, const char *name, uint32_t version) {
    const qa_model *o = e->cfg.model;
    if (!o) return QA_FAIL(QA_ERR_CONFIG, "the service was started without a model");
    if (m->data.ninputs != o->data.ninputs || m->data.window != o->data.window || m->arch.outputs != o->arch.outputs ||
        m->data.target != o->data.target)
        return QA_FAIL(QA_ERR_CONFIG, "%s/%u reads %d inputs over %d bars into %d outputs, the running model %d over %d into %d",
                       name, version, m->data.ninputs, m->data.window, m->arch.outputs, o->data.ninputs, o->data.window,
                       o->arch.outputs);
    for (int i = 0; i < m->data.ninputs; i++) {
        const qa_model_input *a = &m->data.inputs[i], *b = &o->data.inputs[i];
        if (strcmp(a->name, b->name) != 0 || a->bar != b->bar || strcmp(a->params, b->params) != 0)
            return QA_FAIL(QA_ERR_CONFIG, "%s/%u: input %d is '%s' %s, the running model's is '%s' %s", name, version, i,
                           a->name, a->params, b->name, b->params);
    }
    qa_model_predictor_t *p = NULL;
    QA_TRY_RET(qa_model_predictor_create(m, 1, &p));
    qa_model_predictor_free(e->pred);
    e->pred = p;
    e->cfg.model = m;
    e->cfg.model_name = name;
    e->cfg.model_version = version;
    return QA_OK;
}

qa_status qa_engine_rules_check(const qa_engine_t *e, const qa_rules *r) {
    if (r->sizing.vol_window != e->nret)
        return QA_FAIL(QA_ERR_CONFIG, "rules.sizing.vol_window %d: the engine keeps %d returns per symbol (a new window "
                                      "needs a new state)", r->sizing.vol_window, e->nret);
    return kelly_check(r, e->cfg.model);
}

qa_status qa_engine_set_rules(qa_engine_t *e, const qa_rules *r, double threshold, double allocation) {
    QA_TRY_RET(qa_engine_rules_check(e, r));
    e->cfg.rules = *r;
    e->cfg.threshold = threshold;
    e->cfg.allocation = allocation;
    return QA_OK;
}

size_t qa_engine_nfeatures(const qa_engine_t *e) {
    return e->nfeat;
}
const char *qa_engine_lineage(const qa_engine_t *e) {
    return e->lineage;
}
size_t qa_engine_state_doubles(const qa_engine_t *e) {
    return e->cfg.nsym * e->per_sym;
}
double *qa_engine_state(qa_engine_t *e) {
    return e->state;
}

/* Model inputs of this row into the window (shifted: oldest first); 1 when the window
 * holds L complete rows. */
static int push_row(qa_engine_t *e, double *st, const double *vals, const qa_msg_bar *b) {
    const int F = e->F, L = e->L;
    double *aux = st + e->aux, *win = st + e->win;
    double ohlcv[5] = {b->open, b->high, b->low, b->close, b->volume};
    double prev = aux[1] > 0 ? aux[0] : NAN;
    if (L > 1) memmove(win, win + F, (size_t)((L - 1) * F) * sizeof *win);
    double *row = win + (size_t)((L - 1) * F);
    for (int i = 0; i < F; i++)
        row[i] = e->model_feat[i] >= 0 ? vals[e->model_feat[i]]
                                       : qa_inputs_bar_value((qa_model_bar_input)e->model_bar[i], ohlcv, prev);
    if (aux[1] + 1 < L) return 0;
    for (int i = 0; i < L * F; i++)
        if (!isfinite(win[i])) return 0;
    return 1;
}

/* |weight| of the symbol after this bar's return is in (0 while the vol window fills); for
 * Kelly sizing, which needs the score, the per-bar sd instead (NaN while it fills). */
static double size_of(qa_engine_t *e, double *st, const qa_msg_bar *b) {
    double *aux = st + e->aux, *r = st + e->ret;
    const int n = e->nret;
    if (aux[1] > 0) {
        memmove(r + 1, r + 2, (size_t)(n - 1) * sizeof *r);
        r[n] = b->close / aux[0] - 1.0;
        if (aux[2] < n) aux[2] += 1;
    }
    double size = 0.0;
    if (e->cfg.rules.sizing.method == QA_BT_SIZE_KELLY) {
        if (aux[2] < n) return NAN;
        qa_sizing_sd(&e->cfg.rules, r, n, &size);
        return size;
    }
    if (e->cfg.rules.sizing.method != QA_BT_SIZE_VOL_TARGET) return e->cfg.rules.sizing.fraction;
    if (aux[2] < n) return 0.0;
    qa_sizing_size(&e->cfg.rules, r, n, &size);
    return size;
}

qa_status qa_engine_step(qa_engine_t *e, int64_t time, const qa_msg_bar *bars, const unsigned char *present,
                         qa_engine_emit_fn emit, void *ctx) {
    const size_t S = e->cfg.nsym, J = e->nfeat;
    /* Features: time-series ones per symbol; cross-sectional ones collect each symbol's
     * input first, then rank/standardise the timestamp's cross-section. */
    for (size_t j = 0; j < J; j++) {
        for (size_t s = 0; s < S; s++) {
            double v = NAN;
            if (present[s]) {
                const qa_msg_bar *b = &bars[s];
                qa_feat_bar fb = {b->open, b->high, b->low, b->close, b->volume};
                v = qa_feat_update(&e->spec[j], e->state + s * e->per_sym + e->feat_off[j], &fb);
            }
            if (e->xs[j]) e->xs_in[s] = v;
            else e->vals[s * J + j] = v;
        }
        if (e->xs[j]) {
            QA_TRY_RET(qa_feat_xs_row(e->spec[j].kind, e->xs_in, S, e->xs_in, e->xs_scratch));
            for (size_t s = 0; s < S; s++) e->vals[s * J + j] = e->xs_in[s];
        }
    }
    qa_msg m = {0};
    m.time = time;
    for (size_t s = 0; s < S; s++) {
        if (!present[s]) continue;
        const qa_msg_bar *b = &bars[s];
        double *st = e->state + s * e->per_sym, *aux = st + e->aux;
        snprintf(m.symbol, sizeof m.symbol, "%s", e->cfg.symbols[s]);
        if (J) {
            m.kind = QA_MSG_FEATURES, m.id = 0;
            memcpy(m.u.feat.lineage, e->lineage_bin, 32);
            m.u.feat.n = (uint32_t)J;
            for (size_t j = 0; j < J; j++) {
                memcpy(m.u.feat.names[j], e->names[j], QA_MSG_NAME_LEN);
                m.u.feat.values[j] = e->vals[s * J + j];
            }
            QA_TRY_RET(emit(ctx, QA_ENGINE_FEATURES, s, &m));
        }
        int ready = e->pred ? push_row(e, st, e->vals + s * J, b) : 0;
        double size = size_of(e, st, b);
        aux[0] = b->close, aux[1] += 1; /* this bar is now the previous row */
        if (!ready) continue;
        QA_TRY_RET(qa_model_predictor_run(e->pred, 1, st + e->win, e->out));
        double score = qa_model_output_score(e->cfg.model, e->out);
        if (!isfinite(score)) continue;
        m.kind = QA_MSG_SIGNAL;
        m.id = qa_msg_signal_id(e->cfg.stream, m.symbol, time);
        snprintf(m.u.sig.model, sizeof m.u.sig.model, "%s", e->cfg.model_name);
        m.u.sig.version = e->cfg.model_version;
        m.u.sig.score = score, m.u.sig.close = b->close;
        memcpy(m.u.sig.lineage, e->lineage_bin, 32);
        QA_TRY_RET(emit(ctx, QA_ENGINE_SIGNALS, s, &m));

        double x = score - e->centre, dir = 0.0;
        if (x > e->cfg.threshold && e->cfg.rules.direction != QA_BT_SHORT_ONLY) dir = 1.0;
        if (x < -e->cfg.threshold && e->cfg.rules.direction != QA_BT_LONG_ONLY) dir = -1.0;
        if (e->cfg.rules.sizing.method == QA_BT_SIZE_KELLY) /* expected return per bar: the score over its horizon */
            size = isnan(size) ? 0.0 : qa_sizing_kelly(&e->cfg.rules, x / (double)e->cfg.model->data.horizon, size);
        double alloc = e->cfg.allocation > 0 ? e->cfg.allocation : 1.0 / (double)S;
        double w = dir * size * alloc;
        m.kind = QA_MSG_SIZE; /* same id as its signal */
        m.u.size = (qa_msg_size){w, qa_sizing_shares(w, e->cfg.rules.capital, b->close), b->close,
                                 e->cfg.rules.capital, score, "", ""};
        snprintf(m.u.size.method, sizeof m.u.size.method, "%s",
                 qa_rules_sizing_names[e->cfg.rules.sizing.method]);
        QA_TRY_RET(emit(ctx, QA_ENGINE_SIZES, s, &m));
    }
    return QA_OK;
}
